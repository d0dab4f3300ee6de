// The distribution functions as exported functions: erlang's cookie and connection BIFs,
// net_adm, net_kernel, rpc, erpc and gen_server:call/cast, over nodus/node/net.hpp. Without a
// node (a plain runtime) they answer as a non-distributed erl does. (nodes/0,1 and is_alive/0
// are among every node's default exports, nodus/services/services.hpp.)
#include <unistd.h>

#include <chrono>

#include "eval_impl.hpp"
#include "nodus/node/net.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

atom atom_arg(const term& t) {
    if (!t.is_atom()) badarg();
    return t.as_atom();
}

std::string cookie_arg(const term& t) {
    return std::string(atom_arg(t).name());
}

task<term> get_cookie0(std::vector<term>) {
    if (!erlang::is_alive()) co_return term("nocookie"_a);
    auto a = atom::make(erlang::get_cookie());
    if (!a) badarg();
    co_return term(*a);
}
task<term> set_cookie1(std::vector<term> a) {
    std::string c = cookie_arg(a[0]);
    if (!erlang::is_alive()) badarg();
    erlang::set_cookie(c);
    co_return term(true);
}
task<term> set_cookie2(std::vector<term> a) {
    atom n = atom_arg(a[0]);
    std::string c = cookie_arg(a[1]);
    if (!erlang::is_alive()) badarg();
    if (n == erlang::node())
        erlang::set_cookie(c);
    else
        erlang::set_cookie(n, c);
    co_return term(true);
}
task<term> disconnect_node1(std::vector<term> a) {
    atom n = atom_arg(a[0]);
    if (!erlang::is_alive()) co_return term("ignored"_a);
    co_return term(erlang::disconnect_node(n));
}
task<term> monitor_node2(std::vector<term> a) {
    atom n = atom_arg(a[0]);
    if (!a[1].is_bool()) badarg();
    if (!erlang::is_alive()) fail("notalive"_a);
    erlang::monitor_node(n, a[1].is_atom(atoms::true_));
    co_return term(true);
}
task<term> ping1(std::vector<term> a) {
    atom n = atom_arg(a[0]);
    atom r = co_await net_adm::ping(n);
    co_return term(r);
}
term names_term() {
    std::vector<term> out;
    for (auto& [name, port] : net_adm::names())
        out.push_back(tuple(string(name), term(static_cast<unsigned>(port))));
    return tuple(atoms::ok, make_list(std::move(out)));
}
task<term> names0(std::vector<term>) {
    co_return names_term();
}
task<term> names1(std::vector<term>) {
    co_return names_term();
}
task<term> localhost0(std::vector<term>) {
    std::string n(erlang::node().name());
    auto at = n.find('@');
    if (at == std::string::npos || !erlang::is_alive()) {
        char host[256] = {0};
        if (gethostname(host, sizeof host - 1) != 0) co_return string("localhost");
        co_return string(host);
    }
    co_return string(n.substr(at + 1));
}
task<term> connect_node1(std::vector<term> a) {
    atom n = atom_arg(a[0]);
    if (!erlang::is_alive()) co_return term("ignored"_a);
    bool ok = co_await net_kernel::connect_node(n);
    co_return term(ok);
}
task<term> monitor_nodes1(std::vector<term> a) {
    if (!a[0].is_bool()) co_return tuple(atoms::error, a[0]);
    // A node that is not distributed has no nodes to report: erl says ok.
    if (!erlang::is_alive()) co_return term(atoms::ok);
    net_kernel::monitor_nodes(a[0].is_atom(atoms::true_));
    co_return term(atoms::ok);
}
task<term> monitor_nodes2(std::vector<term> a) {
    if (!a[0].is_bool() || !a[1].is_list()) co_return tuple(atoms::error, a[0]);
    if (!erlang::is_alive()) co_return term(atoms::ok);
    bool info = false;
    for (const term* l = &a[1]; l->is_cons(); l = &l->tail()) {
        const term& o = l->head();
        if (o.is_atom("nodedown_reason"_a) || (o.is_tuple(2) && o[0].is_atom("node_type"_a)))
            info = true;
        else
            co_return tuple(atoms::error, tuple("unknown_options"_a, a[1]));
    }
    net_kernel::monitor_nodes(a[0].is_atom(atoms::true_), info);
    co_return term(atoms::ok);
}

// ---- rpc, erpc, gen_server ----

// A timeout argument: milliseconds, or infinity (-1).
std::chrono::milliseconds timeout_arg(const term& t) {
    if (t.is_atom(atoms::infinity)) return std::chrono::milliseconds(-1);
    auto v = t.to_int64();
    if (!v || *v < 0 || *v > 0xFFFFFFFFLL) badarg();
    return std::chrono::milliseconds(*v);
}

void check_mfa(const term& n, const term& m, const term& f, const term& args) {
    if (!n.is_atom() || !m.is_atom() || !f.is_atom() || !args.list_length()) badarg();
}

// Another node, from a runtime that is not distributed: nothing can reach it (erl answers at
// once; the spawn requests of nodus/node/net.hpp would wait for a reply that never comes).
bool unreachable(const term& n) {
    return !erlang::is_alive() && !(n.as_atom() == erlang::node());
}
term badrpc_nodedown() {
    return tuple("badrpc"_a, "nodedown"_a);
}
[[noreturn]] void erpc_noconnection() {
    throw error_exception(tuple("erpc"_a, "noconnection"_a));
}

task<term> rpc_call4(std::vector<term> a) {
    check_mfa(a[0], a[1], a[2], a[3]);
    if (unreachable(a[0])) co_return badrpc_nodedown();
    co_return co_await rpc::call(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3]);
}
task<term> rpc_call5(std::vector<term> a) {
    check_mfa(a[0], a[1], a[2], a[3]);
    auto t = timeout_arg(a[4]);
    if (unreachable(a[0])) co_return badrpc_nodedown();
    co_return co_await rpc::call(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3], t);
}
task<term> rpc_cast4(std::vector<term> a) {
    check_mfa(a[0], a[1], a[2], a[3]);
    if (unreachable(a[0])) co_return term(true);
    rpc::cast(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3]);
    co_return term(true);
}
// rpc:multicall: {Results, BadNodes}; a node that cannot be reached is a bad node, any other
// {badrpc, R} is a result (as OTP 25's rpc).
task<term> multicall(term nodes, term m, term f, term args, std::chrono::milliseconds t) {
    auto ns = list_to_vector(nodes);
    if (!ns || !m.is_atom() || !f.is_atom() || !args.list_length()) badarg();
    std::vector<term> results, bad;
    for (const term& n : *ns) {
        if (!n.is_atom()) badarg();
        if (unreachable(n)) {
            bad.push_back(n);
            continue;
        }
        term r = co_await rpc::call(n.as_atom(), m.as_atom(), f.as_atom(), args, t);
        if (r.is_tuple(2) && r[0].is_atom("badrpc"_a) && r[1].is_atom("nodedown"_a))
            bad.push_back(n);
        else
            results.push_back(std::move(r));
    }
    co_return tuple(make_list(std::move(results)), make_list(std::move(bad)));
}
term all_nodes() {
    std::vector<term> ns;
    ns.emplace_back(erlang::node());
    for (atom n : erlang::nodes(node_kind::visible))
        ns.emplace_back(n);
    return make_list(std::move(ns));
}
task<term> rpc_multicall3(std::vector<term> a) {
    co_return co_await multicall(all_nodes(), a[0], a[1], a[2], std::chrono::milliseconds(-1));
}
task<term> rpc_multicall4(std::vector<term> a) {
    if (a[0].is_list()) co_return co_await multicall(a[0], a[1], a[2], a[3], std::chrono::milliseconds(-1));
    auto t = timeout_arg(a[3]);
    co_return co_await multicall(all_nodes(), a[0], a[1], a[2], t);
}
task<term> rpc_multicall5(std::vector<term> a) {
    auto t = timeout_arg(a[4]);
    co_return co_await multicall(a[0], a[1], a[2], a[3], t);
}
task<term> erpc_call4(std::vector<term> a) {
    check_mfa(a[0], a[1], a[2], a[3]);
    if (unreachable(a[0])) erpc_noconnection();
    co_return co_await erpc::call(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3]);
}
task<term> erpc_call5(std::vector<term> a) {
    check_mfa(a[0], a[1], a[2], a[3]);
    auto t = timeout_arg(a[4]);
    if (unreachable(a[0])) erpc_noconnection();
    co_return co_await erpc::call(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3], t);
}
// erpc:call(Node, Fun) / rpc:call(Node, Fun)-less: a fun runs there as erlang:apply(Fun, []).
task<term> erpc_call2(std::vector<term> a) {
    if (!a[0].is_atom() || !a[1].is_fun()) badarg();
    if (unreachable(a[0])) erpc_noconnection();
    term args = list({a[1], term()});
    co_return co_await erpc::call(a[0].as_atom(), atoms::erlang, "apply"_a, args);
}

// gen_server:call/2,3: exit({Reason, {gen_server, call, Args}}) when no reply comes, as OTP.
task<term> gen_call(term dest, term request, std::chrono::milliseconds t, term args_for_exit) {
    term why;
    std::optional<term> r = co_await gen::call(dest, request, t, &why);
    if (!r) throw exit_exception(tuple(why, tuple("gen_server"_a, "call"_a, args_for_exit)));
    co_return *r;
}
task<term> gen_server_call2(std::vector<term> a) {
    term args = list({a[0], a[1]});
    co_return co_await gen_call(a[0], a[1], std::chrono::milliseconds(5000), args);
}
task<term> gen_server_call3(std::vector<term> a) {
    auto t = timeout_arg(a[2]);
    term args = list({a[0], a[1], a[2]});
    co_return co_await gen_call(a[0], a[1], t, args);
}
// gen_server:cast/2: {'$gen_cast', Request} to a pid, a name or {Name, Node}; always ok.
task<term> gen_server_cast2(std::vector<term> a) {
    const term& d = a[0];
    bool ok = d.is_pid() || d.is_atom() || (d.is_tuple(2) && d[0].is_atom() && d[1].is_atom());
    if (ok) {
        try {
            (void)send(d, tuple("$gen_cast"_a, a[1]));
        } catch (const erlang_exception&) {
            // a name that is not registered: cast ignores it
        }
    }
    co_return term(atoms::ok);
}

struct net_def {
    const char* module;
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const net_def net_defs[] = {
    {"erlang", "get_cookie", 0, get_cookie0},
    {"erlang", "set_cookie", 1, set_cookie1},
    {"erlang", "set_cookie", 2, set_cookie2},
    {"erlang", "disconnect_node", 1, disconnect_node1},
    {"erlang", "monitor_node", 2, monitor_node2},
    {"net_adm", "ping", 1, ping1},
    {"net_adm", "names", 0, names0},
    {"net_adm", "names", 1, names1},
    {"net_adm", "localhost", 0, localhost0},
    {"net_kernel", "connect_node", 1, connect_node1},
    {"net_kernel", "monitor_nodes", 1, monitor_nodes1},
    {"net_kernel", "monitor_nodes", 2, monitor_nodes2},
    {"rpc", "call", 4, rpc_call4},
    {"rpc", "call", 5, rpc_call5},
    {"rpc", "cast", 4, rpc_cast4},
    {"rpc", "multicall", 3, rpc_multicall3},
    {"rpc", "multicall", 4, rpc_multicall4},
    {"rpc", "multicall", 5, rpc_multicall5},
    {"erpc", "call", 2, erpc_call2},
    {"erpc", "call", 4, erpc_call4},
    {"erpc", "call", 5, erpc_call5},
    {"gen_server", "call", 2, gen_server_call2},
    {"gen_server", "call", 3, gen_server_call3},
    {"gen_server", "cast", 2, gen_server_cast2},
};

}  // namespace

void register_net(export_table& t) {
    for (const net_def& d : net_defs)
        t.add(atom(d.module), atom(d.name), d.arity, d.fn);
}

}  // namespace nodus::eval::detail

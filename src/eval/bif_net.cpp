// The distribution functions as exported functions: erlang's node BIFs, net_adm and
// net_kernel, over nodus/node/net.hpp. Without a node (a plain runtime) they answer as a
// non-distributed erl does.
#include <unistd.h>

#include <algorithm>

#include "eval_impl.hpp"
#include "nodus/node/net.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

atom atom_arg(const term& t) {
    if (!t.is_atom()) badarg();
    return t.as_atom();
}

term atom_list(const std::vector<atom>& atoms_) {
    std::vector<term> out;
    for (atom a : atoms_)
        out.emplace_back(a);
    return make_list(std::move(out));
}

node_kind kind_arg(const term& t) {
    atom a = atom_arg(t);
    if (a == "visible"_a) return node_kind::visible;
    if (a == "hidden"_a) return node_kind::hidden;
    if (a == "connected"_a) return node_kind::connected;
    if (a == "this"_a) return node_kind::this_node;
    if (a == "known"_a) return node_kind::known;
    badarg();
}

// nodes/1 takes a kind or a list of kinds (their union, without duplicates, in order).
term nodes_of(const term& arg) {
    std::vector<atom> out;
    auto add = [&](node_kind k) {
        for (atom n : erlang::nodes(k))
            if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    };
    if (arg.is_list()) {
        auto kinds = list_to_vector(arg);
        if (!kinds) badarg();
        for (const term& k : *kinds)
            add(kind_arg(k));
    } else {
        add(kind_arg(arg));
    }
    return atom_list(out);
}

std::string cookie_arg(const term& t) {
    return std::string(atom_arg(t).name());
}

task<term> nodes0(std::vector<term>) {
    co_return atom_list(erlang::nodes(node_kind::visible));
}
task<term> nodes1(std::vector<term> a) {
    co_return nodes_of(a[0]);
}
task<term> is_alive0(std::vector<term>) {
    co_return term(erlang::is_alive());
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

struct net_def {
    const char* module;
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const net_def net_defs[] = {
    {"erlang", "nodes", 0, nodes0},
    {"erlang", "nodes", 1, nodes1},
    {"erlang", "is_alive", 0, is_alive0},
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
};

}  // namespace

void register_net(export_table& t) {
    for (const net_def& d : net_defs)
        t.add(atom(d.module), atom(d.name), d.arity, d.fn);
}

}  // namespace nodus::eval::detail

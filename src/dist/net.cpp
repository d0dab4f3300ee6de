// The process-level distribution functions (nodus/node/net.hpp).
#include "nodus/node/net.hpp"

#include "dist/node_impl.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus {

namespace {

detail::node_impl* this_node() { return detail::node_of(detail::current_runtime()); }

detail::node_impl& require_node() {
    detail::node_impl* n = this_node();
    if (!n) throw error_exception(term(atom("not_alive")));
    return *n;
}

}  // namespace

namespace erlang {

atom node() {
    detail::runtime_impl* rt = detail::current_runtime();
    return atom::from_index(rt->node_index.load());
}

std::vector<atom> nodes(node_kind kind) {
    detail::node_impl* n = this_node();
    if (!n) return kind == node_kind::this_node ? std::vector<atom>{node()} : std::vector<atom>{};
    return n->nodes(kind);
}

bool is_alive() { return this_node() != nullptr; }

bool disconnect_node(atom peer) {
    detail::node_impl* n = this_node();
    return n && n->disconnect(peer);
}

void monitor_node(atom peer, bool on) { require_node().monitor_node(self_term(), peer, on); }

std::string get_cookie() {
    detail::node_impl* n = this_node();
    return n ? n->cookies.get_cookie() : std::string("nocookie");
}
void set_cookie(std::string cookie) { require_node().cookies.set_cookie(std::move(cookie)); }
void set_cookie(atom peer, std::string cookie) { require_node().cookies.set_cookie(peer, std::move(cookie)); }

}  // namespace erlang

namespace net_kernel {

task<bool> connect_node(atom peer) {
    detail::node_impl* n = this_node();
    if (!n) co_return false;
    term ref = make_ref();
    n->when_connected(peer, self_term(), ref);
    auto is_answer = [ref](const term& t) { return t.is_tuple(2) && t[0] == ref; };
    auto r = co_await receive(is_answer);
    co_return (*r)[1].is_atom(atoms::true_);
}

void monitor_nodes(bool on, bool with_info) { require_node().monitor_nodes(self_term(), on, with_info); }

}  // namespace net_kernel

namespace gen {

task<std::optional<term>> call(term dest, term request, std::chrono::milliseconds timeout, term* why) {
    reference mref = monitor(dest);
    term ref = mref;
    send(dest, tuple(atoms::gen_call, tuple(self_term(), ref), std::move(request)));
    auto is_reply = [ref](const term& t) {
        return (t.is_tuple(2) && t[0] == ref) || (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == ref);
    };
    received r;
    if (timeout.count() < 0) r = co_await receive(is_reply);
    else r = co_await receive(is_reply).after(timeout);
    if (!r) {
        demonitor(mref, true);
        if (why) *why = term(atoms::timeout);
        co_return std::nullopt;
    }
    if (r->is_tuple(5)) {
        if (why) *why = (*r)[4];
        co_return std::nullopt;
    }
    demonitor(mref, true);
    co_return (*r)[1];
}

}  // namespace gen

namespace net_adm {

task<atom> ping(atom peer) {
    static const atom pong("pong"), pang("pang");
    if (!this_node()) co_return pang;
    if (peer == erlang::node()) co_return pong;
    auto reply = co_await gen::call(tuple(atoms::net_kernel, peer), tuple(atoms::is_auth, erlang::node()),
                                    gen::infinity_ms);
    if (reply && reply->is_atom(atoms::yes)) co_return pong;
    erlang::disconnect_node(peer);  // as OTP does after a failed ping
    co_return pang;
}

std::vector<std::pair<std::string, std::uint16_t>> names() {
    detail::node_impl* n = this_node();
    epmd::client_options eo;
    if (n) eo.epmd_port = n->cfg.epmd_port;
    auto r = epmd::names_sync("localhost", eo);
    std::vector<std::pair<std::string, std::uint16_t>> out;
    if (!r) return out;
    for (auto& e : r->nodes) out.emplace_back(e.name, e.port);
    return out;
}

}  // namespace net_adm

}  // namespace nodus

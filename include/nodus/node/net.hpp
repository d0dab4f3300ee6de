// Erlang's distribution functions for code running in a process of a node, under the names of
// the Erlang modules that have them: erlang:nodes/1 is erlang::nodes(), net_adm:ping/1 is
// net_adm::ping(). Functions that wait are coroutines: co_await them.
//
//     if (co_await net_adm::ping("bob@host"_a) == "pong"_a) { ... erlang::nodes() ... }
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nodus/node/node.hpp"
#include "nodus/runtime/process.hpp"

namespace nodus {

namespace erlang {
// node(): this node's name (nonode@nohost when the runtime is not distributed).
atom node();
// nodes(Kind): visible (default), hidden, connected, this, known.
std::vector<atom> nodes(node_kind kind = node_kind::visible);
bool is_alive();
bool disconnect_node(atom peer);
// monitor_node(Node, true|false): a {nodedown, Node} message when the connection is lost (or
// cannot be made).
void monitor_node(atom peer, bool on);
std::string get_cookie();
void set_cookie(std::string cookie);
void set_cookie(atom peer, std::string cookie);
}  // namespace erlang

namespace net_kernel {
// true when a connection to peer is up (made if needed), false when it cannot be.
task<bool> connect_node(atom peer);
// {nodeup, Node} / {nodedown, Node} messages for visible nodes; with_info, every node as
// {nodeup, Node, [{node_type, visible|hidden}]} / {nodedown, Node, [{node_type, T},
// {nodedown_reason, R}]}.
void monitor_nodes(bool on, bool with_info = false);
}  // namespace net_kernel

namespace net_adm {
// pong or pang, as net_adm:ping/1: a call to net_kernel on the peer.
task<atom> ping(atom peer);
// The nodes registered with the port mapper on this host: {Name, Port}.
std::vector<std::pair<std::string, std::uint16_t>> names();
}  // namespace net_adm

namespace gen {
// The gen:call protocol (gen_server:call and friends): monitors dest, sends
// {'$gen_call', {Self, Ref}, Request} and waits for {Ref, Reply}. dest: pid, registered name
// or {Name, Node}. nullopt with the reason in *why (noproc, noconnection, timeout, the server's
// exit reason) when no reply comes.
task<std::optional<term>> call(term dest, term request, std::chrono::milliseconds timeout, term* why = nullptr);
inline task<std::optional<term>> call(term dest, term request) {
    return call(std::move(dest), std::move(request), std::chrono::milliseconds(5000));
}
inline constexpr std::chrono::milliseconds infinity_ms{-1};
}  // namespace gen

}  // namespace nodus

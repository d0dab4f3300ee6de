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

// spawn_request(Node, M, F, Args, Opts): asks node (or this node) to spawn M:F(Args) — an
// exported function there. The answer arrives as {spawn_reply, Ref, ok, Pid} or
// {spawn_reply, Ref, error, Reason}; with monitor, Ref is also the monitor's reference.
reference spawn_request(atom node, atom m, atom f, term args, bool link = false, bool monitor = false);
// spawn/4, spawn_link/4, spawn_monitor/4 on any node. C++ lambdas cannot cross a wire: a
// remote process can only run what that node exports. Error: error_exception(Reason).
task<pid> spawn(atom node, atom m, atom f, term args);
task<pid> spawn_link(atom node, atom m, atom f, term args);
task<std::pair<pid, reference>> spawn_monitor(atom node, atom m, atom f, term args);
}  // namespace erlang

namespace erpc {
// erpc:call/4,5: the value, or the exception as erpc raises it (error {erpc, noconnection},
// {erpc, timeout}, error {exception, R, Stack}, exit {exception, R}, throw V, exit {signal, R}).
task<term> call(atom node, atom m, atom f, term args, std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
}  // namespace erpc

namespace rpc {
// rpc:call/4,5: the value, or {badrpc, Reason} exactly as OTP 25 maps erpc's errors.
task<term> call(atom node, atom m, atom f, term args, std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
// rpc:cast/4: fire and forget.
void cast(atom node, atom m, atom f, term args);
}  // namespace rpc

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

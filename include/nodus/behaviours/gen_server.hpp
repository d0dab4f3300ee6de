// gen_server: OTP's generic server as a C++ class, speaking OTP's wire protocol — an erl node
// calls a C++ server with gen_server:call/cast, and C++ calls Erlang gen_servers the same way.
//
//     class counter : public gen_server::server {
//     public:
//         explicit counter(std::int64_t start) : n_(start) {}     // init's Args
//         task<gen_server::action> handle_call(term req, gen_server::from) override {
//             if (req == "get"_a) co_return gen_server::reply(term(n_));
//             co_return gen_server::stop_with("bad_request"_a, "error"_a);
//         }
//         task<gen_server::action> handle_cast(term req) override {
//             if (req == "inc"_a) ++n_;
//             co_return gen_server::noreply();
//         }
//     private:
//         std::int64_t n_;                                       // the State
//     };
//
//     auto p = co_await gen_server::start_link(std::make_unique<counter>(0), gen_server::local("counter"_a));
//     term n = co_await gen_server::call("counter"_a, "get"_a);             // 0
//     gen_server::cast(tuple("counter"_a, "bob@host"_a), "inc"_a);           // {Name, Node}
//     term g = co_await gen_server::call(tuple("global"_a, "kv"_a), "get"_a); // {global, Name}
//
// What maps to what (see docs/behaviours.md):
//   Module:init(Args)               the constructor (runs in the caller) + init() (runs in the server)
//   State                           the object's members
//   {reply, R, S} / {noreply, S}    gen_server::reply(R) / gen_server::noreply()
//   {stop, Reason, Reply, S}        gen_server::stop_with(Reason, Reply)
//   {stop, Reason, S}               gen_server::stop_with(Reason)
//   ..., Timeout}                   .after(ms) on any of them (handle_info(timeout) when idle)
//   {ok, S} / ignore / {stop, R}    gen_server::ok() / ignore() / stop_with(R) from init()
//   gen_server:reply(From, R)       gen_server::reply(from, R)   (reply later)
//   format_status/2                 format_status() — what sys:get_state/1 returns to erl
//
// An exception escaping a callback crashes the server as in OTP: terminate(Reason) is called
// (Reason is the exit reason: exit(R) gives R, error(R) gives {R, []}) and the process exits.
//
// The server process handles, besides the callbacks: {'$gen_call', {From, Tag}, Req} (Tag is
// echoed exactly, whether a plain reference or [alias|Ref]), {'$gen_cast', Req}, the system
// messages of sys:terminate/get_state (so erl's gen_server:stop/1 and sys:get_state/1 work), and
// {'EXIT', Parent, Reason} when it traps exits (terminate, then exit with Reason).
//
// Callbacks are coroutines: they may co_await (call other servers, receive). The GCC 12 rule of
// docs/adr/0002 applies inside them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "nodus/base/result.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/term/term.hpp"

namespace nodus::gen_server {

using std::chrono::milliseconds;
inline constexpr milliseconds default_timeout{5000};  // gen_server:call/2's
inline constexpr milliseconds infinity{-1};

// From: {Pid, Tag}, as handle_call receives it. Keep it to reply later.
struct from {
    pid caller;
    term tag;  // a reference, [alias|Ref], or {Ref, Node} (multi_call): echoed as it came
    term to_term() const { return tuple(caller, tag); }
};

// What a callback returns: OTP's return tuples without the State (the state is the object).
// ({stop, ...} is stop_with(...): gen_server::stop is gen_server:stop/1,3.)
struct action {
    enum class kind : std::uint8_t { ok, ignore, reply, noreply, stop };
    kind what = kind::noreply;
    term value;   // the reply (reply, stop with a reply)
    term reason;  // stop
    bool has_reply = false;
    milliseconds timeout{-1};  // ok/reply/noreply: handle_info(timeout) after this idle time

    action after(milliseconds t) && {
        timeout = t;
        return std::move(*this);
    }
    // As the Erlang tuple it stands for (for {bad_return_value, ...}).
    term to_term() const;
};

inline action ok() {
    return {action::kind::ok, {}, {}, false, milliseconds{-1}};
}
inline action ignore() {
    return {action::kind::ignore, {}, {}, false, milliseconds{-1}};
}
inline action reply(term value) {
    return {action::kind::reply, std::move(value), {}, true, milliseconds{-1}};
}
inline action noreply() {
    return {action::kind::noreply, {}, {}, false, milliseconds{-1}};
}
inline action stop_with(term reason) {
    return {action::kind::stop, {}, std::move(reason), false, milliseconds{-1}};
}
inline action stop_with(term reason, term reply_value) {
    return {action::kind::stop, std::move(reply_value), std::move(reason), true, milliseconds{-1}};
}

// gen_server:reply/2: answers a call whose handle_call returned noreply(). Any process may
// reply; replying twice or late is harmless (the caller drops it).
void reply(const from& to, term value);

// The callback module. Override what you need; the defaults follow OTP/Elixir:
// handle_call/handle_cast stop the server with {bad_call, Req}/{bad_cast, Req} (Elixir's
// GenServer does the same), handle_info ignores the message, terminate does nothing.
class server {
public:
    virtual ~server() = default;
    virtual task<action> init();
    virtual task<action> handle_call(term request, from caller);
    virtual task<action> handle_cast(term request);
    virtual task<action> handle_info(term message);
    virtual task<> terminate(term reason);
    // A term describing the state, for sys:get_state/1 and error reports (code-free
    // format_status). Default: the atom `undefined`.
    virtual term format_status() const;
};

// How a server is registered: none, {local, Name} or {global, Name}.
struct server_name {
    enum class kind : std::uint8_t { none, local, global } scope = kind::none;
    term name;
    term to_term() const;  // {local, N} | {global, N} | undefined
};
inline server_name local(atom name) {
    return {server_name::kind::local, term(name)};
}
inline server_name global(term name) {
    return {server_name::kind::global, std::move(name)};
}
inline server_name unnamed() {
    return {};
}

// {ok, Pid} as a value, or the error: Reason of {error, Reason} ({already_started, Pid}, init's
// stop reason, timeout, ...), or the atom `ignore` when init returned ignore().
using start_result = result<pid, term>;

// gen_server:start/start_link: spawns the server (linked to the caller for start_link), registers
// its name, runs init() and returns when init has answered. With a timeout, a server whose init
// takes longer is killed and the result is `timeout`.
// (Overloads rather than default arguments: a defaulted `{}` inside a co_await operand is a
// braced temporary, which g++ 12 destroys twice — docs/adr/0002.)
task<start_result> start(std::unique_ptr<server> s, server_name name, milliseconds timeout);
task<start_result> start_link(std::unique_ptr<server> s, server_name name, milliseconds timeout);
inline task<start_result> start(std::unique_ptr<server> s, server_name name) {
    return start(std::move(s), std::move(name), infinity);
}
inline task<start_result> start_link(std::unique_ptr<server> s, server_name name) {
    return start_link(std::move(s), std::move(name), infinity);
}
inline task<start_result> start(std::unique_ptr<server> s) {
    return start(std::move(s), unnamed(), infinity);
}
inline task<start_result> start_link(std::unique_ptr<server> s) {
    return start_link(std::move(s), unnamed(), infinity);
}

// gen_server:call/2,3. dest: a pid, a registered name (atom), {Name, Node} or {global, Name}.
// When no reply comes the caller exits as in OTP with {Reason, {gen_server, call, [Dest, Req]}}
// (call/3: [Dest, Req, Timeout]); Reason is timeout, noproc, {nodedown, Node}, calling_self or
// the server's exit reason.
task<term> call(term dest, term request);
task<term> call(term dest, term request, milliseconds timeout);
// The same with the failure as a value instead of an exit: the error is Reason above.
task<result<term, term>> try_call(term dest, term request, milliseconds timeout = default_timeout);
// gen_server:cast/2: always returns (a dead or unknown destination drops the message).
void cast(term dest, term request);
// gen_server:stop/1,3: asks the server to terminate with Reason (terminate() runs) and waits
// until it has. Exits with noproc / timeout / the other exit reason as OTP does.
task<> stop(term dest, term reason, milliseconds timeout);
inline task<> stop(term dest, term reason) {
    return stop(std::move(dest), std::move(reason), infinity);
}
inline task<> stop(term dest) {
    return stop(std::move(dest), term(atoms::normal), infinity);
}

// gen_server:abcast/2,3: casts to Name on each node (default: this node and nodes()).
void abcast(atom name, term request);
void abcast(const std::vector<atom>& nodes, atom name, term request);
// gen_server:multi_call/2,3,4: {Replies, BadNodes}, replies as {Node, Reply} pairs. Late replies
// go to a middleman process that has already exited, as in OTP.
struct multi_call_result {
    std::vector<std::pair<atom, term>> replies;
    std::vector<atom> bad_nodes;
};
task<multi_call_result> multi_call(atom name, term request, milliseconds timeout = infinity);
task<multi_call_result> multi_call(std::vector<atom> nodes, atom name, term request,
                                   milliseconds timeout = infinity);

// gen:call: the request {Label, {self(), Mref}, Request} and its reply, with the reason when
// none comes. gen_server::call is do_call(dest, '$gen_call', ...); sys messages use `system`.
task<result<term, term>> do_call(term dest, atom label, term request, milliseconds timeout);

}  // namespace nodus::gen_server

// What a process body calls: Erlang's process BIFs as C++ functions of the current process.
//
//     task<> echo() {
//         for (;;) {
//             var<pid> from; var<term> msg;
//             co_await receive(pat::tuple(from, msg));
//             send(*from, tuple("echo"_a, *msg));
//         }
//     }
//
// These functions act on the process whose body is running on this thread; calling them
// outside a process throws std::logic_error. (scoped_process offers the same to ordinary
// threads.)
//
// GCC 12 caveat (docs/adr/0002-gcc12-coroutine-temporaries.md): a lambda with captures, or a
// braced temporary, written directly inside a co_await operand is destroyed twice by g++ 12.
// Name it first:   auto is_reply = [ref](const term& t) {...};  co_await receive(is_reply);
// Function calls inside the operand (pat::tuple(...), tuple(...), "x"_a) are fine.
//
// Fairness: the BEAM preempts; C++ coroutines cannot. A process gives up its thread at every
// co_await that suspends. Each send, receive and spawn costs reductions; when a time slice is
// used up, the next `co_await receive(...)`, `co_await send(...)` or `co_await yield()`
// suspends and lets others run. A CPU-bound loop that never reaches a co_await keeps its
// thread: such loops must `co_await yield()` now and then.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/pattern.hpp"
#include "nodus/runtime/task.hpp"
#include "nodus/term/term.hpp"

namespace nodus {

class runtime;

namespace detail {
class process;
class runtime_impl;

process& current();        // throws std::logic_error outside a process
process* current_or_null() noexcept;

// Type-erased pattern set: returns the index of the first matching clause, or -1.
struct matcher {
    const void* ctx;
    int (*fn)(const void* ctx, const term& msg);
};

struct receive_state {
    matcher m{};
    std::int64_t timeout_ns = -1;  // < 0: infinity
    std::int64_t deadline_ns = 0;  // absolute; 0 until a scan finds nothing (no clock read otherwise)
    bool started = false;
    bool timed_out = false;
    int clause = -1;
    term message;
    void* cursor = nullptr;  // where the mailbox scan continues
};

// True when the receive is decided (a match, or the timeout passed/was 0). May also return
// false to ask for a yield when the time slice is used up.
bool receive_ready(receive_state& st);
void receive_suspend(receive_state& st, std::coroutine_handle<> h);

bool slice_left() noexcept;
void yield_suspend(std::coroutine_handle<> h);

using spawn_entry = task<> (*)(void* callable);
struct spawn_request {
    void* callable;
    void (*destroy)(void*) noexcept;
    spawn_entry entry;
    bool link = false;
    bool monitor = false;
    // A parent on another node (a SPAWN_REQUEST): the link/monitor are with it, the monitor
    // reference is its request id, and the group leader is the one it sent.
    term remote_parent{};
    term monitor_ref{};
    term group_leader{};
    // Runs after the process exists and before it can run (a spawn reply must precede
    // anything the new process sends).
    std::function<void(const pid&)> before_start{};
};
// Returns the pid (and the monitor reference when requested).
std::pair<pid, reference> spawn_process(runtime_impl* rt, spawn_request req);
runtime_impl* current_runtime();

template <class F>
spawn_request make_spawn_request(F&& f) {
    using D = std::decay_t<F>;
    if constexpr (std::is_pointer_v<D>) {
        return {reinterpret_cast<void*>(f), [](void*) noexcept {},
                [](void* c) -> task<> { return reinterpret_cast<D>(c)(); }};
    } else {
        // The callable lives as long as the process, so captures stay valid in its coroutine.
        return {new D(std::forward<F>(f)), [](void* c) noexcept { delete static_cast<D*>(c); },
                [](void* c) -> task<> { return (*static_cast<D*>(c))(); }};
    }
}
}  // namespace detail

// ---- identity ----
pid self();
const term& self_term();

// ---- messages ----
// Gives up the thread when the time slice is used up.
struct yield_point {
    bool await_ready() const noexcept { return detail::slice_left(); }
    void await_suspend(std::coroutine_handle<> h) const { detail::yield_suspend(h); }
    void await_resume() const noexcept {}
};
inline yield_point yield() { return {}; }
class send_result;
// `to` is a pid, a registered name (atom) or {Name, Node}. A send never blocks; see send_result
// for what co_await-ing it does.
send_result send(const term& to, term message);

// Erlang's `receive`: selective, in arrival order; unmatched messages stay.
struct received {
    int clause = -1;  // index of the matched pattern; -1 after a timeout
    term message;
    explicit operator bool() const noexcept { return clause >= 0; }
    const term& operator*() const noexcept { return message; }
    const term* operator->() const noexcept { return &message; }
};

inline constexpr std::chrono::nanoseconds infinity{-1};

template <class... P>
class [[nodiscard]] receive_awaiter {
public:
    explicit receive_awaiter(P... patterns)
        : patterns_(std::move(patterns)...) {
        st_.m = {this, &match_fn};
        st_.timeout_ns = -1;
    }
    // Movable before it is awaited (the matcher points at the awaiter itself).
    receive_awaiter(receive_awaiter&& o) noexcept : patterns_(std::move(o.patterns_)), st_(std::move(o.st_)) {
        st_.m.ctx = this;
    }
    receive_awaiter(const receive_awaiter&) = delete;

    // Erlang's `after`: 0 means "only what is already in the mailbox".
    template <class Rep, class Period>
    receive_awaiter after(std::chrono::duration<Rep, Period> d) && {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        st_.timeout_ns = ns < 0 ? -1 : ns;
        return std::move(*this);
    }

    bool await_ready() { return detail::receive_ready(st_); }
    void await_suspend(std::coroutine_handle<> h) { detail::receive_suspend(st_, h); }
    received await_resume() { return {st_.clause, std::move(st_.message)}; }

private:
    static int match_fn(const void* ctx, const term& msg) {
        auto* self = static_cast<const receive_awaiter*>(ctx);
        if constexpr (sizeof...(P) == 0) {
            (void)self;
            (void)msg;
            return 0;
        } else {
            return std::apply([&](const auto&... p) { return first_match(msg, p...); }, self->patterns_);
        }
    }
    template <class... Q>
    static int first_match(const term& msg, const Q&... q) {
        int i = 0, found = -1;
        auto try_one = [&](const auto& pattern) {
            if (found < 0) {
                if (pat::detail::match_one(msg, pattern)) found = i;
                ++i;
            }
        };
        (try_one(q), ...);
        return found;
    }

    std::tuple<P...> patterns_;
    detail::receive_state st_;
};

template <class... P>
receive_awaiter<decltype(pat::keep(std::declval<P>()))...> receive(P&&... patterns) {
    return receive_awaiter<decltype(pat::keep(std::declval<P>()))...>(pat::keep(std::forward<P>(patterns))...);
}

// What send() returns. co_await it to give up the thread when the time slice is used up and,
// when the message went to a node whose connection has more queued than its limit
// (node_config::send_queue_limit), to wait until that queue has drained to half the limit:
// back-pressure toward a slow peer, as the BEAM suspends a sender on a busy distribution port.
// Discarding the result is fine: the message is sent either way, only the sender is not held
// back then.
namespace detail {
struct drained_match {
    term ref;
    bool operator()(const term& m) const;
};
// Asks the node's router to send {'$nodus_drained', ref} to the current process once `node`'s
// queue has drained; false when it is not over its limit (any more).
bool wait_drained(atom node, const term& ref);
}  // namespace detail

class send_result {
public:
    send_result() = default;
    explicit send_result(atom busy_node) : busy_node_(busy_node), busy_(true) {}
    bool await_ready() const noexcept { return !busy_ && detail::slice_left(); }
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept {}
    bool busy() const noexcept { return busy_; }

private:
    atom busy_node_;
    bool busy_ = false;
    std::optional<receive_awaiter<detail::drained_match>> wait_;
};

// Removes every message from the mailbox and returns them (the shell's flush()).
std::vector<term> flush();
std::size_t message_queue_len();

// ---- processes ----
template <class F>
pid spawn(F&& body) {
    return detail::spawn_process(detail::current_runtime(), detail::make_spawn_request(std::forward<F>(body))).first;
}
template <class F>
pid spawn_link(F&& body) {
    auto req = detail::make_spawn_request(std::forward<F>(body));
    req.link = true;
    return detail::spawn_process(detail::current_runtime(), req).first;
}
template <class F>
std::pair<pid, reference> spawn_monitor(F&& body) {
    auto req = detail::make_spawn_request(std::forward<F>(body));
    req.monitor = true;
    return detail::spawn_process(detail::current_runtime(), req);
}
// spawn(fn, args...): fn is called with the arguments (copied into the process).
template <class F, class A0, class... A>
pid spawn(F&& fn, A0&& a0, A&&... args) {
    return spawn([fn = std::forward<F>(fn), tup = std::make_tuple(std::forward<A0>(a0), std::forward<A>(args)...)]() {
        return std::apply(fn, tup);
    });
}

// ---- links and exits ----
// link/1: links to `other`. If `other` is a dead local process: {'EXIT', Other, noproc} when
// trapping exits, otherwise error(noproc) is raised, as in Erlang.
void link(const pid& other);
void unlink(const pid& other);
// process_flag(trap_exit, On); returns the old value.
bool trap_exit(bool on);
// exit/2: sends an exit signal. Reason `kill` cannot be trapped and becomes `killed`.
void exit(const pid& target, term reason);
// exit/1, error/1, throw/1: end (or unwind) the current process.
[[noreturn]] void exit(term reason);
[[noreturn]] void error(term reason);
[[noreturn]] void throw_term(term value);

// ---- monitors ----
// monitor(process, Target): Target is a pid, a registered name or {Name, Node}.
reference monitor(const term& target);
// demonitor/1,2. With flush, a {'DOWN', Ref, ...} already in the mailbox is removed.
// Returns true if the monitor was still active.
bool demonitor(const reference& ref, bool flush = false);

// ---- registry ----
bool register_name(atom name, const pid& p);  // false: name taken, pid dead or already named
bool unregister(atom name);
std::optional<pid> whereis(atom name);
std::vector<atom> registered();

// ---- group leader ----
// The group leader of the calling process: the one set with group_leader/2, inherited from
// its parent, or sent by the node that spawned it; a process with none has the process
// registered as `user` on its runtime (nodus/services/io.hpp), or else itself.
pid group_leader();
void group_leader(const pid& leader, const pid& target);

// ---- time and timers ----
// Monotonic time since the runtime started (virtual in deterministic mode).
std::chrono::nanoseconds monotonic_time();
// erlang:send_after/3: the message is sent when the time has passed. dest: pid or name.
reference send_after(std::chrono::milliseconds delay, const term& dest, term message);
// erlang:cancel_timer/1: the time that was left, or nullopt if the timer had already fired
// or was cancelled.
std::optional<std::chrono::milliseconds> cancel_timer(const reference& timer);
// A fresh unique reference of this node (make_ref()).
reference make_ref();

// ---- exported functions ----
class export_table;
// The export table of the runtime this process runs on.
export_table& exports();

// ---- introspection ----
enum class process_status : std::uint8_t { running, runnable, waiting, exiting };
struct process_information {
    pid self;
    std::optional<atom> registered_name;
    std::size_t message_queue_len = 0;
    std::vector<term> links;
    std::vector<term> monitors;      // {process, Pid} or {process, {Name, Node}} (what it monitors)
    std::vector<term> monitored_by;  // pids
    process_status status = process_status::waiting;
    std::uint64_t reductions = 0;
    bool trap_exit = false;
    term group_leader;
};
// Information about a local process, collected by that process itself (a signal, as in the
// BEAM). nullopt when it is not alive.
task<std::optional<process_information>> process_info(const pid& p);
bool is_process_alive(const pid& p);

}  // namespace nodus

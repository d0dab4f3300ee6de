// supervisor: OTP's supervisor, a gen_server (nodus/behaviours/gen_server.hpp) that starts
// children, restarts them by its strategy, and stops them in reverse start order.
//
//     std::vector<supervisor::child_spec> children;
//     children.push_back({.id = "db"_a, .start = supervisor::starter(start_db)});
//     children.push_back({.id = "cache"_a, .start = supervisor::starter(start_cache),
//                         .restart = supervisor::restart_type::transient});
//     supervisor::flags f{.strategy = supervisor::strategy::one_for_all, .intensity = 3,
//                         .period = std::chrono::seconds(5)};
//     auto sup = co_await supervisor::start_link(gen_server::local("app_sup"_a), f, children);
//
// The flags and specs are what Module:init/1 returns in OTP ({ok, {SupFlags, [ChildSpec]}}).
// A child's start function plays the part of its {M, F, A}: called in the supervisor's process,
// it starts a process linked to the caller (spawn_link, gen_server::start_link,
// supervisor::start_link) and returns its pid, an error, or the error `ignore`.
//
// The supervisor speaks OTP's protocol: erl can call supervisor:which_children/1,
// count_children/1, terminate_child/2, restart_child/2, delete_child/2 and (simple_one_for_one)
// start_child/2 with a list of extra arguments on a nodus supervisor. A child spec with a C++
// start function cannot travel, so start_child with a spec works from this node only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "nodus/behaviours/gen_server.hpp"

namespace nodus::supervisor {

enum class strategy : std::uint8_t { one_for_one, one_for_all, rest_for_one, simple_one_for_one };
enum class restart_type : std::uint8_t { permanent, transient, temporary };
enum class child_type : std::uint8_t { worker, supervisor };

// A child's shutdown: brutal_kill, a timeout (exit(Child, shutdown), then kill), or infinity.
class shutdown_spec {
public:
    constexpr shutdown_spec(std::chrono::milliseconds t)
        : ms_(t.count()) {}  // NOLINT: 5000ms reads as in OTP
    static constexpr shutdown_spec brutal_kill() { return shutdown_spec(-2); }
    static constexpr shutdown_spec infinity() { return shutdown_spec(-1); }
    constexpr bool is_brutal_kill() const { return ms_ == -2; }
    constexpr bool is_infinity() const { return ms_ == -1; }
    constexpr std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(ms_); }
    term to_term() const;

private:
    constexpr explicit shutdown_spec(std::int64_t ms) : ms_(ms) {}
    std::int64_t ms_;
};
inline constexpr shutdown_spec brutal_kill = shutdown_spec::brutal_kill();
inline constexpr shutdown_spec infinity = shutdown_spec::infinity();

using start_result = gen_server::start_result;
// A child's {M, F, A}: called with the spec's args (followed by start_child's extra args for
// simple_one_for_one).
using start_function = std::function<task<start_result>(std::vector<term> args)>;

struct child_spec {
    term id;
    start_function start;
    std::vector<term> args{};
    restart_type restart = restart_type::permanent;
    shutdown_spec shutdown =
        std::chrono::milliseconds(5000);  // OTP: 5000 for a worker, infinity for a supervisor
    child_type type = child_type::worker;
    term modules = term();  // [Module] in OTP; only reported by which_children
};

struct flags {
    supervisor::strategy strategy = supervisor::strategy::one_for_one;
    int intensity = 1;               // at most this many restarts ...
    std::chrono::seconds period{5};  // ... within this many seconds, else the supervisor exits
};

// Makes a start_function from a callable: one returning a pid (started linked to the caller,
// e.g. [] { return spawn_link(worker); }) or a task<start_result>, taking the argument vector
// or nothing.
template <class F>
start_function starter(F f);

// supervisor:start_link/2,3 (start/3 is the same without the link).
task<start_result> start_link(gen_server::server_name name, flags f, std::vector<child_spec> children);
task<start_result> start(gen_server::server_name name, flags f, std::vector<child_spec> children);

// supervisor:start_child/2 with a spec ({ok, Pid} / error: {already_started, Pid},
// already_present, the start error; `ignore` for {ok, undefined}). The supervisor must run on
// this node.
task<start_result> start_child(term sup, child_spec spec);
// supervisor:start_child/2 for simple_one_for_one: the extra arguments.
task<start_result> start_child(term sup, std::vector<term> extra_args);
// ok, or the error: not_found, simple_one_for_one.
task<result<void, term>> terminate_child(term sup, term id_or_pid);
// {ok, Pid}, or the error: running, restarting, not_found, simple_one_for_one, the start error.
task<start_result> restart_child(term sup, term id);
// ok, or the error: running, restarting, not_found, simple_one_for_one.
task<result<void, term>> delete_child(term sup, term id);

struct child_info {
    term id;     // undefined for simple_one_for_one children
    term child;  // the pid, `restarting` or `undefined`
    child_type type;
    term modules;
};
// In OTP's order: the last started child first.
task<std::vector<child_info>> which_children(term sup);

struct child_counts {
    std::int64_t specs = 0, active = 0, supervisors = 0, workers = 0;
};
task<child_counts> count_children(term sup);

// ---- implementation ----
namespace detail {
task<start_result> start_from_pid(std::function<pid(std::vector<term>)> f, std::vector<term> args);
}

template <class F>
start_function starter(F f) {
    using args_t = std::vector<term>;
    if constexpr (std::is_invocable_v<F&, args_t>) {
        using R = std::invoke_result_t<F&, args_t>;
        if constexpr (std::is_same_v<R, pid>) {
            std::function<pid(args_t)> fn = std::move(f);
            return [fn](args_t a) { return detail::start_from_pid(fn, std::move(a)); };
        } else {
            return start_function(std::move(f));
        }
    } else {
        using R = std::invoke_result_t<F&>;
        if constexpr (std::is_same_v<R, pid>) {
            std::function<pid(args_t)> fn = [f](args_t) { return f(); };
            return [fn](args_t a) { return detail::start_from_pid(fn, std::move(a)); };
        } else {
            return [f](args_t) { return f(); };
        }
    }
}

}  // namespace nodus::supervisor

// task_supervisor: Elixir's Task.Supervisor.async/await for C++ — run an exported function
// (nodus/runtime/exports.hpp) under a task supervisor on this node or another nodus node, and
// await its result with a timeout.
//
//     co_await task_supervisor::start_link(gen_server::local("tasks"_a));        // on each node
//     auto t = co_await task_supervisor::async(tuple("tasks"_a, "bob@host"_a),   // {Sup, Node}
//                                              "math"_a, "square"_a, {term(7)});
//     term r = co_await task_supervisor::await(t, std::chrono::seconds(5));     // 49
//
// The supervisor is a simple_one_for_one supervisor of temporary workers; async asks it with
// supervisor:start_child(Sup, [Owner, Tag, M, F, Args]) — plain terms, so the supervisor may be
// on another node. The worker links to the owner (as Task.Supervisor.async does), runs
// M:F(Args) and sends {Tag, Result} to the owner. (The namespace is not `task`: that is the
// coroutine type.)
#pragma once

#include <chrono>
#include <vector>

#include "nodus/behaviours/supervisor.hpp"

namespace nodus::task_supervisor {

// Task.Supervisor.start_link/1.
task<supervisor::start_result> start_link(gen_server::server_name name);
inline task<supervisor::start_result> start_link() {
    return start_link(gen_server::unnamed());
}
// The same without a link to the caller (a supervisor ends with its parent, as in OTP).
task<supervisor::start_result> start(gen_server::server_name name);

struct async_task {
    pid worker;
    reference monitor;  // of the worker
    term tag;           // the reply comes as {Tag, Result}
};

// Task.Supervisor.async/4: sup is a pid, a name, or {Name, Node}. Exits as supervisor calls do
// when the supervisor is not there; error(Reason) when it refuses to start the worker.
task<async_task> async(term sup, atom module, atom function, std::vector<term> args);
// Task.await/2: the result. Exits with {timeout, {'Elixir.Task', await, [Worker, Timeout]}} on
// timeout, and with {Reason, {'Elixir.Task', await, [Worker, Timeout]}} when the worker died.
task<term> await(async_task t, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// Task.yield/2 as a value: the result, or nullopt while it runs (the task goes on); an error
// with the worker's exit reason if it died.
task<result<std::optional<term>, term>> yield(async_task t, std::chrono::milliseconds timeout);

}  // namespace nodus::task_supervisor

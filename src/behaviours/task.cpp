// task_supervisor (nodus/behaviours/task.hpp): Task.Supervisor.async/await over a
// simple_one_for_one supervisor of temporary workers.
#include "nodus/behaviours/task.hpp"

#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/exports.hpp"

namespace nodus::task_supervisor {

namespace {

using namespace nodus::literals;

const atom a_elixir_task{"Elixir.Task"};
const atom a_await{"await"};

term await_args(const async_task& t, std::chrono::milliseconds timeout) {
    term to = timeout.count() < 0 ? term(atoms::infinity) : term(std::int64_t(timeout.count()));
    return list({t.worker.as_term(), to});
}

// The worker: linked to its owner, runs M:F(Args) from this node's export table, replies.
task<> worker(pid owner, term tag, atom m, atom f, term args) {
    link(owner);
    std::vector<term> a = args.list_elements().value_or(std::vector<term>{});
    auto fn = exports().find(m, f, unsigned(a.size()));
    if (!fn) error(tuple(atoms::undef, list({tuple(m, f, args, term())})));
    term r = co_await (*fn)(std::move(a));
    send(owner, tuple(tag, r));
}

// The child start function: [Owner, Tag, M, F, Args].
pid start_worker(std::vector<term> a) {
    if (a.size() != 5 || !a[0].is_pid() || !a[2].is_atom() || !a[3].is_atom() || !a[4].is_list()) {
        error(term(atoms::badarg));
    }
    pid owner = a[0].as_pid();
    term tag = a[1];
    atom m = a[2].as_atom();
    atom f = a[3].as_atom();
    term args = a[4];
    return spawn_link([owner, tag, m, f, args]() { return worker(owner, tag, m, f, args); });
}

}  // namespace

namespace {
struct task_sup_spec {
    supervisor::flags fl;
    std::vector<supervisor::child_spec> specs;
};
task_sup_spec task_sup() {
    task_sup_spec t;
    t.fl.strategy = supervisor::strategy::simple_one_for_one;
    t.fl.intensity = 3;
    t.fl.period = std::chrono::seconds(5);
    supervisor::child_spec spec;
    spec.id = "task"_a;
    spec.start = supervisor::starter(start_worker);
    spec.restart = supervisor::restart_type::temporary;
    spec.shutdown = std::chrono::milliseconds(5000);
    t.specs.push_back(std::move(spec));
    return t;
}
}  // namespace

task<supervisor::start_result> start(gen_server::server_name name) {
    auto t = task_sup();
    return supervisor::start(std::move(name), t.fl, std::move(t.specs));
}

task<supervisor::start_result> start_link(gen_server::server_name name) {
    auto t = task_sup();
    return supervisor::start_link(std::move(name), t.fl, std::move(t.specs));
}

task<async_task> async(term sup, atom module, atom function, std::vector<term> args) {
    term tag = make_ref();
    std::vector<term> extra;
    extra.push_back(self_term());
    extra.push_back(tag);
    extra.push_back(term(module));
    extra.push_back(term(function));
    extra.push_back(make_list(std::move(args)));
    auto r = co_await supervisor::start_child(sup, std::move(extra));
    if (!r) error(r.error());
    pid w = *r;
    reference mon = monitor(w);
    co_return async_task{w, mon, tag};
}

namespace {
task<result<std::optional<term>, term>> wait_for(async_task t, std::chrono::milliseconds timeout) {
    term tag = t.tag;
    term mon = t.monitor;
    auto is_answer = [tag, mon](const term& m) {
        return (m.is_tuple(2) && m[0] == tag) || (m.is_tuple(5) && m[0].is_atom(atoms::DOWN) && m[1] == mon);
    };
    received r;
    if (timeout.count() < 0)
        r = co_await receive(is_answer);
    else
        r = co_await receive(is_answer).after(timeout);
    if (!r) co_return std::optional<term>{};
    if (r->is_tuple(5)) co_return unexpected((*r)[4]);
    demonitor(t.monitor, true);
    co_return std::optional<term>((*r)[1]);
}
}  // namespace

task<term> await(async_task t, std::chrono::milliseconds timeout) {
    auto r = co_await wait_for(t, timeout);
    if (!r) exit(tuple(r.error(), tuple(a_elixir_task, a_await, await_args(t, timeout))));
    if (!*r) {
        demonitor(t.monitor, true);
        exit(tuple(atoms::timeout, tuple(a_elixir_task, a_await, await_args(t, timeout))));
    }
    co_return std::move(**r);
}

task<result<std::optional<term>, term>> yield(async_task t, std::chrono::milliseconds timeout) {
    return wait_for(std::move(t), timeout);
}

}  // namespace nodus::task_supervisor

#include "nodus/behaviours/supervisor.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include "behaviours_test_util.hpp"
#include "nodus/behaviours/task.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::behaviours_test;
using namespace std::chrono_literals;
using supervisor::child_spec;

namespace {

// A worker that reports {started, Id, Pid, Args} and {stopped, Id, Reason} to the observer; it
// traps exits so that the order of shutdowns is visible. A stubborn one ignores `shutdown`.
// Like a proc_lib process, it acknowledges its start to the starter (the supervisor), so that
// children start one after the other whatever order the scheduler picks.
task<> worker(pid obs, pid starter, term id, bool stubborn, std::vector<term> args) {
    trap_exit(true);
    send(obs, tuple("started"_a, id, self_term(), make_list(std::move(args))));
    send(starter, tuple("ready"_a, self_term()));
    for (;;) {
        auto m = co_await receive();
        if (m->is_tuple(3) && (*m)[0].is_atom(atoms::EXIT)) {
            if (stubborn && (*m)[2].is_atom("shutdown"_a)) continue;
            send(obs, tuple("stopped"_a, id, (*m)[2]));
            exit((*m)[2]);
        }
        if (m->is_atom("quit"_a)) co_return;
    }
}

task<supervisor::start_result> start_worker(pid obs, term id, bool stubborn, std::vector<term> args) {
    pid me = self();
    pid p = spawn_link([obs, me, id, stubborn, args]() { return worker(obs, me, id, stubborn, args); });
    term pt = p;
    auto is_ready = [pt](const term& m) { return m.is_tuple(2) && m[0].is_atom("ready"_a) && m[1] == pt; };
    (void)co_await receive(is_ready);
    co_return p;
}

child_spec spec(pid obs, term id, supervisor::restart_type r = supervisor::restart_type::permanent,
                bool stubborn = false) {
    child_spec c;
    c.id = id;
    c.restart = r;
    c.start = [obs, id, stubborn](std::vector<term> args) { return start_worker(obs, id, stubborn, args); };
    return c;
}

task<> wait_forever() {
    co_await receive(pat::tuple("never"_a));
}

supervisor::flags flags(supervisor::strategy s, int intensity = 10, int period = 5) {
    supervisor::flags f;
    f.strategy = s;
    f.intensity = intensity;
    f.period = std::chrono::seconds(period);
    return f;
}

// The next {Tag, Id, ...} message, as {Tag, Id} (or none).
task<term> next_event(std::chrono::milliseconds t = 2000ms) {
    auto is_event = [](const term& m) {
        return m.is_tuple() && m.tuple_size() >= 3 &&
               (m[0].is_atom("started"_a) || m[0].is_atom("stopped"_a));
    };
    auto r = co_await receive(is_event).after(t);
    co_return r ? tuple((*r)[0], (*r)[1]) : term("none"_a);
}

task<term> events(int n) {
    std::vector<term> out;
    for (int i = 0; i < n; ++i)
        out.push_back(co_await next_event());
    co_return make_list(std::move(out));
}

term ev(const char* tag, const char* id) {
    return tuple(atom(tag), atom(id));
}

task<term> pid_of(term sup, term id) {
    auto cs = co_await supervisor::which_children(sup);
    for (auto& c : cs)
        if (c.id == id) co_return c.child;
    co_return term("none"_a);
}

task<pid> start_abc(supervisor::strategy s, int intensity = 10) {
    std::vector<child_spec> cs;
    cs.push_back(spec(self(), "a"_a));
    cs.push_back(spec(self(), "b"_a));
    cs.push_back(spec(self(), "c"_a));
    auto sup = co_await supervisor::start_link(gen_server::local("sup"_a), flags(s, intensity), cs);
    EXPECT_TRUE(sup.has_value());
    term started = co_await events(3);
    EXPECT_EQ(started, list({ev("started", "a"), ev("started", "b"), ev("started", "c")}));
    co_return *sup;
}

}  // namespace

TEST(supervisor, one_for_one_restarts_only_the_failed_child) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid sup = co_await start_abc(supervisor::strategy::one_for_one);
        term a0 = co_await pid_of(sup, "a"_a);
        term b0 = co_await pid_of(sup, "b"_a);
        exit(b0.as_pid(), "crash"_a);
        term evs = co_await events(2);
        term a1 = co_await pid_of(sup, "a"_a);
        term b1 = co_await pid_of(sup, "b"_a);
        auto kids = co_await supervisor::which_children(sup);
        auto counts = co_await supervisor::count_children(sup);
        co_return list({evs, term(a0 == a1), term(b0 != b1 && b1.is_pid()), kids[0].id, kids[2].id,
                        term(counts.specs), term(counts.active), term(counts.workers)});
    });
    EXPECT_EQ(r, list({list({ev("stopped", "b"), ev("started", "b")}), term(true), term(true), "c"_a, "a"_a,
                       term(3), term(3), term(3)}));
}

TEST(supervisor, one_for_all_restarts_everyone_stopping_in_reverse_order) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid sup = co_await start_abc(supervisor::strategy::one_for_all);
        term b0 = co_await pid_of(sup, "b"_a);
        exit(b0.as_pid(), "crash"_a);
        co_return co_await events(6);
    });
    EXPECT_EQ(r, list({ev("stopped", "b"), ev("stopped", "c"), ev("stopped", "a"), ev("started", "a"),
                       ev("started", "b"), ev("started", "c")}));
}

TEST(supervisor, rest_for_one_restarts_the_failed_child_and_those_after_it) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid sup = co_await start_abc(supervisor::strategy::rest_for_one);
        term a0 = co_await pid_of(sup, "a"_a);
        term b0 = co_await pid_of(sup, "b"_a);
        exit(b0.as_pid(), "crash"_a);
        term evs = co_await events(4);
        term a1 = co_await pid_of(sup, "a"_a);
        co_return tuple(evs, term(a0 == a1));
    });
    EXPECT_EQ(r, tuple(list({ev("stopped", "b"), ev("stopped", "c"), ev("started", "b"), ev("started", "c")}),
                       term(true)));
}

TEST(supervisor, exceeding_the_intensity_stops_the_supervisor_with_shutdown) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        trap_exit(true);
        pid sup = co_await start_abc(supervisor::strategy::one_for_one, 2);
        for (int i = 0; i < 3; ++i) {
            term b = co_await pid_of(sup, "b"_a);
            exit(b.as_pid(), "crash"_a);
            (void)co_await events(i < 2 ? 2 : 1);  // stopped b, started b (not after the 3rd)
        }
        term sup_t = sup;
        auto is_exit = [sup_t](const term& m) {
            return m.is_tuple(3) && m[0].is_atom(atoms::EXIT) && m[1] == sup_t;
        };
        auto e = co_await receive(is_exit).after(5s);
        term rest = co_await events(2);  // the others are shut down in reverse order
        co_return tuple(e ? (*e)[2] : term("none"_a), rest);
    });
    EXPECT_EQ(r, tuple("shutdown"_a, list({ev("stopped", "c"), ev("stopped", "a")})));
}

TEST(supervisor, transient_restarts_only_on_abnormal_exit_temporary_never) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        std::vector<child_spec> cs;
        cs.push_back(spec(self(), "t"_a, supervisor::restart_type::transient));
        cs.push_back(spec(self(), "tmp"_a, supervisor::restart_type::temporary));
        auto sup = co_await supervisor::start_link(gen_server::unnamed(),
                                                   flags(supervisor::strategy::one_for_one), cs);
        (void)co_await events(2);
        term t0 = co_await pid_of(*sup, "t"_a);
        send(t0, "quit"_a);  // normal exit: not restarted
        co_await receive().after(50ms);
        term t1 = co_await pid_of(*sup, "t"_a);
        auto rr = co_await supervisor::restart_child(*sup, "t"_a);
        (void)co_await next_event();
        term t2 = co_await pid_of(*sup, "t"_a);
        exit(t2.as_pid(), "crash"_a);  // abnormal: restarted
        term evs = co_await events(2);
        term tmp = co_await pid_of(*sup, "tmp"_a);
        exit(tmp.as_pid(), "crash"_a);  // temporary: forgotten
        (void)co_await next_event();
        term tmp_after = co_await pid_of(*sup, "tmp"_a);
        co_return list({t1, term(rr.has_value()), evs, tmp_after});
    });
    EXPECT_EQ(r, list({"undefined"_a, term(true), list({ev("stopped", "t"), ev("started", "t")}), "none"_a}));
}

TEST(supervisor, terminate_restart_delete_child) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid sup = co_await start_abc(supervisor::strategy::one_for_one);
        std::vector<term> out;
        auto running = co_await supervisor::restart_child(sup, "a"_a);
        out.push_back(running.error());
        auto del_running = co_await supervisor::delete_child(sup, "a"_a);
        out.push_back(del_running.error());
        auto t = co_await supervisor::terminate_child(sup, "a"_a);
        out.push_back(term(t.has_value()));
        out.push_back(co_await next_event());  // stopped a (shutdown)
        out.push_back(co_await pid_of(sup, "a"_a));
        auto again = co_await supervisor::restart_child(sup, "a"_a);
        out.push_back(term(again.has_value()));
        (void)co_await next_event();
        (void)co_await supervisor::terminate_child(sup, "a"_a);
        (void)co_await next_event();
        auto del = co_await supervisor::delete_child(sup, "a"_a);
        out.push_back(term(del.has_value()));
        auto missing = co_await supervisor::terminate_child(sup, "a"_a);
        out.push_back(missing.error());
        auto counts = co_await supervisor::count_children(sup);
        out.push_back(term(counts.specs));
        // start_child with a spec, then the same id again
        auto d = co_await supervisor::start_child(sup, spec(self(), "d"_a));
        (void)co_await next_event();
        auto d2 = co_await supervisor::start_child(sup, spec(self(), "d"_a));
        out.push_back(term(d2.error() == tuple("already_started"_a, d->as_term())));
        co_return make_list(std::move(out));
    });
    EXPECT_EQ(r, list({"running"_a, "running"_a, term(true), ev("stopped", "a"), "undefined"_a, term(true),
                       term(true), "not_found"_a, term(2), term(true)}));
}

TEST(supervisor, simple_one_for_one_children_get_extra_args) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        std::vector<child_spec> cs;
        child_spec c = spec(self(), "w"_a, supervisor::restart_type::transient);
        c.args = {term("base"_a)};
        cs.push_back(c);
        auto sup = co_await supervisor::start_link(gen_server::unnamed(),
                                                   flags(supervisor::strategy::simple_one_for_one), cs);
        std::vector<term> x1{term(1)};
        std::vector<term> x2{term(2)};
        auto p1 = co_await supervisor::start_child(*sup, x1);
        auto p2 = co_await supervisor::start_child(*sup, x2);
        auto is_started = [](const term& m) { return m.is_tuple(4) && m[0].is_atom("started"_a); };
        auto s1 = co_await receive(is_started).after(1s);
        auto s2 = co_await receive(is_started).after(1s);
        auto kids = co_await supervisor::which_children(*sup);
        auto by_id = co_await supervisor::terminate_child(*sup, "w"_a);
        auto t = co_await supervisor::terminate_child(*sup, p1->as_term());
        auto counts = co_await supervisor::count_children(*sup);
        co_return list({(*s1)[3], (*s2)[3], kids[0].id, term(std::int64_t(kids.size())), by_id.error(),
                        term(t.has_value()), term(counts.workers), term(p2.has_value())});
    });
    EXPECT_EQ(r, list({list({"base"_a, term(1)}), list({"base"_a, term(2)}), "undefined"_a, term(2),
                       "simple_one_for_one"_a, term(true), term(1), term(true)}));
}

TEST(supervisor, stop_shuts_children_down_in_reverse_start_order) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid sup = co_await start_abc(supervisor::strategy::one_for_one);
        co_await gen_server::stop(sup);
        co_return co_await events(3);
    });
    EXPECT_EQ(r, list({ev("stopped", "c"), ev("stopped", "b"), ev("stopped", "a")}));
}

TEST(supervisor, shutdown_timeout_kills_a_stubborn_child_brutal_kill_kills_at_once) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        std::vector<child_spec> cs;
        child_spec s1 = spec(self(), "stubborn"_a, supervisor::restart_type::permanent, true);
        s1.shutdown = 200ms;
        child_spec s2 = spec(self(), "brutal"_a);
        s2.shutdown = supervisor::brutal_kill;
        cs.push_back(s1);
        cs.push_back(s2);
        auto sup = co_await supervisor::start_link(gen_server::unnamed(),
                                                   flags(supervisor::strategy::one_for_one), cs);
        (void)co_await events(2);
        term st = co_await pid_of(*sup, "stubborn"_a);
        term br = co_await pid_of(*sup, "brutal"_a);
        reference m1 = monitor(st);
        reference m2 = monitor(br);
        auto t0 = monotonic_time();
        co_await gen_server::stop(*sup);
        auto spent = monotonic_time() - t0;
        term m1t = m1, m2t = m2;
        auto d1p = [m1t](const term& m) { return m.is_tuple(5) && m[1] == m1t; };
        auto d2p = [m2t](const term& m) { return m.is_tuple(5) && m[1] == m2t; };
        auto d1 = co_await receive(d1p).after(1s);
        auto d2 = co_await receive(d2p).after(1s);
        co_return tuple((*d1)[4], (*d2)[4], term(spent >= 200ms));
    });
    EXPECT_EQ(r, tuple("killed"_a, "killed"_a, term(true)));
}

TEST(supervisor, a_child_that_fails_to_start_fails_the_supervisor_start) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        trap_exit(true);
        std::vector<child_spec> cs;
        cs.push_back(spec(self(), "a"_a));
        child_spec bad;
        bad.id = "bad"_a;
        bad.start = [](std::vector<term>) -> task<supervisor::start_result> {
            co_return unexpected(term("no_luck"_a));
        };
        cs.push_back(bad);
        auto sup = co_await supervisor::start_link(gen_server::unnamed(),
                                                   flags(supervisor::strategy::one_for_one), cs);
        auto sup_exit = co_await receive(pat::tuple(atoms::EXIT, pat::_, pat::_)).after(1s);
        co_return tuple(sup.error(), sup_exit ? (*sup_exit)[2] : term("none"_a));
    });
    // (Child a is shut down again; it may not have run yet, so it reports nothing.)
    term reason = tuple("shutdown"_a, tuple("failed_to_start_child"_a, "bad"_a, "no_luck"_a));
    EXPECT_EQ(r, tuple(reason, reason));
}

TEST(supervisor, nested_supervisor_restarts_as_a_child) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid me = self();
        std::vector<child_spec> inner;
        inner.push_back(spec(me, "leaf"_a));
        child_spec sub;
        sub.id = "sub"_a;
        sub.type = supervisor::child_type::supervisor;
        sub.shutdown = supervisor::infinity;
        sub.start = supervisor::starter([inner]() {
            return supervisor::start_link(gen_server::local("inner"_a),
                                          flags(supervisor::strategy::one_for_one), inner);
        });
        std::vector<child_spec> outer;
        outer.push_back(sub);
        auto top = co_await supervisor::start_link(gen_server::unnamed(),
                                                   flags(supervisor::strategy::one_for_one), outer);
        (void)co_await next_event();
        auto inner0 = whereis("inner"_a);
        exit(*inner0, term(atoms::kill));  // the inner supervisor dies; its leaf goes with it; both restart
        // The old leaf's exit and the new leaf's start race (as in OTP): compare as a set.
        term e1 = co_await next_event();
        term e2 = co_await next_event();
        term evs = compare(e1, e2) == std::weak_ordering::less ? list({e1, e2}) : list({e2, e1});
        auto inner1 = whereis("inner"_a);
        auto counts = co_await supervisor::count_children(*top);
        co_return tuple(evs, term(inner1.has_value() && !(*inner1 == *inner0)), term(counts.supervisors));
    });
    EXPECT_EQ(r, tuple(list({ev("started", "leaf"), ev("stopped", "leaf")}), term(true), term(1)));
}

namespace {
void export_square(runtime& rt) {
    rt.exports().add("math"_a, "square"_a, 1, [](std::vector<term> a) -> task<term> {
        auto x = a[0].to_int64();
        co_return term(*x * *x);
    });
    rt.exports().add("math"_a, "sleep"_a, 1, [](std::vector<term> a) -> task<term> {
        co_await receive(pat::tuple("never"_a)).after(std::chrono::milliseconds(*a[0].to_int64()));
        co_return term("slept"_a);
    });
}
}  // namespace

TEST(task_supervisor, async_await_and_timeout) {
    runtime rt(det());
    export_square(rt);
    term r = run_in(rt, []() -> task<term> {
        auto sup = co_await task_supervisor::start_link(gen_server::local("tasks"_a));
        std::vector<term> seven{term(7)};
        auto t = co_await task_supervisor::async("tasks"_a, "math"_a, "square"_a, seven);
        term v = co_await task_supervisor::await(t, 1000ms);
        std::vector<term> long_sleep{term(10000)};
        auto slow = co_await task_supervisor::async(*sup, "math"_a, "sleep"_a, long_sleep);
        auto y = co_await task_supervisor::yield(slow, 10ms);
        bool still_running = y.has_value() && !y->has_value();
        auto [waiter, mref] = spawn_monitor([]() -> task<> {
            std::vector<term> a{term(10000)};
            auto t2 = co_await task_supervisor::async("tasks"_a, "math"_a, "sleep"_a, a);
            (void)co_await task_supervisor::await(t2, 50ms);
        });
        (void)waiter;
        term mref_t = mref;
        auto is_down = [mref_t](const term& m) { return m.is_tuple(5) && m[1] == mref_t; };
        auto down = co_await receive(is_down).after(5s);
        term reason = (*down)[4];
        co_return tuple(v, term(still_running), reason.is_tuple(2) ? reason[0] : reason,
                        reason.is_tuple(2) ? reason[1][0] : term());
    });
    EXPECT_EQ(r, tuple(term(49), term(true), "timeout"_a, "Elixir.Task"_a));
}

// The shape docs/behaviours.md and supervisor.hpp show: designated initializers for specs and
// flags, starter() around a callable returning a pid.
TEST(supervisor, documented_spec_and_flags_syntax) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        std::vector<child_spec> children;
        children.push_back({.id = "db"_a,
                            .start = supervisor::starter([] { return spawn_link(wait_forever); }),
                            .restart = supervisor::restart_type::transient});
        supervisor::flags f{.strategy = supervisor::strategy::rest_for_one, .intensity = 3, .period = 5s};
        auto sup = co_await supervisor::start_link(gen_server::local("app_sup"_a), f, children);
        auto kids = co_await supervisor::which_children("app_sup"_a);
        co_return tuple(term(sup.has_value()), kids.at(0).id, term(kids.at(0).child.is_pid()));
    });
    EXPECT_EQ(r, tuple(true, "db"_a, true));
}

#include "nodus/behaviours/gen_server.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include "behaviours_test_util.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::behaviours_test;
using namespace std::chrono_literals;
using gen_server::action;

namespace {

// A counter: the test server of these tests. It tells `observer` when terminate runs.
class counter : public gen_server::server {
public:
    explicit counter(std::int64_t n, pid observer = {}, term init_action = term(atoms::ok))
        : n_(n), observer_(std::move(observer)), init_action_(std::move(init_action)) {}

    task<action> init() override {
        if (init_action_.is_atom("ignore"_a)) co_return gen_server::ignore();
        if (init_action_.is_tuple(2) && init_action_[0].is_atom("stop"_a))
            co_return gen_server::stop_with(init_action_[1]);
        if (init_action_.is_atom("crash"_a)) error("init_failed"_a);
        if (init_action_.is_tuple(2) && init_action_[0].is_atom("timeout"_a)) {
            co_return gen_server::ok().after(std::chrono::milliseconds(*init_action_[1].to_int64()));
        }
        co_return gen_server::ok();
    }
    task<action> handle_call(term req, gen_server::from caller) override {
        if (req.is_atom("get"_a)) co_return gen_server::reply(term(n_));
        if (req.is_tuple(2) && req[0].is_atom("add"_a)) {
            n_ += *req[1].to_int64();
            co_return gen_server::reply(term(n_));
        }
        if (req.is_atom("later"_a)) {
            saved_ = caller;
            co_return gen_server::noreply();
        }
        if (req.is_atom("release"_a)) {
            if (saved_) gen_server::reply(*saved_, "released"_a);
            co_return gen_server::reply(term(atoms::ok));
        }
        if (req.is_atom("never"_a)) co_return gen_server::noreply();
        if (req.is_atom("stop"_a)) co_return gen_server::stop_with(term(atoms::normal), "stopping"_a);
        if (req.is_atom("crash"_a)) error("boom"_a);
        if (req.is_atom("bad"_a)) co_return gen_server::ok();
        co_return gen_server::reply(tuple("unknown"_a, req));
    }
    task<action> handle_cast(term req) override {
        if (req.is_atom("inc"_a)) ++n_;
        if (req.is_atom("stop"_a)) co_return gen_server::stop_with("cast_stop"_a);
        if (req.is_atom("bad"_a)) co_return gen_server::reply("oops"_a);
        co_return gen_server::noreply();
    }
    task<action> handle_info(term msg) override {
        if (msg.is_atom(atoms::timeout)) {
            if (observer_.valid()) send(observer_, tuple("idle"_a, self_term()));
        } else if (msg.is_tuple(2) && msg[0].is_atom("set"_a)) {
            n_ = *msg[1].to_int64();
        }
        co_return gen_server::noreply();
    }
    task<> terminate(term reason) override {
        if (observer_.valid()) send(observer_, tuple("terminated"_a, reason));
        co_return;
    }
    term format_status() const override { return tuple("count"_a, n_); }

private:
    std::int64_t n_;
    pid observer_;
    term init_action_;
    std::optional<gen_server::from> saved_;
};

task<pid> start_counter(std::int64_t n, gen_server::server_name name = {}) {
    auto r = co_await gen_server::start_link(std::make_unique<counter>(n, self()), std::move(name));
    EXPECT_TRUE(r.has_value());
    co_return *r;
}

task<term> wait_for(term pattern_tag, std::chrono::milliseconds t = 5000ms) {
    auto is_it = [pattern_tag](const term& m) { return m.is_tuple(2) && m[0] == pattern_tag; };
    auto r = co_await receive(is_it).after(t);
    co_return r ? (*r)[1] : term("none"_a);
}

}  // namespace

TEST(gen_server, start_call_cast_by_pid_name_and_name_node) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(0, gen_server::local("counter"_a));
        term a = co_await gen_server::call(p, "get"_a);
        gen_server::cast("counter"_a, "inc"_a);
        gen_server::cast(p, "inc"_a);
        term b = co_await gen_server::call("counter"_a, tuple("add"_a, 10));
        term c = co_await gen_server::call(tuple("counter"_a, erlang_node()), "get"_a, 1000ms);
        send(p, tuple("set"_a, 42));
        term d = co_await gen_server::call(p, "get"_a);
        co_return list({a, b, c, d});
    });
    EXPECT_EQ(r, list({term(0), term(12), term(12), term(42)}));
}

TEST(gen_server, reply_later_from_a_saved_from) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(0);
        pid me = self();
        spawn([p, me]() -> task<> {
            term x = co_await gen_server::call(p, "later"_a, gen_server::infinity);
            send(me, tuple("later_reply"_a, x));
        });
        co_await receive().after(10ms);  // the call is parked in the server
        term ok = co_await gen_server::call(p, "release"_a);
        term later = co_await wait_for("later_reply"_a);
        co_return tuple(ok, later);
    });
    EXPECT_EQ(r, tuple("ok"_a, "released"_a));
}

TEST(gen_server, stop_from_handle_call_replies_and_runs_terminate) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(0);
        term x = co_await gen_server::call(p, "stop"_a);
        term why = co_await wait_for("terminated"_a);
        co_await receive().after(10ms);
        co_return tuple(x, why, is_process_alive(p));
    });
    EXPECT_EQ(r, tuple("stopping"_a, "normal"_a, false));
}

TEST(gen_server, call_timeout_exits_the_caller_as_otp) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(0);
        auto [caller, mref] =
            spawn_monitor([p]() -> task<> { (void)co_await gen_server::call(p, "never"_a, 100ms); });
        (void)caller;
        term mref_t = mref;
        auto is_down = [mref_t](const term& m) { return m.is_tuple(5) && m[1] == mref_t; };
        auto down = co_await receive(is_down).after(5s);
        auto tried = co_await gen_server::try_call(p, "never"_a, 50ms);
        co_return tuple(down ? (*down)[4] : term("no_down"_a), tried ? term("ok"_a) : tried.error(), p);
    });
    term p = r[2];
    EXPECT_EQ(r[0], tuple("timeout"_a, tuple("gen_server"_a, "call"_a, list({p, "never"_a, term(100)}))));
    EXPECT_EQ(r[1], term("timeout"_a));
}

TEST(gen_server, call_to_a_missing_name_exits_noproc_with_call2_args) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        auto [caller, mref] =
            spawn_monitor([]() -> task<> { (void)co_await gen_server::call("nobody"_a, "get"_a); });
        (void)caller;
        term mref_t = mref;
        auto is_down = [mref_t](const term& m) { return m.is_tuple(5) && m[1] == mref_t; };
        auto down = co_await receive(is_down).after(5s);
        auto self_call = co_await gen_server::try_call(self_term(), "x"_a);
        co_return tuple((*down)[4], self_call.error());
    });
    EXPECT_EQ(r[0], tuple("noproc"_a, tuple("gen_server"_a, "call"_a, list({"nobody"_a, "get"_a}))));
    EXPECT_EQ(r[1], term("calling_self"_a));
}

TEST(gen_server, crash_in_a_callback_runs_terminate_and_the_caller_sees_the_reason) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        trap_exit(true);  // the server is linked to us
        pid p = co_await start_counter(0);
        auto res = co_await gen_server::try_call(p, "crash"_a);
        term why = co_await wait_for("terminated"_a);
        co_return tuple(res.error(), why);
    });
    EXPECT_EQ(r, tuple(tuple("boom"_a, term()), tuple("boom"_a, term())));
}

TEST(gen_server, init_results_ok_stop_ignore_crash_and_already_started) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        trap_exit(true);
        auto a = co_await gen_server::start(std::make_unique<counter>(0, pid(), tuple("stop"_a, "no_way"_a)));
        auto b = co_await gen_server::start(std::make_unique<counter>(0, pid(), "ignore"_a),
                                            gen_server::local("ig"_a));
        auto c = co_await gen_server::start(std::make_unique<counter>(0, pid(), "crash"_a),
                                            gen_server::local("cr"_a));
        auto d = co_await gen_server::start(std::make_unique<counter>(0), gen_server::local("one"_a));
        auto e = co_await gen_server::start(std::make_unique<counter>(0), gen_server::local("one"_a));
        // A failed init leaves no name behind.
        bool names_free = !whereis("ig"_a) && !whereis("cr"_a);
        co_return list({a.error(), b.error(), c.error(), e.error(), term(names_free), d->as_term()});
    });
    EXPECT_EQ(r.list_elements()->at(0), term("no_way"_a));
    EXPECT_EQ(r.list_elements()->at(1), term("ignore"_a));
    EXPECT_EQ(r.list_elements()->at(2), tuple("init_failed"_a, term()));
    EXPECT_EQ(r.list_elements()->at(3), tuple("already_started"_a, r.list_elements()->at(5)));
    EXPECT_EQ(r.list_elements()->at(4), term(true));
}

TEST(gen_server, stop_runs_terminate_with_the_reason_and_waits) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(0, gen_server::local("st"_a));
        co_await gen_server::stop("st"_a);
        term why1 = co_await wait_for("terminated"_a);
        bool dead = !is_process_alive(p);
        trap_exit(true);
        pid q = co_await start_counter(0);
        co_await gen_server::stop(q, tuple("shutdown"_a, "bye"_a), 1000ms);
        term why2 = co_await wait_for("terminated"_a);
        auto [stopper, mref] = spawn_monitor([]() -> task<> { co_await gen_server::stop("gone"_a); });
        (void)stopper;
        term mref_t = mref;
        auto is_down = [mref_t](const term& m) { return m.is_tuple(5) && m[1] == mref_t; };
        auto down = co_await receive(is_down).after(5s);
        co_return list({why1, term(dead), why2, (*down)[4]});
    });
    EXPECT_EQ(r, list({"normal"_a, term(true), tuple("shutdown"_a, "bye"_a), "noproc"_a}));
}

TEST(gen_server, timeout_action_delivers_timeout_to_handle_info) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        auto p =
            co_await gen_server::start_link(std::make_unique<counter>(0, self(), tuple("timeout"_a, 50)));
        term idle = co_await wait_for("idle"_a);
        co_return term(idle == p->as_term());
    });
    EXPECT_EQ(r, term(true));
}

TEST(gen_server, tag_is_echoed_exactly_alias_form_and_multi_call_form) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(7);
        term ref = make_ref();
        term alias_tag = cons("alias"_a, ref);
        send(p, tuple(atoms::gen_call, tuple(self_term(), alias_tag), "get"_a));
        auto is_a = [alias_tag](const term& m) { return m.is_tuple(2) && m[0] == alias_tag; };
        auto a = co_await receive(is_a).after(1s);
        term multi_tag = tuple(ref, erlang_node());
        send(p, tuple(atoms::gen_call, tuple(self_term(), multi_tag), "get"_a));
        auto is_m = [multi_tag](const term& m) { return m.is_tuple(2) && m[0] == multi_tag; };
        auto m = co_await receive(is_m).after(1s);
        co_return tuple(a ? (*a)[1] : term("none"_a), m ? (*m)[1] : term("none"_a));
    });
    EXPECT_EQ(r, tuple(term(7), term(7)));
}

TEST(gen_server, bad_return_value_stops_the_server) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        trap_exit(true);
        pid p = co_await start_counter(0);
        gen_server::cast(p, "bad"_a);
        term why = co_await wait_for("terminated"_a);
        co_return why;
    });
    EXPECT_EQ(r, tuple("bad_return_value"_a, tuple("reply"_a, "oops"_a, "state"_a)));
}

TEST(gen_server, sys_get_state_returns_format_status) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        pid p = co_await start_counter(3);
        auto s = co_await gen_server::do_call(p, "system"_a, "get_state"_a, 1000ms);
        co_return *s;
    });
    EXPECT_EQ(r, tuple("count"_a, 3));
}

TEST(gen_server, abcast_and_multi_call_on_this_node) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        (void)co_await start_counter(1, gen_server::local("mc"_a));
        gen_server::abcast("mc"_a, "inc"_a);
        auto res = co_await gen_server::multi_call("mc"_a, "get"_a, 1000ms);
        std::vector<atom> nodes{erlang_node(), atom("nowhere@nohost")};
        auto res2 = co_await gen_server::multi_call(nodes, "mc"_a, "get"_a, 1000ms);
        co_return tuple(res.replies.size() == 1 ? res.replies[0].second : term("bad"_a),
                        std::int64_t(res2.replies.size()), std::int64_t(res2.bad_nodes.size()));
    });
    EXPECT_EQ(r, tuple(term(2), term(1), term(1)));
}

TEST(gen_server, a_system_message_does_not_cancel_the_idle_timeout) {
    runtime rt(det());
    term r = run_in(rt, []() -> task<term> {
        auto t0 = monotonic_time();
        auto p =
            co_await gen_server::start_link(std::make_unique<counter>(0, self(), tuple("timeout"_a, 100)));
        co_await receive().after(50ms);
        auto st = co_await gen_server::do_call(p->as_term(), "system"_a, "get_state"_a, 1000ms);
        term idle = co_await wait_for("idle"_a);
        co_return tuple(*st, term(idle == p->as_term()), term(monotonic_time() - t0 >= 100ms));
    });
    EXPECT_EQ(r, tuple(tuple("count"_a, 0), true, true));
}

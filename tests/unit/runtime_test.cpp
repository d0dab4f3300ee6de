#include "nodus/runtime/runtime.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

runtime_options det(std::uint64_t seed = 0) {
    runtime_options o;
    o.deterministic = true;
    o.seed = seed;
    return o;
}

// Receives one message in a scoped process or fails the test.
term expect_msg(scoped_process& me, std::chrono::nanoseconds t = 1s) {
    auto m = me.receive(t);
    EXPECT_TRUE(m.has_value()) << "no message";
    return m ? *m : term();
}

task<> echo() {
    for (;;) {
        var<pid> from;
        var<term> msg;
        co_await receive(pat::tuple(from, msg));
        send(*from, tuple("echo"_a, *msg));
    }
}

task<> wait_forever() { co_await receive(pat::tuple("never"_a)); }

task<> exit_with(term reason) {
    co_await yield();
    exit(reason);
}

}  // namespace

TEST(runtime, spawn_and_echo) {
    runtime rt(det());
    scoped_process me(rt);
    pid e = rt.spawn(echo);
    EXPECT_EQ(e.node(), atoms::nonode_nohost);
    me.send(e, tuple(me.self(), "hello"_a));
    EXPECT_EQ(expect_msg(me), tuple("echo"_a, "hello"_a));
}

TEST(runtime, messages_from_one_sender_arrive_in_order) {
    runtime rt(det(42));
    scoped_process me(rt);
    pid target = me.self();
    for (int s = 0; s < 5; ++s) {
        rt.spawn(
            [target, s]() -> task<> {
                for (int i = 0; i < 200; ++i) co_await send(target, tuple(s, i));
            });
    }
    std::vector<int> next(5, 0);
    for (int k = 0; k < 1000; ++k) {
        term m = expect_msg(me);
        int s = static_cast<int>(*m[0].to_int64());
        EXPECT_EQ(*m[1].to_int64(), next[s]++);
    }
}

TEST(runtime, selective_receive_leaves_others_in_order) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        send(self_pid, "a"_a);
        send(self_pid, tuple("b"_a, 1));
        send(self_pid, "c"_a);
        send(self_pid, tuple("b"_a, 2));
        co_return;
    });
    rt.run();
    EXPECT_EQ(*me.receive_match(pat::tuple("b"_a, pat::_)), tuple("b"_a, 1));
    EXPECT_EQ(*me.receive_match(pat::tuple("b"_a, pat::_)), tuple("b"_a, 2));
    EXPECT_EQ(*me.receive(), term("a"_a));
    EXPECT_EQ(*me.receive(), term("c"_a));
}

TEST(runtime, receive_in_a_process_with_patterns_and_bindings) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    pid p = rt.spawn([self_pid]() -> task<> {
        var<std::int64_t> n;
        var<pid> from;
        auto r = co_await receive(pat::tuple("add"_a, from, n));
        send(*from, *n + 1);
        // Unmatched messages stay: `other` arrived first but is received second.
        auto r2 = co_await receive("other"_a);
        send(self_pid, tuple(r.clause, r2.clause, *r2));
    });
    me.send(p, "other"_a);
    me.send(p, tuple("add"_a, me.self(), 41));
    EXPECT_EQ(expect_msg(me), term(42));
    EXPECT_EQ(expect_msg(me), tuple(0, 0, "other"_a));
}

TEST(runtime, after_zero_finite_and_infinity_in_virtual_time) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        auto t0 = monotonic_time();
        auto r0 = co_await receive().after(0ms);
        auto r1 = co_await receive().after(5s);
        auto t1 = monotonic_time();
        send(self_pid, tuple(bool(r0), bool(r1), (t1 - t0).count() >= 5'000'000'000));
    });
    EXPECT_EQ(expect_msg(me, 10s), tuple(false, false, true));
    EXPECT_GE(rt.now(), 5s);
}

namespace {
struct counting_hook final : runtime::slice_end_hook {
    std::atomic<int> runs{0};
    void at_slice_end() override { ++runs; }
};
}  // namespace

// What the distribution layer relies on to stage a process's sends: a hook runs when the slice
// ends, whether the process waits or exits, and not before.
TEST(runtime, slice_end_hooks_run_when_the_process_waits_or_exits) {
    runtime rt(det());
    scoped_process me(rt);
    counting_hook h;
    EXPECT_FALSE(rt.in_process());
    EXPECT_FALSE(rt.defer_to_slice_end(h));  // not in a process: nothing registered
    pid self_pid = me.self();
    runtime* r = &rt;
    pid p = rt.spawn([self_pid, r, &h]() -> task<> {
        bool registered = r->in_process() && r->defer_to_slice_end(h);
        send(self_pid, tuple("registered"_a, registered, h.runs.load()));
        co_await receive("go"_a);
        send(self_pid, tuple("after_wait"_a, h.runs.load()));
        r->defer_to_slice_end(h);  // runs when the process exits
    });
    EXPECT_EQ(expect_msg(me), tuple("registered"_a, true, 0));
    me.send(p, "go"_a);
    EXPECT_EQ(expect_msg(me), tuple("after_wait"_a, 1));
    rt.run();
    EXPECT_EQ(h.runs.load(), 2);
}

TEST(runtime, receive_timeout_is_cancelled_by_a_message) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    pid p = rt.spawn([self_pid]() -> task<> {
        auto r = co_await receive().after(10s);
        send(self_pid, tuple(bool(r), monotonic_time().count()));
    });
    rt.run(1s);
    me.send(p, "hi"_a);
    term m = expect_msg(me);
    EXPECT_EQ(m[0], term(true));
    EXPECT_LT(*m[1].to_int64(), 2'000'000'000);
}

TEST(runtime, normal_exit_does_not_kill_linked_process) {
    runtime rt(det());
    scoped_process me(rt);
    pid waiter = rt.spawn(wait_forever);
    pid self_pid = me.self();
    rt.spawn([waiter, self_pid]() -> task<> {
        link(waiter);
        send(self_pid, "linked"_a);
        co_return;  // exits normally
    });
    EXPECT_EQ(expect_msg(me), term("linked"_a));
    rt.run();
    EXPECT_TRUE(rt.is_process_alive(waiter));
}

TEST(runtime, abnormal_exit_kills_linked_process_and_trap_exit_catches_it) {
    runtime rt(det());
    scoped_process me(rt);
    me.trap_exit(true);
    pid victim = rt.spawn(wait_forever);
    pid self_pid = me.self();
    rt.spawn([victim, self_pid]() -> task<> {
        link(victim);
        link(self_pid);
        co_await yield();
        exit(term("boom"_a));
    });
    term m = expect_msg(me);
    ASSERT_TRUE(m.is_tuple(3));
    EXPECT_EQ(m[0], term(atoms::EXIT));
    EXPECT_EQ(m[2], term("boom"_a));
    rt.run();
    EXPECT_FALSE(rt.is_process_alive(victim));
}

TEST(runtime, kill_is_untrappable_and_becomes_killed) {
    runtime rt(det());
    scoped_process me(rt);
    me.trap_exit(true);
    pid trapper = rt.spawn([]() -> task<> {
        trap_exit(true);
        co_await receive(pat::tuple("never"_a));
    });
    me.link(trapper);
    rt.run();
    rt.exit(trapper, term(atoms::kill));
    term m = expect_msg(me);
    EXPECT_EQ(m, tuple(atoms::EXIT, trapper, atoms::killed));
}

TEST(runtime, trapped_exit2_becomes_a_message) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    pid p = rt.spawn([self_pid]() -> task<> {
        trap_exit(true);
        auto r = co_await receive();
        send(self_pid, *r);
    });
    rt.run();
    pid sender = rt.spawn([p]() -> task<> {
        exit(p, term("please"_a));
        co_return;
    });
    EXPECT_EQ(expect_msg(me), tuple(atoms::EXIT, sender, "please"_a));
}

TEST(runtime, exit_normal_to_self_kills_but_not_others) {
    runtime rt(det());
    scoped_process me(rt);
    pid a = rt.spawn(wait_forever);
    auto ref = me.monitor(a);
    rt.exit(a, term(atoms::normal));
    rt.run();
    EXPECT_TRUE(rt.is_process_alive(a));
    pid b = rt.spawn([]() -> task<> {
        exit(self(), term(atoms::normal));
        co_await receive(pat::tuple("never"_a));
    });
    auto ref_b = me.monitor(b);
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, ref_b, atoms::process, b, atoms::normal));
    (void)ref;
}

TEST(runtime, link_to_dead_pid_gives_noproc) {
    runtime rt(det());
    scoped_process me(rt);
    pid dead = rt.spawn([]() -> task<> { co_return; });
    rt.run();
    pid self_pid = me.self();
    rt.spawn([dead, self_pid]() -> task<> {
        try {
            link(dead);
            send(self_pid, "no_error"_a);
        } catch (const error_exception& e) {
            send(self_pid, tuple("error"_a, e.reason()));
        }
        trap_exit(true);
        link(dead);
        auto r = co_await receive();
        send(self_pid, *r);
    });
    EXPECT_EQ(expect_msg(me), tuple("error"_a, atoms::noproc));
    EXPECT_EQ(expect_msg(me), tuple(atoms::EXIT, dead, atoms::noproc));
}

TEST(runtime, monitors_deliver_down_and_noproc) {
    runtime rt(det());
    scoped_process me(rt);
    pid p = rt.spawn(exit_with, term("bye"_a));
    auto ref = me.monitor(p);
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, ref, atoms::process, p, "bye"_a));
    auto ref2 = me.monitor(p);  // dead now
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, ref2, atoms::process, p, atoms::noproc));
}

TEST(runtime, monitor_by_registered_name) {
    runtime rt(det());
    scoped_process me(rt);
    pid p = rt.spawn([]() -> task<> {
        register_name("named"_a, self());
        co_await receive("stop"_a);
    });
    rt.run();
    ASSERT_TRUE(rt.whereis("named"_a).has_value());
    auto ref = me.monitor("named"_a);
    me.send("named"_a, "stop"_a);
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, ref, atoms::process, tuple("named"_a, atoms::nonode_nohost), atoms::normal));
    auto ref2 = me.monitor("named"_a);
    EXPECT_EQ(expect_msg(me),
              tuple(atoms::DOWN, ref2, atoms::process, tuple("named"_a, atoms::nonode_nohost), atoms::noproc));
    EXPECT_FALSE(rt.whereis("named"_a).has_value());  // freed on exit
    (void)p;
}

TEST(runtime, demonitor_with_flush_removes_the_down) {
    runtime rt(det());
    scoped_process me(rt);
    pid p = rt.spawn(exit_with, term("bye"_a));
    auto ref = me.monitor(p);
    rt.run();  // p is dead; DOWN is pending
    EXPECT_FALSE(me.demonitor(ref, true));
    EXPECT_FALSE(me.receive(0ms).has_value());
    pid q = rt.spawn(wait_forever);
    auto ref_q = me.monitor(q);
    EXPECT_TRUE(me.demonitor(ref_q));
    rt.exit(q, term(atoms::kill));
    rt.run();
    EXPECT_FALSE(me.receive(0ms).has_value());
}

TEST(runtime, registry) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    pid p = rt.spawn([self_pid]() -> task<> {
        bool ok1 = register_name("reg1"_a, self());
        bool ok2 = register_name("reg2"_a, self());  // one name per process
        bool ok3 = unregister("reg1"_a);
        bool ok4 = register_name("reg2"_a, self());
        auto names = registered();
        send(self_pid, tuple(ok1, ok2, ok3, ok4, static_cast<long long>(names.size())));
        co_await receive("stop"_a);
    });
    EXPECT_EQ(expect_msg(me), tuple(true, false, true, true, 1));
    EXPECT_EQ(rt.whereis("reg2"_a), p);
    EXPECT_TRUE(me.register_name("me"_a));
    EXPECT_FALSE(me.register_name("reg2"_a));
    me.send("reg2"_a, "stop"_a);
    rt.run();
    EXPECT_FALSE(rt.whereis("reg2"_a).has_value());
}

TEST(runtime, send_to_unregistered_name_is_badarg) {
    runtime rt(det());
    scoped_process me(rt);
    EXPECT_THROW(me.send("nobody_here"_a, 1), error_exception);
    me.send(tuple("nobody_here"_a, atoms::nonode_nohost), 1);  // {Name, Node}: silently dropped
}

TEST(runtime, send_after_and_cancel_timer) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        send_after(100ms, self_pid, "late"_a);
        auto t = send_after(50ms, self_pid, "cancelled"_a);
        auto left = cancel_timer(t);
        send(self_pid, tuple("left"_a, left ? static_cast<long long>(left->count()) : -1LL));
        send(self_pid, tuple("again"_a, cancel_timer(t).has_value()));
        co_return;
    });
    EXPECT_EQ(expect_msg(me), tuple("left"_a, 50));
    EXPECT_EQ(expect_msg(me), tuple("again"_a, false));
    EXPECT_EQ(expect_msg(me), term("late"_a));
    EXPECT_GE(rt.now(), 100ms);
    EXPECT_FALSE(me.receive(0ms).has_value());
}

TEST(runtime, process_info) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    pid target = rt.spawn([]() -> task<> {
        register_name("infotarget"_a, self());
        co_await receive("stop"_a);
    });
    rt.run();
    me.send(target, "x"_a);
    me.send(target, "y"_a);
    rt.spawn([target, self_pid]() -> task<> {
        auto info = co_await process_info(target);
        send(self_pid, tuple(info->registered_name ? term(*info->registered_name) : term(),
                             static_cast<long long>(info->message_queue_len)));
        exit(target, term(atoms::kill));
        auto gone = co_await process_info(target);
        send(self_pid, gone.has_value());
    });
    EXPECT_EQ(expect_msg(me), tuple("infotarget"_a, 2));
    EXPECT_EQ(expect_msg(me), term(false));
}

TEST(runtime, busy_senders_do_not_starve_others) {
    runtime rt(det());
    scoped_process me(rt);
    static std::atomic<long> sent{0};
    sent = 0;
    pid sink = rt.spawn([]() -> task<> {
        for (;;) co_await receive();
    });
    for (int i = 0; i < 2; ++i)
        rt.spawn([sink]() -> task<> {
            for (int k = 0; k < 100000; ++k) {
                ++sent;
                co_await send(sink, k);
            }
        });
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        send(self_pid, static_cast<long long>(sent.load()));
        co_return;
    });
    // The third process ran long before the two senders finished their 200,000 messages.
    term m = expect_msg(me);
    EXPECT_LT(*m.to_int64(), 50000);
}

TEST(runtime, spawn_link_and_spawn_monitor) {
    runtime rt(det());
    scoped_process me(rt);
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        trap_exit(true);
        pid child = spawn_link([]() -> task<> {
            co_await yield();
            exit(term("child_died"_a));
        });
        auto r = co_await receive();
        auto [mp, mref] = spawn_monitor([]() -> task<> { co_return; });
        auto d = co_await receive();
        send(self_pid, tuple(*r == tuple(atoms::EXIT, child, "child_died"_a),
                             *d == tuple(atoms::DOWN, mref, atoms::process, mp, atoms::normal)));
    });
    EXPECT_EQ(expect_msg(me), tuple(true, true));
}

TEST(runtime, uncaught_exceptions_become_exit_reasons) {
    runtime rt(det());
    scoped_process me(rt);
    pid a = rt.spawn([]() -> task<> {
        co_await yield();
        error(term(atoms::badarg));
    });
    pid b = rt.spawn([]() -> task<> {
        co_await yield();
        throw std::runtime_error("oops");
    });
    auto ra = me.monitor(a);
    auto rb = me.monitor(b);
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, ra, atoms::process, a, tuple(atoms::badarg, term())));
    EXPECT_EQ(expect_msg(me), tuple(atoms::DOWN, rb, atoms::process, b,
                                    tuple(tuple("cpp_exception"_a, binary("oops")), term())));
}

TEST(runtime, pids_are_not_reused_while_confusable) {
    runtime_options o = det();
    o.max_processes = 4;
    runtime rt(o);
    std::vector<pid> seen;
    for (int i = 0; i < 20; ++i) {
        pid p = rt.spawn([]() -> task<> { co_return; });
        for (const pid& q : seen) EXPECT_FALSE(p == q);
        seen.push_back(p);
        rt.run();
    }
    // A full table refuses the spawn with system_limit.
    std::vector<pid> hold;
    for (int i = 0; i < 4; ++i) hold.push_back(rt.spawn(wait_forever));
    EXPECT_THROW(rt.spawn(wait_forever), error_exception);
}

TEST(runtime, deterministic_seeds_reproduce) {
    auto trace = [](std::uint64_t seed) {
        runtime rt(det(seed));
        scoped_process me(rt);
        pid target = me.self();
        for (int s = 0; s < 4; ++s)
            rt.spawn([target, s]() -> task<> {
                for (int i = 0; i < 3; ++i) co_await send(target, s);
            });
        rt.run();
        std::vector<std::int64_t> order;
        while (auto m = me.receive(0ms)) order.push_back(*m->to_int64());
        return order;
    };
    EXPECT_EQ(trace(7), trace(7));
    EXPECT_EQ(trace(7).size(), 12u);
}

// ---- threaded ----

TEST(runtime_threads, echo_across_threads) {
    runtime rt(runtime_options{.threads = 2});
    scoped_process me(rt);
    pid e = rt.spawn(echo);
    for (int i = 0; i < 1000; ++i) {
        me.send(e, tuple(me.self(), i));
        ASSERT_EQ(expect_msg(me, 5s), tuple("echo"_a, i));
    }
}

TEST(runtime_threads, many_threads_send_to_one_mailbox) {
    runtime rt(runtime_options{.threads = 2});
    scoped_process me(rt);
    constexpr int senders = 8, per = 5000;
    std::vector<std::thread> threads;
    pid target = me.self();
    for (int s = 0; s < senders; ++s)
        threads.emplace_back([&rt, target, s] {
            for (int i = 0; i < per; ++i) rt.send(target, tuple(s, i));
        });
    // And processes sending concurrently.
    for (int s = senders; s < senders + 4; ++s)
        rt.spawn([target, s]() -> task<> {
            for (int i = 0; i < per; ++i) co_await send(target, tuple(s, i));
        });
    std::vector<int> next(senders + 4, 0);
    for (int k = 0; k < (senders + 4) * per; ++k) {
        auto m = me.receive(10s);
        ASSERT_TRUE(m.has_value()) << k;
        int s = static_cast<int>(*(*m)[0].to_int64());
        ASSERT_EQ(*(*m)[1].to_int64(), next[s]++);
    }
    for (auto& t : threads) t.join();
}

TEST(runtime_threads, ring_of_processes) {
    runtime rt(runtime_options{.threads = 2});
    scoped_process me(rt);
    constexpr int n = 1000, hops = 100000;
    pid self_pid = me.self();
    pid first = rt.spawn([self_pid]() -> task<> {
        // The last process forwards to the first; the first reports when the count is done.
        for (;;) {
            var<std::int64_t> left;
            var<pid> next;
            co_await receive(pat::tuple(next, left));
            if (*left == 0) {
                send(self_pid, "done"_a);
                co_return;
            }
            send(*next, tuple(*next, *left - 1));
        }
    });
    pid next = first;
    for (int i = 1; i < n; ++i)
        next = rt.spawn([next]() -> task<> {
            for (;;) {
                var<std::int64_t> left;
                co_await receive(pat::tuple(pat::_, left));
                send(next, tuple(next, *left));
            }
        });
    me.send(next, tuple(next, hops));
    EXPECT_EQ(expect_msg(me, 30s), term("done"_a));
}

TEST(runtime_threads, timers_fire_in_real_time) {
    runtime rt(runtime_options{.threads = 2});
    scoped_process me(rt);
    pid self_pid = me.self();
    rt.spawn([self_pid]() -> task<> {
        auto r = co_await receive().after(30ms);
        send(self_pid, bool(r));
    });
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(expect_msg(me, 5s), term(false));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
}

TEST(runtime_threads, shutdown_kills_everything) {
    auto rt = std::make_unique<runtime>(runtime_options{.threads = 2});
    for (int i = 0; i < 1000; ++i) rt->spawn(wait_forever);
    EXPECT_EQ(rt->process_count(), 1000u);
    rt.reset();  // must not hang
}

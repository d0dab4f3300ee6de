// Distribution against real OTP 25 nodes, both directions: ping, nodes(), messages to pids and
// names, links and monitors (and noconnection when the other OS process dies), ticks, large
// binaries, hidden nodes, port ranges, and a cluster of nodus nodes. Each test starts its own
// epmd and erl nodes and stops them by PID.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "cluster.hpp"
#include "nodus/node/net.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

class dist_interop : public ::testing::Test {
protected:
    void SetUp() override {
        NODUS_REQUIRE_ERL(erl);
        erl_ = erl;
        epmd_ = std::make_unique<epmd_daemon>();
    }

    std::unique_ptr<erl_node> start_erl(const std::string& prefix, const std::string& cookie = "cookie",
                                        std::vector<std::string> args = {}, bool hidden = false) {
        erl_node_options o;
        o.sname = unique_name(prefix);
        o.cookie = cookie;
        o.epmd_port = epmd_->port();
        o.args = std::move(args);
        o.hidden = hidden;
        return std::make_unique<erl_node>(erl_, o);
    }
    std::unique_ptr<node> start_nodus(const std::string& prefix, const std::string& cookie = "cookie",
                                      const std::function<void(node_config&)>& tweak = {}) {
        return nodus::test::start_nodus(unique_name(prefix), cookie, epmd_->port(), tweak);
    }
    // What the erl node's collector (`inbox`) got, once it got something (empty after the wait).
    static std::vector<term> await_inbox(erl_node& e, node& via) {
        std::vector<term> got;
        eventually([&] {
            auto more = e.inbox(via);
            got.insert(got.end(), more.begin(), more.end());
            return !got.empty();
        });
        return got;
    }
    std::string erl_;
    std::unique_ptr<epmd_daemon> epmd_;
};

task<term> ping_task(atom peer) {
    co_return term(co_await net_adm::ping(peer));
}

}  // namespace

TEST_F(dist_interop, ping_both_ways_and_nodes_on_both_sides) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    atom peer = e->name();
    EXPECT_EQ(in_process(*n, [peer] { return ping_task(peer); }), term("pong"_a));
    EXPECT_EQ(n->nodes(), std::vector<atom>{e->name()});
    EXPECT_EQ(e->eval(*n, "nodes()."), list({term(n->name())}));
    // And from erl to a fresh nodus node.
    auto n2 = start_nodus("nodus");
    EXPECT_EQ(e->eval(*n, "net_adm:ping(" + quoted(n2->name()) + ")."), term("pong"_a));
    EXPECT_TRUE(eventually([&] { return n2->nodes().size() == 1; }));
    EXPECT_EQ(n2->nodes(), std::vector<atom>{e->name()});
}

TEST_F(dist_interop, wrong_cookie_gives_pang_and_a_logged_reason) {
    auto e = start_erl("erl", "right");
    std::vector<std::string> logs;
    std::mutex m;
    auto n = start_nodus("nodus", "wrong", [&](node_config& c) {
        c.log = [&](std::string_view l) {
            std::lock_guard g(m);
            logs.emplace_back(l);
        };
    });
    atom peer = e->name();
    EXPECT_EQ(in_process(*n, [peer] { return ping_task(peer); }), term("pang"_a));
    EXPECT_TRUE(n->nodes().empty());
    std::lock_guard g(m);
    bool said = false;
    for (auto& l : logs)
        said = said || l.find("cookie") != std::string::npos;
    EXPECT_TRUE(said) << "no log line about the cookie";
    // erl pinging us with the wrong cookie: pang, and we log the refused challenge.
    auto n_ok = start_nodus("nodus2", "right");
    EXPECT_EQ(e->eval(*n_ok, "net_adm:ping(" + quoted(n->name()) + ")."), term("pang"_a));
}

TEST_F(dist_interop, messages_to_pids_and_registered_names_both_ways) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    // A registered echo process on nodus (seed 002's echo server, in C++).
    n->rt().spawn([]() -> task<> {
        register_name("echo"_a, self());
        for (;;) {
            var<pid> from;
            var<term> msg;
            co_await receive(pat::tuple(from, msg));
            send(*from, tuple("echo"_a, *msg));
        }
    });
    std::string me = quoted(n->name());
    // erl -> {echo, nodus}: the reply comes back to erl's process.
    term r = e->eval(
        *n, "{echo, " + me +
                "} ! {self(), \"hello from erl\"}, receive {echo, M} -> M after 5000 -> timeout end.");
    EXPECT_EQ(r, string("hello from erl"));
    // nodus -> {inbox, erl} by name, and to erl's pid.
    scoped_process p(n->rt());
    p.send(tuple("inbox"_a, e->name()), tuple("by_name"_a, 1, binary("x")));
    term erl_pid = e->eval(*n, "whereis(inbox).");
    ASSERT_TRUE(erl_pid.is_pid());
    EXPECT_EQ(erl_pid.as_pid().node(), e->name());
    p.send(erl_pid, tuple("by_pid"_a, 2.5, p.self()));
    EXPECT_TRUE(eventually([&] {
        static std::vector<term> got;
        auto more = e->inbox(*n);
        got.insert(got.end(), more.begin(), more.end());
        return got.size() >= 2;
    }));
}

// A process's messages arrive in order and before its exit signal, with a big message (which
// takes another path through the send queue) among them: nodus keeps a process's small
// messages per worker until its time slice ends, and whatever else it sends must not overtake
// them.
TEST_F(dist_interop, a_process_s_messages_arrive_in_order_and_before_its_exit_signal) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term collector = e->eval(*n,
                             "spawn(fun() -> process_flag(trap_exit, true), "
                             "Loop = fun L(Acc) -> receive {'EXIT', _, Why} -> "
                             "  Rev = lists:reverse(Acc), "
                             "  Ns = [I || {n, I} <- Rev], "
                             "  Pos = length(lists:takewhile(fun(M) -> element(1, M) =/= big end, Rev)) + 1, "
                             "  inbox ! {got, length(Rev), Ns =:= lists:seq(1, 3000), Pos, Why}; "
                             "M -> L([M | Acc]) end end, Loop([]) end).");
    ASSERT_TRUE(collector.is_pid());
    pid c = collector.as_pid();
    n->rt().spawn([c]() -> task<> {
        link(c);
        term big = binary(std::string(std::size_t{1} << 20, 'b'));
        for (long long i = 1; i <= 3000; ++i) {
            if (i == 1501) co_await send(c, tuple("big"_a, big));
            co_await send(c, tuple("n"_a, i));
        }
        exit(term("done"_a));
    });
    std::vector<term> got = await_inbox(*e, *n);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0], tuple("got"_a, 3001, true, 1501, "done"_a));
}

// Causal order across processes, as on the BEAM: A sends to a remote process, then spawns B,
// and B sends to the same remote process: A's message arrives first. (A's message may wait in
// its worker's staging until the end of A's slice; a spawn or a local send hands it over.)
TEST_F(dist_interop, a_message_caused_by_an_earlier_remote_send_does_not_overtake_it) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term collector = e->eval(*n,
                             "spawn(fun() -> Loop = fun L(Acc) -> receive stop -> "
                             "  inbox ! {got, lists:reverse(Acc)}; "
                             "M -> L([M | Acc]) end end, Loop([]) end).");
    ASSERT_TRUE(collector.is_pid());
    pid c = collector.as_pid();
    runtime* r = &n->rt();
    n->rt().spawn([c, r]() -> task<> {
        for (long long i = 0; i < 300; ++i) {
            co_await send(c, tuple("first"_a, i));
            // A new process (which an idle worker may run at once) sends the second.
            r->spawn([c, i]() -> task<> { co_await send(c, tuple("second"_a, i)); });
        }
        co_await receive().after(std::chrono::milliseconds(300));
        co_await send(c, "stop"_a);
    });
    std::vector<term> got = await_inbox(*e, *n);
    ASSERT_FALSE(got.empty());
    ASSERT_TRUE(got[0].is_tuple(2));
    auto seen = got[0][1].list_elements().value_or(std::vector<term>());
    ASSERT_EQ(seen.size(), 600u);
    std::vector<bool> first_seen(300, false);
    for (const term& m : seen) {
        auto i = static_cast<std::size_t>(*m[1].to_int64());
        if (m[0] == term("first"_a)) first_seen[i] = true;
        else EXPECT_TRUE(first_seen[i]) << "second " << i << " before first";
    }
}

TEST_F(dist_interop, remote_links_and_monitors_both_ways) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    std::string me = quoted(n->name());
    // nodus monitors an erl process that exits with a reason.
    term victim = e->eval(*n, "spawn(fun() -> receive go -> exit(gone) end end).");
    scoped_process p(n->rt());
    reference ref = p.monitor(victim);
    p.send(victim, "go"_a);
    auto down = p.receive(10s);
    ASSERT_TRUE(down);
    EXPECT_EQ(*down, tuple(atoms::DOWN, ref, atoms::process, victim, "gone"_a));
    // nodus links to an erl process; erl kills it; we trap the exit.
    p.trap_exit(true);
    term linked = e->eval(*n, "spawn(fun() -> receive go -> exit(linked_exit) end end).");
    p.link(linked.as_pid());
    std::this_thread::sleep_for(200ms);  // the link signal is on its way before the exit
    p.send(linked, "go"_a);
    auto ex = p.receive(10s);
    ASSERT_TRUE(ex);
    EXPECT_EQ(*ex, tuple(atoms::EXIT, linked, "linked_exit"_a));
    // erl monitors a nodus process by name and by pid, and sees it die.
    pid target = n->rt().spawn([]() -> task<> {
        register_name("target"_a, self());
        co_await receive("die"_a);
        exit(term("nodus_reason"_a));
    });
    std::this_thread::sleep_for(100ms);
    term seen =
        e->eval(*n,
                "R1 = monitor(process, {target, " + me +
                    "}), "
                    "R2 = monitor(process, Target), "
                    "{target, " +
                    me +
                    "} ! die, "
                    "A = receive {'DOWN', R1, process, O1, X1} -> {O1, X1} after 5000 -> t1 end, "
                    "B = receive {'DOWN', R2, process, O2, X2} -> {O2, X2} after 5000 -> t2 end, {A, B}.",
                {{"Target", target}});
    EXPECT_EQ(seen,
              tuple(tuple(tuple("target"_a, n->name()), "nodus_reason"_a), tuple(target, "nodus_reason"_a)));
    // Monitoring a name that does not exist on nodus: noproc at once (gen_server:call relies on it).
    EXPECT_EQ(e->eval(*n, "R = monitor(process, {no_such_name, " + me +
                              "}), receive {'DOWN', R, process, _, W} -> W after 5000 -> timeout end."),
              term(atoms::noproc));
    // erl links to a nodus process that exits abnormally.
    pid lt = n->rt().spawn([]() -> task<> {
        co_await receive("die"_a);
        exit(term("bye"_a));
    });
    term got = e->eval(*n,
                       "process_flag(trap_exit, true), link(L), L ! die, "
                       "receive {'EXIT', P, W} -> {P, W} after 5000 -> timeout end.",
                       {{"L", lt}});
    EXPECT_EQ(got, tuple(lt, "bye"_a));
}

TEST_F(dist_interop, noconnection_when_the_erl_os_process_is_killed) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term remote = e->eval(*n, "spawn(fun() -> receive after infinity -> ok end end).");
    scoped_process p(n->rt());
    p.trap_exit(true);
    reference ref = p.monitor(remote);
    p.link(remote.as_pid());
    n->rt().spawn([]() -> task<> { co_return; });
    scoped_process watcher(n->rt());
    pid wpid = watcher.self();
    n->rt().spawn([wpid]() -> task<> {
        net_kernel::monitor_nodes(true);
        auto m = co_await receive();
        send(wpid, *m);
        co_await receive("never"_a);
    });
    std::this_thread::sleep_for(300ms);
    e->process().signal(SIGKILL);
    std::vector<term> got;
    for (int i = 0; i < 2; ++i) {
        auto m = p.receive(10s);
        ASSERT_TRUE(m) << "got only " << got.size();
        got.push_back(*m);
    }
    bool down = false, exit_seen = false;
    for (auto& m : got) {
        down = down || m == tuple(atoms::DOWN, ref, atoms::process, remote, atoms::noconnection);
        exit_seen = exit_seen || m == tuple(atoms::EXIT, remote, atoms::noconnection);
    }
    EXPECT_TRUE(down);
    EXPECT_TRUE(exit_seen);
    auto nd = watcher.receive(10s);
    ASSERT_TRUE(nd);
    EXPECT_EQ(*nd, tuple(atoms::nodedown, e->name()));
    EXPECT_TRUE(n->nodes().empty());

    // Restarted under the same name, the peer is reachable again (a new incarnation, a new
    // connection), and monitors on its processes work.
    std::string full(e->name().name());
    erl_node_options o;
    o.sname = full.substr(0, full.find('@'));
    o.cookie = "cookie";
    o.epmd_port = epmd_->port();
    e.reset();
    auto again = std::make_unique<erl_node>(erl_, o);
    atom peer = again->name();
    EXPECT_TRUE(eventually([&] { return in_process(*n, [peer] { return ping_task(peer); }) == term("pong"_a); }));
    term fresh = again->eval(*n, "spawn(fun() -> receive stop -> exit(done) end end).");
    reference ref2 = p.monitor(fresh);
    p.send(fresh, "stop"_a);
    auto down2 = p.receive_if([&](const term& m) { return m.is_tuple(5) && m[1] == term(ref2); }, 10s);
    ASSERT_TRUE(down2);
    EXPECT_EQ((*down2)[4], term("done"_a));
}

TEST_F(dist_interop, a_silent_peer_is_declared_down_within_the_tick_time) {
    auto e = start_erl("erl", "cookie", {"-kernel", "net_ticktime", "4"});
    auto n = start_nodus("nodus", "cookie", [](node_config& c) { c.net_ticktime = 4s; });
    ASSERT_TRUE(n->connect(e->name()));
    // A live peer is never declared down: wait longer than the tick time.
    std::this_thread::sleep_for(6s);
    EXPECT_EQ(n->nodes(), std::vector<atom>{e->name()});
    EXPECT_EQ(e->eval(*n, "nodes()."), list({term(n->name())}));
    // Freeze the erl OS process: the TCP connection stays open but nothing arrives.
    auto t0 = std::chrono::steady_clock::now();
    e->process().signal(SIGSTOP);
    EXPECT_TRUE(eventually([&] { return n->nodes().empty(); }, 15s));
    auto took = std::chrono::steady_clock::now() - t0;
    e->process().signal(SIGCONT);
    EXPECT_LT(took, 8s);  // at most (intensity+1)/intensity of the tick time, plus slack
}

TEST_F(dist_interop, a_64_mib_binary_both_ways_intact) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    // 64 MiB: the bytes 0..255 repeated (erl builds it with binary:copy/2).
    std::string big(64 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i & 255);
    n->rt().spawn([]() -> task<> {
        register_name("sink"_a, self());
        for (;;) {
            var<pid> from;
            var<term> b;
            co_await receive(pat::tuple(from, b));
            bool pattern_ok = b->is_binary();
            auto bytes = b->bytes();
            for (std::size_t i = 0; pattern_ok && i < bytes.size(); ++i)
                pattern_ok = bytes[i] == (i & 255);
            send(*from, tuple(static_cast<long long>(bytes.size()), pattern_ok));
            send(*from, *b);  // and back
        }
    });
    std::string me = quoted(n->name());
    const std::string make = "binary:copy(list_to_binary(lists:seq(0, 255)), 262144)";
    // erl -> nodus (checked by nodus) -> erl (checked by erl).
    term r =
        e->eval(*n,
                "B = " + make + ", {sink, " + me +
                    "} ! {self(), B}, "
                    "Info = receive {S, C} -> {S, C} after 60000 -> timeout end, "
                    "Back = receive X when is_binary(X) -> X after 60000 -> timeout end, {Info, Back =:= B}.",
                120s);
    EXPECT_EQ(r, tuple(tuple(64LL << 20, true), true)) << format_p(r);
    // nodus -> erl: nodus's own binary, checked on the erl side.
    scoped_process p(n->rt());
    p.send(tuple("inbox"_a, e->name()), binary(big));
    term check =
        e->eval(*n,
                "F = fun Loop(N) -> Ref = make_ref(), inbox ! {take, self(), Ref}, "
                "receive {Ref, [M]} -> M; {Ref, []} when N > 0 -> timer:sleep(100), Loop(N-1) end end, "
                "M = F(600), {byte_size(M), M =:= " +
                    make + "}.",
                120s);
    EXPECT_EQ(check, tuple(64LL << 20, true));
}

TEST_F(dist_interop, hidden_nodes_are_in_nodes_hidden_not_nodes) {
    auto e = start_erl("erl");
    auto hidden = start_nodus("hidden", "cookie", [](node_config& c) { c.hidden = true; });
    ASSERT_TRUE(hidden->connect(e->name()));
    EXPECT_TRUE(hidden->nodes(node_kind::visible).empty());
    EXPECT_EQ(hidden->nodes(node_kind::hidden), std::vector<atom>{e->name()});
    EXPECT_EQ(e->eval(*hidden, "nodes()."), term());
    EXPECT_EQ(e->eval(*hidden, "nodes(hidden)."), list({term(hidden->name())}));
    // A hidden erl node connecting to a visible nodus node: hidden on both sides.
    auto eh = start_erl("erlh", "cookie", {}, true);
    auto n = start_nodus("nodus");
    EXPECT_EQ(eh->eval(*n, "net_adm:ping(" + quoted(n->name()) + ")."), term("pong"_a));
    EXPECT_TRUE(eventually([&] { return n->nodes(node_kind::hidden).size() == 1; }));
    EXPECT_TRUE(n->nodes(node_kind::visible).empty());
}

TEST_F(dist_interop, the_listen_port_range_is_honoured) {
    std::uint16_t p = free_port();
    auto n = start_nodus("nodus", "cookie", [p](node_config& c) {
        c.listen_port_min = p;
        c.listen_port_max = p;
    });
    EXPECT_EQ(n->listen_port(), p);
    auto e = start_erl("erl");
    EXPECT_EQ(e->eval(*n, "net_adm:ping(" + quoted(n->name()) + ")."), term("pong"_a));
    // The port mapper lists us on that port.
    term names = e->eval(*n, "{ok, L} = net_adm:names(), L.");
    ASSERT_TRUE(names.is_list()) << format_p(names);
    bool listed = false;
    std::string alive(n->name().name().substr(0, n->name().name().find('@')));
    auto entries = names.list_elements().value_or(std::vector<term>{});
    for (const term& t : entries)
        listed = listed || (t.is_tuple(2) && t[1] == term(static_cast<int>(p)) && t[0] == string(alive));
    EXPECT_TRUE(listed) << format_p(names);
}

TEST_F(dist_interop, a_cluster_of_three_nodus_nodes) {
    auto a = start_nodus("a");
    auto b = start_nodus("b");
    auto c = start_nodus("c");
    ASSERT_TRUE(a->connect(b->name()));
    ASSERT_TRUE(b->connect(c->name()));
    ASSERT_TRUE(c->connect(a->name()));
    // connect() returns when our side is up; the peer's side follows a moment later.
    for (auto* x : {a.get(), b.get(), c.get()})
        EXPECT_TRUE(eventually([x] { return x->nodes().size() == 2u; })) << format_p(make_list([x] {
            std::vector<term> v;
            for (atom n : x->nodes())
                v.push_back(term(n));
            return v;
        }()));
    // Messages, links and monitors across them.
    pid echo = c->rt().spawn([]() -> task<> {
        for (;;) {
            var<pid> from;
            var<term> msg;
            co_await receive(pat::tuple(from, msg));
            send(*from, *msg);
        }
    });
    scoped_process p(a->rt());
    p.send(echo, tuple(p.self(), "hi"_a));
    EXPECT_EQ(p.receive(5s).value_or(term()), term("hi"_a));
    reference r = p.monitor(echo);
    // A round trip after the monitor: signals between two processes stay in order, so the
    // monitor is in place before the exit below (else DOWN noproc, as in Erlang).
    p.send(echo, tuple(p.self(), "sync"_a));
    EXPECT_EQ(p.receive(5s).value_or(term()), term("sync"_a));
    c->rt().exit(echo, term("stop"_a));
    EXPECT_EQ(p.receive(5s).value_or(term()), tuple(atoms::DOWN, r, atoms::process, echo, "stop"_a));
    // Ping through the cluster, and a node going away.
    atom bn = b->name();
    EXPECT_EQ(in_process(*a, [bn] { return ping_task(bn); }), term("pong"_a));
    b.reset();
    EXPECT_TRUE(eventually([&] { return a->nodes().size() == 1 && c->nodes().size() == 1; }));
}

namespace {

// An exported C++ function: math:square/1 (badarg for non-integers), math:boom/0 (error),
// math:quit/1 (exit), math:toss/1 (throw), math:wait/1 (sleeps, for timeouts).
void export_math(node& n) {
    auto& ex = n.rt().exports();
    ex.add("math"_a, "square"_a, 1, [](std::vector<term> a) -> task<term> {
        auto x = a[0].to_int64();
        if (!x) error(term(atoms::badarg));
        co_return term(*x * *x);
    });
    ex.add("math"_a, "boom"_a, 0, [](std::vector<term>) -> task<term> {
        error(term("boom"_a));
        co_return term();
    });
    ex.add("math"_a, "quit"_a, 1, [](std::vector<term> a) -> task<term> {
        exit(a[0]);
        co_return term();
    });
    ex.add("math"_a, "toss"_a, 1, [](std::vector<term> a) -> task<term> {
        throw_term(a[0]);
        co_return term();
    });
    ex.add("math"_a, "wait"_a, 1, [](std::vector<term> a) -> task<term> {
        co_await receive(pat::tuple("never"_a)).after(std::chrono::milliseconds(*a[0].to_int64()));
        co_return term(atoms::ok);
    });
}

task<term> rpc_task(atom peer, atom m, atom f, term args) {
    co_return co_await rpc::call(peer, m, f, std::move(args));
}

}  // namespace

TEST_F(dist_interop, rpc_from_erl_reaches_exported_cpp_functions_with_erlangs_shapes) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    export_math(*n);
    std::string me = quoted(n->name());
    EXPECT_EQ(e->eval(*n, "rpc:call(" + me + ", math, square, [12])."), term(144));
    EXPECT_EQ(e->eval(*n, "erpc:call(" + me + ", math, square, [3])."), term(9));
    // error -> {badrpc, {'EXIT', {Reason, Stack}}}
    EXPECT_EQ(e->eval(*n, "rpc:call(" + me + ", math, boom, [])."),
              tuple(atoms::badrpc, tuple(atoms::EXIT, tuple("boom"_a, term()))));
    // exit -> {badrpc, {'EXIT', R}}; throw -> the value
    EXPECT_EQ(e->eval(*n, "rpc:call(" + me + ", math, quit, [bye])."),
              tuple(atoms::badrpc, tuple(atoms::EXIT, "bye"_a)));
    EXPECT_EQ(e->eval(*n, "rpc:call(" + me + ", math, toss, [ball])."), term("ball"_a));
    // A function that is not exported: undef, exactly as from an Erlang node.
    term r = e->eval(*n, "rpc:call(" + me + ", nomod, nofun, [1]).");
    EXPECT_EQ(r, tuple(atoms::badrpc,
                       tuple(atoms::EXIT,
                             tuple(atoms::undef, list({tuple("nomod"_a, "nofun"_a, list({1}), term())})))));
    // erpc timeouts
    EXPECT_EQ(
        e->eval(*n, "try erpc:call(" + me + ", math, wait, [2000], 100) catch error:{erpc, T} -> T end."),
        term(atoms::timeout));
    // spawn(Node, M, F, A) from erl runs the exported function on nodus.
    EXPECT_EQ(
        e->eval(*n, "P = spawn(" + me + ", math, wait, [50]), is_pid(P) andalso node(P) =:= " + me + "."),
        term(true));
    // spawn_monitor: DOWN with the process's exit reason
    EXPECT_EQ(e->eval(*n, "{P, R} = spawn_monitor(" + me +
                              ", math, quit, [bye]), "
                              "receive {'DOWN', R, process, P, W} -> W after 5000 -> timeout end."),
              term("bye"_a));
}

TEST_F(dist_interop, rpc_and_spawn_from_nodus_to_erl) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    atom peer = e->name();
    EXPECT_EQ(in_process(*n,
                         [peer] {
                             return rpc_task(peer, "lists"_a, "reverse"_a, list({list({1, 2, 3})}));
                         }),
              list({3, 2, 1}));
    EXPECT_EQ(in_process(*n, [peer] { return rpc_task(peer, "erlang"_a, "node"_a, term()); }), term(peer));
    EXPECT_EQ(
        in_process(*n, [peer] { return rpc_task(peer, "erlang"_a, "error"_a, list({term("oops"_a)})); })[0],
        term(atoms::badrpc));
    // Remote spawn with a monitor of an Erlang function.
    term got = in_process(*n, [peer]() -> task<term> {
        term args = list({term("from_erl"_a)});  // no braced list inside co_await (g++ 12, ADR 0002)
        std::pair<pid, reference> pr = co_await erlang::spawn_monitor(peer, "erlang"_a, "exit"_a, args);
        auto d = co_await receive(pat::tuple(atoms::DOWN, pr.second, pat::_, pat::_, pat::_));
        co_return tuple(pr.first.node(), (*d)[4]);
    });
    EXPECT_EQ(got, tuple(peer, "from_erl"_a));
}

TEST_F(dist_interop, rpc_between_nodus_nodes) {
    auto a = start_nodus("a");
    auto b = start_nodus("b");
    export_math(*b);
    atom bn = b->name();
    EXPECT_EQ(in_process(*a, [bn] { return rpc_task(bn, "math"_a, "square"_a, list({7})); }), term(49));
    EXPECT_EQ(in_process(*a, [bn] { return rpc_task(bn, "math"_a, "nope"_a, term()); })[0],
              term(atoms::badrpc));
    // To a node that does not exist: {badrpc, nodedown}
    atom ghost("ghost_node_xyz@" + short_host());
    EXPECT_EQ(in_process(*a, [ghost] { return rpc_task(ghost, "math"_a, "square"_a, list({1})); }),
              tuple(atoms::badrpc, "nodedown"_a));
}

// handshake.md §5: two nodes dialling each other at the same moment end up with exactly one
// connection, and both dials report success.
TEST_F(dist_interop, simultaneous_connects_between_nodus_nodes_leave_one_connection) {
    for (int round = 0; round < 10; ++round) {
        auto a = start_nodus("sa");
        auto b = start_nodus("sb");
        bool ab = false, ba = false;
        std::thread t1([&] { ab = a->connect(b->name(), 10s); });
        std::thread t2([&] { ba = b->connect(a->name(), 10s); });
        t1.join();
        t2.join();
        EXPECT_TRUE(ab) << "round " << round;
        EXPECT_TRUE(ba) << "round " << round;
        EXPECT_EQ(a->nodes(), std::vector<atom>{b->name()});
        EXPECT_EQ(b->nodes(), std::vector<atom>{a->name()});
        // The surviving connection carries traffic.
        atom bn = b->name();
        EXPECT_EQ(in_process(*a, [bn] { return ping_task(bn); }), term("pong"_a));
        // Both still accept connections: the race's loser once left the cap on pending
        // handshakes spent (counted down twice), and every later connection was refused.
        auto c = start_nodus("sc");
        EXPECT_TRUE(c->connect(a->name(), 10s)) << "round " << round;
        EXPECT_TRUE(c->connect(b->name(), 10s)) << "round " << round;
    }
}

// net_kernel:allow/1: a node outside the allow list is refused with not_allowed (erl: pang),
// one inside it connects.
TEST_F(dist_interop, allow_list_refuses_other_nodes_and_admits_listed_ones) {
    auto e = start_erl("erl");
    auto helper = start_nodus("helper");  // the test talks to erl through this one
    std::string erl_name(e->name().name());
    auto closed = start_nodus("closed", "cookie", [](node_config& c) { c.allow = {"nobody@nowhere"}; });
    auto open = start_nodus("open", "cookie", [erl_name](node_config& c) { c.allow = {erl_name}; });
    EXPECT_EQ(e->eval(*helper, "net_adm:ping(" + quoted(closed->name()) + ")."), term("pang"_a));
    EXPECT_TRUE(closed->nodes().empty());
    EXPECT_EQ(e->eval(*helper, "net_adm:ping(" + quoted(open->name()) + ")."), term("pong"_a));
    EXPECT_TRUE(eventually([&] { return open->nodes() == std::vector<atom>{e->name()}; }));
}

// Atoms longer than 255 bytes of UTF-8 make both sides' atom cache headers use the LongAtoms
// form (2-byte lengths): erl must read ours and we must read erl's.
TEST_F(dist_interop, long_atoms_cross_the_atom_cache_both_ways) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";  // é: 200 characters, 400 bytes
    term t = tuple(atom(long_text), "short"_a, list({term(atom(long_text + "z")), term(atom(long_text))}));
    term r = e->eval(*n, "{T, length(atom_to_list(element(1, T))), byte_size(atom_to_binary(element(1, T)))}.", {{"T", t}});
    EXPECT_EQ(r, tuple(t, term(200), term(400)));
    // And an atom erl makes itself, sent back through erl's cache.
    term made = e->eval(*n, "list_to_atom(lists:duplicate(255, 16#1F600)).");
    ASSERT_TRUE(made.is_atom());
    EXPECT_EQ(made.as_atom().name().size(), 255u * 4);
}

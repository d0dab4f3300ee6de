// Cluster services against real OTP 25 nodes: pg process groups, global, group leaders and the
// I/O protocol both ways, the default exports and rpc/erpc multicalls over mixed node lists.
// Each test starts its own epmd and erl nodes and stops them by PID.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "captured_output.hpp"
#include "cluster.hpp"
#include "nodus/node/net.hpp"
#include "nodus/services/global.hpp"
#include "nodus/services/io.hpp"
#include "nodus/services/pg.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

class services_interop : public ::testing::Test {
protected:
    void SetUp() override {
        NODUS_REQUIRE_ERL(erl);
        erl_ = erl;
        epmd_ = std::make_unique<epmd_daemon>();
    }
    std::unique_ptr<erl_node> start_erl(const std::string& prefix) {
        erl_node_options o;
        o.sname = unique_name(prefix);
        o.cookie = "cookie";
        o.epmd_port = epmd_->port();
        return std::make_unique<erl_node>(erl_, o);
    }
    std::unique_ptr<node> start_nodus(const std::string& prefix) {
        auto n = nodus::test::start_nodus(unique_name(prefix), "cookie", epmd_->port());
        services::start_defaults(*n);
        return n;
    }
    std::string erl_;
    std::unique_ptr<epmd_daemon> epmd_;
};

task<term> join_task(term group, pid member) {
    co_await pg::join(pg::default_scope(), std::move(group), member);
    co_return term(atoms::ok);
}

task<> sleeper() {
    co_await receive(pat::tuple("never"_a));
}

// Forwards every message to `to`.
task<> forwarder(pid to) {
    for (;;) {
        auto m = co_await receive();
        send(to, m.message);
    }
}

using captured = captured_output;

// Whether the erl node writes a line equal to `line` on its standard output within timeout.
bool erl_prints(erl_node& e, const std::string& line, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        auto got = e.process().read_line(left);
        if (!got) return false;
        if (*got == line) return true;
    }
}

// An Erlang I/O server on the erl node that keeps what it is asked to write (put_chars in
// both forms), bound to the variable Cap; erl_captured_text is an expression for what it got.
const char* const erl_capture_server =
    "Cap = spawn(fun() -> (fun L(Acc) -> receive "
    "  {io_request, From, RA, {put_chars, unicode, Chars}} -> From ! {io_reply, RA, ok}, L([Acc, Chars]); "
    "  {io_request, From, RA, {put_chars, unicode, M, F, A}} -> "
    "      From ! {io_reply, RA, ok}, L([Acc, apply(M, F, A)]); "
    "  {io_request, From, RA, _} -> From ! {io_reply, RA, {error, enotsup}}, L(Acc); "
    "  {get, P} -> P ! {text, unicode:characters_to_binary(Acc)}, L(Acc) "
    "end end)([]) end), ";
const char* const erl_captured_text =
    "begin Cap ! {get, self()}, receive {text, Text} -> Text after 5000 -> timeout end end";

bool lists_all(const term& nodes, std::initializer_list<atom> expected) {
    auto v = nodes.list_elements();
    if (!v) return false;
    for (atom a : expected)
        if (std::find(v->begin(), v->end(), term(a)) == v->end()) return false;
    return true;
}

}  // namespace

TEST_F(services_interop, pg_members_joined_on_each_node_are_listed_on_all) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    // Seed 003: pg started on the erl node, a member joins on each side.
    EXPECT_TRUE(e->eval(*n, "{ok, P} = pg:start(pg), is_pid(P).") == term(true));
    ASSERT_TRUE(n->connect(e->name()));
    term group = tuple("todo_list"_a, string("bob"));
    term erl_member =
        e->eval(*n, "P = spawn(fun() -> receive stop -> ok end end), ok = pg:join(G, P), P.", {{"G", group}});
    pid local = n->rt().spawn(sleeper);
    EXPECT_EQ(in_process(*n, [group, local] { return join_task(group, local); }), term(atoms::ok));
    // Both nodes list both members.
    EXPECT_TRUE(eventually([&] {
        term members = e->eval(*n, "lists:sort(pg:get_members(G)).", {{"G", group}});
        return members.list_length() == 2u;
    }));
    scoped_process me(n->rt());
    EXPECT_TRUE(eventually([&] {
        term got = in_process(*n, [group]() -> task<term> {
            co_return make_list(pg::get_members(pg::default_scope(), group));
        });
        return got.list_length() == 2u;
    }));
    term both = in_process(
        *n, [group]() -> task<term> { co_return make_list(pg::get_members(pg::default_scope(), group)); });
    auto v = *both.list_elements();
    EXPECT_TRUE(std::find(v.begin(), v.end(), erl_member) != v.end());
    EXPECT_TRUE(std::find(v.begin(), v.end(), term(local)) != v.end());
    // A member that exits leaves the group on the other node too.
    n->rt().exit(local, term(atoms::kill));
    EXPECT_TRUE(eventually([&] {
        return e->eval(*n, "pg:get_members(G).", {{"G", group}}) == list({erl_member});
    }));
    // And the erl member's exit is seen by nodus.
    e->eval(*n, "P ! stop, ok.", {{"P", erl_member}});
    EXPECT_TRUE(eventually([&] {
        return in_process(*n,
                          [group]() -> task<term> {
                              co_return make_list(pg::get_members(pg::default_scope(), group));
                          })
            .is_nil();
    }));
}

TEST_F(services_interop, pg_membership_goes_with_a_lost_node) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    e->eval(*n, "{ok, _} = pg:start(pg), ok.");
    ASSERT_TRUE(n->connect(e->name()));
    e->eval(*n, "P = spawn(fun() -> receive stop -> ok end end), pg:join(g1, P).");
    EXPECT_TRUE(eventually([&] {
        return in_process(*n, [] {
                   return []() -> task<term> {
                       co_return make_list(pg::get_members(pg::default_scope(), "g1"_a));
                   }();
               }).list_length() == 1u;
    }));
    e->process().signal(SIGKILL);
    EXPECT_TRUE(eventually([&] {
        return in_process(*n,
                          [] {
                              return []() -> task<term> {
                                  co_return make_list(pg::get_members(pg::default_scope(), "g1"_a));
                              }();
                          })
            .is_nil();
    }));
}

// The cluster of the issue: erl A — nodus B — erl C, connected only A–B and B–C.
TEST_F(services_interop, global_meshes_syncs_and_resolves_names_across_a_mixed_cluster) {
    auto a = start_erl("a");
    auto c = start_erl("c");
    auto b = start_nodus("b");
    ASSERT_TRUE(b->connect(a->name()));
    ASSERT_TRUE(b->connect(c->name()));
    // The transitive mesh: A and C find each other through B's global.
    EXPECT_TRUE(eventually([&] { return lists_all(a->eval(*b, "nodes()."), {b->name(), c->name()}); }, 20s));
    EXPECT_TRUE(eventually([&] { return lists_all(c->eval(*b, "nodes()."), {a->name(), b->name()}); }, 20s));
    EXPECT_TRUE(eventually([&] {
        auto ns = b->nodes();
        return std::find(ns.begin(), ns.end(), a->name()) != ns.end() &&
               std::find(ns.begin(), ns.end(), c->name()) != ns.end();
    }));
    // global:sync() returns ok on the Erlang nodes with a nodus node in the cluster.
    EXPECT_EQ(a->eval(*b, "global:sync()."), term(atoms::ok));
    EXPECT_EQ(c->eval(*b, "global:sync()."), term(atoms::ok));
    EXPECT_EQ(in_process(*b,
                         []() -> task<term> {
                             co_await global::sync();
                             co_return term(atoms::ok);
                         }),
              term(atoms::ok));

    // A name registered on each node resolves on all three.
    term pa = a->eval(*b,
                      "P = spawn(fun L() -> receive {From, M} -> From ! {a_got, M}, L() end end), "
                      "yes = global:register_name(name_a, P), P.");
    term pc = c->eval(*b,
                      "P = spawn(fun L() -> receive {From, M} -> From ! {c_got, M}, L() end end), "
                      "yes = global:register_name(name_c, P), P.");
    scoped_process me(b->rt());
    pid fwd = b->rt().spawn(forwarder, me.self());
    term reg = in_process(
        *b, [fwd]() -> task<term> { co_return term(co_await global::register_name("name_b"_a, fwd)); });
    EXPECT_EQ(reg, term(atoms::yes));
    for (auto* e : {a.get(), c.get()}) {
        EXPECT_TRUE(eventually([&] { return e->eval(*b, "global:whereis_name(name_b).") == term(fwd); }));
        EXPECT_TRUE(eventually([&] { return e->eval(*b, "global:whereis_name(name_a).") == pa; }));
        EXPECT_TRUE(eventually([&] { return e->eval(*b, "global:whereis_name(name_c).") == pc; }));
    }
    EXPECT_TRUE(eventually([&] {
        return in_process(*b, []() -> task<term> {
                   auto x = global::whereis_name("name_a"_a);
                   auto y = global::whereis_name("name_c"_a);
                   co_return tuple(x ? x->as_term() : term(atoms::undefined),
                                   y ? y->as_term() : term(atoms::undefined));
               }) == tuple(pa, pc);
    }));
    // A second registration of a taken name is refused, from either side.
    EXPECT_EQ(
        in_process(
            *b, [fwd]() -> task<term> { co_return term(co_await global::register_name("name_a"_a, fwd)); }),
        term(atoms::no));
    EXPECT_EQ(a->eval(*b, "global:register_name(name_b, self())."), term(atoms::no));

    // Messages sent to the names arrive.
    a->eval(*b, "global:send(name_b, from_a).");
    auto got = me.receive(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, term("from_a"_a));
    in_process(*b, []() -> task<term> {
        global::send("name_c"_a, tuple(self_term(), "hello"_a));
        co_return term(atoms::ok);
    });
    // The reply went to that short-lived process; ask C's process through A instead.
    a->eval(*b, "global:send(name_a, {whereis(inbox), hi}), ok.");
    EXPECT_TRUE(eventually([&] {
        auto in = a->inbox(*b);
        return std::find(in.begin(), in.end(), tuple("a_got"_a, "hi"_a)) != in.end();
    }));
    // A name goes when its process does, on every node.
    b->rt().exit(fwd, term(atoms::kill));
    for (auto* e : {a.get(), c.get()})
        EXPECT_TRUE(eventually(
            [&] { return e->eval(*b, "global:whereis_name(name_b).") == term(atoms::undefined); }));
    // And global's registration functions are callable on B from erl (rpc of the exports).
    EXPECT_EQ(a->eval(*b, "lists:sort(rpc:call(N, global, registered_names, [])).", {{"N", term(b->name())}}),
              list({"name_a"_a, "name_c"_a}));
}

// A partition that heals with one global name taken on both sides: erl and nodus register `dup`
// while apart, then connect. global resolves it as OTP does (random_exit_name: the pid on the node
// that sorts first keeps the name, the other is killed), and both sides agree afterwards.
TEST_F(services_interop, a_name_registered_on_both_sides_of_a_partition_is_resolved_when_it_heals) {
    auto e = start_erl("erl");
    // The test reaches erl through a hidden node, which global leaves out: erl and b stay apart.
    auto via = nodus::test::start_nodus(unique_name("via"), "cookie", epmd_->port(), [](node_config& c) {
        c.hidden = true;
        c.connect_all = false;
    });
    auto b = start_nodus("b");
    term pe = e->eval(*via,
                      "P = spawn(fun() -> receive stop -> ok end end), yes = global:register_name(dup, P), P.");
    ASSERT_TRUE(pe.is_pid());
    pid pb = b->rt().spawn(sleeper);
    EXPECT_EQ(in_process(*b, [pb]() -> task<term> { co_return term(co_await global::register_name("dup"_a, pb)); }),
              term(atoms::yes));
    EXPECT_TRUE(e->eval(*via, "nodes().") == term());  // apart

    ASSERT_TRUE(b->connect(e->name()));  // the partition heals
    const bool erl_first = compare(term(e->name()), term(b->name())) < 0;
    const term winner = erl_first ? pe : term(pb);
    auto erl_sees = [&] { return e->eval(*via, "global:sync(), global:whereis_name(dup)."); };
    auto nodus_sees = [&] {
        return in_process(*b, []() -> task<term> {
            auto p = global::whereis_name("dup"_a);
            co_return p ? p->as_term() : term(atoms::undefined);
        });
    };
    EXPECT_TRUE(eventually([&] { return erl_sees() == winner && nodus_sees() == winner; }, 20s))
        << "erl: " << to_text(erl_sees()) << ", nodus: " << to_text(nodus_sees()) << ", winner "
        << to_text(winner);
    // The loser was killed.
    std::vector<std::pair<std::string, term>> bind{{"P", pe}};
    EXPECT_TRUE(eventually([&] {
        bool erl_alive = e->eval(*via, "is_process_alive(P).", bind) == term(atoms::true_);
        bool nodus_alive = b->rt().is_process_alive(pb);
        return erl_alive == erl_first && nodus_alive == !erl_first;
    }));
}

TEST_F(services_interop, global_meshes_a_nodus_only_cluster) {
    auto b1 = start_nodus("b1");
    auto b2 = start_nodus("b2");
    auto b3 = start_nodus("b3");
    ASSERT_TRUE(b1->connect(b2->name()));
    ASSERT_TRUE(b3->connect(b2->name()));
    EXPECT_TRUE(eventually(
        [&] {
            auto ns = b1->nodes();
            return std::find(ns.begin(), ns.end(), b3->name()) != ns.end();
        },
        20s));
    scoped_process me(b3->rt());
    pid fwd = b3->rt().spawn(forwarder, me.self());
    EXPECT_EQ(in_process(*b3,
                         [fwd]() -> task<term> {
                             co_await global::sync();
                             co_return term(co_await global::register_name("svc"_a, fwd));
                         }),
              term(atoms::yes));
    EXPECT_TRUE(eventually([&] {
        return in_process(*b1, []() -> task<term> {
                   co_return term(global::send("svc"_a, "via_global"_a) ? atoms::true_ : atoms::false_);
               }) == term(atoms::true_);
    }));
    auto got = me.receive(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, term("via_global"_a));
}

// disconnect_node from the nodus side stays disconnected (global must not dial the node again).
// Both sides must be done with global's connect-time exchange first: a message of ours still on
// its way (a lock to release, say) gets an answer from erl after the disconnect, and that answer
// dials us again, exactly as it would between two erl nodes. (This test failed now and then
// under load until it synced both sides: erl was the one dialling.)
TEST_F(services_interop, a_disconnected_erl_node_stays_disconnected) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    ASSERT_TRUE(n->connect(e->name()));
    EXPECT_EQ(e->eval(*n, "global:sync()."), term(atoms::ok));
    EXPECT_EQ(in_process(*n, []() -> task<term> {
                  co_await global::sync();
                  co_return term(atoms::ok);
              }),
              term(atoms::ok));
    EXPECT_TRUE(n->disconnect(e->name()));
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(n->nodes().empty()) << "reconnected";
}

// ---- group leaders and I/O ----

// erl spawns io:format on nodus: the text appears on erl, through the group leader that came
// with the SPAWN_REQUEST (erl's `user` here: its standard output).
TEST_F(services_interop, io_format_spawned_from_erl_prints_on_erl) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term node = n->name();
    term p = e->eval(*n, "spawn(N, io, format, [\"hello ~p~n\", [42]]).", {{"N", node}});
    ASSERT_TRUE(p.is_pid());
    EXPECT_EQ(p.node(), n->name());
    EXPECT_TRUE(erl_prints(*e, "hello 42"));
    e->eval(*n, "spawn(N, io, put_chars, [[<<\"put \">>, \"chars\", $\\n]]).", {{"N", node}});
    EXPECT_TRUE(erl_prints(*e, "put chars"));
}

// rpc:call and erpc:call from erl: the caller's group leader gets the text before the result.
TEST_F(services_interop, io_format_called_by_rpc_from_erl_prints_on_the_callers_leader) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term node = n->name();
    std::string src = std::string(erl_capture_server) +
                      "group_leader(Cap, self()), "
                      "R1 = rpc:call(N, io, format, [\"rpc ~p ~s~n\", [42, \"abc\"]]), "
                      "R2 = erpc:call(N, io, put_chars, [<<\"erpc\\n\"/utf8>>]), "
                      "R3 = rpc:call(N, io, format, [\"~ts~n\", [\"λ\"]]), "
                      "R4 = rpc:call(N, io, format, [\"~p\", []]), "
                      "{R1, R2, R3, element(1, R4), " +
                      erl_captured_text + "}.";
    term r = e->eval(*n, src, {{"N", node}});
    ASSERT_TRUE(r.is_tuple(5)) << to_text(r);
    EXPECT_EQ(r[0], term(atoms::ok));
    EXPECT_EQ(r[1], term(atoms::ok));
    EXPECT_EQ(r[2], term(atoms::ok));
    EXPECT_EQ(r[3], term("badrpc"_a));  // a bad format is badarg, as on erl
    EXPECT_EQ(r[4], binary("rpc 42 abc\nerpc\nλ\n"));
    // spawn/4 with the capture server as the group leader
    std::string src2 = std::string(erl_capture_server) +
                       "group_leader(Cap, self()), "
                       "{P, M} = spawn_monitor(N, io, format, [\"spawned ~w~n\", [{a, 1}]]), "
                       "receive {'DOWN', M, process, P, Why} -> Why after 5000 -> timeout end, " +
                       erl_captured_text + ".";
    EXPECT_EQ(e->eval(*n, src2, {{"N", node}}), binary("spawned {a,1}\n"));
}

// An Erlang process whose group leader is on nodus prints through it: serve what OTP's io sends
// ({put_chars, unicode, io_lib, format, [F, A]}, binaries, requests, getopts).
TEST_F(services_interop, erlang_processes_print_through_a_nodus_group_leader) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    ASSERT_TRUE(n->connect(e->name()));
    captured out;
    pid leader = io::start_output_leader(n->rt(), out.sink());
    term r =
        e->eval(*n,
                "group_leader(GL, self()), "
                "ok = io:format(\"erl ~p ~s ~5.2f|~-4w|~n\", [42, \"abc\", 3.14159, x]), "
                "ok = io:put_chars(\"chars\\n\"), "
                "ok = io:fwrite(\"~ts~n\", [\"λ\"]), "
                "ok = io:write({t, 1}), io:nl(), "
                "ok = io:requests([{put_chars, unicode, <<\"r1 \">>}, {put_chars, unicode, \"r2\\n\"}]), "
                "Opts = io:getopts(), "
                "Line = io:get_line(\"prompt> \"), "
                "{Opts, Line}.",
                {{"GL", term(leader)}});
    EXPECT_EQ(r, tuple(list({tuple("binary"_a, false), tuple("encoding"_a, atoms::unicode)}), "eof"_a));
    EXPECT_EQ(out.get(), "erl 42 abc  3.14|x   |\nchars\nλ\n{t,1}\nr1 r2\n");
    n->rt().exit(leader, term(atoms::kill));
}

// nodus spawns on erl: the Erlang process's output comes back to the nodus side, to the group
// leader of the spawning process, or to `user` for a process with none.
TEST_F(services_interop, io_format_spawned_on_erl_from_nodus_prints_on_nodus) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    ASSERT_TRUE(n->connect(e->name()));
    captured out;
    pid leader = io::start_output_leader(n->rt(), out.sink());
    atom erl = e->name();
    term r = in_process(*n, [leader, erl]() -> task<term> {
        group_leader(leader, self());
        term args1 = list({string("spawned on erl ~p~n"), list({term(42)})});
        (void)co_await erlang::spawn(erl, "io"_a, "format"_a, args1);
        term args2 = list({string("rpc on erl ~s~n"), list({string("ok")})});
        term v = co_await rpc::call(erl, "io"_a, "format"_a, args2);
        co_return v;
    });
    EXPECT_EQ(r, term(atoms::ok));
    EXPECT_TRUE(eventually([&] {
        std::string t = out.get();
        return t.find("spawned on erl 42\n") != std::string::npos &&
               t.find("rpc on erl ok\n") != std::string::npos;
    })) << out.get();
    n->rt().exit(leader, term(atoms::kill));

    // A process with no group leader: `user`, which writes to the default output.
    captured def;
    io::set_default_output(def.sink());
    term r2 = in_process(*n, [erl]() -> task<term> {
        term args = list({string("to user ~p~n"), list({term(7)})});
        co_return co_await rpc::call(erl, "io"_a, "format"_a, args);
    });
    EXPECT_EQ(r2, term(atoms::ok));
    EXPECT_TRUE(eventually([&] { return def.get() == "to user 7\n"; })) << def.get();
    io::set_default_output({});
}

// ---- the default exports, and rpc/erpc shapes over mixed node lists ----

TEST_F(services_interop, erl_calls_the_default_exports_by_rpc) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term node = n->name();
    std::vector<std::pair<std::string, term>> b{{"N", node}};
    EXPECT_EQ(e->eval(*n, "rpc:call(N, erlang, node, []).", b), node);
    EXPECT_EQ(e->eval(*n, "rpc:call(N, erlang, nodes, []) =:= [node()].", b), term(true));
    EXPECT_EQ(e->eval(*n, "rpc:call(N, erlang, nodes, [[this, visible]]) =:= [N, node()].", b), term(true));
    EXPECT_EQ(e->eval(*n, "rpc:call(N, erlang, is_alive, []).", b), term(true));
    term regs = e->eval(*n, "lists:sort(rpc:call(N, erlang, registered, [])).", b);
    EXPECT_TRUE(lists_all(
        regs, {atom("user"), atom("rex"), atom("net_kernel"), atom("global_name_server"), atom("pg")}))
        << to_text(regs);
    term user = e->eval(*n, "rpc:call(N, erlang, whereis, [user]).", b);
    ASSERT_TRUE(user.is_pid());
    EXPECT_EQ(user.node(), n->name());
    EXPECT_EQ(n->rt().whereis("user"_a), user.as_pid());
    EXPECT_EQ(e->eval(*n, "rpc:call(N, erlang, whereis, [nobody]).", b), term(atoms::undefined));
    EXPECT_EQ(e->eval(*n, "{badrpc, {'EXIT', {badarg, _}}} = rpc:call(N, erlang, whereis, [1]), ok.", b),
              term(atoms::ok));
    // system_time/0,1 in Erlang's units, close to erl's own clock
    EXPECT_EQ(e->eval(*n,
                      "T = rpc:call(N, erlang, system_time, [second]), "
                      "Ns = rpc:call(N, erlang, system_time, []), "
                      "Ms = rpc:call(N, erlang, system_time, [millisecond]), "
                      "{is_integer(Ns), abs(T - erlang:system_time(second)) =< 2, "
                      " abs(Ms - erlang:system_time(millisecond)) < 2000, "
                      " abs(Ns div 1000000 - erlang:system_time(millisecond)) < 2000}.",
                      b),
              tuple(true, true, true, true));
    EXPECT_EQ(e->eval(*n, "rpc:call(N, timer, sleep, [10]).", b), term(atoms::ok));
    EXPECT_EQ(e->eval(*n, "rpc:call(N, io_lib, format, [\"~p\", [{1, a}]]).", b), string("{1,a}"));
    EXPECT_EQ(e->eval(*n, "is_list(rpc:call(N, os, getpid, [])).", b), term(true));
    // Exported, not imported: erlang:halt/0 is not one of the defaults.
    EXPECT_EQ(
        e->eval(*n, "rpc:call(N, erlang, halt, []).", b),
        tuple("badrpc"_a,
              tuple("EXIT"_a, tuple(atoms::undef, list({tuple(atoms::erlang, "halt"_a, term(), term())})))));
}

// The legacy rex protocol (kernel's rpc.erl server), which rpc:block_call, rpc:sbcast and
// erl_interface's ei_rpc still use: the nodus node answers as an erl node does.
TEST_F(services_interop, legacy_rex_requests_from_erl_get_erls_answers) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    ASSERT_TRUE(n->rt().register_name("rex_target"_a, n->rt().spawn([]() -> task<> {
        for (;;) (void)co_await receive();
    })));
    export_table& t = n->rt().exports();
    t.add("rex_test"_a, "reverse"_a, 1, [](std::vector<term> a) -> task<term> {
        auto v = a[0].list_elements();
        if (!v) throw error_exception(term(atoms::badarg));
        std::reverse(v->begin(), v->end());
        co_return make_list(std::span<const term>(*v));
    });
    t.add("rex_test"_a, "throw"_a, 1, [](std::vector<term> a) -> task<term> { throw throw_exception(a[0]); });
    t.add("rex_test"_a, "exit"_a, 1, [](std::vector<term> a) -> task<term> { throw exit_exception(a[0]); });
    term node = n->name();
    std::vector<std::pair<std::string, term>> b{{"N", node}};
    // rpc:block_call: {'$gen_call', From, {block_call, M, F, A, GL}}.
    EXPECT_EQ(to_text(e->eval(*n, "rpc:block_call(N, rex_test, reverse, [[1, 2, 3]]).", b)), "[3,2,1]");
    term undef_here = e->eval(*n, "rpc:block_call(node(), nomod, nofun, [1]).", b);
    term undef_there = e->eval(*n, "rpc:block_call(N, nomod, nofun, [1]).", b);
    EXPECT_EQ(undef_there, undef_here) << to_text(undef_there);
    EXPECT_EQ(to_text(e->eval(*n, "rpc:block_call(N, rex_test, throw, [thrown]).", b)), "thrown");
    EXPECT_EQ(to_text(e->eval(*n, "rpc:block_call(N, rex_test, exit, [bye]).", b)), "{badrpc,{'EXIT',bye}}");
    // A gen_server call to rex with the old {call, ...} form, and the hidden C node form.
    EXPECT_EQ(e->eval(*n, "gen_server:call({rex, N}, {call, erlang, node, [], user}).", b), node);
    EXPECT_EQ(e->eval(*n, "{rex, N} ! {self(), {call, erlang, node, [], user}}, "
                          "receive {rex, R} -> R after 5000 -> timeout end.", b),
              node);
    // rpc:sbcast: delivered to the registered name; a missing name is reported as bad.
    EXPECT_EQ(e->eval(*n, "rpc:sbcast([N], rex_target, hello).", b), tuple(list({node}), term()));
    EXPECT_EQ(e->eval(*n, "rpc:sbcast([N], no_such_name, hello).", b), tuple(term(), list({node})));
}

TEST_F(services_interop, multicalls_from_erl_over_erl_and_nodus_nodes) {
    auto e = start_erl("erl");
    auto n = start_nodus("nodus");
    term node = n->name();
    std::vector<std::pair<std::string, term>> b{{"N", node}};
    EXPECT_EQ(e->eval(*n, "rpc:multicall([node(), N], erlang, node, []).", b),
              tuple(list({term(e->name()), node}), term()));
    EXPECT_EQ(e->eval(*n, "erpc:multicall([node(), N], erlang, node, []).", b),
              list({tuple(atoms::ok, e->name()), tuple(atoms::ok, node)}));
    // An undefined function: the same shapes from both nodes.
    term rm = e->eval(*n, "rpc:multicall([node(), N], nomod, nofun, [1]).", b);
    ASSERT_TRUE(rm.is_tuple(2)) << to_text(rm);
    auto rs = rm[0].list_elements();
    ASSERT_TRUE(rs && rs->size() == 2) << to_text(rm);
    EXPECT_EQ((*rs)[0], (*rs)[1]) << to_text(rm);
    EXPECT_EQ((*rs)[1],
              tuple("badrpc"_a,
                    tuple("EXIT"_a, tuple(atoms::undef,
                                          list({tuple("nomod"_a, "nofun"_a, list({term(1)}), term())})))));
    EXPECT_EQ(rm[1], term());
    term em = e->eval(*n, "erpc:multicall([node(), N], erlang, nofun, []).", b);
    auto es = em.list_elements();
    ASSERT_TRUE(es && es->size() == 2) << to_text(em);
    EXPECT_EQ((*es)[0], (*es)[1]) << to_text(em);
    EXPECT_EQ((*es)[1], tuple(atoms::error, tuple("exception"_a, atoms::undef,
                                                  list({tuple(atoms::erlang, "nofun"_a, term(), term())}))));
    // A badarg from a default export: the class and reason as on erl (stacks differ).
    EXPECT_EQ(e->eval(*n,
                      "[{error, {exception, badarg, _}}, {error, {exception, badarg, _}}] = "
                      "erpc:multicall([node(), N], erlang, whereis, [1]), "
                      "{[{badrpc, {'EXIT', {badarg, _}}}, {badrpc, {'EXIT', {badarg, _}}}], []} = "
                      "rpc:multicall([node(), N], erlang, whereis, [1]), ok.",
                      b),
              term(atoms::ok));
    // A node that is down is a bad node for rpc and {erpc, noconnection} for erpc.
    atom gone("gone@" + short_host());
    b.emplace_back("G", term(gone));
    EXPECT_EQ(e->eval(*n, "rpc:multicall([N, G], erlang, node, [], 5000).", b),
              tuple(list({node}), list({term(gone)})));
    EXPECT_EQ(e->eval(*n, "erpc:multicall([N, G], erlang, node, [], 5000).", b),
              list({tuple(atoms::ok, node), tuple(atoms::error, tuple("erpc"_a, "noconnection"_a))}));
}

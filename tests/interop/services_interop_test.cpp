// Cluster services against real OTP 25 nodes: pg process groups (and, as they land, the I/O
// protocol). Each test starts its own epmd and erl nodes and stops them by PID.
#include <gtest/gtest.h>

#include <thread>

#include "cluster.hpp"
#include "nodus/node/net.hpp"
#include "nodus/services/pg.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

class services_interop : public ::testing::Test {
protected:
    void SetUp() override {
        auto erl = find_erl();
        if (!erl) {
            if (may_skip_without_erl()) GTEST_SKIP() << missing_erl_message();
            FAIL() << missing_erl_message();
        }
        erl_ = *erl;
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
        pg::start_scope(*n, pg::default_scope());
        pg::register_pg_exports(n->rt().exports());
        return n;
    }
    static std::string quoted(atom a) { return "'" + std::string(a.name()) + "'"; }

    // Runs body (returning task<term>) in a process of n; returns its result.
    template <class F>
    term in_process(node& n, F body, std::chrono::milliseconds timeout = 20s) {
        scoped_process me(n.rt());
        pid back = me.self();
        n.rt().spawn([back, body]() -> task<> {
            term r = co_await body();
            send(back, r);
        });
        auto r = me.receive(timeout);
        if (!r) throw std::runtime_error("process did not answer");
        return *r;
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

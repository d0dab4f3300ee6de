// Behaviours against real OTP 25 nodes: erl calls and casts a C++ gen_server by {Name, Node} and
// {global, Name}, asks a C++ supervisor for its children, stops a C++ server; a C++ process calls
// an Erlang gen_server (compiled by the test) by {Name, Node} and {global, Name}, with timeouts.
// Each test starts its own epmd and erl node and stops them by PID.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cluster.hpp"
#include "nodus/behaviours/gen_server.hpp"
#include "nodus/behaviours/supervisor.hpp"
#include "nodus/behaviours/task.hpp"
#include "nodus/node/net.hpp"
#include "nodus/services/global.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::test;
using namespace std::chrono_literals;
using gen_server::action;

namespace nodus {
// gtest prints terms as Erlang text.
inline void PrintTo(const term& t, std::ostream* os) {
    *os << format_w(t);
}
}  // namespace nodus

namespace {

// The Erlang side: a gen_server that echoes, sleeps on request, and records casts.
const char* const erl_server_source = R"(-module(beh_erl_server).
-behaviour(gen_server).
-export([start/1, init/1, handle_call/3, handle_cast/2, handle_info/2]).
start(Name) -> gen_server:start(Name, ?MODULE, [], []).
init([]) -> {ok, []}.
handle_call({echo, X}, _From, S) -> {reply, {echoed, X, node()}, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S};
handle_call(casts, _From, S) -> {reply, lists:reverse(S), S}.
handle_cast(X, S) -> {noreply, [X | S]}.
handle_info(_, S) -> {noreply, S}.
)";

class kv : public gen_server::server {
public:
    task<action> handle_call(term req, gen_server::from) override {
        if (req.is_tuple(3) && req[0].is_atom("put"_a)) {
            store_ = map_put(store_, req[1], req[2]);
            co_return gen_server::reply(term(atoms::ok));
        }
        if (req.is_tuple(2) && req[0].is_atom("get"_a)) {
            const term* v = store_.map_get(req[1]);
            co_return gen_server::reply(v ? *v : term(atoms::undefined));
        }
        if (req.is_atom("casts"_a)) co_return gen_server::reply(make_list(std::vector<term>(casts_)));
        if (req.is_atom("never"_a)) co_return gen_server::noreply();
        if (req.is_atom("whoami"_a)) co_return gen_server::reply(term(erlang::node()));
        co_return gen_server::reply(tuple("unknown"_a, req));
    }
    task<action> handle_cast(term req) override {
        casts_.push_back(req);
        co_return gen_server::noreply();
    }
    task<> terminate(term reason) override {
        if (auto w = whereis("terminate_watch"_a)) send(*w, tuple("terminated"_a, reason));
        co_return;
    }
    term format_status() const override { return store_; }

private:
    term store_ = map({});
    std::vector<term> casts_;
};

task<> parked() {
    co_await receive(pat::tuple("never"_a));
}

class behaviours_interop : public ::testing::Test {
protected:
    void SetUp() override {
        NODUS_REQUIRE_ERL(erl);
        erl_ = erl;
        epmd_ = std::make_unique<epmd_daemon>();
        erl_node_options o;
        o.sname = unique_name("erl");
        o.cookie = "cookie";
        o.epmd_port = epmd_->port();
        e_ = std::make_unique<erl_node>(erl_, o);
        n_ = nodus::test::start_nodus(unique_name("nodus"), "cookie", epmd_->port());
        services::start_defaults(*n_);
        ASSERT_TRUE(n_->connect(e_->name()));
    }
    void TearDown() override {
        n_.reset();
        e_.reset();
    }
    // Compiles and loads beh_erl_server on the erl node.
    void load_erl_server() {
        auto dir = std::filesystem::temp_directory_path() / unique_name("beh");
        std::filesystem::create_directories(dir);
        auto path = dir / "beh_erl_server.erl";
        std::ofstream(path) << erl_server_source;
        e_->eval(
            *n_,
            "{ok, M, B} = compile:file(P, [binary, report]), {module, M} = code:load_binary(M, P, B), ok.",
            {{"P", string(path.string())}});
        std::filesystem::remove_all(dir);
    }
    std::string nodus_name() const { return quoted(n_->name()); }

    std::string erl_;
    std::unique_ptr<epmd_daemon> epmd_;
    std::unique_ptr<erl_node> e_;
    std::unique_ptr<node> n_;
};

}  // namespace

TEST_F(behaviours_interop, erl_calls_and_casts_a_cpp_server_by_name_node_and_global_name) {
    term started = in_process(*n_, []() -> task<term> {
        auto r = co_await gen_server::start(std::make_unique<kv>(), gen_server::local("cpp_kv"_a));
        co_return r ? r->as_term() : tuple("error"_a, r.error());
    });
    ASSERT_TRUE(started.is_pid());
    // Both sides synchronised with each other's global first (as services_interop does).
    EXPECT_EQ(e_->eval(*n_, "global:sync()."), term(atoms::ok));
    in_process(*n_, []() -> task<term> {
        co_await global::sync();
        co_return term(atoms::ok);
    });
    term global_started = in_process(*n_, []() -> task<term> {
        auto r = co_await gen_server::start(std::make_unique<kv>(), gen_server::global("cpp_global_kv"_a));
        co_return r ? r->as_term() : tuple("error"_a, r.error());
    });
    ASSERT_TRUE(global_started.is_pid());
    std::string dest = "{cpp_kv, " + nodus_name() + "}";
    EXPECT_EQ(e_->eval(*n_, "gen_server:call(" + dest + ", {put, k, <<\"v\">>})."), term(atoms::ok));
    EXPECT_EQ(e_->eval(*n_, "gen_server:call(" + dest + ", {get, k}, 2000)."), binary("v"));
    EXPECT_EQ(e_->eval(*n_, "gen_server:cast(" + dest + ", hello), gen_server:cast(" + dest +
                                ", {there, 1}), gen_server:call(" + dest + ", casts)."),
              list({"hello"_a, tuple("there"_a, 1)}));
    // By pid, too (the monitor+alias path of gen:do_call).
    EXPECT_EQ(e_->eval(*n_, "gen_server:call(P, whoami).", {{"P", started}}), term(n_->name()));
    // {global, Name}: erl resolves the name registered by the C++ server.
    EXPECT_TRUE(
        eventually([&] { return e_->eval(*n_, "global:whereis_name(cpp_global_kv).") == global_started; }));
    EXPECT_EQ(e_->eval(*n_,
                       "gen_server:call({global, cpp_global_kv}, {put, g, 1}), "
                       "gen_server:call({global, cpp_global_kv}, {get, g})."),
              term(1));
    EXPECT_EQ(e_->eval(*n_,
                       "gen_server:cast({global, cpp_global_kv}, via_global), "
                       "gen_server:call({global, cpp_global_kv}, casts)."),
              list({"via_global"_a}));
    // A call the C++ server never answers: erl's caller exits with OTP's timeout shape.
    EXPECT_EQ(e_->eval(*n_,
                       "{'EXIT', {timeout, {gen_server, call, [D, never, 200]}}} = "
                       "(catch gen_server:call(D, never, 200)), timeout.",
                       {{"D", tuple("cpp_kv"_a, n_->name())}}),
              "timeout"_a);
    // sys:get_state/1 gets format_status().
    EXPECT_EQ(e_->eval(*n_, "sys:get_state(" + dest + ")."), map({{"k"_a, binary("v")}}));
    // gen_server:stop/1 from erl: terminate runs, the server is gone.
    pid watch = n_->rt().spawn(parked);
    ASSERT_TRUE(in_process(*n_, [watch]() -> task<term> {
                    co_return term(register_name("terminate_watch"_a, watch));
                }) == term(true));
    EXPECT_EQ(e_->eval(*n_, "gen_server:stop(" + dest + ")."), term(atoms::ok));
    EXPECT_FALSE(n_->rt().is_process_alive(started.as_pid()));
    n_->rt().exit(watch, term(atoms::kill));
}

TEST_F(behaviours_interop, erl_asks_a_cpp_supervisor_for_its_children) {
    term sup = in_process(*n_, []() -> task<term> {
        std::vector<supervisor::child_spec> cs;
        supervisor::child_spec a;
        a.id = "worker_a"_a;
        a.start = supervisor::starter([] { return spawn_link(parked); });
        cs.push_back(a);
        supervisor::child_spec k;
        k.id = "kv"_a;
        k.start = supervisor::starter(
            [] { return gen_server::start_link(std::make_unique<kv>(), gen_server::local("sup_kv"_a)); });
        cs.push_back(k);
        supervisor::flags f;
        auto r = co_await supervisor::start(gen_server::local("cpp_sup"_a), f, cs);
        co_return r ? r->as_term() : tuple("error"_a, r.error());
    });
    ASSERT_TRUE(sup.is_pid());
    std::string dest = "{cpp_sup, " + nodus_name() + "}";
    term kids =
        e_->eval(*n_, "[{Id, is_pid(P), T} || {Id, P, T, _} <- supervisor:which_children(" + dest + ")].");
    EXPECT_EQ(kids, list({tuple("kv"_a, true, "worker"_a), tuple("worker_a"_a, true, "worker"_a)}));
    EXPECT_EQ(
        e_->eval(*n_, "supervisor:count_children(" + dest + ")."),
        list({tuple("specs"_a, 2), tuple("active"_a, 2), tuple("supervisors"_a, 0), tuple("workers"_a, 2)}));
    // erl kills the supervised C++ server; the supervisor restarts it; erl calls the new one.
    term old_kv = in_process(*n_, []() -> task<term> {
        auto p = whereis("sup_kv"_a);
        co_return p ? p->as_term() : term("none"_a);
    });
    ASSERT_TRUE(old_kv.is_pid());
    e_->eval(*n_, "exit(P, kill), ok.", {{"P", old_kv}});
    EXPECT_TRUE(eventually([&] {
        term now = e_->eval(*n_, "catch gen_server:call({sup_kv, N}, whoami).", {{"N", n_->name()}});
        return now == term(n_->name());
    }));
    EXPECT_EQ(e_->eval(*n_, "supervisor:terminate_child(" + dest + ", worker_a)."), term(atoms::ok));
    EXPECT_EQ(e_->eval(*n_, "supervisor:restart_child(" + dest + ", kv)."), tuple("error"_a, "running"_a));
    EXPECT_EQ(e_->eval(*n_, "supervisor:delete_child(" + dest + ", worker_a)."), term(atoms::ok));
    EXPECT_EQ(e_->eval(*n_, "supervisor:delete_child(" + dest + ", worker_a)."),
              tuple("error"_a, "not_found"_a));
    in_process(*n_, [sup]() -> task<term> {
        co_await gen_server::stop(sup);
        co_return term(atoms::ok);
    });
}

TEST_F(behaviours_interop, cpp_calls_an_erlang_gen_server_by_name_node_and_global_name) {
    load_erl_server();
    EXPECT_EQ(e_->eval(*n_, "{ok, P} = beh_erl_server:start({local, beh_local}), is_pid(P)."), term(true));
    EXPECT_EQ(e_->eval(*n_, "{ok, P} = beh_erl_server:start({global, beh_global}), is_pid(P)."), term(true));
    atom erl = e_->name();
    EXPECT_EQ(in_process(*n_,
                         [erl]() -> task<term> {
                             co_return co_await gen_server::call(tuple("beh_local"_a, erl),
                                                                 tuple("echo"_a, 1));
                         }),
              tuple("echoed"_a, 1, erl));
    EXPECT_TRUE(eventually([&] {
        return in_process(*n_, []() -> task<term> {
                   co_return term(global::whereis_name("beh_global"_a).has_value());
               }) == term(true);
    }));
    EXPECT_EQ(in_process(*n_,
                         []() -> task<term> {
                             co_return co_await gen_server::call(tuple("global"_a, "beh_global"_a),
                                                                 tuple("echo"_a, 2), 2000ms);
                         }),
              tuple("echoed"_a, 2, erl));
    // Casts arrive, in order.
    EXPECT_EQ(in_process(*n_,
                         [erl]() -> task<term> {
                             gen_server::cast(tuple("beh_local"_a, erl), "one"_a);
                             gen_server::cast(tuple("beh_local"_a, erl), "two"_a);
                             co_return co_await gen_server::call(tuple("beh_local"_a, erl), "casts"_a);
                         }),
              list({"one"_a, "two"_a}));
    // A timeout: as a value, and as OTP's exit of the caller.
    EXPECT_EQ(in_process(*n_,
                         [erl]() -> task<term> {
                             auto r = co_await gen_server::try_call(tuple("beh_local"_a, erl),
                                                                    tuple("sleep"_a, 1000), 100ms);
                             co_return r ? term("replied"_a) : r.error();
                         }),
              "timeout"_a);
    term reason = in_process(*n_, []() -> task<term> {
        auto [p, mref] = spawn_monitor([]() -> task<> {
            (void)co_await gen_server::call(tuple("global"_a, "beh_global"_a), tuple("sleep"_a, 1000), 100ms);
        });
        (void)p;
        term m = mref;
        auto is_down = [m](const term& t) { return t.is_tuple(5) && t[1] == m; };
        auto d = co_await receive(is_down).after(5s);
        co_return d ? (*d)[4] : term("none"_a);
    });
    EXPECT_EQ(reason,
              tuple("timeout"_a,
                    tuple("gen_server"_a, "call"_a,
                          list({tuple("global"_a, "beh_global"_a), tuple("sleep"_a, 1000), term(100)}))));
    // A name that is not registered there: noproc.
    EXPECT_EQ(in_process(*n_,
                         [erl]() -> task<term> {
                             auto r = co_await gen_server::try_call(tuple("nobody"_a, erl), "x"_a, 1000ms);
                             co_return r ? term("replied"_a) : r.error();
                         }),
              "noproc"_a);
}

// Task.Supervisor.async({Sup, Node}, M, F, A) between two nodus nodes: the task runs on the
// supervisor's node and its result comes back; a slow one times out as Task.await does.
TEST_F(behaviours_interop, task_supervisor_async_on_another_nodus_node) {
    n_->rt().exports().add("math"_a, "square"_a, 1, [](std::vector<term> a) -> task<term> {
        auto x = a[0].to_int64();
        co_return tuple(term(*x * *x), erlang::node());
    });
    n_->rt().exports().add("math"_a, "sleep"_a, 1, [](std::vector<term> a) -> task<term> {
        co_await receive(pat::tuple("never"_a)).after(std::chrono::milliseconds(*a[0].to_int64()));
        co_return term("slept"_a);
    });
    term sup = in_process(*n_, []() -> task<term> {
        auto r = co_await task_supervisor::start(gen_server::local("tasks"_a));
        co_return r ? r->as_term() : tuple("error"_a, r.error());
    });
    ASSERT_TRUE(sup.is_pid());
    auto m = nodus::test::start_nodus(unique_name("caller"), "cookie", epmd_->port());
    ASSERT_TRUE(m->connect(n_->name()));
    atom b = n_->name();
    term r = in_process(*m, [b]() -> task<term> {
        std::vector<term> seven{term(7)};
        auto t = co_await task_supervisor::async(tuple("tasks"_a, b), "math"_a, "square"_a, seven);
        term v = co_await task_supervisor::await(t, 5000ms);
        co_return tuple(v, term(t.worker.node()));
    });
    EXPECT_EQ(r, tuple(tuple(term(49), b), b));
    term reason = in_process(*m, [b]() -> task<term> {
        auto [p, mref] = spawn_monitor([b]() -> task<> {
            std::vector<term> a{term(10000)};
            auto t = co_await task_supervisor::async(tuple("tasks"_a, b), "math"_a, "sleep"_a, a);
            (void)co_await task_supervisor::await(t, 100ms);
        });
        (void)p;
        term mr = mref;
        auto is_down = [mr](const term& t) { return t.is_tuple(5) && t[1] == mr; };
        auto d = co_await receive(is_down).after(10s);
        co_return d ? (*d)[4] : term("none"_a);
    });
    ASSERT_TRUE(reason.is_tuple(2));
    EXPECT_EQ(reason[0], term("timeout"_a));
    // The timed-out task was linked to its owner and went with it.
    EXPECT_TRUE(eventually([&] {
        return in_process(*n_, []() -> task<term> {
                   auto c = co_await supervisor::count_children("tasks"_a);
                   co_return term(c.active);
               }) == term(0);
    }));
}

// multi_call and abcast across an erl node and a nodus node that both run a server named `mc`:
// the {Tag, Node} tag of multi_call comes back as it went, both ways.
TEST_F(behaviours_interop, multi_call_and_abcast_across_erl_and_nodus) {
    load_erl_server();
    EXPECT_EQ(e_->eval(*n_, "{ok, P} = beh_erl_server:start({local, mc}), is_pid(P)."), term(true));
    term started = in_process(*n_, []() -> task<term> {
        auto r = co_await gen_server::start(std::make_unique<kv>(), gen_server::local("mc"_a));
        co_return term(r.has_value());
    });
    ASSERT_EQ(started, term(true));
    atom erl = e_->name();
    atom nod = n_->name();
    // erl: abcast to both, then multi_call both (and a node that is not there).
    term replies = e_->eval(*n_,
                            "abcast = gen_server:abcast([E, N], mc, ping), "
                            "{Rs, Bad} = gen_server:multi_call([E, N, 'nobody@nowhere'], mc, casts, 5000), "
                            "{lists:sort(Rs), Bad}.",
                            {{"E", term(erl)}, {"N", term(nod)}});
    term expected_replies = compare(term(nod), term(erl)) == std::weak_ordering::less
                                ? list({tuple(nod, list({"ping"_a})), tuple(erl, list({"ping"_a}))})
                                : list({tuple(erl, list({"ping"_a})), tuple(nod, list({"ping"_a}))});
    EXPECT_EQ(replies, tuple(expected_replies, list({"nobody@nowhere"_a})));
    // nodus: the same from C++.
    term r = in_process(*n_, [erl, nod]() -> task<term> {
        std::vector<atom> nodes{erl, nod};
        gen_server::abcast(nodes, "mc"_a, "pong"_a);
        auto res = co_await gen_server::multi_call(nodes, "mc"_a, "casts"_a, 5000ms);
        std::vector<term> rs;
        for (auto& [node_name, reply] : res.replies)
            rs.push_back(tuple(node_name, reply));
        co_return tuple(std::int64_t(rs.size()), std::int64_t(res.bad_nodes.size()),
                        make_list(std::move(rs)));
    });
    ASSERT_TRUE(r.is_tuple(3));
    EXPECT_EQ(r[0], term(2));
    EXPECT_EQ(r[1], term(0));
    for (const term& e : r[2].list_elements().value_or(std::vector<term>())) {
        EXPECT_EQ(e[1], list({"ping"_a, "pong"_a})) << format_w(e);
    }
}

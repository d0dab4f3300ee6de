// The shell session and the evaluator behind it (nodus/eval/session.hpp, eval.hpp): bindings
// between commands, f()/b(), exceptions as erl's shell reports them, the evaluator replaced
// after a crash, processes, messages, receive/after, registry, links, monitors, flush(),
// io:format through the session's group leader, gen_server calls, and the node functions of
// a runtime that is not distributed.
#include "nodus/eval/session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

class session_test : public ::testing::Test {
protected:
    session_test() {
        eval::session_options o;
        o.output = [this](std::string_view s) {
            std::lock_guard l(mutex_);
            out_ += s;
        };
        sh_ = std::make_unique<eval::session>(rt_, o);
    }
    ~session_test() override { sh_.reset(); }

    eval::outcome run(const std::string& text) {
        auto p = sh_->parse(text);
        EXPECT_EQ(p.status, eval::parse_status::complete) << text;
        if (p.status != eval::parse_status::complete) return {};
        return sh_->evaluate_blocking(p.exprs);
    }
    // The value as ~w, or <the report> when it raised.
    std::string value(const std::string& text) {
        auto o = run(text);
        if (!o.ok()) return "<" + o.text + ">";
        return to_text(o.value, {print_style::w, rt_.node()});
    }
    std::string output() {
        std::lock_guard l(mutex_);
        return out_;
    }
    void clear_output() {
        std::lock_guard l(mutex_);
        out_.clear();
    }
    bool output_eventually_has(const std::string& s, std::chrono::milliseconds timeout = 5s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            if (output().find(s) != std::string::npos) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    runtime rt_{runtime_options{.threads = 2}};
    std::unique_ptr<eval::session> sh_;
    std::mutex mutex_;
    std::string out_;
};

TEST_F(session_test, bindings_persist_between_commands_and_f_forgets) {
    EXPECT_EQ(sh_->command_number(), 1u);
    EXPECT_EQ(value("X = 6 * 7."), "42");
    EXPECT_EQ(value("Y = X + 1, {X, Y}."), "{42,43}");
    EXPECT_EQ(sh_->command_number(), 3u);
    EXPECT_EQ(sh_->current_bindings().size(), 2u);
    EXPECT_EQ(value("f(X)."), "ok");
    auto o = run("X.");
    EXPECT_EQ(o.what, eval::outcome::kind::rejected);
    EXPECT_EQ(o.text, "* 1:1: variable 'X' is unbound");
    EXPECT_EQ(value("Y."), "43");
    EXPECT_EQ(value("f()."), "ok");
    EXPECT_TRUE(sh_->current_bindings().empty());
    EXPECT_EQ(sh_->command_number(), 7u);
}

TEST_F(session_test, a_failed_match_keeps_the_old_bindings_and_the_session_goes_on) {
    EXPECT_EQ(value("X = 1."), "1");
    auto before = sh_->evaluator();
    ASSERT_TRUE(before.has_value());
    auto o = run("Z = 5, X = 2.");
    EXPECT_EQ(o.what, eval::outcome::kind::exception);
    EXPECT_EQ(o.text, "** exception error: no match of right hand side value 2");
    EXPECT_EQ(value("X."), "1");
    EXPECT_EQ(run("Z.").what, eval::outcome::kind::rejected);  // Z = 5 was undone with the command
    auto after = sh_->evaluator();
    ASSERT_TRUE(after.has_value());
    EXPECT_FALSE(*before == *after);  // a new evaluator, as in erl
}

TEST_F(session_test, exceptions_are_reported_as_erls_shell_does) {
    EXPECT_EQ(run("hd([]).").text,
              "** exception error: bad argument\n"
              "     in function  hd/1\n"
              "        called as hd([])\n"
              "        *** argument 1: not a nonempty list");
    EXPECT_EQ(run("throw(ball).").text, "** exception throw: ball");
    EXPECT_EQ(run("exit(bye).").text, "** exception exit: bye");
    EXPECT_EQ(run("1 + a.").text,
              "** exception error: an error occurred when evaluating an arithmetic expression\n"
              "     in operator  +/2\n"
              "        called as 1 + a");
    EXPECT_EQ(run("nofun(1).").text, "** exception error: undefined shell command nofun/1");
    EXPECT_EQ(run("nomod:nofun().").text, "** exception error: undefined function nomod:nofun/0");
    auto p = sh_->parse("foo(.");
    ASSERT_EQ(p.status, eval::parse_status::error);
    EXPECT_EQ(eval::session::format_error(p.error), "* 1:5: syntax error before: '.'");
}

TEST_F(session_test, io_format_output_comes_before_the_value) {
    auto o = run("io:format(\"a~pb~n\", [1]), io:format(\"~s~n\", [\"str\"]), done.");
    ASSERT_TRUE(o.ok()) << o.text;
    EXPECT_EQ(output(), "a1b\nstr\n");
    EXPECT_EQ(to_text(o.value), "done");
}

TEST_F(session_test, spawned_funs_messages_and_receive) {
    EXPECT_EQ(value("P = spawn(fun() -> receive {F, M} -> F ! {echo, M} end end), P ! {self(), hi}, "
                    "receive R -> R after 2000 -> timeout end."),
              "{echo,hi}");
    EXPECT_EQ(value("receive x -> x after 30 -> timeout end."), "timeout");
    EXPECT_EQ(value("self() ! 5, receive X when X > 10 -> big after 0 -> small end."), "small");
    EXPECT_EQ(value("receive 5 -> five after 0 -> none end."), "five");
}

TEST_F(session_test, a_registered_echo_server_made_from_a_named_fun) {
    // Seed 002's echo server, exactly as typed into erl.
    EXPECT_EQ(value("register(echo, spawn(fun Loop() -> receive {From, Msg} -> From ! Msg, Loop() end end))."),
              "true");
    EXPECT_EQ(value("echo ! {self(), ping}, receive M -> M after 2000 -> timeout end."), "ping");
    EXPECT_EQ(value("{echo, node()} ! {self(), pong}, receive M2 -> M2 after 2000 -> timeout end."), "pong");
    EXPECT_EQ(value("is_pid(whereis(echo)) andalso lists:member(echo, registered())."), "true");
    EXPECT_EQ(value("unregister(echo)."), "true");
    EXPECT_EQ(value("whereis(echo)."), "undefined");
}

TEST_F(session_test, tail_calls_of_named_funs_run_in_constant_space) {
    EXPECT_EQ(value("Count = fun C(0) -> done; C(N) -> C(N - 1) end, Count(200000)."), "done");
}

// Long loops and deep recursion must not exhaust a worker's native stack (chains of co_awaits that
// complete at once nest on it when symmetric transfer is not a tail call, as under ASan).
TEST_F(session_test, long_loops_and_deep_recursion_fit_the_stack) {
    EXPECT_EQ(value("Fact = fun F(0) -> 1; F(N) -> N * F(N - 1) end, byte_size(term_to_binary(Fact(3000))) > 1000."),
              "true");
    EXPECT_EQ(value("Len = fun L([]) -> 0; L([_ | T]) -> 1 + L(T) end, Len(lists:seq(1, 50000))."), "50000");
    EXPECT_EQ(value("length(lists:map(fun(X) -> X + 1 end, lists:seq(1, 100000)))."), "100000");
    EXPECT_EQ(value("length([X || X <- lists:seq(1, 100000), X < 0])."), "0");
    EXPECT_EQ(value("byte_size(<< <<X>> || X <- lists:seq(1, 100000), X < 256 >>)."), "255");
    EXPECT_EQ(value("length([1 || <<X>> <= list_to_binary(lists:duplicate(100000, 1)), X > 5])."), "0");
    EXPECT_EQ(value("lists:foldl(fun(X, A) -> X + A end, 0, lists:seq(1, 100000))."), "5000050000");
    EXPECT_EQ(value("length(lists:map(fun erlang:abs/1, lists:seq(1, 100000)))."), "100000");
    EXPECT_EQ(value("length(lists:filter(fun erlang:is_integer/1, lists:seq(1, 100000)))."), "100000");
}

TEST_F(session_test, flush_prints_the_mailbox) {
    EXPECT_EQ(value("self() ! a, self() ! {b, \"s\"}, flush()."), "ok");
    EXPECT_EQ(output(), "Shell got a\nShell got {b,\"s\"}\n");
}

TEST_F(session_test, b_lists_bindings_and_help_lists_modules) {
    EXPECT_EQ(value("X = 1, Y = {a, [1]}."), "{a,[1]}");
    EXPECT_EQ(value("b()."), "ok");
    EXPECT_EQ(output(), "X = 1\nY = {a,[1]}\n");
    clear_output();
    EXPECT_EQ(value("rp({X, Y})."), "ok");
    EXPECT_EQ(output(), "{1,{a,[1]}}\n");
    clear_output();
    EXPECT_EQ(value("help()."), "true");
    EXPECT_NE(output().find("flush()"), std::string::npos);
    EXPECT_NE(output().find("lists"), std::string::npos);
    EXPECT_NE(output().find("rpc"), std::string::npos);
}

TEST_F(session_test, a_linked_crash_kills_the_evaluator_and_is_reported) {
    auto o = run("spawn_link(fun() -> exit(boom) end), receive after 2000 -> ok end.");
    EXPECT_EQ(o.what, eval::outcome::kind::exception);
    EXPECT_EQ(o.text, "** exception exit: boom");
    EXPECT_EQ(value("1 + 1."), "2");
    // Between commands: reported through the output, as erl's shell does.
    EXPECT_EQ(value("is_pid(spawn_link(fun() -> timer:sleep(50), exit(late) end))."), "true");
    EXPECT_TRUE(output_eventually_has("** exception error: late\n")) << output();
    EXPECT_EQ(value("ok."), "ok");
}

TEST_F(session_test, links_monitors_and_exit_signals) {
    EXPECT_EQ(value("P = spawn(fun() -> receive stop -> ok end end), R = monitor(process, P), P ! stop, "
                    "receive {'DOWN', R, process, P, Why} -> Why after 2000 -> timeout end."),
              "normal");
    EXPECT_EQ(value("Q = spawn(fun() -> receive after infinity -> ok end end), R2 = monitor(process, Q), "
                    "demonitor(R2), exit(Q, kill), timer:sleep(50), {is_process_alive(Q), "
                    "receive {'DOWN', R2, _, _, _} -> down after 100 -> none end}."),
              "{false,none}");
    EXPECT_EQ(value("process_flag(trap_exit, true), L = spawn_link(fun() -> exit(bye) end), "
                    "receive {'EXIT', L, W} -> W after 2000 -> timeout end."),
              "bye");
    EXPECT_EQ(value("U = spawn(fun() -> receive after infinity -> ok end end), link(U), unlink(U), exit(U, kill), "
                    "timer:sleep(50), is_process_alive(U)."),
              "false");
}

TEST_F(session_test, case_if_try_catch_and_comprehensions) {
    EXPECT_EQ(value("case {a, 1} of {a, N} when N > 0 -> pos; _ -> other end."), "pos");
    EXPECT_EQ(value("if 1 > 2 -> a; true -> b end."), "b");
    EXPECT_EQ(value("try throw(x) catch throw:V -> {caught, V} end."), "{caught,x}");
    EXPECT_EQ(value("catch 1 + a."),
              "{'EXIT',{badarith,[{erlang,'+',[1,a],[{error_info,#{module => erl_erts_errors}}]}]}}");
    EXPECT_EQ(value("[X * 2 || X <- lists:seq(1, 5), X rem 2 =:= 1]."), "[2,6,10]");
    EXPECT_EQ(value("maps:get(b, maps:put(b, 2, #{a => 1}))."), "2");
}

TEST_F(session_test, funs_survive_term_to_binary) {
    EXPECT_EQ(value("F = fun(X) -> X + 1 end, G = binary_to_term(term_to_binary(F)), G(1)."), "2");
    EXPECT_EQ(value("A = 10, H = fun(X) -> X + A end, (binary_to_term(term_to_binary(H)))(5)."), "15");
}

TEST_F(session_test, node_functions_without_a_node_answer_like_a_plain_erl) {
    EXPECT_EQ(value("{node(), nodes(), nodes(connected), is_alive(), erlang:get_cookie()}."),
              "{nonode@nohost,[],[],false,nocookie}");
    EXPECT_EQ(value("net_adm:ping('nobody@nohost')."), "pang");
    // Other nodes cannot be reached, and nothing waits for them.
    EXPECT_EQ(value("{rpc:call(other@host, erlang, node, []), rpc:cast(other@host, erlang, node, []), "
                    "rpc:multicall([node(), other@host], erlang, node, [])}."),
              "{{badrpc,nodedown},true,{[nonode@nohost],[other@host]}}");
    EXPECT_EQ(value("{'EXIT', {{erpc, noconnection}, _}} = (catch erpc:call(other@host, erlang, node, [])), ok."),
              "ok");
    EXPECT_EQ(value("{'EXIT', {noconnection, _}} = (catch spawn(other@host, fun() -> ok end)), ok."), "ok");
    // This node itself is reachable by rpc.
    EXPECT_EQ(value("{rpc:call(node(), lists, reverse, [[1, 2]]), erpc:call(node(), erlang, abs, [-3])}."),
              "{[2,1],3}");
}

TEST_F(session_test, gen_server_calls_and_casts) {
    EXPECT_EQ(value("S = spawn(fun L() -> receive {'$gen_call', {From, Tag}, Req} -> From ! {Tag, {reply, Req}}, "
                    "L(); {'$gen_cast', C} -> put(last, C), L() end end), gen_server:call(S, hello)."),
              "{reply,hello}");
    EXPECT_EQ(value("gen_server:call(S, again, 1000)."), "{reply,again}");
    EXPECT_EQ(value("gen_server:cast(S, note)."), "ok");
    EXPECT_EQ(value("D = spawn(fun() -> ok end), timer:sleep(50), "
                    "{'EXIT', {noproc, {gen_server, call, [D, x]}}} = (catch gen_server:call(D, x)), ok."),
              "ok");
    EXPECT_EQ(value("T = spawn(fun() -> receive after infinity -> ok end end), "
                    "{'EXIT', {Why, _}} = (catch gen_server:call(T, x, 50)), Why."),
              "timeout");
}

TEST_F(session_test, exported_cpp_functions_are_callable) {
    rt_.exports().add("mymod"_a, "square"_a, 1, [](std::vector<term> a) -> task<term> {
        auto x = a[0].to_int64();
        if (!x) throw error_exception(term(atoms::badarg));
        co_return term(*x * *x);
    });
    EXPECT_EQ(value("mymod:square(12)."), "144");
    EXPECT_EQ(value("lists:map(fun mymod:square/1, [1, 2, 3])."), "[1,4,9]");
    EXPECT_EQ(value("P = spawn(mymod, square, [3]), is_pid(P)."), "true");
}

}  // namespace

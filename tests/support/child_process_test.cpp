// Tests of the child_process helper itself, with small POSIX programs (sh, cat, sleep) and erl.
#include "child_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>

using namespace nodus::test;

namespace {

spawn_options sh(std::string script, stderr_mode err = stderr_mode::capture) {
    spawn_options o;
    o.argv = {"sh", "-c", std::move(script)};
    o.err = err;
    return o;
}

}  // namespace

TEST(child_process, reads_lines_and_exit_code) {
    child_process p(sh("printf 'one\\ntwo\\nlast'; exit 3"));
    EXPECT_EQ(p.read_line(), "one");
    EXPECT_EQ(p.read_line(), "two");
    EXPECT_EQ(p.read_line(), "last");  // no final newline
    EXPECT_EQ(p.read_line(), std::nullopt);
    EXPECT_TRUE(p.stdout_closed());
    auto st = p.wait();
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->code, 3);
    EXPECT_FALSE(st->ok());
}

TEST(child_process, round_trips_large_data_through_cat_without_deadlock) {
    // More than any pipe buffer in both directions at once: write() must drain stdout.
    spawn_options o;
    o.argv = {"cat"};
    child_process p(o);
    std::string data;
    for (int i = 0; i < 200000; ++i)
        data += "line " + std::to_string(i) + "\n";
    ASSERT_TRUE(p.write(data));
    p.close_stdin();
    EXPECT_EQ(p.read_all(), data);
    EXPECT_TRUE(p.wait()->ok());
}

TEST(child_process, captures_or_merges_stderr) {
    {
        child_process p(sh("echo out; echo err >&2"));
        EXPECT_EQ(p.read_all(), "out\n");
        p.wait();
        EXPECT_EQ(p.stderr_text(), "err\n");
    }
    {
        child_process p(sh("echo err >&2", stderr_mode::merge));
        EXPECT_EQ(p.read_all(), "err\n");
    }
}

TEST(child_process, passes_environment) {
    setenv("NODUS_CHILD_TEST_UNSET", "present", 1);
    spawn_options o = sh("echo \"$NODUS_CHILD_TEST_A/${NODUS_CHILD_TEST_UNSET:-gone}\"");
    o.env = {{"NODUS_CHILD_TEST_A", "first"}, {"NODUS_CHILD_TEST_A", "second"}};
    o.unset_env = {"NODUS_CHILD_TEST_UNSET"};
    child_process p(o);
    EXPECT_EQ(p.read_line(), "second/gone");
}

TEST(child_process, read_line_times_out) {
    child_process p(sh("exec sleep 5"));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p.read_line(200ms), std::nullopt);
    EXPECT_FALSE(p.stdout_closed());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(child_process, stop_terminates_then_kills) {
    {
        spawn_options o;
        o.argv = {"sleep", "100"};
        child_process p(o);
        auto st = p.stop(2s);
        EXPECT_EQ(st.signal, SIGTERM) << st.describe();
    }
    {
        // Ignores SIGTERM: stop() must fall back to SIGKILL after the grace period.
        child_process p(sh("trap '' TERM; echo ready; while :; do sleep 1; done"));
        ASSERT_EQ(p.read_line(), "ready");
        auto st = p.stop(300ms);
        EXPECT_EQ(st.signal, SIGKILL) << st.describe();
    }
}

TEST(child_process, destructor_kills_by_pid) {
    pid_t pid;
    {
        spawn_options o;
        o.argv = {"sleep", "100"};
        child_process p(o);
        pid = p.pid();
        ASSERT_GT(pid, 0);
        EXPECT_TRUE(p.running());
    }
    // Reaped: the PID no longer names a child of ours.
    errno = 0;
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

TEST(child_process, missing_program_throws) {
    spawn_options o;
    o.argv = {"nodus-no-such-program-xyz"};
    EXPECT_THROW(child_process p(o), std::runtime_error);
    EXPECT_EQ(find_program("nodus-no-such-program-xyz"), std::nullopt);
    EXPECT_TRUE(find_program("sh").has_value());
}

TEST(child_process, writing_to_an_exited_child_fails_cleanly) {
    child_process p(sh("exit 0"));
    p.wait();
    EXPECT_FALSE(p.write(std::string(1 << 20, 'x'), 2s));  // EPIPE, not SIGPIPE
}

TEST(child_process, runs_erl) {
    NODUS_REQUIRE_ERL(erl);
    erl_options o;
    o.eval =
        "io:format(\"~s~n\", [erlang:system_info(otp_release)]), "
        "Line = io:get_line(\"\"), io:put_chars(string:uppercase(Line)), halt(0).";
    auto p = start_erl(erl, o);
    auto release = p->read_line(60s);
    ASSERT_TRUE(release.has_value()) << p->stderr_text();
    EXPECT_GE(std::stoi(*release), 25);
    ASSERT_TRUE(p->write("hello erl\n"));
    EXPECT_EQ(p->read_line(60s), "HELLO ERL");
    auto st = p->wait(30s);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(st->ok()) << st->describe() << p->stderr_text();
}

// `nodus epmd`: the erl-style flag translation, and the built command run as a real process:
// foreground until SIGTERM/SIGINT (exit 0), -daemon, -names/-kill/-stop/-dump as epmd prints
// them, a taken port, a misspelled flag.
#include "erl_flags.hpp"  // first: the header is self-contained

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "child_process.hpp"
#include "epmd_test_util.hpp"

using namespace nodus;
using namespace nodus::epmd;
using namespace nodus::epmd::test;
using nodus::test::child_process;
using nodus::test::spawn_options;
using nodus::tools::erl_flag;
using nodus::tools::translate_erl_flags;

namespace {

const erl_flag flags[] = {{"port", 1}, {"daemon", 0}, {"stop", 1}, {"relaxed_command_check", 0}};

std::vector<std::string> tr(std::vector<std::string> args) {
    return translate_erl_flags(std::move(args), flags);
}

std::unique_ptr<child_process> nodus_cli(std::vector<std::string> args) {
    spawn_options o;
    o.argv = {NODUS_CLI};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.unset_env = {"ERL_EPMD_PORT", "ERL_EPMD_ADDRESS", "ERL_EPMD_RELAXED_COMMAND_CHECK"};
    return std::make_unique<child_process>(o);
}

// Runs the command to its end: exit code and stdout.
std::pair<int, std::string> run(std::vector<std::string> args, std::string* err = nullptr) {
    auto p = nodus_cli(std::move(args));
    std::string out = p->read_all(20s);
    auto st = p->wait(20s);
    if (err) *err = p->stderr_text();
    return {st && st->signal == 0 ? st->code : -1, out};
}

// Starts `nodus epmd` in the foreground on a free loopback port; waits until it answers.
std::unique_ptr<child_process> start_foreground(std::uint16_t& port, std::vector<std::string> extra = {}) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        port = free_port();
        std::vector<std::string> args = {"epmd", "-port", std::to_string(port), "-address", "127.0.0.1"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto p = nodus_cli(args);
        client_options o;
        o.epmd_port = port;
        o.timeout = 1s;
        for (int i = 0; i < 100 && p->running(); ++i) {
            if (names_sync("127.0.0.1", o)) return p;
            std::this_thread::sleep_for(20ms);
        }
    }
    ADD_FAILURE() << "nodus epmd did not start";
    return nullptr;
}

}  // namespace

TEST(erl_flags, translates_declared_flags_only) {
    EXPECT_EQ(tr({"-port", "4370", "-daemon"}), (std::vector<std::string>{"--port", "4370", "--daemon"}));
    EXPECT_EQ(tr({"--port", "4370"}), (std::vector<std::string>{"--port", "4370"}));
    // A misspelled flag stays as typed, so the parser names it.
    EXPECT_EQ(tr({"-prot", "4370"}), (std::vector<std::string>{"-prot", "4370"}));
    // Values are never rewritten, even when they look like flags.
    EXPECT_EQ(tr({"-stop", "-port", "-relaxed_command_check"}),
              (std::vector<std::string>{"--stop", "-port", "--relaxed_command_check"}));
    // Nothing after "--"; short flags and plain words untouched.
    EXPECT_EQ(tr({"-d", "x", "--", "-port"}), (std::vector<std::string>{"-d", "x", "--", "-port"}));
    EXPECT_EQ(tr({}), std::vector<std::string>{});
}

TEST(erl_flags, argv_of_other_commands_is_untouched) {
    const nodus::tools::erl_style_command cmds[] = {{"epmd", flags}};
    std::vector<std::string> in = {"nodus", "term", "-port"};
    std::vector<char*> argv;
    for (auto& s : in)
        argv.push_back(s.data());
    nodus::tools::erl_style_argv a(3, argv.data(), cmds);
    ASSERT_EQ(a.argc(), 3);
    EXPECT_STREQ(a.argv()[2], "-port");
    std::vector<std::string> in2 = {"nodus", "epmd", "-port", "1"};
    std::vector<char*> argv2;
    for (auto& s : in2)
        argv2.push_back(s.data());
    nodus::tools::erl_style_argv a2(4, argv2.data(), cmds);
    EXPECT_STREQ(a2.argv()[2], "--port");
    EXPECT_STREQ(a2.argv()[3], "1");
    EXPECT_EQ(a2.argv()[4], nullptr);
}

TEST(epmd_cli, misspelled_flag_is_named_and_exits_1) {
    std::string err;
    auto [code, out] = run({"epmd", "-prot", "5"}, &err);
    EXPECT_EQ(code, 1);
    EXPECT_NE((out + err).find("-prot"), std::string::npos) << out << err;
    EXPECT_EQ(run({"epmd", "-names", "-kill"}).first, 1);
}

TEST(epmd_cli, foreground_serves_and_client_commands_print_like_epmd) {
    std::uint16_t port = 0;
    auto daemon = start_foreground(port);
    ASSERT_TRUE(daemon);
    const std::string p = std::to_string(port);

    auto [code, out] = run({"epmd", "-port", p, "-names"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, "epmd: up and running on port " + p + " with data:\n");

    asio::io_context io;
    client_options o;
    o.epmd_port = port;
    auto reg = register_and_wait(io, "foo", 1234, o);
    ASSERT_TRUE(reg.answer && *reg.answer);
    std::tie(code, out) = run({"epmd", "--port", p, "--names"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, "epmd: up and running on port " + p + " with data:\nname foo at port 1234\n");

    std::tie(code, out) = run({"epmd", "-port", p, "-dump"});
    EXPECT_EQ(code, 0);
    EXPECT_NE(out.find("active name     <foo> at port 1234, fd = "), std::string::npos) << out;

    std::tie(code, out) = run({"epmd", "-port", p, "-kill"});
    EXPECT_EQ(code, 1);
    EXPECT_EQ(out, "Killing not allowed - living nodes in database.\n");
    std::tie(code, out) = run({"epmd", "-port", p, "-stop", "foo"});
    EXPECT_EQ(code, 1);  // not relaxed: epmd closes without answering

    // A second port mapper on the same port: not an error, the first one serves.
    EXPECT_EQ(run({"epmd", "-port", p, "-address", "127.0.0.1"}).first, 0);

    reg.reg.close();
    run_until(
        io, [] { return false; }, 50ms);
    std::tie(code, out) = run({"epmd", "-port", p, "-kill"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, "Killed\n");
    auto st = daemon->wait(10s);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->ok()) << st->describe();
}

TEST(epmd_cli, relaxed_stop) {
    std::uint16_t port = 0;
    auto daemon = start_foreground(port, {"-relaxed_command_check"});
    ASSERT_TRUE(daemon);
    const std::string p = std::to_string(port);
    asio::io_context io;
    client_options o;
    o.epmd_port = port;
    auto reg = register_and_wait(io, "victim", 1, o);
    ASSERT_TRUE(reg.answer && *reg.answer);
    EXPECT_EQ(run({"epmd", "-port", p, "-stop", "nobody"}), (std::pair<int, std::string>{0, "NOEXIST\n"}));
    EXPECT_EQ(run({"epmd", "-port", p, "-stop", "victim"}), (std::pair<int, std::string>{0, "STOPPED\n"}));
    EXPECT_EQ(run({"epmd", "-port", p, "-names"}).second,
              "epmd: up and running on port " + p + " with data:\n");
}

TEST(epmd_cli, sigterm_and_sigint_exit_cleanly) {
    for (int sig : {SIGTERM, SIGINT}) {
        std::uint16_t port = 0;
        auto daemon = start_foreground(port);
        ASSERT_TRUE(daemon);
        daemon->signal(sig);
        auto st = daemon->wait(10s);
        ASSERT_TRUE(st);
        EXPECT_TRUE(st->ok()) << st->describe();
    }
}

TEST(epmd_cli, daemon_detaches_once_listening) {
    const std::uint16_t port = free_port();
    const std::string p = std::to_string(port);
    auto [code, out] = run({"epmd", "-port", p, "-address", "127.0.0.1", "-daemon"});
    ASSERT_EQ(code, 0);
    // The daemon listens as soon as the command returned.
    client_options o;
    o.epmd_port = port;
    auto names = names_sync("127.0.0.1", o);
    EXPECT_TRUE(names) << names.error().message();
    // Stop it through the protocol (it is not our child any more).
    std::tie(code, out) = run({"epmd", "-port", p, "-kill"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, "Killed\n");
}

TEST(epmd_cli, client_commands_without_a_port_mapper) {
    std::string err;
    auto [code, out] = run({"epmd", "-port", std::to_string(free_port()), "-names"}, &err);
    EXPECT_EQ(code, 1);
    EXPECT_EQ(err, "epmd: Cannot connect to local epmd\n");
}

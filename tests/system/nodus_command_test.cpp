// System tests of the built `nodus` binary: `nodus eval`, `nodus shell` (stdin piped) and
// `nodus node` run as real processes against a real erl node started by the test, on loopback
// only (long names @127.0.0.1, listening on 127.0.0.1, a private epmd on a free port). Every
// process is started here and stopped by its PID (child_process).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "cluster.hpp"
#include "nodus/node/net.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::test;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

const std::string loopback_only[] = {"-kernel", "inet_dist_use_interface", "{127,0,0,1}"};

struct run_result {
    exit_status status;
    std::string out;
    std::string err;
    std::vector<std::string> lines() const {
        std::vector<std::string> v;
        std::istringstream in(out);
        std::string l;
        while (std::getline(in, l)) v.push_back(l);
        return v;
    }
    // The whole output with line breaks and their indentation removed (~tp breaks long values).
    std::string flat() const {
        std::string f;
        for (auto& l : lines()) f += l.substr(std::min(l.size(), l.find_first_not_of(' ')));
        return f;
    }
    std::string last_line() const {
        auto v = lines();
        return v.empty() ? std::string() : v.back();
    }
};

spawn_options nodus_command(std::vector<std::string> args, std::uint16_t epmd_port = 0) {
    spawn_options so;
    so.argv = {NODUS_CLI};
    for (auto& a : args) so.argv.push_back(a);
    if (epmd_port) so.env = {{"ERL_EPMD_PORT", std::to_string(epmd_port)}};
    so.env.emplace_back("HOME", ::testing::TempDir());  // never the user's ~/.erlang.cookie or history
    so.err = stderr_mode::capture;
    return so;
}

run_result run_nodus(std::vector<std::string> args, const std::string& input = "", std::uint16_t epmd_port = 0,
                     duration timeout = 60s) {
    child_process p(nodus_command(std::move(args), epmd_port));
    if (!input.empty()) p.write(input);
    p.close_stdin();
    run_result r;
    r.out = p.read_all(timeout);
    auto st = p.wait(10s);
    r.status = st ? *st : p.stop();
    r.err = p.stderr_text();
    return r;
}

// A node's flags: long name on 127.0.0.1, the test's cookie and epmd, listening on loopback.
std::vector<std::string> node_flags(const std::string& name, const std::string& cookie, std::uint16_t epmd_port) {
    std::vector<std::string> v = {"-name", name + "@127.0.0.1", "-setcookie", cookie, "-epmd_port",
                                  std::to_string(epmd_port)};
    for (auto& a : loopback_only) v.push_back(a);
    return v;
}

// `nodus <command> <flags...> <more...>`.
std::vector<std::string> with(const std::string& command, std::vector<std::string> flags,
                              std::initializer_list<std::string> more) {
    std::vector<std::string> a = {command};
    for (auto& f : flags) a.push_back(f);
    for (auto& m : more) a.push_back(m);
    return a;
}

// A real erl node with an echo server registered as `echo` ({From, Msg} -> From ! {echo, Msg})
// and a collector registered as `inbox` that answers {get, From} with what it got.
class erl_peer {
public:
    erl_peer(const std::string& erl, const std::string& name, const std::string& cookie, std::uint16_t epmd_port)
        : name_(name + "@127.0.0.1") {
        erl_options o;
        o.args = {"-name", name_};
        for (auto& a : loopback_only) o.args.push_back(a);
        o.cookie = cookie;
        o.env = {{"ERL_EPMD_PORT", std::to_string(epmd_port)}};
        o.eval =
            "register(echo, spawn(fun L() -> receive {F, M} -> F ! {echo, M}, L(); _ -> L() end end)), "
            "register(inbox, spawn(fun L2() -> L3 = fun G(Acc) -> receive {get, F} -> F ! {inbox, lists:reverse(Acc)}, "
            "G([]); M -> G([M | Acc]) end end, L3([]) end)), "
            "io:format(\"READY~n\").";
        proc_ = start_erl(erl, o);
        auto line = proc_->read_line(30s);
        if (!line || *line != "READY")
            throw std::runtime_error("erl did not start: " + proc_->stderr_text());
    }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    std::unique_ptr<child_process> proc_;
};

class nodus_command_test : public ::testing::Test {
protected:
    std::string cookie = "nodus_sys_cookie";
};

// ---- without a node ----

TEST_F(nodus_command_test, eval_prints_the_last_value_after_the_output) {
    auto r = run_nodus({"eval", "-e", "io:format(\"hello ~p~n\", [world]), X = 20.", "-e", "{X + 22, \"text\"}"});
    EXPECT_TRUE(r.status.ok()) << r.status.describe() << r.err;
    EXPECT_EQ(r.out, "hello world\n{42,\"text\"}\n");
}

TEST_F(nodus_command_test, eval_errors_are_one_line_and_a_failure_status) {
    auto r = run_nodus({"eval", "-e", "hd([])."});
    EXPECT_EQ(r.status.code, 1) << r.status.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "** exception error: bad argument in function hd/1 called as hd([]) *** argument 1: not a "
              "nonempty list\n");
    auto s = run_nodus({"eval", "-e", "foo(."});
    EXPECT_EQ(s.status.code, 1);
    EXPECT_EQ(s.err, "* 1:5: syntax error before: '.'\n");
    auto u = run_nodus({"eval", "-e", "X + 1."});
    EXPECT_EQ(u.status.code, 1);
    EXPECT_EQ(u.err, "* 1:1: variable 'X' is unbound\n");
}

TEST_F(nodus_command_test, unknown_or_misspelled_flags_are_named) {
    auto a = run_nodus({"eval", "-snmae", "x", "-e", "1."});
    EXPECT_EQ(a.status.code, 2);
    EXPECT_NE(a.err.find("unknown flag: -snmae"), std::string::npos) << a.err;
    auto b = run_nodus({"shell", "--cookei", "c"});
    EXPECT_EQ(b.status.code, 2);
    EXPECT_NE(b.err.find("--cookei"), std::string::npos) << b.err;
    auto c = run_nodus({"node", "-sname", "x", "-kernel", "inet_dist_listen_mn", "9100"});
    EXPECT_EQ(c.status.code, 2);
    EXPECT_NE(c.err.find("inet_dist_listen_mn"), std::string::npos) << c.err;
    auto d = run_nodus({"eval", "--erl", "-kernel net_tiktime 5", "-e", "1."});
    EXPECT_EQ(d.status.code, 2);
    EXPECT_NE(d.err.find("net_tiktime"), std::string::npos) << d.err;
}

TEST_F(nodus_command_test, piped_shell_prints_each_result_and_exits_at_end_of_input) {
    std::string input =
        "X = 2.\n"
        "X * 21.\n"
        "io:format(\"hi~n\").\n"
        "hd([]).\n"
        "X.\n"
        "foo(.\n"
        "Y = X +\n"
        "  1. Y * 2.\n"
        "self() ! {msg, 1}, flush().\n"
        "f(X), X.\n"
        "node().\n";
    auto r = run_nodus({"shell"}, input);
    EXPECT_TRUE(r.status.ok()) << r.status.describe() << r.err;
    std::vector<std::string> want = {
        "2",
        "42",
        "hi",
        "ok",
        "** exception error: bad argument",
        "     in function  hd/1",
        "        called as hd([])",
        "        *** argument 1: not a nonempty list",
        "2",
        "* 1:5: syntax error before: '.'",
        "3",
        "6",
        "Shell got {msg,1}",
        "ok",
        "* 1:7: variable 'X' is unbound",
        "nonode@nohost",
    };
    EXPECT_EQ(r.lines(), want) << r.out;
}

TEST_F(nodus_command_test, halt_ends_the_shell_with_its_status) {
    auto r = run_nodus({"shell"}, "1.\nhalt(3).\n2.\n");
    EXPECT_EQ(r.status.code, 3) << r.status.describe();
    EXPECT_EQ(r.out, "1\n");
}

// ---- on a terminal (a pseudo-terminal made by the test) ----

// `nodus shell` on a pty: the child is stopped by its PID (SIGKILL) if still running at the end.
class pty_shell {
public:
    explicit pty_shell(std::vector<std::string> args) {
        std::vector<std::string> argv = {NODUS_CLI, "shell"};
        for (auto& a : args) argv.push_back(a);
        std::string home = ::testing::TempDir();
        pid_ = ::forkpty(&fd_, nullptr, nullptr, nullptr);
        if (pid_ == 0) {
            ::setenv("HOME", home.c_str(), 1);
            ::setenv("TERM", "xterm", 1);
            std::vector<char*> cargv;
            for (auto& a : argv) cargv.push_back(a.data());
            cargv.push_back(nullptr);
            ::execv(cargv[0], cargv.data());
            ::_exit(127);
        }
    }
    ~pty_shell() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    bool started() const { return pid_ > 0 && fd_ >= 0; }
    // Keys typed right after a prompt can reach the terminal before libedit has switched it to
    // raw mode (a Ctrl-D would then be lost), as no person types: give it a moment first.
    void type(const std::string& keys) {
        std::this_thread::sleep_for(300ms);
        (void)!::write(fd_, keys.data(), keys.size());
    }
    // Reads until `what` has appeared in everything read so far (true), or the timeout.
    bool expect(const std::string& what, duration timeout = 20s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (seen_.find(what, pos_) == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return seen_.find(what, pos_) != std::string::npos;
            seen_.append(buf, static_cast<std::size_t>(n));
        }
        pos_ = seen_.find(what, pos_) + what.size();
        return true;
    }
    const std::string& seen() const { return seen_; }
    std::optional<int> wait_exit(duration timeout = 20s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            char buf[4096];
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) > 0) {
                ssize_t n = ::read(fd_, buf, sizeof buf);
                if (n > 0) seen_.append(buf, static_cast<std::size_t>(n));
            }
            int st;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return status_;
            }
        }
        return std::nullopt;
    }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string seen_;
    std::size_t pos_ = 0;
    std::optional<int> status_;
};

TEST_F(nodus_command_test, terminal_shell_prompts_edits_recalls_history_and_leaves_on_ctrl_d) {
    pty_shell sh({});
    ASSERT_TRUE(sh.started());
    ASSERT_TRUE(sh.expect("1> ")) << sh.seen();
    sh.type("X = 1 +\r");
    ASSERT_TRUE(sh.expect("1> ")) << sh.seen();  // erl repeats the prompt for a continued command
    sh.type("41.\r");
    ASSERT_TRUE(sh.expect("42\r\n2> ")) << sh.seen();
    // Line editing: type, move left over two characters, insert, finish the line.
    sh.type("{X, b}.\x1b[D\x1b[D\x1b[D\x1b[Da, \r");
    ASSERT_TRUE(sh.expect("{42,a,b}\r\n3> ")) << sh.seen();
    // History: the previous line again.
    sh.type("\x1b[A\r");
    ASSERT_TRUE(sh.expect("{42,a,b}\r\n4> ")) << sh.seen();
    sh.type("\x04");  // Ctrl-D
    auto st = sh.wait_exit();
    ASSERT_TRUE(st) << sh.seen();
    EXPECT_EQ(*st, 0);
}

TEST_F(nodus_command_test, terminal_shell_on_a_node_shows_its_name_and_leaves_on_ctrl_c) {
    epmd_daemon epmd;
    std::string me = unique_name("sys_tty");
    pty_shell sh(node_flags(me, cookie, epmd.port()));
    ASSERT_TRUE(sh.started());
    ASSERT_TRUE(sh.expect("(" + me + "@127.0.0.1)1> ")) << sh.seen();
    sh.type("node().\r");
    ASSERT_TRUE(sh.expect("(" + me + "@127.0.0.1)2> ")) << sh.seen();
    // Ctrl-C while a command waits for ever: the shell leaves, the node stops cleanly.
    sh.type("receive after infinity -> ok end.\r");
    ASSERT_TRUE(sh.expect("end.\r\n")) << sh.seen();
    sh.type("\x03");
    auto st = sh.wait_exit();
    ASSERT_TRUE(st) << sh.seen();
    EXPECT_EQ(*st, 0);
}

// ---- against a real erl node ----

TEST_F(nodus_command_test, eval_pings_sends_to_a_registered_process_and_calls_erl) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    erl_peer peer(erl, unique_name("sys_erl"), cookie, epmd.port());
    const std::string& e = peer.name();
    std::string exprs = "net_kernel:monitor_nodes(true), pong = net_adm:ping('" + e +
                        "'), {nodeup, _} = receive U -> U after 5000 -> no_nodeup end, {echo, '" + e +
                        "'} ! {self(), hi}, R = receive M -> M after 5000 -> timeout end, "
                        "{R, nodes(), rpc:call('" + e + "', lists, reverse, [[1,2,3]]), erpc:call('" + e +
                        "', erlang, node, []), rpc:call('" + e + "', erlang, nodes, [])}.";
    std::string me = unique_name("sys_eval");
    auto r = run_nodus(with("eval", node_flags(me, cookie, epmd.port()), {"-e", exprs}), "", epmd.port());
    ASSERT_TRUE(r.status.ok()) << r.status.describe() << "\n" << r.out << r.err;
    EXPECT_EQ(r.flat(), "{{echo,hi},['" + e + "'],[3,2,1],'" + e + "',['" + me + "@127.0.0.1']}");
}

TEST_F(nodus_command_test, a_hidden_eval_node_is_not_in_erls_nodes) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    erl_peer peer(erl, unique_name("sys_erl"), cookie, epmd.port());
    const std::string& e = peer.name();
    std::string me = unique_name("sys_hidden") + "@127.0.0.1";
    std::string exprs = "pong = net_adm:ping('" + e + "'), {nodes(), nodes(hidden), rpc:call('" + e +
                        "', erlang, nodes, []), rpc:call('" + e + "', erlang, nodes, [hidden])}.";
    auto r = run_nodus(with("eval", node_flags(me.substr(0, me.find('@')), cookie, epmd.port()), {"--hidden", "-e", exprs}),
                       "", epmd.port());
    ASSERT_TRUE(r.status.ok()) << r.status.describe() << "\n" << r.out << r.err;
    EXPECT_EQ(r.flat(), "{[],['" + e + "'],[],['" + me + "']}");
}

TEST_F(nodus_command_test, a_wrong_cookie_gives_pang_until_set_cookie) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    erl_peer peer(erl, unique_name("sys_erl"), cookie, epmd.port());
    auto r = run_nodus(with("eval", node_flags(unique_name("sys_bad"), "not_the_cookie", epmd.port()),
                            {"-e", "A = {net_adm:ping('" + peer.name() + "'), nodes()}, "
                                   "true = erlang:set_cookie('" + peer.name() + "', " + cookie + "), "
                                   "{A, net_kernel:connect_node('" + peer.name() + "'), length(nodes())}."}),
                       "", epmd.port());
    ASSERT_TRUE(r.status.ok()) << r.status.describe() << r.err;
    // With the peer's cookie set for it (erlang:set_cookie/2), the connection is made.
    EXPECT_EQ(r.last_line(), "{{pang,[]},true,1}");
}

TEST_F(nodus_command_test, shell_session_with_erl_messages_and_rpc_both_ways) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    erl_peer peer(erl, unique_name("sys_erl"), cookie, epmd.port());
    const std::string e = "'" + peer.name() + "'";
    std::string me = unique_name("sys_shell") + "@127.0.0.1";
    std::string m = "'" + me + "'";
    std::string input =
        "net_adm:ping(" + e + ").\n"
        "nodes().\n"
        "register(shellbox, self()).\n"
        // erl sends to our registered process, and calls back into this node by rpc.
        "rpc:call(" + e + ", erlang, send, [{shellbox, " + m + "}, from_erl]).\n"
        "receive X -> X after 5000 -> timeout end.\n"
        "rpc:call(" + e + ", rpc, call, [" + m + ", lists, reverse, [[1, 2]]]).\n"
        // A shell fun runs on erl (an OTP 25 erl_eval fun), and its output comes back here.
        "rpc:call(" + e + ", erlang, apply, [fun() -> {node(), 7} end, []]).\n"
        "{inbox, " + e + "} ! one, {inbox, " + e + "} ! two, {inbox, " + e + "} ! {get, self()}, "
        "receive {inbox, L} -> L after 5000 -> timeout end.\n"
        "rpc:cast(" + e + ", erlang, send, [{shellbox, " + m + "}, cast_back]).\n"
        "receive C -> C after 5000 -> timeout end.\n"
        "gen_server:call({net_kernel, " + e + "}, {is_auth, node()}).\n"
        "rpc:multicall([node(), " + e + "], erlang, node, []).\n"
        // A shell fun spawned on erl sends back to this node.
        "spawn(" + e + ", fun() -> {shellbox, " + m + "} ! {from, node()} end), "
        "receive {from, N} -> N after 5000 -> timeout end.\n"
        // Output of a process spawned on erl comes to this shell (its group leader is ours).
        "spawn(" + e + ", fun() -> io:format(\"remote hello from ~p~n\", [node()]) end), timer:sleep(500).\n"
        "erlang:disconnect_node(" + e + ").\n";
    auto flags = node_flags(me.substr(0, me.find('@')), cookie, epmd.port());
    flags.insert(flags.begin(), "shell");
    auto r = run_nodus(flags, input, epmd.port());
    ASSERT_TRUE(r.status.ok()) << r.status.describe() << "\n" << r.out << r.err;
    std::vector<std::string> want = {
        "pong", "[" + e + "]", "true", "from_erl", "from_erl", "[2,1]", "{" + e + ",7}", "[one,two]", "true",
        "cast_back", "yes", "{[" + m + "," + e + "],[]}", e, "remote hello from " + e, "ok", "true",
    };
    EXPECT_EQ(r.lines(), want) << r.out << r.err;
}

TEST_F(nodus_command_test, erl_reaches_a_headless_node_which_stops_cleanly_on_sigterm) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    std::string me = unique_name("sys_node");
    std::uint16_t port = free_port();
    auto flags = node_flags(me, cookie, epmd.port());
    flags.insert(flags.begin(), "node");
    for (const char* a : {"-kernel", "inet_dist_listen_min"}) flags.push_back(a);
    flags.push_back(std::to_string(port));
    flags.push_back("inet_dist_listen_max");
    flags.push_back(std::to_string(port));
    child_process node(nodus_command(flags, epmd.port()));
    // Registered with the port mapper on the port asked for.
    auto epmd_prog = find_program("epmd");
    ASSERT_TRUE(epmd_prog);
    auto names = [&] {
        spawn_options so;
        so.argv = {*epmd_prog, "-port", std::to_string(epmd.port()), "-names"};
        child_process p(so);
        std::string out = p.read_all(10s);
        p.wait(10s);
        return out;
    };
    ASSERT_TRUE(eventually([&] { return names().find("name " + me + " at port " + std::to_string(port)) !=
                                        std::string::npos; }))
        << names() << node.stderr_text();
    // erl: ping, rpc into the node's exported functions, a message to a process it spawns there.
    std::string full = "'" + me + "@127.0.0.1'";
    erl_options o;
    o.args = {"-name", unique_name("sys_erlc") + "@127.0.0.1"};
    for (auto& a : loopback_only) o.args.push_back(a);
    o.cookie = cookie;
    o.env = {{"ERL_EPMD_PORT", std::to_string(epmd.port())}};
    o.eval = "R = {net_adm:ping(" + full + "), rpc:call(" + full + ", lists, seq, [1, 3]), rpc:call(" + full +
             ", erlang, node, []), lists:member(" + full + ", nodes()), erpc:call(" + full +
             ", erlang, is_alive, [])}, io:format(\"~p~n\", [R]), halt().";
    auto client = start_erl(erl, o);
    std::string out = client->read_all(60s);
    client->wait(10s);
    EXPECT_EQ(out, "{pong,[1,2,3]," + full + ",true,true}\n") << client->stderr_text();
    node.signal(SIGTERM);
    auto st = node.wait(20s);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->ok()) << st->describe() << node.stderr_text();
    EXPECT_EQ(names().find("name " + me + " "), std::string::npos) << names();
}

// kill -9 of a nodus peer (the `nodus node` binary): links and monitors to its processes fire
// with noconnection, nodedown is delivered, the peer is gone from nodes(), and the same node
// restarted is reachable again.
TEST_F(nodus_command_test, a_killed_nodus_peer_gives_noconnection_and_comes_back_when_restarted) {
    epmd_daemon epmd;
    std::string me = unique_name("sys_kill");
    auto flags = node_flags(me, cookie, epmd.port());
    flags.insert(flags.begin(), "node");
    auto peer_proc = std::make_unique<child_process>(nodus_command(flags, epmd.port()));
    ASSERT_TRUE(eventually([&] { return peer_proc->stderr_text().find("running") != std::string::npos; }, 30s))
        << peer_proc->stderr_text();
    auto obs = start_nodus(unique_name("sys_obs") + "@127.0.0.1", cookie, epmd.port(), [](node_config& c) {
        c.naming = naming_mode::longnames;
        c.listen_address = "127.0.0.1";
    });
    atom peer(me + "@127.0.0.1");
    ASSERT_TRUE(obs->connect(peer));
    term args = list({term(atom("net_kernel"))});  // not inside co_await: docs/adr/0002
    term remote = in_process(*obs, [peer, args]() -> task<term> {
        term r = co_await erpc::call(peer, atom("erlang"), atom("whereis"), args);
        co_return r;
    });
    ASSERT_TRUE(remote.is_pid()) << format_p(remote);
    scoped_process p(obs->rt());
    p.trap_exit(true);
    p.link(remote.as_pid());
    reference ref = p.monitor(remote);
    scoped_process watcher(obs->rt());
    pid wpid = watcher.self();
    obs->rt().spawn([wpid]() -> task<> {
        net_kernel::monitor_nodes(true);
        auto m = co_await receive();
        send(wpid, *m);
    });
    std::this_thread::sleep_for(300ms);
    peer_proc->signal(SIGKILL);
    peer_proc->wait(10s);
    bool exit_seen = false, down_seen = false;
    for (int i = 0; i < 2; ++i) {
        auto m = p.receive(10s);
        ASSERT_TRUE(m) << "got " << i << " of 2 signals";
        exit_seen = exit_seen || *m == tuple(atoms::EXIT, remote, atoms::noconnection);
        down_seen = down_seen || *m == tuple(atoms::DOWN, ref, atoms::process, remote, atoms::noconnection);
    }
    EXPECT_TRUE(exit_seen);
    EXPECT_TRUE(down_seen);
    auto nd = watcher.receive(10s);
    ASSERT_TRUE(nd);
    EXPECT_EQ(*nd, tuple(atoms::nodedown, peer));
    EXPECT_TRUE(obs->nodes().empty());
    // Restarted under the same name: reachable again.
    peer_proc = std::make_unique<child_process>(nodus_command(flags, epmd.port()));
    EXPECT_TRUE(eventually([&] { return obs->connect(peer, 2s); }, 30s)) << peer_proc->stderr_text();
    EXPECT_EQ(obs->nodes(), std::vector<atom>{peer});
}

TEST_F(nodus_command_test, a_headless_node_stops_cleanly_on_sigint) {
    epmd_daemon epmd;
    std::string me = unique_name("sys_int");
    auto flags = node_flags(me, cookie, epmd.port());
    flags.insert(flags.begin(), "node");
    child_process node(nodus_command(flags, epmd.port()));
    ASSERT_TRUE(eventually([&] { return node.stderr_text().find("running") != std::string::npos; }, 30s))
        << node.stderr_text();
    node.signal(SIGINT);
    auto st = node.wait(20s);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->ok()) << st->describe() << node.stderr_text();
}

}  // namespace

// The port mapper against OTP 25 itself, both ways:
//  - our client against the real `epmd` (started here in the foreground, on a free loopback port,
//    and stopped by PID): register, look up, list, dump, duplicates, creations, KILL/STOP, and
//    re-registration after epmd restarts;
//  - real `erl` nodes against our server (ERL_EPMD_PORT): they register, net_adm:names() lists
//    them, one node finds and pings the other through it, and a node's exit unregisters it;
//  - the real `epmd` binary as a client (-names, -dump, -kill, -stop) against our server.
// Nothing listens beyond loopback; nothing touches port 4369.
#include <gtest/gtest.h>
#include <netdb.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "child_process.hpp"
#include "epmd_test_util.hpp"

using namespace nodus;
using namespace nodus::epmd;
using namespace nodus::epmd::test;
using nodus::test::child_process;
using nodus::test::spawn_options;

namespace {

std::string epmd_path() {
    if (auto p = nodus::test::find_program("epmd")) return *p;
    // Debian puts it in /usr/bin; the OTP tree also has it next to erts.
    return "/usr/bin/epmd";
}

// The real epmd in the foreground, on loopback only (-address 127.0.0.1 adds ::1 itself).
class real_epmd {
public:
    explicit real_epmd(std::vector<std::string> extra = {}, std::uint16_t port = 0)
        : extra_(std::move(extra)) {
        start(port);
    }
    void start(std::uint16_t wanted = 0) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = wanted != 0 ? wanted : free_port();
            spawn_options o;
            o.argv = {epmd_path(), "-port", std::to_string(port_), "-address", "127.0.0.1"};
            o.argv.insert(o.argv.end(), extra_.begin(), extra_.end());
            o.unset_env = {"ERL_EPMD_PORT", "ERL_EPMD_ADDRESS", "ERL_EPMD_RELAXED_COMMAND_CHECK"};
            proc_ = std::make_unique<child_process>(o);
            // epmd exits 0 at once when the port is taken: only a running child counts.
            for (int i = 0; i < 200 && proc_->running(); ++i) {
                if (names_sync("127.0.0.1", client()) && proc_->running()) return;
                std::this_thread::sleep_for(20ms);
            }
            proc_.reset();
            if (wanted != 0) break;
        }
        FAIL() << "could not start epmd";
    }
    void stop() {
        if (proc_) proc_->stop();
        proc_.reset();
    }
    client_options client() const {
        client_options o;
        o.epmd_port = port_;
        o.timeout = 5s;
        return o;
    }
    std::uint16_t port() const { return port_; }
    child_process* process() { return proc_.get(); }

private:
    std::vector<std::string> extra_;
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> proc_;
};

// Runs the real epmd binary as a client: its stdout and exit code.
std::pair<int, std::string> epmd_client(std::uint16_t port, std::vector<std::string> args) {
    spawn_options o;
    o.argv = {epmd_path(), "-port", std::to_string(port)};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.err = nodus::test::stderr_mode::merge;
    child_process p(o);
    std::string out = p.read_all(20s);
    auto st = p.wait(20s);
    return {st ? st->code : -1, out};
}

bool wait_listed(const client_options& o, const std::string& name, bool present,
                 std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto r = names_sync("127.0.0.1", o);
        bool found = r && std::any_of(r->nodes.begin(), r->nodes.end(),
                                      [&](const name_entry& e) { return e.name == name; });
        if (found == present) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

std::string unique(const std::string& base) {
    return base + std::to_string(::getpid());
}

// Our server listens on loopback and, when this host's name resolves to another loopback address,
// on that one too: net_adm:names() asks the port mapper at the host's own name.
std::vector<std::string> loopback_addresses_of_this_host() {
    std::vector<std::string> out = {"127.0.0.1"};
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return out;
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host, nullptr, &hints, &res) != 0) return out;
    for (auto* a = res; a; a = a->ai_next) {
        auto* sin = reinterpret_cast<sockaddr_in*>(a->ai_addr);
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) continue;
        char text[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
    }
    ::freeaddrinfo(res);
    return out;
}

}  // namespace

// ---- our client, the real epmd ----

TEST(epmd_interop, our_client_registers_looks_up_and_lists_on_real_epmd) {
    real_epmd e;
    asio::io_context io;
    const std::string name = unique("nodusreg");
    auto r = register_and_wait(io, name, 40001, e.client());
    ASSERT_TRUE(r.answer && *r.answer) << (r.answer ? r.answer->error().message() : "no answer");
    EXPECT_GE(**r.answer, 4u);

    auto info = port_please_sync("localhost", name, e.client());
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->port, 40001);
    EXPECT_EQ(info->type, node_type::normal);
    EXPECT_EQ(info->protocol, 0);
    EXPECT_EQ(info->highest_version, 6);
    EXPECT_EQ(info->lowest_version, 5);
    EXPECT_EQ(info->name, name);
    EXPECT_EQ(info->extra, "");

    auto list = names_sync("127.0.0.1", e.client());
    ASSERT_TRUE(list) << list.error().message();
    EXPECT_EQ(list->epmd_port, e.port());
    EXPECT_EQ(list->nodes, (std::vector<name_entry>{{name, 40001}}));

    auto d = dump_sync("127.0.0.1", e.client());
    ASSERT_TRUE(d) << d.error().message();
    ASSERT_EQ(d->records.size(), 1u);
    auto rec = parse_dump_record(d->records[0]);
    ASSERT_TRUE(rec) << d->records[0];
    EXPECT_TRUE(rec->active);
    EXPECT_EQ(rec->name, name);
    EXPECT_EQ(rec->port, 40001);

    // A hidden (C) node type comes back as registered.
    auto hidden = register_and_wait(io, name + "h", 40002, e.client(), node_type::hidden);
    ASSERT_TRUE(hidden.answer && *hidden.answer);
    EXPECT_EQ(port_please_sync("127.0.0.1", name + "h", e.client())->type, node_type::hidden);

    auto missing = port_please_sync("127.0.0.1", "nosuchnode", e.client());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, errc::not_found);

    // Duplicates are refused.
    auto dup = register_and_wait(io, name, 40003, e.client());
    ASSERT_TRUE(dup.answer && !*dup.answer);
    EXPECT_EQ(dup.answer->error().code, errc::duplicate_name);

    // Closing unregisters; registering again gets another creation.
    const std::uint32_t first = **r.answer;
    r.reg.close();
    run_until(
        io, [] { return false; }, 50ms);
    ASSERT_TRUE(wait_listed(e.client(), name, false, 5s));
    auto again = register_and_wait(io, name, 40001, e.client());
    ASSERT_TRUE(again.answer && *again.answer);
    EXPECT_NE(**again.answer, first);
    EXPECT_GE(**again.answer, 4u);
}

TEST(epmd_interop, unicode_names_on_real_epmd) {
    real_epmd e;
    asio::io_context io;
    std::string name = "n\xC3\xB6" + unique("d\xF0\x9F\x98\x88");
    auto r = register_and_wait(io, name, 40010, e.client());
    ASSERT_TRUE(r.answer && *r.answer);
    auto info = port_please_sync("127.0.0.1", name, e.client());
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->name, name);
    auto list = names_sync("127.0.0.1", e.client());
    ASSERT_TRUE(list);
    EXPECT_EQ(list->nodes, (std::vector<name_entry>{{name, 40010}}));
}

TEST(epmd_interop, real_epmd_kill_and_stop_rules) {
    {
        real_epmd e;
        asio::io_context io;
        auto r = register_and_wait(io, unique("live"), 40020, e.client());
        ASSERT_TRUE(r.answer && *r.answer);
        EXPECT_EQ(kill_sync("127.0.0.1", e.client()).error().code, errc::not_allowed);
        EXPECT_EQ(stop_sync("127.0.0.1", unique("live"), e.client()).error().code, errc::not_allowed);
        r.reg.close();
        run_until(
            io, [] { return false; }, 50ms);
        ASSERT_TRUE(wait_listed(e.client(), unique("live"), false, 5s));
        EXPECT_TRUE(kill_sync("127.0.0.1", e.client()));
        auto st = e.process()->wait(10s);
        ASSERT_TRUE(st);
        EXPECT_TRUE(st->ok()) << st->describe();
    }
    {
        real_epmd e({"-relaxed_command_check"});
        asio::io_context io;
        auto r = register_and_wait(io, unique("victim"), 40021, e.client());
        ASSERT_TRUE(r.answer && *r.answer);
        // epmd 25 answers "NOEXIST" then "STOPPED" for an unknown name.
        EXPECT_EQ(*stop_sync("127.0.0.1", "nobody", e.client()), stop_result::noexist);
        EXPECT_EQ(*stop_sync("127.0.0.1", unique("victim"), e.client()), stop_result::stopped);
        EXPECT_TRUE(wait_listed(e.client(), unique("victim"), false, 5s));
        ASSERT_TRUE(run_until(io, [&] { return r.reg.current() == registration::state::lost; }));
        r.reg.close();
        auto live = register_and_wait(io, unique("other"), 40022, e.client());
        ASSERT_TRUE(live.answer && *live.answer);
        EXPECT_TRUE(kill_sync("127.0.0.1", e.client()));  // relaxed: even with a live node
        auto st = e.process()->wait(10s);
        ASSERT_TRUE(st);
        EXPECT_TRUE(st->ok()) << st->describe();
    }
}

// OTP's erl_epmd: when epmd goes away, register again every 2 s and keep the first creation.
TEST(epmd_interop, reregisters_when_real_epmd_restarts) {
    real_epmd e;
    asio::io_context io;
    const std::string name = unique("phoenix");
    auto r = register_and_wait(io, name, 40030, e.client());  // the default 2 s interval
    ASSERT_TRUE(r.answer && *r.answer);
    const std::uint32_t creation = **r.answer;
    const std::uint16_t port = e.port();
    e.stop();
    ASSERT_TRUE(run_until(io, [&] { return r.reg.current() == registration::state::lost; }));
    e.start(port);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(run_until(
        io, [&] { return r.reg.current() == registration::state::registered; }, 8s));
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 4s);
    EXPECT_TRUE(wait_listed(e.client(), name, true, 2s));
    EXPECT_EQ(r.reg.creation(), creation);
    EXPECT_EQ(r.reg.reregistrations(), 1u);
}

// ---- real erl nodes, our server ----

TEST(epmd_interop, real_erl_nodes_register_and_find_each_other_through_our_server) {
    NODUS_REQUIRE_ERL(erl);
    server_options so;
    so.addresses = loopback_addresses_of_this_host();
    server_fixture s(so);
    const std::string port = std::to_string(s.port());
    const std::string a = unique("nodusepmda"), b_name = unique("nodusepmdb");
    const std::vector<std::pair<std::string, std::string>> env = {{"ERL_EPMD_PORT", port}};

    nodus::test::erl_options ao;
    ao.sname = a;
    ao.cookie = "epmdcookie";
    ao.args = {"-start_epmd", "false"};
    ao.env = env;
    ao.eval =
        "io:format(\"node ~s~n\", [node()]),"
        "io:format(\"creation ~p~n\", [erlang:system_info(creation)]),"
        "io:format(\"names ~p~n\", [net_adm:names()]).";
    auto node_a = nodus::test::start_erl(erl, ao);
    auto node_line = node_a->read_line(30s);
    ASSERT_TRUE(node_line) << node_a->stderr_text();
    ASSERT_EQ(node_line->rfind("node ", 0), 0u) << *node_line;
    const std::string a_node = node_line->substr(5);
    auto creation_line = node_a->read_line(10s);
    ASSERT_TRUE(creation_line);
    const std::string creation = creation_line->substr(9);
    auto names_line = node_a->read_line(10s);
    ASSERT_TRUE(names_line) << node_a->stderr_text();

    // net_adm:names() on the node lists itself, at the port our server has for it.
    auto registered = s.registered();
    ASSERT_EQ(registered.size(), 1u);
    EXPECT_EQ(registered[0].name, a);
    EXPECT_EQ(registered[0].type, node_type::normal);
    EXPECT_EQ(registered[0].highest_version, 6);
    EXPECT_EQ(registered[0].lowest_version, 5);
    EXPECT_EQ(*names_line, "names {ok,[{\"" + a + "\"," + std::to_string(registered[0].port) + "}]}");
    // The creation the node uses is the one our server handed out.
    EXPECT_TRUE(s.logged(log_level::info, "registering '" + a + ":" + creation + "'")) << creation;

    // The real epmd binary, as a client of our server.
    auto [code, out] = epmd_client(s.port(), {"-names"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, "epmd: up and running on port " + port + " with data:\nname " + a + " at port " +
                       std::to_string(registered[0].port) + "\n");
    std::tie(code, out) = epmd_client(s.port(), {"-dump"});
    EXPECT_EQ(code, 0);
    EXPECT_NE(
        out.find("active name     <" + a + "> at port " + std::to_string(registered[0].port) + ", fd = "),
        std::string::npos)
        << out;
    std::tie(code, out) = epmd_client(s.port(), {"-kill"});
    EXPECT_EQ(code, 1);
    EXPECT_EQ(out, "Killing not allowed - living nodes in database.\n");

    // Node b finds node a through our server (PORT_PLEASE2) and connects.
    nodus::test::erl_options bo;
    bo.sname = b_name;
    bo.cookie = "epmdcookie";
    bo.args = {"-start_epmd", "false"};
    bo.env = env;
    bo.eval = "io:format(\"ping ~p~n\", [net_adm:ping('" + a_node + "')]), halt().";
    auto node_b = nodus::test::start_erl(erl, bo);
    auto ping = node_b->read_line(30s);
    ASSERT_TRUE(ping) << node_b->stderr_text();
    EXPECT_EQ(*ping, "ping pong");
    auto st = node_b->wait(20s);
    ASSERT_TRUE(st);
    EXPECT_TRUE(s.wait_names({a}));  // b unregistered when it halted

    // Node a's exit closes its registration connection: unregistered.
    node_a->stop();
    EXPECT_TRUE(s.wait_names({}));
    std::tie(code, out) = epmd_client(s.port(), {"-names"});
    EXPECT_EQ(out, "epmd: up and running on port " + port + " with data:\n");
}

TEST(epmd_interop, real_erl_restarted_gets_a_new_creation_from_our_server) {
    NODUS_REQUIRE_ERL(erl);
    server_fixture s;
    std::vector<std::string> creations;
    for (int i = 0; i < 2; ++i) {
        nodus::test::erl_options o;
        o.sname = unique("nodusepmdc");
        o.cookie = "epmdcookie";
        o.args = {"-start_epmd", "false"};
        o.env = {{"ERL_EPMD_PORT", std::to_string(s.port())}};
        o.eval = "io:format(\"creation ~p~n\", [erlang:system_info(creation)]), halt().";
        auto node = nodus::test::start_erl(erl, o);
        auto line = node->read_line(30s);
        ASSERT_TRUE(line) << node->stderr_text();
        creations.push_back(*line);
        node->wait(20s);
        ASSERT_TRUE(s.wait_names({}));
    }
    EXPECT_NE(creations[0], creations[1]);
}

TEST(epmd_interop, real_epmd_client_stop_against_our_relaxed_server) {
    server_options so;
    so.relaxed_command_check = true;
    server_fixture s(so);
    asio::io_context io;
    auto r = register_and_wait(io, "victim", 1, s.client());
    ASSERT_TRUE(r.answer && *r.answer);
    EXPECT_EQ(epmd_client(s.port(), {"-stop", "nobody"}), (std::pair<int, std::string>{0, "NOEXIST\n"}));
    EXPECT_EQ(epmd_client(s.port(), {"-stop", "victim"}), (std::pair<int, std::string>{0, "STOPPED\n"}));
    EXPECT_TRUE(s.wait_names({}));
    EXPECT_EQ(epmd_client(s.port(), {"-kill"}), (std::pair<int, std::string>{0, "Killed\n"}));
}

// ---- our command, the real epmd ----

TEST(epmd_interop, nodus_epmd_names_against_real_epmd) {
    real_epmd e;
    asio::io_context io;
    auto r = register_and_wait(io, unique("listed"), 40040, e.client());
    ASSERT_TRUE(r.answer && *r.answer);
    spawn_options o;
    o.argv = {NODUS_CLI, "epmd", "-port", std::to_string(e.port()), "-names"};
    child_process p(o);
    std::string out = p.read_all(20s);
    auto st = p.wait(20s);
    ASSERT_TRUE(st && st->ok());
    auto [code, real_out] = epmd_client(e.port(), {"-names"});
    EXPECT_EQ(code, 0);
    EXPECT_EQ(out, real_out);
}

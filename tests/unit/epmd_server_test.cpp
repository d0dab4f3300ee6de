// Our port mapper server against our client and against raw sockets: registration lifetime,
// creations, duplicates, lookups, NAMES/DUMP/KILL/STOP, re-registration after the port mapper
// restarts, and the hostile and broken peers of OTP's epmd_SUITE (no data, one byte, partial
// packets, bad lengths, bad names, a slow writer, many connections). After each bad peer the
// server must still serve. Everything listens on loopback, on ephemeral ports.
#include "nodus/epmd/server.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "epmd_test_util.hpp"

using namespace nodus;
using namespace nodus::epmd;
using namespace std::chrono_literals;
using namespace nodus::epmd::test;

// ---- registration lifetime, creations, lookups ----

TEST(epmd_server, register_lookup_names_and_unregister_on_close) {
    server_fixture s;
    asio::io_context io;
    auto r = register_and_wait(io, "foobar", 4711, s.client());
    ASSERT_TRUE(r.answer && *r.answer) << (r.answer ? r.answer->error().message() : "no answer");
    EXPECT_GE(**r.answer, 4u);
    EXPECT_EQ(r.reg.current(), registration::state::registered);
    EXPECT_EQ(r.reg.creation(), **r.answer);

    auto info = port_please_sync("127.0.0.1", "foobar", s.client());
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->port, 4711);
    EXPECT_EQ(info->type, node_type::normal);
    EXPECT_EQ(info->highest_version, 6);
    EXPECT_EQ(info->lowest_version, 5);
    EXPECT_EQ(info->name, "foobar");

    auto list = names_sync("localhost", s.client());
    ASSERT_TRUE(list) << list.error().message();
    EXPECT_EQ(list->epmd_port, s.port());
    EXPECT_EQ(list->nodes, (std::vector<name_entry>{{"foobar", 4711}}));

    r.reg.close();
    EXPECT_EQ(r.reg.current(), registration::state::closed);
    EXPECT_TRUE(s.wait_names({}));
    auto gone = port_please_sync("127.0.0.1", "foobar", s.client());
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, errc::not_found);
}

TEST(epmd_server, creation_differs_on_every_registration_of_a_name) {
    server_fixture s;
    asio::io_context io;
    std::vector<std::uint32_t> seen;
    for (int i = 0; i < 5; ++i) {
        auto r = register_and_wait(io, "again", 1000, s.client());
        ASSERT_TRUE(r.answer && *r.answer);
        seen.push_back(**r.answer);
        r.reg.close();
        ASSERT_TRUE(s.wait_names({}));
    }
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_GE(seen[i], 4u);
        for (std::size_t j = 0; j < i; ++j)
            EXPECT_NE(seen[i], seen[j]);
    }
}

TEST(epmd_server, duplicate_names_are_refused) {
    server_fixture s;
    asio::io_context io;
    auto first = register_and_wait(io, "dup", 1000, s.client());
    ASSERT_TRUE(first.answer && *first.answer);
    auto second = register_and_wait(io, "dup", 1001, s.client());
    ASSERT_TRUE(second.answer);
    ASSERT_FALSE(*second.answer);
    EXPECT_EQ(second.answer->error().code, errc::duplicate_name);
    EXPECT_EQ(second.reg.current(), registration::state::closed);
    EXPECT_EQ(port_please_sync("127.0.0.1", "dup", s.client())->port, 1000);
    // The raw answer is the refusal epmd sends.
    raw_conn c(s.port());
    ASSERT_TRUE(c.send(framed(alive2_body("dup"))));
    bytes got;
    EXPECT_TRUE(c.read_until_closed(got));
    EXPECT_EQ(got, encode_alive2_refusal(6));
}

TEST(epmd_server, unicode_long_name_and_extra_come_back) {
    server_fixture s;
    port_info n;
    n.port = 4711;
    n.type = node_type::hidden;
    for (int i = 0; i < 201; ++i)
        n.name += "\xF0\x9F\x98\x80";     // long_unicode_name: 201 characters, 804 bytes
    n.extra = std::string("ABC\0\0", 5);  // returns_valid_populated_extra_with_nulls
    raw_conn c(s.port());
    ASSERT_TRUE(c.send(*encode_alive2_req(n)));
    bytes got;
    ASSERT_TRUE(c.read_n(got, 6));
    EXPECT_EQ(got[0], code::alive2_x_resp);
    EXPECT_EQ(got[1], 0);
    auto info = port_please_sync("127.0.0.1", n.name, s.client());
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(*info, n);
}

TEST(epmd_server, version_5_nodes_get_the_old_answer) {
    server_fixture s;
    raw_conn c(s.port());
    ASSERT_TRUE(c.send(framed(alive2_body("old", 4747, "", 5))));
    bytes got;
    ASSERT_TRUE(c.read_n(got, 4));
    EXPECT_EQ(got[0], code::alive2_resp);
    EXPECT_EQ(got[1], 0);
    const int creation = got[2] << 8 | got[3];
    EXPECT_GE(creation, 1);
    EXPECT_LE(creation, 3);
}

TEST(epmd_server, registration_ends_when_the_node_sends_more) {
    server_fixture s;
    raw_conn c(s.port());
    ASSERT_TRUE(c.send(framed(alive2_body("chatty"))));
    bytes got;
    ASSERT_TRUE(c.read_n(got, 6));
    ASSERT_TRUE(s.wait_names({"chatty"}));
    ASSERT_TRUE(c.send(bytes{1, 2, 3}));
    EXPECT_TRUE(s.wait_names({}));
    EXPECT_TRUE(s.logged(log_level::error, "unexpected bytes"));
}

// socket_reset_before_alive2_reply_is_written: no zombie registration.
TEST(epmd_server, reset_right_after_alive2_leaves_no_registration) {
    server_fixture s;
    for (int i = 0; i < 20; ++i) {
        raw_conn c(s.port());
        ASSERT_TRUE(c.send(framed(alive2_body("reset" + std::to_string(i)))));
        c.reset();
    }
    EXPECT_TRUE(s.wait_names({}));
    s.expect_serving();
}

TEST(epmd_server, many_registrations_then_all_gone) {
    server_fixture s;
    asio::io_context io;
    std::vector<registration> regs;
    std::vector<std::string> names;
    int answered = 0;
    for (int i = 0; i < 300; ++i) {
        names.push_back("foo" + std::to_string(i));
        regs.push_back(register_node(
            io, names.back(), static_cast<std::uint16_t>(1000 + i), node_type::normal,
            [&answered](result<std::uint32_t, error> r) { answered += r ? 1 : 0; }, s.client()));
    }
    ASSERT_TRUE(run_until(io, [&] { return answered == 300; }));
    auto list = names_sync("127.0.0.1", s.client());
    ASSERT_TRUE(list);
    ASSERT_EQ(list->nodes.size(), 300u);
    // Newest first, as OTP's epmd lists them.
    EXPECT_EQ(list->nodes.front().name, "foo299");
    regs.clear();
    run_until(
        io, [] { return false; }, 50ms);  // let the closes run
    EXPECT_TRUE(s.wait_names({}));
}

TEST(epmd_server, reregisters_after_the_port_mapper_restarts_and_keeps_its_creation) {
    server_fixture s;
    asio::io_context io;
    client_options o = s.client();
    o.reregister_interval = 200ms;
    std::vector<std::string> events;
    o.log = [&events](std::string_view e) { events.emplace_back(e); };
    auto r = register_and_wait(io, "phoenix", 5555, o);
    ASSERT_TRUE(r.answer && *r.answer);
    const std::uint32_t creation = **r.answer;
    const std::uint16_t port = s.port();

    s.shutdown();  // the port mapper goes away...
    ASSERT_TRUE(run_until(io, [&] { return r.reg.current() == registration::state::lost; }));
    run_until(
        io, [] { return false; }, 500ms);  // ...and a few retries fail
    EXPECT_EQ(r.reg.current(), registration::state::lost);

    s.start(port);  // ...and comes back on the same port
    ASSERT_TRUE(run_until(
        io, [&] { return r.reg.current() == registration::state::registered; }, 5s));
    EXPECT_TRUE(s.wait_names({"phoenix"}));
    EXPECT_EQ(r.reg.creation(), creation);
    EXPECT_EQ(r.reg.reregistrations(), 1u);
    EXPECT_FALSE(events.empty());
    r.reg.close();
    EXPECT_TRUE(s.wait_names({}));
}

TEST(epmd_server, closing_a_registration_before_the_answer_cancels_it) {
    server_fixture s;
    asio::io_context io;
    std::optional<result<std::uint32_t, error>> answer;
    auto reg = register_node(
        io, "early", 1, node_type::normal,
        [&](result<std::uint32_t, error> r) { answer.emplace(std::move(r)); }, s.client());
    reg.close();
    ASSERT_TRUE(run_until(io, [&] { return answer.has_value(); }));
    EXPECT_EQ(answer->error().code, errc::cancelled);
    run_until(
        io, [] { return false; }, 100ms);
    EXPECT_TRUE(s.wait_names({}));
}

TEST(epmd_server, client_errors) {
    server_fixture s;
    asio::io_context io;
    // Bad names never reach the wire.
    auto bad = register_and_wait(io, std::string("a\0b", 3), 1, s.client());
    ASSERT_TRUE(bad.answer && !*bad.answer);
    EXPECT_EQ(bad.answer->error().code, errc::name_has_nul);
    EXPECT_EQ(port_please_sync("127.0.0.1", "", s.client()).error().code, errc::empty_name);
    // Nothing listens: connect_failed (a port we just saw free).
    const std::uint16_t dead = s.port();
    s.shutdown();
    client_options o;
    o.epmd_port = dead;
    EXPECT_EQ(names_sync("127.0.0.1", o).error().code, errc::connect_failed);
    auto r = register_and_wait(io, "nobody", 1, o);
    ASSERT_TRUE(r.answer && !*r.answer);
    EXPECT_EQ(r.answer->error().code, errc::connect_failed);
    EXPECT_EQ(names_sync("no-such-host.invalid", o).error().code, errc::resolve_failed);
}

TEST(epmd_server, client_times_out_on_a_silent_port_mapper) {
    // A listener that accepts and never answers.
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(lfd, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    client_options o;
    o.epmd_port = ntohs(a.sin_port);
    o.timeout = 300ms;
    auto t0 = clock_type::now();
    EXPECT_EQ(port_please_sync("127.0.0.1", "x", o).error().code, errc::timeout);
    asio::io_context io;
    auto r = register_and_wait(io, "x", 1, o);
    ASSERT_TRUE(r.answer && !*r.answer);
    EXPECT_EQ(r.answer->error().code, errc::timeout);
    EXPECT_LT(clock_type::now() - t0, 5s);
    ::close(lfd);
}

// ---- operator requests ----

TEST(epmd_server, dump_lists_active_and_old_names) {
    server_fixture s;
    asio::io_context io;
    auto gone = register_and_wait(io, "gone", 1111, s.client());
    auto here = register_and_wait(io, "here", 2222, s.client());
    gone.reg.close();
    ASSERT_TRUE(s.wait_names({"here"}));
    auto d = dump_sync("127.0.0.1", s.client());
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->epmd_port, s.port());
    ASSERT_EQ(d->records.size(), 2u);
    auto active = parse_dump_record(d->records[0]);
    auto old = parse_dump_record(d->records[1]);
    ASSERT_TRUE(active && old);
    EXPECT_TRUE(active->active);
    EXPECT_EQ(active->name, "here");
    EXPECT_EQ(active->port, 2222);
    EXPECT_FALSE(old->active);
    EXPECT_EQ(old->name, "gone");
    EXPECT_EQ(old->port, 1111);
}

// no_live_killing
TEST(epmd_server, kill_refused_with_live_nodes_and_stop_refused_without_relaxed_check) {
    server_fixture s;
    asio::io_context io;
    auto r = register_and_wait(io, "foo", 1, s.client());
    ASSERT_TRUE(r.answer && *r.answer);
    raw_conn k(s.port());
    ASSERT_TRUE(k.send(encode_kill_req()));
    bytes got;
    EXPECT_TRUE(k.read_until_closed(got));
    EXPECT_EQ(got, b("NO"));
    EXPECT_EQ(kill_sync("127.0.0.1", s.client()).error().code, errc::not_allowed);
    raw_conn st(s.port());
    ASSERT_TRUE(st.send(*encode_stop_req("foo")));
    got.clear();
    EXPECT_TRUE(st.read_until_closed(got));
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(stop_sync("127.0.0.1", "foo", s.client()).error().code, errc::not_allowed);
    EXPECT_TRUE(s.wait_names({"foo"}));
    r.reg.close();
    run_until(
        io, [] { return false; }, 50ms);
    ASSERT_TRUE(s.wait_names({}));
    EXPECT_TRUE(kill_sync("127.0.0.1", s.client()));
    // KILL stops the server: nothing answers any more.
    auto deadline = clock_type::now() + 5s;
    while (names_sync("127.0.0.1", s.client()) && clock_type::now() < deadline)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(names_sync("127.0.0.1", s.client()).error().code, errc::connect_failed);
}

// unregister_others_name_1 and _2
TEST(epmd_server, relaxed_stop_and_kill) {
    server_options o;
    o.relaxed_command_check = true;
    server_fixture s(o);
    asio::io_context io;
    auto r = register_and_wait(io, "foo", 1, s.client());
    ASSERT_TRUE(r.answer && *r.answer);
    EXPECT_EQ(*stop_sync("127.0.0.1", "xxx42", s.client()), stop_result::noexist);
    EXPECT_EQ(*stop_sync("127.0.0.1", "foo", s.client()), stop_result::stopped);
    EXPECT_TRUE(s.wait_names({}));
    // The node sees its registration close.
    EXPECT_TRUE(run_until(io, [&] { return r.reg.current() == registration::state::lost; }));
    auto r2 = register_and_wait(io, "bar", 2, s.client());
    ASSERT_TRUE(r2.answer && *r2.answer);
    EXPECT_TRUE(kill_sync("127.0.0.1", s.client()));  // relaxed: even with live nodes
}

// ---- bad peers (epmd_SUITE) ----

class epmd_bad_peer : public ::testing::Test {
protected:
    epmd_bad_peer() {
        server_options o;
        o.request_timeout = 1s;  // as the suite runs epmd with -packet_timeout 1
        fixture_.emplace(o);
    }
    ~epmd_bad_peer() override { fixture_->expect_serving(); }
    server_fixture& s() { return *fixture_; }

    // Sends data; expects the server to close, without answering (or answering `answer`), in
    // time.
    void expect_closed(const bytes& data, const bytes& answer = {}, std::chrono::milliseconds within = 3s) {
        raw_conn c(s().port());
        ASSERT_TRUE(c.connected());
        if (!data.empty()) {
            ASSERT_TRUE(c.send(data));
        }
        bytes got;
        EXPECT_TRUE(c.read_until_closed(got, within));
        EXPECT_EQ(got, answer);
    }

    std::optional<server_fixture> fixture_;
};

TEST_F(epmd_bad_peer, no_data) {
    expect_closed({});
    EXPECT_TRUE(s().logged(log_level::info, "no complete request"));
}
TEST_F(epmd_bad_peer, one_byte) {
    expect_closed({0});
}
TEST_F(epmd_bad_peer, two_bytes) {
    expect_closed(u16(3));
}
TEST_F(epmd_bad_peer, partial_packet) {
    expect_closed(cat({u16(100), b("only a few bytes")}));
}
TEST_F(epmd_bad_peer, zero_length) {
    expect_closed(bytes(10, 0), {}, 500ms);
    EXPECT_TRUE(s().logged(log_level::error, "zero length"));
}
TEST_F(epmd_bad_peer, too_large) {
    expect_closed(cat({u16(63000), bytes(1000, 'z')}), {}, 500ms);
    EXPECT_TRUE(s().logged(log_level::error, "too large"));
}
TEST_F(epmd_bad_peer, alive_req_too_small) {
    expect_closed(framed(cat({{code::alive2_req}, u16(1000), {'M', 0}, u16(5), u16(5), u16(0)})), {}, 500ms);
    expect_closed(framed(cat({{code::alive2_req}, u16(1000), {'M', 0}, u16(5), u16(5)})), {}, 500ms);
}
TEST_F(epmd_bad_peer, alive_req_too_large_is_refused) {
    raw_conn c(s().port());
    ASSERT_TRUE(c.send(framed(alive2_body(std::string(600, 'a'), 1000, "", 5))));
    bytes got;
    EXPECT_TRUE(c.read_until_closed(got, 500ms));
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got[0], code::alive2_resp);
    EXPECT_EQ(got[1], 1);
}
TEST_F(epmd_bad_peer, names_with_nul) {
    expect_closed(framed(alive2_body(std::string("foo\0bar", 7))), {}, 500ms);
    expect_closed(framed(alive2_body(std::string("foobar\0", 7))), {}, 500ms);
    EXPECT_TRUE(s().wait_names({}));
}
TEST_F(epmd_bad_peer, unknown_and_trailing) {
    expect_closed(framed({'Q'}), {}, 500ms);
    expect_closed(cat({encode_names_req(), {0}}), {}, 500ms);
    expect_closed(framed({code::port_please2_req, 0xFF}), {}, 500ms);
}
// buffer_overrun_1: lying extra lengths.
TEST_F(epmd_bad_peer, lying_extra_lengths) {
    for (std::size_t n : {1, 2, 100, 255, 1019, 1020, 1021, 5000, 10000, 65535})
        expect_closed(framed(alive2_body("gurka", 4747, "", 5, n)), {}, 500ms);
    EXPECT_TRUE(s().wait_names({}));
}
// buffer_overrun_2: real extras of growing size: the first (1020) registers, then refusals or closes.
TEST_F(epmd_bad_peer, long_extras) {
    {
        raw_conn c(s().port());
        ASSERT_TRUE(c.send(framed(alive2_body("gurka", 4747, std::string(1020, '\xff'), 5))));
        bytes got;
        ASSERT_TRUE(c.read_n(got, 4));
        EXPECT_EQ(got, (bytes{code::alive2_resp, 0, got[2], got[3]}));
    }
    EXPECT_TRUE(s().wait_names({}));
    for (std::size_t n : {1021, 1500, 2034, 2035, 2036, 3000, 10000}) {
        raw_conn c(s().port());
        c.send(framed(alive2_body("gurka", 4747, std::string(n, '\xff'), 5)));  // may be cut off
        bytes got;
        c.read_until_closed(got, 2s);
        EXPECT_TRUE(got.empty() || got == encode_alive2_refusal(5)) << n;
    }
}
// slow_get_port_nr: byte by byte, within the time limit.
TEST_F(epmd_bad_peer, slow_writer_is_served) {
    // The bytes take 0.6 s; a 5 s limit keeps a loaded CI machine from turning this into a
    // timing test (CI once cut the writer off with the 1 s limit).
    server_options o;
    o.request_timeout = 5s;
    fixture_.reset();
    fixture_.emplace(o);
    raw_conn reg(s().port());
    ASSERT_TRUE(reg.send(framed(alive2_body("foo", 1042))));
    bytes r;
    ASSERT_TRUE(reg.read_n(r, 6));
    raw_conn c(s().port());
    const bytes request = *encode_port_please2_req("foo");
    for (std::uint8_t byte : request) {
        ASSERT_TRUE(c.send(bytes{byte}));
        std::this_thread::sleep_for(100ms);
    }
    bytes got;
    EXPECT_TRUE(c.read_until_closed(got));
    auto info = decode_port2_resp(got);
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->node->port, 1042);
}
// A byte now and then never gets a request through the time limit.
TEST_F(epmd_bad_peer, trickling_writer_is_cut_off) {
    raw_conn c(s().port());
    ASSERT_TRUE(c.send(u16(40)));
    auto t0 = clock_type::now();
    bool closed = false;
    for (int i = 0; i < 40 && !closed; ++i) {
        std::this_thread::sleep_for(100ms);
        closed = !c.send(bytes{'z'});
    }
    bytes got;
    EXPECT_TRUE(c.read_until_closed(got, 3s));
    EXPECT_LT(clock_type::now() - t0, 3500ms);
}

TEST(epmd_server, connection_limit) {
    server_options o;
    o.max_connections = 20;
    o.request_timeout = 3s;
    server_fixture s(o);
    std::vector<std::unique_ptr<raw_conn>> idle;
    for (int i = 0; i < 20; ++i)
        idle.push_back(std::make_unique<raw_conn>(s.port()));
    // Wait until the server has all 20; the 21st is then closed at once.
    std::this_thread::sleep_for(200ms);
    raw_conn extra(s.port());
    bytes got;
    EXPECT_TRUE(extra.read_until_closed(got, 1s));
    EXPECT_TRUE(s.logged(log_level::error, "connections are open"));
    idle.clear();
    auto deadline = clock_type::now() + 5s;
    while (!names_sync("127.0.0.1", s.client()) && clock_type::now() < deadline)
        std::this_thread::sleep_for(20ms);
    s.expect_serving();
}

TEST(epmd_server, many_concurrent_bad_and_good_peers) {
    server_options o;
    o.request_timeout = 2s;
    server_fixture s(o);
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                raw_conn c(s.port());
                switch ((t + i) % 4) {
                    case 0:
                        c.send(bytes{0, 0});
                        break;
                    case 1:
                        c.send(framed(alive2_body(std::string("x\0y", 3))));
                        break;
                    case 2:
                        c.reset();
                        break;
                    default:
                        if (names_sync("127.0.0.1", s.client())) ++good;
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(good.load(), 50);
    s.expect_serving();
}

TEST(epmd_server, listen_errors) {
    server_fixture s;
    asio::io_context io;
    server_options o;
    o.port = s.port();
    o.addresses = {"127.0.0.1", "::1"};
    // A taken port means another port mapper runs there, loopback addresses included (epmd then
    // exits 0 and lets the other one serve).
    server taken(io, o);
    auto r = taken.start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::address_in_use);
    o.addresses = {"not-an-address"};
    server bad(io, o);
    EXPECT_EQ(bad.start().error().code, errc::bad_argument);
    // The default (every interface) is not optional: another port mapper owns the port.
    server_options any;
    any.port = s.port();
    server busy(io, any);
    auto br = busy.start();
    if (!br) {  // else: the system lets a wildcard bind beside a loopback one
        EXPECT_EQ(br.error().code, errc::address_in_use);
    }
}

TEST(epmd_server, environment) {
    ::setenv("ERL_EPMD_PORT", "4370", 1);
    EXPECT_EQ(*port_from_environment(), 4370);
    ::setenv("ERL_EPMD_PORT", "43x", 1);
    EXPECT_EQ(port_from_environment().error().code, errc::bad_argument);
    EXPECT_EQ(names_sync("127.0.0.1").error().code, errc::bad_argument);
    ::unsetenv("ERL_EPMD_PORT");
    EXPECT_EQ(*port_from_environment(), default_port);
    ::setenv("ERL_EPMD_RELAXED_COMMAND_CHECK", "", 1);
    EXPECT_TRUE(relaxed_command_check_from_environment());
    ::unsetenv("ERL_EPMD_RELAXED_COMMAND_CHECK");
    EXPECT_FALSE(relaxed_command_check_from_environment());
}

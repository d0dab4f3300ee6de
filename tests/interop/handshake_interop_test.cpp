// The handshake against a real erl (OTP 25), both roles, over 127.0.0.1 only. Each test starts
// a private epmd and its own erl (unique names), and stops both by PID at the end.
//  - nodus initiates: EPMD PORT_PLEASE2 for erl's port, connect, our initiator reaches `up` and
//    erl reports nodeup; with a wrong cookie erl rejects our reply; dialling the wrong name is
//    caught; a second connection under our name gets "alive", we answer true and erl replaces
//    the old connection.
//  - erl initiates: we listen and register a name with the epmd (ALIVE2), erl runs
//    net_adm:ping/1; our acceptor reaches `up`, erl's first packets use the negotiated 4-byte
//    framing with the atom-cache header; with a wrong cookie our acceptor reports bad_digest and
//    erl prints pang; not_allowed makes erl print pang.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <string>

#include "child_process.hpp"
#include "handshake_support.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/dist/handshake.hpp"
#include "nodus/dist/node_name.hpp"

using namespace nodus;
using namespace nodus::dist;
using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

std::string unique(std::string_view prefix) {
    static std::atomic<int> counter{0};
    return std::string(prefix) + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

atom short_node(const std::string& alive) {
    auto n = make_node_name(alive, naming_mode::shortnames);
    if (!n) throw std::runtime_error(n.error().message);
    return *n;
}

handshake_config our_config(atom name, std::string cookie) {
    handshake_config c;
    c.name = name;
    c.creation = random_challenge() | 4;  // any non-zero value will do without an epmd registration
    c.cookie_for = [cookie = std::move(cookie)](std::string_view) { return cookie; };
    return c;
}

// erl -sname <alive> -setcookie <cookie>, reporting nodeups; prints "ready" once distributed.
std::unique_ptr<child_process> start_erl_node(const std::string& erl, const private_epmd& epmd,
                                              const std::string& alive, const std::string& cookie,
                                              const std::string& eval) {
    erl_options o;
    o.sname = alive;
    o.cookie = cookie;
    o.eval = eval;
    o.err = stderr_mode::merge;
    o.env = {epmd.env()};
    return start_erl(erl, o);
}

const char* const report_nodeups =
    "net_kernel:monitor_nodes(true), io:format(\"ready~n\"), "
    "Loop = fun L() -> receive {nodeup, N} -> io:format(\"nodeup ~p~n\", [N]), L(); "
    "{nodedown, N} -> io:format(\"nodedown ~p~n\", [N]), L() end end, Loop().";

struct erl_peer {
    private_epmd epmd;
    std::string alive = unique("hs_erl_");
    atom node = short_node(alive);
    std::unique_ptr<child_process> proc;
    std::uint16_t port = 0;

    erl_peer(const std::string& erl, const std::string& cookie) {
        proc = start_erl_node(erl, epmd, alive, cookie, report_nodeups);
        if (!wait_for_line(*proc, "ready"))
            throw std::runtime_error("erl did not start: " + proc->read_all(1s));
        auto p = epmd_port_please(epmd.port(), alive);
        if (!p) throw std::runtime_error("erl is not registered with the epmd");
        port = *p;
    }
};

}  // namespace

// ---- nodus initiates ----

TEST(handshake_interop, initiator_reaches_up_with_erl) {
    NODUS_REQUIRE_ERL(erl);
    erl_peer peer(erl, "hs_cookie_1");
    atom us = short_node(unique("hs_nodus_"));
    auto sock = connect_loopback(peer.port);
    ASSERT_TRUE(sock);
    auto h = handshake::initiator(our_config(us, "hs_cookie_1"), peer.node);
    drive_handshake(h, *sock);
    ASSERT_EQ(h.state(), handshake_state::up) << h.failure()->detail;
    EXPECT_EQ(h.result()->peer, peer.node);
    // erl 25 advertises its default set plus PUBLISHED: the AND is all of ours.
    EXPECT_EQ(h.result()->peer_flags, otp25_default | dflag::published | mandatory_25);
    EXPECT_EQ(h.result()->flags, our_flags(true));
    EXPECT_NE(h.result()->peer_creation, 0u);
    auto line = wait_for_line(*peer.proc, "nodeup");
    ASSERT_TRUE(line);
    EXPECT_NE(line->find(us.str()), std::string::npos) << *line;
}

TEST(handshake_interop, initiator_with_wrong_cookie_is_rejected_by_erl) {
    NODUS_REQUIRE_ERL(erl);
    erl_peer peer(erl, "hs_cookie_2");
    atom us = short_node(unique("hs_nodus_"));
    auto sock = connect_loopback(peer.port);
    ASSERT_TRUE(sock);
    auto h = handshake::initiator(our_config(us, "not_the_cookie"), peer.node);
    drive_handshake(h, *sock);
    ASSERT_EQ(h.state(), handshake_state::failed);
    EXPECT_EQ(h.failure()->error, handshake_error::closed);
    EXPECT_EQ(h.failure()->state, handshake_state::recv_challenge_ack);
    EXPECT_NE(h.failure()->detail.find("cookie"), std::string::npos);
    auto line = wait_for_line(*peer.proc, "Invalid challenge reply", 10s);
    EXPECT_TRUE(line) << "erl did not log the rejection";
}

TEST(handshake_interop, initiator_detects_name_mismatch) {
    NODUS_REQUIRE_ERL(erl);
    erl_peer peer(erl, "hs_cookie_3");
    atom us = short_node(unique("hs_nodus_"));
    auto sock = connect_loopback(peer.port);
    ASSERT_TRUE(sock);
    atom wrong = short_node(unique("hs_somebody_else_"));
    auto h = handshake::initiator(our_config(us, "hs_cookie_3"), wrong);
    drive_handshake(h, *sock);
    ASSERT_EQ(h.state(), handshake_state::failed);
    EXPECT_EQ(h.failure()->error, handshake_error::name_mismatch) << h.failure()->detail;
}

TEST(handshake_interop, second_connection_gets_alive_and_replaces_the_first) {
    NODUS_REQUIRE_ERL(erl);
    erl_peer peer(erl, "hs_cookie_4");
    atom us = short_node(unique("hs_nodus_"));
    auto first = connect_loopback(peer.port);
    ASSERT_TRUE(first);
    auto h1 = handshake::initiator(our_config(us, "hs_cookie_4"), peer.node);
    drive_handshake(h1, *first);
    ASSERT_EQ(h1.state(), handshake_state::up);
    ASSERT_TRUE(wait_for_line(*peer.proc, "nodeup"));

    // A new incarnation (new creation) dials again while erl still holds the first connection.
    auto second = connect_loopback(peer.port);
    ASSERT_TRUE(second);
    handshake_config c = our_config(us, "hs_cookie_4");
    int asked = 0;
    c.answer_alive = [&asked](atom) {
        ++asked;
        return true;
    };
    auto h2 = handshake::initiator(std::move(c), peer.node);
    drive_handshake(h2, *second);
    ASSERT_EQ(h2.state(), handshake_state::up) << h2.failure()->detail;
    EXPECT_EQ(asked, 1) << "erl should have answered alive";
    // erl dropped the old connection (nodedown) and brought up the new one (nodeup).
    EXPECT_TRUE(wait_for_line(*peer.proc, "nodedown"));
    EXPECT_TRUE(wait_for_line(*peer.proc, "nodeup"));
    // The first socket is closed by erl.
    bool closed = false;
    for (int i = 0; i < 50 && !closed; ++i) {
        auto got = read_some(*first, 200ms);
        closed = got && got->empty();
    }
    EXPECT_TRUE(closed);
}

// ---- erl initiates ----

namespace {

// A name registered with the epmd for our listening socket, as a nodus node would have.
struct fake_node {
    explicit fake_node(private_epmd& epmd)
        : alive(unique("hs_fake_")),
          node(short_node(alive)),
          listener(listen_loopback()),
          registration(epmd_register(epmd.port(), alive, local_port(listener), &creation)) {}

    std::string alive;
    atom node;
    socket_fd listener;
    std::uint32_t creation = 0;
    socket_fd registration;
};

std::string ping_eval(atom target) {
    return "R = net_adm:ping('" + target.str() +
           "'), io:format(\"ping ~p~n\", [R]), receive after infinity -> ok end.";
}

}  // namespace

TEST(handshake_interop, acceptor_reaches_up_when_erl_pings) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    fake_node us{epmd};
    std::string alive = unique("hs_erl_");
    atom erl_node = short_node(alive);
    auto proc = start_erl_node(erl, epmd, alive, "hs_cookie_5", ping_eval(us.node));
    auto conn = accept_within(us.listener, 30s);
    ASSERT_TRUE(conn) << "erl did not connect: " << proc->read_all(1s);
    handshake_config c = our_config(us.node, "hs_cookie_5");
    c.creation = us.creation;
    std::vector<std::string> asked;
    c.status_for = [&asked](const peer_hello& hello) {
        asked.emplace_back(hello.name);
        return accept_status::ok;
    };
    auto h = handshake::acceptor(std::move(c));
    drive_handshake(h, *conn);
    ASSERT_EQ(h.state(), handshake_state::up) << h.failure()->detail;
    EXPECT_EQ(h.result()->peer, erl_node);
    EXPECT_EQ(asked, std::vector<std::string>{erl_node.str()});
    EXPECT_EQ(h.result()->peer_flags, otp25_default | dflag::published | mandatory_25);
    EXPECT_EQ(h.result()->flags, our_flags(true));

    // erl now speaks the connection protocol: 4-byte frames; its first real packet (MONITOR_P for
    // the is_auth call) uses the atom-cache distribution header 131,68 we negotiated.
    std::vector<std::uint8_t> stream = h.take_leftover();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    std::vector<std::uint8_t> packet;
    while (packet.empty() && std::chrono::steady_clock::now() < deadline) {
        while (stream.size() >= 4) {
            std::uint32_t len = byte_reader::get32(stream.data());
            if (stream.size() < 4 + len) break;
            if (len > 0) {
                packet.assign(stream.begin() + 4, stream.begin() + 4 + len);
                break;
            }
            stream.erase(stream.begin(), stream.begin() + 4);  // a tick
        }
        if (!packet.empty()) break;
        auto got = read_some(*conn, 1s);
        if (got && got->empty()) break;
        if (got) stream.insert(stream.end(), got->begin(), got->end());
    }
    ASSERT_GE(packet.size(), 2u) << "no packet from erl after the handshake";
    EXPECT_EQ(packet[0], 131);
    EXPECT_EQ(packet[1], 68);
    conn->reset();  // erl's is_auth call fails: pang
    EXPECT_TRUE(wait_for_line(*proc, "ping pang"));
}

TEST(handshake_interop, acceptor_reports_bad_digest_when_erl_has_another_cookie) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    fake_node us{epmd};
    auto proc = start_erl_node(erl, epmd, unique("hs_erl_"), "erl_cookie", ping_eval(us.node));
    auto conn = accept_within(us.listener, 30s);
    ASSERT_TRUE(conn) << "erl did not connect: " << proc->read_all(1s);
    auto h = handshake::acceptor(our_config(us.node, "our_cookie"));
    drive_handshake(h, *conn);
    ASSERT_EQ(h.state(), handshake_state::failed);
    EXPECT_EQ(h.failure()->error, handshake_error::bad_digest) << h.failure()->detail;
    EXPECT_EQ(h.failure()->state, handshake_state::recv_challenge_reply);
    conn->reset();
    EXPECT_TRUE(wait_for_line(*proc, "ping pang"));
}

TEST(handshake_interop, acceptor_not_allowed_makes_erl_print_pang) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    fake_node us{epmd};
    auto proc = start_erl_node(erl, epmd, unique("hs_erl_"), "hs_cookie_6", ping_eval(us.node));
    auto conn = accept_within(us.listener, 30s);
    ASSERT_TRUE(conn) << "erl did not connect: " << proc->read_all(1s);
    handshake_config c = our_config(us.node, "hs_cookie_6");
    c.status_for = [](const peer_hello&) { return accept_status::not_allowed; };
    auto h = handshake::acceptor(std::move(c));
    drive_handshake(h, *conn);
    ASSERT_EQ(h.state(), handshake_state::failed);
    EXPECT_EQ(h.failure()->error, handshake_error::not_allowed);
    conn->reset();
    EXPECT_TRUE(wait_for_line(*proc, "ping pang"));
}

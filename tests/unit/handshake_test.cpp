// Unit tests of the distribution handshake: byte-exact messages, both roles against each other
// in memory (success and every refusal), protocol errors, and the grind: every transcript fed
// split at every byte offset (and byte by byte) gives the same outcome.
#include "nodus/dist/handshake.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "handshake_fuzz.hpp"
#include "nodus/dist/flags.hpp"

using namespace nodus;
using namespace nodus::dist;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes unhex(std::string_view s) {
    bytes out;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            continue;  // spaces
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
            hi = -1;
        }
    }
    return out;
}

std::string hex(byte_span b) {
    std::string s;
    char buf[4];
    for (auto c : b) {
        std::snprintf(buf, sizeof buf, "%02x", c);
        s += buf;
    }
    return s;
}

bytes frame(std::string_view body, std::size_t prefix = 2) {
    byte_writer w;
    if (prefix == 2)
        w.u16(static_cast<std::uint16_t>(body.size()));
    else
        w.u32(static_cast<std::uint32_t>(body.size()));
    w.text(body);
    return w.take();
}

bytes frame(const bytes& body, std::size_t prefix = 2) {
    return frame(as_chars(byte_span(body)), prefix);
}

bytes concat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A node's side of a test: its configuration, with deterministic challenges and recorded calls.
struct node_setup {
    node_setup() = default;
    explicit node_setup(std::string n) : name(std::move(n)) {}

    std::string name;
    std::string cookie = "secret";
    std::uint32_t creation = 1000;
    std::uint64_t flags = our_flags(true);
    std::uint32_t challenge = 0;
    accept_status status = accept_status::ok;
    bool alive_answer = true;
    handshake_framing framing = handshake_framing::tcp;
    std::vector<std::string> asked;  // peers whose status/cookie we were asked for

    handshake_config config() {
        handshake_config c;
        c.name = atom(name);
        c.creation = creation;
        c.flags = flags;
        c.framing = framing;
        c.cookie_for = [this](std::string_view peer) {
            asked.emplace_back(peer);
            return cookie;
        };
        c.status_for = [this](const peer_hello&) { return status; };
        c.answer_alive = [this](atom) { return alive_answer; };
        std::uint32_t ch = challenge ? challenge : static_cast<std::uint32_t>(std::hash<std::string>{}(name));
        c.challenge = [ch] { return ch; };
        return c;
    }
};

// Moves bytes between the two machines until nothing moves; records everything each side sent.
// A side that ends failed closes the connection: the other one is told (closed()).
struct run {
    handshake a;  // initiator
    handshake b;  // acceptor
    bytes a_sent, b_sent;

    run(node_setup& init, node_setup& acc, std::string_view dial = {})
        : a(handshake::initiator(init.config(), atom(dial.empty() ? acc.name : std::string(dial)))),
          b(handshake::acceptor(acc.config())) {}

    void pump(bool auto_old_connection = true) {
        a.start();
        for (int i = 0; i < 50; ++i) {
            bool moved = false;
            if (!a.output().empty()) {
                bytes out = a.take_output();
                a_sent.insert(a_sent.end(), out.begin(), out.end());
                b.feed(out);
                moved = true;
            }
            if (!b.output().empty()) {
                bytes out = b.take_output();
                b_sent.insert(b_sent.end(), out.begin(), out.end());
                a.feed(out);
                moved = true;
            }
            if (!moved && auto_old_connection && b.awaiting_old_connection()) {
                b.old_connection_closed();
                moved = true;
            }
            if (!moved) break;
        }
        if (a.state() == handshake_state::failed) b.closed();
        if (b.state() == handshake_state::failed) a.closed();
    }
};

handshake_error error_of(const handshake& h) {
    EXPECT_TRUE(h.failure().has_value()) << "state " << to_string(h.state());
    return h.failure() ? h.failure()->error : handshake_error::timeout;
}

}  // namespace

// ---- flags ----

TEST(handshake_flags, our_flags_are_otp25_default_plus_published) {
    EXPECT_EQ(our_flags(false), 0xD07DF7FBCull);
    EXPECT_EQ(our_flags(true), 0xD07DF7FBDull);
    // handshake.md §4.2's minimal set plus DIST_HDR_ATOM_CACHE and FRAGMENTS.
    EXPECT_EQ(our_flags(false), 0xD075F5FBCull | dflag::dist_hdr_atom_cache | dflag::fragments);
    EXPECT_EQ(mandatory_25, 0x1070F94ull);
    EXPECT_EQ(
        our_flags(true) & (dflag::atom_cache | dflag::hidden_atom_cache | dflag::reserved | dflag::name_me),
        0u);
}

TEST(handshake_flags, names_and_missing_as_otp_prints_them) {
    EXPECT_EQ(flag_name(dflag::map_tag), "MAP_TAG");
    EXPECT_EQ(flag_name(dflag::mandatory_25_digest), "MANDATORY_25_DIGEST");
    EXPECT_EQ(flag_name(std::uint64_t{1} << 40), "UNKNOWN<10000000000>");
    EXPECT_EQ(describe_flags(dflag::map_tag), "[\"MAP_TAG\"]");
    // Highest bit first, as dist_util:check_mandatory builds its list.
    EXPECT_EQ(describe_flags(dflag::map_tag | dflag::utf8_atoms), "[\"MAP_TAG\",\"UTF8_ATOMS\"]");
    EXPECT_EQ(missing_flags(mandatory_25, mandatory_25 & ~dflag::map_tag), dflag::map_tag);
    // MANDATORY_25_DIGEST stands for the whole OTP 25 mandatory set.
    EXPECT_EQ(missing_flags(mandatory_25, dflag::mandatory_25_digest), 0u);
    EXPECT_EQ(negotiate(our_flags(true), dflag::mandatory_25_digest | dflag::published),
              mandatory_25 | dflag::mandatory_25_digest | dflag::published);
}

// ---- digest ----

TEST(handshake_digest, test_vector_cookie_first) {
    // handshake.md §3.7: MD5("abc1234567890").
    EXPECT_EQ(hex(gen_digest(1234567890u, "abc")), "57041f8f7dff9b67e3f97d7facbaf8d3");
    // Unsigned decimal, no leading zeros: 4294967295 and 0.
    EXPECT_NE(gen_digest(0xFFFFFFFFu, "abc"), gen_digest(0x7FFFFFFFu, "abc"));
    digest d = gen_digest(7, "c");
    EXPECT_TRUE(digest_equal(d, byte_span(d)));
    bytes shorter(d.begin(), d.end() - 1);
    EXPECT_FALSE(digest_equal(d, shorter));
    bytes other(d.begin(), d.end());
    other[15] ^= 1;
    EXPECT_FALSE(digest_equal(d, other));
}

TEST(handshake_digest, random_challenges_differ) {
    std::uint32_t a = random_challenge(), b = random_challenge(), c = random_challenge();
    EXPECT_FALSE(a == b && b == c);
}

// ---- byte-exact messages ----

TEST(handshake_bytes, initiator_name_message_matches_otp_capture) {
    // handshake.md §3.1: erl -sname a, OTP 25.2.3.
    node_setup a{"a@vm"};
    a.creation = 1795272082;
    auto h = handshake::initiator(a.config(), atom("b@vm"));
    EXPECT_EQ(h.state(), handshake_state::send_name);
    EXPECT_TRUE(h.output().empty());
    h.start();
    EXPECT_EQ(h.state(), handshake_state::recv_status);
    EXPECT_EQ(hex(h.output()), hex(unhex("0013 4e 0000000d07df7fbd 6b01ad92 0004 61 40 76 6d")));
    h.start();  // idempotent
    EXPECT_EQ(h.output().size(), 21u);
}

TEST(handshake_bytes, acceptor_status_and_challenge_layout) {
    node_setup b{"b@vm"};
    b.creation = 0x01020304;
    b.challenge = 0xA0B0C0D0;
    b.flags = our_flags(false);
    auto h = handshake::acceptor(b.config());
    node_setup a{"a@vm"};
    auto init = handshake::initiator(a.config(), atom("b@vm"));
    init.start();
    h.feed(init.take_output());
    // 's' "ok", then 'N' flags challenge creation name.
    EXPECT_EQ(hex(h.output()), hex(unhex("0003 73 6f 6b"
                                         "0017 4e 0000000d07df7fbc a0b0c0d0 01020304 0004 62 40 76 6d")));
    EXPECT_EQ(h.state(), handshake_state::recv_challenge_reply);
}

TEST(handshake_bytes, reply_and_ack_layout) {
    node_setup a{"a@vm"}, b{"b@vm"};
    a.challenge = 1234567890;
    b.challenge = 42;
    a.cookie = b.cookie = "abc";
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    // a sent 'N' (21 bytes), then 'r' ChA digest(ChB = 42).
    bytes reply(r.a_sent.begin() + 21, r.a_sent.end());
    EXPECT_EQ(hex(reply),
              "0015"
              "72"
              "499602d2" +
                  hex(gen_digest(42, "abc")));
    // b's last message: 'a' digest(ChA); MD5("abc1234567890").
    bytes ack(r.b_sent.end() - 19, r.b_sent.end());
    EXPECT_EQ(hex(ack),
              "0011"
              "61"
              "57041f8f7dff9b67e3f97d7facbaf8d3");
}

TEST(handshake_bytes, tls_framing_uses_four_byte_prefixes) {
    node_setup a{"a@vm"}, b{"b@vm"};
    a.framing = b.framing = handshake_framing::tls;
    a.creation = 1795272082;
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    ASSERT_EQ(r.b.state(), handshake_state::up);
    EXPECT_EQ(hex(bytes(r.a_sent.begin(), r.a_sent.begin() + 23)),
              hex(unhex("00000013 4e 0000000d07df7fbd 6b01ad92 0004 61 40 76 6d")));
    EXPECT_EQ(hex(bytes(r.b_sent.begin(), r.b_sent.begin() + 7)), "00000003736f6b");
}

// ---- both roles in memory ----

TEST(handshake_pair, success) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.creation = 11;
    b.creation = 22;
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    ASSERT_EQ(r.b.state(), handshake_state::up);
    EXPECT_EQ(r.a.result()->peer, atom("bob@host"));
    EXPECT_EQ(r.b.result()->peer, atom("alice@host"));
    EXPECT_EQ(r.a.result()->peer_creation, 22u);
    EXPECT_EQ(r.b.result()->peer_creation, 11u);
    EXPECT_EQ(r.a.result()->flags, our_flags(true));
    EXPECT_EQ(r.b.result()->flags, r.a.result()->flags);
    EXPECT_TRUE(r.a.result()->visible());
    EXPECT_TRUE(r.a.leftover().empty());
    EXPECT_TRUE(r.b.leftover().empty());
    EXPECT_FALSE(r.a.failure());
    EXPECT_EQ(a.asked, std::vector<std::string>{"bob@host"});
    EXPECT_EQ(b.asked, std::vector<std::string>{"alice@host"});
}

TEST(handshake_pair, hidden_side_makes_connection_hidden) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.flags = our_flags(false);
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.b.state(), handshake_state::up);
    EXPECT_FALSE(r.a.result()->visible());
    EXPECT_FALSE(r.b.result()->visible());
    EXPECT_EQ(r.b.result()->peer_flags & dflag::published, 0u);
}

TEST(handshake_pair, negotiated_flags_are_the_and) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.flags = mandatory_25 | dflag::published | dflag::spawn;
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    EXPECT_EQ(r.a.result()->flags, mandatory_25 | dflag::published | dflag::spawn);
    EXPECT_EQ(r.b.result()->flags, r.a.result()->flags);
}

TEST(handshake_pair, wrong_cookie) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.cookie = "other";
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.b), handshake_error::bad_digest);
    EXPECT_EQ(r.b.failure()->state, handshake_state::recv_challenge_reply);
    EXPECT_NE(r.b.failure()->detail.find("invalid challenge reply"), std::string::npos);
    // The acceptor closes without a word (as OTP does): the initiator learns it from the close.
    EXPECT_TRUE(r.b.output().empty());
    EXPECT_EQ(error_of(r.a), handshake_error::closed);
    EXPECT_EQ(r.a.failure()->state, handshake_state::recv_challenge_ack);
    EXPECT_NE(r.a.failure()->detail.find("cookie"), std::string::npos);
}

TEST(handshake_pair, unauthenticated_peer_name_is_not_interned) {
    node_setup a{"never_interned_7f3a@host"}, b{"bob@host"};
    b.cookie = "other";
    // The initiator's own config interns its name; use a raw 'N' instead.
    byte_writer w;
    std::string name = "never_interned_9c1e@host";
    w.u8('N');
    w.u64(our_flags(true));
    w.u32(5);
    w.u16(static_cast<std::uint16_t>(name.size()));
    w.text(name);
    auto h = handshake::acceptor(b.config());
    h.feed(frame(w.take()));
    ASSERT_EQ(h.state(), handshake_state::recv_challenge_reply);
    EXPECT_EQ(h.peer_name_text(), name);
    EXPECT_FALSE(atom::existing(name).has_value());
    byte_writer reply;
    reply.u8('r');
    reply.u32(1);
    reply.bytes(gen_digest(0, "wrong").data(), 16);
    h.feed(frame(reply.take()));
    EXPECT_EQ(error_of(h), handshake_error::bad_digest);
    EXPECT_FALSE(atom::existing(name).has_value());
}

TEST(handshake_pair, bad_ack_digest_detected_by_initiator) {
    node_setup a{"alice@host"}, b{"bob@host"};
    auto init = handshake::initiator(a.config(), atom("bob@host"));
    init.start();
    auto acc = handshake::acceptor(b.config());
    acc.feed(init.take_output());
    init.feed(acc.take_output());
    ASSERT_EQ(init.state(), handshake_state::recv_challenge_ack);
    byte_writer ack;
    ack.u8('a');
    ack.bytes(gen_digest(1, "secret").data(), 16);
    init.feed(frame(ack.take()));
    EXPECT_EQ(error_of(init), handshake_error::bad_digest);
    EXPECT_NE(init.failure()->detail.find("invalid challenge ack"), std::string::npos);
}

TEST(handshake_pair, per_node_cookie_is_asked_for_the_right_peer) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.cookie = "shared_ab";
    b.cookie = "shared_ab";
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    EXPECT_EQ(a.asked, std::vector<std::string>{"bob@host"});
    EXPECT_EQ(b.asked, std::vector<std::string>{"alice@host"});
}

TEST(handshake_pair, initiator_lacks_mandatory_flags) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.flags = our_flags(true) & ~(dflag::map_tag | dflag::mandatory_25_digest);
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.b), handshake_error::missing_flags);
    EXPECT_EQ(r.b.failure()->missing_flags, dflag::map_tag);
    EXPECT_NE(r.b.failure()->detail.find("cannot handle [\"MAP_TAG\"]"), std::string::npos);
    EXPECT_EQ(hex(bytes(r.b_sent)), hex(frame("snot_allowed")));
    EXPECT_EQ(error_of(r.a), handshake_error::not_allowed);
}

TEST(handshake_pair, acceptor_lacks_mandatory_flags) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.flags = our_flags(true) & ~(dflag::utf8_atoms | dflag::big_creation | dflag::mandatory_25_digest);
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.a), handshake_error::missing_flags);
    EXPECT_EQ(r.a.failure()->state, handshake_state::recv_challenge);
    EXPECT_NE(r.a.failure()->detail.find("cannot handle [\"BIG_CREATION\",\"UTF8_ATOMS\"]"),
              std::string::npos);
    EXPECT_EQ(error_of(r.b), handshake_error::closed);
}

TEST(handshake_pair, digest_flag_alone_satisfies_mandatory) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.flags = dflag::mandatory_25_digest | dflag::published;
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.b.state(), handshake_state::up);
    EXPECT_EQ(r.b.result()->peer_flags, mandatory_25 | dflag::mandatory_25_digest | dflag::published);
}

TEST(handshake_pair, required_flags_can_be_raised) {
    node_setup a{"alice@host"}, b{"bob@host"};
    a.flags = our_flags(true) & ~dflag::v4_nc;
    handshake_config bc = b.config();
    bc.required_flags = mandatory_25 | dflag::v4_nc;
    auto acc = handshake::acceptor(std::move(bc));
    auto init = handshake::initiator(a.config(), atom("bob@host"));
    init.start();
    acc.feed(init.take_output());
    EXPECT_EQ(error_of(acc), handshake_error::missing_flags);
    EXPECT_EQ(acc.failure()->detail.find("V4_NC") != std::string::npos, true);
}

TEST(handshake_pair, nok_lost_simultaneous_connect) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.status = accept_status::nok;
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.a), handshake_error::nok);
    EXPECT_TRUE(r.a.failure()->lost_race());
    EXPECT_EQ(error_of(r.b), handshake_error::nok);
    EXPECT_TRUE(r.b.failure()->lost_race());
    EXPECT_EQ(hex(r.b_sent), hex(frame("snok")));
}

TEST(handshake_pair, ok_simultaneous_continues) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.status = accept_status::ok_simultaneous;
    run r(a, b);
    r.pump();
    ASSERT_EQ(r.a.state(), handshake_state::up);
    ASSERT_EQ(r.b.state(), handshake_state::up);
    EXPECT_EQ(hex(bytes(r.b_sent.begin(), r.b_sent.begin() + 18)), hex(frame("sok_simultaneous")));
}

TEST(handshake_pair, not_allowed) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.status = accept_status::not_allowed;
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.a), handshake_error::not_allowed);
    EXPECT_EQ(error_of(r.b), handshake_error::not_allowed);
    EXPECT_FALSE(r.a.failure()->lost_race());
}

TEST(handshake_pair, alive_true_waits_for_old_connection) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.status = accept_status::alive;
    a.alive_answer = true;
    run r(a, b);
    r.pump(false);
    EXPECT_EQ(r.a.state(), handshake_state::recv_challenge_ack);
    EXPECT_EQ(r.b.state(), handshake_state::send_challenge_ack);
    EXPECT_TRUE(r.b.awaiting_old_connection());
    EXPECT_TRUE(r.b.output().empty());
    r.b.old_connection_closed();
    EXPECT_FALSE(r.b.awaiting_old_connection());
    ASSERT_EQ(r.b.state(), handshake_state::up);
    r.a.feed(r.b.take_output());
    ASSERT_EQ(r.a.state(), handshake_state::up);
    // b sent "salive", a answered "strue".
    EXPECT_EQ(hex(bytes(r.b_sent.begin(), r.b_sent.begin() + 8)), hex(frame("salive")));
    const std::size_t name_frame = 2 + 15 + a.name.size();
    EXPECT_EQ(hex(bytes(r.a_sent.begin() + name_frame, r.a_sent.begin() + name_frame + 7)),
              hex(frame("strue")));
}

TEST(handshake_pair, alive_false) {
    node_setup a{"alice@host"}, b{"bob@host"};
    b.status = accept_status::alive;
    a.alive_answer = false;
    run r(a, b);
    r.pump();
    EXPECT_EQ(error_of(r.a), handshake_error::alive_false);
    EXPECT_EQ(error_of(r.b), handshake_error::alive_false);
    EXPECT_EQ(hex(bytes(r.a_sent.begin() + 2 + 15 + a.name.size(), r.a_sent.end())), hex(frame("sfalse")));
}

TEST(handshake_pair, name_mismatch) {
    node_setup a{"alice@host"}, b{"bob@host"};
    run r(a, b, "bob@otherhost");
    r.pump();
    EXPECT_EQ(error_of(r.a), handshake_error::name_mismatch);
    EXPECT_NE(r.a.failure()->detail.find("bob@otherhost"), std::string::npos);
    EXPECT_EQ(error_of(r.b), handshake_error::closed);
    EXPECT_EQ(r.b.failure()->state, handshake_state::recv_challenge_reply);
}

TEST(handshake_pair, timeout_names_the_step) {
    node_setup a{"alice@host"};
    auto h = handshake::initiator(a.config(), atom("bob@host"));
    h.start();
    h.timeout();
    EXPECT_EQ(error_of(h), handshake_error::timeout);
    EXPECT_NE(h.failure()->detail.find("recv_status"), std::string::npos);
    h.timeout();  // no effect once done
    h.feed(frame("sok"));
    EXPECT_EQ(h.state(), handshake_state::failed);
}

// ---- protocol errors ----

namespace {

handshake acceptor_fed(const bytes& data) {
    static node_setup b{"bob@host"};
    auto h = handshake::acceptor(b.config());
    h.feed(data);
    return h;
}

bytes name_msg(std::string_view name, std::uint64_t flags = our_flags(true), std::string_view extra = {}) {
    byte_writer w;
    w.u8('N');
    w.u64(flags);
    w.u32(7);
    w.u16(static_cast<std::uint16_t>(name.size()));
    w.text(name);
    w.text(extra);
    return frame(w.take());
}

// An initiator (alice, dialling bob) that has received "sok".
handshake initiator_after_ok() {
    static node_setup a{"alice@host"};
    auto h = handshake::initiator(a.config(), atom("bob@host"));
    h.start();
    h.take_output();
    h.feed(frame("sok"));
    return h;
}

bytes challenge_msg(std::string_view name, std::uint64_t flags = our_flags(true)) {
    byte_writer w;
    w.u8('N');
    w.u64(flags);
    w.u32(99);
    w.u32(8);
    w.u16(static_cast<std::uint16_t>(name.size()));
    w.text(name);
    return frame(w.take());
}

}  // namespace

TEST(handshake_errors, acceptor_name_message) {
    EXPECT_EQ(error_of(acceptor_fed(frame("x"))), handshake_error::bad_tag);
    EXPECT_EQ(error_of(acceptor_fed(frame(""))), handshake_error::bad_length);
    EXPECT_EQ(error_of(acceptor_fed(frame("N\1\2\3"))), handshake_error::bad_length);
    // Name length beyond the message.
    bytes m = name_msg("alice@host");
    m[1 + 2 + 8 + 4 + 1] += 1;
    EXPECT_EQ(error_of(acceptor_fed(m)), handshake_error::bad_length);
    // Version 5.
    byte_writer old;
    old.u8('n');
    old.u16(5);
    old.u32(0x3FFFC);
    old.text("alice@host");
    auto h = acceptor_fed(frame(old.take()));
    EXPECT_EQ(error_of(h), handshake_error::old_version);
    EXPECT_TRUE(h.output().empty());
}

TEST(handshake_errors, acceptor_rejects_bad_peer_names) {
    for (std::string_view bad : {"alice", "@host", "alice@", "a@b@c", "a b@c", "a@b\x01", "", "a\x7f@b"}) {
        auto h = acceptor_fed(name_msg(bad));
        EXPECT_EQ(error_of(h), handshake_error::bad_name) << bad;
        EXPECT_TRUE(h.output().empty()) << "OTP sends no status for a bad name";
    }
    EXPECT_EQ(error_of(acceptor_fed(name_msg(std::string(251, 'a') + "@host"))), handshake_error::bad_name);
    EXPECT_EQ(acceptor_fed(name_msg(std::string(250, 'a') + "@host")).state(),
              handshake_state::recv_challenge_reply);
    // Any printable bytes in the alive part are accepted from peers, as OTP does.
    EXPECT_EQ(acceptor_fed(name_msg("my.node@host")).state(), handshake_state::recv_challenge_reply);
    // Trailing bytes after the name are ignored.
    EXPECT_EQ(acceptor_fed(name_msg("alice@host", our_flags(true), "future")).state(),
              handshake_state::recv_challenge_reply);
}

TEST(handshake_errors, acceptor_rejects_name_me) {
    auto h = acceptor_fed(name_msg("host", our_flags(false) | dflag::name_me));
    EXPECT_EQ(error_of(h), handshake_error::name_me);
    EXPECT_NE(h.failure()->detail.find("dynamic node names are not supported"), std::string::npos);
    EXPECT_EQ(hex(h.output()), hex(frame("snot_allowed")));
}

TEST(handshake_errors, message_size_limit_without_buffering) {
    auto h = acceptor_fed(unhex("0801"));  // 2049 bytes announced
    EXPECT_EQ(error_of(h), handshake_error::bad_length);
    node_setup b{"bob@host"};
    handshake_config c = b.config();
    c.framing = handshake_framing::tls;
    auto t = handshake::acceptor(c);
    t.feed(unhex("ffffffff"));
    EXPECT_EQ(error_of(t), handshake_error::bad_length);
}

TEST(handshake_errors, acceptor_reply_sizes) {
    auto mk = [&] {
        auto h = acceptor_fed(name_msg("alice@host"));
        h.take_output();
        return h;
    };
    auto h1 = mk();
    h1.feed(frame(std::string("r") + std::string(19, '\0')));
    EXPECT_EQ(error_of(h1), handshake_error::bad_length);
    auto h2 = mk();
    h2.feed(frame(std::string("r") + std::string(21, '\0')));
    EXPECT_EQ(error_of(h2), handshake_error::trailing_bytes);
    auto h3 = mk();
    h3.feed(frame(std::string("a") + std::string(20, '\0')));
    EXPECT_EQ(error_of(h3), handshake_error::bad_tag);
}

TEST(handshake_errors, initiator_status) {
    auto status = [](std::string_view s) {
        static node_setup a{"alice@host"};
        auto h = handshake::initiator(a.config(), atom("bob@host"));
        h.start();
        h.feed(frame(s));
        return h;
    };
    EXPECT_EQ(error_of(status("sbogus")), handshake_error::bad_status);
    EXPECT_EQ(error_of(status(std::string_view("sok\0", 4))), handshake_error::bad_status);
    EXPECT_EQ(error_of(status("snamed:\0\4a@vm\0\0\0\1")), handshake_error::bad_status);
    EXPECT_EQ(error_of(status("x")), handshake_error::bad_tag);
    EXPECT_EQ(error_of(status("snot_allowed")), handshake_error::not_allowed);
    EXPECT_EQ(status("sok").state(), handshake_state::recv_challenge);
    EXPECT_EQ(status("sok_simultaneous").state(), handshake_state::recv_challenge);
}

TEST(handshake_errors, initiator_challenge) {
    {
        auto h = initiator_after_ok();
        h.feed(challenge_msg("bob@host"));
        EXPECT_EQ(h.state(), handshake_state::recv_challenge_ack);
    }
    {
        auto h = initiator_after_ok();
        h.feed(frame("N\0\0\0"));
        EXPECT_EQ(error_of(h), handshake_error::bad_length);
    }
    {
        auto h = initiator_after_ok();
        byte_writer w;
        w.u8('n');
        w.u16(5);
        w.u32(0x3FFFC);
        w.u32(1);
        w.text("bob@host");
        h.feed(frame(w.take()));
        EXPECT_EQ(error_of(h), handshake_error::old_version);
    }
    {
        auto h = initiator_after_ok();
        h.feed(challenge_msg("bob@hos"));
        EXPECT_EQ(error_of(h), handshake_error::name_mismatch);
    }
    {
        auto h = initiator_after_ok();
        h.feed(frame("r"));
        EXPECT_EQ(error_of(h), handshake_error::bad_tag);
    }
}

TEST(handshake_errors, initiator_ack_sizes) {
    auto mk = [] {
        auto h = initiator_after_ok();
        h.feed(challenge_msg("bob@host"));
        return h;
    };
    auto h1 = mk();
    h1.feed(frame(std::string("a") + std::string(15, '\0')));
    EXPECT_EQ(error_of(h1), handshake_error::bad_length);
    auto h2 = mk();
    h2.feed(frame(std::string("a") + std::string(17, '\0')));
    EXPECT_EQ(error_of(h2), handshake_error::trailing_bytes);
}

TEST(handshake_errors, peer_speaking_first_is_bounded) {
    node_setup a{"alice@host"};
    auto h = handshake::initiator(a.config(), atom("bob@host"));
    h.feed(frame("sok"));  // before start(): kept, read after start()
    EXPECT_EQ(h.state(), handshake_state::send_name);
    h.start();
    EXPECT_EQ(h.state(), handshake_state::recv_challenge);
    auto g = handshake::initiator(a.config(), atom("bob@host"));
    g.feed(bytes(3000, 0));
    EXPECT_EQ(error_of(g), handshake_error::unexpected_data);
}

TEST(handshake_errors, closed_in_each_step_names_the_likely_cause) {
    node_setup a{"alice@host"};
    auto h = handshake::initiator(a.config(), atom("bob@host"));
    h.start();
    h.closed();
    EXPECT_EQ(error_of(h), handshake_error::closed);
    EXPECT_EQ(h.failure()->state, handshake_state::recv_status);
    auto g = acceptor_fed({});
    g.closed();
    EXPECT_EQ(g.failure()->state, handshake_state::recv_name);
}

TEST(handshake_errors, cookie_for_is_required) {
    handshake_config c;
    c.name = atom("a@b");
    EXPECT_THROW((void)handshake::acceptor(c), std::invalid_argument);
}

// ---- leftover ----

TEST(handshake_leftover, bytes_after_ack_are_returned_exactly) {
    node_setup a{"alice@host"}, b{"bob@host"};
    run r(a, b);
    r.a.start();
    r.b.feed(r.a.take_output());
    r.a.feed(r.b.take_output());
    r.b.feed(r.a.take_output());
    ASSERT_EQ(r.b.state(), handshake_state::up);
    // The acceptor's ack, then at once a tick and a packet (4-byte framing) in the same read.
    bytes tail = unhex("00000000 00000003 707172");
    bytes ack = r.b.take_output();
    r.a.feed(concat({ack, tail}));
    ASSERT_EQ(r.a.state(), handshake_state::up);
    EXPECT_EQ(hex(r.a.leftover()), hex(tail));
    r.a.feed(unhex("ff"));  // fed after up: appended, never lost
    EXPECT_EQ(hex(r.a.take_leftover()), hex(tail) + "ff");
    EXPECT_TRUE(r.a.leftover().empty());
}

// ---- grind ----

namespace {

struct transcript {
    std::string name;
    node_setup a, b;
    std::string dial;
    bytes a_sent, b_sent;  // from a live run
    hs_fuzz::outcome a_out, b_out;
};

// Replays `peer_bytes` into a fresh machine (fed with `feed`), returns its outcome.
template <class Feed>
hs_fuzz::outcome replay(transcript& t, bool initiator, const bytes& peer_bytes, Feed feed) {
    handshake h = initiator ? handshake::initiator(t.a.config(), atom(t.dial.empty() ? t.b.name : t.dial))
                            : handshake::acceptor(t.b.config());
    h.start();
    feed(h, peer_bytes);
    if (h.awaiting_old_connection()) h.old_connection_closed();
    return hs_fuzz::observe(h);
}

std::vector<transcript> transcripts() {
    std::vector<transcript> ts;
    auto add = [&](std::string name, auto tweak) {
        transcript t;
        t.name = std::move(name);
        t.a.name = "alice@host";
        t.b.name = "bob@host";
        tweak(t);
        run r(t.a, t.b, t.dial);
        r.pump();
        t.a_sent = r.a_sent;
        t.b_sent = r.b_sent;
        // Tail data after the handshake, which must come back as leftover on the initiator.
        if (r.a.state() == handshake_state::up) {
            bytes tail = unhex("00000000 00000005 8344ffee01");
            t.b_sent.insert(t.b_sent.end(), tail.begin(), tail.end());
        }
        ts.push_back(std::move(t));
    };
    add("success", [](transcript&) {});
    add("tls", [](transcript& t) { t.a.framing = t.b.framing = handshake_framing::tls; });
    add("wrong_cookie", [](transcript& t) { t.b.cookie = "nope"; });
    add("missing_flags", [](transcript& t) { t.a.flags = mandatory_25 & ~dflag::map_tag; });
    add("acceptor_missing_flags", [](transcript& t) { t.b.flags = dflag::published; });
    add("nok", [](transcript& t) { t.b.status = accept_status::nok; });
    add("ok_simultaneous", [](transcript& t) { t.b.status = accept_status::ok_simultaneous; });
    add("not_allowed", [](transcript& t) { t.b.status = accept_status::not_allowed; });
    add("alive_true", [](transcript& t) { t.b.status = accept_status::alive; });
    add("alive_false", [](transcript& t) {
        t.b.status = accept_status::alive;
        t.a.alive_answer = false;
    });
    add("name_mismatch", [](transcript& t) { t.dial = "bob@elsewhere"; });
    return ts;
}

}  // namespace

TEST(handshake_grind, every_split_gives_the_same_outcome) {
    for (transcript& t : transcripts()) {
        for (bool initiator : {true, false}) {
            const bytes& peer = initiator ? t.b_sent : t.a_sent;
            auto whole = replay(t, initiator, peer, [](handshake& h, const bytes& d) { h.feed(d); });
            SCOPED_TRACE(t.name + (initiator ? " initiator" : " acceptor"));
            ASSERT_NE(whole.state, handshake_state::recv_status) << "transcript did not progress";
            // Byte by byte.
            auto bytewise = replay(t, initiator, peer, [](handshake& h, const bytes& d) {
                for (std::uint8_t c : d)
                    h.feed(byte_span(&c, 1));
            });
            EXPECT_EQ(bytewise, whole) << "byte by byte";
            // Two pieces, at every offset; three pieces at every pair of offsets.
            for (std::size_t i = 0; i <= peer.size(); ++i) {
                auto two = replay(t, initiator, peer, [i](handshake& h, const bytes& d) {
                    h.feed(byte_span(d).first(i));
                    h.feed(byte_span(d).subspan(i));
                });
                ASSERT_EQ(two, whole) << "split at " << i;
                for (std::size_t j = i; j <= peer.size(); j += 3) {
                    auto three = replay(t, initiator, peer, [i, j](handshake& h, const bytes& d) {
                        h.feed(byte_span(d).first(i));
                        h.feed(byte_span(d).subspan(i, j - i));
                        h.feed(byte_span(d).subspan(j));
                    });
                    ASSERT_EQ(three, whole) << "split at " << i << " and " << j;
                }
            }
        }
    }
}

TEST(handshake_grind, transcripts_reach_the_live_outcome) {
    for (transcript& t : transcripts()) {
        SCOPED_TRACE(t.name);
        auto init = replay(t, true, t.b_sent, [](handshake& h, const bytes& d) { h.feed(d); });
        auto acc = replay(t, false, t.a_sent, [](handshake& h, const bytes& d) { h.feed(d); });
        // What each replayed machine sent is exactly what it sent live.
        EXPECT_EQ(hex(init.output), hex(t.a_sent));
        EXPECT_EQ(hex(acc.output), hex(bytes(t.b_sent.begin(), t.b_sent.begin() + acc.output.size())));
        if (init.state == handshake_state::up) {
            EXPECT_EQ(hex(init.leftover), "00000000000000058344ffee01");
            EXPECT_EQ(init.peer, "bob@host");
            EXPECT_EQ(acc.peer, "alice@host");
        }
    }
}

// ---- fuzz corpora stay valid ----

#ifdef NODUS_HS_CORPUS_DIR
namespace {

// fread rather than istreambuf_iterator, which trips g++ 12's -Wnull-dereference at -O3.
bytes read_file(const std::filesystem::path& p) {
    bytes data;
    if (std::FILE* f = std::fopen(p.c_str(), "rb")) {
        std::uint8_t buf[256];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
            data.insert(data.end(), buf, buf + n);
        std::fclose(f);
    }
    return data;
}

// The peer streams of a successful exchange with the fuzz targets' fixed identities: what the
// acceptor sends to hs_fuzz::make_initiator(), and what the initiator sends to make_acceptor().
// creation % 5 picks the acceptor's status (0 ok, 1 ok_simultaneous, 4 alive).
void fuzz_streams(std::uint32_t initiator_creation, bytes& to_initiator, bytes& to_acceptor) {
    auto ic = hs_fuzz::config(hs_fuzz::initiator_name, initiator_creation, hs_fuzz::initiator_challenge);
    auto init = handshake::initiator(std::move(ic), atom(hs_fuzz::acceptor_name));
    auto acc = hs_fuzz::make_acceptor();
    init.start();
    for (int i = 0; i < 10; ++i) {
        bytes a = init.take_output(), b = acc.take_output();
        to_acceptor.insert(to_acceptor.end(), a.begin(), a.end());
        to_initiator.insert(to_initiator.end(), b.begin(), b.end());
        acc.feed(a);
        init.feed(b);
        if (acc.awaiting_old_connection()) acc.old_connection_closed();
    }
}

}  // namespace

TEST(handshake_fuzz_corpus, seeds_reach_up) {
    // NODUS_HS_WRITE_CORPUS=1 regenerates the seeds (when the fixed identities change).
    const bool write = std::getenv("NODUS_HS_WRITE_CORPUS") != nullptr;
    std::filesystem::path dir(NODUS_HS_CORPUS_DIR);
    struct seed {
        const char* name;
        std::uint32_t creation;
    };
    for (seed s : {seed{"ok", 5}, seed{"ok_simultaneous", 6}, seed{"alive", 9}}) {
        bytes to_initiator, to_acceptor;
        fuzz_streams(s.creation, to_initiator, to_acceptor);
        bytes tail = unhex("00000000");
        to_initiator.insert(to_initiator.end(), tail.begin(), tail.end());
        auto ipath = dir / "handshake_initiator" / (std::string("up_") + s.name);
        auto apath = dir / "handshake_acceptor" / (std::string("up_") + s.name);
        if (write) {
            std::filesystem::create_directories(ipath.parent_path());
            std::filesystem::create_directories(apath.parent_path());
            std::ofstream(ipath, std::ios::binary)
                .write(reinterpret_cast<const char*>(to_initiator.data()),
                       static_cast<std::streamsize>(to_initiator.size()));
            std::ofstream(apath, std::ios::binary)
                .write(reinterpret_cast<const char*>(to_acceptor.data()),
                       static_cast<std::streamsize>(to_acceptor.size()));
        }
        // The initiator seeds assume the fuzz initiator's creation; only "ok" matches it exactly,
        // the others differ in the acceptor's status and still reach up.
        bytes iseed = read_file(ipath), aseed = read_file(apath);
        EXPECT_EQ(hex(aseed), hex(to_acceptor)) << apath;
        auto acc = hs_fuzz::make_acceptor();
        hs_fuzz::drive(acc, aseed, 0);
        EXPECT_EQ(acc.state(), handshake_state::up) << apath;
        auto init = hs_fuzz::make_initiator();
        hs_fuzz::drive(init, iseed, 0);
        EXPECT_EQ(init.state(), handshake_state::up) << ipath;
        EXPECT_EQ(hex(init.leftover()), "00000000");
    }
}
#endif

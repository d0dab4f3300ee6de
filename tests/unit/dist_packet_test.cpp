// The packet layer: the real captures of etf.md §3.2 and the fragment example of OTP's
// erl_ext_dist documentation decode to exactly the terms shown; every error a peer can cause is
// reported with its own code; the writer's packets read back to the same terms for small and
// 10 MB messages, with FRAGMENTS and DIST_HDR_ATOM_CACHE on and off.
#include "nodus/dist/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/etf/etf.hpp"

using namespace nodus;
using namespace nodus::dist;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t hdr = dflag::dist_hdr_atom_cache;
constexpr std::uint64_t frag = dflag::fragments;

// "83 44 'text' 04": hex bytes separated by spaces, and quoted text.
bytes parse(std::string_view s) {
    bytes out;
    for (std::size_t i = 0; i < s.size();) {
        char c = s[i];
        if (c == ' ' || c == '\n') {
            ++i;
        } else if (c == '\'') {
            std::size_t end = s.find('\'', i + 1);
            for (std::size_t j = i + 1; j < end; ++j)
                out.push_back(static_cast<std::uint8_t>(s[j]));
            i = end + 1;
        } else {
            out.push_back(static_cast<std::uint8_t>(std::stoul(std::string(s.substr(i, 2)), nullptr, 16)));
            i += 2;
        }
    }
    return out;
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const bytes& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

bytes body_of(const term& t) {
    byte_writer w;
    etf::encode_body(t, w, {2, -1, nullptr});
    return w.take();
}
bytes external(const term& t) {
    return etf::encode(t, {2, -1, nullptr});
}

const atom a_vm("a@vm");
pid capture_pid() {
    return pid::make(a_vm, 54, 0, 0x6b01ad9c);
}

// Feeds one packet payload and expects a complete message.
dist_message feed_ok(packet_reader& r, const bytes& packet) {
    auto m = r.feed(packet);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
    if (!m || !*m) {
        ADD_FAILURE() << "no message";
        return {};
    }
    return std::move(**m);
}

packet_error feed_error(packet_reader& r, const bytes& packet) {
    auto m = r.feed(packet);
    EXPECT_FALSE(m.has_value()) << "packet accepted";
    if (m) return {packet_errc::failed, "accepted"};
    return m.error();
}

// The packet payloads of an outgoing message (length prefixes checked and stripped).
std::vector<bytes> payloads(const outgoing_message& m) {
    std::vector<bytes> out;
    for (const outgoing_packet& p : m.packets) {
        EXPECT_GE(p.head.size(), 5u);
        std::uint32_t len = byte_reader::get32(p.head.data());
        EXPECT_EQ(len, p.size() - 4);
        bytes b;
        p.append_to(b);
        b.erase(b.begin(), b.begin() + 4);
        out.push_back(std::move(b));
    }
    return out;
}

}  // namespace

// ---- real captures (etf.md §3.2) ----

const char* const capture_1 =
    "83 44 04 8f dc 00"
    " dc 04 'a@vm' 05 00 77 03 'rex' 07 10 'features_request'"
    " 68 04 61 06 58 52 00 00000036 00000000 6b01ad9c 52 01 52 02"
    " 68 02 58 52 00 00000036 00000000 6b01ad9c 52 03";

TEST(dist_packet, capture_with_new_atom_cache_entries) {
    packet_reader r(otp25_default);
    dist_message m = feed_ok(r, parse(capture_1));
    const term p = capture_pid();
    EXPECT_TRUE(m.control == tuple(term(6), p, atom(), atom("rex")));
    ASSERT_TRUE(m.payload.has_value());
    EXPECT_TRUE(*m.payload == tuple(p, atom("features_request")));
    EXPECT_EQ(m.control[1].pid_creation(), 0x6b01ad9cu);
    EXPECT_EQ(r.cached_atom(7 * 256 + 220), a_vm);
    EXPECT_EQ(r.cached_atom(0 * 256 + 5), atom());
    EXPECT_EQ(r.cached_atom(4 * 256 + 119), atom("rex"));
    EXPECT_EQ(r.cached_atom(5 * 256 + 7), atom("features_request"));
    EXPECT_FALSE(r.cached_atom(0).has_value());
    // erl's REG_SEND has the shape the quick reading takes: the destination, no control tuple.
    packet_reader quick(otp25_default);
    quick.set_quick_messages(true);
    dist_message q = feed_ok(quick, parse(capture_1));
    EXPECT_EQ(q.quick.what, quick_message::kind::to_name);
    EXPECT_TRUE(q.quick.to == term(atom("rex")));
    EXPECT_TRUE(q.control == term());
    EXPECT_TRUE(q.payload == m.payload);
}

TEST(dist_packet, capture_reusing_a_cached_atom) {
    packet_reader r(otp25_default);
    feed_ok(r, parse(capture_1));
    // etf.md shows the header and the start of the control tuple; the rest of this DEMONITOR_P
    // (From pid, Target = the net_kernel name, Ref) is completed with the capture's node.
    bytes second = parse(
        "83 44 02 97 00 dc af 0a 'net_kernel'"
        " 68 04 61 14 58 52 00 00000036 00000000 6b01ad9c 52 01"
        " 5a 0003 52 00 6b01ad9c 00000001 00000002 00000003");
    dist_message m = feed_ok(r, second);
    const std::uint32_t words[] = {1, 2, 3};
    EXPECT_TRUE(m.control ==
                tuple(term(20), capture_pid(), atom("net_kernel"), reference::make(a_vm, 0x6b01ad9c, words)));
    EXPECT_FALSE(m.payload.has_value());
    EXPECT_EQ(r.cached_atom(1 * 256 + 175), atom("net_kernel"));
    // The same cached reference in a fresh reader is an error: the cache is per connection.
    packet_reader fresh(otp25_default);
    EXPECT_EQ(feed_error(fresh, second).code, packet_errc::bad_cache_ref);
}

// The example of "Distribution Header for fragmented messages" in OTP's erl_ext_dist
// documentation: {call, <0.245.2>, {set_get_state, <<0:1024>>}} sent to reg in two fragments,
// with two atoms already cached (slots 4:10, the node, and 0:5, '').
TEST(dist_packet, fragment_example_of_the_otp_documentation) {
    packet_reader r(hdr | frag);
    // An earlier packet puts the node name and '' into slots 4:10 and 0:5.
    bytes earlier =
        cat({parse("83 44 02 8c 00 0a 0a 'nodeb@host' 05 00"),
             parse("68 03 61 01 58 52 00 00000001 00000000 00000002 58 52 00 00000002 00000000 00000002")});
    dist_message link_msg = feed_ok(r, earlier);
    const atom node("nodeb@host");
    EXPECT_TRUE(link_msg.control == tuple(term(1), pid::make(node, 1, 0, 2), pid::make(node, 2, 0, 2)));

    bytes first = cat({parse("83 45 000002a800000553 0000000000000002"
                             " 05 04 89 09 0a 05 ec 03 'reg' 09 04 'call' ee 0d 'set_get_state'"
                             " 68 04 61 06 67 52 00 00000055 00000000 02 52 01 52 02"
                             " 68 03 52 03 67 52 00 000000f5 00000002 02"
                             " 68 02 52 04 6d 00000080"),
                       bytes(103, 0)});
    bytes second = cat({parse("83 46 000002a800000553 0000000000000001"), bytes(25, 0)});
    auto r1 = r.feed(first);
    ASSERT_TRUE(r1.has_value()) << r1.error().message;
    EXPECT_FALSE(r1->has_value());
    EXPECT_EQ(r.sequences_in_flight(), 1u);
    dist_message m = feed_ok(r, second);
    EXPECT_EQ(r.sequences_in_flight(), 0u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
    EXPECT_TRUE(m.control == tuple(term(6), pid::make(node, 0x55, 0, 2), atom(), atom("reg")));
    ASSERT_TRUE(m.payload.has_value());
    EXPECT_TRUE(*m.payload == tuple(atom("call"), pid::make(node, 245, 2, 2),
                                    tuple(atom("set_get_state"), binary(std::string(128, '\0')))));
}

// ---- pass-through and mode checks ----

TEST(dist_packet, pass_through_packets) {
    packet_reader r(0);
    const term control = tuple(term(2), atom(), pid::make(a_vm, 1, 2, 3));
    const term msg = tuple(atom("hello"), string("world"), binary("bin"));
    dist_message m = feed_ok(r, cat({{112}, external(control), external(msg)}));
    EXPECT_TRUE(m.control == control);
    EXPECT_TRUE(m.payload == std::optional<term>(msg));
    dist_message c = feed_ok(r, cat({{112}, external(control)}));
    EXPECT_FALSE(c.payload.has_value());
    // Each term carries its own 131.
    EXPECT_EQ(feed_error(r, cat({{112}, body_of(control)})).code, packet_errc::bad_term);
    packet_reader r2(0);
    packet_error e = feed_error(r2, cat({{112}, external(control), body_of(msg)}));
    EXPECT_EQ(e.code, packet_errc::bad_term);
    EXPECT_NE(e.message.find("payload term of a pass-through packet starts with 104, not 131"),
              std::string::npos)
        << e.message;
}

TEST(dist_packet, a_form_the_flags_do_not_allow_is_an_incompatible_peer) {
    const term control = tuple(term(1), pid::make(a_vm, 1, 2, 3), pid::make(a_vm, 4, 5, 6));
    const bytes pass = cat({{112}, external(control)});
    const bytes header = cat({{131, 68, 0}, body_of(control)});
    const bytes first = cat({parse("83 45 0000000000000001 0000000000000002 00"), body_of(control)});
    const bytes cont = parse("83 46 0000000000000001 0000000000000001");
    {
        packet_reader r(hdr | frag);
        packet_error e = feed_error(r, pass);
        EXPECT_EQ(e.code, packet_errc::incompatible_peer);
        EXPECT_NE(e.message.find("pass-through packet (112)"), std::string::npos) << e.message;
    }
    {
        packet_reader r(0);
        packet_error e = feed_error(r, header);
        EXPECT_EQ(e.code, packet_errc::incompatible_peer);
        EXPECT_NE(e.message.find("distribution header (131) on a pass-through connection"),
                  std::string::npos);
    }
    for (const bytes* p : {&first, &cont}) {
        packet_reader r(hdr);
        packet_error e = feed_error(r, *p);
        EXPECT_EQ(e.code, packet_errc::incompatible_peer);
        EXPECT_NE(e.message.find("did not negotiate FRAGMENTS"), std::string::npos) << e.message;
    }
    {
        packet_reader r(0);
        EXPECT_EQ(feed_error(r, first).code, packet_errc::incompatible_peer);
    }
    // As in OTP, FRAGMENTS alone selects the header forms too.
    {
        packet_reader r(frag);
        EXPECT_TRUE(r.header_mode());
        EXPECT_TRUE(feed_ok(r, header).control == control);
        packet_reader r2(frag);
        EXPECT_EQ(feed_error(r2, pass).code, packet_errc::incompatible_peer);
    }
    EXPECT_TRUE(uses_dist_header(hdr));
    EXPECT_TRUE(uses_dist_header(frag));
    EXPECT_FALSE(uses_dist_header(dflag::send_sender));
}

TEST(dist_packet, malformed_packets) {
    const term control = tuple(term(1), pid::make(a_vm, 1, 2, 3), pid::make(a_vm, 4, 5, 6));
    auto err = [](std::uint64_t flags, const bytes& p) {
        packet_reader r(flags);
        return feed_error(r, p);
    };
    EXPECT_EQ(err(hdr, {}).code, packet_errc::empty);
    EXPECT_EQ(err(0, {}).code, packet_errc::empty);
    EXPECT_EQ(err(hdr, {131}).code, packet_errc::bad_header);
    EXPECT_EQ(err(hdr, {131, 71, 0}).code, packet_errc::bad_header);
    EXPECT_EQ(err(hdr, {7, 68, 0}).code, packet_errc::bad_header);
    EXPECT_EQ(err(0, {7, 131}).code, packet_errc::incompatible_peer);
    EXPECT_EQ(err(hdr, {131, 68}).code, packet_errc::bad_header);
    EXPECT_EQ(err(hdr, {131, 68, 1}).code, packet_errc::bad_header);                // no flags
    EXPECT_EQ(err(hdr, {131, 68, 1, 8}).code, packet_errc::bad_header);             // no ref
    EXPECT_EQ(err(hdr, {131, 68, 1, 8, 3}).code, packet_errc::bad_header);          // no length
    EXPECT_EQ(err(hdr, {131, 68, 1, 8, 3, 2, 'a'}).code, packet_errc::bad_header);  // short text
    EXPECT_EQ(err(hdr, {131, 68, 0}).code, packet_errc::bad_term);                  // no control term
    EXPECT_EQ(err(hdr | frag, parse("83 45 0000000000000001 00000000000000")).code, packet_errc::bad_header);
    EXPECT_EQ(err(hdr | frag, parse("83 46 0000000000000001")).code, packet_errc::bad_header);
    // Trailing bytes after the terms.
    packet_error t = err(hdr, cat({{131, 68, 0}, body_of(control), body_of(atom("x")), {0}}));
    EXPECT_EQ(t.code, packet_errc::trailing_data);
    EXPECT_NE(t.message.find("1 bytes after the payload term"), std::string::npos);
    EXPECT_EQ(err(0, cat({{112}, external(control), external(atom("x")), {131}})).code,
              packet_errc::trailing_data);
    // A term with its own 131 after a header.
    EXPECT_EQ(err(hdr, cat({{131, 68, 0}, external(control)})).code, packet_errc::bad_term);
    // ATOM_CACHE_REF beyond the header's refs.
    packet_error c = err(hdr, parse("83 44 01 08 00 01 'x' 68 02 52 00 52 01"));
    EXPECT_EQ(c.code, packet_errc::bad_term);
    ASSERT_TRUE(c.etf_error.has_value());
    EXPECT_EQ(c.etf_error->code, etf::errc::bad_cache_ref);
    EXPECT_NE(c.message.find("control term: "), std::string::npos) << c.message;
}

TEST(dist_packet, header_atoms) {
    // LongAtoms: 2-byte lengths; here an atom of 150 characters in 300 bytes.
    std::string long_name;
    for (int i = 0; i < 150; ++i)
        long_name += "\xC3\xA9";
    bytes p = cat({{131, 68, 2, 0x88, 0x01},
                   {3, 0x01, 0x2C},
                   bytes(long_name.begin(), long_name.end()),
                   {4, 0x00, 0x01, 'x'},
                   {104, 2, 82, 0, 82, 1}});
    packet_reader r(hdr);
    dist_message m = feed_ok(r, p);
    EXPECT_TRUE(m.control == tuple(atom(long_name), atom("x")));
    EXPECT_EQ(r.cached_atom(3), atom(long_name));
    EXPECT_EQ(r.cached_atom(4), atom("x"));
    // The same header without LongAtoms reads the lengths as one byte: garbage, an error.
    packet_reader r2(hdr);
    bytes short_flags = p;
    short_flags[4] = 0;
    EXPECT_FALSE(r2.feed(short_flags).has_value());

    // Invalid UTF-8 in a header atom.
    packet_reader r3(hdr);
    packet_error bad = feed_error(r3, parse("83 44 01 08 00 02 ff fe 68 01 52 00"));
    EXPECT_EQ(bad.code, packet_errc::bad_atom);
    EXPECT_NE(bad.message.find("ref 0"), std::string::npos);

    // The atom budget covers the header's new atoms; existing atoms cost nothing.
    std::size_t budget = 1;
    etf::decode_options base;
    base.atom_budget = &budget;
    packet_reader r4(hdr, {}, base);
    feed_ok(r4, parse("83 44 02 88 00 01 03 'rex' 02 1a 'nodus_packet_test_unique_1' 68 02 52 00 52 01"));
    EXPECT_EQ(budget, 0u);
    feed_ok(r4, parse("83 44 01 08 05 03 'rex' 68 01 52 00"));
    packet_error spent = feed_error(r4, parse("83 44 01 08 06 1a 'nodus_packet_test_unique_2' 68 01 52 00"));
    EXPECT_EQ(spent.code, packet_errc::bad_atom);
    EXPECT_NE(spent.message.find("atom budget"), std::string::npos);
    base.atom_budget = nullptr;
    base.allow_new_atoms = false;
    packet_reader r5(hdr, {}, base);
    EXPECT_EQ(feed_error(r5, parse("83 44 01 08 06 1a 'nodus_packet_test_unique_3' 68 01 52 00")).code,
              packet_errc::bad_atom);

    // Inline atoms are always accepted on a header connection.
    packet_reader r6(hdr);
    EXPECT_TRUE(feed_ok(r6, cat({{131, 68, 0}, body_of(tuple(atom("inline"), atom("é")))})).control ==
                tuple(atom("inline"), atom("é")));
}

// ---- fragments ----

namespace {

struct fragmenter {
    std::uint64_t seq;
    bytes header_and_body;  // atom cache header (N=0 here) + terms

    static fragmenter of(std::uint64_t seq, const term& control, const term& payload) {
        return {seq, cat({{0}, body_of(control), body_of(payload)})};
    }
    // Packets cutting the terms at the given offsets (0 < cuts < size, increasing).
    std::vector<bytes> packets(const std::vector<std::size_t>& cuts) const {
        std::vector<bytes> out;
        std::uint64_t count = cuts.size() + 1;
        std::size_t from = 0;
        for (std::uint64_t i = 0; i < count; ++i) {
            std::size_t to = i < cuts.size() ? cuts[i] : header_and_body.size();
            byte_writer w;
            w.u8(131);
            w.u8(i == 0 ? 69 : 70);
            w.u64(seq);
            w.u64(count - i);
            w.bytes(header_and_body.data() + from, to - from);
            out.push_back(w.take());
            from = to;
        }
        return out;
    }
};

const term big_control = tuple(term(6), pid::make(a_vm, 5, 0, 1), atom(), atom("sink"));
term big_payload(std::size_t n) {
    return tuple(atom("data"), binary(std::string(n, 'z')), term(42));
}

}  // namespace

TEST(dist_packet, fragments_reassemble_and_interleave_with_other_packets) {
    packet_reader r(hdr | frag);
    fragmenter a = fragmenter::of(0x100, big_control, big_payload(300));
    fragmenter b = fragmenter::of(0x200, big_control, big_payload(500));
    auto pa = a.packets({40, 200, 250});
    auto pb = b.packets({100});
    const term small = tuple(term(1), pid::make(a_vm, 1, 0, 1), pid::make(a_vm, 2, 0, 1));
    const bytes normal = cat({{131, 68, 0}, body_of(small)});
    std::vector<std::pair<const bytes*, int>> order = {{&pa[0], -1}, {&pb[0], -1}, {&normal, 2}, {&pa[1], -1},
                                                       {&pb[1], 1},  {&normal, 2}, {&pa[2], -1}, {&pa[3], 0}};
    for (auto [p, expect] : order) {
        auto m = r.feed(*p);
        ASSERT_TRUE(m.has_value()) << m.error().message;
        ASSERT_EQ(m->has_value(), expect >= 0);
        if (expect == 0) {
            EXPECT_TRUE((*m)->payload == std::optional<term>(big_payload(300)));
        }
        if (expect == 1) {
            EXPECT_TRUE((*m)->payload == std::optional<term>(big_payload(500)));
        }
        if (expect == 2) {
            EXPECT_TRUE((*m)->control == small);
        }
    }
    EXPECT_EQ(r.sequences_in_flight(), 0u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(dist_packet, one_fragment_sequence_is_a_complete_message) {
    packet_reader r(hdr | frag);
    fragmenter a = fragmenter::of(9, big_control, big_payload(10));
    dist_message m = feed_ok(r, a.packets({})[0]);
    EXPECT_TRUE(m.payload == std::optional<term>(big_payload(10)));
}

TEST(dist_packet, fragment_errors) {
    fragmenter a = fragmenter::of(0x77, big_control, big_payload(300));
    auto p = a.packets({50, 150, 250});  // fragment ids 4, 3, 2, 1
    {
        packet_reader r(hdr | frag);
        packet_error e = feed_error(r, p[1]);
        EXPECT_EQ(e.code, packet_errc::unknown_sequence);
        EXPECT_NE(e.message.find("sequence 0x77, which is not in flight"), std::string::npos) << e.message;
    }
    {
        packet_reader r(hdr | frag);
        ASSERT_TRUE(r.feed(p[0]).has_value());
        packet_error e = feed_error(r, p[2]);
        EXPECT_EQ(e.code, packet_errc::fragment_order);
        EXPECT_NE(e.message.find("fragment 2 arrived where fragment 3 was expected"), std::string::npos)
            << e.message;
    }
    {
        packet_reader r(hdr | frag);
        ASSERT_TRUE(r.feed(p[0]).has_value());
        ASSERT_TRUE(r.feed(p[1]).has_value());
        EXPECT_EQ(feed_error(r, p[1]).code, packet_errc::fragment_order);  // the same one again
    }
    {
        packet_reader r(hdr | frag);
        ASSERT_TRUE(r.feed(p[0]).has_value());
        EXPECT_EQ(feed_error(r, p[0]).code, packet_errc::duplicate_sequence);
    }
    {
        packet_reader r(hdr | frag);
        bytes zero = p[0];
        std::memset(zero.data() + 10, 0, 8);
        EXPECT_EQ(feed_error(r, zero).code, packet_errc::fragment_order);
    }
    {
        // After the last fragment the sequence is gone.
        packet_reader r(hdr | frag);
        for (const bytes& x : p)
            ASSERT_TRUE(r.feed(x).has_value());
        EXPECT_EQ(feed_error(r, p[3]).code, packet_errc::unknown_sequence);
    }
    {
        // A continuation claiming more fragments than announced.
        packet_reader r(hdr | frag);
        ASSERT_TRUE(r.feed(p[0]).has_value());
        bytes bigger = p[1];
        bigger[17] = 9;
        EXPECT_EQ(feed_error(r, bigger).code, packet_errc::fragment_order);
    }
    {
        // A message cut before its end: the error shows when the last fragment arrives.
        packet_reader r(hdr | frag);
        auto cut = fragmenter::of(0x78, big_control, big_payload(300)).packets({50});
        cut[1].resize(cut[1].size() - 1);
        ASSERT_TRUE(r.feed(cut[0]).has_value());
        EXPECT_EQ(feed_error(r, cut[1]).code, packet_errc::bad_term);
    }
}

TEST(dist_packet, limits) {
    fragmenter a = fragmenter::of(1, big_control, big_payload(1000));
    fragmenter b = fragmenter::of(2, big_control, big_payload(1000));
    fragmenter c = fragmenter::of(3, big_control, big_payload(1000));
    auto pa = a.packets({100, 600});
    auto pb = b.packets({100, 600});
    auto pc = c.packets({100, 600});
    const std::size_t whole = a.header_and_body.size() - 1;  // after the N=0 byte
    {
        packet_limits l;
        l.max_message_size = whole - 1;
        packet_reader r(hdr | frag, l);
        ASSERT_TRUE(r.feed(pa[0]).has_value());
        ASSERT_TRUE(r.feed(pa[1]).has_value());
        packet_error e = feed_error(r, pa[2]);
        EXPECT_EQ(e.code, packet_errc::too_large);
        EXPECT_NE(e.message.find("exceeds the limit of " + std::to_string(whole - 1)), std::string::npos)
            << e.message;
        l.max_message_size = whole;
        packet_reader ok(hdr | frag, l);
        for (const bytes& x : pa)
            ASSERT_TRUE(ok.feed(x).has_value());
        // Unfragmented messages too.
        l.max_message_size = 10;
        packet_reader small(hdr, l);
        EXPECT_EQ(feed_error(small, cat({{131, 68, 0}, body_of(big_payload(10))})).code,
                  packet_errc::too_large);
        packet_reader small_pass(0, l);
        EXPECT_EQ(feed_error(small_pass, cat({{112}, external(big_payload(10))})).code,
                  packet_errc::too_large);
    }
    {
        packet_limits l;
        l.max_sequences = 2;
        packet_reader r(hdr | frag, l);
        ASSERT_TRUE(r.feed(pa[0]).has_value());
        ASSERT_TRUE(r.feed(pb[0]).has_value());
        EXPECT_EQ(feed_error(r, pc[0]).code, packet_errc::too_many_sequences);
        packet_reader r2(hdr | frag, l);
        ASSERT_TRUE(r2.feed(pa[0]).has_value());
        ASSERT_TRUE(r2.feed(pb[0]).has_value());
        for (std::size_t i = 1; i < pa.size(); ++i)
            ASSERT_TRUE(r2.feed(pa[i]).has_value());
        ASSERT_TRUE(r2.feed(pc[0]).has_value());  // a finished sequence frees its place
    }
    {
        packet_limits l;
        l.max_buffered_bytes = whole + 500;
        packet_reader r(hdr | frag, l);
        for (std::size_t i = 0; i < 2; ++i)
            ASSERT_TRUE(r.feed(pa[i]).has_value());
        for (std::size_t i = 0; i < 2; ++i)
            ASSERT_TRUE(r.feed(pb[i]).has_value());
        EXPECT_LE(r.buffered_bytes(), l.max_buffered_bytes);
        packet_error e = feed_error(r, pb[2]);
        EXPECT_EQ(e.code, packet_errc::buffer_full);
        EXPECT_NE(e.message.find("sequence 0x2: buffered fragments would exceed the limit of"),
                  std::string::npos)
            << e.message;
        // One at a time fits.
        packet_reader r2(hdr | frag, l);
        for (const bytes& x : pa)
            ASSERT_TRUE(r2.feed(x).has_value());
        for (const bytes& x : pb)
            ASSERT_TRUE(r2.feed(x).has_value());
        EXPECT_EQ(r2.buffered_bytes(), 0u);
    }
}

TEST(dist_packet, a_failed_reader_stays_failed_until_reset) {
    packet_reader r(otp25_default);
    const bytes good = parse(capture_1);
    EXPECT_EQ(feed_error(r, {131, 99}).code, packet_errc::bad_header);
    EXPECT_TRUE(r.failed());
    packet_error e = feed_error(r, good);
    EXPECT_EQ(e.code, packet_errc::failed);
    r.reset();
    EXPECT_FALSE(r.failed());
    feed_ok(r, good);
    EXPECT_TRUE(r.cached_atom(7 * 256 + 220).has_value());
    fragmenter a = fragmenter::of(1, big_control, big_payload(100));
    ASSERT_TRUE(r.feed(a.packets({30})[0]).has_value());
    EXPECT_EQ(r.sequences_in_flight(), 1u);
    // Connection loss: the cache and partial sequences are gone.
    r.reset();
    EXPECT_FALSE(r.cached_atom(7 * 256 + 220).has_value());
    EXPECT_EQ(r.sequences_in_flight(), 0u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
    EXPECT_EQ(feed_error(r, parse("83 44 01 07 dc 68 01 52 00")).code, packet_errc::bad_cache_ref);
}

TEST(dist_packet, binaries_share_the_packet_storage) {
    const term payload = tuple(atom("blob"), binary(std::string(5000, 'q')));
    const bytes p = cat({{131, 68, 0}, body_of(big_control), body_of(payload)});
    byte_storage* st = byte_storage::allocate(p.size());
    std::memcpy(st->mutable_data(), p.data(), p.size());
    packet_reader r(hdr);
    auto m = r.feed(byte_span(st->data, st->size), st);
    ASSERT_TRUE(m.has_value() && m->has_value());
    const term& bin = (**m).payload->elements()[1];
    EXPECT_GE(bin.bytes().data(), st->data);
    EXPECT_LE(bin.bytes().data() + bin.bytes().size(), st->data + st->size);
    st->drop();  // the binary keeps the storage alive
    EXPECT_TRUE(*(**m).payload == payload);
}

// ---- writer ----

TEST(dist_packet, writer_forms) {
    const term control = tuple(term(22), pid::make(a_vm, 1, 0, 1), pid::make(a_vm, 2, 0, 1));
    const term msg = atom("hi");
    {
        auto m = packet_writer(0).encode(control, &msg, 1);
        ASSERT_TRUE(m.has_value());
        bytes b = cat({{0, 0, 0, 0}, {112}, external(control), external(msg)});
        byte_writer::put32(b.data(), static_cast<std::uint32_t>(b.size() - 4));
        EXPECT_EQ(m->to_bytes(), b);
        ASSERT_EQ(m->packets.size(), 1u);
        EXPECT_EQ(m->packets[0].head.size(), 5u);
    }
    // Without DIST_HDR_ATOM_CACHE the header has no refs and atoms are inline.
    for (std::uint64_t flags : {frag}) {
        auto m = packet_writer(flags).encode(control, nullptr, 1);
        ASSERT_TRUE(m.has_value());
        bytes b = cat({{0, 0, 0, 0}, {131, 68, 0}, body_of(control)});
        byte_writer::put32(b.data(), static_cast<std::uint32_t>(b.size() - 4));
        EXPECT_EQ(m->to_bytes(), b);
        EXPECT_EQ(m->size(), b.size());
    }
}

TEST(dist_packet, writer_fragments_only_above_the_fragment_size) {
    // Without the atom cache (FRAGMENTS only), so that sizes are those of inline atoms.
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    const std::size_t control_size = body_of(control).size();
    for (std::size_t payload_size : {std::size_t{0}, std::size_t{1}, std::size_t{100}}) {
        // A binary payload of known size: 109, length, bytes.
        const term payload = binary(std::string(payload_size, 'x'));
        const std::size_t total = control_size + 5 + payload_size;
        for (std::size_t fs : {total - 1, total, total + 1}) {
            auto m = packet_writer(frag, fs).encode(control, &payload, 5);
            ASSERT_TRUE(m.has_value());
            EXPECT_EQ(m->packets.size(), fs < total ? 2u : 1u) << "payload " << payload_size << " fs " << fs;
        }
        // Without FRAGMENTS: one packet whatever the size.
        auto one = packet_writer(hdr, 8).encode(control, &payload, 5);
        ASSERT_TRUE(one.has_value());
        EXPECT_EQ(one->packets.size(), 1u);
    }
    // The first fragment holds the whole control term even when it is bigger than a fragment.
    auto m = packet_writer(frag, 4).encode(control, nullptr, 5);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->packets.size(), 1u);
    const term payload = binary(std::string(10, 'x'));
    m = packet_writer(frag, 4).encode(control, &payload, 5);
    ASSERT_TRUE(m.has_value());
    ASSERT_EQ(m->packets.size(), 1u + (15 + 3) / 4);
    EXPECT_EQ(m->packets[0].body_size, control_size);
    for (std::size_t i = 1; i + 1 < m->packets.size(); ++i)
        EXPECT_EQ(m->packets[i].body_size, 4u);
    // Sequence id 0 cannot identify a fragmented message.
    auto zero = packet_writer(frag, 4).encode(control, &payload, 0);
    ASSERT_FALSE(zero.has_value());
    EXPECT_EQ(zero.error().code, packet_errc::bad_header);
    EXPECT_TRUE(packet_writer(frag, 4).encode(control, nullptr, 0).has_value());
}

namespace {

void writer_round_trip(std::uint64_t flags, const term& control, const term& payload,
                       std::size_t fragment_size) {
    SCOPED_TRACE("flags " + std::to_string(flags));
    packet_writer w(flags, fragment_size);
    packet_reader r(flags);
    const std::uint64_t seq = 0xABCDEF0123456789ull;
    auto m = w.encode(control, &payload, seq);
    ASSERT_TRUE(m.has_value()) << m.error().message;
    std::vector<bytes> ps = payloads(*m);
    // Sizes are known for inline atoms; with the atom cache the terms are shorter.
    const bool sizes_known = (flags & hdr) == 0;
    const std::size_t control_size = body_of(control).size();
    const std::size_t total = control_size + body_of(payload).size();
    const bool fragmented = sizes_known ? (flags & frag) && total > fragment_size : ps.size() > 1;
    const std::size_t first_len = std::max(control_size, fragment_size);
    ASSERT_EQ(ps.size() > 1, fragmented);
    if (!(flags & frag)) {
        EXPECT_EQ(ps.size(), 1u);
    }
    if (fragmented && sizes_known) {
        EXPECT_EQ(ps.size(), 1 + (total - first_len + fragment_size - 1) / fragment_size);
    }
    std::optional<dist_message> got;
    for (std::size_t i = 0; i < ps.size(); ++i) {
        const bytes& p = ps[i];
        if (!uses_dist_header(flags)) {
            EXPECT_EQ(p[0], 112);
        } else if (!fragmented) {
            EXPECT_EQ(bytes(p.begin(), p.begin() + 2), (bytes{131, 68}));
            // With the atom cache the control term's atoms are header refs; else inline.
            if (flags & hdr) {
                EXPECT_GT(p[2], 0);
            } else {
                EXPECT_EQ(p[2], 0);
            }
        } else {
            byte_reader h(p);
            std::uint8_t magic, kind;
            std::uint64_t s, id;
            ASSERT_TRUE(h.u8(magic) && h.u8(kind) && h.u64(s) && h.u64(id));
            EXPECT_EQ(magic, 131);
            EXPECT_EQ(kind, i == 0 ? 69 : 70);
            EXPECT_EQ(s, seq);
            EXPECT_EQ(id, ps.size() - i);
            if (i + 1 < ps.size() && (sizes_known || i > 0)) {
                EXPECT_EQ(p.size() - (i == 0 ? 19 : 18), i == 0 ? first_len : fragment_size);
            }
        }
        auto f = r.feed(p);
        ASSERT_TRUE(f.has_value()) << f.error().message;
        ASSERT_EQ(f->has_value(), i + 1 == ps.size());
        if (*f) got = std::move(**f);
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->control == control);
    EXPECT_TRUE(got->payload == std::optional<term>(payload));
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

}  // namespace

TEST(dist_packet, writer_to_reader_small_messages) {
    const term control = tuple(term(22), pid::make(a_vm, 1, 0, 1), pid::make(atom("b@vm"), 2, 0, 1));
    const term payload = tuple(atom("hello"), atom("héllo"), map({{atom("k"), list({term(1), term(2.5)})}}));
    for (std::uint64_t flags : {std::uint64_t{0}, hdr, frag, hdr | frag}) {
        writer_round_trip(flags, control, payload, default_fragment_size);
        writer_round_trip(flags, control, payload, 7);
    }
}

TEST(dist_packet, writer_to_reader_10_mb_messages) {
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    std::string big(10 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 2654435761u >> 24);
    std::vector<term> ints;
    for (int i = 0; i < 10000; ++i)
        ints.push_back(term(i * 7919));
    const term payload = tuple(atom("big"), binary(big), make_list(std::move(ints)));
    for (std::uint64_t flags : {std::uint64_t{0}, hdr, frag, hdr | frag})
        writer_round_trip(flags, control, payload, default_fragment_size);
}

TEST(dist_packet, writer_fragments_of_two_messages_interleave) {
    packet_writer w(otp25_default, 1000);
    packet_reader r(otp25_default);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    const term p1 = binary(std::string(5000, 'a')), p2 = binary(std::string(3500, 'b'));
    // Sealed in the order their first packets go out (m2's first), as a connection does.
    auto m1 = w.prepare(control, &p1, 1);
    auto m2 = w.prepare(control, &p2, 2);
    ASSERT_TRUE(m1 && m2);
    w.seal(*m2);
    w.seal(*m1);
    auto a = payloads(*m1), b = payloads(*m2);
    std::vector<term> got;
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        for (auto* v : {&b, &a}) {
            if (i >= v->size()) continue;
            auto f = r.feed((*v)[i]);
            ASSERT_TRUE(f.has_value()) << f.error().message;
            if (*f) got.push_back(*(**f).payload);
        }
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0] == p2);
    EXPECT_TRUE(got[1] == p1);
    // The packets outlive the message object: each holds the storage.
    outgoing_packet last = m1->packets.back();
    m1 = packet_writer(0).encode(control, nullptr, 1);
    EXPECT_EQ(byte_reader::get32(last.head.data()), last.size() - 4);
}

// ---- the sending atom cache (etf.md §3) ----

namespace {

std::size_t occurrences(const bytes& haystack, std::string_view needle) {
    std::size_t n = 0;
    auto it = haystack.begin();
    for (;;) {
        it = std::search(it, haystack.end(), needle.begin(), needle.end());
        if (it == haystack.end()) return n;
        ++n;
        ++it;
    }
}

dist_message feed_all(packet_reader& r, const outgoing_message& m) {
    std::optional<dist_message> got;
    for (const bytes& p : payloads(m)) {
        auto f = r.feed(p);
        EXPECT_TRUE(f.has_value()) << f.error().message;
        if (!f) return {};
        if (*f) got = std::move(**f);
    }
    EXPECT_TRUE(got.has_value());
    return got ? *got : dist_message{};
}

}  // namespace

TEST(dist_packet, atom_cache_sends_each_atom_text_once_then_old_refs) {
    packet_writer w(otp25_default);
    packet_reader r(otp25_default);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("cached_sink_name"));
    const term payload = tuple(atom("cached_payload_atom"), atom("cached_payload_atom"), term(1));
    auto m1 = w.encode(control, &payload, 1);
    auto m2 = w.encode(control, &payload, 2);
    ASSERT_TRUE(m1 && m2);
    bytes b1 = m1->to_bytes(), b2 = m2->to_bytes();
    EXPECT_EQ(occurrences(b1, "cached_sink_name"), 1u);
    EXPECT_EQ(occurrences(b1, "cached_payload_atom"), 1u);  // one ref, used twice in the body
    EXPECT_EQ(occurrences(b2, "cached_sink_name"), 0u);
    EXPECT_EQ(occurrences(b2, "cached_payload_atom"), 0u);
    EXPECT_LT(b2.size(), b1.size());
    // Header of the second: 131, 68, N refs, all old (no NewCacheEntryFlag in any nibble).
    bytes p2 = payloads(*m2)[0];
    ASSERT_GE(p2.size(), 3u);
    std::size_t n = p2[2];
    ASSERT_EQ(n, 4u);  // a@vm, '', cached_sink_name, cached_payload_atom
    for (std::size_t i = 0; i < n; ++i)
        EXPECT_EQ((p2[3 + i / 2] >> ((i & 1) * 4)) & 8, 0) << "ref " << i;
    for (const auto& m : {&*m1, &*m2}) {
        dist_message got = feed_all(r, *m);
        EXPECT_TRUE(got.control == control);
        EXPECT_TRUE(got.payload == std::optional<term>(payload));
    }
    // The reader's cache mirrors the writer's choice of slots.
    atom sink("cached_sink_name");
    EXPECT_EQ(r.cached_atom(sink.index() % packet_writer::cache_slots), std::optional<atom>(sink));
}

TEST(dist_packet, atom_cache_headers_follow_the_order_messages_are_sealed_in) {
    packet_writer w(otp25_default, 100);
    packet_reader r(otp25_default);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sealed_late"));
    const term small = atom("x"), big = binary(std::string(1000, 'b'));
    // Prepared in one order (as senders on two threads might), written in the other.
    auto first = w.prepare(control, &big, 1);
    auto second = w.prepare(control, &small, 2);
    ASSERT_TRUE(first && second);
    EXPECT_FALSE(first->sealed());
    w.seal(*second);
    w.seal(*first);
    w.seal(*first);  // idempotent
    EXPECT_TRUE(first->sealed() && second->sealed());
    EXPECT_EQ(occurrences(second->to_bytes(), "sealed_late"), 1u);
    EXPECT_EQ(occurrences(first->to_bytes(), "sealed_late"), 0u);
    EXPECT_TRUE(*feed_all(r, *second).payload == small);
    EXPECT_TRUE(*feed_all(r, *first).payload == big);
}

TEST(dist_packet, atom_cache_beyond_255_atoms_and_long_atom_texts) {
    packet_writer w(otp25_default, 1000);
    packet_reader r(otp25_default);
    std::vector<term> atoms;
    for (int i = 0; i < 300; ++i)
        atoms.push_back(atom("many_atoms_" + std::to_string(i)));
    std::string long_text;
    for (int i = 0; i < 200; ++i)
        long_text += "\xC3\xA9";  // 200 x 'é': 400 bytes of UTF-8
    atoms.push_back(atom(long_text));
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    const term payload = make_list(std::move(atoms));
    for (int round = 0; round < 2; ++round) {
        auto m = w.encode(control, &payload, 1 + round);
        ASSERT_TRUE(m.has_value());
        bytes p0 = payloads(*m)[0];
        EXPECT_EQ(p0[1], 69);       // fragmented
        EXPECT_EQ(p0[18], 255);     // the header holds 255 refs; later atoms go inline
        dist_message got = feed_all(r, *m);
        EXPECT_TRUE(got.payload == std::optional<term>(payload)) << "round " << round;
    }
}

// ---- zero-copy binaries ----

TEST(dist_packet, large_binaries_go_out_from_their_own_memory) {
    std::string big(200 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 2654435761u >> 24);
    const term b1 = binary(big), b2 = binary(big.substr(7, 20000));
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    const term payload = tuple(atom("two"), b1, list({term(1), b2}), binary(std::string(100, 's')));
    for (std::uint64_t flags : {std::uint64_t{0}, frag, otp25_default}) {
        for (std::size_t fs : {std::size_t{7}, std::size_t{4096}, default_fragment_size}) {
            SCOPED_TRACE("flags " + std::to_string(flags) + " fragment " + std::to_string(fs));
            packet_writer w(flags, fs);
            packet_reader r(flags);
            auto m = w.encode(control, &payload, 3);
            ASSERT_TRUE(m.has_value());
            // Some slice points into each large binary's own bytes.
            bool in_b1 = false, in_b2 = false;
            for (const outgoing_packet& p : m->packets) {
                std::size_t sum = 0;
                for (const byte_span& s : p.body) {
                    sum += s.size();
                    auto inside = [&](const term& b) {
                        return s.data() >= b.bytes().data() && s.data() < b.bytes().data() + b.bytes().size();
                    };
                    in_b1 |= inside(b1);
                    in_b2 |= inside(b2);
                }
                EXPECT_EQ(sum, p.body_size);
            }
            EXPECT_TRUE(in_b1 && in_b2);
            dist_message got = feed_all(r, *m);
            EXPECT_TRUE(got.payload == std::optional<term>(payload));
        }
    }
}

// ---- the batch path for small messages (encode_small + append_sealed) ----

namespace {

// Splits a write buffer of back-to-back packets into their payloads.
std::vector<bytes> split_packets(const bytes& buf) {
    std::vector<bytes> out;
    std::size_t at = 0;
    while (at < buf.size()) {
        EXPECT_LE(at + 4, buf.size());
        if (at + 4 > buf.size()) break;
        std::size_t len = byte_reader::get32(buf.data() + at);
        EXPECT_LE(at + 4 + len, buf.size());
        if (at + 4 + len > buf.size()) break;
        out.emplace_back(buf.begin() + static_cast<std::ptrdiff_t>(at + 4),
                         buf.begin() + static_cast<std::ptrdiff_t>(at + 4 + len));
        at += 4 + len;
    }
    return out;
}

}  // namespace

TEST(dist_packet, small_path_writes_the_bytes_prepare_and_seal_write) {
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("small_sink"));
    std::vector<term> messages{atom("first_atom"), tuple(atom("msg"), term(1), binary("0123456789abcdef")),
                               tuple(atom("msg"), term(2), atom("first_atom")), make_list(std::vector<term>{term(1.5), term(atom("x"))}),
                               tuple(atom("msg"), term(3), binary(std::string(300, 'z')))};
    for (std::uint64_t flags : {std::uint64_t{0}, hdr, frag, hdr | frag, otp25_default}) {
        packet_writer reference(flags), batch(flags);
        bytes buf;
        small_encoding enc;
        std::vector<bytes> expected;
        for (std::uint64_t i = 0; i < messages.size(); ++i) {
            auto m = reference.encode(control, &messages[i], i + 1);
            ASSERT_TRUE(m.has_value());
            ASSERT_EQ(m->packets.size(), 1u);
            expected.push_back(payloads(*m)[0]);
            ASSERT_TRUE(batch.encode_small(control, &messages[i], enc)) << "message " << i;
            batch.append_sealed(enc, buf);
        }
        EXPECT_EQ(split_packets(buf), expected) << "flags " << flags;
        // The reader takes the batch as it comes.
        packet_reader r(flags);
        std::size_t i = 0;
        for (const bytes& p : split_packets(buf)) {
            auto got = r.feed(p);
            ASSERT_TRUE(got.has_value()) << got.error().message;
            ASSERT_TRUE(got->has_value());
            EXPECT_TRUE((**got).control == control);
            EXPECT_TRUE((**got).payload == std::optional<term>(messages[i++]));
        }
    }
}

TEST(dist_packet, small_path_control_elements_encode_as_the_tuple) {
    const term from = pid::make(a_vm, 7, 0, 1);
    const std::array<term, 4> elements{term(6), from, term(atom()), term(atom("elements_sink"))};
    const term control = tuple(term(6), from, atom(), atom("elements_sink"));
    const term payload = tuple(atom("msg"), term(42));
    for (std::uint64_t flags : {std::uint64_t{0}, otp25_default}) {
        packet_writer a(flags), b(flags);
        small_encoding ea, eb;
        ASSERT_TRUE(a.encode_small(control, &payload, ea));
        ASSERT_TRUE(b.encode_small(std::span<const term>(elements), &payload, eb));
        bytes ba, bb;
        a.append_sealed(ea, ba);
        b.append_sealed(eb, bb);
        EXPECT_EQ(ba, bb) << "flags " << flags;
    }
}

TEST(dist_packet, small_path_declines_what_needs_fragments_or_zero_copy) {
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    packet_writer w(otp25_default, 1000, 500);
    small_encoding e;
    const term fits = binary(std::string(400, 'a'));
    const term by_reference = binary(std::string(600, 'b'));  // at least zero_copy_min
    std::vector<term> ints(300, term(70000));
    const term fragments = make_list(std::move(ints));  // 5 bytes each: above the fragment size
    EXPECT_TRUE(w.encode_small(control, &fits, e));
    EXPECT_FALSE(w.encode_small(control, &by_reference, e));
    EXPECT_FALSE(w.encode_small(control, &fragments, e));
    // Without FRAGMENTS a large term is one packet, and the small path takes it.
    packet_writer plain(otp25_default & ~frag, 1000, 500);
    EXPECT_TRUE(plain.encode_small(control, &fragments, e));
}

TEST(dist_packet, prepare_without_cached_atoms_is_sealed_at_once) {
    packet_writer w(otp25_default, 100);
    packet_reader r(otp25_default);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("uncached_sink"));
    const term big = binary(std::string(1000, 'b'));
    auto m = w.prepare(control, &big, 1, false);
    ASSERT_TRUE(m.has_value());
    EXPECT_TRUE(m->sealed());
    EXPECT_GT(m->packets.size(), 1u);
    EXPECT_EQ(payloads(*m)[0][18], 0);  // no atom cache refs in the first fragment's header
    EXPECT_EQ(occurrences(m->to_bytes(), "uncached_sink"), 1u);
    EXPECT_TRUE(*feed_all(r, *m).payload == big);
    // It left the cache view alone: a later message still sends the atom's text.
    auto later = w.encode(control, &big, 2);
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(occurrences(later->to_bytes(), "uncached_sink"), 1u);
}

namespace {

// Two atoms that take the same slot of the atom cache (index mod cache_slots): sending one
// evicts the other from the peer's cache.
std::pair<atom, atom> colliding_atoms() {
    atom first("slot_collision_0");
    for (int i = 1; i < 100000; ++i) {
        atom a("slot_collision_" + std::to_string(i));
        if (a.index() % packet_writer::cache_slots == first.index() % packet_writer::cache_slots) return {first, a};
    }
    ADD_FAILURE() << "no colliding atom";
    return {first, first};
}

}  // namespace

// The small path keeps the last control part (same control elements) and the last head (same
// atoms, cache unchanged): a stream of messages, with controls changing, atoms evicting each
// other and new atoms arriving, must still come out byte for byte as prepare + seal write it.
TEST(dist_packet, small_path_reuse_of_control_and_head_stays_byte_exact) {
    auto [one, two] = colliding_atoms();
    const term from_a = pid::make(a_vm, 1, 0, 1), from_b = pid::make(a_vm, 2, 0, 1);
    const term remote_to = pid::make(atom("peer@host"), 77, 3, 9);
    std::vector<std::vector<term>> controls{
        {term(6), from_a, term(atom()), term(atom("reuse_sink"))},
        {term(6), from_b, term(atom()), term(atom("reuse_sink"))},
        {term(22), from_a, remote_to},
        {term(2), term(atom()), remote_to},
        {term(6), from_a, term(atom()), term(one)},
    };
    std::vector<term> payloads_in{tuple(atom("msg"), term(1)), tuple(atom("msg"), term(2), term(one)),
                                  tuple(atom("msg"), term(3), term(two)), term(atom("fresh_atom_a")),
                                  tuple(atom("msg"), term(4), term(two))};
    // Runs of the same control, then changes; payloads cycle through evictions and fresh atoms.
    std::vector<std::pair<std::size_t, std::size_t>> plan;
    for (std::size_t round = 0; round < 3; ++round)
        for (std::size_t c = 0; c < controls.size(); ++c)
            for (std::size_t k = 0; k < 4; ++k) plan.push_back({c, (c + k + round) % payloads_in.size()});
    for (std::uint64_t flags : {std::uint64_t{0}, hdr | frag, otp25_default}) {
        packet_writer reference(flags), batch(flags);
        small_encoding enc;
        bytes buf;
        std::vector<bytes> expected;
        std::uint64_t seq = 1;
        for (auto [c, p] : plan) {
            const term control = nodus::make_tuple(std::span<const term>(controls[c]));
            auto m = reference.encode(control, &payloads_in[p], seq++);
            ASSERT_TRUE(m.has_value());
            expected.push_back(payloads(*m)[0]);
            ASSERT_TRUE(batch.encode_small(std::span<const term>(controls[c]), &payloads_in[p], enc));
            batch.append_sealed(enc, buf);
        }
        EXPECT_EQ(split_packets(buf), expected) << "flags " << flags;
    }
}

// ---- message signals read without building their control tuple ----

TEST(dist_packet, quick_messages_give_the_destination_of_send_send_sender_and_reg_send) {
    const term from = pid::make(a_vm, 5, 0, 1);
    const term to = pid::make(atom("b@vm"), 9, 1, 2);
    const term payload = tuple(atom("msg"), term(1), binary("0123456789abcdef0123456789abcdef"));
    struct sample {
        term control;
        quick_message::kind kind;
        term dest;
    };
    std::vector<sample> samples{
        {tuple(term(2), atom(), to), quick_message::kind::to_pid, to},
        {tuple(term(22), from, to), quick_message::kind::to_pid, to},
        {tuple(term(6), from, atom(), atom("quick_sink")), quick_message::kind::to_name, term(atom("quick_sink"))},
    };
    packet_writer w(otp25_default);
    packet_reader quick(otp25_default), full(otp25_default);
    quick.set_quick_messages(true);
    std::uint64_t seq = 1;
    for (int round = 0; round < 2; ++round) {  // atoms new to the cache, then cached
        for (const sample& s : samples) {
            auto m = w.encode(s.control, &payload, seq++);
            ASSERT_TRUE(m.has_value());
            dist_message q = feed_ok(quick, payloads(*m)[0]);
            dist_message f = feed_ok(full, payloads(*m)[0]);
            EXPECT_EQ(q.quick.what, s.kind);
            EXPECT_TRUE(q.quick.to == s.dest);
            EXPECT_TRUE(q.control == term());
            EXPECT_TRUE(q.payload == std::optional<term>(payload));
            EXPECT_EQ(f.quick.what, quick_message::kind::none);
            EXPECT_TRUE(f.control == s.control);
        }
    }
}

TEST(dist_packet, quick_messages_leave_other_shapes_to_the_full_decoding) {
    const term from = pid::make(a_vm, 5, 0, 1);
    const term to = pid::make(atom("b@vm"), 9, 1, 2);
    const term payload = tuple(atom("msg"), term(2));
    std::vector<term> controls{
        tuple(term(12), atom(), to, atom("token")),            // SEND_TT
        tuple(term(6), from, term(0), atom("sink")),            // Unused not an atom: an error, in full
        tuple(term(1), from, to),                               // LINK: no payload
        tuple(term(6), from, atom(), term(42)),                 // ToName not an atom: an error, in full
    };
    for (std::uint64_t flags : {std::uint64_t{0}, hdr | frag, otp25_default}) {
        packet_writer w(flags);
        packet_reader quick(flags), full(flags);
        quick.set_quick_messages(true);
        std::uint64_t seq = 1;
        for (std::size_t i = 0; i < controls.size(); ++i) {
            const term& c = controls[i];
            const term* p = c[0] == term(1) ? nullptr : &payload;
            auto m = w.encode(c, p, seq++);
            ASSERT_TRUE(m.has_value());
            dist_message q = feed_ok(quick, payloads(*m)[0]);
            dist_message f = feed_ok(full, payloads(*m)[0]);
            EXPECT_EQ(q.quick.what, quick_message::kind::none) << "control " << i;
            EXPECT_TRUE(q == f) << "control " << i;
        }
        // REG_SEND without its payload: no quick reading, and the full one finds the fault.
        const term reg = tuple(term(6), from, atom(), atom("sink"));
        auto m = w.encode(reg, nullptr, seq++);
        ASSERT_TRUE(m.has_value());
        dist_message q = feed_ok(quick, payloads(*m)[0]);
        EXPECT_EQ(q.quick.what, quick_message::kind::none);
        EXPECT_FALSE(decode_control(q).has_value());
    }
}

// ---- continuation fragments placed straight into the reassembly buffer ----

TEST(dist_packet, placed_continuations_reassemble_the_message) {
    packet_writer w(otp25_default, 1000);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("placed_sink"));
    std::string text(10000, '\0');
    for (std::size_t i = 0; i < text.size(); ++i)
        text[i] = static_cast<char>(i * 31 + 7);
    const term payload = tuple(atom("big"), binary(text));
    auto m = w.encode(control, &payload, 9);
    ASSERT_TRUE(m.has_value());
    std::vector<bytes> ps = payloads(*m);
    ASSERT_GT(ps.size(), 3u);
    packet_reader r(otp25_default);
    // The first fragment is no continuation: fed as usual.
    auto none = r.place_continuation(ps[0], ps[0].size());
    ASSERT_TRUE(none.has_value());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(r.feed(ps[0]).has_value());
    std::optional<dist_message> got;
    for (std::size_t i = 1; i < ps.size(); ++i) {
        const bytes& p = ps[i];
        // Only the header and a few body bytes are at hand, as after a short read.
        std::size_t at_hand = std::min(p.size(), packet_reader::continuation_head_size + i);
        auto placed = r.place_continuation(byte_span(p.data(), at_hand), p.size());
        ASSERT_TRUE(placed.has_value()) << placed.error().message;
        ASSERT_TRUE(placed->has_value()) << "fragment " << i;
        std::span<std::uint8_t> dst = **placed;
        ASSERT_EQ(dst.size(), p.size() - packet_reader::continuation_head_size);
        std::memcpy(dst.data(), p.data() + packet_reader::continuation_head_size, dst.size());
        auto done = r.finish_placed();
        ASSERT_TRUE(done.has_value()) << done.error().message;
        if (*done) got = std::move(**done);
        EXPECT_EQ(got.has_value(), i + 1 == ps.size());
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->control == control);
    EXPECT_TRUE(got->payload == std::optional<term>(payload));
    EXPECT_EQ(r.sequences_in_flight(), 0u);
}

TEST(dist_packet, placing_leaves_bad_fragments_to_feed_and_keeps_the_limits) {
    packet_writer w(otp25_default, 1000);
    const term control = tuple(term(6), pid::make(a_vm, 1, 0, 1), atom(), atom("sink"));
    const term payload = binary(std::string(5000, 'p'));
    auto m = w.encode(control, &payload, 3);
    ASSERT_TRUE(m.has_value());
    std::vector<bytes> ps = payloads(*m);
    {
        // Out of order: not placed; feed() reports it.
        packet_reader r(otp25_default);
        ASSERT_TRUE(r.feed(ps[0]).has_value());
        auto placed = r.place_continuation(ps[2], ps[2].size());
        ASSERT_TRUE(placed.has_value());
        EXPECT_FALSE(placed->has_value());
        EXPECT_EQ(feed_error(r, ps[2]).code, packet_errc::fragment_order);
    }
    {
        // Feeding while a fragment is being placed is a caller's bug: the reader fails.
        packet_reader r(otp25_default);
        ASSERT_TRUE(r.feed(ps[0]).has_value());
        auto placed = r.place_continuation(ps[1], ps[1].size());
        ASSERT_TRUE(placed.has_value() && placed->has_value());
        EXPECT_EQ(feed_error(r, ps[2]).code, packet_errc::failed);
    }
    {
        // The message size limit holds for placed bodies too.
        packet_limits small;
        small.max_message_size = 2500;
        packet_reader r(otp25_default, small);
        ASSERT_TRUE(r.feed(ps[0]).has_value());
        ASSERT_TRUE(r.feed(ps[1]).has_value());
        auto placed = r.place_continuation(ps[2], ps[2].size());
        ASSERT_FALSE(placed.has_value());
        EXPECT_EQ(placed.error().code, packet_errc::too_large);
        EXPECT_TRUE(r.failed());
    }
}

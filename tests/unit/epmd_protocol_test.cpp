// The port mapper protocol without sockets: every encoding byte for byte against the vectors
// captured from OTP 25.2.3 (reference/epmd.md), the request parser at every split point, and the
// malformed requests of OTP's own epmd test suite.
#include "nodus/epmd/protocol.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace nodus;
using namespace nodus::epmd;

namespace {

bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}
bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}
bytes u16(std::size_t v) {
    return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
// A request body framed with its length.
bytes framed(const bytes& body) {
    return cat({u16(body.size()), body});
}
bytes alive2_body(std::string_view name, std::string_view extra = "", std::uint16_t hi = 6,
                  std::uint16_t lo = 5, std::size_t name_len = std::string::npos,
                  std::size_t extra_len = std::string::npos) {
    return cat({{code::alive2_req},
                u16(4747),
                {77, 0},
                u16(hi),
                u16(lo),
                u16(name_len == std::string::npos ? name.size() : name_len),
                b(name),
                u16(extra_len == std::string::npos ? extra.size() : extra_len),
                b(extra)});
}

port_info probe_node() {
    port_info n;
    n.port = 33439;
    n.name = "epmdprobe";
    return n;
}

// Feeds a whole input to a fresh parser in the chunks given by `cuts` (offsets).
result<std::optional<request>, error> feed_split(const bytes& in, std::vector<std::size_t> cuts,
                                                 std::size_t max = max_request_size) {
    request_parser p(max);
    std::size_t from = 0;
    cuts.push_back(in.size());
    result<std::optional<request>, error> last = std::optional<request>{};
    for (std::size_t to : cuts) {
        last = p.feed(byte_span(in.data() + from, to - from));
        if (!last || *last) {
            // Anything after the end (in the next chunks) must be reported too.
            if (last && to < in.size()) return p.feed(byte_span(in.data() + to, in.size() - to));
            return last;
        }
        from = to;
    }
    return last;
}

std::vector<request> valid_requests() {
    port_info full = probe_node();
    full.extra = std::string("ABC\0\0", 5);
    full.type = node_type::hidden;
    port_info unicode;
    unicode.port = 4711;
    unicode.name = "\xF0\x9F\x98\x88";  // U+1F608, OTP's unicode_name case
    port_info longest;
    for (int i = 0; i < 255; ++i)
        longest.name += "\xF0\x9F\x98\x80";  // 255 characters of 4 bytes
    longest.extra = std::string(max_extra_bytes, '\xff');
    return {alive2_req{probe_node()},
            alive2_req{full},
            alive2_req{unicode},
            alive2_req{longest},
            port_please2_req{"a"},
            port_please2_req{"foo"},
            names_req{},
            dump_req{},
            kill_req{},
            stop_req{"foo"}};
}

}  // namespace

// ---- vectors from reference/epmd.md (OTP 25.2.3) ----

TEST(epmd_protocol, alive2_req_matches_the_capture_from_erl) {
    const bytes expected =
        cat({{0x00, 0x16, 0x78, 0x82, 0x9f, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x09},
             b("epmdprobe"),
             {0x00, 0x00}});
    auto enc = encode_alive2_req(probe_node());
    ASSERT_TRUE(enc) << enc.error().message();
    EXPECT_EQ(*enc, expected);
    auto dec = decode_request(byte_span(expected).subspan(2));
    ASSERT_TRUE(dec) << dec.error().message();
    EXPECT_EQ(std::get<alive2_req>(*dec).node, probe_node());
}

TEST(epmd_protocol, alive2_x_resp_vector) {
    const bytes wire = {0x76, 0x00, 0x6b, 0x01, 0xad, 0x91};
    auto r = decode_alive2_resp(wire);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result, 0);
    EXPECT_EQ(r->creation, 1795272081u);
    EXPECT_TRUE(r->extended);
    EXPECT_EQ(encode_alive2_resp(*r), wire);
}

TEST(epmd_protocol, alive2_refusals_as_epmd_sends_them) {
    // Seen from epmd 25.2.3: result 1 and creation 99, in the form the request's version asks for.
    EXPECT_EQ(encode_alive2_refusal(6), (bytes{0x76, 0x01, 0x00, 0x00, 0x00, 0x63}));
    EXPECT_EQ(encode_alive2_refusal(5), (bytes{0x79, 0x01, 0x00, 0x63}));
    auto r = decode_alive2_resp(bytes{0x76, 0x01, 0x00, 0x00, 0x00, 0x63});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result, 1);
}

TEST(epmd_protocol, old_alive2_resp) {
    const bytes wire = {0x79, 0x00, 0x00, 0x03};  // what epmd answers a version-5-only node
    auto r = decode_alive2_resp(wire);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->extended);
    EXPECT_EQ(r->creation, 3u);
    EXPECT_EQ(encode_alive2_resp(*r), wire);
}

TEST(epmd_protocol, port_please2_req_and_port2_resp_vectors) {
    EXPECT_EQ(*encode_port_please2_req("a"), (bytes{0x00, 0x02, 0x7a, 0x61}));
    const bytes found = {0x77, 0x00, 0x8e, 0xa5, 0x4d, 0x00, 0x00, 0x06,
                         0x00, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00};
    auto r = decode_port2_resp(found);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(r->node);
    EXPECT_EQ(r->node->port, 36517);
    EXPECT_EQ(r->node->type, node_type::normal);
    EXPECT_EQ(r->node->highest_version, 6);
    EXPECT_EQ(r->node->lowest_version, 5);
    EXPECT_EQ(r->node->name, "a");
    EXPECT_EQ(r->node->extra, "");
    EXPECT_EQ(encode_port2_resp(*r), found);

    const bytes not_found = {0x77, 0x01};
    auto nf = decode_port2_resp(not_found);
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->result, 1);
    EXPECT_FALSE(nf->node);
    EXPECT_EQ(encode_port2_resp(port2_resp{1, std::nullopt}), not_found);
}

TEST(epmd_protocol, names_vectors) {
    EXPECT_EQ(encode_names_req(), (bytes{0x00, 0x01, 0x6e}));
    const bytes wire = cat({{0x00, 0x00, 0x11, 0x11}, b("name names_demo at port 36941\n")});
    auto r = decode_names_resp(wire);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->epmd_port, 4369u);
    ASSERT_EQ(r->nodes.size(), 1u);
    EXPECT_EQ(r->nodes[0], (name_entry{"names_demo", 36941}));
    EXPECT_EQ(encode_names_resp(4369, r->nodes), wire);

    auto empty = decode_names_resp(bytes{0, 0, 0x11, 0x11});
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->nodes.empty());
}

TEST(epmd_protocol, names_with_spaces_and_unicode) {
    std::vector<name_entry> nodes = {{"a b", 1}, {"\xC3\xA5sa", 65535}, {"at port 5", 7}};
    auto r = decode_names_resp(encode_names_resp(4370, nodes));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->nodes, nodes);
}

TEST(epmd_protocol, bad_names_responses) {
    const bytes port = {0, 0, 0x11, 0x11};
    EXPECT_EQ(decode_names_resp(bytes{0, 0}).error().code, errc::truncated);
    EXPECT_EQ(decode_names_resp(cat({port, b("name a at port 1")})).error().code, errc::truncated);
    EXPECT_EQ(decode_names_resp(cat({port, b("nome a at port 1\n")})).error().code, errc::bad_response);
    EXPECT_EQ(decode_names_resp(cat({port, b("name a at port 70000\n")})).error().code, errc::bad_response);
    EXPECT_EQ(decode_names_resp(cat({port, b("name a at port x\n")})).error().code, errc::bad_response);
    EXPECT_EQ(decode_names_resp(cat({port, b("name  at port 1\n")})).error().code, errc::bad_response);
}

TEST(epmd_protocol, dump_vectors) {
    EXPECT_EQ(encode_dump_req(), (bytes{0x00, 0x01, 0x64}));
    const std::string active = "active name     <names_demo> at port 36941, fd = 5\n";
    const std::string old = "old/unused name <fake>, port = 33083, fd = 5 \n";
    const bytes wire = cat({{0x00, 0x00, 0x11, 0x11}, b(active), {0}, b(old), {0}});
    std::vector<dump_entry> entries = {{true, "names_demo", 36941, 5}, {false, "fake", 33083, 5}};
    EXPECT_EQ(encode_dump_resp(4369, entries), wire);
    auto r = decode_dump_resp(wire);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->records.size(), 2u);
    EXPECT_EQ(r->records[0], active);
    EXPECT_EQ(r->records[1], old);
    EXPECT_EQ(*parse_dump_record(r->records[0]), entries[0]);
    EXPECT_EQ(*parse_dump_record(r->records[1]), entries[1]);
    EXPECT_FALSE(parse_dump_record("active name <x> at port 1, fd = 5\n"));
}

TEST(epmd_protocol, kill_and_stop_vectors) {
    EXPECT_EQ(encode_kill_req(), (bytes{0x00, 0x01, 0x6b}));
    EXPECT_EQ(*encode_stop_req("foo"), (bytes{0x00, 0x04, 0x73, 'f', 'o', 'o'}));
    EXPECT_EQ(encode_kill_resp(true), b("OK"));
    EXPECT_EQ(encode_kill_resp(false), b("NO"));
    EXPECT_TRUE(*decode_kill_resp(b("OK")));
    EXPECT_FALSE(*decode_kill_resp(b("NO")));
    EXPECT_EQ(decode_kill_resp(b("O")).error().code, errc::truncated);
    EXPECT_EQ(decode_kill_resp(b("XX")).error().code, errc::bad_response);
    EXPECT_EQ(encode_stop_resp(stop_result::stopped), b("STOPPED"));
    EXPECT_EQ(encode_stop_resp(stop_result::noexist), b("NOEXIST"));
    EXPECT_EQ(*decode_stop_resp(b("STOPPED")), stop_result::stopped);
    // epmd 25.2.3 answers an unknown name with NOEXIST and then STOPPED.
    EXPECT_EQ(*decode_stop_resp(b("NOEXISTSTOPPED")), stop_result::noexist);
    EXPECT_EQ(decode_stop_resp(b("STOP")).error().code, errc::truncated);
}

// ---- response decoders: prefixes are truncated, extra bytes are not swallowed ----

TEST(epmd_protocol, response_prefixes_are_truncated) {
    port2_resp found{0, probe_node()};
    found.node->extra = "xyz";
    const std::vector<std::pair<bytes, int>> complete = {
        {encode_alive2_resp({0, 7, true}), 0},
        {encode_alive2_resp({0, 7, false}), 0},
        {encode_port2_resp(found), 1},
        {encode_port2_resp({1, std::nullopt}), 1},
    };
    for (const auto& [wire, kind] : complete) {
        for (std::size_t k = 0; k < wire.size(); ++k) {
            byte_span prefix(wire.data(), k);
            errc e =
                kind == 0 ? decode_alive2_resp(prefix).error().code : decode_port2_resp(prefix).error().code;
            EXPECT_EQ(e, errc::truncated) << "prefix " << k;
        }
        bytes longer = cat({wire, {0}});
        errc e = kind == 0 ? decode_alive2_resp(longer).error().code : decode_port2_resp(longer).error().code;
        EXPECT_EQ(e, errc::trailing_data);
    }
    EXPECT_EQ(decode_alive2_resp(bytes{0x77, 0}).error().code, errc::unexpected_response);
    EXPECT_EQ(decode_port2_resp(bytes{0x76, 0}).error().code, errc::unexpected_response);
}

// ---- request encoders refuse what epmd would ----

TEST(epmd_protocol, encoders_check_names) {
    EXPECT_EQ(encode_port_please2_req("").error().code, errc::empty_name);
    EXPECT_EQ(encode_port_please2_req(std::string("a\0b", 3)).error().code, errc::name_has_nul);
    EXPECT_EQ(encode_port_please2_req("\xC3").error().code, errc::name_not_utf8);
    EXPECT_EQ(encode_port_please2_req("\xC0\x80").error().code, errc::name_not_utf8);          // overlong
    EXPECT_EQ(encode_port_please2_req("\xED\xA0\x80").error().code, errc::name_not_utf8);      // surrogate
    EXPECT_EQ(encode_port_please2_req("\xF4\x90\x80\x80").error().code, errc::name_not_utf8);  // > 10FFFF
    EXPECT_EQ(encode_port_please2_req(std::string(256, 'a')).error().code, errc::name_too_long);
    EXPECT_TRUE(encode_port_please2_req(std::string(255, 'a')));
    port_info n = probe_node();
    n.extra = std::string(max_extra_bytes + 1, 'x');
    EXPECT_EQ(encode_alive2_req(n).error().code, errc::extra_too_long);
    EXPECT_EQ(encode_stop_req("").error().code, errc::empty_name);
    EXPECT_TRUE(check_name("foo"));
}

// ---- the request parser ----

TEST(epmd_protocol, requests_round_trip) {
    for (const auto& req : valid_requests()) {
        auto wire = encode(req);
        ASSERT_TRUE(wire) << wire.error().message();
        auto back = decode_request(byte_span(*wire).subspan(2));
        ASSERT_TRUE(back) << back.error().message();
        EXPECT_EQ(*back, req);
    }
}

// Grind: every valid request split at every offset, and byte by byte, reads the same.
TEST(epmd_protocol, parser_gives_the_same_request_at_every_split) {
    for (const auto& req : valid_requests()) {
        const bytes wire = *encode(req);
        for (std::size_t k = 0; k <= wire.size(); ++k) {
            auto r = feed_split(wire, {k});
            ASSERT_TRUE(r) << "split at " << k << ": " << r.error().message();
            ASSERT_TRUE(*r) << "split at " << k;
            EXPECT_EQ(**r, req) << "split at " << k;
        }
        std::vector<std::size_t> every;
        for (std::size_t k = 1; k < wire.size(); ++k)
            every.push_back(k);
        auto r = feed_split(wire, every);
        ASSERT_TRUE(r && *r);
        EXPECT_EQ(**r, req);
    }
}

TEST(epmd_protocol, parser_states) {
    request_parser p;
    EXPECT_EQ(p.current(), request_parser::state::length);
    const bytes wire = encode_names_req();
    EXPECT_FALSE(*p.feed(byte_span(wire).first(1)));
    EXPECT_EQ(p.current(), request_parser::state::length);
    EXPECT_FALSE(*p.feed(byte_span(wire).subspan(1, 1)));
    EXPECT_EQ(p.current(), request_parser::state::body);
    EXPECT_FALSE(*p.feed({}));
    auto r = p.feed(byte_span(wire).subspan(2));
    ASSERT_TRUE(r && *r);
    EXPECT_EQ(p.current(), request_parser::state::done);
    EXPECT_EQ(p.request_code(), code::names_req);
    EXPECT_FALSE(*p.feed({}));
    // Anything after the one request: OTP's epmd closes (and drops a registration).
    auto more = p.feed(bytes{0});
    ASSERT_FALSE(more);
    EXPECT_EQ(more.error().code, errc::trailing_data);
    EXPECT_EQ(p.current(), request_parser::state::failed);
    EXPECT_EQ(p.feed(encode_names_req()).error().code, errc::trailing_data);  // stays failed
}

// The cases of OTP's epmd_SUITE, and more: each a clear error, at every split point.
TEST(epmd_protocol, malformed_requests) {
    struct bad_case {
        const char* what;
        bytes wire;
        errc expected;
        bool refused = false;  // epmd answers an ALIVE2 refusal before closing
    };
    const std::string long_ascii(600, 'a');  // alive_req_too_large
    std::string too_many_chars;
    for (int i = 0; i < 256; ++i)
        too_many_chars += "\xC3\xA5";
    const std::vector<bad_case> cases = {
        {"zero_length", bytes(10, 0), errc::zero_length},
        {"too_large", cat({u16(63000), bytes(100, 'z')}), errc::too_large},
        {"too_large_by_one", cat({u16(max_request_size + 1)}), errc::too_large},
        {"alive_req_too_small_1",
         framed(cat({{code::alive2_req}, u16(1000), {'M', 0}, u16(5), u16(5), u16(0)})), errc::truncated},
        {"alive_req_too_small_2", framed(cat({{code::alive2_req}, u16(1000), {'M', 0}, u16(5), u16(5)})),
         errc::truncated},
        {"alive_req_too_large", framed(alive2_body(long_ascii, "", 5, 5)), errc::name_too_long, true},
        {"alive_name_too_many_chars", framed(alive2_body(too_many_chars)), errc::name_too_long, true},
        {"alive_name_not_utf8", framed(alive2_body("ab\xFF")), errc::name_not_utf8, true},
        {"alive_extra_too_long", framed(alive2_body("gurka", std::string(1021, '\xff'))),
         errc::extra_too_long, true},
        {"name_with_null_inside", framed(alive2_body(std::string("foo\0bar", 7))), errc::name_has_nul},
        {"name_null_terminated", framed(alive2_body(std::string("foobar\0", 7))), errc::name_has_nul},
        {"alive_empty_name", framed(alive2_body("")), errc::empty_name},
        {"alive_name_length_lies", framed(alive2_body("gurka", "", 6, 5, 200)), errc::truncated},
        {"buffer_overrun_1", framed(alive2_body("gurka", "", 5, 5, std::string::npos, 10000)),
         errc::truncated},
        {"alive_trailing_bytes", framed(cat({alive2_body("gurka"), {1}})), errc::trailing_data},
        {"port_please_empty", framed({code::port_please2_req}), errc::empty_name},
        {"port_please_only_nul", framed({code::port_please2_req, 0}), errc::empty_name},
        {"port_please_nul_inside", framed(cat({{code::port_please2_req}, b(std::string("a\0b", 3))})),
         errc::name_has_nul},
        {"port_please_not_utf8", framed(cat({{code::port_please2_req}, b("\xE2\x82")})), errc::name_not_utf8},
        {"port_please_too_long", framed(cat({{code::port_please2_req}, b(std::string(256, 'a'))})),
         errc::name_too_long},
        {"stop_empty", framed({code::stop_req}), errc::empty_name},
        {"names_with_trailing", framed({code::names_req, 0}), errc::trailing_data},
        {"unknown_code", framed({'Q'}), errc::unknown_request},
        {"obsolete_alive_req", framed({97, 0, 1}), errc::unknown_request},
        {"obsolete_port_please_req", framed({112, 'a'}), errc::unknown_request},
        {"two_requests_at_once", cat({encode_names_req(), encode_names_req()}), errc::trailing_data},
        // Found by the fuzzer: a bad body and bytes after it read the same at every split.
        {"bad_body_then_more", cat({framed(cat({{code::alive2_req}, u16(1000), {'M', 0}, u16(5), u16(5)})), {1, 2}}),
         errc::truncated},
    };
    for (const auto& c : cases) {
        for (std::size_t k = 0; k <= c.wire.size(); ++k) {
            request_parser p;
            auto r = p.feed(byte_span(c.wire).first(k));
            if (r) r = p.feed(byte_span(c.wire).subspan(k));
            ASSERT_FALSE(r) << c.what << " split at " << k;
            EXPECT_EQ(r.error().code, c.expected)
                << c.what << " split at " << k << ": " << r.error().message();
            EXPECT_EQ(!p.reply_before_close().empty(), c.refused) << c.what;
            EXPECT_EQ(p.current(), request_parser::state::failed);
        }
        // Whole, it always fails.
        request_parser p;
        auto r = p.feed(c.wire);
        ASSERT_FALSE(r) << c.what;
        EXPECT_EQ(r.error().code, c.expected) << c.what;
    }
}

TEST(epmd_protocol, alive2_refusal_form_follows_the_requested_version) {
    request_parser p5, p6;
    ASSERT_FALSE(p5.feed(framed(alive2_body(std::string(600, 'a'), "", 5, 5))));
    ASSERT_FALSE(p6.feed(framed(alive2_body(std::string(600, 'a'), "", 6, 5))));
    EXPECT_EQ(bytes(p5.reply_before_close().begin(), p5.reply_before_close().end()),
              encode_alive2_refusal(5));
    EXPECT_EQ(bytes(p6.reply_before_close().begin(), p6.reply_before_close().end()),
              encode_alive2_refusal(6));
}

// OTP tolerates one NUL after a PORT_PLEASE2 name (old clients sent C strings).
TEST(epmd_protocol, port_please_name_may_be_nul_terminated) {
    auto r = decode_request(cat({{code::port_please2_req}, b(std::string("foo\0", 4))}));
    ASSERT_TRUE(r);
    EXPECT_EQ(std::get<port_please2_req>(*r).name, "foo");
}

// buffer_overrun_2 of epmd_SUITE: an extra of exactly 1020 bytes is accepted, longer ones refused.
TEST(epmd_protocol, extra_length_limits) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1019}, std::size_t{1020}}) {
        auto r = decode_request(alive2_body("gurka", std::string(n, '\xff'), 5, 5));
        ASSERT_TRUE(r) << n;
        EXPECT_EQ(std::get<alive2_req>(*r).node.extra.size(), n);
    }
    for (std::size_t n : {std::size_t{1021}, std::size_t{2000}}) {
        request_parser p(4000);
        auto r = p.feed(framed(alive2_body("gurka", std::string(n, '\xff'), 5, 5)));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, errc::extra_too_long);
        EXPECT_FALSE(p.reply_before_close().empty());
    }
}

TEST(epmd_protocol, parser_limit_is_configurable) {
    const bytes wire = *encode(port_please2_req{"abcdef"});
    EXPECT_EQ(feed_split(wire, {}, 6).error().code, errc::too_large);
    EXPECT_TRUE(feed_split(wire, {}, 7));
}

TEST(epmd_protocol, errors_have_messages) {
    error e{errc::name_has_nul, "detail"};
    EXPECT_EQ(e.message(), "name has NUL: detail");
    for (int i = 0; i <= static_cast<int>(errc::address_in_use); ++i)
        EXPECT_NE(to_string(static_cast<errc>(i)), "unknown error");
}

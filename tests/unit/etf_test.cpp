#include "nodus/etf/etf.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <vector>

using namespace nodus;
using namespace nodus::literals;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes enc(const term& t, unsigned minor = 2) {
    etf::encode_options o;
    o.minor_version = minor;
    return etf::encode(t, o);
}
term dec(const bytes& b) {
    auto r = etf::decode(b);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    return r ? *r : term();
}

}  // namespace

// Vectors from ../shared/reference/etf.md, produced by OTP 25.2.3.
TEST(etf, reference_vectors) {
    EXPECT_EQ(enc(1), (bytes{131, 97, 1}));
    EXPECT_EQ(enc(255), (bytes{131, 97, 255}));
    EXPECT_EQ(enc(256), (bytes{131, 98, 0, 0, 1, 0}));
    EXPECT_EQ(enc(-1), (bytes{131, 98, 255, 255, 255, 255}));
    EXPECT_EQ(enc(2147483648LL), (bytes{131, 110, 4, 0, 0, 0, 0, 128}));
    EXPECT_EQ(enc(-2147483649LL), (bytes{131, 110, 4, 1, 1, 0, 0, 128}));
    EXPECT_EQ(enc(*term::parse_integer("18446744073709551616")),
              (bytes{131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(enc(1.5), (bytes{131, 70, 63, 248, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(enc("ok"_a), (bytes{131, 119, 2, 111, 107}));
    EXPECT_EQ(enc("hello"_a, 1), (bytes{131, 100, 0, 5, 104, 101, 108, 108, 111}));
    EXPECT_EQ(enc(tuple()), (bytes{131, 104, 0}));
    EXPECT_EQ(enc(tuple("a"_a, 1)), (bytes{131, 104, 2, 119, 1, 97, 97, 1}));
    EXPECT_EQ(enc(term()), (bytes{131, 106}));
    EXPECT_EQ(enc(list({1000})), (bytes{131, 108, 0, 0, 0, 1, 98, 0, 0, 3, 232, 106}));
    EXPECT_EQ(enc(make_list(std::vector<term>{1, 2, 3}, 4)), (bytes{131, 108, 0, 0, 0, 3, 97, 1, 97, 2, 97, 3, 97, 4}));
    EXPECT_EQ(enc(string("abc")), (bytes{131, 107, 0, 3, 97, 98, 99}));
    EXPECT_EQ(enc(map({{"a"_a, 1}, {"b"_a, 2}})),
              (bytes{131, 116, 0, 0, 0, 2, 119, 1, 97, 97, 1, 119, 1, 98, 97, 2}));
    EXPECT_EQ(enc(binary("\x01\x02\x03")), (bytes{131, 109, 0, 0, 0, 3, 1, 2, 3}));
    EXPECT_EQ(enc(bitstring(bytes{0x20}, 3)), (bytes{131, 77, 0, 0, 0, 1, 3, 32}));
    EXPECT_EQ(enc(make_export("lists"_a, "map"_a, 2)),
              (bytes{131, 113, 119, 5, 'l', 'i', 's', 't', 's', 119, 3, 'm', 'a', 'p', 97, 2}));
    bytes pid_bytes{131, 88, 119, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h', 'o', 's', 't',
                    0,   0,  0,   9,  0,   0,   0,   0,   0,   0,   0,   0};
    term p = dec(pid_bytes);
    ASSERT_TRUE(p.is_pid());
    EXPECT_EQ(p.as_pid().id(), 9u);
    EXPECT_EQ(enc(p), pid_bytes);
}

TEST(etf, big_integer_of_263_digits) {
    // -(1 bsl 2100) -> 131,111,0,0,1,7,1, 0 x 262, 16
    bytes b{131, 111, 0, 0, 1, 7, 1};
    b.insert(b.end(), 262, 0);
    b.push_back(16);
    term t = dec(b);
    ASSERT_TRUE(t.is_bignum());
    EXPECT_TRUE(t.bigint().negative);
    EXPECT_EQ(enc(t), b);
}

TEST(etf, compressed_vector) {
    bytes z{131, 80, 0, 0, 0, 103, 120, 156, 203, 102, 72, 73, 164, 3, 0, 0, 204, 203, 38, 180};
    term t = dec(z);
    EXPECT_EQ(t.list_length(), 100u);
    etf::encode_options o;
    o.compression = 6;
    EXPECT_EQ(etf::encode(t, o), z);
}

TEST(etf, round_trips) {
    std::vector<term> terms = {
        term(),
        tuple(),
        list({1, 2.5, "x"_a, binary("bin"), tuple(list({}), map({{1, 2}}))}),
        *term::parse_integer("-123456789012345678901234567890123456789"),
        cons(1, cons(2, "tail"_a)),
        map({{tuple(1, 2), binary("k")}, {binary("b"), map({{"x"_a, 1}})}, {list({1}), 2.0}}),
        pid::make("n@h"_a, 1u << 31, 7, 0xFFFFFFFFu),
        port::make("n@h"_a, 1ull << 40, 5),
        reference::make("n@h"_a, 77, std::vector<std::uint32_t>{1, 2, 3, 4, 5}),
        bitstring(bytes{0xAB, 0xC0}, 10),
        binary(std::string(70000, 'z')),
        string(std::string(70000, 'q')),
    };
    for (const term& t : terms) {
        for (unsigned minor : {0u, 1u, 2u}) {
            auto b = enc(t, minor);
            EXPECT_EQ(dec(b), t) << "minor " << minor;
        }
    }
}

TEST(etf, every_truncation_is_an_error) {
    term t = tuple(list({1, 2, 3000000000LL, 1.5, "atom"_a}), map({{binary("k"), tuple(1, 2)}}), string("str"),
                   pid::make("n@h"_a, 1, 2, 3), reference::make("n@h"_a, 1, std::vector<std::uint32_t>{1, 2, 3}),
                   *term::parse_integer("99999999999999999999999"), bitstring(bytes{0xF0}, 4));
    auto b = enc(t);
    for (std::size_t n = 0; n < b.size(); ++n) {
        auto r = etf::decode(byte_span(b.data(), n));
        ASSERT_FALSE(r.has_value()) << "prefix of " << n << " bytes decoded";
    }
    EXPECT_TRUE(etf::decode(b).has_value());
}

TEST(etf, errors_say_what_and_where) {
    auto r = etf::decode(bytes{131, 104, 2, 97, 1, 200});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, etf::errc::unknown_tag);
    EXPECT_EQ(r.error().offset, 5u);
    EXPECT_EQ(r.error().message(), "unknown tag at byte 5");
    EXPECT_EQ(etf::decode(bytes{130, 97, 1}).error().code, etf::errc::bad_version);
    EXPECT_EQ(etf::decode(bytes{131, 97, 1, 0}).error().code, etf::errc::trailing_data);
    // a list that claims four billion elements is refused before allocating
    EXPECT_EQ(etf::decode(bytes{131, 108, 255, 255, 255, 255, 106}).error().code, etf::errc::truncated);
    EXPECT_EQ(etf::decode(bytes{131, 70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0}).error().code, etf::errc::bad_float);
    EXPECT_EQ(etf::decode(bytes{131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2}).error().code,
              etf::errc::duplicate_map_key);
    EXPECT_EQ(etf::decode(bytes{131, 90, 0, 6, 119, 1, 'a', 0, 0, 0, 0}).error().code, etf::errc::bad_reference);
    EXPECT_EQ(etf::decode(bytes{131, 82, 0}).error().code, etf::errc::bad_cache_ref);
}

TEST(etf, depth_limit) {
    bytes b{131};
    for (int i = 0; i < 20000; ++i) {
        b.push_back(104);
        b.push_back(1);
    }
    b.push_back(106);
    auto r = etf::decode(b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, etf::errc::too_deep);
    etf::decode_options o;
    o.limits.max_depth = 30000;
    EXPECT_TRUE(etf::decode(b, o).has_value());
}

TEST(etf, atom_budget_and_safe_mode) {
    etf::decode_options o;
    o.allow_new_atoms = false;
    auto fresh = enc(atom("surely_not_an_existing_atom_xyz"), 2);
    // the atom exists now (enc created it); build bytes for a new one by hand
    bytes b{131, 119, 9, 'n', 'e', 'w', '_', 'a', 't', 'o', 'm', '1'};
    EXPECT_EQ(etf::decode(b, o).error().code, etf::errc::atom_budget);
    EXPECT_TRUE(etf::decode(fresh, o).has_value());
    std::size_t budget = 1;
    etf::decode_options ob;
    ob.atom_budget = &budget;
    EXPECT_TRUE(etf::decode(b, ob).has_value());
    EXPECT_EQ(budget, 0u);
    bytes b2{131, 119, 9, 'n', 'e', 'w', '_', 'a', 't', 'o', 'm', '2'};
    EXPECT_EQ(etf::decode(b2, ob).error().code, etf::errc::atom_budget);
}

TEST(etf, binaries_share_the_input_storage) {
    term big = binary(std::string(1000, 'b'));
    auto b = enc(big);
    byte_storage* st = byte_storage::allocate(b.size());
    std::copy(b.begin(), b.end(), st->mutable_data());
    etf::decode_options o;
    o.owner = st;
    auto t = etf::decode(byte_span(st->data, st->size), o);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->bytes().data(), st->data + 6);
    st->drop();
    EXPECT_EQ(*t, big);  // still alive through the binary's reference
}

// Regression (fuzz finding): LIST_EXT with no elements is its tail alone; a long chain of them
// recursed once per link and overflowed the stack. Now it decodes to the tail, at any length.
TEST(etf, a_long_chain_of_empty_list_exts_is_its_tail) {
    using namespace nodus;
    for (std::size_t links : {1u, 2u, 20000u}) {
        std::vector<std::uint8_t> input{131};
        for (std::size_t i = 0; i < links; ++i)
            input.insert(input.end(), {108, 0, 0, 0, 0});
        input.insert(input.end(), {97, 42});  // the tail: 42
        auto t = etf::decode(byte_span(input.data(), input.size()));
        ASSERT_TRUE(t) << links;
        EXPECT_EQ(*t, term(42)) << links;
    }
    // Truncated after the chain: an error, not a crash.
    std::vector<std::uint8_t> cut{131};
    for (int i = 0; i < 20000; ++i) cut.insert(cut.end(), {108, 0, 0, 0, 0});
    EXPECT_FALSE(etf::decode(byte_span(cut.data(), cut.size())));
}

namespace {
// Hands out refs in order of first use, up to a cap (then -1: the atom goes inline).
class counting_refs final : public etf::atom_ref_sink {
public:
    explicit counting_refs(std::size_t cap) : cap_(cap) {}
    int ref_for(atom a) override {
        for (std::size_t i = 0; i < seen_.size(); ++i)
            if (seen_[i] == a) return static_cast<int>(i);
        if (seen_.size() == cap_) return -1;
        seen_.push_back(a);
        return static_cast<int>(seen_.size() - 1);
    }
    std::vector<atom> seen_;

private:
    std::size_t cap_;
};
class no_binaries final : public etf::binary_ref_sink {
public:
    using etf::binary_ref_sink::binary_ref_sink;
    void external(const term&, std::size_t) override { ++count; }
    int count = 0;
};
}  // namespace

// Flat tuples take a one-pass writer (encode_flat_tuple): the same bytes as the encoder writes
// element by element, with and without atom cache refs, across the edges of each form.
TEST(etf, flat_tuples_encode_as_their_elements_would) {
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";  // 200 x U+00E9: 400 bytes, ATOM_UTF8_EXT
    const atom long_atom(long_text);
    const term local_pid = pid::make(atom("nonode@nohost"), 3, 0, 0);
    std::vector<std::vector<term>> cases{
        {},
        {term("msg"_a), term(1), binary("0123456789abcdef0123456789abcdef")},
        {term(0), term(255), term(256), term(-1), term(2147483647LL), term(-2147483647LL - 1)},
        {term(2147483648LL)},  // too big for INTEGER_EXT: the general encoder
        {term(atom()), term(long_atom), term(), term("a"_a), term("a"_a)},
        {local_pid, binary(""), binary(std::string(256, 'b'))},
        {binary(std::string(257, 'c'))},  // past the fast path's binary size
        {term(1.5)},                        // a float: the general encoder
    };
    for (const auto& elems : cases) {
        term t = make_tuple(std::span<const term>(elems));
        for (std::size_t cap : {std::size_t{0}, std::size_t{2}, std::size_t{255}}) {
            for (bool with_refs : {false, true}) {
                counting_refs r1(cap), r2(cap);
                etf::encode_options o1{2, -1, nullptr}, o2{2, -1, nullptr};
                if (with_refs) {
                    o1.atom_refs = &r1;
                    o2.atom_refs = &r2;
                }
                byte_writer whole, parts;
                etf::encode_body(t, whole, o1);
                parts.u8(104);
                parts.u8(static_cast<std::uint8_t>(elems.size()));
                for (const term& x : elems)
                    etf::encode_body(x, parts, o2);
                EXPECT_EQ(whole.take(), parts.take()) << elems.size() << " elements, cap " << cap;
                EXPECT_EQ(r1.seen_, r2.seen_);
            }
        }
    }
    // A binary the sink takes by reference is left to the encoder, which reports it.
    no_binaries sink(16);
    etf::encode_options o{2, -1, nullptr};
    o.external_binaries = &sink;
    byte_writer w;
    etf::encode_body(tuple("big"_a, binary(std::string(100, 'd'))), w, o);
    EXPECT_EQ(sink.count, 1);
}

// Flat tuples take a one-pass reader (decode_flat_tuple): the terms the decoder makes, cache refs
// and shared binaries included, and anything it does not take (or finds short) is left to the
// decoder, with the decoder's errors.
TEST(etf, flat_tuples_decode_as_the_decoder_would) {
    const std::vector<atom> refs{atom("msg"), atom("other")};
    etf::decode_options o;
    o.atom_refs = refs;
    auto body = [](std::initializer_list<std::uint8_t> b) { return bytes(b); };
    // {msg, 7, -2, [], <<"ab">>, other} with cache refs 0 and 1.
    bytes flat = body({104, 6, 82, 0, 97, 7, 98, 0xFF, 0xFF, 0xFF, 0xFE, 106, 109, 0, 0, 0, 2, 'a', 'b', 82, 1});
    byte_reader r(flat);
    auto t = etf::decode_body(r, o);
    ASSERT_TRUE(t);
    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(*t, tuple("msg"_a, 7, -2, term(), binary("ab"), "other"_a));
    // Every cut short: the decoder's truncation error, as before.
    for (std::size_t cut = 1; cut < flat.size(); ++cut) {
        byte_reader rc(byte_span(flat.data(), cut));
        auto tc = etf::decode_body(rc, o);
        ASSERT_FALSE(tc) << "cut " << cut;
        EXPECT_EQ(tc.error().code, etf::errc::truncated) << "cut " << cut;
    }
    // A cache ref past the header's refs: the decoder's error.
    bytes bad_ref = body({104, 1, 82, 2});
    byte_reader rb(bad_ref);
    auto tb = etf::decode_body(rb, o);
    ASSERT_FALSE(tb);
    EXPECT_EQ(tb.error().code, etf::errc::bad_cache_ref);
    // A binary above 64 bytes inside a flat tuple shares the input storage.
    bytes with_big = body({104, 2, 82, 0, 109, 0, 0, 0, 100});
    with_big.insert(with_big.end(), 100, 'z');
    byte_storage* st = byte_storage::allocate(with_big.size());
    std::copy(with_big.begin(), with_big.end(), st->mutable_data());
    o.owner = st;
    byte_reader rs(byte_span(st->data, st->size));
    auto ts = etf::decode_body(rs, o);
    ASSERT_TRUE(ts);
    EXPECT_EQ((*ts)[1].bytes().data(), st->data + 9);
    st->drop();
    EXPECT_EQ(*ts, tuple("msg"_a, binary(std::string(100, 'z'))));
}

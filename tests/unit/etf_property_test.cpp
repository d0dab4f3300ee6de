// Randomized properties of the ETF codec and of term comparison/hashing, over terms from the
// seeded generator in tests/support/term_gen. Every test prints its seed; a failure says
// "replay with NODUS_SEED=<seed>", and running with that environment variable repeats the
// exact same terms.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "nodus/etf/etf.hpp"
#include "nodus/term/term.hpp"
#include "term_gen.hpp"

using namespace nodus;
using nodus::test::term_gen;
using nodus::test::term_gen_options;
using bytes = std::vector<std::uint8_t>;

namespace {

// One seed for the whole run (all tests derive theirs from it), so one number replays all.
std::uint64_t run_seed() {
    static const std::uint64_t seed = test::seed_from_env();
    return seed;
}

std::string hex_prefix(const bytes& b, std::size_t max = 160) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < b.size() && i < max; ++i) {
        s.push_back(digits[b[i] >> 4]);
        s.push_back(digits[b[i] & 15]);
    }
    if (b.size() > max) s += "... (" + std::to_string(b.size()) + " bytes)";
    return s;
}

const char* order_name(std::weak_ordering o) {
    return o < 0 ? "less" : o > 0 ? "greater" : "equivalent";
}

class etf_property : public ::testing::Test {
  protected:
    etf_property()
        : seed_(run_seed()), trace_(__FILE__, __LINE__, "replay with NODUS_SEED=" + std::to_string(seed_)) {
        std::printf("[   seed   ] NODUS_SEED=%llu\n", static_cast<unsigned long long>(seed_));
        std::fflush(stdout);
        RecordProperty("seed", std::to_string(seed_));
    }

    // A generator for one test: the run seed mixed with a per-test salt.
    term_gen gen(std::uint64_t salt, term_gen_options o = {}) const {
        return term_gen(seed_ ^ (salt * 0x9E3779B97F4A7C15ull), o);
    }

    std::uint64_t seed_;
    ::testing::ScopedTrace trace_;
};

struct named_options {
    const char* name;
    etf::encode_options options;
};
const std::array<named_options, 6> encodings = {{
    {"minor 0", {0, -1, nullptr}},
    {"minor 1", {1, -1, nullptr}},
    {"minor 2", {2, -1, nullptr}},
    {"minor 1 compressed 6", {1, 6, nullptr}},
    {"minor 2 compressed 1", {2, 1, nullptr}},
    {"minor 2 compressed 9", {2, 9, nullptr}},
}};

}  // namespace

// decode(encode(t)) == t for every minor version and with compression, and the encoding is
// canonical: encoding the decoded term again gives the same bytes.
TEST_F(etf_property, decode_inverts_encode) {
    term_gen_options o;
    o.large_chance = 0.004;  // large terms cost most of the time: a few per run suffice
    term_gen g = gen(1, o);
    constexpr int iterations = 2000;
    for (int i = 0; i < iterations; ++i) {
        term t = g.any();
        for (const auto& e : encodings) {
            bytes b = etf::encode(t, e.options);
            auto r = etf::decode(b);
            ASSERT_TRUE(r.has_value()) << "iteration " << i << ", " << e.name << ": " << r.error().message()
                                       << "\nbytes " << hex_prefix(b);
            ASSERT_TRUE(*r == t) << "iteration " << i << ", " << e.name << ": decoded term differs\nbytes "
                                 << hex_prefix(b);
            ASSERT_TRUE(etf::encode(*r, e.options) == b)
                << "iteration " << i << ", " << e.name << ": re-encoding differs\nbytes " << hex_prefix(b);
        }
    }
}

// Every proper prefix of a valid encoding is an error (never a crash, never a term), and the
// error points inside the input.
TEST_F(etf_property, every_truncation_is_an_error) {
    term_gen_options o;
    o.max_depth = 3;
    o.max_width = 4;
    o.max_binary = 16;
    o.large_chance = 0;
    term_gen g = gen(2, o);
    constexpr int iterations = 500;
    std::size_t prefixes = 0;
    for (int i = 0; i < iterations; ++i) {
        term t = g.any();
        for (const auto& e : {encodings[0], encodings[2], encodings[3]}) {
            bytes b = etf::encode(t, e.options);
            for (std::size_t n = 0; n < b.size(); ++n, ++prefixes) {
                auto r = etf::decode(byte_span(b.data(), n));
                ASSERT_FALSE(r.has_value())
                    << "iteration " << i << ", " << e.name << ": prefix of " << n << " of " << b.size()
                    << " bytes decoded\nbytes " << hex_prefix(b);
                ASSERT_LE(r.error().offset, n) << "iteration " << i << ", " << e.name;
            }
        }
    }
    RecordProperty("prefixes", std::to_string(prefixes));
}

// A single changed byte anywhere never crashes the decoder (AddressSanitizer and
// UndefinedBehaviorSanitizer watch in CI). Whatever it decodes to is a valid term: it
// survives its own round trip.
TEST_F(etf_property, single_byte_corruption_never_crashes) {
    term_gen_options o;
    o.max_depth = 3;
    o.large_chance = 0.002;
    term_gen g = gen(3, o);
    constexpr int terms = 2500;
    constexpr int corruptions = 12;
    std::size_t decoded = 0, rejected = 0;
    for (int i = 0; i < terms; ++i) {
        term t = g.any();
        const auto& e = encodings[g.below(encodings.size())];
        const bytes original = etf::encode(t, e.options);
        for (int k = 0; k < corruptions; ++k) {
            bytes b = original;
            std::size_t at = g.below(b.size());
            b[at] ^= static_cast<std::uint8_t>(g.between(1, 255));
            auto r = etf::decode(b);
            if (!r) {
                ++rejected;
                ASSERT_LE(r.error().offset, b.size());
                continue;
            }
            ++decoded;
            for (const auto& again : {encodings[0], encodings[2]}) {
                auto r2 = etf::decode(etf::encode(*r, again.options));
                ASSERT_TRUE(r2.has_value())
                    << "iteration " << i << ": byte " << at << " changed; re-encoded with " << again.name
                    << ": " << r2.error().message();
                ASSERT_TRUE(*r2 == *r)
                    << "iteration " << i << ": byte " << at << " changed\nbytes " << hex_prefix(b);
            }
        }
    }
    RecordProperty("decoded", std::to_string(decoded));
    RecordProperty("rejected", std::to_string(rejected));
    EXPECT_GT(rejected, 0u);
    EXPECT_GT(decoded, 0u);
}

// Equal terms hash equally: a term and its decoded copy (new boxes, new binaries, fresh
// bignums) are =:= and have the same hash, and comparison calls them the same.
TEST_F(etf_property, copies_are_equal_and_hash_equally) {
    term_gen_options o;
    o.large_chance = 0.004;
    term_gen g = gen(4, o);
    for (int i = 0; i < 1500; ++i) {
        term t = g.any();
        auto copy = etf::decode(etf::encode(t));
        ASSERT_TRUE(copy.has_value());
        ASSERT_TRUE(t == *copy) << "iteration " << i;
        EXPECT_EQ(hash_value(t), hash_value(*copy)) << "iteration " << i;
        EXPECT_TRUE(compare(t, *copy) == 0) << "iteration " << i;
        EXPECT_TRUE(exact_compare(t, *copy) == 0) << "iteration " << i;
        EXPECT_TRUE(equal(t, *copy)) << "iteration " << i;
    }
}

// On a small domain (where equal and equivalent terms are common): =:= agrees with
// exact_compare and implies equal hashes; == agrees with compare; both orders are reflexive
// and antisymmetric.
TEST_F(etf_property, equality_hash_and_order_agree_on_all_pairs) {
    term_gen g = gen(5);
    std::vector<term> pool;
    for (int i = 0; i < 300; ++i)
        pool.push_back(g.small_domain());
    for (int i = 0; i < 60; ++i)
        pool.push_back(g.any());
    std::size_t exact_equal_pairs = 0, equivalent_pairs = 0;
    for (std::size_t i = 0; i < pool.size(); ++i) {
        const term& a = pool[i];
        ASSERT_TRUE(compare(a, a) == 0);
        ASSERT_TRUE(exact_compare(a, a) == 0);
        for (std::size_t j = 0; j < pool.size(); ++j) {
            const term& b = pool[j];
            std::weak_ordering ab = compare(a, b), ba = compare(b, a);
            std::strong_ordering xab = exact_compare(a, b), xba = exact_compare(b, a);
            ASSERT_TRUE((ab < 0) == (ba > 0) && (ab == 0) == (ba == 0))
                << "compare not antisymmetric for pool " << i << ", " << j << ": " << order_name(ab) << " / "
                << order_name(ba);
            ASSERT_TRUE((xab < 0) == (xba > 0) && (xab == 0) == (xba == 0))
                << "exact_compare not antisymmetric for pool " << i << ", " << j;
            bool same = a == b;
            ASSERT_EQ(same, xab == 0) << "=:= and exact_compare disagree for pool " << i << ", " << j;
            ASSERT_EQ(equal(a, b), ab == 0) << "== and compare disagree for pool " << i << ", " << j;
            if (same) {
                ++exact_equal_pairs;
                ASSERT_EQ(hash_value(a), hash_value(b))
                    << "equal terms hash differently: pool " << i << ", " << j;
                ASSERT_TRUE(ab == 0) << "=:= terms not equivalent: pool " << i << ", " << j;
            }
            if (ab == 0) ++equivalent_pairs;
        }
    }
    // The domain is small on purpose: without many equal pairs this test would test little.
    EXPECT_GT(exact_equal_pairs, 2 * pool.size());
    EXPECT_GT(equivalent_pairs, exact_equal_pairs);
}

// Both orders are transitive, on random triples from the small domain (many ties) and from
// the general generator (every type), and sorting with them gives a consistent sequence.
TEST_F(etf_property, orders_are_transitive) {
    term_gen g = gen(6);
    std::vector<term> pool;
    for (int i = 0; i < 300; ++i)
        pool.push_back(g.small_domain());
    for (int i = 0; i < 300; ++i)
        pool.push_back(g.any());
    auto check = [&](const term& a, const term& b, const term& c) {
        auto ab = compare(a, b), bc = compare(b, c), ac = compare(a, c);
        if (ab <= 0 && bc <= 0) {
            if (!(ac <= 0)) return false;
            if ((ab < 0 || bc < 0) && !(ac < 0)) return false;
        }
        auto xab = exact_compare(a, b), xbc = exact_compare(b, c), xac = exact_compare(a, c);
        if (xab <= 0 && xbc <= 0) {
            if (!(xac <= 0)) return false;
            if ((xab < 0 || xbc < 0) && !(xac < 0)) return false;
        }
        return true;
    };
    for (int i = 0; i < 300000; ++i) {
        // Mostly from one half, so ties (small domain) and cross-type triples (general) both occur.
        std::size_t half = g.below(2) * 300;
        std::size_t x = half + g.below(300), y = half + g.below(300), z = g.below(pool.size());
        ASSERT_TRUE(check(pool[x], pool[y], pool[z])) << "triple " << x << ", " << y << ", " << z;
        ASSERT_TRUE(check(pool[z], pool[x], pool[y])) << "triple " << z << ", " << x << ", " << y;
    }
    std::vector<term> sorted = pool;
    std::sort(sorted.begin(), sorted.end(), [](const term& a, const term& b) { return compare(a, b) < 0; });
    for (std::size_t i = 0; i < sorted.size(); ++i)
        for (std::size_t j = i + 1; j < sorted.size(); ++j)
            ASSERT_TRUE(compare(sorted[i], sorted[j]) <= 0) << "sorted positions " << i << ", " << j;
    std::sort(sorted.begin(), sorted.end(), term_less{});
    for (std::size_t i = 0; i < sorted.size(); ++i)
        for (std::size_t j = i + 1; j < sorted.size(); ++j)
            ASSERT_TRUE(exact_compare(sorted[i], sorted[j]) <= 0)
                << "exact-sorted positions " << i << ", " << j;
}

// Deflate's best ratio (about 1029:1 for long runs of one byte) stays under the 1032:1 bound
// the decoder uses to refuse impossible inflated sizes before allocating them.
TEST(etf_compressed, maximally_compressible_terms_decode) {
    term zeros = binary(std::string(std::size_t{4} << 20, '\0'));
    for (int level : {1, 6, 9}) {
        bytes b = etf::encode(zeros, {2, level, nullptr});
        ASSERT_EQ(b[1], etf::compressed) << "level " << level;
        auto r = etf::decode(b);
        ASSERT_TRUE(r.has_value()) << "level " << level << ": " << r.error().message();
        EXPECT_TRUE(*r == zeros);
    }
}

TEST(etf_compressed, inflated_size_beyond_deflate_ratio_is_refused) {
    // Announces 1 GiB - 1 from a 9-byte zlib stream (an empty list): refused without inflating.
    bytes b{131, 80, 0x3F, 0xFF, 0xFF, 0xFF, 0x78, 0x9C, 0xCB, 0x02, 0x00, 0x00, 0x6B, 0x00, 0x6B};
    auto r = etf::decode(b);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, etf::errc::bad_compressed);
}

#include "nodus/term/term.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace nodus;
using namespace nodus::literals;

TEST(atom, interning_gives_the_same_index) {
    atom a("hello"), b("hello"), c("world");
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(a.name(), "hello");
    EXPECT_EQ(atom().name(), "");
    EXPECT_EQ(atoms::ok.name(), "ok");
    EXPECT_EQ(atoms::nonode_nohost.name(), "nonode@nohost");
    EXPECT_EQ("ok"_a, atoms::ok);
}

TEST(atom, rejects_bad_text) {
    EXPECT_EQ(atom::make(std::string(256, 'a')).error(), atom_error::too_long);
    EXPECT_TRUE(atom::make(std::string(255, 'a')).has_value());
    EXPECT_EQ(atom::make("\xff").error(), atom_error::invalid_utf8);
    EXPECT_EQ(atom::make("\xc0\x80").error(), atom_error::invalid_utf8);  // overlong
    std::string multi;
    for (int i = 0; i < 255; ++i) multi += "\xe6\x97\xa5";  // 255 characters, 765 bytes
    auto m = atom::make(multi);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->length(), 255u);
    EXPECT_FALSE(m->is_latin1());
    EXPECT_TRUE(atom("caf\xc3\xa9").is_latin1());
}

TEST(atom, order_is_by_text) {
    EXPECT_LT(atom("abc"), atom("abd"));
    EXPECT_LT(atom("ab"), atom("abc"));
    EXPECT_LT(atom("Z"), atom("a"));
}

TEST(atom, table_is_bounded_and_thread_safe) {
    auto before = atom_table_stats();
    std::size_t limit = set_atom_limit(before.count + 1000);
    EXPECT_EQ(limit, before.count + 1000);
    std::vector<std::thread> threads;
    std::atomic<int> made{0}, refused{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t, &made, &refused] {
            for (int i = 0; i < 600; ++i) {
                auto r = atom::make("bounded_" + std::to_string(t % 2) + "_" + std::to_string(i));
                if (r) ++made;
                else if (r.error() == atom_error::table_full) ++refused;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(atom_table_stats().count, before.count + 1000);
    EXPECT_GT(refused.load(), 0);
    // Existing atoms still resolve when the table is full.
    EXPECT_TRUE(atom::make("ok").has_value());
    set_atom_limit(1 << 20);
}

TEST(term, immediates) {
    term n;
    EXPECT_TRUE(n.is_nil());
    EXPECT_TRUE(n.is_list());
    term i = 42;
    EXPECT_TRUE(i.is_small());
    EXPECT_EQ(i.to_int64(), 42);
    term a = atoms::ok;
    EXPECT_TRUE(a.is_atom(atoms::ok));
    EXPECT_EQ(term(true), term(atoms::true_));
    EXPECT_EQ(i.type(), term_type::integer);
}

TEST(term, integers_of_every_size) {
    for (long long v : std::initializer_list<long long>{0LL, 1LL, -1LL, (1LL << 60) - 1, -(1LL << 60), 1LL << 60, -(1LL << 60) - 1, INT64_MAX, INT64_MIN}) {
        term t = v;
        EXPECT_EQ(t.to_int64(), v) << v;
        EXPECT_EQ(t.is_small(), v >= -(1LL << 60) && v < (1LL << 60)) << v;
    }
    term big = *term::parse_integer("123456789012345678901234567890");
    EXPECT_TRUE(big.is_bignum());
    EXPECT_FALSE(big.to_int64().has_value());
    EXPECT_EQ(*term::parse_integer("-42"), term(-42));
    term u = 18446744073709551615ULL;
    EXPECT_EQ(u.to_uint64(), 18446744073709551615ULL);
    // Normalisation: a bignum that fits is small.
    std::uint64_t one[] = {1, 0};
    EXPECT_TRUE(term::integer(false, one).is_small());
}

TEST(term, copies_share) {
    term t = tuple(atoms::ok, binary("payload"), list({1, 2, 3}));
    term c = t;
    EXPECT_TRUE(c.same(t));
    EXPECT_EQ(t.box_ptr()->refs.load(), 2u);
}

TEST(term, tuples_lists_maps) {
    term t = tuple("a"_a, 1, 2.5);
    ASSERT_TRUE(t.is_tuple(3));
    EXPECT_EQ(t[0], term("a"_a));
    EXPECT_EQ(t[1], term(1));
    EXPECT_DOUBLE_EQ(t[2].float_value(), 2.5);
    term l = list({1, 2, 3});
    EXPECT_EQ(l.list_length(), 3u);
    term improper = cons(1, 2);
    EXPECT_FALSE(improper.list_length().has_value());
    term m = map({{"b"_a, 2}, {"a"_a, 1}, {1, 0}, {1.0, 9}});
    EXPECT_EQ(m.map_size(), 4u);
    EXPECT_EQ(m.map_keys()[0], term(1));      // integers first
    EXPECT_EQ(m.map_keys()[1], term(1.0));    // then floats
    EXPECT_EQ(m.map_keys()[2], term("a"_a));  // then atoms
    ASSERT_NE(m.map_get("a"_a), nullptr);
    EXPECT_EQ(*m.map_get("a"_a), term(1));
    EXPECT_EQ(m.map_get(term(2)), nullptr);
    term m2 = map_put(m, "c"_a, 3);
    EXPECT_EQ(m2.map_size(), 5u);
    EXPECT_EQ(m.map_size(), 4u);  // immutable
    EXPECT_EQ(map_remove(m2, "c"_a), m);
    term dup = map({{"k"_a, 1}, {"k"_a, 2}});
    EXPECT_EQ(dup.map_size(), 1u);
    EXPECT_EQ(*dup.map_get("k"_a), term(2));
}

TEST(term, binaries_and_sub_binaries_share) {
    std::string big(1000, 'x');
    term b = binary(big);
    term sub = b.sub_binary(10, 100);
    EXPECT_EQ(sub.bytes().size(), 100u);
    EXPECT_EQ(sub.bytes().data(), b.bytes().data() + 10);
    term bits = bitstring(as_bytes("\xff"), 3);
    EXPECT_EQ(bits.bit_size(), 3u);
    EXPECT_EQ(bits.bytes()[0], 0xE0);
    EXPECT_FALSE(bits.is_binary());
    EXPECT_TRUE(bits.is_bitstring());
}

TEST(term, long_list_destroys_without_recursion) {
    term l;
    for (int i = 0; i < 2'000'000; ++i) l = cons(i, std::move(l));
    term nested;
    for (int i = 0; i < 200'000; ++i) nested = tuple(std::move(nested));
    SUCCEED();
}

TEST(compare, erlang_term_order) {
    auto p = pid::make("a@h"_a, 1, 0, 1);
    auto r = reference::make("a@h"_a, 1, std::vector<std::uint32_t>{1, 2, 3});
    auto port_ = port::make("a@h"_a, 1, 1);
    std::vector<term> order = {term(1), term("a"_a), r, make_export("m"_a, "f"_a, 1), port_, p, tuple(), map({}),
                               term(), list({1}), binary("")};
    for (std::size_t i = 0; i + 1 < order.size(); ++i) EXPECT_TRUE(compare(order[i], order[i + 1]) < 0) << i;
}

TEST(compare, numbers) {
    EXPECT_EQ(compare(term(1), term(1.0)), std::weak_ordering::equivalent);
    EXPECT_TRUE(equal(term(1), term(1.0)));
    EXPECT_FALSE(term(1) == term(1.0));
    EXPECT_TRUE(exact_compare(term(1), term(1.0)) < 0);
    EXPECT_TRUE(term(0.0) == term(-0.0));  // OTP 25
    term big = *term::parse_integer("9007199254740993");
    EXPECT_TRUE(compare(big, term(9007199254740992.0)) > 0);  // exact, as OTP 25
    term huge = *term::parse_integer("-" + std::string(400, '9'));
    EXPECT_TRUE(compare(huge, term(-1.0e300)) < 0);
}

TEST(compare, pids_refs_ports_as_otp) {
    auto pid_ = [](const char* n, std::uint32_t id, std::uint32_t ser, std::uint32_t cr) {
        return term(pid::make(atom(n), id, ser, cr));
    };
    // serial, then number, then node, then creation (observed on OTP 25)
    EXPECT_TRUE(compare(pid_("b", 6, 0, 1), pid_("a", 5, 1, 1)) < 0);
    EXPECT_TRUE(compare(pid_("a", 0, 0, 2), pid_("b", 0, 0, 1)) < 0);
    EXPECT_TRUE(compare(pid_("a", 0, 0, 1), pid_("a", 0, 0, 2)) < 0);
    auto ref_ = [](const char* n, std::uint32_t cr, std::vector<std::uint32_t> w) {
        return term(reference::make(atom(n), cr, w));
    };
    EXPECT_EQ(ref_("a", 1, {9, 0}), ref_("a", 1, {9}));  // trailing zero words do not count
    EXPECT_TRUE(compare(ref_("a", 1, {9, 0}), ref_("a", 1, {1, 0, 1})) < 0);
    EXPECT_TRUE(compare(ref_("a", 1, {5}), ref_("a", 2, {1})) < 0);
    EXPECT_TRUE(compare(ref_("a", 9, {5}), ref_("b", 1, {1})) < 0);
    auto port_ = [](const char* n, std::uint64_t id, std::uint32_t cr) { return term(port::make(atom(n), id, cr)); };
    EXPECT_TRUE(compare(port_("a", 5, 1), port_("a", 1, 2)) < 0);
    EXPECT_TRUE(compare(port_("a", 5, 2), port_("b", 1, 1)) < 0);
}

TEST(compare, deep_structures_do_not_recurse) {
    term a, b;
    for (int i = 0; i < 300'000; ++i) {
        a = list({a});
        b = list({b});
    }
    EXPECT_TRUE(a == b);
    EXPECT_EQ(hash_value(a), hash_value(b));
}

TEST(hash, consistent_with_exact_equality) {
    EXPECT_EQ(hash_value(term(0.0)), hash_value(term(-0.0)));
    EXPECT_EQ(hash_value(tuple(1, "a"_a)), hash_value(tuple(1, "a"_a)));
    EXPECT_NE(hash_value(term(1)), hash_value(term(1.0)));
}

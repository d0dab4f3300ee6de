#include "term_gen.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace nodus::test {

namespace {

void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Character ranges for atom names; every one is free of surrogates, so any pick is valid UTF-8.
struct char_range {
    std::uint32_t lo, hi;
};
constexpr char_range ascii_lower{'a', 'z'};
constexpr char_range ascii_any{0x20, 0x7E};
constexpr char_range latin1{0xC0, 0xFF};       // 2 UTF-8 bytes, still Latin-1 (ATOM_EXT in minor 1)
constexpr char_range greek{0x3B1, 0x3C9};      // 2 bytes, not Latin-1
constexpr char_range cjk{0x4E00, 0x9FFF};      // 3 bytes
constexpr char_range emoji{0x1F600, 0x1F64F};  // 4 bytes

term int_term(bool negative, std::uint64_t magnitude) {
    return term::integer(negative, std::span<const std::uint64_t>(&magnitude, 1));
}

}  // namespace

std::uint64_t seed_from_env(const char* var) {
    if (const char* s = std::getenv(var); s && *s) {
        char* end = nullptr;
        std::uint64_t v = std::strtoull(s, &end, 0);
        if (end && *end == 0) return v;
    }
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
}

term_gen::term_gen(std::uint64_t seed, term_gen_options opts) : seed_(seed), opts_(opts), rng_(seed) {
    // A fixed pool of atoms, drawn from the seed: bounded growth of the process-wide atom
    // table however many terms are generated.
    atoms_ = {atoms::empty, atoms::ok, atoms::true_, atoms::false_, atoms::undefined, atoms::nil};
    const char_range ranges[] = {ascii_lower, ascii_any, latin1, greek, cjk, emoji};
    while (atoms_.size() < opts_.atom_pool) {
        std::size_t len = chance(0.03) ? between(200, 255) : between(1, 12);
        bool mixed = chance(0.3);
        const char_range* r = &ranges[below(std::size(ranges))];
        std::string name;
        for (std::size_t i = 0; i < len; ++i) {
            if (mixed) r = &ranges[below(std::size(ranges))];
            append_utf8(name, static_cast<std::uint32_t>(between(r->lo, r->hi)));
        }
        atoms_.push_back(atom(name));
    }
    for (const char* n : {"nonode@nohost", "a@localhost", "other@host", "n1@h", "ñode@höst", "λ@host"})
        nodes_.emplace_back(n);
    nodes_.push_back(atom(std::string(250, 'n') + "@h"));
}

std::size_t term_gen::width() {
    if (chance(opts_.large_chance)) return between(256, 3000);
    return below(opts_.max_width + 1);
}

std::size_t term_gen::byte_count() {
    if (chance(opts_.large_chance)) return between(256, 5000);
    return below(opts_.max_binary + 1);
}

atom term_gen::atom_() {
    return atoms_[below(atoms_.size())];
}
atom term_gen::node_name() {
    return nodes_[below(nodes_.size())];
}

term term_gen::integer() {
    switch (below(6)) {
        case 0:
            return term::small(static_cast<std::int64_t>(below(256)));
        case 1:
            return term::small(static_cast<std::int32_t>(bits()));
        case 2: {
            // Around the boundaries of the external format and of nodus's small integers.
            static constexpr int shifts[] = {8, 27, 31, 32, 59, 60, 61, 63, 64};
            int s = shifts[below(std::size(shifts))];
            std::uint64_t base = s == 64 ? 0 : std::uint64_t{1} << s;
            std::int64_t delta = static_cast<std::int64_t>(below(5)) - 2;
            bool neg = chance(0.5);
            if (s == 64) {
                // 2^64 + delta: two limbs {delta, 1} when delta >= 0, else one limb 2^64 - |delta|.
                std::uint64_t limbs[2] = {static_cast<std::uint64_t>(delta), 1};
                return term::integer(neg, std::span<const std::uint64_t>(limbs, delta >= 0 ? 2 : 1));
            }
            return int_term(neg, base + static_cast<std::uint64_t>(delta));
        }
        case 3:
            return int_term(chance(0.5), bits());
        case 4:
            return int_term(chance(0.5), bits() >> below(64));
        default:
            return bignum();
    }
}

term term_gen::bignum() {
    std::size_t n = chance(opts_.large_chance) ? between(32, 400) : between(1, opts_.max_bignum_limbs);
    std::vector<std::uint64_t> limbs(n);
    for (auto& l : limbs)
        l = bits();
    if (chance(0.3)) limbs.back() >>= below(64);  // not always a full top limb
    if (limbs.back() == 0) limbs.back() = 1;
    return term::integer(chance(0.5), limbs);
}

term term_gen::float_() {
    switch (below(4)) {
        case 0: {
            static constexpr double specials[] = {0.0,
                                                  -0.0,
                                                  1.0,
                                                  -1.0,
                                                  0.5,
                                                  0.1,
                                                  5.0e-324,
                                                  2.2250738585072014e-308,
                                                  2.2250738585072009e-308,
                                                  1.7976931348623157e308,
                                                  -1.7976931348623157e308,
                                                  9007199254740992.0,
                                                  1.0e16};
            return term(specials[below(std::size(specials))]);
        }
        case 1:
            return term(static_cast<double>(static_cast<std::int32_t>(bits() >> 20)));  // integral
        default: {
            while (true) {
                std::uint64_t b = bits();
                double d;
                std::memcpy(&d, &b, sizeof d);
                if (std::isfinite(d)) return term(d);
            }
        }
    }
}

term term_gen::binary_() {
    std::size_t n = byte_count();
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes)
        b = static_cast<std::uint8_t>(chance(0.3) ? 'a' : bits());
    term bin = binary(bytes);
    // Sometimes a sub-binary sharing the storage of a larger one.
    if (n > 70 && chance(0.3)) {
        std::size_t off = below(n / 2);
        return bin.sub_binary(off, below(n - off + 1));
    }
    return bin;
}

term term_gen::bitstring_() {
    std::size_t n = byte_count() + 1;
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes)
        b = static_cast<std::uint8_t>(bits());
    return bitstring(bytes, (n - 1) * 8 + between(1, 7));
}

term term_gen::string_() {
    std::size_t n = chance(opts_.large_chance) ? between(256, 3000) : below(20);
    std::vector<term> chars;
    chars.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        chars.push_back(term::small(static_cast<std::int64_t>(below(256))));
    return make_list(std::move(chars));
}

term term_gen::pid_() {
    auto u32 = [&] { return static_cast<std::uint32_t>(chance(0.5) ? below(1000) : bits()); };
    return pid::make(node_name(), u32(), u32(), u32());
}

term term_gen::port_() {
    std::uint64_t id = chance(0.5) ? below(1u << 28) : bits() >> below(64);
    return port::make(node_name(), id, static_cast<std::uint32_t>(bits()));
}

term term_gen::reference_() {
    std::uint32_t words[reference::max_words];
    std::size_t n = between(1, reference::max_words);
    for (std::size_t i = 0; i < n; ++i)
        words[i] = static_cast<std::uint32_t>(bits());
    return reference::make(node_name(), static_cast<std::uint32_t>(bits()),
                           std::span<const std::uint32_t>(words, n));
}

term term_gen::export_() {
    return make_export(atom_(), atom_(), static_cast<unsigned>(below(256)));
}

term term_gen::local_fun(std::size_t depth) {
    std::size_t nfree = below(4);
    detail::fun_box* f;
    term fun = detail::new_fun(nfree, f);
    f->arity = static_cast<std::uint8_t>(below(256));
    for (auto& u : f->uniq)
        u = static_cast<std::uint8_t>(bits());
    f->index = static_cast<std::uint32_t>(bits());
    f->module = term(atom_());
    // OldIndex and OldUniq travel as SMALL_INTEGER_EXT or INTEGER_EXT: 32-bit signed values.
    f->old_index =
        term::small(chance(0.5) ? static_cast<std::int64_t>(below(256)) : static_cast<std::int32_t>(bits()));
    f->old_uniq = term::small(static_cast<std::int32_t>(bits()));
    f->pid = pid_();
    term* env = detail::trailing<term>(f);
    for (std::size_t i = 0; i < nfree; ++i)
        env[i] = node(depth + 1);
    return fun;
}

term term_gen::tuple_(std::size_t depth) {
    std::size_t n = width();
    std::vector<term> elems;
    elems.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        elems.push_back(child(n, depth));
    return make_tuple(std::move(elems));
}

term term_gen::list_(std::size_t depth) {
    std::size_t n = width();
    std::vector<term> elems;
    elems.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        elems.push_back(chance(0.2) ? term::small(static_cast<std::int64_t>(below(256))) : child(n, depth));
    term tail;
    if (n > 0 && chance(0.2)) {
        do
            tail = leaf();
        while (tail.is_nil());
    }
    return make_list(std::move(elems), std::move(tail));
}

term term_gen::map_(std::size_t depth) {
    std::size_t n = width();
    std::vector<std::pair<term, term>> pairs;
    pairs.reserve(n + 2);
    for (std::size_t i = 0; i < n; ++i)
        pairs.emplace_back(child(n, depth), child(n, depth));
    if (chance(0.2)) {
        // An integer key and a float key of equal value are different keys.
        std::int64_t v = static_cast<std::int64_t>(below(5)) - 2;
        pairs.emplace_back(term::small(v), leaf());
        pairs.emplace_back(term(static_cast<double>(v)), leaf());
    }
    return make_map(std::move(pairs));
}

term term_gen::leaf() {
    for (;;) {
        switch (below(14)) {
            case 0:
            case 1:
                return integer();
            case 2:
                return float_();
            case 3:
            case 4:
                return term(atom_());
            case 5:
                return binary_();
            case 6:
                return bitstring_();
            case 7:
                return term();
            case 8:
                return string_();
            case 9:
                if (!opts_.identifiers) continue;
                return pid_();
            case 10:
                if (!opts_.identifiers) continue;
                return port_();
            case 11:
                if (!opts_.identifiers) continue;
                return reference_();
            case 12:
                if (!opts_.funs) continue;
                return export_();
            default:
                return term::small(static_cast<std::int64_t>(below(100)));
        }
    }
}

term term_gen::child(std::size_t siblings, std::size_t depth) {
    // The elements of a large container are leaves: nested large containers would multiply
    // into terms of millions of nodes.
    return siblings > opts_.max_width ? leaf() : node(depth + 1);
}

term term_gen::node(std::size_t depth) {
    if (depth >= opts_.max_depth || chance(0.45)) return leaf();
    switch (below(7)) {
        case 0:
        case 1:
            return tuple_(depth);
        case 2:
        case 3:
            return list_(depth);
        case 4:
        case 5:
            return map_(depth);
        default:
            return opts_.funs ? local_fun(depth) : tuple_(depth);
    }
}

term term_gen::small_domain(std::size_t depth) {
    std::size_t kinds = depth >= 2 ? 5 : 8;
    switch (below(kinds)) {
        case 0:
        case 1:
            return term::small(static_cast<std::int64_t>(below(3)) - 1);
        case 2: {
            static constexpr double v[] = {-1.0, 0.0, -0.0, 1.0, 0.5};
            return term(v[below(std::size(v))]);
        }
        case 3:
            return term(below(2) ? atoms::ok : atoms::error);
        case 4:
            return below(2) ? term() : binary(below(2) ? "a" : "");
        case 5: {
            std::size_t n = below(3);
            std::vector<term> e;
            for (std::size_t i = 0; i < n; ++i)
                e.push_back(small_domain(depth + 1));
            return make_tuple(std::move(e));
        }
        case 6: {
            std::size_t n = below(3);
            std::vector<term> e;
            for (std::size_t i = 0; i < n; ++i)
                e.push_back(small_domain(depth + 1));
            return make_list(std::move(e));
        }
        default: {
            std::vector<std::pair<term, term>> p;
            std::size_t n = below(3);
            for (std::size_t i = 0; i < n; ++i)
                p.emplace_back(small_domain(depth + 1), small_domain(depth + 1));
            return make_map(std::move(p));
        }
    }
}

}  // namespace nodus::test

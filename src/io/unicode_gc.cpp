// Grapheme clusters as OTP 25's unicode_util:gc/1 splits them, for string:length/1 and
// string:slice/3, which io_lib uses to measure and cut Unicode text (~ts field widths, ~tp
// layout). The character classes come from gen_unicode_gc.escript, which measures them on erl;
// the splitting rules follow unicode_util's clauses, quirks included:
//  - two characters below 256 never join, except CR LF (the Latin-1 fast path); a character
//    below 256 is extended only by marks from 256 up;
//  - a prepended character joins whatever cluster follows it unless a control follows;
//  - after ZWJ, an emoji sequence continues only with an Extended_Pictographic character;
//  - Hangul L, V, T, LV and LVT sequences join as in UAX #29.
#include <algorithm>
#include <iterator>

#include "io_impl.hpp"

namespace nodus::io_lib::detail {

namespace {

struct cp_range {
    std::uint32_t lo, hi;
};

#include "unicode_gc_tables.inc"

template <std::size_t N>
bool in(const cp_range (&table)[N], char32_t c) noexcept {
    auto it = std::upper_bound(std::begin(table), std::end(table), c,
                               [](char32_t v, const cp_range& r) { return v < r.lo; });
    return it != std::begin(table) && c <= std::prev(it)->hi;
}

constexpr char32_t zwj = 0x200D;

bool is_extend(char32_t c) noexcept {
    return c == zwj || in(extend_ranges, c);
}
// The controls unicode_util:gc/1 breaks after, in its Latin-1 part (CR is handled apart).
bool latin1_control(char32_t c) noexcept {
    return c <= 31 || (c >= 127 && c <= 159) || c == 173;
}
// unicode_util's is_control/1 (what stops a prepended character from joining).
bool is_control(char32_t c) noexcept {
    return latin1_control(c) || in(control_ranges, c);
}
bool is_pict(char32_t c) noexcept {
    return c == 169 || c == 174 || in(pict_ranges, c);
}
bool is_regional(char32_t c) noexcept {
    return c >= 0x1F1E6 && c <= 0x1F1FF;
}
bool hangul_l(char32_t c) noexcept {
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97C);
}
bool hangul_v(char32_t c) noexcept {
    return (c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6);
}
bool hangul_t(char32_t c) noexcept {
    return (c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB);
}
bool hangul_syllable(char32_t c) noexcept {
    return c >= 0xAC00 && c <= 0xD7A3;
}
bool hangul_lv(char32_t c) noexcept {
    return hangul_syllable(c) && (c - 0xAC00) % 28 == 0;
}

// Each helper gets the cluster's first k characters already taken and returns its size.
std::size_t extend(std::u32string_view s, std::size_t k) noexcept {
    while (k < s.size() && is_extend(s[k]))
        ++k;
    return k;
}

std::size_t emoji(std::u32string_view s, std::size_t k) noexcept {
    while (k < s.size()) {
        if (s[k] == zwj) {
            ++k;
            if (k < s.size() && is_pict(s[k])) {
                ++k;
                continue;
            }
            return k;
        }
        if (!is_extend(s[k])) break;
        ++k;
    }
    return k;
}

std::size_t hangul_after_t(std::u32string_view s, std::size_t k) noexcept {
    while (k < s.size() && hangul_t(s[k]))
        ++k;
    return extend(s, k);
}

std::size_t hangul_after_v(std::u32string_view s, std::size_t k) noexcept {
    while (k < s.size() && hangul_v(s[k]))
        ++k;
    if (k < s.size() && hangul_t(s[k])) return hangul_after_t(s, k + 1);
    return extend(s, k);
}

std::size_t hangul_after_l(std::u32string_view s, std::size_t k) noexcept {
    while (k < s.size() && hangul_l(s[k]))
        ++k;
    if (k < s.size()) {
        char32_t c = s[k];
        if (hangul_v(c) || hangul_lv(c)) return hangul_after_v(s, k + 1);
        if (hangul_syllable(c)) return hangul_after_t(s, k + 1);
    }
    return extend(s, k);
}

std::size_t cluster_1(std::u32string_view s) noexcept;

std::size_t prepended(std::u32string_view s) noexcept {
    if (s.size() == 1 || is_control(s[1])) return 1;
    return 1 + cluster_1(s.substr(1));
}

// unicode_util:gc_1/1.
std::size_t cluster_1(std::u32string_view s) noexcept {
    char32_t c = s[0];
    if (c == '\r') return s.size() > 1 && s[1] == '\n' ? 2 : 1;
    if (c < 256) {
        if (latin1_control(c)) return 1;
        if (c == 169 || c == 174) return emoji(s, 1);
        if (s.size() > 1 && s[1] < 256) return 1;
        return extend(s, 1);
    }
    if (in(control_ranges, c)) return 1;
    if (in(prepend_ranges, c)) return prepended(s);
    if (hangul_l(c)) return hangul_after_l(s, 1);
    if (hangul_v(c)) return hangul_after_v(s, 1);
    if (hangul_t(c)) return hangul_after_t(s, 1);
    if (hangul_lv(c)) return hangul_after_v(s, 1);
    if (hangul_syllable(c)) return hangul_after_t(s, 1);
    if (is_regional(c)) {
        if (s.size() > 1 && is_regional(s[1])) return extend(s, 2);
        return extend(s, 1);
    }
    if (in(pict_ranges, c)) return emoji(s, 1);
    return extend(s, 1);
}

// unicode_util:gc/1: the size of the first cluster of non-empty s.
std::size_t cluster(std::u32string_view s) noexcept {
    if (s.size() == 1) return 1;
    if (s[0] == '\r') return s[1] == '\n' ? 2 : 1;
    if (s[0] < 256 && s[1] < 256) return 1;
    return cluster_1(s);
}

}  // namespace

std::size_t string_length(std::u32string_view s) noexcept {
    std::size_t n = 0;
    while (!s.empty()) {
        s.remove_prefix(cluster(s));
        ++n;
    }
    return n;
}

std::size_t string_slice_size(std::u32string_view s, std::size_t n) noexcept {
    std::size_t taken = 0;
    for (; n > 0 && taken < s.size(); --n)
        taken += cluster(s.substr(taken));
    return taken;
}

std::size_t chars_length(std::u32string_view s) noexcept {
    for (char32_t c : s)
        if (c > 255) return string_length(s);
    return s.size();
}

}  // namespace nodus::io_lib::detail

// Internals of io_lib:format shared by src/io (private).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/io/format.hpp"
#include "nodus/term/term.hpp"

namespace nodus::io_lib::detail {

// Text as io_lib builds it: one element per character. Erlang lets any integer stand where a
// character goes (~tc of -1, a pad character of 16#110000); such elements must survive until
// the final conversion to UTF-8 rejects them, and they count as one column like any other
// integer. Integers that are not code points become invalid_char (every value above
// 0x10FFFF behaves the same for layout). Non-integer elements (binaries and other terms used
// as pad characters) are markers: binary k is binary_base + k, anything else bad_element.
using text = std::u32string;
inline constexpr char32_t invalid_char = 0x7FFFFFFF;
inline constexpr char32_t bad_element = 0xFFFFFFFF;
inline constexpr char32_t binary_base = 0x80000000;
inline constexpr bool is_marker(char32_t c) noexcept {
    return c >= binary_base;
}

// The element for an integer term (any size).
char32_t char_of(const term& integer) noexcept;

// State of one format call: options, binaries referred to by markers, the first error.
class context {
  public:
    explicit context(const format_options& o) : opts(o) {}

    const format_options& opts;
    std::vector<term> binaries;
    format_error error;
    bool failed = false;

    // Records the error and returns false, for `return ctx.fail(...)`.
    bool fail(format_error::kind k, std::string message);
    bool badarg(std::string message) { return fail(format_error::kind::badarg, std::move(message)); }
    // Whether n more characters may be produced.
    bool room_for(std::int64_t n);
    char32_t binary_marker(const term& bin);
};

// ---- Unicode grapheme clusters, as unicode_util:gc/1 splits them (src/io/unicode_gc.cpp) ----

// string:length/1 of a flat character list.
std::size_t string_length(std::u32string_view s) noexcept;
// How many characters string:slice(S, 0, N) keeps (N grapheme clusters).
std::size_t string_slice_size(std::u32string_view s, std::size_t n) noexcept;
// io_lib:chars_length/1: the size when every character is below 256, else string:length/1.
std::size_t chars_length(std::u32string_view s) noexcept;

// ---- writing terms (src/io/write.cpp) ----

// Appends io_lib:write(T, [{depth, Depth}, {encoding, unicode | latin1}]) (Depth < 0: no limit).
void write_term(text& out, const term& t, std::int64_t depth, bool unicode, const format_options& opts);
// io_lib:write_atom/1 (unicode) or io_lib:write_atom_as_latin1/1.
void write_atom(text& out, atom a, bool unicode);
// io_lib:write_string(S, $") (unicode) or io_lib:write_latin1_string(S, $") for the characters.
void write_string(text& out, std::u32string_view chars, bool unicode);
// The parts io_lib:write_binary(B, Depth) separates by commas: each byte, then "..." when the
// depth runs out, or "Value:Bits" for a last partial byte.
std::vector<std::string> binary_parts(const term& bin, std::int64_t depth);
// Whether io_lib:printable_latin1_list (unicode false) or printable_unicode_list holds for c.
bool printable_char(std::int64_t c, bool unicode) noexcept;

// ---- io_lib_pretty:print/2 (src/io/pretty.cpp) ----

struct pretty_request {
    std::int64_t column = 1;
    std::int64_t line_length = 80;
    std::int64_t depth = -1;
    bool unicode = false;  // encoding
    bool strings = true;   // the l modifier clears it
};
// Appends the laid-out text of t; false (with ctx's error) when a limit is hit.
bool pretty_print(text& out, const term& t, const pretty_request& req, context& ctx);

// ---- UTF-8 ----

void append_utf8(std::string& out, char32_t c);
// Appends the code points of valid UTF-8 text (what nodus::print writes).
void append_decoded(text& out, std::string_view utf8);

}  // namespace nodus::io_lib::detail

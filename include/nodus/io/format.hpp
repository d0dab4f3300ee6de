// io_lib:format/2 as OTP 25 implements it (stdlib-4.2 io_lib_format and io_lib_pretty): every
// control sequence (~c ~f ~e ~g ~s ~w ~p ~W ~P ~B ~X ~# ~b ~x ~+ ~i ~n ~~) with field width,
// precision, pad character, `*` arguments and the t and l modifiers, ~p/~P line breaking and
// ~W/~P depth limits, giving the text erl gives, as UTF-8.
//
// Where io_lib:format/2 raises badarg, format returns format_error::badarg. Where it returns a
// deep list that is not Unicode chardata (for example "~tc" of -1, or a pad character that is
// an atom), so that an io server cannot write it, format returns format_error::not_chardata.
//
// Differences from erl, by design:
//  - maps with more than 32 keys print in Erlang map key order; erl writes them in the order
//    of its internal hash (a hash-array mapped trie);
//  - output beyond format_options::max_output characters, terms nested deeper than
//    max_nesting under ~p/~P, and requests erl never finishes (a negative repetition count, as
//    in "~.*w" with a negative precision, recurses for ever in erl) return too_large;
//  - no chars_limit (io_lib:format/3): io_lib:format/2 has none either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/term/term.hpp"

namespace nodus::io_lib {

struct format_error {
    enum class kind : std::uint8_t {
        badarg,        // io_lib:format raises badarg: a bad format, a bad or missing argument
        not_chardata,  // io_lib:format succeeds, but its result has a non-character in it
        too_large,     // beyond format_options' limits (see above)
    };
    kind what = kind::badarg;
    std::string message;  // what was wrong, for people
    std::string describe() const;
};

struct format_options {
    // io:printable_range() for ~tp (which lists and binaries print as text): false is latin1,
    // erl's default; true is unicode, as erl started with +pc unicode. ~p always uses Latin-1.
    bool unicode_printable = false;
    // Pids, ports and references print as nodus::print writes them (see print_options).
    atom local_node = atoms::nonode_nohost;
    std::function<std::uint32_t(atom node)> node_number{};
    // Most characters one call may produce.
    std::size_t max_output = std::size_t{1} << 26;
    // Deepest nesting of tuples, lists and maps ~p and ~P lay out. They recurse, about 4 KiB of
    // stack per level under ASan, and must fit in any worker thread's stack.
    std::size_t max_nesting = 500;
};

// io_lib:format(Format, Args). Format is a string (a list of characters, which may also hold
// nested lists and binaries that are copied without interpretation), a binary (its bytes are the
// characters) or an atom; Args is a proper list.
result<std::string, format_error> format(const term& fmt, const term& args, const format_options& opts = {});
// The same with the format as UTF-8 text and the arguments as terms.
result<std::string, format_error> format(std::string_view fmt, std::span<const term> args,
                                         const format_options& opts = {});
inline result<std::string, format_error> format(std::string_view fmt, std::initializer_list<term> args,
                                                const format_options& opts = {}) {
    return format(fmt, std::span<const term>(args.begin(), args.size()), opts);
}

// io_lib:fwrite/2 is io_lib:format/2.
inline result<std::string, format_error> fwrite(const term& fmt, const term& args,
                                                const format_options& opts = {}) {
    return format(fmt, args, opts);
}
inline result<std::string, format_error> fwrite(std::string_view fmt, std::span<const term> args,
                                                const format_options& opts = {}) {
    return format(fmt, args, opts);
}
inline result<std::string, format_error> fwrite(std::string_view fmt, std::initializer_list<term> args,
                                                const format_options& opts = {}) {
    return format(fmt, args, opts);
}

// io_lib:scan_format(Format, Args): the format list of characters and control sequences as
// maps #{control_char, args, width, adjust, precision, pad_char, encoding, strings}.
result<term, format_error> scan_format(const term& fmt, const term& args);
// io_lib:build_text(FormatList): the text of a format list (what scan_format returns, possibly
// edited).
result<std::string, format_error> build_text(const term& format_list, const format_options& opts = {});

}  // namespace nodus::io_lib

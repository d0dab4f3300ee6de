// Erlang text syntax for terms: printing as io_lib:format("~tw") / "~tp" (on one line) do in
// OTP 25, and parsing of term literals (what erl_parse:parse_term/1 accepts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/term/term.hpp"

namespace nodus {

// Funs print as erts writes them (fun_to_list/1): `fun m:f/2`, `#Fun<Module.OldIndex.OldUniq>`.
// Like erl, the UTF-8 bytes of a non-ASCII module or function name come out as Latin-1
// characters there (fun 'é':f/0 prints as fun Ã©:f/0).
enum class print_style : std::uint8_t {
    w,  // ~tw: every list as a list, every binary as bytes
    p,  // ~tp on one line: printable lists as "strings", printable binaries as <<"text">>
};

struct print_options {
    print_style style = print_style::w;
    // Pids, ports and references print as <N.Id.Serial>, #Port<N.Id>, #Ref<N.W2.W1.W0>, where N is
    // 0 for the local node and another number for each other node. erl takes that number from
    // its internal table of nodes (8387, 8388, ... in a fresh OTP 25 node); node_number may
    // supply it. The default numbering: 0 for local_node, then stable per-node numbers 1, 2, ...
    // in order of first appearance in this process.
    atom local_node = atoms::nonode_nohost;
    std::function<std::uint32_t(atom node)> node_number{};
    // print_style::p: which characters make a list or binary printable as text. false is
    // Latin-1, erl's default; true is Unicode, as erl started with +pc unicode.
    bool unicode_printable = false;
};

// Appends the text of t to out.
void print(std::string& out, const term& t, const print_options& opts = {});
std::string to_text(const term& t, const print_options& opts = {});
inline std::string format_w(const term& t) {
    return to_text(t, {print_style::w});
}
inline std::string format_p(const term& t) {
    return to_text(t, {print_style::p});
}

// How an atom is written: quoted ('Foo', 'a b', '') exactly when Erlang quotes it.
void print_atom(std::string& out, atom a);
// Erlang's shortest round-trip float text (io_lib:write of a float: 1.0, 0.1, 1.0e10, ...).
void print_float(std::string& out, double d);
// Text of any integer term in base 2..36 (integer_to_list/2: digits above 9 in upper case).
std::string integer_to_string(const term& integer, unsigned base = 10);

struct parse_error {
    std::size_t offset;  // byte offset in the input
    std::size_t line;    // 1-based
    std::size_t column;  // 1-based, in bytes
    std::string message;
    std::string describe() const;  // "line L, column C: message"
};

struct parse_options {
    // Atoms in the text that do not exist yet are created unless this is false.
    bool allow_new_atoms = true;
    // Deeper nesting of tuples, lists, maps, binaries and parentheses is an error. The parser
    // keeps its own stack, so this only bounds memory for hostile input.
    std::size_t max_depth = 1'000'000;
};

// Parses one term written in Erlang syntax, optionally followed by a '.', with surrounding
// whitespace and % comments. Accepts everything erl_parse:parse_term/1 accepts for literals:
// integers of any size and base (16#FF, $a), floats, atoms (quoted or not), strings (with
// escapes, adjacent strings concatenated), binaries with segments (<<1,2:4,"x"/utf8>>),
// tuples, proper and improper lists, maps and `fun M:F/A`. A binary literal may hold at most
// max_binary_literal_bytes.
inline constexpr std::size_t max_binary_literal_bytes = std::size_t{1} << 26;
result<term, parse_error> parse_term(std::string_view text, const parse_options& opts = {});

}  // namespace nodus

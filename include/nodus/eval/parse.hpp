// The Erlang expression parser of the shell: text -> Erlang's abstract format, as terms.
//
//     auto r = nodus::eval::parse_exprs("X = 1 + 2, {X, self()}.");
//     // r.status == parse_status::complete, r.exprs is what erl_parse:parse_exprs/1 returns:
//     // [{match,1,{var,1,'X'},{op,1,'+',{integer,1,1},{integer,1,2}}},
//     //  {tuple,1,[{var,1,'X'},{call,1,{atom,1,self},[]}]}]
//
// The grammar is erl_parse.yrl's (OTP 25) for expressions: every operator with its precedence
// and associativity, funs (plain, named, `fun m:f/1`), case/if/receive/try/catch/begin, list and
// binary comprehensions, binaries with sizes and type lists, maps (construction, update, `:=`).
// Records and `maybe` are not supported (a syntax error). The nodes and their annotations are
// those of erl_parse: annotation = line (as erl_scan:string/1 gives) or {Line, Column} (as the
// shell scans), first_anno rules for match/call/cons/clause nodes, head mismatch checks.
//
// Input is incremental like the shell's: text without a terminating dot ('.' followed by white
// space, a comment or the end) is `incomplete`, so a reader can ask for more lines ("..").
// Errors are values, with erl's messages and positions ("syntax error before: '.'").
// Nesting is bounded (parse_options::max_depth): hostile input cannot exhaust the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/term/term.hpp"

namespace nodus::eval {

enum class parse_status : std::uint8_t {
    complete,    // exprs holds the expressions before the first dot
    incomplete,  // no terminating dot yet (or an unterminated string/atom): read more input
    error,       // error holds the message and position
};

struct syntax_error {
    std::size_t line = 1;    // 1-based
    std::size_t column = 1;  // 1-based, in bytes
    std::string message;     // e.g. "syntax error before: '.'", "head mismatch", "illegal character"
    // As erl's shell prints it after "* ": "1:5: syntax error before: '.'".
    std::string describe() const;
};

struct parse_options {
    // Annotations: false gives Line (erl_scan:string/1), true gives {Line, Column} (the shell).
    bool columns = false;
    // Line number of the first line of the text.
    std::size_t first_line = 1;
    // Deeper nesting is an error ("expression nested too deeply"). List tails and sequences do
    // not count, so [1, 2, ..., 100000] is fine.
    std::size_t max_depth = 1000;
};

struct parse_result {
    parse_status status = parse_status::incomplete;
    term exprs;          // complete: a list of abstract expressions
    syntax_error error;  // error
    // complete/error: bytes consumed, through the dot (after a scan error, through the end of
    // the line, as the shell skips it). The caller keeps text.substr(consumed) for the next
    // read, like erl does when one line holds "1. 2.".
    std::size_t consumed = 0;
};

// Parses the expressions up to the first dot, as io:parse_erl_exprs + erl_parse:parse_exprs.
parse_result parse_exprs(std::string_view text, const parse_options& opts = {});

// The line number of an annotation (Line or {Line, Column}); 0 when it is neither.
std::size_t anno_line(const term& anno) noexcept;
// The column of an {Line, Column} annotation; 0 otherwise.
std::size_t anno_column(const term& anno) noexcept;

}  // namespace nodus::eval

// Erlang tokens (what erl_scan:string/1 produces in OTP 25): atoms, variables, numbers,
// characters, strings, reserved words, punctuation and operators, each with its position.
// parse_term uses it for term literals; an expression parser (the shell) can use it as is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/term/term.hpp"
#include "nodus/term/text.hpp"

namespace nodus {

enum class token_kind : std::uint8_t {
    atom,     // foo, 'Foo': name holds the text (UTF-8), not yet interned
    var,      // Foo, _foo, _: name
    integer,  // 42, 16#FF, 1_000: integer
    float_,   // 1.5e3: float_value
    char_,    // $a, $\n: char_value (an integer in a term)
    string,   // "abc": name holds the contents (UTF-8); adjacent strings are separate tokens
    keyword,  // a reserved word (case, fun, andalso, ...): text
    punct,    // punctuation or operator: text is the symbol ("(", "=>", "=:=", "<<", ...)
    dot,      // '.' followed by white space, a comment or the end of input
    end,      // end of input
};

struct token {
    token_kind kind = token_kind::end;
    std::size_t offset = 0;  // byte offset of the first character
    std::size_t line = 1;    // 1-based
    std::size_t column = 1;  // 1-based, in bytes
    std::string_view text;   // the token as written in the input
    std::string name;        // atom, var: the name; string: the characters
    term integer;            // integer
    double float_value = 0;  // float_
    std::uint32_t char_value = 0;

    // A punctuation token or reserved word spelled sym.
    bool is(std::string_view sym) const noexcept {
        return (kind == token_kind::punct || kind == token_kind::keyword) && text == sym;
    }
};

// Tokenizes UTF-8 text lazily. White space and % comments are skipped. After the end, next()
// keeps returning an end token.
class scanner {
  public:
    explicit scanner(std::string_view text) noexcept : text_(text) {}

    result<token, parse_error> next();

    std::size_t offset() const noexcept { return pos_; }

  private:
    parse_error error_at(std::size_t offset, std::size_t line, std::size_t column, std::string message) const;
    std::uint32_t char_at(std::size_t at, std::size_t& length) const noexcept;
    parse_error utf8_error(std::size_t at) const;
    bool skip_blanks(parse_error& err);
    result<token, parse_error> scan_name(token tok, bool variable);
    result<token, parse_error> scan_number(token tok);
    result<token, parse_error> scan_char(token tok);
    result<token, parse_error> scan_quoted(token tok, char quote);
    result<std::uint32_t, parse_error> scan_escape();
    void advance(std::size_t bytes, std::uint32_t cp) noexcept;

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
    std::size_t line_start_ = 0;  // offset of the first byte of the current line
};

// erl_scan:reserved_word/1 in OTP 25 (maybe/else are not reserved: that feature is off).
bool is_reserved_word(std::string_view name) noexcept;

}  // namespace nodus

// The Erlang tokenizer. Rules follow erl_scan.erl of OTP 25 (stdlib 4.2): which characters start
// atoms and variables, digit separators, based integers, escapes, and when '.' ends a form.
#include "nodus/term/scan.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "scan_utf8.hpp"

namespace nodus {

namespace {

constexpr std::uint32_t end_of_input = 0xFFFFFFFF;
constexpr std::uint32_t bad_utf8 = 0xFFFFFFFE;
constexpr std::size_t max_name_chars = 255;  // list_to_atom/1's limit

constexpr std::string_view reserved_words[] = {
    "after", "begin", "case", "try", "cond",    "catch", "andalso", "orelse", "end",
    "fun",   "if",    "let",  "of",  "receive", "when",  "bnot",    "not",    "div",
    "rem",   "band",  "and",  "bor", "bxor",    "bsl",   "bsr",     "or",     "xor",
};

// Longest operators first, so that the first match is the longest.
constexpr std::string_view operators[] = {
    "=:=", "=/=", "...", "<<", "<-", "<=", ">>", ">=", "->", "--", "++", "=<", "=>", "==", "/=", "||",
    ":=",  "::",  "?=",  "..", ",",  "(",  ")",  "{",  "}",  "[",  "]",  ";",  "=",  ":",  "|",  "#",
    "/",   "?",   "-",   "+",  "*",  "<",  ">",  "!",  "@",  "\\", "^",  "`",  "~",  "&",
};

// Erlang white space: 0..32 and 128..160 (Latin-1 control characters and no-break space).
bool is_blank(std::uint32_t c) noexcept {
    return c <= 32 || (c >= 0x80 && c <= 0xA0);
}
bool is_digit(std::uint32_t c) noexcept {
    return c >= '0' && c <= '9';
}
bool is_lower(std::uint32_t c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7);
}
bool is_upper(std::uint32_t c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7);
}
bool is_name_char(std::uint32_t c) noexcept {
    return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@';
}
bool is_octal(std::uint32_t c) noexcept {
    return c >= '0' && c <= '7';
}
int hex_value(std::uint32_t c) noexcept {
    if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a') + 10;
    if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A') + 10;
    return -1;
}
int digit_value(std::uint32_t c) noexcept {
    if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'z') return static_cast<int>(c - 'a') + 10;
    if (c >= 'A' && c <= 'Z') return static_cast<int>(c - 'A') + 10;
    return 99;
}

// What the escape letter after a backslash stands for (others stand for themselves).
std::uint32_t escape_letter(std::uint32_t c) noexcept {
    switch (c) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case 'v':
            return '\v';
        case 'b':
            return '\b';
        case 'f':
            return '\f';
        case 'e':
            return 27;
        case 's':
            return ' ';
        case 'd':
            return 127;
        default:
            return c;
    }
}

}  // namespace

bool is_reserved_word(std::string_view name) noexcept {
    return std::find(std::begin(reserved_words), std::end(reserved_words), name) != std::end(reserved_words);
}

parse_error scanner::error_at(std::size_t offset, std::size_t line, std::size_t column,
                              std::string message) const {
    return parse_error{offset, line, column, std::move(message)};
}

// The code point at byte offset `at` and its length in bytes; end_of_input past the end,
// bad_utf8 when the bytes there are not UTF-8.
std::uint32_t scanner::char_at(std::size_t at, std::size_t& length) const noexcept {
    if (at >= text_.size()) {
        length = 0;
        return end_of_input;
    }
    auto b = static_cast<unsigned char>(text_[at]);
    if (b < 0x80) {
        length = 1;
        return b;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data()) + at;
    const auto* e = reinterpret_cast<const unsigned char*>(text_.data()) + text_.size();
    std::uint32_t cp;
    length = detail::utf8_decode(p, e, cp);
    return length == 0 ? bad_utf8 : cp;
}

// Callers only look ahead within the current line, so line_ and line_start_ apply.
parse_error scanner::utf8_error(std::size_t at) const {
    return error_at(at, line_, at - line_start_ + 1, "invalid UTF-8");
}

void scanner::advance(std::size_t bytes, std::uint32_t cp) noexcept {
    pos_ += bytes;
    if (cp == '\n') {
        ++line_;
        line_start_ = pos_;
    }
}

// Skips white space and comments; false (with err set) on a malformed character.
bool scanner::skip_blanks(parse_error& err) {
    for (;;) {
        std::size_t n;
        std::uint32_t c = char_at(pos_, n);
        if (c == bad_utf8) {
            err = utf8_error(pos_);
            return false;
        }
        if (c == end_of_input) return true;
        if (is_blank(c)) {
            advance(n, c);
        } else if (c == '%') {
            advance(1, '%');
            for (;;) {
                std::uint32_t d = char_at(pos_, n);
                if (d == bad_utf8) {
                    err = utf8_error(pos_);
                    return false;
                }
                if (d == end_of_input || d == '\n') break;
                if (!detail::is_scannable_char(d)) {
                    err = error_at(pos_, line_, pos_ - line_start_ + 1, "illegal character in comment");
                    return false;
                }
                advance(n, d);
            }
        } else {
            return true;
        }
    }
}

result<token, parse_error> scanner::next() {
    parse_error err{};
    if (!skip_blanks(err)) return unexpected(std::move(err));
    token tok;
    tok.offset = pos_;
    tok.line = line_;
    tok.column = pos_ - line_start_ + 1;
    std::size_t n;
    std::uint32_t first = char_at(pos_, n);
    if (first == bad_utf8) return unexpected(utf8_error(pos_));
    std::uint32_t c = first;
    if (c == end_of_input) {
        tok.kind = token_kind::end;
        return tok;
    }
    if (is_lower(c)) return scan_name(std::move(tok), false);
    if (is_upper(c) || c == '_') return scan_name(std::move(tok), true);
    if (is_digit(c)) return scan_number(std::move(tok));
    if (c == '$') return scan_char(std::move(tok));
    if (c == '"' || c == '\'') return scan_quoted(std::move(tok), static_cast<char>(c));
    std::string_view rest = text_.substr(pos_);
    if (c == '.' && !rest.starts_with("..")) {
        // A '.' ends a form when white space, a comment or the end follows it.
        std::size_t m;
        std::uint32_t after = char_at(pos_ + 1, m);
        if (after == bad_utf8) return unexpected(utf8_error(pos_ + 1));
        bool ends = after == end_of_input || after == '%' || is_blank(after);
        tok.kind = ends ? token_kind::dot : token_kind::punct;
        tok.text = text_.substr(pos_, 1);
        advance(1, '.');
        return tok;
    }
    for (std::string_view op : operators) {
        if (op[0] == rest[0] && rest.starts_with(op)) {
            tok.kind = token_kind::punct;
            tok.text = text_.substr(pos_, op.size());
            advance(op.size(), 0);
            return tok;
        }
    }
    if (c <= 0xFF) {
        // Any other Latin-1 character is a token of its own (erl_scan makes it an atom-named
        // symbol); no grammar rule accepts it, so the parser reports it.
        tok.kind = token_kind::punct;
        tok.text = text_.substr(pos_, n);
        advance(n, c);
        return tok;
    }
    return unexpected(error_at(tok.offset, tok.line, tok.column, "illegal character"));
}

result<token, parse_error> scanner::scan_name(token tok, bool variable) {
    std::size_t start = pos_;
    std::size_t chars = 0;
    for (;;) {
        std::size_t n;
        std::uint32_t c = char_at(pos_, n);
        if (c == bad_utf8) return unexpected(utf8_error(pos_));
        if (c == end_of_input || !is_name_char(c)) break;
        advance(n, c);
        ++chars;
    }
    tok.text = text_.substr(start, pos_ - start);
    if (chars > max_name_chars)
        return unexpected(error_at(tok.offset, tok.line, tok.column,
                                   variable ? "invalid variable name: more than 255 characters"
                                            : "invalid atom: more than 255 characters"));
    tok.name = std::string(tok.text);
    if (variable)
        tok.kind = token_kind::var;
    else
        tok.kind = is_reserved_word(tok.name) ? token_kind::keyword : token_kind::atom;
    return tok;
}

result<token, parse_error> scanner::scan_number(token tok) {
    std::size_t start = pos_;
    auto at = [&](std::size_t i) -> char { return i < text_.size() ? text_[i] : '\0'; };
    // Digits in `base`, with single '_' separators between digits.
    auto digits = [&](unsigned base, std::string& out) {
        while (pos_ < text_.size()) {
            char ch = text_[pos_];
            if (static_cast<unsigned>(digit_value(static_cast<unsigned char>(ch))) < base) {
                out.push_back(ch);
                ++pos_;
            } else if (ch == '_' && !out.empty() &&
                       static_cast<unsigned>(digit_value(static_cast<unsigned char>(at(pos_ + 1)))) < base) {
                ++pos_;
            } else {
                break;
            }
        }
    };
    auto fail = [&](std::string message) {
        return unexpected(error_at(tok.offset, tok.line, tok.column, std::move(message)));
    };
    std::string whole;
    digits(10, whole);
    if (at(pos_) == '#') {
        unsigned base = 0;
        for (char ch : whole)
            base = std::min(base * 10 + static_cast<unsigned>(ch - '0'), 1000u);
        if (base < 2 || base > 36) {
            tok.text = text_.substr(start, pos_ - start);
            return fail("illegal base '" + whole + "'");
        }
        ++pos_;
        std::string based;
        digits(base, based);
        tok.text = text_.substr(start, pos_ - start);
        if (based.empty()) return fail("illegal integer");
        auto v = term::parse_integer(based, base);
        if (!v) return fail("illegal integer");
        tok.kind = token_kind::integer;
        tok.integer = std::move(*v);
        return tok;
    }
    if (at(pos_) == '.' && is_digit(static_cast<unsigned char>(at(pos_ + 1)))) {
        std::string text = whole;
        text.push_back('.');
        ++pos_;
        std::string frac;
        digits(10, frac);
        text += frac;
        bool bad = false;
        int exponent = 0;
        if (at(pos_) == 'e' || at(pos_) == 'E') {
            text.push_back('e');
            ++pos_;
            if (at(pos_) == '+' || at(pos_) == '-') text.push_back(text_[pos_++]);
            std::string exp;
            digits(10, exp);
            if (exp.empty()) bad = true;
            text += exp;
            // Only the sign and rough size matter (to tell underflow from overflow).
            exponent = exp.size() > 6 ? 1000000 : (exp.empty() ? 0 : std::stoi(exp));
            if (text[text.size() - exp.size() - 1] == '-') exponent = -exponent;
        }
        tok.text = text_.substr(start, pos_ - start);
        if (bad) return fail("illegal float");
        double d = 0;
        auto r = std::from_chars(text.data(), text.data() + text.size(), d);
        if (r.ec == std::errc::result_out_of_range) {
            // list_to_float/1 rounds values below the smallest subnormal to 0.0 but rejects
            // values too large for a double.
            std::size_t lead = whole.find_first_not_of('0');
            long magnitude =
                (lead == std::string::npos ? 0 : static_cast<long>(whole.size() - lead)) + exponent;
            if (magnitude > 0) return fail("illegal float (out of range)");
            d = 0.0;
        } else if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
            return fail("illegal float");
        }
        tok.kind = token_kind::float_;
        tok.float_value = d;
        return tok;
    }
    tok.text = text_.substr(start, pos_ - start);
    auto v = term::parse_integer(whole, 10);
    if (!v) return fail("illegal integer");
    tok.kind = token_kind::integer;
    tok.integer = std::move(*v);
    return tok;
}

result<std::uint32_t, parse_error> scanner::scan_escape() {
    // pos_ is just after the backslash.
    std::size_t esc_start = pos_ - 1;
    std::size_t col = esc_start - line_start_ + 1;
    auto bad = [&](const char* what) { return unexpected(error_at(esc_start, line_, col, what)); };
    std::size_t n;
    std::uint32_t c = char_at(pos_, n);
    if (c == bad_utf8) return unexpected(utf8_error(pos_));
    if (c == end_of_input) return bad("unterminated escape sequence");
    if (is_octal(c)) {
        std::uint32_t v = 0;
        for (int i = 0; i < 3 && pos_ < text_.size() && is_octal(static_cast<unsigned char>(text_[pos_]));
             ++i)
            v = v * 8 + static_cast<std::uint32_t>(text_[pos_++] - '0');
        return v;
    }
    if (c == 'x') {
        ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '{') {
            ++pos_;
            std::uint64_t v = 0;
            std::size_t count = 0;
            while (pos_ < text_.size() && hex_value(static_cast<unsigned char>(text_[pos_])) >= 0) {
                v = std::min<std::uint64_t>(
                    v * 16 + static_cast<std::uint64_t>(hex_value(static_cast<unsigned char>(text_[pos_]))),
                    std::uint64_t{1} << 40);
                ++pos_;
                ++count;
            }
            if (pos_ >= text_.size()) return bad("unterminated escape sequence");
            if (text_[pos_] != '}') return bad("illegal character in \\x{...} escape");
            ++pos_;
            if (count == 0 || v > 0x10FFFF || !detail::is_scannable_char(static_cast<std::uint32_t>(v)))
                return bad("illegal character in \\x{...} escape");
            return static_cast<std::uint32_t>(v);
        }
        if (pos_ + 1 < text_.size() && hex_value(static_cast<unsigned char>(text_[pos_])) >= 0 &&
            hex_value(static_cast<unsigned char>(text_[pos_ + 1])) >= 0) {
            auto v = static_cast<std::uint32_t>(hex_value(static_cast<unsigned char>(text_[pos_])) * 16 +
                                                hex_value(static_cast<unsigned char>(text_[pos_ + 1])));
            pos_ += 2;
            return v;
        }
        if (pos_ >= text_.size()) return bad("unterminated escape sequence");
        return bad("illegal \\x escape");
    }
    if (c == '^') {
        ++pos_;
        std::uint32_t d = char_at(pos_, n);
        if (d == bad_utf8) return unexpected(utf8_error(pos_));
        if (d == end_of_input) return bad("unterminated escape sequence");
        advance(n, d);
        return d == '\n' ? std::uint32_t{'\n'} : (d & 31u);
    }
    if (!detail::is_scannable_char(c)) return bad("illegal character");
    advance(n, c);
    return escape_letter(c);
}

result<token, parse_error> scanner::scan_char(token tok) {
    std::size_t start = pos_;
    ++pos_;  // '$'
    std::size_t n;
    std::uint32_t c = char_at(pos_, n);
    if (c == bad_utf8) return unexpected(utf8_error(pos_));
    if (c == end_of_input)
        return unexpected(error_at(tok.offset, tok.line, tok.column, "unterminated character"));
    std::uint32_t value;
    if (c == '\\') {
        ++pos_;
        auto v = scan_escape();
        if (!v) return unexpected(v.error());
        value = *v;
    } else {
        if (!detail::is_scannable_char(c))
            return unexpected(error_at(tok.offset, tok.line, tok.column, "illegal character"));
        advance(n, c);
        value = c;
    }
    tok.kind = token_kind::char_;
    tok.char_value = value;
    tok.text = text_.substr(start, pos_ - start);
    return tok;
}

result<token, parse_error> scanner::scan_quoted(token tok, char quote) {
    std::size_t start = pos_;
    ++pos_;
    std::size_t chars = 0;
    std::string value;
    for (;;) {
        std::size_t n;
        std::uint32_t c = char_at(pos_, n);
        if (c == bad_utf8) return unexpected(utf8_error(pos_));
        if (c == end_of_input)
            return unexpected(error_at(tok.offset, tok.line, tok.column,
                                       quote == '"' ? "unterminated string" : "unterminated quoted atom"));
        if (c == static_cast<std::uint32_t>(quote)) {
            ++pos_;
            break;
        }
        std::uint32_t cp;
        if (c == '\\') {
            ++pos_;
            auto v = scan_escape();
            if (!v) return unexpected(v.error());
            cp = *v;
        } else {
            if (!detail::is_scannable_char(c))
                return unexpected(error_at(pos_, line_, pos_ - line_start_ + 1, "illegal character"));
            advance(n, c);
            cp = c;
        }
        detail::utf8_append(value, cp);
        ++chars;
    }
    tok.text = text_.substr(start, pos_ - start);
    if (quote == '"') {
        tok.kind = token_kind::string;
    } else {
        if (chars > max_name_chars)
            return unexpected(
                error_at(tok.offset, tok.line, tok.column, "invalid atom: more than 255 characters"));
        tok.kind = token_kind::atom;
    }
    tok.name = std::move(value);
    return tok;
}

}  // namespace nodus

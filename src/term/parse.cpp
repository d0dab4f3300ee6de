// Term parser: what erl_parse:parse_term/1 accepts (OTP 25), i.e. literals, optionally in
// parentheses, a unary +/- directly on a number, tuples, lists, maps with =>, `fun M:F/A`, and
// binaries whose segments are evaluated as erl_eval/eval_bits would evaluate constants.
// The parser keeps its own stack of open brackets (no recursion): hostile input can only make it
// use memory in proportion to its length, bounded further by parse_options::max_depth.
#include <gmp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <vector>

#include "nodus/term/scan.hpp"
#include "nodus/term/text.hpp"

namespace nodus {

std::string parse_error::describe() const {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

namespace {

// Internal unwinding: the public entry point turns it into a result.
struct failure {
    parse_error error;
};

struct position {
    std::size_t offset = 0, line = 1, column = 1;
};

position where(const token& t) noexcept {
    return {t.offset, t.line, t.column};
}

[[noreturn]] void fail(position p, std::string message) {
    throw failure{parse_error{p.offset, p.line, p.column, std::move(message)}};
}

std::string describe(const token& t) {
    switch (t.kind) {
        case token_kind::end:
            return "end of input";
        case token_kind::dot:
            return "'.'";
        case token_kind::string:
            return "string";
        case token_kind::var:
            return "variable " + std::string(t.text);
        case token_kind::atom:
            return "atom " + std::string(t.text);
        case token_kind::integer:
        case token_kind::float_:
        case token_kind::char_:
            return "number " + std::string(t.text);
        case token_kind::keyword:
        case token_kind::punct:
            break;
    }
    return "'" + std::string(t.text) + "'";
}

[[noreturn]] void fail_unexpected(const token& t, std::string_view expected = {}) {
    std::string m = "unexpected " + describe(t);
    if (!expected.empty()) {
        m += ", expected ";
        m += expected;
    }
    fail(where(t), std::move(m));
}

term negate(const term& v) {
    if (v.is_float()) return term(-v.float_value());
    if (v.is_small()) return term(static_cast<long long>(-v.small_value()));
    bigint_view b = v.bigint();
    return term::integer(!b.negative, b.limbs);
}

// ---- binary construction ----

constexpr std::size_t max_bits = max_binary_literal_bytes * 8;

class bit_builder {
  public:
    std::size_t bits() const noexcept { return bits_; }

    // The low n bits of v, most significant first (n <= 64).
    void put_bits(std::uint64_t v, unsigned n) {
        while (n > 0) {
            unsigned used = static_cast<unsigned>(bits_ % 8);
            if (used == 0) bytes_.push_back(0);
            unsigned room = 8 - used;
            unsigned take = std::min(room, n);
            auto chunk = static_cast<unsigned>((v >> (n - take)) & ((1u << take) - 1));
            bytes_.back() = static_cast<std::uint8_t>(bytes_.back() | (chunk << (room - take)));
            bits_ += take;
            n -= take;
        }
    }

    void put_bitstring(const std::uint8_t* data, std::size_t nbits) {
        std::size_t whole = nbits / 8;
        if (bits_ % 8 == 0) {
            bytes_.insert(bytes_.end(), data, data + whole);
            bits_ += whole * 8;
        } else {
            for (std::size_t i = 0; i < whole; ++i)
                put_bits(data[i], 8);
        }
        if (unsigned rem = static_cast<unsigned>(nbits % 8))
            put_bits(static_cast<unsigned>(data[whole]) >> (8 - rem), rem);
    }

    term finish() const { return bitstring(byte_span(bytes_.data(), bytes_.size()), bits_); }

  private:
    std::vector<std::uint8_t> bytes_;
    std::size_t bits_ = 0;
};

enum class seg_type : std::uint8_t { none, integer, float_, binary, utf8, utf16, utf32 };
enum class seg_endian : std::uint8_t { none, big, little, native };

struct segment {
    position at;
    term value;
    bool is_string = false;
    bool has_size = false;
    bool size_all = false;
    term size;  // when has_size and not size_all
    seg_type type = seg_type::none;
    unsigned unit = 0;  // 0: not given
    int sign = 0;       // 0: not given, 1: unsigned, 2: signed
    seg_endian endian = seg_endian::none;
};

[[noreturn]] void bad_segment(const segment& s, const std::string& why) {
    fail(s.at, "bad binary segment: " + why);
}

bool little_endian(seg_endian e) noexcept {
    return e == seg_endian::little || (e == seg_endian::native && std::endian::native == std::endian::little);
}

void put_integer_bits(bit_builder& out, const term& v, std::size_t nbits, bool little) {
    if (nbits <= 64 && v.is_small()) {
        auto u = static_cast<std::uint64_t>(v.small_value());
        if (nbits < 64) u &= (std::uint64_t{1} << nbits) - 1;
        if (!little) {
            out.put_bits(u, static_cast<unsigned>(nbits));
            return;
        }
        std::size_t whole = nbits / 8;
        for (std::size_t i = 0; i < whole; ++i)
            out.put_bits((u >> (8 * i)) & 0xFF, 8);
        if (unsigned rem = static_cast<unsigned>(nbits % 8)) out.put_bits(u >> (8 * whole), rem);
        return;
    }
    // Two's complement modulo 2^nbits, through GMP for big values or sizes.
    mpz_t z;
    mpz_init(z);
    if (v.is_small()) {
        mpz_set_si(z, static_cast<long>(v.small_value()));
    } else {
        bigint_view b = v.bigint();
        mpz_import(z, b.limbs.size(), -1, sizeof(std::uint64_t), 0, 0, b.limbs.data());
        if (b.negative) mpz_neg(z, z);
    }
    mpz_fdiv_r_2exp(z, z, nbits);
    std::size_t whole = nbits / 8;
    unsigned rem = static_cast<unsigned>(nbits % 8);
    std::vector<std::uint8_t> buf(whole + 1, 0);
    if (!little) {
        // Align the value to the most significant end of its bytes, then take nbits.
        std::size_t total = (nbits + 7) / 8;
        if (rem) mpz_mul_2exp(z, z, 8 - rem);
        std::size_t count = 0;
        std::vector<std::uint8_t> tmp((mpz_sizeinbase(z, 2) + 7) / 8 + 1, 0);
        if (mpz_sgn(z) != 0) mpz_export(tmp.data(), &count, 1, 1, 1, 0, z);
        count = std::min(count, total);  // z < 2^(8*total) always
        std::copy(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(count),
                  buf.begin() + static_cast<std::ptrdiff_t>(total - count));
        out.put_bitstring(buf.data(), nbits);
    } else {
        std::size_t count = 0;
        std::vector<std::uint8_t> tmp((mpz_sizeinbase(z, 2) + 7) / 8 + 1, 0);
        if (mpz_sgn(z) != 0) mpz_export(tmp.data(), &count, -1, 1, 0, 0, z);
        std::copy(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(std::min(count, buf.size())),
                  buf.begin());
        out.put_bitstring(buf.data(), whole * 8);
        if (rem) out.put_bits(buf[whole], rem);
    }
    mpz_clear(z);
}

// IEEE binary16 from a double, rounding to nearest even (overflow gives infinity, as erl).
std::uint16_t to_half(double d) {
    auto bits = std::bit_cast<std::uint64_t>(d);
    auto sign = static_cast<std::uint16_t>((bits >> 48) & 0x8000);
    int exp = static_cast<int>((bits >> 52) & 0x7FF);
    std::uint64_t mant = bits & ((std::uint64_t{1} << 52) - 1);
    if (exp == 0x7FF) return static_cast<std::uint16_t>(sign | 0x7C00 | (mant ? 0x200 : 0));
    if (exp == 0) return sign;  // double subnormals are far below half's range
    int e = exp - 1023;
    std::uint64_t full = (std::uint64_t{1} << 52) | mant;
    int half_exp = e + 15;
    std::uint64_t m;
    int shift;
    if (half_exp >= 1) {
        shift = 42;
    } else {
        shift = 42 + (1 - half_exp);  // subnormal: fewer mantissa bits
        half_exp = 0;
    }
    if (shift >= 64) return sign;
    m = full >> shift;
    std::uint64_t r = full & ((std::uint64_t{1} << shift) - 1);
    std::uint64_t halfway = std::uint64_t{1} << (shift - 1);
    if (r > halfway || (r == halfway && (m & 1))) ++m;
    // For normals m includes the implicit bit (0x400..0x800); for subnormals it may carry into
    // the smallest normal. Either way exponent and mantissa add up.
    std::uint64_t value = half_exp >= 1 ? (static_cast<std::uint64_t>(half_exp - 1) << 10) + m : m;
    if (value >= 0x7C00) return static_cast<std::uint16_t>(sign | 0x7C00);
    return static_cast<std::uint16_t>(sign | value);
}

void put_float_bits(bit_builder& out, const segment& s, const term& v, std::size_t nbits, bool little) {
    double d;
    if (v.is_float())
        d = v.float_value();
    else if (v.is_integer())
        d = v.to_double();
    else
        bad_segment(s, "a float segment needs a number");
    if (!std::isfinite(d)) bad_segment(s, "integer too large for a float");
    std::uint64_t u;
    if (nbits == 64)
        u = std::bit_cast<std::uint64_t>(d);
    else if (nbits == 32)
        u = std::bit_cast<std::uint32_t>(static_cast<float>(d));
    else if (nbits == 16)
        u = to_half(d);
    else
        bad_segment(s, "a float segment must be 16, 32 or 64 bits");
    if (!little) {
        out.put_bits(u, static_cast<unsigned>(nbits));
    } else {
        for (std::size_t i = 0; i < nbits / 8; ++i)
            out.put_bits((u >> (8 * i)) & 0xFF, 8);
    }
}

void put_code_point(bit_builder& out, const segment& s, const term& v) {
    auto c = v.to_int64();
    if (!c || *c < 0 || *c > 0x10FFFF || (*c >= 0xD800 && *c <= 0xDFFF))
        bad_segment(s, "not a Unicode code point");
    auto cp = static_cast<std::uint32_t>(*c);
    bool little = little_endian(s.endian);
    auto unit16 = [&](std::uint32_t u) {
        if (little) {
            out.put_bits(u & 0xFF, 8);
            out.put_bits(u >> 8, 8);
        } else {
            out.put_bits(u, 16);
        }
    };
    switch (s.type) {
        case seg_type::utf8:
            if (cp < 0x80) {
                out.put_bits(cp, 8);
            } else if (cp < 0x800) {
                out.put_bits(0xC0 | (cp >> 6), 8);
                out.put_bits(0x80 | (cp & 0x3F), 8);
            } else if (cp < 0x10000) {
                out.put_bits(0xE0 | (cp >> 12), 8);
                out.put_bits(0x80 | ((cp >> 6) & 0x3F), 8);
                out.put_bits(0x80 | (cp & 0x3F), 8);
            } else {
                out.put_bits(0xF0 | (cp >> 18), 8);
                out.put_bits(0x80 | ((cp >> 12) & 0x3F), 8);
                out.put_bits(0x80 | ((cp >> 6) & 0x3F), 8);
                out.put_bits(0x80 | (cp & 0x3F), 8);
            }
            break;
        case seg_type::utf16:
            if (cp < 0x10000) {
                unit16(cp);
            } else {
                std::uint32_t x = cp - 0x10000;
                unit16(0xD800 | (x >> 10));
                unit16(0xDC00 | (x & 0x3FF));
            }
            break;
        default:
            if (little) {
                for (int i = 0; i < 4; ++i)
                    out.put_bits((cp >> (8 * i)) & 0xFF, 8);
            } else {
                out.put_bits(cp, 32);
            }
            break;
    }
}

// Size in bits of size * unit, checked against the literal limit.
std::size_t segment_bits(const segment& s, const bit_builder& out, unsigned unit) {
    auto n = s.size.to_uint64();
    if (!s.size.is_integer() || (s.size.is_small() && s.size.small_value() < 0) ||
        (s.size.is_bignum() && s.size.bigint().negative))
        bad_segment(s, "the size must be a non-negative integer");
    if (!n || *n > max_bits || *n * unit > max_bits - out.bits()) fail(s.at, "binary literal too large");
    return static_cast<std::size_t>(*n * unit);
}

// One value of a segment (a string literal contributes one value per character).
void put_value(bit_builder& out, const segment& s, const term& v) {
    switch (s.type) {
        case seg_type::utf8:
        case seg_type::utf16:
        case seg_type::utf32:
            if (out.bits() + 32 > max_bits) fail(s.at, "binary literal too large");
            put_code_point(out, s, v);
            return;
        case seg_type::integer: {
            if (s.size_all) bad_segment(s, "size 'all' is only for binaries");
            std::size_t n = segment_bits(s, out, s.unit);
            if (!v.is_integer()) bad_segment(s, "an integer segment needs an integer");
            put_integer_bits(out, v, n, little_endian(s.endian));
            return;
        }
        case seg_type::float_: {
            if (s.size_all) bad_segment(s, "size 'all' is only for binaries");
            std::size_t n = segment_bits(s, out, s.unit);
            put_float_bits(out, s, v, n, little_endian(s.endian));
            return;
        }
        case seg_type::binary: {
            if (!v.is_bitstring()) bad_segment(s, "a binary segment needs a bitstring");
            std::size_t have = v.bit_size();
            std::size_t n;
            if (s.size_all) {
                if (have % s.unit != 0) bad_segment(s, "the bit size is not a multiple of the unit");
                n = have;
                if (n > max_bits - out.bits()) fail(s.at, "binary literal too large");
            } else {
                n = segment_bits(s, out, s.unit);
                if (n > have) bad_segment(s, "the bitstring is shorter than the size");
            }
            out.put_bitstring(v.bytes().data(), n);
            return;
        }
        case seg_type::none:
            break;
    }
}

// Defaults and checks of erl_bits:set_bit_type/2, then the value(s).
void put_segment(bit_builder& out, segment& s) {
    if (s.type == seg_type::none) s.type = seg_type::integer;
    bool utf = s.type == seg_type::utf8 || s.type == seg_type::utf16 || s.type == seg_type::utf32;
    if (utf && (s.has_size || s.unit)) bad_segment(s, "utf8/utf16/utf32 segments take no size or unit");
    if (!s.has_size) {
        if ((s.type == seg_type::integer || s.type == seg_type::float_) && s.unit)
            bad_segment(s, "a unit needs a size");
        if (s.type == seg_type::integer) s.size = term(8);
        if (s.type == seg_type::float_) s.size = term(64);
        if (s.type == seg_type::binary) s.size_all = true;
        s.has_size = !utf;
    }
    if (!s.unit) s.unit = s.type == seg_type::binary ? 8 : 1;
    if (s.endian == seg_endian::none) s.endian = seg_endian::big;
    if (!s.is_string) {
        put_value(out, s, s.value);
        return;
    }
    // A string literal is a sequence of segments of the same type, one per character.
    const term* t = &s.value;
    if (t->is_nil()) {
        bit_builder scratch;  // erl checks the type of an empty string with a dummy value
        put_value(scratch, s, term(0));
        return;
    }
    for (; t->is_cons(); t = &t->tail())
        put_value(out, s, t->head());
}

// ---- the parser ----

enum class ctx : std::uint8_t { paren, tuple, list, list_tail, map_key, map_value, binary };

struct frame {
    ctx kind;
    std::size_t start;    // first value of this frame on the value stack
    position at;          // the opening token
    position segment_at;  // binary: start of the current segment
};

class parser {
  public:
    parser(std::string_view text, const parse_options& opts) : scan_(text), opts_(opts) {}

    term run() {
        advance();
        bool want_value = true;
        for (;;) {
            if (want_value) {
                want_value = start_value();
                continue;
            }
            if (frames_.empty()) break;
            want_value = continue_frame();
        }
        if (peek_.kind == token_kind::dot) advance();
        if (peek_.kind != token_kind::end) fail_unexpected(peek_, "end of input after the term");
        return std::move(values_.back());
    }

  private:
    void advance() {
        auto t = scan_.next();
        if (!t) throw failure{std::move(t).error()};
        peek_ = std::move(t).value();
    }
    token take() {
        token t = std::move(peek_);
        advance();
        return t;
    }
    void expect(std::string_view sym) {
        if (!peek_.is(sym)) fail_unexpected(peek_, "'" + std::string(sym) + "'");
        advance();
    }

    void push(term v, bool is_string = false) {
        values_.push_back(std::move(v));
        last_is_string_ = is_string;
    }

    void open(ctx kind, const token& t) {
        if (frames_.size() >= opts_.max_depth) fail(where(t), "nesting too deep");
        frames_.push_back({kind, values_.size(), where(t), where(peek_)});
        if (kind == ctx::binary) builders_.emplace_back();
    }

    atom make_atom(const token& t) {
        if (!opts_.allow_new_atoms) {
            auto a = atom::existing(t.name);
            if (!a) fail(where(t), "unknown atom " + std::string(t.text) + " (new atoms are not allowed)");
            return *a;
        }
        auto a = atom::make(t.name);
        if (!a) fail(where(t), "invalid atom: " + std::string(to_string(a.error())));
        return *a;
    }

    // Reads the start of a value. Returns true when more input is needed before the value is
    // complete (an opening bracket), false when a value was pushed.
    bool start_value() {
        if (!frames_.empty() && frames_.back().kind == ctx::binary) frames_.back().segment_at = where(peek_);
        token t = take();
        switch (t.kind) {
            case token_kind::integer:
                push(std::move(t.integer));
                return false;
            case token_kind::float_:
                push(term(t.float_value));
                return false;
            case token_kind::char_:
                push(term(static_cast<long long>(t.char_value)));
                return false;
            case token_kind::atom:
                push(make_atom(t));
                return false;
            case token_kind::string: {
                std::string s = std::move(t.name);
                while (peek_.kind == token_kind::string)
                    s += take().name;  // "ab" "cd"
                push(string(s), true);
                return false;
            }
            case token_kind::var:
                fail(where(t), "variables are not allowed in a term: " + std::string(t.text));
            case token_kind::keyword:
                if (t.is("fun")) {
                    push(fun_ref());
                    return false;
                }
                fail_unexpected(t, "a term");
            case token_kind::punct:
                break;
            case token_kind::dot:
            case token_kind::end:
                fail_unexpected(t, "a term");
        }
        if (t.is("(")) {
            open(ctx::paren, t);
            return true;
        }
        if (t.is("{")) {
            if (peek_.is("}")) {
                advance();
                push(make_tuple(std::span<const term>()));
                return false;
            }
            open(ctx::tuple, t);
            return true;
        }
        if (t.is("[")) {
            if (peek_.is("]")) {
                advance();
                push(term());
                return false;
            }
            open(ctx::list, t);
            return true;
        }
        if (t.is("#")) {
            expect("{");
            if (peek_.is("}")) {
                advance();
                push(make_map({}));
                return false;
            }
            open(ctx::map_key, t);
            return true;
        }
        if (t.is("<<")) {
            if (peek_.is(">>")) {
                advance();
                push(binary(byte_span()));
                return false;
            }
            open(ctx::binary, t);
            return true;
        }
        if (t.is("-") || t.is("+")) {
            push(signed_number(t));
            return false;
        }
        fail_unexpected(t, "a term");
    }

    // '-' or '+' applies to a number, a character or such in parentheses (erl_parse:normalise).
    term signed_number(const token& op) {
        std::size_t parens = 0;
        while (peek_.is("(")) {
            advance();
            ++parens;
        }
        token t = take();
        term v;
        switch (t.kind) {
            case token_kind::integer:
                v = std::move(t.integer);
                break;
            case token_kind::float_:
                v = term(t.float_value);
                break;
            case token_kind::char_:
                v = term(static_cast<long long>(t.char_value));
                break;
            default:
                fail(where(op), "'" + std::string(op.text) + "' must be followed by a number in a term");
        }
        while (parens-- > 0)
            expect(")");
        return op.is("-") ? negate(v) : v;
    }

    term fun_ref() {
        token m = take();
        if (m.kind != token_kind::atom) fail_unexpected(m, "a module name");
        expect(":");
        token f = take();
        if (f.kind != token_kind::atom) fail_unexpected(f, "a function name");
        expect("/");
        token a = take();
        if (a.kind != token_kind::integer) fail_unexpected(a, "an arity");
        auto arity = a.integer.to_int64();
        if (!arity || *arity < 0 || *arity > 255) fail(where(a), "arity out of range (0..255)");
        return make_export(make_atom(m), make_atom(f), static_cast<unsigned>(*arity));
    }

    // A value just completed inside the innermost frame. Returns true when a value follows.
    bool continue_frame() {
        frame& f = frames_.back();
        switch (f.kind) {
            case ctx::paren:
                expect(")");
                frames_.pop_back();  // the value (and whether it is a string) stays
                return false;
            case ctx::tuple: {
                token t = take();
                if (t.is(",")) return true;
                if (!t.is("}")) fail_unexpected(t, "',' or '}'");
                if (values_.size() - f.start > detail::max_tuple_arity) fail(f.at, "tuple too large");
                term v = make_tuple(take_values(f.start));
                frames_.pop_back();
                push(std::move(v));
                return false;
            }
            case ctx::list:
            case ctx::list_tail: {
                token t = take();
                if (f.kind == ctx::list && t.is(",")) return true;
                if (f.kind == ctx::list && t.is("|")) {
                    f.kind = ctx::list_tail;
                    return true;
                }
                if (!t.is("]")) fail_unexpected(t, f.kind == ctx::list ? "',', '|' or ']'" : "']'");
                term tail;
                if (f.kind == ctx::list_tail) {
                    tail = std::move(values_.back());
                    values_.pop_back();
                }
                term v = make_list(take_values(f.start), std::move(tail));
                frames_.pop_back();
                push(std::move(v));
                return false;
            }
            case ctx::map_key: {
                token t = take();
                if (t.is("=>")) {
                    f.kind = ctx::map_value;
                    return true;
                }
                if (t.is(":=")) fail(where(t), "a map term is written with '=>', not ':='");
                fail_unexpected(t, "'=>'");
            }
            case ctx::map_value: {
                token t = take();
                if (t.is(",")) {
                    f.kind = ctx::map_key;
                    return true;
                }
                if (!t.is("}")) fail_unexpected(t, "',' or '}'");
                std::vector<term> kv = take_values(f.start);
                std::vector<std::pair<term, term>> pairs;
                pairs.reserve(kv.size() / 2);
                for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
                    pairs.emplace_back(std::move(kv[i]), std::move(kv[i + 1]));
                frames_.pop_back();
                push(make_map(std::move(pairs)));
                return false;
            }
            case ctx::binary:
                return continue_binary(f);
        }
        return false;
    }

    bool continue_binary(frame& f) {
        segment s;
        s.at = f.segment_at;
        s.is_string = last_is_string_;
        s.value = std::move(values_.back());
        values_.pop_back();
        if (peek_.is(":")) {
            advance();
            read_size(s);
        }
        if (peek_.is("/")) {
            advance();
            read_types(s);
        }
        put_segment(builders_.back(), s);
        token t = take();
        if (t.is(",")) return true;
        if (!t.is(">>")) fail_unexpected(t, "',' or '>>'");
        term v = builders_.back().finish();
        builders_.pop_back();
        frames_.pop_back();
        push(std::move(v));
        return false;
    }

    // bit_size_expr: a literal, possibly signed and in parentheses.
    void read_size(segment& s) {
        std::size_t parens = 0;
        while (peek_.is("(")) {
            advance();
            ++parens;
        }
        token t = take();
        term v;
        if (t.kind == token_kind::integer) {
            v = std::move(t.integer);
        } else if (t.kind == token_kind::char_) {
            v = term(static_cast<long long>(t.char_value));
        } else if (t.kind == token_kind::atom && t.name == "all") {
            s.size_all = true;
        } else if (parens > 0 && (t.is("-") || t.is("+"))) {
            v = signed_number(t);
        } else {
            fail(where(t), "bad binary segment: the size must be an integer literal");
        }
        while (parens-- > 0)
            expect(")");
        s.has_size = true;
        s.size = std::move(v);
    }

    void read_types(segment& s) {
        for (;;) {
            token t = take();
            if (t.kind != token_kind::atom) fail_unexpected(t, "a type specifier");
            const std::string& n = t.name;
            auto set_type = [&](seg_type ty, unsigned unit) {
                if (s.type != seg_type::none && s.type != ty)
                    fail(where(t), "bad binary segment: conflicting types");
                s.type = ty;
                if (unit) set_unit(s, t, unit);
            };
            auto set_sign = [&](int sg) {
                if (s.sign && s.sign != sg) fail(where(t), "bad binary segment: conflicting signedness");
                s.sign = sg;
            };
            auto set_endian = [&](seg_endian e) {
                if (s.endian != seg_endian::none && s.endian != e)
                    fail(where(t), "bad binary segment: conflicting endianness");
                s.endian = e;
            };
            if (n == "unit") {
                expect(":");
                token u = take();
                auto val = u.kind == token_kind::integer ? u.integer.to_int64() : std::nullopt;
                if (!val || *val < 1 || *val > 256) fail(where(u), "bad binary segment: unit must be 1..256");
                set_unit(s, u, static_cast<unsigned>(*val));
            } else if (n == "integer") {
                set_type(seg_type::integer, 0);
            } else if (n == "float") {
                set_type(seg_type::float_, 0);
            } else if (n == "binary") {
                set_type(seg_type::binary, 0);
            } else if (n == "bytes") {
                set_type(seg_type::binary, 8);
            } else if (n == "bitstring" || n == "bits") {
                set_type(seg_type::binary, 1);
            } else if (n == "utf8") {
                set_type(seg_type::utf8, 0);
            } else if (n == "utf16") {
                set_type(seg_type::utf16, 0);
            } else if (n == "utf32") {
                set_type(seg_type::utf32, 0);
            } else if (n == "signed") {
                set_sign(2);
            } else if (n == "unsigned") {
                set_sign(1);
            } else if (n == "big") {
                set_endian(seg_endian::big);
            } else if (n == "little") {
                set_endian(seg_endian::little);
            } else if (n == "native") {
                set_endian(seg_endian::native);
            } else {
                fail(where(t), "bad binary segment: unknown type specifier " + std::string(t.text));
            }
            if (!peek_.is("-")) return;
            advance();
        }
    }

    static void set_unit(segment& s, const token& t, unsigned unit) {
        if (s.unit && s.unit != unit) fail(where(t), "bad binary segment: conflicting units");
        s.unit = unit;
    }

    std::vector<term> take_values(std::size_t start) {
        std::vector<term> out(std::make_move_iterator(values_.begin() + static_cast<std::ptrdiff_t>(start)),
                              std::make_move_iterator(values_.end()));
        values_.resize(start);
        return out;
    }

    scanner scan_;
    const parse_options& opts_;
    token peek_;
    std::vector<term> values_;
    std::vector<frame> frames_;
    std::vector<bit_builder> builders_;
    bool last_is_string_ = false;
};

}  // namespace

result<term, parse_error> parse_term(std::string_view text, const parse_options& opts) {
    try {
        return parser(text, opts).run();
    } catch (failure& f) {
        return unexpected(std::move(f.error));
    } catch (const std::length_error&) {
        return unexpected(parse_error{0, 1, 1, "term too large"});
    }
}

}  // namespace nodus

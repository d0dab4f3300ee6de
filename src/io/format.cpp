// io_lib:format/2 (io_lib_format.erl of OTP 25): scanning the format into characters and
// control sequences, the control sequences themselves, and the build pass that tracks the
// column ~p starts at. Function names follow io_lib_format so that each can be checked
// against its Erlang counterpart; where Erlang fails (a function clause, a badmatch), the
// function here returns false with badarg.
//
// Column tracking, as io_lib_format:build_limited/5: the column starts at 0 for every call (a
// format never knows where the output will land), counts each element of the text built so
// far (a tab moves to the next multiple of 8, a newline back to 0), and is only computed while
// a ~p or ~P is still to come. A ~p without precision starts its layout at column + 1.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "io_impl.hpp"
#include "nodus/term/text.hpp"
#include "term/scan_utf8.hpp"

namespace nodus::io_lib {

std::string format_error::describe() const {
    switch (what) {
        case kind::badarg:
            return "badarg: " + message;
        case kind::not_chardata:
            return "not chardata: " + message;
        case kind::too_large:
            return "too large: " + message;
    }
    return message;
}

namespace detail {

bool context::fail(format_error::kind k, std::string message) {
    if (!failed) {
        failed = true;
        error.what = k;
        error.message = std::move(message);
    }
    return false;
}

bool context::room_for(std::int64_t n) {
    if (n < 0 || static_cast<std::uint64_t>(n) > opts.max_output)
        return fail(format_error::kind::too_large, "output longer than max_output");
    return true;
}

char32_t context::binary_marker(const term& bin) {
    binaries.push_back(bin);
    return binary_base + static_cast<char32_t>(binaries.size() - 1);
}

}  // namespace detail

namespace {

using namespace detail;
using i64 = std::int64_t;
using opt = std::optional<i64>;

// Widths, precisions and depths beyond this are clamped: only the output they would ask for
// could tell them apart, and that is rejected as too large long before.
constexpr i64 huge = i64{1} << 62;

i64 clamp_int(const term& t) {
    if (t.is_small()) return std::clamp<i64>(t.small_value(), -huge, huge);
    return t.bigint().negative ? -huge : huge;
}

bool is_char(const term& t, char32_t c) {
    return t.is_small() && t.small_value() == static_cast<i64>(c);
}

// ---- the format list ----

struct spec {
    char32_t control = 0;
    term args[2];
    opt width;
    bool left = false;
    opt precision;
    term pad = term(' ');
    bool unicode = false;  // the t modifier
    bool strings = true;   // cleared by the l modifier
};

struct item {
    bool is_spec = false;
    term literal;
    spec sp;
};

int arg_count(char32_t c) {
    switch (c) {
        case 'w':
        case 'p':
        case 's':
        case 'e':
        case 'f':
        case 'g':
        case 'b':
        case 'B':
        case '+':
        case '#':
        case 'c':
        case 'i':
            return 1;
        case 'W':
        case 'P':
        case 'x':
        case 'X':
            return 2;
        case '~':
        case 'n':
            return 0;
        default:
            return -1;
    }
}

// io_lib_format:collect/2.
class scanner {
public:
    scanner(std::span<const term> fmt, std::span<const term> args, context& ctx)
        : fmt_(fmt), args_(args), ctx_(ctx) {}

    bool run(std::vector<item>& items) {
        while (i_ < fmt_.size()) {
            if (!is_char(fmt_[i_], '~')) {
                items.push_back({false, fmt_[i_++], {}});
                continue;
            }
            ++i_;
            item it;
            it.is_spec = true;
            if (!control_sequence(it.sp)) return false;
            items.push_back(std::move(it));
        }
        if (j_ != args_.size()) return ctx_.badarg("more arguments than control sequences use");
        return true;
    }

private:
    bool at(char32_t c, std::size_t k = 0) const { return i_ + k < fmt_.size() && is_char(fmt_[i_ + k], c); }

    // field_value/2: `*` takes an integer argument, digits give a number, else none.
    opt field_value() {
        if (at('*') && j_ < args_.size() && args_[j_].is_integer()) {
            ++i_;
            return clamp_int(args_[j_++]);
        }
        if (i_ < fmt_.size() && fmt_[i_].is_small() && fmt_[i_].small_value() >= '0' &&
            fmt_[i_].small_value() <= '9') {
            i64 v = 0;
            while (i_ < fmt_.size() && fmt_[i_].is_small() && fmt_[i_].small_value() >= '0' &&
                   fmt_[i_].small_value() <= '9') {
                v = v >= huge / 10 ? huge : std::min(huge, v * 10 + (fmt_[i_].small_value() - '0'));
                ++i_;
            }
            return v;
        }
        return std::nullopt;
    }

    bool control_sequence(spec& sp) {
        // Field width: a negative one (from "-" or a negative `*` argument) adjusts left.
        bool minus = at('-');
        if (minus) ++i_;
        opt f = field_value();
        if (minus && !f) return ctx_.badarg("'-' without a field width");
        if (f) {
            i64 v = minus ? -*f : *f;
            sp.left = v < 0;
            sp.width = v < 0 ? -v : v;
        }
        if (at('.')) {
            ++i_;
            sp.precision = field_value();
        }
        // The pad character: ".*" takes any argument, "." any element of the format.
        if (at('.') && at('*', 1) && j_ < args_.size()) {
            sp.pad = args_[j_++];
            i_ += 2;
        } else if (at('.') && i_ + 1 < fmt_.size()) {
            sp.pad = fmt_[i_ + 1];
            i_ += 2;
        }
        for (;; ++i_) {
            if (at('t'))
                sp.unicode = true;
            else if (at('l'))
                sp.strings = false;
            else
                break;
        }
        if (i_ >= fmt_.size()) return ctx_.badarg("format ends inside a control sequence");
        const term& c = fmt_[i_++];
        int n = c.is_small() && c.small_value() >= 0 && c.small_value() < 128
                    ? arg_count(static_cast<char32_t>(c.small_value()))
                    : -1;
        if (n < 0) return ctx_.badarg("unknown control character");
        if (j_ + static_cast<std::size_t>(n) > args_.size()) return ctx_.badarg("missing argument");
        sp.control = static_cast<char32_t>(c.small_value());
        for (int k = 0; k < n; ++k)
            sp.args[k] = args_[j_++];
        return true;
    }

    std::span<const term> fmt_;
    std::span<const term> args_;
    context& ctx_;
    std::size_t i_ = 0, j_ = 0;
};

// ---- chardata ----

// Appends the elements of a deep list (or a binary, or one integer) as io_lib would leave them
// in its result: integers as characters, binaries as markers, anything else (and an improper
// tail that is not a binary) as bad elements. Iterative: a list may nest deeply.
void append_chardata(text& out, const term& root, context& ctx) {
    std::vector<const term*> todo{&root};
    while (!todo.empty()) {
        const term* t = todo.back();
        todo.pop_back();
        if (t->is_integer()) {
            out.push_back(char_of(*t));
        } else if (t->is_binary()) {
            out.push_back(ctx.binary_marker(*t));
        } else if (t->is_cons()) {
            todo.push_back(&t->tail());
            todo.push_back(&t->head());
        } else if (!t->is_nil()) {
            out.push_back(bad_element);
        }
    }
}

// Whether io_lib:chars_length/1 (iolist_size/1, else string:length/1) can measure a literal
// list of the format, as io_lib_format:count_small/1 does for every such element.
bool measurable(const term& root) {
    std::vector<const term*> todo{&root};
    bool bytes = true, utf8 = true;
    while (!todo.empty()) {
        const term* t = todo.back();
        todo.pop_back();
        if (t->is_integer()) {
            auto v = t->to_int64();
            if (!v || *v < 0 || *v > 255) bytes = false;
        } else if (t->is_binary()) {
            byte_span b = t->bytes();
            const auto* p = b.data();
            const auto* end = p + b.size();
            std::uint32_t cp;
            for (std::size_t k; p < end; p += k)
                if ((k = nodus::detail::utf8_decode(p, end, cp)) == 0) {
                    utf8 = false;
                    break;
                }
        } else if (t->is_cons()) {
            todo.push_back(&t->tail());
            todo.push_back(&t->head());
        } else if (!t->is_nil()) {
            return false;
        }
    }
    return bytes || utf8;
}

// io_lib_format:iolist_to_chars/1 (latin1 ~s): bytes, binaries and lists of them, any nesting.
bool iolist_to_chars(const term& root, text& out) {
    std::vector<const term*> todo{&root};
    while (!todo.empty()) {
        const term* t = todo.back();
        todo.pop_back();
        if (t->is_binary()) {
            for (std::uint8_t b : t->bytes())
                out.push_back(b);
        } else if (t->is_cons()) {
            const term& h = t->head();
            if (h.is_small() && h.small_value() >= 0 && h.small_value() <= 255) {
                out.push_back(static_cast<char32_t>(h.small_value()));
                todo.push_back(&t->tail());
            } else if (h.is_list() || h.is_binary()) {
                todo.push_back(&t->tail());
                todo.push_back(&h);
            } else {
                return false;
            }
        } else if (!t->is_nil()) {
            return false;
        }
    }
    return true;
}

// io_lib_format:cdata_to_chars/1 (unicode ~ts): like iolist_to_chars but characters of any
// size from 0 up, and binaries decoded as UTF-8 when they are valid, else read as bytes.
bool cdata_to_chars(const term& root, text& out) {
    std::vector<const term*> todo{&root};
    while (!todo.empty()) {
        const term* t = todo.back();
        todo.pop_back();
        if (t->is_binary()) {
            byte_span b = t->bytes();
            std::size_t at = out.size();
            const auto* p = b.data();
            const auto* end = p + b.size();
            bool valid = true;
            while (p < end) {
                std::uint32_t cp;
                std::size_t k = nodus::detail::utf8_decode(p, end, cp);
                if (k == 0) {
                    valid = false;
                    break;
                }
                out.push_back(static_cast<char32_t>(cp));
                p += k;
            }
            if (!valid) {
                out.resize(at);
                for (std::uint8_t c : b)
                    out.push_back(c);
            }
        } else if (t->is_cons()) {
            const term& h = t->head();
            if (h.is_integer()) {
                if (h.is_small() ? h.small_value() < 0 : h.bigint().negative) return false;
                out.push_back(char_of(h));
                todo.push_back(&t->tail());
            } else if (h.is_list() || h.is_binary()) {
                todo.push_back(&t->tail());
                todo.push_back(&h);
            } else {
                return false;
            }
        } else if (!t->is_nil()) {
            return false;
        }
    }
    return true;
}

// io_lib:deep_char_list/1: nested lists of Unicode characters (the ~x prefix).
bool deep_char_list(const term& root, text& out) {
    std::vector<const term*> todo{&root};
    while (!todo.empty()) {
        const term* t = todo.back();
        todo.pop_back();
        if (t->is_cons()) {
            const term& h = t->head();
            if (h.is_list()) {
                todo.push_back(&t->tail());
                todo.push_back(&h);
                continue;
            }
            if (!h.is_small()) return false;
            i64 c = h.small_value();
            if (!((c >= 0 && c < 0xD800) || (c > 0xDFFF && c < 0xFFFE) || (c > 0xFFFF && c <= 0x10FFFF)))
                return false;
            out.push_back(static_cast<char32_t>(c));
            todo.push_back(&t->tail());
        } else if (!t->is_nil()) {
            return false;
        }
    }
    return true;
}

void append_ascii(text& out, std::string_view s) {
    out.append(s.begin(), s.end());
}

// ---- the control sequences ----

class controls {
public:
    explicit controls(context& ctx) : ctx_(ctx) {}

    // io_lib_format:chars/2: n copies of unit. Erlang recurses for ever on a negative count.
    bool chars(text& out, const text& unit, i64 n) {
        if (n < 0)
            return ctx_.fail(format_error::kind::too_large, "negative repetition count (erl never returns)");
        if (n == 0 || unit.empty()) return true;
        if (!ctx_.room_for(n) || static_cast<std::uint64_t>(n) > ctx_.opts.max_output / unit.size())
            return ctx_.fail(format_error::kind::too_large, "output longer than max_output");
        for (i64 k = 0; k < n; ++k)
            out += unit;
        return true;
    }
    bool chars(text& out, char32_t c, i64 n) { return chars(out, text(1, c), n); }

    // The elements one pad character adds.
    text pad_unit(const term& pad) {
        text u;
        append_chardata(u, pad, ctx_);
        return u;
    }

    static void adjust(text& out, const text& data, const text& pad, bool left) {
        if (left) {
            out += data;
            out += pad;
        } else {
            out += pad;
            out += data;
        }
    }

    // io_lib_format:term/5.
    bool term_field(text& out, const text& t, opt f, bool left, opt p0, const term& pad) {
        if (!f && !p0) {
            out += t;
            return true;
        }
        if (!f) f = p0;
        i64 l = static_cast<i64>(chars_length(t));
        i64 p = std::min(l, p0 ? std::min(*p0, *f) : *f);
        text padding;
        if (l > p) {
            text stars;
            if (!chars(stars, '*', p) || !chars(padding, pad_unit(pad), *f - p)) return false;
            adjust(out, stars, padding, left);
        } else {
            if (!chars(padding, pad_unit(pad), *f - l)) return false;
            adjust(out, t, padding, left);
        }
        return true;
    }

    // io_lib_format:flat_trunc/3.
    bool flat_trunc(text& out, const text& s, i64 n, bool unicode) {
        if (n < 0) return ctx_.badarg("negative string precision");
        std::size_t keep;
        if (unicode) {
            keep = string_slice_size(s, static_cast<std::size_t>(n));
        } else {
            if (static_cast<std::size_t>(n) > s.size())
                return ctx_.badarg("string shorter than its precision");
            keep = static_cast<std::size_t>(n);
        }
        out.append(s, 0, keep);
        return true;
    }

    bool string_field(text& out, const text& s, i64 f, bool left, i64 n, const term& pad, bool unicode) {
        if (n > f) return flat_trunc(out, s, f, unicode);
        if (n < f) {
            text padding;
            if (!chars(padding, pad_unit(pad), f - n)) return false;
            adjust(out, s, padding, left);
            return true;
        }
        out += s;
        return true;
    }

    // io_lib_format:string/6.
    bool string(text& out, const text& s, opt f, bool left, opt p, const term& pad, bool unicode) {
        if (!f && !p) {
            out += s;
            return true;
        }
        if (!p) return string_field(out, s, *f, left, static_cast<i64>(chars_length(s)), pad, unicode);
        if (!f) return string_field(out, s, *p, true, static_cast<i64>(chars_length(s)), pad, unicode);
        if (*f < *p) return ctx_.badarg("field width below precision");
        i64 n = static_cast<i64>(chars_length(s));
        if (*f == *p) return string_field(out, s, *f, left, n, pad, unicode);
        text data, padding;
        if (!chars(padding, pad_unit(pad), *f - *p)) return false;
        if (n > *p) {
            if (!flat_trunc(data, s, *p, unicode)) return false;
        } else if (n < *p) {
            data = s;
            if (!chars(data, pad_unit(pad), *p - n)) return false;
        } else {
            data = s;
        }
        adjust(out, data, padding, left);
        return true;
    }

    // io_lib_format:char/5.
    bool char_field(text& out, char32_t c, opt f, bool left, opt p, const term& pad) {
        if (!f && !p) {
            out.push_back(c);
            return true;
        }
        if (!p) return chars(out, c, *f);
        if (!f) return chars(out, c, *p);
        if (*f < *p) return ctx_.badarg("field width below precision");
        text data, padding;
        if (!chars(data, c, *p) || !chars(padding, pad_unit(pad), *f - *p)) return false;
        adjust(out, data, padding, left);
        return true;
    }

    // The digits of |i| in base (upper case), lower-cased on request.
    static text digits(const term& i, unsigned base, bool lower) {
        std::string s = integer_to_string(i, base);
        if (!s.empty() && s[0] == '-') s.erase(0, 1);
        text t;
        for (char c : s)
            t.push_back(lower && c >= 'A' && c <= 'Z' ? static_cast<char32_t>(c - 'A' + 'a')
                                                      : static_cast<char32_t>(c));
        return t;
    }

    static bool negative(const term& i) { return i.is_small() ? i.small_value() < 0 : i.bigint().negative; }

    bool base(opt p, unsigned& b) {
        i64 v = p ? *p : 10;
        if (v < 2 || v > 36) return ctx_.badarg("integer base outside 2..36");
        b = static_cast<unsigned>(v);
        return true;
    }

    // io_lib_format:prefixed_integer/7 (an empty prefix: unprefixed_integer/6).
    bool integer(text& out, const spec& sp, const text& prefix, unsigned b, bool lower) {
        const term& i = sp.args[0];
        text t;
        if (negative(i)) t.push_back('-');
        t += prefix;
        t += digits(i, b, lower);
        return term_field(out, t, sp.width, sp.left, std::nullopt, sp.pad);
    }

    // ---- floats ----

    // float_data/1: the 21 significant digits of float_to_list/1 and the exponent plus one.
    static void float_data(double v, std::string& ds, i64& e) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.20e", std::fabs(v));
        ds.clear();
        const char* p = buf;
        for (; *p && *p != 'e'; ++p)
            if (*p >= '0' && *p <= '9') ds.push_back(*p);
        e = std::strtol(p + 1, nullptr, 10) + 1;
    }

    // float_man/3: i digits, a point and dc decimals from ds (zero-padded), rounding half up on
    // the next digit. Returns the carry out of the first digit.
    static bool float_man(const std::string& ds, i64 i, i64 dc, std::string& out) {
        std::string m;
        m.reserve(static_cast<std::size_t>(i + dc + 1));
        i64 total = i + dc;
        bool carry = false;
        if (static_cast<i64>(ds.size()) < i) {
            // Digits run out in the integer part: zeros, no rounding.
            m.assign(ds);
            m.append(static_cast<std::size_t>(i - static_cast<i64>(ds.size())), '0');
            m.push_back('.');
            m.append(static_cast<std::size_t>(dc), '0');
            out += m;
            return false;
        }
        std::string d =
            ds.substr(0, static_cast<std::size_t>(std::min<i64>(total, static_cast<i64>(ds.size()))));
        if (static_cast<i64>(ds.size()) > total) carry = ds[static_cast<std::size_t>(total)] >= '5';
        d.append(static_cast<std::size_t>(total - static_cast<i64>(d.size())), '0');
        for (i64 k = total - 1; k >= 0 && carry; --k) {
            char& c = d[static_cast<std::size_t>(k)];
            if (c == '9') {
                c = '0';
            } else {
                ++c;
                carry = false;
            }
        }
        m.append(d, 0, static_cast<std::size_t>(i));
        m.push_back('.');
        m.append(d, static_cast<std::size_t>(i), std::string::npos);
        out += m;
        return carry;
    }

    static bool sign_bit(double v) { return std::signbit(v); }

    static void float_exp(std::string& out, i64 e) {
        out += 'e';
        if (e >= 0) out += '+';
        out += std::to_string(e);
    }

    // float_e/3.
    std::string float_e(double v, i64 p) {
        std::string ds, out;
        i64 e;
        float_data(v, ds, e);
        if (sign_bit(v)) out += '-';
        std::string fs;
        if (float_man(ds, 1, p - 1, fs)) {
            fs[0] = '1';
            out += fs;
            float_exp(out, e);
        } else {
            out += fs;
            float_exp(out, e - 1);
        }
        return out;
    }

    // float_f/3.
    std::string float_f(double v, i64 p) {
        std::string ds, out;
        i64 e;
        float_data(v, ds, e);
        if (sign_bit(v)) out += '-';
        if (e <= 0) {
            ds.insert(0, static_cast<std::size_t>(-e + 1), '0');
            e = 1;
        }
        std::string fs;
        if (float_man(ds, e, p, fs)) out += '1';
        out += fs;
        return out;
    }

    bool float_text(text& out, const spec& sp, const std::string& s, opt f) {
        text t(s.begin(), s.end());
        if (!f) {
            out += t;
            return true;
        }
        return term_field(out, t, f, sp.left, f, sp.pad);
    }

    // fwrite_e/5.
    bool fwrite_e(text& out, const spec& sp, double v, opt p) {
        i64 pr = p ? *p : 6;
        if (pr < 2) return ctx_.badarg("~e precision below 2");
        if (!ctx_.room_for(pr)) return false;
        return float_text(out, sp, float_e(v, pr), sp.width);
    }

    // fwrite_f/5.
    bool fwrite_f(text& out, const spec& sp, double v, opt p) {
        i64 pr = p ? *p : 6;
        if (pr < 1) return ctx_.badarg("~f precision below 1");
        if (!ctx_.room_for(pr)) return false;
        return float_text(out, sp, float_f(v, pr), sp.width);
    }

    // fwrite_g/5: ~f for magnitudes from 0.1 up to 10000 when the precision covers the integer
    // digits, else ~e; the precision counts significant digits.
    bool fwrite_g(text& out, const spec& sp, double v) {
        i64 p = sp.precision ? *sp.precision : 6;
        if (p < 1) return ctx_.badarg("~g precision below 1");
        double a = std::fabs(v);
        std::optional<i64> e;  // none stands for io_lib_format's atom fwrite_f (a >= 1.0e4)
        if (a < 1.0e-1)
            e = -2;
        else if (a < 1.0e0)
            e = -1;
        else if (a < 1.0e1)
            e = 0;
        else if (a < 1.0e2)
            e = 1;
        else if (a < 1.0e3)
            e = 2;
        else if (a < 1.0e4)
            e = 3;
        if ((p <= 1 && e && *e == -1) || (e && p - 1 > *e && *e >= -1))
            return fwrite_f(out, sp, v, p - 1 - *e);
        if (p <= 1) return fwrite_e(out, sp, v, 2);
        return fwrite_e(out, sp, v, p);
    }

    // ---- small controls (io_lib_format:control_small/7) ----

    bool small(text& out, const spec& sp) {
        const term& a = sp.args[0];
        switch (sp.control) {
            case 's': {
                text s;
                append_decoded(s, a.as_atom().name());
                if (!sp.unicode)
                    for (char32_t c : s)
                        if (c > 255) return ctx_.badarg("~s of an atom with characters above 255");
                return string(out, s, sp.width, sp.left, sp.precision, sp.pad, sp.unicode);
            }
            case 'e':
                if (!a.is_float()) return ctx_.badarg("~e of a non-float");
                return fwrite_e(out, sp, a.float_value(), sp.precision);
            case 'f':
                if (!a.is_float()) return ctx_.badarg("~f of a non-float");
                return fwrite_f(out, sp, a.float_value(), sp.precision);
            case 'g':
                if (!a.is_float()) return ctx_.badarg("~g of a non-float");
                return fwrite_g(out, sp, a.float_value());
            case 'b':
            case 'B': {
                unsigned b;
                if (!a.is_integer()) return ctx_.badarg("integer control of a non-integer");
                return base(sp.precision, b) && integer(out, sp, {}, b, sp.control == 'b');
            }
            case 'x':
            case 'X': {
                unsigned b;
                if (!a.is_integer()) return ctx_.badarg("integer control of a non-integer");
                text prefix;
                if (sp.args[1].is_atom())
                    append_decoded(prefix, sp.args[1].as_atom().name());
                else if (!deep_char_list(sp.args[1], prefix))
                    return ctx_.badarg("~x prefix is not a character list");
                return base(sp.precision, b) && integer(out, sp, prefix, b, sp.control == 'x');
            }
            case '+':
            case '#': {
                unsigned b;
                if (!a.is_integer()) return ctx_.badarg("integer control of a non-integer");
                if (!base(sp.precision, b)) return false;
                text prefix;
                append_ascii(prefix, std::to_string(b));
                prefix.push_back('#');
                return integer(out, sp, prefix, b, sp.control == '+');
            }
            case 'c': {
                if (!a.is_integer()) return ctx_.badarg("~c of a non-integer");
                char32_t c;
                if (sp.unicode) {
                    c = char_of(a);
                } else {
                    // A band 255, also for negative and big integers (two's complement).
                    std::uint64_t low =
                        a.is_small() ? static_cast<std::uint64_t>(a.small_value()) : a.bigint().limbs[0];
                    if (!a.is_small() && a.bigint().negative) low = ~low + 1;
                    c = static_cast<char32_t>(low & 255);
                }
                return char_field(out, c, sp.width, sp.left, sp.precision, sp.pad);
            }
            case '~':
                return char_field(out, '~', sp.width, sp.left, sp.precision, sp.pad);
            case 'n':
                if (!sp.width) {
                    out.push_back('\n');
                    return true;
                }
                if (sp.left) return ctx_.badarg("~n with a left-adjusted field");
                return chars(out, '\n', *sp.width);
            case 'i':
                return true;
            default:
                return ctx_.badarg("unknown control character");
        }
    }

    // ---- the others (io_lib_format:control_limited/10) ----

    bool limited(text& out, const spec& sp, i64 column) {
        const term& a = sp.args[0];
        switch (sp.control) {
            case 's': {
                text s;
                bool ok = sp.unicode ? cdata_to_chars(a, s) : iolist_to_chars(a, s);
                if (!ok) return ctx_.badarg(sp.unicode ? "~ts of non-chardata" : "~s of a non-iolist");
                if (!ctx_.room_for(static_cast<i64>(s.size()))) return false;
                return string(out, s, sp.width, sp.left, sp.precision, sp.pad, sp.unicode);
            }
            case 'w':
            case 'W': {
                i64 depth = -1;
                if (sp.control == 'W') {
                    if (!sp.args[1].is_integer()) return ctx_.badarg("~W depth is not an integer");
                    depth = clamp_int(sp.args[1]);
                }
                text t;
                write_term(t, a, depth, sp.unicode, ctx_.opts);
                if (!ctx_.room_for(static_cast<i64>(t.size()))) return false;
                return term_field(out, t, sp.width, sp.left, sp.precision, sp.pad);
            }
            case 'p':
            case 'P': {
                pretty_request req;
                if (sp.control == 'P') {
                    if (!sp.args[1].is_integer()) return ctx_.badarg("~P depth is not an integer");
                    req.depth = clamp_int(sp.args[1]);
                }
                if (sp.left) return ctx_.badarg("~p with a left-adjusted field");
                req.line_length = sp.width ? *sp.width : 80;
                req.column = sp.precision ? *sp.precision : column + 1;
                req.unicode = sp.unicode;
                req.strings = sp.strings;
                return pretty_print(out, a, req, ctx_);
            }
            default:
                return ctx_.badarg("unknown control character");
        }
    }

private:
    context& ctx_;
};

bool is_big(const spec& sp) {
    switch (sp.control) {
        case 'p':
        case 'P':
        case 'w':
        case 'W':
            return true;
        case 's':
            return !sp.args[0].is_atom();
        default:
            return false;
    }
}

i64 advance(i64 col, char32_t c) {
    if (c == '\n') return 0;
    if (c == '\t') return ((col + 8) / 8) * 8;
    return col + 1;
}

// io_lib_format:build/1.
bool build(std::vector<item>& items, text& out, context& ctx) {
    std::size_t ps = 0, bigs = 0;
    for (const item& it : items) {
        if (!it.is_spec) continue;
        if (it.sp.control == 'p' || it.sp.control == 'P') ++ps;
        if (is_big(it.sp)) ++bigs;
    }
    controls ctl(ctx);
    i64 col = 0;
    for (const item& it : items) {
        if (!it.is_spec) {
            const term& e = it.literal;
            if (e.is_integer()) {
                char32_t c = char_of(e);
                out.push_back(c);
                col = advance(col, c);
            } else if (e.is_list() || e.is_binary()) {
                if (e.is_list() && !measurable(e))
                    return ctx.badarg("format holds a list that is not chardata");
                append_chardata(out, e, ctx);
                ++col;
            } else {
                return ctx.badarg("format holds a term that is neither a character, a list nor a binary");
            }
        } else if (!is_big(it.sp)) {
            std::size_t at = out.size();
            if (!ctl.small(out, it.sp)) return false;
            for (std::size_t k = at; k < out.size(); ++k) {
                if (out[k] == bad_element) return ctx.badarg("pad character is not a character");
                col = is_marker(out[k]) ? col + 1 : advance(col, out[k]);
            }
        } else {
            std::size_t at = out.size();
            if (!ctl.limited(out, it.sp, col)) return false;
            if (it.sp.control == 'p' || it.sp.control == 'P') --ps;
            if (ps > 0) {
                for (std::size_t k = at; k < out.size(); ++k) {
                    if (is_marker(out[k])) return ctx.badarg("pad character is not a character");
                    col = advance(col, out[k]);
                }
            }
        }
        if (!ctx.room_for(static_cast<i64>(out.size()))) return false;
    }
    (void)bigs;
    return true;
}

// unicode:characters_to_binary/1 of the result: consecutive binaries join into one UTF-8
// byte stream, characters must be Unicode scalar values.
bool to_utf8(const text& t, std::string& out, context& ctx) {
    std::string run;
    auto flush = [&]() {
        const auto* p = reinterpret_cast<const unsigned char*>(run.data());
        const auto* end = p + run.size();
        while (p < end) {
            std::uint32_t cp;
            std::size_t k = nodus::detail::utf8_decode(p, end, cp);
            if (k == 0)
                return ctx.fail(format_error::kind::not_chardata, "a binary in the result is not UTF-8");
            p += k;
        }
        out += run;
        run.clear();
        return true;
    };
    for (char32_t c : t) {
        if (is_marker(c) && c != bad_element) {
            byte_span b = ctx.binaries[c - binary_base].bytes();
            run.append(reinterpret_cast<const char*>(b.data()), b.size());
            continue;
        }
        if (!run.empty() && !flush()) return false;
        if (c == bad_element)
            return ctx.fail(format_error::kind::not_chardata, "the result holds a non-character");
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return ctx.fail(format_error::kind::not_chardata,
                            "the result holds an integer that is no character");
        append_utf8(out, c);
    }
    return run.empty() || flush();
}

result<std::string, format_error> run_format(std::span<const term> fmt, std::span<const term> args,
                                             const format_options& opts) {
    context ctx(opts);
    std::vector<item> items;
    text out;
    std::string utf8;
    if (!scanner(fmt, args, ctx).run(items) || !build(items, out, ctx) || !to_utf8(out, utf8, ctx))
        return unexpected(ctx.error);
    return utf8;
}

// The characters of a format term: a list's elements, a binary's bytes, an atom's characters.
bool format_elements(const term& fmt, std::vector<term>& out, context& ctx) {
    if (fmt.is_atom()) {
        text s;
        append_decoded(s, fmt.as_atom().name());
        for (char32_t c : s)
            out.emplace_back(static_cast<long long>(c));
        return true;
    }
    if (fmt.is_binary()) {
        for (std::uint8_t b : fmt.bytes())
            out.emplace_back(static_cast<int>(b));
        return true;
    }
    auto elems = fmt.list_elements();
    if (!elems) return ctx.badarg("format is not a string, binary or atom");
    out = std::move(*elems);
    return true;
}

}  // namespace

result<std::string, format_error> format(const term& fmt, const term& args, const format_options& opts) {
    context ctx(opts);
    std::vector<term> elems;
    if (!format_elements(fmt, elems, ctx)) return unexpected(ctx.error);
    auto list = args.list_elements();
    if (!list) return unexpected(format_error{format_error::kind::badarg, "arguments are not a proper list"});
    return run_format(elems, *list, opts);
}

result<std::string, format_error> format(std::string_view fmt, std::span<const term> args,
                                         const format_options& opts) {
    text chars;
    append_decoded(chars, fmt);
    std::vector<term> elems;
    elems.reserve(chars.size());
    for (char32_t c : chars)
        elems.emplace_back(static_cast<long long>(c));
    return run_format(elems, args, opts);
}

}  // namespace nodus::io_lib

// ---- format lists (io_lib:scan_format/2, io_lib:build_text/1) ----

namespace nodus::io_lib {

namespace {

// The atoms of a format_spec map; interned once (they are few and fixed).
struct spec_atoms {
    atom control_char{"control_char"}, args{"args"}, width{"width"}, adjust{"adjust"}, precision{"precision"},
        pad_char{"pad_char"}, encoding{"encoding"}, strings{"strings"}, none{"none"}, left{"left"},
        right{"right"};
};

const spec_atoms& names() {
    static const spec_atoms a;
    return a;
}

term opt_term(opt v) {
    return v ? term(static_cast<long long>(*v)) : term(names().none);
}

term spec_map(const spec& sp) {
    const spec_atoms& n = names();
    int count = arg_count(sp.control);
    std::vector<term> args(sp.args, sp.args + count);
    return map({{n.control_char, term(static_cast<long long>(sp.control))},
                {n.args, make_list(std::move(args))},
                {n.width, opt_term(sp.width)},
                {n.adjust, sp.left ? n.left : n.right},
                {n.precision, opt_term(sp.precision)},
                {n.pad_char, sp.pad},
                {n.encoding, sp.unicode ? atoms::unicode : atoms::latin1},
                {n.strings, sp.strings}});
}

bool opt_of(const term* v, opt& out) {
    if (!v) return false;
    if (v->is_atom(names().none)) {
        out.reset();
        return true;
    }
    if (!v->is_integer()) return false;
    out = clamp_int(*v);
    return true;
}

// A format_spec map back into a spec; false when a key is missing or a value is not one io_lib
// could use.
bool spec_of(const term& m, spec& sp) {
    const spec_atoms& n = names();
    const term* c = m.map_get(n.control_char);
    const term* args = m.map_get(n.args);
    const term* adjust = m.map_get(n.adjust);
    const term* pad = m.map_get(n.pad_char);
    const term* enc = m.map_get(n.encoding);
    const term* str = m.map_get(n.strings);
    if (!c || !args || !adjust || !pad || !enc || !str) return false;
    if (!opt_of(m.map_get(n.width), sp.width) || !opt_of(m.map_get(n.precision), sp.precision)) return false;
    if (!c->is_small() || c->small_value() < 0 || c->small_value() >= 128) return false;
    sp.control = static_cast<char32_t>(c->small_value());
    auto list = args->list_elements();
    int count = arg_count(sp.control);
    if (!list || count < 0 || list->size() != static_cast<std::size_t>(count)) return false;
    for (int k = 0; k < count; ++k)
        sp.args[k] = (*list)[static_cast<std::size_t>(k)];
    if (!adjust->is_atom(n.left) && !adjust->is_atom(n.right)) return false;
    sp.left = adjust->is_atom(n.left);
    if (!enc->is_atom(atoms::unicode) && !enc->is_atom(atoms::latin1)) return false;
    sp.unicode = enc->is_atom(atoms::unicode);
    if (!str->is_bool()) return false;
    sp.strings = str->is_atom(atoms::true_);
    sp.pad = *pad;
    return true;
}

}  // namespace

result<term, format_error> scan_format(const term& fmt, const term& args) {
    context ctx(format_options{});
    std::vector<term> elems;
    if (!format_elements(fmt, elems, ctx)) return unexpected(ctx.error);
    auto list = args.list_elements();
    if (!list) return unexpected(format_error{format_error::kind::badarg, "arguments are not a proper list"});
    std::vector<item> items;
    if (!scanner(elems, *list, ctx).run(items)) return unexpected(ctx.error);
    std::vector<term> out;
    out.reserve(items.size());
    for (const item& it : items)
        out.push_back(it.is_spec ? spec_map(it.sp) : it.literal);
    return make_list(std::move(out));
}

result<std::string, format_error> build_text(const term& format_list, const format_options& opts) {
    context ctx(opts);
    auto elems = format_list.list_elements();
    if (!elems)
        return unexpected(format_error{format_error::kind::badarg, "format list is not a proper list"});
    std::vector<item> items;
    items.reserve(elems->size());
    for (const term& e : *elems) {
        item it;
        if (e.is_map()) {
            it.is_spec = true;
            if (!spec_of(e, it.sp))
                return unexpected(format_error{format_error::kind::badarg, "malformed format_spec map"});
        } else {
            it.literal = e;
        }
        items.push_back(std::move(it));
    }
    text out;
    std::string utf8;
    if (!build(items, out, ctx) || !to_utf8(out, utf8, ctx)) return unexpected(ctx.error);
    return utf8;
}

}  // namespace nodus::io_lib

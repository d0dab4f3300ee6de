// Term printer: the text of io_lib:format("~tw") and of "~tp" on one line, as OTP 25 writes it.
// Facts used (from stdlib-4.2 and erts, checked against erl):
//  - atoms are quoted per io_lib:quote_atom/2; inside quotes io_lib:write_string/2 escapes;
//  - floats are float_to_list(F, [short]) (erts/emulator/ryu/to_chars.h picks fixed or
//    scientific notation from the digit count and exponent);
//  - funs, pids, ports and refs come from erts' term printer (erl_printf_term.c); fun_to_list/1
//    returns the UTF-8 bytes of atom names as separate characters, so a non-ASCII module
//    name is printed as its bytes in Latin-1 (the same mojibake erl shows);
//  - ~tp on one line differs from ~tw only for lists and binaries that are printable text.
// Printing walks an explicit stack: a term nested a million levels deep prints fine.
#include <gmp.h>

#include <charconv>
#include <cstring>
#include <mutex>
#include <ostream>
#include <unordered_map>
#include <vector>

#include "nodus/term/scan.hpp"
#include "nodus/term/text.hpp"
#include "scan_utf8.hpp"

namespace nodus {

namespace {

void put_octal3(std::string& out, unsigned c) {
    out += '\\';
    out += static_cast<char>('0' + ((c >> 6) & 7));
    out += static_cast<char>('0' + ((c >> 3) & 7));
    out += static_cast<char>('0' + (c & 7));
}

// One character inside quotes q, as io_lib:write_string/2 writes it (Unicode output: characters
// from 160 up are written as they are).
void put_quoted_char(std::string& out, std::uint32_t c, char q) {
    if (c == static_cast<std::uint32_t>(q) || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
        return;
    }
    if (c >= 32 && c <= 126) {
        out += static_cast<char>(c);
        return;
    }
    if (c >= 160) {
        detail::utf8_append(out, c);
        return;
    }
    switch (c) {
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\t':
            out += "\\t";
            return;
        case '\v':
            out += "\\v";
            return;
        case '\b':
            out += "\\b";
            return;
        case '\f':
            out += "\\f";
            return;
        case 27:
            out += "\\e";
            return;
        case 127:
            out += "\\d";
            return;
        default:
            put_octal3(out, c);
    }
}

bool latin1_lower(std::uint32_t c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7);
}
bool latin1_name_char(std::uint32_t c) noexcept {
    return latin1_lower(c) || (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
           (c >= '0' && c <= '9') || c == '_' || c == '@';
}

// Atom names are valid UTF-8 (the atom table checks), so decoding cannot fail here.
template <class F>
void for_each_char(std::string_view s, F&& f) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        std::uint32_t cp;
        std::size_t n = detail::utf8_decode(p, end, cp);
        if (n == 0) {
            cp = *p;
            n = 1;
        }
        f(cp);
        p += n;
    }
}

bool atom_needs_quotes(std::string_view name) {
    if (name.empty() || is_reserved_word(name)) return true;
    bool first = true, quote = false;
    for_each_char(name, [&](std::uint32_t c) {
        if (quote) return;
        quote = first ? !latin1_lower(c) : !latin1_name_char(c);
        first = false;
    });
    return quote;
}

// ---- erts' atom printer (used inside fun_to_list/1 text) ----

bool erts_lower(int c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 223 && c <= 255 && c != 247);
}
bool erts_upper(int c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 192 && c <= 222 && c != 215);
}
bool erts_alnum(int c) noexcept {
    return (c >= '0' && c <= '9') || erts_lower(c) || erts_upper(c);
}

// Appends the bytes erts prints for an atom: quoting decided on a partial decoding of the UTF-8
// (a continuation byte counts as a letter), escapes for ASCII and C1 controls.
void erts_atom_bytes(std::string& raw, std::string_view name) {
    const auto* s = reinterpret_cast<const unsigned char*>(name.data());
    std::size_t n = name.size();
    if (n == 0) {
        raw += "''";
        return;
    }
    auto latin1_at = [&](std::size_t i) -> int {
        int c1 = s[i];
        int c2 = i + 1 < n ? s[i + 1] : 0;
        if ((c1 & 0x80) == 0) return c1;
        if ((c1 & 0xE0) == 0xC0) return ((c1 & 0x1F) << 6) | (c2 & 0x3F);
        if ((c1 & 0xC0) == 0x80) return 'a';
        return 0;
    };
    bool quote = !erts_lower(latin1_at(0));
    for (std::size_t i = 1; i < n && !quote; ++i) {
        int lc = latin1_at(i);
        if (!erts_alnum(lc) && lc != '_') quote = true;
    }
    if (quote) raw += '\'';
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char c = s[i];
        switch (c) {
            case '\'':
                raw += "\\'";
                continue;
            case '\\':
                raw += "\\\\";
                continue;
            case '\n':
                raw += "\\n";
                continue;
            case '\f':
                raw += "\\f";
                continue;
            case '\t':
                raw += "\\t";
                continue;
            case '\r':
                raw += "\\r";
                continue;
            case '\b':
                raw += "\\b";
                continue;
            case '\v':
                raw += "\\v";
                continue;
            default:
                break;
        }
        if (c < ' ') {
            put_octal3(raw, c);
        } else if (c >= 0x80) {
            std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
            if (c == 0xC2 && i + 1 < n && s[i + 1] < 0xA0) {
                put_octal3(raw, s[i + 1]);  // C1 control character (128..159)
                ++i;
            } else {
                len = std::min(len, n - i);
                raw.append(name.substr(i, len));
                i += len - 1;
            }
        } else {
            raw += static_cast<char>(c);
        }
    }
    if (quote) raw += '\'';
}

// fun_to_list/1 returns bytes as characters; ~tw writes each as a Latin-1 character.
void put_latin1_bytes(std::string& out, std::string_view raw) {
    for (unsigned char b : raw)
        detail::utf8_append(out, b);
}

// ---- numbers ----

void put_integer(std::string& out, const term& t, unsigned base) {
    if (t.is_small()) {
        char buf[72];
        auto r = std::to_chars(buf, buf + sizeof buf, t.small_value(), static_cast<int>(base));
        for (char* p = buf; p < r.ptr; ++p)
            if (*p >= 'a' && *p <= 'z') *p = static_cast<char>(*p - 'a' + 'A');
        out.append(buf, r.ptr);
        return;
    }
    bigint_view v = t.bigint();
    mpz_t z;
    mpz_init(z);
    mpz_import(z, v.limbs.size(), -1, sizeof(std::uint64_t), 0, 0, v.limbs.data());
    if (v.negative) mpz_neg(z, z);
    std::size_t at = out.size();
    out.resize(at + mpz_sizeinbase(z, static_cast<int>(base)) + 2);
    mpz_get_str(out.data() + at, -static_cast<int>(base), z);  // negative base: upper-case digits
    out.resize(at + std::strlen(out.data() + at));
    mpz_clear(z);
}

// ---- node numbers of pids, ports and references ----

std::uint32_t node_number(atom node, const print_options& o) {
    if (o.node_number) return o.node_number(node);
    if (node == o.local_node) return 0;
    static std::mutex mutex;
    static std::unordered_map<std::uint32_t, std::uint32_t> numbers;
    std::lock_guard lock(mutex);
    auto [it, fresh] = numbers.try_emplace(node.index(), static_cast<std::uint32_t>(numbers.size() + 1));
    return it->second;
}

void put_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// ---- printable text (~tp) ----

// io_lib:printable_latin1_list / printable_unicode_list (and io_lib_pretty's printable_char).
bool printable_char(std::uint32_t c, bool unicode) noexcept {
    if (c >= 32 && c <= 126) return true;
    switch (c) {
        case '\n':
        case '\r':
        case '\t':
        case '\v':
        case '\b':
        case '\f':
        case 27:
            return true;
        default:
            break;
    }
    if (!unicode) return c >= 160 && c <= 255;
    return (c >= 160 && c < 0xD800) || (c > 0xDFFF && c < 0xFFFE) || (c > 0xFFFF && c <= 0x10FFFF);
}

bool printable_list(const term& list, bool unicode) noexcept {
    const term* t = &list;
    for (; t->is_cons(); t = &t->tail()) {
        const term& h = t->head();
        if (!h.is_small() || h.small_value() < 0 || h.small_value() > 0x10FFFF) return false;
        if (!printable_char(static_cast<std::uint32_t>(h.small_value()), unicode)) return false;
    }
    return t->is_nil();
}

void put_string(std::string& out, const term& list) {
    out += '"';
    for (const term* t = &list; t->is_cons(); t = &t->tail())
        put_quoted_char(out, static_cast<std::uint32_t>(t->head().small_value()), '"');
    out += '"';
}

// A binary as io_lib_pretty prints it when it is text: <<"abc">>, <<"é"/utf8>>, or bytes read
// as Latin-1 when they are not UTF-8. False when the binary is not printable.
bool put_binary_text(std::string& out, const term& bin, bool unicode) {
    if (bin.trailing_bits() != 0) return false;
    byte_span b = bin.bytes();
    if (b.empty()) return false;
    std::vector<std::uint32_t> chars;
    chars.reserve(b.size());
    const auto* p = b.data();
    const auto* end = p + b.size();
    bool utf8 = true;
    while (p < end) {
        std::uint32_t cp;
        std::size_t n = detail::utf8_decode(p, end, cp);
        if (n == 0) {
            utf8 = false;
            break;
        }
        chars.push_back(cp);
        p += n;
    }
    if (!utf8) {
        // Not UTF-8: printable only as Latin-1 bytes (whatever the printable range).
        chars.assign(b.begin(), b.end());
        for (std::uint32_t c : chars)
            if (!printable_char(c, false)) return false;
    } else {
        for (std::uint32_t c : chars)
            if (!printable_char(c, unicode)) return false;
    }
    out += "<<\"";
    for (std::uint32_t c : chars)
        put_quoted_char(out, c, '"');
    out += '"';
    // Multi-byte UTF-8 text is marked /utf8; ASCII or Latin-1 bytes are not.
    if (utf8 && chars.size() != b.size()) out += "/utf8";
    out += ">>";
    return true;
}

void put_bytes(std::string& out, const term& bin) {
    byte_span b = bin.bytes();
    unsigned rem = bin.trailing_bits();
    std::size_t whole = rem ? b.size() - 1 : b.size();
    out += "<<";
    for (std::size_t i = 0; i < whole; ++i) {
        if (i) out += ',';
        put_uint(out, b[i]);
    }
    if (rem) {
        if (whole) out += ',';
        put_uint(out, static_cast<unsigned>(b[whole]) >> (8 - rem));
        out += ':';
        put_uint(out, rem);
    }
    out += ">>";
}

void put_fun(std::string& out, const term& f) {
    std::string raw;
    if (f.is_export()) {
        raw += "fun ";
        erts_atom_bytes(raw, f.export_module().name());
        raw += ':';
        erts_atom_bytes(raw, f.export_function().name());
        raw += '/';
        put_uint(raw, f.fun_arity());
    } else {
        auto* fb = static_cast<const detail::fun_box*>(f.box_ptr());
        raw += "#Fun<";
        if (fb->module.is_atom()) raw += fb->module.as_atom().name();
        raw += '.';
        if (fb->old_index.is_integer())
            put_integer(raw, fb->old_index, 10);
        else
            put_uint(raw, fb->index);
        raw += '.';
        if (fb->old_uniq.is_integer())
            put_integer(raw, fb->old_uniq, 10);
        else
            raw += '0';
        raw += '>';
    }
    put_latin1_bytes(out, raw);
}

// ---- the walk ----

enum class step : std::uint8_t {
    value,       // print *t
    text,        // append s
    list_rest,   // *t is what follows a list element
    tuple_rest,  // element i of tuple *t onwards
    map_rest,    // association i of map *t onwards
};

struct item {
    step kind;
    const term* t;
    std::size_t i;
    const char* s;
};

class printer {
  public:
    printer(std::string& out, const print_options& o) : out_(out), opts_(o) {}

    void run(const term& root) {
        stack_.push_back({step::value, &root, 0, nullptr});
        while (!stack_.empty()) {
            item it = stack_.back();
            stack_.pop_back();
            switch (it.kind) {
                case step::value:
                    value(*it.t);
                    break;
                case step::text:
                    out_ += it.s;
                    break;
                case step::list_rest:
                    list_rest(*it.t);
                    break;
                case step::tuple_rest: {
                    auto elems = it.t->elements();
                    if (it.i == elems.size()) {
                        out_ += '}';
                    } else {
                        out_ += ',';
                        stack_.push_back({step::tuple_rest, it.t, it.i + 1, nullptr});
                        stack_.push_back({step::value, &elems[it.i], 0, nullptr});
                    }
                    break;
                }
                case step::map_rest:
                    if (it.i == it.t->map_size()) {
                        out_ += '}';
                    } else {
                        out_ += ',';
                        stack_.push_back({step::map_rest, it.t, it.i + 1, nullptr});
                        push_association(*it.t, it.i);
                    }
                    break;
            }
        }
    }

  private:
    void push_association(const term& m, std::size_t i) {
        stack_.push_back({step::value, &m.map_values()[i], 0, nullptr});
        stack_.push_back({step::text, nullptr, 0, " => "});
        stack_.push_back({step::value, &m.map_keys()[i], 0, nullptr});
    }

    void list_rest(const term& tail) {
        if (tail.is_nil()) {
            out_ += ']';
        } else if (tail.is_cons()) {
            out_ += ',';
            stack_.push_back({step::list_rest, &tail.tail(), 0, nullptr});
            stack_.push_back({step::value, &tail.head(), 0, nullptr});
        } else {
            out_ += '|';
            stack_.push_back({step::text, nullptr, 0, "]"});
            stack_.push_back({step::value, &tail, 0, nullptr});
        }
    }

    void value(const term& t) {
        switch (t.type()) {
            case term_type::integer:
                put_integer(out_, t, 10);
                return;
            case term_type::float_:
                print_float(out_, t.float_value());
                return;
            case term_type::atom:
                print_atom(out_, t.as_atom());
                return;
            case term_type::nil:
                out_ += "[]";
                return;
            case term_type::list:
                if (opts_.style == print_style::p && printable_list(t, opts_.unicode_printable)) {
                    put_string(out_, t);
                    return;
                }
                out_ += '[';
                stack_.push_back({step::list_rest, &t.tail(), 0, nullptr});
                stack_.push_back({step::value, &t.head(), 0, nullptr});
                return;
            case term_type::tuple:
                if (t.tuple_size() == 0) {
                    out_ += "{}";
                    return;
                }
                out_ += '{';
                stack_.push_back({step::tuple_rest, &t, 1, nullptr});
                stack_.push_back({step::value, &t.elements()[0], 0, nullptr});
                return;
            case term_type::map:
                if (t.map_size() == 0) {
                    out_ += "#{}";
                    return;
                }
                out_ += "#{";
                stack_.push_back({step::map_rest, &t, 1, nullptr});
                push_association(t, 0);
                return;
            case term_type::bitstring:
                if (opts_.style == print_style::p && put_binary_text(out_, t, opts_.unicode_printable))
                    return;
                put_bytes(out_, t);
                return;
            case term_type::pid: {
                pid p = t.as_pid();
                out_ += '<';
                put_uint(out_, node_number(p.node(), opts_));
                out_ += '.';
                put_uint(out_, p.id());
                out_ += '.';
                put_uint(out_, p.serial());
                out_ += '>';
                return;
            }
            case term_type::port: {
                port p = t.as_port();
                out_ += "#Port<";
                put_uint(out_, node_number(p.node(), opts_));
                out_ += '.';
                put_uint(out_, p.id());
                out_ += '>';
                return;
            }
            case term_type::reference: {
                reference r = t.as_reference();
                out_ += "#Ref<";
                put_uint(out_, node_number(r.node(), opts_));
                auto words = r.words();
                for (std::size_t i = words.size(); i-- > 0;) {
                    out_ += '.';
                    put_uint(out_, words[i]);
                }
                out_ += '>';
                return;
            }
            case term_type::fun:
                put_fun(out_, t);
                return;
        }
    }

    std::string& out_;
    const print_options& opts_;
    std::vector<item> stack_;
};

}  // namespace

void print(std::string& out, const term& t, const print_options& opts) {
    printer(out, opts).run(t);
}

std::string to_text(const term& t, const print_options& opts) {
    std::string s;
    print(s, t, opts);
    return s;
}

void print_atom(std::string& out, atom a) {
    std::string_view name = a.name();
    if (!atom_needs_quotes(name)) {
        out += name;
        return;
    }
    out += '\'';
    for_each_char(name, [&](std::uint32_t c) { put_quoted_char(out, c, '\''); });
    out += '\'';
}

void print_float(std::string& out, double d) {
    char buf[40];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
    if (sci.find_first_of("ni") != std::string_view::npos) {
        out += sci;  // inf or nan: no Erlang term holds these
        return;
    }
    // Shortest round-trip digits and exponent: [-]D[.DDD]e(+|-)XX.
    bool negative = sci.front() == '-';
    if (negative) sci.remove_prefix(1);
    std::size_t e = sci.find('e');
    char digits[24];
    int n = 0;
    for (char c : sci.substr(0, e))
        if (c != '.') digits[n++] = c;
    int sci_exp = 0;
    std::string_view es = sci.substr(e + 1);
    bool exp_negative = es.front() == '-';
    std::from_chars(es.data() + 1, es.data() + es.size(), sci_exp);
    if (exp_negative) sci_exp = -sci_exp;
    std::uint64_t mantissa = 0;
    for (int i = 0; i < n; ++i)
        mantissa = mantissa * 10 + static_cast<std::uint64_t>(digits[i] - '0');
    int exp = sci_exp - (n - 1);  // value = mantissa * 10^exp

    // Fixed notation inside an exponent window that depends on the digit count; scientific
    // for integral values at or above 2^53 (whose fixed form would suggest exactness).
    int lower = -(n + 2), upper = sci_exp >= 10 ? 2 : 1;
    if (n == 1) {
        lower = -4;
        upper = 2;
    }
    bool fixed = exp >= lower && exp <= upper;
    if (fixed && ((mantissa >= (std::uint64_t{1} << 53) && exp == 0) ||
                  (mantissa > (std::uint64_t{1} << 52) / 5 && exp == 1) ||
                  (mantissa > (std::uint64_t{1} << 51) / 25 && exp == 2)))
        fixed = false;

    if (negative) out += '-';
    if (fixed) {
        int whole = n + exp;  // digits before the point
        if (exp >= 0) {
            out.append(digits, static_cast<std::size_t>(n));
            out.append(static_cast<std::size_t>(exp), '0');
            out += ".0";
        } else if (whole > 0) {
            out.append(digits, static_cast<std::size_t>(whole));
            out += '.';
            out.append(digits + whole, static_cast<std::size_t>(n - whole));
        } else {
            out += "0.";
            out.append(static_cast<std::size_t>(-whole), '0');
            out.append(digits, static_cast<std::size_t>(n));
        }
        return;
    }
    out += digits[0];
    out += '.';
    if (n > 1)
        out.append(digits + 1, static_cast<std::size_t>(n - 1));
    else
        out += '0';
    out += 'e';
    if (sci_exp < 0) out += '-';
    put_uint(out, static_cast<std::uint64_t>(sci_exp < 0 ? -sci_exp : sci_exp));
}

std::string integer_to_string(const term& integer, unsigned base) {
    std::string s;
    if (!integer.is_integer() || base < 2 || base > 36) return s;
    put_integer(s, integer, base);
    return s;
}

}  // namespace nodus

namespace nodus {
std::ostream& operator<<(std::ostream& os, const term& t) { return os << to_text(t, {print_style::p}); }
}  // namespace nodus

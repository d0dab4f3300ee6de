// io_lib:write/2 with a depth limit and an encoding, as ~w and ~W (and ~p for atomic terms)
// write terms. Atomic terms come from nodus::print, whose ~tw text erl's golden tests fix; the
// depth limit follows io_lib:write1/3 (lists and tuples lose one level per element, maps end
// in ",..." once the depth runs out even when no association is left) and Latin-1 encoding
// writes atom characters above 255 as \x{HEX}. The walk keeps its own stack, so any nesting
// prints.
#include <cstring>

#include "io_impl.hpp"
#include "nodus/term/text.hpp"
#include "term/scan_utf8.hpp"

namespace nodus::io_lib::detail {

char32_t char_of(const term& integer) noexcept {
    if (!integer.is_small()) return invalid_char;
    std::int64_t v = integer.small_value();
    return v >= 0 && v <= 0x10FFFF ? static_cast<char32_t>(v) : invalid_char;
}

void append_utf8(std::string& out, char32_t c) {
    nodus::detail::utf8_append(out, c);
}

void append_decoded(text& out, std::string_view utf8) {
    const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
    const auto* end = p + utf8.size();
    while (p < end) {
        std::uint32_t cp;
        std::size_t n = nodus::detail::utf8_decode(p, end, cp);
        if (n == 0) {  // not produced by nodus::print; kept as a Latin-1 byte to stay total
            cp = *p;
            n = 1;
        }
        out.push_back(static_cast<char32_t>(cp));
        p += n;
    }
}

namespace {

void put_ascii(text& out, std::string_view s) {
    out.append(s.begin(), s.end());
}

void put_hex(text& out, std::uint32_t v) {
    char buf[16];
    int n = 0;
    do {
        unsigned d = v % 16;
        buf[n++] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
        v /= 16;
    } while (v);
    while (n > 0)
        out.push_back(static_cast<char32_t>(buf[--n]));
}

void put_octal3(text& out, char32_t c) {
    out.push_back('\\');
    out.push_back('0' + ((c >> 6) & 7));
    out.push_back('0' + ((c >> 3) & 7));
    out.push_back('0' + (c & 7));
}

// io_lib:string_char/4 for the quote character q. Latin-1 mode is only ever given characters
// below 256 (printable Latin-1 lists).
void put_string_char(text& out, char32_t c, char32_t q) {
    if (c == q || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
    } else if ((c >= 32 && c <= 126) || c >= 160) {
        out.push_back(c);
    } else {
        switch (c) {
            case '\n':
                put_ascii(out, "\\n");
                break;
            case '\r':
                put_ascii(out, "\\r");
                break;
            case '\t':
                put_ascii(out, "\\t");
                break;
            case '\v':
                put_ascii(out, "\\v");
                break;
            case '\b':
                put_ascii(out, "\\b");
                break;
            case '\f':
                put_ascii(out, "\\f");
                break;
            case 27:
                put_ascii(out, "\\e");
                break;
            case 127:
                put_ascii(out, "\\d");
                break;
            default:
                put_octal3(out, c);
        }
    }
}

// Text of a term that nodus::print writes as ~tw does (integers, floats, pids, ports,
// references, funs).
void put_printed(text& out, const term& t, const format_options& opts) {
    print_options po;
    po.style = print_style::w;
    po.local_node = opts.local_node;
    po.node_number = opts.node_number;
    std::string s;
    print(s, t, po);
    append_decoded(out, s);
}

enum class step : std::uint8_t {
    value,       // *t at depth d
    chars,       // the ASCII text s
    list_tail,   // write_tail(*t, d) then "]"
    tuple_rest,  // write_tuple(*t, i, d) then "}"
    map_body,    // write_map_body from association i, counting d down, each at depth d0
};

struct item {
    step kind;
    const term* t;
    std::size_t i;
    std::int64_t d;
    std::int64_t d0;
    const char* s;
};

class writer {
public:
    writer(text& out, bool unicode, const format_options& opts) : out_(out), unicode_(unicode), opts_(opts) {}

    void run(const term& root, std::int64_t depth) {
        if (depth == 0) {
            put_ascii(out_, "...");
            return;
        }
        push(step::value, &root, 0, depth);
        while (!stack_.empty()) {
            item it = stack_.back();
            stack_.pop_back();
            switch (it.kind) {
                case step::value:
                    value(*it.t, it.d);
                    break;
                case step::chars:
                    put_ascii(out_, it.s);
                    break;
                case step::list_tail:
                    list_tail(*it.t, it.d);
                    break;
                case step::tuple_rest:
                    tuple_rest(*it.t, it.i, it.d);
                    break;
                case step::map_body:
                    map_body(*it.t, it.i, it.d, it.d0);
                    break;
            }
        }
    }

private:
    void push(step k, const term* t, std::size_t i, std::int64_t d, std::int64_t d0 = 0) {
        stack_.push_back({k, t, i, d, d0, nullptr});
    }
    void push_chars(const char* s) { stack_.push_back({step::chars, nullptr, 0, 0, 0, s}); }

    void value(const term& t, std::int64_t d) {
        switch (t.type()) {
            case term_type::atom:
                write_atom(out_, t.as_atom(), unicode_);
                return;
            case term_type::bitstring: {
                auto parts = binary_parts(t, d);
                put_ascii(out_, "<<");
                for (std::size_t i = 0; i < parts.size(); ++i) {
                    if (i) out_.push_back(',');
                    put_ascii(out_, parts[i]);
                }
                put_ascii(out_, ">>");
                return;
            }
            case term_type::nil:
                put_ascii(out_, "[]");
                return;
            case term_type::list:
                if (d == 1) {
                    put_ascii(out_, "[...]");
                    return;
                }
                out_.push_back('[');
                push(step::list_tail, &t.tail(), 0, d - 1);
                push(step::value, &t.head(), 0, d - 1);
                return;
            case term_type::tuple:
                if (t.tuple_size() == 0) {
                    put_ascii(out_, "{}");
                    return;
                }
                if (d == 1) {
                    put_ascii(out_, "{...}");
                    return;
                }
                out_.push_back('{');
                push(step::tuple_rest, &t, 1, d - 1);
                push(step::value, &t.elements()[0], 0, d - 1);
                return;
            case term_type::map:
                if (d == 1 || t.map_size() == 0) {
                    put_ascii(out_, "#{}");
                    return;
                }
                put_ascii(out_, "#{");
                push(step::map_body, &t, 1, d - 1, d - 1);
                push_association(t, 0, d - 1);
                return;
            default:
                put_printed(out_, t, opts_);
                return;
        }
    }

    void push_association(const term& m, std::size_t i, std::int64_t d) {
        push(step::value, &m.map_values()[i], 0, d);
        push_chars(" => ");
        push(step::value, &m.map_keys()[i], 0, d);
    }

    void list_tail(const term& t, std::int64_t d) {
        if (t.is_nil()) {
            out_.push_back(']');
        } else if (d == 1) {
            put_ascii(out_, "|...]");
        } else if (t.is_cons()) {
            out_.push_back(',');
            push(step::list_tail, &t.tail(), 0, d - 1);
            push(step::value, &t.head(), 0, d - 1);
        } else {
            out_.push_back('|');
            push_chars("]");
            push(step::value, &t, 0, d - 1);
        }
    }

    void tuple_rest(const term& t, std::size_t i, std::int64_t d) {
        if (i == t.tuple_size()) {
            out_.push_back('}');
        } else if (d == 1) {
            put_ascii(out_, ",...}");
        } else {
            out_.push_back(',');
            push(step::tuple_rest, &t, i + 1, d - 1);
            push(step::value, &t.elements()[i], 0, d - 1);
        }
    }

    void map_body(const term& m, std::size_t i, std::int64_t d, std::int64_t d0) {
        if (d == 1) {
            put_ascii(out_, ",...}");
        } else if (i == m.map_size()) {
            out_.push_back('}');
        } else {
            out_.push_back(',');
            push(step::map_body, &m, i + 1, d - 1, d0);
            push_association(m, i, d0);
        }
    }

    text& out_;
    bool unicode_;
    const format_options& opts_;
    std::vector<item> stack_;
};

}  // namespace

void write_term(text& out, const term& t, std::int64_t depth, bool unicode, const format_options& opts) {
    writer(out, unicode, opts).run(t, depth);
}

void write_atom(text& out, atom a, bool unicode) {
    // Characters above 255 only occur in quoted atoms, where write_atom_as_latin1 escapes them.
    std::string s;
    print_atom(s, a);
    std::size_t at = out.size();
    append_decoded(out, s);
    if (unicode) return;
    text tail = out.substr(at);
    out.resize(at);
    for (char32_t c : tail) {
        if (c > 255) {
            put_ascii(out, "\\x{");
            put_hex(out, c);
            out.push_back('}');
        } else {
            out.push_back(c);
        }
    }
}

void write_string(text& out, std::u32string_view chars, bool unicode) {
    (void)unicode;  // both encodings escape alike below 256, and Latin-1 text has nothing above
    out.push_back('"');
    for (char32_t c : chars)
        put_string_char(out, c, '"');
    out.push_back('"');
}

std::vector<std::string> binary_parts(const term& bin, std::int64_t depth) {
    std::vector<std::string> parts;
    byte_span bytes = bin.bytes();
    std::size_t bits = bin.bit_size();
    std::size_t i = 0;
    std::int64_t d = depth;
    while (bits > 0) {
        if (d == 1) {
            parts.emplace_back("...");
            break;
        }
        if (bits >= 8) {
            parts.push_back(std::to_string(bytes[i]));
            ++i;
            bits -= 8;
            --d;
            continue;
        }
        unsigned value = static_cast<unsigned>(bytes[i]) >> (8 - bits);
        parts.push_back(std::to_string(value) + ":" + std::to_string(bits));
        break;
    }
    return parts;
}

bool printable_char(std::int64_t c, bool unicode) noexcept {
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

}  // namespace nodus::io_lib::detail

// io_lib_pretty:print/2 as io_lib:format/2 calls it for ~p and ~P (OTP 25, no chars_limit, no
// record definitions). Like io_lib_pretty, it first builds an intermediate form that knows the
// one-line length of every subterm (print_length), then lays it out: a term that fits in what
// is left of the line is written on it; otherwise lists and tuples put elements one per line
// unless several short atomic ones fit together, tagged tuples ({atom, ...}) indent their
// elements after the tag (or by a fixed step when the tag is long, see tag_indent), map
// associations break after " =>" when they do not fit, and binaries wrap between bytes. The
// tag indentation is chosen by a trial layout (cind) that gives up when the text would move
// too far right.
//
// Names and the order of the length tests follow io_lib_pretty so that each function here can
// be checked against its Erlang counterpart: Col is the current column (1-based), Ll the line
// length, M the one-line length of the whole term, W the characters already on the line for
// the current element, LD the characters that must still follow on the last line (closing
// brackets), Ind the indentation of continuation lines.
#include <algorithm>

#include "io_impl.hpp"
#include "term/scan_utf8.hpp"

namespace nodus::io_lib::detail {

namespace {

using i64 = std::int64_t;

struct node {
    enum class kind : std::uint8_t { leaf, bin, list, tuple, map, pair };
    enum class tail_kind : std::uint8_t { none, dots, improper };
    kind k = kind::leaf;
    tail_kind tail = tail_kind::none;  // list, tuple, map: what ends the elements
    bool tagged = false;               // tuple: an atom first and more than one element
    i64 len = 0;                       // length on one line
    text s;                            // leaf
    std::vector<std::string> parts;    // bin
    // list, tuple, map: the elements (an improper list's tail last); pair: key and value.
    std::vector<node> kids;

    bool atomic() const noexcept { return k == kind::leaf; }  // io_lib_pretty's ?ATM
    // The elements proper (without an improper tail).
    std::size_t elements() const noexcept {
        return tail == tail_kind::improper ? kids.size() - 1 : kids.size();
    }
};

node leaf(text s, i64 len) {
    node n;
    n.s = std::move(s);
    n.len = len;
    return n;
}

node leaf_ascii(std::string_view s) {
    return leaf(text(s.begin(), s.end()), static_cast<i64>(s.size()));
}

// The Latin-1 printable prefix of bytes: all of them, or the count before the first that is not.
std::size_t printable_prefix(byte_span b) {
    std::size_t i = 0;
    while (i < b.size() && printable_char(b[i], false))
        ++i;
    return i;
}

class pretty {
public:
    pretty(text& out, const pretty_request& req, context& ctx) : out_(out), req_(req), ctx_(ctx) {}

    bool print(const term& t) {
        if (req_.depth == 0) {
            put("...");
            return true;
        }
        i64 col = std::max<i64>(req_.column, 1);
        i64 ll = req_.line_length;
        if (t.is_atom()) {
            write_atom(out_, t.as_atom(), req_.unicode);
            return true;
        }
        if (!(t.is_tuple() || t.is_list() || t.is_map() || t.is_bitstring())) {
            write_term(out_, t, -1, false, ctx_.opts);
            return true;
        }
        node root;
        if (!print_length(t, req_.depth, root)) return false;
        i64 m = root.len;
        if (ll == 0 || root.len < ll - col) {
            write(root);
            return check_size();
        }
        i64 tind = 1;
        if (cind(root, col, ll, m, -1, 0, 0))
            tind = -1;
        else if (cind(root, col, ll, m, 4, 0, 0))
            tind = 4;
        pp(root, col, ll, m, tind, col - 1, 0, 0);
        return check_size();
    }

private:
    // ---- print_length: the intermediate form ----

    bool print_length(const term& t, i64 d, node& n) {
        if (++nesting_ > ctx_.opts.max_nesting)
            return ctx_.fail(format_error::kind::too_large, "term nested deeper than max_nesting");
        bool ok = print_length_1(t, d, n);
        --nesting_;
        return ok;
    }

    bool print_length_1(const term& t, i64 d, node& n) {
        if (t.is_nil()) {
            n = leaf_ascii("[]");
        } else if (t.is_tuple() && t.tuple_size() == 0) {
            n = leaf_ascii("{}");
        } else if (t.is_map() && t.map_size() == 0) {
            n = leaf_ascii("#{}");
        } else if (t.is_atom()) {
            text s;
            write_atom(s, t.as_atom(), req_.unicode);
            i64 len = static_cast<i64>(chars_length(s));
            n = leaf(std::move(s), len);
        } else if (t.is_cons()) {
            if (req_.strings && d != 1 && printable_list(t)) {
                text chars;
                for (const term* p = &t; p->is_cons(); p = &p->tail())
                    chars.push_back(static_cast<char32_t>(p->head().small_value()));
                text s;
                write_string(s, chars, req_.unicode);
                i64 len = static_cast<i64>(chars_length(s));
                n = leaf(std::move(s), len);
            } else {
                return print_length_list(t, d, n);
            }
        } else if (t.is_tuple()) {
            if (d == 1) {
                n = leaf_ascii("{...}");
            } else {
                return print_length_tuple(t, d, n);
            }
        } else if (t.is_map()) {
            if (d == 1) {
                n = leaf_ascii("#{...}");
            } else {
                return print_length_map(t, d, n);
            }
        } else if (t.is_bitstring()) {
            if (t.bit_size() == 0) {
                n = leaf_ascii("<<>>");
            } else if (d == 1) {
                n = leaf_ascii("<<...>>");
            } else {
                print_length_binary(t, d, n);
            }
        } else {
            text s;
            write_term(s, t, -1, false, ctx_.opts);
            i64 len = static_cast<i64>(chars_length(s));
            n = leaf(std::move(s), len);
        }
        return true;
    }

    // io_lib:printable_latin1_list/1 under ~p, io_lib:printable_list/1 (by the printable
    // range) under ~tp.
    bool printable_list(const term& list) const {
        bool unicode = req_.unicode && ctx_.opts.unicode_printable;
        const term* t = &list;
        for (; t->is_cons(); t = &t->tail()) {
            const term& h = t->head();
            if (!h.is_small() || !printable_char(h.small_value(), unicode)) return false;
        }
        return t->is_nil();
    }

    // Separators between the elements, and the length of "..." when the depth ran out.
    static void add_lengths(node& n, i64 brackets) {
        i64 len = brackets;
        std::size_t count = n.kids.size() + (n.tail == node::tail_kind::dots ? 1 : 0);
        for (const node& k : n.kids)
            len += k.len;
        if (n.tail == node::tail_kind::dots) len += 3;
        if (count > 1) len += static_cast<i64>(count - 1);
        n.len = len;
    }

    bool print_length_list(const term& list, i64 d, node& n) {
        n.k = node::kind::list;
        const term* t = &list;
        while (!t->is_nil()) {
            if (d == 1) {
                n.tail = node::tail_kind::dots;
                break;
            }
            n.kids.emplace_back();
            if (!t->is_cons()) {
                n.tail = node::tail_kind::improper;
                if (!print_length(*t, d - 1, n.kids.back())) return false;
                break;
            }
            if (!print_length(t->head(), d - 1, n.kids.back())) return false;
            t = &t->tail();
            --d;
        }
        add_lengths(n, 2);
        return true;
    }

    bool print_length_tuple(const term& tuple, i64 d, node& n) {
        n.k = node::kind::tuple;
        auto elems = tuple.elements();
        for (const term& e : elems) {
            if (d == 1) {
                n.tail = node::tail_kind::dots;
                break;
            }
            n.kids.emplace_back();
            if (!print_length(e, d - 1, n.kids.back())) return false;
            --d;
        }
        n.tagged = elems[0].is_atom() && elems.size() > 1;
        add_lengths(n, 2);
        return true;
    }

    bool print_length_map(const term& map, i64 d, node& n) {
        n.k = node::kind::map;
        auto keys = map.map_keys();
        auto values = map.map_values();
        i64 d0 = d - 1;
        for (std::size_t i = 0; i < keys.size(); ++i, --d) {
            if (d == 1) {
                n.tail = node::tail_kind::dots;
                break;
            }
            node pair;
            pair.k = node::kind::pair;
            pair.kids.resize(2);
            if (!print_length(keys[i], d0, pair.kids[0]) || !print_length(values[i], d0, pair.kids[1]))
                return false;
            pair.len = pair.kids[0].len + 4 + pair.kids[1].len;
            n.kids.push_back(std::move(pair));
        }
        add_lengths(n, 3);
        return true;
    }

    // A binary: text when printable (io_lib_pretty's printable_bin), else its bytes.
    void print_length_binary(const term& bin, i64 d, node& n) {
        text chars;
        bool ascii = false, cut = false;
        if (req_.strings && bin.trailing_bits() == 0 && printable_binary(bin, d - 1, chars, ascii, cut)) {
            text s;
            write_string(s, chars, true);
            i64 slen = static_cast<i64>(chars_length(s));
            text out{'<', '<'};
            out += s;
            std::string_view end = ascii ? (cut ? "...>>" : ">>") : (cut ? "/utf8...>>" : "/utf8>>");
            out.append(end.begin(), end.end());
            n = leaf(std::move(out), slen + 4 + static_cast<i64>(end.size()) - 2);
            return;
        }
        n.k = node::kind::bin;
        n.parts = binary_parts(bin, d);
        n.len = 4;
        for (const auto& p : n.parts)
            n.len += static_cast<i64>(p.size());
        if (n.parts.size() > 1) n.len += static_cast<i64>(n.parts.size() - 1);
    }

    // printable_bin0/4: whether the binary (whole bytes) prints as text at depth d, and the
    // characters to print. ascii: every character is one byte (no /utf8); cut: only a prefix
    // prints (followed by ...).
    bool printable_binary(const term& bin, i64 d, text& chars, bool& ascii, bool& cut) const {
        byte_span b = bin.bytes();
        i64 size = static_cast<i64>(b.size());
        i64 len = d >= 0 ? (d > size / 4 ? size : std::min(4 * d, size)) : size;  // no overflow for huge d
        if (len == 0) return false;
        if (req_.unicode && valid_utf8_prefix(b, len)) {
            // printable_unicode/4: up to len characters while printable in the printable range.
            const auto* p = b.data();
            const auto* end = p + b.size();
            i64 left = len;
            while (left > 0 && p < end) {
                std::uint32_t cp;
                std::size_t k = nodus::detail::utf8_decode(p, end, cp);
                if (k == 0 || !printable_char(cp, ctx_.opts.unicode_printable)) break;
                chars.push_back(static_cast<char32_t>(cp));
                p += k;
                --left;
            }
            i64 used = static_cast<i64>(p - b.data());
            ascii = used == static_cast<i64>(chars.size());
            if (p == end) return true;
            if (d > 0 && len - left >= d) {
                cut = true;
                return true;
            }
            return false;
        }
        // Latin-1: each byte is a character.
        ascii = true;
        i64 n = std::min<i64>(20, len);
        i64 good = static_cast<i64>(printable_prefix(b.first(static_cast<std::size_t>(n))));
        i64 keep;
        if (good == n) {
            if (n == size) {
                keep = n;
            } else if (n == len) {
                keep = n;
                cut = true;
            } else {
                i64 more =
                    static_cast<i64>(printable_prefix(b.subspan(20, static_cast<std::size_t>(len - 20))));
                if (20 + more == len && size == len) {
                    keep = len;
                } else if (d > 0 && 20 + more >= d) {
                    keep = 20 + more;
                    cut = true;
                } else {
                    return false;
                }
            }
        } else if (d > 0 && good >= d) {
            keep = good;
            cut = true;
        } else {
            return false;
        }
        chars.assign(b.begin(), b.begin() + keep);
        return true;
    }

    // valid_utf8/2: the first n characters (or all, if fewer) are well-formed UTF-8.
    static bool valid_utf8_prefix(byte_span b, i64 n) {
        const auto* p = b.data();
        const auto* end = p + b.size();
        for (; p < end && n > 0; --n) {
            std::uint32_t cp;
            std::size_t k = nodus::detail::utf8_decode(p, end, cp);
            if (k == 0) return false;
            p += k;
        }
        return true;
    }

    // ---- one-line writing ----

    void put(std::string_view s) { out_.append(s.begin(), s.end()); }
    void spaces(i64 n) {
        if (n > 0) out_.append(static_cast<std::size_t>(n), U' ');
    }
    // Past max_output the layout stops writing (size_ok_), so that a huge term laid out with
    // deep indentation cannot take memory first and fail later.
    void newline(i64 ind) {
        out_.push_back('\n');
        if (out_.size() + static_cast<std::size_t>(std::max<i64>(ind, 0)) > ctx_.opts.max_output) {
            size_ok_ = false;
            return;
        }
        spaces(ind);
    }
    bool check_size() {
        if (!size_ok_ || out_.size() > ctx_.opts.max_output)
            return ctx_.fail(format_error::kind::too_large, "output longer than max_output");
        return true;
    }

    void write(const node& n) {
        switch (n.k) {
            case node::kind::leaf:
                out_ += n.s;
                return;
            case node::kind::bin:
                put("<<");
                for (std::size_t i = 0; i < n.parts.size(); ++i) {
                    if (i) out_.push_back(',');
                    put(n.parts[i]);
                }
                put(">>");
                return;
            case node::kind::pair:
                write_pair(n);
                return;
            case node::kind::list:
                out_.push_back('[');
                write_list(n, '|');
                out_.push_back(']');
                return;
            case node::kind::tuple:
                out_.push_back('{');
                write_list(n, ',');
                out_.push_back('}');
                return;
            case node::kind::map:
                put("#{");
                write_list(n, ',');
                out_.push_back('}');
                return;
        }
    }

    void write_pair(const node& p) {
        write(p.kids[0]);
        put(" => ");
        write(p.kids[1]);
    }

    // write_list/2 and write_tail/2; sep comes before an improper tail or the dots.
    void write_list(const node& n, char32_t sep) {
        std::size_t count = n.elements();
        for (std::size_t i = 0; i < count; ++i) {
            if (i) out_.push_back(',');
            write(n.kids[i]);
        }
        if (n.tail == node::tail_kind::dots) {
            if (count) out_.push_back(sep);
            put("...");
        } else if (n.tail == node::tail_kind::improper) {
            out_.push_back(sep);
            write(n.kids.back());
        }
    }

    // ---- layout ----

    // last_depth/2: LD for an element followed by more elements (0) or by the end (LD + 1).
    static i64 last_depth(const node& n, std::size_t next, i64 ld) {
        return next < n.elements() ? 0 : ld + 1;
    }

    static bool fits(const node& e, i64 col, i64 ll, i64 m, i64 ld, i64 w) {
        return e.len < ll - col - ld && e.len + w + ld <= m;
    }

    // Whether element e (of ELen = 1 + len with its comma) stays on the current line.
    static bool fits_after(const node& e, i64 col, i64 ll, i64 m, i64 ld1, i64 w, bool atomic) {
        i64 elen = 1 + e.len;
        if (!atomic) return false;
        if (ld1 == 0) return elen + 1 < ll - col && w + elen + 1 <= m;
        return elen < ll - col - ld1 && w + elen + ld1 <= m;
    }

    static bool pair_atomic(const node& p) { return p.kids[0].atomic() && p.kids[1].atomic(); }

    void pp(const node& n, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld, i64 w) {
        if (!size_ok_) return;
        if (fits(n, col, ll, m, ld, w)) {
            write(n);
            return;
        }
        switch (n.k) {
            case node::kind::list:
                out_.push_back('[');
                pp_list(n, 0, col + 1, ll, m, tind, ind + 1, ld, '|', w + 1);
                out_.push_back(']');
                return;
            case node::kind::tuple:
                out_.push_back('{');
                if (n.tagged)
                    pp_tag_tuple(n, col, ll, m, tind, ind, ld, w + 1);
                else
                    pp_list(n, 0, col + 1, ll, m, tind, ind + 1, ld, ',', w + 1);
                out_.push_back('}');
                return;
            case node::kind::map:
                put("#{");
                pp_map(n, col + 2, ll, m, tind, ind + 2, ld, w + 1);
                out_.push_back('}');
                return;
            case node::kind::bin:
                pp_binary(n, col + 2, ll, m, ind + 2, ld, w);
                return;
            case node::kind::leaf:
            case node::kind::pair:
                write(n);
                return;
        }
    }

    // A tagged tuple: the tag, then the other elements aligned after "{Tag," or, when the tag
    // is longer than tind, on new lines indented by tind.
    void pp_tag_tuple(const node& n, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld, i64 w) {
        const node& tag = n.kids[0];
        i64 tlen = tag.len;
        i64 tag_ind = tlen + 2;
        i64 tcol = col + tag_ind;
        if (tind > 0 && tag_ind > tind) {
            out_ += tag.s;
            pp_tail(n, 1, col + tind, tcol, ll, m, tind, ind + tind, ld, ',', w + tlen);
        } else {
            out_ += tag.s;
            out_.push_back(',');
            pp_list(n, 1, tcol, ll, m, tind, ind + tag_ind, ld, ',', w + tlen + 1);
        }
    }

    // pp_list/9 from element `from` of n.
    void pp_list(const node& n, std::size_t from, i64 col0, i64 ll, i64 m, i64 tind, i64 ind, i64 ld,
                 char32_t sep, i64 w) {
        if (from >= n.elements()) {  // only the dots are left
            put("...");
            return;
        }
        i64 we = pp_element(n.kids[from], col0, ll, m, tind, ind, last_depth(n, from + 1, ld), w);
        pp_tail(n, from + 1, col0, col0 + we, ll, m, tind, ind, ld, sep, w + we);
    }

    void pp_tail(const node& n, std::size_t i, i64 col0, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld,
                 char32_t sep, i64 w) {
        for (; i < n.elements() && size_ok_; ++i) {
            const node& e = n.kids[i];
            i64 ld1 = last_depth(n, i + 1, ld);
            i64 elen = 1 + e.len;
            if (fits_after(e, col, ll, m, ld1, w, e.atomic())) {
                out_.push_back(',');
                write(e);
                col += elen;
                w += elen;
            } else {
                out_.push_back(',');
                newline(ind);
                i64 we = pp_element(e, col0, ll, m, tind, ind, ld1, 0);
                col = col0 + we;
                w = we;
            }
        }
        if (n.tail == node::tail_kind::dots) {
            out_.push_back(sep);
            put("...");
        } else if (n.tail == node::tail_kind::improper) {
            const node& e = n.kids.back();
            if (e.len + 1 < ll - col - (ld + 1) && e.len + 1 + w + (ld + 1) <= m && e.atomic()) {
                out_.push_back(sep);
                write(e);
            } else {
                out_.push_back(sep);
                newline(ind);
                pp(e, col0, ll, m, tind, ind, ld + 1, 0);
            }
        }
    }

    // The width an element takes on its line, or ll when it was laid out over several lines
    // (which forces the next element onto a new line).
    i64 pp_element(const node& e, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld, i64 w) {
        if (fits(e, col, ll, m, ld, w) && e.atomic()) {
            write(e);
            return e.len;
        }
        pp(e, col, ll, m, tind, ind, ld, w);
        return ll;
    }

    void pp_map(const node& n, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld, i64 w) {
        std::size_t count = n.elements();
        if (count == 0) {
            if (n.tail == node::tail_kind::dots) put("...");
            return;
        }
        i64 pw = pp_pair(n.kids[0], col, ll, m, tind, ind, last_depth(n, 1, ld), w);
        // As io_lib_pretty: the rest starts with W = PW (not W + PW).
        i64 col0 = col;
        i64 c = col + pw;
        w = pw;
        for (std::size_t i = 1; i < count && size_ok_; ++i) {
            const node& p = n.kids[i];
            i64 ld1 = last_depth(n, i + 1, ld);
            i64 elen = 1 + p.len;
            if (fits_after(p, c, ll, m, ld1, w, pair_atomic(p))) {
                out_.push_back(',');
                write_pair(p);
                c += elen;
                w += elen;
            } else {
                out_.push_back(',');
                newline(ind);
                i64 pw1 = pp_pair(p, col0, ll, m, tind, ind, ld1, 0);
                c = col0 + pw1;
                w = pw1;
            }
        }
        if (n.tail == node::tail_kind::dots) put(",...");
    }

    i64 pp_pair(const node& p, i64 col, i64 ll, i64 m, i64 tind, i64 ind, i64 ld, i64 w) {
        if (fits(p, col, ll, m, ld, w)) {
            write_pair(p);
            return pair_atomic(p) ? p.len : ll;
        }
        i64 i = map_value_indent(tind);
        pp(p.kids[0], col, ll, m, tind, ind, ld, w);
        put(" =>");
        newline(ind + i);
        pp(p.kids[1], col + i, ll, m, tind, ind + i, ld, 0);
        return ll;
    }

    static i64 map_value_indent(i64 tind) { return tind > 0 ? tind : 4; }

    void pp_binary(const node& n, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w) {
        i64 width = std::max<i64>(8, std::min(ll - col, m - 4 - w) - ld);
        put("<<");
        i64 left = width;
        const auto& parts = n.parts;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            i64 len = static_cast<i64>(parts[i].size()) + 1;
            if (left - len < 0) {
                newline(ind);
                left = width - len;
            } else {
                left -= len;
            }
            put(parts[i]);
            out_.push_back(',');
        }
        if (!parts.empty()) {
            const std::string& last = parts.back();
            if (static_cast<i64>(last.size()) > left) newline(ind);
            put(last);
        }
        put(">>");
    }

    // ---- cind: can the layout use tag indentation `ind` (-1: none, 4) without running off? ----

    bool cind(const node& n, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w) const {
        if (fits(n, col, ll, m, ld, w)) return true;
        switch (n.k) {
            case node::kind::list:
                return cind_list(n, 0, col + 1, ll, m, ind, ld, w + 1);
            case node::kind::tuple:
                if (n.tagged) return cind_tag_tuple(n, col, ll, m, ind, ld, w + 1);
                return cind_list(n, 0, col + 1, ll, m, ind, ld, w + 1);
            case node::kind::map:
                return cind_map(n, col + 2, ll, m, ind, ld, w + 2);
            default:
                return true;
        }
    }

    bool cind_tag_tuple(const node& n, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w) const {
        i64 tlen = n.kids[0].len;
        i64 tag_ind = tlen + 2;
        i64 tcol = col + tag_ind;
        if (ind > 0 && tag_ind > ind) {
            i64 col1 = col + ind;
            if (m + col1 <= ll || col1 <= ll / 2)
                return cind_tail(n, 1, col1, tcol, ll, m, ind, ld, w + tlen);
            return false;
        }
        if (m + tcol < ll || tcol < ll / 2) return cind_list(n, 1, tcol, ll, m, ind, ld, w + tlen + 1);
        return false;
    }

    bool cind_map(const node& n, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w) const {
        std::size_t count = n.elements();
        if (count == 0) return true;
        i64 pw = 0;
        if (!cind_pair(n.kids[0], col, ll, m, ind, last_depth(n, 1, ld), w, pw)) return false;
        i64 col0 = col;
        i64 c = col + pw;
        w += pw;
        for (std::size_t i = 1; i < count; ++i) {
            const node& p = n.kids[i];
            i64 ld1 = last_depth(n, i + 1, ld);
            i64 elen = 1 + p.len;
            if (fits_after(p, c, ll, m, ld1, w, pair_atomic(p))) {
                c += elen;
                w += elen;
            } else {
                if (!cind_pair(p, col0, ll, m, ind, ld1, 0, pw)) return false;
                c = col0 + pw;
                w = pw;
            }
        }
        return true;
    }

    bool cind_pair(const node& p, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w, i64& pw) const {
        if (fits(p, col, ll, m, ld, w)) {
            pw = pair_atomic(p) ? p.len : ll;
            return true;
        }
        if (!cind(p.kids[0], col, ll, m, ind, ld, w)) return false;
        if (!cind(p.kids[1], col + map_value_indent(ind), ll, m, ind, ld, 0)) return false;
        pw = ll;
        return true;
    }

    bool cind_list(const node& n, std::size_t from, i64 col0, i64 ll, i64 m, i64 ind, i64 ld, i64 w) const {
        if (from >= n.elements()) return true;  // only the dots
        i64 we = 0;
        if (!cind_element(n.kids[from], col0, ll, m, ind, last_depth(n, from + 1, ld), w, we)) return false;
        return cind_tail(n, from + 1, col0, col0 + we, ll, m, ind, ld, w + we);
    }

    bool cind_tail(const node& n, std::size_t i, i64 col0, i64 col, i64 ll, i64 m, i64 ind, i64 ld,
                   i64 w) const {
        for (; i < n.elements(); ++i) {
            const node& e = n.kids[i];
            i64 ld1 = last_depth(n, i + 1, ld);
            i64 elen = 1 + e.len;
            if (fits_after(e, col, ll, m, ld1, w, e.atomic())) {
                col += elen;
                w += elen;
            } else {
                i64 we = 0;
                if (!cind_element(e, col0, ll, m, ind, ld1, 0, we)) return false;
                col = col0 + we;
                w = we;
            }
        }
        if (n.tail == node::tail_kind::improper) {
            const node& e = n.kids.back();
            if (e.len + 1 < ll - col - (ld + 1) && e.len + 1 + w + (ld + 1) <= m && e.atomic()) return true;
            // As io_lib_pretty, from the current column (pp_tail uses the start column).
            return cind(e, col, ll, m, ind, ld + 1, 0);
        }
        return true;
    }

    bool cind_element(const node& e, i64 col, i64 ll, i64 m, i64 ind, i64 ld, i64 w, i64& we) const {
        if (fits(e, col, ll, m, ld, w) && e.atomic()) {
            we = e.len;
            return true;
        }
        if (!cind(e, col, ll, m, ind, ld, w)) return false;
        we = ll;
        return true;
    }

    text& out_;
    const pretty_request& req_;
    context& ctx_;
    std::size_t nesting_ = 0;
    bool size_ok_ = true;
};

}  // namespace

bool pretty_print(text& out, const term& t, const pretty_request& req, context& ctx) {
    return pretty(out, req, ctx).print(t);
}

}  // namespace nodus::io_lib::detail

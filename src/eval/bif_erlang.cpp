// Module erlang: the synchronous BIFs (usable in guards and by the evaluator directly), the
// process BIFs (spawn, links, monitors, registry, timers, exits), and the tables saying which
// functions are auto-imported (erl_internal:bif/2) and which are guard BIFs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "eval_impl.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/node/net.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"
#include "services/standard.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

struct key_hash {
    std::size_t operator()(const export_key& k) const noexcept { return export_key_hash{}(k); }
};

struct sync_table {
    std::mutex mutex;
    std::unordered_map<export_key, bif_fn, key_hash> fns;
};

sync_table& table() {
    static sync_table t;
    return t;
}

std::once_flag registered_once;

using args_t = std::span<const term>;

// ---- argument helpers ----

std::int64_t int_arg(const term& t) {
    auto v = t.to_int64();
    if (!v) badarg();
    return *v;
}

atom atom_arg(const term& t) {
    if (!t.is_atom()) badarg();
    return t.as_atom();
}

term chars_term(std::string_view text) {
    // A list of bytes (for ASCII/Latin-1 text produced by the BIFs themselves).
    std::vector<term> out;
    out.reserve(text.size());
    for (unsigned char c : text)
        out.emplace_back(static_cast<int>(c));
    return make_list(std::move(out));
}

// The characters of a flat list of code points, as UTF-8; badarg otherwise.
std::string string_arg(const term& t) {
    auto s = string_utf8(t);
    if (!s) badarg();
    return *s;
}

term bool_term(bool b) {
    return term(b);
}

// ---- type tests ----

term is_atom_(args_t a) {
    return bool_term(a[0].is_atom());
}
term is_binary_(args_t a) {
    return bool_term(a[0].is_binary());
}
term is_bitstring_(args_t a) {
    return bool_term(a[0].is_bitstring());
}
term is_boolean_(args_t a) {
    return bool_term(a[0].is_bool());
}
term is_float_(args_t a) {
    return bool_term(a[0].is_float());
}
term is_function1(args_t a) {
    return bool_term(a[0].is_fun());
}
term is_function2(args_t a) {
    auto n = a[1].to_int64();
    if (!n || *n < 0) badarg();
    if (!a[0].is_fun()) return bool_term(false);
    return bool_term(a[0].fun_arity() == static_cast<unsigned>(*n));
}
term is_integer_(args_t a) {
    return bool_term(a[0].is_integer());
}
term is_list_(args_t a) {
    return bool_term(a[0].is_list());
}
term is_map_(args_t a) {
    return bool_term(a[0].is_map());
}
term is_number_(args_t a) {
    return bool_term(a[0].is_number());
}
term is_pid_(args_t a) {
    return bool_term(a[0].is_pid());
}
term is_port_(args_t a) {
    return bool_term(a[0].is_port());
}
term is_reference_(args_t a) {
    return bool_term(a[0].is_reference());
}
term is_tuple_(args_t a) {
    return bool_term(a[0].is_tuple());
}
term is_record2(args_t a) {
    atom tag = atom_arg(a[1]);
    return bool_term(a[0].is_tuple() && a[0].tuple_size() >= 1 && a[0][0].is_atom(tag));
}
term is_record3(args_t a) {
    atom tag = atom_arg(a[1]);
    auto n = int_arg(a[2]);
    return bool_term(a[0].is_tuple() && static_cast<std::int64_t>(a[0].tuple_size()) == n && n >= 1 &&
                     a[0][0].is_atom(tag));
}
term is_map_key_(args_t a) {
    if (!a[1].is_map()) fail(tuple("badmap"_a, a[1]));
    return bool_term(a[1].map_get(a[0]) != nullptr);
}

// ---- numbers ----

term abs_(args_t a) {
    if (!a[0].is_number()) badarg();
    return number_abs(a[0]);
}
term float_(args_t a) {
    if (!a[0].is_number()) badarg();
    auto d = to_double(a[0]);
    if (!d) badarg();
    return term(*d);
}
term rounding(const term& n, double (*fn)(double)) {
    if (n.is_integer()) return n;
    if (!n.is_float()) badarg();
    return integer_from_double(fn(n.float_value()));
}
term round_(args_t a) {
    return rounding(a[0], [](double d) { return std::round(d); });
}
term trunc_(args_t a) {
    return rounding(a[0], [](double d) { return std::trunc(d); });
}
term floor_(args_t a) {
    return rounding(a[0], [](double d) { return std::floor(d); });
}
term ceil_(args_t a) {
    return rounding(a[0], [](double d) { return std::ceil(d); });
}
term max_(args_t a) {
    return compare(a[0], a[1]) < 0 ? a[1] : a[0];
}
term min_(args_t a) {
    return compare(a[1], a[0]) < 0 ? a[1] : a[0];
}

template <const char* Op>
term arith_op(args_t a) {
    return arith(atom(Op), a[0], a[1]);
}

// ---- data ----

term element_(args_t a) {
    auto i = a[0].to_int64();
    if (!i || !a[1].is_tuple() || *i < 1 || static_cast<std::uint64_t>(*i) > a[1].tuple_size()) badarg();
    return a[1][static_cast<std::size_t>(*i - 1)];
}
term setelement_(args_t a) {
    auto i = a[0].to_int64();
    if (!i || !a[1].is_tuple() || *i < 1 || static_cast<std::uint64_t>(*i) > a[1].tuple_size()) badarg();
    std::vector<term> elems(a[1].elements().begin(), a[1].elements().end());
    elems[static_cast<std::size_t>(*i - 1)] = a[2];
    return make_tuple(std::move(elems));
}
term insert_element_(args_t a) {
    auto i = a[0].to_int64();
    if (!i || !a[1].is_tuple() || *i < 1 || static_cast<std::uint64_t>(*i) > a[1].tuple_size() + 1) badarg();
    std::vector<term> elems(a[1].elements().begin(), a[1].elements().end());
    elems.insert(elems.begin() + (*i - 1), a[2]);
    return make_tuple(std::move(elems));
}
term delete_element_(args_t a) {
    auto i = a[0].to_int64();
    if (!i || !a[1].is_tuple() || *i < 1 || static_cast<std::uint64_t>(*i) > a[1].tuple_size()) badarg();
    std::vector<term> elems(a[1].elements().begin(), a[1].elements().end());
    elems.erase(elems.begin() + (*i - 1));
    return make_tuple(std::move(elems));
}
term append_element_(args_t a) {
    if (!a[0].is_tuple()) badarg();
    std::vector<term> elems(a[0].elements().begin(), a[0].elements().end());
    elems.push_back(a[1]);
    return make_tuple(std::move(elems));
}
term make_tuple2(args_t a) {
    auto n = int_arg(a[0]);
    if (n < 0 || n > (1 << 24)) badarg();
    return make_tuple(std::vector<term>(static_cast<std::size_t>(n), a[1]));
}
term tuple_size_(args_t a) {
    if (!a[0].is_tuple()) badarg();
    return term(static_cast<unsigned long long>(a[0].tuple_size()));
}
term size_(args_t a) {
    if (a[0].is_tuple()) return term(static_cast<unsigned long long>(a[0].tuple_size()));
    if (a[0].is_bitstring()) return term(static_cast<unsigned long long>(a[0].bit_size() / 8));
    badarg();
}
term tuple_to_list_(args_t a) {
    if (!a[0].is_tuple()) badarg();
    return make_list(a[0].elements());
}
term list_to_tuple_(args_t a) {
    auto v = list_to_vector(a[0]);
    if (!v) badarg();
    return make_tuple(std::move(*v));
}
term hd_(args_t a) {
    if (!a[0].is_cons()) badarg();
    return a[0].head();
}
term tl_(args_t a) {
    if (!a[0].is_cons()) badarg();
    return a[0].tail();
}
term length_(args_t a) {
    auto n = a[0].list_length();
    if (!n) badarg();
    return term(static_cast<unsigned long long>(*n));
}
term map_get_(args_t a) {
    if (!a[1].is_map()) fail(tuple("badmap"_a, a[1]));
    const term* v = a[1].map_get(a[0]);
    if (!v) fail(tuple("badkey"_a, a[0]));
    return *v;
}
term map_size_(args_t a) {
    if (!a[0].is_map()) fail(tuple("badmap"_a, a[0]));
    return term(static_cast<unsigned long long>(a[0].map_size()));
}
term bit_size_(args_t a) {
    if (!a[0].is_bitstring()) badarg();
    return term(static_cast<unsigned long long>(a[0].bit_size()));
}
term byte_size_(args_t a) {
    if (!a[0].is_bitstring()) badarg();
    return term(static_cast<unsigned long long>((a[0].bit_size() + 7) / 8));
}
term binary_part3(args_t a) {
    if (!a[0].is_binary()) badarg();
    auto pos = int_arg(a[1]), len = int_arg(a[2]);
    auto size = static_cast<std::int64_t>(a[0].bytes().size());
    if (len < 0) {
        pos += len;
        len = -len;
    }
    if (pos < 0 || pos + len > size) badarg();
    return a[0].sub_binary(static_cast<std::size_t>(pos), static_cast<std::size_t>(len));
}
term binary_part2(args_t a) {
    if (!a[1].is_tuple(2)) badarg();
    term args[3] = {a[0], a[1][0], a[1][1]};
    return binary_part3(args);
}
term split_binary_(args_t a) {
    if (!a[0].is_binary()) badarg();
    auto pos = int_arg(a[1]);
    if (pos < 0 || static_cast<std::size_t>(pos) > a[0].bytes().size()) badarg();
    auto p = static_cast<std::size_t>(pos);
    return tuple(a[0].sub_binary(0, p), a[0].sub_binary(p, a[0].bytes().size() - p));
}

// ---- conversions ----

term atom_to_list_(args_t a) {
    return string(atom_arg(a[0]).name());
}
term atom_to_binary1(args_t a) {
    return binary(atom_arg(a[0]).name());
}
term atom_to_binary2(args_t a) {
    atom x = atom_arg(a[0]);
    atom enc = atom_arg(a[1]);
    if (enc == atoms::latin1) {
        if (!x.is_latin1()) badarg();
        std::string out;
        term chars = string(x.name());
        for (const term* l = &chars; l->is_cons(); l = &l->tail())
            out.push_back(static_cast<char>(l->head().small_value()));
        return binary(out);
    }
    if (enc != atoms::unicode && enc != "utf8"_a) badarg();
    return binary(x.name());
}
atom make_atom(std::string_view utf8) {
    auto r = atom::make(utf8);
    if (!r) {
        if (r.error() == atom_error::table_full) fail(term(atoms::system_limit));
        badarg();
    }
    return *r;
}
term list_to_atom_(args_t a) {
    return make_atom(string_arg(a[0]));
}
term list_to_existing_atom_(args_t a) {
    auto e = atom::existing(string_arg(a[0]));
    if (!e) badarg();
    return *e;
}
std::string binary_text(const term& bin, const term& enc) {
    if (!bin.is_binary()) badarg();
    atom e = atom_arg(enc);
    if (e == atoms::latin1) {
        std::string out;
        for (unsigned char c : bin.as_string_view()) {
            if (c < 0x80) {
                out.push_back(static_cast<char>(c));
            } else {
                out.push_back(static_cast<char>(0xC0 | (c >> 6)));
                out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
            }
        }
        return out;
    }
    if (e != atoms::unicode && e != "utf8"_a) badarg();
    return std::string(bin.as_string_view());
}
term binary_to_atom1(args_t a) {
    return make_atom(binary_text(a[0], "utf8"_a));
}
term binary_to_atom2(args_t a) {
    return make_atom(binary_text(a[0], a[1]));
}
term binary_to_existing_atom1(args_t a) {
    auto e = atom::existing(binary_text(a[0], "utf8"_a));
    if (!e) badarg();
    return *e;
}
term binary_to_existing_atom2(args_t a) {
    auto e = atom::existing(binary_text(a[0], a[1]));
    if (!e) badarg();
    return *e;
}
unsigned base_arg(const term& t) {
    auto b = t.to_int64();
    if (!b || *b < 2 || *b > 36) badarg();
    return static_cast<unsigned>(*b);
}
term integer_to_list1(args_t a) {
    if (!a[0].is_integer()) badarg();
    return chars_term(integer_to_string(a[0], 10));
}
term integer_to_list2(args_t a) {
    if (!a[0].is_integer()) badarg();
    return chars_term(integer_to_string(a[0], base_arg(a[1])));
}
term integer_to_binary1(args_t a) {
    if (!a[0].is_integer()) badarg();
    return binary(integer_to_string(a[0], 10));
}
term integer_to_binary2(args_t a) {
    if (!a[0].is_integer()) badarg();
    return binary(integer_to_string(a[0], base_arg(a[1])));
}
term text_to_integer(const std::string& s, unsigned base) {
    auto v = parse_integer_text(s, base);
    if (!v) badarg();
    return *v;
}
term list_to_integer1(args_t a) {
    return text_to_integer(string_arg(a[0]), 10);
}
term list_to_integer2(args_t a) {
    return text_to_integer(string_arg(a[0]), base_arg(a[1]));
}
term binary_to_integer1(args_t a) {
    if (!a[0].is_binary()) badarg();
    return text_to_integer(std::string(a[0].as_string_view()), 10);
}
term binary_to_integer2(args_t a) {
    if (!a[0].is_binary()) badarg();
    return text_to_integer(std::string(a[0].as_string_view()), base_arg(a[1]));
}
// list_to_float/1 accepts only Erlang float syntax: digits '.' digits [e [+-] digits].
term text_to_float(const std::string& s) {
    std::size_t i = 0, n = s.size();
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t d0 = i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i])))
        ++i;
    if (i == d0 || i >= n || s[i] != '.') badarg();
    ++i;
    std::size_t d1 = i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i])))
        ++i;
    if (i == d1) badarg();
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
        std::size_t d2 = i;
        while (i < n && std::isdigit(static_cast<unsigned char>(s[i])))
            ++i;
        if (i == d2) badarg();
    }
    if (i != n) badarg();
    double d = std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(d)) badarg();
    return term(d);
}
term list_to_float_(args_t a) {
    return text_to_float(string_arg(a[0]));
}
term binary_to_float_(args_t a) {
    if (!a[0].is_binary()) badarg();
    return text_to_float(std::string(a[0].as_string_view()));
}
// float_to_list/1: C's "%.20e", as erts writes it.
std::string float_text_default(double d) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.20e", d);
    return buf;
}
std::string float_text_opts(double d, const term& opts) {
    auto list = list_to_vector(opts);
    if (!list) badarg();
    std::optional<int> decimals, scientific;
    bool compact = false, shortest = false;
    for (const term& o : *list) {
        if (o.is_atom("compact"_a)) {
            compact = true;
        } else if (o.is_atom("short"_a)) {
            shortest = true;
        } else if (o.is_tuple(2) && o[0].is_atom("decimals"_a)) {
            auto v = o[1].to_int64();
            if (!v || *v < 0 || *v > 253) badarg();
            decimals = static_cast<int>(*v);
        } else if (o.is_tuple(2) && o[0].is_atom("scientific"_a)) {
            auto v = o[1].to_int64();
            if (!v || *v < 0 || *v > 249) badarg();
            scientific = static_cast<int>(*v);
        } else {
            badarg();
        }
    }
    if (shortest) {
        std::string out;
        print_float(out, d);
        return out;
    }
    char buf[512];
    if (decimals) {
        std::snprintf(buf, sizeof buf, "%.*f", *decimals, d);
        std::string s = buf;
        if (compact && s.find('.') != std::string::npos) {
            while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.')
                s.pop_back();
        }
        return s;
    }
    std::snprintf(buf, sizeof buf, "%.*e", scientific.value_or(20), d);
    return buf;
}
term float_to_list1(args_t a) {
    if (!a[0].is_float()) badarg();
    return chars_term(float_text_default(a[0].float_value()));
}
term float_to_list2(args_t a) {
    if (!a[0].is_float()) badarg();
    return chars_term(float_text_opts(a[0].float_value(), a[1]));
}
term float_to_binary1(args_t a) {
    if (!a[0].is_float()) badarg();
    return binary(float_text_default(a[0].float_value()));
}
term float_to_binary2(args_t a) {
    if (!a[0].is_float()) badarg();
    return binary(float_text_opts(a[0].float_value(), a[1]));
}
term binary_to_list1(args_t a) {
    if (!a[0].is_binary()) badarg();
    return chars_term(a[0].as_string_view());
}
term binary_to_list3(args_t a) {
    if (!a[0].is_binary()) badarg();
    auto s = int_arg(a[1]), e = int_arg(a[2]);
    auto size = static_cast<std::int64_t>(a[0].bytes().size());
    if (s < 1 || e < s || e > size) badarg();
    return chars_term(
        a[0].as_string_view().substr(static_cast<std::size_t>(s - 1), static_cast<std::size_t>(e - s + 1)));
}
term bitstring_to_list_(args_t a) {
    if (!a[0].is_bitstring()) badarg();
    std::size_t whole = a[0].bit_size() / 8;
    std::vector<term> out;
    for (std::size_t i = 0; i < whole; ++i)
        out.emplace_back(static_cast<int>(a[0].bytes()[i]));
    term tail;
    if (a[0].bit_size() % 8) tail = bitstring(a[0].bytes().subspan(whole), a[0].bit_size() % 8);
    return make_list(std::move(out), tail);
}
term list_to_binary_(args_t a) {
    if (!a[0].is_list()) badarg();
    auto bytes = iolist_bytes(a[0]);
    if (!bytes) badarg();
    return binary(*bytes);
}
term iolist_to_binary_(args_t a) {
    if (a[0].is_binary()) return a[0];
    if (!a[0].is_list()) badarg();
    auto bytes = iolist_bytes(a[0]);
    if (!bytes) badarg();
    return binary(*bytes);
}
term iolist_size_(args_t a) {
    if (a[0].is_binary()) return term(static_cast<unsigned long long>(a[0].bytes().size()));
    if (!a[0].is_list()) badarg();
    auto bytes = iolist_bytes(a[0]);
    if (!bytes) badarg();
    return term(static_cast<unsigned long long>(bytes->size()));
}
term term_to_binary1(args_t a) {
    auto bytes = etf::encode(a[0]);
    return binary(byte_span(bytes.data(), bytes.size()));
}
term term_to_binary2(args_t a) {
    auto opts = list_to_vector(a[1]);
    if (!opts) badarg();
    etf::encode_options eo;
    for (const term& o : *opts) {
        if (o.is_atom("compressed"_a)) {
            eo.compression = 6;
        } else if (o.is_tuple(2) && o[0].is_atom("compressed"_a)) {
            auto l = o[1].to_int64();
            if (!l || *l < 0 || *l > 9) badarg();
            eo.compression = static_cast<int>(*l);
        } else if (o.is_tuple(2) && o[0].is_atom("minor_version"_a)) {
            auto v = o[1].to_int64();
            if (!v || *v < 0 || *v > 2) badarg();
            eo.minor_version = static_cast<unsigned>(*v);
        } else if (!o.is_atom("deterministic"_a)) {
            badarg();
        }
    }
    auto bytes = etf::encode(a[0], eo);
    return binary(byte_span(bytes.data(), bytes.size()));
}
term binary_to_term1(args_t a) {
    if (!a[0].is_binary()) badarg();
    auto t = etf::decode(a[0].bytes());
    if (!t) badarg();
    return *t;
}
term binary_to_term2(args_t a) {
    if (!a[0].is_binary()) badarg();
    auto opts = list_to_vector(a[1]);
    if (!opts) badarg();
    etf::decode_options d;
    for (const term& o : *opts) {
        if (o.is_atom("safe"_a))
            d.allow_new_atoms = false;
        else if (!o.is_atom("used"_a))
            badarg();
    }
    auto t = etf::decode(a[0].bytes(), d);
    if (!t) badarg();
    return *t;
}

// ---- identifiers ----

term self_(args_t) {
    return self_term();
}
term make_ref_(args_t) {
    return make_ref().as_term();
}
term pid_to_list_(args_t a) {
    if (!a[0].is_pid()) badarg();
    print_options o;
    o.local_node = erlang::node();
    return chars_term(to_text(a[0], o));
}
term ref_to_list_(args_t a) {
    if (!a[0].is_reference()) badarg();
    print_options o;
    o.local_node = erlang::node();
    return chars_term(to_text(a[0], o));
}
term list_to_pid_(args_t a) {
    // "<0.Id.Serial>" for this node only (other node numbers are not known here).
    std::string s = string_arg(a[0]);
    unsigned n, id, serial;
    char end;
    if (std::sscanf(s.c_str(), "<%u.%u.%u%c", &n, &id, &serial, &end) != 4 || end != '>' || n != 0) badarg();
    return pid::make(erlang::node(), id, serial, self().creation()).as_term();
}
term make_fun3(args_t a) {
    auto n = int_arg(a[2]);
    if (n < 0 || n > 255) badarg();
    return make_export(atom_arg(a[0]), atom_arg(a[1]), static_cast<unsigned>(n));
}

// ---- booleans and operators as functions ----

term not_(args_t a) {
    if (!a[0].is_bool()) badarg();
    return bool_term(a[0].is_atom(atoms::false_));
}
term bool_op(args_t a, int which) {
    if (!a[0].is_bool() || !a[1].is_bool()) badarg();
    bool x = a[0].is_atom(atoms::true_), y = a[1].is_atom(atoms::true_);
    return bool_term(which == 0 ? (x && y) : which == 1 ? (x || y) : (x != y));
}
term and_(args_t a) {
    return bool_op(a, 0);
}
term or_(args_t a) {
    return bool_op(a, 1);
}
term xor_(args_t a) {
    return bool_op(a, 2);
}
term eq_(args_t a) {
    return bool_term(equal(a[0], a[1]));
}
term ne_(args_t a) {
    return bool_term(!equal(a[0], a[1]));
}
term exact_eq_(args_t a) {
    return bool_term(a[0] == a[1]);
}
term exact_ne_(args_t a) {
    return bool_term(!(a[0] == a[1]));
}
term lt_(args_t a) {
    return bool_term(compare(a[0], a[1]) < 0);
}
term le_(args_t a) {
    return bool_term(compare(a[0], a[1]) <= 0);
}
term gt_(args_t a) {
    return bool_term(compare(a[0], a[1]) > 0);
}
term ge_(args_t a) {
    return bool_term(compare(a[0], a[1]) >= 0);
}
term neg_(args_t a) {
    return arith1(atom("-"), a[0]);
}
term pos_(args_t a) {
    return arith1(atom("+"), a[0]);
}
term bnot_(args_t a) {
    return arith1(atom("bnot"), a[0]);
}
term append_(args_t a) {
    auto xs = list_to_vector(a[0]);
    if (!xs) badarg();
    return make_list(std::move(*xs), a[1]);
}
term subtract_(args_t a) {
    auto xs = list_to_vector(a[0]);
    auto ys = list_to_vector(a[1]);
    if (!xs || !ys) badarg();
    std::vector<bool> gone(xs->size(), false);
    for (const term& y : *ys)
        for (std::size_t i = 0; i < xs->size(); ++i)
            if (!gone[i] && (*xs)[i] == y) {
                gone[i] = true;
                break;
            }
    std::vector<term> out;
    for (std::size_t i = 0; i < xs->size(); ++i)
        if (!gone[i]) out.push_back((*xs)[i]);
    return make_list(std::move(out));
}

// ---- exceptions ----

term exit1(args_t a) {
    throw exit_exception(a[0]);
}
term error1(args_t a) {
    throw error_exception(a[0]);
}
term error2(args_t a) {
    throw error_exception(a[0]);
}
term throw1(args_t a) {
    throw throw_exception(a[0]);
}
term raise3(args_t a) {
    atom c = atom_arg(a[0]);
    if (!a[2].is_list()) badarg();
    if (c == atoms::error) raise(exception_class::error, a[1], a[2]);
    if (c == atoms::exit) raise(exception_class::exit, a[1], a[2]);
    if (c == atoms::throw_) raise(exception_class::throw_, a[1], a[2]);
    badarg();
}

// ---- processes (synchronous ones) ----

pid pid_arg(const term& t) {
    if (!t.is_pid()) badarg();
    return t.as_pid();
}
term exit2(args_t a) {
    if (!a[0].is_pid()) badarg();
    exit(a[0].as_pid(), a[1]);
    return bool_term(true);
}
term link_(args_t a) {
    if (!a[0].is_pid()) badarg();
    link(a[0].as_pid());
    return bool_term(true);
}
term unlink_(args_t a) {
    if (!a[0].is_pid()) badarg();
    unlink(a[0].as_pid());
    return bool_term(true);
}
term monitor2(args_t a) {
    if (!a[0].is_atom(atoms::process)) badarg();
    const term& t = a[1];
    bool ok = t.is_pid() || t.is_atom() || (t.is_tuple(2) && t[0].is_atom() && t[1].is_atom());
    if (!ok) badarg();
    return monitor(t).as_term();
}
term demonitor1(args_t a) {
    if (!a[0].is_reference()) badarg();
    demonitor(a[0].as_reference());
    return bool_term(true);
}
term demonitor2(args_t a) {
    if (!a[0].is_reference()) badarg();
    auto opts = list_to_vector(a[1]);
    if (!opts) badarg();
    bool flush = false, info = false;
    for (const term& o : *opts) {
        if (o.is_atom("flush"_a))
            flush = true;
        else if (o.is_atom("info"_a))
            info = true;
        else
            badarg();
    }
    bool active = demonitor(a[0].as_reference(), flush);
    return bool_term(info ? active : true);
}
term register_(args_t a) {
    atom name = atom_arg(a[0]);
    if (name == atoms::undefined) badarg();
    if (!register_name(name, pid_arg(a[1]))) badarg();
    return bool_term(true);
}
term unregister_(args_t a) {
    if (!unregister(atom_arg(a[0]))) badarg();
    return bool_term(true);
}
term send2(args_t a) {
    const term& d = a[0];
    bool ok = d.is_pid() || d.is_atom() || (d.is_tuple(2) && d[0].is_atom() && d[1].is_atom());
    if (!ok) badarg();
    (void)send(d, a[1]);
    return a[1];
}
term send3(args_t a) {
    if (!a[2].is_list()) badarg();
    return send2(a.first(2));
}
term send_after3(args_t a) {
    auto ms = a[0].to_int64();
    if (!ms || *ms < 0 || *ms > 0xFFFFFFFFLL) badarg();
    const term& d = a[1];
    if (!d.is_pid() && !d.is_atom()) badarg();
    return send_after(std::chrono::milliseconds(*ms), d, a[2]).as_term();
}
term start_timer3(args_t a) {
    // {timeout, TRef, Msg} as erlang:start_timer/3 delivers it: sent by a helper timer message.
    auto ms = a[0].to_int64();
    if (!ms || *ms < 0 || *ms > 0xFFFFFFFFLL) badarg();
    const term& d = a[1];
    if (!d.is_pid() && !d.is_atom()) badarg();
    reference r = make_ref();
    (void)send_after(std::chrono::milliseconds(*ms), d, tuple(atoms::timeout, r, a[2]));
    return r.as_term();
}
term cancel_timer1(args_t a) {
    if (!a[0].is_reference()) badarg();
    auto left = cancel_timer(a[0].as_reference());
    if (!left) return bool_term(false);
    return term(static_cast<long long>(left->count()));
}
term process_flag2(args_t a) {
    if (a[0].is_atom("trap_exit"_a)) {
        if (!a[1].is_bool()) badarg();
        return bool_term(trap_exit(a[1].is_atom(atoms::true_)));
    }
    badarg();
}
term group_leader0(args_t) {
    return group_leader().as_term();
}
term group_leader2(args_t a) {
    group_leader(pid_arg(a[0]), pid_arg(a[1]));
    return bool_term(true);
}
// ---- natives (coroutines) ----

task<term> run_sync(bif_fn fn, std::vector<term> args) {
    co_return fn(args);
}

native_function wrap(bif_fn fn) {
    return [fn](std::vector<term> args) { return run_sync(fn, std::move(args)); };
}

task<> run_mfa_process(atom m, atom f, term args) {
    std::optional<std::pair<exception_class, std::pair<term, term>>> failure;
    try {
        auto v = list_to_vector(args);
        co_await eval::apply(m, f, std::move(*v));
    } catch (const erlang_exception& e) {
        failure = {e.kind(), {e.reason(), stacktrace_of(e)}};
    }
    if (!failure) co_return;
    auto& [cls, rs] = *failure;
    if (cls == exception_class::exit) throw exit_exception(rs.first);
    if (cls == exception_class::error) throw exit_exception(tuple(rs.first, rs.second));
    throw exit_exception(tuple(tuple("nocatch"_a, rs.first), rs.second));
}

bool is_this_node(const term& n) {
    if (!n.is_atom()) badarg();
    return n.as_atom() == erlang::node();
}

pid spawn_mfa(const term& m, const term& f, const term& args, bool link) {
    if (!m.is_atom() || !f.is_atom() || !args.list_length()) badarg();
    atom mm = m.as_atom(), ff = f.as_atom();
    term aa = args;
    auto body = [mm, ff, aa]() { return run_mfa_process(mm, ff, aa); };
    return link ? spawn_link(body) : spawn(body);
}

task<term> spawn1(std::vector<term> a) {
    if (!a[0].is_fun()) badarg();
    co_return spawn_fun(a[0], false).as_term();
}
task<term> spawn_link1(std::vector<term> a) {
    if (!a[0].is_fun()) badarg();
    co_return spawn_fun(a[0], true).as_term();
}
// spawn/2,4 and spawn_link/2,4 on another node go through a SPAWN_REQUEST (nodus/node/net.hpp).
// A fun is sent as erlang:apply(Fun, []): an evaluator fun runs on any node that can apply it
// (an OTP 25 erl node, or a nodus node with the standard exports).
task<term> remote_spawn(atom node, atom m, atom f, term args, bool link) {
    // Not distributed: no other node can be reached (a spawn request would wait for ever).
    if (!erlang::is_alive()) throw error_exception(term("noconnection"_a));
    pid p;
    if (link)
        p = co_await erlang::spawn_link(node, m, f, std::move(args));
    else
        p = co_await erlang::spawn(node, m, f, std::move(args));
    co_return p.as_term();
}
term apply_args_of(const term& fun) {
    return list({fun, term()});
}
task<term> spawn2(std::vector<term> a) {
    if (!a[1].is_fun()) badarg();
    if (!is_this_node(a[0])) co_return co_await remote_spawn(a[0].as_atom(), atoms::erlang, atom("apply"), apply_args_of(a[1]), false);
    co_return spawn_fun(a[1], false).as_term();
}
task<term> spawn_link2(std::vector<term> a) {
    if (!a[1].is_fun()) badarg();
    if (!is_this_node(a[0])) co_return co_await remote_spawn(a[0].as_atom(), atoms::erlang, atom("apply"), apply_args_of(a[1]), true);
    co_return spawn_fun(a[1], true).as_term();
}
task<term> spawn3(std::vector<term> a) {
    co_return spawn_mfa(a[0], a[1], a[2], false).as_term();
}
task<term> spawn_link3(std::vector<term> a) {
    co_return spawn_mfa(a[0], a[1], a[2], true).as_term();
}
task<term> spawn4(std::vector<term> a) {
    if (!a[1].is_atom() || !a[2].is_atom() || !a[3].list_length()) badarg();
    if (!is_this_node(a[0])) co_return co_await remote_spawn(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3], false);
    co_return spawn_mfa(a[1], a[2], a[3], false).as_term();
}
task<term> spawn_link4(std::vector<term> a) {
    if (!a[1].is_atom() || !a[2].is_atom() || !a[3].list_length()) badarg();
    if (!is_this_node(a[0])) co_return co_await remote_spawn(a[0].as_atom(), a[1].as_atom(), a[2].as_atom(), a[3], true);
    co_return spawn_mfa(a[1], a[2], a[3], true).as_term();
}
task<term> spawn_monitor1(std::vector<term> a) {
    if (!a[0].is_fun()) badarg();
    auto [p, r] = spawn_fun_monitor(a[0]);
    co_return tuple(p, r);
}
task<term> spawn_monitor3(std::vector<term> a) {
    if (!a[0].is_atom() || !a[1].is_atom() || !a[2].list_length()) badarg();
    atom mm = a[0].as_atom(), ff = a[1].as_atom();
    term aa = a[2];
    auto body = [mm, ff, aa]() { return run_mfa_process(mm, ff, aa); };
    auto [p, r] = spawn_monitor(body);
    co_return tuple(p, r);
}
task<term> apply2(std::vector<term> a) {
    auto args = list_to_vector(a[1]);
    if (!args) badarg();
    co_return co_await eval::apply(a[0], std::move(*args));
}
task<term> apply3(std::vector<term> a) {
    auto args = list_to_vector(a[2]);
    if (!args || !a[0].is_atom() || !a[1].is_atom()) badarg();
    co_return co_await eval::apply(a[0].as_atom(), a[1].as_atom(), std::move(*args));
}

term info_item(const process_information& info, atom item) {
    if (item == "registered_name"_a) {
        if (!info.registered_name) return term();
        return tuple(item, *info.registered_name);
    }
    if (item == "message_queue_len"_a)
        return tuple(item, static_cast<unsigned long long>(info.message_queue_len));
    if (item == "links"_a) return tuple(item, make_list(info.links));
    if (item == "monitors"_a) return tuple(item, make_list(info.monitors));
    if (item == "monitored_by"_a) return tuple(item, make_list(info.monitored_by));
    if (item == "trap_exit"_a) return tuple(item, info.trap_exit);
    if (item == "reductions"_a) return tuple(item, static_cast<unsigned long long>(info.reductions));
    if (item == "group_leader"_a) return tuple(item, info.group_leader);
    if (item == "status"_a) {
        static const char* names[] = {"running", "runnable", "waiting", "exiting"};
        return tuple(item, atom(names[static_cast<int>(info.status)]));
    }
    if (item == "messages"_a) return tuple(item, term());  // not collected by the runtime
    badarg();
}

task<term> process_info1(std::vector<term> a) {
    if (!a[0].is_pid()) badarg();
    if (a[0].node() != erlang::node()) badarg();
    auto info = co_await process_info(a[0].as_pid());
    if (!info) co_return atoms::undefined;
    std::vector<term> out;
    for (const char* item : {"registered_name", "status", "message_queue_len", "links", "trap_exit",
                             "group_leader", "reductions"}) {
        term t = info_item(*info, atom(item));
        if (!t.is_nil()) out.push_back(t);
    }
    co_return make_list(std::move(out));
}

task<term> process_info2(std::vector<term> a) {
    if (!a[0].is_pid()) badarg();
    if (a[0].node() != erlang::node()) badarg();
    auto info = co_await process_info(a[0].as_pid());
    if (!info) co_return atoms::undefined;
    if (a[1].is_atom()) {
        term t = info_item(*info, a[1].as_atom());
        co_return t;  // [] for an unregistered process's registered_name, as the BEAM
    }
    auto items = list_to_vector(a[1]);
    if (!items) badarg();
    std::vector<term> out;
    for (const term& i : *items) {
        if (!i.is_atom()) badarg();
        term t = info_item(*info, i.as_atom());
        out.push_back(t.is_nil() ? tuple(i.as_atom(), term()) : t);
    }
    co_return make_list(std::move(out));
}

struct bif_def {
    const char* name;
    unsigned arity;
    bif_fn fn;
};

constexpr char op_plus[] = "+", op_minus[] = "-", op_times[] = "*", op_slash[] = "/", op_div[] = "div",
               op_rem[] = "rem", op_band[] = "band", op_bor[] = "bor", op_bxor[] = "bxor", op_bsl[] = "bsl",
               op_bsr[] = "bsr";

const bif_def erlang_bifs[] = {
    {"is_atom", 1, is_atom_},
    {"is_binary", 1, is_binary_},
    {"is_bitstring", 1, is_bitstring_},
    {"is_boolean", 1, is_boolean_},
    {"is_float", 1, is_float_},
    {"is_function", 1, is_function1},
    {"is_function", 2, is_function2},
    {"is_integer", 1, is_integer_},
    {"is_list", 1, is_list_},
    {"is_map", 1, is_map_},
    {"is_number", 1, is_number_},
    {"is_pid", 1, is_pid_},
    {"is_port", 1, is_port_},
    {"is_reference", 1, is_reference_},
    {"is_tuple", 1, is_tuple_},
    {"is_record", 2, is_record2},
    {"is_record", 3, is_record3},
    {"is_map_key", 2, is_map_key_},
    {"abs", 1, abs_},
    {"float", 1, float_},
    {"round", 1, round_},
    {"trunc", 1, trunc_},
    {"floor", 1, floor_},
    {"ceil", 1, ceil_},
    {"max", 2, max_},
    {"min", 2, min_},
    {"+", 2, arith_op<op_plus>},
    {"-", 2, arith_op<op_minus>},
    {"*", 2, arith_op<op_times>},
    {"/", 2, arith_op<op_slash>},
    {"div", 2, arith_op<op_div>},
    {"rem", 2, arith_op<op_rem>},
    {"band", 2, arith_op<op_band>},
    {"bor", 2, arith_op<op_bor>},
    {"bxor", 2, arith_op<op_bxor>},
    {"bsl", 2, arith_op<op_bsl>},
    {"bsr", 2, arith_op<op_bsr>},
    {"-", 1, neg_},
    {"+", 1, pos_},
    {"bnot", 1, bnot_},
    {"not", 1, not_},
    {"and", 2, and_},
    {"or", 2, or_},
    {"xor", 2, xor_},
    {"==", 2, eq_},
    {"/=", 2, ne_},
    {"=:=", 2, exact_eq_},
    {"=/=", 2, exact_ne_},
    {"<", 2, lt_},
    {"=<", 2, le_},
    {">", 2, gt_},
    {">=", 2, ge_},
    {"++", 2, append_},
    {"--", 2, subtract_},
    {"element", 2, element_},
    {"setelement", 3, setelement_},
    {"insert_element", 3, insert_element_},
    {"delete_element", 2, delete_element_},
    {"append_element", 2, append_element_},
    {"make_tuple", 2, make_tuple2},
    {"tuple_size", 1, tuple_size_},
    {"size", 1, size_},
    {"tuple_to_list", 1, tuple_to_list_},
    {"list_to_tuple", 1, list_to_tuple_},
    {"hd", 1, hd_},
    {"tl", 1, tl_},
    {"length", 1, length_},
    {"map_get", 2, map_get_},
    {"map_size", 1, map_size_},
    {"bit_size", 1, bit_size_},
    {"byte_size", 1, byte_size_},
    {"binary_part", 2, binary_part2},
    {"binary_part", 3, binary_part3},
    {"split_binary", 2, split_binary_},
    {"atom_to_list", 1, atom_to_list_},
    {"atom_to_binary", 1, atom_to_binary1},
    {"atom_to_binary", 2, atom_to_binary2},
    {"list_to_atom", 1, list_to_atom_},
    {"list_to_existing_atom", 1, list_to_existing_atom_},
    {"binary_to_atom", 1, binary_to_atom1},
    {"binary_to_atom", 2, binary_to_atom2},
    {"binary_to_existing_atom", 1, binary_to_existing_atom1},
    {"binary_to_existing_atom", 2, binary_to_existing_atom2},
    {"integer_to_list", 1, integer_to_list1},
    {"integer_to_list", 2, integer_to_list2},
    {"integer_to_binary", 1, integer_to_binary1},
    {"integer_to_binary", 2, integer_to_binary2},
    {"list_to_integer", 1, list_to_integer1},
    {"list_to_integer", 2, list_to_integer2},
    {"binary_to_integer", 1, binary_to_integer1},
    {"binary_to_integer", 2, binary_to_integer2},
    {"list_to_float", 1, list_to_float_},
    {"binary_to_float", 1, binary_to_float_},
    {"float_to_list", 1, float_to_list1},
    {"float_to_list", 2, float_to_list2},
    {"float_to_binary", 1, float_to_binary1},
    {"float_to_binary", 2, float_to_binary2},
    {"binary_to_list", 1, binary_to_list1},
    {"binary_to_list", 3, binary_to_list3},
    {"bitstring_to_list", 1, bitstring_to_list_},
    {"list_to_binary", 1, list_to_binary_},
    {"iolist_to_binary", 1, iolist_to_binary_},
    {"iolist_size", 1, iolist_size_},
    {"term_to_binary", 1, term_to_binary1},
    {"term_to_binary", 2, term_to_binary2},
    {"binary_to_term", 1, binary_to_term1},
    {"binary_to_term", 2, binary_to_term2},
    {"self", 0, self_},
    {"node", 0, services::standard::node0},
    {"node", 1, services::standard::node1},
    {"make_ref", 0, make_ref_},
    {"pid_to_list", 1, pid_to_list_},
    {"ref_to_list", 1, ref_to_list_},
    {"list_to_pid", 1, list_to_pid_},
    {"make_fun", 3, make_fun3},
    {"exit", 1, exit1},
    {"error", 1, error1},
    {"error", 2, error2},
    {"throw", 1, throw1},
    {"raise", 3, raise3},
    {"exit", 2, exit2},
    {"link", 1, link_},
    {"unlink", 1, unlink_},
    {"monitor", 2, monitor2},
    {"demonitor", 1, demonitor1},
    {"demonitor", 2, demonitor2},
    {"register", 2, register_},
    {"unregister", 1, unregister_},
    {"whereis", 1, services::standard::whereis1},
    {"registered", 0, services::standard::registered0},
    {"is_process_alive", 1, services::standard::is_process_alive1},
    {"send", 2, send2},
    {"send", 3, send3},
    {"send_after", 3, send_after3},
    {"start_timer", 3, start_timer3},
    {"cancel_timer", 1, cancel_timer1},
    {"process_flag", 2, process_flag2},
    {"group_leader", 0, group_leader0},
    {"group_leader", 2, group_leader2},
    {"monotonic_time", 0, services::standard::monotonic_time0},
    {"monotonic_time", 1, services::standard::monotonic_time1},
    {"system_time", 0, services::standard::system_time0},
    {"system_time", 1, services::standard::system_time1},
    {"timestamp", 0, services::standard::timestamp0},
};

struct native_def {
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const native_def erlang_natives[] = {
    {"spawn", 1, spawn1},
    {"spawn", 2, spawn2},
    {"spawn", 3, spawn3},
    {"spawn", 4, spawn4},
    {"spawn_link", 1, spawn_link1},
    {"spawn_link", 2, spawn_link2},
    {"spawn_link", 3, spawn_link3},
    {"spawn_link", 4, spawn_link4},
    {"spawn_monitor", 1, spawn_monitor1},
    {"spawn_monitor", 3, spawn_monitor3},
    {"apply", 2, apply2},
    {"apply", 3, apply3},
    {"process_info", 1, process_info1},
    {"process_info", 2, process_info2},
};

// erl_internal:bif/2 (OTP 25), the names this evaluator may see.
const char* const auto_imported[] = {
    "abs/1",
    "alias/0",
    "alias/1",
    "apply/2",
    "apply/3",
    "atom_to_binary/1",
    "atom_to_binary/2",
    "atom_to_list/1",
    "binary_part/2",
    "binary_part/3",
    "binary_to_atom/1",
    "binary_to_atom/2",
    "binary_to_existing_atom/1",
    "binary_to_existing_atom/2",
    "binary_to_integer/1",
    "binary_to_integer/2",
    "binary_to_float/1",
    "binary_to_list/1",
    "binary_to_list/3",
    "binary_to_term/1",
    "binary_to_term/2",
    "bitsize/1",
    "bit_size/1",
    "bitstring_to_list/1",
    "byte_size/1",
    "ceil/1",
    "check_old_code/1",
    "check_process_code/2",
    "check_process_code/3",
    "date/0",
    "delete_module/1",
    "demonitor/1",
    "demonitor/2",
    "disconnect_node/1",
    "element/2",
    "erase/0",
    "erase/1",
    "error/1",
    "error/2",
    "error/3",
    "exit/1",
    "exit/2",
    "float/1",
    "float_to_list/1",
    "float_to_list/2",
    "float_to_binary/1",
    "float_to_binary/2",
    "floor/1",
    "garbage_collect/0",
    "garbage_collect/1",
    "garbage_collect/2",
    "get/0",
    "get/1",
    "get_keys/0",
    "get_keys/1",
    "group_leader/0",
    "group_leader/2",
    "halt/0",
    "halt/1",
    "halt/2",
    "hd/1",
    "integer_to_binary/1",
    "integer_to_binary/2",
    "integer_to_list/1",
    "integer_to_list/2",
    "iolist_size/1",
    "iolist_to_binary/1",
    "is_alive/0",
    "is_process_alive/1",
    "is_atom/1",
    "is_boolean/1",
    "is_binary/1",
    "is_bitstring/1",
    "is_float/1",
    "is_function/1",
    "is_function/2",
    "is_integer/1",
    "is_list/1",
    "is_map/1",
    "is_map_key/2",
    "is_number/1",
    "is_pid/1",
    "is_port/1",
    "is_reference/1",
    "is_tuple/1",
    "is_record/2",
    "is_record/3",
    "length/1",
    "link/1",
    "list_to_atom/1",
    "list_to_binary/1",
    "list_to_bitstring/1",
    "list_to_existing_atom/1",
    "list_to_float/1",
    "list_to_integer/1",
    "list_to_integer/2",
    "list_to_pid/1",
    "list_to_port/1",
    "list_to_ref/1",
    "list_to_tuple/1",
    "load_module/2",
    "make_ref/0",
    "map_size/1",
    "map_get/2",
    "max/2",
    "min/2",
    "module_loaded/1",
    "monitor/2",
    "monitor/3",
    "monitor_node/2",
    "node/0",
    "node/1",
    "nodes/0",
    "nodes/1",
    "nodes/2",
    "now/0",
    "open_port/2",
    "pid_to_list/1",
    "port_to_list/1",
    "port_close/1",
    "port_command/2",
    "port_command/3",
    "port_connect/2",
    "port_control/3",
    "pre_loaded/0",
    "process_flag/2",
    "process_flag/3",
    "process_info/1",
    "process_info/2",
    "processes/0",
    "purge_module/1",
    "put/2",
    "ref_to_list/1",
    "register/2",
    "registered/0",
    "round/1",
    "self/0",
    "setelement/3",
    "size/1",
    "spawn/1",
    "spawn/2",
    "spawn/3",
    "spawn/4",
    "spawn_link/1",
    "spawn_link/2",
    "spawn_link/3",
    "spawn_link/4",
    "spawn_request/1",
    "spawn_request/2",
    "spawn_request/3",
    "spawn_request/4",
    "spawn_request/5",
    "spawn_request_abandon/1",
    "spawn_monitor/1",
    "spawn_monitor/2",
    "spawn_monitor/3",
    "spawn_monitor/4",
    "spawn_opt/2",
    "spawn_opt/3",
    "spawn_opt/4",
    "spawn_opt/5",
    "split_binary/2",
    "statistics/1",
    "term_to_binary/1",
    "term_to_binary/2",
    "term_to_iovec/1",
    "term_to_iovec/2",
    "throw/1",
    "time/0",
    "tl/1",
    "trunc/1",
    "tuple_size/1",
    "tuple_to_list/1",
    "unalias/1",
    "unlink/1",
    "unregister/1",
    "whereis/1",
};

// erl_internal:guard_bif/2 and the type tests (new_type_test/2).
const char* const guard_bifs[] = {
    "abs/1",
    "binary_part/2",
    "binary_part/3",
    "bit_size/1",
    "byte_size/1",
    "ceil/1",
    "element/2",
    "float/1",
    "floor/1",
    "hd/1",
    "is_map_key/2",
    "length/1",
    "map_size/1",
    "map_get/2",
    "node/0",
    "node/1",
    "round/1",
    "self/0",
    "size/1",
    "tl/1",
    "trunc/1",
    "tuple_size/1",
    "is_atom/1",
    "is_binary/1",
    "is_bitstring/1",
    "is_boolean/1",
    "is_float/1",
    "is_function/1",
    "is_function/2",
    "is_integer/1",
    "is_list/1",
    "is_map/1",
    "is_number/1",
    "is_pid/1",
    "is_port/1",
    "is_reference/1",
    "is_tuple/1",
    "is_record/2",
    "is_record/3",
    // Operators called as functions (erlang:'+'(1, 2)) are allowed in guards too.
    "+/2",
    "-/2",
    "*/2",
    "//2",
    "div/2",
    "rem/2",
    "band/2",
    "bor/2",
    "bxor/2",
    "bsl/2",
    "bsr/2",
    "-/1",
    "+/1",
    "bnot/1",
    "not/1",
    "and/2",
    "or/2",
    "xor/2",
    "==/2",
    "/=/2",
    "=:=/2",
    "=/=/2",
    "</2",
    "=</2",
    ">/2",
    ">=/2",
};

struct name_set {
    std::unordered_set<std::string> names;
    explicit name_set(std::span<const char* const> list) {
        for (const char* n : list)
            names.insert(n);
    }
    bool has(atom f, unsigned arity) const {
        std::string k(f.name());
        k += '/';
        k += std::to_string(arity);
        return names.count(k) > 0;
    }
};

}  // namespace

void add_sync_bif(atom module, atom function, unsigned arity, bif_fn fn) {
    std::lock_guard l(table().mutex);
    table().fns[{module, function, arity}] = fn;
}

void register_sync_bifs() {
    std::call_once(registered_once, [] {
        for (const bif_def& d : erlang_bifs)
            add_sync_bif(atoms::erlang, atom(d.name), d.arity, d.fn);
    });
}

bif_fn find_sync_bif(atom module, atom function, unsigned arity) {
    register_sync_bifs();
    std::lock_guard l(table().mutex);
    auto it = table().fns.find({module, function, arity});
    return it == table().fns.end() ? nullptr : it->second;
}

bool is_auto_imported(atom function, unsigned arity) {
    static const name_set s{auto_imported};
    return s.has(function, arity);
}

bool is_guard_bif(atom function, unsigned arity) {
    static const name_set s{guard_bifs};
    return s.has(function, arity);
}

void export_sync_bifs(export_table& t) {
    register_sync_bifs();
    std::vector<std::pair<export_key, bif_fn>> all;
    {
        std::lock_guard l(table().mutex);
        for (auto& [k, fn] : table().fns)
            all.emplace_back(k, fn);
    }
    for (auto& [k, fn] : all)
        t.add(k.module, k.function, k.arity, wrap(fn));
}

void register_erlang_natives(export_table& t) {
    for (const native_def& d : erlang_natives)
        t.add(atoms::erlang, atom(d.name), d.arity, d.fn);
}

}  // namespace nodus::eval::detail

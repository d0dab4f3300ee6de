// The evaluator: erl_eval's semantics (OTP 25) over the abstract format, as coroutines of the
// calling process. Expressions recurse through coroutine frames (on the heap), so deep
// expressions cost memory, not stack; patterns and guards are synchronous (they cannot
// suspend) and recurse only as deep as the parser allowed the source to nest. Calls in tail
// position of a fun body (through case/if/receive/begin) do not grow anything: the fun's apply
// loop takes them over, so `fun Loop() -> receive ... -> Loop() end end` runs forever in
// constant memory, as in erl.
#include "nodus/eval/eval.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "eval_impl.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval {

using namespace nodus::literals;

// ---- bindings ----

const term* bindings::find(atom name) const noexcept {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
        if (it->first == name) return &it->second;
    return nullptr;
}

void bindings::set(atom name, term value) {
    for (auto& [n, v] : vars_) {
        if (n == name) {
            v = std::move(value);
            return;
        }
    }
    vars_.emplace_back(name, std::move(value));
}

bool bindings::erase(atom name) noexcept {
    for (auto it = vars_.begin(); it != vars_.end(); ++it) {
        if (it->first == name) {
            vars_.erase(it);
            return true;
        }
    }
    return false;
}

std::vector<std::pair<atom, term>> bindings::sorted() const {
    auto out = vars_;
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

term bindings::to_term() const {
    std::vector<term> elems;
    for (auto& [n, v] : sorted())
        elems.push_back(tuple(n, v));
    return make_list(std::move(elems));
}

bindings bindings::from_term(const term& list) {
    bindings bs;
    for (const term* l = &list; l->is_cons(); l = &l->tail()) {
        const term& e = l->head();
        if (e.is_tuple(2) && e[0].is_atom()) bs.set(e[0].as_atom(), e[1]);
    }
    return bs;
}

// ---- exceptions ----

namespace detail {

namespace {
struct error_with_stack : error_exception, stack_carrier {
    error_with_stack(term r, term s) : error_exception(std::move(r)) { stack = std::move(s); }
};
struct exit_with_stack : exit_exception, stack_carrier {
    exit_with_stack(term r, term s) : exit_exception(std::move(r)) { stack = std::move(s); }
};
struct throw_with_stack : throw_exception, stack_carrier {
    throw_with_stack(term r, term s) : throw_exception(std::move(r)) { stack = std::move(s); }
};
}  // namespace

void badarg() {
    throw error_exception(term(atoms::badarg));
}
void fail(term reason) {
    throw error_exception(std::move(reason));
}
void badarith() {
    throw error_exception("badarith"_a);
}

bool has_stack(const erlang_exception& e) noexcept {
    return dynamic_cast<const stack_carrier*>(&e) != nullptr;
}

void rethrow_with_frame(const erlang_exception& e, atom m, atom f, std::vector<term> args) {
    term info;
    if (m == atoms::erlang) info = list({tuple("error_info"_a, map({{"module"_a, "erl_erts_errors"_a}}))});
    if (m == "maps"_a) info = list({tuple("error_info"_a, map({{"module"_a, "erl_stdlib_errors"_a}}))});
    term frame = tuple(m, f, make_list(std::move(args)), info);
    raise(e.kind(), e.reason(), list({frame}));
}

}  // namespace detail

void raise(exception_class c, term reason, term stacktrace) {
    switch (c) {
        case exception_class::error:
            throw detail::error_with_stack(std::move(reason), std::move(stacktrace));
        case exception_class::exit:
            throw detail::exit_with_stack(std::move(reason), std::move(stacktrace));
        case exception_class::throw_:
            throw detail::throw_with_stack(std::move(reason), std::move(stacktrace));
    }
    throw detail::error_with_stack(std::move(reason), std::move(stacktrace));
}

term stacktrace_of(const erlang_exception& e) {
    if (auto* s = dynamic_cast<const detail::stack_carrier*>(&e)) return s->stack;
    return term();
}

atom class_atom(exception_class c) noexcept {
    switch (c) {
        case exception_class::error:
            return atoms::error;
        case exception_class::exit:
            return atoms::exit;
        case exception_class::throw_:
            return atoms::throw_;
    }
    return atoms::error;
}

// ---- funs ----

namespace detail {

namespace {
// OTP 25's erl_eval (stdlib 4.2): its funs for arity N are local funs number 43 - N (named:
// 20 - N) of a module with this uniq; erl prints them as #Fun<erl_eval.Index.OldUniq>.
constexpr std::uint8_t erl_eval_md5[16] = {6,   83,  97,  170, 70,  21,  144, 209,
                                           189, 241, 235, 98,  209, 166, 235, 8};
constexpr long long erl_eval_old_uniq = 3316493;
constexpr unsigned max_fun_arity = 20;
}  // namespace

term make_interpreted_fun(const term& anno, const bindings& bs, const term& clauses, std::optional<atom> name,
                          unsigned arity) {
    nodus::detail::fun_box* fb;
    term f = nodus::detail::new_fun(1, fb);
    fb->arity = static_cast<std::uint8_t>(arity);
    std::copy(std::begin(erl_eval_md5), std::end(erl_eval_md5), fb->uniq);
    fb->index = name ? (max_fun_arity - arity) : (43 - arity);
    fb->module = term("erl_eval"_a);
    fb->old_index = term(static_cast<long long>(fb->index));
    fb->old_uniq = term(erl_eval_old_uniq);
    if (nodus::detail::current_or_null()) {
        fb->pid = self_term();
    } else {
        fb->pid = pid::make(atoms::nonode_nohost, 0, 0, 0).as_term();
    }
    term env = name ? tuple(anno, bs.to_term(), "none"_a, "none"_a, map({}), clauses, *name)
                    : tuple(anno, bs.to_term(), "none"_a, "none"_a, map({}), clauses);
    // The one free variable is the Info tuple itself (erlang:fun_info(F, env) gives [Info]).
    nodus::detail::trailing<term>(fb)[0] = env;
    return f;
}

std::optional<fun_parts> interpreted_fun_parts(const term& f) {
    if (!f.is_local_fun()) return std::nullopt;
    auto* fb = static_cast<const nodus::detail::fun_box*>(f.box_ptr());
    if (!fb->module.is_atom("erl_eval"_a) || fb->aux() != 1) return std::nullopt;
    const term& env = nodus::detail::trailing<term>(fb)[0];
    if (!env.is_tuple() || (env.tuple_size() != 6 && env.tuple_size() != 7)) return std::nullopt;
    if (!env[5].is_list()) return std::nullopt;
    fun_parts p;
    p.anno = env[0];
    p.bindings = env[1];
    p.clauses = env[5];
    if (env.tuple_size() == 7) {
        if (!env[6].is_atom()) return std::nullopt;
        p.name = env[6].as_atom();
    }
    p.arity = fb->arity;
    return p;
}

}  // namespace detail

bool is_interpreted_fun(const term& t) noexcept {
    try {
        return detail::interpreted_fun_parts(t).has_value();
    } catch (...) {
        return false;
    }
}

namespace {

using detail::badarg;
using detail::fail;

// ---- the atoms of the abstract format ----

enum class kind : std::uint8_t {
    unknown,
    var,
    integer,
    float_,
    char_,
    atom_,
    string,
    nil,
    cons,
    tuple,
    map,
    bin,
    op,
    match,
    call,
    fun,
    named_fun,
    case_,
    if_,
    receive,
    try_,
    catch_,
    block,
    lc,
    bc,
    remote,
};

struct names {
    atom clause{"clause"}, remote{"remote"}, function{"function"}, clauses{"clauses"},
        map_field_assoc{"map_field_assoc"}, map_field_exact{"map_field_exact"}, bin_element{"bin_element"},
        generate{"generate"}, b_generate{"b_generate"}, default_{"default"}, andalso{"andalso"},
        orelse{"orelse"}, bang{"!"}, plusplus{"++"}, minusminus{"--"}, not_{"not"}, and_{"and"}, or_{"or"},
        xor_{"xor"}, eq{"=="}, ne{"/="}, exact_eq{"=:="}, exact_ne{"=/="}, lt{"<"}, le{"=<"}, gt{">"},
        ge{">="}, underscore{"_"}, badmatch{"badmatch"}, case_clause{"case_clause"}, if_clause{"if_clause"},
        try_clause{"try_clause"}, function_clause{"function_clause"}, badfun{"badfun"}, badarity{"badarity"},
        unbound_var{"unbound_var"}, badmap{"badmap"}, badkey{"badkey"}, bad_generator{"bad_generator"},
        bad_filter{"bad_filter"}, timeout_value{"timeout_value"}, shell_undef{"shell_undef"},
        erl_eval{"erl_eval"}, inside_fun{"-inside-an-interpreted-fun-"}, nocatch{"nocatch"}, EXIT{"EXIT"},
        argument_limit{"argument_limit"}, integer{"integer"}, binary{"binary"}, utf8{"utf8"}, utf16{"utf16"},
        utf32{"utf32"}, string{"string"};
    std::unordered_map<std::uint32_t, kind> kinds;

    names() {
        auto add = [&](const char* n, kind k) { kinds.emplace(atom(n).index(), k); };
        add("var", kind::var);
        add("integer", kind::integer);
        add("float", kind::float_);
        add("char", kind::char_);
        add("atom", kind::atom_);
        add("string", kind::string);
        add("nil", kind::nil);
        add("cons", kind::cons);
        add("tuple", kind::tuple);
        add("map", kind::map);
        add("bin", kind::bin);
        add("op", kind::op);
        add("match", kind::match);
        add("call", kind::call);
        add("fun", kind::fun);
        add("named_fun", kind::named_fun);
        add("case", kind::case_);
        add("if", kind::if_);
        add("receive", kind::receive);
        add("try", kind::try_);
        add("catch", kind::catch_);
        add("block", kind::block);
        add("lc", kind::lc);
        add("bc", kind::bc);
        add("remote", kind::remote);
    }
};

const names& N() {
    static const names n;
    return n;
}

kind kind_of(const term& e) {
    if (!e.is_tuple() || e.tuple_size() < 2 || !e[0].is_atom()) return kind::unknown;
    auto it = N().kinds.find(e[0].as_atom().index());
    return it == N().kinds.end() ? kind::unknown : it->second;
}

// A malformed abstract expression (not from the parser): an error, never a crash.
[[noreturn]] void bad_abstract(const term& e) {
    fail(tuple("bad_expression"_a, e));
}

const term& field(const term& e, std::size_t i) {
    if (!e.is_tuple() || e.tuple_size() <= i) bad_abstract(e);
    return e[i];
}

// ---- comparisons and list operators ----

bool compare_op(atom op, const term& a, const term& b) {
    const names& n = N();
    if (op == n.exact_eq) return a == b;
    if (op == n.exact_ne) return !(a == b);
    if (op == n.eq) return equal(a, b);
    if (op == n.ne) return !equal(a, b);
    auto c = compare(a, b);
    if (op == n.lt) return c < 0;
    if (op == n.le) return c <= 0;
    if (op == n.gt) return c > 0;
    return c >= 0;
}

bool is_compare_op(atom op) {
    const names& n = N();
    return op == n.exact_eq || op == n.exact_ne || op == n.eq || op == n.ne || op == n.lt || op == n.le ||
           op == n.gt || op == n.ge;
}

term list_append(const term& a, const term& b) {
    auto elems = detail::list_to_vector(a);
    if (!elems) badarg();
    return make_list(std::move(*elems), b);
}

term list_subtract(const term& a, const term& b) {
    auto xs = detail::list_to_vector(a);
    auto ys = detail::list_to_vector(b);
    if (!xs || !ys) badarg();
    // Each element of b removes the first equal (=:=) element of a.
    std::vector<bool> removed(xs->size(), false);
    for (const term& y : *ys) {
        for (std::size_t i = 0; i < xs->size(); ++i) {
            if (!removed[i] && (*xs)[i] == y) {
                removed[i] = true;
                break;
            }
        }
    }
    std::vector<term> out;
    for (std::size_t i = 0; i < xs->size(); ++i)
        if (!removed[i]) out.push_back((*xs)[i]);
    return make_list(std::move(out));
}

bool as_bool(const term& t, bool& out) {
    if (t.is_atom(atoms::true_)) {
        out = true;
        return true;
    }
    if (t.is_atom(atoms::false_)) {
        out = false;
        return true;
    }
    return false;
}

// A binary operator that is a plain function of its evaluated operands (not !, andalso, orelse).
term binary_op(atom op, const term& a, const term& b) {
    const names& n = N();
    try {
        if (is_compare_op(op)) return term(compare_op(op, a, b));
        if (op == n.plusplus) return list_append(a, b);
        if (op == n.minusminus) return list_subtract(a, b);
        if (op == n.and_ || op == n.or_ || op == n.xor_) {
            bool x, y;
            if (!as_bool(a, x) || !as_bool(b, y)) badarg();
            return term(op == n.and_ ? (x && y) : op == n.or_ ? (x || y) : (x != y));
        }
        return detail::arith(op, a, b);
    } catch (const erlang_exception& e) {
        if (detail::has_stack(e)) throw;
        detail::rethrow_with_frame(e, atoms::erlang, op, {a, b});
    }
}

term unary_op(atom op, const term& a) {
    try {
        if (op == N().not_) {
            bool x;
            if (!as_bool(a, x)) badarg();
            return term(!x);
        }
        return detail::arith1(op, a);
    } catch (const erlang_exception& e) {
        if (detail::has_stack(e)) throw;
        detail::rethrow_with_frame(e, atoms::erlang, op, {a});
    }
}

// ---- guards and other synchronous evaluation ----

// Evaluates an expression that cannot suspend: literals, variables, data constructors,
// operators and calls of synchronous BIFs. Guards use it, and so do map keys and binary sizes
// in patterns. Throws (an erlang_exception) on anything else or on an error.
term eval_sync(const term& e, const bindings& bs, const bindings* outer);

std::vector<detail::bit_segment> bin_segments(const term& e, const bindings& bs, const bindings* outer,
                                              bool sync);

term eval_sync_call(const term& e, const bindings& bs, const bindings* outer) {
    const term& fn = field(e, 2);
    atom m = atoms::erlang, f;
    if (kind_of(fn) == kind::atom_) {
        f = field(fn, 2).as_atom();
    } else if (kind_of(fn) == kind::remote) {
        term mt = eval_sync(field(fn, 2), bs, outer);
        term ft = eval_sync(field(fn, 3), bs, outer);
        if (!mt.is_atom() || !ft.is_atom()) badarg();
        m = mt.as_atom();
        f = ft.as_atom();
    } else {
        fail("illegal_guard_expr"_a);
    }
    std::vector<term> args;
    for (const term* l = &field(e, 3); l->is_cons(); l = &l->tail())
        args.push_back(eval_sync(l->head(), bs, outer));
    auto arity = static_cast<unsigned>(args.size());
    auto fnp =
        m == atoms::erlang && detail::is_guard_bif(f, arity) ? detail::find_sync_bif(m, f, arity) : nullptr;
    if (!fnp) fail("illegal_guard_expr"_a);
    try {
        return fnp(args);
    } catch (const erlang_exception& ex) {
        if (detail::has_stack(ex)) throw;
        detail::rethrow_with_frame(ex, m, f, std::move(args));
    }
}

term make_map_sync(const term& e, const bindings& bs, const bindings* outer) {
    const names& n = N();
    term base;
    const term* fields;
    if (e.tuple_size() == 4) {
        base = eval_sync(e[2], bs, outer);
        if (!base.is_map()) fail(tuple(n.badmap, base));
        fields = &e[3];
    } else {
        base = map({});
        fields = &field(e, 2);
    }
    for (const term* l = fields; l->is_cons(); l = &l->tail()) {
        const term& fld = l->head();
        term k = eval_sync(field(fld, 2), bs, outer);
        term v = eval_sync(field(fld, 3), bs, outer);
        if (fld[0].is_atom(n.map_field_exact) && !base.map_get(k)) fail(tuple(n.badkey, k));
        base = map_put(base, std::move(k), std::move(v));
    }
    return base;
}

term eval_sync(const term& e, const bindings& bs, const bindings* outer) {
    const names& n = N();
    switch (kind_of(e)) {
        case kind::var: {
            atom v = field(e, 2).as_atom();
            if (const term* t = bs.find(v)) return *t;
            if (outer)
                if (const term* t = outer->find(v)) return *t;
            fail(tuple(n.unbound_var, v));
        }
        case kind::integer:
        case kind::float_:
        case kind::char_:
        case kind::atom_:
        case kind::string:
            return field(e, 2);
        case kind::nil:
            return term();
        case kind::cons: {
            std::vector<term> heads;
            const term* cur = &e;
            while (kind_of(*cur) == kind::cons) {
                heads.push_back(eval_sync(field(*cur, 2), bs, outer));
                cur = &(*cur)[3];
            }
            return make_list(std::move(heads), eval_sync(*cur, bs, outer));
        }
        case kind::tuple: {
            std::vector<term> elems;
            for (const term* l = &field(e, 2); l->is_cons(); l = &l->tail())
                elems.push_back(eval_sync(l->head(), bs, outer));
            return make_tuple(std::move(elems));
        }
        case kind::map:
            return make_map_sync(e, bs, outer);
        case kind::bin: {
            auto segs = bin_segments(e, bs, outer, true);
            return detail::build_bits(segs);
        }
        case kind::op: {
            atom op = field(e, 2).as_atom();
            if (e.tuple_size() == 4) return unary_op(op, eval_sync(e[3], bs, outer));
            if (op == n.andalso || op == n.orelse) {
                term l = eval_sync(field(e, 3), bs, outer);
                bool x;
                if (!as_bool(l, x)) fail(tuple(atoms::badarg, l));
                if (op == n.andalso ? !x : x) return l;
                return eval_sync(field(e, 4), bs, outer);
            }
            if (op == n.bang) fail("illegal_guard_expr"_a);
            term l = eval_sync(field(e, 3), bs, outer);
            term r = eval_sync(field(e, 4), bs, outer);
            return binary_op(op, l, r);
        }
        case kind::call:
            return eval_sync_call(e, bs, outer);
        default:
            fail("illegal_guard_expr"_a);
    }
}

// A guard sequence (a list of guards, each a list of tests): true when one guard has all tests
// true. Exceptions make a test false.
bool guard_ok(const term& guards, const bindings& bs) {
    if (guards.is_nil()) return true;
    for (const term* g = &guards; g->is_cons(); g = &g->tail()) {
        bool all = true;
        for (const term* t = &g->head(); t->is_cons(); t = &t->tail()) {
            try {
                if (!eval_sync(t->head(), bs, nullptr).is_atom(atoms::true_)) {
                    all = false;
                    break;
                }
            } catch (const erlang_exception&) {
                all = false;
                break;
            }
        }
        if (all) return true;
    }
    return false;
}

// ---- pattern matching ----

// Matches a pattern, binding its new variables in bs (bound ones are compared with =:=).
// outer supplies the variables a binary size or map key may use besides bs (the bindings
// outside a fun head or generator, whose variables the pattern shadows). Never throws for a
// value that does not match; a malformed pattern is an error.
bool match(const term& p, const term& v, bindings& bs, const bindings* outer);

bool match_bin(const term& p, const term& v, bindings& bs, const bindings* outer, detail::bit_reader* reader);

bool match_string_prefix(const term& chars, const term& v, const term*& rest) {
    const term* cur = &v;
    for (const term* c = &chars; c->is_cons(); c = &c->tail()) {
        if (!cur->is_cons() || !(cur->head() == c->head())) return false;
        cur = &cur->tail();
    }
    rest = cur;
    return true;
}

bool match(const term& p, const term& v, bindings& bs, const bindings* outer) {
    const names& n = N();
    switch (kind_of(p)) {
        case kind::var: {
            atom name = field(p, 2).as_atom();
            if (name == n.underscore) return true;
            if (const term* t = bs.find(name)) return *t == v;
            bs.set(name, v);
            return true;
        }
        case kind::integer:
        case kind::float_:
        case kind::char_:
        case kind::atom_:
        case kind::string:
            return field(p, 2) == v;
        case kind::nil:
            return v.is_nil();
        case kind::cons: {
            const term* pc = &p;
            const term* vc = &v;
            while (kind_of(*pc) == kind::cons) {
                if (!vc->is_cons()) return false;
                if (!match(field(*pc, 2), vc->head(), bs, outer)) return false;
                pc = &(*pc)[3];
                vc = &vc->tail();
            }
            return match(*pc, *vc, bs, outer);
        }
        case kind::tuple: {
            const term& elems = field(p, 2);
            auto count = elems.list_length();
            if (!count || !v.is_tuple(*count)) return false;
            std::size_t i = 0;
            for (const term* l = &elems; l->is_cons(); l = &l->tail(), ++i)
                if (!match(l->head(), v[i], bs, outer)) return false;
            return true;
        }
        case kind::map: {
            if (!v.is_map() || p.tuple_size() != 3) return false;
            for (const term* l = &p[2]; l->is_cons(); l = &l->tail()) {
                const term& fld = l->head();
                term key;
                try {
                    key = eval_sync(field(fld, 2), bs, outer);
                } catch (const erlang_exception&) {
                    return false;
                }
                const term* got = v.map_get(key);
                if (!got || !match(field(fld, 3), *got, bs, outer)) return false;
            }
            return true;
        }
        case kind::bin:
            return match_bin(p, v, bs, outer, nullptr);
        case kind::match:
            return match(field(p, 2), v, bs, outer) && match(field(p, 3), v, bs, outer);
        case kind::op: {
            atom op = field(p, 2).as_atom();
            if (op == n.plusplus && p.tuple_size() == 5) {
                // "prefix" ++ Rest
                const term& l = p[3];
                term chars;
                if (kind_of(l) == kind::string) {
                    chars = l[2];
                } else {
                    try {
                        chars = eval_sync(l, bs, outer);
                    } catch (const erlang_exception&) {
                        return false;
                    }
                }
                const term* rest = nullptr;
                if (!match_string_prefix(chars, v, rest)) return false;
                return match(p[4], *rest, bs, outer);
            }
            // A constant expression (-1, 1 + 2): its value.
            try {
                return eval_sync(p, bs, outer) == v;
            } catch (const erlang_exception&) {
                return false;
            }
        }
        default:
            fail(tuple("illegal_pattern"_a, p));
    }
}

// Segments of a <<...>> (construction or, with sync = true, pattern sizes).
std::vector<detail::bit_segment> bin_segments(const term& e, const bindings& bs, const bindings* outer,
                                              bool sync) {
    (void)sync;
    const names& n = N();
    std::vector<detail::bit_segment> out;
    for (const term* l = &field(e, 2); l->is_cons(); l = &l->tail()) {
        const term& el = l->head();
        detail::bit_segment seg;
        if (!detail::parse_bit_types(field(el, 4), seg)) badarg();
        const term& size_expr = field(el, 3);
        if (!size_expr.is_atom(n.default_)) seg.size = eval_sync(size_expr, bs, outer);
        const term& value_expr = el[2];
        if (kind_of(value_expr) == kind::string) {
            // <<"abc">>: one segment per character.
            for (const term* c = &value_expr[2]; c->is_cons(); c = &c->tail()) {
                detail::bit_segment s = seg;
                s.value = c->head();
                out.push_back(std::move(s));
            }
            continue;
        }
        seg.value = eval_sync(value_expr, bs, outer);
        out.push_back(std::move(seg));
    }
    return out;
}

bool match_bin(const term& p, const term& v, bindings& bs, const bindings* outer,
               detail::bit_reader* reader) {
    const names& n = N();
    std::optional<detail::bit_reader> own;
    if (!reader) {
        if (!v.is_bitstring()) return false;
        own.emplace(v);
        reader = &*own;
    }
    for (const term* l = &field(p, 2); l->is_cons(); l = &l->tail()) {
        const term& el = l->head();
        detail::bit_segment seg;
        if (!detail::parse_bit_types(field(el, 4), seg)) return false;
        std::optional<std::size_t> size_bits;
        const term& size_expr = field(el, 3);
        unsigned unit = seg.unit ? seg.unit : (seg.type == n.binary ? 8 : 1);
        if (!size_expr.is_atom(n.default_)) {
            term size;
            try {
                size = eval_sync(size_expr, bs, outer);
            } catch (const erlang_exception&) {
                return false;
            }
            auto s = size.to_int64();
            if (!s || *s < 0) return false;
            size_bits = static_cast<std::size_t>(*s) * unit;
        } else if (seg.type == n.integer) {
            size_bits = 8;
        } else if (seg.type == "float"_a) {
            size_bits = 64;
        }
        const term& value_pat = el[2];
        if (kind_of(value_pat) == kind::string) {
            for (const term* c = &value_pat[2]; c->is_cons(); c = &c->tail()) {
                auto got = reader->read(seg, size_bits);
                if (!got || !(*got == c->head())) return false;
            }
            continue;
        }
        auto got = reader->read(seg, size_bits);
        if (!got || !match(value_pat, *got, bs, outer)) return false;
    }
    return own ? reader->bits_left() == 0 : true;
}

// Matches a list of patterns against values.
bool match_all(const term& pats, const std::vector<term>& vals, bindings& bs, const bindings* outer) {
    std::size_t i = 0;
    for (const term* l = &pats; l->is_cons(); l = &l->tail(), ++i) {
        if (i >= vals.size() || !match(l->head(), vals[i], bs, outer)) return false;
    }
    return i == vals.size();
}

// ---- the asynchronous evaluator ----

struct context {
    const eval_options* opts = nullptr;
};

struct tail_call {
    bool pending = false;
    term fun;
    std::vector<term> args;
};

task<term> ev(term e, bindings* bs, const context* c, tail_call* tc);
task<term> ev_body(term exprs, bindings* bs, const context* c, tail_call* tc);
task<term> apply_fun(term fun, std::vector<term> args, const context* c);
task<term> call_mfa(atom m, atom f, std::vector<term> args);

// Evaluates e when it is a literal or a variable (most arguments are), without a coroutine.
bool quick(const term& e, const bindings& bs, term& out) {
    switch (kind_of(e)) {
        case kind::var: {
            const term* t = bs.find(field(e, 2).as_atom());
            if (!t) return false;
            out = *t;
            return true;
        }
        case kind::integer:
        case kind::float_:
        case kind::char_:
        case kind::atom_:
        case kind::string:
            out = e[2];
            return true;
        case kind::nil:
            out = term();
            return true;
        default:
            return false;
    }
}

task<std::vector<term>> ev_args(term list, bindings* bs, const context* c) {
    std::vector<term> out;
    for (const term* l = &list; l->is_cons(); l = &l->tail()) {
        term v;
        if (!quick(l->head(), *bs, v)) v = co_await ev(l->head(), bs, c, nullptr);
        out.push_back(std::move(v));
    }
    co_return out;
}

task<term> ev_cons(term e, bindings* bs, const context* c) {
    std::vector<term> heads;
    term cur = e;
    while (kind_of(cur) == kind::cons) {
        term h;
        if (!quick(cur[2], *bs, h)) h = co_await ev(cur[2], bs, c, nullptr);
        heads.push_back(std::move(h));
        term next = cur[3];
        cur = std::move(next);
    }
    term tail;
    if (!quick(cur, *bs, tail)) tail = co_await ev(cur, bs, c, nullptr);
    co_return make_list(std::move(heads), std::move(tail));
}

task<term> ev_map(term e, bindings* bs, const context* c) {
    const names& n = N();
    term base;
    term fields;
    if (e.tuple_size() == 4) {
        base = co_await ev(e[2], bs, c, nullptr);
        if (!base.is_map()) fail(tuple(n.badmap, base));
        fields = e[3];
    } else {
        base = map({});
        fields = field(e, 2);
    }
    // All keys and values are evaluated first, then the fields applied in order.
    std::vector<std::tuple<bool, term, term>> kvs;
    for (const term* l = &fields; l->is_cons(); l = &l->tail()) {
        term fld = l->head();
        term k = co_await ev(field(fld, 2), bs, c, nullptr);
        term v = co_await ev(field(fld, 3), bs, c, nullptr);
        kvs.emplace_back(fld[0].is_atom(n.map_field_exact), std::move(k), std::move(v));
    }
    for (auto& [exact, k, v] : kvs) {
        if (exact && !base.map_get(k)) fail(tuple(n.badkey, k));
        base = map_put(base, k, v);
    }
    co_return base;
}

task<term> ev_bin(term e, bindings* bs, const context* c) {
    const names& n = N();
    std::vector<detail::bit_segment> segs;
    for (const term* l = &field(e, 2); l->is_cons(); l = &l->tail()) {
        term el = l->head();
        detail::bit_segment seg;
        if (!detail::parse_bit_types(field(el, 4), seg)) badarg();
        term value_expr = el[2];
        if (kind_of(value_expr) == kind::string) {
            if (!field(el, 3).is_atom(n.default_)) seg.size = co_await ev(el[3], bs, c, nullptr);
            for (const term* ch = &value_expr[2]; ch->is_cons(); ch = &ch->tail()) {
                detail::bit_segment s = seg;
                s.value = ch->head();
                segs.push_back(std::move(s));
            }
            continue;
        }
        seg.value = co_await ev(value_expr, bs, c, nullptr);
        if (!field(el, 3).is_atom(n.default_)) seg.size = co_await ev(el[3], bs, c, nullptr);
        segs.push_back(std::move(seg));
    }
    co_return detail::build_bits(segs);
}

// Dest ! Msg: the destination must be a pid, a port, a name or {Name, Node}. The caller
// co_awaits the result: like erl's `!`, it waits while the destination node's connection is busy.
send_result do_send(const term& dest, term msg) {
    bool ok = dest.is_pid() || dest.is_atom() || (dest.is_tuple(2) && dest[0].is_atom() && dest[1].is_atom());
    if (!ok)
        detail::rethrow_with_frame(error_exception(term(atoms::badarg)), atoms::erlang, N().bang,
                                   {dest, msg});
    try {
        return send(dest, msg);
    } catch (const erlang_exception& ex) {
        if (detail::has_stack(ex)) throw;
        detail::rethrow_with_frame(ex, atoms::erlang, N().bang, {dest, msg});
    }
    return {};
}

task<term> ev_op(term e, bindings* bs, const context* c, tail_call* tc) {
    const names& n = N();
    atom op = field(e, 2).as_atom();
    if (e.tuple_size() == 4) {
        term a;
        if (!quick(e[3], *bs, a)) a = co_await ev(e[3], bs, c, nullptr);
        co_return unary_op(op, a);
    }
    if (op == n.andalso || op == n.orelse) {
        term l = co_await ev(field(e, 3), bs, c, nullptr);
        bool x;
        if (!as_bool(l, x)) fail(tuple(atoms::badarg, l));
        if (op == n.andalso ? !x : x) co_return l;
        co_return co_await ev(field(e, 4), bs, c, tc);
    }
    term l, r;
    if (!quick(field(e, 3), *bs, l)) l = co_await ev(e[3], bs, c, nullptr);
    if (!quick(field(e, 4), *bs, r)) r = co_await ev(e[4], bs, c, nullptr);
    if (op == n.bang) {
        send_result sent = do_send(l, r);
        co_await sent;
        co_return r;
    }
    co_return binary_op(op, l, r);
}

task<term> ev_call(term e, bindings* bs, const context* c, tail_call* tc) {
    const names& n = N();
    term fn = field(e, 2);
    term args_ast = field(e, 3);
    kind fk = kind_of(fn);
    if (fk == kind::remote) {
        term mt = co_await ev(field(fn, 2), bs, c, nullptr);
        term ft = co_await ev(field(fn, 3), bs, c, nullptr);
        std::vector<term> args = co_await ev_args(args_ast, bs, c);
        if (!mt.is_atom() || !ft.is_atom()) {
            // erl_eval applies {M, F}: a bad module or function name is badarg / badfun.
            fail(tuple(n.badfun, tuple(mt, ft)));
        }
        co_return co_await call_mfa(mt.as_atom(), ft.as_atom(), std::move(args));
    }
    if (fk == kind::atom_) {
        atom f = field(fn, 2).as_atom();
        auto arity = static_cast<unsigned>(args_ast.list_length().value_or(0));
        if (detail::is_auto_imported(f, arity)) {
            std::vector<term> args = co_await ev_args(args_ast, bs, c);
            co_return co_await call_mfa(atoms::erlang, f, std::move(args));
        }
        const bool shell = c->opts && c->opts->local;
        if (shell) {
            const local_handler& h = c->opts->local;
            std::optional<term> r = co_await h(f, args_ast, bs);
            if (r) co_return *r;
        }
        // As the shell: the arguments are evaluated, then user_default and shell_default are
        // tried (the export table may have them), then the call fails.
        std::vector<term> args = co_await ev_args(args_ast, bs, c);
        static const atom defaults[2] = {atom("user_default"), atom("shell_default")};
        for (std::size_t i = 0; i < 2; ++i) {
            if (exports().find(defaults[i], f, arity))
                co_return co_await call_mfa(defaults[i], f, std::move(args));
        }
        if (!shell) {
            // erl_eval without the shell's local function handler (a fun applied elsewhere): undef.
            raise(exception_class::error, term(atoms::undef),
                  list({tuple(n.erl_eval, f, term(static_cast<long long>(args.size())), term())}));
        }
        raise(exception_class::error,
              tuple(n.shell_undef, f, term(static_cast<long long>(args.size())), term()), term());
    }
    term fv;
    if (!quick(fn, *bs, fv)) fv = co_await ev(fn, bs, c, nullptr);
    std::vector<term> args = co_await ev_args(args_ast, bs, c);
    if (tc && detail::interpreted_fun_parts(fv)) {
        tc->pending = true;
        tc->fun = std::move(fv);
        tc->args = std::move(args);
        co_return term();
    }
    co_return co_await apply_fun(std::move(fv), std::move(args), c);
}

term ev_fun(const term& e, const bindings& bs) {
    const names& n = N();
    const term& what = field(e, 2);
    if (what.is_tuple(2) && what[0].is_atom(n.clauses)) {
        const term& cs = what[1];
        if (!cs.is_cons()) bad_abstract(e);
        auto arity = field(cs.head(), 2).list_length().value_or(0);
        if (arity > 20) fail(tuple(n.argument_limit, e));
        return detail::make_interpreted_fun(e[1], bs, cs, std::nullopt, static_cast<unsigned>(arity));
    }
    if (what.is_tuple(3) && what[0].is_atom(n.function)) {
        // fun F/A: only the BIFs are local functions of the shell.
        atom f = what[1].as_atom();
        auto a = what[2].to_int64();
        if (!a || *a < 0 || *a > 255) badarg();
        // erl_eval (and so erl's shell) cannot make local funs, not even of BIFs: undef.
        raise(exception_class::error, term(atoms::undef), list({tuple(n.erl_eval, f, what[2], term())}));
    }
    if (what.is_tuple(4) && what[0].is_atom(n.function)) {
        term m = eval_sync(what[1], bs, nullptr);
        term f = eval_sync(what[2], bs, nullptr);
        term a = eval_sync(what[3], bs, nullptr);
        auto ar = a.to_int64();
        if (!m.is_atom() || !f.is_atom() || !ar || *ar < 0 || *ar > 255) badarg();
        return make_export(m.as_atom(), f.as_atom(), static_cast<unsigned>(*ar));
    }
    bad_abstract(e);
}

term ev_named_fun(const term& e, const bindings& bs) {
    const names& n = N();
    atom name = field(e, 2).as_atom();
    const term& cs = field(e, 3);
    if (!cs.is_cons()) bad_abstract(e);
    auto arity = field(cs.head(), 2).list_length().value_or(0);
    if (arity > 20) fail(tuple(n.argument_limit, e));
    return detail::make_interpreted_fun(e[1], bs, cs, name, static_cast<unsigned>(arity));
}

// The first clause of cs (each {clause, A, [Pattern], Guard, Body}) matching v; its bindings
// are left in bs. nullptr when none matches.
const term* select_clause(const term& cs, const term& v, bindings& bs) {
    for (const term* l = &cs; l->is_cons(); l = &l->tail()) {
        const term& cl = l->head();
        std::size_t mark = bs.mark();
        const term& pats = field(cl, 2);
        if (pats.is_cons() && match(pats.head(), v, bs, nullptr) && guard_ok(field(cl, 3), bs)) return &cl;
        bs.undo(mark);
    }
    return nullptr;
}

task<term> ev_case(term e, bindings* bs, const context* c, tail_call* tc) {
    term v = co_await ev(field(e, 2), bs, c, nullptr);
    const term* cl = select_clause(field(e, 3), v, *bs);
    if (!cl) fail(tuple(N().case_clause, v));
    term body = (*cl)[4];
    co_return co_await ev_body(std::move(body), bs, c, tc);
}

task<term> ev_if(term e, bindings* bs, const context* c, tail_call* tc) {
    for (const term* l = &field(e, 2); l->is_cons(); l = &l->tail()) {
        const term& cl = l->head();
        if (guard_ok(field(cl, 3), *bs)) {
            term body = cl[4];
            co_return co_await ev_body(std::move(body), bs, c, tc);
        }
    }
    fail(N().if_clause);
}

// The matcher of a receive: the first clause that matches a message (and its guard) wins, and
// its bindings stay in bs.
struct receive_matcher {
    const term* clauses;
    bindings* bs;
    const term* chosen = nullptr;
    bool operator()(const term& msg) {
        try {
            chosen = select_clause(*clauses, msg, *bs);
        } catch (...) {
            chosen = nullptr;
        }
        return chosen != nullptr;
    }
};

task<term> ev_receive(term e, bindings* bs, const context* c, tail_call* tc) {
    const names& n = N();
    term clauses = field(e, 2);
    bool has_after = e.tuple_size() == 5;
    std::int64_t timeout_ms = -1;
    if (has_after) {
        term t = co_await ev(e[3], bs, c, nullptr);
        if (t.is_atom(atoms::infinity)) {
            timeout_ms = -1;
        } else {
            auto v = t.to_int64();
            if (!v || *v < 0 || *v > 0xFFFFFFFFLL) fail(n.timeout_value);
            timeout_ms = *v;
        }
    }
    receive_matcher m{&clauses, bs};
    auto pred = [p = &m](const term& msg) { return (*p)(msg); };
    received r;
    if (timeout_ms < 0) {
        r = co_await receive(pred);
    } else {
        r = co_await receive(pred).after(std::chrono::milliseconds(timeout_ms));
    }
    if (!r) {
        term body = e[4];
        co_return co_await ev_body(std::move(body), bs, c, tc);
    }
    term body = (*m.chosen)[4];
    co_return co_await ev_body(std::move(body), bs, c, tc);
}

struct caught {
    exception_class cls;
    term reason;
    term stack;
};

caught capture(const erlang_exception& e) {
    return {e.kind(), e.reason(), stacktrace_of(e)};
}

task<term> ev_try(term e, bindings* bs, const context* c) {
    const names& n = N();
    term body = field(e, 2);
    term of_clauses = field(e, 3);
    term catch_clauses = field(e, 4);
    term after = field(e, 5);
    std::size_t mark = bs->mark();
    std::optional<caught> failure;
    std::exception_ptr other;  // a C++ exception that is not an Erlang one: rethrown as is
    term value;
    try {
        value = co_await ev_body(body, bs, c, nullptr);
    } catch (const erlang_exception& ex) {
        failure = capture(ex);
    } catch (...) {
        other = std::current_exception();
    }
    std::optional<caught> result_failure;
    std::exception_ptr result_other;
    term result;
    if (other) {
        result_other = other;
    } else if (!failure) {
        if (of_clauses.is_nil()) {
            result = value;
        } else {
            try {
                const term* cl = select_clause(of_clauses, value, *bs);
                if (!cl) fail(tuple(n.try_clause, value));
                term cbody = (*cl)[4];
                result = co_await ev_body(std::move(cbody), bs, c, nullptr);
            } catch (const erlang_exception& ex) {
                result_failure = capture(ex);
            } catch (...) {
                result_other = std::current_exception();
            }
        }
    } else {
        bs->undo(mark);
        term exc = tuple(class_atom(failure->cls), failure->reason, failure->stack);
        const term* cl = nullptr;
        try {
            cl = select_clause(catch_clauses, exc, *bs);
        } catch (const erlang_exception& ex) {
            result_failure = capture(ex);
        }
        if (!cl && !result_failure) {
            result_failure = failure;
        } else if (cl) {
            try {
                term cbody = (*cl)[4];
                result = co_await ev_body(std::move(cbody), bs, c, nullptr);
            } catch (const erlang_exception& ex) {
                result_failure = capture(ex);
            } catch (...) {
                result_other = std::current_exception();
            }
        }
    }
    if (!after.is_nil()) co_await ev_body(after, bs, c, nullptr);
    if (result_other) std::rethrow_exception(result_other);
    if (result_failure) raise(result_failure->cls, result_failure->reason, result_failure->stack);
    co_return result;
}

task<term> ev_catch(term e, bindings* bs, const context* c) {
    const names& n = N();
    std::size_t mark = bs->mark();
    std::optional<caught> failure;
    term v;
    try {
        v = co_await ev(field(e, 2), bs, c, nullptr);
    } catch (const erlang_exception& ex) {
        failure = capture(ex);
    }
    if (!failure) co_return v;
    bs->undo(mark);
    switch (failure->cls) {
        case exception_class::throw_:
            co_return failure->reason;
        case exception_class::exit:
            co_return tuple(n.EXIT, failure->reason);
        case exception_class::error:
            co_return tuple(n.EXIT, tuple(failure->reason, failure->stack));
    }
    co_return v;
}

// Whether e may stand in a guard: variables, literals, data constructors, operators other than
// `!`, and calls of guard BIFs (erl_lint:is_guard_test/1, without records).
bool is_guard_test(const term& e) {
    const names& n = N();
    auto all = [](const term& l) {
        for (const term* x = &l; x->is_cons(); x = &x->tail())
            if (!is_guard_test(x->head())) return false;
        return true;
    };
    switch (kind_of(e)) {
        case kind::var:
        case kind::integer:
        case kind::float_:
        case kind::char_:
        case kind::atom_:
        case kind::string:
        case kind::nil:
            return true;
        case kind::cons:
            return e.tuple_size() == 4 && is_guard_test(e[2]) && is_guard_test(e[3]);
        case kind::tuple:
            return e.tuple_size() == 3 && all(e[2]);
        case kind::op:
            if (e.tuple_size() == 4) return is_guard_test(e[3]);
            return e.tuple_size() == 5 && !e[2].is_atom(n.bang) && is_guard_test(e[3]) && is_guard_test(e[4]);
        case kind::call: {
            if (e.tuple_size() != 4) return false;
            const term& fn = e[2];
            auto arity = e[3].list_length();
            if (!arity || !all(e[3])) return false;
            if (kind_of(fn) == kind::atom_)
                return fn.tuple_size() == 3 && detail::is_guard_bif(fn[2].as_atom(), static_cast<unsigned>(*arity));
            if (kind_of(fn) == kind::remote && fn.tuple_size() == 4 && kind_of(fn[2]) == kind::atom_ &&
                kind_of(fn[3]) == kind::atom_)
                return fn[2][2].is_atom(atoms::erlang) &&
                       detail::is_guard_bif(fn[3][2].as_atom(), static_cast<unsigned>(*arity));
            return false;
        }
        default:
            return false;
    }
}

// Binds a generator's pattern with its own variables (they shadow the outer ones).
bool bind_generator(const term& pat, const term& v, bindings& inner, const bindings& outer) {
    bindings fresh;
    if (!match(pat, v, fresh, &outer)) return false;
    for (auto& [name, value] : fresh.raw())
        inner.set(name, value);
    return true;
}

// Comprehension qualifiers from index qi on; each complete combination adds the template's
// value (lc) or bits (bc) to out.
task<void> ev_quals(const std::vector<term>* quals, std::size_t qi, term templ, bindings* bs,
                    const context* c, std::vector<term>* out) {
    const names& n = N();
    if (qi == quals->size()) {
        out->push_back(co_await ev(templ, bs, c, nullptr));
        co_return;
    }
    term q = (*quals)[qi];
    if (q.is_tuple(4) && q[0].is_atom(n.generate)) {
        term src = co_await ev(q[3], bs, c, nullptr);
        const term* cur = &src;
        bindings saved = *bs;
        for (; cur->is_cons(); cur = &cur->tail()) {
            detail::consume_reductions(20);  // see ev: this also bounds the native stack
            co_await yield();
            *bs = saved;
            if (!bind_generator(q[2], cur->head(), *bs, saved)) continue;
            co_await ev_quals(quals, qi + 1, templ, bs, c, out);
        }
        *bs = saved;
        if (!cur->is_nil()) fail(tuple(n.bad_generator, src));
        co_return;
    }
    if (q.is_tuple(4) && q[0].is_atom(n.b_generate)) {
        term src = co_await ev(q[3], bs, c, nullptr);
        if (!src.is_bitstring()) fail(tuple(n.bad_generator, src));
        detail::bit_reader reader(src);
        bindings saved = *bs;
        for (;;) {
            detail::consume_reductions(20);  // see ev: this also bounds the native stack
            co_await yield();
            *bs = saved;
            bindings fresh;
            if (!match_bin(q[2], src, fresh, &saved, &reader)) break;
            for (auto& [name, value] : fresh.raw())
                bs->set(name, value);
            co_await ev_quals(quals, qi + 1, templ, bs, c, out);
            if (reader.bits_left() == 0) break;
        }
        *bs = saved;
        co_return;
    }
    // A filter: a guard test (erl_lint:is_guard_test/1) has guard semantics (an exception or a
    // non-boolean is false); any other expression must give a boolean.
    if (is_guard_test(q)) {
        bool pass = false;
        try {
            pass = eval_sync(q, *bs, nullptr).is_atom(atoms::true_);
        } catch (const erlang_exception&) {
            pass = false;
        }
        if (pass) co_await ev_quals(quals, qi + 1, templ, bs, c, out);
        co_return;
    }
    term v = co_await ev(q, bs, c, nullptr);
    if (v.is_atom(atoms::true_)) {
        co_await ev_quals(quals, qi + 1, templ, bs, c, out);
        co_return;
    }
    if (!v.is_atom(atoms::false_)) fail(tuple(n.bad_filter, v));
}

task<term> ev_comprehension(term e, bindings* bs, const context* c, bool binary) {
    std::vector<term> quals;
    for (const term* l = &field(e, 3); l->is_cons(); l = &l->tail())
        quals.push_back(l->head());
    bindings inner = *bs;  // comprehension variables do not leak out
    std::vector<term> out;
    co_await ev_quals(&quals, 0, e[2], &inner, c, &out);
    if (!binary) co_return make_list(std::move(out));
    std::vector<detail::bit_segment> segs;
    for (term& t : out) {
        if (!t.is_bitstring()) badarg();
        detail::bit_segment s;
        s.value = std::move(t);
        s.type = atom("bitstring");
        segs.push_back(std::move(s));
    }
    co_return detail::build_bits(segs);
}

task<term> ev(term e, bindings* bs, const context* c, tail_call* tc) {
    const names& n = N();
    // Every evaluation step costs a reduction, so the yield points (fun applications,
    // comprehension steps) give up the thread often enough. That also bounds how deep a chain of
    // co_awaits that complete at once can nest on the native stack when the compiler does not
    // turn symmetric transfer into tail calls (g++ with sanitizers: a few KiB of native stack
    // per resumed frame under ASan).
    detail::consume_reductions(20);
    switch (kind_of(e)) {
        case kind::var: {
            atom v = field(e, 2).as_atom();
            if (const term* t = bs->find(v)) co_return *t;
            fail(tuple(n.unbound_var, v));
        }
        case kind::integer:
        case kind::float_:
        case kind::char_:
        case kind::atom_:
        case kind::string:
            co_return e[2];
        case kind::nil:
            co_return term();
        case kind::cons:
            co_return co_await ev_cons(std::move(e), bs, c);
        case kind::tuple: {
            std::vector<term> elems = co_await ev_args(field(e, 2), bs, c);
            co_return make_tuple(std::move(elems));
        }
        case kind::map:
            co_return co_await ev_map(std::move(e), bs, c);
        case kind::bin:
            co_return co_await ev_bin(std::move(e), bs, c);
        case kind::op:
            co_return co_await ev_op(std::move(e), bs, c, tc);
        case kind::match: {
            term v = co_await ev(field(e, 3), bs, c, nullptr);
            std::size_t mark = bs->mark();
            if (!match(e[2], v, *bs, nullptr)) {
                bs->undo(mark);
                fail(tuple(n.badmatch, v));
            }
            co_return v;
        }
        case kind::call:
            co_return co_await ev_call(std::move(e), bs, c, tc);
        case kind::fun:
            co_return ev_fun(e, *bs);
        case kind::named_fun:
            co_return ev_named_fun(e, *bs);
        case kind::case_:
            co_return co_await ev_case(std::move(e), bs, c, tc);
        case kind::if_:
            co_return co_await ev_if(std::move(e), bs, c, tc);
        case kind::receive:
            co_return co_await ev_receive(std::move(e), bs, c, tc);
        case kind::try_:
            co_return co_await ev_try(std::move(e), bs, c);
        case kind::catch_:
            co_return co_await ev_catch(std::move(e), bs, c);
        case kind::block:
            co_return co_await ev_body(field(e, 2), bs, c, tc);
        case kind::lc:
            co_return co_await ev_comprehension(std::move(e), bs, c, false);
        case kind::bc:
            co_return co_await ev_comprehension(std::move(e), bs, c, true);
        case kind::remote:
        case kind::unknown:
            break;
    }
    fail(tuple("illegal_expr"_a, e));
}

task<term> ev_body(term exprs, bindings* bs, const context* c, tail_call* tc) {
    term v;
    for (const term* l = &exprs; l->is_cons(); l = &l->tail()) {
        bool last = l->tail().is_nil();
        v = co_await ev(l->head(), bs, c, last ? tc : nullptr);
    }
    co_return v;
}

// erl_eval:eval_fun: selects the clause for args (head variables shadow the fun's bindings)
// and evaluates its body; tail calls to interpreted funs loop here.
task<term> apply_fun(term fun, std::vector<term> args, const context* c) {
    const names& n = N();
    for (;;) {
        auto parts = detail::interpreted_fun_parts(fun);
        if (!parts) {
            if (fun.is_export()) {
                if (fun.fun_arity() != args.size())
                    fail(tuple(n.badarity, tuple(fun, make_list(std::vector<term>(args)))));
                co_return co_await call_mfa(fun.export_module(), fun.export_function(), std::move(args));
            }
            if (fun.is_fun()) fail(tuple(n.badarity, tuple(fun, make_list(std::move(args)))));
            fail(tuple(n.badfun, fun));
        }
        if (parts->arity != args.size()) fail(tuple(n.badarity, tuple(fun, make_list(std::move(args)))));
        bindings outer = bindings::from_term(parts->bindings);
        if (parts->name) outer.set(*parts->name, fun);
        const term* chosen = nullptr;
        bindings bs;
        for (const term* l = &parts->clauses; l->is_cons(); l = &l->tail()) {
            const term& cl = l->head();
            bindings head;
            if (!match_all(field(cl, 2), args, head, &outer)) continue;
            bs = outer;
            for (auto& [name, value] : head.raw())
                bs.set(name, value);
            if (!guard_ok(field(cl, 3), bs)) continue;
            chosen = &cl;
            break;
        }
        if (!chosen) {
            raise(exception_class::error, n.function_clause,
                  list({tuple(n.erl_eval, n.inside_fun, make_list(std::move(args)), term())}));
        }
        detail::consume_reductions(1);
        co_await yield();
        tail_call tc;
        term body = (*chosen)[4];
        term v = co_await ev_body(std::move(body), &bs, c, &tc);
        // Returning costs too: a deep non-tail recursion unwinding (Fact(N) -> N * Fact(N - 1))
        // yields now and then, which also bounds the native stack (see ev).
        detail::consume_reductions(20);
        co_await yield();
        if (!tc.pending) co_return v;
        fun = std::move(tc.fun);
        args = std::move(tc.args);
    }
}

bool frameless(atom m, atom f) {
    // These raise the exception they are asked to; the BEAM shows no frame of theirs.
    static const atom raise_("raise");
    return m == atoms::erlang && (f == atoms::error || f == atoms::exit || f == atoms::throw_ || f == raise_);
}

task<term> call_mfa(atom m, atom f, std::vector<term> args) {
    // A call is a reduction and a yield point (lists:map(fun erlang:abs/1, Long) loops through
    // here without evaluating anything; see ev for why the cost is high).
    detail::consume_reductions(20);
    co_await yield();
    auto arity = static_cast<unsigned>(args.size());
    if (m == atoms::erlang) {
        if (auto fn = detail::find_sync_bif(m, f, arity)) {
            try {
                co_return fn(args);
            } catch (const erlang_exception& e) {
                if (detail::has_stack(e) || frameless(m, f)) throw;
                detail::rethrow_with_frame(e, m, f, std::move(args));
            }
        }
    }
    auto native = exports().find(m, f, arity);
    if (!native)
        raise(exception_class::error, term(atoms::undef),
              list({tuple(m, f, make_list(std::move(args)), term())}));
    std::vector<term> copy = args;
    try {
        co_return co_await (*native)(std::move(args));
    } catch (const erlang_exception& e) {
        if (detail::has_stack(e) || frameless(m, f)) throw;
        detail::rethrow_with_frame(e, m, f, std::move(copy));
    }
}

task<> run_fun_process(term fun) {
    const names& n = N();
    std::optional<caught> failure;
    try {
        co_await detail::apply_args(fun);
    } catch (const erlang_exception& e) {
        failure = capture(e);
    }
    if (!failure) co_return;
    switch (failure->cls) {
        case exception_class::exit:
            throw exit_exception(failure->reason);
        case exception_class::error:
            throw exit_exception(tuple(failure->reason, failure->stack));
        case exception_class::throw_:
            throw exit_exception(tuple(tuple(n.nocatch, failure->reason), failure->stack));
    }
}

}  // namespace

// ---- public entry points ----

task<term> eval_exprs(term exprs, bindings& bs, const eval_options& opts) {
    context c{&opts};
    term v;
    for (const term* l = &exprs; l->is_cons(); l = &l->tail())
        v = co_await ev(l->head(), &bs, &c, nullptr);
    co_return v;
}

task<term> eval_expr(term expr, bindings& bs, const eval_options& opts) {
    context c{&opts};
    co_return co_await ev(std::move(expr), &bs, &c, nullptr);
}

task<term> apply(term fun, std::vector<term> args) {
    static const eval_options none{};
    context c{&none};
    co_return co_await apply_fun(std::move(fun), std::move(args), &c);
}

task<term> apply(atom module, atom function, std::vector<term> args) {
    co_return co_await call_mfa(module, function, std::move(args));
}

pid spawn_fun(const term& fun, bool link) {
    term f = fun;
    auto body = [f]() { return run_fun_process(f); };
    if (link) return nodus::spawn_link(body);
    return nodus::spawn(body);
}

namespace detail {
task<term> apply_args(term fun) {
    return eval::apply(std::move(fun), std::vector<term>());
}
task<term> apply_args(term fun, term a) {
    std::vector<term> v;
    v.push_back(std::move(a));
    return eval::apply(std::move(fun), std::move(v));
}
task<term> apply_args(term fun, term a, term b) {
    std::vector<term> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    return eval::apply(std::move(fun), std::move(v));
}
task<term> apply_args(term fun, term a, term b, term c) {
    std::vector<term> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    v.push_back(std::move(c));
    return eval::apply(std::move(fun), std::move(v));
}

std::pair<pid, reference> spawn_fun_monitor(const term& fun) {
    term f = fun;
    auto body = [f]() { return run_fun_process(f); };
    return nodus::spawn_monitor(body);
}
}  // namespace detail

}  // namespace nodus::eval

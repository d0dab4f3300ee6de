// The checks erl's shell makes on a command before running it (erl_lint:exprs_opt/3 through
// erl_eval:check_command/2), for what matters in a shell: unbound variables, illegal guard
// expressions, illegal patterns, '=>' in map patterns and ':=' in map construction. Variables
// bound in some clauses of a case/receive/if/try are treated as bound after it (erl_lint calls
// them unsafe; erl_eval then fails at run time), so nothing valid is rejected. Also a printer of
// abstract expressions on one line in erl_pp's style, for b().
#include <unordered_set>

#include "eval_impl.hpp"
#include "lint.hpp"
#include "nodus/eval/parse.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

struct stop {};

using scope = std::unordered_set<std::uint32_t>;

std::string quoted(atom a) {
    std::string out;
    print_atom(out, a);
    return out;
}

class linter {
public:
    explicit linter(scope bound) : bound_(std::move(bound)) {}

    std::optional<lint_error> run(const term& e) {
        try {
            expr(e, bound_);
        } catch (const stop&) {
            return error_;
        }
        return std::nullopt;
    }

private:
    [[noreturn]] void fail(const term& anno, std::string message) {
        error_ = lint_error{anno, std::move(message)};
        throw stop{};
    }

    static bool tag(const term& e, const char* name) {
        return e.is_tuple() && e.tuple_size() >= 2 && e[0].is_atom(atom(name));
    }
    static const term& anno_of(const term& e) {
        static const term none(1);
        return e.is_tuple() && e.tuple_size() >= 2 ? e[1] : none;
    }

    void use_var(const term& v, const scope& s) {
        atom name = v[2].as_atom();
        if (name == "_"_a || !s.count(name.index())) fail(v[1], "variable " + quoted(name) + " is unbound");
    }

    void exprs(const term& list, scope& s) {
        for (const term* l = &list; l->is_cons(); l = &l->tail())
            expr(l->head(), s);
    }

    void expr(const term& e, scope& s) {
        if (!e.is_tuple() || e.tuple_size() < 2 || !e[0].is_atom()) return;
        if (tag(e, "var")) {
            use_var(e, s);
        } else if (tag(e, "cons")) {
            const term* cur = &e;
            while (tag(*cur, "cons")) {
                expr((*cur)[2], s);
                cur = &(*cur)[3];
            }
            expr(*cur, s);
        } else if (tag(e, "tuple")) {
            exprs(e[2], s);
        } else if (tag(e, "map")) {
            if (e.tuple_size() == 4) expr(e[2], s);
            const term& fields = e[e.tuple_size() - 1];
            for (const term* l = &fields; l->is_cons(); l = &l->tail()) {
                const term& f = l->head();
                if (e.tuple_size() == 3 && tag(f, "map_field_exact"))
                    fail(f[1], "only association operators '=>' are allowed in map construction");
                expr(f[2], s);
                expr(f[3], s);
            }
        } else if (tag(e, "bin")) {
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail()) {
                const term& el = l->head();
                expr(el[2], s);
                if (!el[3].is_atom()) expr(el[3], s);
            }
        } else if (tag(e, "op")) {
            for (std::size_t i = 3; i < e.tuple_size(); ++i)
                expr(e[i], s);
        } else if (tag(e, "match")) {
            expr(e[3], s);
            pattern(e[2], s, s);
        } else if (tag(e, "call")) {
            const term& fn = e[2];
            // f(V) is the shell's "forget V": V need not be bound (shell.erl's prep_check).
            if (tag(fn, "atom") && fn[2].is_atom("f"_a) && e[3].list_length() == 1u &&
                tag(e[3].head(), "var"))
                return;
            if (tag(fn, "remote")) {
                expr(fn[2], s);
                expr(fn[3], s);
            } else if (!tag(fn, "atom")) {
                expr(fn, s);
            }
            exprs(e[3], s);
        } else if (tag(e, "fun")) {
            const term& what = e[2];
            if (what.is_tuple(2) && what[0].is_atom("clauses"_a)) {
                fun_clauses(what[1], s, std::nullopt);
            } else if (what.is_tuple(4)) {
                scope inner = s;
                expr(what[1], inner);
                expr(what[2], inner);
                expr(what[3], inner);
            }
        } else if (tag(e, "named_fun")) {
            fun_clauses(e[3], s, e[2].as_atom());
        } else if (tag(e, "case")) {
            expr(e[2], s);
            cr_clauses(e[3], s);
        } else if (tag(e, "if")) {
            scope all = s;
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail()) {
                scope inner = s;
                guard(l->head()[3], inner);
                exprs(l->head()[4], inner);
                all.insert(inner.begin(), inner.end());
            }
            s = std::move(all);
        } else if (tag(e, "receive")) {
            scope all = s;
            cr_clauses(e[2], all);
            if (e.tuple_size() == 5) {
                scope inner = s;
                expr(e[3], inner);
                exprs(e[4], inner);
                all.insert(inner.begin(), inner.end());
            }
            s = std::move(all);
        } else if (tag(e, "try")) {
            scope body = s;
            exprs(e[2], body);
            scope all = body;
            if (e[3].is_cons()) {
                scope of = body;
                cr_clauses(e[3], of);
                all.insert(of.begin(), of.end());
            }
            if (e[4].is_cons()) {
                scope c = s;
                cr_clauses(e[4], c);
                all.insert(c.begin(), c.end());
            }
            if (e[5].is_cons()) {
                scope after = s;
                exprs(e[5], after);
            }
            s = std::move(all);
        } else if (tag(e, "catch")) {
            expr(e[2], s);
        } else if (tag(e, "block")) {
            exprs(e[2], s);
        } else if (tag(e, "lc") || tag(e, "bc")) {
            scope inner = s;
            for (const term* l = &e[3]; l->is_cons(); l = &l->tail()) {
                const term& q = l->head();
                if (tag(q, "generate") || tag(q, "b_generate")) {
                    expr(q[3], inner);
                    scope fresh;
                    pattern(q[2], fresh, inner);
                    inner.insert(fresh.begin(), fresh.end());
                } else {
                    expr(q, inner);
                }
            }
            expr(e[2], inner);
        }
    }

    // Clauses of case/receive/try: pattern, guard, body; the union of what they bind.
    void cr_clauses(const term& clauses, scope& s) {
        scope all = s;
        for (const term* l = &clauses; l->is_cons(); l = &l->tail()) {
            const term& cl = l->head();
            scope inner = s;
            for (const term* p = &cl[2]; p->is_cons(); p = &p->tail())
                pattern(p->head(), inner, inner);
            guard(cl[3], inner);
            exprs(cl[4], inner);
            all.insert(inner.begin(), inner.end());
        }
        s = std::move(all);
    }

    void fun_clauses(const term& clauses, const scope& s, std::optional<atom> name) {
        for (const term* l = &clauses; l->is_cons(); l = &l->tail()) {
            const term& cl = l->head();
            scope inner = s;
            if (name) inner.insert(name->index());
            scope head;
            for (const term* p = &cl[2]; p->is_cons(); p = &p->tail())
                pattern(p->head(), head, inner);
            inner.insert(head.begin(), head.end());
            guard(cl[3], inner);
            exprs(cl[4], inner);
        }
    }

    // Binds the new variables of a pattern into `into`; sizes and map keys are read from
    // `outer` plus what the pattern bound so far.
    void pattern(const term& p, scope& into, const scope& outer) {
        if (!p.is_tuple() || p.tuple_size() < 2 || !p[0].is_atom()) return;
        if (tag(p, "var")) {
            atom name = p[2].as_atom();
            if (name != "_"_a) into.insert(name.index());
        } else if (tag(p, "integer") || tag(p, "float") || tag(p, "char") || tag(p, "atom") ||
                   tag(p, "string") || tag(p, "nil")) {
            return;
        } else if (tag(p, "cons")) {
            const term* cur = &p;
            while (tag(*cur, "cons")) {
                pattern((*cur)[2], into, outer);
                cur = &(*cur)[3];
            }
            pattern(*cur, into, outer);
        } else if (tag(p, "tuple")) {
            for (const term* l = &p[2]; l->is_cons(); l = &l->tail())
                pattern(l->head(), into, outer);
        } else if (tag(p, "map")) {
            if (p.tuple_size() != 3) fail(p[1], "illegal pattern");
            for (const term* l = &p[2]; l->is_cons(); l = &l->tail()) {
                const term& f = l->head();
                if (!tag(f, "map_field_exact"))
                    fail(f[1], "only association operators ':=' are allowed in map patterns");
                scope keys = outer;
                keys.insert(into.begin(), into.end());
                guard_expr(f[2], keys);
                pattern(f[3], into, outer);
            }
        } else if (tag(p, "bin")) {
            for (const term* l = &p[2]; l->is_cons(); l = &l->tail()) {
                const term& el = l->head();
                if (!el[3].is_atom()) {
                    scope sizes = outer;
                    sizes.insert(into.begin(), into.end());
                    guard_expr(el[3], sizes);
                }
                const term& v = el[2];
                if (tag(v, "var") || tag(v, "integer") || tag(v, "float") || tag(v, "char") ||
                    tag(v, "string"))
                    pattern(v, into, outer);
                else
                    fail(anno_of(v), "illegal pattern");
            }
        } else if (tag(p, "match")) {
            pattern(p[2], into, outer);
            pattern(p[3], into, outer);
        } else if (tag(p, "op")) {
            if (p.tuple_size() == 5 && p[2].is_atom("++"_a)) {
                if (!constant_list(p[3])) fail(p[1], "illegal pattern");
                pattern(p[4], into, outer);
            } else if (!constant(p)) {
                fail(p[1], "illegal pattern");
            }
        } else {
            fail(p[1], "illegal pattern");
        }
    }

    static bool constant(const term& e) {
        if (tag(e, "integer") || tag(e, "float") || tag(e, "char")) return true;
        if (tag(e, "op")) {
            for (std::size_t i = 3; i < e.tuple_size(); ++i)
                if (!constant(e[i])) return false;
            return !e[2].is_atom("!"_a);
        }
        return false;
    }
    static bool constant_list(const term& e) {
        if (tag(e, "string") || tag(e, "nil")) return true;
        if (tag(e, "cons")) {
            const term* cur = &e;
            while (tag(*cur, "cons")) {
                const term& h = (*cur)[2];
                if (!(tag(h, "integer") || tag(h, "char") || tag(h, "atom") || tag(h, "float"))) return false;
                cur = &(*cur)[3];
            }
            return tag(*cur, "nil");
        }
        return false;
    }

    void guard(const term& g, const scope& s) {
        for (const term* alt = &g; alt->is_cons(); alt = &alt->tail())
            for (const term* t = &alt->head(); t->is_cons(); t = &t->tail())
                guard_expr(t->head(), s);
    }

    void guard_expr(const term& e, const scope& s) {
        if (!e.is_tuple() || e.tuple_size() < 2 || !e[0].is_atom()) return;
        if (tag(e, "var")) {
            use_var(e, s);
        } else if (tag(e, "integer") || tag(e, "float") || tag(e, "char") || tag(e, "atom") ||
                   tag(e, "string") || tag(e, "nil")) {
            return;
        } else if (tag(e, "cons")) {
            const term* cur = &e;
            while (tag(*cur, "cons")) {
                guard_expr((*cur)[2], s);
                cur = &(*cur)[3];
            }
            guard_expr(*cur, s);
        } else if (tag(e, "tuple")) {
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail())
                guard_expr(l->head(), s);
        } else if (tag(e, "map")) {
            if (e.tuple_size() == 4) guard_expr(e[2], s);
            for (const term* l = &e[e.tuple_size() - 1]; l->is_cons(); l = &l->tail()) {
                guard_expr(l->head()[2], s);
                guard_expr(l->head()[3], s);
            }
        } else if (tag(e, "bin")) {
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail()) {
                guard_expr(l->head()[2], s);
                if (!l->head()[3].is_atom()) guard_expr(l->head()[3], s);
            }
        } else if (tag(e, "op")) {
            if (e[2].is_atom("!"_a)) fail(e[1], "illegal guard expression");
            for (std::size_t i = 3; i < e.tuple_size(); ++i)
                guard_expr(e[i], s);
        } else if (tag(e, "call")) {
            const term& fn = e[2];
            auto arity = static_cast<unsigned>(e[3].list_length().value_or(0));
            bool ok = false;
            if (tag(fn, "atom")) {
                ok = is_guard_bif(fn[2].as_atom(), arity);
            } else if (tag(fn, "remote") && tag(fn[2], "atom") && fn[2][2].is_atom(atoms::erlang) &&
                       tag(fn[3], "atom")) {
                ok = is_guard_bif(fn[3][2].as_atom(), arity);
            }
            if (!ok) fail(e[1], "illegal guard expression");
            for (const term* l = &e[3]; l->is_cons(); l = &l->tail())
                guard_expr(l->head(), s);
        } else {
            fail(e[1], "illegal guard expression");
        }
    }

    scope bound_;
    std::optional<lint_error> error_;
};

// ---- erl_pp on one line ----

class printer {
public:
    std::string out;

    void expr(const term& e) {
        if (!e.is_tuple() || e.tuple_size() < 2 || !e[0].is_atom()) {
            out += format_w(e);
            return;
        }
        std::string_view t = e[0].as_atom().name();
        if (t == "var") {
            out += e[2].as_atom().name();
        } else if (t == "atom") {
            print_atom(out, e[2].as_atom());
        } else if (t == "integer" || t == "float") {
            out += format_w(e[2]);
        } else if (t == "char") {
            auto c = e[2].to_int64().value_or(0);
            out += "$";
            if (c == '\n') {
                out += "\\n";
            } else if (c > 32 && c < 127) {
                out.push_back(static_cast<char>(c));
            } else if (c == ' ') {
                out += "\\s";
            } else {
                out += "\\x{" + integer_to_string(e[2], 16) + "}";
            }
        } else if (t == "string") {
            out += e[2].is_nil() ? "\"\"" : to_text(e[2], {print_style::p, atoms::nonode_nohost, {}, true});
        } else if (t == "nil") {
            out += "[]";
        } else if (t == "cons") {
            out += "[";
            const term* cur = &e;
            bool first = true;
            while (cur->is_tuple(4) && (*cur)[0].is_atom("cons"_a)) {
                if (!first) out += ", ";
                first = false;
                expr((*cur)[2]);
                cur = &(*cur)[3];
            }
            if (!(cur->is_tuple() && (*cur)[0].is_atom("nil"_a))) {
                out += " | ";
                expr(*cur);
            }
            out += "]";
        } else if (t == "tuple") {
            out += "{";
            list(e[2]);
            out += "}";
        } else if (t == "map") {
            if (e.tuple_size() == 4) expr(e[2]);
            out += "#{";
            bool first = true;
            for (const term* l = &e[e.tuple_size() - 1]; l->is_cons(); l = &l->tail()) {
                if (!first) out += ", ";
                first = false;
                const term& f = l->head();
                expr(f[2]);
                out += f[0].is_atom("map_field_exact"_a) ? " := " : " => ";
                expr(f[3]);
            }
            out += "}";
        } else if (t == "bin") {
            out += "<<";
            bool first = true;
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail()) {
                if (!first) out += ",";
                first = false;
                const term& el = l->head();
                expr(el[2]);
                if (!el[3].is_atom()) {
                    out += ":";
                    expr(el[3]);
                }
                if (el[4].is_list()) {
                    out += "/";
                    bool f2 = true;
                    for (const term* ty = &el[4]; ty->is_cons(); ty = &ty->tail()) {
                        if (!f2) out += "-";
                        f2 = false;
                        const term& x = ty->head();
                        if (x.is_tuple(2))
                            out += std::string(x[0].as_atom().name()) + ":" + format_w(x[1]);
                        else
                            out += format_w(x);
                    }
                }
            }
            out += ">>";
        } else if (t == "op") {
            std::string op(e[2].as_atom().name());
            if (e.tuple_size() == 4) {
                out += op;
                if (std::isalpha(static_cast<unsigned char>(op[0]))) out += " ";
                expr(e[3]);
            } else {
                expr(e[3]);
                out += " " + op + " ";
                expr(e[4]);
            }
        } else if (t == "match") {
            expr(e[2]);
            out += " = ";
            expr(e[3]);
        } else if (t == "call") {
            expr(e[2]);
            out += "(";
            list(e[3]);
            out += ")";
        } else if (t == "remote") {
            expr(e[2]);
            out += ":";
            expr(e[3]);
        } else if (t == "fun") {
            const term& w = e[2];
            if (w.is_tuple(2)) {
                out += "fun";
                clauses(w[1], "", true);
                out += " end";
            } else if (w.is_tuple(3)) {
                out += "fun " + std::string(w[1].as_atom().name()) + "/" + format_w(w[2]);
            } else if (w.is_tuple(4)) {
                out += "fun ";
                expr(w[1]);
                out += ":";
                expr(w[2]);
                out += "/";
                expr(w[3]);
            }
        } else if (t == "named_fun") {
            out += "fun";
            clauses(e[3], std::string(e[2].as_atom().name()), true);
            out += " end";
        } else if (t == "case") {
            out += "case ";
            expr(e[2]);
            out += " of ";
            clauses(e[3], "", false);
            out += " end";
        } else if (t == "if") {
            out += "if ";
            bool first = true;
            for (const term* l = &e[2]; l->is_cons(); l = &l->tail()) {
                if (!first) out += "; ";
                first = false;
                guard(l->head()[3]);
                out += " -> ";
                list(l->head()[4]);
            }
            out += " end";
        } else if (t == "receive") {
            out += "receive ";
            clauses(e[2], "", false);
            if (e.tuple_size() == 5) {
                out += " after ";
                expr(e[3]);
                out += " -> ";
                list(e[4]);
            }
            out += " end";
        } else if (t == "try") {
            out += "try ";
            list(e[2]);
            if (e[3].is_cons()) {
                out += " of ";
                clauses(e[3], "", false);
            }
            if (e[4].is_cons()) {
                out += " catch ";
                bool first = true;
                for (const term* l = &e[4]; l->is_cons(); l = &l->tail()) {
                    if (!first) out += "; ";
                    first = false;
                    const term& cl = l->head();
                    const term& tup = cl[2].head();
                    // {tuple, A, [Class, Pattern, Stack]}
                    const term& parts = tup[2];
                    expr(parts.head());
                    out += ":";
                    expr(parts.tail().head());
                    const term& st = parts.tail().tail().head();
                    if (!(st[2].is_atom("_"_a))) {
                        out += ":";
                        expr(st);
                    }
                    if (cl[3].is_cons()) {
                        out += " when ";
                        guard(cl[3]);
                    }
                    out += " -> ";
                    list(cl[4]);
                }
            }
            if (e[5].is_cons()) {
                out += " after ";
                list(e[5]);
            }
            out += " end";
        } else if (t == "catch") {
            out += "catch ";
            expr(e[2]);
        } else if (t == "block") {
            out += "begin ";
            list(e[2]);
            out += " end";
        } else if (t == "lc" || t == "bc") {
            out += t == "lc" ? "[" : "<< ";
            expr(e[2]);
            out += " || ";
            bool first = true;
            for (const term* l = &e[3]; l->is_cons(); l = &l->tail()) {
                if (!first) out += ", ";
                first = false;
                const term& q = l->head();
                if (q.is_tuple(4) && (q[0].is_atom("generate"_a) || q[0].is_atom("b_generate"_a))) {
                    expr(q[2]);
                    out += q[0].is_atom("generate"_a) ? " <- " : " <= ";
                    expr(q[3]);
                } else {
                    expr(q);
                }
            }
            out += t == "lc" ? "]" : " >>";
        } else {
            out += format_w(e);
        }
    }

    void list(const term& l) {
        bool first = true;
        for (const term* c = &l; c->is_cons(); c = &c->tail()) {
            if (!first) out += ", ";
            first = false;
            expr(c->head());
        }
    }

    void guard(const term& g) {
        bool first = true;
        for (const term* alt = &g; alt->is_cons(); alt = &alt->tail()) {
            if (!first) out += "; ";
            first = false;
            list(alt->head());
        }
    }

    void clauses(const term& cs, const std::string& name, bool fun) {
        bool first = true;
        for (const term* l = &cs; l->is_cons(); l = &l->tail()) {
            if (!first) out += fun ? "; " : "; ";
            const term& cl = l->head();
            if (fun) {
                if (first) out += " ";
                out += name + "(";
                list(cl[2]);
                out += ")";
            } else {
                list(cl[2]);
            }
            first = false;
            if (cl[3].is_cons()) {
                out += " when ";
                guard(cl[3]);
            }
            out += " -> ";
            list(cl[4]);
        }
    }
};

}  // namespace

std::optional<lint_error> lint_command(const term& expr, const bindings& bs) {
    scope s;
    for (auto& [name, v] : bs.raw())
        s.insert(name.index());
    linter l(std::move(s));
    return l.run(expr);
}

}  // namespace nodus::eval::detail

namespace nodus::eval {

std::string expr_to_text(const term& expr) {
    detail::printer p;
    p.expr(expr);
    return p.out;
}

std::string format_lint_error(const term& anno, std::string_view message) {
    std::string pos = std::to_string(anno_line(anno));
    if (std::size_t col = anno_column(anno)) pos += ":" + std::to_string(col);
    return "* " + pos + ": " + std::string(message);
}

}  // namespace nodus::eval

// Recursive descent over the tokens of nodus/term/scan.hpp, following erl_parse.yrl (OTP 25).
// Binary operators use precedence climbing with yecc's precedences (erl_parse.yrl's
// "Right 100 '=' '!'" ... "Nonassoc 800 ':'"); errors are reported at the first token that
// cannot continue the expression, which is where yecc (an LALR parser) reports them too.
#include "nodus/eval/parse.hpp"

#include <optional>
#include <utility>
#include <vector>

#include "nodus/term/scan.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval {

using namespace nodus::literals;

std::string syntax_error::describe() const {
    return std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::size_t anno_line(const term& anno) noexcept {
    if (anno.is_small()) return static_cast<std::size_t>(anno.small_value() < 0 ? 0 : anno.small_value());
    if (anno.is_tuple(2) && anno[0].is_small()) return static_cast<std::size_t>(anno[0].small_value());
    return 0;
}

std::size_t anno_column(const term& anno) noexcept {
    if (anno.is_tuple(2) && anno[1].is_small()) return static_cast<std::size_t>(anno[1].small_value());
    return 0;
}

namespace {

struct failure {
    syntax_error error;
};

// A parsed node with what the grammar's actions need besides the term: where its first
// annotated token is (first_anno) and how deep it nests.
struct node {
    term t;
    term first;  // first_anno
    std::size_t depth = 1;
};

enum class assoc : std::uint8_t { left, right, nonassoc };
struct binop {
    int prec;
    assoc dir;
};

// erl_parse.yrl's operator table.
std::optional<binop> binary_op(const token& t) {
    if (t.kind != token_kind::punct && t.kind != token_kind::keyword) return std::nullopt;
    std::string_view s = t.text;
    if (s == "=" || s == "!") return binop{100, assoc::right};
    if (s == "orelse") return binop{150, assoc::right};
    if (s == "andalso") return binop{160, assoc::right};
    if (s == "==" || s == "/=" || s == "=<" || s == "<" || s == ">=" || s == ">" || s == "=:=" || s == "=/=")
        return binop{200, assoc::nonassoc};
    if (s == "++" || s == "--") return binop{300, assoc::right};
    if (s == "+" || s == "-" || s == "bor" || s == "bxor" || s == "bsl" || s == "bsr" || s == "or" ||
        s == "xor")
        return binop{400, assoc::left};
    if (s == "/" || s == "*" || s == "div" || s == "rem" || s == "band" || s == "and")
        return binop{500, assoc::left};
    return std::nullopt;
}

// Operators allowed in patterns (pat_expr): no '!', andalso, orelse.
bool pattern_op(const token& t) {
    return !(t.is("!") || t.is("andalso") || t.is("orelse"));
}

bool prefix_op(const token& t) {
    return t.is("+") || t.is("-") || t.is("bnot") || t.is("not");
}

// io_lib:string_char/4 (unicode_as_unicode): one character of a quoted string or $c.
void string_char(std::string& out, std::uint32_t c, std::uint32_t quote) {
    auto utf8 = [&](std::uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    };
    if (quote != 0 && c == quote) {
        out.push_back('\\');
        utf8(c);
        return;
    }
    if (c == '\\') {
        out += "\\\\";
        return;
    }
    if ((c >= ' ' && c <= '~') || c >= 0xA0) {
        utf8(c);
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
            break;
    }
    out.push_back('\\');
    out.push_back(static_cast<char>('0' + (c >> 6)));
    out.push_back(static_cast<char>('0' + ((c >> 3) & 7)));
    out.push_back(static_cast<char>('0' + (c & 7)));
}

// yecctoken2string: how erl_parse names the token an error is reported before.
std::string token_text(const token& t) {
    std::string out;
    switch (t.kind) {
        case token_kind::atom: {
            auto a = atom::make(t.name);
            if (a) {
                print_atom(out, *a);
            } else {
                out = "'" + t.name + "'";
            }
            return out;
        }
        case token_kind::var:
            return t.name;
        case token_kind::integer:
            return to_text(t.integer);
        case token_kind::float_:
            print_float(out, t.float_value);
            return out;
        case token_kind::char_:
            // io_lib:write_char/1
            if (t.char_value == ' ') return "$\\s";
            out = "$";
            string_char(out, t.char_value, 0);
            return out;
        case token_kind::string: {
            // io_lib:write_string/1
            out = "\"";
            std::string_view s = t.name;
            std::size_t i = 0;
            while (i < s.size()) {
                auto c = static_cast<unsigned char>(s[i]);
                std::uint32_t cp = c;
                std::size_t n = 1;
                if (c >= 0xF0 && i + 3 < s.size()) {
                    cp = (c & 0x07u) << 18 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12 |
                         (static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6 |
                         (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
                    n = 4;
                } else if (c >= 0xE0 && i + 2 < s.size()) {
                    cp = (c & 0x0Fu) << 12 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6 |
                         (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
                    n = 3;
                } else if (c >= 0xC0 && i + 1 < s.size()) {
                    cp = (c & 0x1Fu) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
                    n = 2;
                }
                string_char(out, cp, '"');
                i += n;
            }
            return out + "\"";
        }
        case token_kind::keyword:
        case token_kind::punct: {
            auto a = atom::make(t.text);
            if (a) print_atom(out, *a);
            return out;
        }
        case token_kind::dot:
            return "'.'";
        case token_kind::end:
            return "";
    }
    return out;
}

class parser {
public:
    parser(std::vector<token>&& toks, const parse_options& o) : toks_(std::move(toks)), opts_(o) {}

    term parse_top() {
        std::vector<term> es = exprs_list(0);
        if (peek().kind != token_kind::dot) fail_before(peek());
        return make_list(std::move(es));
    }

private:
    const token& peek(std::size_t k = 0) const {
        std::size_t i = pos_ + k;
        return i < toks_.size() ? toks_[i] : toks_.back();
    }
    const token& next() {
        const token& t = peek();
        if (pos_ < toks_.size() - 1) ++pos_;
        return t;
    }
    bool at(std::string_view sym) const { return peek().is(sym); }

    [[noreturn]] void fail_at(const token& t, std::string message) const {
        throw failure{syntax_error{t.line + opts_.first_line - 1, t.column, std::move(message)}};
    }
    [[noreturn]] void fail_before(const token& t) const {
        fail_at(t, "syntax error before: " + token_text(t));
    }
    [[noreturn]] void fail_anno(const term& anno, std::string message) const {
        std::size_t col = anno_column(anno);
        throw failure{syntax_error{anno_line(anno), col == 0 ? 1 : col, std::move(message)}};
    }

    void expect(std::string_view sym) {
        if (!at(sym)) fail_before(peek());
        next();
    }

    term anno(const token& t) const {
        auto line = static_cast<long long>(t.line + opts_.first_line - 1);
        if (opts_.columns) return tuple(term(line), term(static_cast<long long>(t.column)));
        return term(line);
    }

    void check_depth(std::size_t depth, const token& at_tok) const {
        if (depth > opts_.max_depth) fail_at(at_tok, "expression nested too deeply");
    }

    static atom intern(std::string_view name, const token& t, const parser& p) {
        auto a = atom::make(name);
        if (!a) p.fail_at(t, std::string(to_string(a.error())));
        return *a;
    }

    // ---- sequences ----

    // exprs -> expr | expr ',' exprs
    std::vector<term> exprs_list(std::size_t depth, std::size_t* max_depth = nullptr) {
        std::vector<term> out;
        for (;;) {
            node n = expr(depth);
            if (max_depth && n.depth > *max_depth) *max_depth = n.depth;
            out.push_back(std::move(n.t));
            if (!at(",")) break;
            next();
        }
        return out;
    }

    // guard -> exprs | exprs ';' guard
    term guard(std::size_t depth) {
        std::vector<term> alts;
        for (;;) {
            alts.push_back(make_list(exprs_list(depth)));
            if (!at(";")) break;
            next();
        }
        return make_list(std::move(alts));
    }

    // clause_guard -> 'when' guard | empty
    term clause_guard(std::size_t depth) {
        if (!at("when")) return term();
        next();
        return guard(depth);
    }

    // clause_body -> '->' exprs
    term clause_body(std::size_t depth) {
        expect("->");
        return make_list(exprs_list(depth));
    }

    // ---- expressions ----

    node expr(std::size_t depth, bool pattern = false) { return binary(0, depth, pattern); }

    // Precedence climbing over the binary operators with precedence >= min_prec.
    node binary(int min_prec, std::size_t depth, bool pattern) {
        check_depth(depth, peek());
        node left = unary(depth, pattern);
        int last_nonassoc = -1;
        for (;;) {
            const token& op = peek();
            auto info = binary_op(op);
            if (!info || info->prec < min_prec) break;
            if (pattern && !pattern_op(op)) break;
            if (info->dir == assoc::nonassoc && last_nonassoc == info->prec) fail_before(op);
            next();
            int next_min =
                info->dir == assoc::left || info->dir == assoc::nonassoc ? info->prec + 1 : info->prec;
            node right = binary(next_min, depth + 1, pattern);
            node out;
            if (op.is("=")) {
                out.t = tuple("match"_a, left.first, left.t, right.t);
            } else {
                out.t = tuple("op"_a, anno(op), intern(op.text, op, *this), left.t, right.t);
            }
            out.first = left.first;
            out.depth = 1 + std::max(left.depth, right.depth);
            left = std::move(out);
            last_nonassoc = info->dir == assoc::nonassoc ? info->prec : -1;
        }
        return left;
    }

    // 'catch' expr | prefix_op expr (Unary 600) | the forms of precedence 700 and up.
    node unary(std::size_t depth, bool pattern) {
        const token& t = peek();
        if (!pattern && t.is("catch")) {
            next();
            node e = expr(depth + 1);
            return {tuple("catch"_a, anno(t), e.t), anno(t), e.depth + 1};
        }
        if (prefix_op(t)) {
            next();
            node e = binary(600, depth + 1, pattern);
            return {tuple("op"_a, anno(t), intern(t.text, t, *this), e.t), anno(t), e.depth + 1};
        }
        return postfix(depth, pattern);
    }

    // expr_max followed by a remote ':', an argument list, or map updates '#{...}'.
    node postfix(std::size_t depth, bool pattern) {
        if (at("#")) {
            const token& hash = next();
            if (!at("{")) fail_before(peek());
            node m = map_tuple(hash, std::nullopt, depth, pattern);
            if (pattern) return m;
            return map_updates(std::move(m), depth);
        }
        node e = expr_max(depth, pattern);
        if (pattern) return e;
        if (at(":")) {
            const token& colon = next();
            node f = expr_max(depth + 1, false);
            node remote{tuple("remote"_a, anno(colon), e.t, f.t), e.first, 1 + std::max(e.depth, f.depth)};
            if (at("(")) return call(std::move(remote), depth);
            return remote;
        }
        if (at("(")) return call(std::move(e), depth);
        if (at("#")) return map_updates(std::move(e), depth);
        return e;
    }

    node map_updates(node base, std::size_t depth) {
        while (at("#")) {
            const token& hash = next();
            if (!at("{")) fail_before(peek());
            base = map_tuple(hash, std::move(base), depth, false);
        }
        return base;
    }

    node call(node fn, std::size_t depth) {
        next();  // '('
        std::vector<term> args;
        std::size_t d = fn.depth;
        if (!at(")")) args = exprs_list(depth + 1, &d);
        expect(")");
        return {tuple("call"_a, fn.first, fn.t, make_list(std::move(args))), fn.first, d + 1};
    }

    // '#' map_tuple, or Base '#' map_tuple.
    node map_tuple(const token& hash, std::optional<node> base, std::size_t depth, bool pattern) {
        (void)pattern;
        expect("{");
        std::vector<term> fields;
        std::size_t d = base ? base->depth : 0;
        if (!at("}")) {
            for (;;) {
                node k = expr(depth + 1);
                const token& op = peek();
                bool assoc_field = op.is("=>");
                if (!assoc_field && !op.is(":=")) fail_before(op);
                next();
                node v = expr(depth + 1);
                fields.push_back(
                    tuple(assoc_field ? "map_field_assoc"_a : "map_field_exact"_a, anno(op), k.t, v.t));
                d = std::max({d, k.depth + 1, v.depth + 1});
                if (!at(",")) break;
                next();
            }
        }
        expect("}");
        if (base)
            return {tuple("map"_a, anno(hash), base->t, make_list(std::move(fields))), base->first, d + 1};
        return {tuple("map"_a, anno(hash), make_list(std::move(fields))), anno(hash), d + 1};
    }

    node expr_max(std::size_t depth, bool pattern) {
        check_depth(depth, peek());
        const token& t = peek();
        switch (t.kind) {
            case token_kind::var:
                next();
                return leaf(tuple("var"_a, anno(t), intern(t.name, t, *this)), t);
            case token_kind::atom:
                next();
                return leaf(tuple("atom"_a, anno(t), intern(t.name, t, *this)), t);
            case token_kind::integer:
                next();
                return leaf(tuple("integer"_a, anno(t), t.integer), t);
            case token_kind::float_:
                next();
                return leaf(tuple("float"_a, anno(t), term(t.float_value)), t);
            case token_kind::char_:
                next();
                return leaf(tuple("char"_a, anno(t), term(static_cast<long long>(t.char_value))), t);
            case token_kind::string: {
                next();
                std::string s = t.name;
                while (peek().kind == token_kind::string)
                    s += next().name;
                return leaf(tuple("string"_a, anno(t), string(s)), t);
            }
            default:
                break;
        }
        if (t.is("(")) {
            next();
            node e = expr(depth + 1, pattern);
            expect(")");
            return e;
        }
        if (t.is("[")) return list_expr(depth, pattern);
        if (t.is("{")) return tuple_expr(depth);
        if (t.is("<<")) return binary_expr(depth);
        if (pattern) fail_before(t);
        if (t.is("begin")) {
            next();
            std::size_t d = 0;
            term body = make_list(exprs_list(depth + 1, &d));
            expect("end");
            return {tuple("block"_a, anno(t), body), anno(t), d + 1};
        }
        if (t.is("if")) return if_expr(depth);
        if (t.is("case")) return case_expr(depth);
        if (t.is("receive")) return receive_expr(depth);
        if (t.is("fun")) return fun_expr(depth);
        if (t.is("try")) return try_expr(depth);
        fail_before(t);
    }

    node leaf(term t, const token& tok) { return {std::move(t), anno(tok), 1}; }

    // '[' ']' | '[' expr tail | '[' expr '||' lc_exprs ']'
    node list_expr(std::size_t depth, bool pattern) {
        (void)pattern;
        const token& open = next();
        if (at("]")) {
            next();
            return leaf(tuple("nil"_a, anno(open)), open);
        }
        node first = expr(depth + 1);
        if (at("||")) {
            next();
            std::size_t d = first.depth;
            term quals = lc_exprs(depth, d);
            expect("]");
            return {tuple("lc"_a, anno(open), first.t, quals), anno(open), d + 1};
        }
        // Elements, then the tail, then cons cells from the end (no recursion per element).
        std::vector<node> elems;
        elems.push_back(std::move(first));
        term tail;
        std::size_t d = elems[0].depth;
        for (;;) {
            if (at("]")) {
                const token& close = next();
                tail = tuple("nil"_a, anno(close));
                break;
            }
            if (at("|")) {
                next();
                node tl = expr(depth + 1);
                d = std::max(d, tl.depth);
                expect("]");
                tail = tl.t;
                break;
            }
            if (!at(",")) fail_before(peek());
            next();
            elems.push_back(expr(depth + 1));
            d = std::max(d, elems.back().depth);
        }
        for (std::size_t i = elems.size(); i-- > 0;) {
            term a = i == 0 ? anno(open) : elems[i].first;
            tail = tuple("cons"_a, a, elems[i].t, tail);
        }
        return {tail, anno(open), d + 1};
    }

    // lc_exprs -> lc_expr | lc_expr ',' lc_exprs
    term lc_exprs(std::size_t depth, std::size_t& d) {
        std::vector<term> out;
        for (;;) {
            node e = expr(depth + 1);
            d = std::max(d, e.depth + 1);
            if (at("<-")) {
                const token& arrow = next();
                node src = expr(depth + 1);
                d = std::max(d, src.depth + 1);
                out.push_back(tuple("generate"_a, anno(arrow), e.t, src.t));
            } else if (at("<=")) {
                const token& arrow = peek();
                if (!(e.t.is_tuple() && e.t.tuple_size() >= 1 && e.t[0].is_atom("bin"_a))) fail_before(arrow);
                next();
                node src = expr(depth + 1);
                d = std::max(d, src.depth + 1);
                out.push_back(tuple("b_generate"_a, anno(arrow), e.t, src.t));
            } else {
                out.push_back(e.t);
            }
            if (!at(",")) break;
            next();
        }
        return make_list(std::move(out));
    }

    node tuple_expr(std::size_t depth) {
        const token& open = next();
        std::vector<term> elems;
        std::size_t d = 0;
        if (!at("}")) elems = exprs_list(depth + 1, &d);
        expect("}");
        return {tuple("tuple"_a, anno(open), make_list(std::move(elems))), anno(open), d + 1};
    }

    // '<<' '>>' | '<<' bin_elements '>>' | '<<' expr_max '||' lc_exprs '>>'
    node binary_expr(std::size_t depth) {
        const token& open = next();
        std::vector<term> elems;
        std::size_t d = 0;
        if (at(">>")) {
            next();
            return {tuple("bin"_a, anno(open), term()), anno(open), 1};
        }
        bool first = true;
        for (;;) {
            // bit_expr -> prefix_op expr_max | expr_max
            node e;
            if (prefix_op(peek())) {
                const token& op = next();
                node inner = expr_max(depth + 1, false);
                e = {tuple("op"_a, anno(op), intern(op.text, op, *this), inner.t), anno(op), inner.depth + 1};
            } else {
                e = expr_max(depth + 1, false);
                if (first && at("||")) {
                    next();
                    std::size_t qd = e.depth;
                    term quals = lc_exprs(depth, qd);
                    expect(">>");
                    return {tuple("bc"_a, anno(open), e.t, quals), anno(open), qd + 1};
                }
            }
            first = false;
            d = std::max(d, e.depth + 1);
            term size = "default"_a;
            if (at(":")) {
                next();
                node s = expr_max(depth + 1, false);
                d = std::max(d, s.depth + 1);
                size = s.t;
            }
            term types = "default"_a;
            if (at("/")) {
                next();
                std::vector<term> tl;
                for (;;) {
                    const token& ty = peek();
                    if (ty.kind != token_kind::atom) fail_before(ty);
                    next();
                    atom name = intern(ty.name, ty, *this);
                    if (at(":")) {
                        next();
                        const token& n = peek();
                        if (n.kind != token_kind::integer) fail_before(n);
                        next();
                        tl.push_back(tuple(name, n.integer));
                    } else {
                        tl.push_back(name);
                    }
                    if (!at("-")) break;
                    next();
                }
                types = make_list(std::move(tl));
            }
            elems.push_back(tuple("bin_element"_a, e.first, e.t, size, types));
            if (!at(",")) break;
            next();
        }
        expect(">>");
        return {tuple("bin"_a, anno(open), make_list(std::move(elems))), anno(open), d + 1};
    }

    // 'if' if_clauses 'end'
    node if_expr(std::size_t depth) {
        const token& kw = next();
        std::vector<term> clauses;
        for (;;) {
            const token& start = peek();
            term g = guard(depth + 1);
            (void)start;
            // first_anno(hd(hd(Guard)))
            term first_test = g.head().head();
            term a = first_anno_of(first_test);
            term body = clause_body(depth + 1);
            clauses.push_back(tuple("clause"_a, a, term(), g, body));
            if (!at(";")) break;
            next();
        }
        expect("end");
        return {tuple("if"_a, anno(kw), make_list(std::move(clauses))), anno(kw), depth_of_rest()};
    }

    // cr_clauses (case, receive): expr clause_guard clause_body, separated by ';'.
    term cr_clauses(std::size_t depth) {
        std::vector<term> clauses;
        for (;;) {
            node pat = expr(depth + 1);
            term g = clause_guard(depth + 1);
            term body = clause_body(depth + 1);
            clauses.push_back(tuple("clause"_a, pat.first, list({pat.t}), g, body));
            if (!at(";")) break;
            next();
        }
        return make_list(std::move(clauses));
    }

    node case_expr(std::size_t depth) {
        const token& kw = next();
        node e = expr(depth + 1);
        expect("of");
        term clauses = cr_clauses(depth);
        expect("end");
        return {tuple("case"_a, anno(kw), e.t, clauses), anno(kw), depth_of_rest()};
    }

    node receive_expr(std::size_t depth) {
        const token& kw = next();
        term clauses;
        if (!at("after")) clauses = cr_clauses(depth);
        if (at("after")) {
            next();
            node t = expr(depth + 1);
            term body = clause_body(depth + 1);
            expect("end");
            return {tuple("receive"_a, anno(kw), clauses, t.t, body), anno(kw), depth_of_rest()};
        }
        expect("end");
        return {tuple("receive"_a, anno(kw), clauses), anno(kw), depth_of_rest()};
    }

    node fun_expr(std::size_t depth) {
        const token& kw = next();
        const token& t1 = peek();
        const token& t2 = peek(1);
        // 'fun' atom '/' integer
        if (t1.kind == token_kind::atom && t2.is("/")) {
            next();
            next();
            const token& n = peek();
            if (n.kind != token_kind::integer) fail_before(n);
            next();
            return leaf(tuple("fun"_a, anno(kw), tuple("function"_a, intern(t1.name, t1, *this), n.integer)),
                        kw);
        }
        // 'fun' atom_or_var ':' atom_or_var '/' integer_or_var
        if ((t1.kind == token_kind::atom || t1.kind == token_kind::var) && t2.is(":")) {
            term m = atom_or_var();
            next();  // ':'
            term f = atom_or_var();
            expect("/");
            const token& n = peek();
            term a;
            if (n.kind == token_kind::integer) {
                a = tuple("integer"_a, anno(n), n.integer);
            } else if (n.kind == token_kind::var) {
                a = tuple("var"_a, anno(n), intern(n.name, n, *this));
            } else {
                fail_before(n);
            }
            next();
            return leaf(tuple("fun"_a, anno(kw), tuple("function"_a, m, f, a)), kw);
        }
        // 'fun' fun_clauses 'end'
        std::vector<term> clauses;
        std::optional<atom> name;
        std::size_t arity = 0;
        bool first = true;
        for (;;) {
            const token& head = peek();
            std::optional<atom> this_name;
            term clause_anno;
            if (head.kind == token_kind::var) {
                next();
                this_name = intern(head.name, head, *this);
                clause_anno = anno(head);
                if (!at("(")) fail_before(peek());
                next();
            } else {
                if (!head.is("(")) fail_before(head);
                next();
                clause_anno = anno(head);
            }
            std::vector<term> args;
            if (!at(")")) {
                for (;;) {
                    args.push_back(expr(depth + 1, true).t);
                    if (!at(",")) break;
                    next();
                }
            }
            expect(")");
            term g = clause_guard(depth + 1);
            term body = clause_body(depth + 1);
            if (first) {
                name = this_name;
                arity = args.size();
                first = false;
            } else if (this_name != name || args.size() != arity) {
                fail_anno(clause_anno, "head mismatch");
            }
            clauses.push_back(tuple("clause"_a, clause_anno, make_list(std::move(args)), g, body));
            if (!at(";")) break;
            next();
        }
        expect("end");
        term cs = make_list(std::move(clauses));
        if (name) return {tuple("named_fun"_a, anno(kw), *name, cs), anno(kw), depth_of_rest()};
        return {tuple("fun"_a, anno(kw), tuple("clauses"_a, cs)), anno(kw), depth_of_rest()};
    }

    term atom_or_var() {
        const token& t = next();
        if (t.kind == token_kind::atom) return tuple("atom"_a, anno(t), intern(t.name, t, *this));
        return tuple("var"_a, anno(t), intern(t.name, t, *this));
    }

    node try_expr(std::size_t depth) {
        const token& kw = next();
        term body = make_list(exprs_list(depth + 1));
        term of_clauses;
        if (at("of")) {
            next();
            of_clauses = cr_clauses(depth);
        }
        term catch_clauses;
        term after;
        if (at("catch")) {
            next();
            catch_clauses = try_clauses(depth);
            if (at("after")) {
                next();
                after = make_list(exprs_list(depth + 1));
            }
        } else if (at("after")) {
            next();
            after = make_list(exprs_list(depth + 1));
        } else {
            fail_before(peek());
        }
        expect("end");
        return {tuple("try"_a, anno(kw), body, of_clauses, catch_clauses, after), anno(kw), depth_of_rest()};
    }

    term try_clauses(std::size_t depth) {
        std::vector<term> out;
        for (;;) {
            const token& t = peek();
            term clause;
            if ((t.kind == token_kind::atom || t.kind == token_kind::var) && peek(1).is(":")) {
                // atom|var ':' pat_expr try_opt_stacktrace
                term a = anno(t);
                term cls = t.kind == token_kind::atom ? tuple("atom"_a, a, intern(t.name, t, *this))
                                                      : tuple("var"_a, a, intern(t.name, t, *this));
                next();
                next();
                node pat = expr(depth + 1, true);
                term stack;
                if (at(":")) {
                    next();
                    const token& v = peek();
                    if (v.kind != token_kind::var) fail_before(v);
                    next();
                    stack = tuple("var"_a, anno(v), intern(v.name, v, *this));
                } else {
                    stack = tuple("var"_a, last_anno(pat.t), "_"_a);
                }
                term g = clause_guard(depth + 1);
                term b = clause_body(depth + 1);
                clause = tuple("clause"_a, a, list({tuple("tuple"_a, a, list({cls, pat.t, stack}))}), g, b);
            } else {
                node pat = expr(depth + 1, true);
                term a = pat.first;
                term az = last_anno(pat.t);
                term g = clause_guard(depth + 1);
                term b = clause_body(depth + 1);
                clause = tuple(
                    "clause"_a, a,
                    list({tuple("tuple"_a, a,
                                list({tuple("atom"_a, a, "throw"_a), pat.t, tuple("var"_a, az, "_"_a)}))}),
                    g, b);
            }
            out.push_back(std::move(clause));
            if (!at(";")) break;
            next();
        }
        return make_list(std::move(out));
    }

    // Clause-bearing expressions count as one level more than where they start; their bodies
    // were checked against max_depth while being parsed.
    std::size_t depth_of_rest() const { return 1; }

    // first_anno/1 of erl_parse over an already built node: the least location found walking
    // its leftmost annotations (erl_parse's fold stops at the first increase).
    static term first_anno_of(const term& n) {
        term best = n[1];
        const term* cur = &n;
        for (;;) {
            const term* child = leftmost_child(*cur);
            if (!child) return best;
            if (less_loc(child->operator[](1), best) || loc_equal(child->operator[](1), best)) {
                best = (*child)[1];
                cur = child;
            } else {
                return best;
            }
        }
    }
    static const term* leftmost_child(const term& n) {
        if (!n.is_tuple() || n.tuple_size() < 3) return nullptr;
        atom tag = n[0].as_atom();
        if (tag == "op"_a) return n.tuple_size() == 5 ? &n[3] : nullptr;
        if (tag == "match"_a || tag == "remote"_a) return &n[2];
        if (tag == "call"_a) return &n[2];
        if (tag == "map"_a && n.tuple_size() == 4) return &n[2];
        return nullptr;
    }
    static std::pair<long long, long long> loc(const term& a) {
        if (a.is_small()) return {a.small_value(), 1};
        if (a.is_tuple(2)) return {a[0].small_value(), a[1].small_value()};
        return {0, 0};
    }
    static bool less_loc(const term& a, const term& b) { return loc(a) < loc(b); }
    static bool loc_equal(const term& a, const term& b) { return loc(a) == loc(b); }

    // last_anno/1: the greatest location of any node in a pattern.
    static term last_anno(const term& pat) {
        term best = pat[1];
        std::vector<const term*> stack{&pat};
        while (!stack.empty()) {
            const term* n = stack.back();
            stack.pop_back();
            if (!n->is_tuple() || n->tuple_size() < 2 || !(*n)[0].is_atom()) continue;
            const term& a = (*n)[1];
            if (a.is_small() || a.is_tuple(2)) {
                if (less_loc(best, a)) best = a;
            }
            atom tag = (*n)[0].as_atom();
            if (tag == "atom"_a || tag == "var"_a || tag == "integer"_a || tag == "float"_a ||
                tag == "char"_a || tag == "string"_a)
                continue;
            std::size_t last = n->tuple_size();
            if (tag == "bin_element"_a) last = 4;  // the type list holds {unit, N}, not nodes
            for (std::size_t i = 2; i < last; ++i) {
                const term& c = (*n)[i];
                if (c.is_tuple()) {
                    stack.push_back(&c);
                } else if (c.is_cons()) {
                    for (const term* l = &c; l->is_cons(); l = &l->tail())
                        stack.push_back(&l->head());
                }
            }
        }
        return best;
    }

    std::vector<token> toks_;
    parse_options opts_;
    std::size_t pos_ = 0;
};

// The nesting depth of an abstract expression, counting nodes but not list tails (consumers
// walk tails in loops and recurse only into nodes). Iterative: the tree may be deep.
std::size_t tree_depth(const term& root) {
    std::size_t deepest = 0;
    std::vector<std::pair<const term*, std::size_t>> stack{{&root, 0}};
    while (!stack.empty()) {
        auto [t, d] = stack.back();
        stack.pop_back();
        if (t->is_cons()) {
            for (const term* l = t; l->is_cons(); l = &l->tail())
                stack.emplace_back(&l->head(), d);
            continue;
        }
        if (!t->is_tuple()) continue;
        std::size_t nd = d + 1;
        deepest = std::max(deepest, nd);
        if (t->is_tuple(4) && (*t)[0].is_atom("cons"_a)) {
            // {cons, A, H, T}: the head is one level down, the tail stays at this level.
            stack.emplace_back(&(*t)[2], nd);
            stack.emplace_back(&(*t)[3], d);
            continue;
        }
        for (const term& c : t->elements())
            stack.emplace_back(&c, nd);
    }
    return deepest;
}

bool unterminated(const std::string& message) {
    return message.starts_with("unterminated");
}

std::size_t end_of_line(std::string_view text, std::size_t from) {
    std::size_t nl = text.find('\n', from);
    return nl == std::string_view::npos ? text.size() : nl + 1;
}

}  // namespace

parse_result parse_exprs(std::string_view text, const parse_options& opts) {
    parse_result out;
    scanner sc(text);
    std::vector<token> toks;
    for (;;) {
        auto t = sc.next();
        if (!t) {
            const parse_error& e = t.error();
            if (unterminated(e.message)) {
                out.status = parse_status::incomplete;
                return out;
            }
            // Like erl, a scan error is reported once the expression is complete; the reader
            // then skips the rest of the line.
            out.status = parse_status::error;
            out.error = syntax_error{e.line + opts.first_line - 1, e.column, e.message};
            out.consumed = end_of_line(text, e.offset);
            return out;
        }
        if (t->kind == token_kind::end) {
            out.status = parse_status::incomplete;
            return out;
        }
        bool dot = t->kind == token_kind::dot;
        toks.push_back(std::move(*t));
        if (dot) break;
    }
    out.consumed = sc.offset();
    if (toks.size() == 1) {
        // A lone dot: erl_parse reports "syntax error before: '.'".
        out.status = parse_status::error;
        out.error =
            syntax_error{toks[0].line + opts.first_line - 1, toks[0].column, "syntax error before: '.'"};
        return out;
    }
    try {
        syntax_error at_first{toks[0].line + opts.first_line - 1, toks[0].column,
                              "expression nested too deeply"};
        parser p(std::move(toks), opts);
        out.exprs = p.parse_top();
        if (tree_depth(out.exprs) > opts.max_depth) throw failure{at_first};
        out.status = parse_status::complete;
    } catch (const failure& f) {
        out.status = parse_status::error;
        out.error = f.error;
    }
    return out;
}

}  // namespace nodus::eval

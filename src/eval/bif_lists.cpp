// Modules lists and maps: the pure functions run synchronously; the ones taking funs are
// coroutines that apply the fun through the evaluator (eval::apply), so a shell fun, an export
// fun or a fun received from another node all work. Bad arguments raise function_clause (lists,
// as OTP's Erlang code does) or badmap/badkey (maps), with the call as the stack frame.
#include <algorithm>

#include "eval_impl.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

using args_t = std::span<const term>;

[[noreturn]] void fc() {
    throw error_exception("function_clause"_a);
}

std::vector<term> list_arg(const term& t) {
    auto v = list_to_vector(t);
    if (!v) fc();
    return std::move(*v);
}

std::int64_t int_arg(const term& t) {
    auto v = t.to_int64();
    if (!v) fc();
    return *v;
}

bool is_true(const term& t) {
    return t.is_atom(atoms::true_);
}

// ---- lists, synchronous ----

term reverse1(args_t a) {
    if (!a[0].is_list()) fc();  // lists:reverse/1 has clauses for lists only
    term out;
    const term* cur = &a[0];
    for (; cur->is_cons(); cur = &cur->tail())
        out = cons(cur->head(), out);
    if (!cur->is_nil()) badarg();
    return out;
}
term reverse2(args_t a) {
    term out = a[1];
    const term* cur = &a[0];
    for (; cur->is_cons(); cur = &cur->tail())
        out = cons(cur->head(), out);
    if (!cur->is_nil()) badarg();
    return out;
}
term seq(const term& from_t, const term& to_t, const term& step_t) {
    std::int64_t from = int_arg(from_t), to = int_arg(to_t), step = int_arg(step_t);
    if (step == 0 && from != to) fc();
    if ((step > 0 && to < from - step) || (step < 0 && to > from - step)) fc();
    std::vector<term> out;
    if (step == 0) return list({from_t});
    std::int64_t count = (to - from) / step + 1;
    if (count < 0) count = 0;
    if (count > (1 << 26)) fail(term(atoms::system_limit));
    out.reserve(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i)
        out.emplace_back(static_cast<long long>(from + i * step));
    return make_list(std::move(out));
}
term seq2(args_t a) {
    return seq(a[0], a[1], term(1));
}
term seq3(args_t a) {
    return seq(a[0], a[1], a[2]);
}
term member2(args_t a) {
    const term* cur = &a[1];
    for (; cur->is_cons(); cur = &cur->tail())
        if (cur->head() == a[0]) return term(true);
    if (!cur->is_nil()) badarg();
    return term(false);
}
std::size_t key_index(const term& n) {
    auto i = n.to_int64();
    if (!i || *i < 1) badarg();
    return static_cast<std::size_t>(*i - 1);
}
bool key_match(const term& e, const term& key, std::size_t i) {
    return e.is_tuple() && e.tuple_size() > i && equal(e[i], key);
}
term keyfind3(args_t a) {
    std::size_t i = key_index(a[1]);
    const term* cur = &a[2];
    for (; cur->is_cons(); cur = &cur->tail())
        if (key_match(cur->head(), a[0], i)) return cur->head();
    if (!cur->is_nil()) badarg();
    return term(false);
}
term keymember3(args_t a) {
    return term(!keyfind3(a).is_atom(atoms::false_));
}
term keysearch3(args_t a) {
    term r = keyfind3(a);
    if (r.is_atom(atoms::false_)) return r;
    return tuple("value"_a, r);
}
term keydelete3(args_t a) {
    std::size_t i = key_index(a[1]);
    std::vector<term> xs = list_arg(a[2]);
    for (auto it = xs.begin(); it != xs.end(); ++it) {
        if (key_match(*it, a[0], i)) {
            xs.erase(it);
            break;
        }
    }
    return make_list(std::move(xs));
}
term keyreplace4(args_t a) {
    std::size_t i = key_index(a[1]);
    std::vector<term> xs = list_arg(a[2]);
    for (term& x : xs) {
        if (key_match(x, a[0], i)) {
            x = a[3];
            break;
        }
    }
    return make_list(std::move(xs));
}
term keystore4(args_t a) {
    std::size_t i = key_index(a[1]);
    std::vector<term> xs = list_arg(a[2]);
    for (term& x : xs) {
        if (key_match(x, a[0], i)) {
            x = a[3];
            return make_list(std::move(xs));
        }
    }
    xs.push_back(a[3]);
    return make_list(std::move(xs));
}
term keytake3(args_t a) {
    std::size_t i = key_index(a[1]);
    std::vector<term> xs = list_arg(a[2]);
    for (auto it = xs.begin(); it != xs.end(); ++it) {
        if (key_match(*it, a[0], i)) {
            term found = *it;
            xs.erase(it);
            return tuple("value"_a, found, make_list(std::move(xs)));
        }
    }
    return term(false);
}
term sort1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    std::stable_sort(xs.begin(), xs.end(), [](const term& x, const term& y) { return compare(x, y) < 0; });
    return make_list(std::move(xs));
}
term usort1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    std::stable_sort(xs.begin(), xs.end(), [](const term& x, const term& y) { return compare(x, y) < 0; });
    std::vector<term> out;
    for (term& x : xs)
        if (out.empty() || !equal(out.back(), x)) out.push_back(std::move(x));
    return make_list(std::move(out));
}
term keysort2(args_t a) {
    std::size_t i = key_index(a[0]);
    std::vector<term> xs = list_arg(a[1]);
    for (const term& x : xs)
        if (!x.is_tuple() || x.tuple_size() <= i) badarg();
    std::stable_sort(xs.begin(), xs.end(),
                     [i](const term& x, const term& y) { return compare(x[i], y[i]) < 0; });
    return make_list(std::move(xs));
}
term nth2(args_t a) {
    auto n = int_arg(a[0]);
    if (n < 1) fc();
    const term* cur = &a[1];
    for (std::int64_t k = 1; k < n; ++k) {
        if (!cur->is_cons()) fc();
        cur = &cur->tail();
    }
    if (!cur->is_cons()) fc();
    return cur->head();
}
term nthtail2(args_t a) {
    auto n = int_arg(a[0]);
    if (n < 0) fc();
    const term* cur = &a[1];
    for (std::int64_t k = 0; k < n; ++k) {
        if (!cur->is_cons()) fc();
        cur = &cur->tail();
    }
    return *cur;
}
term sum1(args_t a) {
    term acc(0);
    for (const term& x : list_arg(a[0]))
        acc = add(x, acc);
    return acc;
}
term max1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    if (xs.empty()) fc();
    term m = xs[0];
    for (const term& x : xs)
        if (compare(m, x) < 0) m = x;
    return m;
}
term min1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    if (xs.empty()) fc();
    term m = xs[0];
    for (const term& x : xs)
        if (compare(x, m) < 0) m = x;
    return m;
}
term append1(args_t a) {
    std::vector<term> lists = list_arg(a[0]);
    if (lists.empty()) return term();
    term out = lists.back();
    for (std::size_t i = lists.size() - 1; i-- > 0;) {
        auto xs = list_to_vector(lists[i]);
        if (!xs) badarg();
        out = make_list(std::move(*xs), out);
    }
    return out;
}
term append2(args_t a) {
    auto xs = list_to_vector(a[0]);
    if (!xs) badarg();
    return make_list(std::move(*xs), a[1]);
}
// Flattens iteratively (deep lists may be deep): the rest of each list waits on a stack while
// its head list is walked.
void flatten_into(const term& l, std::vector<term>& out) {
    std::vector<const term*> stack{&l};
    while (!stack.empty()) {
        const term* cur = stack.back();
        stack.pop_back();
        while (cur->is_cons()) {
            const term& h = cur->head();
            if (h.is_list()) {
                stack.push_back(&cur->tail());
                cur = &h;
                continue;
            }
            out.push_back(h);
            cur = &cur->tail();
        }
        if (!cur->is_nil()) fc();
    }
}
term flatten1(args_t a) {
    std::vector<term> out;
    if (!a[0].is_list()) fc();
    flatten_into(a[0], out);
    return make_list(std::move(out));
}
term flatten2(args_t a) {
    std::vector<term> out;
    if (!a[0].is_list()) fc();
    flatten_into(a[0], out);
    return make_list(std::move(out), a[1]);
}
term zip2(args_t a) {
    std::vector<term> xs = list_arg(a[0]), ys = list_arg(a[1]);
    if (xs.size() != ys.size()) fc();
    std::vector<term> out;
    for (std::size_t i = 0; i < xs.size(); ++i)
        out.push_back(tuple(xs[i], ys[i]));
    return make_list(std::move(out));
}
term unzip1(args_t a) {
    std::vector<term> xs, ys;
    for (const term& p : list_arg(a[0])) {
        if (!p.is_tuple(2)) fc();
        xs.push_back(p[0]);
        ys.push_back(p[1]);
    }
    return tuple(make_list(std::move(xs)), make_list(std::move(ys)));
}
term last1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    if (xs.empty()) fc();
    return xs.back();
}
term droplast1(args_t a) {
    std::vector<term> xs = list_arg(a[0]);
    if (xs.empty()) fc();
    xs.pop_back();
    return make_list(std::move(xs));
}
term duplicate2(args_t a) {
    auto n = int_arg(a[0]);
    if (n < 0) fc();
    if (n > (1 << 26)) fail(term(atoms::system_limit));
    return make_list(std::vector<term>(static_cast<std::size_t>(n), a[1]));
}
term delete2(args_t a) {
    std::vector<term> xs = list_arg(a[1]);
    for (auto it = xs.begin(); it != xs.end(); ++it) {
        if (*it == a[0]) {
            xs.erase(it);
            break;
        }
    }
    return make_list(std::move(xs));
}
term subtract2(args_t a) {
    std::vector<term> xs = list_arg(a[0]), ys = list_arg(a[1]);
    for (const term& y : ys) {
        auto it = std::find(xs.begin(), xs.end(), y);
        if (it != xs.end()) xs.erase(it);
    }
    return make_list(std::move(xs));
}
term split2(args_t a) {
    auto n = int_arg(a[0]);
    std::vector<term> xs = list_arg(a[1]);
    if (n < 0 || static_cast<std::size_t>(n) > xs.size()) badarg();
    std::vector<term> front(xs.begin(), xs.begin() + n), back(xs.begin() + n, xs.end());
    return tuple(make_list(std::move(front)), make_list(std::move(back)));
}
term sublist2(args_t a) {
    auto n = int_arg(a[1]);
    if (n < 0) fc();
    std::vector<term> xs = list_arg(a[0]);
    if (static_cast<std::size_t>(n) < xs.size()) xs.resize(static_cast<std::size_t>(n));
    return make_list(std::move(xs));
}
term sublist3(args_t a) {
    auto start = int_arg(a[1]), n = int_arg(a[2]);
    std::vector<term> xs = list_arg(a[0]);
    if (start < 1 || n < 0 || static_cast<std::size_t>(start) > xs.size() + 1) fc();
    auto b = static_cast<std::size_t>(start - 1);
    std::size_t e = std::min(xs.size(), b + static_cast<std::size_t>(n));
    return make_list(std::vector<term>(xs.begin() + static_cast<std::ptrdiff_t>(b),
                                       xs.begin() + static_cast<std::ptrdiff_t>(e)));
}
term concat1(args_t a) {
    std::string out;
    for (const term& t : list_arg(a[0])) {
        if (t.is_atom()) {
            out += t.as_atom().name();
        } else if (t.is_integer()) {
            out += to_text(t);
        } else if (t.is_float()) {
            std::string f;
            print_float(f, t.float_value());
            out += f;
        } else {
            auto s = string_utf8(t);
            if (!s) fc();
            out += *s;
        }
    }
    return string(out);
}
term prefix2(args_t a) {
    const term* p = &a[0];
    const term* l = &a[1];
    for (; p->is_cons(); p = &p->tail(), l = &l->tail()) {
        if (!l->is_cons() || !(l->head() == p->head())) return term(false);
    }
    return term(p->is_nil());
}
term suffix2(args_t a) {
    std::vector<term> s = list_arg(a[0]), l = list_arg(a[1]);
    if (s.size() > l.size()) return term(false);
    return term(std::equal(s.begin(), s.end(), l.end() - static_cast<std::ptrdiff_t>(s.size())));
}
term enumerate1(args_t a) {
    std::vector<term> out;
    long long i = 1;
    for (const term& x : list_arg(a[0]))
        out.push_back(tuple(i++, x));
    return make_list(std::move(out));
}
term join2(args_t a) {
    std::vector<term> xs = list_arg(a[1]);
    std::vector<term> out;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (i) out.push_back(a[0]);
        out.push_back(xs[i]);
    }
    return make_list(std::move(out));
}
term merge2(args_t a) {
    std::vector<term> xs = list_arg(a[0]), ys = list_arg(a[1]), out;
    std::merge(xs.begin(), xs.end(), ys.begin(), ys.end(), std::back_inserter(out),
               [](const term& x, const term& y) { return compare(x, y) < 0; });
    return make_list(std::move(out));
}

// ---- lists, with funs ----

task<term> map2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), out;
    out.reserve(xs.size());
    for (term& x : xs)
        out.push_back(co_await apply_args(a[0], x));
    co_return make_list(std::move(out));
}
task<term> foreach2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    for (term& x : xs)
        co_await apply_args(a[0], x);
    co_return term(atoms::ok);
}
task<term> filter2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), out;
    for (term& x : xs) {
        term keep = co_await apply_args(a[0], x);
        if (!keep.is_bool()) fc();
        if (is_true(keep)) out.push_back(x);
    }
    co_return make_list(std::move(out));
}
task<term> foldl3(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[2]);
    term acc = a[1];
    for (term& x : xs)
        acc = co_await apply_args(a[0], x, acc);
    co_return acc;
}
task<term> foldr3(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[2]);
    term acc = a[1];
    for (auto it = xs.rbegin(); it != xs.rend(); ++it)
        acc = co_await apply_args(a[0], *it, acc);
    co_return acc;
}
task<term> any2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        if (!r.is_bool()) fc();
        if (is_true(r)) co_return term(true);
    }
    co_return term(false);
}
task<term> all2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        if (!r.is_bool()) fc();
        if (!is_true(r)) co_return term(false);
    }
    co_return term(true);
}
task<term> flatmap2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), out;
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        auto ys = list_to_vector(r);
        if (!ys) badarg();
        for (term& y : *ys)
            out.push_back(std::move(y));
    }
    co_return make_list(std::move(out));
}
task<term> filtermap2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), out;
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        if (is_true(r))
            out.push_back(x);
        else if (r.is_tuple(2) && is_true(r[0]))
            out.push_back(r[1]);
        else if (!r.is_atom(atoms::false_))
            fc();
    }
    co_return make_list(std::move(out));
}
task<term> partition2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), yes, no;
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        if (!r.is_bool()) fc();
        (is_true(r) ? yes : no).push_back(x);
    }
    co_return tuple(make_list(std::move(yes)), make_list(std::move(no)));
}
task<term> takewhile2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), out;
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x);
        if (!is_true(r)) break;
        out.push_back(x);
    }
    co_return make_list(std::move(out));
}
task<term> dropwhile2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    std::size_t i = 0;
    for (; i < xs.size(); ++i) {
        term r = co_await apply_args(a[0], xs[i]);
        if (!is_true(r)) break;
    }
    co_return make_list(std::vector<term>(xs.begin() + static_cast<std::ptrdiff_t>(i), xs.end()));
}
task<term> splitwith2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    std::size_t i = 0;
    for (; i < xs.size(); ++i) {
        term r = co_await apply_args(a[0], xs[i]);
        if (!is_true(r)) break;
    }
    auto mid = xs.begin() + static_cast<std::ptrdiff_t>(i);
    co_return tuple(make_list(std::vector<term>(xs.begin(), mid)),
                    make_list(std::vector<term>(mid, xs.end())));
}
task<term> mapfoldl3(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[2]), out;
    term acc = a[1];
    for (term& x : xs) {
        term r = co_await apply_args(a[0], x, acc);
        if (!r.is_tuple(2)) badarg();
        out.push_back(r[0]);
        acc = r[1];
    }
    co_return tuple(make_list(std::move(out)), acc);
}
task<term> zipwith3(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]), ys = list_arg(a[2]), out;
    if (xs.size() != ys.size()) fc();
    for (std::size_t i = 0; i < xs.size(); ++i)
        out.push_back(co_await apply_args(a[0], xs[i], ys[i]));
    co_return make_list(std::move(out));
}
// Merge sort with an Erlang ordering fun (Fun(A, B) -> true when A goes first).
task<term> sort2(std::vector<term> a) {
    std::vector<term> xs = list_arg(a[1]);
    std::vector<term> tmp(xs.size());
    for (std::size_t width = 1; width < xs.size(); width *= 2) {
        for (std::size_t lo = 0; lo < xs.size(); lo += 2 * width) {
            std::size_t mid = std::min(lo + width, xs.size()), hi = std::min(lo + 2 * width, xs.size());
            std::size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                term le = co_await apply_args(a[0], xs[i], xs[j]);
                if (is_true(le))
                    tmp[k++] = xs[i++];
                else
                    tmp[k++] = xs[j++];
            }
            while (i < mid)
                tmp[k++] = xs[i++];
            while (j < hi)
                tmp[k++] = xs[j++];
        }
        std::swap(xs, tmp);
    }
    co_return make_list(std::move(xs));
}

// ---- maps ----

const term& map_arg(const term& m) {
    if (!m.is_map()) fail(tuple("badmap"_a, m));
    return m;
}
term maps_get2(args_t a) {
    const term* v = map_arg(a[1]).map_get(a[0]);
    if (!v) fail(tuple("badkey"_a, a[0]));
    return *v;
}
term maps_get3(args_t a) {
    const term* v = map_arg(a[1]).map_get(a[0]);
    return v ? *v : a[2];
}
term maps_put3(args_t a) {
    return map_put(map_arg(a[2]), a[0], a[1]);
}
term maps_find2(args_t a) {
    const term* v = map_arg(a[1]).map_get(a[0]);
    if (!v) return atoms::error;
    return tuple(atoms::ok, *v);
}
term maps_keys1(args_t a) {
    auto k = map_arg(a[0]).map_keys();
    return make_list(k);
}
term maps_values1(args_t a) {
    auto v = map_arg(a[0]).map_values();
    return make_list(v);
}
term maps_to_list1(args_t a) {
    const term& m = map_arg(a[0]);
    std::vector<term> out;
    for (std::size_t i = 0; i < m.map_size(); ++i)
        out.push_back(tuple(m.map_keys()[i], m.map_values()[i]));
    return make_list(std::move(out));
}
term maps_from_list1(args_t a) {
    auto xs = list_to_vector(a[0]);
    if (!xs) badarg();
    std::vector<std::pair<term, term>> kvs;
    for (const term& p : *xs) {
        if (!p.is_tuple(2)) badarg();
        kvs.emplace_back(p[0], p[1]);
    }
    return make_map(std::move(kvs));
}
term maps_from_keys2(args_t a) {
    auto xs = list_to_vector(a[0]);
    if (!xs) badarg();
    std::vector<std::pair<term, term>> kvs;
    for (const term& k : *xs)
        kvs.emplace_back(k, a[1]);
    return make_map(std::move(kvs));
}
term maps_merge2(args_t a) {
    term m = map_arg(a[0]);
    const term& b = map_arg(a[1]);
    for (std::size_t i = 0; i < b.map_size(); ++i)
        m = map_put(m, b.map_keys()[i], b.map_values()[i]);
    return m;
}
term maps_remove2(args_t a) {
    return map_remove(map_arg(a[1]), a[0]);
}
term maps_size1(args_t a) {
    return term(static_cast<unsigned long long>(map_arg(a[0]).map_size()));
}
term maps_is_key2(args_t a) {
    return term(map_arg(a[1]).map_get(a[0]) != nullptr);
}
term maps_new0(args_t) {
    return map({});
}
term maps_update3(args_t a) {
    const term& m = map_arg(a[2]);
    if (!m.map_get(a[0])) fail(tuple("badkey"_a, a[0]));
    return map_put(m, a[0], a[1]);
}
term maps_take2(args_t a) {
    const term& m = map_arg(a[1]);
    const term* v = m.map_get(a[0]);
    if (!v) return atoms::error;
    return tuple(*v, map_remove(m, a[0]));
}
term maps_with2(args_t a) {
    const term& m = map_arg(a[1]);
    auto ks = list_to_vector(a[0]);
    if (!ks) badarg();
    std::vector<std::pair<term, term>> kvs;
    for (const term& k : *ks)
        if (const term* v = m.map_get(k)) kvs.emplace_back(k, *v);
    return make_map(std::move(kvs));
}
term maps_without2(args_t a) {
    term m = map_arg(a[1]);
    auto ks = list_to_vector(a[0]);
    if (!ks) badarg();
    for (const term& k : *ks)
        m = map_remove(m, k);
    return m;
}
task<term> maps_map2(std::vector<term> a) {
    term m = map_arg(a[1]);
    std::vector<std::pair<term, term>> kvs;
    for (std::size_t i = 0; i < m.map_size(); ++i) {
        term k = m.map_keys()[i];
        term v = co_await apply_args(a[0], k, m.map_values()[i]);
        kvs.emplace_back(k, v);
    }
    co_return make_map(std::move(kvs));
}
task<term> maps_filter2(std::vector<term> a) {
    term m = map_arg(a[1]);
    std::vector<std::pair<term, term>> kvs;
    for (std::size_t i = 0; i < m.map_size(); ++i) {
        term k = m.map_keys()[i], v = m.map_values()[i];
        term keep = co_await apply_args(a[0], k, v);
        if (!keep.is_bool()) badarg();
        if (is_true(keep)) kvs.emplace_back(k, v);
    }
    co_return make_map(std::move(kvs));
}
task<term> maps_fold3(std::vector<term> a) {
    term m = map_arg(a[2]);
    term acc = a[1];
    for (std::size_t i = 0; i < m.map_size(); ++i)
        acc = co_await apply_args(a[0], m.map_keys()[i], m.map_values()[i], acc);
    co_return acc;
}
task<term> maps_foreach2(std::vector<term> a) {
    term m = map_arg(a[1]);
    for (std::size_t i = 0; i < m.map_size(); ++i)
        co_await apply_args(a[0], m.map_keys()[i], m.map_values()[i]);
    co_return term(atoms::ok);
}

struct sync_def {
    const char* module;
    const char* name;
    unsigned arity;
    bif_fn fn;
};
struct native_def {
    const char* module;
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const sync_def sync_defs[] = {
    {"lists", "reverse", 1, reverse1},
    {"lists", "reverse", 2, reverse2},
    {"lists", "seq", 2, seq2},
    {"lists", "seq", 3, seq3},
    {"lists", "member", 2, member2},
    {"lists", "keyfind", 3, keyfind3},
    {"lists", "keymember", 3, keymember3},
    {"lists", "keysearch", 3, keysearch3},
    {"lists", "keydelete", 3, keydelete3},
    {"lists", "keyreplace", 4, keyreplace4},
    {"lists", "keystore", 4, keystore4},
    {"lists", "keytake", 3, keytake3},
    {"lists", "keysort", 2, keysort2},
    {"lists", "sort", 1, sort1},
    {"lists", "usort", 1, usort1},
    {"lists", "nth", 2, nth2},
    {"lists", "nthtail", 2, nthtail2},
    {"lists", "sum", 1, sum1},
    {"lists", "max", 1, max1},
    {"lists", "min", 1, min1},
    {"lists", "append", 1, append1},
    {"lists", "append", 2, append2},
    {"lists", "flatten", 1, flatten1},
    {"lists", "flatten", 2, flatten2},
    {"lists", "zip", 2, zip2},
    {"lists", "unzip", 1, unzip1},
    {"lists", "last", 1, last1},
    {"lists", "droplast", 1, droplast1},
    {"lists", "duplicate", 2, duplicate2},
    {"lists", "delete", 2, delete2},
    {"lists", "subtract", 2, subtract2},
    {"lists", "split", 2, split2},
    {"lists", "sublist", 2, sublist2},
    {"lists", "sublist", 3, sublist3},
    {"lists", "concat", 1, concat1},
    {"lists", "prefix", 2, prefix2},
    {"lists", "suffix", 2, suffix2},
    {"lists", "enumerate", 1, enumerate1},
    {"lists", "join", 2, join2},
    {"lists", "merge", 2, merge2},
    {"maps", "get", 2, maps_get2},
    {"maps", "get", 3, maps_get3},
    {"maps", "put", 3, maps_put3},
    {"maps", "find", 2, maps_find2},
    {"maps", "keys", 1, maps_keys1},
    {"maps", "values", 1, maps_values1},
    {"maps", "to_list", 1, maps_to_list1},
    {"maps", "from_list", 1, maps_from_list1},
    {"maps", "from_keys", 2, maps_from_keys2},
    {"maps", "merge", 2, maps_merge2},
    {"maps", "remove", 2, maps_remove2},
    {"maps", "size", 1, maps_size1},
    {"maps", "is_key", 2, maps_is_key2},
    {"maps", "new", 0, maps_new0},
    {"maps", "update", 3, maps_update3},
    {"maps", "take", 2, maps_take2},
    {"maps", "with", 2, maps_with2},
    {"maps", "without", 2, maps_without2},
};

const native_def native_defs[] = {
    {"lists", "map", 2, map2},
    {"lists", "foreach", 2, foreach2},
    {"lists", "filter", 2, filter2},
    {"lists", "foldl", 3, foldl3},
    {"lists", "foldr", 3, foldr3},
    {"lists", "any", 2, any2},
    {"lists", "all", 2, all2},
    {"lists", "flatmap", 2, flatmap2},
    {"lists", "filtermap", 2, filtermap2},
    {"lists", "partition", 2, partition2},
    {"lists", "takewhile", 2, takewhile2},
    {"lists", "dropwhile", 2, dropwhile2},
    {"lists", "splitwith", 2, splitwith2},
    {"lists", "mapfoldl", 3, mapfoldl3},
    {"lists", "zipwith", 3, zipwith3},
    {"lists", "sort", 2, sort2},
    {"maps", "map", 2, maps_map2},
    {"maps", "filter", 2, maps_filter2},
    {"maps", "fold", 3, maps_fold3},
    {"maps", "foreach", 2, maps_foreach2},
};

}  // namespace

void register_lists_maps(export_table& t) {
    for (const sync_def& d : sync_defs)
        add_sync_bif(atom(d.module), atom(d.name), d.arity, d.fn);
    for (const native_def& d : native_defs)
        t.add(atom(d.module), atom(d.name), d.arity, d.fn);
}

}  // namespace nodus::eval::detail

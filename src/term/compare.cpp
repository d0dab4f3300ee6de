// Erlang term order, =:=, == and hashing. All walks use an explicit stack: terms built by
// programs (not only decoded ones, which are depth-limited) may nest arbitrarily deep.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "nodus/term/term.hpp"

namespace nodus {

using namespace detail;

namespace {

int sign_of(int c) noexcept { return (c > 0) - (c < 0); }
template <class T>
int cmp3(const T& a, const T& b) noexcept {
    return (a > b) - (a < b);
}

// Order classes: number < atom < reference < fun < port < pid < tuple < map < nil < list < bitstring.
int order_class(const term& t) noexcept {
    term_type ty = t.type();
    if (ty == term_type::float_) return static_cast<int>(term_type::integer);
    return static_cast<int>(ty);
}

int cmp_magnitude(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) noexcept {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    for (std::size_t i = a.size(); i-- > 0;)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

// Integer as sign + magnitude limbs (uses a caller-provided one-limb buffer for small ints).
bigint_view as_bigint(const term& t, std::uint64_t& buf) noexcept {
    if (t.is_small()) {
        std::int64_t v = t.small_value();
        buf = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
        return {v < 0, buf == 0 ? std::span<const std::uint64_t>() : std::span<const std::uint64_t>(&buf, 1)};
    }
    return t.bigint();
}

int cmp_integers(const term& a, const term& b) noexcept {
    if (a.is_small() && b.is_small()) return cmp3(a.small_value(), b.small_value());
    std::uint64_t ba, bb;
    bigint_view va = as_bigint(a, ba), vb = as_bigint(b, bb);
    bool za = va.limbs.empty(), zb = vb.limbs.empty();
    int sa = za ? 0 : (va.negative ? -1 : 1);
    int sb = zb ? 0 : (vb.negative ? -1 : 1);
    if (sa != sb) return cmp3(sa, sb);
    int m = cmp_magnitude(va.limbs, vb.limbs);
    return sa < 0 ? -m : m;
}

// Exact comparison of an integer with a finite double.
int cmp_int_double(const term& i, double d) noexcept {
    if (i.is_small()) {
        // |i| < 2^60: a long double (64-bit mantissa) holds it exactly.
        long double li = static_cast<long double>(i.small_value());
        long double ld = d;
        return cmp3(li, ld);
    }
    bigint_view v = i.bigint();
    int si = v.negative ? -1 : 1;
    int sd = d > 0 ? 1 : (d < 0 ? -1 : 0);
    if (si != sd) return cmp3(si, sd);
    // Same sign, |i| >= 2^60. Compare magnitudes: trunc(|d|) as limbs, then the fraction.
    double ad = std::fabs(d);
    int exp;
    double m = std::frexp(ad, &exp);  // ad = m * 2^exp, m in [0.5, 1)
    int mag;
    if (exp <= 0) {
        mag = 1;  // |d| < 1 <= |i|
    } else {
        auto mant = static_cast<std::uint64_t>(std::ldexp(m, 53));  // 53-bit integer
        int shift = exp - 53;
        std::vector<std::uint64_t> limbs;
        bool frac = false;
        if (shift >= 0) {
            std::size_t word = static_cast<std::size_t>(shift) / 64, bit = static_cast<std::size_t>(shift) % 64;
            limbs.assign(word + 2, 0);
            limbs[word] = mant << bit;
            if (bit) limbs[word + 1] = mant >> (64 - bit);
        } else {
            int rs = -shift;
            std::uint64_t ip = rs >= 64 ? 0 : mant >> rs;
            frac = (rs >= 64 ? mant : (mant & ((std::uint64_t{1} << rs) - 1))) != 0;
            limbs.assign(1, ip);
        }
        while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
        mag = cmp_magnitude(v.limbs, limbs);
        if (mag == 0 && frac) mag = -1;
    }
    return si < 0 ? -mag : mag;
}

int cmp_numbers(const term& a, const term& b, bool exact) noexcept {
    bool fa = a.is_float(), fb = b.is_float();
    if (!fa && !fb) return cmp_integers(a, b);
    if (fa && fb) return cmp3(a.float_value(), b.float_value());
    if (exact) return fa ? 1 : -1;  // map key order: every integer before every float (OTP)
    return fa ? -cmp_int_double(b, a.float_value()) : cmp_int_double(a, b.float_value());
}

std::span<const std::uint32_t> normalized_words(const reference& r) noexcept {
    auto w = r.words();
    std::size_t n = w.size();
    while (n > 1 && w[n - 1] == 0) --n;
    return w.first(n);
}

int cmp_bits(const term& a, const term& b) noexcept {
    byte_span x = a.bytes(), y = b.bytes();
    std::size_t bx = a.bit_size(), by = b.bit_size();
    std::size_t common = std::min(bx, by);
    std::size_t whole = common / 8;
    if (whole) {
        int c = std::memcmp(x.data(), y.data(), whole);
        if (c) return sign_of(c);
    }
    if (unsigned rem = common % 8) {
        unsigned mask = 0xFFu << (8 - rem) & 0xFF;
        unsigned cx = x[whole] & mask, cy = y[whole] & mask;
        if (cx != cy) return cx < cy ? -1 : 1;
    }
    return cmp3(bx, by);
}

struct pending {
    const term* a;
    const term* b;
    bool exact;
};

class work_stack {
public:
    ~work_stack() {
        if (items_ != inline_) delete[] items_;
    }
    void push(const term* a, const term* b, bool exact) {
        if (n_ == cap_) grow();
        items_[n_++] = {a, b, exact};
    }
    bool pop(pending& p) noexcept {
        if (!n_) return false;
        p = items_[--n_];
        return true;
    }

private:
    void grow() {
        auto* fresh = new pending[cap_ * 2];
        std::copy(items_, items_ + n_, fresh);
        if (items_ != inline_) delete[] items_;
        items_ = fresh;
        cap_ *= 2;
    }
    pending inline_[32];
    pending* items_ = inline_;
    std::size_t n_ = 0, cap_ = 32;
};

// Compares the top level of a and b; pushes children that decide ties. Returns non-zero when
// decided here.
int shallow(const term& a, const term& b, bool exact, work_stack& st) {
    if (a.raw() == b.raw()) return 0;
    int ca = order_class(a), cb = order_class(b);
    if (ca != cb) return cmp3(ca, cb);
    switch (a.type()) {
        case term_type::integer:
        case term_type::float_: return cmp_numbers(a, b, exact);
        case term_type::atom: {
            atom x = a.as_atom(), y = b.as_atom();
            if (x == y) return 0;
            return (x <=> y) < 0 ? -1 : 1;
        }
        case term_type::reference: {
            reference ra = a.as_reference(), rb = b.as_reference();
            if (ra.node() != rb.node()) return ra.node() < rb.node() ? -1 : 1;
            if (int c = cmp3(ra.creation(), rb.creation())) return c;
            auto wa = normalized_words(ra), wb = normalized_words(rb);
            if (wa.size() != wb.size()) return cmp3(wa.size(), wb.size());
            for (std::size_t i = wa.size(); i-- > 0;)
                if (wa[i] != wb[i]) return cmp3(wa[i], wb[i]);
            return 0;
        }
        case term_type::fun: {
            bool ea = a.is_export(), eb = b.is_export();
            if (ea != eb) return ea ? 1 : -1;  // local funs before exports
            if (ea) {
                if (a.export_module() != b.export_module()) return a.export_module() < b.export_module() ? -1 : 1;
                if (a.export_function() != b.export_function())
                    return a.export_function() < b.export_function() ? -1 : 1;
                return cmp3(a.fun_arity(), b.fun_arity());
            }
            auto* fa = static_cast<const fun_box*>(a.box_ptr());
            auto* fb = static_cast<const fun_box*>(b.box_ptr());
            if (fa->module.as_atom() != fb->module.as_atom())
                return fa->module.as_atom() < fb->module.as_atom() ? -1 : 1;
            if (int c = cmp3(fa->index, fb->index)) return c;
            if (int c = std::memcmp(fa->uniq, fb->uniq, 16)) return sign_of(c);
            if (int c = cmp3(fa->aux(), fb->aux())) return c;
            const term* xa = trailing<term>(fa);
            const term* xb = trailing<term>(fb);
            for (std::size_t i = fa->aux(); i-- > 0;) st.push(&xa[i], &xb[i], exact);
            st.push(&fa->pid, &fb->pid, exact);
            return 0;
        }
        case term_type::port: {
            port pa = a.as_port(), pb = b.as_port();
            if (pa.node() != pb.node()) return pa.node() < pb.node() ? -1 : 1;
            if (int c = cmp3(pa.creation(), pb.creation())) return c;
            return cmp3(pa.id(), pb.id());
        }
        case term_type::pid: {
            pid pa = a.as_pid(), pb = b.as_pid();
            if (int c = cmp3(pa.serial(), pb.serial())) return c;
            if (int c = cmp3(pa.id(), pb.id())) return c;
            if (pa.node() != pb.node()) return pa.node() < pb.node() ? -1 : 1;
            return cmp3(pa.creation(), pb.creation());
        }
        case term_type::tuple: {
            auto ea = a.elements(), eb = b.elements();
            if (ea.size() != eb.size()) return cmp3(ea.size(), eb.size());
            for (std::size_t i = ea.size(); i-- > 0;) st.push(&ea[i], &eb[i], exact);
            return 0;
        }
        case term_type::map: {
            if (a.map_size() != b.map_size()) return cmp3(a.map_size(), b.map_size());
            auto ka = a.map_keys(), kb = b.map_keys();
            auto va = a.map_values(), vb = b.map_values();
            for (std::size_t i = va.size(); i-- > 0;) st.push(&va[i], &vb[i], exact);
            for (std::size_t i = ka.size(); i-- > 0;) st.push(&ka[i], &kb[i], true);  // keys: exact
            return 0;
        }
        case term_type::nil: return 0;
        case term_type::list:
            st.push(&a.tail(), &b.tail(), exact);
            st.push(&a.head(), &b.head(), exact);
            return 0;
        case term_type::bitstring: return cmp_bits(a, b);
    }
    return 0;
}

int compare_terms(const term& a, const term& b, bool exact) {
    work_stack st;
    st.push(&a, &b, exact);
    pending p;
    while (st.pop(p)) {
        if (int c = shallow(*p.a, *p.b, p.exact, st)) return c;
    }
    return 0;
}

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

}  // namespace

std::weak_ordering compare(const term& a, const term& b) noexcept {
    int c = compare_terms(a, b, false);
    return c < 0 ? std::weak_ordering::less : c > 0 ? std::weak_ordering::greater : std::weak_ordering::equivalent;
}

std::strong_ordering exact_compare(const term& a, const term& b) noexcept {
    if (a.raw() == b.raw()) return std::strong_ordering::equal;
    int c = compare_terms(a, b, true);
    return c < 0 ? std::strong_ordering::less : c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal;
}

bool equal(const term& a, const term& b) noexcept { return a.raw() == b.raw() || compare_terms(a, b, false) == 0; }

bool operator==(const term& a, const term& b) noexcept {
    if (a.raw() == b.raw()) return true;
    if (!a.is_boxed() || !b.is_boxed()) {
        // Distinct immediates differ, and an immediate never equals a box, except a pid in
        // its two forms (immediate local pid, boxed pid).
        if (!(a.is_pid() && b.is_pid())) return false;
    }
    return compare_terms(a, b, true) == 0;
}

std::size_t hash_value(const term& root) noexcept {
    std::uint64_t h = 0x12345;
    std::vector<const term*> st;
    st.push_back(&root);
    while (!st.empty()) {
        const term& t = *st.back();
        st.pop_back();
        h = mix(h, static_cast<std::uint64_t>(t.type()));
        switch (t.type()) {
            case term_type::integer:
                if (t.is_small()) {
                    h = mix(h, static_cast<std::uint64_t>(t.small_value()));
                } else {
                    auto v = t.bigint();
                    h = mix(h, v.negative);
                    for (auto l : v.limbs) h = mix(h, l);
                }
                break;
            case term_type::float_: {
                double d = t.float_value();
                if (d == 0) d = 0;  // -0.0 =:= 0.0 in OTP 25
                std::uint64_t bits;
                std::memcpy(&bits, &d, 8);
                h = mix(h, bits);
                break;
            }
            case term_type::atom: h = mix(h, t.as_atom().index()); break;
            case term_type::nil: break;
            case term_type::bitstring: {
                auto b = t.bytes();
                std::uint64_t x = 0xcbf29ce484222325ull;
                for (auto c : b) x = (x ^ c) * 0x100000001b3ull;
                h = mix(mix(h, x), t.bit_size());
                break;
            }
            case term_type::tuple:
                h = mix(h, t.tuple_size());
                for (const term& e : t.elements()) st.push_back(&e);
                break;
            case term_type::list:
                st.push_back(&t.tail());
                st.push_back(&t.head());
                break;
            case term_type::map:
                h = mix(h, t.map_size());
                for (const term& e : t.map_keys()) st.push_back(&e);
                for (const term& e : t.map_values()) st.push_back(&e);
                break;
            case term_type::pid: {
                pid p = t.as_pid();
                h = mix(mix(mix(mix(h, p.node().index()), p.id()), p.serial()), p.creation());
                break;
            }
            case term_type::port: {
                port p = t.as_port();
                h = mix(mix(mix(h, p.node().index()), p.id()), p.creation());
                break;
            }
            case term_type::reference: {
                reference r = t.as_reference();
                h = mix(mix(h, r.node().index()), r.creation());
                for (auto w : normalized_words(r)) h = mix(h, w);
                break;
            }
            case term_type::fun:
                if (t.is_export()) {
                    h = mix(mix(mix(h, t.export_module().index()), t.export_function().index()), t.fun_arity());
                } else {
                    auto* f = static_cast<const fun_box*>(t.box_ptr());
                    h = mix(mix(h, f->module.as_atom().index()), f->index);
                    for (auto u : f->uniq) h = mix(h, u);
                    const term* fv = trailing<term>(f);
                    for (std::size_t i = 0; i < f->aux(); ++i) st.push_back(&fv[i]);
                    st.push_back(&f->pid);
                }
                break;
        }
    }
    return static_cast<std::size_t>(h);
}

}  // namespace nodus

// Erlang arithmetic: integers of any size (small integers on the fast path, GMP beyond 61 bits)
// and floats, with the BEAM's rules: '/' always gives a float, div/rem/band/bor/bxor/bsl/bsr
// and bnot take integers only, a float result that is not finite is badarith, and mixing an
// integer too large for a double with a float is badarith.
#include <gmp.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "eval_impl.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

// An mpz_t owning its limbs.
struct big {
    mpz_t z;
    big() { mpz_init(z); }
    explicit big(const term& t) {
        mpz_init(z);
        set(t);
    }
    ~big() { mpz_clear(z); }
    big(const big&) = delete;
    big& operator=(const big&) = delete;

    void set(const term& t) {
        if (t.is_small()) {
            mpz_set_si(z, static_cast<long>(t.small_value()));
        } else {
            bigint_view v = t.bigint();
            mpz_import(z, v.limbs.size(), -1, sizeof(std::uint64_t), 0, 0, v.limbs.data());
            if (v.negative) mpz_neg(z, z);
        }
    }
    term to_term() const {
        if (mpz_fits_slong_p(z)) return term(static_cast<long long>(mpz_get_si(z)));
        std::size_t n = (mpz_sizeinbase(z, 2) + 63) / 64;
        std::vector<std::uint64_t> limbs(n, 0);
        std::size_t count = 0;
        mpz_export(limbs.data(), &count, -1, sizeof(std::uint64_t), 0, 0, z);
        limbs.resize(count);
        return term::integer(mpz_sgn(z) < 0, limbs);
    }
};

// Results larger than this many bits are a system_limit, as on the BEAM (which stops at
// 2^26 bits per integer by default); it also keeps a shell line from eating the memory.
constexpr std::size_t max_integer_bits = std::size_t{1} << 26;

term checked(const big& b) {
    if (mpz_sizeinbase(b.z, 2) > max_integer_bits) fail(term(atoms::system_limit));
    return b.to_term();
}

term make_float(double d) {
    if (!std::isfinite(d)) badarith();
    return term(d);
}

bool both_small(const term& a, const term& b) noexcept {
    return a.is_small() && b.is_small();
}

}  // namespace

std::optional<double> to_double(const term& n) {
    if (n.is_float()) return n.float_value();
    if (n.is_small()) return static_cast<double>(n.small_value());
    if (n.is_bignum()) {
        big b(n);
        double d = mpz_get_d(b.z);  // truncates
        if (!std::isfinite(d) || mpz_sizeinbase(b.z, 2) > 1024) return std::nullopt;
        // mpz_get_d truncates; Erlang rounds to nearest. Use the decimal text for exactness.
        char* text = mpz_get_str(nullptr, 10, b.z);
        double r = std::strtod(text, nullptr);
        void (*freefunc)(void*, std::size_t);
        mp_get_memory_functions(nullptr, nullptr, &freefunc);
        freefunc(text, std::strlen(text) + 1);
        if (!std::isfinite(r)) return std::nullopt;
        return r;
    }
    return std::nullopt;
}

term integer_from_double(double d) {
    if (!std::isfinite(d)) badarg();
    if (d >= -1e18 && d <= 1e18) return term(static_cast<long long>(d));
    big b;
    mpz_set_d(b.z, d);
    return b.to_term();
}

term add(const term& a, const term& b) {
    if (both_small(a, b)) return term(static_cast<long long>(a.small_value() + b.small_value()));
    if (a.is_integer() && b.is_integer()) {
        big x(a), y(b), r;
        mpz_add(r.z, x.z, y.z);
        return checked(r);
    }
    if (!a.is_number() || !b.is_number()) badarith();
    auto x = to_double(a), y = to_double(b);
    if (!x || !y) badarith();
    return make_float(*x + *y);
}

term sub(const term& a, const term& b) {
    if (both_small(a, b)) return term(static_cast<long long>(a.small_value() - b.small_value()));
    if (a.is_integer() && b.is_integer()) {
        big x(a), y(b), r;
        mpz_sub(r.z, x.z, y.z);
        return checked(r);
    }
    if (!a.is_number() || !b.is_number()) badarith();
    auto x = to_double(a), y = to_double(b);
    if (!x || !y) badarith();
    return make_float(*x - *y);
}

term mul(const term& a, const term& b) {
    if (both_small(a, b)) {
        long long r;
        if (!__builtin_mul_overflow(a.small_value(), b.small_value(), &r)) return term(r);
    }
    if (a.is_integer() && b.is_integer()) {
        big x(a), y(b), r;
        if (mpz_sizeinbase(x.z, 2) + mpz_sizeinbase(y.z, 2) > max_integer_bits + 1)
            fail(term(atoms::system_limit));
        mpz_mul(r.z, x.z, y.z);
        return checked(r);
    }
    if (!a.is_number() || !b.is_number()) badarith();
    auto x = to_double(a), y = to_double(b);
    if (!x || !y) badarith();
    return make_float(*x * *y);
}

term number_abs(const term& n) {
    if (n.is_small())
        return term(static_cast<long long>(n.small_value() < 0 ? -n.small_value() : n.small_value()));
    if (n.is_bignum()) {
        big x(n);
        mpz_abs(x.z, x.z);
        return x.to_term();
    }
    if (n.is_float()) return term(std::fabs(n.float_value()));
    badarg();
}

std::optional<term> parse_integer_text(std::string_view text, unsigned base) {
    return term::parse_integer(text, base);
}

term arith(atom op, const term& a, const term& b) {
    static const atom plus("+"), minus("-"), times("*"), slash("/"), div_("div"), rem_("rem"), band_("band"),
        bor_("bor"), bxor_("bxor"), bsl_("bsl"), bsr_("bsr");
    if (op == plus) return add(a, b);
    if (op == minus) return sub(a, b);
    if (op == times) return mul(a, b);
    if (op == slash) {
        if (!a.is_number() || !b.is_number()) badarith();
        auto x = to_double(a), y = to_double(b);
        if (!x || !y || *y == 0.0) badarith();
        return make_float(*x / *y);
    }
    if (!a.is_integer() || !b.is_integer()) badarith();
    if (op == div_ || op == rem_) {
        if (b.is_small() && b.small_value() == 0) badarith();
        if (both_small(a, b)) {
            std::int64_t x = a.small_value(), y = b.small_value();
            return term(static_cast<long long>(op == div_ ? x / y : x % y));
        }
        big x(a), y(b), r;
        if (op == div_)
            mpz_tdiv_q(r.z, x.z, y.z);
        else
            mpz_tdiv_r(r.z, x.z, y.z);
        return r.to_term();
    }
    if (op == band_ || op == bor_ || op == bxor_) {
        if (both_small(a, b)) {
            std::int64_t x = a.small_value(), y = b.small_value();
            return term(static_cast<long long>(op == band_ ? (x & y) : op == bor_ ? (x | y) : (x ^ y)));
        }
        big x(a), y(b), r;
        if (op == band_)
            mpz_and(r.z, x.z, y.z);
        else if (op == bor_)
            mpz_ior(r.z, x.z, y.z);
        else
            mpz_xor(r.z, x.z, y.z);
        return r.to_term();
    }
    if (op == bsl_ || op == bsr_) {
        // bsl by a negative count shifts right and vice versa.
        bool left = op == bsl_;
        auto count = b.to_int64();
        big x(a), r;
        if (!count) {
            // A shift by a bignum: everything or nothing.
            bool huge_left = (b.bigint().negative) != left;
            if (huge_left) {
                if (mpz_sgn(x.z) == 0) return term(0);
                fail(term(atoms::system_limit));
            }
            return term(mpz_sgn(x.z) < 0 ? -1 : 0);
        }
        std::int64_t n = *count;
        if (!left) n = -n;
        if (n >= 0) {
            if (mpz_sgn(x.z) == 0) return term(0);
            if (static_cast<std::uint64_t>(n) + mpz_sizeinbase(x.z, 2) > max_integer_bits)
                fail(term(atoms::system_limit));
            mpz_mul_2exp(r.z, x.z, static_cast<mp_bitcnt_t>(n));
        } else {
            std::uint64_t m = static_cast<std::uint64_t>(-(n + 1)) + 1;
            if (m > max_integer_bits * 2) return term(mpz_sgn(x.z) < 0 ? -1 : 0);
            mpz_fdiv_q_2exp(r.z, x.z, static_cast<mp_bitcnt_t>(m));
        }
        return r.to_term();
    }
    badarith();
}

term arith1(atom op, const term& a) {
    static const atom plus("+"), minus("-"), bnot_("bnot");
    if (op == minus) {
        if (a.is_small()) return term(static_cast<long long>(-a.small_value()));
        if (a.is_bignum()) {
            big x(a);
            mpz_neg(x.z, x.z);
            return x.to_term();
        }
        if (a.is_float()) return term(-a.float_value());
        badarith();
    }
    if (op == plus) {
        if (!a.is_number()) badarith();
        return a;
    }
    if (op == bnot_) {
        if (a.is_small()) return term(static_cast<long long>(~a.small_value()));
        if (a.is_bignum()) {
            big x(a), r;
            mpz_com(r.z, x.z);
            return r.to_term();
        }
        badarith();
    }
    badarith();
}

}  // namespace nodus::eval::detail

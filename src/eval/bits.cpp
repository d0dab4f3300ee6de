// The bit syntax: building <<...>> and matching segments, with eval_bits' rules (OTP 25):
// default sizes (integer 8, float 64, binary all), units, signedness, endianness, utf8/16/32.
#include <gmp.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "eval_impl.hpp"

namespace nodus::eval::detail {

using namespace nodus::literals;

namespace {

class bit_builder {
public:
    void put_bits(std::uint64_t v, unsigned n) {
        // n <= 64, most significant first.
        for (unsigned i = n; i-- > 0;)
            put_bit(static_cast<unsigned>((v >> i) & 1u));
    }
    void put_bit(unsigned b) {
        if (bits_ % 8 == 0) bytes_.push_back(0);
        if (b) bytes_.back() |= static_cast<std::uint8_t>(0x80u >> (bits_ % 8));
        ++bits_;
    }
    void put_bytes(const std::uint8_t* p, std::size_t n) {
        if (bits_ % 8 == 0) {
            bytes_.insert(bytes_.end(), p, p + n);
            bits_ += n * 8;
            return;
        }
        for (std::size_t i = 0; i < n; ++i)
            put_bits(p[i], 8);
    }
    // The first nbits of p (high bits first).
    void put_bitstring(const std::uint8_t* p, std::size_t nbits) {
        put_bytes(p, nbits / 8);
        if (unsigned rem = static_cast<unsigned>(nbits % 8))
            put_bits(static_cast<std::uint64_t>(p[nbits / 8] >> (8 - rem)), rem);
    }
    std::size_t bits() const noexcept { return bits_; }
    term finish() const { return bitstring(byte_span(bytes_.data(), bytes_.size()), bits_); }

private:
    std::vector<std::uint8_t> bytes_;
    std::size_t bits_ = 0;
};

constexpr std::size_t max_segment_bits = std::size_t{1} << 32;

void put_integer(bit_builder& out, const term& v, std::size_t nbits, bit_segment::endian end) {
    if (nbits == 0) return;
    bool little = end == bit_segment::endian::little;
    // Two's complement of v modulo 2^nbits, as bytes (big-endian), then written.
    mpz_t z;
    mpz_init(z);
    if (v.is_small()) {
        mpz_set_si(z, static_cast<long>(v.small_value()));
    } else {
        bigint_view b = v.bigint();
        mpz_import(z, b.limbs.size(), -1, sizeof(std::uint64_t), 0, 0, b.limbs.data());
        if (b.negative) mpz_neg(z, z);
    }
    mpz_fdiv_r_2exp(z, z, nbits);
    std::size_t nbytes = (nbits + 7) / 8;
    std::vector<std::uint8_t> be(nbytes, 0);  // value right-aligned, big-endian
    std::size_t count = 0;
    std::vector<std::uint8_t> tmp((mpz_sizeinbase(z, 256) + 1), 0);
    if (mpz_sgn(z) != 0) mpz_export(tmp.data(), &count, 1, 1, 1, 0, z);
    mpz_clear(z);
    std::memcpy(be.data() + (nbytes - count), tmp.data(), count);
    unsigned rem = static_cast<unsigned>(nbits % 8);
    if (!little) {
        // The first byte holds only `rem` significant bits when nbits is not whole bytes.
        if (rem) {
            out.put_bits(be[0], rem);
            out.put_bytes(be.data() + 1, nbytes - 1);
        } else {
            out.put_bytes(be.data(), nbytes);
        }
        return;
    }
    // Little endian: whole bytes least significant first, then the remaining high bits
    // (the BEAM writes the partial byte last).
    std::size_t whole = nbits / 8;
    for (std::size_t i = 0; i < whole; ++i)
        out.put_bits(be[nbytes - 1 - i], 8);
    if (rem) out.put_bits(be[0], rem);
}

std::uint16_t to_half(double d) {
    auto bits = std::bit_cast<std::uint64_t>(d);
    auto sign = static_cast<std::uint16_t>((bits >> 48) & 0x8000);
    double a = std::fabs(d);
    if (a >= 65520.0) return static_cast<std::uint16_t>(sign | 0x7C00);
    if (a < std::ldexp(1.0, -25)) return sign;
    int e;
    std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    int exp = e - 1 + 15;
    if (exp <= 0) {
        // Subnormal: value / 2^-24
        auto m = static_cast<std::uint16_t>(std::nearbyint(std::ldexp(a, 24)));
        return static_cast<std::uint16_t>(sign | m);
    }
    double scaled = std::ldexp(a, -(e - 1)) - 1.0;  // fraction in [0, 1)
    auto frac = static_cast<std::uint32_t>(std::nearbyint(scaled * 1024.0));
    if (frac == 1024) {
        frac = 0;
        ++exp;
    }
    if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7C00);
    return static_cast<std::uint16_t>(sign | (exp << 10) | frac);
}

double from_half(std::uint16_t h) {
    int exp = (h >> 10) & 0x1F;
    int frac = h & 0x3FF;
    double v;
    if (exp == 0)
        v = std::ldexp(frac, -24);
    else if (exp == 31)
        v = frac ? std::nan("") : INFINITY;
    else
        v = std::ldexp(1024 + frac, exp - 25);
    return (h & 0x8000) ? -v : v;
}

void put_utf8(bit_builder& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.put_bits(cp, 8);
    } else if (cp < 0x800) {
        out.put_bits(0xC0 | (cp >> 6), 8);
        out.put_bits(0x80 | (cp & 0x3F), 8);
    } else if (cp < 0x10000) {
        out.put_bits(0xE0 | (cp >> 12), 8);
        out.put_bits(0x80 | ((cp >> 6) & 0x3F), 8);
        out.put_bits(0x80 | (cp & 0x3F), 8);
    } else {
        out.put_bits(0xF0 | (cp >> 18), 8);
        out.put_bits(0x80 | ((cp >> 12) & 0x3F), 8);
        out.put_bits(0x80 | ((cp >> 6) & 0x3F), 8);
        out.put_bits(0x80 | (cp & 0x3F), 8);
    }
}

bool valid_code_point(const term& v) {
    auto c = v.to_int64();
    return c && *c >= 0 && *c <= 0x10FFFF && !(*c >= 0xD800 && *c <= 0xDFFF);
}

unsigned default_unit(atom type) {
    static const atom binary_("binary");
    return type == binary_ ? 8 : 1;
}

}  // namespace

bool parse_bit_types(const term& types, bit_segment& seg) {
    static const atom integer_("integer"), float_("float"), binary_("binary"), bytes_("bytes"),
        bitstring_("bitstring"), bits_("bits"), utf8_("utf8"), utf16_("utf16"), utf32_("utf32"),
        signed_("signed"), unsigned_("unsigned"), big_("big"), little_("little"), native_("native"),
        unit_("unit"), default_("default");
    seg.type = integer_;
    if (types.is_atom(default_)) return true;
    for (const term* l = &types; l->is_cons(); l = &l->tail()) {
        const term& t = l->head();
        if (t.is_tuple(2) && t[0].is_atom(unit_)) {
            auto u = t[1].to_int64();
            if (!u || *u < 1 || *u > 256) return false;
            seg.unit = static_cast<unsigned>(*u);
            continue;
        }
        if (!t.is_atom()) return false;
        atom a = t.as_atom();
        if (a == integer_ || a == float_ || a == binary_ || a == bitstring_ || a == utf8_ || a == utf16_ ||
            a == utf32_)
            seg.type = a;
        else if (a == bytes_)
            seg.type = binary_;
        else if (a == bits_)
            seg.type = bitstring_;
        else if (a == signed_)
            seg.is_signed = true;
        else if (a == unsigned_)
            seg.is_signed = false;
        else if (a == big_)
            seg.end = bit_segment::endian::big;
        else if (a == little_)
            seg.end = bit_segment::endian::little;
        else if (a == native_)
            seg.end = std::endian::native == std::endian::little ? bit_segment::endian::little
                                                                 : bit_segment::endian::big;
        else
            return false;
    }
    return true;
}

term build_bits(const std::vector<bit_segment>& segments) {
    static const atom integer_("integer"), float_("float"), binary_("binary"), bitstring_("bitstring"),
        utf8_("utf8"), utf16_("utf16"), utf32_("utf32");
    bit_builder out;
    for (const bit_segment& s : segments) {
        unsigned unit = s.unit ? s.unit : default_unit(s.type);
        if (s.type == utf8_ || s.type == utf16_ || s.type == utf32_) {
            if (!s.size.is_nil() || s.unit) badarg();
            if (!valid_code_point(s.value)) badarg();
            auto cp = static_cast<std::uint32_t>(*s.value.to_int64());
            if (s.type == utf8_) {
                put_utf8(out, cp);
            } else if (s.type == utf16_) {
                auto put16 = [&](std::uint32_t u) {
                    if (s.end == bit_segment::endian::little) {
                        out.put_bits(u & 0xFF, 8);
                        out.put_bits(u >> 8, 8);
                    } else {
                        out.put_bits(u, 16);
                    }
                };
                if (cp < 0x10000) {
                    put16(cp);
                } else {
                    std::uint32_t v = cp - 0x10000;
                    put16(0xD800 | (v >> 10));
                    put16(0xDC00 | (v & 0x3FF));
                }
            } else {
                put_integer(out, s.value, 32, s.end);
            }
            continue;
        }
        if (s.type == integer_) {
            if (!s.value.is_integer()) badarg();
            std::int64_t size = 8;
            if (!s.size.is_nil()) {
                auto v = s.size.to_int64();
                if (!v || *v < 0) badarg();
                size = *v;
            }
            auto nbits = static_cast<std::uint64_t>(size) * unit;
            if (nbits > max_segment_bits) fail(term(atoms::system_limit));
            put_integer(out, s.value, nbits, s.end);
            continue;
        }
        if (s.type == float_) {
            std::int64_t size = 64;
            if (!s.size.is_nil()) {
                auto v = s.size.to_int64();
                if (!v) badarg();
                size = *v;
            }
            std::int64_t nbits = size * unit;
            auto d = s.value.is_number() ? to_double(s.value) : std::nullopt;
            if (!d) badarg();
            std::uint64_t raw;
            if (nbits == 64) {
                raw = std::bit_cast<std::uint64_t>(*d);
            } else if (nbits == 32) {
                auto f = static_cast<float>(*d);
                if (std::isinf(f) && !std::isinf(*d)) badarg();
                raw = std::bit_cast<std::uint32_t>(f);
            } else if (nbits == 16) {
                raw = to_half(*d);
            } else {
                badarg();
            }
            auto n = static_cast<unsigned>(nbits);
            if (s.end == bit_segment::endian::little) {
                for (unsigned i = 0; i < n / 8; ++i)
                    out.put_bits((raw >> (8 * i)) & 0xFF, 8);
            } else {
                out.put_bits(raw, n);
            }
            continue;
        }
        // binary / bitstring
        if (!s.value.is_bitstring()) badarg();
        std::size_t have = s.value.bit_size();
        std::size_t take = have;
        if (!s.size.is_nil()) {
            auto v = s.size.to_int64();
            if (!v || *v < 0) badarg();
            auto want = static_cast<std::uint64_t>(*v) * unit;
            if (want > have) badarg();
            take = static_cast<std::size_t>(want);
        } else if (s.type == binary_ && have % unit != 0) {
            badarg();
        }
        out.put_bitstring(s.value.bytes().data(), take);
    }
    return out.finish();
}

bit_reader::bit_reader(const term& bits) : bits_(bits) {
    data_ = bits_.bytes().data();
    total_ = bits_.bit_size();
}

std::uint64_t bit_reader::get_bits(std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t p = pos_ + i;
        v = (v << 1) | ((data_[p / 8] >> (7 - p % 8)) & 1u);
    }
    pos_ += n;
    return v;
}

std::optional<term> bit_reader::read(const bit_segment& s, std::optional<std::size_t> size_bits) {
    static const atom integer_("integer"), float_("float"), binary_("binary"), bitstring_("bitstring"),
        utf8_("utf8"), utf16_("utf16"), utf32_("utf32");
    if (s.type == integer_) {
        std::size_t n = size_bits.value_or(8);
        if (n > bits_left()) return std::nullopt;
        if (n <= 63) {
            std::uint64_t v;
            if (s.end == bit_segment::endian::little && n % 8 == 0) {
                v = 0;
                for (std::size_t i = 0; i < n / 8; ++i)
                    v |= get_bits(8) << (8 * i);
            } else if (s.end == bit_segment::endian::little) {
                // Little-endian with a partial byte: whole bytes first (low first), then the
                // high bits, mirroring how put_integer writes them.
                std::size_t whole = n / 8;
                v = 0;
                for (std::size_t i = 0; i < whole; ++i)
                    v |= get_bits(8) << (8 * i);
                v |= get_bits(n % 8) << (8 * whole);
            } else {
                v = get_bits(n);
            }
            if (s.is_signed && n > 0 && (v >> (n - 1)) & 1u) {
                auto sv = static_cast<std::int64_t>(v) - (std::int64_t{1} << n);
                return term(static_cast<long long>(sv));
            }
            return term(static_cast<unsigned long long>(v));
        }
        // Large integers through GMP: collect bytes big-endian.
        std::vector<std::uint8_t> be((n + 7) / 8, 0);
        std::size_t rem = n % 8;
        if (s.end == bit_segment::endian::little) {
            std::size_t whole = n / 8;
            for (std::size_t i = 0; i < whole; ++i)
                be[be.size() - 1 - i] = static_cast<std::uint8_t>(get_bits(8));
            if (rem) be[0] = static_cast<std::uint8_t>(get_bits(rem));
        } else {
            std::size_t i = 0;
            if (rem) be[i++] = static_cast<std::uint8_t>(get_bits(rem));
            for (; i < be.size(); ++i)
                be[i] = static_cast<std::uint8_t>(get_bits(8));
        }
        mpz_t z;
        mpz_init(z);
        mpz_import(z, be.size(), 1, 1, 1, 0, be.data());
        if (s.is_signed && mpz_tstbit(z, n - 1)) {
            mpz_t m;
            mpz_init(m);
            mpz_setbit(m, n);
            mpz_sub(z, z, m);
            mpz_clear(m);
        }
        std::size_t nl = (mpz_sizeinbase(z, 2) + 63) / 64;
        std::vector<std::uint64_t> limbs(nl, 0);
        std::size_t count = 0;
        bool neg = mpz_sgn(z) < 0;
        mpz_abs(z, z);
        mpz_export(limbs.data(), &count, -1, sizeof(std::uint64_t), 0, 0, z);
        mpz_clear(z);
        limbs.resize(count);
        return term::integer(neg, limbs);
    }
    if (s.type == float_) {
        std::size_t n = size_bits.value_or(64);
        if (n > bits_left() || (n != 16 && n != 32 && n != 64)) return std::nullopt;
        std::uint64_t raw = 0;
        if (s.end == bit_segment::endian::little) {
            for (std::size_t i = 0; i < n / 8; ++i)
                raw |= get_bits(8) << (8 * i);
        } else {
            raw = get_bits(n);
        }
        double d;
        if (n == 64)
            d = std::bit_cast<double>(raw);
        else if (n == 32)
            d = std::bit_cast<float>(static_cast<std::uint32_t>(raw));
        else
            d = from_half(static_cast<std::uint16_t>(raw));
        if (!std::isfinite(d)) return std::nullopt;
        return term(d);
    }
    if (s.type == binary_ || s.type == bitstring_) {
        std::size_t n;
        if (size_bits) {
            n = *size_bits;
            if (n > bits_left()) return std::nullopt;
        } else {
            n = bits_left();
            unsigned unit = s.unit ? s.unit : default_unit(s.type);
            if (n % unit != 0) return std::nullopt;
        }
        if (pos_ % 8 == 0 && n % 8 == 0 && bits_.is_binary()) {
            term sub = bits_.sub_binary(pos_ / 8, n / 8);
            pos_ += n;
            return sub;
        }
        bit_builder b;
        for (std::size_t i = 0; i < n; ++i)
            b.put_bit(static_cast<unsigned>(get_bits(1)));
        return b.finish();
    }
    if (s.type == utf8_) {
        if (bits_left() < 8) return std::nullopt;
        std::size_t save = pos_;
        auto b0 = static_cast<std::uint32_t>(get_bits(8));
        std::size_t extra;
        std::uint32_t cp;
        if (b0 < 0x80) {
            return term(static_cast<long long>(b0));
        } else if ((b0 & 0xE0) == 0xC0) {
            extra = 1;
            cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            extra = 2;
            cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            extra = 3;
            cp = b0 & 0x07;
        } else {
            pos_ = save;
            return std::nullopt;
        }
        if (bits_left() < 8 * extra) {
            pos_ = save;
            return std::nullopt;
        }
        for (std::size_t i = 0; i < extra; ++i) {
            auto b = static_cast<std::uint32_t>(get_bits(8));
            if ((b & 0xC0) != 0x80) {
                pos_ = save;
                return std::nullopt;
            }
            cp = (cp << 6) | (b & 0x3F);
        }
        static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            pos_ = save;
            return std::nullopt;
        }
        return term(static_cast<long long>(cp));
    }
    if (s.type == utf16_) {
        std::size_t save = pos_;
        auto get16 = [&]() -> std::uint32_t {
            if (s.end == bit_segment::endian::little) {
                auto lo = static_cast<std::uint32_t>(get_bits(8));
                return lo | static_cast<std::uint32_t>(get_bits(8)) << 8;
            }
            return static_cast<std::uint32_t>(get_bits(16));
        };
        if (bits_left() < 16) return std::nullopt;
        std::uint32_t u = get16();
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (bits_left() < 16) {
                pos_ = save;
                return std::nullopt;
            }
            std::uint32_t lo = get16();
            if (lo < 0xDC00 || lo > 0xDFFF) {
                pos_ = save;
                return std::nullopt;
            }
            return term(static_cast<long long>(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)));
        }
        if (u >= 0xDC00 && u <= 0xDFFF) {
            pos_ = save;
            return std::nullopt;
        }
        return term(static_cast<long long>(u));
    }
    if (s.type == utf32_) {
        if (bits_left() < 32) return std::nullopt;
        std::size_t save = pos_;
        std::uint32_t v;
        if (s.end == bit_segment::endian::little) {
            v = 0;
            for (int i = 0; i < 4; ++i)
                v |= static_cast<std::uint32_t>(get_bits(8)) << (8 * i);
        } else {
            v = static_cast<std::uint32_t>(get_bits(32));
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            pos_ = save;
            return std::nullopt;
        }
        return term(static_cast<long long>(v));
    }
    return std::nullopt;
}

}  // namespace nodus::eval::detail

// term_gen: a seeded generator of random terms of every kind, for property tests, fuzz corpora
// and benchmarks. The same seed and options give the same terms on every platform: randomness
// comes from std::mt19937_64 (fully specified) through our own helpers, never through the
// implementation-defined std:: distributions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "nodus/term/term.hpp"

namespace nodus::test {

struct term_gen_options {
    std::size_t max_depth = 4;         // nesting of tuples, lists, maps and fun environments
    std::size_t max_width = 6;         // elements of one container (usually; see large_chance)
    std::size_t max_binary = 48;       // bytes of a binary or bitstring (usually)
    std::size_t max_bignum_limbs = 6;  // 64-bit limbs of a bignum (usually)
    // Chance that a container, binary or bignum is large (hundreds to a few thousand elements
    // or bytes), to cross the 255/65535 boundaries of the external format now and then.
    double large_chance = 0.01;
    bool identifiers = true;      // pids, ports and references
    bool funs = true;             // export and local funs
    std::size_t atom_pool = 400;  // distinct random atoms (bounded so the atom table stays small)
};

class term_gen {
  public:
    explicit term_gen(std::uint64_t seed, term_gen_options opts = {});

    std::uint64_t seed() const noexcept { return seed_; }
    const term_gen_options& options() const noexcept { return opts_; }

    // A random term of any kind, nested up to options().max_depth.
    term any() { return node(0); }
    // A term without elements (numbers, atoms, binaries, identifiers, export funs, []).
    term leaf();
    // A term from a tiny domain (a few small integers, their float twins, two atoms, short
    // lists and tuples of those), so that equal and equivalent terms are frequent: for
    // comparison and hashing properties.
    term small_domain(std::size_t depth = 0);

    // ---- single kinds ----
    term integer();  // small, boundary, 64-bit or bignum
    term bignum();   // magnitude of 1..max_bignum_limbs limbs (sometimes many more)
    term float_();   // finite; from random bit patterns and special values (-0.0, subnormals, max)
    atom atom_();    // from the pool: ASCII, Latin-1, Greek, CJK, emoji, up to 255 characters
    atom node_name();
    term binary_();
    term bitstring_();  // 1..7 trailing bits
    term string_();     // a list of bytes (STRING_EXT when short enough)
    term pid_();
    term port_();
    term reference_();
    term export_();
    term tuple_(std::size_t depth);
    term list_(std::size_t depth);  // proper or improper
    term map_(std::size_t depth);   // mixed keys, including integers and floats of equal value
    term local_fun(std::size_t depth);

    // ---- randomness ----
    std::uint64_t bits() { return rng_(); }
    std::uint64_t below(std::uint64_t n) { return n ? rng_() % n : 0; }  // 0..n-1
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
    bool chance(double p) { return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p; }
    std::mt19937_64& engine() noexcept { return rng_; }

  private:
    term node(std::size_t depth);
    term child(std::size_t siblings, std::size_t depth);
    std::size_t width();
    std::size_t byte_count();

    std::uint64_t seed_;
    term_gen_options opts_;
    std::mt19937_64 rng_;
    std::vector<atom> atoms_;
    std::vector<atom> nodes_;
};

// The seed for a randomized test: $NODUS_SEED when set (decimal, or hex with 0x), else a fresh
// random one. Tests print it so that a failure can be replayed with NODUS_SEED=<seed>.
std::uint64_t seed_from_env(const char* var = "NODUS_SEED");

}  // namespace nodus::test

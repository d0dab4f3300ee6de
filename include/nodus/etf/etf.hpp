// External Term Format: encode and decode terms exactly as OTP 25 does.
// Decoding is bounded and never recursive: input from a peer cannot exhaust the stack, the
// heap (every length is checked against the bytes that remain before allocating) or the atom
// table (an optional atom budget, and a mode that creates no atoms at all).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/base/result.hpp"
#include "nodus/term/term.hpp"

namespace nodus::etf {

inline constexpr std::uint8_t version_magic = 131;

// Tags (etf.md §2.1).
enum tag : std::uint8_t {
    new_float_ext = 70,
    bit_binary_ext = 77,
    compressed = 80,
    atom_cache_ref = 82,
    new_pid_ext = 88,
    new_port_ext = 89,
    newer_reference_ext = 90,
    small_integer_ext = 97,
    integer_ext = 98,
    float_ext = 99,
    atom_ext = 100,
    reference_ext = 101,
    port_ext = 102,
    pid_ext = 103,
    small_tuple_ext = 104,
    large_tuple_ext = 105,
    nil_ext = 106,
    string_ext = 107,
    list_ext = 108,
    binary_ext = 109,
    small_big_ext = 110,
    large_big_ext = 111,
    new_fun_ext = 112,
    export_ext = 113,
    new_reference_ext = 114,
    small_atom_ext = 115,
    map_ext = 116,
    atom_utf8_ext = 118,
    small_atom_utf8_ext = 119,
    v4_port_ext = 120,
};

enum class errc : std::uint8_t {
    truncated,          // input ends inside a term
    bad_version,        // first byte is not 131
    unknown_tag,        // a tag we do not know (or one OTP 25 cannot decode)
    bad_atom,           // atom text invalid (UTF-8, length)
    atom_table_full,    // the node's atom table is full
    atom_budget,        // the caller's budget of new atoms is spent, or new atoms are not allowed
    too_deep,           // nesting deeper than limits.max_depth
    too_large,          // a length above a limit (tuple arity, bignum, inflated size, ...)
    bad_float,          // NaN, infinity or unparsable FLOAT_EXT text
    bad_bitstring,      // bit count out of range
    duplicate_map_key,  // a map with the same key twice
    bad_fun,            // NEW_FUN_EXT fields inconsistent
    bad_reference,      // reference with 0 or more than 5 words
    bad_node,           // pid/port/ref node is not an atom
    bad_cache_ref,      // ATOM_CACHE_REF without a header or out of range
    bad_compressed,     // zlib stream corrupt or not of the announced size
    trailing_data,      // bytes left after the term
    bad_header,         // distribution header malformed
};
std::string_view to_string(errc e) noexcept;

struct error {
    errc code;
    std::size_t offset;  // byte offset of the problem in the input
    std::string message() const;
};

struct decode_limits {
    std::size_t max_depth = 10000;                      // nesting of tuples/lists heads/maps/funs
    std::size_t max_inflated = std::size_t{1} << 30;    // uncompressed size of a compressed term
    std::size_t max_bignum_bytes = std::size_t{1} << 24;  // 16 MiB of magnitude
};

struct decode_options {
    decode_limits limits{};
    // When false, unknown atoms are an error (binary_to_term(B, [safe])).
    bool allow_new_atoms = true;
    // When set, each atom created by this decode consumes one unit; at zero, errc::atom_budget.
    std::size_t* atom_budget = nullptr;
    // Atoms of the current distribution header (ATOM_CACHE_REF i means atom_refs[i]).
    std::span<const atom> atom_refs{};
    // When the input lies inside this storage, large binaries share it instead of copying.
    byte_storage* owner = nullptr;
};

// Decodes a whole external term: 131, then a term (or a compressed term), then nothing.
result<term, error> decode(byte_span bytes, const decode_options& opts = {});
// Decodes one term body (no 131) from the reader's position; leaves the reader after it.
// Error offsets are positions in reader.whole().
result<term, error> decode_body(byte_reader& reader, const decode_options& opts = {});

// An atom cache on the sending side of a distribution connection: returns the index of
// the atom in the current message header, or -1 to write the atom inline.
class atom_ref_sink {
public:
    virtual int ref_for(atom a) = 0;

protected:
    ~atom_ref_sink() = default;
};

// Binaries the encoder leaves out of its output (zero-copy sends): for a binary of at least
// min_bytes it writes the tag and size, then reports the binary and the output position where its
// bytes belong, and writes nothing more for it. The caller splices the bytes back in (gather I/O).
class binary_ref_sink {
public:
    explicit binary_ref_sink(std::size_t min_bytes) noexcept : min_bytes_(min_bytes) {}
    std::size_t min_bytes() const noexcept { return min_bytes_; }
    // bitstring: the binary term (kept alive by the sink for as long as the output is used);
    // at: output size when its bytes were due.
    virtual void external(const term& bitstring, std::size_t at) = 0;

protected:
    ~binary_ref_sink() = default;

private:
    std::size_t min_bytes_;
};

struct encode_options {
    // 0: floats as FLOAT_EXT text; 1: NEW_FLOAT_EXT, Latin-1 atoms as ATOM_EXT (OTP's
    // term_to_binary/1 default); 2: atoms always UTF-8 (what distribution uses).
    unsigned minor_version = 1;
    // zlib level 0..9 (OTP's `compressed` is 6); -1 means do not compress. As in OTP, the
    // compressed form is used only when it is smaller.
    int compression = -1;
    atom_ref_sink* atom_refs = nullptr;
    binary_ref_sink* external_binaries = nullptr;
    // Non-zero: the encoder may stop once its output is longer than this (the output is then
    // unfinished, good only for knowing that the term is bigger). A sender trying a small-message
    // path sets it so that a big term is not encoded in full for nothing.
    std::size_t stop_above = 0;
};

// Appends 131 and the term.
void encode(const term& t, byte_writer& out, const encode_options& opts = {});
std::vector<std::uint8_t> encode(const term& t, const encode_options& opts = {});
// Appends the term body without 131 (for distribution messages).
void encode_body(const term& t, byte_writer& out, const encode_options& opts = {});
// Appends the body of the tuple of these elements, as encode_body of that tuple would, without
// building it (distribution control messages are made of elements the sender already has).
void encode_tuple_body(std::span<const term> elements, byte_writer& out, const encode_options& opts = {});

}  // namespace nodus::etf

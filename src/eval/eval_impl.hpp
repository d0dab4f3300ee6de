// Internal interfaces of the evaluator: exceptions with stack traces, numbers, bit syntax, the
// table of synchronous BIFs (usable in guards), and the atoms of the abstract format.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/eval/eval.hpp"
#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/term/term.hpp"

namespace nodus::eval::detail {

// ---- exceptions with stack traces ----

// Mixed into the exception classes the evaluator throws, so a catch of error_exception etc.
// still catches them and stacktrace_of() can find the stack.
struct stack_carrier {
    term stack;
    virtual ~stack_carrier() = default;
};

// error(Reason) from a BIF: the caller adds the {M, F, Args, Info} frame.
[[noreturn]] void badarg();
[[noreturn]] void fail(term reason);
[[noreturn]] void badarith();

// Whether an exception already carries a stack trace (else the caller may add its frame).
bool has_stack(const erlang_exception& e) noexcept;
// Rethrows e with stack [Frame] where Frame = {M, F, Args, Info}; Info names erl_erts_errors
// for module erlang, as the BEAM's BIF frames do.
[[noreturn]] void rethrow_with_frame(const erlang_exception& e, atom m, atom f, std::vector<term> args);

// ---- numbers (Erlang's arithmetic, any size via GMP) ----

// Binary arithmetic operator by name ('+', '-', '*', '/', div, rem, band, bor, bxor, bsl, bsr);
// throws badarith (error_exception, no stack) on bad operands.
term arith(atom op, const term& a, const term& b);
// Unary '-', '+', bnot.
term arith1(atom op, const term& a);
term add(const term& a, const term& b);
term sub(const term& a, const term& b);
term mul(const term& a, const term& b);
// Integer from a double (trunc/round/floor/ceil results); any size.
term integer_from_double(double d);
// The double value of a number; nullopt when an integer is too large for a double.
std::optional<double> to_double(const term& number);
// abs/1
term number_abs(const term& n);
// Parses an integer in base 2..36 with optional sign (list_to_integer semantics).
std::optional<term> parse_integer_text(std::string_view text, unsigned base);

// ---- bit syntax (eval_bits) ----

struct bit_segment {
    term value;
    term size;  // integer, or nil for the default (`all` for binaries)
    atom type;  // integer, float, binary, bitstring, utf8, utf16, utf32
    bool is_signed = false;
    enum class endian : std::uint8_t { big, little, native } end = endian::big;
    unsigned unit = 0;  // 0: the type's default
};
// Builds a bitstring from segments; throws badarg on bad values or sizes.
term build_bits(const std::vector<bit_segment>& segments);
// Parses a type list ([integer, {unit, 8}, little, ...] or `default`) into seg; false when it
// holds something unknown.
bool parse_bit_types(const term& types, bit_segment& seg);

// A reader over a bitstring for matching.
class bit_reader {
public:
    explicit bit_reader(const term& bits);
    std::size_t bits_left() const noexcept { return total_ - pos_; }
    // Reads a segment of the given type. size: in bits already multiplied by unit (ignored for
    // utf*); for binaries and bitstrings, nullopt means "the rest". nullopt result: no match.
    std::optional<term> read(const bit_segment& seg, std::optional<std::size_t> size_bits);

private:
    term bits_;
    const std::uint8_t* data_;
    std::size_t total_;
    std::size_t pos_ = 0;
    std::uint64_t get_bits(std::size_t n);
};

// ---- synchronous BIFs (guard BIFs and other pure functions of module erlang) ----

using bif_fn = term (*)(std::span<const term> args);

// A pure BIF of module erlang (or another module's pure function registered the same way).
bif_fn find_sync_bif(atom module, atom function, unsigned arity);
// erl_internal:bif/2: the functions callable without a module (auto-imported).
bool is_auto_imported(atom function, unsigned arity);
// erl_internal:guard_bif/2 plus the type tests: what a guard may call.
bool is_guard_bif(atom function, unsigned arity);
// Registers the synchronous BIFs into the sync table (called once).
void register_sync_bifs();
void add_sync_bif(atom module, atom function, unsigned arity, bif_fn fn);

// Makes every sync BIF visible in an export table too, and adds the erlang BIFs that are
// coroutines (spawn, apply, process_info).
void export_sync_bifs(export_table& table);
void register_erlang_natives(export_table& table);
void register_lists_maps(export_table& table);
void register_io(export_table& table);
void register_net(export_table& table);
// spawn_monitor(Fun).
std::pair<pid, reference> spawn_fun_monitor(const term& fun);

// ---- funs ----

struct fun_parts {
    term anno;
    term bindings;  // orddict
    term clauses;
    std::optional<atom> name;  // named fun
    unsigned arity = 0;
};
// The parts of an interpreted fun; nullopt for another term.
std::optional<fun_parts> interpreted_fun_parts(const term& f);
// Builds an interpreted fun like erl_eval's.
term make_interpreted_fun(const term& anno, const bindings& bs, const term& clauses, std::optional<atom> name,
                          unsigned arity);

// eval::apply with the arguments one by one. These are not coroutines, so callers need no
// braced temporary inside a co_await operand (docs/adr/0002).
task<term> apply_args(term fun);
task<term> apply_args(term fun, term a);
task<term> apply_args(term fun, term a, term b);
task<term> apply_args(term fun, term a, term b, term c);

// ---- reductions ----

// Counts work done by the evaluator so a CPU-bound shell loop gives up its thread at the next
// co_await yield() (the runtime's slice accounting only counts sends and receives).
void consume_reductions(std::int64_t n) noexcept;

// ---- misc ----

// A proper list's elements or nullopt (an improper list).
std::optional<std::vector<term>> list_to_vector(const term& l);
// Chars of an iolist / unicode chardata as UTF-8 bytes; nullopt when it is not one.
std::optional<std::string> iolist_bytes(const term& t);
std::optional<std::string> chardata_utf8(const term& t);
// The UTF-8 text of a string (list of code points); nullopt if not a flat list of chars.
std::optional<std::string> string_utf8(const term& t);

}  // namespace nodus::eval::detail

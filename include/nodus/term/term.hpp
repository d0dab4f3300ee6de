// term: an immutable Erlang value. Copying a term shares it (a reference-count increment),
// never deep-copies, so a message sent to a local process is shared, not copied.
//
// Representation: one machine word.
//   ...xxx000  pointer to a reference-counted heap object (bignum, float, tuple, cons cell,
//              binary, map, pid, port, reference, fun, export)
//   ...xxx001  small integer (61-bit signed, value << 3)
//   ...xxx010  atom (table index << 3)
//   ...0011    [] (nil)
//   ...xxx100  pid of a node that runs in this OS process (serial:24 | id:28 | node slot:9),
//              so that copying self() into messages costs no reference counting. Any other
//              pid is boxed; both forms of the same pid compare equal.
// Destruction is iterative, so dropping a list of ten million cells cannot overflow the stack.
#pragma once

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/term/atom.hpp"

namespace nodus {

// Type classes in Erlang term order: number < atom < reference < fun < port < pid < tuple < map
// < nil < list < bitstring.
enum class term_type : std::uint8_t {
    integer,
    float_,
    atom,
    reference,
    fun,
    port,
    pid,
    tuple,
    map,
    nil,
    list,
    bitstring,
};
std::string_view to_string(term_type t) noexcept;

class term;
class pid;
class port;
class reference;

namespace detail {

enum class box_kind : std::uint8_t {
    bignum,
    float_,
    tuple,
    cons,
    binary,
    map,
    pid,
    port,
    reference,
    fun,
    export_,
};

// Header of every heap object. aux is kind-specific (tuple arity, ref word count, ...).
struct box {
    std::atomic<std::uint32_t> refs;
    std::uint32_t meta;  // kind in the low 8 bits, aux in the high 24 bits

    box_kind kind() const noexcept { return static_cast<box_kind>(meta & 0xFF); }
    std::uint32_t aux() const noexcept { return meta >> 8; }
};

void destroy_box(box* b) noexcept;
void* allocate_box(std::size_t bytes);
void free_box(void* p, std::size_t bytes) noexcept;

inline constexpr std::uintptr_t tag_mask = 7;
inline constexpr std::uintptr_t tag_box = 0;
inline constexpr std::uintptr_t tag_small = 1;
inline constexpr std::uintptr_t tag_atom = 2;
inline constexpr std::uintptr_t word_nil = 3;
inline constexpr std::uintptr_t tag_local_pid = 4;

// Nodes living in this OS process (each runtime registers its name and creation); their
// pids can be immediate words. Slots are never reused.
inline constexpr std::uint32_t max_local_nodes = 512;
// The slot of (node, creation), registering it if new; -1 when the table is full.
int local_node_slot(atom node, std::uint32_t creation) noexcept;
// The slot of (node, creation) if registered, else -1 (never registers).
int find_local_node_slot(atom node, std::uint32_t creation) noexcept;
struct local_node {
    std::uint32_t node;  // atom index
    std::uint32_t creation;
};
local_node local_node_at(std::uint32_t slot) noexcept;
inline constexpr std::int64_t small_max = (std::int64_t{1} << 60) - 1;
inline constexpr std::int64_t small_min = -(std::int64_t{1} << 60);

}  // namespace detail

// A view of an integer too large for 61 bits: sign and magnitude limbs (little-endian).
struct bigint_view {
    bool negative;
    std::span<const std::uint64_t> limbs;  // normalised: no zero most-significant limb
};

// Storage shared by binaries. Sub-binaries and decoded binaries point into it.
struct byte_storage {
    std::atomic<std::uint32_t> refs{1};
    void (*release)(byte_storage*) noexcept = nullptr;  // frees the storage itself
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;

    void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void drop() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) release(this);
    }
    // A heap block of n bytes (data is writable until shared).
    static byte_storage* allocate(std::size_t n);
    std::uint8_t* mutable_data() noexcept { return const_cast<std::uint8_t*>(data); }
};

class term {
public:
    // [] (nil).
    term() noexcept : w_(detail::word_nil) {}
    term(const term& o) noexcept : w_(o.w_) { retain(); }
    term(term&& o) noexcept : w_(std::exchange(o.w_, detail::word_nil)) {}
    term& operator=(const term& o) noexcept {
        if (this != &o) {
            o.retain();
            release();
            w_ = o.w_;
        }
        return *this;
    }
    term& operator=(term&& o) noexcept {
        if (this != &o) {
            release();
            w_ = std::exchange(o.w_, detail::word_nil);
        }
        return *this;
    }
    ~term() { release(); }

    // ---- construction from C++ values ----
    term(atom a) noexcept : w_((std::uintptr_t{a.index()} << 3) | detail::tag_atom) {}  // NOLINT
    term(bool b) noexcept : term(b ? atoms::true_ : atoms::false_) {}                  // NOLINT
    term(int v) : term(static_cast<long long>(v)) {}                                    // NOLINT
    term(long v) : term(static_cast<long long>(v)) {}                                   // NOLINT
    term(long long v);                                                                   // NOLINT
    term(unsigned v) : term(static_cast<unsigned long long>(v)) {}                      // NOLINT
    term(unsigned long v) : term(static_cast<unsigned long long>(v)) {}                 // NOLINT
    term(unsigned long long v);                                                          // NOLINT
    term(double v);                                                                      // NOLINT
    term(const char*) = delete;  // say what you mean: atom(), binary() or string()

    static term nil() noexcept { return term(); }
    // An integer from sign and magnitude limbs (little-endian); normalises to a small
    // integer when it fits.
    static term integer(bool negative, std::span<const std::uint64_t> limbs);
    // Parses a decimal integer of any size ("-123", "1e3" is not accepted).
    static std::optional<term> parse_integer(std::string_view digits, unsigned base = 10);

    // ---- classification ----
    term_type type() const noexcept;
    bool is_integer() const noexcept { return is_small() || is_box(detail::box_kind::bignum); }
    bool is_small() const noexcept { return (w_ & detail::tag_mask) == detail::tag_small; }
    bool is_bignum() const noexcept { return is_box(detail::box_kind::bignum); }
    bool is_float() const noexcept { return is_box(detail::box_kind::float_); }
    bool is_number() const noexcept { return is_integer() || is_float(); }
    bool is_atom() const noexcept { return (w_ & detail::tag_mask) == detail::tag_atom; }
    bool is_atom(atom a) const noexcept { return *this == term(a); }
    bool is_bool() const noexcept { return is_atom(atoms::true_) || is_atom(atoms::false_); }
    bool is_nil() const noexcept { return w_ == detail::word_nil; }
    bool is_cons() const noexcept { return is_box(detail::box_kind::cons); }
    bool is_list() const noexcept { return is_nil() || is_cons(); }  // nil or a cons cell
    bool is_tuple() const noexcept { return is_box(detail::box_kind::tuple); }
    bool is_tuple(std::size_t arity) const noexcept { return is_tuple() && tuple_size() == arity; }
    // A tuple whose first element is the atom tag (a "record" check).
    bool is_tagged(atom tag, std::size_t arity) const noexcept;
    bool is_map() const noexcept { return is_box(detail::box_kind::map); }
    bool is_bitstring() const noexcept { return is_box(detail::box_kind::binary); }
    bool is_binary() const noexcept { return is_bitstring() && trailing_bits() == 0; }
    bool is_pid() const noexcept {
        return (w_ & detail::tag_mask) == detail::tag_local_pid || is_box(detail::box_kind::pid);
    }
    bool is_local_pid_word() const noexcept { return (w_ & detail::tag_mask) == detail::tag_local_pid; }
    // The local node slot of an immediate pid, or -1 for any other term.
    int local_pid_slot() const noexcept {
        return is_local_pid_word() ? static_cast<int>((w_ >> 3) & 0x1FF) : -1;
    }
    bool is_port() const noexcept { return is_box(detail::box_kind::port); }
    bool is_reference() const noexcept { return is_box(detail::box_kind::reference); }
    bool is_fun() const noexcept { return is_box(detail::box_kind::fun) || is_box(detail::box_kind::export_); }
    bool is_export() const noexcept { return is_box(detail::box_kind::export_); }
    bool is_local_fun() const noexcept { return is_box(detail::box_kind::fun); }

    // ---- numbers ----
    // The value if it is an integer that fits in 64 bits.
    std::optional<std::int64_t> to_int64() const noexcept {
        if (is_small()) return small_value();
        return bignum_to_int64();
    }
    std::optional<std::uint64_t> to_uint64() const noexcept;
    // Precondition: is_small().
    std::int64_t small_value() const noexcept { return static_cast<std::int64_t>(w_) >> 3; }
    // Precondition: is_bignum().
    bigint_view bigint() const noexcept;
    // Precondition: is_float().
    double float_value() const noexcept;
    // Integer or float as a double (precondition: is_number()).
    double to_double() const noexcept;

    // ---- atoms ----
    // Precondition: is_atom().
    atom as_atom() const noexcept { return atom::from_index(static_cast<std::uint32_t>(w_ >> 3)); }

    // ---- tuples ----
    std::size_t tuple_size() const noexcept;              // precondition: is_tuple()
    std::span<const term> elements() const noexcept;      // precondition: is_tuple()
    const term& operator[](std::size_t i) const noexcept;  // tuple element, precondition: in range

    // ---- lists ----
    const term& head() const noexcept;  // precondition: is_cons()
    const term& tail() const noexcept;  // precondition: is_cons()
    // Number of elements if this is a proper list.
    std::optional<std::size_t> list_length() const noexcept;
    // The elements of a proper list; nullopt for an improper list or a non-list.
    std::optional<std::vector<term>> list_elements() const;

    // ---- bitstrings ----
    byte_span bytes() const noexcept;             // all bytes; the last may be partly used
    std::size_t bit_size() const noexcept;        // precondition: is_bitstring()
    unsigned trailing_bits() const noexcept;      // bits used in the last byte when not whole (1..7), else 0
    std::string_view as_string_view() const noexcept { return as_chars(bytes()); }
    // A sub-binary sharing this binary's storage (byte-aligned).
    term sub_binary(std::size_t offset, std::size_t length) const;

    // ---- maps (sorted in Erlang's map key order) ----
    std::size_t map_size() const noexcept;
    std::span<const term> map_keys() const noexcept;
    std::span<const term> map_values() const noexcept;
    const term* map_get(const term& key) const noexcept;  // nullptr when absent

    // ---- identifiers ----
    pid as_pid() const;              // precondition: is_pid()
    // Fields of a pid without copying it (precondition: is_pid()).
    atom pid_node() const noexcept;
    std::uint32_t pid_id() const noexcept;
    std::uint32_t pid_serial() const noexcept;
    std::uint32_t pid_creation() const noexcept;
    port as_port() const;            // precondition: is_port()
    reference as_reference() const;  // precondition: is_reference()
    // Node of a pid, port or reference (precondition: one of those).
    atom node() const noexcept;

    // ---- funs (opaque: carried, compared, printed, never executed) ----
    // For an export fun M:F/A.
    atom export_module() const noexcept;
    atom export_function() const noexcept;
    unsigned fun_arity() const noexcept;

    // Raw word: identity of immediates and shared boxes. Equal words imply =:=.
    std::uintptr_t raw() const noexcept { return w_; }
    // Whether two terms are the very same object or immediate.
    bool same(const term& o) const noexcept { return w_ == o.w_; }

    // =:= (exact equality: 1 =:= 1.0 is false).
    friend bool operator==(const term& a, const term& b) noexcept;

    // ---- low level (codecs, runtime) ----
    std::optional<std::int64_t> bignum_to_int64() const noexcept;
    static term from_box(detail::box* b) noexcept { return term(reinterpret_cast<std::uintptr_t>(b), adopt); }
    detail::box* box_ptr() const noexcept { return reinterpret_cast<detail::box*>(w_); }
    bool is_boxed() const noexcept { return (w_ & detail::tag_mask) == detail::tag_box && w_ != 0; }
    bool is_box(detail::box_kind k) const noexcept { return is_boxed() && box_ptr()->kind() == k; }
    // Releases ownership of the word (the caller must re-adopt it with from_raw).
    std::uintptr_t release_raw() noexcept { return std::exchange(w_, detail::word_nil); }
    static term from_raw(std::uintptr_t w) noexcept { return term(w, adopt); }
    static term small(std::int64_t v) noexcept {
        return term(static_cast<std::uintptr_t>(v) << 3 | detail::tag_small, adopt);
    }

private:
    struct adopt_t {};
    static constexpr adopt_t adopt{};
    term(std::uintptr_t w, adopt_t) noexcept : w_(w) {}

    void retain() const noexcept {
        if (is_boxed()) box_ptr()->refs.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        if (is_boxed()) {
            detail::box* b = box_ptr();
            // The sole owner needs no atomic decrement: nobody else can touch the count.
            if (b->refs.load(std::memory_order_acquire) == 1 || b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
                detail::destroy_box(b);
        }
    }

    std::uintptr_t w_;
};

static_assert(sizeof(term) == sizeof(void*));

// ---- construction helpers (read like Erlang) ----
template <class... Ts>
term tuple(Ts&&... elems);
term make_tuple(std::span<const term> elems);
term make_tuple(std::vector<term>&& elems);
term list(std::initializer_list<term> elems);
term make_list(std::span<const term> elems, term tail = term());
term make_list(std::vector<term>&& elems, term tail = term());
term cons(term head, term tail);
// A list of Unicode code points from UTF-8 text (Erlang string "...").
term string(std::string_view utf8);
term binary(std::string_view bytes);
term binary(byte_span bytes);
// A binary that shares existing storage (no copy).
term binary(byte_storage* storage, std::size_t offset, std::size_t size);
// A bitstring of bit_size bits taken from bytes (high bits first).
term bitstring(byte_span bytes, std::size_t bit_size);
// A map; on duplicate keys the last one wins (as in an Erlang map literal).
term map(std::initializer_list<std::pair<term, term>> pairs);
term make_map(std::vector<std::pair<term, term>> pairs);
term map_put(const term& m, term key, term value);
term map_remove(const term& m, const term& key);
term make_export(atom module, atom function, unsigned arity);

// ---- identifiers ----
class pid {
public:
    pid() = default;  // an empty handle: valid() is false
    static pid make(atom node, std::uint32_t id, std::uint32_t serial, std::uint32_t creation);
    bool valid() const noexcept { return t_.is_pid(); }
    atom node() const noexcept;
    std::uint32_t id() const noexcept;
    std::uint32_t serial() const noexcept;
    std::uint32_t creation() const noexcept;
    const term& as_term() const noexcept { return t_; }
    operator const term&() const noexcept { return t_; }  // NOLINT: a pid is a term
    friend bool operator==(const pid& a, const pid& b) noexcept { return a.t_ == b.t_; }

private:
    friend class term;
    explicit pid(term t) : t_(std::move(t)) {}
    term t_;
};

class port {
public:
    port() = default;
    static port make(atom node, std::uint64_t id, std::uint32_t creation);
    bool valid() const noexcept { return t_.is_port(); }
    atom node() const noexcept;
    std::uint64_t id() const noexcept;
    std::uint32_t creation() const noexcept;
    const term& as_term() const noexcept { return t_; }
    operator const term&() const noexcept { return t_; }  // NOLINT
    friend bool operator==(const port& a, const port& b) noexcept { return a.t_ == b.t_; }

private:
    friend class term;
    explicit port(term t) : t_(std::move(t)) {}
    term t_;
};

class reference {
public:
    static constexpr std::size_t max_words = 5;
    reference() = default;
    static reference make(atom node, std::uint32_t creation, std::span<const std::uint32_t> words);
    bool valid() const noexcept { return t_.is_reference(); }
    atom node() const noexcept;
    std::uint32_t creation() const noexcept;
    std::span<const std::uint32_t> words() const noexcept;
    const term& as_term() const noexcept { return t_; }
    operator const term&() const noexcept { return t_; }  // NOLINT
    friend bool operator==(const reference& a, const reference& b) noexcept { return a.t_ == b.t_; }

private:
    friend class term;
    explicit reference(term t) : t_(std::move(t)) {}
    term t_;
};

// ---- comparison ----
// Erlang term order with == semantics (1 == 1.0 compares equivalent).
std::weak_ordering compare(const term& a, const term& b) noexcept;
// A total order consistent with =:=: Erlang's map key order, which is term order except that
// every integer sorts before every float (#{2 => a, 1.5 => b} has keys [2, 1.5]).
std::strong_ordering exact_compare(const term& a, const term& b) noexcept;
// ==
bool equal(const term& a, const term& b) noexcept;
// A hash consistent with =:=.
std::size_t hash_value(const term& t) noexcept;

struct term_less {
    bool operator()(const term& a, const term& b) const noexcept { return exact_compare(a, b) < 0; }
};

// ---- implementation details of the helpers above ----
namespace detail {

// Variable-length parts of a box follow its header struct directly.
template <class T, class B>
T* trailing(B* b) noexcept {
    return reinterpret_cast<T*>(b + 1);
}
template <class T, class B>
const T* trailing(const B* b) noexcept {
    return reinterpret_cast<const T*>(b + 1);
}

struct tuple_box : box {};  // arity (aux) terms follow
struct cons_box : box {
    term head;
    term tail;
};
struct float_box : box {
    double value;
};
struct bignum_box : box {
    std::uint32_t nlimbs;
    std::uint32_t negative;  // nlimbs uint64 limbs follow
};
struct binary_box : box {
    byte_storage* owner;  // nullptr: data is inline after this header
    const std::uint8_t* data;
    std::size_t size;  // bytes, including a partly used last byte
};
struct map_box : box {
    std::size_t size;  // size keys then size values follow
};
struct pid_box : box {
    term node;
    std::uint32_t id, serial, creation;
};
struct port_box : box {
    term node;
    std::uint64_t id;
    std::uint32_t creation;
};
struct ref_box : box {
    term node;
    std::uint32_t creation;
    std::uint32_t words[reference::max_words];
};
struct export_box : box {
    std::uint32_t module, function;  // atom indices; aux = arity
};
struct fun_box : box {
    // NEW_FUN_EXT fields, kept so the fun survives a round trip. aux = number of free vars.
    std::uint8_t arity;
    std::uint8_t uniq[16];
    std::uint32_t index;
    term module;
    term old_index;
    term old_uniq;
    term pid;  // free variables follow
};

inline std::uint32_t make_meta(box_kind k, std::uint32_t aux) noexcept {
    return static_cast<std::uint32_t>(k) | (aux << 8);
}

// Allocation of uninitialised containers for codecs. Elements start as nil, so destroying a
// half-filled container is safe.
term new_tuple(std::size_t arity, term*& elems);
term new_cons(term*& head, term*& tail);
term new_map_unsorted(std::size_t size, term*& keys, term*& values);
// Sorts keys of a map built with new_map_unsorted; false when a key is duplicated.
bool finish_map(term& map);
term new_binary(std::size_t size, std::uint8_t*& data, unsigned trailing_bits = 0);
term new_float(double v);
term new_fun(std::size_t num_free, fun_box*& out);
term new_bignum(bool negative, std::size_t nlimbs, std::uint64_t*& limbs);
// Drops leading zero limbs and converts to a small integer when it fits.
term normalize_bignum(term big);

inline constexpr std::uint32_t max_tuple_arity = (1u << 24) - 1;

}  // namespace detail

inline atom term::pid_node() const noexcept {
    if (is_local_pid_word()) return atom::from_index(detail::local_node_at((w_ >> 3) & 0x1FF).node);
    return static_cast<const detail::pid_box*>(box_ptr())->node.as_atom();
}
inline std::uint32_t term::pid_id() const noexcept {
    if (is_local_pid_word()) return static_cast<std::uint32_t>((w_ >> 12) & 0xFFFFFFF);
    return static_cast<const detail::pid_box*>(box_ptr())->id;
}
inline std::uint32_t term::pid_serial() const noexcept {
    if (is_local_pid_word()) return static_cast<std::uint32_t>(w_ >> 40);
    return static_cast<const detail::pid_box*>(box_ptr())->serial;
}
inline std::uint32_t term::pid_creation() const noexcept {
    if (is_local_pid_word()) return detail::local_node_at((w_ >> 3) & 0x1FF).creation;
    return static_cast<const detail::pid_box*>(box_ptr())->creation;
}

template <class... Ts>
term tuple(Ts&&... elems) {
    term* out;
    term t = detail::new_tuple(sizeof...(Ts), out);
    ((*out++ = term(std::forward<Ts>(elems))), ...);
    return t;
}

}  // namespace nodus

template <>
struct std::hash<nodus::term> {
    std::size_t operator()(const nodus::term& t) const noexcept { return nodus::hash_value(t); }
};

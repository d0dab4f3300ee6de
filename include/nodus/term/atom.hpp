// Atoms: interned, immutable names. The table is process-wide, thread-safe and bounded:
// when it is full, make() returns atom_error::table_full instead of growing (the BEAM crashes
// in that case; a nodus node must not). Atoms are never freed, as in Erlang.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"

namespace nodus {

enum class atom_error : std::uint8_t {
    too_long,      // more than 255 characters
    invalid_utf8,  // not well-formed UTF-8
    table_full,    // the atom limit is reached
};
std::string_view to_string(atom_error e) noexcept;

// The well-known atoms, interned first so that their indices are compile-time constants.
// X(identifier, "text")
#define NODUS_WELL_KNOWN_ATOMS(X)           \
    X(empty, "")                            \
    X(true_, "true")                        \
    X(false_, "false")                      \
    X(undefined, "undefined")               \
    X(ok, "ok")                             \
    X(error, "error")                       \
    X(normal, "normal")                     \
    X(kill, "kill")                         \
    X(killed, "killed")                     \
    X(noproc, "noproc")                     \
    X(noconnection, "noconnection")         \
    X(EXIT, "EXIT")                         \
    X(DOWN, "DOWN")                         \
    X(process, "process")                   \
    X(infinity, "infinity")                 \
    X(timeout, "timeout")                   \
    X(badarg, "badarg")                     \
    X(nonode_nohost, "nonode@nohost")       \
    X(nodeup, "nodeup")                     \
    X(nodedown, "nodedown")                 \
    X(yes, "yes")                           \
    X(no, "no")                             \
    X(alias, "alias")                       \
    X(gen_call, "$gen_call")                \
    X(gen_cast, "$gen_cast")                \
    X(io_request, "io_request")             \
    X(io_reply, "io_reply")                 \
    X(put_chars, "put_chars")               \
    X(unicode, "unicode")                   \
    X(latin1, "latin1")                     \
    X(net_kernel, "net_kernel")             \
    X(is_auth, "is_auth")                   \
    X(rex, "rex")                           \
    X(erlang, "erlang")                     \
    X(link, "link")                         \
    X(monitor, "monitor")                   \
    X(badrpc, "badrpc")                     \
    X(undef, "undef")                       \
    X(throw_, "throw")                      \
    X(exit, "exit")                         \
    X(return_, "return")                    \
    X(nil, "nil")                           \
    X(system_limit, "system_limit")         \
    X(notsup, "notsup")                     \
    X(abandoned, "abandoned")               \
    X(spawn_reply, "spawn_reply")           \
    X(global_name_server, "global_name_server") \
    X(pg, "pg")

class atom {
public:
    static constexpr std::size_t max_chars = 255;

    // The empty atom ''.
    constexpr atom() noexcept = default;

    // Interns name (UTF-8). Throws std::invalid_argument (bad text) or std::length_error
    // (table full): for names written in the program. Untrusted input goes through make().
    explicit atom(std::string_view name);

    // Interns name (UTF-8), or says why it cannot.
    static result<atom, atom_error> make(std::string_view name) noexcept;
    // Interns a Latin-1 name (each byte is one character).
    static result<atom, atom_error> make_latin1(std::string_view name) noexcept;
    // The atom if it already exists; never grows the table.
    static std::optional<atom> existing(std::string_view name) noexcept;

    static constexpr atom from_index(std::uint32_t index) noexcept { return atom(index); }
    constexpr std::uint32_t index() const noexcept { return index_; }

    // UTF-8 text; valid forever.
    std::string_view name() const noexcept;
    std::string str() const { return std::string(name()); }
    // True when every character is below 256 (such atoms may be encoded as Latin-1).
    bool is_latin1() const noexcept;
    // Number of characters (code points).
    std::size_t length() const noexcept;

    friend constexpr bool operator==(atom a, atom b) noexcept { return a.index_ == b.index_; }
    // Erlang atom order: by text.
    friend std::strong_ordering operator<=>(atom a, atom b) noexcept;

private:
    constexpr explicit atom(std::uint32_t index) noexcept : index_(index) {}
    std::uint32_t index_ = 0;
};

namespace atoms {
namespace detail {
enum : std::uint32_t {
#define NODUS_ATOM_ENUM(id, text) id##_index,
    NODUS_WELL_KNOWN_ATOMS(NODUS_ATOM_ENUM)
#undef NODUS_ATOM_ENUM
        count
};
}  // namespace detail
#define NODUS_ATOM_CONST(id, text) inline constexpr atom id = atom::from_index(detail::id##_index);
NODUS_WELL_KNOWN_ATOMS(NODUS_ATOM_CONST)
#undef NODUS_ATOM_CONST
}  // namespace atoms

// Table limits and statistics.
struct atom_table_info {
    std::size_t count;
    std::size_t limit;
};
atom_table_info atom_table_stats() noexcept;
// Sets the maximum number of atoms (default 1,048,576 like the BEAM). A limit below the
// current count is raised to the current count. Returns the limit in force.
std::size_t set_atom_limit(std::size_t limit) noexcept;

namespace detail {
// A string literal as a template argument, so that each distinct "..."_a is interned once.
template <std::size_t N>
struct fixed_string {
    char text[N]{};
    constexpr fixed_string(const char (&s)[N]) {  // NOLINT: implicit by design
        for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
    }
    constexpr std::string_view view() const { return {text, N - 1}; }
};
}  // namespace detail

namespace literals {
// "ok"_a: the atom, interned on first use at each call site and cached after that.
template <detail::fixed_string S>
inline atom operator""_a() {
    static const atom a(S.view());
    return a;
}
}  // namespace literals

// Validates UTF-8 and counts code points; nullopt when malformed.
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

}  // namespace nodus

template <>
struct std::hash<nodus::atom> {
    std::size_t operator()(nodus::atom a) const noexcept { return std::hash<std::uint32_t>{}(a.index()); }
};

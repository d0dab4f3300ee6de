// Distribution capability flags (DFLAG_*), exchanged in the handshake: each side sends every flag
// it supports and the connection uses the AND of both sets (handshake.md §4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nodus::dist {

// All DFLAG values of OTP 25 (kernel/include/dist.hrl 25.2.3), 64 bits. Names without the
// DFLAG_ prefix, in snake_case; flag_name() gives OTP's spelling ("MAP_TAG").
namespace dflag {
inline constexpr std::uint64_t published = 0x1;
inline constexpr std::uint64_t atom_cache = 0x2;  // obsolete; never set
inline constexpr std::uint64_t extended_references = 0x4;
inline constexpr std::uint64_t dist_monitor = 0x8;
inline constexpr std::uint64_t fun_tags = 0x10;
inline constexpr std::uint64_t dist_monitor_name = 0x20;
inline constexpr std::uint64_t hidden_atom_cache = 0x40;  // obsolete; never set
inline constexpr std::uint64_t new_fun_tags = 0x80;
inline constexpr std::uint64_t extended_pids_ports = 0x100;
inline constexpr std::uint64_t export_ptr_tag = 0x200;
inline constexpr std::uint64_t bit_binaries = 0x400;
inline constexpr std::uint64_t new_floats = 0x800;
inline constexpr std::uint64_t unicode_io = 0x1000;
inline constexpr std::uint64_t dist_hdr_atom_cache = 0x2000;
inline constexpr std::uint64_t small_atom_tags = 0x4000;
inline constexpr std::uint64_t ets_compressed = 0x8000;  // internal to ERTS; never on the wire
inline constexpr std::uint64_t utf8_atoms = 0x10000;
inline constexpr std::uint64_t map_tag = 0x20000;
inline constexpr std::uint64_t big_creation = 0x40000;
inline constexpr std::uint64_t send_sender = 0x80000;
inline constexpr std::uint64_t big_seqtrace_labels = 0x100000;
inline constexpr std::uint64_t pending_connect = 0x200000;  // internal to ERTS; never on the wire
inline constexpr std::uint64_t exit_payload = 0x400000;
inline constexpr std::uint64_t fragments = 0x800000;
inline constexpr std::uint64_t handshake_23 = 0x1000000;
inline constexpr std::uint64_t unlink_id = 0x2000000;
inline constexpr std::uint64_t mandatory_25_digest = 0x4000000;
inline constexpr std::uint64_t reserved = 0xF8000000;  // bits 27..31, must be 0
inline constexpr std::uint64_t spawn = 0x1'0000'0000;
inline constexpr std::uint64_t name_me = 0x2'0000'0000;
inline constexpr std::uint64_t v4_nc = 0x4'0000'0000;
inline constexpr std::uint64_t alias = 0x8'0000'0000;
}  // namespace dflag

// What OTP 25 refuses to connect without (16#1070F94).
inline constexpr std::uint64_t mandatory_25 =
    dflag::extended_references | dflag::fun_tags | dflag::new_fun_tags | dflag::extended_pids_ports |
    dflag::export_ptr_tag | dflag::bit_binaries | dflag::new_floats | dflag::utf8_atoms | dflag::map_tag |
    dflag::big_creation | dflag::handshake_23;
static_assert(mandatory_25 == 0x1070F94);

// What an OTP 25 node advertises by default, without PUBLISHED (16#D07DF7FBC).
inline constexpr std::uint64_t otp25_default = 0xD'07DF'7FBC;

// What nodus advertises: handshake.md §4.2's set (mandatory 25, the OTP 26 mandatory UNLINK_ID and
// V4_NC, MANDATORY_25_DIGEST, monitors, SPAWN, ALIAS, ...) plus DIST_HDR_ATOM_CACHE and FRAGMENTS,
// which the packet codec implements, plus PUBLISHED when the connection is to be visible
// (handshake.md §7). Without PUBLISHED this is exactly OTP 25's default set.
constexpr std::uint64_t our_flags(bool published) noexcept {
    constexpr std::uint64_t base =
        mandatory_25 | dflag::unlink_id | dflag::v4_nc | dflag::mandatory_25_digest | dflag::dist_monitor |
        dflag::dist_monitor_name | dflag::spawn | dflag::alias | dflag::unicode_io | dflag::small_atom_tags |
        dflag::send_sender | dflag::big_seqtrace_labels | dflag::exit_payload | dflag::dist_hdr_atom_cache |
        dflag::fragments;
    return base | (published ? dflag::published : 0);
}
static_assert(our_flags(false) == otp25_default);
static_assert(our_flags(true) == 0xD'07DF'7FBD);

// A peer announcing MANDATORY_25_DIGEST supports the whole OTP 25 mandatory set; OTP expands the
// flag before checking or negotiating (dist_util:expand_mandatory_25_flag), and so do we.
constexpr std::uint64_t expand_mandatory_25(std::uint64_t flags) noexcept {
    return (flags & dflag::mandatory_25_digest) ? (flags | mandatory_25) : flags;
}

// The flags both sides use: ours AND the peer's (after expansion).
constexpr std::uint64_t negotiate(std::uint64_t ours, std::uint64_t theirs) noexcept {
    return ours & expand_mandatory_25(theirs);
}

// Bits of required that flags lacks (flags expanded first).
constexpr std::uint64_t missing_flags(std::uint64_t required, std::uint64_t flags) noexcept {
    return required & ~expand_mandatory_25(flags);
}

// OTP's name of one flag bit ("MAP_TAG"); "UNKNOWN<2000000000>" (hex) for bits OTP 25 does not
// name, as dist_util:dflag2str does.
std::string flag_name(std::uint64_t bit);
// The names of every set bit, from the highest bit down (the order OTP lists missing flags).
std::vector<std::string> flag_names(std::uint64_t flags);
// The set bits as OTP prints them in "cannot handle ..." log messages: ["MAP_TAG","UTF8_ATOMS"].
std::string describe_flags(std::uint64_t flags);

}  // namespace nodus::dist

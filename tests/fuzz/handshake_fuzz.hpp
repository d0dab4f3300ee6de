// Shared by the handshake fuzz targets and the unit test that keeps their seed corpora valid:
// fixed identities, cookie and challenges, so a checked-in byte stream from the peer drives a
// machine all the way to `up`.
//
// Fuzz input = the bytes the peer sends (2-byte framing), fed after a valid start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/dist/handshake.hpp"

namespace nodus::hs_fuzz {

inline constexpr std::uint32_t initiator_challenge = 0x11223344;
inline constexpr std::uint32_t acceptor_challenge = 0x55667788;
inline constexpr std::uint32_t initiator_creation = 0x6b01ad92;
inline constexpr std::uint32_t acceptor_creation = 0x6b01ad93;
inline constexpr const char* cookie = "FUZZCOOKIE";
inline constexpr const char* initiator_name = "fuzz_a@host";
inline constexpr const char* acceptor_name = "fuzz_b@host";

inline dist::handshake_config config(const char* name, std::uint32_t creation, std::uint32_t challenge) {
    dist::handshake_config c;
    c.name = atom(name);
    c.creation = creation;
    c.cookie_for = [](std::string_view) { return std::string(cookie); };
    c.challenge = [challenge] { return challenge; };
    // The acceptor's decision follows the peer's creation, so fuzzing reaches every status.
    c.status_for = [](const dist::peer_hello& h) { return static_cast<dist::accept_status>(h.creation % 5); };
    c.answer_alive = [](atom) { return true; };
    return c;
}

// An initiator dialling the acceptor, started (its 'N' is in the output queue).
inline dist::handshake make_initiator() {
    auto h = dist::handshake::initiator(config(initiator_name, initiator_creation, initiator_challenge),
                                        atom(acceptor_name));
    h.start();
    return h;
}

inline dist::handshake make_acceptor() {
    return dist::handshake::acceptor(config(acceptor_name, acceptor_creation, acceptor_challenge));
}

// Feeds data in chunks of the given size (0: all at once); answers an acceptor's wait for the old
// connection at once.
inline void drive(dist::handshake& h, byte_span data, std::size_t chunk) {
    if (chunk == 0) chunk = data.size() ? data.size() : 1;
    for (std::size_t off = 0; off < data.size(); off += chunk)
        h.feed(data.subspan(off, std::min(chunk, data.size() - off)));
    if (h.awaiting_old_connection()) h.old_connection_closed();
}

// Everything observable about a machine after a run, to compare runs with different chunking.
struct outcome {
    dist::handshake_state state{};
    int error = -1;
    std::vector<std::uint8_t> output;
    std::vector<std::uint8_t> leftover;
    std::uint64_t flags = 0;
    std::uint32_t peer_creation = 0;
    std::string peer;
    bool operator==(const outcome&) const = default;
};

inline outcome observe(dist::handshake& h) {
    outcome o;
    o.state = h.state();
    if (h.failure()) o.error = static_cast<int>(h.failure()->error);
    o.output = h.take_output();
    o.leftover = h.take_leftover();
    if (h.result()) {
        o.flags = h.result()->flags;
        o.peer_creation = h.result()->peer_creation;
        o.peer = h.result()->peer.str();
    }
    return o;
}

}  // namespace nodus::hs_fuzz

// Fuzzes the packet reader of a distribution connection. Input: one mode byte (bit 0:
// DIST_HDR_ATOM_CACHE, bit 1: FRAGMENTS; both off is pass-through), then packets, each a 2-byte
// big-endian length and that many bytes. Every packet must be accepted or refused with an error
// (then the reader is reset, as after a reconnect, and the rest is fed). Every complete message
// goes through decode_control, and through the packet writer into a second reader, which must
// give the same terms back.
#include <cstddef>
#include <cstdint>

#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/dist/packet.hpp"

namespace {

using namespace nodus;
using namespace nodus::dist;

void round_trip(std::uint64_t flags, const dist_message& m) {
    packet_writer writer(flags, 100);  // small fragments, so that the writer fragments too
    packet_reader reader(flags);
    auto out = writer.encode(m, 7);
    if (!out) __builtin_trap();
    std::optional<dist_message> back;
    for (const outgoing_packet& p : out->packets) {
        std::vector<std::uint8_t> bytes;
        p.append_to(bytes);
        bytes.erase(bytes.begin(), bytes.begin() + 4);
        auto r = reader.feed(bytes);
        if (!r || back) __builtin_trap();
        if (*r) back = std::move(**r);
    }
    if (!back || !(*back == m)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static bool init = [] {
        set_atom_limit(200000);  // the fuzzer must hit the atom limit, not memory
        return true;
    }();
    (void)init;
    if (size < 1) return 0;
    std::uint64_t flags = dflag::utf8_atoms;
    if (data[0] & 1) flags |= dflag::dist_hdr_atom_cache;
    if (data[0] & 2) flags |= dflag::fragments;
    packet_limits limits;
    limits.max_message_size = 1 << 20;
    limits.max_sequences = 8;
    limits.max_buffered_bytes = 4 << 20;
    etf::decode_options base;
    base.limits.max_inflated = 1 << 20;
    packet_reader reader(flags, limits, base);
    byte_reader in(byte_span(data + 1, size - 1));
    std::uint16_t len;
    byte_span packet;
    while (in.u16(len) && in.bytes(len, packet)) {
        auto r = reader.feed(packet);
        if (!r) {
            if (r.error().message.empty()) __builtin_trap();
            reader.reset();
            continue;
        }
        if (!*r) continue;
        const dist_message& m = **r;
        (void)decode_control(m);
        round_trip(flags, m);
    }
    return 0;
}

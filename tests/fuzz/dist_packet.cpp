// Fuzzes the packet reader of a distribution connection. Input: one mode byte (bit 0:
// DIST_HDR_ATOM_CACHE, bit 1: FRAGMENTS; both off is pass-through; bit 2: offer every packet to
// place_continuation first, with only its first bytes at hand, as a connection does with a big
// fragment), then packets, each a 2-byte big-endian length and that many bytes. Every packet
// must be accepted or refused with an error (then the reader is reset, as after a reconnect, and
// the rest is fed). Every complete message goes through decode_control, and through the packet
// writer into a second reader, which must give the same terms back; the writer's small-message
// path must write the same bytes as its general one. A third reader, with quick messages on, is
// fed the same packets: it must agree with the first, and its quick readings must name the
// destination and payload that decode_control finds in the full decoding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <variant>

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
    // The batch path: the same bytes, when it takes the message.
    packet_writer fresh(flags, 100), small_writer(flags, 100);
    small_encoding e;
    if (small_writer.encode_small(m.control, m.payload ? &*m.payload : nullptr, e)) {
        std::vector<std::uint8_t> batch;
        small_writer.append_sealed(e, batch);
        auto general = fresh.encode(m, 7);
        if (!general || general->packets.size() != 1 || general->to_bytes() != batch) __builtin_trap();
    }
}

// What feed() would give, through place_continuation when it takes the packet.
result<std::optional<dist_message>, packet_error> placed_or_fed(packet_reader& reader, byte_span packet) {
    std::size_t at_hand = std::min(packet.size(), packet_reader::continuation_head_size + packet.size() % 7);
    auto placed = reader.place_continuation(packet.first(at_hand), packet.size());
    if (!placed) return unexpected(std::move(placed).error());
    if (!*placed) return reader.feed(packet);
    std::span<std::uint8_t> dst = **placed;
    if (dst.size() != packet.size() - packet_reader::continuation_head_size) __builtin_trap();
    if (!dst.empty()) std::memcpy(dst.data(), packet.data() + packet_reader::continuation_head_size, dst.size());
    return reader.finish_placed();
}

 // The quick reading q of a packet against the full reading m of the same packet.
void check_quick(const dist_message& q, const dist_message& m) {
    if (q.quick.what == quick_message::kind::none) {
        if (!(q == m)) __builtin_trap();
        return;
    }
    auto c = decode_control(m);
    if (!c || !q.payload || !(q.payload == m.payload)) __builtin_trap();
    term dest;
    if (auto* s = std::get_if<dist::send>(&*c)) dest = s->to;
    else if (auto* ss = std::get_if<dist::send_sender>(&*c)) dest = ss->to;
    else if (auto* rs = std::get_if<dist::reg_send>(&*c)) dest = term(rs->to_name);
    else __builtin_trap();
    bool to_name = std::holds_alternative<dist::reg_send>(*c);
    if (to_name != (q.quick.what == quick_message::kind::to_name) || !(dest == q.quick.to)) __builtin_trap();
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
    packet_reader quick(flags, limits, base);
    quick.set_quick_messages(true);
    byte_reader in(byte_span(data + 1, size - 1));
    std::uint16_t len;
    byte_span packet;
    while (in.u16(len) && in.bytes(len, packet)) {
        auto r = (data[0] & 4) ? placed_or_fed(reader, packet) : reader.feed(packet);
        auto q = quick.feed(packet);
        if (r.has_value() != q.has_value()) __builtin_trap();
        if (!r) {
            if (r.error().message.empty()) __builtin_trap();
            // (Placement may word a refusal its own way; plain feeding must match exactly.)
            if (!(data[0] & 4) && r.error().message != q.error().message) __builtin_trap();
            reader.reset();
            quick.reset();
            continue;
        }
        if (r->has_value() != q->has_value()) __builtin_trap();
        if (!*r) continue;
        const dist_message& m = **r;
        check_quick(**q, m);
        (void)decode_control(m);
        round_trip(flags, m);
    }
    return 0;
}

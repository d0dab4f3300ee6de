// Fuzzes decode_control. Input: one byte of negotiated flags (bit 0: SEND_SENDER, bit 1:
// EXIT_PAYLOAD, bit 2: UNLINK_ID), then an external term (131 ...): {Control} for a packet
// without a second term, {Control, Payload} for one with it. A control message that decodes
// must encode (for those flags) to terms that decode again, to the same message unless the flags
// changed its form (SEND_SENDER -> SEND, UNLINK_ID -> UNLINK).
#include <cstddef>
#include <cstdint>
#include <variant>

#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/etf/etf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace nodus;
    using namespace nodus::dist;
    static bool init = [] {
        set_atom_limit(200000);
        return true;
    }();
    (void)init;
    if (size < 2) return 0;
    std::uint64_t flags = 0;
    if (data[0] & 1) flags |= dflag::send_sender;
    if (data[0] & 2) flags |= dflag::exit_payload;
    if (data[0] & 4) flags |= dflag::unlink_id;
    etf::decode_options opts;
    opts.limits.max_inflated = 1 << 20;
    auto t = etf::decode(byte_span(data + 1, size - 1), opts);
    if (!t || !t->is_tuple() || t->tuple_size() < 1 || t->tuple_size() > 2) return 0;
    const term& control = (*t)[0];
    const term* payload = t->tuple_size() == 2 ? &(*t)[1] : nullptr;
    auto m = decode_control(control, payload);
    if (!m) {
        if (m.error().message.empty()) __builtin_trap();
        return 0;
    }
    dist_message wire = encode_control(*m, flags);
    auto again = decode_control(wire);
    if (!again) __builtin_trap();
    bool changed_form = (std::holds_alternative<send_sender>(*m) && !(flags & dflag::send_sender)) ||
                        (std::holds_alternative<unlink_id>(*m) && !(flags & dflag::unlink_id));
    if (!changed_form && !(*again == *m)) __builtin_trap();
    // The encoded form is stable: encoding the decoded message again gives the same terms.
    if (!(encode_control(*again, flags) == wire)) __builtin_trap();
    return 0;
}

// Fuzzes the port mapper client's response decoders, what any port mapper (or anything listening
// on its port) reaches. Any input must decode or give an error, never crash; what decodes must
// encode to the same bytes (ALIVE2, PORT2, DUMP) or to an equivalent answer (NAMES).
#include <cstddef>
#include <cstdint>

#include "nodus/epmd/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace nodus;
    using namespace nodus::epmd;
    const byte_span in(data, size);
    auto same = [&](const bytes& b) { return b.size() == size && std::equal(b.begin(), b.end(), data); };

    if (auto r = decode_alive2_resp(in); r && !same(encode_alive2_resp(*r))) __builtin_trap();
    if (auto r = decode_port2_resp(in)) {
        // A refusal's result byte is kept as sent, a found node re-encodes exactly.
        if (!same(encode_port2_resp(*r))) __builtin_trap();
    }
    if (auto r = decode_names_resp(in)) {
        auto again = decode_names_resp(encode_names_resp(r->epmd_port, r->nodes));
        if (!again || !(*again == *r)) __builtin_trap();
    }
    if (auto r = decode_dump_resp(in)) {
        for (const auto& rec : r->records)
            if (auto e = parse_dump_record(rec)) {
                auto one = encode_dump_resp(0, std::span(&*e, 1));
                auto back = decode_dump_resp(one);
                if (!back || back->records.size() != 1 || !parse_dump_record(back->records[0]))
                    __builtin_trap();
            }
    }
    (void)decode_kill_resp(in);
    (void)decode_stop_resp(in);
    return 0;
}

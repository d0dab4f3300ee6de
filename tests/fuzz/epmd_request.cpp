// Fuzzes the port mapper's request parser, what any peer of our server reaches. Any input must
// give a request or an error, never a crash; the same whether it arrives at once, byte by byte or
// in chunks; and a decoded request must encode and decode back to itself.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "nodus/epmd/protocol.hpp"

namespace {

using namespace nodus;
using namespace nodus::epmd;

// Feeds data in chunks of `step` bytes; the outcome: a request, an error code, or nothing yet.
struct outcome {
    std::optional<request> req;
    std::optional<errc> err;
    bool operator==(const outcome&) const = default;
};

outcome feed_in_steps(byte_span data, std::size_t step) {
    request_parser p;
    outcome out;
    for (std::size_t i = 0; i < data.size(); i += step) {
        auto r = p.feed(data.subspan(i, std::min(step, data.size() - i)));
        if (!r) {
            out.err = r.error().code;
            return out;
        }
        if (*r) {
            out.req = std::move(**r);
            // Bytes after the request are an error, however they arrive.
            std::size_t next = std::min(i + step, data.size());
            if (next < data.size()) {
                auto more = p.feed(data.subspan(next));
                if (!more) {
                    out.req.reset();
                    out.err = more.error().code;
                }
            }
            return out;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const byte_span in(data, size);

    // A whole body.
    if (auto r = decode_request(in)) {
        auto wire = encode(*r);
        if (!wire) __builtin_trap();  // whatever decodes is valid to encode
        auto again = decode_request(byte_span(*wire).subspan(2));
        if (!again || !(*again == *r)) __builtin_trap();
    }

    // A framed stream, at once and in pieces.
    const outcome whole = feed_in_steps(in, size == 0 ? 1 : size);
    const std::size_t step = size == 0 ? 1 : data[0] % 7 + 1;
    if (!(feed_in_steps(in, 1) == whole)) __builtin_trap();
    if (!(feed_in_steps(in, step) == whole)) __builtin_trap();
    return 0;
}

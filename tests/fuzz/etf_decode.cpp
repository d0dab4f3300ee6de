// Fuzzes the ETF decoder: any input must either decode or return an error; a decoded term
// must re-encode and decode to an equal term.
#include <cstddef>
#include <cstdint>

#include "nodus/etf/etf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace nodus;
    static bool init = [] {
        set_atom_limit(200000);  // the fuzzer must hit the atom limit, not memory
        return true;
    }();
    (void)init;
    etf::decode_options opts;
    opts.limits.max_inflated = 1 << 20;
    auto t = etf::decode(byte_span(data, size), opts);
    if (!t) return 0;
    for (unsigned minor : {1u, 2u}) {
        etf::encode_options eo;
        eo.minor_version = minor;
        auto again = etf::decode(etf::encode(*t, eo), opts);
        if (!again || !(*again == *t)) __builtin_trap();
    }
    return 0;
}

// Fuzzes the acceptor: arbitrary bytes from an initiator. Must never crash, and feeding the same
// bytes whole or in chunks (size from the input) gives the same outcome. The peer's creation
// picks our status (ok, ok_simultaneous, nok, not_allowed, alive), so all paths are reachable.
#include <cstddef>
#include <cstdint>

#include "handshake_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace nodus;
    static bool init = [] {
        set_atom_limit(200000);  // a reached `up` interns the peer's name: hit the limit, not memory
        return true;
    }();
    (void)init;
    byte_span in(data, size);
    auto whole = hs_fuzz::make_acceptor();
    hs_fuzz::drive(whole, in, 0);
    auto split = hs_fuzz::make_acceptor();
    hs_fuzz::drive(split, in, size ? 1 + data[size - 1] % 7 : 1);
    if (!(hs_fuzz::observe(whole) == hs_fuzz::observe(split))) __builtin_trap();
    return 0;
}

// Shared by the behaviours unit tests: a deterministic runtime (NODUS_SEED, NODUS_THREADED vary
// it), and a scenario run as a process.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ostream>
#include <stdexcept>

#include "nodus/node/net.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"

namespace nodus {
// gtest prints terms as Erlang text.
inline void PrintTo(const term& t, std::ostream* os) {
    *os << format_w(t);
}
}  // namespace nodus

namespace nodus::behaviours_test {

// NODUS_SEED=<n> shuffles the order in which runnable processes run (reproducibly).
inline runtime_options det() {
    runtime_options o;
    o.deterministic = true;
    if (const char* s = std::getenv("NODUS_SEED")) o.seed = std::strtoull(s, nullptr, 10);
    // NODUS_THREADED=1: the same scenarios on the multi-threaded scheduler, in real time.
    if (std::getenv("NODUS_THREADED")) {
        o.deterministic = false;
        o.threads = 2;
    }
    return o;
}

inline atom erlang_node() {
    return erlang::node();
}

// Runs body (a callable returning task<term>) in a new process; returns its result, or the
// process's exit reason wrapped as {died, Reason}.
template <class F>
term run_in(runtime& rt, F body, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    scoped_process me(rt);
    pid back = me.self();
    pid p = rt.spawn([back, body]() -> task<> {
        term r = co_await body();
        send(back, tuple(atom("result"), r));
    });
    me.monitor(p);
    auto r = me.receive(timeout);
    if (!r) throw std::runtime_error("scenario did not answer");
    if (r->is_tuple(2) && (*r)[0].is_atom(atom("result"))) return (*r)[1];
    return tuple(atom("died"), r->is_tuple(5) ? (*r)[4] : *r);
}

}  // namespace nodus::behaviours_test

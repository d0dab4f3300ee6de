// Text an output sink (an I/O server's, nodus/services/io.hpp) was given, collected thread-safely
// for tests to compare.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "nodus/services/io.hpp"

namespace nodus::test {

struct captured_output {
    std::mutex mutex;
    std::string text;
    io::output_sink sink() {
        return [this](std::string_view t) {
            std::lock_guard l(mutex);
            text += t;
        };
    }
    // What arrived so far.
    std::string get() {
        std::lock_guard l(mutex);
        return text;
    }
    // What arrived so far, forgotten.
    std::string take() {
        std::lock_guard l(mutex);
        return std::exchange(text, {});
    }
};

}  // namespace nodus::test

// The standard functions every nodus node exports (services::register_default_exports), for
// the rest of the library to reuse: the evaluator's BIF table points at the synchronous ones
// (private to the library).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "nodus/runtime/task.hpp"
#include "nodus/term/term.hpp"

namespace nodus::services::standard {

using args_t = std::span<const term>;

// erlang:*, synchronous (they raise error(badarg) as the BIFs do).
term node0(args_t);
term node1(args_t);
term registered0(args_t);
term whereis1(args_t);
term is_process_alive1(args_t);
term system_time0(args_t);
term system_time1(args_t);
term monotonic_time0(args_t);
term monotonic_time1(args_t);
term timestamp0(args_t);
// io_lib:format/2 (and fwrite/2).
term io_lib_format2(args_t);
// erlang:convert_time_unit's units: nanoseconds scaled to Unit (native, nanosecond, ...,
// second, or parts per second); badarg for anything else.
term time_unit_scale(const term& unit, std::int64_t ns);

}  // namespace nodus::services::standard

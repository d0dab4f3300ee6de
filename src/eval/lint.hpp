// Internal: the shell's checks of a command before it runs (see lint.cpp).
#pragma once

#include <optional>
#include <string>

#include "nodus/eval/eval.hpp"

namespace nodus::eval::detail {

struct lint_error {
    term anno;
    std::string message;
};

// The first problem erl_lint would report for one top-level expression of a shell command,
// given the bindings it runs with; nullopt when it may run.
std::optional<lint_error> lint_command(const term& expr, const bindings& bs);

}  // namespace nodus::eval::detail

// Subcommands of the nodus tool. Each registers itself on the CLI11 app and returns the
// process exit status through the callback it installs.
#pragma once

#include <CLI/CLI.hpp>
#include <span>

#include "erl_flags.hpp"

namespace nodus::tools {

// `nodus term encode` / `nodus term decode`.
void add_term_commands(CLI::App& app, int& exit_status);

// `nodus epmd`: the port mapper, with OTP epmd's flags. Its erl-style flag table is for
// erl_style_argv (main).
void add_epmd_commands(CLI::App& app, int& exit_status);
std::span<const erl_flag> epmd_erl_flags();

}  // namespace nodus::tools

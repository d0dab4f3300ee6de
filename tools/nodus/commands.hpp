// Subcommands of the nodus tool. Each registers itself on the CLI11 app and returns the
// process exit status through the callback it installs.
#pragma once

#include <CLI/CLI.hpp>

namespace nodus::tools {

// `nodus term encode` / `nodus term decode`.
void add_term_commands(CLI::App& app, int& exit_status);

}  // namespace nodus::tools

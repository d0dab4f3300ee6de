// Flags as erl and epmd users type them: one dash and a long name (`-port 4370`, `-sname a`).
// CLI11 reads `-port` as a group of short flags, so a pre-pass rewrites the flags a subcommand
// declares to CLI11's `--port` spelling before parsing. Only declared flags are touched: a
// misspelled `-prot` stays as typed and CLI11 reports it by name. The double-dash spelling
// (`--port`) works as well.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nodus::tools {

struct erl_flag {
    std::string_view name;   // without dashes: "port", "relaxed_command_check"
    std::size_t values = 0;  // arguments that follow it, passed through untouched
};

// A subcommand (argv[1]) whose arguments take erl-style flags.
struct erl_style_command {
    std::string_view name;
    std::span<const erl_flag> flags;
};

// Rewrites `-name` to `--name` for every declared flag in args, skipping the values that follow
// a flag (so `-stop -port` stops a node named `-port`). Nothing after "--" is touched.
std::vector<std::string> translate_erl_flags(std::vector<std::string> args, std::span<const erl_flag> flags);

// The program's arguments with those after a listed subcommand translated, as an argc/argv pair
// for CLI::App::parse. Other subcommands' arguments are left as typed.
class erl_style_argv {
public:
    erl_style_argv(int argc, char** argv, std::span<const erl_style_command> commands);
    int argc() const noexcept { return static_cast<int>(args_.size()); }
    char** argv() noexcept { return pointers_.data(); }

private:
    std::vector<std::string> args_;
    std::vector<char*> pointers_;
};

}  // namespace nodus::tools

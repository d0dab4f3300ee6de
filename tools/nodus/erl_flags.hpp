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

#include "nodus/node/node.hpp"

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

// ---- node flags of `nodus eval`, `nodus shell` and `nodus node` ----

namespace nodus::tools {

// The flags that say how to start a node, in both spellings users copy from erl and iex:
//   -sname N | --sname N          short name (a node starts; without -sname/-name none does)
//   -name N | --name N            long name
//   -setcookie C | --cookie C     the cookie (also --setcookie)
//   -hidden | --hidden            a hidden node
//   -kernel Par Val [Par Val...]  kernel parameters: inet_dist_listen_min, inet_dist_listen_max,
//                                 inet_dist_use_interface ({127,0,0,1}), net_ticktime,
//                                 net_setuptime, connect_all, dist_auto_connect (never)
//   --erl 'Flags'                 iex's way to pass erl flags (parsed as above)
//   -connect_all false            no transitive mesh
//   -epmd_port P                  the port mapper's port
//   -erl_epmd_port P              no port mapper: listen on P, reach every peer on P
//   -proto_dist inet_tcp|inet_tls TLS distribution (inet_tls) needs -ssl_dist_optfile
//   -ssl_dist_optfile F           erl's TLS option file ([{server, [...]}, {client, [...]}])
//   -noshell, -noinput            accepted and ignored (erl compatibility)
//   +sbwt none|very_short|short|medium|long|very_long
//                                 how long an idle worker polls its sockets before it sleeps
//                                 (0, 10, 30, 100 (default), 300, 1000 us)
// A single or a double dash works for each. Anything else is left in `rest` for the subcommand.
struct node_args {
    bool distributed = false;  // -sname or -name was given
    bool tls = false;          // -proto_dist inet_tls
    node_config config;
    std::vector<std::string> rest;  // other arguments, in order
    std::string error;              // non-empty: what is wrong, naming the flag
};

node_args parse_node_args(std::span<const std::string> args);

// The usage text of the node flags (for --help).
std::string_view node_flags_help();

}  // namespace nodus::tools

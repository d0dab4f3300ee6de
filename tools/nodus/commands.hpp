// Subcommands of the nodus tool. Each registers itself on the CLI11 app and returns the
// process exit status through the callback it installs.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string_view>
#include <span>
#include <string>
#include <vector>

#include "erl_flags.hpp"
#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::tools {

// `nodus term encode` / `nodus term decode`.
void add_term_commands(CLI::App& app, int& exit_status);

// `nodus epmd`: the port mapper, with OTP epmd's flags. Its erl-style flag table is for
// erl_style_argv (main).
void add_epmd_commands(CLI::App& app, int& exit_status);
std::span<const erl_flag> epmd_erl_flags();

// `nodus eval`, `nodus shell`, `nodus node` take erl's and iex's node flags (erl_flags.hpp),
// which CLI11 cannot express (`-kernel P V P V`, `--erl '...'`): main hands them their
// arguments (after the subcommand name) directly. Each returns the exit status:
// 0 ok, 1 an evaluation error, 2 a usage error (the message names the flag), 3 the node could
// not start.
int eval_main(std::span<const std::string> args);
int shell_main(std::span<const std::string> args);
int node_main(std::span<const std::string> args);
// Lists them in `nodus --help` (their parsing is the functions above).
void add_node_command_stubs(CLI::App& app);

// halt/0,1, init:stop/0,1 and q() in the expression language: the command ends with status
// at the next chance (after the current expression; `nodus node` within a fraction of a second).
void request_halt(int status);
std::optional<int> halt_requested();

// The value of an expression as the shell prints it (~tp, pids of this node as <0.N.M>).
std::string value_text(const term& value, atom local_node);
// A multi-line report (an exception with its stack lines) on one line.
std::string one_line(std::string_view text);

inline constexpr int exit_eval_error = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_node_failed = 3;

// The node (or, without -sname/-name, a plain runtime) a subcommand runs on, with the
// functions of the expression language exported (erlang, lists, maps, io, timer, net_adm,
// net_kernel, rpc, erpc, gen_server, pg, global). Logs go to stderr.
class node_host {
public:
    // nullptr and *error set when the node cannot start.
    static std::unique_ptr<node_host> start(const node_args& args, std::string* error);
    ~node_host();
    runtime& rt() noexcept;
    node* distributed() noexcept { return node_.get(); }

private:
    node_host() = default;
    std::unique_ptr<node> node_;
    std::unique_ptr<runtime> rt_;
};

}  // namespace nodus::tools

// nodus: the command-line front end. Thin: parses flags and calls the library.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.hpp"

int main(int argc, char** argv) {
    // eval, shell and node take erl's and iex's node flags, parsed by erl_flags (CLI11 cannot
    // express `-kernel P V P V` or `--erl '...'`).
    if (argc >= 2) {
        std::vector<std::string> rest(argv + 2, argv + argc);
        if (std::strcmp(argv[1], "eval") == 0) return nodus::tools::eval_main(rest);
        if (std::strcmp(argv[1], "shell") == 0) return nodus::tools::shell_main(rest);
        if (std::strcmp(argv[1], "node") == 0) return nodus::tools::node_main(rest);
    }
    CLI::App app{"nodus: Erlang/Elixir distribution in C++"};
    app.require_subcommand(1);
    int status = 0;
    nodus::tools::add_term_commands(app, status);
    nodus::tools::add_epmd_commands(app, status);
    nodus::tools::add_node_command_stubs(app);
    // Subcommands whose flags users type as erl and epmd take them (`-port 4370`).
    const nodus::tools::erl_style_command erl_style[] = {{"epmd", nodus::tools::epmd_erl_flags()}};
    nodus::tools::erl_style_argv args(argc, argv, erl_style);
    try {
        app.parse(args.argc(), args.argv());
    } catch (const CLI::ParseError& e) {
        // CLI11 prints the message (naming a wrong flag); any usage error exits 1, as epmd's does.
        return app.exit(e) == 0 ? 0 : 1;
    }
    return status;
}

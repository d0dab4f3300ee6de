// nodus: the command-line front end. Thin: parses flags and calls the library.
#include <cstdio>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"nodus: Erlang/Elixir distribution in C++"};
    app.require_subcommand(1);
    int status = 0;
    nodus::tools::add_term_commands(app, status);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return status;
}

// nodus term encode | decode: Erlang text <-> external term format, as term_to_binary and
// binary_to_term do.
#include <fmt/core.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/term/text.hpp"

namespace nodus::tools {

namespace {

std::string read_all_stdin() {
    std::string data{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    return data;
}

int run_encode(int minor_version, int compression) {
    std::string text = read_all_stdin();
    auto t = parse_term(text);
    if (!t) {
        fmt::print(stderr, "nodus term encode: syntax error at {}\n", t.error().describe());
        return 1;
    }
    etf::encode_options opts;
    opts.minor_version = static_cast<unsigned>(minor_version);
    opts.compression = compression;
    auto bytes = etf::encode(*t, opts);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

int run_decode(const std::string& format) {
    std::string data = read_all_stdin();
    auto t = etf::decode(as_bytes(data));
    if (!t) {
        fmt::print(stderr, "nodus term decode: {}\n", t.error().message());
        return 1;
    }
    print_options po;
    po.style = format == "w" ? print_style::w : print_style::p;
    fmt::print("{}\n", to_text(*t, po));
    return 0;
}

}  // namespace

void add_term_commands(CLI::App& app, int& exit_status) {
    auto* term_cmd = app.add_subcommand("term", "Convert between Erlang text syntax and the external term format");
    term_cmd->require_subcommand(1);

    auto* enc = term_cmd->add_subcommand("encode", "Read one term in Erlang syntax on stdin, write its ETF bytes");
    static int minor_version = 1;
    static int compression = -1;
    enc->add_option("--minor-version", minor_version, "0, 1 (term_to_binary/1 default) or 2 (UTF-8 atoms)")
        ->check(CLI::Range(0, 2));
    enc->add_flag("--compressed{6}", compression,
                  "Compress with zlib (level 6, or --compressed=L), as term_to_binary(T, [compressed])")
        ->check(CLI::Range(0, 9));
    enc->callback([&exit_status] { exit_status = run_encode(minor_version, compression); });

    auto* dec = term_cmd->add_subcommand("decode", "Read ETF bytes on stdin, print the term");
    static std::string format = "p";
    dec->add_option("--format", format, "w (like ~tw) or p (like ~tp, the default)")
        ->check(CLI::IsMember({"w", "p"}));
    dec->callback([&exit_status] { exit_status = run_decode(format); });
}

}  // namespace nodus::tools

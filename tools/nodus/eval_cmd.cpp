// `nodus eval [node flags] -e 'Exprs.'`: starts the node (none without -sname/-name),
// evaluates the expressions as the shell would (one command after another: "X = 1. X + 1."),
// prints the value of the last one as ~tp on the last line of stdout, stops the node.
// io:format output goes to stdout as it happens; logs go to stderr. An error (syntax, an
// unbound variable, an exception) is one line on stderr — the shell's "** exception error: ..."
// text — and exit status 1.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "nodus/eval/session.hpp"
#include "nodus/io/format.hpp"
#include "nodus/term/text.hpp"

namespace nodus::tools {

std::string value_text(const term& value, atom local_node) {
    io_lib::format_options o;
    o.local_node = local_node;
    term args = list({value});
    auto r = io_lib::format(string("~tp"), args, o);
    if (r) return std::move(*r);
    return to_text(value, {print_style::p, local_node});
}

std::string one_line(std::string_view text) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

namespace {

bool blank(std::string_view s) {
    // White space and % comments only.
    bool comment = false;
    for (char c : s) {
        if (comment) {
            if (c == '\n') comment = false;
            continue;
        }
        if (c == '%') {
            comment = true;
            continue;
        }
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
    }
    return true;
}

void write_out(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

int usage(std::ostream& os) {
    os << "Usage: nodus eval [node flags] -e 'Exprs.' [-e 'More.' ...]\n"
          "Evaluates Erlang expressions (on a node when -sname/-name is given) and prints the\n"
          "value of the last one. A final dot may be left out.\n\n"
       << node_flags_help();
    return exit_usage;
}

int run(runtime& rt, std::string text) {
    eval::session_options so;
    so.output = write_out;
    so.register_exports = false;
    eval::session sh(rt, so);
    std::optional<term> last;
    while (!blank(text)) {
        auto p = sh.parse(text);
        if (p.status == eval::parse_status::incomplete) {
            // A last expression without its dot: erl -eval takes it too.
            text += "\n.";
            p = sh.parse(text);
            if (p.status == eval::parse_status::incomplete) {
                std::cerr << "* incomplete expression (an unterminated string, atom or block?)\n";
                return exit_eval_error;
            }
        }
        if (p.status == eval::parse_status::error) {
            std::cerr << eval::session::format_error(p.error) << "\n";
            return exit_eval_error;
        }
        text.erase(0, p.consumed);
        text.erase(0, std::min(text.size(), text.find_first_not_of(" \t\r\n")));
        eval::outcome o = sh.evaluate_blocking(p.exprs);
        if (!o.ok()) {
            std::cerr << one_line(o.text) << "\n";
            return exit_eval_error;
        }
        last = o.value;
        if (halt_requested()) break;
    }
    // halt() ends it as erl -eval 'halt().' does: without printing a value.
    if (last && !halt_requested()) write_out(value_text(*last, rt.node()) + "\n");
    return halt_requested().value_or(0);
}

}  // namespace

int eval_main(std::span<const std::string> args) {
    node_args na = parse_node_args(args);
    std::string text;
    bool any = false;
    for (std::size_t i = 0; i < na.rest.size() && na.error.empty(); ++i) {
        const std::string& a = na.rest[i];
        if (a == "-h" || a == "--help") {
            usage(std::cout);
            return 0;
        }
        if (a == "-e" || a == "--eval" || a == "-eval") {
            if (i + 1 >= na.rest.size()) {
                na.error = a + " needs expressions ('Exprs.')";
                break;
            }
            text += na.rest[++i];
            text += "\n";
            any = true;
        } else if (a.starts_with("-")) {
            na.error = "unknown flag: " + a;
        } else {
            na.error = "unexpected argument: " + a + " (expressions follow -e)";
        }
    }
    if (na.error.empty() && !any) na.error = "no expressions: nodus eval -e 'Exprs.'";
    if (!na.error.empty()) {
        std::cerr << "nodus eval: " << na.error << "\n";
        return usage(std::cerr);
    }
    std::string error;
    auto host = node_host::start(na, &error);
    if (!host) {
        std::cerr << "nodus eval: cannot start the node: " << error << "\n";
        return exit_node_failed;
    }
    return run(host->rt(), std::move(text));
}

}  // namespace nodus::tools

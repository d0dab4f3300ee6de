// A shell session: what `nodus shell` / `nodus eval` drive, with the Erlang shell's behaviour.
//
//     eval::session sh(rt, {.output = [](std::string_view s) { std::cout << s << std::flush; }});
//     std::string buffer;
//     for (;;) {
//         std::cout << sh.command_number() << "> ";
//         buffer += read_line();
//         auto p = sh.parse(buffer);
//         if (p.status == eval::parse_status::incomplete) continue;   // read more lines
//         buffer.erase(0, p.consumed);                                 // "1. 2." evaluates both
//         if (p.status == eval::parse_status::error) {
//             std::cout << sh.format_error(p.error) << "\n";
//             continue;
//         }
//         auto o = sh.evaluate_blocking(p.exprs);   // or co_await sh.evaluate(...) in a process
//         std::cout << (o.ok() ? eval::pretty_text(o.value, 1, rt.node()) : o.text) << "\n";
//     }
//
// tools/nodus/shell_cmd.cpp is the full version (libedit on a terminal, piped input otherwise).
//
// As in erl, expressions run in an evaluator process of the session (self() is it; receive and
// flush() read its mailbox), separate from the caller: an exception, or an exit signal that
// kills the evaluator (exit(self(), kill), a crashing linked process), is reported and the
// session goes on with a new evaluator and the bindings as they were before the command.
// Bindings persist between commands; f() forgets them all, f(X) one; b() lists them. Each
// top-level expression is checked first as erl_lint checks shell commands ("* 1:1: variable
// 'X' is unbound", "illegal guard expression", "illegal pattern"). Output of io:format,
// flush() ("Shell got ..."), b() and help() goes to the output sink as it happens, through the
// session's group leader; so does the report of an evaluator that dies while no command runs.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "nodus/eval/eval.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/eval/parse.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::eval {

struct session_options {
    // Where output goes (io:format of the evaluator and of processes it spawns, flush(), b(),
    // help(), reports of evaluator deaths between commands). Default: standard output.
    output_sink output{};
    // How terms are written inside exception reports and b() (default: pretty_text, as erl).
    term_formatter format_term{};
    // Register the standard and net exports in the runtime's export table if erlang:self/0 is
    // not there yet (the session needs them; a caller that manages the table sets this false).
    bool register_exports = true;
};

struct outcome {
    enum class kind : std::uint8_t {
        value,      // value holds the result (the caller prints it as ~p)
        exception,  // cls/reason/stacktrace; text is the shell's "** exception ..." report
        rejected,   // the command did not pass the shell's checks; text is "* 1:1: ..."
    };
    kind what = kind::value;
    term value;
    exception_class cls = exception_class::error;
    term reason;
    term stacktrace;
    std::string text;
    bool ok() const noexcept { return what == kind::value; }
};

class session {
public:
    explicit session(runtime& rt, session_options opts = {});
    // Stops the evaluator and the session's other processes (by their pids).
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Parses input up to the first dot (incomplete input: read more). Annotations are
    // {Line, Column} like the shell's.
    parse_result parse(std::string_view text) const;
    // The text erl's shell prints for a syntax error: "* 1:5: syntax error before: '.'".
    static std::string format_error(const syntax_error& e);

    // Evaluates a command (parse_result::exprs) in the session's evaluator. Call from inside a
    // process of the session's runtime (the reply comes to that process's mailbox).
    task<outcome> evaluate(term exprs);
    // The same from an ordinary thread, which blocks until the command is done. (It takes part
    // as a process while it waits; in deterministic mode it runs the scheduler.)
    outcome evaluate_blocking(term exprs);

    // The number the next prompt shows ("N> "): 1, then one more per evaluated command
    // (including those that raised or were rejected; not for syntax errors).
    std::size_t command_number() const;
    // A copy of the current bindings.
    bindings current_bindings() const;
    // The current evaluator process, if one runs (it is replaced after an exception).
    std::optional<pid> evaluator() const;
    // The group leader the evaluator writes through.
    pid output_leader() const;

    struct state;

private:
    runtime& rt_;
    std::shared_ptr<state> st_;
    std::unique_ptr<scoped_process> caller_;  // for evaluate_blocking
};

// The shell's text of a lint error: "* 1:1: variable 'X' is unbound".
std::string format_lint_error(const term& anno, std::string_view message);

// erl_pp's text of an abstract expression (used by b() for funs), on one line.
std::string expr_to_text(const term& expr);

}  // namespace nodus::eval

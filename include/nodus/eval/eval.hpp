// The evaluator of Erlang's abstract format (what eval::parse_exprs produces, what
// erl_parse:parse_exprs/1 returns), with erl_eval's semantics, inside a nodus process:
//
//     eval::bindings bs;
//     auto r = eval::parse_exprs("P = spawn(fun() -> receive {F, X} -> F ! X end end), "
//                                "P ! {self(), hi}, receive Y -> Y end.");
//     term v = co_await eval::eval_exprs(r.exprs, bs);   // hi; bs now holds P and Y
//
// Evaluation runs in the calling process: `receive` is a selective receive of that process,
// `timer:sleep/1` suspends it, `self()` is it. Errors are Erlang exceptions thrown as the C++
// classes of nodus/runtime/errors.hpp (error_exception, exit_exception, throw_exception) with
// erl_eval's reasons (badmatch, case_clause, function_clause, if_clause, badarith, badarg,
// undef, {badfun, F}, {badarity, {F, Args}}, ...) and a stack trace (stacktrace_of()), so a
// shell fun crashing in a spawned process ends it with Erlang's exit reason shape.
//
// Funs are terms: `fun(X) -> ... end` evaluates to a local fun exactly like erl_eval's (module
// erl_eval, OTP 25's index and uniq for its arity, one free variable {Anno, Bindings, none, none,
// #{}, Clauses} or, for a named fun, {..., Name}). It can be stored, sent in messages, spawned
// and applied by any process of the node, prints as #Fun<erl_eval.42.3316493> like erl's, and
// funs made by erl_eval on an OTP 25 node (received in a message) can be applied here too.
//
// Calls: local calls go to the erl_internal auto-imported BIFs, then to eval_options::local
// (the shell's commands); M:F(Args) goes to the runtime's export table (nodus/runtime/
// exports.hpp), where eval/exports.hpp registers erlang, lists, maps, io, timer, net_adm, ...
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/runtime/task.hpp"
#include "nodus/term/term.hpp"

namespace nodus::eval {

// Variable bindings (erl_eval's binding structure).
class bindings {
public:
    bindings() = default;

    const term* find(atom name) const noexcept;
    // Binds or rebinds name.
    void set(atom name, term value);
    bool erase(atom name) noexcept;
    void clear() noexcept { vars_.clear(); }
    std::size_t size() const noexcept { return vars_.size(); }
    bool empty() const noexcept { return vars_.empty(); }

    // Sorted by name, as erl_eval:bindings/1 returns them.
    std::vector<std::pair<atom, term>> sorted() const;
    // The orddict [{Name, Value}] (sorted by name), as erl_eval keeps in a fun.
    term to_term() const;
    // From such an orddict (or any proper list of {atom(), term()}); other elements are skipped.
    static bindings from_term(const term& list);

    // ---- for the evaluator: bindings made since a mark can be undone ----
    std::size_t mark() const noexcept { return vars_.size(); }
    void undo(std::size_t mark) noexcept { vars_.resize(mark); }
    const std::vector<std::pair<atom, term>>& raw() const noexcept { return vars_; }

private:
    // New variables are appended (so a failed match undoes by truncation); set() of a bound name
    // replaces in place.
    std::vector<std::pair<atom, term>> vars_;
};

// The shell's own functions, called for a local call f(...) that is not an auto-imported BIF:
// erl_eval's {eval, Fun} handler. It gets the arguments unevaluated (f(X) forgets X, it does not
// read it) and the bindings it may change; it returns nullopt for a function it does not have
// (the evaluator then raises erl's "undefined shell command" error).
using local_handler = std::function<task<std::optional<term>>(atom name, term args, bindings* bs)>;

struct eval_options {
    local_handler local{};
};

// Evaluates expressions in sequence (a list of abstract expressions) in the current process;
// bs gains the bindings they make. Returns the value of the last one.
task<term> eval_exprs(term exprs, bindings& bs, const eval_options& opts = {});
// Evaluates one abstract expression.
task<term> eval_expr(term expr, bindings& bs, const eval_options& opts = {});

// Applies a fun (an interpreted fun, or an export fun `fun M:F/A`) to arguments, as
// erlang:apply/2 does: {badfun, F} for a non-fun, {badarity, {F, Args}} for the wrong count.
task<term> apply(term fun, std::vector<term> args);
// M:F(Args...) through the export table of the current runtime, and the auto-imported BIFs of
// module erlang: undef when it has no such function.
task<term> apply(atom module, atom function, std::vector<term> args);

// Whether t is a fun made by an evaluator (erl_eval's), as opposed to other local funs.
bool is_interpreted_fun(const term& t) noexcept;

// spawn(Fun) / spawn_link(Fun) of a fun of arity 0 on this node. A fun that raises ends the
// process with Erlang's reason: {Reason, Stack} for an error, {{nocatch, V}, Stack} for a throw.
pid spawn_fun(const term& fun, bool link = false);

// ---- exceptions ----

// An Erlang exception with its stack trace, as the evaluator throws it. Catch it as the
// exception classes of nodus/runtime/errors.hpp; stacktrace_of() reads the stack.
[[noreturn]] void raise(exception_class c, term reason, term stacktrace = term());
// The stack trace of an exception: [{Module, Function, ArityOrArgs, Location}], innermost first;
// [] when the exception carries none (thrown by other C++ code).
term stacktrace_of(const erlang_exception& e);
// The class as an atom: error, exit, throw.
atom class_atom(exception_class c) noexcept;

// How a term is written into exception text; `column` is where it starts (1-based) so a
// pretty printer can indent continuation lines. Default: pretty_text.
using term_formatter = std::function<std::string(const term& t, std::size_t column)>;

// The shell's report of an exception, exactly as erl's shell prints it after "** " (it is
// erl_error:format_exception/7 as shell:report_exception/4 calls it): "exception error: bad
// argument", "exception exit: killed", "exception error: no match of right hand side value 2",
// then "     in function  hd/1" / "        called as hd([])" / "        *** argument 1: not a
// nonempty list" lines for the frames outside the evaluator. No trailing newline.
// ~tp laid out as io_lib_pretty:print(T, [{column, Column}, {line_length, 80}]) does (what
// erl's shell uses for results and exception reports); pids of local_node print as <0.N.M>.
std::string pretty_text(const term& t, std::size_t column, atom local_node = atoms::nonode_nohost);

std::string format_exception(exception_class c, const term& reason, const term& stacktrace,
                             const term_formatter& format = {});
// As format_exception, with the "** " tag in front: the line the shell prints.
std::string format_shell_exception(exception_class c, const term& reason, const term& stacktrace,
                                   const term_formatter& format = {});

}  // namespace nodus::eval

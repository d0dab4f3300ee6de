// The shell session: an evaluator process per session (replaced after an exception, like
// erl's), a watcher that reports the evaluator's death between commands, and an output group
// leader that hands text to the caller's sink.
//
// The command and its result travel through the shared state, not through messages: the
// caller writes the command, sends {'$nodus_eval', From, Ref} and waits for
// {'$nodus_eval_done', Ref} (or for the evaluator's 'DOWN'); only the evaluator touches the
// state while `busy`, and only under the mutex.
#include "nodus/eval/session.hpp"

#include <mutex>

#include "eval_impl.hpp"
#include "lint.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval {

using namespace nodus::literals;

struct session::state {
    runtime* rt = nullptr;
    session_options opts;
    mutable std::mutex mutex;
    bindings bs;
    std::size_t command = 1;
    pid evaluator;
    pid watcher;
    pid leader;
    bool busy = false;
    bool closing = false;
    term pending;    // the command being evaluated
    outcome result;  // its outcome, written by the evaluator
};

namespace {

using state = session::state;

atom a_request() {
    static const atom a("$nodus_eval");
    return a;
}
atom a_done() {
    static const atom a("$nodus_eval_done");
    return a;
}

std::string format_term(const state& st, const term& t, std::size_t column) {
    if (st.opts.format_term) return st.opts.format_term(t, column);
    return to_text(t, {print_style::p, atoms::nonode_nohost, {}, true});
}

outcome exception_outcome(const state& st, exception_class c, term reason, term stack) {
    outcome o;
    o.what = outcome::kind::exception;
    o.cls = c;
    o.reason = std::move(reason);
    o.stacktrace = std::move(stack);
    o.text = format_shell_exception(o.cls, o.reason, o.stacktrace, st.opts.format_term);
    return o;
}

// The outcome of an evaluator that died with `reason` while running a command (erl's shell
// reports it as exit with {Reason, Stack} split when the reason is a pair).
outcome death_outcome(const state& st, const term& reason) {
    if (reason.is_tuple(2)) return exception_outcome(st, exception_class::exit, reason[0], reason[1]);
    return exception_outcome(st, exception_class::exit, reason, term());
}

task<> put_text(std::string text) {
    std::vector<term> args;
    args.push_back(binary(text));
    co_await eval::apply("io"_a, "put_chars"_a, std::move(args));
}

// b(): the bindings, one per line, funs as their source (shell:list_bindings/2).
task<> list_bindings(std::shared_ptr<state> st, bindings* bs) {
    std::string out;
    for (auto& [name, value] : bs->sorted()) {
        std::string line(name.name());
        line += " = ";
        if (auto parts = detail::interpreted_fun_parts(value)) {
            term fun = parts->name ? tuple("named_fun"_a, 0, *parts->name, parts->clauses)
                                   : tuple("fun"_a, 0, tuple("clauses"_a, parts->clauses));
            line += expr_to_text(fun);
        } else {
            line += format_term(*st, value, line.size() + 1);
        }
        out += line + "\n";
    }
    if (!out.empty()) co_await put_text(std::move(out));
}

// The shell's own commands (erl's shell:local_func/7 for the ones that need the bindings).
task<std::optional<term>> shell_local(std::shared_ptr<state> st, atom name, term args, bindings* bs) {
    auto arity = args.list_length().value_or(0);
    if (name == "f"_a && arity == 0) {
        bs->clear();
        co_return term(atoms::ok);
    }
    if (name == "f"_a && arity == 1) {
        const term& v = args.head();
        if (v.is_tuple(3) && v[0].is_atom("var"_a) && v[2].is_atom()) {
            bs->erase(v[2].as_atom());
            co_return term(atoms::ok);
        }
        raise(exception_class::error, "function_clause"_a, list({tuple("shell"_a, "f"_a, 1, term())}));
    }
    if (name == "rp"_a && arity == 1) {
        // rp(Term): the term printed in full, then ok (c:rp/1 as the shell has it).
        term v = co_await eval_expr(args.head(), *bs);
        co_await put_text(format_term(*st, v, 1) + "\n");
        co_return term(atoms::ok);
    }
    if (name == "b"_a && arity == 0) {
        co_await list_bindings(st, bs);
        co_return term(atoms::ok);
    }
    co_return std::nullopt;
}

// Evaluates each top-level expression after the shell's checks. Returns the outcome; bs holds
// the new bindings when it is a value.
task<outcome> run_command(std::shared_ptr<state> st, term exprs, bindings* bs) {
    eval_options opts;
    opts.local = [st](atom n, term a, bindings* b) { return shell_local(st, n, std::move(a), b); };
    outcome o;
    std::optional<std::tuple<exception_class, term, term>> failure;
    try {
        term v;
        for (const term* l = &exprs; l->is_cons(); l = &l->tail()) {
            if (auto err = detail::lint_command(l->head(), *bs)) {
                o.what = outcome::kind::rejected;
                o.text = format_lint_error(err->anno, err->message);
                co_return o;
            }
            v = co_await eval_expr(l->head(), *bs, opts);
        }
        o.value = std::move(v);
    } catch (const erlang_exception& e) {
        failure.emplace(e.kind(), e.reason(), stacktrace_of(e));
    } catch (const std::exception& e) {
        // Not an Erlang exception (out of memory, a bug): reported like the runtime reports a
        // process that dies of one.
        failure.emplace(exception_class::error, tuple("cpp_exception"_a, binary(std::string_view(e.what()))),
                        term());
    }
    if (failure) {
        auto& [c, r, s] = *failure;
        co_return exception_outcome(*st, c, r, s);
    }
    co_return o;
}

task<> evaluator_loop(std::shared_ptr<state> st) {
    {
        std::lock_guard l(st->mutex);
        if (st->leader.valid()) group_leader(st->leader, self());
    }
    for (;;) {
        var<term> from, ref;
        co_await receive(pat::tuple(a_request(), from, ref));
        term exprs;
        bindings bs;
        {
            std::lock_guard l(st->mutex);
            exprs = st->pending;
            bs = st->bs;
        }
        outcome o = co_await run_command(st, exprs, &bs);
        bool dies = o.what == outcome::kind::exception;
        term exit_reason;
        if (dies) {
            exit_reason = o.cls == exception_class::throw_ ? tuple(tuple("nocatch"_a, o.reason), o.stacktrace)
                                                           : tuple(o.reason, o.stacktrace);
        }
        {
            std::lock_guard l(st->mutex);
            if (o.ok()) st->bs = std::move(bs);
            st->result = std::move(o);
        }
        send(*from, tuple(a_done(), *ref));
        if (dies) {
            // As erl's evaluator: the processes linked to it get the exception as exit reason,
            // then it ends (a new one runs the next command).
            auto info = co_await process_info(self());
            if (info)
                for (const term& p : info->links)
                    if (p.is_pid()) exit(p.as_pid(), exit_reason);
            co_return;
        }
    }
}

// Reports the evaluator's death when no command is running (erl's shell does so while it
// waits for input).
task<> watch_evaluator(std::shared_ptr<state> st, pid ev) {
    {
        // Its report goes through the session's output, as the evaluator's output does.
        std::lock_guard l(st->mutex);
        if (st->leader.valid()) group_leader(st->leader, self());
    }
    reference m = monitor(ev.as_term());
    var<term> reason;
    co_await receive(pat::tuple(atoms::DOWN, m, pat::_, pat::_, reason));
    std::string text;
    {
        std::lock_guard l(st->mutex);
        if (st->closing || st->busy || !(st->evaluator == ev)) co_return;
        st->evaluator = pid();
        if (reason->is_atom(atoms::normal)) co_return;
        const term& r = *reason;
        // get_command1/5: reported with class error, {Reason, Stack} split when a pair.
        text = r.is_tuple(2)
                   ? format_shell_exception(exception_class::error, r[0], r[1], st->opts.format_term)
                   : format_shell_exception(exception_class::error, r, term(), st->opts.format_term);
    }
    co_await put_text(text + "\n");
}

void ensure_evaluator(const std::shared_ptr<state>& st) {
    std::lock_guard l(st->mutex);
    if (st->evaluator.valid() && st->rt->is_process_alive(st->evaluator)) return;
    st->evaluator = st->rt->spawn(evaluator_loop, st);
    st->watcher = st->rt->spawn(watch_evaluator, st, st->evaluator);
}

pid begin_command(const std::shared_ptr<state>& st, term exprs) {
    ensure_evaluator(st);
    std::lock_guard l(st->mutex);
    st->busy = true;
    st->pending = std::move(exprs);
    return st->evaluator;
}

// Done (reply or DOWN): the outcome, and the session ready for the next command.
outcome end_command(const std::shared_ptr<state>& st, const term& msg, const pid& ev) {
    std::lock_guard l(st->mutex);
    outcome o;
    if (msg.is_tuple(5) && msg[0].is_atom(atoms::DOWN)) {
        o = death_outcome(*st, msg[4]);
        if (st->evaluator == ev) st->evaluator = pid();
    } else {
        o = std::move(st->result);
        st->result = outcome{};
        if (o.what == outcome::kind::exception && st->evaluator == ev) st->evaluator = pid();
    }
    st->pending = term();
    st->busy = false;
    ++st->command;
    return o;
}

bool is_answer(const term& msg, const term& ref, const term& mref) {
    return (msg.is_tuple(2) && msg[0].is_atom(a_done()) && msg[1] == ref) ||
           (msg.is_tuple(5) && msg[0].is_atom(atoms::DOWN) && msg[1] == mref);
}

task<outcome> evaluate_in_process(std::shared_ptr<state> st, term exprs) {
    pid ev = begin_command(st, std::move(exprs));
    reference mref = monitor(ev.as_term());
    term ref = make_ref().as_term();
    term mref_t = mref.as_term();
    send(ev.as_term(), tuple(a_request(), self_term(), ref));
    auto pred = [ref, mref_t](const term& m) { return is_answer(m, ref, mref_t); };
    auto r = co_await receive(pred);
    demonitor(mref, true);
    co_return end_command(st, *r, ev);
}

}  // namespace

session::session(runtime& rt, session_options opts) : rt_(rt), st_(std::make_shared<state>()) {
    st_->rt = &rt;
    if (opts.register_exports && !rt.exports().find(atoms::erlang, "self"_a, 0)) {
        register_standard_exports(rt.exports());
        register_net_exports(rt.exports());
    }
    output_sink sink = opts.output;
    if (!sink) {
        sink = [](std::string_view text) {
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
        };
    }
    if (!opts.format_term) {
        runtime* r = &rt;
        opts.format_term = [r](const term& t, std::size_t column) { return pretty_text(t, column, r->node()); };
    }
    st_->opts = std::move(opts);
    st_->leader = start_output_leader(rt, std::move(sink));
}

session::~session() {
    pid ev, watcher, leader;
    {
        std::lock_guard l(st_->mutex);
        st_->closing = true;
        ev = st_->evaluator;
        watcher = st_->watcher;
        leader = st_->leader;
    }
    caller_.reset();
    for (const pid& p : {ev, watcher, leader})
        if (p.valid()) rt_.exit(p, term(atoms::kill));
}

parse_result session::parse(std::string_view text) const {
    parse_options o;
    o.columns = true;
    return parse_exprs(text, o);
}

std::string session::format_error(const syntax_error& e) {
    return "* " + e.describe();
}

task<outcome> session::evaluate(term exprs) {
    std::shared_ptr<state> st = st_;
    co_return co_await evaluate_in_process(st, std::move(exprs));
}

outcome session::evaluate_blocking(term exprs) {
    if (!caller_) caller_ = std::make_unique<scoped_process>(rt_);
    pid ev = begin_command(st_, std::move(exprs));
    reference mref = caller_->monitor(ev.as_term());
    term ref = rt_.make_ref().as_term();
    term mref_t = mref.as_term();
    caller_->send(ev.as_term(), tuple(a_request(), caller_->self().as_term(), ref));
    auto msg = caller_->receive_if([&](const term& m) { return is_answer(m, ref, mref_t); });
    caller_->demonitor(mref, true);
    if (!msg) {
        // The runtime stopped (or, in deterministic mode, nothing can run any more).
        std::lock_guard l(st_->mutex);
        st_->busy = false;
        ++st_->command;
        return exception_outcome(*st_, exception_class::exit, "no_evaluator"_a, term());
    }
    return end_command(st_, *msg, ev);
}

std::size_t session::command_number() const {
    std::lock_guard l(st_->mutex);
    return st_->command;
}

bindings session::current_bindings() const {
    std::lock_guard l(st_->mutex);
    return st_->bs;
}

std::optional<pid> session::evaluator() const {
    std::lock_guard l(st_->mutex);
    if (!st_->evaluator.valid()) return std::nullopt;
    return st_->evaluator;
}

pid session::output_leader() const {
    std::lock_guard l(st_->mutex);
    return st_->leader;
}

}  // namespace nodus::eval

// Modules io_lib, timer and shell_default, and the registration entry points.
//
// io:format and friends, io_lib:format/2, timer:sleep/1 and the group leaders that take the
// output are every node's default exports (nodus/services/services.hpp, services/io.hpp): the
// evaluator registers them as any node does and adds what only a shell needs.
#include <algorithm>
#include <chrono>

#include "eval_impl.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/services/io.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"
#include "services/standard.hpp"

namespace nodus::eval {

using namespace nodus::literals;

atom node_of_self();

namespace {

const term& standard_io() {
    static const term t(atom("standard_io"));
    return t;
}

// ---- timer ----

term timer_scale(const term& t, std::int64_t factor) {
    auto v = t.to_int64();
    if (!v) detail::badarith();
    return detail::mul(t, term(static_cast<long long>(factor)));
}
term timer_seconds1(std::span<const term> a) {
    return timer_scale(a[0], 1000);
}
term timer_minutes1(std::span<const term> a) {
    return timer_scale(a[0], 60000);
}
term timer_hours1(std::span<const term> a) {
    return timer_scale(a[0], 3600000);
}
term timer_hms3(std::span<const term> a) {
    term h = timer_scale(a[0], 3600000), m = timer_scale(a[1], 60000), s = timer_scale(a[2], 1000);
    return detail::add(detail::add(h, m), s);
}
task<term> timer_tc1(std::vector<term> a) {
    auto t0 = std::chrono::steady_clock::now();
    term v = co_await detail::apply_args(a[0]);
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    co_return tuple(term(static_cast<long long>(us)), v);
}
task<term> timer_tc3(std::vector<term> a) {
    if (!a[0].is_atom() || !a[1].is_atom()) detail::badarg();
    auto args = detail::list_to_vector(a[2]);
    if (!args) detail::badarg();
    auto t0 = std::chrono::steady_clock::now();
    term v = co_await eval::apply(a[0].as_atom(), a[1].as_atom(), std::move(*args));
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    co_return tuple(term(static_cast<long long>(us)), v);
}
term timer_send_after3(std::span<const term> a) {
    auto ms = a[0].to_int64();
    if (!ms || *ms < 0) detail::badarg();
    if (!a[1].is_pid() && !a[1].is_atom()) detail::badarg();
    return tuple(atoms::ok, send_after(std::chrono::milliseconds(*ms), a[1], a[2]).as_term());
}
term timer_send_after2(std::span<const term> a) {
    term args[3] = {a[0], self_term(), a[1]};
    return timer_send_after3(args);
}

// ---- shell_default: the shell commands any process may call ----

// flush(): every message in the mailbox as "Shell got Msg" (c:flush/0).
task<term> flush0(std::vector<term>) {
    for (;;) {
        auto r = co_await receive().after(std::chrono::milliseconds(0));
        if (!r) break;
        term fmt_args = list({*r});
        auto text = io::format_text(string("Shell got ~tp~n"), fmt_args);
        std::string line = text ? std::move(*text) : "Shell got " + to_text(*r, {print_style::w, node_of_self()}) + "\n";
        co_await io::put_chars(standard_io(), std::move(line));
    }
    co_return term(atoms::ok);
}

task<term> help0(std::vector<term>) {
    std::string text =
        "** nodus shell built-in commands **\n"
        "b()        -- display all variable bindings\n"
        "f()        -- forget all variable bindings\n"
        "f(X)       -- forget the binding of variable X\n"
        "flush()    -- flush any messages sent to the shell\n"
        "help()     -- help info\n"
        "nodes()    -- the connected nodes; nodes(hidden | connected | this | known | [Kinds])\n"
        "q()        -- quit: stop the node and leave (also halt(), Ctrl-D)\n"
        "regs()     -- information about registered processes\n"
        "rp(Term)   -- print a term in full\n"
        "** expressions **\n"
        "Erlang expressions: terms, X = Pattern, funs (also named: fun Loop() -> ... end), Pid ! Msg,\n"
        "{Name, Node} ! Msg, receive ... after T -> ... end, case, if, try/catch, catch, begin ... end,\n"
        "list and binary comprehensions, maps, binaries; auto-imported BIFs (self(), spawn/1,\n"
        "register/2, link/1, monitor/2, element/2, ...) and M:F(Args) for these modules:\n";
    std::vector<std::string> mods;
    for (const export_key& k : exports().list()) {
        std::string m(k.module.name());
        if (std::find(mods.begin(), mods.end(), m) == mods.end()) mods.push_back(m);
    }
    std::sort(mods.begin(), mods.end());
    std::string line;
    for (const std::string& m : mods) {
        if (line.size() + m.size() + 1 > 78) {
            text += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + m;
    }
    if (!line.empty()) text += line + "\n";
    co_await io::put_chars(standard_io(), std::move(text));
    co_return term(true);
}

// regs(): the registered processes of this node, one per line.
task<term> regs0(std::vector<term>) {
    std::vector<atom> names = registered();
    std::sort(names.begin(), names.end());
    std::string text = "** Registered procs on node " + std::string(node_of_self().name()) + " **\n";
    for (atom n : names) {
        auto p = whereis(n);
        if (!p) continue;
        std::string name(n.name());
        text += name + std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') +
                to_text(p->as_term(), {print_style::w, node_of_self(), {}, false}) + "\n";
    }
    co_await io::put_chars(standard_io(), std::move(text));
    co_return term(atoms::ok);
}

struct io_sync_def {
    const char* module;
    const char* name;
    unsigned arity;
    detail::bif_fn fn;
};
struct io_native_def {
    const char* module;
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const io_sync_def io_sync[] = {
    {"io_lib", "format", 2, services::standard::io_lib_format2},
    {"io_lib", "fwrite", 2, services::standard::io_lib_format2},
    {"timer", "seconds", 1, timer_seconds1},
    {"timer", "minutes", 1, timer_minutes1},
    {"timer", "hours", 1, timer_hours1},
    {"timer", "hms", 3, timer_hms3},
    {"timer", "send_after", 2, timer_send_after2},
    {"timer", "send_after", 3, timer_send_after3},
};
const io_native_def io_natives[] = {
    {"timer", "tc", 1, timer_tc1},
    {"timer", "tc", 3, timer_tc3},
    {"shell_default", "flush", 0, flush0},
    {"shell_default", "help", 0, help0},
    {"shell_default", "regs", 0, regs0},
    {"c", "flush", 0, flush0},
    {"c", "help", 0, help0},
    {"c", "regs", 0, regs0},
};

}  // namespace

atom node_of_self() {
    return self().node();
}

namespace detail {
void register_io(export_table& t) {
    for (const io_sync_def& d : io_sync)
        add_sync_bif(atom(d.module), atom(d.name), d.arity, d.fn);
    for (const io_native_def& d : io_natives)
        t.add(atom(d.module), atom(d.name), d.arity, d.fn);
}
}  // namespace detail

void register_standard_exports(export_table& table) {
    services::register_default_exports(table);
    detail::register_sync_bifs();
    detail::register_lists_maps(table);
    detail::register_io(table);
    detail::register_erlang_natives(table);
    detail::export_sync_bifs(table);
}

void register_net_exports(export_table& table) {
    services::register_default_exports(table);  // erlang:node/0, nodes/0,1, is_alive/0 ...
    detail::register_net(table);
}

}  // namespace nodus::eval

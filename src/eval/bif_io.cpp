// Modules io, io_lib and timer, the output group leader, and the registration entry points.
//
// io:format and friends speak Erlang's I/O protocol to the caller's group leader, so output
// goes where an Erlang process's output goes (the shell's console, or the group leader of the
// node that spawned the process). The text is io_lib:format's (nodus/io/format.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>

#include "eval_impl.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/io/format.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval {

using namespace nodus::literals;

atom node_of_self();

namespace {

struct default_output_state {
    std::mutex mutex;
    output_sink sink;
};

default_output_state& default_output() {
    static default_output_state s;
    return s;
}

void write_default(std::string_view text) {
    auto& d = default_output();
    std::lock_guard l(d.mutex);
    if (d.sink) {
        d.sink(text);
        return;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Latin-1 bytes (a latin1 put_chars binary) as UTF-8.
std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    for (unsigned char c : bytes)
        append_utf8(out, c);
    return out;
}

// The text of a put_chars payload in the given encoding.
std::optional<std::string> chars_text(const term& enc, const term& chars) {
    if (enc.is_atom(atoms::latin1)) {
        if (chars.is_binary()) return latin1_to_utf8(chars.as_string_view());
        auto bytes = detail::iolist_bytes(chars);
        if (!bytes) return std::nullopt;
        return latin1_to_utf8(*bytes);
    }
    return detail::chardata_utf8(chars);
}

}  // namespace

result<std::string, term> io_format(const term& format, const term& args) {
    io_lib::format_options o;
    if (nodus::detail::current_or_null()) o.local_node = node_of_self();
    auto r = io_lib::format(format, args, o);
    if (!r) return unexpected(term(atoms::badarg));
    return std::move(*r);
}

namespace {

// Sends put_chars to the group leader and waits for its reply (io:request/2).
task<term> io_put(term device, std::string text) {
    term leader;
    if (device.is_atom("standard_io"_a) || device.is_atom("user"_a)) {
        leader = group_leader().as_term();
    } else if (device.is_atom("standard_error"_a)) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        co_return term(atoms::ok);
    } else if (device.is_pid()) {
        leader = device;
    } else {
        detail::badarg();
    }
    if (leader == self_term()) {
        write_default(text);
        co_return term(atoms::ok);
    }
    reference mref = monitor(leader);
    term ref = mref.as_term();
    send(leader,
         tuple(atoms::io_request, self_term(), ref, tuple(atoms::put_chars, atoms::unicode, binary(text))));
    auto is_reply = [ref](const term& t) {
        return (t.is_tuple(3) && t[0].is_atom(atoms::io_reply) && t[1] == ref) ||
               (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == ref);
    };
    auto r = co_await receive(is_reply);
    if (r->is_tuple(5)) detail::fail("terminated"_a);
    demonitor(mref, true);
    term reply = (*r)[2];
    if (!reply.is_atom(atoms::ok)) detail::fail(reply.is_tuple(2) ? reply[1] : reply);
    co_return term(atoms::ok);
}

task<term> format_to(term device, term fmt, term args) {
    auto text = io_format(fmt, args);
    if (!text) detail::badarg();
    co_return co_await io_put(std::move(device), std::move(*text));
}

task<term> io_format1(std::vector<term> a) {
    co_return co_await format_to("standard_io"_a, a[0], term());
}
task<term> io_format2(std::vector<term> a) {
    co_return co_await format_to("standard_io"_a, a[0], a[1]);
}
task<term> io_format3(std::vector<term> a) {
    co_return co_await format_to(a[0], a[1], a[2]);
}
task<term> put_chars_to(term device, term chars) {
    auto text = detail::chardata_utf8(chars);
    if (!text) detail::badarg();
    co_return co_await io_put(std::move(device), std::move(*text));
}
task<term> io_put_chars1(std::vector<term> a) {
    co_return co_await put_chars_to("standard_io"_a, a[0]);
}
task<term> io_put_chars2(std::vector<term> a) {
    co_return co_await put_chars_to(a[0], a[1]);
}
task<term> io_nl0(std::vector<term>) {
    co_return co_await io_put("standard_io"_a, "\n");
}
task<term> io_nl1(std::vector<term> a) {
    co_return co_await io_put(a[0], "\n");
}

term io_lib_format2(std::span<const term> a) {
    auto text = io_format(a[0], a[1]);
    if (!text) detail::badarg();
    return string(*text);
}

// ---- timer ----

task<term> timer_sleep1(std::vector<term> a) {
    auto nothing = [](const term&) { return false; };
    if (a[0].is_atom(atoms::infinity)) {
        co_await receive(nothing);
        co_return term(atoms::ok);
    }
    auto ms = a[0].to_int64();
    if (!ms || *ms < 0) throw error_exception("function_clause"_a);
    co_await receive(nothing).after(std::chrono::milliseconds(*ms));
    co_return term(atoms::ok);
}
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

// ---- the output group leader ----

task<term> io_request_reply(term req, const output_sink* sink) {
    if (req.is_tuple(3) && req[0].is_atom(atoms::put_chars)) {
        auto text = chars_text(req[1], req[2]);
        if (!text) co_return tuple(atoms::error, "put_chars"_a);
        (*sink)(*text);
        co_return term(atoms::ok);
    }
    if (req.is_tuple(2) && req[0].is_atom(atoms::put_chars)) {
        auto text = chars_text(term(atoms::latin1), req[1]);
        if (!text) co_return tuple(atoms::error, "put_chars"_a);
        (*sink)(*text);
        co_return term(atoms::ok);
    }
    if (req.is_tuple(5) && req[0].is_atom(atoms::put_chars) && req[2].is_atom() && req[3].is_atom()) {
        // {put_chars, Enc, Mod, Fun, Args}: what io:format sends from an Erlang node.
        std::optional<std::string> text;
        if (req[2].is_atom("io_lib"_a) && req[3].is_atom("format"_a) && req[4].list_length() == 2u) {
            auto r = io_format(req[4].head(), req[4].tail().head());
            if (r) text = std::move(*r);
        } else {
            try {
                auto args = detail::list_to_vector(req[4]);
                if (args) {
                    term chars = co_await eval::apply(req[2].as_atom(), req[3].as_atom(), std::move(*args));
                    text = chars_text(req[1], chars);
                }
            } catch (const erlang_exception&) {
                text.reset();
            }
        }
        if (!text) co_return tuple(atoms::error, "put_chars"_a);
        (*sink)(*text);
        co_return term(atoms::ok);
    }
    if (req.is_tuple(2) && req[0].is_atom("requests"_a)) {
        term last = atoms::ok;
        for (const term* l = &req[1]; l->is_cons(); l = &l->tail()) {
            last = co_await io_request_reply(l->head(), sink);
            if (!last.is_atom(atoms::ok)) break;
        }
        co_return last;
    }
    if (req.is_tuple(2) && req[0].is_atom("setopts"_a)) co_return term(atoms::ok);
    if (req.is_atom("getopts"_a))
        co_return list({tuple("binary"_a, false), tuple("encoding"_a, atoms::unicode)});
    if (req.is_tuple() && req.tuple_size() >= 1 && req[0].is_atom("get_geometry"_a))
        co_return tuple(atoms::error, "enotsup"_a);
    if (req.is_tuple() && req.tuple_size() >= 1 && req[0].is_atom()) {
        std::string_view name = req[0].as_atom().name();
        if (name.starts_with("get_")) co_return tuple(atoms::error, "enotsup"_a);
    }
    co_return tuple(atoms::error, "request"_a);
}

task<> output_leader_body(std::shared_ptr<output_sink> sink) {
    for (;;) {
        auto r = co_await receive();
        const term& m = *r;
        if (!(m.is_tuple(4) && m[0].is_atom(atoms::io_request))) continue;
        term reply;
        try {
            reply = co_await io_request_reply(m[3], sink.get());
        } catch (const std::exception&) {
            reply = tuple(atoms::error, "request"_a);
        }
        if (m[1].is_pid()) send(m[1], tuple(atoms::io_reply, m[2], reply));
    }
}

// ---- shell_default: the shell commands any process may call ----

// flush(): every message in the mailbox as "Shell got Msg" (c:flush/0).
task<term> flush0(std::vector<term>) {
    for (;;) {
        auto r = co_await receive().after(std::chrono::milliseconds(0));
        if (!r) break;
        term fmt_args = list({*r});
        auto text = io_format(string("Shell got ~tp~n"), fmt_args);
        std::string line = text ? std::move(*text) : "Shell got " + to_text(*r, {print_style::w, node_of_self()}) + "\n";
        co_await io_put("standard_io"_a, std::move(line));
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
    co_await io_put("standard_io"_a, std::move(text));
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
    co_await io_put("standard_io"_a, std::move(text));
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
    {"io_lib", "format", 2, io_lib_format2},
    {"timer", "seconds", 1, timer_seconds1},
    {"timer", "minutes", 1, timer_minutes1},
    {"timer", "hours", 1, timer_hours1},
    {"timer", "hms", 3, timer_hms3},
    {"timer", "send_after", 2, timer_send_after2},
    {"timer", "send_after", 3, timer_send_after3},
};
const io_native_def io_natives[] = {
    {"io", "format", 1, io_format1},
    {"io", "format", 2, io_format2},
    {"io", "format", 3, io_format3},
    {"io", "fwrite", 1, io_format1},
    {"io", "fwrite", 2, io_format2},
    {"io", "fwrite", 3, io_format3},
    {"io", "put_chars", 1, io_put_chars1},
    {"io", "put_chars", 2, io_put_chars2},
    {"io", "nl", 0, io_nl0},
    {"io", "nl", 1, io_nl1},
    {"timer", "sleep", 1, timer_sleep1},
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

void set_default_output(output_sink sink) {
    auto& d = default_output();
    std::lock_guard l(d.mutex);
    d.sink = std::move(sink);
}

pid start_output_leader(runtime& rt, output_sink sink) {
    return rt.spawn(output_leader_body, std::make_shared<output_sink>(std::move(sink)));
}

pid start_output_leader(output_sink sink) {
    return nodus::spawn(output_leader_body, std::make_shared<output_sink>(std::move(sink)));
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
    detail::register_sync_bifs();
    detail::register_lists_maps(table);
    detail::register_io(table);
    detail::register_erlang_natives(table);
    detail::export_sync_bifs(table);
}

void register_net_exports(export_table& table) {
    detail::register_net(table);
}

}  // namespace nodus::eval

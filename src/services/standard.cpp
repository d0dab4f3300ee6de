// The default exports of every nodus node (nodus/services/services.hpp).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "nodus/io/chardata.hpp"
#include "nodus/node/net.hpp"
#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/services/io.hpp"
#include "nodus/services/services.hpp"
#include "services/standard.hpp"

namespace nodus::services {

using namespace nodus::literals;

namespace standard {

namespace {

[[noreturn]] void badarg() {
    throw error_exception(term(atoms::badarg));
}

atom atom_arg(const term& t) {
    if (!t.is_atom()) badarg();
    return t.as_atom();
}

term atom_list(const std::vector<atom>& atoms_) {
    std::vector<term> out;
    out.reserve(atoms_.size());
    for (atom a : atoms_)
        out.emplace_back(a);
    return make_list(std::move(out));
}

std::int64_t system_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

term node0(args_t) {
    return erlang::node();
}
term node1(args_t a) {
    if (!a[0].is_pid() && !a[0].is_port() && !a[0].is_reference()) badarg();
    return a[0].node();
}
term registered0(args_t) {
    return atom_list(registered());
}
term whereis1(args_t a) {
    auto p = whereis(atom_arg(a[0]));
    if (!p) return atoms::undefined;
    return p->as_term();
}
term is_process_alive1(args_t a) {
    if (!a[0].is_pid()) badarg();
    return term(is_process_alive(a[0].as_pid()));
}

term time_unit_scale(const term& unit, std::int64_t ns) {
    if (unit.is_atom("nanosecond"_a) || unit.is_atom("native"_a) || unit.is_atom("nano_seconds"_a))
        return term(static_cast<long long>(ns));
    if (unit.is_atom("microsecond"_a) || unit.is_atom("micro_seconds"_a))
        return term(static_cast<long long>(ns / 1000));
    if (unit.is_atom("millisecond"_a) || unit.is_atom("milli_seconds"_a))
        return term(static_cast<long long>(ns / 1000000));
    if (unit.is_atom("second"_a) || unit.is_atom("seconds"_a))
        return term(static_cast<long long>(ns / 1000000000));
    auto per_second = unit.to_int64();
    if (per_second && *per_second > 0 && *per_second <= 1000000000)
        return term(static_cast<long long>(ns / 1000000000 * *per_second +
                                           ns % 1000000000 * *per_second / 1000000000));
    badarg();
}
term monotonic_time0(args_t) {
    return term(static_cast<long long>(monotonic_time().count()));
}
term monotonic_time1(args_t a) {
    return time_unit_scale(a[0], monotonic_time().count());
}
term system_time0(args_t) {
    return term(static_cast<long long>(system_ns()));
}
term system_time1(args_t a) {
    return time_unit_scale(a[0], system_ns());
}
term timestamp0(args_t) {
    std::int64_t us = system_ns() / 1000;
    return tuple(term(static_cast<long long>(us / 1000000000000)),
                 term(static_cast<long long>(us / 1000000 % 1000000)),
                 term(static_cast<long long>(us % 1000000)));
}

term io_lib_format2(args_t a) {
    auto text = io::format_text(a[0], a[1]);
    if (!text) badarg();
    return string(*text);
}

}  // namespace standard

namespace {

using sync_fn = term (*)(standard::args_t);

task<term> run_sync(sync_fn fn, std::vector<term> args) {
    co_return fn(args);
}

// ---- natives ----

// nodes/1 takes a kind or a list of kinds (their union, without duplicates, in order).
node_kind kind_arg(const term& t) {
    if (!t.is_atom()) throw error_exception(term(atoms::badarg));
    atom a = t.as_atom();
    if (a == "visible"_a) return node_kind::visible;
    if (a == "hidden"_a) return node_kind::hidden;
    if (a == "connected"_a) return node_kind::connected;
    if (a == "this"_a) return node_kind::this_node;
    if (a == "known"_a) return node_kind::known;
    throw error_exception(term(atoms::badarg));
}

task<term> nodes0(std::vector<term>) {
    std::vector<term> out;
    for (atom n : erlang::nodes(node_kind::visible))
        out.emplace_back(n);
    co_return make_list(std::move(out));
}
task<term> nodes1(std::vector<term> a) {
    std::vector<atom> out;
    auto add = [&](node_kind k) {
        for (atom n : erlang::nodes(k))
            if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    };
    if (a[0].is_list()) {
        auto kinds = a[0].list_elements();
        if (!kinds) throw error_exception(term(atoms::badarg));
        for (const term& k : *kinds)
            add(kind_arg(k));
    } else {
        add(kind_arg(a[0]));
    }
    std::vector<term> ts(out.begin(), out.end());
    co_return make_list(std::move(ts));
}
task<term> is_alive0(std::vector<term>) {
    co_return term(erlang::is_alive());
}

const term& standard_io() {
    static const term t("standard_io"_a);
    return t;
}

task<term> io_format1(std::vector<term> a) {
    co_await io::format(standard_io(), a[0], term());
    co_return term(atoms::ok);
}
task<term> io_format2(std::vector<term> a) {
    co_await io::format(standard_io(), a[0], a[1]);
    co_return term(atoms::ok);
}
task<term> io_format3(std::vector<term> a) {
    co_await io::format(a[0], a[1], a[2]);
    co_return term(atoms::ok);
}
task<term> put_chars_to(term device, term chars) {
    auto text = io_lib::chardata_to_utf8(chars);
    if (!text) throw error_exception(term(atoms::badarg));
    co_await io::put_chars(std::move(device), std::move(*text));
    co_return term(atoms::ok);
}
task<term> io_put_chars1(std::vector<term> a) {
    co_return co_await put_chars_to(standard_io(), a[0]);
}
task<term> io_put_chars2(std::vector<term> a) {
    co_return co_await put_chars_to(a[0], a[1]);
}
task<term> io_nl0(std::vector<term>) {
    co_await io::put_chars(standard_io(), "\n");
    co_return term(atoms::ok);
}
task<term> io_nl1(std::vector<term> a) {
    co_await io::put_chars(a[0], "\n");
    co_return term(atoms::ok);
}
task<term> io_write1(std::vector<term> a) {
    term args = list({a[0]});
    co_await io::format(standard_io(), string("~w"), std::move(args));
    co_return term(atoms::ok);
}
task<term> io_write2(std::vector<term> a) {
    term args = list({a[1]});
    co_await io::format(a[0], string("~w"), std::move(args));
    co_return term(atoms::ok);
}

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

task<term> os_getpid0(std::vector<term>) {
    co_return string(std::to_string(::getpid()));
}

struct sync_def {
    const char* module;
    const char* name;
    unsigned arity;
    sync_fn fn;
};
struct native_def {
    const char* module;
    const char* name;
    unsigned arity;
    task<term> (*fn)(std::vector<term>);
};

const sync_def sync_defs[] = {
    {"erlang", "node", 0, standard::node0},
    {"erlang", "node", 1, standard::node1},
    {"erlang", "registered", 0, standard::registered0},
    {"erlang", "whereis", 1, standard::whereis1},
    {"erlang", "is_process_alive", 1, standard::is_process_alive1},
    {"erlang", "system_time", 0, standard::system_time0},
    {"erlang", "system_time", 1, standard::system_time1},
    {"erlang", "monotonic_time", 0, standard::monotonic_time0},
    {"erlang", "monotonic_time", 1, standard::monotonic_time1},
    {"erlang", "timestamp", 0, standard::timestamp0},
    {"io_lib", "format", 2, standard::io_lib_format2},
    {"io_lib", "fwrite", 2, standard::io_lib_format2},
};

const native_def native_defs[] = {
    {"erlang", "nodes", 0, nodes0},
    {"erlang", "nodes", 1, nodes1},
    {"erlang", "is_alive", 0, is_alive0},
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
    {"io", "write", 1, io_write1},
    {"io", "write", 2, io_write2},
    {"timer", "sleep", 1, timer_sleep1},
    {"os", "getpid", 0, os_getpid0},
};

}  // namespace

void register_default_exports(export_table& table) {
    auto add = [&table](const char* m, const char* f, unsigned arity, native_function fn) {
        atom ma(m), fa(f);
        if (!table.find(ma, fa, arity)) table.add(ma, fa, arity, std::move(fn));
    };
    for (const sync_def& d : sync_defs) {
        sync_fn fn = d.fn;
        add(d.module, d.name, d.arity, [fn](std::vector<term> a) { return run_sync(fn, std::move(a)); });
    }
    for (const native_def& d : native_defs)
        add(d.module, d.name, d.arity, d.fn);
}

}  // namespace nodus::services

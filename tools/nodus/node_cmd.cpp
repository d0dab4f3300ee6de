// `nodus node`: a headless node until SIGINT or SIGTERM, then a clean shutdown (connections
// closed, unregistered from the port mapper, exit status 0). Also node_host, the node or plain
// runtime that `nodus eval` and `nodus shell` run on.
#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/services/io.hpp"
#include "nodus/services/pg.hpp"
#include "nodus/services/services.hpp"

namespace nodus::tools {

using namespace nodus::literals;

namespace {

std::atomic<int> halt_status{-1};

task<term> halt_with(int status) {
    request_halt(status);
    co_return term(atoms::ok);
}
int status_of(const term& t) {
    if (auto v = t.to_int64()) return static_cast<int>(*v & 0xFF);
    return 1;  // halt(abort), halt("Slogan")
}

// pg:start(Scope) / pg:start_link(): {ok, Pid}, or {error, {already_started, Pid}} as OTP.
task<term> pg_start(node* n, atom scope, bool link) {
    if (auto existing = whereis(scope)) co_return tuple("error"_a, tuple("already_started"_a, *existing));
    pid p = pg::start_scope(*n, scope);
    // The scope registers its name when it first runs: wait for it, so a pg:join right after
    // finds it (pg:start_link returns once the scope is up, as OTP's does).
    auto nothing = [](const term&) { return false; };
    for (int i = 0; i < 2000 && !whereis(scope); ++i)
        co_await receive(nothing).after(std::chrono::milliseconds(1));
    if (link) nodus::link(p);
    co_return tuple("ok"_a, p);
}

atom scope_of(const std::vector<term>& a) {
    if (a.empty()) return pg::default_scope();
    if (!a[0].is_atom()) throw error_exception(term(atoms::badarg));
    return a[0].as_atom();
}

void register_exports(runtime& rt, node* n) {
    eval::register_standard_exports(rt.exports());
    eval::register_net_exports(rt.exports());
    export_table& t = rt.exports();
    t.add(atoms::erlang, "halt"_a, 0, [](std::vector<term>) { return halt_with(0); });
    t.add(atoms::erlang, "halt"_a, 1, [](std::vector<term> a) { return halt_with(status_of(a[0])); });
    t.add(atoms::erlang, "halt"_a, 2, [](std::vector<term> a) { return halt_with(status_of(a[0])); });
    t.add("init"_a, "stop"_a, 0, [](std::vector<term>) { return halt_with(0); });
    t.add("init"_a, "stop"_a, 1, [](std::vector<term> a) { return halt_with(status_of(a[0])); });
    t.add("shell_default"_a, "q"_a, 0, [](std::vector<term>) { return halt_with(0); });
    t.add("c"_a, "q"_a, 0, [](std::vector<term>) { return halt_with(0); });
    if (!n) return;
    const atom pgm("pg");
    rt.exports().add(pgm, "start"_a, 1, [n](std::vector<term> a) { return pg_start(n, scope_of(a), false); });
    rt.exports().add(pgm, "start_link"_a, 0, [n](std::vector<term> a) { return pg_start(n, scope_of(a), true); });
    rt.exports().add(pgm, "start_link"_a, 1, [n](std::vector<term> a) { return pg_start(n, scope_of(a), true); });
}

}  // namespace

void request_halt(int status) {
    int expected = -1;
    halt_status.compare_exchange_strong(expected, status);
}

std::optional<int> halt_requested() {
    int s = halt_status.load();
    if (s < 0) return std::nullopt;
    return s;
}

std::unique_ptr<node_host> node_host::start(const node_args& args, std::string* error) {
    std::unique_ptr<node_host> h(new node_host());
    if (!args.distributed) {
        h->rt_ = std::make_unique<runtime>(args.config.runtime);
        register_exports(*h->rt_, nullptr);
        io::start_user(*h->rt_);
        return h;
    }
    node_config cfg = args.config;
    if (!cfg.log) cfg.log = [](std::string_view line) { std::cerr << line << std::endl; };
    auto n = node::start(std::move(cfg));
    if (!n) {
        if (error) *error = n.error().message;
        return nullptr;
    }
    h->node_ = std::move(*n);
    register_exports(h->node_->rt(), h->node_.get());
    // user, global, the default pg scope, pg:* and global:* run on every distributed node.
    services::start_defaults(*h->node_);
    return h;
}

node_host::~node_host() = default;

runtime& node_host::rt() noexcept {
    return node_ ? node_->rt() : *rt_;
}

int node_main(std::span<const std::string> args) {
    node_args na = parse_node_args(args);
    for (const std::string& a : na.rest) {
        if (a == "-h" || a == "--help") {
            std::cout << "Usage: nodus node [node flags]\n"
                         "A headless node: runs until SIGINT or SIGTERM, then shuts down cleanly.\n\n"
                      << node_flags_help();
            return 0;
        }
        if (na.error.empty()) na.error = (a.starts_with("-") ? "unknown flag: " : "unexpected argument: ") + a;
    }
    if (na.error.empty() && !na.distributed) na.error = "nodus node needs -sname or -name";
    if (!na.error.empty()) {
        std::cerr << "nodus node: " << na.error << "\n";
        return exit_usage;
    }
    // Block the signals before any thread starts (the workers inherit the mask); this thread
    // takes them with sigwait.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::string error;
    auto host = node_host::start(na, &error);
    if (!host) {
        std::cerr << "nodus node: " << error << "\n";
        return exit_node_failed;
    }
    node* n = host->distributed();
    std::cerr << "nodus node " << n->name().name() << " running (port " << n->listen_port()
              << "); SIGINT or SIGTERM stops it" << std::endl;
    int sig = 0;
    for (;;) {
        timespec tick{0, 200 * 1000 * 1000};
        sig = sigtimedwait(&set, nullptr, &tick);
        if (sig > 0 || halt_requested()) break;
    }
    const char* why = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "halt()";
    std::cerr << "nodus node " << n->name().name() << ": " << why << ", shutting down" << std::endl;
    host.reset();
    return sig > 0 ? 0 : halt_requested().value_or(0);
}

}  // namespace nodus::tools

namespace nodus::tools {

void add_node_command_stubs(CLI::App& app) {
    // Listed for `nodus --help`; main dispatches them before CLI11 parses anything.
    app.add_subcommand("eval", "Evaluate Erlang expressions (nodus eval [node flags] -e 'Exprs.'; see --help)");
    app.add_subcommand("shell", "The Erlang shell (nodus shell [node flags]; see --help)");
    app.add_subcommand("node", "A headless node until SIGINT/SIGTERM (nodus node -sname N ...; see --help)");
}

}  // namespace nodus::tools

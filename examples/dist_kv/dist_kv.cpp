// Seed 002's replicated key-value store in C++: writes are cast to every node, reads are local.
// It speaks the protocol of the seed's Erlang module (dist_kv.erl beside this file) — a
// gen_server registered as `dist_kv` that takes casts {put, Key, Value} and calls {get, Key} —
// so C++ and Erlang nodes share one store: a put on either is read back on the other.
//
//     dist_kv                                two nodus nodes in this process: a put on one is
//                                            read on the other (what the local test runs)
//     dist_kv -sname kv -setcookie secret    a node serving dist_kv until Ctrl-C; in erl:
//         1> c(dist_kv), dist_kv:start_link(), net_kernel:connect_node('kv@host').
//         2> dist_kv:put(greeting, "hello world").             % reaches the C++ node too
//         3> rpc:call('kv@host', dist_kv, get, [greeting]).    % "hello world"
//         4> rpc:call('kv@host', dist_kv, put, [color, blue]), dist_kv:get(color).   % blue
//
// The C++ node exports dist_kv:put/2 and dist_kv:get/1, so erl (rpc, spawn) and `nodus shell`
// (`dist_kv:get(color).`) call the C++ functions by the module's own names.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "nodus/behaviours/gen_server.hpp"
#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace dist_kv {

// The callback module: State is a map, keys compared exactly as an Erlang map's.
class server : public gen_server::server {
public:
    // handle_call({get, Key}, _From, State) -> {reply, maps:get(Key, State, undefined), State}.
    task<gen_server::action> handle_call(term request, gen_server::from caller) override {
        if (request.is_tuple(2) && request[0].is_atom("get"_a)) {
            auto it = data_.find(request[1]);
            co_return gen_server::reply(it == data_.end() ? term(atoms::undefined) : it->second);
        }
        co_return co_await gen_server::server::handle_call(std::move(request), caller);
    }
    // handle_cast({put, Key, Value}, State) -> {noreply, State#{Key => Value}}.
    task<gen_server::action> handle_cast(term request) override {
        if (request.is_tuple(3) && request[0].is_atom("put"_a)) {
            data_[request[1]] = request[2];
            co_return gen_server::noreply();
        }
        co_return co_await gen_server::server::handle_cast(std::move(request));
    }
    term format_status() const override {
        std::vector<std::pair<term, term>> pairs(data_.begin(), data_.end());
        return make_map(std::move(pairs));
    }

private:
    std::map<term, term, term_less> data_;
};

// start_link() -> gen_server:start_link({local, dist_kv}, dist_kv, [], []).
task<gen_server::start_result> start_link() {
    return gen_server::start_link(std::make_unique<server>(), gen_server::local("dist_kv"_a));
}

// put(Key, Value): a cast to dist_kv on this node and on every connected node.
void put(const term& key, const term& value) {
    gen_server::cast(tuple("dist_kv"_a, erlang::node()), tuple("put"_a, key, value));
    for (atom n : erlang::nodes())
        gen_server::cast(tuple("dist_kv"_a, n), tuple("put"_a, key, value));
}

// get(Key): a call to the local copy.
task<term> get(term key) {
    return gen_server::call("dist_kv"_a, tuple("get"_a, std::move(key)));
}

// Makes put/2 and get/1 callable by name from other nodes and from the shell.
void export_to(runtime& rt) {
    rt.exports().add("dist_kv"_a, "put"_a, 2, [](std::vector<term> a) -> task<term> {
        put(a[0], a[1]);
        co_return term(atoms::ok);
    });
    rt.exports().add("dist_kv"_a, "get"_a, 1, [](std::vector<term> a) -> task<term> {
        term v = co_await get(std::move(a[0]));
        co_return v;
    });
}

// Starts the server on node n (unlinked: it lives as long as the node).
bool start_on(node& n) {
    export_to(n.rt());
    scoped_process me(n.rt());
    pid back = me.self();
    n.rt().spawn([back]() -> task<> {
        auto r = co_await gen_server::start(std::make_unique<server>(), gen_server::local("dist_kv"_a));
        send(back, term(r ? atoms::ok : atoms::error));
    });
    auto answer = me.receive(10s);
    return answer && *answer == term(atoms::ok);
}

}  // namespace dist_kv

namespace {

// Runs body in a process of n and returns what it returns.
template <class F>
std::optional<term> run_in(node& n, F body) {
    scoped_process me(n.rt());
    pid back = me.self();
    n.rt().spawn([back, body]() -> task<> {
        term r = co_await body();
        send(back, r);
    });
    return me.receive(10s);
}

std::unique_ptr<node> start_node(const std::string& name, const std::string& cookie) {
    node_config cfg;
    cfg.name = name;
    cfg.cookie = cookie;
    auto n = node::start(cfg);
    if (!n) {
        std::cerr << "dist_kv: cannot start " << name << ": " << n.error().message << "\n";
        return nullptr;
    }
    services::start_defaults(**n);
    if (!dist_kv::start_on(**n)) {
        std::cerr << "dist_kv: the server did not start on " << name << "\n";
        return nullptr;
    }
    return std::move(*n);
}

int run_local() {
    const std::string suffix = std::to_string(::getpid());
    const std::string cookie = "dist_kv_" + suffix;
    auto alice = start_node("kv_alice_" + suffix, cookie);
    auto bob = start_node("kv_bob_" + suffix, cookie);
    if (!alice || !bob) return 1;
    if (!alice->connect(bob->name())) {
        std::cerr << "dist_kv: alice cannot connect to bob\n";
        return 1;
    }
    run_in(*alice, []() -> task<term> {
        dist_kv::put("greeting"_a, string("hello world"));
        co_return term(atoms::ok);
    });
    std::cout << "alice: dist_kv:put(greeting, \"hello world\")\n";
    // Casts are asynchronous: the copy on bob is eventually consistent.
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto v = run_in(*bob, []() -> task<term> { co_return co_await dist_kv::get("greeting"_a); });
        if (v && *v != term(atoms::undefined)) {
            std::cout << "bob: dist_kv:get(greeting) -> " << format_p(*v) << "\n";
            return 0;
        }
        std::this_thread::sleep_for(50ms);
    }
    std::cout << "bob never saw the write\n";
    return 1;
}

volatile std::sig_atomic_t stop_requested = 0;

int run_node(const std::string& name, const std::string& cookie) {
    auto n = start_node(name, cookie);
    if (!n) return 1;
    std::cout << "serving dist_kv on '" << n->name().name() << "'; Ctrl-C stops\n" << std::flush;
    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    while (!stop_requested)
        std::this_thread::sleep_for(100ms);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string name, cookie;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-sname" || a == "--sname") && i + 1 < argc)
            name = argv[++i];
        else if ((a == "-setcookie" || a == "--cookie") && i + 1 < argc)
            cookie = argv[++i];
        else {
            std::cerr << "dist_kv: unknown flag " << a << " (use -sname NAME [-setcookie COOKIE])\n";
            return 2;
        }
    }
    return name.empty() ? run_local() : run_node(name, cookie);
}

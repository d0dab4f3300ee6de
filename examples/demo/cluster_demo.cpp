// The live demonstration (README command 1): a small cluster on loopback, narrated.
//
// Three nodus nodes (alice, bob, carol) start; bob connects to alice and carol to bob only,
// and global's transitive mesh connects the rest. carol owns a globally registered counter that
// the others (and a real erl node, when one is installed) call by name; pg groups span the
// nodes; a replicated key-value store (seed 002's dist_kv) is written on bob and read on the
// others and by erl; then carol stops and the others see nodedown. Everything ends by itself.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/services/global.hpp"
#include "nodus/services/pg.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

void say(const std::string& s) {
    std::cout << "\n\033[1m== " << s << "\033[0m\n" << std::flush;
}
void line(const std::string& s) {
    std::cout << "   " << s << "\n" << std::flush;
}

std::string nodes_text(node& n) {
    std::vector<term> v;
    for (atom a : n.nodes())
        v.push_back(term(a));
    std::sort(v.begin(), v.end(), [](const term& a, const term& b) { return compare(a, b) < 0; });
    return format_w(make_list(std::move(v)));
}

// The counter carol registers globally: {From, incr} -> From ! {count, N}.
task<> counter() {
    std::int64_t n = 0;
    for (;;) {
        var<pid> from;
        co_await receive(pat::tuple(from, "incr"_a));
        send(*from, tuple("count"_a, term(++n)));
    }
}

// Seed 002's replicated key-value store, one registered `kv` process per node: a write is cast
// to every node's store, a read is answered from the local copy (CAP: available, eventually
// consistent). {put, K, V} stores; {get, From, K} -> From ! {kv, V | undefined}.
task<> kv_store() {
    struct term_less {
        bool operator()(const term& a, const term& b) const { return compare(a, b) < 0; }
    };
    std::map<term, term, term_less> data;
    register_name("kv"_a, self());
    for (;;) {
        auto r = co_await receive();
        const term& m = *r;
        if (m.is_tuple(3) && m[0].is_atom("put"_a)) {
            data[m[1]] = m[2];
        } else if (m.is_tuple(3) && m[0].is_atom("get"_a) && m[1].is_pid()) {
            auto it = data.find(m[2]);
            send(m[1], tuple("kv"_a, it == data.end() ? term(atoms::undefined) : it->second));
        }
    }
}

// dist_kv:put/2: the write goes to the store of this node and of every connected node.
void kv_put(const term& key, const term& value) {
    send(tuple("kv"_a, erlang::node()), tuple("put"_a, key, value));
    for (atom n : erlang::nodes())
        send(tuple("kv"_a, n), tuple("put"_a, key, value));
}

// Runs body in a process of n and waits for what it sends back.
template <class F>
std::optional<term> ask(node& n, F body, std::chrono::seconds timeout = 10s) {
    scoped_process me(n.rt());
    pid back = me.self();
    n.rt().spawn([back, body]() -> task<> {
        term r = co_await body();
        send(back, r);
    });
    return me.receive(timeout);
}

bool wait_for(const std::function<bool()>& pred, std::chrono::seconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

}  // namespace

int main() {
    std::mt19937_64 rng{std::random_device{}()};
    std::string suffix = std::to_string(getpid());
    std::string cookie = "demo_" + std::to_string(rng() % 1000000000);

    say("Starting three nodus nodes on this machine (cookie " + cookie + ")");
    std::vector<std::unique_ptr<node>> nodes;
    for (const char* who : {"alice", "bob", "carol"}) {
        node_config cfg;
        cfg.name = std::string(who) + "_" + suffix;
        cfg.cookie = cookie;
        cfg.listen_address = "127.0.0.1";
        if (!std::getenv("NODUS_DEMO_VERBOSE"))
            cfg.log = [](std::string_view) {};  // the narration says what matters
        auto n = node::start(cfg);
        if (!n) {
            std::cerr << "demo: cannot start " << who << ": " << n.error().message << "\n";
            return 1;
        }
        services::start_defaults(**n);
        line(std::string((*n)->name().name()) + " listens on port " + std::to_string((*n)->listen_port()));
        nodes.push_back(std::move(*n));
    }
    node& alice = *nodes[0];
    node& bob = *nodes[1];
    node& carol = *nodes[2];

    say("bob connects to alice, carol connects to bob - and nothing else");
    bob.connect(alice.name());
    carol.connect(bob.name());
    wait_for([&] { return alice.nodes().size() == 2 && carol.nodes().size() == 2; });
    line("global made the full mesh:");
    for (node* n : {&alice, &bob, &carol})
        line(std::string(n->name().name()) + " sees " + nodes_text(*n));

    say("alice registers a counter process under the global name 'counter'");
    pid c = alice.rt().spawn(counter);
    auto reg =
        ask(carol, [c]() -> task<term> { co_return term(co_await global::register_name("counter"_a, c)); });
    line("global:register_name(counter, " + format_w(term(c)) + ") -> " + (reg ? format_w(*reg) : "timeout"));
    wait_for([&] {
        auto w = ask(carol, []() -> task<term> {
            auto p = global::whereis_name("counter"_a);
            co_return term(p ? atoms::true_ : atoms::false_);
        });
        return w && *w == term(atoms::true_);
    });
    for (node* n : {&bob, &carol}) {
        auto r = ask(*n, []() -> task<term> {
            global::send("counter"_a, tuple(self_term(), "incr"_a));
            auto m = co_await receive().after(5s);
            co_return m ? m.message : term("timeout"_a);
        });
        line(std::string(n->name().name()) + ": global:send(counter, {self(), incr}) -> got " +
             (r ? format_w(*r) : "nothing"));
    }

    say("pg: a process on each node joins the group 'workers'");
    for (node* n : {&alice, &bob, &carol}) {
        pid w = n->rt().spawn([]() -> task<> { co_await receive(pat::tuple("stop"_a)); });
        ask(*n, [w]() -> task<term> {
            co_await pg::join(pg::default_scope(), "workers"_a, w);
            co_return term(atoms::ok);
        });
    }
    wait_for([&] {
        auto m = ask(alice, []() -> task<term> {
            co_return term(static_cast<long long>(pg::get_members(pg::default_scope(), "workers"_a).size()));
        });
        return m && *m == term(3);
    });
    auto members = ask(alice, []() -> task<term> {
        co_return make_list(pg::get_members(pg::default_scope(), "workers"_a));
    });
    line("alice: pg:get_members(workers) -> " + (members ? format_w(*members) : "timeout"));

    say("A replicated key-value store (seed 002's dist_kv): writes go to every node, reads are local");
    for (node* n : {&alice, &bob, &carol})
        n->rt().spawn(kv_store);
    wait_for([&] {
        for (node* n : {&alice, &bob, &carol})
            if (!n->rt().whereis("kv"_a)) return false;
        return true;
    });
    ask(bob, []() -> task<term> {
        kv_put("color"_a, "blue"_a);
        co_return term(atoms::ok);
    });
    line("bob: dist_kv:put(color, blue)");
    for (node* n : {&alice, &carol}) {
        term got;
        wait_for([&] {
            auto r = ask(*n, []() -> task<term> {
                send(tuple("kv"_a, erlang::node()), tuple("get"_a, self_term(), "color"_a));
                auto m = co_await receive().after(5s);
                co_return m ? m.message : term("timeout"_a);
            });
            got = r ? *r : term("timeout"_a);
            return got.is_tuple(2) && got[1].is_atom("blue"_a);
        });
        line(std::string(n->name().name()) + ": dist_kv:get(color) from its own copy -> " + format_w(got));
    }

    if (std::system("command -v erl >/dev/null 2>&1") == 0) {
        say("A real Erlang node joins through alice and calls the C++ counter by its global name");
        std::string alice_q = "'" + std::string(alice.name().name()) + "'";
        std::string script =
            "pong = net_adm:ping(" + alice_q +
            "), ok = global:sync(), timer:sleep(1000), "
            "io:format(\"   erl: nodes() -> ~w~n\", [lists:sort(nodes())]), "
            "Pid = case global:whereis_name(counter) of undefined -> "
            "rpc:call(" +
            alice_q +
            ", global, whereis_name, [counter]); P -> P end, "
            "Pid ! {self(), incr}, "
            "receive R -> io:format(\"   erl: the C++ counter answered ~w~n\", [R]) after 5000 -> "
            "io:format(\"   erl: no answer~n\") end, "
            "io:format(\"   erl: pg members of workers: ~w~n\", [length(pg:get_members(workers))]), "
            "{kv, " + alice_q + "} ! {get, self(), color}, "
            "receive {kv, V} -> io:format(\"   erl: the C++ key-value store on alice says color = ~w~n\", [V]) "
            "after 5000 -> io:format(\"   erl: no answer from kv~n\") end, halt().";
        std::string cmd = "timeout 60 erl -noshell -sname dave_" + suffix + " -setcookie " + cookie +
                          " -kernel start_pg true -eval '" + script + "'";
        if (std::system(cmd.c_str()) != 0) line("(erl did not finish cleanly)");
        wait_for([&] { return alice.nodes().size() == 2; });
    } else {
        line("(no erl installed: skipping the mixed-cluster step)");
    }

    say("carol stops; alice and bob see nodedown");
    {
        scoped_process watcher(alice.rt());
        alice.rt().spawn([back = watcher.self()]() -> task<> {
            net_kernel::monitor_nodes(true);
            send(back, "ready"_a);
            for (;;) {
                auto m = co_await receive();
                send(back, m.message);
            }
        });
        watcher.receive(5s);
        nodes[2].reset();
        auto down = watcher.receive_if(
            [](const term& t) { return t.is_tuple(2) && t[0].is_atom(atoms::nodedown); }, 15s);
        line("alice got " + (down ? format_w(*down) : "nothing"));
        line("alice now sees " + nodes_text(alice) + ", bob sees " + nodes_text(bob));
    }

    say("Shutting down (nodes unregister from the port mapper and close their connections)");
    nodes.clear();
    line("done");
    return 0;
}

// An echo server in a handful of lines, as a local runtime or as a node that erl can talk to.
//
//     echo                                   spawn the server, send it three messages, print the
//                                            replies, exit 0 (what the test runs)
//     echo -sname echo -setcookie secret     a node serving {echo, 'echo@host'} until Ctrl-C:
//         erl -sname a -setcookie secret
//         1> {echo, 'echo@host'} ! {self(), hello}, flush().
//         Shell got {echo,hello}
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;

// The whole server: receive {From, Msg}, answer {echo, Msg}, forever.
task<> echo_server() {
    for (;;) {
        var<pid> from;
        var<term> msg;
        co_await receive(pat::tuple(from, msg));
        send(*from, tuple("echo"_a, *msg));
    }
}

namespace {

int run_local() {
    runtime rt;
    pid server = rt.spawn(echo_server);
    scoped_process me(rt);
    for (term msg : {term("hello"_a), term(42), tuple("nested"_a, list({term(1), term(2)}))}) {
        me.send(server, tuple(me.self(), msg));
        auto reply = me.receive(std::chrono::seconds(5));
        if (!reply) {
            std::cerr << "echo: no reply\n";
            return 1;
        }
        std::cout << "sent " << format_p(msg) << ", got " << format_p(*reply) << "\n";
    }
    return 0;
}

volatile std::sig_atomic_t stop_requested = 0;

int run_node(const std::string& name, const std::string& cookie) {
    node_config cfg;
    cfg.name = name;
    cfg.cookie = cookie;
    auto n = node::start(cfg);
    if (!n) {
        std::cerr << "echo: " << n.error().message << "\n";
        return 1;
    }
    pid server = (*n)->rt().spawn([]() -> task<> {
        register_name("echo"_a, self());
        co_await echo_server();
    });
    (void)server;
    std::cout << "serving {echo, '" << (*n)->name().name() << "'}; Ctrl-C stops\n" << std::flush;
    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    while (!stop_requested)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
            std::cerr << "echo: unknown flag " << a << " (use -sname NAME [-setcookie COOKIE])\n";
            return 2;
        }
    }
    return name.empty() ? run_local() : run_node(name, cookie);
}

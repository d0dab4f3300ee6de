// A supervision tree with crashes injected, watched from another node: the chat room of a small
// chat service crashes, its supervisor restarts it, and a client on a remote node sees the
// crash through a link and a monitor and joins the new room. Then a crash in a one_for_all
// subtree restarts the siblings, and too many crashes make the top supervisor give up and shut
// the tree down in reverse start order.
//
//     hub node                                watcher node
//     app_sup   (one_for_one, at most 3 restarts in 5 s)
//     ├── room      gen_server `room`  <───── chat client: linked to the room, traps exits
//     └── helpers   (one_for_all)      <───── a monitor on {room, hub} and on {app_sup, hub}
//         ├── logger
//         └── counter
//
// Run with no arguments; it starts both nodes in this process (loopback) and ends by itself.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nodus/behaviours/gen_server.hpp"
#include "nodus/behaviours/supervisor.hpp"
#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

std::mutex out_mutex;
// What the watcher saw, for the checks at the end (its lines interleave with the hub's).
std::atomic<int> client_rejoins{0};
std::atomic<int> room_downs_seen{0};
void say(const std::string& s) {
    std::lock_guard l(out_mutex);
    std::cout << "\n== " << s << "\n" << std::flush;
}
void line(const std::string& s) {
    std::lock_guard l(out_mutex);
    std::cout << "   " << s << "\n" << std::flush;
}
std::string w(const term& t) {
    return format_p(t);
}

// timer:sleep/1: waits without touching the mailbox.
auto pause(std::chrono::milliseconds d) {
    return receive([](const term&) { return false; }).after(d);
}

// The chat room: {join, Pid} links the member and answers {joined, Room}; {say, Who, Text} is
// sent to every member as {said, Who, Text}; `crash` is the injected fault.
class room : public gen_server::server {
public:
    task<gen_server::action> init() override {
        trap_exit(true);  // a member that dies leaves; it does not take the room down
        line("hub: room " + w(self_term()) + " open");
        co_return gen_server::ok();
    }
    task<gen_server::action> handle_call(term request, gen_server::from caller) override {
        if (request.is_tuple(2) && request[0].is_atom("join"_a) && request[1].is_pid()) {
            pid member = request[1].as_pid();
            link(member);
            members_.push_back(member);
            co_return gen_server::reply(tuple("joined"_a, self_term()));
        }
        co_return co_await gen_server::server::handle_call(std::move(request), caller);
    }
    task<gen_server::action> handle_cast(term request) override {
        if (request.is_atom("crash"_a)) error("boom"_a);  // the injected fault
        if (request.is_tuple(3) && request[0].is_atom("say"_a)) {
            for (const pid& m : members_)
                send(m, tuple("said"_a, request[1], request[2]));
        }
        co_return gen_server::noreply();
    }
    task<gen_server::action> handle_info(term message) override {
        if (message.is_tuple(3) && message[0].is_atom("EXIT"_a) && message[1].is_pid())
            std::erase(members_, message[1].as_pid());
        co_return gen_server::noreply();
    }

private:
    std::vector<pid> members_;
};

// logger and counter: workers that only say when they start and stop (terminate runs on a
// supervisor's shutdown because they trap exits, as OTP workers that must clean up do).
class helper : public gen_server::server {
public:
    explicit helper(std::string name) : name_(std::move(name)) {}
    task<gen_server::action> init() override {
        trap_exit(true);
        line("hub: " + name_ + " " + w(self_term()) + " started");
        co_return gen_server::ok();
    }
    task<> terminate(term reason) override {
        line("hub: " + name_ + " stopped (" + w(reason) + ")");
        co_return;
    }

private:
    std::string name_;
};

supervisor::start_function start_helper(const char* name) {
    std::string n = name;
    return supervisor::starter([n]() {
        return gen_server::start_link(std::make_unique<helper>(n), gen_server::local(atom(n)));
    });
}

// The tree of the picture above.
task<gen_server::start_result> start_app_sup() {
    std::vector<supervisor::child_spec> helpers;
    helpers.push_back({.id = "logger"_a, .start = start_helper("logger")});
    helpers.push_back({.id = "counter"_a, .start = start_helper("counter")});
    std::vector<supervisor::child_spec> top;
    top.push_back({.id = "room"_a, .start = supervisor::starter([] {
                       return gen_server::start_link(std::make_unique<room>(), gen_server::local("room"_a));
                   })});
    top.push_back({.id = "helpers"_a,
                   .start = supervisor::starter([helpers] {
                       return supervisor::start_link(gen_server::local("helpers"_a),
                                                     {.strategy = supervisor::strategy::one_for_all}, helpers);
                   }),
                   .shutdown = supervisor::infinity,
                   .type = supervisor::child_type::supervisor});
    return supervisor::start_link(gen_server::local("app_sup"_a),
                                  {.strategy = supervisor::strategy::one_for_one, .intensity = 3, .period = 5s},
                                  std::move(top));
}

// Joins {room, Hub}, retrying while the room is being restarted. Returns the room's pid.
task<term> join_room(term room_name) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto r = co_await gen_server::try_call(room_name, tuple("join"_a, self_term()), 1000ms);
        if (r && r->is_tuple(2)) co_return (*r)[1];
        co_await pause(50ms);
    }
    co_return term(atoms::undefined);
}

// The chat client on the watcher node: linked to the room (through join), trapping exits, so a
// crash of the room arrives as {'EXIT', Room, Reason}; it then joins the restarted room.
task<> chat_client(atom hub) {
    trap_exit(true);
    term room_name = tuple("room"_a, hub);
    term current = co_await join_room(room_name);
    line("watcher: client joined room " + w(current));
    for (;;) {
        auto m = co_await receive().after(20s);
        if (!m) co_return;
        if (m->is_tuple(3) && (*m)[0].is_atom("said"_a)) {
            line("watcher: client got " + w(*m));
        } else if (m->is_tuple(3) && (*m)[0].is_atom("EXIT"_a) && (*m)[1] == current) {
            line("watcher: client's link to the room fired: " + w((*m)[2]));
            current = co_await join_room(room_name);
            line("watcher: client rejoined, the room is now " + w(current));
            if (current.is_pid()) ++client_rejoins;
        } else if (m->is_atom("stop"_a)) {
            co_return;
        }
    }
}

// Monitors a name on the hub and reports each 'DOWN'. A monitor on a name nobody holds is
// DOWN at once with noproc: then the name is being restarted, so it tries again a little later.
task<> observer(atom hub, atom name) {
    term target = tuple(name, hub);
    int absent = 0;
    while (absent < 40) {
        reference ref = monitor(target);
        auto m = co_await receive(pat::tuple("DOWN"_a, ref, pat::_, pat::_, pat::_)).after(20s);
        if (!m) co_return;
        if ((*m)[4].is_atom("noproc"_a)) {
            ++absent;
            co_await pause(50ms);
            continue;
        }
        absent = 0;
        line("watcher: monitor on " + w(target) + " says DOWN: " + w((*m)[4]));
        ++room_downs_seen;
    }
}

std::unique_ptr<node> start_node(const std::string& name, const std::string& cookie) {
    node_config cfg;
    cfg.name = name;
    cfg.cookie = cookie;
    cfg.listen_address = "127.0.0.1";
    cfg.log = [](std::string_view) {};
    auto n = node::start(cfg);
    if (!n) {
        std::cerr << "supervision: cannot start " << name << ": " << n.error().message << "\n";
        return nullptr;
    }
    return std::move(*n);
}

// Runs body in a process of n and returns what it sends back.
template <class F>
std::optional<term> run_in(node& n, F body, std::chrono::seconds timeout = 10s) {
    scoped_process me(n.rt());
    pid back = me.self();
    n.rt().spawn([back, body]() -> task<> {
        term r = co_await body();
        send(back, r);
    });
    return me.receive(timeout);
}

std::optional<pid> whereis_on(node& n, atom name) {
    return n.rt().whereis(name);
}

bool wait_for(const std::function<bool()>& pred) {
    for (int i = 0; i < 200; ++i) {
        if (pred()) return true;
        std::this_thread::sleep_for(25ms);
    }
    return false;
}

std::string children_text(node& n, atom sup) {
    auto r = run_in(n, [sup]() -> task<term> {
        auto children = co_await supervisor::which_children(term(sup));
        std::vector<term> out;
        for (auto& c : children)
            out.push_back(tuple(c.id, c.child));
        co_return make_list(std::move(out));
    });
    return r ? w(*r) : "?";
}

}  // namespace

int main() {
    const std::string suffix = std::to_string(::getpid());
    const std::string cookie = "supervision_" + suffix;
    auto hub_node = start_node("hub_" + suffix, cookie);
    auto watcher_node = start_node("watcher_" + suffix, cookie);
    if (!hub_node || !watcher_node) return 1;
    node& hub = *hub_node;
    node& watcher = *watcher_node;
    const atom hub_name = hub.name();
    if (!watcher.connect(hub_name)) {
        std::cerr << "supervision: watcher cannot connect to hub\n";
        return 1;
    }

    say("hub starts app_sup: room + helpers (logger, counter)");
    // The tree's owner: traps exits so it hears how app_sup ends.
    scoped_process owner_done(hub.rt());
    pid report_to = owner_done.self();
    hub.rt().spawn([report_to]() -> task<> {
        trap_exit(true);
        auto sup = co_await start_app_sup();
        if (!sup) {
            send(report_to, tuple("error"_a, sup.error()));
            co_return;
        }
        send(report_to, tuple("started"_a, term(*sup)));
        auto m = co_await receive(pat::tuple("EXIT"_a, *sup, pat::_));
        send(report_to, tuple("app_sup_exited"_a, (*m)[2]));
    });
    auto started = owner_done.receive(10s);
    if (!started || !started->is_tuple(2) || !(*started)[0].is_atom("started"_a)) {
        std::cerr << "supervision: app_sup did not start: " << (started ? w(*started) : "timeout") << "\n";
        return 1;
    }
    line("app_sup children: " + children_text(hub, "app_sup"_a));

    say("watcher: a chat client joins {room, hub}; monitors go on {room, hub} and {app_sup, hub}");
    pid client = watcher.rt().spawn([hub_name]() -> task<> { co_await chat_client(hub_name); });
    watcher.rt().spawn([hub_name]() -> task<> { co_await observer(hub_name, "room"_a); });
    watcher.rt().spawn([hub_name]() -> task<> {
        reference ref = monitor(tuple("app_sup"_a, hub_name));
        auto m = co_await receive(pat::tuple("DOWN"_a, ref, pat::_, pat::_, pat::_)).after(60s);
        if (m) line("watcher: monitor on app_sup says DOWN: " + w((*m)[4]));
    });
    std::this_thread::sleep_for(300ms);  // let the client join before it is talked to
    run_in(hub, []() -> task<term> {
        gen_server::cast("room"_a, tuple("say"_a, "hub"_a, string("hello, watcher")));
        co_return term(atoms::ok);
    });
    std::this_thread::sleep_for(300ms);

    say("inject a crash: the room is told to crash");
    auto old_room = whereis_on(hub, "room"_a);
    run_in(hub, []() -> task<term> {
        gen_server::cast("room"_a, "crash"_a);
        co_return term(atoms::ok);
    });
    bool restarted = wait_for([&] {
        auto now = whereis_on(hub, "room"_a);
        return now && old_room && *now != *old_room;
    });
    line(std::string("hub: app_sup restarted the room: ") + (restarted ? "yes" : "no"));
    std::this_thread::sleep_for(500ms);  // the client rejoins
    run_in(hub, []() -> task<term> {
        gen_server::cast("room"_a, tuple("say"_a, "hub"_a, string("the room is back")));
        co_return term(atoms::ok);
    });
    std::this_thread::sleep_for(300ms);

    say("inject a crash in the one_for_all subtree: counter is killed");
    auto old_logger = whereis_on(hub, "logger"_a);
    line("helpers children before: " + children_text(hub, "helpers"_a));
    if (auto counter = whereis_on(hub, "counter"_a)) {
        hub.rt().spawn([c = *counter]() -> task<> {
            exit(c, "kill"_a);
            co_return;
        });
    }
    bool siblings = wait_for([&] {
        auto l = whereis_on(hub, "logger"_a);
        return l && old_logger && *l != *old_logger && whereis_on(hub, "counter"_a);
    });
    line(std::string("hub: one_for_all restarted logger too: ") + (siblings ? "yes" : "no"));
    line("helpers children after: " + children_text(hub, "helpers"_a));

    say("crash the room again and again: more than 3 restarts in 5 s and app_sup gives up");
    for (int i = 0; i < 4; ++i) {
        auto before = whereis_on(hub, "room"_a);
        if (!before) break;
        run_in(hub, []() -> task<term> {
            gen_server::cast("room"_a, "crash"_a);
            co_return term(atoms::ok);
        });
        wait_for([&] {
            auto now = whereis_on(hub, "room"_a);
            return !now || *now != *before;
        });
        std::this_thread::sleep_for(300ms);  // the watcher reports each crash
    }
    auto ended = owner_done.receive(10s);
    line("hub: app_sup exited: " + (ended ? w(*ended) : std::string("timeout")));
    std::this_thread::sleep_for(500ms);  // let the watcher's monitors report
    watcher.rt().spawn([client]() -> task<> {
        send(client, "stop"_a);
        co_return;
    });
    const bool gave_up = ended && ended->is_tuple(2) && (*ended)[1].is_atom("shutdown"_a);
    const bool ok = restarted && siblings && gave_up && client_rejoins.load() >= 1 && room_downs_seen.load() >= 1;
    say(std::string("done: ") + (ok ? "every check passed" : "a check FAILED") +
        " (room restarted, siblings restarted, app_sup gave up, the remote client rejoined " +
        std::to_string(client_rejoins.load()) + " times, the remote monitor saw " +
        std::to_string(room_downs_seen.load()) + " crashes)");
    return ok ? 0 : 1;
}

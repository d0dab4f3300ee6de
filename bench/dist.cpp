// Distribution benchmarks: remote_throughput, remote_latency, large_msg, hol_latency, mesh
// (design/bench.md, issue 4).
//
// Every run starts its own cluster on loopback and stops it by PID:
//   - OTP's epmd on a free port (-address 127.0.0.1), used by every node below;
//   - node B twice: a nodus node (`nodus_bench --child dist_server`) and an erl node
//     (`nodus_bench_erl main dist_server`), each with nodus_bench_sink, nodus_bench_bulk
//     (counters that reply once after N messages) and nodus_bench_echo registered;
//   - node A twice: a nodus node (`--child dist_client`) and an erl node (`main dist_client`) that
//     serve "measure BENCH PEER PAIR ARG..." commands and print result lines.
// The pairs (A-B): nodus-nodus, nodus-erlang (nodus A sends to erl B), erlang-erlang. Node names
// are unique per run (driver PID and a counter), the cookie is explicit and random. Repetitions
// go round the pairs in turn, so that all three see the same machine load; medians are reported.
// The machine limit (raw TCP on loopback: 64-byte round trip, bulk bandwidth) runs in a fresh
// `--child tcp_rtt` / `--child tcp_bw` process per repetition, between the pairs.
//
// Ratio lines: nodus-nodus over erlang-erlang and nodus-erlang over erlang-erlang (above 1: the
// nodus side is better). The issue's goals against raw TCP are checked in the stderr summary.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "nodus/dist/node_name.hpp"
#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/services/services.hpp"

namespace nodus::bench {

using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr long long tp_messages = 1000000;
constexpr long long lat_warmup = 1000;
constexpr long long lat_round_trips = 100000;
constexpr long long big_bytes = 64LL << 20;
constexpr long long big_count = 10;
constexpr long long hol_max_round_trips = 1000000;

double secs(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

void print_sample(const sample& s) {
    std::printf("%s\n", s.to_json().c_str());
    std::fflush(stdout);
}

// Nearest rank: the sample at rank ceil(q * n) (1-based), as the Erlang side computes it.
double percentile(const std::vector<double>& sorted, double q) {
    auto n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(q * n));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

void emit_percentiles(const char* system, const char* bench, std::vector<double> us,
                      const std::vector<std::string>& which, const json& params) {
    if (us.empty()) throw std::runtime_error(std::string(bench) + ": no samples");
    std::sort(us.begin(), us.end());
    for (const std::string& w : which) {
        double v = w == "p50"     ? percentile(us, 0.5)
                   : w == "p99"   ? percentile(us, 0.99)
                   : w == "p99.9" ? percentile(us, 0.999)
                                  : us.back();
        print_sample({system, bench, w, v, "us", params});
    }
}

// Kills this process after `limit` whatever it is doing: every child stops by itself.
void watchdog(std::chrono::seconds limit) {
    std::thread([limit] {
        std::this_thread::sleep_for(limit);
        std::fprintf(stderr, "nodus_bench child %d: watchdog after %lld s\n", static_cast<int>(::getpid()),
                     static_cast<long long>(limit.count()));
        std::_Exit(3);
    }).detach();
}

// ---- nodus nodes (child modes) --------------------------------------------------------------------

std::unique_ptr<node> start_node(const std::string& name, const std::string& cookie, std::uint16_t epmd_port) {
    node_config cfg;
    cfg.name = name;
    cfg.cookie = cookie;
    cfg.epmd_port = epmd_port;
    cfg.start_epmd = false;
    cfg.listen_address = "127.0.0.1";
    cfg.connect_all = false;
    // For experiments only (the reported runs use the default, one worker per core).
    if (const char* t = std::getenv("NODUS_BENCH_NODE_THREADS"); t && *t) cfg.runtime.threads = std::stoul(t);
    auto n = node::start(cfg);
    if (!n) throw std::runtime_error("nodus node " + name + " did not start: " + n.error().message);
    return std::move(*n);
}

term pattern_binary(long long size) {
    std::string b(static_cast<std::size_t>(size), '\0');
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<char>(i & 255);
    return binary(b);
}

// Node B: the counter (as counter_idle/0 in nodus_bench_erl.erl) and the echo process.
task<> counter(atom name) {
    register_name(name, self());
    for (;;) {
        var<pid> from;
        var<std::int64_t> n;
        auto start = co_await receive(pat::tuple("start"_a, from, n), pat::_);
        if (start.clause != 0) continue;
        co_await send(*from, tuple("ready"_a, self()));
        std::int64_t seen = 0;
        for (; seen < *n; ++seen)
            if (!co_await receive().after(60s)) break;
        if (seen == *n) co_await send(*from, tuple("done"_a, *n));
        else co_await send(*from, tuple("timeout"_a, seen));
    }
}

task<> echo() {
    register_name("nodus_bench_echo"_a, self());
    for (;;) {
        auto m = co_await receive();
        const term& t = *m;
        if (t.is_tuple(3) && t[0].is_atom("ping"_a)) co_await send(t[1], tuple("pong"_a, t[2]));
        else if (t.is_tuple(2) && t[0].is_atom("hello"_a)) co_await send(t[1], tuple("hello"_a, self()));
    }
}

int dist_server(const std::vector<std::string>& args) {
    if (args.size() < 4) return 2;
    watchdog(std::chrono::seconds(3600));
    auto n = start_node(args[1], args[2], static_cast<std::uint16_t>(std::stoi(args[3])));
    n->rt().spawn(counter, "nodus_bench_sink"_a);
    n->rt().spawn(counter, "nodus_bench_bulk"_a);
    n->rt().spawn(echo);
    for (int i = 0; i < 500 && n->rt().registered().size() < 3; ++i)
        std::this_thread::sleep_for(10ms);
    std::printf("ready\n");
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line) && line != "quit") {
        std::printf("done\n");
        std::fflush(stdout);
    }
    n.reset();
    return 0;
}

// mesh: one of N nodes with the transitive mesh on (connect_all, global). "mesh FIRST N" connects
// to FIRST (unless it is this node), waits until nodes() lists N - 1 others and prints the wall
// clock time (us since the epoch, comparable across the processes) when it did.
int mesh_node(const std::vector<std::string>& args) {
    if (args.size() < 4) return 2;
    watchdog(std::chrono::seconds(900));
    node_config cfg;
    cfg.name = args[1];
    cfg.cookie = args[2];
    cfg.epmd_port = static_cast<std::uint16_t>(std::stoi(args[3]));
    cfg.start_epmd = false;
    cfg.listen_address = "127.0.0.1";
    cfg.connect_all = true;
    auto started = node::start(cfg);
    if (!started) throw std::runtime_error("nodus node " + cfg.name + " did not start: " + started.error().message);
    std::unique_ptr<node> n = std::move(*started);
    services::start_defaults(*n);
    std::printf("ready\n");
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line) && line != "quit") {
        std::vector<std::string> w;
        for (std::size_t at = 0; at < line.size();) {
            std::size_t end = line.find(' ', at);
            if (end == std::string::npos) end = line.size();
            if (end > at) w.push_back(line.substr(at, end - at));
            at = end + 1;
        }
        if (w.size() == 3 && w[0] == "mesh") {
            atom first(w[1]);
            std::size_t want = std::stoul(w[2]) - 1;
            if (first != n->name() && !n->connect(first, 10s))
                std::fprintf(stderr, "mesh node %s: cannot connect to %s\n", cfg.name.c_str(), w[1].c_str());
            auto deadline = clock_type::now() + 60s;
            while (n->nodes().size() < want && clock_type::now() < deadline)
                std::this_thread::sleep_for(1ms);
            auto at = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch());
            if (n->nodes().size() >= want) {
                print_sample({"nodus", "mesh", "meshed_at", static_cast<double>(at.count()), "us",
                              json::object({{"nodes", static_cast<long long>(want + 1)}})});
            } else {
                std::fprintf(stderr, "mesh node %s: %zu of %zu nodes after 60 s\n", cfg.name.c_str(),
                             n->nodes().size(), want);
            }
        }
        std::printf("done\n");
        std::fflush(stdout);
    }
    n.reset();
    return 0;
}

// Node A.
struct client {
    node& n;
    scoped_process me;
    explicit client(node& nd) : n(nd), me(nd.rt()) {}

    void connect(atom peer) {
        if (!n.connect(peer, 10s)) throw std::runtime_error("cannot connect to " + std::string(peer.name()));
    }
    term expect(const std::function<bool(const term&)>& pred, std::chrono::seconds timeout, const char* what) {
        auto r = me.receive_if(pred, timeout);
        if (!r) throw std::runtime_error(std::string("no reply: ") + what);
        return *r;
    }
    static bool is(const term& t, atom tag, std::size_t arity) { return t.is_tuple(arity) && t[0].is_atom(tag); }
    term echo_pid(atom peer) {
        me.send(tuple("nodus_bench_echo"_a, peer), tuple("hello"_a, me.self()));
        return expect([](const term& t) { return is(t, "hello"_a, 2) && t[1].is_pid(); }, 10s, "echo hello")[1];
    }
    // {start, Self, N} to a counter, then its ready.
    void start_counter(const term& counter, long long count) {
        me.send(counter, tuple("start"_a, me.self(), count));
        expect([](const term& t) { return is(t, "ready"_a, 2); }, 10s, "counter ready");
    }
    void await_done(long long count, std::chrono::seconds timeout) {
        term r = expect([](const term& t) { return is(t, "done"_a, 2) || is(t, "timeout"_a, 2); }, timeout,
                        "counter done");
        if (!r[0].is_atom("done"_a) || r[1] != term(count))
            throw std::runtime_error("counter timed out after " + std::to_string(r[1].to_int64().value_or(-1)));
    }
};

task<> tp_sender(term dest, long long first, long long count, term payload) {
    for (long long i = first; i < first + count; ++i)
        co_await send(dest, tuple("msg"_a, i, payload));
}

double tp_run(client& c, const term& sink, long long senders, long long total, const term& payload) {
    c.start_counter(sink, total);
    auto t0 = clock_type::now();
    long long each = total / senders;
    // Each sender its own copy of the payload, as each Erlang sender has in its heap (spawn
    // copies it): one binary shared by senders on two threads made its reference count, touched
    // twice per message, bounce between the cores.
    for (long long s = 0; s < senders; ++s)
        c.n.rt().spawn(tp_sender, sink, s * each, each, binary(payload.bytes()));
    c.await_done(total, 120s);
    return secs(t0, clock_type::now());
}

// Sequential round trips to the echo process; each in microseconds into *out. With `hol`, it
// first waits for `go` and stops at `stop` (or at max round trips, or the deadline).
struct rtt_job {
    term echo;
    long long warmup = 0;
    long long max = 0;
    bool hol = false;
    clock_type::time_point deadline;
    std::vector<double>* out = nullptr;
    pid report;
};

task<> rtt_process(rtt_job job) {
    term me = self_term();
    for (long long i = 0; i < job.warmup; ++i) {
        co_await send(job.echo, tuple("ping"_a, me, i));
        if (!co_await receive(pat::tuple("pong"_a, i)).after(10s)) {
            co_await send(job.report, tuple("failed"_a, "no_pong"_a));
            co_return;
        }
    }
    if (job.hol && !co_await receive("go"_a).after(30s)) {
        co_await send(job.report, tuple("failed"_a, "no_go"_a));
        co_return;
    }
    job.out->reserve(static_cast<std::size_t>(std::min<long long>(job.max, 1 << 20)));
    for (long long i = 0; i < job.max; ++i) {
        if (job.hol && (co_await receive("stop"_a).after(0ms) || clock_type::now() > job.deadline)) break;
        auto t0 = clock_type::now();
        co_await send(job.echo, tuple("ping"_a, me, i));
        if (!co_await receive(pat::tuple("pong"_a, i)).after(10s)) {
            co_await send(job.report, tuple("failed"_a, "no_pong"_a));
            co_return;
        }
        job.out->push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    co_await send(job.report, tuple("rtt_done"_a, static_cast<long long>(job.out->size())));
}

std::vector<double> rtt_run(client& c, rtt_job job, std::chrono::seconds timeout) {
    std::vector<double> us;
    job.out = &us;
    job.report = c.me.self();
    c.n.rt().spawn(rtt_process, job);
    term r = c.expect([](const term& t) { return client::is(t, "rtt_done"_a, 2) || client::is(t, "failed"_a, 2); },
                      timeout, "round trips");
    if (!r[0].is_atom("rtt_done"_a)) throw std::runtime_error("round trips failed");
    return us;
}

// Sends count x bin to the bulk counter (after its ready; `go` to `notify` first when valid) and
// waits for its reply: {bulk_secs, Seconds} to report.
task<> bulk_process(term bulk, long long count, term bin, pid notify, pid report) {
    term me = self_term();
    co_await send(bulk, tuple("start"_a, me, count));
    if (!co_await receive(pat::tuple("ready"_a, pat::_)).after(10s)) {
        co_await send(report, tuple("failed"_a, "bulk_not_ready"_a));
        co_return;
    }
    if (notify.valid()) co_await send(notify, "go"_a);
    auto t0 = clock_type::now();
    for (long long i = 1; i <= count; ++i)
        co_await send(bulk, tuple("bulk"_a, i, bin));
    auto r = co_await receive(pat::tuple("done"_a, pat::_), pat::tuple("timeout"_a, pat::_)).after(120s);
    if (notify.valid()) co_await send(notify, "stop"_a);
    if (!r || r.clause != 0) {
        co_await send(report, tuple("failed"_a, "bulk_timeout"_a));
        co_return;
    }
    co_await send(report, tuple("bulk_secs"_a, secs(t0, clock_type::now())));
}

double bulk_run(client& c, const term& bulk, long long count, const term& bin) {
    c.n.rt().spawn(bulk_process, bulk, count, bin, pid(), c.me.self());
    term r = c.expect([](const term& t) { return client::is(t, "bulk_secs"_a, 2) || client::is(t, "failed"_a, 2); },
                      180s, "bulk transfer");
    if (!r[0].is_atom("bulk_secs"_a)) throw std::runtime_error("bulk transfer failed");
    return r[1].float_value();
}

void measure(client& c, const std::vector<std::string>& w) {
    // measure BENCH PEER PAIR ARG...
    if (w.size() < 4) throw std::runtime_error("bad command");
    const std::string& bench = w[1];
    atom peer(w[2]);
    const std::string& pair = w[3];
    auto arg = [&](std::size_t i) { return std::stoll(w.at(4 + i)); };
    c.me.flush();
    c.connect(peer);
    if (bench == "remote_throughput") {
        long long senders = arg(0), total = arg(1);
        term sink = tuple("nodus_bench_sink"_a, peer);
        term payload = binary("0123456789abcdef0123456789abcdef");
        tp_run(c, sink, senders, 10000, payload);
        double s = tp_run(c, sink, senders, total, payload);
        print_sample({"nodus", bench, "msgs_per_s", static_cast<double>(total) / s, "msgs/s",
                      json::object({{"pair", pair}, {"senders", senders}, {"messages", total}, {"payload_bytes", 32}})});
    } else if (bench == "remote_latency") {
        long long warm = arg(0), n = arg(1);
        rtt_job job;
        job.echo = c.echo_pid(peer);
        job.warmup = warm;
        job.max = 0;
        rtt_run(c, job, 60s);
        job.warmup = 0;
        job.max = n;
        auto t0 = clock_type::now();
        auto us = rtt_run(c, job, 300s);
        double s = secs(t0, clock_type::now());
        json p = json::object({{"pair", pair}, {"round_trips", n}, {"warmup", warm}});
        emit_percentiles("nodus", "remote_latency", us, {"p50", "p99", "p99.9", "max"}, p);
        print_sample({"nodus", bench, "round_trips_per_s", static_cast<double>(n) / s, "round trips/s", p});
    } else if (bench == "large_msg") {
        long long size = arg(0), count = arg(1);
        term bin = pattern_binary(size);
        term bulk = tuple("nodus_bench_bulk"_a, peer);
        bulk_run(c, bulk, 1, bin);
        double s = bulk_run(c, bulk, count, bin);
        print_sample({"nodus", bench, "throughput", static_cast<double>(size * count) / s / 1e6, "MB/s",
                      json::object({{"pair", pair}, {"bytes", size}, {"count", count}})});
    } else if (bench == "hol_latency") {
        long long size = arg(0), count = arg(1), max = arg(2);
        term bin = pattern_binary(size);
        term bulk = tuple("nodus_bench_bulk"_a, peer);
        rtt_job job;
        job.echo = c.echo_pid(peer);
        job.warmup = 1000;
        rtt_run(c, job, 60s);  // warm-up first, as the Erlang side does
        job.warmup = 0;
        job.max = max;
        job.hol = true;
        job.deadline = clock_type::now() + 120s;
        std::vector<double> us;
        job.out = &us;
        job.report = c.me.self();
        pid lat = c.n.rt().spawn(rtt_process, job);
        c.n.rt().spawn(bulk_process, bulk, count, bin, lat, c.me.self());
        bool got_rtt = false, got_bulk = false;
        while (!got_rtt || !got_bulk) {
            term r = c.expect(
                [](const term& t) {
                    return client::is(t, "rtt_done"_a, 2) || client::is(t, "bulk_secs"_a, 2) ||
                           client::is(t, "failed"_a, 2);
                },
                180s, "hol_latency");
            if (r[0].is_atom("failed"_a)) throw std::runtime_error("hol_latency failed");
            (r[0].is_atom("rtt_done"_a) ? got_rtt : got_bulk) = true;
        }
        std::fprintf(stderr, "hol_latency %s: %zu round trips during the bulk transfer\n", pair.c_str(), us.size());
        emit_percentiles("nodus", "hol_latency", us, {"p50", "p99", "p99.9"},
                         json::object({{"pair", pair}, {"bulk_bytes", size}, {"bulk_count", count}}));
    } else {
        throw std::runtime_error("unknown benchmark " + bench);
    }
}

std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
        std::size_t j = line.find(' ', i);
        if (j == std::string::npos) j = line.size();
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

int dist_client(const std::vector<std::string>& args) {
    if (args.size() < 4) return 2;
    watchdog(std::chrono::seconds(3600));
    auto n = start_node(args[1], args[2], static_cast<std::uint16_t>(std::stoi(args[3])));
    int status = 0;
    {
        client c(*n);
        std::printf("ready\n");
        std::fflush(stdout);
        std::string line;
        while (std::getline(std::cin, line) && line != "quit") {
            try {
                measure(c, words(line));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "nodus dist_client: %s: %s\n", line.c_str(), e.what());
                status = 1;
                break;
            }
            std::printf("done\n");
            std::fflush(stdout);
        }
    }
    n.reset();
    return status;
}

// ---- raw TCP on loopback (child modes) -----------------------------------------------------------

struct tcp_pair {
    int client = -1, server = -1;
    tcp_pair() {
        int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1) != 0 ||
            ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("tcp: listen failed");
        client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("tcp: connect");
        server = ::accept(l, nullptr, nullptr);
        ::close(l);
        int one = 1;
        for (int fd : {client, server})
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~tcp_pair() {
        ::close(client);
        ::close(server);
    }
};

bool read_full(int fd, char* p, std::size_t n) {
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool write_full(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t r = ::write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// 64-byte round trips between two threads (the echo on the other).
int tcp_rtt(long long warm, long long n) {
    tcp_pair tp;
    std::thread echo([fd = tp.server] {
        char buf[64];
        while (read_full(fd, buf, sizeof buf) && write_full(fd, buf, sizeof buf)) {
        }
    });
    char buf[64] = {};
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    auto t_start = clock_type::now();
    for (long long i = 0; i < warm + n; ++i) {
        if (i == warm) t_start = clock_type::now();
        auto t0 = clock_type::now();
        if (!write_full(tp.client, buf, sizeof buf) || !read_full(tp.client, buf, sizeof buf)) return 1;
        if (i >= warm) us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    double s = secs(t_start, clock_type::now());
    ::shutdown(tp.client, SHUT_WR);
    echo.join();
    json p = json::object({{"pair", "tcp-loopback"}, {"round_trips", n}, {"bytes", 64}});
    emit_percentiles("machine", "remote_latency", us, {"p50", "p99", "p99.9", "max"}, p);
    print_sample({"machine", "remote_latency", "round_trips_per_s", static_cast<double>(n) / s, "round trips/s", p});
    return 0;
}

// total bytes in writes of `chunk` bytes from one thread, read by another (1 MiB reads).
int tcp_bw(long long total, long long chunk, const char* bench) {
    tcp_pair tp;
    std::vector<char> src(static_cast<std::size_t>(chunk), 'x');
    auto t0 = clock_type::now();
    std::thread writer([&] {
        for (long long sent = 0; sent < total; sent += chunk)
            if (!write_full(tp.client, src.data(), static_cast<std::size_t>(std::min(chunk, total - sent)))) return;
    });
    std::vector<char> dst(1 << 20);
    long long got = 0;
    while (got < total) {
        ssize_t r = ::read(tp.server, dst.data(), dst.size());
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    double s = secs(t0, clock_type::now());
    writer.join();
    if (got < total) return 1;
    print_sample({"machine", bench, "bandwidth", static_cast<double>(total) / s / 1e9, "GB/s",
                  json::object({{"pair", "tcp-loopback"}, {"bytes", total}, {"write_bytes", chunk}})});
    return 0;
}

// ---- the driver ------------------------------------------------------------------------------------

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("no free port");
    ::close(fd);
    return ntohs(a.sin_port);
}

// True when an epmd answers NAMES_REQ on the port (a bare connect would make it log a
// partial packet).
bool epmd_answers(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const char names_req[3] = {0, 1, 110};
    char reply[4];
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              write_full(fd, names_req, sizeof names_req) && read_full(fd, reply, sizeof reply);
    ::close(fd);
    return ok;
}

// Our own port mapper on a free port, loopback only; every node of a run uses it.
std::unique_ptr<child_process> start_epmd(std::uint16_t& port) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        port = free_port();
        auto epmd = std::make_unique<child_process>(
            std::vector<std::string>{"epmd", "-port", std::to_string(port), "-address", "127.0.0.1"});
        epmd->close_stdin();
        for (int i = 0; i < 250; ++i) {
            if (epmd_answers(port)) return epmd;
            std::this_thread::sleep_for(20ms);
        }
    }
    throw std::runtime_error("cannot start epmd");
}

// A child that prints "ready", then answers each command line with result lines and "done".
class session {
public:
    session(std::vector<std::string> argv, std::string what, std::chrono::seconds startup)
        : what_(std::move(what)), child_(std::move(argv)) {
        read_until("ready", steady::now() + startup);
    }
    std::vector<sample> request(const std::string& command, std::chrono::seconds timeout) {
        child_.write(command + "\n");
        return read_until("done", steady::now() + timeout);
    }
    // request() in two halves, so that several sessions can work at once.
    void send(const std::string& command) { child_.write(command + "\n"); }
    std::vector<sample> collect(steady::time_point deadline) { return read_until("done", deadline); }
    void finish() {
        if (!alive_) return;
        alive_ = false;
        try {
            child_.write("quit\n");
            child_.close_stdin();
        } catch (const std::exception&) {
        }
        auto deadline = steady::now() + 20s;
        while (auto line = child_.read_line(deadline))
            std::fprintf(stderr, "%s: %s\n", what_.c_str(), line->c_str());
        child_.wait(deadline);  // killed by PID at the deadline
    }
    bool alive() const noexcept { return alive_; }
    const std::string& what() const noexcept { return what_; }

private:
    std::vector<sample> read_until(std::string_view token, steady::time_point deadline) {
        std::vector<sample> out;
        while (auto line = child_.read_line(deadline)) {
            if (*line == token) return out;
            if (line->empty() || line->front() != '{') {
                std::fprintf(stderr, "%s: %s\n", what_.c_str(), line->c_str());
                continue;
            }
            std::string why;
            auto s = sample::from_json(*line, &why);
            if (!s) throw std::runtime_error(what_ + ": bad result line (" + why + "): " + *line);
            out.push_back(std::move(*s));
        }
        alive_ = false;
        child_.kill();
        throw std::runtime_error(what_ + (child_.timed_out() ? " ran past its time limit; killed"
                                                              : " ended before '" + std::string(token) + "'"));
    }

    std::string what_;
    child_process child_;
    bool alive_ = true;
};

struct pair_def {
    std::string name;    // nodus-nodus, nodus-erlang, erlang-erlang
    session* client;     // node A
    std::string server;  // node B's full name
};

class cluster {
public:
    explicit cluster(context& ctx) {
        static int counter = 0;
        std::string tag = std::to_string(::getpid()) + "_" + std::to_string(++counter);
        std::random_device rd;
        cookie_ = "nodus_bench_" + std::to_string(rd()) + std::to_string(rd());
        host_ = dist::local_host(dist::naming_mode::shortnames).short_host;
        epmd_ = start_epmd(epmd_port_);
        std::string ebin = ctx.erl.ebin().string();
        auto erl_argv = [&](const std::string& sname, const char* role) {
            return std::vector<std::string>{"env",      "ERL_EPMD_PORT=" + std::to_string(epmd_port_),
                                            "erl",      "-noshell",
                                            "-sname",   sname,
                                            "-setcookie", cookie_,
                                            "-start_epmd", "false",
                                            "-connect_all", "false",
                                            "-kernel",  "inet_dist_use_interface",
                                            "{127,0,0,1}",
                                            "-pa",      ebin,
                                            "-run",     "nodus_bench_erl",
                                            "main",     role};
        };
        auto nodus_argv = [&](const std::string& sname, const char* role) {
            return std::vector<std::string>{"/proc/self/exe", "--child", role, sname, cookie_,
                                            std::to_string(epmd_port_)};
        };
        std::string nb = "nbB_" + tag, eb = "ebB_" + tag, na = "nbA_" + tag, ea = "ebA_" + tag;
        nodus_b_ = std::make_unique<session>(nodus_argv(nb, "dist_server"), "nodus B", 30s);
        erl_b_ = std::make_unique<session>(erl_argv(eb, "dist_server"), "erl B", 60s);
        nodus_a_ = std::make_unique<session>(nodus_argv(na, "dist_client"), "nodus A", 30s);
        erl_a_ = std::make_unique<session>(erl_argv(ea, "dist_client"), "erl A", 60s);
        pairs_ = {{"nodus-nodus", nodus_a_.get(), nb + "@" + host_},
                  {"nodus-erlang", nodus_a_.get(), eb + "@" + host_},
                  {"erlang-erlang", erl_a_.get(), eb + "@" + host_}};
        // For experiments and profiling only: NODUS_BENCH_PAIRS=nodus-nodus,... keeps the named pairs.
        if (const char* only = std::getenv("NODUS_BENCH_PAIRS"); only && *only) {
            std::string keep = std::string(",") + only + ",";
            std::erase_if(pairs_, [&](const pair_def& p) { return keep.find("," + p.name + ",") == std::string::npos; });
        }
        std::fprintf(stderr, "nodus_bench: cluster on epmd port %u: nodus %s, %s; erl %s, %s (@%s)\n",
                     static_cast<unsigned>(epmd_port_), na.c_str(), nb.c_str(), ea.c_str(), eb.c_str(),
                     host_.c_str());
    }
    ~cluster() {
        // Clients first (they hold the connections), then the servers, then epmd; each by PID.
        for (session* s : {erl_a_.get(), nodus_a_.get(), erl_b_.get(), nodus_b_.get()})
            if (s) s->finish();
    }
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    // One measurement on one pair; failures are reported and leave that pair out.
    void measure(const pair_def& p, const std::string& bench, const std::string& args, std::chrono::seconds timeout,
                 std::vector<sample>& out) {
        if (!p.client->alive()) return;
        try {
            auto got = p.client->request("measure " + bench + " " + p.server + " " + p.name + " " + args, timeout);
            out.insert(out.end(), got.begin(), got.end());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "nodus_bench: %s on %s failed: %s\n", bench.c_str(), p.name.c_str(), e.what());
            failed_ = true;
        }
    }
    const std::vector<pair_def>& pairs() const noexcept { return pairs_; }
    bool failed() const noexcept { return failed_; }

private:
    std::string cookie_, host_;
    std::uint16_t epmd_port_ = 0;
    std::unique_ptr<child_process> epmd_;
    std::unique_ptr<session> nodus_b_, erl_b_, nodus_a_, erl_a_;
    std::vector<pair_def> pairs_;
    bool failed_ = false;
};

// A fresh `nodus_bench --child ARGS...` process; its result lines.
std::vector<sample> run_machine_child(const std::vector<std::string>& args, std::chrono::seconds timeout) {
    std::vector<std::string> argv{"/proc/self/exe", "--child"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process c(argv);
    c.close_stdin();
    std::vector<sample> out;
    auto deadline = steady::now() + timeout;
    while (auto line = c.read_line(deadline)) {
        if (line->empty() || (*line)[0] != '{') {
            std::fprintf(stderr, "%s\n", line->c_str());
            continue;
        }
        if (auto s = sample::from_json(*line)) out.push_back(std::move(*s));
    }
    int rc = c.wait(deadline);
    if (rc != 0 || c.timed_out()) throw std::runtime_error("raw TCP child failed (status " + std::to_string(rc) + ")");
    return out;
}

std::string key_of(const sample& s) { return s.system + "|" + s.bench + "|" + s.metric + "|" + s.params.dump(); }

// Median per (system, bench, metric, params) in first-seen order, with params.reps.
std::vector<sample> medians(const std::vector<sample>& all) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const sample*>> by;
    for (const sample& s : all) {
        auto k = key_of(s);
        if (!by.count(k)) order.push_back(k);
        by[k].push_back(&s);
    }
    std::vector<sample> out;
    for (const auto& k : order) {
        std::vector<double> v;
        for (const sample* s : by[k])
            v.push_back(s->value);
        sample m = *by[k].front();
        m.value = median(v);
        m.params.set("reps", static_cast<long long>(v.size()));
        out.push_back(std::move(m));
    }
    return out;
}

const sample* find_pair(const std::vector<sample>& v, const sample& like, std::string_view system,
                        std::string_view pair) {
    json p = like.params;
    p.set("pair", std::string(pair));
    return find_sample(v, system, like.bench, like.metric, p);
}

// For each erlang-erlang figure: nodus-nodus, erlang-erlang, ratio; nodus-erlang, ratio. Then the
// machine lines and whatever had no partner.
void report(context& ctx, const std::vector<sample>& all, const std::map<std::string, better>& lower_is_better,
            const char* title) {
    auto m = medians(all);
    std::vector<const sample*> done;
    auto used = [&](const sample* s) { return std::find(done.begin(), done.end(), s) != done.end(); };
    for (const sample& e : m) {
        if (e.system != "erlang") continue;
        better b = lower_is_better.count(e.metric) ? better::lower : better::higher;
        const sample* nn = find_pair(m, e, "nodus", "nodus-nodus");
        const sample* ne = find_pair(m, e, "nodus", "nodus-erlang");
        bool erl_printed = false;
        for (const sample* n : {nn, ne}) {
            if (!n) continue;
            ctx.out.compare(*n, e, b, !erl_printed);
            erl_printed = true;
            done.push_back(n);
        }
        if (!erl_printed) ctx.out.emit(e);
        done.push_back(&e);
    }
    for (const sample& s : m)
        if (!used(&s)) ctx.out.emit(s);
    ctx.out.print_table(title);
}

// The value of a median sample (nullopt when missing).
std::optional<double> value_of(const std::vector<sample>& m, std::string_view system, std::string_view bench,
                               std::string_view metric, std::string_view pair,
                               const std::function<bool(const json&)>& also = {}) {
    for (const sample& s : m) {
        const json* p = s.params.find("pair");
        if (s.system == system && s.bench == bench && s.metric == metric && p && p->is_string() &&
            p->string() == pair && (!also || also(s.params)))
            return s.value;
    }
    return std::nullopt;
}

void goal(const char* what, std::optional<double> v, double target, bool at_least) {
    if (!v) {
        std::fprintf(stderr, "  goal %-58s n/a\n", what);
        return;
    }
    bool met = at_least ? *v >= target : *v <= target;
    std::fprintf(stderr, "  goal %-58s %8.3g (%s %g) %s\n", what, *v, at_least ? ">=" : "<=", target,
                 met ? "met" : "NOT met");
}

std::optional<double> div(std::optional<double> a, std::optional<double> b) {
    if (!a || !b || *b == 0) return std::nullopt;
    return *a / *b;
}

int dist_reps(const context& ctx) { return std::clamp(ctx.reps, 1, 3); }

}  // namespace

int run_dist_child(const std::vector<std::string>& args) {
    if (args.empty()) return -1;
    const std::string& name = args[0];
    auto num = [&](std::size_t i, long long def) { return i < args.size() ? std::stoll(args[i]) : def; };
    try {
        if (name == "dist_server") return dist_server(args);
        if (name == "dist_client") return dist_client(args);
        if (name == "mesh_node") return mesh_node(args);
        if (name == "tcp_rtt") return tcp_rtt(num(1, lat_warmup), num(2, lat_round_trips));
        if (name == "tcp_bw")
            return tcp_bw(num(1, big_bytes * big_count), num(2, 1 << 20), args.size() > 3 ? args[3].c_str() : "large_msg");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nodus_bench --child %s: %s\n", name.c_str(), e.what());
        return 1;
    }
    return -1;
}

void run_remote_throughput(context& ctx) {
    cluster c(ctx);
    std::vector<sample> all;
    for (int rep = 0; rep < dist_reps(ctx); ++rep)
        for (long long senders : {1LL, 4LL})
            for (const pair_def& p : c.pairs())
                c.measure(p, "remote_throughput", std::to_string(senders) + " " + std::to_string(tp_messages), 300s,
                          all);
    report(ctx, all, {}, "remote_throughput");
    auto m = medians(all);
    for (long long senders : {1LL, 4LL}) {
        auto with = [senders](const json& p) {
            const json* s = p.find("senders");
            return s && s->number() == static_cast<double>(senders);
        };
        auto nn = value_of(m, "nodus", "remote_throughput", "msgs_per_s", "nodus-nodus", with);
        auto ne = value_of(m, "nodus", "remote_throughput", "msgs_per_s", "nodus-erlang", with);
        auto ee = value_of(m, "erlang", "remote_throughput", "msgs_per_s", "erlang-erlang", with);
        std::string s1 = "nodus-nodus / erlang-erlang msgs/s, senders " + std::to_string(senders);
        std::string s2 = "nodus-erlang / erlang-erlang msgs/s, senders " + std::to_string(senders);
        goal(s1.c_str(), div(nn, ee), 5, true);
        goal(s2.c_str(), div(ne, ee), 1, true);
    }
    if (c.failed()) throw std::runtime_error("some pairs failed (see above)");
}

void run_remote_latency(context& ctx) {
    cluster c(ctx);
    std::vector<sample> all;
    std::string args = std::to_string(lat_warmup) + " " + std::to_string(lat_round_trips);
    for (int rep = 0; rep < dist_reps(ctx); ++rep) {
        for (const pair_def& p : c.pairs())
            c.measure(p, "remote_latency", args, 300s, all);
        try {
            auto t = run_machine_child({"tcp_rtt", std::to_string(lat_warmup), std::to_string(lat_round_trips)}, 120s);
            all.insert(all.end(), t.begin(), t.end());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "nodus_bench: raw TCP round trips: %s\n", e.what());
        }
    }
    report(ctx, all, {{"p50", better::lower}, {"p99", better::lower}, {"p99.9", better::lower}, {"max", better::lower}},
           "remote_latency");
    auto m = medians(all);
    auto nn = value_of(m, "nodus", "remote_latency", "p50", "nodus-nodus");
    auto tcp = value_of(m, "machine", "remote_latency", "p50", "tcp-loopback");
    auto ne = value_of(m, "nodus", "remote_latency", "p50", "nodus-erlang");
    auto ee = value_of(m, "erlang", "remote_latency", "p50", "erlang-erlang");
    goal("nodus-nodus p50 / raw TCP p50", div(nn, tcp), 1.2, false);
    goal("nodus-erlang p50 / erlang-erlang p50", div(ne, ee), 1, false);
    if (c.failed()) throw std::runtime_error("some pairs failed (see above)");
}

void run_large_msg(context& ctx) {
    cluster c(ctx);
    std::vector<sample> all;
    std::string args = std::to_string(big_bytes) + " " + std::to_string(big_count);
    for (int rep = 0; rep < dist_reps(ctx); ++rep) {
        for (const pair_def& p : c.pairs())
            c.measure(p, "large_msg", args, 300s, all);
        try {
            auto t = run_machine_child({"tcp_bw", std::to_string(big_bytes * big_count), std::to_string(1 << 20)}, 120s);
            all.insert(all.end(), t.begin(), t.end());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "nodus_bench: raw TCP bandwidth: %s\n", e.what());
        }
    }
    report(ctx, all, {}, "large_msg");
    auto m = medians(all);
    auto nn = value_of(m, "nodus", "large_msg", "throughput", "nodus-nodus");
    auto tcp = value_of(m, "machine", "large_msg", "bandwidth", "tcp-loopback");
    auto ne = value_of(m, "nodus", "large_msg", "throughput", "nodus-erlang");
    auto ee = value_of(m, "erlang", "large_msg", "throughput", "erlang-erlang");
    goal("nodus-nodus MB/s / raw TCP MB/s (1 MiB writes)", div(nn, tcp ? std::optional(*tcp * 1000) : std::nullopt),
         0.8, true);
    goal("nodus-erlang / erlang-erlang MB/s", div(ne, ee), 1, true);
    if (c.failed()) throw std::runtime_error("some pairs failed (see above)");
}

void run_hol_latency(context& ctx) {
    cluster c(ctx);
    std::vector<sample> all;
    std::string args = std::to_string(big_bytes) + " " + std::to_string(big_count) + " " +
                       std::to_string(hol_max_round_trips);
    for (int rep = 0; rep < dist_reps(ctx); ++rep)
        for (const pair_def& p : c.pairs())
            c.measure(p, "hol_latency", args, 300s, all);
    report(ctx, all, {{"p50", better::lower}, {"p99", better::lower}, {"p99.9", better::lower}}, "hol_latency");
    auto m = medians(all);
    auto nn = value_of(m, "nodus", "hol_latency", "p99", "nodus-nodus");
    auto ne = value_of(m, "nodus", "hol_latency", "p99", "nodus-erlang");
    auto ee = value_of(m, "erlang", "hol_latency", "p99", "erlang-erlang");
    goal("nodus-nodus p99 (us)", nn, 1000, false);
    goal("nodus-erlang p99 / erlang-erlang p99", div(ne, ee), 1, false);
    if (c.failed()) throw std::runtime_error("some pairs failed (see above)");
}

// mesh (design/bench.md): N nodes (10, 20), nodus-only and erl-only, each told to connect to the
// first only; full_mesh_s is the time from the command until the last node lists all others
// (wall clock: the nodes are separate processes). Transitive connects come from global on both.
void run_mesh(context& ctx) {
    std::vector<sample> all;
    std::random_device rd;
    std::string cookie = "nodus_bench_" + std::to_string(rd()) + std::to_string(rd());
    std::string host = dist::local_host(dist::naming_mode::shortnames).short_host;
    std::string ebin = ctx.erl.ebin().string();
    static int counter = 0;
    bool failed = false;
    for (int rep = 0; rep < dist_reps(ctx); ++rep) {
        for (long long count : {10LL, 20LL}) {
            for (const char* system : {"nodus", "erlang"}) {
                std::uint16_t epmd_port = 0;
                auto epmd = start_epmd(epmd_port);
                std::string tag = std::to_string(::getpid()) + "_" + std::to_string(++counter);
                std::vector<std::unique_ptr<session>> nodes;
                std::vector<std::string> names;
                try {
                    for (long long i = 0; i < count; ++i) {
                        std::string sname = std::string(system[0] == 'n' ? "nm" : "em") + std::to_string(i) + "_" + tag;
                        names.push_back(sname + "@" + host);
                        std::vector<std::string> argv =
                            system[0] == 'n'
                                ? std::vector<std::string>{"/proc/self/exe", "--child", "mesh_node", sname, cookie,
                                                           std::to_string(epmd_port)}
                                : std::vector<std::string>{"env", "ERL_EPMD_PORT=" + std::to_string(epmd_port), "erl",
                                                           "-noshell", "-sname", sname, "-setcookie", cookie,
                                                           "-start_epmd", "false", "-kernel", "inet_dist_use_interface",
                                                           "{127,0,0,1}", "-pa", ebin, "-run", "nodus_bench_erl",
                                                           "main", "mesh_node"};
                        nodes.push_back(std::make_unique<session>(argv, std::string(system) + " mesh node " +
                                                                           std::to_string(i), 60s));
                    }
                    auto t0 = std::chrono::system_clock::now();
                    for (auto& n : nodes)
                        n->send("mesh " + names[0] + " " + std::to_string(count));
                    double last = 0;
                    std::size_t meshed = 0;
                    auto deadline = steady::now() + 90s;
                    for (auto& n : nodes) {
                        for (const sample& s : n->collect(deadline)) {
                            if (s.metric != "meshed_at") continue;
                            ++meshed;
                            last = std::max(last, s.value);
                        }
                    }
                    if (meshed < nodes.size()) throw std::runtime_error("not every node saw the full mesh");
                    double t0_us = static_cast<double>(
                        std::chrono::duration_cast<std::chrono::microseconds>(t0.time_since_epoch()).count());
                    all.push_back({system, "mesh", "full_mesh_s", (last - t0_us) / 1e6, "s",
                                   json::object({{"nodes", count}})});
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "nodus_bench: mesh of %lld %s nodes failed: %s\n", count, system, e.what());
                    failed = true;
                }
                for (auto& n : nodes)
                    n->finish();
            }
        }
    }
    auto m = medians(all);
    for (long long count : {10LL, 20LL}) {
        auto with = [count](const sample& s) {
            const json* p = s.params.find("nodes");
            return s.bench == "mesh" && p && p->number() == static_cast<double>(count);
        };
        const sample *n = nullptr, *e = nullptr;
        for (const sample& s : m) {
            if (!with(s)) continue;
            (s.system == "nodus" ? n : e) = &s;
        }
        if (n && e) ctx.out.compare(*n, *e, better::lower, true);
        else if (n) ctx.out.emit(*n);
        else if (e) ctx.out.emit(*e);
    }
    ctx.out.print_table("mesh");
    if (failed) throw std::runtime_error("some meshes failed (see above)");
}

}  // namespace nodus::bench

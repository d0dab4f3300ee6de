// Process runtime benchmarks: spawn, pingpong, ring, fanin, timers (design/bench.md).
//
// Both sides run each repetition in a fresh OS process, so that memory figures (RSS deltas)
// start from the same state: the BEAM side is `erl ... nodus_bench_erl main NAME`, the nodus
// side is this driver re-executed as `nodus_bench --child NAME ...`. The medians are reported.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "harness.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::bench {

using namespace nodus::literals;
using clock_type = std::chrono::steady_clock;

namespace {

long rss_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

double secs(clock_type::time_point a, clock_type::time_point b) { return std::chrono::duration<double>(b - a).count(); }

unsigned threads() { return std::max(1u, std::thread::hardware_concurrency()); }

json params_n(long long n) { return json::object({{"n", n}, {"threads", threads()}}); }

void print(const char* bench, const char* metric, double value, const char* unit, json params) {
    sample s{"nodus", bench, metric, value, unit, std::move(params)};
    std::printf("%s\n", s.to_json().c_str());
    std::fflush(stdout);
}

// ---- nodus side (child mode) -------------------------------------------------------------------

task<> waiter() { co_await receive(pat::tuple("never"_a)); }

task<> spawner(pid report, long long n) {
    for (long long i = 0; i < n; ++i) spawn(waiter);
    send(report, "spawned"_a);
    co_return;
}

void child_spawn(long long n) {
    runtime rt;
    scoped_process me(rt);
    long r0 = rss_kb();
    auto t0 = clock_type::now();
    rt.spawn(spawner, me.self(), n);
    me.receive();
    auto t1 = clock_type::now();
    // Let every new process run once and park in its receive, then measure memory.
    while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        long a = rss_kb();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (rss_kb() == a) break;
    }
    long r1 = rss_kb();
    print("spawn", "us_per_spawn", secs(t0, t1) * 1e6 / static_cast<double>(n), "us", params_n(n));
    print("spawn", "bytes_per_process", static_cast<double>(r1 - r0) * 1024.0 / static_cast<double>(n), "B",
          params_n(n));
    std::fflush(stdout);
    std::_Exit(0);  // stopping a million processes is not part of the measurement
}

task<> pong() {
    for (;;) {
        var<pid> from;
        var<std::int64_t> i;
        co_await receive(pat::tuple("ping"_a, from, i));
        send(*from, tuple("pong"_a, *i));
    }
}

task<> ping(pid p, pid report, long long n) {
    pid me = self();
    for (long long i = 0; i < n; ++i) {
        send(p, tuple("ping"_a, me, i));
        co_await receive(pat::tuple("pong"_a, pat::_));
    }
    send(report, "done"_a);
}

void child_pingpong(long long n) {
    runtime rt;
    scoped_process me(rt);
    pid p = rt.spawn(pong);
    auto t0 = clock_type::now();
    rt.spawn(ping, p, me.self(), n);
    me.receive();
    auto t1 = clock_type::now();
    print("pingpong", "round_trips_per_s", static_cast<double>(n) / secs(t0, t1), "round trips/s",
          json::object({{"round_trips", n}, {"threads", threads()}}));
    std::_Exit(0);
}

// Ring: each process forwards {token, K} to the next with K-1; at 0 it reports.
task<> ring_node(pid report) {
    var<pid> next_pid;
    co_await receive(pat::tuple("next"_a, next_pid));
    pid next = *next_pid;
    for (;;) {
        var<std::int64_t> k;
        co_await receive(pat::tuple("token"_a, k));
        if (*k == 0) {
            send(report, "done"_a);
        } else {
            send(next, tuple("token"_a, *k - 1));
        }
    }
}

void child_ring(long long n, long long hops) {
    runtime rt;
    scoped_process me(rt);
    std::vector<pid> ring;
    for (long long i = 0; i < n; ++i) ring.push_back(rt.spawn(ring_node, me.self()));
    for (long long i = 0; i < n; ++i) rt.send(ring[i], tuple("next"_a, ring[(i + 1) % n]));
    auto t0 = clock_type::now();
    rt.send(ring[0], tuple("token"_a, hops));
    me.receive();
    auto t1 = clock_type::now();
    print("ring", "hops_per_s", static_cast<double>(hops) / secs(t0, t1), "hops/s",
          json::object({{"processes", n}, {"hops", hops}, {"threads", threads()}}));
    std::_Exit(0);
}

task<> fan_receiver(pid report, long long total) {
    for (long long i = 0; i < total; ++i) co_await receive();
    send(report, "done"_a);
}

task<> fan_sender(pid to, long long count) {
    for (long long i = 0; i < count; ++i) co_await send(to, i);
}

void child_fanin(long long senders, long long total) {
    runtime rt;
    scoped_process me(rt);
    pid r = rt.spawn(fan_receiver, me.self(), total);
    auto t0 = clock_type::now();
    for (long long s = 0; s < senders; ++s) rt.spawn(fan_sender, r, total / senders);
    me.receive();
    auto t1 = clock_type::now();
    print("fanin", "msgs_per_s", static_cast<double>(total) / secs(t0, t1), "msgs/s",
          json::object({{"senders", senders}, {"messages", total}, {"threads", threads()}}));
    std::_Exit(0);
}

task<> timer_process(pid collector, std::int64_t after_ms) {
    co_await receive(pat::tuple("never"_a)).after(std::chrono::milliseconds(after_ms));
    send(collector, "fired"_a);
}

task<> timer_collector(pid report, long long n) {
    for (long long i = 0; i < n; ++i) co_await receive();
    send(report, "all_fired"_a);
}

task<> timer_spawner(pid report, pid collector, long long n, std::int64_t after_ms) {
    for (long long i = 0; i < n; ++i) spawn(timer_process, collector, after_ms);
    send(report, "armed"_a);
    co_return;
}

void child_timers(long long n, long long after_ms) {
    runtime rt;
    scoped_process me(rt);
    long r0 = rss_kb();
    auto t0 = clock_type::now();
    pid collector = rt.spawn(timer_collector, me.self(), n);
    rt.spawn(timer_spawner, me.self(), collector, n, after_ms);
    me.receive_match("armed"_a);
    long r1 = rss_kb();
    me.receive_match("all_fired"_a);
    auto t1 = clock_type::now();
    double overhead = secs(t0, t1) - static_cast<double>(after_ms) / 1000.0;
    json p = json::object({{"n", n}, {"after_ms", after_ms}, {"threads", threads()}});
    print("timers", "us_per_timer", overhead * 1e6 / static_cast<double>(n), "us", p);
    print("timers", "bytes_per_timer", static_cast<double>(r1 - r0) * 1024.0 / static_cast<double>(n), "B", p);
    std::_Exit(0);
}

// ---- driver --------------------------------------------------------------------------------------

std::vector<sample> parse_lines(child_process& c, std::chrono::seconds timeout) {
    std::vector<sample> out;
    auto deadline = steady::now() + timeout;
    while (auto line = c.read_line(deadline)) {
        if (line->empty() || (*line)[0] != '{') {
            std::fprintf(stderr, "%s\n", line->c_str());
            continue;
        }
        std::string err;
        auto s = sample::from_json(*line, &err);
        if (!s) throw std::runtime_error("bad result line from child: " + err);
        out.push_back(std::move(*s));
    }
    if (c.timed_out()) throw std::runtime_error("child timed out");
    int status = c.wait(deadline);
    if (status != 0) throw std::runtime_error("child exited with status " + std::to_string(status));
    return out;
}

std::vector<sample> run_nodus_child(const std::vector<std::string>& args, std::chrono::seconds timeout) {
    std::vector<std::string> argv{"/proc/self/exe", "--child"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process c(argv);
    return parse_lines(c, timeout);
}

// Median of each metric over reps runs of f().
std::vector<sample> medians(int reps, const std::function<std::vector<sample>()>& f) {
    std::map<std::string, std::vector<sample>> by_metric;
    std::vector<std::string> order;
    for (int i = 0; i < reps; ++i) {
        for (auto& s : f()) {
            if (!by_metric.count(s.metric)) order.push_back(s.metric);
            by_metric[s.metric].push_back(s);
        }
    }
    std::vector<sample> out;
    for (auto& m : order) {
        auto& v = by_metric[m];
        std::vector<double> values;
        for (auto& s : v) values.push_back(s.value);
        sample s = v.front();
        s.value = median(values);
        s.params.set("reps", static_cast<long long>(v.size()));
        out.push_back(s);
    }
    return out;
}

void compare_all(context& ctx, const std::vector<sample>& nodus, const std::vector<sample>& erl,
                 const std::map<std::string, better>& orientation) {
    for (const sample& n : nodus) {
        const sample* e = find_sample(erl, "erlang", n.bench, n.metric, n.params);
        auto it = orientation.find(n.metric);
        better b = it == orientation.end() ? better::higher : it->second;
        if (e) ctx.out.compare(n, *e, b);
        else ctx.out.emit(n);
    }
}

void run_pair(context& ctx, const char* name, const std::vector<std::string>& args,
              const std::map<std::string, better>& orientation, std::chrono::seconds timeout, int reps,
              std::vector<std::string> erl_flags = {}) {
    std::vector<std::string> child_args{name};
    child_args.insert(child_args.end(), args.begin(), args.end());
    auto erl = medians(reps, [&] { return ctx.erl.run(name, args, timeout, erl_flags); });
    auto nodus = medians(reps, [&] { return run_nodus_child(child_args, timeout); });
    compare_all(ctx, nodus, erl, orientation);
    ctx.out.print_table(name);
}

}  // namespace

int run_runtime_child(const std::vector<std::string>& args) {
    if (args.empty()) return 2;
    auto num = [&](std::size_t i, long long def) { return i < args.size() ? std::stoll(args[i]) : def; };
    const std::string& name = args[0];
    if (name == "spawn") child_spawn(num(1, 1000000));
    else if (name == "pingpong") child_pingpong(num(1, 2000000));
    else if (name == "ring") child_ring(num(1, 1000), num(2, 1000000));
    else if (name == "fanin") child_fanin(num(1, 1000), num(2, 10000000));
    else if (name == "timers") child_timers(num(1, 1000000), num(2, 2000));
    return 2;
}

void run_spawn(context& ctx) {
    run_pair(ctx, "spawn", {"1000000"}, {{"us_per_spawn", better::lower}, {"bytes_per_process", better::lower}},
             std::chrono::seconds(300), std::min(ctx.reps, 3), {"+P", "4000000"});
}
void run_pingpong(context& ctx) {
    run_pair(ctx, "pingpong", {"2000000"}, {}, std::chrono::seconds(300), std::min(ctx.reps, 3));
}
void run_ring(context& ctx) {
    run_pair(ctx, "ring", {"1000", "1000000"}, {}, std::chrono::seconds(300), std::min(ctx.reps, 3));
}
void run_fanin(context& ctx) {
    run_pair(ctx, "fanin", {"1000", "10000000"}, {}, std::chrono::seconds(600), std::min(ctx.reps, 3));
}
void run_timers(context& ctx) {
    run_pair(ctx, "timers", {"1000000", "2000"}, {{"us_per_timer", better::lower}, {"bytes_per_timer", better::lower}},
             std::chrono::seconds(300), std::min(ctx.reps, 3), {"+P", "4000000"});
}

}  // namespace nodus::bench

// nodus_bench [--reps N] [NAME...]: runs the named benchmarks (all when none is named), each on
// nodus and on the BEAM in this one invocation. Result lines (JSON) go to stdout, tables and
// progress to stderr (design/bench.md).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace nodus::bench {

// Adding a benchmark: write run_NAME(context&) in bench/NAME.cpp (declared in harness.hpp), add
// its clause to bench/erl/nodus_bench_erl.erl, add the file to bench/CMakeLists.txt and a line here.
const std::vector<benchmark>& registry() {
    static const std::vector<benchmark> all{
        {"etf", "encode/decode throughput of term mixes vs term_to_binary/binary_to_term", run_etf},
        {"spawn", "1,000,000 processes waiting in receive: time per spawn, bytes per process", run_spawn},
        {"pingpong", "2 processes, 2,000,000 round trips of {ping, Self, I} / {pong, I}", run_pingpong},
        {"ring", "1,000 processes passing a token 1,000,000 hops", run_ring},
        {"fanin", "1,000 senders, one receiver, 10,000,000 messages", run_fanin},
        {"timers", "1,000,000 pending receive timeouts armed, then fired", run_timers},
        {"remote_throughput", "1,000,000 {msg, I, <<32 bytes>>} to a registered process on another node (1, 4 senders)",
         run_remote_throughput},
        {"remote_latency", "100,000 sequential round trips to an echo process on another node", run_remote_latency},
        {"large_msg", "a 64 MiB binary sent 10 times to another node", run_large_msg},
        {"hol_latency", "small round trips while 10 x 64 MiB binaries stream over the same node pair", run_hol_latency},
        {"mesh", "10 and 20 nodes each told to connect to the first: time to the full mesh", run_mesh},
    };
    return all;
}

namespace {

std::filesystem::path erl_source_dir() {
    if (const char* d = std::getenv("NODUS_BENCH_ERL_DIR"); d && *d) return d;
    return NODUS_BENCH_ERL_DIR;
}

// The 1-minute load average, or -1 when unknown.
double load_average() {
    double load = -1;
    if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &load) != 1) load = -1;
        std::fclose(f);
    }
    return load;
}

// Shared machines are noisy: say how busy this one is when a run starts and ends.
void report_load(const char* when) {
    double load = load_average();
    unsigned cpus = std::thread::hardware_concurrency();
    std::fprintf(
        stderr, "nodus_bench: %s: load average %.2f on %u CPUs%s\n", when, load, cpus,
        load > 0.5 * cpus ? " -- busy machine: the figures are unreliable (the BEAM suffers more)" : "");
}

std::string known_names() {
    std::string s;
    for (const benchmark& b : registry())
        s += (s.empty() ? "" : ", ") + std::string(b.name);
    return s;
}

void usage(std::FILE* to) {
    std::fprintf(to, "usage: nodus_bench [--reps N] [--list] [NAME...]\n  benchmarks:\n");
    for (const benchmark& b : registry())
        std::fprintf(to, "    %-18.*s %.*s\n", static_cast<int>(b.name.size()), b.name.data(),
                     static_cast<int>(b.summary.size()), b.summary.data());
}

int main_impl(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "--child") {
        std::vector<std::string> args(argv + 2, argv + argc);
        int rc = run_dist_child(args);
        return rc >= 0 ? rc : run_runtime_child(args);
    }
    int reps = 5;
    std::vector<const benchmark*> chosen;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        }
        if (a == "--list") {
            for (const benchmark& b : registry())
                std::printf("%.*s\n", static_cast<int>(b.name.size()), b.name.data());
            return 0;
        }
        if (a == "--reps" && i + 1 < argc) {
            reps = std::atoi(argv[++i]);
            if (reps < 1 || reps > 101) {
                std::fprintf(stderr, "nodus_bench: --reps must be 1..101\n");
                return 1;
            }
            continue;
        }
        const benchmark* found = nullptr;
        for (const benchmark& b : registry())
            if (b.name == a) found = &b;
        if (!found) {
            std::fprintf(stderr, "nodus_bench: unknown benchmark '%s'; known: %s\n", argv[i],
                         known_names().c_str());
            return 1;
        }
        chosen.push_back(found);
    }
    if (chosen.empty())
        for (const benchmark& b : registry())
            chosen.push_back(&b);

    temp_dir tmp;
    install_cleanup_on_signals(tmp.path());
    erl_runner erl(erl_source_dir(), tmp.path());
    reporter out;
    std::fprintf(stderr, "nodus_bench: %s; %d reps per measurement, medians reported\n",
                 erl.version().c_str(), reps);

    report_load("start");
    int failed = 0;
    for (const benchmark* b : chosen) {
        std::filesystem::path dir = tmp.path() / std::string(b->name);
        std::filesystem::create_directories(dir);
        context ctx{dir, erl, out, reps};
        try {
            b->run(ctx);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "nodus_bench: %.*s failed: %s\n", static_cast<int>(b->name.size()),
                         b->name.data(), e.what());
            ++failed;
        }
    }
    report_load("end");
    return failed ? 1 : 0;
}

}  // namespace
}  // namespace nodus::bench

int main(int argc, char** argv) {
    try {
        return nodus::bench::main_impl(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nodus_bench: %s\n", e.what());
        return 1;
    }
}

// The benchmark harness: result lines, their JSON form, ratios, the stderr table, timing, and
// the BEAM side (an Erlang module run in a child `erl` that prints its own result lines).
//
// A benchmark is a function run(context&) listed in main.cpp. It does its work on nodus, runs
// the same work on the BEAM through ctx.erl, and hands each pair of samples to ctx.out.compare().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nodus::bench {

// ---- JSON (just what our lines need) ----------------------------------------------------------

class json {
public:
    enum class kind : std::uint8_t { null, boolean, number, string, array, object };

    json() = default;
    json(bool b) : kind_(kind::boolean), bool_(b) {}                  // NOLINT
    json(double v) : kind_(kind::number), num_(v) {}                  // NOLINT
    json(int v) : json(static_cast<double>(v)) {}                     // NOLINT
    json(long v) : json(static_cast<double>(v)) {}                    // NOLINT
    json(long long v) : json(static_cast<double>(v)) {}               // NOLINT
    json(unsigned v) : json(static_cast<double>(v)) {}                // NOLINT
    json(unsigned long v) : json(static_cast<double>(v)) {}           // NOLINT
    json(unsigned long long v) : json(static_cast<double>(v)) {}      // NOLINT
    json(std::string s) : kind_(kind::string), str_(std::move(s)) {}  // NOLINT
    json(std::string_view s) : json(std::string(s)) {}                // NOLINT
    json(const char* s) : json(std::string(s)) {}                     // NOLINT
    static json array() { return json(kind::array); }
    static json object() { return json(kind::object); }
    // An object from key/value pairs, in this order.
    static json object(std::initializer_list<std::pair<std::string_view, json>> members);

    kind type() const noexcept { return kind_; }
    bool is_number() const noexcept { return kind_ == kind::number; }
    bool is_string() const noexcept { return kind_ == kind::string; }
    bool is_object() const noexcept { return kind_ == kind::object; }
    double number() const noexcept { return num_; }
    const std::string& string() const noexcept { return str_; }
    bool boolean() const noexcept { return bool_; }

    // Arrays and objects: items (for objects, items[i] is the value of keys[i]).
    const std::vector<json>& items() const noexcept { return items_; }
    const std::vector<std::string>& keys() const noexcept { return keys_; }
    void push_back(json v) { items_.push_back(std::move(v)); }
    // Objects: sets a member (replacing an existing one, else appending: order is kept).
    void set(std::string_view key, json v);
    const json* find(std::string_view key) const noexcept;

    // Compact text; numbers as format_number() writes them.
    std::string dump() const;
    // Parses one JSON value (the whole text, surrounding white space allowed).
    static std::optional<json> parse(std::string_view text, std::string* error = nullptr);

    friend bool operator==(const json& a, const json& b) noexcept;

private:
    explicit json(kind k) : kind_(k) {}
    void dump_to(std::string& out) const;

    kind kind_ = kind::null;
    bool bool_ = false;
    double num_ = 0;
    std::string str_;
    std::vector<std::string> keys_;
    std::vector<json> items_;
};

// Integers as integers; other values with 4 significant digits, never in exponent form
// (812.3, 0.4132, 2.134, 1503210).
std::string format_number(double v);

// ---- results ----------------------------------------------------------------------------------

// One line of output: {"system":...,"bench":...,"metric":...,"value":...,"unit":...,"params":{...}}.
struct sample {
    std::string system;  // nodus, erlang or machine
    std::string bench;
    std::string metric;
    double value = 0;
    std::string unit;
    json params = json::object();

    std::string to_json() const;
    static std::optional<sample> from_json(std::string_view line, std::string* error = nullptr);
};

// The erlang sample with this bench, metric and params among `samples` (nullptr if none).
const sample* find_sample(const std::vector<sample>& samples, std::string_view system, std::string_view bench,
                          std::string_view metric, const json& params);

enum class better : std::uint8_t { higher, lower };

// Writes result lines to stdout (flushed per line) and keeps the rows of the current benchmark
// for a human-readable table on stderr.
class reporter {
public:
    // Any single line (a machine limit, a nodus-only figure).
    void emit(const sample& s);
    // A nodus sample and the erlang sample for the same metric and params: prints both, then
    // ratio_<metric> (nodus, unit "x"), oriented so that above 1 means nodus is better. Without
    // print_erlang the erlang line is left out (already printed: several nodus figures compared
    // with one erlang figure, as the remote benchmarks' pairs are).
    void compare(const sample& nodus, const sample& erlang, better b, bool print_erlang = true);
    // Prints the rows gathered since the last call as a table on stderr, then forgets them.
    void print_table(std::string_view title);

private:
    struct row {
        sample nodus;
        std::optional<double> erlang;
        std::optional<double> ratio;
    };
    std::vector<row> rows_;
};

// ---- timing -----------------------------------------------------------------------------------

using steady = std::chrono::steady_clock;

template <class F>
double seconds_of(F&& f) {
    auto t0 = steady::now();
    f();
    auto t1 = steady::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

// Median (the upper one for an even count); the input is copied.
double median(std::vector<double> v);

// Runs f once untimed (warm-up), then reps times; returns the median wall time in seconds.
template <class F>
double median_seconds(int reps, F&& f) {
    f();
    std::vector<double> times;
    times.reserve(static_cast<std::size_t>(reps));
    for (int i = 0; i < reps; ++i)
        times.push_back(seconds_of(f));
    return median(std::move(times));
}

// ---- child processes --------------------------------------------------------------------------

// A child process with stdin and stdout on pipes (stderr is ours). Stopped (SIGKILL to its PID
// and to its direct children's, e.g. erl's erl_child_setup; then reaped) when destroyed while
// still running; signals that end the driver also stop it (see install_cleanup_on_signals).
class child_process {
public:
    // Starts argv[0] (searched in PATH). Throws std::runtime_error when it cannot be started.
    explicit child_process(std::vector<std::string> argv);
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process();

    pid_t pid() const noexcept { return pid_; }
    // The next line of its stdout without the newline; nullopt at end of output or when the
    // deadline passes first (then timed_out() is true).
    std::optional<std::string> read_line(steady::time_point deadline);
    bool timed_out() const noexcept { return timed_out_; }
    // Writes to its stdin (blocking); close_stdin() sends end of file.
    void write(std::string_view text);
    void close_stdin();
    // Waits for it to exit; at the deadline it is killed. Returns the exit status, or 128 + the
    // signal that ended it.
    int wait(steady::time_point deadline);
    // SIGKILL by PID (it and its direct children) and reap; no-op when it has exited.
    void kill();

private:
    pid_t pid_ = -1;
    int out_fd_ = -1;
    int in_fd_ = -1;
    bool exited_ = false;
    int status_ = 0;
    bool timed_out_ = false;
    std::string buf_;
};

// On SIGINT, SIGTERM or SIGHUP: kill the running children by PID, remove the temporary
// directory, exit 128 + signal. Call once from main before starting any thread or child.
void install_cleanup_on_signals(const std::filesystem::path& temp_dir);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when destroyed.
class temp_dir {
public:
    temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir();
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// ---- the BEAM side ----------------------------------------------------------------------------

// Compiles bench/erl/*.erl (once, into a directory under the temp dir) and runs
//     erl -noshell -pa EBIN -run nodus_bench_erl main BENCH ARGS...
class erl_runner {
public:
    erl_runner(std::filesystem::path source_dir, std::filesystem::path work_dir);

    // Starts the BEAM side of `bench` and returns at once (for benchmarks that interact with
    // it). extra_flags go before -run (e.g. "+S", "1").
    child_process start(std::string_view bench, const std::vector<std::string>& args,
                        const std::vector<std::string>& extra_flags = {});
    // Runs it to completion and returns the result lines it printed; other stdout lines are
    // copied to stderr. Throws std::runtime_error on a non-zero exit, a bad result line, or
    // when it runs past the timeout (it is then killed).
    std::vector<sample> run(std::string_view bench, const std::vector<std::string>& args,
                            std::chrono::seconds timeout, const std::vector<std::string>& extra_flags = {});
    // "OTP 25, erts 13.1.5" (asked once).
    const std::string& version();
    // The directory of the compiled module (compiled on first use), for benchmarks that start
    // erl themselves (the distribution benchmarks: -sname, -setcookie, their own port mapper).
    const std::filesystem::path& ebin();

private:
    std::filesystem::path source_dir_;
    std::filesystem::path work_dir_;
    std::filesystem::path ebin_;
    std::string version_;
};

// A BEAM side that serves requests, so that both sides measure in turn and see the same machine
// load (these machines are shared and noisy). The Erlang side calls serve/1 in
// nodus_bench_erl.erl: it prints "ready", then for each command line it reads on stdin runs the
// command, prints its result lines and "done"; "quit" (or end of input) ends it.
class erl_session {
public:
    // Starts it and waits for "ready" (setup such as generating data happens before).
    erl_session(erl_runner& runner, std::string_view bench, const std::vector<std::string>& args,
                std::chrono::seconds timeout, const std::vector<std::string>& extra_flags = {});
    // Sends one command and returns the result lines printed before "done".
    std::vector<sample> request(std::string_view command);
    // Sends "quit" and waits for a clean exit (throws otherwise).
    void finish();

private:
    // Reads until a line equal to `token`; result lines are returned, other lines go to stderr.
    std::vector<sample> read_until(std::string_view token);

    std::string bench_;
    steady::time_point deadline_;
    child_process child_;
};

// ---- benchmarks -------------------------------------------------------------------------------

struct context {
    std::filesystem::path work_dir;  // a fresh directory for this benchmark (removed at exit)
    erl_runner& erl;
    reporter& out;
    int reps = 5;  // repetitions on each side; the median is reported
};

struct benchmark {
    std::string_view name;
    std::string_view summary;
    void (*run)(context&);
};

// The benchmarks, in the order `bench/run` runs them (main.cpp).
const std::vector<benchmark>& registry();

// The benchmarks themselves (one file each).
void run_etf(context& ctx);
void run_spawn(context& ctx);
void run_pingpong(context& ctx);
void run_ring(context& ctx);
void run_fanin(context& ctx);
void run_timers(context& ctx);
void run_remote_throughput(context& ctx);
void run_remote_latency(context& ctx);
void run_large_msg(context& ctx);
void run_hol_latency(context& ctx);
void run_mesh(context& ctx);
// `nodus_bench --child NAME ARGS...`: one repetition of a runtime benchmark in a fresh process.
int run_runtime_child(const std::vector<std::string>& args);
// `nodus_bench --child dist_server|dist_client|tcp_rtt|tcp_bw ...` (bench/dist.cpp): a node or a
// raw TCP measurement of the distribution benchmarks; -1 when NAME is not one of them.
int run_dist_child(const std::vector<std::string>& args);

}  // namespace nodus::bench

// child_process: a program started by a test, with pipes to its stdin and stdout (and
// optionally stderr), read with timeouts. The destructor stops the child by its PID (SIGTERM,
// then SIGKILL after a grace period) and reaps it, so a failing test never leaves a process
// behind. Used to run real `erl` nodes for golden and interop tests.
//
// Every blocking call keeps draining all of the child's output pipes and feeding its stdin, so
// a child that writes a lot while we write to it (or while we wait for it) cannot deadlock.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nodus::test {

using namespace std::chrono_literals;
using duration = std::chrono::milliseconds;

enum class stderr_mode : std::uint8_t {
    capture,  // a pipe; read with stderr_text()
    merge,    // into the stdout pipe (2>&1)
    inherit,  // the test's own stderr (visible in the test log)
    discard,  // /dev/null
};

struct spawn_options {
    // argv[0] is the program: a path, or a name looked up on PATH.
    std::vector<std::string> argv;
    // Variables set (or replaced) in the child's environment; the rest is inherited.
    std::vector<std::pair<std::string, std::string>> env;
    // Variables removed from the child's environment.
    std::vector<std::string> unset_env;
    stderr_mode err = stderr_mode::capture;
    // Working directory of the child; empty: the test's.
    std::string cwd;
};

// How a child ended: exit code, or the signal that killed it.
struct exit_status {
    int code = -1;   // valid when signal == 0
    int signal = 0;  // non-zero when killed by a signal
    bool ok() const noexcept { return signal == 0 && code == 0; }
    std::string describe() const;
};

class child_process {
  public:
    // Starts the program. Throws std::runtime_error (with the reason) when it cannot start,
    // including when argv[0] is not found.
    explicit child_process(const spawn_options& opts);
    // Stops the child if it still runs (stop()), then reaps it.
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    const std::vector<std::string>& argv() const noexcept { return argv_; }

    // ---- stdin ----
    // Writes all of data (draining the child's output meanwhile). False when the child closed
    // its stdin or the timeout passed first.
    bool write(std::string_view data, duration timeout = 60s);
    // Closes the child's stdin (it sees end of file). Pending data is dropped.
    void close_stdin() noexcept;

    // ---- stdout ----
    // The next line without its '\n' (a last line without '\n' is returned at end of file).
    // nullopt when the timeout passes first or at end of file (see stdout_closed()).
    std::optional<std::string> read_line(duration timeout = 60s);
    // Everything until end of file, or what arrived when the timeout passed.
    std::string read_all(duration timeout = 60s);
    // Output received so far and not yet consumed by read_line/read_all.
    std::string_view pending_stdout() const noexcept;
    bool stdout_closed() const noexcept { return out_fd_ < 0; }

    // ---- stderr (stderr_mode::capture) ----
    // Everything the child wrote to stderr so far (drains the pipe first).
    const std::string& stderr_text();

    // ---- lifetime ----
    // Waits for the child to exit (draining its output meanwhile). nullopt on timeout.
    std::optional<exit_status> wait(duration timeout = 60s);
    // Whether the child has not exited yet.
    bool running();
    // Sends a signal to the child (by PID; never to a group). No-op once reaped.
    void signal(int sig) noexcept;
    // SIGTERM, up to grace for it to exit, then SIGKILL; reaps and returns how it ended.
    exit_status stop(duration grace = 3s);

  private:
    using clock = std::chrono::steady_clock;
    // Moves data between the pipes until done() is true or the deadline passes; returns done().
    template <class Done>
    bool pump(clock::time_point deadline, Done done);
    // One round of poll; false when nothing is open any more.
    bool pump_once(int timeout_ms);
    bool try_reap() noexcept;
    void read_from(int& fd, std::string& into) noexcept;
    void close_fd(int& fd) noexcept;

    pid_t pid_ = -1;
    std::vector<std::string> argv_;
    int in_fd_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::string out_buf_;
    std::size_t out_pos_ = 0;  // consumed prefix of out_buf_
    std::string err_buf_;
    std::string in_buf_;  // written to stdin as the pipe accepts it
    std::size_t in_pos_ = 0;
    std::optional<exit_status> status_;
};

// The full path of an executable found on PATH (or the name itself when it contains a '/'
// and is executable); nullopt when there is none.
std::optional<std::string> find_program(std::string_view name);

// ---- erl ----

// The `erl` executable to use: $NODUS_ERL when set, else `erl` on PATH; nullopt when missing.
std::optional<std::string> find_erl();
// Whether a missing erl may skip a test instead of failing it: only when the developer asks
// with NODUS_SKIP_WITHOUT_ERL=1. CI never sets it, so there a missing erl is a failure.
bool may_skip_without_erl() noexcept;
// The message for a missing erl.
std::string missing_erl_message();

struct erl_options {
    std::vector<std::string> args;  // extra arguments before -eval
    std::string sname;              // -sname when not empty (starts distribution)
    std::string cookie;             // -setcookie when not empty
    std::string eval;               // -eval expression when not empty
    stderr_mode err = stderr_mode::capture;
    std::vector<std::pair<std::string, std::string>> env;
};

// spawn_options for `erl -noshell [-sname S] [-setcookie C] args... [-eval E]`. The child never
// writes a crash dump into the working directory.
spawn_options erl_command(const std::string& erl, const erl_options& opts);
// Starts erl (throws std::runtime_error when it cannot start).
std::unique_ptr<child_process> start_erl(const std::string& erl, const erl_options& opts);

}  // namespace nodus::test

// In a test body (or a function returning void): declares `std::string var` holding the erl
// path, or ends the test: a failure, or a skip only when NODUS_SKIP_WITHOUT_ERL=1.
#define NODUS_REQUIRE_ERL(var)                                \
    std::string var;                                          \
    if (auto nodus_erl_found_ = ::nodus::test::find_erl()) {  \
        var = *nodus_erl_found_;                              \
    } else if (::nodus::test::may_skip_without_erl()) {       \
        GTEST_SKIP() << ::nodus::test::missing_erl_message(); \
    } else {                                                  \
        FAIL() << ::nodus::test::missing_erl_message();       \
    }

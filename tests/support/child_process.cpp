#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace nodus::test {

namespace {

[[noreturn]] void fail_errno(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + std::strerror(err));
}

// A pipe whose ends are close-on-exec and above the standard descriptors: posix_spawn's dup2
// onto 0/1/2 then never meets an end that already is 0/1/2 (where dup2 would be a no-op and
// close-on-exec would stay set).
void make_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe2", errno);
    for (int i = 0; i < 2; ++i) {
        if (fds[i] > 2) continue;
        int moved = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (moved < 0) fail_errno("fcntl(F_DUPFD_CLOEXEC)", errno);
        ::close(fds[i]);
        fds[i] = moved;
    }
}

void set_nonblocking(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) fail_errno("fcntl(O_NONBLOCK)", errno);
}

// Writing to a pipe whose reader has exited raises SIGPIPE, which would kill the whole test
// binary; a test wants EPIPE instead. The child gets the default disposition back (spawn
// attributes below).
void ignore_sigpipe_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        if (::sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    });
}

std::string_view env_name(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

std::vector<std::string> child_environment(const spawn_options& o) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        std::string_view name = env_name(entry);
        bool drop = std::find(o.unset_env.begin(), o.unset_env.end(), name) != o.unset_env.end() ||
                    std::any_of(o.env.begin(), o.env.end(), [&](const auto& kv) { return kv.first == name; });
        if (!drop) env.emplace_back(entry);
    }
    // Later settings of the same variable replace earlier ones.
    for (const auto& [k, v] : o.env) {
        std::erase_if(env, [&](const std::string& e) { return env_name(e) == k; });
        env.push_back(k + "=" + v);
    }
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (auto& s : v)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

exit_status from_wait_status(int st) {
    exit_status s;
    if (WIFEXITED(st))
        s.code = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        s.signal = WTERMSIG(st);
    return s;
}

}  // namespace

std::string exit_status::describe() const {
    if (signal != 0) {
        const char* name = ::sigabbrev_np(signal);
        return "killed by signal " + std::to_string(signal) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "exit code " + std::to_string(code);
}

std::optional<std::string> find_program(std::string_view name) {
    auto executable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
    };
    if (name.empty()) return std::nullopt;
    if (name.find('/') != std::string_view::npos) {
        std::string path(name);
        if (executable(path)) return path;
        return std::nullopt;
    }
    const char* path_env = std::getenv("PATH");
    std::string_view dirs = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
    while (true) {
        std::size_t colon = dirs.find(':');
        std::string_view dir = dirs.substr(0, colon);
        std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + std::string(name);
        if (executable(candidate)) return candidate;
        if (colon == std::string_view::npos) break;
        dirs.remove_prefix(colon + 1);
    }
    return std::nullopt;
}

child_process::child_process(const spawn_options& opts) : argv_(opts.argv) {
    if (argv_.empty()) throw std::runtime_error("child_process: empty argv");
    std::optional<std::string> program = find_program(argv_[0]);
    if (!program) throw std::runtime_error("child_process: program not found: " + argv_[0]);
    ignore_sigpipe_once();

    int in[2], out[2], err[2] = {-1, -1};
    make_pipe(in);
    make_pipe(out);
    if (opts.err == stderr_mode::capture) make_pipe(err);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    switch (opts.err) {
        case stderr_mode::capture:
            posix_spawn_file_actions_adddup2(&fa, err[1], 2);
            break;
        case stderr_mode::merge:
            posix_spawn_file_actions_adddup2(&fa, out[1], 2);
            break;
        case stderr_mode::inherit:
            break;
        case stderr_mode::discard:
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
            break;
    }
    if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
    // The child starts with default signal dispositions and nothing blocked, whatever the test
    // process did (it ignores SIGPIPE, see above).
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<std::string> args = argv_;
    args[0] = *program;
    // The child dies with the test process even if the test aborts before its destructor runs
    // (util-linux setpriv sets the parent-death signal, then execs: same PID, and erl's own
    // exec of beam.smp keeps it).
    static const std::optional<std::string> setpriv = find_program("setpriv");
    if (setpriv) {
        args.insert(args.begin(), {*setpriv, "--pdeathsig", "KILL", "--"});
        program = setpriv;
    }
    std::vector<std::string> env = child_environment(opts);
    std::vector<char*> argv_c = c_strings(args);
    std::vector<char*> env_c = c_strings(env);
    int rc = ::posix_spawn(&pid_, program->c_str(), &fa, &attr, argv_c.data(), env_c.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);

    ::close(in[0]);
    ::close(out[1]);
    if (err[1] >= 0) ::close(err[1]);
    in_fd_ = in[1];
    out_fd_ = out[0];
    err_fd_ = err[0];
    if (rc != 0) {
        pid_ = -1;
        close_fd(in_fd_);
        close_fd(out_fd_);
        close_fd(err_fd_);
        fail_errno("posix_spawn " + *program, rc);
    }
    set_nonblocking(in_fd_);
    set_nonblocking(out_fd_);
    if (err_fd_ >= 0) set_nonblocking(err_fd_);
}

child_process::~child_process() {
    if (pid_ > 0 && !status_) stop();
    close_fd(in_fd_);
    close_fd(out_fd_);
    close_fd(err_fd_);
}

void child_process::close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

void child_process::close_stdin() noexcept {
    close_fd(in_fd_);
    in_buf_.clear();
    in_pos_ = 0;
}

void child_process::read_from(int& fd, std::string& into) noexcept {
    char buf[65536];
    while (fd >= 0) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            into.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close_fd(fd);  // end of file or a hard error
    }
}

bool child_process::pump_once(int timeout_ms) {
    pollfd fds[3];
    nfds_t n = 0;
    bool want_write = in_fd_ >= 0 && in_pos_ < in_buf_.size();
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (want_write) fds[n++] = {in_fd_, POLLOUT, 0};
    if (n == 0) return false;
    int rc = ::poll(fds, n, timeout_ms);
    if (rc < 0) return errno == EINTR;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        if (fds[i].fd == out_fd_) {
            read_from(out_fd_, out_buf_);
        } else if (fds[i].fd == err_fd_) {
            read_from(err_fd_, err_buf_);
        } else if (fds[i].fd == in_fd_) {
            while (in_pos_ < in_buf_.size()) {
                ssize_t w = ::write(in_fd_, in_buf_.data() + in_pos_, in_buf_.size() - in_pos_);
                if (w > 0) {
                    in_pos_ += static_cast<std::size_t>(w);
                } else if (w < 0 && errno == EINTR) {
                    continue;
                } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    break;
                } else {
                    close_stdin();  // EPIPE: the child closed its stdin or exited
                    break;
                }
            }
        }
    }
    return true;
}

template <class Done>
bool child_process::pump(clock::time_point deadline, Done done) {
    while (!done()) {
        auto now = clock::now();
        if (now >= deadline) return done();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        if (!pump_once(static_cast<int>(std::min<long long>(left + 1, 1000)))) return done();
    }
    return true;
}

bool child_process::write(std::string_view data, duration timeout) {
    if (in_fd_ < 0) return false;
    if (in_pos_ == in_buf_.size()) {
        in_buf_.clear();
        in_pos_ = 0;
    }
    in_buf_.append(data);
    bool ok = pump(clock::now() + timeout, [&] { return in_fd_ < 0 || in_pos_ == in_buf_.size(); });
    return ok && in_fd_ >= 0;
}

std::optional<std::string> child_process::read_line(duration timeout) {
    std::size_t nl = std::string::npos;
    pump(clock::now() + timeout, [&] {
        nl = out_buf_.find('\n', out_pos_);
        return nl != std::string::npos || out_fd_ < 0;
    });
    std::optional<std::string> line;
    if (nl != std::string::npos) {
        line = out_buf_.substr(out_pos_, nl - out_pos_);
        out_pos_ = nl + 1;
    } else if (out_fd_ < 0 && out_pos_ < out_buf_.size()) {
        line = out_buf_.substr(out_pos_);
        out_pos_ = out_buf_.size();
    }
    // Drop the consumed prefix once it dominates, so reading many lines stays linear.
    if (out_pos_ > 65536 && out_pos_ * 2 > out_buf_.size()) {
        out_buf_.erase(0, out_pos_);
        out_pos_ = 0;
    }
    return line;
}

std::string child_process::read_all(duration timeout) {
    pump(clock::now() + timeout, [&] { return out_fd_ < 0; });
    std::string rest = out_buf_.substr(out_pos_);
    out_buf_.clear();
    out_pos_ = 0;
    return rest;
}

std::string_view child_process::pending_stdout() const noexcept {
    return std::string_view(out_buf_).substr(out_pos_);
}

const std::string& child_process::stderr_text() {
    if (err_fd_ >= 0) read_from(err_fd_, err_buf_);
    return err_buf_;
}

bool child_process::try_reap() noexcept {
    if (status_) return true;
    if (pid_ <= 0) return false;
    int st = 0;
    pid_t r;
    do
        r = ::waitpid(pid_, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid_) {
        status_ = from_wait_status(st);
        return true;
    }
    if (r < 0) {
        status_ = exit_status{};  // not our child any more (ECHILD): nothing left to wait for
        return true;
    }
    return false;
}

bool child_process::running() {
    return !try_reap();
}

std::optional<exit_status> child_process::wait(duration timeout) {
    auto deadline = clock::now() + timeout;
    while (!try_reap()) {
        auto now = clock::now();
        if (now >= deadline) return std::nullopt;
        // Keep draining output so a child blocked on a full pipe can finish; poll in short
        // slices because the exit itself is not a pipe event.
        if (!pump_once(10)) std::this_thread::sleep_for(5ms);
    }
    return status_;
}

void child_process::signal(int sig) noexcept {
    // Until we reap it the PID cannot be reused, so this can only reach our own child.
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

exit_status child_process::stop(duration grace) {
    if (pid_ <= 0) return exit_status{};
    if (!try_reap()) {
        signal(SIGTERM);
        if (!wait(grace)) {
            signal(SIGKILL);
            int st = 0;
            pid_t r;
            do
                r = ::waitpid(pid_, &st, 0);
            while (r < 0 && errno == EINTR);
            status_ = r == pid_ ? from_wait_status(st) : exit_status{};
        }
    }
    return *status_;
}

// ---- erl ----

std::optional<std::string> find_erl() {
    if (const char* e = std::getenv("NODUS_ERL"); e && *e) return find_program(e);
    return find_program("erl");
}

bool may_skip_without_erl() noexcept {
    const char* e = std::getenv("NODUS_SKIP_WITHOUT_ERL");
    return e && std::string_view(e) == "1";
}

std::string missing_erl_message() {
    return "erl (Erlang/OTP) not found on PATH (or $NODUS_ERL): install erlang-base (scripts/deps), or "
           "set NODUS_SKIP_WITHOUT_ERL=1 to skip tests that need it";
}

spawn_options erl_command(const std::string& erl, const erl_options& opts) {
    spawn_options s;
    s.argv = {erl, "-noshell"};
    if (!opts.sname.empty()) s.argv.insert(s.argv.end(), {"-sname", opts.sname});
    if (!opts.cookie.empty()) s.argv.insert(s.argv.end(), {"-setcookie", opts.cookie});
    s.argv.insert(s.argv.end(), opts.args.begin(), opts.args.end());
    if (!opts.eval.empty()) s.argv.insert(s.argv.end(), {"-eval", opts.eval});
    // A crashing test node must not leave erl_crash.dump files in the build tree.
    s.env = {{"ERL_CRASH_DUMP_SECONDS", "0"}};
    s.env.insert(s.env.end(), opts.env.begin(), opts.env.end());
    s.err = opts.err;
    return s;
}

std::unique_ptr<child_process> start_erl(const std::string& erl, const erl_options& opts) {
    return std::make_unique<child_process>(erl_command(erl, opts));
}

}  // namespace nodus::test

// nodus epmd: a port mapper compatible with OTP's `epmd`, with its flags:
//   nodus epmd [-port P] [-address A,B] [-daemon] [-relaxed_command_check] [-d|-debug]
//              [-packet_timeout S]                              run the port mapper
//   nodus epmd [-port P] -names | -kill | -dump | -stop Name    ask a running one (on this host)
// Without -daemon it runs until SIGINT or SIGTERM (or an accepted KILL) and exits 0. With -daemon
// it detaches and the command exits 0 once the port mapper listens. As epmd does, finding the
// port already taken is not an error: the port mapper that runs there serves.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "commands.hpp"
#include "nodus/epmd/client.hpp"
#include "nodus/epmd/server.hpp"

namespace nodus::tools {

namespace {

constexpr erl_flag epmd_flags[] = {
    {"port", 1}, {"address", 1}, {"daemon", 0}, {"relaxed_command_check", 0}, {"debug", 0}, {"names", 0},
    {"kill", 0}, {"dump", 0},    {"stop", 1},   {"packet_timeout", 1},
};

struct epmd_settings {
    int port = 0;  // 0: $ERL_EPMD_PORT or 4369
    std::string address;
    bool daemon = false;
    bool relaxed = false;
    int debug = 0;
    int packet_timeout = 0;  // seconds; 0: the server's default
    bool names = false;
    bool kill = false;
    bool dump = false;
    std::string stop;
};

std::vector<std::string> split_addresses(const std::string& list) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : list + ",") {
        if (c == ',' || c == ' ') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    return out;
}

result<std::uint16_t, epmd::error> chosen_port(const epmd_settings& s) {
    if (s.port != 0) return static_cast<std::uint16_t>(s.port);
    return epmd::port_from_environment();
}

// ---- client commands ----

// As epmd's client: the local port mapper on ::1, else on 127.0.0.1.
template <class F>
auto ask_local(F call) {
    auto r = call(std::string("::1"));
    if (!r && r.error().code == epmd::errc::connect_failed) r = call(std::string("127.0.0.1"));
    return r;
}

int client_command(const epmd_settings& s) {
    auto port = chosen_port(s);
    if (!port) {
        fmt::print(stderr, "epmd: {}\n", port.error().message());
        return 1;
    }
    epmd::client_options o;
    o.epmd_port = *port;
    auto cannot_connect = [](const epmd::error& e) {
        if (e.code == epmd::errc::connect_failed)
            fmt::print(stderr, "epmd: Cannot connect to local epmd\n");
        else
            fmt::print(stderr, "epmd: {}\n", e.message());
        return 1;
    };
    if (s.names) {
        auto r = ask_local([&](const std::string& h) { return epmd::names_sync(h, o); });
        if (!r) return cannot_connect(r.error());
        fmt::print("epmd: up and running on port {} with data:\n", r->epmd_port);
        for (const auto& n : r->nodes)
            fmt::print("name {} at port {}\n", n.name, n.port);
        return 0;
    }
    if (s.dump) {
        auto r = ask_local([&](const std::string& h) { return epmd::dump_sync(h, o); });
        if (!r) return cannot_connect(r.error());
        fmt::print("epmd: up and running on port {} with data:\n", r->epmd_port);
        for (const auto& rec : r->records)
            fmt::print("{}", rec);
        return 0;
    }
    if (s.kill) {
        auto r = ask_local([&](const std::string& h) { return epmd::kill_sync(h, o); });
        if (r) {
            fmt::print("Killed\n");
            return 0;
        }
        if (r.error().code == epmd::errc::not_allowed) {
            fmt::print("Killing not allowed - living nodes in database.\n");
            return 1;
        }
        return cannot_connect(r.error());
    }
    auto r = ask_local([&](const std::string& h) { return epmd::stop_sync(h, s.stop, o); });
    if (r) {
        fmt::print("{}\n", *r == epmd::stop_result::stopped ? "STOPPED" : "NOEXIST");
        return 0;
    }
    if (r.error().code == epmd::errc::not_allowed) {
        fmt::print("epmd: local epmd responded with <>\n");
        return 1;
    }
    return cannot_connect(r.error());
}

// ---- the port mapper ----

// Tells the waiting parent of a daemon how starting went: "0" ready, "1 <why>" failed, "2 <why>"
// another port mapper has the port (not a failure).
void report(int fd, char status, const std::string& message) {
    if (fd < 0) return;
    std::string line = std::string(1, status) + " " + message;
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    ::close(fd);
}

void to_dev_null() {
    int fd = ::open("/dev/null", O_RDWR);
    if (fd < 0) return;
    ::dup2(fd, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (fd > 2) ::close(fd);
}

int serve(const epmd_settings& s, int ready_fd) {
    auto port = chosen_port(s);
    // A daemon's parent prints the failure; a foreground port mapper prints it itself.
    auto failed = [ready_fd](const std::string& why) {
        if (ready_fd >= 0)
            report(ready_fd, '1', why);
        else
            fmt::print(stderr, "epmd: {}\n", why);
        return 1;
    };
    if (!port) return failed(port.error().message());
    asio::io_context io;
    epmd::server_options o;
    o.port = *port;
    o.addresses = split_addresses(s.address);
    o.relaxed_command_check = s.relaxed || epmd::relaxed_command_check_from_environment();
    if (s.packet_timeout > 0) o.request_timeout = std::chrono::seconds(s.packet_timeout);
    if (s.debug > 0) o.max_unregistered = 5;  // as epmd -debug
    const int debug = s.debug;
    o.log = [debug](epmd::log_level level, std::string_view msg) {
        const int needed = level == epmd::log_level::error ? 0 : level == epmd::log_level::info ? 1 : 2;
        if (debug < needed) return;
        std::time_t now = std::time(nullptr);
        char when[64];
        std::strftime(when, sizeof when, "%a %b %e %H:%M:%S %Y", std::localtime(&now));
        fmt::print(stderr, "epmd: {}: {}\n", when, msg);
    };
    asio::signal_set signals(io, SIGINT, SIGTERM);
    epmd::server* srv_ptr = nullptr;
    o.on_kill = [&] {
        if (srv_ptr) srv_ptr->stop();
        std::error_code ignored;
        signals.cancel(ignored);
    };
    epmd::server srv(io, std::move(o));
    srv_ptr = &srv;
    auto started = srv.start();
    if (!started) {
        if (started.error().code == epmd::errc::address_in_use) {
            std::string msg = fmt::format("there is already a port mapper running at port {}", *port);
            if (debug > 0) fmt::print(stderr, "epmd: {}\n", msg);
            report(ready_fd, '2', msg);
            return 0;
        }
        return failed(started.error().message());
    }
    if (ready_fd >= 0) {
        report(ready_fd, '0', "");
        to_dev_null();
    }
    signals.async_wait([&](const std::error_code& ec, int) {
        if (!ec) srv.stop();
    });
    io.run();
    return 0;
}

int run_daemon(const epmd_settings& s) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        fmt::print(stderr, "epmd: pipe: {}\n", std::strerror(errno));
        return 1;
    }
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child < 0) {
        fmt::print(stderr, "epmd: fork: {}\n", std::strerror(errno));
        return 1;
    }
    if (child > 0) {
        ::close(fds[1]);
        std::string status;
        char buf[512];
        for (;;) {
            ssize_t n = ::read(fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            status.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fds[0]);
        int st = 0;
        while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        if (status.empty()) {
            fmt::print(stderr, "epmd: the daemon exited before listening\n");
            return 1;
        }
        if (status[0] == '1') {
            fmt::print(stderr, "epmd: {}\n", status.substr(2));
            return 1;
        }
        return 0;
    }
    // The first child: a new session without a controlling terminal, then a second fork so the
    // daemon is not a session leader (it can never acquire a terminal again).
    ::close(fds[0]);
    if (::setsid() < 0) {
        report(fds[1], '1', fmt::format("setsid: {}", std::strerror(errno)));
        ::_exit(1);
    }
    ::signal(SIGHUP, SIG_IGN);
    pid_t grandchild = ::fork();
    if (grandchild < 0) {
        report(fds[1], '1', fmt::format("fork: {}", std::strerror(errno)));
        ::_exit(1);
    }
    if (grandchild > 0) ::_exit(0);
    // Not keep any file system busy.
    if (::chdir("/") != 0) {
    }
    ::close(0);
    ::open("/dev/null", O_RDONLY);
    std::exit(serve(s, fds[1]));
}

int run_epmd(const epmd_settings& s) {
    int commands = int{s.names} + int{s.kill} + int{s.dump} + int{!s.stop.empty()};
    if (commands > 1) {
        fmt::print(stderr, "nodus epmd: give at most one of -names, -kill, -dump, -stop\n");
        return 1;
    }
    if (commands == 1) return client_command(s);
    if (s.daemon) return run_daemon(s);
    return serve(s, -1);
}

}  // namespace

std::span<const erl_flag> epmd_erl_flags() {
    return epmd_flags;
}

void add_epmd_commands(CLI::App& app, int& exit_status) {
    static epmd_settings settings;
    auto* cmd =
        app.add_subcommand("epmd", "The port mapper (as OTP's epmd; flags are epmd's: -port 4370 -daemon)");
    cmd->add_option("--port", settings.port,
                    "Port to listen on / to ask (default: $ERL_EPMD_PORT, else 4369)")
        ->check(CLI::Range(1, 65535));
    if (const char* a = std::getenv("ERL_EPMD_ADDRESS")) settings.address = a;
    cmd->add_option(
        "--address", settings.address,
        "Listen only on these comma-separated addresses, plus loopback (default: $ERL_EPMD_ADDRESS, "
        "else every interface)");
    cmd->add_flag("--daemon", settings.daemon, "Detach; exit once the port mapper listens");
    cmd->add_flag("--relaxed_command_check", settings.relaxed,
                  "Allow -kill with registered nodes, and -stop ($ERL_EPMD_RELAXED_COMMAND_CHECK)");
    cmd->add_flag("-d,--debug", settings.debug, "Log to stderr (give it twice for more)");
    cmd->add_option("--packet_timeout", settings.packet_timeout,
                    "Seconds a connection may take for its request and answer (default 10)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--names", settings.names, "List the names registered with the running port mapper");
    cmd->add_flag("--kill", settings.kill, "Stop the running port mapper");
    cmd->add_flag("--dump", settings.dump, "Dump the running port mapper's table (debugging)");
    cmd->add_option("--stop", settings.stop, "Unregister a name by force (needs -relaxed_command_check)");
    cmd->callback([&exit_status] { exit_status = run_epmd(settings); });
}

}  // namespace nodus::tools

// Helpers for tests that talk to a real erl over loopback: a private epmd (a child process on a
// free port, killed by PID), minimal blocking EPMD requests (PORT_PLEASE2, ALIVE2; epmd.md §3-4),
// and blocking sockets with deadlines that drive a handshake machine. Test code only: everything
// throws std::runtime_error on failure.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "nodus/base/bytes.hpp"
#include "nodus/dist/handshake.hpp"

namespace nodus::test {

// A socket descriptor, closed on destruction.
class socket_fd {
public:
    socket_fd() = default;
    explicit socket_fd(int fd) : fd_(fd) {}
    socket_fd(socket_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    socket_fd& operator=(socket_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~socket_fd() { reset(); }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

[[noreturn]] inline void fail_sys(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

inline sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// A listening socket on 127.0.0.1 (port 0: any free port).
inline socket_fd listen_loopback(std::uint16_t port = 0) {
    socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) fail_sys("socket");
    int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(port);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail_sys("bind");
    if (::listen(s.get(), 8) != 0) fail_sys("listen");
    return s;
}

inline std::uint16_t local_port(const socket_fd& s) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) fail_sys("getsockname");
    return ntohs(a.sin_port);
}

// A port that was free a moment ago (for a child that must be told its port); in
// tests/support/cluster.cpp, declared here too so that this header and cluster.hpp mix.
std::uint16_t free_port();

inline std::optional<socket_fd> connect_loopback(std::uint16_t port) {
    socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) fail_sys("socket");
    sockaddr_in a = loopback(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::nullopt;
    int one = 1;
    ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

// Waits up to timeout for an incoming connection.
inline std::optional<socket_fd> accept_within(const socket_fd& listener, std::chrono::milliseconds timeout) {
    pollfd p{listener.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    socket_fd s(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!s) return std::nullopt;
    return s;
}

inline void write_all(const socket_fd& s, byte_span data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(s.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_sys("send");
        off += static_cast<std::size_t>(n);
    }
}

// Reads what is available within timeout: bytes, empty on end of file, nullopt on timeout.
inline std::optional<std::vector<std::uint8_t>> read_some(const socket_fd& s,
                                                          std::chrono::milliseconds timeout) {
    pollfd p{s.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 0) return std::nullopt;
    std::vector<std::uint8_t> buf(4096);
    ssize_t n = ::recv(s.get(), buf.data(), buf.size(), 0);
    if (n < 0) return std::vector<std::uint8_t>{};  // reset: as good as closed here
    buf.resize(static_cast<std::size_t>(n));
    return buf;
}

// Reads exactly n bytes within timeout (or throws).
inline std::vector<std::uint8_t> read_exactly(const socket_fd& s, std::size_t n,
                                              std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) throw std::runtime_error("read_exactly: timeout");
        pollfd p{s.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        std::uint8_t buf[4096];
        ssize_t r = ::recv(s.get(), buf, std::min(sizeof buf, n - out.size()), 0);
        if (r <= 0) throw std::runtime_error("read_exactly: connection closed");
        out.insert(out.end(), buf, buf + r);
    }
    return out;
}

// Runs a handshake machine over a connected socket until it is done: sends its output, feeds it
// what arrives, tells it about end of file, and about a timeout (net_setuptime, per step).
inline void drive_handshake(dist::handshake& h, const socket_fd& s,
                            std::chrono::milliseconds step_timeout = std::chrono::seconds(7)) {
    h.start();
    while (true) {
        if (!h.output().empty()) {
            std::vector<std::uint8_t> out = h.take_output();
            write_all(s, out);
        }
        if (h.done()) return;
        auto got = read_some(s, step_timeout);
        if (!got) {
            h.timeout();
        } else if (got->empty()) {
            h.closed();
        } else {
            h.feed(*got);
        }
    }
}

// ---- epmd ----

// A private epmd on a free loopback port; stopped (by PID) on destruction.
class private_epmd {
public:
    private_epmd() {
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            spawn_options o;
            o.argv = {"epmd", "-port", std::to_string(port_), "-address", "127.0.0.1"};
            o.err = stderr_mode::discard;
            proc_ = std::make_unique<child_process>(o);
            for (int i = 0; i < 100; ++i) {
                if (connect_loopback(port_)) return;
                if (!proc_->running()) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            proc_.reset();
        }
        throw std::runtime_error("could not start a private epmd");
    }
    std::uint16_t port() const noexcept { return port_; }
    // ERL_EPMD_PORT for erl children.
    std::pair<std::string, std::string> env() const { return {"ERL_EPMD_PORT", std::to_string(port_)}; }

private:
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> proc_;
};

// PORT_PLEASE2_REQ: the distribution port of `alive`, or nullopt when it is not registered.
inline std::optional<std::uint16_t> epmd_port_please(std::uint16_t epmd_port, std::string_view alive) {
    auto s = connect_loopback(epmd_port);
    if (!s) throw std::runtime_error("cannot connect to epmd");
    byte_writer w;
    w.u16(static_cast<std::uint16_t>(1 + alive.size()));
    w.u8(122);
    w.text(alive);
    write_all(*s, w.view());
    auto head = read_exactly(*s, 2, std::chrono::seconds(5));
    if (head[0] != 119) throw std::runtime_error("unexpected epmd response");
    if (head[1] != 0) return std::nullopt;
    auto port = read_exactly(*s, 2, std::chrono::seconds(5));
    return static_cast<std::uint16_t>(port[0] << 8 | port[1]);
}

// ALIVE2_REQ: registers `alive` at `port`; the registration lasts while the socket is open.
inline socket_fd epmd_register(std::uint16_t epmd_port, std::string_view alive, std::uint16_t port,
                               std::uint32_t* creation = nullptr) {
    auto s = connect_loopback(epmd_port);
    if (!s) throw std::runtime_error("cannot connect to epmd");
    byte_writer body;
    body.u8(120);
    body.u16(port);
    body.u8(77);  // normal node
    body.u8(0);   // TCP/IPv4
    body.u16(6);
    body.u16(5);
    body.u16(static_cast<std::uint16_t>(alive.size()));
    body.text(alive);
    body.u16(0);
    byte_writer w;
    w.u16(static_cast<std::uint16_t>(body.size()));
    w.bytes(body.view());
    write_all(*s, w.view());
    auto resp = read_exactly(*s, 2, std::chrono::seconds(5));
    if (resp[0] != 118 && resp[0] != 121) throw std::runtime_error("unexpected epmd ALIVE2 response");
    if (resp[1] != 0) throw std::runtime_error("epmd refused the registration of " + std::string(alive));
    auto c = read_exactly(*s, resp[0] == 118 ? 4 : 2, std::chrono::seconds(5));
    if (creation)
        *creation =
            c.size() == 4 ? byte_reader::get32(c.data()) : static_cast<std::uint32_t>(c[0] << 8 | c[1]);
    return std::move(*s);
}

// Reads child output lines until one contains `needle`; returns it, or nullopt on timeout/EOF.
inline std::optional<std::string> wait_for_line(
    child_process& p, std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto line = p.read_line(left);
        if (!line) return std::nullopt;
        if (line->find(needle) != std::string::npos) return line;
    }
}

}  // namespace nodus::test

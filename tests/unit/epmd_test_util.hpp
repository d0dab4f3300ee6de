// Helpers shared by the port mapper tests: byte builders, a raw TCP peer that misbehaves on
// purpose, our server on its own thread, and waiting for asynchronous results.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nodus/epmd/client.hpp"
#include "nodus/epmd/server.hpp"

namespace nodus::epmd::test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

inline bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}
inline bytes u16(std::size_t v) {
    return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
inline bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}
inline bytes framed(const bytes& body) {
    return cat({u16(body.size()), body});
}
inline bytes alive2_body(std::string_view name, std::uint16_t port = 4747, std::string_view extra = "",
                         std::uint16_t hi = 6, std::size_t extra_len = std::string::npos) {
    return cat({{code::alive2_req},
                u16(port),
                {77, 0},
                u16(hi),
                u16(5),
                u16(name.size()),
                b(name),
                u16(extra_len == std::string::npos ? extra.size() : extra_len),
                b(extra)});
}

// A blocking TCP connection to 127.0.0.1, with timeouts, for peers that misbehave on purpose.
class raw_conn {
public:
    explicit raw_conn(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~raw_conn() { close(); }
    raw_conn(const raw_conn&) = delete;
    raw_conn& operator=(const raw_conn&) = delete;

    bool connected() const { return connected_; }
    bool send(const bytes& data) {
        std::size_t off = 0;
        while (off < data.size()) {
            ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    // Reads until the peer closes (true) or the timeout passes (false); data holds what came.
    bool read_until_closed(bytes& data, std::chrono::milliseconds timeout = 5s) {
        auto deadline = clock_type::now() + timeout;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
            if (left <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            std::uint8_t buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return true;  // closed (or reset)
            data.insert(data.end(), buf, buf + n);
        }
    }
    // Reads exactly n bytes (false on close or timeout).
    bool read_n(bytes& data, std::size_t n, std::chrono::milliseconds timeout = 5s) {
        auto deadline = clock_type::now() + timeout;
        while (data.size() < n) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
            if (left <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            std::uint8_t buf[256];
            ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - data.size()), 0);
            if (r <= 0) return false;
            data.insert(data.end(), buf, buf + r);
        }
        return true;
    }
    // Closing with SO_LINGER 0 sends a reset instead of a FIN.
    void reset() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close();
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
    bool connected_ = false;
};

// Our server on its own io_context thread.
class server_fixture {
public:
    explicit server_fixture(server_options opts = {}, bool start_now = true) : opts_(std::move(opts)) {
        if (start_now) start();
    }
    ~server_fixture() { shutdown(); }

    void start(std::uint16_t port = 0) {
        opts_.port = port;
        if (opts_.addresses.empty()) opts_.addresses = {"127.0.0.1"};
        opts_.log = [this](log_level level, std::string_view msg) {
            std::lock_guard lock(mu_);
            log_.push_back({level, std::string(msg)});
        };
        io_.restart();
        srv_ = std::make_unique<server>(io_, opts_);
        auto r = srv_->start();
        ASSERT_TRUE(r) << r.error().message();
        port_ = srv_->port();
        work_.emplace(asio::make_work_guard(io_));
        thread_ = std::thread([this] { io_.run(); });
    }
    void shutdown() {
        if (!thread_.joinable()) return;
        asio::post(io_, [this] { srv_->stop(); });
        work_.reset();
        thread_.join();
        srv_.reset();
    }
    // Runs f on the server's thread and returns its value.
    template <class F>
    auto on_io(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto fut = task.get_future();
        asio::post(io_, [&task] { task(); });
        return fut.get();
    }
    std::vector<port_info> registered() {
        return on_io([this] { return srv_->registered(); });
    }
    // Waits until the registered names are exactly `names` (any order).
    bool wait_names(std::vector<std::string> names, std::chrono::milliseconds timeout = 5s) {
        std::sort(names.begin(), names.end());
        auto deadline = clock_type::now() + timeout;
        for (;;) {
            std::vector<std::string> now;
            for (auto& n : registered())
                now.push_back(n.name);
            std::sort(now.begin(), now.end());
            if (now == names) return true;
            if (clock_type::now() > deadline) return false;
            std::this_thread::sleep_for(10ms);
        }
    }
    bool logged(log_level level, std::string_view part) {
        std::lock_guard lock(mu_);
        for (auto& [l, m] : log_)
            if (l == level && m.find(part) != std::string::npos) return true;
        return false;
    }
    client_options client() const {
        client_options o;
        o.epmd_port = port_;
        o.timeout = 5s;
        return o;
    }
    // The server still answers: NAMES works.
    void expect_serving() {
        auto r = names_sync("127.0.0.1", client());
        EXPECT_TRUE(r) << r.error().message();
    }
    std::uint16_t port() const { return port_; }
    asio::io_context& io() { return io_; }

private:
    server_options opts_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::unique_ptr<server> srv_;
    std::thread thread_;
    std::uint16_t port_ = 0;
    std::mutex mu_;
    std::vector<std::pair<log_level, std::string>> log_;
};

// Runs the test thread's io_context until pred() or the timeout.
template <class P>
inline bool run_until(asio::io_context& io, P pred, std::chrono::milliseconds timeout = 10s) {
    auto deadline = clock_type::now() + timeout;
    while (!pred() && clock_type::now() < deadline) {
        io.run_for(10ms);
        if (io.stopped()) io.restart();
    }
    return pred();
}

// Registers on the test thread's io_context and waits for the answer.
struct reg_result {
    registration reg;
    std::optional<result<std::uint32_t, error>> answer;
};
inline reg_result register_and_wait(asio::io_context& io, const std::string& name, std::uint16_t port,
                                    client_options o, node_type type = node_type::normal) {
    reg_result out;
    auto* answer = &out.answer;
    out.reg = register_node(
        io, name, port, type, [answer](result<std::uint32_t, error> r) { answer->emplace(std::move(r)); },
        std::move(o));
    run_until(io, [&] { return out.answer.has_value(); });
    return out;
}

// A port nobody listens on right now on 127.0.0.1 (bound to port 0 and released).
inline std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace nodus::epmd::test

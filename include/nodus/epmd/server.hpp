// A port mapper compatible with OTP's `epmd`, on an asio::io_context the caller owns and runs.
//
// What it serves, as epmd 25 does: ALIVE2 (a registration lives as long as its connection;
// duplicates refused; a new creation on every registration), PORT_PLEASE2, NAMES, DUMP, KILL and
// STOP. ALIVE2, DUMP, KILL and STOP are answered only for local peers; KILL is refused while
// nodes are registered and STOP is refused altogether unless relaxed command checking is on.
// Bounded: connections, request size, and time from accept to the end of the answer. A malformed
// request closes its connection (logged with the reason); everyone else is served on.
// docs/protocols/epmd.md lists where it differs from OTP's daemon.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/base/result.hpp"
#include "nodus/epmd/protocol.hpp"

namespace nodus::epmd {

enum class log_level : std::uint8_t { error, info, debug };
using log_function = std::function<void(log_level, std::string_view)>;

struct server_options {
    // 0: an ephemeral port, the same on every listen address (see server::port()).
    std::uint16_t port = default_port;
    // Empty: every interface, IPv4 and IPv6 (epmd's default). Else these addresses, plus the
    // loopback addresses, which are always listened on (as `epmd -address`).
    std::vector<std::string> addresses;
    // Lets KILL stop the server while nodes are registered, and allows STOP
    // (`-relaxed_command_check`, $ERL_EPMD_RELAXED_COMMAND_CHECK).
    bool relaxed_command_check = false;
    // Open connections, registrations included; more are accepted and closed at once.
    std::size_t max_connections = 1024;
    // A connection must deliver its request and take its answer within this time (not a
    // registration, which lives as long as its node).
    std::chrono::milliseconds request_timeout{10000};
    // Request body size limit (OTP's epmd: 3057; the largest valid request is 2053).
    std::size_t max_request = max_request_size;
    // Unregistered names remembered for DUMP (OTP: 1000).
    std::size_t max_unregistered = 1000;
    // Logging: refused and malformed requests are error, registrations info, the rest debug.
    log_function log;
    // Called after a KILL was answered OK. Default: stop().
    std::function<void()> on_kill;
};

namespace detail {
class server_impl;
}

class server {
public:
    // States: stopped -> (start) listening -> (stop, or an accepted KILL) stopped.
    server(asio::io_context& io, server_options opts);
    ~server();  // stop()
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds and listens. errc::address_in_use when the port is taken on an address that is not
    // optional (another port mapper probably runs there), errc::bad_argument for an address that
    // does not parse, errc::listen_failed otherwise.
    result<void, error> start();
    // Closes the listeners and every connection (unregistering every node). From the io_context's
    // thread, or when it is not running.
    void stop();

    // The port listened on (useful with port 0); 0 before start().
    std::uint16_t port() const noexcept;
    // The addresses listened on, e.g. "0.0.0.0", "::", "127.0.0.1".
    std::vector<std::string> listen_addresses() const;
    // The registered nodes, newest first (as NAMES lists them). From the io_context's thread.
    std::vector<port_info> registered() const;

private:
    std::shared_ptr<detail::server_impl> impl_;
};

// $ERL_EPMD_RELAXED_COMMAND_CHECK is set (epmd only looks whether it is).
bool relaxed_command_check_from_environment();

}  // namespace nodus::epmd

// The port mapper client: register a node, look a node up, list names; asynchronous on an
// asio::io_context the caller owns and runs (no threads of its own), with completion callbacks
// called on that io_context. Small synchronous wrappers run a private io_context.
//
// As OTP's erl_epmd does: a registration keeps its connection to the local port mapper open for
// the life of the node (closing it unregisters the name) and, when the port mapper goes away,
// registers again every 2 s, keeping the creation of the first registration.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/epmd/protocol.hpp"

namespace nodus::epmd {

// The port mapper's port as erl and epmd choose it: $ERL_EPMD_PORT when set, else 4369. A value
// that is not a port number (1..65535) is an error.
result<std::uint16_t, error> port_from_environment();

struct client_options {
    std::uint16_t epmd_port = 0;  // 0: port_from_environment()
    // Limit for a whole operation: resolve, connect, request and the complete answer (OTP waits
    // 10 s for a registration answer and for a PORT2 answer).
    std::chrono::milliseconds timeout{10000};
    // A lost registration is tried again this often (OTP: 2 s).
    std::chrono::milliseconds reregister_interval{2000};
    // Registration: talk to the port mapper on ::1 instead of 127.0.0.1 (OTP does for inet6_tcp).
    bool ipv6 = false;
    // Registration events after the first answer (lost, registered again); may be empty.
    std::function<void(std::string_view)> log;
};

namespace detail {
class registration_impl;
}

// A node's registration with the local port mapper. Destroying or closing it closes the
// connection, which unregisters the name. Destroy it before its io_context.
class registration {
public:
    // States:
    //   registering -> the first ALIVE2_REQ is on its way; the callback has not run yet
    //   registered  -> the connection is open and the name registered
    //   lost        -> the port mapper closed the connection; registering again every interval
    //   closed      -> close() was called, or the first registration failed
    enum class state : std::uint8_t { registering, registered, lost, closed };

    registration() noexcept = default;
    registration(registration&&) noexcept = default;
    registration& operator=(registration&& other) noexcept;
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    ~registration();

    // Unregisters (closes the connection) at once and stops re-registering; safe from any
    // thread. A callback not yet called gets errc::cancelled (on the io_context). The callback
    // runs with the registration locked: it may close it, but must not wait for another thread
    // that uses it.
    void close() noexcept;

    // Readable from any thread.
    state current() const noexcept;
    // The creation of the first registration (0 until it succeeded); kept across re-registrations.
    std::uint32_t creation() const noexcept;
    // How many times the name was registered again after a loss.
    std::size_t reregistrations() const noexcept;
    explicit operator bool() const noexcept { return impl_ != nullptr; }

private:
    friend registration register_node(asio::io_context&, std::string, std::uint16_t, node_type,
                                      std::function<void(result<std::uint32_t, error>)>, client_options);
    explicit registration(std::shared_ptr<detail::registration_impl> impl) noexcept
        : impl_(std::move(impl)) {}
    std::shared_ptr<detail::registration_impl> impl_;
};

// Registers `name` (alive name only) for distribution port `port` with the port mapper on the
// loopback address. on_registered gets the creation, or the error (errc::duplicate_name when the
// name is taken); after an error nothing is retried.
registration register_node(asio::io_context& io, std::string name, std::uint16_t port, node_type type,
                           std::function<void(result<std::uint32_t, error>)> on_registered,
                           client_options opts = {});

// PORT_PLEASE2 to the port mapper on `host` (a name or an address). errc::not_found when no node
// of that name is registered there.
void port_please(asio::io_context& io, std::string host, std::string name,
                 std::function<void(result<port_info, error>)> done, client_options opts = {});
// NAMES: the nodes registered on `host`, and the port mapper's own port.
void names(asio::io_context& io, std::string host, std::function<void(result<names_resp, error>)> done,
           client_options opts = {});
// DUMP (the port mapper answers only local peers).
void dump(asio::io_context& io, std::string host, std::function<void(result<dump_resp, error>)> done,
          client_options opts = {});
// KILL: success when the port mapper answers OK; errc::not_allowed when it refuses (live nodes
// and no relaxed command check, or not a local peer).
void kill(asio::io_context& io, std::string host, std::function<void(result<void, error>)> done,
          client_options opts = {});
// STOP: unregisters a node by force (only with relaxed command check; else errc::not_allowed).
void stop(asio::io_context& io, std::string host, std::string name,
          std::function<void(result<stop_result, error>)> done, client_options opts = {});

// Synchronous versions, for tools and tests: each runs a private io_context until done.
result<port_info, error> port_please_sync(const std::string& host, const std::string& name,
                                          client_options opts = {});
result<names_resp, error> names_sync(const std::string& host, client_options opts = {});
result<dump_resp, error> dump_sync(const std::string& host, client_options opts = {});
result<void, error> kill_sync(const std::string& host, client_options opts = {});
result<stop_result, error> stop_sync(const std::string& host, const std::string& name,
                                     client_options opts = {});

}  // namespace nodus::epmd

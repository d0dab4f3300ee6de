// node: a named, distributed nodus node — a runtime plus the Erlang distribution protocol.
//
//     nodus::node_config cfg;
//     cfg.name = "alice";                 // like erl -sname alice
//     cfg.cookie = "secret";              // like -setcookie secret
//     auto n = nodus::node::start(cfg);   // registers with the port mapper, listens
//     if (!n) { std::cerr << n.error().message; return 1; }
//     pid p = (*n)->rt().spawn(my_process);
//
// Inside processes, the Erlang-level functions of nodus/node/net.hpp (erlang::nodes(),
// net_adm::ping(), net_kernel::monitor_nodes(), ...) act on the node that runs them.
//
// Connection states (per peer): pending (resolving, connecting, handshaking) → up → down.
// Exactly one connection per peer; simultaneous connects are resolved as OTP does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nodus/base/result.hpp"
#include "nodus/dist/node_name.hpp"
#include "nodus/dist/tls.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus {

using naming_mode = dist::naming_mode;

struct node_config {
    // "alice" or "alice@host"; the host part defaults to this machine's short (or, with
    // longnames, fully qualified) host name, as erl -sname / -name do.
    std::string name;
    naming_mode naming = naming_mode::shortnames;
    // The cookie; when empty, $HOME/.erlang.cookie (created if missing, as erl does).
    std::string cookie;
    bool hidden = false;  // -hidden: connections are hidden unless the peer is in our group
    // Distribution listen port range (kernel inet_dist_listen_min / _max); 0 = any port.
    std::uint16_t listen_port_min = 0;
    std::uint16_t listen_port_max = 0;
    std::string listen_address;  // empty: all interfaces (as erl)
    // Port mapper: its port (ERL_EPMD_PORT / -epmd_port), whether to start one when none
    // runs (as erl does), and a mode without any (fixed port for every peer, as
    // -erl_epmd_port P).
    std::uint16_t epmd_port = 0;  // 0: $ERL_EPMD_PORT or 4369
    bool start_epmd = true;
    std::uint16_t no_epmd_port = 0;  // non-zero: no port mapper; listen here, dial peers here
    std::chrono::seconds net_ticktime{60};
    unsigned net_tickintensity = 4;
    std::chrono::seconds net_setuptime{7};
    bool connect_all = true;  // -connect_all false turns off the transitive mesh
    std::vector<std::string> allow;  // net_kernel:allow/1: only these nodes may connect
    // TLS distribution (-proto_dist inet_tls -ssl_dist_optfile F): every connection, both ways,
    // is TLS; a plain node cannot connect. dist::read_ssl_dist_optfile reads erl's option file.
    std::optional<dist::tls_options> tls;
    // Limits against hostile peers.
    std::size_t max_message_bytes = std::size_t{1} << 30;
    // Fragmented messages a peer may have in flight at once, and the memory their partial
    // reassembly may hold: beyond either, that connection is closed.
    std::size_t max_fragmented_messages = 256;
    std::size_t max_reassembly_bytes = std::size_t{1} << 30;
    std::size_t atom_budget_per_connection = 100000;
    std::size_t max_pending_handshakes = 128;
    // Back-pressure toward a slow peer: once more than this many bytes wait in a connection's
    // send queue, a process that co_awaits its send to that node waits until half of it has gone
    // out (the BEAM's busy distribution port, dist_buf_busy_limit, whose default is the same).
    // A longer queue buys no throughput: with 8 MiB, four senders to one node kept refilling
    // it, and the memory it churned through (page faults, cache misses) cost 15-40 % of the
    // rate (remote_throughput in bench/). 0: no limit.
    std::size_t send_queue_limit = std::size_t{1} << 20;
    // SO_SNDBUF of distribution sockets (what OTP's inet_dist_*_options {sndbuf, N} set). A
    // small message written behind a big one waits for what the kernel holds ahead of it: with
    // autotuning that grows to 4 MiB here, and an erl receiver reading at ~1 GB/s, that is
    // milliseconds; 1 MiB keeps bulk throughput (hol_latency, large_msg in bench/). 0: the
    // kernel's autotuning.
    std::size_t send_buffer_bytes = std::size_t{1} << 20;
    // TCP_NOTSENT_LOWAT of a distribution socket (Linux) while small messages travel alongside
    // a bulk transfer on it: how much written data the kernel may hold not yet sent. Beyond it,
    // the bulk waits in the node's own queue, where small messages pass it, instead of in the
    // kernel, where they cannot. 0: never limited.
    std::size_t unsent_bytes_limit = std::size_t{128} << 10;
    runtime_options runtime{};  // threads etc. (node name/creation are set by the node)
    // Log sink for connection events and refusals (default: stderr).
    std::function<void(std::string_view)> log{};
};

struct node_error {
    enum class code : std::uint8_t { bad_name, cookie, listen, epmd, duplicate_name, config } code;
    std::string message;
};

enum class node_kind : std::uint8_t { visible, hidden, connected, this_node, known };

struct node_event {
    atom node;
    bool up;
    bool visible;
    atom reason;  // nodedown reason
};

namespace detail {
class node_impl;
}

class node {
public:
    static result<std::unique_ptr<node>, node_error> start(node_config cfg);
    ~node();  // closes connections, unregisters from the port mapper, stops every process
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    runtime& rt() noexcept;
    atom name() const noexcept;
    std::uint32_t creation() const noexcept;
    std::uint16_t listen_port() const noexcept;
    const node_config& config() const noexcept;

    // Thread-safe; these block the calling thread (do not call them from a process: use
    // nodus/node/net.hpp there).
    bool connect(atom peer, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool disconnect(atom peer);
    std::vector<atom> nodes(node_kind kind = node_kind::visible) const;
    void set_cookie(atom peer, std::string cookie);
    void set_cookie(std::string cookie);
    std::string get_cookie() const;

    detail::node_impl& impl() noexcept { return *impl_; }

private:
    explicit node(std::unique_ptr<detail::node_impl> impl);
    std::unique_ptr<detail::node_impl> impl_;
};

}  // namespace nodus

// The port mapper server. One connection object per accepted socket: it reads one request
// through request_parser, answers, and closes, except a successful ALIVE2 whose connection stays
// open as the registration. All state lives on the io_context's thread; connections hold the
// server state alive until their last handler has run.
#include "nodus/epmd/server.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>

namespace nodus::epmd {

namespace {

using asio::ip::tcp;

std::string endpoint_text(const tcp::endpoint& ep) {
    const auto a = ep.address();
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), ep.port())
                     : fmt::format("{}:{}", a.to_string(), ep.port());
}

// What epmd calls a local peer: a loopback address, or the very address the peer connected to
// (a process on this host using one of its external addresses).
bool is_local_peer(const tcp::endpoint& peer, const tcp::endpoint& local) {
    asio::ip::address a = peer.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    if (a.is_loopback()) return true;
    asio::ip::address l = local.address();
    if (l.is_v6() && l.to_v6().is_v4_mapped()) l = asio::ip::make_address_v4(asio::ip::v4_mapped, l.to_v6());
    return a == l;
}

}  // namespace

bool relaxed_command_check_from_environment() {
    return std::getenv("ERL_EPMD_RELAXED_COMMAND_CHECK") != nullptr;
}

namespace detail {

class connection;

struct registered_node {
    port_info info;
    std::uint32_t creation = 0;
    std::uint64_t connection = 0;
    int fd = -1;
};

class server_impl : public std::enable_shared_from_this<server_impl> {
public:
    server_impl(asio::io_context& io, server_options opts) : io_(io), opts_(std::move(opts)) {
        // A random starting point, as OTP's epmd (which starts from the clock): a restarted port
        // mapper then does not hand a restarted node the creation its previous incarnation had.
        std::random_device rd;
        std::uniform_int_distribution<std::uint32_t> dist(4, 0xFFFFFFFFu);
        next_creation_ = dist(rd);
    }

    result<void, error> start();
    void stop();

    void log(log_level level, std::string_view what) const {
        if (opts_.log) opts_.log(level, what);
    }

    // Registers a node for a connection; nullopt when the name is taken.
    std::optional<std::uint32_t> register_node(std::uint64_t conn, int fd, const port_info& info);
    void unregister(std::uint64_t conn);
    // STOP: closes the registration connection of `name`; false when there is none.
    bool stop_node(const std::string& name);
    std::optional<port_info> lookup(const std::string& name) const;
    std::vector<name_entry> names() const;
    std::vector<dump_entry> dump() const;
    void killed();
    void forget(std::uint64_t conn) { conns_.erase(conn); }

    asio::io_context& io_;
    server_options opts_;
    bool running_ = false;
    std::uint16_t port_ = 0;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::vector<std::string> listen_addresses_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::shared_ptr<connection>> conns_;
    std::vector<registered_node> nodes_;   // oldest first
    std::deque<dump_entry> unregistered_;  // oldest first
    std::uint32_t next_creation_ = 4;

private:
    void accept(tcp::acceptor& acceptor);
    std::uint32_t take_creation() {
        std::uint32_t c = next_creation_;
        // 0 is "no creation" and OTP avoids 1..3 for 32-bit creations.
        next_creation_ = c == 0xFFFFFFFFu ? 4 : c + 1;
        return c;
    }
};

// States:
//   reading    -> waiting for the request (under request_timeout)
//   answering  -> writing the answer; then closed
//   registered -> ALIVE2 succeeded: open until the node closes it (or sends anything)
//   closed
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(std::shared_ptr<server_impl> srv, tcp::socket socket, std::uint64_t id)
        : srv_(std::move(srv)),
          socket_(std::move(socket)),
          deadline_(srv_->io_),
          parser_(srv_->opts_.max_request),
          id_(id) {}

    void start() {
        std::error_code ec, lec;
        auto peer = socket_.remote_endpoint(ec);
        auto local = socket_.local_endpoint(lec);
        if (ec || lec) {
            if (!ec) ec = lec;
            close(log_level::debug, fmt::format("peer vanished before it was served ({})", ec.message()));
            return;
        }
        peer_ = endpoint_text(peer);
        local_ = is_local_peer(peer, local);
        fd_ = static_cast<int>(socket_.native_handle());
        srv_->log(log_level::debug,
                  fmt::format("{} peer {} connected", local_ ? "local" : "non-local", peer_));
        auto self = shared_from_this();
        deadline_.expires_after(srv_->opts_.request_timeout);
        deadline_.async_wait([self](const std::error_code& tec) {
            if (tec || self->closed_ || self->registered_) return;
            self->close(log_level::info,
                        fmt::format("closing {}: no complete request and answer within {} ms", self->peer_,
                                    self->srv_->opts_.request_timeout.count()));
        });
        read();
    }

    void close(log_level level, std::string_view why) {
        if (closed_) return;
        closed_ = true;
        // forget() below may drop the server's reference to us; we (and through us the server)
        // must outlive this call.
        auto self = shared_from_this();
        if (!why.empty()) srv_->log(level, why);
        std::error_code ignored;
        deadline_.cancel();
        socket_.close(ignored);
        if (registered_) srv_->unregister(id_);
        registered_ = false;
        srv_->forget(id_);
    }

private:
    void read() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [self](const std::error_code& ec, std::size_t n) {
            if (self->closed_) return;
            if (ec) {
                const std::size_t got = self->received_ + n;
                self->close(got > 0 ? log_level::error : log_level::debug,
                            fmt::format("closing {}: {} after {} bytes of a request", self->peer_,
                                        ec == asio::error::eof ? "closed" : ec.message(), got));
                return;
            }
            self->received_ += n;
            auto r = self->parser_.feed(byte_span(self->buf_.data(), n));
            if (!r) {
                self->malformed(r.error());
                return;
            }
            if (!*r) {
                self->read();
                return;
            }
            self->handle(std::move(**r));
        });
    }

    void malformed(const error& e) {
        std::string why = fmt::format("closing {}: malformed request: {}", peer_, e.message());
        byte_span reply = parser_.reply_before_close();
        if (reply.empty()) {
            close(log_level::error, why);
            return;
        }
        srv_->log(log_level::error, why + " (refused)");
        answer(bytes(reply.begin(), reply.end()), "");
    }

    // Writes the answer, then closes (after running `then`).
    void answer(bytes out, std::string done_note, std::function<void()> then = {}) {
        out_ = std::move(out);
        auto self = shared_from_this();
        asio::async_write(
            socket_, asio::buffer(out_),
            [self, note = std::move(done_note), then = std::move(then)](const std::error_code& ec,
                                                                        std::size_t) {
                if (self->closed_) return;
                if (ec) {
                    self->close(log_level::error,
                                fmt::format("closing {}: writing the answer: {}", self->peer_, ec.message()));
                    return;
                }
                self->close(log_level::debug, note);
                if (then) then();
            });
    }

    void refuse_nonlocal(std::string_view what) {
        close(log_level::error, fmt::format("closing {}: {} from a non-local address", peer_, what));
    }

    void handle(request req) {
        std::visit([this](auto& r) { on(r); }, req);
    }

    void on(alive2_req& r) {
        if (!local_) return refuse_nonlocal("ALIVE2_REQ");
        const std::uint16_t hi = r.node.highest_version;
        auto creation = srv_->register_node(id_, fd_, r.node);
        if (!creation) {
            srv_->log(log_level::error, fmt::format("refusing ALIVE2_REQ from {}: `{}` is already registered",
                                                    peer_, r.node.name));
            answer(encode_alive2_refusal(hi), fmt::format("closing {} after the refusal", peer_));
            return;
        }
        registered_ = true;
        name_ = r.node.name;
        deadline_.cancel();
        // Nodes that know only version 5 get the old answer, whose 16-bit creation OTP's epmd
        // takes in 1..3.
        alive2_resp resp{0, hi >= 6 ? *creation : *creation % 3 + 1, hi >= 6};
        out_ = encode_alive2_resp(resp);
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(out_), [self](const std::error_code& ec, std::size_t) {
            if (self->closed_) return;
            if (ec) {
                self->close(log_level::error,
                            fmt::format("unregistering `{}`: writing the ALIVE2 answer to {}: {}",
                                        self->name_, self->peer_, ec.message()));
                return;
            }
            self->watch();
        });
    }

    // A registered node sends nothing more; anything it sends, or its closing, ends the
    // registration (as OTP's epmd does).
    void watch() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [self](const std::error_code& ec, std::size_t n) {
            if (self->closed_) return;
            if (!ec)
                self->close(log_level::error,
                            fmt::format("unregistering `{}`: {} unexpected bytes on its registration "
                                        "connection",
                                        self->name_, n));
            else
                self->close(log_level::debug,
                            fmt::format("registration connection of `{}` closed ({})", self->name_,
                                        ec == asio::error::eof ? "end of stream" : ec.message()));
        });
    }

    void on(port_please2_req& r) {
        port2_resp resp;
        if (auto node = srv_->lookup(r.name)) {
            resp.node = std::move(*node);
        } else {
            resp.result = 1;
        }
        answer(encode_port2_resp(resp), "");
    }

    void on(names_req&) {
        auto list = srv_->names();
        answer(encode_names_resp(srv_->port_, list), "");
    }

    void on(dump_req&) {
        if (!local_) return refuse_nonlocal("DUMP_REQ");
        auto entries = srv_->dump();
        answer(encode_dump_resp(srv_->port_, entries), "");
    }

    void on(kill_req&) {
        if (!local_) return refuse_nonlocal("KILL_REQ");
        if (!srv_->opts_.relaxed_command_check && !srv_->nodes_.empty()) {
            srv_->log(log_level::error, "refusing KILL_REQ: live nodes are registered");
            answer(encode_kill_resp(false), "");
            return;
        }
        auto srv = srv_;
        answer(encode_kill_resp(true), "", [srv] {
            srv->log(log_level::info, "KILL_REQ: stopping");
            srv->killed();
        });
    }

    void on(stop_req& r) {
        if (!local_) return refuse_nonlocal("STOP_REQ");
        if (!srv_->opts_.relaxed_command_check)
            return close(log_level::error,
                         fmt::format("closing {}: STOP_REQ needs relaxed command check", peer_));
        bool stopped = srv_->stop_node(r.name);
        answer(encode_stop_resp(stopped ? stop_result::stopped : stop_result::noexist), "");
    }

    std::shared_ptr<server_impl> srv_;
    tcp::socket socket_;
    asio::steady_timer deadline_;
    request_parser parser_;
    std::uint64_t id_;
    std::array<std::uint8_t, 512> buf_{};
    bytes out_;
    std::size_t received_ = 0;
    std::string peer_ = "?";
    std::string name_;  // the registered name
    int fd_ = -1;
    bool local_ = false;
    bool registered_ = false;
    bool closed_ = false;
};

result<void, error> server_impl::start() {
    if (running_) return {};
    struct spec {
        asio::ip::address address;
        bool optional;  // failing to listen here is not an error
    };
    std::vector<spec> specs;
    if (opts_.addresses.empty()) {
        specs.push_back({asio::ip::address_v4::any(), false});
        specs.push_back({asio::ip::address_v6::any(), false});
    } else {
        specs.push_back({asio::ip::address_v4::loopback(), true});
        specs.push_back({asio::ip::address_v6::loopback(), true});
        for (const auto& text : opts_.addresses) {
            std::error_code ec;
            auto a = asio::ip::make_address(text, ec);
            if (ec)
                return unexpected(
                    error{errc::bad_argument, fmt::format("cannot parse IP address `{}`", text)});
            if (a == asio::ip::address(asio::ip::address_v4::loopback()) ||
                a == asio::ip::address(asio::ip::address_v6::loopback()))
                continue;
            if (std::any_of(specs.begin(), specs.end(), [&](const spec& s) { return s.address == a; }))
                continue;
            specs.push_back({a, false});
        }
    }
    std::uint16_t port = opts_.port;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::vector<std::string> addresses;
    for (const auto& s : specs) {
        auto acc = std::make_unique<tcp::acceptor>(io_);
        const tcp::endpoint ep(s.address, port);
        std::error_code ec;
        acc->open(ep.protocol(), ec);
        if (ec) {
            // No IPv6 (or IPv4) on this host: listen on what there is, as epmd does.
            log(log_level::debug, fmt::format("not listening on {}: {}", endpoint_text(ep), ec.message()));
            continue;
        }
        if (s.address.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
        acc->set_option(tcp::acceptor::reuse_address(true), ec);
        acc->bind(ep, ec);
        if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            // As epmd: a taken port means another port mapper serves there, even on a loopback
            // address; but a port picked at random is only taken by chance.
            const bool in_use = ec == asio::error::address_in_use && opts_.port != 0;
            if (s.optional && !in_use) {
                log(log_level::debug,
                    fmt::format("not listening on {}: {}", endpoint_text(ep), ec.message()));
                continue;
            }
            if (in_use)
                return unexpected(
                    error{errc::address_in_use,
                          fmt::format("{} is in use (is a port mapper running there?)", endpoint_text(ep))});
            return unexpected(
                error{errc::listen_failed, fmt::format("{}: {}", endpoint_text(ep), ec.message())});
        }
        if (port == 0) port = acc->local_endpoint().port();
        addresses.push_back(s.address.to_string());
        acceptors.push_back(std::move(acc));
    }
    if (acceptors.empty()) return unexpected(error{errc::listen_failed, "unable to listen on any address"});
    port_ = port;
    acceptors_ = std::move(acceptors);
    listen_addresses_ = std::move(addresses);
    running_ = true;
    for (auto& acc : acceptors_)
        accept(*acc);
    log(log_level::debug, fmt::format("listening on port {}", port_));
    return {};
}

void server_impl::accept(tcp::acceptor& acceptor) {
    auto self = shared_from_this();
    acceptor.async_accept([self, &acceptor](const std::error_code& ec, tcp::socket socket) {
        if (!self->running_) return;
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            self->log(log_level::error, fmt::format("accept: {}", ec.message()));
            // Out of descriptors, typically: wait a little instead of spinning on the error.
            auto timer = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(100));
            timer->async_wait([self, timer, &acceptor](const std::error_code& tec) {
                if (!tec && self->running_) self->accept(acceptor);
            });
            return;
        }
        if (self->conns_.size() >= self->opts_.max_connections) {
            std::error_code ig;
            auto peer = socket.remote_endpoint(ig);
            self->log(log_level::error,
                      fmt::format("closing a new connection from {}: {} connections are open",
                                  ig ? std::string("?") : endpoint_text(peer), self->conns_.size()));
            socket.close(ig);
        } else {
            const std::uint64_t id = self->next_id_++;
            auto c = std::make_shared<connection>(self, std::move(socket), id);
            self->conns_.emplace(id, c);
            c->start();
        }
        self->accept(acceptor);
    });
}

void server_impl::stop() {
    if (!running_) return;
    running_ = false;
    std::error_code ignored;
    for (auto& acc : acceptors_)
        acc->close(ignored);
    auto conns = conns_;  // closing a connection removes it from conns_
    for (auto& [id, c] : conns)
        c->close(log_level::debug, "");
    conns_.clear();
    nodes_.clear();
    log(log_level::debug, "stopped");
}

std::optional<std::uint32_t> server_impl::register_node(std::uint64_t conn, int fd, const port_info& info) {
    for (const auto& n : nodes_)
        if (n.info.name == info.name) return std::nullopt;
    std::erase_if(unregistered_, [&](const dump_entry& e) { return e.name == info.name; });
    const std::uint32_t c = take_creation();
    nodes_.push_back({info, c, conn, fd});
    log(log_level::info, fmt::format("registering '{}:{}', port {} (type {}, protocol {}, versions {}..{})",
                                     info.name, c, info.port, static_cast<int>(info.type), info.protocol,
                                     info.lowest_version, info.highest_version));
    return c;
}

void server_impl::unregister(std::uint64_t conn) {
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [&](const registered_node& n) { return n.connection == conn; });
    if (it == nodes_.end()) return;
    log(log_level::info,
        fmt::format("unregistering '{}:{}', port {}", it->info.name, it->creation, it->info.port));
    unregistered_.push_back({false, it->info.name, it->info.port, it->fd});
    while (unregistered_.size() > opts_.max_unregistered)
        unregistered_.pop_front();
    nodes_.erase(it);
}

bool server_impl::stop_node(const std::string& name) {
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [&](const registered_node& n) { return n.info.name == name; });
    if (it == nodes_.end()) return false;
    auto c = conns_.find(it->connection);
    if (c != conns_.end()) {
        auto conn = c->second;
        conn->close(log_level::info, fmt::format("STOP_REQ: unregistering `{}`", name));
    } else {
        unregister(it->connection);
    }
    return true;
}

std::optional<port_info> server_impl::lookup(const std::string& name) const {
    for (const auto& n : nodes_)
        if (n.info.name == name) return n.info;
    return std::nullopt;
}

std::vector<name_entry> server_impl::names() const {
    std::vector<name_entry> out;
    out.reserve(nodes_.size());
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
        out.push_back({it->info.name, it->info.port});
    return out;
}

std::vector<dump_entry> server_impl::dump() const {
    std::vector<dump_entry> out;
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
        out.push_back({true, it->info.name, it->info.port, it->fd});
    out.insert(out.end(), unregistered_.begin(), unregistered_.end());
    return out;
}

void server_impl::killed() {
    if (opts_.on_kill) {
        auto f = opts_.on_kill;
        f();
    } else {
        stop();
    }
}

}  // namespace detail

server::server(asio::io_context& io, server_options opts)
    : impl_(std::make_shared<detail::server_impl>(io, std::move(opts))) {}

server::~server() {
    impl_->stop();
}

result<void, error> server::start() {
    return impl_->start();
}

void server::stop() {
    impl_->stop();
}

std::uint16_t server::port() const noexcept {
    return impl_->port_;
}

std::vector<std::string> server::listen_addresses() const {
    return impl_->listen_addresses_;
}

std::vector<port_info> server::registered() const {
    std::vector<port_info> out;
    for (auto it = impl_->nodes_.rbegin(); it != impl_->nodes_.rend(); ++it)
        out.push_back(it->info);
    return out;
}

}  // namespace nodus::epmd

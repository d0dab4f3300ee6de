// The port mapper client: one short connection per request, and a long-lived connection per
// registration. Everything runs as Asio completion handlers on the caller's io_context; each
// operation's state is shared by its handlers, so it lives until the last of them has run.
#include "nodus/epmd/client.hpp"

#include <fmt/core.h>

#include <array>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <optional>

namespace nodus::epmd {

namespace {

using asio::ip::tcp;

unexpected<error> fail(errc code, std::string detail) {
    return unexpected(error{code, std::move(detail)});
}

// A NAMES or DUMP answer larger than this is not from a port mapper (1000 nodes take ~40 KB).
constexpr std::size_t max_answer = std::size_t{1} << 24;

result<std::uint16_t, error> epmd_port(const client_options& opts) {
    if (opts.epmd_port != 0) return opts.epmd_port;
    return port_from_environment();
}

std::string where(const std::string& host, std::uint16_t port) {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

// One request on its own connection: resolve, connect (trying each address), write the request,
// read until `decode` accepts the bytes or the port mapper closes; all under one deadline.
// `decode(data, eof)` returns errc::truncated while it needs more bytes.
template <class T>
class exchange : public std::enable_shared_from_this<exchange<T>> {
public:
    using decoder = std::function<result<T, error>(byte_span, bool)>;
    using callback = std::function<void(result<T, error>)>;

    exchange(asio::io_context& io, std::string host, bytes request, decoder decode, callback done,
             std::chrono::milliseconds timeout)
        : resolver_(io),
          socket_(io),
          deadline_(io),
          host_(std::move(host)),
          request_(std::move(request)),
          decode_(std::move(decode)),
          done_(std::move(done)),
          timeout_(timeout) {}

    void start(std::uint16_t port) {
        port_ = port;
        auto self = this->shared_from_this();
        deadline_.expires_after(timeout_);
        deadline_.async_wait([self](const std::error_code& ec) {
            if (ec || self->finished_) return;
            self->finish(
                fail(errc::timeout, fmt::format("no complete answer from the port mapper at {} within {} ms",
                                                where(self->host_, self->port_), self->timeout_.count())));
        });
        resolver_.async_resolve(host_, std::to_string(port),
                                [self](const std::error_code& ec, tcp::resolver::results_type eps) {
                                    self->on_resolve(ec, std::move(eps));
                                });
    }

private:
    void on_resolve(const std::error_code& ec, tcp::resolver::results_type eps) {
        if (finished_) return;
        if (ec) {
            finish(fail(errc::resolve_failed, fmt::format("{}: {}", host_, ec.message())));
            return;
        }
        auto self = this->shared_from_this();
        asio::async_connect(socket_, eps, [self](const std::error_code& cec, const tcp::endpoint&) {
            if (self->finished_) return;
            if (cec) {
                self->finish(fail(
                    errc::connect_failed,
                    fmt::format("port mapper at {}: {}", where(self->host_, self->port_), cec.message())));
                return;
            }
            asio::async_write(
                self->socket_, asio::buffer(self->request_), [self](const std::error_code& wec, std::size_t) {
                    if (self->finished_) return;
                    if (wec) {
                        self->finish(fail(errc::io_error,
                                          fmt::format("writing to {}: {}", where(self->host_, self->port_),
                                                      wec.message())));
                        return;
                    }
                    self->read();
                });
        });
    }

    void read() {
        auto self = this->shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [self](const std::error_code& ec, std::size_t n) {
            if (self->finished_) return;
            self->data_.insert(self->data_.end(), self->buf_.begin(),
                               self->buf_.begin() + static_cast<std::ptrdiff_t>(n));
            bool eof = ec == asio::error::eof;
            if (ec && !eof) {
                self->finish(
                    fail(errc::io_error,
                         fmt::format("reading from {}: {}", where(self->host_, self->port_), ec.message())));
                return;
            }
            if (self->data_.size() > max_answer) {
                self->finish(fail(errc::bad_response, fmt::format("answer above {} bytes", max_answer)));
                return;
            }
            auto r = self->decode_(byte_span(self->data_), eof);
            if (!r && r.error().code == errc::truncated) {
                if (!eof) {
                    self->read();
                    return;
                }
                self->finish(
                    fail(errc::closed,
                         fmt::format("the port mapper at {} closed the connection after "
                                     "{} bytes ({})",
                                     where(self->host_, self->port_), self->data_.size(), r.error().detail)));
                return;
            }
            self->finish(std::move(r));
        });
    }

    void finish(result<T, error> r) {
        if (finished_) return;
        finished_ = true;
        std::error_code ignored;
        deadline_.cancel();
        resolver_.cancel();
        socket_.close(ignored);
        auto done = std::move(done_);
        done(std::move(r));
    }

    tcp::resolver resolver_;
    tcp::socket socket_;
    asio::steady_timer deadline_;
    std::string host_;
    std::uint16_t port_ = 0;
    bytes request_;
    decoder decode_;
    callback done_;
    std::chrono::milliseconds timeout_;
    std::array<std::uint8_t, 4096> buf_{};
    bytes data_;
    bool finished_ = false;
};

template <class T>
void start_exchange(asio::io_context& io, std::string host, result<bytes, error> request,
                    typename exchange<T>::decoder decode, std::function<void(result<T, error>)> done,
                    const client_options& opts) {
    auto port = epmd_port(opts);
    if (!request || !port) {
        error e = !request ? request.error() : port.error();
        asio::post(io,
                   [done = std::move(done), e = std::move(e)]() mutable { done(unexpected(std::move(e))); });
        return;
    }
    auto op = std::make_shared<exchange<T>>(io, std::move(host), std::move(*request), std::move(decode),
                                            std::move(done), opts.timeout);
    op->start(*port);
}

template <class T, class Start>
result<T, error> run_sync(Start start) {
    asio::io_context io;
    std::optional<result<T, error>> out;
    start(io, [&out](result<T, error> r) { out.emplace(std::move(r)); });
    io.run();
    if (!out) return fail(errc::cancelled, "the operation did not complete");
    return std::move(*out);
}

}  // namespace

result<std::uint16_t, error> port_from_environment() {
    const char* v = std::getenv("ERL_EPMD_PORT");
    if (v == nullptr || *v == '\0') return default_port;
    std::string_view s(v);
    unsigned port = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    if (ec != std::errc() || p != s.data() + s.size() || port == 0 || port > 65535)
        return fail(errc::bad_argument, fmt::format("ERL_EPMD_PORT={} is not a port number", s));
    return static_cast<std::uint16_t>(port);
}

// ---- registration ----

namespace detail {

class registration_impl : public std::enable_shared_from_this<registration_impl> {
public:
    using state = registration::state;

    registration_impl(asio::io_context& io, std::string name, std::uint16_t port, node_type type,
                      std::function<void(result<std::uint32_t, error>)> on_registered, client_options opts)
        : io_(io),
          socket_(io),
          deadline_(io),
          retry_(io),
          name_(std::move(name)),
          port_(port),
          type_(type),
          on_registered_(std::move(on_registered)),
          opts_(std::move(opts)) {}

    void start() {
        std::lock_guard lock(mu_);
        port_info me;
        me.port = port_;
        me.type = type_;
        me.name = name_;
        auto req = encode_alive2_req(me);
        auto port = epmd_port(opts_);
        if (!req || !port) {
            error e = !req ? req.error() : port.error();
            auto self = shared_from_this();
            asio::post(io_, [self, e = std::move(e)]() mutable {
                std::lock_guard guard(self->mu_);
                self->first_failed(std::move(e));
            });
            return;
        }
        request_ = std::move(*req);
        epmd_port_ = *port;
        attempt();
    }

    // Closes at once, from any thread: every use of the socket and timers holds mu_.
    void close() {
        std::lock_guard lock(mu_);
        do_close();
    }

    std::atomic<state> state_{state::registering};
    std::atomic<std::uint32_t> creation_{0};
    std::atomic<std::size_t> reregistrations_{0};

private:
    void log(std::string_view what) const {
        if (opts_.log) opts_.log(what);
    }
    bool closed() const { return state_.load() == state::closed; }

    void attempt() {
        const unsigned a = ++attempt_;
        std::error_code ignored;
        socket_.close(ignored);
        reply_.clear();
        auto self = shared_from_this();
        const tcp::endpoint ep(opts_.ipv6 ? asio::ip::address(asio::ip::address_v6::loopback())
                                          : asio::ip::address(asio::ip::address_v4::loopback()),
                               epmd_port_);
        deadline_.expires_after(opts_.timeout);
        deadline_.async_wait([self, a](const std::error_code& ec) {
            std::lock_guard lock(self->mu_);
            if (ec || a != self->attempt_ || self->closed()) return;
            self->timed_out_ = true;
            std::error_code ig;
            self->socket_.close(ig);
        });
        timed_out_ = false;
        socket_.async_connect(ep, [self, a, ep](const std::error_code& ec) {
            std::lock_guard lock(self->mu_);
            if (a != self->attempt_ || self->closed()) return;
            if (ec) {
                self->attempt_failed(error{
                    self->timed_out_ ? errc::timeout : errc::connect_failed,
                    fmt::format("port mapper at {}: {}",
                                ep.address().to_string() + ":" + std::to_string(ep.port()), ec.message())});
                return;
            }
            asio::async_write(
                self->socket_, asio::buffer(self->request_),
                [self, a](const std::error_code& wec, std::size_t) {
                    std::lock_guard guard(self->mu_);
                    if (a != self->attempt_ || self->closed()) return;
                    if (wec) {
                        self->attempt_failed(
                            error{errc::io_error, fmt::format("sending ALIVE2_REQ: {}", wec.message())});
                        return;
                    }
                    self->read_reply(a);
                });
        });
    }

    void read_reply(unsigned a) {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [self, a](const std::error_code& ec, std::size_t n) {
            std::lock_guard lock(self->mu_);
            if (a != self->attempt_ || self->closed()) return;
            self->reply_.insert(self->reply_.end(), self->buf_.begin(),
                                self->buf_.begin() + static_cast<std::ptrdiff_t>(n));
            auto r = decode_alive2_resp(byte_span(self->reply_));
            if (!r && r.error().code == errc::truncated && !ec) {
                self->read_reply(a);
                return;
            }
            if (!r && r.error().code == errc::truncated) {
                if (self->timed_out_)
                    self->attempt_failed(error{
                        errc::timeout,
                        fmt::format("no answer to ALIVE2_REQ within {} ms", self->opts_.timeout.count())});
                else
                    self->attempt_failed(
                        error{ec == asio::error::eof ? errc::closed : errc::io_error,
                              fmt::format("waiting for the ALIVE2 answer: {}", ec.message())});
                return;
            }
            if (!r) {
                self->attempt_failed(r.error());
                return;
            }
            if (r->result != 0) {
                self->attempt_failed(
                    error{errc::duplicate_name,
                          fmt::format("the port mapper refused `{}` (result {})", self->name_, r->result)});
                return;
            }
            self->registered(a, r->creation);
        });
    }

    void registered(unsigned a, std::uint32_t creation) {
        deadline_.cancel();
        if (!answered_) {
            answered_ = true;
            creation_ = creation;
            state_ = state::registered;
            auto cb = std::move(on_registered_);
            cb(creation);
            if (closed()) return;  // the callback closed the registration
        } else {
            ++reregistrations_;
            state_ = state::registered;
            log(fmt::format("registered `{}` again with the port mapper (keeping creation {}, it offered {})",
                            name_, creation_.load(), creation));
        }
        watch(a);
    }

    // Nothing more is ever sent on a registration connection; reading only tells when it closes.
    // Bytes from the port mapper are ignored, as OTP's erl_epmd does.
    void watch(unsigned a) {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [self, a](const std::error_code& ec, std::size_t) {
            std::lock_guard lock(self->mu_);
            if (a != self->attempt_ || self->closed()) return;
            if (!ec) {
                self->watch(a);
                return;
            }
            std::error_code ig;
            self->socket_.close(ig);
            self->state_ = state::lost;
            self->log(
                fmt::format("the port mapper closed the registration of `{}` ({}); registering again every "
                            "{} ms",
                            self->name_, ec.message(), self->opts_.reregister_interval.count()));
            self->schedule_retry(a);
        });
    }

    void attempt_failed(error e) {
        deadline_.cancel();
        std::error_code ignored;
        socket_.close(ignored);
        if (!answered_) {
            first_failed(std::move(e));
            return;
        }
        state_ = state::lost;
        log(fmt::format("registering `{}` again failed: {}", name_, e.message()));
        schedule_retry(attempt_);
    }

    void first_failed(error e) {
        if (closed()) return;
        answered_ = true;
        state_ = state::closed;
        ++attempt_;
        auto cb = std::move(on_registered_);
        if (cb) cb(unexpected(std::move(e)));
    }

    void schedule_retry(unsigned a) {
        auto self = shared_from_this();
        retry_.expires_after(opts_.reregister_interval);
        retry_.async_wait([self, a](const std::error_code& ec) {
            std::lock_guard lock(self->mu_);
            if (ec || a != self->attempt_ || self->closed()) return;
            self->attempt();
        });
    }

    void do_close() {
        if (closed()) return;
        state_ = state::closed;
        ++attempt_;  // every pending handler is now stale
        std::error_code ignored;
        deadline_.cancel();
        retry_.cancel();
        socket_.close(ignored);
        if (!answered_) {
            answered_ = true;
            // Callbacks run on the io_context, even when close() is called elsewhere.
            auto cb = std::move(on_registered_);
            if (cb)
                asio::post(io_, [cb = std::move(cb)] {
                    cb(unexpected(error{errc::cancelled, "the registration was closed before the answer"}));
                });
        }
    }

    asio::io_context& io_;
    // Handlers (on the io_context) and close() (on any thread) take turns on the socket and
    // timers. Recursive: a callback may close its own registration.
    std::recursive_mutex mu_;
    tcp::socket socket_;
    asio::steady_timer deadline_;
    asio::steady_timer retry_;
    std::string name_;
    std::uint16_t port_;
    node_type type_;
    std::function<void(result<std::uint32_t, error>)> on_registered_;
    client_options opts_;
    std::uint16_t epmd_port_ = 0;
    bytes request_;
    bytes reply_;
    std::array<std::uint8_t, 256> buf_{};
    unsigned attempt_ = 0;   // handlers of an older attempt (or after close) do nothing
    bool answered_ = false;  // on_registered_ has been called
    bool timed_out_ = false;
};

}  // namespace detail

registration& registration::operator=(registration&& other) noexcept {
    if (this != &other) {
        close();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

registration::~registration() {
    close();
}

void registration::close() noexcept {
    if (!impl_) return;
    try {
        impl_->close();
    } catch (...) {  // dispatch may allocate; there is nothing better to do than leave it open
    }
}

registration::state registration::current() const noexcept {
    return impl_ ? impl_->state_.load() : state::closed;
}
std::uint32_t registration::creation() const noexcept {
    return impl_ ? impl_->creation_.load() : 0;
}
std::size_t registration::reregistrations() const noexcept {
    return impl_ ? impl_->reregistrations_.load() : 0;
}

registration register_node(asio::io_context& io, std::string name, std::uint16_t port, node_type type,
                           std::function<void(result<std::uint32_t, error>)> on_registered,
                           client_options opts) {
    auto impl = std::make_shared<detail::registration_impl>(io, std::move(name), port, type,
                                                            std::move(on_registered), std::move(opts));
    impl->start();
    return registration(std::move(impl));
}

// ---- one-shot requests ----

void port_please(asio::io_context& io, std::string host, std::string name,
                 std::function<void(result<port_info, error>)> done, client_options opts) {
    auto decode = [name, host](byte_span data, bool) -> result<port_info, error> {
        auto r = decode_port2_resp(data);
        if (!r) return unexpected(std::move(r).error());
        if (r->result != 0 || !r->node)
            return fail(errc::not_found,
                        fmt::format("no node `{}` registered on {} (result {})", name, host, r->result));
        return std::move(*r->node);
    };
    start_exchange<port_info>(io, std::move(host), encode_port_please2_req(name), std::move(decode),
                              std::move(done), opts);
}

void names(asio::io_context& io, std::string host, std::function<void(result<names_resp, error>)> done,
           client_options opts) {
    auto decode = [](byte_span data, bool eof) -> result<names_resp, error> {
        if (!eof) return fail(errc::truncated, "the list ends when the port mapper closes");
        return decode_names_resp(data);
    };
    start_exchange<names_resp>(io, std::move(host), encode_names_req(), std::move(decode), std::move(done),
                               opts);
}

void dump(asio::io_context& io, std::string host, std::function<void(result<dump_resp, error>)> done,
          client_options opts) {
    auto decode = [](byte_span data, bool eof) -> result<dump_resp, error> {
        if (!eof) return fail(errc::truncated, "the dump ends when the port mapper closes");
        if (data.empty())
            return fail(errc::not_allowed, "the port mapper closed without answering (not a local peer?)");
        return decode_dump_resp(data);
    };
    start_exchange<dump_resp>(io, std::move(host), encode_dump_req(), std::move(decode), std::move(done),
                              opts);
}

void kill(asio::io_context& io, std::string host, std::function<void(result<void, error>)> done,
          client_options opts) {
    auto decode = [](byte_span data, bool eof) -> result<void, error> {
        if (eof && data.empty())
            return fail(errc::not_allowed, "the port mapper closed without answering (not a local peer?)");
        auto r = decode_kill_resp(data);
        if (!r) return unexpected(std::move(r).error());
        if (!*r) return fail(errc::not_allowed, "the port mapper answered NO: live nodes are registered");
        return {};
    };
    start_exchange<void>(io, std::move(host), encode_kill_req(), std::move(decode), std::move(done), opts);
}

void stop(asio::io_context& io, std::string host, std::string name,
          std::function<void(result<stop_result, error>)> done, client_options opts) {
    auto decode = [](byte_span data, bool eof) -> result<stop_result, error> {
        if (eof && data.empty())
            return fail(
                errc::not_allowed,
                "the port mapper closed without answering (no relaxed command check, or not a local peer)");
        return decode_stop_resp(data);
    };
    start_exchange<stop_result>(io, std::move(host), encode_stop_req(name), std::move(decode),
                                std::move(done), opts);
}

result<port_info, error> port_please_sync(const std::string& host, const std::string& name,
                                          client_options opts) {
    return run_sync<port_info>([&](asio::io_context& io, auto cb) { port_please(io, host, name, cb, opts); });
}
result<names_resp, error> names_sync(const std::string& host, client_options opts) {
    return run_sync<names_resp>([&](asio::io_context& io, auto cb) { names(io, host, cb, opts); });
}
result<dump_resp, error> dump_sync(const std::string& host, client_options opts) {
    return run_sync<dump_resp>([&](asio::io_context& io, auto cb) { dump(io, host, cb, opts); });
}
result<void, error> kill_sync(const std::string& host, client_options opts) {
    return run_sync<void>([&](asio::io_context& io, auto cb) { kill(io, host, cb, opts); });
}
result<stop_result, error> stop_sync(const std::string& host, const std::string& name, client_options opts) {
    return run_sync<stop_result>([&](asio::io_context& io, auto cb) { stop(io, host, name, cb, opts); });
}

}  // namespace nodus::epmd

// One distribution connection: name lookup, TCP, the handshake, then framed packets both
// ways, ticks, and what a lost connection means to the processes that used it.
#include <chrono>
#include <cstring>
#include <limits>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "dist/node_impl.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/term/text.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus::detail {

namespace {

const atom a_net_tick_timeout{"net_tick_timeout"};
const atom a_connection_closed{"connection_closed"};
const atom a_disconnect{"disconnect"};
const atom a_protocol_error{"protocol_error"};
const atom a_spawn_reply{"spawn_reply"};

constexpr std::size_t input_chunk = 256 * 1024;
// Continuation fragments at least this long are read into the reassembly buffer directly.
constexpr std::size_t direct_min = 16 * 1024;
// Read together with the rest of such a fragment: enough for what follows it (the next
// fragment's header, or small messages between fragments).
constexpr std::size_t direct_tail = 4096;
// Bytes of bulk fragments per write. A small message queued meanwhile waits for the write in
// flight, so while small messages travel alongside a bulk transfer (some went out in the last
// few milliseconds) the writes are shorter: a little bulk throughput for much less head-of-line
// latency (hol_latency in bench/: p50 340 -> 110-140 us here).
constexpr std::size_t write_budget = 1024 * 1024;
constexpr std::size_t mixed_write_budget = 128 * 1024;
constexpr std::int64_t mixed_window_ns = 5'000'000;
constexpr std::size_t max_iov = 512;
constexpr std::size_t batch_limit = 256 * 1024;  // bytes of small messages per batch entry
constexpr std::size_t max_spare_batches = 4;

byte_storage* new_input(std::size_t n) { return byte_storage::allocate(n); }

// A signal as the typed control message the wire carries.
std::optional<dist::control_message> to_control(const remote_signal& s, const term& fallback_from) {
    auto as_pid = [](const term& t, const term& fb) { return t.is_pid() ? t.as_pid() : fb.as_pid(); };
    switch (s.kind) {
        case signal_kind::message:
            if (!s.to.is_pid()) return std::nullopt;
            if (s.from.is_pid()) return dist::send_sender{s.from.as_pid(), s.to.as_pid(), s.payload, {}};
            return dist::send{s.to.as_pid(), s.payload, {}};
        case signal_kind::reg_send:
            if (!s.to.is_atom()) return std::nullopt;
            return dist::reg_send{as_pid(s.from, fallback_from), s.to.as_atom(), s.payload, {}};
        case signal_kind::link: return dist::link{s.from.as_pid(), s.to.as_pid()};
        case signal_kind::unlink: return dist::unlink_id{s.id, s.from.as_pid(), s.to.as_pid()};
        case signal_kind::unlink_ack: return dist::unlink_id_ack{s.id, s.from.as_pid(), s.to.as_pid()};
        case signal_kind::exit: return dist::exit{s.from.as_pid(), s.to.as_pid(), s.payload, {}};
        case signal_kind::exit2: return dist::exit2{as_pid(s.from, fallback_from), s.to.as_pid(), s.payload, {}};
        case signal_kind::monitor: return dist::monitor_p{s.from.as_pid(), s.to, s.ref.as_reference()};
        case signal_kind::demonitor: return dist::demonitor_p{s.from.as_pid(), s.to, s.ref.as_reference()};
        case signal_kind::monitor_exit:
            return dist::monitor_p_exit{s.from, s.to.as_pid(), s.ref.as_reference(), s.payload};
        case signal_kind::group_leader: return dist::group_leader{s.from.as_pid(), s.to.as_pid()};
        case signal_kind::spawn_request: {
            // payload = {Module, Function, Args, Options, GroupLeader}
            const term& p = s.payload;
            return dist::spawn_request{s.ref.as_reference(), s.from.as_pid(), as_pid(p[4], fallback_from),
                                       p[0].as_atom(),        p[1].as_atom(),    p[3],
                                       p[2],                  {}};
        }
        case signal_kind::spawn_reply: return std::nullopt;  // built by the node
    }
    return std::nullopt;
}

}  // namespace

connection::connection(node_impl& node, unsigned worker, bool initiator, atom peer)
    : node_(node),
      worker_(worker),
      initiator_(initiator),
      peer_(peer),
      setup_timer_(node.pollers[worker]->context()),
      tick_timer_(node.pollers[worker]->context()),
      send_queue_limit_(node.cfg.send_queue_limit) {
    unsigned workers = node.rt ? node.rt->worker_count() : 0;
    for (unsigned i = 0; i < workers; ++i) {
        staged_.push_back(std::make_unique<staged>());
        staged_.back()->owner = this;
    }
}

connection::~connection() {
    if (in_) in_->drop();
}

asio::io_context& connection::ctx() { return node_.pollers[worker_]->context(); }

// ---------------------------------------------------------------------------------------------
// Setting up

void connection::start_outgoing() {
    auto self = shared_from_this();
    asio::post(ctx(), [self] {
        node_impl& n = self->node_;
        auto ok = dist::can_connect(n.mode, self->peer_);
        if (!ok) {
            n.log("cannot connect to " + std::string(self->peer_.name()) + ": " + ok.error().message);
            self->close(ok.error().message, a_connection_closed);
            return;
        }
        auto parts = dist::split_node_name(self->peer_.name());
        std::string host(parts->host), alive(parts->alive);
        self->arm_setup_timer();
        auto connect_to = [self, host](std::uint16_t port) {
            auto resolver = std::make_shared<asio::ip::tcp::resolver>(self->ctx());
            resolver->async_resolve(
                host, std::to_string(port), [self, resolver](const asio::error_code& ec, auto results) {
                    if (ec) {
                        self->close("cannot resolve the host: " + ec.message(), a_connection_closed);
                        return;
                    }
                    auto sock = std::make_shared<asio::ip::tcp::socket>(self->ctx());
                    asio::async_connect(*sock, results, [self, sock](const asio::error_code& ec2, const auto&) {
                        if (ec2) {
                            self->close("cannot connect: " + ec2.message(), a_connection_closed);
                            return;
                        }
                        self->on_connected(std::move(*sock));
                    });
                });
        };
        if (n.cfg.no_epmd_port) {
            connect_to(n.cfg.no_epmd_port);
            return;
        }
        epmd::client_options eo;
        eo.epmd_port = n.cfg.epmd_port;
        eo.timeout = n.cfg.net_setuptime;
        epmd::port_please(
            self->ctx(), host, alive,
            [self, connect_to](result<epmd::port_info, epmd::error> r) {
                if (!r) {
                    self->close("port mapper lookup failed: " + r.error().message(), a_connection_closed);
                    return;
                }
                if (r->highest_version < 6) {
                    self->close("the peer speaks an old distribution version (OTP 22 or older)", a_connection_closed);
                    return;
                }
                connect_to(r->port);
            },
            eo);
    });
}

void connection::start_incoming(asio::ip::tcp::socket sock) {
    auto self = shared_from_this();
    auto holder = std::make_shared<asio::ip::tcp::socket>(std::move(sock));
    asio::post(ctx(), [self, holder] {
        self->arm_setup_timer();
        self->on_connected(std::move(*holder));
    });
}

void connection::on_connected(asio::ip::tcp::socket sock) {
    if (current() == state::closed) return;
    asio::error_code ec;
    sock.set_option(asio::ip::tcp::no_delay(true), ec);
    if (std::size_t b = node_.cfg.send_buffer_bytes; b != 0)
        sock.set_option(asio::socket_base::send_buffer_size(static_cast<int>(std::min<std::size_t>(b, 1 << 30))), ec);
    auto& tls_ctx = initiator_ ? node_.tls_client : node_.tls_server;
    if (!tls_ctx) {
        sock_.emplace(std::move(sock));
        set_state(state::handshaking);
        begin_handshake();
        return;
    }
    // inet_tls_dist: the TLS handshake first (within net_setuptime, whose timer runs), then the
    // distribution handshake inside it.
    sock_.emplace(std::move(sock), *tls_ctx);
    if (initiator_) {
        auto parts = dist::split_node_name(peer_.name());
        if (parts) sock_->expect_host(std::string(parts->host), node_.cfg.tls->client.verify_peer);
    }
    set_state(state::handshaking);
    auto self = shared_from_this();
    sock_->async_start(initiator_, [self](const asio::error_code& e) {
        if (self->current() == state::closed) return;
        if (e) {
            std::string why = e.message();
            if (SSL* ssl = self->sock_->ssl()) {
                long v = SSL_get_verify_result(ssl);
                if (v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
            }
            self->close("TLS handshake failed: " + why, a_connection_closed);
            return;
        }
        self->begin_handshake();
    });
}

void connection::arm_setup_timer() {
    setup_timer_.expires_after(node_.cfg.net_setuptime);
    std::weak_ptr<connection> weak = shared_from_this();
    setup_timer_.async_wait([weak](const asio::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        if (self->current() == state::up || self->current() == state::closed) return;
        if (self->hs_) {
            self->hs_->timeout();
            self->handshake_progress();
        } else {
            self->close("connection setup timed out", a_connection_closed);
        }
    });
}

void connection::begin_handshake() {
    auto self = shared_from_this();
    auto cfg = node_.handshake_config_for(self, initiator_);
    if (sock_->is_tls()) cfg.framing = dist::handshake_framing::tls;  // {packet, 4} from the start
    if (initiator_) {
        hs_.emplace(dist::handshake::initiator(std::move(cfg), peer_));
        hs_->start();
    } else {
        hs_.emplace(dist::handshake::acceptor(std::move(cfg)));
    }
    handshake_progress();
}

void connection::handshake_progress() {
    if (current() == state::closed) return;
    dist::handshake& hs = *hs_;
    if (hs.awaiting_old_connection()) {
        // We answered `alive` and the peer says its old connection is gone: tear ours down.
        node_.disconnect(atom::existing(hs.peer_name_text()).value_or(atom()));
        hs.old_connection_closed();
    }
    if (!hs.output().empty()) {
        auto data = std::make_shared<std::vector<std::uint8_t>>(hs.take_output());
        auto self = shared_from_this();
        sock_->async_write_all(asio::buffer(*data), [self, data](const asio::error_code& ec, std::size_t) {
            if (ec) {
                self->hs_->closed();
                if (self->hs_->failure()) {
                    self->close("handshake: " + self->hs_->failure()->detail, a_connection_closed);
                    return;
                }
            }
            self->handshake_progress();
        });
        return;
    }
    if (hs.state() == dist::handshake_state::up) {
        go_up(*hs.result(), hs.take_leftover());
        return;
    }
    if (hs.state() == dist::handshake_state::failed) {
        const auto& f = *hs.failure();
        if (f.lost_race()) {
            node_.connection_failed(shared_from_this(), atom("nok"));
            close("", a_connection_closed);
            return;
        }
        std::string who = initiator_ ? std::string(peer_.name()) : std::string(hs.peer_name_text());
        close("handshake with " + (who.empty() ? std::string("a peer") : who) + " failed (" +
                  std::string(dist::to_string(f.error)) + "): " + f.detail,
              a_connection_closed);
        return;
    }
    handshake_read();
}

void connection::handshake_read() {
    hs_in_.resize(4096);
    auto self = shared_from_this();
    sock_->async_read_some(asio::buffer(hs_in_), [self](const asio::error_code& ec, std::size_t n) {
        if (self->current() == state::closed) return;
        if (ec) {
            self->hs_->closed();
        } else {
            self->hs_->feed(byte_span(self->hs_in_.data(), n));
        }
        self->handshake_progress();
    });
}

void connection::go_up(const dist::handshake_result& r, std::vector<std::uint8_t> leftover) {
    setup_timer_.cancel();
    peer_ = r.peer;
    flags_ = r.flags;
    visible_ = r.visible();
    peer_creation_ = r.peer_creation;
    atom_budget_ = node_.cfg.atom_budget_per_connection;
    dist::packet_limits limits;
    limits.max_message_size = node_.cfg.max_message_bytes;
    limits.max_sequences = node_.cfg.max_fragmented_messages;
    limits.max_buffered_bytes = node_.cfg.max_reassembly_bytes;
    etf::decode_options dec;
    dec.atom_budget = &atom_budget_;
    reader_.emplace(flags_, limits, dec);
    reader_->set_quick_messages(true);
    writer_.emplace(flags_);
    in_ = new_input(std::max(input_chunk, leftover.size()));
    if (!leftover.empty()) std::memcpy(in_->mutable_data(), leftover.data(), leftover.size());
    in_start_ = 0;
    in_end_ = leftover.size();
    set_state(state::up);
    node_.connection_up(shared_from_this());
    if (current() != state::up) return;  // lost to another connection meanwhile
    arm_tick();
    process_input();
    if (current() == state::up) read_more();
}

// ---------------------------------------------------------------------------------------------
// Receiving

void connection::read_more() {
    if (direct_active_) {
        read_direct();
        return;
    }
    if (in_end_ == in_->size) {
        // Full: process_input() made room unless a single packet is larger; it grew then.
        close("input buffer full", a_protocol_error);
        return;
    }
    auto self = shared_from_this();
    sock_->async_read_some(asio::buffer(in_->mutable_data() + in_end_, in_->size - in_end_),
                           [self](const asio::error_code& ec, std::size_t n) {
                               if (self->current() != state::up) return;
                               if (ec) {
                                   self->close(ec == asio::error::eof ? "the peer closed the connection"
                                                                      : "read failed: " + ec.message(),
                                               a_connection_closed);
                                   return;
                               }
                               self->in_end_ += n;
                               self->read_ = true;
                               self->process_input();
                               if (self->current() == state::up) self->read_more();
                           });
}

void connection::read_direct() {
    // readv fills the fragment's body first: bytes reach the input buffer only once it is whole.
    std::array<asio::mutable_buffer, 2> bufs{
        asio::buffer(direct_.data() + direct_filled_, direct_.size() - direct_filled_),
        asio::buffer(in_->mutable_data() + in_end_, std::min(direct_tail, in_->size - in_end_))};
    auto self = shared_from_this();
    sock_->async_read_some(bufs, [self](const asio::error_code& ec, std::size_t n) {
        if (self->current() != state::up) return;
        if (ec) {
            self->close(ec == asio::error::eof ? "the peer closed the connection" : "read failed: " + ec.message(),
                        a_connection_closed);
            return;
        }
        self->read_ = true;
        std::size_t body = std::min(n, self->direct_.size() - self->direct_filled_);
        self->direct_filled_ += body;
        self->in_end_ += n - body;
        if (self->direct_filled_ == self->direct_.size()) {
            self->direct_active_ = false;
            self->direct_ = {};
            if (!self->after_feed(self->reader_->finish_placed())) return;
            if (self->current() != state::up) return;
            self->process_input();
        }
        if (self->current() == state::up) self->read_more();
    });
}

// The input buffer holds nothing unprocessed: start over at its beginning, in a fresh one if
// decoded binaries still point into it.
void connection::reuse_empty_input() {
    if (in_->refs.load() > 1) {
        in_->drop();
        in_ = new_input(input_chunk);
    }
    in_start_ = in_end_ = 0;
}

void connection::process_input() {
    while (in_end_ - in_start_ >= 4) {
        const std::uint8_t* p = in_->data + in_start_;
        std::size_t len = byte_reader::get32(p);
        if (len == 0) {  // tick
            in_start_ += 4;
            continue;
        }
        if (len > node_.cfg.max_message_bytes + 64 * 1024) {
            close("packet of " + std::to_string(len) + " bytes is above the limit", a_protocol_error);
            return;
        }
        if (in_end_ - in_start_ - 4 < len) {
            std::size_t have = in_end_ - in_start_;
            // A big continuation fragment: the rest of its body is read where it belongs.
            constexpr std::size_t head = dist::packet_reader::continuation_head_size;
            if (len >= direct_min && have >= 4 + head) {
                auto placed = reader_->place_continuation(byte_span(p + 4, have - 4), len);
                if (!placed) {
                    close("bad packet from " + std::string(peer_.name()) + ": " + placed.error().message,
                          a_protocol_error);
                    return;
                }
                if (*placed) {
                    direct_ = **placed;
                    direct_filled_ = have - 4 - head;
                    if (direct_filled_ != 0) std::memcpy(direct_.data(), p + 4 + head, direct_filled_);
                    direct_active_ = true;
                    reuse_empty_input();
                    return;
                }
            }
            // Incomplete: make room for the whole packet (one read can then fill it).
            std::size_t need = 4 + len;
            if (in_start_ > 0 || need > in_->size) {
                bool shared = in_->refs.load() > 1;  // decoded binaries point into it
                if (shared || need > in_->size) {
                    byte_storage* fresh = new_input(std::max(input_chunk, need));
                    std::memcpy(fresh->mutable_data(), in_->data + in_start_, have);
                    in_->drop();
                    in_ = fresh;
                } else {
                    std::memmove(in_->mutable_data(), in_->data + in_start_, have);
                }
                in_start_ = 0;
                in_end_ = have;
            }
            return;
        }
        byte_span payload(p + 4, len);
        in_start_ += 4 + len;
        if (!handle_packet(payload, in_)) return;
        if (current() != state::up) return;
    }
    if (in_start_ == in_end_) {
        reuse_empty_input();
    } else if (in_end_ == in_->size) {
        // Only part of a length prefix is left, at the very end of the buffer: move it to the
        // front, or the next read would have no room (the soak found this).
        std::size_t have = in_end_ - in_start_;
        if (in_->refs.load() > 1) {
            byte_storage* fresh = new_input(input_chunk);
            std::memcpy(fresh->mutable_data(), in_->data + in_start_, have);
            in_->drop();
            in_ = fresh;
        } else {
            std::memmove(in_->mutable_data(), in_->data + in_start_, have);
        }
        in_start_ = 0;
        in_end_ = have;
    }
}

bool connection::handle_packet(byte_span payload, byte_storage* owner) {
    return after_feed(reader_->feed(payload, owner));
}

// What the reader made of a packet: closes on an error, dispatches a complete message.
bool connection::after_feed(result<std::optional<dist::dist_message>, dist::packet_error> r) {
    if (!r) {
        close("bad packet from " + std::string(peer_.name()) + ": " + r.error().message, a_protocol_error);
        return false;
    }
    if (!*r) return true;  // a fragment
    dist::dist_message& dm = **r;
    if (dm.quick.what != dist::quick_message::kind::none) {
        // A message signal read without its control tuple (nothing to track for messages).
        bool to_pid = dm.quick.what == dist::quick_message::kind::to_pid;
        node_.rt->deliver({to_pid ? signal_kind::message : signal_kind::reg_send, term(), std::move(dm.quick.to),
                           node_.name, std::move(*dm.payload), {}, 0});
        return true;
    }
    auto m = dist::decode_control(dm);
    if (!m) {
        close("bad control message from " + std::string(peer_.name()) + ": " + m.error().message, a_protocol_error);
        return false;
    }
    dispatch(std::move(*m));
    return true;
}

void connection::dispatch(dist::control_message&& m) {
    runtime& rt = *node_.rt;
    atom me = node_.name;
    auto deliver = [&](remote_signal s) {
        track(s, false);
        rt.deliver(std::move(s));
    };
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, dist::send>) {
                deliver({signal_kind::message, term(), msg.to, me, std::move(msg.message), {}, 0});
            } else if constexpr (std::is_same_v<T, dist::send_sender>) {
                deliver({signal_kind::message, msg.from, msg.to, me, std::move(msg.message), {}, 0});
            } else if constexpr (std::is_same_v<T, dist::reg_send>) {
                deliver({signal_kind::reg_send, msg.from, term(msg.to_name), me, std::move(msg.message), {}, 0});
            } else if constexpr (std::is_same_v<T, dist::link>) {
                deliver({signal_kind::link, msg.from, msg.to, me, {}, {}, 0});
            } else if constexpr (std::is_same_v<T, dist::unlink>) {
                deliver({signal_kind::unlink, msg.from, msg.to, me, {}, {}, 0});
            } else if constexpr (std::is_same_v<T, dist::unlink_id>) {
                deliver({signal_kind::unlink, msg.from, msg.to, me, {}, {}, msg.id});
            } else if constexpr (std::is_same_v<T, dist::unlink_id_ack>) {
                deliver({signal_kind::unlink_ack, msg.from, msg.to, me, {}, {}, msg.id});
            } else if constexpr (std::is_same_v<T, dist::exit>) {
                deliver({signal_kind::exit, msg.from, msg.to, me, std::move(msg.reason), {}, 0});
            } else if constexpr (std::is_same_v<T, dist::exit2>) {
                deliver({signal_kind::exit2, msg.from, msg.to, me, std::move(msg.reason), {}, 0});
            } else if constexpr (std::is_same_v<T, dist::monitor_p>) {
                deliver({signal_kind::monitor, msg.from, msg.target, me, {}, msg.ref, 0});
            } else if constexpr (std::is_same_v<T, dist::demonitor_p>) {
                deliver({signal_kind::demonitor, msg.from, msg.target, me, {}, msg.ref, 0});
            } else if constexpr (std::is_same_v<T, dist::monitor_p_exit>) {
                deliver({signal_kind::monitor_exit, msg.from, msg.to, me, std::move(msg.reason), msg.ref, 0});
            } else if constexpr (std::is_same_v<T, dist::group_leader>) {
                deliver({signal_kind::group_leader, msg.leader, msg.target, me, {}, {}, 0});
            } else if constexpr (std::is_same_v<T, dist::spawn_request>) {
                node_.on_spawn_request(shared_from_this(), std::move(msg));
            } else if constexpr (std::is_same_v<T, dist::spawn_reply>) {
                // Delivered as a signal: the requester's link/monitor start with it.
                {
                    std::lock_guard l(node_.quiet_mutex);
                    if (node_.quiet_spawns.erase(msg.req_id)) {
                        track({signal_kind::spawn_reply, {}, {}, me, {}, msg.req_id, 0}, false);
                        return;
                    }
                }
                deliver({signal_kind::spawn_reply, msg.result, msg.to, me, {}, msg.req_id, msg.flags});
            } else if constexpr (std::is_same_v<T, dist::alias_send>) {
                // Process aliases are not implemented: nothing here ever handed one out.
            }
        },
        m);
}

// ---------------------------------------------------------------------------------------------
// Sending

bool connection::send(const remote_signal& s) {
    if (current() != state::up) return false;
    // Messages, the common case: the control tuple's elements straight to the encoder.
    bool try_small = true;
    if ((s.kind == signal_kind::message && s.to.is_pid()) || (s.kind == signal_kind::reg_send && s.to.is_atom())) {
        static const term no_name{atom()};
        std::array<term, 4> control;
        std::size_t n;
        if (s.kind == signal_kind::reg_send) {
            const term& from = s.from.is_pid() ? s.from : node_.anonymous_sender();
            control = {term(static_cast<int>(dist::op::reg_send)), from, no_name, s.to};
            n = 4;
        } else if (s.from.is_pid() && (flags_ & dist::dflag::send_sender) != 0) {
            control = {term(static_cast<int>(dist::op::send_sender)), s.from, s.to, term()};
            n = 3;
        } else {
            control = {term(static_cast<int>(dist::op::send)), no_name, s.to, term()};
            n = 3;
        }
        thread_local dist::small_encoding small;
        if (writer_->encode_small(std::span<const term>(control.data(), n), &s.payload, small) &&
            (stage(small) || enqueue_small(small, s.from)))
            return true;
        try_small = false;  // too big for a batch, or behind its sender's big message
    }
    auto m = to_control(s, node_.anonymous_sender());
    if (!m) return true;  // nothing to send (not addressable)
    track(s, true);
    return send_control(*m, s.from, try_small);
}

bool connection::send_control(const dist::control_message& m, const term& sender, bool try_small) {
    if (current() != state::up) return false;
    hand_over_own_staged();  // what this worker staged goes first
    dist::dist_message dm = dist::encode_control(m, flags_);
    const term* payload = dm.payload ? &*dm.payload : nullptr;
    // Small messages are encoded here, on the sender's thread, and copied into a batch under
    // the lock: no allocation per message, and one write for many.
    bool cache_atoms = true;
    if (try_small) {
        thread_local dist::small_encoding small;
        if (writer_->encode_small(dm.control, payload, small)) {
            if (enqueue_small(small, sender)) return true;
            cache_atoms = false;  // behind its sender's big message, see queue()
        }
    }
    std::uint64_t seq = next_sequence_.fetch_add(1, std::memory_order_relaxed);
    auto om = writer_->prepare(dm.control, payload, seq, cache_atoms);
    if (!om) {
        node_.log("cannot send to " + std::string(peer_.name()) + ": " + om.error().message);
        return true;
    }
    enqueue(std::move(*om), sender, false, &dm);
    return true;
}

// Under out_mutex_: true when the caller is to flush at once (it runs on the connection's own
// worker and no write is in flight); otherwise a flush is posted unless one is due anyway.
bool connection::flush_now_locked() {
    if (flush_scheduled_ || writing_) return false;
    // On the connection's own worker an idle connection writes at once (one trip through the
    // event loop less per round trip); what comes while that write is in flight goes out
    // together after it.
    if (node_.rt && node_.rt->current_worker() == static_cast<int>(worker_)) return true;
    flush_scheduled_ = true;
    asio::post(ctx(), [self = shared_from_this()] { self->flush(); });
    return false;
}

void connection::enqueue(dist::outgoing_message&& m, const term& sender, bool urgent,
                         const dist::dist_message* source) {
    bool now = false;
    {
        std::lock_guard l(out_mutex_);
        if (!queue(std::move(m), sender, urgent, source)) return;
        now = flush_now_locked();
    }
    if (now) flush();
}

std::vector<std::uint8_t> connection::spare_batch_locked() {
    if (spare_batches_.empty()) {
        std::vector<std::uint8_t> b;
        b.reserve(64 * 1024);
        return b;
    }
    std::vector<std::uint8_t> b = std::move(spare_batches_.back());
    spare_batches_.pop_back();
    return b;
}

// Under out_mutex_: the batch small messages go to now (the last queue entry, or a new one when
// that is a big message or full).
std::vector<std::uint8_t>& connection::current_batch_locked() {
    if (normal_.empty() || !normal_.back().is_batch() || normal_.back().batch.size() >= batch_limit) {
        queued q;
        q.batch = spare_batch_locked();
        normal_.push_back(std::move(q));
    }
    return normal_.back().batch;
}

// Appends a small message to the current batch; false (and nothing done) when its sender has
// a big message queued, which it must follow (queue() sees to that).
bool connection::enqueue_small(const dist::small_encoding& e, const term& sender) {
    bool now = false;
    {
        std::lock_guard l(out_mutex_);
        if (current() == state::closed) return true;  // dropped, as any send on a closed connection
        if (!bulk_senders_.empty() && bulk_senders_.count(sender.raw()) != 0) return false;
        std::vector<std::uint8_t>& b = current_batch_locked();
        std::size_t before = b.size();
        writer_->append_sealed(e, b);
        queued_bytes_.fetch_add(b.size() - before, std::memory_order_relaxed);
        now = flush_now_locked();
    }
    if (now) flush();
    return true;
}

// On a worker, inside a process, with no big message queued (a sender with one must follow it:
// enqueue_small): the message waits in this worker's staging until the slice ends.
bool connection::stage(const dist::small_encoding& e) {
    if (!node_.rt) return false;
    if (bulk_messages_.load(std::memory_order_relaxed) != 0) {
        hand_over_own_staged();  // enqueue_small takes it: after what this worker staged
        return false;
    }
    int w = node_.rt->current_worker();
    if (w < 0 || static_cast<std::size_t>(w) >= staged_.size()) return false;
    staged& st = *staged_[static_cast<std::size_t>(w)];
    if (!st.keep) {
        if (!node_.rt->defer_to_slice_end(st)) return false;  // not in a process: no slice end
        st.keep = shared_from_this();
    }
    st.bodies.insert(st.bodies.end(), e.body.data(), e.body.data() + e.body.size());
    st.atoms.insert(st.atoms.end(), e.atoms.begin(), e.atoms.end());
    st.sizes.emplace_back(static_cast<std::uint32_t>(e.body.size()), static_cast<std::uint32_t>(e.atoms.size()));
    // A long slice of sends goes out in parts, not all at its end.
    if (st.bodies.size() >= batch_limit) hand_over(st);
    return true;
}

void connection::staged::at_slice_end() {
    std::shared_ptr<connection> self = std::move(keep);  // may be the last reference
    owner->hand_over(*this);
}

void connection::hand_over_own_staged() {
    if (staged_.empty()) return;  // (no runtime)
    int w = node_.rt->current_worker();
    if (w >= 0 && static_cast<std::size_t>(w) < staged_.size()) hand_over(*staged_[static_cast<std::size_t>(w)]);
}

// Seals the staged messages into the current batch, in their order, under one lock.
void connection::hand_over(staged& st) {
    if (st.sizes.empty()) return;
    bool now = false;
    {
        std::lock_guard l(out_mutex_);
        if (current() != state::closed) {  // else dropped, as any send on a closed connection
            std::size_t body_at = 0, atom_at = 0;
            std::size_t added = 0;
            for (auto [body_len, atom_count] : st.sizes) {
                std::vector<std::uint8_t>& b = current_batch_locked();
                std::size_t before = b.size();
                writer_->append_sealed(byte_span(st.bodies.data() + body_at, body_len),
                                       std::span<const atom>(st.atoms.data() + atom_at, atom_count), b);
                added += b.size() - before;
                body_at += body_len;
                atom_at += atom_count;
            }
            queued_bytes_.fetch_add(added, std::memory_order_relaxed);
            now = flush_now_locked();
        }
    }
    st.bodies.clear();
    st.atoms.clear();
    st.sizes.clear();
    if (now) flush();
}

bool connection::sender_should_wait(const term& sender) {
    if (over_limit()) return true;
    std::size_t limit = send_queue_limit_;
    if (limit == 0 || queued_bytes_.load(std::memory_order_relaxed) + uncounted_bytes_.load(std::memory_order_relaxed) <= limit)
        return false;
    std::lock_guard l(out_mutex_);
    return bulk_senders_.count(sender.raw()) != 0;
}

bool connection::add_drain_waiter(const term& waiter, const term& ref) {
    std::lock_guard l(out_mutex_);
    if (current() == state::closed) return false;
    std::size_t limit = send_queue_limit_;
    bool whole = bulk_senders_.count(waiter.raw()) != 0 &&
                 queued_bytes_.load(std::memory_order_relaxed) + uncounted_bytes_.load(std::memory_order_relaxed) > limit;
    if (!over_limit() && !whole) return false;
    drain_waiters_.push_back({waiter, ref, whole});
    return true;
}

// Under out_mutex_: moves the waiters whose wait is over to wake.
void connection::collect_drained_locked(std::vector<drain_waiter>& wake) {
    if (drain_waiters_.empty()) return;
    std::size_t half = send_queue_limit_ / 2;
    std::size_t counted = queued_bytes_.load(std::memory_order_relaxed);
    std::size_t all = counted + uncounted_bytes_.load(std::memory_order_relaxed);
    auto done = [&](const drain_waiter& w) { return (w.whole_queue ? all : counted) <= half; };
    std::vector<drain_waiter> keep;
    for (auto& w : drain_waiters_) {
        if (done(w)) wake.push_back(std::move(w));
        else keep.push_back(std::move(w));
    }
    drain_waiters_.swap(keep);
}

void connection::wake_drain_waiters(std::vector<drain_waiter>& waiters) {
    static const atom drained{"$nodus_drained"};
    for (auto& w : waiters)
        node_.rt->send(w.pid, tuple(drained, w.ref));
    waiters.clear();
}

// Under out_mutex_: false when the connection is closed. source: the terms of m (needed only
// for an unsealed message queued behind its sender's big message).
//
// Every message is sealed here, in the order it takes on the wire: a message in normal_ whole,
// a fragmented one as its first fragment in normal_ (the atom cache header is in it) and its
// continuations in bulk_, where other senders' small messages pass between them (flush writes
// normal_ first, so no continuation goes before its first fragment). A sender's later messages
// follow all of its big message, in bulk_: they go out after messages queued after them, so
// they must not use the atom cache.
bool connection::queue(dist::outgoing_message&& m, const term& sender, bool urgent,
                       const dist::dist_message* source) {
    if (current() == state::closed) return false;
    std::uintptr_t key = sender.raw();
    auto body_of = [](const dist::outgoing_message& om, std::size_t from) {
        std::size_t n = 0;
        for (std::size_t i = from; i < om.packets.size(); ++i)
            n += om.packets[i].body_size;
        return n;
    };
    // A big message's continuations count with at most a quarter of the limit (over_limit).
    auto to_bulk = [&](dist::outgoing_message&& om) {
        std::size_t body = body_of(om, 0);
        std::size_t counted = send_queue_limit_ != 0 ? std::min(body, send_queue_limit_ / 4) : body;
        queued_bytes_.fetch_add(counted, std::memory_order_relaxed);
        uncounted_bytes_.fetch_add(body - counted, std::memory_order_relaxed);
        bulk_.push_back({std::move(om), {}, 0, key, body - counted});
        ++bulk_senders_[key];
        bulk_messages_.fetch_add(1, std::memory_order_relaxed);
    };
    if (!urgent && bulk_senders_.count(key) != 0) {
        if (!m.sealed()) {
            if (!source) return true;  // (only send_control queues unsealed messages, with their terms)
            const term* payload = source->payload ? &*source->payload : nullptr;
            auto again = writer_->prepare(source->control, payload, next_sequence_.fetch_add(1), false);
            if (!again) {
                node_.log("cannot send to " + std::string(peer_.name()) + ": " + again.error().message);
                return true;
            }
            m = std::move(*again);
        }
        to_bulk(std::move(m));
        return true;
    }
    writer_->seal(m);
    if (m.packets.size() == 1) {
        queued_bytes_.fetch_add(m.packets[0].body_size, std::memory_order_relaxed);
        normal_.push_back({std::move(m), {}, 0, key});
        return true;
    }
    dist::outgoing_message first;
    first.packets.push_back(m.packets[0]);
    first.storage = m.storage;
    m.packets.erase(m.packets.begin());
    queued_bytes_.fetch_add(first.packets[0].body_size, std::memory_order_relaxed);
    normal_.push_back({std::move(first), {}, 0, key, 0, true});
    to_bulk(std::move(m));
    return true;
}

// TCP_NOTSENT_LOWAT while small messages travel alongside a bulk transfer (node_config::
// unsent_bytes_limit): the kernel then holds little unsent, and the rest of the bulk waits in
// our queue, where small messages pass it. Off otherwise: it costs a bulk transfer alone about
// 5 % (more, shorter system calls).
void connection::limit_unsent(bool on) {
    unsent_limited_ = on;
#ifdef TCP_NOTSENT_LOWAT
    std::size_t b = node_.cfg.unsent_bytes_limit;
    if (b == 0 || !sock_) return;
    int v = on ? static_cast<int>(std::min<std::size_t>(b, 1 << 30)) : 0;  // 0: the system's default
    ::setsockopt(sock_->socket().native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);  // advice
#endif
}

void connection::flush() {
    std::unique_lock l(out_mutex_);
    flush_scheduled_ = false;
    if (writing_ || current() != state::up) return;
    iov_.clear();
    in_flight_.clear();
    std::size_t bytes = 0;
    bool small = false;      // this write carries small messages
    std::size_t budget = 0;  // for bulk fragments; set at the first one
    auto fits = [&](const queued& q) {
        return iov_.empty() || iov_.size() + 1 + q.msg.packets[q.next_packet].body.size() <= max_iov;
    };
    auto add = [&](queued& q) {
        const dist::outgoing_packet& p = q.msg.packets[q.next_packet++];
        // A head written in front of its body makes one buffer with it.
        auto push = [&](byte_span b) {
            if (b.empty()) return;
            if (!iov_.empty()) {
                asio::const_buffer& last = iov_.back();
                if (static_cast<const std::uint8_t*>(last.data()) + last.size() == b.data()) {
                    last = asio::const_buffer(last.data(), last.size() + b.size());
                    return;
                }
            }
            iov_.emplace_back(b.data(), b.size());
        };
        push(p.head);
        for (const byte_span& b : p.body)
            push(b);
        // The last packet hands the message's storage over; earlier fragments hold a share.
        if (q.next_packet == q.msg.packets.size() && q.msg.storage) {
            in_flight_.push_back(std::move(q.msg.storage));
        } else if (p.keep_alive) {
            in_flight_.push_back(p.keep_alive);
        }
        bytes += p.size();
        // A big message's uncounted rest goes out first; its counted quarter last.
        std::size_t rest = std::min(q.uncounted, p.body_size);
        q.uncounted -= rest;
        uncounted_bytes_.fetch_sub(rest, std::memory_order_relaxed);
        queued_bytes_.fetch_sub(p.body_size - rest, std::memory_order_relaxed);
    };
    // Small messages first, then bulk fragments up to the budget, re-checking for small ones
    // after each fragment so they never wait behind more than one write.
    for (;;) {
        if (!normal_.empty()) {
            queued& q = normal_.front();
            small = small || !q.big_head;
            if (q.is_batch()) {
                if (iov_.size() + 1 > max_iov) break;
                iov_.emplace_back(q.batch.data(), q.batch.size());
                bytes += q.batch.size();
                queued_bytes_.fetch_sub(q.batch.size(), std::memory_order_relaxed);
                writing_batches_.push_back(std::move(q.batch));
                normal_.pop_front();
                continue;
            }
            while (q.next_packet < q.msg.packets.size() && fits(q))
                add(q);
            if (q.next_packet < q.msg.packets.size()) break;  // no room left in this write
            normal_.pop_front();
            continue;
        }
        if (bulk_.empty()) break;
        if (budget == 0) {
            std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
            if (small) last_mixed_write_ns_ = now;
            bool mixed = now - last_mixed_write_ns_ < mixed_window_ns;
            budget = mixed ? mixed_write_budget : write_budget;
            if (mixed != unsent_limited_) limit_unsent(mixed);
        }
        if (bytes >= budget) break;
        queued& q = bulk_.front();
        if (!fits(q)) break;
        add(q);
        if (q.next_packet == q.msg.packets.size()) {
            auto it = bulk_senders_.find(q.sender);
            if (it != bulk_senders_.end() && --it->second == 0) bulk_senders_.erase(it);
            bulk_messages_.fetch_sub(1, std::memory_order_relaxed);
            bulk_.pop_front();
        }
    }
    std::vector<drain_waiter> wake;
    collect_drained_locked(wake);
    if (iov_.empty()) {
        l.unlock();
        wake_drain_waiters(wake);
        return;
    }
    writing_ = true;
    l.unlock();
    wake_drain_waiters(wake);
    auto self = shared_from_this();
    sock_->async_write_all(iov_, [self](const asio::error_code& ec, std::size_t) {
        std::unique_lock lk(self->out_mutex_);
        self->writing_ = false;
        self->in_flight_.clear();
        for (auto& b : self->writing_batches_) {
            if (self->spare_batches_.size() == max_spare_batches) break;
            b.clear();
            self->spare_batches_.push_back(std::move(b));
        }
        self->writing_batches_.clear();
        self->wrote_ = true;
        bool more = !self->normal_.empty() || !self->bulk_.empty();
        lk.unlock();
        if (ec) {
            self->close("write failed: " + ec.message(), a_connection_closed);
            return;
        }
        if (more) self->flush();
    });
}

// ---------------------------------------------------------------------------------------------
// Ticks (control.md §3)

void connection::arm_tick() {
    auto interval = node_.cfg.net_ticktime / std::max(1u, node_.cfg.net_tickintensity);
    tick_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(interval));
    std::weak_ptr<connection> weak = shared_from_this();
    tick_timer_.async_wait([weak](const asio::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->current() != state::up) return;
        self->on_tick();
    });
}

void connection::on_tick() {
    bool got = read_;
    read_ = false;
    silent_ticks_ = got ? 0 : silent_ticks_ + 1;
    if (silent_ticks_ >= std::max(1u, node_.cfg.net_tickintensity)) {
        node_.log("node " + std::string(peer_.name()) + " not responding (net_tick_timeout)");
        close("net_tick_timeout", a_net_tick_timeout);
        return;
    }
    // Write something every interval; towards hidden peers also whenever they were silent
    // (old C nodes only tick in reply).
    if (!wrote_.exchange(false) || (!visible_ && !got)) {
        static const std::array<std::uint8_t, 4> tick_bytes{0, 0, 0, 0};
        dist::outgoing_message tick;
        tick.packets.push_back({byte_span(tick_bytes.data(), 4), {}, 0, nullptr});
        enqueue(std::move(tick), term(), true);
    }
    arm_tick();
}

// ---------------------------------------------------------------------------------------------
// Links and monitors across the connection

void connection::track(const remote_signal& s, bool outgoing) {
    // local/remote sides of the pair, from this node's point of view
    switch (s.kind) {
        case signal_kind::link: {
            const term& local = outgoing ? s.from : s.to;
            const term& remote = outgoing ? s.to : s.from;
            std::lock_guard l(track_mutex_);
            if (link_keys_.insert({local.raw(), remote.raw()}).second) links_.emplace_back(local, remote);
            break;
        }
        case signal_kind::monitor: {
            std::lock_guard l(track_mutex_);
            if (outgoing) monitors_out_[s.ref] = s.from;
            else monitors_in_[s.ref] = {s.to, s.from};
            break;
        }
        case signal_kind::spawn_request: {
            if (!outgoing) break;
            std::lock_guard l(track_mutex_);
            spawns_[s.ref] = s.from;
            break;
        }
        case signal_kind::spawn_reply: {
            std::lock_guard l(track_mutex_);
            spawns_.erase(s.ref);
            break;
        }
        case signal_kind::demonitor:
        case signal_kind::monitor_exit: {
            std::lock_guard l(track_mutex_);
            bool watcher_side_out = (s.kind == signal_kind::demonitor) == outgoing;
            if (watcher_side_out) monitors_out_.erase(s.ref);
            else monitors_in_.erase(s.ref);
            break;
        }
        default: break;
    }
}

// Every logged reason names the peer: its node name once known, else its address.
std::string connection::with_peer(const std::string& reason) {
    std::string who;
    if (peer_ != atom()) {
        who = std::string(peer_.name());
    } else if (hs_ && !hs_->peer_name_text().empty()) {
        who = std::string(hs_->peer_name_text());
    } else if (sock_) {
        asio::error_code ec;
        auto ep = sock_->socket().remote_endpoint(ec);
        who = ec ? "a peer" : "a peer at " + ep.address().to_string() + ":" + std::to_string(ep.port());
    } else {
        who = "a peer";
    }
    if (reason.find(who) != std::string::npos) return reason;
    return (initiator_ ? "connection to " : "connection from ") + who + ": " + reason;
}

void connection::close(std::string reason, atom nodedown_reason) {
    auto self = shared_from_this();
    auto run = [self, reason = std::move(reason), nodedown_reason] {
        state before = self->current();
        if (before == state::closed) return;
        self->set_state(state::closed);
        if (!reason.empty()) self->node_.log(self->with_peer(reason));
        self->setup_timer_.cancel();
        self->tick_timer_.cancel();
        if (self->sock_) {
            self->sock_->shutdown_and_close();
        }
        std::vector<drain_waiter> wake;
        {
            std::lock_guard l(self->out_mutex_);
            self->normal_.clear();
            self->bulk_.clear();
            self->bulk_senders_.clear();
            self->bulk_messages_.store(0, std::memory_order_relaxed);
            self->queued_bytes_ = 0;
            self->uncounted_bytes_ = 0;
            wake.swap(self->drain_waiters_);
        }
        self->wake_drain_waiters(wake);  // their sends went nowhere; they must not wait forever
        if (before == state::up) {
            self->run_down_actions(nodedown_reason);
            self->node_.connection_down(self, nodedown_reason);
        } else {
            self->node_.connection_failed(self, nodedown_reason);
        }
        if (self->reader_) self->reader_->reset();
    };
    if (node_.rt && node_.rt->current_worker() == static_cast<int>(worker_)) run();
    else asio::post(ctx(), std::move(run));
}

void connection::run_down_actions(atom) {
    // control.md §6: links get noconnection, monitors held here get DOWN noconnection,
    // monitors held by the peer on our processes are dropped.
    std::vector<std::pair<term, term>> links;
    std::unordered_map<term, term> out;
    std::unordered_map<term, std::pair<term, term>> in;
    std::unordered_map<term, term> spawns;
    {
        std::lock_guard l(track_mutex_);
        links.swap(links_);
        link_keys_.clear();
        out.swap(monitors_out_);
        in.swap(monitors_in_);
        spawns.swap(spawns_);
    }
    runtime& rt = *node_.rt;
    term noconnection(atoms::noconnection);
    for (auto& [local, remote] : links)
        rt.deliver({signal_kind::exit, remote, local, node_.name, noconnection, {}, 0});
    for (auto& [ref, watcher] : out)
        rt.deliver({signal_kind::monitor_exit, term(), watcher, node_.name, noconnection, ref, 0});
    for (auto& [ref, pair] : in)
        rt.deliver({signal_kind::demonitor, pair.second, pair.first, node_.name, {}, ref, 0});
    for (auto& [ref, requester] : spawns)
        rt.deliver({signal_kind::spawn_reply, noconnection, requester, node_.name, {}, ref, 0});
}

}  // namespace nodus::detail

// The distributed node: start-up (name, cookie, listen socket, port mapper), the connection
// table (one connection per peer, simultaneous connects resolved as OTP does), routing of
// remote signals, node monitoring, and the net_kernel / rex processes every node runs.
#include <cstdio>
#include <future>
#include <random>

#include "dist/node_impl.hpp"
#include "dist/tls_context.hpp"
#include "nodus/node/net.hpp"
#include "nodus/term/text.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus {

namespace detail {

namespace {

const atom a_features_request{"features_request"};
const atom a_features_reply{"features_reply"};
const atom a_erpc{"erpc"};
const atom a_node_type{"node_type"};
const atom a_visible{"visible"};
const atom a_hidden{"hidden"};
const atom a_nodedown_reason{"nodedown_reason"};
const atom a_connection_closed{"connection_closed"};
const atom a_disconnect{"disconnect"};
const atom a_nok{"nok"};

std::uint32_t random_creation() {
    std::random_device rd;
    std::uint32_t c;
    do {
        c = static_cast<std::uint32_t>(rd());
    } while (c < 4);  // 0..3 are never invented (epmd.md §8)
    return c;
}

// net_kernel: answers {is_auth, Node} so that net_adm:ping/1 from an Erlang node gets pong.
task<> net_kernel_loop() {
    for (;;) {
        auto r = co_await receive();
        const term& m = *r;
        if (m.is_tuple(3) && m[0].is_atom(atoms::gen_call) && m[1].is_tuple(2)) {
            const term& from = m[1];
            const term& req = m[2];
            if (req.is_tuple(2) && req[0].is_atom(atoms::is_auth)) {
                // The handshake already proved the cookie: OTP answers yes unconditionally.
                send(from[0], tuple(from[1], atoms::yes));
            }
        }
    }
}

// rex: the legacy rpc server (OTP kernel's rpc.erl), for peers that still speak it: rpc:block_call,
// erl_interface's ei_rpc, and rpc:call from old or hidden C nodes. Calls run in a process of
// their own (rex stays responsive), with the caller's group leader, as rex does.
const atom a_call{"call"};
const atom a_block_call{"block_call"};
const atom a_cast{"cast"};
const atom a_send{"send"};
const atom a_sbcast{"sbcast"};
const atom a_rex{"rex"};
const atom a_user{"user"};
const atom a_nonexisting_name{"nonexisting_name"};

void set_group_leader(const term& gl) {
    if (gl.is_pid()) {
        group_leader(gl.as_pid(), self());
    } else if (auto user = whereis(a_user)) {
        // `user`, and {send_stdout_to_caller, Pid} which we do not relay: output stays here
        group_leader(*user, self());
    }
}

// reply_to: the gen_server From {Pid, Tag} (reply {Tag, Reply}), or a pid (reply {rex, Reply}).
task<> rex_call(term reply_to, term gl, atom m, atom f, std::vector<term> args, bool reply) {
    set_group_leader(gl);
    term result = co_await rex_execute(m, f, std::move(args));
    if (!reply) co_return;
    if (reply_to.is_tuple(2)) send(reply_to[0], tuple(reply_to[1], std::move(result)));
    else send(reply_to, tuple(a_rex, std::move(result)));
}

// {call|block_call|cast, M, F, Args, GroupLeader}: the M, F and argument list, if well formed.
bool rpc_request(const term& req, atom kind, atom& m, atom& f, std::vector<term>& args) {
    if (!(req.is_tuple(5) && req[0].is_atom(kind) && req[1].is_atom() && req[2].is_atom())) return false;
    auto a = req[3].list_elements();
    if (!a) return false;
    m = req[1].as_atom();
    f = req[2].as_atom();
    args = std::move(*a);
    return true;
}

task<> rex_loop() {
    for (;;) {
        auto r = co_await receive();
        const term& msg = *r;
        atom m, f;
        std::vector<term> args;
        if (msg.is_tuple(3) && msg[0].is_atom(atoms::gen_call) && msg[1].is_tuple(2)) {
            const term& req = msg[2];
            if (rpc_request(req, a_call, m, f, args) || rpc_request(req, a_block_call, m, f, args))
                spawn(rex_call, msg[1], req[4], m, f, std::move(args), true);
            continue;  // anything else is ignored, as rex does
        }
        if (msg.is_tuple(2) && msg[0].is_atom(atoms::gen_cast)) {
            if (rpc_request(msg[1], a_cast, m, f, args))
                spawn(rex_call, term(), msg[1][4], m, f, std::move(args), false);
            continue;
        }
        if (!(msg.is_tuple(2) && msg[0].is_pid())) continue;
        const term& from = msg[0];
        const term& req = msg[1];
        if (req.is_atom(a_features_request)) {
            send(from, tuple(a_features_reply, node_of(current_runtime())->name, list({term(a_erpc)})));
        } else if (rpc_request(req, a_call, m, f, args)) {
            // the form hidden C nodes send: {From, {call, M, F, A, GL}}, answered {rex, Reply}
            spawn(rex_call, from, req[4], m, f, std::move(args), true);
        } else if (req.is_tuple(3) && (req[0].is_atom(a_send) || req[0].is_atom(a_sbcast)) && req[1].is_atom()) {
            atom name = req[1].as_atom();
            atom me = node_of(current_runtime())->name;
            auto to = whereis(name);
            if (!to) {
                send(from, tuple(a_rex, me, tuple(a_nonexisting_name, name)));
            } else if (req[0].is_atom(a_send)) {
                send(*to, tuple(from, req[2]));  // the named process answers
            } else {
                send(*to, req[2]);
                send(from, tuple(a_rex, me, me));
            }
        }
    }
}

}  // namespace

node_impl* node_of(runtime_impl* rt) noexcept {
    return rt ? static_cast<node_impl*>(rt->context) : nullptr;
}

node_impl::node_impl(node_config c) : cfg(std::move(c)), mode(cfg.naming) {}

node_impl::~node_impl() {
    stop();
}

void node_impl::log(std::string_view line) {
    if (line.empty()) return;
    if (cfg.log) {
        cfg.log(line);
        return;
    }
    std::fprintf(stderr, "nodus[%s]: %.*s\n", std::string(name.name()).c_str(), static_cast<int>(line.size()),
                 line.data());
}

std::shared_ptr<connection> node_impl::new_connection(unsigned worker, bool initiator, atom peer) {
    auto c = std::make_shared<connection>(*this, worker, initiator, peer);
    std::lock_guard l(every_mutex_);
    std::erase_if(every_, [](const std::weak_ptr<connection>& w) { return w.expired(); });
    every_.push_back(c);
    return c;
}

std::uint32_t node_impl::next_worker() noexcept {
    return rr.fetch_add(1, std::memory_order_relaxed) % static_cast<std::uint32_t>(pollers.size());
}

bool node_impl::allowed(std::string_view peer) const {
    if (cfg.allow.empty()) return true;
    for (const auto& a : cfg.allow)
        if (a == peer) return true;
    return false;
}

result<void, node_error> node_impl::start() {
    // Name and cookie.
    auto nm = dist::make_node_name(cfg.name, mode);
    if (!nm) return unexpected(node_error{node_error::code::bad_name, nm.error().message});
    name = *nm;
    std::string cookie = cfg.cookie;
    if (cookie.empty()) {
        auto loaded = dist::load_default_cookie();
        if (!loaded) return unexpected(node_error{node_error::code::cookie, loaded.error().message});
        cookie = *loaded;
    }
    cookies.set_cookie(cookie);

    if (cfg.tls) {
        auto server = dist::make_tls_context(cfg.tls->server, true);
        if (!server) return unexpected(node_error{node_error::code::config, "TLS distribution: " + server.error()});
        auto client = dist::make_tls_context(cfg.tls->client, false);
        if (!client) return unexpected(node_error{node_error::code::config, "TLS distribution: " + client.error()});
        tls_server = *server;
        tls_client = *client;
    }

    control_guard.emplace(asio::make_work_guard(control));
    control_thread = std::thread([this] { control.run(); });

    // Listen socket: the first free port of the range (kernel inet_dist_listen_min/max).
    try {
        asio::ip::address addr = cfg.listen_address.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                                            : asio::ip::make_address(cfg.listen_address);
        std::uint16_t lo = cfg.no_epmd_port ? cfg.no_epmd_port : cfg.listen_port_min;
        std::uint16_t hi =
            cfg.no_epmd_port ? cfg.no_epmd_port : (cfg.listen_port_max ? cfg.listen_port_max : lo);
        if (lo == 0) hi = 0;
        if (hi < lo) hi = lo;
        asio::error_code ec;
        for (std::uint32_t p = lo; p <= hi; ++p) {
            acceptor.emplace(control);
            asio::ip::tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
            acceptor->open(ep.protocol(), ec);
            if (!ec) acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
            if (!ec) acceptor->bind(ep, ec);
            if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
            if (!ec) break;
            acceptor.reset();
        }
        if (!acceptor) {
            stop();
            std::string range =
                lo == 0 ? std::string("any port") : "ports " + std::to_string(lo) + ".." + std::to_string(hi);
            return unexpected(node_error{node_error::code::listen,
                                         "cannot listen for distribution on " + range + ": " + ec.message()});
        }
        port = acceptor->local_endpoint().port();
    } catch (const std::exception& e) {
        stop();
        return unexpected(
            node_error{node_error::code::listen, std::string("bad listen address: ") + e.what()});
    }

    // Port mapper registration (or none: a random creation, as OTP with -erl_epmd_port).
    if (cfg.no_epmd_port) {
        creation = random_creation();
    } else {
        auto parts = dist::split_node_name(name.name());
        std::string alive(parts->alive);
        epmd::client_options eo;
        eo.epmd_port = cfg.epmd_port;
        if (!eo.epmd_port) {
            auto ep = epmd::port_from_environment();
            if (!ep) {
                stop();
                return unexpected(node_error{node_error::code::epmd, ep.error().message()});
            }
            eo.epmd_port = *ep;
        }
        eo.log = [this](std::string_view l) { log(l); };
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::promise<result<std::uint32_t, epmd::error>> done;
            auto fut = done.get_future();
            registration = epmd::register_node(
                control, alive, port, epmd::node_type::normal,
                [&done](result<std::uint32_t, epmd::error> r) { done.set_value(std::move(r)); }, eo);
            auto r = fut.get();
            if (r) {
                creation = *r;
                break;
            }
            bool no_daemon = r.error().code == epmd::errc::connect_failed;
            if (attempt == 0 && no_daemon && cfg.start_epmd) {
                // As erl does: start a port mapper when none runs. This one lives in the node.
                epmd::server_options so;
                so.port = eo.epmd_port;
                so.log = [this](epmd::log_level lvl, std::string_view l) {
                    if (lvl == epmd::log_level::error) log(l);
                };
                embedded_epmd = std::make_unique<epmd::server>(control, so);
                std::promise<result<void, epmd::error>> started;
                auto sf = started.get_future();
                asio::post(control, [&] { started.set_value(embedded_epmd->start()); });
                auto sr = sf.get();
                if (!sr) {
                    stop();
                    return unexpected(node_error{node_error::code::epmd,
                                                 "no port mapper on port " + std::to_string(eo.epmd_port) +
                                                     " and cannot start one: " + sr.error().message()});
                }
                log("started a port mapper on port " + std::to_string(eo.epmd_port));
                continue;
            }
            stop();
            auto code = r.error().code == epmd::errc::duplicate_name ? node_error::code::duplicate_name
                                                                     : node_error::code::epmd;
            std::string msg = code == node_error::code::duplicate_name
                                  ? "the name " + alive + " is already registered with the port mapper"
                                  : "cannot register with the port mapper: " + r.error().message();
            return unexpected(node_error{code, msg});
        }
    }

    // The runtime, one poller (io_context) per worker.
    runtime_options ro = cfg.runtime;
    ro.deterministic = false;
    ro.node = name;
    ro.creation = creation;
    unsigned threads = ro.threads ? ro.threads : std::max(1u, std::thread::hardware_concurrency());
    ro.threads = threads;
    pollers.assign(threads, nullptr);
    ro.poller_factory = [this](unsigned i) {
        auto p = std::make_unique<dist::asio_poller>();
        pollers[i] = p.get();
        return p;
    };
    route_slots_.clear();
    for (unsigned i = 0; i < threads; ++i)
        route_slots_.push_back(std::make_unique<route_slot>());
    rt = std::make_unique<runtime>(ro);
    rt->set_context(this);
    rt->set_remote_router(this);

    pid nk = rt->spawn(net_kernel_loop);
    net_kernel_pid = nk;
    pid rex = rt->spawn(rex_loop);
    rt->impl()->register_name(atoms::net_kernel, rt->impl()->lookup(nk));
    rt->impl()->register_name(atoms::rex, rt->impl()->lookup(rex));
    accept_next();
    return {};
}

void node_impl::accept_next() {
    if (stopping || !acceptor) return;
    unsigned w = next_worker();
    acceptor->async_accept(
        pollers[w]->context(), [this, w](const asio::error_code& ec, asio::ip::tcp::socket sock) {
            if (ec) {
                if (ec != asio::error::operation_aborted) accept_next();
                return;
            }
            if (handshakes.load() >= cfg.max_pending_handshakes) {
                asio::error_code ep_ec;
                auto ep = sock.remote_endpoint(ep_ec);
                log("refusing a connection from " +
                    (ep_ec ? std::string("a peer") : ep.address().to_string() + ":" + std::to_string(ep.port())) +
                    ": " + std::to_string(handshakes.load()) + " handshakes pending (max_pending_handshakes)");
                asio::error_code ignored;
                sock.close(ignored);
            } else {
                auto c = new_connection(w, false, atom());
                ++handshakes;
                c->counts_as_pending_handshake = true;
                c->start_incoming(std::move(sock));
            }
            accept_next();
        });
}

void node_impl::stop() {
    if (stopping.exchange(true)) return;
    if (acceptor && control_thread.joinable()) {
        // The pending accept makes its socket on a worker's io_context: close the acceptor and
        // let its aborted handler run before the runtime destroys those contexts.
        std::promise<void> closed;
        asio::post(control, [this] {
            asio::error_code ec;
            acceptor->close(ec);
        });
        asio::post(control, [&closed] { closed.set_value(); });
        closed.get_future().wait();
        std::promise<void> drained;
        asio::post(control, [&drained] { drained.set_value(); });
        drained.get_future().wait();
    }
    registration.close();
    // A connection owns sockets and timers of one worker's io_context, and pending handlers
    // (possibly in another context) own the connection. Close every connection (including ones
    // made while we wait: accepts in flight, sends that dial), drop the table's references and let
    // the workers run the handlers out, so that no connection outlives the io_contexts the runtime
    // is about to destroy.
    if (rt) {
        for (int i = 0; i < 400; ++i) {
            std::vector<std::shared_ptr<connection>> alive;
            {
                std::lock_guard l(every_mutex_);
                for (auto& w : every_)
                    if (auto c = w.lock()) alive.push_back(std::move(c));
            }
            if (alive.empty()) break;
            for (auto& c : alive)
                c->close("", a_disconnect);
            alive.clear();
            {
                std::lock_guard l(table_mutex_);
                table_.clear();
                table_generation_.fetch_add(1, std::memory_order_release);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        rt->set_remote_router(nullptr);
        rt.reset();
    }
    {
        std::lock_guard l(table_mutex_);
        table_.clear();
    }
    if (embedded_epmd) {
        std::promise<void> stopped;
        auto f = stopped.get_future();
        asio::post(control, [&] {
            embedded_epmd->stop();
            stopped.set_value();
        });
        if (control_thread.joinable()) f.wait();
    }
    control_guard.reset();
    control.stop();
    if (control_thread.joinable()) control_thread.join();
    acceptor.reset();
    embedded_epmd.reset();
}

// ---------------------------------------------------------------------------------------------
// Routing and the connection table

void node_impl::route(remote_signal&& s) {
    if (stopping) return;
    if (s.node == name) {
        rt->deliver(std::move(s));
        return;
    }
    connection* c = nullptr;
    std::shared_ptr<connection> held;  // when the slot cannot hold it
    int w = rt->current_worker();
    route_slot* slot = w >= 0 && static_cast<std::size_t>(w) < route_slots_.size() ? route_slots_[w].get() : nullptr;
    if (slot && slot->up && slot->node == s.node &&
        slot->generation == table_generation_.load(std::memory_order_acquire) &&
        slot->up->current() == connection::state::up)
        c = slot->up.get();
    if (!c) {
        std::lock_guard l(table_mutex_);
        peer_entry& e = table_[s.node];
        if (e.up && e.up->current() == connection::state::up) {
            if (slot && (slot->up || rt->defer_to_slice_end(*slot))) {
                slot->node = s.node;
                slot->generation = table_generation_.load(std::memory_order_relaxed);
                slot->up = e.up;
                c = slot->up.get();
            } else {
                held = e.up;
                c = held.get();
            }
        } else {
            e.pending.push_back(std::move(s));
            bool attempting = false;
            for (auto& a : e.attempts)
                attempting = attempting || a->initiator();
            if (!attempting && !e.lost_race) {
                auto fresh = new_connection(next_worker(), true, e.pending.back().node);
                e.attempts.push_back(fresh);
                fresh->start_outgoing();
            }
            return;
        }
    }
    if (!c->send(s)) {
        // Closed between the lookup and the send: the connection is gone, treat as lost.
        std::vector<remote_signal> one{std::move(s)};
        fail_pending(one, atoms::noconnection);
        return;
    }
    if (c->sender_should_wait(s.from)) detail::report_busy(s.node);
}

bool node_impl::notify_when_drained(atom node, const term& waiter, const term& ref) {
    std::shared_ptr<connection> up;
    {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(node);
        if (it == table_.end() || !it->second.up) return false;
        up = it->second.up;
    }
    return up->add_drain_waiter(waiter, ref);
}

std::shared_ptr<connection> node_impl::connect(atom peer) {
    std::lock_guard l(table_mutex_);
    peer_entry& e = table_[peer];
    if (e.up) return e.up;
    for (auto& a : e.attempts)
        if (a->initiator()) return a;
    if (e.lost_race && !e.attempts.empty()) return e.attempts.front();
    auto c = new_connection(next_worker(), true, peer);
    e.attempts.push_back(c);
    c->start_outgoing();
    return c;
}

dist::accept_status node_impl::status_for(const dist::peer_hello& hello,
                                          const std::shared_ptr<connection>& c) {
    if (!allowed(hello.name)) {
        log("connection attempt from disallowed node " + std::string(hello.name));
        return dist::accept_status::not_allowed;
    }
    auto peer = atom::existing(hello.name);
    if (!peer) return dist::accept_status::ok;  // never heard of it: no other connection
    std::shared_ptr<connection> ours;
    {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(*peer);
        if (it == table_.end()) {
            table_[*peer].attempts.push_back(c);
            return dist::accept_status::ok;
        }
        peer_entry& e = it->second;
        if (e.up && e.up->current() == connection::state::up) return dist::accept_status::alive;
        for (auto& a : e.attempts)
            if (a->initiator() && a->current() != connection::state::closed) ours = a;
        e.attempts.push_back(c);
        if (!ours) return dist::accept_status::ok;
        // Simultaneous connect (handshake.md §5): the attempt of the greater name survives.
        if (name.name() > hello.name) return dist::accept_status::nok;
        e.lost_race = true;  // ours is dropped; this incoming one carries the pending signals
    }
    // Outside the lock: closing on this thread runs connection_failed, which takes it.
    ours->close("", a_nok);
    return dist::accept_status::ok_simultaneous;
}

void node_impl::end_pending_handshake(connection& c) {
    // Once per connection: a connection that lost a simultaneous-connect race reports its
    // failure and then closes, which reports again.
    if (c.counts_as_pending_handshake.exchange(false)) --handshakes;
}

void node_impl::connection_up(const std::shared_ptr<connection>& c) {
    end_pending_handshake(*c);
    std::vector<std::pair<term, term>> waiters;
    std::shared_ptr<connection> old;
    bool visible = c->visible();
    {
        std::lock_guard l(table_mutex_);
        peer_entry& e = table_[c->peer()];
        if (e.up && e.up != c) old = e.up;
        e.up = c;
        table_generation_.fetch_add(1, std::memory_order_release);
        std::erase(e.attempts, c);
        e.lost_race = false;
        // Queued signals go first, in order, before anyone else can use the connection.
        for (auto& s : e.pending)
            c->send(s);
        e.pending.clear();
        waiters.swap(e.up_waiters);
    }
    if (old)
        old->close("replaced by a new connection from " + std::string(c->peer().name()), a_connection_closed);
    notify_waiters(waiters, true);
    node_event(c->peer(), true, visible, atom());
}

void node_impl::connection_failed(const std::shared_ptr<connection>& c, atom reason) {
    end_pending_handshake(*c);
    std::vector<remote_signal> failed;
    std::vector<std::pair<term, term>> waiters;
    {
        std::lock_guard l(table_mutex_);
        for (auto it = table_.begin(); it != table_.end(); ++it) {
            peer_entry& e = it->second;
            auto pos = std::find(e.attempts.begin(), e.attempts.end(), c);
            if (pos == e.attempts.end()) continue;
            e.attempts.erase(pos);
            if (reason == a_nok) e.lost_race = true;
            if (!e.up && e.attempts.empty() && !(reason == a_nok)) {
                failed.swap(e.pending);
                waiters.swap(e.up_waiters);
                table_.erase(it);
            }
            break;
        }
    }
    if (reason == a_nok) {
        // We lost a simultaneous connect: the peer's connection should arrive within the setup
        // time; if it does not, fail what waits for it.
        auto timer = std::make_shared<asio::steady_timer>(control, cfg.net_setuptime);
        atom peer = c->peer();
        timer->async_wait([this, timer, peer](const asio::error_code& ec) {
            if (ec || stopping) return;
            std::vector<remote_signal> late;
            std::vector<std::pair<term, term>> w;
            {
                std::lock_guard l(table_mutex_);
                auto it = table_.find(peer);
                if (it == table_.end() || it->second.up) return;
                it->second.lost_race = false;
                if (!it->second.attempts.empty()) return;
                late.swap(it->second.pending);
                w.swap(it->second.up_waiters);
                table_.erase(it);
            }
            fail_pending(late, atoms::noconnection);
            notify_waiters(w, false);
        });
    }
    fail_pending(failed, atoms::noconnection);
    if (!waiters.empty() || !failed.empty()) fire_node_monitors(c->peer());
    notify_waiters(waiters, false);
}

void node_impl::fire_node_monitors(atom peer) {
    std::vector<term> one_shot;
    {
        std::lock_guard l(subs_mutex_);
        auto range = node_monitors_.equal_range(peer);
        for (auto it = range.first; it != range.second; ++it)
            one_shot.push_back(it->second);
        node_monitors_.erase(peer);
    }
    for (auto& pid_term : one_shot)
        rt->send(pid_term, tuple(atoms::nodedown, peer));
}

void node_impl::connection_down(const std::shared_ptr<connection>& c, atom reason) {
    bool was_up = false;
    {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(c->peer());
        if (it != table_.end() && it->second.up == c) {
            was_up = true;
            it->second.up.reset();
            table_generation_.fetch_add(1, std::memory_order_release);
            if (it->second.attempts.empty() && it->second.pending.empty()) table_.erase(it);
        }
    }
    if (was_up) node_event(c->peer(), false, c->visible(), reason);
}

void node_impl::fail_pending(std::vector<remote_signal>& pending, atom reason) {
    // What a signal to an unreachable node means locally (control.md §6): a link breaks with
    // noconnection, a monitor fires DOWN noconnection, messages vanish.
    for (auto& s : pending) {
        if (s.kind == signal_kind::link) {
            rt->deliver({signal_kind::exit, s.to, s.from, name, term(reason), {}, 0});
        } else if (s.kind == signal_kind::monitor) {
            rt->deliver({signal_kind::monitor_exit, s.to, s.from, name, term(reason), s.ref, 0});
        } else if (s.kind == signal_kind::spawn_request) {
            rt->deliver({signal_kind::spawn_reply, term(reason), s.from, name, {}, s.ref, 0});
        }
    }
    pending.clear();
}

void node_impl::notify_waiters(std::vector<std::pair<term, term>>& waiters, bool ok) {
    for (auto& [pid_term, ref] : waiters)
        rt->send(pid_term, tuple(ref, ok));
    waiters.clear();
}

void node_impl::when_connected(atom peer, term waiter, term ref) {
    if (peer == name) {
        rt->send(waiter, tuple(ref, true));
        return;
    }
    auto ok = dist::can_connect(mode, peer);
    if (!ok) {
        log("cannot connect to " + std::string(peer.name()) + ": " + ok.error().message);
        rt->send(waiter, tuple(ref, false));
        return;
    }
    std::shared_ptr<connection> up;
    {
        std::lock_guard l(table_mutex_);
        peer_entry& e = table_[peer];
        if (e.up && e.up->current() == connection::state::up) {
            up = e.up;
        } else {
            e.up_waiters.emplace_back(std::move(waiter), std::move(ref));
            bool attempting = false;
            for (auto& a : e.attempts)
                attempting = attempting || a->initiator();
            if (!attempting && !e.lost_race) {
                auto c = new_connection(next_worker(), true, peer);
                e.attempts.push_back(c);
                c->start_outgoing();
            }
            return;
        }
    }
    rt->send(waiter, tuple(ref, true));
}

bool node_impl::disconnect(atom peer) {
    std::shared_ptr<connection> c;
    {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(peer);
        if (it == table_.end() || !it->second.up) return false;
        c = it->second.up;
    }
    c->close("disconnected from " + std::string(peer.name()), a_disconnect);
    return true;
}

std::vector<atom> node_impl::nodes(node_kind kind) const {
    std::vector<atom> out;
    if (kind == node_kind::this_node) return {name};
    std::lock_guard l(table_mutex_);
    for (auto& [peer, e] : table_) {
        bool up = e.up && e.up->current() == connection::state::up;
        switch (kind) {
            case node_kind::visible:
                if (up && e.up->visible()) out.push_back(peer);
                break;
            case node_kind::hidden:
                if (up && !e.up->visible()) out.push_back(peer);
                break;
            case node_kind::connected:
            case node_kind::known:
                if (up || !e.attempts.empty()) out.push_back(peer);
                break;
            case node_kind::this_node:
                break;
        }
    }
    return out;
}

void node_impl::monitor_nodes(const term& who, bool on, bool with_info) {
    std::lock_guard l(subs_mutex_);
    if (on) {
        node_subscribers_.push_back({who, with_info});
        return;
    }
    for (auto it = node_subscribers_.begin(); it != node_subscribers_.end(); ++it) {
        if (it->pid == who && it->info == with_info) {
            node_subscribers_.erase(it);
            return;
        }
    }
}

void node_impl::monitor_node(const term& who, atom peer, bool on) {
    if (!on) {
        std::lock_guard l(subs_mutex_);
        auto range = node_monitors_.equal_range(peer);
        for (auto it = range.first; it != range.second; ++it) {
            if (it->second == who) {
                node_monitors_.erase(it);
                break;
            }
        }
        return;
    }
    bool up = false;
    {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(peer);
        up = it != table_.end() && it->second.up && it->second.up->current() == connection::state::up;
    }
    {
        std::lock_guard l(subs_mutex_);
        node_monitors_.emplace(peer, who);
    }
    if (!up && peer != name) {
        // As erlang:monitor_node/2: try to connect; {nodedown, Node} if that fails (the
        // failure path fires the one-shot monitors).
        term ref = rt->make_ref();
        when_connected(peer, net_kernel_pid, ref);  // net_kernel ignores the answer
    }
}

void node_impl::node_event(atom peer, bool up, bool visible, atom reason) {
    std::vector<subscriber> subs;
    {
        std::lock_guard l(subs_mutex_);
        subs = node_subscribers_;
    }
    if (!up) fire_node_monitors(peer);
    atom tag = up ? atoms::nodeup : atoms::nodedown;
    for (auto& s : subs) {
        if (!s.info) {
            if (visible) rt->send(s.pid, tuple(tag, peer));  // plain subscriptions: visible nodes only
            continue;
        }
        std::vector<term> info{tuple(a_node_type, visible ? a_visible : a_hidden)};
        if (!up) info.push_back(tuple(a_nodedown_reason, reason));
        rt->send(s.pid, tuple(tag, peer, make_list(std::move(info))));
    }
}

dist::handshake_config node_impl::handshake_config_for(const std::shared_ptr<connection>& c, bool) {
    dist::handshake_config hc;
    hc.name = name;
    hc.flags = dist::our_flags(!cfg.hidden);
    hc.creation = creation;
    hc.cookie_for = [this](std::string_view peer) { return cookies.cookie_for(peer); };
    std::weak_ptr<connection> weak = c;
    hc.status_for = [this, weak](const dist::peer_hello& hello) {
        auto conn = weak.lock();
        if (!conn) return dist::accept_status::not_allowed;
        return status_for(hello, conn);
    };
    // The peer has an up connection to us and asks whether this attempt should replace it:
    // yes only if we have none (it is stale, e.g. we restarted), as OTP's is_pending answers.
    hc.answer_alive = [this](atom peer) {
        std::lock_guard l(table_mutex_);
        auto it = table_.find(peer);
        return it == table_.end() || !it->second.up || it->second.up->current() != connection::state::up;
    };
    return hc;
}

void node_impl::on_spawn_request(const std::shared_ptr<connection>& c, dist::spawn_request&& req) {
    // Options as given to the spawn BIF; only link and monitor concern us (control.md §2.7).
    bool link = false, monitor = false;
    for (const term* t = &req.options; t->is_cons(); t = &t->tail()) {
        if (t->head().is_atom(atoms::link)) link = true;
        if (t->head().is_atom(atoms::monitor)) monitor = true;
    }
    auto args = req.args.list_elements();
    if (!args) {
        c->send_control(dist::spawn_reply{req.req_id, req.from, 0, term(atoms::badarg), {}}, term());
        return;
    }
    auto sr = make_spawn_request(
        [m = req.module, f = req.function, a = std::move(*args)]() { return run_spawned(m, f, a); });
    sr.link = link;
    sr.monitor = monitor;
    sr.remote_parent = req.from;
    sr.monitor_ref = req.req_id;
    sr.group_leader = req.group_leader;
    term requester = req.from;
    term req_id = req.req_id;
    std::uint64_t flags =
        (link ? dist::spawn_reply::flag_link : 0) | (monitor ? dist::spawn_reply::flag_monitor : 0);
    sr.before_start = [&](const pid& child) {
        // The reply goes out before the new process can send anything (control.md §5).
        if (link) c->track({signal_kind::link, child, requester, req.from.node(), {}, {}, 0}, true);
        if (monitor) c->track({signal_kind::monitor, requester, child, name, {}, req_id, 0}, false);
        c->send_control(dist::spawn_reply{req.req_id, req.from, flags, child, {}}, term());
    };
    try {
        spawn_process(rt->impl(), std::move(sr));
    } catch (const erlang_exception& e) {
        c->send_control(dist::spawn_reply{req.req_id, req.from, 0, e.reason(), {}}, term());
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// node

result<std::unique_ptr<node>, node_error> node::start(node_config cfg) {
    auto impl = std::make_unique<detail::node_impl>(std::move(cfg));
    auto r = impl->start();
    if (!r) return unexpected(r.error());
    return std::unique_ptr<node>(new node(std::move(impl)));
}

node::node(std::unique_ptr<detail::node_impl> impl) : impl_(std::move(impl)) {}
node::~node() = default;

runtime& node::rt() noexcept {
    return *impl_->rt;
}
atom node::name() const noexcept {
    return impl_->name;
}
std::uint32_t node::creation() const noexcept {
    return impl_->creation;
}
std::uint16_t node::listen_port() const noexcept {
    return impl_->port;
}
const node_config& node::config() const noexcept {
    return impl_->cfg;
}

bool node::connect(atom peer, std::chrono::milliseconds timeout) {
    scoped_process me(*impl_->rt);
    term ref = impl_->rt->make_ref();
    impl_->when_connected(peer, me.self(), ref);
    auto r = me.receive_if([&](const term& t) { return t.is_tuple(2) && t[0] == ref; }, timeout);
    return r && (*r)[1].is_atom(atoms::true_);
}

bool node::disconnect(atom peer) {
    return impl_->disconnect(peer);
}
std::vector<atom> node::nodes(node_kind kind) const {
    return impl_->nodes(kind);
}
void node::set_cookie(atom peer, std::string cookie) {
    impl_->cookies.set_cookie(peer, std::move(cookie));
}
void node::set_cookie(std::string cookie) {
    impl_->cookies.set_cookie(std::move(cookie));
}
std::string node::get_cookie() const {
    return impl_->cookies.get_cookie();
}

}  // namespace nodus

// Internal: the distributed node — connection table, connections, and the router between the
// runtime and the wire.
//
// Threads: a control thread runs the node's own io_context (port mapper, listener, name
// lookups, connect); each runtime worker runs an io_context through its poller, and every
// connection lives on one worker: its socket handlers run there and deliver signals there,
// so the processes they wake run on the same thread (and their replies are written from it).
//
// Peer entry states (one per peer node name in the table):
//   pending  — no connection up yet: outgoing attempt in progress and/or an incoming handshake;
//              signals for the peer wait in the entry's queue
//   up       — one connection carries all traffic (exactly one per peer)
//   (removed when the last attempt fails or the connection goes down; queued signals then
//    fail as on a lost connection: links and monitors get noconnection, messages vanish)
//
// Connection states: connecting (name lookup, TCP connect) → handshaking → up → closed.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dist/asio_poller.hpp"
#include "dist/stream.hpp"
#include "nodus/dist/control.hpp"
#include "nodus/dist/cookie.hpp"
#include "nodus/dist/handshake.hpp"
#include "nodus/dist/node_name.hpp"
#include "nodus/dist/packet.hpp"
#include "nodus/epmd/client.hpp"
#include "nodus/epmd/server.hpp"
#include "nodus/node/node.hpp"

namespace nodus::detail {

class node_impl;

class connection : public std::enable_shared_from_this<connection> {
public:
    enum class state : std::uint8_t { connecting, handshaking, up, closed };

    connection(node_impl& node, unsigned worker, bool initiator, atom peer);
    ~connection();

    // Initiator: look the peer up and connect (runs on the connection's worker).
    void start_outgoing();
    // Acceptor: the socket was accepted (on the control thread) for this worker.
    void start_incoming(asio::ip::tcp::socket sock);

    // Any thread. Queues an encoded message; returns false once the connection is closed.
    bool send(const remote_signal& s);
    // try_small false: the caller knows the message takes no batch (connection::send tried).
    bool send_control(const dist::control_message& m, const term& sender, bool try_small = true);
    // Any thread: close with a reason (logged); runs the down actions once.
    void close(std::string reason, atom nodedown_reason);

    atom peer() const noexcept { return peer_; }
    state current() const noexcept { return state_.load(); }
    bool visible() const noexcept { return visible_; }
    bool initiator() const noexcept { return initiator_; }
    std::uint64_t flags() const noexcept { return flags_; }
    unsigned worker() const noexcept { return worker_; }
    // Back-pressure (send_queue_limit). A fragmented message counts with at most a quarter of
    // the limit: the rest of it holds back only its own sender (as the BEAM, whose sender of a
    // big message enqueues it fragment by fragment, suspended while the queue is busy), so that
    // one 64 MiB message does not stop every small sender until most of it has gone out.
    bool over_limit() const noexcept {
        std::size_t limit = send_queue_limit_;
        return limit != 0 && queued_bytes_.load(std::memory_order_relaxed) > limit;
    }
    // Whether the sender of this signal should wait: the queue is over the limit, or the sender
    // has a big message queued and the whole queue is over it.
    bool sender_should_wait(const term& sender);
    // Sends {'$nodus_drained', ref} to waiter once the queue is at half the limit (all of it,
    // for a waiter with a big message queued) or the connection closes; false when there is
    // nothing to wait for now.
    bool add_drain_waiter(const term& waiter, const term& ref);
    // Records links/monitors that cross this connection, so that its loss can be reported.
    void track(const remote_signal& s, bool outgoing);
    // Set for an accepted connection while it counts in node_impl::handshakes (the cap on
    // pending handshakes); cleared once, when it goes up or fails.
    std::atomic<bool> counts_as_pending_handshake{false};

private:
    // An entry of the send queues: one message, or (normal_ only) a batch of small messages
    // already sealed back to back (msg then has no packets).
    struct queued {
        dist::outgoing_message msg;
        std::vector<std::uint8_t> batch;
        std::size_t next_packet = 0;
        std::uintptr_t sender = 0;
        std::size_t uncounted = 0;  // body bytes not in queued_bytes_ (a big message's rest)
        bool big_head = false;      // the first fragment of a big message (normal_ only)
        bool is_batch() const noexcept { return msg.packets.empty(); }
    };
    asio::io_context& ctx();
    void set_state(state s) { state_.store(s); }
    void on_connected(asio::ip::tcp::socket sock);
    void begin_handshake();
    void arm_setup_timer();
    void handshake_read();
    void handshake_write_then(std::function<void()> next);
    void handshake_progress();
    void go_up(const dist::handshake_result& r, std::vector<std::uint8_t> leftover);
    void read_more();
    void process_input();
    bool handle_packet(byte_span payload, byte_storage* owner);
    bool after_feed(result<std::optional<dist::dist_message>, dist::packet_error> r);
    void read_direct();
    void reuse_empty_input();
    void dispatch(dist::control_message&& m);
    void flush();
    void arm_tick();
    void on_tick();
    void enqueue(dist::outgoing_message&& m, const term& sender, bool urgent = false,
                 const dist::dist_message* source = nullptr);
    bool enqueue_small(const dist::small_encoding& e, const term& sender);
    bool queue(dist::outgoing_message&& m, const term& sender, bool urgent, const dist::dist_message* source);
    bool flush_now_locked();
    std::vector<std::uint8_t> spare_batch_locked();
    std::vector<std::uint8_t>& current_batch_locked();
    // Small messages sent by processes wait per worker until the end of the process's time
    // slice and go to the queue together, under one lock (runtime::defer_to_slice_end): a lock,
    // a queue check and contended counters per message were most of the cost of a stream of
    // messages from several processes. A worker's staged messages go first whenever that worker
    // queues anything else on this connection, so no signal overtakes them.
    struct staged final : runtime::slice_end_hook {
        connection* owner = nullptr;
        std::shared_ptr<connection> keep;  // set while registered
        std::vector<std::uint8_t> bodies;
        std::vector<atom> atoms;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> sizes;  // per message: body bytes, atoms
        void at_slice_end() override;
    };
    bool stage(const dist::small_encoding& e);
    void hand_over(staged& st);
    void hand_over_own_staged();
    void run_down_actions(atom reason);
    std::string with_peer(const std::string& reason);

    node_impl& node_;
    unsigned worker_;
    bool initiator_;
    atom peer_;
    std::atomic<state> state_{state::connecting};
    std::optional<dist_stream> sock_;
    asio::steady_timer setup_timer_;
    asio::steady_timer tick_timer_;
    std::optional<dist::handshake> hs_;
    std::vector<std::uint8_t> hs_in_;
    std::uint64_t flags_ = 0;
    bool visible_ = false;
    std::uint32_t peer_creation_ = 0;
    std::optional<dist::packet_reader> reader_;
    std::optional<dist::packet_writer> writer_;
    std::size_t atom_budget_ = 0;

    // Input buffer: shared storage so that decoded binaries can point into it.
    byte_storage* in_ = nullptr;
    std::size_t in_start_ = 0, in_end_ = 0;
    // A big continuation fragment whose body is read straight into the reassembly buffer
    // (packet_reader::place_continuation): where it goes and how much of it has arrived.
    bool direct_active_ = false;
    std::span<std::uint8_t> direct_;
    std::size_t direct_filled_ = 0;

    // Output: messages in order; a fragmented message from one sender keeps that sender's later
    // messages behind it, while other senders' messages pass between its fragments. Everything
    // is sealed as it is queued (see queue()).
    std::mutex out_mutex_;
    std::deque<queued> normal_;
    std::deque<queued> bulk_;
    std::unordered_map<std::uintptr_t, unsigned> bulk_senders_;  // sender word -> messages in bulk_
    std::atomic<std::size_t> bulk_messages_{0};  // their sum (changed under out_mutex_): none, none to follow
    std::vector<std::unique_ptr<staged>> staged_;  // per worker; only that worker touches its own
    bool flush_scheduled_ = false;
    // When a write last carried small messages together with bulk fragments (steady clock, ns):
    // while that is recent, bulk goes out in shorter writes (see flush()).
    std::int64_t last_mixed_write_ns_ = std::numeric_limits<std::int64_t>::min() / 2;
    bool unsent_limited_ = false;
    void limit_unsent(bool on);
    bool writing_ = false;
    std::vector<asio::const_buffer> iov_;
    std::vector<std::shared_ptr<const void>> in_flight_;
    std::vector<std::vector<std::uint8_t>> writing_batches_;  // batches in the write in flight
    std::vector<std::vector<std::uint8_t>> spare_batches_;    // their buffers, for reuse
    std::atomic<std::uint64_t> next_sequence_{1};
    // Back-pressure: body bytes of queued packets not yet handed to a write (changed under
    // out_mutex_, read without it), and who waits for them to drain.
    std::atomic<std::size_t> queued_bytes_{0};
    std::atomic<std::size_t> uncounted_bytes_{0};  // the rest of big messages (see over_limit)
    std::size_t send_queue_limit_ = 0;
    struct drain_waiter {
        term pid, ref;
        bool whole_queue;  // waits for all of the queue (it has a big message in it)
    };
    std::vector<drain_waiter> drain_waiters_;
    void wake_drain_waiters(std::vector<drain_waiter>& waiters);
    void collect_drained_locked(std::vector<drain_waiter>& wake);

    // Ticks.
    std::atomic<bool> wrote_{false};
    bool read_ = false;
    unsigned silent_ticks_ = 0;

    // Links and monitors across this connection (for noconnection on loss).
    std::mutex track_mutex_;
    std::set<std::pair<std::uintptr_t, std::uintptr_t>> link_keys_;
    std::vector<std::pair<term, term>> links_;  // (local, remote)
    std::unordered_map<term, term> monitors_out_;  // ref -> local watcher
    std::unordered_map<term, std::pair<term, term>> monitors_in_;  // ref -> (local target, remote watcher)
    std::unordered_map<term, term> spawns_;  // our spawn requests in flight: ref -> requester
    std::once_flag down_once_;
    std::string close_reason_;
};

struct peer_entry {
    std::shared_ptr<connection> up;                     // the connection carrying traffic
    std::vector<std::shared_ptr<connection>> attempts;  // handshakes in progress
    std::vector<remote_signal> pending;                 // signals waiting for `up`
    std::vector<std::pair<term, term>> up_waiters;      // (pid, ref) waiting for a result
    bool lost_race = false;  // our attempt said nok: the peer's own connection is coming
};

class node_impl final : public remote_router {
public:
    explicit node_impl(node_config cfg);
    ~node_impl() override;

    result<void, node_error> start();
    void stop();

    // remote_router
    void route(remote_signal&& s) override;
    bool notify_when_drained(atom node, const term& waiter, const term& ref) override;

    // Connection table (any thread).
    std::shared_ptr<connection> connect(atom peer);  // existing or new outgoing attempt
    void connection_up(const std::shared_ptr<connection>& c);
    void end_pending_handshake(connection& c);
    void connection_failed(const std::shared_ptr<connection>& c, atom reason);
    void connection_down(const std::shared_ptr<connection>& c, atom reason);
    dist::accept_status status_for(const dist::peer_hello& hello, const std::shared_ptr<connection>& c);
    bool disconnect(atom peer);
    std::vector<atom> nodes(node_kind kind) const;
    // Notifies `waiter` with {Ref, true|false} when the peer is up or unreachable.
    void when_connected(atom peer, term waiter, term ref);
    void monitor_nodes(const term& subscriber, bool on, bool with_info);
    void monitor_node(const term& subscriber, atom peer, bool on);

    dist::handshake_config handshake_config_for(const std::shared_ptr<connection>& c, bool initiator);
    // A pid to name as the sender when a signal has none (sent from outside any process).
    const term& anonymous_sender() const noexcept { return net_kernel_pid; }
    // SPAWN_REQUEST from a peer (services answer it).
    void on_spawn_request(const std::shared_ptr<connection>& c, dist::spawn_request&& req);
    void log(std::string_view line);
    bool allowed(std::string_view peer) const;
    std::uint32_t next_worker() noexcept;
    // Every connection is made here, so that stop() can close the ones no table knows yet
    // (incoming handshakes).
    std::shared_ptr<connection> new_connection(unsigned worker, bool initiator, atom peer);

    node_config cfg;
    dist::naming_mode mode;
    atom name;
    std::uint32_t creation = 0;
    dist::cookie_store cookies;
    std::unique_ptr<runtime> rt;
    std::vector<dist::asio_poller*> pollers;  // owned by the runtime's workers
    std::mutex every_mutex_;
    std::vector<std::weak_ptr<connection>> every_;  // all connections ever made and not yet gone

    asio::io_context control;
    std::thread control_thread;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> control_guard;
    std::optional<asio::ip::tcp::acceptor> acceptor;
    // TLS distribution (cfg.tls): the contexts for accepting and for connecting.
    std::shared_ptr<asio::ssl::context> tls_server, tls_client;
    std::uint16_t port = 0;
    std::unique_ptr<epmd::server> embedded_epmd;
    epmd::registration registration;
    std::atomic<std::size_t> handshakes{0};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint32_t> rr{0};
    term net_kernel_pid;
    // Runs a fun that is not an export (e.g. a shell fun sent by an Erlang node); set by the
    // expression evaluator when it is present.
    std::function<task<term>(term fun, std::vector<term> args)> fun_runner;
    // Spawn requests whose reply nobody waits for (rpc:cast): their replies are dropped.
    std::mutex quiet_mutex;
    std::unordered_set<term> quiet_spawns;

private:
    void accept_next();
    void fail_pending(std::vector<remote_signal>& pending, atom reason);
    void notify_waiters(std::vector<std::pair<term, term>>& waiters, bool ok);
    void fire_node_monitors(atom peer);
    void node_event(atom peer, bool up, bool visible, atom reason);

    mutable std::mutex table_mutex_;
    std::unordered_map<atom, peer_entry> table_;
    // Bumped (under table_mutex_) whenever a peer's `up` connection changes.
    std::atomic<std::uint64_t> table_generation_{1};
    // The last route of each worker, so that a process sending a stream of messages to one node
    // takes neither table_mutex_, nor a hash lookup, nor a reference count (an atomic that two
    // workers sending to one node fought over) per message. Only its worker touches a slot. It
    // holds the connection only until the process's time slice ends (stop() waits for every
    // connection to go).
    struct route_slot final : runtime::slice_end_hook {
        atom node;
        std::uint64_t generation = 0;
        std::shared_ptr<connection> up;  // set: the hook is registered for this slice
        void at_slice_end() override { up.reset(); }
    };
    std::vector<std::unique_ptr<route_slot>> route_slots_;

    std::mutex subs_mutex_;
    struct subscriber {
        term pid;
        bool info;
    };
    std::vector<subscriber> node_subscribers_;
    std::unordered_multimap<atom, term> node_monitors_;
};

// The node a runtime belongs to (set as the runtime's context), or nullptr.
node_impl* node_of(runtime_impl* rt) noexcept;

// The body of a process spawned on request (SPAWN_REQUEST, or spawn_request to this node):
// erpc:execute_call/4 and execute_cast/3, erlang:apply/2 of an export fun, or any exported
// function; anything else ends it with {undef, [{M, F, Args, []}]}.
task<> run_spawned(atom m, atom f, std::vector<term> args);
// rex's execute_call (OTP rpc.erl): M:F(Args)'s value, a thrown value as it is, and otherwise
// {badrpc, {'EXIT', Reason}} ({Reason, Stack} for errors; undef carries {M, F, Args, []}).
task<term> rex_execute(atom m, atom f, std::vector<term> args);

}  // namespace nodus::detail

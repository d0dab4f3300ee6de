// runtime: lightweight processes on a multi-threaded scheduler, with Erlang's semantics.
//
//     nodus::runtime rt;                         // one worker thread per core
//     pid echo = rt.spawn(echo_server);          // task<> echo_server()
//     nodus::scoped_process me(rt);              // this thread as a process
//     me.send(echo, tuple(me.self(), "hi"_a));
//     auto reply = me.receive(std::chrono::seconds(1));
//
// Deterministic mode (runtime_options::deterministic) runs everything on the caller's thread
// with a virtual clock: run() executes until nothing is runnable, advancing time to the next
// timer instead of waiting, so tests of timeouts take no real time. With a non-zero seed the
// order in which runnable processes run is shuffled reproducibly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/runtime/signal.hpp"

namespace nodus {

// An event source of one worker thread: polled between processes, slept on when the worker is
// idle. The distribution layer installs one per worker (an asio::io_context), so that packets
// from a socket are handled on the thread that then runs the processes they wake — a request
// and its reply stay on one thread, with no cross-CPU wake-up in between.
class worker_poller {
public:
    virtual ~worker_poller() = default;
    virtual void poll() = 0;                                   // handle ready events, never block
    virtual void wait(std::chrono::nanoseconds timeout) = 0;  // until an event, wake() or timeout (<0: none)
    virtual void wake() = 0;                                   // from any thread
};

struct runtime_options {
    unsigned threads = 0;  // 0: one per hardware thread
    bool deterministic = false;
    std::uint64_t seed = 0;
    std::size_t max_processes = std::size_t{1} << 22;
    atom node = atoms::nonode_nohost;
    std::uint32_t creation = 0;
    std::uint32_t reductions_per_slice = 4000;
    // How long a worker with a poller (a distributed node's worker) keeps polling its sockets
    // after it ran out of work, before it sleeps: a reply that comes meanwhile is handled without
    // a thread wake-up (about 20 us on a VM). The BEAM's scheduler busy wait (+sbwt) does the
    // same. It costs CPU: up to this long after each burst of work. 0: sleep at once.
    std::chrono::microseconds busy_poll{100};
    // Called once per worker (index 0..threads-1) at start-up; not used in deterministic mode.
    std::function<std::unique_ptr<worker_poller>(unsigned worker)> poller_factory{};
};

class runtime {
public:
    explicit runtime(runtime_options opts = {});
    ~runtime();  // kills every process (reason `shutdown`... untrappable) and stops the workers
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    template <class F>
    pid spawn(F&& body) {
        return detail::spawn_process(impl_.get(), detail::make_spawn_request(std::forward<F>(body))).first;
    }
    template <class F, class A0, class... A>
    pid spawn(F&& fn, A0&& a0, A&&... args) {
        return spawn(
            [fn = std::forward<F>(fn), tup = std::make_tuple(std::forward<A0>(a0), std::forward<A>(args)...)]() {
                return std::apply(fn, tup);
            });
    }

    // Sends from outside any process (to a pid, a registered name or {Name, Node}).
    void send(const term& to, term message);
    // exit/2 from outside any process.
    void exit(const pid& target, term reason);

    std::optional<pid> whereis(atom name) const;
    std::vector<atom> registered() const;
    // register/2 from outside any process: false when the name is taken or p is not a live
    // local process, or is already named.
    bool register_name(atom name, const pid& p);
    // The C++ functions callable by name on this runtime's node (shell, remote spawn, rpc).
    export_table& exports() noexcept;
    bool is_process_alive(const pid& p) const;
    std::size_t process_count() const noexcept;

    atom node() const noexcept;
    std::uint32_t creation() const noexcept;
    std::chrono::nanoseconds now() const noexcept;
    reference make_ref();

    // Deterministic mode: run until no process is runnable and no timer is pending (or until
    // `limit` of virtual time has passed). Returns the number of process runs performed.
    std::size_t run(std::chrono::nanoseconds limit = std::chrono::nanoseconds::max());
    // Threaded mode: blocks until every process has exited.
    void wait_idle();

    // ---- for the distribution layer ----
    unsigned worker_count() const noexcept;
    // An opaque pointer for the layer that owns this runtime (the node), so that code running
    // in its processes can find it. The runtime never looks at it.
    void set_context(void* ctx) noexcept;
    void* context() const noexcept;
    // The index of the worker running on this thread, or -1.
    int current_worker() const noexcept;
    // For pollers: whether the worker running on this thread has processes ready to run (events
    // handled since made some runnable), so that it runs them before handling more events.
    static bool worker_has_runnable() noexcept;
    void set_remote_router(remote_router* r) noexcept;
    // Work deferred to the end of the running process's time slice, run on its worker before
    // the process can run anywhere else (so nothing it does later can overtake it): for a layer
    // that buffers per worker what a process sends and hands it over once per slice. False (and
    // nothing registered) when this thread is not running a process of this runtime. A hook
    // registered twice runs twice; it must live until it has run.
    class slice_end_hook {
    public:
        virtual void at_slice_end() = 0;

    protected:
        ~slice_end_hook() = default;
    };
    bool defer_to_slice_end(slice_end_hook& hook);
    // Whether this thread is running a process of this runtime.
    bool in_process() const noexcept;
    // Delivers a signal that arrived from another node to a local process or name.
    void deliver(remote_signal&& s);
    // Node name and creation change when the node becomes distributed (net_kernel:start).
    void set_node(atom node, std::uint32_t creation);

    detail::runtime_impl* impl() const noexcept { return impl_.get(); }

private:
    std::unique_ptr<detail::runtime_impl> impl_;
};

// An ordinary thread taking part as a process: it has a pid and a mailbox, can be linked
// and monitored, and its receive blocks the thread. It exits with reason `normal` when
// destroyed. Exit signals it receives while not trapping exits mark it dead (alive() turns
// false; its links and monitors fire) but cannot stop the thread.
class scoped_process {
public:
    explicit scoped_process(runtime& rt);
    ~scoped_process();
    scoped_process(const scoped_process&) = delete;
    scoped_process& operator=(const scoped_process&) = delete;

    pid self() const;
    bool alive() const;
    void send(const term& to, term message);

    // Any message (nullopt on timeout).
    std::optional<term> receive(std::chrono::nanoseconds timeout = infinity);
    // The first message matching pred, in arrival order.
    std::optional<term> receive_if(const std::function<bool(const term&)>& pred,
                                   std::chrono::nanoseconds timeout = infinity);
    template <class P>
    std::optional<term> receive_match(P&& pattern, std::chrono::nanoseconds timeout = infinity) {
        return receive_if([&](const term& t) { return pat::detail::match_one(t, pattern); }, timeout);
    }
    std::vector<term> flush();

    void link(const pid& other);
    void unlink(const pid& other);
    bool trap_exit(bool on);
    reference monitor(const term& target);
    bool demonitor(const reference& ref, bool flush = false);
    bool register_name(atom name);

    detail::process* raw() const noexcept { return proc_; }

private:
    runtime& rt_;
    detail::process* proc_;
};

}  // namespace nodus

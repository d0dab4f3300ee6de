// Internal: scheduler, workers, timers, process table and registry.
//
// Scheduling: one worker per thread. A process made runnable by another process goes to the
// waker's worker, into its `next` slot (which other workers never steal from), so a
// request/reply pair stays on one thread and pays no cross-CPU wake-up (about 20 µs here).
// The next-slot chain shares one time slice; when it is used up, woken processes go to the
// tail of the local queue instead. Spawned processes go to the local queue; idle workers
// steal from other workers' queues and sleep when there is nothing to steal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "nodus/runtime/runtime.hpp"
#include "runtime/process_impl.hpp"

namespace nodus::detail {

enum class timer_kind : std::uint8_t { receive_timeout, send_after };
enum : std::uint8_t { timer_armed = 0, timer_cancelled = 1, timer_fired = 2 };

struct timer_entry {
    std::int64_t deadline = 0;
    std::size_t heap_index = SIZE_MAX;
    std::atomic<std::uint8_t> state{timer_armed};
    std::atomic<std::uint8_t> refs{1};
    timer_kind kind = timer_kind::receive_timeout;
    unsigned owner = 0;
    process* target = nullptr;  // receive timeout (retained)
    term dest;                  // send_after
    term message;
    term ref;
};

// Indexed binary min-heap of timers, owned by one worker.
class timer_heap {
public:
    void add(timer_entry* e);
    void remove(timer_entry* e) noexcept;
    timer_entry* top() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }
    timer_entry* pop() noexcept;
    std::size_t size() const noexcept { return heap_.size(); }

private:
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, timer_entry* e) noexcept {
        heap_[i] = e;
        e->heap_index = i;
    }
    std::vector<timer_entry*> heap_;
};

class spin_lock {
public:
    void lock() noexcept {
        while (flag_.exchange(true, std::memory_order_acquire))
            while (flag_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    void unlock() noexcept { flag_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> flag_{false};
};

struct worker {
    runtime_impl* rt = nullptr;
    unsigned index = 0;
    std::thread thread;
    process* next = nullptr;
    std::int64_t chain_budget = 0;
    spin_lock qlock;
    process* qhead = nullptr;
    process* qtail = nullptr;
    std::atomic<std::size_t> qlen{0};
    timer_heap timers;
    std::mt19937_64 rng;
    std::uint64_t ticks = 0;
    // Sleeping: on the poller if there is one, else on this condition variable.
    std::unique_ptr<worker_poller> poller;
    std::mutex park_mutex;
    std::condition_variable park_cv;
    bool notified = false;
    std::vector<runtime::slice_end_hook*> slice_hooks;  // runtime::defer_to_slice_end
};

extern thread_local worker* tls_worker;

class runtime_impl {
public:
    explicit runtime_impl(const runtime_options& o);
    ~runtime_impl();

    void start();
    void shutdown();

    // ---- process table ----
    // A retained reference to the live local process with this pid, or nullptr.
    process* lookup(const term& pid_term) const noexcept;
    bool is_local(const term& pid_term) const noexcept;
    process* create_process();  // allocated, registered in the table, not yet runnable
    void destroy_process(process* p) noexcept;
    std::size_t live() const noexcept { return live_.load(std::memory_order_relaxed); }
    // Thread-driven processes do not count as live (the runtime cannot end them).
    void mark_blocking(process* p) noexcept {
        p->blocking = true;
        live_.fetch_sub(1, std::memory_order_relaxed);
    }

    // ---- scheduling ----
    void make_runnable(process* p);  // after a push woke it
    void enqueue_new(process* p);    // a fresh process
    void run_process(worker& w, process* p);
    void run_slice_hooks(worker& w);
    void order_after_staged();
    void worker_loop(worker& w);
    std::size_t run_deterministic(std::int64_t limit_ns);
    void wait_idle();

    // ---- signals ----
    // Delivers to a local or remote target; handles a dead local target as Erlang does.
    void send_signal(const term& to, sig kind, const term& from, term payload, term ref = term(),
                     std::uint64_t id = 0, const atom* name = nullptr);
    void send_message(const term& to, term msg, const term& from);
    void deliver(remote_signal&& s);
    // Replies for a signal that reached a dead or missing local process.
    void answer_dead(const term& dead, control_node* n, bool by_name_atom);
    void route_remote(remote_signal&& s);

    // ---- per-process work (owner context) ----
    void handle_signals(process* p);
    void handle_control(process* p, control_node* c);
    void apply_exit(process* p, const term& from, term reason, bool linked);
    void finalize(process* p);
    void die(process* p, term reason) {
        if (!p->dead) {
            p->dead = true;
            p->exit_reason = std::move(reason);
        }
    }

    // ---- registry ----
    bool register_name(atom name, process* p);
    bool unregister_name(atom name);
    void drop_name(process* p);  // at exit
    std::optional<pid> whereis(atom name) const;
    std::vector<atom> registered() const;

    // ---- time ----
    std::int64_t now_ns() const noexcept;
    void arm_receive_timer(process* p, std::int64_t deadline);
    void cancel_receive_timer(process* p) noexcept;
    reference send_after(std::int64_t delay_ns, const term& dest, term msg);
    std::optional<std::int64_t> cancel_timer(const term& ref);
    void fire_timers(worker& w, std::int64_t now);
    void drop_timer(timer_entry* e) noexcept;

    reference make_ref();

    runtime_options opts;
    std::atomic<int> node_slot{-1};         // local node slot of (node, creation): our pid words
    std::atomic<std::uint32_t> node_index;  // atom index of the node name
    std::atomic<std::uint32_t> creation;
    remote_router* router = nullptr;
    void* context = nullptr;
    export_table exports;

    std::vector<std::unique_ptr<worker>> workers;
    bool deterministic = false;
    std::int64_t virtual_now = 0;

private:
    struct slot {
        std::atomic<process*> p{nullptr};
        std::uint32_t serial = 0;
    };
    bool steal(worker& w, process*& out);
    process* pick(worker& w);
    process* take_injected(worker& w);
    void push_local(worker& w, process* p);
    void wake_idle();
    void wake_worker(worker& w);
    void park(worker& w, std::int64_t deadline);
    bool any_work(const worker& w) const noexcept;
    std::int64_t next_deadline(worker& w) const;

    slot* table_ = nullptr;
    std::size_t capacity_ = 0;
    std::atomic<std::size_t> next_fresh_{0};
    std::mutex free_mutex_;
    std::vector<std::uint32_t> free_ids_;
    std::atomic<std::size_t> live_{0};

    mutable std::shared_mutex reg_mutex_;
    std::unordered_map<atom, term> names_;
    // Bumped (under reg_mutex_) whenever names_ changes: whereis keeps its last answer per
    // thread while it is unchanged (a stream of messages to one name takes no lock).
    std::atomic<std::uint64_t> names_generation_{1};
    const std::uint64_t instance_ = next_instance();
    static std::uint64_t next_instance() noexcept;

    std::mutex inject_mutex_;
    process* inject_head_ = nullptr;
    process* inject_tail_ = nullptr;
    std::atomic<std::size_t> inject_len_{0};

    std::mutex idle_mutex_;  // wait_idle() and shutdown only
    std::atomic<std::uint64_t> idle_mask_{0};  // bit i: worker i is parked (workers beyond 64 never park)
    std::atomic<bool> stopping_{false};
    std::condition_variable all_done_cv_;  // wait_idle()

    std::mutex timers_mutex_;  // send_after references, and timers armed from foreign threads
    std::unordered_map<term, timer_entry*> timer_refs_;
    std::vector<timer_entry*> pending_timers_;  // for worker 0
    std::atomic<std::size_t> pending_count_{0};

    std::atomic<std::uint64_t> ref_counter_{0};
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace nodus::detail

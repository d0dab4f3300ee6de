// Internal: the process control block, signal nodes and per-process relations.
//
// Process lifecycle (states):
//   runnable  — in a run queue, or in a worker's next slot
//   running   — a worker is executing its coroutine or handling its signals
//   waiting   — suspended in receive; inbox head is WAITING (a push makes it runnable)
//   exited    — finalised; inbox head is CLOSED (pushes fail: the target is dead)
//
// Signal inbox: a lock-free stack of signal nodes (pushed by any thread, taken whole by the
// owner and reversed, which restores each sender's order). Its head word doubles as the
// waiting/exited state, so a push decides atomically whether it woke the process up and no
// wake-up can be lost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <mutex>
#include <vector>

#include "nodus/runtime/process.hpp"
#include "nodus/runtime/signal.hpp"

namespace nodus::detail {

class runtime_impl;
struct worker;
struct timer_entry;

enum class sig : std::uint8_t {
    message,
    exit_linked,
    exit2,
    link,
    unlink,
    unlink_ack,
    monitor,
    demonitor,
    monitor_exit,
    group_leader,
    wakeup,   // a receive timeout expired (the process re-checks its deadline)
    info,     // process_info request: from = requester, ref = reply tag
    kill_now, // runtime shutdown
    spawn_reply,  // from = new pid or reason; ref = request id; id = flags; sets up link/monitor
};

struct signal_node {
    signal_node* next;
    sig kind;
    term payload;  // message, or exit reason
};

struct control_node : signal_node {
    term from;
    term ref;
    std::uint64_t id;
    std::uint32_t name;  // atom index (monitor by name) when has_name
    bool has_name;
};

signal_node* new_message_node(term msg);
control_node* new_control_node(sig kind);
void free_node(signal_node* n) noexcept;

inline signal_node* const inbox_waiting = reinterpret_cast<signal_node*>(std::uintptr_t{1});
inline signal_node* const inbox_closed = reinterpret_cast<signal_node*>(std::uintptr_t{2});

struct link_rel {
    term other;
    bool active;
    std::uint64_t unlink_id;
};
struct monitor_out {
    term ref;
    term target;  // pid, or name atom (on `node`)
    atom node;
    term object;  // what the DOWN message names: the pid or {Name, Node}
};
struct monitor_in {
    term ref;
    term watcher;
    std::uint32_t name;  // atom index when by name
    bool by_name;
};
struct relations {
    std::vector<link_rel> links;
    std::vector<monitor_out> out;
    std::vector<monitor_in> in;
};

// A thread parked in scoped_process::receive.
struct blocking_waiter {
    std::mutex mutex;
    std::condition_variable cv;
    bool woken = false;
};

class process {
public:
    // First word: the pool's free-list link overwrites it when the block is free, and nothing
    // reads it then. `refs` must stay readable in a freed block (type-stable lookups).
    process* next_runnable = nullptr;
    std::atomic<std::uint32_t> refs{1};
    std::uint32_t id = 0;
    std::uint32_t serial = 0;
    std::atomic<signal_node*> inbox{nullptr};
    runtime_impl* rt = nullptr;
    term self;

    // Private mailbox of messages taken from the inbox, in arrival order.
    signal_node* mb_head = nullptr;
    signal_node** mb_tail = &mb_head;
    std::uint32_t mb_len = 0;

    // Execution.
    std::coroutine_handle<> root{};
    std::coroutine_handle<> resume_point{};
    receive_state* waiting = nullptr;
    timer_entry* timer = nullptr;
    std::int64_t budget = 0;
    std::uint64_t reductions = 0;
    bool yield_requested = false;
    bool trap_exit = false;
    bool blocking = false;  // a scoped_process (thread-driven)
    bool dead = false;      // decided to exit (exit_reason set)
    // Registered name (atom index + 1), 0 when none. Written under the registry lock; read
    // without it only to skip that lock when there is no name.
    std::atomic<std::uint32_t> name_plus1{0};
    std::atomic<std::uint8_t> status{0};  // process_status, for introspection

    relations* rel = nullptr;
    term group_leader;
    term exit_reason;
    void* callable = nullptr;
    void (*destroy_callable)(void*) noexcept = nullptr;
    blocking_waiter* waiter = nullptr;

    relations& relations_() {
        if (!rel) rel = new relations();
        return *rel;
    }

    bool try_retain() noexcept {
        std::uint32_t r = refs.load(std::memory_order_relaxed);
        while (r != 0)
            if (refs.compare_exchange_weak(r, r + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
        return false;
    }
    void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept;

    enum class push_result : std::uint8_t { queued, woke, closed };
    push_result push(signal_node* n) noexcept {
        signal_node* h = inbox.load(std::memory_order_acquire);
        for (;;) {
            if (h == inbox_closed) return push_result::closed;
            n->next = h == inbox_waiting ? nullptr : h;
            if (inbox.compare_exchange_weak(h, n, std::memory_order_acq_rel, std::memory_order_acquire))
                return h == inbox_waiting ? push_result::woke : push_result::queued;
        }
    }
    // Owner only: takes every pending signal, oldest first.
    signal_node* take_all() noexcept {
        // A plain load first: most calls find the inbox empty, and an exchange is a locked op.
        if (inbox.load(std::memory_order_relaxed) == nullptr) return nullptr;
        signal_node* h = inbox.exchange(nullptr, std::memory_order_acq_rel);
        if (h == inbox_waiting || h == inbox_closed) return nullptr;
        signal_node* rev = nullptr;
        while (h) {
            signal_node* next = h->next;
            h->next = rev;
            rev = h;
            h = next;
        }
        return rev;
    }
    // Owner only: parks unless something arrived meanwhile.
    bool try_park() noexcept {
        signal_node* expected = nullptr;
        return inbox.compare_exchange_strong(expected, inbox_waiting, std::memory_order_acq_rel);
    }

    void append_message(signal_node* n) noexcept {
        n->next = nullptr;
        *mb_tail = n;
        mb_tail = &n->next;
        ++mb_len;
    }
};

// The process whose code runs on this thread (nullptr on other threads).
extern thread_local process* tls_current;

}  // namespace nodus::detail

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "base/pool.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus::detail {

thread_local process* tls_current = nullptr;
thread_local worker* tls_worker = nullptr;

namespace {
const atom a_shutdown{"shutdown"};
}

// ---------------------------------------------------------------------------------------------
// Nodes and process memory

signal_node* new_message_node(term msg) {
    void* m = pool_alloc(sizeof(signal_node));
    return new (m) signal_node{nullptr, sig::message, std::move(msg)};
}

control_node* new_control_node(sig kind) {
    void* m = pool_alloc(sizeof(control_node));
    auto* n = new (m) control_node();
    n->next = nullptr;
    n->kind = kind;
    n->id = 0;
    n->name = 0;
    n->has_name = false;
    return n;
}

void free_node(signal_node* n) noexcept {
    if (n->kind == sig::message) {
        n->~signal_node();
        pool_free(n, sizeof(signal_node));
    } else {
        auto* c = static_cast<control_node*>(n);
        c->~control_node();
        pool_free(c, sizeof(control_node));
    }
}

void process::release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        this->~process();
        type_stable_free(this, sizeof(process));
    }
}

void* frame_alloc(std::size_t bytes) { return pool_alloc(bytes); }
void frame_free(void* p, std::size_t bytes) noexcept { pool_free(p, bytes); }

// ---------------------------------------------------------------------------------------------
// Timer heap

void timer_heap::add(timer_entry* e) {
    heap_.push_back(e);
    e->heap_index = heap_.size() - 1;
    sift_up(e->heap_index);
}

void timer_heap::remove(timer_entry* e) noexcept {
    std::size_t i = e->heap_index;
    if (i == SIZE_MAX) return;
    timer_entry* last = heap_.back();
    heap_.pop_back();
    e->heap_index = SIZE_MAX;
    if (last == e) return;
    place(i, last);
    sift_up(i);
    sift_down(last->heap_index);
}

timer_entry* timer_heap::pop() noexcept {
    if (heap_.empty()) return nullptr;
    timer_entry* t = heap_.front();
    remove(t);
    return t;
}

void timer_heap::sift_up(std::size_t i) noexcept {
    timer_entry* e = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->deadline <= e->deadline) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, e);
}

void timer_heap::sift_down(std::size_t i) noexcept {
    timer_entry* e = heap_[i];
    std::size_t n = heap_.size();
    for (;;) {
        std::size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_[c + 1]->deadline < heap_[c]->deadline) ++c;
        if (heap_[c]->deadline >= e->deadline) break;
        place(i, heap_[c]);
        i = c;
    }
    place(i, e);
}

// ---------------------------------------------------------------------------------------------
// Construction

runtime_impl::runtime_impl(const runtime_options& o) : opts(o) {
    node_index.store(o.node.index());
    creation.store(o.creation);
    node_slot.store(local_node_slot(o.node, o.creation));  // our pids become immediate words
    deterministic = o.deterministic;
    capacity_ = o.max_processes;
    // calloc: untouched pages of a large zeroed block cost nothing until used.
    table_ = static_cast<slot*>(std::calloc(capacity_, sizeof(slot)));
    if (!table_) throw std::bad_alloc();
    unsigned n = deterministic ? 1 : (o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency()));
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>();
        w->rt = this;
        w->index = i;
        w->rng.seed(o.seed + i);
        workers.push_back(std::move(w));
    }
}

runtime_impl::~runtime_impl() { std::free(table_); }

void runtime_impl::start() {
    if (deterministic) return;
    if (opts.poller_factory)
        for (auto& w : workers) w->poller = opts.poller_factory(w->index);
    for (auto& w : workers) {
        worker* wp = w.get();
        wp->thread = std::thread([this, wp] { worker_loop(*wp); });
    }
}

void runtime_impl::shutdown() {
    // Every process gets an untrappable kill; workers run until all have exited.
    for (std::size_t i = 0; i < next_fresh_.load() && i < capacity_; ++i) {
        process* p = table_[i].p.load(std::memory_order_acquire);
        if (!p || !p->try_retain()) continue;
        if (!p->blocking) {
            control_node* n = new_control_node(sig::kill_now);
            n->payload = term(a_shutdown);
            auto r = p->push(n);
            if (r == process::push_result::closed) free_node(n);
            else if (r == process::push_result::woke) make_runnable(p);
        }
        p->release();
    }
    if (deterministic) {
        run_deterministic(INT64_MAX);
    } else {
        stopping_.store(true);
        for (auto& w : workers) wake_worker(*w);
        for (auto& w : workers)
            if (w->thread.joinable()) w->thread.join();
    }
    // Timers left in heaps (send_after to dead targets, cancelled entries) are freed.
    for (auto& w : workers)
        while (timer_entry* e = w->timers.pop()) drop_timer(e);
}

// ---------------------------------------------------------------------------------------------
// Process table

bool runtime_impl::is_local(const term& t) const noexcept {
    int word_slot = t.local_pid_slot();
    if (word_slot >= 0) return word_slot == node_slot.load(std::memory_order_relaxed);
    return t.is_pid() && t.pid_node().index() == node_index.load(std::memory_order_relaxed) &&
           t.pid_creation() == creation.load(std::memory_order_relaxed);
}

process* runtime_impl::lookup(const term& t) const noexcept {
    if (!is_local(t)) return nullptr;
    std::uint32_t id = t.pid_id();
    if (id >= capacity_) return nullptr;
    process* p = table_[id].p.load(std::memory_order_acquire);
    if (!p || !p->try_retain()) return nullptr;
    if (p->id != id || p->serial != t.pid_serial() || p->rt != this) {
        p->release();
        return nullptr;
    }
    return p;
}

process* runtime_impl::create_process() {
    std::uint32_t id;
    std::size_t fresh = next_fresh_.load(std::memory_order_relaxed);
    bool got = false;
    while (fresh < capacity_) {
        if (next_fresh_.compare_exchange_weak(fresh, fresh + 1, std::memory_order_relaxed)) {
            got = true;
            break;
        }
    }
    if (got) {
        id = static_cast<std::uint32_t>(fresh);
    } else {
        std::lock_guard l(free_mutex_);
        if (free_ids_.empty()) return nullptr;
        id = free_ids_.back();
        free_ids_.pop_back();
    }
    void* mem = type_stable_alloc(sizeof(process));
    auto* p = new (mem) process();
    p->rt = this;
    p->id = id;
    p->serial = table_[id].serial;
    p->self = pid::make(atom::from_index(node_index.load(std::memory_order_relaxed)), id, p->serial,
                        creation.load(std::memory_order_relaxed));
    table_[id].p.store(p, std::memory_order_release);
    live_.fetch_add(1, std::memory_order_relaxed);
    return p;
}

void runtime_impl::destroy_process(process* p) noexcept {
    std::uint32_t id = p->id;
    table_[id].p.store(nullptr, std::memory_order_release);
    ++table_[id].serial;  // the next process in this slot gets a different pid
    {
        std::lock_guard l(free_mutex_);
        free_ids_.push_back(id);
    }
    bool counted = !p->blocking;
    p->release();
    if (counted && live_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        {
            std::lock_guard l(idle_mutex_);
            all_done_cv_.notify_all();
        }
        if (stopping_.load()) {
            for (auto& w : workers) wake_worker(*w);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scheduling

void runtime_impl::push_local(worker& w, process* p) {
    p->next_runnable = nullptr;
    w.qlock.lock();
    if (w.qtail) w.qtail->next_runnable = p;
    else w.qhead = p;
    w.qtail = p;
    w.qlen.fetch_add(1, std::memory_order_seq_cst);
    w.qlock.unlock();
    if (!deterministic && idle_mask_.load(std::memory_order_seq_cst) != 0) wake_idle();
}

// Wakes one parked worker, if any. Pairs with park(): a worker sets its idle bit before its
// last look for work, a producer publishes work before reading the bits (both seq_cst), so
// either the worker sees the work or the producer sees the bit.
void runtime_impl::wake_idle() {
    std::uint64_t mask = idle_mask_.load(std::memory_order_seq_cst);
    while (mask) {
        unsigned i = static_cast<unsigned>(__builtin_ctzll(mask));
        if (idle_mask_.compare_exchange_weak(mask, mask & ~(std::uint64_t{1} << i), std::memory_order_seq_cst)) {
            wake_worker(*workers[i]);
            return;
        }
    }
}

void runtime_impl::wake_worker(worker& w) {
    if (w.poller) {
        w.poller->wake();
        return;
    }
    std::lock_guard l(w.park_mutex);
    w.notified = true;
    w.park_cv.notify_one();
}

bool runtime_impl::any_work(const worker& w) const noexcept {
    if (w.next || inject_len_.load(std::memory_order_seq_cst) > 0) return true;
    if (w.index == 0 && pending_count_.load(std::memory_order_seq_cst) > 0) return true;
    for (auto& v : workers)
        if (v->qlen.load(std::memory_order_seq_cst) > 0) return true;
    return false;
}

void runtime_impl::park(worker& w, std::int64_t deadline) {
    std::uint64_t bit = w.index < 64 ? std::uint64_t{1} << w.index : 0;
    if (bit) idle_mask_.fetch_or(bit, std::memory_order_seq_cst);
    if (!any_work(w) && !(stopping_.load() && live_.load() == 0)) {
        std::int64_t delta = deadline == INT64_MAX ? -1 : deadline - now_ns();
        if (bit == 0 && delta < 0) delta = 1'000'000;  // unreachable by wake_idle: poll every ms
        if (delta != 0) {
            if (w.poller) {
                w.poller->wait(std::chrono::nanoseconds(delta));
            } else {
                std::unique_lock l(w.park_mutex);
                if (delta < 0) w.park_cv.wait(l, [&] { return w.notified; });
                else w.park_cv.wait_for(l, std::chrono::nanoseconds(delta), [&] { return w.notified; });
                w.notified = false;
            }
        }
    }
    if (bit) idle_mask_.fetch_and(~bit, std::memory_order_seq_cst);
}

void runtime_impl::make_runnable(process* p) {
    p->status.store(static_cast<std::uint8_t>(process_status::runnable), std::memory_order_relaxed);
    if (p->blocking) {
        blocking_waiter* bw = p->waiter;
        std::lock_guard l(bw->mutex);
        bw->woken = true;
        bw->cv.notify_one();
        return;
    }
    worker* w = tls_worker;
    if (w && w->rt == this) {
        // Fairness matters only towards processes waiting in this worker's queue: with an
        // empty queue the chain goes on (and stays off the queue, where it could be stolen).
        if (w->chain_budget <= 0 && w->qlen.load(std::memory_order_relaxed) == 0)
            w->chain_budget = opts.reductions_per_slice;
        if (w->chain_budget > 0 && !(deterministic && opts.seed)) {
            process* old = w->next;
            w->next = p;
            if (old) push_local(*w, old);
        } else {
            push_local(*w, p);
        }
        return;
    }
    p->next_runnable = nullptr;
    {
        std::lock_guard l(inject_mutex_);
        if (inject_tail_) inject_tail_->next_runnable = p;
        else inject_head_ = p;
        inject_tail_ = p;
        inject_len_.fetch_add(1, std::memory_order_seq_cst);
    }
    if (!deterministic) wake_idle();
}

void runtime_impl::enqueue_new(process* p) {
    p->status.store(static_cast<std::uint8_t>(process_status::runnable), std::memory_order_relaxed);
    worker* w = tls_worker;
    if (w && w->rt == this) {
        push_local(*w, p);
        return;
    }
    p->next_runnable = nullptr;
    {
        std::lock_guard l(inject_mutex_);
        if (inject_tail_) inject_tail_->next_runnable = p;
        else inject_head_ = p;
        inject_tail_ = p;
        inject_len_.fetch_add(1, std::memory_order_seq_cst);
    }
    if (!deterministic) wake_idle();
}

bool runtime_impl::steal(worker& w, process*& out) {
    std::size_t n = workers.size();
    if (n < 2) return false;
    std::size_t start = static_cast<std::size_t>(w.rng()) % n;
    for (std::size_t k = 0; k < n; ++k) {
        worker& v = *workers[(start + k) % n];
        if (&v == &w || v.qlen.load(std::memory_order_relaxed) == 0) continue;
        v.qlock.lock();
        process* p = v.qhead;
        if (p) {
            v.qhead = p->next_runnable;
            if (!v.qhead) v.qtail = nullptr;
            v.qlen.fetch_sub(1, std::memory_order_relaxed);
        }
        v.qlock.unlock();
        if (p) {
            out = p;
            return true;
        }
    }
    return false;
}

process* runtime_impl::take_injected(worker& w) {
    if (!inject_len_.load(std::memory_order_relaxed)) return nullptr;
    // Take a share of the shared queue into the local one (FIFO), so injected processes
    // interleave fairly with local ones; return the first.
    process* first = nullptr;
    process* batch_head = nullptr;
    process* batch_tail = nullptr;
    std::size_t moved = 0;
    {
        std::lock_guard l(inject_mutex_);
        std::size_t len = inject_len_.load(std::memory_order_relaxed);
        std::size_t share = std::min<std::size_t>(len / workers.size() + 1, 128);
        for (std::size_t i = 0; i < share && inject_head_; ++i) {
            process* p = inject_head_;
            inject_head_ = p->next_runnable;
            p->next_runnable = nullptr;
            if (!first) {
                first = p;
            } else {
                if (batch_tail) batch_tail->next_runnable = p;
                else batch_head = p;
                batch_tail = p;
                ++moved;
            }
        }
        if (!inject_head_) inject_tail_ = nullptr;
        inject_len_.fetch_sub(moved + (first ? 1 : 0), std::memory_order_relaxed);
    }
    if (batch_head) {
        w.qlock.lock();
        if (w.qtail) w.qtail->next_runnable = batch_head;
        else w.qhead = batch_head;
        w.qtail = batch_tail;
        w.qlen.fetch_add(moved, std::memory_order_relaxed);
        w.qlock.unlock();
        if (!deterministic && idle_mask_.load(std::memory_order_seq_cst) != 0) wake_idle();
    }
    return first;
}

process* runtime_impl::pick(worker& w) {
    // Now and then the shared queue goes first, so that a busy local queue cannot starve it.
    if ((++w.ticks % 61) == 0) {
        if (process* p = take_injected(w)) {
            if (w.next) push_local(w, std::exchange(w.next, nullptr));
            w.chain_budget = opts.reductions_per_slice;
            return p;
        }
    }
    if (w.next) {
        process* p = w.next;
        w.next = nullptr;
        return p;
    }
    w.chain_budget = opts.reductions_per_slice;
    if (w.qlen.load(std::memory_order_relaxed)) {
        w.qlock.lock();
        process* p = w.qhead;
        if (p && deterministic && opts.seed) {
            // Reproducible shuffle: take a random element of the queue.
            std::size_t len = w.qlen.load(std::memory_order_relaxed);
            std::size_t k = static_cast<std::size_t>(w.rng() % len);
            process* prev = nullptr;
            for (std::size_t i = 0; i < k; ++i) {
                prev = p;
                p = p->next_runnable;
            }
            if (prev) prev->next_runnable = p->next_runnable;
            else w.qhead = p->next_runnable;
            if (w.qtail == p) w.qtail = prev;
        } else if (p) {
            w.qhead = p->next_runnable;
            if (!w.qhead) w.qtail = nullptr;
        }
        if (p) w.qlen.fetch_sub(1, std::memory_order_relaxed);
        w.qlock.unlock();
        if (p) return p;
    }
    if (process* p = take_injected(w)) return p;
    process* p = nullptr;
    if (steal(w, p)) return p;
    return nullptr;
}

std::int64_t runtime_impl::next_deadline(worker& w) const {
    timer_entry* t = w.timers.top();
    return t ? t->deadline : INT64_MAX;
}

void runtime_impl::worker_loop(worker& w) {
    tls_worker = &w;
    unsigned iter = 0;
    for (;;) {
        ++iter;
        if ((iter & 15) == 0 && (w.timers.size() || pending_count_.load(std::memory_order_relaxed)))
            fire_timers(w, now_ns());
        // Sockets are polled now and then while processes run, and always before sleeping.
        if (w.poller && (iter & 31) == 0) w.poller->poll();
        process* p = pick(w);
        if (p) {
            run_process(w, p);
            continue;
        }
        if (w.poller) {
            w.poller->poll();
            if (w.next || w.qlen.load(std::memory_order_relaxed)) continue;
        }
        if (w.timers.size() || pending_count_.load(std::memory_order_relaxed)) {
            fire_timers(w, now_ns());
            if (w.next || w.qlen.load(std::memory_order_relaxed)) continue;
        }
        // Spin briefly: a wake-up from a sleeping thread costs far more than a short spin.
        bool found = false;
        for (int i = 0; i < 64 && !found; ++i) {
            __builtin_ia32_pause();
            found = w.qlen.load(std::memory_order_relaxed) || inject_len_.load(std::memory_order_relaxed);
            if (!found && (i & 15) == 15) {
                for (auto& v : workers) found = found || v->qlen.load(std::memory_order_relaxed) > 0;
            }
        }
        if (found) continue;
        // Busy-poll the sockets a while (runtime_options::busy_poll) before sleeping.
        if (w.poller && opts.busy_poll.count() > 0 && !deterministic) {
            std::int64_t until = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(opts.busy_poll).count();
            while (!found && now_ns() < until) {
                w.poller->poll();
                found = w.next || w.qlen.load(std::memory_order_relaxed) || inject_len_.load(std::memory_order_relaxed);
            }
            if (found) continue;
        }
        if (stopping_.load() && live_.load() == 0) break;
        park(w, next_deadline(w));
    }
    tls_worker = nullptr;
}

std::size_t runtime_impl::run_deterministic(std::int64_t limit_ns) {
    worker& w = *workers[0];
    worker* saved = tls_worker;
    tls_worker = &w;
    std::size_t runs = 0;
    std::int64_t end = limit_ns == INT64_MAX ? INT64_MAX : virtual_now + limit_ns;
    for (;;) {
        fire_timers(w, virtual_now);
        process* p = pick(w);
        if (p) {
            run_process(w, p);
            ++runs;
            continue;
        }
        timer_entry* t = w.timers.top();
        if (!t || t->deadline > end) break;
        virtual_now = std::max(virtual_now, t->deadline);  // nothing to run: jump to the next timer
    }
    if (end != INT64_MAX && virtual_now < end) virtual_now = end;
    tls_worker = saved;
    return runs;
}

void runtime_impl::wait_idle() {
    std::unique_lock l(idle_mutex_);
    all_done_cv_.wait(l, [&] { return live_.load() == 0; });
}

void runtime_impl::run_process(worker& w, process* p) {
    process* saved = tls_current;
    tls_current = p;
    p->status.store(static_cast<std::uint8_t>(process_status::running), std::memory_order_relaxed);
    p->budget = opts.reductions_per_slice;
    std::int64_t used = 0;
    for (;;) {
        handle_signals(p);
        if (p->dead) {
            used = opts.reductions_per_slice - p->budget;
            finalize(p);
            break;
        }
        if (p->waiting) {
            receive_state& st = *p->waiting;
            bool decided = st.clause >= 0 || st.timed_out || receive_ready(st);
            if (p->dead) continue;
            if (!decided) {
                if (st.timeout_ns > 0 && !p->timer) arm_receive_timer(p, st.deadline_ns);
                run_slice_hooks(w);  // before the process can be woken elsewhere
                if (p->try_park()) {
                    p->status.store(static_cast<std::uint8_t>(process_status::waiting), std::memory_order_relaxed);
                    used = opts.reductions_per_slice - p->budget;
                    break;
                }
                continue;
            }
            p->waiting = nullptr;
        }
        p->yield_requested = false;
        p->resume_point.resume();
        if (p->root.done()) {
            auto& promise = std::coroutine_handle<task<>::promise_type>::from_address(p->root.address()).promise();
            die(p, promise.error ? exit_reason_of(promise.error) : term(atoms::normal));
            continue;  // finalize at the top of the loop
        }
        if (p->dead) continue;
        if (p->yield_requested) {
            used = opts.reductions_per_slice - p->budget;
            run_slice_hooks(w);  // before the process can be stolen
            push_local(w, p);
            break;
        }
        // Suspended in receive: try to decide or park.
    }
    run_slice_hooks(w);  // after finalize (a dead process's last signals)
    w.chain_budget -= used > 0 ? used : 1;
    tls_current = saved;
}

// A signal to a local process, or a spawn, could start a chain that reaches a node this slice
// has messages staged for (slice hooks, e.g. the distribution's per-worker staging): they are
// handed over first, so that causal order is kept as on the BEAM, where they would already be
// in the connection's queue.
void runtime_impl::order_after_staged() {
    worker* w = tls_worker;
    if (w && !w->slice_hooks.empty() && w->rt == this) run_slice_hooks(*w);
}

void runtime_impl::run_slice_hooks(worker& w) {
    // A hook may register more (it sends): run until none is left.
    while (!w.slice_hooks.empty()) {
        std::vector<runtime::slice_end_hook*> hooks;
        hooks.swap(w.slice_hooks);
        for (runtime::slice_end_hook* h : hooks)
            h->at_slice_end();
        if (w.slice_hooks.empty()) {
            hooks.clear();
            w.slice_hooks.swap(hooks);  // keep the capacity
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signals

void runtime_impl::route_remote(remote_signal&& s) {
    remote_router* r = router;
    if (r) {
        r->route(std::move(s));
        return;
    }
    // Not distributed: nobody can answer. Links and monitors fail as on a lost connection.
    if (s.kind == signal_kind::link) {
        send_signal(s.from, sig::exit_linked, s.to.is_pid() ? s.to : term(), term(atoms::noconnection));
    } else if (s.kind == signal_kind::monitor) {
        send_signal(s.from, sig::monitor_exit, s.to, term(atoms::noconnection), s.ref);
    }
}

void runtime_impl::send_message(const term& to, term msg, const term& from) {
    send_signal(to, sig::message, from, std::move(msg));
}

namespace {
signal_kind to_remote_kind(sig k) {
    switch (k) {
        case sig::message: return signal_kind::message;
        case sig::exit_linked: return signal_kind::exit;
        case sig::exit2: return signal_kind::exit2;
        case sig::link: return signal_kind::link;
        case sig::unlink: return signal_kind::unlink;
        case sig::unlink_ack: return signal_kind::unlink_ack;
        case sig::monitor: return signal_kind::monitor;
        case sig::demonitor: return signal_kind::demonitor;
        case sig::monitor_exit: return signal_kind::monitor_exit;
        case sig::group_leader: return signal_kind::group_leader;
        case sig::spawn_reply: return signal_kind::spawn_reply;
        default: return signal_kind::message;
    }
}
}  // namespace

void runtime_impl::send_signal(const term& to, sig kind, const term& from, term payload, term ref, std::uint64_t id,
                               const atom* name) {
    if (to.is_pid()) {
        if (!is_local(to)) {
            if (kind == sig::wakeup || kind == sig::info || kind == sig::kill_now) return;
            remote_signal s{to_remote_kind(kind), from, to, to.pid_node(), std::move(payload), std::move(ref), id};
            if (name && kind == sig::monitor) s.to = term(*name);
            route_remote(std::move(s));
            return;
        }
        order_after_staged();
        process* p = lookup(to);
        signal_node* n;
        if (kind == sig::message) {
            if (!p) return;  // messages to dead processes vanish
            n = new_message_node(std::move(payload));
        } else {
            control_node* c = new_control_node(kind);
            c->payload = std::move(payload);
            c->from = from;
            c->ref = std::move(ref);
            c->id = id;
            if (name) {
                c->name = name->index();
                c->has_name = true;
            }
            if (!p) {
                answer_dead(to, c, false);
                free_node(c);
                return;
            }
            n = c;
        }
        switch (p->push(n)) {
            case process::push_result::queued: break;
            case process::push_result::woke: make_runnable(p); break;
            case process::push_result::closed:
                if (n->kind != sig::message) answer_dead(to, static_cast<control_node*>(n), false);
                free_node(n);
                break;
        }
        p->release();
        return;
    }
    if (to.is_atom()) {
        auto target = whereis(to.as_atom());
        if (target) {
            atom nm = to.as_atom();
            send_signal(*target, kind, from, std::move(payload), std::move(ref), id,
                        kind == sig::monitor ? &nm : name);
            return;
        }
        if (kind == sig::monitor) {
            // Monitoring a name that is not registered: DOWN noproc at once.
            send_signal(from, sig::monitor_exit, to, term(atoms::noproc), std::move(ref));
        }
        return;
    }
    if (to.is_tuple(2) && to[0].is_atom() && to[1].is_atom()) {
        atom nm = to[0].as_atom();
        atom node = to[1].as_atom();
        if (node.index() == node_index.load(std::memory_order_relaxed)) {
            send_signal(to[0], kind, from, std::move(payload), std::move(ref), id, name);
            return;
        }
        signal_kind rk = kind == sig::message ? signal_kind::reg_send : to_remote_kind(kind);
        route_remote({rk, from, term(nm), node, std::move(payload), std::move(ref), id});
    }
}

void runtime_impl::answer_dead(const term& dead, control_node* n, bool /*by_name_atom*/) {
    switch (n->kind) {
        case sig::link: send_signal(n->from, sig::exit_linked, dead, term(atoms::noproc)); break;
        case sig::monitor: {
            // Echo the target as the watcher named it: the name atom for a monitor by name.
            term obj = n->has_name ? term(atom::from_index(n->name)) : dead;
            send_signal(n->from, sig::monitor_exit, obj, term(atoms::noproc), n->ref);
            break;
        }
        case sig::unlink: send_signal(n->from, sig::unlink_ack, dead, term(), term(), n->id); break;
        case sig::info: send_signal(n->from, sig::message, term(), tuple(n->ref, atoms::undefined)); break;
        default: break;
    }
}

void runtime_impl::deliver(remote_signal&& s) {
    switch (s.kind) {
        case signal_kind::message: send_signal(s.to, sig::message, s.from, std::move(s.payload)); break;
        case signal_kind::reg_send:
            if (s.to.is_atom()) {
                if (auto p = whereis(s.to.as_atom())) send_signal(*p, sig::message, s.from, std::move(s.payload));
            }
            break;
        case signal_kind::link: send_signal(s.to, sig::link, s.from, term()); break;
        case signal_kind::unlink: send_signal(s.to, sig::unlink, s.from, term(), term(), s.id); break;
        case signal_kind::unlink_ack: send_signal(s.to, sig::unlink_ack, s.from, term(), term(), s.id); break;
        case signal_kind::exit: send_signal(s.to, sig::exit_linked, s.from, std::move(s.payload)); break;
        case signal_kind::exit2: send_signal(s.to, sig::exit2, s.from, std::move(s.payload)); break;
        case signal_kind::monitor:
            if (s.to.is_atom()) {
                atom nm = s.to.as_atom();
                auto p = whereis(nm);
                if (p) send_signal(*p, sig::monitor, s.from, term(), std::move(s.ref), 0, &nm);
                else send_signal(s.from, sig::monitor_exit, s.to, term(atoms::noproc), std::move(s.ref));
            } else {
                send_signal(s.to, sig::monitor, s.from, term(), std::move(s.ref));
            }
            break;
        case signal_kind::demonitor: {
            term target = s.to;
            if (target.is_atom()) {
                auto p = whereis(target.as_atom());
                if (!p) break;
                target = *p;
            }
            send_signal(target, sig::demonitor, s.from, term(), std::move(s.ref));
            break;
        }
        case signal_kind::monitor_exit:
            send_signal(s.to, sig::monitor_exit, s.from, std::move(s.payload), std::move(s.ref));
            break;
        case signal_kind::group_leader: send_signal(s.to, sig::group_leader, s.from, term()); break;
        case signal_kind::spawn_reply:
            send_signal(s.to, sig::spawn_reply, s.from, term(), std::move(s.ref), s.id);
            break;
        case signal_kind::spawn_request: break;  // served by the node, never delivered here
    }
}

void runtime_impl::apply_exit(process* p, const term& from, term reason, bool linked) {
    if (!linked && reason.is_atom(atoms::kill)) {
        die(p, term(atoms::killed));
    } else if (p->trap_exit) {
        p->append_message(new_message_node(tuple(atoms::EXIT, from, std::move(reason))));
    } else if (reason.is_atom(atoms::normal)) {
        if (!linked && from == p->self) die(p, std::move(reason));
    } else {
        die(p, std::move(reason));
    }
}

void runtime_impl::handle_signals(process* p) {
    signal_node* n = p->take_all();
    while (n) {
        signal_node* next = n->next;
        if (p->dead) {
            // Already exiting: the rest is answered as if we were gone.
            if (n->kind != sig::message) answer_dead(p->self, static_cast<control_node*>(n), false);
            free_node(n);
        } else if (n->kind == sig::message) {
            p->append_message(n);
        } else {
            handle_control(p, static_cast<control_node*>(n));
            free_node(n);
        }
        n = next;
    }
}

// Everything but messages: kept out of line so that the message path stays small.
__attribute__((noinline)) void runtime_impl::handle_control(process* p, control_node* c) {
    switch (c->kind) {
        case sig::link: {
            auto& links = p->relations_().links;
            auto it = std::find_if(links.begin(), links.end(), [&](const link_rel& l) { return l.other == c->from; });
            if (it == links.end()) links.push_back({c->from, true, 0});
            break;
        }
        case sig::unlink: {
            if (p->rel) {
                auto& links = p->rel->links;
                auto it = std::find_if(links.begin(), links.end(),
                                       [&](const link_rel& l) { return l.other == c->from; });
                if (it != links.end() && it->active) links.erase(it);
            }
            send_signal(c->from, sig::unlink_ack, p->self, term(), term(), c->id);
            break;
        }
        case sig::unlink_ack: {
            if (p->rel) {
                auto& links = p->rel->links;
                auto it = std::find_if(links.begin(), links.end(),
                                       [&](const link_rel& l) { return l.other == c->from; });
                if (it != links.end() && !it->active && it->unlink_id == c->id) links.erase(it);
            }
            break;
        }
        case sig::exit_linked: {
            bool active = false;
            if (p->rel) {
                auto& links = p->rel->links;
                auto it = std::find_if(links.begin(), links.end(),
                                       [&](const link_rel& l) { return l.other == c->from; });
                if (it != links.end()) {
                    active = it->active;
                    links.erase(it);
                }
            }
            if (active) apply_exit(p, c->from, std::move(c->payload), true);
            break;
        }
        case sig::exit2: apply_exit(p, c->from, std::move(c->payload), false); break;
        case sig::monitor: p->relations_().in.push_back({c->ref, c->from, c->name, c->has_name}); break;
        case sig::demonitor:
            if (p->rel) {
                auto& in = p->rel->in;
                auto it = std::find_if(in.begin(), in.end(), [&](const monitor_in& m) { return m.ref == c->ref; });
                if (it != in.end()) in.erase(it);
            }
            break;
        case sig::monitor_exit:
            if (p->rel) {
                auto& out = p->rel->out;
                auto it =
                    std::find_if(out.begin(), out.end(), [&](const monitor_out& m) { return m.ref == c->ref; });
                if (it != out.end()) {
                    term obj = std::move(it->object);
                    out.erase(it);
                    p->append_message(new_message_node(
                        tuple(atoms::DOWN, std::move(c->ref), atoms::process, std::move(obj), std::move(c->payload))));
                }
            }
            break;
        case sig::group_leader: p->group_leader = c->from; break;
        case sig::spawn_reply: {
            // The requester's side of the link/monitor exists from the reply on, set up here
            // (not when the message is read) so that an exit right behind it is not lost.
            bool ok = c->from.is_pid();
            if (ok && (c->id & 2)) p->relations_().out.push_back({c->ref, c->from, c->from.pid_node(), c->from});
            if (ok && (c->id & 1)) {
                auto& links = p->relations_().links;
                auto it = std::find_if(links.begin(), links.end(), [&](const link_rel& l) { return l.other == c->from; });
                if (it == links.end()) links.push_back({c->from, true, 0});
            }
            static const atom a_spawn_reply("spawn_reply");
            p->append_message(new_message_node(tuple(a_spawn_reply, c->ref, ok ? atoms::ok : atoms::error, c->from)));
            break;
        }
        case sig::wakeup: break;
        case sig::kill_now: die(p, std::move(c->payload)); break;
        case sig::info: {
            std::vector<term> links, monitors, monitored_by;
            if (p->rel) {
                for (auto& l : p->rel->links)
                    if (l.active) links.push_back(l.other);
                for (auto& m : p->rel->out) monitors.push_back(tuple(atoms::process, m.object));
                for (auto& m : p->rel->in) monitored_by.push_back(m.watcher);
            }
            term name;
            {
                std::shared_lock l(reg_mutex_);
                if (p->name_plus1) name = term(atom::from_index(p->name_plus1 - 1));
            }
            std::uint8_t st = p->status.load(std::memory_order_relaxed);
            term info = tuple(name, static_cast<long long>(p->mb_len), make_list(std::move(links)),
                              make_list(std::move(monitors)), make_list(std::move(monitored_by)),
                              static_cast<long long>(st), static_cast<unsigned long long>(p->reductions),
                              p->trap_exit, p->group_leader);
            send_signal(c->from, sig::message, p->self, tuple(c->ref, std::move(info)));
            break;
        }
        case sig::message: break;
    }
}

void runtime_impl::finalize(process* p) {
    p->status.store(static_cast<std::uint8_t>(process_status::exiting), std::memory_order_relaxed);
    // Nothing can be delivered from now on: later senders see a dead process.
    signal_node* h = p->inbox.exchange(inbox_closed, std::memory_order_acq_rel);
    signal_node* rest = nullptr;
    if (h != inbox_waiting && h != inbox_closed) {
        while (h) {
            signal_node* next = h->next;
            h->next = rest;
            rest = h;
            h = next;
        }
    }
    cancel_receive_timer(p);
    if (p->root) {
        auto r = p->root;
        p->root = {};
        r.destroy();  // runs destructors of the body's locals, on this process's behalf
    }
    if (p->destroy_callable) {
        p->destroy_callable(p->callable);
        p->destroy_callable = nullptr;
    }
    drop_name(p);
    const term& reason = p->exit_reason;
    if (p->rel) {
        for (auto& l : p->rel->links)
            if (l.active) send_signal(l.other, sig::exit_linked, p->self, reason);
        for (auto& m : p->rel->in) {
            term from = m.by_name ? term(atom::from_index(m.name)) : p->self;
            send_signal(m.watcher, sig::monitor_exit, from, reason, m.ref);
        }
        for (auto& m : p->rel->out) send_signal(m.target, sig::demonitor, p->self, term(), m.ref);
        delete p->rel;
        p->rel = nullptr;
    }
    while (rest) {
        signal_node* next = rest->next;
        if (rest->kind != sig::message) answer_dead(p->self, static_cast<control_node*>(rest), false);
        free_node(rest);
        rest = next;
    }
    while (p->mb_head) {
        signal_node* next = p->mb_head->next;
        free_node(p->mb_head);
        p->mb_head = next;
    }
    p->mb_tail = &p->mb_head;
    p->mb_len = 0;
    destroy_process(p);
}

// ---------------------------------------------------------------------------------------------
// Registry

bool runtime_impl::register_name(atom name, process* p) {
    std::unique_lock l(reg_mutex_);
    if (p->name_plus1 || p->dead || p->inbox.load() == inbox_closed || names_.count(name)) return false;
    names_.emplace(name, p->self);
    names_generation_.fetch_add(1, std::memory_order_release);
    p->name_plus1 = name.index() + 1;
    return true;
}

bool runtime_impl::unregister_name(atom name) {
    std::unique_lock l(reg_mutex_);
    auto it = names_.find(name);
    if (it == names_.end()) return false;
    if (process* owner = lookup(it->second)) {
        owner->name_plus1 = 0;  // every access to name_plus1 holds reg_mutex_
        owner->release();
    }
    names_.erase(it);
    names_generation_.fetch_add(1, std::memory_order_release);
    return true;
}

void runtime_impl::drop_name(process* p) {
    if (p->name_plus1.load(std::memory_order_relaxed) == 0) return;
    std::unique_lock l(reg_mutex_);
    if (!p->name_plus1) return;
    auto it = names_.find(atom::from_index(p->name_plus1 - 1));
    if (it != names_.end() && it->second == p->self) {
        names_.erase(it);
        names_generation_.fetch_add(1, std::memory_order_release);
    }
    p->name_plus1 = 0;
}

std::uint64_t runtime_impl::next_instance() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// The last whereis answer of this thread (only pids that are immediates: nothing to release).
struct whereis_memo {
    std::uint64_t instance = 0, generation = 0;
    atom name;
    std::uintptr_t pid_word = 0;  // 0: not registered
};
thread_local whereis_memo last_whereis;
}  // namespace

std::optional<pid> runtime_impl::whereis(atom name) const {
    whereis_memo& m = last_whereis;
    std::uint64_t gen = names_generation_.load(std::memory_order_acquire);
    if (m.instance == instance_ && m.generation == gen && m.name == name) {
        if (m.pid_word == 0) return std::nullopt;
        return term::from_raw(m.pid_word).as_pid();
    }
    std::shared_lock l(reg_mutex_);
    auto it = names_.find(name);
    std::optional<pid> found;
    if (it != names_.end()) found = it->second.as_pid();
    if (!found || !it->second.is_boxed())
        m = {instance_, names_generation_.load(std::memory_order_relaxed), name, found ? it->second.raw() : 0};
    return found;
}

std::vector<atom> runtime_impl::registered() const {
    std::shared_lock l(reg_mutex_);
    std::vector<atom> out;
    out.reserve(names_.size());
    for (auto& [k, v] : names_) out.push_back(k);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Time and timers

std::int64_t runtime_impl::now_ns() const noexcept {
    if (deterministic) return virtual_now;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
}

void runtime_impl::drop_timer(timer_entry* e) noexcept {
    if (e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        if (e->target) e->target->release();
        e->~timer_entry();
        pool_free(e, sizeof(timer_entry));
    }
}

void runtime_impl::arm_receive_timer(process* p, std::int64_t deadline) {
    worker* w = tls_worker;
    if (!w || w->rt != this) return;  // blocking processes time out by themselves
    void* m = pool_alloc(sizeof(timer_entry));
    auto* e = new (m) timer_entry();
    e->deadline = deadline;
    e->kind = timer_kind::receive_timeout;
    e->owner = w->index;
    e->refs.store(2);  // the heap and the process
    p->retain();
    e->target = p;
    p->timer = e;
    w->timers.add(e);
}

void runtime_impl::cancel_receive_timer(process* p) noexcept {
    timer_entry* e = p->timer;
    if (!e) return;
    p->timer = nullptr;
    std::uint8_t expected = timer_armed;
    if (e->state.compare_exchange_strong(expected, timer_cancelled)) {
        worker* w = tls_worker;
        if (w && w->rt == this && w->index == e->owner) {
            w->timers.remove(e);
            drop_timer(e);  // the heap's reference
        }
        // Otherwise the owner drops it when it comes due.
    }
    drop_timer(e);  // the process's reference
}

void runtime_impl::fire_timers(worker& w, std::int64_t now) {
    if (w.index == 0 && pending_count_.load(std::memory_order_relaxed)) {
        std::lock_guard l(timers_mutex_);
        for (timer_entry* e : pending_timers_) w.timers.add(e);
        pending_timers_.clear();
        pending_count_.store(0, std::memory_order_relaxed);
    }
    while (timer_entry* t = w.timers.top()) {
        if (t->deadline > now) break;
        w.timers.pop();
        std::uint8_t expected = timer_armed;
        if (!t->state.compare_exchange_strong(expected, timer_fired)) {
            drop_timer(t);
            continue;
        }
        if (t->kind == timer_kind::receive_timeout) {
            process* p = t->target;
            control_node* n = new_control_node(sig::wakeup);
            auto r = p->push(n);
            if (r == process::push_result::closed) free_node(n);
            else if (r == process::push_result::woke) make_runnable(p);
        } else {
            {
                std::lock_guard l(timers_mutex_);
                timer_refs_.erase(t->ref);
            }
            send_signal(t->dest, sig::message, term(), std::move(t->message));
        }
        drop_timer(t);
    }
}

reference runtime_impl::send_after(std::int64_t delay_ns, const term& dest, term msg) {
    reference ref = make_ref();
    worker* w = tls_worker;
    bool foreign = !w || w->rt != this;
    if (foreign) w = workers[0].get();
    void* m = pool_alloc(sizeof(timer_entry));
    auto* e = new (m) timer_entry();
    e->deadline = now_ns() + (delay_ns < 0 ? 0 : delay_ns);
    e->kind = timer_kind::send_after;
    e->owner = w->index;
    e->dest = dest;
    e->message = std::move(msg);
    e->ref = ref;
    {
        std::lock_guard l(timers_mutex_);
        timer_refs_.emplace(ref, e);
        if (foreign && !deterministic) {
            // Only the owner touches its heap: hand the timer over and wake the workers.
            pending_timers_.push_back(e);
            pending_count_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    if (foreign && !deterministic) {
        wake_worker(*workers[0]);
    } else {
        w->timers.add(e);
    }
    return ref;
}

std::optional<std::int64_t> runtime_impl::cancel_timer(const term& ref) {
    std::lock_guard l(timers_mutex_);
    auto it = timer_refs_.find(ref);
    if (it == timer_refs_.end()) return std::nullopt;
    timer_entry* e = it->second;
    std::uint8_t expected = timer_armed;
    if (!e->state.compare_exchange_strong(expected, timer_cancelled)) return std::nullopt;
    timer_refs_.erase(it);
    std::int64_t left = e->deadline - now_ns();
    worker* w = tls_worker;
    if (w && w->rt == this && w->index == e->owner) {
        w->timers.remove(e);
        drop_timer(e);
    }
    return left > 0 ? left : 0;
}

reference runtime_impl::make_ref() {
    std::uint64_t n = ref_counter_.fetch_add(1, std::memory_order_relaxed) + 1;
    // Three words like OTP's: the first keeps 18 significant bits (legacy peers).
    std::uint32_t words[3] = {static_cast<std::uint32_t>(n & 0x3FFFF), static_cast<std::uint32_t>(n >> 18),
                              static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(this) >> 4)};
    return reference::make(atom::from_index(node_index.load(std::memory_order_relaxed)),
                           creation.load(std::memory_order_relaxed), words);
}

}  // namespace nodus::detail

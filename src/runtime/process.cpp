// The process BIFs (free functions of the current process), runtime and scoped_process.
#include <algorithm>
#include <stdexcept>

#include "nodus/term/text.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus {

using namespace detail;

namespace {

const atom a_cpp_exception{"cpp_exception"};
const atom a_nocatch{"nocatch"};

process& me() { return current(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Exceptions

const char* erlang_exception::what() const noexcept {
    if (what_.empty()) {
        try {
            const char* cls = class_ == exception_class::error ? "error" : class_ == exception_class::exit ? "exit" : "throw";
            what_ = std::string(cls) + ":" + to_text(reason_);
        } catch (...) {
            return "erlang exception";
        }
    }
    return what_.c_str();
}

term erlang_exception::exit_reason() const {
    switch (class_) {
        case exception_class::exit: return reason_;
        case exception_class::error: return tuple(reason_, term());
        case exception_class::throw_: return tuple(tuple(a_nocatch, reason_), term());
    }
    return reason_;
}

term exit_reason_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const erlang_exception& x) {
        return x.exit_reason();
    } catch (const std::exception& x) {
        return tuple(tuple(a_cpp_exception, binary(std::string_view(x.what()))), term());
    } catch (...) {
        return tuple(tuple(a_cpp_exception, binary(std::string_view("unknown exception"))), term());
    }
}

namespace detail {

process& current() {
    if (!tls_current) throw std::logic_error("nodus: not inside a process");
    return *tls_current;
}
process* current_or_null() noexcept { return tls_current; }
runtime_impl* current_runtime() { return current().rt; }

bool slice_left() noexcept {
    process* p = tls_current;
    return !p || p->blocking || p->budget > 0;
}

void yield_suspend(std::coroutine_handle<> h) {
    process& p = current();
    p.resume_point = h;
    p.yield_requested = true;
}

bool receive_ready(receive_state& st) {
    process& p = current();
    runtime_impl* rt = p.rt;
    if (!st.started) {
        st.started = true;
        st.cursor = &p.mb_head;
        st.deadline_ns = 0;  // read the clock only if the first scan finds nothing
    }
    rt->handle_signals(&p);
    if (p.dead) return false;
    auto** link = static_cast<signal_node**>(st.cursor);
    while (signal_node* n = *link) {
        --p.budget;
        ++p.reductions;
        int c = st.m.fn(st.m.ctx, n->payload);
        if (c >= 0) {
            *link = n->next;
            if (p.mb_tail == &n->next) p.mb_tail = link;
            --p.mb_len;
            st.clause = c;
            st.message = std::move(n->payload);
            free_node(n);
            rt->cancel_receive_timer(&p);
            return true;
        }
        link = &n->next;
    }
    st.cursor = link;
    bool expired = st.timeout_ns == 0;
    if (st.timeout_ns > 0) {
        if (st.deadline_ns == 0) st.deadline_ns = rt->now_ns() + st.timeout_ns;  // the wait starts now
        else expired = rt->now_ns() >= st.deadline_ns;
    }
    if (expired) {
        st.timed_out = true;
        rt->cancel_receive_timer(&p);
        return true;
    }
    return false;
}

void receive_suspend(receive_state& st, std::coroutine_handle<> h) {
    process& p = current();
    p.resume_point = h;
    p.waiting = &st;
    // Decided already but out of time slice: run again later, then resume at once.
    if (st.clause >= 0 || st.timed_out) p.yield_requested = true;
}

std::pair<pid, reference> spawn_process(runtime_impl* rt, spawn_request req) {
    rt->order_after_staged();
    process* parent = tls_current;
    if (parent && parent->rt != rt) parent = nullptr;
    process* p = rt->create_process();
    if (!p) {
        req.destroy(req.callable);
        throw error_exception(term(atoms::system_limit));
    }
    p->callable = req.callable;
    p->destroy_callable = req.destroy;
    try {
        task<> t = req.entry(req.callable);
        p->root = t.release();
    } catch (...) {
        p->dead = true;
        p->exit_reason = term(atoms::system_limit);
        rt->finalize(p);
        throw;
    }
    p->resume_point = p->root;
    reference mref;
    if (req.remote_parent.is_pid()) {
        p->group_leader = req.group_leader;
        if (req.link) p->relations_().links.push_back({req.remote_parent, true, 0});
        if (req.monitor) p->relations_().in.push_back({req.monitor_ref, req.remote_parent, 0, false});
    } else if (parent) {
        p->group_leader = parent->group_leader;
        if (req.link) {
            parent->relations_().links.push_back({p->self, true, 0});
            p->relations_().links.push_back({parent->self, true, 0});
        }
        if (req.monitor) {
            mref = rt->make_ref();
            parent->relations_().out.push_back({mref, p->self, p->self.as_pid().node(), p->self});
            p->relations_().in.push_back({mref, parent->self, 0, false});
        }
        parent->budget -= 10;
    }
    pid result = p->self.as_pid();
    if (req.before_start) req.before_start(result);
    rt->enqueue_new(p);  // from here on p may run and exit at any time
    return {result, mref};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Process BIFs

pid self() { return me().self.as_pid(); }
const term& self_term() { return me().self; }

namespace {

const term no_sender;

void send_from(process* p, runtime_impl* rt, const term& to, term message) {
    if (to.is_atom() && !rt->whereis(to.as_atom())) throw error_exception(term(atoms::badarg));
    rt->send_signal(to, sig::message, p ? p->self : no_sender, std::move(message));
}

void link_from(process& p, const pid& other) {
    runtime_impl* rt = p.rt;
    const term& o = other.as_term();
    if (o == p.self) return;
    auto& links = p.relations_().links;
    auto it = std::find_if(links.begin(), links.end(), [&](const link_rel& l) { return l.other == o; });
    if (it != links.end() && it->active) return;
    if (rt->is_local(o)) {
        process* q = rt->lookup(o);
        if (!q) {
            if (it != links.end()) links.erase(it);
            if (p.trap_exit) {
                p.append_message(new_message_node(tuple(atoms::EXIT, o, atoms::noproc)));
                return;
            }
            throw error_exception(term(atoms::noproc));
        }
        q->release();
    }
    if (it != links.end()) {
        it->active = true;
        it->unlink_id = 0;
    } else {
        links.push_back({o, true, 0});
    }
    rt->send_signal(o, sig::link, p.self, term());
}

std::atomic<std::uint64_t> unlink_ids{0};

void unlink_from(process& p, const pid& other) {
    if (!p.rel) return;
    auto& links = p.rel->links;
    const term& o = other.as_term();
    auto it = std::find_if(links.begin(), links.end(), [&](const link_rel& l) { return l.other == o; });
    if (it == links.end() || !it->active) return;
    std::uint64_t id = unlink_ids.fetch_add(1, std::memory_order_relaxed) + 1;
    it->active = false;
    it->unlink_id = id;
    p.rt->send_signal(o, sig::unlink, p.self, term(), term(), id);
}

reference monitor_from(process& p, const term& target) {
    runtime_impl* rt = p.rt;
    reference ref = rt->make_ref();
    atom local_node = atom::from_index(rt->node_index.load());
    term object, to;
    atom node = local_node;
    const atom* name = nullptr;
    atom nm;
    if (target.is_pid()) {
        object = target;
        to = target;
        node = target.as_pid().node();
    } else {
        if (target.is_atom()) {
            nm = target.as_atom();
        } else if (target.is_tuple(2) && target[0].is_atom() && target[1].is_atom()) {
            nm = target[0].as_atom();
            node = target[1].as_atom();
        } else {
            throw error_exception(term(atoms::badarg));
        }
        object = tuple(nm, node);
        name = &nm;
        if (node == local_node) {
            auto found = rt->whereis(nm);
            if (!found) {
                p.append_message(new_message_node(tuple(atoms::DOWN, ref, atoms::process, object, atoms::noproc)));
                return ref;
            }
            to = *found;
        } else {
            to = object;  // {Name, Node}: the name travels to the other node
        }
    }
    p.relations_().out.push_back({ref, to, node, object});
    if (to.is_tuple()) rt->send_signal(to, sig::monitor, p.self, term(), ref);
    else rt->send_signal(to, sig::monitor, p.self, term(), ref, 0, name);
    return ref;
}

bool demonitor_from(process& p, const reference& ref, bool flush_down) {
    // A DOWN already on its way means the monitor has fired: take it in first.
    p.rt->handle_signals(&p);
    bool active = false;
    if (p.rel) {
        auto& out = p.rel->out;
        auto it = std::find_if(out.begin(), out.end(), [&](const monitor_out& m) { return m.ref == ref.as_term(); });
        if (it != out.end()) {
            active = true;
            term target = std::move(it->target);
            out.erase(it);
            p.rt->send_signal(target, sig::demonitor, p.self, term(), ref);
        }
    }
    if (flush_down) {
        signal_node** link = &p.mb_head;
        while (signal_node* n = *link) {
            const term& m = n->payload;
            if (m.is_tuple(5) && m[0].is_atom(atoms::DOWN) && m[1] == ref.as_term()) {
                *link = n->next;
                if (p.mb_tail == &n->next) p.mb_tail = link;
                --p.mb_len;
                free_node(n);
                continue;
            }
            link = &n->next;
        }
    }
    return active;
}

std::vector<term> flush_from(process& p) {
    p.rt->handle_signals(&p);
    std::vector<term> out;
    out.reserve(p.mb_len);
    while (signal_node* n = p.mb_head) {
        p.mb_head = n->next;
        out.push_back(std::move(n->payload));
        free_node(n);
    }
    p.mb_tail = &p.mb_head;
    p.mb_len = 0;
    return out;
}

}  // namespace

namespace {
// Set by the router (detail::report_busy) during the route() of a send on this thread.
thread_local bool busy_reported = false;
thread_local atom busy_node_reported;
const atom a_drained{"$nodus_drained"};
}  // namespace

void detail::report_busy(atom node) noexcept {
    busy_reported = true;
    busy_node_reported = node;
}

bool detail::drained_match::operator()(const term& m) const {
    return m.is_tuple(2) && m[0].is_atom(a_drained) && m[1] == ref;
}

bool detail::wait_drained(atom node, const term& ref) {
    process& p = me();
    remote_router* r = p.rt->router;
    return r && r->notify_when_drained(node, p.self, ref);
}

send_result send(const term& to, term message) {
    process& p = me();
    --p.budget;
    ++p.reductions;
    busy_reported = false;
    send_from(&p, p.rt, to, std::move(message));
    if (busy_reported) {
        busy_reported = false;
        return send_result(busy_node_reported);
    }
    return {};
}

bool send_result::await_suspend(std::coroutine_handle<> h) {
    if (busy_) {
        term ref = make_ref().as_term();
        if (detail::wait_drained(busy_node_, ref)) {
            wait_.emplace(detail::drained_match{ref});
            if (wait_->await_ready()) return false;  // drained already
            wait_->await_suspend(h);
            return true;
        }
        if (detail::slice_left()) return false;
    }
    detail::yield_suspend(h);
    return true;
}

std::vector<term> flush() { return flush_from(me()); }

std::size_t message_queue_len() {
    process& p = me();
    p.rt->handle_signals(&p);
    return p.mb_len;
}

void link(const pid& other) { link_from(me(), other); }
void unlink(const pid& other) { unlink_from(me(), other); }

bool trap_exit(bool on) {
    process& p = me();
    return std::exchange(p.trap_exit, on);
}

void exit(const pid& target, term reason) {
    process& p = me();
    p.rt->send_signal(target, sig::exit2, p.self, std::move(reason));
}

void exit(term reason) { throw exit_exception(std::move(reason)); }
void error(term reason) { throw error_exception(std::move(reason)); }
void throw_term(term value) { throw throw_exception(std::move(value)); }

reference monitor(const term& target) { return monitor_from(me(), target); }
bool demonitor(const reference& ref, bool flush_down) { return demonitor_from(me(), ref, flush_down); }

bool register_name(atom name, const pid& p) {
    runtime_impl* rt = current_runtime();
    process* q = rt->lookup(p);
    if (!q) return false;
    bool ok = rt->register_name(name, q);
    q->release();
    return ok;
}
bool unregister(atom name) { return current_runtime()->unregister_name(name); }
std::optional<pid> whereis(atom name) { return current_runtime()->whereis(name); }
std::vector<atom> registered() { return current_runtime()->registered(); }

pid group_leader() {
    process& p = me();
    if (p.group_leader.is_pid()) return p.group_leader.as_pid();
    // No leader set or inherited: the node's `user` I/O server, as for OTP's processes.
    static const atom user("user");
    if (auto u = p.rt->whereis(user)) return *u;
    return p.self.as_pid();
}

void group_leader(const pid& leader, const pid& target) {
    process& p = me();
    if (target.as_term() == p.self) {
        p.group_leader = leader;
        return;
    }
    p.rt->send_signal(target, sig::group_leader, leader, term());
}

std::chrono::nanoseconds monotonic_time() { return std::chrono::nanoseconds(current_runtime()->now_ns()); }

reference send_after(std::chrono::milliseconds delay, const term& dest, term message) {
    return current_runtime()->send_after(std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count(), dest,
                                         std::move(message));
}

std::optional<std::chrono::milliseconds> cancel_timer(const reference& timer) {
    auto left = current_runtime()->cancel_timer(timer);
    if (!left) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*left));
}

reference make_ref() { return current_runtime()->make_ref(); }

bool is_process_alive(const pid& p) {
    process* q = current_runtime()->lookup(p);
    if (!q) return false;
    bool alive = q->inbox.load() != inbox_closed;
    q->release();
    return alive;
}

namespace {
process_information info_from_term(const pid& p, const term& info) {
    process_information out;
    out.self = p;
    if (info[0].is_atom()) out.registered_name = info[0].as_atom();
    out.message_queue_len = static_cast<std::size_t>(*info[1].to_int64());
    out.links = *info[2].list_elements();
    out.monitors = *info[3].list_elements();
    out.monitored_by = *info[4].list_elements();
    out.status = static_cast<process_status>(*info[5].to_int64());
    out.reductions = *info[6].to_uint64();
    out.trap_exit = info[7].is_atom(atoms::true_);
    out.group_leader = info[8];
    return out;
}
}  // namespace

task<std::optional<process_information>> process_info(const pid& p) {
    process& self_p = me();
    runtime_impl* rt = self_p.rt;
    if (!rt->is_local(p)) throw error_exception(term(atoms::badarg));
    term ref = rt->make_ref();
    rt->send_signal(p, sig::info, self_p.self, term(), ref);
    // Named first: GCC 12 destroys a lambda written inside a co_await operand twice (ADR 0002).
    auto is_reply = [ref](const term& t) { return t.is_tuple(2) && t[0] == ref; };
    auto r = co_await receive(is_reply);
    const term& info = (*r)[1];
    if (!info.is_tuple(9)) co_return std::nullopt;
    co_return info_from_term(p, info);
}

// ---------------------------------------------------------------------------------------------
// runtime

runtime::runtime(runtime_options opts) : impl_(std::make_unique<runtime_impl>(opts)) { impl_->start(); }
runtime::~runtime() { impl_->shutdown(); }

void runtime::send(const term& to, term message) {
    impl_->send_signal(to, sig::message, term(), std::move(message));
}
void runtime::exit(const pid& target, term reason) {
    impl_->send_signal(target, sig::exit2, term(atoms::undefined), std::move(reason));
}
std::optional<pid> runtime::whereis(atom name) const { return impl_->whereis(name); }
export_table& runtime::exports() noexcept { return impl_->exports; }
export_table& exports() { return current_runtime()->exports; }
std::vector<atom> runtime::registered() const { return impl_->registered(); }
bool runtime::register_name(atom name, const pid& p) {
    process* q = impl_->lookup(p);
    if (!q) return false;
    bool ok = impl_->register_name(name, q);
    q->release();
    return ok;
}
bool runtime::is_process_alive(const pid& p) const {
    process* q = impl_->lookup(p);
    if (!q) return false;
    bool alive = q->inbox.load() != inbox_closed;
    q->release();
    return alive;
}
std::size_t runtime::process_count() const noexcept { return impl_->live(); }
atom runtime::node() const noexcept { return atom::from_index(impl_->node_index.load()); }
std::uint32_t runtime::creation() const noexcept { return impl_->creation.load(); }
std::chrono::nanoseconds runtime::now() const noexcept { return std::chrono::nanoseconds(impl_->now_ns()); }
reference runtime::make_ref() { return impl_->make_ref(); }
std::size_t runtime::run(std::chrono::nanoseconds limit) {
    if (!impl_->deterministic) throw std::logic_error("nodus: runtime::run() needs deterministic mode");
    return impl_->run_deterministic(limit == std::chrono::nanoseconds::max() ? INT64_MAX : limit.count());
}
void runtime::wait_idle() { impl_->wait_idle(); }
void runtime::set_remote_router(remote_router* r) noexcept { impl_->router = r; }
void runtime::set_context(void* ctx) noexcept { impl_->context = ctx; }
void* runtime::context() const noexcept { return impl_->context; }
unsigned runtime::worker_count() const noexcept { return static_cast<unsigned>(impl_->workers.size()); }
int runtime::current_worker() const noexcept {
    worker* w = tls_worker;
    return w && w->rt == impl_.get() ? static_cast<int>(w->index) : -1;
}
bool runtime::in_process() const noexcept {
    worker* w = tls_worker;
    return w && w->rt == impl_.get() && tls_current && tls_current->rt == impl_.get();
}
bool runtime::defer_to_slice_end(slice_end_hook& hook) {
    if (!in_process()) return false;
    tls_worker->slice_hooks.push_back(&hook);
    return true;
}
bool runtime::worker_has_runnable() noexcept {
    worker* w = tls_worker;
    return w && (w->next || w->qlen.load(std::memory_order_relaxed) > 0);
}
void runtime::deliver(remote_signal&& s) { impl_->deliver(std::move(s)); }
void runtime::set_node(atom node, std::uint32_t creation) {
    impl_->node_slot.store(local_node_slot(node, creation));
    impl_->node_index.store(node.index());
    impl_->creation.store(creation);
}

// ---------------------------------------------------------------------------------------------
// scoped_process

namespace {

// Runs f with the scoped process as the thread's current process.
template <class F>
auto as_current(process* p, F&& f) {
    process* saved = tls_current;
    tls_current = p;
    struct restore {
        process* s;
        ~restore() { tls_current = s; }
    } r{saved};
    return f();
}

void finish_blocking(process* p) {
    if (p->dead && p->inbox.load() != inbox_closed) {
        p->retain();  // keep the block while finalize drops the table's reference
        as_current(p, [&] { p->rt->finalize(p); });
        p->release();
    }
}

}  // namespace

scoped_process::scoped_process(runtime& rt) : rt_(rt) {
    proc_ = rt.impl()->create_process();
    if (!proc_) throw error_exception(term(atoms::system_limit));
    rt.impl()->mark_blocking(proc_);
    proc_->waiter = new blocking_waiter();
    proc_->retain();  // ours, released in the destructor
}

scoped_process::~scoped_process() {
    if (proc_->inbox.load() != inbox_closed) {
        rt_.impl()->die(proc_, term(atoms::normal));
        finish_blocking(proc_);
    }
    delete proc_->waiter;
    proc_->waiter = nullptr;
    proc_->release();
}

pid scoped_process::self() const { return proc_->self.as_pid(); }
bool scoped_process::alive() const { return proc_->inbox.load() != inbox_closed && !proc_->dead; }

void scoped_process::send(const term& to, term message) {
    as_current(proc_, [&] { send_from(proc_, proc_->rt, to, std::move(message)); });
}

std::optional<term> scoped_process::receive(std::chrono::nanoseconds timeout) {
    return receive_if([](const term&) { return true; }, timeout);
}

std::optional<term> scoped_process::receive_if(const std::function<bool(const term&)>& pred,
                                               std::chrono::nanoseconds timeout) {
    runtime_impl* rt = proc_->rt;
    auto deadline = std::chrono::steady_clock::now() + (timeout.count() < 0 ? std::chrono::hours(24 * 365) : timeout);
    signal_node** cursor = &proc_->mb_head;
    for (;;) {
        as_current(proc_, [&] { rt->handle_signals(proc_); });
        if (proc_->dead) {
            finish_blocking(proc_);
            return std::nullopt;
        }
        if (proc_->inbox.load() == inbox_closed) return std::nullopt;
        while (signal_node* n = *cursor) {
            if (pred(n->payload)) {
                *cursor = n->next;
                if (proc_->mb_tail == &n->next) proc_->mb_tail = cursor;
                --proc_->mb_len;
                term t = std::move(n->payload);
                free_node(n);
                return t;
            }
            cursor = &n->next;
        }
        if (rt->deterministic) {
            // Nobody else runs the scheduler: run it until something arrives or all is idle.
            std::int64_t limit = timeout.count() < 0 ? INT64_MAX : timeout.count();
            std::size_t runs = rt->run_deterministic(limit);
            bool got = proc_->inbox.load() != nullptr && proc_->inbox.load() != inbox_waiting;
            if (runs == 0 && !got) return std::nullopt;
            continue;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        blocking_waiter& w = *proc_->waiter;
        {
            std::unique_lock l(w.mutex);
            w.woken = false;
        }
        if (!proc_->try_park()) continue;
        {
            std::unique_lock l(w.mutex);
            w.cv.wait_until(l, deadline, [&] { return w.woken; });
        }
        // Unpark if nothing came (a push replaces WAITING itself).
        signal_node* expected = inbox_waiting;
        proc_->inbox.compare_exchange_strong(expected, nullptr);
    }
}

std::vector<term> scoped_process::flush() {
    return as_current(proc_, [&] { return flush_from(*proc_); });
}
void scoped_process::link(const pid& other) {
    as_current(proc_, [&] { link_from(*proc_, other); });
}
void scoped_process::unlink(const pid& other) {
    as_current(proc_, [&] { unlink_from(*proc_, other); });
}
bool scoped_process::trap_exit(bool on) { return std::exchange(proc_->trap_exit, on); }
reference scoped_process::monitor(const term& target) {
    return as_current(proc_, [&] { return monitor_from(*proc_, target); });
}
bool scoped_process::demonitor(const reference& ref, bool flush_down) {
    return as_current(proc_, [&] { return demonitor_from(*proc_, ref, flush_down); });
}
bool scoped_process::register_name(atom name) { return proc_->rt->register_name(name, proc_); }

}  // namespace nodus

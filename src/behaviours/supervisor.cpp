// supervisor (nodus/behaviours/supervisor.hpp): a gen_server whose state is its children, with
// the requests, restart rules and shutdown protocol of OTP 25's supervisor.erl.
#include "nodus/behaviours/supervisor.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "nodus/node/net.hpp"
#include "nodus/runtime/errors.hpp"

namespace nodus::supervisor {

namespace {

using namespace nodus::literals;

const atom a_which_children{"which_children"};
const atom a_count_children{"count_children"};
const atom a_start_child{"start_child"};
const atom a_terminate_child{"terminate_child"};
const atom a_restart_child{"restart_child"};
const atom a_delete_child{"delete_child"};
const atom a_try_again_restart{"try_again_restart"};
const atom a_restarting{"restarting"};
const atom a_running{"running"};
const atom a_not_found{"not_found"};
const atom a_already_present{"already_present"};
const atom a_already_started{"already_started"};
const atom a_simple_one_for_one{"simple_one_for_one"};
const atom a_shutdown{"shutdown"};
const atom a_brutal_kill{"brutal_kill"};
const atom a_failed_to_start_child{"failed_to_start_child"};
const atom a_bad_start_spec{"bad_start_spec"};
const atom a_start_spec{"start_spec"};
const atom a_duplicate_child_name{"duplicate_child_name"};
const atom a_ignore{"ignore"};
const atom a_worker{"worker"};
const atom a_supervisor{"supervisor"};
const atom a_specs{"specs"};
const atom a_active{"active"};
const atom a_supervisors{"supervisors"};
const atom a_workers{"workers"};
const atom a_spec_key{"$nodus_child_spec"};
const atom a_invalid_child_spec{"invalid_child_spec"};

using gen_server::action;
using std::chrono::milliseconds;

// Child specs given to start_child on this node wait here for the supervisor to take them
// (a C++ start function cannot be put into a message).
struct spec_stash {
    std::mutex mutex;
    std::unordered_map<std::uint64_t, child_spec> specs;
    std::atomic<std::uint64_t> next{1};
};
spec_stash& stash() {
    static spec_stash s;
    return s;
}
std::optional<child_spec> take_spec(std::uint64_t key) {
    auto& s = stash();
    std::lock_guard l(s.mutex);
    auto it = s.specs.find(key);
    if (it == s.specs.end()) return std::nullopt;
    child_spec c = std::move(it->second);
    s.specs.erase(it);
    return c;
}
struct stash_guard {
    std::uint64_t key;
    ~stash_guard() { (void)take_spec(key); }
};

bool is_shutdown_reason(const term& r) {
    return r.is_atom(atoms::normal) || r.is_atom(a_shutdown) || (r.is_tuple(2) && r[0].is_atom(a_shutdown));
}

term type_term(child_type t) {
    return term(t == child_type::worker ? a_worker : a_supervisor);
}

// Erlang's {ok, Pid} | {ok, undefined} | {error, R} for a start result.
term start_reply(const start_result& r) {
    if (r) return tuple(atoms::ok, r->as_term());
    if (r.error().is_atom(a_ignore)) return tuple(atoms::ok, atoms::undefined);
    return tuple(atoms::error, r.error());
}
start_result from_start_reply(const term& t) {
    if (t.is_tuple(2) && t[0].is_atom(atoms::ok) && t[1].is_pid()) return t[1].as_pid();
    if (t.is_tuple(2) && t[0].is_atom(atoms::ok)) return unexpected(term(a_ignore));
    if (t.is_tuple(2) && t[0].is_atom(atoms::error)) return unexpected(t[1]);
    return unexpected(t);
}

// Runs a child's start function in the supervisor (do_start_child_i).
task<start_result> run_start(child_spec spec, std::vector<term> extra) {
    start_function fn = spec.start;
    if (!fn) co_return unexpected(tuple(a_invalid_child_spec, spec.id));
    std::vector<term> args = spec.args;
    for (auto& e : extra)
        args.push_back(std::move(e));
    start_result r = unexpected(term(atoms::undefined));
    std::exception_ptr err;
    try {
        r = co_await fn(std::move(args));
    } catch (...) {
        err = std::current_exception();
    }
    if (err) co_return unexpected(tuple(atoms::EXIT, exit_reason_of(err)));
    co_return r;
}

// unlink_flush: after the DOWN, the EXIT of the same process (if it came) goes too.
task<> unlink_flush(term p) {
    unlink(p.as_pid());
    auto is_exit = [p](const term& t) { return t.is_tuple(3) && t[0].is_atom(atoms::EXIT) && t[1] == p; };
    (void)co_await receive(is_exit).after(milliseconds(0));
}

// supervisor:shutdown/1: monitor, exit(Child, shutdown) (or kill), wait, kill after the timeout.
task<> shutdown(term p, shutdown_spec how) {
    pid target = p.as_pid();
    reference mon = monitor(p);
    term mon_t = mon;
    auto is_down = [mon_t](const term& t) {
        return t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mon_t;
    };
    received d;
    if (how.is_brutal_kill()) {
        nodus::exit(target, term(atoms::kill));
        d = co_await receive(is_down);
    } else {
        nodus::exit(target, term(a_shutdown));
        if (how.is_infinity())
            d = co_await receive(is_down);
        else
            d = co_await receive(is_down).after(how.timeout());
        if (!d) {
            nodus::exit(target, term(atoms::kill));
            d = co_await receive(is_down);
        }
    }
    co_await unlink_flush(p);
}

bool is_local(const term& p) {
    return p.pid_node() == erlang::node();
}

class sup_server : public gen_server::server {
public:
    sup_server(gen_server::server_name name, flags f, std::vector<child_spec> specs)
        : name_(std::move(name)), flags_(f), specs_(std::move(specs)) {}

    task<action> init() override;
    task<action> handle_call(term request, gen_server::from caller) override;
    task<action> handle_cast(term request) override;
    task<action> handle_info(term message) override;
    task<> terminate(term reason) override;
    term format_status() const override;

private:
    struct child {
        child_spec spec;
        term pid = term(atoms::undefined);  // a pid, or undefined
        bool restarting = false;
    };
    struct dyn_child {
        term pid;
        std::vector<term> args;
        bool restarting = false;
    };

    bool simple() const { return flags_.strategy == strategy::simple_one_for_one; }
    int find(const term& id_or_pid) const {
        for (std::size_t i = 0; i < children_.size(); ++i)
            if (children_[i].spec.id == id_or_pid || children_[i].pid == id_or_pid) return int(i);
        return -1;
    }
    int find_dyn(const term& p) const {
        for (std::size_t i = 0; i < dyn_.size(); ++i)
            if (dyn_[i].pid == p) return int(i);
        return -1;
    }
    // A child that ended and is not restarted: a temporary one is forgotten, others keep
    // their spec (del_child).
    void del_child(std::size_t i) {
        if (children_[i].spec.restart == restart_type::temporary) {
            children_.erase(children_.begin() + std::ptrdiff_t(i));
        } else {
            children_[i].pid = term(atoms::undefined);
            children_[i].restarting = false;
        }
    }
    bool add_restart();
    task<> terminate_range(std::size_t from, std::size_t to, std::size_t skip);
    task<std::optional<std::size_t>> start_range(std::size_t from);
    task<bool> restart(std::size_t i);
    task<bool> restart_dyn(std::size_t i);
    task<> terminate_dynamic();
    task<term> do_start_child(child_spec spec);

    gen_server::server_name name_;
    flags flags_;
    std::vector<child_spec> specs_;  // as given to init
    std::vector<child> children_;    // in start order
    child_spec dyn_spec_;
    std::vector<dyn_child> dyn_;         // in start order
    std::deque<std::int64_t> restarts_;  // seconds, newest first
};

bool sup_server::add_restart() {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(monotonic_time()).count();
    auto threshold = now - flags_.period.count();
    while (!restarts_.empty() && restarts_.back() < threshold)
        restarts_.pop_back();
    restarts_.push_front(now);
    return restarts_.size() <= std::size_t(std::max(flags_.intensity, 0));
}

task<action> sup_server::init() {
    trap_exit(true);
    if (simple()) {
        if (specs_.size() != 1)
            co_return gen_server::stop_with(tuple(a_bad_start_spec, std::int64_t(specs_.size())));
        dyn_spec_ = specs_[0];
        co_return gen_server::ok();
    }
    for (std::size_t i = 0; i < specs_.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (specs_[i].id == specs_[j].id) {
                co_return gen_server::stop_with(
                    tuple(a_start_spec, tuple(a_duplicate_child_name, specs_[i].id)));
            }
    for (auto& s : specs_)
        children_.push_back({s, term(atoms::undefined), false});
    auto failed = co_await start_range(0);
    if (failed) {
        std::size_t k = *failed;
        term id = children_[k].spec.id;
        term why = children_[k].pid;  // start_range leaves the reason here
        children_[k].pid = term(atoms::undefined);
        co_await terminate_range(0, k, std::size_t(-1));
        co_return gen_server::stop_with(tuple(a_shutdown, tuple(a_failed_to_start_child, id, why)));
    }
    co_return gen_server::ok();
}

// Starts children [from, end) in order. On a failure returns its index, with the reason in its
// pid slot; children after it are not started.
task<std::optional<std::size_t>> sup_server::start_range(std::size_t from) {
    for (std::size_t i = from; i < children_.size();) {
        child_spec spec = children_[i].spec;
        std::vector<term> none;
        start_result r = co_await run_start(spec, none);
        if (r) {
            children_[i].pid = r->as_term();
            children_[i].restarting = false;
            ++i;
        } else if (r.error().is_atom(a_ignore)) {
            if (children_[i].spec.restart == restart_type::temporary) {
                children_.erase(children_.begin() + std::ptrdiff_t(i));
            } else {
                children_[i].pid = term(atoms::undefined);
                ++i;
            }
        } else {
            children_[i].pid = r.error();
            co_return i;
        }
    }
    co_return std::nullopt;
}

// Terminates the running children with index in [from, to) except `skip`, in reverse start
// order; temporary ones are forgotten (terminate_children).
task<> sup_server::terminate_range(std::size_t from, std::size_t to, std::size_t skip) {
    for (std::size_t i = to; i-- > from;) {
        if (i == skip) continue;
        if (children_[i].pid.is_pid()) co_await shutdown(children_[i].pid, children_[i].spec.shutdown);
        children_[i].pid = term(atoms::undefined);
        if (children_[i].spec.restart == restart_type::temporary) {
            children_.erase(children_.begin() + std::ptrdiff_t(i));
        }
    }
}

// restart/2 for a static child that has ended. false: intensity reached, the supervisor stops.
task<bool> sup_server::restart(std::size_t i) {
    if (!add_restart()) {
        del_child(i);
        co_return false;
    }
    term id = children_[i].spec.id;
    children_[i].pid = term(atoms::undefined);
    std::size_t first = i;
    if (flags_.strategy == strategy::rest_for_one) {
        co_await terminate_range(i + 1, children_.size(), std::size_t(-1));
    } else if (flags_.strategy == strategy::one_for_all) {
        co_await terminate_range(0, children_.size(), i);
        first = 0;
    }
    // Temporary children may have gone: find where to start again.
    int at = find(id);
    if (at < 0) co_return true;
    if (flags_.strategy == strategy::one_for_all)
        first = 0;
    else
        first = std::size_t(at);
    std::optional<std::size_t> failed;
    if (flags_.strategy == strategy::one_for_one) {
        child_spec spec = children_[first].spec;
        std::vector<term> none;
        start_result r = co_await run_start(spec, none);
        if (r)
            children_[first].pid = r->as_term();
        else if (!r.error().is_atom(a_ignore))
            failed = first;
    } else {
        failed = co_await start_range(first);
    }
    if (failed) {
        // Try again later, through the mailbox (other requests may come first), as OTP does.
        children_[*failed].pid = term(atoms::undefined);
        children_[*failed].restarting = true;
        gen_server::cast(self_term(), tuple(a_try_again_restart, children_[*failed].spec.id));
    }
    co_return true;
}

task<bool> sup_server::restart_dyn(std::size_t i) {
    if (!add_restart()) {
        dyn_.erase(dyn_.begin() + std::ptrdiff_t(i));
        co_return false;
    }
    std::vector<term> args = dyn_[i].args;
    child_spec spec = dyn_spec_;
    spec.args.clear();
    start_result r = co_await run_start(spec, args);
    if (r) {
        dyn_[i].pid = r->as_term();
        dyn_[i].restarting = false;
    } else if (r.error().is_atom(a_ignore)) {
        dyn_.erase(dyn_.begin() + std::ptrdiff_t(i));
    } else {
        term key = tuple(a_restarting, dyn_[i].pid);
        dyn_[i].pid = key;
        dyn_[i].restarting = true;
        gen_server::cast(self_term(), tuple(a_try_again_restart, key));
    }
    co_return true;
}

task<term> sup_server::do_start_child(child_spec spec) {
    int at = find(spec.id);
    if (at >= 0) {
        if (children_[std::size_t(at)].pid.is_pid()) {
            co_return tuple(atoms::error, tuple(a_already_started, children_[std::size_t(at)].pid));
        }
        co_return tuple(atoms::error, term(a_already_present));
    }
    std::vector<term> none;
    start_result r = co_await run_start(spec, none);
    if (r) {
        children_.push_back({spec, r->as_term(), false});
    } else if (r.error().is_atom(a_ignore)) {
        if (spec.restart != restart_type::temporary)
            children_.push_back({spec, term(atoms::undefined), false});
    }
    co_return start_reply(r);
}

task<action> sup_server::handle_call(term req, gen_server::from) {
    if (req.is_atom(a_which_children)) {
        std::vector<term> out;
        if (simple()) {
            for (auto it = dyn_.rbegin(); it != dyn_.rend(); ++it) {
                term c = it->restarting ? term(a_restarting) : it->pid;
                out.push_back(tuple(atoms::undefined, c, type_term(dyn_spec_.type), dyn_spec_.modules));
            }
        } else {
            for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
                term c = it->restarting ? term(a_restarting) : it->pid;
                out.push_back(tuple(it->spec.id, c, type_term(it->spec.type), it->spec.modules));
            }
        }
        co_return gen_server::reply(make_list(std::move(out)));
    }
    if (req.is_atom(a_count_children)) {
        std::int64_t specs = 0, active = 0, sups = 0, workers = 0;
        if (simple()) {
            specs = 1;
            for (auto& d : dyn_)
                if (!d.restarting) ++active;
            (dyn_spec_.type == child_type::worker ? workers : sups) = std::int64_t(dyn_.size());
        } else {
            for (auto& c : children_) {
                ++specs;
                (c.spec.type == child_type::worker ? workers : sups) += 1;
                if (c.pid.is_pid() && (!is_local(c.pid) || is_process_alive(c.pid.as_pid()))) ++active;
            }
        }
        co_return gen_server::reply(list({tuple(a_specs, specs), tuple(a_active, active),
                                          tuple(a_supervisors, sups), tuple(a_workers, workers)}));
    }
    if (req.is_tuple(2) && req[0].is_atom(a_start_child)) {
        const term& arg = req[1];
        if (simple()) {
            if (!arg.is_list())
                co_return gen_server::reply(tuple(atoms::error, tuple(a_invalid_child_spec, arg)));
            std::vector<term> extra = *arg.list_elements();
            start_result r = co_await run_start(dyn_spec_, extra);
            if (r) {
                std::vector<term> args = dyn_spec_.args;
                for (auto& e : extra)
                    args.push_back(e);
                dyn_.push_back({r->as_term(), std::move(args), false});
            }
            co_return gen_server::reply(start_reply(r));
        }
        std::optional<child_spec> spec;
        if (arg.is_tuple(2) && arg[0].is_atom(a_spec_key)) {
            if (auto k = arg[1].to_uint64()) spec = take_spec(*k);
        }
        if (!spec) co_return gen_server::reply(tuple(atoms::error, tuple(a_invalid_child_spec, arg)));
        term r = co_await do_start_child(std::move(*spec));
        co_return gen_server::reply(r);
    }
    if (req.is_tuple(2) && req[0].is_atom(a_terminate_child)) {
        const term& id = req[1];
        if (simple()) {
            if (!id.is_pid()) co_return gen_server::reply(tuple(atoms::error, a_simple_one_for_one));
            int at = find_dyn(id);
            if (at < 0) co_return gen_server::reply(tuple(atoms::error, a_not_found));
            co_await shutdown(id, dyn_spec_.shutdown);
            at = find_dyn(id);
            if (at >= 0) dyn_.erase(dyn_.begin() + at);
            co_return gen_server::reply(term(atoms::ok));
        }
        int at = find(id);
        if (at < 0) co_return gen_server::reply(tuple(atoms::error, a_not_found));
        term p = children_[std::size_t(at)].pid;
        if (p.is_pid()) co_await shutdown(p, children_[std::size_t(at)].spec.shutdown);
        at = find(children_[std::size_t(at)].spec.id);
        if (at >= 0) del_child(std::size_t(at));
        co_return gen_server::reply(term(atoms::ok));
    }
    if (req.is_tuple(2) && (req[0].is_atom(a_restart_child) || req[0].is_atom(a_delete_child))) {
        bool restart_it = req[0].is_atom(a_restart_child);
        if (simple()) co_return gen_server::reply(tuple(atoms::error, a_simple_one_for_one));
        int at = find(req[1]);
        if (at < 0 || !(children_[std::size_t(at)].spec.id == req[1])) {
            co_return gen_server::reply(tuple(atoms::error, a_not_found));
        }
        child& c = children_[std::size_t(at)];
        if (c.restarting) co_return gen_server::reply(tuple(atoms::error, a_restarting));
        if (c.pid.is_pid()) co_return gen_server::reply(tuple(atoms::error, a_running));
        if (!restart_it) {
            children_.erase(children_.begin() + at);
            co_return gen_server::reply(term(atoms::ok));
        }
        child_spec spec = c.spec;
        std::vector<term> none;
        start_result r = co_await run_start(spec, none);
        at = find(spec.id);
        if (r && at >= 0) children_[std::size_t(at)].pid = r->as_term();
        co_return gen_server::reply(start_reply(r));
    }
    co_return gen_server::reply(tuple(atoms::error, tuple("bad_call"_a, req)));
}

task<action> sup_server::handle_cast(term req) {
    if (req.is_tuple(2) && req[0].is_atom(a_try_again_restart)) {
        const term& id = req[1];
        bool ok = true;
        if (simple()) {
            int at = find_dyn(id);
            if (at >= 0 && dyn_[std::size_t(at)].restarting) ok = co_await restart_dyn(std::size_t(at));
        } else {
            int at = find(id);
            if (at >= 0 && children_[std::size_t(at)].restarting) ok = co_await restart(std::size_t(at));
        }
        if (!ok) co_return gen_server::stop_with(term(a_shutdown));
    }
    co_return gen_server::noreply();
}

task<action> sup_server::handle_info(term msg) {
    if (!(msg.is_tuple(3) && msg[0].is_atom(atoms::EXIT))) co_return gen_server::noreply();
    const term& p = msg[1];
    const term& reason = msg[2];
    bool ok = true;
    if (simple()) {
        int at = find_dyn(p);
        if (at < 0) co_return gen_server::noreply();
        auto i = std::size_t(at);
        restart_type rt = dyn_spec_.restart;
        bool again =
            rt == restart_type::permanent || (rt == restart_type::transient && !is_shutdown_reason(reason));
        if (again)
            ok = co_await restart_dyn(i);
        else
            dyn_.erase(dyn_.begin() + at);
    } else {
        int at = -1;
        for (std::size_t i = 0; i < children_.size(); ++i)
            if (children_[i].pid == p) at = int(i);
        if (at < 0) co_return gen_server::noreply();
        auto i = std::size_t(at);
        restart_type rt = children_[i].spec.restart;
        bool again =
            rt == restart_type::permanent || (rt == restart_type::transient && !is_shutdown_reason(reason));
        if (again)
            ok = co_await restart(i);
        else
            del_child(i);
    }
    if (!ok) co_return gen_server::stop_with(term(a_shutdown));
    co_return gen_server::noreply();
}

// terminate_dynamic_children: every child is told at once, then each is waited for.
task<> sup_server::terminate_dynamic() {
    struct waiting {
        term pid;
        reference mon;
    };
    std::vector<waiting> ws;
    for (auto& d : dyn_) {
        if (!d.pid.is_pid()) continue;
        reference m = monitor(d.pid);
        nodus::exit(d.pid.as_pid(), term(dyn_spec_.shutdown.is_brutal_kill() ? atoms::kill : a_shutdown));
        ws.push_back({d.pid, m});
    }
    auto deadline = monotonic_time() + dyn_spec_.shutdown.timeout();
    bool timed_out = false;
    for (auto& w : ws) {
        term mon_t = w.mon;
        auto is_down = [mon_t](const term& t) {
            return t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mon_t;
        };
        received d;
        if (dyn_spec_.shutdown.is_brutal_kill() || dyn_spec_.shutdown.is_infinity()) {
            d = co_await receive(is_down);
        } else if (!timed_out) {
            auto left = std::chrono::duration_cast<milliseconds>(deadline - monotonic_time());
            if (left.count() < 0) left = milliseconds(0);
            d = co_await receive(is_down).after(left);
        }
        if (!d) {
            timed_out = true;
            nodus::exit(w.pid.as_pid(), term(atoms::kill));
            d = co_await receive(is_down);
        }
        co_await unlink_flush(w.pid);
    }
    dyn_.clear();
}

task<> sup_server::terminate(term) {
    if (simple())
        co_await terminate_dynamic();
    else
        co_await terminate_range(0, children_.size(), std::size_t(-1));
}

term sup_server::format_status() const {
    static const atom strategies[] = {atom("one_for_one"), atom("one_for_all"), atom("rest_for_one"),
                                      atom("simple_one_for_one")};
    return map({{"strategy"_a, strategies[int(flags_.strategy)]},
                {"intensity"_a, std::int64_t(flags_.intensity)},
                {"period"_a, std::int64_t(flags_.period.count())},
                {"children"_a, std::int64_t(simple() ? dyn_.size() : children_.size())}});
}

}  // namespace

term shutdown_spec::to_term() const {
    if (is_brutal_kill()) return term(a_brutal_kill);
    if (is_infinity()) return term(atoms::infinity);
    return term(std::int64_t(ms_));
}

namespace detail {
task<start_result> start_from_pid(std::function<pid(std::vector<term>)> f, std::vector<term> args) {
    co_return f(std::move(args));
}
}  // namespace detail

task<start_result> start_link(gen_server::server_name name, flags f, std::vector<child_spec> children) {
    auto s = std::make_unique<sup_server>(name, f, std::move(children));
    return gen_server::start_link(std::move(s), std::move(name), gen_server::infinity);
}
task<start_result> start(gen_server::server_name name, flags f, std::vector<child_spec> children) {
    auto s = std::make_unique<sup_server>(name, f, std::move(children));
    return gen_server::start(std::move(s), std::move(name), gen_server::infinity);
}

task<start_result> start_child(term sup, child_spec spec) {
    auto& s = stash();
    std::uint64_t key = s.next.fetch_add(1);
    {
        std::lock_guard l(s.mutex);
        s.specs.emplace(key, std::move(spec));
    }
    stash_guard guard{key};
    term req = tuple(a_start_child, tuple(a_spec_key, term(static_cast<unsigned long long>(key))));
    term r = co_await gen_server::call(sup, req, gen_server::infinity);
    co_return from_start_reply(r);
}

task<start_result> start_child(term sup, std::vector<term> extra_args) {
    term req = tuple(a_start_child, make_list(std::move(extra_args)));
    term r = co_await gen_server::call(sup, req, gen_server::infinity);
    co_return from_start_reply(r);
}

namespace {
result<void, term> ok_or_error(const term& r) {
    if (r.is_atom(atoms::ok)) return {};
    if (r.is_tuple(2) && r[0].is_atom(atoms::error)) return unexpected(r[1]);
    return unexpected(r);
}
}  // namespace

task<result<void, term>> terminate_child(term sup, term id_or_pid) {
    term r = co_await gen_server::call(sup, tuple(a_terminate_child, id_or_pid), gen_server::infinity);
    co_return ok_or_error(r);
}

task<start_result> restart_child(term sup, term id) {
    term r = co_await gen_server::call(sup, tuple(a_restart_child, id), gen_server::infinity);
    co_return from_start_reply(r);
}

task<result<void, term>> delete_child(term sup, term id) {
    term r = co_await gen_server::call(sup, tuple(a_delete_child, id), gen_server::infinity);
    co_return ok_or_error(r);
}

task<std::vector<child_info>> which_children(term sup) {
    term r = co_await gen_server::call(sup, term(a_which_children), gen_server::infinity);
    std::vector<child_info> out;
    std::vector<term> elems = r.list_elements().value_or(std::vector<term>());
    for (const term& e : elems) {
        out.push_back(
            {e[0], e[1], e[2].is_atom(a_worker) ? child_type::worker : child_type::supervisor, e[3]});
    }
    co_return out;
}

task<child_counts> count_children(term sup) {
    term r = co_await gen_server::call(sup, term(a_count_children), gen_server::infinity);
    child_counts c;
    std::vector<term> elems = r.list_elements().value_or(std::vector<term>());
    for (const term& e : elems) {
        auto v = e[1].to_int64().value_or(0);
        if (e[0].is_atom(a_specs))
            c.specs = v;
        else if (e[0].is_atom(a_active))
            c.active = v;
        else if (e[0].is_atom(a_supervisors))
            c.supervisors = v;
        else if (e[0].is_atom(a_workers))
            c.workers = v;
    }
    co_return c;
}

}  // namespace nodus::supervisor

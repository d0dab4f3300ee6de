// gen_server (nodus/behaviours/gen_server.hpp): the server loop, start, and gen:call's protocol
// as OTP 25's gen.erl / gen_server.erl speak it.
#include "nodus/behaviours/gen_server.hpp"

#include <algorithm>
#include <exception>

#include "nodus/node/net.hpp"
#include "nodus/runtime/errors.hpp"
#include "nodus/services/global.hpp"

namespace nodus::gen_server {

namespace {

using namespace nodus::literals;

const atom a_local{"local"};
const atom a_global{"global"};
const atom a_system{"system"};
const atom a_terminate{"terminate"};
const atom a_get_state{"get_state"};
const atom a_get_status{"get_status"};
const atom a_already_started{"already_started"};
const atom a_bad_return_value{"bad_return_value"};
const atom a_bad_call{"bad_call"};
const atom a_bad_cast{"bad_cast"};
const atom a_reply{"reply"};
const atom a_noreply{"noreply"};
const atom a_stop{"stop"};
const atom a_ignore{"ignore"};
const atom a_calling_self{"calling_self"};
const atom a_gen_server{"gen_server"};
const atom a_call{"call"};
const atom a_ack{"$nodus_gen_ack"};
const atom a_unknown_system_msg{"unknown_system_msg"};
const atom a_shutdown{"shutdown"};

term timeout_term(milliseconds t) {
    return t.count() < 0 ? term(atoms::infinity) : term(std::int64_t(t.count()));
}

bool is_global_ref(const term& t) {
    return t.is_tuple(2) && t[0].is_atom(a_global);
}

// Where dest lives, as gen:do_for_proc resolves it: a pid, or {Name, Node} on another node.
// An error is the reason gen:call exits with.
result<term, term> resolve(const term& dest) {
    if (dest.is_pid()) return dest;
    if (dest.is_atom()) {
        auto p = whereis(dest.as_atom());
        if (!p) return unexpected(term(atoms::noproc));
        return p->as_term();
    }
    if (is_global_ref(dest)) {
        auto p = global::whereis_name(dest[1]);
        if (!p) return unexpected(term(atoms::noproc));
        return p->as_term();
    }
    if (dest.is_tuple(2) && dest[0].is_atom() && dest[1].is_atom()) {
        atom node = dest[1].as_atom();
        if (node == erlang::node()) {
            auto p = whereis(dest[0].as_atom());
            if (!p) return unexpected(term(atoms::noproc));
            return p->as_term();
        }
        if (!erlang::is_alive()) return unexpected(tuple(atoms::nodedown, node));
        return dest;
    }
    return unexpected(term(atoms::badarg));
}

atom node_of(const term& target) {
    return target.is_pid() ? target.pid_node() : target[1].as_atom();
}

void do_send(const term& dest, term msg) {
    try {
        if (is_global_ref(dest)) {
            (void)global::send(dest[1], std::move(msg));
            return;
        }
        send(dest, std::move(msg));
    } catch (const erlang_exception&) {
        // gen_server:cast ignores badarg (an unregistered local name)
    }
}

// An action that is not one of `allowed` ends the server with {bad_return_value, Action}.
bool allowed(const action& a, std::initializer_list<action::kind> kinds) {
    for (auto k : kinds)
        if (a.what == k) return true;
    return false;
}

struct server_process {
    std::shared_ptr<server> s;
    server_name name;
    pid starter;
    term ack_ref;
    pid parent;  // the starter for start_link, self for start
};

// gen:unregister_name: before init's failure is reported, so that a new start can take the name.
task<> unregister_name(server_name n) {
    if (n.scope == server_name::kind::local) nodus::unregister(n.name.as_atom());
    if (n.scope == server_name::kind::global) co_await global::unregister_name(n.name);
}

void ack(const server_process& sp, term result) {
    send(sp.starter, tuple(a_ack, sp.ack_ref, std::move(result)));
}

// Ends the server after a callback threw: terminate(exit reason), then the same exception.
task<> crash(server& s, std::exception_ptr e) {
    term reason = exit_reason_of(e);
    co_await s.terminate(reason);
    std::rethrow_exception(e);
}

// Calls terminate(reason) and exits with reason (after the reply of a stop with one).
task<> stop_server(server& s, const action& a, const std::optional<from>& caller) {
    std::exception_ptr err;
    try {
        co_await s.terminate(a.reason);
    } catch (...) {
        err = std::current_exception();
    }
    if (a.has_reply && caller) reply(*caller, a.value);
    if (err) std::rethrow_exception(err);
    exit(a.reason);
}

task<> bad_return(server& s, const action& a) {
    std::optional<from> no_caller;
    action st = stop_with(tuple(a_bad_return_value, a.to_term()));
    co_await stop_server(s, st, no_caller);
}

task<> server_main(server_process sp) {
    server& s = *sp.s;
    // Register the name (gen:init_it).
    if (sp.name.scope == server_name::kind::local) {
        atom n = sp.name.name.as_atom();
        if (!register_name(n, self())) {
            auto other = whereis(n);
            term who = other ? other->as_term() : term(atoms::undefined);
            ack(sp, tuple(atoms::error, tuple(a_already_started, who)));
            co_return;
        }
    } else if (sp.name.scope == server_name::kind::global) {
        atom yes = co_await global::register_name(sp.name.name, self());
        if (yes != atoms::yes) {
            auto other = global::whereis_name(sp.name.name);
            term who = other ? other->as_term() : term(atoms::undefined);
            ack(sp, tuple(atoms::error, tuple(a_already_started, who)));
            co_return;
        }
    }

    // init
    action a;
    std::exception_ptr err;
    try {
        a = co_await s.init();
    } catch (...) {
        err = std::current_exception();
    }
    if (err) {
        co_await unregister_name(sp.name);
        ack(sp, tuple(atoms::error, exit_reason_of(err)));
        std::rethrow_exception(err);
    }
    switch (a.what) {
        case action::kind::ok:
            ack(sp, tuple(atoms::ok, self_term()));
            break;
        case action::kind::stop:
            co_await unregister_name(sp.name);
            ack(sp, tuple(atoms::error, a.reason));
            exit(a.reason);
        case action::kind::ignore:
            co_await unregister_name(sp.name);
            ack(sp, term(a_ignore));
            exit(term(atoms::normal));
        default: {
            term reason = tuple(a_bad_return_value, a.to_term());
            ack(sp, tuple(atoms::error, reason));
            exit(reason);
        }
    }

    // The loop (gen_server:loop/decode_msg/handle_msg).
    milliseconds timeout = a.timeout;
    const std::optional<from> no_caller;
    for (;;) {
        received r;
        if (timeout.count() < 0)
            r = co_await receive();
        else
            r = co_await receive().after(timeout);
        term msg = r ? std::move(r.message) : term(atoms::timeout);
        const milliseconds loop_timeout = timeout;  // a system message leaves it running
        timeout = milliseconds{-1};

        std::optional<from> caller;
        err = nullptr;
        if (msg.is_tuple(3) && msg[0].is_atom(atoms::gen_call) && msg[1].is_tuple(2) && msg[1][0].is_pid()) {
            caller = from{msg[1][0].as_pid(), msg[1][1]};
            try {
                a = co_await s.handle_call(msg[2], *caller);
            } catch (...) {
                err = std::current_exception();
            }
            if (err) co_await crash(s, err);
            if (!allowed(a, {action::kind::reply, action::kind::noreply, action::kind::stop})) {
                co_await bad_return(s, a);
            }
            if (a.what == action::kind::reply) reply(*caller, a.value);
        } else if (msg.is_tuple(2) && msg[0].is_atom(atoms::gen_cast)) {
            try {
                a = co_await s.handle_cast(msg[1]);
            } catch (...) {
                err = std::current_exception();
            }
            if (err) co_await crash(s, err);
            if (!allowed(a, {action::kind::noreply, action::kind::stop})) co_await bad_return(s, a);
        } else if (msg.is_tuple(3) && msg[0].is_atom(a_system) && msg[1].is_tuple(2) && msg[1][0].is_pid()) {
            // sys: the requests gen_server:stop/1 and sys:get_state/1 send.
            from sys_from{msg[1][0].as_pid(), msg[1][1]};
            const term& req = msg[2];
            if (req.is_tuple(2) && req[0].is_atom(a_terminate)) {
                reply(sys_from, term(atoms::ok));
                action st = stop_with(req[1]);
                co_await stop_server(s, st, no_caller);
            } else if (req.is_atom(a_get_state)) {
                reply(sys_from, s.format_status());  // sys:do_get_state replies with the state itself
            } else if (req.is_atom(a_get_status)) {
                reply(sys_from, tuple("status"_a, self_term(), tuple("module"_a, a_gen_server),
                                      list({term(sp.name.to_term()), s.format_status()})));
            } else {
                reply(sys_from, tuple(atoms::error, tuple(a_unknown_system_msg, req)));
            }
            if (r) timeout = loop_timeout;
            continue;
        } else if (msg.is_tuple(3) && msg[0].is_atom(atoms::EXIT) && msg[1] == sp.parent.as_term()) {
            action st = stop_with(msg[2]);
            co_await stop_server(s, st, no_caller);
        } else {
            try {
                a = co_await s.handle_info(msg);
            } catch (...) {
                err = std::current_exception();
            }
            if (err) co_await crash(s, err);
            if (!allowed(a, {action::kind::noreply, action::kind::stop})) co_await bad_return(s, a);
        }
        if (a.what == action::kind::stop) co_await stop_server(s, a, caller);
        timeout = a.timeout;
    }
}

task<start_result> do_start(std::unique_ptr<server> s, server_name name, milliseconds timeout, bool link_it) {
    server_process sp{std::shared_ptr<server>(std::move(s)), std::move(name), self(), make_ref(), pid()};
    sp.parent = link_it ? self() : pid();
    auto body = [sp]() mutable {
        if (!sp.parent.valid()) sp.parent = self();
        return server_main(sp);
    };
    pid p;
    reference mref;
    if (link_it) {
        p = spawn_link(body);
        mref = monitor(p);
    } else {
        auto pm = spawn_monitor(body);
        p = pm.first;
        mref = pm.second;
    }
    term ack_ref = sp.ack_ref;
    term mref_t = mref;
    term p_t = p;
    auto is_answer = [ack_ref, mref_t](const term& t) {
        return (t.is_tuple(3) && t[0].is_atom(a_ack) && t[1] == ack_ref) ||
               (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mref_t);
    };
    received r;
    if (timeout.count() < 0)
        r = co_await receive(is_answer);
    else
        r = co_await receive(is_answer).after(timeout);
    if (!r) {
        // proc_lib's kill_flush: the late server goes, and so does its exit signal.
        if (link_it) unlink(p);
        nodus::exit(p, term(atoms::kill));
        demonitor(mref, true);
        co_return unexpected(term(atoms::timeout));
    }
    const term& m = *r;
    if (m[0].is_atom(atoms::DOWN)) co_return unexpected(m[4]);
    demonitor(mref, true);
    const term& res = m[2];
    if (res.is_tuple(2) && res[0].is_atom(atoms::ok)) co_return res[1].as_pid();
    if (res.is_tuple(2) && res[0].is_atom(atoms::error)) co_return unexpected(res[1]);
    co_return unexpected(res);  // ignore
}

}  // namespace

term action::to_term() const {
    switch (what) {
        case kind::ok:
            return tuple(atoms::ok, "state"_a);
        case kind::ignore:
            return term(a_ignore);
        case kind::reply:
            return tuple(a_reply, value, "state"_a);
        case kind::noreply:
            return tuple(a_noreply, "state"_a);
        case kind::stop:
            return has_reply ? tuple(a_stop, reason, value, "state"_a) : tuple(a_stop, reason, "state"_a);
    }
    return term(atoms::undefined);
}

void reply(const from& to, term value) {
    // OTP sends to the alias of a [alias|Ref] tag; nodus has no process aliases, and a message
    // to the caller's pid reaches it all the same.
    send(to.caller, tuple(to.tag, std::move(value)));
}

task<action> server::init() {
    co_return ok();
}
task<action> server::handle_call(term request, from) {
    co_return stop_with(tuple(a_bad_call, request));
}
task<action> server::handle_cast(term request) {
    co_return stop_with(tuple(a_bad_cast, request));
}
task<action> server::handle_info(term) {
    co_return noreply();
}
task<> server::terminate(term) {
    co_return;
}
term server::format_status() const {
    return term(atoms::undefined);
}

term server_name::to_term() const {
    switch (scope) {
        case kind::local:
            return tuple(a_local, name);
        case kind::global:
            return tuple(a_global, name);
        case kind::none:
            break;
    }
    return term(atoms::undefined);
}

task<start_result> start(std::unique_ptr<server> s, server_name name, milliseconds timeout) {
    return do_start(std::move(s), std::move(name), timeout, false);
}
task<start_result> start_link(std::unique_ptr<server> s, server_name name, milliseconds timeout) {
    return do_start(std::move(s), std::move(name), timeout, true);
}

task<result<term, term>> do_call(term dest, atom label, term request, milliseconds timeout) {
    auto target = resolve(dest);
    if (!target) co_return unexpected(target.error());
    term to = *target;
    if (to == self_term()) co_return unexpected(term(a_calling_self));
    reference mref = monitor(to);
    term ref = mref;
    send(to, tuple(label, tuple(self_term(), ref), std::move(request)));
    auto is_reply = [ref](const term& t) {
        return (t.is_tuple(2) && t[0] == ref) || (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == ref);
    };
    received r;
    if (timeout.count() < 0)
        r = co_await receive(is_reply);
    else
        r = co_await receive(is_reply).after(timeout);
    if (!r) {
        demonitor(mref, true);
        // A reply that arrived meanwhile still counts (gen:do_call does the same).
        auto is_late = [ref](const term& t) { return t.is_tuple(2) && t[0] == ref; };
        auto late = co_await receive(is_late).after(milliseconds(0));
        if (late) co_return (*late)[1];
        co_return unexpected(term(atoms::timeout));
    }
    if (r->is_tuple(5)) {
        const term& why = (*r)[4];
        term reason = why;
        if (why.is_atom(atoms::noconnection)) reason = tuple(atoms::nodedown, node_of(to));
        // A globally registered server on a node that just went: global has not noticed yet.
        if (is_global_ref(dest) && reason.is_tuple(2) && reason[0].is_atom(atoms::nodedown)) {
            reason = term(atoms::noproc);
        }
        co_return unexpected(reason);
    }
    demonitor(mref, true);
    co_return (*r)[1];
}

task<result<term, term>> try_call(term dest, term request, milliseconds timeout) {
    return do_call(std::move(dest), atoms::gen_call, std::move(request), timeout);
}

namespace {
task<term> call_or_exit(term dest, term request, milliseconds timeout, bool with_timeout) {
    auto r = co_await do_call(dest, atoms::gen_call, request, timeout);
    if (r) co_return std::move(*r);
    term args = with_timeout ? list({dest, request, timeout_term(timeout)}) : list({dest, request});
    exit(tuple(r.error(), tuple(a_gen_server, a_call, args)));
}
}  // namespace

task<term> call(term dest, term request) {
    return call_or_exit(std::move(dest), std::move(request), default_timeout, false);
}
task<term> call(term dest, term request, milliseconds timeout) {
    return call_or_exit(std::move(dest), std::move(request), timeout, true);
}

void cast(term dest, term request) {
    do_send(dest, tuple(atoms::gen_cast, std::move(request)));
}

task<> stop(term dest, term reason, milliseconds timeout) {
    // proc_lib:stop/3: monitor, sys:terminate (a `system` call), then wait for the DOWN.
    auto target = resolve(dest);
    if (!target) exit(target.error());
    term to = *target;
    reference mref = monitor(to);
    auto t0 = monotonic_time();
    auto r = co_await do_call(to, a_system, tuple(a_terminate, reason), timeout);
    if (!r) {
        demonitor(mref, true);
        exit(r.error());
    }
    milliseconds left = timeout;
    if (timeout.count() >= 0) {
        auto spent = std::chrono::duration_cast<milliseconds>(monotonic_time() - t0);
        left = std::max(milliseconds(0), timeout - spent);
    }
    term mref_t = mref;
    auto is_down = [mref_t](const term& t) {
        return t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mref_t;
    };
    received d;
    if (left.count() < 0)
        d = co_await receive(is_down);
    else
        d = co_await receive(is_down).after(left);
    if (!d) {
        demonitor(mref, true);
        exit(term(atoms::timeout));
    }
    if ((*d)[4] != reason) exit((*d)[4]);
}

void abcast(atom name, term request) {
    std::vector<atom> nodes = erlang::nodes();
    nodes.insert(nodes.begin(), erlang::node());
    abcast(nodes, name, std::move(request));
}

void abcast(const std::vector<atom>& nodes, atom name, term request) {
    term msg = tuple(atoms::gen_cast, std::move(request));
    for (atom n : nodes)
        do_send(tuple(name, n), msg);
}

namespace {

const atom a_multi_result{"$nodus_multi_call"};

// The middleman of multi_call: asks every node, collects until all answered or the timer fired,
// sends the result to the caller and exits (late replies then go nowhere).
task<> multi_call_middleman(pid caller, term tag, std::vector<atom> nodes, atom name, term request,
                            milliseconds timeout) {
    struct pending {
        atom node;
        reference mref;
    };
    std::vector<pending> waiting;
    for (atom n : nodes) {
        term dest = tuple(name, n);
        reference m = monitor(dest);
        do_send(dest, tuple(atoms::gen_call, tuple(self_term(), tuple(tag, n)), request));
        waiting.push_back({n, m});
    }
    std::vector<term> replies;
    std::vector<term> bad;
    auto deadline = monotonic_time() + timeout;
    bool timed_out = false;
    for (auto& w : waiting) {
        term mref_t = w.mref;
        term node_tag = tuple(tag, w.node);
        auto is_answer = [mref_t, node_tag](const term& t) {
            return (t.is_tuple(2) && t[0] == node_tag) ||
                   (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mref_t);
        };
        received r;
        if (timed_out) {
            r = co_await receive(is_answer).after(milliseconds(0));
        } else if (timeout.count() < 0) {
            r = co_await receive(is_answer);
        } else {
            auto left = std::chrono::duration_cast<milliseconds>(deadline - monotonic_time());
            if (left.count() < 0) left = milliseconds(0);
            r = co_await receive(is_answer).after(left);
        }
        if (!r) {
            timed_out = true;
            demonitor(w.mref, true);
            bad.push_back(term(w.node));
        } else if (r->is_tuple(5)) {
            bad.push_back(term(w.node));
        } else {
            demonitor(w.mref, true);
            replies.push_back(tuple(w.node, (*r)[1]));
        }
    }
    send(caller, tuple(a_multi_result, tag, make_list(std::move(replies)), make_list(std::move(bad))));
}

}  // namespace

task<multi_call_result> multi_call(atom name, term request, milliseconds timeout) {
    std::vector<atom> nodes = erlang::nodes();
    nodes.insert(nodes.begin(), erlang::node());
    return multi_call(std::move(nodes), name, std::move(request), timeout);
}

task<multi_call_result> multi_call(std::vector<atom> nodes, atom name, term request, milliseconds timeout) {
    pid me = self();
    term tag = make_ref();
    auto [mm, mref] = spawn_monitor([me, tag, nodes, name, request, timeout]() {
        return multi_call_middleman(me, tag, nodes, name, request, timeout);
    });
    (void)mm;
    term mref_t = mref;
    auto is_result = [tag, mref_t](const term& t) {
        return (t.is_tuple(4) && t[0].is_atom(a_multi_result) && t[1] == tag) ||
               (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == mref_t);
    };
    auto r = co_await receive(is_result);
    if (r->is_tuple(5)) exit((*r)[4]);
    demonitor(mref, true);
    multi_call_result out;
    std::vector<term> replies = (*r)[2].list_elements().value_or(std::vector<term>());
    std::vector<term> bad = (*r)[3].list_elements().value_or(std::vector<term>());
    for (const term& e : replies)
        out.replies.emplace_back(e[0].as_atom(), e[1]);
    for (const term& e : bad)
        out.bad_nodes.push_back(e.as_atom());
    co_return out;
}

}  // namespace nodus::gen_server

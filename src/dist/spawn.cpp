// Remote spawn and rpc: what a spawned process runs when another node asks (exported functions
// only, with erpc's result protocol), and the requester side (spawn_request, spawn/4, erpc:call,
// rpc:call) for code running in a nodus process.
#include "dist/node_impl.hpp"
#include "nodus/node/net.hpp"
#include "runtime/runtime_impl.hpp"

namespace nodus {

namespace {

const atom a_erpc{"erpc"};
const atom a_execute_call{"execute_call"};
const atom a_execute_cast{"execute_cast"};
const atom a_apply{"apply"};
const atom a_exception{"exception"};
const atom a_signal{"signal"};
const atom a_EXIT{"EXIT"};
const atom a_nodedown{"nodedown"};
const atom a_spawn_reply{"spawn_reply"};
const atom a_undef_fun{"undef"};

term list_of(const std::vector<term>& v) {
    return make_list(std::span<const term>(v));
}

// The error an Erlang node gives for a function that does not exist: {undef, [{M, F, Args, []}]}.
[[noreturn]] void undef(atom m, atom f, const std::vector<term>& args) {
    throw exit_exception(tuple(atoms::undef, list({tuple(m, f, list_of(args), term())})));
}

task<term> call_export(atom m, atom f, std::vector<term> args) {
    auto fn = exports().find(m, f, static_cast<unsigned>(args.size()));
    if (!fn) undef(m, f, args);
    co_return co_await (*fn)(std::move(args));
}

// erlang:apply(Fun, Args): an export fun names a function we may have; other funs carry code
// of another node, which C++ cannot run (services.md: no lambdas over the wire).
task<term> apply_fun(term fun, term args_list) {
    auto args = args_list.list_elements();
    if (!args) throw error_exception(term(atoms::badarg));
    if (fun.is_export())
        co_return co_await call_export(fun.export_module(), fun.export_function(), std::move(*args));
    auto* node = detail::node_of(detail::current_runtime());
    if (node && node->fun_runner) co_return co_await node->fun_runner(std::move(fun), std::move(*args));
    throw exit_exception(tuple(tuple(atom("badfun"), fun), term()));
}

}  // namespace

namespace detail {

task<term> rex_execute(atom m, atom f, std::vector<term> args) {
    term result;
    try {
        result = co_await call_export(m, f, std::move(args));
    } catch (const erlang_exception& e) {
        const term& r = e.reason();
        switch (e.kind()) {
            case exception_class::throw_:
                result = r;
                break;
            case exception_class::exit:
                // undef (call_export's exit) is an error with its stack, as OTP's apply gives it
                result = tuple(atoms::badrpc, tuple(a_EXIT, r));
                break;
            case exception_class::error:
                result = tuple(atoms::badrpc, tuple(a_EXIT, tuple(r, term())));
                break;
        }
    } catch (const std::exception& e) {
        result = tuple(atoms::badrpc,
                       tuple(a_EXIT, tuple(atom("cpp_exception"), binary(std::string_view(e.what())))));
    }
    co_return result;
}

task<> run_spawned(atom m, atom f, std::vector<term> args) {
    if (m == a_erpc && f == a_execute_call && args.size() == 4) {
        // erpc:execute_call(ResRef, M, F, A): the exit reason carries the result (services.md §3.2).
        term res_ref = args[0];
        if (!args[1].is_atom() || !args[2].is_atom())
            throw exit_exception(tuple(res_ref, atoms::error, atoms::badarg, term()));
        atom cm = args[1].as_atom(), cf = args[2].as_atom();
        auto call_args = args[3].list_elements();
        if (!call_args) throw exit_exception(tuple(res_ref, atoms::error, atoms::badarg, term()));
        term reason;
        try {
            term v = co_await call_export(cm, cf, *call_args);
            reason = tuple(res_ref, atoms::return_, std::move(v));
        } catch (const erlang_exception& e) {
            switch (e.kind()) {
                case exception_class::throw_:
                    reason = tuple(res_ref, atoms::throw_, e.reason());
                    break;
                case exception_class::exit:
                    // undef is reported as an error with its stack, as OTP's apply does
                    if (e.reason().is_tuple(2) && e.reason()[0].is_atom(atoms::undef))
                        reason = tuple(res_ref, atoms::error, atoms::undef, e.reason()[1]);
                    else
                        reason = tuple(res_ref, atoms::exit, e.reason());
                    break;
                case exception_class::error:
                    reason = tuple(res_ref, atoms::error, e.reason(), term());
                    break;
            }
        } catch (const std::exception& e) {
            reason = tuple(res_ref, atoms::error,
                           tuple(atom("cpp_exception"), binary(std::string_view(e.what()))), term());
        }
        throw exit_exception(std::move(reason));
    }
    if (m == a_erpc && f == a_execute_cast && args.size() == 3) {
        auto call_args = args[2].list_elements();
        if (args[0].is_atom() && args[1].is_atom() && call_args)
            (void)co_await call_export(args[0].as_atom(), args[1].as_atom(), std::move(*call_args));
        co_return;
    }
    if (m == atoms::erlang && f == a_apply && args.size() == 2) {
        (void)co_await apply_fun(args[0], args[1]);
        co_return;
    }
    (void)co_await call_export(m, f, std::move(args));
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Requester side

namespace {
// spawn_request with OTP's {reply, no}: nobody waits for the spawn_reply (rpc:cast).
reference spawn_request_impl(atom node, atom m, atom f, term args, bool link, bool monitor, bool reply);
}  // namespace

namespace erlang {

reference spawn_request(atom node, atom m, atom f, term args, bool link, bool monitor) {
    return spawn_request_impl(node, m, f, std::move(args), link, monitor, true);
}

}  // namespace erlang

namespace {

reference spawn_request_impl(atom node, atom m, atom f, term args, bool link, bool monitor, bool reply) {
    detail::process& me = detail::current();
    detail::runtime_impl* rt = me.rt;
    reference ref = rt->make_ref();
    term opts;
    if (monitor) opts = cons(term(atoms::monitor), opts);
    if (link) opts = cons(term(atoms::link), opts);
    term gl = group_leader().as_term();  // the set one, else `user`, else the requester
    if (node == erlang::node()) {
        // Locally: the same protocol, so callers need not care where the process runs.
        auto elems = args.list_elements();
        std::vector<term> a = elems ? std::move(*elems) : std::vector<term>{};
        auto sr = detail::make_spawn_request([m, f, a]() { return detail::run_spawned(m, f, a); });
        sr.link = link;
        sr.monitor = monitor;
        sr.remote_parent = me.self;  // set up exactly as for a remote requester
        sr.monitor_ref = ref;
        sr.group_leader = gl;
        term requester = me.self;
        std::uint64_t flags = (link ? 1u : 0u) | (monitor ? 2u : 0u);
        if (reply)
            sr.before_start = [&](const pid& child) {
                rt->send_signal(requester, detail::sig::spawn_reply, child, term(), ref, flags);
            };
        detail::spawn_process(rt, std::move(sr));
        return ref;
    }
    if (!reply) {
        // As in erts, {reply, no} is the requester's business: the peer always sends SPAWN_REPLY,
        // and the node drops it before it reaches the mailbox.
        if (auto* n = detail::node_of(rt)) {
            std::lock_guard l(n->quiet_mutex);
            n->quiet_spawns.insert(ref);
        }
    }
    rt->route_remote(
        {signal_kind::spawn_request, me.self, term(), node, tuple(m, f, args, opts, gl), ref, 0});
    return ref;
}

}  // namespace

namespace erlang {

namespace {
task<term> await_spawn_reply(term ref) {
    auto is_reply = [ref](const term& t) {
        return t.is_tuple(4) && t[0].is_atom(a_spawn_reply) && t[1] == ref;
    };
    auto r = co_await receive(is_reply);
    co_return *r;
}
}  // namespace

task<pid> spawn(atom node, atom m, atom f, term args) {
    term ref = spawn_request(node, m, f, std::move(args), false, false);
    term r = co_await await_spawn_reply(ref);
    if (!r[2].is_atom(atoms::ok)) throw error_exception(r[3]);
    co_return r[3].as_pid();
}

task<pid> spawn_link(atom node, atom m, atom f, term args) {
    term ref = spawn_request(node, m, f, std::move(args), true, false);
    term r = co_await await_spawn_reply(ref);
    if (!r[2].is_atom(atoms::ok)) throw error_exception(r[3]);
    co_return r[3].as_pid();
}

task<std::pair<pid, reference>> spawn_monitor(atom node, atom m, atom f, term args) {
    reference ref = spawn_request(node, m, f, std::move(args), false, true);
    term r = co_await await_spawn_reply(ref);
    if (!r[2].is_atom(atoms::ok)) throw error_exception(r[3]);
    co_return std::pair<pid, reference>(r[3].as_pid(), ref);
}

}  // namespace erlang

namespace erpc {

task<term> call(atom node, atom m, atom f, term args, std::chrono::milliseconds timeout) {
    term res_ref = make_ref();
    reference req =
        erlang::spawn_request(node, a_erpc, a_execute_call, list({res_ref, m, f, args}), false, true);
    term req_t = req;
    auto is_ours = [req_t](const term& t) {
        return (t.is_tuple(4) && t[0].is_atom(a_spawn_reply) && t[1] == req_t) ||
               (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == req_t);
    };
    bool spawned = false;
    for (;;) {
        received r;
        if (timeout.count() < 0)
            r = co_await receive(is_ours);
        else
            r = co_await receive(is_ours).after(timeout);
        if (!r) {
            demonitor(req, true);
            throw error_exception(tuple(a_erpc, atoms::timeout));
        }
        const term& msg = *r;
        if (msg[0].is_atom(a_spawn_reply)) {
            if (!msg[2].is_atom(atoms::ok)) {
                term why = msg[3].is_atom(atoms::noconnection) ? term(atoms::noconnection) : msg[3];
                throw error_exception(tuple(a_erpc, why));
            }
            spawned = true;
            continue;
        }
        // {'DOWN', Req, process, Pid, Reason}: the reason carries the result.
        const term& reason = msg[4];
        if (reason.is_atom(atoms::noconnection)) throw error_exception(tuple(a_erpc, atoms::noconnection));
        if (reason.is_tuple() && reason.tuple_size() >= 3 && reason[0] == res_ref) {
            if (reason[1].is_atom(atoms::return_)) co_return reason[2];
            if (reason[1].is_atom(atoms::throw_)) throw throw_exception(reason[2]);
            if (reason[1].is_atom(atoms::exit)) throw exit_exception(tuple(a_exception, reason[2]));
            if (reason[1].is_atom(atoms::error) && reason.tuple_size() == 4)
                throw error_exception(tuple(a_exception, reason[2], reason[3]));
            if (reason[1].is_atom(atoms::error)) throw error_exception(reason[2]);
        }
        (void)spawned;
        throw exit_exception(tuple(a_signal, reason));
    }
}

}  // namespace erpc

namespace rpc {

task<term> call(atom node, atom m, atom f, term args, std::chrono::milliseconds timeout) {
    // rpc:call is erpc:call with the errors folded into {badrpc, Reason} (services.md §3.2).
    term result;
    try {
        result = co_await erpc::call(node, m, f, std::move(args), timeout);
    } catch (const erlang_exception& e) {
        const term& r = e.reason();
        switch (e.kind()) {
            case exception_class::throw_:
                result = r;
                break;
            case exception_class::exit:
                if (r.is_tuple(2) && r[0].is_atom(a_exception))
                    result = tuple(atoms::badrpc, tuple(a_EXIT, r[1]));
                else if (r.is_tuple(2) && r[0].is_atom(a_signal))
                    result = tuple(atoms::badrpc, tuple(a_EXIT, r[1]));
                else
                    result = tuple(atoms::badrpc, tuple(a_EXIT, r));
                break;
            case exception_class::error:
                if (r.is_tuple(3) && r[0].is_atom(a_exception))
                    result = tuple(atoms::badrpc, tuple(a_EXIT, tuple(r[1], r[2])));
                else if (r.is_tuple(2) && r[0].is_atom(a_erpc) && r[1].is_atom(atoms::noconnection))
                    result = tuple(atoms::badrpc, a_nodedown);
                else if (r.is_tuple(2) && r[0].is_atom(a_erpc) &&
                         (r[1].is_atom(atoms::timeout) || r[1].is_atom(atoms::notsup)))
                    result = tuple(atoms::badrpc, r[1]);
                else if (r.is_tuple(2) && r[0].is_atom(a_erpc))
                    result = tuple(atoms::badrpc, tuple(a_EXIT, r[1]));
                else
                    result = tuple(atoms::badrpc, tuple(a_EXIT, r));
                break;
        }
    }
    co_return result;
}

void cast(atom node, atom m, atom f, term args) {
    (void)spawn_request_impl(node, a_erpc, a_execute_cast, list({term(m), term(f), std::move(args)}), false,
                             false, false);
}

}  // namespace rpc

}  // namespace nodus

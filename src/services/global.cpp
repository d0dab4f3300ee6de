// global: OTP 25's global_name_server protocol (version 8) and API (services.md §4, global.erl).
#include "nodus/services/global.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::global {

namespace {

const atom a_init_connect{"init_connect"};
const atom a_init_connect_ack{"init_connect_ack"};
const atom a_locker{"locker"};
const atom a_no_longer_a_pid{"no_longer_a_pid"};
const atom a_lock_set{"lock_set"};
const atom a_exchange{"exchange"};
const atom a_resolved{"resolved"};
const atom a_unused{"unused"};
const atom a_new_nodes{"new_nodes"};
const atom a_in_sync{"in_sync"};
const atom a_set_lock{"set_lock"};
const atom a_del_lock{"del_lock"};
const atom a_register{"register"};
const atom a_unregister{"unregister"};
const atom a_register_ext{"register_ext"};
const atom a_insert{"insert"};
const atom a_delete{"delete"};
const atom a_cancel_connect{"cancel_connect"};
const atom a_remove_connection{"remove_connection"};
const atom a_global{"global"};
const atom a_vsn{"vsn"};
const atom a_lock{"lock"};
const atom a_get_known{"get_known"};
const atom a_random_exit_name{"random_exit_name"};
// Messages between the server and its own helper processes.
const atom a_nodus_sync{"$nodus_sync"};
const atom a_locked{"$nodus_locked"};
const atom a_lock_failed{"$nodus_lock_failed"};
const atom a_retry_lock{"$nodus_retry_lock"};
const atom a_locker_done{"$nodus_locker_done"};
const atom a_release{"$nodus_release"};
const atom a_extra_nodedown{"extra_nodedown"};

constexpr std::int64_t protocol_vsn = 8;
constexpr std::chrono::milliseconds call_timeout{15000};

const term& gns() {
    static const term t(atoms::global_name_server);
    return t;
}
term server_of(atom n) {
    return tuple(atoms::global_name_server, n);
}
term cast(term msg) {
    return tuple(atoms::gen_cast, std::move(msg));
}

// What whereis_name/registered_names/known read without asking the server (OTP: ETS tables).
struct shared_table {
    std::shared_mutex mutex;
    std::unordered_map<term, term> names;  // name -> pid
    std::vector<atom> known;
};

std::mutex registry_mutex;
std::map<void*, std::shared_ptr<shared_table>> registry;

std::shared_ptr<shared_table> table_of(void* rt) {
    std::lock_guard l(registry_mutex);
    auto it = registry.find(rt);
    return it == registry.end() ? nullptr : it->second;
}
std::shared_ptr<shared_table> current_table() {
    return table_of(detail::current_runtime());
}

bool node_less(const term& p1, const term& p2) {
    return p1.pid_node().name() < p2.pid_node().name();
}

term default_method() {
    return make_export(a_global, a_random_exit_name, 3);
}

std::vector<atom> node_list(const term& known) {
    std::vector<atom> out;
    for (const term& k : known.list_elements().value_or(std::vector<term>{})) {
        if (k.is_atom())
            out.push_back(k.as_atom());
        else if (k.is_tuple(2) && k[0].is_atom())
            out.push_back(k[0].as_atom());
    }
    return out;
}

// OTP's random_exit_name/3: the pid whose node sorts first stays; the other is killed.
term resolve_default(const term& p1, const term& p2) {
    const term& min = node_less(p2, p1) ? p2 : p1;
    const term& max = node_less(p2, p1) ? p1 : p2;
    if (max.is_pid()) nodus::exit(max.as_pid(), term(atoms::kill));
    return min;
}

task<> sleep_for(std::chrono::milliseconds d) {
    auto never = [](const term&) { return false; };
    (void)co_await receive(never).after(d);
}

// ---------------------------------------------------------------------------------------------
// Helper processes of the server.

// OTP's random_sleep(Times): uniform in [1, Tmax] ms, Tmax 125 ms doubling per attempt up to 8 s.
std::chrono::milliseconds random_sleep_time(unsigned times, std::uint64_t random) {
    std::uint64_t tmax = times > 5 ? 8000 : ((std::uint64_t{1} << times) * 1000) / 8;
    return std::chrono::milliseconds(1 + random % tmax);
}

// Sets lock `id` on `nodes` in order, stopping at the first refusal. The nodes it was set on;
// all of them when it was set everywhere.
task<std::vector<atom>> lock_in_order(term id, std::vector<atom> nodes) {
    std::vector<atom> done;
    for (atom n : nodes) {
        term req = tuple(a_set_lock, id);
        auto r = co_await gen::call(server_of(n), req, call_timeout);
        if (!r || !r->is_atom(atoms::true_)) break;
        done.push_back(n);
    }
    co_return done;
}

// Releases lock `id` where lock_in_order set it, skipping nodes no longer connected: a call to
// one that went down would dial it again.
task<> unlock(term id, std::vector<atom> done) {
    std::vector<atom> up = erlang::nodes(node_kind::connected);
    for (atom n : done) {
        if (n != erlang::node() && std::find(up.begin(), up.end(), n) == up.end()) continue;
        term req = tuple(a_del_lock, id);
        (void)co_await gen::call(server_of(n), req, call_timeout);
    }
}

// Sets lock `id` on `nodes` (in order), reports to the server, holds the lock until released.
task<> locker_process(term server, atom peer, std::int64_t tag, term id, std::vector<atom> nodes) {
    std::size_t wanted = nodes.size();
    std::vector<atom> done = co_await lock_in_order(id, std::move(nodes));
    if (done.size() == wanted) {
        nodus::send(server, tuple(a_locked, peer, term(tag), self_term()));
        auto is_release = [](const term& m) { return m.is_atom(a_release); };
        (void)co_await receive(is_release);
    } else {
        nodus::send(server, tuple(a_lock_failed, peer, term(tag)));
    }
    co_await unlock(id, std::move(done));
    // Only now are our calls to the peers answered: sync() waits for this, so that a node
    // disconnected right after sync() gets no late answer that would dial us again.
    nodus::send(server, term(a_locker_done));
}

// sync_others/1: connect to a node the peer knows and tell it we are in sync.
task<> sync_other(term server, atom n) {
    bool up = co_await net_kernel::connect_node(n);
    if (up)
        nodus::send(server_of(n), cast(tuple(a_in_sync, erlang::node(), atoms::true_)));
    else
        nodus::send(server, tuple(a_extra_nodedown, n));
}

// ---------------------------------------------------------------------------------------------
// The server.

class server {
public:
    server(std::shared_ptr<shared_table> table, bool connect_all)
        : table_(std::move(table)), connect_all_(connect_all) {
        std::random_device rd;
        rng_.seed(rd());
        next_tag_ = -static_cast<std::int64_t>(rng_() & 0xffffffffu) - 1000;
    }

    task<> run() {
        net_kernel::monitor_nodes(true);
        for (atom n : erlang::nodes())
            nodeup(n);
        for (;;) {
            auto r = co_await receive();
            handle(*r);
        }
    }

private:
    struct session {
        std::int64_t my_tag = 0;
        std::optional<std::int64_t> his_tag;
        term his_locker;
        term lock_id;
        term locker;  // our locker process while it runs
        bool locking = false;
        bool our_lock = false;
        bool his_lock_set = false;
        bool lock_is_set = false;
        unsigned retries = 0;  // failed lock attempts: the backoff doubles with each
        std::optional<term> his_names;
        bool resolved_sent = false;
        std::vector<term> my_ops;
        std::optional<std::pair<term, term>> his_resolved;  // (ops for us, his known)
    };
    struct name_entry {
        term pid;
        term method;
    };
    struct lock_entry {
        term req_id;
        std::vector<term> holders;
    };

    // ---- dispatch ----
    void handle(const term& m) {
        if (m.is_tuple(3) && m[0].is_atom(atoms::gen_call) && m[1].is_tuple(2)) {
            call(m[1], m[2]);
            return;
        }
        if (m.is_tuple(2) && m[0].is_atom(atoms::gen_cast)) {
            handle_cast(m[1]);
            return;
        }
        if (m.is_atom(a_locker_done)) {
            --active_lockers_;
            sessions_changed();
            return;
        }
        if (!m.is_tuple() || m.tuple_size() == 0 || !m[0].is_atom()) return;
        atom tag = m[0].as_atom();
        if (tag == atoms::nodeup && m.tuple_size() >= 2 && m[1].is_atom())
            nodeup(m[1].as_atom());
        else if (tag == atoms::nodedown && m.tuple_size() >= 2 && m[1].is_atom())
            nodedown(m[1].as_atom());
        else if (tag == a_extra_nodedown && m.is_tuple(2) && m[1].is_atom())
            forget_node(m[1].as_atom());
        else if (tag == atoms::DOWN && m.is_tuple(5))
            pid_down(m[3]);
        else if (tag == a_locked && m.is_tuple(4))
            locked(m[1].as_atom(), m[2], m[3]);
        else if (tag == a_lock_failed && m.is_tuple(3))
            lock_failed(m[1].as_atom(), m[2]);
        else if (tag == a_retry_lock && m.is_tuple(3))
            retry_lock(m[1].as_atom(), m[2]);
        else if (tag == a_cancel_connect && m.is_tuple(3) && m[1].is_atom())
            cancel_connect(m[1].as_atom(), m[2]);
        else if (tag == a_remove_connection && m.is_tuple(2) && m[1].is_atom())
            remove_connection(m[1].as_atom());
        // init_connect_ack and lost_connection need nothing from us.
    }

    void reply(const term& from, term value) { nodus::send(from[0], tuple(from[1], std::move(value))); }

    void call(const term& from, const term& req) {
        if (req.is_tuple(2) && req[0].is_atom(a_set_lock) && req[1].is_tuple(2)) {
            reply(from, term(set_lock_local(req[1], from[0]) ? atoms::true_ : atoms::false_));
        } else if (req.is_tuple(2) && req[0].is_atom(a_del_lock) && req[1].is_tuple(2)) {
            del_lock_local(req[1], from[0]);
            reply(from, term(atoms::true_));
        } else if (req.is_tuple(4) && req[0].is_atom(a_register) && req[2].is_pid()) {
            insert_name(req[1], req[2], req[3]);
            reply(from, term(atoms::yes));
        } else if (req.is_tuple(5) && req[0].is_atom(a_register_ext) && req[2].is_pid()) {
            insert_name(req[1], req[2], req[3]);
            reply(from, term(atoms::yes));
        } else if (req.is_tuple(2) && req[0].is_atom(a_unregister)) {
            delete_name(req[1]);
            reply(from, term(atoms::ok));
        } else if (req.is_atom(a_nodus_sync)) {
            if (sessions_.empty() && active_lockers_ == 0)
                reply(from, term(atoms::ok));
            else
                sync_waiters_.push_back(from);
        } else if (req.is_atom(a_get_known)) {
            std::vector<term> k(known_.begin(), known_.end());
            reply(from, make_list(std::move(k)));
        }
        // Anything else: OTP logs and does not answer; so do we.
    }

    void handle_cast(const term& c) {
        if (!c.is_tuple() || c.tuple_size() == 0 || !c[0].is_atom()) return;
        atom tag = c[0].as_atom();
        if (tag == a_init_connect && c.is_tuple(4) && c[2].is_atom())
            init_connect(c);
        else if (tag == a_lock_set && c.is_tuple(5) && c[1].is_pid())
            lock_set(c);
        else if (tag == a_exchange && c.is_tuple(5) && c[1].is_atom())
            exchange(c);
        else if (tag == a_resolved && c.is_tuple(7) && c[1].is_atom())
            resolved(c);
        else if (tag == a_new_nodes && c.is_tuple(6) && c[1].is_atom())
            new_nodes(c);
        else if (tag == a_in_sync && c.is_tuple(3) && c[1].is_atom())
            in_sync(c[1].as_atom());
    }

    // ---- sessions ----
    session* find(atom n, const term& my_tag) {
        auto it = sessions_.find(n);
        if (it == sessions_.end()) return nullptr;
        auto t = my_tag.to_int64();
        if (!t || *t != it->second.my_tag) return nullptr;
        return &it->second;
    }

    void nodeup(atom n) {
        if (!connect_all_ || n == erlang::node()) return;
        if (known_.count(n) || sessions_.count(n)) return;
        session s;
        s.my_tag = next_tag_--;
        sessions_[n] = s;
        term locker = tuple(a_locker, a_no_longer_a_pid, make_map({}), self_term());
        nodus::send(server_of(n), cast(tuple(a_init_connect, tuple(term(protocol_vsn), term(s.my_tag)),
                                             erlang::node(), locker)));
        auto pre = pre_connect_.find(n);
        if (pre != pre_connect_.end()) {
            term c = pre->second;
            pre_connect_.erase(pre);
            init_connect(c);
        }
    }

    void init_connect(const term& c) {
        atom n = c[2].as_atom();
        const term& vsn = c[1];
        if (!vsn.is_tuple() || vsn.tuple_size() < 2) return;
        auto it = sessions_.find(n);
        if (it == sessions_.end()) {
            pre_connect_[n] = c;  // before our nodeup: handled when it comes
            return;
        }
        session& s = it->second;
        auto his_tag = vsn[1].to_int64();
        if (!his_tag) return;
        s.his_tag = *his_tag;
        const term& init = c[3];
        if (init.is_tuple(4)) s.his_locker = init[3];
        nodus::send(server_of(n),
                    tuple(a_init_connect_ack, erlang::node(), term(*s.his_tag), term(s.my_tag)));
        std::vector<term> pair{self_term(), s.his_locker};
        std::sort(pair.begin(), pair.end(), [](const term& x, const term& y) { return compare(x, y) < 0; });
        s.lock_id = tuple(a_global, make_list(std::move(pair)));
        start_locker(n, s);
    }

    void start_locker(atom peer, session& s) {
        if (s.locking || s.our_lock) return;
        // Nodes in a fixed order, the boss (largest name) first, as OTP's locker does.
        std::vector<atom> nodes{erlang::node(), peer};
        for (atom k : known_)
            if (k != peer) nodes.push_back(k);
        std::sort(nodes.begin(), nodes.end(), [](atom a, atom b) { return a.name() > b.name(); });
        nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
        s.locking = true;
        s.locker = term(spawn(locker_process, self_term(), peer, s.my_tag, s.lock_id, nodes));
        ++active_lockers_;
    }

    void locked(atom peer, const term& tag, const term& locker) {
        session* s = find(peer, tag);
        if (!s) {
            nodus::send(locker, term(a_release));
            return;
        }
        s->locking = false;
        s->our_lock = true;
        s->locker = locker;
        nodus::send(server_of(peer),
                    cast(tuple(a_lock_set, self_term(), atoms::true_, known_list(), term(*s->his_tag))));
        if (s->his_lock_set) lock_is_set(peer, *s);
    }

    void lock_failed(atom peer, const term& tag) {
        session* s = find(peer, tag);
        if (!s) return;
        s->locking = false;
        s->locker = term();
        if (s->his_lock_set) {
            // He waits for our answer: say no, so that he releases his partition too.
            nodus::send(server_of(peer),
                        cast(tuple(a_lock_set, self_term(), atoms::false_, known_list(), term(*s->his_tag))));
            s->his_lock_set = false;
        }
        schedule_retry(peer, *s);
    }

    void schedule_retry(atom peer, session& s) {
        send_after(random_sleep_time(s.retries++, rng_()), self_term(), tuple(a_retry_lock, peer, term(s.my_tag)));
    }

    void retry_lock(atom peer, const term& tag) {
        session* s = find(peer, tag);
        if (s && s->his_tag && !s->lock_is_set) start_locker(peer, *s);
    }

    void lock_set(const term& c) {
        atom peer = c[1].pid_node();
        session* s = find(peer, c[4]);
        if (!s || !s->his_tag) return;
        if (c[2].is_atom(atoms::true_)) {
            s->his_lock_set = true;
            if (s->our_lock)
                lock_is_set(peer, *s);
            else
                start_locker(peer, *s);
        } else {
            // He gave up; release ours and try again later (his locker retries too).
            s->his_lock_set = false;
            if (s->our_lock && !s->lock_is_set) {
                nodus::send(s->locker, term(a_release));
                s->our_lock = false;
                s->locker = term();
                schedule_retry(peer, *s);
            }
        }
    }

    void lock_is_set(atom peer, session& s) {
        if (s.lock_is_set) return;
        s.lock_is_set = true;
        nodus::send(server_of(peer),
                    cast(tuple(a_exchange, erlang::node(), names_list(), term(), term(*s.his_tag))));
        if (s.his_names) resolve(peer, s);
    }

    void exchange(const term& c) {
        atom peer = c[1].as_atom();
        session* s = find(peer, c[4]);
        if (!s) return;
        s->his_names = c[2];
        if (s->lock_is_set) resolve(peer, *s);
    }

    // exchange_names/4: what we must apply (ops) and what the peer must apply (res).
    void resolve(atom peer, session& s) {
        if (s.resolved_sent) return;
        std::vector<term> ops, res;
        bool we_resolve = erlang::node().name() < peer.name();
        for (const term& e : s.his_names->list_elements().value_or(std::vector<term>{})) {
            if (!e.is_tuple(3) || !e[1].is_pid()) continue;
            const term& name = e[0];
            const term& his_pid = e[1];
            auto it = names_.find(name);
            if (it == names_.end()) {
                ops.push_back(tuple(a_insert, e));
            } else if (it->second.pid == his_pid) {
                continue;
            } else if (we_resolve) {
                term ours = it->second.pid;
                term method = it->second.method;
                term winner = resolve_default(his_pid, ours);
                if (winner == his_pid)
                    ops.push_back(tuple(a_insert, e));
                else
                    res.push_back(tuple(a_insert, tuple(name, ours, method)));
            }
        }
        s.my_ops = std::move(ops);
        s.resolved_sent = true;
        nodus::send(server_of(peer), cast(tuple(a_resolved, erlang::node(), make_list(std::move(res)),
                                                known_vsn_list(peer), a_unused, term(), term(*s.his_tag))));
        if (s.his_resolved) finish(peer);
    }

    void resolved(const term& c) {
        atom peer = c[1].as_atom();
        session* s = find(peer, c[6]);
        if (!s) return;
        s->his_resolved = std::make_pair(c[2], c[3]);
        if (s->resolved_sent) finish(peer);
    }

    void finish(atom peer) {
        session s = std::move(sessions_[peer]);
        sessions_.erase(peer);
        std::vector<term> ops = s.my_ops;
        for (const term& op : s.his_resolved->first.list_elements().value_or(std::vector<term>{}))
            ops.push_back(op);
        std::vector<atom> his_known = node_list(s.his_resolved->second);
        std::vector<term> new_nodes{tuple(peer, term(protocol_vsn))};
        for (atom k : his_known)
            if (k != erlang::node()) new_nodes.push_back(tuple(k, term(protocol_vsn)));
        for (atom k : his_known)
            if (k != erlang::node()) spawn(sync_other, self_term(), k);
        do_ops(ops);
        // Tell the nodes we knew before about the peer's partition.
        term extra = list({tuple(a_vsn, term(protocol_vsn)), tuple(a_lock, s.lock_id)});
        term msg = cast(tuple(a_new_nodes, erlang::node(), make_list(std::vector<term>(ops)), term(),
                              make_list(std::vector<term>(new_nodes)), extra));
        for (atom k : known_)
            if (k != peer) nodus::send(server_of(k), msg);
        if (s.locker.is_pid()) nodus::send(s.locker, term(a_release));
        add_known(peer);
        for (atom k : his_known)
            add_known(k);
        sessions_changed();
    }

    void new_nodes(const term& c) {
        std::vector<atom> added;
        for (atom n : node_list(c[4]))
            if (n != erlang::node() && !known_.count(n)) added.push_back(n);
        for (atom n : added) {
            add_known(n);
            spawn(sync_other, self_term(), n);
        }
        do_ops(c[2].list_elements().value_or(std::vector<term>{}));
    }

    void in_sync(atom n) {
        if (n == erlang::node()) return;
        add_known(n);
        drop_session(n);
        sessions_changed();
    }

    void cancel_connect(atom n, const term& tag) {
        if (!find(n, tag)) return;
        drop_session(n);
        auto up = erlang::nodes();
        if (std::find(up.begin(), up.end(), n) != up.end()) nodeup(n);
        sessions_changed();
    }

    void remove_connection(atom n) {
        forget_node(n);
        erlang::disconnect_node(n);
    }

    void nodedown(atom n) { forget_node(n); }

    void forget_node(atom n) {
        drop_session(n);
        pre_connect_.erase(n);
        if (known_.erase(n)) publish_known();
        sessions_changed();
    }

    void drop_session(atom n) {
        auto it = sessions_.find(n);
        if (it == sessions_.end()) return;
        if (it->second.locker.is_pid()) nodus::send(it->second.locker, term(a_release));
        sessions_.erase(it);
    }

    void sessions_changed() {
        if (!sessions_.empty() || active_lockers_ > 0) return;
        for (const term& from : sync_waiters_)
            reply(from, term(atoms::ok));
        sync_waiters_.clear();
    }

    // ---- names, locks, known ----
    void add_known(atom n) {
        if (n == erlang::node() || !known_.insert(n).second) return;
        publish_known();
    }
    void publish_known() {
        std::unique_lock l(table_->mutex);
        table_->known.assign(known_.begin(), known_.end());
    }
    term known_list() const {
        std::vector<term> k;
        for (atom n : known_)
            k.push_back(term(n));
        return make_list(std::move(k));
    }
    term known_vsn_list(atom except) const {
        std::vector<term> k;
        for (atom n : known_)
            if (n != except) k.push_back(tuple(n, term(protocol_vsn)));
        return make_list(std::move(k));
    }
    term names_list() const {
        std::vector<term> l;
        for (const auto& [name, e] : names_)
            l.push_back(tuple(name, e.pid, e.method));
        return make_list(std::move(l));
    }

    void watch(const term& p) {
        if (!p.is_pid() || watched_.count(p)) return;
        watched_.insert(p);
        nodus::monitor(p);
    }

    void insert_name(const term& name, const term& p, const term& method) {
        names_[name] = name_entry{p, method};
        watch(p);
        std::unique_lock l(table_->mutex);
        table_->names[name] = p;
    }
    void delete_name(const term& name) {
        names_.erase(name);
        std::unique_lock l(table_->mutex);
        table_->names.erase(name);
    }
    void do_ops(const std::vector<term>& ops) {
        for (const term& op : ops) {
            if (op.is_tuple(2) && op[0].is_atom(a_insert) && op[1].is_tuple(3) && op[1][1].is_pid())
                insert_name(op[1][0], op[1][1], op[1][2]);
            else if (op.is_tuple(2) && op[0].is_atom(a_delete))
                delete_name(op[1]);
        }
    }

    bool set_lock_local(const term& id, const term& holder) {
        auto it = locks_.find(id[0]);
        if (it != locks_.end() && it->second.req_id != id[1]) return false;
        lock_entry& e = locks_[id[0]];
        e.req_id = id[1];
        if (std::find(e.holders.begin(), e.holders.end(), holder) == e.holders.end())
            e.holders.push_back(holder);
        watch(holder);
        return true;
    }
    void del_lock_local(const term& id, const term& holder) {
        auto it = locks_.find(id[0]);
        if (it == locks_.end() || it->second.req_id != id[1]) return;
        auto& h = it->second.holders;
        h.erase(std::remove(h.begin(), h.end(), holder), h.end());
        if (h.empty()) locks_.erase(it);
    }

    void pid_down(const term& p) {
        watched_.erase(p);
        std::vector<term> gone;
        for (const auto& [name, e] : names_)
            if (e.pid == p) gone.push_back(name);
        for (const term& name : gone)
            delete_name(name);
        for (auto it = locks_.begin(); it != locks_.end();) {
            auto& h = it->second.holders;
            h.erase(std::remove(h.begin(), h.end(), p), h.end());
            it = h.empty() ? locks_.erase(it) : std::next(it);
        }
    }

    std::shared_ptr<shared_table> table_;
    bool connect_all_;
    std::mt19937_64 rng_;
    std::int64_t next_tag_;
    std::unordered_map<atom, session> sessions_;
    std::unordered_map<atom, term> pre_connect_;
    std::unordered_set<atom> known_;
    std::unordered_map<term, name_entry> names_;
    std::unordered_map<term, lock_entry> locks_;
    std::unordered_set<term> watched_;
    std::vector<term> sync_waiters_;
    int active_lockers_ = 0;  // locker processes that have not finished unlocking
};

task<> server_process(std::shared_ptr<shared_table> table, bool connect_all) {
    if (!register_name(atoms::global_name_server, self())) co_return;
    server s(std::move(table), connect_all);
    co_await s.run();
}

std::vector<atom> lock_nodes() {
    std::vector<atom> ns{erlang::node()};
    if (auto t = current_table()) {
        std::shared_lock l(t->mutex);
        for (atom k : t->known)
            ns.push_back(k);
    }
    return ns;
}

task<term> call_all(std::vector<atom> nodes, term req) {
    term last;
    for (atom n : nodes) {
        auto r = co_await gen::call(server_of(n), req, call_timeout);
        if (r) last = *r;
    }
    co_return last;
}

}  // namespace

pid start(node& n) {
    runtime& rt = n.rt();
    if (auto existing = rt.whereis(atoms::global_name_server)) return *existing;
    auto table = std::make_shared<shared_table>();
    {
        std::lock_guard l(registry_mutex);
        registry[rt.impl()] = table;
    }
    return rt.spawn(server_process, table, n.config().connect_all);
}

task<bool> set_lock(term id, std::optional<std::vector<atom>> nodes, int retries) {
    if (!id.is_tuple(2)) throw error_exception(term(atoms::badarg));
    std::vector<atom> ns = nodes ? *nodes : lock_nodes();
    std::sort(ns.begin(), ns.end(), [](atom a, atom b) { return a.name() > b.name(); });
    ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
    thread_local std::mt19937_64 rng{std::random_device{}()};
    for (unsigned round = 0;; ++round) {
        std::vector<atom> done = co_await lock_in_order(id, ns);
        if (done.size() == ns.size()) co_return true;
        co_await unlock(id, std::move(done));
        if (retries >= 0 && round >= static_cast<unsigned>(retries)) co_return false;
        co_await sleep_for(random_sleep_time(round, rng()));
    }
}

task<> del_lock(term id, std::optional<std::vector<atom>> nodes) {
    std::vector<atom> ns = nodes ? *nodes : lock_nodes();
    term req = tuple(a_del_lock, std::move(id));
    (void)co_await call_all(ns, req);
}

task<atom> register_name(term name, pid p) {
    term id = tuple(a_global, self_term());
    std::vector<atom> ns = lock_nodes();
    (void)co_await set_lock(id, ns, -1);
    atom answer = atoms::no;
    if (!whereis_name(name)) {
        term req = tuple(a_register, name, p.as_term(), default_method());
        (void)co_await call_all(ns, req);
        answer = atoms::yes;
    }
    co_await del_lock(id, ns);
    co_return answer;
}

task<> re_register_name(term name, pid p) {
    term id = tuple(a_global, self_term());
    std::vector<atom> ns = lock_nodes();
    (void)co_await set_lock(id, ns, -1);
    term req = tuple(a_register, std::move(name), p.as_term(), default_method());
    (void)co_await call_all(ns, req);
    co_await del_lock(id, ns);
}

task<> unregister_name(term name) {
    term id = tuple(a_global, self_term());
    std::vector<atom> ns = lock_nodes();
    (void)co_await set_lock(id, ns, -1);
    term req = tuple(a_unregister, std::move(name));
    (void)co_await call_all(ns, req);
    co_await del_lock(id, ns);
}

std::optional<pid> whereis_name(const term& name) {
    auto t = current_table();
    if (!t) return std::nullopt;
    std::shared_lock l(t->mutex);
    auto it = t->names.find(name);
    if (it == t->names.end()) return std::nullopt;
    return it->second.as_pid();
}

bool send(const term& name, term message) {
    auto p = whereis_name(name);
    if (!p) return false;
    nodus::send(p->as_term(), std::move(message));
    return true;
}

std::vector<term> registered_names() {
    std::vector<term> out;
    if (auto t = current_table()) {
        std::shared_lock l(t->mutex);
        for (const auto& [name, p] : t->names)
            out.push_back(name);
    }
    return out;
}

task<> sync() {
    term req(a_nodus_sync);
    (void)co_await gen::call(gns(), req, gen::infinity_ms);
}

void register_global_exports(export_table& t) {
    auto need_pid = [](const term& p) {
        if (!p.is_pid()) throw error_exception(term(atoms::badarg));
        return p.as_pid();
    };
    t.add(a_global, atom("register_name"), 2, [need_pid](std::vector<term> a) -> task<term> {
        pid p = need_pid(a[1]);
        co_return term(co_await register_name(a[0], p));
    });
    t.add(a_global, atom("re_register_name"), 2, [need_pid](std::vector<term> a) -> task<term> {
        pid p = need_pid(a[1]);
        co_await re_register_name(a[0], p);
        co_return term(atoms::yes);
    });
    t.add(a_global, atom("unregister_name"), 1, [](std::vector<term> a) -> task<term> {
        co_await unregister_name(a[0]);
        co_return term(atoms::ok);
    });
    t.add(a_global, atom("whereis_name"), 1, [](std::vector<term> a) -> task<term> {
        auto p = whereis_name(a[0]);
        co_return p ? p->as_term() : term(atoms::undefined);
    });
    t.add(a_global, atom("send"), 2, [](std::vector<term> a) -> task<term> {
        auto p = whereis_name(a[0]);
        if (!p) throw exit_exception(tuple(atoms::badarg, tuple(a[0], a[1])));
        nodus::send(p->as_term(), a[1]);
        co_return p->as_term();
    });
    t.add(a_global, atom("registered_names"), 0,
          [](std::vector<term>) -> task<term> { co_return make_list(registered_names()); });
    t.add(a_global, atom("sync"), 0, [](std::vector<term>) -> task<term> {
        co_await sync();
        co_return term(atoms::ok);
    });
    t.add(a_global, a_set_lock, 1, [](std::vector<term> a) -> task<term> {
        co_return term(co_await set_lock(a[0]) ? atoms::true_ : atoms::false_);
    });
    auto nodes_arg = [](const term& l) {
        std::vector<atom> ns;
        for (const term& n : l.list_elements().value_or(std::vector<term>{}))
            if (n.is_atom()) ns.push_back(n.as_atom());
        return ns;
    };
    t.add(a_global, a_set_lock, 2, [nodes_arg](std::vector<term> a) -> task<term> {
        co_return term(co_await set_lock(a[0], nodes_arg(a[1])) ? atoms::true_ : atoms::false_);
    });
    t.add(a_global, a_set_lock, 3, [nodes_arg](std::vector<term> a) -> task<term> {
        int retries = a[2].is_atom(atoms::infinity) ? -1 : static_cast<int>(a[2].to_int64().value_or(0));
        co_return term(co_await set_lock(a[0], nodes_arg(a[1]), retries) ? atoms::true_ : atoms::false_);
    });
    t.add(a_global, a_del_lock, 1, [](std::vector<term> a) -> task<term> {
        co_await del_lock(a[0]);
        co_return term(atoms::true_);
    });
    t.add(a_global, a_del_lock, 2, [nodes_arg](std::vector<term> a) -> task<term> {
        co_await del_lock(a[0], nodes_arg(a[1]));
        co_return term(atoms::true_);
    });
    t.add(a_global, a_random_exit_name, 3,
          [](std::vector<term> a) -> task<term> { co_return resolve_default(a[1], a[2]); });
    // rpc:call(Node, global, resolve_it, [Method, Name, Pid1, Pid2]) from a conflict on an OTP node.
    t.add(a_global, atom("resolve_it"), 4,
          [](std::vector<term> a) -> task<term> { co_return resolve_default(a[2], a[3]); });
}

}  // namespace nodus::global

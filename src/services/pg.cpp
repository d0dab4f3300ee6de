// pg scopes (OTP 25 pg.erl's protocol and semantics; services.md §5).
#include "nodus/services/pg.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "nodus/node/net.hpp"
#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::pg {

namespace {

const atom a_discover{"discover"};
const atom a_sync{"sync"};
const atom a_join{"join"};
const atom a_leave{"leave"};
const atom a_join_local{"join_local"};
const atom a_leave_local{"leave_local"};
const atom a_monitor{"monitor"};
const atom a_demonitor{"demonitor"};
const atom a_not_joined{"not_joined"};
const atom a_nolocal{"nolocal"};

// What get_members reads without asking the scope process (OTP keeps it in an ETS table).
struct members {
    std::vector<term> all;    // newest first
    std::vector<term> local;  // newest first
};
struct scope_table {
    std::shared_mutex mutex;
    std::unordered_map<term, members> groups;
};

// Scopes by (runtime, name): one table per scope per node.
std::mutex registry_mutex;
std::map<std::pair<void*, std::uint32_t>, std::shared_ptr<scope_table>> registry;

std::shared_ptr<scope_table> table_for(void* rt, atom scope, bool create) {
    std::lock_guard l(registry_mutex);
    auto key = std::make_pair(rt, scope.index());
    auto it = registry.find(key);
    if (it != registry.end()) return it->second;
    if (!create) return nullptr;
    auto t = std::make_shared<scope_table>();
    registry[key] = t;
    return t;
}

void* current_rt() {
    return detail::current_runtime();
}

std::vector<term> pids_of(const term& pid_or_pids) {
    if (pid_or_pids.is_pid()) return {pid_or_pids};
    return pid_or_pids.list_elements().value_or(std::vector<term>{});
}

void erase_one(std::vector<term>& v, const term& x) {
    auto it = std::find(v.begin(), v.end(), x);
    if (it != v.end()) v.erase(it);
}
void erase_all_of(std::vector<term>& v, const std::vector<term>& xs) {
    for (const term& x : xs)
        erase_one(v, x);  // Erlang's --: removes one occurrence each
}

// The scope process (pg.erl's gen_server) as a coroutine.
class scope_state {
public:
    scope_state(atom scope, std::shared_ptr<scope_table> table) : scope_(scope), table_(std::move(table)) {}

    task<> run() {
        net_kernel::monitor_nodes(true);
        for (atom n : erlang::nodes())
            send(tuple(scope_, n), tuple(a_discover, self_term()));
        for (;;) {
            auto r = co_await receive();
            handle(*r);
        }
    }

private:
    struct local_entry {
        term mref;
        std::vector<term> groups;
    };
    struct remote_entry {
        term mref;
        std::unordered_map<term, std::vector<term>> groups;
    };

    void handle(const term& m) {
        if (m.is_tuple(3) && m[0].is_atom(atoms::gen_call) && m[1].is_tuple(2)) {
            term from = m[1];
            term reply = call(from, m[2]);
            send(from[0], tuple(from[1], reply));
            return;
        }
        if (m.is_tuple(2) && m[0].is_atom(atoms::gen_cast)) {
            const term& c = m[1];
            if (c.is_tuple(3) && c[0].is_atom(a_sync) && c[1].is_pid()) on_sync(c[1], c[2]);
            return;
        }
        if (m.is_tuple(4) && m[0].is_atom(a_join) && m[1].is_pid()) {
            auto it = remote_.find(m[1]);
            if (it == remote_.end()) return;
            auto pids = pids_of(m[3]);
            join_remote_table(m[2], pids);
            auto& g = it->second.groups[m[2]];
            g.insert(g.begin(), pids.begin(), pids.end());
            return;
        }
        if (m.is_tuple(4) && m[0].is_atom(a_leave) && m[1].is_pid()) {
            auto it = remote_.find(m[1]);
            if (it == remote_.end()) return;
            auto pids = pids_of(m[2]);
            for (const term& grp : m[3].list_elements().value_or(std::vector<term>{})) {
                leave_remote_table(grp, pids);
                auto g = it->second.groups.find(grp);
                if (g != it->second.groups.end()) {
                    erase_all_of(g->second, pids);
                    if (g->second.empty()) it->second.groups.erase(g);
                }
            }
            return;
        }
        if (m.is_tuple(2) && m[0].is_atom(a_discover) && m[1].is_pid()) {
            send(m[1], tuple(atoms::gen_cast, tuple(a_sync, self_term(), all_local())));
            if (!remote_.count(m[1])) {
                reference mref = nodus::monitor(m[1]);
                remote_[m[1]] = remote_entry{mref, {}};
                send(m[1], tuple(a_discover, self_term()));
            }
            return;
        }
        if (m.is_tuple(5) && m[0].is_atom(atoms::DOWN)) {
            on_down(m[1], m[3]);
            return;
        }
        if (m.is_tuple(2) && m[0].is_atom(atoms::nodeup) && m[1].is_atom()) {
            if (m[1].as_atom() != erlang::node()) send(tuple(scope_, m[1]), tuple(a_discover, self_term()));
            return;
        }
        // nodedown and anything else: nothing to do (OTP crashes on unexpected messages; a
        // C++ scope prefers to stay up).
    }

    term call(const term& from, const term& req) {
        if (req.is_tuple(3) && req[0].is_atom(a_join_local)) {
            auto pids = pids_of(req[2]);
            for (const term& p : pids) {
                auto it = local_.find(p);
                if (it == local_.end()) {
                    reference mref = nodus::monitor(p);
                    local_[p] = local_entry{mref, {req[1]}};
                } else {
                    it->second.groups.insert(it->second.groups.begin(), req[1]);
                }
            }
            {
                std::unique_lock l(table_->mutex);
                members& mb = table_->groups[req[1]];
                mb.all.insert(mb.all.begin(), pids.begin(), pids.end());
                mb.local.insert(mb.local.begin(), pids.begin(), pids.end());
            }
            notify(a_join, req[1], pids);
            broadcast(tuple(a_join, self_term(), req[1], req[2]));
            return term(atoms::ok);
        }
        if (req.is_tuple(3) && req[0].is_atom(a_leave_local)) {
            auto pids = pids_of(req[2]);
            bool changed = false;
            for (const term& p : pids) {
                auto it = local_.find(p);
                if (it == local_.end()) continue;
                auto& gs = it->second.groups;
                auto g = std::find(gs.begin(), gs.end(), req[1]);
                if (g == gs.end()) continue;
                changed = true;
                gs.erase(g);
                if (gs.empty()) {
                    nodus::demonitor(it->second.mref.as_reference());
                    local_.erase(it);
                }
            }
            if (!changed) return term(a_not_joined);
            leave_local_table(req[1], pids);
            broadcast(tuple(a_leave, self_term(), req[2], list({req[1]})));
            return term(atoms::ok);
        }
        if (req.is_atom(a_monitor)) {
            reference mref = nodus::monitor(from[0]);
            scope_monitors_[mref] = from[0];
            std::vector<std::pair<term, term>> all;
            {
                std::shared_lock l(table_->mutex);
                for (auto& [g, mb] : table_->groups)
                    all.emplace_back(g, make_list(std::span<const term>(mb.all)));
            }
            return tuple(mref, make_map(std::move(all)));
        }
        if (req.is_tuple(2) && req[0].is_atom(a_monitor)) {
            reference mref = nodus::monitor(from[0]);
            group_monitors_[mref] = {from[0], req[1]};
            monitored_groups_[req[1]].emplace_back(from[0], mref);
            std::vector<term> current;
            {
                std::shared_lock l(table_->mutex);
                auto it = table_->groups.find(req[1]);
                if (it != table_->groups.end()) current = it->second.all;
            }
            return tuple(mref, make_list(std::move(current)));
        }
        if (req.is_tuple(2) && req[0].is_atom(a_demonitor)) {
            const term& ref = req[1];
            if (scope_monitors_.erase(ref)) {
                nodus::demonitor(ref.as_reference());
                return term(atoms::ok);
            }
            auto it = group_monitors_.find(ref);
            if (it == group_monitors_.end()) return term(atoms::false_);
            nodus::demonitor(ref.as_reference());
            drop_group_monitor(it->second.second, ref);
            group_monitors_.erase(it);
            return term(atoms::ok);
        }
        return term(atoms::badarg);
    }

    void on_sync(const term& peer, const term& groups_list) {
        auto it = remote_.find(peer);
        if (it == remote_.end()) {
            reference mref = nodus::monitor(peer);
            it = remote_.emplace(peer, remote_entry{mref, {}}).first;
        }
        auto old = std::move(it->second.groups);
        std::unordered_map<term, std::vector<term>> fresh;
        for (const term& gp : groups_list.list_elements().value_or(std::vector<term>{})) {
            if (!gp.is_tuple(2)) continue;
            auto pids = gp[1].list_elements().value_or(std::vector<term>{});
            auto prev = old.find(gp[0]);
            if (prev != old.end()) {
                if (prev->second != pids) {
                    // AllNew = Pids ++ AllOld -- Old
                    std::unique_lock l(table_->mutex);
                    members& mb = table_->groups[gp[0]];
                    erase_all_of(mb.all, prev->second);
                    mb.all.insert(mb.all.begin(), pids.begin(), pids.end());
                }
                old.erase(prev);
            } else {
                join_remote_table(gp[0], pids);
            }
            fresh[gp[0]] = std::move(pids);
        }
        for (auto& [g, pids] : old)
            leave_remote_table(g, pids);  // groups the peer no longer has
        it->second.groups = std::move(fresh);
    }

    void on_down(const term& mref, const term& who) {
        if (who.is_pid() && who.pid_node() == erlang::node()) {
            auto it = local_.find(who);
            if (it != local_.end() && it->second.mref == mref) {
                auto groups = std::move(it->second.groups);
                local_.erase(it);
                for (const term& g : groups)
                    leave_local_table(g, {who});
                broadcast(tuple(a_leave, self_term(), who, make_list(std::move(groups))));
                return;
            }
        } else {
            auto it = remote_.find(who);
            if (it != remote_.end() && it->second.mref == mref) {
                for (auto& [g, pids] : it->second.groups)
                    leave_remote_table(g, pids);
                remote_.erase(it);
                return;
            }
        }
        // A monitoring process went away.
        scope_monitors_.erase(mref);
        auto gm = group_monitors_.find(mref);
        if (gm != group_monitors_.end()) {
            drop_group_monitor(gm->second.second, mref);
            group_monitors_.erase(gm);
        }
    }

    void join_remote_table(const term& group, const std::vector<term>& pids) {
        {
            std::unique_lock l(table_->mutex);
            members& mb = table_->groups[group];
            mb.all.insert(mb.all.begin(), pids.begin(), pids.end());
        }
        notify(a_join, group, pids);
    }
    void leave_remote_table(const term& group, const std::vector<term>& pids) {
        {
            std::unique_lock l(table_->mutex);
            auto it = table_->groups.find(group);
            if (it == table_->groups.end()) return;
            erase_all_of(it->second.all, pids);
            if (it->second.all.empty() && it->second.local.empty()) table_->groups.erase(it);
        }
        notify(a_leave, group, pids);
    }
    void leave_local_table(const term& group, const std::vector<term>& pids) {
        {
            std::unique_lock l(table_->mutex);
            auto it = table_->groups.find(group);
            if (it == table_->groups.end()) return;
            erase_all_of(it->second.all, pids);
            erase_all_of(it->second.local, pids);
            if (it->second.all.empty()) table_->groups.erase(it);
        }
        notify(a_leave, group, pids);
    }

    void notify(atom action, const term& group, const std::vector<term>& pids) {
        term list_pids = make_list(std::span<const term>(pids));
        for (auto& [ref, who] : scope_monitors_)
            send(who, tuple(ref, action, group, list_pids));
        auto it = monitored_groups_.find(group);
        if (it == monitored_groups_.end()) return;
        for (auto& [who, ref] : it->second)
            send(who, tuple(ref, action, group, list_pids));
    }

    void drop_group_monitor(const term& group, const term& ref) {
        auto it = monitored_groups_.find(group);
        if (it == monitored_groups_.end()) return;
        auto& v = it->second;
        v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& e) { return e.second == ref; }), v.end());
        if (v.empty()) monitored_groups_.erase(it);
    }

    term all_local() const {
        std::unordered_map<term, std::vector<term>> by_group;
        for (auto& [p, e] : local_)
            for (const term& g : e.groups)
                by_group[g].insert(by_group[g].begin(), p);
        std::vector<term> out;
        for (auto& [g, pids] : by_group)
            out.push_back(tuple(g, make_list(std::move(pids))));
        return make_list(std::move(out));
    }

    void broadcast(const term& msg) {
        for (auto& [peer, e] : remote_)
            send(peer, msg);
    }

    atom scope_;
    std::shared_ptr<scope_table> table_;
    std::unordered_map<term, local_entry> local_;
    std::unordered_map<term, remote_entry> remote_;
    std::unordered_map<term, term> scope_monitors_;                                  // ref -> pid
    std::unordered_map<term, std::pair<term, term>> group_monitors_;                 // ref -> (pid, group)
    std::unordered_map<term, std::vector<std::pair<term, term>>> monitored_groups_;  // group -> (pid, ref)
};

task<> scope_process(atom scope, std::shared_ptr<scope_table> table) {
    if (!register_name(scope, self())) co_return;  // already running
    scope_state st(scope, std::move(table));
    co_await st.run();
}

void ensure_local(const term& pid_or_pids) {
    atom me = erlang::node();
    auto check = [&](const term& p) {
        if (!p.is_pid() || p.pid_node() != me) throw error_exception(tuple(a_nolocal, p));
    };
    if (pid_or_pids.is_pid()) {
        check(pid_or_pids);
        return;
    }
    auto v = pid_or_pids.list_elements();
    if (!v) throw error_exception(tuple(a_nolocal, pid_or_pids));
    for (const term& p : *v)
        check(p);
}

task<term> scope_call(atom scope, term req) {
    term why;
    auto r = co_await gen::call(term(scope), std::move(req), gen::infinity_ms, &why);
    if (!r) throw exit_exception(why);
    co_return *r;
}

}  // namespace

pid start_scope(node& n, atom scope) {
    runtime& rt = n.rt();
    if (auto existing = rt.whereis(scope)) return *existing;
    auto table = table_for(rt.impl(), scope, true);
    return rt.spawn(scope_process, scope, table);
}

task<> join(atom scope, term group, term pid_or_pids) {
    ensure_local(pid_or_pids);
    (void)co_await scope_call(scope, tuple(a_join_local, std::move(group), std::move(pid_or_pids)));
}

task<atom> leave(atom scope, term group, term pid_or_pids) {
    ensure_local(pid_or_pids);
    term r = co_await scope_call(scope, tuple(a_leave_local, std::move(group), std::move(pid_or_pids)));
    co_return r.as_atom();
}

std::vector<term> get_members(atom scope, const term& group) {
    auto t = table_for(current_rt(), scope, false);
    if (!t) return {};
    std::shared_lock l(t->mutex);
    auto it = t->groups.find(group);
    return it == t->groups.end() ? std::vector<term>{} : it->second.all;
}

std::vector<term> get_local_members(atom scope, const term& group) {
    auto t = table_for(current_rt(), scope, false);
    if (!t) return {};
    std::shared_lock l(t->mutex);
    auto it = t->groups.find(group);
    return it == t->groups.end() ? std::vector<term>{} : it->second.local;
}

std::vector<term> which_groups(atom scope) {
    auto t = table_for(current_rt(), scope, false);
    std::vector<term> out;
    if (!t) return out;
    std::shared_lock l(t->mutex);
    for (auto& [g, mb] : t->groups)
        out.push_back(g);
    return out;
}

std::vector<term> which_local_groups(atom scope) {
    auto t = table_for(current_rt(), scope, false);
    std::vector<term> out;
    if (!t) return out;
    std::shared_lock l(t->mutex);
    for (auto& [g, mb] : t->groups)
        if (!mb.local.empty()) out.push_back(g);
    return out;
}

task<std::pair<reference, term>> monitor_scope(atom scope) {
    term r = co_await scope_call(scope, term(a_monitor));
    co_return std::pair<reference, term>(r[0].as_reference(), r[1]);
}

task<std::pair<reference, term>> monitor(atom scope, term group) {
    term r = co_await scope_call(scope, tuple(a_monitor, std::move(group)));
    co_return std::pair<reference, term>(r[0].as_reference(), r[1]);
}

task<bool> demonitor(atom scope, reference ref) {
    term r = co_await scope_call(scope, tuple(a_demonitor, ref));
    if (!r.is_atom(atoms::ok)) co_return false;
    // pg:demonitor flushes the notifications already in the mailbox
    term rt = ref;
    auto pending = [rt](const term& t) { return t.is_tuple(4) && t[0] == rt; };
    for (;;) {
        auto m = co_await receive(pending).after(std::chrono::milliseconds(0));
        if (!m) break;
    }
    co_return true;
}

void register_pg_exports(export_table& t) {
    const atom pgm("pg");
    auto scope_arg = [](const term& s) {
        if (!s.is_atom()) throw error_exception(term(atoms::badarg));
        return s.as_atom();
    };
    t.add(pgm, a_join, 2, [](std::vector<term> a) -> task<term> {
        co_await join(default_scope(), a[0], a[1]);
        co_return term(atoms::ok);
    });
    t.add(pgm, a_join, 3, [scope_arg](std::vector<term> a) -> task<term> {
        co_await join(scope_arg(a[0]), a[1], a[2]);
        co_return term(atoms::ok);
    });
    t.add(pgm, a_leave, 2, [](std::vector<term> a) -> task<term> {
        co_return term(co_await leave(default_scope(), a[0], a[1]));
    });
    t.add(pgm, a_leave, 3, [scope_arg](std::vector<term> a) -> task<term> {
        co_return term(co_await leave(scope_arg(a[0]), a[1], a[2]));
    });
    t.add(pgm, atom("get_members"), 1,
          [](std::vector<term> a) -> task<term> { co_return make_list(get_members(default_scope(), a[0])); });
    t.add(pgm, atom("get_members"), 2, [scope_arg](std::vector<term> a) -> task<term> {
        co_return make_list(get_members(scope_arg(a[0]), a[1]));
    });
    t.add(pgm, atom("get_local_members"), 1, [](std::vector<term> a) -> task<term> {
        co_return make_list(get_local_members(default_scope(), a[0]));
    });
    t.add(pgm, atom("get_local_members"), 2, [scope_arg](std::vector<term> a) -> task<term> {
        co_return make_list(get_local_members(scope_arg(a[0]), a[1]));
    });
    t.add(pgm, atom("which_groups"), 0,
          [](std::vector<term>) -> task<term> { co_return make_list(which_groups(default_scope())); });
    t.add(pgm, atom("which_groups"), 1, [scope_arg](std::vector<term> a) -> task<term> {
        co_return make_list(which_groups(scope_arg(a[0])));
    });
    t.add(pgm, atom("which_local_groups"), 0,
          [](std::vector<term>) -> task<term> { co_return make_list(which_local_groups(default_scope())); });
    t.add(pgm, atom("which_local_groups"), 1, [scope_arg](std::vector<term> a) -> task<term> {
        co_return make_list(which_local_groups(scope_arg(a[0])));
    });
    t.add(pgm, atom("monitor_scope"), 0, [](std::vector<term>) -> task<term> {
        auto r = co_await monitor_scope(default_scope());
        co_return tuple(r.first, r.second);
    });
    t.add(pgm, atom("monitor_scope"), 1, [scope_arg](std::vector<term> a) -> task<term> {
        auto r = co_await monitor_scope(scope_arg(a[0]));
        co_return tuple(r.first, r.second);
    });
    t.add(pgm, a_monitor, 1, [](std::vector<term> a) -> task<term> {
        auto r = co_await monitor(default_scope(), a[0]);
        co_return tuple(r.first, r.second);
    });
    t.add(pgm, a_monitor, 2, [scope_arg](std::vector<term> a) -> task<term> {
        auto r = co_await monitor(scope_arg(a[0]), a[1]);
        co_return tuple(r.first, r.second);
    });
    t.add(pgm, a_demonitor, 1, [](std::vector<term> a) -> task<term> {
        if (!a[0].is_reference()) throw error_exception(term(atoms::badarg));
        co_return term(co_await demonitor(default_scope(), a[0].as_reference()));
    });
    t.add(pgm, a_demonitor, 2, [scope_arg](std::vector<term> a) -> task<term> {
        if (!a[1].is_reference()) throw error_exception(term(atoms::badarg));
        co_return term(co_await demonitor(scope_arg(a[0]), a[1].as_reference()));
    });
}

}  // namespace nodus::pg

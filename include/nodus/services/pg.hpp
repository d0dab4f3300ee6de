// pg: OTP 23+ process groups, compatible with OTP's pg on the wire (services.md §5).
//
// A scope is a process registered under the scope's name (default `pg`) on every node that
// uses it; scopes of the same name on different nodes discover each other on nodeup and keep
// each other informed of their *local* members. Membership follows processes that exit and
// nodes that go away. Reads (get_members, which_groups) do not message the scope process.
//
// Scope process states: running (registered, answering discover/sync/join/leave and local
// join/leave calls) — it exits only with its node.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/term/term.hpp"

namespace nodus {
class node;
}

namespace nodus::pg {

inline const atom& default_scope() {
    static const atom a("pg");
    return a;
}

// Starts scope `scope` on the node (pg:start/1). Returns its pid; an existing scope is reused.
pid start_scope(node& n, atom scope);

// Inside a process of a node where the scope runs. PidOrPids must be local (else
// error {nolocal, Bad}, as OTP).
task<> join(atom scope, term group, term pid_or_pids);
// ok, or not_joined.
task<atom> leave(atom scope, term group, term pid_or_pids);
std::vector<term> get_members(atom scope, const term& group);
std::vector<term> get_local_members(atom scope, const term& group);
std::vector<term> which_groups(atom scope);
std::vector<term> which_local_groups(atom scope);
// monitor_scope/1: {Ref, #{Group => Members}}; then {Ref, join|leave, Group, Pids} messages.
task<std::pair<reference, term>> monitor_scope(atom scope);
// monitor/2: {Ref, Members}; then {Ref, join|leave, Group, Pids} messages for that group.
task<std::pair<reference, term>> monitor(atom scope, term group);
task<bool> demonitor(atom scope, reference ref);

// pg:* as exported functions (shell, rpc): join/2,3, leave/2,3, get_members/1,2,
// get_local_members/1,2, which_groups/0,1, which_local_groups/0,1, monitor_scope/0,1,
// monitor/1,2, demonitor/1,2.
void register_pg_exports(export_table& table);

}  // namespace nodus::pg

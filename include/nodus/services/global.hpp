// global: cluster-wide names and locks, a full participant in OTP 25's `global` (protocol
// version 8, services.md §4), and with it the transitive full mesh.
//
// A process registered as `global_name_server` on every node runs the protocol: on nodeup of a
// visible peer it exchanges init_connect, both sides lock their partitions with the same lock
// id, exchange their names, resolve conflicts, and tell each other the nodes they know — which
// every side then connects to (the full mesh; node_config::connect_all = false turns it off, as
// -connect_all false does). Registered pids are monitored on every node; a name goes when its
// process does.
//
// Session states per peer: init_sent (we cast init_connect) → locking (his init_connect came;
// our locker process sets the lock on our partition) → lock_is_set (both sides answered
// lock_set true; names go out) → resolved (both exchanges done; ops applied) → synced (known).
// A nodedown anywhere drops the session; cancel_connect restarts it.
//
// Where nodus differs from OTP: a conflict is resolved with the default method's semantics
// (global:random_exit_name/3: the pid whose node name sorts first stays, the other is killed)
// whatever method the name was registered with; lost_connection is honoured by peers
// (remove_connection is obeyed) but nodus does not multicast it itself.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/term/term.hpp"

namespace nodus {
class node;
}

namespace nodus::global {

// Starts global_name_server on the node (once; later calls return the running one).
pid start(node& n);

// Inside a process of a node running global. register_name: yes | no (the name is taken).
task<atom> register_name(term name, pid p);
// re_register_name: the name now points at p, whoever had it.
task<> re_register_name(term name, pid p);
task<> unregister_name(term name);
std::optional<pid> whereis_name(const term& name);
// global:send/2: false when the name is not registered (the export raises {badarg, {Name, Msg}}).
bool send(const term& name, term message);
std::vector<term> registered_names();
// Returns when every visible node this one is connected to has been synchronised with.
task<> sync();
// set_lock({ResourceId, LockRequesterId}, Nodes, Retries): true when the lock is set on all of
// Nodes (default: this node and nodes()), false after Retries failed rounds (-1: retry forever).
task<bool> set_lock(term id, std::optional<std::vector<atom>> nodes = std::nullopt, int retries = -1);
task<> del_lock(term id, std::optional<std::vector<atom>> nodes = std::nullopt);

// global:* as exported functions (shell, rpc, and global:resolve_it/4 that OTP calls on the
// node of a conflicting pid): register_name/2, re_register_name/2, unregister_name/1,
// whereis_name/1, send/2, registered_names/0, sync/0, set_lock/1,2,3, del_lock/1,2,
// random_exit_name/3, resolve_it/4.
void register_global_exports(export_table& table);

}  // namespace nodus::global

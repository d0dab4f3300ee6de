// The cluster services every nodus node runs by default, as an OTP node runs kernel's:
// global_name_server (global names, locks, the transitive mesh), the default pg scope (as if
// kernel's start_pg were true), `user` (the I/O server of processes with no other group
// leader, nodus/services/io.hpp), and the functions below in the export table.
//
// The default exports: the standard functions people call on any node through spawn, rpc
// and erpc. They answer as on an OTP 25 node (docs/services.md keeps the same list):
//
//     erlang:node/0, node/1, nodes/0, nodes/1, is_alive/0,
//            registered/0, whereis/1, is_process_alive/1,
//            system_time/0, system_time/1, monotonic_time/0, monotonic_time/1, timestamp/0
//     io:format/1,2,3, fwrite/1,2,3, put_chars/1,2, nl/0,1, write/1,2   (to the group leader)
//     io_lib:format/2, fwrite/2
//     timer:sleep/1
//     os:getpid/0
//     global:*, pg:*                          (nodus/services/global.hpp, pg.hpp)
//
// Anything else a peer names is undefined ({undef, ...} / {badrpc, {'EXIT', {undef, ...}}})
// until a C++ function is exported under that name (nodus/runtime/exports.hpp).
#pragma once

namespace nodus {
class node;
class export_table;
}  // namespace nodus

namespace nodus::services {

// Starts what is not running yet and registers the default exports; safe to call more than
// once.
void start_defaults(node& n);

// The erlang, io, io_lib, timer and os functions of the list above, in table; a function
// already in the table is left as it is (so a program may export its own version first).
// Works on a runtime without a node (node() is nonode@nohost, nodes() [], as in erl).
void register_default_exports(export_table& table);

}  // namespace nodus::services

// The standard functions of the expression language, registered as native functions in a
// runtime's export table (nodus/runtime/exports.hpp), so the shell calls them as M:F(...) and
// other nodes could name them too:
//
//     eval::register_standard_exports(rt.exports());   // erlang, lists, maps, io, timer
//     eval::register_net_exports(rt.exports());        // net_adm, net_kernel, erlang's node BIFs
//
// Output: io:format/1,2,3, io:put_chars/1,2, io:nl/0 send Erlang io requests
// ({io_request, From, ReplyAs, {put_chars, unicode, Chars}}) to the caller's group leader, as
// OTP does, and wait for the reply; so output follows the group leader, also across nodes. A
// process without a group leader (its own) writes to the default output. start_output_leader()
// makes a group leader that hands text to a callback: the shell's console.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/term/term.hpp"

namespace nodus {
class runtime;
}

namespace nodus::eval {

// erlang:* (the BIFs: types, conversions, tuples, lists, arithmetic helpers, processes, links,
// monitors, registry, timers, apply, exit/error/throw, term_to_binary ...), lists:*, maps:*,
// io:format/put_chars/nl, io_lib:format/2, timer:sleep/1, timer:seconds/1 ..., string-free.
void register_standard_exports(export_table& table);
// The distribution functions of nodus/node/net.hpp: erlang:node/0,1, nodes/0,1, is_alive/0,
// get_cookie/0, set_cookie/1,2, disconnect_node/1, monitor_node/2, net_adm:ping/1, names/0,
// localhost/0, net_kernel:connect_node/1, monitor_nodes/1,2, rpc:call/4,5, cast/4,
// multicall/3,4,5, erpc:call/2,4,5, gen_server:call/2,3, cast/2. On a runtime without a node
// they answer as a non-distributed erl does (nonode@nohost, pang, false, ...).
void register_net_exports(export_table& table);

// Where a process without a group leader writes (default: standard output). Thread-safe.
using output_sink = std::function<void(std::string_view text)>;
void set_default_output(output_sink sink);

// Starts a process on rt acting as a group leader: every put_chars request it gets (local or
// from another node) goes to sink, in order, then it replies ok. Input requests get
// {error, enotsup}. Set it as a process's group leader with nodus::group_leader(Leader, Pid).
pid start_output_leader(runtime& rt, output_sink sink);
// The same from inside a process (the leader runs on the current runtime).
pid start_output_leader(output_sink sink);

// The text io:format(Format, Args) writes: Format is a string, binary or atom, Args a list.
// Supports ~p ~P ~w ~W ~s ~a ~c ~b ~B ~x ~X ~# ~+ ~e ~f ~g ~i ~n ~~ with field widths and
// the t (Unicode) modifier; the format `badarg` reason ({error, badarg}) otherwise.
result<std::string, term> io_format(const term& format, const term& args);

}  // namespace nodus::eval

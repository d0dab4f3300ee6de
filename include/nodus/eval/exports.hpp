// The standard functions of the expression language, registered as native functions in a
// runtime's export table (nodus/runtime/exports.hpp), so the shell calls them as M:F(...) and
// other nodes could name them too:
//
//     eval::register_standard_exports(rt.exports());   // erlang, lists, maps, io, timer
//     eval::register_net_exports(rt.exports());        // net_adm, net_kernel, erlang's node BIFs
//
// Both include every node's default exports (nodus/services/services.hpp): erlang:node/0,
// nodes/0,1, io:format/1,2,3, io:put_chars/1,2, timer:sleep/1 ... Output: io:format and friends
// send Erlang io requests ({io_request, From, ReplyAs, {put_chars, unicode, Chars}}) to the
// caller's group leader, as OTP does, and wait for the reply; so output follows the group
// leader, also across nodes (nodus/services/io.hpp). start_output_leader() makes a group
// leader that hands text to a callback: the shell's console.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/services/io.hpp"
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

// Group leaders and output live with the services (nodus/services/io.hpp); the names the
// shell has always used:
using io::output_sink;
using io::set_default_output;
using io::start_output_leader;

// The text io:format(Format, Args) writes: Format is a string, binary or atom, Args a list.
// Supports ~p ~P ~w ~W ~s ~a ~c ~b ~B ~x ~X ~# ~+ ~e ~f ~g ~i ~n ~~ with field widths and
// the t (Unicode) modifier; the format `badarg` reason ({error, badarg}) otherwise.
inline result<std::string, term> io_format(const term& format, const term& args) {
    return io::format_text(format, args);
}

}  // namespace nodus::eval

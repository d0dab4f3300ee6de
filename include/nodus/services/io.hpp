// Group leaders and the Erlang I/O protocol (services.md §6): the client side of io:format and
// io:put_chars, I/O servers that write text somewhere, and `user`, the I/O server every nodus
// node registers (services::start_defaults).
//
// Client. Every process has a group leader, inherited at spawn; a process spawned by another
// node gets the group leader that node sent in SPAWN_REQUEST. io::put_chars and io::format
// send {io_request, Self, Ref, {put_chars, unicode, Utf8Binary}} to it (pre-formatted, never the
// io_lib MFA form) and wait for {io_reply, Ref, Reply}, so output goes where Erlang's would: to
// the shell's console, or to the node that spawned the process. A process with no group leader
// uses the process registered as `user` on its node (nodus::group_leader()); a process that is
// its own leader, or one on a runtime without `user`, writes to the default output.
//
// Server. serve() answers the requests OTP's io module sends (stdlib io.erl; "The Erlang I/O
// Protocol"), replying {io_reply, ReplyAs, Reply} to From:
//   {put_chars, Enc, Chars}, {put_chars, Chars} (latin1)      -> ok | {error, put_chars}
//   {put_chars, Enc, M, F, A}, {put_chars, M, F, A} (latin1)  -> ok | {error, put_chars}
//       io_lib:format/fwrite/2 and io_lib:write/1,2 are evaluated here (nodus/io/format.hpp);
//       any other M:F/A is looked up in the node's export table and must return chardata
//   {requests, [Req]}                        -> the reply of the last one; stops at an error
//   getopts                                  -> [{binary, B}, {encoding, E}]
//   {setopts, Opts}                          -> ok for binary/list, {binary, B}, unicode/latin1,
//                                               {encoding, unicode | utf8 | latin1}; else
//                                               {error, enotsup}
//   {get_chars, ...}, {get_line, ...}, {get_until, ...}   -> eof: there is no input to read
//   {get_password, _}, {get_geometry, _}     -> {error, enotsup}
//   anything else                            -> {error, request}
// Text is written as UTF-8 whatever the encoding option says.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/runtime/process.hpp"
#include "nodus/runtime/task.hpp"
#include "nodus/term/term.hpp"

namespace nodus {
class runtime;
}

namespace nodus::io {

// Receives the text an I/O server writes, one request at a time, in order.
using output_sink = std::function<void(std::string_view text)>;

// Where `user`, and a process that has no other group leader, write: standard output unless
// replaced (for all runtimes of the program; a test may capture it). Thread-safe.
void set_default_output(output_sink sink);
void write_default(std::string_view text);

// ---- client (inside a process) ----

// The text of io_lib:format(Format, Args), with pids printed as seen from this node; badarg
// ({error, badarg} as a term) where io_lib:format raises it.
result<std::string, term> format_text(const term& format, const term& args);

// io:put_chars(Device, Text): Device is standard_io (the group leader), standard_error, user,
// another registered name, or a pid. Returns when the server has replied; raises
// error(badarg) when the server answers an error or the device does not exist, and
// error(terminated) when the server dies first, as OTP's io does.
task<> put_chars(term device, std::string text);
// io:format(Device, Format, Args): badarg for a bad format, as above otherwise.
task<> format(term device, term format, term args);

// ---- servers ----

// The reply to one I/O request, writing to sink (see the table above). Runs in the calling
// process (it may call exported functions).
task<term> request_reply(term request, const output_sink& sink);

// The body of an I/O server process: answers {io_request, From, ReplyAs, Request} messages
// for ever, ignoring anything else.
task<> serve(output_sink sink);

// Starts an I/O server on rt that writes to sink, for use as a group leader (set it with
// nodus::group_leader(Leader, Pid), or give it to a remote spawn): what a console or a test
// that captures output uses.
pid start_output_leader(runtime& rt, output_sink sink);
// The same from inside a process (the server runs on the current runtime).
pid start_output_leader(output_sink sink);

// `user`: an I/O server writing to the default output, registered as `user` on rt. Returns
// the registered one if there is one already.
pid start_user(runtime& rt);

}  // namespace nodus::io

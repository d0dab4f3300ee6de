// The seam between the process runtime and the distribution layer.
//
// The runtime sends every signal whose target lives on another node to a remote_router (set
// by the distribution layer) as a remote_signal, and accepts incoming signals for its own
// processes through runtime::deliver(). A process never sees the difference between a local
// and a remote pid. The runtime knows nothing about connections, encodings or nodes beyond
// "this pid is not mine".
#pragma once

#include <cstdint>

#include "nodus/term/term.hpp"

namespace nodus {

// Signals between processes, as Erlang defines them (control.md §2). Names follow OTP.
enum class signal_kind : std::uint8_t {
    message,       // payload = message; to = pid
    reg_send,      // payload = message; to = registered name atom (on node)
    link,          // from links to `to`
    unlink,        // id = unlink id
    unlink_ack,    // id = unlink id being acknowledged
    exit,          // link broken: from died with payload as reason
    exit2,         // exit(To, Reason) sent by `from`
    monitor,       // from monitors `to` (a pid, or a name atom on the target node); ref
    demonitor,     // ref
    monitor_exit,  // the monitored `from` (pid, or the name atom it was monitored by) ended; payload = reason
    group_leader,  // `from` becomes the group leader of `to`
    // SPAWN_REQUEST: from asks `node` to spawn; ref = request id; payload =
    // {Module, Function, Args, Options, GroupLeader}.
    spawn_request,
    // SPAWN_REPLY to the requester `to`: from = the new pid or the error reason; ref = request
    // id; id = flags (1 link, 2 monitor set up).
    spawn_reply,
};

struct remote_signal {
    signal_kind kind;
    term from;       // the sending pid (monitor_exit: the pid or name atom that was monitored)
    term to;         // the target pid, or a registered name atom
    atom node;       // the node of `to` (needed when `to` is a name)
    term payload;    // message or exit reason
    term ref;        // monitor reference
    std::uint64_t id = 0;  // unlink id
};

// Implemented by the distribution layer.
class remote_router {
public:
    virtual ~remote_router() = default;
    // Called on any runtime thread; must not block for long (queue, then return).
    virtual void route(remote_signal&& s) = 0;
    // Back-pressure (send_result): sends {'$nodus_drained', ref} to waiter once the queue toward
    // node is below its limit again, or its connection is gone. False when it is not over the
    // limit (any more): then nothing will be sent.
    virtual bool notify_when_drained(atom node, const term& waiter, const term& ref) {
        (void)node;
        (void)waiter;
        (void)ref;
        return false;
    }
};

namespace detail {
// Called by a remote_router inside route() when it queued the signal toward a node that is now
// over its send-queue limit: the process that sent it gets a busy send_result.
void report_busy(atom node) noexcept;
}  // namespace detail

}  // namespace nodus

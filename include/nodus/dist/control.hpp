// Control messages of a distribution connection (control.md §2): one typed struct per message,
// conversion from the control tuple (and the optional second term) a peer sent, and to the
// tuple the peer expects given the negotiated flags. Pure functions, no state.
//
// Receiving: packet_reader (packet.hpp) gives {control, payload} terms; decode_control checks
// their shape strictly and gives a control_message to dispatch with std::visit. Any error means
// the peer violated the protocol: log the message and close the connection.
//
// Sending: build a struct, encode_control picks the wire form for the negotiated flags, and
// packet_writer turns the two terms into packets.
//
// The struct names are Erlang's (link, exit, unlink, send, ...), so some are also C library
// functions (::link, ::exit, ::unlink, ::send): outside namespace nodus::dist write dist::link
// rather than relying on `using namespace nodus::dist`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "nodus/base/result.hpp"
#include "nodus/dist/packet.hpp"
#include "nodus/term/term.hpp"

namespace nodus::dist {

// Operation codes of the control tuple's first element (DOP_* in OTP).
enum class op : std::uint8_t {
    link = 1,
    send = 2,
    exit = 3,
    unlink = 4,
    node_link = 5,  // obsolete; never valid
    reg_send = 6,
    group_leader = 7,
    exit2 = 8,
    send_tt = 12,
    exit_tt = 13,
    reg_send_tt = 16,
    exit2_tt = 18,
    monitor_p = 19,
    demonitor_p = 20,
    monitor_p_exit = 21,
    send_sender = 22,
    send_sender_tt = 23,
    payload_exit = 24,
    payload_exit_tt = 25,
    payload_exit2 = 26,
    payload_exit2_tt = 27,
    payload_monitor_p_exit = 28,
    spawn_request = 29,
    spawn_request_tt = 30,
    spawn_reply = 31,
    spawn_reply_tt = 32,
    alias_send = 33,
    alias_send_tt = 34,
    unlink_id = 35,
    unlink_id_ack = 36,
    altact_sig_send = 37,  // OTP 27+; not accepted
};
// OTP's name ("SEND_SENDER_TT"); "UNKNOWN" for values that are not operation codes.
std::string_view to_string(op o) noexcept;
// Whether a control tuple with this operation is followed by a second term in its packet.
bool has_payload(op o) noexcept;

// Trace tokens (seq_trace) ride in the _TT forms. They are kept as received and forwarded;
// nullopt selects the form without token.
using trace_token = std::optional<term>;

// ---- the messages (field order as in the tuples; "Unused" slots are not represented) ----

// {1, From, To}
struct link {
    static constexpr op opcode = op::link;
    pid from;
    pid to;
    friend bool operator==(const link&, const link&) = default;
};

// SEND {2, '', To} + Message, SEND_TT {12, '', To, Token} + Message. Always encoded as SEND.
struct send {
    static constexpr op opcode = op::send;
    pid to;
    term message;
    trace_token token;
    friend bool operator==(const send&, const send&) = default;
};

// SEND_SENDER {22, From, To} + Message, SEND_SENDER_TT {23, From, To, Token} + Message.
// Encoded as SEND (without From) when SEND_SENDER was not negotiated.
struct send_sender {
    static constexpr op opcode = op::send_sender;
    pid from;
    pid to;
    term message;
    trace_token token;
    friend bool operator==(const send_sender&, const send_sender&) = default;
};

// REG_SEND {6, From, '', ToName} + Message, REG_SEND_TT {16, From, '', ToName, Token} + Message.
struct reg_send {
    static constexpr op opcode = op::reg_send;
    pid from;
    atom to_name;
    term message;
    trace_token token;
    friend bool operator==(const reg_send&, const reg_send&) = default;
};

// {7, GroupLeader, Target}: make leader the group leader of the local process target.
struct group_leader {
    static constexpr op opcode = op::group_leader;
    pid leader;
    pid target;
    friend bool operator==(const group_leader&, const group_leader&) = default;
};

// A link broke: EXIT {3, From, To, Reason}, EXIT_TT {13, From, To, Token, Reason},
// PAYLOAD_EXIT {24, From, To} + Reason, PAYLOAD_EXIT_TT {25, From, To, Token} + Reason.
// Encoded as PAYLOAD_EXIT* when EXIT_PAYLOAD was negotiated.
struct exit {
    static constexpr op opcode = op::exit;
    pid from;
    pid to;
    term reason;
    trace_token token;
    friend bool operator==(const exit&, const exit&) = default;
};

// exit/2: EXIT2 {8, ...}, EXIT2_TT {18, ...}, PAYLOAD_EXIT2 {26, ...}, PAYLOAD_EXIT2_TT {27, ...};
// the same shapes as exit.
struct exit2 {
    static constexpr op opcode = op::exit2;
    pid from;
    pid to;
    term reason;
    trace_token token;
    friend bool operator==(const exit2&, const exit2&) = default;
};

// The old unlink {4, From, To} (no acknowledgement; OTP 26 removed it).
struct unlink {
    static constexpr op opcode = op::unlink;
    pid from;
    pid to;
    friend bool operator==(const unlink&, const unlink&) = default;
};

// {35, Id, From, To}; Id is non-zero. Encoded as the old UNLINK {4, From, To} when UNLINK_ID
// was not negotiated.
struct unlink_id {
    static constexpr op opcode = op::unlink_id;
    std::uint64_t id = 0;
    pid from;
    pid to;
    friend bool operator==(const unlink_id&, const unlink_id&) = default;
};

// {36, Id, From, To}: From acknowledges the UNLINK_ID that To sent. Always encoded as such (it
// only ever answers an UNLINK_ID, which implies the flag).
struct unlink_id_ack {
    static constexpr op opcode = op::unlink_id_ack;
    std::uint64_t id = 0;
    pid from;
    pid to;
    friend bool operator==(const unlink_id_ack&, const unlink_id_ack&) = default;
};

// {19, From, Target, Ref}: From monitors Target, a pid or a registered name (atom) on the
// receiving node.
struct monitor_p {
    static constexpr op opcode = op::monitor_p;
    pid from;
    term target;  // a pid or an atom
    reference ref;
    friend bool operator==(const monitor_p&, const monitor_p&) = default;
};

// {20, From, Target, Ref}
struct demonitor_p {
    static constexpr op opcode = op::demonitor_p;
    pid from;
    term target;  // a pid or an atom
    reference ref;
    friend bool operator==(const demonitor_p&, const demonitor_p&) = default;
};

// The monitored process From (a pid, or the name atom of a monitor by name) is gone:
// MONITOR_P_EXIT {21, From, To, Ref, Reason}, PAYLOAD_MONITOR_P_EXIT {28, From, To, Ref} + Reason.
// Encoded as PAYLOAD_MONITOR_P_EXIT when EXIT_PAYLOAD was negotiated.
struct monitor_p_exit {
    static constexpr op opcode = op::monitor_p_exit;
    term from;  // a pid or an atom
    pid to;
    reference ref;
    term reason;
    friend bool operator==(const monitor_p_exit&, const monitor_p_exit&) = default;
};

// SPAWN_REQUEST {29, ReqId, From, GroupLeader, {Module, Function, Arity}, Options} + Args,
// SPAWN_REQUEST_TT {30, ..., Options, Token} + Args. Arity is the length of args (checked on
// decode, computed on encode).
struct spawn_request {
    static constexpr op opcode = op::spawn_request;
    reference req_id;
    pid from;
    pid group_leader;
    atom module;
    atom function;
    term options;  // a proper list, as given to the spawn BIF
    term args;     // a proper list
    trace_token token;
    friend bool operator==(const spawn_request&, const spawn_request&) = default;
};

// SPAWN_REPLY {31, ReqId, To, Flags, Result}, SPAWN_REPLY_TT {32, ..., Result, Token}.
struct spawn_reply {
    static constexpr op opcode = op::spawn_reply;
    static constexpr std::uint64_t flag_link = 1;     // a link was set up
    static constexpr std::uint64_t flag_monitor = 2;  // a monitor was set up (Ref = ReqId)
    reference req_id;
    pid to;
    std::uint64_t flags = 0;
    term result;  // the new pid, or an atom reason on failure
    trace_token token;
    friend bool operator==(const spawn_reply&, const spawn_reply&) = default;
};

// ALIAS_SEND {33, From, Alias} + Message, ALIAS_SEND_TT {34, From, Alias, Token} + Message.
struct alias_send {
    static constexpr op opcode = op::alias_send;
    pid from;
    reference alias;
    term message;
    trace_token token;
    friend bool operator==(const alias_send&, const alias_send&) = default;
};

using control_message = std::variant<link, send, send_sender, reg_send, group_leader, exit, exit2, unlink,
                                     unlink_id, unlink_id_ack, monitor_p, demonitor_p, monitor_p_exit,
                                     spawn_request, spawn_reply, alias_send>;

// The operation of the message's plain form (exit gives op::exit for all four wire forms).
op opcode(const control_message& m) noexcept;

// ---- errors ----

enum class control_errc : std::uint8_t {
    not_a_tuple,         // the control term is not a tuple, or its first element not an integer
    unknown_opcode,      // an operation this node does not accept (incl. 5, 9-11, 14, 15, 17, 37+)
    bad_arity,           // the tuple has the wrong number of elements for its operation
    bad_field,           // an element has the wrong type (pid, reference, atom, list, ...)
    missing_payload,     // the operation needs a second term and there is none
    unexpected_payload,  // a second term follows an operation that has none
};
std::string_view to_string(control_errc e) noexcept;

struct control_error {
    control_errc code;
    std::string message;  // "SEND_SENDER: element 3 (To) must be a pid, got an atom"
};

// ---- conversion ----

// Checks the control tuple (and the second term: payload is nullptr when the packet had none)
// and gives the typed message.
result<control_message, control_error> decode_control(const term& control, const term* payload);
inline result<control_message, control_error> decode_control(const dist_message& m) {
    return decode_control(m.control, m.payload ? &*m.payload : nullptr);
}

// The control tuple (and second term) for message m in the form the peer expects, given the
// negotiated DFLAGs: SEND_SENDER vs SEND, PAYLOAD_* exits vs reasons in the tuple, UNLINK_ID vs
// UNLINK; '' in the unused slots; the _TT form when a token is present. It does not check that
// the peer supports the operation at all (SPAWN, ALIAS): that is the connection's business.
dist_message encode_control(const control_message& m, std::uint64_t negotiated_flags);

}  // namespace nodus::dist

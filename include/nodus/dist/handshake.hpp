// The distribution handshake (handshake.md §3) as a sans-I/O state machine, one per connection
// attempt, for both roles. Bytes go in with feed(), bytes to send come out of the output queue,
// and the outcome is a handshake_result (up) or a handshake_failure (failed). No sockets, no
// clocks, no global state: node-wide decisions, cookies and randomness come from handshake_config.
//
// Initiator (A, we connected):
//     send_name -> recv_status -> [send_status] -> recv_challenge -> send_challenge_reply
//               -> recv_challenge_ack -> up
//   send_status (our answer to the peer's "alive") is only passed through when the peer says alive.
// Acceptor (B, the peer connected):
//     recv_name -> send_status -> [recv_status_reply] -> send_challenge -> recv_challenge_reply
//               -> send_challenge_ack -> up
//   recv_status_reply (the peer's true/false) only after we answered alive. send_challenge_ack
//   waits there, after a good challenge reply, when we answered alive: the caller must first tear
//   down the old connection to that node (OTP's wait_pending), then call old_connection_closed().
// Any state -> failed.
//
// send_* states are passed through within one call (start(), feed() or old_connection_closed())
// except send_name, where the initiator sits until start(). OTP resets its net_setuptime timer
// before every step: reset yours whenever state() changes, and call timeout() when it expires.
//
// Framing: every handshake message carries a 2-byte length prefix over TCP, 4 bytes over TLS
// (tls.md §2). Once up, the connection uses 4-byte framing and the caller takes over; bytes that
// arrived after the last handshake message are in leftover() and belong to the connection.
//
// On failed, the output queue may still hold a final status for the peer (not_allowed, nok,
// false): send it, then close. Callbacks run inside feed()/start() and must not call back into
// the same machine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/term/atom.hpp"

namespace nodus::dist {

enum class handshake_role : std::uint8_t { initiator, acceptor };

// Bytes of the length prefix of each handshake message.
enum class handshake_framing : std::uint8_t {
    tcp = 2,  // inet_tcp_dist
    tls = 4,  // inet_tls_dist: {packet, 4} from the first message on
};

enum class handshake_state : std::uint8_t {
    // initiator
    send_name,
    recv_status,
    send_status,
    recv_challenge,
    send_challenge_reply,
    recv_challenge_ack,
    // acceptor (send_status is shared)
    recv_name,
    recv_status_reply,
    send_challenge,
    recv_challenge_reply,
    send_challenge_ack,
    // final
    up,
    failed,
};
std::string_view to_string(handshake_state s) noexcept;

// The acceptor's answer to an incoming attempt, decided by the node's net_kernel (handshake.md
// §3.2, §5). Sent to the peer as the 's' status.
enum class accept_status : std::uint8_t {
    ok,
    ok_simultaneous,  // we had our own attempt to this node and dropped it for this one
    nok,              // we have our own attempt to this node and it wins: drop this one
    not_allowed,      // refused (net_kernel:allow/1 list)
    alive,            // we have an up connection to a node of this name: ask the peer
};
std::string_view to_string(accept_status s) noexcept;

enum class handshake_error : std::uint8_t {
    bad_tag,          // a message with an unexpected tag
    bad_length,       // a message too short for its fields, empty, or longer than max_message
    trailing_bytes,   // a fixed-size message ('r', 'a') with bytes after its 16-byte digest
    old_version,      // an 'n' message: the pre-OTP-23 version-5 handshake, not supported
    bad_name,         // the peer's node name is not alive@host (or our own name is unusable)
    name_me,          // the peer asked for a dynamic name (DFLAG_NAME_ME), not supported
    missing_flags,    // the peer lacks flags we require (handshake_failure::missing_flags)
    bad_status,       // an 's' status we do not know (or 'named:', which we never ask for)
    not_allowed,      // the acceptor refused us / we refused the peer
    nok,              // lost a simultaneous connect: NOT an error, the other connection wins
    alive_false,      // 'alive' answered false: the old connection to that node stays
    bad_digest,       // the challenge reply or ack digest is wrong: the cookies differ
    name_mismatch,    // initiator: the acceptor's name is not the node we dialled
    unexpected_data,  // the peer sent too much while we were not expecting a message
    timeout,          // the caller's net_setuptime expired
    closed,           // the peer closed the connection (the detail says what that likely means)
    atom_table_full,  // the peer's name could not be interned
};
std::string_view to_string(handshake_error e) noexcept;

struct handshake_failure {
    handshake_error error{};
    handshake_state state{};          // the step at which it failed
    std::string detail;               // for logs, e.g. "cannot handle [\"MAP_TAG\"]"
    std::uint64_t missing_flags = 0;  // for missing_flags
    // The one failure that is not a fault: we lost a simultaneous connect (the peer said nok, or
    // our net_kernel told the acceptor to say it). The other connection will come up.
    bool lost_race() const noexcept { return error == handshake_error::nok; }
};

struct handshake_result {
    atom peer;                     // the peer's node name
    std::uint64_t peer_flags = 0;  // as the peer sent them, MANDATORY_25_DIGEST expanded
    std::uint64_t flags = 0;       // negotiated: ours AND the peer's
    std::uint32_t peer_creation = 0;
    bool visible() const noexcept { return (flags & dflag::published) != 0; }
};

// What the acceptor knows about the peer when it asks for a status. The name is validated
// (alive@host) but not yet an atom: we intern it only after the peer proved the cookie, so
// unauthenticated peers cannot fill the atom table. Look it up with atom::existing().
struct peer_hello {
    std::string_view name;    // UTF-8 (OTP sends Latin-1; ASCII in practice)
    std::uint64_t flags = 0;  // MANDATORY_25_DIGEST expanded
    std::uint32_t creation = 0;
};

struct handshake_config {
    atom name;                              // our node name, alive@host
    std::uint64_t flags = our_flags(true);  // what we advertise
    std::uint32_t creation = 0;             // from EPMD
    // Flags the peer must have (OTP 25's mandatory set; add more to refuse older peers).
    std::uint64_t required_flags = mandatory_25;
    handshake_framing framing = handshake_framing::tcp;
    // Largest handshake message we accept (names are at most 255 characters, so a real message
    // is below 300 bytes); a peer cannot make us buffer more.
    std::size_t max_message = 2048;

    // The cookie we use with the peer (per-node cookies, else the default). Required.
    std::function<std::string(std::string_view peer)> cookie_for;
    // Acceptor: the node's decision about this peer (net_kernel's accept_pending). Default: ok.
    std::function<accept_status(const peer_hello&)> status_for;
    // Initiator, when the acceptor says alive: true if we have no live connection to it any more
    // (OTP's is_pending). Default: true (a lone handshake knows no other connection).
    std::function<bool(atom peer)> answer_alive;
    // Source of our 32-bit challenges; must be a CSPRNG. Default: random_challenge().
    std::function<std::uint32_t()> challenge;
};

using digest = std::array<std::uint8_t, 16>;

// MD5(cookie ++ decimal(challenge)): the cookie first (handshake.md §3.7).
digest gen_digest(std::uint32_t challenge, std::string_view cookie);
// Constant-time comparison (CRYPTO_memcmp); false unless other has exactly 16 bytes.
bool digest_equal(const digest& expected, byte_span other) noexcept;
// A challenge from OpenSSL's CSPRNG (RAND_bytes; the OS generator if that ever fails).
std::uint32_t random_challenge();

class handshake {
public:
    // We connect to peer (the exact node name we dialled; the acceptor must present it).
    static handshake initiator(handshake_config config, atom peer);
    // The peer connected to us.
    static handshake acceptor(handshake_config config);

    // Initiator: queue our 'N' name message. No-op for the acceptor or when already started.
    void start();
    // Bytes from the peer, in any chunking. After up they are appended to leftover(); after
    // failed they are ignored.
    void feed(byte_span data);
    // The caller's net_setuptime expired: fail with handshake_error::timeout unless done.
    void timeout();
    // The peer closed the connection (or it broke): fail with handshake_error::closed unless done.
    // OTP gives no reason when it refuses, so the detail names the likely one for the step, e.g.
    // in recv_challenge_ack: the peer rejected our challenge reply, the cookies differ.
    void closed();
    // Acceptor, in send_challenge_ack after answering alive: the old connection is gone; send
    // the challenge ack and come up.
    void old_connection_closed();

    handshake_role role() const noexcept { return role_; }
    handshake_state state() const noexcept { return state_; }
    bool done() const noexcept { return state_ == handshake_state::up || state_ == handshake_state::failed; }
    // Acceptor: a good challenge reply is in, waiting for old_connection_closed().
    bool awaiting_old_connection() const noexcept {
        return wait_old_ && state_ == handshake_state::send_challenge_ack;
    }

    // Bytes to send, in order. Drain with consume_output() or take_output().
    byte_span output() const noexcept { return {out_.data(), out_.size()}; }
    void consume_output(std::size_t n);
    std::vector<std::uint8_t> take_output();

    // Set when up.
    const std::optional<handshake_result>& result() const noexcept { return result_; }
    // Set when failed.
    const std::optional<handshake_failure>& failure() const noexcept { return failure_; }
    // Bytes received after the last handshake message (up only): the start of the connection's
    // 4-byte framed stream.
    byte_span leftover() const noexcept;
    std::vector<std::uint8_t> take_leftover();

    // The peer's name as it arrived in its name/challenge message (for logs), once known.
    std::string_view peer_name_text() const noexcept { return peer_text_; }

private:
    handshake(handshake_role role, handshake_config config, std::optional<atom> peer);

    // Processes whole messages from in_ while the state expects one.
    void pump();
    bool expecting_message() const noexcept;
    void on_message(byte_span msg);
    // initiator
    void on_status(byte_span msg);
    void on_challenge(byte_span msg);
    void on_challenge_ack(byte_span msg);
    // acceptor
    void on_name(byte_span msg);
    void on_status_reply(byte_span msg);
    void on_challenge_reply(byte_span msg);
    void send_challenge();
    void send_challenge_ack();

    void send(byte_span msg);
    void send_status(std::string_view status);
    void fail(handshake_error e, std::string detail, std::uint64_t missing = 0);
    void go_up();

    handshake_role role_;
    handshake_config config_;
    handshake_state state_;
    std::optional<atom> peer_;  // initiator: dialled; acceptor: interned when up
    std::string peer_text_;     // the peer's name, UTF-8
    std::uint64_t peer_flags_ = 0;
    std::uint32_t peer_creation_ = 0;
    std::uint32_t our_challenge_ = 0;
    std::uint32_t peer_challenge_ = 0;  // acceptor: the initiator's challenge, for the ack
    std::string cookie_;
    bool wait_old_ = false;
    std::vector<std::uint8_t> in_;   // received, not yet consumed
    std::size_t in_pos_ = 0;         // consumed prefix of in_
    std::vector<std::uint8_t> out_;  // to send
    std::optional<handshake_result> result_;
    std::optional<handshake_failure> failure_;
};

}  // namespace nodus::dist

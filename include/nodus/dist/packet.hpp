// The packet layer of a distribution connection after the handshake (control.md §1, etf.md
// §3-§5), sans I/O: packet payloads in, {control, payload} terms out, and back.
//
// Packet forms (the 4-byte length prefix and ticks are the connection's business on receive):
//   112, 131 Control, [131 Payload]                      pass-through
//   131, 68, AtomCacheHeader, Control, [Payload]         distribution header with atom cache
//   131, 69, SeqId:64, FragId:64, AtomCacheHeader, ...   first fragment of a large message
//   131, 70, SeqId:64, FragId:64, ...                    continuation fragment
// Which forms are valid depends on the negotiated flags. As in OTP (erts external.c), the
// header forms are used when DIST_HDR_ATOM_CACHE *or* FRAGMENTS was negotiated, pass-through
// when neither was; fragments need FRAGMENTS. A packet of the other form means an incompatible
// peer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/base/result.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/term/term.hpp"

namespace nodus::dist {

// One distribution message: the control tuple and, for some operations, a second term (the
// message, exit reason or spawn argument list).
// A message signal (SEND, SEND_SENDER or REG_SEND) read straight from the bytes of its control
// tuple by a reader with quick messages on (packet_reader::set_quick_messages): the tuple is then
// not built and dist_message::control stays empty. Only the destination is kept: a message
// signal's sender changes nothing in its delivery.
struct quick_message {
    enum class kind : std::uint8_t { none, to_pid, to_name };
    kind what = kind::none;
    term to;  // the pid (to_pid) or the registered name, an atom (to_name)
    friend bool operator==(const quick_message&, const quick_message&) = default;
};

struct dist_message {
    term control;
    std::optional<term> payload;
    quick_message quick{};
    friend bool operator==(const dist_message&, const dist_message&) = default;
};

// Packet kinds: the first byte(s) of a packet payload.
inline constexpr std::uint8_t pass_through = 112;
inline constexpr std::uint8_t dist_header = 68;
inline constexpr std::uint8_t dist_frag_header = 69;
inline constexpr std::uint8_t dist_frag_cont = 70;

// Whether the negotiated flags select the distribution header forms (else pass-through).
bool uses_dist_header(std::uint64_t negotiated_flags) noexcept;

enum class packet_errc : std::uint8_t {
    empty,               // a zero-length packet (ticks must not be fed)
    incompatible_peer,   // a packet form the negotiated flags do not allow
    bad_header,          // malformed or truncated distribution header, unknown packet kind
    bad_cache_ref,       // a cached-atom reference to an empty cache slot
    bad_atom,            // an atom in the header: invalid text, atom table full, budget spent
    unknown_sequence,    // a continuation fragment for no sequence in flight
    duplicate_sequence,  // a first fragment for a sequence already in flight
    fragment_order,      // a fragment id that does not count down by one (or is 0)
    bad_term,            // the control or payload term does not decode (see etf_error)
    trailing_data,       // bytes after the control and payload terms
    too_large,           // a message above limits.max_message_size (or 4 GiB unfragmented)
    too_many_sequences,  // more fragmented messages in flight than limits.max_sequences
    buffer_full,         // buffered fragments would exceed limits.max_buffered_bytes
    failed,              // an earlier packet failed; the reader must be reset
};
std::string_view to_string(packet_errc e) noexcept;

struct packet_error {
    packet_errc code;
    std::string message;                    // what was wrong, for the log line closing the connection
    std::optional<etf::error> etf_error{};  // for bad_term (and bad_atom from the term decoder)
};

struct packet_limits {
    // Bytes of one message after its headers (control + payload, reassembled).
    std::size_t max_message_size = std::size_t{128} << 20;
    // Fragmented messages being reassembled at once on one connection.
    std::size_t max_sequences = 256;
    // Memory held for all partly received fragmented messages of one connection.
    std::size_t max_buffered_bytes = std::size_t{256} << 20;
};

// Receive side, one per connection.
//
// States:
//   ready   accepts packets; holds the receive atom cache (8 x 256 slots, filled by headers)
//           and the fragmented sequences in flight (each a growing buffer and its header atoms)
//   placing a continuation fragment's body is being filled in place (place_continuation ..
//           finish_placed); nothing is fed meanwhile
//   failed  after any error: every feed returns packet_errc::failed until reset()
// reset() returns to ready with an empty cache and no sequences (connection loss).
class packet_reader {
public:
    // base supplies the term decoder's limits, allow_new_atoms and atom_budget (shared with the
    // header's atoms); its atom_refs and owner are set per packet.
    explicit packet_reader(std::uint64_t negotiated_flags, packet_limits limits = {},
                           etf::decode_options base = {});
    ~packet_reader();
    packet_reader(const packet_reader&) = delete;
    packet_reader& operator=(const packet_reader&) = delete;
    packet_reader(packet_reader&&) noexcept;
    packet_reader& operator=(packet_reader&&) noexcept;

    // One packet payload (the bytes after a non-zero length prefix). The message when it is
    // complete; nullopt when a fragment was stored. owner, when given, is storage holding
    // packet, so that large binaries of a non-fragmented message share it instead of copying.
    // Binaries of a fragmented message share the reader's reassembly buffer.
    result<std::optional<dist_message>, packet_error> feed(byte_span packet, byte_storage* owner = nullptr);

    // Direct placement of a big message's continuation fragments (a copy less per fragment).
    // head: the first bytes of a packet payload (at least continuation_head_size of them);
    // packet_len: the payload's whole length. For a continuation fragment of a sequence in
    // flight, in order: where the fragment's body (what follows its 18-byte header) belongs in
    // the reassembly buffer, checked against the limits as feed() checks it. The caller fills all
    // of it, then calls finish_placed(); nothing may be fed meanwhile. nullopt: not such a
    // packet (feed it whole; feed() reports what is wrong with it).
    static constexpr std::size_t continuation_head_size = 18;
    result<std::optional<std::span<std::uint8_t>>, packet_error> place_continuation(byte_span head,
                                                                                   std::size_t packet_len);
    // The placed body is filled: the message when that was its last fragment.
    result<std::optional<dist_message>, packet_error> finish_placed();

    // Drops the atom cache and partial sequences; back to ready.
    void reset() noexcept;

    // On: a message signal whose control tuple has the usual shape (atoms as cache references,
    // pids as NEW_PID_EXT) comes back as dist_message::quick, its control tuple unbuilt (the
    // receive path of a connection, where building and taking apart that tuple was a third of
    // the work per message). Any other shape is decoded as usual, errors included. Off by default.
    void set_quick_messages(bool on) noexcept { quick_ = on; }

    bool failed() const noexcept { return failed_; }
    bool header_mode() const noexcept { return header_mode_; }
    std::uint64_t flags() const noexcept { return flags_; }
    std::size_t sequences_in_flight() const noexcept { return sequences_.size(); }
    // Memory reserved for partial sequences (counted against limits.max_buffered_bytes).
    std::size_t buffered_bytes() const noexcept { return buffered_; }
    // The atom in receive cache slot (segment * 256 + index), if a header stored one.
    std::optional<atom> cached_atom(std::size_t slot) const noexcept;

private:
    struct sequence;
    using sequence_ptr = std::unique_ptr<sequence>;
    static constexpr std::size_t cache_slots = 8 * 256;

    result<std::optional<dist_message>, packet_error> feed_packet(byte_span packet, byte_storage* owner);
    result<std::optional<dist_message>, packet_error> first_fragment(byte_reader& r, byte_storage* owner);
    result<std::optional<dist_message>, packet_error> continuation(byte_reader& r);
    result<std::optional<dist_message>, packet_error> complete(sequence_ptr seq);
    bool read_atom_header(byte_reader& r, std::vector<atom>& refs, packet_error& err);
    bool append(sequence& seq, byte_span bytes, packet_error& err);
    std::uint8_t* reserve(sequence& seq, std::size_t n, packet_error& err);
    result<dist_message, packet_error> decode_terms(byte_span body, std::span<const atom> refs,
                                                    byte_storage* owner, bool with_magic);
    void drop_sequences() noexcept;

    std::uint64_t flags_;
    bool header_mode_;
    bool fragments_;
    packet_limits limits_;
    etf::decode_options base_;
    bool failed_ = false;
    bool quick_ = false;
    std::array<std::uint32_t, cache_slots> cache_{};  // atom index + 1; 0 = empty
    std::unordered_map<std::uint64_t, sequence_ptr> sequences_;
    std::size_t buffered_ = 0;
    std::vector<atom> refs_;  // scratch: the atoms of the current header
    struct placed_fragment {
        bool active = false;
        std::uint64_t seq_id = 0, frag_id = 0;
        std::size_t bytes = 0;
    } placing_;
};

// ---- send side ----

namespace detail {
struct message_storage;
}

// One packet of an outgoing message, ready for gather I/O: write head, then the body slices.
// head is the 4-byte length prefix and the packet's header bytes; the body slices are pieces of
// the encoded terms and, for large binaries, the binaries' own bytes (never copied). All of it
// lives in the message's storage. Each fragment of a fragmented message also holds a share of
// it (keep_alive), so fragments may be queued separately and other messages sent between the
// fragments of a big one; the one packet of an unfragmented message lives as long as its
// outgoing_message (one reference count less per message).
struct outgoing_packet {
    byte_span head;
    std::span<const byte_span> body;
    std::size_t body_size = 0;
    std::shared_ptr<const void> keep_alive;
    std::size_t size() const noexcept { return head.size() + body_size; }
    // head and body concatenated.
    void append_to(std::vector<std::uint8_t>& out) const;
};

// States: unsealed (prepared; with a sending atom cache the first packet's head is still empty,
// because which atoms the peer already has depends on what went out before) -> sealed
// (packet_writer::seal wrote the head, in wire order). Messages without cached atoms are
// sealed when prepared.
struct outgoing_message {
    std::vector<outgoing_packet> packets;  // one, or the fragments in order
    std::shared_ptr<detail::message_storage> storage;
    bool sealed() const noexcept;
    // Bytes on the wire, length prefixes included (sealed messages).
    std::size_t size() const noexcept;
    // All packets concatenated (tests, simple writers; sealed messages).
    std::vector<std::uint8_t> to_bytes() const;
};

// A small message encoded ahead of its place on the wire (packet_writer::encode_small): the
// terms, with ATOM_CACHE_REF i standing for atoms[i]. Reused from message to message (it keeps
// its capacity), e.g. one per sending thread.
struct small_encoding {
    byte_writer body;
    std::vector<atom> atoms;
    // What the control part of the last encoding from control elements was made of: when the
    // next message has the same elements (a stream from one process to one destination), its
    // bytes and atoms are kept and only the payload is encoded. elements == 0: nothing kept.
    struct control_key {
        std::array<std::uint64_t, 12> words{};  // per element: kind, then two words of it
        std::size_t elements = 0;
        bool header_mode = false;
        bool atom_cache = false;
        friend bool operator==(const control_key&, const control_key&) = default;
    };
    control_key control;
    std::size_t control_bytes = 0;
    std::size_t control_atoms = 0;
    void clear() noexcept {
        body.clear();
        atoms.clear();
        control.elements = 0;
    }
};

inline constexpr std::size_t default_fragment_size = 64 * 1024;  // OTP's ERTS_DIST_FRAGMENT_SIZE
// Binaries at least this large go out from their own memory (gather I/O), not copied.
inline constexpr std::size_t default_zero_copy_min = 16 * 1024;

// Send side, one per connection. Encodes each message once: the terms go into one buffer and the
// packets slice it; large binaries are spliced in by reference.
//   - neither DIST_HDR_ATOM_CACHE nor FRAGMENTS: 112, 131 Control, [131 Payload]
//   - otherwise: 131, 68, AtomCacheHeader, Control, [Payload]
//   - FRAGMENTS and more than fragment_size bytes of terms: 131, 69, Seq, N, AtomCacheHeader,
//     Control, start of Payload, then 131, 70, Seq, N-1 ... 1 with the rest, fragment_size
//     bytes each (the first fragment always holds the whole control term).
// With DIST_HDR_ATOM_CACHE, atoms in the terms are ATOM_CACHE_REFs to the message's header, and
// the header sends an atom's text only the first time (etf.md §3): the writer keeps the peer's
// view of the cache (2048 slots, an atom in slot index % 2048). prepare() is const and may run
// on any thread; seal() updates that view and must be called once per message, in the order the
// messages go on the wire (the connection does it as it writes).
class packet_writer {
public:
    explicit packet_writer(std::uint64_t negotiated_flags, std::size_t fragment_size = default_fragment_size,
                           std::size_t zero_copy_min = default_zero_copy_min);

    // sequence_id identifies a fragmented message on the connection (only used when the message
    // is fragmented; must then be non-zero, which OTP requires too). Fragmented messages of one
    // sending process must not overlap; a per-connection counter starting at 1 satisfies that.
    // Errors: too_large when an unfragmented packet would exceed the 32-bit length; bad_header
    // for sequence_id 0 on a message that needs fragments.
    // cache_atoms false: every atom inline (no refs, so the message is sealed at once and may go on
    // the wire in any order relative to others; a connection does this for big messages).
    result<outgoing_message, packet_error> prepare(const term& control, const term* payload,
                                                   std::uint64_t sequence_id, bool cache_atoms = true) const;
    // The batch path for small messages, in two steps. encode_small (const, any thread) encodes the
    // terms into out and is true when they fit one packet with no binary sent by reference
    // (zero_copy_min); false means: use prepare(). append_sealed then appends the whole packet
    // (length prefix, header, terms) to a write buffer; like seal(), in wire order.
    bool encode_small(const term& control, const term* payload, small_encoding& out) const;
    // The same with the control tuple given as its elements (no tuple is built for it).
    bool encode_small(std::span<const term> control_elements, const term* payload, small_encoding& out) const;
    void append_sealed(const small_encoding& e, std::vector<std::uint8_t>& out) {
        append_sealed(e.body.view(), e.atoms, out);
    }
    // The same from an encoding's body and atoms kept elsewhere (staged for later).
    void append_sealed(byte_span body, std::span<const atom> atoms, std::vector<std::uint8_t>& out);
    // Writes the first packet's head (atom cache header included). Idempotent.
    void seal(outgoing_message& m);

    // prepare + seal: for callers that write each message as soon as it is made.
    result<outgoing_message, packet_error> encode(const term& control, const term* payload,
                                                  std::uint64_t sequence_id);
    result<outgoing_message, packet_error> encode(const dist_message& m, std::uint64_t sequence_id) {
        return encode(m.control, m.payload ? &*m.payload : nullptr, sequence_id);
    }

    std::uint64_t flags() const noexcept { return flags_; }
    bool header_mode() const noexcept { return header_mode_; }
    bool fragments() const noexcept { return fragments_; }
    bool atom_cache() const noexcept { return atom_cache_; }
    std::size_t fragment_size() const noexcept { return fragment_size_; }
    static constexpr std::size_t cache_slots = 8 * 256;

private:
    void write_first_head(outgoing_message& m, std::array<std::uint32_t, cache_slots>* cache) const;

    std::uint64_t flags_;
    bool header_mode_;
    bool fragments_;
    bool atom_cache_;
    std::size_t fragment_size_;
    std::size_t zero_copy_min_;
    std::array<std::uint32_t, cache_slots> sent_{};  // what the peer holds: atom index + 1; 0 = empty
    std::uint64_t sent_generation_ = 0;              // bumped whenever sent_ may have changed
    // The head (after the length prefix) of the last small message whose atoms were all in the
    // cache: the same atoms while sent_ is unchanged make the same head (a stream of messages
    // to one process), so it is copied instead of planned and written again.
    std::vector<atom> last_atoms_;
    std::array<std::uint8_t, 64> last_head_{};
    std::size_t last_head_len_ = 0;
    std::uint64_t last_generation_ = ~std::uint64_t{0};
};

}  // namespace nodus::dist

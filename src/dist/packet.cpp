// Packet layer of a distribution connection: pass-through, distribution header with atom cache,
// fragments. See include/nodus/dist/packet.hpp and docs/protocols/distribution-packets.md.
#include "nodus/dist/packet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <utility>

#include <sys/mman.h>

#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"

namespace nodus::dist {

namespace {

constexpr std::uint32_t max_packet_length = std::numeric_limits<std::uint32_t>::max();

// Recently freed reassembly blocks of 1 MiB and more, kept for the next large message. Fresh
// memory costs a page fault per 4 KiB on first touch (1.5-4 us here, design/bench.md), so a
// fresh 64 MiB block costs more than copying 64 MiB into it; malloc returns blocks this large to
// the system at once. Bounded: at most two blocks, 160 MiB in all, process-wide.
class block_cache {
public:
    static block_cache& instance() {
        // Never destroyed: binaries may release their blocks during static destruction.
        static block_cache* c = new block_cache;
        return *c;
    }
    // A block of at least want bytes (its size in got), or nullptr.
    void* take(std::size_t want, std::size_t& got) {
        if (want < min_block) return nullptr;
        std::lock_guard l(mutex_);
        std::size_t best = blocks_.size();
        for (std::size_t i = 0; i < blocks_.size(); ++i) {
            // Not a block much larger than asked for: it would hold memory the message does not use.
            if (blocks_[i].size >= want && blocks_[i].size <= 2 * want &&
                (best == blocks_.size() || blocks_[i].size < blocks_[best].size))
                best = i;
        }
        if (best == blocks_.size()) return nullptr;
        block b = blocks_[best];
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(best));
        total_ -= b.size;
        got = b.size;
        return b.data;
    }
    void give(void* data, std::size_t size) noexcept {
        if (size >= min_block && size <= max_total) {
            std::lock_guard l(mutex_);
            while (!blocks_.empty() && (blocks_.size() >= max_blocks || total_ + size > max_total)) {
                std::free(blocks_.front().data);  // the oldest goes
                total_ -= blocks_.front().size;
                blocks_.erase(blocks_.begin());
            }
            blocks_.push_back({data, size});
            total_ += size;
            return;
        }
        std::free(data);
    }

private:
    struct block {
        void* data;
        std::size_t size;
    };
    static constexpr std::size_t min_block = std::size_t{1} << 20;
    static constexpr std::size_t max_blocks = 2;
    static constexpr std::size_t max_total = std::size_t{160} << 20;
    std::mutex mutex_;
    std::vector<block> blocks_;
    std::size_t total_ = 0;
};

// A fresh block for a reassembly buffer. Large ones are aligned to and advised for huge pages:
// the first touch of a fresh 64 MiB block otherwise takes 16,384 page faults, which slowed the
// reading of the first big message on a connection to a third of the later ones (and whatever
// waited behind it in the stream waited that much longer).
void* allocate_block(std::size_t size) noexcept {
    constexpr std::size_t huge = std::size_t{2} << 20;
    if (size < 2 * huge) return std::malloc(size);
    std::size_t rounded = (size + huge - 1) / huge * huge;
    void* p = std::aligned_alloc(huge, rounded);
    if (!p) return nullptr;
#ifdef MADV_HUGEPAGE
    ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP it changes nothing
#endif
    return p;
}

// Reassembly buffer of a fragmented message: byte_storage whose block can grow while only the
// reader holds it, so that the decoded binaries can share it afterwards (decode_options::owner).
struct growing_storage : byte_storage {
    std::size_t capacity = 0;    // what the reader asked for (and counts against its limits)
    std::size_t block_size = 0;  // what the block holds (at least capacity)

    static growing_storage* create(std::size_t capacity) {
        auto* s = new growing_storage;
        std::size_t got = 0;
        void* block = block_cache::instance().take(capacity, got);
        if (!block) {
            got = capacity == 0 ? 1 : capacity;
            block = allocate_block(got);
        }
        if (!block) {
            delete s;
            throw std::bad_alloc();
        }
        s->data = static_cast<const std::uint8_t*>(block);
        s->size = 0;
        s->capacity = capacity;
        s->block_size = got;
        s->release = [](byte_storage* self) noexcept {
            auto* g = static_cast<growing_storage*>(self);
            block_cache::instance().give(g->mutable_data(), g->block_size);
            delete g;
        };
        return s;
    }

    // Only while unshared.
    void grow(std::size_t new_capacity) {
        if (new_capacity > block_size) {
            void* block = std::realloc(mutable_data(), new_capacity);
            if (!block) throw std::bad_alloc();
            data = static_cast<const std::uint8_t*>(block);
            block_size = new_capacity;
        }
        capacity = new_capacity;
    }
};

std::size_t saturating_mul(std::size_t a, std::uint64_t b) noexcept {
    if (a == 0 || b == 0) return 0;
    if (b > std::numeric_limits<std::size_t>::max() / a) return std::numeric_limits<std::size_t>::max();
    return a * static_cast<std::size_t>(b);
}

unexpected<packet_error> fail(packet_errc code, std::string message) {
    return unexpected(packet_error{code, std::move(message)});
}

}  // namespace

std::string_view to_string(packet_errc e) noexcept {
    switch (e) {
        case packet_errc::empty:
            return "empty packet";
        case packet_errc::incompatible_peer:
            return "incompatible peer";
        case packet_errc::bad_header:
            return "malformed distribution header";
        case packet_errc::bad_cache_ref:
            return "reference to an empty atom cache slot";
        case packet_errc::bad_atom:
            return "bad atom in distribution header";
        case packet_errc::unknown_sequence:
            return "fragment of an unknown sequence";
        case packet_errc::duplicate_sequence:
            return "sequence already in flight";
        case packet_errc::fragment_order:
            return "fragment out of order";
        case packet_errc::bad_term:
            return "undecodable term";
        case packet_errc::trailing_data:
            return "trailing data after the message";
        case packet_errc::too_large:
            return "message too large";
        case packet_errc::too_many_sequences:
            return "too many fragmented messages in flight";
        case packet_errc::buffer_full:
            return "fragment buffer limit reached";
        case packet_errc::failed:
            return "reader failed earlier";
    }
    return "?";
}

bool uses_dist_header(std::uint64_t negotiated_flags) noexcept {
    return (negotiated_flags & (dflag::dist_hdr_atom_cache | dflag::fragments)) != 0;
}

// ---------------------------------------------------------------------------------------------
// packet_reader

struct packet_reader::sequence {
    std::uint64_t id = 0;
    std::uint64_t next_fragment = 0;    // the fragment id expected next
    growing_storage* buffer = nullptr;  // one reference, ours
    std::vector<atom> refs;             // the atoms of the first fragment's header

    ~sequence() {
        if (buffer) buffer->drop();
    }
};

packet_reader::packet_reader(std::uint64_t negotiated_flags, packet_limits limits, etf::decode_options base)
    : flags_(negotiated_flags),
      header_mode_(uses_dist_header(negotiated_flags)),
      fragments_((negotiated_flags & dflag::fragments) != 0),
      limits_(limits),
      base_(base) {
    base_.atom_refs = {};
    base_.owner = nullptr;
}

packet_reader::~packet_reader() = default;
packet_reader::packet_reader(packet_reader&&) noexcept = default;
packet_reader& packet_reader::operator=(packet_reader&&) noexcept = default;

void packet_reader::drop_sequences() noexcept {
    sequences_.clear();
    buffered_ = 0;
}

void packet_reader::reset() noexcept {
    placing_ = {};
    drop_sequences();
    cache_.fill(0);
    failed_ = false;
}

std::optional<atom> packet_reader::cached_atom(std::size_t slot) const noexcept {
    if (slot >= cache_slots || cache_[slot] == 0) return std::nullopt;
    return atom::from_index(cache_[slot] - 1);
}

result<std::optional<dist_message>, packet_error> packet_reader::feed(byte_span packet, byte_storage* owner) {
    if (failed_) {
        return fail(packet_errc::failed,
                    "the packet reader failed on an earlier packet; the connection must be closed");
    }
    if (placing_.active) {
        failed_ = true;
        return fail(packet_errc::failed, "a packet was fed while a fragment was being placed");
    }
    auto r = feed_packet(packet, owner);
    if (!r) failed_ = true;
    return r;
}

result<std::optional<std::span<std::uint8_t>>, packet_error> packet_reader::place_continuation(
    byte_span head, std::size_t packet_len) {
    using placed = std::optional<std::span<std::uint8_t>>;
    if (failed_ || placing_.active || !header_mode_ || !fragments_) return placed();
    if (head.size() < continuation_head_size || packet_len < continuation_head_size) return placed();
    if (head[0] != etf::version_magic || head[1] != dist_frag_cont) return placed();
    byte_reader r(head.subspan(2));
    std::uint64_t seq_id = 0, frag_id = 0;
    r.u64(seq_id);
    r.u64(frag_id);
    auto it = sequences_.find(seq_id);
    if (it == sequences_.end() || frag_id != it->second->next_fragment) return placed();
    std::size_t n = packet_len - continuation_head_size;
    packet_error err;
    std::uint8_t* at = reserve(*it->second, n, err);
    if (!at) {
        failed_ = true;
        return unexpected(std::move(err));
    }
    placing_ = {true, seq_id, frag_id, n};
    return placed(std::span<std::uint8_t>(at, n));
}

result<std::optional<dist_message>, packet_error> packet_reader::finish_placed() {
    if (!placing_.active) {
        failed_ = true;
        return fail(packet_errc::failed, "no fragment was being placed");
    }
    placed_fragment done = placing_;
    placing_ = {};
    auto it = sequences_.find(done.seq_id);
    sequence& seq = *it->second;
    seq.buffer->size += done.bytes;
    seq.next_fragment = done.frag_id - 1;
    if (done.frag_id > 1) return std::optional<dist_message>();
    sequence_ptr complete_seq = std::move(it->second);
    sequences_.erase(it);
    auto m = complete(std::move(complete_seq));
    if (!m) failed_ = true;
    return m;
}

result<std::optional<dist_message>, packet_error> packet_reader::feed_packet(byte_span packet,
                                                                             byte_storage* owner) {
    byte_reader r(packet);
    std::uint8_t first;
    if (!r.u8(first)) return fail(packet_errc::empty, "empty packet (ticks are not distribution messages)");

    if (first == pass_through) {
        if (header_mode_) {
            return fail(packet_errc::incompatible_peer,
                        "pass-through packet (112) on a connection that negotiated a distribution header "
                        "(DIST_HDR_ATOM_CACHE or FRAGMENTS)");
        }
        byte_span body = r.rest();
        if (body.size() > limits_.max_message_size) {
            return fail(packet_errc::too_large,
                        fmt::format("message of {} bytes exceeds the limit of {} bytes", body.size(),
                                    limits_.max_message_size));
        }
        auto m = decode_terms(body, {}, owner, true);
        if (!m) return unexpected(std::move(m).error());
        return std::optional<dist_message>(std::move(*m));
    }
    if (first != etf::version_magic) {
        return fail(header_mode_ ? packet_errc::bad_header : packet_errc::incompatible_peer,
                    fmt::format("packet starts with {}, expected {}", first, header_mode_ ? 131 : 112));
    }
    if (!header_mode_) {
        return fail(packet_errc::incompatible_peer,
                    "distribution header (131) on a pass-through connection (neither DIST_HDR_ATOM_CACHE nor "
                    "FRAGMENTS negotiated)");
    }
    std::uint8_t kind;
    if (!r.u8(kind)) return fail(packet_errc::bad_header, "packet ends after 131");
    switch (kind) {
        case dist_header: {
            packet_error err;
            if (!read_atom_header(r, refs_, err)) return unexpected(std::move(err));
            byte_span body = r.rest();
            if (body.size() > limits_.max_message_size) {
                return fail(packet_errc::too_large,
                            fmt::format("message of {} bytes exceeds the limit of {} bytes", body.size(),
                                        limits_.max_message_size));
            }
            auto m = decode_terms(body, refs_, owner, false);
            if (!m) return unexpected(std::move(m).error());
            return std::optional<dist_message>(std::move(*m));
        }
        case dist_frag_header:
        case dist_frag_cont: {
            if (!fragments_) {
                return fail(
                    packet_errc::incompatible_peer,
                    fmt::format("fragment (131,{}) on a connection that did not negotiate FRAGMENTS", kind));
            }
            if (kind == dist_frag_header) return first_fragment(r, owner);
            return continuation(r);
        }
        default:
            return fail(packet_errc::bad_header,
                        fmt::format("unknown distribution header kind 131,{}", kind));
    }
}

bool packet_reader::read_atom_header(byte_reader& r, std::vector<atom>& refs, packet_error& err) {
    auto bad = [&](packet_errc code, std::string message) {
        err = packet_error{code, std::move(message)};
        return false;
    };
    std::uint8_t n;
    if (!r.u8(n))
        return bad(packet_errc::bad_header, "distribution header ends before NumberOfAtomCacheRefs");
    if (n == 0) {
        refs.clear();
        return true;
    }
    byte_span flags;
    if (!r.bytes(n / 2 + 1, flags)) {
        return bad(packet_errc::bad_header,
                   fmt::format("distribution header ends inside the flags of {} refs", n));
    }
    auto nibble = [&](std::size_t i) { return (flags[i / 2] >> ((i & 1) * 4)) & 0xF; };
    bool long_atoms = (nibble(n) & 1) != 0;
    // The usual case, every ref an old entry: one index byte each, read in one go.
    bool any_new = false;
    for (std::size_t i = 0; i < n; ++i)
        any_new = any_new || (nibble(i) & 8) != 0;
    if (!any_new && r.remaining() >= n) {
        byte_span index;
        r.bytes(n, index);
        if (refs.size() != n) refs.resize(n);  // mostly the size it had: no work
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t slot = static_cast<std::size_t>(nibble(i) & 7) * 256 + index[i];
            std::uint32_t held = cache_[slot];
            if (held == 0) {
                return bad(packet_errc::bad_cache_ref,
                           fmt::format("ref {} names atom cache slot {}:{}, which holds no atom", i, nibble(i) & 7,
                                       index[i]));
            }
            refs[i] = atom::from_index(held - 1);
        }
        return true;
    }
    refs.clear();
    refs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        unsigned f = static_cast<unsigned>(nibble(i));
        std::uint8_t index;
        if (!r.u8(index))
            return bad(packet_errc::bad_header, fmt::format("distribution header ends in ref {}", i));
        std::size_t slot = (f & 7) * 256 + index;
        if ((f & 8) == 0) {
            if (cache_[slot] == 0) {
                return bad(
                    packet_errc::bad_cache_ref,
                    fmt::format("ref {} names atom cache slot {}:{}, which holds no atom", i, f & 7, index));
            }
            refs.push_back(atom::from_index(cache_[slot] - 1));
            continue;
        }
        std::size_t len;
        if (long_atoms) {
            std::uint16_t l;
            if (!r.u16(l))
                return bad(packet_errc::bad_header, fmt::format("distribution header ends in ref {}", i));
            len = l;
        } else {
            std::uint8_t l;
            if (!r.u8(l))
                return bad(packet_errc::bad_header, fmt::format("distribution header ends in ref {}", i));
            len = l;
        }
        byte_span text;
        if (!r.bytes(len, text)) {
            return bad(packet_errc::bad_header,
                       fmt::format("distribution header ends in the text of ref {}", i));
        }
        std::string_view name = as_chars(text);
        std::optional<atom> a;
        bool counted = !base_.allow_new_atoms || base_.atom_budget != nullptr;
        if (counted) a = atom::existing(name);
        if (!a) {
            if (counted && (!base_.allow_new_atoms || *base_.atom_budget == 0)) {
                return bad(packet_errc::bad_atom,
                           fmt::format("ref {}: new atom not allowed (atom budget spent)", i));
            }
            auto made = atom::make(name);
            if (!made) {
                return bad(packet_errc::bad_atom, fmt::format("ref {}: {}", i, to_string(made.error())));
            }
            if (base_.atom_budget) --*base_.atom_budget;
            a = *made;
        }
        cache_[slot] = a->index() + 1;
        refs.push_back(*a);
    }
    return true;
}

result<std::optional<dist_message>, packet_error> packet_reader::first_fragment(byte_reader& r,
                                                                                byte_storage* owner) {
    std::uint64_t seq_id, frag_id;
    if (!r.u64(seq_id) || !r.u64(frag_id))
        return fail(packet_errc::bad_header, "first fragment header truncated");
    if (frag_id == 0) {
        return fail(packet_errc::fragment_order,
                    fmt::format("first fragment of sequence {:#x} has fragment id 0", seq_id));
    }
    if (sequences_.count(seq_id)) {
        return fail(packet_errc::duplicate_sequence,
                    fmt::format("first fragment of sequence {:#x}, which is already in flight", seq_id));
    }
    packet_error err;
    if (!read_atom_header(r, refs_, err)) return unexpected(std::move(err));
    byte_span body = r.rest();
    if (body.size() > limits_.max_message_size) {
        return fail(packet_errc::too_large,
                    fmt::format("message of at least {} bytes exceeds the limit of {} bytes", body.size(),
                                limits_.max_message_size));
    }
    if (frag_id == 1) {  // a sequence of one fragment: a complete message
        auto m = decode_terms(body, refs_, owner, false);
        if (!m) return unexpected(std::move(m).error());
        return std::optional<dist_message>(std::move(*m));
    }
    if (sequences_.size() >= limits_.max_sequences) {
        return fail(packet_errc::too_many_sequences,
                    fmt::format("more than {} fragmented messages in flight", limits_.max_sequences));
    }
    // Senders cut every fragment but the last to one size, so fragments x first size is an upper
    // bound of the whole (OTP); reserve that, within the limits, to append without moving.
    std::size_t hint = std::min(saturating_mul(body.size(), frag_id), limits_.max_message_size);
    std::size_t available = limits_.max_buffered_bytes - buffered_;
    std::size_t capacity = std::min(hint, available);
    if (capacity < body.size()) {
        return fail(packet_errc::buffer_full,
                    fmt::format("buffering a fragment of {} bytes would exceed the limit of {} bytes",
                                body.size(), limits_.max_buffered_bytes));
    }
    auto seq = std::make_unique<sequence>();
    seq->id = seq_id;
    seq->next_fragment = frag_id - 1;
    seq->buffer = growing_storage::create(capacity);
    seq->refs = refs_;
    buffered_ += capacity;
    if (!body.empty()) std::memcpy(seq->buffer->mutable_data(), body.data(), body.size());
    seq->buffer->size = body.size();
    sequences_.emplace(seq_id, std::move(seq));
    return std::optional<dist_message>();
}

result<std::optional<dist_message>, packet_error> packet_reader::continuation(byte_reader& r) {
    std::uint64_t seq_id, frag_id;
    if (!r.u64(seq_id) || !r.u64(frag_id))
        return fail(packet_errc::bad_header, "continuation fragment header truncated");
    auto it = sequences_.find(seq_id);
    if (it == sequences_.end()) {
        return fail(packet_errc::unknown_sequence,
                    fmt::format("continuation fragment {} of sequence {:#x}, which is not in flight", frag_id,
                                seq_id));
    }
    sequence& seq = *it->second;
    if (frag_id != seq.next_fragment) {
        return fail(packet_errc::fragment_order,
                    fmt::format("sequence {:#x}: fragment {} arrived where fragment {} was expected", seq_id,
                                frag_id, seq.next_fragment));
    }
    packet_error err;
    if (!append(seq, r.rest(), err)) return unexpected(std::move(err));
    seq.next_fragment = frag_id - 1;
    if (frag_id > 1) return std::optional<dist_message>();
    sequence_ptr done = std::move(it->second);
    sequences_.erase(it);
    return complete(std::move(done));
}

bool packet_reader::append(sequence& seq, byte_span bytes, packet_error& err) {
    std::uint8_t* at = reserve(seq, bytes.size(), err);
    if (!at) return false;
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    seq.buffer->size += bytes.size();
    return true;
}

// Room for n more bytes at the end of the sequence's buffer (grown within the limits); where
// they go, or nullptr with err set.
std::uint8_t* packet_reader::reserve(sequence& seq, std::size_t n, packet_error& err) {
    growing_storage& buf = *seq.buffer;
    std::size_t needed = buf.size + n;
    if (needed > limits_.max_message_size) {
        err = packet_error{
            packet_errc::too_large,
            fmt::format("sequence {:#x}: message of at least {} bytes exceeds the limit of {} bytes", seq.id,
                        needed, limits_.max_message_size)};
        return nullptr;
    }
    if (needed > buf.capacity) {
        std::size_t available = limits_.max_buffered_bytes - (buffered_ - buf.capacity);
        if (needed > available) {
            err = packet_error{
                packet_errc::buffer_full,
                fmt::format("sequence {:#x}: buffered fragments would exceed the limit of {} bytes", seq.id,
                            limits_.max_buffered_bytes)};
            return nullptr;
        }
        std::size_t doubled =
            buf.capacity > limits_.max_message_size / 2 ? limits_.max_message_size : buf.capacity * 2;
        std::size_t new_capacity = std::min(std::max(needed, doubled), available);
        buffered_ = buffered_ - buf.capacity + new_capacity;
        buf.grow(new_capacity);
    }
    return buf.mutable_data() + buf.size;
}

result<std::optional<dist_message>, packet_error> packet_reader::complete(sequence_ptr seq) {
    buffered_ -= seq->buffer->capacity;
    byte_span body(seq->buffer->data, seq->buffer->size);
    auto m = decode_terms(body, seq->refs, seq->buffer, false);
    if (!m) return unexpected(std::move(m).error());
    return std::optional<dist_message>(std::move(*m));
}

namespace {

// The quick reading of message signals (set_quick_messages): only the shapes OTP and nodus
// write; anything else returns false and is decoded in full.

// An atom as an atom cache reference, or the empty atom ('' of the Unused fields).
bool quick_atom(byte_reader& r, std::span<const atom> refs, atom& out) {
    std::uint8_t tag, n;
    if (!r.u8(tag) || !r.u8(n)) return false;
    if (tag == etf::atom_cache_ref) {
        if (n >= refs.size()) return false;
        out = refs[n];
        return true;
    }
    if ((tag == etf::small_atom_utf8_ext || tag == etf::small_atom_ext) && n == 0) {
        out = atom();
        return true;
    }
    return false;
}

// A NEW_PID_EXT whose node is a cache reference; the pid when out is given.
bool quick_pid(byte_reader& r, std::span<const atom> refs, term* out) {
    std::uint8_t tag;
    atom node;
    std::uint32_t id, serial, creation;
    if (!r.u8(tag) || tag != etf::new_pid_ext || !quick_atom(r, refs, node) || !r.u32(id) || !r.u32(serial) ||
        !r.u32(creation))
        return false;
    if (out) *out = term(pid::make(node, id, serial, creation));
    return true;
}

// {2, Unused, To}, {22, From, To} or {6, From, Unused, ToName}, followed by a payload.
bool quick_control(byte_reader& r, std::span<const atom> refs, quick_message& out) {
    byte_reader t = r;
    std::uint8_t tuple_tag, arity, int_tag, op_code;
    if (!t.u8(tuple_tag) || tuple_tag != etf::small_tuple_ext || !t.u8(arity) || !t.u8(int_tag) ||
        int_tag != etf::small_integer_ext || !t.u8(op_code))
        return false;
    quick_message q;
    atom a;
    switch (static_cast<op>(op_code)) {
        case op::send:
            if (arity != 3 || !quick_atom(t, refs, a) || !quick_pid(t, refs, &q.to)) return false;
            q.what = quick_message::kind::to_pid;
            break;
        case op::send_sender:
            if (arity != 3 || !quick_pid(t, refs, nullptr) || !quick_pid(t, refs, &q.to)) return false;
            q.what = quick_message::kind::to_pid;
            break;
        case op::reg_send:
            if (arity != 4 || !quick_pid(t, refs, nullptr) || !quick_atom(t, refs, a) || !quick_atom(t, refs, a))
                return false;
            q.to = term(a);
            q.what = quick_message::kind::to_name;
            break;
        default: return false;
    }
    if (t.at_end()) return false;  // no payload: the full decoding says what is wrong
    r = t;
    out = std::move(q);
    return true;
}

}  // namespace

result<dist_message, packet_error> packet_reader::decode_terms(byte_span body, std::span<const atom> refs,
                                                               byte_storage* owner, bool with_magic) {
    etf::decode_options opts = base_;
    opts.atom_refs = refs;
    opts.owner = owner;
    byte_reader r(body);
    dist_message m;
    for (int part = 0; part < 2; ++part) {
        if (part == 0 && quick_ && !with_magic && quick_control(r, refs, m.quick)) continue;
        const char* what = part == 0 ? "control" : "payload";
        if (with_magic) {
            std::uint8_t magic;
            if (!r.u8(magic)) {
                return fail(packet_errc::bad_term,
                            fmt::format("pass-through packet without a {} term", what));
            }
            if (magic != etf::version_magic) {
                return fail(
                    packet_errc::bad_term,
                    fmt::format("{} term of a pass-through packet starts with {}, not 131", what, magic));
            }
        }
        std::size_t start = r.offset();
        auto t = etf::decode_body(r, opts);
        if (!t) {
            const etf::error& e = t.error();
            return unexpected(packet_error{packet_errc::bad_term,
                                           fmt::format("{} term: {} at byte {} of the term", what,
                                                       etf::to_string(e.code), e.offset - start),
                                           e});
        }
        if (part == 0) {
            m.control = std::move(*t);
            if (r.at_end()) return m;
        } else {
            m.payload = std::move(*t);
        }
    }
    if (!r.at_end()) {
        return fail(packet_errc::trailing_data,
                    fmt::format("{} bytes after the payload term", r.remaining()));
    }
    return m;
}

// ---------------------------------------------------------------------------------------------
// packet_writer

namespace detail {

// The first packet's head is written in front of the terms when it fits (no allocation, and one
// contiguous slice for the writer); a head with many new atom texts goes to first_head instead.
inline constexpr std::size_t head_room = 64;
inline constexpr std::size_t inline_atoms = 32;

struct message_storage {
    std::vector<std::uint8_t> body;     // head_room bytes, then the encoded terms (large binaries left out)
    std::vector<term> binaries;         // large binaries spliced in by reference, kept alive here
    std::vector<byte_span> slices;      // the body slices of every packet, in packet order
    byte_span single;                   // the one slice of an unfragmented message without binaries
    std::vector<std::uint8_t> heads;    // continuation heads
    std::vector<std::uint8_t> first_head;
    // ATOM_CACHE_REF i in the body means atom(i): the first few inline, the rest in more_atoms.
    std::array<atom, inline_atoms> few_atoms;
    std::vector<atom> more_atoms;
    std::size_t atom_count = 0;
    std::size_t first_body_size = 0;
    std::uint64_t sequence_id = 0;
    std::uint64_t count = 1;  // packets
    bool sealed = false;

    atom atom_at(std::size_t i) const noexcept { return i < inline_atoms ? few_atoms[i] : more_atoms[i - inline_atoms]; }
    void add_atom(atom a) {
        if (atom_count < inline_atoms) few_atoms[atom_count] = a;
        else more_atoms.push_back(a);
        ++atom_count;
    }
};

}  // namespace detail

void outgoing_packet::append_to(std::vector<std::uint8_t>& out) const {
    out.insert(out.end(), head.begin(), head.end());
    for (const byte_span& b : body)
        out.insert(out.end(), b.begin(), b.end());
}

bool outgoing_message::sealed() const noexcept {
    return !storage || storage->sealed;
}

std::size_t outgoing_message::size() const noexcept {
    std::size_t n = 0;
    for (const auto& p : packets)
        n += p.size();
    return n;
}

std::vector<std::uint8_t> outgoing_message::to_bytes() const {
    std::vector<std::uint8_t> out;
    out.reserve(size());
    for (const auto& p : packets)
        p.append_to(out);
    return out;
}

packet_writer::packet_writer(std::uint64_t negotiated_flags, std::size_t fragment_size, std::size_t zero_copy_min)
    : flags_(negotiated_flags),
      header_mode_(uses_dist_header(negotiated_flags)),
      fragments_((negotiated_flags & dflag::fragments) != 0),
      atom_cache_((negotiated_flags & dflag::dist_hdr_atom_cache) != 0),
      fragment_size_(fragment_size == 0 ? 1 : fragment_size),
      zero_copy_min_(zero_copy_min == 0 ? 1 : zero_copy_min) {}

namespace {

void put_u64(std::vector<std::uint8_t>& v, std::uint64_t x) {
    for (int shift = 56; shift >= 0; shift -= 8)
        v.push_back(static_cast<std::uint8_t>(x >> shift));
}
void put_u32(std::vector<std::uint8_t>& v, std::uint64_t x) {
    for (int shift = 24; shift >= 0; shift -= 8)
        v.push_back(static_cast<std::uint8_t>(x >> shift));
}

// Where a message's header refs are kept: the message storage, or a small_encoding.
struct storage_atoms {
    detail::message_storage& st;
    std::size_t count() const noexcept { return st.atom_count; }
    atom at(std::size_t i) const noexcept { return st.atom_at(i); }
    void add(atom a) { st.add_atom(a); }
};
struct vector_atoms {
    std::vector<atom>& v;
    std::size_t count() const noexcept { return v.size(); }
    atom at(std::size_t i) const noexcept { return v[i]; }
    void add(atom a) { v.push_back(a); }
};

// The distinct atoms of one message in order of first use: the message's header refs. Most
// messages have a handful: a linear scan, and a hash table only past linear_max.
template <class Atoms>
class atom_collector final : public etf::atom_ref_sink {
public:
    explicit atom_collector(Atoms st) : st_(st) {}
    int ref_for(atom a) override {
        std::size_t n = st_.count();
        if (!hashed_) {
            for (std::size_t i = 0; i < n; ++i)
                if (st_.at(i) == a) return static_cast<int>(i);
            if (n < linear_max) return add(a, nullptr);
            table_.fill(0);
            for (std::size_t i = 0; i < n; ++i)
                table_[probe(st_.at(i))] = static_cast<std::uint16_t>(i + 1);
            hashed_ = true;
        }
        std::size_t h = probe(a);
        if (table_[h] != 0) return table_[h] - 1;
        return add(a, &table_[h]);
    }

private:
    static constexpr std::size_t max_refs = 255;
    static constexpr std::size_t linear_max = 16;
    static constexpr unsigned table_bits = 9;  // twice max_refs: probes stay short
    static constexpr std::size_t table_size = std::size_t{1} << table_bits;

    // The slot holding a, or the empty slot where it belongs.
    std::size_t probe(atom a) const noexcept {
        std::size_t h = (a.index() * 0x9E3779B1u) >> (32 - table_bits);
        while (table_[h] != 0 && st_.at(table_[h] - 1) != a)
            h = (h + 1) & (table_size - 1);
        return h;
    }
    int add(atom a, std::uint16_t* slot) {
        if (st_.count() == max_refs) return -1;  // the header holds 255: the rest go inline
        st_.add(a);
        if (slot) *slot = static_cast<std::uint16_t>(st_.count());
        return static_cast<int>(st_.count() - 1);
    }

    Atoms st_;
    bool hashed_ = false;
    std::array<std::uint16_t, table_size> table_;  // index + 1 into the atoms; filled when hashed_
};

// Finds out whether a term has a binary the writer would send by reference (encode_small).
class binary_detector final : public etf::binary_ref_sink {
public:
    using etf::binary_ref_sink::binary_ref_sink;
    void external(const term&, std::size_t) override { found = true; }
    bool found = false;
};

using slot_cache = std::array<std::uint32_t, packet_writer::cache_slots>;

// What a message's atom cache header needs: which refs are new to the peer (the cache view is
// updated ref by ref, as the peer will update its own), whether any is a long atom, and the
// bytes of the texts. n < 256 (the collector stops at 255).
struct head_plan {
    std::array<std::uint64_t, 4> fresh{};
    bool long_atoms = false;
    std::size_t texts = 0;
    bool is_fresh(std::size_t i) const noexcept { return (fresh[i / 64] >> (i % 64)) & 1; }
};

template <class AtomAt>
head_plan plan_head(AtomAt atom_at, std::size_t n, slot_cache* cache) {
    head_plan plan;
    for (std::size_t i = 0; i < n; ++i) {
        atom a = atom_at(i);
        std::size_t slot = a.index() % packet_writer::cache_slots;
        if ((*cache)[slot] == a.index() + 1) continue;
        (*cache)[slot] = a.index() + 1;
        plan.fresh[i / 64] |= std::uint64_t{1} << (i % 64);
        std::size_t len = a.name().size();
        if (len > 255) plan.long_atoms = true;
        plan.texts += 1 + len;
    }
    if (plan.long_atoms) {
        for (std::size_t i = 0; i < n; ++i) plan.texts += plan.is_fresh(i) ? 1 : 0;  // 2-byte lengths
    }
    return plan;
}

// Bytes of the atom cache header: NumberOfAtomCacheRefs, the flags, then the refs.
std::size_t cache_header_len(std::size_t n, const head_plan& plan) {
    return n == 0 ? 1 : 1 + n / 2 + 1 + n + plan.texts;
}

template <class AtomAt>
std::uint8_t* write_cache_header(std::uint8_t* p, AtomAt atom_at, std::size_t n, const head_plan& plan) {
    *p++ = static_cast<std::uint8_t>(n);
    if (n == 0) return p;
    std::uint8_t* flags = p;
    std::memset(flags, 0, n / 2 + 1);
    auto set_nibble = [&](std::size_t i, unsigned v) {
        flags[i / 2] |= static_cast<std::uint8_t>(v << ((i & 1) * 4));
    };
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t slot = atom_at(i).index() % packet_writer::cache_slots;
        set_nibble(i, (plan.is_fresh(i) ? 8u : 0u) | static_cast<unsigned>(slot >> 8));
    }
    set_nibble(n, plan.long_atoms ? 1u : 0u);
    p += n / 2 + 1;
    for (std::size_t i = 0; i < n; ++i) {
        atom a = atom_at(i);
        *p++ = static_cast<std::uint8_t>((a.index() % packet_writer::cache_slots) & 0xFF);
        if (!plan.is_fresh(i)) continue;
        std::string_view name = a.name();
        if (plan.long_atoms) *p++ = static_cast<std::uint8_t>(name.size() >> 8);
        *p++ = static_cast<std::uint8_t>(name.size());
        std::memcpy(p, name.data(), name.size());
        p += name.size();
    }
    return p;
}

class binary_collector final : public etf::binary_ref_sink {
public:
    binary_collector(std::size_t min_bytes, std::vector<term>& binaries)
        : etf::binary_ref_sink(min_bytes), binaries_(binaries) {}
    void external(const term& bitstring, std::size_t at) override {
        binaries_.push_back(bitstring);
        positions.push_back(at);
        bytes += bitstring.bytes().size();
    }
    std::vector<std::size_t> positions;
    std::size_t bytes = 0;

private:
    std::vector<term>& binaries_;
};

}  // namespace

result<outgoing_message, packet_error> packet_writer::prepare(const term& control, const term* payload,
                                                              std::uint64_t sequence_id, bool cache_atoms) const {
    auto storage = std::make_shared<detail::message_storage>();
    detail::message_storage& st = *storage;
    atom_collector<storage_atoms> atoms(storage_atoms{st});
    binary_collector binaries(zero_copy_min_, st.binaries);
    etf::encode_options eo;
    eo.minor_version = 2;  // atoms always UTF-8, as distribution requires
    eo.external_binaries = &binaries;
    if (atom_cache_ && cache_atoms) eo.atom_refs = &atoms;
    byte_writer w;
    w.grow(detail::head_room);
    if (header_mode_) {
        etf::encode_body(control, w, eo);
    } else {
        etf::encode(control, w, eo);
    }
    std::size_t control_size = w.size() - detail::head_room + binaries.bytes;
    if (payload) {
        if (header_mode_) {
            etf::encode_body(*payload, w, eo);
        } else {
            etf::encode(*payload, w, eo);
        }
    }
    std::size_t total = w.size() - detail::head_room + binaries.bytes;

    // Cut: the first fragment holds the whole control term and fills up to fragment_size.
    std::size_t first_len = total;
    std::uint64_t count = 1;
    if (fragments_ && total > fragment_size_) {
        first_len = std::max(control_size, fragment_size_);
        std::size_t rest = total - first_len;
        count = 1 + (rest + fragment_size_ - 1) / fragment_size_;
    }
    if (count > 1 && sequence_id == 0) {
        return fail(packet_errc::bad_header, "sequence id 0 cannot identify a fragmented message");
    }
    // Head sizes without the length prefix; the atom cache header comes on top of the first.
    constexpr std::size_t single_head_pass = 1, single_head_hdr = 3, first_head = 19, cont_head = 18;
    std::size_t first_head_len = count > 1 ? first_head : (header_mode_ ? single_head_hdr : single_head_pass);
    if (atom_cache_) first_head_len += 1 + 128 + 255 * (3 + 1020);  // the largest atom cache header
    std::size_t largest = count == 1 ? first_head_len + total
                                     : std::max(first_head + first_len,
                                                cont_head + std::min(fragment_size_, total - first_len));
    if (largest > max_packet_length) {
        return fail(
            packet_errc::too_large,
            fmt::format("a packet of {} bytes exceeds the 32-bit length of the packet framing", largest));
    }

    st.body = w.take();
    st.sequence_id = sequence_id;
    st.count = count;
    st.first_body_size = first_len;

    outgoing_message out;
    out.packets.resize(count);
    if (count > 1) {
        std::shared_ptr<const void> keep_alive = storage;
        for (auto& p : out.packets) p.keep_alive = keep_alive;
    }

    // Body slices of each packet, in order.
    if (binaries.positions.empty() && count == 1) {
        st.single = byte_span(st.body.data() + detail::head_room, total);
        out.packets[0].body = std::span<const byte_span>(&st.single, total == 0 ? 0 : 1);
        out.packets[0].body_size = total;
    } else {
        // The whole body as pieces: encoded bytes and spliced binaries, alternating.
        std::vector<byte_span> pieces;
        pieces.reserve(2 * binaries.positions.size() + 1);
        std::size_t prev = detail::head_room;
        for (std::size_t i = 0; i < binaries.positions.size(); ++i) {
            std::size_t at = binaries.positions[i];
            if (at > prev) pieces.emplace_back(st.body.data() + prev, at - prev);
            pieces.push_back(st.binaries[i].bytes());
            prev = at;
        }
        if (st.body.size() > prev) pieces.emplace_back(st.body.data() + prev, st.body.size() - prev);

        std::vector<std::pair<std::size_t, std::size_t>> ranges;  // per packet: first slice, count
        ranges.reserve(count);
        st.slices.reserve(pieces.size() + 2 * count);
        std::size_t piece = 0, offset = 0;  // cursor in pieces
        std::size_t at = 0;
        for (std::uint64_t k = 0; k < count; ++k) {
            std::size_t len = k == 0 ? first_len : std::min(fragment_size_, total - at);
            std::size_t first_slice = st.slices.size();
            std::size_t left = len;
            while (left > 0) {
                const byte_span& pc = pieces[piece];
                std::size_t take = std::min(left, pc.size() - offset);
                st.slices.push_back(pc.subspan(offset, take));
                left -= take;
                offset += take;
                if (offset == pc.size()) {
                    ++piece;
                    offset = 0;
                }
            }
            ranges.emplace_back(first_slice, st.slices.size() - first_slice);
            out.packets[k].body_size = len;
            at += len;
        }
        for (std::uint64_t k = 0; k < count; ++k)
            out.packets[k].body = std::span<const byte_span>(st.slices.data() + ranges[k].first, ranges[k].second);
    }

    // Continuation heads (the first one is written by seal).
    if (count > 1) {
        std::vector<std::uint8_t>& heads = st.heads;
        heads.reserve((count - 1) * (4 + cont_head));
        for (std::uint64_t k = 1; k < count; ++k) {
            put_u32(heads, cont_head + out.packets[k].body_size);
            heads.push_back(etf::version_magic);
            heads.push_back(dist_frag_cont);
            put_u64(heads, sequence_id);
            put_u64(heads, count - k);
        }
        for (std::uint64_t k = 1; k < count; ++k)
            out.packets[k].head = byte_span(heads.data() + (k - 1) * (4 + cont_head), 4 + cont_head);
    }
    out.storage = std::move(storage);
    // Without cached atoms the head does not depend on the cache: seal now, on this thread.
    if (st.atom_count == 0) write_first_head(out, nullptr);
    return out;
}

void packet_writer::seal(outgoing_message& m) {
    ++sent_generation_;
    write_first_head(m, &sent_);
}

// cache: the peer's view of the atom cache, updated; null only for messages without atom refs.
void packet_writer::write_first_head(outgoing_message& m, std::array<std::uint32_t, cache_slots>* cache) const {
    detail::message_storage* st = m.storage.get();
    if (!st || st->sealed) return;
    const std::size_t n = st->atom_count;
    auto atom_at = [st](std::size_t i) { return st->atom_at(i); };
    // Only prepare() with the atom cache on makes refs (and a cache view to update).
    head_plan plan = n == 0 ? head_plan{} : plan_head(atom_at, n, cache);
    std::size_t kind_len = !header_mode_ ? 1 : st->count > 1 ? 18 : 2;
    std::size_t cache_len = !header_mode_ ? 0 : cache_header_len(n, plan);
    std::size_t head_len = 4 + kind_len + cache_len;

    std::uint8_t* h;
    if (head_len <= detail::head_room) {
        h = st->body.data() + detail::head_room - head_len;
    } else {
        st->first_head.resize(head_len);
        h = st->first_head.data();
    }
    std::uint8_t* p = h;
    std::size_t length = head_len - 4 + st->first_body_size;
    byte_writer::put32(p, static_cast<std::uint32_t>(length));
    p += 4;
    if (!header_mode_) {
        *p++ = pass_through;
    } else {
        *p++ = etf::version_magic;
        if (st->count > 1) {
            *p++ = dist_frag_header;
            byte_writer::put32(p, static_cast<std::uint32_t>(st->sequence_id >> 32));
            byte_writer::put32(p + 4, static_cast<std::uint32_t>(st->sequence_id));
            byte_writer::put32(p + 8, static_cast<std::uint32_t>(st->count >> 32));
            byte_writer::put32(p + 12, static_cast<std::uint32_t>(st->count));
            p += 16;
        } else {
            *p++ = dist_header;
        }
        write_cache_header(p, atom_at, n, plan);
    }
    m.packets[0].head = byte_span(h, head_len);
    st->sealed = true;
}

namespace {

// The key of control elements made only of immediates and pids (what message signals hold);
// false for anything else (a trace token, say), which is then encoded every time.
bool control_key_of(std::span<const term> elements, bool header_mode, bool atom_cache,
                    small_encoding::control_key& key) {
    if (elements.empty() || elements.size() * 3 > key.words.size()) return false;
    key.elements = elements.size();
    key.header_mode = header_mode;
    key.atom_cache = atom_cache;
    for (std::size_t i = 0; i < elements.size(); ++i) {
        const term& t = elements[i];
        std::uint64_t* w = &key.words[3 * i];
        if (!t.is_boxed()) {
            w[0] = 1;
            w[1] = t.raw();
            w[2] = 0;
        } else if (t.is_pid()) {  // a remote pid: by value (a box's address may be reused)
            w[0] = 2;
            w[1] = (std::uint64_t{t.pid_node().index()} << 32) | t.pid_creation();
            w[2] = (std::uint64_t{t.pid_id()} << 32) | t.pid_serial();
        } else {
            return false;
        }
    }
    return true;
}

// encode_small for a control term written by write_control(body, options). With a key, the
// control part of the last encoding is kept when the key is the same.
template <class WriteControl>
bool encode_small_with(const packet_writer& w, std::size_t zero_copy_min, WriteControl write_control,
                       const term* payload, small_encoding& out,
                       const small_encoding::control_key* key = nullptr) {
    bool reuse = key && out.control.elements != 0 && out.control == *key;
    if (reuse) {
        out.body.buffer().resize(out.control_bytes);
        out.atoms.resize(out.control_atoms);
    } else {
        out.clear();
    }
    atom_collector<vector_atoms> atoms(vector_atoms{out.atoms});
    binary_detector big(zero_copy_min);
    etf::encode_options eo;
    eo.minor_version = 2;
    eo.external_binaries = &big;
    if (w.atom_cache()) eo.atom_refs = &atoms;
    // A term that needs fragments is not encoded in full here: prepare() encodes it.
    if (w.fragments()) eo.stop_above = w.fragment_size();
    if (!reuse) {
        write_control(out.body, eo);
        if (big.found || (w.fragments() && out.body.size() > w.fragment_size())) return false;
        if (key) {
            out.control = *key;
            out.control_bytes = out.body.size();
            out.control_atoms = out.atoms.size();
        }
    }
    if (payload) {
        if (w.header_mode()) etf::encode_body(*payload, out.body, eo);
        else etf::encode(*payload, out.body, eo);
    }
    if (big.found) return false;
    std::size_t total = out.body.size();
    if (w.fragments() && total > w.fragment_size()) return false;
    // Far from the 32-bit packet length: prepare() reports what is too large.
    return total < (std::size_t{1} << 30);
}

}  // namespace

bool packet_writer::encode_small(const term& control, const term* payload, small_encoding& out) const {
    bool hdr = header_mode_;
    auto write_control = [&](byte_writer& body, const etf::encode_options& eo) {
        if (hdr) etf::encode_body(control, body, eo);
        else etf::encode(control, body, eo);
    };
    return encode_small_with(*this, zero_copy_min_, write_control, payload, out);
}

bool packet_writer::encode_small(std::span<const term> control_elements, const term* payload,
                                 small_encoding& out) const {
    bool hdr = header_mode_;
    auto write_control = [&](byte_writer& body, const etf::encode_options& eo) {
        if (!hdr) body.u8(etf::version_magic);
        etf::encode_tuple_body(control_elements, body, eo);
    };
    small_encoding::control_key key;
    bool keyed = control_key_of(control_elements, hdr, atom_cache(), key);
    return encode_small_with(*this, zero_copy_min_, write_control, payload, out, keyed ? &key : nullptr);
}

void packet_writer::append_sealed(byte_span body_bytes, std::span<const atom> atoms, std::vector<std::uint8_t>& out) {
    const std::size_t n = atoms.size();
    std::size_t body = body_bytes.size();
    std::size_t kind_len = header_mode_ ? 2 : 1;
    auto append_body = [&] { out.insert(out.end(), body_bytes.data(), body_bytes.data() + body); };
    if (header_mode_ && n != 0 && last_generation_ == sent_generation_ && n == last_atoms_.size() &&
        std::equal(atoms.begin(), atoms.end(), last_atoms_.begin())) {
        std::array<std::uint8_t, 4> len;
        byte_writer::put32(len.data(), static_cast<std::uint32_t>(last_head_len_ + body));
        out.insert(out.end(), len.begin(), len.end());
        out.insert(out.end(), last_head_.data(), last_head_.data() + last_head_len_);
        append_body();
        return;
    }
    auto atom_at = [&atoms](std::size_t i) { return atoms[i]; };
    head_plan plan = n == 0 ? head_plan{} : plan_head(atom_at, n, &sent_);
    if (plan.texts != 0) ++sent_generation_;
    std::size_t cache_len = header_mode_ ? cache_header_len(n, plan) : 0;
    std::size_t head_len = 4 + kind_len + cache_len;
    auto write_head = [&](std::uint8_t* p) {
        byte_writer::put32(p, static_cast<std::uint32_t>(head_len - 4 + body));
        p += 4;
        if (!header_mode_) {
            *p++ = pass_through;
        } else {
            *p++ = etf::version_magic;
            *p++ = dist_header;
            write_cache_header(p, atom_at, n, plan);
        }
    };
    // Appended, not resized and overwritten: resize would zero every byte first (it showed in
    // profiles of the small-message path). A head with many new atom texts is the rare case.
    std::array<std::uint8_t, 256> head;
    if (head_len <= head.size()) {
        write_head(head.data());
        out.insert(out.end(), head.data(), head.data() + head_len);
        if (header_mode_ && n != 0 && plan.texts == 0 && head_len - 4 <= last_head_.size()) {
            last_atoms_.assign(atoms.begin(), atoms.end());
            std::memcpy(last_head_.data(), head.data() + 4, head_len - 4);
            last_head_len_ = head_len - 4;
            last_generation_ = sent_generation_;
        }
    } else {
        std::size_t at = out.size();
        out.resize(at + head_len);
        write_head(out.data() + at);
    }
    append_body();
}

result<outgoing_message, packet_error> packet_writer::encode(const term& control, const term* payload,
                                                             std::uint64_t sequence_id) {
    auto m = prepare(control, payload, sequence_id);
    if (m) seal(*m);
    return m;
}

}  // namespace nodus::dist

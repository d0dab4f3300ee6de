// ETF decoder. One loop over an explicit stack of container frames: a frame is a tuple, list,
// map or fun whose elements are still being decoded. Lists do not nest frames through their
// tails, so a ten-million element list needs one frame, and deep nesting is bounded by
// limits.max_depth.
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "etf/small_stack.hpp"
#include "nodus/etf/etf.hpp"

namespace nodus::etf {

using detail::fun_box;

std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::truncated: return "truncated term";
        case errc::bad_version: return "missing version byte 131";
        case errc::unknown_tag: return "unknown tag";
        case errc::bad_atom: return "invalid atom text";
        case errc::atom_table_full: return "atom table full";
        case errc::atom_budget: return "new atom not allowed (atom budget spent)";
        case errc::too_deep: return "term nested too deeply";
        case errc::too_large: return "length above limit";
        case errc::bad_float: return "invalid float";
        case errc::bad_bitstring: return "invalid bitstring bit count";
        case errc::duplicate_map_key: return "duplicate map key";
        case errc::bad_fun: return "invalid fun";
        case errc::bad_reference: return "invalid reference length";
        case errc::bad_node: return "node of pid/port/reference is not an atom";
        case errc::bad_cache_ref: return "atom cache reference out of range";
        case errc::bad_compressed: return "corrupt compressed term";
        case errc::trailing_data: return "trailing bytes after term";
        case errc::bad_header: return "malformed distribution header";
    }
    return "unknown error";
}

std::string error::message() const {
    return std::string(to_string(code)) + " at byte " + std::to_string(offset);
}

namespace {

// A small per-thread cache of ASCII atom texts: decoding the same atoms again and again
// (control messages, record tags) skips the table's lock and hash.
struct atom_memo {
    struct slot {
        std::uint32_t index = 0;
        std::uint32_t len = UINT32_MAX;
    };
    slot slots[512];

    static std::size_t hash(const std::uint8_t* p, std::size_t n) noexcept {
        std::uint64_t h = 1469598103934665603ull ^ n;
        for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};
thread_local atom_memo memo;

// A decoded binary: above 64 bytes it shares the input's storage (opts.owner) when it lies in
// it, below it is copied (small binaries would keep a large buffer alive).
term binary_of(byte_span data, const decode_options& o) {
    constexpr std::size_t share_above = 64;
    if (o.owner && data.size() > share_above) {
        const std::uint8_t* base = o.owner->data;
        if (data.data() >= base && data.data() + data.size() <= base + o.owner->size)
            return binary(o.owner, static_cast<std::size_t>(data.data() - base), data.size());
    }
    return binary(data);
}

enum class frame_kind : std::uint8_t { tuple, list, map, fun };

struct frame {
    frame_kind kind;
    std::uint32_t depth;
    term* slots;         // tuple elements / map keys / fun free variables; list: slot for next cell
    std::size_t index;   // elements done
    std::size_t count;   // elements in total
    term* whole;         // map: the map term (to sort at the end); fun: unused
    std::size_t start;   // fun: offset where Size was counted from
    std::size_t size;    // fun: announced size
};

class decoder {
public:
    decoder(byte_reader& r, const decode_options& o) : r_(r), o_(o) {}

    result<term, error> run() {
        term root;
        if (!decode_into(&root, 0)) return unexpected(err_);
        while (!stack_.empty()) {
            frame& f = stack_.back();
            if (f.index < f.count) {
                term* dst = nullptr;
                std::uint32_t depth = f.depth;
                switch (f.kind) {
                    case frame_kind::tuple:
                    case frame_kind::fun: dst = f.slots + f.index; break;
                    case frame_kind::map:
                        // keys and values alternate on the wire
                        dst = (f.index & 1) ? f.slots + f.count / 2 + f.index / 2 : f.slots + f.index / 2;
                        break;
                    case frame_kind::list: {
                        term *head, *tail;
                        *f.slots = detail::new_cons(head, tail);
                        f.slots = tail;
                        dst = head;
                        break;
                    }
                }
                ++f.index;
                // f may be invalidated by decode_into pushing a frame.
                if (!decode_into(dst, depth)) return unexpected(err_);
                continue;
            }
            frame done = f;
            stack_.pop_back();
            switch (done.kind) {
                case frame_kind::tuple: break;
                case frame_kind::list:
                    // The tail belongs to the same nesting level as the list.
                    if (!decode_into(done.slots, done.depth - 1)) return unexpected(err_);
                    break;
                case frame_kind::map:
                    if (!detail::finish_map(*done.whole)) return fail(errc::duplicate_map_key, done.start);
                    break;
                case frame_kind::fun:
                    if (r_.offset() - done.start != done.size) return fail(errc::bad_fun, done.start);
                    break;
            }
        }
        return root;
    }

private:
    unexpected<error> fail(errc c, std::size_t at) {
        err_ = {c, at};
        return unexpected(err_);
    }
    bool set_error(errc c, std::size_t at) {
        err_ = {c, at};
        return false;
    }
    bool truncated() { return set_error(errc::truncated, r_.whole().size()); }

    bool push(frame_kind kind, std::uint32_t depth, term* slots, std::size_t count, term* whole = nullptr,
              std::size_t start = 0, std::size_t size = 0) {
        if (depth + 1 > o_.limits.max_depth) return set_error(errc::too_deep, r_.offset());
        stack_.push_back({kind, depth + 1, slots, 0, count, whole, start, size});
        return true;
    }

    // Lengths announced by the peer must fit in what remains (each element takes >= 1 byte).
    bool check_count(std::size_t count, std::size_t bytes_each, std::size_t at) {
        if (count > r_.remaining() / bytes_each) return set_error(errc::truncated, at);
        return true;
    }

    bool read_atom_text(std::uint8_t tag, std::size_t at, atom& out) {
        std::size_t len;
        if (tag == atom_ext || tag == atom_utf8_ext) {
            std::uint16_t l;
            if (!r_.u16(l)) return truncated();
            len = l;
        } else {
            std::uint8_t l;
            if (!r_.u8(l)) return truncated();
            len = l;
        }
        byte_span text;
        if (!r_.bytes(len, text)) return truncated();
        bool latin1 = tag == atom_ext || tag == small_atom_ext;
        bool ascii = true;
        for (auto c : text) ascii = ascii && c < 0x80;
        atom_memo::slot* slot = nullptr;
        if (ascii) {
            slot = &memo.slots[atom_memo::hash(text.data(), len) % 512];
            if (slot->len == len) {
                atom a = atom::from_index(slot->index);
                if (std::memcmp(a.name().data(), text.data(), len) == 0) {
                    out = a;
                    return true;
                }
            }
        }
        std::string converted;
        std::string_view utf8 = as_chars(text);
        if (latin1 && !ascii) {
            converted.reserve(len * 2);
            for (auto c : text) {
                if (c < 0x80) {
                    converted.push_back(static_cast<char>(c));
                } else {
                    converted.push_back(static_cast<char>(0xC0 | (c >> 6)));
                    converted.push_back(static_cast<char>(0x80 | (c & 0x3F)));
                }
            }
            utf8 = converted;
        }
        bool counted = !o_.allow_new_atoms || o_.atom_budget;
        std::optional<atom> existing = counted ? atom::existing(utf8) : std::nullopt;
        if (existing) {
            out = *existing;
        } else {
            if (counted && (!o_.allow_new_atoms || *o_.atom_budget == 0)) return set_error(errc::atom_budget, at);
            auto made = atom::make(utf8);
            if (!made)
                return set_error(made.error() == atom_error::table_full ? errc::atom_table_full : errc::bad_atom, at);
            if (o_.atom_budget) --*o_.atom_budget;
            out = *made;
        }
        if (slot) *slot = {out.index(), static_cast<std::uint32_t>(len)};
        return true;
    }

    // An atom where only an atom may appear (node names, module names).
    bool read_atom(atom& out) {
        std::size_t at = r_.offset();
        std::uint8_t tag;
        if (!r_.u8(tag)) return truncated();
        switch (tag) {
            case atom_ext:
            case small_atom_ext:
            case atom_utf8_ext:
            case small_atom_utf8_ext: return read_atom_text(tag, at, out);
            case atom_cache_ref: {
                std::uint8_t i;
                if (!r_.u8(i)) return truncated();
                if (i >= o_.atom_refs.size()) return set_error(errc::bad_cache_ref, at);
                out = o_.atom_refs[i];
                return true;
            }
            default: return set_error(errc::bad_node, at);
        }
    }

    bool read_small_or_int(term& out) {
        std::size_t at = r_.offset();
        std::uint8_t tag;
        if (!r_.u8(tag)) return truncated();
        if (tag == small_integer_ext) {
            std::uint8_t v;
            if (!r_.u8(v)) return truncated();
            out = term::small(v);
            return true;
        }
        if (tag == integer_ext) {
            std::uint32_t v;
            if (!r_.u32(v)) return truncated();
            out = term::small(static_cast<std::int32_t>(v));
            return true;
        }
        return set_error(errc::bad_fun, at);
    }

    bool read_pid_fields(std::uint8_t tag, term& out) {
        atom node;
        if (!read_atom(node)) return false;
        std::uint32_t id, serial, creation;
        if (!r_.u32(id) || !r_.u32(serial)) return truncated();
        if (tag == new_pid_ext) {
            if (!r_.u32(creation)) return truncated();
        } else {
            std::uint8_t c;
            if (!r_.u8(c)) return truncated();
            creation = c;
        }
        out = pid::make(node, id, serial, creation);
        return true;
    }

    bool read_big(std::size_t n, std::size_t at, term& out) {
        if (n > o_.limits.max_bignum_bytes) return set_error(errc::too_large, at);
        std::uint8_t sign;
        if (!r_.u8(sign)) return truncated();
        byte_span mag;
        if (!r_.bytes(n, mag)) return truncated();
        bool neg = sign != 0;
        if (n <= 8) {
            std::uint64_t v = 0;
            for (std::size_t i = n; i-- > 0;) v = (v << 8) | mag[i];
            if (!neg && v <= static_cast<std::uint64_t>(detail::small_max)) {
                out = term::small(static_cast<std::int64_t>(v));
                return true;
            }
            if (neg && v <= static_cast<std::uint64_t>(detail::small_max) + 1) {
                out = term::small(-static_cast<std::int64_t>(v));
                return true;
            }
        }
        std::uint64_t* limbs;
        term big = detail::new_bignum(neg, (n + 7) / 8, limbs);
        for (std::size_t i = 0; i < n; ++i) limbs[i / 8] |= std::uint64_t{mag[i]} << (8 * (i % 8));
        out = detail::normalize_bignum(std::move(big));
        return true;
    }

    // LIST_EXT with no elements stands for its tail alone. A chain of them is skipped here, in a
    // loop: decoding the tail by recursion, once per link, let 30 KB of input overflow the stack
    // (found by fuzzing).
    void skip_empty_list_exts() {
        byte_span all = r_.whole();
        while (r_.remaining() >= 5) {
            const std::uint8_t* p = all.data() + r_.offset();
            if (p[0] != list_ext || (p[1] | p[2] | p[3] | p[4]) != 0) return;
            r_.skip(5);
        }
    }

    bool decode_into(term* dst, std::uint32_t depth) {
        skip_empty_list_exts();
        std::size_t at = r_.offset();
        std::uint8_t tag;
        if (!r_.u8(tag)) return truncated();
        switch (tag) {
            case small_integer_ext: {
                std::uint8_t v;
                if (!r_.u8(v)) return truncated();
                *dst = term::small(v);
                return true;
            }
            case integer_ext: {
                std::uint32_t v;
                if (!r_.u32(v)) return truncated();
                *dst = term::small(static_cast<std::int32_t>(v));
                return true;
            }
            case small_big_ext: {
                std::uint8_t n;
                if (!r_.u8(n)) return truncated();
                return read_big(n, at, *dst);
            }
            case large_big_ext: {
                std::uint32_t n;
                if (!r_.u32(n)) return truncated();
                return read_big(n, at, *dst);
            }
            case new_float_ext: {
                std::uint64_t bits;
                if (!r_.u64(bits)) return truncated();
                double d;
                std::memcpy(&d, &bits, 8);
                if (!std::isfinite(d)) return set_error(errc::bad_float, at);
                *dst = detail::new_float(d);
                return true;
            }
            case float_ext: {
                byte_span text;
                if (!r_.bytes(31, text)) return truncated();
                char buf[32];
                std::memcpy(buf, text.data(), 31);
                buf[31] = 0;
                char* end = nullptr;
                double d = std::strtod(buf, &end);
                if (end == buf || !std::isfinite(d)) return set_error(errc::bad_float, at);
                *dst = detail::new_float(d);
                return true;
            }
            case atom_ext:
            case small_atom_ext:
            case atom_utf8_ext:
            case small_atom_utf8_ext: {
                atom a;
                if (!read_atom_text(tag, at, a)) return false;
                *dst = term(a);
                return true;
            }
            case atom_cache_ref: {
                std::uint8_t i;
                if (!r_.u8(i)) return truncated();
                if (i >= o_.atom_refs.size()) return set_error(errc::bad_cache_ref, at);
                *dst = term(o_.atom_refs[i]);
                return true;
            }
            case nil_ext: *dst = term(); return true;
            case small_tuple_ext:
            case large_tuple_ext: {
                std::size_t arity;
                if (tag == small_tuple_ext) {
                    std::uint8_t a;
                    if (!r_.u8(a)) return truncated();
                    arity = a;
                } else {
                    std::uint32_t a;
                    if (!r_.u32(a)) return truncated();
                    arity = a;
                    if (arity > detail::max_tuple_arity) return set_error(errc::too_large, at);
                }
                if (!check_count(arity, 1, at)) return false;
                term* elems;
                *dst = detail::new_tuple(arity, elems);
                return arity == 0 || push(frame_kind::tuple, depth, elems, arity);
            }
            case string_ext: {
                std::uint16_t n;
                if (!r_.u16(n)) return truncated();
                byte_span chars;
                if (!r_.bytes(n, chars)) return truncated();
                term acc;
                for (std::size_t i = n; i-- > 0;) acc = cons(term::small(chars[i]), std::move(acc));
                *dst = std::move(acc);
                return true;
            }
            case list_ext: {
                std::uint32_t n;
                if (!r_.u32(n)) return truncated();
                if (!check_count(n, 1, at)) return false;
                if (n == 0) return decode_into(dst, depth);  // just the tail (not reached: skipped above)
                return push(frame_kind::list, depth, dst, n);
            }
            case binary_ext: {
                std::uint32_t n;
                if (!r_.u32(n)) return truncated();
                byte_span data;
                if (!r_.bytes(n, data)) return truncated();
                *dst = make_binary(data);
                return true;
            }
            case bit_binary_ext: {
                std::uint32_t n;
                std::uint8_t bits;
                if (!r_.u32(n) || !r_.u8(bits)) return truncated();
                if (n == 0 ? bits != 0 : (bits < 1 || bits > 8)) return set_error(errc::bad_bitstring, at);
                byte_span data;
                if (!r_.bytes(n, data)) return truncated();
                if (bits == 8 || n == 0) *dst = make_binary(data);
                else *dst = bitstring(data, (std::size_t{n} - 1) * 8 + bits);
                return true;
            }
            case map_ext: {
                std::uint32_t n;
                if (!r_.u32(n)) return truncated();
                if (!check_count(n, 2, at)) return false;
                term *keys, *values;
                *dst = detail::new_map_unsorted(n, keys, values);
                return n == 0 || push(frame_kind::map, depth, keys, std::size_t{n} * 2, dst, at);
            }
            case new_pid_ext:
            case pid_ext: return read_pid_fields(tag, *dst);
            case new_port_ext:
            case v4_port_ext:
            case port_ext: {
                atom node;
                if (!read_atom(node)) return false;
                std::uint64_t id;
                std::uint32_t creation;
                if (tag == v4_port_ext) {
                    if (!r_.u64(id)) return truncated();
                } else {
                    std::uint32_t id32;
                    if (!r_.u32(id32)) return truncated();
                    id = id32;
                }
                if (tag == port_ext) {
                    std::uint8_t c;
                    if (!r_.u8(c)) return truncated();
                    creation = c;
                } else if (!r_.u32(creation)) {
                    return truncated();
                }
                *dst = port::make(node, id, creation);
                return true;
            }
            case newer_reference_ext:
            case new_reference_ext:
            case reference_ext: {
                std::uint16_t len = 1;
                if (tag != reference_ext && !r_.u16(len)) return truncated();
                if (len == 0 || len > reference::max_words) return set_error(errc::bad_reference, at);
                atom node;
                if (!read_atom(node)) return false;
                std::uint32_t creation;
                std::uint32_t words[reference::max_words];
                if (tag == reference_ext) {
                    std::uint8_t c;
                    if (!r_.u32(words[0]) || !r_.u8(c)) return truncated();
                    creation = c;
                } else {
                    if (tag == newer_reference_ext) {
                        if (!r_.u32(creation)) return truncated();
                    } else {
                        std::uint8_t c;
                        if (!r_.u8(c)) return truncated();
                        creation = c;
                    }
                    for (std::size_t i = 0; i < len; ++i)
                        if (!r_.u32(words[i])) return truncated();
                }
                *dst = reference::make(node, creation, std::span<const std::uint32_t>(words, len));
                return true;
            }
            case export_ext: {
                atom m, f;
                if (!read_atom(m) || !read_atom(f)) return false;
                std::size_t aat = r_.offset();
                std::uint8_t t, arity;
                if (!r_.u8(t) || !r_.u8(arity)) return truncated();
                if (t != small_integer_ext) return set_error(errc::bad_fun, aat);
                *dst = make_export(m, f, arity);
                return true;
            }
            case new_fun_ext: {
                std::size_t start = r_.offset();
                std::uint32_t size, index, num_free;
                std::uint8_t arity;
                byte_span uniq;
                if (!r_.u32(size) || !r_.u8(arity) || !r_.bytes(16, uniq) || !r_.u32(index) || !r_.u32(num_free))
                    return truncated();
                if (size < 29 || size - 29 > r_.remaining()) return set_error(errc::bad_fun, at);
                if (!check_count(num_free, 1, at)) return false;
                fun_box* f;
                term fun = detail::new_fun(num_free, f);
                f->arity = arity;
                std::memcpy(f->uniq, uniq.data(), 16);
                f->index = index;
                atom module;
                if (!read_atom(module)) return false;
                f->module = term(module);
                if (!read_small_or_int(f->old_index) || !read_small_or_int(f->old_uniq)) return false;
                std::size_t pat = r_.offset();
                std::uint8_t ptag;
                if (!r_.u8(ptag)) return truncated();
                if (ptag != new_pid_ext && ptag != pid_ext) return set_error(errc::bad_fun, pat);
                if (!read_pid_fields(ptag, f->pid)) return false;
                *dst = std::move(fun);
                if (num_free == 0) {
                    if (r_.offset() - start != size) return set_error(errc::bad_fun, start);
                    return true;
                }
                return push(frame_kind::fun, depth, detail::trailing<term>(f), num_free, nullptr, start, size);
            }
            default: return set_error(errc::unknown_tag, at);
        }
    }

    term make_binary(byte_span data) { return binary_of(data, o_); }

    byte_reader& r_;
    const decode_options& o_;
    etf_impl::small_stack<frame, 16> stack_;
    error err_{errc::truncated, 0};
};

}  // namespace

namespace {

// Most messages are flat tuples of small integers, cached atoms, [] and binaries. Such a tuple
// is read here in one pass, checked first and built after, without the decoder's frame stack (a
// third of the receiver's work per message in the throughput benchmark); the term is the one
// the decoder would make. false, with the reader untouched, for anything else.
bool decode_flat_tuple(byte_reader& r, const decode_options& o, term& out) {
    byte_span all = r.rest();
    const std::uint8_t* p = all.data();
    std::size_t size = all.size();
    if (size < 2 || p[0] != small_tuple_ext || p[1] > 16 || o.limits.max_depth < 1) return false;
    std::size_t arity = p[1];
    std::size_t at = 2;
    for (std::size_t i = 0; i < arity; ++i) {
        if (at >= size) return false;
        switch (p[at]) {
            case small_integer_ext:
                if (size - at < 2) return false;
                at += 2;
                break;
            case integer_ext:
                if (size - at < 5) return false;
                at += 5;
                break;
            case atom_cache_ref:
                if (size - at < 2 || p[at + 1] >= o.atom_refs.size()) return false;
                at += 2;
                break;
            case nil_ext: at += 1; break;
            case binary_ext: {
                if (size - at < 5) return false;
                std::size_t n = byte_reader::get32(p + at + 1);
                if (n > size - at - 5) return false;
                at += 5 + n;
                break;
            }
            default: return false;
        }
    }
    term* elems;
    term t = detail::new_tuple(arity, elems);
    at = 2;
    for (std::size_t i = 0; i < arity; ++i) {
        switch (p[at]) {
            case small_integer_ext:
                elems[i] = term::small(p[at + 1]);
                at += 2;
                break;
            case integer_ext:
                elems[i] = term::small(static_cast<std::int32_t>(byte_reader::get32(p + at + 1)));
                at += 5;
                break;
            case atom_cache_ref:
                elems[i] = term(o.atom_refs[p[at + 1]]);
                at += 2;
                break;
            case nil_ext: at += 1; break;  // new_tuple's elements start as []
            default: {  // binary_ext
                std::size_t n = byte_reader::get32(p + at + 1);
                elems[i] = binary_of(byte_span(p + at + 5, n), o);
                at += 5 + n;
                break;
            }
        }
    }
    r.skip(at);
    out = std::move(t);
    return true;
}

}  // namespace

result<term, error> decode_body(byte_reader& reader, const decode_options& opts) {
    term flat;
    if (decode_flat_tuple(reader, opts, flat)) return flat;
    decoder d(reader, opts);
    return d.run();
}

result<term, error> decode(byte_span bytes, const decode_options& opts) {
    byte_reader r(bytes);
    std::uint8_t v;
    if (!r.u8(v)) return unexpected(error{errc::truncated, 0});
    if (v != version_magic) return unexpected(error{errc::bad_version, 0});
    if (r.remaining() > 0 && r.rest()[0] == compressed) {
        r.skip(1);
        std::uint32_t size;
        if (!r.u32(size)) return unexpected(error{errc::truncated, bytes.size()});
        if (size > opts.limits.max_inflated) return unexpected(error{errc::too_large, 2});
        byte_span z = r.rest();
        // Deflate expands at most 1032-fold (a 258-byte match in 2 bits). A larger announced
        // size can only fail to inflate; refusing it first keeps a ten-byte input from making
        // us allocate up to max_inflated bytes.
        if (size / 1032 > z.size()) return unexpected(error{errc::bad_compressed, 6});
        byte_storage* st = byte_storage::allocate(size);
        z_stream zs{};
        if (inflateInit(&zs) != Z_OK) {
            st->drop();
            return unexpected(error{errc::bad_compressed, 6});
        }
        zs.next_in = const_cast<Bytef*>(z.data());
        zs.avail_in = static_cast<uInt>(z.size());
        zs.next_out = st->mutable_data();
        zs.avail_out = size;
        int rc = inflate(&zs, Z_FINISH);
        bool ok = rc == Z_STREAM_END && zs.total_out == size && zs.avail_in == 0;
        inflateEnd(&zs);
        if (!ok) {
            st->drop();
            return unexpected(error{errc::bad_compressed, 6});
        }
        decode_options inner = opts;
        inner.owner = st;
        byte_reader ir(byte_span(st->data, size));
        auto t = decode_body(ir, inner);
        bool trailing = t && !ir.at_end();
        std::size_t off = ir.offset();
        st->drop();
        if (!t) return t;
        if (trailing) return unexpected(error{errc::trailing_data, off});
        return t;
    }
    auto t = decode_body(r, opts);
    if (t && !r.at_end()) return unexpected(error{errc::trailing_data, r.offset()});
    return t;
}

}  // namespace nodus::etf

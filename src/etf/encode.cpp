// ETF encoder: the forms OTP 25 writes (etf.md §6), walking the term with an explicit stack.
#include <zlib.h>

#include <cstdio>
#include <cstdint>
#include <cstring>

#include "etf/small_stack.hpp"
#include "nodus/etf/etf.hpp"

namespace nodus::etf {

using detail::fun_box;

namespace {

// Writes into a byte vector through a raw cursor; grows geometrically.
class out_buffer {
public:
    explicit out_buffer(std::vector<std::uint8_t>& v) : v_(v), pos_(v.size()) {
        // Start small and double: resizing to a large retained capacity would zero-fill it on
        // every encode into a reused buffer (a 1 MB term made each later small encode ~90x slower).
        if (v_.capacity() < pos_ + 256) v_.reserve(pos_ + 256);
        v_.resize(pos_ + 256);
    }
    ~out_buffer() { v_.resize(pos_); }

    std::uint8_t* need(std::size_t n) {
        if (v_.size() - pos_ < n) v_.resize(std::max(v_.size() * 2, pos_ + n));
        std::uint8_t* p = v_.data() + pos_;
        pos_ += n;
        return p;
    }
    void u8(std::uint8_t x) { *need(1) = x; }
    void u8u8(std::uint8_t a, std::uint8_t b) {
        std::uint8_t* p = need(2);
        p[0] = a;
        p[1] = b;
    }
    void u16(std::uint16_t x) {
        std::uint8_t* p = need(2);
        p[0] = static_cast<std::uint8_t>(x >> 8);
        p[1] = static_cast<std::uint8_t>(x);
    }
    void u32(std::uint32_t x) { byte_writer::put32(need(4), x); }
    void tag_u32(std::uint8_t t, std::uint32_t x) {
        std::uint8_t* p = need(5);
        p[0] = t;
        byte_writer::put32(p + 1, x);
    }
    void u64(std::uint64_t x) {
        std::uint8_t* p = need(8);
        byte_writer::put32(p, static_cast<std::uint32_t>(x >> 32));
        byte_writer::put32(p + 4, static_cast<std::uint32_t>(x));
    }
    void bytes(const void* d, std::size_t n) {
        if (n) std::memcpy(need(n), d, n);
    }
    std::size_t pos() const noexcept { return pos_; }
    void patch32(std::size_t at, std::uint32_t x) { byte_writer::put32(v_.data() + at, x); }

private:
    std::vector<std::uint8_t>& v_;
    std::size_t pos_;
};

enum class frame_kind : std::uint8_t { array, list, map, fun };

struct frame {
    frame_kind kind;
    const term* items;  // array: elements; map: keys; fun: free variables; list: current cell
    std::size_t index;
    std::size_t count;
    std::size_t patch_at;  // fun: where its Size field is
};

class encoder {
public:
    encoder(out_buffer& out, const encode_options& o) : out_(out), o_(o) {}

    void run(const term& root) {
        emit(root);
        drain();
    }
    void run_tuple(std::span<const term> elements) {
        if (elements.size() <= 255) out_.u8u8(small_tuple_ext, static_cast<std::uint8_t>(elements.size()));
        else out_.tag_u32(large_tuple_ext, static_cast<std::uint32_t>(elements.size()));
        if (elements.empty()) return;
        stack_.push_back({frame_kind::array, elements.data(), 0, elements.size(), 0});
        drain();
    }

private:
    void drain() {
        while (!stack_.empty()) {
            if (o_.stop_above != 0 && out_.pos() > o_.stop_above) return;  // unfinished on purpose
            frame& f = stack_.back();
            switch (f.kind) {
                case frame_kind::array:
                case frame_kind::fun:
                    if (f.index < f.count) {
                        const term& t = f.items[f.index++];
                        emit(t);
                        continue;
                    }
                    if (f.kind == frame_kind::fun)
                        out_.patch32(f.patch_at, static_cast<std::uint32_t>(out_.pos() - f.patch_at));
                    stack_.pop_back();
                    break;
                case frame_kind::map:
                    if (f.index < 2 * f.count) {
                        // key, value, key, value...: keys at items[0..n), values at items[n..2n)
                        std::size_t i = f.index++;
                        const term& t = (i & 1) ? f.items[f.count + i / 2] : f.items[i / 2];
                        emit(t);
                        continue;
                    }
                    stack_.pop_back();
                    break;
                case frame_kind::list: {
                    const term* cell = f.items;
                    if (cell->is_cons()) {
                        f.items = &cell->tail();
                        emit(cell->head());
                        continue;
                    }
                    stack_.pop_back();
                    emit(*cell);  // the tail
                    break;
                }
            }
        }
    }

    void emit_atom(atom a) {
        if (o_.atom_refs) {
            int r = o_.atom_refs->ref_for(a);
            if (r >= 0) {
                out_.u8u8(atom_cache_ref, static_cast<std::uint8_t>(r));
                return;
            }
        }
        std::string_view name = a.name();
        if (o_.minor_version < 2 && a.is_latin1()) {
            // ATOM_EXT with Latin-1 bytes, as term_to_binary/1 does in OTP 25.
            std::size_t chars = a.length();
            out_.u8(atom_ext);
            out_.u16(static_cast<std::uint16_t>(chars));
            std::uint8_t* p = out_.need(chars);
            for (std::size_t i = 0; i < name.size(); ++i) {
                auto c = static_cast<unsigned char>(name[i]);
                if (c < 0x80) {
                    *p++ = c;
                } else {
                    *p++ = static_cast<std::uint8_t>(((c & 0x1F) << 6) | (static_cast<unsigned char>(name[i + 1]) & 0x3F));
                    ++i;
                }
            }
            return;
        }
        if (name.size() < 256) {
            out_.u8u8(small_atom_utf8_ext, static_cast<std::uint8_t>(name.size()));
        } else {
            out_.u8(atom_utf8_ext);
            out_.u16(static_cast<std::uint16_t>(name.size()));
        }
        out_.bytes(name.data(), name.size());
    }

    void emit_integer(const term& t) {
        if (t.is_small()) {
            std::int64_t v = t.small_value();
            if (v >= 0 && v <= 255) {
                out_.u8u8(small_integer_ext, static_cast<std::uint8_t>(v));
            } else if (v >= INT32_MIN && v <= INT32_MAX) {
                out_.tag_u32(integer_ext, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
            } else {
                std::uint64_t m = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
                std::uint8_t n = 0;
                for (std::uint64_t x = m; x; x >>= 8) ++n;
                std::uint8_t* p = out_.need(3 + n);
                p[0] = small_big_ext;
                p[1] = n;
                p[2] = v < 0 ? 1 : 0;
                for (std::uint8_t i = 0; i < n; ++i) p[3 + i] = static_cast<std::uint8_t>(m >> (8 * i));
            }
            return;
        }
        bigint_view b = t.bigint();
        std::uint64_t top = b.limbs.back();
        std::size_t top_bytes = 0;
        for (std::uint64_t x = top; x; x >>= 8) ++top_bytes;
        std::size_t n = (b.limbs.size() - 1) * 8 + top_bytes;
        if (n <= 255) {
            out_.u8u8(small_big_ext, static_cast<std::uint8_t>(n));
        } else {
            out_.tag_u32(large_big_ext, static_cast<std::uint32_t>(n));
        }
        out_.u8(b.negative ? 1 : 0);
        std::uint8_t* p = out_.need(n);
        for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(b.limbs[i / 8] >> (8 * (i % 8)));
    }

    void emit_float(double d) {
        if (o_.minor_version == 0) {
            char buf[32] = {};
            std::snprintf(buf, sizeof buf, "%.20e", d);
            out_.u8(float_ext);
            out_.bytes(buf, 31);
            return;
        }
        std::uint64_t bits;
        std::memcpy(&bits, &d, 8);
        out_.u8(new_float_ext);
        out_.u64(bits);
    }

    // A proper list of 0..255 integers no longer than 65535 is written as STRING_EXT.
    static bool byte_string(const term& list, std::size_t& len, std::size_t& cells) {
        len = 0;
        bool bytes = true;
        const term* t = &list;
        while (t->is_cons()) {
            const term& h = t->head();
            if (bytes && !(h.is_small() && h.small_value() >= 0 && h.small_value() <= 255)) bytes = false;
            ++len;
            t = &t->tail();
        }
        cells = len;
        return bytes && t->is_nil() && len <= 0xFFFF;
    }

    void emit_pid(const term& p) {
        out_.u8(new_pid_ext);
        emit_atom(p.pid_node());
        std::uint8_t* q = out_.need(12);
        byte_writer::put32(q, p.pid_id());
        byte_writer::put32(q + 4, p.pid_serial());
        byte_writer::put32(q + 8, p.pid_creation());
    }

    void emit(const term& t) {
        switch (t.type()) {
            case term_type::integer: emit_integer(t); return;
            case term_type::float_: emit_float(t.float_value()); return;
            case term_type::atom: emit_atom(t.as_atom()); return;
            case term_type::nil: out_.u8(nil_ext); return;
            case term_type::tuple: {
                auto e = t.elements();
                if (e.size() <= 255) out_.u8u8(small_tuple_ext, static_cast<std::uint8_t>(e.size()));
                else out_.tag_u32(large_tuple_ext, static_cast<std::uint32_t>(e.size()));
                if (!e.empty()) stack_.push_back({frame_kind::array, e.data(), 0, e.size(), 0});
                return;
            }
            case term_type::list: {
                std::size_t len, cells;
                if (byte_string(t, len, cells)) {
                    std::uint8_t* p = out_.need(3 + len);
                    p[0] = string_ext;
                    p[1] = static_cast<std::uint8_t>(len >> 8);
                    p[2] = static_cast<std::uint8_t>(len);
                    p += 3;
                    for (const term* c = &t; c->is_cons(); c = &c->tail())
                        *p++ = static_cast<std::uint8_t>(c->head().small_value());
                    return;
                }
                out_.tag_u32(list_ext, static_cast<std::uint32_t>(cells));
                stack_.push_back({frame_kind::list, &t, 0, cells, 0});
                return;
            }
            case term_type::map: {
                out_.tag_u32(map_ext, static_cast<std::uint32_t>(t.map_size()));
                if (t.map_size()) stack_.push_back({frame_kind::map, t.map_keys().data(), 0, t.map_size(), 0});
                return;
            }
            case term_type::bitstring: {
                byte_span b = t.bytes();
                unsigned rem = t.trailing_bits();
                if (rem == 0) {
                    out_.tag_u32(binary_ext, static_cast<std::uint32_t>(b.size()));
                } else {
                    out_.tag_u32(bit_binary_ext, static_cast<std::uint32_t>(b.size()));
                    out_.u8(static_cast<std::uint8_t>(rem));
                }
                if (o_.external_binaries && b.size() >= o_.external_binaries->min_bytes() && !b.empty()) {
                    o_.external_binaries->external(t, out_.pos());
                    return;
                }
                out_.bytes(b.data(), b.size());
                return;
            }
            case term_type::pid: emit_pid(t); return;
            case term_type::port: {
                port p = t.as_port();
                // As OTP 25: V4_PORT_EXT once the id no longer fits in 28 bits (the largest
                // port number of the old 3-word format), not only above 32 bits.
                bool v4 = p.id() > 0x0FFFFFFFu;
                out_.u8(v4 ? v4_port_ext : new_port_ext);
                emit_atom(p.node());
                if (v4) out_.u64(p.id());
                else out_.u32(static_cast<std::uint32_t>(p.id()));
                out_.u32(p.creation());
                return;
            }
            case term_type::reference: {
                reference r = t.as_reference();
                auto w = r.words();
                out_.u8(newer_reference_ext);
                out_.u16(static_cast<std::uint16_t>(w.size()));
                emit_atom(r.node());
                out_.u32(r.creation());
                for (auto x : w) out_.u32(x);
                return;
            }
            case term_type::fun: {
                if (t.is_export()) {
                    out_.u8(export_ext);
                    emit_atom(t.export_module());
                    emit_atom(t.export_function());
                    out_.u8u8(small_integer_ext, static_cast<std::uint8_t>(t.fun_arity()));
                    return;
                }
                auto* f = static_cast<const fun_box*>(t.box_ptr());
                out_.u8(new_fun_ext);
                std::size_t size_at = out_.pos();
                out_.u32(0);  // patched when the free variables are written
                out_.u8(f->arity);
                out_.bytes(f->uniq, 16);
                out_.u32(f->index);
                out_.u32(f->aux());
                emit_atom(f->module.as_atom());
                emit_integer(f->old_index);
                emit_integer(f->old_uniq);
                emit_pid(f->pid);
                stack_.push_back({frame_kind::fun, detail::trailing<term>(f), 0, f->aux(), size_at});
                return;
            }
        }
    }

    out_buffer& out_;
    const encode_options& o_;
    etf_impl::small_stack<frame, 16> stack_;
};

}  // namespace

namespace {

// Most messages are flat tuples of small integers, atoms, local pids and small binaries. Such a
// tuple is written here in one pass, without the encoder's buffer slack and frame stack (a
// third of the sender's work per message in the throughput benchmark). The bytes are the
// encoder's: false, with nothing written or recorded, for anything else.
bool encode_flat_tuple(const term& t, byte_writer& out, const encode_options& o) {
    if (o.minor_version < 2) return false;  // atoms as UTF-8 only here
    std::span<const term> e = t.elements();
    if (e.size() > 16) return false;
    std::size_t bound = 2;
    for (const term& x : e) {
        if (x.is_small()) {
            std::int64_t v = x.small_value();
            if (v < INT32_MIN || v > INT32_MAX) return false;
            bound += 5;
        } else if (x.is_atom()) {
            bound += 3 + x.as_atom().name().size();
        } else if (x.is_nil()) {
            bound += 1;
        } else if (x.is_local_pid_word()) {
            bound += 16 + x.pid_node().name().size();
        } else if (x.is_bitstring()) {
            byte_span b = x.bytes();
            if (x.trailing_bits() != 0 || b.size() > 256) return false;
            if (o.external_binaries && !b.empty() && b.size() >= o.external_binaries->min_bytes()) return false;
            bound += 5 + b.size();
        } else {
            return false;
        }
    }
    std::vector<std::uint8_t>& v = out.buffer();
    std::size_t start = v.size();
    v.resize(start + bound);
    std::uint8_t* p = v.data() + start;
    auto put_atom = [&](atom a) {
        if (o.atom_refs) {
            int r = o.atom_refs->ref_for(a);
            if (r >= 0) {
                *p++ = atom_cache_ref;
                *p++ = static_cast<std::uint8_t>(r);
                return;
            }
        }
        std::string_view name = a.name();
        if (name.size() < 256) {
            *p++ = small_atom_utf8_ext;
            *p++ = static_cast<std::uint8_t>(name.size());
        } else {
            *p++ = atom_utf8_ext;
            *p++ = static_cast<std::uint8_t>(name.size() >> 8);
            *p++ = static_cast<std::uint8_t>(name.size());
        }
        std::memcpy(p, name.data(), name.size());
        p += name.size();
    };
    *p++ = small_tuple_ext;
    *p++ = static_cast<std::uint8_t>(e.size());
    for (const term& x : e) {
        if (x.is_small()) {
            std::int64_t n = x.small_value();
            if (n >= 0 && n <= 255) {
                *p++ = small_integer_ext;
                *p++ = static_cast<std::uint8_t>(n);
            } else {
                *p++ = integer_ext;
                byte_writer::put32(p, static_cast<std::uint32_t>(static_cast<std::int32_t>(n)));
                p += 4;
            }
        } else if (x.is_atom()) {
            put_atom(x.as_atom());
        } else if (x.is_nil()) {
            *p++ = nil_ext;
        } else if (x.is_local_pid_word()) {
            *p++ = new_pid_ext;
            put_atom(x.pid_node());
            byte_writer::put32(p, x.pid_id());
            byte_writer::put32(p + 4, x.pid_serial());
            byte_writer::put32(p + 8, x.pid_creation());
            p += 12;
        } else {
            byte_span b = x.bytes();
            *p++ = binary_ext;
            byte_writer::put32(p, static_cast<std::uint32_t>(b.size()));
            p += 4;
            if (!b.empty()) std::memcpy(p, b.data(), b.size());
            p += b.size();
        }
    }
    v.resize(static_cast<std::size_t>(p - v.data()));
    return true;
}

}  // namespace

void encode_body(const term& t, byte_writer& out, const encode_options& opts) {
    if (t.is_tuple() && encode_flat_tuple(t, out, opts)) return;
    out_buffer buf(out.buffer());
    encoder e(buf, opts);
    e.run(t);
}

void encode_tuple_body(std::span<const term> elements, byte_writer& out, const encode_options& opts) {
    out_buffer buf(out.buffer());
    encoder e(buf, opts);
    e.run_tuple(elements);
}

void encode(const term& t, byte_writer& out, const encode_options& opts) {
    if (opts.compression < 0) {
        out.u8(version_magic);
        encode_body(t, out, opts);
        return;
    }
    byte_writer body;
    encode_options plain = opts;
    plain.external_binaries = nullptr;  // a compressed body must hold every byte
    encode_body(t, body, plain);
    uLongf zlen = compressBound(static_cast<uLong>(body.size()));
    std::vector<std::uint8_t> z(zlen);
    int level = opts.compression > 9 ? 9 : opts.compression;
    int rc = compress2(z.data(), &zlen, body.data(), static_cast<uLong>(body.size()), level);
    // As OTP: the compressed form is kept when it is not larger than the plain one, i.e. the
    // zlib stream takes at most the plain body's size minus the 5 bytes of tag and size
    // (erts gives zlib exactly that much room; a stream that fits is used, even at equal size).
    if (rc == Z_OK && zlen + 5 <= body.size()) {
        out.u8(version_magic);
        out.u8(compressed);
        out.u32(static_cast<std::uint32_t>(body.size()));
        out.bytes(z.data(), zlen);
    } else {
        out.u8(version_magic);
        out.bytes(body.view());
    }
}

std::vector<std::uint8_t> encode(const term& t, const encode_options& opts) {
    byte_writer w;
    encode(t, w, opts);
    return w.take();
}

}  // namespace nodus::etf

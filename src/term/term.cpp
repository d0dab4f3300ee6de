#include "nodus/term/term.hpp"

#include "base/pool.hpp"

#include <gmp.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>

namespace nodus {

using namespace detail;

std::string_view to_string(term_type t) noexcept {
    switch (t) {
        case term_type::integer: return "integer";
        case term_type::float_: return "float";
        case term_type::atom: return "atom";
        case term_type::reference: return "reference";
        case term_type::fun: return "fun";
        case term_type::port: return "port";
        case term_type::pid: return "pid";
        case term_type::tuple: return "tuple";
        case term_type::map: return "map";
        case term_type::nil: return "nil";
        case term_type::list: return "list";
        case term_type::bitstring: return "bitstring";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// Allocation and destruction

namespace detail {

void* allocate_box(std::size_t bytes) { return pool_alloc(bytes); }
void free_box(void* p, std::size_t bytes) noexcept { pool_free(p, bytes); }

namespace {

template <class B>
B* alloc(std::size_t extra_bytes, box_kind k, std::uint32_t aux) {
    void* mem = allocate_box(sizeof(B) + extra_bytes);
    B* b = new (mem) B;
    b->refs.store(1, std::memory_order_relaxed);
    b->meta = make_meta(k, aux);
    return b;
}

std::size_t box_bytes(const box* b) noexcept {
    switch (b->kind()) {
        case box_kind::bignum:
            return sizeof(bignum_box) + static_cast<const bignum_box*>(b)->nlimbs * sizeof(std::uint64_t);
        case box_kind::float_: return sizeof(float_box);
        case box_kind::tuple: return sizeof(tuple_box) + b->aux() * sizeof(term);
        case box_kind::cons: return sizeof(cons_box);
        case box_kind::binary: {
            auto* bin = static_cast<const binary_box*>(b);
            return sizeof(binary_box) + (bin->owner ? 0 : bin->size);
        }
        case box_kind::map: return sizeof(map_box) + 2 * static_cast<const map_box*>(b)->size * sizeof(term);
        case box_kind::pid: return sizeof(pid_box);
        case box_kind::port: return sizeof(port_box);
        case box_kind::reference: return sizeof(ref_box);
        case box_kind::export_: return sizeof(export_box);
        case box_kind::fun: return sizeof(fun_box) + b->aux() * sizeof(term);
    }
    return 0;
}

// Worklist of boxes whose count reached zero. Small inline buffer; spills to the heap only
// for wide structures whose children all die together.
class death_row {
public:
    ~death_row() { delete[] spill_; }
    void push(box* b) {
        if (n_ == cap_) grow();
        items_[n_++] = b;
    }
    bool pop(box*& b) noexcept {
        if (n_ == 0) return false;
        b = items_[--n_];
        return true;
    }
    void drop(term& t) {
        std::uintptr_t w = t.release_raw();
        if ((w & tag_mask) == tag_box && w != 0) {
            box* c = reinterpret_cast<box*>(w);
            if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) push(c);
        }
    }
    void drop_all(term* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) drop(p[i]);
    }

private:
    void grow() {
        std::size_t cap = cap_ * 2;
        box** fresh = new box*[cap];
        std::copy(items_, items_ + n_, fresh);
        delete[] spill_;
        spill_ = fresh;
        items_ = fresh;
        cap_ = cap;
    }
    box* inline_[64];
    box** items_ = inline_;
    box** spill_ = nullptr;
    std::size_t n_ = 0;
    std::size_t cap_ = 64;
};

}  // namespace

void destroy_box(box* first) noexcept {
    death_row row;
    box* b = first;
    do {
        std::size_t bytes = box_bytes(b);
        switch (b->kind()) {
            case box_kind::tuple: row.drop_all(trailing<term>(static_cast<tuple_box*>(b)), b->aux()); break;
            case box_kind::cons: {
                auto* c = static_cast<cons_box*>(b);
                row.drop(c->head);
                row.drop(c->tail);
                break;
            }
            case box_kind::map: {
                auto* m = static_cast<map_box*>(b);
                row.drop_all(trailing<term>(m), 2 * m->size);
                break;
            }
            case box_kind::binary: {
                auto* bin = static_cast<binary_box*>(b);
                if (bin->owner) bin->owner->drop();
                break;
            }
            case box_kind::fun: {
                auto* f = static_cast<fun_box*>(b);
                row.drop(f->module);
                row.drop(f->old_index);
                row.drop(f->old_uniq);
                row.drop(f->pid);
                row.drop_all(trailing<term>(f), f->aux());
                break;
            }
            case box_kind::pid: row.drop(static_cast<pid_box*>(b)->node); break;
            case box_kind::port: row.drop(static_cast<port_box*>(b)->node); break;
            case box_kind::reference: row.drop(static_cast<ref_box*>(b)->node); break;
            case box_kind::bignum:
            case box_kind::float_:
            case box_kind::export_: break;
        }
        // Members were released above (their words are now nil); no destructors to run.
        free_box(b, bytes);
    } while (row.pop(b));
}

term new_tuple(std::size_t arity, term*& elems) {
    if (arity > max_tuple_arity) throw std::length_error("nodus: tuple arity above 16777215");
    auto* b = alloc<tuple_box>(arity * sizeof(term), box_kind::tuple, static_cast<std::uint32_t>(arity));
    elems = trailing<term>(b);
    for (std::size_t i = 0; i < arity; ++i) new (elems + i) term();
    return term::from_box(b);
}

term new_cons(term*& head, term*& tail) {
    auto* b = alloc<cons_box>(0, box_kind::cons, 0);
    new (&b->head) term();
    new (&b->tail) term();
    head = &b->head;
    tail = &b->tail;
    return term::from_box(b);
}

term new_map_unsorted(std::size_t size, term*& keys, term*& values) {
    auto* b = alloc<map_box>(2 * size * sizeof(term), box_kind::map, 0);
    b->size = size;
    keys = trailing<term>(b);
    for (std::size_t i = 0; i < 2 * size; ++i) new (keys + i) term();
    values = keys + size;
    return term::from_box(b);
}

bool finish_map(term& m) {
    auto* b = static_cast<map_box*>(m.box_ptr());
    term* keys = trailing<term>(b);
    term* values = keys + b->size;
    std::size_t n = b->size;
    bool sorted = true;
    for (std::size_t i = 1; i < n && sorted; ++i) sorted = exact_compare(keys[i - 1], keys[i]) < 0;
    if (sorted) return true;
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t c) { return exact_compare(keys[a], keys[c]) < 0; });
    for (std::size_t i = 1; i < n; ++i)
        if (exact_compare(keys[order[i - 1]], keys[order[i]]) == 0) return false;
    std::vector<term> k(n), v(n);
    for (std::size_t i = 0; i < n; ++i) {
        k[i] = std::move(keys[order[i]]);
        v[i] = std::move(values[order[i]]);
    }
    for (std::size_t i = 0; i < n; ++i) {
        keys[i] = std::move(k[i]);
        values[i] = std::move(v[i]);
    }
    return true;
}

term new_binary(std::size_t size, std::uint8_t*& data, unsigned trailing_bits) {
    // Small binaries live inline; large ones get shared storage (so sub-binaries can share).
    constexpr std::size_t inline_limit = 64;
    if (size <= inline_limit) {
        auto* b = alloc<binary_box>(size, box_kind::binary, trailing_bits);
        b->owner = nullptr;
        data = trailing<std::uint8_t>(b);
        b->data = data;
        b->size = size;
        return term::from_box(b);
    }
    byte_storage* st = byte_storage::allocate(size);
    auto* b = alloc<binary_box>(0, box_kind::binary, trailing_bits);
    b->owner = st;
    b->data = st->data;
    b->size = size;
    data = st->mutable_data();
    return term::from_box(b);
}

term new_float(double v) {
    auto* b = alloc<float_box>(0, box_kind::float_, 0);
    b->value = v;
    return term::from_box(b);
}

term new_fun(std::size_t num_free, fun_box*& out) {
    auto* b = alloc<fun_box>(num_free * sizeof(term), box_kind::fun, static_cast<std::uint32_t>(num_free));
    new (&b->module) term();
    new (&b->old_index) term();
    new (&b->old_uniq) term();
    new (&b->pid) term();
    term* fv = trailing<term>(b);
    for (std::size_t i = 0; i < num_free; ++i) new (fv + i) term();
    b->arity = 0;
    b->index = 0;
    std::memset(b->uniq, 0, sizeof b->uniq);
    out = b;
    return term::from_box(b);
}

term new_bignum(bool negative, std::size_t nlimbs, std::uint64_t*& limbs) {
    if (nlimbs > (std::size_t{1} << 26)) throw std::length_error("nodus: integer too large");
    auto* b = alloc<bignum_box>(nlimbs * sizeof(std::uint64_t), box_kind::bignum, 0);
    b->nlimbs = static_cast<std::uint32_t>(nlimbs);
    b->negative = negative ? 1 : 0;
    limbs = trailing<std::uint64_t>(b);
    std::fill(limbs, limbs + nlimbs, 0);
    return term::from_box(b);
}

term normalize_bignum(term big) {
    auto* b = static_cast<bignum_box*>(big.box_ptr());
    std::uint64_t* limbs = trailing<std::uint64_t>(b);
    std::size_t n = b->nlimbs;
    while (n > 0 && limbs[n - 1] == 0) --n;
    bool neg = b->negative != 0;
    if (n == 0) return term::small(0);
    if (n == 1) {
        std::uint64_t m = limbs[0];
        if (!neg && m <= static_cast<std::uint64_t>(small_max)) return term::small(static_cast<std::int64_t>(m));
        if (neg && m <= static_cast<std::uint64_t>(small_max) + 1)
            return term::small(-static_cast<std::int64_t>(m));
    }
    if (n == b->nlimbs) return big;
    std::uint64_t* out;
    term t = new_bignum(neg, n, out);
    std::copy(limbs, limbs + n, out);
    return t;
}

}  // namespace detail

byte_storage* byte_storage::allocate(std::size_t n) {
    void* mem = ::operator new(sizeof(byte_storage) + n);
    auto* s = new (mem) byte_storage;
    s->data = reinterpret_cast<const std::uint8_t*>(s + 1);
    s->size = n;
    s->release = [](byte_storage* self) noexcept {
        std::size_t total = sizeof(byte_storage) + self->size;
        self->~byte_storage();
        ::operator delete(self, total);
    };
    return s;
}

// ---------------------------------------------------------------------------------------------
// Construction

term::term(long long v) : w_(detail::word_nil) {
    if (v >= small_min && v <= small_max) {
        w_ = static_cast<std::uintptr_t>(v) << 3 | tag_small;
        return;
    }
    std::uint64_t* limbs;
    std::uint64_t mag = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    *this = new_bignum(v < 0, 1, limbs);
    limbs[0] = mag;
}

term::term(unsigned long long v) : w_(detail::word_nil) {
    if (v <= static_cast<std::uint64_t>(small_max)) {
        w_ = static_cast<std::uintptr_t>(v) << 3 | tag_small;
        return;
    }
    std::uint64_t* limbs;
    *this = new_bignum(false, 1, limbs);
    limbs[0] = v;
}

term::term(double v) : w_(detail::word_nil) { *this = new_float(v); }

term term::integer(bool negative, std::span<const std::uint64_t> limbs) {
    std::uint64_t* out;
    term t = new_bignum(negative, limbs.size(), out);
    std::copy(limbs.begin(), limbs.end(), out);
    return normalize_bignum(std::move(t));
}

std::optional<term> term::parse_integer(std::string_view digits, unsigned base) {
    if (digits.empty() || base < 2 || base > 36) return std::nullopt;
    bool neg = false;
    std::size_t i = 0;
    if (digits[0] == '-' || digits[0] == '+') {
        neg = digits[0] == '-';
        i = 1;
    }
    if (i == digits.size()) return std::nullopt;
    std::string s;
    s.reserve(digits.size() - i);
    for (; i < digits.size(); ++i) {
        char c = digits[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'z') d = static_cast<unsigned>(c - 'a') + 10;
        else if (c >= 'A' && c <= 'Z') d = static_cast<unsigned>(c - 'A') + 10;
        else return std::nullopt;
        if (d >= base) return std::nullopt;
        s.push_back(c);
    }
    if (s.size() <= 15 && base <= 16) {  // fits easily in 61 bits
        std::int64_t v = 0;
        for (char c : s) {
            unsigned d = (c <= '9') ? static_cast<unsigned>(c - '0')
                                    : static_cast<unsigned>((c | 0x20) - 'a') + 10;
            v = v * base + d;
        }
        return term(static_cast<long long>(neg ? -v : v));
    }
    mpz_t z;
    mpz_init(z);
    if (mpz_set_str(z, s.c_str(), static_cast<int>(base)) != 0) {
        mpz_clear(z);
        return std::nullopt;
    }
    std::size_t count = (mpz_sizeinbase(z, 2) + 63) / 64;
    std::vector<std::uint64_t> limbs(count + 1, 0);
    std::size_t written = 0;
    mpz_export(limbs.data(), &written, -1, sizeof(std::uint64_t), 0, 0, z);
    mpz_clear(z);
    limbs.resize(written);
    return integer(neg, limbs);
}

term make_tuple(std::span<const term> elems) {
    term* out;
    term t = new_tuple(elems.size(), out);
    std::copy(elems.begin(), elems.end(), out);
    return t;
}

term make_tuple(std::vector<term>&& elems) {
    term* out;
    term t = new_tuple(elems.size(), out);
    std::move(elems.begin(), elems.end(), out);
    return t;
}

term cons(term head, term tail) {
    term *h, *t;
    term c = new_cons(h, t);
    *h = std::move(head);
    *t = std::move(tail);
    return c;
}

term list(std::initializer_list<term> elems) { return make_list(std::span<const term>(elems.begin(), elems.size())); }

term make_list(std::span<const term> elems, term tail) {
    term acc = std::move(tail);
    for (std::size_t i = elems.size(); i-- > 0;) acc = cons(elems[i], std::move(acc));
    return acc;
}

term make_list(std::vector<term>&& elems, term tail) {
    term acc = std::move(tail);
    for (std::size_t i = elems.size(); i-- > 0;) acc = cons(std::move(elems[i]), std::move(acc));
    return acc;
}

term string(std::string_view utf8) {
    std::vector<term> chars;
    chars.reserve(utf8.size());
    const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
    const auto* end = p + utf8.size();
    while (p < end) {
        std::uint32_t cp = *p;
        std::size_t n = 1;
        if (cp >= 0xF0 && end - p >= 4) {
            cp = ((cp & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
            n = 4;
        } else if (cp >= 0xE0 && end - p >= 3) {
            cp = ((cp & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
            n = 3;
        } else if (cp >= 0xC0 && end - p >= 2) {
            cp = ((cp & 0x1F) << 6) | (p[1] & 0x3Fu);
            n = 2;
        }
        chars.emplace_back(static_cast<long long>(cp));
        p += n;
    }
    return make_list(std::move(chars));
}

term binary(std::string_view bytes) { return binary(as_bytes(bytes)); }

term binary(byte_span bytes) {
    std::uint8_t* data;
    term t = new_binary(bytes.size(), data);
    if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
    return t;
}

term binary(byte_storage* storage, std::size_t offset, std::size_t size) {
    assert(offset + size <= storage->size);
    storage->retain();
    auto* b = alloc<binary_box>(0, box_kind::binary, 0);
    b->owner = storage;
    b->data = storage->data + offset;
    b->size = size;
    return term::from_box(b);
}

term bitstring(byte_span bytes, std::size_t bit_size) {
    std::size_t nbytes = (bit_size + 7) / 8;
    assert(nbytes <= bytes.size());
    unsigned rem = static_cast<unsigned>(bit_size % 8);
    std::uint8_t* data;
    term t = new_binary(nbytes, data, rem);
    if (nbytes) {
        std::memcpy(data, bytes.data(), nbytes);
        if (rem) data[nbytes - 1] &= static_cast<std::uint8_t>(0xFF << (8 - rem));
    }
    return t;
}

term make_map(std::vector<std::pair<term, term>> pairs) {
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) { return exact_compare(a.first, b.first) < 0; });
    // Last duplicate wins: keep the last of each run of equal keys.
    std::vector<std::pair<term, term>> unique;
    unique.reserve(pairs.size());
    for (auto& p : pairs) {
        if (!unique.empty() && exact_compare(unique.back().first, p.first) == 0) unique.back() = std::move(p);
        else unique.push_back(std::move(p));
    }
    term *keys, *values;
    term m = new_map_unsorted(unique.size(), keys, values);
    for (std::size_t i = 0; i < unique.size(); ++i) {
        keys[i] = std::move(unique[i].first);
        values[i] = std::move(unique[i].second);
    }
    return m;
}

term map(std::initializer_list<std::pair<term, term>> pairs) {
    return make_map(std::vector<std::pair<term, term>>(pairs.begin(), pairs.end()));
}

term map_put(const term& m, term key, term value) {
    auto ks = m.map_keys();
    auto vs = m.map_values();
    auto it = std::lower_bound(ks.begin(), ks.end(), key,
                               [](const term& a, const term& b) { return exact_compare(a, b) < 0; });
    std::size_t pos = static_cast<std::size_t>(it - ks.begin());
    bool replace = it != ks.end() && exact_compare(*it, key) == 0;
    std::size_t n = ks.size() + (replace ? 0 : 1);
    term *keys, *values;
    term out = new_map_unsorted(n, keys, values);
    std::size_t j = 0;
    for (std::size_t i = 0; i < ks.size(); ++i) {
        if (i == pos) {
            keys[j] = key;
            values[j] = value;
            ++j;
            if (replace) continue;
        }
        keys[j] = ks[i];
        values[j] = vs[i];
        ++j;
    }
    if (pos == ks.size()) {
        keys[j] = std::move(key);
        values[j] = std::move(value);
    }
    return out;
}

term map_remove(const term& m, const term& key) {
    const term* found = m.map_get(key);
    if (!found) return m;
    auto ks = m.map_keys();
    auto vs = m.map_values();
    term *keys, *values;
    term out = new_map_unsorted(ks.size() - 1, keys, values);
    std::size_t j = 0;
    for (std::size_t i = 0; i < ks.size(); ++i) {
        if (&vs[i] == found) continue;
        keys[j] = ks[i];
        values[j] = vs[i];
        ++j;
    }
    return out;
}

term make_export(atom module, atom function, unsigned arity) {
    auto* b = alloc<export_box>(0, box_kind::export_, arity);
    b->module = module.index();
    b->function = function.index();
    return term::from_box(b);
}

// ---------------------------------------------------------------------------------------------
// Observers

term_type term::type() const noexcept {
    switch (w_ & tag_mask) {
        case tag_small: return term_type::integer;
        case tag_atom: return term_type::atom;
        case tag_local_pid: return term_type::pid;
        case tag_box: break;
        default: return term_type::nil;
    }
    switch (box_ptr()->kind()) {
        case box_kind::bignum: return term_type::integer;
        case box_kind::float_: return term_type::float_;
        case box_kind::tuple: return term_type::tuple;
        case box_kind::cons: return term_type::list;
        case box_kind::binary: return term_type::bitstring;
        case box_kind::map: return term_type::map;
        case box_kind::pid: return term_type::pid;
        case box_kind::port: return term_type::port;
        case box_kind::reference: return term_type::reference;
        case box_kind::fun:
        case box_kind::export_: return term_type::fun;
    }
    return term_type::nil;
}

bool term::is_tagged(atom tag, std::size_t arity) const noexcept {
    return is_tuple(arity) && arity > 0 && (*this)[0].is_atom(tag);
}

std::optional<std::int64_t> term::bignum_to_int64() const noexcept {
    if (!is_bignum()) return std::nullopt;
    bigint_view v = bigint();
    if (v.limbs.size() != 1) return std::nullopt;
    std::uint64_t m = v.limbs[0];
    if (!v.negative && m <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(m);
    if (v.negative && m <= static_cast<std::uint64_t>(INT64_MAX) + 1) return static_cast<std::int64_t>(0 - m);
    return std::nullopt;
}

std::optional<std::uint64_t> term::to_uint64() const noexcept {
    if (is_small()) {
        if (small_value() < 0) return std::nullopt;
        return static_cast<std::uint64_t>(small_value());
    }
    if (!is_bignum()) return std::nullopt;
    bigint_view v = bigint();
    if (v.negative || v.limbs.size() != 1) return std::nullopt;
    return v.limbs[0];
}

bigint_view term::bigint() const noexcept {
    auto* b = static_cast<const bignum_box*>(box_ptr());
    return {b->negative != 0, {trailing<std::uint64_t>(b), b->nlimbs}};
}

double term::float_value() const noexcept { return static_cast<const float_box*>(box_ptr())->value; }

double term::to_double() const noexcept {
    if (is_small()) return static_cast<double>(small_value());
    if (is_float()) return float_value();
    bigint_view v = bigint();
    double d = 0;
    for (std::size_t i = v.limbs.size(); i-- > 0;) d = d * 18446744073709551616.0 + static_cast<double>(v.limbs[i]);
    return v.negative ? -d : d;
}

std::size_t term::tuple_size() const noexcept { return box_ptr()->aux(); }
std::span<const term> term::elements() const noexcept {
    auto* b = static_cast<const tuple_box*>(box_ptr());
    return {trailing<term>(b), b->aux()};
}
const term& term::operator[](std::size_t i) const noexcept {
    assert(is_tuple() && i < tuple_size());
    return trailing<term>(static_cast<const tuple_box*>(box_ptr()))[i];
}

const term& term::head() const noexcept { return static_cast<const cons_box*>(box_ptr())->head; }
const term& term::tail() const noexcept { return static_cast<const cons_box*>(box_ptr())->tail; }

std::optional<std::size_t> term::list_length() const noexcept {
    std::size_t n = 0;
    const term* t = this;
    while (t->is_cons()) {
        ++n;
        t = &t->tail();
    }
    if (!t->is_nil()) return std::nullopt;
    return n;
}

std::optional<std::vector<term>> term::list_elements() const {
    auto n = list_length();
    if (!n) return std::nullopt;
    std::vector<term> out;
    out.reserve(*n);
    for (const term* t = this; t->is_cons(); t = &t->tail()) out.push_back(t->head());
    return out;
}

byte_span term::bytes() const noexcept {
    auto* b = static_cast<const binary_box*>(box_ptr());
    return {b->data, b->size};
}
std::size_t term::bit_size() const noexcept {
    auto* b = static_cast<const binary_box*>(box_ptr());
    unsigned rem = b->aux();
    return rem ? (b->size - 1) * 8 + rem : b->size * 8;
}
unsigned term::trailing_bits() const noexcept { return box_ptr()->aux(); }

term term::sub_binary(std::size_t offset, std::size_t length) const {
    auto* b = static_cast<const binary_box*>(box_ptr());
    assert(offset + length <= b->size);
    if (b->owner) return binary(b->owner, static_cast<std::size_t>(b->data - b->owner->data) + offset, length);
    return binary(byte_span(b->data + offset, length));
}

std::size_t term::map_size() const noexcept { return static_cast<const map_box*>(box_ptr())->size; }
std::span<const term> term::map_keys() const noexcept {
    auto* b = static_cast<const map_box*>(box_ptr());
    return {trailing<term>(b), b->size};
}
std::span<const term> term::map_values() const noexcept {
    auto* b = static_cast<const map_box*>(box_ptr());
    return {trailing<term>(b) + b->size, b->size};
}
const term* term::map_get(const term& key) const noexcept {
    auto ks = map_keys();
    auto it = std::lower_bound(ks.begin(), ks.end(), key,
                               [](const term& a, const term& b) { return exact_compare(a, b) < 0; });
    if (it == ks.end() || exact_compare(*it, key) != 0) return nullptr;
    return &map_values()[static_cast<std::size_t>(it - ks.begin())];
}

pid term::as_pid() const { return pid(*this); }
port term::as_port() const { return port(*this); }
reference term::as_reference() const { return reference(*this); }

atom term::node() const noexcept {
    if (is_local_pid_word()) return pid_node();
    switch (box_ptr()->kind()) {
        case box_kind::pid: return static_cast<const pid_box*>(box_ptr())->node.as_atom();
        case box_kind::port: return static_cast<const port_box*>(box_ptr())->node.as_atom();
        default: return static_cast<const ref_box*>(box_ptr())->node.as_atom();
    }
}

atom term::export_module() const noexcept {
    return atom::from_index(static_cast<const export_box*>(box_ptr())->module);
}
atom term::export_function() const noexcept {
    return atom::from_index(static_cast<const export_box*>(box_ptr())->function);
}
unsigned term::fun_arity() const noexcept {
    if (is_export()) return box_ptr()->aux();
    return static_cast<const fun_box*>(box_ptr())->arity;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

namespace detail {
namespace {
struct node_slots {
    std::mutex mutex;
    std::atomic<std::uint32_t> count{0};
    local_node slots[max_local_nodes];
};
node_slots& slots() {
    static auto* s = new node_slots();
    return *s;
}
}  // namespace

int find_local_node_slot(atom node, std::uint32_t creation) noexcept {
    node_slots& t = slots();
    std::uint32_t n = t.count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < n; ++i)
        if (t.slots[i].node == node.index() && t.slots[i].creation == creation) return static_cast<int>(i);
    return -1;
}

int local_node_slot(atom node, std::uint32_t creation) noexcept {
    int found = find_local_node_slot(node, creation);
    if (found >= 0) return found;
    node_slots& t = slots();
    std::lock_guard l(t.mutex);
    found = find_local_node_slot(node, creation);
    if (found >= 0) return found;
    std::uint32_t n = t.count.load(std::memory_order_relaxed);
    if (n == max_local_nodes) return -1;
    t.slots[n] = {node.index(), creation};
    t.count.store(n + 1, std::memory_order_release);
    return static_cast<int>(n);
}

local_node local_node_at(std::uint32_t slot) noexcept { return slots().slots[slot]; }
}  // namespace detail

pid pid::make(atom node, std::uint32_t id, std::uint32_t serial, std::uint32_t creation) {
    if (id < (1u << 28) && serial < (1u << 24)) {
        int slot = find_local_node_slot(node, creation);
        if (slot >= 0) {
            std::uintptr_t w = (std::uintptr_t{serial} << 40) | (std::uintptr_t{id} << 12) |
                               (static_cast<std::uintptr_t>(slot) << 3) | tag_local_pid;
            return pid(term::from_raw(w));
        }
    }
    auto* b = alloc<pid_box>(0, box_kind::pid, 0);
    new (&b->node) term(node);
    b->id = id;
    b->serial = serial;
    b->creation = creation;
    return pid(term::from_box(b));
}
atom pid::node() const noexcept { return t_.pid_node(); }
std::uint32_t pid::id() const noexcept { return t_.pid_id(); }
std::uint32_t pid::serial() const noexcept { return t_.pid_serial(); }
std::uint32_t pid::creation() const noexcept { return t_.pid_creation(); }

port port::make(atom node, std::uint64_t id, std::uint32_t creation) {
    auto* b = alloc<port_box>(0, box_kind::port, 0);
    new (&b->node) term(node);
    b->id = id;
    b->creation = creation;
    return port(term::from_box(b));
}
atom port::node() const noexcept { return t_.node(); }
std::uint64_t port::id() const noexcept { return static_cast<const port_box*>(t_.box_ptr())->id; }
std::uint32_t port::creation() const noexcept { return static_cast<const port_box*>(t_.box_ptr())->creation; }

reference reference::make(atom node, std::uint32_t creation, std::span<const std::uint32_t> words) {
    assert(!words.empty() && words.size() <= max_words);
    auto* b = alloc<ref_box>(0, box_kind::reference, static_cast<std::uint32_t>(words.size()));
    new (&b->node) term(node);
    b->creation = creation;
    std::fill(std::begin(b->words), std::end(b->words), 0u);
    std::copy(words.begin(), words.end(), b->words);
    return reference(term::from_box(b));
}
atom reference::node() const noexcept { return t_.node(); }
std::uint32_t reference::creation() const noexcept {
    return static_cast<const ref_box*>(t_.box_ptr())->creation;
}
std::span<const std::uint32_t> reference::words() const noexcept {
    auto* b = static_cast<const ref_box*>(t_.box_ptr());
    return {b->words, b->aux()};
}

}  // namespace nodus

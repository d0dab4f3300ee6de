#include "nodus/term/atom.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace nodus {

std::string_view to_string(atom_error e) noexcept {
    switch (e) {
        case atom_error::too_long: return "atom longer than 255 characters";
        case atom_error::invalid_utf8: return "atom text is not valid UTF-8";
        case atom_error::table_full: return "atom table is full";
    }
    return "unknown atom error";
}

std::optional<std::size_t> utf8_length(std::string_view s) noexcept {
    std::size_t chars = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        unsigned char c = *p;
        std::size_t n;
        std::uint32_t cp;
        if (c < 0x80) {
            ++p;
            ++chars;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return std::nullopt;
        }
        if (static_cast<std::size_t>(end - p) < n) return std::nullopt;
        for (std::size_t i = 1; i < n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return std::nullopt;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Reject overlong forms, surrogates and values beyond U+10FFFF.
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return std::nullopt;
        p += n;
        ++chars;
    }
    return chars;
}

namespace {

struct entry {
    const char* text;
    std::uint32_t len;
    std::uint16_t chars;
    bool latin1;
};

constexpr std::size_t segment_bits = 12;
constexpr std::size_t segment_size = std::size_t{1} << segment_bits;
constexpr std::size_t max_atoms = std::size_t{1} << 26;
constexpr std::size_t max_segments = max_atoms / segment_size;
constexpr std::size_t shard_count = 16;
constexpr std::size_t arena_chunk = 64 * 1024;

struct sv_hash {
    std::size_t operator()(std::string_view s) const noexcept {
        // FNV-1a: atoms are short; this is fast and well distributed enough.
        std::uint64_t h = 1469598103934665603ull;
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        return static_cast<std::size_t>(h);
    }
};

class atom_table {
public:
    atom_table() {
#define NODUS_ATOM_INIT(id, text) insert_locked(text);
        NODUS_WELL_KNOWN_ATOMS(NODUS_ATOM_INIT)
#undef NODUS_ATOM_INIT
    }

    result<atom, atom_error> intern(std::string_view utf8) {
        auto chars = utf8_length(utf8);
        if (!chars) return unexpected(atom_error::invalid_utf8);
        if (*chars > atom::max_chars) return unexpected(atom_error::too_long);
        shard& sh = shard_for(utf8);
        {
            std::shared_lock lock(sh.mutex);
            if (auto it = sh.map.find(utf8); it != sh.map.end()) return atom::from_index(it->second);
        }
        std::unique_lock lock(sh.mutex);
        if (auto it = sh.map.find(utf8); it != sh.map.end()) return atom::from_index(it->second);
        std::lock_guard glock(global_);
        std::size_t n = count_.load(std::memory_order_relaxed);
        if (n >= limit_.load(std::memory_order_relaxed)) return unexpected(atom_error::table_full);
        std::uint32_t idx = append(utf8, *chars);
        sh.map.emplace(std::string_view(get(idx).text, utf8.size()), idx);
        return atom::from_index(idx);
    }

    std::optional<atom> find(std::string_view utf8) {
        shard& sh = shard_for(utf8);
        std::shared_lock lock(sh.mutex);
        if (auto it = sh.map.find(utf8); it != sh.map.end()) return atom::from_index(it->second);
        return std::nullopt;
    }

    const entry& get(std::uint32_t idx) const noexcept {
        entry* seg = segments_[idx >> segment_bits].load(std::memory_order_acquire);
        return seg[idx & (segment_size - 1)];
    }

    atom_table_info info() const noexcept {
        return {count_.load(std::memory_order_relaxed), limit_.load(std::memory_order_relaxed)};
    }
    std::size_t set_limit(std::size_t limit) {
        std::lock_guard glock(global_);
        std::size_t n = count_.load(std::memory_order_relaxed);
        if (limit < n) limit = n;
        if (limit > max_atoms) limit = max_atoms;
        limit_.store(limit, std::memory_order_relaxed);
        return limit;
    }

private:
    struct shard {
        std::shared_mutex mutex;
        std::unordered_map<std::string_view, std::uint32_t, sv_hash> map;
    };

    shard& shard_for(std::string_view s) { return shards_[sv_hash{}(s) % shard_count]; }

    void insert_locked(std::string_view text) {
        std::uint32_t idx = append(text, *utf8_length(text));
        shard_for(text).map.emplace(std::string_view(get(idx).text, text.size()), idx);
    }

    // Caller holds global_.
    std::uint32_t append(std::string_view text, std::size_t chars) {
        std::size_t idx = count_.load(std::memory_order_relaxed);
        std::size_t seg = idx >> segment_bits;
        entry* segment = segments_[seg].load(std::memory_order_relaxed);
        if (!segment) {
            owned_segments_.push_back(std::make_unique<entry[]>(segment_size));
            segment = owned_segments_.back().get();
            segments_[seg].store(segment, std::memory_order_release);
        }
        bool latin1 = true;
        for (std::size_t i = 0; i < text.size(); ++i) {
            auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x80) {
                // Only U+0080..U+00FF (lead bytes C2, C3) are Latin-1.
                if (c != 0xC2 && c != 0xC3) latin1 = false;
                ++i;
            }
        }
        segment[idx & (segment_size - 1)] = {store_text(text), static_cast<std::uint32_t>(text.size()),
                                             static_cast<std::uint16_t>(chars), latin1};
        count_.store(idx + 1, std::memory_order_release);
        return static_cast<std::uint32_t>(idx);
    }

    const char* store_text(std::string_view text) {
        if (text.empty()) return "";
        if (arena_left_ < text.size()) {
            arenas_.push_back(std::make_unique<char[]>(arena_chunk));
            arena_pos_ = arenas_.back().get();
            arena_left_ = arena_chunk;
        }
        char* p = arena_pos_;
        std::copy(text.begin(), text.end(), p);
        arena_pos_ += text.size();
        arena_left_ -= text.size();
        return p;
    }

    std::array<shard, shard_count> shards_;
    std::mutex global_;
    std::atomic<std::size_t> count_{0};
    std::atomic<std::size_t> limit_{1048576};
    std::array<std::atomic<entry*>, max_segments> segments_{};
    std::vector<std::unique_ptr<entry[]>> owned_segments_;
    std::vector<std::unique_ptr<char[]>> arenas_;
    char* arena_pos_ = nullptr;
    std::size_t arena_left_ = 0;
};

atom_table& table() {
    // Never destroyed: atoms stay valid during static destruction of other objects.
    static atom_table* t = new atom_table();
    return *t;
}

}  // namespace

atom::atom(std::string_view name) {
    auto r = make(name);
    if (!r) {
        if (r.error() == atom_error::table_full) throw std::length_error("nodus: atom table is full");
        throw std::invalid_argument(std::string("nodus: bad atom: ") + std::string(to_string(r.error())));
    }
    index_ = r->index_;
}

result<atom, atom_error> atom::make(std::string_view name) noexcept {
    try {
        return table().intern(name);
    } catch (const std::bad_alloc&) {
        return unexpected(atom_error::table_full);
    }
}

result<atom, atom_error> atom::make_latin1(std::string_view name) noexcept {
    bool ascii = true;
    for (char c : name) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) return make(name);
    if (name.size() > max_chars) return unexpected(atom_error::too_long);
    std::string utf8;
    utf8.reserve(name.size() * 2);
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            utf8.push_back(static_cast<char>(c));
        } else {
            utf8.push_back(static_cast<char>(0xC0 | (c >> 6)));
            utf8.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return make(utf8);
}

std::optional<atom> atom::existing(std::string_view name) noexcept { return table().find(name); }

std::string_view atom::name() const noexcept {
    const entry& e = table().get(index_);
    return {e.text, e.len};
}
bool atom::is_latin1() const noexcept { return table().get(index_).latin1; }
std::size_t atom::length() const noexcept { return table().get(index_).chars; }

std::strong_ordering operator<=>(atom a, atom b) noexcept {
    if (a.index_ == b.index_) return std::strong_ordering::equal;
    // UTF-8 byte order equals code point order, which is Erlang's atom order.
    int c = a.name().compare(b.name());
    return c < 0 ? std::strong_ordering::less : c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal;
}

atom_table_info atom_table_stats() noexcept { return table().info(); }
std::size_t set_atom_limit(std::size_t limit) noexcept { return table().set_limit(limit); }

}  // namespace nodus

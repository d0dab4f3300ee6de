// Helpers shared by the evaluator and the BIFs: list and iolist walking (iterative: lists may
// be long and iolists deep), and the reduction accounting hook.
#include "eval_impl.hpp"
#include "runtime/process_impl.hpp"

namespace nodus::eval::detail {

std::optional<std::vector<term>> list_to_vector(const term& l) {
    std::vector<term> out;
    const term* cur = &l;
    for (; cur->is_cons(); cur = &cur->tail())
        out.push_back(cur->head());
    if (!cur->is_nil()) return std::nullopt;
    return out;
}

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Walks an iolist-like deep list with an explicit stack; each leaf goes to `leaf`, which
// returns false to reject it. The tail of a list may be a binary (iolists allow it).
template <class Leaf>
bool walk_deep(const term& root, Leaf leaf) {
    std::vector<const term*> stack{&root};
    while (!stack.empty()) {
        const term* t = stack.back();
        stack.pop_back();
        if (t->is_binary()) {
            if (!leaf(*t)) return false;
            continue;
        }
        if (t->is_nil()) continue;
        if (!t->is_cons()) {
            if (!leaf(*t)) return false;
            continue;
        }
        // Push the list's elements in reverse so they come out in order.
        std::vector<const term*> items;
        const term* cur = t;
        for (; cur->is_cons(); cur = &cur->tail())
            items.push_back(&cur->head());
        if (!cur->is_nil()) {
            if (!cur->is_binary()) return false;
            items.push_back(cur);
        }
        for (auto it = items.rbegin(); it != items.rend(); ++it)
            stack.push_back(*it);
    }
    return true;
}

}  // namespace

std::optional<std::string> iolist_bytes(const term& t) {
    std::string out;
    bool ok = walk_deep(t, [&](const term& leaf) {
        if (leaf.is_binary()) {
            out += leaf.as_string_view();
            return true;
        }
        auto v = leaf.is_small() ? std::optional<std::int64_t>(leaf.small_value()) : std::nullopt;
        if (!v || *v < 0 || *v > 255) return false;
        out.push_back(static_cast<char>(*v));
        return true;
    });
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::string> chardata_utf8(const term& t) {
    std::string out;
    bool ok = walk_deep(t, [&](const term& leaf) {
        if (leaf.is_binary()) {
            out += leaf.as_string_view();
            return true;
        }
        auto v = leaf.is_small() ? std::optional<std::int64_t>(leaf.small_value()) : std::nullopt;
        if (!v || *v < 0 || *v > 0x10FFFF || (*v >= 0xD800 && *v <= 0xDFFF)) return false;
        append_utf8(out, static_cast<std::uint32_t>(*v));
        return true;
    });
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::string> string_utf8(const term& t) {
    std::string out;
    const term* cur = &t;
    for (; cur->is_cons(); cur = &cur->tail()) {
        const term& c = cur->head();
        auto v = c.is_small() ? std::optional<std::int64_t>(c.small_value()) : std::nullopt;
        if (!v || *v < 0 || *v > 0x10FFFF || (*v >= 0xD800 && *v <= 0xDFFF)) return std::nullopt;
        append_utf8(out, static_cast<std::uint32_t>(*v));
    }
    if (!cur->is_nil()) return std::nullopt;
    return out;
}

void consume_reductions(std::int64_t n) noexcept {
    // The slice accounting lives in the process control block; only the running process
    // touches its own fields, so this needs no synchronisation.
    if (nodus::detail::process* p = nodus::detail::current_or_null()) {
        p->budget -= n;
        p->reductions += static_cast<std::uint64_t>(n);
    }
}

}  // namespace nodus::eval::detail

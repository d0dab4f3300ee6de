// Character data to text (nodus/io/chardata.hpp).
#include "nodus/io/chardata.hpp"

#include <vector>

#include "term/scan_utf8.hpp"

namespace nodus::io_lib {

namespace {

// Walks an iolist-like deep list with an explicit stack; each leaf goes to `leaf`, which
// returns false to reject it. The tail of a list may be a binary (iolists allow it).
template <class Leaf>
bool walk_deep(const term& root, Leaf leaf) {
    std::vector<const term*> stack{&root};
    std::vector<const term*> items;
    while (!stack.empty()) {
        const term* t = stack.back();
        stack.pop_back();
        if (t->is_nil()) continue;
        if (!t->is_cons()) {
            if (!leaf(*t)) return false;
            continue;
        }
        // Push the list's elements in reverse so they come out in order.
        items.clear();
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

std::optional<std::int64_t> small_of(const term& t) {
    return t.is_small() ? std::optional<std::int64_t>(t.small_value()) : std::nullopt;
}

}  // namespace

std::optional<std::string> chardata_to_utf8(const term& chardata) {
    std::string out;
    bool ok = walk_deep(chardata, [&](const term& leaf) {
        if (leaf.is_binary()) {
            out += leaf.as_string_view();
            return true;
        }
        auto v = small_of(leaf);
        if (!v || *v < 0 || *v > 0x10FFFF || (*v >= 0xD800 && *v <= 0xDFFF)) return false;
        nodus::detail::utf8_append(out, static_cast<std::uint32_t>(*v));
        return true;
    });
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::string> iolist_to_bytes(const term& iolist) {
    std::string out;
    bool ok = walk_deep(iolist, [&](const term& leaf) {
        if (leaf.is_binary()) {
            out += leaf.as_string_view();
            return true;
        }
        auto v = small_of(leaf);
        if (!v || *v < 0 || *v > 255) return false;
        out.push_back(static_cast<char>(*v));
        return true;
    });
    if (!ok) return std::nullopt;
    return out;
}

std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (unsigned char c : bytes)
        nodus::detail::utf8_append(out, c);
    return out;
}

std::optional<std::string> latin1_chardata_to_utf8(const term& chardata) {
    if (chardata.is_binary()) return latin1_to_utf8(chardata.as_string_view());
    auto bytes = iolist_to_bytes(chardata);
    if (!bytes) return std::nullopt;
    return latin1_to_utf8(*bytes);
}

}  // namespace nodus::io_lib

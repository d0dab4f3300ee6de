// Helpers shared by the evaluator and the BIFs: list walking, iolists and chardata as text
// (nodus/io/chardata.hpp), and the reduction accounting hook.
#include "eval_impl.hpp"
#include "nodus/io/chardata.hpp"
#include "runtime/process_impl.hpp"
#include "term/scan_utf8.hpp"

namespace nodus::eval::detail {

std::optional<std::vector<term>> list_to_vector(const term& l) {
    std::vector<term> out;
    const term* cur = &l;
    for (; cur->is_cons(); cur = &cur->tail())
        out.push_back(cur->head());
    if (!cur->is_nil()) return std::nullopt;
    return out;
}

std::optional<std::string> iolist_bytes(const term& t) {
    return io_lib::iolist_to_bytes(t);
}

std::optional<std::string> chardata_utf8(const term& t) {
    return io_lib::chardata_to_utf8(t);
}

std::optional<std::string> string_utf8(const term& t) {
    std::string out;
    const term* cur = &t;
    for (; cur->is_cons(); cur = &cur->tail()) {
        const term& c = cur->head();
        auto v = c.is_small() ? std::optional<std::int64_t>(c.small_value()) : std::nullopt;
        if (!v || *v < 0 || *v > 0x10FFFF || (*v >= 0xD800 && *v <= 0xDFFF)) return std::nullopt;
        nodus::detail::utf8_append(out, static_cast<std::uint32_t>(*v));
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

// Fuzzes io_lib:format: a format and arguments from the input must format or return an error,
// never crash, and never produce more than max_output characters. A format that works must
// also survive scan_format + build_text with the same text.
//
// Input: one byte N, then N bytes of format (a binary format: each byte is a character), then
// the arguments: a list in the external term format, or when that does not decode, terms
// built from the remaining bytes (so that plain byte mutations still reach every control).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nodus/etf/etf.hpp"
#include "nodus/io/format.hpp"

namespace {

using namespace nodus;

// A small term language over bytes: each term starts with a tag byte.
class builder {
public:
    builder(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}

    term next(int depth = 0) {
        if (p_ == end_) return term();
        std::uint8_t tag = *p_++;
        switch (tag % 12) {
            case 0:
                return term(static_cast<int>(byte()) - 64);
            case 1:
                return term(static_cast<long long>(word()));
            case 2: {
                static const char* names[] = {"ok", "a b", "Quoted", "caf\xC3\xA9", "\xE6\x97\xA5", ""};
                return atom(names[byte() % 6]);
            }
            case 3:
                return string(text(byte() % 24));
            case 4:
                return binary(text(byte() % 24));
            case 5: {
                std::uint64_t bits = word();
                double d;
                static_assert(sizeof d == sizeof bits);
                __builtin_memcpy(&d, &bits, sizeof d);
                return d != d || d - d != 0 ? term(1.5) : term(d);  // no NaN or infinity in Erlang
            }
            case 6:
            case 7: {
                if (depth > 20) return term();
                std::vector<term> elems(byte() % 6);
                for (term& e : elems)
                    e = next(depth + 1);
                return tag % 12 == 6 ? make_list(std::move(elems)) : make_tuple(std::move(elems));
            }
            case 8: {
                if (depth > 20) return term();
                term head = next(depth + 1);
                return cons(head, next(depth + 1));
            }
            case 9: {
                if (depth > 20) return term();
                std::vector<std::pair<term, term>> pairs(byte() % 4);
                for (auto& [k, v] : pairs) {
                    k = next(depth + 1);
                    v = next(depth + 1);
                }
                return make_map(std::move(pairs));
            }
            case 10:
                return term(static_cast<int>(byte()) * 1000 + byte());
            default:
                return term::small(static_cast<std::int64_t>(word()) >> 4);
        }
    }

    bool done() const { return p_ == end_; }

private:
    std::uint8_t byte() { return p_ == end_ ? 0 : *p_++; }
    std::uint64_t word() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i)
            v = v << 8 | byte();
        return v;
    }
    std::string text(std::size_t n) {
        std::string s;
        while (n-- && p_ != end_)
            s.push_back(static_cast<char>(*p_++));
        return s;
    }

    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static bool init = [] {
        set_atom_limit(200000);
        return true;
    }();
    (void)init;
    if (size == 0) return 0;
    std::size_t n = std::min<std::size_t>(data[0] & 0x7F, size - 1);
    bool unicode = data[0] & 0x80;
    term fmt = binary(byte_span(data + 1, n));
    const std::uint8_t* rest = data + 1 + n;
    std::size_t rest_size = size - 1 - n;

    etf::decode_options dopts;
    dopts.limits.max_inflated = 1 << 16;
    term args;
    auto decoded = etf::decode(byte_span(rest, rest_size), dopts);
    if (decoded && decoded->is_list()) {
        args = *decoded;
    } else {
        builder b(rest, rest_size);
        std::vector<term> list;
        while (!b.done() && list.size() < 16)
            list.push_back(b.next());
        args = make_list(std::move(list));
    }

    io_lib::format_options opts;
    opts.unicode_printable = unicode;
    opts.max_output = 1 << 16;
    opts.max_nesting = 200;
    auto r = io_lib::format(fmt, args, opts);
    if (!r) return 0;
    if (r->size() > 4 * opts.max_output + 4) __builtin_trap();
    auto scanned = io_lib::scan_format(fmt, args);
    if (!scanned) __builtin_trap();
    auto built = io_lib::build_text(*scanned, opts);
    if (!built || *built != *r) __builtin_trap();
    return 0;
}

// The port mapper protocol: encoders, decoders and the request parser (sans I/O).
#include "nodus/epmd/protocol.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "term/scan_utf8.hpp"

namespace nodus::epmd {

namespace {

unexpected<error> fail(errc code, std::string detail) {
    return unexpected(error{code, std::move(detail)});
}

std::string_view chars(byte_span b) {
    return as_chars(b);
}

// The name checks, in the order OTP's epmd makes them. Kept separate from check_name so the
// request parser can report which request the name came from.
result<void, error> check_name_in(std::string_view name, std::string_view what) {
    if (name.empty()) return fail(errc::empty_name, fmt::format("{}: empty node name", what));
    if (auto nul = name.find('\0'); nul != std::string_view::npos)
        return fail(errc::name_has_nul, fmt::format("{}: node name has a NUL byte at offset {}", what, nul));
    if (name.size() > max_name_bytes)
        return fail(errc::name_too_long,
                    fmt::format("{}: node name of {} bytes (at most {})", what, name.size(), max_name_bytes));
    auto* p = reinterpret_cast<const unsigned char*>(name.data());
    auto* end = p + name.size();
    std::size_t count = 0;
    for (auto* q = p; q < end; ++count) {
        std::uint32_t cp = 0;
        std::size_t n = detail::utf8_decode(q, end, cp);
        if (n == 0)
            return fail(errc::name_not_utf8,
                        fmt::format("{}: node name is not UTF-8 at byte offset {}", what, q - p));
        q += n;
    }
    if (count > max_name_chars)
        return fail(errc::name_too_long,
                    fmt::format("{}: node name of {} characters (at most {})", what, count, max_name_chars));
    return {};
}

result<void, error> check_extra(std::string_view extra) {
    if (extra.size() > max_extra_bytes)
        return fail(errc::extra_too_long, fmt::format("ALIVE2_REQ: extra data of {} bytes (at most {})",
                                                      extra.size(), max_extra_bytes));
    return {};
}

// Prefixes a request body with its 2-byte length.
bytes framed(const byte_writer& body) {
    byte_writer w(body.size() + 2);
    w.u16(static_cast<std::uint16_t>(body.size()));
    w.bytes(body.view());
    return w.take();
}

std::string_view request_name(std::uint8_t c) noexcept {
    switch (c) {
        case code::alive2_req:
            return "ALIVE2_REQ";
        case code::port_please2_req:
            return "PORT_PLEASE2_REQ";
        case code::names_req:
            return "NAMES_REQ";
        case code::dump_req:
            return "DUMP_REQ";
        case code::kill_req:
            return "KILL_REQ";
        case code::stop_req:
            return "STOP_REQ";
        default:
            return "request";
    }
}

result<request, error> decode_alive2(byte_reader& r) {
    port_info n;
    std::uint8_t type = 0;
    std::uint16_t nlen = 0, elen = 0;
    byte_span name, extra;
    if (!r.u16(n.port) || !r.u8(type) || !r.u8(n.protocol) || !r.u16(n.highest_version) ||
        !r.u16(n.lowest_version) || !r.u16(nlen))
        return fail(errc::truncated,
                    fmt::format("ALIVE2_REQ of {} bytes: its fixed fields need 11", r.whole().size()));
    n.type = static_cast<node_type>(type);
    if (!r.bytes(nlen, name))
        return fail(errc::truncated,
                    fmt::format("ALIVE2_REQ: name length {} but {} bytes follow", nlen, r.remaining()));
    if (!r.u16(elen)) return fail(errc::truncated, "ALIVE2_REQ: ends before the extra length");
    if (!r.bytes(elen, extra))
        return fail(errc::truncated,
                    fmt::format("ALIVE2_REQ: extra length {} but {} bytes follow", elen, r.remaining()));
    if (!r.at_end())
        return fail(errc::trailing_data,
                    fmt::format("ALIVE2_REQ: {} bytes after the extra data", r.remaining()));
    if (auto ok = check_name_in(chars(name), "ALIVE2_REQ"); !ok) return unexpected(ok.error());
    if (auto ok = check_extra(chars(extra)); !ok) return unexpected(ok.error());
    n.name = std::string(chars(name));
    n.extra = std::string(chars(extra));
    return request{alive2_req{std::move(n)}};
}

// The rest of the body is a node name (PORT_PLEASE2_REQ, STOP_REQ).
result<std::string, error> rest_as_name(byte_reader& r, std::uint8_t c) {
    std::string_view name = chars(r.rest());
    // Old clients NUL-terminate the name; OTP's epmd skips one terminating NUL here.
    if (c == code::port_please2_req && !name.empty() && name.back() == '\0') name.remove_suffix(1);
    if (auto ok = check_name_in(name, request_name(c)); !ok) return unexpected(ok.error());
    return std::string(name);
}

// A decimal port number, all of s.
bool parse_port(std::string_view s, std::uint16_t& port) {
    if (s.empty() || s.size() > 5) return false;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return true;
}

}  // namespace

std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::truncated:
            return "truncated";
        case errc::trailing_data:
            return "trailing data";
        case errc::zero_length:
            return "zero length";
        case errc::too_large:
            return "too large";
        case errc::unknown_request:
            return "unknown request";
        case errc::unexpected_response:
            return "unexpected response";
        case errc::bad_response:
            return "bad response";
        case errc::empty_name:
            return "empty name";
        case errc::name_has_nul:
            return "name has NUL";
        case errc::name_not_utf8:
            return "name not UTF-8";
        case errc::name_too_long:
            return "name too long";
        case errc::extra_too_long:
            return "extra too long";
        case errc::duplicate_name:
            return "duplicate name";
        case errc::not_found:
            return "not found";
        case errc::not_allowed:
            return "not allowed";
        case errc::bad_argument:
            return "bad argument";
        case errc::resolve_failed:
            return "resolve failed";
        case errc::connect_failed:
            return "connect failed";
        case errc::io_error:
            return "I/O error";
        case errc::closed:
            return "connection closed";
        case errc::timeout:
            return "timeout";
        case errc::cancelled:
            return "cancelled";
        case errc::listen_failed:
            return "listen failed";
        case errc::address_in_use:
            return "address in use";
    }
    return "unknown error";
}

std::string error::message() const {
    if (detail.empty()) return std::string(to_string(code));
    return fmt::format("{}: {}", to_string(code), detail);
}

result<void, error> check_name(std::string_view name) {
    return check_name_in(name, "node name");
}

// ---- request encoders ----

result<bytes, error> encode_alive2_req(const port_info& node) {
    if (auto ok = check_name_in(node.name, "ALIVE2_REQ"); !ok) return unexpected(ok.error());
    if (auto ok = check_extra(node.extra); !ok) return unexpected(ok.error());
    byte_writer w(13 + node.name.size() + node.extra.size());
    w.u8(code::alive2_req);
    w.u16(node.port);
    w.u8(static_cast<std::uint8_t>(node.type));
    w.u8(node.protocol);
    w.u16(node.highest_version);
    w.u16(node.lowest_version);
    w.u16(static_cast<std::uint16_t>(node.name.size()));
    w.text(node.name);
    w.u16(static_cast<std::uint16_t>(node.extra.size()));
    w.text(node.extra);
    return framed(w);
}

result<bytes, error> encode_port_please2_req(std::string_view name) {
    if (auto ok = check_name_in(name, "PORT_PLEASE2_REQ"); !ok) return unexpected(ok.error());
    byte_writer w(1 + name.size());
    w.u8(code::port_please2_req);
    w.text(name);
    return framed(w);
}

bytes encode_names_req() {
    return {0, 1, code::names_req};
}
bytes encode_dump_req() {
    return {0, 1, code::dump_req};
}
bytes encode_kill_req() {
    return {0, 1, code::kill_req};
}

result<bytes, error> encode_stop_req(std::string_view name) {
    if (auto ok = check_name_in(name, "STOP_REQ"); !ok) return unexpected(ok.error());
    byte_writer w(1 + name.size());
    w.u8(code::stop_req);
    w.text(name);
    return framed(w);
}

result<bytes, error> encode(const request& req) {
    struct visitor {
        result<bytes, error> operator()(const alive2_req& r) const { return encode_alive2_req(r.node); }
        result<bytes, error> operator()(const port_please2_req& r) const {
            return encode_port_please2_req(r.name);
        }
        result<bytes, error> operator()(const names_req&) const { return encode_names_req(); }
        result<bytes, error> operator()(const dump_req&) const { return encode_dump_req(); }
        result<bytes, error> operator()(const kill_req&) const { return encode_kill_req(); }
        result<bytes, error> operator()(const stop_req& r) const { return encode_stop_req(r.name); }
    };
    return std::visit(visitor{}, req);
}

// ---- request decoding ----

result<request, error> decode_request(byte_span body) {
    byte_reader r(body);
    std::uint8_t c = 0;
    if (!r.u8(c)) return fail(errc::zero_length, "empty request");
    switch (c) {
        case code::alive2_req:
            return decode_alive2(r);
        case code::port_please2_req: {
            auto name = rest_as_name(r, c);
            if (!name) return unexpected(std::move(name).error());
            return request{port_please2_req{std::move(*name)}};
        }
        case code::stop_req: {
            auto name = rest_as_name(r, c);
            if (!name) return unexpected(std::move(name).error());
            return request{stop_req{std::move(*name)}};
        }
        case code::names_req:
        case code::dump_req:
        case code::kill_req:
            if (!r.at_end())
                return fail(errc::trailing_data, fmt::format("{}: {} bytes after the request code",
                                                             request_name(c), r.remaining()));
            if (c == code::names_req) return request{names_req{}};
            if (c == code::dump_req) return request{dump_req{}};
            return request{kill_req{}};
        case 97:   // ALIVE_REQ
        case 112:  // PORT_PLEASE_REQ
            return fail(errc::unknown_request, fmt::format("obsolete pre-R6 request code {}", c));
        default:
            return fail(errc::unknown_request, fmt::format("request code {}", c));
    }
}

result<std::optional<request>, error> request_parser::feed(byte_span data) {
    auto failed = [this](error e) -> result<std::optional<request>, error> {
        state_ = state::failed;
        error_ = e;
        return unexpected(std::move(e));
    };
    if (state_ == state::failed) return unexpected(*error_);
    if (state_ == state::done) {
        if (data.empty()) return std::optional<request>{};
        return failed({errc::trailing_data, fmt::format("{} bytes after the complete request", data.size())});
    }
    std::size_t i = 0;
    while (i < data.size()) {
        if (state_ == state::length) {
            len_bytes_[len_got_++] = data[i++];
            if (len_got_ < 2) continue;
            want_ = byte_reader::get16(len_bytes_);
            if (want_ == 0) return failed({errc::zero_length, "request length 0"});
            if (want_ > max_)
                return failed({errc::too_large, fmt::format("request length {} (at most {})", want_, max_)});
            body_.reserve(want_);
            state_ = state::body;
            continue;
        }
        std::size_t n = std::min(want_ - body_.size(), data.size() - i);
        if (body_.empty()) code_ = data[i];
        body_.insert(body_.end(), data.begin() + static_cast<std::ptrdiff_t>(i),
                     data.begin() + static_cast<std::ptrdiff_t>(i + n));
        i += n;
        if (body_.size() < want_) break;
        // The body decides first, trailing bytes second: the same error however the bytes were
        // split.
        auto req = decode_request(body_);
        if (!req) {
            const errc e = req.error().code;
            if (code_ == code::alive2_req &&
                (e == errc::name_not_utf8 || e == errc::name_too_long || e == errc::extra_too_long))
                refusal_ = encode_alive2_refusal(byte_reader::get16(body_.data() + 5));
            body_ = {};
            return failed(std::move(req).error());
        }
        body_ = {};
        if (i < data.size())
            return failed({errc::trailing_data,
                           fmt::format("{} bytes after the {}-byte request", data.size() - i, want_)});
        state_ = state::done;
        return std::optional<request>(std::move(*req));
    }
    return std::optional<request>{};
}

// ---- response encoders ----

bytes encode_alive2_resp(const alive2_resp& r) {
    byte_writer w(6);
    if (r.extended) {
        w.u8(code::alive2_x_resp);
        w.u8(r.result);
        w.u32(r.creation);
    } else {
        w.u8(code::alive2_resp);
        w.u8(r.result);
        w.u16(static_cast<std::uint16_t>(r.creation));
    }
    return w.take();
}

bytes encode_alive2_refusal(std::uint16_t requested_highest_version) {
    return encode_alive2_resp({1, 99, requested_highest_version >= 6});
}

bytes encode_port2_resp(const port2_resp& r) {
    byte_writer w;
    w.u8(code::port2_resp);
    if (r.result != 0 || !r.node) {
        w.u8(r.result != 0 ? r.result : 1);
        return w.take();
    }
    const port_info& n = *r.node;
    w.u8(0);
    w.u16(n.port);
    w.u8(static_cast<std::uint8_t>(n.type));
    w.u8(n.protocol);
    w.u16(n.highest_version);
    w.u16(n.lowest_version);
    w.u16(static_cast<std::uint16_t>(n.name.size()));
    w.text(n.name);
    w.u16(static_cast<std::uint16_t>(n.extra.size()));
    w.text(n.extra);
    return w.take();
}

bytes encode_names_resp(std::uint32_t epmd_port, std::span<const name_entry> nodes) {
    byte_writer w;
    w.u32(epmd_port);
    for (const auto& n : nodes)
        w.text(fmt::format("name {} at port {}\n", n.name, n.port));
    return w.take();
}

bytes encode_dump_resp(std::uint32_t epmd_port, std::span<const dump_entry> entries) {
    byte_writer w;
    w.u32(epmd_port);
    for (const auto& e : entries) {
        if (e.active)
            w.text(fmt::format("active name     <{}> at port {}, fd = {}\n", e.name, e.port, e.fd));
        else
            w.text(fmt::format("old/unused name <{}>, port = {}, fd = {} \n", e.name, e.port, e.fd));
        w.u8(0);
    }
    return w.take();
}

bytes encode_kill_resp(bool ok) {
    return ok ? bytes{'O', 'K'} : bytes{'N', 'O'};
}

bytes encode_stop_resp(stop_result r) {
    std::string_view s = r == stop_result::stopped ? "STOPPED" : "NOEXIST";
    return bytes(s.begin(), s.end());
}

// ---- response decoders ----

result<alive2_resp, error> decode_alive2_resp(byte_span data) {
    if (data.empty()) return fail(errc::truncated, "no ALIVE2 answer");
    alive2_resp out;
    byte_reader r(data);
    std::uint8_t c = 0;
    (void)r.u8(c);
    if (c == code::alive2_x_resp) {
        if (!r.u8(out.result) || !r.u32(out.creation))
            return fail(errc::truncated, fmt::format("ALIVE2_X_RESP of {} bytes (6 expected)", data.size()));
        out.extended = true;
    } else if (c == code::alive2_resp) {
        std::uint16_t c16 = 0;
        if (!r.u8(out.result) || !r.u16(c16))
            return fail(errc::truncated, fmt::format("ALIVE2_RESP of {} bytes (4 expected)", data.size()));
        out.creation = c16;
        out.extended = false;
    } else {
        return fail(errc::unexpected_response, fmt::format("response code {} to ALIVE2_REQ", c));
    }
    if (!r.at_end())
        return fail(errc::trailing_data, fmt::format("{} bytes after the ALIVE2 answer", r.remaining()));
    return out;
}

result<port2_resp, error> decode_port2_resp(byte_span data) {
    byte_reader r(data);
    std::uint8_t c = 0;
    port2_resp out;
    if (!r.u8(c)) return fail(errc::truncated, "no PORT2_RESP");
    if (c != code::port2_resp)
        return fail(errc::unexpected_response, fmt::format("response code {} to PORT_PLEASE2_REQ", c));
    if (!r.u8(out.result)) return fail(errc::truncated, "PORT2_RESP ends before its result");
    if (out.result == 0) {
        port_info n;
        std::uint8_t type = 0;
        std::uint16_t nlen = 0, elen = 0;
        byte_span name, extra;
        if (!r.u16(n.port) || !r.u8(type) || !r.u8(n.protocol) || !r.u16(n.highest_version) ||
            !r.u16(n.lowest_version) || !r.u16(nlen))
            return fail(errc::truncated, "PORT2_RESP ends inside its fixed fields");
        if (!r.bytes(nlen, name))
            return fail(errc::truncated,
                        fmt::format("PORT2_RESP: name length {} but {} bytes follow", nlen, r.remaining()));
        if (!r.u16(elen)) return fail(errc::truncated, "PORT2_RESP ends before the extra length");
        if (!r.bytes(elen, extra))
            return fail(errc::truncated,
                        fmt::format("PORT2_RESP: extra length {} but {} bytes follow", elen, r.remaining()));
        n.type = static_cast<node_type>(type);
        n.name = std::string(chars(name));
        n.extra = std::string(chars(extra));
        out.node = std::move(n);
    }
    if (!r.at_end())
        return fail(errc::trailing_data, fmt::format("{} bytes after PORT2_RESP", r.remaining()));
    return out;
}

result<names_resp, error> decode_names_resp(byte_span data) {
    byte_reader r(data);
    names_resp out;
    if (!r.u32(out.epmd_port))
        return fail(errc::truncated, fmt::format("NAMES answer of {} bytes (the port needs 4)", data.size()));
    std::string_view text = chars(r.rest());
    constexpr std::string_view prefix = "name ", middle = " at port ";
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos)
            return fail(errc::truncated, fmt::format("NAMES line {} has no end of line", line_no));
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        // Split at the last " at port ": a node name may itself contain spaces.
        std::size_t at = line.rfind(middle);
        name_entry e;
        if (!line.starts_with(prefix) || at == std::string_view::npos || at < prefix.size() ||
            !parse_port(line.substr(at + middle.size()), e.port))
            return fail(errc::bad_response, fmt::format("NAMES line {} is not `name N at port P`", line_no));
        e.name = std::string(line.substr(prefix.size(), at - prefix.size()));
        if (e.name.empty())
            return fail(errc::bad_response, fmt::format("NAMES line {} has an empty name", line_no));
        out.nodes.push_back(std::move(e));
    }
    return out;
}

result<dump_resp, error> decode_dump_resp(byte_span data) {
    byte_reader r(data);
    dump_resp out;
    if (!r.u32(out.epmd_port))
        return fail(errc::truncated, fmt::format("DUMP answer of {} bytes (the port needs 4)", data.size()));
    std::string_view text = chars(r.rest());
    while (!text.empty()) {
        std::size_t nul = text.find('\0');
        if (nul == std::string_view::npos)
            return fail(errc::truncated,
                        fmt::format("DUMP record {} has no final NUL", out.records.size() + 1));
        out.records.emplace_back(text.substr(0, nul));
        text.remove_prefix(nul + 1);
    }
    return out;
}

result<dump_entry, error> parse_dump_record(std::string_view rec) {
    // "active name     <N> at port P, fd = F\n" or "old/unused name <N>, port = P, fd = F \n"
    dump_entry e;
    std::string_view rest;
    if (rec.starts_with("active name     <")) {
        e.active = true;
        rest = rec.substr(17);
    } else if (rec.starts_with("old/unused name <")) {
        e.active = false;
        rest = rec.substr(17);
    } else {
        return fail(errc::bad_response,
                    "DUMP record starts with neither `active name` nor `old/unused name`");
    }
    std::string_view port_mark = e.active ? "> at port " : ">, port = ";
    std::size_t close = rest.rfind(port_mark);
    if (close == std::string_view::npos) return fail(errc::bad_response, "DUMP record without a port");
    e.name = std::string(rest.substr(0, close));
    rest.remove_prefix(close + port_mark.size());
    std::size_t comma = rest.find(", fd = ");
    if (comma == std::string_view::npos || !parse_port(rest.substr(0, comma), e.port))
        return fail(errc::bad_response, "DUMP record with a bad port");
    rest.remove_prefix(comma + 7);
    std::string_view tail = e.active ? "\n" : " \n";
    if (!rest.ends_with(tail)) return fail(errc::bad_response, "DUMP record with a bad ending");
    rest.remove_suffix(tail.size());
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.fd);
    if (ec != std::errc() || p != rest.data() + rest.size())
        return fail(errc::bad_response, "DUMP record with a bad fd");
    return e;
}

result<bool, error> decode_kill_resp(byte_span data) {
    if (data.size() < 2) return fail(errc::truncated, fmt::format("KILL answer of {} bytes", data.size()));
    std::string_view s = chars(data.first(2));
    if (s != "OK" && s != "NO") return fail(errc::bad_response, "KILL answer is neither OK nor NO");
    if (data.size() > 2)
        return fail(errc::trailing_data, fmt::format("{} bytes after the KILL answer", data.size() - 2));
    return s == "OK";
}

result<stop_result, error> decode_stop_resp(byte_span data) {
    if (data.size() < 7) return fail(errc::truncated, fmt::format("STOP answer of {} bytes", data.size()));
    std::string_view s = chars(data.first(7));
    if (s == "STOPPED") return stop_result::stopped;
    if (s == "NOEXIST") return stop_result::noexist;
    return fail(errc::bad_response, "STOP answer is neither STOPPED nor NOEXIST");
}

}  // namespace nodus::epmd

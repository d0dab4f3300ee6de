// The port mapper (EPMD) protocol, sans I/O: request encoders and decoders, response encoders and
// decoders, and the server's incremental request parser. Pure functions over byte spans; sockets,
// timers and randomness live in client.hpp and server.hpp.
//
// Wire format (docs/protocols/epmd.md): a request is Length:16 then Length bytes whose first byte
// is the request code; responses carry no length (their size follows from their code, or the
// port mapper closes the connection after them). One request per connection; only ALIVE2_REQ
// keeps the connection open (it is the registration).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nodus/base/bytes.hpp"
#include "nodus/base/result.hpp"

namespace nodus::epmd {

using bytes = std::vector<std::uint8_t>;

inline constexpr std::uint16_t default_port = 4369;

// Request and response codes (the first byte).
namespace code {
inline constexpr std::uint8_t alive2_req = 120;        // 'x'
inline constexpr std::uint8_t alive2_x_resp = 118;     // 'v': 32-bit creation (version 6)
inline constexpr std::uint8_t alive2_resp = 121;       // 'y': 16-bit creation (old)
inline constexpr std::uint8_t port_please2_req = 122;  // 'z'
inline constexpr std::uint8_t port2_resp = 119;        // 'w'
inline constexpr std::uint8_t names_req = 110;         // 'n'
inline constexpr std::uint8_t dump_req = 100;          // 'd'
inline constexpr std::uint8_t kill_req = 107;          // 'k'
inline constexpr std::uint8_t stop_req = 115;          // 's'
}  // namespace code

// What OTP 25 sends: it speaks distribution version 6 and announces 5 as its lowest.
inline constexpr std::uint16_t highest_version = 6;
inline constexpr std::uint16_t lowest_version = 5;

// The largest node name OTP's epmd stores: 255 characters, at most 4 bytes each. Extra data has
// the same byte limit.
inline constexpr std::size_t max_name_chars = 255;
inline constexpr std::size_t max_name_bytes = 255 * 4;
inline constexpr std::size_t max_extra_bytes = 255 * 4;
// The largest valid request body: an ALIVE2_REQ with the longest name and the longest extra.
inline constexpr std::size_t max_request_size = 13 + max_name_bytes + max_extra_bytes;

// One error enum for the whole module: protocol, client and server errors.
enum class errc : std::uint8_t {
    // ---- decoding (both sides) ----
    truncated,            // the bytes end inside a message (more may come, or the peer closed early)
    trailing_data,        // bytes after the end of a complete message
    zero_length,          // a request whose length prefix is 0
    too_large,            // a request whose length prefix is above the limit
    unknown_request,      // a request code we do not serve (including the obsolete pre-R6 ones)
    unexpected_response,  // a response code other than the one the request calls for
    bad_response,         // a response that does not follow its format (a NAMES line, a KILL answer)
    empty_name,           // a node name of zero bytes
    name_has_nul,         // a node name containing a NUL byte
    name_not_utf8,        // a node name that is not valid UTF-8
    name_too_long,        // a node name above 255 characters or 1020 bytes
    extra_too_long,       // extra data above 1020 bytes
    // ---- answers from the port mapper ----
    duplicate_name,  // ALIVE2 refused: the name is registered (OTP: {error, duplicate_name})
    not_found,       // PORT2 result non-zero: no node of that name (OTP: noport)
    not_allowed,     // KILL answered NO, or the port mapper closed on a KILL/STOP without answering
    // ---- I/O ----
    bad_argument,    // a host, address, port or environment variable that cannot be used
    resolve_failed,  // the host name does not resolve
    connect_failed,  // no address of the host accepted a connection
    io_error,        // reading or writing the connection failed
    closed,          // the peer closed the connection before a complete answer
    timeout,         // no complete answer in time
    cancelled,       // the operation was cancelled (its registration was closed first)
    listen_failed,   // the server could not bind or listen
    address_in_use,  // the server's port is taken (typically: another port mapper runs there)
};
std::string_view to_string(errc e) noexcept;

struct error {
    errc code;
    std::string detail;  // what exactly, for people: a field, an offset, a system message
    std::string message() const;
};

enum class node_type : std::uint8_t {
    hidden = 72,  // 'H': C nodes; OTP itself registers 'M' even for -hidden nodes
    normal = 77,  // 'M'
};

// A registration as ALIVE2_REQ sends it and PORT2_RESP returns it.
struct port_info {
    std::uint16_t port = 0;  // the node's distribution listen port
    node_type type = node_type::normal;
    std::uint8_t protocol = 0;  // 0: TCP (OTP uses 0 for IPv4, IPv6 and TLS alike)
    std::uint16_t highest_version = epmd::highest_version;
    std::uint16_t lowest_version = epmd::lowest_version;
    std::string name;   // alive name only (no @host), UTF-8
    std::string extra;  // opaque bytes, returned verbatim by PORT2_RESP
    bool operator==(const port_info&) const = default;
};

// One line of a NAMES response.
struct name_entry {
    std::string name;
    std::uint16_t port = 0;
    bool operator==(const name_entry&) const = default;
};

// ---- requests ----

struct alive2_req {
    port_info node;
    bool operator==(const alive2_req&) const = default;
};
struct port_please2_req {
    std::string name;
    bool operator==(const port_please2_req&) const = default;
};
struct names_req {
    bool operator==(const names_req&) const = default;
};
struct dump_req {
    bool operator==(const dump_req&) const = default;
};
struct kill_req {
    bool operator==(const kill_req&) const = default;
};
struct stop_req {
    std::string name;
    bool operator==(const stop_req&) const = default;
};
using request = std::variant<alive2_req, port_please2_req, names_req, dump_req, kill_req, stop_req>;

// Checks a node name as OTP's epmd does before storing it: not empty, no NUL, valid UTF-8, at most
// 255 characters and 1020 bytes.
result<void, error> check_name(std::string_view name);

// Encodes a request with its 2-byte length prefix. Fails (without encoding anything) when a name
// or the extra data would be refused by the port mapper.
result<bytes, error> encode(const request& req);
result<bytes, error> encode_alive2_req(const port_info& node);
result<bytes, error> encode_port_please2_req(std::string_view name);
bytes encode_names_req();
bytes encode_dump_req();
bytes encode_kill_req();
result<bytes, error> encode_stop_req(std::string_view name);

// Decodes one complete request body (the bytes after the length prefix). Strict: trailing bytes
// are an error, except the one NUL OTP's epmd tolerates after a PORT_PLEASE2_REQ name.
result<request, error> decode_request(byte_span body);

// The server side: reads one request from bytes arriving in chunks of any size.
//
// States:
//   length  -> waiting for (the rest of) the 2-byte length prefix
//   body    -> waiting for (the rest of) the request body
//   done    -> a request was returned; any further byte is an error (OTP's epmd closes a
//              connection, and drops a registration, that sends more than its one request)
//   failed  -> an error was returned; the connection must be closed
class request_parser {
public:
    enum class state : std::uint8_t { length, body, done, failed };

    explicit request_parser(std::size_t max_request = max_request_size) noexcept : max_(max_request) {}

    // Consumes bytes. Returns the request once its last byte arrives, nullopt while more bytes are
    // needed, or an error (the same error again on every later call).
    result<std::optional<request>, error> feed(byte_span data);

    state current() const noexcept { return state_; }
    // The request code once known (0 before the first body byte).
    std::uint8_t request_code() const noexcept { return code_; }
    // After an error: the bytes OTP's epmd still answers before closing, else empty. Only an
    // ALIVE2_REQ that is well framed but whose name or extra epmd will not store (invalid UTF-8,
    // too long) gets an answer: a refusal, so the node reports duplicate_name and not a closed
    // connection.
    byte_span reply_before_close() const noexcept { return {refusal_.data(), refusal_.size()}; }

private:
    std::size_t max_;
    state state_ = state::length;
    std::uint8_t code_ = 0;
    std::uint8_t len_bytes_[2] = {0, 0};
    std::size_t len_got_ = 0;
    std::size_t want_ = 0;
    bytes body_;
    std::optional<error> error_;
    bytes refusal_;
};

// ---- responses ----

// ALIVE2_X_RESP (extended: 32-bit creation) or the old ALIVE2_RESP (16-bit creation).
struct alive2_resp {
    std::uint8_t result = 0;  // 0: registered; anything else: refused
    std::uint32_t creation = 0;
    bool extended = true;  // ALIVE2_X_RESP ('v'); false: ALIVE2_RESP ('y')
    bool operator==(const alive2_resp&) const = default;
};

// PORT2_RESP: node present when result is 0.
struct port2_resp {
    std::uint8_t result = 0;
    std::optional<port_info> node;
    bool operator==(const port2_resp&) const = default;
};

// NAMES_RESP: the port mapper's own port, then one `name N at port P\n` line per node.
struct names_resp {
    std::uint32_t epmd_port = 0;
    std::vector<name_entry> nodes;
    bool operator==(const names_resp&) const = default;
};

// A record of a DUMP response as the real daemon writes it.
struct dump_entry {
    bool active = true;  // false: an unregistered name epmd still remembers
    std::string name;
    std::uint16_t port = 0;
    int fd = -1;
    bool operator==(const dump_entry&) const = default;
};
// DUMP_RESP: the port mapper's own port, then text records, each ending "\n\0".
struct dump_resp {
    std::uint32_t epmd_port = 0;
    std::vector<std::string> records;  // each record's text, without its final NUL
    bool operator==(const dump_resp&) const = default;
};

enum class stop_result : std::uint8_t { stopped, noexist };

// Response encoders (the server side).
bytes encode_alive2_resp(const alive2_resp& r);
bytes encode_port2_resp(const port2_resp& r);
bytes encode_names_resp(std::uint32_t epmd_port, std::span<const name_entry> nodes);
bytes encode_dump_resp(std::uint32_t epmd_port, std::span<const dump_entry> entries);
bytes encode_kill_resp(bool ok);        // "OK" or "NO"
bytes encode_stop_resp(stop_result r);  // "STOPPED" or "NOEXIST"
// The refusal ALIVE2 answer OTP's epmd sends (result 1, creation 99), in the form the requested
// highest version calls for.
bytes encode_alive2_refusal(std::uint16_t requested_highest_version);

// Response decoders (the client side). Each takes everything received so far. errc::truncated
// means the response is not complete yet: read more, or, at end of stream, it is final. A
// response followed by more bytes is errc::trailing_data, except where noted.
result<alive2_resp, error> decode_alive2_resp(byte_span data);
// A not-found answer is the two bytes {119, result}: port2_resp with result != 0 and no node.
result<port2_resp, error> decode_port2_resp(byte_span data);
// Call at end of stream (the list ends when the port mapper closes). Lines that do not read
// `name <name> at port <port>` are an error; the last line must end with '\n'.
result<names_resp, error> decode_names_resp(byte_span data);
// Call at end of stream.
result<dump_resp, error> decode_dump_resp(byte_span data);
// "OK" -> true, "NO" -> false.
result<bool, error> decode_kill_resp(byte_span data);
// The first 7 bytes: OTP 25's epmd sends "NOEXIST" followed by "STOPPED" for an unknown name, so
// bytes after the first answer are ignored.
result<stop_result, error> decode_stop_resp(byte_span data);

// Parses the text of one DUMP record (what decode_dump_resp returns) into its fields.
result<dump_entry, error> parse_dump_record(std::string_view record);

}  // namespace nodus::epmd

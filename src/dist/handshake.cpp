// The distribution handshake state machine (see the header) and the DFLAG helpers.
// Facts from handshake.md and OTP 25's dist_util.erl; the code is our own.
#include "nodus/dist/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>

namespace nodus::dist {

// ---- flags ----

std::string flag_name(std::uint64_t bit) {
    switch (bit) {
        case dflag::published:
            return "PUBLISHED";
        case dflag::atom_cache:
            return "ATOM_CACHE";
        case dflag::extended_references:
            return "EXTENDED_REFERENCES";
        case dflag::dist_monitor:
            return "DIST_MONITOR";
        case dflag::fun_tags:
            return "FUN_TAGS";
        case dflag::dist_monitor_name:
            return "DIST_MONITOR_NAME";
        case dflag::hidden_atom_cache:
            return "HIDDEN_ATOM_CACHE";
        case dflag::new_fun_tags:
            return "NEW_FUN_TAGS";
        case dflag::extended_pids_ports:
            return "EXTENDED_PIDS_PORTS";
        case dflag::export_ptr_tag:
            return "EXPORT_PTR_TAG";
        case dflag::bit_binaries:
            return "BIT_BINARIES";
        case dflag::new_floats:
            return "NEW_FLOATS";
        case dflag::unicode_io:
            return "UNICODE_IO";
        case dflag::dist_hdr_atom_cache:
            return "DIST_HDR_ATOM_CACHE";
        case dflag::small_atom_tags:
            return "SMALL_ATOM_TAGS";
        case dflag::utf8_atoms:
            return "UTF8_ATOMS";
        case dflag::map_tag:
            return "MAP_TAG";
        case dflag::big_creation:
            return "BIG_CREATION";
        case dflag::send_sender:
            return "SEND_SENDER";
        case dflag::big_seqtrace_labels:
            return "BIG_SEQTRACE_LABELS";
        case dflag::exit_payload:
            return "EXIT_PAYLOAD";
        case dflag::fragments:
            return "FRAGMENTS";
        case dflag::handshake_23:
            return "HANDSHAKE_23";
        case dflag::unlink_id:
            return "UNLINK_ID";
        case dflag::mandatory_25_digest:
            return "MANDATORY_25_DIGEST";
        case dflag::spawn:
            return "SPAWN";
        case dflag::name_me:
            return "NAME_ME";
        case dflag::v4_nc:
            return "V4_NC";
        case dflag::alias:
            return "ALIAS";
        default:
            break;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "UNKNOWN<%llX>", static_cast<unsigned long long>(bit));
    return buf;
}

std::vector<std::string> flag_names(std::uint64_t flags) {
    std::vector<std::string> names;
    for (int b = 63; b >= 0; --b) {
        std::uint64_t bit = std::uint64_t{1} << b;
        if (flags & bit) names.push_back(flag_name(bit));
    }
    return names;
}

std::string describe_flags(std::uint64_t flags) {
    std::string s = "[";
    bool first = true;
    for (const std::string& n : flag_names(flags)) {
        if (!first) s += ',';
        first = false;
        s += '"';
        s += n;
        s += '"';
    }
    s += ']';
    return s;
}

// ---- names of enum values ----

std::string_view to_string(handshake_state s) noexcept {
    switch (s) {
        case handshake_state::send_name:
            return "send_name";
        case handshake_state::recv_status:
            return "recv_status";
        case handshake_state::send_status:
            return "send_status";
        case handshake_state::recv_challenge:
            return "recv_challenge";
        case handshake_state::send_challenge_reply:
            return "send_challenge_reply";
        case handshake_state::recv_challenge_ack:
            return "recv_challenge_ack";
        case handshake_state::recv_name:
            return "recv_name";
        case handshake_state::recv_status_reply:
            return "recv_status_reply";
        case handshake_state::send_challenge:
            return "send_challenge";
        case handshake_state::recv_challenge_reply:
            return "recv_challenge_reply";
        case handshake_state::send_challenge_ack:
            return "send_challenge_ack";
        case handshake_state::up:
            return "up";
        case handshake_state::failed:
            return "failed";
    }
    return "unknown";
}

std::string_view to_string(accept_status s) noexcept {
    switch (s) {
        case accept_status::ok:
            return "ok";
        case accept_status::ok_simultaneous:
            return "ok_simultaneous";
        case accept_status::nok:
            return "nok";
        case accept_status::not_allowed:
            return "not_allowed";
        case accept_status::alive:
            return "alive";
    }
    return "unknown";
}

std::string_view to_string(handshake_error e) noexcept {
    switch (e) {
        case handshake_error::bad_tag:
            return "bad_tag";
        case handshake_error::bad_length:
            return "bad_length";
        case handshake_error::trailing_bytes:
            return "trailing_bytes";
        case handshake_error::old_version:
            return "old_version";
        case handshake_error::bad_name:
            return "bad_name";
        case handshake_error::name_me:
            return "name_me";
        case handshake_error::missing_flags:
            return "missing_flags";
        case handshake_error::bad_status:
            return "bad_status";
        case handshake_error::not_allowed:
            return "not_allowed";
        case handshake_error::nok:
            return "nok";
        case handshake_error::alive_false:
            return "alive_false";
        case handshake_error::bad_digest:
            return "bad_digest";
        case handshake_error::name_mismatch:
            return "name_mismatch";
        case handshake_error::unexpected_data:
            return "unexpected_data";
        case handshake_error::timeout:
            return "timeout";
        case handshake_error::atom_table_full:
            return "atom_table_full";
        case handshake_error::closed:
            return "closed";
    }
    return "unknown";
}

// ---- digest and challenge ----

digest gen_digest(std::uint32_t challenge, std::string_view cookie) {
    char decimal[16];
    auto [end, ec] = std::to_chars(decimal, decimal + sizeof decimal, challenge);
    (void)ec;  // ten digits always fit
    digest d{};
    unsigned int len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1 &&
              EVP_DigestUpdate(ctx, cookie.data(), cookie.size()) == 1 &&
              EVP_DigestUpdate(ctx, decimal, static_cast<std::size_t>(end - decimal)) == 1 &&
              EVP_DigestFinal_ex(ctx, d.data(), &len) == 1 && len == d.size();
    EVP_MD_CTX_free(ctx);
    // Only an OpenSSL without MD5 (a FIPS-only build) gets here; no handshake is possible then.
    if (!ok) throw std::runtime_error("MD5 is not available from OpenSSL");
    return d;
}

bool digest_equal(const digest& expected, byte_span other) noexcept {
    if (other.size() != expected.size()) return false;
    return CRYPTO_memcmp(expected.data(), other.data(), expected.size()) == 0;
}

std::uint32_t random_challenge() {
    std::uint8_t b[4];
    if (RAND_bytes(b, sizeof b) == 1) return byte_reader::get32(b);
    // RAND_bytes fails only when it cannot seed; the OS generator (getrandom) is just as good.
    std::random_device rd;
    return static_cast<std::uint32_t>(rd());
}

// ---- helpers ----

namespace {

constexpr std::uint8_t tag_name = 'N';
constexpr std::uint8_t tag_old_name = 'n';
constexpr std::uint8_t tag_status = 's';
constexpr std::uint8_t tag_reply = 'r';
constexpr std::uint8_t tag_ack = 'a';

// 'N' + Flags:64 + Creation:32 + Nlen:16 (send_name), and with Challenge:32 (challenge).
constexpr std::size_t name_header = 1 + 8 + 4 + 2;
constexpr std::size_t challenge_header = 1 + 8 + 4 + 4 + 2;
constexpr std::size_t reply_size = 1 + 4 + 16;
constexpr std::size_t ack_size = 1 + 16;

// Node names travel as Latin-1 bytes (OTP: atom_to_binary(Node, latin1)); our atoms are UTF-8.
std::string latin1_to_utf8(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out.push_back(ch);
        } else {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

std::optional<std::string> utf8_to_latin1(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < in.size()) {
            auto c2 = static_cast<unsigned char>(in[++i]);
            out.push_back(static_cast<char>(((c & 0x03) << 6) | (c2 & 0x3F)));
        } else {
            return std::nullopt;  // a character above U+00FF
        }
    }
    return out;
}

// OTP accepts an incoming name that splits into exactly two non-empty parts around '@'
// (dist_util:is_name_ok). We also refuse control characters, spaces and DEL (no OTP node can
// have them: node names are printable, 0x21..0xFF), so logs and atoms stay sane.
bool valid_peer_name(std::string_view latin1) noexcept {
    if (latin1.empty() || latin1.size() > atom::max_chars) return false;
    std::size_t at = latin1.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == latin1.size()) return false;
    if (latin1.find('@', at + 1) != std::string_view::npos) return false;
    return std::all_of(latin1.begin(), latin1.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c != 0x7F;
    });
}

// Peer-supplied text for a log line: printable ASCII kept, the rest as \xNN, at most 64 bytes.
std::string printable(byte_span b) {
    std::string s;
    std::size_t n = std::min<std::size_t>(b.size(), 64);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t c = b[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            s.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            s += buf;
        }
    }
    if (b.size() > n) s += "...";
    return s;
}

std::string quoted(std::string_view text) {
    // Appended piece by piece: "'" + std::string trips g++ 12's -Wrestrict at -O3.
    std::string s(1, '\'');
    s += printable(as_bytes(text));
    s += '\'';
    return s;
}

}  // namespace

// ---- the state machine ----

handshake handshake::initiator(handshake_config config, atom peer) {
    return handshake(handshake_role::initiator, std::move(config), peer);
}

handshake handshake::acceptor(handshake_config config) {
    return handshake(handshake_role::acceptor, std::move(config), std::nullopt);
}

handshake::handshake(handshake_role role, handshake_config config, std::optional<atom> peer)
    : role_(role),
      config_(std::move(config)),
      state_(role == handshake_role::initiator ? handshake_state::send_name : handshake_state::recv_name),
      peer_(peer) {
    if (!config_.cookie_for) throw std::invalid_argument("handshake_config::cookie_for is required");
    if (!config_.challenge) config_.challenge = random_challenge;
    if (peer_) peer_text_ = peer_->str();
}

void handshake::start() {
    if (role_ != handshake_role::initiator || state_ != handshake_state::send_name) return;
    auto name = utf8_to_latin1(config_.name.name());
    if (!name || !utf8_to_latin1(peer_text_)) {
        fail(handshake_error::bad_name,
             "node names must be Latin-1: " + quoted(config_.name.name()) + " -> " + quoted(peer_text_));
        return;
    }
    byte_writer w(name_header + name->size());
    w.u8(tag_name);
    w.u64(config_.flags);
    w.u32(config_.creation);
    w.u16(static_cast<std::uint16_t>(name->size()));
    w.text(*name);
    send(w.view());
    state_ = handshake_state::recv_status;
    pump();  // bytes fed before start() (a peer that spoke first) are read now
}

void handshake::feed(byte_span data) {
    if (state_ == handshake_state::failed || data.empty()) return;
    in_.insert(in_.end(), data.begin(), data.end());
    if (state_ == handshake_state::up) return;  // all of it is leftover
    pump();
}

void handshake::timeout() {
    if (done()) return;
    fail(handshake_error::timeout, "net_setuptime expired in " + std::string(to_string(state_)));
}

void handshake::closed() {
    if (done()) return;
    std::string why;
    switch (state_) {
        case handshake_state::send_name:
        case handshake_state::recv_status:
            why =
                "before sending a status: it may not accept connections from us (bad name, flags, or a "
                "naming-mode mismatch)";
            break;
        case handshake_state::recv_challenge:
            why = "instead of sending its challenge";
            break;
        case handshake_state::recv_challenge_ack:
            why =
                "after our challenge reply: most likely it has a different cookie for us (it logs \"Invalid "
                "challenge reply\")";
            break;
        case handshake_state::recv_name:
            why = "before sending its name";
            break;
        case handshake_state::recv_status_reply:
            why = "instead of answering our alive status";
            break;
        case handshake_state::recv_challenge_reply:
            why =
                "after our challenge: it did not accept our name or challenge (a name it did not dial? a "
                "flag it lacks?)";
            break;
        default:
            why = "during the handshake";
            break;
    }
    fail(handshake_error::closed, "the peer closed the connection " + why);
}

void handshake::old_connection_closed() {
    if (!awaiting_old_connection()) return;
    wait_old_ = false;
    send_challenge_ack();
}

void handshake::consume_output(std::size_t n) {
    n = std::min(n, out_.size());
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
}

std::vector<std::uint8_t> handshake::take_output() {
    std::vector<std::uint8_t> out;
    out.swap(out_);
    return out;
}

byte_span handshake::leftover() const noexcept {
    if (state_ != handshake_state::up) return {};
    return byte_span(in_).subspan(in_pos_);
}

std::vector<std::uint8_t> handshake::take_leftover() {
    if (state_ != handshake_state::up) return {};
    std::vector<std::uint8_t> rest(in_.begin() + static_cast<std::ptrdiff_t>(in_pos_), in_.end());
    in_.clear();
    in_pos_ = 0;
    return rest;
}

bool handshake::expecting_message() const noexcept {
    switch (state_) {
        case handshake_state::recv_status:
        case handshake_state::recv_challenge:
        case handshake_state::recv_challenge_ack:
        case handshake_state::recv_name:
        case handshake_state::recv_status_reply:
        case handshake_state::recv_challenge_reply:
            return true;
        default:
            return false;
    }
}

void handshake::pump() {
    const std::size_t prefix = static_cast<std::size_t>(config_.framing);
    while (expecting_message()) {
        std::size_t avail = in_.size() - in_pos_;
        if (avail < prefix) break;
        const std::uint8_t* p = in_.data() + in_pos_;
        std::size_t len = prefix == 2 ? byte_reader::get16(p) : byte_reader::get32(p);
        if (len > config_.max_message) {
            fail(handshake_error::bad_length, "handshake message of " + std::to_string(len) +
                                                  " bytes (limit " + std::to_string(config_.max_message) +
                                                  ")");
            return;
        }
        if (avail - prefix < len) break;
        in_pos_ += prefix + len;
        // The message stays valid while on_message runs: in_ only grows in feed().
        on_message(byte_span(p + prefix, len));
    }
    if (state_ == handshake_state::failed || state_ == handshake_state::up) return;
    // Drop the consumed prefix so the buffer holds at most one partial message.
    if (in_pos_ > 0) {
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
        in_pos_ = 0;
    }
    // Waiting for start() or old_connection_closed(), the peer has nothing to send (each of its
    // messages answers one of ours); bound what it can make us hold.
    if (!expecting_message() && in_.size() > prefix + config_.max_message)
        fail(handshake_error::unexpected_data, std::to_string(in_.size()) + " bytes received in " +
                                                   std::string(to_string(state_)) + " before our message");
}

void handshake::on_message(byte_span msg) {
    if (msg.empty()) {
        fail(handshake_error::bad_length, "empty handshake message");
        return;
    }
    switch (state_) {
        case handshake_state::recv_status:
            on_status(msg);
            break;
        case handshake_state::recv_challenge:
            on_challenge(msg);
            break;
        case handshake_state::recv_challenge_ack:
            on_challenge_ack(msg);
            break;
        case handshake_state::recv_name:
            on_name(msg);
            break;
        case handshake_state::recv_status_reply:
            on_status_reply(msg);
            break;
        case handshake_state::recv_challenge_reply:
            on_challenge_reply(msg);
            break;
        default:
            break;
    }
}

// ---- initiator ----

void handshake::on_status(byte_span msg) {
    if (msg[0] != tag_status) {
        fail(handshake_error::bad_tag, "expected status 's', got " + printable(msg.first(1)));
        return;
    }
    std::string_view status = as_chars(msg.subspan(1));
    if (status == "ok" || status == "ok_simultaneous") {
        state_ = handshake_state::recv_challenge;
    } else if (status == "nok") {
        fail(handshake_error::nok, "the peer's own connection attempt to us wins (simultaneous connect)");
    } else if (status == "not_allowed") {
        fail(handshake_error::not_allowed, "the peer does not allow us to connect");
    } else if (status == "alive") {
        // The peer has an up connection to a node of our name: tell it whether that is a previous
        // incarnation of us (true: it drops that connection) or still live (false: we give up).
        state_ = handshake_state::send_status;
        bool gone = config_.answer_alive ? config_.answer_alive(*peer_) : true;
        send_status(gone ? "true" : "false");
        if (gone)
            state_ = handshake_state::recv_challenge;
        else
            fail(handshake_error::alive_false, "we still have a live connection to the peer; answered false");
    } else if (status.starts_with("named:")) {
        fail(handshake_error::bad_status, "'named:' status, but we did not ask for a dynamic name");
    } else {
        fail(handshake_error::bad_status, "unknown status '" + printable(msg.subspan(1)) + "'");
    }
}

void handshake::on_challenge(byte_span msg) {
    if (msg[0] == tag_old_name) {
        fail(handshake_error::old_version, "version-5 'n' challenge (pre-OTP-23 peer): not supported");
        return;
    }
    if (msg[0] != tag_name) {
        fail(handshake_error::bad_tag, "expected challenge 'N', got " + printable(msg.first(1)));
        return;
    }
    byte_reader r(msg.subspan(1));
    std::uint64_t flags = 0;
    std::uint32_t challenge = 0, creation = 0;
    std::uint16_t nlen = 0;
    byte_span name;
    if (!r.u64(flags) || !r.u32(challenge) || !r.u32(creation) || !r.u16(nlen) || !r.bytes(nlen, name)) {
        fail(handshake_error::bad_length, "challenge message of " + std::to_string(msg.size()) + " bytes");
        return;
    }
    // Bytes after the name are ignored, as OTP does (room for future fields).
    auto dialled = utf8_to_latin1(peer_text_);
    if (!dialled || as_chars(name) != *dialled) {
        fail(handshake_error::name_mismatch,
             "the peer presents itself as " + quoted(as_chars(name)) + ", we dialled " + quoted(peer_text_));
        return;
    }
    peer_flags_ = expand_mandatory_25(flags);
    peer_creation_ = creation;
    if (std::uint64_t missing = missing_flags(config_.required_flags, flags)) {
        fail(handshake_error::missing_flags,
             "connection attempt to node " + peer_text_ + " aborted since it cannot handle " +
                 describe_flags(missing),
             missing);
        return;
    }
    state_ = handshake_state::send_challenge_reply;
    cookie_ = config_.cookie_for(peer_text_);
    our_challenge_ = config_.challenge();
    digest d = gen_digest(challenge, cookie_);
    byte_writer w(reply_size);
    w.u8(tag_reply);
    w.u32(our_challenge_);
    w.bytes(d.data(), d.size());
    send(w.view());
    state_ = handshake_state::recv_challenge_ack;
}

void handshake::on_challenge_ack(byte_span msg) {
    if (msg[0] != tag_ack) {
        fail(handshake_error::bad_tag, "expected challenge ack 'a', got " + printable(msg.first(1)));
        return;
    }
    if (msg.size() != ack_size) {
        fail(msg.size() < ack_size ? handshake_error::bad_length : handshake_error::trailing_bytes,
             "challenge ack of " + std::to_string(msg.size()) + " bytes, expected " +
                 std::to_string(ack_size));
        return;
    }
    if (!digest_equal(gen_digest(our_challenge_, cookie_), msg.subspan(1))) {
        fail(handshake_error::bad_digest, "connection attempt to node " + peer_text_ +
                                              " cancelled: invalid challenge ack (cookie mismatch)");
        return;
    }
    go_up();
}

// ---- acceptor ----

void handshake::on_name(byte_span msg) {
    if (msg[0] == tag_old_name) {
        fail(handshake_error::old_version, "version-5 'n' name message (pre-OTP-23 peer): not supported");
        return;
    }
    if (msg[0] != tag_name) {
        fail(handshake_error::bad_tag, "expected name 'N', got " + printable(msg.first(1)));
        return;
    }
    byte_reader r(msg.subspan(1));
    std::uint64_t flags = 0;
    std::uint32_t creation = 0;
    std::uint16_t nlen = 0;
    byte_span name;
    if (!r.u64(flags) || !r.u32(creation) || !r.u16(nlen) || !r.bytes(nlen, name)) {
        fail(handshake_error::bad_length, "name message of " + std::to_string(msg.size()) + " bytes");
        return;
    }
    if (flags & dflag::name_me) {
        // OTP would answer 'named:' with a name it invents; we tell the peer plainly instead.
        send_status("not_allowed");
        fail(handshake_error::name_me,
             "dynamic node names are not supported (peer host " + quoted(as_chars(name)) + ")");
        return;
    }
    if (!valid_peer_name(as_chars(name))) {
        // OTP closes without a status here.
        fail(handshake_error::bad_name, "invalid node name " + quoted(as_chars(name)));
        return;
    }
    peer_text_ = latin1_to_utf8(as_chars(name));
    peer_flags_ = expand_mandatory_25(flags);
    peer_creation_ = creation;
    if (std::uint64_t missing = missing_flags(config_.required_flags, flags)) {
        send_status("not_allowed");
        fail(handshake_error::missing_flags,
             "connection attempt from node " + peer_text_ + " rejected since it cannot handle " +
                 describe_flags(missing),
             missing);
        return;
    }
    state_ = handshake_state::send_status;
    accept_status st = config_.status_for ? config_.status_for(peer_hello{peer_text_, peer_flags_, creation})
                                          : accept_status::ok;
    send_status(to_string(st));
    switch (st) {
        case accept_status::ok:
        case accept_status::ok_simultaneous:
            send_challenge();
            break;
        case accept_status::nok:
            fail(handshake_error::nok,
                 "our own connection attempt to " + peer_text_ + " wins (simultaneous connect)");
            break;
        case accept_status::not_allowed:
            fail(handshake_error::not_allowed, "connection attempt from disallowed node " + peer_text_);
            break;
        case accept_status::alive:
            wait_old_ = true;
            state_ = handshake_state::recv_status_reply;
            break;
    }
}

void handshake::on_status_reply(byte_span msg) {
    if (msg[0] != tag_status) {
        fail(handshake_error::bad_tag, "expected status 's', got " + printable(msg.first(1)));
        return;
    }
    std::string_view answer = as_chars(msg.subspan(1));
    if (answer == "true") {
        send_challenge();
    } else if (answer == "false") {
        fail(handshake_error::alive_false,
             "node " + peer_text_ + " answered false: it is still connected to us");
    } else {
        fail(handshake_error::bad_status, "unknown answer to alive '" + printable(msg.subspan(1)) + "'");
    }
}

void handshake::send_challenge() {
    state_ = handshake_state::send_challenge;
    auto name = utf8_to_latin1(config_.name.name());
    if (!name) {
        fail(handshake_error::bad_name, "our node name is not Latin-1: " + quoted(config_.name.name()));
        return;
    }
    cookie_ = config_.cookie_for(peer_text_);
    our_challenge_ = config_.challenge();
    byte_writer w(challenge_header + name->size());
    w.u8(tag_name);
    w.u64(config_.flags);
    w.u32(our_challenge_);
    w.u32(config_.creation);
    w.u16(static_cast<std::uint16_t>(name->size()));
    w.text(*name);
    send(w.view());
    state_ = handshake_state::recv_challenge_reply;
}

void handshake::on_challenge_reply(byte_span msg) {
    if (msg[0] != tag_reply) {
        fail(handshake_error::bad_tag, "expected challenge reply 'r', got " + printable(msg.first(1)));
        return;
    }
    if (msg.size() != reply_size) {
        fail(msg.size() < reply_size ? handshake_error::bad_length : handshake_error::trailing_bytes,
             "challenge reply of " + std::to_string(msg.size()) + " bytes, expected " +
                 std::to_string(reply_size));
        return;
    }
    if (!digest_equal(gen_digest(our_challenge_, cookie_), msg.subspan(5))) {
        fail(handshake_error::bad_digest, "connection attempt from node " + peer_text_ +
                                              " rejected: invalid challenge reply (cookie mismatch)");
        return;
    }
    peer_challenge_ = byte_reader::get32(msg.data() + 1);
    state_ = handshake_state::send_challenge_ack;
    if (!wait_old_) send_challenge_ack();
}

void handshake::send_challenge_ack() {
    // The peer proved the cookie: only now does its name become an atom (bounded table).
    auto name = atom::make_latin1(*utf8_to_latin1(peer_text_));
    if (!name) {
        fail(handshake_error::atom_table_full, "cannot intern node name " + quoted(peer_text_) + ": " +
                                                   std::string(nodus::to_string(name.error())));
        return;
    }
    peer_ = *name;
    digest d = gen_digest(peer_challenge_, cookie_);
    byte_writer w(ack_size);
    w.u8(tag_ack);
    w.bytes(d.data(), d.size());
    send(w.view());
    go_up();
}

// ---- common ----

void handshake::send(byte_span msg) {
    byte_writer w(4 + msg.size());
    if (config_.framing == handshake_framing::tcp)
        w.u16(static_cast<std::uint16_t>(msg.size()));
    else
        w.u32(static_cast<std::uint32_t>(msg.size()));
    w.bytes(msg);
    out_.insert(out_.end(), w.data(), w.data() + w.size());
}

void handshake::send_status(std::string_view status) {
    byte_writer w(1 + status.size());
    w.u8(tag_status);
    w.text(status);
    send(w.view());
}

void handshake::fail(handshake_error e, std::string detail, std::uint64_t missing) {
    failure_ = handshake_failure{e, state_, std::move(detail), missing};
    state_ = handshake_state::failed;
    in_.clear();
    in_pos_ = 0;
    cookie_.clear();
}

void handshake::go_up() {
    result_ = handshake_result{*peer_, peer_flags_, negotiate(config_.flags, peer_flags_), peer_creation_};
    state_ = handshake_state::up;
    cookie_.clear();
}

}  // namespace nodus::dist

// Golden test of the packet and control codecs against real OTP distribution traffic.
//
// Two erl nodes (tests/golden/dist_golden_nodes.erl) talk through a TCP relay in this test,
// which records every byte both ways: node a connects with -dist_listen false and
// -erl_epmd_port <relay port>, so it dials the relay, and the relay dials b (no epmd involved,
// loopback only). After the handshake (parsed here for the negotiated flags) every packet of
// both directions must decode with packet_reader and decode_control; the messages a sent are
// compared byte for byte with erl's own term_to_binary of them; encode_control must rebuild
// exactly the tuples OTP sent; and the recording must contain what the test is about (atom
// cache headers with cached refs, fragmented messages, the control operations).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/dist/packet.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

namespace {

int loopback_socket(std::uint16_t port, bool listen_on_it) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto* sa = reinterpret_cast<sockaddr*>(&a);
    if (listen_on_it) {
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, sa, sizeof a) != 0 || ::listen(fd, 4) != 0) {
            ::close(fd);
            return -1;
        }
    } else if (::connect(fd, sa, sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

std::uint16_t free_port() {
    int fd = loopback_socket(0, true);
    std::uint16_t p = fd < 0 ? 0 : local_port(fd);
    if (fd >= 0) ::close(fd);
    return p;
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// Accepts one connection on a loopback port, connects it to 127.0.0.1:target and copies bytes
// both ways, keeping a copy of each direction.
class relay {
public:
    explicit relay(std::uint16_t target) : target_(target) {
        listen_fd_ = loopback_socket(0, true);
        if (listen_fd_ >= 0) port_ = local_port(listen_fd_);
        thread_ = std::thread([this] { run(); });
    }
    ~relay() { stop(); }
    relay(const relay&) = delete;
    relay& operator=(const relay&) = delete;

    std::uint16_t port() const { return port_; }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        for (int* fd : {&listen_fd_, &a_fd_, &b_fd_}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }
    bytes a_to_b() {
        std::lock_guard<std::mutex> l(m_);
        return a_to_b_;
    }
    bytes b_to_a() {
        std::lock_guard<std::mutex> l(m_);
        return b_to_a_;
    }
    std::string problem() {
        std::lock_guard<std::mutex> l(m_);
        return problem_;
    }

private:
    void fail(std::string what) {
        std::lock_guard<std::mutex> l(m_);
        problem_ = what + ": " + std::strerror(errno);
    }
    void run() {
        if (listen_fd_ < 0) return fail("listen");
        // b may not listen yet: refuse a's attempts (a retries) until b accepts.
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            a_fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (a_fd_ < 0) return fail("accept");
            b_fd_ = loopback_socket(target_, false);
            if (b_fd_ >= 0) break;
            ::close(a_fd_);
            a_fd_ = -1;
        }
        if (stop_) return;
        bool a_open = true, b_open = true;
        std::uint8_t buf[65536];
        while (!stop_ && (a_open || b_open)) {
            pollfd p[2] = {{a_open ? a_fd_ : -1, POLLIN, 0}, {b_open ? b_fd_ : -1, POLLIN, 0}};
            if (::poll(p, 2, 50) <= 0) continue;
            for (int i = 0; i < 2; ++i) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                int from = i == 0 ? a_fd_ : b_fd_, to = i == 0 ? b_fd_ : a_fd_;
                ssize_t n = ::read(from, buf, sizeof buf);
                if (n <= 0) {
                    (i == 0 ? a_open : b_open) = false;
                    ::shutdown(to, SHUT_WR);
                    continue;
                }
                {
                    std::lock_guard<std::mutex> l(m_);
                    bytes& log = i == 0 ? a_to_b_ : b_to_a_;
                    log.insert(log.end(), buf, buf + n);
                }
                write_all(to, buf, static_cast<std::size_t>(n));
            }
        }
    }

    std::uint16_t target_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1, a_fd_ = -1, b_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex m_;
    bytes a_to_b_, b_to_a_;
    std::string problem_;
};

std::string erl_string_literal(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

std::string load_and_run(const std::string& call) {
    return "case compile:file(" + erl_string_literal(NODUS_DIST_GOLDEN_ERL_SOURCE) +
           ", [binary, return_errors]) of {ok, M, Bin} -> {module, M} = code:load_binary(M, "
           "\"dist_golden_nodes\", "
           "Bin), " +
           call + "; E -> io:format(\"COMPILE_ERROR ~p~n\", [E]), halt(2) end.";
}

bool unhex(std::string_view s, bytes& out) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (s.size() % 2) return false;
    out.resize(s.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

// One direction of the recording: the handshake messages (2-byte lengths) up to and including
// the one with tag last_tag, then packets (4-byte lengths; ticks dropped).
struct direction {
    std::vector<bytes> handshake;
    std::vector<bytes> packets;
    std::size_t ticks = 0;
    std::string error;
};

direction split(const bytes& log, char last_tag) {
    direction d;
    byte_reader r(log);
    while (true) {
        std::uint16_t len;
        byte_span msg;
        if (!r.u16(len) || !r.bytes(len, msg) || len == 0) {
            d.error = "handshake incomplete";
            return d;
        }
        d.handshake.emplace_back(msg.begin(), msg.end());
        if (msg[0] == static_cast<std::uint8_t>(last_tag)) break;
    }
    while (!r.at_end()) {
        std::uint32_t len;
        byte_span p;
        if (!r.u32(len) || !r.bytes(len, p)) {
            d.error = "recording ends inside a packet";
            return d;
        }
        if (len == 0) {
            ++d.ticks;
        } else {
            d.packets.emplace_back(p.begin(), p.end());
        }
    }
    return d;
}

std::uint64_t flags_of(const bytes& n_message) {
    byte_reader r(n_message);
    std::uint8_t tag;
    std::uint64_t f = 0;
    if (!r.u8(tag) || tag != 'N' || !r.u64(f)) return 0;
    return f;
}

// What the packets of one direction contained.
struct decoded_direction {
    std::vector<dist::dist_message> messages;
    std::vector<dist::control_message> controls;
    std::multiset<int> ops;  // opcodes as sent
    std::size_t first_fragments = 0, continuations = 0, headers_with_refs = 0, cached_refs = 0;
};

void decode_all(const std::vector<bytes>& packets, std::uint64_t flags, decoded_direction& out) {
    dist::packet_reader reader(flags);
    for (std::size_t i = 0; i < packets.size(); ++i) {
        const bytes& p = packets[i];
        if (p.size() >= 2 && p[0] == 131 && p[1] == dist::dist_frag_header) ++out.first_fragments;
        if (p.size() >= 2 && p[0] == 131 && p[1] == dist::dist_frag_cont) ++out.continuations;
        std::size_t n_at = p.size() >= 2 && p[1] == dist::dist_frag_header ? 18 : 2;
        if (p.size() > n_at && p[0] == 131 && p[1] != dist::dist_frag_cont && p[n_at] > 0) {
            ++out.headers_with_refs;
            std::size_t n = p[n_at];
            for (std::size_t k = 0; k < n; ++k) {
                if (((p[n_at + 1 + k / 2] >> ((k & 1) * 4)) & 8) == 0) ++out.cached_refs;
            }
        }
        auto m = reader.feed(p);
        ASSERT_TRUE(m.has_value()) << "packet " << i << ": " << m.error().message;
        if (!*m) continue;
        const dist::dist_message& msg = **m;
        auto c = dist::decode_control(msg);
        ASSERT_TRUE(c.has_value()) << "packet " << i << ": " << c.error().message << "\n"
                                   << format_w(msg.control);
        out.ops.insert(static_cast<int>(msg.control[0].small_value()));
        // Our encoder builds exactly the tuple OTP sent.
        dist::dist_message again = dist::encode_control(*c, flags);
        EXPECT_TRUE(again.control == msg.control)
            << "ours " << format_w(again.control) << "\nOTP's " << format_w(msg.control);
        EXPECT_EQ(again.payload.has_value(), msg.payload.has_value()) << format_w(msg.control);
        if (again.payload && msg.payload) {
            EXPECT_TRUE(*again.payload == *msg.payload) << format_w(msg.control);
        }
        out.controls.push_back(*c);
        out.messages.push_back(msg);
    }
    EXPECT_EQ(reader.sequences_in_flight(), 0u);
}

std::string ops_text(const std::multiset<int>& ops) {
    std::string s;
    for (int o : std::set<int>(ops.begin(), ops.end())) {
        s +=
            std::string(dist::to_string(static_cast<dist::op>(o))) + "x" + std::to_string(ops.count(o)) + " ";
    }
    return s;
}

}  // namespace

TEST(dist_golden, decodes_real_otp_traffic_both_ways) {
    NODUS_REQUIRE_ERL(erl);
    const std::string suffix = std::to_string(::getpid());
    const std::string b_node = "nodus_dgb" + suffix + "@127.0.0.1";
    const std::string a_node = "nodus_dga" + suffix + "@127.0.0.1";
    const std::string cookie = "nodus_dist_golden";
    const std::uint16_t b_port = free_port();
    ASSERT_NE(b_port, 0);
    relay rl(b_port);
    ASSERT_NE(rl.port(), 0) << rl.problem();

    test::erl_options ob;
    ob.args = {"-name",          b_node,
               "-setcookie",     cookie,
               "-erl_epmd_port", std::to_string(b_port),
               "-kernel",        "inet_dist_use_interface",
               "{127,0,0,1}"};
    ob.eval = load_and_run("dist_golden_nodes:b()");
    auto b = test::start_erl(erl, ob);
    test::erl_options oa;
    oa.args = {"-name",        a_node, "-setcookie", cookie, "-erl_epmd_port", std::to_string(rl.port()),
               "-dist_listen", "false"};
    oa.eval = load_and_run("dist_golden_nodes:a('" + b_node + "')");
    auto a = test::start_erl(erl, oa);
    // Both start at once (erl takes seconds to start); a retries until b answers.
    std::string b_out;
    while (true) {
        auto line = b->read_line(90s);
        ASSERT_TRUE(line.has_value()) << "b did not start:\n" << b_out << b->stderr_text();
        if (*line == "B READY") break;
        b_out += *line + "\n";
    }
    std::map<std::string, bytes> sent;
    std::string a_out;
    bool done = false;
    while (!done) {
        auto line = a->read_line(90s);
        ASSERT_TRUE(line.has_value()) << "a did not finish:\n" << a_out << a->stderr_text();
        ASSERT_EQ(line->rfind("A FAILED", 0), std::string::npos) << *line << "\n" << a_out;
        if (line->rfind("SENT ", 0) == 0) {
            std::size_t sp = line->find(' ', 5);
            ASSERT_TRUE(unhex(line->substr(sp + 1), sent[line->substr(5, sp - 5)]));
        }
        if (line->rfind("A TOOK", 0) == 0) std::printf("%s\n", line->c_str());
        done = *line == "A DONE";
        a_out += *line + "\n";
    }
    // a halts after its last line; closing the relay then takes the connection down, and b halts
    // when it sees a go.
    auto t0 = std::chrono::steady_clock::now();
    auto a_status = a->wait(30s);
    auto t1 = std::chrono::steady_clock::now();
    rl.stop();
    auto b_status = b->wait(30s);
    auto t2 = std::chrono::steady_clock::now();
    std::printf(
        "a halted after %lld ms, b %lld ms later\n",
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count()),
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t2 - t1).count()));
    EXPECT_TRUE(a_status && a_status->ok()) << (a_status ? a_status->describe() : "a still runs");
    EXPECT_TRUE(b_status && b_status->ok()) << (b_status ? b_status->describe() : "b still runs") << "\n"
                                            << b->read_all(0ms) << b->stderr_text();
    ASSERT_EQ(rl.problem(), "");

    direction ab = split(rl.a_to_b(), 'r');  // send_name, challenge_reply
    direction ba = split(rl.b_to_a(), 'a');  // status, challenge, challenge_ack
    ASSERT_EQ(ab.error, "");
    ASSERT_EQ(ba.error, "");
    ASSERT_EQ(ab.handshake.size(), 2u);
    ASSERT_EQ(ba.handshake.size(), 3u);
    const std::uint64_t flags = dist::negotiate(flags_of(ab.handshake[0]), flags_of(ba.handshake[1]));
    ASSERT_TRUE(flags & dist::dflag::dist_hdr_atom_cache);
    ASSERT_TRUE(flags & dist::dflag::fragments);

    decoded_direction from_a, from_b;
    decode_all(ab.packets, flags, from_a);
    decode_all(ba.packets, flags, from_b);
    std::printf(
        "a->b: %zu packets, %zu messages, %zu fragmented (%zu continuations), %zu headers with refs, %zu "
        "cached refs\n"
        "      %s\n",
        ab.packets.size(), from_a.messages.size(), from_a.first_fragments, from_a.continuations,
        from_a.headers_with_refs, from_a.cached_refs, ops_text(from_a.ops).c_str());
    std::printf(
        "b->a: %zu packets, %zu messages, %zu fragmented (%zu continuations), %zu headers with refs, %zu "
        "cached refs\n"
        "      %s\n",
        ba.packets.size(), from_b.messages.size(), from_b.first_fragments, from_b.continuations,
        from_b.headers_with_refs, from_b.cached_refs, ops_text(from_b.ops).c_str());

    // The atom cache and fragments were exercised both ways.
    EXPECT_GT(from_a.cached_refs, 0u);
    EXPECT_GT(from_b.cached_refs, 0u);
    EXPECT_GE(from_a.first_fragments, 1u);  // the 200 KB message
    EXPECT_GE(from_b.first_fragments, 1u);  // the 100 KB exit reason
    EXPECT_GE(from_a.continuations, 3u);

    using dist::op;
    for (op o : {op::link, op::reg_send, op::group_leader, op::monitor_p, op::demonitor_p, op::send_sender,
                 op::send_sender_tt, op::reg_send_tt, op::payload_exit2, op::spawn_request,
                 op::spawn_request_tt, op::unlink_id}) {
        EXPECT_GT(from_a.ops.count(static_cast<int>(o)), 0u) << "a sent no " << dist::to_string(o);
    }
    for (op o : {op::send_sender, op::send_sender_tt, op::payload_exit, op::payload_monitor_p_exit,
                 op::spawn_reply, op::spawn_reply_tt, op::alias_send, op::alias_send_tt, op::unlink_id_ack}) {
        EXPECT_GT(from_b.ops.count(static_cast<int>(o)), 0u) << "b sent no " << dist::to_string(o);
    }

    // a's messages to sink arrived exactly as erl encodes them.
    ASSERT_EQ(sent.size(), 2u);
    std::set<std::string> matched;
    for (const auto& m : from_a.controls) {
        const auto* rs = std::get_if<dist::reg_send>(&m);
        if (!rs || rs->to_name != atom("sink")) continue;
        bytes mine = etf::encode(rs->message, {2, -1, nullptr});
        for (const auto& [name, erl_bytes] : sent) {
            if (mine == erl_bytes) matched.insert(name);
        }
    }
    EXPECT_EQ(matched, (std::set<std::string>{"big", "small"}));

    // A monitor by name, and the noproc answer naming the atom.
    bool name_monitor = false, name_down = false;
    for (const auto& m : from_a.controls) {
        if (auto* mp = std::get_if<dist::monitor_p>(&m); mp && mp->target.is_atom(atom("no_such_name"))) {
            name_monitor = true;
        }
    }
    for (const auto& m : from_b.controls) {
        if (auto* me = std::get_if<dist::monitor_p_exit>(&m);
            me && me->from.is_atom(atom("no_such_name")) && me->reason.is_atom(atoms::noproc)) {
            name_down = true;
        }
    }
    EXPECT_TRUE(name_monitor);
    EXPECT_TRUE(name_down);
}

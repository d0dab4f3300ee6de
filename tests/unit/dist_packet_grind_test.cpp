// Grind tests of the packet reader. A stream of messages is encoded the way OTP does it, with a
// sending-side atom cache (headers with new and cached entries, slots reused by other atoms) and
// large messages cut into fragments; then
//  - every interleaving of the fragment sequences with each other and with the other packets
//    (the packets themselves unchanged; headers keep their order, as the atom cache requires)
//    delivers the same messages, each when its last packet arrives;
//  - a fragmented message cut at every possible point (two fragments) and every pair of points
//    (three fragments) reassembles to the same terms;
//  - every packet of the stream truncated at every length is an error of the packet reader or
//    of decode_control when the packet completes a message; bytes missing from the middle of a
//    fragmented message are an error when it completes or (rarely, undetectable by any reader)
//    a different message; never a crash.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <cstdio>
#include "nodus/dist/control.hpp"
#include "nodus/dist/flags.hpp"
#include "nodus/dist/packet.hpp"
#include "nodus/etf/etf.hpp"

using namespace nodus;
using namespace nodus::dist;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t flags = otp25_default;

// The sending half of an atom cache, as a test fixture: which atoms a message uses become the
// header's refs; a ref is "old" when the slot already holds that atom on the receiver.
class cache_encoder final : public etf::atom_ref_sink {
public:
    struct encoded {
        bytes header;  // NumberOfAtomCacheRefs, Flags, refs
        bytes body;    // control and payload terms
        std::size_t control_size;
    };

    int ref_for(atom a) override {
        for (std::size_t i = 0; i < refs_.size(); ++i) {
            if (refs_[i] == a) return static_cast<int>(i);
        }
        if (refs_.size() == 255) return -1;
        refs_.push_back(a);
        return static_cast<int>(refs_.size() - 1);
    }

    encoded encode(const term& control, const std::optional<term>& payload) {
        refs_.clear();
        etf::encode_options eo{2, -1, this};
        byte_writer w;
        etf::encode_body(control, w, eo);
        std::size_t control_size = w.size();
        if (payload) etf::encode_body(*payload, w, eo);
        encoded out{{}, w.take(), control_size};
        bytes& h = out.header;
        const std::size_t n = refs_.size();
        h.push_back(static_cast<std::uint8_t>(n));
        if (n == 0) return out;
        bool long_atoms = false;
        for (atom a : refs_)
            long_atoms = long_atoms || a.name().size() > 255;
        std::vector<std::uint8_t> nibbles;
        bytes entries;
        for (atom a : refs_) {
            // Few distinct slots across all segments, so that atoms evict each other.
            std::size_t slot = (a.index() * 7 % 23) * 89 % 2048;
            bool cached = cache_[slot] == a;
            nibbles.push_back(static_cast<std::uint8_t>((cached ? 0 : 8) | (slot >> 8)));
            entries.push_back(static_cast<std::uint8_t>(slot & 0xFF));
            if (!cached) {
                std::string_view name = a.name();
                if (long_atoms) entries.push_back(static_cast<std::uint8_t>(name.size() >> 8));
                entries.push_back(static_cast<std::uint8_t>(name.size() & 0xFF));
                entries.insert(entries.end(), name.begin(), name.end());
                cache_[slot] = a;
            }
        }
        nibbles.push_back(long_atoms ? 1 : 0);
        bytes flag_bytes(n / 2 + 1, 0);
        for (std::size_t i = 0; i < nibbles.size(); ++i) {
            flag_bytes[i / 2] |= static_cast<std::uint8_t>(nibbles[i] << ((i & 1) * 4));
        }
        h.insert(h.end(), flag_bytes.begin(), flag_bytes.end());
        h.insert(h.end(), entries.begin(), entries.end());
        return out;
    }

private:
    std::vector<atom> refs_;
    std::array<std::optional<atom>, 2048> cache_{};
};

struct packet {
    bytes data;
    int message;   // index of the message it belongs to
    bool last;     // completes the message
    int sequence;  // -1: not a continuation; else the message index whose sequence it continues
};

bytes frame(std::uint8_t kind, std::uint64_t seq, std::uint64_t id) {
    byte_writer w;
    w.u8(131);
    w.u8(kind);
    if (kind != dist_header) {
        w.u64(seq);
        w.u64(id);
    }
    return w.take();
}

// Packets of one encoded message: a 131,68 packet, or fragments cut at the given offsets.
std::vector<packet> packets_of(int index, const cache_encoder::encoded& e,
                               const std::vector<std::size_t>& cuts, std::uint64_t seq) {
    std::vector<packet> out;
    if (cuts.empty()) {
        bytes d = frame(dist_header, 0, 0);
        d.insert(d.end(), e.header.begin(), e.header.end());
        d.insert(d.end(), e.body.begin(), e.body.end());
        out.push_back({std::move(d), index, true, -1});
        return out;
    }
    const std::uint64_t count = cuts.size() + 1;
    std::size_t from = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::size_t to = i < cuts.size() ? cuts[i] : e.body.size();
        bytes d = frame(i == 0 ? dist_frag_header : dist_frag_cont, seq, count - i);
        if (i == 0) d.insert(d.end(), e.header.begin(), e.header.end());
        d.insert(d.end(), e.body.begin() + static_cast<std::ptrdiff_t>(from),
                 e.body.begin() + static_cast<std::ptrdiff_t>(to));
        out.push_back({std::move(d), index, i + 1 == count, i == 0 ? -1 : index});
        from = to;
    }
    return out;
}

std::vector<std::size_t> even_cuts(std::size_t size, std::size_t chunk) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = chunk; at < size; at += chunk)
        cuts.push_back(at);
    return cuts;
}

const atom node_a("grind_a@host");
const atom node_b("grind_b@host");
pid pa(std::uint32_t id) {
    return pid::make(node_a, id, 0, 0x11223344);
}
pid pb(std::uint32_t id) {
    return pid::make(node_b, id, 0, 0x55667788);
}

std::vector<dist_message> stream_messages(std::size_t scale) {
    const std::uint32_t words[] = {1, 2, 3};
    const reference alias = reference::make(node_a, 0x11223344, words);
    std::string long_name;
    for (int i = 0; i < 200; ++i)
        long_name += "\xCE\xBB";  // 200 characters, 400 bytes: LongAtoms
    std::vector<term> atoms_list;
    for (const char* s : {"alpha", "beta", "gamma", "delta", "sink", "hello"})
        atoms_list.push_back(atom(s));
    return {
        {tuple(term(22), pa(1), pb(2)), tuple(atom("hello"), atom("world"))},
        {tuple(term(6), pa(3), atom(), atom("sink")),
         tuple(atom("data"), binary(std::string(60 * scale, 'd')), make_list(atoms_list), atom("héllo"))},
        {tuple(term(26), pa(1), pb(4)), tuple(atom("shutdown"), atom(long_name))},
        {tuple(term(33), pa(5), alias),
         tuple(atom("reply"), binary(std::string(40 * scale, 'r')), make_list(atoms_list))},
        {tuple(term(6), pa(3), atom(), atom("sink")), tuple(atom("bye"), pb(2), atom("world"))},
    };
}

// The stream: packets of each message, fragments of messages 1 and 3.
struct stream {
    std::vector<dist_message> messages;
    std::vector<std::vector<packet>> per_message;
};

stream make_stream(std::size_t scale, std::size_t chunk) {
    stream s;
    s.messages = stream_messages(scale);
    cache_encoder enc;
    for (std::size_t i = 0; i < s.messages.size(); ++i) {
        auto e = enc.encode(s.messages[i].control, s.messages[i].payload);
        std::vector<std::size_t> cuts =
            (i == 1 || i == 3) ? even_cuts(e.body.size(), chunk) : std::vector<std::size_t>{};
        s.per_message.push_back(packets_of(static_cast<int>(i), e, cuts, 0x1000 + i));
    }
    return s;
}

// Feeds packets in order; the messages in delivery order as (index, message), or nullopt at
// the first error.
std::optional<std::vector<std::pair<int, dist_message>>> run(const std::vector<const packet*>& order) {
    packet_reader r(flags);
    std::vector<std::pair<int, dist_message>> got;
    for (const packet* p : order) {
        auto m = r.feed(p->data);
        if (!m) return std::nullopt;
        if (*m) got.emplace_back(p->message, std::move(**m));
    }
    return got;
}

// All orders of the packets in which the first packets (normal packets and first fragments)
// keep their order and each sequence's continuations follow its first fragment in order.
void interleavings(const stream& s, std::size_t limit, std::vector<std::vector<const packet*>>& out) {
    std::vector<const packet*> heads;
    std::vector<std::vector<const packet*>> conts(s.per_message.size());
    for (std::size_t i = 0; i < s.per_message.size(); ++i) {
        heads.push_back(&s.per_message[i][0]);
        for (std::size_t j = 1; j < s.per_message[i].size(); ++j)
            conts[i].push_back(&s.per_message[i][j]);
    }
    std::vector<std::size_t> next(conts.size(), 0);
    std::vector<const packet*> cur;
    auto rec = [&](auto& self, std::size_t h) -> void {
        if (out.size() >= limit) return;
        bool done = h == heads.size();
        for (std::size_t i = 0; i < conts.size(); ++i)
            done = done && next[i] == conts[i].size();
        if (done) {
            out.push_back(cur);
            return;
        }
        if (h < heads.size()) {
            cur.push_back(heads[h]);
            self(self, h + 1);
            cur.pop_back();
        }
        for (std::size_t i = 0; i < h && i < conts.size(); ++i) {
            if (next[i] == conts[i].size()) continue;
            cur.push_back(conts[i][next[i]++]);
            self(self, h);
            --next[i];
            cur.pop_back();
        }
    };
    rec(rec, 0);
}

}  // namespace

TEST(dist_packet_grind, the_stream_uses_the_atom_cache) {
    stream s = make_stream(10, 150);
    // Cached refs ("old" entries) do occur: message 4 reuses atoms of message 1.
    const bytes& last = s.per_message[4][0].data;
    ASSERT_GT(last[2], 0);
    bool any_old = false;
    for (std::size_t i = 0; i < last[2]; ++i)
        any_old = any_old || ((last[3 + i / 2] >> ((i & 1) * 4)) & 8) == 0;
    EXPECT_TRUE(any_old);
    EXPECT_GT(s.per_message[1].size(), 2u);
    EXPECT_GT(s.per_message[3].size(), 2u);
    auto got = run([&] {
        std::vector<const packet*> order;
        for (auto& v : s.per_message) {
            for (auto& p : v)
                order.push_back(&p);
        }
        return order;
    }());
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->size(), s.messages.size());
    for (auto& [i, m] : *got)
        EXPECT_TRUE(m == s.messages[static_cast<std::size_t>(i)]) << "message " << i;
}

TEST(dist_packet_grind, every_interleaving_of_the_sequences_delivers_the_same_messages) {
    stream s = make_stream(10, 220);  // messages 1 and 3 in 3 fragments each
    ASSERT_EQ(s.per_message[1].size(), 3u);
    ASSERT_EQ(s.per_message[3].size(), 3u);
    std::vector<std::vector<const packet*>> orders;
    interleavings(s, 100000, orders);
    EXPECT_GT(orders.size(), 50u);
    EXPECT_LT(orders.size(), 100000u);
    for (const auto& order : orders) {
        auto got = run(order);
        ASSERT_TRUE(got.has_value());
        std::vector<int> expected_order;
        for (const packet* p : order) {
            if (p->last) expected_order.push_back(p->message);
        }
        ASSERT_EQ(got->size(), expected_order.size());
        for (std::size_t k = 0; k < got->size(); ++k) {
            ASSERT_EQ((*got)[k].first, expected_order[k]);
            ASSERT_TRUE((*got)[k].second == s.messages[static_cast<std::size_t>(expected_order[k])]);
        }
    }
}

TEST(dist_packet_grind, a_message_cut_anywhere_reassembles_to_the_same_terms) {
    const std::vector<dist_message> messages = stream_messages(4);
    cache_encoder enc;
    const auto e = enc.encode(messages[1].control, messages[1].payload);
    const std::size_t n = e.body.size();
    auto check = [&](const std::vector<std::size_t>& cuts) {
        // A fresh reader per cut, primed like the encoder's cache (empty: first message).
        packet_reader r(flags);
        auto ps = packets_of(1, e, cuts, 42);
        std::optional<dist_message> got;
        for (const packet& p : ps) {
            auto m = r.feed(p.data);
            ASSERT_TRUE(m.has_value()) << m.error().message;
            ASSERT_EQ(m->has_value(), p.last);
            if (*m) got = std::move(**m);
        }
        ASSERT_TRUE(got.has_value());
        ASSERT_TRUE(*got == messages[1]);
    };
    for (std::size_t a = 0; a <= n; ++a)
        check({a});
    for (std::size_t a = 0; a <= n; a += 3) {
        for (std::size_t b = a; b <= n; b += 2)
            check({a, b});
    }
    // Every fragment size.
    for (std::size_t chunk = 1; chunk <= n; chunk += chunk < 40 ? 1 : 17)
        check(even_cuts(n, chunk));
}

TEST(dist_packet_grind, every_truncated_packet_is_an_error) {
    stream s = make_stream(2, 60);
    std::vector<const packet*> order;
    for (auto& v : s.per_message) {
        for (auto& p : v)
            order.push_back(&p);
    }
    std::size_t immediate = 0, at_completion = 0, undetected = 0, cases = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
        for (std::size_t len = 0; len < order[i]->data.size(); ++len) {
            ++cases;
            packet cut = *order[i];
            cut.data.resize(len);
            packet_reader r(flags);
            std::vector<std::pair<int, dist_message>> got;
            bool error = false;
            std::size_t error_at = 0;
            for (std::size_t j = 0; j < order.size() && !error; ++j) {
                auto m = r.feed(j == i ? cut.data : order[j]->data);
                if (!m) {
                    error = true;
                    error_at = j;
                    ASSERT_GE(j, i) << "an intact packet failed";
                    break;
                }
                // A packet cut right after its control term is a valid packet without payload;
                // the control message check rejects it (the operation needs its second term).
                if (*m && !decode_control(**m)) {
                    error = true;
                    error_at = j;
                    break;
                }
                if (*m) got.emplace_back(order[j]->message, std::move(**m));
            }
            bool same = got.size() == s.messages.size();
            for (std::size_t k = 0; same && k < got.size(); ++k) {
                same = got[k].second == s.messages[static_cast<std::size_t>(got[k].first)];
            }
            if (!error) {
                // Bytes missing from a first or middle fragment are not detectable in general:
                // the reassembled bytes may still parse (as in OTP; TCP does not lose bytes). The
                // result must then differ, and no crash may happen.
                ASSERT_FALSE(order[i]->last) << "packet " << i << " cut to " << len << " bytes was accepted";
                ASSERT_FALSE(same) << "packet " << i << " cut to " << len << " bytes gave the same messages";
                ++undetected;
            } else if (error_at == i) {
                ++immediate;
            } else {
                ++at_completion;
            }
        }
    }
    EXPECT_GT(immediate, 0u);
    EXPECT_GT(at_completion, 0u);
    EXPECT_LT(undetected * 20, cases);
    EXPECT_EQ(immediate + at_completion + undetected, cases);
    std::printf("%zu truncations: %zu errors at once, %zu at completion, %zu undetectable\n", cases,
                immediate, at_completion, undetected);
}

// Control messages: every message through encode_control / decode_control for each relevant
// flag combination (and through the packet layer), the exact tuples OTP expects, and the
// rejection of every malformed shape with a message that says what was wrong.
#include "nodus/dist/control.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nodus/dist/flags.hpp"
#include "nodus/dist/packet.hpp"
#include "nodus/etf/etf.hpp"

using namespace nodus;
using namespace nodus::dist;

namespace {

const atom node_a("a@vm");
const atom node_b("b@vm");

pid pid_a(std::uint32_t id = 54) {
    return pid::make(node_a, id, 0, 0x6b01ad9c);
}
pid pid_b(std::uint32_t id = 85) {
    return pid::make(node_b, id, 1, 3);
}
reference ref_a(std::uint32_t w = 7) {
    const std::uint32_t words[] = {w, 0x1234, 0xABCDEF};
    return reference::make(node_a, 0x6b01ad9c, words);
}
term token() {
    return tuple(term(0), term(17), term(3), pid_a().as_term(), term(0));
}

// Every message, with and without a trace token where it has one.
std::vector<control_message> all_messages() {
    term msg = tuple(atom("hello"), pid_a().as_term(), binary("payload"));
    std::vector<control_message> v;
    v.push_back(dist::link{pid_a(), pid_b()});
    for (bool tt : {false, true}) {
        trace_token tok = tt ? trace_token(token()) : std::nullopt;
        v.push_back(dist::send{pid_b(), msg, tok});
        v.push_back(send_sender{pid_a(), pid_b(), msg, tok});
        v.push_back(reg_send{pid_a(), atom("rex"), msg, tok});
        v.push_back(dist::exit{pid_a(), pid_b(), tuple(atom("shutdown"), term(3)), tok});
        v.push_back(exit2{pid_a(), pid_b(), atom("kill"), tok});
        v.push_back(spawn_request{ref_a(), pid_a(), pid_a(9), atom("io_test"), atom("go"),
                                  list({atoms::link, tuple(atom("priority"), atom("high"))}),
                                  list({term(1), binary("two")}), tok});
        v.push_back(spawn_reply{ref_a(), pid_b(), spawn_reply::flag_link | spawn_reply::flag_monitor,
                                pid_a(12).as_term(), tok});
        v.push_back(alias_send{pid_a(), ref_a(99), msg, tok});
    }
    v.push_back(spawn_reply{ref_a(), pid_b(), 0, atoms::badarg, {}});
    v.push_back(group_leader{pid_a(), pid_b()});
    v.push_back(dist::unlink{pid_a(), pid_b()});
    v.push_back(unlink_id{0xFFFFFFFFFFFFFFFFull, pid_a(), pid_b()});
    v.push_back(unlink_id{4, pid_a(), pid_b()});
    v.push_back(unlink_id_ack{4, pid_b(), pid_a()});
    v.push_back(unlink_id_ack{0, pid_b(), pid_a()});
    v.push_back(monitor_p{pid_a(), pid_b().as_term(), ref_a()});
    v.push_back(monitor_p{pid_a(), atom("waiter"), ref_a()});
    v.push_back(demonitor_p{pid_a(), pid_b().as_term(), ref_a()});
    v.push_back(demonitor_p{pid_a(), atom("net_kernel"), ref_a()});
    v.push_back(monitor_p_exit{pid_b().as_term(), pid_a(), ref_a(), atom("bye")});
    v.push_back(monitor_p_exit{atom("waiter"), pid_a(), ref_a(), atoms::noproc});
    v.push_back(spawn_request{ref_a(), pid_a(), pid_a(9), atom("m"), atom("f"), term(), term(), {}});
    return v;
}

// What decode(encode(m, flags)) must give: the form the flags allow.
control_message expected_after(const control_message& m, std::uint64_t flags) {
    if (auto* s = std::get_if<send_sender>(&m); s && !(flags & dflag::send_sender)) {
        return dist::send{s->to, s->message, s->token};
    }
    if (auto* u = std::get_if<unlink_id>(&m); u && !(flags & dflag::unlink_id))
        return dist::unlink{u->from, u->to};
    return m;
}

const std::uint64_t flag_sets[] = {
    0,
    dflag::send_sender,
    dflag::exit_payload,
    dflag::unlink_id,
    dflag::send_sender | dflag::exit_payload | dflag::unlink_id,
    otp25_default,
};

std::string name_of(const control_message& m) {
    return std::string(to_string(opcode(m)));
}

}  // namespace

TEST(dist_control, every_message_round_trips_for_every_flag_set) {
    std::size_t n = 0;
    for (std::uint64_t flags : flag_sets) {
        for (const control_message& m : all_messages()) {
            SCOPED_TRACE(name_of(m) + " flags " + std::to_string(flags));
            dist_message wire = encode_control(m, flags);
            auto back = decode_control(wire);
            ASSERT_TRUE(back.has_value()) << back.error().message;
            EXPECT_TRUE(*back == expected_after(m, flags));
            ++n;
        }
    }
    EXPECT_GT(n, 150u);
}

TEST(dist_control, every_message_round_trips_through_the_packet_layer) {
    for (std::uint64_t flags : {std::uint64_t{0}, otp25_default, otp25_default & ~dflag::dist_hdr_atom_cache,
                                dflag::dist_hdr_atom_cache}) {
        packet_writer writer(flags, 64);  // small fragments: the big messages are fragmented
        packet_reader reader(flags);
        std::uint64_t seq = 1;
        for (const control_message& m : all_messages()) {
            SCOPED_TRACE(name_of(m) + " flags " + std::to_string(flags));
            auto out = writer.encode(encode_control(m, flags), seq++);
            ASSERT_TRUE(out.has_value()) << out.error().message;
            std::optional<dist_message> got;
            for (const outgoing_packet& p : out->packets) {
                std::vector<std::uint8_t> bytes;
                p.append_to(bytes);
                bytes.erase(bytes.begin(), bytes.begin() + 4);
                auto r = reader.feed(bytes);
                ASSERT_TRUE(r.has_value()) << r.error().message;
                ASSERT_FALSE(got.has_value());
                got = std::move(*r);
            }
            ASSERT_TRUE(got.has_value());
            auto back = decode_control(*got);
            ASSERT_TRUE(back.has_value()) << back.error().message;
            EXPECT_TRUE(*back == expected_after(m, flags));
        }
    }
}

TEST(dist_control, encodes_the_tuples_otp_expects) {
    const term P = pid_a().as_term(), F = pid_b().as_term(), R = ref_a().as_term();
    const term empty{atom()};
    const term M = atom("hello_plain");
    auto enc = [](const control_message& m, std::uint64_t flags) { return encode_control(m, flags); };
    auto expect = [](const dist_message& got, const term& control, std::optional<term> payload) {
        EXPECT_TRUE(got.control == control) << "control";
        EXPECT_EQ(got.payload.has_value(), payload.has_value());
        if (got.payload && payload) {
            EXPECT_TRUE(*got.payload == *payload) << "payload";
        }
    };
    // control.md §2.1: observed OTP 25 traffic.
    expect(enc(send_sender{pid_a(), pid_b(), M, {}}, 0), tuple(term(2), empty, F), M);
    expect(enc(send_sender{pid_a(), pid_b(), M, {}}, dflag::send_sender), tuple(term(22), P, F), M);
    expect(enc(dist::send{pid_b(), M, {}}, dflag::send_sender), tuple(term(2), empty, F), M);
    expect(enc(send_sender{pid_a(), pid_b(), M, token()}, 0), tuple(term(12), empty, F, token()), M);
    expect(enc(send_sender{pid_a(), pid_b(), M, token()}, dflag::send_sender), tuple(term(23), P, F, token()),
           M);
    expect(enc(reg_send{pid_a(), atom("some_name"), M, {}}, 0), tuple(term(6), P, empty, atom("some_name")),
           M);
    expect(enc(reg_send{pid_a(), atom("n"), M, token()}, 0), tuple(term(16), P, empty, atom("n"), token()),
           M);
    const term why = atom("some_reason");
    expect(enc(exit2{pid_a(), pid_b(), why, {}}, 0), tuple(term(8), P, F, why), {});
    expect(enc(exit2{pid_a(), pid_b(), why, {}}, dflag::exit_payload), tuple(term(26), P, F), why);
    expect(enc(exit2{pid_a(), pid_b(), why, token()}, 0), tuple(term(18), P, F, token(), why), {});
    expect(enc(exit2{pid_a(), pid_b(), why, token()}, dflag::exit_payload), tuple(term(27), P, F, token()),
           why);
    expect(enc(dist::exit{pid_a(), pid_b(), why, {}}, 0), tuple(term(3), P, F, why), {});
    expect(enc(dist::exit{pid_a(), pid_b(), why, {}}, dflag::exit_payload), tuple(term(24), P, F), why);
    expect(enc(dist::exit{pid_a(), pid_b(), why, token()}, 0), tuple(term(13), P, F, token(), why), {});
    expect(enc(dist::exit{pid_a(), pid_b(), why, token()}, dflag::exit_payload),
           tuple(term(25), P, F, token()), why);
    expect(enc(monitor_p_exit{atom("waiter"), pid_b(), ref_a(), why}, 0),
           tuple(term(21), atom("waiter"), F, R, why), {});
    expect(enc(monitor_p_exit{P, pid_b(), ref_a(), why}, dflag::exit_payload), tuple(term(28), P, F, R), why);
    expect(enc(unlink_id{4, pid_a(), pid_b()}, dflag::unlink_id), tuple(term(35), term(4), P, F), {});
    expect(enc(unlink_id{4, pid_a(), pid_b()}, 0), tuple(term(4), P, F), {});
    expect(enc(unlink_id_ack{4, pid_b(), pid_a()}, dflag::unlink_id), tuple(term(36), term(4), F, P), {});
    expect(enc(dist::link{pid_a(), pid_b()}, 0), tuple(term(1), P, F), {});
    expect(enc(group_leader{pid_a(), pid_b()}, 0), tuple(term(7), P, F), {});
    expect(enc(monitor_p{pid_a(), atom("waiter"), ref_a()}, 0), tuple(term(19), P, atom("waiter"), R), {});
    expect(enc(demonitor_p{pid_a(), F, ref_a()}, 0), tuple(term(20), P, F, R), {});
    const term opts = list({atoms::link, atoms::monitor});
    const term mfa = tuple(atom("mymod"), atom("lnk"), term(0));
    expect(enc(spawn_request{ref_a(), pid_a(), pid_a(9), atom("mymod"), atom("lnk"), opts, term(), {}}, 0),
           tuple(term(29), R, P, pid_a(9).as_term(), mfa, opts), term());
    const term args = list({term(1), term(2)});
    expect(enc(spawn_request{ref_a(), pid_a(), pid_a(9), atom("m"), atom("f"), term(), args, token()}, 0),
           tuple(term(30), R, P, pid_a(9).as_term(), tuple(atom("m"), atom("f"), term(2)), term(), token()),
           args);
    expect(enc(spawn_reply{ref_a(), pid_b(), 3, P, {}}, 0), tuple(term(31), R, F, term(3), P), {});
    expect(enc(spawn_reply{ref_a(), pid_b(), 0, atoms::badarg, token()}, 0),
           tuple(term(32), R, F, term(0), atoms::badarg, token()), {});
    expect(enc(alias_send{pid_a(), ref_a(), M, {}}, 0), tuple(term(33), P, R), M);
    expect(enc(alias_send{pid_a(), ref_a(), M, token()}, 0), tuple(term(34), P, R, token()), M);
}

TEST(dist_control, decodes_every_wire_form) {
    const term P = pid_a().as_term(), F = pid_b().as_term(), R = ref_a().as_term();
    const term empty{atom()};
    const term why = atom("bye");
    auto dec = [](const term& c, std::optional<term> p) {
        auto r = decode_control(c, p ? &*p : nullptr);
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
        return r ? *r : control_message{};
    };
    EXPECT_TRUE(dec(tuple(term(3), P, F, why), {}) == control_message(dist::exit{pid_a(), pid_b(), why, {}}));
    EXPECT_TRUE(dec(tuple(term(13), P, F, token(), why), {}) ==
                control_message(dist::exit{pid_a(), pid_b(), why, token()}));
    EXPECT_TRUE(dec(tuple(term(24), P, F), why) == control_message(dist::exit{pid_a(), pid_b(), why, {}}));
    EXPECT_TRUE(dec(tuple(term(25), P, F, token()), why) ==
                control_message(dist::exit{pid_a(), pid_b(), why, token()}));
    EXPECT_TRUE(dec(tuple(term(8), P, F, why), {}) == control_message(exit2{pid_a(), pid_b(), why, {}}));
    EXPECT_TRUE(dec(tuple(term(18), P, F, token(), why), {}) ==
                control_message(exit2{pid_a(), pid_b(), why, token()}));
    EXPECT_TRUE(dec(tuple(term(26), P, F), why) == control_message(exit2{pid_a(), pid_b(), why, {}}));
    EXPECT_TRUE(dec(tuple(term(27), P, F, token()), why) ==
                control_message(exit2{pid_a(), pid_b(), why, token()}));
    EXPECT_TRUE(dec(tuple(term(21), atom("waiter"), F, R, why), {}) ==
                control_message(monitor_p_exit{atom("waiter"), pid_b(), ref_a(), why}));
    EXPECT_TRUE(dec(tuple(term(28), P, F, R), why) ==
                control_message(monitor_p_exit{P, pid_b(), ref_a(), why}));
    EXPECT_TRUE(dec(tuple(term(2), empty, F), why) == control_message(dist::send{pid_b(), why, {}}));
    EXPECT_TRUE(dec(tuple(term(4), P, F), {}) == control_message(dist::unlink{pid_a(), pid_b()}));
    // The unused slot historically held the cookie: any atom is accepted, as OTP does.
    EXPECT_TRUE(dec(tuple(term(6), P, atom("cookie"), atom("rex")), why) ==
                control_message(reg_send{pid_a(), atom("rex"), why, {}}));
    // A huge Id (bignum) is fine for UNLINK_ID.
    EXPECT_TRUE(dec(tuple(term(35), term(0xFFFFFFFFFFFFFFFFull), P, F), {}) ==
                control_message(unlink_id{0xFFFFFFFFFFFFFFFFull, pid_a(), pid_b()}));
    // The trace token is kept whatever it is.
    EXPECT_TRUE(dec(tuple(term(23), P, F, term()), why) ==
                control_message(send_sender{pid_a(), pid_b(), why, term()}));
    EXPECT_EQ(opcode(dec(tuple(term(26), P, F), why)), op::exit2);
}

TEST(dist_control, rejects_malformed_shapes_with_a_helpful_message) {
    const term P = pid_a().as_term(), F = pid_b().as_term(), R = ref_a().as_term();
    const term empty{atom()};
    const term M = atom("m");
    struct bad_case {
        term control;
        std::optional<term> payload;
        control_errc code;
        std::string says;
    };
    const std::vector<bad_case> cases = {
        {atom("link"), {}, control_errc::not_a_tuple, "got the atom link"},
        {tuple(), {}, control_errc::not_a_tuple, "got a tuple of 0 elements"},
        {tuple(atom("x"), P, F), {}, control_errc::not_a_tuple, "starting with the atom x"},
        {list({term(1), P, F}), {}, control_errc::not_a_tuple, "got a list"},
        {tuple(term(5)), {}, control_errc::unknown_opcode, "5 (NODE_LINK)"},
        {tuple(term(9), P, F), {}, control_errc::unknown_opcode, "code 9"},
        {tuple(term(10), P, F), {}, control_errc::unknown_opcode, "code 10"},
        {tuple(term(11), P, F), {}, control_errc::unknown_opcode, "code 11"},
        {tuple(term(14), P, F), {}, control_errc::unknown_opcode, "code 14"},
        {tuple(term(15), P, F), {}, control_errc::unknown_opcode, "code 15"},
        {tuple(term(17), P, F), {}, control_errc::unknown_opcode, "code 17"},
        {tuple(term(37), term(0), P, F), M, control_errc::unknown_opcode, "37 (ALTACT_SIG_SEND)"},
        {tuple(term(38), P), {}, control_errc::unknown_opcode, "code 38"},
        {tuple(term(0), P), {}, control_errc::unknown_opcode, "code 0"},
        {tuple(term(-1), P), {}, control_errc::unknown_opcode, "code -1"},
        {tuple(term(256 + 1), P, F), {}, control_errc::unknown_opcode, "code 257"},
        {tuple(term(0xFFFFFFFFFFFFFFFFull), P, F), {}, control_errc::unknown_opcode, "bignum"},
        {tuple(term(1), P),
         {},
         control_errc::bad_arity,
         "LINK: the control tuple must have 3 elements, got 2"},
        {tuple(term(1), P, F, F), {}, control_errc::bad_arity, "must have 3 elements, got 4"},
        {tuple(term(22), P, F, F), M, control_errc::bad_arity, "SEND_SENDER"},
        {tuple(term(29), R, P, P, tuple(M, M, term(0))), term(), control_errc::bad_arity, "SPAWN_REQUEST"},
        {tuple(term(1), atom("x"), F),
         {},
         control_errc::bad_field,
         "LINK: element 2 (From) must be a pid, got the atom x"},
        {tuple(term(1), P, R), {}, control_errc::bad_field, "element 3 (To) must be a pid, got a reference"},
        {tuple(term(22), P, atom("name")), M, control_errc::bad_field, "element 3 (To) must be a pid"},
        {tuple(term(2), P, F), M, control_errc::bad_field, "SEND: element 2 (Unused) must be an atom"},
        {tuple(term(6), P, empty, P), M, control_errc::bad_field,
         "REG_SEND: element 4 (ToName) must be an atom"},
        {tuple(term(6), F, term(0), atom("rex")), M, control_errc::bad_field, "element 3 (Unused)"},
        {tuple(term(7), P, atom("x")), {}, control_errc::bad_field, "element 3 (Target) must be a pid"},
        {tuple(term(3), P, F), {}, control_errc::bad_arity, "EXIT: the control tuple must have 4 elements"},
        {tuple(term(24), P, atom("f")), M, control_errc::bad_field, "PAYLOAD_EXIT: element 3 (To)"},
        {tuple(term(19), P, F, P),
         {},
         control_errc::bad_field,
         "MONITOR_P: element 4 (Ref) must be a reference, got a pid"},
        {tuple(term(19), P, term(3), R),
         {},
         control_errc::bad_field,
         "element 3 (Target) must be a pid or an atom"},
        {tuple(term(20), atom("x"), F, R), {}, control_errc::bad_field, "DEMONITOR_P: element 2 (From)"},
        {tuple(term(21), R, F, R, M),
         {},
         control_errc::bad_field,
         "element 2 (From) must be a pid or an atom"},
        {tuple(term(28), P, atom("w"), R), M, control_errc::bad_field,
         "PAYLOAD_MONITOR_P_EXIT: element 3 (To)"},
        {tuple(term(35), term(0), P, F),
         {},
         control_errc::bad_field,
         "UNLINK_ID: element 2 (Id) must be an integer in 1.."},
        {tuple(term(35), term(-1), P, F), {}, control_errc::bad_field, "got the integer -1"},
        {tuple(term(35), atom("x"), P, F), {}, control_errc::bad_field, "element 2 (Id)"},
        {tuple(term(36), term(1.5), P, F),
         {},
         control_errc::bad_field,
         "UNLINK_ID_ACK: element 2 (Id) must be an integer in 0..2^64-1, got a float"},
        {tuple(term(29), P, P, P, tuple(M, M, term(0)), term()), term(), control_errc::bad_field,
         "element 2 (ReqId) must be a reference"},
        {tuple(term(29), R, R, P, tuple(M, M, term(0)), term()), term(), control_errc::bad_field,
         "element 3 (From)"},
        {tuple(term(29), R, P, M, tuple(M, M, term(0)), term()), term(), control_errc::bad_field,
         "element 4 (GroupLeader)"},
        {tuple(term(29), R, P, P, tuple(M, M), term()), term(), control_errc::bad_field,
         "element 5 ({Module, Function, Arity})"},
        {tuple(term(29), R, P, P, tuple(M, term(1), term(0)), term()), term(), control_errc::bad_field,
         "element 5"},
        {tuple(term(29), R, P, P, tuple(M, M, atom("zero")), term()), term(), control_errc::bad_field,
         "element 5"},
        {tuple(term(29), R, P, P, tuple(M, M, term(-1)), term()), term(), control_errc::bad_field,
         "element 5"},
        {tuple(term(29), R, P, P, M, term()), term(), control_errc::bad_field, "got the atom m"},
        {tuple(term(29), R, P, P, tuple(M, M, term(0)), M), term(), control_errc::bad_field,
         "element 6 (OptList) must be a proper list"},
        {tuple(term(29), R, P, P, tuple(M, M, term(0)), cons(M, M)), term(), control_errc::bad_field,
         "element 6 (OptList)"},
        {tuple(term(29), R, P, P, tuple(M, M, term(1)), term()), cons(M, M), control_errc::bad_field,
         "argument list must be a proper list"},
        {tuple(term(29), R, P, P, tuple(M, M, term(2)), term()), list({M}), control_errc::bad_field,
         "argument list has 1 elements but Arity is 2"},
        {tuple(term(29), R, P, P, tuple(M, M, term(0)), term()), M, control_errc::bad_field,
         "argument list must be a proper list, got the atom m"},
        {tuple(term(31), R, F, term(-1), P), {}, control_errc::bad_field, "SPAWN_REPLY: element 4 (Flags)"},
        {tuple(term(31), R, F, term(0), R),
         {},
         control_errc::bad_field,
         "element 5 (Result) must be a pid or an atom"},
        {tuple(term(32), P, F, term(0), P, token()),
         {},
         control_errc::bad_field,
         "SPAWN_REPLY_TT: element 2 (ReqId)"},
        {tuple(term(33), P, P), M, control_errc::bad_field,
         "ALIAS_SEND: element 3 (Alias) must be a reference"},
        {tuple(term(33), R, R), M, control_errc::bad_field, "element 2 (From)"},
        // Second term present exactly when the operation has one.
        {tuple(term(2), empty, F),
         {},
         control_errc::missing_payload,
         "SEND: the second term (Message) is missing"},
        {tuple(term(22), P, F), {}, control_errc::missing_payload, "SEND_SENDER"},
        {tuple(term(6), P, empty, M), {}, control_errc::missing_payload, "REG_SEND"},
        {tuple(term(24), P, F), {}, control_errc::missing_payload, "(Reason) is missing"},
        {tuple(term(28), P, F, R), {}, control_errc::missing_payload, "PAYLOAD_MONITOR_P_EXIT"},
        {tuple(term(29), R, P, P, tuple(M, M, term(0)), term()),
         {},
         control_errc::missing_payload,
         "(ArgList)"},
        {tuple(term(33), P, R), {}, control_errc::missing_payload, "ALIAS_SEND"},
        {tuple(term(1), P, F), M, control_errc::unexpected_payload,
         "LINK: takes no second term, got the atom m"},
        {tuple(term(3), P, F, M), M, control_errc::unexpected_payload, "EXIT"},
        {tuple(term(31), R, F, term(0), P), M, control_errc::unexpected_payload, "SPAWN_REPLY"},
        {tuple(term(35), term(1), P, F), M, control_errc::unexpected_payload, "UNLINK_ID"},
    };
    for (const bad_case& c : cases) {
        auto r = decode_control(c.control, c.payload ? &*c.payload : nullptr);
        ASSERT_FALSE(r.has_value()) << "accepted: " << c.says;
        EXPECT_EQ(r.error().code, c.code) << r.error().message;
        EXPECT_NE(r.error().message.find(c.says), std::string::npos)
            << "message \"" << r.error().message << "\" does not say \"" << c.says << "\"";
    }
}

TEST(dist_control, names_and_payload_table) {
    EXPECT_EQ(to_string(op::payload_monitor_p_exit), "PAYLOAD_MONITOR_P_EXIT");
    EXPECT_EQ(to_string(static_cast<op>(9)), "UNKNOWN");
    int with_payload = 0;
    for (int i = 0; i < 64; ++i)
        with_payload += has_payload(static_cast<op>(i));
    EXPECT_EQ(with_payload, 15);
    EXPECT_EQ(opcode(control_message(alias_send{})), op::alias_send);
}

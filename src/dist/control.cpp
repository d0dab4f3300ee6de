// Control messages: typed structs <-> control tuples. See include/nodus/dist/control.hpp.
#include "nodus/dist/control.hpp"

#include <fmt/format.h>

#include <span>
#include <type_traits>
#include <utility>

#include "nodus/dist/flags.hpp"
#include "nodus/term/text.hpp"

namespace nodus::dist {

std::string_view to_string(op o) noexcept {
    switch (o) {
        case op::link:
            return "LINK";
        case op::send:
            return "SEND";
        case op::exit:
            return "EXIT";
        case op::unlink:
            return "UNLINK";
        case op::node_link:
            return "NODE_LINK";
        case op::reg_send:
            return "REG_SEND";
        case op::group_leader:
            return "GROUP_LEADER";
        case op::exit2:
            return "EXIT2";
        case op::send_tt:
            return "SEND_TT";
        case op::exit_tt:
            return "EXIT_TT";
        case op::reg_send_tt:
            return "REG_SEND_TT";
        case op::exit2_tt:
            return "EXIT2_TT";
        case op::monitor_p:
            return "MONITOR_P";
        case op::demonitor_p:
            return "DEMONITOR_P";
        case op::monitor_p_exit:
            return "MONITOR_P_EXIT";
        case op::send_sender:
            return "SEND_SENDER";
        case op::send_sender_tt:
            return "SEND_SENDER_TT";
        case op::payload_exit:
            return "PAYLOAD_EXIT";
        case op::payload_exit_tt:
            return "PAYLOAD_EXIT_TT";
        case op::payload_exit2:
            return "PAYLOAD_EXIT2";
        case op::payload_exit2_tt:
            return "PAYLOAD_EXIT2_TT";
        case op::payload_monitor_p_exit:
            return "PAYLOAD_MONITOR_P_EXIT";
        case op::spawn_request:
            return "SPAWN_REQUEST";
        case op::spawn_request_tt:
            return "SPAWN_REQUEST_TT";
        case op::spawn_reply:
            return "SPAWN_REPLY";
        case op::spawn_reply_tt:
            return "SPAWN_REPLY_TT";
        case op::alias_send:
            return "ALIAS_SEND";
        case op::alias_send_tt:
            return "ALIAS_SEND_TT";
        case op::unlink_id:
            return "UNLINK_ID";
        case op::unlink_id_ack:
            return "UNLINK_ID_ACK";
        case op::altact_sig_send:
            return "ALTACT_SIG_SEND";
    }
    return "UNKNOWN";
}

bool has_payload(op o) noexcept {
    switch (o) {
        case op::send:
        case op::send_tt:
        case op::reg_send:
        case op::reg_send_tt:
        case op::send_sender:
        case op::send_sender_tt:
        case op::payload_exit:
        case op::payload_exit_tt:
        case op::payload_exit2:
        case op::payload_exit2_tt:
        case op::payload_monitor_p_exit:
        case op::spawn_request:
        case op::spawn_request_tt:
        case op::alias_send:
        case op::alias_send_tt:
            return true;
        default:
            return false;
    }
}

std::string_view to_string(control_errc e) noexcept {
    switch (e) {
        case control_errc::not_a_tuple:
            return "control message is not a tuple with an operation code";
        case control_errc::unknown_opcode:
            return "unknown control message";
        case control_errc::bad_arity:
            return "control tuple of the wrong size";
        case control_errc::bad_field:
            return "control tuple element of the wrong type";
        case control_errc::missing_payload:
            return "control message without its second term";
        case control_errc::unexpected_payload:
            return "control message with an unexpected second term";
    }
    return "?";
}

op opcode(const control_message& m) noexcept {
    return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::opcode; }, m);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Decoding

// A short description of a term for error messages: never the text of a big term.
std::string describe(const term& t) {
    if (t.is_atom()) {
        std::string s = "the atom ";
        print_atom(s, t.as_atom());
        return s;
    }
    if (t.is_small()) return fmt::format("the integer {}", t.small_value());
    if (t.is_nil()) return "[]";
    if (t.is_tuple()) return fmt::format("a tuple of {} elements", t.tuple_size());
    term_type type = t.type();
    std::string_view name = to_string(type);
    bool vowel = name == "integer" || name == "atom";
    return fmt::format("{} {}", vowel ? "an" : "a", name);
}

// Checks the elements of one control tuple; the first problem becomes the error.
class fields {
public:
    fields(op o, std::span<const term> elems) : op_(o), elems_(elems) {}

    std::optional<control_error> error;

    bool pid_at(std::size_t i, const char* name, pid& out) {
        const term& t = elems_[i];
        if (!t.is_pid()) return bad(i, name, "a pid");
        out = t.as_pid();
        return true;
    }
    bool ref_at(std::size_t i, const char* name, reference& out) {
        const term& t = elems_[i];
        if (!t.is_reference()) return bad(i, name, "a reference");
        out = t.as_reference();
        return true;
    }
    bool atom_at(std::size_t i, const char* name, atom& out) {
        const term& t = elems_[i];
        if (!t.is_atom()) return bad(i, name, "an atom");
        out = t.as_atom();
        return true;
    }
    // The historical "Unused" (cookie) slot: OTP writes '' and ignores it; any atom is accepted.
    bool unused_at(std::size_t i) {
        if (!elems_[i].is_atom()) return bad(i, "Unused", "an atom ('')");
        return true;
    }
    bool pid_or_atom_at(std::size_t i, const char* name, term& out) {
        const term& t = elems_[i];
        if (!t.is_pid() && !t.is_atom()) return bad(i, name, "a pid or an atom");
        out = t;
        return true;
    }
    bool u64_at(std::size_t i, const char* name, std::uint64_t& out, bool nonzero) {
        const term& t = elems_[i];
        auto v = t.is_integer() ? t.to_uint64() : std::nullopt;
        if (!v || (nonzero && *v == 0)) {
            return bad(i, name, nonzero ? "an integer in 1..2^64-1" : "an integer in 0..2^64-1");
        }
        out = *v;
        return true;
    }
    bool list_at(std::size_t i, const char* name, term& out) {
        const term& t = elems_[i];
        if (!t.list_length()) return bad(i, name, "a proper list");
        out = t;
        return true;
    }
    void any_at(std::size_t i, term& out) { out = elems_[i]; }
    void token_at(std::size_t i, trace_token& out) { out = elems_[i]; }
    const term& at(std::size_t i) const { return elems_[i]; }

    bool fail(control_errc code, std::string message) {
        error = control_error{code, fmt::format("{}: {}", to_string(op_), message)};
        return false;
    }

private:
    bool bad(std::size_t i, const char* name, const char* expected) {
        return fail(control_errc::bad_field, fmt::format("element {} ({}) must be {}, got {}", i + 1, name,
                                                         expected, describe(elems_[i])));
    }

    op op_;
    std::span<const term> elems_;
};

// Expected tuple size of each accepted operation; 0 for operations we reject.
std::size_t arity_of(op o) noexcept {
    switch (o) {
        case op::link:
            return 3;
        case op::send:
            return 3;
        case op::exit:
            return 4;
        case op::unlink:
            return 3;
        case op::reg_send:
            return 4;
        case op::group_leader:
            return 3;
        case op::exit2:
            return 4;
        case op::send_tt:
            return 4;
        case op::exit_tt:
            return 5;
        case op::reg_send_tt:
            return 5;
        case op::exit2_tt:
            return 5;
        case op::monitor_p:
            return 4;
        case op::demonitor_p:
            return 4;
        case op::monitor_p_exit:
            return 5;
        case op::send_sender:
            return 3;
        case op::send_sender_tt:
            return 4;
        case op::payload_exit:
            return 3;
        case op::payload_exit_tt:
            return 4;
        case op::payload_exit2:
            return 3;
        case op::payload_exit2_tt:
            return 4;
        case op::payload_monitor_p_exit:
            return 4;
        case op::spawn_request:
            return 6;
        case op::spawn_request_tt:
            return 7;
        case op::spawn_reply:
            return 5;
        case op::spawn_reply_tt:
            return 6;
        case op::alias_send:
            return 3;
        case op::alias_send_tt:
            return 4;
        case op::unlink_id:
            return 4;
        case op::unlink_id_ack:
            return 4;
        case op::node_link:
        case op::altact_sig_send:
            return 0;
    }
    return 0;
}

using decoded = result<control_message, control_error>;

template <class Exit>
decoded decode_exit(fields& f, op o, const term* payload) {
    // {Op, From, To, Reason} / {Op, From, To, Token, Reason} / {Op, From, To} + R / {Op, From, To, Token} + R
    Exit m;
    if (!f.pid_at(1, "From", m.from) || !f.pid_at(2, "To", m.to)) return unexpected(*f.error);
    bool tt = o == op::exit_tt || o == op::exit2_tt || o == op::payload_exit_tt || o == op::payload_exit2_tt;
    if (tt) f.token_at(3, m.token);
    if (payload) {
        m.reason = *payload;
    } else {
        f.any_at(tt ? 4 : 3, m.reason);
    }
    return m;
}

decoded decode_checked(fields& f, op o, const term* payload) {
    auto err = [&]() -> decoded { return unexpected(*f.error); };
    switch (o) {
        case op::link: {
            link m;
            if (!f.pid_at(1, "From", m.from) || !f.pid_at(2, "To", m.to)) return err();
            return m;
        }
        case op::unlink: {
            unlink m;
            if (!f.pid_at(1, "From", m.from) || !f.pid_at(2, "To", m.to)) return err();
            return m;
        }
        case op::send:
        case op::send_tt: {
            send m;
            if (!f.unused_at(1) || !f.pid_at(2, "To", m.to)) return err();
            if (o == op::send_tt) f.token_at(3, m.token);
            m.message = *payload;
            return m;
        }
        case op::send_sender:
        case op::send_sender_tt: {
            send_sender m;
            if (!f.pid_at(1, "From", m.from) || !f.pid_at(2, "To", m.to)) return err();
            if (o == op::send_sender_tt) f.token_at(3, m.token);
            m.message = *payload;
            return m;
        }
        case op::reg_send:
        case op::reg_send_tt: {
            reg_send m;
            if (!f.pid_at(1, "From", m.from) || !f.unused_at(2) || !f.atom_at(3, "ToName", m.to_name))
                return err();
            if (o == op::reg_send_tt) f.token_at(4, m.token);
            m.message = *payload;
            return m;
        }
        case op::group_leader: {
            group_leader m;
            if (!f.pid_at(1, "GroupLeader", m.leader) || !f.pid_at(2, "Target", m.target)) return err();
            return m;
        }
        case op::exit:
        case op::exit_tt:
        case op::payload_exit:
        case op::payload_exit_tt:
            return decode_exit<exit>(f, o, payload);
        case op::exit2:
        case op::exit2_tt:
        case op::payload_exit2:
        case op::payload_exit2_tt:
            return decode_exit<exit2>(f, o, payload);
        case op::unlink_id: {
            unlink_id m;
            if (!f.u64_at(1, "Id", m.id, true) || !f.pid_at(2, "From", m.from) || !f.pid_at(3, "To", m.to))
                return err();
            return m;
        }
        case op::unlink_id_ack: {
            unlink_id_ack m;
            if (!f.u64_at(1, "Id", m.id, false) || !f.pid_at(2, "From", m.from) || !f.pid_at(3, "To", m.to)) {
                return err();
            }
            return m;
        }
        case op::monitor_p: {
            monitor_p m;
            if (!f.pid_at(1, "From", m.from) || !f.pid_or_atom_at(2, "Target", m.target) ||
                !f.ref_at(3, "Ref", m.ref)) {
                return err();
            }
            return m;
        }
        case op::demonitor_p: {
            demonitor_p m;
            if (!f.pid_at(1, "From", m.from) || !f.pid_or_atom_at(2, "Target", m.target) ||
                !f.ref_at(3, "Ref", m.ref)) {
                return err();
            }
            return m;
        }
        case op::monitor_p_exit:
        case op::payload_monitor_p_exit: {
            monitor_p_exit m;
            if (!f.pid_or_atom_at(1, "From", m.from) || !f.pid_at(2, "To", m.to) ||
                !f.ref_at(3, "Ref", m.ref)) {
                return err();
            }
            if (payload) {
                m.reason = *payload;
            } else {
                f.any_at(4, m.reason);
            }
            return m;
        }
        case op::spawn_request:
        case op::spawn_request_tt: {
            spawn_request m;
            if (!f.ref_at(1, "ReqId", m.req_id) || !f.pid_at(2, "From", m.from) ||
                !f.pid_at(3, "GroupLeader", m.group_leader)) {
                return err();
            }
            const term& mfa = f.at(4);
            if (!mfa.is_tuple(3) || !mfa[0].is_atom() || !mfa[1].is_atom() || !mfa[2].is_small() ||
                mfa[2].small_value() < 0 || mfa[2].small_value() > 255) {
                f.fail(
                    control_errc::bad_field,
                    fmt::format("element 5 ({{Module, Function, Arity}}) must be a tuple of two atoms and an "
                                "arity in 0..255, got {}",
                                mfa.is_tuple(3) ? "a tuple of other types" : describe(mfa)));
                return err();
            }
            m.module = mfa[0].as_atom();
            m.function = mfa[1].as_atom();
            if (!f.list_at(5, "OptList", m.options)) return err();
            if (o == op::spawn_request_tt) f.token_at(6, m.token);
            auto len = payload->list_length();
            if (!len) {
                f.fail(control_errc::bad_field,
                       fmt::format("the argument list must be a proper list, got {}", describe(*payload)));
                return err();
            }
            if (*len != static_cast<std::size_t>(mfa[2].small_value())) {
                f.fail(control_errc::bad_field,
                       fmt::format("the argument list has {} elements but Arity is {}", *len,
                                   mfa[2].small_value()));
                return err();
            }
            m.args = *payload;
            return m;
        }
        case op::spawn_reply:
        case op::spawn_reply_tt: {
            spawn_reply m;
            if (!f.ref_at(1, "ReqId", m.req_id) || !f.pid_at(2, "To", m.to) ||
                !f.u64_at(3, "Flags", m.flags, false)) {
                return err();
            }
            const term& res = f.at(4);
            if (!res.is_pid() && !res.is_atom()) {
                f.fail(control_errc::bad_field,
                       fmt::format("element 5 (Result) must be a pid or an atom, got {}", describe(res)));
                return err();
            }
            m.result = res;
            if (o == op::spawn_reply_tt) f.token_at(5, m.token);
            return m;
        }
        case op::alias_send:
        case op::alias_send_tt: {
            alias_send m;
            if (!f.pid_at(1, "From", m.from) || !f.ref_at(2, "Alias", m.alias)) return err();
            if (o == op::alias_send_tt) f.token_at(3, m.token);
            m.message = *payload;
            return m;
        }
        case op::node_link:
        case op::altact_sig_send:
            break;
    }
    f.fail(control_errc::unknown_opcode, "not accepted");
    return err();
}

// ---------------------------------------------------------------------------------------------
// Encoding

term small(op o) {
    return term(static_cast<int>(o));
}
const term& empty_atom() {
    static const term t{atom()};
    return t;
}

struct encoder {
    std::uint64_t flags;

    bool has(std::uint64_t f) const { return (flags & f) != 0; }

    dist_message operator()(const link& m) const { return {tuple(small(op::link), m.from, m.to), {}}; }
    dist_message operator()(const unlink& m) const { return {tuple(small(op::unlink), m.from, m.to), {}}; }
    dist_message operator()(const send& m) const {
        if (m.token) return {tuple(small(op::send_tt), empty_atom(), m.to, *m.token), m.message};
        return {tuple(small(op::send), empty_atom(), m.to), m.message};
    }
    dist_message operator()(const send_sender& m) const {
        if (!has(dflag::send_sender)) return (*this)(send{m.to, m.message, m.token});
        if (m.token) return {tuple(small(op::send_sender_tt), m.from, m.to, *m.token), m.message};
        return {tuple(small(op::send_sender), m.from, m.to), m.message};
    }
    dist_message operator()(const reg_send& m) const {
        if (m.token)
            return {tuple(small(op::reg_send_tt), m.from, empty_atom(), m.to_name, *m.token), m.message};
        return {tuple(small(op::reg_send), m.from, empty_atom(), m.to_name), m.message};
    }
    dist_message operator()(const group_leader& m) const {
        return {tuple(small(op::group_leader), m.leader, m.target), {}};
    }
    dist_message exit_like(op plain, op tt, op payload, op payload_tt, const pid& from, const pid& to,
                           const term& reason, const trace_token& token) const {
        if (has(dflag::exit_payload)) {
            if (token) return {tuple(small(payload_tt), from, to, *token), reason};
            return {tuple(small(payload), from, to), reason};
        }
        if (token) return {tuple(small(tt), from, to, *token, reason), {}};
        return {tuple(small(plain), from, to, reason), {}};
    }
    dist_message operator()(const exit& m) const {
        return exit_like(op::exit, op::exit_tt, op::payload_exit, op::payload_exit_tt, m.from, m.to, m.reason,
                         m.token);
    }
    dist_message operator()(const exit2& m) const {
        return exit_like(op::exit2, op::exit2_tt, op::payload_exit2, op::payload_exit2_tt, m.from, m.to,
                         m.reason, m.token);
    }
    dist_message operator()(const unlink_id& m) const {
        if (!has(dflag::unlink_id)) return {tuple(small(op::unlink), m.from, m.to), {}};
        return {tuple(small(op::unlink_id), term(static_cast<unsigned long long>(m.id)), m.from, m.to), {}};
    }
    dist_message operator()(const unlink_id_ack& m) const {
        return {tuple(small(op::unlink_id_ack), term(static_cast<unsigned long long>(m.id)), m.from, m.to),
                {}};
    }
    dist_message operator()(const monitor_p& m) const {
        return {tuple(small(op::monitor_p), m.from, m.target, m.ref), {}};
    }
    dist_message operator()(const demonitor_p& m) const {
        return {tuple(small(op::demonitor_p), m.from, m.target, m.ref), {}};
    }
    dist_message operator()(const monitor_p_exit& m) const {
        if (has(dflag::exit_payload))
            return {tuple(small(op::payload_monitor_p_exit), m.from, m.to, m.ref), m.reason};
        return {tuple(small(op::monitor_p_exit), m.from, m.to, m.ref, m.reason), {}};
    }
    dist_message operator()(const spawn_request& m) const {
        auto arity = m.args.list_length();
        term mfa = tuple(m.module, m.function, term(static_cast<unsigned long long>(arity.value_or(0))));
        if (m.token) {
            return {tuple(small(op::spawn_request_tt), m.req_id, m.from, m.group_leader, mfa, m.options,
                          *m.token),
                    m.args};
        }
        return {tuple(small(op::spawn_request), m.req_id, m.from, m.group_leader, mfa, m.options), m.args};
    }
    dist_message operator()(const spawn_reply& m) const {
        term flags_term(static_cast<unsigned long long>(m.flags));
        if (m.token)
            return {tuple(small(op::spawn_reply_tt), m.req_id, m.to, flags_term, m.result, *m.token), {}};
        return {tuple(small(op::spawn_reply), m.req_id, m.to, flags_term, m.result), {}};
    }
    dist_message operator()(const alias_send& m) const {
        if (m.token) return {tuple(small(op::alias_send_tt), m.from, m.alias, *m.token), m.message};
        return {tuple(small(op::alias_send), m.from, m.alias), m.message};
    }
};

}  // namespace

result<control_message, control_error> decode_control(const term& control, const term* payload) {
    if (!control.is_tuple() || control.tuple_size() == 0 || !control[0].is_integer()) {
        return unexpected(control_error{
            control_errc::not_a_tuple,
            fmt::format("control message must be a tuple starting with an operation code, got {}",
                        control.is_tuple() && control.tuple_size() > 0
                            ? "a tuple starting with " + describe(control[0])
                            : describe(control))});
    }
    auto code = control[0].to_int64();
    bool in_range = code && *code >= 0 && *code <= 255;
    op o = in_range ? static_cast<op>(*code) : op{};
    std::size_t arity = in_range ? arity_of(o) : 0;
    if (arity == 0) {
        std::string name = code ? fmt::format("{}", *code) : std::string("(a bignum)");
        if (in_range && to_string(o) != "UNKNOWN") name += fmt::format(" ({})", to_string(o));
        return unexpected(control_error{control_errc::unknown_opcode,
                                        fmt::format("unknown or unsupported operation code {}", name)});
    }
    if (control.tuple_size() != arity) {
        return unexpected(control_error{control_errc::bad_arity,
                                        fmt::format("{}: the control tuple must have {} elements, got {}",
                                                    to_string(o), arity, control.tuple_size())});
    }
    if (has_payload(o) && !payload) {
        return unexpected(control_error{
            control_errc::missing_payload,
            fmt::format("{}: the second term ({}) is missing", to_string(o),
                        o == op::spawn_request || o == op::spawn_request_tt        ? "ArgList"
                        : o >= op::payload_exit && o <= op::payload_monitor_p_exit ? "Reason"
                                                                                   : "Message")});
    }
    if (!has_payload(o) && payload) {
        return unexpected(
            control_error{control_errc::unexpected_payload,
                          fmt::format("{}: takes no second term, got {}", to_string(o), describe(*payload))});
    }
    fields f(o, control.elements());
    return decode_checked(f, o, payload);
}

dist_message encode_control(const control_message& m, std::uint64_t negotiated_flags) {
    return std::visit(encoder{negotiated_flags}, m);
}

}  // namespace nodus::dist

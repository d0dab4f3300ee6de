// Group leaders and the I/O protocol (nodus/services/io.hpp).
#include "nodus/services/io.hpp"

#include <cstdio>
#include <memory>
#include <mutex>

#include "nodus/io/chardata.hpp"
#include "nodus/io/format.hpp"
#include "nodus/runtime/errors.hpp"
#include "nodus/runtime/exports.hpp"
#include "nodus/runtime/runtime.hpp"

namespace nodus::io {

using namespace nodus::literals;

namespace {

const atom a_user{"user"};
const atom a_standard_io{"standard_io"};
const atom a_standard_error{"standard_error"};
const atom a_requests{"requests"};
const atom a_setopts{"setopts"};
const atom a_getopts{"getopts"};
const atom a_encoding{"encoding"};
const atom a_binary{"binary"};
const atom a_list{"list"};
const atom a_utf8{"utf8"};
const atom a_io_lib{"io_lib"};
const atom a_format{"format"};
const atom a_fwrite{"fwrite"};
const atom a_write{"write"};
const atom a_eof{"eof"};
const atom a_enotsup{"enotsup"};
const atom a_request{"request"};
const atom a_terminated{"terminated"};

struct default_output_state {
    std::mutex mutex;
    output_sink sink;
};

default_output_state& default_output() {
    static default_output_state s;
    return s;
}

[[noreturn]] void badarg() {
    throw error_exception(term(atoms::badarg));
}

// The options an I/O server reports in getopts and accepts in setopts.
struct server_options {
    bool binary = false;
    bool unicode = true;
};

term error_tuple(atom reason) {
    return tuple(atoms::error, reason);
}

// The text of put_chars data in an encoding: unicode chardata, or latin1 (bytes 0..255).
std::optional<std::string> chars_text(const term& enc, const term& chars) {
    if (enc.is_atom(atoms::latin1)) return io_lib::latin1_chardata_to_utf8(chars);
    if (enc.is_atom(atoms::unicode) || enc.is_atom(a_utf8)) return io_lib::chardata_to_utf8(chars);
    return std::nullopt;
}

io_lib::format_options here_options() {
    io_lib::format_options o;
    if (nodus::detail::current_or_null()) o.local_node = self().node();
    return o;
}

// {put_chars, Enc, M, F, A}: the characters M:F(A...) returns. io_lib's writers run here;
// anything else must be an exported function.
task<std::optional<std::string>> mfa_text(term enc, term m, term f, term a) {
    auto args = a.list_elements();
    if (!args || !m.is_atom() || !f.is_atom()) co_return std::nullopt;
    if (m.is_atom(a_io_lib)) {
        if ((f.is_atom(a_format) || f.is_atom(a_fwrite)) && args->size() == 2) {
            auto r = io_lib::format((*args)[0], (*args)[1], here_options());
            if (!r) co_return std::nullopt;
            co_return std::move(*r);
        }
        if (f.is_atom(a_write) && (args->size() == 1 || args->size() == 2)) {
            // io_lib:write(Term) is ~w, io_lib:write(Term, Depth) ~W.
            auto r = args->size() == 1 ? io_lib::format("~w", {(*args)[0]}, here_options())
                                       : io_lib::format("~W", {(*args)[0], (*args)[1]}, here_options());
            if (!r) co_return std::nullopt;
            co_return std::move(*r);
        }
    }
    auto fn = exports().find(m.as_atom(), f.as_atom(), static_cast<unsigned>(args->size()));
    if (!fn) co_return std::nullopt;
    term chars;
    try {
        chars = co_await (*fn)(std::move(*args));
    } catch (const erlang_exception&) {
        co_return std::nullopt;
    }
    co_return chars_text(enc, chars);
}

bool setopt(server_options& o, const term& opt) {
    if (opt.is_atom(a_binary) || opt.is_atom(a_list)) {
        o.binary = opt.is_atom(a_binary);
        return true;
    }
    if (opt.is_atom(atoms::unicode) || opt.is_atom(atoms::latin1)) {
        o.unicode = opt.is_atom(atoms::unicode);
        return true;
    }
    if (opt.is_tuple(2) && opt[0].is_atom(a_binary) && opt[1].is_bool()) {
        o.binary = opt[1].is_atom(atoms::true_);
        return true;
    }
    if (opt.is_tuple(2) && opt[0].is_atom(a_encoding) &&
        (opt[1].is_atom(atoms::unicode) || opt[1].is_atom(a_utf8) || opt[1].is_atom(atoms::latin1))) {
        o.unicode = !opt[1].is_atom(atoms::latin1);
        return true;
    }
    return false;
}

task<term> reply_to(term req, const output_sink& sink, server_options& opts) {
    const std::size_t n = req.is_tuple() ? req.tuple_size() : 0;
    const term tag = n > 0 ? req[0] : req;
    if (tag.is_atom(atoms::put_chars) && (n == 2 || n == 3 || n == 4 || n == 5)) {
        // Without an encoding (pre-R13 clients) the data is latin1.
        term enc = (n == 3 || n == 5) ? req[1] : term(atoms::latin1);
        std::optional<std::string> text;
        if (n == 2 || n == 3)
            text = chars_text(enc, req[n - 1]);
        else
            text = co_await mfa_text(enc, req[n - 3], req[n - 2], req[n - 1]);
        if (!text) co_return error_tuple(atoms::put_chars);
        sink(*text);
        co_return term(atoms::ok);
    }
    if (tag.is_atom(a_requests) && n == 2) {
        if (!req[1].is_list()) co_return error_tuple(a_request);
        term last = atoms::ok;
        for (const term* l = &req[1]; l->is_cons(); l = &l->tail()) {
            last = co_await reply_to(l->head(), sink, opts);
            if (last.is_tuple(2) && last[0].is_atom(atoms::error)) break;
        }
        co_return last;
    }
    if (req.is_atom(a_getopts))
        co_return list(
            {tuple(a_binary, opts.binary), tuple(a_encoding, opts.unicode ? atoms::unicode : atoms::latin1)});
    if (tag.is_atom(a_setopts) && n == 2) {
        server_options next = opts;
        if (!req[1].is_list()) co_return error_tuple(a_enotsup);
        for (const term* l = &req[1]; l->is_cons(); l = &l->tail())
            if (!setopt(next, l->head())) co_return error_tuple(a_enotsup);
        opts = next;
        co_return term(atoms::ok);
    }
    if (tag.is_atom()) {
        std::string_view name = tag.as_atom().name();
        // No input: reads are at end of file; what is not a read has nothing to answer.
        if (name == "get_chars" || name == "get_line" || name == "get_until") co_return term(a_eof);
        if (name == "get_password" || name == "get_geometry") co_return error_tuple(a_enotsup);
    }
    co_return error_tuple(a_request);
}

// The pid an io request for device goes to; nullopt: write here (no server to ask).
std::optional<term> server_of(const term& device) {
    if (device.is_pid()) return device;
    if (!device.is_atom()) badarg();
    if (device.is_atom(a_standard_io)) {
        pid gl = group_leader();
        if (gl == self()) return std::nullopt;  // its own leader, no `user` on this node
        return gl.as_term();
    }
    auto p = whereis(device.as_atom());
    if (!p) {
        if (device.is_atom(a_user)) return std::nullopt;  // a runtime without `user`
        badarg();                                         // io: {error, arguments}
    }
    if (*p == self()) return std::nullopt;
    return p->as_term();
}

}  // namespace

void set_default_output(output_sink sink) {
    auto& d = default_output();
    std::lock_guard l(d.mutex);
    d.sink = std::move(sink);
}

void write_default(std::string_view text) {
    auto& d = default_output();
    std::lock_guard l(d.mutex);
    if (d.sink) {
        d.sink(text);
        return;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

result<std::string, term> format_text(const term& fmt, const term& args) {
    auto r = io_lib::format(fmt, args, here_options());
    if (!r) return unexpected(term(atoms::badarg));
    return std::move(*r);
}

task<> put_chars(term device, std::string text) {
    if (device.is_atom(a_standard_error)) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        co_return;
    }
    auto server = server_of(device);
    if (!server) {
        write_default(text);
        co_return;
    }
    reference mref = monitor(*server);
    term ref = mref.as_term();
    send(*server,
         tuple(atoms::io_request, self_term(), ref, tuple(atoms::put_chars, atoms::unicode, binary(text))));
    auto is_reply = [ref](const term& t) {
        return (t.is_tuple(3) && t[0].is_atom(atoms::io_reply) && t[1] == ref) ||
               (t.is_tuple(5) && t[0].is_atom(atoms::DOWN) && t[1] == ref);
    };
    auto r = co_await receive(is_reply);
    if (r->is_tuple(5)) throw error_exception(term(a_terminated));
    demonitor(mref, true);
    // io's conv_reason: any error the device reports is badarg to the caller.
    if (!(*r)[2].is_atom(atoms::ok)) badarg();
}

task<> format(term device, term fmt, term args) {
    auto text = format_text(fmt, args);
    if (!text) badarg();
    co_await put_chars(std::move(device), std::move(*text));
}

task<term> request_reply(term request, const output_sink& sink) {
    server_options opts;
    co_return co_await reply_to(std::move(request), sink, opts);
}

task<> serve(output_sink sink) {
    server_options opts;
    for (;;) {
        auto r = co_await receive();
        const term& m = *r;
        if (!(m.is_tuple(4) && m[0].is_atom(atoms::io_request))) continue;
        term reply;
        try {
            reply = co_await reply_to(m[3], sink, opts);
        } catch (const std::exception&) {
            reply = error_tuple(a_request);
        }
        if (m[1].is_pid()) send(m[1], tuple(atoms::io_reply, m[2], reply));
    }
}

pid start_output_leader(runtime& rt, output_sink sink) {
    return rt.spawn(serve, std::move(sink));
}

pid start_output_leader(output_sink sink) {
    return nodus::spawn(serve, std::move(sink));
}

pid start_user(runtime& rt) {
    if (auto existing = rt.whereis(a_user)) return *existing;
    pid p = rt.spawn(serve, output_sink([](std::string_view text) { write_default(text); }));
    if (!rt.register_name(a_user, p)) {
        // Another start won the race: keep that one.
        rt.exit(p, term(atoms::kill));
        if (auto existing = rt.whereis(a_user)) return *existing;
    }
    return p;
}

}  // namespace nodus::io

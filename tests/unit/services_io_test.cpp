#include "nodus/services/io.hpp"  // first: the public header is self-contained

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "captured_output.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/services/services.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace std::chrono_literals;

namespace {

using captured = nodus::test::captured_output;

// Sends one io_request to server and returns the reply (or fails the test).
term request(scoped_process& me, const pid& server, term req) {
    term ref = me.self().as_term();  // any term may be ReplyAs
    ref = tuple("ref"_a, ref);
    me.send(server, tuple(atoms::io_request, me.self(), ref, std::move(req)));
    auto r = me.receive_if(
        [&](const term& t) { return t.is_tuple(3) && t[0].is_atom(atoms::io_reply) && t[1] == ref; }, 5s);
    EXPECT_TRUE(r.has_value()) << "no io_reply";
    return r ? (*r)[2] : term();
}

term error_of(const char* reason) {
    return tuple(atoms::error, atom(reason));
}

// Calls an exported function in a new process and returns its value or {'EXIT', Class, Reason}.
term call(runtime& rt, atom m, atom f, std::vector<term> args, pid leader = pid()) {
    scoped_process me(rt);
    pid back = me.self();
    auto fn = rt.exports().find(m, f, static_cast<unsigned>(args.size()));
    EXPECT_TRUE(fn) << m.name() << ":" << f.name() << "/" << args.size() << " is not exported";
    if (!fn) return term();
    rt.spawn([back, fn, args, leader]() -> task<> {
        if (leader.valid()) group_leader(leader, self());
        term r;
        try {
            r = co_await (*fn)(args);
        } catch (const erlang_exception& e) {
            r = tuple("EXIT"_a, e.reason());
        }
        send(back, r);
    });
    auto r = me.receive(5s);
    EXPECT_TRUE(r.has_value());
    return r ? *r : term();
}

}  // namespace

TEST(services_io, serves_put_chars_in_every_form_otp_sends) {
    runtime rt;
    captured out;
    pid server = io::start_output_leader(rt, out.sink());
    scoped_process me(rt);
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::unicode, binary("héllo\n"))),
              term(atoms::ok));
    EXPECT_EQ(out.take(), "héllo\n");
    // unicode chardata as a deep list with a binary tail
    term deep = cons(term(0x3bb), cons(list({term(97)}), binary("!")));
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::unicode, deep)), term(atoms::ok));
    EXPECT_EQ(out.take(), "λa!");
    // latin1: bytes are Latin-1 characters
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::latin1, binary("\xe9"))), term(atoms::ok));
    EXPECT_EQ(out.take(), "é");
    // {put_chars, Chars}: pre-R13 clients, latin1
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, string("old"))), term(atoms::ok));
    EXPECT_EQ(out.take(), "old");
    // what io:format sends from an Erlang node
    term fmt = tuple(atoms::put_chars, atoms::unicode, "io_lib"_a, "format"_a,
                     list({string("hello ~p ~s~n"), list({term(42), string("abc")})}));
    EXPECT_EQ(request(me, server, fmt), term(atoms::ok));
    EXPECT_EQ(out.take(), "hello 42 abc\n");
    // io:write
    EXPECT_EQ(
        request(me, server,
                tuple(atoms::put_chars, atoms::unicode, "io_lib"_a, "write"_a, list({tuple("a"_a, 1)}))),
        term(atoms::ok));
    EXPECT_EQ(out.take(), "{a,1}");
    // {put_chars, M, F, A} (latin1, no encoding)
    EXPECT_EQ(request(me, server,
                      tuple(atoms::put_chars, "io_lib"_a, "format"_a, list({string("~w"), list({term(7)})}))),
              term(atoms::ok));
    EXPECT_EQ(out.take(), "7");
    // an exported function producing the characters
    rt.exports().add("m"_a, "text"_a, 1, [](std::vector<term> a) -> task<term> {
        co_return list({a[0], term(10)});
    });
    EXPECT_EQ(
        request(me, server, tuple(atoms::put_chars, atoms::unicode, "m"_a, "text"_a, list({binary("x")}))),
        term(atoms::ok));
    EXPECT_EQ(out.take(), "x\n");
    // errors: not chardata, a bad format, a function that does not exist
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::unicode, "atom"_a)), error_of("put_chars"));
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::unicode, list({term(-1)}))),
              error_of("put_chars"));
    EXPECT_EQ(request(me, server,
                      tuple(atoms::put_chars, atoms::unicode, "io_lib"_a, "format"_a,
                            list({string("~p"), term()}))),
              error_of("put_chars"));
    EXPECT_EQ(request(me, server, tuple(atoms::put_chars, atoms::unicode, "no"_a, "such"_a, term())),
              error_of("put_chars"));
    EXPECT_EQ(out.take(), "");
    rt.exit(server, term(atoms::kill));
}

TEST(services_io, answers_requests_options_and_input_as_documented) {
    runtime rt;
    captured out;
    pid server = io::start_output_leader(rt, out.sink());
    scoped_process me(rt);
    // {requests, [...]}: in order, the last reply; stops at the first error
    term reqs = list({tuple(atoms::put_chars, atoms::unicode, binary("a")),
                      tuple(atoms::put_chars, atoms::unicode, binary("b"))});
    EXPECT_EQ(request(me, server, tuple("requests"_a, reqs)), term(atoms::ok));
    EXPECT_EQ(out.take(), "ab");
    term bad = list({tuple(atoms::put_chars, atoms::unicode, binary("c")),
                     tuple(atoms::put_chars, atoms::unicode, "x"_a),
                     tuple(atoms::put_chars, atoms::unicode, binary("d"))});
    EXPECT_EQ(request(me, server, tuple("requests"_a, bad)), error_of("put_chars"));
    EXPECT_EQ(out.take(), "c");
    // getopts / setopts
    EXPECT_EQ(request(me, server, "getopts"_a),
              list({tuple("binary"_a, false), tuple("encoding"_a, atoms::unicode)}));
    EXPECT_EQ(request(me, server, tuple("setopts"_a, list({"binary"_a, tuple("encoding"_a, atoms::latin1)}))),
              term(atoms::ok));
    EXPECT_EQ(request(me, server, "getopts"_a),
              list({tuple("binary"_a, true), tuple("encoding"_a, atoms::latin1)}));
    EXPECT_EQ(request(me, server, tuple("setopts"_a, list({tuple("echo"_a, true)}))), error_of("enotsup"));
    // input: there is none
    EXPECT_EQ(request(me, server, tuple("get_line"_a, atoms::unicode, string("> "))), term("eof"_a));
    EXPECT_EQ(request(me, server, tuple("get_chars"_a, atoms::unicode, string(""), term(3))), term("eof"_a));
    EXPECT_EQ(
        request(me, server,
                tuple("get_until"_a, atoms::unicode, string(""), "erl_scan"_a, "tokens"_a, list({term(1)}))),
        term("eof"_a));
    EXPECT_EQ(request(me, server, tuple("get_line"_a, string("> "))), term("eof"_a));
    EXPECT_EQ(request(me, server, tuple("get_password"_a, atoms::unicode)), error_of("enotsup"));
    EXPECT_EQ(request(me, server, tuple("get_geometry"_a, "columns"_a)), error_of("enotsup"));
    EXPECT_EQ(request(me, server, tuple("frobnicate"_a)), error_of("request"));
    EXPECT_EQ(request(me, server, term(42)), error_of("request"));
    rt.exit(server, term(atoms::kill));
}

TEST(services_io, io_functions_write_to_the_group_leader) {
    runtime rt;
    services::register_default_exports(rt.exports());
    captured out;
    pid leader = io::start_output_leader(rt, out.sink());
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {string("x=~p~n"), list({term(1)})}, leader), term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {string("plain~n")}, leader), term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "put_chars"_a, {list({binary("bin "), string("λ")})}, leader),
              term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "nl"_a, {}, leader), term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "write"_a, {list({term(1), term(2)})}, leader), term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {term(leader), string("~s~n"), list({string("to a pid")})}),
              term(atoms::ok));
    EXPECT_EQ(out.take(), "x=1\nplain\nbin λ\n[1,2]to a pid\n");
    // Erlang's errors: a bad format, a device that does not exist
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {string("~p")}, leader), tuple("EXIT"_a, atoms::badarg));
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {"nobody"_a, string("x"), term()}, leader),
              tuple("EXIT"_a, atoms::badarg));
    EXPECT_EQ(call(rt, "io"_a, "put_chars"_a, {"bad"_a}, leader), tuple("EXIT"_a, atoms::badarg));
    // a leader that is gone: terminated
    rt.exit(leader, term(atoms::kill));
    for (int i = 0; i < 500 && rt.is_process_alive(leader); ++i)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {string("lost~n")}, leader), tuple("EXIT"_a, "terminated"_a));
}

TEST(services_io, processes_without_a_group_leader_use_user) {
    runtime rt;
    services::register_default_exports(rt.exports());
    captured out;
    io::set_default_output(out.sink());
    pid user = io::start_user(rt);
    EXPECT_EQ(rt.whereis("user"_a), user);
    EXPECT_EQ(io::start_user(rt), user);  // started once
    // group_leader() of a process that has none is user
    scoped_process me(rt);
    pid back = me.self();
    rt.spawn([back]() -> task<> {
        send(back, group_leader().as_term());
        co_return;
    });
    EXPECT_EQ(me.receive(5s), term(user));
    EXPECT_EQ(call(rt, "io"_a, "format"_a, {string("via user ~p~n"), list({term(1)})}), term(atoms::ok));
    EXPECT_EQ(call(rt, "io"_a, "put_chars"_a, {"user"_a, string("named\n")}), term(atoms::ok));
    EXPECT_EQ(out.take(), "via user 1\nnamed\n");
    io::set_default_output({});
    rt.exit(user, term(atoms::kill));
}

TEST(services_io, default_exports_answer_as_erlang) {
    runtime rt;
    services::register_default_exports(rt.exports());
    EXPECT_EQ(call(rt, "erlang"_a, "node"_a, {}), term(atoms::nonode_nohost));
    EXPECT_EQ(call(rt, "erlang"_a, "nodes"_a, {}), term());
    EXPECT_EQ(call(rt, "erlang"_a, "nodes"_a, {list({"this"_a, "visible"_a})}),
              list({term(atoms::nonode_nohost)}));
    EXPECT_EQ(call(rt, "erlang"_a, "is_alive"_a, {}), term(false));
    EXPECT_EQ(call(rt, "erlang"_a, "whereis"_a, {"nobody"_a}), term(atoms::undefined));
    EXPECT_EQ(call(rt, "erlang"_a, "whereis"_a, {term(1)}), tuple("EXIT"_a, atoms::badarg));
    EXPECT_TRUE(call(rt, "erlang"_a, "registered"_a, {}).is_list());
    term t = call(rt, "erlang"_a, "system_time"_a, {"second"_a});
    ASSERT_TRUE(t.to_int64());
    EXPECT_GT(*t.to_int64(), 1600000000);
    EXPECT_EQ(call(rt, "erlang"_a, "system_time"_a, {"fortnight"_a}), tuple("EXIT"_a, atoms::badarg));
    EXPECT_EQ(call(rt, "timer"_a, "sleep"_a, {term(1)}), term(atoms::ok));
    EXPECT_EQ(call(rt, "io_lib"_a, "format"_a, {string("~w"), list({term(5)})}), string("5"));
    EXPECT_TRUE(call(rt, "os"_a, "getpid"_a, {}).is_list());
    // a program's own export is kept
    rt.exports().add("erlang"_a, "is_alive"_a, 0,
                     [](std::vector<term>) -> task<term> { co_return term("mine"_a); });
    services::register_default_exports(rt.exports());
    EXPECT_EQ(call(rt, "erlang"_a, "is_alive"_a, {}), term("mine"_a));
}

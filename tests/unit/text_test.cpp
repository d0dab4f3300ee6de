// Unit tests of the text syntax: printing (~tw, one-line ~tp), parse_term, the tokenizer, and
// round trips. Expected texts were checked against erl (OTP 25); the golden tests compare with
// erl directly on thousands more terms.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nodus/term/scan.hpp"
#include "nodus/term/text.hpp"
#include "term_gen.hpp"

using namespace nodus;
using namespace nodus::literals;

namespace {

term parse_ok(std::string_view text) {
    auto r = parse_term(text);
    EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error().describe());
    return r ? *r : term(atom("parse_failed"));
}

parse_error parse_fail(std::string_view text, const parse_options& o = {}) {
    auto r = parse_term(text, o);
    EXPECT_FALSE(r.has_value()) << text << " parsed as " << (r ? format_w(*r) : "");
    return r ? parse_error{} : r.error();
}

std::string fw(std::string_view text) {
    return format_w(parse_ok(text));
}
std::string fp(std::string_view text) {
    return format_p(parse_ok(text));
}

std::string float_text(double d) {
    std::string s;
    print_float(s, d);
    return s;
}

std::string atom_text(std::string_view name) {
    std::string s;
    print_atom(s, atom(name));
    return s;
}

term deep_list(std::size_t depth) {
    term t;
    for (std::size_t i = 0; i < depth; ++i)
        t = cons(std::move(t), term());
    return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Printing

TEST(text_print, integers) {
    EXPECT_EQ(format_w(term(0)), "0");
    EXPECT_EQ(format_w(term(-42)), "-42");
    EXPECT_EQ(format_w(term(detail::small_max)), "1152921504606846975");
    EXPECT_EQ(format_w(term(detail::small_max + 1)), "1152921504606846976");
    EXPECT_EQ(format_w(term(detail::small_min - 1)), "-1152921504606846977");
    EXPECT_EQ(format_w(term(static_cast<unsigned long long>(-1))), "18446744073709551615");
    EXPECT_EQ(fw("-123456789012345678901234567890123456789"), "-123456789012345678901234567890123456789");
}

TEST(text_print, integer_to_string_in_any_base) {
    EXPECT_EQ(integer_to_string(term(255), 16), "FF");
    EXPECT_EQ(integer_to_string(term(-255), 16), "-FF");
    EXPECT_EQ(integer_to_string(term(10), 2), "1010");
    EXPECT_EQ(integer_to_string(term(35), 36), "Z");
    EXPECT_EQ(integer_to_string(parse_ok("16#123456789ABCDEF0123456789ABCDEF"), 16),
              "123456789ABCDEF0123456789ABCDEF");
    EXPECT_EQ(integer_to_string(parse_ok("-36#ZZZZZZZZZZZZZZZZZZZZZZZZZ"), 36), "-ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    EXPECT_EQ(integer_to_string(parse_ok("1000000000000000000000")), "1000000000000000000000");
    EXPECT_EQ(integer_to_string(atom("a")), "");  // not an integer
}

TEST(text_print, floats_shortest_in_erlang_notation) {
    const std::pair<double, const char*> cases[] = {
        {1.0, "1.0"},
        {0.1, "0.1"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {1.0e10, "1.0e10"},
        {100.0, "100.0"},
        {1000.0, "1.0e3"},
        {0.0001, "0.0001"},
        {1.0e-5, "1.0e-5"},
        {0.001234, "0.001234"},
        {0.0001234, "1.234e-4"},
        {1.2345678901234568e17, "1.2345678901234568e17"},
        {5.0e-324, "5.0e-324"},
        {1.7976931348623157e308, "1.7976931348623157e308"},
        {9007199254740992.0, "9.007199254740992e15"},  // 2^53: scientific although 17 digits fit
        {9007199254740990.0, "9007199254740990.0"},
        {9007199254740991.0, "9007199254740991.0"},
        {1234567890.0, "1234567890.0"},
        {12345678900.0, "12345678900.0"},
        {1.23e9, "1.23e9"},
        {17290.0, "17290.0"},
        {172900.0, "1.729e5"},
        {-3.5, "-3.5"},
        {1.0e23, "1.0e23"},
        {2.0e-7, "2.0e-7"},
    };
    for (auto [d, text] : cases)
        EXPECT_EQ(float_text(d), text) << text;
}

TEST(text_print, atoms_quoted_exactly_when_erlang_quotes_them) {
    EXPECT_EQ(atom_text("ok"), "ok");
    EXPECT_EQ(atom_text("a@b"), "a@b");
    EXPECT_EQ(atom_text("a_B9"), "a_B9");
    EXPECT_EQ(atom_text("maybe"), "maybe");  // not reserved in OTP 25 (feature off)
    EXPECT_EQ(atom_text("else"), "else");
    EXPECT_EQ(atom_text("é"), "é");
    EXPECT_EQ(atom_text("fooé"), "fooé");
    EXPECT_EQ(atom_text("ß"), "ß");
    EXPECT_EQ(atom_text("if"), "'if'");
    EXPECT_EQ(atom_text("andalso"), "'andalso'");
    EXPECT_EQ(atom_text("cond"), "'cond'");
    EXPECT_EQ(atom_text("Foo"), "'Foo'");
    EXPECT_EQ(atom_text("_a"), "'_a'");
    EXPECT_EQ(atom_text("1a"), "'1a'");
    EXPECT_EQ(atom_text("a b"), "'a b'");
    EXPECT_EQ(atom_text(""), "''");
    EXPECT_EQ(atom_text("a.b"), "'a.b'");
    EXPECT_EQ(atom_text("a÷"), "'a÷'");
    EXPECT_EQ(atom_text("À"), "'À'");
    EXPECT_EQ(atom_text("日本"), "'日本'");
    EXPECT_EQ(atom_text("a日"), "'a日'");
    EXPECT_EQ(atom_text("a\nb"), "'a\\nb'");
    EXPECT_EQ(atom_text("a'b"), "'a\\'b'");
    EXPECT_EQ(atom_text("a\"b"), "'a\"b'");
    EXPECT_EQ(atom_text("a\\b"), "'a\\\\b'");
    EXPECT_EQ(atom_text("\x1b\x7f\x01\u009f\u00a0"), "'\\e\\d\\001\\237\u00a0'");
    EXPECT_EQ(format_w(atoms::nonode_nohost), "nonode@nohost");
}

TEST(text_print, containers_w) {
    EXPECT_EQ(fw("{a, [1, 2 | 3], #{k => v, \"s\" => <<1,2,3>>}}"),
              "{a,[1,2|3],#{k => v,[115] => <<1,2,3>>}}");
    EXPECT_EQ(fw("{}"), "{}");
    EXPECT_EQ(fw("[]"), "[]");
    EXPECT_EQ(fw("#{}"), "#{}");
    EXPECT_EQ(fw("<<>>"), "<<>>");
    EXPECT_EQ(fw("[[]|[]]"), "[[]]");
    EXPECT_EQ(fw("[a|b]"), "[a|b]");
    EXPECT_EQ(fw("[\"ab\"|\"c\"]"), "[[97,98],99]");
    EXPECT_EQ(fw("<<1:3>>"), "<<1:3>>");
    EXPECT_EQ(fw("<<1,2:4>>"), "<<1,2:4>>");
    EXPECT_EQ(fw("<<\"abc\", 5:5>>"), "<<97,98,99,5:5>>");
}

TEST(text_print, containers_p_show_text) {
    EXPECT_EQ(fp("\"abc\""), "\"abc\"");
    EXPECT_EQ(fp("[\"ab\", \"cd\"]"), "[\"ab\",\"cd\"]");
    EXPECT_EQ(fp("\"a\\\"b'c\\n\\t\\e\""), "\"a\\\"b'c\\n\\t\\e\"");
    EXPECT_EQ(fp("[97, 98 | 99]"), "[97,98|99]");
    EXPECT_EQ(fp("[97, 127]"), "[97,127]");  // DEL is not printable
    EXPECT_EQ(fp("\"é\""), "\"é\"");
    EXPECT_EQ(fp("\"日本\""), "[26085,26412]");  // Latin-1 printable range by default
    EXPECT_EQ(fp("<<\"abc\">>"), "<<\"abc\">>");
    EXPECT_EQ(fp("<<\"é\"/utf8>>"), "<<\"é\"/utf8>>");
    EXPECT_EQ(fp("<<\"é\">>"), "<<\"é\">>");  // the byte 233: not UTF-8, printable Latin-1
    EXPECT_EQ(fp("<<\"日本\"/utf8>>"), "<<230,151,165,230,156,172>>");
    EXPECT_EQ(fp("<<\"abc\", 127>>"), "<<97,98,99,127>>");
    EXPECT_EQ(fp("<<1:3>>"), "<<1:3>>");
    EXPECT_EQ(fp("#{\"k\" => <<\"v\">>}"), "#{\"k\" => <<\"v\">>}");

    print_options uni{print_style::p};
    uni.unicode_printable = true;
    EXPECT_EQ(to_text(parse_ok("\"日本\""), uni), "\"日本\"");
    EXPECT_EQ(to_text(parse_ok("<<\"日本\"/utf8>>"), uni), "<<\"日本\"/utf8>>");
    EXPECT_EQ(to_text(parse_ok("[65534]"), uni), "[65534]");
}

TEST(text_print, identifiers) {
    atom remote("other@host");
    pid local_pid = pid::make(atoms::nonode_nohost, 9, 0, 0);
    EXPECT_EQ(format_w(local_pid), "<0.9.0>");
    EXPECT_EQ(format_w(port::make(atoms::nonode_nohost, 5, 0)), "#Port<0.5>");
    std::uint32_t words[] = {3, 2, 1};
    EXPECT_EQ(format_w(reference::make(atoms::nonode_nohost, 0, words)), "#Ref<0.1.2.3>");

    // Other nodes get stable numbers by default, or what node_number says.
    std::string first = format_w(pid::make(remote, 1, 2, 3));
    EXPECT_NE(first, "<0.1.2>");
    EXPECT_EQ(format_w(pid::make(remote, 1, 2, 3)), first);
    print_options o;
    o.node_number = [&](atom n) -> std::uint32_t { return n == remote ? 8387 : 0; };
    EXPECT_EQ(to_text(pid::make(remote, 1, 2, 3), o), "<8387.1.2>");
    print_options as_remote;
    as_remote.local_node = remote;
    EXPECT_EQ(to_text(pid::make(remote, 1, 2, 3), as_remote), "<0.1.2>");
}

TEST(text_print, funs_as_erts_writes_them) {
    EXPECT_EQ(format_w(make_export("lists"_a, "map"_a, 2)), "fun lists:map/2");
    // erts neither quotes reserved words nor allows @; names are written as UTF-8 bytes read
    // as Latin-1 characters (as erl shows them).
    EXPECT_EQ(format_w(make_export("Foo"_a, "if"_a, 1)), "fun 'Foo':if/1");
    EXPECT_EQ(format_w(make_export("a@b"_a, "f"_a, 0)), "fun 'a@b':f/0");
    EXPECT_EQ(format_w(make_export("é"_a, "f"_a, 0)), "fun Ã©:f/0");
    EXPECT_EQ(format_w(make_export("m"_a, "\x1b\x7f"_a, 0)), "fun m:'\\033\x7f'/0");

    detail::fun_box* f;
    term fun = detail::new_fun(0, f);
    f->module = "erl_eval"_a;
    f->old_index = term(42);
    f->old_uniq = term(3316493);
    f->arity = 1;
    EXPECT_EQ(format_w(fun), "#Fun<erl_eval.42.3316493>");
}

TEST(text_print, prints_a_million_levels_deep) {
    constexpr std::size_t depth = 1'000'000;
    term t = deep_list(depth);
    std::string s = format_w(t);
    ASSERT_EQ(s.size(), 2 * depth + 2);
    EXPECT_EQ(s.substr(0, 3), "[[[");
    EXPECT_EQ(s.substr(s.size() - 3), "]]]");

    term tup = atom("x");
    for (std::size_t i = 0; i < depth; ++i)
        tup = tuple(std::move(tup));
    EXPECT_EQ(format_p(tup).size(), 2 * depth + 1);

    term keys = term(1), values = term(1);
    for (std::size_t i = 0; i < 100000; ++i) {
        keys = map({{keys, term(2)}});
        values = map({{term(2), values}});
    }
    EXPECT_EQ(format_w(keys).substr(0, 6), "#{#{#{");
    EXPECT_EQ(format_w(values).substr(0, 9), "#{2 => #{");
}

TEST(text_print, appends_to_existing_output) {
    std::string out = "x=";
    print(out, term(1));
    EXPECT_EQ(out, "x=1");
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(text_parse, numbers) {
    EXPECT_EQ(parse_ok("42"), term(42));
    EXPECT_EQ(parse_ok("-5"), term(-5));
    EXPECT_EQ(parse_ok("+5"), term(5));
    EXPECT_EQ(parse_ok("- 5"), term(-5));
    EXPECT_EQ(parse_ok("-(5)"), term(-5));
    EXPECT_EQ(parse_ok("16#FF"), term(255));
    EXPECT_EQ(parse_ok("16#ff"), term(255));
    EXPECT_EQ(parse_ok("2#1010"), term(10));
    EXPECT_EQ(parse_ok("36#zz"), term(1295));
    EXPECT_EQ(parse_ok("1_000_000"), term(1000000));
    EXPECT_EQ(parse_ok("16#FF_FF"), term(65535));
    EXPECT_EQ(parse_ok("$a"), term(97));
    EXPECT_EQ(parse_ok("-$a"), term(-97));
    EXPECT_EQ(parse_ok("$\\n"), term(10));
    EXPECT_EQ(parse_ok("$ "), term(32));
    EXPECT_EQ(parse_ok("$\\s"), term(32));
    EXPECT_EQ(parse_ok("$\\^A"), term(1));
    EXPECT_EQ(parse_ok("$\\x{1F600}"), term(0x1F600));
    EXPECT_EQ(parse_ok("$é"), term(233));
    EXPECT_EQ(format_w(parse_ok("1.5")), "1.5");
    EXPECT_EQ(format_w(parse_ok("1.0e10")), "1.0e10");
    EXPECT_EQ(format_w(parse_ok("2.5E-3")), "0.0025");
    EXPECT_EQ(format_w(parse_ok("1_000.5")), "1000.5");
    EXPECT_EQ(format_w(parse_ok("1.0e1_0")), "1.0e10");
    EXPECT_EQ(format_w(parse_ok("-0.0")), "-0.0");
    EXPECT_EQ(format_w(parse_ok("0.1e-400")), "0.0");  // underflow rounds to zero, as erl
    EXPECT_EQ(format_w(parse_ok("123456789012345678901234567890")), "123456789012345678901234567890");
}

TEST(text_parse, atoms_and_strings) {
    EXPECT_EQ(parse_ok("abc"), term(atom("abc")));
    EXPECT_EQ(parse_ok("'Abc def'"), term(atom("Abc def")));
    EXPECT_EQ(parse_ok("a@b"), term(atom("a@b")));
    EXPECT_EQ(parse_ok("é"), term(atom("é")));
    EXPECT_EQ(parse_ok("maybe"), term(atom("maybe")));
    EXPECT_EQ(parse_ok("'if'"), term(atom("if")));
    EXPECT_EQ(parse_ok("'\\x{1F600}'"), term(atom("\U0001F600")));
    EXPECT_EQ(parse_ok("'\\x41\\101\\^A\\e\\d\\s\\q'"), term(atom("AA\x01\x1b\x7f q")));
    EXPECT_EQ(parse_ok("'\\''"), term(atom("'")));
    EXPECT_EQ(parse_ok("\"ab\" \"cd\""), string("abcd"));
    EXPECT_EQ(parse_ok("\"ab\" % comment\n \"cd\""), string("abcd"));
    EXPECT_EQ(parse_ok("\"\""), term());
    EXPECT_EQ(parse_ok("\"a\\nb\\\"\""), string("a\nb\""));
    EXPECT_EQ(parse_ok("\"日本\""), list({term(26085), term(26412)}));
    EXPECT_EQ(parse_ok("\"multi\nline\""), string("multi\nline"));
    EXPECT_EQ(parse_ok("[$a|\"bc\"]"), string("abc"));
}

TEST(text_parse, containers) {
    EXPECT_EQ(parse_ok("{a, b, {}}"), tuple("a"_a, "b"_a, make_tuple(std::span<const term>())));
    EXPECT_EQ(parse_ok("[1, 2 | 3]"), make_list(std::vector<term>{term(1), term(2)}, term(3)));
    EXPECT_EQ(parse_ok("[a|b]"), cons("a"_a, "b"_a));
    EXPECT_EQ(parse_ok("[1|-2]"), cons(term(1), term(-2)));
    EXPECT_EQ(parse_ok("#{a => 1, \"b\" => [2]}"), map({{"a"_a, term(1)}, {string("b"), list({term(2)})}}));
    EXPECT_EQ(parse_ok("#{a => 1, a => 2}"), map({{"a"_a, term(2)}}));  // the last wins
    EXPECT_EQ(parse_ok("# { a => 1 }"), map({{"a"_a, term(1)}}));
    EXPECT_EQ(parse_ok("((a))"), term("a"_a));
    EXPECT_EQ(parse_ok("{(a), [(1)]}"), tuple("a"_a, list({term(1)})));
    EXPECT_EQ(parse_ok("fun lists:map/2"), make_export("lists"_a, "map"_a, 2));
    EXPECT_EQ(parse_ok("fun 'M' : 'f' / 0"), make_export("M"_a, "f"_a, 0));
    EXPECT_EQ(parse_ok(" % leading\n {a}. % trailing"), tuple("a"_a));
    EXPECT_EQ(parse_ok("1."), term(1));
}

TEST(text_parse, binaries_evaluated_like_erl) {
    EXPECT_EQ(fw("<<1,2,3>>"), "<<1,2,3>>");
    EXPECT_EQ(fw("<<\"abc\">>"), "<<97,98,99>>");
    EXPECT_EQ(fw("<<\"é\">>"), "<<233>>");
    EXPECT_EQ(fw("<<\"é\"/utf8>>"), "<<195,169>>");
    EXPECT_EQ(fw("<<\"ŀ\">>"), "<<64>>");  // characters are truncated to 8 bits
    EXPECT_EQ(fw("<<300:16>>"), "<<1,44>>");
    EXPECT_EQ(fw("<<-1:8/signed>>"), "<<255>>");
    EXPECT_EQ(fw("<<-1>>"), "<<255>>");
    EXPECT_EQ(fw("<<(-1):70>>"), "<<255,255,255,255,255,255,255,255,63:6>>");
    EXPECT_EQ(fw("<<16#ABC:12/little>>"), "<<188,10:4>>");
    EXPECT_EQ(fw("<<16#ABCDE:20/little>>"), "<<222,188,10:4>>");
    EXPECT_EQ(fw("<<1.5/float>>"), "<<63,248,0,0,0,0,0,0>>");
    EXPECT_EQ(fw("<<1.5:32/float-little>>"), "<<0,0,192,63>>");
    EXPECT_EQ(fw("<<1.5:16/float>>"), "<<62,0>>");
    EXPECT_EQ(fw("<<65520.0:16/float>>"), "<<124,0>>");  // rounds to infinity, as erl
    EXPECT_EQ(fw("<<1/float>>"), "<<63,240,0,0,0,0,0,0>>");
    EXPECT_EQ(fw("<<\"abc\":16/little>>"), "<<97,0,98,0,99,0>>");
    EXPECT_EQ(fw("<<\"é\"/utf16-little>>"), "<<233,0>>");
    EXPECT_EQ(fw("<<16#1F600/utf16>>"), "<<216,61,222,0>>");
    EXPECT_EQ(fw("<<16#1F600/utf32-little>>"), "<<0,246,1,0>>");
    EXPECT_EQ(fw("<<<<1,2>>/binary, 3>>"), "<<1,2,3>>");
    EXPECT_EQ(fw("<<<<1,2,3>>:2/binary>>"), "<<1,2>>");
    EXPECT_EQ(fw("<<<<1:3>>/bits, 1:5>>"), "<<33>>");
    EXPECT_EQ(fw("<<1:4/unit:2>>"), "<<1>>");
    EXPECT_EQ(fw("<<(1):(8)>>"), "<<1>>");
    EXPECT_EQ(fw("<<7:0>>"), "<<>>");
    EXPECT_EQ(fw("<<\"a\" \"b\">>"), "<<97,98>>");
}

TEST(text_parse, bad_binaries) {
    for (const char* s :
         {"<<1.5>>", "<<a>>", "<<1:all>>", "<<1:(-8)>>", "<<1:8.0>>", "<<16#D800/utf8>>", "<<1:8/utf8>>",
          "<<1/unit:2>>", "<<1/integer-float>>", "<<1/foo>>", "<<1.5:8/float>>", "<<<<1:3>>/binary>>",
          "<<<<1,2>>:3/binary>>", "<<\"ab\"/binary>>", "<<\"\"/binary>>", "<<X:8>>", "<<0:1000000000000>>",
          "<<1:1/unit:257>>"}) {
        parse_error e = parse_fail(s);
        EXPECT_FALSE(e.message.empty()) << s;
    }
    EXPECT_NE(parse_fail("<<1.5>>").message.find("bad binary segment"), std::string::npos);
    EXPECT_NE(parse_fail("<<0:1000000000000>>").message.find("too large"), std::string::npos);
}

TEST(text_parse, rejects_what_parse_term_rejects) {
    for (const char* s : {"",
                          "X",
                          "_",
                          "1 + 2",
                          "a = b",
                          "-a",
                          "- - 1",
                          "--1",
                          "-[1]",
                          "{a,}",
                          "[a|b|c]",
                          "[a|]",
                          "#{a := 1}",
                          "#{a}",
                          "fun f/2",
                          "fun m:f/256",
                          "fun M:f/1",
                          "a b",
                          "f()",
                          "a. b",
                          "a.b",
                          "if",
                          "fun",
                          "1e5",
                          "1.e3",
                          "16#",
                          "37#1",
                          "1_",
                          "<0.1.0>",
                          "#Ref<0.1.2.3>",
                          "()",
                          "§",
                          "'\\x{D800}'",
                          "'\\x{FFFE}'",
                          "'\\x{}'",
                          "'\\xZZ'",
                          "'\\x{110000}'",
                          "1.0e400"})
        parse_fail(s);
}

TEST(text_parse, errors_name_the_problem_and_its_position) {
    parse_error e = parse_fail("{a,\n  \"abc");
    EXPECT_EQ(e.message, "unterminated string");
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.column, 3u);
    EXPECT_EQ(e.offset, 6u);
    EXPECT_EQ(e.describe(), "line 2, column 3: unterminated string");

    e = parse_fail("[1, 2)");
    EXPECT_EQ(e.message, "unexpected ')', expected ',', '|' or ']'");
    EXPECT_EQ(e.column, 6u);

    e = parse_fail("{a, )");
    EXPECT_EQ(e.message, "unexpected ')', expected a term");

    e = parse_fail("'abc");
    EXPECT_EQ(e.message, "unterminated quoted atom");
    e = parse_fail("$");
    EXPECT_EQ(e.message, "unterminated character");
    e = parse_fail(std::string("'") + std::string(256, 'x') + "'");
    EXPECT_EQ(e.message, "invalid atom: more than 255 characters");
    e = parse_fail("[1, 2");
    EXPECT_EQ(e.message, "unexpected end of input, expected ',', '|' or ']'");
    e = parse_fail("a 日");
    EXPECT_EQ(e.message, "illegal character");
    EXPECT_EQ(e.column, 3u);
    e = parse_fail("16#G");
    EXPECT_EQ(e.message, "illegal integer");
    e = parse_fail("99#1");
    EXPECT_EQ(e.message, "illegal base '99'");
    e = parse_fail("1.0e");
    EXPECT_EQ(e.message, "illegal float");
    e = parse_fail("{X}");
    EXPECT_EQ(e.message, "variables are not allowed in a term: X");
    e = parse_fail("\"\xff\"");
    EXPECT_EQ(e.message, "invalid UTF-8");
    e = parse_fail("a.b");
    EXPECT_EQ(e.message, "unexpected '.', expected end of input after the term");
}

TEST(text_parse, new_atoms_can_be_refused) {
    parse_options o;
    o.allow_new_atoms = false;
    auto known = parse_term("[ok, error]", o);
    ASSERT_TRUE(known.has_value());
    parse_error e = parse_fail("{ok, nodus_text_test_never_seen_atom_4711}", o);
    EXPECT_EQ(e.message, "unknown atom nodus_text_test_never_seen_atom_4711 (new atoms are not allowed)");
    EXPECT_EQ(e.column, 6u);
    EXPECT_FALSE(atom::existing("nodus_text_test_never_seen_atom_4711").has_value());
}

TEST(text_parse, depth_is_bounded_and_deep_input_does_not_crash) {
    constexpr std::size_t depth = 1'000'000;
    std::string text(depth, '[');
    text.append(depth, ']');
    term t = parse_ok(text);
    EXPECT_EQ(format_w(t), text);

    parse_options o;
    o.max_depth = 1000;
    EXPECT_EQ(parse_fail(text, o).message, "nesting too deep");
    std::string ok(1000, '{');
    ok.append(1000, '}');
    EXPECT_TRUE(parse_term(ok, o).has_value());

    // Unbalanced hostile input ends in an error, not a crash.
    EXPECT_EQ(parse_fail(std::string(depth / 4, '(')).message, "unexpected end of input, expected a term");
    EXPECT_FALSE(parse_term(std::string(depth, '-') + "1").has_value());
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

TEST(text_scan, tokens_with_positions) {
    scanner s(
        "foo 'Bar' Var _ 12 1.5 $a \"s\" fun =:= =/= => := << >> || -> :: ++ -- == /= =< >= ! .\n"
        "case X of end. ... .. . ");
    std::vector<token> toks;
    for (;;) {
        auto t = s.next();
        ASSERT_TRUE(t.has_value()) << t.error().describe();
        toks.push_back(*t);
        if (t->kind == token_kind::end) break;
    }
    ASSERT_EQ(toks.size(), 35u);
    EXPECT_EQ(toks[0].kind, token_kind::atom);
    EXPECT_EQ(toks[0].name, "foo");
    EXPECT_EQ(toks[1].kind, token_kind::atom);
    EXPECT_EQ(toks[1].name, "Bar");
    EXPECT_EQ(toks[1].column, 5u);
    EXPECT_EQ(toks[2].kind, token_kind::var);
    EXPECT_EQ(toks[3].kind, token_kind::var);
    EXPECT_EQ(toks[4].kind, token_kind::integer);
    EXPECT_EQ(toks[4].integer, term(12));
    EXPECT_EQ(toks[5].kind, token_kind::float_);
    EXPECT_EQ(toks[5].float_value, 1.5);
    EXPECT_EQ(toks[6].kind, token_kind::char_);
    EXPECT_EQ(toks[6].char_value, 97u);
    EXPECT_EQ(toks[7].kind, token_kind::string);
    EXPECT_EQ(toks[7].name, "s");
    EXPECT_EQ(toks[8].kind, token_kind::keyword);
    const char* ops[] = {"=:=", "=/=", "=>", ":=", "<<", ">>", "||", "->",
                         "::",  "++",  "--", "==", "/=", "=<", ">=", "!"};
    for (std::size_t i = 0; i < std::size(ops); ++i)
        EXPECT_TRUE(toks[9 + i].is(ops[i])) << ops[i];
    EXPECT_EQ(toks[25].kind, token_kind::dot);
    EXPECT_TRUE(toks[26].is("case"));
    EXPECT_EQ(toks[26].kind, token_kind::keyword);
    EXPECT_EQ(toks[26].line, 2u);
    EXPECT_EQ(toks[26].column, 1u);
    EXPECT_EQ(toks[27].kind, token_kind::var);
    EXPECT_TRUE(toks[28].is("of"));
    EXPECT_TRUE(toks[29].is("end"));
    EXPECT_EQ(toks[30].kind, token_kind::dot);
    EXPECT_TRUE(toks[31].is("..."));
    EXPECT_TRUE(toks[32].is(".."));
    EXPECT_EQ(toks[33].kind, token_kind::dot);
    EXPECT_EQ(toks[34].kind, token_kind::end);
    EXPECT_EQ(toks[34].line, 2u);
}

TEST(text_scan, reserved_words) {
    EXPECT_TRUE(is_reserved_word("receive"));
    EXPECT_TRUE(is_reserved_word("bxor"));
    EXPECT_FALSE(is_reserved_word("maybe"));
    EXPECT_FALSE(is_reserved_word("ok"));
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(text_round_trip, random_terms_read_back_from_both_styles) {
    std::uint64_t seed = test::seed_from_env();
    SCOPED_TRACE("NODUS_SEED=" + std::to_string(seed));
    test::term_gen_options go;
    go.identifiers = false;
    go.funs = false;
    go.large_chance = 0.002;  // keeps the run short in debug and sanitizer builds
    test::term_gen gen(seed, go);
    print_options unicode{print_style::p};
    unicode.unicode_printable = true;
    for (int i = 0; i < 1000; ++i) {
        term t = gen.any();
        if (i % 10 == 0) t = tuple(std::move(t), make_export("lists"_a, "Map"_a, 3));
        for (const print_options& o :
             {print_options{print_style::w}, print_options{print_style::p}, unicode}) {
            std::string text = to_text(t, o);
            auto back = parse_term(text);
            ASSERT_TRUE(back.has_value()) << back.error().describe() << "\n" << text;
            ASSERT_TRUE(*back == t) << text;
            ASSERT_EQ(to_text(*back, o), text);  // also tells 0.0 from -0.0
        }
    }
}

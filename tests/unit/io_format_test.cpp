// Unit tests of io_lib:format (src/io): the API, error values and limits. What erl prints for
// each control sequence is checked byte for byte by tests/golden/io_format_golden_test.cpp;
// the expectations here were taken from erl (OTP 25) as well.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nodus/io/format.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using io_lib::format_error;

namespace {

// io_lib:format with the format and arguments written in Erlang syntax.
result<std::string, format_error> fmt(std::string_view format_text, std::string_view args_text,
                                      const io_lib::format_options& opts = {}) {
    auto f = parse_term(format_text);
    auto a = parse_term(args_text);
    EXPECT_TRUE(f && a) << format_text << " / " << args_text;
    return io_lib::format(*f, *a, opts);
}

std::string ok(std::string_view format_text, std::string_view args_text) {
    auto r = fmt(format_text, args_text);
    EXPECT_TRUE(r.has_value()) << format_text << " " << args_text << ": " << (r ? "" : r.error().describe());
    return r ? *r : std::string("<error>");
}

format_error::kind fails(std::string_view format_text, std::string_view args_text) {
    auto r = fmt(format_text, args_text);
    EXPECT_FALSE(r.has_value()) << format_text << " " << args_text << " gave " << (r ? *r : "");
    return r ? format_error::kind::badarg : r.error().what;
}

term deep_tuple(std::size_t depth) {
    term t = atom("x");
    for (std::size_t i = 0; i < depth; ++i)
        t = tuple(t);
    return t;
}

}  // namespace

TEST(io_format, formats_with_the_cpp_api) {
    std::vector<term> args{term(42), atom("ok"), string("text"), term(1.5)};
    auto r = io_lib::format("~b ~w ~s ~f~n", args);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, "42 ok text 1.500000\n");
    EXPECT_EQ(*io_lib::format("~w+~w", {term(1), term(2)}), "1+2");
    EXPECT_EQ(*io_lib::fwrite("plain", {}), "plain");
    // The format is UTF-8; the result too.
    std::vector<term> u{string("日本")};
    EXPECT_EQ(*io_lib::format("é ~ts ~w", std::vector<term>{string("日本"), atom("é")}), "é 日本 é");
    EXPECT_EQ(*io_lib::format("~ts", u), "日本");
}

TEST(io_format, accepts_strings_binaries_and_atoms_as_the_format) {
    EXPECT_EQ(ok("\"~w-~w\"", "[a, b]"), "a-b");
    EXPECT_EQ(ok("<<\"~w-~w\">>", "[a, b]"), "a-b");
    EXPECT_EQ(ok("'~w~~'", "[x]"), "x~");
    // A binary format is bytes: UTF-8 in it comes out as Latin-1 characters.
    EXPECT_EQ(ok("<<\"é~w\"/utf8>>", "[x]"), "Ã©x");
    // Lists and binaries nested in the format are copied, not interpreted.
    EXPECT_EQ(ok("[\"a\", <<\"~w\">>, $~, $w]", "[x]"), "a~wx");
}

TEST(io_format, control_sequences_match_erl) {
    EXPECT_EQ(ok("\"~5c|~-5.2.xc|~.3c\"", "[$a, $b, $c]"), "aaaaa|bbxxx|ccc");
    EXPECT_EQ(ok("\"~10.3f|~-10.3e|~g|~.2g\"", "[3.14159, -2.5, 0.5, 1234.5]"),
              "     3.142|-2.50e+0  |0.500000|1.2e+3");
    EXPECT_EQ(ok("\"~.2f ~.2f ~e\"", "[2.675, 0.125, 0.0]"), "2.67 0.13 0.00000e+0");
    EXPECT_EQ(ok("\"~10s|~-10s|~.2s|~5.2.*s\"", "[\"abc\", abc, <<\"abc\">>, $=, \"abc\"]"),
              "       abc|abc       |ab|===ab");
    EXPECT_EQ(ok("\"~.16b ~.16B ~.2#  ~.16+ ~.16x ~X\"", "[255, -255, 5, 255, 255, \"0x\", 255, '#']"),
              "ff -FF 2#101  16#ff 0xff #255");
    EXPECT_EQ(ok("\"~3b|~w|~5w|~.2w\"", "[12345, 3.0, {a}, abc]"), "***|3.0|  {a}|**");
    EXPECT_EQ(ok("\"~W ~P ~W\"", "[[1,2,3], 3, #{a => 1}, 2, #{a => 1}, 2]"),
              "[1,2|...] #{a => 1} #{a => 1,...}");
    EXPECT_EQ(ok("\"~i~n~~~3n\"", "[ignored]"), "\n~\n\n\n");
    EXPECT_EQ(ok("\"~s ~ts ~w ~tw\"", "[<<\"é\"/utf8>>, <<\"é\"/utf8>>, '日', '日']"),
              "Ã© é '\\x{65E5}' '日'");
    EXPECT_EQ(ok("\"~p ~tp ~lp\"", "[\"é\", [233], \"ab\"]"), "\"é\" \"é\" [97,98]");
}

TEST(io_format, lays_out_p_from_the_current_column) {
    std::string list = "[lists:seq(1, 30)]";
    auto seq =
        parse_term("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30]");
    ASSERT_TRUE(seq);
    std::vector<term> args{*seq};
    EXPECT_EQ(*io_lib::format("~p", args),
              "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,\n 29,30]");
    EXPECT_EQ(*io_lib::format("~40p", args),
              "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,\n 16,17,18,19,20,21,22,23,24,25,26,27,\n 28,29,30]");
    // Text before ~p moves its start; a tab counts to the next multiple of 8.
    EXPECT_EQ(*io_lib::format("x\t~40p", args),
              "x\t[1,2,3,4,5,6,7,8,9,10,11,12,\n         13,14,15,16,17,18,19,20,21,\n         "
              "22,23,24,25,26,27,28,29,30]");
    // A precision sets the start column instead.
    EXPECT_EQ(*io_lib::format("x\t~40.1p", args),
              "x\t[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,\n 16,17,18,19,20,21,22,23,24,25,26,27,\n 28,29,30]");
}

TEST(io_format, reports_badarg_where_erl_raises_it) {
    using k = format_error::kind;
    EXPECT_EQ(fails("\"~\"", "[]"), k::badarg);
    EXPECT_EQ(fails("\"~q\"", "[x]"), k::badarg);
    EXPECT_EQ(fails("\"~w\"", "[]"), k::badarg);
    EXPECT_EQ(fails("\"~w\"", "[a, b]"), k::badarg);
    EXPECT_EQ(fails("\"~w\"", "[a | b]"), k::badarg);
    EXPECT_EQ(fails("\"~w\"", "x"), k::badarg);
    EXPECT_EQ(fails("\"~-w\"", "[x]"), k::badarg);
    EXPECT_EQ(fails("\"~e\"", "[1]"), k::badarg);
    EXPECT_EQ(fails("\"~.1e\"", "[1.0]"), k::badarg);
    EXPECT_EQ(fails("\"~.0f\"", "[1.0]"), k::badarg);
    EXPECT_EQ(fails("\"~.37B\"", "[1]"), k::badarg);
    EXPECT_EQ(fails("\"~s\"", "['日']"), k::badarg);
    EXPECT_EQ(fails("\"~s\"", "[[256]]"), k::badarg);
    EXPECT_EQ(fails("\"~ts\"", "[[-1]]"), k::badarg);
    EXPECT_EQ(fails("\"~-10p\"", "[x]"), k::badarg);
    EXPECT_EQ(fails("\"~3.5c\"", "[$x]"), k::badarg);
    EXPECT_EQ(fails("\"~x\"", "[1, 5]"), k::badarg);
    EXPECT_EQ(fails("\"~5.2.*c\"", "[foo, $x]"), k::badarg);
    EXPECT_EQ(fails("[x, $~, $w]", "[y]"), k::badarg);
    EXPECT_EQ(fails("42", "[]"), k::badarg);
    auto r = fmt("\"~q\"", "[x]");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().describe().rfind("badarg: ", 0), 0u);
}

TEST(io_format, reports_results_that_are_not_chardata) {
    using k = format_error::kind;
    EXPECT_EQ(fails("\"~tc\"", "[-1]"), k::not_chardata);
    EXPECT_EQ(fails("\"~tc\"", "[16#D800]"), k::not_chardata);
    EXPECT_EQ(fails("\"~ts\"", "[[16#110000]]"), k::not_chardata);
    EXPECT_EQ(fails("\"~20..*w\"", "[foo, abc]"), k::not_chardata);
    EXPECT_EQ(fails("[<<195>>, $a]", "[]"), k::not_chardata);
    // Binaries join into one UTF-8 stream, as unicode:characters_to_binary/1 joins them.
    EXPECT_EQ(ok("[<<195>>, <<169>>]", "[]"), "é");
    EXPECT_EQ(ok("\"~5.2.*c\"", "[<<\"ab\">>, $x]"),
              "ababab"
              "xx");
}

TEST(io_format, refuses_what_erl_would_never_finish_or_is_too_large) {
    using k = format_error::kind;
    // erl recurses for ever on a negative repetition count.
    EXPECT_EQ(fails("\"~.*w\"", "[-3, abc]"), k::too_large);
    io_lib::format_options small;
    small.max_output = 100;
    auto r = fmt("\"~*c\"", "[101, $x]", small);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().what, k::too_large);
    EXPECT_TRUE(fmt("\"~*c\"", "[100, $x]", small).has_value());
    EXPECT_EQ(fmt("\"~.1000f\"", "[1.0]", small).error().what, k::too_large);
    EXPECT_EQ(fmt("\"~p\"",
                  "[[\"a long string of text\", \"a long string of text\", \"a long string of text\", "
                  "\"a long string of text\", \"a long string of text\"]]",
                  small)
                  .error()
                  .what,
              k::too_large);
    EXPECT_EQ(fmt("\"~*c\"", "[100000000000000000000000, $x]").error().what, k::too_large);
}

TEST(io_format, writes_any_nesting_and_lays_out_up_to_max_nesting) {
    std::vector<term> deep{deep_tuple(100000)};
    auto w = io_lib::format("~w", deep);
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(w->size(), 200001u);
    auto wd = io_lib::format("~W", std::vector<term>{deep_tuple(100000), term(3)});
    EXPECT_EQ(*wd, "{{{...}}}");
    // ~p recurses: the default nesting limit must fit in a thread's stack, also under ASan.
    io_lib::format_options opts;
    auto p = io_lib::format("~p", std::vector<term>{deep_tuple(opts.max_nesting - 1)}, opts);
    ASSERT_TRUE(p.has_value()) << p.error().describe();
    EXPECT_EQ(p->size(), 2 * (opts.max_nesting - 1) + 1);
    auto too_deep = io_lib::format("~p", std::vector<term>{deep_tuple(opts.max_nesting + 5)}, opts);
    ASSERT_FALSE(too_deep.has_value());
    EXPECT_EQ(too_deep.error().what, format_error::kind::too_large);
    // A depth limit stops the walk before the nesting does.
    auto limited = io_lib::format("~P", std::vector<term>{deep_tuple(100000), term(5)}, opts);
    EXPECT_EQ(*limited, "{{{{{...}}}}}");
}

TEST(io_format, numbers_pids_of_other_nodes_as_print_does) {
    pid p = pid::make(atom("other@host"), 5, 1, 3);
    io_lib::format_options opts;
    opts.node_number = [](atom node) -> std::uint32_t { return node == atoms::nonode_nohost ? 0 : 77; };
    std::vector<term> args{p.as_term(), tuple(p.as_term())};
    EXPECT_EQ(*io_lib::format("~w ~p", args, opts), "<77.5.1> {<77.5.1>}");
}

TEST(io_format, unicode_printable_range_changes_tp_only) {
    io_lib::format_options uni;
    uni.unicode_printable = true;
    std::vector<term> args{string("日本"), string("日本"), binary("\xE6\x97\xA5")};
    EXPECT_EQ(*io_lib::format("~p ~tp ~tp", args), "[26085,26412] [26085,26412] <<230,151,165>>");
    EXPECT_EQ(*io_lib::format("~p ~tp ~tp", args, uni), "[26085,26412] \"日本\" <<\"日\"/utf8>>");
}

TEST(io_format, measures_unicode_text_in_grapheme_clusters) {
    // e + combining acute is one cluster: width 4 pads with 2 spaces, precision 1 keeps both.
    std::vector<term> args{string("e\xCC\x81x"), string("e\xCC\x81x")};
    EXPECT_EQ(*io_lib::format("~4ts|~.1ts|", args), "  e\xCC\x81x|e\xCC\x81|");
    // Flags: two regional indicators are one cluster.
    std::vector<term> flag{string("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7")};
    EXPECT_EQ(*io_lib::format("~3ts|", flag), "  \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7|");
    // Latin-1 text counts CR LF as two, but cuts it as one cluster (as erl).
    EXPECT_EQ(ok("\"~3ts|\"", "[\"a\\r\\nbc\"]"), "a\r\nb|");
}

TEST(io_format, scans_and_builds_format_lists) {
    auto f = parse_term("\"a~-10.3.xtlp~n\"");
    auto a = parse_term("[{x}]");
    ASSERT_TRUE(f && a);
    auto scanned = io_lib::scan_format(*f, *a);
    ASSERT_TRUE(scanned.has_value());
    EXPECT_EQ(format_p(*scanned),
              "[97,#{adjust => left,args => [{x}],control_char => 112,encoding => unicode,"
              "pad_char => 120,precision => 3,strings => false,width => 10},#{adjust => right,args => [],"
              "control_char => 110,encoding => latin1,pad_char => 32,precision => none,strings => true,width "
              "=> none}]");
    // ~p with adjust left is a badarg when built; right works.
    EXPECT_FALSE(io_lib::build_text(*scanned).has_value());
    auto edited = parse_term(
        "[$a, #{adjust => right, args => [{x}], control_char => $p, encoding => unicode, pad_char => $x,"
        " precision => none, strings => true, width => none}, $!]");
    ASSERT_TRUE(edited);
    EXPECT_EQ(*io_lib::build_text(*edited), "a{x}!");
    auto missing = parse_term("[#{control_char => $p}]");
    EXPECT_FALSE(io_lib::build_text(*missing).has_value());
    EXPECT_FALSE(io_lib::scan_format(*f, term()).has_value());
}

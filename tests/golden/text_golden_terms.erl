%% Golden data for tests/golden/text_golden_test.cpp: how a real erl (OTP 25) writes terms as
%% text and which texts erl_parse:parse_term/1 accepts. Run in a plain erl (no distribution),
%% once with the default printable range and once with +pc unicode.
%%
%% Output, one line each, all fields hex-encoded (upper case) UTF-8 or ETF bytes:
%%   RANGE latin1|unicode                io:printable_range()
%%   N <NodeName> <Number>               the number erl prints in pids of that node
%%   T <term_to_binary(T)> <~tw text> <~tp text on one line>
%%   P <Source> ok <term_to_binary(T)>   erl_parse:parse_term accepted Source as T
%%   P <Source> error                    it did not
%%   K <term_to_binary(T)> <~tw text>    maps whose keys mix integers and floats
%%   END <Count of T lines>
%% Random choices use a fixed seed, so every run prints the same terms.
-module(text_golden_terms).
-export([main/0]).

main() ->
    ok = io:setopts(standard_io, [binary]),
    _ = rand:seed(exsss, {20250101, 7, 11}),
    out([<<"RANGE ">>, atom_to_binary(io:printable_range())]),
    Nodes = ['foo@bar', 'baz@qux', 'é@höst', 'other@nohost'],
    [out([<<"N ">>, hex(atom_to_binary(N, utf8)), $\s, node_number(N)]) || N <- Nodes],
    Terms = terms(Nodes),
    [out([<<"T ">>, hex(term_to_binary(T)), $\s, hex(text_w(T)), $\s, hex(text_p(T))]) || T <- Terms],
    [out([<<"P ">>, hex(unicode:characters_to_binary(S)), $\s, parse(S)]) || S <- sources()],
    [out([<<"K ">>, hex(term_to_binary(T)), $\s, hex(text_w(T))]) || T <- mixed_number_keys()],
    out([<<"END ">>, integer_to_binary(length(Terms))]),
    halt(0).

out(IoData) -> io:put_chars([IoData, $\n]).

hex(B) -> binary:encode_hex(B).

text_w(T) -> unicode:characters_to_binary(io_lib:format("~tw", [T])).

%% What ~tp calls (io_lib_format:print/10 -> io_lib_pretty:print/2), with a line length no
%% term here reaches, so the output stays on one line.
text_p(T) ->
    S = unicode:characters_to_binary(
          io_lib_pretty:print(T, [{column, 1}, {line_length, 1 bsl 40}, {depth, -1},
                                  {chars_limit, -1}, {encoding, unicode}, {strings, true}])),
    nomatch = binary:match(S, <<"\n">>),
    S.

parse(S) ->
    Result = case erl_scan:string(S) of
                 {ok, Tokens, End} ->
                     Dotted = case lists:last([{x, 0} | Tokens]) of
                                  {dot, _} -> Tokens;
                                  _ -> Tokens ++ [{dot, End}]
                              end,
                     catch erl_parse:parse_term(Dotted);
                 Error ->
                     Error
             end,
    case Result of
        {ok, T} -> [<<"ok ">>, hex(term_to_binary(T))];
        _ -> <<"error">>
    end.

%% ---- terms with remote nodes ----

node_number(Node) ->
    [$< | Rest] = pid_to_list(remote_pid(Node, 1, 0)),
    {Number, _} = string:to_integer(Rest),
    integer_to_binary(Number).

atom_ext(A) ->
    B = atom_to_binary(A, utf8),
    <<119, (byte_size(B)), B/binary>>.

remote_pid(Node, Id, Serial) ->
    binary_to_term(<<131, 88, (atom_ext(Node))/binary, Id:32, Serial:32, 7:32>>).

remote_port(Node, Id) ->
    binary_to_term(<<131, 120, (atom_ext(Node))/binary, Id:64, 7:32>>).

remote_ref(Node, Words) ->
    Bin = << <<W:32>> || W <- Words >>,
    binary_to_term(<<131, 90, (length(Words)):16, (atom_ext(Node))/binary, 7:32, Bin/binary>>).

%% A local fun as binary_to_term makes it from NEW_FUN_EXT, with any module name.
crafted_fun(Module, OldIndex, OldUniq) ->
    <<131, PidBin/binary>> = term_to_binary(self()),
    Body = <<1, (binary:copy(<<7>>, 16))/binary, 9:32, 0:32, (atom_ext(Module))/binary,
             98, OldIndex:32/signed, 98, OldUniq:32/signed, PidBin/binary>>,
    binary_to_term(<<131, 112, (byte_size(Body) + 4):32, Body/binary>>).

%% ---- the terms ----

terms(Nodes) ->
    lists:append([floats(), integers(), atoms(), strings(), binaries(), containers(),
                  maps(), identifiers(Nodes), funs()]).

floats() ->
    Fixed = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1/3, 2/3, 1.0e10, 100.0, 1000.0, 0.0001, 0.001,
             1.0e-5, 1.2345678901234568e17, 5.0e-324, 1.0e-323, 1.7976931348623157e308,
             2.2250738585072014e-308, 2.225073858507201e-308, 9007199254740992.0,
             9007199254740994.0, 4503599627370496.0, 4503599627370497.0, 1.0e15, 1.0e16,
             1.0e21, 1.0e22, 1.0e23, 1234567890.0, 12345678900.0, 123456789012.0, 1.23e9,
             0.001234, 0.0001234, 12340.0, 17290.0, 1729.0, 172.9, 0.1729, 3.141592653589793,
             2.718281828459045, 6.02214076e23, 6.62607015e-34, 299792458.0, 0.5, 0.25, 0.125,
             99999.99999999999, 999999999999999.9, 9.999999999999999e22],
    Tens = [list_to_float(M ++ "e" ++ integer_to_list(E))
            || E <- lists:seq(-320, 308, 7), M <- ["1.0", "1.5", "9.999", "1.2345678901234567"]],
    Near = [float(X * P) || X <- [900719925474099, 900719925474100, 90071992547409, 90071992547410,
                                   9007199254740991, 9007199254740992, 9007199254740993],
                            P <- [1, 10, 100]],
    Twos = [math:pow(2, N) || N <- lists:seq(-1074, 1023, 13)] ++
           [math:pow(2, N) + D || N <- lists:seq(48, 60), D <- [-1.0, 0.0, 1.0]],
    Random = [F || _ <- lists:seq(1, 600), F <- random_float()],
    Short = [list_to_float(integer_to_list(rand:uniform(999)) ++ ".0e" ++
                           integer_to_list(rand:uniform(60) - 30)) || _ <- lists:seq(1, 200)],
    All = Fixed ++ Tens ++ Near ++ Twos ++ Random ++ Short,
    All ++ [-F || F <- lists:sublist(All, 80)].

random_float() ->
    <<Bits:64>> = crypto_free_bytes(8),
    case <<Bits:64>> of
        <<F:64/float>> -> [F];
        _ -> []  % NaN or infinity
    end.

crypto_free_bytes(N) -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, N)]).

integers() ->
    Powers = [X || N <- [7, 8, 15, 16, 27, 28, 31, 32, 59, 60, 61, 63, 64, 65, 100, 127, 128, 1000, 3000],
                   B <- [1 bsl N], X <- [B, B - 1, -B, -B + 1, -B - 1]],
    Tens = [X || N <- [1, 9, 18, 19, 20, 38, 39, 100], X <- [pow10(N), -pow10(N), pow10(N) - 1]],
    Random = [rand:uniform(1 bsl rand:uniform(400)) * (rand:uniform(3) - 2) || _ <- lists:seq(1, 100)],
    [0, 1, -1, 42, 255, 256, -256] ++ Powers ++ Tens ++ Random.

pow10(0) -> 1;
pow10(N) -> 10 * pow10(N - 1).

%% Characters that matter to quoting, escaping and printability.
char_pool() ->
    "azAZ09_@ .'\"\\%-" ++
        [0, 1, 7, 8, 9, 10, 11, 12, 13, 27, 31, 127, 128, 133, 159, 160, 161, 191, 192, 215, 222,
         223, 233, 246, 247, 255, 256, 937, 8364, 26085, 55295, 57344, 65533, 65535, 65536,
         128512, 1114111].

random_chars(Max) ->
    Pool = char_pool(),
    [lists:nth(rand:uniform(length(Pool)), Pool) || _ <- lists:seq(1, rand:uniform(Max + 1) - 1)].

atoms() ->
    Fixed = ['if', 'andalso', 'orelse', 'begin', 'cond', 'let', 'receive', 'bnot', 'xor', 'div',
             'Foo', 'a b', '', 'a.b', a@b, '@a', '_a', a_b, aB9, maybe, else, 'é', 'fooé', 'ÿ',
             'ß', '÷', 'a÷', 'a×', 'À', 'aÀÞ', '日本', 'a\nb', 'tab\t', '\e\d\001\237\240',
             'a\'b', 'a\\b', 'a"b', 'nonode@nohost', 'true', 'false', '[]', '{}', '$', '1a',
             'hello world', 'x\x{1F600}', 'ok', 'ok!', 'a-b', 'A', 'Ä', 'zÿ', '\x{80}', '\x{a0}',
             list_to_atom(lists:duplicate(255, $x)), list_to_atom(lists:duplicate(255, 26085))],
    Random = [list_to_atom(random_chars(8)) || _ <- lists:seq(1, 300)],
    Fixed ++ Random.

strings() ->
    Fixed = ["hello world", "tab\there", "quote\"s", "apos'trophe", "back\\slash", [233, 233],
             [26085, 26412], [127], [0], [1114111], [55295], [57344], [65533], [65534], [65535],
             [65536], "\n\r\t\v\b\f\e", "\d", [159], [160], [255], [256], "a\x{1F600}b",
             ["ab", "cd"], [[]], [[97]], [97, 98 | 99], [97 | <<>>], [97, [98]], [$a, -1], [$a, 1.0],
             [$a, a], lists:duplicate(100, $z), lists:seq(32, 126), lists:seq(160, 255)],
    Random = [random_chars(10) || _ <- lists:seq(1, 300)],
    Printable = [[lists:nth(rand:uniform(3), [$a, 233, 26085]) || _ <- lists:seq(1, rand:uniform(6))]
                 || _ <- lists:seq(1, 40)],
    Fixed ++ Random ++ Printable.

binaries() ->
    Fixed = [<<>>, <<1, 2, 3>>, <<"abc">>, <<"é"/utf8>>, <<"é">>, <<"日本"/utf8>>,
             <<"a\nb\tc\e">>, <<"\"quoted\"">>, <<"back\\">>, <<0>>, <<127>>, <<128>>, <<160>>,
             <<255>>, <<192, 128>>, <<237, 160, 128>>, <<244, 144, 128, 128>>, <<16#FFFE/utf8>>,
             <<16#FFFF/utf8>>, <<"\x{10FFFF}"/utf8>>, <<"\x{1F600}"/utf8>>, <<"é"/utf8, 1>>,
             <<"abc", 200>>, <<1:3>>, <<1, 2:4>>, <<255:7>>, <<0:1>>, <<"abc", 5:5>>,
             binary:copy(<<"é">>, 30), <<(binary:copy(<<"é">>, 29))/binary, 1>>,
             <<(binary:copy(<<"x">>, 25))/binary, 7, "y">>, binary:copy(<<"日"/utf8>>, 10),
             list_to_binary(lists:seq(0, 255))],
    Bytes = [crypto_free_bytes(rand:uniform(13) - 1) || _ <- lists:seq(1, 120)],
    Text = [unicode:characters_to_binary(random_chars(8)) || _ <- lists:seq(1, 120)],
    Latin1 = [list_to_binary([C || C <- random_chars(8), C < 256]) || _ <- lists:seq(1, 60)],
    Bits = [begin
                N = rand:uniform(40),
                <<X:N/bitstring, _/bitstring>> = crypto_free_bytes(6),
                X
            end || _ <- lists:seq(1, 60)],
    Fixed ++ Bytes ++ Text ++ Latin1 ++ Bits.

containers() ->
    Deep = lists:foldl(fun(_, Acc) -> {Acc} end, x, lists:seq(1, 60)),
    DeepList = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 60)),
    [{}, {a}, {[]}, {{}}, {a, b, c}, {1, "ab", <<"cd">>, 'E'}, [], [[]], [{}], [1, 2 | 3],
     [a | b], [[a] | [b]], {[1, 2 | 3], "x"}, Deep, DeepList,
     [{K, V} || {K, V} <- lists:zip(atoms_sample(10), lists:seq(1, 10))]] ++
        [random_term(4) || _ <- lists:seq(1, 150)].

atoms_sample(N) -> lists:sublist(atoms(), N).

%% A random term without numbers that would mix integers and floats as map keys (see maps/0).
random_term(0) -> random_leaf();
random_term(D) ->
    case rand:uniform(6) of
        1 -> list_to_tuple([random_term(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        2 -> [random_term(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)];
        3 -> random_map(D - 1, rand:uniform(6) - 1);
        4 -> [random_term(D - 1) | random_leaf()];
        _ -> random_leaf()
    end.

random_leaf() ->
    case rand:uniform(8) of
        1 -> rand:uniform(1000) - 500;
        2 -> list_to_atom(random_chars(4));
        3 -> random_chars(4);
        4 -> unicode:characters_to_binary(random_chars(4));
        5 -> crypto_free_bytes(rand:uniform(4) - 1);
        6 -> rand:uniform(1 bsl 80);
        7 -> [];
        8 -> {}
    end.

%% Map keys never mix integers with floats: OTP orders all integer keys before all float keys
%% (recursively inside compound keys), which is checked separately.
random_map(D, N) ->
    maps:from_list([{random_key(D), random_term(D)} || _ <- lists:seq(1, N)]).

random_key(0) -> random_leaf();
random_key(D) ->
    case rand:uniform(4) of
        1 -> {random_leaf(), random_leaf()};
        2 -> random_map(D - 1, rand:uniform(3));
        _ -> random_leaf()
    end.

maps() ->
    Big = maps:from_list([{I, I * I} || I <- lists:seq(1, 32)]),
    Mixed = maps:from_list(lists:zip(lists:sublist(atoms(), 12), lists:seq(1, 12)) ++
                               [{<<"bin">>, 1}, {"str", 2}, {{t, 1}, 3}, {[], 4}, {#{}, 5},
                                {self(), 6}, {7, 7}, {-300, 8}, {1 bsl 70, 9}]),
    [#{}, #{a => 1}, #{a => 1, "b" => [2]}, #{1.5 => a, -2.5 => b, 1.0e10 => c}, Big, Mixed,
     #{#{a => 1} => #{b => #{c => 2}}}, #{{} => [], [] => {}, <<>> => <<>>}] ++
        [random_map(3, rand:uniform(33) - 1) || _ <- lists:seq(1, 60)].

%% OTP 25 orders all integer map keys before all float keys, also inside compound keys.
mixed_number_keys() ->
    [#{1 => a, 1.0 => b, 2 => c, 1.5 => d}, #{{1} => a, {1.0} => b, {2} => c, {1.5} => d},
     #{(1 bsl 70) => a, 1.0e30 => b, 5 => c, -1.0 => d}, #{[1] => a, [1.0] => b, [2] => c}].

identifiers(Nodes) ->
    Local = [self(), list_to_pid("<0.0.0>"), list_to_pid("<0.32767.8191>"), make_ref(),
             hd(erlang:ports()), erlang:list_to_ref("#Ref<0.1.2.3>")],
    Remote = lists:append([[remote_pid(N, 5, 1), remote_port(N, 1 bsl 40), remote_ref(N, [1, 2, 3]),
                            remote_ref(N, [4, 5, 6, 7, 8])] || N <- Nodes]),
    Local ++ Remote ++ [{self(), make_ref()}, [hd(erlang:ports()) | self()]].

funs() ->
    X = rand:uniform(10),
    Names = ['a@b', 'B', 'é', 'ÿ', 'À', a_b1, '\n\t', '\x{80}\x{9f}\x{a0}', 'a b', 'a\'b', 'a\\b',
             '\001\177', '\x{100}', 'a\x{101}', 'if', maybe, '', 'Ä', 'ß', '÷', 'a÷', 'a×', '\e\d',
             '"', '日本', lists, map, 'foo@bar'],
    Exports = [erlang:make_fun(M, F, A) || M <- Names, F <- lists:sublist(Names, 5), A <- [0]] ++
              [erlang:make_fun(F, M, 255) || M <- Names, F <- [lists]],
    Crafted = [crafted_fun(M, I, U) || {M, I, U} <- [{foo, 3, 12345}, {'a b', 4, -5},
                                                   {'é', 5, 2147483647}, {'日本', 0, -2147483648},
                                                   {'A', 1, 1}, {'', 0, 0}]],
    [fun lists:map/2, fun erlang:'+'/2, fun(Y) -> Y + X end, fun() -> ok end] ++ Exports ++ Crafted.

%% ---- texts for erl_parse:parse_term ----

sources() ->
    ["1", "-1", "+1", "- 1", "-(1)", "-(-1)", "--1", "- - 1", "+-1", "$a", "-$a", "+$a", "$\\n",
     "$ ", "$\\s", "$\\x{1F600}", "$\\^A", "$\\777", "$é", "16#FF", "16#ff", "2#1010", "36#zz",
     "37#1", "1#1", "0#1", "016#F", "16#", "2#102", "1_000", "1__0", "1_", "16#F_F", "1_6#FF",
     "1.5", "1.0e10", "2.5E-3", "1_000.5", "1.0e+3", "1.e3", "1.0e", "1.0e+", "1.0ea", "1.0e1_0",
     "0.1e-400", "1.0e400", "1.0e308", "1.7976931348623159e308", "2.4703282292062328e-324",
     "123456789012345678901234567890", "-123456789012345678901234567890",
     "atom", "'Atom'", "'\\x{1F600}'", "'\\x41'", "'\\101'", "'\\^A'", "'\\'", "'a\\qb'",
     "'\\x{}'", "'\\x{D800}'", "'\\x{110000}'", "'\\x{FFFE}'", "'\\xZZ'", "'\\x4'", "é", "ÿ", "Ä",
     "a@b", "a.b", "'a.b'", "if", "'if'", "maybe", "else", "fun", "'fun'", "when",
     "\"ab\" \"cd\"", "\"a\\nb\\tc\\\\d\\\"e\"", "\"\\e\\d\\s\\z\"", "\"\"", "\"a\" \"\" \"b\"",
     "\"é日本\"", "\"multi\nline\"",
     "<<>>", "<<1,2,3>>", "<<\"abc\">>", "<<\"é\"/utf8>>", "<<\"é\">>", "<<\"日本\">>", "<<1:3>>",
     "<<300:16>>", "<<-1:8/signed>>", "<<-1>>", "<<- 1>>", "<<(-1)>>", "<<1.5/float>>",
     "<<1.5:32/float>>", "<<1.5:16/float>>", "<<1.5:16/float-little>>", "<<1:16/float>>",
     "<<1.0e300:32/float>>", "<<1.5:8/float>>", "<<1:64/float-little>>", "<<1:16/little>>",
     "<<16#ABC:12/little>>", "<<16#ABCDE:20/little-unsigned>>", "<<16#ABC:12/native>>",
     "<<\"abc\":16>>", "<<\"abc\":16/little>>", "<<\"é\"/utf16-little>>", "<<\"\\x{1F600}\"/utf16>>",
     "<<\"\\x{1F600}\"/utf32-little>>", "<<\"ab\"/float>>", "<<\"ab\"/binary>>", "<<\"\"/binary>>",
     "<<\"\"/utf8>>", "<<\"a\" \"b\">>", "<<<<1,2>>/binary, 3>>", "<<<<1:3>>/bits>>",
     "<<<<1:3>>/bitstring, 1:5>>", "<<<<1:3>>/binary>>", "<<<<1,2,3>>:2/binary>>",
     "<<<<1,2,3>>:4/binary>>", "<<<<1,2,3>>:1/binary-unit:16>>", "<<<<1,2>>:all/binary>>",
     "<<1:4/unit:2>>", "<<1/unit:2>>", "<<1:2/unit:256>>", "<<1:1/unit:257>>", "<<(1):(8)>>",
     "<<1:all>>", "<<1:(-8)>>", "<<1:8.0>>", "<<$a/utf8>>", "<<16#D800/utf8>>",
     "<<16#10FFFF/utf8>>", "<<16#110000/utf8>>", "<<-1/utf8>>", "<<1:8/utf8>>", "<<a>>", "<<[]>>",
     "<<{}>>", "<<1/integer-float>>", "<<1/big-little>>", "<<1/signed-unsigned>>",
     "<<1/signed-signed>>", "<<1/bytes>>", "<<1/bits-unit:1>>", "<<1/bytes-unit:1>>",
     "<<1/foo>>", "<<1/unit>>", "<<(1 bsl 100):101>>", "<<-12345678901234567890123:77/little>>",
     "<<123456789012345678901234567890:100/little>>", "<<7:0>>", "<<1,2,>>", "<<1 2>>",
     "<<1:8:8>>", "<<1/utf8:8>>", "<<X:8>>", "<<1:X>>", "<<1:$a>>", "<<\"\"/utf8-unit:8>>",
     "{}", "{a}", "{a,b}", "{a,}", "{,a}", "{a b}", "[]", "[a]", "[a|b]", "[a,b|c]", "[a|b|c]",
     "[a|]", "[|a]", "[a,]", "[1|-2]", "#{}", "#{a => 1}", "#{a := 1}", "#{a => 1, a => 2}",
     "#{a => 1,}", "#{a}", "# {a => 1}", "#{1 => a, 1.0 => b}", "#{{a} => [b]}",
     "#{a=>1}#{b=>2}", "fun m:f/2", "fun f/2", "fun 'M':'f'/0", "fun m:f/255", "fun m:f/256",
     "fun M:f/1", "fun m:f/A", "fun m : f / 1", "fun 'é':'日'/1", "fun() -> ok end",
     "X", "_", "_x", "1 + 2", "a = b", "-a", "-[1]", "(a)", "((a))", "((a)", "(a))", "()",
     "{(a),[(1)]}", "a.", "a. b", "a.%c", "1.", "[1,2", "[1,2]]", "\"unterminated",
     "'unterminated", "$", "$\\", "% comment\n a", "a % c", " \n a \t ", "", " ", "%only",
     "a b", "f()", "a:b", "<0.1.0>", "#Ref<0.1.2.3>", "a..b", "...", "§", "¡a", "×", "a\x{a0}b",
     "a\x{85}", "\x{1F600}", "'\x{1F600}'", "[$a|\"bc\"]", "'" ++ lists:duplicate(255, $x) ++ "'",
     "'" ++ lists:duplicate(256, $x) ++ "'", lists:duplicate(256, $x),
     lists:duplicate(200, $[) ++ lists:duplicate(200, $])].

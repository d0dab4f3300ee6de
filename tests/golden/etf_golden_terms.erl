%% Golden terms for tests/golden/etf_golden_test.cpp, run in a real erl (no distribution).
%%
%% Protocol on stdin/stdout (one line each, hex is upper case):
%%   erl prints  BEGIN
%%               <Index> <Name> <term_to_binary(T)> <term_to_binary(T,[compressed])>
%%                       <term_to_binary(T,[{minor_version,2}])>
%%                       <term_to_binary(T,[{minor_version,0}])>          (one line per term)
%%               END <Count>
%%   then reads  <Index> <Variant> <Hex>    bytes nodus encoded for term Index
%%   and answers <Index> <Variant> true|false|<Class>:<Reason>
%%               where true means binary_to_term(Bytes) =:= the original term,
%%   until it reads END, answers DONE and halts.
%% The terms stay in this process, so references, ports and funs compare with the originals.
-module(etf_golden_terms).
-export([main/0]).

main() ->
    ok = io:setopts(standard_io, [binary]),
    Cases = cases(),
    io:put_chars(<<"BEGIN\n">>),
    lists:foldl(fun({Name, T}, I) ->
                        io:put_chars([integer_to_binary(I), $\s, Name, $\s,
                                      hex(term_to_binary(T)), $\s,
                                      hex(term_to_binary(T, [compressed])), $\s,
                                      hex(term_to_binary(T, [{minor_version, 2}])), $\s,
                                      hex(term_to_binary(T, [{minor_version, 0}])), $\n]),
                        I + 1
                end, 1, Cases),
    io:put_chars([<<"END ">>, integer_to_binary(length(Cases)), $\n]),
    check(list_to_tuple([T || {_, T} <- Cases])),
    halt(0).

check(Terms) ->
    case io:get_line(standard_io, "") of
        <<"END\n">> ->
            io:put_chars(<<"DONE\n">>);
        Line when is_binary(Line) ->
            [IB, V, Hex] = binary:split(binary:part(Line, 0, byte_size(Line) - 1), <<" ">>, [global]),
            Result = try binary_to_term(binary:decode_hex(Hex)) =:= element(binary_to_integer(IB), Terms) of
                         true -> <<"true">>;
                         false -> <<"false">>
                     catch C:R -> iolist_to_binary(io_lib:format("~w:~w", [C, R]))
                     end,
            io:put_chars([IB, $\s, V, $\s, Result, $\n]),
            check(Terms);
        _Eof ->
            ok
    end.

hex(B) -> binary:encode_hex(B).

%% Names are single words: the test reports them.
cases() ->
    atoms() ++ integers() ++ floats() ++ binaries() ++ lists() ++ tuples() ++ maps()
        ++ identifiers() ++ funs() ++ compression() ++ mixed().

atoms() ->
    [{"atom_empty", ''},
     {"atom_ascii", hello},
     {"atom_nul", list_to_atom([0])},
     {"atom_255_ascii", list_to_atom(lists:duplicate(255, $a))},
     %% 255 characters of two UTF-8 bytes each, but all Latin-1: ATOM_EXT of 255 bytes in
     %% minor version 1, ATOM_UTF8_EXT of 510 bytes in minor version 2.
     {"atom_255_latin1", list_to_atom(lists:duplicate(255, 16#F6))},
     %% 256 UTF-8 bytes (the SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT boundary) needs multi-byte
     %% characters, atoms have at most 255 characters.
     {"atom_256_bytes_latin1", list_to_atom(lists:duplicate(128, 16#E9))},
     {"atom_256_bytes_greek", list_to_atom(lists:duplicate(128, 16#3BB))},
     {"atom_255_bytes_greek", list_to_atom(lists:duplicate(127, 16#3BB) ++ "a")},
     {"atom_255_cjk", list_to_atom(lists:duplicate(255, 16#65E5))},
     {"atom_255_emoji", list_to_atom(lists:duplicate(255, 16#1F600))},
     {"atom_unicode_mixed", list_to_atom([$a, 16#F1, 16#3BB, 16#65E5, 16#1F600])},
     {"atom_lambda", list_to_atom([16#3BB])},
     {"atom_latin1_one", list_to_atom([16#F6])},
     {"atoms_in_tuple", {ok, error, list_to_atom([16#3BB]), list_to_atom([16#F6]), ''}}].

integers() ->
    Bounds = [{"2p27", 1 bsl 27}, {"2p31", 1 bsl 31}, {"2p63", 1 bsl 63}, {"2p64", 1 bsl 64},
              {"2p59", 1 bsl 59}, {"2p60", 1 bsl 60}],
    Around = [{Sign ++ N ++ Off, S * (B + D)}
              || {N, B} <- Bounds, {Off, D} <- [{"_minus1", -1}, {"", 0}, {"_plus1", 1}],
                 {Sign, S} <- [{"int_", 1}, {"int_neg_", -1}]],
    [{"int_0", 0}, {"int_255", 255}, {"int_256", 256}, {"int_neg1", -1},
     {"int_neg255", -255}, {"int_neg256", -256}]
        ++ Around
        ++ [{"int_2p2040_minus1", (1 bsl 2040) - 1},   % 255 bytes: SMALL_BIG_EXT
            {"int_2p2040", 1 bsl 2040},                % 256 bytes: LARGE_BIG_EXT
            {"int_neg_2p2040", -(1 bsl 2040)},
            {"int_2p10000", 1 bsl 10000},
            {"int_neg_2p100000", -(1 bsl 100000)},
            {"int_big_pattern", binary:decode_unsigned(list_to_binary(lists:seq(1, 255)))}].

floats() ->
    <<NegZero/float>> = <<16#8000000000000000:64>>,  % -0.0 literals fold to 0.0 in OTP 25
    [{"float_zero", 0.0},
     {"float_neg_zero", NegZero},
     {"float_min_subnormal", 5.0e-324},
     {"float_max_subnormal", 2.2250738585072009e-308},
     {"float_min_normal", 2.2250738585072014e-308},
     {"float_max", 1.7976931348623157e308},
     {"float_neg_max", -1.7976931348623157e308},
     {"float_one", 1.0},
     {"float_tenth", 0.1},
     {"float_2p53", 9007199254740992.0},
     {"floats_in_list", [1.5, -2.25, NegZero, 1.0e300]}].

binaries() ->
    [{"bin_empty", <<>>},
     {"bin_small", <<"hello">>},
     {"bin_255", binary:copy(<<7>>, 255)},
     {"bin_256", binary:copy(<<8>>, 256)},
     {"bin_70000", list_to_binary([I rem 256 || I <- lists:seq(1, 70000)])}]
        ++ [{"bits_" ++ integer_to_list(N), <<16#5A, 16#FF:N>>} || N <- lists:seq(1, 7)]
        ++ [{"bits_only_1", <<1:1>>},
            {"bits_only_7", <<100:7>>},
            {"bits_multibyte", <<1, 2, 3, 4, 5, 6, 7, 8, 9:5>>},
            {"bits_300_bytes", <<(binary:copy(<<16#A5>>, 300))/binary, 3:3>>},
            {"bits_sub", binary:part(<<"0123456789">>, 2, 5)}].

lists() ->
    [{"nil", []},
     {"string_abc", "abc"},
     {"string_all_bytes", lists:seq(0, 255)},
     {"string_65535", [I rem 256 || I <- lists:seq(1, 65535)]},      % STRING_EXT
     {"string_65536", [I rem 256 || I <- lists:seq(1, 65536)]},      % LIST_EXT
     {"list_bytes_then_256", [1, 2, 256]},
     {"list_bytes_then_atom", [1, 2, a]},
     {"list_neg_byte", [$a, -1]},
     {"list_float_byte", [1.0]},
     {"list_unicode_chars", [16#3BB, 16#65E5]},
     {"list_nested_strings", ["ab", "", [[]], "c"]},
     {"improper_int_tail", [1 | 2]},
     {"improper_atoms", [a, b | c]},
     {"improper_bytes", [$a, $b | $c]},            % bytes, but not a string
     {"improper_binary_tail", [1, 2 | <<"t">>]},
     {"cons_onto_string", [$a | "bc"]},          % a proper string after all
     {"list_70000_mixed", [if I rem 3 =:= 0 -> I; true -> I rem 256 end || I <- lists:seq(1, 70000)]},
     {"list_deep_1000", lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 1000))}].

tuples() ->
    [{"tuple_0", {}},
     {"tuple_1", {a}},
     {"tuple_255", list_to_tuple(lists:seq(1, 255))},
     {"tuple_256", list_to_tuple(lists:seq(1, 256))},
     {"tuple_70000", list_to_tuple([I * 7 || I <- lists:seq(1, 70000)])},
     {"tuple_deep_1000", lists:foldl(fun(I, Acc) -> {I, Acc} end, {}, lists:seq(1, 1000))}].

maps() ->
    Keys32 = maps:from_list([{K, K * 2} || K <- lists:seq(1, 32)]),
    Mixed = maps:from_list([{{tuple, K}, K} || K <- lists:seq(1, 20)]
                           ++ [{integer_to_binary(K), K} || K <- lists:seq(1, 20)]
                           ++ [{#{K => K}, K} || K <- lists:seq(1, 10)]
                           ++ [{K, K} || K <- lists:seq(1, 10)]
                           ++ [{float(K), K} || K <- lists:seq(1, 10)]
                           ++ [{list_to_atom("k" ++ integer_to_list(K)), K} || K <- lists:seq(1, 10)]),
    [{"map_empty", #{}},
     {"map_atoms", #{a => 1, b => 2}},
     {"map_int_float_equal_keys", #{1 => a, 1.0 => b}},
     %% map key order puts every integer before every float, whatever their values
     {"map_int_float_keys_many", #{0 => z, 0.0 => zf, -1 => m, -1.0 => mf, 2.5 => x, 1 bsl 70 => big}},
     {"map_int_float_nested_keys", #{[2] => a, [1.0] => b, {1, 2.0} => c, {1.0, 1} => d, #{1 => x} => e,
                                     #{0.5 => x} => f}},
     {"map_nested_keys", #{{1, 2} => tuple, <<"bin">> => binary, #{k => v} => map, [1, 2] => list,
                           a => #{nested => #{deep => [1]}}, 3 => <<>>}},
     {"map_32_keys", Keys32},
     {"map_32_keys_nested", #{outer => Keys32, Keys32 => inner}},
     %% more than 32 keys: a hash map in OTP, written in hash order
     {"hashmap_33_keys", maps:from_list([{K, K} || K <- lists:seq(1, 33)])},
     {"hashmap_mixed_keys", Mixed},
     {"hashmap_in_tuple", {x, Mixed, Keys32}}].

%% Identifiers of another node, built from hand-written external bytes with extreme values.
identifiers() ->
    Other = atom_bytes(<<"other@host">>),
    Unicode = atom_bytes(<<"λ@höst"/utf8>>),
    Latin1 = atom_bytes(<<"ñode@höst"/utf8>>),
    Pid = fun(N, Id, Ser, Cre) -> binary_to_term(<<131, 88, N/binary, Id:32, Ser:32, Cre:32>>) end,
    Ref = fun(N, Cre, Words) ->
                  binary_to_term(<<131, 90, (length(Words)):16, N/binary, Cre:32,
                                   (<< <<W:32>> || W <- Words >>)/binary>>)
          end,
    Port = fun(N, Id, Cre) -> binary_to_term(<<131, 89, N/binary, Id:32, Cre:32>>) end,
    Port4 = fun(N, Id, Cre) -> binary_to_term(<<131, 120, N/binary, Id:64, Cre:32>>) end,
    Max = 16#FFFFFFFF,
    [{"pid_max", Pid(Other, Max, Max, Max)},
     {"pid_small", Pid(Other, 1, 0, 1)},
     {"pid_unicode_node", Pid(Unicode, 5, 6, 7)},
     {"pid_latin1_node", Pid(Latin1, 5, 6, 16#80000000)},
     {"pid_old_pid_ext", binary_to_term(<<131, 103, Other/binary, 9:32, 1:32, 3>>)},
     {"ref_1_word", Ref(Other, Max, [Max])},
     {"ref_3_words", Ref(Other, Max, [1, 2, Max])},
     {"ref_5_words", Ref(Other, Max, [Max, 1, 2, 3, Max])},
     {"ref_unicode_node", Ref(Unicode, 1, [1, 2, 3])},
     {"port_v3_max", Port(Other, 16#FFFFFFF, Max)},
     {"port_above_v3", Port(Other, 16#10000000, Max)},   % OTP 25 writes V4_PORT_EXT from here
     {"port_32bit_max", Port(Other, Max, Max)},
     {"port_v4_max", Port4(Other, 16#FFFFFFFFFFFFFFFF, Max)},
     {"port_v4_small", Port4(Other, 5, 1)},
     {"port_latin1_node", Port(Latin1, 1, 2)},
     {"self", self()},
     {"make_ref", make_ref()},
     {"local_port", hd(erlang:ports())},
     {"identifiers_in_map", #{Pid(Other, 1, 2, 3) => Ref(Other, 4, [5, 6, 7]), Port(Other, 8, 9) => pid}}].

atom_bytes(Utf8) -> <<119, (byte_size(Utf8)), Utf8/binary>>.

funs() ->
    X = 42,
    Y = {captured, [1, 2, 3], <<"bin">>},
    Compiled = fun(A) -> {A, X, Y} end,
    {ok, Tokens, _} = erl_scan:string("fun(A, B) -> {A + B, X, Y} end."),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    Bindings = erl_eval:add_binding('Y', Y, erl_eval:add_binding('X', X, erl_eval:new_bindings())),
    {value, Evaluated, _} = erl_eval:exprs(Exprs, Bindings),
    [{"export_lists_map", fun lists:map/2},
     {"export_erlang_plus", fun erlang:'+'/2},
     {"export_unicode", fun 'λ':'日本'/0},
     {"fun_no_env", fun() -> ok end},
     {"fun_compiled_env", Compiled},
     {"fun_erl_eval_env", Evaluated},
     {"funs_in_list", [Compiled, Evaluated, fun lists:map/2]}].

%% Terms whose compressed form is exactly as large as the plain one: OTP keeps the
%% compressed form then (the compressed stream may use up to the plain size minus 5 bytes).
%% One below 64 bytes (term_to_binary's one-shot path), one above (its chunked path).
compression() ->
    Pattern = fun(K, M) -> <<(<< <<((I * 7919 + 13) rem 251)>> || I <- lists:seq(1, K) >>)/binary, 0:(M * 8)>> end,
    [{"compress_equal_size_small", Pattern(1, 15)},
     {"compress_one_short_small", Pattern(1, 14)},
     {"compress_equal_size_large", Pattern(70, 19)},
     {"compress_one_short_large", Pattern(70, 18)},
     {"compress_repetitive", lists:duplicate(1000, hello)},
     {"compress_tiny", a}].

mixed() ->
    [{"mixed_everything", {[1, 2.5, <<"b">>, <<1:3>>, "str", [a | b]],
                           #{k => {1 bsl 70, -1, list_to_atom([16#3BB])}},
                           self(), fun lists:map/2, {}, [], #{}}}].

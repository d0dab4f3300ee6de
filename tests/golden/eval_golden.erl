%% Driver for tests/golden/eval_golden_test.cpp: what a real erl (OTP 25) says about the corpora
%% of tests/golden/eval_*_corpus.txt. Each output line is "<kind> <index> <fields...>" with
%% binary fields in hex (term_to_binary or text), ended by "END <count>".
-module(eval_golden).
-export([parse/1, values/1, shell_errors/1]).

entries(File) ->
    {ok, Bin} = file:read_file(File),
    Lines = string:split(binary_to_list(Bin), "\n", all),
    split_entries(Lines, [], [], skip).

%% The text before the first separator is a comment.
split_entries([], Cur, Acc, Mode) ->
    lists:reverse(add_entry(Cur, Acc, Mode));
split_entries(["%%--" | Rest], Cur, Acc, Mode) ->
    split_entries(Rest, [], add_entry(Cur, Acc, Mode), keep);
split_entries([L | Rest], Cur, Acc, Mode) ->
    split_entries(Rest, [L | Cur], Acc, Mode).

add_entry(_Cur, Acc, skip) -> Acc;
add_entry(Cur, Acc, keep) ->
    Text = string:trim(lists:flatten(lists:join("\n", lists:reverse(Cur))), trailing, "\n"),
    [Text | Acc].

hex(Bin) when is_binary(Bin) -> [io_lib:format("~2.16.0B", [B]) || <<B>> <= Bin];
hex(Chars) -> hex(unicode:characters_to_binary(Chars)).

out(Kind, I, Fields) ->
    io:put_chars([Kind, " ", integer_to_list(I), [[" ", F] || F <- Fields], "\n"]).

%% P Index Mode Hex(term_to_binary(Result)): Result is {ok, Exprs} or {error, Location, Message}.
parse(File) ->
    Es = entries(File),
    lists:foldl(fun(Text, I) ->
                        [out("P", I, [atom_to_list(Mode), hex(term_to_binary(parse_one(Text, Mode)))])
                         || Mode <- [line, column]],
                        I + 1
                end, 0, Es),
    io:put_chars(["END ", integer_to_list(length(Es)), "\n"]),
    halt(0).

parse_one(Text, Mode) ->
    Start = case Mode of line -> 1; column -> {1, 1} end,
    case erl_scan:string(Text, Start) of
        {ok, Tokens, _} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> {ok, Exprs};
                {error, {Loc, M, Msg}} -> {error, Loc, lists:flatten(M:format_error(Msg))}
            end;
        {error, {Loc, M, Msg}, _} ->
            {scan_error, Loc, lists:flatten(M:format_error(Msg))}
    end.

%% V Index Hex(term_to_binary(Result)): the value of each expression as erl_eval gives it,
%% {value, V} or {Class, Reason}, evaluated in a fresh process each (no bindings).
values(File) ->
    Es = entries(File),
    lists:foldl(fun(Text, I) ->
                        out("V", I, [hex(term_to_binary(value_of(Text)))]),
                        I + 1
                end, 0, Es),
    io:put_chars(["END ", integer_to_list(length(Es)), "\n"]),
    halt(0).

value_of(Text) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() ->
        {ok, Tokens, _} = erl_scan:string(Text),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        R = try erl_eval:exprs(Exprs, []) of
                {value, V, _} -> {value, V}
            catch C:Reason -> {C, Reason}
            end,
        Self ! {self(), R}
    end),
    receive
        {Pid, R} -> erlang:demonitor(Ref, [flush]), R;
        {'DOWN', Ref, _, _, Why} -> {crashed, Why}
    end.

%% S Index Hex(Text): the shell's report of the exception each expression raises (as
%% shell:report_exception/4 prints it, through erl_error:format_exception/7), or the value.
shell_errors(File) ->
    Es = entries(File),
    lists:foldl(fun(Text, I) ->
                        out("S", I, [hex(shell_text(Text))]),
                        I + 1
                end, 0, Es),
    io:put_chars(["END ", integer_to_list(length(Es)), "\n"]),
    halt(0).

shell_text(Text) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() ->
        {ok, Tokens, _} = erl_scan:string(Text),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        R = try erl_eval:exprs(Exprs, []) of
                {value, V, _} -> io_lib:format("~tp", [V])
            catch C:Reason:Stack ->
                Tag = "** ",
                SF = fun(M, _F, _A) -> (M =:= erl_eval) or (M =:= shell) or (M =:= ?MODULE) end,
                PF = fun(T, I1) -> io_lib_pretty:print(T, [{column, I1}, {line_length, 80},
                                                          {depth, -1}, {encoding, unicode}]) end,
                [Tag, erl_error:format_exception(length(Tag) + 1, C, Reason, Stack, SF, PF, unicode)]
            end,
        Self ! {self(), unicode:characters_to_binary(R)}
    end),
    receive
        {Pid, R} -> erlang:demonitor(Ref, [flush]), R;
        {'DOWN', Ref, _, _, Why} -> unicode:characters_to_binary(io_lib:format("crashed ~p", [Why]))
    end.

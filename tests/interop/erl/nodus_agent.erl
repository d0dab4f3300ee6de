%% A test agent running in a real erl node: evaluates Erlang expressions sent by a test over
%% distribution and answers with the result, so that tests can make the erl node act (send,
%% link, monitor, spawn, ping ...) and observe what it saw.
%%
%% Request: {eval, From, Ref, Source, Bindings}  (Source: Erlang expressions ending with ".";
%%          Bindings: [{'Var', Value}] bound before evaluation, e.g. pids from the test)
%% Answer:  From ! {Ref, {ok, Value}} | {Ref, {error, Class, Reason}}
%% Expressions run in a fresh process (so blocking receives do not hold up the agent); the
%% variable Self is bound to the agent's pid and Inbox to a process that collects messages.
-module(nodus_agent).
-export([start/0, collector/1]).

start() ->
    register(agent, self()),
    Inbox = spawn(?MODULE, collector, [[]]),
    register(inbox, Inbox),
    io:format("ready ~s~n", [node()]),
    loop().

loop() ->
    receive
        {eval, From, Ref, Source, Bindings} ->
            spawn(fun() -> From ! {Ref, eval(Source, Bindings)} end),
            loop();
        _ ->
            loop()
    end.

eval(Source, Given) ->
    try
        {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Source)),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        Bindings = lists:foldl(fun({K, V}, B) -> erl_eval:add_binding(K, V, B) end,
                               erl_eval:add_binding('Inbox', whereis(inbox), erl_eval:new_bindings()),
                               Given),
        {value, V, _} = erl_eval:exprs(Exprs, Bindings),
        {ok, V}
    catch
        Class:Reason -> {error, Class, Reason}
    end.

%% Collects every message; {take, From, Ref} answers with them (oldest first) and forgets them.
collector(Acc) ->
    receive
        {take, From, Ref} -> From ! {Ref, lists:reverse(Acc)}, collector([]);
        M -> collector([M | Acc])
    end.

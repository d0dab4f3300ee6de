%% Two real erl nodes for tests/golden/dist_golden_test.cpp. Node b runs b/0; node a runs a/1
%% against b through the test's TCP relay, which records every byte of the connection. a sends
%% one of each control message OTP 25 produces (and b answers with others), so the recording is
%% real OTP distribution traffic: atom cache headers, fragments, every common operation.
%%
%% Protocol on stdout: b prints "B READY"; a prints "SENT <Name> <Hex>" for each message whose
%% payload the test checks byte for byte (Hex = term_to_binary(Msg, [{minor_version, 2}])), and
%% "A DONE" at the end (or "A FAILED <Reason>"), then halts; b halts when a is gone.
-module(dist_golden_nodes).
-export([b/0, a/1]).

b() ->
    Sink = spawn(fun() -> process_flag(trap_exit, true), sink() end),
    true = register(sink, Sink),
    %% a is hidden (-dist_listen false implies -hidden): watch every node type.
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    io:format("B READY~n"),
    %% Done when a goes away (it halts after its last line).
    receive {nodedown, _, _} -> halt() after 120000 -> halt(3) end.

sink() ->
    receive
        {reply_to_alias, Alias} -> Alias ! {alias_reply, self()};
        {echo, From, Msg} -> From ! {echoed, Msg};
        {traced, From} -> From ! traced_ack;
        _ -> ok
    end,
    sink().

a(B) ->
    T0 = erlang:monotonic_time(millisecond),
    try run(B) of
        ok ->
            io:format("A TOOK ~b ms~n", [erlang:monotonic_time(millisecond) - T0]),
            io:format("A DONE~n")
    catch
        C:R:S -> io:format("A FAILED ~0p~n", [{C, R, S}])
    end,
    halt().

run(B) ->
    {ok, Sink} = wait_for(B, 600),
    Small = {small, self(), [1, 2, 3], <<"bin">>, 'héllo', #{key => 1.5}},
    {sink, B} ! Small,
    sent(small, Small),
    Big = {big, self(), binary:copy(<<"nodus">>, 40000)},
    {sink, B} ! Big,
    sent(big, Big),
    Sink ! {echo, self(), direct},
    receive {echoed, direct} -> ok after 10000 -> exit(no_echo) end,
    true = link(Sink),
    true = unlink(Sink),
    R1 = monitor(process, Sink),
    true = demonitor(R1),
    R2 = monitor(process, {sink, B}),
    true = demonitor(R2),
    R3 = monitor(process, {no_such_name, B}),
    receive {'DOWN', R3, process, _, noproc} -> ok after 10000 -> exit(no_noproc) end,
    true = group_leader(group_leader(), Sink),
    true = exit(Sink, please_ignore),
    Alias = alias(),
    Sink ! {reply_to_alias, Alias},
    receive {alias_reply, _} -> ok after 10000 -> exit(no_alias_reply) end,
    process_flag(trap_exit, true),
    {P1, M1} = spawn_monitor(B, erlang, exit, [monitored_exit]),
    receive {'DOWN', M1, process, P1, monitored_exit} -> ok after 10000 -> exit(no_down) end,
    P2 = spawn_link(B, erlang, exit, [linked_exit]),
    receive {'EXIT', P2, linked_exit} -> ok after 10000 -> exit(no_link_exit) end,
    BigReason = {big_reason, binary:copy(<<"r">>, 100000)},
    P3 = spawn_link(B, erlang, exit, [BigReason]),
    receive {'EXIT', P3, BigReason} -> ok after 10000 -> exit(no_big_exit) end,
    %% With a seq_trace token: the _TT forms (b's processes inherit the token with our messages).
    seq_trace:set_token(label, 17),
    Sink ! {traced, self()},
    receive traced_ack -> ok after 10000 -> exit(no_traced_ack) end,
    {sink, B} ! {traced_reg, self()},
    Alias2 = alias(),
    Sink ! {reply_to_alias, Alias2},
    receive {alias_reply, _} -> ok after 10000 -> exit(no_traced_alias_reply) end,
    true = exit(Sink, traced_ignore),
    P4 = spawn_link(B, erlang, exit, [traced_linked_exit]),
    receive {'EXIT', P4, traced_linked_exit} -> ok after 10000 -> exit(no_traced_link_exit) end,
    seq_trace:set_token([]),
    %% Everything above has reached b (signals are ordered) once this call returns.
    true = rpc:call(B, erlang, garbage_collect, [Sink]),
    ok.

%% b starts at the same time as a: ping until it answers and its sink is registered.
wait_for(_, 0) -> b_not_ready;
wait_for(B, N) ->
    case net_adm:ping(B) =:= pong andalso rpc:call(B, erlang, whereis, [sink]) of
        Sink when is_pid(Sink) -> {ok, Sink};
        _ -> timer:sleep(100), wait_for(B, N - 1)
    end.

sent(Name, Msg) ->
    io:format("SENT ~s ~s~n", [Name, binary:encode_hex(term_to_binary(Msg, [{minor_version, 2}]))]).

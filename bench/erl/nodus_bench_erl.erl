%% The BEAM side of `bench/run`: the same work as the C++ driver (bench/*.cpp), timed here and
%% printed as one JSON object per line on stdout, "system":"erlang" (docs: design/bench.md).
%%
%% The driver compiles this module into a temporary directory and runs
%%     erl -noshell -pa DIR -run nodus_bench_erl main BENCH ARG...
%% Lines that start with '{' are results; anything on stderr is passed through. The exit status is
%% 0 on success and 1 on any error (the error is printed on stderr).
%%
%% Adding a benchmark: a clause of run/2 that does the work and calls emit/5 for each metric
%% with exactly the params the C++ side reports for the same metric. Either print everything and
%% return (erl_runner::run on the C++ side), or call serve/1 so that the driver can interleave the
%% two sides' measurements (erl_session on the C++ side).
-module(nodus_bench_erl).
-export([main/1]).

main([Bench | Args]) ->
    Status =
        try
            run(Bench, Args),
            0
        catch
            Class:Reason:Stack ->
                io:format(standard_error, "nodus_bench_erl ~s: ~p:~p~n~p~n", [Bench, Class, Reason, Stack]),
                1
        end,
    halt(Status);
main([]) ->
    io:format(standard_error, "usage: nodus_bench_erl main BENCH ARG...~n", []),
    halt(1).

%% ---- benchmarks -------------------------------------------------------------------------------

%% etf DIR REPS: writes every mix to DIR (see etf_write/2) so that nodus decodes exactly these
%% bytes, then serves "measure MIX encode|decode": times term_to_binary/1 or binary_to_term/1
%% over that mix.
run("etf", [Dir, Reps0]) ->
    Reps = list_to_integer(Reps0),
    Mixes = etf_mixes(),
    ok = etf_write(Dir, Mixes),
    serve(fun(["measure", Name, Op]) ->
                  {Name, Rounds, Terms} = lists:keyfind(Name, 1, Mixes),
                  etf_measure(Name, Rounds, Terms, list_to_existing_atom(Op), Reps)
          end);
run("spawn", [N0]) ->
    N = list_to_integer(N0),
    Self = self(),
    R0 = rss_kb(),
    T0 = erlang:monotonic_time(nanosecond),
    spawn(fun() -> spawn_waiters(N), Self ! spawned end),
    receive spawned -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    R1 = settle_rss(),
    P = [{n, N}, {threads, erlang:system_info(schedulers_online)}],
    emit("spawn", "us_per_spawn", (T1 - T0) / 1000 / N, "us", P),
    emit("spawn", "bytes_per_process", (R1 - R0) * 1024 / N, "B", P);
run("pingpong", [N0]) ->
    N = list_to_integer(N0),
    Self = self(),
    Pong = spawn(fun pong/0),
    T0 = erlang:monotonic_time(nanosecond),
    spawn(fun() -> ping(Pong, 0, N), Self ! done end),
    receive done -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    emit("pingpong", "round_trips_per_s", N / ((T1 - T0) / 1.0e9), "round trips/s",
         [{round_trips, N}, {threads, erlang:system_info(schedulers_online)}]);
run("ring", [N0, H0]) ->
    N = list_to_integer(N0),
    Hops = list_to_integer(H0),
    Self = self(),
    Ring = [spawn(fun() -> ring_node(Self) end) || _ <- lists:seq(1, N)],
    Next = tl(Ring) ++ [hd(Ring)],
    [P ! {next, Q} || {P, Q} <- lists:zip(Ring, Next)],
    T0 = erlang:monotonic_time(nanosecond),
    hd(Ring) ! {token, Hops},
    receive done -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    emit("ring", "hops_per_s", Hops / ((T1 - T0) / 1.0e9), "hops/s",
         [{processes, N}, {hops, Hops}, {threads, erlang:system_info(schedulers_online)}]);
run("fanin", [S0, M0]) ->
    Senders = list_to_integer(S0),
    Total = list_to_integer(M0),
    Self = self(),
    Receiver = spawn(fun() -> fan_receive(Total), Self ! done end),
    T0 = erlang:monotonic_time(nanosecond),
    Each = Total div Senders,
    [spawn(fun() -> fan_send(Receiver, Each) end) || _ <- lists:seq(1, Senders)],
    receive done -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    emit("fanin", "msgs_per_s", Total / ((T1 - T0) / 1.0e9), "msgs/s",
         [{senders, Senders}, {messages, Total}, {threads, erlang:system_info(schedulers_online)}]);
run("timers", [N0, A0]) ->
    N = list_to_integer(N0),
    After = list_to_integer(A0),
    Self = self(),
    R0 = rss_kb(),
    T0 = erlang:monotonic_time(nanosecond),
    Collector = spawn(fun() -> collect(N), Self ! all_fired end),
    spawn(fun() -> [spawn(fun() -> receive never -> ok after After -> Collector ! fired end end)
                    || _ <- lists:seq(1, N)],
                   Self ! armed end),
    receive armed -> ok end,
    R1 = rss_kb(),
    receive all_fired -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    P = [{n, N}, {after_ms, After}, {threads, erlang:system_info(schedulers_online)}],
    emit("timers", "us_per_timer", ((T1 - T0) / 1.0e9 - After / 1000) * 1.0e6 / N, "us", P),
    emit("timers", "bytes_per_timer", (R1 - R0) * 1024 / N, "B", P);
%% Distribution benchmarks (bench/dist.cpp). This node was started by the driver with -sname and
%% -setcookie on the driver's private port mapper.
%%
%% dist_server: node B. Registers nodus_bench_sink (counts messages), nodus_bench_bulk (the same,
%% for large binaries) and nodus_bench_echo, prints "ready" and waits for "quit".
run("dist_server", []) ->
    register(nodus_bench_sink, spawn(fun counter_idle/0)),
    register(nodus_bench_bulk, spawn(fun counter_idle/0)),
    register(nodus_bench_echo, spawn(fun echo/0)),
    serve(fun(_) -> ok end);
%% dist_client: node A. Serves "measure BENCH PEER PAIR ARG..." (see dist_measure/4).
run("dist_client", []) ->
    serve(fun(["measure", Bench, Peer, Pair | Args]) ->
                  dist_measure(Bench, list_to_atom(Peer), Pair, [list_to_integer(A) || A <- Args])
          end);
%% mesh_node: one of N nodes (bench/dist.cpp run_mesh). "mesh FIRST N" connects to FIRST (unless
%% it is this node), waits until nodes() lists N - 1 others and prints the wall clock time (us).
run("mesh_node", []) ->
    serve(fun(["mesh", First, N]) -> mesh(list_to_atom(First), list_to_integer(N)) end);
run(Bench, Args) ->
    error({unknown_benchmark, Bench, Args}).

mesh(First, N) ->
    First =:= node() orelse net_kernel:connect_node(First),
    Deadline = erlang:monotonic_time(millisecond) + 60000,
    mesh_wait(N - 1, Deadline).

mesh_wait(Want, Deadline) ->
    case length(nodes()) >= Want of
        true ->
            emit("mesh", "meshed_at", os:system_time(microsecond), "us", [{nodes, Want + 1}]);
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> io:format(standard_error, "mesh: ~p of ~p nodes after 60 s~n", [length(nodes()), Want]);
                false -> timer:sleep(1), mesh_wait(Want, Deadline)
            end
    end.

%% ---- distribution ---------------------------------------------------------------------------------

%% A counter (node B): {start, From, N} -> From ! {ready, self()}; after N more messages of any
%% kind From ! {done, N}; 60 s without a message -> From ! {timeout, Seen}. Stray messages
%% while idle are dropped.
counter_idle() ->
    receive
        {start, From, N} -> From ! {ready, self()}, counter(From, N, 0);
        _ -> counter_idle()
    end.

counter(From, N, N) -> From ! {done, N}, counter_idle();
counter(From, N, Seen) ->
    receive _ -> counter(From, N, Seen + 1)
    after 60000 -> From ! {timeout, Seen}, counter_idle()
    end.

echo() ->
    receive
        {ping, From, I} -> From ! {pong, I};
        {hello, From} -> From ! {hello, self()};
        _ -> ok
    end,
    echo().

dist_connect(Peer) ->
    case net_kernel:connect_node(Peer) of
        true -> ok;
        Other -> error({cannot_connect, Peer, Other})
    end.

echo_pid(Peer) ->
    {nodus_bench_echo, Peer} ! {hello, self()},
    receive {hello, Pid} when is_pid(Pid) -> Pid after 10000 -> error({no_echo, Peer}) end.

%% Bytes 0..255 repeated (the same binary the C++ side builds).
pattern_binary(Size) ->
    B = binary:copy(list_to_binary(lists:seq(0, 255)), Size div 256),
    <<B/binary, (binary:part(list_to_binary(lists:seq(0, 255)), 0, Size rem 256))/binary>>.

%% remote_throughput SENDERS TOTAL: TOTAL {msg, I, <<32 bytes>>} to {nodus_bench_sink, Peer}
%% from SENDERS processes, one reply at the end (10,000 untimed first).
dist_measure("remote_throughput", Peer, Pair, [Senders, Total]) ->
    dist_connect(Peer),
    Sink = {nodus_bench_sink, Peer},
    Payload = binary:copy(<<"0123456789abcdef">>, 2),
    _ = tp_run(Sink, Senders, 10000, Payload),
    Secs = tp_run(Sink, Senders, Total, Payload),
    emit("remote_throughput", "msgs_per_s", Total / Secs, "msgs/s",
         [{pair, Pair}, {senders, Senders}, {messages, Total}, {payload_bytes, 32}]);
%% remote_latency WARM N: sequential {ping, Self, I} / {pong, I} with the echo process's pid.
dist_measure("remote_latency", Peer, Pair, [Warm, N]) ->
    dist_connect(Peer),
    Echo = echo_pid(Peer),
    _ = rtt_loop(Echo, 0, Warm, []),
    T0 = erlang:monotonic_time(nanosecond),
    Us = rtt_loop(Echo, 0, N, []),
    T1 = erlang:monotonic_time(nanosecond),
    P = [{pair, Pair}, {round_trips, N}, {warmup, Warm}],
    emit_percentiles("remote_latency", Us, [p50, p99, 'p99.9', max], P),
    emit("remote_latency", "round_trips_per_s", N / ((T1 - T0) / 1.0e9), "round trips/s", P);
%% large_msg SIZE COUNT: COUNT binaries of SIZE bytes to {nodus_bench_bulk, Peer}, one reply
%% at the end (one untimed first).
dist_measure("large_msg", Peer, Pair, [Size, Count]) ->
    dist_connect(Peer),
    Bin = pattern_binary(Size),
    Bulk = {nodus_bench_bulk, Peer},
    _ = bulk_run(Bulk, 1, Bin, fun() -> ok end),
    Secs = bulk_run(Bulk, Count, Bin, fun() -> ok end),
    emit("large_msg", "throughput", Size * Count / Secs / 1.0e6, "MB/s",
         [{pair, Pair}, {bytes, Size}, {count, Count}]);
%% hol_latency SIZE COUNT MAX: round trips to the echo process (as remote_latency) while COUNT
%% binaries of SIZE bytes go to {nodus_bench_bulk, Peer}, from the first bulk send until the
%% bulk reply (at most MAX round trips).
dist_measure("hol_latency", Peer, Pair, [Size, Count, Max]) ->
    dist_connect(Peer),
    Echo = echo_pid(Peer),
    Bin = pattern_binary(Size),
    Bulk = {nodus_bench_bulk, Peer},
    _ = rtt_loop(Echo, 0, 1000, []),
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + 120000,
    Lat = spawn_link(fun() ->
                             receive go -> ok after 30000 -> error(no_go) end,
                             Self ! {samples, hol_loop(Echo, 0, Max, Deadline, [])}
                     end),
    _ = spawn_link(fun() -> Self ! {bulk_secs, bulk_run(Bulk, Count, Bin, fun() -> Lat ! go end)}, Lat ! stop end),
    Us = receive {samples, S} -> S after 180000 -> error(hol_timeout) end,
    receive {bulk_secs, _} -> ok after 180000 -> error(bulk_timeout) end,
    io:format(standard_error, "hol_latency ~s: ~b round trips during the bulk transfer~n", [Pair, length(Us)]),
    emit_percentiles("hol_latency", Us, [p50, p99, 'p99.9'],
                     [{pair, Pair}, {bulk_bytes, Size}, {bulk_count, Count}]).

tp_run(Sink, Senders, Total, Payload) ->
    Sink ! {start, self(), Total},
    receive {ready, _} -> ok after 10000 -> error(sink_not_ready) end,
    T0 = erlang:monotonic_time(nanosecond),
    Each = Total div Senders,
    [spawn_link(fun() -> tp_send(Sink, I * Each, (I + 1) * Each, Payload) end) || I <- lists:seq(0, Senders - 1)],
    receive
        {done, Total} -> ok;
        {timeout, Seen} -> error({sink_timeout, Seen})
    after 120000 -> error(throughput_timeout)
    end,
    T1 = erlang:monotonic_time(nanosecond),
    (T1 - T0) / 1.0e9.

tp_send(_, End, End, _) -> ok;
tp_send(Sink, I, End, Payload) ->
    Sink ! {msg, I, Payload},
    tp_send(Sink, I + 1, End, Payload).

%% Round trip times in microseconds (a list, newest first).
rtt_loop(_, N, N, Acc) -> Acc;
rtt_loop(Echo, I, N, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! {ping, self(), I},
    receive {pong, I} -> ok after 10000 -> error({no_pong, I}) end,
    T1 = erlang:monotonic_time(nanosecond),
    rtt_loop(Echo, I + 1, N, [(T1 - T0) / 1000 | Acc]).

hol_loop(Echo, I, Max, Deadline, Acc) ->
    receive
        stop -> Acc
    after 0 ->
        case I >= Max orelse erlang:monotonic_time(millisecond) > Deadline of
            true -> Acc;
            false ->
                T0 = erlang:monotonic_time(nanosecond),
                Echo ! {ping, self(), I},
                receive {pong, I} -> ok after 10000 -> error({no_pong, I}) end,
                T1 = erlang:monotonic_time(nanosecond),
                hol_loop(Echo, I + 1, Max, Deadline, [(T1 - T0) / 1000 | Acc])
        end
    end.

%% Sends Count x Bin to the bulk counter after its ready (calling Started first); returns the
%% seconds from the first send to the reply.
bulk_run(Bulk, Count, Bin, Started) ->
    Bulk ! {start, self(), Count},
    receive {ready, _} -> ok after 10000 -> error(bulk_not_ready) end,
    Started(),
    T0 = erlang:monotonic_time(nanosecond),
    [Bulk ! {bulk, I, Bin} || I <- lists:seq(1, Count)],
    receive
        {done, Count} -> ok;
        {timeout, Seen} -> error({bulk_sink_timeout, Seen})
    after 120000 -> error(bulk_timeout)
    end,
    T1 = erlang:monotonic_time(nanosecond),
    (T1 - T0) / 1.0e9.

%% p50, p99, p99.9 (the sample at rank ceil(Q * N)) and max, in microseconds.
emit_percentiles(_Bench, [], _Which, _P) ->
    error(no_samples);
emit_percentiles(Bench, Samples, Which, P) ->
    Sorted = list_to_tuple(lists:sort(Samples)),
    N = tuple_size(Sorted),
    Q = fun(F) -> element(max(1, min(N, ceil(F * N))), Sorted) end,
    [emit(Bench, atom_to_list(W), case W of
                                      p50 -> Q(0.5);
                                      p99 -> Q(0.99);
                                      'p99.9' -> Q(0.999);
                                      max -> element(N, Sorted)
                                  end, "us", P)
     || W <- Which],
    ok.

%% ---- process runtime ----------------------------------------------------------------------------

spawn_waiters(0) -> ok;
spawn_waiters(N) ->
    spawn(fun() -> receive never -> ok end end),
    spawn_waiters(N - 1).

pong() ->
    receive {ping, From, I} -> From ! {pong, I}, pong() end.

ping(_, N, N) -> ok;
ping(Pong, I, N) ->
    Pong ! {ping, self(), I},
    receive {pong, _} -> ping(Pong, I + 1, N) end.

ring_node(Report) ->
    receive {next, Next} -> ring_loop(Report, Next) end.
ring_loop(Report, Next) ->
    receive
        {token, 0} -> Report ! done, ring_loop(Report, Next);
        {token, K} -> Next ! {token, K - 1}, ring_loop(Report, Next)
    end.

fan_receive(0) -> ok;
fan_receive(N) -> receive _ -> fan_receive(N - 1) end.

fan_send(_, 0) -> ok;
fan_send(To, N) -> To ! N, fan_send(To, N - 1).

collect(0) -> ok;
collect(N) -> receive fired -> collect(N - 1) end.

rss_kb() ->
    {ok, B} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(B, <<"\n">>, [global]), binary:part(L, 0, min(6, byte_size(L))) =:= <<"VmRSS:">>],
    [Num | _] = string:lexemes(binary_to_list(binary:part(Line, 6, byte_size(Line) - 6)), " \t"),
    list_to_integer(Num).

%% Waits until the new processes have all run once (RSS stops growing).
settle_rss() ->
    A = rss_kb(), timer:sleep(100), B = rss_kb(), timer:sleep(100),
    case rss_kb() of B when B =:= A -> B; _ -> settle_rss() end.

%% ---- etf --------------------------------------------------------------------------------------

%% Each mix: {Name, Rounds, Terms}. One rep encodes (or decodes) every term of the mix, Rounds
%% times over; each term is one call of term_to_binary/1 (binary_to_term/1).
etf_mixes() ->
    [{"small_tuples", 20, small_tuples(10000)},
     {"mixed_1k", 20, mixed_1k(1000)},
     {"binary_1m", 200, binary_1m(4)},
     {"deep_lists", 100, deep_lists()},
     {"maps", 200, maps()}].

%% DIR/manifest: one line per mix, "NAME ROUNDS TERMS BYTES".
%% DIR/NAME.bin: for each term, <<Length:32/big, (term_to_binary(Term))/binary>>.
etf_write(Dir, Mixes) ->
    Manifest =
        [begin
             Bins = [term_to_binary(T) || T <- Terms],
             Data = [[<<(byte_size(B)):32>>, B] || B <- Bins],
             ok = file:write_file(filename:join(Dir, Name ++ ".bin"), Data),
             io_lib:format("~s ~b ~b ~b~n", [Name, Rounds, length(Bins), iolist_size(Bins)])
         end
         || {Name, Rounds, Terms} <- Mixes],
    file:write_file(filename:join(Dir, "manifest"), Manifest).

etf_measure(Name, Rounds, Terms, Op, Reps) ->
    N = length(Terms),
    Params = [{mix, Name}, {reps, Reps}, {rounds, Rounds}, {terms, N}],
    Metric = fun(M) -> atom_to_list(Op) ++ M end,
    {Secs, Bytes} =
        case Op of
            encode ->
                %% The result is used (its size is summed) so that no call can be optimised away.
                median_time(fun() -> enc_rounds(Rounds, Terms, 0) end, Reps);
            decode ->
                %% Each decoded term is dropped at once; the collector reclaims it as it would in
                %% a receiving process.
                Bins = [term_to_binary(T) || T <- Terms],
                {S, Calls} = median_time(fun() -> dec_rounds(Rounds, Bins, 0) end, Reps),
                Calls = N * Rounds,
                {S, iolist_size(Bins) * Rounds}
        end,
    emit("etf", Metric("_mb_per_s"), Bytes / Secs / 1.0e6, "MB/s", Params),
    emit("etf", Metric("_terms_per_s"), N * Rounds / Secs, "terms/s", Params).

enc_rounds(0, _Terms, Acc) -> Acc;
enc_rounds(R, Terms, Acc) -> enc_rounds(R - 1, Terms, enc_list(Terms, Acc)).

enc_list([T | Ts], Acc) -> enc_list(Ts, Acc + byte_size(term_to_binary(T)));
enc_list([], Acc) -> Acc.

dec_rounds(0, _Bins, Acc) -> Acc;
dec_rounds(R, Bins, Acc) -> dec_rounds(R - 1, Bins, dec_list(Bins, Acc)).

dec_list([B | Bs], Acc) ->
    _ = binary_to_term(B),
    dec_list(Bs, Acc + 1);
dec_list([], Acc) ->
    Acc.

%% Control messages of the distribution protocol and a gen_server call, with local and remote
%% pids and references.
small_tuples(N) ->
    seed(),
    Pids = list_to_tuple(pids()),
    Refs = list_to_tuple(refs()),
    P = fun() -> element(rand:uniform(tuple_size(Pids)), Pids) end,
    R = fun() -> element(rand:uniform(tuple_size(Refs)), Refs) end,
    Shapes =
        {fun() -> {6, P(), '', net_kernel} end,                              % REG_SEND
         fun() -> {22, P(), P()} end,
         fun() -> {'$gen_call', {P(), R()}, {is_auth, 'a@host'}} end,
         fun() -> {2, '', P()} end,                                          % SEND
         fun() -> {19, P(), P(), R()} end,                                   % MONITOR_P
         fun() -> {1, P(), P()} end,                                         % LINK
         fun() -> {8, P(), P(), R(), normal} end},                           % EXIT2-like
    [(element(I rem tuple_size(Shapes) + 1, Shapes))() || I <- lists:seq(0, N - 1)].

%% Four local pids (nonode@nohost) and four remote ones, built from their external form.
pids() ->
    Local = [self() | [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 3)]],
    Remote = [ext_pid(Node, Id, 0, 3) || {Node, Id} <- [{'a@host', 81}, {'a@host', 4711},
                                                        {'b@example.org', 77}, {'b@example.org', 90210}]],
    Local ++ Remote.

refs() ->
    [make_ref(), make_ref(), ext_ref('a@host', 3, [1, 2, 3]), ext_ref('b@example.org', 3, [9, 8, 7])].

ext_pid(Node, Id, Serial, Creation) ->
    N = atom_to_binary(Node),
    binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, Id:32, Serial:32, Creation:32>>).

ext_ref(Node, Creation, Words) ->
    N = atom_to_binary(Node),
    Ws = <<<<W:32>> || W <- Words>>,
    binary_to_term(<<131, 90, (length(Words)):16, 119, (byte_size(N)), N/binary, Creation:32, Ws/binary>>).

%% Terms of about 1 KB: {item, I, Fields} with random fields until the encoding reaches 1 KB.
mixed_1k(N) ->
    seed(),
    [mixed_term(I) || I <- lists:seq(1, N)].

mixed_term(I) -> mixed_term(I, []).

mixed_term(I, Fields) ->
    T = {item, I, Fields},
    case byte_size(term_to_binary(T)) >= 1000 of
        true -> T;
        false -> mixed_term(I, [field() | Fields])
    end.

field() ->
    case rand:uniform(10) of
        1 -> rand:uniform(256) - 1;                                         % SMALL_INTEGER_EXT
        2 -> rand:uniform(2000000) - 1000000;                               % INTEGER_EXT
        3 -> (1 bsl 62) + rand:uniform(1 bsl 40);                           % SMALL_BIG_EXT (64-bit)
        4 -> -(1 bsl 100) - rand:uniform(1 bsl 60);                         % SMALL_BIG_EXT (> 64-bit)
        5 -> rand:uniform() * 1.0e6;                                        % NEW_FLOAT_EXT
        6 -> some_atom();
        7 -> rand:bytes(8 + rand:uniform(32));                              % short binary
        8 -> [$a + rand:uniform(26) - 1 || _ <- lists:seq(1, 5 + rand:uniform(15))];  % STRING_EXT
        9 -> {some_atom(), rand:uniform(1000), some_atom()};
        10 -> #{id => rand:uniform(100000), name => rand:bytes(12), kind => some_atom(), score => rand:uniform()}
    end.

some_atom() ->
    element(rand:uniform(12), {ok, error, undefined, true, false, user, session, timeout, normal,
                               'Elixir.MyApp.Worker', request_id, nodus}).

%% 1 MiB binaries of random bytes.
binary_1m(N) ->
    seed(),
    [rand:bytes(1 bsl 20) || _ <- lists:seq(1, N)].

%% Nested lists of integers 3 and 4 levels deep, long flat lists, and lists of byte strings
%% (which term_to_binary/1 writes as STRING_EXT).
deep_lists() ->
    seed(),
    Int = fun() -> rand:uniform(1000000) end,
    Nested3 = [[[[Int() || _ <- lists:seq(1, 10)] || _ <- lists:seq(1, 10)] || _ <- lists:seq(1, 10)]
               || _ <- lists:seq(1, 20)],
    Nested4 = [[[[[Int() || _ <- lists:seq(1, 6)] || _ <- lists:seq(1, 6)] || _ <- lists:seq(1, 6)]
                || _ <- lists:seq(1, 6)] || _ <- lists:seq(1, 20)],
    Flat = [[Int() || _ <- lists:seq(1, 10000)] || _ <- lists:seq(1, 4)],
    Strings = [[[$a + rand:uniform(26) - 1 || _ <- lists:seq(1, 50)] || _ <- lists:seq(1, 100)]
               || _ <- lists:seq(1, 4)],
    Nested3 ++ Nested4 ++ Flat ++ Strings.

%% Maps of 10 and 100 entries keyed by atoms, binaries or integers (a third each).
maps() ->
    seed(),
    [random_map(10, I rem 3) || I <- lists:seq(1, 300)] ++ [random_map(100, I rem 3) || I <- lists:seq(1, 30)].

random_map(N, KeyKind) ->
    maps:from_list([{map_key(KeyKind, K), map_value()} || K <- lists:seq(1, N)]).

map_key(0, K) -> list_to_atom("key_" ++ integer_to_list(K));
map_key(1, K) -> <<"field_", (integer_to_binary(K))/binary>>;
map_key(2, K) -> K * 7919.

map_value() ->
    case rand:uniform(4) of
        1 -> rand:uniform(1000000);
        2 -> rand:bytes(rand:uniform(24));
        3 -> some_atom();
        4 -> rand:uniform()
    end.

%% ---- helpers ----------------------------------------------------------------------------------

seed() -> rand:seed(exsss, {20240601, 17, 4711}).

%% Prints "ready", then for each line on stdin: "quit" (or end of input) returns; anything else
%% is split into words, passed to Handle, and followed by "done".
serve(Handle) ->
    io:format("ready~n"),
    serve_loop(Handle).

serve_loop(Handle) ->
    case io:get_line("") of
        eof ->
            ok;
        {error, Reason} ->
            error({stdin, Reason});
        Line ->
            case string:lexemes(string:trim(Line), " ") of
                ["quit"] ->
                    ok;
                Command ->
                    Handle(Command),
                    io:format("done~n"),
                    serve_loop(Handle)
            end
    end.

%% Runs F once to warm up, then Reps times; returns the median wall time in seconds and F's
%% result. The collector runs between reps (not timed) so every rep starts from the same heap.
median_time(F, Reps) ->
    _ = F(),
    Runs =
        [begin
             erlang:garbage_collect(),
             T0 = erlang:monotonic_time(nanosecond),
             Res = F(),
             T1 = erlang:monotonic_time(nanosecond),
             {(T1 - T0) / 1.0e9, Res}
         end
         || _ <- lists:seq(1, Reps)],
    lists:nth((Reps + 1) div 2, lists:sort(Runs)).

%% One result line: {"system":"erlang","bench":B,"metric":M,"value":V,"unit":U,"params":{...}}.
emit(Bench, Metric, Value, Unit, Params) ->
    Ps = lists:join(",", [[json_string(atom_to_list(K)), $:, json_value(V)] || {K, V} <- Params]),
    io:format("{\"system\":\"erlang\",\"bench\":~s,\"metric\":~s,\"value\":~s,\"unit\":~s,\"params\":{~s}}~n",
              [json_string(Bench), json_string(Metric), json_value(Value), json_string(Unit), Ps]).

json_value(V) when is_integer(V) -> integer_to_list(V);
json_value(V) when is_float(V) -> float_to_list(V, [{decimals, 6}, compact]);
json_value(V) when is_atom(V) -> json_string(atom_to_list(V));
json_value(V) when is_list(V); is_binary(V) -> json_string(V).

json_string(S) ->
    [$", [json_char(C) || C <- unicode:characters_to_list(S)], $"].

json_char($") -> "\\\"";
json_char($\\) -> "\\\\";
json_char(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
json_char(C) -> C.

%% Seed 002's replicated key-value store, exactly as the seed prints it. The C++ example next to
%% it (dist_kv.cpp) speaks the same protocol, so both run in one cluster; test_with_erl.sh
%% compiles this file with erlc and checks writes and reads in both directions.
-module(dist_kv).
-behaviour(gen_server).
-export([start_link/0, put/2, get/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

put(Key, Value) ->
    %% Write to all nodes
    [gen_server:cast({?MODULE, Node}, {put, Key, Value})
     || Node <- [node() | nodes()]],
    ok.

get(Key) ->
    gen_server:call(?MODULE, {get, Key}).

init([]) ->
    {ok, #{}}.

handle_call({get, Key}, _From, State) ->
    {reply, maps:get(Key, State, undefined), State}.

handle_cast({put, Key, Value}, State) ->
    {noreply, State#{Key => Value}}.

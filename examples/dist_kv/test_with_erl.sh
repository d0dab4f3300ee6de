#!/usr/bin/env bash
# The C++ dist_kv and seed 002's Erlang dist_kv in one cluster: compiles dist_kv.erl with erlc,
# starts the C++ example as a node and an erl node running the Erlang module, then checks that a
# put on erl is read on the C++ node and a put on the C++ node is read by dist_kv:get/1 on erl.
# Stops both by PID. Exit 77 (skipped) when erl is missing.
set -uo pipefail
kv_bin=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
command -v erl >/dev/null && command -v erlc >/dev/null || exit 77
suffix=$$_$RANDOM
cookie=dist_kv_test_$suffix
host=$(hostname -s)
work=$(mktemp -d)
"$kv_bin" -sname "kv_$suffix" -setcookie "$cookie" >"$work/nodus.log" 2>&1 &
kv_pid=$!
trap 'kill "$kv_pid" 2>/dev/null; wait "$kv_pid" 2>/dev/null; rm -rf "$work"' EXIT
erlc -o "$work" "$src_dir/dist_kv.erl" || { echo "erlc failed"; exit 1; }
for _ in $(seq 100); do grep -q serving "$work/nodus.log" && break; sleep 0.1; done
grep -q serving "$work/nodus.log" || { cat "$work/nodus.log"; exit 1; }
out=$(timeout 60 erl -noshell -sname "erl_$suffix" -setcookie "$cookie" -pa "$work" -eval "
  Cpp = 'kv_$suffix@$host',
  Wait = fun W(F, Want, 0) -> F();
             W(F, Want, N) -> case F() of Want -> Want; _ -> timer:sleep(100), W(F, Want, N - 1) end
         end,
  {ok, _} = dist_kv:start_link(),
  true = net_kernel:connect_node(Cpp),
  ok = dist_kv:put(greeting, \"hello world\"),
  A = Wait(fun() -> rpc:call(Cpp, dist_kv, get, [greeting]) end, \"hello world\", 50),
  ok = rpc:call(Cpp, dist_kv, put, [color, blue]),
  B = Wait(fun() -> dist_kv:get(color) end, blue, 50),
  C = gen_server:call({dist_kv, Cpp}, {get, color}),
  io:format(\"~p~n~p~n~p~n\", [A, B, C]),
  halt().")
echo "$out"
expected=$'"hello world"\nblue\nblue'
[ "$out" = "$expected" ] || { echo "expected:"; echo "$expected"; cat "$work/nodus.log"; exit 1; }
kill -INT "$kv_pid"
wait "$kv_pid"
status=$?
[ $status -eq 0 ] || { echo "dist_kv exited with $status after SIGINT"; exit 1; }

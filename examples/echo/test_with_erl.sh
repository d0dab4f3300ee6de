#!/usr/bin/env bash
# Starts the echo example as a node, asks a real erl to talk to it, stops both by PID.
set -uo pipefail
echo_bin=$1
command -v erl >/dev/null || exit 77
suffix=$$_$RANDOM
cookie=echo_test_$suffix
host=$(hostname -s)
"$echo_bin" -sname "echo_$suffix" -setcookie "$cookie" >/tmp/echo_example.$suffix.log 2>&1 &
echo_pid=$!
trap 'kill "$echo_pid" 2>/dev/null; wait "$echo_pid" 2>/dev/null; rm -f /tmp/echo_example.$suffix.log' EXIT
for _ in $(seq 50); do grep -q serving /tmp/echo_example.$suffix.log && break; sleep 0.1; done
out=$(timeout 60 erl -noshell -sname "client_$suffix" -setcookie "$cookie" -eval "
  {echo, 'echo_$suffix@$host'} ! {self(), [hello, from, erl]},
  receive R -> io:format(\"~p~n\", [R]) after 10000 -> io:format(\"timeout~n\") end,
  halt().")
echo "$out"
[ "$out" = "{echo,[hello,from,erl]}" ] || { cat /tmp/echo_example.$suffix.log; exit 1; }
kill -INT "$echo_pid"
wait "$echo_pid"
status=$?
[ $status -eq 0 ] || { echo "echo exited with $status after SIGINT"; exit 1; }

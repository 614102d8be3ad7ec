#!/usr/bin/env bash
# Two `zeroshot serve` behind HAProxy (README, "One model per server"), on a real temporary
# cluster with the installed extension and the tiny test model, every session's zs.server
# pointing at the proxy:
#   HAProxy's health check (GET /healthz, which needs no token and no loopback Host) marks
#   both servers up; leastconn sends work to both; answers
#   through the proxy equal those of the same SQL sent to one server directly; the server
#   running a long request killed with SIGSEGV under load from four sessions: that request
#   fails with 08006 (HAProxy's 502), only the statements in flight fail, each with a clean
#   error (08006/08001), calls started after the kill go to the other server (a refused
#   connection is retried and redispatched), the postmaster is not restarted; the server
#   restarted: the check brings it back and it gets work again;
#   statement_timeout through the proxy ends a long call within 0.5 s of its timeout and the
#   server drops the request (option abortonclose passes the backend's hang-up on).
# Prints "haproxy: N passed, M failed".
set -euo pipefail
# Warnings (the test model's random weights) stay out of the outputs the checks compare.
export PGOPTIONS="-c search_path=public,zeroshot -c client_min_messages=error"
. "$(dirname "$0")/../../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
port=${ZS_HAPROXY_TEST_PORT:-54337}
zeroshot=${ZS_ZEROSHOT_BIN:-$REPO/target/debug/zeroshot}
haproxy=${ZS_HAPROXY_BIN:-/usr/sbin/haproxy}
model=$REPO/tests/fixtures/tiny-mt5
proxy_port=$((port + 1000)); p1=$((port + 1001)); p2=$((port + 1002)); stats_port=$((port + 1003))
cluster_start "$port"
# psql runs as postgres here: a working directory it may enter, so that no "could not change
# directory" line joins the output the checks compare.
cd "$CLUSTER_DIR"
s1_pid=; s2_pid=; haproxy_pid=; loads=()
stop() { # PID-VARIABLE
  local pid=${!1}
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; printf -v "$1" %s ""; fi
}
cleanup() {
  local status=$1 pid
  # Everything below runs even if the reader of our output is gone (| head).
  set +e; trap '' PIPE
  for pid in "${loads[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop s1_pid; stop s2_pid; stop haproxy_pid
  if [ "$status" -ne 0 ]; then
    echo "haproxy: stopped (exit $status); the logs end:"
    for f in s1.log s2.log haproxy.log server.log; do echo "-- $f"; tail -n 10 "$CLUSTER_DIR/$f" 2>/dev/null || true; done
  fi
  cluster_stop
}
trap 'cleanup $?' EXIT
bindir=$("$PG_CONFIG" --bindir)
psql_() { as_pg "$bindir/psql" -X -q -h "$CLUSTER_DIR" -p "$port" -d postgres -At "$@"; }
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# No token: the servers listen on loopback only, and the backends' Host (127.0.0.1:PORT,
# which HAProxy passes on) is a loopback name.
start_server() { # NAME PORT
  ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" serve --model-dir "$model" --listen "127.0.0.1:$2" >>"$CLUSTER_DIR/$1.log" 2>&1 &
  printf -v "${1}_pid" %s $!
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$2/healthz" && break; sleep 0.05; done
}
metric() { # PORT SERIES-REGEX: the value, or 0 when the series is absent or the server down
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v re="^$2 " '$0 ~ re {v=$2} END {print v+0}'
}
texts() { metric "$1" 'zeroshot_texts_total'; }
# Requests a server dropped because their client left: unrun (queued) or stopped mid-run.
dropped() { echo $(( $(metric "$1" 'zeroshot_jobs_cancelled_total') + $(metric "$1" 'zeroshot_errors_total\{kind="interrupted"\}') )); }
# HAProxy's view of a server: its status (UP, DOWN, ...) and last check, from the stats page.
proxy_state() { # SERVER-NAME
  curl -s --max-time 2 "http://127.0.0.1:$stats_port/stats;csv" |
    awk -F, -v s="$1" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i} $1 == "zeroshot" && $2 == s {print $h["status"] "/" $h["check_status"] "/retries=" $h["wretr"] "/redispatches=" $h["wredis"]}'
}
wait_state() { # SERVER-NAME STATUS-PREFIX: waits up to 5 s; prints the last state
  local st
  for _ in $(seq 1 100); do st=$(proxy_state "$1"); case $st in "$2"*) break ;; esac; sleep 0.05; done
  printf '%s' "$st"
}
labels="ARRAY['物流问题','商品质量','售后体验']"
classify="SELECT zs_classify('快递三天了还没到', $labels) IS NOT NULL"

echo "== setup"
psql_ -c "SET client_min_messages = error" -c "CREATE EXTENSION pg_zeroshot" >/dev/null
psql_ -c "LOAD 'pg_zeroshot'" -c "ALTER SYSTEM SET zs.server = 'http://127.0.0.1:$proxy_port'" -c "SELECT pg_reload_conf()" >/dev/null
start_server s1 "$p1"
start_server s2 "$p2"
cat >"$CLUSTER_DIR/haproxy.cfg" <<EOF
global
    log stdout format raw local0
    maxconn 256

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout queue 5s
    # A refused connection (a server just killed, not yet marked down) is tried again, on
    # the other server at once.
    retries 2
    option redispatch 1
    # A backend's cancel closes its connection; pass that on, so the server drops the request.
    option abortonclose

frontend zeroshot_in
    bind 127.0.0.1:$proxy_port
    default_backend zeroshot

backend zeroshot
    balance leastconn
    # A tokenless listener answers only requests addressed to a loopback name: send one.
    option httpchk GET /healthz HTTP/1.1
    http-check send hdr Host localhost
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1
    server s1 127.0.0.1:$p1 check
    server s2 127.0.0.1:$p2 check

listen stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
EOF
if out=$("$haproxy" -c -f "$CLUSTER_DIR/haproxy.cfg" 2>&1); then r=0; else r=1; fi
check config_valid $r "$(printf '%s' "$out" | tail -1)"
"$haproxy" -f "$CLUSTER_DIR/haproxy.cfg" -db >>"$CLUSTER_DIR/haproxy.log" 2>&1 &
haproxy_pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$stats_port/stats" && break; sleep 0.05; done
st1=$(wait_state s1 UP/L7OK); st2=$(wait_state s2 UP/L7OK)
case "$st1 $st2" in UP/L7OK*" "UP/L7OK*) r=0 ;; *) r=1 ;; esac
check health_checks_up $r "s1 $st1, s2 $st2"

echo "== through the proxy"
before1=$(texts "$p1"); before2=$(texts "$p2")
out=$(for i in $(seq 1 20); do echo "SELECT zs_classify('第${i}条：快递太慢', $labels) IS NOT NULL;"; done | psql_ 2>&1 | sort | uniq -c | sed 's/^ *//' | paste -sd ';' -)
n1=$(( $(texts "$p1") - before1 )); n2=$(( $(texts "$p2") - before2 ))
if [ "$out" = "20 t" ] && [ "$n1" -ge 1 ] && [ "$n2" -ge 1 ] && [ $((n1 + n2)) -eq 20 ]; then r=0; else r=1; fi
check both_servers_work $r "20 calls: $out; texts scored by s1 $n1, by s2 $n2"
cp "$REPO/tests/server/calls.sql" "$CLUSTER_DIR/calls.sql"
chown postgres "$CLUSTER_DIR/calls.sql" 2>/dev/null || true
proxied=$(psql_ -c "SELECT zs_model_info()->>'mode'" -f "$CLUSTER_DIR/calls.sql" 2>&1)
direct=$(psql_ -c "SET zs.server = 'http://127.0.0.1:$p1'" -c "SELECT zs_model_info()->>'mode'" -f "$CLUSTER_DIR/calls.sql" 2>&1)
# One line for the mode and one for each SELECT of calls.sql.
want_lines=$(( 1 + $(grep -c '^SELECT' "$REPO/tests/server/calls.sql") ))
if [ "$proxied" = "$direct" ] && [ "$(printf '%s\n' "$proxied" | head -1)" = server ] && [ "$(printf '%s\n' "$proxied" | wc -l)" = "$want_lines" ]; then r=0; else r=1; fi
check same_answers_as_direct $r "$(printf '%s' "$proxied" | tr '\n' '|' | cut -c1-160)"

echo "== one server killed under load"
# A long request (seconds on the tiny model) that is in flight when its server dies: the
# server HAProxy chose for it is the one killed.
long="SELECT count(*) FROM zs_classify_batch((SELECT array_agg(repeat('很长的评论', 400) || g) FROM generate_series(1, 16) g), (SELECT array_agg('标签' || g) FROM generate_series(1, 250) g))"
psql_ -v VERBOSITY=sqlstate -c "SET zs.max_input_tokens = 2048" -c "$long" >"$CLUSTER_DIR/long.out" 2>&1 &
long_pid=$!; loads+=("$long_pid")
victim=
for _ in $(seq 1 40); do
  victim=$(curl -s --max-time 2 "http://127.0.0.1:$stats_port/stats;csv" |
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i} $1 == "zeroshot" && $2 ~ /^s[12]$/ && $h["scur"] > 0 {print $2; exit}')
  [ -n "$victim" ] && break; sleep 0.05
done
if [ -n "$victim" ]; then r=0; else r=1; fi
check long_request_placed $r "HAProxy sent the long request to ${victim:-no server}"
victim=${victim:-s1}
victim_pid_var=${victim}_pid; victim_port=$([ "$victim" = s1 ] && echo "$p1" || echo "$p2")
# Four sessions, each a loop of calls for 4 s; every call's start, end (ms) and output. The
# calls the proxy sends to the victim wait behind the long request there.
load() { # ID UNTIL_MS
  local t0 out
  while [ "$(now_ms)" -lt "$2" ]; do
    t0=$(now_ms)
    out=$(psql_ -v VERBOSITY=sqlstate -c "$classify" 2>&1 | tr '\n' ' ') || true
    echo "$t0 $(now_ms) ${out% }" >>"$CLUSTER_DIR/load.$1"
  done
}
until_ms=$(( $(now_ms) + 4000 ))
for i in 1 2 3 4; do load "$i" "$until_ms" & loads+=($!); done
sleep 1
# Rust's runtime catches the first SIGSEGV (its handler for stack overflows) and, finding no
# faulting address, goes on: a second one ends the process, as a real fault would at once.
kill -SEGV "${!victim_pid_var}"; sleep 0.2; kill -SEGV "${!victim_pid_var}" 2>/dev/null || true
killed_ms=$(now_ms)
wait "${!victim_pid_var}" 2>/dev/null || true; printf -v "$victim_pid_var" %s ""
exited_ms=$(now_ms) # its sockets are closed: a call from now on cannot reach it
st=$(wait_state "$victim" DOWN); down_ms=$(now_ms)
wait "${loads[@]}" || true; loads=()
msg=$(cat "$CLUSTER_DIR/long.out")
if [ "$msg" = "ERROR:  08006" ]; then r=0; else r=1; fi
check in_flight_request_08006 $r "the long request, its server killed under it: $msg"
cat "$CLUSTER_DIR"/load.[1-4] | sort -n >"$CLUSTER_DIR/load.out"
total=$(wc -l <"$CLUSTER_DIR/load.out")
outputs() { sed -E 's/^[0-9]+ [0-9]+ //' "$CLUSTER_DIR/load.out"; }
others=$(outputs | grep -vxE 't|ERROR:  08006|ERROR:  08001' | sort | uniq -c | sed 's/^ *//' | paste -sd ';' - || true)
kinds=$(outputs | grep -vx t | sort | uniq -c | sed 's/^ *//' | paste -sd ';' - || true)
errors=$(awk '$3 != "t"' "$CLUSTER_DIR/load.out" | wc -l)
after_exit=$(awk -v k="$exited_ms" '$1 > k' "$CLUSTER_DIR/load.out" | wc -l)
after_exit_failed=$(awk -v k="$exited_ms" '$1 > k && $3 != "t"' "$CLUSTER_DIR/load.out" | wc -l)
after_down=$(awk -v d="$down_ms" '$1 > d' "$CLUSTER_DIR/load.out" | wc -l)
after_down_failed=$(awk -v d="$down_ms" '$1 > d && $3 != "t"' "$CLUSTER_DIR/load.out" | wc -l)
if [ -z "$others" ] && [ "$errors" -le 4 ] && [ "$total" -gt 20 ]; then r=0; else r=1; fi
check only_in_flight_calls_fail $r "$total calls from 4 sessions, $errors failed (bound 4): ${kinds:-none}; other lines: ${others:-none}"
if [ "$st" != "${st#DOWN}" ] && [ $((down_ms - killed_ms)) -lt 1500 ]; then r=0; else r=1; fi
check marked_down $r "$victim $st $((down_ms - killed_ms)) ms after the kill, $((down_ms - exited_ms)) ms after it exited"
# Before HAProxy marks the server down its connections are refused: retried on the other.
if [ "$after_down" -ge 8 ] && [ "$after_down_failed" -eq 0 ] && [ "$after_exit_failed" -eq 0 ]; then r=0; else r=1; fi
check calls_go_on_through_the_other $r "calls started after $victim exited: $after_exit, failed: $after_exit_failed; of them after it was marked down: $after_down, failed: $after_down_failed"
if ! grep -Eq 'terminated by signal|PANIC|all server processes terminated' "$CLUSTER_DIR/server.log"; then r=0; else r=1; fi
check no_database_restart $r "the postmaster log has no crash or restart"

echo "== the server back"
start_server "$victim" "$victim_port"
st=$(wait_state "$victim" UP/L7OK)
out=$(for i in $(seq 1 10); do echo "SELECT zs_classify('第${i}条：又坏了', $labels) IS NOT NULL;"; done | psql_ 2>&1 | sort | uniq -c | sed 's/^ *//' | paste -sd ';' -)
n=$(texts "$victim_port")
if [ "$out" = "10 t" ] && [ "$n" -ge 1 ]; then r=0; else r=1; fi
check restarted_server_gets_work $r "$victim $st; 10 calls: $out; texts scored by the new $victim: $n"

echo "== cancel through the proxy"
dropped_before=$(( $(dropped "$p1") + $(dropped "$p2") ))
t0=$(date +%s%N)
msg=$(psql_ -c "SET statement_timeout = '200ms'" -c "SET zs.max_input_tokens = 2048" -c "$long" 2>&1 || true)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -lt 700 ] && printf '%s' "$msg" | grep -q 'statement timeout'; then r=0; else r=1; fi
check statement_timeout_through_proxy $r "ended ${ms} ms after start with a 200 ms timeout; bound 700 ms: $(printf '%s' "$msg" | head -1)"
for _ in $(seq 1 100); do
  dropped_after=$(( $(dropped "$p1") + $(dropped "$p2") ))
  [ "$dropped_after" -gt "$dropped_before" ] && break; sleep 0.1
done
if [ "$dropped_after" -gt "$dropped_before" ]; then r=0; else r=1; fi
logged=$(grep 'POST /v1/classify' "$CLUSTER_DIR/haproxy.log" | tail -1 | awk '{print $4, "timers " $5, "termination " $10}')
check server_dropped_cancelled_request $r "requests dropped unrun or stopped mid-run: $dropped_before -> $dropped_after; HAProxy logged ${logged:-nothing}"

echo "haproxy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

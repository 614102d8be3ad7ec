#!/usr/bin/env bash
# zs.server_autostart: the background worker runs the installed `zeroshot serve` on a socket in
# the data directory, on a real temporary cluster with pg_zeroshot in shared_preload_libraries
# and the bundled tiny model:
#   sessions use it with zs.server empty (mode "server"); the server killed with SIGSEGV under
#   load: only 08006/08001 errors, the postmaster and the worker not restarted, the server
#   restarted by the worker (with a longer wait the second time) and calls working again; a
#   reload that changes zs.server_options restarts it; the socket allows a session's raised
#   token limit while TCP keeps the configured one; options the worker owns (--socket) are
#   refused; a missing program is said plainly and a reload that fixes it works at once; the
#   worker stopped by a stray SIGTERM comes back; a fast stop ends the server and removes its
#   socket; zs.server_autostart without shared_preload_libraries is an error, not a model in
#   every backend, and no session can SET it off.
# Prints "autostart: N passed, M failed".
set -euo pipefail
# Warnings (the test model's random weights) stay out of the outputs the checks compare.
export PGOPTIONS="-c search_path=public,zeroshot -c client_min_messages=error"
. "$(dirname "$0")/../../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
port=${ZS_AUTOSTART_TEST_PORT:-54335}
CLUSTER_OPTIONS="-c shared_preload_libraries=pg_zeroshot -c zs.server_autostart=on"
cluster_start "$port"
cd "$CLUSTER_DIR"
data=$CLUSTER_DIR/data
bindir=$("$PG_CONFIG" --bindir)
psql_() { as_pg "$bindir/psql" -X -q -h "$CLUSTER_DIR" -p "$port" -d postgres -At "$@"; }
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}
trap 'status=$?; if [ "$status" -ne 0 ]; then echo "autostart: stopped (exit $status); the log ends:"; tail -n 20 "$CLUSTER_DIR/server.log"; fi; cluster_stop' EXIT
classify="SELECT zs_classify('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验']) IS NOT NULL"
# Waits until a call succeeds (the server loads its model first); prints the last output.
wait_for_server() {
  local out
  for _ in $(seq 1 150); do
    out=$(psql_ -c "$classify" 2>&1 || true)
    [ "$out" = t ] && break
    sleep 0.1
  done
  printf '%s' "$out"
}
# The worker has no database connection, so it is not in pg_stat_activity: its process title.
worker_pid() { ps -o pid=,args= --ppid "$(head -1 "$data/postmaster.pid")" | awk '/pg_zeroshot server/ {print $1}'; }
server_pid() { pgrep -P "$1" -x zeroshot || true; }

psql_ -c "CREATE EXTENSION pg_zeroshot"
out=$(wait_for_server)
if [ "$out" = t ]; then r=0; else r=1; fi; check started_with_postgres $r "$out"
mode=$(psql_ -c "SELECT zs_model_info()->>'mode'")
if [ "$mode" = server ]; then r=0; else r=1; fi; check mode_is_server $r "zs_model_info mode: $mode"
worker=$(worker_pid); server=$(server_pid "$worker")
postmaster=$(head -1 "$data/postmaster.pid")
if [ -n "$worker" ] && [ -n "$server" ] && [ -S "$data/pg_zeroshot/server.sock" ]; then r=0; else r=1; fi
check server_is_worker_child $r "worker $worker, server $server, socket $(ls -l "$data/pg_zeroshot/server.sock" 2>&1)"
# Not attached to PostgreSQL's shared memory: none of its mappings is a System V segment or
# the postmaster's anonymous shared one.
if ! grep -Eq 'SYSV|/dev/zero|PostgreSQL' "/proc/$server/maps"; then r=0; else r=1; fi
check server_not_in_shared_memory $r "/proc/$server/maps"

# Load from four sessions, each a loop of calls that records what every call gave.
: >"$CLUSTER_DIR/load.out"
load() { for _ in $(seq 1 "$1"); do psql_ -v VERBOSITY=sqlstate -c "$classify" >>"$CLUSTER_DIR/load.out" 2>&1 || true; done; }
for _ in 1 2 3 4; do load 60 & done
sleep 1
# Rust's runtime catches the first SIGSEGV (its handler for stack overflows) and, finding no
# faulting address, goes on: a second one ends the process, as a real fault would at once.
kill -SEGV "$server"; sleep 0.2; kill -SEGV "$server" 2>/dev/null || true
wait
out=$(wait_for_server)
new_server=$(server_pid "$worker")
if [ "$out" = t ] && [ -n "$new_server" ] && [ "$new_server" != "$server" ]; then r=0; else r=1; fi
check restarted_by_worker $r "server $server -> $new_server; next call: $out"
others=$(grep -vxE 't|ERROR:  08006|ERROR:  08001' "$CLUSTER_DIR/load.out" | sort | uniq -c || true)
failures=$(grep -cE '^ERROR' "$CLUSTER_DIR/load.out" || true)
if [ -z "$others" ] && [ "$(grep -cx t "$CLUSTER_DIR/load.out")" -gt 0 ]; then r=0; else r=1; fi
check load_saw_only_clean_errors $r "240 calls: $failures failed with 08006/08001; other lines: ${others:-none}"
if grep -q 'ended with signal 11; restarting it in 1 s' "$CLUSTER_DIR/server.log"; then r=0; else r=1; fi
check worker_logged_exit $r "$(grep -m1 'ended with' "$CLUSTER_DIR/server.log" || echo 'no line')"
if [ "$(head -1 "$data/postmaster.pid")" = "$postmaster" ] && [ "$(worker_pid)" = "$worker" ] \
  && ! grep -Eq 'terminated by signal|exited with exit code|PANIC|all server processes terminated' "$CLUSTER_DIR/server.log"; then r=0; else r=1; fi
check no_database_restart $r "postmaster $postmaster, worker $worker unchanged; the log has no crash or restart"

# A second quick exit waits twice as long.
kill -SEGV "$new_server"; sleep 0.2; kill -SEGV "$new_server" 2>/dev/null || true
out=$(wait_for_server)
if [ "$out" = t ] && grep -q 'restarting it in 2 s' "$CLUSTER_DIR/server.log"; then r=0; else r=1; fi
check backoff_grows $r "$(grep 'ended with' "$CLUSTER_DIR/server.log" | tail -1)"

# A reload that changes the server's arguments restarts it with them.
server=$(server_pid "$worker")
tcp_port=$((port + 1000))
psql_ -c "ALTER SYSTEM SET zs.server_options = '--max-wait-ms 1 --max-queue-texts 128 --listen 127.0.0.1:$tcp_port'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do new_server=$(server_pid "$worker"); [ -n "$new_server" ] && [ "$new_server" != "$server" ] && break; sleep 0.1; done
out=$(wait_for_server)
if [ "$out" = t ] && [ "$new_server" != "$server" ] && tr '\0' ' ' <"/proc/$new_server/cmdline" | grep -q -- '--max-queue-texts 128'; then r=0; else r=1; fi
check reload_restarts $r "server $server -> $new_server: $(tr '\0' ' ' <"/proc/$new_server/cmdline" 2>/dev/null | grep -o -- '--max-wait-ms.*' || true)"

# The socket allows what a session may be allowed (a superuser raised the limit for this
# session); HTTP clients on --listen get the configuration's limit (2048).
long="SELECT zs_classify(repeat('很长的评论', 2000), ARRAY['a','b']) IS NOT NULL"
out=$(psql_ -c "SET zs.max_input_tokens_limit = 4096" -c "SET zs.max_input_tokens = 4096" -c "$long" 2>&1 || true)
code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"texts":["x"],"labels":["a","b"],"max_input_tokens":4096}' "http://127.0.0.1:$tcp_port/v1/classify")
if [ "$out" = t ] && [ "$code" = 400 ]; then r=0; else r=1; fi
check token_limits_by_listener $r "4096 tokens: through SQL (socket) $out, over TCP HTTP $code"
# Settings the worker owns are refused in zs.server_options, and say so; the server runs on.
psql_ -c "ALTER SYSTEM SET zs.server_options = '--socket /tmp/elsewhere.sock'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do grep -q 'may not give --socket' "$CLUSTER_DIR/server.log" && break; sleep 0.1; done
if grep -q 'zs.server_options may not give --socket' "$CLUSTER_DIR/server.log" && [ ! -e /tmp/elsewhere.sock ]; then r=0; else r=1; fi
check reserved_options_refused $r "$(grep -m1 'may not give' "$CLUSTER_DIR/server.log" || echo 'no line')"
# A program that cannot run is said plainly (no fork), and a reload that fixes it works at once.
psql_ -c "ALTER SYSTEM SET zs.server_options = ''" -c "ALTER SYSTEM SET zs.server_command = '/nonexistent/zeroshot'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do grep -q 'nonexistent/zeroshot: No such file' "$CLUSTER_DIR/server.log" && break; sleep 0.1; done
said=$(grep -m1 'cannot start the zeroshot server: /nonexistent' "$CLUSTER_DIR/server.log" || true)
psql_ -c "ALTER SYSTEM RESET zs.server_command" -c "SELECT pg_reload_conf()" >/dev/null
out=$(wait_for_server)
if [ -n "$said" ] && ! grep -q 'started the zeroshot server.*nonexistent' "$CLUSTER_DIR/server.log" && [ "$out" = t ]; then r=0; else r=1; fi
check missing_program_said $r "${said:-no line}; after the fix: $out"
# The worker stopped by a stray SIGTERM (pg_terminate_backend, kill) is started again by the
# postmaster (5 s), and with it the server.
kill -TERM "$worker"
for _ in $(seq 1 200); do w=$(worker_pid); [ -n "$w" ] && [ "$w" != "$worker" ] && break; sleep 0.1; done
out=$(wait_for_server)
if [ -n "$w" ] && [ "$w" != "$worker" ] && [ "$out" = t ]; then r=0; else r=1; fi
check worker_restarted_after_sigterm $r "worker $worker -> ${w:-none}; next call: $out"
new_server=$(server_pid "$w")

# A fast stop ends the server with PostgreSQL and removes its socket.
as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
if ! kill -0 "$new_server" 2>/dev/null && [ ! -e "$data/pg_zeroshot/server.sock" ]; then r=0; else r=1; fi
check stops_with_postgres $r "server $new_server gone, socket removed"

# zs.server_autostart without the library preloaded: no worker, and calls say so (22023).
as_pg "$bindir/pg_ctl" -D "$data" -l "$CLUSTER_DIR/server.log" -w \
  -o "-p $port -k $CLUSTER_DIR -c listen_addresses='' -c lc_messages=C -c zs.server_autostart=on" start >/dev/null
msg=$(psql_ -v VERBOSITY=sqlstate -c "$classify" 2>&1 || true)
detail=$(psql_ -c "$classify" 2>&1 || true)
if [ "$msg" = "ERROR:  22023" ] && printf '%s' "$detail" | grep -q shared_preload_libraries; then r=0; else r=1; fi
check autostart_needs_preload $r "$detail"
# ... and no session can turn it off to load a model of its own: set before the library loads,
# its value is refused when the library defines the setting (SIGHUP), the file's stays.
msg=$(psql_ -v VERBOSITY=sqlstate -c "SET zs.server_autostart = off" -c "$classify" 2>&1 || true)
msg2=$(psql_ -v VERBOSITY=sqlstate -c "LOAD 'pg_zeroshot'" -c "SET zs.server_autostart = off" 2>&1 || true)
if [ "$msg" = "ERROR:  22023" ] && [ "$msg2" = "ERROR:  55P02" ]; then r=0; else r=1; fi
check autostart_not_settable $r "SET before the library loads, then a call: $msg; SET after: $msg2"

echo "autostart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

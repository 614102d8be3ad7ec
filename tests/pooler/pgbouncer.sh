#!/usr/bin/env bash
# pg_zeroshot behind PgBouncer in transaction mode (README, "Behind a pooler"), on a real
# temporary cluster with the installed extension and the tiny test model:
#   classification through the pooler equals a direct session's; settings with SET LOCAL apply
#   to their transaction and do not reach the next client that gets the same server
#   connection; per-role defaults (ALTER ROLE ... SET) apply through the pooler; the trigger
#   labels rows inserted through it; zs_label_table (a procedure that commits in batches) runs
#   through it; eight clients of two users at once hold no more models than the two pools
#   have server connections (the pool sizes bound the memory), and none is refused.
# Prints "pgbouncer: N passed, M failed".
set -euo pipefail
export PGOPTIONS="-c client_min_messages=error"
. "$(dirname "$0")/../../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
port=${ZS_POOLER_TEST_PORT:-54343}
pool_port=$((port + 1000))
pgbouncer=${ZS_PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
cluster_start "$port"
cd "$CLUSTER_DIR"
bindir=$("$PG_CONFIG" --bindir)
bouncer_pid=
trap 'status=$?; if [ -n "$bouncer_pid" ]; then kill "$(cat "$CLUSTER_DIR/pgbouncer.pid" 2>/dev/null || echo "$bouncer_pid")" "$bouncer_pid" 2>/dev/null || true; wait "$bouncer_pid" 2>/dev/null || true; fi; if [ "$status" -ne 0 ]; then echo "pgbouncer: stopped (exit $status)"; tail -n 20 "$CLUSTER_DIR/pgbouncer.log" 2>/dev/null; fi; cluster_stop' EXIT
direct() { as_pg "$bindir/psql" -X -q -h "$CLUSTER_DIR" -p "$port" -d postgres -At "$@"; }
# Through the pooler, as role $ROLE (postgres unless given).
pooled() { as_pg env PGOPTIONS= "$bindir/psql" -X -q -h 127.0.0.1 -p "$pool_port" -U "${ROLE:-postgres}" -d postgres -At "$@"; }
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}

direct -c "CREATE EXTENSION pg_zeroshot" -c "ALTER DATABASE postgres SET search_path = public, zeroshot" \
  -c "CREATE ROLE app LOGIN" -c "GRANT USAGE ON SCHEMA zeroshot TO app" -c "GRANT CREATE ON SCHEMA public TO app" \
  -c "ALTER ROLE app SET zs.temperature = 2"
cat >"$CLUSTER_DIR/pgbouncer.ini" <<INI
[databases]
postgres = host=$CLUSTER_DIR port=$port dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pool_port
unix_socket_dir =
auth_type = trust
auth_file = $CLUSTER_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = $CLUSTER_DIR/pgbouncer.log
pidfile = $CLUSTER_DIR/pgbouncer.pid
INI
printf '"postgres" ""\n"app" ""\n' >"$CLUSTER_DIR/userlist.txt"
chown postgres "$CLUSTER_DIR/pgbouncer.ini" "$CLUSTER_DIR/userlist.txt" 2>/dev/null || true
as_pg "$pgbouncer" "$CLUSTER_DIR/pgbouncer.ini" >/dev/null 2>&1 &
bouncer_pid=$!
for _ in $(seq 1 100); do pooled -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done

scores="zs_classify_scores('买回来两天就坏了', ARRAY['物流问题','商品质量','售后体验'])->>'score'"
want=$(direct -c "SELECT zs_classify('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验']), $scores")
got=$(pooled -c "SELECT zs_classify('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验']), $scores")
if [ -n "$got" ] && [ "$got" = "$want" ]; then r=0; else r=1; fi; check same_answers $r "pooled $got, direct $want"

# SET LOCAL: the transaction's own; the next transaction on any server connection has the default.
want3=$(direct -c "SET zs.temperature = 3" -c "SELECT $scores")
got3=$(pooled -c "BEGIN" -c "SET LOCAL zs.temperature = 3" -c "SELECT $scores" -c "COMMIT")
after=$(pooled -c "SELECT current_setting('zs.temperature'), $scores")
if [ "$got3" = "$want3" ] && [ "$after" = "1|$(direct -c "SELECT $scores")" ]; then r=0; else r=1; fi
check set_local $r "SET LOCAL zs.temperature = 3: $got3 (direct $want3); the next transaction: $after"

# A role's default travels with its server connections.
want2=$(direct -c "SET zs.temperature = 2" -c "SELECT $scores")
got2=$(ROLE=app pooled -c "SELECT current_setting('zs.temperature'), $scores")
if [ "$got2" = "2|$want2" ]; then r=0; else r=1; fi; check role_default $r "ALTER ROLE app SET zs.temperature = 2: $got2 (direct $want2)"

# The trigger, and zs_label_table, as the table's owner, through the pooler.
ROLE=app pooled -c "CREATE TABLE tickets (id int PRIMARY KEY, body text, label text)" \
  -c "CREATE TRIGGER label BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION zeroshot.zs_label_trigger('body', 'label', '物流问题,商品质量,售后体验')" \
  -c "INSERT INTO tickets SELECT g, '第' || g || '条：快递三天了还没到', NULL FROM generate_series(1, 20) g" >/dev/null
n=$(direct -c "SELECT count(*) FROM tickets WHERE label IN ('物流问题','商品质量','售后体验')")
if [ "$n" = 20 ]; then r=0; else r=1; fi; check trigger $r "$n of 20 rows inserted through the pooler labelled"
ROLE=app pooled -c "ALTER TABLE tickets DISABLE TRIGGER label" -c "INSERT INTO tickets SELECT g, '第' || g || '条：买回来两天就坏了', NULL FROM generate_series(21, 120) g" \
  -c "CALL zeroshot.zs_label_table('tickets', 'body', 'label', ARRAY['物流问题','商品质量','售后体验'], batch_rows => 16)" >"$CLUSTER_DIR/label.out" 2>&1 || true
n=$(direct -c "SELECT count(*) FROM tickets WHERE label IS NOT NULL")
if [ "$n" = 120 ]; then r=0; else r=1; fi; check label_table $r "$n of 120 rows labelled; $(head -c 200 "$CLUSTER_DIR/label.out")"

# Eight clients at once: the pools' server connections (2 for each user, postgres and app, both
# of which have classified above, and each of those keeps its model) are all the backends
# there are, so with zs.max_model_processes at the pools' total (4) and one more (the last slot
# is kept for superusers, and app is none) no call is refused.
direct -c "LOAD 'pg_zeroshot'" -c "ALTER SYSTEM SET zs.max_model_processes = 5" -c "SELECT pg_reload_conf()" >/dev/null
: >"$CLUSTER_DIR/many.out"
loads=()
for i in $(seq 1 8); do
  (for _ in $(seq 1 10); do ROLE=$([ $((i % 2)) = 0 ] && echo app || echo postgres) pooled -v VERBOSITY=sqlstate -c "SELECT zs_classify('第$i条', ARRAY['物流问题','商品质量'])" >>"$CLUSTER_DIR/many.out" 2>&1 || true; done) &
  loads+=($!)
done
peak=0
for _ in $(seq 1 30); do
  # Every client backend but this one is a server connection of the pool.
  n=$(direct -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0)
  [ "$n" -gt "$peak" ] && peak=$n
  sleep 0.1
done
wait "${loads[@]}"
# (A new server connection's first call warns that the test model has random weights.)
bad=$(grep -vE '^(WARNING:  01000|DETAIL: .*)$' "$CLUSTER_DIR/many.out" | grep -cvE '^(物流问题|商品质量)$' || true)
good=$(grep -cE '^(物流问题|商品质量)$' "$CLUSTER_DIR/many.out" || true)
if [ "$good" = 80 ] && [ "$bad" = 0 ] && [ "$peak" -le 4 ] && [ "$peak" -ge 2 ]; then r=0; else r=1; fi
check pool_bounds_models $r "80 calls from 8 clients of 2 users: $good answered, $bad other lines; backends at most $peak (2 pools of 2, zs.max_model_processes 5)"

echo "pgbouncer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

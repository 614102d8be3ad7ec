#!/usr/bin/env bash
# zs_label_table under interruption and concurrency: two or three sessions (psql) against a
# temporary cluster with the installed extension (scripts/install-extension). scripts/test
# runs it after pg_regress. Windows are made deterministic with row locks held by a second
# session (the backfill's UPDATE waits on them), never with timing luck:
#   1. statement_timeout in the middle of a run: the committed batches stay, the run log says
#      'cancelled' with the error, and a second call finishes with no row labelled twice;
#   2. a second session updates, deletes and inserts rows during a run: a row changed after
#      the run read it is skipped (never given a stale label), inserted rows are labelled,
#      an updated row's label matches its new text; zs_label_runs shows the progress from
#      another session while the run waits, and the run prints a progress NOTICE;
#   3. pg_terminate_backend during a run: the next run marks the dead one 'abandoned';
#   4. the table swapped for another by its schema's owner between two batches: the run fails;
#   5. a run start another session keeps uncommitted does not hold up a backfill.
# Prints "backfill: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
# Every session calls the functions unqualified: the extension's schema is on its path.
export PGOPTIONS="-c search_path=public,zeroshot"
. "$(dirname "$0")/../../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
port=$((${ZS_TEST_PORT:-54329} + 1))
cluster_start "$port"
# psql runs as postgres here: a working directory it may enter (CI's clone is not one), so
# that no "could not change directory" line joins the output the checks compare.
cd "$CLUSTER_DIR"
work=$(mktemp -d /tmp/pg_zeroshot_backfill.XXXXXX)
trap 'exec 3>&- 2>/dev/null || true; cluster_stop; rm -rf "$work"' EXIT

psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER_HOST" -p "$port" -U postgres -d postgres "$@"; }
q() { psql_ -At -c "SET client_min_messages = error" -c "$1"; }
labels='{物流问题,商品质量,售后体验}'
call="CALL zs_label_table('t', 'body', 'label', '$labels', 10, trust_owner => true)"

passed=0
failed=0
check() { # name got want
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1: got '$2', want '$3'"
  fi
}
wait_for() { # SQL returning t; up to 60 s
  for _ in $(seq 600); do
    [ "$(q "$1")" = t ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1"; return 1
}
# Session B: a psql reading statements from a fifo, so that it can hold a transaction open.
b_start() {
  rm -f "$work/b.in"; mkfifo "$work/b.in"
  psql_ <"$work/b.in" >"$work/b.out" 2>&1 &
  b_pid=$!
  exec 3>"$work/b.in"
}
b() { echo "$1" >&3; }
b_stop() { exec 3>&-; wait "$b_pid"; }
backfill_waits_on_lock="SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CALL zs_label_table%' AND wait_event_type = 'Lock')"

q "CREATE EXTENSION pg_zeroshot" >/dev/null
psql_ <<'SQL'
SET client_min_messages = error;
CREATE TABLE t (id int PRIMARY KEY, body text, label text);
-- Every write of a label, as it commits: a row labelled twice would appear twice.
CREATE TABLE writes (id int, label text, body text);
CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO writes VALUES (NEW.id, NEW.label, NEW.body); RETURN NEW; END $$;
CREATE TRIGGER log_write AFTER UPDATE OF label ON t FOR EACH ROW
WHEN (NEW.label IS NOT NULL AND OLD.label IS DISTINCT FROM NEW.label) EXECUTE FUNCTION log_write();
CREATE FUNCTION fill() RETURNS void LANGUAGE sql AS $$
  TRUNCATE t, writes;
  INSERT INTO t SELECT g, '第' || g || '条：' || (ARRAY['快递三天了还没到','买回来两天就坏了','客服态度很好','价格太贵了'])[1 + g % 4], NULL
  FROM generate_series(1, 200) g;
$$;
SQL
all_right="SELECT count(*) FILTER (WHERE label IS NULL) || ' unlabelled, ' || count(*) FILTER (WHERE label <> zs_classify(body, '$labels')) || ' wrong' FROM t"
once="SELECT count(*) || ' writes of ' || count(DISTINCT id) || ' rows' FROM writes"
last_run="FROM zs_label_runs ORDER BY run_id DESC LIMIT 1"

echo "== 1. statement_timeout in the middle of a run"
q "SELECT fill()" >/dev/null
b_start
b "BEGIN; SELECT 1 FROM t WHERE id = 105 FOR UPDATE;"   # batch 11 (rows 101-110) will wait on it
wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.state = 'idle in transaction' AND l.locktype = 'transactionid')"
rc=0
psql_ -c "SET client_min_messages = error" -c "SET statement_timeout = '5s'" -c "$call" >"$work/a.out" 2>"$work/a.err" || rc=$?
check "the run stops with an error" "$([ "$rc" -ne 0 ] && echo yes)" yes
check "the error is the timeout (57014)" "$(grep -c 'canceling statement due to statement timeout' "$work/a.err")" 1
check "its committed batches stay (10 batches of 10)" "$(q "SELECT count(label) FROM t")" 100
check "the run log says cancelled, with the error" \
  "$(q "SELECT status || ' ' || rows_done || ' ' || (finished IS NOT NULL) || ' ' || error $last_run")" \
  "cancelled 100 true 57014: canceling statement due to statement timeout"
b "ROLLBACK;"
b_stop
psql_ -c "SET client_min_messages = error" -c "$call"
check "a second call finishes the table" "$(q "$all_right")" "0 unlabelled, 0 wrong"
check "the second call labels the other 100" "$(q "SELECT status || ' ' || rows_done || ' ' || rows_skipped $last_run")" "done 100 0"
check "no row labelled twice" "$(q "$once")" "200 writes of 200 rows"

echo "== 2. another session updates, deletes and inserts rows during a run"
q "SELECT fill()" >/dev/null
b_start
# Row 55 gets a new text and row 57 is deleted, in a transaction still open when the run
# reads batch 6 (rows 51-60) with their old versions; the run's UPDATE then waits for it.
b "BEGIN; UPDATE t SET body = '改过的文本：质量太差，要退货', label = NULL WHERE id = 55; DELETE FROM t WHERE id = 57;"
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction')"
psql_ -c "SET client_min_messages = notice" -c "$call" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
wait_for "$backfill_waits_on_lock"
check "progress seen from another session while it runs" \
  "$(q "SELECT status || ' ' || (finished IS NULL) || ' ' || rows_done || ' of ' || rows_total || ' ' || (rows_per_s > 0) || ' ' || (backend_pid <> pg_backend_pid()) $last_run")" \
  "running true 50 of 200 true true"
sleep 5.5   # the next commit comes more than 5 s after the start: a progress NOTICE
b "INSERT INTO t SELECT g, '新插入的第' || g || '条：快递很快', NULL FROM generate_series(301, 305) g;"
b "UPDATE t SET body = '改过的文本：客服很耐心', label = NULL WHERE id = 150;"
b "COMMIT;"
b_stop
rc=0; wait "$a_pid" || rc=$?
check "the run ends without error" "$rc" 0
check "the row changed after it was read is skipped, not given a stale label" "$(q "SELECT label IS NULL FROM t WHERE id = 55")" t
check "the deleted row stays deleted" "$(q "SELECT count(*) FROM t WHERE id = 57")" 0
check "rows inserted during the run are labelled by it" "$(q "SELECT count(label) FROM t WHERE id > 300")" 5
check "a row updated before the run reached it is labelled from its new text" \
  "$(q "SELECT label = zs_classify(body, '$labels') AND body LIKE '改过的%' FROM t WHERE id = 150")" t
check "the run log counts 203 labelled, 2 skipped" "$(q "SELECT status || ' ' || rows_done || ' ' || rows_skipped $last_run")" "done 203 2"
check "a progress NOTICE: done/total, rows/s, time left" \
  "$(grep -qE 'NOTICE:  pg_zeroshot: zs_label_table run [0-9]+: [0-9]+ of [0-9]+ rows labelled \([0-9.]+ %\), [0-9.]+ rows/s, about [0-9?]+ s left' "$work/a.err" && echo yes)" yes
check "a final NOTICE with the totals" "$(grep -cE 'NOTICE:  pg_zeroshot: zs_label_table run [0-9]+ done: 203 rows labelled, 2 skipped' "$work/a.err")" 1
psql_ -c "SET client_min_messages = error" -c "$call"
check "the next run labels the skipped row" "$(q "SELECT rows_done $last_run")" 1
check "every row's label is its text's" "$(q "$all_right")" "0 unlabelled, 0 wrong"
check "no row labelled twice, the changed one once from its new text" "$(q "$once")" "204 writes of 204 rows"

echo "== 3. pg_terminate_backend during a run"
q "SELECT fill()" >/dev/null
b_start
b "BEGIN; SELECT 1 FROM t WHERE id = 25 FOR UPDATE;"
wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.state = 'idle in transaction' AND l.locktype = 'transactionid')"
psql_ -c "SET client_min_messages = error" -c "$call" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
wait_for "$backfill_waits_on_lock"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL zs_label_table%'" >/dev/null
rc=0; wait "$a_pid" || rc=$?
check "the terminated run's session ends with an error" "$([ "$rc" -ne 0 ] && echo yes)" yes
check "a terminated run cannot record its end: still 'running'" "$(q "SELECT status || ' ' || rows_done $last_run")" "running 20"
b "ROLLBACK;"
b_stop
psql_ -c "SET client_min_messages = error" -c "$call"
check "the next run marks it abandoned" \
  "$(q "SELECT status || ' ' || rows_done || ' ' || (finished IS NOT NULL) || ' ' || (error LIKE 'the backend stopped running it%') FROM zs_label_runs ORDER BY run_id DESC OFFSET 1 LIMIT 1")" \
  "abandoned 20 true true"
check "and finishes the table" "$(q "$all_right")" "0 unlabelled, 0 wrong"
check "no row labelled twice" "$(q "$once")" "200 writes of 200 rows"

echo "== 4. the table is swapped for another by its schema's owner between two batches"
# Mallory owns schema m; a superuser labels m.t (trusting its code: it has none). Mallory
# drops it and makes another m.t with a trigger that would make her superuser. Her DROP waits
# for the batch under way (session B holds row 105 of batch 11) and takes the table as that
# batch commits; the next batch finds the table it started on gone, and the run fails (55000)
# without touching the new one.
psql_ <<'SQL'
SET client_min_messages = error;
CREATE ROLE mallory LOGIN;
CREATE SCHEMA m AUTHORIZATION mallory;
CREATE TABLE m.t (id int PRIMARY KEY, body text, label text);
INSERT INTO m.t SELECT g, '第' || g || '条：快递三天了还没到', NULL FROM generate_series(1, 200) g;
SQL
b_start
b "BEGIN; SELECT 1 FROM m.t WHERE id = 105 FOR UPDATE;"
wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.state = 'idle in transaction' AND l.locktype = 'transactionid')"
psql_ -c "SET client_min_messages = error" -c "CALL zs_label_table('m.t', 'body', 'label', '$labels', 10, trust_owner => true)" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
wait_for "$backfill_waits_on_lock"
cat > "$work/swap.sql" <<'SQL'
SET client_min_messages = error;
BEGIN;
DROP TABLE m.t;
CREATE TABLE m.t (id int PRIMARY KEY, body text, label text);
INSERT INTO m.t SELECT g, '第' || g || '条：换过的表', NULL FROM generate_series(1, 200) g;
CREATE FUNCTION m.promote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; RETURN NEW; END $$;
CREATE TRIGGER promote BEFORE UPDATE ON m.t FOR EACH STATEMENT EXECUTE FUNCTION m.promote();
COMMIT;
SQL
psql -X -q -h "$CLUSTER_HOST" -p "$port" -U mallory -d postgres -f "$work/swap.sql" >"$work/c.out" 2>&1 &
c_pid=$!
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE usename = 'mallory' AND wait_event_type = 'Lock')"
b "ROLLBACK;"
b_stop
wait "$c_pid" || true
rc=0; wait "$a_pid" || rc=$?
grep -m1 ERROR "$work/a.err" | sed 's/^/     the run said: /' || true
check "the run fails on the swapped table (55000)" \
  "$rc $(grep -cE 'ERROR:  pg_zeroshot: zs_label_table: (the table the run started on was dropped|.* is no longer the table the run started on)' "$work/a.err")" "1 1"
check "mallory's table was not touched, and she is no superuser" \
  "$(q "SELECT count(label) || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory') FROM m.t")" "0 false"
check "the run log says failed after the batches before the swap" "$(q "SELECT status || ' ' || rows_done $last_run")" "failed 110"
q "DROP SCHEMA m CASCADE; DROP ROLE mallory" >/dev/null

echo "== 5. a run start left uncommitted by another session does not hold up a backfill"
# Session B starts a run directly and keeps its transaction open: the rows it marked are
# locked. A backfill's own start skips them instead of waiting (any role could hang every
# backfill of the database so).
q "SELECT fill()" >/dev/null
q "SELECT zeroshot.zs_label_run_start('t', 'body', 'label', NULL, '$labels', 1, 0, current_user, gen_random_uuid())" >/dev/null
b_start
b "BEGIN; SELECT zeroshot.zs_label_run_start('t', 'body', 'label', NULL, '$labels', 1, 0, current_user, gen_random_uuid());"
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction')"
rc=0
psql_ -c "SET client_min_messages = error" -c "SET statement_timeout = '30s'" -c "$call" >"$work/a.out" 2>"$work/a.err" || rc=$?
check "the backfill runs to its end" "$rc $(q "SELECT status || ' ' || rows_done $last_run")" "0 done 200"
b "ROLLBACK;"
b_stop

check "the server never crashed (no 'terminated by signal' or PANIC in its log)" \
  "$(grep -cE 'terminated by signal|PANIC' "$CLUSTER_DIR/server.log")" "0"

echo "backfill ($("$PG_CONFIG" --version)): $passed passed, $failed failed"
[ "$failed" -eq 0 ]

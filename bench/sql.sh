#!/usr/bin/env bash
# SQL-level benchmark and backend memory, on a temporary cluster with the installed extension.
#   bench/sql.sh MODEL_DIR [ROWS=1000] [LABEL_SET=5] [BACKENDS=4]
# 1. `SELECT zs_classify(body, labels) FROM t` over ROWS rows, then zs_classify_batch over the
#    same rows: seconds and rows/s of each (one backend, model loaded first, untimed).
# ZS_SETTINGS adds server settings, e.g. ZS_SETTINGS="-c zs.share_weights=on".
# 2. Memory: RSS and PSS (/proc/PID/smaps_rollup) of one backend after loading the model, then
#    of BACKENDS backends holding it at once: what each extra connection costs.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
model=$(realpath "${1:?usage: bench/sql.sh MODEL_DIR [ROWS] [LABEL_SET] [BACKENDS]}")
rows=${2:-1000}; set_name=${3:-5}; backends=${4:-4}
chmod -R a+rX "$model"
# It opens one backend after another, each with a model of its own: the server-wide bound
# (zs.max_model_processes) is lifted so that memory, not the bound, is what it measures.
export PGOPTIONS="-c search_path=public,zeroshot"
CLUSTER_OPTIONS="-c zs.model_dir=$model -c zs.max_model_processes=64 ${ZS_SETTINGS:-}" cluster_start "${ZS_BENCH_PORT:-54341}"
psql_() { psql -X -q -h "$CLUSTER_HOST" -p "${ZS_BENCH_PORT:-54341}" -U postgres -d postgres "$@"; }
labels=$(python3 -c "import json,sys; print('{' + ','.join(json.load(open('$REPO/bench/workload.json'))['label_sets']['$set_name']) + '}')")
texts_sql=$(python3 -c "
import json; t=json.load(open('$REPO/bench/workload.json'))['texts']
print('ARRAY[' + ','.join(\"'\" + x.replace(\"'\", \"''\") + \"'\" for x in t) + ']')")

echo "== SQL: $rows rows, $(python3 -c "print(len('$labels'.strip('{}').split(',')))") labels, model $model"
psql_ -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pg_zeroshot;
SET client_min_messages = error;
CREATE TABLE t AS SELECT g AS id, ($texts_sql)[1 + (g - 1) % array_length($texts_sql, 1)] AS body FROM generate_series(1, $rows) g;
SELECT zs_classify('预热', '$labels'::text[]) IS NOT NULL AS loaded \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(zs_classify(body, '$labels'::text[])) FROM t \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS per_row_s \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM zs_classify_batch((SELECT array_agg(body ORDER BY id) FROM t), '$labels'::text[]) \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS batch_s \gset
SELECT format('zs_classify per row:  %s s, %s rows/s', round(:per_row_s::numeric, 2), round($rows / :per_row_s::numeric, 2)) AS result
UNION ALL
SELECT format('zs_classify_batch:    %s s, %s rows/s', round(:batch_s::numeric, 2), round($rows / :batch_s::numeric, 2));
SQL

echo "== memory: $backends backends, each loads the model"
mem() { awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{printf "%d %d\n", r/1024, p/1024}' "/proc/$1/smaps_rollup"; }
pids=()
for i in $(seq "$backends"); do
  psql_ -c "SET client_min_messages = error; SELECT zs_classify('预热', '$labels'::text[]); SELECT pg_sleep(600);" >/dev/null 2>&1 &
done
for _ in $(seq 600); do
  n=$(psql_ -At -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND wait_event = 'PgSleep'")
  [ "$n" -ge "$backends" ] && break; sleep 1
done
mapfile -t pids < <(psql_ -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND wait_event = 'PgSleep' ORDER BY pid")
total_rss=0; total_pss=0
for pid in "${pids[@]}"; do
  read -r rss pss < <(mem "$pid")
  echo "backend $pid: RSS $rss MiB, PSS $pss MiB"
  total_rss=$((total_rss + rss)); total_pss=$((total_pss + pss))
done
echo "${#pids[@]} backends: RSS $total_rss MiB, PSS $total_pss MiB in all; PSS per backend $((total_pss / ${#pids[@]})) MiB"
psql_ -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null
wait 2>/dev/null || true

#!/usr/bin/env bash
# Server mode against in-process mode, through SQL, in one run on one machine:
#   bench/server.sh MODEL_DIR [SECONDS=40] [CLIENTS="1 2 4 8 16"] [LABEL_SETS="5 87"]
# For each mode, label set and number of clients, pgbench runs SECONDS of
#   SELECT zs_classify(body, labels) over bench/workload.json's texts, one row a transaction,
# from that many connections at once, and a sampler adds up the PSS (/proc/PID/smaps_rollup)
# of every PostgreSQL process and of the zeroshot server each second. Rows/s and latency
# percentiles are taken from pgbench's per-transaction log, over the window after every
# client's first call (in-process, that call loads the model: seconds at base size).
#   in-process: zs.model_dir = MODEL_DIR, zs.threads = 1 when several clients share the cores
#               (0, one per core, for one client), zs.max_model_processes automatic: past it a
#               client's first call fails with 53300 and pgbench drops that client (counted).
#   server:     pg_zeroshot preloaded with zs.server_autostart (one zeroshot serve, all cores).
# Writes bench/out/server.jsonl (one line per run) and prints a table; BENCHMARKS.md quotes it.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
model=$(realpath "${1:?usage: bench/server.sh MODEL_DIR [SECONDS] [CLIENTS] [LABEL_SETS]}")
seconds=${2:-40}; clients_list=${3:-1 2 4 8 16}; sets=${4:-5 87}
chmod -R a+rX "$model"
bindir=$("$PG_CONFIG" --bindir)
out=$REPO/bench/out; mkdir -p "$out"; results=$out/server.jsonl; : >"$results"
port=${ZS_BENCH_PORT:-54351}
export PGOPTIONS="-c search_path=public,zeroshot -c client_min_messages=error"
psql_() { as_pg "$bindir/psql" -X -q -h "$CLUSTER_DIR" -p "$port" -d postgres -At "$@"; }

# Sums the PSS of the cluster's processes and the server's, in MiB, once a second, until the
# file $1.stop appears; writes the largest sum to $1.
sample_pss() {
  local peak=0 sum pid
  while [ ! -e "$1.stop" ]; do
    sum=0
    for pid in $(pgrep -u postgres -x postgres) $(pgrep -u postgres -x zeroshot); do
      sum=$((sum + $(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)))
    done
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 1
  done
  echo $((peak / 1024)) >"$1"
}

run_mode() { # MODE
  local mode=$1 opts
  if [ "$mode" = server ]; then
    opts="-c shared_preload_libraries=pg_zeroshot -c zs.server_autostart=on"
  else
    opts=""
  fi
  CLUSTER_OPTIONS="-c zs.model_dir=$model -c max_connections=40 $opts" cluster_start "$port"
  cd "$CLUSTER_DIR"
  local texts_sql
  texts_sql=$(python3 -c "
import json; t=json.load(open('$REPO/bench/workload.json'))['texts']
print('ARRAY[' + ','.join(\"'\" + x.replace(\"'\", \"''\") + \"'\" for x in t) + ']')")
  psql_ -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pg_zeroshot;
CREATE TABLE bench_texts AS SELECT g AS id, ($texts_sql)[g] AS body FROM generate_series(1, array_length($texts_sql, 1)) g;
CREATE TABLE bench_labels (name text PRIMARY KEY, labels text[]);
SQL
  for set in $sets; do
    python3 -c "
import json; l=json.load(open('$REPO/bench/workload.json'))['label_sets']['$set']
print(\"INSERT INTO bench_labels VALUES ('$set', ARRAY[\" + ','.join(\"'\" + x + \"'\" for x in l) + '])')" | psql_ -v ON_ERROR_STOP=1
  done
  local n_texts; n_texts=$(psql_ -c "SELECT count(*) FROM bench_texts")
  if [ "$mode" = server ]; then
    # The server loads the model once, before the first run.
    for _ in $(seq 1 600); do [ "$(psql_ -c "SELECT zs_classify('预热', ARRAY['a','b']) IS NOT NULL" 2>/dev/null)" = t ] && break; sleep 1; done
  fi
  for set in $sets; do
    for clients in $clients_list; do
      local threads=1; [ "$clients" = 1 ] && threads=0
      local work=$CLUSTER_DIR/run_${set}_$clients
      mkdir -p "$work"; chown postgres "$work" 2>/dev/null || true
      cat >"$work/txn.sql" <<SQL
\\set i random(1, $n_texts)
SELECT zs_classify(t.body, l.labels) FROM bench_texts t, bench_labels l WHERE t.id = :i AND l.name = '$set';
SQL
      sample_pss "$work/pss" &
      local sampler=$!
      (cd "$work" && PGOPTIONS="$PGOPTIONS -c zs.threads=$threads" as_pg "$bindir/pgbench" -n -h "$CLUSTER_DIR" -p "$port" -c "$clients" -j "$clients" \
        -T "$seconds" -f txn.sql -l --log-prefix=txlog postgres >"$work/pgbench.out" 2>&1) || true
      touch "$work/pss.stop"; wait "$sampler"
      python3 - "$work" "$mode" "$set" "$clients" "$(cat "$work/pss")" "$threads" >>"$results" <<'PY'
import glob, json, re, sys
work, mode, labels, clients, pss, threads = sys.argv[1:7]
rows = []  # (client, end time in s, latency in ms)
for f in glob.glob(work + "/txlog.*"):
    for line in open(f):
        c, _, lat_us, _, sec, usec = line.split()[:6]
        rows.append((int(c), int(sec) + int(usec) / 1e6, int(lat_us) / 1000))
out = open(work + "/pgbench.out").read()
aborted = len(re.findall(r"client \d+ (?:script \d+ )?aborted", out))
refused = len(re.findall(r"53300|model processes", out))
result = {"mode": mode, "labels": int(labels), "clients": int(clients), "threads_per_backend": int(threads),
          "pss_peak_mib": int(pss), "clients_aborted": aborted, "refused_53300": refused}
firsts = {}
for c, t, _ in sorted(rows, key=lambda r: r[1]):
    firsts.setdefault(c, t)
if firsts:
    start = max(firsts.values())
    window = [r for r in rows if r[1] > start]
    end = max(r[1] for r in rows)
    lat = sorted(r[2] for r in window)
    if lat and end > start:
        result.update(rows=len(window), window_s=round(end - start, 1), rows_per_s=round(len(window) / (end - start), 2),
                      p50_ms=round(lat[len(lat) // 2], 1), p99_ms=round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
                      clients_measured=len(firsts))
print(json.dumps(result))
PY
      tail -1 "$results"
    done
  done
  cd "$REPO"
  cluster_stop
  trap - EXIT
}

{ echo "# $(date -u +%FT%TZ) $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), model $model, ${seconds} s a run"; } | tee "$out/server_machine.txt"
run_mode server
run_mode in-process
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| labels | clients | mode | rows/s | p50 ms | p99 ms | peak PSS MiB | clients served |")
print("|---:|---:|---|---:|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["labels"], r["clients"], r["mode"])):
    print(f"| {r['labels']} | {r['clients']} | {r['mode']} | {r.get('rows_per_s', '-')} | {r.get('p50_ms', '-')} | "
          f"{r.get('p99_ms', '-')} | {r['pss_peak_mib']} | {r.get('clients_measured', 0)} of {r['clients']} |")
PY

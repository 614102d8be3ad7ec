#!/usr/bin/env bash
# Three ways of labelling a table, side by side in one run, on a temporary cluster with the
# installed extension (scripts/install-extension):
#   bench/backfill.sh [MODEL_DIR] [ROWS=10000] [REPS=3] [LABEL_SET=5]
# MODEL_DIR '' (the default) is the bundled tiny test model. The texts are bench/workload.json's,
# repeated; the labels its LABEL_SET (5: ticket categories). Each repetition labels a fresh copy
# of the table (every label NULL) three ways, in one backend with the model already loaded:
#   update:      UPDATE t SET label = zs_classify(body, labels)   (one transaction, one text per call)
#   batch_loop:  a hand-written DO loop: 256 rows by key, zs_classify_batch, UPDATE ... FROM, COMMIT
#   label_table: CALL zs_label_table('t', 'body', 'label', labels, 256)
# and checks that the three wrote the same labels. Prints each run, then the median rows/s.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
model=${1:-}
rows=${2:-10000}; reps=${3:-3}; set_name=${4:-5}
opts=""
if [ -n "$model" ]; then model=$(realpath "$model"); chmod -R a+rX "$model"; opts="-c zs.model_dir=$model"; fi
port=${ZS_BENCH_PORT:-54342}
export PGOPTIONS="-c search_path=public,zeroshot"
CLUSTER_OPTIONS="$opts ${ZS_SETTINGS:-}" cluster_start "$port"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER_HOST" -p "$port" -U postgres -d postgres "$@"; }
labels=$(python3 -c "import json; print('{' + ','.join(json.load(open('$REPO/bench/workload.json'))['label_sets']['$set_name']) + '}')")
texts_sql=$(python3 -c "
import json; t=json.load(open('$REPO/bench/workload.json'))['texts']
print('ARRAY[' + ','.join(\"'\" + x.replace(\"'\", \"''\") + \"'\" for x in t) + ']')")

echo "== backfill: $rows rows, labels $labels, model ${model:-bundled tiny test model}, $reps repetitions"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Flags)' | sed -E 's/^(Flags:).*/\1 '"$(lscpu | grep -oE '\b(avx512f|avx512_vnni|avx2|fma|avx)\b' | sort -u | tr '\n' ' ')"'/'
psql_ <<SQL
SET client_min_messages = error;
CREATE EXTENSION pg_zeroshot;
CREATE TABLE src AS SELECT g AS id, ($texts_sql)[1 + (g - 1) % array_length($texts_sql, 1)] AS body
FROM generate_series(1, $rows) g;
CREATE TABLE t (id int PRIMARY KEY, body text, label text);
CREATE TABLE first_labels (id int PRIMARY KEY, label text);
SQL

run() { # method rep -> seconds
  local method=$1 sql
  case $method in
    update) sql="UPDATE t SET label = zs_classify(body, '$labels');" ;;
    batch_loop) sql="DO \$\$
DECLARE lo int := 0; hi int;
BEGIN
  LOOP
    SELECT max(id) INTO hi FROM (SELECT id FROM t WHERE id > lo AND label IS NULL ORDER BY id LIMIT 256) s;
    EXIT WHEN hi IS NULL;
    UPDATE t SET label = c.label
      FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(body ORDER BY id) AS bodies
              FROM t WHERE id > lo AND id <= hi AND label IS NULL) a
      CROSS JOIN LATERAL zs_classify_batch(a.bodies, '$labels') c
     WHERE t.id = a.ids[c.ord];
    COMMIT;
    lo := hi;
  END LOOP;
END \$\$;" ;;
    label_table) sql="CALL zs_label_table('t', 'body', 'label', '$labels', 256, trust_owner => true);" ;;
  esac
  psql_ -At <<SQL
SET client_min_messages = error;
TRUNCATE t;
INSERT INTO t SELECT id, body, NULL FROM src;
VACUUM ANALYZE t;
SELECT zs_classify('预热', '$labels') IS NOT NULL AS loaded \gset
SELECT clock_timestamp() AS t0 \gset
$sql
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
SELECT CASE WHEN count(label) <> $rows THEN 'ERROR: ' || count(label) || ' labelled' END FROM t;
SELECT :secs;
SQL
}

results=$(mktemp)
for rep in $(seq "$reps"); do
  for method in update batch_loop label_table; do
    out=$(run "$method")
    if grep -q ERROR <<<"$out"; then echo "$method: $out"; exit 1; fi
    secs=$(tail -n 1 <<<"$out")
    if [ "$rep" = 1 ] && [ "$method" = update ]; then
      psql_ -c "INSERT INTO first_labels SELECT id, label FROM t"
    else
      diff=$(psql_ -At -c "SELECT count(*) FROM t JOIN first_labels f USING (id) WHERE t.label IS DISTINCT FROM f.label")
      if [ "$diff" != 0 ]; then echo "$method: $diff labels differ from UPDATE ... zs_classify's"; exit 1; fi
    fi
    rate=$(python3 -c "print(f'{$rows / $secs:.1f}')")
    echo "$method rep $rep: $secs s, $rate rows/s"
    echo "$method $secs" >>"$results"
  done
done
echo "All three wrote the same $rows labels in every repetition."
python3 - "$results" "$rows" <<'PY'
import sys, statistics
rows = int(sys.argv[2]); runs = {}
for line in open(sys.argv[1]):
    m, s = line.split(); runs.setdefault(m, []).append(float(s))
print("| way | runs | median seconds | median rows/s | rows/s of each run |")
print("|---|---:|---:|---:|---|")
names = {"update": "`UPDATE … SET label = zs_classify(…)`", "batch_loop": "hand-written `zs_classify_batch` loop (256 rows/commit)",
         "label_table": "`CALL zs_label_table(…, 256)`"}
for m in ("update", "batch_loop", "label_table"):
    s = runs[m]; med = statistics.median(s)
    print(f"| {names[m]} | {len(s)} | {med:.2f} | {rows / med:.1f} | {' / '.join(f'{rows / x:.1f}' for x in s)} |")
PY
rm -f "$results"

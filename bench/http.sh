#!/usr/bin/env bash
# What HTTP costs: `zeroshot serve` against the engine called in-process by the command line,
# on the same model, texts and labels, in alternating rounds on one machine:
#   bench/http.sh MODEL_DIR [ROUNDS=3] [LABEL_SET=5]
# - one text a call: `zeroshot bench --keep-arenas` (the server keeps its arenas too) p50,
#   against POST /v1/classify of one text from a keep-alive client on loopback TCP, p50, with
#   the server's default --max-wait-ms (5) and with 0;
# - the release's batch: POST /augment_batch with 50 texts, texts/s, against `zeroshot bench
#   --batch 50` (exact_batch rows/s).
# Writes bench/out/http.jsonl and prints the medians and their ratios.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
cd "$REPO"
model=${1:?usage: bench/http.sh MODEL_DIR [ROUNDS] [LABEL_SET]}; rounds=${2:-3}; set_name=${3:-5}
cargo build --release -q -p zeroshot-cli
export ORT_DYLIB_PATH=$ORT_LIB
out=bench/out; mkdir -p "$out"; results=$out/http.jsonl; : >"$results"
port=${ZS_BENCH_HTTP_PORT:-7871}
work=$(mktemp -d); server=
trap 'if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), model $model, labels $set_name" | tee "$out/http_machine.txt"

start_server() { # MAX_WAIT_MS
  target/release/zeroshot serve --model-dir "$model" --listen "127.0.0.1:$port" --max-wait-ms "$1" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 1200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "the server did not start"; cat "$work/serve.log"; exit 1
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=; }

http_round() { # MAX_WAIT_MS
  python3 - "$port" "$set_name" "$1" <<'PY'
import http.client, json, statistics, sys, time
port, set_name, wait = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
w = json.load(open("bench/workload.json"))
texts, labels = w["texts"], w["label_sets"][set_name]
conn = http.client.HTTPConnection("127.0.0.1", port)
def post(path, body):
    t0 = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    assert r.status == 200, data
    return time.perf_counter() - t0
for t in texts[:2]:  # warm-up, as the command line's --warmup 2
    post("/v1/classify", {"texts": [t], "labels": labels})
one = [post("/v1/classify", {"texts": [t], "labels": labels}) * 1000 for t in texts]
batch = texts[:50]
post("/augment_batch", {"texts": batch, "candidate_labels": labels})
took = [post("/augment_batch", {"texts": batch, "candidate_labels": labels}) for _ in range(3)]
print(json.dumps({"what": "http", "max_wait_ms": wait, "one_text_p50_ms": statistics.median(one),
                  "augment_batch_50_texts_per_s": 50 / statistics.median(took)}))
PY
}

cli_round() {
  target/release/zeroshot bench --model-dir "$model" --label-sets "$set_name" --modes exact \
    --texts 60 --batch 50 --keep-arenas --json "$work/cli.json" >/dev/null 2>&1
  python3 - "$work/cli.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
one = next(x for x in r if x["mode"] == "exact")
batch = next(x for x in r if x["mode"] == "exact_batch")
print(json.dumps({"what": "cli", "one_text_p50_ms": one["p50_ms"], "batch_50_texts_per_s": batch["rows_per_s"]}))
PY
}

for round in $(seq 1 "$rounds"); do
  cli_round | tee -a "$results"
  for wait in 5 0; do
    start_server "$wait"
    http_round "$wait" | tee -a "$results"
    stop_server
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cli = [r for r in rows if r["what"] == "cli"]
med = lambda xs: statistics.median(xs)
cli_one = med([r["one_text_p50_ms"] for r in cli]); cli_batch = med([r["batch_50_texts_per_s"] for r in cli])
print(f"command line: one text p50 {cli_one:.1f} ms; batch of 50: {cli_batch:.1f} texts/s (medians of {len(cli)} rounds)")
for wait in (5, 0):
    h = [r for r in rows if r["what"] == "http" and r["max_wait_ms"] == wait]
    one = med([r["one_text_p50_ms"] for r in h]); batch = med([r["augment_batch_50_texts_per_s"] for r in h])
    print(f"HTTP, --max-wait-ms {wait}: /v1/classify one text p50 {one:.1f} ms ({one / cli_one:.3f}x the command line); "
          f"/augment_batch 50 texts: {batch:.1f} texts/s ({batch / cli_batch:.3f}x)")
PY

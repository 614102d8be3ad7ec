#!/usr/bin/env bash
# Exact mode in one tree pass against the level-by-level step decoder and the NLI baseline, in
# one run on one machine (BENCHMARKS.md, "The label trie in one decoder pass"):
#   bench/one_pass.sh [MODEL_DIR=bench/out/mt5-base-fp32] [TEXTS=10] [BATCH=10]
# MODEL_DIR must have decoder_tree_model.onnx (tools/export_model.py writes it; for a directory
# exported before it, tools/add_tree_graph.py) and MODEL_DIR-checkpoint the PyTorch weights.
# Runs `zeroshot bench` with the tree graph, then with --no-tree-pass (the same model decoded
# level by level, as before), then bench/baselines.py's NLI cross-encoder, one after the other;
# prints a table of medians and ratios and writes bench/out/one_pass_*.json.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
cd "$REPO"
model=${1:-bench/out/mt5-base-fp32}; texts=${2:-10}; batch=${3:-10}
py=${ZS_PYTHON:-$REPO/.venv-tools/bin/python}
out=bench/out; mkdir -p "$out"
cargo build --release -q -p zeroshot-cli
export ORT_DYLIB_PATH=$ORT_LIB
{ echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"; } | tee "$out/one_pass_machine.txt"
bench() { target/release/zeroshot bench -q --model-dir "$model" --texts "$texts" --batch "$batch" --modes exact,greedy "$@"; }
echo "== one tree pass"; bench --json "$out/one_pass_tree.json"
echo "== level by level (--no-tree-pass)"; bench --no-tree-pass --json "$out/one_pass_steps.json"
echo "== NLI cross-encoder (PyTorch)"
"$py" bench/baselines.py "$model-checkpoint" --baselines nli --texts "$texts" --json "$out/one_pass_nli.json"
"$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, f"one_pass_{name}.json")))
tree, steps, nli = load("tree"), load("steps"), load("nli")
def by(doc, mode):
    return {r["labels"]: r for r in doc["results"] if r["mode"] == mode}
nli_rows = {r["labels"]: r for r in nli["results"] if r.get("baseline", r.get("mode")) == "nli"}
print("| labels | tree exact p50 ms | steps exact p50 ms | tree ÷ steps | NLI p50 ms | tree ÷ NLI "
      "| ORT runs per text (tree / steps) | tree batch rows/s | steps batch rows/s | batch tree ÷ steps "
      "| tree greedy p50 ms | steps greedy p50 ms |")
print("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
for n in sorted(by(tree, "exact")):
    t, s = by(tree, "exact")[n], by(steps, "exact")[n]
    tb, sb = by(tree, "exact_batch")[n], by(steps, "exact_batch")[n]
    tg, sg = by(tree, "greedy")[n], by(steps, "greedy")[n]
    v = nli_rows.get(n, {}).get("p50_ms")
    print(f"| {n} | {t['p50_ms']:.0f} | {s['p50_ms']:.0f} | {t['p50_ms'] / s['p50_ms']:.2f}× | "
          f"{v:.0f} | {t['p50_ms'] / v:.2f}× | {t['ort_runs_per_text']:.1f} / {s['ort_runs_per_text']:.1f} | "
          f"{tb['rows_per_s']:.2f} | {sb['rows_per_s']:.2f} | {tb['rows_per_s'] / sb['rows_per_s']:.2f}× | "
          f"{tg['p50_ms']:.0f} | {sg['p50_ms']:.0f} |" if v else f"| {n} | missing NLI figure |")
PY

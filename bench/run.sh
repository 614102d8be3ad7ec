#!/usr/bin/env bash
# The whole benchmark, in one run on one machine, so that ratios compare like with like:
#   bench/run.sh [MODEL_DIR=bench/out/mt5-base-fp32] [TEXTS=20]
# Needs: scripts/install (extension + ONNX Runtime), the tools venv (tools/requirements.txt) in
# $ZS_PYTHON (default .venv-tools/bin/python), and the base-size model:
#   $ZS_PYTHON bench/make_base_model.py bench/out/mt5-base-fp32
# Writes bench/out/*.json and *.txt; BENCHMARKS.md quotes them.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
cd "$REPO"
model=${1:-bench/out/mt5-base-fp32}; texts=${2:-20}
py=${ZS_PYTHON:-$REPO/.venv-tools/bin/python}
out=bench/out; mkdir -p "$out"
cargo build --release -q -p zeroshot-cli
export ORT_DYLIB_PATH=$ORT_LIB
{ echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"; } | tee "$out/machine.txt"
echo "== engine (zeroshot bench), fused score outputs"
target/release/zeroshot bench --model-dir "$model" --texts "$texts" --json "$out/engine.json" | tee "$out/engine.txt"
echo "== engine, full logits (a plain Optimum export)"
target/release/zeroshot bench --model-dir "$model" --texts "$texts" --modes exact --full-logits --json "$out/engine_full_logits.json" | tee "$out/engine_full_logits.txt"
echo "== transformers baselines, same weights"
"$py" bench/baselines.py "$model-checkpoint" --texts "$texts" --nli-texts "${NLI_TEXTS:-5}" --json "$out/baselines.json" | tee "$out/baselines.txt"
echo "== SQL and memory"
bench/sql.sh "$model" "${SQL_ROWS:-1000}" "${SQL_LABELS:-5}" 4 | tee "$out/sql.txt"

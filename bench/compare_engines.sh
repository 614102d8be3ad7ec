#!/usr/bin/env bash
# Two builds of the `zeroshot` binary side by side on one model, runs alternating, so that a
# change's cost is read as a ratio from one noisy machine (BENCHMARKS.md).
#   usage: bench/compare_engines.sh OLD_ZEROSHOT NEW_ZEROSHOT MODEL_DIR [ROUNDS=4] [LABEL_SETS=87]
# Writes bench/out/compare/{old,new}-N.json and prints each round's p50 and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: compare_engines.sh OLD NEW MODEL_DIR [ROUNDS] [LABEL_SETS]}; new=${2:?}; model=${3:?}
rounds=${4:-4}; sets=${5:-87}
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/target/onnxruntime/libonnxruntime.so.1.31.1}
out=bench/out/compare; mkdir -p "$out"
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ $which = new ] && bin=$new
    "$bin" bench --model-dir "$model" --label-sets "$sets" --modes exact --texts 10 --warmup 2 --batch 0 \
      --max-input-tokens 1024 --json "$out/$which-$r.json" > /dev/null
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
p50 = {w: [json.load(open(f"{out}/{w}-{r}.json"))["results"][0]["p50_ms"] for r in range(1, rounds + 1)] for w in ("old", "new")}
for w, xs in p50.items():
    print(f"{w}: " + " / ".join(f"{x:.0f}" for x in xs) + f" ms, median {statistics.median(xs):.0f} ms")
print("new/old by round: " + " ".join(f"{n / o:.2f}" for o, n in zip(p50["old"], p50["new"]))
      + f"; medians {statistics.median(p50['new']) / statistics.median(p50['old']):.2f}")
PY

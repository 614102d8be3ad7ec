#!/usr/bin/env bash
# Two builds of the `zeroshot` binary side by side on one model, runs alternating, so that a
# change's cost is read as a ratio from one noisy machine (BENCHMARKS.md). A third variant,
# "keep", runs the new build with --keep-arenas (ONNX Runtime's arena memory kept from call to
# call, as engines before the safety work did): it separates what the dataflow costs from what
# returning memory after every call costs.
#   usage: bench/compare_engines.sh OLD_ZEROSHOT NEW_ZEROSHOT MODEL_DIR [ROUNDS=4] [LABEL_SETS=87]
# Writes bench/out/compare/{old,new,keep}-N.json and prints each round's p50, the medians and
# the new build's minor page faults per text.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: compare_engines.sh OLD NEW MODEL_DIR [ROUNDS] [LABEL_SETS]}; new=${2:?}; model=${3:?}
rounds=${4:-4}; sets=${5:-87}
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/target/onnxruntime/libonnxruntime.so.1.31.1}
out=bench/out/compare; mkdir -p "$out"
for r in $(seq "$rounds"); do
  for which in old new keep; do
    bin=$new; flags=()
    [ $which = old ] && bin=$old
    [ $which = keep ] && flags=(--keep-arenas)
    "$bin" bench --model-dir "$model" --label-sets "$sets" --modes exact --texts 10 --warmup 2 --batch 0 \
      --max-input-tokens 1024 "${flags[@]}" --json "$out/$which-$r.json" > /dev/null
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = {w: [json.load(open(f"{out}/{w}-{r}.json"))["results"][0] for r in range(1, rounds + 1)] for w in ("old", "new", "keep")}
p50 = {w: [x["p50_ms"] for x in xs] for w, xs in runs.items()}
for w, xs in p50.items():
    faults = [x.get("minor_faults_per_text") for x in runs[w]]
    known = [f for f in faults if f is not None]
    print(f"{w}: " + " / ".join(f"{x:.0f}" for x in xs) + f" ms, median {statistics.median(xs):.0f} ms"
          + (f"; minor faults per text, median {statistics.median(known):.0f}" if known else ""))
for a, b in (("new", "old"), ("keep", "old"), ("new", "keep")):
    ratios = [y / x for x, y in zip(p50[b], p50[a])]
    slower = sum(r > 1 for r in ratios)
    print(f"{a}/{b} by round: " + " ".join(f"{r:.2f}" for r in ratios)
          + f"; median ratio {statistics.median(ratios):.2f}; {a} slower in {slower} of {len(ratios)}")
PY

#!/usr/bin/env bash
# The GPU check and benchmark (issue 10) for an H100/H200 device machine, in two runs back to
# back (the CUDA ONNX Runtime bundle is two ~30 MiB parts and one transfer holds 64 MiB; the
# machine is given back after ~30 s idle, /tmp with it), and a rehearsal of the same steps on
# this CPU with a small model.
#
#   bench/gpu.sh prepare          here: .device/p1 (ORT part 1, setup, wheels) and .device/p2
#                                 (ORT part 2, setup, the release zeroshot binary)
#   bash bench/gpu.sh run1 .device/p1    device: ORT part 1, wheels, mT5-base random weights
#                                 exported fp32 and mixed fp16 at once (no PyTorch check: time)
#   bash bench/gpu.sh run2 .device/p2    device: ORT part 2, then the measurements below
#   bench/gpu.sh rehearse         here: run2's measurements on the CPU with a small model
#
# Measurements (run2): CUDA against CPU scores with zs.cuda_tf32 off (within 1e-3) and on;
# fp16 against fp32 answers (>= 99% agree) and inf/NaN; `zeroshot bench` on CUDA, fp32 and
# fp16 (87 labels exact single text over 60 texts, exact batch of 60, greedy, 5 labels;
# host_bytes_per_text), and fp32 exact mode level by level (--no-tree-pass, 5 and 87 labels); the transformers baselines on the same GPU (24 texts); GPU memory
# sampled every 100 ms (idle, one call, each benchmark); server mode (zeroshot serve on the
# card, 16 and 1 concurrent clients at 87 labels, bench/load.py). Everything lands in $OUT, and
# bench/gpu_results.py assembles bench/results/gpu-<card>.json, which BENCHMARKS.md quotes.
# The device recipe's timings on an H100 (2026-11-27): run1 234 s, run2 118 s, before the
# server-mode steps (about 75 s more in the CPU rehearsal of 2026-12-01).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: gpu.sh prepare | run1 DIR | run2 DIR | rehearse}
out=${OUT:-bench/out/gpu}; mkdir -p "$out"
step() { # step NAME LIMIT CMD...: runs CMD with a time limit, output in $out/NAME.{out,err}
  local name=$1 limit=$2; shift 2; local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.out" 2> "$out/$name.err"; local rc=$?
  echo "== $name rc=$rc $((SECONDS - t0))s" | tee -a "$out/steps.txt"; return $rc
}

gpu_memory() { # gpu_memory NAME: samples the card's used memory (MiB) every 100 ms into $out/NAME.mem
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$out/$1.mem" 2>/dev/null &
  sampler=$!
}
gpu_memory_stop() { [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null; sampler=; }

exports() { # exports PYTHON BASE [--small]: BASE-fp32 and BASE-fp16 from one checkpoint, at once
  # (on the device's 16 cores the two exports overlap: 139 s and about 200 s alone on an H100's host,
  # before the tree graph joined them: about a minute more each at base size on 2 cores).
  local py=$1 m=$2; shift 2
  step checkpoint 120 "$py" bench/make_base_model.py $m-fp32 --checkpoint-only "$@" || return 1
  ln -sfn $m-fp32-checkpoint $m-fp16-checkpoint; ln -sfn $m-fp32-checkpoint $m-checkpoint
  step export-fp32 400 "$py" bench/make_base_model.py $m-fp32 --no-check "$@" & local a=$!
  step export-fp16 500 "$py" bench/make_base_model.py $m-fp16 --precision fp16 --no-check "$@" & local b=$!
  wait $a; local ra=$?; wait $b; local rb=$?
  [ $ra = 0 ] && [ $rb = 0 ]
}

measure() { # measure ZEROSHOT MODEL_BASE DEVICE ENGINE_TEXTS BASELINE_TEXTS
  local zs=$1 m=$2 dev=$3 et=$4 bt=$5
  python3 - <<'PY'
import json; w = json.load(open('bench/workload.json')); t = w['texts']; n = 12
open('/tmp/zs-t.txt', 'w').write('\n'.join(t[i * len(t) // n] for i in range(n)) + '\n')
open('/tmp/zs-l87.txt', 'w').write(','.join(w['label_sets']['87']))
PY
  local L; L=$(cat /tmp/zs-l87.txt)
  step cpu32 300 "$zs" classify --model-dir "$m-fp32" --device cpu --max-input-tokens 1024 --labels "$L" --json < /tmp/zs-t.txt
  step dev32-tf32-off 120 "$zs" classify --model-dir "$m-fp32" --device "$dev" --cuda-tf32 false --max-input-tokens 1024 --labels "$L" --json < /tmp/zs-t.txt
  step dev32-tf32-on 120 "$zs" classify --model-dir "$m-fp32" --device "$dev" --max-input-tokens 1024 --labels "$L" --json < /tmp/zs-t.txt
  step dev16 120 "$zs" classify --model-dir "$m-fp16" --device "$dev" --max-input-tokens 1024 --labels "$L" --json < /tmp/zs-t.txt
  python3 bench/compare_devices.py "$out/cpu32.out" "$out/dev32-tf32-off.out" --max-diff 1e-3 | tee "$out/compare-tf32-off.txt"
  python3 bench/compare_devices.py "$out/cpu32.out" "$out/dev32-tf32-on.out" | tee "$out/compare-tf32-on.txt"
  python3 bench/compare_devices.py "$out/dev32-tf32-on.out" "$out/dev16.out" --min-agree 0.99 | tee "$out/compare-fp16.txt"
  # GPU memory of one process: idle card, then one 87-label call (load and one text), then the
  # whole benchmark (60-text batches); bench/gpu_results.py takes each one's peak.
  gpu_memory idle; sleep 1; gpu_memory_stop
  gpu_memory one-call
  step one-call 60 "$zs" classify --model-dir "$m-fp32" --device "$dev" --max-input-tokens 1024 --labels "$L" --json < <(head -1 /tmp/zs-t.txt)
  gpu_memory_stop
  for p in fp32 fp16; do
    gpu_memory "engine-$p"
    step "engine-$p" 200 "$zs" bench --model-dir "$m-$p" --device "$dev" --texts "$et" --warmup 3 --max-input-tokens 1024 \
      --batch 60 --batch-rows 4096 --batch-tokens 16384 --json "$out/engine-$p.json"
    gpu_memory_stop
    cat "$out/engine-$p.out"
  done
  # Exact mode level by level (issue 22: the tree pass against what it replaced), same model.
  step engine-fp32-steps 150 "$zs" bench --model-dir "$m-fp32" --device "$dev" --texts "$et" --warmup 3 --max-input-tokens 1024 \
    --modes exact --label-sets 5,87 --batch 0 --no-tree-pass --json "$out/engine-fp32-steps.json"
  cat "$out/engine-fp32-steps.out"
  step baselines 240 python3 bench/baselines.py "$m-checkpoint" --device "$dev" --texts "$bt" --nli-texts "$bt" --json "$out/baselines.json"
  cat "$out/baselines.out"
  # Server mode (issue 17): one `zeroshot serve` on the device, 16 clients (and 1) sending one
  # 87-label text at a time, as database backends in server mode do (bench/load.py: no
  # PostgreSQL on the device machine).
  for p in fp32 fp16; do
    "$zs" serve --model-dir "$m-$p" --device "$dev" --listen 127.0.0.1:7872 --max-input-tokens 1024 > "$out/serve-$p.log" 2>&1 &
    local srv=$!
    for _ in $(seq 1 1200); do curl -s -o /dev/null http://127.0.0.1:7872/healthz && break; sleep 0.1; done
    gpu_memory "server-$p"
    step "server-$p-c16" 90 python3 bench/load.py http://127.0.0.1:7872 --clients 16 --labels 87 --seconds "${SERVER_S:-20}"
    step "server-$p-c1" 60 python3 bench/load.py http://127.0.0.1:7872 --clients 1 --labels 87 --seconds "$(( ${SERVER_S:-20} / 2 ))"
    gpu_memory_stop
    kill -TERM "$srv"; wait "$srv"
    cat "$out/server-$p-c16.out" "$out/server-$p-c1.out"
  done
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader | tee "$out/card.txt"
  else
    lscpu | sed -n 's/^Model name: *//p' | head -1 | sed 's/$/ (CPU rehearsal)/' | tee "$out/card.txt"
  fi
  python3 bench/gpu_results.py "$out" ${RESULTS_DIR:+--results-dir "$RESULTS_DIR"}
}

case $mode in
  prepare)
    cargo build --release -p zeroshot-cli || exit 1
    mkdir -p .device/b .device/p1/whl .device/p2
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || true
    [ -f .device/b/ort-cuda.tar.xz.part-ab ] || bench/gpu/make-ort-cuda-bundle.sh .device/b || exit 1
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .device/p1/whl \
      transformers==4.57.6 optimum==2.1.0 optimum-onnx==0.1.0 huggingface_hub==0.36.2 tokenizers==0.22.2 || exit 1
    cp .device/b/ort-cuda.tar.xz.part-aa .device/b/device-setup.sh .device/p1/
    cp .device/b/ort-cuda.tar.xz.part-ab .device/b/device-setup.sh target/release/zeroshot .device/p2/
    du -sh .device/p1 .device/p2 ;;
  run1)
    d=$(realpath "${2:?usage: gpu.sh run1 DIR}")
    bash "$d/device-setup.sh" "$d"
    python3 -m pip install -q --no-index --no-deps --target /tmp/site "$d"/whl/*.whl 2>&1 | tail -2
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    exports python3 /tmp/mt5-base ;;
  run2)
    d=$(realpath "${2:?usage: gpu.sh run2 DIR}")
    bash "$d/device-setup.sh" "$d" || exit 1
    . /tmp/ort-cuda/env.sh
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    ln -sfn /tmp/mt5-base-fp32-checkpoint /tmp/mt5-base-checkpoint
    measure "$d/zeroshot" /tmp/mt5-base cuda "${ET:-60}" "${BT:-24}" ;;
  rehearse)
    py=${ZS_PYTHON:-.venv-tools/bin/python}
    export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/target/onnxruntime/libonnxruntime.so.1.31.1}
    cargo build --release -p zeroshot-cli || exit 1
    m=/tmp/zs-rehearsal
    [ -d $m-fp16 ] || exports "$py" $m --small || exit 1
    # A rehearsal's figures are no GPU's: they stay in $out, out of bench/results.
    RESULTS_DIR=$out PATH=$(dirname "$py"):$PATH measure target/release/zeroshot $m cpu 6 6 ;;
  *) echo "usage: gpu.sh prepare | run1 DIR | run2 DIR | rehearse" >&2; exit 2 ;;
esac

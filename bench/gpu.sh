#!/usr/bin/env bash
# The GPU check and benchmark (issue 5), as one script for the H100/H200 device machine.
# NOT YET RUN: no GPU was lent to the session that wrote it. bench/gpu/ holds the CUDA 13 ONNX Runtime bundle scripts.
#
# Here, first:
#   cargo build --release -p zeroshot-cli && mkdir -p .device && cp target/release/zeroshot .device/
#   bench/gpu/make-ort-cuda-bundle.sh .device        (the CUDA 13 ONNX Runtime, two parts)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .device/whl \
#     transformers==4.57.6 optimum==2.1.0 optimum-onnx==0.1.0 huggingface_hub==0.36.2 tokenizers==0.22.2
# Then two runs back to back (the parts travel separately):
#   run 1: carry .device/ort-cuda.tar.xz.part-aa .device/device-setup.sh;  bash .device/device-setup.sh .device
#   run 2: carry .device/ort-cuda.tar.xz.part-ab .device/device-setup.sh .device/zeroshot .device/whl;
#          bash .device/device-setup.sh .device && . /tmp/ort-cuda/env.sh && bash bench/gpu.sh
# Results land in $OUT (gpu-*.txt, *.json); BENCHMARKS.md quotes them with the card's name.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu-card.txt"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .device/whl/*.whl
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
zs=.device/zeroshot
m=/tmp/mt5-base
# 1. The model at base size, random weights, fp32 and mixed fp16 (skip the PyTorch check: time).
python3 bench/make_base_model.py "$m-fp32" 2>&1 | grep -E "exported|PASS|FAIL" | tee "$out/gpu-export.txt"
python3 -c "
import sys; sys.path.insert(0, 'tools'); import export_model
export_model.export('$m-fp32-checkpoint', '$m-fp16', 'fp16', model_id='bench/mt5-base-random-fp16', random_weights=True, do_check=False)" | tee -a "$out/gpu-export.txt"
# 2. Correctness: CUDA against CPU (fp32 within 1e-3), fp16 answers against fp32 (>= 99% agree).
python3 -c "import json; [print(t) for t in json.load(open('bench/workload.json'))['texts']]" > /tmp/texts.txt
labels=$(python3 -c "import json; print(','.join(json.load(open('bench/workload.json'))['label_sets']['87']))")
$zs classify --model-dir "$m-fp32" --device cpu --max-input-tokens 1024 --labels "$labels" --json < /tmp/texts.txt > /tmp/cpu.jsonl
$zs classify --model-dir "$m-fp32" --device cuda --max-input-tokens 1024 --labels "$labels" --json < /tmp/texts.txt > /tmp/cuda32.jsonl
$zs classify --model-dir "$m-fp16" --device cuda --max-input-tokens 1024 --labels "$labels" --json < /tmp/texts.txt > /tmp/cuda16.jsonl
python3 -c "
import json, math; rows = [json.loads(l) for l in open('/tmp/cuda16.jsonl')]
bad = [r for r in rows if not all(math.isfinite(v) for v in r['logprobs'].values())]
print(f'fp16: {len(bad)} of {len(rows)} rows with inf/NaN log-probabilities')" | tee "$out/gpu-check.txt"
python3 bench/compare_devices.py /tmp/cpu.jsonl /tmp/cuda32.jsonl --max-diff 1e-3 | tee -a "$out/gpu-check.txt" || true
python3 bench/compare_devices.py /tmp/cuda32.jsonl /tmp/cuda16.jsonl --min-agree 0.99 | tee -a "$out/gpu-check.txt" || true
# 3. Speed: engine on CUDA (fp32, fp16), then the transformers baselines on the same GPU.
for p in fp32 fp16; do
  # exact_batch: all 60 texts in one classify_many call, runs as large as a GPU wants.
  $zs bench --model-dir "$m-$p" --device cuda --texts 60 --warmup 3 --max-input-tokens 1024 --batch 60 --batch-rows 4096 --batch-tokens 16384 --json "$out/gpu-engine-$p.json" | tee "$out/gpu-engine-$p.txt"
done
python3 bench/baselines.py "$m-fp32-checkpoint" --device cuda --texts 60 --nli-texts 60 --json "$out/gpu-baselines.json" | tee "$out/gpu-baselines.txt"
nvidia-smi --query-gpu=memory.used --format=csv,noheader | tee "$out/gpu-memory.txt"

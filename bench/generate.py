#!/usr/bin/env python3
"""zs_generate's engine against transformers' `generate` on the same weights, one run, one machine.

usage: bench/generate.py ONNX_MODEL_DIR CHECKPOINT_DIR [--prompts 8] [--max-new-tokens 64]
       (python: the tools venv, for torch and transformers; `zeroshot` built in release;
       ORT_DYLIB_PATH set, as scripts/common.sh sets ORT_LIB)

For each configuration (greedy n=1; sampled at temperature 1, top-k 50, top-p 0.95 with n=1 and
n=4, the release's knobs), the same prompts (titles for bench/workload.json's texts) go through
transformers first (`generate` on CPU, torch threads = the cores) and then through our engine
(`zeroshot generate --json`, which times each call without the model's load). Both run to
--max-new-tokens: min_new_tokens is set for transformers, and a random-weight model practically
never draws EOS, so each output has that many tokens (counted, not assumed). Reports tokens/s
(all outputs' tokens over the summed call times) and the median call, as JSON lines in
bench/out/generate.jsonl and a table. Run nothing else meanwhile: PyTorch's OpenMP threads
collapse when another process competes for the cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from transformers import AutoTokenizer, MT5ForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIGS = [
    ("greedy", 1, dict(do_sample=False), []),
    ("sampled", 1, dict(do_sample=True, temperature=1.0, top_k=50, top_p=0.95),
     ["--sample-temperature", "1", "--top-k", "50", "--top-p", "0.95", "--seed", "1"]),
    ("sampled", 4, dict(do_sample=True, temperature=1.0, top_k=50, top_p=0.95),
     ["--sample-temperature", "1", "--top-k", "50", "--top-p", "0.95", "--seed", "1"]),
]


def prompts(n):
    with open(os.path.join(HERE, "workload.json"), encoding="utf-8") as f:
        texts = json.load(f)["texts"]
    return ["为以下的文本生成标题：" + t.replace("\n", " ") for t in texts[:n]]


@torch.no_grad()
def transformers_run(model, tok, ps, n, kwargs, max_new):
    times, tokens = [], 0
    for p in ps:
        enc = tok(p, return_tensors="pt")
        t0 = time.perf_counter()
        out = model.generate(**enc, num_return_sequences=n, max_new_tokens=max_new, min_new_tokens=max_new, **kwargs)
        times.append((time.perf_counter() - t0) * 1000)
        tokens += int((out[:, 1:] != -1).sum())
    return times, tokens


def engine_run(onnx_dir, ps, n, args, max_new):
    exe = os.path.join(REPO, "target", "release", "zeroshot")
    cmd = [exe, "generate", "-q", "--json", "--model-dir", onnx_dir, "--n", str(n),
           "--max-new-tokens", str(max_new)] + args
    out = subprocess.run(cmd, input="\n".join(ps) + "\n", capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    return [g["ms"] for g in lines], sum(len(t) for g in lines for t in g["tokens"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx_dir")
    ap.add_argument("checkpoint")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    tok = AutoTokenizer.from_pretrained(a.checkpoint)
    model = MT5ForConditionalGeneration.from_pretrained(a.checkpoint).eval()
    ps = prompts(a.prompts)
    # One untimed call each to warm both up.
    transformers_run(model, tok, ps[:1], 1, dict(do_sample=False), 4)
    engine_run(a.onnx_dir, ps[:1], 1, [], 4)
    rows = []
    for mode, n, hf_kwargs, our_args in CONFIGS:
        for engine in ("transformers", "ours"):
            if engine == "transformers":
                times, tokens = transformers_run(model, tok, ps, n, hf_kwargs, a.max_new_tokens)
            else:
                times, tokens = engine_run(a.onnx_dir, ps, n, our_args, a.max_new_tokens)
            rows.append({"engine": engine, "mode": mode, "n": n, "prompts": len(ps), "tokens": tokens,
                         "tokens_per_s": tokens / (sum(times) / 1000), "p50_ms": statistics.median(times)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "generate.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| mode | n | transformers tokens/s | ours tokens/s | ratio | transformers p50 ms | ours p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for i in range(0, len(rows), 2):
        hf, us = rows[i], rows[i + 1]
        print(f"| {hf['mode']} | {hf['n']} | {hf['tokens_per_s']:.1f} | {us['tokens_per_s']:.1f} | "
              f"{us['tokens_per_s'] / hf['tokens_per_s']:.2f}x | {hf['p50_ms']:.0f} | {us['p50_ms']:.0f} |")


if __name__ == "__main__":
    main()

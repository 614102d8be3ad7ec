#!/usr/bin/env python3
"""Compare two `zeroshot classify --json` outputs line by line (e.g. CUDA against CPU):
largest |Δ log-probability| and the share of rows whose answer agrees.
usage: compare_devices.py A.jsonl B.jsonl [--max-diff 1e-3] [--min-agree 0.99]"""
import argparse
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("--max-diff", type=float)
ap.add_argument("--min-agree", type=float)
args = ap.parse_args()
rows_a = [json.loads(l) for l in open(args.a, encoding="utf-8")]
rows_b = [json.loads(l) for l in open(args.b, encoding="utf-8")]
assert len(rows_a) == len(rows_b), (len(rows_a), len(rows_b))
worst = max(abs(x["logprobs"][k] - y["logprobs"][k]) for x, y in zip(rows_a, rows_b) for k in x["logprobs"])
agree = sum(x["label"] == y["label"] for x, y in zip(rows_a, rows_b)) / len(rows_a)
print(f"{args.a} vs {args.b}: {len(rows_a)} rows, max |Δlogprob| {worst:.2e}, answers agree on {100 * agree:.1f}%")
ok = (args.max_diff is None or worst <= args.max_diff) and (args.min_agree is None or agree >= args.min_agree)
sys.exit(0 if ok else 1)

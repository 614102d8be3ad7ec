#!/usr/bin/env python3
"""Assembles one bench/gpu.sh run (the files in OUT) into bench/results/gpu-<card>.json: the
card's name, every engine figure (zeroshot bench --json, fp32 and fp16), the transformers
baselines of the same run, the CUDA-against-CPU and fp16-against-fp32 comparisons and the step
timings; prints the figures BENCHMARKS.md quotes, against the issue's targets.
usage: gpu_results.py OUT [--results-dir bench/results]"""
import argparse
import json
import os
import re

TARGETS = {  # issues 10 and 17, on an H100/H200, 87 labels unless said otherwise
    "exact_p50_ms_87": ("<=", 12.0),
    "exact_batch_rows_per_s_87": (">=", 400.0),
    "greedy_p50_ms_87": ("<=", 8.0),
    "exact_p50_ms_5": ("<=", 5.0),
    "server_rows_per_s_87_16_clients": (">=", 400.0),  # issue 17: server mode, 16 clients
}


def read(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f) if path.endswith(".json") else f.read().strip()


def figure(engine, labels, mode, key):
    for r in (engine or {}).get("results", []):
        if r["labels"] == labels and r["mode"] == mode:
            return r.get(key)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--results-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args()
    card = read(os.path.join(args.out, "card.txt"), "unknown card")
    engines = {p: read(os.path.join(args.out, f"engine-{p}.json")) for p in ("fp32", "fp16", "fp32-steps")}
    summary = {
        "exact_p50_ms_87": figure(engines["fp32"], 87, "exact", "p50_ms"),
        "exact_batch_rows_per_s_87": figure(engines["fp32"], 87, "exact_batch", "rows_per_s"),
        "greedy_p50_ms_87": figure(engines["fp32"], 87, "greedy", "p50_ms"),
        "exact_p50_ms_5": figure(engines["fp32"], 5, "exact", "p50_ms"),
        "fp16_exact_p50_ms_87": figure(engines["fp16"], 87, "exact", "p50_ms"),
        "host_bytes_per_text_87": figure(engines["fp32"], 87, "exact", "host_bytes_per_text"),
        # Issue 22: one tree pass (the rows above) against level by level, same model.
        "ort_runs_per_text_87": figure(engines["fp32"], 87, "exact", "ort_runs_per_text"),
        "level_by_level_exact_p50_ms_87": figure(engines["fp32-steps"], 87, "exact", "p50_ms"),
        "level_by_level_exact_p50_ms_5": figure(engines["fp32-steps"], 5, "exact", "p50_ms"),
        "level_by_level_ort_runs_per_text_87": figure(engines["fp32-steps"], 87, "exact", "ort_runs_per_text"),
    }
    checks = {}
    for name in ("compare-tf32-off", "compare-tf32-on", "compare-fp16"):
        text = read(os.path.join(args.out, f"{name}.txt"), "")
        checks[name] = text
    # Server mode: bench/load.py's one JSON line per run.
    server = {}
    for p in ("fp32", "fp16"):
        for c in (16, 1):
            text = (read(os.path.join(args.out, f"server-{p}-c{c}.out"), "") or "").strip()
            if text:
                server[f"{p}_clients_{c}"] = json.loads(text.splitlines()[-1])
    if "fp32_clients_16" in server:
        summary["server_rows_per_s_87_16_clients"] = server["fp32_clients_16"]["rows_per_s"]
    memory = {}
    for name in ("idle", "one-call", "engine-fp32", "engine-fp16", "server-fp32", "server-fp16"):
        samples = [int(x) for x in (read(os.path.join(args.out, f"{name}.mem"), "") or "").split() if x.isdigit()]
        if samples:
            memory[name + "_peak_mib"] = max(samples)
    doc = {
        "card": card,
        "gpu_memory_used": memory,
        "summary": summary,
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
        "checks": checks,
        "engine": engines,
        "baselines": read(os.path.join(args.out, "baselines.json")),
        "server": server,
        "steps": read(os.path.join(args.out, "steps.txt"), ""),
    }
    os.makedirs(args.results_dir, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", card.split(",")[0].lower()).strip("-")
    path = os.path.join(args.results_dir, f"gpu-{slug}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{card}: wrote {path}")
    for key, value in summary.items():
        target = TARGETS.get(key)
        met = ""
        if target and value is not None:
            op, bound = target
            met = " (target " + f"{op} {bound}: " + ("met" if (value <= bound if op == "<=" else value >= bound) else "NOT met") + ")"
        print(f"  {key}: {value if value is None else round(value, 2)}{met}")
    for key, value in memory.items():
        print(f"  gpu memory {key}: {value}")


if __name__ == "__main__":
    main()

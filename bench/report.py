#!/usr/bin/env python3
"""Markdown tables for BENCHMARKS.md from the JSON files bench/run.sh writes, so that no
figure is copied by hand: engine against the baselines (with ratios), fused outputs against
full logits, and any extra engine runs given as NAME=FILE (e.g. int8=bench/out/engine_int8.json).

usage: python3 bench/report.py [--out bench/out] [NAME=engine.json ...]
"""
import argparse
import json
import os


def load(path):
    with open(path) as f:
        return json.load(f)


def by_key(doc, *keys):
    return {tuple(r[k] for k in keys): r for r in doc["results"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("extra", nargs="*", help="NAME=engine-json for more engine rows against the same baselines")
    args = ap.parse_args()
    eng = by_key(load(os.path.join(args.out, "engine.json")), "labels", "mode")
    base = by_key(load(os.path.join(args.out, "baselines.json")), "labels", "baseline")
    sets = sorted({k[0] for k in eng})

    # exact: one text per call (zs_classify); batch: classify_many, as zs_classify_batch runs.
    print("| labels | exact p50 | exact p95 | exact rows/s | exact batch rows/s | greedy p50 | greedy rows/s | greedy batch rows/s "
          "| (a) generate rows/s | (b) rank rows/s | (c) NLI rows/s "
          "| exact ÷ (a) | exact ÷ (b) | exact ÷ (c) | exact batch ÷ (b) | exact batch ÷ (c) | greedy ÷ (a) | greedy batch ÷ (a) |")
    print("|---:|" + "---:|" * 17)
    for n in sets:
        ex, gr = eng[(n, "exact")], eng[(n, "greedy")]
        a, b, c = (base[(n, k)]["rows_per_s"] for k in ("generate", "rank", "nli"))
        x, y = ex["rows_per_s"], eng[(n, "exact_batch")]["rows_per_s"]
        g, h = gr["rows_per_s"], eng[(n, "greedy_batch")]["rows_per_s"]
        print(f"| {n} | {ex['p50_ms']:.0f} ms | {ex['p95_ms']:.0f} ms | {x:.2f} | {y:.2f} | {gr['p50_ms']:.0f} ms | {g:.2f} | {h:.2f} "
              f"| {a:.2f} | {b:.2f} | {c:.2f} | {x / a:.2f}× | {x / b:.2f}× | {x / c:.2f}× | {y / b:.2f}× | {y / c:.2f}× | {g / a:.2f}× | {h / a:.2f}× |")
    print()
    print("| labels | baseline | texts | p50 | p95 | rows/s |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in sets:
        for k in ("generate", "rank", "nli"):
            r = base[(n, k)]
            print(f"| {n} | {k} | {r['texts']} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['rows_per_s']:.2f} |")
    full_path = os.path.join(args.out, "engine_full_logits.json")
    if os.path.exists(full_path):
        full = by_key(load(full_path), "labels", "mode")
        print()
        print("| labels | fused rows/s | full logits rows/s | fused ÷ full |")
        print("|---:|---:|---:|---:|")
        for n in sets:
            f, g = eng[(n, "exact")]["rows_per_s"], full[(n, "exact")]["rows_per_s"]
            print(f"| {n} | {f:.2f} | {g:.2f} | {f / g:.2f}× |")
    for spec in args.extra:
        name, path = spec.split("=", 1)
        other = by_key(load(path), "labels", "mode")
        print()
        print(f"| labels | mode | {name} p50 | {name} p95 | {name} rows/s | ÷ engine.json | ÷ (a) generate | ÷ (b) rank | ÷ (c) NLI |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for (n, mode), r in sorted(other.items()):
            x = r["rows_per_s"]
            ratios = " | ".join(f"{x / base[(n, k)]['rows_per_s']:.2f}×" for k in ("generate", "rank", "nli"))
            p50, p95 = (f"{r[k]:.0f} ms" if k in r else "" for k in ("p50_ms", "p95_ms"))
            print(f"| {n} | {mode} | {p50} | {p95} | {x:.2f} | {x / eng[(n, mode)]['rows_per_s']:.2f}× | {ratios} |")


if __name__ == "__main__":
    main()

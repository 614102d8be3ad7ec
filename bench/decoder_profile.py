#!/usr/bin/env python3
"""Where a decoder step's time goes: one decoder-with-past step of a model directory (our
export) timed at several shapes (texts × trie nodes per text), and ONNX Runtime's profile of
one shape summed by operator type. Random inputs: the cost of a step does not depend on them.

usage: python3 bench/decoder_profile.py MODEL_DIR [--prompt 100] [--past 3]
"""
import argparse
import collections
import json
import os
import shutil
import tempfile
import time

import numpy as np
import onnxruntime as ort

SHAPES = [(1, 1), (1, 8), (1, 34), (1, 136), (4, 34), (16, 1), (16, 5), (16, 17)]
PROFILED = (16, 5)


def feed(config, texts, nodes, prompt, past, cache_type=np.float32):
    """Inputs for one step; cache_type: the graph's cache element type (fp16 in our fp16 export)."""
    layers = config.get("num_decoder_layers") or config["num_layers"]
    heads, d_kv = config["num_heads"], config["d_kv"]
    rows = texts * nodes
    rng = np.random.default_rng(0)
    f = {"encoder_attention_mask": np.ones((texts, prompt), np.int64), "input_ids": np.full((rows, 1), 300, np.int64)}
    for i in range(layers):
        for kv in ("key", "value"):
            f[f"past_key_values.{i}.decoder.{kv}"] = rng.standard_normal((rows, heads, past, d_kv), dtype=np.float32).astype(cache_type)
            f[f"past_key_values.{i}.encoder.{kv}"] = rng.standard_normal((texts, heads, prompt, d_kv), dtype=np.float32).astype(cache_type)
    return f


def cache_type(session):
    """numpy type of the graph's cache inputs."""
    ty = next(i.type for i in session.get_inputs() if i.name.startswith("past_key_values"))
    return np.float16 if ty == "tensor(float16)" else np.float32


def median_ms(session, outputs, f, reps=5):
    session.run(outputs, f)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        session.run(outputs, f)
        times.append(time.perf_counter() - t)
    return sorted(times)[reps // 2] * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--prompt", type=int, default=100, help="prompt tokens per text")
    ap.add_argument("--past", type=int, default=3, help="decoder tokens already in the cache")
    args = ap.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        config = json.load(f)
    path = os.path.join(args.model_dir, "decoder_with_past_model.onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    grouped = session.get_modelmeta().custom_metadata_map.get("pg_zeroshot.grouped_cross_attention") == "1"
    outputs = [o.name for o in session.get_outputs() if o.name != "logits"]
    print(f"{path}: grouped cross-attention {grouped}, outputs {[o for o in outputs if not o.startswith('present')]}")
    print("| texts | nodes per text | rows | step ms | ms per row |")
    print("|---:|---:|---:|---:|---:|")
    for texts, nodes in SHAPES:
        if texts > 1 and not grouped:
            continue
        ms = median_ms(session, outputs, feed(config, texts, nodes, args.prompt, args.past, cache_type(session)))
        print(f"| {texts} | {nodes} | {texts * nodes} | {ms:.0f} | {ms / (texts * nodes):.1f} |", flush=True)

    opts.enable_profiling = True
    profile_dir = tempfile.mkdtemp(prefix="zs-profile-")
    opts.profile_file_prefix = os.path.join(profile_dir, "decoder")
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    texts, nodes = PROFILED if grouped else (1, PROFILED[0] * PROFILED[1])
    f = feed(config, texts, nodes, args.prompt, args.past, cache_type(session))
    for _ in range(4):
        session.run(outputs, f)
    with open(session.end_profiling()) as fh:
        events = json.load(fh)
    shutil.rmtree(profile_dir)
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    print(f"\nprofile, {texts} texts x {nodes} nodes (4 runs):")
    print("| operator | ms per step | share |")
    print("|---|---:|---:|")
    for op, us in by_op.most_common(6):
        print(f"| {op} | {us / 4000:.1f} | {100 * us / total:.0f}% |")


if __name__ == "__main__":
    main()

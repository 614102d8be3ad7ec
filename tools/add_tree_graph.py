#!/usr/bin/env python3
"""Adds the one-pass tree graph (decoder_tree_model.onnx, tools/tree_graph.py) to a model
directory exported before it existed (pg_zeroshot 0.2.0 and earlier), without a new export:

  python tools/add_tree_graph.py CHECKPOINT MODEL_DIR

CHECKPOINT is the checkpoint MODEL_DIR was exported from. The graph is written at the
directory's precision (manifest.json), with its label score output, an ORT-format copy where
the directory has them, and its SHA-256 in manifest.json. Without it the engine scores exact
mode level by level, as before.
"""
import argparse
import json
import os

import export_model
from graph_edits import TREE_GRAPH, add_label_scores, to_fp16, to_int8, write_ort_format
from tree_graph import export_tree_graph


def add_tree_graph(checkpoint, out):
    manifest_path = os.path.join(out, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    precision = manifest.get("precision", "fp32")
    model, _ = export_model.load_checkpoint(checkpoint)
    path = os.path.join(out, TREE_GRAPH)
    export_tree_graph(model, path)
    if precision == "fp16":
        to_fp16(path)
    elif precision == "int8":
        to_int8(path)
    add_label_scores(path)
    files = manifest.setdefault("files", {})
    files[TREE_GRAPH] = export_model.sha256(path)
    if any(name.endswith(".ort") for name in files):
        write_ort_format(out)
        files[TREE_GRAPH.replace(".onnx", ".ort")] = None
        for name in files:
            if name.endswith(".ort"):
                files[name] = export_model.sha256(os.path.join(out, name))
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path} ({precision}, {os.path.getsize(path) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("model_dir")
    a = ap.parse_args()
    add_tree_graph(a.checkpoint, a.model_dir)

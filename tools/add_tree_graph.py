#!/usr/bin/env python3
"""Adds the one-pass tree graph (decoder_tree_model.onnx, tools/tree_graph.py) to a model
directory exported before it existed, without a new export:

  python tools/add_tree_graph.py CHECKPOINT MODEL_DIR

CHECKPOINT must be the checkpoint MODEL_DIR was exported from. The graph is written at the
directory's precision (manifest.json), with its label score output, and checked before it is
put in place: for a few prompts, its label log-probabilities must be those of the directory's
own graphs decoding level by level (within export_model.py's tolerance), so a wrong checkpoint
is refused and the directory left as it was. Then its ORT-format copy (where the directory has
them), the graph and manifest.json are renamed into place, in that order: a backend that loads
meanwhile finds no tree graph, or a whole one. Without the graph the engine scores exact
mode level by level, as before.
"""
import argparse
import json
import os
import sys
import tempfile

import export_model
import numpy as np
import onnxruntime as ort
import reference
from export_check import CHECK_CASES, TOLERANCE, OnnxScorer, difference
from graph_edits import TREE_GRAPH, add_label_scores, to_fp16, to_int8, write_ort_format
from tree_graph import export_tree_graph


def matches_the_steps(out, tree_path, model, tok, precision):
    """The largest difference between the tree graph at TREE_PATH and OUT's own graphs
    (grouped decoder, level by level) over CHECK_CASES' texts and first label set."""
    scorer = OnnxScorer(out, model.config)
    tree = ort.InferenceSession(tree_path, providers=["CPUExecutionProvider"])
    labels = CHECK_CASES[0][1]
    targets = [tok(label).input_ids for label in labels]
    prompts = [reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text, 512)[0]
               for text, _ in CHECK_CASES]
    what, tol = TOLERANCE[precision]
    got, want = scorer.tree_logprobs(tree, prompts, targets), scorer.grouped_logprobs(prompts, targets)
    worst = max(difference(g, w, what) for g, w in zip(got, want))
    return (worst if np.all(np.isfinite(got)) else float("inf")), tol, what


def add_tree_graph(checkpoint, out):
    manifest_path = os.path.join(out, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    precision = manifest.get("precision", "fp32")
    model, tok = export_model.load_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory(dir=out) as work:
        path = os.path.join(work, TREE_GRAPH)
        export_tree_graph(model, path)
        if precision == "fp16":
            to_fp16(path)
        elif precision == "int8":
            to_int8(path)
        add_label_scores(path)
        worst, tol, what = matches_the_steps(out, path, model, tok, precision)
        if not worst <= tol:
            sys.exit(f"{TREE_GRAPH} from {checkpoint} differs from {out}'s graphs by {worst:.2e} in {what} "
                     f"(tolerance {tol:g}): is it the checkpoint the directory was exported from? Nothing changed.")
        print(f"{TREE_GRAPH}: within {worst:.2e} in {what} of the directory's graphs (tolerance {tol:g})")
        files = manifest.setdefault("files", {})
        # The .ort copy first: a backend that maps .ort files (zs.share_weights) and finds the
        # graph must find its copy too.
        if any(name.endswith(".ort") for name in files):
            ort_copy = TREE_GRAPH.replace(".onnx", ".ort")
            write_ort_format(work, [TREE_GRAPH])
            files[ort_copy] = export_model.sha256(os.path.join(work, ort_copy))
            os.replace(os.path.join(work, ort_copy), os.path.join(out, ort_copy))
        files[TREE_GRAPH] = export_model.sha256(path)
        os.replace(path, os.path.join(out, TREE_GRAPH))
    with tempfile.NamedTemporaryFile("w", dir=out, suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(f.name, manifest_path)
    print(f"wrote {os.path.join(out, TREE_GRAPH)} ({precision}, {os.path.getsize(os.path.join(out, TREE_GRAPH)) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("model_dir")
    a = ap.parse_args()
    add_tree_graph(a.checkpoint, a.model_dir)

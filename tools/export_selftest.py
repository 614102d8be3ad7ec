#!/usr/bin/env python3
"""The export's self-test, offline: makes a tiny random checkpoint (tools/make_test_model.py's
recipe), exports it at every precision under DIR with tools/export_model.py and checks each
against PyTorch, then checks that the grouped decoder-with-past computes what Optimum's own
graph does, and that tools/add_tree_graph.py adds the export's own tree graph to a directory
without it (and refuses another checkpoint's). Its output is kept in tools/export_selftest.log.

  python3 export_selftest.py DIR
"""
import json
import os
import shutil
import sys
import tempfile

import export_model
import make_test_model
import torch
from add_tree_graph import add_tree_graph
from export_check import check_grouping
from graph_edits import GRAPHS, TREE_GRAPH
from transformers import MT5ForConditionalGeneration


def self_test(workdir):
    os.makedirs(workdir, exist_ok=True)
    ckpt = os.path.join(workdir, "tiny-checkpoint")
    with tempfile.TemporaryDirectory() as work:
        tok = make_test_model.train_tokenizer(work)
        model = make_test_model.make_model(len(tok))
        model.save_pretrained(ckpt)
        tok.save_pretrained(ckpt)
    results = {}
    stock = os.path.join(workdir, "optimum-decoder_with_past_model.onnx")
    for precision in ["fp32", "fp16", "int8"]:
        results[precision] = export_model.export(ckpt, os.path.join(workdir, f"tiny-{precision}"), precision,
                                    model_id="self-test/tiny-random-mt5", random_weights=True,
                                    stock_decoder_copy=stock if precision == "fp32" else None)
    ok, lines = check_grouping(stock, os.path.join(workdir, "tiny-fp32", GRAPHS[2]))
    print("\n".join(lines))
    results["grouping"] = ok
    results["add_tree_graph"] = check_add_tree_graph(workdir, ckpt)
    print("self-test:", ", ".join(f"{p} {'PASS' if ok else 'FAIL'}" for p, ok in results.items()))
    return all(results.values())


def check_add_tree_graph(workdir, ckpt):
    """tools/add_tree_graph.py on each export without its tree graph: the graph it adds is the
    export's, byte for byte, and the manifest lists it; from another checkpoint it is refused
    and the directory left as it was."""
    ok = True
    for precision in ["fp32", "fp16", "int8"]:
        src, older = os.path.join(workdir, f"tiny-{precision}"), os.path.join(workdir, f"older-{precision}")
        shutil.rmtree(older, ignore_errors=True)
        shutil.copytree(src, older)
        os.remove(os.path.join(older, TREE_GRAPH))
        with open(os.path.join(older, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        del manifest["files"][TREE_GRAPH]
        with open(os.path.join(older, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1)
        add_tree_graph(ckpt, older)
        same = export_model.sha256(os.path.join(older, TREE_GRAPH)) == export_model.sha256(os.path.join(src, TREE_GRAPH))
        with open(os.path.join(older, "manifest.json"), encoding="utf-8") as f:
            listed = json.load(f)["files"].get(TREE_GRAPH) == export_model.sha256(os.path.join(older, TREE_GRAPH))
        print(f"  add_tree_graph {precision}: the export's graph byte for byte: {same}, in the manifest: {listed}")
        ok = ok and same and listed
    other = os.path.join(workdir, "other-checkpoint")
    model = MT5ForConditionalGeneration.from_pretrained(ckpt)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.save_pretrained(other)
    shutil.copy(os.path.join(ckpt, "tokenizer.json"), other)
    for name in os.listdir(ckpt):
        if name.endswith(".json") and not os.path.exists(os.path.join(other, name)):
            shutil.copy(os.path.join(ckpt, name), other)
    older = os.path.join(workdir, "older-fp32")
    os.remove(os.path.join(older, TREE_GRAPH))
    try:
        add_tree_graph(other, older)
        refused = False
    except SystemExit as e:
        print(f"  add_tree_graph, another checkpoint: {e}")
        refused = not os.path.exists(os.path.join(older, TREE_GRAPH))
    print(f"  add_tree_graph: another checkpoint refused, nothing written: {refused}")
    return ok and refused


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(0 if self_test(sys.argv[1]) else 1)

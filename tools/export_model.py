#!/usr/bin/env python3
"""Export an mT5/T5 text2text checkpoint to the model directory pg_zeroshot loads, and check it.

The output is the Optimum layout (encoder_model.onnx, decoder_model.onnx,
decoder_with_past_model.onnx, tokenizer.json, config.json), our graphs (decoder_cross_kv.onnx,
decoder_cache_gather.onnx, and decoder_tree_model.onnx: every node of a text's label trie in
one decoder pass, exact mode's decoder) plus manifest.json: model id, prompt template, label
separator, precision, and the SHA-256 of every file.

  SOURCE  a local checkpoint directory (ModelScope or Hugging Face layout), or a model id
          such as iic/nlp_mt5_zero-shot-augment_chinese-base, downloaded with `modelscope`
          (or `huggingface_hub`) when this machine is online.
  OUT     the model directory to write (then: zs.model_dir = 'OUT').

Precision: fp32 (default; CPU and CUDA with TF32), fp16 (for CUDA: mixed precision, the
layer norms, the feed-forward output projections and the residual additions stay fp32,
because T5's feed-forward activations overflow fp16 with real weights; the caches and the
encoder output cross between graphs in fp16, only the scores leave in fp32), int8 (dynamic
quantisation of the MatMul weights, for CPU).

After exporting it scores labels for a few prompts with the ONNX graphs (ONNX Runtime,
through all three graphs: encoder, decoder, decoder-with-past) and with PyTorch, then scores
the prompts again all in one run through the grouped decoder and its label_logprobs output
(as the engine batches texts) against one prompt per run, and through the tree graph (every
label of every prompt in one run) against PyTorch, prints the largest differences and
exits non-zero if they exceed the tolerance: 1e-4 on log-probabilities
for fp32 (scaled by |log-probability|/100 beyond 100, as float32 rounding grows with it: random
weights give log-probabilities near -400), 1e-2 on label probabilities for fp16 and int8.

The work is in three modules: graph_edits.py (the ONNX edits, no PyTorch), export_check.py
(the check against PyTorch) and export_selftest.py (the offline self-test: `export_selftest.py
DIR` makes a tiny random checkpoint, exports it at every precision and checks each). This file
is the command line and the order of the steps.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

import onnx
import onnxruntime as ort
import reference
import torch
from export_check import check
from graph_edits import (
    CACHE_GATHER_GRAPH,
    CROSS_KV_GRAPH,
    GRAPHS,
    TREE_GRAPH,
    add_cross_kv_graph,
    add_label_scores,
    converted_graphs,
    group_cross_attention,
    scored_graphs,
    to_fp16,
    to_int8,
    write_cache_gather_graph,
    write_ort_format,
)
from transformers import AutoConfig, AutoTokenizer, MT5ForConditionalGeneration, T5ForConditionalGeneration
from tree_graph import export_tree_graph

MODEL_FILES = GRAPHS + ["tokenizer.json", "config.json"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_source(source):
    """A local directory as is; otherwise download the id (ModelScope first, then the HF hub)."""
    if os.path.isdir(source):
        return source
    try:
        from modelscope import snapshot_download
        return snapshot_download(source)
    except ImportError:
        pass
    from huggingface_hub import snapshot_download
    return snapshot_download(source)


def load_checkpoint(path):
    config = AutoConfig.from_pretrained(path)
    cls = MT5ForConditionalGeneration if config.model_type == "mt5" else T5ForConditionalGeneration
    model = cls.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path, use_fast=True)
    return model, tok


def export_fp32(model, tok, out):
    """Optimum's export of the three graphs (no merged decoder, validated by us instead)."""
    from optimum.exporters.onnx import main_export
    with tempfile.TemporaryDirectory() as work:
        ckpt = os.path.join(work, "checkpoint")
        model.save_pretrained(ckpt)
        tok.save_pretrained(ckpt)  # writes tokenizer.json from the slow tokenizer if needed
        main_export(ckpt, output=os.path.join(work, "onnx"), task="text2text-generation-with-past",
                    no_post_process=True, do_validation=False, device="cpu")
        os.makedirs(out, exist_ok=True)
        for name in MODEL_FILES:
            shutil.copy(os.path.join(work, "onnx", name), os.path.join(out, name))



def export(source, out, precision, model_id=None, random_weights=False, template=None, separator=None, do_check=True, ort_format=False,
           stock_decoder_copy=None):
    """Export a checkpoint directory or model id (see export_loaded)."""
    model, tok = load_checkpoint(resolve_source(source))
    model_id = model_id or (source if not os.path.isdir(source) else os.path.basename(os.path.abspath(source)))
    return export_loaded(model, tok, out, precision, model_id, random_weights, template, separator, do_check, ort_format, stock_decoder_copy)


def export_loaded(model, tok, out, precision, model_id, random_weights=False, template=None, separator=None, do_check=True, ort_format=False,
                  stock_decoder_copy=None):
    """Write the model directory OUT for a model already in memory; True if the check passed.
    stock_decoder_copy: where to keep Optimum's own decoder_with_past_model.onnx, before our
    changes (the self-test compares the grouped graph with it: check_grouping)."""
    shutil.rmtree(out, ignore_errors=True)
    export_fp32(model, tok, out)
    add_cross_kv_graph(out)
    if stock_decoder_copy:
        os.makedirs(os.path.dirname(stock_decoder_copy), exist_ok=True)
        shutil.copy(os.path.join(out, GRAPHS[2]), stock_decoder_copy)
    group_cross_attention(os.path.join(out, GRAPHS[2]))
    write_cache_gather_graph(out, fp16=precision == "fp16")
    export_tree_graph(model, os.path.join(out, TREE_GRAPH))
    graphs = converted_graphs(out)
    if precision == "fp16":
        for g in graphs:
            to_fp16(os.path.join(out, g))
    elif precision == "int8":
        for g in graphs:
            to_int8(os.path.join(out, g))
    for g in scored_graphs(out):
        add_label_scores(os.path.join(out, g))
    files = MODEL_FILES + [CROSS_KV_GRAPH, CACHE_GATHER_GRAPH, TREE_GRAPH]
    if ort_format:
        write_ort_format(out)
        files += [g.replace(".onnx", ".ort") for g in graphs]
    manifest = {
        "model_id": model_id,
        "random_weights": random_weights,
        "prompt_template": template or reference.DEFAULT_TEMPLATE,
        "label_separator": separator or reference.DEFAULT_SEPARATOR,
        "precision": precision,
        "exported_by": "tools/export_model.py",
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "files": {name: sha256(os.path.join(out, name)) for name in files},
    }
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(out, n)) for n in files}
    print(f"exported {model_id} -> {out} ({precision}, {sum(sizes.values()) / 2**20:.1f} MiB)")
    if not do_check:
        return True
    ok, lines = check(out, model, tok, precision)
    print("\n".join(lines))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32")
    ap.add_argument("--model-id")
    ap.add_argument("--template", help="prompt template with {labels} and {text} (default: the model card's)")
    ap.add_argument("--separator", help="label separator in the prompt (default: ,)")
    ap.add_argument("--no-check", action="store_true", help="skip the check against PyTorch")
    ap.add_argument("--ort-format", action="store_true", help="also write *.ort copies, for zs.share_weights (CPU)")
    args = ap.parse_args()
    if not (args.source and args.out):
        ap.error("SOURCE and OUT are required (the self-test is tools/export_selftest.py DIR)")
    ok = export(args.source, args.out, args.precision, args.model_id, False, args.template, args.separator, not args.no_check, args.ort_format)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

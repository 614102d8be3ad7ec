#!/usr/bin/env python3
"""A model at the real size, with random weights, for benchmarks: mT5-base shapes
(d_model 768, 12+12 layers, 12 heads, d_kv 64, d_ff 2048, gated-gelu, vocab 250112),
exported by tools/export_model.py (fused score outputs, cache gather graph, manifest).

Random weights time exactly like the real ones. The tokenizer is the committed test model's
tokenizer.json (the real mT5 SentencePiece model cannot be downloaded here; this also keeps
sentencepiece and snownlp, which a GPU machine may lack, out of the way): its pieces are Chinese
characters and short words like mT5's, so prompts have about the same number of tokens; only
ids below 3500 occur, but every projection is the full 250112 wide.

usage: python bench/make_base_model.py OUT [--precision fp32|fp16|int8] [--no-check] [--small] [--checkpoint-only]
Also writes OUT-checkpoint/ (the PyTorch weights) for the transformers baselines. --small makes
a model of the tiny test model's size instead (a rehearsal of bench/gpu.sh on a CPU).
"""
import argparse
import os
import sys

import torch
from transformers import MT5Config, MT5ForConditionalGeneration, T5TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import export_model  # noqa: E402

TOKENIZER = os.path.join(HERE, "..", "tests", "fixtures", "tiny-mt5", "tokenizer.json")
BASE = dict(vocab_size=250112, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12)
SMALL = dict(vocab_size=3500, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"])
    ap.add_argument("--no-check", action="store_true", help="skip the check against PyTorch (time, on a GPU machine)")
    ap.add_argument("--small", action="store_true", help="the tiny test model's size (rehearsals)")
    ap.add_argument("--checkpoint-only", action="store_true",
                    help="write OUT-checkpoint and stop (then several precisions can be exported from it at once)")
    args = ap.parse_args()
    ckpt = os.path.abspath(args.out) + "-checkpoint"
    if not os.path.isdir(ckpt):
        tok = T5TokenizerFast(tokenizer_file=TOKENIZER, extra_ids=0)
        torch.manual_seed(0)
        cfg = MT5Config(**(SMALL if args.small else BASE), feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                        dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
        model = MT5ForConditionalGeneration(cfg).eval()
        model.save_pretrained(ckpt)
        tok.save_pretrained(ckpt)
    if args.checkpoint_only:
        return
    size = "small" if args.small else "base"
    ok = export_model.export(ckpt, args.out, args.precision, model_id=f"bench/mt5-{size}-random-{args.precision}",
                             random_weights=True, do_check=not args.no_check)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

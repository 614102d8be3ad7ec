#!/usr/bin/env python3
"""What users would run instead, timed on the same machine, weights and workload as
`zeroshot bench` (bench/workload.json), with PyTorch transformers:

  (a) generate: the model release's way: greedy free generation, then fuzzy matching of the
      output back to the labels (difflib, as the release's post-processing does)
  (b) rank: rank classification done well: one encoder pass, every label teacher-forced in one
      padded decoder batch, log-probabilities summed over each label's tokens and EOS
  (c) nli: an NLI cross-encoder of BERT-base shape (random weights, 21128-token vocabulary
      like bert-base-chinese), one forward per (text, label) pair, all pairs of a text in one
      batch, as StructBERT zero-shot and PostgresML's zero-shot pipeline do

Prints a table and writes JSON; p50/p95 per text and rows/s, like `zeroshot bench`.
usage: python bench/baselines.py CHECKPOINT [--texts 20] [--label-sets 5,15,87] [--json out]
"""
import argparse
import difflib
import json
import os
import sys
import time

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, MT5ForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import reference  # noqa: E402

DEVICE = "cpu"


def sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def prompt(tok, labels, text):
    ids, _ = reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text, 4096)
    return torch.tensor([ids], device=DEVICE)


@torch.no_grad()
def generate(model, tok, labels, text, max_new):
    ids = prompt(tok, labels, text)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False, num_beams=1)
    answer = tok.decode(out[0], skip_special_tokens=True).strip()
    if answer in labels:
        return answer, True
    close = difflib.get_close_matches(answer, labels, n=1, cutoff=0.0)
    return (close[0] if close else labels[0]), False


@torch.no_grad()
def rank(model, tok, labels, text, targets):
    ids = prompt(tok, labels, text)
    mask = torch.ones_like(ids)
    enc = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    n, width = len(targets), max(len(t) for t in targets)
    start = model.config.decoder_start_token_id
    dec_in = torch.full((n, width), model.config.pad_token_id)
    gold = torch.full((n, width), -100)
    for i, t in enumerate(targets):
        dec_in[i, 0] = start
        dec_in[i, 1:len(t)] = torch.tensor(t[:-1])
        gold[i, :len(t)] = torch.tensor(t)
    dec_in, gold = dec_in.to(DEVICE), gold.to(DEVICE)
    logits = model(encoder_outputs=(enc.expand(n, -1, -1),), attention_mask=mask.expand(n, -1), decoder_input_ids=dec_in).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, gold.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (gold >= 0)
    return labels[int(picked.sum(-1).argmax())]


def char_ids(s, vocab):
    """Character-level ids (bert-base-chinese tokenises Chinese by character): the sequence
    length, which is what the timing depends on, matches a real tokenizer's."""
    return [100 + (ord(c) * 2654435761) % (vocab - 100) for c in s]


@torch.no_grad()
def nli(model, labels, text):
    vocab = model.config.vocab_size
    premise = char_ids(text[:400], vocab)
    seqs = [[101] + premise + [102] + char_ids(f"这段文字的类别是{l}。", vocab) + [102] for l in labels]
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    entail = model(input_ids=ids.to(DEVICE), attention_mask=mask.to(DEVICE)).logits.softmax(-1)[:, 2]
    return labels[int(entail.argmax())]


def timed(fn, texts, warmup):
    for t in texts[:warmup]:
        fn(t)
    sync()
    ms, started = [], time.perf_counter()
    for t in texts:
        s = time.perf_counter()
        fn(t)
        sync()
        ms.append((time.perf_counter() - s) * 1000)
    total = time.perf_counter() - started
    return float(np.percentile(ms, 50, method="inverted_cdf")), float(np.percentile(ms, 95, method="inverted_cdf")), len(texts) / total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="PyTorch checkpoint (bench/make_base_model.py writes OUT-checkpoint)")
    ap.add_argument("--workload", default=os.path.join(HERE, "workload.json"))
    ap.add_argument("--texts", type=int, default=20)
    ap.add_argument("--nli-texts", type=int, help="texts for (c), which is slowest (default: --texts)")
    ap.add_argument("--label-sets", default="5,15,87")
    ap.add_argument("--baselines", default="generate,rank,nli")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (fp32 with TF32 on CUDA)")
    ap.add_argument("--json")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.threads:
        torch.set_num_threads(args.threads)
    work = json.load(open(args.workload, encoding="utf-8"))
    all_texts = work["texts"]
    n = min(args.texts, len(all_texts))
    texts = [all_texts[i * len(all_texts) // n] for i in range(n)]
    model = MT5ForConditionalGeneration.from_pretrained(args.checkpoint).eval().to(DEVICE)
    tok = AutoTokenizer.from_pretrained(args.checkpoint)
    bert = BertForSequenceClassification(BertConfig(vocab_size=21128, num_labels=3)).eval().to(DEVICE)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE}")
    print("| labels | baseline | texts | p50 ms | p95 ms | rows/s | in-label |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    results = []
    for name in args.label_sets.split(","):
        labels = work["label_sets"][name]
        targets = [tok(l).input_ids for l in labels]
        max_new = max(len(t) for t in targets) + 2
        for baseline in args.baselines.split(","):
            in_label = []
            if baseline == "generate":
                def fn(t):
                    in_label.append(generate(model, tok, labels, t, max_new)[1])
                use = texts
            elif baseline == "rank":
                def fn(t):
                    rank(model, tok, labels, t, targets)
                use = texts
            else:
                def fn(t):
                    nli(bert, labels, t)
                use = texts[:args.nli_texts or n]
            p50, p95, rps = timed(fn, use, args.warmup)
            share = (sum(in_label) / len(in_label)) if in_label else None
            print(f"| {len(labels)} | {baseline} | {len(use)} | {p50:.1f} | {p95:.1f} | {rps:.2f} | {'' if share is None else f'{100 * share:.0f}%'} |", flush=True)
            results.append({"labels": len(labels), "baseline": baseline, "texts": len(use), "p50_ms": p50, "p95_ms": p95,
                            "rows_per_s": rps, "generated_in_label_share": share})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

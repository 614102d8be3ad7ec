#!/usr/bin/env python3
"""Checks the label trie's one-pass decoder graph (tools/tree_graph.py), the graph exact mode
runs: for the parity cases of the tiny test model, every label's log-probability from

  reference   tools/reference.py: each label teacher-forced through PyTorch on its own
  tree/torch  the TreeDecoder module: every trie node in one pass (PyTorch)
  tree/onnx   the same, exported to ONNX and run by ONNX Runtime

and the largest differences; with --time CHECKPOINT, also how long one tree pass over a text's
trie takes in ONNX Runtime at that checkpoint's size (with 5, 15 and 87 labels of
bench/workload.json), decoder only and full logits. The engine's own figures, encoder and
fused output included, against level by level and NLI: bench/one_pass.sh.

usage: python tools/tree_check.py [--time CHECKPOINT]   (env: tools/requirements.txt)
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import make_test_model
import onnxruntime as ort
import reference
import torch
import tree_graph
from transformers import AutoTokenizer, MT5ForConditionalGeneration, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")


def sequences(tok, labels):
    return [tok(label).input_ids for label in labels]  # label tokens, then EOS


@torch.no_grad()
def tree_logprobs_torch(model, input_ids, attention, start, seqs):
    ids, positions, mask, picks, children, index = tree_graph.tree_inputs(start, seqs)
    hidden = model.get_encoder()(input_ids=input_ids, attention_mask=attention).last_hidden_state
    logits = tree_graph.TreeDecoder(model).eval()(ids, positions, mask, hidden, attention)
    logprobs = torch.log_softmax(logits.double(), -1)[0].gather(-1, picks[0])
    return tree_graph.label_scores(logprobs, seqs, children, index)


def tree_session(model, path):
    tree_graph.export_tree_graph(model, path)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def onnx_inputs(model, input_ids, attention, start, seqs):
    ids, positions, mask, picks, children, index = tree_graph.tree_inputs(start, seqs)
    with torch.no_grad():
        hidden = model.get_encoder()(input_ids=input_ids, attention_mask=attention).last_hidden_state
    feed = {"input_ids": ids.numpy(), "positions": positions.numpy(), "tree_mask": mask.numpy(),
            "encoder_hidden_states": hidden.numpy(), "encoder_attention_mask": attention.numpy()}
    return feed, picks, children, index


def tree_logprobs_onnx(session, model, input_ids, attention, start, seqs):
    feed, picks, children, index = onnx_inputs(model, input_ids, attention, start, seqs)
    logits = torch.from_numpy(session.run(["logits"], feed)[0])
    logprobs = torch.log_softmax(logits.double(), -1)[0].gather(-1, picks[0])
    return tree_graph.label_scores(logprobs, seqs, children, index)


def check_tiny():
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(FIXTURES, "tiny-mt5", "tokenizer.json"),
                                  eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    model = make_test_model.make_model(make_test_model.VOCAB)
    start = model.config.decoder_start_token_id
    with open(os.path.join(FIXTURES, "reference_scores.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    worst = {"tree/torch": 0.0, "tree/onnx": 0.0}
    with tempfile.TemporaryDirectory() as work:
        session = tree_session(model, os.path.join(work, tree_graph.TREE_GRAPH))
        for case in cases:
            if len(set(case["labels"])) != len(case["labels"]) or case["name"] == "fullwidth_equal_labels":
                continue
            ids = torch.tensor([case["input_ids"]])
            attention = torch.ones_like(ids)
            seqs = sequences(tok, case["labels"])
            if len({tuple(s) for s in seqs}) != len(seqs):
                continue
            for name, got in (("tree/torch", tree_logprobs_torch(model, ids, attention, start, seqs)),
                              ("tree/onnx", tree_logprobs_onnx(session, model, ids, attention, start, seqs))):
                diff = max(abs(a - b) for a, b in zip(got, case["logprobs"]))
                worst[name] = max(worst[name], diff)
    print(f"{len(cases)} reference cases: largest |difference| in log-probability against PyTorch's "
          f"teacher-forced reference: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    return max(worst.values()) < 1e-4


def time_base(checkpoint, rounds=5):
    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = MT5ForConditionalGeneration.from_pretrained(checkpoint).eval()
    with open(os.path.join(HERE, "..", "bench", "workload.json"), encoding="utf-8") as f:
        work = json.load(f)
    text = work["texts"][0]
    start = model.config.decoder_start_token_id
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, tree_graph.TREE_GRAPH)
        tree_graph.export_tree_graph(model, path)
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        for n in ("5", "15", "87"):
            labels = work["label_sets"][n]
            prompt = reference.render(reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text)
            ids = torch.tensor([tok(prompt).input_ids])
            feed, _, _, _ = onnx_inputs(model, ids, torch.ones_like(ids), start, sequences(tok, labels))
            session.run(["logits"], feed)
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                session.run(["logits"], feed)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"{n} labels: {feed['input_ids'].shape[1]} trie nodes, {ids.shape[1]} prompt tokens: "
                  f"one tree pass p50 {statistics.median(times):.0f} ms (decoder only; the encoder comes on top)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", metavar="CHECKPOINT")
    a = ap.parse_args()
    ok = check_tiny()
    if a.time:
        time_base(a.time)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

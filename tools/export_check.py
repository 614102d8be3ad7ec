#!/usr/bin/env python3
"""The check of an exported model directory against PyTorch (tools/export_model.py runs it
after every export): label log-probabilities through the ONNX graphs, step by step with the
cache as the engine runs them and in one pass through the tree graph, against PyTorch's
teacher-forced scores; and the grouped
decoder-with-past against Optimum's own graph (check_grouping, for the self-test)."""
import os

import numpy as np
import onnxruntime as ort
import reference
from graph_edits import GRAPHS, SCORE_INPUT, SCORE_OUTPUT, TREE_GRAPH
from tree_graph import label_scores, tree_inputs

CHECK_CASES = [
    ("快递三天了还没到，物流信息一直不更新", ["物流问题", "商品质量", "售后体验", "物流"]),
    ("买回来两天就坏了，质量太差", ["正面", "负面"]),
    ("iPhone 15 的电池续航不错, but the screen is too dim 😀", ["电池 battery", "屏幕 screen", "价格"]),
    ("客服态度很好，退货很顺利", ["售后体验"]),
]
TOLERANCE = {"fp32": ("logprob", 1e-4), "fp16": ("prob", 1e-2), "int8": ("prob", 1e-2)}

class OnnxScorer:
    """Label log-probabilities through the exported graphs, step by step with the cache,
    the way the engine uses them (but without its trie): an independent check of all three."""

    def __init__(self, out, config):
        opts = ort.SessionOptions()
        self.enc = ort.InferenceSession(os.path.join(out, GRAPHS[0]), opts, providers=["CPUExecutionProvider"])
        self.dec = ort.InferenceSession(os.path.join(out, GRAPHS[1]), opts, providers=["CPUExecutionProvider"])
        self.past = ort.InferenceSession(os.path.join(out, GRAPHS[2]), opts, providers=["CPUExecutionProvider"])
        self.start = config.decoder_start_token_id
        self.dec_out = [o.name for o in self.dec.get_outputs()]
        self.past_in = [i.name for i in self.past.get_inputs() if i.name.startswith("past_key_values")]
        self.past_out = [o.name for o in self.past.get_outputs()]

    def logprobs(self, input_ids, targets):
        ids = np.array([input_ids], dtype=np.int64)
        mask = np.ones_like(ids)
        hidden = self.enc.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        out = []
        for target in targets:
            res = dict(zip(self.dec_out, self.dec.run(None, {
                "input_ids": np.array([[self.start]], dtype=np.int64),
                "encoder_attention_mask": mask, "encoder_hidden_states": hidden})))
            total, logits = 0.0, res["logits"][0, -1].astype(np.float64)
            cache = {n: res[n.replace("past_key_values", "present")] for n in self.past_in}
            for i, tok in enumerate(target):
                total += logits[tok] - np.logaddexp.reduce(logits)
                if i + 1 == len(target):
                    break
                step = dict(zip(self.past_out, self.past.run(None, {
                    "input_ids": np.array([[tok]], dtype=np.int64), "encoder_attention_mask": mask, **cache})))
                logits = step["logits"][0, -1].astype(np.float64)
                for n in self.past_in:
                    if ".decoder." in n:
                        cache[n] = step[n.replace("past_key_values", "present")]
            out.append(total)
        return out


    def grouped_logprobs(self, prompts, targets):
        """The same log-probabilities for several prompts in one run, as the engine batches
        texts: the encoder over the padded prompts, then each step one row per (text, label),
        text-major, through the grouped decoder-with-past, read from its label_logprobs
        output. Each text's cross-attention keys/values stay one row. Returns [text][label]."""
        texts, width, n = len(prompts), max(len(p) for p in prompts), len(targets)
        ids, mask = np.zeros((texts, width), np.int64), np.zeros((texts, width), np.int64)
        for t, p in enumerate(prompts):
            ids[t, :len(p)], mask[t, :len(p)] = p, 1
        hidden = self.enc.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        res = dict(zip(self.dec_out, self.dec.run(None, {
            "input_ids": np.full((texts, 1), self.start, np.int64), "encoder_attention_mask": mask, "encoder_hidden_states": hidden})))
        logits = res["logits"][:, -1].astype(np.float64)
        lse = np.logaddexp.reduce(logits, axis=-1)
        total = np.array([[logits[t, tg[0]] - lse[t] for tg in targets] for t in range(texts)])
        cache = {}
        for name in self.past_in:
            present = res[name.replace("past_key_values", "present")]
            cache[name] = present if ".encoder." in name else np.repeat(present, n, axis=0)
        for k in range(1, max(len(tg) for tg in targets)):
            # Labels already complete are fed and asked for token 0; those rows are not read.
            fed = [[tg[k - 1] if k <= len(tg) else 0] for _ in range(texts) for tg in targets]
            asked = [[[tg[k] if k < len(tg) else 0]] for _ in range(texts) for tg in targets]
            step = dict(zip(self.past_out, self.past.run(None, {
                "input_ids": np.array(fed, np.int64), "encoder_attention_mask": mask,
                SCORE_INPUT: np.array(asked, np.int64), **cache})))
            picked = step[SCORE_OUTPUT][:, 0, 0].reshape(texts, n)
            for t in range(texts):
                for j, tg in enumerate(targets):
                    if k < len(tg):
                        total[t, j] += picked[t, j]
            for name in self.past_in:
                if ".decoder." in name:
                    cache[name] = step[name.replace("past_key_values", "present")]
        return total.tolist()


    def tree_logprobs(self, tree, prompts, targets):
        """The same log-probabilities through the tree graph: every trie node of every prompt
        in one run (prompts padded, as the engine batches them), read from label_logprobs.
        Returns [text][label]."""
        texts, width = len(prompts), max(len(p) for p in prompts)
        ids, mask = np.zeros((texts, width), np.int64), np.zeros((texts, width), np.int64)
        for t, p in enumerate(prompts):
            ids[t, :len(p)], mask[t, :len(p)] = p, 1
        hidden = self.enc.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        nodes, positions, tree_mask, _, children, index = tree_inputs(self.start, targets)
        vocab = tree.get_outputs()[0].shape[-1]
        # One flat index per (node, child) pair, node-major, as the engine asks for them.
        flat = [i * vocab + tok for i, c in enumerate(children) for tok in c]
        picked = tree.run([SCORE_OUTPUT], {
            "input_ids": np.repeat(nodes.numpy(), texts, axis=0), "positions": positions.numpy(),
            "tree_mask": tree_mask.numpy(), "encoder_hidden_states": hidden, "encoder_attention_mask": mask,
            SCORE_INPUT: np.array([flat] * texts, np.int64)})[0].astype(np.float64)
        width = max(len(c) for c in children)
        per_node = np.zeros((texts, len(children), width))
        at = 0
        for i, c in enumerate(children):
            per_node[:, i, :len(c)] = picked[:, at:at + len(c)]
            at += len(c)
        return [label_scores(per_node[t], targets, children, index) for t in range(texts)]


def softmax(xs):
    xs = np.array(xs)
    e = np.exp(xs - xs.max())
    return e / e.sum()


def difference(got, want, what):
    """Largest |got - want|: on log-probabilities (scaled: float32 rounding grows with the
    magnitude; random weights at base size give log-probabilities near -400, a trained
    model's lie in -30..0, so beyond 100 the tolerance scales with it, 1e-4 at -100 and 4e-4
    at -400: relative 1e-6), or on the label probabilities."""
    got, want = np.array(got), np.array(want)
    if what == "logprob":
        return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want) / 100.0)))
    return float(np.max(np.abs(softmax(got) - softmax(want))))


def check(out, model, tok, precision):
    """Largest |ONNX - PyTorch| over CHECK_CASES, then the grouped decoder (all check texts in
    one run, label_logprobs output) against one text per run; returns (ok, report lines)."""
    scorer = OnnxScorer(out, model.config)
    what, tol = TOLERANCE[precision]
    worst, lines = 0.0, []
    for text, labels in CHECK_CASES:
        ids, _ = reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text, 512)
        torch_lp = reference.label_logprobs(model, tok, ids, labels)
        onnx_lp = scorer.logprobs(ids, [tok(l).input_ids for l in labels])
        finite = bool(np.all(np.isfinite(onnx_lp)))
        diff = difference(onnx_lp, torch_lp, what)
        same = int(np.argmax(onnx_lp)) == int(np.argmax(torch_lp))
        worst = max(worst, diff if finite else float("inf"))
        lines.append(f"  {precision}: {len(labels)} labels, max |Δ{what}|{' (scaled)' if what == 'logprob' else ''} = {diff:.2e}, "
                     f"log-probs {min(torch_lp):.1f}..{max(torch_lp):.1f}, same answer: {same}, finite: {finite}")
    labels = CHECK_CASES[0][1]
    targets = [tok(l).input_ids for l in labels]
    prompts = [reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text, 512)[0] for text, _ in CHECK_CASES]
    grouped = scorer.grouped_logprobs(prompts, targets)
    diff = max(difference(g, scorer.logprobs(p, targets), what) for g, p in zip(grouped, prompts))
    finite = bool(np.all(np.isfinite(grouped)))
    worst = max(worst, diff if finite else float("inf"))
    lines.append(f"  {precision}: {len(prompts)} texts in one grouped run, max |Δ{what}| against one text per run = {diff:.2e}, finite: {finite}")
    tree = ort.InferenceSession(os.path.join(out, TREE_GRAPH), providers=["CPUExecutionProvider"])
    for text, labels in CHECK_CASES:
        ids, _ = reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, labels, text, 512)
        [tree_lp] = scorer.tree_logprobs(tree, [ids], [tok(l).input_ids for l in labels])
        diff = difference(tree_lp, reference.label_logprobs(model, tok, ids, labels), what)
        finite = bool(np.all(np.isfinite(tree_lp)))
        worst = max(worst, diff if finite else float("inf"))
        lines.append(f"  {precision}: tree graph, {len(labels)} labels in one pass, max |Δ{what}| against PyTorch = {diff:.2e}, finite: {finite}")
    batched = scorer.tree_logprobs(tree, prompts, targets)
    diff = max(difference(b, g, what) for b, g in zip(batched, grouped))
    worst = max(worst, diff if bool(np.all(np.isfinite(batched))) else float("inf"))
    lines.append(f"  {precision}: tree graph, {len(prompts)} texts in one pass, max |Δ{what}| against the grouped steps = {diff:.2e}")
    ok = worst <= tol
    lines.append(f"  {precision}: {'PASS' if ok else 'FAIL'} (largest |Δ{what}| {worst:.2e}, tolerance {tol:g})")
    return ok, lines


def check_grouping(stock_path, grouped_path, tolerance=1e-5):
    """Optimum's own decoder-with-past graph against our grouped one on random inputs, in the
    two layouts Optimum's graph takes (one row per text; one text, several rows), padded
    prompts included: group_cross_attention must not change what those compute. Returns
    (ok, report lines)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    stock = ort.InferenceSession(stock_path, opts, providers=["CPUExecutionProvider"])
    grouped = ort.InferenceSession(grouped_path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in stock.get_outputs()]
    shapes = {i.name: i.shape for i in stock.get_inputs()}
    rng = np.random.default_rng(0)
    worst, lines = 0.0, []
    for texts, rows, prompt in [(3, 3, 9), (1, 4, 7)]:
        mask = np.ones((texts, prompt), np.int64)
        mask[0, prompt - 2:] = 0
        feed = {"input_ids": rng.integers(5, 300, (rows, 1)), "encoder_attention_mask": mask}
        for name, shape in shapes.items():
            if name.startswith("past_key_values"):
                batch, length = (texts, prompt) if ".encoder." in name else (rows, 2)
                feed[name] = rng.standard_normal((batch, shape[1], length, shape[3])).astype(np.float32)
        want, got = stock.run(names, feed), grouped.run(names, feed)
        diff = max(float(np.max(np.abs(w - g))) for w, g in zip(want, got))
        worst = max(worst, diff)
        lines.append(f"  grouping: {texts} text(s), {rows} rows, max |Δ| against Optimum's graph = {diff:.2e}")
    ok = worst <= tolerance
    lines.append(f"  grouping: {'PASS' if ok else 'FAIL'} (tolerance {tolerance:g})")
    return ok, lines

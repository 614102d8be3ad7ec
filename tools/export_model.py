#!/usr/bin/env python3
"""Export an mT5/T5 text2text checkpoint to the model directory pg_zeroshot loads, and check it.

The output is the Optimum layout (encoder_model.onnx, decoder_model.onnx,
decoder_with_past_model.onnx, tokenizer.json, config.json) plus manifest.json: model id,
prompt template, label separator, precision, and the SHA-256 of every file.

  SOURCE  a local checkpoint directory (ModelScope or Hugging Face layout), or a model id
          such as iic/nlp_mt5_zero-shot-augment_chinese-base, downloaded with `modelscope`
          (or `huggingface_hub`) when this machine is online.
  OUT     the model directory to write (then: zs.model_dir = 'OUT').

Precision: fp32 (default; CPU and CUDA with TF32), fp16 (for CUDA: mixed precision, the
layer norms, the feed-forward output projections and the residual additions stay fp32,
because T5's feed-forward activations overflow fp16 with real weights), int8 (dynamic
quantisation of the MatMul weights, for CPU).

After exporting it scores labels for a few prompts with the ONNX graphs (ONNX Runtime,
through all three graphs: encoder, decoder, decoder-with-past) and with PyTorch, then scores
the prompts again all in one run through the grouped decoder and its label_logprobs output
(as the engine batches texts) against one prompt per run, prints the largest differences and
exits non-zero if they exceed the tolerance: 1e-4 on log-probabilities
for fp32 (scaled by |log-probability|/100 beyond 100, as float32 rounding grows with it: random
weights give log-probabilities near -400), 1e-2 on label probabilities for fp16 and int8.

  --self-test DIR  makes a tiny random checkpoint (tools/make_test_model.py's recipe), exports
                   it at every precision under DIR and checks each, and checks that the grouped
                   decoder-with-past computes what Optimum's own graph does (no download needed).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import AutoConfig, AutoTokenizer, MT5ForConditionalGeneration, T5ForConditionalGeneration

import reference

GRAPHS = ["encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"]
MODEL_FILES = GRAPHS + ["tokenizer.json", "config.json"]
CHECK_CASES = [
    ("快递三天了还没到，物流信息一直不更新", ["物流问题", "商品质量", "售后体验", "物流"]),
    ("买回来两天就坏了，质量太差", ["正面", "负面"]),
    ("iPhone 15 的电池续航不错, but the screen is too dim 😀", ["电池 battery", "屏幕 screen", "价格"]),
    ("客服态度很好，退货很顺利", ["售后体验"]),
]
TOLERANCE = {"fp32": ("logprob", 1e-4), "fp16": ("prob", 1e-2), "int8": ("prob", 1e-2)}


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


SCORE_INPUT, SCORE_OUTPUT = "label_token_ids", "label_logprobs"
CROSS_KV_GRAPH = "decoder_cross_kv.onnx"


def add_cross_kv_graph(out):
    """Writes decoder_cross_kv.onnx: the cross-attention keys and values of every decoder layer
    from the encoder output, with only the k/v weights (56 MB at base size) taken from
    decoder_model.onnx. With it the engine does the first decoder step with
    decoder_with_past_model.onnx and an empty past, and never loads decoder_model.onnx, whose
    250k-wide embedding and output matrices would cost each backend another 1.9 GB."""
    from onnx import TensorProto, helper, numpy_helper
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    heads, d_kv = config["num_heads"], config["d_kv"]
    layers = config.get("num_decoder_layers") or config["num_layers"]
    decoder = onnx.load(os.path.join(out, GRAPHS[1]))
    weights = {i.name: i for i in decoder.graph.initializer}
    by_name = {n.name: n for n in decoder.graph.node}
    nodes, inits, outputs = [], [numpy_helper.from_array(np.array([0, -1, heads, d_kv], np.int64), "kv_shape")], []
    for i in range(layers):
        for part, kv in (("k", "key"), ("v", "value")):
            matmul = by_name[f"/decoder/block.{i}/layer.1/EncDecAttention/{part}/MatMul"]
            w = weights[matmul.input[1]]
            w_name = f"cross.{i}.{part}.weight"
            inits.append(numpy_helper.from_array(numpy_helper.to_array(w), w_name))
            base = f"/cross/{i}/{part}"
            nodes.append(helper.make_node("MatMul", ["encoder_hidden_states", w_name], [base + "/mm"], name=base + "/MatMul"))
            nodes.append(helper.make_node("Reshape", [base + "/mm", "kv_shape"], [base + "/heads"], name=base + "/Reshape"))
            out_name = f"present.{i}.encoder.{kv}"
            nodes.append(helper.make_node("Transpose", [base + "/heads"], [out_name], name=base + "/Transpose", perm=[0, 2, 1, 3]))
            outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch_size", heads, "encoder_sequence_length", d_kv]))
    graph = helper.make_graph(nodes, "decoder_cross_kv",
                              [helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch_size", "encoder_sequence_length", config["d_model"]])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=decoder.opset_import, ir_version=decoder.ir_version)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, CROSS_KV_GRAPH))


GROUPED_KEY = "pg_zeroshot.grouped_cross_attention"


def group_cross_attention(path):
    """Lets decoder_with_past_model.onnx score the trie nodes of several texts in one run
    without copying any text's cross-attention keys/values per node.

    The stock graph multiplies queries [B, heads, S, d] by keys [B or 1, heads, d, L]: with
    one text, batch-1 keys broadcast against B trie nodes; with T texts the keys would have
    to be expanded to B rows. Here each layer's cross-attention reads the decoder batch as
    T groups of B/T rows, text-major (row t·n + j is node j of text t, T being the batch of
    `past_key_values.*.encoder.*`): queries become [T, heads, S, n, d], keys and values
    [T, heads, 1, L, d] and the encoder mask bias [T, heads, S, 1, L]. When T = B this is the
    stock computation (n = 1) and when T = 1 it is the broadcast one, so Optimum's runtime
    and our single-text path get the same results; B must be a multiple of T."""
    from onnx import helper, numpy_helper
    model = onnx.load(path)
    graph = model.graph
    if any(p.key == GROUPED_KEY for p in model.metadata_props):
        return
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {n.name: n for n in graph.node}
    with open(os.path.join(os.path.dirname(path), "config.json")) as f:
        config = json.load(f)
    heads, d_kv = config["num_heads"], config["d_kv"]
    layers = config.get("num_decoder_layers") or config["num_layers"]
    const = {"g_zero": [0], "g_one": [1], "g_two": [2], "g_three": [3], "g_minus_one": [-1],
             "g_heads": [heads], "g_dkv": [d_kv], "g_axis2": [2], "g_axis3": [3]}
    for name, value in const.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    new_nodes = []

    def node(op, inputs, name, **attrs):
        new_nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    for i in range(layers):
        prefix = f"/decoder/block.{i}/layer.1/EncDecAttention"
        scores_mm, values_mm = by_name[f"{prefix}/MatMul"], by_name[f"{prefix}/MatMul_1"]
        [bias_add] = consumers[scores_mm.output[0]]
        assert bias_add.op_type == "Add", bias_add.op_type
        query, keys_t = scores_mm.input
        past_key = f"past_key_values.{i}.encoder.key"
        g = f"/group/{i}"
        texts = node("Slice", [node("Shape", [past_key], g + "/key_shape"), "g_zero", "g_one"], g + "/texts")
        steps = node("Slice", [node("Shape", [query], g + "/query_shape"), "g_two", "g_three"], g + "/steps")
        shape5 = node("Concat", [texts, "g_minus_one", "g_heads", steps, "g_dkv"], g + "/shape5", axis=0)
        # [B, heads, S, d] -> [T, n, heads, S, d] -> [T, heads, S, n, d]
        q5 = node("Transpose", [node("Reshape", [query, shape5], g + "/q_rows")], g + "/q", perm=[0, 2, 3, 1, 4])
        scores_mm.input[0] = q5
        # Keys: unsqueeze before Optimum's transpose ([T, heads, 1, d, L]), so that the
        # transpose still feeds the MatMul directly and ONNX Runtime can fuse the two.
        [keys_transpose] = [n for n in graph.node if keys_t in n.output]
        assert keys_transpose.op_type == "Transpose", keys_transpose.op_type
        keys_transpose.input[0] = node("Unsqueeze", [keys_transpose.input[0], "g_axis2"], g + "/k")
        for a in keys_transpose.attribute:
            if a.name == "perm":
                a.ints[:] = [0, 1, 2, 4, 3]
        bias_slot = 1 if bias_add.input[0] == scores_mm.output[0] else 0
        bias_add.input[bias_slot] = node("Unsqueeze", [bias_add.input[bias_slot], "g_axis3"], g + "/bias")
        values_mm.input[1] = node("Unsqueeze", [values_mm.input[1], "g_axis2"], g + "/v")
        # [T, heads, S, n, d] -> [T, n, heads, S, d] -> [B, heads, S, d], what the graph expects.
        grouped_out = values_mm.output[0]
        values_mm.output[0] = g + "/attn5"
        rows_shape = node("Concat", ["g_minus_one", "g_heads", steps, "g_dkv"], g + "/rows_shape", axis=0)
        new_nodes.append(helper.make_node("Transpose", [g + "/attn5"], [g + "/attn_rows"], name=g + "/attn_rows", perm=[0, 3, 1, 2, 4]))
        new_nodes.append(helper.make_node("Reshape", [g + "/attn_rows", rows_shape], [grouped_out], name=g + "/attn"))
    graph.node.extend(new_nodes)
    # Topological order: ONNX requires it, and the new nodes feed older ones.
    ordered, ready = [], {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    while pending:
        rest = []
        for n in pending:
            if all(x in ready for x in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RuntimeError(f"cannot order {len(rest)} nodes, first {rest[0].name}")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    model.metadata_props.append(onnx.StringStringEntryProto(key=GROUPED_KEY, value="1"))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def add_label_scores(path):
    """Adds to a decoder graph what the scorer needs instead of 250k-wide logits: input
    `label_token_ids` [batch, 1, K] and output `label_logprobs` [batch, 1, K], the
    log-softmax of each row's logits at the K tokens asked for. `logits` stays an output and
    the new input has a default value, so Optimum's runtime, which feeds neither, runs the
    graph as before. ONNX Runtime only copies out the outputs a run asks for, so only these
    few numbers leave it. LogSoftmax, not ReduceLogSumExp: ONNX Runtime's LogSoftmax kernel
    is vectorised and threaded, and was 5x faster on 80 rows of mT5 logits (its
    ReduceLogSumExp took 31% of a decoder step), and closer to float64."""
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(path, load_external_data=False)
    graph = model.graph
    if any(o.name == SCORE_OUTPUT for o in graph.output):
        return
    graph.input.append(helper.make_tensor_value_info(SCORE_INPUT, TensorProto.INT64, ["batch_size", 1, "label_tokens"]))
    graph.initializer.append(numpy_helper.from_array(np.zeros((1, 1, 1), np.int64), SCORE_INPUT))
    graph.node.append(helper.make_node("LogSoftmax", ["logits"], ["label_scores/log_softmax"], name="label_scores/LogSoftmax", axis=-1))
    graph.node.append(helper.make_node("GatherElements", ["label_scores/log_softmax", SCORE_INPUT], [SCORE_OUTPUT], name="label_scores/GatherElements", axis=2))
    graph.output.append(helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, ["batch_size", 1, "label_tokens"]))
    onnx.save(model, path)


def to_fp16(path):
    """Mixed precision: fp16 everywhere but the places T5 overflows (see module doc)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = onnx.load(path)
    # Cast nodes stay out of the list: the converter inserts its own casts around blocked
    # nodes and would name two of them alike.
    keep = [n.name for n in model.graph.node if n.op_type != "Cast" and (
            "layer_norm" in n.name or "DenseReluDense/wo" in n.name
            or (n.op_type == "Add" and "/layer." in n.name and n.name.rsplit("/", 1)[0].split("/")[-1].startswith("layer.")))]
    converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=keep,
                                         op_block_list=["Pow", "ReduceMean", "Sqrt", "Div", "Softmax"])
    # Where one tensor feeds two blocked nodes the converter adds the same cast twice (same
    # name, same output): keep one, as both compute the same value.
    seen, unique = set(), []
    for node in converted.graph.node:
        key = (node.name, node.op_type, tuple(node.input), tuple(node.output))
        if node.name and key in seen:
            continue
        seen.add(key)
        unique.append(node)
    del converted.graph.node[:]
    converted.graph.node.extend(unique)
    onnx.save(converted, path)
    return len(keep)


def write_ort_format(out):
    """ORT-format copies (`*.ort`) of the three graphs, for zs.share_weights: ONNX Runtime can
    use the weights straight from a memory-mapped .ort file, so backends share them."""
    from pathlib import Path
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort
    with tempfile.TemporaryDirectory() as work:
        graphs = [g for g in GRAPHS + [CROSS_KV_GRAPH] if os.path.exists(os.path.join(out, g))]
        for g in graphs:
            os.symlink(os.path.abspath(os.path.join(out, g)), os.path.join(work, g))
        convert_onnx_models_to_ort(Path(work), output_dir=Path(work), optimization_styles=[OptimizationStyle.Fixed])
        for g in graphs:
            name = g.replace(".onnx", ".ort")
            shutil.move(os.path.join(work, name), os.path.join(out, name))


def to_int8(path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = path + ".int8"
    quantize_dynamic(path, tmp, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    os.replace(tmp, path)


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
    ok = worst <= tol
    lines.append(f"  {precision}: {'PASS' if ok else 'FAIL'} (largest |Δ{what}| {worst:.2e}, tolerance {tol:g})")
    return ok, lines


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
    graphs = GRAPHS + [CROSS_KV_GRAPH]
    if precision == "fp16":
        for g in graphs:
            to_fp16(os.path.join(out, g))
    elif precision == "int8":
        for g in graphs:
            to_int8(os.path.join(out, g))
    for g in GRAPHS[1:]:
        add_label_scores(os.path.join(out, g))
    files = MODEL_FILES + [CROSS_KV_GRAPH]
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


def self_test(workdir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_test_model
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
        results[precision] = export(ckpt, os.path.join(workdir, f"tiny-{precision}"), precision,
                                    model_id="self-test/tiny-random-mt5", random_weights=True,
                                    stock_decoder_copy=stock if precision == "fp32" else None)
    ok, lines = check_grouping(stock, os.path.join(workdir, "tiny-fp32", GRAPHS[2]))
    print("\n".join(lines))
    results["grouping"] = ok
    print("self-test:", ", ".join(f"{p} {'PASS' if ok else 'FAIL'}" for p, ok in results.items()))
    return all(results.values())


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
    ap.add_argument("--self-test", metavar="DIR")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(0 if self_test(args.self_test) else 1)
    if not (args.source and args.out):
        ap.error("SOURCE and OUT are required (or --self-test DIR)")
    ok = export(args.source, args.out, args.precision, args.model_id, False, args.template, args.separator, not args.no_check, args.ort_format)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

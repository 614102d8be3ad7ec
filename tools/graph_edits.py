#!/usr/bin/env python3
"""The graph edits of tools/export_model.py, on ONNX files alone (onnx and onnxruntime, no
PyTorch): the cross-attention graph, texts grouped in the decoder-with-past, the fused label
score output, the decoder cache gather graph, and the fp16 / int8 / ORT-format conversions.
Each function edits or writes files in a model directory and says why in its doc."""
import json
import os
import shutil
import tempfile

import numpy as np
import onnx

GRAPHS = ["encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"]

SCORE_INPUT, SCORE_OUTPUT = "label_token_ids", "label_logprobs"
CROSS_KV_GRAPH = "decoder_cross_kv.onnx"
# The label trie's one-pass decoder (tools/tree_graph.py writes it; this module edits it as
# it edits the others).
TREE_GRAPH = "decoder_tree_model.onnx"


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
    """Adds to a decoder graph what the scorer needs instead of 250k-wide logits: an input
    `label_token_ids` of the tokens asked for and an output `label_logprobs` of the log-softmax
    of the logits at them. The step decoders take [batch, 1, K] (K tokens per row, rows with
    fewer repeat a token nobody reads); the tree graph takes [texts, P], flat indices
    node × vocab + token into each text's [nodes, vocab] log-probabilities, exactly one per
    (node, child) pair of the trie (its root has as many children as there are labels, its
    other nodes one or two: padding every node to the root's width would move tens of times
    more numbers). `logits` stays an output and the new input has a default value, so
    Optimum's runtime, which feeds neither, runs the graph as before. ONNX Runtime only
    copies out the outputs a run asks for, so only these few numbers leave it. LogSoftmax,
    not ReduceLogSumExp: ONNX Runtime's LogSoftmax kernel is vectorised and threaded, and was
    5x faster on 80 rows of mT5 logits (its ReduceLogSumExp took 31% of a decoder step), and
    closer to float64."""
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(path, load_external_data=False)
    graph = model.graph
    if any(o.name == SCORE_OUTPUT for o in graph.output):
        return
    [logits] = [o for o in graph.output if o.name == "logits"]
    batch = logits.type.tensor_type.shape.dim[0].dim_param
    graph.node.append(helper.make_node("LogSoftmax", ["logits"], ["label_scores/log_softmax"], name="label_scores/LogSoftmax", axis=-1))
    if os.path.basename(path) == TREE_GRAPH:
        shape = [batch, "label_picks"]
        graph.initializer.append(numpy_helper.from_array(np.array([0, -1], np.int64), "label_scores/flat_shape"))
        graph.node.append(helper.make_node("Reshape", ["label_scores/log_softmax", "label_scores/flat_shape"], ["label_scores/flat"], name="label_scores/Reshape"))
        graph.node.append(helper.make_node("GatherElements", ["label_scores/flat", SCORE_INPUT], [SCORE_OUTPUT], name="label_scores/GatherElements", axis=1))
    else:
        shape = [batch, 1, "label_tokens"]
        graph.node.append(helper.make_node("GatherElements", ["label_scores/log_softmax", SCORE_INPUT], [SCORE_OUTPUT], name="label_scores/GatherElements", axis=2))
    graph.input.append(helper.make_tensor_value_info(SCORE_INPUT, TensorProto.INT64, shape))
    graph.initializer.append(numpy_helper.from_array(np.zeros([1] * len(shape), np.int64), SCORE_INPUT))
    graph.output.append(helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, shape))
    onnx.save(model, path)


SHARED_WEIGHTS = "shared_weights.bin"


def share_weights_file(out, graphs, name=SHARED_WEIGHTS, least=1024):
    """Stores every weight of at least `least` bytes of `graphs` once, in OUT/NAME, as ONNX
    external data the graphs point into (offsets aligned to 4096 bytes, as ONNX Runtime may map
    the file). mT5's graphs repeat the same matrices: the shared embedding is in the encoder and
    every decoder graph, the vocabulary projection and the decoder layers in all three decoder
    graphs. ONNX Runtime reads external data from the graph's own folder, so the engine loads
    such a directory as it is; a graph copied elsewhere needs NAME beside it. Used for the
    committed test model (make_test_model.py), which must stay small; returns the bytes saved."""
    import hashlib

    from onnx import TensorProto, external_data_helper, numpy_helper
    offsets, saved = {}, 0
    with open(os.path.join(out, name), "wb") as data:
        for g in graphs:
            path = os.path.join(out, g)
            model = onnx.load(path)
            for tensor in model.graph.initializer:
                raw = numpy_helper.to_array(tensor).tobytes()
                if len(raw) < least:
                    continue
                key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(raw).digest())
                if key in offsets:
                    saved += len(raw)
                else:
                    data.seek((data.tell() + 4095) // 4096 * 4096)
                    offsets[key] = data.tell()
                    data.write(raw)
                external_data_helper.set_external_data(tensor, location=name, offset=offsets[key], length=len(raw))
                tensor.data_location = TensorProto.EXTERNAL
                for field in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
                    tensor.ClearField(field)
            onnx.save(model, path)
    return saved


def scored_graphs(out):
    """The graphs of model directory OUT that get add_label_scores: the two step decoders,
    and the tree graph where there is one."""
    return GRAPHS[1:] + [g for g in [TREE_GRAPH] if os.path.exists(os.path.join(out, g))]


def converted_graphs(out):
    """The graphs of OUT that carry weights (converted to fp16 or int8, written in ORT format):
    the three of Optimum's layout, the cross-attention graph, and the tree graph where there
    is one."""
    return GRAPHS + [g for g in [CROSS_KV_GRAPH, TREE_GRAPH] if os.path.exists(os.path.join(out, g))]


# What stays float32 at a graph's edge in the fp16 export: the scores the engine reads.
# Everything else that crosses between graphs (the encoder output, the cross-attention
# keys/values, the self-attention cache) is fp16 inside the graphs anyway, and stays fp16 on
# its way out and back in: a float32 edge would add a Cast on each side of every cache tensor
# at every decoder step (12 layers x 2 x 2 per step at base size) and double the bytes moved.
FP32_EDGES = ["logits"]


def remove_label_scores(path):
    """Undoes add_label_scores (for fp16_copy: the fp16 conversion comes before it)."""
    model = onnx.load(path, load_external_data=False)
    graph = model.graph
    kept = [n for n in graph.node if not n.name.startswith("label_scores/")]
    del graph.node[:]
    graph.node.extend(kept)
    for part in (graph.input, graph.output, graph.initializer):
        kept = [x for x in part if x.name not in (SCORE_INPUT, SCORE_OUTPUT) and not x.name.startswith("label_scores/")]
        del part[:]
        part.extend(kept)
    onnx.save(model, path)


def fp16_copy(src, dst):
    """DST: the fp32 model directory SRC (our export) as --precision fp16 would have written it,
    without PyTorch: each graph's label scores removed, converted (to_fp16), scored again, and
    the fp16 cache gather graph; tokenizer.json and config.json copied. (scripts/test makes the
    fp16 test model from the committed fp32 one this way.)"""
    os.makedirs(dst, exist_ok=True)
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    for g in converted_graphs(src):
        path = os.path.join(dst, g)
        # Loaded with any external data (the test model's shared weights) and saved whole.
        onnx.save(onnx.load(os.path.join(src, g)), path)
        remove_label_scores(path)
        to_fp16(path)
        if g in scored_graphs(src):
            add_label_scores(path)
    write_cache_gather_graph(dst, fp16=True)


def to_fp16(path):
    """Mixed precision: fp16 everywhere but the places T5 overflows (see export_model's doc),
    with the inputs and outputs in fp16 too, but for FP32_EDGES."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = onnx.load(path)
    # Cast nodes stay out of the list: the converter inserts its own casts around blocked
    # nodes and would name two of them alike.
    keep = [n.name for n in model.graph.node if n.op_type != "Cast" and (
            "layer_norm" in n.name or "DenseReluDense/wo" in n.name
            or (n.op_type == "Add" and "/layer." in n.name and n.name.rsplit("/", 1)[0].split("/")[-1].startswith("layer.")))]
    converted = convert_float_to_float16(model, keep_io_types=FP32_EDGES, node_block_list=keep,
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
    fold_cast_round_trips(converted)
    onnx.save(converted, path)
    return len(keep)


def fold_cast_round_trips(model):
    """Removes the Casts that only round a float32 value to fp16 and back. The converter casts
    every blocked (float32) node's inputs and outputs on its own, and turns T5's own
    `.to(float32)` Casts into casts to fp16, so a float32 chain like T5's layer norm (Pow,
    ReduceMean, Add, Sqrt, Div, Mul, fed by the float32 residual Add) went to fp16 and back
    between each two nodes. Those round trips were a third of the fp16 decoder's nodes (two
    extra kernel launches each on CUDA, per layer and step) and rounded the float32 chain to
    fp16 at every link, where the squares of real activations overflow fp16: the very
    overflow the block list is there to avoid. Two rules, until neither applies:
    a Cast to float32 of a value that is a float32 value cast through Casts only reads that
    float32 value; a Cast to fp16 of an fp16 value reads the value. Casts nobody reads then
    go. Graph outputs are kept. Returns the number of Casts removed."""
    from onnx import TensorProto
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    types.update({i.name: i.data_type for i in graph.initializer})
    casts = {}
    for node in graph.node:
        if node.op_type == "Cast":
            casts[node.output[0]] = node
            types[node.output[0]] = next(a.i for a in node.attribute if a.name == "to")
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)

    def origin(name):
        # The value `name` is a float cast of, through float Casts only.
        while name in casts and types.get(casts[name].input[0]) in floats:
            name = casts[name].input[0]
        return name

    outputs = {o.name for o in graph.output}
    replaced = {}
    for name, node in casts.items():
        if name in outputs:
            continue
        to, source = types[name], node.input[0]
        if to == TensorProto.FLOAT and types.get(origin(source)) == TensorProto.FLOAT:
            replaced[name] = origin(source)
        elif to == TensorProto.FLOAT16 and types.get(source) == TensorProto.FLOAT16:
            replaced[name] = source
    # Chains of replaced casts resolve to their first value that stays.
    for name in replaced:
        target = replaced[name]
        while target in replaced:
            target = replaced[target]
        replaced[name] = target
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in replaced:
                node.input[i] = replaced[name]
    before = len(graph.node)
    kept = list(graph.node)
    while True:
        read = {name for n in kept for name in n.input} | outputs
        left = [n for n in kept if n.op_type != "Cast" or n.output[0] in read]
        if len(left) == len(kept):
            break
        kept = left
    del graph.node[:]
    graph.node.extend(kept)
    return before - len(kept)


def write_ort_format(out, graphs=None):
    """ORT-format copies (`*.ort`) of `graphs` (default: the graphs with weights,
    converted_graphs), for zs.share_weights: ONNX Runtime can use the weights straight from a
    memory-mapped .ort file, so backends share them. Written in a folder inside OUT and renamed
    into place, so a process that has an older copy mapped keeps reading the old file."""
    from pathlib import Path

    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort
    graphs = graphs or converted_graphs(out)
    with tempfile.TemporaryDirectory(dir=out) as work:
        for g in graphs:
            os.symlink(os.path.abspath(os.path.join(out, g)), os.path.join(work, g))
        convert_onnx_models_to_ort(Path(work), output_dir=Path(work), optimization_styles=[OptimizationStyle.Fixed])
        for g in graphs:
            name = g.replace(".onnx", ".ort")
            os.replace(os.path.join(work, name), os.path.join(out, name))


def to_int8(path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = path + ".int8"
    quantize_dynamic(path, tmp, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    os.replace(tmp, path)


CACHE_GATHER_GRAPH = "decoder_cache_gather.onnx"
PARENT_ROWS = "parent_rows"


def write_cache_gather_graph(out, fp16=False):
    """Writes decoder_cache_gather.onnx: the rows `parent_rows` of every layer's
    self-attention cache (`present.{i}.decoder.{key,value}` of one decoder step, rows
    `[rows, heads, seq, d_kv]`) as the `past_key_values.{i}.decoder.*` of the next. The engine
    runs it between decoder steps to feed each trie node its parent's cache, so the cache never
    leaves ONNX Runtime (on CUDA, never leaves the GPU): only the row indices cross from the
    host. Optimum's graphs are untouched; without this file the engine gathers on the host.
    fp16: for the fp16 export, whose caches are fp16 (FP32_EDGES)."""
    from onnx import TensorProto, helper
    cache_type = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    heads = config["num_heads"]
    d_kv = config.get("d_kv") or config["d_model"] // heads
    layers = config.get("num_decoder_layers") or config["num_layers"]
    inputs = [helper.make_tensor_value_info(PARENT_ROWS, TensorProto.INT64, ["rows"])]
    nodes, outputs = [], []
    for i in range(layers):
        for kv in ("key", "value"):
            src, dst = f"present.{i}.decoder.{kv}", f"past_key_values.{i}.decoder.{kv}"
            inputs.append(helper.make_tensor_value_info(src, cache_type, ["parent_rows", heads, "past_sequence_length", d_kv]))
            nodes.append(helper.make_node("Gather", [src, PARENT_ROWS], [dst], name=f"/gather/{i}/{kv}", axis=0))
            outputs.append(helper.make_tensor_value_info(dst, cache_type, ["rows", heads, "past_sequence_length", d_kv]))
    graph = helper.make_graph(nodes, "decoder_cache_gather", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, CACHE_GATHER_GRAPH))

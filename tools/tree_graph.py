"""The label trie's decoder graph, decoder_tree_model.onnx: every trie node of every text of a
run scored in one decoder pass (README, "How it scores").

A node is one decoder position: its token, its depth, and the nodes it may attend to (itself
and its ancestors: `tree_mask`, a tree-shaped causal mask). With the depth as its position,
mT5's relative position bias sees the distances a sequential decode of the node's own label
would see (key depth minus query depth, for the same ancestors), so each node's output is the
one the step-by-step decoder computes for it, and all of them come out of one run: the decoder
layers and the 250k-wide vocabulary projection are read once per run instead of once per trie
level. Cross-attention reads the encoder output directly (no cross-KV graph, no cache).

  inputs   input_ids [texts, nodes] int64      the nodes' tokens (the start token at the root)
           positions [nodes] int64             each node's depth
           tree_mask [nodes, nodes] bool       tree_mask[q, k]: k is q or an ancestor of q
           encoder_hidden_states [texts, prompt, d_model], encoder_attention_mask [texts, prompt]
  output   logits [texts, nodes, vocab]        (graph_edits.add_label_scores then adds input
                                                label_token_ids [texts, P], flat indices
                                                node * vocab + token, -> label_logprobs [texts, P])

tools/export_model.py writes it with the other graphs; tools/add_tree_graph.py adds it to a
model directory exported before it existed.

The layers are the checkpoint's own modules (T5LayerSelfAttention, T5LayerCrossAttention,
T5LayerFF), called with the position bias made here, so the exported node names are the ones
graph_edits.to_fp16 keeps in float32 (layer norms, feed-forward outputs, residual additions).
"""
import torch
from graph_edits import TREE_GRAPH  # noqa: F401 (the file name, for this module's users)
from transformers.models.t5.modeling_t5 import T5Attention


class TreeDecoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.decoder = model.get_decoder()
        self.lm_head = model.lm_head
        self.config = model.config

    def forward(self, input_ids, positions, tree_mask, encoder_hidden_states, encoder_attention_mask):
        cfg = self.config
        min_value = torch.finfo(torch.float32).min
        hidden = self.decoder.embed_tokens(input_ids)
        # Self-attention bias [1, heads, nodes, nodes]: the learned relative bias at
        # (key depth - query depth), as T5Attention.compute_bias makes it for a sequence, plus
        # the tree mask.
        relative = positions[None, :] - positions[:, None]
        first = self.decoder.block[0].layer[0].SelfAttention
        buckets = T5Attention._relative_position_bucket(
            relative, bidirectional=False, num_buckets=first.relative_attention_num_buckets,
            max_distance=first.relative_attention_max_distance)
        bias = first.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)
        bias = bias + torch.where(tree_mask, 0.0, min_value)[None, None, :, :]
        # Cross-attention bias [texts, 1, 1, prompt]: the prompt's padding.
        cross = (1.0 - encoder_attention_mask[:, None, None, :].to(torch.float32)) * min_value
        for block in self.decoder.block:
            hidden = block.layer[0](hidden, position_bias=bias)[0]
            hidden = block.layer[1](hidden, key_value_states=encoder_hidden_states, position_bias=cross)[0]
            hidden = block.layer[2](hidden)
        hidden = self.decoder.final_layer_norm(hidden)
        if cfg.tie_word_embeddings:
            hidden = hidden * (cfg.d_model ** -0.5)
        return self.lm_head(hidden)


def example_inputs(model):
    """A small trie (root, two children, a grandchild) for two texts of 5 prompt tokens."""
    cfg = model.config
    ids = torch.tensor([[cfg.decoder_start_token_id, 5, 6, 7]] * 2)
    positions = torch.tensor([0, 1, 1, 2])
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    hidden = torch.zeros(2, 5, cfg.d_model)
    attention = torch.ones(2, 5, dtype=torch.int64)
    return ids, positions, mask, hidden, attention


@torch.no_grad()
def export_tree_graph(model, path):
    """Writes decoder_tree_model.onnx (float32, before add_label_scores) for `model`."""
    wrapper = TreeDecoder(model).eval()
    torch.onnx.export(
        wrapper, example_inputs(model), path, dynamo=False, opset_version=17,
        input_names=["input_ids", "positions", "tree_mask", "encoder_hidden_states", "encoder_attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "texts", 1: "nodes"}, "positions": {0: "nodes"},
                      "tree_mask": {0: "nodes", 1: "nodes"},
                      "encoder_hidden_states": {0: "texts", 1: "prompt"},
                      "encoder_attention_mask": {0: "texts", 1: "prompt"},
                      "logits": {0: "texts", 1: "nodes"}})


def trie_nodes(start, sequences):
    """The label trie as tree_graph's inputs: for each node with children (in order of depth),
    its token, depth and parent index; and each node's children's tokens; and per label the
    nodes along its path. `sequences` are label tokens followed by EOS."""
    tokens, depth, parent, children = [start], [0], [-1], [[]]
    index = {(): 0}
    for seq in sequences:
        for i in range(1, len(seq)):
            key = tuple(seq[:i])
            if key not in index:
                index[key] = len(tokens)
                tokens.append(seq[i - 1])
                depth.append(i)
                parent.append(index[tuple(seq[:i - 1])])
                children.append([])
    for seq in sequences:
        for i in range(len(seq)):
            node = index[tuple(seq[:i])]
            if seq[i] not in children[node]:
                children[node].append(seq[i])
    return tokens, depth, parent, children, index


def tree_inputs(start, sequences):
    """input_ids [1, N], positions [N], tree_mask [N, N], each node's children's tokens as
    picks [1, N, K] (padded with 0; for reading full logits: tools/tree_check.py), the children
    lists and the node index (export_check.py makes the fused output's flat indices from them)."""
    tokens, depth, parent, children, index = trie_nodes(start, sequences)
    n = len(tokens)
    mask = torch.zeros(n, n, dtype=torch.bool)
    for q in range(n):
        k = q
        while k >= 0:
            mask[q, k] = True
            k = parent[k]
    width = max(len(c) for c in children)
    picks = torch.zeros(1, n, width, dtype=torch.int64)
    for i, c in enumerate(children):
        picks[0, i, :len(c)] = torch.tensor(c)
    return torch.tensor([tokens]), torch.tensor(depth), mask, picks, children, index


def label_scores(logprobs, sequences, children, index):
    """Each label's log-probability from the nodes' children's log-probabilities [N, K]."""
    out = []
    for seq in sequences:
        total = 0.0
        for i, tok in enumerate(seq):
            node = index[tuple(seq[:i])]
            total += float(logprobs[node, children[node].index(tok)])
        out.append(total)
    return out


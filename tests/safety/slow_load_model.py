"""Makes a copy of a model directory one of whose graphs takes ONNX Runtime seconds to load,
for tests/safety's cancel checks: the graph (the encoder by default; decoder_with_past_model.onnx
for the step graphs that open on first need) gets a second output computed by a chain of N
Adds over its attention mask. The engine never asks for that output, so scores are those of
the original; only creating the session is slow (ONNX Runtime's graph passes over every node;
about 4 s for 30,000 nodes on a 2-core machine), and it cannot be stopped part way.

    usage: python slow_load_model.py SRC_DIR DST_DIR [NODES=30000] [GRAPH=encoder_model.onnx]
"""
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The attention mask input of each graph the chain can hang from.
MASKS = {"encoder_model.onnx": "attention_mask", "decoder_with_past_model.onnx": "encoder_attention_mask"}


def main(src, dst, nodes, graph_file):
    shutil.copytree(src, dst)
    path = f"{dst}/{graph_file}"
    model = onnx.load(path)
    graph = model.graph
    graph.node.append(helper.make_node("Cast", [MASKS[graph_file]], ["slow_load/0"], to=TensorProto.FLOAT, name="slow_load/Cast"))
    graph.initializer.append(numpy_helper.from_array(np.ones((1,), np.float32), "slow_load/one"))
    for i in range(nodes):
        graph.node.append(helper.make_node("Add", [f"slow_load/{i}", "slow_load/one"], [f"slow_load/{i + 1}"], name=f"slow_load/Add_{i}"))
    graph.output.append(helper.make_tensor_value_info(f"slow_load/{nodes}", TensorProto.FLOAT, None))
    onnx.save(model, path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 30000,
         sys.argv[4] if len(sys.argv) > 4 else "encoder_model.onnx")

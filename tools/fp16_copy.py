#!/usr/bin/env python3
"""An fp32 model directory of our export as `export_model.py --precision fp16` would have
written it, from the ONNX files alone (onnx and onnxruntime, no PyTorch): graph_edits.fp16_copy.
For the committed tiny test model the graphs come out byte for byte as make_test_model.py's
fp16 export of the same weights; scripts/test makes the engine's fp16 test model this way
(kept out of tests/fixtures, whose size travels with every checkout).

  python3 tools/fp16_copy.py SRC DST
"""
import sys

from graph_edits import fp16_copy

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fp16_copy(sys.argv[1], sys.argv[2])

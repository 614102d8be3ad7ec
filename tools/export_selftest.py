#!/usr/bin/env python3
"""The export's self-test, offline: makes a tiny random checkpoint (tools/make_test_model.py's
recipe), exports it at every precision under DIR with tools/export_model.py and checks each
against PyTorch, then checks that the grouped decoder-with-past computes what Optimum's own
graph does. Its output is kept in tools/export_selftest.log.

  python3 export_selftest.py DIR
"""
import os
import sys
import tempfile

import export_model
import make_test_model
from export_check import check_grouping
from graph_edits import GRAPHS


def self_test(workdir):
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
        results[precision] = export_model.export(ckpt, os.path.join(workdir, f"tiny-{precision}"), precision,
                                    model_id="self-test/tiny-random-mt5", random_weights=True,
                                    stock_decoder_copy=stock if precision == "fp32" else None)
    ok, lines = check_grouping(stock, os.path.join(workdir, "tiny-fp32", GRAPHS[2]))
    print("\n".join(lines))
    results["grouping"] = ok
    print("self-test:", ", ".join(f"{p} {'PASS' if ok else 'FAIL'}" for p, ok in results.items()))
    return all(results.values())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(0 if self_test(sys.argv[1]) else 1)

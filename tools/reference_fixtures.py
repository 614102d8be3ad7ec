#!/usr/bin/env python3
"""Reference generations and alias scores of the tiny test model, from PyTorch transformers.

The independent side of the generation and alias tests (crates/zeroshot/tests/generate.rs,
aliases.rs): it shares no code with the Rust engine. It rebuilds the tiny model's PyTorch
weights the way tools/make_test_model.py made them (same seed, same vocabulary size), checks
that they are the fixture's by reproducing tests/fixtures/reference_scores.json, and writes
tests/fixtures/reference_generate.json:
  greedy   token ids of transformers' greedy `generate` (do_sample=False, num_beams=1)
  first    the first decoder step's log-softmax over the vocabulary, top 16 tokens, in float64,
           for the statistical test of sampling
and tests/fixtures/reference_aliases.json: labels with aliases, every form in the prompt (each
label followed by its aliases), each label's log-probability the log-sum-exp of its forms'.

usage: python tools/reference_fixtures.py   (env: tools/requirements.txt)
"""
import json
import os

import make_test_model
import reference
import torch
from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
MAX_NEW_TOKENS = 24
TOP = 16
PROMPTS = [
    ("keywords", "抽取关键词：\n快递三天了还没到，物流信息一直不更新，客服也不回复"),
    ("title", "为以下的文本生成标题：\n这家店的衣服质量很好，做工精细，价格也实惠，下次还会再来"),
    ("plain", "好评，下次还来买"),
    ("empty", ""),
    ("braces", "{labels} {text} 不是占位符"),
]
# Prompts cut to a limit, as the engine cuts them (tools/reference.py's search).
CUT = [("cut_to_12", "为以下的文本生成标题：\n这家店的衣服质量很好，做工精细，价格也实惠", 12)]


def load():
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(FIXTURES, "tiny-mt5", "tokenizer.json"),
                                  eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    model = make_test_model.make_model(make_test_model.VOCAB)
    with open(os.path.join(FIXTURES, "reference_scores.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    for case in cases[:3]:
        got = reference.label_logprobs(model, tok, case["input_ids"], case["labels"])
        assert all(abs(a - b) < 1e-9 for a, b in zip(got, case["logprobs"])), \
            f"the rebuilt weights are not the fixture's ({case['name']}: {got} vs {case['logprobs']})"
    return model, tok


def cut_ids(tok, text, max_tokens):
    """The longest character prefix of `text` whose ids fit: tools/reference.py's search, with
    a template that is the text alone."""
    return reference.prompt_ids(tok, "{labels}{text}", ",", [], text, max_tokens)[0]


@torch.no_grad()
def case(model, name, prompt, ids):
    enc = torch.tensor([ids])
    out = model.generate(input_ids=enc, attention_mask=torch.ones_like(enc), do_sample=False, num_beams=1,
                         max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=0)
    greedy = out[0].tolist()[1:]  # without the decoder start token
    if model.config.eos_token_id in greedy:
        greedy = greedy[:greedy.index(model.config.eos_token_id) + 1]
    start = torch.tensor([[model.config.decoder_start_token_id]])
    logits = model(input_ids=enc, attention_mask=torch.ones_like(enc), decoder_input_ids=start).logits[0, 0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    top = torch.topk(logp, TOP)
    return {"name": name, "prompt": prompt, "input_ids": ids, "max_new_tokens": MAX_NEW_TOKENS,
            "greedy": greedy,
            "first": {"tokens": top.indices.tolist(), "logprobs": top.values.tolist()}}


ALIAS_CASES = [
    ("logistics", "快递三天了还没到，物流信息一直不更新", ["物流问题", "商品质量", "售后体验"],
     {"物流问题": ["快递慢", "没发货"]}),
    ("prefix_aliases", "好评，下次还来买", ["好评", "差评"], {"好评": ["好", "好评如潮"], "差评": ["差"]}),
    ("every_label", "客服态度很好，退货很顺利", ["售后", "质量"], {"质量": ["做工"], "售后": ["客服", "退货"]}),
]


def alias_case(model, tok, name, text, labels, aliases):
    forms, owner = [], []
    for i, label in enumerate(labels):
        for form in [label] + aliases.get(label, []):
            forms.append(form)
            owner.append(i)
    ids, _ = reference.prompt_ids(tok, reference.DEFAULT_TEMPLATE, reference.DEFAULT_SEPARATOR, forms, text, 512)
    by_form = reference.label_logprobs(model, tok, ids, forms)
    by_label = [torch.logsumexp(torch.tensor([lp for lp, o in zip(by_form, owner) if o == i],
                                             dtype=torch.float64), 0).item() for i in range(len(labels))]
    return {"name": name, "text": text, "labels": labels, "aliases": aliases, "input_ids": ids,
            "form_logprobs": by_form, "logprobs": by_label}


OUTPUTS = ["reference_generate.json", "reference_aliases.json"]


def record_checksums():
    """Adds this script's files to tests/fixtures/SHA256SUMS (make_test_model.py writes the
    rest and rewrites the file: run this after it), so that a test fails if they are edited."""
    path = os.path.join(FIXTURES, "SHA256SUMS")
    with open(path, encoding="utf-8") as f:
        kept = [line for line in f if line.split("  ", 1)[-1].strip() not in OUTPUTS]
    kept += [f"{make_test_model.sha256(os.path.join(FIXTURES, name))}  {name}\n" for name in OUTPUTS]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(kept)


def main():
    model, tok = load()
    aliases = [alias_case(model, tok, *c) for c in ALIAS_CASES]
    path = os.path.join(FIXTURES, "reference_aliases.json")
    make_test_model.write_cases(path, "tools/reference_fixtures.py (PyTorch transformers, float64 log-softmax)", aliases)
    print(f"wrote {path}")
    cases = [case(model, n, p, tok(p).input_ids) for n, p in PROMPTS]
    for name, prompt, limit in CUT:
        c = case(model, name, prompt, cut_ids(tok, prompt, limit))
        c["max_input_tokens"] = limit
        cases.append(c)
    path = os.path.join(FIXTURES, "reference_generate.json")
    make_test_model.write_cases(path, "tools/reference_fixtures.py (PyTorch transformers generate, greedy)", cases)
    print(f"wrote {path}")
    record_checksums()


if __name__ == "__main__":
    main()

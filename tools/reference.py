"""Reference label scores computed with PyTorch transformers.

This is the independent side of the parity tests: it shares no code with the Rust engine.
It renders the classification prompt, truncates the text by tokens the way the engine
documents it (README, "Truncation"), and scores every label by a teacher-forced forward
pass of the label's tokens plus EOS.
"""
import torch

DEFAULT_TEMPLATE = "文本分类。\n候选标签：{labels}。\n文本内容：{text}"
DEFAULT_SEPARATOR = ","


def render(template, separator, labels, text):
    """The prompt, with the placeholders filled once each (the text may contain braces)."""
    head, rest = template.split("{labels}", 1)
    middle, tail = rest.split("{text}", 1)
    return head + separator.join(labels) + middle + text + tail


def prompt_ids(tok, template, separator, labels, text, max_tokens):
    """(input ids, kept text): the longest prefix of the text, in characters, whose prompt fits.

    Binary search over the character count, the same search the engine does, so both
    sides agree even where the token count is not monotone in the prefix length.
    Returns None when the prompt does not fit even with an empty text.
    """
    def ids(t):
        return tok(render(template, separator, labels, t)).input_ids

    full = ids(text)
    if len(full) <= max_tokens:
        return full, text
    if len(ids("")) > max_tokens:
        return None
    lo, hi = 0, len(text)  # ids(text[:lo]) fits, ids(text[:hi]) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if len(ids(text[:mid])) <= max_tokens:
            lo = mid
        else:
            hi = mid
    return ids(text[:lo]), text[:lo]


@torch.no_grad()
def label_logprobs(model, tok, input_ids, labels):
    """log P(label + EOS | prompt) for each label, in float64."""
    cfg = model.config
    enc_ids = torch.tensor([input_ids])
    encoder_out = model.get_encoder()(input_ids=enc_ids, attention_mask=torch.ones_like(enc_ids))
    out = []
    for label in labels:
        target = tok(label).input_ids  # label tokens followed by EOS
        assert target[-1] == cfg.eos_token_id, (label, target)
        dec_in = torch.tensor([[cfg.decoder_start_token_id] + target[:-1]])
        logits = model(encoder_outputs=encoder_out, attention_mask=torch.ones_like(enc_ids),
                       decoder_input_ids=dec_in).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        out.append(float(sum(logp[i, t] for i, t in enumerate(target))))
    return out

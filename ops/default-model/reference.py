#!/usr/bin/env python3
"""transformers' figures for a saved default model, which Convoy's tests compare against.

    python3 ops/default-model/reference.py MODEL_DIR HELDOUT_TXT [OUT.json]

Writes reference.json (into MODEL_DIR unless OUT.json is given): the perplexity of the held-out text and of its first
SAMPLE_LINES lines with windows of CONTEXT tokens every STRIDE (computed in float32 and in bf16 from the bf16
checkpoint), the tokenizer's ids of the sample, and 24 greedy ids after PROMPT. train.py calls it after training.
"""
import json
import math
import pathlib
import sys

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

CONTEXT = 512
STRIDE = 256
SAMPLE_LINES = 40
PROMPT = "The jury said"
SEED = 1234


def perplexity(model, ids, context, stride, device):
    """exp of the mean negative log-likelihood of ids[1:], each token scored once, from a window of up to `context`
    tokens that starts at a multiple of `stride` (the last window that reaches it)."""
    nll, count, scored_to = 0.0, 0, 1
    begin = 0
    while scored_to < len(ids):
        end = min(begin + context, len(ids))
        window = torch.tensor([ids[begin:end]], device=device)
        with torch.no_grad():
            logp = F.log_softmax(model(window).logits[0].float(), dim=-1)
        targets = window[0, 1:]
        picked = -logp[:-1].gather(1, targets[:, None])[:, 0]
        first = scored_to - begin - 1  # index in `picked` of the first token not yet scored
        nll += picked[first:].double().sum().item()
        count += end - scored_to
        scored_to = end
        begin += stride
    return math.exp(nll / count), count


def write_reference(model_dir, heldout, device, trained_steps=None, out=None):
    model_dir = pathlib.Path(model_dir)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    sample = "".join(heldout.splitlines(keepends=True)[:SAMPLE_LINES])
    held_ids = tok.encode(heldout).ids
    sample_ids = tok.encode(sample).ids
    reference = {"context": CONTEXT, "stride": STRIDE, "sample_lines": SAMPLE_LINES,
                 "tokens": {"heldout": len(held_ids), "sample": len(sample_ids)}, "sample_ids": sample_ids,
                 "perplexity": {}}
    if trained_steps is not None:
        reference["trained_steps"] = trained_steps
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        saved = LlamaForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        reference["parameters"] = sum(p.numel() for p in saved.parameters())
        reference["perplexity"][name] = {
            "heldout": perplexity(saved, held_ids, CONTEXT, STRIDE, device)[0],
            "sample": perplexity(saved, sample_ids, CONTEXT, STRIDE, device)[0]}
        if dtype == torch.float32:
            prompt = torch.tensor([tok.encode(PROMPT).ids], device=device)
            # the start token doubles as padding in this vocabulary: say explicitly that every position counts
            mask = torch.ones_like(prompt)
            eot = tok.token_to_id("<|endoftext|>")
            with torch.no_grad():
                generated = saved.generate(prompt, attention_mask=mask, max_new_tokens=24, do_sample=False, pad_token_id=eot)
            reference["greedy"] = {"prompt": PROMPT, "prompt_ids": prompt[0].tolist(),
                                   "ids": generated[0, prompt.shape[1]:].tolist()}
            print("greedy:", PROMPT + tok.decode(reference["greedy"]["ids"]))
            torch.manual_seed(SEED)
            with torch.no_grad():
                sampled = saved.generate(prompt, attention_mask=mask, max_new_tokens=60, do_sample=True, temperature=0.8,
                                         top_k=40, top_p=0.95, pad_token_id=eot)
            print("sampled:", PROMPT + tok.decode(sampled[0, prompt.shape[1]:].tolist()))
    target = pathlib.Path(out) if out else model_dir / "reference.json"
    target.write_text(json.dumps(reference) + "\n")
    print(json.dumps(reference["perplexity"]))


if __name__ == "__main__":
    write_reference(sys.argv[1], pathlib.Path(sys.argv[2]).read_text(encoding="utf-8"),
                    "cuda" if torch.cuda.is_available() else "cpu", out=sys.argv[3] if len(sys.argv) > 3 else None)

#!/usr/bin/env python3
"""Trains Convoy's built-in default model: a small Llama on the Brown corpus, with its own byte-level BPE tokenizer.

    python3 ops/default-model/train.py CORPUS_DIR OUT_DIR

CORPUS_DIR holds train.txt and heldout.txt from prepare_corpus.py. Needs torch, transformers and tokenizers
(a CUDA GPU makes it a minute's work). OUT_DIR receives the model directory (config.json, model.safetensors in
bf16, tokenizer.json, tokenizer_config.json, generation_config.json) and reference.json (see reference.py).
"""
import json
import math
import pathlib
import random
import sys
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

from reference import CONTEXT, STRIDE, perplexity, write_reference

SEED = 1234
EOT = "<|endoftext|>"
VOCAB = 4096
BATCH = 32
STEPS = 1600
PEAK_LR = 2e-3


def train_tokenizer(docs):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    eot = tok.token_to_id(EOT)
    tok.post_processor = processors.TemplateProcessing(single=f"{EOT} $A", pair=f"{EOT} $A {EOT} $B",
                                                       special_tokens=[(EOT, eot)])
    return tok, eot


def main():
    corpus, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    docs = [d for d in (corpus / "train.txt").read_text(encoding="utf-8").split("\n\n") if d.strip()]
    heldout = (corpus / "heldout.txt").read_text(encoding="utf-8")

    tok, eot = train_tokenizer(docs)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOT, "eos_token": EOT,
        "model_max_length": CONTEXT, "add_bos_token": True}, indent=2) + "\n")

    # every 50th training document checks progress and picks the checkpoint; the held-out text is never seen
    fit = [d for i, d in enumerate(docs) if i % 50]
    check = docs[::50]
    stream = torch.tensor([t for d in fit for t in tok.encode(d).ids], dtype=torch.long)
    check_ids = [t for d in check for t in tok.encode(d).ids]
    print(f"tokenizer: {tok.get_vocab_size()} tokens; training stream {len(stream)} tokens, check {len(check_ids)}")

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=704, num_hidden_layers=6,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=CONTEXT,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                         bos_token_id=eot, eos_token_id=eot, pad_token_id=None)
    model = LlamaForCausalLM(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params} parameters")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=PEAK_LR, betas=(0.9, 0.95))
    warmup = 100

    def lr_at(step):
        if step < warmup:
            return PEAK_LR * (step + 1) / warmup
        t = (step - warmup) / (STEPS - warmup)
        return PEAK_LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    gen = torch.Generator().manual_seed(SEED)
    best = (float("inf"), None, -1)
    start = time.time()
    for step in range(STEPS):
        model.train()
        starts = torch.randint(0, len(stream) - CONTEXT - 1, (BATCH,), generator=gen)
        batch = torch.stack([stream[s:s + CONTEXT + 1] for s in starts.tolist()]).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(batch[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 99 or step == STEPS - 1:
            model.eval()
            ppl, _ = perplexity(model, check_ids, CONTEXT, STRIDE, device)
            if ppl < best[0]:
                best = (ppl, {k: v.detach().clone() for k, v in model.state_dict().items()}, step + 1)
            print(f"step {step + 1}: loss {loss.item():.3f}, check perplexity {ppl:.2f}, {time.time() - start:.0f} s",
                  flush=True)
    print(f"keeping step {best[2]} (check perplexity {best[0]:.2f})")
    model.load_state_dict(best[1])
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": eot, "eos_token_id": eot, "do_sample": True, "temperature": 0.8, "top_k": 40,
        "top_p": 0.95}, indent=2) + "\n")

    write_reference(out, heldout, device, trained_steps=best[2])

if __name__ == "__main__":
    main()

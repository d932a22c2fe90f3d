#!/usr/bin/env python3
"""Builds small random-weight models with Hugging Face transformers and records reference outputs.

Each model is saved as bf16 safetensors (sharded where asked) with:
  reference.json  prompt ids, greedy continuation ids and per-step top-1/top-2 logit margins
  logits.npy      float32 [prompt_len, vocab_size], computed in fp32 from the bf16 weights

Greedy ids are computed by re-running the whole sequence each step (no KV cache), so the
reference does not depend on transformers' cache implementation.

Usage: python3 ops/parity/make_models.py OUT_DIR [--set fixtures|extra] [--only NAME] [--seed-offset N]
"""
import argparse, json, os, sys
import numpy as np
import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

NEW_TOKENS = 24
MIN_MARGIN = 0.05  # smallest top-1 minus top-2 logit accepted over the first 16 greedy steps

MODELS = {
    # GQA (4 query heads share 2 kv heads), llama3 rope scaling whose thresholds fall inside head_dim, sharded.
    "llama-gqa-rope3-sharded": dict(
        cls=(LlamaConfig, LlamaForCausalLM), shard="150KB", key_style=5, prompt_len=19,
        cfg=dict(vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                 rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=2,
                 rope_theta=10000.0,
                 rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0,
                                   high_freq_factor=4.0, original_max_position_embeddings=32))),
    # Tied embeddings and a head_dim that is not hidden_size / heads; transformers-4 key style.
    "llama-tied-headdim": dict(
        cls=(LlamaConfig, LlamaForCausalLM), shard=None, key_style=4, prompt_len=13,
        cfg=dict(vocab_size=768, hidden_size=96, intermediate_size=200, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, head_dim=32, max_position_embeddings=128,
                 rms_norm_eps=1e-6, initializer_range=0.1, tie_word_embeddings=True,
                 bos_token_id=1, eos_token_id=2, rope_theta=500000.0)),
    # Qwen2: biases on q, k and v projections.
    "qwen2-bias": dict(
        cls=(Qwen2Config, Qwen2ForCausalLM), shard=None, key_style=4, prompt_len=17,
        cfg=dict(vocab_size=1000, hidden_size=128, intermediate_size=288, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                 rms_norm_eps=1e-6, initializer_range=0.08, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=2, rope_theta=1000000.0, use_sliding_window=False)),
    # Mistral with one kv head and a sliding window shorter than prompt + continuation.
    "mistral-swa": dict(
        cls=(MistralConfig, MistralForCausalLM), shard=None, key_style=5, prompt_len=14,
        cfg=dict(vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256,
                 rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=2, rope_theta=10000.0, sliding_window=9)),
}

# Checked like the models above but kept out of the repository: other dtypes, key styles and shapes.
EXTRA = {
    "x-llama-fp32-rope3-v4": dict(
        cls=(LlamaConfig, LlamaForCausalLM), shard="300KB", key_style=4, prompt_len=23, dtype=torch.float32,
        cfg=dict(vocab_size=2000, hidden_size=192, intermediate_size=320, num_hidden_layers=4,
                 num_attention_heads=6, num_key_value_heads=3, max_position_embeddings=512,
                 rms_norm_eps=1e-5, initializer_range=0.06, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=[2, 3], rope_theta=500000.0,
                 rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                   high_freq_factor=4.0, original_max_position_embeddings=64))),
    "x-qwen2-tied-fp16": dict(
        cls=(Qwen2Config, Qwen2ForCausalLM), shard=None, key_style=5, prompt_len=9, dtype=torch.float16,
        cfg=dict(vocab_size=640, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                 num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                 rms_norm_eps=1e-6, initializer_range=0.1, tie_word_embeddings=True,
                 bos_token_id=1, eos_token_id=2, rope_theta=10000.0, use_sliding_window=False)),
    "x-llama-biases": dict(
        cls=(LlamaConfig, LlamaForCausalLM), shard=None, key_style=5, prompt_len=30,
        cfg=dict(vocab_size=500, hidden_size=128, intermediate_size=192, num_hidden_layers=2,
                 num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=64,
                 rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False,
                 attention_bias=True, mlp_bias=True, bos_token_id=1, eos_token_id=2, rope_theta=10000.0,
                 rope_scaling=dict(rope_type="linear", factor=2.0))),
    "x-mistral-nowindow-sharded": dict(
        cls=(MistralConfig, MistralForCausalLM), shard="200KB", key_style=4, prompt_len=40,
        cfg=dict(vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                 num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=128,
                 rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=2, rope_theta=1000000.0, sliding_window=None)),
}


def randomize_defaults(model, gen):
    """transformers starts biases at 0 and norm scales at 1, which would leave them untested: draw them too."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif "norm" in name:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)


@torch.no_grad()
def greedy(model, ids, steps):
    seq = list(ids)
    out, margins = [], []
    for _ in range(steps):
        logits = model(torch.tensor([seq])).logits[0, -1]
        top = torch.topk(logits, 2)
        out.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        seq.append(out[-1])
    return out, margins


def to_key_style_4(cfg):
    """Rewrites a transformers-5 config.json into the transformers-4 keys most Hub checkpoints carry."""
    rope = cfg.pop("rope_parameters", None)
    if rope is not None:
        rope = dict(rope)
        cfg["rope_theta"] = rope.pop("rope_theta", 10000.0)
        cfg["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    return cfg


def build(name, spec, out_root, seed_offset):
    config_cls, model_cls = spec["cls"]
    config = config_cls(**spec["cfg"])
    config._attn_implementation = "eager"
    for attempt in range(200):
        torch.manual_seed(1000 + attempt + seed_offset)
        model = model_cls(config)
        randomize_defaults(model, torch.Generator().manual_seed(500 + attempt + seed_offset))
        model = model.to(spec.get("dtype", torch.bfloat16)).eval()
        ref = model_cls(config).eval()
        ref.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        gen = torch.Generator().manual_seed(7 + attempt + seed_offset)
        prompt = torch.randint(3, config.vocab_size, (spec["prompt_len"],), generator=gen).tolist()
        ids, margins = greedy(ref, prompt, NEW_TOKENS)
        if min(margins[:16]) >= MIN_MARGIN:
            break
    else:
        sys.exit(f"{name}: no seed gave greedy margins >= {MIN_MARGIN}")
    with torch.no_grad():
        logits = ref(torch.tensor([prompt])).logits[0].float().numpy()
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    kwargs = dict(safe_serialization=True)
    if spec["shard"]:
        kwargs["max_shard_size"] = spec["shard"]
    model.save_pretrained(out, **kwargs)
    cfg_path = os.path.join(out, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg.pop("_attn_implementation", None)
    cfg["architectures"] = [model_cls.__name__]
    if spec["key_style"] == 4:
        cfg = to_key_style_4(cfg)
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    np.save(os.path.join(out, "logits.npy"), logits.astype(np.float32))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(dict(model=name, prompt_ids=prompt, greedy_ids=ids, greedy_margins=margins,
                       attempt=attempt, transformers=transformers.__version__, torch=torch.__version__,
                       logits_shape=list(logits.shape)), f, indent=1)
    print(f"{name}: attempt {attempt}, prompt {len(prompt)}, min margin {min(margins[:16]):.3f}, "
          f"files {sorted(os.listdir(out))}")
    print(json.dumps(cfg, sort_keys=True))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--only")
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--set", choices=["fixtures", "extra"], default="fixtures",
                   help="fixtures: the models committed as test resources; extra: models kept out of the repository")
    a = p.parse_args()
    torch.set_grad_enabled(False)
    for name, spec in (MODELS if a.set == "fixtures" else EXTRA).items():
        if a.only and a.only != name:
            continue
        build(name, spec, a.out, a.seed_offset)


if __name__ == "__main__":
    main()

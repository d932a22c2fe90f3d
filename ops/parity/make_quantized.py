#!/usr/bin/env python3
"""Reference numbers for Convoy's quantization, written from bitsandbytes' published algorithm in torch
(bitsandbytes itself need not be installed).

For each parity model directory made by make_models.py it writes, next to the bf16 model, one folder per variant:
  <model>/nf4/          NF4, blocksize 64, double quantization (the default)
  <model>/nf4-plain/    NF4 without double quantization            (only for --variants all)
  <model>/fp4/          FP4 with double quantization                (only for --variants all)
  <model>/int8/         LLM.int8 row-wise                           (only for --variants all)
each holding a Hugging Face bitsandbytes checkpoint (config.json with quantization_config, model.safetensors in
the layout transformers writes), logits.npy (fp32 logits of the prompt, computed from the dequantized weights)
and reference.json (prompt, 24 greedy ids, margins).

The algorithm, as bitsandbytes' kernels run it:
  4-bit: the [out, in] weight flattened row-major, cut in blocks (64); absmax = max |x| per block; each value times
         float32(1 / absmax) rounded to the nearest code (thresholds at the float32 midpoints, ties downwards);
         element 2j in the high nibble, 2j+1 in the low; a partial last block is padded with zeros.
  double quantization: offset = mean(absmax) (accumulated in float64, stored as float32); absmax - offset is
         quantized blockwise (256) to 8 bits with the signed dynamic map, by bitsandbytes' binary search.
  int8:  SCB = max |row|; int8 = round-half-even(x * float32(127 / SCB)).

Usage: python3 ops/parity/make_quantized.py PARITY_DIR [--variants nf4|all] [--only MODEL]
"""
import argparse, glob, json, os, shutil, sys
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_models import greedy  # noqa: E402  (the same greedy reference as the bf16 fixtures)

NF4_VALUES = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
              -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
              0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0]
FP4_RAW = [0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0]
FP4_THRESHOLDS = [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333]
FP4_MAGNITUDE_CODES = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011]
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
NEW_TOKENS = 24


def quant_map(kind):
    if kind == "nf4":
        return torch.tensor(NF4_VALUES, dtype=torch.float32)
    t = torch.tensor(FP4_RAW, dtype=torch.float32)
    return t / t.abs().max()


def codes_4bit(x, kind):
    """x: float32 values already scaled into [-1, 1]; NaN (0 * inf of an all-zero block) gives code 0 as on GPU."""
    if kind == "nf4":
        v = np.array(NF4_VALUES, dtype=np.float64)
        thresholds = torch.tensor(((v[:-1] + v[1:]) / 2).astype(np.float32))
        return (x.unsqueeze(-1) > thresholds).sum(-1).to(torch.uint8)
    sign = (x < 0).to(torch.uint8) * 8
    idx = (x.abs().unsqueeze(-1) > torch.tensor(FP4_THRESHOLDS, dtype=torch.float32)).sum(-1)
    return torch.tensor(FP4_MAGNITUDE_CODES, dtype=torch.uint8)[idx] + sign


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    assert additional_items == 0
    data.append(0)
    data.append(1.0)
    data += [0] * (256 - len(data))
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def dquantize(code, x):
    """bitsandbytes' dQuantize<0>: a 7-step binary search over the 256 sorted codes, then the nearer neighbour."""
    c = code.tolist()
    out = torch.empty(x.shape, dtype=torch.uint8)
    for k, xv in enumerate(x.tolist()):
        xv = np.float32(xv)
        pivot, upper_pivot, lower_pivot = 127, 255, 0
        lower, upper = np.float32(-1.0), np.float32(1.0)
        val = np.float32(c[pivot])
        i = 64
        while i > 0:
            if xv > val:
                lower_pivot, lower = pivot, val
                pivot += i
            else:
                upper_pivot, upper = pivot, val
                pivot -= i
            val = np.float32(c[pivot])
            i >>= 1
        if upper_pivot == 255:
            upper = np.float32(c[upper_pivot])
        if lower_pivot == 0:
            lower = np.float32(c[lower_pivot])
        if xv > val:
            out[k] = upper_pivot if xv > np.float32((upper + val) * np.float32(0.5)) else pivot
        else:
            out[k] = lower_pivot if xv < np.float32((lower + val) * np.float32(0.5)) else pivot
    return out


def blockwise_absmax(flat, blocksize):
    n = flat.numel()
    blocks = -(-n // blocksize)
    padded = torch.zeros(blocks * blocksize, dtype=torch.float32)
    padded[:n] = flat
    padded = padded.view(blocks, blocksize)
    return padded, padded.abs().max(dim=1).values


def quantize_4bit(w, kind, blocksize, nested):
    """Returns the bitsandbytes state-dict entries of one weight and its dequantized float32 value."""
    flat = w.float().flatten()
    n = flat.numel()
    padded, absmax = blockwise_absmax(flat, blocksize)
    inv = torch.tensor(1.0, dtype=torch.float32) / absmax
    codes = codes_4bit(padded * inv.unsqueeze(1), kind).flatten()[: n + (n % 2)]
    packed = (codes[0::2] << 4) | codes[1::2]
    qmap = quant_map(kind)
    entries = {"": packed.view(-1, 1), ".quant_map": qmap}
    state = {"quant_type": kind, "blocksize": blocksize, "dtype": str(w.dtype).replace("torch.", ""),
             "shape": list(w.shape)}
    if nested:
        offset = absmax.double().mean().float()
        centered = absmax - offset
        dmap = create_dynamic_map()
        padded2, absmax2 = blockwise_absmax(centered, 256)
        inv2 = torch.tensor(1.0, dtype=torch.float32) / absmax2
        q2 = dquantize(dmap, (padded2 * inv2.unsqueeze(1)).flatten()[: centered.numel()])
        entries[".absmax"] = q2
        entries[".nested_absmax"] = absmax2
        entries[".nested_quant_map"] = dmap
        state.update({"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": offset.item()})
        idx = torch.arange(centered.numel()) // 256
        absmax_used = dmap[q2.long()] * absmax2[idx] + offset
    else:
        entries[".absmax"] = absmax
        absmax_used = absmax
    entries[".quant_state.bitsandbytes__" + kind] = torch.tensor(list(json.dumps(state).encode("utf-8")),
                                                                dtype=torch.uint8)
    unpacked = torch.stack([packed >> 4, packed & 15], dim=1).flatten()[:n].long()
    block = torch.arange(n) // blocksize
    dequant = (qmap[unpacked] * absmax_used[block]).view(w.shape)
    return {".weight" + k: v for k, v in entries.items()}, dequant


def quantize_int8(w):
    w = w.float()
    scb = w.abs().max(dim=1).values
    cb = torch.round(w * (torch.tensor(127.0) / scb).unsqueeze(1)).to(torch.int8)
    dequant = cb.float() * scb.unsqueeze(1) / 127.0
    return {".weight": cb, ".SCB": scb, ".weight_format": torch.tensor(0, dtype=torch.uint8)}, dequant


def quantization_config(variant, compute_dtype):
    four = variant != "int8"
    return {"_load_in_4bit": four, "_load_in_8bit": not four, "bnb_4bit_compute_dtype": compute_dtype,
            "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "fp4" if variant == "fp4" else "nf4",
            "bnb_4bit_use_double_quant": variant in ("nf4", "fp4"), "llm_int8_enable_fp32_cpu_offload": False,
            "llm_int8_has_fp16_weight": False, "llm_int8_skip_modules": None, "llm_int8_threshold": 6.0,
            "load_in_4bit": four, "load_in_8bit": not four, "quant_method": "bitsandbytes"}


def build(model_dir, variant):
    tensors = {}
    for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        tensors.update(load_file(f))
    ref = json.load(open(os.path.join(model_dir, "reference.json")))
    out_dir = os.path.join(model_dir, variant)
    os.makedirs(out_dir, exist_ok=True)
    saved, dequantized = {}, {}
    for name, t in tensors.items():
        module = name.rsplit(".", 1)[0]
        if name.endswith(".weight") and module.rsplit(".", 1)[-1] in LINEAR:
            if variant == "int8":
                entries, deq = quantize_int8(t)
            else:
                entries, deq = quantize_4bit(t, variant.split("-")[0], 64, variant != "nf4-plain")
            for suffix, v in entries.items():
                saved[module + suffix] = v.contiguous()
            dequantized[name] = deq
        else:
            saved[name] = t.contiguous()
            dequantized[name] = t.float()
    save_file(saved, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    cfg["quantization_config"] = quantization_config(variant, "bfloat16")
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2, sort_keys=True)
    shutil.copy(os.path.join(model_dir, "generation_config.json"), out_dir)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    state = model.state_dict()
    for name in state:
        source = dequantized.get(name, dequantized.get("model.embed_tokens.weight") if name == "lm_head.weight" else None)
        state[name].copy_(source)
    logits = model(torch.tensor([ref["prompt_ids"]])).logits[0].float().numpy()
    np.save(os.path.join(out_dir, "logits.npy"), logits.astype(np.float32))
    ids, margins = greedy(model, ref["prompt_ids"], NEW_TOKENS)
    json.dump(dict(model=os.path.basename(model_dir), variant=variant, prompt_ids=ref["prompt_ids"], greedy_ids=ids,
                   greedy_margins=margins), open(os.path.join(out_dir, "reference.json"), "w"), indent=1)
    print(f"{os.path.basename(model_dir)}/{variant}: {len(saved)} tensors, min margin {min(margins[:16]):.4f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("parity_dir")
    p.add_argument("--variants", choices=["nf4", "all"], default="nf4")
    p.add_argument("--only")
    a = p.parse_args()
    torch.set_grad_enabled(False)
    for model_dir in sorted(glob.glob(os.path.join(a.parity_dir, "*", "reference.json"))):
        model_dir = os.path.dirname(model_dir)
        if a.only and os.path.basename(model_dir) != a.only:
            continue
        for variant in (["nf4", "nf4-plain", "fp4", "int8"] if a.variants == "all" else ["nf4"]):
            build(model_dir, variant)


if __name__ == "__main__":
    main()

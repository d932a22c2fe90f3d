#!/usr/bin/env python3
"""Runs `convoy quantize` on the full-precision parent of each folder made by make_quantized.py (MODEL/nf4,
MODEL/nf4-plain, MODEL/fp4, MODEL/int8) and compares the output with that folder: the same tensor names, dtypes,
shapes and bytes, and the same quantization_config. Pure Python.

Usage: python3 ops/parity/check_quantize.py VARIANT_DIR [VARIANT_DIR ...]   (exit status 1 if any differs)
"""
import glob, json, os, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tensors(model_dir):
    out = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            base = 8 + n
            for name, e in header.items():
                if name == "__metadata__":
                    continue
                f.seek(base + e["data_offsets"][0])
                out[name] = (e["dtype"], e["shape"], f.read(e["data_offsets"][1] - e["data_offsets"][0]))
    return out


def check(variant_dir):
    variant = os.path.basename(variant_dir.rstrip("/"))
    source = os.path.dirname(variant_dir.rstrip("/"))
    args = ["--quantization", variant.split("-")[0]] + (["--double-quant", "false"] if variant.endswith("-plain") else [])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        run = subprocess.run([os.path.join(ROOT, "ops", "convoy"), "quantize", "--model", source, "--out", out, *args],
                             capture_output=True, text=True)
        if run.returncode != 0:
            return False, f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1]}"
        got, want = tensors(out), tensors(variant_dir)
        cfg_got = json.load(open(os.path.join(out, "config.json")))["quantization_config"]
    cfg_want = json.load(open(os.path.join(variant_dir, "config.json")))["quantization_config"]
    if set(got) != set(want):
        return False, f"key sets differ: only ours {sorted(set(got) - set(want))[:3]}, only reference {sorted(set(want) - set(got))[:3]}"
    differing = [k for k in want if got[k] != want[k]]
    if differing:
        return False, f"{len(differing)} tensors differ, first {differing[0]}"
    if cfg_got != cfg_want:
        return False, "quantization_config differs"
    return True, f"{len(want)} tensors byte-identical, quantization_config equal"


def main():
    failed = 0
    for d in sys.argv[1:]:
        ok, what = check(d)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.relpath(d)}: {what}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the acceptance command of `convoy run` on model directories made by make_models.py and compares the
logits (relative L2) and the first 16 greedy ids with their reference. Pure Python, no numpy needed.

Usage: python3 ops/parity/check_cli.py [--on-load] MODEL_DIR [MODEL_DIR ...]   (exit status 1 if any model fails)

A MODEL_DIR made by make_quantized.py (MODEL/nf4, MODEL/fp4, ...) runs as the stored bitsandbytes checkpoint; with
--on-load, its full-precision parent is quantized while loading instead, with the same settings.
"""
import array, ast, json, math, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOUND = 1e-3
CHECKED = 16


def read_npy(path):
    with open(path, "rb") as f:
        assert f.read(6) == b"\x93NUMPY"
        major = f.read(2)[0]
        n = int.from_bytes(f.read(2 if major == 1 else 4), "little")
        header = ast.literal_eval(f.read(n).decode("latin1"))
        assert header["descr"] == "<f4" and not header["fortran_order"], header
        data = array.array("f")
        data.frombytes(f.read())
        return header["shape"], data


def quantization_args(model, on_load):
    """How to run MODEL: as stored, or (on_load) its parent quantized while loading like MODEL's folder name says."""
    variant = os.path.basename(model.rstrip("/"))
    if not on_load or not os.path.isfile(os.path.join(os.path.dirname(model.rstrip("/")), "config.json")):
        return model, ["--quantization", "none"]
    args = ["--quantization", variant.split("-")[0]]
    if variant.endswith("-plain"):
        args += ["--double-quant", "false"]
    return os.path.dirname(model.rstrip("/")), args


def check(model, on_load):
    ref = json.load(open(os.path.join(model, "reference.json")))
    run_model, quant = quantization_args(model, on_load)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.npy")
        cmd = [os.path.join(ROOT, "ops", "convoy"), "run", "--model", run_model, *quant,
               "--tokens", ",".join(map(str, ref["prompt_ids"])), "--logits-out", out,
               "--max-new-tokens", "24", "--temperature", "0", "--print-ids"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            return False, f"exit {run.returncode}: {run.stderr.strip()}"
        ids = [int(t) for t in run.stdout.strip().split(",")]
        shape, got = read_npy(out)
        want_shape, want = read_npy(os.path.join(model, "logits.npy"))
    if tuple(shape) != tuple(want_shape):
        return False, f"logits shape {shape}, reference {want_shape}"
    err = math.sqrt(sum((a - b) ** 2 for a, b in zip(got, want)) / sum(b * b for b in want))
    same = ids[:CHECKED] == ref["greedy_ids"][:CHECKED]
    ok = err < BOUND and same
    return ok, f"relative L2 {err:.2e}, first {CHECKED} greedy ids {'equal' if same else 'DIFFER'}"


def main():
    failed = 0
    on_load = "--on-load" in sys.argv[1:]
    for model in [a for a in sys.argv[1:] if a != "--on-load"]:
        ok, what = check(model, on_load)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.relpath(model)}: {what}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

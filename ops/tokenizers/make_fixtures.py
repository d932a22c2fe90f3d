#!/usr/bin/env python3
"""Reference outputs of Hugging Face tokenizers and transformers for Convoy's tokenizer tests.

For each tokenizer directory (tokenizer.json or tokenizer.json.gz, tokenizer_config.json) and each text of a
corpus (a JSON list of strings) it records: the ids of encode(text, add_special_tokens=False), the ids with
special tokens added, decode(ids) and decode(ids, skip_special_tokens=True), and whether decode(encode(x)) == x.
With --chat it also renders a two-turn conversation with a system message through apply_chat_template.
With --bench FILE it times single-core encoding of that text.

Usage: python3 ops/tokenizers/make_fixtures.py OUT.json CORPUS.json TOKENIZER_DIR... [--chat] [--bench FILE]
"""
import argparse, gzip, json, os, shutil, sys, tempfile, time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
import tokenizers
from tokenizers import Tokenizer

CHAT = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "  The capital of France is Paris.  "},
    {"role": "user", "content": "And of Italy? Answer in one word."},
]


def plain_dir(src, tmp):
    """A copy of the tokenizer directory with tokenizer.json uncompressed, as transformers expects."""
    dst = os.path.join(tmp, os.path.basename(src.rstrip("/")))
    os.makedirs(dst)
    for f in os.listdir(src):
        if f == "tokenizer.json.gz":
            with gzip.open(os.path.join(src, f), "rb") as i, open(os.path.join(dst, "tokenizer.json"), "wb") as o:
                shutil.copyfileobj(i, o)
        elif os.path.isfile(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), dst)
    return dst


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("corpus")
    p.add_argument("tokenizers", nargs="+")
    p.add_argument("--chat", action="store_true")
    p.add_argument("--bench")
    a = p.parse_args()
    corpus = json.load(open(a.corpus))
    result = {"tokenizers_version": tokenizers.__version__, "cases": {}, "chat": {}, "bench": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for src in a.tokenizers:
            name = os.path.basename(src.rstrip("/"))
            d = plain_dir(src, tmp)
            tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            cases = []
            for text in corpus:
                ids = tok.encode(text, add_special_tokens=False).ids
                decoded = tok.decode(ids, skip_special_tokens=False)
                cases.append({"text": text, "ids": ids,
                              "ids_with_special": tok.encode(text, add_special_tokens=True).ids,
                              "decoded": decoded,
                              "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
                              "roundtrip": decoded == text})
            result["cases"][name] = cases
            if a.chat:
                from transformers import AutoTokenizer
                hf = AutoTokenizer.from_pretrained(d)
                if hf.chat_template:
                    rendered = hf.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
                    result["chat"][name] = {"messages": CHAT, "add_generation_prompt": True, "text": rendered,
                                            "ids": tok.encode(rendered, add_special_tokens=False).ids}
            if a.bench:
                text = open(a.bench, encoding="utf-8").read()
                size = len(text.encode("utf-8"))
                lines = text.splitlines(keepends=True)
                best_whole, best_lines = 1e9, 1e9
                for _ in range(5):
                    t0 = time.perf_counter(); tok.encode(text, add_special_tokens=False); best_whole = min(best_whole, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    for line in lines:
                        tok.encode(line, add_special_tokens=False)
                    best_lines = min(best_lines, time.perf_counter() - t0)
                result["bench"][name] = {"bytes": size, "whole_text_mb_s": size / best_whole / 1e6,
                                         "per_line_mb_s": size / best_lines / 1e6,
                                         "tokens": len(tok.encode(text, add_special_tokens=False).ids)}
            print(name, len(cases), "cases", result["bench"].get(name, ""), file=sys.stderr)
    json.dump(result, open(a.out, "w"), ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()

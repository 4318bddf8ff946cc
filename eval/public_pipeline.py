#!/usr/bin/env python3
"""The pipeline a user could assemble from public parts, scored on the same sets as
chatdesk (issue 11's yardstick): rank_bm25 and sentence-transformers' all-MiniLM-L6-v2 on
the CPU, from PyPI.

- bm25: `rank_bm25.BM25Okapi` over lowercased `\\w+` tokens of title and body.
- dense: cosine of the query to the whole article (title and body; the model reads its
  first 256 tokens).
- hybrid: 0.3 x min-max-scaled BM25 + 0.7 x cosine, over all articles.
- rrf: reciprocal-rank fusion of the two (k = 60).

It reads the sets the other scripts wrote (`target/eval/<set>/knowledge` and
`queries.jsonl`), so run those first. It needs its own Python environment:

    python3 -m venv .tools/eval-venv
    .tools/eval-venv/bin/pip install rank_bm25 sentence-transformers
    .tools/eval-venv/bin/python eval/public_pipeline.py [SET ...]

The model is the one `scripts/setup` placed in models/all-MiniLM-L6-v2 (the same weights
chatdesk uses). Query time is per query, query encoding included, after a warm-up.
"""

import json
import os
import re
import sys
import time

import numpy as np
from rank_bm25 import BM25Okapi
from sentence_transformers import SentenceTransformer

from common import METRICS, metrics

SETS = ["debian-faq", "python-faq", "man-pages"]
MODEL = "models/all-MiniLM-L6-v2"
WORD = re.compile(r"\w+")


def tokens(text):
    return WORD.findall(text.lower())


def load(folder):
    """The set's articles as (id, title + body) and its queries."""
    kb = os.path.join(folder, "knowledge")
    articles = []
    for name in sorted(os.listdir(kb)):
        text = open(os.path.join(kb, name), encoding="utf-8").read()
        _, front, body = text.split("---\n", 2)
        fields = dict(line.split(": ", 1) for line in front.splitlines() if ": " in line)
        title = json.loads(fields["title"]) if fields["title"].startswith('"') else fields["title"]
        articles.append((fields["id"], f"{title}\n{body.strip()}"))
    with open(os.path.join(folder, "queries.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    return articles, queries


def scaled(scores):
    lo, hi = scores.min(), scores.max()
    return (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)


def top(scores, ids, k=10):
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[i] for i in order]


def rrf(*rankings, k=60):
    fused = {}
    for ranking in rankings:
        for position, article in enumerate(ranking):
            fused[article] = fused.get(article, 0.0) + 1.0 / (k + position + 1)
    return sorted(fused, key=lambda a: -fused[a])[:10]


def evaluate(name, model):
    articles, queries = load(os.path.join("target", "eval", name))
    ids = [a for a, _ in articles]
    started = time.monotonic()
    bm25 = BM25Okapi([tokens(text) for _, text in articles])
    vectors = model.encode([text for _, text in articles], normalize_embeddings=True,
                           batch_size=32)
    indexed = time.monotonic() - started
    model.encode(["warm up"], normalize_embeddings=True)
    relevant = {q["id"]: q["relevant"] for q in queries}
    results = {mode: {} for mode in ("bm25", "dense", "hybrid", "rrf")}
    took = {mode: 0.0 for mode in results}
    for q in queries:
        t0 = time.monotonic()
        lexical = np.asarray(bm25.get_scores(tokens(q["query"])))
        t1 = time.monotonic()
        meaning = vectors @ model.encode([q["query"]], normalize_embeddings=True)[0]
        t2 = time.monotonic()
        results["bm25"][q["id"]] = top(lexical, ids)
        results["dense"][q["id"]] = top(meaning, ids)
        results["hybrid"][q["id"]] = top(0.3 * scaled(lexical) + 0.7 * meaning, ids)
        results["rrf"][q["id"]] = rrf(top(lexical, ids, 100), top(meaning, ids, 100))
        t3 = time.monotonic()
        took["bm25"] += t1 - t0
        took["dense"] += t2 - t1
        took["hybrid"] += t3 - t0
        took["rrf"] += t3 - t0
    print(f"\n{name}: {len(queries)} queries, {len(ids)} articles, indexed in {indexed:.0f} s")
    print("| public pipeline | " + " | ".join(METRICS) + " | ms per query |")
    print("|---|" + "---|" * (len(METRICS) + 1))
    for mode, ranked in results.items():
        m = metrics(ranked, relevant)
        ms = 1000 * took[mode] / len(queries)
        print(f"| {mode} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + f" | {ms:.1f} |",
              flush=True)


def main():
    model = SentenceTransformer(MODEL, device="cpu")
    for name in sys.argv[1:] or SETS:
        evaluate(name, model)


if __name__ == "__main__":
    main()

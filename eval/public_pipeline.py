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

`--latency KNOWLEDGE --articles N` times the public hybrid alone, for the ranking bench
(`cargo bench --bench ranking`), which runs it in the same run as chatdesk's queries: the
articles of the folder KNOWLEDGE repeated to N, the queries one per line on stdin, asked
in turn `--runs` times in all; it prints {"p50_ms", "p99_ms", "queries"} as JSON. The
repeated articles have the same text, so each distinct text is encoded once (as
chatdesk's vector cache does); BM25 indexes all N.

The model is the one `scripts/setup` placed in models/all-MiniLM-L6-v2 (the same weights
chatdesk uses). Query time is per query, query encoding included, after a warm-up.
"""

import argparse
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
    articles = load_articles(os.path.join(folder, "knowledge"))
    with open(os.path.join(folder, "queries.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    return articles, queries


def load_articles(kb):
    """The articles of the folder `kb` as (id, title + body), by file name."""
    articles = []
    for name in sorted(os.listdir(kb)):
        text = open(os.path.join(kb, name), encoding="utf-8").read()
        _, front, body = text.split("---\n", 2)
        fields = dict(line.split(": ", 1) for line in front.splitlines() if ": " in line)
        title = json.loads(fields["title"]) if fields["title"].startswith('"') else fields["title"]
        articles.append((fields["id"], f"{title}\n{body.strip()}"))
    return articles


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


def latency(kb, n, runs, model):
    """Per-query times of the public hybrid (BM25, query encoding, cosine, blend, top 3)
    over the articles of `kb` repeated to `n`; queries from stdin."""
    base = load_articles(kb)
    texts = [base[i % len(base)][1] for i in range(n)]
    distinct = sorted(set(texts))
    encoded = model.encode(distinct, normalize_embeddings=True, batch_size=32)
    row = {text: i for i, text in enumerate(distinct)}
    vectors = encoded[[row[t] for t in texts]]
    bm25 = BM25Okapi([tokens(t) for t in texts])
    ids = list(range(n))
    queries = [line.strip() for line in sys.stdin if line.strip()]
    if not queries:
        raise SystemExit("public_pipeline.py --latency: no queries on stdin")
    model.encode(["warm up"], normalize_embeddings=True)
    times = []
    for i in range(runs):
        q = queries[i % len(queries)]
        t0 = time.monotonic()
        lexical = np.asarray(bm25.get_scores(tokens(q)))
        meaning = vectors @ model.encode([q], normalize_embeddings=True)[0]
        top(0.3 * scaled(lexical) + 0.7 * meaning, ids, 3)
        times.append(time.monotonic() - t0)
    times.sort()
    at = lambda share: 1000 * times[min(int(len(times) * share), len(times) - 1)]
    print(json.dumps({"p50_ms": at(0.5), "p99_ms": at(0.99), "queries": len(times)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=SETS)
    parser.add_argument("--latency", metavar="KNOWLEDGE", help="time the hybrid only")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    model = SentenceTransformer(MODEL, device="cpu")
    if args.latency:
        latency(args.latency, args.articles, args.runs, model)
        return
    for name in args.sets:
        evaluate(name, model)


if __name__ == "__main__":
    main()

"""What every evaluation set shares: writing articles in chatdesk's format, ranking the
queries with `chatdesk rank` in each mode, and the metrics (nDCG@10, MRR@10, Recall@1,
Recall@5; every query here has exactly one relevant article)."""

import argparse
import json
import math
import os
import subprocess
import sys
import time

MODES = ("bm25", "dense", "hybrid")
METRICS = ["nDCG@10", "MRR@10", "Recall@1", "Recall@5"]


def write_set(out, articles, queries):
    """Writes `articles` ((id, title, body) triples) as `out/knowledge/*.md` and
    `queries` ({"id", "query", "relevant"}) as `out/queries.jsonl`; returns both paths."""
    kb = os.path.join(out, "knowledge")
    os.makedirs(kb, exist_ok=True)
    for f in os.listdir(kb):
        os.remove(os.path.join(kb, f))
    for article_id, title, body in articles:
        with open(os.path.join(kb, article_id + ".md"), "w", encoding="utf-8") as f:
            f.write(f"---\nid: {article_id}\ntitle: {json.dumps(title)}\n---\n{body}\n")
    path = os.path.join(out, "queries.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    return kb, path


def rank(binary, kb, queries, mode):
    """`chatdesk rank` in `mode`: {query id: ranked article ids} and seconds taken (the
    index build included; article vectors come from chatdesk's cache after a first run)."""
    started = time.monotonic()
    proc = subprocess.run(
        [binary, "rank", "--knowledge", kb, "--queries", queries, "--k", "10",
         "--mode", mode],
        check=True, stdout=subprocess.PIPE, text=True)
    took = time.monotonic() - started
    results = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        results[r["id"]] = r["ranked"]
    return results, took


def metrics(results, relevant):
    ndcg = mrr = r1 = r5 = 0.0
    for qid, rel in relevant.items():
        ranked = results.get(qid, [])
        if rel in ranked[:10]:
            position = ranked.index(rel) + 1
            ndcg += 1.0 / math.log2(position + 1)
            mrr += 1.0 / position
            r1 += position == 1
            r5 += position <= 5
    n = len(relevant)
    return {"nDCG@10": ndcg / n, "MRR@10": mrr / n, "Recall@1": r1 / n, "Recall@5": r5 / n}


def evaluate(binary, kb, queries_path, relevant, modes=MODES):
    """Ranks in each of `modes` and prints a Markdown table of the metrics."""
    print("| mode | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for mode in modes:
        results, _ = rank(binary, kb, queries_path, mode)
        m = metrics(results, relevant)
        print(f"| {mode} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |", flush=True)


def run_set(doc, label, build, out, options=()):
    """The command line every set script shares: `--bin`, `--out` and `options`
    ((flag, default, help) triples); builds the set with `build(args)`, which returns
    (knowledge folder, queries file, {query id: relevant article}), and prints the table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--bin", default="target/release/chatdesk")
    parser.add_argument("--out", default=out)
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated modes to rank in (default: all three)")
    for flag, default, text in options:
        parser.add_argument(flag, default=default, help=text)
    args = parser.parse_args()
    kb, queries, relevant = build(args)
    print(f"{label}: {len(relevant)} queries, {len(os.listdir(kb))} articles", file=sys.stderr)
    evaluate(args.bin, kb, queries, relevant, args.modes.split(","))

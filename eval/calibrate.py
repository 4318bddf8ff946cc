#!/usr/bin/env python3
"""Fits the bot's confidence and its "no good article" floor from the evaluation sets.

For every query of every set (`target/eval/<set>`, written by the set scripts), chatdesk
ranks twice in hybrid mode: as is, and with the relevant article excluded, as if the
knowledge base had no article for it. The confidence of a suggestion is a logistic model
of "this suggestion is the relevant article", fitted on the suggestions of both runs, on
two inputs (see
`knowledge::index::Calibration`): its blended score and the cosine similarity of the
query's first suggestion. The bot offers its first `--offers` suggestions when the first
one's confidence reaches the floor, and nothing otherwise; the ones after the first
only when their own confidence reaches a second, lower floor, the highest that costs
the present rate at most `--follow-cost` (one point) on average. Two rates follow:

- present: the relevant article is among the bot's offers;
- absent: with the relevant article removed, the bot offers nothing.

The floor is the one with the highest mean present rate over the sets among those that
keep the absent rate at `--absent` (0.6, issue 11's bar) or more on every set. It also
prints the ceiling: how often the relevant article is among the first `--offers` at all.

It prints the fitted values (to copy into `CALIBRATION`) and, for each set, the two rates,
how often the bot offers anything, and the ceiling.
Plain Python, no packages:

    python3 eval/calibrate.py [--bin target/release/chatdesk] [--offers 3] [--absent 0.6]
        [--follow-cost 0.01] [SET ...]
"""

import argparse
import json
import math
import os
import subprocess
import tempfile

SETS = ["debian-faq", "python-faq", "man-pages"]


def rank(binary, folder, queries, k):
    """{query id: [(article id, score, similarity)]} from `chatdesk rank`."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
        path = f.name
    try:
        out = subprocess.run(
            [binary, "rank", "--knowledge", os.path.join(folder, "knowledge"),
             "--queries", path, "--k", str(k), "--mode", "hybrid"],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    finally:
        os.remove(path)
    results = {}
    for line in out.splitlines():
        r = json.loads(line)
        results[r["id"]] = [(a, s["score"], s["similarity"])
                            for a, s in zip(r["ranked"], r["scores"])]
    return results


def features(ranked):
    """Each suggestion's (score, the first suggestion's similarity)."""
    top = ranked[0][2] if ranked else 0.0
    return [(score, top) for _, score, _ in ranked]


def fit(rows, steps=3000, rate=0.5):
    """Logistic regression by gradient descent: rows of ((x1, x2), label) -> (w1, w2, b)."""
    w1 = w2 = b = 0.0
    n = len(rows)
    for _ in range(steps):
        g1 = g2 = gb = 0.0
        for (x1, x2), y in rows:
            p = 1.0 / (1.0 + math.exp(-(w1 * x1 + w2 * x2 + b)))
            g1 += (p - y) * x1
            g2 += (p - y) * x2
            gb += p - y
        w1 -= rate * g1 / n * 4
        w2 -= rate * g2 / n * 4
        b -= rate * gb / n * 4
    return w1, w2, b


def confidence(model, x):
    w1, w2, b = model
    return 1.0 / (1.0 + math.exp(-(w1 * x[0] + w2 * x[1] + b)))


def rates(model, floor, present, absent, relevant, offers, follow=0.0):
    """(offered the relevant article, offered anything when present, offered nothing
    when absent, suggestions offered per query that offers any), as shares of the
    queries. The suggestions after the first are offered when their own confidence
    reaches `follow`."""
    hit = anything = silent = shown = 0
    for qid, rel in relevant.items():
        ranked = present[qid][:offers]
        xs = features(ranked)
        confident = bool(xs) and confidence(model, xs[0]) >= floor
        offered = [a for n, ((a, _, _), x) in enumerate(zip(ranked, xs))
                   if n == 0 or confidence(model, x) >= follow] if confident else []
        hit += rel in offered
        anything += bool(offered)
        shown += len(offered)
        gone = absent[qid][:1]
        silent += not gone or confidence(model, features(gone)[0]) < floor
    n = len(relevant)
    return hit / n, anything / n, silent / n, shown / max(anything, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="target/release/chatdesk")
    parser.add_argument("--offers", type=int, default=3, help="suggestions the bot offers")
    parser.add_argument("--absent", type=float, default=0.6,
                        help="the least share of removed-article queries answered with nothing")
    parser.add_argument("--follow-cost", type=float, default=0.01,
                        help="the share of \"offers the fix\" the follow-up floor may cost")
    parser.add_argument("sets", nargs="*", default=SETS)
    args = parser.parse_args()
    data = {}
    for name in args.sets:
        folder = os.path.join("target", "eval", name)
        with open(os.path.join(folder, "queries.jsonl"), encoding="utf-8") as f:
            queries = [json.loads(line) for line in f if line.strip()]
        relevant = {q["id"]: q["relevant"] for q in queries}
        present = rank(args.bin, folder, queries, 10)
        absent = rank(args.bin, folder,
                      [dict(q, exclude=[q["relevant"]]) for q in queries], args.offers)
        data[name] = (present, absent, relevant)
    # Positives and negatives from both runs: the removed runs teach the model what a
    # query with no fitting article looks like.
    rows = [(x, int(a == relevant.get(qid)))
            for present, absent, relevant in data.values()
            for run in (present, absent)
            for qid, ranked in run.items()
            for (a, _, _), x in zip(ranked, features(ranked))]
    model = fit(rows)
    best = None
    for step in range(1, 100):
        floor = step / 100
        per_set = [rates(model, floor, *d, args.offers) for d in data.values()]
        if min(r[2] for r in per_set) < args.absent:
            continue
        goal = sum(r[0] for r in per_set) / len(per_set)
        if best is None or goal > best[0]:
            best = (goal, floor, per_set)
    if best is None:
        raise SystemExit(f"no floor keeps the absent rate at {args.absent} on every set")
    goal, floor, per_set = best
    # The floor of the suggestions after the first: the highest that keeps the mean
    # "offers the fix" rate within `--follow-cost` of offering every one.
    follow = 0.0
    for step in range(1, 1000):
        trial = step / 1000
        if trial > floor:
            break
        rows = [rates(model, floor, *d, args.offers, trial) for d in data.values()]
        if sum(r[0] for r in rows) / len(rows) < goal - args.follow_cost:
            break
        follow, per_set = trial, rows
    w1, w2, b = model
    print(f"score_weight: {w1:.2f}, similarity_weight: {w2:.2f}, intercept: {b:.2f}, "
          f"min_confidence: {floor:.2f}, follow_up_confidence: {follow:.3f}")
    print(f"\n| set | offers the relevant article | offers anything | "
          f"offers nothing with it removed | relevant in the first {args.offers} | "
          f"suggestions per offer |")
    print("|---|---|---|---|---|---|")
    for (name, (present, _, relevant)), (hit, anything, silent, shown) in zip(
            data.items(), per_set):
        ceiling = sum(rel in [a for a, _, _ in present[q][:args.offers]]
                      for q, rel in relevant.items()) / len(relevant)
        print(f"| {name} | {hit:.3f} | {anything:.3f} | {silent:.3f} | {ceiling:.3f} | "
              f"{shown:.2f} |")


if __name__ == "__main__":
    main()

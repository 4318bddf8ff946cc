#!/usr/bin/env python3
"""Rerunnable ranking evaluation on a labelled set nobody here wrote: the Debian FAQ.

Each FAQ question becomes a query. Its answer becomes an article, with the question
removed: the title is only the chapter name and the section number. The script runs
`chatdesk rank` in the hybrid, bm25 and dense modes and prints nDCG@10, MRR@10, Recall@1
and Recall@5 for each. Every query has exactly one relevant article.

    python3 eval/debian_faq.py [--bin target/release/chatdesk] [--faq PATH] [--out DIR]

Without --faq, the script uses the installed /usr/share/doc/debian/FAQ/debian-faq.en.txt.gz
if there is one. Otherwise it runs `apt-get download debian-faq` (Debian's package) and
unpacks it.
"""

import gzip
import os
import re
import subprocess
import tempfile

from common import run_set, write_set

INSTALLED = "/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz"
SECTION = re.compile(r"^(\d+)\.(\d+)\.\s+(.*)$")
CHAPTER = re.compile(r"^Chapter\s+(\d+)\.\s+(.*)$")


def faq_text(path):
    if path is None and os.path.exists(INSTALLED):
        path = INSTALLED
    if path is None:
        work = tempfile.mkdtemp(prefix="debian-faq-")
        subprocess.run(["apt-get", "download", "debian-faq"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = next(f for f in os.listdir(work) if f.endswith(".deb"))
        subprocess.run(["dpkg-deb", "-x", deb, "x"], cwd=work, check=True)
        path = os.path.join(work, "x" + INSTALLED)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read()


def parse(text):
    """Yields (chapter number, chapter title, section number, question, answer)."""
    lines = text.splitlines()
    chapter, chapter_title = None, None
    i = 0
    sections = []
    while i < len(lines):
        line = lines[i]
        m = CHAPTER.match(line)
        if m:
            chapter, chapter_title = m.group(1), m.group(2).strip()
            i += 1
            continue
        m = SECTION.match(line)
        if m and chapter == m.group(1):
            question = [m.group(3).strip()]
            i += 1
            # A long question continues on the following lines, up to a blank line.
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("    "):
                question.append(lines[i].strip())
                i += 1
            body = []
            while i < len(lines) and not SECTION.match(lines[i]) and not CHAPTER.match(lines[i]):
                body.append(lines[i])
                i += 1
            sections.append((chapter, chapter_title, m.group(2), " ".join(question), body))
            continue
        i += 1
    return sections


def clean(body_lines, question):
    text = "\n".join(l.strip() for l in body_lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    # The answer must not give away its own question.
    return text.replace(question, "").strip()


def build(args):
    articles, queries = [], []
    for chapter, chapter_title, section, question, body in parse(faq_text(args.faq)):
        if "?" not in question:
            continue
        answer = clean(body, question)
        if len(answer.split()) < 15:
            continue
        article_id = f"faq-{chapter}-{section}"
        articles.append((article_id, f"{chapter_title} (section {chapter}.{section})", answer))
        queries.append({"id": f"q-{chapter}-{section}", "query": question,
                        "relevant": article_id})
    kb, path = write_set(args.out, articles, queries)
    return kb, path, {q["id"]: q["relevant"] for q in queries}


if __name__ == "__main__":
    run_set(__doc__, "Debian FAQ", build, "target/eval/debian-faq", options=[("--faq", None, "the FAQ text (debian-faq.en.txt.gz)")])

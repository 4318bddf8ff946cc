#!/usr/bin/env python3
"""An evaluation set nobody here wrote: the Python FAQ, from Debian's python3.11-doc.

Each FAQ question (a heading ending in "?") becomes a query. Its answer becomes an
article with the question removed; the title is only the FAQ's name and the group the
question sits in ("Programming FAQ: Core Language"), so it does not give the answer away.

    python3 eval/python_faq.py [--bin target/release/chatdesk] [--out DIR]
"""

import html
import os
import re
import subprocess
from html.parser import HTMLParser

from common import run_set, write_set

PACKAGE = "python3.11-doc"
FAQ = "usr/share/doc/python3.11/html/faq"


class Text(HTMLParser):
    """The readable text of an HTML fragment: blocks on their own lines, no markup."""

    BLOCKS = {"p", "pre", "li", "dt", "dd", "div", "tr", "br", "h1", "h2", "h3", "h4"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style") or dict(attrs).get("class") == "headerlink":
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "a") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def text_of(fragment):
    t = Text()
    t.feed(fragment)
    lines = [" ".join(l.split()) for l in "".join(t.parts).splitlines()]
    return "\n".join(l for l in lines if l).replace("¶", "")


def fetch(work):
    root = os.path.join(work, "root")
    if not os.path.isdir(root):
        os.makedirs(work, exist_ok=True)
        subprocess.run(["apt-get", "download", PACKAGE], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = next(f for f in os.listdir(work) if f.endswith(".deb"))
        subprocess.run(["dpkg-deb", "-x", os.path.join(work, deb), root], check=True)
    return os.path.join(root, FAQ)


def faq_pages(folder):
    """(FAQ name, [(group, question, answer text)]) per page."""
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".html") or name == "index.html":
            continue
        page = open(os.path.join(folder, name), encoding="utf-8").read()
        body = page.split('role="main"', 1)[-1].split('class="sphinxsidebar"', 1)[0]
        title = text_of(re.search(r"<h1>(.*?)</h1>", body, re.S).group(1))
        group, entries = "", []
        # Every heading starts a piece: one ending in "?" asks a question (h3 in most
        # pages, h2 in those without groups); another h2 names a group.
        pieces = re.split(r"(<h[23][^>]*>.*?</h[23]>)", body, flags=re.S)
        for i, piece in enumerate(pieces):
            m = re.match(r"<h([23])[^>]*>(.*?)</h[23]>", piece, re.S)
            if not m:
                continue
            heading = text_of(m.group(2))
            if heading.endswith("?") and i + 1 < len(pieces):
                entries.append((group, heading, text_of(pieces[i + 1])))
            elif m.group(1) == "2":
                group = heading
        yield title, entries


def build(args):
    articles, queries = [], []
    for faq, entries in faq_pages(fetch(os.path.join(args.out, "source"))):
        for n, (group, question, answer) in enumerate(entries, 1):
            answer = answer.replace(question, "").strip()
            if len(answer.split()) < 15:
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", faq.lower()).strip("-")
            article_id = f"{slug}-{n}"
            title = f"{faq}: {group}" if group else faq
            articles.append((article_id, html.unescape(title), answer))
            queries.append({"id": f"q-{article_id}", "query": question,
                            "relevant": article_id})
    kb, path = write_set(args.out, articles, queries)
    return kb, path, {q["id"]: q["relevant"] for q in queries}


if __name__ == "__main__":
    run_set(__doc__, "Python FAQ", build, "target/eval/python-faq")

#!/usr/bin/env python3
"""A large evaluation set nobody here wrote: Debian's manual pages.

Each page of sections 1 and 8 (commands people run) gives a query: the one-line
description from its NAME section, such as "list directory contents". Every page of the
packages below becomes an article, with its NAME section removed and its text cut to the
first CHARS characters (help articles are short; the NAME line would give the answer
away). Pages whose description is shared by another page give no query. Most articles
(the library calls of sections 2 and 3, the file formats of section 5) are distractors.

    python3 eval/man_pages.py [--bin target/release/chatdesk] [--out DIR]

The pages come from the packages' .deb files (`apt-get download`), rendered with `man`.
"""

import gzip
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from common import run_set, write_set

PACKAGES = [
    "apt", "bash", "bind9-dnsutils", "bzip2", "cifs-utils", "coreutils", "cron", "cups",
    "cups-client", "curl", "dpkg", "e2fsprogs", "fdisk", "findutils", "git", "grep",
    "grub-common", "gzip", "initramfs-tools", "iproute2", "iptables", "iputils-ping",
    "kmod", "krb5-user", "ldap-utils", "less", "libssl-doc", "login", "lvm2", "man-db",
    "manpages", "manpages-dev", "mount", "nano", "netcat-openbsd", "network-manager",
    "nfs-common", "openssh-client", "openssh-server", "parted", "passwd", "pciutils",
    "procps", "rsync", "sed", "smbclient", "sudo", "systemd", "tar", "traceroute",
    "udev", "unzip", "usbutils", "util-linux", "wget", "xz-utils", "zip",
]
CHARS = 3000
PAGE = re.compile(r"^(.+)\.(\d)[a-z]*(\.gz)?$")
HEADER = re.compile(r"^[A-Z][A-Z0-9 ,/&()-]+$")


def fetch(work):
    """Downloads and unpacks the packages; returns the English manual folder."""
    debs = os.path.join(work, "debs")
    os.makedirs(debs, exist_ok=True)
    if not any(f.endswith(".deb") for f in os.listdir(debs)):
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = os.path.join(work, "root")
    if not os.path.isdir(root):
        for deb in sorted(os.listdir(debs)):
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, deb), root], check=True)
    return os.path.join(root, "usr", "share", "man")


def pages(man):
    """(path, name, section) of every real English page: no links, no `.so` stubs."""
    for sub in sorted(os.listdir(man)):
        if not re.fullmatch(r"man\d", sub):
            continue
        for f in sorted(os.listdir(os.path.join(man, sub))):
            path = os.path.join(man, sub, f)
            m = PAGE.match(f)
            if not m or os.path.islink(path) or is_stub(path):
                continue
            yield path, m.group(1), m.group(2)


def is_stub(path):
    """A page that only points at another one (`.so man3/other.3`)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read(4) == b".so "


def render(path):
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    proc = subprocess.run(["man", "-l", "-E", "UTF-8", path], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    text = subprocess.run(["col", "-bx"], input=proc.stdout, stdout=subprocess.PIPE).stdout
    return text.decode("utf-8", "replace")


def split(text):
    """The NAME section's description, and the rest of the page without it."""
    lines = [l.rstrip() for l in text.splitlines()]
    # Drop the running header and footer lines.
    lines = [l for l in lines if not re.search(r"\(\d[a-z]*\)\s*$", l) or l.startswith(" ")]
    description, rest, in_name = [], [], False
    for line in lines:
        if HEADER.match(line):
            in_name = line.strip() == "NAME"
            if not in_name:
                rest.append(line.strip().capitalize())
            continue
        (description if in_name else rest).append(line.strip())
    name_line = " ".join(l for l in description if l)
    desc = name_line.split(" - ", 1)[1].strip() if " - " in name_line else ""
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(rest)).strip()
    return desc, body


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def build(args):
    man = fetch(os.path.join(args.out, "source"))
    found = list(pages(man))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        texts = list(pool.map(lambda p: render(p[0]), found))
    articles, described, seen = [], {}, set()
    for (path, name, section), text in zip(found, texts):
        desc, body = split(text)
        article_id = slug(f"man-{name}-{section}")
        if not body or article_id in seen:
            continue
        seen.add(article_id)
        articles.append((article_id, f"{name}({section})", body[:CHARS].strip()))
        if section in ("1", "8") and len(desc.split()) >= 3:
            described.setdefault(desc.lower(), []).append(article_id)
    queries = []
    for desc, ids in sorted(described.items()):
        if len(ids) == 1:
            queries.append({"id": f"q-{ids[0]}", "query": desc, "relevant": ids[0]})
    kb, path = write_set(args.out, articles, queries)
    return kb, path, {q["id"]: q["relevant"] for q in queries}


if __name__ == "__main__":
    run_set(__doc__, "Manual pages", build, "target/eval/man-pages")

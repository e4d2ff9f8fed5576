#!/usr/bin/env python3
"""tests/review-change.py: a change of the book, woven for review.

    tests/review-change.py --base REV [--to REV] [--out FILE] [--book FILE]
                           [--no-image] [--json FILE]
    tests/review-change.py --old OLD.nw --new NEW.nw [--out FILE] ...

`make review-change BASE=REV [TO=REV]` runs the first form: the change from
revision REV of the repository (any commit, a merge too) to revision TO,
or to the working tree when TO is not given; the second form compares two
files (the book's own tests use it on the fixtures in tests/fixtures/).
The result is one self-contained HTML page (build/review-change.html),
holding:

  * a summary: the sections changed, added, removed and moved; the chunks
    added, removed, changed, moved and renamed; the paragraphs; the roots
    whose tangled output changed (each root tangled from both texts, by
    notangle, and compared); whether the image's object code changed (the
    image built from each revision's own files in a scratch directory, and
    its .text, .rodata and .data compared byte for byte: not the whole ELF,
    whose debugging information moves with every line number); and, when
    every difference is a move, that the change only moves text;
  * the sections that changed, in the book's order (a removed block at
    the place it had), each with its heading and its changed blocks: prose
    with the words inserted and deleted marked inline, code with the lines
    inserted and deleted (the characters that changed within a line
    marked), a block that moved shown once where it now is, with a line
    where it was; unchanged blocks of a shown section folded, a click away;
  * for each changed chunk, the chunks that use it, as links.

How the two texts are compared.  Both are read with noweb's own front end,
through weave's reader of its stream (imported from the top of the
repository), into blocks in book order: headings, paragraphs of prose,
fenced blocks of the prose (diagrams among them), and chunk definitions.
The two sequences of blocks are aligned (difflib, on each block's text with
its white space collapsed, so a paragraph only rewrapped is no change).
Of the blocks left over on either side, pairs are made in this order: the
same text elsewhere (a move); a chunk of the same name (changed, and moved
if it changed place); prose or a fenced block whose words are mostly the
same, first near its old place (changed), then anywhere (moved and
changed); a chunk whose code is mostly the same under another name
(renamed).  What remains was inserted or deleted.  Within a changed pair
prose is compared word by word (on the HTML pandoc makes of each, so what
is marked is what a reader sees) and code line by line; a line of code
deleted in one place and inserted elsewhere is marked as moved.

The page also carries its facts as JSON (<script id="change-data">, or
--json FILE): the sections and chunks it shows, with their status, and the
summary's figures.  It prints how long each step took.
"""

import argparse
import concurrent.futures
import difflib
import html
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
WEB = "memd.nw"


def load_weave():
    loader = importlib.machinery.SourceFileLoader(
        "weave", os.path.join(TOP, "weave"))
    spec = importlib.util.spec_from_loader("weave", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


W = load_weave()


class Failure(Exception):
    pass


def esc(text):
    return html.escape(text, quote=True)


def run(command, **kwargs):
    return subprocess.run(command, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kwargs)


# ---------------------------------------------------------------------------
# 1. The two texts, as blocks

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(\{[^{}]*\})?\s*$")


def heading_parts(raw):
    """(level, title, attributes) of a heading line."""
    m = HEADING.match(raw)
    return len(m.group(1)), m.group(2), m.group(3) or ""


def pandoc_identifier(title):
    """The identifier pandoc gives a heading that names none (its
    auto_identifiers extension): the text without markup, only letters,
    digits, _ - and . kept, spaces as hyphens, lower case, from the first
    letter on."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    text = re.sub(r"[`*]", "", text)
    text = "".join(c for c in text if c.isalnum() or c in "_-. \n")
    text = re.sub(r"\s+", "-", text.strip()).lower()
    text = re.sub(r"^[^a-z\u00c0-\uffff]*", "", text)
    return text or "section"


class Block:
    """A heading, a paragraph, a fenced block of the prose, or a chunk
    definition, of one side of the change."""

    def __init__(self, side, kind, line):
        self.side, self.kind, self.line = side, kind, line
        self.index = None
        self.pieces = []        # prose: the lines' pieces, for weave
        self.raw = []           # prose: the lines as written
        self.d = None           # chunk: weave's Definition
        self.level = self.title = self.ident = self.number = None
        self.section = None
        self.region = None      # the alignment's region it fell in
        self.partner = None     # the block on the other side it is paired with
        self.status = None

    @property
    def key(self):
        if self.kind == "chunk":
            return "C" + self.d.name + "\n" + "\n".join(self.code_lines())
        if self.kind == "fence":
            return "F" + "\n".join(self.raw)
        if self.kind == "heading":
            return f"H{self.level} " + " ".join(self.raw[0].split())
        return "P" + " ".join(" ".join(self.raw).split())

    def words(self):
        if self.kind in ("chunk", "fence"):
            return [l.strip() for l in (self.code_lines() if self.kind == "chunk"
                                        else self.raw)]
        return " ".join(self.raw).split()

    def code_lines(self):
        """A chunk's lines as text, a use of a chunk written <<name>>."""
        lines = ["".join(f"<<{t}>>" if k == "use" else t for k, t in pieces)
                 for pieces in self.d.lines]
        while lines and not lines[-1].strip():
            lines.pop()
        return lines

    def noun(self):
        return {"heading": "heading", "para": "paragraph",
                "fence": "block of the prose", "chunk": "chunk"}[self.kind]


def read_web(path, side):
    """The blocks of a web, in order, and weave's cross-references."""
    parts = W.parse_pipeline(W.noweb_pipeline(path))
    definitions = [c for k, c in parts if k == "code"]
    xref = W.CrossReference(definitions)
    blocks = []
    for kind, content in parts:
        if kind == "code":
            b = Block(side, "chunk", content.first_line)
            b.d = content
            blocks.append(b)
            continue
        current, fence = None, None
        for pieces, number in zip(content, content.numbers):
            raw = "".join(t if k == "text" else f"[[{t}]]" for k, t in pieces)
            if fence is not None:
                current.pieces.append(pieces)
                current.raw.append(raw)
                closing = re.match(r" {0,3}(`{3,}|~{3,})\s*$", raw)
                if closing and closing.group(1).startswith(fence):
                    fence, current = None, None
                continue
            opening = W.opening_fence(raw)
            if opening:
                current = Block(side, "fence", number)
                current.pieces, current.raw = [pieces], [raw]
                blocks.append(current)
                fence = opening.group(1)
                continue
            if HEADING.match(raw):
                b = Block(side, "heading", number)
                b.pieces, b.raw = [pieces], [raw]
                b.level, b.title, attrs = heading_parts(raw)
                explicit = re.search(r"#([\w:.-]+)", attrs)
                b.ident = explicit.group(1) if explicit else None
                b.unnumbered = bool(re.search(r"\.unnumbered|\.part|(^|\s|\{)-(\s|\})",
                                              attrs))
                blocks.append(b)
                current = None
                continue
            if not raw.strip():
                current = None
                continue
            if current is None:
                current = Block(side, "para", number)
                blocks.append(current)
            current.pieces.append(pieces)
            current.raw.append(raw)
    # Headings: pandoc's numbers (the unnumbered ones left out) and
    # identifiers (a second one alike gets -1, -2, ...).
    counters, seen = [0] * 7, defaultdict(int)
    for b in blocks:
        if b.kind != "heading":
            continue
        if not b.unnumbered:
            counters[b.level] += 1
            for k in range(b.level + 1, 7):
                counters[k] = 0
            b.number = ".".join(str(counters[k]) for k in range(1, b.level + 1)
                                if k >= 1)
            b.number = re.sub(r"^(0\.)+", "", b.number)
        if b.ident is None:
            base = pandoc_identifier(b.title)
            b.ident = base if not seen[base] else f"{base}-{seen[base]}"
            seen[base] += 1
        else:
            seen[b.ident] += 1
    heading = None
    for i, b in enumerate(blocks):
        b.index = i
        b.section = heading         # the heading it comes under, if any
        if b.kind == "heading":
            heading = b
    return blocks, xref


# ---------------------------------------------------------------------------
# 2. Alignment and pairing

def similarity(a, b):
    return difflib.SequenceMatcher(None, a.words(), b.words(),
                                   autojunk=False).ratio()


def shingles(block):
    words = block.words()
    if block.kind in ("chunk", "fence"):
        return {w for w in words if len(w) > 8}
    return {" ".join(words[i:i + 4]) for i in range(max(1, len(words) - 3))}


def pair(a, b, status):
    a.partner, b.partner = b, a
    a.status = b.status = status


def heaviest_increasing(pairs, weight):
    """Of pairs (i, j) sorted by i, the subsequence increasing in j whose
    weights add up to the most (a Fenwick tree of best sums by j)."""
    if not pairs:
        return []
    js = sorted({j for _, j in pairs})
    rank = {j: k + 1 for k, j in enumerate(js)}
    size = len(js)
    tree = [(0, -1)] * (size + 1)       # (best sum, index of its last pair)
    back = [-1] * len(pairs)
    best = (0, -1)
    for n, (i, j) in enumerate(pairs):
        k, prior = rank[j] - 1, (0, -1)
        while k > 0:                     # the best chain ending below j
            if tree[k][0] > prior[0]:
                prior = tree[k]
            k -= k & -k
        total = (prior[0] + weight(i), n)
        back[n] = prior[1]
        k = rank[j]
        while k <= size:
            if total[0] > tree[k][0]:
                tree[k] = total
            k += k & -k
        if total[0] > best[0]:
            best = total
    chain, n = [], best[1]
    while n >= 0:
        chain.append(pairs[n])
        n = back[n]
    return chain[::-1]


def opcodes_of(a, b):
    """Opcodes (as difflib's) that keep in place as much of the text as can
    be: blocks found once in each are anchors, and of those the heaviest
    chain in the same order on both sides (weighed by the length of their
    text) stays; what lies between is aligned the same way, and by difflib
    where nothing is unique.  So when a chapter moves, the chapter is what
    moves, and not everything around it."""
    matches, stack = [], [(0, len(a), 0, len(b))]
    while stack:
        a0, a1, b0, b1 = stack.pop()
        if a0 >= a1 or b0 >= b1:
            continue
        count_a, count_b = defaultdict(int), defaultdict(int)
        for x in a[a0:a1]:
            count_a[x] += 1
        for y in b[b0:b1]:
            count_b[y] += 1
        at_b = {b[j]: j for j in range(b0, b1) if count_b[b[j]] == 1}
        pairs = [(i, at_b[a[i]]) for i in range(a0, a1)
                 if count_a[a[i]] == 1 and a[i] in at_b]
        chain = heaviest_increasing(pairs, lambda i: len(a[i]) + 40)
        if not chain:
            m = difflib.SequenceMatcher(None, a[a0:a1], b[b0:b1], autojunk=False)
            for i, j, n in m.get_matching_blocks():
                matches += [(a0 + i + k, b0 + j + k) for k in range(n)]
            continue
        matches += chain
        edges = [(a0 - 1, b0 - 1)] + chain + [(a1, b1)]
        for (i0, j0), (i1, j1) in zip(edges, edges[1:]):
            stack.append((i0 + 1, i1, j0 + 1, j1))
    matches.sort()
    opcodes, i, j = [], 0, 0
    for mi, mj in matches + [(len(a), len(b))]:
        if mi > i or mj > j:
            tag = "replace" if mi > i and mj > j else \
                "delete" if mi > i else "insert"
            opcodes.append((tag, i, mi, j, mj))
        if mi < len(a) and mj < len(b):
            if opcodes and opcodes[-1][0] == "equal" and opcodes[-1][2] == mi \
                    and opcodes[-1][4] == mj:
                t, i1, _, j1, _ = opcodes[-1]
                opcodes[-1] = ("equal", i1, mi + 1, j1, mj + 1)
            else:
                opcodes.append(("equal", mi, mi + 1, mj, mj + 1))
        i, j = mi + 1, mj + 1
    return opcodes


def align(old, new):
    """Give every block a status: equal, changed, moved, moved-changed,
    renamed, inserted or deleted; return the alignment's opcodes."""
    opcodes = opcodes_of([b.key for b in old], [b.key for b in new])
    loose_old, loose_new = [], []
    for region, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        for b in old[i1:i2]:
            b.region = region
        for b in new[j1:j2]:
            b.region = region
        if tag == "equal":
            for a, b in zip(old[i1:i2], new[j1:j2]):
                pair(a, b, "equal")
        else:
            loose_old += old[i1:i2]
            loose_new += new[j1:j2]

    def free(blocks):
        return [b for b in blocks if b.partner is None]

    # The same text elsewhere: a move.
    by_key = defaultdict(list)
    for b in loose_new:
        by_key[b.key].append(b)
    for a in loose_old:
        if by_key.get(a.key):
            pair(a, by_key[a.key].pop(0), "moved")
    # A chunk of the same name: changed (and moved, if it changed place).
    by_name = defaultdict(list)
    for b in free(loose_new):
        if b.kind == "chunk":
            by_name[b.d.name].append(b)
    for a in free(loose_old):
        if a.kind == "chunk" and by_name.get(a.d.name):
            b = by_name[a.d.name].pop(0)
            pair(a, b, "changed" if a.region == b.region else "moved-changed")
    # Prose and fenced blocks mostly the same: near the old place, then
    # anywhere.  Candidates are found by what they share (runs of four
    # words, long lines), then compared.
    index = defaultdict(set)
    for b in free(loose_new):
        for s in shingles(b):
            index[(b.kind, s)].add(b.index)
    new_at = {b.index: b for b in new}
    for near, threshold, status in ((True, 0.5, "changed"),
                                    (False, 0.72, "moved-changed")):
        for a in free(loose_old):
            if a.kind == "chunk":
                continue
            if near:
                options = [b for b in free(new_region(new, a.region, opcodes))
                           if b.kind == a.kind]
            else:
                counts = defaultdict(int)
                for s in shingles(a):
                    for i in index.get((a.kind, s), ()):
                        counts[i] += 1
                options = [new_at[i] for i, _ in sorted(
                    counts.items(), key=lambda kv: -kv[1])[:4]]
                options = [b for b in options if b.partner is None]
            best, score = None, threshold
            for b in options:
                r = similarity(a, b)
                if r >= score:
                    best, score = b, r
            if best is not None:
                pair(a, best, status if (a.kind != "heading" or near)
                     else "moved-changed")
    # A chunk under another name, its code mostly the same: renamed.
    for a in free(loose_old):
        if a.kind != "chunk":
            continue
        best, score = None, 0.75
        for b in free(loose_new):
            if b.kind == "chunk":
                r = similarity(a, b)
                if r >= score:
                    best, score = b, r
        if best is not None:
            pair(a, best, "renamed")
    for b in free(loose_old):
        b.status = "deleted"
    for b in free(loose_new):
        b.status = "inserted"
    return opcodes


def new_region(new, region, opcodes):
    tag, i1, i2, j1, j2 = opcodes[region]
    return new[j1:j2]


# ---------------------------------------------------------------------------
# 3. The book's order, in sections

class Item:
    """One entry of the view: a new block (with its old partner), or an
    old block where it was (deleted, or a stub where a move started)."""

    def __init__(self, block, away=False):
        self.block = block
        self.away = away          # the old place of a block moved elsewhere
        self.group = None

    @property
    def status(self):
        return "moved-away" if self.away else self.block.status

    @property
    def changed(self):
        return self.status != "equal"


class Group:
    """A section of the view: a heading item and the items up to the next."""

    def __init__(self, heading):
        self.heading = heading    # an Item, or None before the first heading
        self.items = []
        self.anchor = None

    @property
    def status(self):
        if self.heading is None:
            return "changed"
        s = self.heading.status
        if s == "inserted":
            return "added"
        if s == "deleted":
            return "removed"
        if s in ("moved", "moved-changed"):
            return "moved"
        if s in ("changed", "renamed"):
            return "renamed"
        if all(i.status in ("equal", "moved", "moved-away") for i in self.items):
            return "moves"              # blocks moved in or out, nothing else
        return "changed"

    def number(self):
        if self.heading is None:
            return ""
        b = self.heading.block
        return b.number or ""

    def title(self):
        if self.heading is None:
            return "Before the first heading"
        return self.heading.block.title

    def label(self):
        """How a link names the section: its number (the old one, for a
        section the change removed) and its title."""
        number = self.number()
        old = self.heading is not None and self.heading.block.side == "old"
        return ((f"old §{number} " if old else f"§{number} ") if number
                else "") + self.title()


def book_order(old, new, opcodes):
    """Items in the order of the new book, an old block that left at the
    place it had."""
    items = []
    for region, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            items += [Item(b) for b in new[j1:j2]]
            continue
        pending = list(old[i1:i2])

        def flush(before=None):
            while pending and (before is None or pending[0].index < before):
                a = pending.pop(0)
                if a.status == "deleted":
                    items.append(Item(a))
                elif a.partner is not None and a.partner.region != region:
                    items.append(Item(a, away=True))
                elif a.status == "moved":   # moved within the region
                    items.append(Item(a, away=True))

        for b in new[j1:j2]:
            a = b.partner
            if a is not None and a.region == region and b.status != "moved":
                flush(a.index)
                if a in pending:
                    pending.remove(a)
            items.append(Item(b))
        flush()
    return items


def sections(items):
    groups = [Group(None)]
    for item in items:
        if item.block.kind == "heading" and not item.away:
            groups.append(Group(item))
        item.group = groups[-1]
        groups[-1].items.append(item)
    for k, g in enumerate(groups):
        g.anchor = f"rc-section-{k}"
    return [g for g in groups if g.items]


# ---------------------------------------------------------------------------
# 4. Prose, rendered by pandoc, and compared word by word

SEPARATOR = "RCBLOCKSEPARATOR"


def render_prose(blocks, xref):
    """HTML of prose blocks (paragraphs, and headings' titles), in one run of
    pandoc: {block: html}."""
    if not blocks:
        return {}
    chunks = []
    for k, b in enumerate(blocks):
        writer = W.MarkdownWriter(xref)
        if b.kind == "heading":
            level, title, _ = heading_parts(b.raw[0])
            pieces = [("text", title)]
            writer.docs([pieces])
        else:
            writer.docs(b.pieces)
        chunks.append("".join(writer.out).strip() + f"\n\n{SEPARATOR}{k}\n\n")
    result = subprocess.run(["pandoc", "--from=markdown", "--to=html5",
                             "--wrap=none"], input="".join(chunks).encode(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise Failure("pandoc failed: " + result.stderr.decode()[:300])
    text = result.stdout.decode("utf-8")
    out, rest = {}, text
    for k, b in enumerate(blocks):
        mark = f"<p>{SEPARATOR}{k}</p>"
        at = rest.find(mark)
        piece, rest = (rest[:at], rest[at + len(mark):]) if at >= 0 else (rest, "")
        piece = piece.strip()
        if b.kind == "heading":
            piece = re.sub(r"^<p>(.*)</p>$", r"\1", piece, flags=re.S)
        out[b] = piece
    return out


TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|\w+|\s+|[^\w\s<&]")


def html_diff(old, new):
    """new's HTML with the words deleted from old and inserted into new
    marked inline (<del>, <ins>); tags come from new only."""
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ops = matcher.get_opcodes()
    # A short run of equal words between two changes reads better as part
    # of the change.
    merged = []
    for op in ops:
        tag, i1, i2, j1, j2 = op
        words = [t for t in a[i1:i2] if re.match(r"\w", t)]
        if (tag == "equal" and merged and merged[-1][0] != "equal"
                and len(words) <= 1 and i2 - i1 <= 3
                and not any(t.startswith("<") for t in a[i1:i2])):
            tag = "replace"
        if merged and tag != "equal" and merged[-1][0] != "equal":
            t0, a1, _, b1, _ = merged[-1]
            merged[-1] = ("replace", a1, i2, b1, j2)
        else:
            merged.append((tag, i1, i2, j1, j2))
    out = []
    for tag, i1, i2, j1, j2 in merged:
        if tag == "equal":
            out += b[j1:j2]
            continue
        gone = "".join(t for t in a[i1:i2] if not t.startswith("<"))
        if gone.strip():
            out.append(f"<del>{gone}</del>")
        run_ = []
        for t in b[j1:j2]:
            if t.startswith("<"):
                if "".join(run_).strip():
                    out.append("<ins>" + "".join(run_) + "</ins>")
                else:
                    out += run_
                run_ = []
                out.append(t)
            else:
                run_.append(t)
        if "".join(run_).strip():
            out.append("<ins>" + "".join(run_) + "</ins>")
        else:
            out += run_
    return "".join(out)


# ---------------------------------------------------------------------------
# 5. Code, compared line by line

def moved_lines(items):
    """The texts of code lines deleted in one place and inserted in another,
    over the whole change: {text: count} of moves."""
    gone, came = defaultdict(int), defaultdict(int)

    def significant(t):
        t = t.strip()
        return len(t) >= 12 and re.search(r"\w{3}", t)

    for item in items:
        b = item.block
        if item.away or b.kind not in ("chunk", "fence"):
            continue
        old = (b.partner.code_lines() if b.kind == "chunk" else b.partner.raw) \
            if b.partner is not None and b.status != "equal" else []
        new = b.code_lines() if b.kind == "chunk" else b.raw
        if b.status == "deleted":
            old, new = new, []
        elif b.status == "inserted":
            old = []
        elif b.status in ("equal", "moved"):
            continue
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                None, old, new, autojunk=False).get_opcodes():
            if tag in ("delete", "replace"):
                for t in old[i1:i2]:
                    if significant(t):
                        gone[t.strip()] += 1
            if tag in ("insert", "replace"):
                for t in new[j1:j2]:
                    if significant(t):
                        came[t.strip()] += 1
    return {t: min(n, came[t]) for t, n in gone.items() if came.get(t)}


def intraline(old, new):
    """Marks for the characters that differ between two lines: two lists of
    booleans."""
    a, b = [False] * len(old), [False] * len(new)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, old, new, autojunk=False).get_opcodes():
        if tag != "equal":
            a[i1:i2] = [True] * (i2 - i1)
            b[j1:j2] = [True] * (j2 - j1)
    return a, b


class CodeRenderer:
    """Lines of code as HTML, styled as weave styles them, a chunk use as
    its name (a link when its chunk is in the page or the book)."""

    def __init__(self, view):
        self.view = view

    def line(self, text, language, marks=None):
        style = (W.CODE_LEXERS[language]([text])[0]
                 if language in W.CODE_LEXERS else [None] * len(text))
        out, i = [], 0
        for m in re.finditer(r"<<(.+?)>>", text):
            out.append(self.run(text[i:m.start()], style[i:m.start()],
                                marks[i:m.start()] if marks else None))
            out.append(self.view.use_html(m.group(1)))
            i = m.end()
        out.append(self.run(text[i:], style[i:], marks[i:] if marks else None))
        return "".join(out)

    @staticmethod
    def run(text, style, marks):
        out, i = [], 0
        while i < len(text):
            j = i + 1
            while (j < len(text) and style[j] == style[i]
                   and (marks is None or marks[j] == marks[i])):
                j += 1
            piece = esc(text[i:j])
            if style[i]:
                piece = f'<span class="{style[i]}">{piece}</span>'
            if marks and marks[i]:
                piece = f"<mark>{piece}</mark>"
            out.append(piece)
            i = j
        return "".join(out)


# ---------------------------------------------------------------------------
# 6. The page

class View:
    def __init__(self, old, new, old_xref, new_xref, book, moves):
        self.old, self.new = old, new
        self.old_xref, self.new_xref = old_xref, new_xref
        self.book = book            # the book's path relative to the page
        self.moves = dict(moves)    # code lines moved: text -> how many left
        self.shown = set()          # ids of the chunks the page shows
        self.moves_in = set(self.moves)
        self.code = CodeRenderer(self)
        self.prose = {}
        self.item_of = {}           # id of a block -> its item, where it is
        self.old_block_of = {id(b.d): b for b in old if b.kind == "chunk"}

    def chunk_id(self, block):
        return ("rc-old-" if block.side == "old" else "rc-") + block.d.anchor

    def book_link(self, anchor):
        return f"{self.book}#{anchor}" if self.book else None

    def use_html(self, name):
        defs = self.new_xref.defs_of.get(name) or self.old_xref.defs_of.get(name)
        label = W.html_chunk_name(name)
        if not defs:
            return f'<span class="chunk-use">⟨{label}⟩</span>'
        d = defs[0]
        target = self.link_to_chunk(d, "new" if name in self.new_xref.defs_of
                                    else "old")
        inner = f'⟨{label}<span class="label">{d.label}</span>⟩'
        return (f'<a class="chunk-use" href="{target}">{inner}</a>' if target
                else f'<span class="chunk-use">{inner}</span>')

    def link_to_chunk(self, d, side):
        """A link to a chunk: to it in this page if the page shows it (for an
        old chunk, the new one of the same name will do), else into the
        book, which is of the new text."""
        rc = ("rc-old-" if side == "old" else "rc-") + d.anchor
        if rc in self.shown:
            return "#" + rc
        if side == "old":
            block = self.old_block_of.get(id(d))
            if block is not None and block.partner is not None:
                return self.link_to_chunk(block.partner.d, "new")
            defs = self.new_xref.defs_of.get(d.name)
            return self.link_to_chunk(defs[0], "new") if defs else None
        return self.book_link(d.anchor)

    def fix_links(self, fragment):
        """Links of rendered prose lead into the book, or nowhere."""
        def repl(m):
            target = m.group(1)
            if self.book:
                return f'href="{esc(self.book)}#{target}"'
            return 'data-href="#' + target + '"'
        return re.sub(r'href="#([^"]*)"', repl, fragment)

    # -- blocks -------------------------------------------------------------

    def prose_html(self, b):
        return self.fix_links(self.prose.get(b, esc(" ".join(b.raw))))

    def code_diff(self, old_lines, new_lines, old_first, new_first, language,
                  status):
        """Rows of a code block: each (class, old line number, new line
        number, html)."""
        rows = []
        ops = difflib.SequenceMatcher(None, old_lines, new_lines,
                                      autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in ops:
            if tag == "equal":
                for k in range(i2 - i1):
                    rows.append(("eq", old_first + i1 + k, new_first + j1 + k,
                                 self.code.line(new_lines[j1 + k], language)))
                continue
            olds, news = old_lines[i1:i2], new_lines[j1:j2]
            pairs = len(olds) == len(news) and tag == "replace"
            for k, t in enumerate(olds):
                marks = intraline(t, news[k])[0] if pairs else None
                cls = "del"
                if self.moves.get(t.strip()):
                    self.moves[t.strip()] -= 1
                    cls, marks = "mv-out", None
                rows.append((cls, old_first + i1 + k, None,
                             self.code.line(t, language, marks)))
            for k, t in enumerate(news):
                marks = intraline(olds[k], t)[1] if pairs else None
                cls = "ins"
                if t.strip() in self.moves_in:
                    cls, marks = "mv-in", None
                rows.append((cls, None, new_first + j1 + k,
                             self.code.line(t, language, marks)))
        return rows

    def code_table(self, rows):
        signs = {"eq": " ", "del": "−", "ins": "+", "mv-out": "↦", "mv-in": "↤"}
        titles = {"mv-out": ' title="this line moved: it is inserted elsewhere '
                            'in this change"',
                  "mv-in": ' title="this line moved here: it is deleted '
                           'elsewhere in this change"'}
        out = ['<table class="rc-code"><tbody>']
        for cls, a, b, text in rows:
            out.append(f'<tr class="rc-{cls}"{titles.get(cls, "")}>'
                       f'<td class="rc-ln">{a or ""}</td>'
                       f'<td class="rc-ln">{b or ""}</td>'
                       f'<td class="rc-sign">{signs[cls]}</td>'
                       f'<td class="rc-text"><code>{text or " "}</code></td></tr>')
        out.append("</tbody></table>")
        return "".join(out)

    def chunk_html(self, item):
        b = item.block
        side_xref = self.old_xref if b.side == "old" else self.new_xref
        d = b.d
        old = b.partner if b.partner is not None and b.side == "new" else None
        language = side_xref.language.get(d.name)
        sign = "≡" if d.number == 1 else "+≡"
        name_html = f"⟨{W.html_chunk_name(d.name)}⟩"
        if b.status == "renamed" and old is not None:
            name_html = (f'⟨<del>{W.html_chunk_name(old.d.name)}</del> '
                         f'<ins>{W.html_chunk_name(d.name)}</ins>⟩')
        was = (f' <span class="rc-was">was [{old.d.label}]</span>'
               if old is not None and old.d.label != d.label else "")
        users = side_xref.users_of.get(d.name, [])
        notes = []
        if users:
            links = []
            for u in users:
                target = self.link_to_chunk(u, b.side)
                text = f"⟨{W.html_chunk_name(u.name)}⟩ {u.label}"
                links.append(f'<a href="{target}">{text}</a>' if target
                             else f"<span>{text}</span>")
            notes.append("used in " + ", ".join(links))
        roots = sorted(side_xref.roots_reached(d.name))
        if roots:
            notes.append("ends up in " + ", ".join(
                f"<code>{esc(r)}</code>" for r in roots))
        head = (f'<div class="chunk-head"><span class="chunk-name">{name_html}'
                f'</span> <span class="chunk-label">[{d.label}]</span> '
                f'<span class="chunk-sign">{sign}</span>{was}'
                f' {self.badge(item)}'
                f'<span class="chunk-xref">{"; ".join(notes)}</span></div>')
        if b.status == "inserted":
            rows = self.code_diff([], b.code_lines(), 0, d.first_line + 1,
                                  language, "inserted")
        elif b.status == "deleted":
            rows = [("del", b.d.first_line + 1 + k, None,
                     self.code.line(t, language))
                    for k, t in enumerate(b.code_lines())]
            for k, (cls, x, y, text) in enumerate(rows):
                t = b.code_lines()[k].strip()
                if self.moves.get(t):
                    self.moves[t] -= 1
                    rows[k] = ("mv-out", x, y, text)
        elif old is not None and b.status != "equal":
            rows = self.code_diff(old.code_lines(), b.code_lines(),
                                  old.d.first_line + 1, d.first_line + 1,
                                  language, b.status)
        else:
            rows = [("eq", None, d.first_line + 1 + k,
                     self.code.line(t, language))
                    for k, t in enumerate(b.code_lines())]
        return (f'<div class="chunk rc-chunk" id="{self.chunk_id(b)}" '
                f'data-name="{esc(d.name)}" data-status="{esc(item.status)}">'
                + head + self.code_table(rows) + "</div>")

    def fence_html(self, item):
        b = item.block
        old = b.partner if b.partner is not None and b.side == "new" else None
        first = b.line
        if b.status == "deleted":
            rows = [("del", first + k, None, esc(t)) for k, t in enumerate(b.raw)]
        elif old is not None and b.status not in ("equal", "moved"):
            rows = self.code_diff(old.raw, b.raw, old.line, first, None, b.status)
        else:
            cls = "ins" if b.status == "inserted" else "eq"
            rows = [(cls, None, first + k, esc(t)) for k, t in enumerate(b.raw)]
        return (f'<div class="rc-fence" data-status="{esc(item.status)}">'
                f'{self.badge(item)}{self.code_table(rows)}</div>')

    def para_html(self, item):
        b = item.block
        if b.status == "deleted":
            return (f'<div class="rc-prose rc-deleted" data-status="deleted">'
                    f'{self.badge(item)}{self.prose_html(b)}</div>')
        if b.status in ("changed", "moved-changed") and b.partner is not None:
            diff = html_diff(self.prose_html(b.partner), self.prose_html(b))
            return (f'<div class="rc-prose rc-changed" data-status="{item.status}">'
                    f'{self.badge(item)}{diff}</div>')
        cls = {"inserted": "rc-inserted"}.get(b.status, "rc-equal")
        return (f'<div class="rc-prose {cls}" data-status="{esc(item.status)}">'
                f'{self.badge(item)}{self.prose_html(b)}</div>')

    def where(self, block):
        """Where the partner of a moved block is: for a block of the new
        text, its section there; for one of the old text, its section in
        the old book ("old §N Title"), linked to the place the view shows
        where it was."""
        partner = block.partner
        item = self.item_of.get(id(partner)) if partner is not None else None
        if item is None or item.group is None:
            return ""
        if partner.side == "new":
            label = item.group.label()
        else:
            head = partner if partner.kind == "heading" else partner.section
            label = "the old book's beginning" if head is None else \
                ("old §" + head.number + " " if head.number else "old ") + head.title
        return f'<a href="#{item.group.anchor}">{esc(label)}</a>'

    def badge(self, item):
        s = item.status
        if s == "equal":
            return ""
        where = ""
        if s in ("moved", "moved-changed", "moved-away"):
            to = self.where(item.block)
            if to:
                where = f' {"to" if item.away else "from"} {to}'
        text = {"inserted": "added", "deleted": "removed", "changed": "changed",
                "moved": "moved", "moved-changed": "moved and changed",
                "renamed": "renamed", "moved-away": "moved"}[s]
        return f'<span class="rc-badge rc-b-{s}">{text}{where}</span> '

    def item_html(self, item):
        b = item.block
        if item.away:
            return None             # gathered by runs, see group_html
        if b.kind == "chunk":
            return self.chunk_html(item)
        if b.kind == "fence":
            return self.fence_html(item)
        if b.kind == "heading":
            return None             # the group's own title
        return self.para_html(item)

    def group_html(self, g):
        out = []
        h = g.heading
        title = ""
        if h is not None:
            b = h.block
            if b.status in ("changed", "renamed", "moved-changed") and b.partner:
                title = html_diff(self.prose_html(b.partner), self.prose_html(b))
            else:
                title = self.prose_html(b)
            number = b.number or ""
            if b.side == "old":
                number = f"was {number}" if number else ""
        else:
            title, number = "Before the first heading", ""
        level = h.block.level if h is not None else 1
        badge = self.badge(h) if h is not None else ""
        link = ""
        if h is not None and h.block.side == "new" and self.book:
            link = (f' <a class="rc-book" href="{esc(self.book)}#'
                    f'{esc(h.block.ident)}">in the book</a>')
        out.append(f'<section class="rc-section rc-level-{level}" id="{g.anchor}" '
                   f'data-title="{esc(g.title())}" data-number="{esc(g.number())}"'
                   f' data-status="{g.status}">')
        out.append(f'<h2><span class="rc-number">{esc(number)}</span> {title}'
                   f' {badge}{link}</h2>')
        body_items = [i for i in g.items if i is not h]
        k = 0
        while k < len(body_items):
            item = body_items[k]
            if not item.changed:
                run_ = []
                while k < len(body_items) and not body_items[k].changed:
                    run_.append(body_items[k])
                    k += 1
                out.append(self.folded(run_, "unchanged"))
                continue
            if item.away or item.status == "moved":
                run_ = []
                away = item.away
                while (k < len(body_items) and body_items[k].away == away
                       and (away or body_items[k].status == "moved")):
                    run_.append(body_items[k])
                    k += 1
                out.append(self.moved_run(run_, away))
                continue
            out.append(self.item_html(item) or "")
            k += 1
        out.append("</section>")
        return "\n".join(out)

    @staticmethod
    def count_words(items):
        counts = defaultdict(int)
        for i in items:
            counts[i.block.kind] += 1
        names = {"heading": ("heading", "headings"),
                 "para": ("paragraph", "paragraphs"),
                 "fence": ("block of the prose", "blocks of the prose"),
                 "chunk": ("chunk", "chunks")}
        return ", ".join(f"{n} {names[k][0] if n == 1 else names[k][1]}"
                         for k, n in counts.items())

    def folded(self, items, what):
        inner = "".join(self.plain_html(i) for i in items)
        return (f'<details class="rc-fold"><summary>{self.count_words(items)}'
                f' {what}</summary>{inner}</details>')

    def plain_html(self, item):
        b = item.block
        if b.kind == "chunk":
            return self.chunk_html(item)
        if b.kind == "fence":
            return self.fence_html(item)
        if b.kind == "heading":
            return f'<p class="rc-subheading">{self.prose_html(b)}</p>'
        return f'<div class="rc-prose rc-equal">{self.prose_html(b)}</div>'

    def moved_run(self, items, away):
        where = self.where(items[0].block)
        if away:
            return (f'<p class="rc-moved-away" data-status="moved-away">↦ '
                    f'{self.count_words(items)} moved from here to {where}.</p>')
        inner = "".join(self.plain_html(i) for i in items)
        return (f'<details class="rc-fold rc-moved-in" data-status="moved">'
                f'<summary>↤ {self.count_words(items)} moved here from '
                f'{where}, unchanged</summary>{inner}</details>')


# ---------------------------------------------------------------------------
# 7. Tangled roots and the image, of each side

def git(*args):
    result = run(["git", *args], cwd=TOP)
    if result.returncode != 0:
        raise Failure(f"git {' '.join(args)}: "
                      + result.stderr.decode(errors="replace").strip())
    return result.stdout


def describe(rev):
    if rev is None:
        return "the working tree"
    line = git("log", "-1", "--format=%h %s", rev).decode().strip()
    return line


def tangle_roots(path, xref):
    out = {}
    for root in xref.roots:
        result = run(["notangle", f"-R{root}", path])
        out[root] = result.stdout.decode("utf-8", "replace")
    return out


def compare_roots(old_path, new_path, old_xref, new_xref):
    a, b = tangle_roots(old_path, old_xref), tangle_roots(new_path, new_xref)
    rows = []
    for root in sorted(set(a) | set(b)):
        if root not in a:
            rows.append((root, "added", 0, b[root].count("\n")))
        elif root not in b:
            rows.append((root, "removed", a[root].count("\n"), 0))
        elif a[root] != b[root]:
            plus = minus = 0
            for line in difflib.unified_diff(a[root].split("\n"),
                                             b[root].split("\n"), n=0):
                if line.startswith("+") and not line.startswith("+++"):
                    plus += 1
                elif line.startswith("-") and not line.startswith("---"):
                    minus += 1
            rows.append((root, "changed", minus, plus))
        else:
            rows.append((root, "same", 0, 0))
    return rows


SECTIONS = (".text", ".rodata", ".data")


def build_image(rev, scratch, name):
    """Build the image of a revision (None: the working tree) in a scratch
    directory; return {section: bytes} or an error message."""
    where = os.path.join(scratch, name)
    log = os.path.join(scratch, name + ".log")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "CC")}
    if rev is None:
        command = ["make", "--no-print-directory", f"BUILD={where}", f"{where}/memd"]
        cwd, image = TOP, f"{where}/memd"
    else:
        os.makedirs(where)
        archive = run(["git", "archive", rev], cwd=TOP)
        if archive.returncode != 0:
            return f"git archive {rev} failed"
        subprocess.run(["tar", "-x", "-C", where], input=archive.stdout,
                       check=True)
        command = ["make", "--no-print-directory", "build/memd"]
        cwd, image = where, os.path.join(where, "build", "memd")
    with open(log, "wb") as f:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=f,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0 or not os.path.exists(image):
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = f.read().strip().split("\n")[-1:]
        return f"the build failed: {' '.join(tail)}"
    out = {}
    for section in SECTIONS:
        target = os.path.join(scratch, f"{name}{section}.bin")
        r = run(["objcopy", "-O", "binary", f"--only-section={section}",
                 image, target])
        if r.returncode == 0 and os.path.exists(target):
            with open(target, "rb") as f:
                out[section] = f.read()
    return out


def compare_images(base, to, scratch):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(lambda rn: build_image(rn[0], scratch, rn[1]),
                        ((base, "base"), (to, "to")))
    if isinstance(a, str) or isinstance(b, str):
        return {"compared": False,
                "why": ("the base: " + a if isinstance(a, str) else "")
                + ("; " if isinstance(a, str) and isinstance(b, str) else "")
                + ("the new side: " + b if isinstance(b, str) else "")}
    sections = {}
    for s in SECTIONS:
        x, y = a.get(s), b.get(s)
        sections[s] = {"before": None if x is None else len(x),
                       "after": None if y is None else len(y),
                       "same": x == y}
    return {"compared": True, "sections": sections,
            "same": all(v["same"] for v in sections.values())}


# ---------------------------------------------------------------------------
# 8. Putting it together

STYLE = """
body { max-width: 62em; margin: 0 auto; padding: 1em 1.5em 4em;
       font-family: "Charter", "Georgia", serif; font-size: 16px;
       line-height: 1.45; color: #1d1d1d; background: #fffffe; }
h1, h2, .rc-summary, nav { font-family: "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6em; margin: 0.4em 0; }
h2 { font-size: 1.15em; margin: 0 0 0.5em; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
            font-size: 0.86em; }
ins { background: #d9f2d3; text-decoration: none; }
del { background: #f9d6d3; color: #6c1b16; }
mark { background: #ffe38a; color: inherit; }
.rc-summary { background: #f4f6fa; border: 1px solid #ccd5e4;
              padding: 0.6em 1em; margin: 1em 0; font-size: 0.95em; }
.rc-summary h2 { margin-top: 0.6em; }
.rc-summary table { border-collapse: collapse; }
.rc-summary td, .rc-summary th { padding: 0.1em 0.8em 0.1em 0;
                                 text-align: left; vertical-align: top; }
.rc-only-moves { font-weight: bold; color: #1f3f6e; }
.rc-legend { font-size: 0.85em; color: #444; }
nav#TOC { font-size: 0.9em; }
nav#TOC ul { list-style: none; padding-left: 0; }
nav#TOC li.rc-level-2 { padding-left: 1.2em; }
nav#TOC li.rc-level-3, nav#TOC li.rc-level-4 { padding-left: 2.4em; }
section.rc-section { border-top: 1px solid #ddd; padding: 0.8em 0 0.4em;
                     margin-top: 1em; }
.rc-number { color: #555; margin-right: 0.3em; }
.rc-book { font-size: 0.7em; font-weight: normal; margin-left: 0.5em; }
.rc-badge { font-family: "Helvetica Neue", Arial, sans-serif;
            font-size: 0.72em; font-weight: normal; padding: 0 0.5em;
            border-radius: 0.7em; border: 1px solid #bbb;
            background: #f2f2f2; white-space: nowrap; }
.rc-b-inserted { background: #d9f2d3; border-color: #8cc482; }
.rc-b-deleted { background: #f9d6d3; border-color: #d78c86; }
.rc-b-changed, .rc-b-renamed { background: #fbf0d9; border-color: #d9b868; }
.rc-b-moved, .rc-b-moved-changed, .rc-b-moved-away {
  background: #e4ecf7; border-color: #98b0d4; }
.rc-prose { margin: 0.6em 0; }
.rc-prose.rc-inserted { border-left: 3px solid #8cc482; padding-left: 0.7em;
                        background: #f1faef; }
.rc-prose.rc-deleted { border-left: 3px solid #d78c86; padding-left: 0.7em;
                       background: #fcf1f0; color: #6c1b16;
                       text-decoration: line-through; }
.rc-prose.rc-changed { border-left: 3px solid #d9b868; padding-left: 0.7em; }
.rc-prose p { margin: 0.3em 0; }
div.chunk { margin: 0.9em 0; }
.chunk-name { font-style: italic; }
.chunk-label, .rc-was { color: #555; }
.chunk-xref { display: block; font-size: 0.8em; color: #555; }
.chunk-xref a { text-decoration: none; }
table.rc-code { border-collapse: collapse; width: 100%; background: #f6f6f3;
                border-left: 3px solid #b9c4d8; font-size: 0.95em; }
table.rc-code td { padding: 0 0.4em; vertical-align: top; }
td.rc-ln { color: #999; text-align: right; width: 3.2em;
           font-family: "DejaVu Sans Mono", monospace; font-size: 0.75em; }
td.rc-sign { width: 1em; color: #666; font-family: monospace; }
td.rc-text code { white-space: pre-wrap; font-size: 0.86em; }
tr.rc-ins { background: #e3f5df; }
tr.rc-del { background: #fbe3e1; }
tr.rc-del td.rc-text { text-decoration: line-through; text-decoration-color: #c77; }
tr.rc-mv-in, tr.rc-mv-out { background: #e4ecf7; }
tr.rc-mv-out td.rc-text { color: #666; }
.rc-fold { margin: 0.5em 0; color: #333; }
.rc-fold > summary { cursor: pointer; color: #555; font-size: 0.9em;
                     font-family: "Helvetica Neue", Arial, sans-serif; }
.rc-moved-in > summary, .rc-moved-away { color: #1f3f6e; }
.rc-moved-away { font-size: 0.9em; font-family: "Helvetica Neue", Arial,
                 sans-serif; }
.rc-subheading { font-weight: bold; }
pre.code .co, .co { color: #6a737d; font-style: italic; }
.st { color: #8a4600; }
.pp { color: #22663a; }
a.chunk-use, .chunk-use { font-family: "Charter", "Georgia", serif;
  font-style: italic; color: #1f4e8c; text-decoration: none; }
.chunk-use .label { font-style: normal; font-size: 0.78em; color: #555;
                    margin-left: 0.3em; }
@media screen and (min-width: 1300px) {
  nav#TOC { position: fixed; top: 0; bottom: 0; left: 0; width: 300px;
            box-sizing: border-box; overflow-y: auto; padding: 0.8em;
            background: #f6f6f2; border-right: 1px solid #ddd; }
  body { margin-left: max(330px, calc(50% - 31em + 150px)); }
}
"""


def summary_html(facts, groups, view, title):
    out = ['<div class="rc-summary" id="rc-summary">']
    s = facts["summary"]
    if s["only_moves"]:
        out.append('<p class="rc-only-moves">This change only moves text: '
                   f'{s["moved_blocks"]} blocks moved; no word of the prose '
                   'and no line of code changed.</p>')
    elif s["no_change"]:
        out.append('<p class="rc-only-moves">No block of the book changed'
                   + (f' (only white space: {s["rewrapped"]} paragraphs '
                      'rewrapped)' if s["rewrapped"] else "") + ".</p>")
    sec = s["sections"]
    out.append("<table>")
    out.append(f"<tr><th>sections</th><td>{len(groups)} shown: "
               f"{sec['changed']} changed, {sec['added']} added, "
               f"{sec['removed']} removed, {sec['moved']} moved, "
               f"{sec['renamed']} renamed, {sec['moves']} with blocks moved "
               "in or out only</td></tr>")

    def chunk_list(kind):
        names = [c for c in facts["chunks"] if c["status"] in kind]
        if not names:
            return "none"
        return ", ".join(
            f'<a href="#{esc(c["id"])}">'
            + (f'⟨{W.html_chunk_name(c["was"])}⟩ → ' if c["was"] else "")
            + f'⟨{W.html_chunk_name(c["name"])}⟩ [{c["label"]}]</a>'
            for c in names)

    ch = s["chunks"]
    out.append(f"<tr><th>chunks</th><td>{ch['added']} added, {ch['removed']} "
               f"removed, {ch['changed']} changed, {ch['moved']} moved "
               f"(unchanged), {ch['renamed']} renamed</td></tr>")
    for label, kinds in (("added", ("inserted",)), ("removed", ("deleted",)),
                         ("changed", ("changed", "moved-changed")),
                         ("moved", ("moved",)), ("renamed", ("renamed",))):
        if not any(c["status"] in kinds for c in facts["chunks"]):
            continue
        if label == "moved":            # the least to look at: folded
            out.append(f"<tr><th></th><td><details><summary><i>moved, "
                       f"unchanged:</i> {ch['moved']} chunk"
                       f"{'' if ch['moved'] == 1 else 's'}</summary>"
                       f"{chunk_list(kinds)}</details></td></tr>")
        else:
            out.append(f"<tr><th></th><td><i>{label}:</i> "
                       f"{chunk_list(kinds)}</td></tr>")
    affected = facts["users_of_changed"]
    if affected:
        out.append("<tr><th></th><td><i>using a changed chunk:</i> "
                   + ", ".join(f'<a href="{esc(u["href"])}">⟨{W.html_chunk_name(u["name"])}⟩'
                               f' [{u["label"]}]</a>' if u["href"] else
                               f'⟨{W.html_chunk_name(u["name"])}⟩ [{u["label"]}]'
                               for u in affected) + "</td></tr>")
    p = s["prose"]
    out.append(f"<tr><th>prose</th><td>{p['added']} added, {p['removed']} "
               f"removed, {p['changed']} changed, {p['moved']} moved "
               f"(unchanged); {s['rewrapped']} only rewrapped (not shown)"
               "</td></tr>")
    roots = facts["roots"]
    changed = [r for r in roots if r["status"] != "same"]
    out.append("<tr><th>tangled roots</th><td>"
               + ("; ".join(f"<code>{esc(r['root'])}</code> {r['status']}"
                            + (f" (−{r['minus']} +{r['plus']} lines)"
                               if r["status"] == "changed" else "")
                            for r in changed)
                  if changed else "no root's tangled output changed")
               + f" (of {len(roots)} roots)</td></tr>")
    image = facts["image"]
    if image is None:
        text = "not compared (two files, not two revisions)"
    elif not image["compared"]:
        text = f"not compared: {esc(image['why'])}"
    elif image["same"]:
        text = ("unchanged: " + ", ".join(
            f"<code>{s_}</code> {v['after']} bytes"
            for s_, v in image["sections"].items() if v["after"] is not None)
                + ", byte for byte")
    else:
        text = "<b>changed</b>: " + ", ".join(
            f"<code>{s_}</code> " + ("the same" if v["same"] else
                                    f"{v['before']} → {v['after']} bytes"
                                    if v["before"] != v["after"]
                                    else f"{v['after']} bytes, other bytes")
            for s_, v in image["sections"].items())
    out.append(f"<tr><th>the image's object code</th><td>{text}</td></tr>")
    out.append("</table></div>")
    return "\n".join(out)


def page(title, subtitle, groups, view, facts):
    toc = ['<nav id="TOC"><b>Sections changed</b><ul>']
    for g in groups:
        level = g.heading.block.level if g.heading else 1
        num = g.number()
        toc.append(f'<li class="rc-level-{level}"><a href="#{g.anchor}">'
                   + (f"{esc(num)} " if num else "") + esc(g.title())
                   + f'</a> <span class="rc-badge rc-b-{g.status}">{g.status}'
                   '</span></li>')
    toc.append("</ul></nav>")
    body = [summary_html(facts, groups, view, title),
            '<p class="rc-legend">Prose: <ins>inserted</ins> and <del>deleted</del>'
            ' words. Code: a line <span style="background:#e3f5df">+ inserted'
            '</span>, <span style="background:#fbe3e1">− deleted</span>, '
            '<span style="background:#e4ecf7">↦ moved away, ↤ moved here'
            '</span>; <mark>changed characters</mark> within a line. The two '
            'numbers on the left of a line are its lines in the old and the '
            'new text. Unchanged blocks of a section are folded.</p>']
    body += [view.group_html(g) for g in groups]
    data = json.dumps(facts, ensure_ascii=False, indent=1).replace("</", "<\\/")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(toc)
            + f"\n<h1>{esc(title)}</h1>\n<p>{subtitle}</p>\n"
            + "\n".join(body)
            + f'\n<script type="application/json" id="change-data">{data}</script>'
            + "\n</body></html>\n")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base")
    parser.add_argument("--to")
    parser.add_argument("--old")
    parser.add_argument("--new")
    parser.add_argument("--out", default="build/review-change.html")
    parser.add_argument("--book")
    parser.add_argument("--json")
    parser.add_argument("--no-image", action="store_true")
    args = parser.parse_args(argv[1:])
    if bool(args.base) == bool(args.old and args.new):
        parser.error("give --base REV [--to REV], or --old FILE --new FILE")
    started = time.monotonic()
    steps = []

    def step(name):
        now = time.monotonic()
        steps.append((name, now - step.last))
        step.last = now
    step.last = started

    scratch = tempfile.mkdtemp(prefix="review-change.")
    try:
        if args.base:
            old_path = os.path.join(scratch, "old.nw")
            new_path = os.path.join(scratch, "new.nw")
            with open(old_path, "wb") as f:
                f.write(git("show", f"{args.base}:{WEB}"))
            if args.to:
                with open(new_path, "wb") as f:
                    f.write(git("show", f"{args.to}:{WEB}"))
            else:
                shutil.copyfile(os.path.join(TOP, WEB), new_path)
            title = f"The change of {WEB}: {describe(args.base).split()[0]} → " \
                    + ("the working tree" if not args.to
                       else describe(args.to).split()[0])
            subtitle = (f"From <b>{esc(describe(args.base))}</b> to <b>"
                        f"{esc(describe(args.to))}</b>.")
        else:
            old_path, new_path = args.old, args.new
            title = f"The change from {os.path.basename(args.old)} to " \
                    f"{os.path.basename(args.new)}"
            subtitle = (f"From <b>{esc(args.old)}</b> to "
                        f"<b>{esc(args.new)}</b>.")

        image_job = None
        if args.base and not args.no_image:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            image_job = pool.submit(compare_images, args.base, args.to,
                                    os.path.join(scratch, "image"))

        old, old_xref = read_web(old_path, "old")
        new, new_xref = read_web(new_path, "new")
        step("read both texts")
        opcodes = align(old, new)
        step("align and pair the blocks")
        items = book_order(old, new, opcodes)
        groups = [g for g in sections(items) if any(i.changed for i in g.items)]
        step("order them in sections")

        out_dir = os.path.dirname(os.path.abspath(args.out))
        book = None                 # the book is the working tree's
        if args.book and os.path.exists(args.book) and not args.to \
                and args.base:
            book = os.path.relpath(os.path.abspath(args.book), out_dir)
        view = View(old, new, old_xref, new_xref, book,
                    moved_lines(items))
        view.item_of = {id(i.block): i for i in items}
        for g in groups:                # the chunks the page sets out
            for i in g.items:
                if i.block.kind == "chunk" and not i.away:
                    view.shown.add(view.chunk_id(i.block))
        # Render the prose of what is shown, each side in one run of pandoc.
        wanted = {"old": [], "new": []}
        for g in groups:
            for i in g.items:
                b = i.block
                if b.kind in ("para", "heading"):
                    wanted[b.side].append(b)
                    if b.partner is not None and b.partner.side == "old" and \
                            b.status != "equal":
                        wanted["old"].append(b.partner)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool2:
            rendered = list(pool2.map(
                lambda s: render_prose(list(dict.fromkeys(wanted[s])),
                                       old_xref if s == "old" else new_xref),
                ("old", "new")))
        for r in rendered:
            view.prose.update(r)
        step("render the prose (pandoc)")

        roots = compare_roots(old_path, new_path, old_xref, new_xref)
        step("tangle every root of both texts")
        image = None
        if image_job is not None:
            image = image_job.result()
            step("build and compare the images")

        facts = gather(items, groups, view, roots, image)
        html_text = page(title, subtitle, groups, view, facts)
        ids = set(re.findall(r'\bid="([^"]*)"', html_text))
        dangling = sorted({h for h in re.findall(r'(?<![-\w])href="#([^"]*)"',
                                                html_text) if h not in ids})
        if dangling:
            print(f"review-change: warning: links to nowhere: "
                  f"{', '.join(dangling[:5])}", file=sys.stderr)
        os.makedirs(out_dir, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(html_text)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(facts, f, ensure_ascii=False, indent=1)
        step("write the page")
    except Failure as error:
        print(f"review-change: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    s = facts["summary"]
    print(f"review-change: {args.out}: {len(groups)} sections shown; chunks "
          f"{s['chunks']['added']} added, {s['chunks']['removed']} removed, "
          f"{s['chunks']['changed']} changed, {s['chunks']['moved']} moved, "
          f"{s['chunks']['renamed']} renamed; "
          + ("only moves; " if s["only_moves"] else "")
          + f"{sum(1 for r in facts['roots'] if r['status'] != 'same')} roots' tangled "
          "output changed; the image "
          + ("not compared" if image is None or not image["compared"]
             else "unchanged" if image["same"] else "changed"))
    print("review-change: took " + ", ".join(f"{n} {t:.1f} s" for n, t in steps)
          + f"; {time.monotonic() - started:.1f} s in all")
    return 0


def gather(items, groups, view, roots, image):
    """The page's facts, for its summary and for tests."""
    shown = [i for g in groups for i in g.items]
    chunks = []
    for i in items:
        b = i.block
        if b.kind != "chunk" or i.away or i.status == "equal":
            continue
        chunks.append({"name": b.d.name, "label": b.d.label, "status": i.status,
                       "side": b.side, "id": view.chunk_id(b),
                       "was": b.partner.d.name if b.partner is not None
                       and b.status == "renamed" else None})
    counts = defaultdict(int)
    for c in chunks:
        counts[c["status"]] += 1
    prose = defaultdict(int)
    moved_blocks = 0
    for i in items:
        if i.away:
            continue
        if i.status in ("moved",):
            moved_blocks += 1
        if i.block.kind in ("para", "fence"):
            prose[i.status] += 1
    rewrapped = sum(1 for i in items if i.status == "equal"
                    and i.block.kind == "para" and i.block.partner is not None
                    and i.block.partner.raw != i.block.raw)
    changed_names = {c["name"] for c in chunks if c["side"] == "new"}
    users = []
    for c in chunks:
        if c["status"] in ("changed", "moved-changed", "inserted", "renamed"):
            for u in view.new_xref.users_of.get(c["name"], []):
                if u.name in changed_names or any(x["name"] == u.name for x in users):
                    continue
                users.append({"name": u.name, "label": u.label,
                              "href": view.link_to_chunk(u, "new")})
    sections_ = [{"number": g.number(), "title": g.title(), "status": g.status,
                  "anchor": g.anchor} for g in groups]
    sec_counts = defaultdict(int)
    for g in groups:
        sec_counts[g.status] += 1
    non_equal = [i for i in items if i.status != "equal" and not i.away]
    only_moves = bool(non_equal) and all(i.status == "moved" for i in non_equal)
    return {
        "sections": sections_,
        "chunks": chunks,
        "users_of_changed": users,
        "roots": [{"root": r, "status": s, "minus": m, "plus": p}
                  for r, s, m, p in roots],
        "image": image,
        "summary": {
            "sections": {k: sec_counts[k] for k in
                         ("changed", "added", "removed", "moved", "renamed",
                          "moves")},
            "chunks": {"added": counts["inserted"], "removed": counts["deleted"],
                       "changed": counts["changed"] + counts["moved-changed"],
                       "moved": counts["moved"], "renamed": counts["renamed"]},
            "prose": {"added": prose["inserted"], "removed": prose["deleted"],
                      "changed": prose["changed"] + prose["moved-changed"],
                      "moved": prose["moved"]},
            "rewrapped": rewrapped,
            "moved_blocks": moved_blocks,
            "only_moves": only_moves,
            "no_change": not non_equal,
            "shown_items": len(shown),
        },
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""tests/book.py: the checks of the woven book that need a parser, for
tests/book.sh.  Each prints TAP lines "ok - book/NAME" or
"not ok - book/NAME (why)".

    book.py structure WEB HTML BUILD  the book's structure, in the HTML:
                                      anchors, headers, contents, indexes,
                                      the links in the code, figures
    book.py parts WEB HTML PDF        the parts of a web that has them
    book.py browser WEB DUMP          what the browser found (see book.sh)
    book.py pdf WEB PDF               the PDF: text, pages, links, outline,
                                      the pages of cross-references
    book.py png NAME FILE...          each PNG shows something (not blank)
    book.py evidence WEB DUMP GCOV COVERAGE EVIDENCE
                                      the evidence marks the browser saw
                                      against the coverage report (make
                                      coverage's gcov file and summary)
    book.py search WEB HTML DUMP      the search box, as the browser used it
    book.py change EXPECTED PAIR DUMP the change view of a pair of fixtures,
                                      as the browser saw it, against the
                                      sections and chunks expected

The checks read the web with noweb's own front end (markup, finduses), not
with weave's code, and the tangled files in BUILD, so that they judge
weave's output against the web rather than weave against itself.
"""

import glob
import json
import os
import re
import subprocess
import sys
import zlib
from collections import defaultdict

AREA = "book"
failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"ok - {AREA}/{name}")
    else:
        failures += 1
        print(f"not ok - {AREA}/{name}" + (f" ({why})" if why else ""))


def first(items, n=5):
    items = sorted(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more"
                                   if len(items) > n else "")


# ---------------------------------------------------------------------------
# What the web says the book holds: read with noweb's own front end.

def web_docs_lines(web):
    """The lines of prose of the web, outside fenced blocks, in order."""
    stream = subprocess.run(["/usr/lib/noweb/markup", web],
                            stdout=subprocess.PIPE, check=True,
                            universal_newlines=True).stdout.split("\n")
    lines, line, in_docs, fence = [], [], False, None
    for raw in stream:
        keyword, _, arg = raw.partition(" ")
        if keyword == "@begin":
            in_docs = arg.startswith("docs")
            line = []
        elif keyword == "@text" and in_docs:
            line.append(arg)
        elif keyword == "@nl" and in_docs:
            text = "".join(line)
            line = []
            marker = re.match(r" {0,3}(`{3,}|~{3,})([^`]*)$", text)
            if fence:
                if marker and marker.group(1).startswith(fence):
                    fence = None
                continue
            if marker:
                fence = marker.group(1)
                continue
            lines.append(text)
    return lines


def web_facts(web):
    lines = web_docs_lines(web)
    headings = [l for l in lines if l.startswith("# ")]
    chapters = [re.sub(r"\s*\{.*\}$", "", l[2:]).strip()
                for l in headings if not re.search(r"\{[^}]*\.part\b", l)]
    with open(web, encoding="utf-8") as f:
        text = f.read()
    diagrams = re.findall(r"^```\{\.dot #(fig-[\w-]+)", text, re.M)
    stream = subprocess.run(["/usr/lib/noweb/markup", web],
                            stdout=subprocess.PIPE, check=True,
                            universal_newlines=True).stdout
    definitions = len(re.findall(r"^@defn ", stream, re.M))
    names = set(re.findall(r"^@defn (.*)$", stream, re.M))
    idents = set()
    for line in re.findall(r"^@ %def (.*)$", text, re.M):
        idents.update(line.split())
    return chapters, diagrams, definitions, names, idents


def web_parts(web):
    """The part headings of the web: (title, identifier)."""
    return [(re.sub(r"\s*\{.*\}$", "", l[2:]).strip(),
             (re.search(r"#([\w-]+)", l.split("{", 1)[1]) or [None, None])[1])
            for l in web_docs_lines(web)
            if l.startswith("# ") and re.search(r"\{[^}]*\.part\b", l)]


class Chunk:
    """One definition of a code chunk, as noweb's front end sees it."""

    def __init__(self, name, number):
        self.name, self.number = name, number
        self.code = []          # the text of the code, chunk uses blanked
        self.uses = []          # ("ident", NAME) and ("chunk", NAME), in order
        self.defines = set()    # identifiers of its @ %def
        self.users = []         # chunk names using it
        self.web_macros = set() # the names the web #defines as macros

    def text(self):
        return "".join(self.code)


def web_chunks(web):
    """Every definition of a chunk, in order, from `markup | finduses`."""
    marked = subprocess.run(["/usr/lib/noweb/markup", web],
                            stdout=subprocess.PIPE, check=True).stdout
    stream = subprocess.run(["/usr/lib/noweb/finduses"], input=marked,
                            stdout=subprocess.PIPE, check=True
                            ).stdout.decode("utf-8").split("\n")
    chunks, count, current, in_code, header = [], {}, None, False, False
    for raw in stream:
        keyword, _, arg = raw.partition(" ")
        if keyword == "@begin":
            in_code = arg.startswith("code")
        elif keyword == "@end":
            in_code, current = False, None
        elif keyword == "@defn" and in_code:
            count[arg] = count.get(arg, 0) + 1
            current, header = Chunk(arg, count[arg]), True
            chunks.append(current)
        elif current is None:
            continue
        elif keyword == "@nl":
            if header:
                header = False
            else:
                current.code.append("\n")
        elif keyword == "@text":
            current.code.append(arg)
        elif keyword == "@use":
            current.uses.append(("chunk", arg))
            current.code.append(" ")
        elif keyword == "@index":
            sub, _, name = arg.partition(" ")
            if sub == "use":
                current.uses.append(("ident", name))
            elif sub == "defn":
                current.defines.add(name)
    # A name #defined as a macro anywhere has no body elsewhere: a line
    # "NAME(...) {" uses the macro.
    macros = set()
    for c in chunks:
        macros.update(re.findall(r"(?m)^\s*#\s*define\s+(\w+)", c.text()))
    for c in chunks:
        c.web_macros = macros
        for kind, name in c.uses:
            if kind == "chunk":
                for d in chunks:
                    if d.name == name and c.name not in d.users:
                        d.users.append(c.name)
    return chunks


def function_body(ident, code):
    """Where `code` holds the head of the definition of a function `ident`
    (its name after a line's start and type words, a parameter list, then
    "{"), as a match, or None."""
    code = re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                  code, flags=re.S)
    return re.search(rf"^(?:[A-Za-z_]\w*[ \t*]+)*{re.escape(ident)}\s*"
                     rf"\((?:[^;{{}}()]|\([^;{{}}()]*\))*\)\s*\{{", code, re.M)


def defines(chunk, ident):
    """Whether a chunk defines `ident`: declares it with @ %def, or holds
    the body of a function of that name."""
    return ident in chunk.defines or (
        ident not in chunk.web_macros
        and function_body(ident, chunk.text()) is not None)


def roots_reached(chunks, name, seen=None):
    seen = set() if seen is None else seen
    users = next((c.users for c in chunks if c.name == name), [])
    if not users:
        return {name}
    out = set()
    for u in users:
        if u not in seen:
            seen.add(u)
            out |= roots_reached(chunks, u, seen)
    return out


PROGRAM_ROOTS = {"memd-abi.h", "memd-core.h", "memd-core.c", "memd-image.c"}


# ---------------------------------------------------------------------------
# The HTML's structure.

class Section:
    def __init__(self, level, ident, title, body):
        self.level, self.ident, self.title, self.body = level, ident, title, body


def untag(html):
    text = re.sub(r"<[^>]*>", "", html)
    for a, b in (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"),
                 ("&quot;", '"'), ("&#39;", "'"), ("\u00a0", " "),
                 ("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'),
                 ("\u201d", '"')):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).strip()


def sections(html):
    """The headings h1/h2 of the body, each with the HTML up to the next."""
    out = []
    heads = list(re.finditer(r'<h([12])\b[^>]*\bid="([^"]*)"[^>]*>(.*?)</h\1>',
                             html, re.S))
    for k, h in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(html)
        title = untag(re.sub(r'<span\s+class="header-section-number">.*?</span>',
                             "", h.group(3), flags=re.S))
        out.append(Section(int(h.group(1)), h.group(2), title,
                           html[h.end():end]))
    return out


def html_chunks(body):
    """The chunk divs of the HTML, in order: (id, header HTML, code HTML)."""
    return re.findall(r'<div id="(chunk-[^"]*)" class="chunk">\s*'
                      r'<div class="chunk-head">(.*?)</div>\s*'
                      r'(?:<details class="evidence[^"]*"[^>]*>.*?</details>\s*)?'
                      r'<pre class="code[^"]*"><code>(.*?)</code></pre>',
                      body, re.S)


def code_links(code_html):
    """The links in a chunk's code: (class, href, text), in order."""
    return [(cls or "", href, untag(text)) for cls, href, text in re.findall(
        r'<a(?: class="([^"]*)")? href="#([^"]*)">(.*?)</a>', code_html, re.S)]


def index_sections(body):
    """The index sections: id -> the HTML of its list."""
    return dict(re.findall(r'<h2[^>]*\bid="(weave-index-[\w-]+)"[^>]*>.*?</h2>'
                           r'\s*<ul class="weave-index">(.*?)</ul>', body, re.S))


def check_structure(web, html_path, build):
    chapters, diagrams, definitions, names, idents = web_facts(web)
    chunks = web_chunks(web)
    with open(html_path, encoding="utf-8") as f:
        html = f.read()
    body = html[html.index("<body"):]
    ids = re.findall(r'\bid="([^"]*)"', body)
    idset = set(ids)
    dupes = {i for i in ids if ids.count(i) > 1} if len(ids) != len(idset) else set()
    report("html/ids-unique", not dupes, first(dupes))
    targets = set(re.findall(r'\b(?:xlink:)?href="#([^"]*)"', body))
    dangling = targets - idset
    report("html/every-internal-link-resolves", targets and not dangling,
           first(dangling) if dangling else "no internal link at all")
    external = re.findall(r'\bsrc="(?!data:)([^"]*)"', body)
    report("html/self-contained", not external, first(external))

    # Every chunk definition: its anchor, then a header with its label (its
    # number in the book) and its cross-references, then its code.
    found = html_chunks(body)
    report("html/every-chunk-has-an-anchor",
           len(found) == definitions and definitions > 0,
           f"{len(found)} anchored chunks, {definitions} definitions in the web")
    anchored = set(re.findall(r'\bid="(chunk-[^"]*-\d+)"', body))
    report("html/chunk-anchors-are-named-chunk-NAME-K",
           len(anchored) == definitions, f"{len(anchored)} of {definitions}")
    labels = [re.search(r'class="chunk-label">\[(\d+)\]', head) for _, head, _ in found]
    report("html/chunks-labelled-1-to-N-in-order",
           [int(m.group(1)) if m else None for m in labels]
           == list(range(1, len(found) + 1)), "labels out of order or missing")
    anchor_of = {}                  # chunk name -> anchor of its first part
    label_of = {}                   # anchor -> label
    for chunk, (anchor, head, _), m in zip(chunks, found, labels):
        anchor_of.setdefault(chunk.name, anchor)
        label_of[anchor] = m.group(1) if m else None
    bare, wrong = [], []
    for chunk, (anchor, head, _) in zip(chunks, found):
        xref = re.search(r'<span class="chunk-xref">(.*?)</span>$', head, re.S)
        text = untag(xref.group(1)) if xref else ""
        if not re.search(r"used in \d|root", text):
            bare.append(anchor)
        # "used in" gives the labels of the chunks that use this one.
        users = [a for c, (a, _, _) in zip(chunks, found)
                 if ("chunk", chunk.name) in c.uses]
        said = re.findall(r'href="#([^"]*)"', xref.group(1).split(";")[0]) \
            if xref and "used in" in xref.group(1) else []
        if sorted(said) != sorted(users):
            wrong.append(f"{anchor} says used in {said}, used in {users}")
    report("html/every-chunk-header-has-cross-references", not bare, first(bare))
    report("html/chunk-headers-name-their-users", not wrong, first(wrong, 3))
    old = body.count('class="chunk-xref">Root') + body.count("Uses chunks:")
    report("html/no-paragraphs-of-cross-references", old == 0,
           f"{old} old-style cross-reference paragraphs")

    # The code is hypertext: every use finduses reports is a link, and so
    # is every use of a chunk; each leads to a definition.
    check_code_links(chunks, found, anchor_of, idset)

    # Navigation: numbered headings, a table of contents linking to each.
    toc = re.search(r'<nav id="TOC".*?</nav>', body, re.S)
    secs = sections(body[toc.end():] if toc else body)
    toc_targets = set(re.findall(r'href="#([^"]*)"', toc.group(0))) if toc else set()
    parts = {i for _, i in web_parts(web)}
    numbered = [s for s in secs
                if not s.ident.startswith(("weave-index", "weave-evidence"))
                and s.ident not in parts]
    missing = [s.title for s in numbered if s.ident not in toc_targets]
    report("html/table-of-contents-links-every-chapter-and-section",
           toc is not None and not missing, first(missing))
    unnumbered = [s.title for s in numbered if not re.search(
        rf'id="{re.escape(s.ident)}"[^>]*>\s*<span\s+class="header-section-number">',
        body)]
    report("html/chapters-and-sections-numbered", not unnumbered,
           first(unnumbered))
    h1 = [s.title for s in secs if s.level == 1]
    absent = [c for c in chapters if c not in h1]
    report("html/every-chapter-of-the-web", chapters and not absent,
           first(absent))

    # The indexes: chunks and identifiers, the program's and the tests'.
    check_indexes(body, chunks, names, idents, anchor_of)
    check_function_entries(body, chunks, anchor_of, build)

    # Each section of the ABI chapter says where it is checked, with links
    # to the chunks that check it, in a box of its own.
    abi, in_abi = [], False
    for s in secs:
        if s.level == 1:
            in_abi = s.title == "The ABI contract"
        elif in_abi:
            abi.append(s)
    unchecked = []
    for s in abi:
        para = re.search(r'<div class="checked-by">\s*<p>Checked by:(.*?)</p>',
                         s.body, re.S)
        if not para or not re.search(r'href="#chunk-', para.group(1)):
            unchecked.append(s.title)
    report("html/abi-sections-link-to-their-checks", abi and not unchecked,
           first(unchecked) if abi else "no ABI chapter found")

    # Diagrams: each drawn inline, as SVG; a node named after an
    # identifier links to a chunk that defines it.
    drawn = re.findall(r'<div id="(fig-[^"]*)" class="diagram">\s*<svg', body)
    report("html/every-diagram-drawn-inline",
           diagrams and sorted(drawn) == sorted(diagrams),
           f"{len(drawn)} SVG figures for {len(diagrams)} diagrams")
    check_figure_links(web, chunks, idents)


def check_code_links(chunks, found, anchor_of, idset):
    """(a) In each chunk's code, the links are exactly the uses finduses
    reports, in order; an identifier's leads to a chunk that defines it
    (or, in a chunk that defines it, to its index entry); a chunk's to the
    chunk's first definition."""
    chunk_at = {a: c for c, (a, _, _) in zip(chunks, found)}
    missing, misled, checked = [], [], 0
    for chunk, (anchor, head, code) in zip(chunks, found):
        links = code_links(code)
        idents = [(h, t) for cls, h, t in links if "chunk-use" not in cls]
        uses = [(h, t) for cls, h, t in links if "chunk-use" in cls]
        expected = [n for k, n in chunk.uses if k == "ident"]
        if [t for h, t in idents] != expected:
            missing.append(f"{anchor}: links {[t for h, t in idents][:4]}..., "
                           f"finduses {expected[:4]}...")
            continue
        for href, text in idents:
            checked += 1
            if href == f"index-{text}":
                if not defines(chunk, text):
                    misled.append(f"{text} in {anchor} leads to the index "
                                  "but the chunk does not define it")
            elif href not in chunk_at or not defines(chunk_at[href], text):
                misled.append(f"{text} in {anchor} leads to {href}")
        wanted = [anchor_of.get(n) for k, n in chunk.uses if k == "chunk"]
        if [h for h, t in uses] != wanted:
            misled.append(f"chunk uses in {anchor} lead to "
                          f"{[h for h, t in uses]}, not {wanted}")
    report("html/code-links-every-use-finduses-reports",
           checked > 1000 and not missing,
           f"{checked} identifier links; " + first(missing, 2))
    report("html/code-links-lead-to-definitions", checked and not misled,
           first(misled, 3))


def check_indexes(body, chunks, names, idents, anchor_of):
    """The four indexes: every chunk and every identifier exactly once, on
    the program's side when it ends up in one of the program's roots."""
    sections_ = index_sections(body)
    wanted = {"weave-index-program-chunks", "weave-index-program-identifiers",
              "weave-index-tests-chunks", "weave-index-tests-identifiers"}
    have = set(sections_)
    report("html/indexes-program-and-tests", have == wanted or
           (have <= wanted and "weave-index-tests-chunks" in have),
           f"index sections: {sorted(have)}")
    listed, wrong_side = [], []
    for side in ("program", "tests"):
        for m in re.finditer(r'<li><a href="#([^"]*)">⟨(.*?)⟩</a>',
                             sections_.get(f"weave-index-{side}-chunks", "")):
            name = untag(m.group(2))
            listed.append(name)
            chunk = next((c for c in chunks if c.name.replace("[[", "").replace(
                "]]", "") == name), None)
            if chunk is None:
                continue
            own = bool(roots_reached(chunks, chunk.name) & PROGRAM_ROOTS)
            if own != (side == "program"):
                wrong_side.append(f"⟨{name}⟩ in the {side}' index")
    plain = {n.replace("[[", "").replace("]]", "") for n in names}
    report("html/index-of-chunks-lists-each-once",
           sorted(listed) == sorted(plain),
           f"{len(listed)} entries for {len(plain)} chunk names")
    report("html/index-of-chunks-split-by-root", not wrong_side,
           first(wrong_side))
    entries = []
    for side in ("program", "tests"):
        entries += re.findall(r'<li id="index-([^"]*)"><code>',
                              sections_.get(f"weave-index-{side}-identifiers", ""))
    report("html/index-of-identifiers-lists-each-once",
           idents and sorted(entries) == sorted(idents),
           first(set(idents) ^ set(entries)) or f"{len(entries)} entries")


def tangled_bodies(build):
    """The functions defined in the tangled C of BUILD: name -> the first
    lines of their definitions' heads.  A macro's name followed by a block
    is no function."""
    bodies, macros = {}, set()
    for path in sorted(glob.glob(os.path.join(build, "*.[ch]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = re.sub(r"(?m)^#line .*\n", "", f.read())
        text = re.sub(r"/\*.*?\*/|//[^\n]*",
                      lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
        macros.update(re.findall(r"(?m)^\s*#\s*define\s+(\w+)", text))
        for m in re.finditer(r"^(?:[A-Za-z_]\w*[ \t*]+)*([A-Za-z_]\w*)\s*"
                             r"\((?:[^;{}()]|\([^;{}()]*\))*\)\s*\{", text, re.M):
            if m.group(1) not in ("if", "while", "for", "switch"):
                bodies.setdefault(m.group(1), []).append(
                    m.group(0).split("\n")[0].strip())
    return {name: heads for name, heads in bodies.items() if name not in macros}


def check_function_entries(body, chunks, anchor_of, build):
    """(b) A function's index entry leads first to the chunk holding its
    body, as the tangled C in BUILD shows it."""
    bodies = tangled_bodies(build)
    code_of = {a: untag(code) for a, _, code in html_chunks(body)}
    wrong, checked = [], 0
    for ident, entry in re.findall(r'<li id="index-([^"]*)">(.*?)</li>', body, re.S):
        if ident not in bodies:
            continue
        checked += 1
        target = re.search(r'href="#([^"]*)"', entry).group(1)
        text = re.sub(r"\s+", " ", code_of.get(target, ""))
        if not any(re.sub(r"\s+", " ", line) in text for line in bodies[ident]):
            wrong.append(f"{ident} leads to {target}, not to its body "
                         f"({bodies[ident][0]!r})")
    report("html/function-index-entries-lead-to-bodies",
           checked > 20 and not wrong,
           f"{checked} functions; " + first(wrong, 3))


def check_figure_links(web, chunks, idents):
    """(c) A diagram's node whose label starts with an identifier ("memd_x:
    what it does") and that links to a chunk must link to one that
    defines the identifier."""
    with open(web, encoding="utf-8") as f:
        text = f.read()
    wrong, checked = [], 0
    for fig, source in re.findall(r"^```\{\.dot #(fig-[\w-]+)[^\n]*\n(.*?)^```",
                                  text, re.M | re.S):
        for node, attrs in re.findall(r"^\s*(\w+)\s*\[(.*?)\]\s*;?\s*$", source,
                                      re.M | re.S):
            label = re.search(r'\blabel="([A-Za-z_]\w*)\s*:', attrs)
            href = re.search(r'\bhref="⟨([^⟩"]+)⟩"', attrs)
            if not label or not href or label.group(1) not in idents:
                continue
            checked += 1
            ident, name = label.group(1), href.group(1)
            # The chunk is all its definitions (the link leads to the first).
            parts = [c for c in chunks
                     if c.name.replace("[[", "").replace("]]", "") == name]
            if not any(defines(c, ident) for c in parts):
                right = [c.name for c in chunks if defines(c, ident)]
                wrong.append(f"{fig}: node {node} ({ident}) links to ⟨{name}⟩,"
                             f" which does not define {ident}"
                             + (f"; ⟨{right[0]}⟩ does" if right else ""))
    report("html/figure-nodes-link-to-their-definitions",
           checked > 0 and not wrong,
           f"{checked} nodes; " + "; ".join(wrong) if wrong else f"{checked} nodes")


# ---------------------------------------------------------------------------
# What the browser found: book.sh loads the book in Chromium with a script
# that walks the DOM and writes its findings into <pre id="book-check">.

def check_browser(web, dump_path):
    with open(dump_path, encoding="utf-8", errors="replace") as f:
        dump = f.read()
    found = re.search(r'<pre id="book-check">(.*?)</pre>', dump, re.S)
    if not found:
        report("browser/loads-the-book", False, "the check script did not run")
        return
    report("browser/loads-the-book", True)
    lines = html_text(found.group(1)).split("\n")
    facts = dict(re.findall(r"^(\S+) (.*)$", "\n".join(
        l for l in lines if not l.startswith("click\t")), re.M))
    links, dangling = int(facts.get("links", 0)), facts.get("dangling", "")
    report("browser/every-internal-link-resolves", links > 1000 and not dangling,
           f"{links} links; dangling: {dangling}")
    report("browser/every-diagram-rendered",
           int(facts.get("svgs", 0)) > 0 and facts.get("empty-svgs", "") == "",
           f"{facts.get('svgs')} SVGs; empty: {facts.get('empty-svgs')}")
    report("browser/code-styled", int(facts.get("styled", 0)) > 100,
           f"{facts.get('styled')} styled comments in the code")

    # (e) The clicks on links in the code: each moved the window to its
    # target, and the target is the chunk that defines what was clicked.
    chunks = web_chunks(web)
    body = dump[dump.index("<body"):]
    chunk_at = {a: c for c, (a, _, _) in zip(chunks, html_chunks(body))}
    clicks = [l.split("\t") for l in lines if l.startswith("click\t")]
    wrong, idents, uses = [], 0, 0
    for _, cls, text, source, href, landed, element, seen in clicks:
        where = f"{text!r} in {source}"
        if landed != href or seen != "visible":
            wrong.append(f"{where}: went to #{landed}, {seen}")
        elif "chunk-use" in cls:
            uses += 1
            name = re.sub(r"\s*\d+⟩$", "", text).lstrip("⟨")
            target = chunk_at.get(landed)
            if not (element == "div.chunk" and target and target.number == 1
                    and target.name.replace("[[", "").replace("]]", "") == name):
                wrong.append(f"{where}: landed on {landed} ({element})")
        else:
            idents += 1
            target = chunk_at.get(landed)
            if cls in ("def", "def-again"):
                ok = landed == f"index-{text}" and element.startswith("li")
            else:
                ok = element == "div.chunk" and target and defines(target, text)
            if not ok:
                wrong.append(f"{where}: landed on {landed} ({element})")
    report("browser/code-links-land-on-definitions",
           idents >= 20 and uses >= 5 and not wrong,
           f"{idents} identifiers and {uses} chunk uses clicked; "
           + first(wrong, 3))


def html_text(html):
    """The text of HTML (entities decoded), its lines kept."""
    text = re.sub(r"<[^>]*>", "", html)
    for a, b in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"),
                 ("&amp;", "&")):
        text = text.replace(a, b)
    return text


# ---------------------------------------------------------------------------
# The PDF.

def pdftotext(pdf, first_page=None, last_page=None):
    command = ["pdftotext", "-layout"]
    if first_page:
        command += ["-f", str(first_page), "-l", str(last_page or first_page)]
    return subprocess.run(command + [pdf, "-"], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


def typewriter_quotes(text):
    """Typeset quotes (pandoc's smart punctuation) as the web writes them."""
    return (text.replace("\u2019", "'").replace("\u2018", "'")
            .replace("\u201c", '"').replace("\u201d", '"'))


def pdf_pages(pdf):
    info = subprocess.run(["pdfinfo", pdf], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout
    found = re.search(r"^Pages:\s+(\d+)", info, re.M)
    return int(found.group(1)) if found else 0


def check_pdf(web, pdf):
    chapters, diagrams, definitions, names, idents = web_facts(web)
    pages = pdf_pages(pdf)
    report("pdf/has-pages", pages > 20, f"{pages} pages")
    text = typewriter_quotes(pdftotext(pdf))
    flat = re.sub(r"\s+", " ", text)
    absent = [c for c in chapters if c not in flat]
    report("pdf/text-holds-every-chapter-title", chapters and not absent,
           first(absent))
    report("pdf/text-holds-the-indexes",
           "Indexes" in flat and "Chunks of the tests" in flat
           and "Identifiers of the tests" in flat)

    # A table of contents at the front: every chapter, with a page number.
    front = typewriter_quotes(pdftotext(pdf, 1, 4))
    missing = [c for c in chapters
               if not re.search(r"^\s*\d+\s+" + re.escape(c).replace(r"\ ", r"\s+")
                                + r"\s+\d+\s*$", front, re.M)
               and not re.search(r"^\s*\d+\s+" + re.escape(c) + r"\s*$", front, re.M)]
    report("pdf/table-of-contents", "Contents" in front and not missing,
           first(missing))

    # Page numbers: the last line of a page's text is its number: i, ii, ...
    # for the title and the contents, then 1, 2, ... for the book.
    printed = page_numbers(text)
    front = 0
    while front < len(printed) and printed[front] == roman(front + 1):
        front += 1
    wrong = [f"page {k + 1} ends with {n!r}" for k, n in enumerate(printed)
             if k >= front and n != str(k + 1 - front)]
    report("pdf/page-numbers", pages > 3 and 0 < front < 6 and not wrong,
           first(wrong) if wrong else f"{front} front pages")

    # (d) Every cross-reference gives the label of a chunk and the page it
    # is on: "used in 57 (p. 112)"; the chunk's header, [57], is there.
    page_of_label = {}
    for k, page in enumerate(text.split("\f")):
        for label in re.findall(r"\[(\d+)\]\s*\+?≡", page):
            page_of_label.setdefault(label, printed[k] if k < len(printed) else "?")
    refs = re.findall(r"\b(\d+) \(p\. (\d+)\)", flat)
    misplaced = sorted({f"{label} (p. {page}) is on p. {page_of_label.get(label)}"
                        for label, page in refs if page_of_label.get(label) != page})
    report("pdf/cross-references-carry-pages",
           len(refs) > 500 and len(page_of_label) == definitions and not misplaced,
           f"{len(refs)} references, {len(page_of_label)} chunk headers of "
           f"{definitions}; " + first(misplaced, 3))

    # Figures: each diagram with its numbered caption.
    captions = set(re.findall(r"Figure (\d+)\.", flat))
    report("pdf/every-diagram-with-its-caption",
           diagrams and len(captions) >= len(diagrams),
           f"{len(captions)} captions for {len(diagrams)} diagrams")

    # Links: every link's destination is a named destination of the PDF;
    # every chunk has one; the PDF has an outline (bookmarks).
    with open(pdf, "rb") as f:
        data = f.read()
    inflated = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        try:
            inflated.append(zlib.decompress(data[m.end():end]))
        except zlib.error:
            pass
    blob = b"\n".join(inflated)
    links = {x.decode("latin-1")
             for x in re.findall(rb"/S\s*/GoTo\s*/D\s*\(([^)]*)\)", blob)}
    listing = subprocess.run(["pdfinfo", "-dests", pdf], stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    dests = set(re.findall(r'"(.*)"$', listing, re.M))
    dangling = links - dests
    report("pdf/every-internal-link-resolves", len(links) > 100 and not dangling,
           f"{len(links)} link targets; dangling: {first(dangling)}")
    chunks = {d for d in dests if re.fullmatch(r"chunk-.*-\d+", d)}
    report("pdf/every-chunk-has-an-anchor", len(chunks) == definitions,
           f"{len(chunks)} chunk destinations, {definitions} definitions")
    titles = [t for _, t in pdf_outline(pdf)]
    absent = [c for c in chapters if c not in titles]
    report("pdf/has-an-outline", titles and not absent,
           f"{len(titles)} entries; missing: {first(absent)}")


def roman(n):
    out = ""
    for value, digits in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + digits, n - value
    return out


def page_numbers(text):
    """The last line of each page of pdftotext's text (its page number)."""
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return [([l.strip() for l in p.split("\n") if l.strip()] or [""])[-1]
            for p in pages]


def pdf_outline(pdf):
    """The PDF's outline (bookmarks), as (depth, title), from pdftohtml."""
    xml = subprocess.run(["pdftohtml", "-xml", "-stdout", "-i", "-q", pdf],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    out, depth = [], 0
    for tag in re.finditer(r"<(/?)outline>|<item[^>]*>(.*?)</item>", xml[xml.find("<outline"):]):
        if tag.group(2) is not None:
            out.append((depth, untag(tag.group(2))))
        else:
            depth += -1 if tag.group(1) else 1
    return out


# ---------------------------------------------------------------------------
# Parts: a web with level-1 headings of class .part (tests/book.sh weaves a
# small one, since memd.nw may have none).

def check_parts(web, html_path, pdf):
    parts = web_parts(web)
    chapters = web_facts(web)[0]
    report("parts/the-web-has-parts", len(parts) >= 2, f"{len(parts)} parts")
    with open(html_path, encoding="utf-8") as f:
        body = f.read()
    body = body[body.index("<body"):]
    toc = re.search(r'<nav id="TOC".*?</nav>', body, re.S)
    toc = toc.group(0) if toc else ""
    bad = []
    for title, ident in parts:
        head = re.search(rf'<h1 class="part unnumbered" id="{ident}">(.*?)</h1>',
                         body, re.S)
        if not head or "header-section-number" in head.group(1) \
                or untag(head.group(1)) != title:
            bad.append(f"heading of {title}")
        if not re.search(rf'<a href="#{ident}"[^>]*><span\s+class="part-title">',
                         toc):
            bad.append(f"contents entry of {title}")
    report("parts/html-unnumbered-headings-in-the-contents", not bad, first(bad))
    numbers = [int(n) for n in re.findall(
        r'<h1 data-number="(\d+)"', body)]
    report("parts/html-chapters-numbered-across-parts",
           numbers == list(range(1, len(chapters) + 1)),
           f"chapter numbers {numbers} for {len(chapters)} chapters")

    text = typewriter_quotes(pdftotext(pdf))
    pages = [re.sub(r"\s+", " ", p).strip() for p in text.split("\f")]
    alone = [t for t, _ in parts
             if not any(re.fullmatch(re.escape(t) + r" [ivx\d]+", p) for p in pages)]
    report("parts/pdf-a-page-each", not alone, first(alone))
    front = "\n".join(text.split("\f")[:3])
    unlisted = [t for t, _ in parts if not re.search(
        r"^\s*" + re.escape(t) + r"\s+\d+\s*$", front, re.M)]
    toc_numbers = [int(n) for n in re.findall(r"^\s*(\d+)\s+\S.*?\s\d+\s*$",
                                              front, re.M)]
    report("parts/pdf-in-the-contents", not unlisted, first(unlisted))
    report("parts/pdf-chapters-numbered-across-parts",
           toc_numbers == list(range(1, len(chapters) + 1)),
           f"contents numbers {toc_numbers}")
    outline = pdf_outline(pdf)
    top = [t for d, t in outline if d == 1]
    missing = [t for t, _ in parts if t not in top]
    report("parts/pdf-in-the-outline", not missing,
           f"top level: {top}")

    # The code's special characters, in HTML and in LaTeX, come out as
    # they are in the web.
    with open(web, encoding="utf-8") as f:
        comment = re.search(r"^/\*.*\*/$", f.read(), re.M).group(0)
    report("parts/html-code-text-intact", comment in html_text(body),
           f"{comment!r} not in the HTML")
    report("parts/pdf-code-text-intact",
           re.sub(r"\s+", " ", comment) in re.sub(r"\s+", " ", text),
           f"{comment!r} not in the PDF's text")


# ---------------------------------------------------------------------------
# PNG: enough ink to be a page, not a blank.

def png_pixels(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, color = header[8], header[9]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None:
        raise ValueError(f"unexpected PNG format (depth {depth}, colour {color})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous, pos = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else
                                      b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def check_png(name, paths):
    for path in paths:
        label = f"{name}/{path.rsplit('/', 1)[-1]}"
        try:
            width, height, channels, rows = png_pixels(path)
        except (OSError, ValueError, zlib.error) as error:
            report(label, False, str(error))
            continue
        ink = total = 0
        for row in rows[::4]:
            for x in range(0, width * channels, channels * 4):
                total += 1
                ink += sum(row[x:x + min(channels, 3)]) < 3 * 128
        share = ink / total if total else 0
        report(label, 0.003 < share < 0.6,
               f"{width}x{height}, {share:.2%} of it dark")


# ---------------------------------------------------------------------------
# The evidence beside each chunk (weave --evidence), as the browser saw it
# (book.sh's script writes, for each chunk, "ev ID SUMMARY NOT-RUN" and,
# for one chunk opened, "evnames ID NAMES"), against the coverage report
# that `make coverage` writes (gcov's annotated memd.nw and its summary).

def web_definitions(web):
    """Every chunk definition of the web, in order: (name, the line numbers
    of its code).  Read from the text itself, line by line, as noweb
    writes chunks (<<name>>= ... then a line starting with @)."""
    out, current = [], None
    with open(web, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = re.match(r"^<<(.*)>>=\s*$", line)
            if m:
                current = (m.group(1), [])
                out.append(current)
            elif current is not None and re.match(r"^@(\s|$)", line):
                current = None
            elif current is not None:
                current[1].append(number)
    return out


def gcov_counts(path):
    """{line of memd.nw: count} for the lines gcov counted."""
    counts = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*([^:]+):\s*(\d+):", line)
            if not m or line.lstrip().startswith(("branch", "call", "function")):
                continue
            count, number = m.group(1).strip(), int(m.group(2))
            if count == "-" or number == 0:
                continue
            counts[number] = 0 if count in ("#####", "=====") \
                else int(count.rstrip("*"))
    return counts


def check_evidence(web, dump_path, gcov_path, coverage_path, evidence_path):
    with open(dump_path, encoding="utf-8", errors="replace") as f:
        page = f.read()
    found = re.search(r'<pre id="book-check">(.*?)</pre>', page, re.S)
    dump = html_text(found.group(1)) if found else ""
    chapter = re.search(r'<h1[^>]*id="weave-evidence".*?(?=<h2)', page, re.S)
    chapter = re.sub(r"\s+", " ", html_text(chapter.group(0))) if chapter else ""
    rows = [l.split("\t") for l in dump.split("\n") if l.startswith("ev\t")]
    names = [l.split("\t") for l in dump.split("\n") if l.startswith("evnames\t")]
    definitions = web_definitions(web)
    chunks = web_chunks(web)
    report("evidence/every-chunk-has-marks",
           len(rows) == len(definitions) and all(r[2] != "-" for r in rows),
           f"{sum(r[2] != '-' for r in rows)} chunks with marks of "
           f"{len(definitions)} definitions (woven without evidence? make "
           "book-evidence)")
    counts = gcov_counts(gcov_path)
    wrong, checked = [], 0
    for (name, lines), row, chunk in zip(definitions, rows, chunks):
        if roots_reached(chunks, chunk.name) != {"memd-core.c"}:
            continue
        counted = [n for n in lines if n in counts]
        unrun = [n for n in counted if counts[n] == 0]
        if not counted:
            continue
        checked += 1
        summary, said = row[2], row[3].split(",") if row[3] else []
        m = re.search(r"(\d+)/(\d+) lines run", summary)
        if not m or (int(m.group(1)), int(m.group(2))) != \
                (len(counted) - len(unrun), len(counted)):
            wrong.append(f"{row[1]}: '{summary}', gcov: "
                         f"{len(counted) - len(unrun)}/{len(counted)}")
        elif len(unrun) <= 12 and sorted(int(x) for x in said) != unrun:
            wrong.append(f"{row[1]}: not run {said}, gcov {unrun}")
    report("evidence/marks-match-the-coverage-report",
           checked > 20 and not wrong,
           f"{checked} chunks of memd-core.c; " + first(wrong, 3))
    # The image's own code is marked as such, never as code no test ran.
    image_rows = [row for (name, lines), row, chunk in
                  zip(definitions, rows, chunks)
                  if roots_reached(chunks, chunk.name) == {"memd-image.c"}]
    bad = [r[1] for r in image_rows
           if not re.search(r"image: \d+/\d+ lines run|nothing to run", r[2])]
    report("evidence/image-code-marked-as-run-on-the-image",
           image_rows and not bad, first(bad) if bad else
           f"{len(image_rows)} chunks")
    # The book's figure for the core is the coverage report's.
    with open(coverage_path, encoding="utf-8", errors="replace") as f:
        said = re.search(r"of lines \((\d+) of (\d+)\)", f.read())
    figure = re.search(r"of the core.s, in memd-core\.c, (\d+) of (\d+)", chapter)
    report("evidence/the-core-figure-is-the-coverage-report's",
           said and figure and said.groups() == figure.groups(),
           f"book {figure.groups() if figure else None}, "
           f"make coverage {said.groups() if said else None}")
    # Case by case, the lines run are those the whole run runs, every line
    # of the core (the counts themselves are compared only in the message:
    # a case's path may depend on where the C library put its memory).
    with open(evidence_path, encoding="utf-8") as f:
        evidence = json.load(f)
    host = evidence["host"]["lines"]
    differ = [str(n) for n, c in counts.items()
              if str(n) not in host or (host[str(n)][0] > 0) != (c > 0)]
    counted = sum(1 for n, c in counts.items()
                  if str(n) in host and host[str(n)][0] != c)
    report("evidence/cases-run-what-the-whole-run-runs",
           counts and not differ,
           f"{len(counts)} lines, {len(differ)} run by one and not the "
           f"other: {first(differ)}; {counted} counted differently")
    # Opened, a chunk's marks name its test cases, which are real ones.
    cases = set(evidence["host"]["cases"])
    listed = names[0][2].split(",") if names and len(names[0]) > 2 else []
    unknown = [c for c in listed if c not in cases]
    report("evidence/opened-marks-name-the-cases",
           listed and not unknown and len(listed) == len(set(listed)),
           f"{len(listed)} names; unknown: {first(unknown)}")


# ---------------------------------------------------------------------------
# Search: book.sh opens the book at #search=WORDS and types other queries;
# its script writes "q QUERY KIND HREF" for the first results of each, and
# "status QUERY TEXT".

def check_search(web, html_path, dump_path):
    with open(dump_path, encoding="utf-8", errors="replace") as f:
        found = re.search(r'<pre id="search-check">(.*?)</pre>', f.read(), re.S)
    text = html_text(found.group(1)) if found else ""
    with open(html_path, encoding="utf-8") as f:
        book = f.read()
    results = defaultdict(list)
    status = {}
    for line in text.split("\n"):
        parts = line.split("\t")
        if parts[0] == "q" and len(parts) == 4:
            results[parts[1]].append((parts[2], parts[3]))
        elif parts[0] == "status" and len(parts) == 3:
            status[parts[1]] = parts[2]
    ids = set(re.findall(r'\bid="([^"]*)"', book))
    dangling = [h for rs in results.values() for _, h in rs
                if h.lstrip("#") not in ids]
    report("search/results-link-into-the-book", results and not dangling,
           first(dangling))
    entry = re.search(r'<li id="index-memd_frames_alloc"><code><a href="#([^"]*)"',
                      book)
    got = results.get("memd_frames_alloc", [])
    report("search/an-identifier-from-the-url",
           entry and got and got[0] == ("identifier", "#" + entry.group(1)),
           f"first results {got[:2]}, the index leads to "
           f"{entry.group(1) if entry else None}")
    name = "accounting: allocate frames to a caller"
    anchor = re.search(r'<div id="(chunk-accounting-allocate-frames-to-a-'
                       r'caller-1)" class="chunk">', book)
    got = results.get(name, [])
    report("search/a-chunk-by-its-name",
           anchor and any(k.startswith("chunk") and h == "#" + anchor.group(1)
                          for k, h in got), f"results {got[:3]}")
    phrase = "Three kinds of reader come here"
    got = results.get(phrase, [])
    report("search/a-phrase-of-the-prose",
           ("section", "#who-it-is-for") in got, f"results {got[:3]}")
    report("search/nothing-found-said",
           status.get("zzqqxx-no-such-word") == "nothing found",
           f"status {status.get('zzqqxx-no-such-word')!r}")


# ---------------------------------------------------------------------------
# The change view of a pair of fixtures (tests/fixtures/review-change/):
# book.sh's script writes "section NUMBER TITLE STATUS" for each section
# the page shows, "chunk NAME STATUS" for each chunk it shows changed,
# "only-moves yes|no", and the page's links that lead nowhere.

def check_change(expected_path, pair, dump_path):
    want, current = [], None
    with open(expected_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"^\[(.*)\]$", line)
            if m:
                current = m.group(1)
            elif current == pair:
                want.append(line)
    with open(dump_path, encoding="utf-8", errors="replace") as f:
        pre = re.search(r'<pre id="change-check">(.*?)</pre>', f.read(), re.S)
    text = html_text(pre.group(1)) if pre else ""
    found = re.search(r"@@change-check\n(.*?)@@end", text, re.S)
    got = [l.replace("\t", "|") for l in found.group(1).split("\n")
           if l] if found else []
    links = [l for l in got if l.startswith("dangling|")]
    got = [l for l in got if not l.startswith("dangling|")]
    for kind in ("section", "chunk", "only-moves"):
        w = [l for l in want if l.startswith(kind + "|")]
        g = [l for l in got if l.startswith(kind + "|")]
        diff = [f"-{l}" for l in w if l not in g] + [f"+{l}" for l in g if l not in w]
        report(f"change/{pair}/{kind}s-as-expected" if kind != "only-moves"
               else f"change/{pair}/only-moves-said-when-so",
               found and w == g, "; ".join(diff) or "order differs"
               if found else "the check script did not run")
    report(f"change/{pair}/links-resolve", found and links == ["dangling|"],
           first(links))


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "structure":
        check_structure(argv[2], argv[3], argv[4])
    elif what == "parts":
        check_parts(argv[2], argv[3], argv[4])
    elif what == "browser":
        check_browser(argv[2], argv[3])
    elif what == "pdf":
        check_pdf(argv[2], argv[3])
    elif what == "png":
        check_png(argv[2], argv[3:])
    elif what == "evidence":
        check_evidence(*argv[2:7])
    elif what == "search":
        check_search(*argv[2:5])
    elif what == "change":
        check_change(*argv[2:5])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

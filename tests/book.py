#!/usr/bin/env python3
"""tests/book.py: the checks of the woven book that need a parser, for
tests/book.sh.  Each prints TAP lines "ok - book/NAME" or
"not ok - book/NAME (why)".

    book.py structure WEB HTML        the book's structure, in the HTML
    book.py browser DUMP              what the browser found (see book.sh)
    book.py pdf WEB PDF               the PDF: text, pages, links, outline
    book.py png NAME FILE...          each PNG shows something (not blank)
"""

import re
import subprocess
import sys
import zlib

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
    chapters = [re.sub(r"\s*\{.*\}$", "", l[2:]).strip()
                for l in lines if l.startswith("# ")]
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
        title = untag(re.sub(r'<span class="header-section-number">.*?</span>',
                             "", h.group(3)))
        out.append(Section(int(h.group(1)), h.group(2), title,
                           html[h.end():end]))
    return out


def check_structure(web, html_path):
    chapters, diagrams, definitions, names, idents = web_facts(web)
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

    # Every chunk definition has its anchor, caption and cross-references.
    chunks = re.findall(r'<div id="(chunk-[^"]*)" class="chunk">(.*?)'
                        r'(?=<div id="chunk-|<h[1-6]\b|$)', body, re.S)
    report("html/every-chunk-has-an-anchor",
           len(chunks) == definitions and definitions > 0,
           f"{len(chunks)} anchored chunks, {definitions} definitions in the web")
    bare = [a for a, c in chunks if 'class="chunk-xref"' not in c]
    report("html/every-chunk-has-cross-references", not bare, first(bare))
    anchored = set(re.findall(r'\bid="(chunk-[^"]*-\d+)"', body))
    report("html/chunk-anchors-are-named-chunk-NAME-K",
           len(anchored) == definitions, f"{len(anchored)} of {definitions}")

    # Navigation: numbered headings, a table of contents linking to each.
    toc = re.search(r'<nav id="TOC".*?</nav>', body, re.S)
    secs = sections(body[toc.end():] if toc else body)
    toc_targets = set(re.findall(r'href="#([^"]*)"', toc.group(0))) if toc else set()
    numbered = [s for s in secs if not s.ident.startswith("weave-index")]
    missing = [s.title for s in numbered if s.ident not in toc_targets]
    report("html/table-of-contents-links-every-chapter-and-section",
           toc is not None and not missing, first(missing))
    unnumbered = [s.title for s in numbered if not re.search(
        rf'id="{re.escape(s.ident)}"[^>]*>\s*<span class="header-section-number">',
        body)]
    report("html/chapters-and-sections-numbered", not unnumbered,
           first(unnumbered))
    h1 = [s.title for s in secs if s.level == 1]
    absent = [c for c in chapters if c not in h1]
    report("html/every-chapter-of-the-web", chapters and not absent,
           first(absent))
    report("html/index-of-chunks",
           "weave-index-of-chunks" in idset and
           len(re.findall(r'<li><a href="#chunk-', body.split(
               'id="weave-index-of-chunks"')[-1].split(
               'id="weave-index-of-identifiers"')[0])) == len(names),
           f"{len(names)} chunk names")
    index = body.split('id="weave-index-of-identifiers"')[-1]
    listed = set(untag(m) for m in re.findall(r"<li><code>(.*?)</code>", index))
    report("html/index-of-identifiers", idents and idents <= listed,
           first(idents - listed))

    # Each section of the ABI chapter says where it is checked, with links
    # to the chunks that check it.
    abi, in_abi = [], False
    for s in secs:
        if s.level == 1:
            in_abi = s.title == "The ABI contract"
        elif in_abi:
            abi.append(s)
    unchecked = []
    for s in abi:
        para = re.search(r"<p>Checked by:(.*?)</p>", s.body, re.S)
        if not para or not re.search(r'href="#chunk-', para.group(1)):
            unchecked.append(s.title)
    report("html/abi-sections-link-to-their-checks", abi and not unchecked,
           first(unchecked) if abi else "no ABI chapter found")

    # Diagrams: each drawn inline, as SVG.
    drawn = re.findall(r'<div id="(fig-[^"]*)" class="diagram">\s*<svg', body)
    report("html/every-diagram-drawn-inline",
           diagrams and sorted(drawn) == sorted(diagrams),
           f"{len(drawn)} SVG figures for {len(diagrams)} diagrams")


# ---------------------------------------------------------------------------
# What the browser found: book.sh loads the book in Chromium with a script
# that walks the DOM and writes its findings into <pre id="book-check">.

def check_browser(dump_path):
    with open(dump_path, encoding="utf-8", errors="replace") as f:
        dump = f.read()
    found = re.search(r'<pre id="book-check">(.*?)</pre>', dump, re.S)
    if not found:
        report("browser/loads-the-book", False, "the check script did not run")
        return
    report("browser/loads-the-book", True)
    facts = dict(re.findall(r"^(\S+) (.*)$", untag_lines(found.group(1)), re.M))
    links, dangling = int(facts.get("links", 0)), facts.get("dangling", "")
    report("browser/every-internal-link-resolves", links > 1000 and not dangling,
           f"{links} links; dangling: {dangling}")
    report("browser/every-diagram-rendered",
           int(facts.get("svgs", 0)) > 0 and facts.get("empty-svgs", "") == "",
           f"{facts.get('svgs')} SVGs; empty: {facts.get('empty-svgs')}")
    report("browser/code-highlighted", int(facts.get("highlighted", 0)) > 100,
           f"{facts.get('highlighted')} highlighted code blocks")


def untag_lines(text):
    return "\n".join(untag(l) for l in text.split("\n"))


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
           "Index of chunks" in flat and "Index of identifiers" in flat)

    # A table of contents at the front: every chapter, with a page number.
    front = typewriter_quotes(pdftotext(pdf, 1, 4))
    missing = [c for c in chapters
               if not re.search(r"^\s*\d+\s+" + re.escape(c).replace(r"\ ", r"\s+")
                                + r"\s+\d+\s*$", front, re.M)
               and not re.search(r"^\s*\d+\s+" + re.escape(c) + r"\s*$", front, re.M)]
    report("pdf/table-of-contents", "Contents" in front and not missing,
           first(missing))

    # Page numbers: the last line of a page's text is its number.
    wrong = []
    for page in sorted({2, 3, pages // 2, pages - 1}):
        lines = [l.strip() for l in pdftotext(pdf, page).split("\n") if l.strip()]
        if not lines or lines[-1] != str(page):
            wrong.append(f"page {page} ends with {lines[-1] if lines else 'nothing'!r}")
    report("pdf/page-numbers", pages > 3 and not wrong, first(wrong))

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
    outline = re.search(rb"/Type\s*/Outlines\s*/First.*?/Count\s+(-?\d+)", blob, re.S)
    entries = abs(int(outline.group(1))) if outline else 0
    report("pdf/has-an-outline", entries >= len(chapters),
           f"{entries} top-level entries for {len(chapters)} chapters")


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


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "structure":
        check_structure(argv[2], argv[3])
    elif what == "browser":
        check_browser(argv[2])
    elif what == "pdf":
        check_pdf(argv[2], argv[3])
    elif what == "png":
        check_png(argv[2], argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

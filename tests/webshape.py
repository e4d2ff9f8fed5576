#!/usr/bin/env python3
"""tests/webshape.py WEB: the shape of the book, as TAP lines (area web).

Reads the web through noweb's own front end (markup), never by parsing the
.nw text for chunks, and checks what chapter 1 and the issue of the book's
shape promise a reader:

  chunk-prefixes-documented   every chunk is a root of the map of roots, or
                              its name starts with a prefix of chapter 1's
                              table of prefixes (test-NAME: only for a test
                              root test-NAME.c of the map);
  service-loop-private-state  no chunk of the service loop (service: ...)
                              names the accounting's state, memd_acct or
                              memd_links: it asks the accounting's functions;
  part-one-test-code          Part I (from its heading to Part II's) holds at
                              most 400 lines of code that ends up in no file
                              of the image (memd-abi.h, memd-core.h,
                              memd-core.c, memd-image.c);
  shape-comes-first           the core's header, its entry points and
                              memd_main are defined before the chapters
                              Startup, Frame accounting and The service loop.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

IMAGE_ROOTS = {"memd-abi.h", "memd-core.h", "memd-core.c", "memd-image.c"}
PART_ONE_TEST_LINES_MAX = 400


def report(name, ok, why=""):
    print(f"{'ok' if ok else 'not ok'} - web/{name}" + ("" if ok else f" ({why})"))


def read_chunks(web):
    """Chunks in document order: dicts with name, line (of the web), the code
    lines' texts and the names of the chunks each uses.  Also the web's
    headings outside code, with their lines."""
    lib = os.environ.get("NOWEB_LIB", "/usr/lib/noweb")
    out = subprocess.run([os.path.join(lib, "markup"), web], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    chunks, headings = [], []
    line, kind, cur, text = 1, None, None, ""
    for raw in out.split("\n"):
        key, _, arg = raw.partition(" ")
        if key == "@begin":
            kind = arg.split()[0]
        elif key == "@defn":
            cur = {"name": arg, "line": line, "code": [], "uses": []}
        elif key == "@use" and cur is not None:
            cur["uses"].append(arg)
            text += f"<<{arg}>>"
        elif key == "@text":
            text += arg
        elif key == "@quote" or key == "@endquote":
            pass
        elif key == "@nl":
            if kind == "code" and cur is not None:
                cur["code"].append(text)
            elif kind == "docs" and re.match(r"#{1,6} ", text):
                headings.append((line, text))
            text = ""
            line += 1
        elif key == "@end":
            if kind == "code" and cur is not None:
                chunks.append(cur)
            kind, cur, text = None, None, ""
    return chunks, headings


def main(web):
    source = open(web, encoding="utf-8").read()
    chunks, headings = read_chunks(web)
    roots_of_map = set(re.findall(r"^\| `([^`]*)` \| `build/[^`]*` \|", source, re.M))
    prefixes = set(re.findall(r"^\| `([^`]*):` \|", source, re.M))

    # 1. Prefixes.
    bad = []
    for c in chunks:
        name = c["name"]
        if name in roots_of_map:
            continue
        prefix = name.split(":", 1)[0] if ":" in name else None
        if prefix is None:
            bad.append(name)
        elif prefix.startswith("test-"):
            if "test-NAME" not in prefixes or f"{prefix}.c" not in roots_of_map:
                bad.append(name)
        elif prefix not in prefixes:
            bad.append(name)
    bad = sorted(set(bad))
    report("chunk-prefixes-documented", not bad and len(prefixes) >= 5,
           f"{len(bad)} undocumented: " + "; ".join(bad[:5]) if bad
           else "chapter 1's table of prefixes not found")

    # 2. The service loop keeps out of the accounting's state.
    touching = [c["name"] for c in chunks if c["name"].startswith("service:")
                and any(re.search(r"\bmemd_(acct|links)\b", l) for l in c["code"])]
    service = [c for c in chunks if c["name"].startswith("service:")]
    report("service-loop-private-state", service and not touching,
           "no service: chunk found" if not service
           else "reads memd_acct or memd_links: " + "; ".join(sorted(set(touching))))

    # 3. Test code in Part I.
    users = defaultdict(set)
    for c in chunks:
        for u in c["uses"]:
            users[u].add(c["name"])

    def roots(name, seen=()):
        if not users[name]:
            return {name}
        found = set()
        for u in users[name]:
            if u not in seen:
                found |= roots(u, seen + (name,))
        return found

    part = [l for l, h in headings if re.match(r"# Part I:", h)]
    part2 = [l for l, h in headings if re.match(r"# Part II:", h)]
    if not part or not part2:
        report("part-one-test-code", False, "the headings of Part I and Part II not found")
    else:
        lines = sum(len(c["code"]) for c in chunks
                    if part[0] < c["line"] < part2[0]
                    and not roots(c["name"]) & IMAGE_ROOTS)
        report("part-one-test-code", lines <= PART_ONE_TEST_LINES_MAX,
               f"{lines} lines of test code in Part I, more than {PART_ONE_TEST_LINES_MAX}")
        print(f"# Part I holds {lines} lines of test code")

    # 4. The shape before the parts.
    first = {}
    for c in chunks:
        first.setdefault(c["name"], c["line"])
    chapter = {h[2:].strip(): l for l, h in headings if h.startswith("# ")}
    needed = ["memd-core.h", "core: entry points",
              "core: start, report, then serve forever (memd_main)"]
    later = [chapter.get(n) for n in ("Startup", "Frame accounting", "The service loop")]
    ok = all(n in first for n in needed) and all(later)
    report("shape-comes-first",
           ok and max(first[n] for n in needed) < min(later),
           "a chunk or a chapter is missing" if not ok
           else "the core's header, entry points or memd_main come after a part of the core")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "memd.nw")

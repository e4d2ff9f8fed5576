#!/usr/bin/env bash
# tests/book.sh: the woven book, checked the way a reader uses it.
#
#   - weave has nothing to warn about (no dangling link, no ⟨name⟩ in the
#     prose that is no chunk's, no duplicate anchor, no diagram dot frowns on);
#   - the HTML's structure: every internal link resolves, every chunk has
#     its anchor, its label and its cross-references in its header, every
#     use of an identifier or a chunk in the code is a link to its
#     definition, every chapter and section is numbered and in the table of
#     contents, the four indexes are complete and a function's entry leads
#     to its body, every section of the ABI chapter links to the chunks
#     that check it, every diagram is drawn inline and its nodes link to
#     the chunks that define what they name (tests/book.py);
#   - parts: a small web with two parts, woven, has them as parts in the
#     HTML and the PDF, chapters numbered across them;
#   - the HTML in a browser: headless Chromium loads it, a script walks the
#     DOM, follows every internal link and clicks links in the code, and
#     screenshots of the first page, of a code-heavy page and of the index
#     are saved in build/book-shots/ and must show something;
#   - the PDF: pages, page numbers, a table of contents, every chapter
#     title, every figure, an outline, every internal link resolving, the
#     page of every cross-reference; its first page and a code-heavy page
#     rendered by pdftoppm;
#   - `make review`: one file per root, the prose as comments, and the same
#     object code as the tangled file;
#   - the evidence beside each chunk (weave --evidence, make book-evidence):
#     the marks the browser shows against make coverage's report, the
#     lines the cases ran those the whole run runs, the image's code
#     marked as run on the image; an opened mark names real test cases;
#   - search, in the browser: an identifier from #search=NAME, a chunk by
#     its name, a phrase of the prose, nothing found said so;
#   - the change view of two changes kept as fixtures, in the browser:
#     exactly the sections and chunks expected, a pure move said to be one.
set -u
AREA=book
. "$(dirname "$0")/lib.sh"

WEB=memd.nw
HTML=$BUILD/memd.html
PDF=$BUILD/memd.pdf
SHOTS=$BUILD/book-shots
PY="python3 tests/book.py"
mkdir -p "$SHOTS"
here() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

if [ ! -f "$HTML" ] || [ ! -f "$PDF" ]; then
    fail book-built "$HTML or $PDF missing: run make first"
    exit 1
fi

# weave, once more, into a scratch directory: it must not warn.
if ./weave --html-only "$WEB" "$SCRATCH/weave" > "$SCRATCH/weave.out" 2> "$SCRATCH/weave.err"; then
    if [ -s "$SCRATCH/weave.err" ]; then
        fail weave-warns-about-nothing "$(head -3 "$SCRATCH/weave.err" | tr '\n' ' ')"
    else
        pass weave-warns-about-nothing
    fi
else
    fail weave-warns-about-nothing "weave failed: $(tail -1 "$SCRATCH/weave.err")"
fi

# The HTML's structure.
$PY structure "$WEB" "$HTML" "$BUILD"

# Parts, in a small web of two parts (memd.nw need not have any).
mkdir -p "$SCRATCH/parts"
cat > "$SCRATCH/parts/parts.nw" <<'EOF'
# Before the parts

The function ⟨parts: add, clamped⟩ is the program.

# Part I: The program {#part-program .part}

# The program

<<memd-core.c>>=
/* A "sample" with \backslashes, {braces} & <angles> → ⟨x⟩ */
<<parts: add, clamped>>
@

<<parts: add, clamped>>=
int parts_add(int a, int b) { return a + b > 9 ? 9 : a + b; }
@ %def parts_add

# Part II: How it is checked {#part-checks .part}

# The tests

<<test-parts.c>>=
int main(void) { return parts_add(4, 2) == 6 ? 0 : 1; }
@
EOF
if ./weave "$SCRATCH/parts/parts.nw" "$SCRATCH/parts" > "$SCRATCH/parts/weave.out" 2>&1; then
    $PY parts "$SCRATCH/parts/parts.nw" "$SCRATCH/parts/parts.html" "$SCRATCH/parts/parts.pdf"
else
    fail parts/weave "$(tail -2 "$SCRATCH/parts/weave.out" | tr '\n' ' ')"
fi

# The HTML in a browser.  Chromium as a reader's browser, but headless,
# with a fresh profile and nothing that reaches the network (and, for
# containers whose /dev/shm is small, its shared memory in /tmp).
browser() {  # browser OUTPUT-OPTION... PAGE
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update \
        --disable-sync --disable-dev-shm-usage \
        --user-data-dir="$SCRATCH/chromium-profile-$RANDOM" \
        "$@" 2> "$SCRATCH/chromium.err"
}
if ! command -v chromium > /dev/null 2>&1; then
    fail browser/chromium-installed "chromium not found (Debian package chromium; run make)"
else
    # A copy of the page with a script at the end of its body: the script
    # follows every internal link the way a click would (by id), checks
    # that every diagram has a size on screen, counts styled code, clicks
    # links in the code (some fifty, spread over the book) and notes where
    # each one lands, and writes what it found into the page, which
    # --dump-dom prints.
    python3 - "$HTML" "$SCRATCH/checked.html" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = r"""<script>
(function () {
  var links = document.querySelectorAll("a"), n = 0, dangling = [];
  for (var i = 0; i < links.length; i++) {
    var href = links[i].getAttribute("href") || links[i].getAttribute("xlink:href");
    if (!href || href.charAt(0) !== "#") continue;
    n++;
    if (!document.getElementById(decodeURIComponent(href.slice(1))))
      dangling.push(href);
  }
  var svgs = document.querySelectorAll("div.diagram svg"), empty = [];
  for (var k = 0; k < svgs.length; k++) {
    var box = svgs[k].getBoundingClientRect();
    if (box.width < 50 || box.height < 20) empty.push(svgs[k].parentNode.id);
  }
  var clicks = [], code = document.querySelectorAll("pre.code a");
  var uses = document.querySelectorAll("pre.code a.chunk-use");
  var picked = [];
  for (var j = 0; j < code.length; j += Math.max(1, Math.floor(code.length / 40)))
    picked.push(code[j]);
  for (var j = 0; j < uses.length; j += Math.max(1, Math.floor(uses.length / 10)))
    picked.push(uses[j]);
  for (var j = 0; j < picked.length; j++) {
    var a = picked[j];
    a.click();
    var hash = decodeURIComponent(location.hash.slice(1));
    var t = document.getElementById(hash);
    var top = t ? Math.round(t.getBoundingClientRect().top) : -9999;
    clicks.push(["click", a.className || "ident", a.textContent.replace(/\s+/g, " "),
                 a.closest("div.chunk").id, a.getAttribute("href").slice(1), hash,
                 t ? t.tagName.toLowerCase() + "." + t.className : "none",
                 top >= -2 && top < window.innerHeight ? "visible" : "off-screen " + top
                ].join("\t"));
  }
  // The evidence beside each chunk, as a reader sees it: the marks, and
  // the lines the opened marks say no test ran; one chunk's marks opened,
  // and the names of the test cases it then shows.
  var ev = [], all = document.querySelectorAll("div.chunk"), opened = "";
  for (var e = 0; e < all.length; e++) {
    var d = all[e].querySelector("details.evidence");
    if (!d) { ev.push("ev\t" + all[e].id + "\t-\t"); continue; }
    var summary = d.querySelector("summary").textContent.replace(/\s+/g, " ").trim();
    var p = d.querySelector(".ev-body p"), said = p ? p.textContent : "";
    var at = said.search(/Not run:|Never reached:/), unrun = [], m;
    var re = /\bline (\d+)\b/g;
    if (at >= 0) { said = said.slice(at); while ((m = re.exec(said))) unrun.push(m[1]); }
    ev.push(["ev", all[e].id, summary, unrun.join(",")].join("\t"));
    if (!opened && d.querySelector(".ev-who:not([data-indices=''])")) {
      d.open = true;
      d.dispatchEvent(new Event("toggle"));
      var names = [], li = d.querySelectorAll("ul.ev-names li");
      for (var k = 0; k < li.length; k++) {
        var area = li[k].querySelector("b").textContent;
        li[k].textContent.slice(area.length + 2).split(", ").forEach(function (c) {
          names.push(area + "/" + c);
        });
      }
      opened = "evnames\t" + all[e].id + "\t" + names.join(",");
    }
  }
  var out = document.createElement("pre");
  out.id = "book-check";
  out.textContent = "links " + n + "\ndangling " + dangling.slice(0, 5).join(" ") +
    "\nsvgs " + svgs.length + "\nempty-svgs " + empty.join(" ") +
    "\nstyled " + document.querySelectorAll("pre.code span.co").length +
    "\n" + clicks.join("\n") + "\n" + ev.join("\n") + "\n" + opened + "\n";
  document.body.appendChild(out);
})();
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
    browser --dump-dom "file://$SCRATCH/checked.html" > "$SCRATCH/dom.html"
    $PY browser "$WEB" "$SCRATCH/dom.html"

    # The evidence marks against the coverage report: make coverage's own
    # report (tests/coverage, over the programs make book-evidence built).
    names=${TEST_NAMES:-$(sed -n 's/^| `test-\([^`]*\)\.c` |.*/\1/p' "$WEB")}
    if [ ! -s "$BUILD/evidence.json" ]; then
        fail evidence/measured "no $BUILD/evidence.json: make book-evidence (make test makes it)"
    elif ! tests/coverage "$BUILD/cov" $names > "$SCRATCH/coverage.out" 2>&1; then
        fail evidence/coverage-report "tests/coverage failed: $(tail -1 "$SCRATCH/coverage.out")"
    else
        $PY evidence "$WEB" "$SCRATCH/dom.html" "$BUILD/cov/memd.nw.gcov" \
            "$SCRATCH/coverage.out" "$BUILD/evidence.json"
    fi

    # Search: the book opened at #search=WORDS, then other queries typed
    # (Enter runs one at once); the first results of each written out.
    python3 - "$HTML" "$SCRATCH/search.html" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = r"""<script>
(function () {
  var lines = [];
  function results(q) {
    var li = document.querySelectorAll("#weave-search-results li");
    for (var i = 0; i < li.length && i < 8; i++)
      lines.push(["q", q, li[i].querySelector(".weave-search-kind").textContent,
                  li[i].querySelector("a").getAttribute("href")].join("\t"));
    lines.push(["status", q, document.getElementById("weave-search-status").textContent].join("\t"));
  }
  results(decodeURIComponent(location.hash.slice("#search=".length)));
  var input = document.getElementById("weave-search-input");
  ["accounting: allocate frames to a caller", "Three kinds of reader come here",
   "zzqqxx-no-such-word"].forEach(function (q) {
    input.value = q;
    input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter"}));
    results(q);
  });
  var out = document.createElement("pre");
  out.id = "search-check";
  out.textContent = lines.join("\n") + "\n";
  document.body.appendChild(out);
})();
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
    browser --dump-dom "file://$SCRATCH/search.html#search=memd_frames_alloc" > "$SCRATCH/search-dom.html"
    $PY search "$WEB" "$HTML" "$SCRATCH/search-dom.html"

    # Screenshots.  A URL's #fragment is not scrolled to before headless
    # Chromium takes its picture, and a scrolled page comes out blank; so a
    # page that starts at ANCHOR is a copy of the book in which everything
    # before ANCHOR is removed (the table of contents stays), which puts it
    # at the top of the window.  The code-heavy page starts at the chunk
    # that holds memd_alloc_checked_in_order's body (where its index entry
    # leads); the index page at the index of memd's identifiers.
    page_from() {  # page_from ANCHOR OUTPUT
        python3 - "$HTML" "$2" "$1" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = """<script>
(function () {
  var target = document.getElementById("%s");
  for (var n = target; n && n !== document.body; n = n.parentNode)
    for (var p = n.previousSibling; p; ) {
      var before = p.previousSibling;
      if (p.id !== "TOC")
        p.parentNode.removeChild(p);
      p = before;
    }
})();
</script>""" % sys.argv[3]
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
    }
    anchor=$(grep -o '<li id="index-memd_alloc_checked_in_order"><code><a href="#[^"]*"' "$HTML" |
             sed 's/.*href="#//; s/"$//')
    page_from "$anchor" "$SCRATCH/code-page.html"
    page_from weave-index-program-identifiers "$SCRATCH/index-page.html"
    rm -f "$SHOTS"/html-*.png
    browser --window-size=1280,1600 --screenshot="$(here "$SHOTS")/html-first-page.png" \
        "file://$(here "$HTML")" > /dev/null
    browser --window-size=1280,1600 --screenshot="$(here "$SHOTS")/html-code-page.png" \
        "file://$SCRATCH/code-page.html" > /dev/null
    browser --window-size=1280,1600 --screenshot="$(here "$SHOTS")/html-index-page.png" \
        "file://$SCRATCH/index-page.html" > /dev/null
    # The same code page, its first chunk's evidence opened and a search
    # typed into the box.
    python3 - "$SCRATCH/code-page.html" "$SCRATCH/evidence-page.html" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = """<script>
(function () {
  var d = document.querySelector("div.chunk details.evidence");
  if (d) { d.open = true; d.dispatchEvent(new Event("toggle")); }
  var input = document.getElementById("weave-search-input");
  input.value = "budget";
  input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter"}));
  window.scrollTo(0, 0);
})();
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
    browser --window-size=1280,1600 --screenshot="$(here "$SHOTS")/html-evidence-and-search.png" \
        "file://$SCRATCH/evidence-page.html" > /dev/null
    [ -n "$anchor" ] || fail browser/code-page-anchor "no index entry for memd_alloc_checked_in_order"
    $PY png browser "$SHOTS/html-first-page.png" "$SHOTS/html-code-page.png" \
        "$SHOTS/html-index-page.png" "$SHOTS/html-evidence-and-search.png"

    # The change view (tests/review-change.py) of two changes of a small
    # book kept in tests/fixtures/review-change/: base.nw to change.nw
    # (prose and code changed, sections added, removed, renamed and
    # moved) and base.nw to moved.nw (moves only).  In the browser, the
    # sections and chunks the page shows, in order, with their status,
    # are exactly those the fixtures' file `expected` lists; the page says
    # when a change only moves text; its links lead somewhere.
    FIX=tests/fixtures/review-change
    rm -f "$SHOTS"/change-*.png
    for pair in change moved; do
        if ! python3 tests/review-change.py --old "$FIX/base.nw" --new "$FIX/$pair.nw" \
                --out "$SCRATCH/change-$pair.html" > "$SCRATCH/change-$pair.out" 2>&1; then
            fail "change/$pair/made" "$(tail -1 "$SCRATCH/change-$pair.out")"
            continue
        fi
        python3 - "$SCRATCH/change-$pair.html" "$SCRATCH/change-$pair-checked.html" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = r"""<script>
(function () {
  var out = ["@@change-check"];
  document.querySelectorAll("section.rc-section").forEach(function (s) {
    out.push(["section", s.dataset.number, s.dataset.title, s.dataset.status].join("\t"));
  });
  document.querySelectorAll(".rc-chunk").forEach(function (c) {
    if (c.dataset.status !== "equal")
      out.push(["chunk", c.dataset.name, c.dataset.status].join("\t"));
  });
  var banner = document.querySelector(".rc-only-moves");
  out.push("only-moves\t" + (banner && /only moves text/.test(banner.textContent) ? "yes" : "no"));
  var dangling = [];
  document.querySelectorAll("a[href^='#']").forEach(function (a) {
    if (!document.getElementById(a.getAttribute("href").slice(1)))
      dangling.push(a.getAttribute("href"));
  });
  out.push("dangling\t" + dangling.slice(0, 5).join(" "));
  out.push("@@end");
  var pre = document.createElement("pre");
  pre.id = "change-check";
  pre.textContent = out.join("\n") + "\n";
  document.body.appendChild(pre);
})();
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
        browser --dump-dom "file://$SCRATCH/change-$pair-checked.html" > "$SCRATCH/change-$pair-dom.html"
        $PY change "$FIX/expected" "$pair" "$SCRATCH/change-$pair-dom.html"
        browser --window-size=1400,2000 --screenshot="$(here "$SHOTS")/change-$pair.png" \
            "file://$SCRATCH/change-$pair.html" > /dev/null
    done
    $PY png change "$SHOTS"/change-*.png
fi

# The PDF.
$PY pdf "$WEB" "$PDF"
code_page=$(for p in $(seq 30 150); do
    if pdftotext -f "$p" -l "$p" "$PDF" - 2>/dev/null |
       grep -q 'uint32_t memd_alloc_checked_in_order(uint32_t who'; then
        echo "$p"; break
    fi
done)
rm -f "$SHOTS"/pdf-*.png
pdftoppm -f 1 -l 1 -r 80 -png "$PDF" "$SHOTS/pdf-first-page" &&
    pdftoppm -f "${code_page:-60}" -l "${code_page:-60}" -r 80 -png "$PDF" "$SHOTS/pdf-code-page"
$PY png pdf "$SHOTS"/pdf-first-page*.png "$SHOTS"/pdf-code-page*.png

# make review.
if make --no-print-directory -s review BUILD="$BUILD" > "$SCRATCH/review.out" 2>&1; then
    missing=""
    for root in $(sed -n 's/^| `\([^`]*\)` | `build\/[^`]*` |.*/\1/p' "$WEB"); do
        [ -s "$BUILD/review/$root" ] || missing="$missing $root"
    done
    [ -z "$missing" ] && pass review/one-file-per-root || fail review/one-file-per-root "missing:$missing"
    # The prose is there as comments: every section heading of the core's
    # chapters that precedes code of memd-core.c.
    if grep -q '^/\* ## Allocating' "$BUILD/review/memd-core.c" &&
       grep -q '^/\* memd checks a request in one fixed order' "$BUILD/review/memd-core.c"; then
        pass review/prose-as-comments
    else
        fail review/prose-as-comments "build/review/memd-core.c lacks the prose"
    fi
    # The review copy is the same program: compiled alike, the same object.
    TOP=$(pwd)
    for f in memd-core.c memd-image.c memd-host.c; do
        (cd "$BUILD" && ${CC:-gcc} -std=c11 -O2 -g0 -w -ffreestanding -I. -I"$TOP/tests" \
            -c "$f" -o "$SCRATCH/tangled-$f.o") 2> "$SCRATCH/cc.err" &&
        (cd "$BUILD/review" && ${CC:-gcc} -std=c11 -O2 -g0 -w -ffreestanding -I. -I"$TOP/tests" -c "$f" \
            -o "$SCRATCH/review-$f.o") 2>> "$SCRATCH/cc.err"
        if cmp -s "$SCRATCH/tangled-$f.o" "$SCRATCH/review-$f.o"; then
            pass "review/$f-same-object-code"
        else
            fail "review/$f-same-object-code" "$(head -2 "$SCRATCH/cc.err" | tr '\n' ' ')"
        fi
    done
else
    fail review/make-review "$(tail -3 "$SCRATCH/review.out" | tr '\n' ' ')"
fi

#!/usr/bin/env bash
# tests/web.sh: the web itself: its roots, tangling and weaving.
set -u
AREA=web
. "$(dirname "$0")/lib.sh"

# The roots noweb finds are exactly the roots the book's map lists.
sed -n 's/^| `\([^`]*\)` | `build\/[^`]*` |.*/\1/p' memd.nw | LC_ALL=C sort > "$SCRATCH/map"
noroots memd.nw | sed -n 's/^<<\(.*\)>>$/\1/p' | LC_ALL=C sort > "$SCRATCH/roots"
if [ -s "$SCRATCH/map" ] && cmp -s "$SCRATCH/map" "$SCRATCH/roots"; then
    pass noroots-equals-map
else
    fail noroots-equals-map "$(diff "$SCRATCH/map" "$SCRATCH/roots" | tr '\n' ' ')"
fi

# Tangling twice gives identical files.
./tangle memd.nw "$SCRATCH/t1" >/dev/null && ./tangle memd.nw "$SCRATCH/t2" >/dev/null
expect tangle-twice-identical diff -r "$SCRATCH/t1" "$SCRATCH/t2"

# What tangle writes is what make built from.
ok=1
for f in "$SCRATCH"/t1/*; do
    cmp -s "$f" "$BUILD/$(basename "$f")" || ok=0
done
[ $ok = 1 ] && pass build-is-current-tangle || fail build-is-current-tangle "build/ differs from a fresh tangle"

# A scratch copy of the web, for edits that must be caught.
scratch_web() {  # scratch_web DIR: copy the web and tangle into DIR
    rm -rf "$1"; mkdir -p "$1"
    cp memd.nw tangle "$1/"
}

# A use of an undefined chunk fails the tangle and leaves old files alone.
scratch_web "$SCRATCH/u"
(cd "$SCRATCH/u" && ./tangle >/dev/null 2>&1)
cp "$SCRATCH/u/build/memd-core.c" "$SCRATCH/u/core.before"
awk '{ print } /^<<memd-core.c>>=$/ { print "<<a chunk nobody defined>>" }' \
    memd.nw > "$SCRATCH/u/memd.nw"
if (cd "$SCRATCH/u" && ./tangle >/dev/null 2>&1); then
    fail undefined-chunk-fails "tangle succeeded"
elif cmp -s "$SCRATCH/u/core.before" "$SCRATCH/u/build/memd-core.c"; then
    pass undefined-chunk-fails
else
    fail undefined-chunk-fails "the old file was overwritten"
fi

# A misspelled chunk definition (a root nobody listed) fails the tangle.
scratch_web "$SCRATCH/m"
printf '\n<<memd-core.c: a misspelled chunk>>=\nint x;\n@\n' >> "$SCRATCH/m/memd.nw"
if (cd "$SCRATCH/m" && ./tangle >/dev/null 2>&1); then
    fail unexpected-root-fails "tangle succeeded"
else
    pass unexpected-root-fails
fi

# A prose-only edit rewrites no tangled file: their mtimes stay.
scratch_web "$SCRATCH/p"
(cd "$SCRATCH/p" && ./tangle >/dev/null)
stat -c '%n %.9Y' "$SCRATCH"/p/build/* > "$SCRATCH/p/mtimes.before"
sleep 1
sed -i '0,/^This book \*is\* memd\./s//This book *is* memd, and only memd./' "$SCRATCH/p/memd.nw"
if cmp -s memd.nw "$SCRATCH/p/memd.nw"; then
    fail prose-edit-keeps-mtimes "the prose edit did not apply"
else
    (cd "$SCRATCH/p" && ./tangle >/dev/null)
    stat -c '%n %.9Y' "$SCRATCH"/p/build/* > "$SCRATCH/p/mtimes.after"
    expect prose-edit-keeps-mtimes cmp "$SCRATCH/p/mtimes.before" "$SCRATCH/p/mtimes.after"
fi

# Weaving again gives the same bytes, HTML and PDF.  A book woven before
# its last change (make's stamp build/.woven older than memd.nw or weave,
# or than the evidence or proofs woven into it; weave rewrites an output
# only when its bytes change, so the stamp, not the outputs' times, says
# when it last ran) is stale, and said to be so.  The weave here is given
# the evidence and proofs make gives it: those in build/, if there.
stale="" evidence=()
for f in "$BUILD/evidence.json" "$BUILD/prove.json"; do
    [ -f "$f" ] || continue
    case $f in *evidence.json) evidence+=(--evidence "$f") ;; *) evidence+=(--proofs "$f") ;; esac
    [ -f "$BUILD/.woven" ] && [ "$f" -nt "$BUILD/.woven" ] &&
        stale="build/memd.html and build/memd.pdf were woven before $f was written (run make)"
done
if [ ! -f "$BUILD/.woven" ] || [ memd.nw -nt "$BUILD/.woven" ] || [ weave -nt "$BUILD/.woven" ]; then
    stale="build/memd.html and build/memd.pdf were woven before the last change of memd.nw or weave (run make)"
fi
if [ -n "$stale" ]; then
    fail weave-html-reproducible "the book is stale: $stale"
    fail weave-pdf-reproducible "the book is stale: $stale"
elif ./weave "${evidence[@]}" memd.nw "$SCRATCH/w" >/dev/null 2>&1; then
    expect weave-html-reproducible cmp "$SCRATCH/w/memd.html" "$BUILD/memd.html"
    expect weave-pdf-reproducible cmp "$SCRATCH/w/memd.pdf" "$BUILD/memd.pdf"
else
    fail weave-html-reproducible "weave failed"
    fail weave-pdf-reproducible "weave failed"
fi

# The book holds every chapter, in HTML and in the PDF's text.
pdftotext -layout "$BUILD/memd.pdf" "$SCRATCH/book.txt" 2>/dev/null
for chapter in "How to read this book" "The shape of memd" "The ABI contract" \
               "Startup" "Frame accounting" "The service loop" "The platform" \
               "How memd is checked"; do
    slug=$(echo "$chapter" | tr 'A-Z ' 'a-z-')
    if grep -q ">[0-9. ]*$chapter<\|>$chapter<" "$BUILD/memd.html" &&
       grep -q "$chapter" "$SCRATCH/book.txt"; then
        pass "book-has-chapter/$slug"
    else
        fail "book-has-chapter/$slug"
    fi
done

# The shape of the book, read with noweb's own front end (tests/webshape.py):
# every chunk name has a prefix chapter 1 documents, or is a root; the
# service loop's chunks never touch the accounting's state; Part I holds
# at most 400 lines of test code; the core's header, its entry points and
# memd_main come before the parts of the core that they tie together.
python3 tests/webshape.py memd.nw

# Nothing tangled is committed; no C outside tests/.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    stray=$(git ls-files '*.c' '*.h' '*.s' '*.S' build | grep -v '^tests/')
    [ -z "$stray" ] && pass no-tangled-files-committed || fail no-tangled-files-committed "$stray"
fi

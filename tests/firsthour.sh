#!/usr/bin/env bash
# tests/firsthour.sh: chapter "A first hour with memd", held to the build.
#
# The chapter shows a newcomer what the build does: the trace of `make run`
# and what its prose reads in it, an edit of the demo scenario and the
# failure it brings, a line of `make test`'s output and the order of its
# areas, and three deliberate breakages of memd.nw with what catches each.
# This area reads all of that from memd.nw as it runs, and compares it with
# what really happens: the book is the expectation, the build the reality.
# No number the chapter states is written here.  The chapter is found by
# its heading, its excerpts by their fences, its numbers by the sentences
# that state them, matched in the prose with its line breaks taken out:
# moving the chapter in the book, or reflowing its paragraphs, changes
# nothing here; rewording a sentence this area reads fails the case that
# reads it, saying which sentence it looked for.
#
# Numbers the prose spells out are read by number_in below: "one" to
# "twenty" are exact; "a dozen", the book's round number, is 10 to 14
# inclusive; "most of" N means more than half of N.
#
# The cases, in order: run/... the trace of `make run` (the excerpt, line
# for line, and each number the prose reads in it); demo-edit/... the edit
# of tests/scenarios/demo.scn the chapter suggests, made in a copy;
# make-test/... the quoted line of make test's output, with its number,
# the table of areas in the order tests/run runs them, and the table's
# figures; breakage/NAME/... each deliberate breakage: made as shown, then
# what the chapter says happens (the compiler's message and the line it
# names, or how many cases fail, each case it names, and the messages,
# bytes and steps it quotes).
#
# make-test/... read this very run's stream (tests/run exports it as
# TAP_STREAM), so they need every area to run before this one, last, as
# in make test; when tests/run runs only some areas, they are skipped.
#
# The breakages are made in scratch copies of the tree (memd.nw changed as
# the chapter says; Makefile, tangle and tests/ as they are), built by the
# Makefile's own rules, flags and `test` prerequisites, and tested by the
# copy's tests/run with the environment make test gives it, both copies at
# once (about two minutes on two cores).  "N cases fail" counts what make
# test would report failed, with two exceptions, counted as passing: the
# areas web and book (TESTS_SKIP), which check the web as a document
# (tangling, weaving, links, the PDF), cannot see the value of a C
# expression inside a chunk, and cost three minutes; and valgrind's
# memcheck itself: the valgrind area runs with a stand-in for valgrind
# that runs each unsanitized program natively, so that a valgrind case
# fails when its program exits non-zero, as a broken accounting makes it
# do (the sanitized runs of the same programs report memory errors).
set -u
AREA=firsthour
. "$(dirname "$0")/lib.sh"
WEB=memd.nw
KMODEL=${KMODEL:-$BUILD/kmodel}
IMAGE=${IMAGE:-$BUILD/memd}
DEMO=tests/scenarios/demo.scn

# number_in TEXT: the number TEXT spells, as "LOW HIGH"; nothing if none.
number_in() {
    local t
    t=$(echo "$1" | tr 'A-Z' 'a-z' | sed 's/^ *//; s/ *$//; s/[  ]//g')
    case $t in
        [0-9]*) [[ $t =~ ^[0-9]+$ ]] && echo "$t $t" ;;
        adozen) echo "10 14" ;;
        *) local i=0 w
           for w in zero one two three four five six seven eight nine ten eleven twelve \
                    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty; do
               [ "$w" = "$t" ] && { echo "$i $i"; return; }
               i=$((i + 1))
           done ;;
    esac
}
# within N TEXT: N is the number TEXT spells.
within() {
    local range
    range=$(number_in "$2")
    [ -n "$range" ] && [ "$1" -ge "${range% *}" ] && [ "$1" -le "${range#* }" ]
}

# What this area runs, built if missing (make test builds it all first).
for f in "$IMAGE" "$KMODEL"; do
    [ -e "$f" ] || make -s "$f" > "$SCRATCH/build.log" 2>&1 ||
        { fail built "cannot build $f: $(tail -1 "$SCRATCH/build.log")"; exit 1; }
done

# ---------------------------------------------------------------------------
# The chapter.  From its heading to the next heading of a chapter (a line
# "# ..." outside fences and code chunks), into ch/: prose, the chapter's
# text on one line, each fenced block replaced by "⟦block K⟧" and each
# heading kept as "⟦heading TEXT⟧"; block.K, each block's lines; info.K,
# what follows its opening fence; text, the chapter's lines as they are.
CH=$SCRATCH/ch
mkdir -p "$CH"
awk -v dir="$CH" '
    function out(s) { prose = prose " " s }
    on && !fence && !chunk && /^# / { exit }
    on { print > (dir "/text") }
    /^<<.*>>=$/ && !fence { chunk = 1 }
    chunk { if (/^@( |$)/) chunk = 0; if (on) out("⟦chunk⟧"); next }
    /^```/ {
        fence = !fence
        if (on && fence) { k++; print substr($0, 4) > (dir "/info." k); printf "" > (dir "/block." k); out("⟦block " k "⟧") }
        next
    }
    fence { if (on) print > (dir "/block." k); next }
    /^# / { if (on) exit; if ($0 ~ /^# A first hour with memd *($|\{)/) { on = 1; print > (dir "/text") } }
    on && /^#+ / { out("⟦heading " $0 "⟧"); next }
    on { out($0) }
    END { gsub(/[ \t]+/, " ", prose); print prose > (dir "/prose") }
' "$WEB"
if ! grep -q '⟦heading # A first hour with memd' "$CH/prose" 2>/dev/null; then
    fail chapter-found "memd.nw has no chapter headed '# A first hour with memd'"
    exit 1
fi
PROSE=$(cat "$CH/prose")
# said REGEX: the first stretch of the chapter's prose that REGEX (ERE) matches.
said() { grep -oE -m1 "$1" <<< "$PROSE" | head -1; }
# block_with REGEX: the number of the first block with a line matching REGEX.
block_with() {
    local f
    for f in $(ls "$CH"/block.* 2>/dev/null | sort -t. -k2 -n); do
        grep -qE "$1" "$f" && { echo "${f##*.}"; return; }
    done
}
# between FROM TO: the prose from the first FROM (a fixed string) to the
# first TO (an ERE) after it, or to the end.
between() {
    local rest=${PROSE#*"$1"}
    [ "$rest" = "$PROSE" ] && return
    echo "$1$(echo "$rest" | RE=$2 awk '{ if (match($0, ENVIRON["RE"])) print substr($0, 1, RSTART - 1); else print }')"
}
# short TEXT: TEXT cut to 160 characters, for a message.
short() { local s="$1"; [ ${#s} -gt 160 ] && s="${s:0:157}..."; echo "$s"; }

# ---------------------------------------------------------------------------
# `make run`: the trace the chapter shows, line for line.  The excerpt is
# the fenced block that ends the run (a line "PASS ..."); the book abridges
# it with "...": within a line, "..." stands for any text (so a line ending
# in "..." is a prefix); a line that is only "...", or "..." and a remark,
# stands for lines left out.  Every other line must be a line of the real
# trace, whole, and in the excerpt's order.
make -s --no-print-directory run > "$SCRATCH/run.trace" 2>&1
run_rc=$?
TRACE=$SCRATCH/run.trace
k=$(block_with '^PASS ')
if [ -z "$k" ]; then
    fail run/trace-excerpt "the chapter has no excerpt of the trace (a fenced block with a line 'PASS ...')"
elif [ $run_rc -ne 0 ]; then
    fail run/trace-excerpt "make run failed (exit $run_rc): $(tail -1 "$TRACE")"
else
    cp "$CH/block.$k" "$SCRATCH/excerpt"
    missing=$(awk '
        function fits(s, p,   part, k, i, pos, q) {
            k = 0
            while ((i = index(p, "...")) > 0) { part[++k] = substr(p, 1, i - 1); p = substr(p, i + 3) }
            part[++k] = p
            if (k == 1) return s == p
            if (substr(s, 1, length(part[1])) != part[1]) return 0
            pos = length(part[1]) + 1
            for (q = 2; q < k; q++) {
                i = index(substr(s, pos), part[q])
                if (i == 0) return 0
                pos += i - 1 + length(part[q])
            }
            return length(s) - pos + 1 >= length(part[k]) &&
                   substr(s, length(s) - length(part[k]) + 1) == part[k]
        }
        FNR == NR { want[++m] = $0; next }
        { real[++n] = $0 }
        END {
            at = 1
            for (j = 1; j <= m; j++) {
                if (want[j] ~ /^[ \t]*\.\.\.([ \t]+\(.*\))?[ \t]*$/ || want[j] ~ /^[ \t]*$/) continue
                for (i = at; i <= n && !fits(real[i], want[j]); i++) ;
                if (i <= n) at = i + 1
                else printf "%s\x1f", want[j]
            }
        }' "$SCRATCH/excerpt" "$TRACE")
    if [ -z "$missing" ]; then
        pass run/trace-excerpt
    else
        IFS=$'\x1f' read -r -a lines <<< "$missing"
        fail run/trace-excerpt "${#lines[@]} of the book's lines are not lines of the trace of make run, in that order, the first: '$(short "${lines[0]}")'"
        printf 'the book shows, and the trace has not (in this order):\n'
        printf '    %s\n' "${lines[@]}"
    fi
fi

# The trace's own facts, for the prose to be checked against.
startup_part() { sed -n '/^startup: /,/READY /p' "$TRACE"; }
request_part() {  # request_part N: the lines of request N
    awk -v n="$1" '/^request [0-9]+ / { on = ($2 == n) } /^(client|end of|kernel calls|PASS|FAIL)/ { on = 0 } on' "$TRACE"
}
# constant NAME: the value of the macro NAME, as the build defines it.
constant() {
    sed -n "s/^#define $1 \([0-9][0-9]*\)u\{0,1\}\( .*\)\{0,1\}$/\1/p" "$BUILD"/*.h "$BUILD"/memd-core.c | head -1
}

# "one question for each of the six slots declared", in the excerpt: a
# query for each slot of the envelope, and for no other.
q=$(grep -oE 'one question for each of the [a-z0-9]+ slots' "$SCRATCH/excerpt" 2>/dev/null | awk '{ print $(NF-1) }')
declared=$(awk '$1 == "slot" { print $2 }' "$DEMO" | sort -n | tr '\n' ' ' | sed 's/ $//')
queried=$(startup_part | sed -n 's/.*QUERY_LOCAL_CAP slot \([0-9]*\) .*/\1/p' | sort -n | tr '\n' ' ' | sed 's/ $//')
nq=$(echo $queried | wc -w)
if [ -z "$q" ]; then
    fail run/one-question-per-slot "the excerpt no longer says 'one question for each of the N slots'"
elif within "$nq" "$q" && [ "$declared" = "$queried" ]; then
    pass run/one-question-per-slot
else
    fail run/one-question-per-slot "the book says one question for each of $q slots; memd asked $nq, about slots ${queried:-none}; $DEMO declares ${declared:-none}"
fi

# "three regions of RAM, two clients with budgets".
s=$(said '[a-z0-9]+ regions of RAM, [a-z0-9]+ clients')
regions=$(grep -c '^boot: slot [0-9]* holds untyped' "$TRACE")
clients=$(grep -c '^boot: client [0-9]* may hold' "$TRACE")
if [ -z "$s" ]; then
    fail run/regions-and-clients "the chapter no longer says 'N regions of RAM, N clients'"
elif within "$regions" "$(echo "$s" | awk '{ print $1 }')" && within "$clients" "$(echo "$s" | awk '{ print $(NF-1) }')"; then
    pass run/regions-and-clients
else
    fail run/regions-and-clients "the book says '$s'; the model set up $regions regions and $clients clients"
fi

# "one retype, stocking the pool before it reports ready ... That retype
# takes a full batch of 64 frames from the region with the highest
# address, the 256 KiB at 4 MiB in slot 2229".
s=$(said 'That retype takes a full batch of [0-9]+ frames from the region with the highest address, the [0-9]+ KiB at [0-9]+ MiB in slot [0-9]+')
one=$(said 'Only then does memd make its first frames: [a-z0-9]+ retype' | awk '{ print $(NF-1) }')
retypes=$(startup_part | grep -c 'UNTYPED_RETYPE')
read -r made from <<< "$(startup_part | sed -n 's/.*UNTYPED_RETYPE untyped \([0-9]*\) → \([0-9]*\) frames .*/\2 \1/p' | head -1)"
# untyped_of SLOT: "KIB BASE" of the untyped the model holds in SLOT.
untyped_of() {
    local b a
    read -r b a <<< "$(sed -n "s/^boot: slot $1 holds untyped .*, 2^\([0-9]*\) bytes at \(0x[0-9a-f]*\).*/\1 \2/p" "$TRACE")"
    [ -n "$b" ] && echo "$((1 << (b - 10))) $((a))"
}
# bases: the base of every untyped region the model holds, in decimal.
bases() {
    local a
    for a in $(sed -n 's/^boot: slot [0-9]* holds untyped .*, 2^[0-9]* bytes at \(0x[0-9a-f]*\).*/\1/p' "$TRACE"); do
        echo $((a))
    done
}
read -r kib base <<< "$(untyped_of "${from:-0}")"
highest=$(bases | sort -n | tail -1)
batch=$(constant MEMD_RETYPE_BATCH)
read -r b_made b_kib b_mib b_slot <<< "$(echo "$s" | grep -oE '[0-9]+' | tr '\n' ' ')"
if [ -z "$s" ] || [ -z "$one" ]; then
    fail run/first-retype "the chapter no longer says 'Only then does memd make its first frames: one retype' and 'That retype takes a full batch of N frames from the region with the highest address, the N KiB at N MiB in slot N'"
elif within "$retypes" "$one" && [ "$made" = "$b_made" ] && [ "$batch" = "$b_made" ] &&
     [ "$from" = "$b_slot" ] && [ "$kib" = "$b_kib" ] && [ $((b_mib << 20)) = "${base:-x}" ] &&
     [ "$base" = "$highest" ]; then
    pass run/first-retype
else
    fail run/first-retype "the book says $one retype of $b_made frames (MEMD_RETYPE_BATCH is ${batch:-undefined}) from the $b_kib KiB at $b_mib MiB in slot $b_slot, the highest; the trace has $retypes retypes before ready, the first of ${made:-no} frames from slot ${from:-none} ($kib KiB at $base; the highest region is at $highest)"
fi

# "... does memd retype the next batch. That batch makes 32 frames, not
# 64: a batch never runs past the end of its region, and the next region
# down is 128 KiB."
s=$(said 'That batch makes [0-9]+ frames, not [0-9]+: a batch never runs past the end of its region, and the next region down is [0-9]+ KiB')
read -r b_made b_batch b_kib <<< "$(echo "$s" | grep -oE '[0-9]+' | tr '\n' ' ')"
read -r made2 from2 <<< "$(request_part 1 | sed -n 's/.*UNTYPED_RETYPE untyped \([0-9]*\) → \([0-9]*\) frames .*/\2 \1/p' | head -1)"
read -r kib2 base2 <<< "$(untyped_of "${from2:-0}")"
below=$(bases | sort -n | awk -v h="$highest" '$1 < h { m = $1 } END { print m + 0 }')
if [ -z "$s" ]; then
    fail run/refill-stops-at-the-region-end "the chapter no longer says 'That batch makes N frames, not N: a batch never runs past the end of its region, and the next region down is N KiB'"
elif [ "$made2" = "$b_made" ] && [ "$batch" = "$b_batch" ] && [ "$kib2" = "$b_kib" ] &&
     [ "$base2" = "$below" ] && [ "$made2" -lt "$batch" ]; then
    pass run/refill-stops-at-the-region-end
else
    fail run/refill-stops-at-the-region-end "the book says the next batch makes $b_made frames, not $b_batch, from a region of $b_kib KiB, the next one down; the trace's refill in request 1 made ${made2:-no} frames from slot ${from2:-none} ($kib2 KiB at $base2; the next region down is at $below)"
fi

# "The ready report carries the number of frames memd manages, 112."
s=$(said 'The ready report carries the number of frames memd manages, [0-9]+')
s=${s##* }
if [ -z "$s" ]; then
    fail run/ready-report "the chapter no longer says 'The ready report carries the number of frames memd manages, N'"
elif grep -q "^  memd → rootd     READY MEMD_STARTUP_OK detail=$s\$" "$TRACE" &&
     grep -q "acknowledged: memd manages $s frames\$" "$TRACE"; then
    pass run/ready-report
else
    fail run/ready-report "the book says $s frames; the trace says '$(grep -m1 ' READY ' "$TRACE" | sed 's/^ *//')'"
fi

# "Request 1, an allocation, is answered first and paid for after ...
# because the pool has fallen below its low watermark of 64 frames".
s=$(said '\*\*Request [0-9]+\*\*, an allocation, is answered first and paid for after')
low=$(said 'its low watermark of [0-9]+ frames' | grep -oE '[0-9]+')
r=$(echo "$s" | grep -oE '[0-9]+' | head -1)
order=$(request_part "${r:-0}" | awk '/ALLOC count=/ && NR == 1 { a = 1 } / OK ALLOC / { ok = NR } /UNTYPED_RETYPE/ && ok && !re { re = NR } END { print (a && ok && re > ok) ? "yes" : "no" }')
pool_low=$(constant MEMD_POOL_LOW)
if [ -z "$s" ] || [ -z "$low" ]; then
    fail run/request-paid-for-after "the chapter no longer says '**Request N**, an allocation, is answered first and paid for after' and 'its low watermark of N frames'"
elif [ "$order" = yes ] && [ "$low" = "$pool_low" ]; then
    pass run/request-paid-for-after
else
    fail run/request-paid-for-after "the book says request $r is an allocation answered before a retype, the low watermark being $low; in the trace: $([ "$order" = yes ] && echo so it is || echo it is not), and MEMD_POOL_LOW is ${pool_low:-undefined}"
fi

# "Request 3 is client 3 freeing frame 0, which client 2 holds. memd
# answers NOT-FOUND, names the element at fault (index=0)".
s=$(said '\*\*Request [0-9]+\*\* is client [0-9]+ freeing frame [0-9]+, which client [0-9]+ holds\. memd answers `[A-Z-]+`, names the element at fault \(`index=[0-9]+`\)')
read -r r c f h answer index <<< "$(echo "$s" | sed 's/.*Request \([0-9]*\)\*\* is client \([0-9]*\) freeing frame \([0-9]*\), which client \([0-9]*\) holds\. memd answers `\([A-Z-]*\)`.*`index=\([0-9]*\)`.*/\1 \2 \3 \4 \5 \6/')"
if [ -z "$s" ]; then
    fail run/request-foreign-free "the chapter no longer says '**Request N** is client N freeing frame N, which client N holds. memd answers ..., names the element at fault (index=N)'"
elif request_part "$r" | head -1 | grep -q "client $c → memd  FREE count=1 frames $f\$" &&
     request_part "$r" | grep -q "^  memd → client $c  $answer .* index=$index\$" &&
     sed "/^request $r /q" "$TRACE" | grep -qE "^  memd → client $h  OK ALLOC .* frames ([0-9]+ )*$f[ ;]"; then
    pass run/request-foreign-free
else
    fail run/request-foreign-free "the book says '$(short "$s")'; the trace says: $(request_part "$r" | head -2 | sed 's/^ *//' | tr '\n' ' ')"
fi

# "Request 5 frees two frames: the reply first, then a revoke and a clear
# for each frame".
s=$(said '\*\*Request [0-9]+\*\* frees [a-z0-9]+ frames: the reply first, then a revoke and a clear for each frame')
r=$(echo "$s" | grep -oE '[0-9]+' | head -1)
w=$(echo "$s" | sed 's/.* frees \([a-z0-9]*\) frames.*/\1/')
read -r freed revokes clears first <<< "$(request_part "${r:-0}" | awk '
    NR == 1 { if (match($0, /FREE count=[0-9]+/)) n = substr($0, RSTART + 11, RLENGTH - 11) }
    / OK FREE freed=/ && !reply { reply = NR }
    /CAP_REVOKE/ { v++; if (!reply) early = 1 } /FRAME_CLEAR/ { c++; if (!reply) early = 1 }
    END { print n + 0, v + 0, c + 0, (reply && !early) ? "reply" : "no" }')"
if [ -z "$s" ]; then
    fail run/request-free-revokes-and-clears "the chapter no longer says '**Request N** frees N frames: the reply first, then a revoke and a clear for each frame'"
elif within "$freed" "$w" && [ "$revokes" = "$freed" ] && [ "$clears" = "$freed" ] && [ "$first" = reply ]; then
    pass run/request-free-revokes-and-clears
else
    fail run/request-free-revokes-and-clears "the book says request $r frees $w frames, reply first, then a revoke and a clear each; the trace has a free of $freed, $revokes revokes, $clears clears, $([ "$first" = reply ] && echo after || echo not all after) the reply"
fi

# "two, a receive and a reply, is the least any server can spend".
s=$(said '[a-z0-9]+, a receive and a reply, is the least')
least=$(sed -n 's/^ *\([0-9]*\) kernel calls for this request$/\1/p' "$TRACE" | sort -n | head -1)
if [ -z "$s" ]; then
    fail run/least-kernel-calls "the chapter no longer says 'N, a receive and a reply, is the least'"
elif within "${least:-0}" "${s%%,*}" && grep -q '^kernel calls in all: .*RECV .*REPLY ' "$TRACE"; then
    pass run/least-kernel-calls
else
    fail run/least-kernel-calls "the book says the least a request costs is ${s%%,*} calls; in the trace it is ${least:-unknown}"
fi

# ---------------------------------------------------------------------------
# The edit of the demo the chapter suggests: "in tests/scenarios/demo.scn,
# change `A` to `B` ... memd now grants the six frames ... since client 3
# holds two of its eight; and the run ends with `FAIL: ...`".  Made in a
# scratch copy; the real scenario is left as it is.
s=$(said 'in `tests/scenarios/[a-z0-9-]+\.scn`, change `[^`]+` to `[^`]+`')
scn=$(echo "$s" | sed -n 's/^in `\([^`]*\)`.*/\1/p')
from=$(echo "$s" | sed -n 's/.*change `\([^`]*\)` to `.*/\1/p')
to=$(echo "$s" | sed -n 's/.* to `\([^`]*\)`$/\1/p')
ends=$(said 'the run ends with `FAIL: [^`]+`' | sed 's/^the run ends with `//; s/`$//')
grants=$(said 'memd now grants the [a-z0-9]+ frames, which is right, since client [0-9]+ holds [a-z0-9]+ of its [a-z0-9]+')
if [ -z "$s" ] || [ -z "$ends" ] || [ -z "$grants" ]; then
    fail demo-edit/run-ends-as-the-book-says "the chapter no longer says 'in \`tests/scenarios/NAME.scn\`, change \`A\` to \`B\`', 'memd now grants the N frames, ... since client N holds N of its N' and 'the run ends with \`FAIL: ...\`'"
elif [ "$(grep -cxF -- "$from" "$scn")" != 1 ]; then
    fail demo-edit/run-ends-as-the-book-says "the book says to change '$from' in $scn, which has $(grep -cxF -- "$from" "$scn") such lines, not one"
else
    awk -v a="$from" -v b="$to" '$0 == a { $0 = b } { print }' "$scn" > "$SCRATCH/edited.scn"
    "$KMODEL" "$IMAGE" "$SCRATCH/edited.scn" > "$SCRATCH/edited.trace" 2>&1
    rc=$?
    last=$(tail -1 "$SCRATCH/edited.trace")
    if [ $rc -ne 0 ] && [ "$last" = "$ends" ]; then
        pass demo-edit/run-ends-as-the-book-says
    else
        fail demo-edit/run-ends-as-the-book-says "the book says the run ends with '$ends'; it ends with '$last' (exit $rc)"
    fi
    # The request the edit changed, its reply, and what the client held.
    read -r n c held of <<< "$(echo "$grants" | sed 's/.*grants the \([a-z0-9]*\) frames.* client \([0-9]*\) holds \([a-z0-9]*\) of its \([a-z0-9]*\)$/\1 \2 \3 \4/')"
    line=$(grep -nxF -- "$from" "$scn" | cut -d: -f1)
    reply=$(awk -v l="(line $line):" '/^request / { on = (index($0, " " l " ") > 0) } on && /^  memd → / { print; exit }' "$SCRATCH/edited.trace")
    budget=$(sed -n "s/^boot: client $c may hold \([0-9]*\) frames .*/\1/p" "$TRACE")
    left=$(echo "$reply" | sed -n 's/.* budget-left=\([0-9]*\).*/\1/p')
    got=$(echo "$reply" | sed -n "s/^  memd → client $c  OK ALLOC count=\([0-9]*\) .*/\1/p")
    if [ -n "$got" ] && within "$got" "$n" && within "${budget:-0}" "$of" &&
       within $(( ${budget:-0} - ${left:-0} - got )) "$held"; then
        pass demo-edit/grants-what-the-book-says
    else
        fail demo-edit/grants-what-the-book-says "the book says memd grants $n frames to client $c, who holds $held of its $of; the edited run's reply: '$(echo "$reply" | sed 's/^ *//')'; client $c's budget: ${budget:-unknown}"
    fi
fi

# ---------------------------------------------------------------------------
# make test's output, as the chapter quotes it: the example line, with its
# number, and the table of areas "in the order they run".  Both are read
# from this very run of tests/run (TAP_STREAM: the lines numbered so far),
# so they are checked only when tests/run runs every area, as make test
# does; otherwise they are skipped (TAP's "# SKIP").
k=$(block_with '^(not )?ok [0-9]+ - [a-z0-9-]+/')
example=$(cat "$CH/block.$k" 2>/dev/null | head -1)
if [ -z "$k" ]; then
    fail make-test/example-line "the chapter quotes no line of make test's output ('ok N - AREA/NAME')"
elif [ "${TAP_FULL:-0}" != 1 ] || [ ! -r "${TAP_STREAM:-}" ]; then
    echo "ok - $AREA/make-test/example-line # SKIP not a run of every area (make test is)"
else
    name=${example#* - }
    real=$(grep -m1 -E "^(not )?ok [0-9]+ - $(printf '%s' "$name" | sed 's/[][\.*^$]/\\&/g')( |\$)" "$TAP_STREAM")
    if [ "$real" = "$example" ]; then
        pass make-test/example-line
    else
        fail make-test/example-line "the book quotes '$example'; make test prints '${real:-no case named $name}'"
    fi
fi
# The table: the rows after the sentence "The areas, in the order they run"
# (which may run over a line break).
awk '!on { w = p2 " " p1 " " $0; gsub(/[ \t]+/, " ", w); p2 = p1; p1 = $0
           if (w ~ /The areas, in the order they run/) on = 1; next }
     on && /^\|/ { seen = 1; if (match($0, /^\| `[a-z0-9-]+` \|/)) print substr($0, 4, RLENGTH - 6); next }
     on && seen { exit }' "$CH/text" | tr '\n' ' ' | sed 's/ $//' > "$SCRATCH/table-areas"
table=$(cat "$SCRATCH/table-areas")
if [ -z "$table" ]; then
    fail make-test/areas-in-run-order "the chapter has no table of areas after 'The areas, in the order they run'"
elif [ "${TAP_FULL:-0}" != 1 ] || [ ! -r "${TAP_STREAM:-}" ]; then
    echo "ok - $AREA/make-test/areas-in-run-order # SKIP not a run of every area (make test is)"
else
    # The areas of the stream so far, in order (this one's own lines are in
    # it already), then this one, which runs last.
    ran=$(sed -n 's/^\(not \)\{0,1\}ok [0-9]* - \([^/ ]*\)\/.*/\2/p' "$TAP_STREAM" |
          awk -v me="$AREA" '$0 != me && !seen[$0]++' | tr '\n' ' ')
    ran="$ran$AREA"
    if [ "$table" = "$ran" ]; then
        pass make-test/areas-in-run-order
    else
        fail make-test/areas-in-run-order "the book's table lists '$table'; make test runs '$ran'"
    fi
fi
# Two figures of the table, which the test programs fix: "20 000 damaged
# frames" of startup (MUTANTS in test-startup.c) and "a million random
# requests" of frames (P_STEPS in test-frames.c).
mutants=$(sed -n 's/^#define MUTANTS \([0-9]*\)u\{0,1\}$/\1/p' "$BUILD/test-startup.c")
steps=$(sed -n 's/^#define P_STEPS \([0-9]*\)u\{0,1\}$/\1/p' "$BUILD/test-frames.c")
damaged=$(grep -oE '^\| `startup` \|.* [0-9][0-9  ]* damaged frames' "$CH/text" | grep -oE '[0-9][0-9  ]* damaged' | tr -d '  a-z')
million=$(grep -oE '^\| `frames` \|.*a million random requests' "$CH/text")
if [ -n "$damaged" ] && [ "$damaged" = "$mutants" ] && [ -n "$million" ] && [ "$steps" = 1000000 ]; then
    pass make-test/areas-figures
else
    fail make-test/areas-figures "the table says ${damaged:-no number of} damaged frames for startup and $([ -n "$million" ] && echo a million || echo 'no number of') random requests for frames; test-startup makes ${mutants:-?} (MUTANTS), test-frames ${steps:-?} (P_STEPS)"
fi

# ---------------------------------------------------------------------------
# The breakages: each paragraph of the chapter that starts with a bold label
# ending in a full stop ("**A batch size.**") and says what to change in
# memd.nw, either with a fenced C block (the line(s) to put in the chunk the
# paragraph names first, ⟨...⟩, in place of the statement or #define they
# change) or as "`MACRO` to N" (the value of that #define).  What it says
# happens is then read from the paragraph: "the compiler stops on" a
# fenced message (LINE in it standing for memd.nw's line, and column), or
# "N cases fail" / "a dozen cases say where", the cases it names in
# backquotes as AREA/NAME (each must fail), and the particulars below.
#
# "N cases" counts what `make test` run after the change would report as
# failed; see the top of this file for the areas not run for it.
mapfile -t labels < <(grep -oE '\*\*[A-Z][a-z ]*\.\*\*' <<< "$PROSE")
[ ${#labels[@]} -gt 0 ] || fail breakage/found "the chapter has no breakage paragraph ('**A something.**')"

slug() { echo "$1" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//'; }

# change_web WEB OUT MODE ARGS...: OUT is WEB with one change; prints what
# went wrong, if anything, and fails.
#   change_web WEB OUT lines CHUNK FILE: FILE's lines replace, in the chunk,
#       the #define of the same name, or the statement assigning the same
#       left-hand side (up to its ';');
#   change_web WEB OUT value MACRO N: the #define of MACRO gets the value N.
change_web() {
    python3 - "$@" <<'PY'
import re, sys
web, out, mode = sys.argv[1:4]
lines = open(web, encoding="utf-8").read().split("\n")
def key(l):
    m = re.match(r"\s*#\s*define\s+(\w+)", l)
    if m:
        return ("define", m.group(1))
    m = re.match(r"\s*([^=;]*[^=!<>;\s])\s*=(?!=)", l)
    return ("assign", " ".join(m.group(1).split())) if m else None
def spans(chunk):
    found, i = [], 0
    while i < len(lines):
        if lines[i] == "<<" + chunk + ">>=":
            j = i + 1
            while j < len(lines) and not re.match(r"^@( |$)|^<<.*>>=$", lines[j]):
                j += 1
            found.append((i + 1, j))
            i = j
        else:
            i += 1
    return found
def code_lines():
    # every line of every code chunk
    out, on = [], False
    for i, l in enumerate(lines):
        if re.match(r"^<<.*>>=$", l):
            on = True
        elif on and re.match(r"^@( |$)", l):
            on = False
        elif on:
            out.append(i)
    return out
if mode == "lines":
    chunk, block = sys.argv[4:6]
    new = [l for l in open(block, encoding="utf-8").read().split("\n") if l.strip()]
    if not new:
        sys.exit("the chapter's block is empty")
    for nl in new:
        k = key(nl)
        if k is None:
            sys.exit("cannot tell what '%s' replaces" % nl.strip())
        sp = spans(chunk)
        if not sp:
            sys.exit("memd.nw has no chunk <<%s>>" % chunk)
        hits = [a for (s, e) in sp for a in range(s, e) if key(lines[a]) == k]
        if len(hits) != 1:
            sys.exit("<<%s>> has %d lines like '%s', not one" % (chunk, len(hits), nl.strip()))
        a = b = hits[0]
        if k[0] == "define":
            while lines[b].rstrip().endswith("\\"):
                b += 1
        else:
            while not lines[b].rstrip().endswith(";"):
                b += 1
        if lines[a:b + 1] == [nl]:
            sys.exit("<<%s>> already reads '%s'" % (chunk, nl.strip()))
        lines[a:b + 1] = [nl]
else:
    macro, value = sys.argv[4:6]
    hits = [i for i in code_lines() if key(lines[i]) == ("define", macro)]
    if len(hits) != 1:
        sys.exit("memd.nw defines %s %d times, not once" % (macro, len(hits)))
    i = hits[0]
    m = re.match(r"(\s*#\s*define\s+\w+\s+)(\d+)(\w*)(.*)$", lines[i])
    if not m:
        sys.exit("the #define of %s is not a number: %s" % (macro, lines[i]))
    if m.group(2) == value:
        sys.exit("%s is already %s" % (macro, value))
    lines[i] = m.group(1) + value + m.group(3) + m.group(4)
open(out, "w", encoding="utf-8").write("\n".join(lines))
PY
}

# A make of the scratch tree: nothing of the make that runs this area (nor
# its AREAS, which make exports: `make test AREAS=firsthour` would make the
# copy's make test run only this area).
smake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u AREAS make --no-print-directory "$@"; }

# tree DIR: a scratch copy of the tree around DIR/memd.nw, tangled, with
# the kernel model and the careless image of this build when the ABI
# header is the same (they are built from tests/ and the header alone).
tree() {
    local d=$1
    cp Makefile linker.ld tangle weave "$d/" && cp -a tests "$d/" && mkdir -p "$d/build" &&
    touch "$d/build/.deps-ok" &&
    (cd "$d" && ./tangle memd.nw build > /dev/null) && touch "$d/build/.tangled" || return 1
    if cmp -s "$BUILD/memd-abi.h" "$d/build/memd-abi.h" && [ -x "$KMODEL" ] && [ -f "$BUILD/careless-memd" ]; then
        cp "$KMODEL" "$d/build/kmodel" && cp "$BUILD/careless-memd" "$d/build/careless-memd" &&
            cp "$BUILD/careless-memd.o" "$d/build/careless-memd.o"
    fi
}

# tested DIR: build what make test builds (but the book) in DIR, and run
# tests/run there as make test does, but for web, book and this area, and
# with valgrind's stand-in; DIR/tap gets the stream, DIR/build.log make's
# words.  DIR must be absolute.
tested() {
    local d=$1 prereqs cmdline
    prereqs=$(cd "$d" && smake -pq test 2>/dev/null | sed -n 's/^test: *//p' | head -1)
    prereqs=${prereqs%%|*}                # an order-only part: a stamp make
    prereqs=${prereqs/#all /build/memd }  # makes on its own way there
    # The clang image, which e2e builds, alongside; if it fails, e2e says so.
    (cd "$d" && smake CC=clang IMAGE=build/clang/memd build/clang/memd > build-clang.log 2>&1) &
    (cd "$d" && smake -j2 $prereqs > build.log 2>&1) || { wait; return 1; }
    wait
    cmdline=$(cd "$d" && smake -n test 2>/dev/null | sed -e :a -e '/\\$/N; s/\\\n//; ta' | tail -1)
    case $cmdline in *tests/run) ;; *) echo "make -n test ends '$cmdline', not in tests/run" > "$d/build.log"; return 1 ;; esac
    mkdir -p "$d/bin"
    printf '#!/bin/sh\n# valgrind%s stand-in: the program, natively.\nwhile [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done\nexec "$@"\n' "'s" > "$d/bin/valgrind"
    chmod +x "$d/bin/valgrind"
    (cd "$d" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u KMODEL -u IMAGE -u CARELESS -u CLANG_IMAGE \
        -u TAP_STREAM -u TAP_FULL PATH="$d/bin:$PATH" BUILD=build TESTS_SKIP="web book $AREA" \
        sh -c "$cmdline" > tap 2>&1)
    return 0
}

# Each breakage: read, made, and (compile failures at once, test runs in
# the background, two at a time on two cores) tried.
declare -A kind tried
for label in "${labels[@]}"; do
    name=$(slug "${label//\*/}")
    para=$(between "$label" '⟦heading |\*\*[A-Z][a-z ]*\.\*\*')
    echo "$para" > "$SCRATCH/para.$name"
    d=$SCRATCH/break-$name
    mkdir -p "$d"
    k=$(echo "$para" | grep -oE '⟦block [0-9]+⟧' | head -1 | tr -dc '0-9')
    if [ -n "$k" ] && [ "$(cat "$CH/info.$k")" = c ]; then
        chunk=$(echo "$para" | grep -oE '⟨[^⟩]+⟩' | head -1 | sed 's/^⟨//; s/⟩$//')
        why=$(change_web "$WEB" "$d/memd.nw" lines "$chunk" "$CH/block.$k" 2>&1)
    elif mv=$(echo "$para" | grep -oE '`[A-Z_][A-Z0-9_]*` to [0-9]+' | head -1) && [ -n "$mv" ]; then
        macro=$(echo "$mv" | cut -d'`' -f2)
        why=$(change_web "$WEB" "$d/memd.nw" value "$macro" "${mv##* }" 2>&1)
    else
        fail "breakage/$name/made" "the paragraph shows no C line to put in memd.nw, nor '\`MACRO\` to N'"
        continue
    fi
    if [ -n "$why" ] || [ ! -s "$d/memd.nw" ]; then
        fail "breakage/$name/made" "${why:-the change was not made}"
        continue
    fi
    pass "breakage/$name/made"
    if echo "$para" | grep -qE 'the compiler stops on ⟦block [0-9]+⟧'; then
        kind[$name]=compile
        tree "$d" > "$d/tree.log" 2>&1 && (cd "$d" && smake test > make-test.log 2>&1; echo $? > make-test.rc)
    elif [ -n "$(echo "$para" | grep -oE '(a dozen|[0-9]+|[a-z]+) cases (fail|say where)' | head -1)" ]; then
        kind[$name]=count
        { tree "$d" && tested "$d"; } > "$d/tree.log" 2>&1 &
        tried[$name]=$!
    else
        fail "breakage/$name/outcome" "the paragraph says neither 'the compiler stops on' a message nor 'N cases fail'"
    fi
done

# case_line TAP CASE: the line of TAP that reports CASE.
case_line() { grep -m1 -E "^(not )?ok [0-9]+ - $(printf '%s' "$2" | sed 's/[][\.*^$]/\\&/g')( |\$)" "$1"; }

for label in "${labels[@]}"; do
    name=$(slug "${label//\*/}")
    d=$SCRATCH/break-$name
    para=$(cat "$SCRATCH/para.$name")
    case ${kind[$name]:-} in
    compile)
        # "the compiler stops on" the block's message; LINE is memd.nw's
        # line (and column); make test runs nothing at all.
        k=$(echo "$para" | grep -oE 'the compiler stops on ⟦block [0-9]+⟧' | tr -dc '0-9')
        want=$(grep -m1 . "$CH/block.$k")
        re=$(printf '%s' "$want" | sed 's/[][\.*^$()+?{}|]/\\&/g; s/LINE/\\([0-9][0-9]*\\)\\(:[0-9][0-9]*\\)\\{0,1\\}/')
        got=$(grep -m1 "^$re\$" "$d/make-test.log")
        # the line of memd.nw the first error names
        line=$(sed -n 's/^memd\.nw:\([0-9][0-9]*\):[0-9:]* error: .*/\1/p' "$d/make-test.log" | head -1)
        first=$(grep -m1 ' error: ' "$d/make-test.log" || tail -1 "$d/make-test.log")
        rc=$(cat "$d/make-test.rc" 2>/dev/null)
        ran=$(grep -cE '^(not )?ok [0-9]+ ' "$d/make-test.log")
        if [ -n "$got" ] && [ "${rc:-0}" != 0 ] && [ "$ran" = 0 ]; then
            pass "breakage/$name/compiler-stops"
        else
            fail "breakage/$name/compiler-stops" "the book says the compiler stops on '$want'; make test exited ${rc:-?} after $ran test cases, printing '$(short "$first")'"
        fi
        # The line it names is in memd.nw, in the chunk the change was made
        # in ("the assertion beside the constants"), and is an assertion.
        macro=$(echo "$para" | grep -oE '`[A-Z_][A-Z0-9_]*` to [0-9]+' | head -1 | cut -d'`' -f2)
        where=$(awk -v l="${line:-0}" -v m="$macro" '
            /^<<.*>>=$/ { c++; start = NR } /^@( |$)/ { c = c "@" }
            NR == l { lc = c; text = $0 } $0 ~ "^#define " m "[ \t]" { mc = c }
            END { print (lc != "" && lc == mc && text ~ /_Static_assert/) ? "beside" : "elsewhere" }' "$d/memd.nw")
        if [ -n "$line" ] && [ "$where" = beside ]; then
            pass "breakage/$name/error-names-the-assertion-in-memd.nw"
        else
            fail "breakage/$name/error-names-the-assertion-in-memd.nw" "the compiler named ${line:+line $line of memd.nw: '$(sed -n "${line}p" "$d/memd.nw" | sed 's/^ *//')'}${line:-no line of memd.nw}, not the assertion in the chunk of $macro"
        fi
        # "An allocation may ask for 64 frames (`MEMD_ALLOC_MAX`)".
        s=$(echo "$para" | grep -oE 'may ask for [0-9]+ frames \(`[A-Z_][A-Z0-9_]*`\)' | head -1)
        if [ -n "$s" ]; then
            m=$(echo "$s" | cut -d'`' -f2); v=$(echo "$s" | grep -oE '[0-9]+' | head -1)
            if [ "$(constant "$m")" = "$v" ]; then
                pass "breakage/$name/largest-allocation"
            else
                fail "breakage/$name/largest-allocation" "the book says an allocation may ask for $v frames ($m); $m is $(constant "$m")"
            fi
        fi
        ;;
    count)
        wait "${tried[$name]}"
        tap=$d/tap
        if [ ! -s "$tap" ]; then
            fail "breakage/$name/compiles" "the book says it compiles; $(tail -3 "$d/build.log" "$d/tree.log" 2>/dev/null | grep -v '^==>' | grep . | tail -2 | tr '\n' ' ')"
            continue
        fi
        pass "breakage/$name/compiles"
        # How many fail: what the book says, and which.
        said_n=$(echo "$para" | grep -oE '(a dozen|[0-9]+|[a-z]+) cases (fail|say where)' | head -1 | sed -E 's/ cases.*//')
        nfail=$(grep -c '^not ok ' "$tap")
        failing=$(sed -n 's/^not ok [0-9]* - \([^ ]*\).*/\1/p' "$tap" | tr '\n' ' ')
        range=$(number_in "$said_n")
        if within "$nfail" "$said_n"; then
            pass "breakage/$name/cases-that-fail"
        else
            [ "${range% *}" = "${range#* }" ] && range= || range=" (${range/ / to })"
            fail "breakage/$name/cases-that-fail" "the book says $said_n cases$range fail; $nfail fail (of make test's areas, all but web and book): $failing"
        fi
        echo "$name: $nfail cases fail: $failing"
        # Each case the paragraph names fails.
        named=$(echo "$para" | grep -oE '`[a-z0-9-]+/[a-z0-9/-]+`' | tr -d '`' | awk '!seen[$0]++')
        for c in $named; do
            l=$(case_line "$tap" "$c")
            case $l in
                "not ok "*) pass "breakage/$name/fails/$c" ;;
                "") fail "breakage/$name/fails/$c" "the book names it; make test has no such case" ;;
                *) fail "breakage/$name/fails/$c" "the book says it fails; it passes" ;;
            esac
        done
        # "Most of the others fail with *MESSAGE*": more than half of the
        # failing cases the paragraph does not name ("All": every one).
        s=$(echo "$para" | grep -oE '(Most|All) of the others fail with \*[^*]+\*' | head -1)
        if [ -n "$s" ]; then
            msg=$(echo "$s" | sed 's/.*fail with \*\(.*\)\*$/\1/')
            others=$(sed -n 's/^not ok [0-9]* - \([^ ]*\).*/\1/p' "$tap" | grep -vxF -f <(echo "$named"; echo) | wc -l)
            with=$(grep '^not ok ' "$tap" | grep -F "$msg" | sed -n 's/^not ok [0-9]* - \([^ ]*\).*/\1/p' | grep -vxF -f <(echo "$named"; echo) | wc -l)
            case $s in
                Most*) ok=$(( 2 * with > others )) ;;
                *) ok=$(( with == others && others > 0 )) ;;
            esac
            if [ "$ok" = 1 ]; then
                pass "breakage/$name/message"
            else
                fail "breakage/$name/message" "the book says ${s%% of*} of the others fail with '$msg'; $with of $others do"
            fi
        fi
        # "`CASE` ... at byte N", "`CASE` stop(s) at step N", "`CASE` finds
        # a pool of N frames": the case's message gives that byte, step or pool.
        echo "$para" | grep -oE '`[a-z0-9-]+/[a-z0-9/-]+`( [^`.;]*)? (at byte|stops? at step|finds a pool of) [0-9]+' |
        while read -r s; do
            c=$(echo "$s" | cut -d'`' -f2)
            what=$(echo "$s" | grep -oE '(byte|step|pool of) [0-9]+$' | sed 's/pool of/pool/')
            l=$(case_line "$tap" "$c")
            if echo "$l" | grep -qE "(^|[^a-z])$what([^0-9]|\$)"; then
                pass "breakage/$name/${what% *}/$c"
            else
                fail "breakage/$name/${what% *}/$c" "the book says '$(short "$s")'; make test says '$(short "${l:-nothing of it}")'"
            fi
        done
        # "In `make run`, the retypes after a reply now make N frames at a time".
        s=$(echo "$para" | grep -oE 'In `make run`, the retypes after a reply now make [0-9]+ frames at a time' | head -1)
        if [ -n "$s" ]; then
            n=$(echo "$s" | grep -oE '[0-9]+' | head -1)
            (cd "$d" && build/kmodel build/memd "$OLDPWD/$DEMO") > "$d/run.trace" 2>&1
            sizes=$(sed -n '/ READY /,$p' "$d/run.trace" | sed -n 's/.*UNTYPED_RETYPE untyped [0-9]* → \([0-9]*\) frames .*/\1/p' | sort -u | tr '\n' ' ')
            if [ "$sizes" = "$n " ]; then
                pass "breakage/$name/make-run-retypes"
            else
                fail "breakage/$name/make-run-retypes" "the book says the retypes after a reply make $n frames at a time; in make run they make ${sizes:-none}"
            fi
        fi
        ;;
    esac
done
echo "firsthour: ${SECONDS}s"

#!/usr/bin/env bash
# tests/gdb.sh: gdb on the real image, held by the kernel model's stub
# (kmodel --gdb, tests/kgdb.c), while the model plays a scenario.
#
# One session, driven by a script, on the demo scenario: a breakpoint on
# the line of memd.nw where an allocation asks the accounting for its
# frames stops there, in the image; the request's count and badge are what
# the scenario sent; the backtrace runs from that line through the service
# loop to memd_main; `next` goes on to the web's next line; a stepi over
# the `syscall` of the reply has the model carry the reply out; and the
# run, continued, ends as it does without gdb, with the same trace, byte
# for byte.  Nothing here is a number of memd.nw: the line is found in the
# web, the values in the scenario and the ABI header, as this area runs.
# Then every scenario, and every mistake of the careless image, run under
# the stub without a breakpoint: the same verdict and trace as without
# gdb, and gdb hears the verdict as the exit code.
set -u
AREA=gdb
. "$(dirname "$0")/lib.sh"
KMODEL=${KMODEL:-$BUILD/kmodel}
IMAGE=${IMAGE:-$BUILD/memd}
CARELESS=${CARELESS:-$BUILD/careless-memd}
HEADER=$BUILD/memd-abi.h
DEMO=tests/scenarios/demo.scn

for f in "$IMAGE" "$KMODEL" "$CARELESS"; do
    [ -e "$f" ] || make -s "$f" > "$SCRATCH/build.log" 2>&1 ||
        { fail built "cannot build $f: $(tail -1 "$SCRATCH/build.log")"; exit 1; }
done

# debug IMAGE SCENARIO TRACE SCRIPT: gdb, batch, on IMAGE held by the stub
# (its trace into TRACE), running SCRIPT's commands; prints what gdb says.
debug() {
    { printf 'set pagination off\nset confirm off\nset width 0\n'
      printf 'target remote | exec %s --gdb %s %s 2>%s\n' "$KMODEL" "$1" "$2" "$3"
      cat "$4"; } > "$SCRATCH/script.gdb"
    timeout 120 gdb -batch -nx -x "$SCRATCH/script.gdb" "$1" 2>&1
}

# The statement to stop at: in <<service: answer an allocation>>, the call
# that asks the accounting for the frames.  Its line, and the next line of
# code after it, from memd.nw as it is now.
stmt='    uint32_t result = memd_frames_alloc(who, count, out->caps, &why);'
line=$(grep -nxF -- "$stmt" memd.nw | cut -d: -f1)
next_line=$(awk -v l="${line:-0}" 'NR > l && NF { print NR; exit }' memd.nw)
# What the demo's first allocation sends: "client BADGE alloc COUNT".
read -r badge count <<< "$(sed -n 's/^client \([0-9][0-9]*\) alloc \([0-9][0-9]*\)$/\1 \2/p' "$DEMO" | head -1)"
sys_reply=$(sed -n 's/^#define SYS_REPLY \(0x[0-9a-fA-F]*\)u.*/\1/p' "$HEADER")

"$KMODEL" "$IMAGE" "$DEMO" > "$SCRATCH/plain.trace" 2>&1   # the demo without gdb
if [ "$(grep -cxF -- "$stmt" memd.nw)" != 1 ] || [ -z "$badge" ] || [ -z "$sys_reply" ]; then
    fail session "memd.nw has $(grep -cxF -- "$stmt" memd.nw) lines '${stmt# *}' (one wanted), $DEMO ${badge:+a first allocation}${badge:-no line 'client N alloc N'}, the ABI header ${sys_reply:+SYS_REPLY}${sys_reply:-no SYS_REPLY}"
else
    cat > "$SCRATCH/session.gdb" <<EOF
break memd.nw:$line
echo @@stop\\n
continue
echo @@count\\n
print count
echo @@bt\\n
bt
echo @@badge\\n
frame function memd_serve_one
print badge
echo @@next\\n
frame 0
next
echo @@syscall\\n
break memd_k_reply
continue
while *(unsigned short *)\$pc != 0x050f
  stepi
end
print/x \$rax
stepi
print/x \$rax
shell cp $SCRATCH/session.trace $SCRATCH/at-step.trace
echo @@end\\n
delete
continue
EOF
    debug "$IMAGE" "$DEMO" "$SCRATCH/session.trace" "$SCRATCH/session.gdb" > "$SCRATCH/session.out"
    part() { awk -v p="@@$1" '$0 == p { on = 1; next } /^@@/ { on = 0 } on' "$SCRATCH/session.out"; }
    said() { part "$1" | tr '\n' ' ' | cut -c1-200; }

    # It stops at the line, in the function of the chunk.
    if part stop | grep -q "^Breakpoint 1, memd_op_alloc (.*) at memd\.nw:$line\$" &&
       part stop | grep -qxF -- "$line	$stmt"; then
        pass stops-at-web-line
    else
        fail stops-at-web-line "break memd.nw:$line, continue: gdb says '$(said stop)'"
    fi
    # The count, and the badge one frame up the service loop, are the
    # scenario's.
    if part count | grep -qx "\$1 = $count"; then
        pass prints-count
    else
        fail prints-count "the scenario asks for $count frames; print count says '$(said count)'"
    fi
    if part badge | grep -qx "\$2 = $badge"; then
        pass prints-badge
    else
        fail prints-badge "the scenario's client is badge $badge; print badge says '$(said badge)'"
    fi
    # The backtrace: from the line, through the loop, to memd_main, every
    # frame of memd's at a line of memd.nw.
    frames=$(part bt | sed -n 's/^#[0-9]* *\(0x[0-9a-f]* in \)\{0,1\}\([a-z_]*\) (.*/\2/p' | tr '\n' ' ')
    webframes=$(part bt | grep -c ' at memd\.nw:[0-9]*$')
    if [[ $frames == "memd_op_alloc memd_handle memd_serve_one memd_main "* ]] &&
       part bt | head -1 | grep -q "at memd\.nw:$line\$" && [ "$webframes" -ge 4 ]; then
        pass backtrace
    else
        fail backtrace "wanted memd_op_alloc at memd.nw:$line, then memd_handle, memd_serve_one, memd_main; bt says: $frames"
    fi
    # next: the web's next line of code.
    if part next | grep -qxF -- "$next_line	$(sed -n "${next_line}p" memd.nw)"; then
        pass next-goes-to-next-web-line
    else
        fail next-goes-to-next-web-line "wanted memd.nw:$next_line; next says '$(said next)'"
    fi
    # A stepi over the reply's syscall: the model carries it out (the reply
    # is the last line of its trace then), and rax holds the kernel's code.
    reply_line=$(grep -m1 "^  memd → client $badge  OK ALLOC count=$count " "$SCRATCH/session.trace")
    if part syscall | grep -qx "\$[0-9]* = $sys_reply" &&
       part syscall | grep -qx "\$[0-9]* = 0x0" && [ -n "$reply_line" ] &&
       [ "$(tail -1 "$SCRATCH/at-step.trace" 2>/dev/null)" = "$reply_line" ]; then
        pass stepi-over-syscall
    else
        fail stepi-over-syscall "wanted rax $sys_reply, then 0 with the reply the last line of the trace; gdb says '$(said syscall)'; the trace then ended '$(tail -1 "$SCRATCH/at-step.trace" 2>/dev/null)'"
    fi
    # Continued, the run ends as without gdb.
    if part end | grep -q '^\[Inferior 1 (.*) exited normally\]$' &&
       grep -q '^PASS ' "$SCRATCH/session.trace" &&
       cmp -s "$SCRATCH/plain.trace" "$SCRATCH/session.trace"; then
        pass session-ends-as-without-gdb
    else
        fail session-ends-as-without-gdb "gdb says '$(said end)'; the trace ends '$(tail -1 "$SCRATCH/session.trace")'$(cmp -s "$SCRATCH/plain.trace" "$SCRATCH/session.trace" || echo ", and differs from the trace without gdb")"
    fi
fi

# Detached at a breakpoint, memd is the model's again: it plays the rest of
# the script alone, to the same trace.
printf 'break memd.nw:%s\ncontinue\ndetach\n' "${line:-0}" > "$SCRATCH/detach.gdb"
out=$(debug "$IMAGE" "$DEMO" "$SCRATCH/detach.trace" "$SCRATCH/detach.gdb")
if echo "$out" | grep -q '^\[Inferior 1 (.*) detached\]$' &&
   cmp -s "$SCRATCH/plain.trace" "$SCRATCH/detach.trace"; then
    pass detach-lets-the-model-finish
else
    fail detach-lets-the-model-finish "gdb says '$(echo "$out" | tail -1)'; the trace ends '$(tail -1 "$SCRATCH/detach.trace")'"
fi

# Without a breakpoint: every scenario, and every mistake of the careless
# image, gives the same trace and verdict as without gdb, and gdb hears
# the verdict as the exit code.  (A fault stops memd for gdb, so that it
# is seen where it happened; a second continue ends the run.)
printf 'continue\ncontinue\n' > "$SCRATCH/continue.gdb"
same() {  # same NAME IMAGE SCENARIO
    local t=$SCRATCH/same.trace rc said
    "$KMODEL" "$2" "$3" > "$SCRATCH/alone.trace" 2>&1
    rc=$?
    said=$(debug "$2" "$3" "$t" "$SCRATCH/continue.gdb" | grep '^\[Inferior 1 ')
    local want='exited normally'
    [ $rc -ne 0 ] && want="exited with code 0$rc"
    if cmp -s "$SCRATCH/alone.trace" "$t" && [[ $said == *"$want]" ]]; then
        pass "same-verdict/$1"
    else
        fail "same-verdict/$1" "without gdb: '$(tail -1 "$SCRATCH/alone.trace")' (exit $rc); under the stub: '$(tail -1 "$t")', gdb says '$said'"
    fi
}
for scn in tests/scenarios/*.scn; do
    same "$(basename "$scn" .scn)" "$IMAGE" "$scn"
done
for scn in tests/selftest/*.scn; do
    same "careless/$(basename "$scn" .scn)" "$CARELESS" "$scn"
done

# A fault: gdb stops where the model says memd took it (the model names
# the file as the line information does, which may be a longer path): a
# write through a null pointer, a write past the metadata region (which
# the model tells from a read by letting the instruction run once more on
# a page it maps for the purpose, and then puts back as it was, for gdb),
# and a stack run into the guard page.
cat > "$SCRATCH/fault.gdb" <<'EOF'
continue
bt 1
continue
EOF
for case in fault meta-overrun stack-dive; do
    out=$(debug "$CARELESS" "tests/selftest/$case.scn" "$SCRATCH/fault.trace" "$SCRATCH/fault.gdb")
    where=$(sed -n 's/^FAIL: memd .*, at \([^ ()]*:[0-9]*\) (signal 11, .*/\1/p' "$SCRATCH/fault.trace")
    at=$(echo "$out" | sed -n 's/^#0  .* at \([^ ]*:[0-9]*\)$/\1/p' | head -1)
    if [ -n "$where" ] && [ -n "$at" ] && echo "$out" | grep -q '^Program received signal SIGSEGV' &&
       { [ "$where" = "$at" ] || [ "${where%/"$at"}" != "$where" ]; }; then
        pass "fault-shown-where-the-model-says/$case"
    else
        fail "fault-shown-where-the-model-says/$case" "the model says '$(tail -1 "$SCRATCH/fault.trace")'; gdb says '$(echo "$out" | grep -m2 -e '^Program' -e '^#0' | tr '\n' ' ')'"
    fi
done

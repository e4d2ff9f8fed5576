#!/usr/bin/env bash
# tests/e2e.sh: the real image, end to end.  Every scenario in
# tests/scenarios/*.scn boots build/memd under the kernel model
# (tests/kmodel.c) and plays its script; a scenario passes when memd's
# startup report, every reply and every kernel operation are what the
# scenario and the ABI say.  For each case the kernel calls per request
# are printed (as a TAP comment), by kind of request, every count with how
# often it occurred: the most frequent is the steady state.  Then the
# same scenarios against the clang image, and the model's self-test.
set -u
AREA=e2e
. "$(dirname "$0")/lib.sh"
KMODEL=${KMODEL:-$BUILD/kmodel}
IMAGE=${IMAGE:-$BUILD/memd}
CARELESS=${CARELESS:-$BUILD/careless-memd}
HEADER=$BUILD/memd-abi.h

# What this area needs, built if missing (make test builds it all first).
for f in "$IMAGE" "$KMODEL" "$CARELESS"; do
    [ -e "$f" ] || make -s "$f" > "$SCRATCH/build.log" 2>&1 ||
        { fail built "cannot build $f: $(tail -1 "$SCRATCH/build.log")"; exit 1; }
done

# The model's name tables hold every name of the ABI header, so that a
# scenario can name any of them and no constant is missing from a trace.
enum_members() {  # enum_members ENUM: the members of `enum ENUM { ... };`
    awk -v e="enum $1 {" '$0 ~ e { on = 1; next } on && /^};/ { on = 0 }
        on { if (match($0, /^ *[A-Z_0-9]+ *=/)) { s = substr($0, RSTART, RLENGTH);
             gsub(/[ =]/, "", s); print s } }' "$HEADER"
}
defines() {  # defines PREFIX [EXCLUDED...]: the macros named PREFIX...
    local prefix=$1; shift
    sed -n "s/^#define \($prefix[A-Z_0-9]*\)[ (].*/\1/p; s/^#define \($prefix[A-Z_0-9]*\)$/\1/p" \
        "$HEADER" | grep -vxF -f <(printf '%s\n' "$@" "")
}
"$KMODEL" --names > "$SCRATCH/names" 2>&1
check_names() {  # check_names TABLE: compares the model's table with stdin
    LC_ALL=C sort -u > "$SCRATCH/want.$1"
    awk -v t="$1" '$1 == t { print $2 }' "$SCRATCH/names" | LC_ALL=C sort -u > "$SCRATCH/got.$1"
    if [ -s "$SCRATCH/want.$1" ] && cmp -s "$SCRATCH/want.$1" "$SCRATCH/got.$1"; then
        pass "names/$1"
    else
        fail "names/$1" "$(diff "$SCRATCH/want.$1" "$SCRATCH/got.$1" | sed -n 's/^< /missing /p; s/^> /extra /p' | tr '\n' ' ')"
    fi
}
enum_members memd_startup_status | check_names status
enum_members memd_result | check_names result
enum_members memd_field | check_names field
defines KERR_ | check_names kerr
defines SYS_ | check_names sys
defines MEMD_OP_ | check_names op
defines CAP_TYPE_ CAP_TYPE_LIMIT | check_names type
defines CAP_RIGHT_ | check_names right
defines MEMD_USE_ MEMD_USE_LIMIT | check_names use

# The scenarios.
for scn in tests/scenarios/*.scn; do
    name=$(basename "$scn" .scn)
    trace=$SCRATCH/$name.trace
    "$KMODEL" "$IMAGE" "$scn" > "$trace" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        pass "$name"
        echo "$name: $(grep -m1 '^kernel calls per request:' "$trace" | sed 's/^kernel calls per request: *//')"
    else
        fail "$name" "$(sed -n 's/^FAIL: //p' "$trace" | head -1)$( [ $rc -ne 1 ] && echo " (exit $rc: $(tail -1 "$trace"))")"
        echo "$name: the end of its trace:"
        tail -n 12 "$trace" | sed 's/^/    /'
    fi
done

# EriX's build modes (memd.nw, "Build modes"), each booted under the model:
# an image of mode refuse:STATUS, for the first status of every group, on
# the standard boot, reports STATUS (detail 0) and halts with it; the
# no-ready image halts with MEMD_ST_READY_REJECTED and reports nothing.
# The production image fails each of these scenarios (the mode is what
# makes them pass), and on a boot that breaks a rule every mode reports
# that rule's status.
mode_scn() {  # mode_scn FILE EXPECTATION [ENVELOPE-LINE]
    printf 'title a build mode\ninclude %s/tests/scenarios/standard-boot.inc\n%s\nexpect-startup %s\n' \
        "$PWD" "${3:-}" "$2" > "$1"
}
firsts=$(awk '/^enum memd_startup_status \{/ { on = 1; next } on && /^};/ { on = 0 }
    on && match($0, /MEMD_ST_[A-Z_0-9]+ = [0-9]+/) { split(substr($0, RSTART, RLENGTH), f, " = ")
        g = int(f[2] / 16); if (!(g in seen)) { seen[g] = 1; print f[1] } }' "$HEADER")
modes="no-ready"
for st in $firsts; do modes="$modes refuse:$st"; done
[ "$(echo "$firsts" | wc -w)" -ge 9 ] && pass modes/a-status-of-every-group ||
    fail modes/a-status-of-every-group "statuses found: $firsts"
mode_scn "$SCRATCH/broken.scn" MEMD_ST_ENV_ROLE "envelope role=vspaced"
for mode in $modes; do
    img=$BUILD/memd-${mode/:/-}
    case $mode in
        no-ready) want="unreported halt=MEMD_ST_READY_REJECTED"; st=MEMD_ST_READY_REJECTED ;;
        refuse:*) st=${mode#refuse:}; want=$st ;;
    esac
    if ! make -s image MODE="$mode" > "$SCRATCH/mode.log" 2>&1; then
        fail "modes/$mode" "make image MODE=$mode: $(tail -1 "$SCRATCH/mode.log")"; continue
    fi
    mode_scn "$SCRATCH/mode.scn" "$want"
    "$KMODEL" "$img" "$SCRATCH/mode.scn" > "$SCRATCH/mode.trace" 2>&1
    rc=$?
    case $mode in
        no-ready) seen=$(grep -c -e '^  memd → rootd     READY' "$SCRATCH/mode.trace") ;;
        *) seen=$(grep -c -x -e "  memd → rootd     READY $st detail=0" "$SCRATCH/mode.trace") ;;
    esac
    if [ $rc -ne 0 ]; then
        fail "modes/$mode" "$(sed -n 's/^FAIL: //p' "$SCRATCH/mode.trace" | head -1)"
    elif ! grep -q -x "  memd → kernel    HALT $st" "$SCRATCH/mode.trace" ||
         [ "$seen" != "$([ $mode = no-ready ] && echo 0 || echo 1)" ]; then
        fail "modes/$mode" "the trace does not show the report and the halt of the mode"
    else
        pass "modes/$mode"
    fi
    if "$KMODEL" "$IMAGE" "$SCRATCH/mode.scn" > "$SCRATCH/prod.trace" 2>&1; then
        fail "modes/$mode/not-the-production-image" "the production image passes the mode's scenario"
    else
        pass "modes/$mode/not-the-production-image"
    fi
    if "$KMODEL" "$img" "$SCRATCH/broken.scn" > "$SCRATCH/broken.trace" 2>&1; then
        pass "modes/$mode/a-real-fault-is-reported"
    else
        fail "modes/$mode/a-real-fault-is-reported" "$(sed -n 's/^FAIL: //p' "$SCRATCH/broken.trace" | head -1)"
    fi
done

# The figures the book quotes (memd.nw, "Testing from outside") are the
# model's: kernel calls per allocation and per free of 64 frames in the
# pool-refill scenario.
sentence=$(tr '\n' ' ' < memd.nw | grep -o 'In `pool-refill`, [0-9]* of [0-9]* allocations took 2 calls and [0-9]* took 3, [^.]*130 for 64')
counts=$(grep -m1 '^kernel calls per request:' "$SCRATCH/pool-refill.trace" 2>/dev/null)
read -r two all three <<< "$(echo "$sentence" | sed -n 's/.*`, \([0-9]*\) of \([0-9]*\) allocations took 2 calls and \([0-9]*\) took 3.*/\1 \2 \3/p')"
if [ -n "$sentence" ] && [ $((two + three)) -eq "${all:-0}" ] &&
   echo "$counts" | grep -q "ALLOC 2 (x$two) 3 (x$three);" &&
   echo "$counts" | grep -q "FREE of 64 130 (x"; then
    pass figures-in-book
else
    fail figures-in-book "the book says '${sentence:-nothing}'; the model counted '$counts'"
fi

# `make run`, the first thing a newcomer tries, boots the demo and exits 0.
if make -s run > "$SCRATCH/run.out" 2>&1 && grep -q '^  memd → rootd     READY MEMD_STARTUP_OK' "$SCRATCH/run.out" &&
   grep -q '^PASS ' "$SCRATCH/run.out"; then
    pass make-run
else
    fail make-run "$(tail -1 "$SCRATCH/run.out")"
fi

# The same scenarios against the image built with clang: the same C must
# make the same system calls with the same bytes, so its trace must be the
# gcc image's, line for line, but for the two boot lines that give the
# image's addresses.
CLANG_IMAGE=${CLANG_IMAGE:-$BUILD/clang/memd}
if make -s CC=clang IMAGE="$CLANG_IMAGE" "$CLANG_IMAGE" > "$SCRATCH/clang.log" 2>&1; then
    for scn in tests/scenarios/*.scn; do
        name=$(basename "$scn" .scn)
        "$KMODEL" "$CLANG_IMAGE" "$scn" > "$SCRATCH/$name.clang" 2>&1
        rc=$?
        strip() { grep -v -e '^boot: image ' -e '^boot: startup frame at ' "$1" |
                  sed 's/^PASS [^:]*:/PASS:/'; }
        if [ $rc -ne 0 ]; then
            fail "clang/$name" "$(sed -n 's/^FAIL: //p' "$SCRATCH/$name.clang" | head -1)"
        elif ! cmp -s <(strip "$SCRATCH/$name.trace") <(strip "$SCRATCH/$name.clang"); then
            fail "clang/$name" "its trace differs from the gcc image's: $(diff <(strip "$SCRATCH/$name.trace") <(strip "$SCRATCH/$name.clang") | sed -n '2p')"
        else
            pass "clang/$name"
        fi
    done
else
    fail clang/builds "$(tail -3 "$SCRATCH/clang.log" | tr '\n' ' ')"
fi

# The tester, tested: a careless image (tests/careless-memd.c) makes one
# mistake per case in tests/selftest/, and the model must fail the run
# with the failure the case names ("PASS" for the case with no mistake).
# The scenario reader refuses an injected "failure" that is KERR_OK: a
# scenario cannot ask the model to lie about what it injects.
printf 'title an injection that is no failure\ninclude %s/tests/scenarios/standard-boot.inc\ninject CAP_REVOKE 1 ok\nexpect-startup ok\n' \
    "$PWD" > "$SCRATCH/inject-ok.scn"
if "$KMODEL" "$IMAGE" "$SCRATCH/inject-ok.scn" > "$SCRATCH/inject-ok.out" 2>&1; then
    fail scenario-refuses-injected-ok "the model ran a scenario injecting ok"
elif grep -q 'inject: an injected failure cannot be ok' "$SCRATCH/inject-ok.out"; then
    pass scenario-refuses-injected-ok
else
    fail scenario-refuses-injected-ok "$(tail -1 "$SCRATCH/inject-ok.out")"
fi

for scn in tests/selftest/*.scn; do
    name=$(basename "$scn" .scn)
    want=$(sed -n 's/^# The model must say: //p' "$scn")
    "$KMODEL" "$CARELESS" "$scn" > "$SCRATCH/self.$name" 2>&1
    verdict=$(tail -1 "$SCRATCH/self.$name")
    case $verdict in
        *"$want"*) pass "model-catches/$name" ;;
        *) fail "model-catches/$name" "wanted '$want', got '$verdict'" ;;
    esac
done

# An image with no guard page below its stack reserve: the careless
# image's object, linked by linker.ld less the page it leaves out of every
# segment.  The model checks the page below memd_stack_low is unmapped
# before it starts memd, and refuses to run this one.
sed -e '/^ *memd_guard_low = \.;$/d' -e '/^ *\. += 4096;$/d' linker.ld > "$SCRATCH/noguard.ld"
if cmp -s linker.ld "$SCRATCH/noguard.ld"; then
    fail model-catches/no-guard-page "linker.ld has no line '. += 4096;' to take out"
elif ! ld -nostdlib -static -T "$SCRATCH/noguard.ld" --build-id=none -z max-page-size=4096 \
        -o "$SCRATCH/noguard" "$BUILD/careless-memd.o" > "$SCRATCH/noguard.log" 2>&1; then
    fail model-catches/no-guard-page "cannot link it: $(tail -1 "$SCRATCH/noguard.log")"
else
    "$KMODEL" "$SCRATCH/noguard" tests/selftest/no-mistake.scn > "$SCRATCH/noguard.trace" 2>&1
    case $(tail -1 "$SCRATCH/noguard.trace") in
        "FAIL: the image has no guard page below its stack reserve"*) pass model-catches/no-guard-page ;;
        *) fail model-catches/no-guard-page "wanted 'the image has no guard page below its stack reserve', got '$(tail -1 "$SCRATCH/noguard.trace")'" ;;
    esac
fi

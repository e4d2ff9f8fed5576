#!/usr/bin/env bash
# tests/lines.sh: compiler errors and the debugger point into memd.nw.
set -u
AREA=lines
. "$(dirname "$0")/lib.sh"

# A deliberately broken line in a scratch copy of the web: the compiler must
# name memd.nw and the very line of the break.
mkdir -p "$SCRATCH/w"
cp tangle "$SCRATCH/w/"
anchor=$(grep -n '^_Noreturn void memd_k_halt(uint32_t status)$' memd.nw | head -1 | cut -d: -f1)
if [ -z "$anchor" ]; then
    fail compiler-error-names-web-line "anchor line not found in memd.nw"
else
    broken=$((anchor + 2))    # after the function's opening brace
    awk -v n=$((anchor + 1)) '{ print } NR == n { print "    this_is_a_deliberate_error;" }' \
        memd.nw > "$SCRATCH/w/memd.nw"
    (cd "$SCRATCH/w" && ./tangle >/dev/null 2>&1 &&
     ${CC:-gcc} -std=c11 -ffreestanding -Ibuild -c build/memd-image.c \
        -o /dev/null) > "$SCRATCH/err" 2>&1
    if grep -q "^memd\.nw:$broken:[0-9]*: error" "$SCRATCH/err"; then
        pass compiler-error-names-web-line
    else
        fail compiler-error-names-web-line "wanted memd.nw:$broken, got: $(grep error "$SCRATCH/err" | head -1)"
    fi
fi

# gdb resolves a function of the image to the line of memd.nw that
# declares it, and a breakpoint on it to a line of memd.nw.
for fn in memd_k_query memd_main; do
    decl=$(gdb -batch -nx -ex "info functions ^$fn\$" "$BUILD/memd" 2>/dev/null)
    line=$(echo "$decl" | sed -n 's/^\([0-9][0-9]*\):.*/\1/p' | head -1)
    if echo "$decl" | grep -q '^File memd\.nw:$' && [ -n "$line" ] &&
       sed -n "${line}p" memd.nw | grep -q "$fn"; then
        pass "gdb-resolves-$fn-into-web"
    else
        fail "gdb-resolves-$fn-into-web" "$(echo "$decl" | tr '\n' ' ')"
    fi
done
bp=$(gdb -batch -nx -ex "break memd_k_recv" "$BUILD/memd" 2>/dev/null)
if echo "$bp" | grep -q 'file memd\.nw, line [0-9]'; then
    pass gdb-breakpoint-in-web
else
    fail gdb-breakpoint-in-web "$bp"
fi

# A crash names its case.  In a scratch copy of the tree, one case of
# test-frames writes through a null pointer; under tests/run the cases
# before it are still reported (the test programs' output is line-
# buffered), the crash is reported as that case, and the sanitizer's
# stack trace, among the comments, names lines of memd.nw.
mkdir -p "$SCRATCH/c/tests"
cp Makefile tangle linker.ld "$SCRATCH/c/"
cp tests/run tests/kernel.c tests/kernel.h tests/kmodel.h tests/kmodel-names.c "$SCRATCH/c/tests/"
awk '{ print } $0 == "static void case_frame_budget(void)" { getline; print; print "    *(volatile int *)(uintptr_t)memd_check_failures = 1;" }' \
    memd.nw > "$SCRATCH/c/memd.nw"
if cmp -s memd.nw "$SCRATCH/c/memd.nw"; then
    fail crash-names-its-case "the case to break was not found in memd.nw"
else
    mkdir -p "$SCRATCH/c/build" && cp "$BUILD/.deps-ok" "$SCRATCH/c/build/" 2>/dev/null
    if ! (cd "$SCRATCH/c" && make -s build/host-gcc/test-frames) > "$SCRATCH/c/build.log" 2>&1; then
        fail crash-names-its-case "the scratch test-frames did not build: $(tail -1 "$SCRATCH/c/build.log")"
    else
        (cd "$SCRATCH/c" && BUILD=build TEST_NAMES=frames tests/run frames) > "$SCRATCH/c/run.out" 2>&1
        if ! grep -q '^ok [0-9]* - frames/' "$SCRATCH/c/run.out"; then
            fail crash-names-its-case "the cases before the crash were not reported"
        elif ! grep -q '^not ok [0-9]* - frames/frame-budget (crashed' "$SCRATCH/c/run.out"; then
            fail crash-names-its-case "the crash was not reported as frames/frame-budget: $(grep '^not ok' "$SCRATCH/c/run.out" | head -1)"
        elif ! grep -q '^# .*memd\.nw:[0-9]' "$SCRATCH/c/run.out"; then
            fail crash-names-its-case "no line of the sanitizer's report names memd.nw"
        else
            pass crash-names-its-case
        fi
    fi
fi

# Tests never run stale.  In a scratch copy of the tree: `make test
# AREAS=frames` after a change that breaks the build runs nothing (no TAP
# line, a non-zero status); after a change that breaks a case, it rebuilds
# and reports that case as failing, not the old program's pass.
mkdir -p "$SCRATCH/s/tests" "$SCRATCH/s/build"
cp Makefile tangle linker.ld "$SCRATCH/s/"
cp tests/run tests/kernel.c tests/kernel.h tests/kmodel.h tests/kmodel-names.c "$SCRATCH/s/tests/"
cp "$BUILD/.deps-ok" "$SCRATCH/s/build/" 2>/dev/null
cp memd.nw "$SCRATCH/s/memd.nw"
(cd "$SCRATCH/s" && make -s test AREAS=frames) > "$SCRATCH/s/first.out" 2>&1
if ! grep -q '^\(not \)\{0,1\}ok [0-9]* - frames/' "$SCRATCH/s/first.out"; then
    fail stale-never-runs "the scratch tree's frames area did not run: $(tail -1 "$SCRATCH/s/first.out")"
else
    awk '{ print } $0 == "static void case_frame_budget(void)" { getline; print; print "    this_does_not_compile;" }' \
        memd.nw > "$SCRATCH/s/memd.nw"
    (cd "$SCRATCH/s" && make -s test AREAS=frames) > "$SCRATCH/s/broken.out" 2>&1; rc=$?
    awk '$0 == "static void case_frame_budget(void)" { print; getline; print; print "    EXPECT(0, \"broken on purpose\");"; next } { print }' \
        memd.nw > "$SCRATCH/s/memd.nw"
    (cd "$SCRATCH/s" && make -s test AREAS=frames) > "$SCRATCH/s/failing.out" 2>&1; rc2=$?
    if [ $rc -eq 0 ] || grep -q '^ok ' "$SCRATCH/s/broken.out"; then
        fail stale-never-runs "after a change that does not compile, tests ran (status $rc)"
    elif [ $rc2 -eq 0 ] || ! grep -q '^not ok [0-9]* - frames/frame-budget (broken on purpose)' "$SCRATCH/s/failing.out"; then
        fail stale-never-runs "after a change that breaks frames/frame-budget, it was not reported failing: $(grep 'frame-budget' "$SCRATCH/s/failing.out" | head -1)"
    else
        pass stale-never-runs
    fi
fi

#!/usr/bin/env bash
# tests/image.sh: the memd image is what an EriX kernel can load, and
# nothing more: a static ELF64 x86-64 executable, entered at _start, with
# no interpreter, no dynamic linking, no C library and its stack reserve.
# Checked for the gcc image (build/memd) and for a clang build of it.
set -u
AREA=image
. "$(dirname "$0")/lib.sh"

check_image() {  # check_image PREFIX IMAGE
    local p=$1 img=$2
    if [ ! -f "$img" ]; then fail "$p/exists" "$img missing"; return; fi
    readelf -hlSW "$img" > "$SCRATCH/elf" 2>&1
    nm "$img" > "$SCRATCH/nm" 2>&1

    expect "$p/elf64" grep -q 'Class: *ELF64' "$SCRATCH/elf"
    expect "$p/little-endian" grep -q "Data: *2's complement, little endian" "$SCRATCH/elf"
    expect "$p/et-exec" grep -q 'Type: *EXEC' "$SCRATCH/elf"
    expect "$p/x86-64" grep -q 'Machine: *Advanced Micro Devices X86-64' "$SCRATCH/elf"

    local entry start
    entry=$(sed -n 's/.*Entry point address: *0x\([0-9a-f]*\).*/\1/p' "$SCRATCH/elf")
    start=$(awk '$3 == "_start" { print $1 }' "$SCRATCH/nm")
    if [ -n "$entry" ] && [ -n "$start" ] && [ $((16#$entry)) -eq $((16#$start)) ]; then
        pass "$p/entry-is-_start"
    else
        fail "$p/entry-is-_start" "entry $entry, _start $start"
    fi

    ! grep -q 'INTERP' "$SCRATCH/elf" && pass "$p/no-interp" || fail "$p/no-interp"
    ! grep -Eq 'DYNAMIC|\.dynamic|\.dynsym' "$SCRATCH/elf" && pass "$p/no-dynamic" || fail "$p/no-dynamic"
    [ -z "$(nm -u "$img")" ] && pass "$p/no-undefined-symbols" || fail "$p/no-undefined-symbols" "$(nm -u "$img" | tr '\n' ' ')"

    # No C library: none of its usual entry points or internals is linked.
    if grep -Eq ' (__libc_start_main|printf|malloc|free|exit|_exit|puts|write|abort|__stack_chk_fail|__errno_location)$' "$SCRATCH/nm"; then
        fail "$p/no-libc" "$(grep -E ' (__libc_start_main|printf|malloc|free|exit|_exit|puts|write|abort|__stack_chk_fail)$' "$SCRATCH/nm" | tr '\n' ' ')"
    else
        pass "$p/no-libc"
    fi

    # The stack reserve: a NOBITS section of at least 64 KiB between its two
    # symbols, inside a loadable read-write segment that is not executable.
    local bottom top size
    bottom=$(awk '$3 == "memd_stack_low" { print $1 }' "$SCRATCH/nm")
    top=$(awk '$3 == "memd_stack_high" { print $1 }' "$SCRATCH/nm")
    size=$(awk '$2 == ".stack_reserve" && $3 == "NOBITS" { print $6 }' \
           <(sed 's/\[ *\([0-9]*\)\]/[\1]/' "$SCRATCH/elf"))
    if [ -n "$bottom" ] && [ -n "$top" ] && [ -n "$size" ] &&
       [ $((16#$top - 16#$bottom)) -ge 65536 ] && [ $((16#$size)) -ge 65536 ]; then
        pass "$p/stack-reserve"
    else
        fail "$p/stack-reserve" "bottom=$bottom top=$top size=$size"
    fi
    local ok=0 type off va pa fs ms flg
    while read -r type off va pa fs ms flg _; do
        [ "$type" = LOAD ] || continue
        if [ "$flg" = RW ] && [ $((va)) -le $((16#${bottom:-0})) ] &&
           [ $((16#${top:-0})) -le $((va + ms)) ]; then ok=1; fi
    done < "$SCRATCH/elf"
    [ $ok = 1 ] && pass "$p/stack-reserve-loaded-rw" || fail "$p/stack-reserve-loaded-rw"

    # The guard page: the page right below the stack reserve lies in no
    # loadable segment, so nothing is mapped there; the reserve starts a
    # page of its own.  memd_image_low, where startup says memd begins, is
    # the first byte of the lowest segment.
    local guard=$((16#${bottom:-0} - 4096)) hit=none lowest=
    while read -r type off va pa fs ms flg _; do
        [ "$type" = LOAD ] || continue
        [ -z "$lowest" ] || [ $((va)) -lt $((lowest)) ] && lowest=$((va))
        if [ $((va)) -lt $((guard + 4096)) ] && [ $((guard)) -lt $((va + ms)) ]; then
            hit="$va+$ms"
        fi
    done < "$SCRATCH/elf"
    if [ -n "$bottom" ] && [ $((16#$bottom % 4096)) = 0 ] && [ "$hit" = none ]; then
        pass "$p/guard-page-below-the-stack"
    else
        fail "$p/guard-page-below-the-stack" "reserve at $bottom; a segment $hit covers the page below"
    fi
    local image_low
    image_low=$(awk '$3 == "memd_image_low" { print $1 }' "$SCRATCH/nm")
    if [ -n "$image_low" ] && [ -n "$lowest" ] && [ $((16#$image_low)) = "$lowest" ]; then
        pass "$p/memd_image_low-is-the-first-byte"
    else
        fail "$p/memd_image_low-is-the-first-byte" "memd_image_low $image_low, lowest segment $lowest"
    fi

    # memd's own data is small: its .bss at most 64 KiB (the stack reserve
    # is a section of its own), since its records are in the metadata region.
    local bss
    bss=$(awk '$2 == ".bss" { print $6 }' <(sed 's/\[ *\([0-9]*\)\]/[\1]/' "$SCRATCH/elf"))
    if [ -n "$bss" ] && [ $((16#$bss)) -le 65536 ]; then
        pass "$p/bss-at-most-64-KiB"
    else
        fail "$p/bss-at-most-64-KiB" ".bss is $((16#${bss:-0})) bytes"
    fi

    # No segment is writable and executable at once.
    if awk '$1 == "LOAD" && $7 ~ /W/ && $7 ~ /E/ { bad = 1 } END { exit bad }' "$SCRATCH/elf"; then
        pass "$p/no-wx-segment"
    else
        fail "$p/no-wx-segment"
    fi

    # The host fallback is not in the image: no symbol of the host
    # scaffolding, and no SYS_QUERY_CAP.  Every `syscall` is listed with the
    # number last loaded into eax in its function ("?" if none is seen, which
    # fails: every number must be visible); the numbers come from the ABI
    # header, so renumbering a call does not break the check.
    if grep -Eq ' (memd_host_[A-Za-z0-9_]*|host_[A-Za-z0-9_]*)$' "$SCRATCH/nm"; then
        fail "$p/no-host-scaffolding" "$(grep -E ' (memd_host_|host_)' "$SCRATCH/nm" | tr '\n' ' ')"
    else
        pass "$p/no-host-scaffolding"
    fi
    objdump -d --no-show-raw-insn "$img" | awk '
        /^[0-9a-f]+ <[^>]*>:$/ { fn = $2; nr = "?"; next }
        /mov +\$0x[0-9a-f]+,%eax$/ { n = $NF; sub(/^\$/, "", n); sub(/,%eax$/, "", n); nr = n; next }
        /\tsyscall/ { print fn, nr }' > "$SCRATCH/syscalls"
    sysnr() { printf '0x%x' "$(sed -n "s/^#define $1 \(0x[0-9A-Fa-f]*\)u.*/\1/p" "$BUILD/memd-abi.h")"; }
    local query_cap query_local
    query_cap=$(sysnr SYS_QUERY_CAP) query_local=$(sysnr SYS_QUERY_LOCAL_CAP)
    if [ -s "$SCRATCH/syscalls" ] && ! grep -q ' ?$' "$SCRATCH/syscalls"; then
        pass "$p/every-syscall-number-visible"
    else
        fail "$p/every-syscall-number-visible" "$(grep ' ?$' "$SCRATCH/syscalls" | tr '\n' ' ')"
    fi
    if [ "$query_cap" != 0x0 ] && ! grep -q " $query_cap\$" "$SCRATCH/syscalls"; then
        pass "$p/no-query-cap-syscall"
    else
        fail "$p/no-query-cap-syscall" "SYS_QUERY_CAP is $query_cap: $(tr '\n' ' ' < "$SCRATCH/syscalls")"
    fi
    if [ "$(grep -c '^<memd_k_query>:' "$SCRATCH/syscalls")" = 1 ] &&
       grep -qx "<memd_k_query>: $query_local" "$SCRATCH/syscalls"; then
        pass "$p/memd_k_query-is-query-local-cap"
    else
        fail "$p/memd_k_query-is-query-local-cap" "$(grep '^<memd_k_query>' "$SCRATCH/syscalls")"
    fi

    # Built for the target, not the host: every compilation unit in the
    # image is one of memd's (no start files, no libgcc, nothing of a C
    # library), and no path of the machine that built it is in it.
    local cus
    cus=$(readelf --debug-dump=info "$img" 2>/dev/null | awk '/DW_TAG_compile_unit/ { cu = 1; next }
        cu && /DW_AT_name/ { print $NF; cu = 0 }' | LC_ALL=C sort | tr '\n' ' ')
    if [ "$cus" = "build/memd-core.c build/memd-image.c " ]; then
        pass "$p/only-memds-code"
    else
        fail "$p/only-memds-code" "compilation units: ${cus:-none}"
    fi
    local paths
    paths=$(strings -a "$img" | grep -F -e "$PWD" -e "$(cd "$BUILD" && pwd)" -e /usr/ -e /tmp/ \
            ${HOME:+-e "$HOME"} | sort -u | head -3 | tr '\n' ' ')
    [ -z "$paths" ] && pass "$p/no-host-paths" || fail "$p/no-host-paths" "$paths"

    # Line information points into the web.
    if readelf --debug-dump=line "$img" 2>/dev/null | grep -q 'memd\.nw'; then
        pass "$p/dwarf-lines-into-memd.nw"
    else
        fail "$p/dwarf-lines-into-memd.nw"
    fi
}

check_image gcc "$BUILD/memd"

# The stack memd needs: the deepest call chain of an image built with
# -fstack-usage (which changes no code) in a scratch build directory, by
# each compiler, is at most half of MEMD_STACK_NEED, the stack below the
# startup frame that memd's entry demands (memd.nw, "Entering the image");
# and no single function's frame is as large as the guard page, so that
# a stack run past the reserve touches the guard page before anything
# below it.
need=$(sed -n 's/^#define MEMD_STACK_NEED \([0-9]*\)u.*/\1/p' "$BUILD/memd-image.c")
need=${need:-0}
for cc in gcc clang; do
    sb="$SCRATCH/su-$cc"
    mkdir -p "$sb" && cp "$BUILD/.deps-ok" "$sb/" 2>/dev/null
    if ! make -s BUILD="$sb" CC=$cc IMAGE_EXTRA_CFLAGS=-fstack-usage "$sb/memd" > "$sb.log" 2>&1; then
        fail "stack/$cc/builds" "$(tail -1 "$sb.log")"
        continue
    fi
    deep=$(python3 tests/stackdepth.py "$sb/memd" "$sb"/image-*/*.su 2>&1)
    bytes=$(echo "$deep" | sed -n 's/^deepest \([0-9]*\) bytes.*/\1/p')
    if [ -n "$bytes" ] && [ "$need" -gt 0 ] && [ $((2 * bytes)) -le "$need" ]; then
        pass "stack/$cc/deepest-chain-within-half-of-MEMD_STACK_NEED"
        echo "# $cc: $deep; MEMD_STACK_NEED $need"
    else
        fail "stack/$cc/deepest-chain-within-half-of-MEMD_STACK_NEED" "$deep; MEMD_STACK_NEED $need"
    fi
    largest=$(echo "$deep" | sed -n 's/^largest \([0-9]*\) bytes.*/\1/p')
    if [ -n "$largest" ] && [ "$largest" -lt 4096 ]; then
        pass "stack/$cc/no-frame-steps-over-the-guard-page"
    else
        fail "stack/$cc/no-frame-steps-over-the-guard-page" "$deep"
    fi
done

# The same image, built with clang: it must build warning-free too.
if make -s CC=clang IMAGE="$BUILD/clang/memd" "$BUILD/clang/memd" > "$SCRATCH/clang.log" 2>&1; then
    pass clang/builds-warning-free
    check_image clang "$BUILD/clang/memd"
else
    fail clang/builds-warning-free "$(tail -5 "$SCRATCH/clang.log" | tr '\n' ' ')"
fi

# The compiler decides the build: in a scratch build directory, the image
# built with gcc, then with CC=clang, then with gcc again, is each time the
# compiler's own (its DWARF producer says which), whatever the files' times.
producer() { readelf --debug-dump=info "$1" 2>/dev/null | grep -m1 DW_AT_producer; }
sb="$SCRATCH/cc-build"
mkdir -p "$sb" && cp "$BUILD/.deps-ok" "$sb/" 2>/dev/null
ok=1 why=""
for cc in gcc clang gcc; do
    if ! make -s BUILD="$sb" CC=$cc "$sb/memd" > "$SCRATCH/cc.log" 2>&1; then
        ok=0 why="make CC=$cc failed: $(tail -1 "$SCRATCH/cc.log")"; break
    fi
    case $cc:$(producer "$sb/memd") in
        gcc:*"GNU C"*|clang:*clang*) ;;
        *) ok=0 why="after make CC=$cc the image was built by: $(producer "$sb/memd" | sed 's/.*: //')"; break ;;
    esac
done
[ $ok = 1 ] && pass compiler-decides-the-build || fail compiler-decides-the-build "$why"

# Building the image needs only what tangles and compiles it: in a bare
# copy of the tree, `make -n build/memd` checks for no package of the book
# or of the tests.
sd="$SCRATCH/deps"
mkdir -p "$sd" && cp Makefile tangle linker.ld memd.nw "$sd/"
(cd "$sd" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n build/memd) > "$SCRATCH/deps.out" 2>&1
asked=$(sed -n 's/.*for p in \([^;]*\); do.*/\1/p' "$SCRATCH/deps.out" | tr '\n' ' ')
case " $asked " in
    *" gcc "*) case $asked in
                   *pandoc*|*texlive*|*chromium*|*valgrind*|*clang*)
                       fail image-needs-only-its-packages "make build/memd checks for: $asked" ;;
                   *) pass image-needs-only-its-packages ;;
               esac ;;
    *) fail image-needs-only-its-packages "no package check found in make -n build/memd: $(head -2 "$SCRATCH/deps.out" | tr '\n' ' ')" ;;
esac

# What each group of packages costs (the README's table): tests/deps-size.sh
# prices the three goals, each adding to the one before, so each fetches
# at least as many files and bytes as the last, and names exactly the
# Makefile's packages.
tests/deps-size.sh > "$SCRATCH/size.out" 2> "$SCRATCH/size.err"
named_image=$(make -s --no-print-directory print-packages-image | wc -w)
if awk -v ni="$named_image" -F'|' '
        NR > 2 { n++; files = $4 + 0; mib = $5 + 0
                 if (files <= 0 || mib <= 0 || files < lf || mib < lm) bad = 1
                 if (n == 1 && $3 + 0 != ni) bad = 1
                 lf = files; lm = mib }
        END { exit !(n == 3 && !bad) }' "$SCRATCH/size.out"; then
    pass deps-size-prices-each-goal
else
    fail deps-size-prices-each-goal "$(tr '\n' ' ' < "$SCRATCH/size.out") $(head -2 "$SCRATCH/size.err" | tr '\n' ' ')"
fi

# A make of another tree: nothing of the make that runs this area.
smake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory "$@"; }

# The toolchain make picks (`make toolchain`): gcc on an x86-64 host; on
# another host (told by CC_MACHINE what its gcc targets, as an arm64 gcc
# would say), the cross gcc x86_64-linux-gnu-gcc; with no cross gcc there
# (CROSS_GCC names one that is not), clang with ld.lld; with CC=clang,
# clang; each with its own packages.
picked() { smake toolchain "$@" | sed -n 's/^image toolchain: \([a-z-]*\) .*/\1/p; s/^image packages: make noweb /+ /p' | tr '\n' ' '; }
arm=(CC_MACHINE=aarch64-linux-gnu HOST_ARCH=aarch64)
got="$(picked)/ $(picked "${arm[@]}")/ $(picked "${arm[@]}" CROSS_GCC=no-such-gcc)/ $(picked CC=clang)"
want="gcc + gcc binutils / cross-gcc + gcc-x86-64-linux-gnu binutils-x86-64-linux-gnu / clang + clang lld / clang + clang lld "
[ "$got" = "$want" ] && pass toolchain-picked-for-the-host || fail toolchain-picked-for-the-host "$got"

# Byte-reproducible: the image built from the same four files in two other
# directories (of other depths, their files of other dates, one build
# after the other), with gcc and with clang, is byte for byte the image
# built here with that compiler.  The cross gcc's image (on this host
# x86_64-linux-gnu-gcc is the same compiler as gcc; its packages are the
# cross packages of another host, so their check is skipped) is gcc's.
repro() {  # repro DIR DATE: a tree of the sources, its images built
    mkdir -p "$1/build" && cp Makefile tangle linker.ld memd.nw "$1/" &&
    touch -d "$2" "$1"/Makefile "$1"/tangle "$1"/linker.ld "$1"/memd.nw &&
    (cd "$1" && smake build/memd && smake CC=clang IMAGE=build/clang/memd build/clang/memd &&
     touch build/.deps-image-cross-gcc &&
     smake "${arm[@]}" IMAGE=build/cross/memd build/cross/memd) > "$1.log" 2>&1
}
r1=$SCRATCH/r/a r2=$SCRATCH/rr/other/tree
if repro "$r1" '2001-02-03 04:05' && repro "$r2" '2031-12-30 23:59'; then
    for cc in gcc clang cross; do
        case $cc in gcc|cross) here=$BUILD/memd ;; clang) here=$BUILD/clang/memd ;; esac
        there1=$r1/build/${cc/gcc/.}/memd there2=$r2/build/${cc/gcc/.}/memd
        if cmp -s "$here" "$there1" && cmp -s "$here" "$there2"; then
            pass "reproducible/$cc"
        else
            fail "reproducible/$cc" "$(cmp "$here" "$there1" 2>&1 | head -1) $(cmp "$here" "$there2" 2>&1 | head -1)"
        fi
    done
else
    fail reproducible/builds "$(tail -2 "$r1.log" "$r2.log" 2>/dev/null | tr '\n' ' ')"
fi

# EriX's build modes (memd.nw, "Build modes"): the production image has no
# trace of them.  A book whose test-mode chunk has every line of its body
# blanked (so that no other line moves) builds the very bytes of
# build/memd; the image of each mode differs from it.
chunk="<<core: a test mode's failure, once startup has passed>>="
m=$SCRATCH/modeless
mkdir -p "$m/build" && cp Makefile tangle linker.ld "$m/"
awk -v c="$chunk" '$0 == c { on = 1; print; next } on && $0 == "@" { on = 0 }
    { print on ? "" : $0 } on && NF { n++ } END { exit n < 3 }' memd.nw > "$m/memd.nw"
blanked=$?
if [ $blanked -ne 0 ]; then
    fail production-has-no-test-mode "the book has no chunk '$chunk' of three lines or more"
elif ! (cd "$m" && smake build/memd) > "$m.log" 2>&1; then
    fail production-has-no-test-mode "the blanked book does not build: $(tail -1 "$m.log")"
elif cmp -s "$BUILD/memd" "$m/build/memd"; then
    pass production-has-no-test-mode
else
    fail production-has-no-test-mode "build/memd is not the image of the book without its test modes: $(cmp "$BUILD/memd" "$m/build/memd")"
fi
for mode in no-ready refuse:MEMD_ST_ENV_ROLE; do
    img=$BUILD/memd-${mode/:/-}
    if ! smake image MODE="$mode" > "$SCRATCH/mode.log" 2>&1; then
        fail "mode/$mode/builds" "$(tail -1 "$SCRATCH/mode.log")"
    elif cmp -s "$BUILD/memd" "$img"; then
        fail "mode/$mode/differs" "make image MODE=$mode made the production image"
    else
        pass "mode/$mode/differs"
    fi
done
# A mode is checked by name before anything is built.
for bad in refuse:MEMD_STARTUP_OK refuse:MEMD_ST_NO_SUCH_RULE fail-later; do
    if smake -n image MODE="$bad" > "$SCRATCH/bad.log" 2>&1; then
        fail "mode/refused/$bad" "make accepted MODE=$bad"
    elif grep -q "MODE=$bad: " "$SCRATCH/bad.log"; then
        pass "mode/refused/$bad"
    else
        fail "mode/refused/$bad" "$(tail -1 "$SCRATCH/bad.log")"
    fi
done

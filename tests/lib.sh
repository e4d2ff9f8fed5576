# tests/lib.sh: helpers shared by the shell test programs.  Source it.
# Each check prints one TAP line: "ok - AREA/NAME" or "not ok - AREA/NAME".

BUILD=${BUILD:-build}
AREA=${AREA:?set AREA before sourcing tests/lib.sh}

# pass NAME / fail NAME WHY
pass() { echo "ok - $AREA/$1"; }
fail() { echo "not ok - $AREA/$1${2:+ ($2)}"; }

# expect NAME COMMAND...: ok when COMMAND succeeds.
expect() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}

# scratch: a fresh temporary directory, removed when the program exits.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/memd-test.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

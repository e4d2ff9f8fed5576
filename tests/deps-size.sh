#!/usr/bin/env bash
# tests/deps-size.sh: what each group of Debian packages costs to download,
# on a fresh Debian 12 machine (the README's table).
#
#   tests/deps-size.sh
#
# A fresh machine is taken to hold the packages every Debian 12 system
# holds: those of priority "required" or marked essential, with their
# dependencies.  This script builds a dpkg status file of just those (from
# this machine's own status file, so the versions are the installed ones)
# and asks apt-get, with that status, which .deb files `make` would fetch
# for each goal (--print-uris: nothing is downloaded, nothing installed;
# no root needed).  Each group adds to the ones before it, as the
# Makefile's goals do: the image; the book; the tests.  The figures are
# the sizes of the .deb files in the machine's package lists; an empty
# archive directory keeps the .deb files this machine has already fetched
# from being left out.
set -u
cd "$(dirname "$0")/.." || exit 2
status=$(mktemp) || exit 2
archives=$(mktemp -d) || exit 2     # no .deb counts as fetched already
mkdir -p "$archives/partial"
trap 'rm -rf "$status" "$archives"' EXIT
python3 - "$status" <<'PY'
import re, sys
blocks = [b for b in open('/var/lib/dpkg/status').read().split('\n\n') if b.strip()]
pk, prov = {}, {}
for b in blocks:
    if not re.search(r'^Status: install ok installed$', b, re.M):
        continue
    name = re.search(r'^Package: (\S+)', b, re.M).group(1)
    pk[name] = b
    m = re.search(r'^Provides: (.*)$', b, re.M)
    for p in (m.group(1).split(',') if m else []):
        prov.setdefault(p.strip().split()[0], []).append(name)
def deps(b):
    out = []
    for f in ('Depends', 'Pre-Depends'):
        m = re.search(r'^' + f + r': (.*)$', b, re.M)
        for alt in (m.group(1).split(',') if m else []):
            for a in alt.split('|'):
                n = a.strip().split()[0].split(':')[0]
                if n in pk or n in prov:
                    out.append(n if n in pk else prov[n][0])
                    break
    return out
todo = [n for n, b in pk.items()
        if re.search(r'^(Priority: required|Essential: yes)$', b, re.M)]
seen = set()
while todo:
    n = todo.pop()
    if n not in seen:
        seen.add(n)
        todo += deps(pk[n])
with open(sys.argv[1], 'w') as f:
    f.write('\n\n'.join(pk[n] for n in sorted(seen)) + '\n\n')
PY
group() { make -s --no-print-directory -f Makefile print-packages-"$1" 2>/dev/null; }
printf '| goal | packages named | .deb files fetched | download |\n|---|---|---|---|\n'
pkgs=""
for g in image book test; do
    pkgs="$pkgs $(group "$g")"
    apt-get install -qq --print-uris --no-install-recommends \
        -o Dir::State::status="$status" -o Dir::Cache::archives="$archives" $pkgs 2>&1 |
        awk -v g="$g" -v named="$(echo $pkgs | wc -w)" '
            /^\x27/ { n++; s += $3; next }
            { print "deps-size: " $0 > "/dev/stderr"; bad = 1 }
            END { if (!bad) printf "| %s | %d | %d | %.0f MiB |\n", g, named, n, s / 1048576 }'
done

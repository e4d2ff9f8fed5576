#!/usr/bin/env python3
"""tests/stackdepth.py IMAGE SUFILE...: the deepest call chain of the image.

The compiler's -fstack-usage files (SUFILE, from a build of memd's two
files with the image's flags) give each function's frame, return address
included; the image's disassembly gives who calls whom (a `call` or a
tail `jmp` to a function's first instruction).  The deepest chain is the
path from _start through the call graph whose frames add up to the most
bytes.  Prints `deepest N bytes: f1 > f2 > ...`, then the largest single
frame among the functions reached, `largest N bytes: f`, and exits 1 if the graph
has a cycle (memd has no recursion, so a stack bound would be
meaningless) or a function of the image has no stack figure.
"""
import re
import subprocess
import sys


def plain(name):
    """A function's name without the numbered suffix objdump shows for a
    clone (memd_take_back.constprop.0) and the -fstack-usage file omits."""
    return re.sub(r'\.[0-9]+$', '', name)


def frames(su_files):
    size = {}
    for path in su_files:
        with open(path) as f:
            for line in f:
                where, n, _kind = line.rstrip('\n').split('\t')
                name = plain(where.rsplit(':', 1)[-1])
                size[name] = max(size.get(name, 0), int(n))
    return size


def calls(image):
    out = subprocess.run(['objdump', '-d', '--no-show-raw-insn', image],
                         capture_output=True, text=True, check=True).stdout
    graph, fn = {}, None
    start = re.compile(r'^[0-9a-f]+ <([^>]+)>:$')
    edge = re.compile(r'\t(?:call|jmp)\s+[0-9a-f]+ <([^>+]+)>$')
    for line in out.splitlines():
        m = start.match(line)
        if m:
            fn = plain(m.group(1))
            graph.setdefault(fn, set())
            continue
        m = edge.search(line)
        if m and fn is not None and plain(m.group(1)) != fn:
            graph[fn].add(plain(m.group(1)))
    return graph


def main():
    image, su_files = sys.argv[1], sys.argv[2:]
    size, graph = frames(su_files), calls(image)
    size.setdefault('_start', 8)          # written in assembly: a return address
    best, state = {}, {}

    def deepest(fn):
        if state.get(fn) == 'open':
            print('stackdepth: recursion through ' + fn)
            sys.exit(1)
        if fn in best:
            return best[fn]
        if fn not in size:
            print('stackdepth: no stack figure for ' + fn)
            sys.exit(1)
        state[fn] = 'open'
        below = max((deepest(c) for c in sorted(graph.get(fn, ()))),
                    key=lambda r: r[0], default=(0, []))
        state[fn] = 'done'
        best[fn] = (size[fn] + below[0], [fn] + below[1])
        return best[fn]

    n, chain = deepest('_start')
    print('deepest %d bytes: %s' % (n, ' > '.join(chain)))
    big = max(best, key=lambda f: size[f])
    print('largest %d bytes: %s' % (size[big], big))


if __name__ == '__main__':
    main()

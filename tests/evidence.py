#!/usr/bin/env python3
"""tests/evidence.py: what the tests show of each line of memd.nw, for the
book's evidence marks (make book-evidence; weave --evidence).

    tests/evidence.py --web memd.nw --out build/evidence.json \\
        --cases-dir build/evidence-cases --gcno-dir build/cov \\
        --programs build/cov/cases-test-abi ... \\
        [--image build/memd --kmodel build/kmodel --scenarios tests/scenarios]

Two measurements, each in memd.nw's own line numbers (tangle's #line
directives make the compiler, gcov and gdb speak of memd.nw):

  * the host tests, per test case.  Each program is a test root of the
    book built with --coverage and linked with tests/covcase.c, which
    writes gcov's counters into a directory of their own after every case
    ("ok - AREA/NAME").  Every case's directory is read with gcov (its JSON
    form): which lines of memd.nw the case ran, and how often.
  * the image, per scenario of the kernel model.  The platform's code (the
    chunks that end up in memd-image.c alone) is run by no host test: the
    host builds put the kernel model in its place.  The image runs it
    under the kernel model (the e2e area); here every scenario is played
    once more with gdb holding the image (kmodel --gdb, as `make debug`
    does), a breakpoint on every address the image's line table gives for
    a line of those chunks.  A breakpoint hit is a line run.

The result, build/evidence.json:

    {"format": 1, "web": "memd.nw", "web_sha256": HEX,
     "host": {"what": ..., "cases": ["abi/...", ...], "failed": [K, ...],
              "lines": {"LINE": [COUNT, [K, ...]], ...}},
     "image": {"what": ..., "scenarios": ["e2e/demo", ...], "failed": [...],
               "measured": [LINE, ...], "lines": {"LINE": [K, ...], ...}}}

host.lines holds every line gcov counts (the lines the compiler made
instructions for), with the number of times it ran in all and the cases
that ran it (indices into host.cases); image.measured the lines of the
image's own chunks that carry a breakpoint, image.lines those hit, with
the scenarios that hit them.  web_sha256 is memd.nw's: weave leaves out
evidence measured on another text.  The file is the same for the same
memd.nw and the same build (no date, no path, no time in it).
"""

import argparse
import concurrent.futures
import glob
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def load_weave():
    """weave, as a module: its reader of noweb's stream and its cross-
    references say which lines of the web end up in which file."""
    loader = importlib.machinery.SourceFileLoader(
        "weave", os.path.join(TOP, "weave"))
    spec = importlib.util.spec_from_loader("weave", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# The host tests, case by case.

def run_program(program, base):
    """Run one test program with its cases' counters written under base."""
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    env = dict(os.environ, MEMD_CASE_DIR=os.path.abspath(base))
    env.pop("GCOV_PREFIX", None)
    result = subprocess.run([program], cwd=TOP, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cases = []
    try:
        with open(os.path.join(base, "cases"), encoding="utf-8") as f:
            for line in f:
                number, verdict, name = line.rstrip("\n").split("\t")
                cases.append((os.path.join(base, number), verdict == "ok", name))
    except FileNotFoundError:
        pass
    return result.returncode, cases


def gcov_lines(case_dir, gcno_dir):
    """{line of memd.nw: count} for one case's directory."""
    # libgcov wrote each .gcda under GCOV_PREFIX + the object's absolute
    # path; gcov wants it beside its .gcno.  Only the objects tangled from
    # memd.nw matter (not the kernel model's).
    flat = []
    for path in glob.glob(os.path.join(case_dir, "**", "*.gcda"), recursive=True):
        name = os.path.basename(path)
        if not (name.startswith("memd-") or name.startswith("cases-test-")):
            continue
        gcno = os.path.join(gcno_dir, name[:-5] + ".gcno")
        if not os.path.exists(gcno):
            continue
        target = os.path.join(case_dir, name)
        if path != target:
            os.replace(path, target)
        link = os.path.join(case_dir, name[:-5] + ".gcno")
        if not os.path.exists(link):
            os.symlink(os.path.abspath(gcno), link)
        flat.append(name)
    counts = {}
    if not flat:
        return counts
    result = subprocess.run(["gcov", "--json-format", "--stdout", "-o", ".",
                             *flat], cwd=case_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    for text in result.stdout.decode("utf-8", "replace").splitlines():
        if not text.startswith("{"):
            continue
        for entry in json.loads(text).get("files", []):
            if os.path.basename(entry.get("file", "")) != "memd.nw":
                continue
            for line in entry.get("lines", []):
                n = line["line_number"]
                counts[n] = counts.get(n, 0) + line["count"]
    return counts


def host_evidence(programs, cases_dir, gcno_dir, jobs):
    names, failed, lines = [], [], {}
    runs = []
    for program in programs:
        base = os.path.join(cases_dir, os.path.basename(program))
        status, cases = run_program(program, base)
        if status != 0 and all(ok for _, ok, _ in cases):
            print(f"evidence: {program} exited {status} after "
                  f"{len(cases)} cases", file=sys.stderr)
        runs += cases
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        counted = list(pool.map(lambda c: gcov_lines(c[0], gcno_dir), runs))
    for k, ((_, ok, name), counts) in enumerate(zip(runs, counted)):
        names.append(name)
        if not ok:
            failed.append(k)
        for n, count in counts.items():
            entry = lines.setdefault(n, [0, []])
            entry[0] += count
            if count > 0:
                entry[1].append(k)
    return {"what": "the host tests, per test case, by gcov",
            "cases": names, "failed": failed,
            "lines": {str(n): lines[n] for n in sorted(lines)}}


# ---------------------------------------------------------------------------
# The image, scenario by scenario, under gdb.

def image_only_lines(w, web):
    """The lines of the web in chunks that end up in memd-image.c and in
    no file the host tests compile."""
    parts = w.parse_pipeline(w.noweb_pipeline(web))
    definitions = [c for k, c in parts if k == "code"]
    xref = w.CrossReference(definitions)
    lines = set()
    for d in definitions:
        roots = xref.roots_reached(d.name)
        if roots == {"memd-image.c"}:
            lines.update(d.line_numbers())
    return lines


def line_table(image):
    """address -> the lines of memd.nw that begin a statement there."""
    out = subprocess.run(["objdump", "--dwarf=decodedline", image],
                         stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    table = {}
    for row in out.splitlines():
        fields = row.split()
        if (len(fields) >= 4 and fields[0] == "memd.nw" and fields[-1] == "x"
                and fields[1].isdigit() and fields[2].startswith("0x")):
            table.setdefault(int(fields[2], 16), set()).add(int(fields[1]))
    return table


# The kernel model's gdb stub holds at most 64 breakpoints (tests/kgdb.c):
# a scenario with more addresses to watch is played once per batch.
BREAKPOINTS_PER_RUN = 56


def play(kmodel, image, scenario, addresses, scratch, batch):
    """Play one scenario with gdb holding the image; the addresses hit."""
    name = os.path.splitext(os.path.basename(scenario))[0]
    script = os.path.join(scratch, f"{name}.{batch}.gdb")
    with open(script, "w") as f:
        f.write("set pagination off\nset confirm off\nset width 0\n")
        f.write(f"target remote | exec {kmodel} --gdb {image} {scenario}"
                f" 2>{os.path.join(scratch, f'{name}.{batch}.trace')}\n")
        f.write('printf "@@pc %#lx\\n", $pc\n')
        for address in addresses:
            f.write(f"tbreak *{address:#x}\ncommands\nsilent\n"
                    f'printf "@@hit %#lx\\n", $pc\ncontinue\nend\n')
        f.write("continue\n")
    try:
        result = subprocess.run(["gdb", "-batch", "-nx", "-x", script, image],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=120)
        text = result.stdout
    except subprocess.TimeoutExpired:
        return name, set(), False
    hits = {int(a, 16) for a in re.findall(r"^@@(?:hit|pc) (0x[0-9a-f]+)$",
                                            text, re.M)}
    passed = "exited normally" in text
    return name, hits, passed


def image_evidence(w, web, image, kmodel, scenarios_dir, scratch, jobs):
    wanted = image_only_lines(w, web)
    table = {a: ls & wanted for a, ls in line_table(image).items()}
    table = {a: ls for a, ls in table.items() if ls}
    measured = sorted(set().union(*table.values())) if table else []
    scenarios = sorted(glob.glob(os.path.join(scenarios_dir, "*.scn")))
    os.makedirs(scratch, exist_ok=True)
    kmodel, image = os.path.abspath(kmodel), os.path.abspath(image)
    addresses = sorted(table)
    batches = [addresses[i:i + BREAKPOINTS_PER_RUN]
               for i in range(0, len(addresses), BREAKPOINTS_PER_RUN)]
    runs = [(k, s, b) for k, s in enumerate(scenarios)
            for b in range(len(batches))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        played = list(pool.map(
            lambda r: (r[0],) + play(kmodel, image, os.path.relpath(r[1], TOP),
                                     batches[r[2]], scratch, r[2]), runs))
    names = [f"e2e/{os.path.splitext(os.path.basename(s))[0]}"
             for s in scenarios]
    failed, lines = [], {}
    for k, name, hits, passed in played:
        if not passed and k not in failed:
            failed.append(k)
        for address in hits:
            for n in table.get(address, ()):
                if k not in lines.setdefault(n, []):
                    lines[n].append(k)
    return {"what": "the image under the kernel model, per scenario, "
                    "by gdb breakpoints",
            "scenarios": names, "failed": failed, "measured": measured,
            "lines": {str(n): sorted(lines[n]) for n in sorted(lines)}}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--web", default="memd.nw")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cases-dir", required=True)
    parser.add_argument("--gcno-dir", required=True)
    parser.add_argument("--programs", nargs="+", required=True)
    parser.add_argument("--image")
    parser.add_argument("--kmodel")
    parser.add_argument("--scenarios", default="tests/scenarios")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv[1:])

    w = load_weave()
    with open(args.web, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    evidence = {"format": 1, "web": os.path.basename(args.web),
                "web_sha256": digest}
    evidence["host"] = host_evidence(args.programs, args.cases_dir,
                                     args.gcno_dir, args.jobs)
    if args.image and args.kmodel:
        evidence["image"] = image_evidence(
            w, args.web, args.image, args.kmodel, args.scenarios,
            os.path.join(args.cases_dir, "image"), args.jobs)
    host = evidence["host"]
    ran = sum(1 for count, _ in host["lines"].values() if count)
    summary = (f"evidence: {len(host['cases'])} host test cases ran "
               f"{ran} of the {len(host['lines'])} lines gcov counts")
    if "image" in evidence:
        image = evidence["image"]
        summary += (f"; {len(image['scenarios'])} scenarios ran "
                    f"{len(image['lines'])} of the image's "
                    f"{len(image['measured'])} lines of its own")
    temporary = args.out + ".new"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(evidence, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    os.replace(temporary, args.out)
    print(summary + f"; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

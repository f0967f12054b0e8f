#!/usr/bin/env python3
"""Counts every test case of the given meson build directories.

Each test program prints "N passed, N failed, N skipped" for its own cases;
a program that crashed, timed out or failed without that line counts as one
failed case. Prints one line per build and, last, "N passed, N failed".

An argument DIR:NAME reads the log meson test wrote with --logbase NAME
(the same build's binaries, run again elsewhere: under Debian 12's kernel).
An argument DIR:NAME whose log is missing, with DIR/meson-logs/NAME.skip
present, is a skipped run: that file says why.
"""

import json
import re
import sys

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)


FAILURE_POINTS = re.compile(r"^report: alloc: .*?(\d+) failure points$", re.M)
BREAK_POINTS = re.compile(r"^report: (\d+) break points ", re.M)


def count(arg):
    passed = failed = skipped = points = breaks = 0
    builddir, _, logbase = arg.partition(":")
    logbase = logbase or "testlog"
    try:
        with open(f"{builddir}/meson-logs/{logbase}.json") as log:
            results = [json.loads(line) for line in log if line.strip()]
    except OSError as e:
        try:
            with open(f"{builddir}/meson-logs/{logbase}.skip") as why:
                print(f"{arg}: skipped: {why.read().strip()}")
                return 0, 0, 1
        except OSError:
            pass
        print(f"{arg}: no test log ({e.strerror})")
        return 0, 1, 0
    for r in results:
        out = r.get("stdout") or ""
        for line in out.splitlines():
            if line.startswith("report: "):
                print(f"{arg}: {r['name']}: {line[8:]}")
        points += sum(map(int, FAILURE_POINTS.findall(out)))
        breaks += sum(map(int, BREAK_POINTS.findall(out)))
        found = SUMMARY.findall(out)
        p, f, s = map(int, found[-1]) if found else (0, 0, 0)
        if r["result"] not in ("OK", "SKIP"):
            f = max(f, 1)
        passed, failed, skipped = passed + p, failed + f, skipped + s
        if r["result"] not in ("OK", "SKIP"):
            print(f"{arg}: {r['name']}: {r['result']}")
    if points:
        print(f"{arg}: {points} allocation failure points exercised")
    if breaks:
        print(f"{arg}: {breaks} connection-break points exercised")
    print(f"{arg}: {len(results)} programs, {passed} passed, "
          f"{failed} failed, {skipped} skipped")
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    for builddir in sys.argv[1:]:
        for i, n in enumerate(count(builddir)):
            totals[i] += n
    if totals[2]:
        print(f"{totals[2]} skipped (each printed its reason)")
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 1 if totals[1] or not totals[0] else 0


if __name__ == "__main__":
    sys.exit(main())

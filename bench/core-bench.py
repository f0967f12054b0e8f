#!/usr/bin/env python3
"""Runs the core benchmark against QPixmapCache and prints its results.

Timings come from `core-bench time` (medians of interleaved rounds, one
process); instruction counts from `core-bench callgrind SIZE` run under
valgrind, which does not depend on what else the machine is doing.

Prints one machine-readable line per operation and size:
  core op=find_name_hit size=1000 ours_ns=.. qt_ns=.. ratio=.. ours_ir=.. qt_ir=..
then the Markdown table that goes into doc/performance.md.

usage: bench/core-bench.py [--build DIR] [--sizes 1000,100000,1000000]
                           [--no-callgrind]
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callgrind  # noqa: E402

OPS = [
    ("insert_name", "insert by name"),
    ("find_name_hit", "find by name, hit"),
    ("find_name_miss", "find by name, miss"),
    ("insert_key", "insert returning a key"),
    ("find_key", "find by key"),
    ("remove_name", "remove by name"),
    ("churn_10pct", "churn, budget 10% of the set"),
]
CALLGRIND_OPS = 10000


def run_timings(exe, sizes):
    out = subprocess.run([exe, "time", *map(str, sizes)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def run_callgrind(exe, size):
    """Instructions per operation for each (implementation, op)."""
    counts = {}
    for label, total in callgrind.dumps([exe, "callgrind", str(size)]).items():
        impl, op, _ = label.split(":")
        counts[(impl, op)] = total / CALLGRIND_OPS
    return counts


def fmt(x, digits=0):
    return "-" if x is None else f"{x:.{digits}f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()
    exe = os.path.join(args.build, "bench", "core-bench")
    sizes = [int(s) for s in args.sizes.split(",")]

    timings = run_timings(exe, sizes)
    ir = {}
    if not args.no_callgrind:
        for size in sizes:
            for (impl, op), n in run_callgrind(exe, size).items():
                ir[(impl, op, size)] = n

    times = {(t["op"], t["size"]): t for t in timings}
    rows = []
    for size in sizes:
        for op, _ in OPS:
            t = times.get((op, size))
            if t is None:
                continue
            ratio = t["ours_ns"] / t["qt_ns"]
            ours_ir = ir.get(("ours", op, size))
            qt_ir = ir.get(("qt", op, size))
            print(f"core op={op} size={size} ours_ns={t['ours_ns']:.1f} "
                  f"qt_ns={t['qt_ns']:.1f} ratio={ratio:.2f} "
                  f"ours_ir={fmt(ours_ir)} qt_ir={fmt(qt_ir)}")
            rows.append((op, size, t, ratio, ours_ir, qt_ir))
    for t in timings:
        if t["op"] == "hits_threads":
            print(f"core op=hits_threads size={t['size']} "
                  f"threads={t['threads']} hold={str(t['hold']).lower()} "
                  f"ours_per_s={t['ours_per_s']:.0f}")
        elif t["op"] == "bytes_per_entry":
            print(f"core op=bytes_per_entry size={t['size']} "
                  f"ours_asked={t['ours_asked']:.1f} "
                  f"ours_malloc={t['ours_malloc']:.1f} name={t['name']:.1f} "
                  f"qt_malloc={t['qt_malloc']:.1f}")

    names = dict(OPS)
    print()
    print("| operation | entries | pixcache ns | QPixmapCache ns | ratio "
          "| pixcache instr. | QPixmapCache instr. |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for op, size, t, ratio, ours_ir, qt_ir in rows:
        print(f"| {names[op]} | {size:,} | {t['ours_ns']:.0f} | "
              f"{t['qt_ns']:.0f} | {ratio:.2f} | {fmt(ours_ir)} | "
              f"{fmt(qt_ir)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

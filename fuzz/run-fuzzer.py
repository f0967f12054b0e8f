#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded time and reports.

usage: run-fuzzer.py FUZZER SEEDS SECONDS [RANDOM_SEED]

Fuzzes from a copy of the committed seed corpus SEEDS (which stays as it
is), for SECONDS, under the sanitizers the target was built with. The
random seed is 1 unless given (0: a new one each run): the same inputs
every time, so that a CI run fails only for a change, never by chance;
the README's long runs pass 0 to explore. Prints a
"report:" line (executions, coverage, corpus, crashes) and closes with the
test runners' "N passed, N failed, N skipped"; on a crash, prints the
reproducer's path and what the fuzzer said, and exits 1.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "..", "tests", "lsan.supp")


def main():
    fuzzer, seeds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    random_seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    name = os.path.basename(fuzzer)
    work = tempfile.mkdtemp(prefix=f"pixcache-{name}-")
    corpus = os.path.join(work, "corpus")
    shutil.copytree(seeds, corpus)
    env = dict(os.environ,
               ASAN_OPTIONS="abort_on_error=1:detect_leaks=1",
               LSAN_OPTIONS=f"suppressions={SUPP}:print_suppressions=0",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    p = subprocess.run(
        [fuzzer, f"-max_total_time={seconds}", "-print_final_stats=1",
         f"-seed={random_seed}",
         "-timeout=10", "-rss_limit_mb=2048",
         f"-artifact_prefix={work}/", corpus],
        env=env, capture_output=True, text=True, timeout=seconds + 300)
    out = p.stderr
    runs = re.findall(r"stat::number_of_executed_units: (\d+)", out)
    cov = re.findall(r"cov: (\d+)", out)
    crashes = [f for f in os.listdir(work) if f != "corpus"]
    print(f"report: fuzz: {name}: {runs[-1] if runs else 0} executions in "
          f"{seconds} s, coverage {cov[-1] if cov else 0}, corpus "
          f"{len(os.listdir(corpus))}, {len(crashes)} crashes")
    if p.returncode != 0 or crashes:
        print(out[-6000:])
        print(f"{name}: exit status {p.returncode}; reproducers in {work}:"
              f" {crashes}")
        print("0 passed, 1 failed, 0 skipped")
        return 1
    shutil.rmtree(work)
    print("1 passed, 0 failed, 0 skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The README's main job, small: two clients, one size. Checks that it
runs to the end, every icon needed was found or uploaded exactly once per
name, nothing failed, and pixcached reported what it served.

usage: main-job-test.py MAIN_JOB_PY BUILD_DIR
"""

import re
import subprocess
import sys

p = subprocess.run([sys.executable, sys.argv[1], "--build", sys.argv[2],
                    "--clients", "2", "--sizes", "16"],
                   capture_output=True, text=True, timeout=600)
checks = {
    "exits 0": p.returncode == 0,
    "no failures": re.search(r"^  failures +0 +0$", p.stdout, re.M),
    "each name uploaded once": None,
    "pixcached served both clients": len(re.findall(
        r"pixcached \(.*\): served 2 connections, refused 0", p.stdout)) == 2,
}
needed = re.search(r"each needing (\d+) icons", p.stdout)
uploaded = re.search(r"^  decoded and uploaded +(\d+) +(\d+)$", p.stdout,
                     re.M)
checks["each name uploaded once"] = bool(
    needed and uploaded and uploaded.group(1) == needed.group(1) ==
    uploaded.group(2))
failed = [name for name, ok in checks.items() if not ok]
for name in checks:
    print(f'test "{name}":\t{"FAIL" if name in failed else "pass"}')
if failed:
    print(p.stdout)
    print(p.stderr, file=sys.stderr)
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed, 0 skipped")
sys.exit(1 if failed else 0)

#!/usr/bin/env python3
"""The README's main job, small: two clients, one size, every mode. Checks
that it runs to the end, nothing failed, each name was decoded once
desktop-wide with the cache on an empty cache (and not at all by clients
started on a warm one), every kind of client ran, and pixcached reported
what it served.

usage: main-job-test.py MAIN_JOB_PY BUILD_DIR
"""

import json
import re
import subprocess
import sys
import tempfile

with tempfile.NamedTemporaryFile(suffix=".json") as f:
    p = subprocess.run([sys.executable, sys.argv[1], "--build", sys.argv[2],
                        "--clients", "2", "--sizes", "16", "--rounds", "1",
                        "--json",
                        f.name], capture_output=True, text=True,
                       timeout=600)
    try:
        results = json.load(open(f.name))
    except ValueError:
        results = {}
needed = re.search(r"each needing (\d+) icons", p.stdout)
icons = int(needed.group(1)) if needed else 0


def pixcache(mode):
    return results.get(mode, {}).get("pixcache", {})


checks = {
    "exits 0": p.returncode == 0,
    "every mode ran": sorted(results) == ["same", "shuffled", "warm"],
    "no failures": results and all(
        r["failures"] == 0 for runs in results.values()
        for r in runs.values()),
    "each name decoded once on an empty cache": icons > 0 and all(
        pixcache(m).get("decodes") == icons for m in ("same", "shuffled")),
    "each name uploaded once": icons > 0 and all(
        sum(r["uploads"] for r in pixcache(m).get("reports", [])) == icons
        for m in ("same", "shuffled")),
    "no decode on a warm cache": icons > 0 and
        pixcache("warm").get("decodes") == 0 and
        pixcache("warm").get("filler", {}).get("decodes") == icons,
    "without the cache each client decodes all": icons > 0 and all(
        runs["nocache"]["decodes"] == 2 * icons
        for runs in results.values()),
    "pixcached served both clients": len(re.findall(
        r"pixcached: served 2 connections, refused 0", p.stdout)) == 2,
}
failed = [name for name, ok in checks.items() if not ok]
for name in checks:
    print(f'test "{name}":\t{"FAIL" if name in failed else "pass"}')
if failed:
    print(p.stdout)
    print(p.stderr, file=sys.stderr)
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed, 0 skipped")
sys.exit(1 if failed else 0)

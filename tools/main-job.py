#!/usr/bin/env python3
"""The main job: pixcached serving N desktop-like clients real icons.

Builds an icon set from the installed Adwaita and hicolor themes (PNGs at
the chosen sizes, named by doc/naming.md), then runs it twice, pinned to
one CPU and unpinned: once with the cache (pixcached on a private socket,
N pixcache-workload clients started together), once without (each client
decodes everything itself). Prints what happened and what it cost: hits,
misses, uploads, time per icon, fds and mappings per client, and the
summed proportional memory (PSS) of every process with and without the
cache. Stops everything it started.

usage: main-job.py [--build DIR] [--clients N] [--sizes 16,24,32,48]
                   [--batch N]
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

THEMES = ("Adwaita", "hicolor")
ICON_ROOT = "/usr/share/icons"


def icon_name(theme, file_name, size):
    """icon/<theme>/<icon-name>/<size>@1, with /symbolic for symbolic."""
    base = file_name[:-len(".png")]
    suffix = ""
    if base.endswith(".symbolic"):
        base = base[:-len(".symbolic")]
        if base.endswith("-symbolic"):
            base = base[:-len("-symbolic")]
        suffix = "/symbolic"
    return f"icon/{theme}/{base}/{size}@1{suffix}"


def collect_icons(sizes):
    """Every icon that its theme has at all the sizes asked for."""
    icons, per_theme = [], {}
    for theme in THEMES:
        found = {}
        for size in sizes:
            top = os.path.join(ICON_ROOT, theme, f"{size}x{size}")
            for dirpath, _, files in os.walk(top):
                for f in files:
                    if f.endswith(".png"):
                        found.setdefault(f, {})[size] = \
                            os.path.join(dirpath, f)
        names = sorted(f for f, at in found.items() if len(at) == len(sizes))
        per_theme[theme] = len(names)
        for f in names:
            for size in sizes:
                icons.append((icon_name(theme, f, size), found[f][size]))
    return icons, per_theme


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Run:
    """One run: with or without the cache, pinned or not."""

    def __init__(self, args, listing, cache, pinned, runtime):
        self.args, self.listing = args, listing
        self.cache, self.pinned, self.runtime = cache, pinned, runtime
        self.prefix = ["taskset", "-c", "0"] if pinned else []
        self.env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        self.socket = f"pixcache-main-{os.getpid()}"
        self.daemon = None
        self.log = None

    def start_daemon(self):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.daemon = subprocess.Popen(
            self.prefix + [os.path.join(self.args.build, "tools/pixcached"),
                           "--socket", self.socket, "--budget", "512M"],
            env=self.env, stderr=self.log)
        path = os.path.join(self.runtime, self.socket)
        for _ in range(500):
            if os.path.exists(path):
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.01)
        self.log.seek(0)
        sys.exit(f"main-job: pixcached did not start:\n{self.log.read()}")

    def stop_daemon(self):
        self.daemon.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.daemon.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        self.daemon.returncode = rc
        self.log.seek(0)
        text = self.log.read()
        if rc != 0:
            sys.exit(f"main-job: pixcached exited {rc}:\n{text}")
        return text, usage.ru_utime + usage.ru_stime

    def workers(self):
        tool = os.path.join(self.args.build, "tools/pixcache-workload")
        start_at = time.time_ns() + 500_000_000
        procs = []
        for i in range(self.args.clients):
            mode = ["--socket", self.socket] if self.cache else \
                ["--no-cache"]
            procs.append(subprocess.Popen(
                self.prefix + [tool, *mode, "--list", self.listing,
                               "--worker", str(i), "--batch",
                               str(self.args.batch), "--start-at",
                               str(start_at)],
                env=self.env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True))
        return procs

    def run(self):
        if self.cache:
            self.start_daemon()
        procs = self.workers()
        reports = []
        for p in procs:
            line = p.stdout.readline()
            if not line:
                self.abort(procs)
                sys.exit("main-job: a client died before reporting")
            reports.append(json.loads(line))
        # Every client holds its icons now: read the memory.
        clients_kib = sum(pss_kib(p.pid) for p in procs)
        daemon_kib = pss_kib(self.daemon.pid) if self.daemon else 0
        for p in procs:
            p.stdin.close()
        failed, cpu = [], 0.0
        for p in procs:
            # wait4 for the CPU time each client used, user and system.
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            failed.append(p.returncode)
            cpu += usage.ru_utime + usage.ru_stime
        log, daemon_cpu = self.stop_daemon() if self.cache else ("", 0.0)
        if any(failed):
            sys.exit(f"main-job: clients failed: {failed}\n{log}")
        return {"reports": reports, "clients_kib": clients_kib,
                "daemon_kib": daemon_kib, "log": log,
                "cpu_s": cpu + daemon_cpu, "daemon_cpu_s": daemon_cpu}

    def abort(self, procs):
        for p in procs:
            p.kill()
        if self.daemon:
            self.daemon.kill()


def median(reports, key):
    return statistics.median(r[key] for r in reports)


def total(reports, key):
    return sum(r[key] for r in reports)


def describe(results, args, icons, per_theme):
    cols = [("pinned to CPU 0", True), ("unpinned", False)]
    n = args.clients
    print()
    print(f"pixcache main job: {n} clients started together, each needing "
          f"{len(icons)} icons")
    print("  (" + ", ".join(f"{t} {c} names" for t, c in per_theme.items())
          + f", at sizes {args.sizes}; lookups in batches of "
          f"{args.batch})")
    print()

    def row(label, fn):
        print(f"  {label:<44}" + "".join(f"{fn(results[p]):>18}"
                                         for _, p in cols))
    print(f"  {'':<44}" + "".join(f"{c:>18}" for c, _ in cols))
    print("  with the cache")
    row("icons needed, all clients",
        lambda r: total(r["cache"]["reports"], "icons"))
    row("found in the cache (hits)",
        lambda r: total(r["cache"]["reports"], "hits"))
    row("not found (misses)",
        lambda r: total(r["cache"]["reports"], "misses"))
    row("decoded and uploaded",
        lambda r: total(r["cache"]["reports"], "uploads"))
    row("decoded, but another client stored first",
        lambda r: total(r["cache"]["reports"], "lost_races"))
    row("repeated hits served locally",
        lambda r: total(r["cache"]["reports"], "local_hits"))
    row("failures",
        lambda r: total(r["cache"]["reports"], "failures") +
        total(r["nocache"]["reports"], "failures"))
    print("  time per icon (median over clients)")
    row("first need, batched lookup (us)",
        lambda r: f"{median(r['cache']['reports'], 'lookup_ns_per_icon') / 1000:.1f}")
    row("repeated hit, local (ns, median of 64s)",
        lambda r: f"{median(r['cache']['reports'], 'local_hit_ns'):.0f}")
    row("decode it avoids, PNG (us)",
        lambda r: f"{median(r['nocache']['reports'], 'decode_ns_per_icon') / 1000:.1f}")
    row("upload after a miss, batched (us)",
        lambda r: f"{median(r['cache']['reports'], 'upload_ns_per_icon') / 1000:.1f}")
    row("draw with pixman (us)",
        lambda r: f"{median(r['cache']['reports'], 'draw_ns_per_icon') / 1000:.1f}")
    row("client's whole run, cache / none (ms)",
        lambda r: f"{median(r['cache']['reports'], 'elapsed_ms'):.0f} / "
        f"{median(r['nocache']['reports'], 'elapsed_ms'):.0f}")
    print("  per client (median)")
    row("open fds, cache / none",
        lambda r: f"{median(r['cache']['reports'], 'fds'):.0f} / "
        f"{median(r['nocache']['reports'], 'fds'):.0f}")
    row("mappings, cache / none",
        lambda r: f"{median(r['cache']['reports'], 'mappings'):.0f} / "
        f"{median(r['nocache']['reports'], 'mappings'):.0f}")
    row("of them the library's (pools)",
        lambda r: f"{median(r['cache']['reports'], 'library_mappings'):.0f} "
        f"({median(r['cache']['reports'], 'pools'):.0f})")
    row("leases held",
        lambda r: f"{median(r['cache']['reports'], 'leases'):.0f}")
    print("  memory, summed PSS of every process")
    row("with the cache: clients + pixcached (MiB)",
        lambda r: f"{(r['cache']['clients_kib'] + r['cache']['daemon_kib']) / 1024:.1f}")
    row("  of it pixcached (MiB)",
        lambda r: f"{r['cache']['daemon_kib'] / 1024:.1f}")
    row("without the cache (MiB)",
        lambda r: f"{r['nocache']['clients_kib'] / 1024:.1f}")
    row("with / without",
        lambda r: f"{(r['cache']['clients_kib'] + r['cache']['daemon_kib']) / max(1, r['nocache']['clients_kib']):.2f}")
    print("  CPU time, summed over every process (user + system)")
    row("with the cache: clients + pixcached (s)",
        lambda r: f"{r['cache']['cpu_s']:.2f}")
    row("  of it pixcached (s)",
        lambda r: f"{r['cache']['daemon_cpu_s']:.2f}")
    row("without the cache (s)",
        lambda r: f"{r['nocache']['cpu_s']:.2f}")
    row("with / without",
        lambda r: f"{r['cache']['cpu_s'] / max(1e-9, r['nocache']['cpu_s']):.2f}")
    print()
    for label, p in cols:
        last = [l for l in results[p]["cache"]["log"].splitlines()
                if "served" in l]
        if last:
            print(f"  pixcached ({label}): " +
                  re.sub(r"^pixcached: \[[ 0-9.]+\] ", "", last[-1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sizes", default="16,24,32,48")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", help="also write the results there")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    icons, per_theme = collect_icons(sizes)
    if not icons:
        sys.exit(f"main-job: no icons under {ICON_ROOT} (install "
                 "adwaita-icon-theme and hicolor-icon-theme)")
    runtime = tempfile.mkdtemp(prefix="pixcache-main-")
    os.chmod(runtime, 0o700)
    listing = os.path.join(runtime, "icons.txt")
    with open(listing, "w") as f:
        for name, path in icons:
            f.write(f"{name}\t{path}\n")
    results = {}
    try:
        for pinned in (True, False):
            results[pinned] = {}
            for cache in (True, False):
                what = ("with" if cache else "without") + " the cache, " + \
                    ("pinned" if pinned else "unpinned")
                print(f"main-job: {args.clients} clients {what}...",
                      flush=True)
                results[pinned]["cache" if cache else "nocache"] = \
                    Run(args, listing, cache, pinned, runtime).run()
        describe(results, args, icons, per_theme)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({("pinned" if p else "unpinned"): {
                    m: {k: v for k, v in r.items() if k != "log"}
                    for m, r in results[p].items()} for p in results}, f)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    bad = any(total(results[p][m]["reports"], "failures")
              for p in results for m in results[p])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The client side's benchmarks against their anchors, in one run.

Runs bench/client-bench (built by meson) and tools/main-job.py:

  hit     repeated local hits vs QPixmapCache::find(QString), at 1,000,
          100,000 and 1,000,000 entries (timings, medians of interleaved
          rounds), and callgrind instruction counts of both
  batch   100 first hits in one batch vs a bare round trip vs libpng
          decoding the same 100 icons; pinned (the bench and pixcached on
          CPU 0) and unpinned
  store   storing a 16 MiB pixmap vs writing a fresh memfd of that size
  share   10 processes sharing 500 48x48 icons vs private copies
  many    100 processes with 1,000 lookups each against one pixcached
  main    the main job (8 clients, real icons): summed CPU and PSS

Prints one line per result, then the Markdown tables for
doc/performance.md, and writes the plots (PNG) into --plots.

usage: bench/client-bench.py [--build DIR] [--plots DIR] [--quick]
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callgrind  # noqa: E402

ICON_DIR = "/usr/share/icons/Adwaita/48x48"


def icons_48(n):
    files = sorted(glob.glob(os.path.join(ICON_DIR, "*", "*.png")))
    if len(files) < n:
        sys.exit(f"client-bench: {len(files)} 48x48 icons, {n} needed "
                 "(install adwaita-icon-theme)")
    return files[:n]


def run_json(cmd, env=None, timeout=1800):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"client-bench: {' '.join(cmd[:3])} failed ({p.returncode})")
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


class Daemon:
    """pixcached on a private socket, pinned to CPU 0 or not."""

    def __init__(self, build, pinned):
        self.dir = tempfile.mkdtemp(prefix="pixcache-bench-")
        os.chmod(self.dir, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir)
        self.socket = "bench"
        self.prefix = ["taskset", "-c", "0"] if pinned else []
        self.proc = subprocess.Popen(
            self.prefix + [os.path.join(build, "tools/pixcached"),
                           "--socket", self.socket, "--budget", "1G",
                           "--max-connections", "256"],
            env=self.env, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(os.path.join(self.dir, self.socket)):
                break
            time.sleep(0.01)
        self.env["PIXCACHED_PID"] = str(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def hit_instructions(exe, n):
    """Instructions per hit, ours and Qt's, from 10,000 hits each."""
    return {label.split(":")[0]: total / 10000 for label, total in
            callgrind.dumps([exe, "hit-callgrind", str(n)]).items()}


def batch_instructions(exe):
    """Instructions per first hit of a batch of 100: the client's, and
    the manager's (on a thread of the bench)."""
    counts = callgrind.dumps([exe, "batch-callgrind", *icons_48(101)],
                             others=True)
    return {"client": counts["batch"][0] / 100,
            "manager": counts["batch-manager"][1] / 100}


def debian_python():
    """The plots need Debian's python3-matplotlib: if this interpreter is
    another one (a pyenv, a venv) without it, run under Debian's."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        system = "/usr/bin/python3"
        if os.path.exists(system) and \
                os.path.realpath(sys.executable) != os.path.realpath(system):
            os.execv(system, [system] + sys.argv)


def main():
    debian_python()
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--plots", default="doc/images")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, no callgrind: a smoke run")
    args = parser.parse_args()
    exe = os.path.join(args.build, "bench/client-bench")
    sizes = [1000, 10000] if args.quick else [1000, 100000, 1000000]
    r = {"hit": [], "callgrind": {}, "batch": {}, "store": {}}

    print("client-bench: repeated hits...", flush=True)
    r["hit"] = run_json([exe, "hit", *map(str, sizes)])
    if not args.quick:
        for n in sizes:
            r["callgrind"][n] = hit_instructions(exe, n)
        r["batch_callgrind"] = batch_instructions(exe)
    for pinned in (True, False):
        label = "pinned" if pinned else "unpinned"
        print(f"client-bench: batch and store, {label}...", flush=True)
        d = Daemon(args.build, pinned)
        try:
            r["batch"][label] = run_json(
                d.prefix + [exe, "batch", d.socket, *icons_48(101)],
                env=d.env)[0]
            r["store"][label] = run_json(d.prefix + [exe, "store", d.socket],
                                         env=d.env)[0]
        finally:
            d.stop()
    print("client-bench: sharing and many clients...", flush=True)
    d = Daemon(args.build, False)
    try:
        r["share"] = run_json([exe, "share", d.socket, "10",
                               *icons_48(500)], env=d.env)[0]
        r["many"] = run_json([exe, "many", d.socket,
                              "20" if args.quick else "100", "1000"],
                             env=d.env)[0]
    finally:
        d.stop()
    print(json.dumps(r))
    report(r)
    plot(r, args.plots)
    return 0


def report(r):
    print("\n| entries | local hit, ns (p99) | QPixmapCache::find, ns (p99) "
          "| ratio | instructions, ours / Qt |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for h in r["hit"]:
        cg = r["callgrind"].get(h["size"]) or r["callgrind"].get(
            str(h["size"]), {})
        ins = (f"{cg['ours']:.0f} / {cg['qt']:.0f}" if cg else "-")
        print(f"| {h['size']:,} | {h['ours_ns']:.1f} ({h['ours_p99_ns']:.1f})"
              f" | {h['qt_ns']:.1f} ({h['qt_p99_ns']:.1f}) | "
              f"{h['ours_ns'] / h['qt_ns']:.2f} | {ins} |")
    print("\n| | batch of 100 first hits, µs (p99) | bare round trip, µs "
          "(p99) | decoding the 100 PNGs, µs | batch − round trip, "
          "per pixmap | decode / batch | CPU per pixmap, client + "
          "manager |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, b in r["batch"].items():
        print(f"| {label} | {b['batch_us']:.1f} ({b['batch_p99_us']:.1f}) | "
              f"{b['roundtrip_us']:.1f} ({b['roundtrip_p99_us']:.1f}) | "
              f"{b['decode_us']:.0f} | "
              f"{(b['batch_us'] - b['roundtrip_us']) / b['pixmaps']:.2f} µs |"
              f" {b['decode_us'] / b['batch_us']:.0f}× | "
              f"{b['client_cpu_us'] / b['pixmaps']:.2f} + "
              f"{b['manager_cpu_us'] / b['pixmaps']:.2f} = "
              f"{(b['client_cpu_us'] + b['manager_cpu_us']) / b['pixmaps']:.2f}"
              f" µs |")
    cg = r.get("batch_callgrind")
    if cg:
        print(f"\ninstructions per first hit (callgrind): client "
              f"{cg['client']:.0f}, manager {cg['manager']:.0f}, summed "
              f"{cg['client'] + cg['manager']:.0f}")
    print("\n| | put 16 MiB, ms (p99) | fresh memfd, ms (p99) | speed |")
    print("| --- | ---: | ---: | ---: |")
    for label, s in r["store"].items():
        print(f"| {label} | {s['put_ms']:.2f} ({s['put_p99_ms']:.2f}) | "
              f"{s['memfd_ms']:.2f} ({s['memfd_p99_ms']:.2f}) | "
              f"{s['memfd_ms'] / s['put_ms'] * 100:.0f}% |")
    s = r["share"]
    print(f"\nshare: {s['clients']} clients, {s['icons']} icons: one copy "
          f"{s['one_copy_kib']:.0f} KiB; through the cache "
          f"{s['cached_pss_kib']} KiB summed PSS "
          f"({s['cached_pss_kib'] / s['one_copy_kib']:.2f}x one copy); "
          f"private copies {s['copies_pss_kib']} KiB "
          f"({s['copies_pss_kib'] / s['one_copy_kib']:.2f}x); at most "
          f"{s['max_pixcache_mappings_per_client']} mappings per client")
    m = r["many"]
    print(f"many: {m['clients']} clients, {m['lookups']} lookups, "
          f"{m['failures']} failures, p50 {m['p50_us']:.0f} µs, p99 "
          f"{m['p99_us']:.0f} µs; pixcached fds {m['manager_fds_before']} → "
          f"{m['manager_fds_after']}, RSS {m['manager_rss_kib_before']} → "
          f"{m['manager_rss_kib_after']} KiB")


def plot(r, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("client-bench: no plots (python3-matplotlib is not installed; "
              "./setup.sh installs it)")
        return
    os.makedirs(outdir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sizes = [h["size"] for h in r["hit"]]
    ax.plot(sizes, [h["ours_ns"] for h in r["hit"]], "o-",
            label="pixcache local hit")
    ax.plot(sizes, [h["qt_ns"] for h in r["hit"]], "s--",
            label="QPixmapCache::find(QString)")
    ax.set_xscale("log")
    ax.set_xlabel("entries")
    ax.set_ylabel("ns per hit (median)")
    ax.set_title("Repeated hit by name")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench-hit.png"), dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = list(r["batch"])
    x = range(len(labels))
    for i, (key, name) in enumerate([("roundtrip_us", "bare round trip"),
                                     ("batch_us", "100 first hits, 1 batch"),
                                     ("decode_us", "libpng, 100 icons")]):
        ax.bar([p + i * 0.27 for p in x],
               [r["batch"][l][key] for l in labels], 0.27, label=name)
    ax.set_xticks([p + 0.27 for p in x])
    ax.set_xticklabels(labels)
    ax.set_yscale("log")
    ax.set_ylabel("µs (median)")
    ax.set_title("First hits in one batch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench-batch.png"), dpi=100)
    plt.close(fig)

    s = r["share"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(["one copy", f"{s['clients']} clients,\nthrough the cache",
            f"{s['clients']} clients,\nprivate copies"],
           [s["one_copy_kib"] / 1024, s["cached_pss_kib"] / 1024,
            s["copies_pss_kib"] / 1024])
    ax.set_ylabel("MiB (summed PSS)")
    ax.set_title(f"{s['icons']} 48x48 icons in {s['clients']} processes")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench-share.png"), dpi=100)
    plt.close(fig)
    print(f"client-bench: plots in {outdir}")


if __name__ == "__main__":
    sys.exit(main())

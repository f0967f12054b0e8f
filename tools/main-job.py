#!/usr/bin/env python3
"""The main job: pixcached serving N desktop-like clients real icons.

Builds an icon set from the installed Adwaita and hicolor themes (PNGs at
the chosen sizes, named by doc/naming.md), then runs N clients needing
them all, started together, in each mode:

  same      an empty cache; every client needs the icons in the same
            order (a login: every application asks for the common icons
            first)
  shuffled  an empty cache; each client in an order of its own
  warm      one client fills the cache first, then N new clients start
            (shuffled)

and in each mode without the cache (every client decodes for itself),
with pixcache (pixcached on a private socket), and with KDE's caches
(KSharedDataCache holding pixels, KImageCache holding PNGs, as KIconLoader
uses it) when bench/kde-workload is built. For each it reports icon CPU
(CPU of every process, the manager included, from the start until every
icon is held: no process start-up, no drawing), icon memory (summed PSS
growth over the same span, the manager and the caches' files included)
against one copy (what one client without the cache grows by), decodes
per name desktop-wide, and the time until a client holds its icons.
Stops everything it started.

Each kind runs --rounds times in each mode, the kinds taking turns, and
the figures are the medians over the rounds (on a shared 2-CPU machine a
single run of eight clients varies by a quarter).

usage: main-job.py [--build DIR] [--clients N] [--sizes 16,24,32,48]
                   [--batch N] [--order same|shuffled] [--warm] [--pin]
                   [--rounds N] [--no-kde] [--json FILE] [--plot PNG]
  --order X  only the cold mode X
  --warm     only the warm mode
  --pin      every process on CPU 0
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import glob
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


def cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns (schedstat)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def anon_kib(pid):
    """Anonymous (private heap) memory of pid, in KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_under(pid, root):
    """PSS of pid's mappings of files under root, in KiB."""
    kib, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    inside = len(fields) >= 6 and fields[5].startswith(root)
                elif inside and line.startswith("Pss:"):
                    kib += int(fields[1])
    except OSError:
        pass
    return kib


def allocated_kib(root):
    """Memory the files under root hold (tmpfs pages), in KiB."""
    kib = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                kib += os.stat(os.path.join(dirpath, f)).st_blocks // 2
            except OSError:
                pass
    return kib


class Mode:
    """One kind of client in one mode: N started together, measured."""

    KINDS = ("nocache", "pixcache", "kde-raw", "kde-image")

    def __init__(self, args, listing, kind, mode, runtime):
        self.args, self.listing, self.kind, self.mode = \
            args, listing, kind, mode
        self.order = "same" if mode == "same" else "shuffled"
        self.prefix = ["taskset", "-c", "0"] if args.pin else []
        self.env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        self.socket = f"pixcache-main-{os.getpid()}"
        self.daemon, self.log, self.kde_dir = None, None, None
        if kind.startswith("kde"):
            # In memory, as pixcache's memfds are.
            self.kde_dir = tempfile.mkdtemp(prefix="pixcache-kde-",
                                            dir="/dev/shm")
            self.env["XDG_CACHE_HOME"] = self.kde_dir

    def start_daemon(self):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.daemon = subprocess.Popen(
            self.prefix + [os.path.join(self.args.build, "tools/pixcached"),
                           "--socket", self.socket, "--budget", "512M"],
            env=self.env, stderr=self.log)
        path = os.path.join(self.env["XDG_RUNTIME_DIR"], self.socket)
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
        _, status, _ = os.wait4(self.daemon.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        self.log.seek(0)
        text = self.log.read()
        if rc != 0:
            sys.exit(f"main-job: pixcached exited {rc}:\n{text}")
        return text

    def command(self, worker):
        if self.kind == "nocache":
            tool, how = "tools/pixcache-workload", ["--no-cache"]
        elif self.kind == "pixcache":
            tool, how = "tools/pixcache-workload", ["--socket", self.socket,
                                                    "--batch",
                                                    str(self.args.batch)]
        else:
            tool, how = "bench/kde-workload", [
                "--kind", self.kind[len("kde-"):], "--cache-name",
                "pixcache-main", "--cache-size", str(self.args.kde_size)]
        return self.prefix + [os.path.join(self.args.build, tool), *how,
                              "--list", self.listing, "--order", self.order,
                              "--worker", str(worker)]

    def start(self, first, count):
        start_at = time.time_ns() + 500_000_000
        return [subprocess.Popen(
            self.command(first + i) + ["--start-at", str(start_at)],
            env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True) for i in range(count)]

    def reports(self, procs):
        out = []
        for p in procs:
            line = p.stdout.readline()
            if not line:
                for q in procs:
                    q.kill()
                if self.daemon:
                    self.daemon.kill()
                sys.exit(f"main-job: a {self.kind} client died before "
                         "reporting")
            out.append(json.loads(line))
        return out

    @staticmethod
    def finish(procs):
        for p in procs:
            p.stdin.close()
        codes = []
        for p in procs:
            _, status, _ = os.wait4(p.pid, 0)
            codes.append(os.waitstatus_to_exitcode(status))
        return codes

    def run(self):
        result = {"kind": self.kind, "mode": self.mode}
        if self.kind == "pixcache":
            self.start_daemon()
        pid = self.daemon.pid if self.daemon else None
        pss0 = pss_kib(pid) if pid else 0
        anon0 = anon_kib(pid) if pid else 0
        failed = []
        if self.mode == "warm":
            # The filler: not counted, but what it leaves is.
            fill0 = cpu_ns(pid) if pid else 0
            filler = self.start(self.args.clients, 1)
            result["filler"] = self.reports(filler)[0]
            result["filler_cpu_s"] = (result["filler"]["icon_cpu_ns"] +
                                      (cpu_ns(pid) if pid else 0) -
                                      fill0) / 1e9
            failed += self.finish(filler)
        cpu0 = cpu_ns(pid) if pid else 0
        procs = self.start(0, self.args.clients)
        reports = self.reports(procs)
        # Every client holds its icons now: read CPU and memory.
        cpu1 = cpu_ns(pid) if pid else 0
        growth = sum(r["pss_ready_kib"] - r["pss_before_kib"]
                     for r in reports)
        if self.kde_dir:
            # The cache's file: counted once, whoever maps it.
            growth -= sum(pss_under(p.pid, self.kde_dir) for p in procs)
            growth += allocated_kib(self.kde_dir)
        result.update({
            "reports": reports,
            "icon_cpu_s": (sum(r["icon_cpu_ns"] for r in reports) +
                           cpu1 - cpu0) / 1e9,
            "manager_cpu_s": (cpu1 - cpu0) / 1e9,
            "icon_kib": growth + (pss_kib(pid) - pss0 if pid else 0),
            "manager_kib": pss_kib(pid) - pss0 if pid else 0,
            "manager_anon_kib": anon_kib(pid) - anon0 if pid else 0,
            "leases": sum(r.get("leases", 0) for r in reports),
            "decodes": sum(r["decodes"] for r in reports),
            "failures": sum(r["failures"] for r in reports),
        })
        failed += self.finish(procs)
        result["log"] = self.stop_daemon() if self.daemon else ""
        if self.kde_dir:
            shutil.rmtree(self.kde_dir, ignore_errors=True)
        if any(failed):
            sys.exit(f"main-job: {self.kind} clients failed: {failed}\n"
                     f"{result['log']}")
        return result


def median(reports, key):
    return statistics.median(r[key] for r in reports)


def median_run(runs):
    """The round whose icon CPU is the median, with the medians of the
    other figures over every round."""
    runs = sorted(runs, key=lambda r: r["icon_cpu_s"])
    mid = dict(runs[len(runs) // 2])
    for key in ("icon_kib", "manager_kib", "manager_anon_kib",
                "manager_cpu_s", "filler_cpu_s"):
        if key in mid:
            mid[key] = statistics.median(r[key] for r in runs)
    mid["rounds"] = [{k: r[k] for k in ("icon_cpu_s", "icon_kib",
                                        "decodes")} for r in runs]
    return mid


def total(reports, key):
    return sum(r[key] for r in reports)


def describe(results, args, icons, per_theme):
    n = args.clients
    print()
    print(f"pixcache main job: {n} clients started together, each needing "
          f"{len(icons)} icons; medians of {args.rounds} rounds")
    print("  (" + ", ".join(f"{t} {c} names" for t, c in per_theme.items())
          + f", at sizes {args.sizes}; lookups in batches of "
          f"{args.batch}" + ("; every process on CPU 0" if args.pin else "")
          + ")")
    for mode, runs in results.items():
        base = runs["nocache"]
        one_copy = max(1, median([{"g": r["pss_ready_kib"] -
                                   r["pss_before_kib"]}
                                  for r in base["reports"]], "g"))
        print()
        print(f"  mode {mode}: " + {
            "same": "an empty cache, every client in the same order",
            "shuffled": "an empty cache, each client in its own order",
            "warm": "one client filled the cache, then "
                    f"{n} new clients"}[mode])
        print(f"    {'':<10}{'icon CPU':>10}{'vs none':>9}"
              f"{'memory':>10}{'/ 1 copy':>10}{'decodes':>9}"
              f"{'ready':>9}{'hits':>8}")
        print(f"    {'':<10}{'(s)':>10}{'':>9}{'(MiB)':>10}{'':>10}"
              f"{'/ name':>9}{'(ms)':>9}{'':>8}")
        for kind, r in runs.items():
            print(f"    {kind:<10}{r['icon_cpu_s']:>10.2f}"
                  f"{r['icon_cpu_s'] / max(1e-9, base['icon_cpu_s']):>9.2f}"
                  f"{r['icon_kib'] / 1024:>10.1f}"
                  f"{r['icon_kib'] / one_copy:>10.2f}"
                  f"{r['decodes'] / max(1, len(icons)):>9.2f}"
                  f"{median(r['reports'], 'icon_ns') / 1e6:>9.0f}"
                  f"{total(r['reports'], 'hits'):>8}")
        p = runs.get("pixcache")
        if p:
            print(f"    pixcache: pixcached {p['manager_cpu_s']:.2f} s of "
                  f"the CPU, {p['manager_kib'] / 1024:.1f} MiB of the "
                  f"memory ({p['manager_anon_kib'] / 1024:.1f} MiB heap: "
                  f"{p['manager_anon_kib'] * 1024 / max(1, p['leases']):.0f}"
                  f" bytes per lease over {p['leases']} leases); "
                  f"uploads {total(p['reports'], 'uploads')}, lost races "
                  f"{total(p['reports'], 'lost_races')}; repeated hit "
                  f"{median(p['reports'], 'local_hit_ns'):.0f} ns; "
                  f"{median(p['reports'], 'fds'):.0f} fds and "
                  f"{median(p['reports'], 'mappings'):.0f} mappings a client")
            if "filler" in p and "filler" in base:
                alone = base["filler_cpu_s"]
                print(f"    one client filling the empty cache: "
                      f"{p['filler_cpu_s']:.3f} s of CPU, pixcached "
                      f"included, against {alone:.3f} s for one client "
                      f"decoding alone ({p['filler_cpu_s'] / alone:.2f}x), "
                      f"{p['filler']['decodes']} decodes")
            last = [l for l in p["log"].splitlines() if "served" in l]
            if last:
                print("    pixcached: " + re.sub(
                    r"^pixcached: \[[ 0-9.]+\] ", "", last[-1]))
    print()
    print("  icon CPU: every process, the manager included, from the start "
          "until its icons are held; memory: summed PSS growth over that "
          "span, the caches' files counted once; one copy: what one client "
          "without the cache grows by")


def plot(results, path):
    """Icon CPU and memory of each kind, against no cache, per mode."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("main-job: no plot (python3-matplotlib is not installed)")
        return
    modes = list(results)
    kinds = [k for k in Mode.KINDS if k in results[modes[0]]]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, what, label in (
            (axes[0], lambda r, b: r["icon_cpu_s"] / b["icon_cpu_s"],
             "icon CPU / no cache"),
            (axes[1], lambda r, b: r["icon_kib"] / (b["icon_kib"] /
                                                    len(b["reports"])),
             "icon memory / one copy")):
        width = 0.8 / len(kinds)
        for i, kind in enumerate(kinds):
            ax.bar([m + i * width for m in range(len(modes))],
                   [what(results[m][kind], results[m]["nocache"])
                    for m in modes], width, label=kind)
        ax.set_xticks([m + 0.4 - width / 2 for m in range(len(modes))])
        ax.set_xticklabels(modes)
        ax.set_ylabel(label)
        ax.set_yscale("log")
    axes[0].legend(fontsize="small")
    fig.suptitle("The main job: 8 clients, real icons (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def debian_python():
    """The plot needs Debian's python3-matplotlib: if this interpreter is
    another one (a pyenv, a venv) without it, run under Debian's."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        system = "/usr/bin/python3"
        if os.path.exists(system) and \
                os.path.realpath(sys.executable) != os.path.realpath(system):
            os.execv(system, [system] + sys.argv)


def main():
    if "--plot" in sys.argv:
        debian_python()
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sizes", default="16,24,32,48")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--order", choices=("same", "shuffled"))
    parser.add_argument("--warm", action="store_true")
    parser.add_argument("--pin", action="store_true")
    parser.add_argument("--no-kde", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results there")
    parser.add_argument("--plot", help="and a plot of them, as PNG")
    args = parser.parse_args()
    if args.warm:
        modes = ["warm"]
    else:
        modes = [args.order] if args.order else ["same", "shuffled", "warm"]
    kinds = ["nocache", "pixcache"]
    if not args.no_kde and os.path.exists(
            os.path.join(args.build, "bench/kde-workload")):
        kinds += ["kde-raw", "kde-image"]
    sizes = [int(s) for s in args.sizes.split(",")]
    icons, per_theme = collect_icons(sizes)
    # KDE's caches reserve their whole size up front: four times the
    # pixels, a power of two (smaller ones lose entries to collisions).
    pixels = sum(4 * int(re.search(r"/(\d+)@1", n).group(1)) ** 2
                 for n, _ in icons)
    args.kde_size = 16 << 20
    while args.kde_size < 4 * pixels:
        args.kde_size *= 2
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
        for mode in modes:
            runs = {kind: [] for kind in kinds}
            for n in range(args.rounds):
                for kind in kinds:
                    print(f"main-job: {args.clients} clients, {kind}, "
                          f"mode {mode}, round {n + 1} of {args.rounds}...",
                          flush=True)
                    runs[kind].append(Mode(args, listing, kind, mode,
                                           runtime).run())
            results[mode] = {kind: median_run(r) for kind, r in runs.items()}
        describe(results, args, icons, per_theme)
        if args.plot:
            plot(results, args.plot)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({m: {k: {x: v for x, v in r.items() if x != "log"}
                               for k, r in runs.items()}
                           for m, runs in results.items()}, f)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    bad = any(r["failures"] for runs in results.values()
              for r in runs.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""libpixcache-gtk in a GTK 4 application on a real compositor.

Starts headless Weston 10 with the plugin (tests/pxtest.py), runs
pixcache-gtk-demo on it (GSK's cairo renderer: no GPU) with Adwaita's
colour icons at 48 pixels, and checks:
 - on an empty cache the first instance decodes and stores each icon
   once, and its window, captured with weston-screenshooter, shows each
   icon's PNG pixel for pixel (tests/screenshot-check decodes the files
   itself and composes the reference);
 - its window goes with it;
 - a second instance is served from the cache: its loader decoded
   nothing, the manager counted a hit for every icon and no miss, and its
   window is as exact;
 - with no manager to reach, the demo decodes every icon itself and shows
   the same pixels, and the manager hears nothing.
Every instance is stopped with SIGTERM and must exit 0: under
AddressSanitizer, also without a leak (tests/lsan.supp names fontconfig's).

usage: gtk-weston-test.py BUILD_DIR OUT_DIR
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxtest import Weston, run_cases  # noqa: E402

BUILD, OUT = sys.argv[1], sys.argv[2]
DEMO = os.path.join(BUILD, "gtk", "pixcache-gtk-demo")
CHECK = os.path.join(BUILD, "tests", "screenshot-check")
PIXCACHE = os.path.join(BUILD, "tools", "pixcache")
SOCKET = "pixcache-gtk-test"
INI = """[core]
require-input=false

[shell]
startup-animation=none
animation=none
close-animation=none
focus-animation=none

[pixcache]
budget=48M
"""
ICONS = ["accessories-calculator", "accessories-text-editor",
         "address-book-new", "applications-games", "camera-photo",
         "edit-copy", "edit-paste", "folder", "help-browser", "mail-send",
         "media-optical", "network-wired", "preferences-desktop-font",
         "system-run", "user-trash"]
# GTK without a GPU, a session bus, dconf or the user's own icons and
# settings: what the test shows is the demo's alone. GLib's slice
# allocator as plain malloc, as GLib's documentation asks of leak
# checkers: GLib 2.74 otherwise keeps objects in slabs, and
# LeakSanitizer saw no leaked texture.
GTK_ENV = {"GSK_RENDERER": "cairo", "GDK_BACKEND": "wayland",
           "GTK_A11Y": "none", "NO_AT_BRIDGE": "1",
           "GSETTINGS_BACKEND": "memory", "G_SLICE": "always-malloc",
           "G_DEBUG": "gc-friendly"}
# Attempts at a capture showing the window (or no longer showing it).
CAPTURES = 100


def skip(why):
    print(f"gtk-weston-test: skipped: {why}")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)


def icon_files():
    """The PNG each icon should show: Adwaita's 48-pixel file."""
    files = {}
    for name in ICONS:
        paths = sorted(glob.glob(
            f"/usr/share/icons/Adwaita/48x48/*/{name}.png"))
        if len(paths) == 1:
            files[name] = paths[0]
    return files


class Demo:
    """An instance of the demo, up to its first frame's report."""

    def __init__(self, w, names, **env):
        home = os.path.join(w.dir, "home")
        self.proc = subprocess.Popen(
            [DEMO, "--theme", "Adwaita", "--size", "48", "--columns", "5",
             "--seconds", "120", *names],
            env=dict(w.env, **GTK_ENV, XDG_DATA_HOME=home,
                     XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home, **env),
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the demo exited {self.proc.wait()} "
                                 "before its first frame")
        self.layout = json.loads(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        assert rc == 0, f"the demo exited {rc}"


def capture(w, layout, files, out, shown=True):
    """Captures the screen until the window shows (or, shown False, until
    it is gone), CAPTURES tries at most; returns screenshot-check's result
    against the icons' files (3: the window is not there)."""
    shots = os.path.join(w.dir, "shots")
    os.makedirs(out, exist_ok=True)
    args = [str(layout[k]) for k in ("width", "height", "background",
                                     "marker", "marker_top_left",
                                     "marker_bottom_right")]
    args += [f"{i['x']},{i['y']},{files[i['name']]}"
             for i in layout["icons"]]
    for _ in range(CAPTURES):
        shutil.rmtree(shots, ignore_errors=True)
        os.makedirs(shots)
        r = w.run("weston-screenshooter", cwd=shots)
        assert r.returncode == 0, \
            f"weston-screenshooter exited {r.returncode}: {r.stderr}"
        shot = glob.glob(os.path.join(shots, "*.png"))
        assert len(shot) == 1, shot
        check = w.run(CHECK, shot[0], out, *args)
        if (check.returncode != 3) == shown:
            shutil.copy(shot[0], os.path.join(out, "screenshot.png"))
            return check
        time.sleep(0.1)
    return check


def assert_shows_icons(w, demo, files, out):
    layout = demo.layout
    for icon in layout["icons"]:
        assert icon["file"] == files[icon["name"]], icon
        assert icon["texture"] and icon["width"] == icon["height"] == 48, \
            icon
    check = capture(w, layout, files, out)
    print(check.stdout.rstrip())
    assert check.returncode == 0, check.stdout + check.stderr


def manager_stats(w):
    r = w.run(PIXCACHE, "--socket", SOCKET, "stat", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def counts(layout):
    return {k: layout[k] for k in ("hits", "decodes", "uploads", "uncached",
                                   "passed")}


def first_instance_decodes_each_icon_once_and_shows_it_exactly(w, files):
    names = list(files)
    demo = Demo(w, names)
    try:
        assert demo.layout["client"], demo.layout
        assert counts(demo.layout) == {"hits": 0, "decodes": len(names),
                                       "uploads": len(names), "uncached": 0,
                                       "passed": 0}, counts(demo.layout)
        assert_shows_icons(w, demo, files, os.path.join(OUT, "first"))
    finally:
        demo.stop()
    stats = manager_stats(w)
    assert stats["entries"] == len(names), stats
    # Its window goes with it: no capture may find the next one's there.
    gone = capture(w, demo.layout, files, os.path.join(OUT, "gone"),
                   shown=False)
    assert gone.returncode == 3, gone.stdout


def second_instance_is_served_from_the_cache(w, files):
    names = list(files)
    before = manager_stats(w)
    demo = Demo(w, names)
    try:
        assert counts(demo.layout) == {"hits": len(names), "decodes": 0,
                                       "uploads": 0, "uncached": 0,
                                       "passed": 0}, counts(demo.layout)
        assert_shows_icons(w, demo, files, os.path.join(OUT, "second"))
    finally:
        demo.stop()
    after = manager_stats(w)
    assert after["hits"] - before["hits"] >= len(names), (before, after)
    assert after["misses"] == before["misses"], (before, after)
    print(f"report: gtk: second instance: {len(names)} icons, "
          f"{demo.layout['hits']} hits, {demo.layout['decodes']} decodes; "
          f"the manager counted {after['hits'] - before['hits']} hits, "
          f"{after['misses'] - before['misses']} misses")


def without_a_manager_the_demo_decodes_them_itself(w, files):
    names = list(files)
    before = manager_stats(w)
    demo = Demo(w, names, PIXCACHE_SOCKET="pixcache-gtk-test-nobody")
    try:
        assert not demo.layout["client"], demo.layout
        assert counts(demo.layout) == {"hits": 0, "decodes": len(names),
                                       "uploads": 0,
                                       "uncached": len(names),
                                       "passed": 0}, counts(demo.layout)
        assert_shows_icons(w, demo, files, os.path.join(OUT, "uncached"))
    finally:
        demo.stop()
    after = manager_stats(w)
    assert (after["hits"], after["misses"]) == \
        (before["hits"], before["misses"]), (before, after)


def weston_exits_0(w):
    rc = w.stop()
    assert rc == 0, f"weston exited {rc}"


CASES = [first_instance_decodes_each_icon_once_and_shows_it_exactly,
         second_instance_is_served_from_the_cache,
         without_a_manager_the_demo_decodes_them_itself]


def main():
    if shutil.which("weston") is None:
        skip("weston is not installed (./setup.sh installs it)")
    if shutil.which("weston-screenshooter") is None:
        skip("weston-screenshooter is not installed")
    files = icon_files()
    if len(files) < 8:
        skip(f"only {len(files)} of Adwaita's 48-pixel icons are installed "
             "(adwaita-icon-theme)")
    w = Weston(BUILD, SOCKET, INI)
    return run_cases(
        w, [(case.__name__, lambda case=case: case(w, files))
            for case in CASES],
        finish=lambda: weston_exits_0(w))


if __name__ == "__main__":
    sys.exit(main())

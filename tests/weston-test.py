#!/usr/bin/env python3
"""pixcache inside a real compositor: headless Weston 10 with the plugin.

Starts Weston (headless backend, pixman renderer, desktop-shell, --debug
for the screenshooter) in a private 0700 XDG_RUNTIME_DIR on a socket of
its own, with a weston.ini whose [pixcache] section the plugin must read,
and checks: the plugin loaded with that configuration and raised the fd
limit; put and get across processes through Weston's socket; hostile
clients earn their exact protocol errors while Weston keeps serving; the
demo window, captured with weston-screenshooter, matches pixel by pixel a
reference rendered from the source PNGs; Weston stops cleanly on SIGTERM
with the plugin's last word in its log. Weston is started and stopped by
its PID.

usage: weston-test.py BUILD_DIR OUT_DIR
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxtest import Skip, Weston, png_bytes, read_pam, run_cases  # noqa: E402

BUILD, OUT = sys.argv[1], sys.argv[2]
TOOLS = os.path.join(BUILD, "tools")
TESTS = os.path.join(BUILD, "tests")
SOCKET = "pixcache-weston-test"
INI = """[core]
require-input=false

[shell]
startup-animation=none
animation=none
focus-animation=none

[pixcache]
budget=48M
realm-quota=16M
max-leases=2000
pool-size=2M
"""
# Icons of the demo: real theme PNGs at 48 pixels (colour, not symbolic).
DEMO_ICONS = ["accessories-calculator", "accessories-text-editor",
              "address-book-new", "applications-games", "camera-photo",
              "edit-copy", "edit-paste", "folder", "help-browser",
              "input-keyboard", "mail-send", "media-optical",
              "network-wired", "preferences-desktop-font", "system-run",
              "user-trash"]


def skip(why):
    print(f"weston-test: skipped: {why}")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)


TESTS_RUN = []


def test(fn):
    TESTS_RUN.append(fn)
    return fn


@test
def plugin_reads_weston_ini_and_raises_the_fd_limit(w):
    log = w.read_log()
    assert w.alive(), log
    assert re.search(r"pixcache: manager ready, instance [0-9a-f]{16}, "
                     r"budget 50331648 bytes, realm quota 16777216, "
                     r"table capacity 65536, pools of 2097152 bytes", log), log
    m = re.search(r"pixcache: fd limit (\d+) \(was (\d+), hard limit (\d+)\)",
                  log)
    assert m and m.group(1) == m.group(3), log


@test
def put_and_get_across_processes_through_westons_socket(w):
    src = os.path.join(w.dir, "in.png")
    pixels = [(250, 10, 10, 255), (10, 250, 10, 255), (10, 10, 250, 255),
              (1, 2, 3, 255)]
    with open(src, "wb") as f:
        f.write(png_bytes(pixels, 2, 2))
    pixcache = os.path.join(TOOLS, "pixcache")
    put = w.run(pixcache, "--socket", SOCKET, "put", "test/w", src)
    assert put.returncode == 0, put.stderr
    out = os.path.join(w.dir, "out.pam")
    get = w.run(pixcache, "--socket", SOCKET, "get", "test/w", "-o", out)
    assert get.returncode == 0, get.stderr
    assert read_pam(out) == (pixels, 2, 2)
    byk = w.run(pixcache, "--socket", SOCKET, "get", "--key",
                put.stdout.strip(), "-o", out)
    assert byk.returncode == 0, byk.stderr
    stat = json.loads(w.run(pixcache, "--socket", SOCKET, "stat",
                            "--json").stdout)
    assert stat["budget"] == 48 << 20 and stat["entries"] >= 1


@test
def hostile_clients_get_their_errors_and_weston_serves_on(w):
    p = w.run(os.path.join(TESTS, "weston-hostile"), SOCKET)
    sys.stdout.write("".join("  " + line + "\n"
                             for line in p.stdout.splitlines()))
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^6 passed, 0 failed", p.stdout, re.M), p.stdout
    assert w.alive(), "weston died"


def weston_with(ini_extra, socket):
    """Another Weston, its [pixcache] section ending with ini_extra."""
    return Weston(BUILD, socket, INI + ini_extra)


@test
def plugin_refuses_a_drm_device_that_is_none(w):
    other = weston_with("drm-device=/dev/null\n", SOCKET + "-null")
    try:
        rc = other.proc.wait(timeout=30)
        log = other.read_log()
        assert rc != 0, "weston ran with /dev/null as its DRM device"
        assert "pixcache: drm-device /dev/null: Invalid argument" in log, log
        assert "pixcache: manager ready" not in log, log
    finally:
        if other.alive():
            other.proc.kill()
            other.proc.wait()
        shutil.rmtree(other.dir, ignore_errors=True)


@test
def plugin_gives_clients_dmabufs_of_its_drm_device(w):
    card = "/dev/dri/card0"
    example = os.path.join(BUILD, "examples", "pixcache-dmabuf-import")
    if not os.path.exists(card):
        raise Skip(f"no DRM device: {card} (the 6.1 guest has vgem)")
    if not os.path.exists(example):
        raise Skip("examples/pixcache-dmabuf-import is not built (EGL)")
    socket = SOCKET + "-gpu"
    other = weston_with(f"drm-device={card}\n", socket)
    try:
        log = other.read_log()
        assert other.alive(), log
        assert f"pixcache: GPU pixmaps on {card}" in log, log
        src = os.path.join(other.dir, "in.png")
        pixels = [(200, 30, 40, 255)] * 16
        with open(src, "wb") as f:
            f.write(png_bytes(pixels, 4, 4))
        put = other.run(os.path.join(TOOLS, "pixcache"), "--socket", socket,
                        "put", "test/gpu", src)
        assert put.returncode == 0, put.stderr
        imp = other.run(example, "--cache-socket", socket, "test/gpu")
        assert imp.returncode == 0, imp.stdout + imp.stderr
        assert imp.stdout.startswith("path: dma-buf"), imp.stdout
    finally:
        if other.alive():
            other.stop()
        shutil.rmtree(other.dir, ignore_errors=True)


def demo_icons():
    found = []
    for name in DEMO_ICONS:
        paths = glob.glob(f"/usr/share/icons/Adwaita/48x48/*/{name}.png")
        if paths:
            found.append(sorted(paths)[0])
    return found


@test
def demo_window_matches_its_icons_pixel_by_pixel(w):
    icons = demo_icons()
    assert len(icons) >= 8, f"only {len(icons)} demo icons installed"
    # Half the icons are in the cache already: the demo both hits and
    # uploads.
    pixcache = os.path.join(TOOLS, "pixcache")
    for path in icons[::2]:
        name = "icon/Adwaita/{}/48@1".format(
            os.path.basename(path)[:-len(".png")])
        r = w.run(pixcache, "--socket", SOCKET, "put", name, path)
        assert r.returncode in (0, 4), r.stderr
    demo = subprocess.Popen(
        [os.path.join(TOOLS, "pixcache-demo"), "--columns", "4",
         "--seconds", "30", *icons], env=w.env, stdout=subprocess.PIPE,
        text=True)
    try:
        layout = json.loads(demo.stdout.readline())
        assert layout["hits"] == len(icons[::2]), layout
        assert layout["uploads"] == len(icons) - len(icons[::2]), layout
        # The frame was shown; give the output one more repaint.
        time.sleep(0.3)
        shots = os.path.join(w.dir, "shots")
        os.makedirs(shots, exist_ok=True)
        r = w.run("weston-screenshooter", cwd=shots)
        assert r.returncode == 0, r.stderr
        shot = glob.glob(os.path.join(shots, "*.png"))
        assert len(shot) == 1, shot
        os.makedirs(OUT, exist_ok=True)
        check = w.run(
            os.path.join(TESTS, "screenshot-check"), shot[0], OUT,
            str(layout["width"]), str(layout["height"]),
            str(layout["background"]), str(layout["marker"]),
            str(layout["marker_top_left"]),
            str(layout["marker_bottom_right"]),
            *[f"{i['x']},{i['y']},{i['file']}" for i in layout["icons"]])
        print(check.stdout.rstrip())
        shutil.copy(shot[0], os.path.join(OUT, "screenshot.png"))
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def weston_stops_cleanly(w):
    rc = w.stop()
    log = w.read_log()
    assert rc == 0, f"weston exited {rc}"
    for line in log.splitlines():
        if "pixcache:" in line:
            print("report: weston: " + line)
    assert re.search(r"pixcache: stopping: \d+ entries", log), log
    assert not os.path.exists(os.path.join(w.dir, SOCKET))


def main():
    if shutil.which("weston") is None:
        skip("weston is not installed (./setup.sh installs it)")
    if shutil.which("weston-screenshooter") is None:
        skip("weston-screenshooter is not installed")
    w = Weston(BUILD, SOCKET, INI)
    cases = [(fn.__name__, lambda fn=fn: fn(w)) for fn in TESTS_RUN]
    cases.append(("weston_stops_cleanly_with_the_plugin",
                  lambda: weston_stops_cleanly(w)))
    return run_cases(w, cases)


if __name__ == "__main__":
    sys.exit(main())

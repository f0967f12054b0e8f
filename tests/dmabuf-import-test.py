#!/usr/bin/env python3
"""examples/dmabuf-import.c and its helpers, end to end.

Each case starts pixcached on a socket of its own (with --drm-device
/dev/dri/card0 for the dma-buf cases, without it for the shm fallback),
puts a PNG written here, and runs pixcache-dmabuf-import on it:
  - EGL: the example imports the pixmap's dma-buf (examples/pixcache-egl.h)
    or, without a device, uploads its bytes, and compares every pixel read
    back; its first line must name the path it took;
  - a surface: under headless Weston 10 (GL renderer for the dma-buf,
    whose zwp_linux_dmabuf_v1 it needs; pixman for the shm path), the
    example shows the pixmap on a subsurface, as a wl_buffer of
    zwp_linux_dmabuf_v1 (examples/pixcache-wayland.h) or of wl_shm, and
    weston-screenshooter's capture must match, pixel by pixel, a reference
    rendered from the PNG (screenshot-check).
The dma-buf cases need /dev/dri/card0 making dumb buffers (vgem in
tests/vm/vm-run.sh --modules vgem) and Mesa importing dma-bufs; elsewhere
they are skipped, saying why.

usage: dmabuf-import-test.py BUILD_DIR OUT_DIR
"""

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
from pxtest import png_bytes  # noqa: E402

BUILD, OUT = sys.argv[1], sys.argv[2]
EXAMPLE = os.path.join(BUILD, "examples", "pixcache-dmabuf-import")
PIXCACHED = os.path.join(BUILD, "tools", "pixcached")
PIXCACHE = os.path.join(BUILD, "tools", "pixcache")
CHECK = os.path.join(BUILD, "tests", "screenshot-check")
CARD = "/dev/dri/card0"
SCALE = int(os.environ.get("PXC_TEST_TIMEOUT_SCALE", "1"))
NAME = "test/dmabuf-import"
INI = """[core]
require-input=false

[shell]
startup-animation=none
animation=none
focus-animation=none
"""


class Skip(Exception):
    pass


def pattern(w, h):
    """Straight RGBA, opaque but for a fully transparent square: exact
    through any renderer's blending (no partial alpha to round)."""
    pixels = []
    for y in range(h):
        for x in range(w):
            if 4 <= x < 10 and 4 <= y < 10:
                pixels.append((0, 0, 0, 0))
            else:
                pixels.append(((x * 7) & 0xff, (y * 9) & 0xff,
                               (x * y + 40) & 0xff, 255))
    return pixels


class Env:
    """A private runtime directory, pixcached on it, the PNG put."""

    def __init__(self, device):
        self.dir = tempfile.mkdtemp(prefix="pixcache-dmabuf-")
        os.chmod(self.dir, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir)
        for var in ("PIXCACHE_SOCKET", "WAYLAND_DISPLAY"):
            self.env.pop(var, None)
        self.png = os.path.join(self.dir, "pattern.png")
        with open(self.png, "wb") as f:
            f.write(png_bytes(pattern(37, 29), 37, 29))
        self.weston = None
        self.log = open(os.path.join(self.dir, "pixcached.log"), "w+")
        self.daemon = subprocess.Popen(
            [PIXCACHED, "--socket", "cache"] +
            (["--drm-device", CARD] if device else []),
            env=self.env, stderr=self.log)
        self.wait_for(lambda: os.path.exists(self.path("cache")) or
                      self.daemon.poll() is not None, "pixcached's socket")
        if self.daemon.poll() is not None:
            self.log.seek(0)
            raise Skip("pixcached --drm-device %s: %s" %
                       (CARD, self.log.read().strip()))
        r = self.run(PIXCACHE, "--socket", "cache", "put", NAME, self.png)
        assert r.returncode == 0, r.stderr

    def path(self, name):
        return os.path.join(self.dir, name)

    def wait_for(self, ready, what, seconds=10):
        for _ in range(seconds * SCALE * 100):
            if ready():
                return
            time.sleep(0.01)
        raise AssertionError(f"no {what} after {seconds * SCALE} s")

    def run(self, *cmd, **kw):
        return subprocess.run(list(cmd), env=self.env, capture_output=True,
                              text=True, timeout=60 * SCALE, **kw)

    def start_weston(self, gl):
        """Headless Weston on socket "wayland" with the renderer asked."""
        with open(self.path("weston.ini"), "w") as f:
            f.write(INI)
        self.weston_log = self.path("weston.log")
        self.weston = subprocess.Popen(
            ["weston", "--backend=headless-backend.so",
             "--use-gl" if gl else "--use-pixman",
             # Small: llvmpipe under TCG repaints and reads back less.
             "--width=320", "--height=240",
             "--shell=desktop-shell.so", "--socket=wayland",
             "-c", self.path("weston.ini"), "--debug",
             f"--log={self.weston_log}"],
            env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.wait_for(lambda: os.path.exists(self.path("wayland")) or
                      self.weston.poll() is not None, "Weston socket", 60)
        if self.weston.poll() is not None:
            raise Skip("weston %s did not start: %s" % (
                "--use-gl" if gl else "--use-pixman",
                self.weston_tail()))
        self.env["WAYLAND_DISPLAY"] = "wayland"
        # desktop-shell's own clients (panel, background) come up too.
        time.sleep(0.5 * SCALE)

    def weston_tail(self):
        try:
            with open(self.weston_log) as f:
                return " | ".join(f.read().strip().splitlines()[-4:])
        except OSError:
            return "no log"

    def close(self):
        for proc in (self.weston, self.daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def need_card():
    if not os.path.exists(CARD):
        raise Skip(f"no {CARD} (run it under tests/vm/vm-run.sh "
                   "--modules vgem)")


def draw_with_egl(e, path):
    r = e.run(EXAMPLE, "--cache-socket", "cache", NAME)
    if r.returncode != 0 and "no EGL" in r.stderr:
        raise Skip(r.stderr.strip())
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines and lines[0].startswith(path), r.stdout
    assert "egl: 37x29, every pixel read back equal" in r.stdout, r.stdout
    return lines[0]


def show_on_surface(e, path, name):
    demo = subprocess.Popen(
        [EXAMPLE, "--cache-socket", "cache", "--surface", "--seconds",
         str(60 * SCALE), NAME], env=e.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        first = demo.stdout.readline()
        line = demo.stdout.readline()
        if not line:
            raise AssertionError("the example ended: %s %s | weston: %s" % (
                first, demo.stderr.read(), e.weston_tail()))
        layout = json.loads(line)
        assert first.startswith(path), first
        assert layout["path"] == path.split(" ")[1], layout
        # The frame was shown; give the output one more repaint.
        time.sleep(0.3 * SCALE)
        shots = e.path("shots")
        os.makedirs(shots)
        r = e.run("weston-screenshooter", cwd=shots)
        assert r.returncode == 0, r.stderr
        shot = glob.glob(os.path.join(shots, "*.png"))
        assert len(shot) == 1, shot
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        shutil.copy(shot[0], os.path.join(out, "screenshot.png"))
        check = e.run(CHECK, shot[0], out, str(layout["width"]),
                      str(layout["height"]), str(layout["background"]),
                      str(layout["marker"]), str(layout["marker_top_left"]),
                      str(layout["marker_bottom_right"]),
                      f"{layout['x']},{layout['y']},{e.png}")
        print("  " + check.stdout.rstrip())
        assert check.returncode == 0, check.stdout + check.stderr
        assert e.weston.poll() is None, "weston died: " + e.weston_tail()
        return first.strip()
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def egl_without_a_device_takes_the_shm_path(e):
    line = draw_with_egl(e, "path: shm (pixcache_pixmap_get_dmabuf: "
                            "No such device")
    print("  " + line)


def egl_imports_the_dmabuf_with_every_pixel_equal(e):
    line = draw_with_egl(e, "path: ")
    if line.startswith("path: shm (the EGL display lacks"):
        raise Skip(line)
    assert line.startswith("path: dma-buf ("), line
    print("  " + line)


def surface_without_a_device_shows_the_shm_copy(e):
    e.start_weston(gl=False)
    print("  " + show_on_surface(e, "path: shm (pixcache_pixmap_get_dmabuf:"
                                    " No such device", "shm"))


def surface_shows_the_dmabuf_as_a_linux_dmabuf_wl_buffer(e):
    e.start_weston(gl=True)
    try:
        print("  " + show_on_surface(e, "path: dma-buf (", "dmabuf"))
    except AssertionError as ex:
        if "path: shm (the compositor offers no zwp_linux_dmabuf" in str(ex):
            raise Skip("Weston's GL renderer offers no "
                       "zwp_linux_dmabuf_v1 here (its EGL display cannot "
                       "import dma-bufs)")
        raise


CASES = [
    (egl_without_a_device_takes_the_shm_path, False),
    (egl_imports_the_dmabuf_with_every_pixel_equal, True),
    (surface_without_a_device_shows_the_shm_copy, False),
    (surface_shows_the_dmabuf_as_a_linux_dmabuf_wl_buffer, True),
]


def main():
    counts = {"pass": 0, "FAIL": 0, "skip": 0}
    for fn, device in CASES:
        e = None
        start = time.monotonic()
        try:
            if fn.__name__.startswith("surface"):
                for tool in ("weston", "weston-screenshooter"):
                    if shutil.which(tool) is None:
                        raise Skip(f"{tool} is not installed "
                                   "(./setup.sh installs it)")
            if device:
                need_card()
            e = Env(device)
            fn(e)
            result, why = "pass", ""
        except Skip as ex:
            result, why = "skip", f": {ex}"
        except Exception as ex:  # report each case, go on
            result, why = "FAIL", f": {ex}"
        finally:
            if e is not None:
                e.close()
        counts[result] += 1
        print(f'test "{fn.__name__}":\t{result} '
              f'{time.monotonic() - start:.3f} s{why}')
    print(f"{counts['pass']} passed, {counts['FAIL']} failed, "
          f"{counts['skip']} skipped")
    if counts["FAIL"]:
        return 1
    return 77 if counts["pass"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

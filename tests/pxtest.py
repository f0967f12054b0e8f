"""What the Python tests share: PNG and PAM files written and read here,
independently of the C code under test (zlib and struct only), and
headless Weston 10 with the pixcache plugin."""

import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib


def png_bytes(pixels, w, h):
    def chunk(kind, data):
        body = kind + data
        return (struct.pack(">I", len(data)) + body +
                struct.pack(">I", zlib.crc32(body)))
    raw = b"".join(b"\0" + bytes(c for p in pixels[y * w:(y + 1) * w]
                                 for c in p) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pam_bytes(pixels, w, h):
    return (f"P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH 4\nMAXVAL 255\n"
            "TUPLTYPE RGB_ALPHA\nENDHDR\n").encode() + bytes(
                c for p in pixels for c in p)


def read_pam(path):
    data = open(path, "rb").read()
    head, _, body = data.partition(b"ENDHDR\n")
    fields = dict(line.split(" ", 1) for line in head.decode().split("\n")
                  if " " in line)
    w, h = int(fields["WIDTH"]), int(fields["HEIGHT"])
    assert int(fields["DEPTH"]) == 4 and len(body) == w * h * 4
    return [tuple(body[i:i + 4]) for i in range(0, len(body), 4)], w, h


def read_png(path):
    """An 8-bit RGBA PNG's pixels, undoing the five filters."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype == 6
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * 4, [], None
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        up = prev or bytearray(stride)
        for i in range(stride):
            a = line[i - 4] if i >= 4 else 0
            b, c = up[i], up[i - 4] if i >= 4 else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            line[i] = (line[i] + pred) & 0xff
        rows.append(line)
        prev = line
    flat = b"".join(rows)
    return [tuple(flat[i:i + 4]) for i in range(0, len(flat), 4)], w, h


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def sanitizer_env(plugin):
    """A plugin built with AddressSanitizer needs its runtime loaded
    first in Weston, which is not built with it: preload the runtimes the
    plugin links. Weston's own allocations are not ours to check for
    leaks; the plugin's errors still abort it."""
    ldd = subprocess.run(["ldd", plugin], capture_output=True,
                         text=True).stdout
    runtimes = re.findall(r"=> (\S*lib(?:asan|ubsan)\.so\S*)", ldd)
    if not runtimes:
        return {}
    return {"LD_PRELOAD": " ".join(runtimes),
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:"
                            "verify_asan_link_order=0"}


class Weston:
    """Headless Weston 10 with the plugin (tools/weston-pixcache.c): the
    pixman renderer, desktop-shell (under kiosk-shell a window does not
    show in a capture), --debug for weston-screenshooter, a private 0700
    XDG_RUNTIME_DIR, the socket given, and ini as its weston.ini. Started
    and stopped by its PID."""

    def __init__(self, build, socket, ini):
        plugin = os.path.abspath(os.path.join(build, "tools", "pixcache.so"))
        self.dir = tempfile.mkdtemp(prefix="pixcache-weston-")
        os.chmod(self.dir, 0o700)
        self.socket = socket
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir,
                        WAYLAND_DISPLAY=socket)
        self.env.pop("PIXCACHE_SOCKET", None)
        self.ini = os.path.join(self.dir, "weston.ini")
        self.log = os.path.join(self.dir, "weston.log")
        with open(self.ini, "w") as f:
            f.write(ini)
        self.proc = subprocess.Popen(
            ["weston", "--backend=headless-backend.so", "--use-pixman",
             "--shell=desktop-shell.so", f"--socket={socket}",
             "--modules=" + plugin, "-c", self.ini, "--debug",
             f"--log={self.log}"],
            env=dict(self.env, **sanitizer_env(plugin)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(1000):
            if "pixcache: manager ready" in self.read_log():
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        # desktop-shell's own clients (panel, background) come up too.
        time.sleep(0.5)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def run(self, *cmd, **kw):
        return subprocess.run(list(cmd), env=self.env, capture_output=True,
                              text=True, timeout=60, **kw)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


class Skip(Exception):
    """Raised by a case that cannot run here; its message says why."""


def run_cases(w, cases, finish=None):
    """Runs cases, (name, function) pairs, with Weston w: each result on a
    line of its own as tests/summarize.py reads them, going on after a
    failure (a case raising Skip is counted skipped, with its reason); then finish() if given, whose failure is the script's. Kills
    Weston if it still runs, prints the end of its log after a failure,
    removes its directory, and prints the summary. Returns the exit
    status: 1 if a case failed."""
    passed = failed = skipped = 0
    try:
        for name, run in cases:
            try:
                run()
                print(f'test "{name}":\tpass')
                passed += 1
            except Skip as why:
                print(f"SKIP: {why}")
                print(f'test "{name}":\tskip')
                skipped += 1
            except Exception as ex:  # report each case, go on
                print(f'test "{name}":\tFAIL: {ex}')
                failed += 1
        if finish is not None:
            finish()
    finally:
        if w.alive():
            w.proc.kill()
            w.proc.wait()
        if failed:
            print(w.read_log()[-3000:])
        shutil.rmtree(w.dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0

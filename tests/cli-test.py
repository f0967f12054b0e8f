#!/usr/bin/env python3
"""The pixcache command and pixcached, as a user runs them.

Starts pixcached on private sockets (one main, one of realm "app1") in a
runtime directory of its own, then runs pixcache and checks exit statuses,
stdout and that every error is exactly one line on stderr. Images are
written and read here (PNG and PAM) to compare pixels end to end.

usage: cli-test.py PIXCACHED PIXCACHE
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxtest import pam_bytes, png_bytes, read_pam, read_png  # noqa: E402

PIXCACHED, PIXCACHE = sys.argv[1], sys.argv[2]
KEY = re.compile(r"^pxc1-[0-9a-f]{16}-\d+-\d+-[0-9a-f]{16}$")

# 3x2 straight-alpha RGBA: opaque colours and one fully transparent pixel
# (premultiplied, it keeps no colour: it comes back as 0, 0, 0, 0).
W, H = 3, 2
PIXELS = [
    (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255),
    (10, 20, 30, 255), (200, 100, 50, 255), (9, 9, 9, 0),
]
EXPECTED = [p if p[3] else (0, 0, 0, 0) for p in PIXELS]


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pixcache-cli-")
        os.chmod(self.dir, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir)
        self.env.pop("PIXCACHE_SOCKET", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.log = open(os.path.join(self.dir, "pixcached.log"), "w+")
        self.daemon = subprocess.Popen(
            [PIXCACHED, "--socket", "main", "--realm-socket", "sand:app1"],
            env=self.env, stderr=self.log)
        for _ in range(200):
            if os.path.exists(os.path.join(self.dir, "sand")):
                break
            time.sleep(0.01)
        self.png = self.file("in.png", png_bytes(PIXELS, W, H))
        self.pam = self.file("in.pam", pam_bytes(PIXELS, W, H))

    def file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args, socket="main"):
        cmd = [PIXCACHE] + (["--socket", socket] if socket else []) + \
            list(args)
        p = subprocess.run(cmd, env=self.env, capture_output=True,
                           text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=10)
        self.log.seek(0)
        return rc, self.log.read()


def expect(result, status, out=None):
    rc, stdout, stderr = result
    assert rc == status, f"exit {rc}, wanted {status}; stderr: {stderr!r}"
    if status == 0:
        assert stderr == "", f"stderr on success: {stderr!r}"
    else:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("pixcache: "), \
            f"wanted one error line, got {stderr!r}"
    if out is not None:
        assert re.search(out, stdout), f"stdout {stdout!r} !~ {out!r}"
    return stdout


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def put_prints_a_key_and_get_returns_the_pixels_as_pam(e):
    key = expect(e.run("put", "icon/t/a/3@1", e.png), 0).strip()
    assert KEY.match(key), key
    expect(e.run("get", "icon/t/a/3@1", "-o", e.path("a.pam")), 0)
    assert read_pam(e.path("a.pam")) == (EXPECTED, W, H)


@test
def pam_in_png_out(e):
    expect(e.run("put", "b", e.pam), 0)
    expect(e.run("get", "b", "-o", e.path("b.png")), 0)
    assert read_png(e.path("b.png")) == (EXPECTED, W, H)


@test
def an_existing_name_is_refused_unless_replaced(e):
    expect(e.run("put", "c", e.png), 0)
    assert "exists" in e.run("put", "c", e.png)[2]
    expect(e.run("put", "c", e.png), 4)
    expect(e.run("put", "--replace", "c", e.pam), 0)


@test
def a_missing_name_is_status_1(e):
    expect(e.run("get", "nowhere", "-o", e.path("x.png")), 1)
    assert not os.path.exists(e.path("x.png"))


@test
def get_by_key_and_stale_after_rm(e):
    key = expect(e.run("put", "d", e.png), 0).strip()
    expect(e.run("get", "--key", key, "-o", e.path("d.pam")), 0)
    assert read_pam(e.path("d.pam"))[0] == EXPECTED
    expect(e.run("rm", "d"), 0)
    expect(e.run("rm", "d"), 1)
    expect(e.run("get", "--key", key, "-o", e.path("d2.pam")), 1)


@test
def ls_and_stat_as_json(e):
    expect(e.run("put", "e/1", e.png), 0)
    listed = json.loads(expect(e.run("ls", "--json"), 0))
    names = {entry["name"] for entry in listed}
    assert "e/1" in names
    entry = [x for x in listed if x["name"] == "e/1"][0]
    assert (entry["width"], entry["height"], entry["format"]) == \
        (3, 2, "AR24") and KEY.match(entry["key"])
    stats = json.loads(expect(e.run("stat", "--json"), 0))
    assert stats["entries"] == len(listed)
    expect(e.run("ls"), 0, r"e/1\t3x2\tAR24\tpxc1-")


@test
def usage_errors_are_status_2(e):
    expect(e.run(), 2)
    expect(e.run("frob"), 2)
    expect(e.run("put", "only-a-name"), 2)
    expect(e.run("get", "x"), 2)
    expect(e.run("get", "--key", "pxc1-nonsense", "-o", e.path("k.png")), 2)
    expect(e.run("get", "--key", "x", "name", "-o", e.path("k.png")), 2)
    expect(e.run("put", "f", "/nonexistent.png"), 2)
    expect(e.run("put", "f", "/etc/hostname"), 2)
    expect(e.run("put", "--format", "rgb565", "f", e.png), 2)
    expect(e.run("put", "", e.png), 2)
    expect(e.run("stat", "--replace"), 2)


@test
def saving_needs_a_known_extension(e):
    expect(e.run("put", "g", e.png), 0)
    expect(e.run("get", "g", "-o", e.path("g.jpg")), 2)


@test
def no_manager_is_status_3(e):
    expect(e.run("stat", socket="no-such-socket"), 3)


@test
def a_realm_is_its_clients_own_but_its_keys_travel(e):
    key = expect(e.run("put", "--realm", "app1", "secret", e.png,
                       socket="sand"), 0).strip()
    # The main socket's clients cannot see the name...
    expect(e.run("get", "--realm", "app1", "secret", "-o",
                 e.path("s.pam")), 4)
    # ...but can use the key handed to them.
    expect(e.run("get", "--key", key, "-o", e.path("s.pam")), 0)
    assert read_pam(e.path("s.pam"))[0] == EXPECTED


@test
def a_realm_socket_reads_default_but_does_not_write_it(e):
    expect(e.run("put", "h", e.png), 0)
    expect(e.run("get", "h", "-o", e.path("h.pam"), socket="sand"), 0)
    expect(e.run("put", "h2", e.png, socket="sand"), 4)


def wayland_session(path):
    """A raw Wayland client on the socket at path that binds the pixcache
    manager once and keeps the session while the socket is open."""
    import socket
    import struct

    def request(obj, opcode, payload):
        sock.sendall(struct.pack("<II", obj, (8 + len(payload)) << 16 |
                                 opcode) + payload)

    def string(text):
        data = text.encode() + b"\0"
        return struct.pack("<I", len(data)) + data + \
            b"\0" * (-len(data) % 4)

    def until_done(callback):
        """Reads events until wl_callback callback is done; returns the
        pixcache manager's global name if the registry announced it."""
        buf, name = b"", None
        while True:
            while len(buf) < 8 or len(buf) < struct.unpack(
                    "<I", buf[4:8])[0] >> 16:
                chunk = sock.recv(65536)
                assert chunk, "the compositor hung up"
                buf += chunk
            obj, word = struct.unpack("<II", buf[:8])
            size, opcode = word >> 16, word & 0xffff
            body, buf = buf[8:size], buf[size:]
            if obj == 2 and opcode == 0:
                n, length = struct.unpack("<II", body[:8])
                if body[8:8 + length - 1] == b"pixcache_manager_v1":
                    name = n
            if obj == callback and opcode == 0:
                return name

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    request(1, 1, struct.pack("<I", 2))     # wl_display.get_registry
    request(1, 0, struct.pack("<I", 3))     # wl_display.sync
    name = until_done(3)
    assert name is not None, "no pixcache_manager_v1 global"
    request(2, 0, struct.pack("<I", name) + string("pixcache_manager_v1") +
            struct.pack("<II", 1, 4))        # wl_registry.bind
    request(1, 0, struct.pack("<I", 5))
    until_done(5)
    return sock


@test
def a_refused_client_is_status_4(e):
    """Another connection holds the only place pixcached has: the manager
    refuses this one, and pixcache says so with status 4."""
    log = open(e.path("tight.log"), "w")
    daemon = subprocess.Popen(
        [PIXCACHED, "--socket", "tight", "--max-connections", "1"],
        env=e.env, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(e.path("tight")):
                break
            time.sleep(0.01)
        holder = wayland_session(e.path("tight"))
        expect(e.run("stat", socket="tight"), 4, None)
        holder.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
        log.close()


def stop_test(e):
    """pixcached stops on SIGTERM, removes its sockets, logged each
    connection, disconnection and refusal in one line."""
    rc, log = e.stop()
    assert rc == 0, f"pixcached exited {rc}: {log}"
    left = [n for n in os.listdir(e.dir) if n not in ("pixcached.log",)
            and not n.startswith(("in.", "a.", "b.", "d", "s.", "h.",
                                  "g.", "k.", "tight.log"))]
    assert left == [], f"left behind: {left}"
    connects = len(re.findall(r"\] connect client \d+ pid", log))
    disconnects = len(re.findall(r"\] disconnect client \d+ pid", log))
    assert connects > 0 and connects == disconnects, log
    assert re.search(r'deny client \d+ pid \d+ realm "app1"', log), log
    assert "shutting down" in log


def bad_option_test():
    p = subprocess.run([PIXCACHED, "--budget", "lots"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1, p


def main():
    passed = failed = 0
    e = Env()
    cases = [(fn.__name__, lambda fn=fn: fn(e)) for fn in TESTS]
    cases.append(("pixcached_stops_cleanly_and_logged_everything",
                  lambda: stop_test(e)))
    cases.append(("pixcached_rejects_a_bad_option", bad_option_test))
    for name, run in cases:
        try:
            run()
            print(f'test "{name}":\tpass')
            passed += 1
        except Exception as ex:  # one failed case must not stop the rest
            print(f'test "{name}":\tFAIL: {ex}')
            failed += 1
    if e.daemon.poll() is None:
        e.daemon.kill()
    shutil.rmtree(e.dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora.

fuzz/corpus/server/: request sequences a well-behaved client sends after
binding the manager as object 3 (server-fuzz.c sends that prefix itself);
segments split by the separator, each followed by a dispatch.

fuzz/corpus/client/: events a manager answers the client library's first
calls with (client-fuzz.c): after the greeting, the library's objects are
the manager 4, its batch 5, the realm 6 and the pixmaps 7 to 9 of its first
find_many; a segment answers each commit. The first byte is the number of
sealed memfds sent with the first segment (1 KiB, then 4 KiB).

usage: seeds.py CORPUSDIR
"""

import os
import struct
import sys

SEP = b"\xff\xfe\xfd\xfc"
ARGB8888 = 0x34325241  # DRM_FORMAT_ARGB8888, 'AR24'

# Opcodes in the order of protocol/pixcache-v1.xml.
MANAGER = {"destroy": 0, "get_realm": 1, "create_batch": 2, "ack": 3}
BATCH = {"destroy": 0, "lookup": 1, "lookup_key": 2, "upload": 3,
         "find": 4, "release": 5, "used": 6, "list": 7, "get_stats": 8,
         "remove": 9, "commit": 10, "stage": 11}
UPLOAD = {"destroy": 0, "commit": 1}
STAGING = {"destroy": 0, "upload": 1}
# Events of a batch: entry, stats, done, listed, found.
FOUND = 4


def names(*texts):
    """find's array: names each followed by NUL."""
    data = b"".join(t.encode() + b"\0" for t in texts)
    return u(len(data)) + data + b"\0" * (-len(data) % 4)


def u(v):
    return struct.pack("<I", v)


def s(text):
    data = text.encode() + b"\0"
    return u(len(data)) + data + b"\0" * (-len(data) % 4)


def a(words):
    data = b"".join(u(w) for w in words)
    return u(len(data)) + data


def msg(obj, opcode, *args):
    body = b"".join(args)
    return u(obj) + u((8 + len(body)) << 16 | opcode) + body


def seeds():
    realm = msg(3, MANAGER["get_realm"], u(4), s("default"))
    batch = msg(3, MANAGER["create_batch"], u(5))
    yield "lookup", realm + batch + \
        msg(5, BATCH["lookup"], u(6), u(4), s("icon/a/16@1")) + \
        msg(5, BATCH["commit"], u(1))
    yield "upload", realm + batch + \
        msg(5, BATCH["upload"], u(6), u(4), s("icon/a/16@1"), u(16), u(16),
            u(ARGB8888), u(0)) + msg(5, BATCH["commit"], u(1)) + SEP + \
        msg(6, UPLOAD["commit"]) + msg(5, BATCH["commit"], u(2)) + SEP + \
        msg(5, BATCH["lookup"], u(7), u(4), s("icon/a/16@1")) + \
        msg(5, BATCH["list"], u(4), u(0)) + msg(5, BATCH["commit"], u(3))
    yield "large", realm + batch + \
        msg(5, BATCH["upload"], u(6), u(4), s("big"), u(256), u(256),
            u(ARGB8888), u(1)) + msg(5, BATCH["commit"], u(1)) + SEP + \
        msg(6, UPLOAD["commit"]) + msg(5, BATCH["commit"], u(2)) + SEP + \
        msg(5, BATCH["lookup"], u(7), u(4), s("big")) + \
        msg(5, BATCH["remove"], u(8), u(4), s("big")) + \
        msg(5, BATCH["commit"], u(3))
    yield "side", realm + batch + \
        msg(5, BATCH["used"], a([1, 1, 2, 1])) + \
        msg(5, BATCH["get_stats"]) + msg(5, BATCH["list"], u(4), u(0)) + \
        msg(5, BATCH["lookup_key"], u(6), u(0), u(1), u(0), u(1), u(0),
            u(1)) + msg(5, BATCH["commit"], u(1)) + \
        msg(3, MANAGER["ack"], u(0), u(1))
    yield "sessions", realm + batch + msg(3, MANAGER["destroy"]) + \
        msg(5, BATCH["commit"], u(1))
    # Two clients' worth in one: a claim, a find of it (claimed again),
    # an upload taking the claim over, the releases.
    yield "find", realm + batch + \
        msg(5, BATCH["find"], u(4), u(64), names("icon/a/16@1",
                                               "icon/b/16@1")) + \
        msg(5, BATCH["commit"], u(1)) + SEP + \
        msg(5, BATCH["upload"], u(6), u(4), s("icon/a/16@1"), u(16), u(16),
            u(ARGB8888), u(0)) + msg(5, BATCH["commit"], u(2)) + SEP + \
        msg(6, UPLOAD["commit"]) + \
        msg(5, BATCH["find"], u(4), u(128), names("icon/a/16@1")) + \
        msg(5, BATCH["release"], a([1, 2])) + msg(5, BATCH["commit"], u(3))
    # A staged upload from the first fd (1 KiB, sealed): two 8x8 pixmaps.
    yield "stage", realm + batch + \
        msg(5, BATCH["stage"], u(6), u(1024)) + \
        msg(6, STAGING["upload"], u(7), u(4), s("s/0"), u(8), u(8),
            u(ARGB8888), u(0), u(0)) + \
        msg(6, STAGING["upload"], u(8), u(4), s("s/1"), u(8), u(8),
            u(ARGB8888), u(0), u(512)) + \
        msg(6, STAGING["destroy"]) + msg(5, BATCH["commit"], u(1))


def key(slot):
    return u(0x12345678) + u(0x9abcdef0) + u(slot) + u(1) + u(0) + u(slot)


def client_seeds():
    # realm.access, pixmap.key, buffer_fd (fd 0: 1 KiB), missing, failed,
    # batch.done
    answers = msg(6, 0, u(7)) + \
        msg(7, 0, key(1)) + msg(7, 2, u(4), u(4), u(16), u(ARGB8888)) + \
        msg(8, 3) + msg(9, 5, u(7)) + msg(5, 2, u(1), u(0), u(7))
    yield "answers", b"\x01" + answers
    # the same, then a pool (fd 1: 4 KiB) and a pixmap in it for find_key
    pool = msg(4, 4, u(0xff000000), u(4096), u(1))
    yield "pool", b"\x02" + answers + SEP + pool + \
        msg(10, 0, key(2)) + \
        msg(10, 1, u(0xff000000), u(64), u(4), u(4), u(16), u(ARGB8888)) + \
        msg(5, 2, u(2), u(0), u(8))
    # with the realm's table (fd 0) the library finds: its names are
    # numbered from 64; a pool (fd 1) and records: found, claimed,
    # pending, then the pending one found
    record = [64, 0, 1, 1, 1, 0, 1, 1, 0, 4, 4, 16, ARGB8888]
    yield "find", b"\x02" + msg(6, 0, u(7)) + msg(6, 2, u(256)) + \
        msg(4, 4, u(0xff000000), u(4096), u(1)) + \
        msg(5, FOUND, a(record + [65, 1, 2] + [0] * 10 +
                        [66, 3, 3] + [0] * 10)) + \
        msg(5, 2, u(1), u(0), u(7)) + SEP + \
        msg(5, FOUND, a([66, 0, 3, 2, 1, 0, 2, 1, 64, 4, 4, 16,
                         ARGB8888])) + msg(5, 2, u(2), u(0), u(8))
    yield "hangup", b"\x00"


def write(out, corpus):
    os.makedirs(out, exist_ok=True)
    for name, data in corpus:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    write(os.path.join(sys.argv[1], "server"),
          ((name, (b"\1" if name == "stage" else b"\0") + data)
           for name, data in seeds()))
    write(os.path.join(sys.argv[1], "client"), client_seeds())


if __name__ == "__main__":
    main()

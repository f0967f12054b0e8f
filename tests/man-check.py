#!/usr/bin/env python3
"""Checks the built man pages (doc/man/*.scd through scdoc).

For each page: it was built (roff with a .TH of its own name and
section), every @PLACEHOLDER@ was filled in, it has the sections a page of
its section needs, and man(1) renders it without a warning (groff's -ww).
With --program PAGE=EXE: the long options that `EXE --help` prints are
exactly those the page's OPTIONS section documents (plus --help itself),
so the page cannot drift from the code. With --header PAGE=HEADER: the
page names every function the public header exports.

usage: man-check.py [--program PAGE=EXE]... [--header PAGE=HEADER]... ROFF...
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

SECTIONS = {
    "1": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
          "ENVIRONMENT", "EXAMPLES", "SEE ALSO"],
    "3": ["NAME", "SYNOPSIS", "DESCRIPTION", "EXAMPLE", "SEE ALSO"],
}
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
EXPORT = re.compile(r"PIXCACHE_\w*EXPORT\b[^;{]*?\b(pixcache_\w+)\s*\(", re.S)


def plain(roff):
    """roff as text: font changes, zero-width and hyphen escapes gone."""
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\e", "", roff)
    return text.replace("\\-", "-").replace("\\\\", "\\")


def sections(roff):
    """{name: [lines]} of each .SH section."""
    found, current = {}, None
    for line in roff.splitlines():
        m = re.match(r'\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            current = m.group(1).strip()
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def option_terms(lines):
    """Long options of the terms a section defines: scdoc writes a term
    as a text line followed by the indented block (.RS) that explains it."""
    options = set()
    for line, after in zip(lines, lines[1:]):
        if not line.startswith(".") and after.startswith(".RS"):
            options.update(LONG_OPTION.findall(plain(line)))
    return options


def render(path):
    """(renderer, stderr, stdout) of the page through man, else groff."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    if shutil.which("man"):
        cmd = ["man", "--warnings", "-l", path]
    elif shutil.which("groff"):
        cmd = ["groff", "-man", "-Tutf8", "-ww", path]
    else:
        return None, "", ""
    result = subprocess.run(cmd, capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    err = result.stderr
    if result.returncode != 0:
        err += f"\n{cmd[0]} exited {result.returncode}"
    return cmd[0], err.strip(), result.stdout


def check_page(path, program, header, errors):
    page = os.path.basename(path)
    name, _, section = page.rpartition(".")
    with open(path, encoding="utf-8") as f:
        roff = f.read()
    th = re.search(r'^\.TH "([^"]+)" "([^"]+)"', roff, re.M)
    if th is None or th.groups() != (name, section):
        errors.append(f"{page}: no .TH \"{name}\" \"{section}\"")
    for placeholder in sorted(set(re.findall(r"@[A-Z_]+@", roff))):
        errors.append(f"{page}: {placeholder} was not filled in")
    found = sections(roff)
    for required in SECTIONS.get(section, ["NAME", "DESCRIPTION"]):
        if required not in found:
            errors.append(f"{page}: no {required} section")

    renderer, err, text = render(path)
    if renderer is None:
        print(f"man-check: {page}: not rendered: neither man nor groff is "
              "installed")
    else:
        if err:
            errors.append(f"{page}: {renderer} warns: {err}")
        if f"{name} - " not in " ".join(text.split()):
            errors.append(f"{page}: {renderer} shows no \"{name} - \" line")

    if program is not None:
        result = subprocess.run([program, "--help"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            errors.append(f"{program} --help exited {result.returncode}")
        printed = set(LONG_OPTION.findall(result.stdout))
        documented = option_terms(found.get("OPTIONS", []))
        if not printed:
            errors.append(f"{program} --help printed no long option")
        for option in sorted(printed - documented):
            errors.append(f"{page}: OPTIONS does not document {option}, "
                          f"which {os.path.basename(program)} --help prints")
        for option in sorted(documented - printed - {"--help"}):
            errors.append(f"{page}: OPTIONS documents {option}, which "
                          f"{os.path.basename(program)} --help does not print")
        print(f"man-check: {page}: {os.path.basename(program)} --help "
              f"prints {len(printed)} long options, OPTIONS documents "
              f"{len(documented)}")

    if header is not None:
        with open(header, encoding="utf-8") as f:
            functions = sorted(set(EXPORT.findall(f.read())))
        text = plain(roff)
        if not functions:
            errors.append(f"{header}: no exported function found")
        for function in functions:
            if not re.search(rf"\b{function}\b", text):
                errors.append(f"{page}: does not name {function}() of "
                              f"{os.path.basename(header)}")
        print(f"man-check: {page}: {os.path.basename(header)} exports "
              f"{len(functions)} functions")


def pairs(values, what):
    result = {}
    for value in values:
        page, sep, path = value.partition("=")
        if not sep:
            sys.exit(f"man-check: --{what} wants PAGE={what.upper()}")
        result[page] = path
    return result


def main():
    parser = argparse.ArgumentParser(usage=__doc__.strip().splitlines()[-1])
    parser.add_argument("--program", action="append", default=[])
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("pages", nargs="+")
    args = parser.parse_args()
    programs = pairs(args.program, "program")
    headers = pairs(args.header, "header")
    names = {os.path.basename(p) for p in args.pages}
    for page in list(programs) + list(headers):
        if page not in names:
            sys.exit(f"man-check: {page} is not among the pages")

    errors = []
    for path in args.pages:
        page = os.path.basename(path)
        check_page(path, programs.get(page), headers.get(page), errors)
    for error in errors:
        print(f"man-check: {error}")
    if errors:
        sys.exit(1)
    print(f"man-check: {len(args.pages)} pages")


if __name__ == "__main__":
    main()

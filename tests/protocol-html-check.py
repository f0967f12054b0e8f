#!/usr/bin/env python3
"""Holds the HTML reference of the protocol against its XML.

doc/protocol-html.xsl makes the page at build time; this test parses both
and checks that the page names every interface (with its version), every
request and event (with its arguments in order, each with its type, its
interface or enum, and whether it may be null), every enum and every
entry (with its value), each with its summary, description, since and
deprecated-since versions, a destructor or bitfield mark where the XML
has one; that every link on the page leads somewhere on it; and that the
page has no id the XML does not explain.

usage: protocol-html-check.py XML HTML
"""

import html.parser
import sys
import xml.etree.ElementTree as ET

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def norm(text):
    return " ".join((text or "").split())


class Element:
    def __init__(self, tag, attrs):
        self.tag = tag
        self.id = attrs.get("id")
        self.classes = (attrs.get("class") or "").split()
        self.text = []
        self.heading = None


class Page(html.parser.HTMLParser):
    """The page's elements that have an id: their text, their first
    heading's text, in document order; and every link's target."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.ids = {}
        self.order = []
        self.duplicates = []
        self.links = []
        self.all = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        href = attrs.get("href")
        if href is not None:
            self.links.append(href)
        if tag in VOID:
            return
        element = Element(tag, attrs)
        if element.id is not None:
            if element.id in self.ids:
                self.duplicates.append(element.id)
            self.ids[element.id] = element
            self.order.append(element.id)
        self.stack.append(element)

    def handle_endtag(self, tag):
        while self.stack:
            element = self.stack.pop()
            if element.tag in HEADINGS:
                owner = next((e for e in reversed(self.stack)
                              if e.id is not None), None)
                if owner is not None and owner.heading is None:
                    owner.heading = norm("".join(element.text))
            if element.tag == tag:
                break

    def handle_data(self, data):
        self.all.append(data)
        for element in self.stack:
            element.text.append(data)

    def text_of(self, element_id):
        return norm("".join(self.ids[element_id].text))


class Checker:
    def __init__(self, page):
        self.page = page
        self.errors = []
        self.expected = set()
        self.checked = 0

    def fail(self, message):
        self.errors.append(message)

    def element(self, element_id, css_class=None):
        """The id's element, expected; None (and an error) if missing."""
        self.expected.add(element_id)
        self.checked += 1
        element = self.page.ids.get(element_id)
        if element is None:
            self.fail(f"no element with id {element_id}")
        elif css_class is not None and css_class not in element.classes:
            self.fail(f"{element_id}: not of class {css_class}")
        return element

    def has(self, element_id, where, words, what):
        if norm(words) not in where:
            self.fail(f"{element_id}: {what} \"{norm(words)}\" missing")

    def lacks(self, element_id, where, words, what):
        if words in where:
            self.fail(f"{element_id}: {what} \"{words}\" where the XML has none")

    def documented(self, element_id, node, element):
        """The summary in the heading, the description in the text."""
        heading = element.heading or ""
        text = self.page.text_of(element_id)
        desc = node.find("description")
        summary = desc.get("summary") if desc is not None else None
        summary = summary if summary is not None else node.get("summary")
        if summary:
            self.has(element_id, heading, summary, "summary")
        if desc is not None and norm(desc.text):
            self.has(element_id, text, desc.text, "description")

    def versions(self, element_id, node, where):
        for attr, words in (("since", "since version"),
                            ("deprecated-since", "deprecated since version")):
            if node.get(attr) is not None:
                self.has(element_id, where, f"{words} {node.get(attr)}", attr)
            else:
                self.lacks(element_id, where, words, attr)

    def mark(self, element_id, where, present, words):
        if present:
            self.has(element_id, where, words, "mark")
        else:
            self.lacks(element_id, where, words, "mark")


def enum_ref(iface_name, ref):
    return ref if "." in ref else f"{iface_name}.{ref}"


def check_message(checker, iface, message):
    page = checker.page
    kind = message.tag
    name = f"{iface.get('name')}.{message.get('name')}"
    mid = f"{iface.get('name')}-{kind}-{message.get('name')}"
    element = checker.element(mid, kind)
    if element is None:
        return
    heading = element.heading or ""
    args = message.findall("arg")
    signature = "(" + ", ".join(a.get("name") for a in args) + ")"
    checker.has(mid, heading, name + signature, "name and arguments")
    checker.documented(mid, message, element)
    checker.versions(mid, message, heading)
    checker.mark(mid, heading, message.get("type") == "destructor",
                 "destructor")
    row_ids = []
    for arg in args:
        aid = f"{mid}-arg-{arg.get('name')}"
        row_ids.append(aid)
        if checker.element(aid, "arg") is None:
            continue
        row = page.text_of(aid)
        words = row.replace(",", " ").split()
        if words[:2] != [arg.get("name"), arg.get("type")]:
            checker.fail(f"{aid}: row \"{row}\" does not start with its "
                         f"name and type, {arg.get('name')} {arg.get('type')}")
        if arg.get("interface"):
            checker.has(aid, row, arg.get("interface"), "interface")
        if arg.get("enum"):
            checker.has(aid, row, enum_ref(iface.get("name"),
                                           arg.get("enum")), "enum")
        checker.mark(aid, row, arg.get("allow-null") == "true",
                     "may be null")
        if arg.get("summary"):
            checker.has(aid, row, arg.get("summary"), "summary")
    shown = [i for i in page.order if i in set(row_ids)]
    if shown != [i for i in row_ids if i in page.ids]:
        checker.fail(f"{mid}: arguments out of the XML's order: {shown}")


def check_enum(checker, iface, enum):
    page = checker.page
    eid = f"{iface.get('name')}-enum-{enum.get('name')}"
    element = checker.element(eid, "enum")
    if element is None:
        return
    heading = element.heading or ""
    checker.has(eid, heading, f"{iface.get('name')}.{enum.get('name')}",
                "name")
    checker.documented(eid, enum, element)
    checker.versions(eid, enum, heading)
    checker.mark(eid, heading, enum.get("bitfield") == "true", "bitfield")
    for entry in enum.findall("entry"):
        nid = f"{eid}-entry-{entry.get('name')}"
        if checker.element(nid, "entry") is None:
            continue
        row = page.text_of(nid)
        checker.has(nid, row, f"{entry.get('name')} {entry.get('value')}",
                    "name and value")
        desc = entry.find("description")
        for words in (entry.get("summary"),
                      desc.get("summary") if desc is not None else None,
                      desc.text if desc is not None else None):
            if norm(words):
                checker.has(nid, row, words, "summary or description")
        checker.versions(nid, entry, row)


def check(xml_path, html_path):
    root = ET.parse(xml_path).getroot()
    page = Page()
    with open(html_path, encoding="utf-8") as f:
        page.feed(f.read())
    page.close()
    checker = Checker(page)

    desc = root.find("description")
    if desc is not None and norm(desc.text) not in norm("".join(page.all)):
        checker.fail("the protocol's description is missing")
    for dup in page.duplicates:
        checker.fail(f"id {dup} appears more than once")
    for iface in root.findall("interface"):
        name = iface.get("name")
        element = checker.element(name, "interface")
        if element is None:
            continue
        heading = element.heading or ""
        checker.has(name, heading, name, "name")
        checker.has(name, heading, f"version {iface.get('version')}",
                    "version")
        checker.documented(name, iface, element)
        for message in iface.findall("request") + iface.findall("event"):
            check_message(checker, iface, message)
        for enum in iface.findall("enum"):
            check_enum(checker, iface, enum)

    for extra in sorted(set(page.ids) - checker.expected):
        checker.fail(f"id {extra} names nothing of the XML")
    for href in page.links:
        if href.startswith("#") and href[1:] not in page.ids:
            checker.fail(f"link {href} leads nowhere on the page")
    return checker


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    checker = check(sys.argv[1], sys.argv[2])
    for error in checker.errors:
        print(f"protocol-html-check: {error}")
    if checker.errors:
        sys.exit(1)
    print(f"protocol-html-check: {checker.checked} elements of the XML "
          f"found on the page, {len(checker.page.links)} links resolved")


if __name__ == "__main__":
    main()

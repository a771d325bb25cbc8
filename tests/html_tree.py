"""A page's HTML as an ElementTree (the standard library's HTMLParser, no third-party
parser): enough for tests to find elements by tag, class and attribute."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = ET.Element("document")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = ET.SubElement(self.stack[-1], tag, {k: v or "" for k, v in attrs})
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        ET.SubElement(self.stack[-1], tag, {k: v or "" for k, v in attrs})

    def handle_endtag(self, tag):
        # close up to the matching open element (HTML allows omitted end tags)
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + data
        else:
            parent.text = (parent.text or "") + data


def parse(html: str) -> ET.Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def has_class(element: ET.Element, name: str) -> bool:
    return name in (element.get("class") or "").split()


def find_all(root: ET.Element, tag: str = "*", css_class: str | None = None, **attrs) -> list[ET.Element]:
    return [e for e in root.iter(tag) if (css_class is None or has_class(e, css_class))
            and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


# ---------------------------------------------------------------------------
# The organisation chart on a page: what its SVG draws and what its text version says

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
NODE_CLASSES = ("unit-node", "post", "joint-authority", "summary-unit")


def inline_chart(page: str) -> ET.Element:
    """The chart's SVG element embedded in a page (in its scrolling region)."""
    fragment = page.split('<div class="chart-scroll"', 1)[1].split(">", 1)[1]
    return ET.fromstring(fragment[:fragment.index("</svg>") + len("</svg>")])


def svg_drawn(svg: ET.Element) -> tuple[set[str], set[tuple[str, str, str]], list[str]]:
    """(node links, (from link, kind, to link) of each line, "+N more" texts) drawn in the SVG."""
    href_of, mores = {}, []
    for g in svg.iter(SVG + "g"):
        classes = (g.get("class") or "").split()
        if "node" in classes and any(c in classes for c in NODE_CLASSES):
            href_of[g.get("id")] = next(a.get(XLINK) for a in g.iter(SVG + "a"))
        if "node" in classes and "more" in classes:
            mores.append(" ".join("".join(t.itertext()) for t in g.iter(SVG + "text")))
    lines = set()
    for g in svg.iter(SVG + "g"):
        classes = (g.get("class") or "").split()
        kinds = [c[len("edge-"):] for c in classes if c.startswith("edge-") and c != "edge-more"]
        if "edge" in classes and kinds:
            source, target = g.find(SVG + "title").text.split("->")
            lines.add((href_of[source], kinds[0], href_of[target]))
    return set(href_of.values()), lines, sorted(mores)


def text_version(page: str) -> tuple[set[str], set[tuple[str, str, str]], list[str]]:
    """The same three things read from the page's text version of the chart."""
    section = find_all(parse(page), "section", id="chart-text")[0]
    nodes = {find_all(li, "a")[0].get("href") for li in find_all(section, "li", "chart-node")}
    lines = set()
    for li in section.iter("li"):
        if li.get("data-relation"):
            links = find_all(li, "a")
            lines.add((links[0].get("href"), li.get("data-relation"), links[-1].get("href")))
    mores = sorted(text(e) for e in section.iter() if has_class(e, "chart-more"))
    return nodes, lines, mores

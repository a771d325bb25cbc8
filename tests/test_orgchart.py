"""The organisation chart: SVG from the graph over HTTP and from ``ssikg chart``."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pyoxigraph as ox
import pytest
import requests
from conftest import require_tool, run_cli
from html_tree import inline_chart, svg_drawn, text_version

from ssikg import orgchart
from ssikg.namespaces import ID

ORG = "http://www.w3.org/ns/org#"

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
TIMEOUT = 30


def needs_dot():
    require_tool(shutil.which("dot") is not None, "Graphviz dot")


def parse_svg(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == SVG + "svg"
    return root


def groups(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [g for g in root.iter(SVG + "g") if css_class in (g.get("class") or "").split()]


def edge_look(group: ET.Element) -> tuple:
    path = next(group.iter(SVG + "path"))
    return (path.get("stroke"), path.get("stroke-dasharray"))


def text_of(group: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in group.iter(SVG + "text"))


def test_svg_has_units_as_clusters_posts_as_linked_nodes(live_server):
    needs_dot()
    response = requests.get(f"{live_server.url}/org-chart.svg?lang=en", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    root = parse_svg(response.content)
    clusters = groups(root, "cluster")
    assert len(clusters) >= 5
    unit_text = " ".join(text_of(g) for g in groups(root, "unit-node"))
    assert "Directorate for International Security Cooperation" in unit_text.replace("\n", " ") \
        or "International Security" in unit_text
    posts = groups(root, "post")
    assert len(posts) >= 6
    # every unit and post node links to its entity page, and the page exists
    for node in groups(root, "post") + groups(root, "unit-node"):
        anchor = node.find(f"{SVG}g/{SVG}a")
        assert anchor is not None and anchor.get(XLINK, "").startswith("/id/"), ET.tostring(node)[:200]
    href = groups(root, "post")[0].find(f"{SVG}g/{SVG}a").get(XLINK)
    page = requests.get(live_server.url + href, headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200 and "<h1>" in page.text


def test_edges_of_each_kind_look_different_and_joint_authority_is_drawn(live_server):
    needs_dot()
    root = parse_svg(requests.get(f"{live_server.url}/org-chart.svg", timeout=TIMEOUT).content)
    looks = {}
    for kind in ("edge-reports", "edge-assists", "edge-advises", "edge-joint"):
        found = [g for g in groups(root, kind) if "derived" not in (g.get("class") or "")]
        assert found, f"no {kind} edge"
        looks[kind] = edge_look(found[0])
    assert len(set(looks.values())) == 4, looks  # colour and dash pattern differ for each kind
    assert looks["edge-assists"][1] and looks["edge-advises"][1]  # dashed / dotted
    assert looks["edge-reports"][1] is None  # solid
    joint = groups(root, "joint-authority")
    assert len(joint) == 1
    assert "autorité conjointe" in text_of(joint[0])
    assert len(groups(root, "edge-joint")) == 3  # DCIS to the authority, the authority to 2 holders
    # the legend shows each kind of line with the words for it, drawn as in the chart
    assert "Légende" in text_of(groups(root, "legend")[0])
    legend_words = " ".join(text_of(g) for g in groups(root, "legend-item"))
    for words in ("rend compte à", "seconde", "conseille", "autorité conjointe"):
        assert words in legend_words
    for kind in ("reports", "assists", "advises", "joint"):
        assert edge_look(groups(root, f"legend-{kind}")[0]) == looks[f"edge-{kind}"]


def test_labels_follow_the_language(live_server):
    needs_dot()
    french = text_of(parse_svg(requests.get(f"{live_server.url}/org-chart.svg", timeout=TIMEOUT).content))
    english = text_of(parse_svg(requests.get(f"{live_server.url}/org-chart.svg",
                                             headers={"Accept-Language": "en"}, timeout=TIMEOUT).content))
    assert "ambassadeur" in french and "Legend" not in french
    assert "Ambassador" in english and "Legend" in english
    assert "ambassadeur" not in english


def test_focus_draws_one_units_part_and_organisation_pages_embed_it(live_server):
    needs_dot()
    focus = f"{live_server.url}/org-chart.svg?" + "focus=" + requests.utils.quote(ID + "ssi-be", safe="")
    root = parse_svg(requests.get(focus, timeout=TIMEOUT).content)
    texts = " ".join(text_of(g) for g in groups(root, "post"))
    assert "attaché" in texts and "directeur général" not in texts
    bad = requests.get(f"{live_server.url}/org-chart.svg?focus=" + requests.utils.quote(ID + "nope"),
                       headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert bad.status_code == 404 and "not a unit" in bad.json()["message"]
    page = requests.get(f"{live_server.url}/id/ssi-be.html", timeout=TIMEOUT).text
    assert '<figure class="org-chart"' in page and 'class="node post"' in page


def test_chart_page_embeds_the_svg_with_a_text_version(live_server):
    needs_dot()
    page = requests.get(f"{live_server.url}/org-chart?lang=en", timeout=TIMEOUT).text
    assert "<svg" in page and 'class="chart-outline"' in page
    assert 'href="/id/post-asi-be?lang=en"' in page


def test_cli_chart_writes_svg_with_canonical_links(store_copy, tmp_path):
    needs_dot()
    output = tmp_path / "chart.svg"
    result = run_cli("chart", "-o", str(output), "--lang", "en", "--store", str(store_copy))
    assert result.returncode == 0, result.stderr
    root = parse_svg(output.read_bytes())
    assert len(groups(root, "cluster")) >= 5
    links = {a.get(XLINK) for a in root.iter(SVG + "a")}
    assert ID + "post-asi-be" in links
    assert "Internal Security Attaché" in output.read_text()
    dot = run_cli("chart", "--format", "dot", "--store", str(store_copy))
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
    bad = run_cli("chart", "--lang", "de", "--store", str(store_copy))
    assert bad.returncode == 2 and "de" in bad.stderr
    unknown = run_cli("chart", "--focus", "id:nope", "--format", "dot", "--store", str(store_copy))
    assert unknown.returncode == 2 and "is not a unit of the organisation chart" in unknown.stderr
    focused = run_cli("chart", "--focus", "id:ssi-be", "-o", str(tmp_path / "ssi.svg"), "--store", str(store_copy))
    whole = re.search(r"(\d+) units, (\d+) posts", result.stderr).groups()
    part = re.search(r"(\d+) units, (\d+) posts", focused.stderr).groups()
    assert focused.returncode == 0 and int(part[0]) < int(whole[0]) and int(part[1]) < int(whole[1])


def chart_svg(page: str) -> str:
    """The organisation chart among a page's SVGs (the legend has small ones)."""
    return next(svg for svg in page.split("<svg")[1:] if 'class="cluster unit"' in svg.split("</svg>")[0])


def test_chart_links_keep_the_chosen_language(live_server):
    english = requests.get(f"{live_server.url}/org-chart?lang=en", timeout=60).text
    assert 'href="/id/dcis?lang=en"' in chart_svg(english)
    negotiated = requests.get(f"{live_server.url}/org-chart", headers={"Accept-Language": "en"}, timeout=60).text
    assert 'href="/id/dcis"' in chart_svg(negotiated) and "?lang=" not in chart_svg(negotiated).split("</svg>")[0]


def test_chart_page_answers_focus_as_the_svg_route_does(live_server):
    needs_dot()
    html = {"Accept": "text/html"}
    for focus, status in (("garbage", 400), (ID + "nope", 404)):
        quoted = requests.utils.quote(focus, safe="")
        svg = requests.get(f"{live_server.url}/org-chart.svg?focus={quoted}", timeout=TIMEOUT)
        page = requests.get(f"{live_server.url}/org-chart?focus={quoted}&lang=en", headers=html, timeout=TIMEOUT)
        assert svg.status_code == page.status_code == status, focus
        assert page.headers["Content-Type"].startswith("text/html") and "<nav" in page.text
    unit = requests.utils.quote(ID + "ssi-be", safe="")
    page = requests.get(f"{live_server.url}/org-chart?focus={unit}", headers=html, timeout=TIMEOUT)
    assert page.status_code == 200
    assert "attaché" in chart_svg(page.text) and "directeur général" not in chart_svg(page.text)
    # the page's SVG link draws the same part of the chart
    assert f'href="/org-chart.svg?lang=fr&amp;focus={unit}"' in page.text


def test_the_chart_sits_in_a_labelled_keyboard_scrollable_region(live_server):
    """(Its drawn size in a browser: tests/test_browser.py.)"""
    needs_dot()
    for path in ("/org-chart", "/id/dcis.html"):
        page = requests.get(live_server.url + path, timeout=TIMEOUT).text
        region = page.split('<figure class="org-chart"', 1)[1].split("<svg", 1)[0]
        assert 'class="chart-scroll" tabindex="0" role="region" aria-label="' in region, path


def test_the_text_version_says_every_node_and_line_the_svg_draws(live_server):
    """On the whole chart and on a unit's part: the same nodes (by their links), the same
    lines (from, relation, to) and the same "+N more" counts as the drawing."""
    needs_dot()
    dcis = requests.utils.quote(ID + "dcis", safe="")
    for query in ("lang=en", f"focus={dcis}&lang=en", "lang=fr"):
        page = requests.get(f"{live_server.url}/org-chart?{query}", timeout=TIMEOUT).text
        drawn, said = svg_drawn(inline_chart(page)), text_version(page)
        assert said == drawn, query
        nodes, lines, _more = said
        assert len(lines) >= 5 and {kind for _f, kind, _t in lines} >= {"reports", "suborg", "joint"}, query
        if "focus" in query:  # DCIS, the gendarmerie, the police, the two directors general, the authority
            assert len(nodes) >= 6 and "/id/post-dg-pn?lang=en" in nodes and "/id/auth-dcis?lang=en" in nodes
    english = requests.get(f"{live_server.url}/org-chart?lang=en", timeout=TIMEOUT).text
    assert "— <em>reports to</em> —" in english and "Lines drawn" in english
    french = requests.get(f"{live_server.url}/org-chart?lang=fr", timeout=TIMEOUT).text
    assert "— <em>rend compte à</em> —" in french


def test_the_drawing_has_a_short_name_and_the_standalone_svg_a_title(live_server):
    needs_dot()
    page = requests.get(f"{live_server.url}/org-chart?lang=en", timeout=TIMEOUT).text
    svg = inline_chart(page)
    assert svg.get("role") == "img" and svg.get("aria-label").startswith("Organisation chart")
    assert 'role="group"' not in page  # (axe: aria-allowed-role on <figure>)
    # an organisation's page draws its part and links to that part's text version
    entity = requests.get(f"{live_server.url}/id/dcis.html?lang=en", timeout=TIMEOUT).text
    assert inline_chart(entity).get("role") == "img" and 'role="group"' not in entity
    text_link = "/org-chart?focus=" + requests.utils.quote(ID + "dcis", safe="") + "&amp;lang=en#chart-text"
    assert f'href="{text_link}"' in entity
    alone = ET.fromstring(requests.get(f"{live_server.url}/org-chart.svg?lang=fr", timeout=TIMEOUT).content)
    assert alone.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert alone[0].tag == SVG + "title" and alone[0].text == "Organigramme"


def test_more_words_agree_with_their_count():
    assert orgchart.more_text("units", 1, "en") == "+1 more unit"
    assert orgchart.more_text("units", 1, "fr") == "+1 autre unité"
    assert orgchart.more_text("posts", 2, "fr") == "+2 autres postes"
    assert orgchart.more_text("posts", 1, "en") == "+1 more post"
    summary = orgchart.Summary(units=2, posts=0, budget=300, branch={"u": (1, 0)})
    assert orgchart.branch_text(summary, "u", "en") == "1 unit · 0 posts"
    assert orgchart.branch_text(summary, "u", "fr") == "1 unité · 0 poste"


HOSTILE_LABEL = ("<<TABLE HREF='javascript:alert(1)' BORDER='0'><TR><TD HREF='https://evil.example/phish' "
                 "TARGET='_top'>XSSUNIT</TD></TR></TABLE>>")


@pytest.mark.parametrize("label", [HOSTILE_LABEL, "<xp1>]]></text><xp2/>", "<IMG SRC='/etc/hostname'/>",
                                   "back\\Nslash"])
def test_a_label_is_plain_text_to_graphviz(make_app, serve_app, label):
    """A label shaped <…> was an HTML-like Graphviz label: links (javascript: included), images
    read from the server's files, or a syntax error (a 500); a backslash an escape."""
    needs_dot()
    server = serve_app(make_app(update_token="t0ken"))
    unit = ID + "hostile-unit"
    literal = ox.Literal(label, language="fr")
    update = (f"INSERT DATA {{ GRAPH <https://w3id.org/ssikg/graph/stated> {{ <{unit}> a <{ORG}OrganizationalUnit> ; "
              f"<{ORG}subOrganizationOf> <{ID}dcis> ; <http://www.w3.org/2004/02/skos/core#prefLabel> {literal} }} }}")
    written = requests.post(f"{server.url}/update", data=update, timeout=60,
                            headers={"Content-Type": "application/sparql-update", "Authorization": "Bearer t0ken"})
    assert written.status_code == 204, written.text
    for path in ("/org-chart.svg", "/org-chart"):
        answer = requests.get(f"{server.url}{path}", params={"lang": "fr"}, timeout=120)
        assert answer.status_code == 200, answer.text
        links = re.findall(r'href="([^"]*)"', answer.text)  # href and xlink:href
        assert not [link for link in links if link.startswith(("javascript:", "https://evil"))]
        assert "<image" not in answer.text and "<img" not in answer.text.lower()  # no server file drawn
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    svg = requests.get(f"{server.url}/org-chart.svg", params={"lang": "fr"}, timeout=120).text
    root = parse_svg(svg.encode())
    texts = "".join(t.text or "" for t in root.iter(SVG + "text"))
    assert label[:6] in texts.replace("\xa0", " ")  # drawn as the text it is

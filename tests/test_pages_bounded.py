"""Pages stay bounded on a big store: the organisation page, the whole chart, the home
page and the link tables draw at most their budgets and say how many more there are.

The store is generated here: one organisation with 400 sub-units (its page has 400
incoming links) and 60 posts, more than every budget; served by a real loopback server.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from conftest import LiveServer, close_app, require_tool, run_cli
from html_tree import find_all, parse, svg_drawn, text_version
from html_tree import inline_chart as chart_element

from ssikg import orgchart
from ssikg.app import create_app
from ssikg.linked_data import LINKS_SHOWN
from ssikg.namespaces import GRAPH, ID, PREFIXES
from ssikg.settings import PROJECT_ROOT
from ssikg.store import build_store
from ssikg.views.resources import HOME_LIST_SIZE

TIMEOUT = 60
UNITS, POSTS = 400, 60
ROOT = ID + "bench-root"
SVG = "{http://www.w3.org/2000/svg}"


def nquads() -> str:
    org, skos, rdf = PREFIXES["org"], PREFIXES["skos"], PREFIXES["rdf"] + "type"
    graph = f"<{GRAPH}stated>"
    lines = [f'<{ROOT}> <{rdf}> <{org}FormalOrganization> {graph} .',
             f'<{ROOT}> <{skos}prefLabel> "Organisation racine"@fr {graph} .']
    for i in range(UNITS):
        unit = f"<{ID}bench-unit-{i:03d}>"
        lines += [f"{unit} <{rdf}> <{org}OrganizationalUnit> {graph} .",
                  f'{unit} <{skos}prefLabel> "Unité {i:03d}"@fr {graph} .',
                  f"{unit} <{org}subOrganizationOf> <{ROOT}> {graph} ."]
    # a unit with two labels: one row of the home page's full list, as it is one organisation
    lines.append(f'<{ID}bench-unit-002> <{skos}prefLabel> "Unit 002"@en {graph} .')
    # a unit with two parents: drawn once in the summary, and counted nowhere else
    lines.append(f"<{ID}bench-unit-001> <{org}subOrganizationOf> <{ID}bench-unit-000> {graph} .")
    for i in range(POSTS):
        post = f"<{ID}bench-post-{i:02d}>"
        lines += [f"{post} <{rdf}> <{org}Post> {graph} .",
                  f'{post} <{skos}prefLabel> "Poste {i:02d}"@fr {graph} .',
                  f"{post} <{org}postIn> <{ROOT}> {graph} ."]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    source = tmp_path_factory.mktemp("big-source")
    shutil.copytree(PROJECT_ROOT / "ontology", source / "ontology")
    (source / "data").mkdir()
    (source / "data" / "big.nq").write_text(nquads(), encoding="utf-8")
    path = tmp_path_factory.mktemp("big") / "store"
    build_store(path, source)
    return path


@pytest.fixture(scope="module")
def big_server(big_store):
    app = create_app({"store": big_store, "auto_build": False})
    with LiveServer(app) as server:
        yield server
    close_app(app)


def needs_dot():
    require_tool(shutil.which("dot") is not None, "Graphviz dot")


def svg_nodes(svg_text: str, css_class: str) -> list[ET.Element]:
    root = ET.fromstring(svg_text)
    return [g for g in root.iter(SVG + "g") if css_class in (g.get("class") or "").split()]


def node_texts(nodes) -> list[str]:
    return [" ".join("".join(t.itertext()) for t in node.iter(SVG + "text")) for node in nodes]


def inline_chart(page: str) -> str:
    return page.split('<div class="chart-scroll"', 1)[1].split(">", 1)[1].split("</div>", 1)[0]


def test_an_organisation_page_draws_its_neighbourhood_within_budget(big_server):
    needs_dot()
    page = requests.get(f"{big_server.url}/id/bench-root.html", timeout=TIMEOUT)
    assert page.status_code == 200
    chart = inline_chart(page.text)
    posts = svg_nodes(chart, "post")
    assert len(posts) == orgchart.NEIGHBOURS_SHOWN
    units = svg_nodes(chart, "unit-node")
    assert len(units) <= orgchart.NEIGHBOURS_SHOWN + 1
    more = " ".join(node_texts(svg_nodes(chart, "more")))
    assert f"+{POSTS - orgchart.NEIGHBOURS_SHOWN} autres postes" in more
    assert f"+{UNITS - orgchart.NEIGHBOURS_SHOWN} autres (sous-organisation de)" in more
    # the link table: the first values of the property, its total, the query listing them all
    incoming = page.text.split('aria-labelledby="in-h"', 1)[1].split("</section>", 1)[0]
    assert incoming.count('<tr><td><a href="/id/bench-unit-') == LINKS_SHOWN
    assert incoming.count('<tr><td><a href="/id/bench-post-') == POSTS  # within the cap: all of them
    assert f'<tr class="more" data-total="{UNITS}">' in page.text
    assert f"{LINKS_SHOWN} valeurs sur {UNITS}" in page.text
    full = page.text.split('<tr class="more"', 1)[1].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    listed = requests.get(big_server.url + full, headers={"Accept": "application/sparql-results+json"},
                          timeout=TIMEOUT)
    assert listed.status_code == 200 and len(listed.json()["results"]["bindings"]) == UNITS


def test_the_whole_chart_is_a_summary_within_budget(big_server):
    needs_dot()
    svg = requests.get(f"{big_server.url}/org-chart.svg", timeout=TIMEOUT)
    assert svg.status_code == 200
    drawn = svg_nodes(svg.text, "summary-unit")
    assert 0 < len(drawn) <= orgchart.NODE_BUDGET
    assert f"{UNITS + 1} unités et {POSTS} postes" in svg.text
    root = next(text for text in node_texts(drawn) if "Organisation racine" in text)
    assert f"{UNITS} unités · {POSTS} postes" in root  # the size of its branch
    more = " ".join(node_texts(svg_nodes(svg.text, "more")))
    assert f"+{UNITS - (orgchart.NODE_BUDGET - 1)} autres unités" in more
    # each unit leads to its focused chart, which exists
    href = next(a.get("{http://www.w3.org/1999/xlink}href") for a in ET.fromstring(svg.text).iter(SVG + "a")
                if "focus=" in (a.get("{http://www.w3.org/1999/xlink}href") or ""))
    assert requests.get(big_server.url + href, timeout=TIMEOUT).status_code == 200
    page = requests.get(f"{big_server.url}/org-chart?lang=en", timeout=TIMEOUT)
    assert page.status_code == 200 and 'class="chart-summary"' in page.text
    assert f"{UNITS + 1} units and {POSTS} posts" in page.text


def test_an_unknown_focus_is_a_404(big_server):
    for path in ("/org-chart.svg", "/org-chart"):
        r = requests.get(f"{big_server.url}{path}?focus=" + quote(ID + "nope", safe=""),
                         headers={"Accept": "application/json"}, timeout=TIMEOUT)
        assert r.status_code == 404 and "not a unit" in r.json()["message"], path


def test_home_page_lists_are_capped_and_carry_their_totals(big_server):
    page = requests.get(f"{big_server.url}/?lang=en", timeout=TIMEOUT).text
    for name, total in (("organisations", UNITS + 1), ("posts", POSTS)):
        listed = page.split(f'<ul class="{name}">', 1)[1].split("</ul>", 1)[0]
        assert listed.count("<li>") == HOME_LIST_SIZE, name
        assert f"<strong>{total}</strong> {name}" in page
        assert f'<p class="more" data-total="{total}">{HOME_LIST_SIZE} of {total}' in page
    assert "Poste 00" in page and "Poste 59" not in page  # the first ones by label
    # the full list: one row per resource, as many as the total, each with the page's label
    for name, total in (("organisations", UNITS + 1), ("posts", POSTS)):
        more = page.split(f'<ul class="{name}">', 1)[1].split('<p class="more"', 1)[1].split("</p>", 1)[0]
        href = more.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert "lang=en" in href
        query = parse_qs(urlsplit(href).query)["query"][0]
        rows = requests.get(f"{big_server.url}/sparql", params={"query": query}, timeout=TIMEOUT,
                            headers={"Accept": "application/sparql-results+json"}).json()["results"]["bindings"]
        assert len(rows) == len({row["x"]["value"] for row in rows}) == total, name
        if name == "organisations":
            assert {row["label"]["value"] for row in rows if row["x"]["value"].endswith("-002")} == {"Unit 002"}


def test_a_chart_graphviz_cannot_draw_in_time_is_a_clean_503(big_store, tmp_path):
    needs_dot()
    copy = tmp_path / "store"
    shutil.copytree(big_store, copy)
    app = create_app({"store": copy, "auto_build": False, "query_timeout": 0.001})
    try:
        with LiveServer(app) as server:
            svg = requests.get(f"{server.url}/org-chart.svg", headers={"Accept": "application/json"},
                               timeout=TIMEOUT)
            assert svg.status_code == 503 and "longer than" in svg.json()["message"]
            page = requests.get(f"{server.url}/org-chart", headers={"Accept": "text/html"}, timeout=TIMEOUT)
            assert page.status_code == 503 and "longer than" in page.text and "Traceback" not in page.text
            # a page embedding the chart is still served, without it
            entity = requests.get(f"{server.url}/id/bench-root.html", timeout=TIMEOUT)
            assert entity.status_code == 200 and "chart-scroll" not in entity.text
    finally:
        close_app(app)


def test_cli_chart_of_a_big_store_is_a_summary(big_store, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(big_store, copy)
    result = run_cli("chart", "--format", "dot", "-o", str(tmp_path / "chart.dot"), "--store", str(copy))
    assert result.returncode == 0, result.stderr
    assert f"summary of {UNITS + 1} units, {POSTS} posts" in result.stderr
    assert (tmp_path / "chart.dot").read_text().count("summary-unit") <= orgchart.NODE_BUDGET


def test_the_summary_text_version_is_the_drawn_tree_nested(big_server):
    """The summary's text version: each drawn unit under the parent it is drawn under, its
    focused chart (keeping ?lang=), the same "+N more" counts; a unit with two parents is
    drawn and counted once."""
    needs_dot()
    page = requests.get(f"{big_server.url}/org-chart?lang=en", timeout=TIMEOUT).text
    svg = chart_element(page)
    drawn_nodes, drawn_lines, drawn_more = svg_drawn(svg)
    section = find_all(parse(page), "section", id="chart-text")[0]
    said_lines, said_nodes = set(), set()

    def chart_link(li):
        return [a.get("href") for a in find_all(li, "a") if "/org-chart?" in a.get("href")][0]

    def walk(li, parent):
        said_nodes.add(chart_link(li))
        if parent is not None:
            said_lines.add((chart_link(li), "suborg", chart_link(parent)))
        for ul in li.findall("ul"):
            for child in ul.findall("li"):
                walk(child, li)

    for top in find_all(section, "ul", "chart-tree")[0].findall("li"):
        walk(top, None)
    assert said_nodes == drawn_nodes and len(said_nodes) == orgchart.NODE_BUDGET
    assert said_lines == drawn_lines and len(said_lines) == orgchart.NODE_BUDGET - 1
    assert all("lang=en" in href for href in said_nodes)
    assert text_version(page)[2] == drawn_more == [f"+{UNITS - (orgchart.NODE_BUDGET - 1)} more units"]
    assert "+1 more unit" not in page
    # the standalone SVG with links keeping ?lang= is well-formed XML ("&lang" is an entity name)
    standalone = requests.get(f"{big_server.url}/org-chart.svg?lang=en", timeout=TIMEOUT)
    assert ET.fromstring(standalone.content).get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_a_focused_chart_text_version_counts_what_is_not_drawn(big_server):
    needs_dot()
    page = requests.get(f"{big_server.url}/org-chart?lang=en&focus=" + quote(ROOT, safe=""), timeout=TIMEOUT).text
    drawn, said = svg_drawn(chart_element(page)), text_version(page)
    assert said == drawn
    assert f"+{POSTS - orgchart.NEIGHBOURS_SHOWN} more posts" in said[2]
    # on the unit's own page, its "+N more" boxes lead to the relation tables, not to itself
    entity = requests.get(f"{big_server.url}/id/bench-root.html", timeout=TIMEOUT).text
    hrefs = [a.get("{http://www.w3.org/1999/xlink}href") for g in svg_nodes(inline_chart(entity), "more")
             for a in g.iter(SVG + "a")]
    assert hrefs and all(h in ("/id/bench-root#in-h", "/id/bench-root#out-h") for h in hrefs), hrefs
    assert 'id="in-h"' in entity

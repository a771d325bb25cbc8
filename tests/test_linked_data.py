"""Dereferencing, RDF documents, 404s, the public base and language negotiation,
over real HTTP (requests against a loopback server)."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, quote, urlsplit

import html_tree
import pyoxigraph as ox
import pytest
import rdflib
import requests
from conftest import free_port, wait_for_http
from rdflib import BNode, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import OWL, RDF, SKOS

from ssikg.linked_data import empty_document
from ssikg.namespaces import BASE, GRAPHS, ID, SSIKG

ORG = rdflib.Namespace("http://www.w3.org/ns/org#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
DCIS = URIRef(ID + "dcis")
TIMEOUT = 30

FORMATS = {  # suffix: (media type, rdflib parser)
    "ttl": ("text/turtle", "turtle"),
    "jsonld": ("application/ld+json", "json-ld"),
    "nt": ("application/n-triples", "nt"),
    "rdf": ("application/rdf+xml", "xml"),
}


def get(url, accept=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if accept:
        headers["Accept"] = accept
    return requests.get(url, headers=headers, timeout=TIMEOUT, **kwargs)


def parse(response, parser) -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(data=response.content, format=parser)
    return graph


def stated_triples_about(app, iri: str) -> list[tuple]:
    """What the store states about ``iri`` (read through the GraphStore, as rdflib terms)."""
    store = app.extensions["ssikg.store"]
    rows = store.query(f"SELECT ?p ?o WHERE {{ GRAPH <{GRAPHS['stated']}> {{ <{iri}> ?p ?o }} }}")
    triples = []
    for row in rows:
        obj = row["o"]
        if hasattr(obj, "language") and obj.__class__.__name__ == "Literal":
            term = Literal(obj.value, lang=obj.language) if obj.language else Literal(
                obj.value, datatype=URIRef(obj.datatype.value))
        else:
            term = URIRef(obj.value)
        triples.append((URIRef(iri), URIRef(row["p"].value), term))
    return triples


# ---------------------------------------------------------------------------
# Dereferencing: 303 from the thing to a document


@pytest.mark.parametrize("accept,suffix", [
    ("text/html", "html"),
    ("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "html"),
    ("text/turtle", "ttl"),
    ("application/ld+json", "jsonld"),
    ("application/n-triples", "nt"),
    ("application/rdf+xml", "rdf"),
    ("application/rdf+xml;q=0.5, text/turtle;q=0.9", "ttl"),
])
def test_entity_iri_answers_303_to_the_negotiated_document(live_server, accept, suffix):
    response = get(f"{live_server.url}/id/dcis", accept, allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/id/dcis.{suffix}")
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_each_rdf_format_parses_back_with_the_entity_triples(live_server, shared_app, suffix):
    media_type, parser = FORMATS[suffix]
    response = get(f"{live_server.url}/id/dcis", media_type)  # follows the 303
    assert response.status_code == 200
    assert response.url.endswith(f"/id/dcis.{suffix}")
    assert response.headers["Content-Type"].startswith(media_type)
    graph = parse(response, parser)
    expected = stated_triples_about(shared_app, ID + "dcis")
    assert len(expected) > 10
    missing = [t for t in expected if t not in graph]
    assert not missing, f"{suffix} document lacks stated triples: {missing[:3]}"
    # incoming relations and the provenance of outgoing ones travel with it
    assert (URIRef(ID + "police-nationale"), ORG.hasSubOrganization, DCIS) in graph
    statements = set(graph.subjects(RDF.subject, DCIS))
    assert statements
    assert all((s, RDF.type, RDF.Statement) in graph for s in statements)
    assert any((s, PROV.wasDerivedFrom, URIRef(ID + "fact/F34")) in graph for s in statements)
    # canonical IRIs, whatever host served the document
    assert all(not str(s).startswith("http://127.0.0.1") for s in graph.subjects())


def test_a_linked_data_client_follows_the_iri(live_server):
    """rdflib dereferences the IRI itself: its own Accept header, the 303, the document."""
    graph = rdflib.Graph()
    graph.parse(f"{live_server.url}/id/post-asi-be")
    assert (URIRef(ID + "post-asi-be"), ORG.postIn, URIRef(ID + "ssi-be")) in graph
    assert (URIRef(ID + "post-asi-be"), SKOS.prefLabel,
            Literal("attaché de sécurité intérieure", lang="fr")) in graph


def test_suffix_and_format_parameter_select_a_document(live_server):
    direct = get(f"{live_server.url}/id/post-asi-be.ttl")
    assert direct.status_code == 200 and direct.headers["Content-Type"].startswith("text/turtle")
    graph = parse(direct, "turtle")
    assert (URIRef(ID + "post-asi-be"), ORG.postIn, URIRef(ID + "ssi-be")) in graph

    redirected = get(f"{live_server.url}/id/post-asi-be?format=jsonld", "text/html", allow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["Location"].endswith("/id/post-asi-be.jsonld")

    bad = get(f"{live_server.url}/id/post-asi-be?format=yaml", "application/json")
    assert bad.status_code == 400
    assert "unknown format 'yaml'" in bad.json()["message"]


def test_unacceptable_media_type_is_406_listing_what_is_offered(live_server):
    response = get(f"{live_server.url}/id/dcis", "image/png")
    assert response.status_code == 406
    assert "text/turtle" in response.text


def test_head_and_conditional_get(live_server):
    url = f"{live_server.url}/id/dcis.ttl"
    head = requests.head(url, timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers["ETag"]
    again = get(url, headers={"If-None-Match": head.headers["ETag"]})
    assert again.status_code == 304


# ---------------------------------------------------------------------------
# 404 in the client's format


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_unknown_iri_is_404_in_the_clients_rdf_format(live_server, suffix):
    media_type, parser = FORMATS[suffix]
    for response in (get(f"{live_server.url}/id/no-such-thing", media_type),
                     get(f"{live_server.url}/id/no-such-thing.{suffix}")):
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith(media_type)
        assert len(parse(response, parser)) == 0
        assert "no-such-thing" in response.text


def test_unknown_iri_is_404_page_for_browsers_and_json_for_scripts(live_server):
    page = get(f"{live_server.url}/id/no-such-thing", "text/html")
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "https://w3id.org/ssikg/id/no-such-thing" in page.text and "<h1>" in page.text
    malformed = get(f"{live_server.url}/id/a%20b%3Ec", "text/html")
    assert malformed.status_code == 404
    # whatever the missing IRI holds, the 404 body stays an empty graph
    for suffix, (_media, parser) in FORMATS.items():
        body = empty_document(suffix, "missing <x>\n<s> <p> <o> . --> <rdf:Description/>")
        assert len(rdflib.Graph().parse(data=body, format=parser)) == 0, suffix
    graph_missing = get(f"{live_server.url}/graph/nope", "text/turtle")
    assert graph_missing.status_code == 404 and len(parse(graph_missing, "turtle")) == 0


# ---------------------------------------------------------------------------
# Ontology (hash IRIs) and graphs: direct content negotiation


def test_ontology_is_served_by_content_negotiation(live_server):
    turtle = get(f"{live_server.url}/ontology", "text/turtle")
    assert turtle.status_code == 200
    assert "Accept" in turtle.headers["Vary"]
    assert turtle.headers["Content-Location"].endswith("/ontology.ttl")
    graph = parse(turtle, "turtle")
    assert (URIRef(BASE + "ontology"), RDF.type, OWL.Ontology) in graph
    assert (URIRef(SSIKG + "JointAuthority"), RDF.type, OWL.Class) in graph

    for suffix, (media_type, parser) in FORMATS.items():
        document = get(f"{live_server.url}/ontology.{suffix}")
        assert document.headers["Content-Type"].startswith(media_type)
        assert len(parse(document, parser)) == len(graph)

    # a hash IRI: the browser drops the fragment and finds the term's anchor in the page
    html = get(f"{live_server.url}/ontology#JointAuthority", "text/html")
    assert html.headers["Content-Location"].endswith("/ontology.html")
    # a page asked in a language names the document in that language (not the Accept-Language one)
    english = get(f"{live_server.url}/ontology?lang=en", "text/html", headers={"Accept-Language": "fr"})
    assert english.headers["Content-Location"] == "/ontology.html?lang=en"
    assert 'id="JointAuthority"' in html.text
    assert 'id="BoundedQuantity"' in html.text


def test_the_ontology_page_shows_each_term_in_use_and_the_reused_vocabularies(live_server, shared_app):
    """An analyst learns from the page how a term is used, and what org:, skos:, schema: …
    terms the data relies on, with how often."""
    html = get(f"{live_server.url}/ontology.html?lang=en").text
    installed = html[html.index('id="installedWithin"'):]
    installed = installed[:installed.index("</article>")]
    assert 'class="example"' in installed and 'href="/id/ssi-be?lang=en"' in installed
    reused = html[html.index('id="reused"'):]
    store = shared_app.extensions["ssikg.store"]
    posts_in = store.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s <http://www.w3.org/ns/org#postIn> ?o } }")
    count = int(next(iter(posts_in))["n"].value)
    assert re.search(rf'<code>org:postIn</code></a></th><td class="num">{count}</td>', reused)
    assert "<code>ssikg:" not in reused  # the project's own terms have their articles above
    # the reused terms the file declares for OWL tools (org:Organization a owl:Class) are not its terms
    assert 'id="JointAuthority"' in html and 'id="Organization"' not in html and 'id="Concept"' not in html


def test_the_ontology_version_iri_dereferences_to_the_ontology(live_server):
    """OWL 2: the ontology document is reachable from its owl:versionIRI."""
    ontology = parse(get(f"{live_server.url}/ontology.ttl"), "turtle")
    version = ontology.value(URIRef(BASE + "ontology"), OWL.versionIRI)
    assert version is not None and str(version).startswith(BASE + "ontology/")
    path = str(version)[len(BASE):]
    turtle = get(f"{live_server.url}/{path}", "text/turtle")
    assert turtle.status_code == 200 and len(parse(turtle, "turtle")) == len(ontology)
    assert get(f"{live_server.url}/{path}.rdf").headers["Content-Type"].startswith("application/rdf+xml")
    assert get(f"{live_server.url}/{path}", "text/html").status_code == 200
    # the version's documents are named below its IRI, not after the current version's
    assert turtle.headers["Content-Location"] == f"/{path}.ttl"
    assert f'</{path}.rdf>; rel="alternate"' in turtle.headers["Link"] and "</ontology." not in turtle.headers["Link"]
    unknown = get(f"{live_server.url}/ontology/0.0.1", "text/turtle")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("text/turtle")


def test_html_refused_by_the_client_is_never_sent(live_server):
    """RFC 9110 §12.4.2: q=0 is "not acceptable", whatever */* allows."""
    for path in ("/id/dcis", "/ontology", "/graph/stated"):
        r = get(f"{live_server.url}{path}", "text/html;q=0, */*;q=0.1", allow_redirects=True)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle"), path
    assert get(f"{live_server.url}/id/dcis", "application/xhtml+xml").status_code == 406


def test_named_graph_iri_dereferences(live_server, shared_app):
    store = shared_app.extensions["ssikg.store"]
    size = len(list(store.quads(GRAPHS["stated"])))
    turtle = get(f"{live_server.url}/graph/stated", "text/turtle")
    assert turtle.status_code == 200 and turtle.headers["Content-Location"].endswith("/graph/stated.ttl")
    assert len(parse(turtle, "turtle")) == size
    for document in (turtle, get(f"{live_server.url}/graph/stated.html")):  # as entity documents do
        assert '/graph/stated.jsonld>; rel="alternate"; type="application/ld+json"' in document.headers["Link"]
    page = get(f"{live_server.url}/graph/stated", "text/html")
    assert f"<strong>{size}</strong>" in page.text


def store_graph(app, graph_iri: str) -> rdflib.Graph:
    """A named graph as the store holds it, read without the server."""
    store = app.extensions["ssikg.store"]
    graph = rdflib.Graph()
    graph.parse(data=ox.serialize((q.triple for q in store.quads(graph_iri)), format=ox.RdfFormat.N_TRIPLES),
                format="nt")
    return graph


@pytest.mark.parametrize("suffix", FORMATS)
def test_graph_documents_stream_the_stores_graph(live_server, shared_app, suffix):
    """/graph/<name>.<suffix> is streamed as /store?graph= is (no Content-Length: written while
    read, never held whole), and says exactly what the store's graph holds."""
    media_type, parser = FORMATS[suffix]
    expected = store_graph(shared_app, GRAPHS["provenance"])
    assert len(expected) > 1000
    document = get(f"{live_server.url}/graph/provenance.{suffix}", headers={"Accept-Encoding": "identity"})
    assert document.status_code == 200 and document.headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert "Content-Length" not in document.headers
    assert isomorphic(parse(document, parser), expected)
    if suffix == "ttl":  # the project's prefixes, as rdflib wrote them before
        assert "@prefix prov: <http://www.w3.org/ns/prov#> ." in document.text
    held = get(f"{live_server.url}/graph/provenance", media_type, headers={"If-None-Match": document.headers["ETag"]})
    assert held.status_code == 304 and held.headers["Content-Location"].endswith(f"/graph/provenance.{suffix}")
    assert f'/graph/provenance.{suffix}>; rel="alternate"' in held.headers["Link"]
    head = requests.head(f"{live_server.url}/graph/provenance.{suffix}", timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers["ETag"] == document.headers["ETag"]


def test_every_document_of_an_entity_names_it_in_a_describes_link(live_server):
    for suffix in ("html", *FORMATS):
        document = get(f"{live_server.url}/id/dcis.{suffix}")
        assert document.status_code == 200
        assert f'<{ID}dcis>; rel="describes"' in document.headers["Link"], suffix


GRAPH_TOKEN = "graph-pages-token"


def test_graphs_made_through_the_graph_store_dereference_under_the_namespace(make_app, serve_app):
    """Every IRI under the namespace resolves: a graph PUT or POSTed to /store is served at
    /graph/<path> as the project's graphs are; a graph the store lacks is 404 everywhere."""
    server = serve_app(make_app(update_token=GRAPH_TOKEN))
    write = {"Authorization": f"Bearer {GRAPH_TOKEN}", "Content-Type": "text/turtle"}
    notes = BASE + "graph/notes"
    triple = "<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/2000/01/rdf-schema#comment> \"note\" ."
    assert requests.put(f"{server.url}/store", params={"graph": notes}, data=triple, headers=write,
                        timeout=TIMEOUT).status_code == 201
    created = requests.post(f"{server.url}/store", data=triple, headers=write, timeout=TIMEOUT)
    uploaded = requests.utils.unquote(created.headers["Location"].split("graph=", 1)[1])
    assert uploaded.startswith(BASE + "graph/uploads/")
    for path in ("notes", uploaded.removeprefix(BASE + "graph/")):
        turtle = get(f"{server.url}/graph/{path}", "text/turtle")
        assert turtle.status_code == 200 and turtle.headers["Content-Location"].endswith(f"/graph/{path}.ttl")
        assert len(parse(turtle, "turtle")) == 1
        assert len(parse(get(f"{server.url}/graph/{path}.nt"), "nt")) == 1
        page = get(f"{server.url}/graph/{path}", "text/html")
        assert page.status_code == 200 and "<strong>1</strong>" in page.text
        assert f'href="/graph/{path}.jsonld"' in page.text
    for missing in ("nothing", "uploads/nothing", "notes/more"):
        assert get(f"{server.url}/graph/{missing}", "text/turtle").status_code == 404
        assert get(f"{server.url}/store", params={"graph": BASE + "graph/" + missing}).status_code == 404


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_external_graph_exists_empty_wherever_it_is_named(make_app, serve_app, in_memory):
    """README: graph/external holds facts from other sources, none today: the build makes it
    an empty named graph, so the Graph Store, the Service Description and /graph/external agree."""
    server = serve_app(make_app(in_memory=in_memory))
    external = GRAPHS["external"]
    assert get(f"{server.url}/graph/external", "text/turtle").status_code == 200
    stored = get(f"{server.url}/store", params={"graph": external}, headers={"Accept": "text/turtle"})
    assert stored.status_code == 200 and len(parse(stored, "turtle")) == 0
    description = get(f"{server.url}/sparql", "text/turtle")
    names = {str(o) for o in parse(description, "turtle").objects(
        None, URIRef("http://www.w3.org/ns/sparql-service-description#name"))}
    assert external in names


# ---------------------------------------------------------------------------
# Entity pages: labels by language, provenance, quantities


def h1(html: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert match, html[:500]
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_language_negotiation_french_by_default_english_and_fallback(live_server):
    url = f"{live_server.url}/id/dcis.html"
    french = get(url)
    assert '<html lang="fr">' in french.text
    assert h1(french.text) == "direction de la coopération internationale de sécurité"
    assert "Accept-Language" in french.headers["Vary"]

    english = get(url, headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert '<html lang="en">' in english.text
    assert h1(english.text) == "Directorate for International Security Cooperation"
    assert english.headers["Content-Language"] == "en"

    # ?lang= beats Accept-Language; the switcher links to every language
    switched = get(url + "?lang=en", headers={"Accept-Language": "fr"})
    assert h1(switched.text) == "Directorate for International Security Cooperation"
    assert 'href="/id/dcis.html?lang=fr"' in switched.text and "?lang=nl" in switched.text

    # no Dutch label: the French one is shown and marked as a fallback
    dutch = get(url + "?lang=nl")
    assert h1(dutch.text).startswith("direction de la coopération internationale de sécurité")
    assert 'class="fallback"' in re.search(r"<h1>.*?</h1>", dutch.text, re.S).group(0)

    # a section title exists only in French: English pages say so visibly
    section = get(f"{live_server.url}/id/page/section-1.html?lang=en")
    assert "1/ Le service de sécurité intérieure (SSI) de BELGIQUE" in h1(section.text)
    assert "(fr)" in h1(section.text)


def test_organisation_page_shows_relations_provenance_and_links(live_server):
    page = get(f"{live_server.url}/id/dcis.html?lang=en").text
    # outgoing and incoming relations, with labels and links
    assert 'href="/id/post-dg-pn?lang=en"' in page
    assert "Director General of the National Police" in page
    assert "Incoming relations" in page and 'href="/id/auth-dcis?lang=en"' in page
    # provenance: the verbatim quote, the section, the page and its date, the status
    assert "A ce titre, elle relève de l’autorité conjointe des deux directeurs généraux." in page
    assert '<time datetime="2024-02-08">' in page
    assert 'class="badge badge-stated"' in page and 'class="badge badge-derived"' in page
    # a derived triple says why it follows
    post = get(f"{live_server.url}/id/post-ol-benelux.html?lang=en").text
    assert "materialised here for org-chart use only" in post
    # raw RDF and the query reproducing the page
    for suffix in FORMATS:
        assert f'href="/id/dcis.{suffix}"' in page
    query_link = re.search(r'href="(/sparql\?query=[^"]+)"', page).group(1)
    rows = get(live_server.url + query_link.replace("&amp;", "&"), "application/sparql-results+json")
    assert rows.status_code == 200
    bindings = rows.json()["results"]["bindings"]
    assert any(b.get("quote", {}).get("value", "").startswith("A ce titre") for b in bindings)


def test_quantities_keep_their_bound_semantics(live_server):
    english = get(f"{live_server.url}/id/reseau-ssi.html?lang=en").text
    assert "more than 300" in english and "plus de 300" in english
    assert ">300<" not in english
    french = get(f"{live_server.url}/id/reseau-ssi.html").text
    assert "plus de 300" in french and "plus de 152" in french
    # the quantity's own label says its language (WCAG 3.1.2): French now, or English as a fallback
    assert re.search(r'<a href="[^"]*/id/q-pays[^"]*"><span lang="(fr">plus de|en">more than) 152', french)


def test_fact_page_shows_its_quote(live_server):
    page = get(f"{live_server.url}/id/fact/F55.html").text
    assert "composé de plus de 300 policiers et gendarmes" in page
    assert '<blockquote class="quote" lang="fr"' in page


def test_a_fact_document_says_which_triples_it_grounds(live_server):
    """Following a fact's IRI leads to the triples it supports, not to bare blank nodes."""
    graph = parse(get(f"{live_server.url}/id/fact/F34", "text/turtle"), "turtle")
    fact = URIRef(ID + "fact/F34")
    statements = {s for s in graph.subjects(PROV.wasDerivedFrom, fact) if isinstance(s, BNode)}
    assert len(statements) >= 5
    for statement in statements:  # each one whole: what it stands for
        assert (statement, RDF.type, RDF.Statement) in graph
        assert all(graph.value(statement, p) is not None for p in (RDF.subject, RDF.predicate, RDF.object))
    assert (None, RDF.subject, DCIS) in graph
    page = get(f"{live_server.url}/id/fact/F34.html?lang=en").text
    section = page[page.index('id="grounds-h"'):page.index('id="out-h"')]
    assert "Triples grounded on this statement" in section
    assert 'href="/id/dcis' in section and 'href="/id/auth-dcis' in section and "reportsTo" in section
    assert "_:" not in page  # no blank-node id left to a reader


def test_home_page_describes_the_dataset(live_server, shared_app):
    page = get(live_server.url + "/", headers={"Accept-Language": "en"}).text
    assert '<html lang="en">' in page
    assert "2024-02-08" in page and "Le service de sécurité intérieure" in page
    assert "<code>000_b0df10a4594c1420.txt</code>" in page  # the local copy's file name
    total = len(shared_app.extensions["ssikg.store"])
    assert f"{total:,}".replace(",", " ") in page
    for href in ('href="/id/dcis"', 'href="/id/post-asi-be"', 'href="/query"', 'href="/ontology"',
                 'href="/org-chart"'):
        assert href in page, href
    assert "Stored queries" in page and "cq05-who-assists-the-asi" in page
    # every graph the store holds, the empty one too, as the Service Description and VoID list them
    assert re.search(r'href="/graph/external">[^<]+</a></td><td class="num">0</td>', page)


# ---------------------------------------------------------------------------
# Public base: a deployment elsewhere answers for the canonical IRIs


def test_custom_public_base_rewrites_html_links_only(make_app, serve_app):
    server = serve_app(make_app(public_base="https://kg.example.org/ssikg/"))
    page = get(f"{server.url}/id/dcis.html").text
    assert 'href="https://kg.example.org/ssikg/id/post-dg-pn"' in page
    assert 'href="/id/post-dg-pn"' not in page
    graph = parse(get(f"{server.url}/id/dcis.ttl"), "turtle")
    assert (DCIS, ORG.reportsTo, URIRef(ID + "post-dg-pn")) in graph


def test_served_deployment_at_its_own_address_answers_for_canonical_iris(store_copy, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "SSIKG_PUBLIC_BASE": base}
    process = subprocess.Popen(
        [sys.executable, "-m", "ssikg", "serve", "--store", str(store_copy), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"))
    try:
        wait_for_http(base + "health", timeout=60, process=process)
        # the canonical IRI https://w3id.org/ssikg/id/dcis, asked at this host
        page = get(base + "id/dcis", "text/html")
        assert page.status_code == 200 and page.url == base + "id/dcis.html"
        links = re.findall(r'href="(http://127\.0\.0\.1:\d+/id/[^"?#]+)"', page.text)
        assert base + "id/post-dg-pn" in links
        # every dataset link on the page resolves on this deployment
        for href in sorted(set(links))[:8]:
            assert get(href, "text/html").status_code == 200, href
        document = parse(get(base + "id/dcis", "text/turtle"), "turtle")
        assert (DCIS, SKOS.prefLabel, Literal("direction de la coopération internationale de sécurité",
                                              lang="fr")) in document
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------------------
# Query UI: vendored, offline


def test_query_ui_is_vendored_and_offline(live_server, project_root):
    vendor = project_root / "ssikg" / "static" / "vendor" / "yasgui"
    assert "4.6.2" in (vendor / "VERSION").read_text()
    assert "MIT License" in (vendor / "LICENSE").read_text()
    for path in ("/query", "/sparql"):
        page = get(live_server.url + path, "text/html")
        assert page.status_code == 200 and "yasgui.min.js" in page.text, path
        external = re.findall(r'(?:src|href)="(https?://[^"]+)"', page.text)
        assert not [u for u in external if not u.startswith(live_server.url)], external
    for asset in ("vendor/yasgui/yasgui.min.js", "vendor/yasgui/yasgui.min.css", "query-ui.js"):
        assert get(f"{live_server.url}/static/{asset}").status_code == 200
    script = get(f"{live_server.url}/static/query-ui.js").text
    assert '["ssikgPrefixes", "variables"]' in script and "prefixCcApi: null" in script
    # without JavaScript the page is a working form posting to /sparql
    page = get(live_server.url + "/query", "text/html").text
    assert 'method="post" action="/sparql"' in page and 'name="query"' in page


def test_query_ui_opens_with_the_projects_prefixes_and_the_editor_first(live_server):
    page = get(live_server.url + "/query?lang=en", "text/html").text
    initial = re.search(r'<textarea id="query" name="query"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    for prefix in ("ssikg", "id", "concept", "fact", "org", "skos", "prov"):
        assert f"PREFIX {prefix}: &lt;" in initial, prefix
    config = json.loads(re.search(r'id="ssikg-query-config">(.*?)</script>', page, re.S).group(1))
    assert config["prefixes"]["ssikg"] == SSIKG and config["prefixes"]["fact"].startswith(BASE)
    assert config["words"]["editor"] and config["words"]["endpoint"]
    # the editor comes before the 49 example buttons, and the page says how to indent
    assert page.index('id="yasgui"') < page.index('class="examples"')
    assert "Ctrl+]" in page
    # the default query runs as it is
    query = html.unescape(initial)
    answer = requests.post(f"{live_server.url}/sparql", data={"query": query}, timeout=TIMEOUT,
                           headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200 and answer.json()["results"]["bindings"]


# ---------------------------------------------------------------------------
# Error pages, navigation, French typography


def test_error_pages_follow_the_page_language_inside_the_site_layout(live_server):
    english = get(f"{live_server.url}/no/such/route", "text/html", headers={"Accept-Language": "en"})
    assert english.status_code == 404 and '<html lang="en">' in english.text
    assert '<nav aria-label="ssikg">' in english.text and "Skip to content" in english.text
    assert re.search(r'<a href="/">Home</a>', english.text)
    assert "sparql" not in re.search(r'<main.*</main>', english.text, re.S).group(0).lower()
    french = get(f"{live_server.url}/org-chart.svg?focus=garbage&lang=fr", "text/html",
                 headers={"Accept-Language": "en"})
    assert french.status_code == 400 and '<html lang="fr">' in french.text
    assert french.headers["Content-Language"] == "fr" and "Accept-Language" in french.headers["Vary"]
    assert '<a href="/?lang=fr">Accueil</a>' in french.text and "focus must be" in french.text
    assert get(f"{live_server.url}/no/such/route", "application/json").json()["status"] == 404


def test_provenance_notes_show_the_statuss_label_in_the_page_language(live_server):
    french = get(f"{live_server.url}/id/dcis.html").text
    english = get(f"{live_server.url}/id/dcis.html?lang=en").text
    assert "interprétation\u00a0: <span lang=\"fr\">dérivé</span>" in french
    assert "interprétation\u00a0: <span lang=\"fr\">contextuel</span>" in french
    assert "interpretation: <span lang=\"en\">derived</span>" in english
    assert ": Derived)" not in french + english and ": Contextual)" not in french + english


def test_fallback_labels_name_the_language_they_are_in(live_server):
    dutch = get(f"{live_server.url}/id/dcis.html?lang=nl").text
    assert 'title="no label in this language; showing the label in French (fr)"' in dutch
    assert "label in fr\"" not in dutch


def test_french_pages_put_a_no_break_space_before_colons(live_server):
    french = get(f"{live_server.url}/id/dcis.html").text
    for label in ("Langue", "IRI", "Types"):
        assert f"{label}\u00a0:" in french, label
        assert f"{label}:" not in french, label
    english = get(f"{live_server.url}/id/dcis.html?lang=en").text
    assert "IRI:" in english and "Language:" in english and "\u00a0:" not in english
    assert "Section\u00a0:" in get(f"{live_server.url}/id/dcis.html").text


def test_graph_pages_link_their_rdf_documents_and_navigation_keeps_the_language(live_server):
    page = get(f"{live_server.url}/graph/stated?lang=en", "text/html").text
    head = page.split("</head>", 1)[0]
    for suffix, (media, _parser) in FORMATS.items():
        assert f'<link rel="alternate" type="{media}" href="/graph/stated.{suffix}">' in head, suffix
    nav = page.split('<nav aria-label="ssikg">', 1)[1].split("</nav>", 1)[0]
    for href in ("/?lang=en", "/query?lang=en", "/org-chart?lang=en", "/validate?lang=en"):
        assert f'href="{href}"' in nav, href


# documents, downloads and the like: not pages in the page language
NOT_PAGES = re.compile(r"(\.(ttl|jsonld|nt|rdf|nq|trig|csv|tsv|json|srj|srx|svg|css|js)$)|^/store$|^/static/")


def test_links_keep_a_chosen_language(live_server):
    """A page opened with ?lang=en under Accept-Language: fr: every link to a page of the
    site keeps lang=en (else the next page would be French)."""
    select = quote("SELECT * WHERE { ?s ?p ?o } LIMIT 2")
    pages = ["/", "/id/dcis.html", "/id/post-asi-be.html", "/org-chart", "/org-chart?focus=" + quote(ID + "dcis", safe=""),
             "/query", "/ontology.html", "/validate", "/graph/stated.html", "/id/nope.html",
             f"/sparql?query={select}", "/sparql?query=nonsense"]
    for path in pages:
        url = live_server.url + path + ("&" if "?" in path else "?") + "lang=en"
        response = requests.get(url, headers={"Accept-Language": "fr", "Accept": "text/html"}, timeout=TIMEOUT)
        assert response.headers["Content-Language"] == "en", path
        checked = 0
        for anchor in html_tree.find_all(html_tree.parse(response.text), "a"):
            href = anchor.get("href") or ""
            target = urlsplit(href)
            if (not href or href.startswith("#") or target.scheme or target.netloc or anchor.get("hreflang")
                    or NOT_PAGES.search(target.path) or "format" in parse_qs(target.query)):
                continue
            checked += 1
            assert parse_qs(target.query).get("lang") == ["en"], (path, href[:160])
        assert checked >= 3, path


def test_a_refused_query_links_back_to_the_editor_with_the_query(live_server):
    """A malformed query's HTML error page offers the query page opening it (the query in
    the link's fragment only, never echoed into the page)."""
    query = 'SELECT <script>alert("x")</script> WHERE {'
    for response in (
            requests.get(f"{live_server.url}/sparql", params={"query": query, "lang": "en"},
                         headers={"Accept": "text/html"}, timeout=TIMEOUT),
            requests.post(f"{live_server.url}/sparql?lang=fr", data={"query": query},
                          headers={"Accept": "text/html"}, timeout=TIMEOUT)):
        assert response.status_code == 400
        assert "<script>alert" not in response.text
        links = html_tree.find_all(html_tree.parse(response.text), "a", "edit-query")
        assert len(links) == 1
        target = urlsplit(links[0].get("href"))
        assert target.path == "/query" and parse_qs(target.fragment) == {"query": [query]}
        assert parse_qs(target.query)["lang"] in (["en"], ["fr"])
    other = requests.get(f"{live_server.url}/id/nope.html", timeout=TIMEOUT)
    assert other.status_code == 404 and "edit-query" not in other.text


def test_the_site_has_an_icon_and_no_favicon_404(live_server):
    page = requests.get(f"{live_server.url}/?lang=en", timeout=TIMEOUT).text
    icon = [e for e in html_tree.find_all(html_tree.parse(page), "link") if e.get("rel") == "icon"][0]
    for href in (icon.get("href"), "/favicon.ico"):
        response = requests.get(live_server.url + href, timeout=TIMEOUT)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/svg+xml"), href
        assert ET.fromstring(response.content).tag == "{http://www.w3.org/2000/svg}svg"


def test_the_chart_page_says_graphviz_is_missing_in_the_page_language(make_app, serve_app, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no dot to run
    server = serve_app(make_app())
    for lang, words in (("fr", "n’est pas installé"), ("en", "is not installed")):
        page = requests.get(f"{server.url}/org-chart?lang={lang}", timeout=TIMEOUT)
        assert page.status_code == 200 and words in page.text, lang

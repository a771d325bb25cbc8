"""The validation service over real HTTP (loopback servers): GET /validate on the
store, POST /validate with RDF bodies, content negotiation of the report, and
validate-on-write through the SPARQL Update and Graph Store routes — a refused
write answers 422 with the report and leaves the store exactly as it was.
"""

from __future__ import annotations

import json
import re

import pyoxigraph as ox
import pytest
import rdflib
import requests
from rdflib.namespace import SH

TOKEN = "validation-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATED = "https://w3id.org/ssikg/graph/stated"
DERIVED = "https://w3id.org/ssikg/graph/derived"
PREFIXES = ("PREFIX org: <http://www.w3.org/ns/org#>\nPREFIX id: <https://w3id.org/ssikg/id/>\n"
            "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n")
TIMEOUT = 120

BROKEN_POST_TTL = """@prefix org: <http://www.w3.org/ns/org#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
<https://w3id.org/ssikg/id/post-test> a org:Post ;
    skos:prefLabel "poste d’essai"@fr ;
    org:postIn <https://w3id.org/ssikg/id/ssi-be>, <https://w3id.org/ssikg/id/dcis> .
"""


def _report_graph(response) -> rdflib.Graph:
    fmt = {"text/turtle": "turtle", "application/ld+json": "json-ld",
           "application/n-triples": "nt"}[response.headers["Content-Type"].split(";")[0]]
    return rdflib.Graph().parse(data=response.content, format=fmt)


def _conforms(graph: rdflib.Graph) -> bool:
    report = next(graph.subjects(rdflib.RDF.type, SH.ValidationReport))
    return bool(graph.value(report, SH.conforms).toPython())


# ---------------------------------------------------------------------------
# GET /validate


@pytest.mark.parametrize("accept", ["text/turtle", "application/ld+json", "application/n-triples"])
def test_get_validate_answers_the_report_graph_by_conneg(live_server, accept):
    response = requests.get(f"{live_server.url}/validate", headers={"Accept": accept}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(accept)
    graph = _report_graph(response)
    assert _conforms(graph) is True
    assert not list(graph.subjects(rdflib.RDF.type, SH.ValidationResult))
    assert response.headers["X-SSIKG-Conforms"] == "true"
    assert "Accept" in response.headers["Vary"]


def test_get_validate_defaults_to_turtle_and_offers_summaries(live_server):
    plain = requests.get(f"{live_server.url}/validate", timeout=TIMEOUT)
    assert plain.headers["Content-Type"].startswith("text/turtle")
    summary = requests.get(f"{live_server.url}/validate?lang=fr", headers={"Accept": "application/json"},
                           timeout=TIMEOUT).json()
    assert summary["conforms"] is True and summary["results"] == [] and summary["triples"] > 1000
    assert summary["summary"].startswith("conforme")
    english = requests.get(f"{live_server.url}/validate?format=json&lang=en", timeout=TIMEOUT).json()
    assert english["summary"].startswith("conforms")
    page = requests.get(f"{live_server.url}/validate", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<h1>" in page.text and "sh:ValidationReport" in page.text


def test_get_validate_refuses_bad_parameters_with_clear_4xx(live_server):
    assert requests.get(f"{live_server.url}/validate?lang=nl&format=json", timeout=TIMEOUT).json()["lang"] == "en"
    response = requests.get(f"{live_server.url}/validate?format=yaml", timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["message"]
    # an unknown lang= is ignored, as on the site's other pages: Accept-Language decides
    ignored = requests.get(f"{live_server.url}/validate?lang=de&format=json", headers={"Accept-Language": "en"},
                           timeout=TIMEOUT)
    assert ignored.status_code == 200 and ignored.json()["lang"] == "en"
    page = requests.get(f"{live_server.url}/validate?lang=de", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    response = requests.get(f"{live_server.url}/validate", headers={"Accept": "image/png"}, timeout=TIMEOUT)
    assert response.status_code == 406
    assert "text/turtle" in response.json()["offered"]


# ---------------------------------------------------------------------------
# POST /validate


def test_post_validate_reports_violations_in_the_body(live_server):
    response = requests.post(f"{live_server.url}/validate?lang=en", data=BROKEN_POST_TTL.encode(),
                             headers={"Content-Type": "text/turtle", "Accept": "application/json"},
                             timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert body["conforms"] is False
    rules = {(r["focus"], r["shape_name"]) for r in body["results"]}
    # Alone, the post's units are undeclared (they live in the store): dangling references.
    assert ("https://w3id.org/ssikg/id/post-test", "ssikgsh:Post-oneUnit") in rules
    assert ("https://w3id.org/ssikg/id/post-test", "ssikgsh:Post-unitDeclared") in rules
    assert all(r["message"] and r["messages"]["fr"] != r["messages"]["en"] for r in body["results"])
    # ... so the report says how to check them against the store, in the client's language
    [note] = [n for n in body["notes"] if "merge=store" in n]
    assert "ssikgsh:Post-unitDeclared" in note and "does not declare" in note
    french = requests.post(f"{live_server.url}/validate?lang=fr", data=BROKEN_POST_TTL.encode(),
                           headers={"Content-Type": "text/turtle", "Accept": "text/plain"}, timeout=TIMEOUT)
    assert "validez à nouveau avec merge=store" in french.text
    merged = requests.post(f"{live_server.url}/validate?merge=store&format=json", data=BROKEN_POST_TTL.encode(),
                           headers={"Content-Type": "text/turtle"}, timeout=TIMEOUT).json()
    assert merged["conforms"] is False and not any("merge=store" in n for n in merged["notes"])


def test_an_upload_validated_alone_is_not_asked_for_the_datasets_graphs(live_server):
    """The rule that the ontology, vocabularies, stated, provenance and editorial graphs exist
    is about the dataset: a part uploaded on its own lacks them by design (no false alarm),
    while the store, or the upload merged with it, is checked for them."""
    alone = requests.post(f"{live_server.url}/validate?format=json", data=BROKEN_POST_TTL.encode(),
                          headers={"Content-Type": "text/turtle"}, timeout=TIMEOUT).json()
    rules = {r["shape_name"] for r in alone["results"]}
    assert "ssikgsh:Post-unitDeclared" in rules and "ssikgsh:Store-requiredGraphs" not in rules
    from ssikg.validation import validate_quads
    empty = validate_quads([])  # a whole dataset with none of its graphs: every one is named
    assert sum(r.shape_name == "ssikgsh:Store-requiredGraphs" for r in empty.results) == 5


def test_post_validate_merged_with_the_store(live_server):
    response = requests.post(f"{live_server.url}/validate?merge=store", data=BROKEN_POST_TTL.encode(),
                             headers={"Content-Type": "text/turtle", "Accept": "text/turtle"},
                             timeout=TIMEOUT)
    assert response.status_code == 200
    graph = _report_graph(response)
    assert _conforms(graph) is False
    # With the store, the units are declared organisations: only the two-units rules are left
    # (the body's ORG triples are the user's, in the default graph: they need no justification,
    # which only the derived graph's triples do).
    shapes = {str(o) for o in graph.objects(None, SH.sourceShape)}
    assert shapes == {"https://w3id.org/ssikg/shapes#Post-oneUnit", "https://w3id.org/ssikg/shapes#Post-inverseUnit"}
    focus = {str(o) for o in graph.objects(None, SH.focusNode)}
    assert focus == {"https://w3id.org/ssikg/id/post-test"}
    assert {m.language for m in graph.objects(None, SH.resultMessage)} == {"fr", "en"}


def test_post_validate_keeps_named_graphs_and_accepts_many_syntaxes(live_server):
    # A stated triple without provenance is caught only when the body's graph names are kept.
    trig = ('<https://w3id.org/ssikg/graph/stated> { <https://w3id.org/ssikg/id/dcis> '
            '<http://www.w3.org/ns/org#purpose> <https://w3id.org/ssikg/id/concept/securite> . }')
    nquads = ('<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/ns/org#purpose> '
              '<https://w3id.org/ssikg/id/concept/securite> <https://w3id.org/ssikg/graph/stated> .\n')
    jsonld = json.dumps({"@context": {"org": "http://www.w3.org/ns/org#"},
                         "@id": "https://w3id.org/ssikg/graph/stated",
                         "@graph": [{"@id": "https://w3id.org/ssikg/id/dcis",
                                     "org:purpose": {"@id": "https://w3id.org/ssikg/id/concept/securite"}}]})
    for content_type, body in (("application/trig", trig), ("application/n-quads", nquads),
                               ("application/ld+json", jsonld)):
        response = requests.post(f"{live_server.url}/validate?merge=store&format=json", data=body.encode(),
                                 headers={"Content-Type": content_type}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        rules = {(r["focus"], r["shape_name"]) for r in response.json()["results"]}
        assert rules == {("https://w3id.org/ssikg/id/dcis", "ssikgsh:StatedTriple-hasProvenance")}, content_type
    # The same triple as N-Triples lands in the default graph, the user's: it needs neither a
    # stated triple's provenance nor a derived triple's justification...
    triples = nquads.rsplit(" <", 1)[0] + " ."
    turtle = requests.post(f"{live_server.url}/validate?merge=store&format=json", data=triples,
                           headers={"Content-Type": "application/n-triples"}, timeout=TIMEOUT)
    assert turtle.json()["results"] == [] and turtle.json()["conforms"] is True
    # ...unless graph= names the stated graph, or the derived graph.
    for graph, rule in (("stated", "ssikgsh:StatedTriple-hasProvenance"),
                        ("derived", "ssikgsh:DerivedTriple-hasJustification")):
        named = requests.post(f"{live_server.url}/validate?merge=store&format=json&graph={graph}", data=triples,
                              headers={"Content-Type": "application/n-triples"}, timeout=TIMEOUT)
        assert {r["shape_name"] for r in named.json()["results"]} == {rule}, graph


@pytest.mark.parametrize("content_type,body,status", [
    ("text/turtle", b"this is not turtle", 400),
    ("text/turtle", b"   ", 400),
    ("image/png", b"\x89PNG", 415),
    ("text/turtle; charset=latin-1", b"<a> <b> <c> .", 415),
])
def test_post_validate_refuses_bad_bodies_with_clear_4xx(live_server, content_type, body, status):
    response = requests.post(f"{live_server.url}/validate", data=body, headers={"Content-Type": content_type},
                             timeout=TIMEOUT)
    assert response.status_code == status
    assert response.json()["message"]


def test_post_validate_refuses_an_unknown_merge(live_server):
    response = requests.post(f"{live_server.url}/validate?merge=everything", data=BROKEN_POST_TTL.encode(),
                             headers={"Content-Type": "text/turtle"}, timeout=TIMEOUT)
    assert response.status_code == 400
    assert "merge" in response.json()["message"]


def test_a_parse_error_says_the_upload_could_not_be_read_and_where(live_server):
    response = requests.post(f"{live_server.url}/validate", data=b"<a> <b> .\n", timeout=TIMEOUT,
                             headers={"Content-Type": "text/turtle", "Accept": "application/json"})
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("the upload could not be read") and "line 1" in message
    assert "nothing was changed" not in message  # validation changes nothing anyway


# ---------------------------------------------------------------------------
# The validation page and its upload form


def test_the_validation_page_is_linked_and_offers_an_upload_form(live_server):
    home = requests.get(f"{live_server.url}/?lang=en", timeout=TIMEOUT).text
    assert 'href="/validate?lang=en"' in home  # in the site navigation, keeping the language
    page = requests.get(f"{live_server.url}/validate?lang=en", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200
    form = page.text.split('<form method="post"', 1)[1].split("</form>", 1)[0]
    assert 'action="/validate?lang=en"' in form and 'enctype="multipart/form-data"' in form
    assert 'type="file"' in form and 'name="file"' in form and 'name="merge" value="store"' in form
    assert '<label for="rdf-file">' in form


def test_a_file_uploaded_by_the_form_is_validated(live_server):
    # a browser sends what it cannot type as application/octet-stream: the file name decides
    alone = requests.post(f"{live_server.url}/validate?lang=en", timeout=TIMEOUT,
                          files={"file": ("post.ttl", BROKEN_POST_TTL.encode(), "application/octet-stream")},
                          headers={"Accept": "application/json"})
    assert alone.status_code == 200, alone.text
    rules = {r["shape_name"] for r in alone.json()["results"]}
    assert "ssikgsh:Post-unitDeclared" in rules
    # the form's merge box validates the file with the store's content
    merged = requests.post(f"{live_server.url}/validate", data={"merge": "store"}, timeout=TIMEOUT,
                           files={"file": ("post", BROKEN_POST_TTL.encode(), "text/turtle")},
                           headers={"Accept": "application/json"})
    assert merged.status_code == 200, merged.text
    assert {r["shape_name"] for r in merged.json()["results"]} == {"ssikgsh:Post-oneUnit", "ssikgsh:Post-inverseUnit"}
    page = requests.post(f"{live_server.url}/validate?lang=en", timeout=TIMEOUT, headers={"Accept": "text/html"},
                         files={"file": ("post.ttl", BROKEN_POST_TTL.encode(), "text/turtle")})
    assert page.status_code == 200 and "The data does not conform." in page.text
    # each result names its rule by a link to the rule's article in the shapes document
    assert '<a href="/shapes?lang=en#Post-oneUnit"><code>ssikgsh:Post-oneUnit</code></a>' in page.text


def canonical(turtle: bytes) -> set:
    """A Turtle document's triples with blank nodes named canonically (Oxigraph's RDFC)."""
    dataset = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object) for t in ox.parse(turtle, ox.RdfFormat.TURTLE))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def test_every_shape_iri_dereferences_to_the_shapes_document(live_server, shared_app):
    """A report's sh:sourceShape (``https://w3id.org/ssikg/shapes#PostShape``) names a document
    this server serves, as /ontology is served: by content negotiation, each shape an anchor."""
    from ssikg.settings import PROJECT_ROOT

    source = rdflib.Graph().parse(PROJECT_ROOT / "ontology" / "shapes.ttl")
    named = {str(s) for kind in (SH.NodeShape, SH.PropertyShape, SH.SPARQLConstraint)
             for s in source.subjects(rdflib.RDF.type, kind)}
    assert named and all(iri.startswith("https://w3id.org/ssikg/shapes#") for iri in named)
    # after a validation in the server's process, whose validator once added triples to the
    # shapes that process keeps (and serves)
    from ssikg.validation import quads_from_store, validate_quads

    validate_quads(quads_from_store(shared_app.extensions["ssikg.store"].quads()), source_dir=PROJECT_ROOT)

    turtle = requests.get(f"{live_server.url}/shapes", headers={"Accept": "text/turtle"}, timeout=TIMEOUT)
    assert turtle.status_code == 200 and turtle.headers["Content-Location"] == "/shapes.ttl"
    assert "Accept" in turtle.headers["Vary"] and '</shapes.rdf>; rel="alternate"' in turtle.headers["Link"]
    assert canonical(turtle.content) == canonical((PROJECT_ROOT / "ontology" / "shapes.ttl").read_bytes())
    for suffix, parser in (("jsonld", "json-ld"), ("nt", "nt"), ("rdf", "xml")):
        document = requests.get(f"{live_server.url}/shapes.{suffix}", timeout=TIMEOUT)
        assert len(rdflib.Graph().parse(data=document.content, format=parser)) == len(source), suffix
    again = requests.get(f"{live_server.url}/shapes", timeout=TIMEOUT,
                         headers={"Accept": "text/turtle", "If-None-Match": turtle.headers["ETag"]})
    assert again.status_code == 304

    page = requests.get(f"{live_server.url}/shapes?lang=en", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Location"] == "/shapes.html?lang=en"
    anchors = set(re.findall(r'id="([^"]+)"', page.text))
    assert {iri.rpartition("#")[2] for iri in named} <= anchors
    assert "A post must sit in exactly one organisation" in page.text  # the rule's message, in English
    assert "<code>org:postIn|^org:hasPost</code>" in page.text  # a path, as SPARQL writes it
    shouted = requests.get(f"{live_server.url}/shapes?lang=EN", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert shouted.headers["Content-Language"] == "en" and shouted.headers["Content-Location"] == "/shapes.html?lang=en"
    assert requests.get(f"{live_server.url}/shapes.xml", timeout=TIMEOUT).status_code == 404


def test_shapes_that_cannot_be_read_are_a_503_that_names_no_server_path(make_app, serve_app, tmp_path):
    import shutil

    from ssikg.settings import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "ontology", tmp_path / "ontology")
    (tmp_path / "ontology" / "shapes.ttl").write_text("this is not turtle", encoding="utf-8")
    server = serve_app(make_app(source_dir=tmp_path))
    answer = requests.get(f"{server.url}/shapes.ttl", timeout=TIMEOUT)
    assert answer.status_code == 503 and str(tmp_path) not in answer.text and "server log" in answer.json()["message"]


@pytest.mark.parametrize("filename,content_type,body,status,words", [
    ("broken.ttl", "text/turtle", b"<a> <b> .", 400, "line 1"),
    ("data.bin", "application/octet-stream", b"<a> <b> <c> .", 415, ".ttl"),
    ("empty.ttl", "text/turtle", b"", 400, "empty"),
    ("nothing", "application/octet-stream", b"", 400, "empty"),  # no file chosen: not a syntax question
    ("utf16.ttl", "text/turtle; charset=utf-16", "<a:a> <a:b> <a:c> .".encode("utf-16"), 415, "UTF-8"),
])
def test_a_bad_form_upload_is_a_clear_4xx(live_server, filename, content_type, body, status, words):
    response = requests.post(f"{live_server.url}/validate", files={"file": (filename, body, content_type)},
                             headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == status
    message = response.json()["message"]
    assert filename in message and words in message and "nothing was changed" not in message


def test_a_form_upload_keeps_the_size_limit(make_app, serve_app):
    server = serve_app(make_app(max_body_bytes=4096))
    big = BROKEN_POST_TTL.encode() + b"# padding\n" * 1000
    response = requests.post(f"{server.url}/validate", files={"file": ("big.ttl", big, "text/turtle")},
                             headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 413 and response.json()["message"]


# ---------------------------------------------------------------------------
# Validate-on-write


@pytest.fixture
def guarded_server(make_app, serve_app):
    app = make_app(update_token=TOKEN, validate_on_write=True)
    return serve_app(app)


def _dump(server) -> str:
    response = requests.get(f"{server.url}/sparql", params={"query": "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"},
                            headers={"Accept": "application/n-triples"}, timeout=TIMEOUT)
    assert response.status_code == 200
    return "\n".join(sorted(response.text.splitlines()))


def _count(server) -> int:
    response = requests.get(f"{server.url}/sparql",
                            params={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"},
                            headers={"Accept": "application/sparql-results+json"}, timeout=TIMEOUT)
    return int(response.json()["results"]["bindings"][0]["n"]["value"])


def test_an_update_that_breaks_a_shape_is_refused_and_changes_nothing(guarded_server):
    before = _dump(guarded_server)
    update = PREFIXES + f"INSERT DATA {{ GRAPH <{DERIVED}> {{ id:post-dg-pn org:reportsTo id:dcis }} }}"
    response = requests.post(f"{guarded_server.url}/sparql", data={"update": update}, headers=AUTH,
                             timeout=TIMEOUT)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["report"]["conforms"] is False
    rules = {(r["focus"], r["shape_name"]) for r in body["report"]["results"]}
    assert ("https://w3id.org/ssikg/id/dcis", "ssikgsh:ReportingLine-noCycle") in rules
    assert _dump(guarded_server) == before


def test_an_update_that_keeps_the_data_valid_is_committed(guarded_server):
    before = _count(guarded_server)
    update = PREFIXES + (f'INSERT DATA {{ GRAPH <{DERIVED}> {{ id:dcis skos:altLabel '
                         f'"direction de la coopération internationale"@fr }} }}')
    response = requests.post(f"{guarded_server.url}/sparql", data={"update": update}, headers=AUTH,
                             timeout=TIMEOUT)
    assert response.status_code == 204, response.text
    assert _count(guarded_server) == before + 1


def test_a_malformed_update_is_a_400_even_when_validating(guarded_server):
    response = requests.post(f"{guarded_server.url}/sparql", data={"update": "INSERT DATA { oops"},
                             headers=AUTH, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["message"]


def test_a_graph_store_write_that_breaks_a_shape_is_refused_and_changes_nothing(guarded_server):
    before = _dump(guarded_server)
    response = requests.post(f"{guarded_server.url}/store", params={"graph": DERIVED},
                             data=BROKEN_POST_TTL.encode(), headers={**AUTH, "Content-Type": "text/turtle"},
                             timeout=TIMEOUT)
    assert response.status_code == 422, response.text
    rules = {r["shape_name"] for r in response.json()["report"]["results"]}
    assert "ssikgsh:Post-oneUnit" in rules
    # Replacing the stated graph by nothing would strip every organisation of its type and label.
    response = requests.delete(f"{guarded_server.url}/store", params={"graph": STATED}, headers=AUTH,
                               timeout=TIMEOUT)
    assert response.status_code == 422, response.text
    assert _dump(guarded_server) == before


def test_without_the_setting_the_same_update_is_committed(make_app, serve_app):
    server = serve_app(make_app(update_token=TOKEN))
    before = _count(server)
    update = PREFIXES + f"INSERT DATA {{ GRAPH <{DERIVED}> {{ id:post-dg-pn org:reportsTo id:dcis }} }}"
    response = requests.post(f"{server.url}/sparql", data={"update": update}, headers=AUTH, timeout=TIMEOUT)
    assert response.status_code == 204
    assert _count(server) == before + 1
    report = requests.get(f"{server.url}/validate?format=json", timeout=TIMEOUT).json()
    assert report["conforms"] is False  # GET /validate sees the new state, not a stale cached report


def test_a_second_broken_reification_is_new_even_when_one_existed(store_copy):
    """Violations on blank nodes are counted, not merged: one broken reification the store
    already has must not let a write add another (every reification is a blank node)."""
    from ssikg.errors import SsikgError
    from ssikg.store import open_store
    from ssikg.validation import check_update

    stated = "GRAPH <https://w3id.org/ssikg/graph/stated>"
    ssi, ns = "<https://w3id.org/ssikg/id/ssi-be>", "https://w3id.org/ssikg"
    store = open_store(store_copy)
    try:  # the store already holds one: a stated triple gone, its reification left behind
        store.update(f"DELETE DATA {{ {stated} {{ {ssi} <{ns}/ontology#installedWithin> <{ns}/id/ambassade-fr-be> }} }}")
        with pytest.raises(SsikgError) as refused:
            check_update(store, f"DELETE DATA {{ {stated} {{ {ssi} <http://www.w3.org/ns/org#hasSite> "
                                f"<{ns}/id/site-ducale-65> }} }}")
        assert refused.value.status == 422
    finally:
        store.close()


def test_losing_an_ssis_embassy_or_a_facts_last_triple_is_refused(store_copy):
    """Deleting a stated triple together with its reification leaves no orphan for the
    reification rules to see: the SSI-in-an-embassy and fact-in-use shapes catch it."""
    from ssikg.errors import SsikgError
    from ssikg.store import open_store
    from ssikg.validation import check_update

    ns = "https://w3id.org/ssikg"
    ssi, installed, embassy = f"<{ns}/id/ssi-be>", f"<{ns}/ontology#installedWithin>", f"<{ns}/id/ambassade-fr-be>"
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    losing = f"""DELETE {{ GRAPH <{ns}/graph/stated> {{ {ssi} {installed} {embassy} }}
                           GRAPH <{ns}/graph/provenance> {{ ?r ?p ?o }} }}
                 WHERE {{ GRAPH <{ns}/graph/provenance> {{ ?r <{rdf}subject> {ssi} ; <{rdf}predicate> {installed} ;
                                                            ?p ?o }} }}"""
    store = open_store(store_copy)
    try:
        with pytest.raises(SsikgError) as refused:
            check_update(store, losing)
        assert refused.value.status == 422
        components = {r["shape"] for r in refused.value.extra["report"]["results"]}
        assert any("InternalSecurityService" in c for c in components), components
    finally:
        store.close()


def test_a_fact_left_grounding_nothing_is_refused(store_copy):
    from ssikg.errors import SsikgError
    from ssikg.store import open_store
    from ssikg.validation import check_update

    ns = "https://w3id.org/ssikg"
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    fact = f"<{ns}/id/fact/F44>"  # grounds one triple: take it and its reification away
    losing = f"""DELETE {{ GRAPH <{ns}/graph/stated> {{ ?s ?p ?o }} GRAPH <{ns}/graph/provenance> {{ ?r ?rp ?ro }} }}
                 WHERE {{ GRAPH <{ns}/graph/provenance> {{ ?r <http://www.w3.org/ns/prov#wasDerivedFrom> {fact} ;
                              <{rdf}subject> ?s ; <{rdf}predicate> ?p ; <{rdf}object> ?o ; ?rp ?ro }} }}"""
    store = open_store(store_copy)
    try:
        with pytest.raises(SsikgError) as refused:
            check_update(store, losing)
        shapes = {r["shape"] for r in refused.value.extra["report"]["results"]}
        assert any("SourceStatement" in s for s in shapes), shapes
    finally:
        store.close()


def test_the_html_report_offers_downloads_only_for_the_store_report(live_server):
    store_page = requests.get(f"{live_server.url}/validate", headers={"Accept": "text/html"}, timeout=60)
    assert "?format=ttl" in store_page.text
    body = "<https://w3id.org/ssikg/id/x> <http://www.w3.org/2004/02/skos/core#prefLabel> \"x\"@fr ."
    posted = requests.post(f"{live_server.url}/validate", data=body.encode(), timeout=60,
                           headers={"Content-Type": "application/n-triples", "Accept": "text/html"})
    assert posted.status_code == 200 and "?format=ttl" not in posted.text  # they would fetch the store's


def test_an_update_using_rand_is_not_checkable(store_copy):
    """Checked on a copy, then run again on the store: RAND() could choose differently."""
    from ssikg.errors import SsikgError
    from ssikg.store import open_store
    from ssikg.validation import check_update

    store = open_store(store_copy)
    try:
        with pytest.raises(SsikgError) as refused:
            check_update(store, "INSERT { GRAPH <http://example.org/g> { ?s <http://example.org/p> 1 } } "
                                "WHERE { ?s a <http://www.w3.org/ns/org#Post> FILTER(rand() < 0.5) }")
        assert refused.value.status == 400 and "RAND()" in refused.value.message
        check_update(store, 'INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/s> '
                            '<http://example.org/p> "a word with rand in it" } }')  # not a call: fine
    finally:
        store.close()


# Each binds ?x by a call whose value changes from one run to the next; the filter keeps the
# row, so the insert would add a reporting cycle (id:dcis ↔ id:post-dg-pn).  Had the filter
# held only sometimes (STRSTARTS(STRUUID(), "0")), the check on the copy could pass and the
# commit insert the cycle: such updates cannot be checked and are refused before either run.
NON_DETERMINISTIC_BINDINGS = {
    "RAND": "rand()",
    "NOW": "NOW()",
    "UUID": "UUID()",
    "STRUUID": "struuid()",
    "BNODE": "BNode()",
}


def test_updates_calling_non_deterministic_functions_are_not_checkable(guarded_server):
    before = _dump(guarded_server)
    for name, call in NON_DETERMINISTIC_BINDINGS.items():
        update = PREFIXES + (f"INSERT {{ GRAPH <{DERIVED}> {{ id:post-dg-pn org:reportsTo id:dcis }} }} "
                             f"WHERE {{ BIND({call} AS ?x) FILTER(BOUND(?x)) }}")
        response = requests.post(f"{guarded_server.url}/sparql", data={"update": update}, headers=AUTH,
                                 timeout=TIMEOUT)
        assert response.status_code == 400, (name, response.status_code, response.text)
        body = response.json()
        assert body["title"] == "Update not checkable" and f"{name}()" in body["message"], body
        assert body["functions"] == [name]
    assert _dump(guarded_server) == before
    # the names in a literal or a prefixed name are not calls: that update is checked and committed
    harmless = PREFIXES + (f'INSERT DATA {{ GRAPH <{DERIVED}> {{ id:dcis skos:altLabel "uuid now bnode"@fr }} }}')
    response = requests.post(f"{guarded_server.url}/sparql", data={"update": harmless}, headers=AUTH,
                             timeout=TIMEOUT)
    assert response.status_code == 204, response.text


def test_the_result_cache_and_validate_on_write_share_one_list_of_such_calls():
    from ssikg.result_cache import deterministic

    for call in NON_DETERMINISTIC_BINDINGS.values():
        assert not deterministic(f"SELECT ?x WHERE {{ BIND({call} AS ?x) }}"), call  # never cached either
    assert deterministic('SELECT ?x WHERE { BIND("bnode" AS ?x) }')


# ---------------------------------------------------------------------------
# validate_max_triples: a store or upload too large for pyshacl is refused, not started


def _generated_ntriples(count: int) -> bytes:
    """``count`` distinct labelled resources: harmless data, only its size matters here."""
    label = "<http://www.w3.org/2004/02/skos/core#prefLabel>"
    return "".join(f'<https://example.org/generated/{i}> {label} "item {i}"@fr .\n'
                   for i in range(count)).encode()


def test_a_store_above_validate_max_triples_is_refused_before_validating(make_app, serve_app):
    limit = 1000  # the project's store holds several thousand triples
    server = serve_app(make_app(validate_max_triples=limit, queue_timeout=0))
    refused = requests.get(f"{server.url}/validate?format=json", timeout=TIMEOUT)
    assert refused.status_code == 413, refused.text
    body = refused.json()
    assert "validate_max_triples" in body["message"] and body["validate_max_triples"] == limit
    assert body["triples"] > limit and body["title"] == "Too large to validate"
    page = requests.get(f"{server.url}/validate", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 413 and page.headers["Content-Type"].startswith("text/html")
    assert "validate_max_triples" in page.text
    small = _generated_ntriples(limit)  # at the limit: validated alone; merged with the store: refused
    alone = requests.post(f"{server.url}/validate?format=json", data=small, timeout=TIMEOUT,
                          headers={"Content-Type": "application/n-triples"})
    assert alone.status_code == 200 and alone.json()["triples"] == limit
    merged = requests.post(f"{server.url}/validate?format=json&merge=store", data=small, timeout=TIMEOUT,
                           headers={"Content-Type": "application/n-triples"})
    assert merged.status_code == 413 and "validate_max_triples" in merged.json()["message"]
    too_big = requests.post(f"{server.url}/validate?format=json", data=_generated_ntriples(limit + 1),
                            timeout=TIMEOUT, headers={"Content-Type": "application/n-triples"})
    assert too_big.status_code == 413 and too_big.json()["triples"] == limit + 1
    assert "the upload holds" in too_big.json()["message"]


def test_an_uploads_html_report_links_only_nodes_the_store_has(live_server):
    """A focus node only in the upload is text (its page would be a 404); one the store has is
    a link; the language switch cannot re-send the file: it says so and leads to the form."""
    body = BROKEN_POST_TTL + "<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/ns/org#reportsTo> \"x\" .\n"
    page = requests.post(f"{live_server.url}/validate?lang=en", timeout=TIMEOUT, headers={"Accept": "text/html"},
                         files={"file": ("post.ttl", body.encode(), "text/turtle")})
    assert page.status_code == 200
    headings = [h for h in page.text.split("<h2 ")[1:] if h.startswith('id="focus-')]
    assert headings
    for heading in headings:
        heading = heading.split("</h2>", 1)[0]
        if "/post-test</code>" in heading:
            assert "<a " not in heading  # only in the upload
        for href in (h.split('"', 1)[0] for h in heading.split('href="')[1:]):
            assert requests.get(live_server.url + href.replace("&amp;", "&"), timeout=TIMEOUT).status_code == 200
    assert any("/post-test</code>" in h for h in headings)
    assert any('<a href="/id/dcis?lang=en">' in h.split("</h2>", 1)[0] for h in headings)  # in the store
    switch = page.text.split('class="lang-switch"', 1)[1].split("</nav>", 1)[0]
    assert 'class="lang-note"' in switch and "send it again" in switch
    assert 'href="/validate?lang=fr#upload-h"' in switch and 'href="/validate?lang=fr"' not in switch


def test_an_unreadable_form_upload_shows_the_form_with_the_reason(live_server):
    page = requests.post(f"{live_server.url}/validate?lang=en", timeout=TIMEOUT, headers={"Accept": "text/html"},
                         files={"file": ("broken.ttl", b"<a> <b> .", "text/turtle")})
    assert page.status_code == 400 and page.headers["Content-Type"].startswith("text/html")
    assert 'role="alert"' in page.text and "broken.ttl" in page.text and "line 1" in page.text
    form = page.text.split('<form method="post"', 1)[1].split("</form>", 1)[0]
    assert 'action="/validate?lang=en"' in form and 'name="file"' in form
    # a script asking for JSON still gets the JSON error
    plain = requests.post(f"{live_server.url}/validate", timeout=TIMEOUT, headers={"Accept": "application/json"},
                          files={"file": ("broken.ttl", b"<a> <b> .", "text/turtle")})
    assert plain.status_code == 400 and "line 1" in plain.json()["message"]

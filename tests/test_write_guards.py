"""What a write may not do, checked or not (from an audit of the write path).

* A literal typed ``rdf:langString`` / ``rdf:dirLangString`` without its language is accepted
  by Oxigraph's SPARQL parser (and made by ``STRDT``) but no RDF syntax can write it back:
  stored, it broke the store's dumps and its validation (a 500).  Such a write is a 400.
* Operations joined by ``;`` and the GRAPH blocks of data are flat lists, not nesting: 260
  operations were refused as "nests more than 256 deep".
* A write the validator cannot read (an RDF 1.2 triple term) is "Not checkable", not an
  update that "failed".
Real servers on loopback, real requests.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest
import requests

from ssikg import validation
from ssikg.sparql_lexer import deepest_nesting

TOKEN = "write-guards-token"
EDITORIAL = "https://w3id.org/ssikg/graph/editorial"
ID = "https://w3id.org/ssikg/id/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
JSON = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}


def post_update(server, text: str) -> requests.Response:
    return requests.post(f"{server.url}/sparql", data={"update": text}, headers=JSON, timeout=120)


def quad_count(server) -> int:
    answer = requests.get(f"{server.url}/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }"},
                          headers={"Accept": "application/sparql-results+json"}, timeout=60)
    return int(answer.json()["results"]["bindings"][0]["n"]["value"])


@pytest.fixture(params=[False, True], ids=["unchecked", "validate_on_write"])
def server(request, make_app, serve_app):
    return serve_app(make_app(update_token=TOKEN, validate_on_write=request.param))


@pytest.mark.parametrize("update", [
    f'INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}reseau-ssi> <{COMMENT}> "z"^^<{RDF}langString> }} }}',
    f'INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}reseau-ssi> <{COMMENT}> "z"^^<{RDF}dirLangString> }} }}',
    f'PREFIX rdf: <{RDF}> INSERT {{ GRAPH <{EDITORIAL}> {{ <{ID}reseau-ssi> <{COMMENT}> ?o }} }} '
    f'WHERE {{ BIND(STRDT("z", rdf:langString) AS ?o) }}',
], ids=["langString", "dirLangString", "STRDT"])
def test_a_language_string_without_its_language_is_refused_and_nothing_is_written(server, update):
    before = quad_count(server)
    refused = post_update(server, update)
    assert refused.status_code == 400, refused.text
    assert refused.json()["title"] == "Literal not storable" and "language" in refused.json()["message"]
    assert quad_count(server) == before
    dump = requests.get(f"{server.url}/store", headers={"Accept": "application/n-quads"}, timeout=60)
    assert len(list(ox.parse(dump.content, format=ox.RdfFormat.N_QUADS))) == before  # still parses


def test_naming_the_datatype_in_a_comment_or_with_a_language_is_fine(server):
    tagged = (f'# rdf:langString is what "z"@fr is\nINSERT DATA {{ GRAPH <{EDITORIAL}> {{ '
              f'<{ID}reseau-ssi> <{COMMENT}> "z"@fr }} }}')
    assert post_update(server, tagged).status_code == 204


def test_a_store_already_holding_such_a_literal_is_not_validatable_but_answers(store_copy, serve_app, make_app):
    """Written before this guard (here by pyoxigraph directly), it makes /validate a 4xx naming
    the cause, not a 500."""
    raw = ox.Store(str(store_copy / "db"))
    raw.update(f'INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}reseau-ssi> <{COMMENT}> "z"^^<{RDF}langString> }} }}')
    del raw
    server = serve_app(make_app(store=store_copy))
    answer = requests.get(f"{server.url}/validate", headers={"Accept": "application/json"}, timeout=120)
    assert 400 <= answer.status_code < 500, answer.text
    assert "N-Quads" in answer.json()["message"]


def test_operations_and_graph_blocks_of_data_are_not_nesting(server):
    operations = "".join(f"INSERT DATA {{ GRAPH <urn:g> {{ <urn:s{i}> <urn:p> {i} }} }} ;" for i in range(260))
    blocks = "INSERT DATA { " + " ".join(f"GRAPH <urn:g{i}> {{ <urn:s> <urn:p> {i} }}" for i in range(300)) + " }"
    for update in (operations, blocks):
        assert deepest_nesting(update) < 10
        answer = post_update(server, update)
        assert answer.status_code == 204, answer.text[:300]
    joined = "SELECT * WHERE { " + " ".join(f"GRAPH <urn:g{i}> {{ ?s ?p {i} }}" for i in range(300)) + " }"
    assert deepest_nesting(joined) > 256  # in a pattern the same blocks join: still counted


def test_a_write_the_validator_cannot_read_is_not_checkable(make_app, serve_app):
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True))
    triple_term = (f"INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}reseau-ssi> <{COMMENT}> "
                   f"<<( <{ID}a> <{ID}b> <{ID}c> )>> }} }}")
    refused = post_update(server, triple_term)
    assert refused.status_code == 400, refused.text
    assert refused.json()["title"] == "Not checkable" and "store is unchanged" in refused.json()["message"]


def test_memory_running_out_while_reading_the_shapes_is_not_called_a_broken_shapes_file(monkeypatch, tmp_path):
    """In a validation child capped by validation_memory_mb, the shapes may be what is being
    read when memory runs out: that is a 413, not 'the shapes cannot be read' (a 503)."""
    shapes = tmp_path / "shapes.ttl"
    shapes.write_text("@prefix sh: <http://www.w3.org/ns/shacl#> .\n")

    def out_of_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(validation.rdflib.Graph, "parse", out_of_memory)
    with pytest.raises(MemoryError):
        validation.load_shapes(shapes)


@pytest.mark.parametrize("content_type, body", [
    ("application/ld+json", f'{{"@id": "urn:a", "urn:p": {{"@value": "z", "@type": "{RDF}langString"}}}}'),
    ("application/rdf+xml", f'<?xml version="1.0"?><rdf:RDF xmlns:rdf="{RDF}"><rdf:Description rdf:about="urn:a">'
                            f'<rdf:value rdf:datatype="{RDF}langString">z</rdf:value></rdf:Description></rdf:RDF>'),
], ids=["JSON-LD", "RDF/XML"])
def test_an_upload_carrying_such_a_literal_is_refused_too(server, content_type, body):
    """JSON-LD and RDF/XML parsers let the literal through (Turtle's refuses it)."""
    before = quad_count(server)
    refused = requests.post(f"{server.url}/store", params={"graph": "urn:g"}, data=body.encode(),
                            headers={**JSON, "Content-Type": content_type}, timeout=60)
    assert refused.status_code == 400 and refused.json()["title"] == "Literal not storable", refused.text
    assert quad_count(server) == before


def test_a_refused_write_shows_what_broke_in_the_pages_language(make_app, serve_app):
    """A browser's 422 page lists the results, each message in the page's language (it showed
    only the first message, in English)."""
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True))
    cycle = (f"INSERT DATA {{ GRAPH <https://w3id.org/ssikg/graph/derived> {{ <{ID}post-dg-pn> "
             f"<http://www.w3.org/ns/org#reportsTo> <{ID}dcis> }} }}")
    for lang, words in (("fr", "Boucle hiérarchique"), ("en", "Reporting cycle")):
        page = requests.post(f"{server.url}/sparql", data={"update": cycle}, timeout=120,
                             headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/html",
                                      "Accept-Language": lang})
        assert page.status_code == 422
        listed = page.text.split('<ul class="validation-results">', 1)[1].split("</ul>", 1)[0]
        assert words in listed and "id:post-dg-pn" in listed and "ReportingLine-noCycle" in listed

"""Incremental validate-on-write: a checked write validates only what it can change, with the
verdict and the new results of the whole-store check.

Every mutation of test_validation_mutations.py and test_shapes_coverage.py is compared with the
whole validation by the harness (``assert_caught``).  Here the two paths of the write check
(``incremental=True`` and ``False``) are compared on a store that already has violations — where
only new results may refuse a write, blank nodes counted — for SPARQL updates and Graph Store
writes; and the store-size limits of checked writes are checked over HTTP.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest
import requests
from validation_harness import (
    DERIVED,
    EDITORIAL,
    PREFIXES,
    PROVENANCE,
    STATED,
    MemoryStore,
    add_stated,
    checked_write_results,
    join,
    result_keys,
)

from ssikg import validation
from ssikg.errors import SsikgError
from ssikg.settings import PROJECT_ROOT
from ssikg.validation import check_graph_write

ID = "https://w3id.org/ssikg/id/"
ORG = "http://www.w3.org/ns/org#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
TOKEN = "incremental-validation-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Violations the store already has: an orphan post, and a reification left behind by the
# removal of its stated triple (a blank-node focus); and two links of a user's own graph that
# lengthen a reporting line and a hierarchy, so that a write can close a cycle through nodes
# it does not touch.
EXISTING = join(
    f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:post-orphelin a org:Post ; skos:prefLabel \"orphelin\"@fr }} }}",
    f"DELETE DATA {{ GRAPH {STATED} {{ id:ssi-be ssikg:installedWithin id:ambassade-fr-be }} }}",
    f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:post-dg-pn org:reportsTo id:post-asi-be . "
    "id:police-nationale org:subOrganizationOf id:ssi-be } }")

WRITES = {
    "harmless note": f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:dcis skos:note \"note\"@fr }} }}",
    "touching the orphan post again": f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:post-orphelin skos:note \"n\"@fr }} }}",
    "a second orphan reification (blank nodes are counted)":
        f"DELETE DATA {{ GRAPH {STATED} {{ id:ssi-be org:hasSite id:site-ducale-65 }} }}",
    "fixing one violation while adding another": join(
        f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:post-orphelin org:postIn id:ssi-be }} }}",
        f"INSERT DATA {{ GRAPH {DERIVED} {{ id:post-dg-pn org:reportsTo id:dcis }} }}"),
    "a reporting cycle with its provenance": add_stated("id:post-dg-pn", "org:reportsTo", "id:dcis", "F34"),
    "a fact's type removed": f"DELETE DATA {{ GRAPH {PROVENANCE} {{ fact:F44 a ssikg:SourceStatement }} }}",
    "a unit's type removed (dangling posts)": "DELETE WHERE { GRAPH ?g { id:ssi-be a ?type } }",
    "a reporting cycle through an untouched post":
        f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:post-asi-be org:reportsTo id:dcis }} }}",
    "a hierarchy cycle through an untouched organisation":
        f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:ssi-be org:subOrganizationOf id:dcis }} }}",
    "one concept scheme of six untyped (the vocabularies graph is still there)":
        "DELETE DATA { GRAPH <https://w3id.org/ssikg/graph/vocabularies> { "
        "<https://w3id.org/ssikg/id/scheme/org-types> a skos:ConceptScheme } }",
}
ACCEPTED = {"harmless note", "touching the orphan post again",
            "one concept scheme of six untyped (the vocabularies graph is still there)"}


@pytest.fixture(scope="module")
def broken_store(base_quads):
    store = MemoryStore(base_quads)
    store.raw.update(PREFIXES + EXISTING)
    return store


@pytest.mark.parametrize("name", list(WRITES))
def test_both_paths_of_the_update_check_agree_on_a_store_with_violations(broken_store, name):
    incremental = checked_write_results(broken_store, WRITES[name], incremental=True)
    whole = checked_write_results(broken_store, WRITES[name], incremental=False)
    assert incremental == whole
    assert bool(whole) == (name not in ACCEPTED)  # the violations the store already had block nothing


def graph_write_results(store, graph, triples, mode, *, incremental):
    try:
        check_graph_write(store, graph, triples, mode, source_dir=PROJECT_ROOT, incremental=incremental)
    except SsikgError as refused:
        assert refused.status == 422
        return result_keys(refused.extra["report"]["results"])
    return {}


def triple(s, p, o):
    return ox.Triple(ox.NamedNode(ID + s), ox.NamedNode(p), o if isinstance(o, ox.Literal) else ox.NamedNode(ID + o))


GRAPH_WRITES = {
    "POST of a post placed nowhere": (EDITORIAL, [triple("post-x", ORG + "postIn", "nowhere")], "add"),
    "POST of a label": (EDITORIAL, [triple("dcis", SKOS + "note", ox.Literal("n", language="fr"))], "add"),
    "PUT of the editorial graph": (EDITORIAL, [triple("dcsd", SKOS + "note", ox.Literal("n", language="fr"))],
                                   "replace"),
    "DELETE of the derived graph": (DERIVED, [], "delete"),
}


@pytest.mark.parametrize("name", list(GRAPH_WRITES))
def test_both_paths_of_the_graph_store_check_agree(broken_store, name):
    graph, triples, mode = GRAPH_WRITES[name]
    graph = graph.strip("<>")
    incremental = graph_write_results(broken_store, graph, triples, mode, incremental=True)
    assert incremental == graph_write_results(broken_store, graph, triples, mode, incremental=False)
    assert bool(incremental) == (name != "POST of a label")


def test_a_write_reaching_too_much_is_validated_whole(broken_store, monkeypatch):
    """Above INCREMENTAL_MAX_CHANGES the whole would-be store is validated: same verdict."""
    update = WRITES["fixing one violation while adding another"]
    expected = checked_write_results(broken_store, update, incremental=True)
    monkeypatch.setattr(validation, "INCREMENTAL_MAX_CHANGES", 1)
    monkeypatch.setattr(validation, "_check_delta", _must_not_run)
    assert checked_write_results(broken_store, update, incremental=True) == expected


def _must_not_run(*_args, **_kwargs):
    raise AssertionError("the incremental check ran for a write above INCREMENTAL_MAX_CHANGES")


def test_validate_write_max_triples_lets_checked_writes_through_above_validate_max_triples(
        make_app, serve_app, monkeypatch):
    """An incremental check does not validate the whole store: its own limit can be lifted while
    GET /validate (and a write too broad to check incrementally) stays bound by validate_max_triples."""
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True, validate_max_triples=100,
                                validate_write_max_triples=0))
    note = (f"INSERT DATA {{ GRAPH <{EDITORIAL.strip('<>')}> {{ <{ID}dcis> <{SKOS}note> \"n\"@fr }} }}")
    assert requests.post(f"{server.url}/sparql", data={"update": note}, headers=AUTH, timeout=60).status_code == 204
    cycle = (f"INSERT DATA {{ GRAPH <{DERIVED.strip('<>')}> {{ <{ID}post-dg-pn> <{ORG}reportsTo> <{ID}dcis> }} }}")
    refused = requests.post(f"{server.url}/sparql", data={"update": cycle}, headers=AUTH, timeout=60)
    assert refused.status_code == 422, refused.text
    assert "ssikgsh:ReportingLine-noCycle" in {r["shape_name"] for r in refused.json()["report"]["results"]}
    assert requests.get(f"{server.url}/validate?format=json", timeout=60).status_code == 413
    monkeypatch.setattr(validation, "INCREMENTAL_MAX_CHANGES", 0)
    broad = requests.post(f"{server.url}/sparql", data={"update": note.replace('"n"', '"m"')}, headers=AUTH,
                          timeout=60)
    assert broad.status_code == 413 and "validate_max_triples" in broad.json()["message"]


def test_the_fact_numbering_rule_runs_only_when_a_write_adds_or_removes_a_source_statement():
    """SourceStatement-noGap reads only the view's ``a ssikg:SourceStatement`` triples: a write
    touching none gives it the same results before and after, so it is left out of both (it
    judged every fact the view held: half the check on a write touching 1,000 posts at 1e6)."""
    shapes = validation.load_shapes(validation.default_shapes_path(PROJECT_ROOT))
    switched_off = validation._idle_whole_dataset_shapes(
        {(ox.NamedNode(ID + "dcis"), ox.NamedNode(SKOS + "note"), ox.Literal("n", language="fr"))})
    assert switched_off == ["FactNumberingShape"]
    assert (validation.SSIKGSH["FactNumberingShape"], None, None) in shapes.graph  # a real shape's name
    fact_typed = (ox.NamedNode("https://w3id.org/ssikg/id/fact/F80"),
                  ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                  ox.NamedNode(validation.PREFIXES["ssikg"] + "SourceStatement"))
    assert validation._idle_whole_dataset_shapes({fact_typed}) == []


def test_a_checked_write_is_validated_in_a_child_bounded_by_validation_timeout(make_app, serve_app):
    """The check of a write runs pyshacl in the validation child: past validation_timeout the
    child is killed, the client gets a 503 saying the write was not made, and the store is
    unchanged; with time enough the same write is checked there and committed."""
    note = f"<{ID}dcis> <{SKOS}note> \"vérifiée dans un processus enfant\"@fr"
    update = f"INSERT DATA {{ GRAPH <{EDITORIAL.strip('<>')}> {{ {note} }} }}"

    def present(server) -> bool:
        return requests.get(f"{server.url}/sparql", params={"query": f"ASK {{ GRAPH ?g {{ {note} }} }}"},
                            headers={"Accept": "application/sparql-results+json"}, timeout=60).json()["boolean"]

    hurried = serve_app(make_app(update_token=TOKEN, validate_on_write=True, validation_timeout=0.001))
    stopped = requests.post(f"{hurried.url}/sparql", data={"update": update},
                            headers={**AUTH, "Accept": "application/json"}, timeout=60)
    assert stopped.status_code == 503, stopped.text
    assert "was not made" in stopped.json()["message"] and "validation_timeout" in stopped.json()["message"]
    assert not present(hurried)

    patient = serve_app(make_app(update_token=TOKEN, validate_on_write=True, validation_timeout=120))
    cycle = f"<{ID}post-dg-pn> <{ORG}reportsTo> <{ID}dcis>"
    refused = requests.post(f"{patient.url}/sparql", headers=AUTH, timeout=120,
                            data={"update": f"INSERT DATA {{ GRAPH <{DERIVED.strip('<>')}> {{ {cycle} }} }}"})
    assert refused.status_code == 422 and "ReportingLine-noCycle" in refused.text
    assert requests.post(f"{patient.url}/sparql", data={"update": update}, headers=AUTH, timeout=120).status_code == 204
    assert present(patient)


def test_a_write_too_broad_to_check_by_parts_is_bounded_by_validation_timeout_too(make_app, serve_app, monkeypatch):
    """Validated whole (here: every write is too broad), the check runs in the child as well."""
    monkeypatch.setattr(validation, "INCREMENTAL_MAX_CHANGES", 0)
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True, validation_timeout=0.001))
    note = f"INSERT DATA {{ GRAPH <{EDITORIAL.strip('<>')}> {{ <{ID}dcis> <{SKOS}note> \"large\"@fr }} }}"
    stopped = requests.post(f"{server.url}/sparql", data={"update": note},
                            headers={**AUTH, "Accept": "application/json"}, timeout=60)
    assert stopped.status_code == 503 and "was not made" in stopped.json()["message"], stopped.text

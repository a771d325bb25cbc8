"""A data-only update's changes read without copying the store (ssikg/update_delta.py).

The reference is what the check did before for every update: run it on a copy of the store and
compare.  Every data-only update below must give the same quads added and removed, and every
other update must be left to the copy without being run."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
import requests

from ssikg.errors import SsikgError
from ssikg.update_delta import data_only_delta
from ssikg.validation import check_update

ID = "https://w3id.org/ssikg/id/"
EDITORIAL = "https://w3id.org/ssikg/graph/editorial"
STATED = "https://w3id.org/ssikg/graph/stated"
SKOS = "http://www.w3.org/2004/02/skos/core#"
BASE = "https://w3id.org/ssikg/"
TOKEN = "update-delta-token"

# A label and a site the data states (the deletions below remove real quads).
DCIS_LABEL = f'<{ID}dcis> <{SKOS}prefLabel> "Direction de la coopération internationale de sécurité"@fr'
PREFIXES = f"PREFIX id: <{ID}>\nPREFIX skos: <{SKOS}>\nBASE <{BASE}>\n"

DATA_ONLY = {
    "one insert": f'INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}dcis> <{SKOS}note> "n"@fr }} }}',
    "prefixes, base and relative IRIs": PREFIXES + 'INSERT DATA { GRAPH <graph/editorial> { id:dcis skos:note "n" ; '
                                                   'skos:altLabel "DCIS"@fr , "x"@en . <id/other> a skos:Concept } }',
    "a statement the store has": f"INSERT DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }}",
    "delete a statement the store has": f"DELETE DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }}",
    "delete a statement the store lacks": f'DELETE DATA {{ GRAPH <{STATED}> {{ <{ID}dcis> <{SKOS}note> "absent" }} }}',
    "delete then put back": f"DELETE DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }} ;\n"
                            f"INSERT DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }} ;",
    "insert then delete": f'INSERT DATA {{ <{ID}x> <{SKOS}note> "1" }} ; DELETE DATA {{ <{ID}x> <{SKOS}note> "1" }} ;'
                          f' INSERT DATA {{ <{ID}x> <{SKOS}note> "2" }}',
    "a relabel": f"DELETE DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }} ; INSERT DATA {{ GRAPH <{STATED}> {{ "
                 f'<{ID}dcis> <{SKOS}prefLabel> "DCIS"@fr }} }}',
    "default and named graphs in one block": f'INSERT DATA {{ <{ID}a> <{SKOS}note> 1 . GRAPH <{EDITORIAL}> {{ '
                                             f'<{ID}a> <{SKOS}note> 2.0 }} <{ID}b> <{SKOS}note> true }}',
    "braces and semicolons inside strings and comments": (
        f'INSERT DATA {{ # a comment with }} and ;\n GRAPH <{EDITORIAL}> {{ <{ID}dcis> <{SKOS}note> "a }} ; b", '
        f'"""c\n}}""" }} }} # }}\n; DELETE DATA {{ GRAPH <{STATED}> {{ {DCIS_LABEL} }} }}'),
    "blank nodes": f'INSERT DATA {{ GRAPH <{EDITORIAL}> {{ <{ID}dcis> <{SKOS}note> [ <{SKOS}note> "x" ], _:n . '
                   f'_:n <{SKOS}note> "y" }} }} ; INSERT DATA {{ _:m <{SKOS}note> "z" }}',
    "lower case keywords": f'insert data {{ <{ID}c> <{SKOS}note> "n" }} ; Delete Data {{ {DCIS_LABEL} }}',
}

NOT_DATA_ONLY = [
    f"DELETE WHERE {{ GRAPH <{STATED}> {{ <{ID}dcis> <{SKOS}prefLabel> ?l }} }}",
    f'INSERT {{ GRAPH <{EDITORIAL}> {{ ?s <{SKOS}note> "n" }} }} WHERE {{ ?s a <{SKOS}Concept> }}',
    f"INSERT DATA {{ <{ID}a> <{SKOS}note> 1 }} ; DELETE WHERE {{ <{ID}a> <{SKOS}note> ?x }}",
    f"WITH <{EDITORIAL}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
    "LOAD <http://127.0.0.1:9/nothing.ttl>",  # left to the copy, never run here: port 9 refuses
    f"CLEAR GRAPH <{EDITORIAL}>",
    f"DROP SILENT GRAPH <{EDITORIAL}>",
    f"COPY <{EDITORIAL}> TO <{STATED}>",
    "CREATE GRAPH <http://example.org/g>",
]


@pytest.fixture(scope="module")
def store(base_quads) -> ox.Store:
    store = ox.Store()
    store.bulk_extend(base_quads)
    return store


def _by_copy(store: ox.Store, update: str) -> tuple[set, set]:
    scratch = ox.Store()
    scratch.extend(store.quads_for_pattern(None, None, None, None))
    scratch.update(update, base_iri=BASE)
    after = set(scratch.quads_for_pattern(None, None, None, None))
    before = set(store.quads_for_pattern(None, None, None, None))
    return after - before, before - after


def _shape(quads) -> list[tuple]:
    """Quads with blank nodes replaced by one placeholder (each side names them afresh)."""
    def term(t):
        return "_:b" if isinstance(t, ox.BlankNode) else t
    return sorted(tuple(str(term(t)) for t in (q.subject, q.predicate, q.object, q.graph_name)) for q in quads)


@pytest.mark.parametrize("name", DATA_ONLY)
def test_a_data_only_update_changes_what_running_it_on_a_copy_changes(store, name):
    update = DATA_ONLY[name]
    delta = data_only_delta(store, update, BASE)
    assert delta is not None, "read as data-only"
    added, removed = delta
    expected_added, expected_removed = _by_copy(store, update)
    assert _shape(added) == _shape(expected_added)
    assert _shape(removed) == _shape(expected_removed)
    assert len(added) == len(set(added)) and len(removed) == len(set(removed))


def test_the_cases_do_change_the_store(store):
    """The comparison above means something: most cases add or remove quads."""
    changing = [name for name, update in DATA_ONLY.items() if any(_by_copy(store, update))]
    assert len(changing) >= len(DATA_ONLY) - 3


@pytest.mark.parametrize("update", NOT_DATA_ONLY)
def test_any_other_update_is_left_to_the_copy_and_not_run(store, update):
    size = len(store)
    assert data_only_delta(store, update, BASE) is None
    assert len(store) == size


@pytest.mark.parametrize("update", [
    f'DELETE DATA {{ _:b <{SKOS}note> "x" }}',  # no blank nodes in DELETE DATA
    f'INSERT DATA {{ _:b <{SKOS}note> "x" }} ; INSERT DATA {{ _:b <{SKOS}note> "y" }}',  # label in two blocks
    f'INSERT DATA {{ <{ID}a> <{SKOS}note> "x" ',
])
def test_a_malformed_data_update_is_refused_as_the_commit_would_refuse_it(store, update):
    with pytest.raises(SyntaxError):
        ox.Store().update(update)  # the engine's own verdict
    with pytest.raises(SsikgError) as refused:
        check_update(_Held(store), update, BASE, incremental=True)
    assert refused.value.status == 400


class _Held:
    """The embedded store as check_update reads it (``raw``, size, version)."""

    def __init__(self, raw: ox.Store):
        self.raw, self.version = raw, "held"

    def __len__(self) -> int:
        return len(self.raw)


def test_a_checked_insert_data_is_judged_and_committed_over_http(make_app, serve_app):
    """End to end with validate_on_write: a data-only write that breaks a shape is refused with
    the store unchanged; one that keeps the shapes is committed."""
    app = make_app(validate_on_write=True, update_token=TOKEN)
    server = serve_app(app)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def ask(triple: str) -> bool:
        return requests.get(f"{server.url}/sparql", params={"query": f"ASK {{ GRAPH ?g {{ {triple} }} }}"},
                            headers={"Accept": "application/sparql-results+json"}, timeout=30).json()["boolean"]

    untagged = f'<{ID}dcis> <{SKOS}prefLabel> "DCIS sans langue"'
    refused = requests.post(f"{server.url}/sparql", data={"update": f"INSERT DATA {{ GRAPH <{EDITORIAL}> {{ "
                                                                      f"{untagged} }} }}"},
                            headers={**auth, "Accept": "application/json"}, timeout=60)
    assert refused.status_code == 422, refused.text
    assert "language tag" in refused.json()["message"]
    assert not ask(untagged)

    note = f'<{ID}dcis> <{SKOS}note> "une note"@fr'
    accepted = requests.post(f"{server.url}/sparql", data={"update": f"INSERT DATA {{ GRAPH <{EDITORIAL}> {{ "
                                                                       f"{note} }} }}"},
                             headers=auth, timeout=60)
    assert accepted.status_code in (200, 204), accepted.text
    assert ask(note)

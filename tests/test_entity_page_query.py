"""The SPARQL query an entity page offers ("the query that reproduces this page"): run
through /sparql, it answers the page's triples with the facts behind each, and leaves the
fact unbound for a triple without provenance."""

from __future__ import annotations

import requests

from ssikg import linked_data as ld

DCIS = "https://w3id.org/ssikg/id/dcis"
EDITORIAL = "https://w3id.org/ssikg/graph/editorial"


def run(live_server, query: str) -> list[dict]:
    answer = requests.post(f"{live_server.url}/sparql", data={"query": query},
                           headers={"Accept": "application/sparql-results+json"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return [{k: v["value"] for k, v in row.items()} for row in answer.json()["results"]["bindings"]]


def test_a_triple_without_provenance_is_credited_to_no_fact(live_server):
    rows = run(live_server, ld.page_query(DCIS))
    editorial = [r for r in rows if r["graph"] == EDITORIAL]
    assert editorial, "the DCIS has editorial triples (its English labels)"
    assert all("fact" not in r and "quote" not in r for r in editorial)


def test_each_credited_fact_is_the_one_its_reification_names(live_server):
    rows = run(live_server, ld.page_query(DCIS))
    triples = {(r["direction"], r["predicate"], r["value"], r["graph"]) for r in rows}
    assert len(rows) < 3 * len(triples)  # not a join of every fact with every triple
    reified = run(live_server, f"""PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?p ?o ?fact WHERE {{ GRAPH ?g {{ ?st rdf:subject <{DCIS}> ; rdf:predicate ?p ; rdf:object ?o ;
                                                prov:wasDerivedFrom ?fact }} }}""")
    named = {(r["p"], r["o"], r["fact"]) for r in reified}
    credited = {(r["predicate"], r["value"], r["fact"]) for r in rows if r["direction"] == "out" and "fact" in r}
    assert credited and credited <= named
    assert all("quote" in r for r in rows if "fact" in r)


def test_an_english_page_says_its_title_is_a_translation_and_shows_the_pages_name(live_server):
    english = requests.get(f"{live_server.url}/id/dcis.html", params={"lang": "en"}, timeout=60).text
    note = english.split('class="label-note"', 1)[1].split("</p>", 1)[0]
    assert "translated" in note and '<span lang="fr">« direction de la coopération internationale de sécurité »' in note
    # both names are in the table, each with its graph; the French one with the fact quoting it
    names = english.split("skos:prefLabel</span>", 1)[1].split("</tr>", 2)
    assert "Directorate for International Security Cooperation" in names[0] and "badge-editorial" in names[0]
    assert "direction de la coopération internationale de sécurité" in names[1] and "#fact-F32" in names[1]
    french = requests.get(f"{live_server.url}/id/dcis.html", params={"lang": "fr"}, timeout=60).text
    assert 'class="label-note"' not in french  # the French title is the page's own name

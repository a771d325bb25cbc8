"""``/query`` and ``/update``, the endpoint split as Oxigraph server splits it, so that a
client configured for Oxigraph (SPARQLWrapper, plain requests) works unchanged; and the
messages of two refusals (an empty query, LOAD from the web)."""

from __future__ import annotations

import pytest
import requests
from SPARQLWrapper import JSON, POST, SPARQLWrapper

TOKEN = "split-endpoint-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_TYPE = "application/sparql-results+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DCIS_LABEL = ("PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT ?label WHERE { "
              "<https://w3id.org/ssikg/id/dcis> skos:prefLabel ?label FILTER(lang(?label) = 'fr') }")
INSERT = 'INSERT DATA { GRAPH <http://example.org/split> { <http://example.org/a> <http://example.org/b> "c" } }'
ASK_INSERTED = "ASK { GRAPH <http://example.org/split> { ?s ?p ?o } }"


@pytest.fixture
def writable(make_app, serve_app):
    return serve_app(make_app(update_token=TOKEN))


def media(response) -> str:
    return response.headers["Content-Type"].split(";")[0].strip()


def test_sparqlwrapper_configured_for_oxigraph_queries_slash_query(live_server):
    client = SPARQLWrapper(f"{live_server.url}/query")
    client.setQuery(DCIS_LABEL)
    client.setReturnFormat(JSON)
    rows = client.queryAndConvert()["results"]["bindings"]
    assert [row["label"]["value"] for row in rows] == ["direction de la coopération internationale de sécurité"]
    client.setMethod(POST)  # a form POST
    assert client.queryAndConvert()["results"]["bindings"] == rows


def test_slash_query_answers_as_sparql_does_and_browsers_keep_the_ui(live_server):
    url = f"{live_server.url}/query"
    answer = requests.get(url, params={"query": DCIS_LABEL}, headers={"Accept": JSON_TYPE}, timeout=30)
    same = requests.get(f"{live_server.url}/sparql", params={"query": DCIS_LABEL},
                        headers={"Accept": JSON_TYPE}, timeout=30)
    assert answer.status_code == 200 and media(answer) == JSON_TYPE
    assert answer.json() == same.json() and answer.headers["ETag"] == same.headers["ETag"]
    direct = requests.post(url, data=DCIS_LABEL.encode(), timeout=30, headers={
        "Content-Type": "application/sparql-query", "Accept": "text/csv"})
    assert direct.status_code == 200 and media(direct) == "text/csv"
    assert "direction de la coopération" in direct.text
    page = requests.get(url, params={"query": DCIS_LABEL}, headers={"Accept": BROWSER}, timeout=30)
    assert media(page) == "text/html" and 'id="plain-form"' in page.text  # the UI, the query in it
    assert "Accept" in page.headers["Vary"]
    assert 'id="plain-form"' in requests.get(url, headers={"Accept": JSON_TYPE}, timeout=30).text
    malformed = requests.get(url, params={"query": "SELECT"}, headers={"Accept": JSON_TYPE}, timeout=30)
    assert malformed.status_code == 400 and "malformed query" in malformed.json()["message"]


def test_slash_query_refuses_an_update(writable):
    r = requests.post(f"{writable.url}/query", data={"update": INSERT}, headers=AUTH, timeout=30)
    assert r.status_code == 400 and "/update" in r.json()["message"]
    assert requests.get(f"{writable.url}/sparql", params={"query": ASK_INSERTED},
                        timeout=30).json()["boolean"] is False


def test_slash_update_runs_updates_with_the_token(writable):
    url = f"{writable.url}/update"
    refused = requests.post(url, data=INSERT.encode(), timeout=30,
                            headers={"Content-Type": "application/sparql-update"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    client = SPARQLWrapper(f"{writable.url}/query", updateEndpoint=url)
    client.setMethod(POST)
    client.addCustomHttpHeader("Authorization", AUTH["Authorization"])
    client.setQuery(INSERT)
    assert client.query().response.status == 204
    assert requests.get(f"{writable.url}/query", params={"query": ASK_INSERTED},
                        headers={"Accept": JSON_TYPE}, timeout=30).json()["boolean"] is True
    query = requests.post(url, data={"query": ASK_INSERTED}, headers=AUTH, timeout=30)
    assert query.status_code == 400 and "/query" in query.json()["message"]
    assert requests.get(url, timeout=30).status_code == 405


def test_slash_update_is_read_only_without_a_token(live_server):
    r = requests.post(f"{live_server.url}/update", data={"update": INSERT}, headers=AUTH, timeout=30)
    assert r.status_code in (401, 403) and r.json()["message"]


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_an_empty_query_says_so(live_server, text):
    r = requests.get(f"{live_server.url}/sparql", params={"query": text},
                     headers={"Accept": JSON_TYPE}, timeout=30)
    assert r.status_code == 400 and r.json()["message"] == "the query is empty"


def test_load_from_the_web_is_refused_in_good_grammar(writable):
    r = requests.post(f"{writable.url}/update", data={"update": "LOAD <http://example.org/data.ttl>"},
                      headers=AUTH, timeout=30)
    assert r.status_code == 403 and "LOAD from the web is disabled" in r.json()["message"]

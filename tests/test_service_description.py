"""The Service Description served on GET /sparql without a query: parsed with
rdflib in every offered syntax, ``sd:endpoint`` equal to the URL requested,
the default dataset and its VoID statistics checked against the store."""

from __future__ import annotations

import pytest
import requests
from rdflib import Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import RDF

from ssikg import service_description

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")


def fetch(url, accept="text/turtle", fmt="turtle", **headers) -> Graph:
    r = requests.get(url, headers={"Accept": accept, **headers}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == accept
    assert "Accept" in r.headers["Vary"]
    return Graph().parse(data=r.content, format=fmt)


@pytest.fixture(scope="module")
def description(live_server) -> Graph:
    return fetch(f"{live_server.url}/sparql")


def service(graph: Graph) -> URIRef:
    services = list(graph.subjects(RDF.type, SD.Service))
    assert len(services) == 1
    return services[0]


def test_endpoint_is_the_url_requested(live_server, description):
    endpoint = f"{live_server.url}/sparql"
    assert description.value(service(description), SD.endpoint) == URIRef(endpoint)
    # behind another name (a proxy, a DNS alias) the description follows the request
    other = fetch(f"{live_server.url}/sparql", Host="sparql.example.org:8443")
    assert other.value(service(other), SD.endpoint) == URIRef("http://sparql.example.org:8443/sparql")


@pytest.mark.parametrize("accept,fmt", [("application/ld+json", "json-ld"),
                                        ("application/rdf+xml", "xml"),
                                        ("application/n-triples", "nt")])
def test_every_syntax_says_the_same(live_server, description, accept, fmt):
    assert isomorphic(fetch(f"{live_server.url}/sparql", accept, fmt), description)


def test_languages_formats_and_features(description):
    node = service(description)
    assert set(description.objects(node, SD.supportedLanguage)) == {SD.SPARQL11Query}  # read-only
    formats = {str(o) for o in description.objects(node, SD.resultFormat)}
    for name in ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV",
                 "SPARQL_Results_TSV", "Turtle", "N-Triples", "N-Quads", "TriG", "JSON-LD", "RDF_XML"):
        assert f"http://www.w3.org/ns/formats/{name}" in formats
    features = set(description.objects(node, SD.feature))
    assert SD.UnionDefaultGraph in features
    assert SD.BasicFederatedQuery not in features


def test_default_dataset_matches_the_store(live_server, shared_app, description):
    store = shared_app.extensions["ssikg.store"]
    dataset = description.value(service(description), SD.defaultDataset)
    default_graph = description.value(dataset, SD.defaultGraph)
    assert "union" in str(description.value(default_graph, URIRef("http://purl.org/dc/terms/description"))).lower()
    triples = int(description.value(default_graph, VOID.triples))
    distinct = requests.get(f"{live_server.url}/sparql", params={
        "query": "SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"}, timeout=60)
    assert triples == int(distinct.json()["results"]["bindings"][0]["n"]["value"]) > 0
    for prop in (VOID.entities, VOID.classes, VOID.properties):
        assert int(description.value(default_graph, prop)) > 0
    sizes = {}
    for named in description.objects(dataset, SD.namedGraph):
        name = str(description.value(named, SD.name))
        sizes[name] = int(description.value(description.value(named, SD.graph), VOID.triples))
    assert set(sizes) == set(store.named_graphs())
    for name, size in sizes.items():
        assert size == sum(1 for _ in store.quads(name)), name
    assert "https://w3id.org/ssikg/graph/stated" in sizes


def test_statistics_are_cached_per_store_version(make_app):
    app = make_app(update_token="t")
    store = app.extensions["ssikg.store"]
    with app.app_context():  # the statistics are memoised per app
        first = service_description.statistics(store)
        assert service_description.statistics(store) is first  # same version: not recomputed
    client = app.test_client()
    r = client.post("/sparql", data={"update": "INSERT DATA { GRAPH <http://example.org/new> "
                                     "{ <http://example.org/a> <http://example.org/b> 1 } }"},
                    headers={"Authorization": "Bearer t"})
    assert r.status_code == 204
    with app.app_context():
        second = service_description.statistics(store)
    assert second is not first
    assert ("http://example.org/new", 1) in second.graphs
    # with a token the description also offers SPARQL Update and input formats
    graph = Graph().parse(data=client.get("/sparql", headers={"Accept": "text/turtle"}).data,
                          format="turtle")
    node = service(graph)
    assert SD.SPARQL11Update in set(graph.objects(node, SD.supportedLanguage))
    assert set(graph.objects(node, SD.inputFormat))


def test_browser_gets_the_query_ui(live_server):
    r = requests.get(f"{live_server.url}/sparql", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<form" in r.text and 'name="query"' in r.text


def test_wildcard_gets_the_description_not_the_ui(live_server):
    for accept in ("*/*", "text/*", ""):
        r = requests.get(f"{live_server.url}/sparql", headers={"Accept": accept}, timeout=30)
        assert r.headers["Content-Type"].startswith("text/turtle"), accept
    r = requests.get(f"{live_server.url}/sparql", headers={"Accept": "text/turtle, text/html;q=0.5"},
                     timeout=30)
    assert r.headers["Content-Type"].startswith("text/turtle")


@pytest.mark.parametrize("value,media", [
    ("ttl", "text/turtle"), ("jsonld", "application/ld+json"), ("rdf", "application/rdf+xml"),
    ("nt", "application/n-triples"), ("application/ld+json", "application/ld+json"), ("html", "text/html"),
])
def test_the_format_parameter_chooses_as_for_answers(live_server, value, media):
    r = requests.get(f"{live_server.url}/sparql", params={"format": value}, timeout=30,
                     headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(media)


def test_an_unknown_format_for_the_description_is_400(live_server):
    r = requests.get(f"{live_server.url}/sparql", params={"format": "bogus"}, timeout=30)
    assert r.status_code == 400 and r.json()["parameter"] == "format"


def test_unacceptable_description_is_406(live_server):
    r = requests.get(f"{live_server.url}/sparql", headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 406 and "text/turtle" in r.json()["offered"]


def test_description_is_conditional(live_server):
    r = requests.get(f"{live_server.url}/sparql", headers={"Accept": "text/turtle"}, timeout=30)
    again = requests.get(f"{live_server.url}/sparql", headers={
        "Accept": "text/turtle", "If-None-Match": r.headers["ETag"]}, timeout=30)
    assert again.status_code == 304


def test_stored_queries_are_listed(live_server, description):
    listed = {str(o) for o in description.objects(None, URIRef("http://purl.org/dc/terms/hasPart"))}
    assert f"{live_server.url}/queries/cq05-who-assists-the-asi" in listed
    api = requests.get(f"{live_server.url}/api/queries", timeout=10).json()
    names = [entry["name"] for entry in (api["queries"] if isinstance(api, dict) else api)]
    assert len(listed) == len(names) >= 40
    see_also = set(description.objects(None, URIRef("http://www.w3.org/2000/01/rdf-schema#seeAlso")))
    assert URIRef(f"{live_server.url}/api/openapi.json") in see_also


def test_federation_is_claimed_only_when_an_allowlist_enables_it(make_app):
    def features(app) -> set:
        data = app.test_client().get("/sparql", headers={"Accept": "text/turtle"}).data
        graph = Graph().parse(data=data, format="turtle")
        return set(graph.objects(service(graph), SD.feature))

    assert SD.BasicFederatedQuery not in features(make_app())
    assert SD.BasicFederatedQuery in features(make_app(service_allowlist="https://query.example.org/"))


# ---------------------------------------------------------------------------
# /.well-known/void (VoID §7)

FOAF = Namespace("http://xmlns.com/foaf/0.1/")


@pytest.fixture(scope="module")
def void(live_server) -> Graph:
    return fetch(f"{live_server.url}/.well-known/void")


def void_dataset(graph: Graph, live_server) -> URIRef:
    document = URIRef(f"{live_server.url}/.well-known/void")
    assert (document, RDF.type, VOID.DatasetDescription) in graph
    dataset = graph.value(document, FOAF.primaryTopic)
    assert (dataset, RDF.type, VOID.Dataset) in graph
    return dataset


def test_the_void_description_points_at_the_endpoint_the_dump_and_the_iri_space(live_server, void):
    dataset = void_dataset(void, live_server)
    endpoint = void.value(dataset, VOID.sparqlEndpoint)
    assert endpoint == URIRef(f"{live_server.url}/sparql")
    assert (URIRef(endpoint), SD.endpoint, endpoint) in fetch(str(endpoint))  # it is the endpoint
    assert str(void.value(dataset, VOID.uriSpace)) == "https://w3id.org/ssikg/"
    dump = requests.get(str(void.value(dataset, VOID.dataDump)), headers={"Accept": "application/n-quads"},
                        timeout=60)
    assert dump.status_code == 200 and dump.headers["Content-Type"].startswith("application/n-quads")
    assert len(dump.content.splitlines()) >= int(void.value(dataset, VOID.triples))
    for example in void.objects(dataset, VOID.exampleResource):
        assert str(example).startswith("https://w3id.org/ssikg/id/")
        slug = str(example).removeprefix("https://w3id.org/ssikg/id/")
        assert requests.get(f"{live_server.url}/id/{slug}", headers={"Accept": "text/turtle"},
                            allow_redirects=False, timeout=60).status_code == 303
    assert len(list(void.objects(dataset, VOID.exampleResource))) == 3
    assert URIRef("http://www.w3.org/ns/org#") in set(void.objects(dataset, VOID.vocabulary))


def test_each_named_graph_is_a_subset_with_the_stores_count(live_server, void):
    dataset = void_dataset(void, live_server)
    subsets = {void.value(s, SD.name): s for s in void.objects(dataset, VOID.subset)}
    assert URIRef("https://w3id.org/ssikg/graph/stated") in subsets
    for name, subset in subsets.items():
        answer = requests.get(f"{live_server.url}/sparql", params={
            "query": f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{name}> {{ ?s ?p ?o }} }}"},
            headers={"Accept": "application/sparql-results+json"}, timeout=60).json()
        assert int(void.value(subset, VOID.triples)) == int(answer["results"]["bindings"][0]["n"]["value"])
        page = void.value(subset, FOAF.page)
        assert requests.get(str(page), headers={"Accept": "text/turtle"}, timeout=60).status_code == 200


def test_the_void_description_negotiates_and_revalidates(live_server):
    url = f"{live_server.url}/.well-known/void"
    as_jsonld = fetch(url, accept="application/ld+json", fmt="json-ld")
    assert isomorphic(as_jsonld, fetch(url))
    first = requests.get(url, params={"format": "nt"}, timeout=60)
    assert first.headers["Content-Type"].startswith("application/n-triples")
    again = requests.get(url, params={"format": "nt"}, headers={"If-None-Match": first.headers["ETag"]}, timeout=60)
    assert again.status_code == 304
    refused = requests.get(url, headers={"Accept": "image/png"}, timeout=60)
    assert refused.status_code == 406 and "text/turtle" in refused.json()["offered"]
    unknown = requests.get(url, params={"format": "png"}, timeout=60)
    assert unknown.status_code == 400 and "format" in unknown.json()["message"]


def test_the_void_vocabularies_are_those_the_data_uses(live_server, void):
    dataset = void_dataset(void, live_server)
    listed = {str(v) for v in void.objects(dataset, VOID.vocabulary)}
    answer = requests.get(f"{live_server.url}/sparql", params={"query": """
        SELECT DISTINCT ?term WHERE {
          GRAPH ?g { { ?s ?term ?o } UNION { ?s a ?term } }
          FILTER(?g != <https://w3id.org/ssikg/graph/ontology> && isIRI(?term)) }"""},
        headers={"Accept": "application/sparql-results+json"}, timeout=60).json()
    terms = [row["term"]["value"] for row in answer["results"]["bindings"]]
    core = ("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://www.w3.org/2000/01/rdf-schema#",
            "http://www.w3.org/2002/07/owl#", "http://www.w3.org/2001/XMLSchema#")
    used = {next(v for v in listed if t.startswith(v)) if any(t.startswith(v) for v in listed) else t
            for t in terms if not t.startswith(core) and not t.startswith("https://w3id.org/ssikg/id/")}
    assert used == listed  # every term's vocabulary is listed, and every listed one is used


def test_the_void_formats_are_those_each_resource_serves(live_server, void):
    dataset = void_dataset(void, live_server)
    media = {"N-Quads": "application/n-quads", "TriG": "application/trig", "Turtle": "text/turtle",
             "N-Triples": "application/n-triples", "JSON-LD": "application/ld+json", "RDF_XML": "application/rdf+xml"}
    dump = str(void.value(dataset, VOID.dataDump))
    features = [str(f).rsplit("/", 1)[1] for f in void.objects(dataset, VOID.feature)]
    assert sorted(features) == ["N-Quads", "TriG"]
    for name in features:
        assert requests.get(dump, headers={"Accept": media[name]}, timeout=60).status_code == 200
    subset = next(void.objects(dataset, VOID.subset))
    page = str(void.value(subset, FOAF.page))
    for feature in void.objects(subset, VOID.feature):
        answer = requests.get(page, headers={"Accept": media[str(feature).rsplit("/", 1)[1]]}, timeout=60)
        assert answer.status_code == 200, feature
    as_json = requests.get(f"{live_server.url}/.well-known/void", params={"format": "json"}, timeout=60)
    assert as_json.status_code == 200 and as_json.headers["Content-Type"].startswith("application/ld+json")

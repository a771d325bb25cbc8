"""ssikg over a remote SPARQL engine: a real ``oxigraph serve`` process on loopback,
loaded by ``ssikg build --backend``, answering through :class:`RemoteStore` and
through the whole app the same as the embedded store does.

Also: unreachable, silent and failing engines give 502/504 with a message
(bounded waits, never a hang), and the query-text helpers (VALUES injection,
dataset detection) are not fooled by strings, IRIs or comments.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import LiveServer, free_port, run_cli
from sparql_engines import OXIGRAPH, OxigraphServer, answer, norm

from ssikg.app import create_app
from ssikg.errors import SsikgError
from ssikg.namespaces import GRAPH, ID, STATED_GRAPH
from ssikg.remote_store import (
    RemoteConfig,
    RemoteStore,
    inject_values,
    query_form,
)
from ssikg.settings import PROJECT_ROOT
from ssikg.store import declares_dataset

pytestmark = pytest.mark.timeout(300)
TOKEN = "remote-write-token"
ORG = "http://www.w3.org/ns/org#"


@pytest.fixture(scope="module", autouse=True)
def _oxigraph_cli():
    from conftest import require_tool

    require_tool(OXIGRAPH is not None, "oxigraph CLI (PyPI package oxigraph)")


def publish(engine: OxigraphServer, *extra: str, source_dir: Path | None = None):
    env = {"SSIKG_SOURCE_DIR": str(source_dir)} if source_dir else None
    return run_cli("build", "--backend", engine.query_url, *extra, env=env)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An empty ``oxigraph serve``, then loaded by ``ssikg build --backend`` (Graph Store PUTs)."""
    with OxigraphServer(tmp_path_factory.mktemp("oxigraph") / "db") as server:
        server.published = publish(server, "--store-url", server.store_url)
        yield server


@pytest.fixture(scope="module")
def remote(engine):
    store = RemoteStore(RemoteConfig(engine.query_url))
    yield store
    store.close()


@pytest.fixture(scope="module")
def remote_server(engine, tmp_path_factory):
    """The whole app over the engine (read-only backend: no update URL), on loopback."""
    app = create_app({"backend": engine.query_url, "auto_build": False,
                      "store": tmp_path_factory.mktemp("unused") / "store"})
    with LiveServer(app) as server:
        yield server
    app.extensions["ssikg.store"].close()


@pytest.fixture
def private_engine(tmp_path):
    with OxigraphServer(tmp_path / "db") as server:
        yield server


# ---------------------------------------------------------------------------
# Comparing answers (blank node labels differ between engines; nothing else may)




def rdf_document(response: requests.Response) -> list[str]:
    """The triples of an RDF answer, blank nodes blurred (isomorphism checks are too slow here)."""
    assert response.status_code == 200, response.text
    media_type = response.headers["Content-Type"].split(";")[0]
    triples = ox.parse(response.content, ox.RdfFormat.from_media_type(media_type))
    return sorted(" ".join(norm(t) for t in (x.subject, x.predicate, x.object)) for x in triples)


def graph_sizes(store) -> dict[str, int]:
    rows = store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
    return {row["g"].value: int(row["n"].value) for row in rows}


def some_entity(store) -> ox.NamedNode:
    rows = store.query(f"SELECT ?s WHERE {{ GRAPH <{STATED_GRAPH}> {{ ?s a ?t }} "
                       f"FILTER(STRSTARTS(STR(?s), '{ID}')) }} ORDER BY ?s LIMIT 1")
    return next(iter(rows))["s"]


# ---------------------------------------------------------------------------
# ssikg build --backend


def test_build_backend_publishes_every_graph_with_progress(engine, remote, embedded):
    result = engine.published
    assert result.returncode == 0, result.stderr
    sizes = graph_sizes(embedded)
    assert sizes and graph_sizes(remote) == sizes
    for graph in sizes:
        assert f"published <{graph}>" in result.stderr
    graphs = len(embedded.named_graphs())  # with those the build creates empty (graph/external)
    assert f"[{graphs}/{graphs}]" in result.stderr
    assert remote.named_graphs() == embedded.named_graphs()
    assert len(remote) == len(embedded)


def test_build_backend_by_sparql_update_is_repeatable(private_engine, embedded):
    for _ in range(2):  # publishing twice replaces each graph, it does not duplicate it
        result = publish(private_engine, "--update-url", private_engine.update_url)
        assert result.returncode == 0, result.stderr
        store = RemoteStore(RemoteConfig(private_engine.query_url))
        assert graph_sizes(store) == graph_sizes(embedded)
        assert answer(store.query("CONSTRUCT WHERE { ?s ?p ?o }")) == \
            answer(embedded.query("CONSTRUCT WHERE { ?s ?p ?o }"))


def test_build_backend_drops_stale_ssikg_graphs_and_keeps_foreign_ones(private_engine, embedded):
    store = RemoteStore(RemoteConfig(private_engine.query_url, store_url=private_engine.store_url))
    stale, foreign = GRAPH + "withdrawn", "http://example.org/someone-elses-graph"
    triple = [ox.Triple(ox.NamedNode("http://example.org/s"), ox.NamedNode("http://example.org/p"),
                        ox.Literal("kept"))]
    store.replace_graph(stale, triple)
    store.replace_graph(foreign, triple)
    store.add_triples(STATED_GRAPH, triple)  # an edit made on the engine, overwritten by the sources
    result = publish(private_engine, "--store-url", private_engine.store_url)
    assert result.returncode == 0, result.stderr
    assert f"dropped <{stale}>" in result.stderr
    graphs = store.named_graphs()
    assert stale not in graphs and foreign in graphs
    sizes = graph_sizes(store)
    del sizes[foreign]
    assert sizes == graph_sizes(embedded)


def test_build_backend_with_a_broken_source_changes_nothing(private_engine, tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(PROJECT_ROOT / "ontology", sources / "ontology")
    shutil.copytree(PROJECT_ROOT / "data", sources / "data")
    assert publish(private_engine, "--store-url", private_engine.store_url,
                   source_dir=sources).returncode == 0
    store = RemoteStore(RemoteConfig(private_engine.query_url))
    before = graph_sizes(store)
    (sources / "data" / "zz-broken.trig").write_text(f"GRAPH <{STATED_GRAPH}> {{ <a> <b> \n")
    result = publish(private_engine, "--store-url", private_engine.store_url, source_dir=sources)
    assert result.returncode == 1
    assert "zz-broken.trig" in result.stderr and "Traceback" not in result.stderr
    assert graph_sizes(store) == before


def test_build_backend_needs_a_write_url(private_engine):
    result = publish(private_engine)
    assert result.returncode == 1
    assert "update URL or Graph Store URL" in result.stderr and "Traceback" not in result.stderr


def test_build_backend_reports_an_unreachable_engine():
    port = free_port()
    result = run_cli("build", "--backend", f"http://127.0.0.1:{port}/query",
                     "--store-url", f"http://127.0.0.1:{port}/store", timeout=60)
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------
# The store interface answers like the embedded store


QUERIES = [
    "SELECT ?s ?t WHERE { ?s a ?t }",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
    f"SELECT ?s ?l WHERE {{ GRAPH <{STATED_GRAPH}> {{ ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }} }}",
    f"SELECT ?unit ?parent WHERE {{ ?unit <{ORG}subOrganizationOf>+ ?parent }}",
    "SELECT ?s WHERE { ?s ?p ?o FILTER(isBlank(?s)) } LIMIT 5",
    "ASK { ?s ?p ?o }",
    "ASK { <http://example.org/nothing> ?p ?o }",
    "CONSTRUCT WHERE { ?s a ?t }",
    f"DESCRIBE <{GRAPH}stated>",
    "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 3 OFFSET 2",
]


@pytest.mark.parametrize("sparql", QUERIES)
def test_queries_answer_like_the_embedded_store(remote, embedded, sparql):
    assert answer(remote.query(sparql)) == answer(embedded.query(sparql))


def test_result_kinds_are_pyoxigraph_objects(remote):
    assert isinstance(remote.query("SELECT * WHERE { ?s ?p ?o } LIMIT 1"), ox.QuerySolutions)
    assert isinstance(remote.query("ASK {}"), ox.QueryBoolean)
    assert isinstance(remote.query("CONSTRUCT WHERE { ?s a ?t }"), ox.QueryTriples)
    assert isinstance(remote.query(f"DESCRIBE <{GRAPH}stated>"), ox.QueryTriples)


def test_explicit_datasets_match(remote, embedded):
    sparql = "SELECT ?s ?g WHERE { { ?s a ?t } UNION { GRAPH ?g { ?s a ?t } } }"
    for defaults, names in (([STATED_GRAPH], None), ([STATED_GRAPH], [GRAPH + "ontology"]),
                            ([GRAPH + "ontology", STATED_GRAPH], [])):
        assert answer(remote.query(sparql, default_graphs=defaults, named_graphs=names)) == \
            answer(embedded.query(sparql, default_graphs=defaults, named_graphs=names))


def test_base_iri_resolves_relative_iris(remote, embedded):
    sparql = "SELECT ?s WHERE { ?s a ?t FILTER(?s = <id/dcis>) }"
    assert answer(remote.query(sparql, base_iri="https://w3id.org/ssikg/")) == \
        answer(embedded.query(sparql, base_iri="https://w3id.org/ssikg/"))


def test_substitutions_bind_like_the_embedded_store(remote, embedded):
    entity = some_entity(embedded)
    label = next(iter(embedded.query(
        f"SELECT ?l WHERE {{ <{entity.value}> <http://www.w3.org/2000/01/rdf-schema#label> ?l }} LIMIT 1")),
        None)
    cases = [("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", {"s": entity}),
             ("SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?p LIMIT 3", {ox.Variable("s"): entity})]
    if label is not None:
        cases.append(("SELECT ?s ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }",
                      {"l": label["l"]}))
    for sparql, bindings in cases:
        expected = answer(embedded.query(sparql, substitutions=bindings))
        assert expected, sparql
        assert answer(remote.query(sparql, substitutions=bindings)) == expected


def test_substitutions_cover_every_query_form(remote, embedded):
    entity = some_entity(embedded)
    bound = {"s": entity}
    direct = answer(embedded.query(f"CONSTRUCT {{ <{entity.value}> ?p ?o }} WHERE {{ <{entity.value}> ?p ?o }}"))
    assert answer(remote.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", substitutions=bound)) == direct
    assert answer(remote.query("CONSTRUCT WHERE { ?s ?p ?o }", substitutions=bound)) == direct
    assert remote.query("ASK { ?s ?p ?o }", substitutions=bound)
    assert not remote.query("ASK { ?s ?p ?o }", substitutions={"s": ox.NamedNode("http://example.org/none")})
    described = answer(remote.query("DESCRIBE ?s", substitutions=bound))
    assert described == answer(embedded.query(f"DESCRIBE <{entity.value}>"))


def test_a_hostile_literal_stays_one_term(remote):
    hostile = ox.Literal('x" } } ; DROP ALL ; SELECT * { ?s ?p "')
    assert list(remote.query("SELECT ?s WHERE { ?s ?p ?o }", substitutions={"o": hostile})) == []
    assert len(remote) > 0


def test_quads_and_graph_reads_match(remote, embedded):
    def key(quads):
        return sorted((norm(q.subject), norm(q.predicate), norm(q.object), norm(q.graph_name)) for q in quads)

    assert key(remote.quads()) == key(embedded.quads())
    assert key(remote.quads(STATED_GRAPH)) == key(embedded.quads(STATED_GRAPH))


def test_version_is_stable_and_changes_with_writes(private_engine):
    store = RemoteStore(RemoteConfig(private_engine.query_url, store_url=private_engine.store_url))
    first = store.version
    assert store.version == first
    store.add_triples(GRAPH + "scratch", [ox.Triple(ox.NamedNode("http://example.org/a"),
                                                   ox.NamedNode("http://example.org/b"), ox.Literal("c"))])
    assert store.version != first
    assert GRAPH + "scratch" in store.named_graphs()


def test_engine_syntax_errors_raise_syntax_error(remote):
    with pytest.raises(SyntaxError, match="error at 1:"):
        remote.query("SELECT ?s WHERE { ?s ?p }")


def test_read_only_backend_refuses_updates(remote):
    from ssikg.store import StoreError

    assert not remote.writable
    with pytest.raises(StoreError, match="read-only"):
        remote.update("INSERT DATA { <http://example.org/a> <http://example.org/b> 1 }")


# ---------------------------------------------------------------------------
# Query text helpers


def test_inject_values_finds_the_where_group_past_strings_iris_and_comments():
    bound = {"x": ox.NamedNode("http://example.org/x")}
    text = ('PREFIX ex: <http://example.org/WHERE/>\n'
            '# WHERE { in a comment\n'
            'SELECT (CONCAT("WHERE {", STR(?x)) AS ?label) ?x WHERE { ?x ex:p "}" } ORDER BY ?x')
    rewritten = inject_values(text, bound)
    assert 'WHERE { VALUES (?x) { (<http://example.org/x>) }\n ?x ex:p "}" }' in rewritten
    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode("http://example.org/x"), ox.NamedNode("http://example.org/WHERE/p"), ox.Literal("}")))
    store.add(ox.Quad(ox.NamedNode("http://example.org/y"), ox.NamedNode("http://example.org/WHERE/p"), ox.Literal("}")))
    assert [row["x"].value for row in store.query(rewritten)] == ["http://example.org/x"]


def test_inject_values_handles_construct_templates_and_short_forms():
    bound = {"s": ox.NamedNode("http://example.org/s")}
    template = inject_values("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", bound)
    assert template.startswith("CONSTRUCT { ?s ?p ?o } WHERE { VALUES (?s)")
    short = inject_values("CONSTRUCT WHERE { ?s ?p ?o }", bound)
    assert short.startswith("CONSTRUCT { ?s ?p ?o }") and "VALUES (?s)" in short
    assert inject_values("DESCRIBE ?s", bound).endswith("WHERE { VALUES (?s) { (<http://example.org/s>) } }")
    for text in (template, short):
        ox.Store().query(text)  # well-formed SPARQL


def test_inject_values_refuses_blank_nodes_and_non_queries():
    with pytest.raises(ValueError, match="only IRIs and literals"):
        inject_values("SELECT * WHERE { ?s ?p ?o }", {"s": ox.BlankNode()})
    with pytest.raises(SyntaxError):
        inject_values("INSERT DATA { <a> <b> <c> }", {"s": ox.NamedNode("http://example.org/s")})


def test_dataset_clause_and_query_form_detection():
    assert declares_dataset("SELECT * FROM <http://g> WHERE { ?s ?p ?o }")
    assert declares_dataset("select * from named <http://g> { graph ?g { ?s ?p ?o } }")
    assert not declares_dataset('SELECT * WHERE { ?s ?p "FROM" } # FROM <x>')
    assert not declares_dataset("PREFIX from: <http://from/> SELECT * WHERE { ?s from:p ?o }")
    assert query_form("PREFIX s: <http://select/> CONSTRUCT { ?s ?p ?o } WHERE { { SELECT * { ?s ?p ?o } } }") \
        == "CONSTRUCT"
    assert query_form("# SELECT\nASK {}") == "ASK"


def test_a_query_with_its_own_dataset_is_sent_as_written(remote, embedded):
    sparql = f"SELECT (COUNT(*) AS ?n) FROM <{STATED_GRAPH}> WHERE {{ ?s ?p ?o }}"
    assert answer(remote.query(sparql)) == answer(embedded.query(
        "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", default_graphs=[STATED_GRAPH]))


# ---------------------------------------------------------------------------
# The app over the engine: same pages and answers as the embedded app


def get(server, path, accept="application/json", **params):
    return requests.get(server.url + path, params=params, headers={"Accept": accept}, timeout=60,
                        allow_redirects=False)


def sparql_json(server, query):
    response = get(server, "/sparql", "application/sparql-results+json", query=query)
    assert response.status_code == 200, response.text
    body = response.json()
    if "boolean" in body:
        return body["boolean"]

    def cell(term):
        return ("_:b", None, None) if term["type"] == "bnode" else \
            (term["value"], term.get("datatype"), term.get("xml:lang"))

    return sorted(tuple(sorted((k, cell(v)) for k, v in row.items())) for row in body["results"]["bindings"])


@pytest.mark.parametrize("sparql", [q for q in QUERIES if query_form(q) in ("SELECT", "ASK")])
def test_sparql_endpoint_answers_like_embedded(remote_server, live_server, sparql):
    assert sparql_json(remote_server, sparql) == sparql_json(live_server, sparql)


@pytest.mark.parametrize("accept", ["text/turtle", "application/n-triples", "application/ld+json"])
def test_sparql_endpoint_graph_results_match(remote_server, live_server, accept):
    query = "CONSTRUCT WHERE { ?s a ?t }"
    answers = [rdf_document(get(server, "/sparql", accept, query=query)) for server in (remote_server, live_server)]
    assert answers[0] and answers[0] == answers[1]


def test_health_reports_the_remote_store(remote_server, embedded):
    response = get(remote_server, "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["store_kind"] == "remote" and body["triples"] == len(embedded)


def test_entity_pages_match(remote_server, live_server, embedded):
    slug = some_entity(embedded).value[len(ID):]
    redirect = get(remote_server, f"/id/{slug}", "text/html")
    assert redirect.status_code == 303
    assert redirect.headers["Location"] == get(live_server, f"/id/{slug}", "text/html").headers["Location"]
    for suffix in ("ttl", "nt", "jsonld", "rdf"):
        graphs = [rdf_document(get(server, f"/id/{slug}.{suffix}", "*/*")) for server in (remote_server, live_server)]
        assert graphs[0] and graphs[0] == graphs[1]
    html = [get(server, f"/id/{slug}.html", "text/html") for server in (remote_server, live_server)]
    assert html[0].status_code == html[1].status_code == 200
    assert html[0].text == html[1].text
    assert get(remote_server, "/id/no-such-thing-here", "text/html").status_code == 404


@pytest.mark.parametrize("path", ["/", "/org-chart", "/org-chart.svg", "/query"])
def test_pages_match(remote_server, live_server, path):
    pages = [get(server, path, "text/html") for server in (remote_server, live_server)]
    assert pages[0].status_code == pages[1].status_code == 200
    assert pages[0].text == pages[1].text


@pytest.mark.parametrize("path", ["/ontology", "/graph/stated", "/graph/provenance"])
def test_rdf_documents_match(remote_server, live_server, path):
    graphs = [rdf_document(get(server, path, "text/turtle")) for server in (remote_server, live_server)]
    assert graphs[0] and graphs[0] == graphs[1]


def test_graph_store_reads_match(remote_server, live_server):
    graphs = [rdf_document(get(server, "/store", "application/n-triples", graph=STATED_GRAPH))
              for server in (remote_server, live_server)]
    assert graphs[0] and graphs[0] == graphs[1]


def test_writes_through_the_app_reach_the_engine(private_engine, tmp_path):
    app = create_app({**private_engine.overrides(), "update_token": TOKEN, "auto_build": False,
                      "store": tmp_path / "unused"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    graph = "http://example.org/written-through-ssikg"
    with LiveServer(app) as server:
        response = requests.post(f"{server.url}/sparql", timeout=60, headers=auth, data={
            "update": f'INSERT DATA {{ GRAPH <{graph}> {{ <http://example.org/a> <http://example.org/b> "é"@fr }} }}'})
        assert response.status_code == 204, response.text
        response = requests.put(f"{server.url}/store", params={"graph": graph + "/2"}, timeout=60,
                                headers={**auth, "Content-Type": "text/turtle"},
                                data="<http://example.org/c> <http://example.org/d> 42 .")
        assert response.status_code in (201, 204), response.text
        body = sparql_json(server, "SELECT ?g ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
        assert (("g", (graph, None, None)), ("o", ("é", None, "fr"))) in body
        assert len(body) == 2
        refused = requests.post(f"{server.url}/sparql", timeout=60, data={"update": "CLEAR ALL"})
        assert refused.status_code == 401
    engine_view = RemoteStore(RemoteConfig(private_engine.query_url))
    assert sorted(engine_view.named_graphs()) == [graph, graph + "/2"]
    app.extensions["ssikg.store"].close()


# ---------------------------------------------------------------------------
# Failing engines: 502/504 with a message, never a hang or a 500


def backend_app(url: str, tmp_path, **overrides):
    app = create_app({"backend": url, "auto_build": False, "store": tmp_path / "unused",
                      "backend_timeout": 2, **overrides})
    return LiveServer(app)


def test_unreachable_engine_gives_502(tmp_path):
    with backend_app(f"http://127.0.0.1:{free_port()}/query", tmp_path) as server:
        response = get(server, "/sparql", "application/json", query="SELECT * WHERE { ?s ?p ?o }")
        assert response.status_code == 502
        assert "unreachable" in response.json()["message"]
        page = get(server, "/id/anything", "text/html")
        assert page.status_code == 502 and "unreachable" in page.text
        health = get(server, "/health")
        assert health.status_code in (502, 503) and health.status_code != 500


@pytest.fixture
def silent_engine():
    """A socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/query"
    listener.close()


def test_silent_engine_gives_504_after_the_backend_timeout(silent_engine, tmp_path):
    with backend_app(silent_engine, tmp_path, backend_timeout=1) as server:
        response = get(server, "/sparql", "text/plain", query="ASK {}")
        assert response.status_code == 504
        assert "did not answer within 1 s" in response.text


class _FailingEngine(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = b"engine exploded: out of memory, password=hunter2"
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_failing_engine_gives_502_and_its_message_goes_to_the_log_only(tmp_path, caplog):
    """A 5xx body may hold anything (here a password): the client reads that the backend
    failed, the operator reads the engine's words in the server log."""
    failing = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FailingEngine)
    threading.Thread(target=failing.serve_forever, daemon=True).start()
    try:
        with backend_app(f"http://127.0.0.1:{failing.server_port}/sparql", tmp_path) as server:
            response = get(server, "/sparql", "application/json", query="SELECT * WHERE { ?s ?p ?o }")
            assert response.status_code == 502
            message = response.json()["message"]
            assert "SPARQL backend answered 500" in message
            assert "hunter2" not in response.text and str(failing.server_port) not in response.text
            assert "engine exploded" in caplog.text
    finally:
        failing.shutdown()
        failing.server_close()


def test_store_errors_are_ssikg_errors(silent_engine):
    store = RemoteStore(RemoteConfig(silent_engine, timeout=0.5, connect_timeout=0.5))
    with pytest.raises(SsikgError) as caught:
        store.query("ASK {}")
    assert caught.value.status == 504
    assert store.precondition_version.startswith("unreachable")

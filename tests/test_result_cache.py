"""The result cache on a real server: a repeated query is answered from the cache with
the same bytes and headers; writes, other formats, datasets and parameters never get a
stale or foreign answer; non-deterministic queries, streamed results and remote
engines are never cached; and a cached answer needs no query slot.
"""

from __future__ import annotations

import pyoxigraph as ox
import requests
from test_safety_limits import JSON, TOKEN, get, occupy_the_only_slot

from ssikg.result_cache import CACHE_HEADER, ResultCache, deterministic
from ssikg.settings import load_settings

XML = {"Accept": "application/sparql-results+xml"}
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def metric(server, name: str) -> float:
    text = requests.get(f"{server.url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.split(" ")[0] == f"ssikg_{name}":
            return float(line.split()[-1])
    raise AssertionError(f"ssikg_{name} is not in /metrics")


def write_one_triple(server, subject: str) -> None:
    """Write ``<subject> <urn:ssikg:test:b> 1`` through the endpoint (the store version changes)."""
    written = requests.post(f"{server.url}/sparql",
                            data={"update": f"INSERT DATA {{ GRAPH <urn:ssikg:test:g> "
                                            f"{{ <{subject}> <urn:ssikg:test:b> 1 }} }}"},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert written.status_code == 204, written.text


def test_a_repeated_query_is_answered_from_the_cache_with_the_same_bytes(make_app, serve_app):
    server = serve_app(make_app())
    hits, misses = metric(server, "result_cache_hits_total"), metric(server, "result_cache_misses_total")
    first = get(server, COUNT)
    again = get(server, COUNT)
    assert first.status_code == again.status_code == 200
    assert first.headers[CACHE_HEADER] == "miss" and again.headers[CACHE_HEADER] == "hit"
    assert again.content == first.content and int(first.json()["results"]["bindings"][0]["n"]["value"]) > 3000
    for header in ("Content-Type", "ETag", "Vary", "Cache-Control", "Content-Length"):
        assert again.headers[header] == first.headers[header], header
    # the counters are the process's (tests share it); the gauges are this app's cache
    assert metric(server, "result_cache_hits_total") - hits == 1
    assert metric(server, "result_cache_misses_total") - misses == 1
    assert metric(server, "result_cache_entries") == 1
    assert metric(server, "result_cache_bytes") >= len(first.content)


def test_each_format_and_dataset_is_its_own_entry(make_app, serve_app):
    server = serve_app(make_app())
    as_json = get(server, COUNT)
    as_xml = get(server, COUNT, headers=XML)
    assert as_xml.headers[CACHE_HEADER] == "miss"
    assert as_xml.headers["Content-Type"].startswith("application/sparql-results+xml")
    assert get(server, COUNT, headers=XML).content == as_xml.content
    assert get(server, COUNT).content == as_json.content
    stated = get(server, COUNT, **{"default-graph-uri": "https://w3id.org/ssikg/graph/stated"})
    assert stated.headers[CACHE_HEADER] == "miss"
    stated_n = int(stated.json()["results"]["bindings"][0]["n"]["value"])
    assert 0 < stated_n < int(as_json.json()["results"]["bindings"][0]["n"]["value"])


def test_a_write_makes_every_cached_answer_stale(make_app, serve_app):
    server = serve_app(make_app(update_token=TOKEN))
    ask = "ASK { <urn:ssikg:test:a> <urn:ssikg:test:b> ?o }"
    assert get(server, ask).json()["boolean"] is False
    assert get(server, ask).headers[CACHE_HEADER] == "hit"
    write_one_triple(server, "urn:ssikg:test:a")
    after = get(server, ask)
    assert after.json()["boolean"] is True and after.headers[CACHE_HEADER] == "miss"


def test_non_deterministic_queries_are_never_cached(make_app, serve_app):
    server = serve_app(make_app())
    for query in ("SELECT (RAND() AS ?r) WHERE {}", "SELECT (STRUUID() AS ?u) WHERE {}",
                  "SELECT (NOW() AS ?t) WHERE {}"):
        first, second = get(server, query), get(server, query)
        assert first.status_code == second.status_code == 200
        assert CACHE_HEADER not in first.headers and CACHE_HEADER not in second.headers
    values = {get(server, "SELECT (STRUUID() AS ?u) WHERE {}").json()["results"]["bindings"][0]["u"]["value"]
              for _ in range(3)}
    assert len(values) == 3


def test_a_result_larger_than_an_entry_may_be_is_not_kept(make_app, serve_app):
    server = serve_app(make_app(result_cache_mb=0.01))  # entries up to 655 bytes
    fifty = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 50"
    for _ in range(2):
        response = get(server, fifty)
        assert response.status_code == 200 and len(response.content) > 655
        assert response.headers[CACHE_HEADER] == "miss"
    get(server, "ASK {}")
    assert get(server, "ASK {}").headers[CACHE_HEADER] == "hit"  # small ones still are


EVERYTHING = "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }"


def test_a_streamed_result_is_kept_once_it_has_streamed_to_its_end(make_app, serve_app):
    server = serve_app(make_app())  # entries up to 4 MiB
    streamed = get(server, EVERYTHING)
    assert streamed.status_code == 200 and streamed.headers[CACHE_HEADER] == "miss"
    assert "Content-Length" not in streamed.headers  # it was streamed, not answered whole
    assert len(streamed.json()["results"]["bindings"]) > 3000
    again = get(server, EVERYTHING)
    assert again.headers[CACHE_HEADER] == "hit" and again.content == streamed.content
    assert "Content-Length" in again.headers  # answered whole (its gzip form, for requests)


def test_a_streamed_result_larger_than_an_entry_or_cut_short_is_not_kept(make_app, serve_app):
    server = serve_app(make_app(result_cache_mb=1))  # entries up to 64 KiB
    for _ in range(2):
        response = get(server, EVERYTHING)
        assert len(response.content) > 64 * 1024 and response.headers[CACHE_HEADER] == "miss"
    roomy = serve_app(make_app())
    with requests.get(f"{roomy.url}/sparql", params={"query": EVERYTHING}, headers=JSON, stream=True,
                      timeout=60) as partial:
        assert partial.status_code == 200
        next(partial.iter_content(4096))  # the client reads a little and leaves
    assert requests.head(f"{roomy.url}/sparql", params={"query": EVERYTHING}, headers=JSON,
                         timeout=60).status_code == 200  # nor a HEAD, which reads nothing
    assert get(roomy, EVERYTHING).headers[CACHE_HEADER] == "miss"


def test_the_cache_can_be_turned_off(make_app, serve_app):
    server = serve_app(make_app(result_cache_mb=0))
    for _ in range(2):
        assert CACHE_HEADER not in get(server, COUNT).headers


def test_a_cached_answer_needs_no_query_slot(make_app, serve_app):
    app = make_app(max_concurrent_queries=1, query_timeout=4, queue_timeout=0.2)
    server = serve_app(app)
    runner, outcome = occupy_the_only_slot(app, server)  # asked ASK { ?s ?p ?o } first
    cached = get(server, "ASK { ?s ?p ?o }")
    assert cached.status_code == 200 and cached.headers[CACHE_HEADER] == "hit"
    assert get(server, "ASK { ?s a ?type }").status_code == 503  # not cached: it needs the slot
    runner.join(timeout=60)
    assert outcome["heavy"].status_code == 503


def test_stored_query_parameters_are_part_of_the_key(make_app, serve_app):
    server = serve_app(make_app())

    def labels(text):
        response = requests.get(f"{server.url}/api/queries/label-search", params={"text": text},
                                headers={"Accept": "application/json"}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        return {dict(zip(body["columns"], row, strict=True))["label"] for row in body["rows"]}

    belgium, cooperation = labels("Belgique"), labels("coopération")
    assert belgium and cooperation and belgium != cooperation
    assert labels("Belgique") == belgium and labels("coopération") == cooperation


def test_only_embedded_stores_get_a_cache():
    settings = load_settings({})

    class Remote:
        kind = "remote"

    class Embedded:
        kind = "embedded"

    assert ResultCache.for_store(Remote(), settings) is None
    assert ResultCache.for_store(Embedded(), load_settings({"result_cache_mb": 0})) is None
    assert ResultCache.for_store(Embedded(), settings).max_bytes == 64 * 1024 * 1024


def test_least_recently_used_entries_go_first_and_a_new_version_empties_the_cache():
    cache = ResultCache(16 * 100)  # entries up to 100 bytes (body and query text)

    def key(text, version="v1"):
        return ResultCache.key({"query": text}, version)

    for n in range(16):
        assert cache.put(key(f"q{n:02d}"), "solutions", None, b"x" * 97, {})
    assert cache.get(key("q00")) is not None  # used: now the most recent
    cache.put(key("q16"), "solutions", None, b"x" * 97, {})
    assert cache.get(key("q01")) is None and cache.get(key("q00")) is not None
    assert cache.stats()["bytes"] <= cache.max_bytes
    assert not cache.put(key("big"), "solutions", None, b"x" * 200, {})
    cache.put(key("q00", "v2"), "solutions", None, b"y", {})
    assert cache.get(key("q02")) is None and cache.stats()["entries"] == 1


def test_which_queries_count_as_deterministic():
    assert deterministic("SELECT * WHERE { ?s ?p ?o }")
    assert deterministic("CONSTRUCT { _:b ?p ?o } WHERE { ?s ?p ?o }")
    # the words in labels, comments, IRIs, prefixed names and variables are not calls
    assert deterministic('# the hosted service, now\nPREFIX service: <urn:service:>\n'
                         'SELECT ?now ?service WHERE { ?service service:x "Service de sécurité, rand()" ; '
                         '<urn:uuid:1> service:now }')
    for text in ("SELECT (rand() AS ?r) {}", "SELECT (NOW () AS ?t) {}", "SELECT (UUID() AS ?u) {}",
                 "SELECT (STRUUID() AS ?u) {}", "SELECT * { SERVICE <http://x/sparql> { ?s ?p ?o } }",
                 "SELECT * { service SILENT <http://x/sparql> { ?s ?p ?o } }",
                 "SELECT * { SERVICE ?endpoint { ?s ?p ?o } }",
                 "SELECT (RAND() AS ?r) {} # " + "x" * 9000):
        assert not deterministic(text), text
    key = ResultCache.key({"query": "SELECT * { ?s ?p ?o }",
                           "substitutions": {ox.Variable("s"): ox.NamedNode("urn:a")}}, "v")
    assert ("?s", "<urn:a>") in key[5]


# -- results shared by the server processes of one read-only store (result_cache_dir)


def shared_cache(store, folder, megabytes=1) -> ResultCache:
    return ResultCache.for_store(store, load_settings({"result_cache_mb": megabytes,
                                                       "result_cache_dir": str(folder)}))


def test_processes_of_one_read_only_store_share_their_results(embedded, tmp_path):
    first, second = shared_cache(embedded, tmp_path / "shared"), shared_cache(embedded, tmp_path / "shared")
    key = ResultCache.key({"query": COUNT, "solutions_format": "JSON"}, embedded.version)
    assert first.get(key) is None and second.get(key) is None
    headers = {"ETag": '"abc"', "SSIKG-Truncated": "true"}
    assert first.put(key, "solutions", ox.QueryResultsFormat.JSON, b'{"n": 1}', headers)
    hit = second.get(key)
    assert hit is not None and hit.shared
    assert (hit.kind, hit.format, hit.body, dict(hit.headers)) == (
        "solutions", ox.QueryResultsFormat.JSON, b'{"n": 1}', headers)
    local = second.get(key)  # now kept by the second process itself
    assert local is not None and not local.shared and local.body == hit.body
    graph_key = ResultCache.key({"query": "CONSTRUCT WHERE { ?s ?p ?o }", "graph_format": "TURTLE"},
                                embedded.version)
    first.put(graph_key, "graph", ox.RdfFormat.TURTLE, b"<a> <b> <c> .\n", {})
    assert second.get(graph_key).format == ox.RdfFormat.TURTLE


def test_only_the_same_store_and_only_a_read_only_one_shares(embedded, store_copy, tmp_path):
    from ssikg.store import open_store

    folder = tmp_path / "shared"
    key = ResultCache.key({"query": COUNT, "solutions_format": "JSON"}, embedded.version)
    shared_cache(embedded, folder).put(key, "solutions", ox.QueryResultsFormat.JSON, b"1", {})
    other = open_store(store_copy, read_only=True)  # same data and version, another store folder
    try:
        assert other.version == embedded.version
        assert shared_cache(other, folder).get(key) is None
    finally:
        other.close()
    writable = open_store(store_copy)
    try:
        assert shared_cache(writable, folder).shared is None
    finally:
        writable.close()


def test_the_shared_folder_stays_within_its_size_and_keeps_recently_used_results(embedded, tmp_path):
    folder = tmp_path / "shared"
    cache = shared_cache(embedded, folder, megabytes=0.25)  # 256 KiB, entries up to 16 KiB

    def key(n):
        return ResultCache.key({"query": f"ASK {{ <urn:x:{n}> ?p ?o }}"}, embedded.version)

    cache.put(key(0), "boolean", ox.QueryResultsFormat.JSON, b"x" * 10_000, {})
    for n in range(1, 100):
        cache.put(key(n), "boolean", ox.QueryResultsFormat.JSON, b"x" * 10_000, {})
        assert cache.shared.get(key(0)) is not None  # used: its file is touched
    total = sum(path.stat().st_size for path in folder.iterdir())
    assert total <= cache.max_bytes
    assert cache.shared.get(key(0)) is not None and cache.shared.get(key(1)) is None
    assert cache.shared.get(key(99)) is not None


def test_an_unreadable_shared_file_is_a_miss(embedded, tmp_path):
    cache = shared_cache(embedded, tmp_path / "shared")
    key = ResultCache.key({"query": COUNT, "solutions_format": "JSON"}, embedded.version)
    cache.shared._path(key).write_bytes(b"not a result")
    assert cache.get(key) is None
    cache.shared._path(key).write_bytes(b"ssikg-result-1\n\x00\x00\x00\x05{bad}body")
    assert cache.get(key) is None

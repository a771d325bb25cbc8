"""Limits on a real server: query length and body size (413 in the one JSON
error shape), row cap with truncation said in a header and in the formats
that can carry it, concurrency cap with 503 + Retry-After, and the settings
that drive them.
"""

from __future__ import annotations

import io
import threading
import time
import xml.etree.ElementTree as ET

import pyoxigraph as ox
import pytest
import rdflib
import requests

from ssikg.execution import check_operation, effective_timeout
from ssikg.settings import SettingsError, load_settings

JSON = {"Accept": "application/sparql-results+json"}
TOKEN = "safety-token"
HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
ROWS = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"


def get(server, query, headers=JSON, **params):
    return requests.get(f"{server.url}/sparql", params={"query": query, **params}, headers=headers,
                        timeout=60)


def assert_json_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["message"]
    return body


# ---------------------------------------------------------------------------
# 413


def test_too_long_query_or_update_is_413(make_app, serve_app):
    server = serve_app(make_app(max_query_length=200, update_token=TOKEN))
    long_query = "SELECT * WHERE { ?s ?p ?o } " + "#" * 300
    body = assert_json_error(get(server, long_query), 413)
    assert "200" in body["message"]
    posted = requests.post(f"{server.url}/sparql", data=long_query.encode(),
                           headers={"Content-Type": "application/sparql-query", **JSON}, timeout=60)
    assert_json_error(posted, 413)
    long_update = "INSERT DATA { <urn:a> <urn:b> \"" + "x" * 300 + "\" }"
    refused = requests.post(f"{server.url}/sparql", data={"update": long_update},
                            headers={"Authorization": f"Bearer {TOKEN}", **JSON}, timeout=60)
    assert_json_error(refused, 413)
    assert get(server, "ASK { <urn:a> <urn:b> ?o }").json()["boolean"] is False
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200


def test_too_large_body_is_413_in_the_json_error_shape(make_app, serve_app):
    server = serve_app(make_app(max_body_bytes=4096))
    big = "SELECT * WHERE { ?s ?p ?o } LIMIT 1 " + "#" * 8000
    for content_type, data in (("application/sparql-query", big.encode()),
                               ("application/x-www-form-urlencoded", {"query": big})):
        response = requests.post(f"{server.url}/sparql", data=data,
                                 headers={"Content-Type": content_type, **JSON}, timeout=60)
        assert_json_error(response, 413)
    small = requests.post(f"{server.url}/sparql", data=b"ASK { ?s ?p ?o }",
                          headers={"Content-Type": "application/sparql-query", **JSON}, timeout=60)
    assert small.status_code == 200


def test_check_operation_directly():
    settings = load_settings({"max_query_length": 50})
    check_operation("ASK { ?s ?p ?o }", "query", settings=settings)
    with pytest.raises(Exception) as caught:
        check_operation("ASK { ?s ?p ?o }" + " " * 60, "update", settings=settings)
    assert caught.value.status == 413 and "update" in caught.value.message
    with pytest.raises(Exception) as caught:
        check_operation("LOAD <http://example.org/x>", "update", settings=settings)
    assert caught.value.status == 403


def test_effective_timeout_takes_the_smallest():
    settings = load_settings({"query_timeout": 10})
    assert effective_timeout(None, None, settings=settings) == 10
    assert effective_timeout("2.5", None, settings=settings) == 2.5
    assert effective_timeout("50", 20, settings=settings) == 10
    assert effective_timeout(None, 3, settings=settings) == 3


# ---------------------------------------------------------------------------
# Truncation


def test_truncated_results_say_so(make_app, serve_app):
    server = serve_app(make_app(max_rows=3))
    full = get(server, ROWS)
    assert full.headers.get("SSIKG-Truncated") == "true"
    assert full.headers.get("SSIKG-Max-Rows") == "3"
    body = full.json()
    assert body["ssikg:truncated"] is True
    assert "urn:ssikg:truncated" in body["head"]["link"]
    assert len(body["results"]["bindings"]) == 3
    # The same rows as the engine's own first three, parsed back with pyoxigraph.
    parsed = list(ox.parse_query_results(full.content, ox.QueryResultsFormat.JSON))
    assert len(parsed) == 3

    xml = get(server, ROWS, headers={"Accept": "application/sparql-results+xml"})
    assert xml.headers.get("SSIKG-Truncated") == "true"
    ns = {"r": "http://www.w3.org/2005/sparql-results#"}
    root = ET.fromstring(xml.content)
    assert root.find("r:head/r:link", ns).get("href") == "urn:ssikg:truncated"
    assert len(root.findall("r:results/r:result", ns)) == 3
    assert len(list(ox.parse_query_results(xml.content, ox.QueryResultsFormat.XML))) == 3

    csv = get(server, ROWS, headers={"Accept": "text/csv"})
    assert csv.headers.get("SSIKG-Truncated") == "true"
    assert len(csv.text.strip().splitlines()) == 1 + 3

    turtle = get(server, "CONSTRUCT WHERE { ?s ?p ?o }", headers={"Accept": "text/turtle"})
    assert turtle.headers.get("SSIKG-Truncated") == "true"
    assert "truncated after 3 triples" in turtle.text
    assert len(rdflib.Graph().parse(io.StringIO(turtle.text), format="turtle")) == 3


def test_short_results_are_not_marked(make_app, serve_app):
    server = serve_app(make_app(max_rows=3))
    short = get(server, "SELECT ?s WHERE { ?s ?p ?o } LIMIT 2")
    assert "SSIKG-Truncated" not in short.headers
    assert "ssikg:truncated" not in short.json() and "link" not in short.json()["head"]
    assert len(short.json()["results"]["bindings"]) == 2
    exact = get(server, "SELECT ?s WHERE { ?s ?p ?o } LIMIT 3")
    assert "SSIKG-Truncated" not in exact.headers
    assert get(server, "ASK { ?s ?p ?o }").json()["boolean"] is True


def test_unlimited_by_default(make_app, serve_app):
    server = serve_app(make_app())
    response = get(server, "SELECT ?s WHERE { ?s ?p ?o } LIMIT 500")
    assert "SSIKG-Truncated" not in response.headers
    assert len(response.json()["results"]["bindings"]) == 500


# ---------------------------------------------------------------------------
# Concurrency cap


def occupy_the_only_slot(app, server) -> tuple[threading.Thread, dict]:
    """Start a heavy query in the background and return once it holds the app's only slot."""
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200  # a worker is up
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("heavy", get(server, HEAVY)))
    runner.start()
    executor = app.extensions["ssikg.executor"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not executor.pool._busy:
        time.sleep(0.05)
    assert executor.pool._busy, "the heavy query should hold the only slot"
    return runner, outcome


def test_saturation_answers_503_with_retry_after(make_app, serve_app):
    app = make_app(max_concurrent_queries=1, retry_after=7, query_timeout=4, queue_timeout=0.5)
    server = serve_app(app)
    runner, outcome = occupy_the_only_slot(app, server)
    busy = get(server, "ASK { ?s a ?type }")  # not asked before: no cached answer to give
    body = assert_json_error(busy, 503)
    assert busy.headers["Retry-After"] == "7"
    assert "concurrent" in body["message"]
    runner.join(timeout=60)
    assert outcome["heavy"].status_code == 503  # its own timeout
    # The slot is free again.
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200


def test_a_short_burst_queues_for_a_slot_instead_of_failing(make_app, serve_app):
    app = make_app(max_concurrent_queries=1, query_timeout=1, queue_timeout=20)
    server = serve_app(app)
    runner, outcome = occupy_the_only_slot(app, server)
    waited = get(server, "ASK { ?s ?p ?o }")  # waits until the heavy query times out
    assert waited.status_code == 200 and waited.json()["boolean"] is True
    runner.join(timeout=60)
    assert outcome["heavy"].status_code == 503  # its own timeout, not a refusal
    assert "time limit" in outcome["heavy"].json()["message"]


# ---------------------------------------------------------------------------
# Settings


def test_settings_are_declared_and_validated():
    settings = load_settings({})
    assert settings.query_timeout == 30.0 and settings.max_rows == 0
    assert settings.service_allowlist == () and settings.service_allow_private is False
    assert settings.isolation == "process"
    env = load_settings({}, environ={"SSIKG_SERVICE_ALLOWLIST": "http://a.example/sparql, http://b.example/",
                                     "SSIKG_MAX_ROWS": "10", "SSIKG_ISOLATION": "thread"})
    assert env.service_allowlist == ("http://a.example/sparql", "http://b.example/")
    assert env.max_rows == 10 and env.isolation == "thread"
    for name, value in (("max_rows", "-1"), ("query_timeout", "0"), ("isolation", "fork"),
                        ("max_body_bytes", "lots")):
        with pytest.raises(SettingsError):
            load_settings({name: value})


def test_responses_never_read_free_their_slot(make_app, serve_app):
    """HEAD sends no body, so the result's chunks are never iterated: the worker must still
    be released (when the server closes the response), or a few HEADs would fill every slot."""
    app = make_app(max_concurrent_queries=1)
    server = serve_app(app)
    executor = app.extensions.get("ssikg.executor")
    for _ in range(3):
        head = requests.head(f"{server.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"},
                             headers=JSON, timeout=60)
        assert head.status_code == 200
        executor = app.extensions["ssikg.executor"]
        deadline = time.monotonic() + 10
        while executor.gate._value < executor.size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert executor.gate._value == executor.size, "the slot of an unread result was not freed"
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200


def test_worker_memory_cap_stops_a_query_that_needs_too_much(make_app, serve_app):
    """An ORDER BY over a cross product holds every row in memory; under the cap its worker
    dies and the client gets a 503 long before the (large) time limit, and the server lives on."""
    app = make_app(worker_memory_mb=500, query_timeout=120)
    server = serve_app(app)
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200
    started = time.monotonic()
    response = get(server, "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f")
    body = assert_json_error(response, 503)
    assert "worker_memory_mb" in body["message"]
    assert time.monotonic() - started < 120
    assert get(server, "ASK { ?s ?p ?o }").json()["boolean"] is True


def test_a_client_gone_while_queued_does_not_cost_a_worker(make_app, serve_app, caplog):
    """A query whose client leaves while it waits for a slot never runs: its worker goes
    back to the pool instead of being killed (for an in-memory store, a kill costs a copy
    of the store; a readiness poller with a short timeout once set off a storm of them)."""
    import logging
    import socket
    from urllib.parse import quote

    app = make_app(max_concurrent_queries=1, query_timeout=1.5, queue_timeout=20)
    server = serve_app(app)
    runner, outcome = occupy_the_only_slot(app, server)
    with caplog.at_level(logging.INFO, logger="ssikg"):
        leaving = socket.create_connection(("127.0.0.1", server.port))
        leaving.sendall(f"GET /sparql?query={quote('ASK { ?s ?p ?o }')} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode())
        time.sleep(0.3)
        leaving.close()
        runner.join(timeout=60)
        assert outcome["heavy"].status_code == 503  # the heavy query's own timeout
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "before its query started" not in caplog.text:
            time.sleep(0.05)
    assert "client went away before its query started" in caplog.text
    pool = app.extensions["ssikg.executor"].pool
    survivors = pool.pids()
    assert get(server, "ASK { ?s ?p ?o }").status_code == 200
    assert pool.pids() == survivors  # the worker the abandoned query was given is serving

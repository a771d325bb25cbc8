"""The replay front on a real server: once a GET /sparql has been answered from the result
cache, the same request is answered before Flask with the view's bytes and headers (a
new request id); anything that could change the answer — another header, a write, a
conditional request, another method — goes through Flask; failures and
non-deterministic queries are never replayed.  Flask's own hooks count the requests
that reach it, which is how the tests tell a replay from a view's answer.
"""

from __future__ import annotations

import logging

import requests
from flask import request
from test_result_cache import metric, write_one_triple
from test_safety_limits import JSON, TOKEN, get

from ssikg.replay import ReplayFront
from ssikg.result_cache import CACHE_HEADER

ASK = "ASK { ?unit a <http://www.w3.org/ns/org#OrganizationalUnit> }"
PER_RESPONSE = {"X-Request-Id", "Date", "Server", "Connection", "Keep-Alive"}


def counting(app) -> list[str]:
    """The methods of the requests that reach Flask."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.method))
    return seen


def counted_server(make_app, serve_app, **settings):
    """A live server and the list of the requests that reached its Flask app."""
    app = make_app(**settings)
    seen = counting(app)
    return serve_app(app), seen


def test_a_cached_answer_asked_again_is_replayed_with_the_views_bytes_and_headers(make_app, serve_app,
                                                                                  caplog):
    server, seen = counted_server(make_app, serve_app)
    hits = metric(server, "result_cache_hits_total")
    first, second = get(server, ASK), get(server, ASK)
    assert first.headers[CACHE_HEADER] == "miss" and second.headers[CACHE_HEADER] == "hit"
    assert len(seen) == 2 + 1  # two queries and /metrics
    with caplog.at_level(logging.INFO, logger="ssikg.access"):
        third = get(server, ASK)
    assert len(seen) == 3, "the third request reached Flask"
    assert third.status_code == 200 and third.content == second.content == first.content
    view_headers = {k: v for k, v in second.headers.items() if k not in PER_RESPONSE}
    assert {k: v for k, v in third.headers.items() if k not in PER_RESPONSE} == view_headers
    assert third.headers["X-Request-Id"] not in (first.headers["X-Request-Id"], second.headers["X-Request-Id"])
    logged = [r.getMessage() for r in caplog.records if r.name == "ssikg.access"]
    assert any(third.headers["X-Request-Id"] in line and '"status": 200' in line for line in logged)
    assert metric(server, "result_cache_hits_total") - hits == 2
    assert metric(server, "replay_entries") == 1


def test_a_client_request_id_is_echoed_on_a_replay(make_app, serve_app):
    server = serve_app(make_app())
    for _ in range(2):
        get(server, ASK)
    replayed = get(server, ASK, headers={**JSON, "X-Request-Id": "analyst-42"})
    assert replayed.headers["X-Request-Id"] == "analyst-42" and replayed.headers[CACHE_HEADER] == "hit"


def test_another_encoding_origin_or_header_is_another_entry(make_app, serve_app):
    server, seen = counted_server(make_app, serve_app)
    plain = [get(server, ASK) for _ in range(3)]
    assert len(seen) == 2
    gzip = {**JSON, "Accept-Encoding": "gzip"}
    zipped = [requests.get(f"{server.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 40"},
                           headers=gzip, timeout=60) for _ in range(3)]
    assert len(seen) == 4
    assert all(r.headers["Content-Encoding"] == "gzip" for r in zipped)
    assert zipped[2].content == zipped[0].content and len(zipped[0].json()["results"]["bindings"]) == 40
    origin = {**JSON, "Origin": "https://analyst.example"}
    cross = [get(server, ASK, headers=origin) for _ in range(3)]
    assert len(seen) == 5  # Flask's answer, from the result cache, then two replays of it
    assert cross[2].headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Expose-Headers" not in plain[2].headers  # an answer to no origin
    get(server, ASK, headers={**JSON, "X-Unknown": "1"})
    assert len(seen) == 6, "a header the front does not know must not share an entry"


def test_conditional_requests_and_other_methods_go_through_flask(make_app, serve_app):
    server, seen = counted_server(make_app, serve_app)
    answers = [get(server, ASK) for _ in range(3)]
    assert len(seen) == 2
    revalidated = get(server, ASK, headers={**JSON, "If-None-Match": answers[0].headers["ETag"]})
    assert revalidated.status_code == 304 and len(seen) == 3
    head = requests.head(f"{server.url}/sparql", params={"query": ASK}, headers=JSON, timeout=60)
    assert head.status_code == 200 and len(seen) == 4
    posted = requests.post(f"{server.url}/sparql", data={"query": ASK}, headers=JSON, timeout=60)
    assert posted.content == answers[0].content and len(seen) == 5


def test_a_write_ends_the_replay_of_older_answers(make_app, serve_app):
    server, seen = counted_server(make_app, serve_app, update_token=TOKEN)
    ask = "ASK { <urn:ssikg:test:replay> ?p ?o }"
    assert [get(server, ask).json()["boolean"] for _ in range(3)] == [False] * 3
    assert len(seen) == 2
    write_one_triple(server, "urn:ssikg:test:replay")
    after = get(server, ask)
    assert after.json()["boolean"] is True and after.headers[CACHE_HEADER] == "miss"


def test_failures_and_non_deterministic_queries_are_never_replayed(make_app, serve_app):
    server, seen = counted_server(make_app, serve_app)
    for _ in range(3):
        assert get(server, "SELECT (RAND() AS ?r) WHERE {}").status_code == 200
    for _ in range(3):
        assert get(server, "SELECT ?s WHERE { ?s").status_code == 400
    for _ in range(3):
        assert get(server, ASK, headers={"Accept": "image/png"}).status_code == 406
    assert len(seen) == 9


def test_no_front_without_a_result_cache(make_app, serve_app):
    app = make_app(result_cache_mb=0)
    assert not isinstance(app.wsgi_app, ReplayFront)
    seen = counting(app)
    server = serve_app(app)
    for _ in range(3):
        assert get(server, ASK).status_code == 200
    assert len(seen) == 3

"""The operations routes for clients and crawlers: ``/limits`` (the limits a client meets,
as values, never a secret) and ``/robots.txt`` (crawlers kept off the query endpoints)."""

from __future__ import annotations

import urllib.robotparser

import requests

from ssikg.settings import load_settings


def test_limits_lists_the_defaults_a_client_meets(live_server):
    answer = requests.get(f"{live_server.url}/limits", timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    limits, defaults = answer.json(), load_settings({})
    assert limits["query_timeout"] == defaults.query_timeout
    assert limits["max_query_length"] == defaults.max_query_length
    assert limits["max_body_bytes"] == defaults.max_body_bytes
    assert limits["max_concurrent_queries"] == defaults.max_concurrent_queries
    assert limits["max_concurrent_validations"] == defaults.max_concurrent_validations
    assert limits["validate_max_triples"] == defaults.validate_max_triples
    assert limits["validation_timeout"] == defaults.validation_timeout
    assert limits["validate_on_write"] is False and limits["validate_write_max_triples"] == defaults.validate_max_triples
    assert limits["queue_timeout"] == defaults.queue_timeout
    assert limits["max_rows"] is None  # 0 in the settings: no limit
    assert limits["max_request_line_bytes"] == 65536  # the development server's
    assert limits["writes_enabled"] is False
    assert limits["service"] == {"enabled": False, "allowlist": [], "private_addresses": False}
    assert limits["load"] == {"enabled": False, "allowlist": []}


def test_limits_follow_the_settings_and_never_show_a_secret(make_app, serve_app):
    token, password, key = "t0ken-for-limits", "pa55word", "api-key-123"
    app = make_app(update_token=token, max_rows=50, query_timeout=7, max_query_length=0,
                   service_allowlist=f"https://reader:{password}@sparql.example.org:8443/sparql?key={key}")
    answer = requests.get(f"{serve_app(app).url}/limits", timeout=30)
    limits = answer.json()
    assert limits["max_rows"] == 50 and limits["query_timeout"] == 7 and limits["max_query_length"] is None
    assert limits["writes_enabled"] is True
    assert limits["service"]["enabled"] is True
    assert limits["service"]["allowlist"] == ["https://sparql.example.org:8443/sparql"]
    assert limits["load"] == {"enabled": True, "allowlist": ["https://sparql.example.org:8443/sparql"]}
    for secret in (token, password, key, "reader", str(app.config["SSIKG"].store_path)):
        assert secret not in answer.text


def test_robots_txt_keeps_crawlers_off_the_query_endpoints(live_server):
    answer = requests.get(f"{live_server.url}/robots.txt", timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(answer.text.splitlines())
    for path in ("/sparql", "/sparql?query=ASK%7B%7D", "/store?graph=x", "/query"):
        assert not robots.can_fetch("SomeBot", live_server.url + path), path
    for path in ("/", "/id/dcis.html", "/queries", "/ontology", "/org-chart"):
        assert robots.can_fetch("SomeBot", live_server.url + path), path

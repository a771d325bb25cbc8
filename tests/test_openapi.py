"""The OpenAPI document of the stored queries: it validates, it describes every
stored query on its own path with typed, exemplified parameters, and
schemathesis, run against the real loopback server, finds no 5xx and no
response that contradicts it.
"""

from __future__ import annotations

import hypothesis
import pytest
import requests
import schemathesis
from openapi_spec_validator import validate

from ssikg.settings import PROJECT_ROOT
from ssikg.stored_queries import check_dir

QUERIES, _PROBLEMS = check_dir(PROJECT_ROOT / "queries")


@pytest.fixture(scope="module")
def document(live_server) -> dict:
    response = requests.get(live_server.url + "/api/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_document_validates(document):
    validate(document)  # raises on any violation of the OpenAPI 3.0 schema
    assert document["openapi"].startswith("3.")


def test_one_get_operation_per_stored_query(document, shared_app):
    settings = shared_app.config["SSIKG"]
    paths = document["paths"]
    assert set(paths) == {"/api/queries"} | {f"/api/queries/{name}" for name in QUERIES}
    operation_ids = [item["get"]["operationId"] for item in paths.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for name, query in QUERIES.items():
        operation = paths[f"/api/queries/{name}"]["get"]
        assert set(operation) >= {"summary", "description", "parameters", "responses"}
        assert operation["summary"] == query.title
        declared = {p["name"]: p for p in operation["parameters"]}
        for param in query.params:
            entry = declared[param.name]
            assert entry["in"] == "query" and entry["required"] == param.required
            assert entry["schema"]["type"] in ("string", "integer")
            assert "example" in entry and entry["description"]
        assert ("limit" in declared) == query.paginated
        if query.paginated:
            assert declared["limit"]["schema"]["default"] == query.page_size
        timeout = declared["timeout"]  # README: every stored query takes it
        assert timeout["in"] == "query" and not timeout["required"]
        assert timeout["schema"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
        assert f"{settings.get('query_timeout'):g} s" in timeout["description"]
        assert {"200", "400"} <= set(operation["responses"])
        assert declared["_shape"]["schema"] == {"type": "string", "enum": ["arrays", "objects", "array", "object"]}
        assert not declared["_shape"]["required"] and "Datasette" in declared["_shape"]["description"]
        assert "application/json" in operation["responses"]["200"]["content"]


def test_documented_examples_are_accepted(document, live_server):
    """Each operation called with exactly its documented examples answers 200."""
    for path, item in document["paths"].items():
        params = {p["name"]: p["example"] for p in item["get"].get("parameters", [])
                  if "example" in p}
        response = requests.get(live_server.url + path, params=params, timeout=30)
        assert response.status_code == 200, (path, response.text)


def test_docs_page_lists_every_operation_without_external_resources(live_server):
    response = requests.get(live_server.url + "/api/docs", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    for name in QUERIES:
        assert f"GET /api/queries/{name}</code>" in page
    assert "<script" not in page  # server-rendered, no JavaScript
    assert "src=\"http" not in page and "href=\"https://cdn" not in page


@pytest.fixture(scope="module")
def api_schema(live_server):
    return schemathesis.openapi.from_url(live_server.url + "/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(max_examples=8, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_schemathesis_finds_no_server_error_or_schema_violation(case):
    # Every built-in check: no 5xx, documented status codes, content types and
    # headers, response bodies that match their schema, valid data accepted and
    # invalid data rejected.
    _without_short_timeouts(case)
    if not _shape_may_be_refused(case):
        case.call_and_validate(timeout=30)
        return
    response = case.call_and_validate(timeout=30, excluded_checks=[schemathesis.checks.positive_data_acceptance])
    if response.status_code != 200 and case.meta is not None and case.meta.generation.mode.is_positive:
        assert response.status_code == 400 and response.json()["parameter"] == "_shape", response.text


def _shape_may_be_refused(case) -> bool:
    """What OpenAPI 3.0 cannot say of ``_shape`` (its description says it): it shapes JSON only
    (with ``format=csv`` … it is a 400), and ``object`` keys rows by the first column, which the
    data may leave unbound or repeat (a 400 too).  Such a case must answer 200 or that 400."""
    query = case.query or {}
    return "_shape" in query and (query["_shape"] == "object" or query.get("format", "json") != "json")


SHORTEST_TIMEOUT = 10  # seconds: longer than any stored query takes on the test data


def _without_short_timeouts(case) -> None:
    """A valid ``timeout`` shorter than the query's run (5e-324 s …) stops it with the
    documented 503, which the no-5xx check would count as a server error: such a generated
    value is raised to SHORTEST_TIMEOUT. Invalid values (0, "AAA", lists…) are left as made."""
    value = (case.query or {}).get("timeout")
    if isinstance(value, bool):
        return
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return
    if 0 < seconds < SHORTEST_TIMEOUT:
        case.query["timeout"] = SHORTEST_TIMEOUT

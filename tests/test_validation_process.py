"""Validations of the HTTP service run in a child process with a time limit
(ssikg.validation_process): the report is the one validated in process, a validation past
``validation_timeout`` is stopped (503, the child killed) and the server keeps answering."""

from __future__ import annotations

import os

import requests

from ssikg import validation_process
from ssikg.validation import quads_from_store, validate_quads

POST_OUTSIDE_A_UNIT = b"<https://w3id.org/ssikg/id/x> a <http://www.w3.org/ns/org#Post> .\n"


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "seconds"}


def test_the_childs_report_is_the_in_process_report(live_server, shared_app):
    answered = requests.get(f"{live_server.url}/validate", params={"format": "json", "lang": "en"}, timeout=120)
    assert answered.status_code == 200, answered.text
    store = shared_app.extensions["ssikg.store"]
    here = validate_quads(quads_from_store(store.quads()), source_dir=shared_app.config["SSIKG"]["source_dir"])
    assert _comparable(answered.json()) == _comparable(here.as_dict("en"))


def test_an_upload_is_validated_in_a_child_with_its_results(live_server):
    answered = requests.post(f"{live_server.url}/validate", data=POST_OUTSIDE_A_UNIT,
                             headers={"Content-Type": "text/turtle", "Accept": "application/json"}, timeout=120)
    assert answered.status_code == 200 and answered.json()["conforms"] is False
    assert validation_process._spare is not None  # the next validation's interpreter is started ahead


def test_a_validation_past_its_time_is_stopped_with_a_503(make_app, serve_app):
    server = serve_app(make_app(validation_timeout=0.05))
    before = set(_children(os.getpid()))
    refused = requests.get(f"{server.url}/validate", headers={"Accept": "application/json"}, timeout=60)
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert "validation_timeout" in body["message"] and body["validation_timeout"] == 0.05
    # the server answers on, and no child is left running for the stopped validation
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200
    spare = validation_process._spare
    started = set(_children(os.getpid())) - before - {spare.pid if spare else None}
    assert started == set()


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc: no psutil needed)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _chain(links: int) -> bytes:
    return "".join(f"<https://w3id.org/ssikg/id/x{i}> <http://www.w3.org/ns/org#subOrganizationOf> "
                   f"<https://w3id.org/ssikg/id/x{i + 1}> .\n" for i in range(links)).encode()


def test_a_chain_too_long_for_the_validator_is_a_400_not_a_500(make_app, serve_app):
    """rdflib follows paths recursively: a 1,500-link chain was a RecursionError, a 500 on
    /validate, a 500 on every later GET /validate once written, and a 500 under validate_on_write."""
    server = serve_app(make_app(update_token="t0ken", validate_on_write=True))
    posted = requests.post(f"{server.url}/validate", data=_chain(1500), timeout=120,
                           headers={"Content-Type": "application/n-triples", "Accept": "application/json"})
    assert posted.status_code == 400 and "too long" in posted.json()["message"], posted.text
    # validate_on_write checks the write in the validation child too: the same chain is too deep there
    written = requests.post(f"{server.url}/store", params={"graph": "https://example.org/chain"},
                            data=_chain(1500), timeout=120,
                            headers={"Content-Type": "application/n-triples", "Authorization": "Bearer t0ken",
                                     "Accept": "application/json"})
    assert written.status_code == 400 and "unchanged" in written.json()["message"], written.text
    assert "too long" in written.json()["message"]


def test_a_store_the_validator_cannot_follow_is_a_422(make_app, serve_app):
    server = serve_app(make_app(update_token="t0ken"))
    written = requests.post(f"{server.url}/store", params={"graph": "https://example.org/chain"},
                            data=_chain(1500), timeout=120,
                            headers={"Content-Type": "application/n-triples", "Authorization": "Bearer t0ken"})
    assert written.status_code in (201, 204), written.text
    validated = requests.get(f"{server.url}/validate", headers={"Accept": "application/json"}, timeout=120)
    assert validated.status_code == 422 and "cannot be validated" in validated.json()["message"]


def test_a_validation_past_its_memory_is_a_413(make_app, serve_app):
    server = serve_app(make_app(validation_memory_mb=1))
    body = "".join(f'<https://example.org/s{i}> <https://example.org/p> "{i}" .\n' for i in range(20000)).encode()
    refused = requests.post(f"{server.url}/validate", data=body, timeout=120,
                            headers={"Content-Type": "application/n-triples", "Accept": "application/json"})
    assert refused.status_code in (413, 503), refused.text
    assert "validation_memory_mb" in refused.text or "without a report" in refused.text
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200


def test_a_server_without_its_shapes_says_validation_is_unavailable(make_app, serve_app, tmp_path):
    """The shapes file is the server's setup: a 503 that names no path (a 400 showed it)."""
    server = serve_app(make_app(source_dir=tmp_path, auto_build=False))
    answered = requests.post(f"{server.url}/validate", data=POST_OUTSIDE_A_UNIT, timeout=120,
                             headers={"Content-Type": "text/turtle", "Accept": "application/json"})
    assert answered.status_code == 503, answered.text
    assert "shapes" in answered.json()["message"] and str(tmp_path) not in answered.text

"""POST /validate's inputs and limits over real HTTP (loopback servers): an upload is typed
as a Graph Store write is (same media types, UTF-8 charsets), the body limit is the
``max_body_bytes`` setting, ``graph=`` takes any absolute IRI, the language follows the
site's rule, and validations beyond the per-process gate get a 503 with Retry-After in the
client's format — never a hang or a 500.
"""

from __future__ import annotations

import contextlib
import shutil

import pyoxigraph as ox
import pytest
import requests
from conftest import LiveServer, close_app

from ssikg.app import create_app
from ssikg.views.validation import validation_gate

TOKEN = "validation-upload-token"
TIMEOUT = 120
TRIPLE = ox.Triple(ox.NamedNode("https://example.org/s"), ox.NamedNode("https://example.org/p"),
                   ox.Literal("plain ASCII text"))
SYNTAX_OF = {
    "text/turtle": ox.RdfFormat.TURTLE, "application/x-turtle": ox.RdfFormat.TURTLE,
    "text/n3": ox.RdfFormat.TURTLE, "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES, "application/n-quads": ox.RdfFormat.N_QUADS,
    "text/x-nquads": ox.RdfFormat.N_QUADS, "application/trig": ox.RdfFormat.TRIG,
    "application/ld+json": ox.RdfFormat.JSON_LD, "application/json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML, "application/xml": ox.RdfFormat.RDF_XML,
    "text/xml": ox.RdfFormat.RDF_XML, "image/png": ox.RdfFormat.TURTLE, "text/html": ox.RdfFormat.TURTLE,
}


def document(media_type: str) -> bytes:
    return ox.serialize([TRIPLE], format=SYNTAX_OF[media_type])


def validate(server, body: bytes, content_type: str, **params) -> requests.Response:
    return requests.post(f"{server.url}/validate", params={"format": "json", **params}, data=body,
                         headers={"Content-Type": content_type}, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def server(built_store, tmp_path_factory):
    """One writable server for the module (its Graph Store writes go to a scratch graph)."""
    target = tmp_path_factory.mktemp("validation-uploads") / "store"
    shutil.copytree(built_store.resolve(), target)
    app = create_app({"store": target, "auto_build": False, "update_token": TOKEN, "queue_timeout": 0})
    try:
        with LiveServer(app) as live:
            yield live
    finally:
        close_app(app)


# ---------------------------------------------------------------------------
# Media types and charsets: those of the Graph Store


@pytest.mark.parametrize("media_type", sorted(SYNTAX_OF))
def test_validate_accepts_exactly_the_media_types_of_the_graph_store(server, media_type):
    validated = validate(server, document(media_type), media_type)
    stored = requests.put(f"{server.url}/store", params={"graph": "https://example.org/g"},
                          data=document(media_type), timeout=TIMEOUT,
                          headers={"Content-Type": media_type, "Authorization": f"Bearer {TOKEN}"})
    assert stored.status_code in (201, 204, 415), stored.text
    if stored.status_code == 415:
        assert validated.status_code == 415, validated.text
        assert media_type in validated.json()["message"]
        assert "application/json" in validated.json()["accepted"]
    else:
        assert validated.status_code == 200, validated.text
        assert validated.json()["triples"] == 1


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "us-ascii", "ascii"])
def test_utf8_and_its_ascii_subset_are_accepted_in_bodies_and_form_files(server, charset):
    content_type = f"text/turtle; charset={charset}"
    assert validate(server, document("text/turtle"), content_type).status_code == 200
    uploaded = requests.post(f"{server.url}/validate?format=json", timeout=TIMEOUT,
                             files={"file": ("data.ttl", document("text/turtle"), content_type)})
    assert uploaded.status_code == 200, uploaded.text


@pytest.mark.parametrize("charset", ["latin-1", "utf-16"])
def test_other_charsets_are_a_415_naming_utf8(server, charset):
    content_type = f"text/turtle; charset={charset}"
    body = validate(server, document("text/turtle"), content_type)
    uploaded = requests.post(f"{server.url}/validate?format=json", timeout=TIMEOUT,
                             files={"file": ("data.ttl", document("text/turtle"), content_type)})
    for response in (body, uploaded):
        assert response.status_code == 415 and "UTF-8" in response.json()["message"]


def test_a_form_file_typed_application_json_is_read_as_json_ld(server):
    """A part's own RDF type decides (as in a Graph Store multipart write); its name only when
    the type says nothing."""
    uploaded = requests.post(f"{server.url}/validate?format=json", timeout=TIMEOUT,
                             files={"file": ("data.txt", document("application/json"), "application/json")})
    assert uploaded.status_code == 200 and uploaded.json()["triples"] == 1, uploaded.text


# ---------------------------------------------------------------------------
# Parameters and limits


def test_the_body_limit_is_the_max_body_bytes_setting(make_app, serve_app):
    """Over 16 MiB is refused only when the setting says so (it once capped every body there)."""
    padding = b"# a comment line of padding, to make the body large\n" * 330_000  # ~17 MB
    body = padding + document("application/n-triples")
    assert len(body) > 16 * 1024 * 1024
    roomy = serve_app(make_app(max_body_bytes=32 * 1024 * 1024))
    accepted = validate(roomy, body, "application/n-triples")
    assert accepted.status_code == 200 and accepted.json()["triples"] == 1, accepted.text[:500]
    tight = serve_app(make_app(max_body_bytes=1024))
    assert validate(tight, body[-2048:], "application/n-triples").status_code == 413


def test_graph_takes_any_absolute_iri_and_refuses_others_by_name(server):
    body = document("application/n-triples")
    assert validate(server, body, "application/n-triples", graph="tag:example.org,2026:g").status_code == 200
    assert validate(server, body, "application/n-triples", graph="urn:x:g").status_code == 200
    for bad in ("http://example.org/a b", "not-an-iri", "http://example.org/{g}"):
        refused = validate(server, body, "application/n-triples", graph=bad)
        assert refused.status_code == 400, bad
        message = refused.json()["message"]
        assert "graph=" in message and "stated" in message and repr(bad) in message


def test_the_language_is_chosen_as_on_the_sites_other_pages(live_server):
    """A reader asking for Dutch (a site language without validation messages) gets English,
    as the site's interface does, not French."""
    dutch = {"Accept-Language": "nl"}
    summary = requests.get(f"{live_server.url}/validate?format=json", headers=dutch, timeout=TIMEOUT)
    assert summary.json()["lang"] == "en" and summary.headers["Content-Language"] == "en"
    page = requests.get(f"{live_server.url}/validate", headers={**dutch, "Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    french = requests.get(f"{live_server.url}/validate?format=json", headers={"Accept-Language": "fr, en"},
                          timeout=TIMEOUT)
    assert french.json()["lang"] == "fr"


# ---------------------------------------------------------------------------
# Back-pressure: at most N validations at once per process


@contextlib.contextmanager
def all_slots_held(app):
    """Hold every validation slot of ``app``, as that many running validations would."""
    gate = validation_gate(app)
    with contextlib.ExitStack() as stack:
        for _ in range(gate.size):
            stack.enter_context(gate.slot(app.config["SSIKG"]))
        yield gate


def test_a_busy_validator_answers_503_with_retry_after_in_the_clients_format(make_app, serve_app):
    app = make_app(queue_timeout=0.2, retry_after=7)  # a request waits briefly for a slot, then 503
    server = serve_app(app)
    body = document("application/n-triples")
    with all_slots_held(app) as gate:
        busy = validate(server, body, "application/n-triples")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "7"
        assert busy.json()["retry_after"] == 7 and f"maximum of {gate.size} validations" in busy.json()["message"]
        page = requests.post(f"{server.url}/validate", data=body, timeout=TIMEOUT,
                             headers={"Content-Type": "application/n-triples", "Accept": "text/html"})
        assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Retry-After"] == "7"
        # the store's report is work too, unless it is cached already
        assert requests.get(f"{server.url}/validate?format=json", timeout=TIMEOUT).status_code == 503
    assert validate(server, body, "application/n-triples").status_code == 200
    assert requests.get(f"{server.url}/validate?format=json", timeout=TIMEOUT).status_code == 200
    with all_slots_held(app):  # a cached report needs no slot
        assert requests.get(f"{server.url}/validate?format=json", timeout=TIMEOUT).status_code == 200


def test_failed_validations_give_their_slot_back(server):
    for _ in range(3 * validation_gate(server.app).size):
        assert validate(server, b"<a> <b> .", "text/turtle").status_code == 400  # refused inside the gate
    assert validate(server, document("text/turtle"), "text/turtle").status_code == 200


def test_the_gate_is_sized_by_max_concurrent_validations(make_app, serve_app):
    app = make_app(max_concurrent_validations=3, queue_timeout=0.2, retry_after=4)
    server = serve_app(app)
    body = document("application/n-triples")
    gate = validation_gate(app)
    assert gate.size == 3
    with contextlib.ExitStack() as stack:
        for _ in range(2):  # two running: a third still gets a slot
            stack.enter_context(gate.slot(app.config["SSIKG"]))
        assert validate(server, body, "application/n-triples").status_code == 200
        stack.enter_context(gate.slot(app.config["SSIKG"]))
        busy = validate(server, body, "application/n-triples")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "4"
        assert "maximum of 3 validations" in busy.json()["message"]


def test_max_concurrent_validations_is_at_least_one_and_a_whole_number():
    from ssikg.settings import SettingsError, load_settings

    assert load_settings({}, environ={})["max_concurrent_validations"] == 2
    with pytest.raises(SettingsError, match="must be at least 1"):
        load_settings({"max_concurrent_validations": "0"}, environ={})
    assert load_settings({}, environ={"SSIKG_MAX_CONCURRENT_VALIDATIONS": "5"})["max_concurrent_validations"] == 5
    with pytest.raises(SettingsError, match="max_concurrent_validations"):
        load_settings({"max_concurrent_validations": "two"}, environ={})

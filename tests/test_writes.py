"""Writes: read-only by default, the bearer-token rules (401), atomic
updates and uploads (a failing write changes nothing), and the bookkeeping of
writes not yet exported (``ssikg build`` refuses to drop them, ``ssikg
export`` writes them back)."""

from __future__ import annotations

import json

import pytest
import requests

from ssikg.app import create_app

TOKEN = "correct horse battery staple"
INSERT = ("INSERT DATA { GRAPH <http://example.org/w> { <http://example.org/a> "
          "<http://example.org/b> \"c\" } }")
ASK_INSERTED = "ASK { GRAPH <http://example.org/w> { <http://example.org/a> ?p ?o } }"


def ask(url, query=ASK_INSERTED) -> bool:
    r = requests.get(f"{url}/sparql", params={"query": query}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["boolean"]


def update(url, text, token=None, scheme="Bearer"):
    headers = {"Content-Type": "application/sparql-update"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return requests.post(f"{url}/sparql", data=text.encode(), headers=headers, timeout=30)


@pytest.fixture
def writable(make_app, serve_app):
    return serve_app(make_app(update_token=TOKEN))


def test_read_only_by_default(live_server):
    r = update(live_server.url, INSERT, token="anything")
    assert r.status_code == 403
    body = r.json()
    assert body["title"] == "Read-only" and "SSIKG_UPDATE_TOKEN" in body["message"]
    r = requests.put(f"{live_server.url}/store", params={"graph": "http://example.org/w"},
                     data="<http://a> <http://b> <http://c> .", headers={"Content-Type": "text/turtle"},
                     timeout=30)
    assert r.status_code == 403 and "read-only" in r.json()["message"]
    assert ask(live_server.url) is False


def test_missing_token_is_401(writable):
    r = update(writable.url, INSERT)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = update(writable.url, INSERT, token=TOKEN, scheme="Basic")
    assert r.status_code == 401
    assert ask(writable.url) is False


def test_wrong_token_is_401_invalid_token(writable):
    for wrong in ("nope", TOKEN + "x", TOKEN[:-1], TOKEN.upper()):
        r = update(writable.url, INSERT, token=wrong)
        assert r.status_code == 401, wrong  # RFC 6750 §3.1
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert "not valid" in r.json()["message"]
    assert ask(writable.url) is False


def test_right_token_writes(writable):
    written = update(writable.url, INSERT, token=TOKEN)
    assert written.status_code == 204 and "Content-Type" not in written.headers
    assert ask(writable.url) is True


def test_token_from_a_file(make_app, serve_app, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\nsecond line ignored\n")
    server = serve_app(make_app(update_token_file=str(token_file)))
    assert update(server.url, INSERT, token="second line ignored").status_code == 401
    assert update(server.url, INSERT, token="from-a-file").status_code == 204
    assert ask(server.url) is True


def test_unreadable_token_file_refuses_writes(make_app, serve_app, tmp_path):
    server = serve_app(make_app(update_token_file=str(tmp_path / "missing")))
    r = update(server.url, INSERT, token="x")
    assert r.status_code == 503 and "token file" in r.json()["message"]


def test_failing_update_changes_nothing(writable):
    """Two operations in one request: the second fails, so the first is rolled back."""
    text = INSERT + " ;\nCLEAR GRAPH <http://example.org/does-not-exist>"
    r = update(writable.url, text, token=TOKEN)
    assert r.status_code == 400 and "changed nothing" in r.json()["message"]
    assert ask(writable.url) is False


def test_malformed_update_changes_nothing(writable):
    r = update(writable.url, INSERT + " ; INSERT DATA { <http://a> }", token=TOKEN)
    assert r.status_code == 400 and "error at" in r.json()["message"]
    assert ask(writable.url) is False


def test_using_graph_uri_scopes_the_where_clause(writable):
    setup = ("INSERT DATA { GRAPH <http://example.org/g1> { <http://example.org/x> a <http://example.org/T> } "
             "GRAPH <http://example.org/g2> { <http://example.org/y> a <http://example.org/T> } }")
    assert update(writable.url, setup, token=TOKEN).status_code == 204
    copy = ("INSERT { GRAPH <http://example.org/out> { ?s a <http://example.org/Copied> } } "
            "WHERE { ?s a <http://example.org/T> }")
    r = requests.post(f"{writable.url}/sparql", params={"using-graph-uri": "http://example.org/g1"},
                      data=copy.encode(), headers={"Content-Type": "application/sparql-update",
                                                   "Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 204
    out = "ASK { GRAPH <http://example.org/out> { <http://example.org/%s> ?p ?o } }"
    assert ask(writable.url, out % "x") is True
    assert ask(writable.url, out % "y") is False  # g2 was outside the protocol dataset


def test_unexported_writes_are_kept_until_exported(store_copy, run_cli, tmp_path):
    import pyoxigraph as ox

    app = create_app({"store": store_copy, "auto_build": False, "update_token": TOKEN})
    client = app.test_client()
    r = client.post("/sparql", data=INSERT.encode(), content_type="application/sparql-update",
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 204
    app.extensions["ssikg.store"].close()
    assert json.loads((store_copy / "meta.json").read_text())["unexported_writes"] >= 1

    refused = run_cli("build", "--store", str(store_copy))
    assert refused.returncode == 1
    assert "not exported" in refused.stderr and "--force" in refused.stderr

    dump = tmp_path / "dump.nq"
    exported = run_cli("export", "--store", str(store_copy), "--format", "nquads", "-o", str(dump))
    assert exported.returncode == 0, exported.stderr
    quads = list(ox.parse(path=str(dump), format=ox.RdfFormat.N_QUADS))
    assert any(q.graph_name == ox.NamedNode("http://example.org/w") for q in quads)
    assert json.loads((store_copy / "meta.json").read_text())["unexported_writes"] == 0


def test_a_store_version_is_never_reused_after_export_and_restart(store_copy):
    """ETags are made of the version: one seen before a write must never name the content
    after it, not even once the writes are exported (the count reset) and the server restarted."""
    from ssikg.store import open_store

    store = open_store(store_copy)
    built = store.version
    store.update(INSERT)
    written = store.version
    assert written != built
    store.mark_exported()
    store.close()
    reopened = open_store(store_copy)
    assert reopened.version == written  # same content, same version
    reopened.update(INSERT.replace("http://example.org/a", "http://example.org/a2"))
    again = reopened.version
    reopened.close()
    assert again not in (built, written)
    memory = open_store(store_copy, in_memory=True)
    assert memory.version == again  # the copy starts with the disk's content
    memory.update(INSERT.replace("http://example.org/a", "http://example.org/a3"))
    lost = memory.version
    memory.close()
    later = open_store(store_copy, in_memory=True)  # the in-memory write is gone: so is its version
    later.update(INSERT.replace("http://example.org/a", "http://example.org/a4"))
    assert later.version != lost
    later.close()


_SLOW_WRITER = """
import sys
from ssikg.store import open_store
store = open_store(sys.argv[1])
print("writing", flush=True)
store.update('INSERT { GRAPH <http://example.org/w> { ?a <http://example.org/p> ?b } } '
             'WHERE { GRAPH ?g { ?a ?p ?o } GRAPH ?h { ?b ?q ?r } FILTER(STR(?o) = CONCAT(STR(?r), "never")) }')
print("returned", flush=True)
"""


def test_a_write_counts_as_unexported_before_the_engine_commits_it(store_copy, run_cli):
    """The engine may commit a large write well before it returns (seen: seconds, in a
    server): a process killed in between leaves the write in the store, so the write must
    already be counted on disk while it runs, or a build would silently discard it."""
    import subprocess
    import sys
    import time

    before = json.loads((store_copy / "meta.json").read_text())
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(store_copy)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.5)  # into the evaluation of the update, seconds before it can commit
        assert writer.poll() is None, "the update finished too soon to be observed"
        during = json.loads((store_copy / "meta.json").read_text())
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert during["unexported_writes"] == before["unexported_writes"] + 1
    assert during["last_write_at"] is not None and during["writes_total"] == before["writes_total"] + 1
    refused = run_cli("build", "--store", str(store_copy))  # it may have landed: keep it
    assert refused.returncode == 1 and "not exported" in refused.stderr


def test_a_refused_write_is_not_counted(store_copy):
    """Malformed, or failing as it runs (the engine then aborts the whole update): nothing was
    written, so nothing is left to export and the version stays."""
    from ssikg.store import open_store

    store = open_store(store_copy)
    version = store.version
    with pytest.raises(SyntaxError):
        store.update("INSERT DATA { oops")
    with pytest.raises(RuntimeError):
        store.update(INSERT + " ; DROP GRAPH <http://example.org/never-made>")
    assert store.version == version
    store.close()
    meta = json.loads((store_copy / "meta.json").read_text())
    assert meta["unexported_writes"] == 0 and meta["last_write_at"] is None and meta["writes_total"] == 0


def test_two_builds_of_the_same_sources_written_alike_never_share_a_version(tmp_path):
    """The version names which writes, not only how many: after 'ssikg build --force' (or on two
    copies of one build), a first write must not take the ETags of the previous build's first
    write, or a client holding one gets a 304 for different content."""
    from ssikg.settings import PROJECT_ROOT
    from ssikg.store import build_store, open_store

    path = tmp_path / "store"
    versions = []
    for label in ("first build", "second build"):
        build_store(path, PROJECT_ROOT, force=True)
        store = open_store(path)
        unwritten = store.version
        store.update(INSERT.replace('"c"', f'"{label}"'))  # different content, one write each
        versions.append((unwritten, store.version))
        store.close()
    (built_a, written_a), (built_b, written_b) = versions
    assert built_a == built_b  # the same sources, unwritten: the same content and version
    assert written_a != written_b


@pytest.fixture
def run_cli():
    from conftest import run_cli as run

    return run


def test_validate_on_write_refuses_a_shape_breaking_update(make_app, serve_app):
    """With ``validate_on_write`` the validation engineer's check runs before the commit."""
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True))
    post = "<https://w3id.org/ssikg/id/orphan-post>"
    text = ("INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/editorial> { "
            f"{post} a <http://www.w3.org/ns/org#Post> }} }}")
    r = update(server.url, text, token=TOKEN)
    assert r.status_code == 422 and "unchanged" in r.json()["message"]
    assert ask(server.url, f"ASK {{ {post} ?p ?o }}") is False


def test_validate_on_write_refuses_writes_to_a_store_above_validate_max_triples(make_app, serve_app):
    """Each checked write validates the whole store: above validate_max_triples (minutes and
    gigabytes at a million triples) the write is refused at once, in JSON, and not made."""
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True, validate_max_triples=100))
    text = ('INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/editorial> { '
            '<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/2004/02/skos/core#note> "n" } }')
    r = update(server.url, text, token=TOKEN)
    assert r.status_code == 413 and "validate_max_triples" in r.json()["message"]
    assert "not made" in r.json()["message"]
    put = requests.put(f"{server.url}/store", params={"graph": "http://example.org/g"},
                       data="<http://example.org/a> <http://example.org/b> \"c\" .", timeout=60,
                       headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"})
    assert put.status_code == 413
    assert ask(server.url, 'ASK { ?s <http://www.w3.org/2004/02/skos/core#note> "n" }') is False
    assert ask(server.url, "ASK { GRAPH <http://example.org/g> { ?s ?p ?o } }") is False


def test_validate_on_write_refuses_a_shape_breaking_dataset_load(make_app, serve_app):
    """A TriG POSTed to /store without ?graph is checked as a whole, like any other write."""
    server = serve_app(make_app(update_token=TOKEN, validate_on_write=True))
    post = "<https://w3id.org/ssikg/id/orphan-post>"
    trig = (f"<https://w3id.org/ssikg/graph/editorial> {{ {post} a <http://www.w3.org/ns/org#Post> }}\n"
            "<http://example.org/w> { <http://example.org/a> <http://example.org/b> \"c\" }")
    r = requests.post(f"{server.url}/store", data=trig, timeout=120, headers={
        "Content-Type": "application/trig", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 422 and "unchanged" in r.json()["message"]
    assert r.json()["message"].startswith("graph store POST refused")  # named as the write it was
    assert ask(server.url, f"ASK {{ {post} ?p ?o }}") is False and ask(server.url) is False

"""The home page on a large store: what it shows, and where its counts and lists come from.

Counting quads per graph and ordering every post by label take about a second at 1e6 quads,
so the first view keeps both with the build (``summaries.json``, :meth:`GraphStore.remember`),
and every process serving that build shows them until its first write; after a write the
page reads the store again.  The build itself does not compute them (it would slow every
build by a quarter at 1e6).  The page is the same either way: the counts are the store's
per-graph counts, before and after writes.
Over real loopback servers and real on-disk stores built from the project's sources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading

import pytest
import requests

from ssikg import linked_data as ld
from ssikg.app import create_app
from ssikg.memo import memos
from ssikg.namespaces import GRAPH
from ssikg.store import SUMMARIES_FILE
from ssikg.views.resources import HOME_SUMMARY

TIMEOUT = 60
TOKEN = "t"
EDITORIAL = GRAPH + "editorial"
REMOTE = os.environ.get("SSIKG_TEST_BACKEND") == "oxigraph"
embedded_only = pytest.mark.skipif(REMOTE, reason="the build's record is kept by the embedded store")


def shown_graph_sizes(html: str) -> dict[str, int]:
    """The page's table of graphs: short name -> triples."""
    rows = re.findall(r'<tr><td><a href="[^"]*">([^<]+)</a></td><td class="num">(\d+)</td></tr>', html)
    assert rows, "no graph table on the home page"
    return {name: int(size) for name, size in rows}


def shown_list(html: str, name: str) -> set[str]:
    """The IRIs (as linked from the page) of one of the page's lists."""
    found = re.search(rf'<ul class="{name}">(.*?)</ul>', html, re.S)
    assert found, f"no {name} list on the home page"
    return set(re.findall(r'<a href="([^"]+)"', found.group(1)))


def store_graph_sizes(store) -> dict[str, int]:
    """Quads per named graph (an empty one too), counted in the store now (short names, as the page)."""
    rows = ld.select(store, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
    sizes = {ld.graph_short_name(graph): 0 for graph in store.named_graphs()}
    return {**sizes, **{ld.graph_short_name(row["g"].value): int(row["n"].value) for row in rows}}


def home(server, lang: str = "fr") -> str:
    r = requests.get(f"{server.url}/?lang={lang}", timeout=TIMEOUT)
    assert r.status_code == 200
    return r.text


def add_to_editorial(server, triples: int) -> None:
    body = "".join(f"<http://example.org/s{i}> <http://example.org/p> {i} .\n" for i in range(triples))
    r = requests.post(f"{server.url}/store", params={"graph": EDITORIAL}, data=body.encode(),
                      headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"},
                      timeout=TIMEOUT)
    assert r.status_code in (201, 204), r.text


def test_the_counts_shown_are_the_stores_per_graph_counts_before_and_after_a_write(make_app, serve_app):
    app = make_app(update_token=TOKEN)
    server = serve_app(app)
    store = app.extensions["ssikg.store"]
    before = store_graph_sizes(store)
    assert before.get("editorial")
    for lang in ("fr", "en"):
        assert shown_graph_sizes(home(server, lang)) == before, lang
    add_to_editorial(server, 3)
    after = store_graph_sizes(store)
    assert after["editorial"] == before["editorial"] + 3
    for lang in ("fr", "en"):
        assert shown_graph_sizes(home(server, lang)) == after, lang


def read_only_app(store_path, **settings):
    return create_app({"store": store_path, "auto_build": False, "read_only": True, **settings})


@embedded_only
def test_a_first_view_keeps_the_counts_and_lists_with_the_build_for_every_process(store_copy, serve_app):
    assert not (store_copy / SUMMARIES_FILE).exists()  # the build computes none of it
    first, second = read_only_app(store_copy), read_only_app(store_copy)
    try:
        page = home(serve_app(first))
        kept = json.loads((store_copy / SUMMARIES_FILE).read_text())["entries"]
        store = first.extensions["ssikg.store"]
        assert {name: n for name, _iri, n in kept[HOME_SUMMARY]["graph_sizes"]} == store_graph_sizes(store)
        for pattern in ld.LISTINGS.values():  # the lists of the language viewed, as the store orders them
            live = [row["x"].value for row in ld.select(store, ld.first_listed_query(pattern, "fr"))]
            assert live and live in kept.values()
        other = second.extensions["ssikg.store"]  # another process serving the same build
        assert other.recall(HOME_SUMMARY) == kept[HOME_SUMMARY]
        assert home(serve_app(second)) == page
    finally:
        for app in (first, second):
            app.extensions["ssikg.store"].close()


@embedded_only
@pytest.mark.parametrize("in_memory", [False, True], ids=["on-disk", "in-memory"])
def test_the_page_shows_what_the_build_keeps_until_the_first_write(store_copy, serve_app, in_memory):
    """What is kept is altered here (one graph's size, every list cut to one entry) so that
    the page shows where its figures come from: what is kept while unwritten, the store after."""
    viewer = read_only_app(store_copy)
    try:
        home(serve_app(viewer))
    finally:
        viewer.extensions["ssikg.store"].close()
    kept = json.loads((store_copy / SUMMARIES_FILE).read_text())
    for row in kept["entries"][HOME_SUMMARY]["graph_sizes"]:
        if row[0] == "editorial":
            row[2] = 7
    kept["entries"] = {name: value[:1] if isinstance(value, list) else value
                       for name, value in kept["entries"].items()}
    (store_copy / SUMMARIES_FILE).write_text(json.dumps(kept))
    app = create_app({"store": store_copy, "auto_build": False, "update_token": TOKEN, "in_memory": in_memory})
    try:
        server = serve_app(app)
        page = home(server)
        assert shown_graph_sizes(page)["editorial"] == 7
        assert all(len(shown_list(page, name)) == 1 for name in ld.LISTINGS)
        add_to_editorial(server, 1)
        store = app.extensions["ssikg.store"]
        page = home(server)
        assert shown_graph_sizes(page) == store_graph_sizes(store)
        for name, pattern in ld.LISTINGS.items():
            first = [row["x"].value for row in ld.select(store, ld.first_listed_query(pattern, "fr"))]
            assert len(first) > 1 and len(shown_list(page, name)) == len(first), name
        assert store.recall(HOME_SUMMARY) is None  # written: nothing kept is read any more
    finally:
        app.extensions["ssikg.store"].close()


@embedded_only
def test_what_another_build_kept_is_not_used(store_copy, serve_app):
    """The file names its build: summaries kept for another build (the store path moved on,
    or an old build's reader still writes) are ignored."""
    app = read_only_app(store_copy)
    try:
        expected = home(serve_app(app))
    finally:
        app.extensions["ssikg.store"].close()
    kept = json.loads((store_copy / SUMMARIES_FILE).read_text())
    kept["build"] = "another:build"
    kept["entries"][HOME_SUMMARY]["graph_sizes"] = [["editorial", EDITORIAL, 7]]
    (store_copy / SUMMARIES_FILE).write_text(json.dumps(kept))
    again = read_only_app(store_copy)
    try:
        assert again.extensions["ssikg.store"].recall(HOME_SUMMARY) is None
        assert home(serve_app(again)) == expected
    finally:
        again.extensions["ssikg.store"].close()


def test_first_views_at_once_make_the_page_once_and_share_its_counts(make_app, serve_app):
    app = make_app()
    server = serve_app(app)
    start = threading.Barrier(6)
    statuses = []

    def first_view():
        start.wait()
        statuses.append(requests.get(f"{server.url}/?lang=en", timeout=TIMEOUT).status_code)

    threads = [threading.Thread(target=first_view) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    assert memos(app)["home-page"].computed == 1  # the others waited for it
    home(server, "fr")
    assert memos(app)["home-page"].computed == 2  # another language: its own lists...
    assert memos(app)["home-summary"].computed == 1  # ...and the same counts


def test_a_build_without_kept_summaries_shows_the_same_page(make_app, serve_app, built_store, tmp_path):
    """A build no page has viewed yet (or whose summaries are lost) counts in the store."""
    app = make_app()
    expected = home(serve_app(app))
    target = tmp_path / "unviewed"
    shutil.copytree(built_store.resolve(), target)
    (target / SUMMARIES_FILE).unlink(missing_ok=True)
    bare = create_app({"store": target, "auto_build": False})
    try:
        assert home(serve_app(bare)) == expected
    finally:
        bare.extensions["ssikg.store"].close()

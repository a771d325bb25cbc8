"""What pages keep between requests (:mod:`ssikg.memo`), and revalidations that do no work.

The chart, home, ontology and service-description contents are computed once per
store version (and language), whatever else a request varies; a client holding a
page's ETag gets its 304 before anything is read from the store.  Observed through
the app's memos (:func:`ssikg.memo.memos`), over a real loopback server.
"""

from __future__ import annotations

import shutil
import threading
from urllib.parse import quote

import pyoxigraph as ox
import requests
from conftest import require_tool

from ssikg import http
from ssikg.memo import Memo, memos
from ssikg.namespaces import ID

TIMEOUT = 60
UNITS = ("ssi-be", "dcis")


def computed(app, name: str) -> int:
    memo = memos(app).get(name)
    return memo.computed if memo is not None else 0


def write(server, token: str = "t") -> None:
    r = requests.post(f"{server.url}/sparql", data={"update": "INSERT DATA { GRAPH <http://example.org/g> "
                                                    "{ <http://example.org/a> <http://example.org/b> 1 } }"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert r.status_code == 204


def test_memo_keeps_the_most_recently_used_entries():
    memo = Memo(maxsize=2)
    assert memo.get("a", lambda: 1) == 1 and memo.get("b", lambda: 2) == 2
    assert memo.get("a", lambda: 99) == 1  # kept: not computed again, and now the most recent
    assert memo.get("c", lambda: 3) == 3
    assert len(memo) == 2 and memo.computed == 3
    assert memo.get("b", lambda: 20) == 20  # "b" was the least recently used: dropped


def test_concurrent_chart_requests_never_fail_and_read_each_part_once(make_app, serve_app):
    require_tool(shutil.which("dot") is not None, "Graphviz dot")
    app = make_app()
    server = serve_app(app)
    assert requests.get(f"{server.url}/org-chart.svg?lang=en", timeout=TIMEOUT).status_code == 200
    # more distinct focus values than the drawn-chart memo holds, each asked by several threads
    foci = [ID + unit for unit in UNITS] + [f"http://example.org/not-a-unit/{i}" for i in range(80)]
    statuses: dict[str, set[int]] = {focus: set() for focus in foci}
    lock = threading.Lock()

    def client(offset: int) -> None:
        with requests.Session() as session:
            for i in range(len(foci)):
                focus = foci[(i + offset) % len(foci)]
                path = "/org-chart.svg" if i % 2 else "/org-chart"
                r = session.get(f"{server.url}{path}?lang=en&focus={quote(focus, safe='')}", timeout=TIMEOUT)
                with lock:
                    statuses[focus].add(r.status_code)

    threads = [threading.Thread(target=client, args=(n * 11,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for unit in UNITS:
        assert statuses[ID + unit] == {200}, unit
    assert all(statuses[focus] == {404} for focus in foci[len(UNITS):]), statuses
    # each unit's part is read on its own (its neighbourhood only), the whole chart once;
    # unknown foci are answered by one ASK and read (kept) nothing
    assert len(memos(app)["chart-data"]) == 1 + len(UNITS)
    assert len(memos(app)["chart-svg"]) <= 2 * (len(UNITS) + 1)  # page and SVG link variants
    before = computed(app, "chart-data")
    assert requests.get(f"{server.url}/org-chart?lang=en", timeout=TIMEOUT).status_code == 200
    assert computed(app, "chart-data") == before  # kept
    assert requests.get(f"{server.url}/org-chart?lang=fr", timeout=TIMEOUT).status_code == 200
    assert computed(app, "chart-data") == before + 1  # another language, another reading


def test_home_page_is_made_once_per_store_version(make_app, serve_app):
    app = make_app(update_token="t")
    server = serve_app(app)
    for _ in range(3):
        assert requests.get(f"{server.url}/?lang=en", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{server.url}/query", timeout=TIMEOUT).status_code == 200
    assert computed(app, "home-page") == 1
    assert computed(app, "stored-query-texts") == 1  # bound once for the home and query pages
    write(server)
    page = requests.get(f"{server.url}/?lang=en", timeout=TIMEOUT)
    assert page.status_code == 200 and computed(app, "home-page") == 2


def test_a_revalidated_page_is_answered_before_any_work(make_app, serve_app):
    """A client holding the current ETag gets the 304 with no page content made: on a fresh
    app, the memo each page fills stays as it was."""
    require_tool(shutil.which("dot") is not None, "Graphviz dot")
    app = make_app()
    server = serve_app(app)
    version = app.extensions["ssikg.store"].version
    unit = ID + "ssi-be"
    cases = (("/?lang=en", ("home", "en", "en"), "home-page"),
             ("/ontology.html?lang=en", ("ontology", "html", "en"), "ontology-page"),
             ("/org-chart?lang=en", ("chart-page", "en", "", "en"), "chart-data"),
             (f"/org-chart.svg?lang=en&focus={quote(unit, safe='')}", ("chart", "en", unit, "en"), "chart-svg"))
    for path, parts, memo in cases:
        before = computed(app, memo)
        held = http.version_etag(version, *parts)
        r = requests.get(server.url + path, headers={"If-None-Match": f'W/"{held}"'}, timeout=TIMEOUT)
        assert r.status_code == 304 and r.content == b"", path
        assert computed(app, memo) == before, path
        full = requests.get(server.url + path, timeout=TIMEOUT)
        assert full.status_code == 200 and full.headers["ETag"] == f'W/"{held}"', path
        assert computed(app, memo) == before + 1, path


def test_early_304s_carry_the_headers_of_their_200(live_server):
    paths = ("/", "/?lang=en", "/id/dcis.html", "/id/dcis.ttl", "/ontology", "/ontology.ttl", "/org-chart",
             "/org-chart.svg?lang=en")
    for path in paths:
        first = requests.get(live_server.url + path, headers={"Accept-Encoding": "gzip"}, timeout=TIMEOUT)
        if path.startswith("/org-chart") and first.status_code == 503:
            continue  # no Graphviz here
        assert first.status_code == 200, path
        again = requests.get(live_server.url + path, timeout=TIMEOUT, headers={
            "Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path
        for name in ("ETag", "Cache-Control", "Link", "Content-Location"):
            assert again.headers.get(name) == first.headers.get(name), (path, name)
        assert set(again.headers["Vary"].replace(" ", "").split(",")) == set(
            first.headers["Vary"].replace(" ", "").split(",")), path


def test_entity_pages_have_an_etag_each(live_server):
    tags = {requests.get(f"{live_server.url}/id/{slug}.html?lang=en", timeout=TIMEOUT).headers["ETag"]
            for slug in UNITS}
    assert len(tags) == len(UNITS)


def test_service_description_is_described_once_per_version_and_format(make_app, serve_app):
    app = make_app(update_token="t")
    server = serve_app(app)
    url = f"{server.url}/sparql"
    version = app.extensions["ssikg.store"].version
    # held before anything is described: nothing made, nothing kept
    etag = http.version_etag(version, "sd", "turtle", "True", "False", url)
    r = requests.get(url, headers={"Accept": "text/turtle", "If-None-Match": f'W/"{etag}"'}, timeout=TIMEOUT)
    assert r.status_code == 304 and r.headers["Cache-Control"] == http.READ_CACHE_CONTROL
    assert computed(app, "service-description") == 0
    bodies = {requests.get(url, headers={"Accept": "text/turtle"}, timeout=TIMEOUT).content for _ in range(3)}
    assert len(bodies) == 1 and computed(app, "service-description") == 1
    assert b"SPARQL11Update" in bodies.pop()  # a token is configured: writes are described
    requests.get(url, headers={"Accept": "application/ld+json"}, timeout=TIMEOUT)
    assert computed(app, "service-description") == 2
    write(server)
    assert requests.get(url, headers={"Accept": "text/turtle"}, timeout=TIMEOUT).status_code == 200
    assert computed(app, "service-description") == 3


class ReadAnswer(list):
    """A query's answer read to the end (solutions keep their ``variables``)."""

    def __init__(self, answer):
        super().__init__(answer)
        self.variables = getattr(answer, "variables", None)


def test_a_page_read_while_a_write_lands_is_never_older_than_its_etag(make_app, serve_app):
    """The version an ETag names is read before the page's content: a write landing between
    the two makes the body older than the store, never older than its ETag, so revalidating
    gets the new content (a 304 there would keep the pre-write page until the next write)."""
    app = make_app(update_token="t")
    store = app.extensions["ssikg.store"]
    server = serve_app(app)
    real_query = store.query

    def query_then_write(*args, **kwargs):  # the write lands once the page has read the store
        answer = real_query(*args, **kwargs)
        if isinstance(answer, ox.QueryBoolean):  # "is there such a resource?": not the content yet
            return answer
        answer = ReadAnswer(answer)  # evaluation is lazy: read it all before the write
        del store.query
        store.update("INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/editorial> { "
                     '<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/2004/02/skos/core#altLabel> "ZZ-late"@fr } }')
        return answer

    for path in ("/id/dcis.ttl", "/id/dcis.jsonld"):
        store.query = query_then_write
        first = requests.get(server.url + path, timeout=TIMEOUT)
        assert first.status_code == 200 and "ZZ-late" not in first.text, path
        again = requests.get(server.url + path, headers={"If-None-Match": first.headers["ETag"]}, timeout=TIMEOUT)
        assert again.status_code == 200 and "ZZ-late" in again.text, path
        store.update('DELETE WHERE { GRAPH ?g { ?s ?p "ZZ-late"@fr } }')


def _sources_copy(tmp_path):
    from ssikg.settings import PROJECT_ROOT

    sources = tmp_path / "sources"
    for folder in ("ontology", "data", "queries"):
        shutil.copytree(PROJECT_ROOT / folder, sources / folder)
    return sources


def test_edited_sources_change_what_is_kept_for_a_store_version(make_app, serve_app, tmp_path):
    """Stored queries and the validation rules are read from the source folder, not the build:
    a process started after a query file was edited answers differently under the same store
    version, so its ETags must differ (a 304 would keep the old answer); a report kept for a
    store version is not given for a page copy edited since."""
    sources = _sources_copy(tmp_path)
    path = "/api/queries/cq32-network-embassy-count.json"
    before = serve_app(make_app(source_dir=sources))
    old = requests.get(before.url + path, timeout=TIMEOUT)
    listing = requests.get(before.url + "/api/queries", timeout=TIMEOUT)
    assert requests.get(before.url + "/validate", headers={"Accept": "application/json"},
                        timeout=TIMEOUT).json()["conforms"] is True

    query_file = sources / "queries" / "cq32-network-embassy-count.rq"
    query_file.write_text(query_file.read_text().replace('= "fr")', '= "en")'))
    after = serve_app(make_app(source_dir=sources))
    new = requests.get(after.url + path, headers={"If-None-Match": old.headers["ETag"]}, timeout=TIMEOUT)
    assert new.status_code == 200 and new.content != old.content
    relisted = requests.get(after.url + "/api/queries", headers={"If-None-Match": listing.headers["ETag"]},
                            timeout=TIMEOUT)
    assert relisted.status_code == 200

    page = sources / "data" / "source" / "page.txt"
    page.chmod(0o644)
    page.write_text(page.read_text().replace("Belgique", "Belgium"))
    report = requests.get(before.url + "/validate", headers={"Accept": "application/json"}, timeout=TIMEOUT).json()
    assert report["conforms"] is False  # the quotes no longer match the page copy

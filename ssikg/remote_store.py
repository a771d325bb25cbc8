"""A :class:`GraphStore` over a remote SPARQL 1.1 engine (oxigraph serve, Virtuoso, Fuseki, ...).

The rest of ssikg does not know which store it has: :class:`RemoteStore`
answers the same calls as the embedded store and returns the same pyoxigraph
result objects (``QuerySolutions`` / ``QueryBoolean`` parsed from the engine's
SPARQL results, ``QueryTriples`` re-read from its N-Triples/Turtle answer).

How the store interface is kept over the SPARQL 1.1 Protocol:

* **Union default graph.**  ssikg queries see the union of all named graphs as
  their default graph.  Engines differ (Oxigraph's default graph is a real,
  separate graph; Virtuoso's is every graph, its own system graphs included),
  so every query is sent with an explicit dataset: one ``default-graph-uri``
  and one ``named-graph-uri`` per named graph the engine lists (cached for
  :data:`CACHE_SECONDS`), engine system graphs left out.  A query that names
  its own dataset (``FROM`` / ``FROM NAMED``) is sent as written.
* **Substitutions** (pre-bound variables) become a ``VALUES`` block placed at
  the start of the query's WHERE group; terms are serialised by pyoxigraph
  (escaped N-Triples syntax), never pasted from user text.
* **Writes** use the Graph Store Protocol when a Graph Store URL is set
  (one PUT per graph: atomic on the engine), else one SPARQL Update request
  (``DROP SILENT`` + ``INSERT DATA``).
* **The default graph is not written.**  It is the union of the named graphs: a
  write into the engine's own default graph (an ``INSERT`` outside any ``GRAPH``,
  ``LOAD`` without ``INTO``, ``… TO DEFAULT``, a Graph Store write to ``?default``)
  would be invisible to every query, so it is refused (400) before it reaches the engine.
* **Errors**: an unreachable engine gives ``SsikgError(502)``, a slow one
  ``SsikgError(504)`` after the configured read timeout, a failing one 502;
  a query the engine calls malformed (HTTP 400) raises ``SyntaxError`` like the
  embedded store, with the engine's message.  Messages meant for clients name
  "the SPARQL backend", never its URL; the URL (credentials redacted) and an
  engine's 5xx message go to the server log only (:func:`redact_url`).
* **Bounded reads.**  With a row cap (``max_rows``, passed by the executor) an
  answer is parsed as it arrives and the connection is closed once one row
  past the cap is read; dumps (:meth:`RemoteStore.quads`) are streamed per graph.
* **Admission.**  Queries not run by the executor (pages) take a slot of the same
  ``max_concurrent_queries`` gate (``query_gate``, shared with the executor).
* **Version.**  Not reliable (``version_is_reliable = False``): the engine's data can
  change behind ssikg's back, so the version moves every :data:`CACHE_SECONDS`
  without asking the engine (memoised pages stay that fresh) and no response over
  it is answered 304 (:mod:`ssikg.http`); ``precondition_version`` (graph list,
  quad count, own writes) names Graph Store representations for ``If-Match``.

It also publishes ``ontology/`` and ``data/`` into an engine
(:func:`publish_sources`, behind ``ssikg build --backend URL``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pyoxigraph as ox
import requests
from requests.adapters import HTTPAdapter

from .errors import SsikgError
from .namespaces import GRAPH
from .sparql_lexer import Token, closing_brace, declared_prefixes, iter_tokens, tokenize
from .store import (
    RESERVED_GRAPHS,
    GraphStore,
    StoreError,
    declares_dataset,
    load_source,
    source_files,
)

log = logging.getLogger("ssikg")

CACHE_SECONDS = 2.0
USER_AGENT = "ssikg-remote-store"

# Graphs an engine keeps for itself; they are not part of ssikg's dataset.
SYSTEM_GRAPHS = frozenset({
    "http://www.openlinksw.com/schemas/virtrdf#",  # Virtuoso: its own RDF views
    "http://www.w3.org/ns/ldp#",  # Virtuoso: LDP vocabulary it preloads
    "http://localuriqaserver/sparql",  # Virtuoso: service description
})

# One Accept per result kind: given both, Virtuoso answers a CONSTRUCT as a results table.
ACCEPT_RESULTS = ("application/sparql-results+json, application/sparql-results+xml;q=0.9, "
                  "text/tab-separated-values;q=0.3")
ACCEPT_GRAPH = "application/n-triples, text/turtle;q=0.9, application/rdf+xml;q=0.5"
ACCEPT = ACCEPT_RESULTS

ENGINE_MESSAGE_LIMIT = 600
ANSWER_LIMIT = 512 << 20  # bytes of one query answer held at once (uncapped answers are read whole)
BACKEND = "the SPARQL backend"  # how client-facing messages name the engine: never by its URL
_EMPTY_GRAPH = "urn:ssikg:empty-dataset"  # a default graph that holds nothing, for an empty engine


@dataclass(frozen=True)
class RemoteConfig:
    """Where the engine is and how to reach it (the ``backend*`` settings)."""

    query_url: str
    update_url: str | None = None
    store_url: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    auth: str = "basic"  # or "digest" (Virtuoso's /sparql-auth)
    timeout: float = 30.0  # read timeout for one call, seconds
    connect_timeout: float = 5.0
    max_concurrent: int | None = None  # the max_concurrent_queries gate pages share (None: no gate)
    queue_timeout: float = 0.0
    retry_after: int = 1

    @classmethod
    def from_settings(cls, settings) -> RemoteConfig:
        timeout = settings.get("backend_timeout") or settings.get("query_timeout") or 30.0
        return cls(query_url=settings["backend"], update_url=settings.get("backend_update_url"),
                   store_url=settings.get("backend_store_url"), user=settings.get("backend_user"),
                   password=settings.get("backend_password"), token=settings.get("backend_token"),
                   auth=settings.get("backend_auth") or "basic", timeout=float(timeout),
                   connect_timeout=min(5.0, float(timeout)),
                   max_concurrent=max(1, int(settings.get("max_concurrent_queries") or 1)),
                   queue_timeout=float(settings.get("queue_timeout") or 0),
                   retry_after=int(settings.get("retry_after") or 1))

    def secrets(self) -> list[str]:
        """Every credential the configuration holds (settings and URL userinfo), for scrubbing logs."""
        found = [self.password, self.token]
        for url in (self.query_url, self.update_url, self.store_url):
            parts = urlsplit(url or "")
            found += [parts.password]
        return [s for s in found if s]


class RemoteStore(GraphStore):
    """The store interface over a SPARQL 1.1 Protocol (+ Graph Store Protocol) engine."""

    kind = "remote"
    # The engine's data can change behind ssikg's back, unseen by any cheap digest: no
    # response made from this store carries a validator (see ssikg.http.validators_apply).
    version_is_reliable = False

    def __init__(self, config: RemoteConfig):
        super().__init__()
        self.config = config
        self.writable = bool(config.update_url or config.store_url)
        self.session = _session(config)
        self._lock = threading.Lock()
        self._writes = 0
        self._graphs: tuple[float, list[str]] | None = None
        self._version: tuple[float, str] | None = None
        self._epoch, self._epoch_started = 0, time.monotonic()
        self._session_id = secrets.token_hex(4)
        self._empty_graph_pattern_works = True
        # Shared with the executor (ssikg.execution): a page's queries and /sparql's take
        # slots of one max_concurrent_queries gate.
        self.query_gate = (threading.BoundedSemaphore(config.max_concurrent)
                           if config.max_concurrent else None)

    def __repr__(self) -> str:
        return f"RemoteStore({redact_url(self.config.query_url)!r})"

    def _scrub(self, text: str) -> str:
        """``text`` without any credential of the configuration (for the server log)."""
        for secret in self.config.secrets():
            text = text.replace(secret, "***")
        return text

    # -- HTTP -------------------------------------------------------------

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call with the configured timeouts; transport failures become 502/504.

        The client's message names the backend generically; the URL (credentials
        redacted) and the transport's own words go to the server log."""
        timeout = min(t for t in (kwargs.pop("timeout", None), self.config.timeout) if t)
        try:
            # Never follow a redirect: requests would resend a POSTed update as a GET without
            # its body, to whatever host the engine names, and report the engine's answer.
            return self.session.request(method, url, timeout=(self.config.connect_timeout, timeout),
                                        allow_redirects=False, **kwargs)
        except requests.ConnectTimeout as exc:
            self._log_failure(method, url, exc)
            raise SsikgError(504, f"{BACKEND} did not accept a connection within "
                                  f"{self.config.connect_timeout:g} s") from None
        except requests.ReadTimeout as exc:
            self._log_failure(method, url, exc)
            raise SsikgError(504, f"{BACKEND} did not answer within {timeout:g} s",
                             extra={"timeout": timeout}) from None
        except requests.ConnectionError as exc:
            self._log_failure(method, url, exc)
            raise SsikgError(502, f"{BACKEND} is unreachable{_errno(exc)}") from None
        except requests.RequestException as exc:
            self._log_failure(method, url, exc)
            raise SsikgError(502, f"{BACKEND} failed{_errno(exc)}") from None

    def _log_failure(self, method: str, url: str, what) -> None:
        log.warning("SPARQL backend %s %s: %s", method, redact_url(url), self._scrub(str(what))[:2000])

    def _check(self, response: requests.Response, what: str, text: str | None = None) -> requests.Response:
        """``response`` when it is a success.  A 400 is the client's malformed text (SyntaxError,
        the engine's message passed on: it is about the client's own text), or, for text that
        is valid SPARQL, the engine's limitation (502 with that message).  Any other status is
        a 502 whose engine message goes to the server log only: a 5xx body may hold anything
        (stack traces, configuration, credentials)."""
        if 200 <= response.status_code < 300:
            return response
        message = self._scrub(_engine_message(response))
        if response.status_code == 400:
            if text is not None and is_valid_sparql(text, update=what == "update"):
                raise SsikgError(502, f"{BACKEND} cannot evaluate this (valid) {what}: {message}",
                                 extra={"backend_status": 400})
            raise SyntaxError(message)  # engines name themselves (Virtuoso: "Virtuoso 37000 Error ...")
        log.warning("SPARQL backend %s answered %s to the %s: %s", redact_url(response.url or ""),
                    response.status_code, what, message)
        limitation = _compiler_refusal(message)
        if limitation and text is not None and is_valid_sparql(text, update=what == "update"):
            raise SsikgError(502, f"{BACKEND} cannot evaluate this (valid) {what}: {limitation}",
                             extra={"backend_status": response.status_code})
        raise SsikgError(502, f"{BACKEND} answered {response.status_code} to the {what} "
                              "(its message is in the server log)",
                         extra={"backend_status": response.status_code})

    # -- reading ------------------------------------------------------------

    def query(self, sparql, *, base_iri=None, default_graphs=None, named_graphs=None,
              substitutions=None, timeout: float | None = None, max_rows: int | None = None,
              admitted: bool = False):
        """The engine's answer, as pyoxigraph objects.

        ``timeout`` (the executor's query deadline) shortens ``backend_timeout``, never
        lengthens it: an engine that has not answered by the smaller of the two is a 504.
        With ``max_rows`` only that many solutions (and one more, to tell a cut) are read.
        ``admitted``: the caller holds a slot of :attr:`query_gate` already (the executor);
        else one is taken for the call, or 503 when none frees in time."""
        text = sparql
        if substitutions:
            text = inject_values(text, substitutions)
        text = with_base(text, base_iri)
        data = [("query", text), *self._dataset(sparql, default_graphs, named_graphs)]
        accept = ACCEPT_GRAPH if query_form(sparql) in {"CONSTRUCT", "DESCRIBE"} else ACCEPT_RESULTS
        with self._slot(admitted):
            return self._ask(data, accept, "query", text, timeout, max_rows=max_rows)

    @contextlib.contextmanager
    def _slot(self, admitted: bool):
        """A slot of the shared query gate for the call (none needed when ``admitted``)."""
        gate = self.query_gate
        if admitted or gate is None:
            yield
            return
        wait = self.config.queue_timeout
        if not (gate.acquire(timeout=wait) if wait else gate.acquire(blocking=False)):
            from .http import count

            count("refusals")
            retry = self.config.retry_after
            raise SsikgError(503, f"the server is already running its maximum of {self.config.max_concurrent} "
                                  f"concurrent queries (waited {wait:g} s for a slot); retry in {retry} s",
                             title="Too busy", headers={"Retry-After": str(retry)}, extra={"retry_after": retry})
        try:
            yield
        finally:
            gate.release()

    def _ask(self, data, accept: str, what: str, text: str | None = None, timeout: float | None = None,
             max_rows: int | None = None):
        """POST a query; its answer read by the deadline and within ANSWER_LIMIT, parsed."""
        deadline = time.monotonic() + min(t for t in (timeout, self.config.timeout) if t)
        response = self._check(self._call("POST", self.config.query_url, data=data, headers={"Accept": accept},
                                          timeout=timeout, stream=True), what, text)
        if max_rows:
            return read_capped(response, deadline, max_rows + 1)
        return parse_response(response, read_answer(response, deadline))

    def _dataset(self, sparql: str, default_graphs, named_graphs) -> list[tuple[str, str]]:
        """Protocol dataset parameters giving the engine the dataset ssikg means."""
        if default_graphs is None and named_graphs is None and declares_dataset(sparql):
            return []
        # the engine's graph list only when one side of the dataset is left to it
        everything = self.named_graphs() if default_graphs is None or named_graphs is None else []
        if default_graphs is None:
            defaults = everything
        else:
            # The engine's own default graph has no IRI: it is left out here.
            defaults = [g for g in default_graphs if g not in ("", None)]
        names = everything if named_graphs is None else list(named_graphs)
        params = [("default-graph-uri", g) for g in defaults or [_EMPTY_GRAPH]]
        params += [("named-graph-uri", g) for g in names or [_EMPTY_GRAPH]]
        return params

    def named_graphs(self) -> list[str]:
        cached = self._graphs
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return list(cached[1])
        graphs = self._list_graphs()
        self._graphs = (time.monotonic(), graphs)
        return list(graphs)

    def _list_graphs(self) -> list[str]:
        # GRAPH ?g {} is cheap on Oxigraph; Virtuoso answers it with an unbound ?g,
        # so fall back to a pattern that touches triples.
        queries = ["SELECT DISTINCT ?g WHERE { GRAPH ?g { } }"] if self._empty_graph_pattern_works else []
        queries.append("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        for text in queries:
            rows = list(self._ask({"query": text}, ACCEPT, "graph listing"))
            if any(row["g"] is None for row in rows):
                self._empty_graph_pattern_works = False
                continue
            return sorted({row["g"].value for row in rows if isinstance(row["g"], ox.NamedNode)}
                          - SYSTEM_GRAPHS)
        return []

    @property
    def keeps_empty_graphs(self) -> bool:
        """Whether the engine lists a graph that holds no triple (sd:EmptyGraphs): those that
        answer ``GRAPH ?g { }`` with their graphs do (Oxigraph); Virtuoso keeps none."""
        with contextlib.suppress(SsikgError, SyntaxError):
            self.named_graphs()
        return self._empty_graph_pattern_works

    def quads(self, graph=None) -> Iterator[ox.Quad]:
        """Every quad of the named graphs (``None``) or of one graph (``""``: the engine's own
        default graph), streamed: each graph is read as the engine sends it (its Graph Store
        GET when ``backend_store_url`` is set, else a SELECT), parsed as it arrives."""
        if graph == "":
            # The engine's own default graph: a query without any dataset parameter.
            return self._stream_graph({"query": "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"}, ox.DefaultGraph())
        if graph is None:
            return itertools.chain.from_iterable(self.quads(name) for name in self.named_graphs())
        node = ox.NamedNode(graph)
        if self.config.store_url:
            return self._stream_store_graph(node)
        data = [("query", "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"), ("default-graph-uri", node.value),
                ("named-graph-uri", _EMPTY_GRAPH)]
        return self._stream_graph(data, node)

    def _stream_graph(self, data, graph_name) -> Iterator[ox.Quad]:
        response = self._check(self._call("POST", self.config.query_url, data=data,
                                          headers={"Accept": ACCEPT_RESULTS}, stream=True), "query")
        with contextlib.closing(response):
            for row in stream_solutions(response):
                yield ox.Quad(row["s"], row["p"], row["o"], graph_name)

    def _stream_store_graph(self, node: ox.NamedNode) -> Iterator[ox.Quad]:
        response = self._call("GET", self.config.store_url, params={"graph": node.value},
                              headers={"Accept": ACCEPT_GRAPH}, stream=True)
        with contextlib.closing(response):
            if response.status_code == 404:
                return  # listed a moment ago, dropped since: nothing to read
            self._check(response, "Graph Store GET")
            for triple in stream_triples(response):
                yield ox.Quad(triple.subject, triple.predicate, triple.object, node)

    def __len__(self) -> int:
        # ungated: an internal count (/health, /metrics), not a client's query
        rows = list(self._ask([("query", "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"),
                               *self._dataset("", None, None)], ACCEPT_RESULTS, "query"))
        return int(rows[0]["n"].value) if rows else 0

    @property
    def precondition_version(self) -> str:
        """A digest of the graph list and the quad count, cached a few seconds, plus local writes:
        what the Graph Store's ETags (for ``If-Match`` on writes) are made of.  It misses a
        change made on the engine directly that keeps the count.

        Never raises: with the engine down it says ``unreachable`` (the query that
        follows fails with 502/504 anyway, so no cache keeps that value)."""
        cached = self._version
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return f"{cached[1]}-{self._writes}"
        try:
            graphs = self.named_graphs()
            count = len(self)
        except (SsikgError, SyntaxError):
            return f"unreachable-{self._writes}"
        digest = hashlib.sha256(f"{count}\n{chr(10).join(graphs)}".encode()).hexdigest()[:16]
        self._version = (time.monotonic(), digest)
        return f"{digest}-{self._writes}"

    @property
    def version(self) -> str:
        """Moves every :data:`CACHE_SECONDS` (and with every local write), asking the engine
        nothing: what is memoised under it (pages, the org chart) is never older than that.
        Not a validator (:attr:`version_is_reliable` is False)."""
        now = time.monotonic()
        if now - self._epoch_started >= CACHE_SECONDS:
            self._epoch, self._epoch_started = self._epoch + 1, now
        return f"remote-{self._session_id}.{self._epoch}-{self._writes}"

    # -- writing ------------------------------------------------------------

    def update(self, sparql, *, base_iri=None) -> None:
        if not self.config.update_url:
            raise StoreError("this remote backend has no update URL (set backend_update_url); it is read-only")
        text = with_base(sparql, base_iri)
        refuse_default_graph_writes(text)
        self._send_update(text)

    def _send_update(self, text: str) -> None:
        """POST an update already checked (or written by this module: named graphs only)."""
        if not self.config.update_url:
            raise StoreError("this remote backend has no update URL (set backend_update_url); it is read-only")
        with self._lock:
            try:
                response = self._call("POST", self.config.update_url, data={"update": text})
                if response.status_code >= 500:
                    self._blame_the_update(response, text)
                self._check(response, "update", text)
            finally:
                self._record_write()

    def _blame_the_update(self, response: requests.Response, text: str) -> None:
        """Raise ValueError (the client's failed update, 400 like the embedded store) when an
        engine's 5xx is the update's own failure: an operation without SILENT on a graph that
        does not exist (DROP, CLEAR, ADD/MOVE/COPY from) or that exists (CREATE), seen on the
        engine's graph list.  Else return: the 5xx is the engine's."""
        try:
            existing = set(self._list_graphs())
        except (SsikgError, SyntaxError):
            return
        reason = failed_graph_precondition(text, existing)
        if reason:
            log.info("SPARQL backend refused an update (%s %s): %s", response.status_code,
                     redact_url(response.url or ""), self._scrub(_engine_message(response)))
            raise ValueError(reason)

    def replace_graph(self, graph: str, triples: Iterable) -> None:
        if graph in ("", None):
            raise DefaultGraphWrite("a Graph Store write to the default graph")
        body = ntriples(triples)
        if self.config.store_url:
            with self._lock:
                try:
                    self._check(self._call("PUT", self.config.store_url, params=_graph_param(graph),
                                           data=body, headers={"Content-Type": "application/n-triples"}),
                                "Graph Store PUT")
                finally:
                    self._record_write()
            return
        self._send_update(f"DROP SILENT GRAPH <{ox.NamedNode(graph).value}> ;\n{_insert(graph, body.decode())}")

    def add_triples(self, graph: str, triples: Iterable) -> None:
        if graph in ("", None):
            raise DefaultGraphWrite("a Graph Store write to the default graph")
        body = ntriples(triples)
        if self.config.store_url:
            with self._lock:
                try:
                    self._check(self._call("POST", self.config.store_url, params=_graph_param(graph),
                                           data=body, headers={"Content-Type": "application/n-triples"}),
                                "Graph Store POST")
                finally:
                    self._record_write()
            return
        self._send_update(_insert(graph, body.decode()))

    def drop_graph(self, graph: str) -> None:
        if self.config.update_url:
            super().drop_graph(graph if graph in ("", None) else ox.NamedNode(graph).value)
            return
        with self._lock:
            try:
                response = self._call("DELETE", self.config.store_url, params=_graph_param(graph))
                if response.status_code != 404:  # already gone is fine
                    self._check(response, "Graph Store DELETE")
            finally:
                self._record_write()

    def create_graph(self, graph: str) -> None:
        if self.config.update_url:
            super().create_graph(ox.NamedNode(graph).value)
        elif graph not in self.named_graphs():  # a Graph Store PUT of nothing creates it
            self.replace_graph(graph, [])

    def _record_write(self) -> None:
        self._writes += 1
        self._graphs = None
        self._version = None

    def close(self) -> None:
        self.session.close()


# ---------------------------------------------------------------------------
# HTTP helpers


def _session(config: RemoteConfig) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # no proxy from the environment between ssikg and its engine
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.user:
        if config.auth == "digest":
            session.auth = requests.auth.HTTPDigestAuth(config.user, config.password or "")
        else:
            session.auth = (config.user, config.password or "")
    return session


def _errno(exc: Exception) -> str:
    """``: [Errno 111] Connection refused`` when the transport failed with an OS error, else
    nothing: urllib3's full text names hosts and URLs, which stay in the server log."""
    match = re.search(r"\[Errno [^\]]*\] [^')\"]*", str(exc))
    return f": {match.group(0).strip()}" if match else ""


def redact_url(url: str) -> str:
    """``url`` for a log line: user name and password replaced by ``***``, query string
    values dropped (an API key may ride there)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<an unreadable URL>"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc += f":{port}"
    if parts.username is not None or parts.password is not None:
        netloc = "***@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


# Virtuoso answers 500, not 400, when its SPARQL compiler will not run a valid query (SQL state
# 37000: "transitive start not given", SP031…): that message is about the client's query, so it is
# passed on — up to where Virtuoso echoes the query it compiled.
_COMPILER_REFUSAL = re.compile(r"^(Virtuoso 37000 Error [A-Z]{2}[0-9.]*: .*?)(?: SPARQL query:.*)?$")


def _compiler_refusal(message: str) -> str | None:
    match = _COMPILER_REFUSAL.match(message)
    return match.group(1)[:300] if match else None


def _engine_message(response: requests.Response) -> str:
    # at most 64 KiB of an error body: it may be streamed, and an engine may send anything
    try:
        head = next(response.iter_content(64 * 1024), b"")
    except (requests.RequestException, RuntimeError):
        head = b""
    text = head.decode(response.encoding or "utf-8", "replace").strip() or response.reason or ""
    text = re.sub(r"<[^>]+>", " ", text) if "html" in response.headers.get("Content-Type", "") else text
    text = re.sub(r"\s+", " ", text).strip()
    return text[:ENGINE_MESSAGE_LIMIT] or response.reason or "no message"


class DefaultGraphWrite(SsikgError):
    """A write into the engine's own default graph, refused: no query would see it."""

    def __init__(self, what: str):
        super().__init__(
            400, f"{what} is refused over this remote SPARQL backend: the default graph of every "
                 "query is the union of the named graphs, so triples written into the engine's own "
                 "default graph would be invisible. Write them into a named graph instead "
                 "(INSERT DATA { GRAPH <iri> { … } }, or /store?graph=iri)",
            title="Default graph not writable")


def refuse_default_graph_writes(update: str) -> None:
    """Raise :class:`DefaultGraphWrite` when ``update`` would add triples to the default graph:
    an INSERT (DATA or template) with a triple outside any ``GRAPH`` (and no ``WITH``),
    ``LOAD`` without ``INTO``, or ``ADD``/``COPY``/``MOVE`` ``… TO DEFAULT``."""
    tokens = tokenize(update)
    with_graph = False
    for index, token in enumerate(tokens):
        if token.depth:
            continue
        if token.text == ";":
            with_graph = False
        elif token.keyword("WITH"):
            with_graph = True
        elif token.keyword("INSERT"):
            data = index + 1 < len(tokens) and tokens[index + 1].keyword("DATA")
            opening = next((t for t in tokens[index + 1:] if t.text == "{"), None)
            if opening is not None and (data or not with_graph) and _default_triples(tokens, opening):
                raise DefaultGraphWrite("an INSERT outside GRAPH { … }")
        elif token.keyword("LOAD"):
            rest = itertools.takewhile(lambda t: t.depth or t.text != ";", tokens[index + 1:])
            if not any(t.keyword("INTO") for t in rest):
                raise DefaultGraphWrite("LOAD without INTO GRAPH")
        elif token.keyword("TO") and index + 1 < len(tokens) and tokens[index + 1].keyword("DEFAULT"):
            raise DefaultGraphWrite("a copy TO DEFAULT")


def _default_triples(tokens: list[Token], opening: Token) -> bool:
    """Whether the quad block opened by ``opening`` holds a triple outside ``GRAPH … { }``."""
    start = tokens.index(opening) + 1
    inside = opening.depth + 1
    index = start
    while index < len(tokens):
        token = tokens[index]
        if token.text == "}" and token.depth == opening.depth:
            return False
        if token.depth == inside:
            if token.keyword("GRAPH"):
                block = next((t for t in tokens[index + 1:] if t.text == "{"), None)
                closing = closing_brace(tokens, block) if block is not None else None
                if closing is None:
                    return False  # malformed: the engine says so
                index = tokens.index(closing) + 1
                continue
            if token.text != ".":
                return True
        index += 1
    return False


_GRAPH_OPERATIONS = ("DROP", "CLEAR", "CREATE", "ADD", "MOVE", "COPY")


def failed_graph_precondition(update: str, existing: set[str]) -> str | None:
    """Why ``update`` fails on a dataset whose named graphs are ``existing``: its first
    operation without SILENT that needs a graph that is absent (DROP/CLEAR GRAPH, the source
    of ADD/MOVE/COPY) or present (CREATE GRAPH), followed through the operations before it;
    None when every such operation holds (or the text cannot be read that way)."""
    tokens = tokenize(update)
    prefixes = declared_prefixes(tokens)
    graphs = set(existing)
    for index, token in enumerate(tokens):
        if token.depth or not token.keyword(*_GRAPH_OPERATIONS):
            continue
        operation = token.text.upper()
        rest = tokens[index + 1:index + 6]
        silent = bool(rest) and rest[0].keyword("SILENT")
        rest = rest[1:] if silent else rest
        source, rest = _graph_ref(rest, prefixes)
        if operation in ("DROP", "CLEAR", "CREATE"):
            if source is None:
                continue  # DEFAULT, NAMED, ALL (or unreadable): nothing to check
            if operation == "CREATE":
                if source in graphs and not silent:
                    return f"the graph <{source}> exists already (CREATE SILENT does nothing then)"
                graphs.add(source)
            else:
                if source not in graphs and not silent:
                    return f"there is no graph <{source}> to {operation} ({operation} SILENT does nothing then)"
                if operation == "DROP":
                    graphs.discard(source)
            continue
        if not (rest and rest[0].keyword("TO")):
            continue
        target, _ = _graph_ref(rest[1:], prefixes)
        if source is not None and source not in graphs and not silent:
            return f"there is no graph <{source}> to {operation} from ({operation} SILENT does nothing then)"
        if target is not None:
            graphs.add(target)
        if operation == "MOVE" and source is not None and source != target:
            graphs.discard(source)
    return None


def _graph_ref(tokens: list[Token], prefixes: dict[str, str]) -> tuple[str | None, list[Token]]:
    """The graph IRI that ``[GRAPH] iri`` at the head of ``tokens`` names (None for DEFAULT,
    NAMED, ALL, a relative IRI or an unknown prefix), and the tokens after it."""
    if tokens and tokens[0].keyword("GRAPH"):
        tokens = tokens[1:]
    if not tokens:
        return None, tokens
    head = tokens[0]
    iri = None
    if head.kind == "iri" and _ABSOLUTE_IRI.match(head.value):
        iri = head.value
    elif head.kind == "pname" and head.prefix in prefixes:
        iri = prefixes[head.prefix] + head.local
    return iri, tokens[1:]


def _graph_param(graph: str | None) -> dict[str, str]:
    return {"default": ""} if graph in ("", None) else {"graph": ox.NamedNode(graph).value}


def _in_graph(graph: str | None, body: str) -> str:
    return body if graph in ("", None) else f"GRAPH <{ox.NamedNode(graph).value}> {{\n{body}}}\n"


def _insert(graph: str | None, body: str) -> str:
    """INSERT DATA, or ``INSERT {…} WHERE {}`` when blank nodes are present (Virtuoso
    refuses blank nodes in INSERT DATA; a template with one solution means the same)."""
    inner = _in_graph(graph, body)
    if "_:" in body and _has_blank_node(body):
        return f"INSERT {{\n{inner}}} WHERE {{}}"
    return f"INSERT DATA {{\n{inner}}}"


def _has_blank_node(ntriples_text: str) -> bool:
    return any(line.startswith("_:") or " _:" in line for line in ntriples_text.splitlines())


def ntriples(triples: Iterable) -> bytes:
    """N-Triples for triples or quads (the graph of a quad is dropped)."""
    return "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples).encode()


# ---------------------------------------------------------------------------
# Results


def read_answer(response: requests.Response, deadline: float) -> bytes:
    """The body of a streamed answer, read by the query's deadline and up to
    ``ANSWER_LIMIT`` bytes: the read timeout only bounds each read, so an engine sending a
    huge result, or a byte a second, would otherwise hold memory and a query slot on and on
    after the client got its 503."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > ANSWER_LIMIT:
                raise SsikgError(502, f"the SPARQL backend's answer is larger than {ANSWER_LIMIT >> 20} MiB; "
                                      "add a LIMIT to the query")
            if time.monotonic() > deadline:
                raise SsikgError(504, "the SPARQL backend did not finish its answer within the time limit")
            chunks.append(chunk)
    except requests.RequestException as exc:
        log.warning("SPARQL backend answer broke off: %s", str(exc)[:500])
        raise SsikgError(502, f"{BACKEND}'s answer broke off{_errno(exc)}") from None
    finally:
        response.close()
    return b"".join(chunks)


class _AnswerReader(io.RawIOBase):
    """A streamed answer as a file for pyoxigraph's (lazy) parsers: read as they ask for
    bytes, by ``deadline`` (None: the read timeout alone) and within ``limit`` bytes.  A
    failure is kept in :attr:`failure` (pyoxigraph may re-wrap what a read raises).
    ``repair_bnodes``: Virtuoso's ``nodeID://`` blank node labels made readable."""

    _NODE_ID = b'"nodeID://'

    def __init__(self, response: requests.Response, deadline: float | None = None,
                 limit: int | None = None, repair_bnodes: bool = False):
        super().__init__()
        self._chunks = response.iter_content(64 * 1024)
        self._deadline, self._limit, self._repair = deadline, limit, repair_bnodes
        self._buffer, self._tail = b"", b""
        self.size = 0
        self.failure: SsikgError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            chunk = self._next_chunk()
            if chunk is None:
                self._buffer, self._tail = self._tail, b""
                if not self._buffer:
                    return 0
                break
            self._buffer = self._repaired(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def _next_chunk(self) -> bytes | None:
        try:
            chunk = next(self._chunks, None)
        except requests.RequestException as exc:
            log.warning("SPARQL backend answer broke off: %s", str(exc)[:500])
            self._fail(SsikgError(502, f"{BACKEND}'s answer broke off{_errno(exc)}"))
        if chunk is None:
            return None
        self.size += len(chunk)
        if self._limit and self.size > self._limit:
            self._fail(SsikgError(502, f"{BACKEND}'s answer is larger than {self._limit >> 20} MiB; "
                                       "add a LIMIT to the query"))
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._fail(SsikgError(504, f"{BACKEND} did not finish its answer within the time limit"))
        return chunk

    def _repaired(self, chunk: bytes) -> bytes:
        if not self._repair:
            return chunk
        # A label may straddle two chunks: the last few bytes wait for the next one.
        data = (self._tail + chunk).replace(self._NODE_ID, b'"nodeID_')
        keep = len(self._NODE_ID) - 1
        self._tail = data[-keep:]
        return data[:-keep]

    def _fail(self, error: SsikgError):
        self.failure = error
        raise error


def _results_format(response: requests.Response):
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    try:
        fmt = ox.QueryResultsFormat.from_media_type(media_type) if media_type else None
    except ValueError:
        fmt = None
    return media_type, fmt


def read_capped(response: requests.Response, deadline: float, rows: int):
    """The engine's answer with at most ``rows`` solutions (or triples): parsed as it arrives,
    the connection closed once that many are read, so neither the engine's nor ssikg's work
    grows with the part of a large answer nobody reads.  Returns pyoxigraph objects as
    :func:`parse_response` does (the kept rows re-read as a real ``QuerySolutions``)."""
    media_type, results_format = _results_format(response)
    rdf_format = None if results_format else _rdf_format(media_type)
    if results_format in (None, ox.QueryResultsFormat.CSV) and rdf_format is None:
        return parse_response(response, read_answer(response, deadline))  # its error, or CSV (read whole)
    reader = _AnswerReader(response, deadline, ANSWER_LIMIT,
                           repair_bnodes=results_format == ox.QueryResultsFormat.JSON)
    with _engine_answer(reader, media_type), contextlib.closing(response):
        if rdf_format is not None:
            # distinct triples counted (an engine may repeat one), as the cut counts them
            kept_triples: dict = {}
            for triple in ox.parse(reader, rdf_format):
                kept_triples.setdefault(triple, None)
                if len(kept_triples) >= rows:
                    break
            scratch = ox.Store()
            scratch.extend(ox.Quad(t.subject, t.predicate, t.object) for t in kept_triples)
            return scratch.query("CONSTRUCT WHERE { ?s ?p ?o }")
        parsed = ox.parse_query_results(reader, results_format)
        if isinstance(parsed, ox.QueryBoolean):
            return parsed
        variables = [v.value for v in parsed.variables]
        kept = [{name: _canonical(row[name]) for name in variables}
                for row in itertools.islice(parsed, rows)]
    if reader.failure is not None:
        raise reader.failure
    return solutions(variables, kept)


def solutions(variables: list[str], rows: list[dict]) -> ox.QuerySolutions:
    """A real ``QuerySolutions`` holding ``rows`` (dicts of terms, None when unbound)."""
    from .workers import write_solutions

    out = io.BytesIO()
    write_solutions(out, ox.QueryResultsFormat.JSON, variables, rows, False)
    return ox.parse_query_results(out.getvalue(), ox.QueryResultsFormat.JSON)


def _canonical(term):
    """Virtuoso's ``"0"/"1"^^xsd:boolean`` as ``false``/``true``; any other term as it is."""
    if (isinstance(term, ox.Literal) and term.datatype.value == XSD_BOOLEAN
            and term.value in ("0", "1")):
        return ox.Literal("true" if term.value == "1" else "false", datatype=term.datatype)
    return term


def _rdf_format(media_type: str):
    try:
        return ox.RdfFormat.from_media_type(media_type) if media_type else None
    except ValueError:
        return None


def stream_solutions(response: requests.Response) -> Iterator:
    """The solutions of a streamed SELECT answer, parsed as they arrive (for dumps: no
    deadline but the read timeout, nothing held)."""
    media_type, results_format = _results_format(response)
    if results_format in (None, ox.QueryResultsFormat.CSV):
        raise SsikgError(502, f"{BACKEND} answered in an unexpected format: {media_type or 'none'}")
    reader = _AnswerReader(response, repair_bnodes=results_format == ox.QueryResultsFormat.JSON)
    yield from _guarded(lambda: ox.parse_query_results(reader, results_format), reader, media_type)


def stream_triples(response: requests.Response) -> Iterator[ox.Triple]:
    """The triples of a streamed RDF answer (a Graph Store GET), parsed as they arrive."""
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    rdf_format = _rdf_format(media_type)
    if rdf_format is None:
        raise SsikgError(502, f"{BACKEND} answered in an unexpected format: {media_type or 'none'}")
    reader = _AnswerReader(response)
    yield from _guarded(lambda: ox.parse(reader, rdf_format), reader, media_type)


def _guarded(parse: Callable, reader: _AnswerReader, media_type: str) -> Iterator:
    """Iterate ``parse()``; a broken transfer or answer is the engine's fault (502/504)."""
    with _engine_answer(reader, media_type):
        yield from parse()
    if reader.failure is not None:
        raise reader.failure


@contextlib.contextmanager
def _engine_answer(reader: _AnswerReader, media_type: str) -> Iterator[None]:
    """Parsing the engine's answer: a broken transfer (the reader's failure, 502/504) or an
    unreadable answer (502) is the engine's fault, never the client's."""
    try:
        yield
    except SsikgError:
        raise
    except (SyntaxError, ValueError, OSError) as exc:
        if reader.failure is not None:
            raise reader.failure from None
        raise SsikgError(502, f"{BACKEND} sent an unreadable {media_type} answer: {exc}") from None


def parse_response(response: requests.Response, body: bytes):
    """The engine's answer (``body``, read by :func:`read_answer`) as pyoxigraph objects,
    chosen by the response's Content-Type."""
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    try:
        results_format = ox.QueryResultsFormat.from_media_type(media_type) if media_type else None
        if results_format is not None and results_format != ox.QueryResultsFormat.CSV:
            if results_format == ox.QueryResultsFormat.JSON and (b'"bnode"' in body or _XSD_BOOLEAN in body):
                body = _repair_json_results(body)
            problem = _unreadable(body, results_format)
            if problem:
                raise SsikgError(502, f"the SPARQL backend sent an unreadable {media_type} answer: {problem}")
            return ox.parse_query_results(body, results_format)
        rdf_format = ox.RdfFormat.from_media_type(media_type) if media_type else None
        if rdf_format is not None:
            return triples_result(body, rdf_format)
    except (SyntaxError, ValueError, OSError) as exc:
        raise SsikgError(502, f"the SPARQL backend sent an unreadable {media_type} answer: {exc}") from None
    raise SsikgError(502, f"the SPARQL backend answered in an unexpected format: {media_type or 'none'}")


def _unreadable(body: bytes, results_format) -> str | None:
    """Why the engine's results cannot be read, or None.  pyoxigraph parses solutions lazily:
    read through them once here, so a broken answer is the engine's fault (502), not an
    error surfacing later as the client's malformed query.  (The parsed objects stay in
    this function: they may not be dropped on another thread.)"""
    try:
        parsed = ox.parse_query_results(body, results_format)
        if isinstance(parsed, ox.QuerySolutions):
            for _solution in parsed:
                pass
    except (SyntaxError, ValueError, OSError) as exc:
        return str(exc)
    return None


def _repair_json_results(body: bytes) -> bytes:
    """Virtuoso's JSON results made standard: blank node labels pyoxigraph accepts (it sends
    ``nodeID://b1001``) and canonical booleans (it sends ``"0"^^xsd:boolean``)."""
    document = json.loads(body)
    for row in document.get("results", {}).get("bindings", []):
        for term in row.values():
            if term.get("type") == "bnode" and not _BNODE_LABEL.fullmatch(term.get("value", "")):
                term["value"] = "b" + hashlib.sha1(term["value"].encode()).hexdigest()[:24]
            elif term.get("datatype") == XSD_BOOLEAN and term.get("value") in ("0", "1"):
                term["value"] = "true" if term["value"] == "1" else "false"
    return json.dumps(document).encode()


XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
_XSD_BOOLEAN = XSD_BOOLEAN.encode()


_BNODE_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-.]*")


def triples_result(body: bytes, rdf_format: ox.RdfFormat) -> ox.QueryTriples:
    """A real ``QueryTriples`` holding the parsed graph, so views treat it as a local result."""
    scratch = ox.Store()
    # parse + extend keeps the engine's blank node labels (load would rename them), so two
    # reads of the same data serialise the same way.
    scratch.extend(ox.Quad(t.subject, t.predicate, t.object) for t in ox.parse(body, rdf_format))
    return scratch.query("CONSTRUCT WHERE { ?s ?p ?o }")


# ---------------------------------------------------------------------------
# Query text: query form, BASE, dataset clauses and VALUES injection (tokens from
# ssikg.sparql_lexer, so strings, IRIs and comments never count as keywords)


# Query forms, in the order a query may start with them (after its prologue).
_QUERY_FORMS = ("SELECT", "CONSTRUCT", "ASK", "DESCRIBE")


def is_valid_sparql(text: str, *, update: bool = False) -> bool:
    """Whether rdflib reads the text as SPARQL 1.1 (asked only when an engine said 400, to tell
    a client's mistake from an engine's limitation): its grammar, and then its algebra, which
    refuses what the grammar lets through (an undeclared prefix, a projected variable that
    is not grouped)."""
    from rdflib.plugins.sparql import algebra, parser

    try:
        if update:
            algebra.translateUpdate(parser.parseUpdate(text))
        else:
            algebra.translateQuery(parser.parseQuery(text))
    except Exception:  # noqa: BLE001 - pyparsing and the algebra raise several kinds; any means "not valid"
        return False
    return True


def with_base(sparql: str, base_iri: str | None) -> str:
    """The text with ``BASE <base_iri>`` in front when it holds relative IRIs (else unchanged,
    so the engine's syntax error positions stay those of the text the client sent)."""
    if not base_iri or "<" not in sparql or all(
            _ABSOLUTE_IRI.match(token.value) for token in iter_tokens(sparql) if token.kind == "iri"):
        return sparql  # no IRI at all (the cheap test), or only absolute ones
    # A BASE of the query's own, written after this one, still wins.
    return f"BASE <{ox.NamedNode(base_iri).value}> {sparql}"


_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def query_form(sparql: str) -> str | None:
    """SELECT, CONSTRUCT, ASK or DESCRIBE: the first query-form keyword (after the prologue)."""
    form = next((token for token in iter_tokens(sparql) if token.keyword(*_QUERY_FORMS)), None)
    return form.text.upper() if form else None


def values_block(substitutions: dict) -> str:
    """``VALUES (?a ?b) { (<iri> "lit"@fr) }`` for pre-bound variables; terms escaped by pyoxigraph."""
    names, terms = [], []
    for key, term in substitutions.items():
        variable = key if isinstance(key, ox.Variable) else ox.Variable(str(key).lstrip("?$"))
        if not isinstance(term, (ox.NamedNode, ox.Literal)):
            raise ValueError(f"cannot bind ?{variable.value} to {term!r}: only IRIs and literals can be bound")
        names.append(str(variable))
        terms.append(str(term))
    return f"VALUES ({' '.join(names)}) {{ ({' '.join(terms)}) }}"


def inject_values(sparql: str, substitutions: dict) -> str:
    """Bind variables by placing a VALUES block at the start of the query's WHERE group."""
    block = values_block(substitutions)
    tokens = tokenize(sparql)
    form_index = next((i for i, token in enumerate(tokens) if token.keyword(*_QUERY_FORMS)), None)
    if form_index is None:
        raise SyntaxError("not a SPARQL query (no SELECT, CONSTRUCT, ASK or DESCRIBE)")
    form = tokens[form_index].text.upper()
    rest = tokens[form_index + 1:]
    if form == "CONSTRUCT" and rest and rest[0].keyword("WHERE"):
        return _expand_construct_where(sparql, rest, block)
    has_template = form == "CONSTRUCT" and bool(rest) and rest[0].text == "{"
    opening = _where_group(rest, skip=1 if has_template else 0)
    if opening is not None:
        return f"{sparql[:opening.end]} {block}\n{sparql[opening.end:]}"
    if form == "DESCRIBE":
        return f"{sparql}\nWHERE {{ {block} }}"
    raise SyntaxError("cannot find the WHERE group of the query to bind its parameters")


def _where_group(tokens: list[Token], skip: int) -> Token | None:
    """The '{' opening the WHERE group: a top-level brace outside parentheses (a
    projection's ``EXISTS { }`` is inside them), after ``skip`` of them (a CONSTRUCT template)."""
    parens = 0
    for token in tokens:
        if token.text == "(":
            parens += 1
        elif token.text == ")":
            parens -= 1
        elif token.text == "{" and token.depth == 0 and parens == 0:
            if not skip:
                return token
            skip -= 1
    return None


def _expand_construct_where(sparql: str, rest: list[Token], block: str) -> str:
    """``CONSTRUCT WHERE { T }`` admits no VALUES: rewrite it as ``CONSTRUCT { T } WHERE { VALUES … T }``."""
    where = rest[0]
    if len(rest) < 2 or rest[1].text != "{":
        raise SyntaxError("CONSTRUCT WHERE must be followed by a group")
    closing = closing_brace(rest, rest[1])
    if closing is None:
        raise SyntaxError("unbalanced braces in the CONSTRUCT WHERE group")
    template = sparql[rest[1].end:closing.start]
    return (f"{sparql[:where.start]}{{{template}}}\nWHERE {{ {block}\n{template}}}"
            f"{sparql[closing.end:]}")


# ---------------------------------------------------------------------------
# Publishing ontology/ and data/


def read_sources(source_dir: Path) -> dict[str, list[ox.Triple]]:
    """Every source file parsed (and checked like a local build), grouped by named graph."""
    scratch = ox.Store()
    for source in source_files(source_dir):
        load_source(scratch, source)
    graphs: dict[str, list[ox.Triple]] = defaultdict(list)
    for quad in scratch:
        graphs[quad.graph_name.value].append(quad.triple)
    for graph in RESERVED_GRAPHS:  # a build creates them, even empty
        graphs.setdefault(graph, [])
    return dict(graphs)


def publish_sources(store: RemoteStore, source_dir: Path, *,
                    progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Replace each named graph of the engine by the one built from the sources (atomic per graph).

    ssikg graphs (under the graph namespace) that the sources no longer have are
    dropped; other graphs on the engine are left alone.  Returns triples per graph.
    """
    say = progress or (lambda _msg: None)
    if not store.writable:
        raise StoreError("publishing needs a backend update URL or Graph Store URL "
                         "(--update-url / --store-url, or SSIKG_BACKEND_UPDATE_URL / SSIKG_BACKEND_STORE_URL)")
    graphs = read_sources(source_dir)
    started = time.monotonic()
    for index, (graph, triples) in enumerate(sorted(graphs.items()), start=1):
        t0 = time.monotonic()
        store.replace_graph(graph, triples)
        if not triples:
            store.create_graph(graph)  # replacing by nothing does not make it exist everywhere
        say(f"[{index}/{len(graphs)}] published <{graph}>: {len(triples):,} triples "
            f"in {time.monotonic() - t0:.2f} s")
    for stale in sorted(set(store.named_graphs()) - set(graphs)):
        if stale.startswith(GRAPH):
            store.drop_graph(stale)
            say(f"dropped <{stale}>: no longer in the sources")
    total = sum(len(t) for t in graphs.values())
    say(f"published {total:,} triples in {len(graphs)} graphs to {redact_url(store.config.query_url)} "
        f"in {time.monotonic() - started:.2f} s")
    return {graph: len(triples) for graph, triples in graphs.items()}


def open_remote(settings) -> RemoteStore:
    """The opener registered in ``ssikg.app`` for the ``backend`` setting."""
    return RemoteStore(RemoteConfig.from_settings(settings))

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
* **Errors**: an unreachable engine gives ``SsikgError(502)``, a slow one
  ``SsikgError(504)`` after the configured read timeout, a failing one 502
  with the engine's message; a query the engine calls malformed (HTTP 400)
  raises ``SyntaxError`` like the embedded store.

It also publishes ``ontology/`` and ``data/`` into an engine
(:func:`publish_sources`, behind ``ssikg build --backend URL``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import requests
from requests.adapters import HTTPAdapter

from .errors import SsikgError
from .namespaces import GRAPH
from .sparql_lexer import Token, closing_brace, iter_tokens, tokenize
from .store import (
    RESERVED_GRAPHS,
    GraphStore,
    StoreError,
    declares_dataset,
    load_source,
    source_files,
)

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
ANSWER_LIMIT = 512 << 20  # bytes of one query answer held at once (remote answers are read whole)
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

    @classmethod
    def from_settings(cls, settings) -> RemoteConfig:
        timeout = settings.get("backend_timeout") or settings.get("query_timeout") or 30.0
        return cls(query_url=settings["backend"], update_url=settings.get("backend_update_url"),
                   store_url=settings.get("backend_store_url"), user=settings.get("backend_user"),
                   password=settings.get("backend_password"), token=settings.get("backend_token"),
                   auth=settings.get("backend_auth") or "basic", timeout=float(timeout),
                   connect_timeout=min(5.0, float(timeout)))


class RemoteStore(GraphStore):
    """The store interface over a SPARQL 1.1 Protocol (+ Graph Store Protocol) engine."""

    kind = "remote"

    def __init__(self, config: RemoteConfig):
        super().__init__()
        self.config = config
        self.writable = bool(config.update_url or config.store_url)
        self.session = _session(config)
        self._lock = threading.Lock()
        self._writes = 0
        self._graphs: tuple[float, list[str]] | None = None
        self._version: tuple[float, str] | None = None
        self._empty_graph_pattern_works = True

    def __repr__(self) -> str:
        return f"RemoteStore({self.config.query_url!r})"

    # -- HTTP -------------------------------------------------------------

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call with the configured timeouts; transport failures become 502/504."""
        timeout = kwargs.pop("timeout", None) or self.config.timeout
        try:
            # Never follow a redirect: requests would resend a POSTed update as a GET without
            # its body, to whatever host the engine names, and report the engine's answer.
            return self.session.request(method, url, timeout=(self.config.connect_timeout, timeout),
                                        allow_redirects=False, **kwargs)
        except requests.ConnectTimeout:
            raise SsikgError(504, f"the SPARQL backend at {url} did not accept a connection within "
                                  f"{self.config.connect_timeout:g} s") from None
        except requests.ReadTimeout:
            raise SsikgError(504, f"the SPARQL backend at {url} did not answer within {timeout:g} s",
                             extra={"timeout": timeout}) from None
        except requests.ConnectionError as exc:
            raise SsikgError(502, f"the SPARQL backend at {url} is unreachable: {_short(exc)}") from None
        except requests.RequestException as exc:
            raise SsikgError(502, f"the SPARQL backend at {url} failed: {_short(exc)}") from None

    def _check(self, response: requests.Response, what: str, text: str | None = None) -> requests.Response:
        if 200 <= response.status_code < 300:
            return response
        message = _engine_message(response)
        if response.status_code == 400:
            if text is not None and is_valid_sparql(text, update=what == "update"):
                raise SsikgError(502, f"the SPARQL backend cannot evaluate this (valid) {what}: {message}",
                                 extra={"backend_status": 400})
            raise SyntaxError(message)  # engines name themselves (Virtuoso: "Virtuoso 37000 Error ...")
        raise SsikgError(502, f"the SPARQL backend answered {response.status_code} to the {what}: {message}",
                         extra={"backend_status": response.status_code})

    # -- reading ------------------------------------------------------------

    def query(self, sparql, *, base_iri=None, default_graphs=None, named_graphs=None,
              substitutions=None, timeout: float | None = None):
        text = sparql
        if substitutions:
            text = inject_values(text, substitutions)
        text = with_base(text, base_iri)
        data = [("query", text), *self._dataset(sparql, default_graphs, named_graphs)]
        accept = ACCEPT_GRAPH if query_form(sparql) in {"CONSTRUCT", "DESCRIBE"} else ACCEPT_RESULTS
        return self._ask(data, accept, "query", text, timeout)

    def _ask(self, data, accept: str, what: str, text: str | None = None, timeout: float | None = None):
        """POST a query; its answer read by the deadline and within ANSWER_LIMIT, parsed."""
        deadline = time.monotonic() + (timeout or self.config.timeout)
        response = self._check(self._call("POST", self.config.query_url, data=data, headers={"Accept": accept},
                                          timeout=timeout, stream=True), what, text)
        return parse_response(response, read_answer(response, deadline))

    def _dataset(self, sparql: str, default_graphs, named_graphs) -> list[tuple[str, str]]:
        """Protocol dataset parameters giving the engine the dataset ssikg means."""
        if default_graphs is None and named_graphs is None and declares_dataset(sparql):
            return []
        everything = self.named_graphs()
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

    def quads(self, graph=None) -> Iterator[ox.Quad]:
        if graph == "":
            # The engine's own default graph: a query without any dataset parameter.
            rows = self._ask({"query": "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"}, ACCEPT, "query")
            return iter([ox.Quad(r["s"], r["p"], r["o"], ox.DefaultGraph()) for r in rows])
        if graph is None:
            rows = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
            return iter([ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in rows])
        rows = self.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", default_graphs=[graph], named_graphs=[])
        node = ox.NamedNode(graph)
        return iter([ox.Quad(r["s"], r["p"], r["o"], node) for r in rows])

    def __len__(self) -> int:
        rows = list(self.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"))
        return int(rows[0]["n"].value) if rows else 0

    @property
    def version(self) -> str:
        """A digest of the graph list and the quad count, cached a few seconds, plus local writes.

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

    # -- writing ------------------------------------------------------------

    def update(self, sparql, *, base_iri=None) -> None:
        if not self.config.update_url:
            raise StoreError("this remote backend has no update URL (set backend_update_url); it is read-only")
        text = with_base(sparql, base_iri)
        with self._lock:
            try:
                self._check(self._call("POST", self.config.update_url, data={"update": text}), "update", text)
            finally:
                self._record_write()

    def replace_graph(self, graph: str, triples: Iterable) -> None:
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
        target = "DEFAULT" if graph in ("", None) else f"GRAPH <{graph}>"
        self.update(f"DROP SILENT {target} ;\n{_insert(graph, body.decode())}")

    def add_triples(self, graph: str, triples: Iterable) -> None:
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
        self.update(_insert(graph, body.decode()))

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


def _short(exc: Exception) -> str:
    text = str(exc)
    # urllib3 wraps the reason deep inside; the tail is the useful part.
    match = re.search(r"\[Errno [^\]]*\] [^')\"]*", text)
    return match.group(0) if match else text[:200]


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
        raise SsikgError(502, f"the SPARQL backend's answer broke off: {_short(exc)}") from None
    finally:
        response.close()
    return b"".join(chunks)


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
    say(f"published {total:,} triples in {len(graphs)} graphs to {store.config.query_url} "
        f"in {time.monotonic() - started:.2f} s")
    return {graph: len(triples) for graph, triples in graphs.items()}


def open_remote(settings) -> RemoteStore:
    """The opener registered in ``ssikg.app`` for the ``backend`` setting."""
    return RemoteStore(RemoteConfig.from_settings(settings))

"""The ``/sparql`` endpoint (blueprint ``sparql``): SPARQL 1.1 queries and
updates over GET and POST exactly as the W3C Protocol says, content
negotiation, the Service Description on a bare GET, and the query UI for
browsers.

Decoding the request is :mod:`ssikg.protocol`'s job, running a query
:mod:`ssikg.execution`'s, writing permission :mod:`ssikg.auth`'s; this module
wires them to HTTP.
"""

from __future__ import annotations

import pyoxigraph as ox
from flask import Blueprint, Response, request, url_for

from .. import auth, execution, http, protocol, replay, uploads
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..linked_data import compact_iri
from ..namespaces import PREFIXES
from ..result_cache import deterministic
from ..service_description import service_description_response
from ..store import StoreError

bp = Blueprint("sparql", __name__)



@bp.route("/sparql", methods=["GET", "POST"])
def endpoint():
    body = uploads.read_body(get_settings().max_body_bytes) if request.method == "POST" else b""
    operation = protocol.parse_request(request.method, request.headers.get("Content-Type"),
                                       protocol.parse_query_string(request.query_string), body)
    if operation is None:
        return _no_operation()
    if isinstance(operation, protocol.UpdateOperation):
        return run_update(operation)
    return run_query(operation)


# ``sparql.home`` names the same URL (error pages link "Home" to it).
bp.add_url_rule("/sparql", "home", endpoint, methods=["GET", "POST"])


def _no_operation() -> Response:
    """A browser (ranking text/html first) gets the query UI; anyone else the description
    (``format=`` chooses, as for answers)."""
    format_param = request.args.get("format") or request.args.get("output")
    if protocol.wants_html(request.headers.get("Accept"), format_param):
        response = query_ui()
        response.vary.add("Accept")  # the same URL is the description for other clients
        return response
    return service_description_response(format_param)


def query_ui() -> Response:
    """The linked-data engineer's UI when present, else a plain form."""
    try:
        from . import resources
    except ImportError:  # pragma: no cover - the module exists in the tree
        resources = None
    provider = getattr(resources, "query_ui", None)
    if provider is not None:
        return provider()
    page = _PLAIN_UI.replace("{endpoint}", request.base_url.replace('"', "%22"))
    return Response(page, mimetype="text/html")


_PLAIN_UI = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ssikg · SPARQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>ssikg SPARQL endpoint</h1>
<p>The default graph is the union of every named graph; <code>GRAPH &lt;…&gt;</code> selects one.</p>
<form method="post" action="{endpoint}">
<label for="query">Query</label><br>
<textarea id="query" name="query" rows="14" cols="90">SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 25</textarea><br>
<label for="format">Results as</label>
<select id="format" name="format"><option>json</option><option>xml</option><option>csv</option>
<option>tsv</option><option>ttl</option><option>nt</option><option>jsonld</option></select>
<button type="submit">Run</button></form></main></body></html>"""


# ---------------------------------------------------------------------------
# Queries


def query_dataset(operation: protocol.QueryOperation):
    """(default_graphs, named_graphs) for the store: the protocol's dataset, else the
    query's FROM / FROM NAMED, else None/None (the union default graph)."""
    if operation.has_dataset:
        return operation.default_graphs or [], operation.named_graphs or []
    declared = protocol.declared_dataset(operation.text)
    if declared is not None:
        return declared
    return None, None


def run_query(operation: protocol.QueryOperation) -> Response:
    _check_operation(operation.text, "query")
    if protocol.wants_html(request.headers.get("Accept"), operation.format):
        return _results_page(operation)
    solutions, graph = protocol.negotiate_query_formats(request.headers.get("Accept"),
                                                        operation.format)
    offered = protocol.offered_types()
    if solutions is None and graph is None:
        if protocol.accepts_html(request.headers.get("Accept")):
            return _results_page(operation)  # a page is what it still accepts
        raise execution.NotAcceptable("query", offered["solutions"] + offered["graph"])
    store = get_store()
    settings = get_settings()
    default_graphs, named_graphs = query_dataset(operation)
    etag = None
    # A remote engine's data can change behind ssikg's back, and its version costs a count on
    # the engine: its answers get no ETag (and, like any uncached answer, Cache-Control: no-store).
    # A query using RAND(), NOW(), UUID() … answers differently each time: no validator either.
    if (request.method in ("GET", "HEAD") and getattr(store, "kind", None) == "embedded"
            and deterministic(operation.text)):
        etag = _etag(store.version, operation, default_graphs, named_graphs, solutions, graph)
        held = http.held_etag(etag)
        if held is not None:
            return http.not_modified(held)
    try:
        result = execution.run_query(
            store, operation.text,
            solutions_format=solutions.format if solutions else None,
            graph_format=graph.format if graph else None,
            offered=offered, base_iri=settings.public_base,
            default_graphs=default_graphs, named_graphs=named_graphs,
            timeout=settings.get("query_timeout"),
            prefixes=PREFIXES)  # Turtle, TriG and RDF/XML answers read with the project's prefixes
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed query: {protocol.syntax_error_message(operation.text, str(exc))}",
                         title="Malformed query") from None
    except execution.NotAcceptable:
        if not operation.format and protocol.accepts_html(request.headers.get("Accept")):
            return _results_page(operation)  # no format for this kind of result, but a page will do
        raise
    media = protocol.media_format_for(result.format)
    response = Response(result.chunks, mimetype=None,
                        content_type=media.content_type if media else None)
    response.headers.update(result.headers)
    response.headers["Vary"] = "Accept"
    replay.mark_replayable(request.environ, result.headers)
    if etag:
        response.set_etag(etag)
        response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


HTML_ROWS = 1000  # a page is for reading: past this, the formats to download are offered


def _results_page(operation: protocol.QueryOperation) -> Response:
    """The answer as an HTML table, for a browser (``format=html``, or an Accept preferring
    text/html): up to :data:`HTML_ROWS` rows, links to the entity pages, and the other
    formats of the same query."""
    from .resources import link, page

    settings = get_settings()
    default_graphs, named_graphs = query_dataset(operation)
    cap = min(filter(None, (settings.get("max_rows"), HTML_ROWS)))
    try:
        result = execution.run_query(
            get_store(), operation.text, solutions_format=ox.QueryResultsFormat.TSV,
            graph_format=ox.RdfFormat.N_TRIPLES, offered=protocol.offered_types(),
            base_iri=settings.public_base, default_graphs=default_graphs, named_graphs=named_graphs,
            timeout=settings.get("query_timeout"), max_rows=cap)
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed query: {protocol.syntax_error_message(operation.text, str(exc))}",
                         title="Malformed query") from None
    try:
        body = b"".join(result.chunks)
    finally:
        result.close()
    columns, rows, boolean = _html_rows(result.kind, body)
    response = page("sparql_results.html", query=operation.text, columns=columns, boolean=boolean,
                    rows=[[_html_cell(term, link) for term in row] for row in rows],
                    truncated=result.headers.get(execution.TRUNCATED_HEADER) == "true", cap=cap,
                    formats=_other_formats(operation, result.kind))
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    return response


def _html_rows(kind: str, body: bytes) -> tuple[list[str], list[list], bool | None]:
    if kind == "boolean":
        return [], [], bool(ox.parse_query_results(body, ox.QueryResultsFormat.TSV))
    if kind == "graph":
        triples = ox.parse(body, ox.RdfFormat.N_TRIPLES)
        return ["subject", "predicate", "object"], [[t.subject, t.predicate, t.object] for t in triples], None
    solutions = ox.parse_query_results(body, ox.QueryResultsFormat.TSV)
    columns = [v.value for v in solutions.variables]
    return columns, [[row[name] for name in columns] for row in solutions], None


def _html_cell(term, link) -> dict:
    if term is None:
        return {"text": ""}
    if isinstance(term, ox.NamedNode):
        return {"text": compact_iri(term.value), "href": link(term.value), "title": term.value}
    if isinstance(term, ox.BlankNode):
        return {"text": f"_:{term.value}"}
    if isinstance(term, ox.Literal):
        datatype = term.datatype.value.rsplit("#", 1)[-1] if not term.language else None
        return {"text": term.value, "lang": term.language,
                "datatype": None if datatype == "string" else datatype}
    return {"text": str(term)}  # a quoted triple (RDF-star)


def _other_formats(operation: protocol.QueryOperation, kind: str) -> list[tuple[str, str]]:
    names = ("ttl", "nt", "jsonld", "rdf") if kind == "graph" else ("json", "xml", "csv", "tsv")
    return [(name, url_for("sparql.endpoint", query=operation.text, format=name)) for name in names]


def _etag(version, operation, default_graphs, named_graphs, solutions, graph) -> str:
    return http.version_etag(version, operation.text, repr(default_graphs), repr(named_graphs),
                             solutions.media_type if solutions else "-", graph.media_type if graph else "-")


def _check_operation(text: str, kind: str) -> None:
    """The safety engineer's hook (SERVICE/LOAD refusal, length limits) when present."""
    check = getattr(execution, "check_operation", None)
    if check is not None:
        check(text, kind)


# ---------------------------------------------------------------------------
# Updates


def run_update(operation: protocol.UpdateOperation) -> Response:
    settings = get_settings()
    store = get_store()
    auth.require_write(settings, request.headers.get("Authorization"), store=store)
    _check_operation(operation.text, "update")
    text = operation.rewritten()
    try:
        with store.write_session:
            if settings.get("validate_on_write"):
                from .. import validation

                validation.check_update(store, text, settings.public_base)
            store.update(text, base_iri=settings.public_base)
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed update: {protocol.syntax_error_message(text, str(exc))}",
                         title="Malformed update") from None
    except StoreError as exc:
        raise SsikgError(403, str(exc)) from None
    except (OSError, RuntimeError, ValueError) as exc:
        # e.g. CLEAR/DROP of a graph that does not exist (without SILENT)
        raise SsikgError(400, f"the update failed and changed nothing: {exc}",
                         title="Update failed") from None
    http.count("updates")
    response = Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    return response

"""The ``/sparql`` endpoint (blueprint ``sparql``): SPARQL 1.1 queries and
updates over GET and POST exactly as the W3C Protocol says, content
negotiation, the Service Description on a bare GET, and the query UI for
browsers.

``/query`` and ``/update`` are the same endpoint split as Oxigraph server splits
it (a client configured for it works unchanged): ``/query`` answers queries as
``/sparql`` does, except that a browser (or a bare GET) gets the query UI there;
``/update`` takes updates.

Decoding the request is :mod:`ssikg.protocol`'s job, running a query
:mod:`ssikg.execution`'s, writing permission :mod:`ssikg.auth`'s; this module
wires them to HTTP.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Blueprint, Response, request, url_for

from .. import auth, execution, http, protocol, replay, uploads
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..linked_data import LANGS, compact_iri
from ..namespaces import PREFIXES
from ..result_cache import deterministic, mints_blank_nodes
from ..service_description import service_description_response
from ..sparql_lexer import iter_tokens
from ..store import StoreError
from .resources import explicit_lang, link, page, query_ui

bp = Blueprint("sparql", __name__)


@bp.route("/sparql", methods=["GET", "POST"])
def endpoint():
    operation = _read_operation()
    if operation is None:
        return _no_operation()
    if isinstance(operation, protocol.UpdateOperation):
        return run_update(operation)
    return answer_query(operation)


@bp.route("/query", methods=["GET", "POST"])
def query_page():
    """The query UI for a browser or a bare GET; with a query, for any other client, the
    answer ``/sparql`` gives (``format=`` and Accept decide, as there)."""
    if request.method != "POST" and ("query" not in request.args or _wants_html()):
        response = query_ui()
        if "query" in request.args:
            response.vary.add("Accept")  # other clients get the answer at this URL
        return response
    operation = _read_operation()
    if isinstance(operation, protocol.UpdateOperation):
        raise protocol.bad_request("/query answers queries; send updates to /update (or /sparql)")
    return answer_query(operation)


@bp.post("/update")
def update_endpoint():
    """SPARQL updates (form field ``update`` or ``application/sparql-update``), as ``/sparql``
    runs them: same token, same checks."""
    operation = _read_operation()
    if not isinstance(operation, protocol.UpdateOperation):
        raise protocol.bad_request("/update takes an update (form field 'update' or Content-Type "
                                   f"{protocol.SPARQL_UPDATE}); send queries to /query (or /sparql)")
    return run_update(operation)


def _read_operation() -> protocol.QueryOperation | protocol.UpdateOperation | None:
    body = uploads.read_body(get_settings().max_body_bytes) if request.method == "POST" else b""
    return protocol.parse_request(request.method, request.headers.get("Content-Type"),
                                  protocol.parse_query_string(request.query_string), body)


def _wants_html() -> bool:
    return protocol.wants_html(request.headers.get("Accept"),
                               request.args.get("format") or request.args.get("output"))


def _no_operation() -> Response:
    """A browser (ranking text/html first) gets the query UI; anyone else the description
    (``format=`` chooses, as for answers)."""
    if _wants_html():
        response = query_ui()
        response.vary.add("Accept")  # the same URL is the description for other clients
        return response
    return service_description_response(request.args.get("format") or request.args.get("output"))


# ---------------------------------------------------------------------------
# Queries


def query_dataset(operation: protocol.QueryOperation):
    """(default_graphs, named_graphs) for the store: the protocol's dataset, which wins over
    the query's FROM / FROM NAMED; else None/None, and the store honours the query's own
    FROM, or queries the union of the graphs when there is none."""
    if operation.has_dataset:
        return operation.default_graphs or [], operation.named_graphs or []
    return None, None


@contextlib.contextmanager
def _malformed(text: str, what: str):
    """A SyntaxError from the engine becomes a 400 that says where ``text`` is wrong."""
    try:
        yield
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed {what}: {protocol.syntax_error_message(text, str(exc))}",
                         title=f"Malformed {what}") from None


def answer_query(operation: protocol.QueryOperation) -> Response:
    """A query's answer: a page for a browser, else the negotiated format, streamed.  The
    policy (length, SERVICE) refuses it first, before a 406 or a page could hide that."""
    if next(iter_tokens(operation.text), None) is None:  # nothing but spaces and comments
        raise SsikgError(400, "the query is empty", title="Empty query")
    execution.check_operation(operation.text, "query")
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
    etag, weak = None, False
    # A remote engine's data can change behind ssikg's back, and its version costs a count on
    # the engine: its answers get no ETag (and, like any uncached answer, Cache-Control: no-store).
    # A query using RAND(), NOW(), UUID() … answers differently each time: no validator either.
    if (request.method in ("GET", "HEAD") and getattr(store, "kind", None) == "embedded"
            and deterministic(operation.text)):
        etag = _etag(store.version, operation, default_graphs, named_graphs, solutions, graph)
        # a CONSTRUCT template's blank nodes are new ones at each evaluation: the same answer,
        # not the same bytes, so its validator is weak
        weak = mints_blank_nodes(operation.text)
        held = http.held_etag(etag)
        if held is not None:
            return http.not_modified(held, weak=weak)
    try:
        with _malformed(operation.text, "query"):
            result = execution.run_query(
                store, operation.text,
                solutions_format=solutions.format if solutions else None,
                graph_format=graph.format if graph else None,
                offered=offered, base_iri=settings.public_base,
                default_graphs=default_graphs, named_graphs=named_graphs,
                prefixes=PREFIXES)  # Turtle, TriG and RDF/XML answers read with the project's prefixes
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
        response.set_etag(etag, weak=weak)
        response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


HTML_ROWS = 1000  # a page is for reading: past this, the formats to download are offered


def _results_page(operation: protocol.QueryOperation) -> Response:
    """The answer as an HTML table, for a browser (``format=html``, or an Accept preferring
    text/html): up to :data:`HTML_ROWS` rows, links to the entity pages, and the other
    formats of the same query."""
    settings = get_settings()
    default_graphs, named_graphs = query_dataset(operation)
    cap = min(filter(None, (settings.get("max_rows"), HTML_ROWS)))
    with _malformed(operation.text, "query"):
        result = execution.run_query(
            get_store(), operation.text, solutions_format=ox.QueryResultsFormat.TSV,
            graph_format=ox.RdfFormat.N_TRIPLES, offered=protocol.offered_types(),
            base_iri=settings.public_base, default_graphs=default_graphs, named_graphs=named_graphs,
            max_rows=cap)
    try:
        body = b"".join(result.chunks)
    finally:
        result.close()
    columns, rows, boolean = _html_rows(result.kind, body)
    formats = _other_formats(operation, result.kind)
    lang_targets = _language_targets(operation) if request.method == "POST" else {}
    posted = any("form" in target for target in [*(t for _n, t in formats), *lang_targets.values()])
    response = page("sparql_results.html", query=operation.text, columns=columns, boolean=boolean,
                    rows=[[_html_cell(term) for term in row] for row in rows],
                    truncated=result.headers.get(execution.TRUNCATED_HEADER) == "true", cap=cap,
                    formats=formats, editor_url=_editor_url(operation.text), lang_targets=lang_targets,
                    resend_form={"id": RESEND_FORM, "action": url_for("sparql.endpoint"),
                                 "fields": _operation_fields(operation)} if posted else None)
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


def _html_cell(term) -> dict:
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


# The longest URL a page links to: production's gunicorn reads request lines of up to 8,190
# bytes (ssikg.production.MAX_REQUEST_LINE) and answers 414 past that; a longer request is POSTed.
LONGEST_LINK = 8000
# The results page's one form holding the query, which its buttons submit (sparql_results.html):
# the query is written once in the page, however many buttons send it.
RESEND_FORM = "resend"


def resend(operation: protocol.QueryOperation, path: str, choice: tuple[str, str] | None = None,
           url_args: list[tuple[str, str]] = ()) -> dict:
    """How a results page asks ``operation`` again at ``path`` (with the field ``choice``, e.g.
    a format, and ``url_args`` such as ``lang``): a GET link ``{"href"}`` while its URL stays
    within :data:`LONGEST_LINK` bytes, else a button submitting the page's form
    ``{"form", "formaction", "choice"}``.  Templates render both with ``m.send``."""
    href = path + "?" + urlencode([*_operation_fields(operation), *([choice] if choice else []), *url_args])
    if len(href.encode()) <= LONGEST_LINK:
        return {"href": href}
    return {"form": RESEND_FORM, "formaction": path + ("?" + urlencode(url_args) if url_args else ""),
            "choice": choice}


def _operation_fields(operation: protocol.QueryOperation) -> list[tuple[str, str]]:
    """The protocol parameters that ask ``operation`` again: the query and its dataset."""
    return ([("query", operation.text)]
            + [("default-graph-uri", iri) for iri in operation.default_graphs or ()]
            + [("named-graph-uri", iri) for iri in operation.named_graphs or ()])


# every format the endpoint answers each kind of result in (protocol.FORMAT_PARAMETER's names)
OTHER_FORMATS = {"graph": ("ttl", "trig", "nt", "nq", "jsonld", "rdf"),
                 "solutions": ("json", "xml", "csv", "tsv"), "boolean": ("json", "xml", "csv", "tsv")}


def _other_formats(operation: protocol.QueryOperation, kind: str) -> list[tuple[str, dict]]:
    endpoint_url = url_for("sparql.endpoint")
    return [(name, resend(operation, endpoint_url, ("format", name))) for name in OTHER_FORMATS[kind]]


def _editor_url(query: str) -> str:
    """The query page opening ``query``: ``?query=`` while short, else in the fragment (which
    the page's script reads, as it reads a shared link, and which no request carries)."""
    path = url_for("sparql.query_page")
    lang_args = [("lang", explicit_lang())] if explicit_lang() else []
    href = path + "?" + urlencode([("query", query), *lang_args])
    if len(href.encode()) <= LONGEST_LINK:
        return href
    return path + ("?" + urlencode(lang_args) if lang_args else "") + "#" + urlencode({"query": query})


def _language_targets(operation: protocol.QueryOperation) -> dict[str, dict]:
    """The language switch of a POSTed results page: the same query asked again in each
    language (a link only carries ``?lang=``, which would lose a POSTed query)."""
    choice = ("format", operation.format) if operation.format else None
    return {code: resend(operation, url_for("sparql.endpoint"), choice, [("lang", code)]) for code in LANGS}


def _etag(version, operation, default_graphs, named_graphs, solutions, graph) -> str:
    return http.version_etag(version, operation.text, repr(default_graphs), repr(named_graphs),
                             solutions.media_type if solutions else "-", graph.media_type if graph else "-")


# ---------------------------------------------------------------------------
# Updates


def run_update(operation: protocol.UpdateOperation) -> Response:
    settings = get_settings()
    store = get_store()
    auth.require_write(settings, request.headers.get("Authorization"), store=store)
    execution.check_operation(operation.text, "update")
    text = operation.rewritten()
    try:
        with _malformed(text, "update"), store.write_session:
            from .. import validation

            if settings.get("validate_on_write"):
                validation.check_update(store, text, settings.public_base)
            else:
                validation.refuse_unstorable_update(store, text, settings.public_base)
            store.update(text, base_iri=settings.public_base)
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

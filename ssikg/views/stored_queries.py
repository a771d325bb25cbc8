"""The stored-query API (blueprint ``stored_queries``): ``queries/*.rq`` as REST endpoints.

* ``GET /api/queries`` lists the stored queries (JSON; an HTML index for browsers).
* ``GET /api/queries/<name>?param=…`` runs one.  Formats by suffix
  (``.json``, ``.csv``, ``.srj``, ``.srx``, ``.tsv``; ``.ttl``/``.nt`` for
  CONSTRUCT queries; ``.html``), by ``format=``, or by ``Accept`` (the site's one rule,
  :func:`ssikg.protocol.best_offer`).  JSON is Datasette-like: ``{"query", "columns",
  "rows", "truncated", "query_ms", …}`` with readable cell values (IRIs as strings,
  numbers as numbers), and Datasette's ``_shape`` gives its other shapes.
  Queries declared ``paginated`` take ``limit``/``offset`` and answer with
  RFC 8288 ``Link`` headers (first / prev / next).
* ``GET /queries`` and ``/queries/<name>``: an HTML page per query with a form.
* ``GET /api/openapi.json``: an OpenAPI 3.0.3 document generated from the
  queries, one GET operation per query on its own path (and a POST one for a
  query declaring grlc's ``method: POST``); ``/api/docs`` renders it as a plain
  HTML page (no JavaScript), ``/api/swagger`` in the vendored Swagger UI (what
  grlc users know; its start-up script is a static file, as the page's
  Content-Security-Policy admits no inline script).
* grlc's ``pagination`` queries also take ``page`` (1, 2, …); ``enumerate``d
  parameters take one of the values the data holds, computed by
  :func:`ssikg.stored_queries.enumerations` (as ``ssikg queries run`` does) once
  per store version.

Request values become typed RDF terms (:meth:`StoredQuery.bind`) passed to
:func:`ssikg.execution.run_query` as ``substitutions``; the timeout, row cap
and isolation of the execution module apply.  Bad parameters are 400 with a
message naming the parameter.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request, url_for
from markupsafe import Markup, escape

from .. import __version__, http, protocol
from ..app import get_settings, get_store, read_version_first, store_version
from ..errors import SsikgError
from ..execution import TRUNCATED_HEADER, run_query
from ..memo import store_memo
from ..namespaces import PREFIXES
from ..stored_queries import (
    DATE_PATTERN,
    ENUMERATION_LIMIT,
    GRLC_PAGE,
    IRI_PATTERN,
    MAX_INTEGER_DIGITS,
    MAX_NUMBER_LENGTH,
    MAX_PAGE_SIZE,
    MAX_STRING_LENGTH,
    NUMBER_PATTERN,
    ParamError,
    StoredQuery,
    app_queries,
    catalogue_fingerprint,
    enumerations,
    lexical_schema,
)
from ..workers import write_solutions
from ..xml_text import xml_safe
from .sparql import HTML_ROWS

bp = Blueprint("stored_queries", __name__)
bp.before_request(read_version_first)

# format name -> media type
MEDIA = {
    "json": "application/json",
    "csv": "text/csv",
    "srj": "application/sparql-results+json",
    "srx": "application/sparql-results+xml",
    "tsv": "text/tab-separated-values",
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "html": "text/html",
}
# Media types answered with one of ours when a client names them, as /sparql answers them
# (protocol.SOLUTIONS_ALIASES, GRAPH_ALIASES); application/json is this API's own JSON.
ALIASES = {"application/xml": "srx", "text/xml": "srx", "text/javascript": "json",
           "application/javascript": "json", "application/x-turtle": "ttl", "text/n3": "ttl",
           "text/plain": "nt"}
# What each kind of query can be answered as, in server preference order.
OFFERED = {
    "select": ("json", "csv", "srj", "srx", "tsv", "html"),
    "ask": ("json", "csv", "srj", "srx", "tsv", "html"),
    "construct": ("json", "csv", "ttl", "nt", "html"),
}
_RESULT_FORMATS = {"srj": ox.QueryResultsFormat.JSON, "srx": ox.QueryResultsFormat.XML,
                   "tsv": ox.QueryResultsFormat.TSV}
_GRAPH_FORMATS = {"ttl": ox.RdfFormat.TURTLE, "nt": ox.RdfFormat.N_TRIPLES}
XSD = "http://www.w3.org/2001/XMLSchema#"
_ASCII_DIGITS = re.compile(r"[0-9]+")
_INTEGER_TYPES = {XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                    "positiveInteger", "negativeInteger", "nonPositiveInteger",
                                    "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}
_FLOAT_TYPES = {XSD + t for t in ("decimal", "double", "float")}
MAX_OFFSET = 10**9
# Datasette's JSON shapes (https://docs.datasette.io/en/stable/json_api.html): ``arrays`` is our
# default envelope (rows as lists), ``objects`` the envelope with rows as objects, ``array`` a
# bare list of row objects, ``object`` row objects keyed by the first column's value.
SHAPE = "_shape"
SHAPES = ("arrays", "objects", "array", "object")

# Interface words of the HTML pages.
WORDS = {'en': {'api': 'API',
        'competency': 'Competency question',
        'default': 'default',
        'description': 'Description',
        'docs': 'API documentation',
        'error': 'Error',
        'example': 'example',
        'first': 'First page',
        'formats': 'Other formats',
        'intro': 'Each query is also a REST operation: JSON, CSV or the SPARQL result formats; '
                 'parameters are bound as typed RDF terms, never pasted into the text.',
        'ms': 'ms',
        'name': 'Name',
        'needs_js': 'Swagger UI needs JavaScript; the API documentation page does not.',
        'next': 'Next page',
        'no_js_docs': 'API documentation without JavaScript',
        'no_params': 'This query takes no parameters.',
        'none': 'No results.',
        'openapi': 'OpenAPI document',
        'operations': 'Operations',
        'pages': 'Result pages',
        'swagger': 'The same in Swagger UI',
        'parameters': 'Parameters',
        'prev': 'Previous page',
        'queries': 'Stored queries',
        'required': 'required',
        'responses': 'Responses',
        'results': 'Results',
        'row': 'row',
        'rows': 'rows',
        'run': 'Run',
        'sparql': 'SPARQL text',
        'tags': 'Tags',
        'truncated': "Result cut by the server's row limit.",
        'try': 'Try it with the example',
        'type': 'Type'},
 'fr': {'api': 'API',
        'competency': 'Question de compétence',
        'default': 'défaut',
        'description': 'Description',
        'docs': 'Documentation de l’API',
        'error': 'Erreur',
        'example': 'exemple',
        'first': 'Première page',
        'formats': 'Autres formats',
        'intro': 'Chaque requête est aussi une opération REST : JSON, CSV ou formats de résultats '
                 'SPARQL ; les paramètres sont liés comme termes RDF typés, jamais collés dans le '
                 'texte.',
        'ms': 'ms',
        'name': 'Nom',
        'needs_js': 'Swagger UI demande JavaScript ; la page de documentation de l’API non.',
        'next': 'Page suivante',
        'no_js_docs': 'Documentation de l’API sans JavaScript',
        'no_params': 'Cette requête n’a pas de paramètre.',
        'none': 'Aucun résultat.',
        'openapi': 'Document OpenAPI',
        'operations': 'Opérations',
        'pages': 'Pages de résultats',
        'swagger': 'La même dans Swagger UI',
        'parameters': 'Paramètres',
        'prev': 'Page précédente',
        'queries': 'Requêtes enregistrées',
        'required': 'obligatoire',
        'responses': 'Réponses',
        'results': 'Résultats',
        'row': 'ligne',
        'rows': 'lignes',
        'run': 'Exécuter',
        'sparql': 'Texte SPARQL',
        'tags': 'Étiquettes',
        'truncated': 'Résultat tronqué par la limite du serveur.',
        'try': 'Essayer avec l’exemple',
        'type': 'Type'}}


# ---------------------------------------------------------------------------
# Looking queries up and reading requests


def _queries() -> dict[str, StoredQuery]:
    return app_queries()


def _lookup(name: str) -> StoredQuery:
    query = _queries().get(name)
    if query is None:
        raise SsikgError(404, f"no stored query named '{name}'; the list is at "
                         f"{url_for('stored_queries.list_queries')}")
    return query


def _split_suffix(name: str) -> tuple[str, str | None]:
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix in MEDIA:
        return stem, suffix
    return name, None


FORM = protocol.FORM


def _raw_args() -> list[tuple[str, str]]:
    """The request's parameters as (name, value) pairs: the query string, and for a POST the
    form body too."""
    pairs = protocol.parse_query_string(request.query_string)
    if request.method == "POST":
        if request.content_length and request.mimetype != FORM:
            raise SsikgError(415, f"a stored query takes its POST parameters as {FORM}",
                             extra={"accepted": [FORM]})
        pairs += protocol.parse_query_string(request.get_data(cache=True))
    return pairs


def _request_values(query: StoredQuery, allowed_extra: set[str]) -> tuple[dict[str, str], dict]:
    """(values for the query's parameters, API parameters such as limit/offset/format)."""
    values: dict[str, str] = {}
    api: dict[str, str] = {}
    for name, value in _raw_args():
        target = api if name in allowed_extra else values
        if name in target:
            raise SsikgError(400, f"parameter '{name}' is given more than once",
                             extra={"parameter": name})
        target[name] = value
    return values, api


def _api_params(query: StoredQuery) -> set[str]:
    """The request parameters the API itself reads.  ``lang`` (the page language, kept by the
    pages' links) is taken by every answer and changes only pages; ``_shape`` only JSON."""
    allowed = {"format", "timeout", "lang", SHAPE}
    if query.paginated:
        allowed |= {"limit", "offset"}
    if query.grlc_pages:
        allowed.add(GRLC_PAGE)
    return allowed


def _bind(query: StoredQuery, values: dict[str, str], *, empty_is_absent: bool = False):
    try:
        return query.bind(values, empty_is_absent=empty_is_absent, allowed=_enumerations(query))
    except ParamError as exc:
        raise SsikgError(400, exc.message, extra={"parameter": exc.parameter}) from None


ENUMERATIONS_KEPT = 256  # (enumeration query, variable, store version) lists


def _enumerations(query: StoredQuery) -> dict[str, tuple[str, ...]]:
    """:func:`ssikg.stored_queries.enumerations` over the app's store (the rule
    ``ssikg queries run`` applies too), each list remembered per store version (a remote
    engine's data can change: asked each time)."""
    store = get_store()
    if getattr(store, "kind", None) != "embedded":
        return enumerations(query, _values_in_data)

    def remembered(text: str, variable: str) -> tuple[str, ...]:
        return store_memo("enumerations", (text, variable, store_version()),
                          lambda: _values_in_data(text, variable), maxsize=ENUMERATIONS_KEPT)

    return enumerations(query, remembered)


def _values_in_data(text: str, variable: str) -> tuple[str, ...]:
    """Run an enumeration query (execution limits apply): the values of its variable."""
    response = run_query(get_store(), text, solutions_format=ox.QueryResultsFormat.JSON,
                         graph_format=None)
    try:
        document = json.loads(b"".join(response.chunks))
    finally:
        response.close()
    bindings = document.get("results", {}).get("bindings", [])
    return tuple(b[variable]["value"] for b in bindings if variable in b)


def _int_arg(api: dict, name: str, default: int, low: int, high: int) -> int:
    raw = api.get(name)
    if raw is None:
        return default
    digits = raw.strip()
    # ASCII digits only ("²".isdigit() is true), and no more than the bound has: int() of
    # thousands of digits is refused by Python and slow before that.
    if not (_ASCII_DIGITS.fullmatch(digits) and len(digits) <= len(str(high))
            and low <= int(digits) <= high):
        raise SsikgError(400, f"parameter '{name}' must be an integer from {low} to {high}, "
                         f"got {raw[:40]!r}", extra={"parameter": name})
    return int(digits)


def _page(query: StoredQuery, api: dict) -> tuple[int, int] | None:
    if not query.paginated:
        return None
    limit = _int_arg(api, "limit", query.page_size, 1, MAX_PAGE_SIZE)
    offset = _int_arg(api, "offset", 0, 0, MAX_OFFSET)
    # grlc's page number (1, 2, ...) counts pages of 'limit' rows, after 'offset' if given
    number = _int_arg(api, GRLC_PAGE, 1, 1, MAX_OFFSET)
    return limit, offset + (number - 1) * limit


def _negotiate(query: StoredQuery, suffix: str | None, api: dict) -> str:
    """The answer's format: the URL's suffix or ``format=`` (a contradiction between them, or a
    format this kind of query does not offer, is a 400 naming ``format``), else the Accept
    header by the site's one rule (:func:`ssikg.protocol.best_offer`: no header is JSON, ties
    go to the range the client wrote first).  A page only when text/html ranks strictly above
    every data format: a browser's ``*/*`` must not turn a JSON API into a web page."""
    offered = OFFERED[query.kind]
    if suffix is not None and api.get("format", suffix) != suffix:
        raise SsikgError(400, f"parameter 'format': '{api['format']}' contradicts the '.{suffix}' of the URL",
                         extra={"parameter": "format"})
    asked = suffix or api.get("format")
    if asked is not None:
        if asked not in offered:
            raise SsikgError(400, f"parameter 'format': '{asked}' is not offered for this {query.kind} query; "
                             f"use one of: {', '.join(offered)}", extra={"parameter": "format"})
        return asked
    accept = request.headers.get("Accept")
    data = [(f, MEDIA[f]) for f in offered if f != "html"]
    aliases = [(f, alias) for alias, f in ALIASES.items() if f in offered]
    if protocol.ranks_above(accept, MEDIA["html"], [media for _f, media in data + aliases]):
        return "html"
    chosen = protocol.best_offer(accept, data, aliases)
    if chosen is None:
        media = [MEDIA[f] for f in offered]
        raise SsikgError(406, "no acceptable representation; offered: " + ", ".join(media),
                         headers={"Vary": "Accept"}, extra={"offered": media})
    return chosen


# ---------------------------------------------------------------------------
# Running


class Outcome:
    """A run's result: columns, raw SPARQL-JSON bindings or triples, and flags."""

    def __init__(self, query: StoredQuery, used: dict[str, str]):
        self.query = query
        self.used = used
        self.columns: list[str] = []
        self.bindings: list[dict] = []  # SPARQL JSON bindings
        self.triples: list[ox.Triple] = []
        self.boolean: bool | None = None
        self.truncated = False
        self.has_next = False
        self.elapsed_ms = 0.0

    @property
    def rows(self) -> list[list]:
        if self.query.kind == "ask":
            return [[self.boolean]]
        if self.query.kind == "construct":
            return [[_readable_term(t.subject), _readable_term(t.predicate), _readable_term(t.object)]
                    for t in self.triples]
        return [[_readable(b.get(c)) for c in self.columns] for b in self.bindings]

    @property
    def languages(self) -> list[list[str | None]]:
        """The language tag of each cell of :attr:`rows` (None where it has none)."""
        if self.query.kind == "ask":
            return [[None]]
        if self.query.kind == "construct":
            return [[None, None, t.object.language if isinstance(t.object, ox.Literal) else None]
                    for t in self.triples]
        return [[(b.get(c) or {}).get("xml:lang") for c in self.columns] for b in self.bindings]


def _execute(query: StoredQuery, substitutions: dict, used: dict,
             page: tuple[int, int] | None, max_rows: int | None = None) -> Outcome:
    """Run through the execution module (timeouts, row cap, isolation) and collect the result;
    ``max_rows`` lowers the server's row cap (the HTML page's)."""
    # one more row than the page tells whether a next page exists
    text, substitutions = query.executable(substitutions, (page[0] + 1, page[1]) if page else None)
    graph = query.kind == "construct"
    started = time.perf_counter()
    try:
        response = run_query(get_store(), text,
                             solutions_format=None if graph else ox.QueryResultsFormat.JSON,
                             graph_format=ox.RdfFormat.N_TRIPLES if graph else None,
                             substitutions=substitutions or None, max_rows=max_rows)
    except SyntaxError as exc:
        # Checked at start-up, so only a remote engine that reads SPARQL differently gets here.
        raise SsikgError(502, f"the SPARQL engine rejected stored query {query.name}: {exc}") from None
    try:
        body = b"".join(response.chunks)
    finally:
        response.close()
    outcome = Outcome(query, used)
    outcome.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    outcome.truncated = response.headers.get(TRUNCATED_HEADER, "").lower() == "true"
    if graph:
        outcome.columns = ["subject", "predicate", "object"]
        outcome.triples = list(ox.parse(body, ox.RdfFormat.N_TRIPLES))
        return outcome
    document = json.loads(body)
    if document.get("ssikg:truncated") is True:
        outcome.truncated = True
    if "boolean" in document:
        outcome.columns = ["boolean"]
        outcome.boolean = bool(document["boolean"])
        return outcome
    outcome.columns = list(document.get("head", {}).get("vars", []))
    outcome.bindings = list(document.get("results", {}).get("bindings", []))
    if page is not None and len(outcome.bindings) > page[0]:
        outcome.bindings = outcome.bindings[:page[0]]
        outcome.has_next = True
    elif page is not None and outcome.truncated:
        outcome.has_next = True  # the server's row cap cut the page: the rest is further on
        # only the look-ahead row was cut: the page itself is whole
        outcome.truncated = len(outcome.bindings) < page[0]
    return outcome


def _readable(term: dict | None):
    """A cell value: IRIs as strings, numbers and booleans as JSON values, text as text."""
    if term is None:
        return None
    kind, value = term.get("type"), term.get("value")
    if kind == "uri":
        return value
    if kind == "bnode":
        return "_:" + value
    if kind in ("literal", "typed-literal"):
        datatype = term.get("datatype")
        try:
            if datatype in _INTEGER_TYPES:
                return int(value)
            if datatype in _FLOAT_TYPES:
                number = float(value)
                return number if number == number and abs(number) != float("inf") else value
            if datatype == XSD + "boolean":
                return value in ("true", "1")
        except ValueError:
            return value
        return value
    if kind == "triple":
        inner = term.get("value", {})
        return "<< " + " ".join(str(_readable(inner.get(k))) for k in ("subject", "predicate",
                                                                        "object")) + " >>"
    return value


def _readable_term(term):
    if isinstance(term, ox.NamedNode):
        return term.value
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    if isinstance(term, ox.Literal):
        return _readable({"type": "literal", "value": term.value, "datatype": term.datatype.value})
    return str(term)


# ---------------------------------------------------------------------------
# Answers


def _page_links(query: StoredQuery, page, outcome: Outcome, suffix: str | None) -> dict[str, str]:
    if page is None:
        return {}
    limit, offset = page
    endpoint_name = query.name + (f".{suffix}" if suffix else "")
    base = {k: v for k, v in _raw_args() if k not in ("limit", "offset", GRLC_PAGE)}

    def href(new_offset: int) -> str:
        args = {**base, "limit": str(limit), "offset": str(new_offset)}
        return url_for("stored_queries.run", name=endpoint_name) + "?" + urlencode(args)

    links = {"first": href(0)}
    if offset > 0:
        links["prev"] = href(max(0, offset - limit))
    if outcome.has_next:
        links["next"] = href(offset + len(outcome.bindings))
    return links


def _link_header(links: dict[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


def _json_shape(api: dict, fmt: str) -> str:
    """The ``_shape`` asked for (``arrays``, the default envelope, when none): JSON only."""
    shape = api.get(SHAPE)
    if shape is None:
        return "arrays"
    if fmt != "json":
        raise SsikgError(400, f"parameter '{SHAPE}' shapes the JSON answer only; this answer is {fmt} "
                         f"(use .json or format=json, or leave {SHAPE} out)", extra={"parameter": SHAPE})
    if shape not in SHAPES:
        raise SsikgError(400, f"parameter '{SHAPE}' must be one of {', '.join(SHAPES)}; got {shape[:40]!r}",
                         extra={"parameter": SHAPE})
    return shape


def _shaped(outcome: Outcome, links: dict[str, str], page, shape: str):
    """The JSON answer in a Datasette shape (see :data:`SHAPES`)."""
    if shape == "arrays":
        return _json_body(outcome, links, page)
    objects = [dict(zip(outcome.columns, row, strict=True)) for row in outcome.rows]
    if shape == "objects":
        return {**_json_body(outcome, links, page), "rows": objects}
    if shape == "array":
        return objects
    return _keyed_by_first_column(outcome.columns, objects)


def _keyed_by_first_column(columns: list[str], objects: list[dict]) -> dict:
    """Datasette's ``object`` shape keyed by the first column (a query has no primary key): the
    keys are strings, and a result whose first column is missing, unbound or repeated has no
    such shape (400)."""
    if not columns:
        raise SsikgError(400, f"parameter '{SHAPE}': 'object' keys rows by the first column, and "
                         "this result has no column", extra={"parameter": SHAPE})
    first = columns[0]
    keyed: dict[str, dict] = {}
    for row in objects:
        value = row[first]
        if value is None:
            raise SsikgError(400, f"parameter '{SHAPE}': 'object' keys rows by the first column "
                             f"'{first}', which is unbound in a row; use 'objects' or 'array'",
                             extra={"parameter": SHAPE})
        key = value if isinstance(value, str) else json.dumps(value)
        if key in keyed:
            raise SsikgError(400, f"parameter '{SHAPE}': 'object' keys rows by the first column "
                             f"'{first}', whose value {key[:80]!r} is in more than one row; use "
                             "'objects' or 'array'", extra={"parameter": SHAPE})
        keyed[key] = row
    return keyed


def _json_body(outcome: Outcome, links: dict[str, str], page) -> dict:
    query = outcome.query
    body = {
        "query": query.name,
        "title": query.title,
        "parameters": outcome.used,
        "columns": outcome.columns,
        "rows": outcome.rows,
        "truncated": outcome.truncated,
        "query_ms": outcome.elapsed_ms,
    }
    if query.kind == "ask":
        body["boolean"] = outcome.boolean
    if page is not None:
        body["limit"], body["offset"] = page
        body["next_url"] = links.get("next")
    return body


def _csv_text(outcome: Outcome, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(outcome.columns)
    for row in outcome.rows:
        writer.writerow(["" if v is None else ("true" if v is True else "false" if v is False else v)
                         for v in row])
    return out.getvalue()


def _sparql_results(outcome: Outcome, fmt: str) -> bytes:
    """SPARQL JSON/XML/TSV of the (paged) result, written as ``/sparql`` writes a capped one
    (a result cut by ``max_rows`` carries the same marks)."""
    results_format = _RESULT_FORMATS[fmt]
    if outcome.query.kind == "ask":
        return _boolean_result(outcome, results_format)
    document = json.dumps({"head": {"vars": outcome.columns}, "results": {"bindings": outcome.bindings}},
                          ensure_ascii=False).encode("utf-8")
    sink = io.BytesIO()
    write_solutions(sink, results_format, outcome.columns,
                    ox.parse_query_results(document, ox.QueryResultsFormat.JSON), outcome.truncated)
    return xml_safe(sink.getvalue()) if results_format == ox.QueryResultsFormat.XML else sink.getvalue()


def _boolean_result(outcome: Outcome, results_format: ox.QueryResultsFormat) -> bytes:
    """An ASK's answer written by pyoxigraph, as ``/sparql`` writes it."""
    document = json.dumps({"head": {}, "boolean": outcome.boolean}).encode()
    return ox.parse_query_results(document, ox.QueryResultsFormat.JSON).serialize(format=results_format)


def _graph_document(outcome: Outcome, fmt: str) -> bytes:
    prefixes = dict(PREFIXES) if fmt == "ttl" else None
    return ox.serialize(outcome.triples, format=_GRAPH_FORMATS[fmt], prefixes=prefixes)


def _answer(outcome: Outcome, fmt: str, links: dict[str, str], page, shape: str = "arrays") -> Response:
    if fmt == "json":
        response = current_app.response_class(
            json.dumps(_shaped(outcome, links, page, shape), ensure_ascii=False) + "\n",
            mimetype="application/json")
    elif fmt == "csv":
        # an ASK as /sparql answers it in CSV: the bare boolean, no header line
        body = _boolean_result(outcome, ox.QueryResultsFormat.CSV) if outcome.query.kind == "ask" \
            else _csv_text(outcome)
        response = Response(body, mimetype="text/csv")
        response.headers["Content-Disposition"] = f'inline; filename="{outcome.query.name}.csv"'
    elif fmt in _RESULT_FORMATS:
        response = Response(_sparql_results(outcome, fmt), mimetype=MEDIA[fmt])
    else:
        response = Response(_graph_document(outcome, fmt), mimetype=MEDIA[fmt])
    if response.mimetype.startswith("text/"):
        response.charset = "utf-8"
    if links:
        response.headers["Link"] = _link_header(links)
    if outcome.truncated:
        response.headers[TRUNCATED_HEADER] = "true"
    response.headers["Vary"] = "Accept"
    return response


# ---------------------------------------------------------------------------
# Routes: API


@bp.get("/api/queries")
def list_queries():
    if _prefers_html():
        response = query_index()
    else:
        queries = [{**q.describe(), "url": url_for("stored_queries.run", name=q.name),
                    "page": url_for("stored_queries.query_page", name=q.name),
                    "sparql": url_for("stored_queries.run", name=f"{q.name}.rq")}
                   for q in _queries().values()]
        response = current_app.response_class(
            json.dumps({"queries": queries, "openapi": url_for("stored_queries.openapi")},
                       ensure_ascii=False) + "\n", mimetype="application/json")
    response.vary.add("Accept")  # one URL, two representations
    return _conditional(response)


def _conditional(response: Response) -> Response:
    """A weak ETag for an answer of this blueprint (its URL, media type and, for a page, language name it,
    with the store version); a remote engine's pages get none, as its answers do."""
    store = get_store()
    if response.status_code != 200 or getattr(store, "kind", None) != "embedded":
        return response
    # only a page's bytes depend on the language (the JSON listing and OpenAPI hold both)
    lang = _ui_lang() if response.mimetype == "text/html" else ""
    # the catalogue as this process read it: an edited query file changes the pages it shows
    return http.conditional(response, store_version(), catalogue_fingerprint(), request.full_path, lang,
                            response.mimetype)


def _prefers_html() -> bool:
    """The listing as a page: text/html strictly above JSON (the rule of :func:`_negotiate`)."""
    return protocol.ranks_above(request.headers.get("Accept"), MEDIA["html"], [MEDIA["json"]])


@bp.route("/api/queries/<name>", methods=["GET", "POST", "OPTIONS"],
          provide_automatic_options=False)
def run(name: str):
    if request.method in ("POST", "OPTIONS"):
        allow = _allowed_methods(name)
        if request.method == "OPTIONS":
            return Response(status=200, headers={"Allow": allow})
        if "POST" not in allow:
            raise SsikgError(405, f"stored query '{name}' answers GET only (a query file takes "
                             "POST with '#+ method: POST')", headers={"Allow": allow})
    if name.endswith(".rq"):
        if "format" in request.args:
            raise SsikgError(400, "parameter 'format': the '.rq' of the URL names the query's text",
                             extra={"parameter": "format"})
        return _query_text(_lookup(name[:-len(".rq")]))
    stem, suffix = _split_suffix(name)
    query = _lookup(stem)
    formats = [v for k, v in _raw_args() if k == "format"]
    try:
        fmt = _negotiate(query, suffix, {"format": formats[0]} if formats else {})
    except SsikgError as refusal:
        if refusal.status == 406:  # a wrong parameter tells the client more than its Accept does
            values, api = _request_values(query, _api_params(query))
            _page(query, api)
            _bind(query, values)
        raise
    if fmt == "html":
        return _html_page(query)
    values, api = _request_values(query, _api_params(query))
    shape = _json_shape(api, fmt)
    page = _page(query, api)
    substitutions, used = _bind(query, values)
    # a POST (grlc's method: POST) is not cached: its parameters are not in the URL
    etag = _result_etag(query, f"{fmt}:{shape}", used, page) if request.method != "POST" else None
    held = http.held_etag(etag) if etag else None
    if held is not None:  # answered before the query runs
        return http.not_modified(held, weak=True)
    outcome = _execute(query, substitutions, used, page)
    response = _answer(outcome, fmt, _page_links(query, page, outcome, suffix), page, shape)
    if etag:
        response.set_etag(etag, weak=True)  # weak: the JSON carries the time the query took
        response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


def _allowed_methods(name: str) -> str:
    """The ``Allow`` of a query's URL: POST only for a header saying grlc's ``method: POST``
    (and never for its ``.rq`` text)."""
    stem = name[:-len(".rq")] if name.endswith(".rq") else _split_suffix(name)[0]
    post = not name.endswith(".rq") and "POST" in _lookup(stem).methods
    return "GET, HEAD, OPTIONS" + (", POST" if post else "")


def _query_text(query: StoredQuery) -> Response:
    """The stored query's file as it is (its ``#+`` header is SPARQL comments), for a client
    that runs it elsewhere or binds its parameters itself."""
    response = Response(query.text, mimetype="application/sparql-query")  # always UTF-8, no charset
    response.headers["Content-Disposition"] = f'inline; filename="{query.name}.rq"'
    return _conditional(response)


def _result_etag(query: StoredQuery, fmt: str, used: dict, page) -> str | None:
    """The embedded store's version names its answers; a remote engine's data can change
    behind ssikg's back, so its answers get none (as on ``/sparql``)."""
    store = get_store()
    if getattr(store, "kind", None) != "embedded":
        return None
    # the query's text too: an edited file read by a newer process answers differently
    return http.version_etag(store_version(), query.name, query.text, fmt, json.dumps(used, sort_keys=True),
                             repr(page))


# ---------------------------------------------------------------------------
# Routes: HTML


@bp.get("/queries")
def query_index():
    from .resources import page as render_page

    queries = list(_queries().values())
    lang = _ui_lang()
    return _conditional(render_page("stored_query_index.html", queries=queries, lang_of=lang, w=WORDS[lang]))


@bp.get("/queries/<name>")
def query_page(name: str):
    return _html_page(_lookup(name))


def _ui_lang() -> str:
    from .resources import current_lang, ui_lang

    return ui_lang(current_lang())


def _html_page(query: StoredQuery) -> Response:
    """The form, and the result when the query can run (parameters given, or none needed)."""
    from .resources import explicit_lang, link
    from .resources import page as render_page

    values, api = _request_values(query, _api_params(query))
    _json_shape(api, "html")  # a page has no JSON shape: a _shape is a 400
    lang = _ui_lang()
    choices = {p.name: p.values for p in query.params if p.values}
    choices.update(_enumerations(query))
    context = {"query": query, "values": values, "lang_of": lang, "w": WORDS[lang], "md": inline_markdown,
               "explicit_lang": explicit_lang(), "error": None, "outcome": None, "choices": choices,
               "links": {}, "formats": [], "page_info": None}
    needs_input = any(p.required and p.default is None for p in query.params)
    status = 200
    # a submitted form runs, even with a required field left empty (then a 400 on the form)
    if values or not needs_input or "limit" in api or "offset" in api:
        try:
            page = _page(query, api)
            substitutions, used = _bind(query, values, empty_is_absent=True)
            cap, page_cap = _html_row_cap()
            outcome = _execute(query, substitutions, used, page, max_rows=cap)
        except SsikgError as exc:
            if exc.status != 400:
                raise
            context["error"] = exc.message
            status = 400
        else:
            context["outcome"] = outcome
            # cut by the page's own cap (not the server's): the other formats give every row
            context["page_cut"] = page_cap if outcome.truncated and page_cap == cap else None
            context["cells"] = [[_cell(value, link, lang) for value, lang in zip(row, langs, strict=True)]
                                for row, langs in zip(outcome.rows, outcome.languages, strict=True)]
            context["links"] = _page_links(query, page, outcome, None)
            context["page_info"] = page
            # the same page in the other formats: the paging asked for goes along
            args = urlencode({**used, **{k: api[k] for k in ("limit", "offset") if k in api}})
            context["formats"] = [(f, url_for("stored_queries.run", name=f"{query.name}.{f}")
                                   + (f"?{args}" if args else "")) for f in OFFERED[query.kind]
                                  if f != "html"]
    response = render_page("stored_query.html", status=status, **context)
    response.headers["Vary"] = "Accept, Accept-Language"
    return _conditional(response)


def _html_row_cap() -> tuple[int, int]:
    """The row cap of a query's HTML page, and the page's own part of it: at most
    :data:`~ssikg.views.sparql.HTML_ROWS` rows, as ``/sparql?format=html`` (a page is for
    reading; thousands of rows made megabytes), and fewer when ``max_rows`` is lower."""
    server_cap = get_settings().get("max_rows") or 0
    return (min(HTML_ROWS, server_cap) if server_cap else HTML_ROWS), HTML_ROWS


def _cell(value, link, lang: str | None = None) -> dict:
    if isinstance(value, str) and value.startswith(("http://", "https://")) and lang is None:
        return {"text": value, "href": link(value)}
    if value is None:
        return {"text": ""}
    if isinstance(value, bool):
        return {"text": "true" if value else "false"}
    return {"text": str(value), "number": isinstance(value, (int, float)), "lang": lang}


# ---------------------------------------------------------------------------
# OpenAPI


ERROR_SCHEMA = {
    "type": "object",
    "required": ["status", "title", "message"],
    "properties": {
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "message": {"type": "string"},
        "parameter": {"type": "string", "description": "The request parameter at fault."},
    },
}


def param_schema(param) -> dict:
    """JSON Schema of a parameter: exactly what :meth:`Param.convert` accepts."""
    if param.type == "iri":
        return {"type": "string", "pattern": IRI_PATTERN}
    if param.type == "string":
        return {"type": "string", "minLength": 1, "maxLength": MAX_STRING_LENGTH,
                "pattern": "^[^\\u0000]*$"}
    if param.type == "integer":
        bound = 10**MAX_INTEGER_DIGITS - 1
        return {"type": "integer", "minimum": -bound, "maximum": bound}
    if param.type == "date":
        return {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    if param.type == "number":
        return {"type": "string", "maxLength": MAX_NUMBER_LENGTH, "pattern": NUMBER_PATTERN}
    if param.type == "typed":
        return lexical_schema(param.datatype)
    return {"type": "string", "enum": list(param.values)}


def _in_schema(schema: dict, value: str):
    """A request value as the schema's JSON type writes it (a number for an integer schema)."""
    if schema.get("type") == "integer" and re.fullmatch(r"[+-]?[0-9]+", value):
        return int(value)
    return value


def _operation(query: StoredQuery, method: str = "get") -> dict:
    """The OpenAPI operation of a query: its parameters in the URL for GET, in a form body
    for POST (grlc's ``method: POST``)."""
    parameters = []
    enumerated = _enumerations(query)
    for param in query.params:
        description = param.description
        if param.description_fr:
            description += f"\n\n(fr) {param.description_fr}"
        if param.type == "iri":
            description += "\n\nAn absolute IRI, or a prefixed name with a project prefix (id:ssi-be)."
        if param.from_data:
            description += ("\n\nOne of the values the data holds." if param.name in enumerated
                            else f"\n\nThe data holds more than {ENUMERATION_LIMIT} values: "
                                 "any value of the type.")
        schema = param_schema(param)
        if param.name in enumerated:
            schema["enum"] = [_in_schema(schema, v) for v in enumerated[param.name]]
        if param.default is not None:
            schema["default"] = _in_schema(schema, param.default)
        entry = {"name": param.name, "in": "query", "required": param.required,
                 "description": description.strip() or param.name, "schema": schema}
        if param.sample is not None:
            entry["example"] = _in_schema(schema, param.sample)
        parameters.append(entry)
    if query.paginated:
        parameters += [
            {"name": "limit", "in": "query", "required": False,
             "description": f"Rows per page (default {query.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": query.page_size}},
            {"name": "offset", "in": "query", "required": False,
             "description": "Rows to skip.",
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
        ]
    if query.grlc_pages:
        parameters.append({"name": GRLC_PAGE, "in": "query", "required": False,
                           "description": "grlc's page number: 1 is the first page of `limit` "
                                          "rows (counted after `offset`, if given).",
                           "schema": {"type": "integer", "minimum": 1, "maximum": MAX_OFFSET}})
    offered = [f for f in OFFERED[query.kind]]
    parameters.append({"name": "format", "in": "query", "required": False,
                       "description": "Response format; overrides Accept.",
                       "schema": {"type": "string", "enum": offered}})
    parameters.append(_shape_parameter())
    parameters.append(_timeout_parameter())
    description = query.description
    if query.title_fr or query.description_fr:
        description += f"\n\n(fr) **{query.title_fr}** {query.description_fr}".rstrip()
    content = {MEDIA[f]: {"schema": _result_schema(query, f)} for f in offered}
    headers = {}
    if query.paginated:
        headers["Link"] = {"description": "RFC 8288 links to the first, previous and next pages.",
                           "schema": {"type": "string"}}
    ok: dict = {"description": "The query's result.", "content": content}
    if headers:
        ok["headers"] = headers
    operation: dict = {}
    if method == "post":
        operation["requestBody"] = _form_body(parameters[:len(query.params)])
        parameters = parameters[len(query.params):]
    return {
        **operation,
        "operationId": "query_" + query.name.replace("-", "_") + ("_post" if method == "post" else ""),
        "summary": query.title,
        "description": description.strip() or query.title,
        "tags": list(query.tags) or ["queries"],
        "parameters": parameters,
        "responses": {
            "200": ok,
            # an HTML page asked for (format=html, or a browser's Accept) gets its errors as a page
            **{code: _error_response(text, html="html" in offered) for code, text in ERROR_ANSWERS},
        },
    }


def _form_body(parameters: list[dict]) -> dict:
    """The query's parameters as an ``application/x-www-form-urlencoded`` request body."""
    properties = {p["name"]: {**p["schema"], "description": p["description"]} for p in parameters}
    schema: dict = {"type": "object", "properties": properties}
    required = [p["name"] for p in parameters if p["required"]]
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {FORM: {"schema": schema}}}


def _shape_parameter() -> dict:
    """Datasette's ``_shape`` (:data:`SHAPES`): what OpenAPI 3.0 cannot say of it is said here."""
    return {"name": SHAPE, "in": "query", "required": False,
            "description": "The shape of the JSON answer, as Datasette's `_shape`: `arrays` (the "
                           "default: `rows` as lists, in the order of `columns`), `objects` "
                           "(`rows` as objects keyed by column), `array` (only the list of row "
                           "objects), `object` (the row objects keyed by the first column's value, "
                           "as a string). JSON only: with another format it is a 400, as is "
                           "`object` when the first column is unbound or repeats a value.",
            "schema": {"type": "string", "enum": list(SHAPES)}}


def _timeout_parameter() -> dict:
    """``timeout``, which every stored query takes (:func:`ssikg.execution.effective_timeout`)."""
    bound = get_settings().get("query_timeout")
    return {"name": "timeout", "in": "query", "required": False,
            "description": f"Seconds the query may take; it can only lower the server's limit of "
                           f"{bound:g} s (query_timeout). 503 when the time runs out.",
            "schema": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}


ERROR_ANSWERS = (("400", "A parameter is missing, unknown or of the wrong type."),
                 ("406", "No acceptable format."),
                 ("503", "The server is busy, or the query ran out of time."))


def _error_response(description: str, html: bool = False) -> dict:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if html:
        content["text/html"] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}


def _result_schema(query: StoredQuery, fmt: str) -> dict:
    if fmt == "json":
        columns = list(query.variables) if query.kind == "select" else (
            ["boolean"] if query.kind == "ask" else ["subject", "predicate", "object"])
        schema = {
            "type": "object",
            "required": ["query", "columns", "rows", "truncated", "query_ms"],
            "properties": {
                "query": {"type": "string", "enum": [query.name]},
                "title": {"type": "string"},
                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                "columns": {"type": "array", "items": {"type": "string", "enum": columns}},
                "rows": {"type": "array", "items": {"type": "array", "items": {}}},
                "truncated": {"type": "boolean"},
                "query_ms": {"type": "number", "minimum": 0},
            },
        }
        if query.kind == "ask":
            schema["properties"]["boolean"] = {"type": "boolean"}
        if query.paginated:
            schema["properties"].update({"limit": {"type": "integer"}, "offset": {"type": "integer"},
                                         "next_url": {"type": "string", "nullable": True}})
        row_object = {"type": "object", "properties": {c: {} for c in columns}}
        with_objects = {**schema, "properties": {**schema["properties"],
                                                 "rows": {"type": "array", "items": row_object}}}
        # the _shape= answers: arrays (the default), objects, array, object
        return {"anyOf": [schema, with_objects, {"type": "array", "items": row_object},
                          {"type": "object", "additionalProperties": row_object}]}
    if fmt == "srj":
        return {"$ref": "#/components/schemas/SparqlResults"}
    return {"type": "string"}


SPARQL_RESULTS_SCHEMA = {
    "type": "object",
    "required": ["head"],
    "properties": {
        "head": {"type": "object", "properties": {"vars": {"type": "array",
                                                           "items": {"type": "string"}}}},
        "results": {"type": "object", "required": ["bindings"], "properties": {
            "bindings": {"type": "array", "items": {"type": "object"}}}},
        "boolean": {"type": "boolean"},
    },
}


def openapi_document() -> dict:
    queries = _queries()
    paths: dict = {
        "/api/queries": {"get": {
            "operationId": "list_queries",
            "summary": "List the stored queries",
            "description": "Every stored query with its title, parameters and URL.",
            "tags": ["meta"],
            "responses": {"200": {"description": "The stored queries.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/QueryList"}},
                "text/html": {"schema": {"type": "string"}}}}},
        }},
    }
    for query in queries.values():
        paths[f"/api/queries/{query.name}"] = {m.lower(): _operation(query, m.lower())
                                               for m in query.methods}
    settings = get_settings()
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ssikg stored queries",
            "version": __version__,
            "description": "France's international internal-security cooperation network as a "
                           "knowledge graph: the project's stored SPARQL queries as REST "
                           "operations with typed parameters (bound as RDF terms, never pasted "
                           "into the query). Every operation also takes `timeout`: the "
                           "seconds the query may take, which can only lower the server's "
                           f"limit ({settings.get('query_timeout'):g} s; 503 when reached). "
                           "`/api/queries/<name>.rq` is a query's SPARQL text. "
                           "The full SPARQL endpoint is at /sparql. "
                           f"Public base: {settings.public_base}",
        },
        "servers": [{"url": request.script_root or "/"}],
        "paths": paths,
        "components": {"schemas": {
            "Error": ERROR_SCHEMA,
            "SparqlResults": SPARQL_RESULTS_SCHEMA,
            "QueryList": {"type": "object", "required": ["queries"], "properties": {
                "queries": {"type": "array", "items": {
                    "type": "object", "required": ["name", "title", "url", "parameters"],
                    "properties": {"name": {"type": "string"}, "title": {"type": "string"},
                                   "url": {"type": "string"}, "page": {"type": "string"},
                                   "sparql": {"type": "string", "description": "the query's text (.rq)"},
                                   "parameters": {"type": "array", "items": {"type": "object"}}}}},
                "openapi": {"type": "string"}}},
        }},
    }


@bp.get("/api/openapi.json")
def openapi():
    response = current_app.response_class(
        json.dumps(openapi_document(), ensure_ascii=False) + "\n",
        mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return _conditional(response)


@bp.get("/api/docs")
def api_docs():
    """The OpenAPI document as a readable page (server-rendered, no JavaScript)."""
    from .resources import page as render_page

    document = openapi_document()
    operations = []
    for path, item in document["paths"].items():
        operation = item["get"]  # a POST operation (grlc's method: POST) takes the same parameters
        name = path.rsplit("/", 1)[-1]
        query = _queries().get(name)
        example_args = {p["name"]: p["example"] for p in operation.get("parameters", [])
                        if "example" in p}
        operations.append({
            "path": path, "op": operation, "query": query,
            "try": path + ("?" + urlencode(example_args) if example_args else ""),
            "formats": list(operation["responses"]["200"]["content"]),
            "description": paragraphs(operation["description"]),
            "parameters": [{**p, "paragraphs": paragraphs(p["description"])}
                           for p in operation.get("parameters", [])],
        })
    lang = _ui_lang()
    return _conditional(render_page("api_docs.html", document=document, operations=operations, lang_of=lang,
                                    w=WORDS[lang], md=inline_markdown))


# The OpenAPI document's texts are written in English, with "(fr) …" paragraphs in French, in
# the small Markdown subset of CommonMark its readers render (Swagger UI does): bold and code.
_CODE_SPAN = re.compile(r"`([^`]+)`")
# a code span, or bold text (which may hold code spans; a code span's insides stay as written)
_INLINE = re.compile(r"`([^`]+)`|\*\*((?:`[^`]+`|[^*`])+?)\*\*")


def inline_markdown(text: str) -> Markup:
    """``**bold**`` and ```code``` as HTML.  The text is escaped first, then converted: a query
    file's header can put no markup of its own on a page."""
    def html(match: re.Match) -> str:
        if match.group(1) is not None:
            return f"<code>{match.group(1)}</code>"
        return "<strong>" + _CODE_SPAN.sub(r"<code>\1</code>", match.group(2)) + "</strong>"

    return Markup(_INLINE.sub(html, str(escape(text))))


def paragraphs(description: str) -> list[tuple[str, Markup]]:
    """(language, HTML) of each paragraph of one of the document's descriptions, for pages to
    mark each with its language: "(fr) …" paragraphs are French, the others English."""
    return [("fr" if part.startswith("(fr) ") else "en", inline_markdown(part))
            for part in (chunk.strip() for chunk in description.split("\n\n")) if part]


@bp.get("/api/swagger")
def swagger_ui():
    """The OpenAPI document in the vendored Swagger UI (``static/vendor/swagger-ui``), started by
    ``static/swagger-init.js``; everything it loads comes from this server."""
    from .resources import page as render_page

    lang = _ui_lang()
    return _conditional(render_page("swagger_ui.html", lang_of=lang, w=WORDS[lang]))

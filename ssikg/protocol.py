"""The SPARQL 1.1 Protocol as pure functions: an HTTP request (method, media
type, parameters, body) becomes a :class:`QueryOperation` or an
:class:`UpdateOperation`, or a 4xx :class:`~ssikg.errors.SsikgError`; an
``Accept`` header (or a ``format=`` parameter) becomes a serialisation format.

Nothing here touches Flask's request globals, so every rule of the protocol
(``default-graph-uri`` / ``named-graph-uri``, ``using-graph-uri`` /
``using-named-graph-uri`` and their conflicts, UTF-8, one operation per
request, the media types of POST) is testable without a server.

Also here: the rewrite that applies ``using-graph-uri`` /
``using-named-graph-uri`` to an update (pyoxigraph's ``update()`` takes no
dataset arguments), done on tokens so that strings, IRIs and comments are
never mistaken for keywords.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

import pyoxigraph as ox

from .errors import SsikgError
from .sparql_lexer import Token, closing_brace, tokenize

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
K = TypeVar("K")

# ---------------------------------------------------------------------------
# Operations


@dataclass(frozen=True)
class QueryOperation:
    text: str
    default_graphs: list[str] | None = None  # None: the union of all graphs (our default dataset)
    named_graphs: list[str] | None = None  # None: every named graph of the store
    via: str = "get"  # get, form or direct: how the query arrived
    format: str | None = None  # format= / output= parameter, overriding Accept

    @property
    def has_dataset(self) -> bool:
        return self.default_graphs is not None or self.named_graphs is not None


@dataclass(frozen=True)
class UpdateOperation:
    text: str
    using_graphs: list[str] = field(default_factory=list)
    using_named_graphs: list[str] = field(default_factory=list)
    via: str = "form"

    def rewritten(self) -> str:
        """The update text with the protocol's dataset applied as USING clauses."""
        return apply_using(self.text, self.using_graphs, self.using_named_graphs)


def bad_request(message: str, **extra) -> SsikgError:
    return SsikgError(400, message, extra=extra)


# ---------------------------------------------------------------------------
# Request → operation


def parse_request(method: str, content_type: str | None, args: Sequence[tuple[str, str]],
                  body: bytes = b"") -> QueryOperation | UpdateOperation | None:
    """Decode one protocol request.

    ``args`` are the URL query parameters as (name, value) pairs in order;
    ``content_type`` the raw Content-Type header.  Returns ``None`` when the
    request carries no operation (GET /sparql alone: the service description).
    """
    method = method.upper()
    if method in ("GET", "HEAD"):
        return _from_params(list(args), [], via="get", allow_update=False)
    if method != "POST":
        raise SsikgError(405, f"{method} is not a SPARQL protocol method; use GET or POST",
                         headers={"Allow": "GET, HEAD, POST, OPTIONS"})
    mimetype, params = split_media_type(content_type)
    if not mimetype:
        raise SsikgError(415, "a POST to the SPARQL endpoint needs a Content-Type: "
                         f"{FORM}, {SPARQL_QUERY} or {SPARQL_UPDATE}")
    if mimetype == FORM:
        text = decode_utf8(body, params, what="form body")
        try:
            form = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                             encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise bad_request("the form body is not valid UTF-8 once percent-decoded") from None
        return _from_params(list(args), form, via="form", allow_update=True)
    if mimetype == SPARQL_QUERY:
        text = decode_utf8(body, params, what="query")
        _refuse_operation_params(args, ("query", "update"), "the query is the request body")
        return QueryOperation(text, *_query_dataset(list(args)), via="direct",
                              format=_format_param(list(args)))
    if mimetype == SPARQL_UPDATE:
        text = decode_utf8(body, params, what="update")
        _refuse_operation_params(args, ("query", "update"), "the update is the request body")
        using, using_named = _update_dataset(list(args))
        _check_using_conflict(text, using, using_named)
        return UpdateOperation(text, using, using_named, via="direct")
    raise SsikgError(415, f"unsupported Content-Type {mimetype!r} for the SPARQL endpoint; use "
                     f"{FORM}, {SPARQL_QUERY} or {SPARQL_UPDATE}")


def parse_query_string(raw: bytes) -> list[tuple[str, str]]:
    """URL-encoded parameters (a query string, or a form body) as (name, value) pairs, in
    order, blank values kept.  Bytes that are not UTF-8 once percent-decoded are refused with
    a 400 naming the parameter (Werkzeug would silently replace them and match the wrong
    text); raw UTF-8, which some clients send rather than %-escapes, is read as well."""
    pairs = []
    for part in raw.split(b"&"):
        if not part:
            continue
        raw_name, _equals, raw_value = part.partition(b"=")
        name = _url_decoded(raw_name)
        if name is None:
            raise bad_request("a parameter name is not valid UTF-8 once percent-decoded")
        value = _url_decoded(raw_value)
        if value is None:
            raise bad_request(f"parameter '{name}' is not valid UTF-8 once percent-decoded",
                              parameter=name)
        pairs.append((name, value))
    return pairs


def _url_decoded(raw: bytes) -> str | None:
    """One percent-decoded component ('+' is a space), or None when it is not UTF-8."""
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _from_params(url_args: list[tuple[str, str]], form: list[tuple[str, str]], *, via: str,
                 allow_update: bool) -> QueryOperation | UpdateOperation | None:
    everything = url_args + form
    queries = [v for k, v in everything if k == "query"]
    updates = [v for k, v in everything if k == "update"]
    if updates and not allow_update:
        raise bad_request("an update must be sent with POST (form field 'update' or "
                          f"Content-Type {SPARQL_UPDATE}), never with GET")
    if queries and updates:
        raise bad_request("a request carries either 'query' or 'update', not both")
    if len(queries) > 1:
        raise bad_request(f"exactly one 'query' parameter is allowed; got {len(queries)}")
    if len(updates) > 1:
        raise bad_request(f"exactly one 'update' parameter is allowed; got {len(updates)}")
    if queries:
        return QueryOperation(queries[0], *_query_dataset(everything), via=via,
                              format=_format_param(everything))
    if updates:
        using, using_named = _update_dataset(everything)
        _check_using_conflict(updates[0], using, using_named)
        return UpdateOperation(updates[0], using, using_named, via=via)
    if via == "form":
        raise bad_request("the form carries neither a 'query' nor an 'update' field")
    return None


def _format_param(params) -> str | None:
    values = [v for k, v in params if k in ("format", "output") and v.strip()]
    return values[-1] if values else None


def _refuse_operation_params(args, names, why) -> None:
    for key, _ in args:
        if key in names:
            raise bad_request(f"parameter {key!r} is not allowed here: {why}")


def _iris(params: Iterable[tuple[str, str]], name: str) -> list[str]:
    values = [v.strip() for k, v in params if k == name]
    for value in values:
        check_iri(value, name)
    return values


def check_iri(value: str, what: str) -> str:
    try:
        ox.NamedNode(value)
    except ValueError as exc:
        raise bad_request(f"{what} must be an absolute IRI; {value!r}: {exc}") from None
    return value


def _query_dataset(params) -> tuple[list[str] | None, list[str] | None]:
    default = _iris(params, "default-graph-uri")
    named = _iris(params, "named-graph-uri")
    if not default and not named:
        return None, None
    # The protocol dataset replaces the query's whole dataset: naming only
    # named graphs leaves an empty default graph, and vice versa.
    return default, named


def _update_dataset(params) -> tuple[list[str], list[str]]:
    return _iris(params, "using-graph-uri"), _iris(params, "using-named-graph-uri")


def _check_using_conflict(text: str, using: list[str], using_named: list[str]) -> None:
    if not (using or using_named):
        return
    for operation in split_operations(tokenize(text)):
        if operation.has_using or operation.has_with:
            raise bad_request("using-graph-uri / using-named-graph-uri cannot be combined with an "
                              "update that has its own USING or WITH clause (SPARQL 1.1 Protocol §2.2.3)")


def split_media_type(value: str | None) -> tuple[str, dict[str, str]]:
    if not value:
        return "", {}
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for part in parts[1:]:
        if "=" in part:
            key, _, val = part.partition("=")
            params[key.strip().lower()] = val.strip().strip('"')
    return parts[0].lower(), params


def decode_utf8(body: bytes, params: Mapping[str, str], *, what: str) -> str:
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise bad_request(f"the {what} must be encoded in UTF-8 (got charset={charset})")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"the {what} is not valid UTF-8 (byte {exc.start}: {exc.reason})") from None


# ---------------------------------------------------------------------------
# Content negotiation


@dataclass(frozen=True)
class MediaFormat:
    media_type: str
    format: ox.QueryResultsFormat | ox.RdfFormat
    short: str

    @property
    def content_type(self) -> str:
        textual = self.media_type.startswith("text/") or self.media_type.endswith(
            ("json", "+xml", "trig", "n-triples", "n-quads"))
        return f"{self.media_type}; charset=utf-8" if textual else self.media_type


QRF, RF = ox.QueryResultsFormat, ox.RdfFormat

# Offered formats, preferred first; aliases are accepted but answered with the canonical type.
SOLUTIONS_FORMATS = (
    MediaFormat("application/sparql-results+json", QRF.JSON, "json"),
    MediaFormat("application/sparql-results+xml", QRF.XML, "xml"),
    MediaFormat("text/csv", QRF.CSV, "csv"),
    MediaFormat("text/tab-separated-values", QRF.TSV, "tsv"),
)
SOLUTIONS_ALIASES = {"application/json": "json", "text/javascript": "json",
                     "application/javascript": "json", "application/xml": "xml", "text/xml": "xml"}
GRAPH_FORMATS = (
    MediaFormat("text/turtle", RF.TURTLE, "ttl"),
    MediaFormat("application/n-triples", RF.N_TRIPLES, "nt"),
    MediaFormat("application/n-quads", RF.N_QUADS, "nq"),
    MediaFormat("application/trig", RF.TRIG, "trig"),
    MediaFormat("application/ld+json", RF.JSON_LD, "jsonld"),
    MediaFormat("application/rdf+xml", RF.RDF_XML, "rdf"),
)
GRAPH_ALIASES = {"application/x-turtle": "ttl", "text/n3": "ttl", "text/plain": "nt",
                 "application/json": "jsonld", "application/xml": "rdf", "text/xml": "rdf"}

# format= values (Fuseki's and ours): short name → (solutions short, graph short)
FORMAT_PARAMETER = {
    "json": ("json", "jsonld"), "srj": ("json", None), "xml": ("xml", "rdf"), "srx": ("xml", None),
    "csv": ("csv", None), "tsv": ("tsv", None),
    "ttl": (None, "ttl"), "turtle": (None, "ttl"), "n3": (None, "ttl"),  # Turtle is N3
    "nt": (None, "nt"), "ntriples": (None, "nt"),
    "n-triples": (None, "nt"), "nq": (None, "nq"), "nquads": (None, "nq"), "n-quads": (None, "nq"),
    "trig": (None, "trig"), "jsonld": (None, "jsonld"), "json-ld": (None, "jsonld"),
    "rdf": (None, "rdf"), "rdfxml": (None, "rdf"), "rdf+xml": (None, "rdf"), "owl": (None, "rdf"),
}


def offered(formats: Sequence[MediaFormat]) -> list[str]:
    return [f.media_type for f in formats]


@dataclass(frozen=True)
class AcceptRange:
    type: str
    subtype: str
    q: float
    order: int

    def matches(self, media_type: str) -> int:
        """Specificity of the match (3 exact, 2 type/*, 1 */*), 0 when it does not match."""
        kind, _, sub = media_type.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 1
        if self.type == kind and self.subtype == "*":
            return 2
        if self.type == kind and self.subtype == sub:
            return 3
        return 0


def parse_accept(header: str | None) -> list[AcceptRange]:
    """Accept header → ranges; a missing or empty header, or one without a single readable
    range (``;;;``), means ``*/*``; an unreadable q-value counts as 1 (as Jena and Apache
    read them: RFC 9110 lets a server ignore what it cannot parse rather than refuse)."""
    if not header or not header.strip():
        return [AcceptRange("*", "*", 1.0, 0)]
    ranges = []
    for order, item in enumerate(header.split(",")):
        media, params = split_media_type(item)
        if not media:
            continue
        kind, _, sub = media.partition("/")
        if not sub:
            kind, sub = (("*", "*") if kind == "*" else (kind, "*"))
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q != q:  # NaN
            q = 1.0
        ranges.append(AcceptRange(kind, sub, max(0.0, min(q, 1.0)), order))
    return ranges or [AcceptRange("*", "*", 1.0, 0)]


def quality(ranges: Sequence[AcceptRange], media_type: str) -> tuple[float, int, int]:
    """(q, specificity, -order) of the most specific range matching ``media_type``."""
    best = (0.0, 0, 0)
    best_specificity = 0
    for rng in ranges:
        specificity = rng.matches(media_type)
        if specificity > best_specificity or (specificity == best_specificity and specificity
                                              and rng.q > best[0]):
            best_specificity = specificity
            best = (rng.q, specificity, -rng.order)
    return best


def best_offer(accept: str | None, offers: Sequence[tuple[K, str]],
               exact_only: Sequence[tuple[K, str]] = ()) -> K | None:
    """The key of the offered ``(key, media type)`` that ``accept`` ranks best, or None when
    nothing is acceptable: the highest q, then the more specific range, then the range the
    client wrote first, then the order of ``offers`` (ours).  ``exact_only`` offers (aliases
    such as ``application/x-turtle``) count only when the client names them, never through a
    wildcard.  Every negotiation of the site goes through here, so one Accept header gets the
    same kind of answer from every route."""
    ranges = parse_accept(accept)
    candidates = [(quality(ranges, media), -rank, key) for rank, (key, media) in enumerate(offers)]
    for rank, (key, media) in enumerate(exact_only):
        q = quality(ranges, media)
        if q[1] == 3:
            candidates.append((q, -len(offers) - rank, key))
    candidates = [c for c in candidates if c[0][0] > 0]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0], c[1]))[2]


def negotiate(accept: str | None, formats: Sequence[MediaFormat],
              aliases: Mapping[str, str] | None = None) -> MediaFormat | None:
    """The best offered format for an Accept header (:func:`best_offer`'s rule), aliases
    answered with their canonical format."""
    by_short = {f.short: f for f in formats}
    return best_offer(accept, [(f, f.media_type) for f in formats],
                      [(by_short[short], alias) for alias, short in (aliases or {}).items() if short in by_short])


def choose_representation(accept: str | None, asked: str | None, offers: Sequence[tuple[K, str]],
                          names: Mapping[str, K], *, exact_only: Sequence[tuple[K, str]] = (),
                          what: str = "") -> K:
    """A route's representation: ``format=`` (``asked``, one of ``names``) wins, else the
    Accept header (:func:`best_offer`; a missing header takes the first offer).  An unknown
    ``format=`` is a 400 listing the names, nothing acceptable a 406 listing the offered types."""
    if asked is not None:
        key = names.get(asked.strip().lower())
        if key is None:
            raise SsikgError(400, f"unknown format '{asked}'; use one of: {', '.join(sorted(names))}",
                             extra={"parameter": "format", "formats": sorted(names)})
        return key
    chosen = best_offer(accept, offers, exact_only)
    if chosen is None:
        offered_types = list(dict.fromkeys(media for _key, media in offers))
        raise SsikgError(406, f"no acceptable representation{what}; offered: " + ", ".join(offered_types),
                         headers={"Vary": "Accept"}, extra={"offered": offered_types})
    return chosen


def ranks_above(accept: str | None, media_type: str, others: Iterable[str]) -> bool:
    """Whether ``accept`` names ``media_type`` acceptable and strictly above each of ``others``
    (so ``*/*`` alone, which ranks them alike, never does)."""
    if not accept:
        return False
    ranges = parse_accept(accept)
    q = quality(ranges, media_type)[0]
    return q > 0 and all(q > quality(ranges, other)[0] for other in others)


# Pure and asked on every query with a handful of distinct Accept headers: remembered
# (bounded, so a client varying its header only evicts entries).
@functools.lru_cache(maxsize=512)
def negotiate_query_formats(accept: str | None, format_param: str | None
                            ) -> tuple[MediaFormat | None, MediaFormat | None]:
    """The format for a solutions/boolean result and the one for a graph result.

    ``format_param`` (``format=`` or ``output=``) overrides Accept; it is a short
    name (json, xml, csv, tsv, ttl, nt, nq, trig, jsonld, rdf) or a media type.
    """
    if format_param:
        return format_from_parameter(format_param)
    return (negotiate(accept, SOLUTIONS_FORMATS, SOLUTIONS_ALIASES),
            negotiate(accept, GRAPH_FORMATS, GRAPH_ALIASES))


HTML_FORMAT_NAMES = ("html", "text/html")
# every media type a query's data answer may be asked for by, aliases included
_DATA_TYPES = tuple(dict.fromkeys([*(m.media_type for m in (*SOLUTIONS_FORMATS, *GRAPH_FORMATS)),
                                   *SOLUTIONS_ALIASES, *GRAPH_ALIASES]))


def wants_html(accept: str | None, format_param: str | None) -> bool:
    """Whether a query's answer should be a page: ``format=html``, or an Accept that ranks
    text/html above every result format (a browser following a link or sending the query
    page's form).  ``*/*`` alone ranks them alike, so curl and scripts get data."""
    if format_param:
        return format_param.strip().lower() in HTML_FORMAT_NAMES
    if not accept or "html" not in accept.lower():  # scripts' Accept: decided without parsing
        return False
    return ranks_above(accept, "text/html", _DATA_TYPES)


def accepts_html(accept: str | None) -> bool:
    """Whether text/html is acceptable at all (``*/*`` counts)."""
    return bool(accept) and quality(parse_accept(accept), "text/html")[0] > 0


def format_from_parameter(value: str) -> tuple[MediaFormat | None, MediaFormat | None]:
    key = value.strip().lower()
    if "/" in key:
        return (negotiate(key, SOLUTIONS_FORMATS, SOLUTIONS_ALIASES),
                negotiate(key, GRAPH_FORMATS, GRAPH_ALIASES))
    if key not in FORMAT_PARAMETER:
        raise bad_request(f"unknown format {value!r}; use one of json, xml, csv, tsv (results) or "
                          "ttl, nt, nq, trig, jsonld, rdf (graphs), or a media type",
                          formats=sorted(FORMAT_PARAMETER))
    solutions, graph = FORMAT_PARAMETER[key]
    return (next((f for f in SOLUTIONS_FORMATS if f.short == solutions), None),
            next((f for f in GRAPH_FORMATS if f.short == graph), None))


def offered_types() -> dict[str, list[str]]:
    return {"solutions": offered(SOLUTIONS_FORMATS), "boolean": offered(SOLUTIONS_FORMATS),
            "graph": offered(GRAPH_FORMATS)}


def media_format_for(fmt) -> MediaFormat | None:
    for media in (*SOLUTIONS_FORMATS, *GRAPH_FORMATS):
        if media.format == fmt:
            return media
    return None


# ---------------------------------------------------------------------------
# Operations and the USING rewrite (tokens from ssikg.sparql_lexer)

@dataclass
class UpdateOp:
    tokens: list[Token]

    def _top(self):
        return [t for t in self.tokens if t.depth == 0]

    def _head(self) -> list[Token]:
        """Top-level tokens after the prologue (PREFIX p: <iri> / BASE <iri>)."""
        top = self._top()
        i = 0
        while i < len(top):
            if top[i].keyword("PREFIX"):
                i += 3
            elif top[i].keyword("BASE"):
                i += 2
            else:
                break
        return top[i:]

    @property
    def has_with(self) -> bool:
        head = self._head()
        return bool(head) and head[0].keyword("WITH")

    @property
    def has_using(self) -> bool:
        return any(t.keyword("USING") for t in self._top())

    @property
    def is_modify(self) -> bool:
        head = self._head()
        if head and head[0].keyword("WITH"):
            head = head[2:]
        if not head or not head[0].keyword("DELETE", "INSERT"):
            return False
        return len(head) > 1 and head[1].text == "{"

    @property
    def is_delete_where(self) -> bool:
        head = self._head()
        return len(head) > 1 and head[0].keyword("DELETE") and head[1].keyword("WHERE")


def split_operations(tokens: list[Token]) -> list[UpdateOp]:
    ops, current = [], []
    for token in tokens:
        if token.text == ";" and token.depth == 0:
            ops.append(UpdateOp(current))
            current = []
        else:
            current.append(token)
    if current:
        ops.append(UpdateOp(current))
    return ops


def apply_using(text: str, using: Sequence[str], using_named: Sequence[str]) -> str:
    """Insert ``USING <g>`` / ``USING NAMED <g>`` into every DELETE/INSERT … WHERE
    operation of ``text`` (and turn ``DELETE WHERE { P }`` into the equivalent
    ``DELETE { P } USING … WHERE { P }``).  Operations without a WHERE clause
    (INSERT DATA, CLEAR, LOAD …) are left as they are: the protocol dataset only
    governs pattern matching.  IRIs are validated, never pasted unchecked."""
    if not using and not using_named:
        return text
    clauses = "".join(f" USING <{check_iri(g, 'using-graph-uri')}>" for g in using)
    clauses += "".join(f" USING NAMED <{check_iri(g, 'using-named-graph-uri')}>" for g in using_named)
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) on the original text
    for op in split_operations(tokenize(text)):
        if op.is_delete_where:
            head = op._head()
            where, body_open = head[1], head[2] if len(head) > 2 else None
            if body_open is None or body_open.text != "{":
                continue  # malformed: leave it to the parser's message
            body_close = closing_brace(op.tokens, body_open)
            if body_close is None:
                continue
            pattern = text[body_open.start:body_close.end]
            edits.append((where.start, where.end, f"{pattern}{clauses} WHERE"))
        elif op.is_modify:
            where = next((t for t in op._head() if t.keyword("WHERE")), None)
            if where is not None:
                edits.append((where.start, where.start, clauses.lstrip() + " "))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


# ---------------------------------------------------------------------------
# Syntax errors, said so that a person can act on them

_MAX_ERROR_CHARS = 300


def syntax_error_message(text: str, error: str) -> str:
    """The engine's syntax error, readable: an undeclared prefix is named (Oxigraph lists
    the grammar's character ranges instead), and an over-long list of what the grammar
    expected is cut."""
    position = error.split(":", 2)[:2] if error.startswith("error at ") else None
    undeclared = _undeclared_prefix(text)
    if undeclared is not None and "Prefix not found" in error:
        return (":".join(position) + ": " if position else "") + \
            f"undeclared prefix '{undeclared}:' (declare it: PREFIX {undeclared}: <…>)"
    if len(error) > _MAX_ERROR_CHARS:
        error = _CHARACTER_CLASSES.sub("", error)
    if len(error) > _MAX_ERROR_CHARS:
        error = error[:_MAX_ERROR_CHARS].rstrip() + " …"
    # Oxigraph names a missing prefix only in some positions; elsewhere it is still the likely cause
    return error if undeclared is None else f"{error}; note: the prefix '{undeclared}:' is not declared"


# the grammar's character classes, e.g. ['A' ..= 'Z' | '\u{00C0}'..='\u{00D6}' | …]
_CHARACTER_CLASSES = re.compile(r",?\s*\[[^\[\]]*\]")


def _undeclared_prefix(text: str) -> str | None:
    tokens = tokenize(text)
    declared = {tokens[i + 1].prefix for i, token in enumerate(tokens[:-1])
                if token.keyword("PREFIX") and tokens[i + 1].kind == "pname"}
    return next((t.prefix for t in tokens if t.kind == "pname" and t.prefix not in declared
                 and not t.text.startswith("_:")), None)  # a blank node's label, not a prefix

"""Request bodies: read whole within the size limit, and RDF in them parsed safely.

:func:`read_body` is the one way a view reads a request body.  It answers, instead of
reading something else than what was sent:

* 400 for a ``Content-Length`` that is not a number (RFC 9112 §6.3; the development
  server would read such a body as empty, and an empty PUT empties a graph), and for a
  body the server could not read (a malformed chunk, a client gone mid-body);
* 413 when the body is larger than ``max_body_bytes``, chunked bodies included (they
  carry no length to check first; Werkzeug would cut them at the limit without a word);
* 415 for an encoded body (``Content-Encoding`` other than identity, RFC 9110 §15.5.16):
  nothing here decodes one, and reading gzip as Turtle only gives a puzzling 400.

:func:`parse_rdf_body` parses an uploaded RDF document with the store's own parser
(pyoxigraph), so that what is validated is what a write would store, and nothing is
fetched while parsing: a JSON-LD ``@context`` naming a URL or a file is an error, never a
request (rdflib would fetch it, or read the file).  RDF/XML may declare entities (tools
write ``<!ENTITY xsd "…">`` to shorten IRIs), but not external or parameter entities, nor
entities built of other entities, and all the references together may not expand to more
than the body limit: a 500-byte "billion laughs" document would otherwise take gigabytes
and minutes of CPU.

:func:`rdf_format_for` is the one table of what an RDF upload may be (Graph Store writes,
``POST /validate``): the media types the server offers and their aliases, UTF-8 only.
"""

from __future__ import annotations

import re

import pyoxigraph as ox
from flask import request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from . import protocol
from .errors import SsikgError

_DIGITS = re.compile(r"[0-9]+")


def read_body(limit: int) -> bytes:
    """The whole request body (kept for form parsing), or the 400/413/415 that says why not.
    ``limit`` is ``max_body_bytes`` (0: none)."""
    length = request.headers.get("Content-Length")
    if length is not None and not _DIGITS.fullmatch(length.strip()):
        raise SsikgError(400, f"Content-Length {length!r} is not a number of bytes")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise SsikgError(415, f"request bodies are read as sent: Content-Encoding {encoding!r} is not "
                              "accepted (send the body unencoded)")
    try:
        body = request.get_data(cache=True)
        more = bool(limit and request.content_length is None and len(body) >= limit and _more_input())
    except (ClientDisconnected, OSError, ValueError, ParseException) as exc:
        # ParseException: gunicorn's, raised while it reads a malformed chunked body
        raise SsikgError(400, f"the request body could not be read: {type(exc).__name__}: {exc}") from None
    if more:
        raise SsikgError(413, f"the request body is larger than {limit:,} bytes (max_body_bytes)")
    return body


def _more_input() -> bool:
    """Whether bytes follow the ``limit`` Werkzeug read of a body without a length."""
    return bool(request.environ["wsgi.input"].read(1))


# ---------------------------------------------------------------------------
# RDF documents

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY\s+(%\s*)?([^\s%\"'>]+)\s+(?:(SYSTEM|PUBLIC)\b|\"([^\"]*)\"|'([^']*)')")


def guard_xml_entities(body: bytes, limit: int, what: str) -> None:
    """Refuse (400) an XML document whose entities could expand without bound."""
    if not _DOCTYPE.search(body):
        return
    expanded = len(body)
    for match in _ENTITY.finditer(body):
        parameter, name, external = match.group(1), match.group(2), match.group(3)
        value = match.group(4) if match.group(4) is not None else match.group(5)
        if parameter or external:
            raise SsikgError(400, f"{what} declares an external or parameter entity ({name.decode(errors='replace')}); "
                                  "only internal entities are accepted; nothing was changed")
        if b"&" in value or b"%" in value:
            raise SsikgError(400, f"{what} declares entity {name.decode(errors='replace')} in terms of other "
                                  "entities; nested entities are not accepted; nothing was changed")
        expanded += body.count(b"&" + name + b";") * len(value)
    bound = limit or 16 * 1024 * 1024
    if expanded > bound:
        raise SsikgError(400, f"{what}'s entities expand to {expanded:,} bytes, more than {bound:,}; "
                              "nothing was changed")


# pyoxigraph's JSON-LD parser recurses once per nested object and crashed the process
# (SIGSEGV) from about 4,000 levels, a 60 KB document.
MAX_JSON_DEPTH = 256
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def guard_json_depth(body: bytes, what: str) -> None:
    """Refuse (400) a JSON document nesting objects and arrays deeper than MAX_JSON_DEPTH."""
    if body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket.group() in (b"{", b"[") else -1
        if depth > MAX_JSON_DEPTH:
            raise SsikgError(400, f"{what} nests JSON objects or arrays more than {MAX_JSON_DEPTH} deep; "
                                  "nothing was changed")


def parse_rdf_body(body: bytes, fmt: ox.RdfFormat, *, base_iri: str | None, limit: int,
                   what: str) -> list[ox.Quad]:
    """Every quad of an uploaded document, parsed by pyoxigraph, or a 400 naming what is wrong."""
    if fmt == ox.RdfFormat.RDF_XML:
        guard_xml_entities(body, limit, what)
    elif fmt == ox.RdfFormat.JSON_LD:
        guard_json_depth(body, what)
    try:
        quads = list(ox.parse(body, fmt, base_iri=base_iri))
    except SyntaxError as exc:
        raise SsikgError(400, f"cannot parse {what} as {fmt.name}: {exc}; nothing was changed") from None
    except (ValueError, OSError) as exc:
        raise SsikgError(400, f"cannot read {what} as {fmt.name}: {exc}; nothing was changed") from None
    refuse_unwritable(quads, what)
    return quads


_LANG_STRING_TYPES = frozenset(f"http://www.w3.org/1999/02/22-rdf-syntax-ns#{name}"
                               for name in ("langString", "dirLangString"))


def refuse_unwritable(quads, what: str) -> None:
    """400 for a literal typed ``rdf:langString`` or ``rdf:dirLangString`` without its
    language.  JSON-LD, RDF/XML and SPARQL (``STRDT``) let one through, but no RDF syntax can
    write it back (the N-Quads, TriG and Turtle parsers refuse it): stored, it made the
    store's own dumps unparsable and its validation fail."""
    for quad in quads:
        term = quad.object
        if isinstance(term, ox.Literal) and term.language is None and term.datatype.value in _LANG_STRING_TYPES:
            raise SsikgError(400, f"{what} holds the literal \"{term.value}\"^^<{term.datatype.value}>, which has no "
                                  "language tag: no RDF syntax can write it back (the store's dumps would not "
                                  "parse); give it a language (\"…\"@fr) or another datatype; nothing was changed",
                             title="Literal not storable")


# ---------------------------------------------------------------------------
# Media types of uploads

# What the server offers as RDF, and the aliases content negotiation also accepts
# (text/n3 is read as Turtle, the RDF part of N3; text/plain as N-Triples).
RDF_UPLOAD_TYPES: dict[str, ox.RdfFormat] = {
    **{media.media_type: media.format for media in protocol.GRAPH_FORMATS},
    **{alias: next(m.format for m in protocol.GRAPH_FORMATS if m.short == short)
       for alias, short in protocol.GRAPH_ALIASES.items()},
}
# US-ASCII is a subset of UTF-8: a body declared so reads the same.
UTF8_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")
# What a browser sends for a file it cannot type: its name decides then.
UNTYPED = ("", "application/octet-stream")


def rdf_format_for(content_type: str | None, *, what: str = "the upload",
                   filename: str | None = None) -> ox.RdfFormat:
    """The RDF syntax of an upload from its Content-Type (for a form's file part whose type
    says nothing, from its ``filename``), or a 415 naming what is accepted."""
    mimetype, params = protocol.split_media_type(content_type)
    accepted = sorted(RDF_UPLOAD_TYPES)
    if filename is not None and mimetype in UNTYPED:
        by_name = media_type_from_filename(filename)
        if by_name is None:
            raise SsikgError(415, f"cannot tell the RDF syntax of {what} (Content-Type {mimetype or 'none'!r}); "
                                  "name it .ttl, .trig, .nt, .nq, .jsonld, .rdf or .n3, or send one of: "
                                  + ", ".join(accepted), extra={"accepted": accepted})
        mimetype = by_name
    if not mimetype:
        raise SsikgError(415, f"{what} needs a Content-Type naming an RDF syntax: one of {', '.join(accepted)}",
                         extra={"accepted": accepted})
    fmt = RDF_UPLOAD_TYPES.get(mimetype)
    if fmt is None:
        raise SsikgError(415, f"unsupported media type {mimetype!r} for {what}; use one of {', '.join(accepted)}",
                         extra={"accepted": accepted})
    charset = params.get("charset", "utf-8").lower()
    if charset not in UTF8_CHARSETS:
        raise SsikgError(415, f"{what} must be UTF-8 (got charset={charset})", extra={"accepted": accepted})
    return fmt


def media_type_from_filename(filename: str | None) -> str | None:
    """The RDF media type a file name's extension names (a form upload often says only
    application/octet-stream), or None."""
    if not filename or "." not in filename:
        return None
    try:
        fmt = ox.RdfFormat.from_extension(filename.rsplit(".", 1)[-1].lower())
    except ValueError:
        return None
    return fmt.media_type if fmt else None

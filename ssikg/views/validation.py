"""The validation service: ``GET /validate`` checks the current store against the
SHACL shapes, ``POST /validate`` checks the RDF in the request body (any RDF
syntax, by Content-Type) or a file uploaded by the validation page's form
(``multipart/form-data``, typed by the part's Content-Type or its file name),
alone or merged with the store (``merge=store``).

The answer is the ``sh:ValidationReport`` graph by content negotiation
(Turtle, JSON-LD, N-Triples, RDF/XML; Turtle for ``*/*``, as Fuseki's SHACL
service does) or a summary as JSON, HTML or plain text.  ``format=`` overrides
Accept; ``lang=fr|en`` (else Accept-Language) chooses the language of messages
and labels.  A non-conforming report is still a 200: the validation ran.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, json, request

from .. import linked_data as ld
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..namespaces import GRAPHS
from ..uploads import media_type_from_filename, parse_rdf_body, read_body
from ..validation import (
    MEDIA_TYPES,
    ValidationInputError,
    ValidationReport,
    quads_from_store,
    validate_quads,
)
from ..xml_text import xml_safe

bp = Blueprint("validation", __name__)

QUAD_SYNTAXES = {ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS, ox.RdfFormat.JSON_LD}

MAX_BODY_BYTES = 16 * 1024 * 1024
LANGS = ("fr", "en")
SITE_LANGS = ld.LANGS  # the page frame offers these; messages exist in fr and en


@dataclass(frozen=True)
class ReportFormat:
    media_type: str
    kind: str  # "rdf" (rdflib serializer name in `rdflib`), "json", "html" or "text"
    rdflib: str | None = None


# Preference order for */*: the report graph in Turtle first.
REPORT_FORMATS = (
    ReportFormat("text/turtle", "rdf", "turtle"),
    ReportFormat("application/ld+json", "rdf", "json-ld"),
    ReportFormat("application/n-triples", "rdf", "nt"),
    ReportFormat("application/rdf+xml", "rdf", "xml"),
    ReportFormat("application/json", "json"),
    ReportFormat("text/html", "html"),
    ReportFormat("text/plain", "text"),
)
FORMAT_PARAMETER = {
    "ttl": "text/turtle", "turtle": "text/turtle", "jsonld": "application/ld+json",
    "json-ld": "application/ld+json", "nt": "application/n-triples", "ntriples": "application/n-triples",
    "n-triples": "application/n-triples", "rdf": "application/rdf+xml", "xml": "application/rdf+xml",
    "json": "application/json", "html": "text/html", "text": "text/plain", "txt": "text/plain",
}


# ---------------------------------------------------------------------------
# Routes


@bp.get("/validate")
def validate_store_route() -> Response:
    """Validate the current store (cached until the store changes)."""
    report = _store_report()
    return _answer(report)


@bp.post("/validate")
def validate_body_route() -> Response:
    """Validate the RDF in the body, alone or merged with the store (``merge=store``): a
    document sent as the body, or a file uploaded by the page's form (multipart/form-data)."""
    limit = min(get_settings().max_body_bytes or MAX_BODY_BYTES, MAX_BODY_BYTES)
    form_upload = (request.mimetype or "").lower() == "multipart/form-data"
    if form_upload:
        _body(limit)  # the size limits first; the form is parsed from the body read
        body, fmt, what = _uploaded_file()
    fields = request.form if form_upload else {}
    merge = (request.args.get("merge") or fields.get("merge") or "").strip().lower()
    if merge not in ("", "none", "store"):
        raise SsikgError(400, f"unknown merge '{merge}'; use merge=store to validate the body "
                              "together with the store's content, or leave it out")
    graph = _target_graph(request.args.get("graph") or fields.get("graph"))
    if not form_upload:
        fmt, what = _body_format(), "the request body"
        body = _body(limit)
    parsed = _parse(body, fmt, limit, what)
    if fmt not in QUAD_SYNTAXES:  # a triple syntax: its triples go to graph= (else the default graph)
        target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
        parsed = [ox.Quad(q.subject, q.predicate, q.object, target) for q in parsed]
    try:
        quads = list(quads_from_store(parsed))
        if merge == "store":
            quads = list(quads_from_store(get_store().quads())) + quads
        report = validate_quads(quads, source_dir=get_settings().source_dir)
    except ValidationInputError as exc:
        raise SsikgError(400, str(exc), title="Unreadable RDF") from None
    return _answer(report)


# ---------------------------------------------------------------------------
# Inputs


def _parse(body: bytes, fmt: ox.RdfFormat, limit: int, what: str) -> list[ox.Quad]:
    """The quads of the upload, parsed as a write parses them; a 400 with the parser's words
    (and its line) when it cannot be read.  Validation changes nothing, so the write's
    "nothing was changed" is left out."""
    try:
        return parse_rdf_body(body, fmt, base_iri=get_settings().public_base, limit=limit, what=what)
    except SsikgError as exc:
        message = exc.message.removesuffix("; nothing was changed")
        raise SsikgError(exc.status, f"the upload could not be read: {message}", title="Unreadable RDF",
                         extra={"accepted": sorted(MEDIA_TYPES)}) from None


def _uploaded_file() -> tuple[bytes, ox.RdfFormat, str]:
    """The file of a form upload: its bytes, its syntax (from the part's Content-Type, else
    its file name's extension) and how messages name it."""
    parts = [part for _name, part in request.files.items(multi=True)]
    if not parts:
        raise SsikgError(400, "the multipart/form-data body holds no file part: choose an RDF file to validate")
    if len(parts) > 1:
        raise SsikgError(400, "send one file at a time to POST /validate")
    part = parts[0]
    what = f"file {part.filename!r}" if part.filename else "the uploaded file"
    body = part.read()
    if not body.strip():  # what a browser sends when no file was chosen
        raise SsikgError(400, f"{what} is empty: choose an RDF file to validate")
    charset = (part.mimetype_params.get("charset") or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise SsikgError(415, f"{what} must be UTF-8 (got charset={charset})")
    fmt = MEDIA_TYPES.get((part.mimetype or "").lower())
    if fmt is None:
        fmt = MEDIA_TYPES.get(media_type_from_filename(part.filename) or "")
    if fmt is None:
        raise SsikgError(415, f"cannot tell the RDF syntax of {what} (Content-Type {part.mimetype or 'none'!r}); "
                              "name it .ttl, .trig, .nt, .nq, .jsonld, .rdf or .n3, or send one of: "
                              + ", ".join(sorted(MEDIA_TYPES)), extra={"accepted": sorted(MEDIA_TYPES)})
    return body, fmt, what


def _body_format() -> ox.RdfFormat:
    mimetype = (request.mimetype or "").lower()
    if not mimetype:
        raise SsikgError(415, "POST /validate needs a Content-Type naming an RDF syntax; accepted: "
                         + ", ".join(sorted(MEDIA_TYPES)), extra={"accepted": sorted(MEDIA_TYPES)})
    fmt = MEDIA_TYPES.get(mimetype)
    if fmt is None:
        raise SsikgError(415, f"cannot validate a {mimetype} body; accepted: " + ", ".join(sorted(MEDIA_TYPES)),
                         extra={"accepted": sorted(MEDIA_TYPES)})
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise SsikgError(415, f"RDF bodies must be UTF-8, not {charset}")
    return fmt


def _body(limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise SsikgError(413, f"the body is {length:,} bytes; POST /validate accepts at most "
                              f"{limit:,} bytes")
    body = read_body(limit)
    if not body.strip():
        raise SsikgError(400, "the body is empty: send the RDF to validate")
    return body


def _target_graph(value: str | None) -> str | None:
    """``graph=`` puts a triple-format body into a named graph (``stated`` etc. are accepted as short names)."""
    if value is None or value == "":
        return None
    if value in GRAPHS:
        return GRAPHS[value]
    if not value.startswith(("http://", "https://", "urn:")) or any(c in value for c in ' <>"{}|\\^`'):
        raise SsikgError(400, f"graph= must be an absolute IRI or one of {', '.join(GRAPHS)}; got {value!r}")
    return value


# ---------------------------------------------------------------------------
# The store's report, cached by store version


_cache_lock = threading.Lock()


def _store_report() -> ValidationReport:
    store = get_store()
    key = str(store.version)
    cache = current_app.extensions.setdefault("ssikg.validation", {})
    with _cache_lock:
        if cache.get("version") == key:
            return cache["report"]
    report = validate_quads(quads_from_store(store.quads()), source_dir=get_settings().source_dir)
    with _cache_lock:
        cache.update(version=key, report=report)
    return report


# ---------------------------------------------------------------------------
# Answers


def _lang() -> str:
    """fr or en: ``lang=`` (the site's other languages fall back to English), else Accept-Language."""
    asked = request.args.get("lang", "").strip().lower()
    if asked in LANGS:
        return asked
    if asked in SITE_LANGS:
        return "en"
    # another value is ignored, as the site's other pages ignore it
    return request.accept_languages.best_match(LANGS, default="fr")


def _negotiate() -> ReportFormat:
    asked = request.args.get("format")
    by_type = {f.media_type: f for f in REPORT_FORMATS}
    if asked is not None:
        media = FORMAT_PARAMETER.get(asked.strip().lower())
        if media is None:
            raise SsikgError(400, f"unknown format '{asked}'; use one of: {', '.join(sorted(FORMAT_PARAMETER))}")
        return by_type[media]
    accept = request.accept_mimetypes
    if not request.headers.get("Accept"):
        return REPORT_FORMATS[0]
    best = accept.best_match([f.media_type for f in REPORT_FORMATS])
    if best is None:
        offered = [f.media_type for f in REPORT_FORMATS]
        raise SsikgError(406, "no acceptable representation of the validation report; offered: "
                         + ", ".join(offered), extra={"offered": offered})
    return by_type[best]


def _answer(report: ValidationReport) -> Response:
    fmt = _negotiate()
    lang = _lang()
    if fmt.kind == "rdf":
        data = report.serialize(fmt.rdflib)
        response = Response(xml_safe(data) if fmt.rdflib == "xml" else data, mimetype=fmt.media_type)
    elif fmt.kind == "json":
        response = Response(json.dumps(report.as_dict(lang), ensure_ascii=False) + "\n",
                            mimetype="application/json")
    elif fmt.kind == "text":
        response = Response(report.text(lang), mimetype="text/plain")
    else:
        response = _html(report, lang)
    if fmt.kind in ("rdf", "text") and fmt.media_type.startswith("text/"):
        response.charset = "utf-8"
    response.headers["Content-Language"] = lang
    response.headers["X-SSIKG-Conforms"] = "true" if report.conforms else "false"
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept")
    response.vary.add("Accept-Language")
    return response


_HTML_TEXT = {
    "fr": {"title": "Validation SHACL", "conforms": "Les données sont conformes aux formes.",
           "fails": "Les données ne sont pas conformes.", "focus": "Nœud", "path": "Chemin",
           "value": "Valeur", "message": "Message", "shape": "Forme", "severity": "Gravité",
           "download": "Rapport sh:ValidationReport", "none": "Aucun résultat.",
           "upload": "Valider un fichier RDF", "file": "Fichier RDF (Turtle, TriG, N-Triples, N-Quads, JSON-LD, "
           "RDF/XML, N3)", "merge": "avec le contenu de la base", "submit": "Valider",
           "upload_note": "Le fichier est seulement validé : rien n’est enregistré."},
    "en": {"title": "SHACL validation", "conforms": "The data conforms to the shapes.",
           "fails": "The data does not conform.", "focus": "Focus node", "path": "Path",
           "value": "Value", "message": "Message", "shape": "Shape", "severity": "Severity",
           "download": "sh:ValidationReport", "none": "No results.",
           "upload": "Validate an RDF file", "file": "RDF file (Turtle, TriG, N-Triples, N-Quads, JSON-LD, "
           "RDF/XML, N3)", "merge": "together with the store's content", "submit": "Validate",
           "upload_note": "The file is only validated: nothing is stored."},
}


def _html(report: ValidationReport, lang: str) -> Response:
    from .resources import page  # the site's page frame (header, language switch)

    groups = [{"focus": r[0].as_dict(lang), "results": [x.as_dict(lang) for x in r]}
              for _focus, r in ((f, rs) for f, rs in report.grouped())]
    return page("validation.html", lang=lang, report=report.as_dict(lang), groups=groups,
                v=_HTML_TEXT[lang], self_url=request.path,
                # the links fetch the store's report: a posted body's report is not behind them
                downloads=request.method == "GET")

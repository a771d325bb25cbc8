"""The SHACL shapes as a linked-data document (blueprint ``shapes``): ``/shapes`` is the
document the ``ssikgsh:`` IRIs name (``https://w3id.org/ssikg/shapes#PostShape``), so the
``sh:sourceShape`` of every validation result dereferences.  Served as ``/ontology`` is:
directly by content negotiation (HTML for browsers, each shape an anchor of the page; Turtle,
JSON-LD, N-Triples, RDF/XML by Accept or suffix), with ``Vary``, ``Content-Location`` and
``Link`` alternates, and a weak ETag following the shapes file (not the store: the rules are
read from ``source_dir``, as validation reads them)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from rdflib import RDF, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from .. import http
from .. import linked_data as ld
from ..app import get_settings
from ..errors import SsikgError
from .resources import (
    DOCUMENT_SUFFIXES,
    _alternates,
    _rdf_response,
    current_lang,
    negotiate_format,
    negotiated_location,
    page,
)

bp = Blueprint("shapes", __name__)

SHAPES = "https://w3id.org/ssikg/shapes"


@bp.get("/shapes")
def shapes():
    return shapes_document(negotiate_format(), negotiated=True)


@bp.get("/shapes.<suffix>")
def shapes_suffix(suffix: str):
    if suffix not in DOCUMENT_SUFFIXES:
        raise SsikgError(404, f"no shapes document with suffix .{suffix}; use one of: " + ", ".join(DOCUMENT_SUFFIXES))
    return shapes_document(suffix, negotiated=False)


def shapes_document(suffix: str, negotiated: bool) -> Response:
    from ..validation import (
        ShapesUnavailable,
        default_shapes_path,
        load_shapes,
        validation_inputs_state,
    )

    source_dir = get_settings().source_dir
    (_path, size, modified), _page = validation_inputs_state(source_dir)
    version = f"shapes-{size}-{modified}"
    parts = ("shapes", suffix, current_lang())
    headers = {"Link": _alternates(request.script_root + "/shapes")}
    if negotiated:
        headers["Content-Location"] = negotiated_location(f"{request.script_root}/shapes", suffix)
    vary = ", ".join(v for v in ("Accept-Language" if suffix == "html" else "", "Accept" if negotiated else "") if v)
    held = http.answer_if_held(http.version_etag(version, *parts), vary=vary, headers=headers)
    if held is not None:
        return held
    try:
        graph = load_shapes(default_shapes_path(source_dir)).graph
    except ShapesUnavailable as exc:
        current_app.logger.error("/shapes: %s", exc)  # the path and the parser's words: for the log only
        raise SsikgError(503, "the shapes cannot be read (the server log says why)",
                         title="Shapes unavailable") from None
    if suffix == "html":
        lang = current_lang()
        response = page("shapes.html", lang=lang, **shapes_context(graph, lang))
    else:
        response = _rdf_response(graph, suffix)
    if negotiated:
        response.vary.add("Accept")
    response.headers.update(headers)
    return http.conditional(response, version, *parts)


# ---------------------------------------------------------------------------
# The page


def shapes_context(graph: Graph, lang: str) -> dict:
    """Each node shape with its targets and the constraints it holds, in ``lang``."""
    def text(node, predicate) -> str | None:
        values = {value.language: str(value) for value in graph.objects(node, predicate)}
        return values.get(lang) or values.get("en") or next(iter(values.values()), None)

    def constraint(node) -> dict:
        return {"anchor": _fragment(node), "name": text(node, SH.name), "message": text(node, SH.message),
                "description": text(node, SH.description),
                "path": _shown(graph.value(node, SH.path), graph), "sparql": str(graph.value(node, SH.select) or "")}

    shapes = []
    for node in sorted(set(graph.subjects(RDF.type, SH.NodeShape)), key=_fragment):
        targets = [(ld.compact_iri(str(p)), _shown(o)) for p in _TARGETS for o in graph.objects(node, p)]
        held = [constraint(c) for link in (SH.property, SH.sparql) for c in graph.objects(node, link)]
        shapes.append({**constraint(node), "targets": targets, "constraints": sorted(held, key=lambda c: c["anchor"]),
                       "severity": _shown(graph.value(node, SH.severity))})
    header = URIRef(SHAPES)
    return {"iri": SHAPES, "title": text(header, _DCT_TITLE), "description": text(header, _DCT_DESCRIPTION),
            "shapes": shapes}


_TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
_DCT_TITLE = URIRef("http://purl.org/dc/terms/title")
_DCT_DESCRIPTION = URIRef("http://purl.org/dc/terms/description")


def _fragment(node) -> str:
    return str(node).rpartition("#")[2]


def _shown(node, graph: Graph | None = None) -> str | None:
    """A term as a reader sees it: a prefixed name; a property path in SPARQL's syntax
    (``^org:postIn``, ``org:a|org:b``, ``org:a/org:b``, ``org:a*``)."""
    if node is None:
        return None
    if isinstance(node, URIRef):
        return ld.compact_iri(str(node))
    if graph is not None:
        shown = _path_text(graph, node)
        if shown is not None:
            return shown
    return "[…]"


_PATH_MODIFIERS = ((SH.inversePath, "^{}"), (SH.zeroOrMorePath, "{}*"), (SH.oneOrMorePath, "{}+"),
                   (SH.zeroOrOnePath, "{}?"))


def _path_text(graph: Graph, node) -> str | None:
    for predicate, form in _PATH_MODIFIERS:
        inner = graph.value(node, predicate)
        if inner is not None:
            return form.format(_grouped(graph, inner))
    alternatives = graph.value(node, SH.alternativePath)
    if alternatives is not None:
        return "|".join(_grouped(graph, step) for step in Collection(graph, alternatives))
    if (node, RDF.first, None) in graph:  # a sequence is a list
        return "/".join(_grouped(graph, step) for step in Collection(graph, node))
    return None


def _grouped(graph: Graph, node) -> str:
    text = _shown(node, graph) or "[…]"
    return text if isinstance(node, URIRef) or text.startswith("^") else f"({text})"

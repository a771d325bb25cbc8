"""Linked-data routes for people and machines (blueprint ``resources``).

* ``/`` the home page; :func:`query_ui`, the query UI (what ``/query`` and ``/sparql``,
  routed in :mod:`ssikg.views.sparql`, show a browser); ``/org-chart`` and ``/org-chart.svg``.
* ``/id/<slug>`` — entity IRIs (slash IRIs) follow the "303 See Other" practice
  of *Cool URIs for the Semantic Web*: the IRI names the thing, so it answers
  ``303`` to a document about it chosen by ``Accept`` (or ``format=``):
  ``/id/<slug>.html``, ``.ttl``, ``.jsonld``, ``.nt`` or ``.rdf``.
* ``/ontology`` — hash IRIs (``…/ontology#Term``) name terms of one document, so
  that document is served directly by content negotiation with ``Vary: Accept``
  and ``Content-Location`` naming the variant (``/ontology.ttl`` …).  The named
  graphs ``/graph/<name>`` are documents too and follow the same rule; their RDF is
  streamed from the store as ``/store?graph=`` streams it, whatever the graph's size.

HTML links to IRIs of the dataset go to this server, under the ``public_base``
setting when it names another deployment; RDF always carries the canonical
IRIs, so data from every deployment merges.  Page language: ``?lang=`` then
``Accept-Language``; French by default.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, render_template, request

from .. import http, orgchart, protocol, stored_queries, streaming
from .. import linked_data as ld
from ..app import get_settings, get_store, read_version_first, store_version
from ..errors import SsikgError
from ..memo import store_memo
from ..namespaces import BASE, GRAPH, ID, ONTOLOGY, PREFIXES, SSIKG

bp = Blueprint("resources", __name__)
bp.before_request(read_version_first)

# (format suffix, media type) in server preference order: browsers get HTML.
OFFERED = (
    ("html", "text/html"),  # (not application/xhtml+xml: the pages are HTML, not XHTML)
    ("ttl", "text/turtle"), ("jsonld", "application/ld+json"), ("nt", "application/n-triples"),
    ("rdf", "application/rdf+xml"),
)
# answered when named, never chosen through a wildcard
OFFERED_ALIASES = (("ttl", "application/x-turtle"), ("jsonld", "application/json"), ("nt", "text/plain"))
DOCUMENT_SUFFIXES = ("html", "ttl", "jsonld", "nt", "rdf")
UI_LANGS = ("fr", "en")

TEXT = {
    "fr": {
        "skip": "Aller au contenu", "home": "Accueil", "query": "Requêtes SPARQL",
        "ontology": "Ontologie", "orgchart": "Organigramme", "endpoint": "Point d’accès SPARQL",
        "language": "Langue", "iri": "IRI", "types": "Types", "alt_labels": "Autres noms",
        "outgoing": "Relations", "incoming": "Relations entrantes", "provenance": "Provenance",
        "sources": "Sources : ce que dit la page", "fact": "Énoncé", "section": "Section",
        "page": "Page source", "published": "publiée le", "raw": "Données brutes",
        "reproduce": "Requête SPARQL qui reproduit cette page", "no_facts": "aucun énoncé source",
        "fallback": "pas de libellé dans cette langue ; libellé affiché en {language}",
        "stated": "énoncé", "derived": "déduit", "external": "externe", "editorial": "éditorial",
        "vocabularies": "vocabulaire", "ontology_graph": "ontologie", "interpretation": "interprétation",
        "not_found": "Ressource introuvable", "quote_of": "Citation de la page",
        "verbatim": "texte de la page", "part_chart": "Sa place dans l’organigramme",
        "translated_title": "Titre traduit par les modélisateurs (graphe editorial) ; le nom sur la page",
        "chart_text": "Version texte de l’organigramme", "legend": "Légende",
        "dataset": "Le graphe de connaissances", "counts": "Chiffres", "triples": "triplets",
        "organisations": "Organisations", "posts": "Postes", "themes": "Thèmes",
        "stored_queries": "Requêtes enregistrées", "entry_points": "Points d’entrée",
        "source": "Source", "graphs": "Graphes nommés", "facts": "énoncés sources",
        "classes": "Classes", "object_properties": "Propriétés d’objet",
        "datatype_properties": "Propriétés de données", "annotation_properties": "Propriétés d’annotation",
        "other_terms": "Autres termes", "examples": "Exemples (requêtes enregistrées)",
        "run": "Exécuter", "query_label": "Requête", "no_js": "Sans JavaScript, ce formulaire envoie la requête au point d’accès.",
        "open_example": "Ouvrir", "graph": "Graphe", "download": "Télécharger",
        "unit": "unité", "post": "poste", "in_unit": "dans", "property": "Propriété",
        "value": "Valeur", "subject": "Sujet", "grounds": "Triplets fondés sur cet énoncé",
        "results": "Résultats", "row": "ligne", "rows": "lignes", "other_formats": "Autres formats",
        "example": "Exemple", "reused": "Vocabulaires réutilisés", "term": "Terme", "uses": "Emplois",
        "reused_intro": "Les classes et propriétés d’autres vocabulaires (W3C ORG, SKOS, PROV-O, "
                        "schema.org…) que les données emploient, avec un exemple de chacune.",
        "first_rows": "Seules les {n} premières lignes sont affichées ; les autres formats donnent tout.",
        "intro": "Le réseau français de coopération internationale de sécurité intérieure (DCIS, SSI Belgique), "
                 "décrit en RDF d’après une page publique, avec pour chaque fait la citation qui le fonde.",
        # French puts a no-break space before a colon; every "label:" on a page uses this word
        "colon": "\u00a0:",
        "lang_names": {"fr": "français", "en": "anglais", "nl": "néerlandais"},
        "validation": "Validation", "chart_scroll": "Organigramme (faire défiler horizontalement)",
        "editor": "Éditeur de requête SPARQL", "endpoint_field": "Point d’accès interrogé",
        "editor_help": "Dans l’éditeur, Tab et Maj+Tab passent à l’élément suivant ou précédent de la page ; "
                       "pour indenter, Ctrl+] (Cmd+] sur Mac), et Ctrl+[ pour désindenter. "
                       "Ctrl+Espace complète un préfixe, Ctrl+Entrée exécute la requête, Échap quitte l’éditeur.",
        "error": "Erreur", "chart_nodes": "Unités et postes", "chart_lines": "Liens dessinés",
        "shape_list": "Formes", "targets": "Cibles", "severity": "Gravité", "message": "Message",
        "constraints": "Contraintes", "path": "Chemin", "shapes": "Formes SHACL",
    },
    "en": {
        "skip": "Skip to content", "home": "Home", "query": "SPARQL queries",
        "ontology": "Ontology", "orgchart": "Organisation chart", "endpoint": "SPARQL endpoint",
        "language": "Language", "iri": "IRI", "types": "Types", "alt_labels": "Other names",
        "outgoing": "Relations", "incoming": "Incoming relations", "provenance": "Provenance",
        "sources": "Sources: what the page says", "fact": "Statement", "section": "Section",
        "page": "Source page", "published": "published", "raw": "Raw data",
        "reproduce": "SPARQL query reproducing this page", "no_facts": "no source statement",
        "fallback": "no label in this language; showing the label in {language}",
        "stated": "stated", "derived": "derived", "external": "external", "editorial": "editorial",
        "vocabularies": "vocabulary", "ontology_graph": "ontology", "interpretation": "interpretation",
        "not_found": "Resource not found", "quote_of": "Quotation from the page",
        "verbatim": "page text", "part_chart": "Its part of the organisation chart",
        "translated_title": "Title translated by the modellers (editorial graph); the name on the page",
        "chart_text": "Text version of the chart", "legend": "Legend",
        "dataset": "The knowledge graph", "counts": "Figures", "triples": "triples",
        "organisations": "Organisations", "posts": "Posts", "themes": "Themes",
        "stored_queries": "Stored queries", "entry_points": "Entry points",
        "source": "Source", "graphs": "Named graphs", "facts": "source statements",
        "classes": "Classes", "object_properties": "Object properties",
        "datatype_properties": "Datatype properties", "annotation_properties": "Annotation properties",
        "other_terms": "Other terms", "examples": "Examples (stored queries)",
        "run": "Run", "query_label": "Query", "no_js": "Without JavaScript this form sends the query to the endpoint.",
        "open_example": "Open", "graph": "Graph", "download": "Download",
        "unit": "unit", "post": "post", "in_unit": "in", "property": "Property",
        "value": "Value", "subject": "Subject", "grounds": "Triples grounded on this statement",
        "results": "Results", "row": "row", "rows": "rows", "other_formats": "Other formats",
        "example": "Example", "reused": "Reused vocabularies", "term": "Term", "uses": "Uses",
        "reused_intro": "The classes and properties of other vocabularies (W3C ORG, SKOS, PROV-O, "
                        "schema.org…) that the data uses, with an example of each.",
        "first_rows": "Only the first {n} rows are shown; the other formats give them all.",
        "intro": "France's international internal-security cooperation network (DCIS, SSI Belgium) "
                 "described in RDF from one public page, each fact with the quotation it rests on.",
        "colon": ":",
        "lang_names": {"fr": "French", "en": "English", "nl": "Dutch"},
        "validation": "Validation", "chart_scroll": "Organisation chart (scrolls horizontally)",
        "editor": "SPARQL query editor", "endpoint_field": "Endpoint queried",
        "editor_help": "In the editor, Tab and Shift+Tab move to the next or previous part of the page; "
                       "to indent, press Ctrl+] (Cmd+] on a Mac), and Ctrl+[ to outdent. "
                       "Ctrl+Space completes a prefix, Ctrl+Enter runs the query, Esc leaves the editor.",
        "error": "Error", "chart_nodes": "Units and posts", "chart_lines": "Lines drawn",
        "shape_list": "Shapes", "targets": "Targets", "severity": "Severity", "message": "Message",
        "constraints": "Constraints", "path": "Path", "shapes": "SHACL shapes",
    },
}


# ---------------------------------------------------------------------------
# Request helpers


def current_lang() -> str:
    """Label language: ``?lang=`` when valid, else Accept-Language, else French."""
    asked = request.args.get("lang", "").strip().lower()
    if asked in ld.LANGS:
        return asked
    return request.accept_languages.best_match(ld.LANGS, default=ld.DEFAULT_LANG)


def explicit_lang() -> str:
    """The ``?lang=`` that links keep (see :func:`link`), or "" (a page differs by it); read as
    :func:`current_lang` reads it (``?lang=EN`` is English, and says so in links)."""
    asked = request.args.get("lang", "").strip().lower()
    return asked if asked in ld.LANGS else ""


def ui_lang(lang: str) -> str:
    return lang if lang in UI_LANGS else "en"


def link_base() -> str:
    """Where links to dataset IRIs point: this server when the public base is the canonical
    one (w3id redirects to us), else the configured public base."""
    base = get_settings().public_base
    base = base if base.endswith("/") else base + "/"
    return request.script_root + "/" if base == BASE else base


def link(iri: str, suffix: str = "") -> str | None:
    """The href for a dataset IRI (keeping an explicit ?lang=), the IRI itself for another
    http(s) IRI, None for any other scheme (never a ``javascript:`` link; pages show text)."""
    path = ld.local_path(iri)
    if path is None:
        return iri if ld.is_web_iri(iri) else None
    path, hash_sign, fragment = path.partition("#")
    href = link_base() + quote(path, safe="/:@!$&'()*+,;=-._~") + suffix
    if explicit_lang():
        href += "?" + urlencode({"lang": explicit_lang()})
    return href + hash_sign + fragment


def lang_url(lang: str) -> str:
    """This page in another language (under the script root: the path a proxy mounts it at)."""
    args = request.args.to_dict()
    args["lang"] = lang
    return request.script_root + request.path + "?" + urlencode(args)


def negotiate_format() -> str:
    """A document suffix from ``format=`` (which wins) or Accept; 406 when nothing fits."""
    return protocol.choose_representation(request.headers.get("Accept"), request.args.get("format"), OFFERED,
                                          ld.FORMAT_ALIASES, exact_only=OFFERED_ALIASES)


def with_lang(href: str) -> str:
    """``href`` (a page of this site, with or without a query and a fragment) keeping an
    explicit ``?lang=``."""
    if not explicit_lang():
        return href
    path, hash_sign, fragment = href.partition("#")
    return path + ("&" if "?" in path else "?") + urlencode({"lang": explicit_lang()}) + hash_sign + fragment


def negotiated_location(document: str, suffix: str) -> str:
    """``Content-Location`` of a negotiated answer: the document with its suffix, and for a page
    the ``?lang=`` it was asked in (the page without it is in the Accept-Language's language)."""
    href = f"{document}.{suffix}"
    return with_lang(href) if suffix == "html" else href


def page(template: str, status: int = 200, **context) -> Response:
    lang = context.pop("lang", None) or current_lang()
    texts = TEXT[ui_lang(lang)]
    body = render_template(
        template, lang=lang, ui_lang=ui_lang(lang), t=texts, link=link, lang_url=lang_url, with_lang=with_lang,
        langs=ld.LANGS, graph_word=lambda name: texts.get("ontology_graph" if name == "ontology" else name, name),
        **context)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Language"] = ui_lang(lang)
    response.vary.add("Accept-Language")
    return response


def _rdf_response(graph, suffix: str, status: int = 200) -> Response:
    media_type = ld.RDF_FORMATS[suffix][0]
    response = Response(ld.serialise(graph, suffix), status=status,
                        content_type=f"{media_type}; charset=utf-8")
    return response


def _not_found(suffix: str, iri: str) -> Response:
    message = f"no resource <{iri}> in this dataset"
    if suffix in ld.RDF_FORMATS:
        media_type = ld.RDF_FORMATS[suffix][0]
        response = Response(ld.empty_document(suffix, "404 Not Found: " + message), status=404,
                            content_type=f"{media_type}; charset=utf-8")
    else:
        response = page("not_found.html", status=404, iri=iri, message=message)
    response.vary.add("Accept")
    return response


def _alternates(href_base: str) -> str:
    return ", ".join(f'<{href_base}.{suffix}>; rel="alternate"; type="{ld.RDF_FORMATS[suffix][0]}"'
                     for suffix in ld.RDF_FORMATS)


def _conditional(response: Response, *parts: str) -> Response:
    return http.conditional(response, store_version(), *parts)


def _held(parts: tuple[str, ...], vary: str, headers: dict[str, str] | None = None) -> Response | None:
    """The 304 for a page whose ETag ``parts`` are known before any work, when the client
    holds it (``vary`` and ``headers``: those of the 200, as :func:`_conditional` leaves them)."""
    return http.answer_if_held(http.version_etag(store_version(), *parts), vary=vary, headers=headers)


# ---------------------------------------------------------------------------
# Entities: /id/<slug> (303) and its documents /id/<slug>.<suffix>


def _split_suffix(path: str) -> tuple[str, str | None]:
    stem, dot, suffix = path.rpartition(".")
    if dot and stem and suffix in DOCUMENT_SUFFIXES:
        return stem, suffix
    return path, None


def _valid_iri(iri: str) -> bool:
    try:
        ld.iri_ref(iri)
    except ValueError:
        return False
    return True


@bp.get("/id/<path:slug>")
def entity(slug: str):
    store = get_store()
    stem, suffix = _split_suffix(slug)
    if suffix and _valid_iri(ID + stem):
        # held: the client got this document, not a 303, for this path at this store version
        held = _held(*_document_validators(stem, suffix))
        if held is not None:
            return held
    # a suffix names a document, unless the whole path is itself an entity's IRI
    if suffix and not (_valid_iri(ID + slug) and ld.exists(store, ID + slug)):
        return entity_document(stem, suffix)
    iri = ID + slug
    wanted = negotiate_format()
    if not _valid_iri(iri) or not ld.exists(store, iri):
        return _not_found(wanted, iri)
    location = request.script_root + "/id/" + quote(slug, safe="/:@!$&'()*+,;=-._~") + "." + wanted
    args = {k: v for k, v in request.args.items() if k == "lang"}
    if args:
        location += "?" + urlencode(args)
    response = Response(f"303 See Other: {location}\n", status=303, mimetype="text/plain")
    response.headers["Location"] = location
    response.vary.add("Accept")
    return response


def _document_validators(slug: str, suffix: str) -> tuple[tuple[str, ...], str, dict[str, str]]:
    """ETag parts, Vary and Link of the document ``/id/<slug>.<suffix>``: known before any query."""
    href_base = request.script_root + "/id/" + quote(slug, safe="/:@!$&'()*+,;=-._~")
    # every document, the page included, names the thing it is about (RFC 6892)
    links = {"Link": f'<{ID + slug}>; rel="describes", ' + _alternates(href_base)}
    if suffix == "html":
        return ("html", slug, current_lang(), explicit_lang()), "Accept-Language", links
    return (slug, suffix), "", links


def entity_document(slug: str, suffix: str) -> Response:
    iri = ID + slug
    store = get_store()
    if not _valid_iri(iri):
        return _not_found(suffix, iri)
    href_base = request.script_root + "/id/" + quote(slug, safe="/:@!$&'()*+,;=-._~")
    parts, _vary, headers = _document_validators(slug, suffix)
    if suffix == "html":
        lang = current_lang()
        described = ld.describe(store, iri, lang)
        if described is None:
            return _not_found("html", iri)
        # the statuses named in the provenance notes are shown by their labels too
        described.labels.load(store, {fact.interpretation for relation in described.outgoing + described.incoming
                                      for fact in relation.facts if fact.interpretation})
        chart = None
        if described.is_organisation:
            chart = _chart_fragment(store, lang, focus=iri)
        response = page("entity.html", lang=lang, entity=described, chart=chart,
                        page_query=ld.page_query(iri), sparql_url=_sparql_link(ld.page_query(iri)),
                        query_url=_query_ui_link(ld.page_query(iri)), doc_base=href_base,
                        chart_text_url=_focused_chart_url(iri) + "#chart-text")
        response.headers.update(headers)
        return _conditional(response, *parts)
    graph = ld.to_rdflib(ld.description_triples(store, iri))
    if len(graph) == 0:
        return _not_found(suffix, iri)
    response = _rdf_response(graph, suffix)
    response.headers.update(headers)
    return _conditional(response, *parts)


def _sparql_link(query: str) -> str:
    return with_lang(request.script_root + "/sparql?" + urlencode({"query": query}))


def _query_ui_link(query: str) -> str:
    return with_lang(request.script_root + "/query?" + urlencode({"query": query}))


CHART_CACHE_SIZE = 64  # drawn charts: (unit or whole chart) x language x link variant


def _chart_data(store, lang: str, focus: str | None) -> orgchart.ChartData | orgchart.Summary | None:
    """What the chart draws, read once per store version, language and focus: a unit's
    neighbourhood (None when ``focus`` is not a unit: one ASK, nothing kept), or the whole
    chart, a summary of it when it is bigger than the node budget."""
    if focus is not None:
        if not orgchart.is_unit(store, focus):
            return None
        return store_memo("chart-data", (store_version(), lang, focus),
                          lambda: orgchart.load_focus(store, focus, lang), maxsize=CHART_CACHE_SIZE)
    return store_memo("chart-data", (store_version(), lang, None), lambda: orgchart.load_whole(store, lang),
                      maxsize=CHART_CACHE_SIZE)


def _chart(store, lang: str, focus: str | None):
    """The chart's data and SVG (None when ``focus`` is not a unit: nothing is drawn nor kept),
    the SVG memoised per store version, language, focus, link base and explicit ``?lang=``
    (kept in the chart's links): running ``dot`` is most of a page's time.  Graphviz runs at
    most ``query_timeout`` seconds (:class:`orgchart.ChartError` otherwise)."""
    data = _chart_data(store, lang, focus)
    if data is None:
        return None, None
    link_query = "?" + urlencode({"lang": explicit_lang()}) if explicit_lang() else ""
    base = link_base()
    timeout = get_settings()["query_timeout"]

    def draw() -> bytes:
        if isinstance(data, orgchart.Summary):
            return orgchart.render_svg(orgchart.build_summary(data, lang, base, _focused_chart_url), timeout)
        return orgchart.render_svg(orgchart.build_graph(data, lang, base, link_query), timeout)

    svg = store_memo("chart-svg", (store_version(), lang, focus, base, link_query, request.script_root), draw,
                     maxsize=CHART_CACHE_SIZE)
    return data, svg


def _focused_chart_url(iri: str) -> str:
    """The chart page drawing ``iri``'s part, keeping an explicit ``?lang=``."""
    return (request.script_root + "/org-chart?"
            + urlencode({"focus": iri} | ({"lang": explicit_lang()} if explicit_lang() else {})))


def _chart_fragment(store, lang: str, focus: str | None = None) -> dict | None:
    """The inline SVG (and a text version) of the chart, or None when Graphviz is missing or
    could not draw it in time (a page embedding the chart is still served)."""
    try:
        data, svg = _chart(store, lang, focus)
    except (orgchart.graphviz.ExecutableNotFound, orgchart.ChartError):
        return None
    if svg is None:
        return None
    words = ui_lang(lang)
    if isinstance(data, orgchart.Summary):
        return {"svg": orgchart.inline_svg(svg, words), "summary": orgchart.summary_text(data, words),
                "outline": orgchart.summary_outline(data, lang, _focused_chart_url)}
    return {"svg": orgchart.inline_svg(svg, words), "outline": orgchart.outline(data, lang)}


# ---------------------------------------------------------------------------
# Ontology and graphs: direct content negotiation (hash IRIs, documents)


@bp.get("/ontology")
def ontology():
    return ontology_document(negotiate_format(), negotiated=True)


@bp.get("/ontology.<suffix>")
def ontology_suffix(suffix: str):
    if suffix not in DOCUMENT_SUFFIXES:
        raise SsikgError(404, f"no ontology document with suffix .{suffix}; use one of: "
                         + ", ".join(DOCUMENT_SUFFIXES))
    return ontology_document(suffix, negotiated=False)


@bp.get("/ontology/<path:name>")
def ontology_version(name: str):
    """The ontology's version IRI (``owl:versionIRI``) dereferences to the ontology document,
    as OWL 2 expects of a version IRI."""
    stem, suffix = _split_suffix(name)
    negotiated = suffix is None
    if negotiated:
        suffix = negotiate_format()
    iri = BASE + "ontology/" + stem
    store = get_store()
    versions = ld.select(store, "SELECT ?v WHERE { GRAPH graph:ontology { ?o owl:versionIRI ?v } }")
    if iri not in {row["v"].value for row in versions}:
        return _not_found(suffix, iri)
    # its documents are named below the version IRI: once a later version is published, the
    # links of this one must not lead to it
    return ontology_document(suffix, negotiated=negotiated, document="/ontology/" + stem)


def ontology_document(suffix: str, negotiated: bool, document: str = "/ontology") -> Response:
    store = get_store()
    parts = ("ontology", suffix, current_lang())
    headers = {"Link": _alternates(request.script_root + document)}
    if negotiated:
        headers["Content-Location"] = negotiated_location(f"{request.script_root}{document}", suffix)
    vary = ", ".join(v for v in ("Accept-Language" if suffix == "html" else "", "Accept" if negotiated else "") if v)
    held = _held(parts, vary, headers)
    if held is not None:
        return held
    if suffix == "html":
        lang = current_lang()
        response = page("ontology.html", lang=lang, **_cached_ontology_context(store, lang))
    else:
        graph = ld.to_rdflib(ld.ontology_triples(store))
        response = _rdf_response(graph, suffix)
    if negotiated:
        response.vary.add("Accept")
    response.headers.update(headers)
    return _conditional(response, *parts)


_TERM_KINDS = (
    ("classes", ("owl:Class", "rdfs:Class")),
    ("object_properties", ("owl:ObjectProperty",)),
    ("datatype_properties", ("owl:DatatypeProperty",)),
    ("annotation_properties", ("owl:AnnotationProperty",)),
    ("other_terms", ("rdf:Property", "owl:NamedIndividual")),
)


def _expand(prefixed: str) -> str:
    prefix, _, local = prefixed.partition(":")
    return PREFIXES[prefix] + local


def _cached_ontology_context(store, lang: str) -> dict:
    """The ontology page's content, made once per store version and language: it counts and
    samples the whole dataset's use of each term."""
    return store_memo("ontology-page", (store_version(), lang), lambda: _ontology_context(store, lang),
                      maxsize=2 * len(ld.LANGS))


def _ontology_context(store, lang: str) -> dict:
    rows = ld.select(store, "SELECT ?s ?p ?o WHERE { GRAPH graph:ontology { ?s ?p ?o } FILTER(isIRI(?s)) }")
    about: dict[str, list] = {}
    for row in rows:
        about.setdefault(row["s"].value, []).append((row["p"].value, row["o"]))
    rdf_type = ld.RDF_TYPE
    header = next((iri for iri, pairs in about.items()
                   if (rdf_type, PREFIXES["owl"] + "Ontology") in [(p, getattr(o, "value", None)) for p, o in pairs]),
                  ONTOLOGY)
    mentioned = set(about) | {o.value for pairs in about.values() for _p, o in pairs if ld.is_iri(o)}
    mentioned |= {p for pairs in about.values() for p, _o in pairs}
    labels = ld.Labels().load(store, mentioned)
    placed: set[str] = {header}
    own = SSIKG  # the reused terms the file declares for OWL tools are not its terms
    sections = []
    for key, kinds in _TERM_KINDS:
        kind_iris = {_expand(k) for k in kinds}
        terms = sorted((iri for iri, pairs in about.items() if iri not in placed and iri.startswith(own) and any(
            p == rdf_type and ld.is_iri(o) and o.value in kind_iris for p, o in pairs)),
            key=lambda i: _fragment(i).lower())
        placed.update(terms)
        if terms:
            sections.append({"key": key, "terms": [_term(i, about[i], labels, lang) for i in terms]})
    usage = _usage(store)
    examples = _examples(store, [term["iri"] for section in sections for term in section["terms"]] +
                         [iri for iri, _n in usage])
    labels.load(store, {x for triple in examples.values() for x in (triple[0], triple[2])
                        if isinstance(x, str)})
    for section in sections:
        for term in section["terms"]:
            term["example"] = _example_values(examples.get(term["iri"]), labels, lang)
    reused = [{"iri": iri, "name": ld.compact_iri(iri), "count": count,
               "example": _example_values(examples.get(iri), labels, lang)} for iri, count in usage]
    return {"header": _term(header, about.get(header, []), labels, lang), "sections": sections,
            "labels": labels, "reused": reused}


def _usage(store) -> list[tuple[str, int]]:
    """The properties and classes of other vocabularies the data uses, most used first."""
    rows = ld.select(store, """SELECT ?term (COUNT(*) AS ?n) WHERE {
          GRAPH ?g { { ?s ?term ?o } UNION { ?s a ?term } }
          FILTER(?g != graph:ontology && isIRI(?term) && !STRSTARTS(STR(?term), STR(ssikg:)))
        } GROUP BY ?term ORDER BY DESC(?n) ?term""")
    return [(row["term"].value, int(row["n"].value)) for row in rows]


def _examples(store, terms: list[str]) -> dict[str, tuple]:
    """One triple of the data for each term: as its predicate, or with it as the type."""
    found: dict[str, tuple] = {}
    for term in dict.fromkeys(terms):
        for named in ("FILTER(isIRI(?s))", ""):  # an example about a named thing, if there is one
            rows = ld.select(store, f"""SELECT ?term ?s ?p ?o WHERE {{ GRAPH ?g {{
                  {{ ?s ?term ?o BIND(?term AS ?p) }} UNION {{ ?s a ?term BIND(rdf:type AS ?p) BIND(?term AS ?o) }} }}
                  FILTER(?g != graph:ontology) {named} }} LIMIT 1""", term=term)
            if rows:
                break
        if rows:
            row = rows[0]
            found[term] = tuple(x.value if ld.is_iri(x) else x for x in (row["s"], row["p"], row["o"]))
    return found


def _example_values(triple, labels: ld.Labels, lang: str):
    """(subject, predicate, object) as page values, or None."""
    if triple is None:
        return None
    values = []
    for part in triple:
        if isinstance(part, str):
            value = ld.Value(term=None, iri=part, label=labels.pick(part, lang))
        else:
            value = ld._value(part)
        values.append(value)
    return values


def _fragment(iri: str) -> str:
    return iri[len(SSIKG):] if iri.startswith(SSIKG) else ld.compact_iri(iri)


def _term(iri: str, pairs, labels: ld.Labels, lang: str) -> dict:
    label_props = {PREFIXES["skos"] + "prefLabel", PREFIXES["rdfs"] + "label"}
    # of texts given in several languages (definitions, comments), show the page's one
    tagged: dict[str, set] = {}
    for predicate, obj in pairs:
        if getattr(obj, "language", None):
            tagged.setdefault(predicate, set()).add(obj.language)
    rows = []
    for predicate, obj in sorted(pairs, key=lambda po: (po[0], str(po[1]))):
        if predicate in label_props:
            continue
        language = getattr(obj, "language", None)
        if language and lang in tagged[predicate] and language != lang:
            continue
        value = ld._value(obj)
        if value.iri:
            value.label = labels.pick(value.iri, lang)
        rows.append((predicate, labels.pick(predicate, lang), value))
    return {"iri": iri, "anchor": _fragment(iri) if iri.startswith(SSIKG) else None,
            "label": labels.pick(iri, lang), "rows": rows,
            "all_labels": labels.all_of(iri, PREFIXES["skos"] + "prefLabel")
            + labels.all_of(iri, PREFIXES["rdfs"] + "label")}


@bp.get("/graph/<path:name>")
def named_graph(name: str):
    """Every named graph the store holds under ``…/graph/`` (the project's, and those made
    through the Graph Store or SPARQL Update), as a page or an RDF document; 404 otherwise."""
    store = get_store()
    held = set(store.named_graphs())
    stem, suffix = _split_suffix(name)
    if suffix and GRAPH + name in held:  # the suffix is part of the graph's own IRI
        stem, suffix = name, None
    negotiated = suffix is None
    if negotiated:
        suffix = negotiate_format()
    iri = GRAPH + stem
    if iri not in held:
        return _not_found(suffix, iri)
    doc_base = request.script_root + "/graph/" + quote(stem, safe="/:@!$&'()*+,;=-._~")
    parts = ("graph", stem, suffix, current_lang())
    headers = {"Link": _alternates(doc_base)}
    if negotiated:
        headers["Content-Location"] = negotiated_location(doc_base, suffix)
    if suffix != "html":
        return _graph_document(store, iri, suffix, parts, headers, negotiated)
    count = ld.select(store, "SELECT ?graph (COUNT(*) AS ?n) WHERE { GRAPH ?graph { ?s ?p ?o } } GROUP BY ?graph",
                      graph=iri)
    described = ld.describe(store, iri, current_lang())
    response = page("graph.html", name=stem, iri=iri, size=int(count[0]["n"].value) if count else 0,
                    doc_base=doc_base, entity=described,
                    store_url=request.script_root + "/store?" + urlencode({"graph": iri}))
    if negotiated:
        response.vary.add("Accept")
    response.headers.update(headers)
    return _conditional(response, *parts)


GRAPH_DOCUMENT_FORMATS = {f.short: f for f in protocol.GRAPH_FORMATS if f.short in ld.RDF_FORMATS}


def _graph_document(store, iri: str, suffix: str, parts: tuple[str, ...], headers: dict[str, str],
                    negotiated: bool) -> Response:
    """A named graph's triples serialised by pyoxigraph while they are read, as the Graph
    Store's GET serves them (:func:`ssikg.streaming.stream_quads`): the graph is never held
    whole in memory, so a graph of millions of triples starts at once and costs a bounded
    buffer.  Turtle and RDF/XML use the project's prefixes; JSON-LD is expanded (no @context)."""
    # checked first: a 304 made from a started stream would leave its producer waiting for a reader
    held = _held(parts, "Accept" if negotiated else "", headers)
    if held is not None:
        return held
    media_type = ld.RDF_FORMATS[suffix][0]
    body = iter(()) if request.method == "HEAD" else streaming.stream_quads(  # a HEAD body is never read
        store, iri, GRAPH_DOCUMENT_FORMATS[suffix].format, dict(PREFIXES), as_triples=True)
    response = Response(body, content_type=f"{media_type}; charset=utf-8", headers=headers)
    # not _conditional: werkzeug's make_conditional would read the streamed body whole to count it
    response.set_etag(http.version_etag(store_version(), *parts), weak=True)
    response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    if negotiated:
        response.vary.add("Accept")
    return response


# ---------------------------------------------------------------------------
# Home page


@bp.get("/")
def home():
    store = get_store()
    lang = current_lang()
    parts = ("home", lang, explicit_lang())
    held = _held(parts, "Accept-Language")
    if held is not None:
        return held
    context = _home_page_context(current_app._get_current_object(), store, lang)
    return _conditional(page("home.html", lang=lang, stored=_stored_queries(lang), **context), *parts)


HOME_LIST_SIZE = ld.LISTING_SIZE  # entries per list on the home page; the rest are counted and linked
# How long a request waits for the home page another is making (about a second after a write
# at 1e6) before making it too: a failing backend never queues requests behind one another.
HOME_WAIT_S = 10.0
_FLIGHTS_GUARD = threading.Lock()


def _home_page_context(app, store, lang: str) -> dict:
    """The home page's context for the store's version and ``lang``, memoised.  Made by one
    thread at a time per version and language: a request arriving while it is being made
    waits for it rather than making it again (crawlers ask for it many at once after a write)."""
    key = (store_version(), lang)
    lock = _flight_lock(app, ("home-page", key))
    held = lock.acquire(timeout=HOME_WAIT_S)
    try:
        return store_memo("home-page", key, lambda: _home_context(store, lang),
                          maxsize=2 * len(ld.LANGS), app=app)
    finally:
        if held:
            lock.release()


def _flight_lock(app, key) -> threading.Lock:
    locks = app.extensions.setdefault("ssikg.home-flights", {})
    with _FLIGHTS_GUARD:
        if len(locks) > 8 * len(ld.LANGS):  # old versions' locks: dropped (a holder keeps its own)
            locks.clear()
        return locks.setdefault(key, threading.Lock())


def _home_context(store, lang: str) -> dict:
    """What the home page says of the store (counts and lists): the same for every request
    at one store version and language.  Every list is the first :data:`HOME_LIST_SIZE` by
    label, with its total (a COUNT) and the query listing them all."""
    summary = store_memo("home-summary", store_version(), lambda: _home_summary(store), maxsize=2)
    return {
        **{key: value for key, value in summary.items() if key != "list_totals"},
        **{name: {**_home_list(store, pattern, lang), "total": summary["list_totals"][name]}
           for name, pattern in ld.LISTINGS.items()},
    }


# The name under which the summary is kept with the build: a new shape of it needs a new name
# (a build's summaries outlive the code that wrote them).
HOME_SUMMARY = "home-summary/1"


def _home_summary(store) -> dict:
    """The home page's counts and source, the same in every language (made once per version).
    Counting reads every quad (a third of a second at 1e6, a second with the lists' totals),
    so until its first write the build keeps them for every process (:func:`ld.remember`)."""
    kept = ld.recall(store, HOME_SUMMARY)
    if isinstance(kept, dict):
        return kept
    summary = _home_summary_in(store)
    ld.remember(store, HOME_SUMMARY, summary)
    return summary


def _home_summary_in(store) -> dict:
    # every graph the store holds, an empty one too (as the Service Description and VoID list them)
    graph_sizes = dict.fromkeys(store.named_graphs(), 0)
    graph_sizes.update({row["g"].value: int(row["n"].value) for row in ld.select(
        store, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")})
    facts = ld.select(store, "SELECT (COUNT(DISTINCT ?f) AS ?n) WHERE { ?f a ssikg:SourceStatement }")
    source = ld.select(store, """SELECT ?title ?issued ?identifier WHERE {
        OPTIONAL { id:page dct:title ?title } OPTIONAL { id:page dct:issued ?issued }
        OPTIONAL { ?copy prov:wasDerivedFrom id:page ; dct:identifier ?identifier } } LIMIT 1""")
    first = source[0] if source else {}
    return {
        "graph_sizes": sorted(([ld.graph_short_name(g), g, n] for g, n in graph_sizes.items()),
                              key=lambda x: x[0]),
        "total": sum(graph_sizes.values()), "facts": int(facts[0]["n"].value) if facts else 0,
        "list_totals": {name: _home_list_total(store, pattern) for name, pattern in ld.LISTINGS.items()},
        "source": {k: (first.get(k).value if first.get(k) is not None else None)
                   for k in ("title", "issued", "identifier")},
        "source_iri": ID + "page",
    }


def _home_list_total(store, pattern: str) -> int:
    total = ld.select(store, f"SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{ {pattern} }}")
    return int(total[0]["n"].value) if total else 0


def _home_list(store, pattern: str, lang: str) -> dict:
    """The first resources matching ``pattern`` (on ``?x``) by label in ``lang``, and a query
    listing them all."""
    wanted = lang if lang in ld.LANGS else ld.DEFAULT_LANG  # a constant of the code, not the request's text
    iris = ld.first_listed(store, pattern, lang, HOME_LIST_SIZE)
    labels = ld.Labels().load(store, iris)
    items = sorted(({"iri": i, "label": labels.pick(i, lang)} for i in iris),
                   key=lambda item: item["label"].text.lower())
    declared = "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in ("org", "cv", "skos", "scheme"))
    # one row per resource (as the total counts them): its label in the page's language, else another
    listing = (declared + f"SELECT ?x (COALESCE(SAMPLE(?wanted), SAMPLE(?other)) AS ?label) WHERE {{ {pattern}\n"
               f"  OPTIONAL {{ ?x skos:prefLabel ?wanted FILTER(LANG(?wanted) = \"{wanted}\") }}\n"
               "  OPTIONAL { ?x skos:prefLabel ?other } }\nGROUP BY ?x ORDER BY LCASE(STR(?label)) ?x")
    return {"items": items, "query": listing}


def _stored_queries(lang: str) -> list[dict]:
    """The app's stored queries (name, title, page url, runnable text) for the home and query pages."""
    texts = store_memo("stored-query-texts", "all", _runnable_texts, maxsize=1)
    return [{"name": name, "title": title, "url": url, "text": texts.get(name)}
            for name, title, url in stored_queries.list_for_links(ui_lang(lang))]


def _runnable_texts() -> dict[str, str]:
    """Each stored query's text with its example parameters bound in a VALUES block (made once
    per app: the queries are read at start-up)."""
    return {name: _runnable_text(query) for name, query in stored_queries.app_queries().items()}


def _runnable_text(query) -> str:
    try:
        substitutions, _used = query.bind(query.sample_values())
    except (ValueError, SyntaxError):  # a sample that does not fit ('ssikg queries check' says so)
        return query.text
    return stored_queries.with_values(query.text, substitutions) if substitutions else query.text


# ---------------------------------------------------------------------------
# Query UI and org chart


def query_ui() -> Response:
    """The query page (YASGUI over this server's /sparql; a plain form without JavaScript)."""
    lang = current_lang()
    stored = _stored_queries(lang)
    initial = request.args.get("query") or _default_query(lang)
    examples = [{"name": q["name"], "title": q["title"], "query": q["text"]} for q in stored if q["text"]]
    texts = TEXT[ui_lang(lang)]
    config = {"endpoint": request.script_root + "/sparql", "examples": examples, "prefixes": PREFIXES,
              # result cells link the dataset's IRIs where the site's pages do (see link())
              "dataset_base": BASE, "link_base": link_base(),
              "words": {"editor": texts["editor"], "endpoint": texts["endpoint_field"],
                        "editor_help_id": "editor-help"}}
    response = page("query_ui.html", lang=lang, initial=initial, stored=stored,
                    endpoint=request.script_root + "/sparql",
                    config_json=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"))
    response.headers["Cache-Control"] = "no-cache"
    return response


# the project's own prefixes, declared in the query the page opens with
DEFAULT_QUERY_PREFIXES = ("ssikg", "id", "concept", "fact", "org", "skos", "prov", "rdfs")


def _default_query(lang: str) -> str:
    declarations = "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in DEFAULT_QUERY_PREFIXES)
    label_lang = lang if lang != "nl" else "fr"
    return (declarations + "\n"
            "SELECT ?post ?label ?unit WHERE {\n  ?post a org:Post ; skos:prefLabel ?label .\n"
            "  OPTIONAL { ?post org:postIn ?unit }\n"
            f"  FILTER(lang(?label) = \"{label_lang}\")\n}}\nORDER BY ?label")


def _chart_focus() -> str | None:
    """``focus=``: the IRI of a unit (checked against the chart by :func:`_chart`), or a 400."""
    focus = request.args.get("focus")
    if focus is not None and not _valid_iri(focus):
        raise SsikgError(400, f"focus must be the IRI of a unit, got {focus!r}")
    return focus


def _unknown_focus(focus: str) -> SsikgError:
    return SsikgError(404, f"<{focus}> is not a unit of the organisation chart")


def _chart_failed(error: orgchart.ChartError) -> SsikgError:
    """Graphviz too slow (503: try a unit's part) or failing (500), said in the client's format."""
    if error.timed_out:
        return SsikgError(503, f"{error}; ask for one unit's part of the chart with focus=")
    return SsikgError(500, str(error))


@bp.get("/org-chart.svg")
def org_chart_svg():
    store = get_store()
    lang = current_lang()
    focus = _chart_focus()
    parts = ("chart", lang, focus or "", explicit_lang())
    held = _held(parts, "Accept-Language")
    if held is not None:
        return held
    try:
        _data, svg = _chart(store, lang, focus)
    except orgchart.graphviz.ExecutableNotFound:
        raise SsikgError(503, "Graphviz 'dot' is not installed on this server") from None
    except orgchart.ChartError as error:
        raise _chart_failed(error) from None
    if svg is None:
        raise _unknown_focus(focus)
    response = Response(orgchart.standalone_svg(svg, lang),
                        content_type="image/svg+xml; charset=utf-8")
    response.headers["Content-Language"] = lang  # the labels' language
    response.vary.add("Accept-Language")
    return _conditional(response, *parts)


@bp.get("/org-chart")
def org_chart_page():
    """The chart page; ``focus=`` draws one unit's part, answered as the SVG route answers it."""
    store = get_store()
    lang = current_lang()
    focus = _chart_focus()
    parts = ("chart-page", lang, focus or "", explicit_lang())
    held = _held(parts, "Accept-Language")
    if held is not None:
        return held
    try:
        _data, svg = _chart(store, lang, focus)
    except orgchart.graphviz.ExecutableNotFound:
        svg = b""  # the page says that Graphviz is missing
    except orgchart.ChartError as error:
        raise _chart_failed(error) from None
    if svg is None:
        raise _unknown_focus(focus)
    chart = _chart_fragment(store, lang, focus)
    words = ui_lang(lang)
    legend = [(kind.name, kind.words[words], kind.style) for kind in orgchart.EDGE_KINDS]
    legend.append(("joint", orgchart.JOINT_WORDS[words], orgchart.JOINT_STYLE))
    svg_args = {"lang": lang} | ({"focus": focus} if focus else {})
    return _conditional(page("org_chart.html", lang=lang, chart=chart, legend=legend,
                             not_installed=orgchart.NOT_INSTALLED_WORDS[words], joint_word=orgchart.JOINT_WORDS[words],
                             svg_url=request.script_root + "/org-chart.svg?" + urlencode(svg_args)),
                        *parts)


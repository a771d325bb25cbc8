"""The SPARQL 1.1 Service Description of ``/sparql``, the VoID statistics of
its default dataset, and the VoID description served at ``/.well-known/void``
(VoID §7: where crawlers and catalogues look for a site's datasets).

The description says what the endpoint really does: its URL as requested
(``sd:endpoint``; behind trusted proxies, ``forwarded_proxies``, the public URL their
X-Forwarded-* headers give, which ProxyFix has put in the request), the languages (Update only when a token enables writes), the
result and input formats, ``sd:UnionDefaultGraph`` (the default graph is the
union of all named graphs; each graph is also queryable by name), and the
default dataset with VoID counts per graph.  Statistics are computed by SPARQL
on the store; they and each serialised description are memoised per store
version (:mod:`ssikg.memo`), and a client holding the current ETag gets its 304
before anything is described.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox
from flask import Response, request
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, RDFS, XSD

from . import http, linked_data, protocol
from .memo import store_memo
from .namespaces import BASE, GRAPH, ID, ONTOLOGY, PREFIXES

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
ENT = Namespace("http://www.w3.org/ns/entailment/")
FORMATS = Namespace("http://www.w3.org/ns/formats/")

# Service Description serialisations: media type → rdflib format
SD_FORMATS = (
    protocol.MediaFormat("text/turtle", ox.RdfFormat.TURTLE, "turtle"),
    protocol.MediaFormat("application/ld+json", ox.RdfFormat.JSON_LD, "json-ld"),
    protocol.MediaFormat("application/rdf+xml", ox.RdfFormat.RDF_XML, "xml"),
    protocol.MediaFormat("application/n-triples", ox.RdfFormat.N_TRIPLES, "nt"),
)
SD_ALIASES = {"application/json": "json-ld", "text/plain": "nt", "application/xml": "xml",
              "application/x-turtle": "turtle"}


@dataclass(frozen=True)
class DatasetStatistics:
    triples: int
    entities: int
    classes: int
    properties: int
    distinct_subjects: int
    distinct_objects: int
    graphs: tuple[tuple[str, int], ...]  # (graph IRI, triples), default graph first as ""


def statistics(store) -> DatasetStatistics:
    """VoID counts of ``store``, recomputed only when its version changes (needs an app context)."""
    return store_memo("void-statistics", store.version, lambda: _compute(store), maxsize=2)


def _single(store, query: str) -> int:
    for solution in store.query(query):
        value = solution[0]
        return int(value.value) if value is not None else 0
    return 0


def _compute(store) -> DatasetStatistics:
    per_graph = {}
    for solution in store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"):
        per_graph[solution["g"].value] = int(solution["n"].value)
    for graph in store.named_graphs():
        per_graph.setdefault(graph, 0)
    default_count = sum(1 for _ in store.quads(""))
    graphs = ((("", default_count),) if default_count else ()) + tuple(sorted(per_graph.items()))
    return DatasetStatistics(
        triples=_single(store, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"),
        entities=_single(store, "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o FILTER isIRI(?s) }"),
        classes=_single(store, "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?s a ?c }"),
        properties=_single(store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?s ?p ?o }"),
        distinct_subjects=_single(store, "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"),
        distinct_objects=_single(store, "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }"),
        graphs=graphs,
    )


def format_iri(fmt) -> URIRef:
    """The W3C format IRI (http://www.w3.org/ns/formats/…) of a pyoxigraph format."""
    if fmt == ox.RdfFormat.JSON_LD:
        return FORMATS["JSON-LD"]  # pyoxigraph answers a non-canonical IRI for this one
    return URIRef(fmt.iri)


def _int(value: int) -> Literal:
    return Literal(value, datatype=XSD.integer)


def describe(endpoint: str, store, *, writable: bool, federated: bool = False) -> Graph:
    """The Service Description graph for ``endpoint`` (the URL as requested)."""
    g = Graph()
    for prefix, ns in (("sd", SD), ("void", VOID), ("ent", ENT), ("formats", FORMATS),
                       ("dcterms", DCTERMS)):
        g.bind(prefix, ns)
    service = URIRef(endpoint)
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, service))
    g.add((service, RDFS.label, Literal("ssikg SPARQL endpoint", lang="en")))
    g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    if writable:
        g.add((service, SD.supportedLanguage, SD.SPARQL11Update))
    for fmt in protocol.SOLUTIONS_FORMATS + protocol.GRAPH_FORMATS:
        g.add((service, SD.resultFormat, format_iri(fmt.format)))
    if writable:
        for fmt in protocol.GRAPH_FORMATS:
            g.add((service, SD.inputFormat, format_iri(fmt.format)))
    g.add((service, SD.feature, SD.UnionDefaultGraph))
    if federated:  # only when an allowlist lets SERVICE reach some endpoint
        g.add((service, SD.feature, SD.BasicFederatedQuery))
    if keeps_empty_graphs(store):
        g.add((service, SD.feature, SD.EmptyGraphs))  # graphs created empty are kept and listed
    g.add((service, SD.defaultEntailmentRegime, ENT.Simple))

    _describe_stored_queries(g, service)
    stats = statistics(store)
    dataset = BNode("defaultDataset")
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    g.add((dataset, RDF.type, VOID.Dataset))
    if getattr(store, "kind", None) == "remote":
        default_writes = ("Over this remote SPARQL backend the union is made of the named graphs only: "
                          "writes into the default graph (an INSERT outside GRAPH, LOAD without INTO, "
                          "the Graph Store Protocol's ?default) are refused; write into a named graph.")
    else:
        default_writes = ("As with Fuseki's union default graph, updates without GRAPH, WITH or USING and "
                          "the Graph Store Protocol's ?default address the store's own default graph "
                          "(empty after a build), which is part of the union.")
    g.add((dataset, DCTERMS.description, Literal(
        "A query's default graph is the union of every graph of the store (sd:UnionDefaultGraph); "
        "each named graph is also available by name to GRAPH and FROM NAMED. "
        "default-graph-uri / named-graph-uri (or FROM / FROM NAMED) replace this dataset. "
        + default_writes, lang="en")))
    g.add((dataset, VOID.uriSpace, Literal(BASE)))
    g.add((dataset, VOID.sparqlEndpoint, service))
    default_graph = BNode("defaultGraph")
    g.add((dataset, SD.defaultGraph, default_graph))
    g.add((default_graph, RDF.type, SD.Graph))
    g.add((default_graph, DCTERMS.description,
           Literal("Union of all named graphs of the store", lang="en")))
    for predicate, value in ((VOID.triples, stats.triples), (VOID.entities, stats.entities),
                             (VOID.classes, stats.classes), (VOID.properties, stats.properties),
                             (VOID.distinctSubjects, stats.distinct_subjects),
                             (VOID.distinctObjects, stats.distinct_objects)):
        g.add((default_graph, predicate, _int(value)))
    named = [(name, count) for name, count in stats.graphs if name]
    for name, count in named:
        node = BNode()
        inner = BNode()
        g.add((dataset, SD.namedGraph, node))
        g.add((node, RDF.type, SD.NamedGraph))
        g.add((node, SD.name, URIRef(name)))
        g.add((node, SD.graph, inner))
        g.add((inner, RDF.type, SD.Graph))
        g.add((inner, VOID.triples, _int(count)))
    return g


def keeps_empty_graphs(store) -> bool:
    """sd:EmptyGraphs: whether a graph created empty is kept and listed (so the empty graphs the
    description lists, graph/external, are really there).  The embedded store (Oxigraph) does;
    a remote store says for its engine (Oxigraph serve does, Virtuoso does not)."""
    keeps = getattr(store, "keeps_empty_graphs", None)
    return keeps if keeps is not None else getattr(store, "kind", None) == "embedded"


def _describe_stored_queries(g: Graph, service: URIRef) -> None:
    """Each stored query as a part of the service: its API page, title, and the OpenAPI document."""
    from flask import url_for

    from .stored_queries import list_for_links

    g.add((service, RDFS.seeAlso, URIRef(url_for("stored_queries.openapi", _external=True))))
    for _name, title, url in list_for_links("en", external=True):
        g.add((service, DCTERMS.hasPart, URIRef(url)))
        g.add((URIRef(url), RDFS.label, Literal(title, lang="en")))


# What the data is written in (void:vocabulary): the namespaces its terms come from
# (tests/test_service_description.py checks each is used by the data, and none is missing).
VOCABULARIES = ("org", "cv", "skos", "dct", "prov", "vcard", "foaf", "schema")
EXAMPLE_RESOURCES = ("ssi-be", "dcis", "reseau-ssi")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")


def void_description(site: str, store) -> Graph:
    """The VoID description of the dataset served at ``site`` (the server's root URL, ending
    with ``/``): its IRIs, endpoint, dump, vocabularies, example resources that exist in the
    store, counts per store version, and one subset per named graph."""
    g = Graph()
    for prefix, ns in (("void", VOID), ("dcterms", DCTERMS), ("foaf", FOAF), ("sd", SD)):
        g.bind(prefix, ns)
    document = URIRef(site + ".well-known/void")
    dataset = URIRef(site + ".well-known/void#ssikg")
    g.add((document, RDF.type, VOID.DatasetDescription))
    g.add((document, FOAF.primaryTopic, dataset))
    g.add((dataset, RDF.type, VOID.Dataset))
    g.add((dataset, DCTERMS.title, Literal("Réseau international de sécurité intérieure (ssikg)", lang="fr")))
    g.add((dataset, DCTERMS.title, Literal("France's international internal-security network (ssikg)", lang="en")))
    g.add((dataset, DCTERMS.description, Literal(
        "The DCIS and the network of internal-security services (SSI) in embassies on which France "
        "relies (the page does not say the network belongs to the DCIS), modelled from one page, every "
        "stated triple traced to its quote.", lang="en")))
    g.add((dataset, DCTERMS.source, URIRef(ID + "page")))
    g.add((dataset, FOAF.homepage, URIRef(site)))
    g.add((dataset, VOID.sparqlEndpoint, URIRef(site + "sparql")))
    g.add((dataset, VOID.dataDump, URIRef(site + "store")))
    g.add((dataset, VOID.uriSpace, Literal(BASE)))
    g.add((dataset, VOID.vocabulary, URIRef(ONTOLOGY)))
    for prefix in VOCABULARIES:
        g.add((dataset, VOID.vocabulary, URIRef(PREFIXES[prefix])))
    for slug in EXAMPLE_RESOURCES:
        if linked_data.exists(store, ID + slug):
            g.add((dataset, VOID.exampleResource, URIRef(ID + slug)))
    for fmt in protocol.GRAPH_FORMATS:  # the dump's: a dataset, so the quad syntaxes
        if fmt.short in ("nq", "trig"):
            g.add((dataset, VOID.feature, format_iri(fmt.format)))
    stats = statistics(store)
    for predicate, value in ((VOID.triples, stats.triples), (VOID.entities, stats.entities),
                             (VOID.classes, stats.classes), (VOID.properties, stats.properties),
                             (VOID.distinctSubjects, stats.distinct_subjects),
                             (VOID.distinctObjects, stats.distinct_objects)):
        g.add((dataset, predicate, _int(value)))
    for name, count in stats.graphs:
        if not name:
            continue
        subset = URIRef(site + ".well-known/void#graph-" + name.rsplit("/", 1)[-1]) \
            if name.startswith(GRAPH) else BNode()
        g.add((dataset, VOID.subset, subset))
        g.add((subset, RDF.type, VOID.Dataset))
        g.add((subset, SD.name, URIRef(name)))
        g.add((subset, VOID.triples, _int(count)))
        if name.startswith(GRAPH):
            g.add((subset, FOAF.page, URIRef(site + "graph/" + name[len(GRAPH):])))
            for fmt in protocol.GRAPH_FORMATS:  # the graph document's syntaxes
                if fmt.short not in ("nq", "trig"):
                    g.add((subset, VOID.feature, format_iri(fmt.format)))
    return g


def void_response() -> Response:
    """``/.well-known/void``: the VoID description in the syntax Accept or ``format=`` asks for."""
    from .app import get_store

    chosen = _negotiated(request.args.get("format"), " of the VoID description")
    store = get_store()
    site = request.url_root  # under a script root, the description is served below it too
    etag = http.version_etag(store.version, "void", chosen.short, site)
    held = http.answer_if_held(etag, vary="Accept")
    if held is not None:
        return held

    def serialised() -> bytes:
        return void_description(site, store).serialize(format=chosen.short, encoding="utf-8")

    data = store_memo("void-description", (store.version, chosen.short, site), serialised, maxsize=SERIALISED_KEPT)
    response = Response(data, content_type=chosen.content_type)
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    response.set_etag(etag, weak=True)
    return response


SERIALISED_KEPT = 16  # (format, writable, federated, URL as requested) per store version

# format= names for the description, as the endpoint's answers take them
SD_FORMAT_NAMES = {"ttl": "text/turtle", "turtle": "text/turtle", "jsonld": "application/ld+json",
                   "json": "application/ld+json", "json-ld": "application/ld+json",
                   "rdf": "application/rdf+xml", "xml": "application/rdf+xml", "nt": "application/n-triples"}


def _negotiated(format_param: str | None, what: str) -> protocol.MediaFormat:
    """The description's syntax: ``format=`` (a short name or a media type) or Accept."""
    by_type = {f.media_type: f for f in SD_FORMATS}
    names = {**{name: by_type[media] for name, media in SD_FORMAT_NAMES.items()}, **by_type,
             **{alias: next(f for f in SD_FORMATS if f.short == short) for alias, short in SD_ALIASES.items()}}
    return protocol.choose_representation(
        request.headers.get("Accept"), format_param, [(f, f.media_type) for f in SD_FORMATS], names,
        exact_only=[(names[alias], alias) for alias in SD_ALIASES], what=what)


def service_description_response(format_param: str | None = None) -> Response:
    """The description, negotiated by Accept, or in the syntax ``format=`` names (a short
    name or a media type; 400 when it names none of them)."""
    from .app import get_settings, get_store
    from .execution import federated_query_enabled, writes_enabled

    chosen = _negotiated(format_param, " of the service description")
    store = get_store()
    settings = get_settings()
    # from the settings, not the token file (read only by a write): a description says what
    # is configured.  Switch to auth.writes_enabled(settings) once auth owns that test.
    writable = writes_enabled(settings) and getattr(store, "writable", True)
    federated = federated_query_enabled(settings)
    parts = ("sd", chosen.short, str(writable), str(federated), request.base_url)
    version = store.version
    etag = http.version_etag(version, *parts)
    held = http.answer_if_held(etag, vary="Accept")
    if held is not None:
        return held  # before describing: a revalidation costs no query

    def serialised() -> bytes:
        graph = describe(request.base_url, store, writable=writable, federated=federated)
        return graph.serialize(format=chosen.short, encoding="utf-8")

    data = store_memo("service-description", (version, *parts), serialised, maxsize=SERIALISED_KEPT)
    response = Response(data, content_type=chosen.content_type)
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = http.READ_CACHE_CONTROL
    # weak: a description made again after eviction names its blank nodes differently
    response.set_etag(etag, weak=True)
    return response

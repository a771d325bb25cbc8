"""The project's IRI policy in one place: base, ontology, entities and named graphs.

Every other module takes IRIs from here so that the policy documented in the
README has exactly one implementation.
"""

BASE = "https://w3id.org/ssikg/"
ONTOLOGY = BASE + "ontology"
SSIKG = ONTOLOGY + "#"
ID = BASE + "id/"
CONCEPT = ID + "concept/"
SCHEME = ID + "scheme/"
FACT = ID + "fact/"
GRAPH = BASE + "graph/"

GRAPH_NAMES = ("ontology", "vocabularies", "stated", "provenance", "derived", "editorial", "external")
GRAPHS = {name: GRAPH + name for name in GRAPH_NAMES}
ONTOLOGY_GRAPH = GRAPHS["ontology"]
STATED_GRAPH = GRAPHS["stated"]

PREFIXES = {
    "ssikg": SSIKG,
    "id": ID,
    "concept": CONCEPT,
    "scheme": SCHEME,
    "fact": FACT,
    "org": "http://www.w3.org/ns/org#",
    "cv": "http://data.europa.eu/m8g/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dct": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "locn": "http://www.w3.org/ns/locn#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "schema": "https://schema.org/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def sparql_prefixes() -> str:
    """PREFIX declarations for every project prefix, for queries written in code."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())


def expand_prefixed(value: str) -> str:
    """``id:ssi-be`` -> the full IRI, for the project's own prefixes (never http(s) schemes)."""
    prefix, sep, local = value.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return value

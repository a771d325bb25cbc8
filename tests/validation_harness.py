"""What the SHACL mutation tests share (test_validation_mutations.py, test_shapes_coverage.py;
the real data as quads is conftest's ``base_quads``): SPARQL updates that inject one defect with its provenance kept
consistent, and the project's own validation of the mutated copy."""

from __future__ import annotations

import pyoxigraph as ox

from ssikg.namespaces import sparql_prefixes
from ssikg.settings import PROJECT_ROOT
from ssikg.validation import SHAPES_NS, quads_from_store, validate_quads

ID = "https://w3id.org/ssikg/id/"
STATED = "<https://w3id.org/ssikg/graph/stated>"
PROVENANCE = "<https://w3id.org/ssikg/graph/provenance>"
DERIVED = "<https://w3id.org/ssikg/graph/derived>"
EDITORIAL = "<https://w3id.org/ssikg/graph/editorial>"
PREFIXES = sparql_prefixes() + "PREFIX ssikgsh: <https://w3id.org/ssikg/shapes#>\n"


def add_stated(s: str, p: str, o: str, fact: str = "F33") -> str:
    """Add a stated triple together with its reification to an existing fact."""
    return (f"INSERT DATA {{ GRAPH {STATED} {{ {s} {p} {o} }}\n"
            f"  GRAPH {PROVENANCE} {{ [] a rdf:Statement ; rdf:subject {s} ; rdf:predicate {p} ; "
            f"rdf:object {o} ; prov:wasDerivedFrom fact:{fact} }} }}")


def replace_stated_object(s: str, p: str, old: str, new: str) -> str:
    """Change a stated triple's object and keep its reification pointing at the new triple."""
    return (f"DELETE DATA {{ GRAPH {STATED} {{ {s} {p} {old} }} }} ;\n"
            f"INSERT DATA {{ GRAPH {STATED} {{ {s} {p} {new} }} }} ;\n"
            f"DELETE {{ GRAPH {PROVENANCE} {{ ?r rdf:object {old} }} }}\n"
            f"INSERT {{ GRAPH {PROVENANCE} {{ ?r rdf:object {new} }} }}\n"
            f"WHERE {{ GRAPH {PROVENANCE} {{ ?r rdf:subject {s} ; rdf:predicate {p} ; rdf:object {old} }} }}")


def join(*updates: str) -> str:
    return " ;\n".join(updates)


def mutate(base_quads, update: str) -> ox.Store:
    scratch = ox.Store()
    scratch.bulk_extend(base_quads)
    scratch.update(PREFIXES + update)
    return scratch


def validate(scratch: ox.Store):
    return validate_quads(quads_from_store(scratch.quads_for_pattern(None, None, None, None)),
                          source_dir=PROJECT_ROOT)


def focus_key(term) -> str:
    """A focus node as the cases name it: relative to id: when under it, "_:" for a blank node."""
    text = str(term)
    if not text.startswith("http"):
        return "_:"
    return text[len(ID):] if text.startswith(ID) else text


def rule_key(result) -> str:
    rule = str(result.rule)
    return rule[len(SHAPES_NS):] if rule.startswith(SHAPES_NS) else rule

"""What the SHACL mutation tests share (test_validation_mutations.py, test_shapes_coverage.py;
the real data as quads is conftest's ``base_quads``): SPARQL updates that inject one defect with its provenance kept
consistent, the project's own validation of the mutated copy, and the incremental write check
of the same update, which must find exactly what the whole validation found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import RDF, SH

from ssikg.errors import SsikgError
from ssikg.namespaces import sparql_prefixes
from ssikg.settings import PROJECT_ROOT
from ssikg.validation import SHAPES_NS, check_update, quads_from_store, validate_quads

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


class MemoryStore:
    """A store in memory with what the write checks read (pattern access, size, version)."""

    def __init__(self, quads, version: str = "base"):
        self.raw = ox.Store()
        self.raw.extend(quads)
        self.version = version

    def quads(self):
        return self.raw.quads_for_pattern(None, None, None, None)

    def __len__(self) -> int:
        return len(self.raw)


def checked_write_results(store, update: str, *, incremental: bool) -> Counter:
    """What validate-on-write refuses ``update`` for, as result keys (none when accepted)."""
    try:
        check_update(store, PREFIXES + update, source_dir=PROJECT_ROOT, incremental=incremental)
    except SsikgError as refused:
        assert refused.status == 422, refused.message
        return result_keys(refused.extra["report"]["results"])
    return Counter()


def result_keys(results: list[dict]) -> Counter:
    """Results as the write check tells them apart (a blank node by kind), with their message."""
    def blank(text):
        return "_:" if text and text.startswith("_:") else text
    return Counter((blank(r["focus"]), r["path"], blank(r["value"]), r["shape"] or r["source_shape"],
                    r["message"] if not (r["focus"] or "").startswith("_:") else "") for r in results)


def focus_key(term) -> str:
    """A focus node as the cases name it: relative to id: when under it, "_:" for a blank node."""
    text = str(term)
    if not text.startswith("http"):
        return "_:"
    return text[len(ID):] if text.startswith(ID) else text


def rule_key(result) -> str:
    rule = str(result.rule)
    return rule[len(SHAPES_NS):] if rule.startswith(SHAPES_NS) else rule


@dataclass(frozen=True)
class Mutation:
    """One defect injected by ``update``, the (focus, rule) pairs that must report it (focus
    relative to id: when under it, "_:" for a blank node) and further rules it may trip."""

    kind: str
    update: str
    expected: tuple[tuple[str, str], ...]
    also_allowed: frozenset = field(default_factory=frozenset)


def M(kind, update, *expected, also=()) -> Mutation:
    return Mutation(kind, update, tuple(expected), frozenset(also))


def assert_caught(base_quads, mutation: Mutation):
    """Apply ``mutation`` to a copy of the real data and check the report: the expected rules
    on the expected nodes, no unrelated rule, each result once (every representation counting
    the same), each with a named rule and a filled-in message in both languages.  Returns it."""
    scratch = mutate(base_quads, mutation.update)
    assert set(scratch.quads_for_pattern(None, None, None, None)) != set(base_quads), "the mutation changed nothing"
    report = validate(scratch)
    assert not report.conforms, f"{mutation.kind}: not detected"
    found = {(focus_key(r.focus), rule_key(r)) for r in report.results}
    for expected in mutation.expected:
        assert expected in found, f"{mutation.kind}: expected {expected}, got {sorted(found)}"
    allowed = {rule for _focus, rule in mutation.expected} | mutation.also_allowed
    unrelated = {pair for pair in found if pair[1] not in allowed}
    assert not unrelated, f"{mutation.kind}: unrelated results {sorted(unrelated)}"
    identities = [(r.focus, r.path_text, r.value, r.rule, r.message("en")) for r in report.results]
    assert len(identities) == len(set(identities)), f"{mutation.kind}: a result is repeated"
    assert len(set(report.graph.subjects(RDF.type, SH.ValidationResult))) == len(report.results)
    assert len(set(report.graph.objects(None, SH.result))) == len(report.results)
    assert report.as_dict()["results_count"] == len(report.results)
    for result in report.results:
        assert result.shape_name and result.message("fr") and result.message("en")
        assert result.message("fr") != result.message("en")
        assert "{?" not in result.message("fr") + result.message("en")
    # The real data has no results, so the whole-store check would refuse the update for all of
    # them: the incremental check must find exactly those.
    incremental = checked_write_results(MemoryStore(base_quads), mutation.update, incremental=True)
    assert incremental == result_keys([r.as_dict("en") for r in report.results]), \
        f"{mutation.kind}: the incremental write check differs from the whole validation"
    return report

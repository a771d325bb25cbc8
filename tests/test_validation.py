"""The validation engine and the ``ssikg validate`` command: the project's data
conforms, reports are grouped by focus node with labels, paths, values and
messages in French or English, files in any RDF syntax keep their named
graphs, exit codes are 0/1/2, and the write checks refuse only new breakage.
"""

from __future__ import annotations

import json
import shutil

import pyoxigraph as ox
import pytest
import rdflib
from conftest import run_cli
from rdflib.namespace import SH

from ssikg.errors import SsikgError
from ssikg.settings import PROJECT_ROOT
from ssikg.store import open_store
from ssikg.validation import (
    check_graph_write,
    check_update,
    load_shapes,
    parse_rdf,
    quads_from_files,
    validate_files,
    validate_quads,
)

DATA = PROJECT_ROOT / "data"
ONTOLOGY = PROJECT_ROOT / "ontology" / "ssikg.ttl"
ORG = "http://www.w3.org/ns/org#"

BROKEN_TRIG = """@prefix org: <http://www.w3.org/ns/org#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix id: <https://w3id.org/ssikg/id/> .
<https://w3id.org/ssikg/graph/derived> {
    id:post-orphelin a org:Post ; skos:prefLabel "poste orphelin"@fr, "orphan post"@en .
    id:post-dg-gn org:reportsTo id:dcis .
}
"""


# ---------------------------------------------------------------------------
# Shapes


def test_every_shape_is_named_described_and_has_messages_in_french_and_english():
    shapes = load_shapes()
    graph = shapes.graph
    named = [s for s in set(graph.subjects(rdflib.RDF.type, SH.NodeShape))
             | set(graph.subjects(rdflib.RDF.type, SH.PropertyShape)) if isinstance(s, rdflib.URIRef)]
    assert len(named) >= 30
    for shape in named:
        names = {lit.language for lit in graph.objects(shape, SH.name)}
        assert names >= {"fr", "en"}, shape
        has_message = {lit.language for lit in graph.objects(shape, SH.message)}
        constraints = list(graph.objects(shape, SH.sparql)) + list(graph.objects(shape, SH.property))
        if not has_message:  # a grouping shape: each of its constraints carries the messages
            assert constraints, shape
            for constraint in constraints:
                assert {lit.language for lit in graph.objects(constraint, SH.message)} >= {"fr", "en"}, constraint
        else:
            assert has_message >= {"fr", "en"}, shape
    for constraint in graph.subjects(rdflib.RDF.type, SH.SPARQLConstraint):
        assert {lit.language for lit in graph.objects(constraint, SH.message)} >= {"fr", "en"}, constraint


def test_the_shapes_conform_to_the_shacl_shapes_for_shacl():
    import pyshacl

    conforms, _graph, text = pyshacl.validate(rdflib.Graph(), shacl_graph=rdflib.Graph() + load_shapes().graph,
                                             meta_shacl=True)  # a copy: pyshacl adds to the graph it is given
    assert conforms, text


def test_the_shapes_file_is_not_loaded_into_the_store(built_store):
    store = open_store(built_store, read_only=True)
    try:
        assert not bool(store.query("ASK { <https://w3id.org/ssikg/shapes#PostShape> ?p ?o }"))
        assert bool(store.query("ASK { ?post a <http://www.w3.org/ns/org#Post> }"))
    finally:
        store.close()


# ---------------------------------------------------------------------------
# Engine


def test_the_project_files_conform_in_any_rdf_syntax(tmp_path):
    """Named graphs survive the syntax: N-Quads and JSON-LD copies of data/ conform like the TriG."""
    quads = quads_from_files([ONTOLOGY, DATA])
    assert validate_quads(quads).conforms
    dataset = rdflib.Dataset()
    for path in sorted(DATA.glob("*.trig")):
        dataset.parse(path, format="trig")
    (tmp_path / "data.nq").write_bytes(dataset.serialize(format="nquads", encoding="utf-8"))
    (tmp_path / "data.jsonld").write_bytes(dataset.serialize(format="json-ld", encoding="utf-8"))
    for name in ("data.nq", "data.jsonld"):  # with the ontology, which the data needs (Store-requiredGraphs)
        report = validate_files([ONTOLOGY, tmp_path / name])
        assert report.conforms and report.results == [], report.text("en")
        assert report.triples == len(quads)


def test_stated_graph_checks_depend_on_the_graph_a_triple_is_in():
    triple = "<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/ns/org#purpose> <https://w3id.org/ssikg/id/concept/securite>"
    base = quads_from_files([ONTOLOGY, DATA])
    in_derived = parse_rdf(f"{triple} <https://w3id.org/ssikg/graph/derived> .", "nquads")
    in_stated = parse_rdf(f"{triple} <https://w3id.org/ssikg/graph/stated> .", "nquads")
    # derived: it needs a justification, not a stated triple's provenance
    derived = validate_quads(base + in_derived)
    assert [(str(r.focus), r.shape_name, r.path_text) for r in derived.results] == [
        ("https://w3id.org/ssikg/graph/derived", "ssikgsh:DerivedTriple-hasJustification", "org:purpose")]
    report = validate_quads(base + in_stated)
    assert [(str(r.focus), r.shape_name) for r in report.results] == [
        ("https://w3id.org/ssikg/id/dcis", "ssikgsh:StatedTriple-hasProvenance")]
    assert report.results[0].path_text == "org:purpose"


def test_only_the_derived_graphs_triples_need_a_justification():
    """An ORG triple in a user's graph (an upload, the editorial graph) claims nothing on the
    page's behalf: DerivedTriple-hasJustification covers the derived graph, where the same
    triple without its reification is still reported."""
    triple = "<https://w3id.org/ssikg/id/ssi-be> <http://www.w3.org/ns/org#memberOf> <https://w3id.org/ssikg/id/dcis>"
    base = quads_from_files([ONTOLOGY, DATA])
    for graph in ("http://example.org/my-graph", "https://w3id.org/ssikg/graph/editorial"):
        in_user_graph = validate_quads(base + parse_rdf(f"{triple} <{graph}> .", "nquads"))
        assert in_user_graph.conforms and in_user_graph.results == [], in_user_graph.text("en")
    in_derived = validate_quads(base + parse_rdf(f"{triple} <https://w3id.org/ssikg/graph/derived> .", "nquads"))
    assert [(str(r.focus), r.shape_name, r.path_text, str(r.value)) for r in in_derived.results] == [
        ("https://w3id.org/ssikg/graph/derived", "ssikgsh:DerivedTriple-hasJustification", "org:memberOf",
         "https://w3id.org/ssikg/id/dcis")]
    assert "of the derived graph" in in_derived.results[0].message("en")


def test_report_is_grouped_by_focus_with_labels_paths_values_and_messages():
    report = validate_quads(quads_from_files([DATA]) + parse_rdf(BROKEN_TRIG, "trig"))
    assert not report.conforms
    rules = {(str(r.focus).rsplit("/", 1)[-1], r.shape_name) for r in report.results}
    assert ("post-orphelin", "ssikgsh:Post-oneUnit") in rules
    assert ("dcis", "ssikgsh:ReportingLine-noCycle") in rules
    english, french = report.text("en"), report.text("fr")
    assert "orphan post (id:post-orphelin)" in english
    assert "poste orphelin (id:post-orphelin)" in french
    assert "A post must sit in exactly one organisation" in english
    assert "Un poste doit relever d’exactement une organisation" in french
    assert "path: org:reportsTo" in english and "chemin: org:reportsTo" in french
    assert "value: id:post-dg-gn" in english
    assert english.rstrip().splitlines()[-1].startswith("does not conform:")
    assert french.rstrip().splitlines()[-1].startswith("non conforme :")
    as_json = report.as_dict("fr")
    assert as_json["conforms"] is False and as_json["violations"] == len(as_json["results"])
    first = as_json["results"][0]
    assert set(first) >= {"focus", "focus_label", "path", "value", "message", "messages", "shape", "severity"}
    graph = rdflib.Graph().parse(data=report.serialize("turtle"), format="turtle")
    assert len(list(graph.subjects(rdflib.RDF.type, SH.ValidationResult))) == len(report.results)


def test_without_the_page_text_the_quote_checks_are_skipped_and_said_so():
    quads = quads_from_files([DATA]) + parse_rdf(
        '<https://w3id.org/ssikg/id/fact/F4> <http://www.w3.org/ns/prov#value> "pas dans la page"@fr '
        '<https://w3id.org/ssikg/graph/provenance> .', "nquads")
    with_page = validate_quads(quads)
    assert {r.shape_name for r in with_page.results} >= {"ssikgsh:SourceStatement-quoteInPage"}
    without_page = validate_quads(quads, page_texts=[])
    assert "ssikgsh:SourceStatement-quoteInPage" not in {r.shape_name for r in without_page.results}
    assert any("quote" in note for note in without_page.notes)


# ---------------------------------------------------------------------------
# Validate-on-write (engine level; HTTP in test_validation_http.py)


@pytest.fixture
def memory_store(store_copy):
    store = open_store(store_copy, in_memory=True)
    yield store
    store.close()


def test_check_update_refuses_new_breakage_and_leaves_the_store_alone(memory_store):
    before = len(memory_store)
    with pytest.raises(SsikgError) as refused:
        check_update(memory_store, "PREFIX id: <https://w3id.org/ssikg/id/> INSERT DATA { GRAPH "
                     "<https://w3id.org/ssikg/graph/derived> { id:dcis <http://www.w3.org/ns/org#reportsTo> id:dcis } }")
    assert refused.value.status == 422
    report = refused.value.extra["report"]
    assert report["conforms"] is False
    # the loop, and the derived triple written without its justification
    assert {r["shape_name"] for r in report["results"]} == {"ssikgsh:ReportingLine-noCycle",
                                                            "ssikgsh:DerivedTriple-hasJustification"}
    assert len(memory_store) == before
    check_update(memory_store, "INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/editorial> { "
                 "<https://w3id.org/ssikg/id/dcis> <http://www.w3.org/2004/02/skos/core#note> \"ok\"@en } }")
    with pytest.raises(SsikgError) as malformed:
        check_update(memory_store, "INSERT DATA { nope")
    assert malformed.value.status == 400


def test_existing_violations_do_not_block_unrelated_writes(memory_store):
    memory_store.update("INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/derived> { "
                        "<https://w3id.org/ssikg/id/x> a <http://www.w3.org/ns/org#Post> } }")
    harmless = [ox.Triple(ox.NamedNode("https://w3id.org/ssikg/id/dcis"),
                          ox.NamedNode("http://www.w3.org/2004/02/skos/core#note"), ox.Literal("note", language="en"))]
    check_graph_write(memory_store, "https://w3id.org/ssikg/graph/editorial", harmless, "add")
    harmful = [ox.Triple(ox.NamedNode("https://w3id.org/ssikg/id/y"), ox.NamedNode(ORG + "postIn"),
                         ox.NamedNode("https://w3id.org/ssikg/id/nowhere"))]
    with pytest.raises(SsikgError) as refused:
        check_graph_write(memory_store, "https://w3id.org/ssikg/graph/editorial", harmful, "add")
    # Only the new problem is reported, not the post x that was already broken (nor its
    # unjustified derived type triple): the post y.  Its triple is in the editorial graph, a
    # user's graph, which needs no justification (only the derived graph's triples do).
    results = refused.value.extra["report"]["results"]
    assert {(r["focus"], r["shape_name"]) for r in results} == {
        ("https://w3id.org/ssikg/id/y", "ssikgsh:Post-declared"),
        ("https://w3id.org/ssikg/id/y", "ssikgsh:Post-unitDeclared")}


@pytest.mark.parametrize("mode", ["replace", "delete"])
def test_check_graph_write_replace_and_delete_see_the_whole_new_state(memory_store, mode):
    with pytest.raises(SsikgError) as refused:
        check_graph_write(memory_store, "https://w3id.org/ssikg/graph/provenance", [], mode)
    # stated triples lose their provenance, derived ones their justification, and a required graph is empty
    shapes = {r["shape_name"] for r in refused.value.extra["report"]["results"]}
    assert shapes == {"ssikgsh:StatedTriple-hasProvenance", "ssikgsh:DerivedTriple-hasJustification",
                      "ssikgsh:Store-requiredGraphs"}
    check_graph_write(memory_store, "https://w3id.org/ssikg/graph/external", [], mode)  # nothing breaks


# ---------------------------------------------------------------------------
# CLI


def test_cli_validates_the_project_data_and_exits_0(built_store):
    result = run_cli("validate", "--store", str(built_store))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("conforms:") and "no results" in lines[0]
    files = run_cli("validate", "--lang", "fr", "data", "ontology/ssikg.ttl")
    assert files.returncode == 0, files.stdout + files.stderr
    assert files.stdout.strip().startswith("conforme :")


def test_cli_without_arguments_builds_and_validates_the_configured_store(tmp_path):
    result = run_cli("validate", env={"SSIKG_STORE": str(tmp_path / "store")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().startswith("conforms:")
    assert (tmp_path / "store" / "meta.json").exists()


def test_cli_reports_violations_and_exits_1(tmp_path):
    broken = tmp_path / "broken.trig"
    broken.write_text(BROKEN_TRIG, encoding="utf-8")
    result = run_cli("validate", "--lang", "en", "data", str(broken))
    assert result.returncode == 1
    assert "orphan post (id:post-orphelin)" in result.stdout
    assert "shape: ssikgsh:Post-oneUnit" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("does not conform:")
    as_json = run_cli("validate", "--format", "json", "--lang", "fr", "data", str(broken))
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["conforms"] is False and body["lang"] == "fr"
    assert as_json.stderr.strip().splitlines()[-1].startswith("non conforme")
    as_turtle = run_cli("validate", "--format", "turtle", "data", str(broken))
    assert as_turtle.returncode == 1
    graph = rdflib.Graph().parse(data=as_turtle.stdout, format="turtle")
    assert (None, SH.conforms, rdflib.Literal(False)) in graph


def test_cli_usage_and_parse_errors_exit_2(tmp_path, built_store):
    bad = tmp_path / "bad.ttl"
    bad.write_text("<a> <b> .", encoding="utf-8")
    result = run_cli("validate", str(bad))
    assert result.returncode == 2 and "bad.ttl" in result.stderr and "Traceback" not in result.stderr
    unknown = tmp_path / "notes.docx"
    unknown.write_text("x", encoding="utf-8")
    assert run_cli("validate", str(unknown)).returncode == 2
    assert run_cli("validate", str(tmp_path / "missing.trig")).returncode == 2
    assert run_cli("validate", "--store", str(built_store), "data").returncode == 2
    assert run_cli("validate", "--format", "yaml", "data").returncode == 2
    not_a_store = tmp_path / "empty"
    not_a_store.mkdir()
    refused = run_cli("validate", "--store", str(not_a_store))
    assert refused.returncode == 2 and "not a built store" in refused.stderr


def test_cli_validates_a_copy_of_the_sources_with_its_own_page(tmp_path):
    """--page points the verbatim checks at another copy of the page."""
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy)
    page = copy / "source" / "page.txt"
    page.write_text(page.read_text(encoding="utf-8").replace("plus de 300", "environ 300"), encoding="utf-8")
    result = run_cli("validate", "--page", str(page), str(copy))
    assert result.returncode == 1
    assert "ssikgsh:SourceStatement-quoteInPage" in result.stdout
    assert "ssikgsh:VerbatimInPage-inPage" in result.stdout


def test_cli_reads_a_projects_data_folder_as_the_build_does(tmp_path):
    """The validation step before a build sees what the build loads: plain triples in data/,
    which the build refuses, are refused here too (they validated, then the build failed)."""
    shutil.copytree(PROJECT_ROOT / "ontology", tmp_path / "ontology")
    shutil.copytree(DATA, tmp_path / "data")
    (tmp_path / "data" / "notes.ttl").write_text('<http://e/a> <http://e/b> "c" .\n', encoding="utf-8")
    result = run_cli("validate", str(tmp_path / "ontology" / "ssikg.ttl"), str(tmp_path / "data"))
    assert result.returncode == 2 and "notes.ttl: a data file must name its graphs" in result.stderr


def test_validate_files_skips_shapes_and_non_rdf_files_in_folders():
    """ontology/ holds shapes.ttl and data/ holds page.txt: folders validate their data files only."""
    report = validate_files([PROJECT_ROOT / "ontology", DATA])
    assert report.conforms and report.results == []
    ontology_files = [p for p in sorted((PROJECT_ROOT / "ontology").glob("*.ttl")) if not p.name.startswith("shapes")]
    assert report.triples == len(quads_from_files([*ontology_files, DATA]))


def test_cli_refuses_a_store_above_validate_max_triples_unless_no_limit(built_store):
    refused = run_cli("validate", "--store", str(built_store), env={"SSIKG_VALIDATE_MAX_TRIPLES": "100"})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
    assert "validate_max_triples (100)" in refused.stderr and "--no-limit" in refused.stderr
    forced = run_cli("validate", "--store", str(built_store), "--no-limit",
                     env={"SSIKG_VALIDATE_MAX_TRIPLES": "100"})
    assert forced.returncode == 0 and forced.stdout.startswith("conforms:"), forced.stdout + forced.stderr


# A hand-added TriG file under data/ is loaded by the build (the generator neither rewrites
# nor checks it): here one closes a reporting loop, id:dcis → … → id:post-dg-pn → id:dcis.
CYCLE_TRIG = """@prefix org: <http://www.w3.org/ns/org#> .
@prefix id: <https://w3id.org/ssikg/id/> .
<https://w3id.org/ssikg/graph/derived> { id:post-dg-pn org:reportsTo id:dcis . }
"""


def test_build_validate_refuses_broken_sources_and_builds_the_valid_ones(tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(DATA, sources / "data")
    shutil.copytree(PROJECT_ROOT / "ontology", sources / "ontology")
    (sources / "data" / "hand-added.trig").write_text(CYCLE_TRIG, encoding="utf-8")
    env = {"SSIKG_SOURCE_DIR": str(sources)}
    refused = run_cli("build", "--validate", "--store", str(tmp_path / "store"), env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "shape: ssikgsh:ReportingLine-noCycle" in refused.stdout
    assert "build refused" in refused.stderr and "nothing was built" in refused.stderr
    assert not (tmp_path / "store").exists()
    (sources / "data" / "hand-added.trig").unlink()
    built = run_cli("build", "--validate", "--store", str(tmp_path / "store"), env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "conforms:" in built.stderr and (tmp_path / "store" / "meta.json").exists()


def test_cli_suggests_adding_the_data_when_files_alone_name_undeclared_resources(tmp_path):
    broken = tmp_path / "broken.trig"
    broken.write_text(BROKEN_TRIG, encoding="utf-8")  # id:dcis and id:post-dg-gn live in data/
    alone = run_cli("validate", str(broken))
    assert alone.returncode == 1
    [note] = [line for line in alone.stdout.splitlines() if line.startswith("note:")]
    assert "ReportingLine-" in note and "pass data/ (and ontology/) too" in note and str(broken) in note
    with_data = run_cli("validate", "ontology/ssikg.ttl", "data", str(broken))
    assert with_data.returncode == 1 and "pass data/" not in with_data.stdout

"""The store layer and the command line, on real on-disk stores and a real subprocess CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
from pathlib import Path
from xml.etree import ElementTree

import pyoxigraph as ox
import pytest
from conftest import run_cli

from ssikg.settings import PROJECT_ROOT, SettingsError, load_settings
from ssikg.store import (
    BUILDS_DIR,
    StoreError,
    StoreMeta,
    UnexportedWritesError,
    build_store,
    open_store,
    store_status,
)

CHAIN_ABOVE_DCIS = """
PREFIX org: <http://www.w3.org/ns/org#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?label WHERE {
  GRAPH <https://w3id.org/ssikg/graph/stated> {
    <https://w3id.org/ssikg/id/dcis> (org:reportsTo|org:subOrganizationOf)+ ?above }
  ?above skos:prefLabel ?label FILTER(lang(?label) = "fr")
} ORDER BY ?label
"""


@pytest.fixture
def sources(tmp_path) -> Path:
    """A private copy of the project's sources that a test may break."""
    root = tmp_path / "src"
    shutil.copytree(PROJECT_ROOT / "ontology", root / "ontology")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    return root


def _count(store_path: Path) -> int:
    store = open_store(store_path)
    try:
        return len(store)
    finally:
        store.close()


def _canonical(store_path: Path) -> list[str]:
    """The store's quads with blank nodes canonicalised, for comparing two builds."""
    dataset = ox.Dataset(ox.Store.read_only(str(store_path / "db")))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return sorted(str(q) for q in dataset)


def test_build_loads_every_graph(built_store):
    store = open_store(built_store)
    try:
        graphs = set(store.named_graphs())
        assert {"https://w3id.org/ssikg/graph/ontology", "https://w3id.org/ssikg/graph/stated",
                "https://w3id.org/ssikg/graph/provenance"} <= graphs
        assert not list(store.quads(""))  # nothing in the default graph
        assert len(store) == StoreMeta.read(built_store).quads > 500
    finally:
        store.close()


def test_build_is_idempotent(sources, tmp_path):
    path = tmp_path / "store"
    first = build_store(path, sources)
    dump_1 = _canonical(path)
    second = build_store(path, sources)
    dump_2 = _canonical(path)
    assert first.inputs_hash == second.inputs_hash
    assert first.quads == second.quads and dump_1 == dump_2
    # the previous build folder is removed, only the current one remains
    assert len(list((tmp_path / ".store-builds").iterdir())) == 1


def test_broken_data_file_leaves_previous_store_and_names_file_and_line(sources, tmp_path):
    path = tmp_path / "store"
    build_store(path, sources)
    before = _count(path)
    target = sources / "data" / "stated.trig"
    lines = target.read_text(encoding="utf-8").splitlines()
    lines.insert(len(lines) // 2, 'GRAPH <https://w3id.org/ssikg/graph/stated> { <a:b> <a:c> "broken . }')
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(StoreError) as caught:
        build_store(path, sources)
    message = str(caught.value)
    assert "data/stated.trig" in message and "line" in message
    assert _count(path) == before
    assert store_status(path, sources) == "stale"


def test_default_graph_triples_are_refused(sources, tmp_path):
    (sources / "data" / "zz-stray.trig").write_text("<http://a> <http://b> <http://c> .\n")
    with pytest.raises(StoreError, match="zz-stray.trig.*outside any named graph"):
        build_store(tmp_path / "store", sources)


def test_status_tracks_inputs_and_writes(sources, tmp_path):
    path = tmp_path / "store"
    assert store_status(path, sources) == "missing"
    build_store(path, sources)
    assert store_status(path, sources) == "current"
    store = open_store(path)
    store.update("INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/external> "
                 "{ <https://w3id.org/ssikg/id/x> <http://www.w3.org/2000/01/rdf-schema#label> 'x' } }")
    store.close()
    assert store_status(path, sources) == "unexported"
    with pytest.raises(UnexportedWritesError):
        build_store(path, sources)
    build_store(path, sources, force=True)
    assert store_status(path, sources) == "current"


def test_settings_reject_unknown_and_malformed_values():
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({"no_such_thing": 1})
    with pytest.raises(SettingsError, match="SSIKG_IN_MEMORY"):
        load_settings(environ={"SSIKG_IN_MEMORY": "perhaps"})
    assert load_settings(environ={"SSIKG_IN_MEMORY": "yes"}).in_memory is True
    # values that were accepted, then made every query fail while /health said ok
    for name, value in (("QUERY_TIMEOUT", "inf"), ("QUERY_TIMEOUT", "nan"), ("PUBLIC_BASE", "notaurl"),
                        ("PUBLIC_BASE", "ftp://example.org/"), ("WORKER_MEMORY_MB", "1")):
        with pytest.raises(SettingsError, match=f"SSIKG_{name}"):
            load_settings(environ={f"SSIKG_{name}": value})
    assert load_settings(environ={"SSIKG_PUBLIC_BASE": "http://host:5000/"}).public_base == "http://host:5000/"
    assert load_settings(environ={"SSIKG_WORKER_MEMORY_MB": "0"}).worker_memory_mb == 0


@pytest.mark.parametrize("args,code,says", [
    (("serve", "--port", "99999"), 2, "--port"),
    (("serve", "--production", "--threads", "0"), 2, "--threads"),
    (("build", "--store", ""), 2, "store folder"),
    (("build", "--update-url", "http://example.org/u"), 2, "--backend"),
    (("query", ""), 2, "empty"),
    (("query", "--format", "turtle", "ASK {}"), 2, "ASK result"),
    (("export", "-o", "/nonexistent-folder/x.trig"), 1, "No such file"),
])
def test_bad_command_lines_get_one_line_and_the_right_code(args, code, says):
    result = run_cli(*args)
    assert result.returncode == code and says in result.stderr, result.stderr[-500:]
    assert "Traceback" not in result.stderr


def test_in_memory_copy_answers_like_disk(built_store):
    disk, memory = open_store(built_store, read_only=True), open_store(built_store, in_memory=True)
    try:
        assert len(disk) == len(memory)
        q = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
        assert next(iter(disk.query(q)))["n"] == next(iter(memory.query(q)))["n"]
    finally:
        disk.close()
        memory.close()


def _content(store) -> tuple[set, dict]:
    """Quads without blank nodes, and how many quads with one, per graph (labels aside)."""
    plain, with_blank = set(), {}
    for quad in store.quads():
        if any(isinstance(term, ox.BlankNode) for term in (quad.subject, quad.object)):
            with_blank[quad.graph_name] = with_blank.get(quad.graph_name, 0) + 1
        else:
            plain.add(quad)
    return plain, with_blank


def _ordered_copies(folder: Path) -> list[Path]:
    return sorted(folder.resolve().glob("memory-order-*.nq"))


def test_an_unwritten_store_is_copied_into_memory_in_build_order(store_copy):
    """The server makes the ordered file from unchanged sources; a worker (no sources) reads
    the same file, so both copies hold the same quads with the same blank-node labels."""
    disk = open_store(store_copy, read_only=True)
    server = open_store(store_copy, in_memory=True, source_dir=PROJECT_ROOT)
    worker = open_store(store_copy, in_memory=True)
    try:
        assert len(_ordered_copies(store_copy)) == 1
        assert _content(server) == _content(disk) and len(server) == len(disk)
        assert set(server.quads()) == set(worker.quads())
        assert any(isinstance(q.subject, ox.BlankNode) for q in server.quads())  # labels were at stake
        q = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
        assert next(iter(disk.query(q)))["n"] == next(iter(server.query(q)))["n"]
    finally:
        for store in (disk, server, worker):
            store.close()


def test_a_store_written_since_its_build_or_with_changed_sources_is_copied_from_disk(store_copy, sources):
    (sources / "data" / "editorial.trig").write_text(
        (sources / "data" / "editorial.trig").read_text() + "\n# changed after the build\n")
    changed = open_store(store_copy, in_memory=True, source_dir=sources)
    assert _ordered_copies(store_copy) == [] and len(changed) > 0
    changed.close()
    writable = open_store(store_copy)
    writable.update("INSERT DATA { GRAPH <urn:ssikg:test:g> { <urn:ssikg:test:s> <urn:ssikg:test:p> 1 } }")
    writable.close()
    copy = open_store(store_copy, in_memory=True, source_dir=PROJECT_ROOT)
    try:
        assert _ordered_copies(store_copy) == []
        assert copy.query("ASK { GRAPH <urn:ssikg:test:g> { <urn:ssikg:test:s> ?p 1 } }")
    finally:
        copy.close()


# --- the real command line -------------------------------------------------


def test_cli_build_then_query_reporting_chain_with_labels(sources, tmp_path):
    store = tmp_path / "store"
    built = run_cli("build", "--store", str(store), env={"SSIKG_SOURCE_DIR": str(sources)})
    assert built.returncode == 0, built.stderr
    assert "quads" in built.stderr
    query_file = tmp_path / "chain.rq"
    query_file.write_text(CHAIN_ABOVE_DCIS)
    answered = run_cli("query", "--store", str(store), f"@{query_file}")
    assert answered.returncode == 0, answered.stderr
    out = answered.stdout
    for label in ("directeur général de la police nationale", "directeur général de la gendarmerie nationale",
                  "police nationale", "gendarmerie nationale"):
        assert label + "@fr" in out
    assert "ministère" not in out  # no higher parent is stated
    assert "(4 rows)" in out


def test_cli_query_json_and_errors(built_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built_store.resolve(), store)
    as_json = run_cli("query", "--store", str(store), "--format", "json",
                      "ASK { GRAPH ?g { ?s <http://www.w3.org/ns/org#heldBy> ?o } }")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"head": {}, "boolean": False}
    assert as_json.stdout.endswith("\n")  # a shell prompt starts on its own line
    as_csv = run_cli("query", "--store", str(store), "--format", "csv", "ASK { ?s ?p ?o }")
    assert as_csv.stdout == "true\n"
    bad = run_cli("query", "--store", str(store), "SELECT * WHERE { ?s ?p }")
    assert bad.returncode == 1 and "malformed query" in bad.stderr and "1:" in bad.stderr
    usage = run_cli("query", "--store", str(store), "--format", "nope", "ASK {}")
    assert usage.returncode == 2
    missing = run_cli("query", "--store", str(store), "@/no/such/file.rq")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    # the service_allowlist is the command line's switch too (empty: no outbound request at all)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        federated = run_cli("query", "--store", str(store),
                            f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{listener.getsockname()[1]}/s> {{ ?s ?p ?o }} }}")
        with pytest.raises(TimeoutError):
            listener.accept()
    assert federated.returncode == 1 and "federated queries (SERVICE) are disabled" in federated.stderr


def test_cli_build_error_exit_code_names_file(sources, tmp_path):
    (sources / "data" / "stated.trig").write_text("GRAPH <urn:g> { <a:b> <a:c> }\n")
    result = run_cli("build", "--store", str(tmp_path / "store"), env={"SSIKG_SOURCE_DIR": str(sources)})
    assert result.returncode == 1
    assert "data/stated.trig" in result.stderr and "line 1" in result.stderr


def test_cli_export_round_trips_and_clears_unexported(sources, tmp_path):
    store = tmp_path / "store"
    build_store(store, sources)
    graph_store = open_store(store)
    graph_store.update("INSERT DATA { GRAPH <https://w3id.org/ssikg/graph/external> "
                       "{ <https://w3id.org/ssikg/id/x> <http://www.w3.org/2000/01/rdf-schema#label> 'é' } }")
    total = len(graph_store)
    graph_store.close()
    out = tmp_path / "dump.trig"
    result = run_cli("export", "--store", str(store), "-o", str(out))
    assert result.returncode == 0, result.stderr
    reparsed = list(ox.parse(path=str(out), format=ox.RdfFormat.TRIG))
    assert len(reparsed) == total
    assert any(q.object == ox.Literal("é") for q in reparsed)
    assert StoreMeta.read(store).unexported_writes == 0
    assert store_status(store, sources) == "current"  # 'ssikg build' may now replace it
    nquads = run_cli("export", "--store", str(store), "--format", "nquads")
    assert len(list(ox.parse(nquads.stdout.encode(), format=ox.RdfFormat.N_QUADS))) == total

    # a backup, not a data file: beside data/*.trig its provenance would load a second time
    # (new blank nodes), which no rule notices; the build refuses it and says what to do instead
    shutil.copy(out, sources / "data" / "http-writes.trig")
    refused = run_cli("build", "--store", str(tmp_path / "again"), env={"SSIKG_SOURCE_DIR": str(sources)})
    assert refused.returncode == 1
    assert "data/http-writes.trig: an export of a store" in refused.stderr and "Editing the data" in refused.stderr
    # alone in data/, an export restores the store it was made of
    for generated in (sources / "data").glob("*.trig"):
        if generated.name != "http-writes.trig":
            generated.unlink()
    restored = run_cli("build", "--store", str(tmp_path / "restored"), env={"SSIKG_SOURCE_DIR": str(sources)})
    assert restored.returncode == 0, restored.stderr
    restored_store = open_store(tmp_path / "restored", read_only=True)
    try:
        assert len(restored_store) == total
    finally:
        restored_store.close()


def test_cli_help_teaches():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("build", "serve", "query", "export"):
        assert command in result.stdout


def test_query_from_clause_overrides_the_union_default_graph(built_store):
    store = open_store(built_store, read_only=True)
    try:
        held = "ASK FROM <https://w3id.org/ssikg/graph/ontology> { ?s a <http://www.w3.org/ns/org#Post> }"
        assert bool(store.query(held)) is False  # no post in the ontology graph
        assert bool(store.query("ASK { ?s a <http://www.w3.org/ns/org#Post> }")) is True
        stated = ("ASK FROM <https://w3id.org/ssikg/graph/stated> "
                  "{ ?s a <http://www.w3.org/ns/org#Post> }")
        assert bool(store.query(stated)) is True
    finally:
        store.close()


def test_readme_lists_every_setting_as_declared():
    from ssikg.cli import settings_markdown

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme
    printed = run_cli("settings", "--markdown")
    assert printed.returncode == 0 and printed.stdout.strip() == settings_markdown()


def test_large_inputs_report_progress_while_loading(tmp_path, monkeypatch):
    import ssikg.store

    monkeypatch.setattr(ssikg.store, "PROGRESS_ABOVE_BYTES", 1 << 20)
    monkeypatch.setattr(ssikg.store, "PROGRESS_EVERY_S", 0.05)
    root = tmp_path / "src"
    (root / "ontology").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "ontology" / "o.ttl").write_text("<urn:o> <urn:p> <urn:q> .\n")
    with open(root / "data" / "big.nq", "w") as handle:
        for i in range(120_000):
            handle.write(f'<urn:e:{i}> <urn:p:{i % 40}> "value {i}" <urn:g:{i % 5}> .\n')
    said: list[str] = []
    meta = build_store(tmp_path / "store", root, progress=said.append)
    assert meta.quads == 120_001
    loading = [line for line in said if line.startswith("loading data/big.nq:")]
    assert loading, said
    assert said[-2].startswith("loaded data/big.nq")


# ---------------------------------------------------------------------------
# Building while the store is in use (the build folder's writer and readers locks)


def _build_here(tmp_path) -> Path:
    store = tmp_path / "served" / "store"
    assert run_cli("build", "--store", str(store)).returncode == 0
    return store


def test_a_build_refuses_a_store_a_server_writes_to(tmp_path):
    import requests
    from test_scale_out import TOKEN, Instance

    store = _build_here(tmp_path)
    server = Instance(store, tmp_path)  # writes enabled (the token is set)
    try:
        refused = run_cli("build", "--store", str(store), "--force")
        assert refused.returncode == 1 and "open for writing" in refused.stderr
        assert "Traceback" not in refused.stderr
        written = requests.post(server.url + "/sparql", timeout=60, headers={"Authorization": f"Bearer {TOKEN}"},
                                data={"update": "INSERT DATA { GRAPH <http://example.org/g> { "
                                                "<http://example.org/a> <http://example.org/b> 1 } }"})
        assert written.status_code == 204
        asked = requests.get(server.url + "/sparql", timeout=60, headers={"Accept": "application/json"},
                             params={"query": "ASK { GRAPH <http://example.org/g> { ?s ?p ?o } }"})
        assert asked.json()["boolean"] is True  # the server kept its store and its write
        beside = run_cli("query", "--store", str(store), "--format", "json",
                         "ASK { GRAPH <http://example.org/g> { ?s ?p ?o } }")
        assert beside.returncode == 0 and '"boolean":true' in beside.stdout  # read-only, beside the writer
        blocked = run_cli("export", "--store", str(store), "-o", str(tmp_path / "dump.trig"))
        assert blocked.returncode == 1 and "open for writing" in blocked.stderr
    finally:
        server.stop()
    assert run_cli("build", "--store", str(store), "--force").returncode == 0  # once it has stopped


def test_a_server_without_an_update_token_leaves_the_store_to_the_other_commands(tmp_path):
    """The README's default server is read-only; it must not hold the store's writer lock,
    or the chart, an export and a rebuild are refused while it runs."""
    import requests
    from test_scale_out import Instance

    store = _build_here(tmp_path)
    server = Instance(store, tmp_path, SSIKG_UPDATE_TOKEN="")
    try:
        chart = run_cli("chart", "--store", str(store), "--format", "dot")
        assert chart.returncode == 0 and "digraph" in chart.stdout, chart.stderr
        exported = run_cli("export", "--store", str(store), "-o", str(tmp_path / "dump.trig"))
        assert exported.returncode == 0, exported.stderr
        rebuilt = run_cli("build", "--store", str(store), "--force")
        assert rebuilt.returncode == 0 and "kept the previous build" in rebuilt.stderr, rebuilt.stderr
        r = requests.get(server.url + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60,
                         headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.json()["boolean"] is True
    finally:
        server.stop()


def test_a_build_under_read_only_servers_keeps_the_build_they_serve(tmp_path):
    import requests
    from test_scale_out import Instance

    store = _build_here(tmp_path)
    served = store.resolve()
    server = Instance(store, tmp_path, SSIKG_READ_ONLY="1")
    try:
        rebuilt = run_cli("build", "--store", str(store), "--force")
        assert rebuilt.returncode == 0 and "kept the previous build" in rebuilt.stderr
        assert served.is_dir() and store.resolve() != served
        for _ in range(3):  # its query workers go on reading the build it opened
            r = requests.get(server.url + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60,
                             headers={"Accept": "application/json"})
            assert r.status_code == 200 and r.json()["boolean"] is True
    finally:
        server.stop()
    assert run_cli("build", "--store", str(store), "--force").returncode == 0
    assert not served.exists()  # removed once nobody read it any more


def test_a_build_removes_builds_left_behind_but_not_other_stores(tmp_path):
    store = _build_here(tmp_path)
    other = store.with_name("other")
    assert run_cli("build", "--store", str(other)).returncode == 0
    leftover = store.parent / BUILDS_DIR / "20260101T000000-deadbeef"  # a killed build's folder
    (leftover / "db").mkdir(parents=True)
    assert run_cli("build", "--store", str(store), "--force").returncode == 0
    assert not leftover.exists()
    assert other.resolve().is_dir() and (other.resolve() / "db").is_dir()


def test_cli_query_table_streams_past_the_rows_that_size_it():
    """Only the first rows size the columns; the rest stream through with the same widths,
    so a million-row answer is never held whole, and the count still covers every row."""
    from ssikg.cli import table_lines

    store = ox.Store()
    for i in range(5):
        store.add(ox.Quad(ox.NamedNode(f"https://w3id.org/ssikg/id/n{i}"),
                          ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel"),
                          ox.Literal("x" * (i * 10), language="fr")))
    lines = list(table_lines(store.query("SELECT ?s ?l WHERE { ?s ?p ?l } ORDER BY ?s"), sizing_rows=2))
    header, rule, *rows, footer = lines
    assert footer == "(5 rows)" and len(rows) == 5
    assert [row.split()[0] for row in rows] == [f"id:n{i}" for i in range(5)]
    assert rule.split() == ["-" * len("id:n0"), "-" * len("x" * 10 + "@fr")]  # sized by two rows
    assert rows[4].endswith("x" * 40 + "@fr")  # a wider later cell is printed whole


def test_cli_query_streams_every_format_whole(built_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built_store.resolve(), store)
    everything = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
    counted = run_cli("query", "--store", str(store), "--format", "json",
                      "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    total = int(json.loads(counted.stdout)["results"]["bindings"][0]["n"]["value"])
    as_csv = run_cli("query", "--store", str(store), "--format", "csv", everything)
    assert as_csv.returncode == 0 and as_csv.stdout.endswith("\n")
    assert len(list(csv.reader(io.StringIO(as_csv.stdout)))) == total + 1
    as_xml = run_cli("query", "--store", str(store), "--format", "xml", everything)
    assert ElementTree.fromstring(as_xml.stdout).tag.endswith("sparql")
    table = run_cli("query", "--store", str(store), everything)
    assert table.stdout.rstrip("\n").endswith(f"({total} rows)")
    as_nt = run_cli("query", "--store", str(store), "--format", "ntriples",
                    "CONSTRUCT WHERE { ?s ?p ?o }")
    assert as_nt.returncode == 0 and as_nt.stdout.endswith(" .\n")


def test_a_store_rebuilt_at_start_is_not_reported_stale(store_copy, capsys):
    """serve rebuilt a stale store and then warned that ontology/ or data/ had changed "(auto_build
    is off)": the status seen before building was read as the store served.  It says instead that
    the changed sources were not validated (a maintainer restarting on edited data skipped it)."""
    from ssikg.cli import _prepare_store
    from ssikg.store import StoreMeta, store_status

    meta = StoreMeta.read(store_copy)
    meta.inputs_hash = "0" * len(meta.inputs_hash)  # as if data/ had changed since the build
    meta.write(store_copy)
    assert store_status(store_copy, PROJECT_ROOT) == "stale"
    assert _prepare_store(store_copy, PROJECT_ROOT, False, False, auto_build=True) == "current"
    assert store_status(store_copy, PROJECT_ROOT) == "current"
    said = capsys.readouterr().err
    assert "rebuilt from them without validating them: run 'ssikg validate'" in said and "auto_build" not in said

"""The benchmark suite cannot rot: the generator makes what it promises, and a 1e3-triple
run of the runner (real ssikg and oxigraph servers on loopback) completes with
well-formed numbers.  Nothing here judges speed; bench/RESULTS.md does."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pyoxigraph as ox
from conftest import require_tool

from bench.generate import generate
from bench.run import load_queries
from ssikg.namespaces import GRAPHS
from ssikg.settings import PROJECT_ROOT


def run_runner(command: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a benchmark runner in its own process group: if it outlives ``timeout``, it gets
    SIGTERM (it stops its servers on the way out), then the whole group is killed — the
    servers it started never outlive the test."""
    proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            out, err = "", ""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{command[2]} did not finish in {timeout} s:\n{out[-3000:]}{err[-3000:]}") from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generator_is_deterministic_exact_and_in_the_project_graphs(tmp_path):
    first = generate(tmp_path / "a", 5000, seed=3)
    again = generate(tmp_path / "b", 5000, seed=3)
    other = generate(tmp_path / "c", 5000, seed=4)
    assert _sha(first) == _sha(again)
    assert _sha(first) != _sha(other)

    store = ox.Store()
    store.bulk_load(path=str(first), format=ox.RdfFormat.N_QUADS)
    assert len(store) == 5000  # exactly the size asked, and no duplicate quads
    graphs = {g.value for g in store.named_graphs()}
    assert graphs <= set(GRAPHS.values())
    assert {GRAPHS["stated"], GRAPHS["provenance"], GRAPHS["vocabularies"]} <= graphs
    assert not list(store.quads_for_pattern(None, None, None, ox.DefaultGraph()))

    # the shape the query mix relies on: posts in units, reporting chains up to the DCIS director
    ask = store.query("""
        PREFIX org: <http://www.w3.org/ns/org#>
        ASK { ?post org:postIn <https://w3id.org/ssikg/id/ssi-afg> ;
                    org:reportsTo+ <https://w3id.org/ssikg/id/post-directeur-dcis> }""",
                      use_default_graph_as_union=True)
    assert bool(ask)
    reified = store.query("""
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT (COUNT(*) AS ?n) WHERE { GRAPH <https://w3id.org/ssikg/graph/provenance> {
            ?st a rdf:Statement ; rdf:subject ?s ; prov:wasDerivedFrom ?fact } }""")
    assert int(next(iter(reified))["n"].value) > 100


def test_query_mix_has_every_kind_and_the_stored_queries():
    queries = load_queries(["*"], "all")
    kinds = {q.kind for q in queries}
    assert {"small", "heavy", "graph", "large"} <= kinds
    stored = sorted(p.stem for p in (PROJECT_ROOT / "queries").glob("*.rq"))
    assert [q.name.split(":", 1)[1] for q in queries if q.kind == "stored"] == stored
    for query in queries:  # every query parses (pyoxigraph's parser, as the servers use)
        ox.Store().query(query.text)


def test_smoke_run_completes_with_well_formed_numbers(tmp_path):
    require_tool(shutil.which("oxigraph") is not None, "the oxigraph CLI (pip install oxigraph)")
    out = tmp_path / "out"
    # one stored query from queries/ (whichever comes first: the catalogue grows and is renamed)
    stored = min(p.stem for p in (PROJECT_ROOT / "queries").glob("*.rq"))
    command = [sys.executable, "-m", "bench.run", "--sizes", "1e3", "--systems", "ssikg,oxigraph",
               "--queries", "small-*,heavy-reporting-chain-depth,graph-describe-unit,large-*",
               "--stored", stored, "--throughput-stored", stored,
               "--reps", "3", "--large-reps", "1", "--duration", "0.5", "--rounds", "1",
               "--load-generator", "python", "--timeout", "30", "--out", str(out),
               "--variant", "ssikg-warm:result_cache_mb=64"]
    done = run_runner(command)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    (run_dir,) = list(out.glob("run-*"))
    results = json.loads((run_dir / "results.json").read_text())
    size = results["sizes"]["1e3"]
    assert size["triples"] == 1000
    for name in ("ssikg", "oxigraph"):
        build = size["systems"][name]["build"]
        assert build["seconds"] > 0 and build["peak_rss_mb"] > 0
        assert size["systems"][name]["startup"]["seconds"] > 0

    queries = size["queries"]
    assert {"small-ask-dcis", "small-unit-posts", "heavy-reporting-chain-depth", "graph-describe-unit",
            "large-dump-select", f"stored:{stored}"} <= set(queries)
    for qname, q in queries.items():
        assert q["errors"] == {}, (qname, q["errors"])
        assert q["mismatch"] == {}, (qname, q["rows"])  # same answers from every system
        for name in ("ssikg", "oxigraph", "floor-disk"):
            lat = q["latency"][name]
            assert 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"], (qname, name, lat)
    # ssikg runs cold (its result cache off); the warm variant answers repeats from its cache
    assert "result_cache_mb=64" in size["systems"]["ssikg-warm"]["how"]
    assert queries["small-ask-dcis"]["latency"]["ssikg-warm"]["p50_ms"] > 0
    assert queries["large-dump-select"]["rows"]["ssikg"] == 1000
    for name in ("ssikg", "oxigraph"):
        big = queries["large-dump-select"]["large"][name]
        assert 0 < big["ttfb_ms"] / 1e3 <= big["total_s"]
        assert big["mb"] > 0.1 and isinstance(big["rss_growth_mb"], float)
        tp = queries["small-ask-dcis"]["throughput"][name]
        # refusals (503 beyond max_concurrent_queries) are counted, not hidden
        assert tp["rps"] > 0 and tp["errors"] >= 0 and tp["tool"] == "python-threads"

    report = (run_dir / "report.md").read_text()
    for heading in ("### Build / load", "### Sequential latency", "### Throughput", "### Large result"):
        assert heading in report
    assert "| small-ask-dcis | small | True |" in report


def test_ceiling_run_completes_with_well_formed_numbers(tmp_path):
    """``python -m bench.ceiling``: the bare WSGI app, the one-route Flask app, ssikg cold
    and warm, and oxigraph serve all answer the ASK; figures well-formed (speed is not judged here)."""
    require_tool(shutil.which("oxigraph") is not None, "the oxigraph CLI (pip install oxigraph)")
    out = tmp_path / "ceiling.json"
    command = [sys.executable, "-m", "bench.ceiling", "--processes", "1", "--duration", "0.5", "--rounds", "1",
               "--reps", "20", "--load-generator", "python", "--json", str(out)]
    done = run_runner(command)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())["processes"]["1"]
    assert set(figures) == {"wsgi-minimal", "flask-minimal", "ssikg", "ssikg-warm", "oxigraph"}
    for name, measured in figures.items():
        assert measured["p50_ms"] > 0 and measured["rps"] > 0, (name, measured)
    assert "| 1 | flask-minimal |" in done.stdout

"""The ceiling of the serving stack: how fast can *any* endpoint served the way ssikg is
served (gunicorn gthread + Flask, ssikg's own gunicorn options) answer a small query?

    python -m bench.ceiling --processes 1,2 --duration 3 --rounds 2

Five systems answer the same small ASK, interleaved, with 1 and N gunicorn processes:

* ``wsgi-minimal``: a bare WSGI callable returning the answer's bytes (no Flask, no
  query): the cost of gunicorn alone;
* ``flask-minimal``: one Flask route returning the same bytes: gunicorn + Flask;
* ``ssikg``: the real server (``ssikg serve --production [--processes N]``), cold
  (``result_cache_mb=0``: the ASK is evaluated by a query worker every time);
* ``ssikg-warm``: the same with its result cache (the ASK answered from it);
* ``oxigraph``: ``oxigraph serve-read-only`` on the same data.

For each: sequential p50 (one keep-alive connection) and answers/s with 8 concurrent
keep-alive clients (wrk when installed).  The two minimal systems do no SPARQL work at
all, so their figures bound what an endpoint on this stack can reach: where they stay
below ``oxigraph serve``, no change inside ssikg can close the gap.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import systems
from .run import Client, Query, throughput_python, throughput_wrk
from .systems import JSON_RESULTS, Server

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ASK = (BENCH / "queries" / "small-ask-dcis.rq").read_text()
ANSWER = b'{"head":{},"boolean":true}'
MINIMAL = ("wsgi-minimal", "flask-minimal")


# ---------------------------------------------------------------------------
# The minimal applications (served in a child process: python -m bench.ceiling serve …)


def wsgi_minimal(environ, start_response):
    start_response("200 OK", [("Content-Type", JSON_RESULTS), ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]


def flask_minimal():
    from flask import Flask, Response

    app = Flask(__name__)

    @app.route("/sparql", methods=["GET", "POST"])
    def sparql():
        return Response(ANSWER, content_type=JSON_RESULTS)

    return app


def serve_minimal(kind: str, port: int, processes: int) -> None:
    from gunicorn.app.base import BaseApplication

    from ssikg.production import gunicorn_options

    class Minimal(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options("127.0.0.1", port, threads=8, processes=processes).items():
                self.cfg.set(key, value)

        def load(self):
            return wsgi_minimal if kind == "wsgi-minimal" else flask_minimal()

    Minimal().run()


# ---------------------------------------------------------------------------
# Measuring


def start_minimal(kind: str, processes: int, log: Path) -> Server:
    port = systems.free_port()
    proc = systems._spawn([sys.executable, "-m", "bench.ceiling", "serve", kind, str(port), str(processes)],
                          env=None, log=log)
    server = Server(f"{kind}-p{processes}", "none", f"http://127.0.0.1:{port}/sparql", proc)
    return systems._started(server, log, 60)


def sequential_p50(url: str, query: Query, count: int) -> float:
    client = Client(url, 30)
    try:
        for _ in range(20):
            client.get(query)
        samples = []
        for _ in range(count):
            status, _, elapsed = client.get(query)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}")
            samples.append(elapsed * 1e3)
    finally:
        client.close()
    return statistics.median(samples)


def measure(args) -> dict:
    query = Query("small-ask-dcis", "small", "ASK", ASK)
    load = throughput_wrk if (args.load_generator == "wrk" or
                              (args.load_generator == "auto" and shutil.which("wrk"))) else throughput_python
    work = Path(tempfile.mkdtemp(prefix="ssikg-ceiling-"))
    results: dict = {"processes": {}, "tool": load.__name__}
    try:
        data = work / "data"
        (data / "data").mkdir(parents=True)
        nquads = _project_nquads(data / "data" / "bench.nq")
        systems.build_ssikg(data, work / "ssikg-store", work / "ssikg-build.log")
        systems.build_oxigraph(nquads, work / "oxigraph-store", work / "oxigraph-build.log")
        for processes in args.processes:
            servers = {kind: start_minimal(kind, processes, work / f"{kind}-{processes}.log") for kind in MINIMAL}
            # Both open the one built store read-only (only one process may open it to write).
            servers["ssikg"] = systems.start_ssikg(
                f"ssikg-p{processes}", data, work / "ssikg-store", work / f"ssikg-{processes}.log",
                processes=processes, result_cache_mb="0", read_only="1")
            servers["ssikg-warm"] = systems.start_ssikg(
                f"ssikg-warm-p{processes}", data, work / "ssikg-store", work / f"ssikg-warm-{processes}.log",
                processes=processes, result_cache_mb="64", read_only="1")
            servers["oxigraph"] = systems.start_oxigraph(work / "oxigraph-store", work / f"oxigraph-{processes}.log")
            try:
                for server in servers.values():
                    systems.wait_idle(server)
                results["processes"][processes] = _measure_servers(servers, query, load, args)
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _measure_servers(servers: dict[str, Server], query: Query, load, args) -> dict:
    p50 = {name: [] for name in servers}
    rps = {name: [] for name in servers}
    names = list(servers)
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            p50[name].append(sequential_p50(servers[name].url, query, args.reps))
        for name in order:
            rps[name].append(load(servers[name].url, query, args.concurrency, args.duration, 30)["rps"])
    return {name: {"p50_ms": statistics.median(p50[name]), "rps": statistics.median(rps[name])}
            for name in servers}


def _project_nquads(target: Path) -> Path:
    """The project's own data as N-Quads (the ASK asks about the real DCIS), through the
    CLI: ``ssikg build`` then ``ssikg export --format nquads``."""
    from ssikg.settings import PROJECT_ROOT

    store = target.parent / "project-store"
    for args in (["build", "--store", str(store)],
                 ["export", "--store", str(store), "--format", "nquads", "-o", str(target)]):
        subprocess.run([sys.executable, "-m", "ssikg", *args], cwd=PROJECT_ROOT, check=True,
                       capture_output=True, env=systems.ssikg_env(PROJECT_ROOT))
    return target


def report(results: dict) -> str:
    lines = [f"Load generator: {results['tool']}; 8 concurrent keep-alive clients; the small ASK.", "",
             "| processes | system | p50 ms | answers/s | × oxigraph (answers/s) |",
             "|---:|---|---:|---:|---:|"]
    for processes, by_system in results["processes"].items():
        reference = by_system["oxigraph"]["rps"]
        for name, figures in by_system.items():
            lines.append(f"| {processes} | {name} | {figures['p50_ms']:.3f} | {figures['rps']:,.0f} | "
                         f"{figures['rps'] / reference:.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve_minimal(argv[1], int(argv[2]), int(argv[3]))
        return {}
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=lambda s: [int(p) for p in s.split(",")], default=[1, 2])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reps", type=int, default=300, help="sequential requests per system and round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    systems.stop_on_sigterm()
    results = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))
    return results


if __name__ == "__main__":
    main()

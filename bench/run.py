"""The benchmark runner: same data, same queries, same machine, systems interleaved.

    python -m bench.run --sizes 1e5,1e6

For each size it generates the synthetic graph (:mod:`bench.generate`), builds ssikg
(``ssikg build``: load + optimize, on disk) and ``oxigraph load`` + ``optimize``, starts
``ssikg serve --production`` (on disk, and in memory with SSIKG_IN_MEMORY=1),
``oxigraph serve-read-only --union-default-graph`` (on disk) and ``oxigraph serve``
(in memory, loaded over HTTP), and ``rdflib-endpoint serve`` (rdflib in memory), then:

1. asks every query once on every system and compares row counts with oxigraph;
2. sequential latency: repetitions interleaved A B C …, the order rotated each round,
   next to the in-process floor (pyoxigraph on the same data, no HTTP);
3. the large result (kind ``large``): time to first body byte, total time, bytes and
   the server's peak RSS growth (its process tree sampled every 5 ms);
4. throughput with 8 concurrent keep-alive clients (``wrk`` when installed, else
   Python threads), rounds interleaved.

ssikg runs cold (``result_cache_mb=0``: every request is evaluated) unless told
otherwise; warm runs are a variant, reported on their own rows:
``--variant ssikg-warm:result_cache_mb=64``.

Results go to ``<out>/run-<timestamp>/results.json`` and ``report.md`` (ratio tables
against ``oxigraph serve`` on the same kind of storage).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import http.client
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import psutil
import pyoxigraph as ox

from . import systems
from .generate import DEFAULT_SEED, generate, parse_size
from .systems import JSON_RESULTS, N_TRIPLES, RssSampler, Server

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ALL_SYSTEMS = ("ssikg", "ssikg-mem", "oxigraph", "oxigraph-mem", "rdflib-endpoint")
REFERENCE = {"disk": "oxigraph", "memory": "oxigraph-mem"}
FLOOR = {"disk": "floor-disk", "memory": "floor-mem"}
DEFAULT_STORED = ("reporting-chain-*", "cq49-*", "cq26-*")  # globs: stored queries also run under load


# ---------------------------------------------------------------------------
# Queries


@dataclass
class Query:
    name: str
    kind: str  # small | heavy | graph | large | stored
    title: str
    text: str

    @property
    def accept(self) -> str:
        return N_TRIPLES if self.returns_graph else JSON_RESULTS

    @property
    def returns_graph(self) -> bool:
        head = re.sub(r"(?m)^\s*(#.*|PREFIX\s+\S*\s*<[^>]*>|BASE\s*<[^>]*>)\s*$", "", self.text)
        return re.match(r"\s*(CONSTRUCT|DESCRIBE)\b", head, re.IGNORECASE) is not None


def _header(text: str, key: str) -> str | None:
    match = re.search(rf"(?m)^#\+?\s*{key}:\s*(.+)$", text)
    return match.group(1).strip() if match else None


def load_queries(patterns: list[str], stored: str) -> list[Query]:
    queries = []
    for path in sorted((BENCH / "queries").glob("*.rq")):
        if any(fnmatch.fnmatch(path.stem, p) for p in patterns):
            text = path.read_text(encoding="utf-8")
            queries.append(Query(path.stem, _header(text, "kind") or "heavy", _header(text, "title") or "", text))
    stored_dir = ROOT / "queries"
    names = [] if stored == "none" else None if stored == "all" else stored.split(",")
    for path in sorted(stored_dir.glob("*.rq")) if stored_dir.is_dir() else []:
        if names is None or any(fnmatch.fnmatch(path.stem, n) for n in names):
            text = path.read_text(encoding="utf-8")
            queries.append(Query(f"stored:{path.stem}", "stored", _header(text, "title") or "", text))
    return queries


# ---------------------------------------------------------------------------
# Clients


class Client:
    """One keep-alive HTTP connection to a system, for sequential measurements."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.content_type = ""

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self, query: Query, *, keep_body=True) -> tuple[int, bytes | int, float]:
        """Status, body (or its size), seconds from sending to the last byte."""
        target = f"{self.path}?query={quote(query.text)}"
        for attempt in (1, 2):
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.request("GET", target, headers={"Accept": query.accept})
                resp = conn.getresponse()
                self.content_type = resp.getheader("Content-Type", "")
                if keep_body:
                    body = resp.read()
                else:
                    body = 0
                    while chunk := resp.read(1 << 20):
                        body += len(chunk)
                elapsed = time.perf_counter() - started
                if resp.will_close:
                    self.close()
                return resp.status, body, elapsed
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a keep-alive connection closed by the server: retry once on a new one
                if attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def stream(self, query: Query, pid: int) -> dict:
        """The large-result measurement: first body byte, total, bytes, server RSS growth."""
        self.close()
        conn = self._connection()
        sampler = RssSampler(pid)
        with sampler:
            started = time.perf_counter()
            conn.request("GET", f"{self.path}?query={quote(query.text)}", headers={"Accept": query.accept})
            resp = conn.getresponse()
            headers_at = time.perf_counter() - started
            first = resp.read1(65536) if resp.status == 200 else resp.read()
            first_at = time.perf_counter() - started
            size = len(first)
            while chunk := resp.read1(1 << 20):
                size += len(chunk)
            total = time.perf_counter() - started
        self.close()
        return {"status": resp.status, "headers_s": headers_at, "ttfb_s": first_at, "total_s": total,
                "bytes": size, "rss_growth_mb": (sampler.peak - sampler.baseline) / 2**20}


class InProcess:
    """The floor: pyoxigraph in the runner's process, query + serialisation, no HTTP."""

    def __init__(self, name: str, store: ox.Store):
        self.name = name
        self.store = store

    def run(self, query: Query) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        result = self.store.query(query.text, use_default_graph_as_union=True)
        if isinstance(result, ox.QueryTriples):
            body = ox.serialize(result, format=ox.RdfFormat.N_TRIPLES)
        elif isinstance(result, ox.QueryBoolean):
            body = result.serialize(format=ox.QueryResultsFormat.JSON)
        else:
            sink = io.BytesIO()
            result.serialize(sink, ox.QueryResultsFormat.JSON)
            body = sink.getvalue()
        return 200, body, time.perf_counter() - started


def count_rows(query: Query, body: bytes, content_type: str = N_TRIPLES) -> int | bool | None:
    """Solutions, triples or the boolean of a response (N-Triples counted by lines; another
    RDF syntax, as some endpoints answer whatever was asked, parsed with rdflib)."""
    try:
        if query.returns_graph and "n-triples" in content_type:
            return sum(1 for line in body.splitlines() if line.strip() and not line.startswith(b"#"))
        if query.returns_graph:
            import rdflib

            syntax = "xml" if "xml" in content_type else "turtle"
            return len(rdflib.Graph().parse(data=body, format=syntax))
        # pyoxigraph's streaming parser: a 300 MB result is counted without building it in Python
        parsed = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        if isinstance(parsed, ox.QueryBoolean):
            return bool(parsed)
        return sum(1 for _ in parsed)
    except (ValueError, SyntaxError, OSError, TypeError):
        return None


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pick(q):
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50_ms": pick(0.5) * 1e3, "p90_ms": pick(0.9) * 1e3,
            "p99_ms": pick(0.99) * 1e3, "mean_ms": statistics.fmean(ordered) * 1e3,
            "min_ms": ordered[0] * 1e3}


# ---------------------------------------------------------------------------
# Throughput


def throughput_wrk(url: str, query: Query, concurrency: int, duration: float, timeout: float) -> dict:
    target = f"{url}?query={quote(query.text)}"
    args = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{max(1, round(duration))}s",
            "--timeout", f"{int(timeout)}s", "--latency", "-H", f"Accept: {query.accept}", target]
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + timeout + 30).stdout
    done_match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    done = int(done_match.group(1))
    seconds = _wrk_ms(done_match.group(2) + done_match.group(3)) / 1e3
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    lat = {m.group(1): _wrk_ms(m.group(2)) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    # wrk's own Requests/sec counts refusals (503) too: only successful answers count here
    ok = done - (int(non2xx.group(1)) if non2xx else 0)
    return {"rps": ok / seconds, "requests": ok, "errors": errors, "tool": "wrk",
            "p50_ms": lat.get("50"), "p99_ms": lat.get("99")}


def _wrk_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def throughput_python(url: str, query: Query, concurrency: int, duration: float, timeout: float) -> dict:
    counts = [0] * concurrency
    errors = [0] * concurrency
    stop_at = time.perf_counter() + duration

    def worker(i):
        client = Client(url, timeout)
        while time.perf_counter() < stop_at:
            try:
                status, _, _ = client.get(query, keep_body=False)
            except OSError:
                errors[i] += 1
                continue
            if status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"rps": sum(counts) / elapsed, "requests": sum(counts), "errors": sum(errors), "tool": "python-threads"}


# ---------------------------------------------------------------------------
# One size


class SizeRun:
    def __init__(self, args, size: int, run_dir: Path):
        self.args = args
        self.size = size
        exponent = len(str(size)) - 1
        self.label = f"1e{exponent}" if size == 10**exponent and size >= 1000 else str(size)
        self.dir = run_dir / self.label
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.servers: dict[str, Server] = {}
        self.floors: dict[str, InProcess] = {}
        # other work on the machine shows in every figure: record the load around the run
        self.result: dict = {"triples": size, "systems": {}, "queries": {}, "notes": [],
                             "loadavg_start": os.getloadavg()}

    def say(self, message: str):
        print(f"[{time.strftime('%H:%M:%S')}] {self.label}: {message}", flush=True)

    # -- setup -----------------------------------------------------------
    def prepare(self, wanted: list[str]):
        args = self.args
        data_root = Path(args.out) / "data" / f"{self.label}-s{args.seed}"
        self.say("generating data")
        started = time.perf_counter()
        nquads = generate(data_root, self.size, args.seed)
        self.result["data"] = {"file": str(nquads), "bytes": nquads.stat().st_size,
                               "generate_seconds": time.perf_counter() - started}
        self.nquads = nquads
        stores = Path(args.out) / "stores" / self.label
        info = self.result["systems"]

        if {"ssikg", "ssikg-mem"} & set(wanted):
            self.say("ssikg build")
            build = systems.build_ssikg(data_root, stores / "ssikg", self.logs / "ssikg-build.log")
            info["ssikg"] = {"storage": "disk", "build": build, "how": "ssikg build (bulk_load + optimize)"}
        if "oxigraph" in wanted or "oxigraph-mem" in wanted or not args.no_floor:
            self.say("oxigraph load + optimize")
            build = systems.build_oxigraph(nquads, stores / "oxigraph", self.logs / "oxigraph-build.log")
            info["oxigraph"] = {"storage": "disk", "build": build, "how": "oxigraph load + oxigraph optimize"}

        starters = {
            "ssikg": lambda: systems.start_ssikg("ssikg", data_root, stores / "ssikg", self.logs / "ssikg.log",
                                                 **self.extra_settings()),
            "ssikg-mem": lambda: systems.start_ssikg(
                "ssikg-mem", data_root, systems.copy_store(stores / "ssikg", stores / "ssikg-mem"),
                self.logs / "ssikg-mem.log", storage="memory", in_memory="1", **self.extra_settings()),
            "oxigraph": lambda: systems.start_oxigraph(stores / "oxigraph", self.logs / "oxigraph.log"),
            "oxigraph-mem": lambda: systems.start_oxigraph_memory(nquads, self.logs / "oxigraph-mem.log"),
            "rdflib-endpoint": lambda: systems.start_rdflib(nquads, self.logs / "rdflib-endpoint.log"),
        }
        for variant, settings in self.args.variant or []:
            def start_variant(variant=variant, settings=settings):
                return systems.start_ssikg(
                    variant, data_root, systems.copy_store(stores / "ssikg", stores / variant),
                    self.logs / f"{variant}.log", **{**self.extra_settings(), **settings})
            starters[variant] = start_variant
            info[variant] = {"how": "ssikg serve --production " + ", ".join(
                f"--processes {v}" if k == "processes" else f"{k}={v}" for k, v in settings.items()),
                "storage": "disk"}
        self.starters = starters
        for name in wanted:
            self.say(f"starting {name}")
            try:
                server = starters[name]()
            except Exception as exc:  # a system that cannot start is reported, the others still run
                self.say(f"{name} failed to start: {exc}")
                info.setdefault(name, {})["error"] = str(exc)[-1500:]
                continue
            self.servers[name] = server
            entry = info.setdefault(name, {})
            entry.update({"storage": server.storage, "startup": server.startup, "url": server.url,
                          "pid": server.pid})
            if name == "rdflib-endpoint":
                entry["how"] = "rdflib-endpoint serve FILE (rdflib Dataset in memory, parsed at start-up)"
                entry["build"] = {"seconds": server.startup["seconds"], "peak_rss_mb": server.startup["peak_rss_mb"]}
            if name == "oxigraph-mem":
                entry["how"] = "oxigraph serve (in memory) + POST /store"
                entry["build"] = {"seconds": server.startup["seconds"], "peak_rss_mb": server.startup["peak_rss_mb"]}
            if name == "ssikg-mem":
                entry["how"] = "ssikg serve --production, SSIKG_IN_MEMORY=1 (copy of the built store)"
        for name, server in self.servers.items():
            # ssikg starts its whole worker pool in the background (in memory: one copy of the
            # store each): measurements start once every system is quiet.
            info[name]["settled_s"] = systems.wait_idle(server, limit=900)
        if not args.no_floor:
            self.say("opening the in-process floor")
            self.floors["floor-disk"] = InProcess("floor-disk", ox.Store.read_only(str(stores / "oxigraph")))
            if any(s.storage == "memory" for s in self.servers.values()):
                mem = ox.Store()
                mem.bulk_load(path=str(nquads), format=ox.RdfFormat.N_QUADS)
                self.floors["floor-mem"] = InProcess("floor-mem", mem)
        for name, server in self.servers.items():
            info[name]["ready_rss_mb"] = server.rss() / 2**20

    def extra_settings(self) -> dict:
        return ssikg_settings(self.args)

    def restart(self, name: str):
        """A server still busy with a query its client gave up on is restarted, so that it
        does not steal CPU from the next measurements."""
        self.say(f"restarting {name} (busy with an abandoned request)")
        self.servers[name].stop()
        try:
            self.servers[name] = self.starters[name]()
        except Exception as exc:
            self.say(f"{name} failed to restart: {exc}")
            del self.servers[name]

    def stop(self):
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        self.floors.clear()

    # -- measurements ----------------------------------------------------
    def measure(self, queries: list[Query], save=lambda: None):
        """Every measurement; ``save`` is called after each query so an interrupted run keeps
        what it measured."""
        args = self.args
        for query in queries:
            self.say(f"query {query.name}")
            entry = self.result["queries"].setdefault(query.name, {
                "kind": query.kind, "title": query.title, "rows": {}, "errors": {}, "latency": {},
                "throughput": {}, "large": {}})
            active = self.warm_up(query, entry)
            if query.kind == "large":
                self.measure_large(query, entry, active)
            else:
                self.measure_sequential(query, entry, active)
            self.check_rows(entry)
            save()
        if args.duration > 0:
            for query in queries:
                stored_name = query.name.split(":", 1)[-1]
                if query.kind not in args.throughput_kinds or (query.kind == "stored" and not any(
                        fnmatch.fnmatch(stored_name, p) for p in args.throughput_stored or DEFAULT_STORED)):
                    continue
                self.say(f"throughput {query.name}")
                self.measure_throughput(query, self.result["queries"][query.name])
                save()

    def _targets(self):
        targets = {name: ("http", server) for name, server in self.servers.items()}
        targets.update({name: ("floor", floor) for name, floor in self.floors.items()})
        return targets

    def warm_up(self, query: Query, entry: dict) -> dict[str, float]:
        """One request per system: row count, errors; returns the systems to measure and their
        first time (so slow systems get fewer repetitions)."""
        active = {}
        for name, (kind, target) in self._targets().items():
            try:
                if kind == "http":
                    client = Client(target.url, self.args.timeout)
                    status, body, elapsed = client.get(query)
                    content_type = client.content_type
                    client.close()
                else:
                    status, body, elapsed = target.run(query)
                    content_type = N_TRIPLES if query.returns_graph else JSON_RESULTS
            except TimeoutError:
                entry["errors"][name] = f"timeout after {self.args.timeout:.0f} s"
                if kind == "http":
                    self.restart(name)
                continue
            except (OSError, SyntaxError, ValueError, http.client.HTTPException) as exc:
                # HTTPException: e.g. a streamed answer cut short by the server's own deadline
                entry["errors"][name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            if status != 200:
                entry["errors"][name] = f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}"
                continue
            entry["rows"][name] = count_rows(query, body, content_type)
            if content_type.split(";")[0].strip() != query.accept:
                entry.setdefault("notes", {})[name] = f"asked {query.accept}, answered {content_type}"
            active[name] = elapsed
        return active

    def check_rows(self, entry: dict):
        rows = entry["rows"]
        reference = rows.get("oxigraph", rows.get("floor-disk"))
        entry["mismatch"] = {name: n for name, n in rows.items() if reference is not None and n != reference}

    def measure_sequential(self, query: Query, entry: dict, active: dict[str, float]):
        args = self.args
        targets = self._targets()
        wanted = {name: (args.reps if first < args.slow else min(args.reps, args.slow_reps))
                  for name, first in active.items()}
        # a slow system's first (warm-up) request counts as a sample: seconds matter more than
        # a warm cache there, and rdflib-endpoint takes minutes per heavy query
        samples: dict[str, list[float]] = {name: [first] if first >= args.slow else []
                                           for name, first in active.items()}
        clients = {name: Client(targets[name][1].url, args.timeout)
                   for name in wanted if targets[name][0] == "http"}
        order = list(wanted)
        for rnd in range(max(wanted.values(), default=0)):
            rotated = order[rnd % len(order):] + order[:rnd % len(order)]
            for name in rotated:
                if (len(samples[name]) >= wanted[name] or name in entry["errors"]
                        or (samples[name] and sum(samples[name]) > args.budget)):
                    continue
                kind, target = targets[name]
                try:
                    status, _, elapsed = (clients[name].get(query, keep_body=False) if kind == "http"
                                          else target.run(query))
                except (TimeoutError, OSError, http.client.HTTPException) as exc:
                    entry["errors"][name] = f"{type(exc).__name__} during repetitions: {exc}"[:300]
                    if kind == "http" and isinstance(exc, TimeoutError):  # still busy: restart it
                        clients[name].close()
                        self.restart(name)
                        targets = self._targets()
                    continue
                if status != 200:
                    entry["errors"][name] = f"HTTP {status} during repetitions"
                    continue
                samples[name].append(elapsed)
        for client in clients.values():
            client.close()
        for name, values in samples.items():
            if values:
                entry["latency"][name] = percentiles(values)

    def measure_large(self, query: Query, entry: dict, active: dict[str, float]):
        targets = self._targets()
        runs: dict[str, list[dict]] = {name: [] for name in active}
        for rnd in range(self.args.large_reps):
            names = list(active)
            names = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in names:
                kind, target = targets[name]
                if name in entry["errors"]:
                    continue
                if kind == "floor":
                    _, _, elapsed = target.run(query)
                    runs[name].append({"total_s": elapsed})
                    continue
                try:
                    runs[name].append(Client(target.url, self.args.timeout).stream(query, target.pid))
                except (TimeoutError, OSError, http.client.HTTPException) as exc:
                    entry["errors"][name] = f"{type(exc).__name__}: {exc}"[:300]
                    self.restart(name)
        for name, values in runs.items():
            if not values:
                continue
            entry["latency"][name] = percentiles([v["total_s"] for v in values])
            if "ttfb_s" in values[0]:
                entry["large"][name] = {
                    "ttfb_ms": statistics.median(v["ttfb_s"] for v in values) * 1e3,
                    "headers_ms": statistics.median(v["headers_s"] for v in values) * 1e3,
                    "total_s": statistics.median(v["total_s"] for v in values),
                    "mb": values[0]["bytes"] / 2**20,
                    "rss_growth_mb": max(v["rss_growth_mb"] for v in values),
                    "runs": values}

    def measure_throughput(self, query: Query, entry: dict):
        args = self.args
        tool = throughput_wrk if (args.load_generator == "wrk" or (
            args.load_generator == "auto" and shutil.which("wrk"))) else throughput_python
        eligible = [name for name, server in self.servers.items()
                    if name in entry["latency"] and name not in entry["errors"]
                    and entry["latency"][name]["p50_ms"] / 1e3 < args.duration / 4]
        for name in self.servers:
            if name not in eligible:
                entry["throughput"][name] = {"skipped": "error or too slow (p50 > duration/4)"}
        rounds: dict[str, list[dict]] = {name: [] for name in eligible}
        for rnd in range(args.rounds):
            names = eligible[rnd % max(1, len(eligible)):] + eligible[:rnd % max(1, len(eligible))]
            for name in names:
                server = self.servers[name]
                try:
                    rounds[name].append(tool(server.url, query, args.concurrency, args.duration, args.timeout))
                except (subprocess.TimeoutExpired, AttributeError, OSError) as exc:
                    rounds[name].append({"rps": 0.0, "errors": -1, "failure": str(exc)[:200]})
                # requests still queued when the load generator stops must not slow the next system
                systems.wait_idle(server)
        for name, values in rounds.items():
            if values:
                entry["throughput"][name] = {"rps": statistics.fmean(v["rps"] for v in values),
                                             "concurrency": args.concurrency,
                                             "errors": sum(v.get("errors", 0) for v in values),
                                             "tool": values[0].get("tool"), "rounds": values}


# ---------------------------------------------------------------------------
# Report


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "pyoxigraph": ox.__version__ if hasattr(ox, "__version__") else "?",
            "oxigraph_cli": _version(["oxigraph", "--version"]), "wrk": bool(shutil.which("wrk"))}


def _version(args) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def _fmt(value, digits=2):
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(value, reference, higher_is_better=True):
    if not value or not reference:
        return ""
    ratio = value / reference if higher_is_better else reference / value
    return f" ({ratio:.2f}×)"


def report(results: dict) -> str:
    lines = [f"# Benchmark run {results['started']}", "",
             f"Machine: {results['machine']['nproc']} cores, {results['machine']['cpu']}, "
             f"{results['machine']['ram_gib']} GiB RAM; Python {results['machine']['python']}; "
             f"{results['machine']['oxigraph_cli']}.", "", f"Command: `{results['command']}`", "",
             "ssikg servers run with " + ", ".join(f"{k}={v}" for k, v in results.get("ssikg_settings", {}).items())
             + " (result_cache_mb=0: cold, every request evaluated; variants override).", "",
             "Ratios (×) compare each system with `oxigraph serve` on the same kind of storage "
             "(disk: `oxigraph serve-read-only` on an optimized RocksDB store; memory: `oxigraph serve` "
             "in memory); above 1 is better than oxigraph for every ratio (speed = oxigraph time / "
             "system time, throughput = system / oxigraph).", ""]
    for label, size in results["sizes"].items():
        lines += report_size(label, size)
    return "\n".join(lines) + "\n"


def _ref(size: dict, name: str) -> str:
    storage = size["systems"].get(name, {}).get("storage", "disk")
    ref = REFERENCE.get(storage, "oxigraph")
    return ref if ref in size["systems"] and "error" not in size["systems"][ref] else "oxigraph"


def results_concurrency(queries) -> str:
    for q in queries:
        for value in q["throughput"].values():
            if "concurrency" in value:
                return str(value["concurrency"])
    return "?"


def report_size(label: str, size: dict) -> list[str]:
    names = [n for n in ALL_SYSTEMS if n in size["systems"]] + [
        n for n in size["systems"] if n not in ALL_SYSTEMS]
    lines = [f"## {label} triples ({size['triples']:,} quads, {size['data']['bytes'] / 2**20:,.0f} MiB N-Quads)", ""]
    if "loadavg_start" in size:
        lines += [f"Load average (1/5/15 min) at start {'/'.join(f'{v:.1f}' for v in size['loadavg_start'])}, "
                  f"at end {'/'.join(f'{v:.1f}' for v in size.get('loadavg_end', ()))}.", ""]
    lines += ["### Build / load", "", "| system | storage | how | seconds | triples/s | × oxigraph | peak RSS MiB |",
              "|---|---|---|---:|---:|---:|---:|"]
    ox_build = size["systems"].get("oxigraph", {}).get("build", {})
    for name in names:
        info = size["systems"][name]
        build = info.get("build")
        if "error" in info:
            lines.append(f"| {name} | | failed: {info['error'][:120]!r} | | | | |")
            continue
        if not build:
            startup = info.get("startup", {})
            lines.append(f"| {name} | {info['storage']} | {info.get('how', '')}: start-up "
                         f"| {_fmt(startup.get('seconds'))} | | | {_fmt(startup.get('peak_rss_mb'))} |")
            continue
        tps = size["triples"] / build["seconds"]
        ref = size["triples"] / ox_build["seconds"] if ox_build else None
        lines.append(f"| {name} | {info['storage']} | {info.get('how', '')} | {_fmt(build['seconds'])} | "
                     f"{tps:,.0f} | {_ratio(tps, ref).strip(' ()')} | {_fmt(build.get('peak_rss_mb'))} |")
        if "load_seconds" in build:
            tps = size["triples"] / build["load_seconds"]
            ref = size["triples"] / ox_build["load_seconds"] if ox_build.get("load_seconds") else None
            lines.append(f"| {name} (load only) | {info['storage']} | without optimize | "
                         f"{_fmt(build['load_seconds'])} | {tps:,.0f} | {_ratio(tps, ref).strip(' ()')} | |")
    lines.append("")
    queries = size["queries"]
    servers = [n for n in names if "error" not in size["systems"][n]]
    floors = sorted({f for q in queries.values() for f in q["latency"] if f.startswith("floor")})
    cols = servers + floors
    lines += ["### Sequential latency: p50 ms (× oxigraph on the same storage)", "",
              "| query | kind | rows | " + " | ".join(cols) + " |", "|---|---|---:|" + "---:|" * len(cols)]
    for qname, q in queries.items():
        cells = []
        for name in cols:
            lat = q["latency"].get(name)
            if name in q["errors"]:
                cells.append("error" if "timeout" not in q["errors"][name] else "timeout")
            elif lat is None:
                cells.append("–")
            else:
                ref = q["latency"].get(_ref(size, name)) if not name.startswith("floor") else None
                cells.append(_fmt(lat["p50_ms"]) + (_ratio(lat["p50_ms"], ref["p50_ms"], False) if ref else ""))
        rows = q["rows"].get("oxigraph", next(iter(q["rows"].values()), None))
        lines.append(f"| {qname} | {q['kind']} | {rows} | " + " | ".join(cells) + " |")
    lines += ["", "### Sequential latency: p90 / p99 ms", "", "| query | " + " | ".join(cols) + " |",
              "|---|" + "---:|" * len(cols)]
    for qname, q in queries.items():
        cells = [f"{_fmt(q['latency'][n]['p90_ms'])} / {_fmt(q['latency'][n]['p99_ms'])} (n={q['latency'][n]['n']})"
                 if n in q["latency"] else "–" for n in cols]
        lines.append(f"| {qname} | " + " | ".join(cells) + " |")
    lines += ["", "### HTTP overhead over the in-process floor: system p50 − floor p50, ms", "",
              "| query | " + " | ".join(servers) + " |", "|---|" + "---:|" * len(servers)]
    for qname, q in queries.items():
        if q["kind"] not in ("small", "graph"):
            continue
        cells = []
        for name in servers:
            floor = q["latency"].get(FLOOR.get(size["systems"][name]["storage"], "floor-disk"))
            lat = q["latency"].get(name)
            cells.append(f"{lat['p50_ms'] - floor['p50_ms']:+.2f}" if lat and floor else "–")
        lines.append(f"| {qname} | " + " | ".join(cells) + " |")
    tp = [(qname, q) for qname, q in queries.items() if q["throughput"]]
    if tp:
        tool = next((v.get("tool") for _, q in tp for v in q["throughput"].values() if v.get("tool")), "?")
        lines += ["", f"### Throughput, {tool}, {results_concurrency(q for _, q in tp)} concurrent clients: "
                  "successful answers/s (× oxigraph) [refused or failed requests]", "",
                  "| query | kind | " + " | ".join(servers) + " |", "|---|---|" + "---:|" * len(servers)]
        for qname, q in tp:
            cells = []
            for name in servers:
                t = q["throughput"].get(name, {})
                if "rps" not in t:
                    cells.append("skipped" if t else "–")
                    continue
                ref = q["throughput"].get(_ref(size, name), {}).get("rps")
                err = f" [{t['errors']:,}]" if t.get("errors") else ""
                cells.append(f"{t['rps']:,.0f}{_ratio(t['rps'], ref)}{err}")
            lines.append(f"| {qname} | {q['kind']} | " + " | ".join(cells) + " |")
    for qname, q in queries.items():
        if not q["large"]:
            continue
        lines += ["", f"### Large result: {qname}", "",
                  "| system | first body byte ms (× oxigraph) | headers ms | total s (× oxigraph) | MiB | server RSS growth MiB |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name in servers:
            big = q["large"].get(name)
            if not big:
                lines.append(f"| {name} | {q['errors'].get(name, '–')[:80]} | | | | |")
                continue
            ref = q["large"].get(_ref(size, name), {})
            lines.append(f"| {name} | {_fmt(big['ttfb_ms'])}{_ratio(big['ttfb_ms'], ref.get('ttfb_ms'), False)} | "
                         f"{_fmt(big['headers_ms'])} | {_fmt(big['total_s'])}{_ratio(big['total_s'], ref.get('total_s'), False)} | "
                         f"{_fmt(big['mb'], 1)} | {_fmt(big['rss_growth_mb'], 1)} |")
    problems = [(qname, q) for qname, q in queries.items() if q.get("mismatch") or q["errors"]]
    if problems:
        lines += ["", "### Row-count mismatches (against oxigraph) and errors", ""]
        for qname, q in problems:
            for name, n in q.get("mismatch", {}).items():
                lines.append(f"- {qname}: {name} returned {n} rows, oxigraph {q['rows'].get('oxigraph')}")
            for name, err in q["errors"].items():
                lines.append(f"- {qname}: {name}: {err[:200]}")
    notes = [(qname, name, note) for qname, q in queries.items() for name, note in q.get("notes", {}).items()]
    if notes:
        lines += ["", "### Protocol notes", ""]
        lines += [f"- {qname}: {name}: {note}" for qname, name, note in notes]
    lines.append("")
    return lines


# ---------------------------------------------------------------------------
# Command line


def ssikg_settings(args) -> dict:
    """Settings of every ssikg server in the run.  Cold by default: the result cache is
    off, so every request is evaluated; ``--variant ssikg-warm:result_cache_mb=64``
    measures warm runs on their own rows."""
    return {"result_cache_mb": "0", **dict(args.ssikg_setting or [])}


def _setting(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name.strip().lower(), value


def _variant(text: str) -> tuple[str, dict]:
    """``ssikg-thread:isolation=thread,max_concurrent_queries=8`` → name and settings;
    ``processes=N`` is not a setting but ``ssikg serve --processes N``."""
    name, _, spec = text.partition(":")
    if not name.startswith("ssikg-") or not spec:
        raise argparse.ArgumentTypeError("expected ssikg-NAME:SETTING=VALUE[,SETTING=VALUE]")
    return name, dict(_setting(part) for part in spec.split(","))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5", help="comma-separated triple counts (1e3, 1e5, 1e6, 1e7)")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"subset of {','.join(ALL_SYSTEMS)}")
    parser.add_argument("--queries", default="*", help="comma-separated globs over bench/queries/*.rq names")
    parser.add_argument("--stored", default="all", help="stored queries from queries/: all, none or name globs")
    parser.add_argument("--throughput-stored", type=lambda s: tuple(s.split(",")), default=None,
                        help=f"stored queries (globs) also measured under load (default {','.join(DEFAULT_STORED)})")
    parser.add_argument("--reps", type=int, default=15, help="sequential repetitions per query and system")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds: a system slower than this on the "
                        "first request gets --slow-reps repetitions")
    parser.add_argument("--slow-reps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=8.0,
                        help="seconds of sequential repetitions per query and system (at least one)")
    parser.add_argument("--large-reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per throughput round (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved throughput rounds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--throughput-kinds", type=lambda s: tuple(s.split(",")), default=("small", "graph", "stored"),
                        help="query kinds measured under load (heavy ones need long rounds to mean anything)")
    parser.add_argument("--timeout", type=float, default=60.0, help="client timeout per request, seconds")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--rdflib-max-triples", type=parse_size, default=100_000,
                        help="skip rdflib-endpoint above this size (it parses everything at start-up)")
    parser.add_argument("--ssikg-setting", type=_setting, action="append",
                        help="NAME=VALUE passed to both ssikg servers as SSIKG_NAME (repeatable)")
    parser.add_argument("--variant", type=_variant, action="append",
                        help="an extra ssikg server on disk with other settings, e.g. "
                             "ssikg-thread:isolation=thread, or ssikg-p2:processes=2 for "
                             "--processes 2 (repeatable)")
    parser.add_argument("--no-floor", action="store_true", help="skip the in-process pyoxigraph floor")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default=str(BENCH / "out"), help="output folder (data, stores, runs)")
    return parser.parse_args(argv)


def main(argv=None) -> Path:
    args = parse_args(argv)
    systems.stop_on_sigterm()
    wanted_all = [s.strip() for s in args.systems.split(",") if s.strip()]
    wanted_all += [name for name, _ in args.variant or []]
    unknown = set(wanted_all) - set(ALL_SYSTEMS) - {name for name, _ in args.variant or []}
    if unknown:
        raise SystemExit(f"unknown system(s): {', '.join(sorted(unknown))}")
    queries = load_queries([p.strip() for p in args.queries.split(",")], args.stored)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    run_dir = Path(args.out) / f"run-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"started": started, "command": "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv),
               "machine": machine(), "queries": {q.name: {"kind": q.kind, "title": q.title} for q in queries},
               "ssikg_settings": ssikg_settings(args), "sizes": {}}
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        wanted = [s for s in wanted_all if not (s == "rdflib-endpoint" and size > args.rdflib_max_triples)]
        run = SizeRun(args, size, run_dir)
        results["sizes"][run.label] = run.result
        def save():
            (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
            (run_dir / "report.md").write_text(report(results))

        try:
            run.prepare(wanted)
            save()
            run.measure(queries, save)
        finally:
            run.stop()
        run.result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        run.result["loadavg_end"] = os.getloadavg()
        (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (run_dir / "report.md").write_text(report(results))
    (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (run_dir / "report.md").write_text(report(results))
    print(f"results: {run_dir / 'results.json'}\nreport:  {run_dir / 'report.md'}")
    return run_dir


if __name__ == "__main__":
    main()

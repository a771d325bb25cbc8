"""The ``ssikg`` command line: build, serve, query and export the knowledge graph.

Every command takes ``--store DIR`` (default: the ``store`` setting, i.e.
``var/store`` under the project).  Exit codes: 0 success, 1 the operation
failed (a broken data file, a query error), 2 usage errors.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import shutil
import sys
import time
from pathlib import Path

import click
import pyoxigraph as ox

from . import __version__
from .namespaces import PREFIXES
from .settings import SettingsError, declared, load_settings
from .store import (
    DB_DIR,
    EXPORT_MARK,
    StoreError,
    StoreInUse,
    UnexportedWritesError,
    build_store,
    check_free_for_writing,
    check_not_served_read_only,
    ensure_built,
    open_store,
    store_status,
)


def _store_path(ctx, param, value: Path | None) -> Path | None:
    if value is not None and not value.name.strip():  # "", ".", "/": no folder of its own to link
        raise click.BadParameter(f"{str(value)!r} does not name a store folder", ctx=ctx, param=param)
    return value


STORE_OPTION = click.option(
    "--store", "store", type=click.Path(path_type=Path), default=None, callback=_store_path,
    help="Store folder (default: $SSIKG_STORE, else var/store in the project, or ~/.local/share/ssikg/store for an installed wheel).")


def _settings(**overrides):
    try:
        return load_settings({k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _fail(message: str, code: int = 1):
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _open_for_reading(store: Path | None, *, read_only: bool = False):
    """The store, built first when it is the default one; ``read_only`` (``query``, ``chart``) also
    works while a server writes to it; otherwise (``export``) it works beside read-only servers."""
    settings = _settings(store=store)
    path = settings.store_path
    try:
        if store is None:
            ensure_built(path, settings.source_dir, progress=_progress)
        return open_store(path, read_only=read_only, beside_servers=not read_only)
    except StoreError as exc:
        _fail(str(exc))


class _LazyGroup(click.Group):
    """Commands that live beside the code they drive (validation, the org chart, stored
    queries) are imported when named, not at start-up: validation and the chart pull in
    rdflib, pyshacl, Flask and Graphviz (0.2 s), which ``ssikg build`` or ``ssikg query``
    must not pay (click's documented lazy-loading pattern)."""

    LAZY = {"chart": "ssikg.orgchart", "queries": "ssikg.stored_queries",
            "validate": "ssikg.validation_cli"}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.LAZY:
            return importlib.import_module(self.LAZY[cmd_name]).cli_command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ssikg")
def cli():
    """ssikg: France's internal-security cooperation network (DCIS, SSI) as linked data.

    \b
    Typical use:
      ssikg build                      build var/store from ontology/ and data/
      ssikg serve                      serve it on http://127.0.0.1:5000/sparql
      ssikg query 'SELECT ...'         ask it from the terminal
      ssikg queries run cq26-transitive-containment-of-dcis    a stored query, by name
      ssikg export -o dump.trig        a backup of everything (with writes)
    """


@cli.command()
@STORE_OPTION
@click.option("--force", is_flag=True, help="Rebuild even if the store holds writes not yet exported.")
@click.option("--backend", metavar="URL", default=None,
              help="Publish into this remote SPARQL engine (its query URL) instead of the local store; "
                   "one atomic write per named graph.")
@click.option("--update-url", metavar="URL", default=None,
              help="With --backend: the engine's SPARQL Update URL (or $SSIKG_BACKEND_UPDATE_URL).")
@click.option("--store-url", metavar="URL", default=None,
              help="With --backend: the engine's Graph Store Protocol URL, preferred for writes "
                   "(or $SSIKG_BACKEND_STORE_URL).")
@click.option("--validate", "validate_first", is_flag=True,
              help="Validate the sources against ontology/shapes.ttl first; on a violation print the "
                   "report, build (or publish) nothing and exit 1.")
def build(store, force, backend, update_url, store_url, validate_first):
    """Build the on-disk store from ontology/ and data/ (atomic: a broken input leaves the old one).

    With --backend URL, publish the same graphs into a remote SPARQL engine
    instead (credentials from $SSIKG_BACKEND_USER/PASSWORD/TOKEN).

    \b
    Examples:
      ssikg build                       # a new build of var/store, swapped in
      ssikg build --store /srv/ssikg --force
      ssikg build --backend http://localhost:7878/query --store-url http://localhost:7878/store
      ssikg build --validate            # refuse to build data that breaks a shape
    """
    if validate_first:
        _validate_sources(_settings(store=store).source_dir)
    if backend:
        _publish(backend, update_url, store_url)
        return
    if update_url or store_url:
        raise click.UsageError("--update-url and --store-url go with --backend URL")
    settings = _settings(store=store)
    try:
        build_store(settings.store_path, settings.source_dir, force=force, progress=_progress)
    except UnexportedWritesError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(f"build failed, previous store left as it was: {exc}")


def _validate_sources(source_dir: Path) -> None:
    """Validate exactly the files a build loads; on violations print the text report and exit 1
    before anything is built or published (validation is imported only here: it pulls in pyshacl)."""
    from .store import source_files
    from .validation import ValidationInputError, load_shapes, read_page_texts, validate_files

    try:
        files = [source.path for source in source_files(source_dir)]
        report = validate_files(files, shapes=load_shapes(source_dir / "ontology" / "shapes.ttl"),
                                page_texts=read_page_texts(source_dir=source_dir))
    except (StoreError, ValidationInputError) as exc:
        _fail(f"validation before the build failed: {exc}")
    if not report.conforms:
        click.echo(report.text("en"), nl=False)
        _fail(f"build refused: the sources break {report.violations} shape constraint(s) (report above); "
              "nothing was built")
    _progress(report.summary("en"))


def _publish(backend: str, update_url: str | None, store_url: str | None) -> None:
    from .errors import SsikgError
    from .remote_store import open_remote, publish_sources, redact_url

    settings = _settings(backend=backend, backend_update_url=update_url, backend_store_url=store_url)
    remote = open_remote(settings)
    where = redact_url(backend)  # a URL may carry user:password: never printed
    try:
        publish_sources(remote, settings.source_dir, progress=_progress)
    except StoreError as exc:
        _fail(f"publishing to {where} failed: {exc}")
    except SsikgError as exc:
        _fail(f"publishing to {where} failed: {exc.message}")
    except SyntaxError as exc:
        _fail(f"publishing to {where} failed: {exc}")
    finally:
        remote.close()


class _ProcessesType(click.ParamType):
    name = "N|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)
        if not 1 <= number <= 64:
            self.fail(f"{number} is not between 1 and 64", param, ctx)
        return number


_PROCESSES = _ProcessesType()


def _prepare_store(store_path: Path, source_dir: Path, remote: bool, read_only: bool,
                   auto_build: bool = True, writes: bool = False) -> str:
    """Build the store when missing or stale (unless ``auto_build`` is off), or check that a
    read-only one opens; check that no other process writes to it when this server will; the
    status seen.  A remote backend, or a read-only store shared by several instances, is
    built elsewhere."""
    if remote:
        return "current"
    building = _running_build(store_path) if not (Path(store_path) / DB_DIR).is_dir() else None
    if building is not None:  # a first build (a rebuild leaves the current build servable)
        raise StoreInUse(f"'ssikg build' is building {store_path} (in {building}): wait for it to "
                         "finish, then start the server")
    if read_only:  # never built here: a read-only server serves a store built elsewhere
        open_store(store_path, read_only=True).close()  # say a bad store here, not once per process
        return "current"
    try:
        if auto_build:
            status = ensure_built(store_path, source_dir, progress=_progress)
            if status == "stale":
                click.secho("note: ontology/ or data/ changed; the store was rebuilt from them without "
                            "validating them: run 'ssikg validate' (or 'ssikg build --validate' before "
                            "starting a server that publishes)", fg="yellow", err=True)
            if status in {"missing", "stale"}:
                status = "current"  # just built: the warnings below are about a store left as it was
        else:
            status = store_status(store_path, source_dir)
            if status == "missing":
                raise StoreError(f"no built store at {store_path}, and auto_build is off: run 'ssikg build'")
        if writes:
            check_free_for_writing(store_path)
    except StoreInUse:  # the store's message is written for 'ssikg build'
        raise StoreInUse(f"{store_path} is open for writing in another process (a server with an "
                         "update token, or ssikg export) or is being built: wait for the build to "
                         "finish, or stop the other server, then start this one") from None
    if writes:
        check_not_served_read_only(store_path)
    return status


def _running_build(store_path: Path) -> Path | None:
    """The folder a running ``ssikg build`` fills beside the store path, if any (a build
    holds its new folder's writer lock until it is swapped in), so that a server started
    before the first build has ended neither builds a second time nor says to run one.
    (The builds folder is shared by the store paths of one folder: asked only while the
    store path has no build, so a rebuild never keeps a server from serving the current one.)"""
    import fcntl

    from .store import BUILDS_DIR, WRITER_LOCK, _flock, _release

    builds = Path(store_path).parent / BUILDS_DIR
    current = Path(store_path).resolve()
    try:
        folders = sorted(entry for entry in builds.iterdir() if entry.is_dir())
    except OSError:
        return None
    for folder in folders:
        if folder.resolve() == current:
            continue  # the build in service: held by a writer, not by a build
        try:
            _release(_flock(folder, WRITER_LOCK, fcntl.LOCK_EX))
        except BlockingIOError:
            return folder
    return None


def _prepare_store_elsewhere(store_path: Path, source_dir: Path, remote: bool, read_only: bool,
                             auto_build: bool = True, writes: bool = False) -> str:
    """:func:`_prepare_store` in a fresh interpreter; its status, or its error and exit code.

    RocksDB starts background threads the first time a process opens a store; a process
    forked after that (gunicorn's workers) inherits their pool without the threads, so at
    exit it hangs joining them (until gunicorn's 30 s graceful timeout) or crashes, and
    background work scheduled on that pool never runs.  The server process itself must
    therefore never open a store."""
    import subprocess

    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", "import sys; from ssikg.cli import _prepare_store_main; "
                           "_prepare_store_main(sys.argv[1:])", str(store_path), str(source_dir),
                           str(int(remote)), str(int(read_only)), str(int(auto_build)), str(int(writes))],
                          stdout=subprocess.PIPE, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(done.returncode)  # the child has said why on stderr
    return done.stdout.strip().splitlines()[-1]


def _prepare_store_main(argv: list[str]) -> None:
    try:
        print(_prepare_store(Path(argv[0]), Path(argv[1]), *(flag == "1" for flag in argv[2:])))
    except (StoreError, OSError) as exc:
        _fail(str(exc))


@cli.command()
@STORE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--production", is_flag=True,
              help="Serve with gunicorn (threads in each of --processes processes) instead of the "
                   "development server.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1),
              help="Worker threads (--production).")
@click.option("--processes", default="auto", show_default=True, type=_PROCESSES,
              help="Server processes (--production). More than one serves the store read-only, "
                   "so it needs no update token. 'auto': one per CPU core (at most 8) for a "
                   "read-only, on-disk or remote store; one when writes are enabled or the store "
                   "is held in memory.")
def serve(store, host, port, production, threads, processes):
    """Serve the store over HTTP (builds it first when missing or stale)."""
    settings = _settings(store=store)
    if processes != "auto" and processes > 1 and not production:
        raise click.UsageError("--processes needs --production")
    writes = server_writes(settings)
    if processes != "auto" and processes > 1 and writes:
        raise click.UsageError("--processes > 1 serves the store read-only: only one process may "
                               "write, so unset the update token or use one process")
    if _token_ignored(settings):
        click.secho("warning: the update token is ignored: the store is read-only (read_only), so "
                    "writes are refused", fg="yellow", err=True)
    processes, why = server_processes(processes, production, settings)
    from .workers import AllocatorMissing, find_allocator

    try:
        find_allocator(settings.worker_allocator)
    except AllocatorMissing as exc:
        _fail(str(exc))
    from .stored_queries import QueryFileError, load_all

    try:  # the app checks queries/ at start-up too; say it here without a traceback
        load_all(settings.source_dir / "queries")
    except QueryFileError as exc:
        _fail(f"{exc}\n(run 'ssikg queries check' for the full list)")
    _check_listen(host, port)  # before a build that may take minutes
    # an in-memory server's writes never reach the build folder: no other process is in its way
    prepare = (settings.store_path, settings.source_dir, bool(settings.get("backend")),
               bool(settings.get("read_only")), settings.auto_build, writes and not settings.get("in_memory"))
    try:
        # gunicorn forks its workers from this process: RocksDB must not start here (see
        # _prepare_store_elsewhere), so the production server builds or checks its store in another.
        status = _prepare_store_elsewhere(*prepare) if production else _prepare_store(*prepare)
    except (StoreError, OSError) as exc:
        _fail(str(exc))
    if status == "unexported":
        click.secho("warning: the store holds writes not exported to files; serving it as it is",
                    fg="yellow", err=True)
    elif status == "stale":  # only with auto_build off: it would have been rebuilt
        click.secho("warning: ontology/ or data/ changed since the store was built (auto_build is off); "
                    "serving it as it is", fg="yellow", err=True)
    overrides = {"store": settings.store_path, "auto_build": False}
    if not writes:
        # nothing can write: opened read-only, the store is left to a rebuild, an export or
        # the chart run beside the server (the build folder's locks)
        overrides["read_only"] = True
    if production:
        from .production import run_gunicorn

        click.echo(f"ssikg: {processes} server process{'es' if processes > 1 else ''} ({why})", err=True)
        if processes > 1:
            overrides["read_only"] = True  # each process opens the one built store read-only
        with _shared_results(settings, processes) as folder, \
                _pinned_build(settings, writes) as build:
            if folder is not None:
                overrides["result_cache_dir"] = folder
            if build is not None:
                overrides["store"] = build
            run_gunicorn(overrides, host=host, port=port, threads=threads, processes=processes,
                         writes=writes)
        return
    with _pinned_build(settings, writes) as build:
        if build is not None:
            overrides["store"] = build
        _run_development_server(settings, overrides, host, port)


def _run_development_server(settings, overrides: dict, host: str, port: int) -> None:
    from .app import create_app, start_query_workers

    try:
        app = create_app(overrides)
    except StoreError as exc:
        _fail(str(exc))
    start_query_workers(app)
    if settings.get("backend"):
        from .remote_store import redact_url

        served = redact_url(settings.get("backend"))
    else:
        served = settings.store_path
    click.echo(f"ssikg serving {served} on http://{host}:{port}/sparql", err=True)
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def _check_listen(host: str, port: int) -> None:
    """Fail in one line when the address cannot be listened on (gunicorn retries for five
    seconds and logs each try; the development server says so after its banner)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(address)
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@contextlib.contextmanager
def _shared_results(settings, processes: int):
    """The folder the server processes share cached results through: the configured one,
    else, for several processes with a result cache, a temporary one (in memory where
    /dev/shm exists) removed when the server stops."""
    if settings.get("result_cache_dir") or processes < 2 or not settings.result_cache_mb \
            or settings.get("backend"):
        yield settings.get("result_cache_dir")
        return
    import tempfile

    folder = tempfile.mkdtemp(prefix="ssikg-results-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    owner = os.getpid()
    try:
        yield folder
    finally:
        # gunicorn's workers leave through here too (SystemExit in the forked process): a
        # worker replaced while the others serve must not take their folder with it.
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _pinned_build(settings, writes: bool):
    """The build folder a read-only server serves, for as long as it runs: the store path
    resolved once, here, so that every gunicorn process, a respawned one too, opens the
    build this server started with even after a rebuild has moved the path on; the folder's
    readers lock held by this (master) process meanwhile, so a rebuild keeps the folder, and
    its serving lock, so no process opens it for writing while this server reads its version
    once (see :mod:`ssikg.store`).  None for a writer (it holds its build's writer lock, so no
    build replaces it) and for a remote backend."""
    if writes or settings.get("backend"):
        yield None
        return
    import fcntl

    from .store import DB_DIR, READERS_LOCK, StoreInUse, _flock, _release, hold_for_serving

    build = Path(settings.store_path).resolve()
    try:
        held = _flock(build, READERS_LOCK, fcntl.LOCK_SH)
    except BlockingIOError:
        held = None  # a build is removing it: the check below says so
    if not (build / DB_DIR).is_dir():
        _release(held)
        _fail(f"{settings.store_path} no longer points to a built store (a build replaced it while "
              "the server started): start the server again")
    try:
        serving = hold_for_serving(build)
    except StoreInUse as exc:
        _release(held)
        _fail(str(exc))
    try:
        yield build
    finally:
        _release(serving)
        _release(held)


def server_writes(settings) -> bool:
    """Whether this server accepts writes: an update token is set and the store is not
    read-only (``read_only`` wins over a token, everywhere)."""
    from .auth import writes_enabled

    return writes_enabled(settings) and not settings.get("read_only")


def _token_ignored(settings) -> bool:
    from .auth import writes_enabled

    return writes_enabled(settings) and bool(settings.get("read_only"))


def server_processes(asked, production: bool, settings) -> tuple[int, str]:
    """How many gunicorn processes serve, and why.  Several processes use every core for
    the Python request path (the GIL caps one process at about one core: the small-query
    benchmark doubles its throughput with two on two cores), but each opens the store
    read-only, and an in-memory store would be copied once per query worker per process."""
    if asked != "auto":
        return asked, "--processes"
    if not production:
        return 1, "development server"
    if server_writes(settings):
        return 1, "writes are enabled: only one process may open the store read-write"
    if settings.in_memory and not settings.get("backend"):
        return 1, "in-memory store: more processes would hold more copies of it"
    cores = min(os.cpu_count() or 1, 8)
    return cores, f"read-only: one per CPU core, {cores} here"


QUERY_FORMATS = ("table", "json", "xml", "csv", "tsv", "turtle", "ntriples")


@cli.command()
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(QUERY_FORMATS), default="table", show_default=True,
              help="table: aligned columns with prefixed names; json/xml/csv/tsv: SPARQL results; "
                   "turtle/ntriples: for CONSTRUCT and DESCRIBE.")
@click.argument("query")
def query(store, fmt, query):
    """Run a SPARQL QUERY (text, or @FILE, or - for standard input) against the store.

    The default graph is the union of all named graphs; GRAPH <…/graph/stated>
    restricts a pattern to what the source page states.

    \b
    Examples:
      ssikg query @queries/cq05-who-assists-the-asi.rq
      ssikg query --format csv 'SELECT ?s ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label }'
      echo 'ASK { ?s ?p ?o }' | ssikg query --format json -
    """
    text = _read_query_argument(query)
    from .sparql_guard import Refused, check_outbound, policy_for

    try:  # the engine would make the request itself: the same switch as the endpoint's
        check_outbound(text, policy_for(_settings(store=store)))
    except Refused as refusal:
        _fail(refusal.message)
    graph_store = _open_for_reading(store, read_only=True)
    try:
        result = graph_store.query(text)
        _print_result(result, fmt)
    except SyntaxError as exc:
        from .protocol import syntax_error_message

        _fail(f"malformed query: {syntax_error_message(text, str(exc))}")
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    finally:
        graph_store.close()


def _read_query_argument(argument: str) -> str:
    if argument.startswith("@"):
        path = Path(argument[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="QUERY") from None
        except UnicodeDecodeError:
            raise click.BadParameter(f"{path} is not UTF-8 text", param_hint="QUERY") from None
    elif argument == "-":
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise click.BadParameter("standard input is not UTF-8 text", param_hint="QUERY") from None
    else:
        text = argument
    if not text.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    return text


_RESULT_FORMATS = {"json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML,
                   "csv": ox.QueryResultsFormat.CSV, "tsv": ox.QueryResultsFormat.TSV}
_GRAPH_FORMATS = {"turtle": ox.RdfFormat.TURTLE, "ntriples": ox.RdfFormat.N_TRIPLES}


class _LineEndingWriter:
    """Standard output for a streamed document that must end its last line (a terminal or a
    pipe): remembers the last byte written, so :meth:`end_line` adds a newline only if needed."""

    def __init__(self, out):
        self._out = out
        self._last = b"\n"

    def write(self, data) -> int:
        data = bytes(data)
        if data:
            self._out.write(data)
            self._last = data[-1:]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def end_line(self) -> None:
        if self._last != b"\n":
            self._out.write(b"\n")


def _print_result(result, fmt: str) -> None:
    """Print a query's result, streamed as the engine yields it (a million rows must not be
    held in memory: the table keeps only its first rows to size its columns)."""
    from .xml_text import XmlSafeSink

    out = _LineEndingWriter(sys.stdout.buffer)
    if isinstance(result, ox.QueryTriples):
        if fmt not in _GRAPH_FORMATS and fmt != "table":
            raise click.BadParameter(f"a graph result cannot be printed as {fmt}; use turtle or ntriples")
        ox.serialize(result, out, _GRAPH_FORMATS.get(fmt, ox.RdfFormat.TURTLE), prefixes=dict(PREFIXES))
    elif isinstance(result, ox.QueryBoolean):
        if fmt in _GRAPH_FORMATS:
            raise click.BadParameter(f"an ASK result cannot be printed as {fmt}; use table, json, xml, csv or tsv")
        if fmt == "table":
            out.write(b"true" if bool(result) else b"false")
        else:
            result.serialize(out, _RESULT_FORMATS.get(fmt, ox.QueryResultsFormat.JSON))
    elif fmt == "table":
        for line in table_lines(result):
            out.write(line.encode("utf-8") + b"\n")
    elif fmt in _RESULT_FORMATS:
        result.serialize(XmlSafeSink(out) if fmt == "xml" else out, _RESULT_FORMATS[fmt])
    else:
        raise click.BadParameter(f"a SELECT result cannot be printed as {fmt}; use table, json, xml, csv or tsv")
    out.end_line()
    out.flush()


def compact(term) -> str:
    """A readable form of an RDF term: prefixed names, plain literal text with its language."""
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for prefix, iri in sorted(PREFIXES.items(), key=lambda kv: -len(kv[1])):
            if term.value.startswith(iri) and "/" not in term.value[len(iri):]:
                return f"{prefix}:{term.value[len(iri):]}"
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        return f"{term.value}@{term.language}" if term.language else term.value
    return str(term)


TABLE_SIZING_ROWS = 1000  # rows read before the columns' widths are fixed; later rows stream


def table_lines(solutions, sizing_rows: int = TABLE_SIZING_ROWS):
    """The lines of an aligned table of ``solutions``: header, rule, rows, row count.  Widths
    come from the header and the first ``sizing_rows`` rows; later rows are printed as they
    arrive (a longer cell there pushes its line out rather than holding every row)."""
    variables = [v.value for v in solutions.variables]
    if not variables:
        yield "(no columns)"
        return
    rows = iter(solutions)
    first = [[compact(s[v]) for v in variables] for s in itertools.islice(rows, sizing_rows)]
    widths = [max([len(v)] + [len(r[i]) for r in first]) for i, v in enumerate(variables)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    yield line(variables)
    yield "  ".join("-" * w for w in widths)
    count = 0
    for cells in itertools.chain(first, ([compact(s[v]) for v in variables] for s in rows)):
        count += 1
        yield line(cells)
    yield f"({count} row{'s' if count != 1 else ''})"


@cli.command()
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["trig", "nquads"]), default="trig", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
def export(store, fmt, output):
    """Write every graph of the store (including writes made over HTTP) as TriG or N-Quads.

    Writing to a file marks the store's writes as exported, so 'ssikg build'
    will then replace it without --force.  The file is a backup and an exchange
    format, not a data file (its first line says so, and a build refuses it beside
    other files of data/: its blank nodes, the provenance's rdf:Statements, would
    load a second time; alone in data/ it restores the store).  To make writes part
    of the sources, copy only their triples into a hand-written TriG file in data/
    (the generated files are rewritten by tools/generate_data.py).  A server
    writing to the store must be stopped first.

    \b
    Examples:
      ssikg export -o backup.trig
      ssikg export --format nquads | gzip > backup.nq.gz
    """
    graph_store = _open_for_reading(store)
    rdf_format = ox.RdfFormat.TRIG if fmt == "trig" else ox.RdfFormat.N_QUADS
    prefixes = dict(PREFIXES) if fmt == "trig" else None
    header = (f"{EXPORT_MARK} of {graph_store.folder} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: "
              "a backup, not a data file (see 'Editing the data' in the README)\n").encode()
    try:
        if output is None:
            sys.stdout.buffer.write(header)
            ox.serialize(graph_store.quads(), sys.stdout.buffer, rdf_format, prefixes=prefixes)
            sys.stdout.buffer.flush()
        else:
            tmp = output.with_name(output.name + ".partial")
            with open(tmp, "wb") as handle:
                handle.write(header)
                ox.serialize(graph_store.quads(), handle, rdf_format, prefixes=prefixes)
            tmp.replace(output)
            graph_store.mark_exported()
            click.echo(f"wrote {len(graph_store):,} quads to {output}", err=True)
        stray = sum(1 for _ in graph_store.quads(""))
        if stray:
            click.secho(f"warning: {stray:,} triple(s) are in the default graph (written without GRAPH); "
                        "'ssikg build' loads only named graphs from data/, so move them into one "
                        "before building from this export", fg="yellow", err=True)
    finally:
        graph_store.close()


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the table the README's Settings section holds.")
def show_settings(markdown):
    """List every setting: its effective value, where that came from (the default or its
    SSIKG_<NAME> environment variable) and its meaning.

    A malformed value is refused as 'ssikg serve' refuses it (exit 2), and an SSIKG_*
    variable that names no setting is a warning.  --markdown prints the defaults only."""
    if markdown:
        click.echo(settings_markdown())
        return
    from .settings import Settings, resolve

    try:
        effective = resolve()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    store_path = Settings({item.setting.name: item.value for item in effective}).store_path
    for item in effective:
        shown = _shown_effective(item.setting.name, item.value)
        if item.setting.name == "store" and item.value is None:
            shown += f" (so {store_path})"
        click.echo(f"{item.setting.name} = {shown}  ({_shown_origin(item)})\n    {item.setting.help}")


def _shown_origin(item) -> str:
    if item.origin == "default":
        return f"default; set with {item.setting.env}"
    if item.origin == item.setting.env:
        return f"from {item.setting.env}; default {_shown_effective(item.setting.name, item.setting.default)}"
    return item.origin


def _shown_effective(name: str, value) -> str:
    """A value as a person reads it: a path as a path, None as unset, never a secret, and a
    URL without the user and password it may carry."""
    from .settings import SECRET_SETTINGS

    if name in SECRET_SETTINGS and value not in (None, ""):
        return "set (hidden)"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:
        from .remote_store import redact_url

        return redact_url(value)
    return _shown_default(value)


def settings_markdown() -> str:
    rows = ["| Setting (env `SSIKG_<NAME>`) | Default | Meaning |", "| --- | --- | --- |"]
    for setting in declared():
        rows.append(f"| `{setting.name}` | {_shown_default(setting.default)} | {setting.help} |")
    return "\n".join(rows)


def _shown_default(value) -> str:
    if isinstance(value, Path):
        return "the project folder"
    if isinstance(value, tuple):
        return ",".join(value) or "empty"
    if value is None or value == "":
        return "unset" if value is None else "empty"
    return str(value).lower() if isinstance(value, bool) else str(value)


def main() -> None:
    try:
        cli(prog_name="ssikg")
    except OSError as exc:  # a path that cannot be read or written, a port that cannot be bound…
        where = f" ({exc.filename})" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}")


if __name__ == "__main__":
    main()

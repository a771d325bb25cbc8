"""Building and opening the store: the only module that touches store files.

The rest of the code sees a :class:`GraphStore`: run a query, run an update,
read or replace a graph, know the store's version.  :class:`EmbeddedStore` is
the default (pyoxigraph on disk, or an in-memory copy); a remote SPARQL backend
implements the same interface elsewhere.

On disk a store is a folder holding ``db/`` (RocksDB, written by pyoxigraph)
and ``meta.json`` (the hash of the inputs it was built from, the build time,
and whether it holds writes not yet exported), and, once a page has asked, ``summaries.json``
(what pages read of the whole build, kept until its first write: :meth:`GraphStore.recall`).
The configured store path is a
symbolic link to the current build; a build fills a fresh folder and swaps the
link with one atomic rename, so a failed build leaves the previous store as it
was.

Who uses a build folder is known by two lock files in it (``flock``, released when the
process ends, however it ends): a process with the store open for writing holds
``writer.lock`` exclusively, readers (read-only servers, their query workers, in-memory
copies) share ``readers.lock``.  A read-only *server* also shares ``serving.lock`` for as long
as it serves the build, and a writing process holds it exclusively: the two never run on one
build (a read-only server's version is read once, so it would not follow the other's writes).
A build holds the current folder's ``writer.lock`` from
its start to the swap, so it refuses to replace a store someone is writing to (those
writes would be lost) and no writer opens it meanwhile; a previous build still held by
readers is kept until they are gone (they go on serving it until restarted), and builds
left behind by killed builds are removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyoxigraph as ox

from .namespaces import GRAPHS, ONTOLOGY_GRAPH
from .sparql_lexer import tokenize

META_FILE = "meta.json"
SUMMARIES_FILE = "summaries.json"  # GraphStore.remember
DB_DIR = "db"
BUILDS_DIR = ".store-builds"
WRITER_LOCK = "writer.lock"
READERS_LOCK = "readers.lock"
SERVING_LOCK = "serving.lock"  # read-only servers (shared) against writers (exclusive)

QUAD_FORMATS = {".trig": ox.RdfFormat.TRIG, ".nq": ox.RdfFormat.N_QUADS}
# Named graphs every build creates, empty until a source fills them: the README documents
# them, so the Graph Store, the Service Description and /graph/<name> serve them from the start.
RESERVED_GRAPHS = (GRAPHS["external"],)
TRIPLE_FORMATS = {".ttl": ox.RdfFormat.TURTLE, ".nt": ox.RdfFormat.N_TRIPLES, ".rdf": ox.RdfFormat.RDF_XML}


class StoreError(Exception):
    """A store cannot be built or opened; the message names the file and line where known."""


class UnexportedWritesError(StoreError):
    """Rebuilding would discard writes that were never exported."""


# ---------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str
    format: ox.RdfFormat
    graph: str | None  # None: the file names its graphs itself (TriG, N-Quads)


# The first line of every 'ssikg export': a backup names itself, so a build refuses it as a source.
EXPORT_MARK = "# ssikg export"


def is_export(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(EXPORT_MARK)) == EXPORT_MARK.encode()
    except OSError:
        return False


def source_files(source_dir: Path) -> list[SourceFile]:
    """The files a build loads: ``ontology/*.ttl`` (not the SHACL shapes) into the
    ontology graph, and every TriG / N-Quads file under ``data/``."""
    source_dir = Path(source_dir)
    files: list[SourceFile] = []
    for path in sorted((source_dir / "ontology").glob("*.ttl")):
        if path.name.startswith("shapes"):
            continue
        files.append(SourceFile(path, path.relative_to(source_dir).as_posix(), ox.RdfFormat.TURTLE,
                                ONTOLOGY_GRAPH))
    data_dir = source_dir / "data"
    for path in sorted(data_dir.rglob("*")) if data_dir.is_dir() else []:
        if path.suffix in QUAD_FORMATS and path.is_file():
            files.append(SourceFile(path, path.relative_to(source_dir).as_posix(),
                                    QUAD_FORMATS[path.suffix], None))
        elif path.suffix in TRIPLE_FORMATS and path.is_file():
            raise StoreError(f"{path.relative_to(source_dir)}: a data file must name its graphs "
                             "(write it as TriG or N-Quads); only ontology/ holds plain Turtle")
    if not files:
        raise StoreError(f"no ontology/*.ttl or data/*.trig files under {source_dir}")
    refuse_an_export_beside_data([f.path for f in files if f.graph is None], source_dir)
    return files


def refuse_an_export_beside_data(data_files: list[Path], source_dir: Path) -> None:
    """An export of a store is a whole dataset: alone in data/ it restores a backup, but beside
    other data files its blank nodes (the provenance's rdf:Statements) load as new ones, and
    every fact's provenance is there twice — which no rule notices."""
    exports = [path for path in data_files if is_export(path)]
    if exports and len(data_files) > 1:
        shown = Path(exports[0]).relative_to(source_dir) if Path(exports[0]).is_relative_to(source_dir) else exports[0]
        raise StoreError(
            f"{shown}: an export of a store ('ssikg export') beside other data files: its provenance would be "
            "there twice (its blank nodes load as new ones). Alone in data/ it restores that store; to keep "
            "some writes, copy only their triples into a hand-written TriG file (README, 'Editing the data')")


# How a build makes a store of its files: bumped when the same files make another store, so
# that stores built before are stale and rebuilt (2: the build creates RESERVED_GRAPHS).
BUILD_RECIPE = 2


def inputs_hash(files: Iterable[SourceFile]) -> str:
    digest = hashlib.sha256(f"ssikg build recipe {BUILD_RECIPE}\0".encode())
    for source in files:
        digest.update(source.relative.encode() + b"\0")
        with open(source.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Metadata


@dataclass
class StoreMeta:
    inputs_hash: str
    built_at: float
    files: list[str]
    quads: int
    unexported_writes: int = 0
    last_write_at: float | None = None
    # Writes ever begun on this build, never reset (export resets unexported_writes): the
    # store version is made of it, so a version, and the ETags made of it, is never reused.
    writes_total: int = 0
    # A random name for the last write, part of the version: two builds of the same sources (or
    # two copies of one build) written to alike count the same writes_total for different data.
    last_write_id: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> StoreMeta | None:
        try:
            return cls(**json.loads((Path(folder) / META_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, folder: Path) -> None:
        target = Path(folder) / META_FILE
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, target)


# ---------------------------------------------------------------------------
# Building


Progress = Callable[[str], None]


PROGRESS_ABOVE_BYTES = 16 << 20  # files this large get progress lines while they load
PROGRESS_EVERY_S = 2.0


def load_source(store: ox.Store, source: SourceFile, say: Progress | None = None) -> None:
    to_graph = ox.NamedNode(source.graph) if source.graph else None
    big = say is not None and source.path.stat().st_size > PROGRESS_ABOVE_BYTES
    watch = _LoadProgress(source, say) if big else None
    try:
        if watch:
            watch.start()
        store.bulk_load(path=str(source.path), format=source.format, to_graph=to_graph)
    except SyntaxError as exc:
        raise StoreError(f"{source.relative}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"{source.relative}: cannot load: {exc}") from None
    finally:
        if watch:
            watch.stop()
    stray = next(iter(store.quads_for_pattern(None, None, None, ox.DefaultGraph())), None)
    if stray is not None:
        raise StoreError(f"{source.relative}: triples outside any named graph (e.g. {stray.triple}); "
                         "put every triple in a GRAPH block")


def create_reserved_graphs(store: ox.Store) -> None:
    """Make each of :data:`RESERVED_GRAPHS` exist (empty when no source filled it)."""
    for graph in RESERVED_GRAPHS:
        store.add_graph(ox.NamedNode(graph))


class _LoadProgress(threading.Thread):
    """Says how far pyoxigraph's bulk load has read a large file.

    The load runs in Rust with the GIL released and no progress callback, so this
    thread reads the position of the loader's file descriptor from /proc (Linux);
    elsewhere it reports the elapsed time only."""

    def __init__(self, source: SourceFile, say: Progress):
        super().__init__(daemon=True)
        self.source, self.say = source, say
        self.size = source.path.stat().st_size
        self.done = threading.Event()

    def run(self) -> None:
        started, was_reading = time.monotonic(), False
        while not self.done.wait(PROGRESS_EVERY_S):
            elapsed = time.monotonic() - started
            position = _read_position(self.source.path)
            if position is not None:
                was_reading = True
                self.say(f"loading {self.source.relative}: read {position / self.size:.0%} "
                         f"({position / elapsed / (1 << 20):,.1f} MiB/s, {elapsed:.0f} s)")
            elif was_reading:  # the file is read and closed; the loader sorts and writes indexes
                self.say(f"loading {self.source.relative}: read 100%, writing indexes ({elapsed:.0f} s)")
            else:
                self.say(f"loading {self.source.relative}: {elapsed:.0f} s")

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


def _read_position(path: Path) -> int | None:
    """Read offset of this process's open descriptor on ``path``, from /proc; None if unknown."""
    target = str(path.resolve())
    try:
        for fd in os.listdir("/proc/self/fd"):
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class StoreInUse(StoreError):
    """The store is open for writing in another process, or being rebuilt."""


def _flock(folder: Path, name: str, mode: int) -> int | None:
    """A non-blocking ``flock`` (``mode``: LOCK_SH or LOCK_EX) on ``folder/name``, as an open
    descriptor to close when done; None when the file cannot be opened (a read-only
    folder).  Raises BlockingIOError when another holder prevents it."""
    try:
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(folder / name, os.O_RDONLY)
        except OSError:
            return None
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise BlockingIOError(f"{folder / name} is held") from None
    return fd


def _lock_or_refuse(folder: Path, name: str, mode: int, refusal: str) -> int | None:
    """:func:`_flock`, or StoreInUse saying ``refusal`` when another holder prevents it."""
    try:
        return _flock(folder, name, mode)
    except BlockingIOError:
        raise StoreInUse(refusal) from None


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _unused(folder: Path, *, writer_held_here: bool = False) -> bool:
    """Whether no process writes to, reads from or builds ``folder`` (checked by its locks;
    ``writer_held_here``: this build holds its writer lock)."""
    names = (READERS_LOCK,) if writer_held_here else (WRITER_LOCK, READERS_LOCK)
    held = []
    try:
        for name in names:
            held.append(_flock(folder, name, fcntl.LOCK_EX))
        return True
    except BlockingIOError:
        return False
    finally:
        for fd in held:
            _release(fd)


def _hold_for_build(store_path: Path) -> int | None:
    """The current build folder's writer lock, for the whole build, or StoreInUse."""
    current = store_path.resolve()
    if not (current / DB_DIR).is_dir():
        return None
    return _lock_or_refuse(current, WRITER_LOCK, fcntl.LOCK_EX,
                           f"{store_path} is open for writing in another process (a server with an "
                           "update token, or ssikg export) or is being built: stop it first (writes made "
                           "meanwhile would be lost; 'ssikg export' keeps them), then build")


def hold_for_serving(build: Path) -> int | None:
    """``serving.lock``, shared, for a read-only server's lifetime; StoreInUse while a process
    writes to the build (it holds the lock exclusively)."""
    return _lock_or_refuse(Path(build), SERVING_LOCK, fcntl.LOCK_SH,
                           f"{build} is open for writing by another process (a server with an update "
                           "token): a read-only server beside it would not follow its writes; stop it, "
                           "or serve read-only from a copy of the build")


def check_not_served_read_only(store_path: Path) -> None:
    """Raise StoreInUse when a read-only server serves the store's current build (a writing
    server says so in one line before it starts, as for another writer)."""
    current = Path(store_path).resolve()
    if (current / DB_DIR).is_dir():
        _release(_exclude_read_only_servers(current, shown=store_path))


def _exclude_read_only_servers(build: Path, shown: Path) -> int | None:
    """``serving.lock``, exclusively, for a process writing to ``build``; StoreInUse while a
    read-only server serves it."""
    return _lock_or_refuse(build, SERVING_LOCK, fcntl.LOCK_EX,
                           f"{shown} is served by a read-only server, whose answers would not follow "
                           "these writes (its version is read once): stop the read-only servers first, "
                           "or write to a copy of the build")


def check_free_for_writing(store_path: Path) -> None:
    """Raise StoreInUse when another process writes to the store (or builds it), so that a
    server says so in one line before it starts rather than in each process it forks."""
    current = Path(store_path).resolve()
    if not (current / DB_DIR).is_dir():
        return
    _release(_lock_or_refuse(current, WRITER_LOCK, fcntl.LOCK_EX,
                             f"{store_path} is open for writing in another process (a server with an "
                             "update token, or ssikg export) or is being built"))


def wait_free_for_writing(store_path: Path, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for another process to stop writing to the store."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check_free_for_writing(store_path)
            return
        except StoreInUse:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def build_store(store_path: Path, source_dir: Path, *, force: bool = False,
                progress: Progress | None = None, optimize: bool = True) -> StoreMeta:
    """Build the store at ``store_path`` from ``source_dir``; atomic and idempotent.

    Raises :class:`UnexportedWritesError` when the current store holds writes
    not yet exported and ``force`` is false, :class:`StoreError` when an input
    is broken (the previous store is then left untouched).
    """
    say = progress or (lambda _msg: None)
    store_path = Path(store_path)
    guard = _hold_for_build(store_path)
    try:
        return _build_held(store_path, source_dir, force=force, say=say, optimize=optimize)
    finally:
        _release(guard)


def _build_held(store_path: Path, source_dir: Path, *, force: bool, say: Progress,
                optimize: bool) -> StoreMeta:
    current = StoreMeta.read(store_path)  # read under the lock: no write can follow it now
    if current and current.unexported_writes and not force:
        raise UnexportedWritesError(
            f"{store_path} holds {current.unexported_writes} write(s) not exported to files; "
            "run 'ssikg export -o FILE' first (to keep them in the sources, copy their triples into a "
            "TriG file of data/: README, 'Editing the data'), or rebuild with --force to discard them")
    files = source_files(source_dir)
    digest = inputs_hash(files)
    builds = store_path.parent / BUILDS_DIR
    builds.mkdir(parents=True, exist_ok=True)
    folder = builds / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    building = None
    try:
        folder.mkdir(parents=True)
        building = _flock(folder, WRITER_LOCK, fcntl.LOCK_EX)  # another build's cleanup spares it
        store = ox.Store(str(folder / DB_DIR))
        total_bytes = 0
        for source in files:
            size = source.path.stat().st_size
            t0 = time.monotonic()
            load_source(store, source, say)
            total_bytes += size
            say(f"loaded {source.relative} ({size / 1024:,.0f} KiB in {time.monotonic() - t0:.2f} s)")
        create_reserved_graphs(store)
        quads = len(store)
        if optimize:
            store.optimize()
        store.flush()
        del store
        meta = StoreMeta(inputs_hash=digest, built_at=time.time(), files=[f.relative for f in files],
                         quads=quads)
        meta.write(folder)
    except BaseException:
        _release(building)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        _swap_in(store_path, folder, say)
    finally:
        _release(building)
    elapsed = time.monotonic() - started
    say(f"built {store_path} : {quads:,} quads from {len(files)} files in {elapsed:.2f} s")
    return meta


def _swap_in(store_path: Path, folder: Path, say: Progress) -> None:
    """Point ``store_path`` at ``folder`` with one atomic rename, then drop the builds no
    process uses any more (the previous one, unless readers still serve it)."""
    if store_path.exists() and not store_path.is_symlink():
        # A plain folder from elsewhere: move it aside rather than delete it.
        aside = store_path.with_name(store_path.name + f".replaced-{uuid.uuid4().hex[:6]}")
        store_path.rename(aside)
        say(f"moved the folder that was at {store_path} to {aside}")
    previous = store_path.resolve() if store_path.is_symlink() else None
    link = store_path.with_name(f".{store_path.name}.link-{uuid.uuid4().hex[:6]}")
    link.symlink_to(os.path.relpath(folder, store_path.parent))
    os.replace(link, store_path)
    # Other store paths in the same folder share the builds folder: their builds stay.
    linked = {entry.resolve() for entry in store_path.parent.iterdir() if entry.is_symlink()}
    for old in sorted(folder.parent.iterdir()):
        if not old.is_dir() or old.resolve() in linked:
            continue
        if _unused(old, writer_held_here=old == previous):
            shutil.rmtree(old, ignore_errors=True)
        elif old == previous:
            say(f"kept the previous build {old.name}: processes still read it (until they restart)")


def store_status(store_path: Path, source_dir: Path) -> str:
    """``missing``, ``stale``, ``current`` or ``unexported`` (holds writes not in files)."""
    meta = StoreMeta.read(store_path)
    if meta is None or not (Path(store_path) / DB_DIR).is_dir():
        return "missing"
    if meta.unexported_writes:
        return "unexported"
    return "current" if meta.inputs_hash == inputs_hash(source_files(source_dir)) else "stale"


def ensure_built(store_path: Path, source_dir: Path, progress: Progress | None = None) -> str:
    """Build when missing or stale; keep a store holding unexported writes. Returns the status seen."""
    status = store_status(store_path, source_dir)
    if status in {"missing", "stale"}:
        build_store(store_path, source_dir, progress=progress)
    return status


# ---------------------------------------------------------------------------
# The store interface


class GraphStore(ABC):
    """What the server needs from a store, whatever holds the data."""

    kind = "abstract"
    writable = True

    def __init__(self) -> None:
        # Held by a write from the checks it makes on the store's state (preconditions,
        # validate-on-write) to the write itself, so that no other write comes between.
        self.write_session = threading.RLock()

    @property
    @abstractmethod
    def version(self) -> str:
        """Changes whenever the content may have changed (for ETags and caches)."""

    @abstractmethod
    def query(self, sparql: str, *, base_iri: str | None = None,
              default_graphs: list[str] | None = None, named_graphs: list[str] | None = None,
              substitutions: dict | None = None):
        """Run a SPARQL query; returns pyoxigraph QuerySolutions, QueryBoolean or QueryTriples.

        Without ``default_graphs`` the default graph is the union of all graphs.
        Raises SyntaxError for a malformed query."""

    @abstractmethod
    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        """Run a SPARQL update atomically. Raises SyntaxError for a malformed update."""

    @abstractmethod
    def named_graphs(self) -> list[str]:
        ...

    @abstractmethod
    def replace_graph(self, graph: str, triples: Iterable) -> None:
        """Replace one graph (``""`` = default graph) atomically."""

    @abstractmethod
    def add_triples(self, graph: str, triples: Iterable) -> None:
        """Add triples to one graph (``""`` = default graph) atomically."""

    def drop_graph(self, graph: str) -> None:
        """Remove one graph (``""``: empty the default graph)."""
        self.update("DROP SILENT DEFAULT" if graph in ("", None) else f"DROP SILENT GRAPH <{graph}>")

    def create_graph(self, graph: str) -> None:
        """Make an empty named graph exist (nothing when it does)."""
        self.update(f"CREATE SILENT GRAPH <{graph}>")

    @abstractmethod
    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        """Every quad, or those of one graph (``""`` for the default graph)."""

    @abstractmethod
    def __len__(self) -> int:
        ...

    def close(self) -> None:  # noqa: B027 - optional for implementations
        pass

    def recall(self, name: str):
        """The summary ``name`` a page kept with :meth:`remember` (JSON data), while the store
        holds exactly what its build made; ``None`` when unknown (then read the store)."""
        return None

    def remember(self, name: str, value) -> None:  # noqa: B027 - optional for implementations
        """Keep ``value`` (JSON data read from the whole store, such as the home page's counts)
        for :meth:`recall` by every process serving this build until its first write."""


class EmbeddedStore(GraphStore):
    """pyoxigraph, opened from a built folder (read-write, or copied into memory)."""

    kind = "embedded"

    def __init__(self, folder: Path, *, in_memory: bool = False, read_only: bool = False,
                 source_dir: Path | None = None, beside_servers: bool = False):
        super().__init__()
        self.folder = Path(folder)
        meta = StoreMeta.read(self.folder)
        if meta is None:
            raise StoreError(f"{self.folder} is not a built store (no {META_FILE}); run 'ssikg build'")
        self.meta = meta
        self.in_memory = in_memory
        self.writable = not read_only
        self._lock = threading.Lock()
        self._writes = 0
        # writes_total as of the last committed write: the version moves once a write has
        # landed, so a query keyed by the new version sees it (meta counts a write as it begins)
        self._versions_seen = meta.writes_total
        self._write_id = meta.last_write_id
        self._session = os.urandom(4).hex()
        # resolved now: a rebuild moves the store path to another build folder
        self._summaries_path = self.folder.resolve() / SUMMARIES_FILE
        self._kept_summaries: dict | None = None
        self._folder_lock = self._take_folder_lock(in_memory, read_only)
        self._serving_lock = None
        if self.writable and not in_memory and not beside_servers:
            try:
                self._serving_lock = _exclude_read_only_servers(self.folder, shown=self.folder)
            except StoreInUse:
                _release(self._folder_lock)
                raise
        db = str(self.folder / DB_DIR)
        try:
            if in_memory:
                self._store = memory_copy(self.folder, meta, source_dir)
            elif read_only:
                self._store = ox.Store.read_only(db)
            else:
                self._store = ox.Store(db)
        except OSError as exc:
            _release(self._folder_lock)
            _release(self._serving_lock)
            raise StoreError(f"cannot open the store at {self.folder}: {exc}") from None

    def _take_folder_lock(self, in_memory: bool, read_only: bool) -> int | None:
        """writer.lock for a process writing to the folder, readers.lock otherwise (module doc)."""
        if in_memory or read_only:
            try:
                return _flock(self.folder, READERS_LOCK, fcntl.LOCK_SH)
            except BlockingIOError:  # a build is removing it: RocksDB's own error will follow
                return None
        return _lock_or_refuse(self.folder, WRITER_LOCK, fcntl.LOCK_EX,
                               f"{self.folder} is open for writing by another process (a server with an "
                               "update token, 'ssikg export') or being built: stop that server first (it "
                               "serves the whole dataset at GET /store meanwhile)")

    @property
    def raw(self) -> ox.Store:
        """The pyoxigraph store, for code that must stream (dump, serialise)."""
        return self._store

    @property
    def version(self) -> str:
        if self.in_memory and self._writes:  # lost at exit: a later session must not reuse these
            return f"{self.meta.inputs_hash[:16]}-{self._versions_seen}-{self._session}-{self._writes}"
        if self._versions_seen and self._write_id:  # written: which writes, not only how many
            return f"{self.meta.inputs_hash[:16]}-{self._versions_seen}-{self._write_id}"
        return f"{self.meta.inputs_hash[:16]}-{self._versions_seen}"

    def query(self, sparql, *, base_iri=None, default_graphs=None, named_graphs=None,
              substitutions=None):
        kwargs: dict = {"base_iri": base_iri}
        if default_graphs is not None:
            kwargs["default_graph"] = [_graph_node(g) for g in default_graphs]
        elif not declares_dataset(sparql):
            # The union would override the query's own FROM / FROM NAMED.
            kwargs["use_default_graph_as_union"] = True
        if named_graphs is not None:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        if substitutions:
            kwargs["substitutions"] = {
                (ox.Variable(k) if isinstance(k, str) else k): v for k, v in substitutions.items()}
        return self._store.query(sparql, **kwargs)

    def update(self, sparql, *, base_iri=None):
        if not self.writable:
            raise StoreError("this store is open read-only")
        with self._lock, self._counted_write():
            self._store.update(sparql, base_iri=base_iri)

    def load(self, data: bytes, format: ox.RdfFormat, graph: str | None) -> None:
        """Add parsed data to a graph in one transaction (``None`` graph: quads as written)."""
        to_graph = _graph_node(graph) if graph is not None else None
        with self._lock, self._counted_write():
            self._store.load(data, format=format, to_graph=to_graph)

    def replace_graph(self, graph: str, triples: Iterable[ox.Triple | ox.Quad]) -> None:
        """Replace one graph's content in a single transaction (one SPARQL update).  A named
        graph replaced by nothing stays, empty: the store keeps empty graphs (sd:EmptyGraphs)."""
        target = "DEFAULT" if graph in ("", None) else f"GRAPH <{graph}>"
        body = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
        inner = body if graph in ("", None) else f"GRAPH <{graph}> {{\n{body}}}"
        create = "" if graph in ("", None) else f"CREATE SILENT GRAPH <{graph}> ;\n"
        self.update(f"DROP SILENT {target} ;\n{create}INSERT DATA {{\n{inner}}}")

    def add_triples(self, graph: str, triples: Iterable) -> None:
        body = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
        inner = body if graph in ("", None) else f"GRAPH <{graph}> {{\n{body}}}"
        self.update(f"INSERT DATA {{\n{inner}}}")

    @contextlib.contextmanager
    def _counted_write(self):
        """Count the write on disk before it is made.  The engine commits a large write
        seconds before it returns: should the process die in between, the write is in the
        store, so it must already count as not exported (or a build would discard it) and
        as a new version (no answer was ever given under it).  A write the engine refused
        (malformed, invalid) changed nothing and is uncounted again."""
        if self.in_memory:
            yield
            self._writes += 1
            return
        before = (self.meta.writes_total, self.meta.unexported_writes, self.meta.last_write_at,
                  self.meta.last_write_id)
        self.meta.writes_total = self._versions_seen + 1
        self.meta.unexported_writes += 1
        self.meta.last_write_at = time.time()
        self.meta.last_write_id = os.urandom(6).hex()
        self.meta.write(self.folder)
        try:
            yield
        except (SyntaxError, ValueError, RuntimeError):  # refused by the engine: nothing was written
            (self.meta.writes_total, self.meta.unexported_writes, self.meta.last_write_at,
             self.meta.last_write_id) = before
            self.meta.write(self.folder)
            raise
        self._writes += 1
        self._versions_seen = self.meta.writes_total
        self._write_id = self.meta.last_write_id

    def recall(self, name: str):
        if self._written():
            return None
        return self._summaries().get(name)

    def remember(self, name: str, value) -> None:
        if self._written():
            return
        value = json.loads(json.dumps(value))  # as another process will read it
        with self._lock:
            summaries = {**self._read_summaries(), name: value}
            self._kept_summaries = summaries
            try:  # whole or absent for the other processes; a read-only folder keeps it here only
                partial = self._summaries_path.with_suffix(f".{os.getpid()}.partial")
                partial.write_text(json.dumps({"build": self._build_id(), "entries": summaries}))
                os.replace(partial, self._summaries_path)
            except OSError:
                pass

    def _written(self) -> bool:
        """Whether a write has begun on this build (on disk: meta's counter, which no export
        resets and which counts a write as it begins; in memory: this session's): then what
        the build held no longer tells, and what is read meanwhile is not kept."""
        return bool(self._versions_seen or self._writes or self.meta.writes_total)

    def _build_id(self) -> str:
        return f"{self.meta.inputs_hash}:{self.meta.built_at}"

    def _summaries(self) -> dict:
        if self._kept_summaries is None:
            with self._lock:
                self._kept_summaries = self._read_summaries()
        return self._kept_summaries

    def _read_summaries(self) -> dict:
        """The file's entries if they are this build's (the store path may have moved on to
        a newer build, whose servers write there too)."""
        try:
            kept = json.loads(self._summaries_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(kept, dict) or kept.get("build") != self._build_id():
            return {}
        entries = kept.get("entries")
        return entries if isinstance(entries, dict) else {}

    def mark_exported(self) -> None:
        self.meta.unexported_writes = 0
        self.meta.write(self.folder)

    def named_graphs(self):
        return sorted(g.value for g in self._store.named_graphs() if isinstance(g, ox.NamedNode))

    def quads(self, graph=None):
        node = None if graph is None else _graph_node(graph)
        return self._store.quads_for_pattern(None, None, None, node)

    def __len__(self):
        return len(self._store)

    def close(self):
        if self.writable and not self.in_memory:
            self._store.flush()
        del self._store
        _release(self._serving_lock)  # first: a process waiting for writer.lock then finds both free
        _release(self._folder_lock)
        self._folder_lock = self._serving_lock = None


def declares_dataset(sparql: str) -> bool:
    """Whether a query names its own dataset with a top-level FROM / FROM NAMED clause.

    Then, unless the protocol gave a dataset (which wins), a store leaves the dataset to the
    engine: the embedded store does not make its default graph the union of the graphs, a
    remote one sends the query without dataset parameters.  Prefixed and relative IRIs are
    the engine's to resolve."""
    if "from" not in sparql.lower():  # cheap exit for the common case
        return False
    return any(token.depth == 0 and token.keyword("FROM") for token in tokenize(sparql))


def _graph_node(graph: str):
    return ox.DefaultGraph() if graph in ("", None) else ox.NamedNode(graph)


def open_store(store_path: Path, *, in_memory: bool = False, read_only: bool = False,
               source_dir: Path | None = None, beside_servers: bool = False) -> EmbeddedStore:
    """Open a built store; ``source_dir`` lets an in-memory copy be made in build order (see
    :func:`memory_copy`); ``beside_servers``: opened for writing by a process that changes no
    data (``ssikg export``), so read-only servers may keep serving the build."""
    return EmbeddedStore(Path(store_path).resolve(), in_memory=in_memory, read_only=read_only,
                         source_dir=source_dir, beside_servers=beside_servers)


# ---------------------------------------------------------------------------
# In-memory copies


def memory_copy(folder: Path, meta: StoreMeta, source_dir: Path | None = None) -> ox.Store:
    """The built store at ``folder``, in memory.

    The in-memory store answers joins faster when related quads were inserted together:
    at 1e6 a heavy query took 317 ms after loading the source files, 584 ms on a copy of
    the on-disk store (RocksDB yields quads in term-hash order) and 1,135 ms with the
    quads shuffled (bench/RESULTS.md).  So a store never written since its build is copied
    from an N-Quads file of its sources in build order, kept in the build folder
    (:data:`ORDERED_COPY`, made once, from ``source_dir`` when its files are still
    exactly those the store was built from).  Every copy reads the same file with its
    blank-node labels, so the server and its workers agree on them.  Otherwise (written
    since, or the sources changed) the on-disk store is copied as it is."""
    store = ox.Store()
    ordered = _ordered_copy(folder, meta, source_dir)
    if ordered is not None:
        store.bulk_extend(ox.parse(path=str(ordered), format=ox.RdfFormat.N_QUADS))
        create_reserved_graphs(store)  # as the build made them (quads do not carry empty graphs)
    else:
        on_disk = ox.Store.read_only(str(folder / DB_DIR))
        store.bulk_extend(on_disk)
        for graph in on_disk.named_graphs():  # the empty ones too
            store.add_graph(graph)
    return store


ORDERED_COPY = "memory-order-{hash}.nq"


def _ordered_copy(folder: Path, meta: StoreMeta, source_dir: Path | None) -> Path | None:
    if meta.last_write_at is not None:  # written since its build: only the on-disk store has it all
        return None
    path = folder / ORDERED_COPY.format(hash=meta.inputs_hash[:16])
    if path.is_file():
        return path
    try:
        files = source_files(source_dir) if source_dir is not None else None
        if not files or [f.relative for f in files] != meta.files or inputs_hash(files) != meta.inputs_hash:
            return None
    except (StoreError, OSError):
        return None
    partial = folder / f".{path.name}.{uuid.uuid4().hex[:8]}"
    try:
        ox.serialize(_source_quads(files), str(partial), ox.RdfFormat.N_QUADS)
        os.replace(partial, path)  # whole or absent: a copy never reads a half-written file
    except (OSError, SyntaxError, ValueError):
        partial.unlink(missing_ok=True)
        return None
    return path


def _source_quads(files: list[SourceFile]) -> Iterator[ox.Quad]:
    """The sources' quads in build order, each file's blank nodes its own (as a load names them)."""
    for source in files:
        graph = ox.NamedNode(source.graph) if source.graph else None
        for statement in ox.parse(path=str(source.path), format=source.format, rename_blank_nodes=True):
            if graph is None:
                yield statement
            else:
                yield ox.Quad(statement.subject, statement.predicate, statement.object, graph)

"""SHACL validations of the HTTP service run in a child process, with a time limit.

pyshacl is pure Python: it cannot be interrupted, and it holds the interpreter lock.  Run
in the server's process, a validation of a large store went on for minutes after its
client had left and made every other request of that process 5–10× slower.  Here each
validation runs in a child interpreter (``python -m ssikg.validation_process``: nothing of
the server — its open store, its threads — is inherited), which gets the quads as N-Quads
bytes and sends its report back.  When ``validation_timeout`` passes, the child is killed
and the client gets a 503; the server process itself only waits.

A child imports the validation code (about 0.4 s) before it reads its job, so one is kept
started ahead per server process once the first validation has run: the next validation
finds its interpreter ready.  A child whose server is gone reads the end of its input and
exits.

The checks of ``validate_on_write`` run pyshacl here too (:func:`check_focus_in_child`): the
server cuts the small views a write can change (:mod:`ssikg.validation`) and the child
validates them, so that a write reaching thousands of nodes is bounded by the same
``validation_timeout`` (the write is then not made) and leaves the server's other requests
their interpreter.  The command line (``ssikg validate``) validates in its own process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyoxigraph as ox

from .errors import SsikgError
from .validation import ShapesUnavailable, TooDeepToValidate, ValidationInputError, ValidationReport

log = logging.getLogger(__name__)
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])
_spare_lock = threading.Lock()
_spare: subprocess.Popen | None = None


def serialise(quads) -> bytes:
    """pyoxigraph quads as N-Quads, what the child reads."""
    return ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""


def validate_in_child(nquads: bytes, *, timeout: float, source_dir: Path | None = None,
                      whole_dataset: bool = True, memory_mb: int = 0) -> ValidationReport:
    """The report of :func:`ssikg.validation.validate_quads` on ``nquads``, computed in a
    child process; a 503 once ``timeout`` seconds (0 = none) have passed, the child killed; a
    413 when it needs more than ``memory_mb`` MiB beyond what it holds on receiving the job."""
    return _run(("store", nquads, str(source_dir) if source_dir else None, whole_dataset, memory_mb),
                timeout=timeout, memory_mb=memory_mb)


def check_focus_in_child(after: set, before: set, focus: set, idle: list[str], *, timeout: float,
                         source_dir: Path | None, memory_mb: int = 0, what: str = "the write"
                         ) -> tuple[ValidationReport, ValidationReport | None]:
    """The reports of :func:`ssikg.validation.validate_focus` on the cut views ``after`` and
    (only when ``after`` has results) ``before`` of a checked write, computed in a child
    process; past ``timeout`` a 503 saying ``what`` was not made."""
    job = ("focus", serialise(after), serialise(before), list(focus), list(idle),
           str(source_dir) if source_dir else None, memory_mb)
    with _for_the_write(what):
        return _run(job, timeout=timeout, memory_mb=memory_mb)


def check_whole_in_child(quads, *, timeout: float, source_dir: Path | None, memory_mb: int = 0,
                         what: str = "the write") -> ValidationReport:
    """The whole-dataset report on ``quads`` for a checked write too broad to check by parts."""
    with _for_the_write(what):
        return validate_in_child(serialise(quads), timeout=timeout, source_dir=source_dir, memory_mb=memory_mb)


@contextlib.contextmanager
def _for_the_write(what: str):
    """A child stopped by its time or memory limit, as the refusal of the write it checked."""
    try:
        yield
    except SsikgError as exc:
        if exc.status not in (413, 503) or exc.title == "Validation unavailable":
            raise
        raise SsikgError(exc.status, f"{what} was not made, the store is unchanged: checking it against the "
                                     f"shapes (validate_on_write) {_stopped_because(exc)}",
                                     title=exc.title, extra=exc.extra) from None


def _stopped_because(exc: SsikgError) -> str:
    if "validation_timeout" in exc.extra:
        return (f"took longer than validation_timeout ({exc.extra['validation_timeout']:g} s); write fewer "
                "triples at a time")
    if "validation_memory_mb" in exc.extra:
        return (f"needed more than validation_memory_mb ({exc.extra['validation_memory_mb']} MiB); write fewer "
                "triples at a time")
    return "ended without a verdict (its process was stopped); retry"


def _run(job: tuple, *, timeout: float, memory_mb: int):
    """The child's answer to ``job`` (see :func:`_main`), or the error it stands for."""
    child = _take_child()
    job = pickle.dumps(job)
    started = time.monotonic()
    try:
        output, errors = child.communicate(job, timeout=timeout or None)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise _too_slow(timeout, time.monotonic() - started) from None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        kind, value = pickle.loads(output)
    except Exception:  # noqa: BLE001 - killed from outside, out of memory: no report came
        raise SsikgError(503, "the validation process ended without a report; retry, or validate a smaller "
                              "part", title="Validation failed",
                         extra={"exit_code": child.returncode}) from None
    if kind == "setup":
        log.error("validation unavailable: %s", value)
        raise SsikgError(503, "validation is not available on this server: its SHACL shapes cannot be read "
                              "(the server log says why)", title="Validation unavailable")
    if kind == "too-deep":
        raise TooDeepToValidate(value)
    if kind == "input":
        raise ValidationInputError(value)
    if kind == "memory":
        raise SsikgError(413, f"the validation needed more than validation_memory_mb ({memory_mb} MiB) and was "
                              "stopped; validate a smaller part", title="Too large to validate",
                         extra={"validation_memory_mb": memory_mb})
    if kind == "error":
        raise SsikgError(500, f"the validation failed: {value}", title="Validation failed")
    return value


def _take_child() -> subprocess.Popen:
    """The interpreter started ahead, if it is still waiting, else a new one; either way a
    new one is started for the next validation."""
    global _spare
    with _spare_lock:
        child, _spare = _spare, _start_child()
    if child is None or child.poll() is not None:
        child = _start_child()
    return child


def _start_child() -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-m", "ssikg.validation_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True)


def _too_slow(timeout: float, waited: float) -> SsikgError:
    return SsikgError(503, f"the validation took longer than validation_timeout ({timeout:g} s) and was "
                           f"stopped after {waited:.1f} s; validate a smaller part, or use `ssikg validate` "
                           "on the server, which has no time limit",
                      title="Validation too long", extra={"validation_timeout": timeout})


def _limit_memory(memory_mb: int) -> None:
    """Cap the child's address space at what it holds now plus ``memory_mb`` MiB: a large
    upload's validation took half a gigabyte, and two run at once per server process."""
    import resource

    with open("/proc/self/statm") as statm:
        held = int(statm.read().split()[0]) * resource.getpagesize()
    limit = held + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _main() -> None:
    """The child: read one job from stdin, write its outcome to stdout."""
    import pyshacl  # noqa: F401 - loaded while the child waits for its job

    job = sys.stdin.buffer.read()
    if not job:  # the server went away before giving a job
        return
    kind, *args = pickle.loads(job)
    if args[-1]:
        _limit_memory(args[-1])
    try:
        outcome = ("report", (_validate_store_job if kind == "store" else _check_focus_job)(*args[:-1]))
    except ShapesUnavailable as exc:
        outcome = ("setup", str(exc))
    except TooDeepToValidate as exc:
        outcome = ("too-deep", str(exc))
    except ValidationInputError as exc:
        outcome = ("input", str(exc))
    except MemoryError:
        outcome = ("memory", "")
    except Exception as exc:  # noqa: BLE001 - whatever broke, the server answers for it
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    sys.stdout.buffer.write(pickle.dumps(outcome))
    sys.stdout.buffer.flush()


def _validate_store_job(nquads: bytes, source_dir: str | None, whole_dataset: bool) -> ValidationReport:
    from .validation import quads_from_store, validate_quads

    quads = quads_from_store(_parsed(nquads))
    return validate_quads(quads, source_dir=Path(source_dir) if source_dir else None, whole_dataset=whole_dataset)


def _parsed(nquads: bytes) -> list:
    """The quads the server sent; a term it could serialise but N-Quads cannot carry (a literal
    typed rdf:langString without its language, stored by an old write) is input, not a crash."""
    try:
        return list(ox.parse(nquads, format=ox.RdfFormat.N_QUADS))
    except SyntaxError as exc:
        raise ValidationInputError(f"the data holds a term that cannot be written as N-Quads, so it cannot be "
                                   f"validated: {exc}") from None


def _check_focus_job(after: bytes, before: bytes, focus: list, idle: list[str], source_dir: str | None
                     ) -> tuple[ValidationReport, ValidationReport | None]:
    from .validation import default_shapes_path, load_shapes, read_page_texts, validate_focus

    folder = Path(source_dir) if source_dir else None
    shapes, texts = load_shapes(default_shapes_path(folder)), read_page_texts(source_dir=folder)

    def report(nquads: bytes) -> ValidationReport:
        return validate_focus(set(_parsed(nquads)), set(focus), shapes, texts, idle)

    after_report = report(after)
    return after_report, (report(before) if after_report.results else None)


if __name__ == "__main__":
    _main()

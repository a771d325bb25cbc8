"""The declared settings table: every knob ssikg has, its type, default and meaning.

Like Datasette's settings, each setting is declared once here.  A value comes
from, in increasing priority: the default, the environment variable
``SSIKG_<NAME>``, and the overrides given to :func:`load_settings` (the CLI and
tests pass these).  ``ssikg settings`` prints this table with the effective values and the
README lists it.  A malformed value is a :class:`SettingsError`; an ``SSIKG_*`` variable that
names no setting (a typo would leave its setting at the default) is a warning naming the closest.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A wheel carries ontology/, data/ and queries/ here (setup.py copies them at build time).
PACKAGED_SOURCES = Path(__file__).resolve().parent / "_sources"


def default_source_dir() -> Path:
    """The checkout the package runs from (a clone, an editable install), else the copy of
    the sources an installed wheel carries."""
    if (PROJECT_ROOT / "ontology" / "ssikg.ttl").is_file():
        return PROJECT_ROOT
    return PACKAGED_SOURCES


def user_data_dir() -> Path:
    """Where an installed package keeps its store: ``$XDG_DATA_HOME/ssikg``, by default
    ``~/.local/share/ssikg`` (site-packages may be read-only and is replaced on upgrade)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ssikg"


SOURCE_ROOT = default_source_dir()


MIN_WORKER_MEMORY_MB = 400  # RocksDB's caches: a worker capped lower cannot open the store


class SettingsError(ValueError):
    """A setting has a value of the wrong shape (named in the message)."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _optional_str(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
    return text


def _positive_float(value: Any) -> float:
    number = float(value)
    if not 0 < number < math.inf:  # also refuses nan
        raise ValueError(f"expected a positive, finite number of seconds, got {value!r}")
    return number


def _non_negative_float(value: Any) -> float:
    number = float(value)
    if not 0 <= number < math.inf:
        raise ValueError(f"expected a finite number >= 0, got {value!r}")
    return number


def _base_iri(value: Any) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in text for c in ' <>"{}|\\^`'):
        raise ValueError(f"expected an absolute http(s) IRI such as https://example.org/ssikg/, got {value!r}")
    return text


def _worker_memory(value: Any) -> int:
    number = _non_negative_int(value)
    if 0 < number < MIN_WORKER_MEMORY_MB:
        raise ValueError(f"expected 0 (no cap) or at least {MIN_WORKER_MEMORY_MB} MiB (a worker cannot "
                         f"open the store with less), got {value!r}")
    return number


def _path(value: Any) -> Path:
    return Path(value).expanduser()


def _non_negative_int(value: Any) -> int:
    number = int(str(value).strip()) if not isinstance(value, int) else value
    if number < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return number


def _at_least_one(value: Any) -> int:
    """A count with no meaning at 0 (slots, seconds to announce): 0 is refused, not
    quietly served as 1."""
    number = _non_negative_int(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return number


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    convert: Callable[[Any], Any]
    help: str

    @property
    def env(self) -> str:
        return "SSIKG_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("source_dir", SOURCE_ROOT, _path,
            "Folder holding ontology/, data/ and queries/ (the sources of the store); an installed "
            "wheel carries its own copy."),
    Setting("store", None, lambda v: None if v is None else _path(v),
            "On-disk store folder; default <source_dir>/var/store, or $XDG_DATA_HOME/ssikg/store "
            "(~/.local/share/ssikg/store) for the sources a wheel carries."),
    Setting("in_memory", False, _bool,
            "Serve from an in-memory copy of the built store (faster joins; writes are lost on exit)."),
    Setting("public_base", "https://w3id.org/ssikg/", _base_iri,
            "Where this deployment is reached (e.g. http://host:5000/): page links to dataset IRIs "
            "point under it; RDF keeps the canonical https://w3id.org/ssikg/ IRIs."),
    Setting("update_token", None, _optional_str,
            "Bearer token that enables SPARQL Update and Graph Store writes; unset = read-only."),
    Setting("update_token_file", None, _optional_str,
            "File whose first line is the update token (alternative to update_token)."),
    Setting("cors_origins", ("*",), _list,
            "Origins allowed to read by CORS (comma-separated; '*' for any)."),
    Setting("forwarded_proxies", 0, _non_negative_int,
            "Reverse proxies in front of ssikg whose X-Forwarded-For/-Proto/-Host/-Port/-Prefix "
            "headers are trusted (1 for one nginx): every URL the server makes then follows the "
            "public scheme, host and path prefix, and the access log records the client's address. "
            "0 = trust none (the headers are ignored: they could be spoofed)."),
    Setting("auto_build", True, _bool,
            "Build the store at start-up when it is missing or stale."),
    Setting("read_only", False, _bool,
            "Open the on-disk store read-only: several ssikg processes can then serve one built store "
            "folder (read scale-out); writes are refused and the store is never built at start-up."),
    Setting("backend", None, _optional_str,
            "Query URL of a remote SPARQL 1.1 engine to serve instead of the embedded store "
            "(e.g. http://host:7878/query for oxigraph serve, http://host:8890/sparql for Virtuoso); "
            "unset = embedded."),
    Setting("backend_update_url", None, _optional_str,
            "SPARQL Update URL of the remote engine; unset = no SPARQL Update through it."),
    Setting("backend_store_url", None, _optional_str,
            "Graph Store Protocol URL of the remote engine (used for graph writes when set)."),
    Setting("backend_user", None, _optional_str, "User name for the remote engine (HTTP basic or digest)."),
    Setting("backend_password", None, _optional_str, "Password for the remote engine."),
    Setting("backend_auth", "basic", lambda v: _choice(v, ("basic", "digest")),
            "HTTP authentication scheme for backend_user: basic or digest (Virtuoso's /sparql-auth)."),
    Setting("backend_token", None, _optional_str,
            "Bearer token for the remote engine (instead of user/password)."),
    Setting("backend_timeout", None, lambda v: None if v in (None, "") else _positive_float(v),
            "Seconds to wait for the remote engine's answer (default: query_timeout, else 30)."),
    Setting("validate_on_write", False, _bool,
            "Validate every SPARQL update and Graph Store write against ontology/shapes.ttl before "
            "committing it; a write that would break a shape is refused with 422 and the report."),
    # Limits and safety (ssikg/execution.py; README "Limits and safety").
    Setting("query_timeout", 30.0, _positive_float,
            "Maximum seconds a query may run (a request's 'timeout' parameter can only lower it); "
            "then the query is stopped and the client gets a 503, or an aborted transfer if the "
            "result was already streaming."),
    Setting("max_query_length", 100_000, _non_negative_int,
            "Longest query or update text accepted, in characters (413 beyond; 0 = no limit)."),
    Setting("max_body_bytes", 16 * 1024 * 1024, _non_negative_int,
            "Largest request body accepted, in bytes (413 beyond; 0 = no limit)."),
    Setting("max_rows", 0, _non_negative_int,
            "Cut query results after this many rows / triples and say so (SSIKG-Truncated header, "
            "a link in SPARQL JSON/XML); 0 = unlimited."),
    Setting("max_concurrent_queries", 4, _at_least_one,
            "Queries evaluated at once (each in its own worker process); beyond, a query waits up to "
            "queue_timeout for a slot."),
    Setting("max_concurrent_validations", 2, _at_least_one,
            "SHACL validations (GET /validate when its report is not cached, POST /validate) run at once "
            "per server process (each in a child process, taking a core); beyond, a request waits up to "
            "queue_timeout for a slot, then gets a 503 with Retry-After."),
    Setting("validation_timeout", 120.0, _non_negative_float,
            "Most seconds a validation of the HTTP service (GET /validate, POST /validate) or the check of a "
            "write under validate_on_write may run; it runs in a child process, killed when the time is up "
            "(the client gets a 503; a write is then not made). 0 = no limit. ssikg validate is not "
            "limited by it."),
    Setting("validation_memory_mb", 1024, _non_negative_int,
            "Most MiB a validation of the HTTP service (or a write's check) may take beyond the validator's "
            "own code; its child process is capped there and the client gets a 413. 0 = no limit."),
    Setting("validate_max_triples", 250_000, _non_negative_int,
            "Most triples one validation takes: the store for GET /validate and ssikg validate, the upload "
            "(with the store under merge=store) for POST /validate; beyond, pyshacl would need minutes and "
            "gigabytes, so the request is refused with 413 (ssikg validate: exit 2 unless --no-limit); "
            "0 = no limit."),
    Setting("validate_write_max_triples", None, lambda v: None if v in (None, "") else _non_negative_int(v),
            "Largest store on which validate_on_write checks a write (413 beyond). A checked write validates "
            "only what it changes (at a million triples: 1-2 s for a few triples, 2-4 s for 1,000 new ones, "
            "40 s for notes on 1,000 posts; an update other than INSERT DATA / DELETE DATA is also run on a "
            "copy of the store, 10-14 s there), so this may be set far above "
            "validate_max_triples; a write reaching too much of the store is validated whole, and then "
            "validate_max_triples applies. Unset: validate_max_triples; 0 = no limit."),
    Setting("queue_timeout", 2.0, _non_negative_float,
            "Seconds a query waits for a free slot when max_concurrent_queries are running, so a short "
            "burst queues instead of failing; then 503 with Retry-After (0 = refuse at once)."),
    Setting("retry_after", 5, _at_least_one,
            "Seconds announced in Retry-After when the server is too busy."),
    Setting("service_allowlist", (), _list,
            "IRI prefixes of endpoints that SERVICE (and LOAD in authorised updates) may contact, "
            "comma-separated; empty = both refused and no outbound connection is ever made."),
    Setting("service_allow_private", False, _bool,
            "Let allowlisted targets resolve to non-public addresses (loopback, private, link-local, "
            "metadata, shared, reserved, unique-local)."),
    Setting("result_cache_mb", 64, _non_negative_float,
            "MiB of query results (each at most a sixteenth of it) kept per server process and "
            "store version, so a query asked again is answered without evaluating it (embedded "
            "store only; never RAND/NOW/UUID/STRUUID/BNODE/SERVICE; SSIKG-Cache: hit or miss says "
            "which; a repeated GET of a cached answer is replayed before Flask, from up to an eighth "
            "as much again); 0 = off."),
    Setting("result_cache_dir", None, lambda v: None if v in (None, "") else _path(v),
            "Folder through which the server processes of one read-only store share their cached "
            "results (up to result_cache_mb more), so a query evaluated by one is a hit in all; "
            "ssikg serve --production makes a temporary one when it starts several processes. "
            "Unset = each process keeps its own."),
    Setting("worker_memory_mb", 2048, _worker_memory,
            "Memory cap of each query worker process in MiB (heap, RLIMIT_DATA); a query needing more "
            "is stopped with a 503. Below ~400 the store cannot open; 0 = no cap."),
    Setting("worker_allocator", "auto", lambda v: _choice(v, ("auto", "jemalloc", "mimalloc", "system")),
            "Memory allocator the query workers preload: auto takes jemalloc, else mimalloc, when "
            "installed (heavy queries take 5-20 % less time than on glibc's malloc), else the system's; "
            "naming one that is not installed stops start-up."),
    Setting("isolation", "process", lambda v: _choice(v, ("process", "thread")),
            "'process': each query runs in a worker process that is killed at the deadline or when the "
            "client leaves (hard timeout); 'thread': in-server threads with a soft deadline."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings(dict):
    """Resolved settings; read with attribute access: ``settings.store``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def store_path(self) -> Path:
        if self["store"]:
            return self["store"]
        if self["source_dir"] == PACKAGED_SOURCES:
            return user_data_dir() / "store"
        return self["source_dir"] / "var" / "store"


def declared() -> tuple[Setting, ...]:
    return SETTINGS


def load_settings(overrides: dict[str, Any] | None = None, environ=None) -> Settings:
    """Resolve every declared setting; unknown override names and malformed values are an
    error (:class:`SettingsError`), unknown ``SSIKG_*`` variables a warning (see
    :func:`report_unknown_variables`)."""
    return Settings({resolved.setting.name: resolved.value for resolved in resolve(overrides, environ)})


@dataclass(frozen=True)
class Resolved:
    """One setting's effective value and where it came from: ``"default"``, the name of
    its environment variable, or ``"override"`` (a command-line option, a test)."""

    setting: Setting
    value: Any
    origin: str


def resolve(overrides: dict[str, Any] | None = None, environ=None) -> list[Resolved]:
    """Every declared setting's effective value and origin, in table order (``ssikg settings``
    shows them; :func:`load_settings` keeps the values)."""
    environ = os.environ if environ is None else environ
    report_unknown_variables(environ)
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return [_resolve_one(setting, overrides, environ) for setting in SETTINGS]


def _resolve_one(setting: Setting, overrides: dict[str, Any], environ) -> Resolved:
    if setting.name in overrides:
        raw, origin = overrides[setting.name], "override"
    elif setting.env in environ:
        raw, origin = environ[setting.env], setting.env
    else:
        return Resolved(setting, setting.default, "default")
    try:
        return Resolved(setting, raw if raw is None else setting.convert(raw), origin)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {setting.name} (from {origin}): {exc}") from None


# SSIKG_* variables the project reads that are not settings: the test suite's switches
# (tests/conftest.py; .ci/run sets SSIKG_REQUIRE_SYSTEM_TOOLS).  They are not misspelt settings.
NON_SETTING_VARIABLES = frozenset({"SSIKG_REQUIRE_SYSTEM_TOOLS", "SSIKG_TEST_BACKEND"})

# Settings whose value ``ssikg settings`` never prints.
SECRET_SETTINGS = frozenset({"update_token", "backend_password", "backend_token"})

_log = logging.getLogger("ssikg.settings")
_reported_variables: set[str] = set()


def unknown_variables(environ) -> list[str]:
    """One message per ``SSIKG_*`` variable of ``environ`` that names no setting (a typo
    would otherwise leave its setting at the default without a word), with the closest
    setting's variable when one is close.  The prefix is matched in any case, as a
    lower-case ``ssikg_query_timeout`` is just as ignored."""
    known = {setting.env for setting in SETTINGS} | NON_SETTING_VARIABLES
    messages = []
    for name in sorted(environ):
        if not name.upper().startswith("SSIKG_") or name in known:
            continue
        # compared without the shared SSIKG_ prefix, which would make any name look close
        close = difflib.get_close_matches(name[len("SSIKG_"):].lower(), list(_BY_NAME), n=1)
        hint = f" (did you mean {_BY_NAME[close[0]].env}?)" if close else " ('ssikg settings' lists the settings)"
        messages.append(f"{name} is not a setting{hint}; ignored")
    return messages


def report_unknown_variables(environ=None) -> None:
    """Warn about each unknown ``SSIKG_*`` variable once per process: every command and every
    app loads the settings, some more than once, and gunicorn's workers are forks of the
    ``ssikg serve`` process that already said it.  The ``ssikg`` log goes to stderr (Python's
    last-resort handler when nothing is configured)."""
    environ = os.environ if environ is None else environ
    for message in unknown_variables(environ):
        if message not in _reported_variables:
            _reported_variables.add(message)
            _log.warning("warning: %s", message)

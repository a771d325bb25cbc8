"""The query workers' allocator: jemalloc or mimalloc preloaded when installed (the
benchmark measured heavy queries taking 5–20 % less time than on glibc's malloc), the system's
malloc on request, and a clear refusal when a named allocator is missing.

.ci/run installs both (Debian libjemalloc2, libmimalloc2.0); elsewhere the tests that
need one skip unless SSIKG_REQUIRE_SYSTEM_TOOLS is set.
"""

from __future__ import annotations

import ctypes.util
from pathlib import Path

import pytest
import requests
from conftest import require_tool, run_cli
from test_safety_limits import JSON

from ssikg import workers
from ssikg.workers import AllocatorMissing, find_allocator


def worker_maps(app) -> str:
    """The memory map of the app's (only busy-then-idle) query workers, concatenated."""
    pool = app.extensions["ssikg.executor"].pool
    return "".join(Path(f"/proc/{worker.pid}/maps").read_text() for worker in pool._idle)


def ask(server) -> None:
    response = requests.get(f"{server.url}/sparql", params={"query": "ASK { ?s a ?type }"}, headers=JSON,
                            timeout=60)
    assert response.status_code == 200 and response.json()["boolean"] is True


@pytest.mark.parametrize("name", ["jemalloc", "mimalloc"])
def test_workers_preload_the_allocator_asked_for(name, make_app, serve_app):
    require_tool(ctypes.util.find_library(name) is not None, f"lib{name} ({workers.ALLOCATORS[name][1]})")
    app = make_app(worker_allocator=name, result_cache_mb=0)
    ask(serve_app(app))
    maps = worker_maps(app)
    assert f"lib{name}" in maps
    other = "mimalloc" if name == "jemalloc" else "jemalloc"
    assert f"lib{other}" not in maps


def test_auto_prefers_jemalloc_and_system_preloads_nothing(make_app, serve_app):
    require_tool(ctypes.util.find_library("jemalloc") is not None, "libjemalloc (libjemalloc2)")
    assert find_allocator("auto") == ("jemalloc", ctypes.util.find_library("jemalloc"))
    assert find_allocator("system") == ("system", None)
    app = make_app(worker_allocator="system", result_cache_mb=0)
    ask(serve_app(app))
    maps = worker_maps(app)
    assert maps and "libjemalloc" not in maps and "libmimalloc" not in maps


def test_a_named_allocator_that_is_missing_is_refused_with_the_package_to_install(monkeypatch):
    monkeypatch.setitem(workers.ALLOCATORS, "mimalloc", ("ssikg-no-such-allocator", "libmimalloc2.0"))
    find_allocator.cache_clear()
    monkeypatch.setattr(workers, "find_allocator", find_allocator.__wrapped__)  # no stale answer left behind
    with pytest.raises(AllocatorMissing, match="apt-get install libmimalloc2.0"):
        workers.find_allocator("mimalloc")
    assert workers.find_allocator("auto")[0] in ("jemalloc", "system")  # auto never fails
    # An allocator ssikg does not know is a settings error, said in one line by the CLI.
    refused = run_cli("serve", env={"SSIKG_WORKER_ALLOCATOR": "tcmalloc"})
    assert refused.returncode != 0 and "worker_allocator" in refused.stderr
    assert "Traceback" not in refused.stderr

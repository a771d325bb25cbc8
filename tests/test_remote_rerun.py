"""The endpoint, linked-data and stored-query suites, run a second time with every app
serving its store through a real ``oxigraph serve`` process and the remote backend.

Running them in a subprocess keeps one test command for everything: the session
fixture that switches the backend (``SSIKG_TEST_BACKEND=oxigraph`` in conftest)
must apply from the start of a pytest session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import require_tool

SUITES = ("tests/test_protocol.py", "tests/test_graph_store.py", "tests/test_conneg.py",
          "tests/test_service_description.py", "tests/test_linked_data.py",
          "tests/test_stored_queries.py", "tests/test_competency.py")

# What the remote backend does differently on purpose (README "Remote backends and scale-out"),
# checked over it by tests/test_remote_hardening.py instead:
NOT_OVER_A_REMOTE_ENGINE = (
    # no 304 from a version that cannot see the engine's own changes
    "tests/test_graph_store.py::test_get_conditional_304",
    "tests/test_service_description.py::test_description_is_conditional",
    "tests/test_service_description.py::test_the_void_description_negotiates_and_revalidates",
    "tests/test_linked_data.py::test_head_and_conditional_get",
    "tests/test_linked_data.py::test_graph_documents_stream_the_stores_graph",
    # writes into the default graph are refused: no query would see them
    "tests/test_graph_store.py::test_w3c_put__default_graph",
    "tests/test_graph_store.py::test_w3c_get_of_put__default_graph",
    "tests/test_graph_store.py::test_post_of_trig_without_graph_loads_each_graph",
    # it empties PATH, under which the harness then starts the oxigraph CLI for its app
    "tests/test_linked_data.py::test_the_chart_page_says_graphviz_is_missing_in_the_page_language",
)


def test_suites_pass_over_an_oxigraph_serve_backend(project_root):
    require_tool(shutil.which("oxigraph") is not None, "the oxigraph CLI (PyPI package oxigraph)")
    env = {**os.environ, "SSIKG_TEST_BACKEND": "oxigraph"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *SUITES,
         *(f"--deselect={test}" for test in NOT_OVER_A_REMOTE_ENGINE)],
        cwd=project_root, env=env, capture_output=True, text=True, timeout=1200)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary

"""A wheel is a whole product: installed anywhere (not a clone, not editable), ``ssikg``
builds the same store from the sources the wheel carries, keeps it in the user's data folder
and serves its pages and assets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import free_port, stop_process, wait_for_http

from ssikg.settings import PROJECT_ROOT
from ssikg.store import open_store

SHIPPED = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
TREES = ("ssikg", "ontology", "data", "queries")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """The wheel built from a copy of the tree (the build writes beside its sources), installed
    into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    tree = _mkdir(work / "tree")
    for name in SHIPPED:
        shutil.copy2(PROJECT_ROOT / name, tree / name)
    for name in TREES:
        shutil.copytree(PROJECT_ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(work / "dist"), str(tree)],
                           capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (work / "dist").glob("ssikg-*.whl")
    target = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return wheel, target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _canonical(store) -> set:
    """The store's quads with blank nodes named canonically (each build names them afresh)."""
    dataset = ox.Dataset(store.quads())
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def _environment(site: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSIKG_") and k != "XDG_DATA_HOME"}
    return {**env, "PYTHONPATH": str(site), "HOME": str(home)}


def _ssikg(site: Path, home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ssikg", *args], cwd=cwd, env=_environment(site, home),
                          capture_output=True, text=True, timeout=120)


def test_the_wheel_carries_the_sources_pages_and_assets(installed):
    wheel, _site = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("ontology", "data", "queries"):
        expected = {p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / folder).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts}
        assert {f"ssikg/_sources/{name}" for name in expected} <= names, folder
    assert "ssikg/_sources/data/source/page.txt" in names
    assert "ssikg/templates/entity.html" in names
    assert "ssikg/static/vendor/yasgui/yasgui.min.js" in names


def test_an_installed_wheel_builds_the_same_store_in_the_users_data_folder(installed, built_store, tmp_path):
    _wheel, site = installed
    home, elsewhere = _mkdir(tmp_path / "home"), _mkdir(tmp_path / "elsewhere")
    done = _ssikg(site, home, elsewhere, "build")
    assert done.returncode == 0, done.stderr
    store_path = home / ".local" / "share" / "ssikg" / "store"
    assert f"built {store_path}" in done.stdout + done.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written where the command ran

    built, reference = open_store(store_path, read_only=True), open_store(built_store, read_only=True)
    try:
        assert _canonical(built) == _canonical(reference)
    finally:
        built.close()
        reference.close()

    listed = _ssikg(site, home, elsewhere, "queries", "list")
    assert listed.returncode == 0 and "cq01-hosted-service-name" in listed.stdout
    checked = _ssikg(site, home, elsewhere, "validate")
    assert checked.returncode == 0 and "conforms" in checked.stdout


def test_an_installed_wheel_serves_pages_and_assets(installed, tmp_path):
    _wheel, site = installed
    home, elsewhere = _mkdir(tmp_path / "home"), _mkdir(tmp_path / "elsewhere")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--port", str(port)], cwd=elsewhere,
                              env=_environment(site, home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=90, process=server)
        page = requests.get(f"http://127.0.0.1:{port}/id/ssi-be", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "Belgique" in page.text
        script = requests.get(f"http://127.0.0.1:{port}/static/vendor/yasgui/yasgui.min.js", timeout=30)
        assert script.status_code == 200 and len(script.content) > 100_000
        answer = requests.get(f"http://127.0.0.1:{port}/sparql", params={"query": "ASK { ?s ?p ?o }"},
                              headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert answer.json()["boolean"] is True
    finally:
        stop_process(server)
    assert (home / ".local" / "share" / "ssikg" / "store").is_symlink()

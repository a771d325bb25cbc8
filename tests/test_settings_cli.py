"""Settings that are wrong say so: a misspelt SSIKG_* variable is a warning naming the closest
setting, a count of 0 that would be served as 1 is refused, and ``ssikg settings`` shows the
effective values (and refuses a malformed one as ``ssikg serve`` does)."""

from __future__ import annotations

import logging

import pytest
import requests
from conftest import run_cli

import ssikg.settings
from ssikg.settings import PROJECT_ROOT, SettingsError, load_settings, unknown_variables

MISSPELT = "warning: SSIKG_QUERY_TIMOUT is not a setting (did you mean SSIKG_QUERY_TIMEOUT?); ignored"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_an_app_warns_once_of_a_misspelt_variable_and_keeps_the_default(make_app, serve_app, monkeypatch):
    monkeypatch.setenv("SSIKG_QUERY_TIMOUT", "5")
    monkeypatch.setattr(ssikg.settings, "_reported_variables", set())  # earlier tests may have said it
    collect = _Collect()
    logger = logging.getLogger("ssikg.settings")
    logger.addHandler(collect)
    try:
        app = make_app()
        make_app()  # a second app in the process (gunicorn's workers are forks) does not repeat it
    finally:
        logger.removeHandler(collect)
    assert collect.messages == [MISSPELT]
    limits = requests.get(serve_app(app).url + "/limits", timeout=10).json()
    assert limits["query_timeout"] == 30.0


def test_only_variables_naming_nothing_are_reported():
    assert unknown_variables({"SSIKG_QUERY_TIMEOUT": "5", "PATH": "/bin",
                              "SSIKG_TEST_BACKEND": "oxigraph", "SSIKG_REQUIRE_SYSTEM_TOOLS": "1"}) == []
    assert unknown_variables({"ssikg_in_memroy": "1", "SSIKG_COLOUR": "blue"}) == [
        "SSIKG_COLOUR is not a setting ('ssikg settings' lists the settings); ignored",
        "ssikg_in_memroy is not a setting (did you mean SSIKG_IN_MEMORY?); ignored"]


@pytest.mark.parametrize("name", ["MAX_CONCURRENT_QUERIES", "MAX_CONCURRENT_VALIDATIONS", "RETRY_AFTER"])
def test_a_count_of_zero_is_refused_not_served_as_one(name):
    # 0 was quietly served as 1: no slot (or a Retry-After of 0) has no meaning here
    with pytest.raises(SettingsError, match=f"SSIKG_{name}.*must be at least 1, got '0'"):
        load_settings(environ={f"SSIKG_{name}": "0"})
    assert load_settings(environ={f"SSIKG_{name}": "1"})[name.lower()] == 1


def test_serve_warns_of_a_misspelt_variable_and_refuses_zero_queries():
    served = run_cli("serve", "--port", "18502", timeout=60, env={
        "SSIKG_QUERY_TIMOUT": "5", "SSIKG_MAX_CONCURRENT_QUERIES": "0",
        # were the 0 accepted, serve would stop here (exit 1) instead of serving
        "SSIKG_WORKER_ALLOCATOR": "tcmalloc"})
    assert served.returncode == 2, served.stderr
    assert served.stderr.count(MISSPELT) == 1
    assert ("Error: setting max_concurrent_queries (from SSIKG_MAX_CONCURRENT_QUERIES): "
            "must be at least 1, got '0'") in served.stderr


def test_settings_shows_effective_values_and_where_they_came_from(tmp_path):
    shown = run_cli("settings", env={"SSIKG_QUERY_TIMEOUT": "5", "SSIKG_STORE": str(tmp_path / "st"),
                                     "SSIKG_UPDATE_TOKEN": "s3cret-token", "SSIKG_QUERY_TIMOUT": "5"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "query_timeout = 5.0  (from SSIKG_QUERY_TIMEOUT; default 30.0)" in lines
    assert f"store = {tmp_path / 'st'}  (from SSIKG_STORE; default unset)" in lines
    assert "update_token = set (hidden)  (from SSIKG_UPDATE_TOKEN; default unset)" in lines
    assert "max_rows = 0  (default; set with SSIKG_MAX_ROWS)" in lines
    assert "s3cret-token" not in shown.stdout
    assert "PosixPath" not in shown.stdout and "None" not in shown.stdout
    assert MISSPELT in shown.stderr


def test_settings_refuses_a_malformed_value_as_serve_does():
    env = {"SSIKG_QUERY_TIMEOUT": "abc"}
    shown, served = run_cli("settings", env=env), run_cli("serve", "--port", "18503", env=env)
    assert shown.returncode == served.returncode == 2
    error = "Error: setting query_timeout (from SSIKG_QUERY_TIMEOUT): could not convert string to float: 'abc'"
    assert shown.stderr.splitlines()[-1] == served.stderr.splitlines()[-1] == error
    listed = run_cli("queries", "list", env=env)  # it ended in a traceback (exit 1)
    assert listed.returncode == 2 and listed.stderr.splitlines()[-1] == error
    # the README's table documents the defaults, whatever this environment says
    documented = run_cli("settings", "--markdown", env=env)
    assert documented.returncode == 0 and "| `query_timeout` | 30.0 |" in documented.stdout
    assert "| `source_dir` | the project folder |" in documented.stdout and str(PROJECT_ROOT) not in documented.stdout

"""Production serving: gunicorn with one process and many threads.

One process because only one process may open the on-disk store read-write;
threads because pyoxigraph releases the GIL while it evaluates, iterates and
serialises, so threads do run queries in parallel.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, overrides: dict[str, Any], options: dict[str, Any]):
        self._overrides = overrides
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self._overrides)


def gunicorn_options(host: str, port: int, threads: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 0,  # queries have their own deadline; gunicorn must not kill a busy worker
        "keepalive": 5,
        "accesslog": "-",
    }


def run_gunicorn(overrides: dict[str, Any], *, host: str, port: int, threads: int) -> None:
    _Gunicorn(overrides, gunicorn_options(host, port, threads)).run()

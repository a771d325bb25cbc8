"""WSGI entry point: ``gunicorn server:app`` serves the embedded default."""

from ssikg.app import create_app

app = create_app()

"""Placeholder blueprint for the stored_queries views (being written)."""

from flask import Blueprint

bp = Blueprint("stored_queries", __name__)

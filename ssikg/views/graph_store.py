"""Placeholder blueprint for the graph_store views (being written)."""

from flask import Blueprint

bp = Blueprint("graph_store", __name__)

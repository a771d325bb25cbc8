"""Placeholder blueprint for the ops views (being written)."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

"""Placeholder blueprint for the resources views (being written)."""

from flask import Blueprint

bp = Blueprint("resources", __name__)

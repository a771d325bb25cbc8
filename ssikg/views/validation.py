"""Placeholder blueprint for the validation views (being written)."""

from flask import Blueprint

bp = Blueprint("validation", __name__)

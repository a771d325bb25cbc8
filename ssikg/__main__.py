"""``python -m ssikg`` runs the command line."""

from .cli import main

main()

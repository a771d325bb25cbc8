"""The ``ssikg validate`` command: check the store or RDF files against the SHACL shapes.

Exit codes: 0 the data conforms, 1 it has violations, 2 usage, parse or store
errors, or a store above ``validate_max_triples`` (refused in one line unless
``--no-limit``).  The text report is grouped by focus node and ends with a one-line
summary; with ``--format json`` or ``turtle`` standard output holds only the
report and the summary goes to standard error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .settings import SettingsError, load_settings
from .store import StoreError, ensure_built, open_store
from .validation import (
    ValidationInputError,
    check_triple_limit,
    load_shapes,
    quads_from_files,
    quads_from_store,
    read_page_texts,
    undeclared_rules,
    validate_quads,
)

EXIT_CONFORMS, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(EXIT_ERROR)


@click.command("validate")
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Validate this built store folder (default: the project's store, built if needed).")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="en", show_default=True,
              help="Language of the messages and labels.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "turtle"]), default="text",
              show_default=True, help="text: grouped by focus node; json: summary and results; "
                                      "turtle: the sh:ValidationReport graph.")
@click.option("--page", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Page text that quotes must be verbatim substrings of (default: data/source/page.txt).")
@click.option("--shapes", "shapes_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Shapes file (default: ontology/shapes.ttl).")
@click.option("--no-limit", is_flag=True,
              help="Validate a store even above the validate_max_triples setting (it may take long).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def cli_command(store, lang, fmt, page, shapes_path, no_limit, files):
    """Validate the knowledge graph against the SHACL shapes (ontology/shapes.ttl).

    \b
    ssikg validate                       the project's store (built when missing or stale)
    ssikg validate --store DIR           a built store
    ssikg validate data/ more.ttl        RDF files or folders, any syntax (TriG, N-Quads,
                                         Turtle, N-Triples, JSON-LD, RDF/XML); named graphs kept

    A store above the validate_max_triples setting (default 250,000) is refused
    (exit 2) unless --no-limit is given.

    Exit status: 0 conforms, 1 violations, 2 usage or parse errors, or a store too large.
    """
    if store is not None and files:
        raise click.UsageError("give either --store or FILES, not both")
    try:
        settings = load_settings({"store": store} if store is not None else {})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        shapes = load_shapes(shapes_path) if shapes_path else load_shapes(
            settings.source_dir / "ontology" / "shapes.ttl")
        page_texts = read_page_texts(page, source_dir=settings.source_dir)
        if files:
            missing = [str(f) for f in files if not f.exists()]
            if missing:
                raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
            report = validate_quads(quads_from_files(files), page_texts=page_texts, shapes=shapes)
            _suggest_the_data(report, files, settings.source_dir)
        else:
            limit = 0 if no_limit else settings.validate_max_triples
            report = _validate_store(settings, explicit=store is not None, page_texts=page_texts,
                                     shapes=shapes, limit=limit)
    except ValidationInputError as exc:
        _error(str(exc))
    _print(report, fmt, lang)
    sys.exit(EXIT_CONFORMS if report.conforms else EXIT_VIOLATIONS)


def _suggest_the_data(report, files, source_dir: Path) -> None:
    """Files validated without the project's data cannot see what it declares: say how to add it."""
    rules = undeclared_rules(report)
    given = {Path(f).resolve() for f in files}
    data = (source_dir / "data").resolve()
    if rules and data not in given:
        report.notes.append(f"note: {', '.join(rules)} found resources or terms these files use but do not "
                            f"declare; the project's data may declare them: pass data/ (and ontology/) too, "
                            f"e.g. ssikg validate data/ ontology/ {' '.join(str(f) for f in files)}")


def _validate_store(settings, *, explicit: bool, page_texts, shapes, limit: int):
    path = settings.store_path
    try:
        if not explicit:
            ensure_built(path, settings.source_dir, progress=lambda m: click.echo(m, err=True))
        graph_store = open_store(path, read_only=True)
    except StoreError as exc:
        _error(str(exc))
    try:
        check_triple_limit(len(graph_store), limit, f"the store {path}",
                           hint="pass --no-limit to validate it anyway (it may take long)")
        return validate_quads(quads_from_store(graph_store.quads()), page_texts=page_texts, shapes=shapes)
    finally:
        graph_store.close()


def _print(report, fmt: str, lang: str) -> None:
    if fmt == "text":
        click.echo(report.text(lang), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(lang), ensure_ascii=False, indent=2))
    else:
        sys.stdout.buffer.write(report.serialize("turtle"))
        sys.stdout.buffer.flush()
    click.echo(report.summary(lang), err=True)

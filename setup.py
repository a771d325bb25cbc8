"""Packaging hook: a wheel carries the store's sources.

``ontology/``, ``data/`` and ``queries/`` stay at the top of the repository (where maintainers
edit them); a non-editable install (``pip install .``, a wheel, ``pipx``) gets a copy of them in
``ssikg/_sources/`` so that ``ssikg serve`` builds the same store anywhere.  An editable install
reads them from the checkout instead (:func:`ssikg.settings.default_source_dir`)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE_FOLDERS = ("ontology", "data", "queries")


class BuildWithSources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ssikg" / "_sources"
        shutil.rmtree(target, ignore_errors=True)  # a file removed from the sources leaves the wheel too
        for name in SOURCE_FOLDERS:
            self.copy_tree(str(Path(name)), str(target / name))


setup(cmdclass={"build_py": BuildWithSources})

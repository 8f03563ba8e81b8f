"""Where the files shimimg reads at run time live (Dockerfile template, the shim).

A wheel carries ``dockerfiles/`` inside the package (see pyproject's force-include); a source
checkout (editable install, tests) reads the repository's own ``dockerfiles/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def dockerfiles_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "dockerfiles", here.parent.parent / "dockerfiles"):
        if (candidate / "image" / "Dockerfile.tmpl").is_file():
            return candidate
    raise RuntimeError(
        f"shimimg's dockerfiles/ are missing beside {here}: the installation is broken; reinstall shimimg"
    )


def shim_path() -> Path:
    return dockerfiles_dir() / "shim" / "bootstrap"


def dockerfile_template() -> Path:
    return dockerfiles_dir() / "image" / "Dockerfile.tmpl"


def unzip_source() -> Path:
    """The extractor a --sam-build Dockerfile of a zip package runs (see dockerfiles/sambuild/)."""
    return dockerfiles_dir() / "sambuild" / "unzip.go"

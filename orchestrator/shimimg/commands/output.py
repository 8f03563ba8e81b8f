"""Where a migrated template goes, and writing it safely.

The default is ``.shimimg/build/<template file name>`` beside the template (as ``sam build``
writes ``.aws-sam/build/template.yaml``), so two templates in one folder never share an output.
``.shimimg/`` gets a ``.gitignore`` holding ``*`` when shimimg creates it; a symlink planted in
it is refused (see ``fsutil``). An output the user names with ``-o`` may be a regular file or a
link to one; never a device, FIFO or folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.fsutil import atomic_write_text, check_output, ensure_dir, same_file, write_output
from shimimg.plan import Plan
from shimimg.template import render_migrated
from shimimg.trust import check_output_path, untrusted_roots

log = logging.getLogger("shimimg")
BUILD_DIR = Path(".shimimg") / "build"


def default_output(template: Path) -> Path:
    return template.parent / BUILD_DIR / template.name


def check(template: Path, output: Path | None) -> None:
    """Refuse a bad output before the build: a device, a FIFO, a folder, the template itself, or a
    path through a link inside the checkout (the repository may have planted it: issue 19)."""
    check_output_path(default_output(template) if output is None else output, untrusted_roots(template))
    if output is None:
        return
    if same_file(output, template):
        raise ShimimgError(f"--output {output} is the template itself",
                           hint="write elsewhere, or use `shimimg migrate --in-place` (keeps a .bak)")
    check_output(output)


def write(template: Path, output: Path | None, text: str) -> Path:
    """Write ``text`` to ``output`` (the user's) or the default place; returns where."""
    # Again right before writing: minutes of building lie between ``check`` and here.
    check_output_path(default_output(template) if output is None else output, untrusted_roots(template))
    if output is not None:
        if same_file(output, template):
            raise ShimimgError(f"--output {output} is the template itself",
                               hint="write elsewhere, or use `shimimg migrate --in-place` (keeps a .bak)")
        write_output(output, text)
        return output
    out = default_output(template)
    ensure_dir(template.parent, *BUILD_DIR.parts, what="build output", gitignore_first=True)
    atomic_write_text(out, text)
    return out


def report_relocations(moved: Sequence[tuple[str, str]], out: Path) -> None:
    """Relative paths (CodeUri, DefinitionUri, ...) the rewrite pointed at the same place from ``out``."""
    if moved:
        pairs = ", ".join(f"{old} → {new}" for old, new in list(dict.fromkeys(moved))[:8])
        log.info("paths rewritten to work from %s: %s%s", out.parent, pairs, " ..." if len(moved) > 8 else "")


def write_template(doc: Any, plan: Plan, image_uris: Mapping[Path, str], settings: Settings, template: Path,
                   output: Path | None, *, only: Sequence[str] = ()) -> Path:
    """The last stage: the migrated template, written atomically; returns where."""
    target = output if output is not None else default_output(template)
    moved: list[tuple[str, str]] = []
    text = render_migrated(doc, plan, image_uris=image_uris, direct=settings.direct,
                           drop_layers=settings.drop_layers, output_path=target, relocations=moved)
    out = write(template, output, text)
    report_relocations(moved, out)
    return out

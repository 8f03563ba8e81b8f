"""Where a migrated template goes, and writing it safely.

Each command that writes a template has its own default place beside the template, so none
clobbers another's (issue 20):

- ``build``: ``.aws-sam/build/template.yaml``, the locally runnable template (local image tags),
  where ``sam build`` writes its output: ``sam local invoke``/``start-api``/``start-lambda`` run
  from the template's folder find it without ``-t`` (SAM searches ``.aws-sam/build/template.yaml``
  before ``template.yaml``), and read that folder's samconfig.toml.
- ``push``/``pin``: ``.shimimg/pinned/<template file name>``, the deployable template pinned to
  registry digests (SAM's local commands refuse an ECR image they must pull).
- ``migrate``: ``.shimimg/migrated/<template file name>``, the template with placeholder ImageUris.

A folder shimimg creates (``.aws-sam/``, ``.shimimg/``) gets a ``.gitignore`` holding ``*``; a
symlink planted in it is refused (see ``fsutil``). An output the user names with ``-o`` may be a
regular file or a link to one; never a device, FIFO or folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.fsutil import atomic_write_text, check_output, ensure_dir, same_file, write_output
from shimimg.plan.records import Plan
from shimimg.template import render_migrated
from shimimg.trust import check_output_path, untrusted_roots

log = logging.getLogger("shimimg")
Kind = Literal["build", "pinned", "migrated"]
# SAM's own build folder and file name (samcli/commands/_utils/constants.py: DEFAULT_BUILT_TEMPLATE_PATH).
SAM_BUILD_DIR = Path(".aws-sam") / "build"
SAM_BUILT_TEMPLATE = "template.yaml"
SHIMIMG_DIRS: dict[str, Path] = {"pinned": Path(".shimimg") / "pinned", "migrated": Path(".shimimg") / "migrated"}


def _folder(kind: Kind) -> Path:
    return SAM_BUILD_DIR if kind == "build" else SHIMIMG_DIRS[kind]


def default_output(template: Path, kind: Kind = "build") -> Path:
    """SAM always names its built template template.yaml (YAML reads JSON too), whatever the
    source's name: two templates in one folder share it, as with `sam build`; use -o for one."""
    if kind == "build":
        return template.parent / SAM_BUILD_DIR / SAM_BUILT_TEMPLATE
    return template.parent / SHIMIMG_DIRS[kind] / template.name


def check(template: Path, output: Path | None, kind: Kind = "build") -> None:
    """Refuse a bad output before the build: a device, a FIFO, a folder, the template itself, or a
    path through a link inside the checkout (the repository may have planted it: issue 19)."""
    check_output_path(default_output(template, kind) if output is None else output, untrusted_roots(template))
    if output is None:
        return
    if same_file(output, template):
        raise ShimimgError(f"--output {output} is the template itself",
                           hint="write elsewhere, or use `shimimg migrate --in-place` (keeps a .bak)")
    check_output(output)


def write(template: Path, output: Path | None, text: str, kind: Kind = "build") -> Path:
    """Write ``text`` to ``output`` (the user's) or ``kind``'s default place; returns where."""
    # Again right before writing: minutes of building lie between ``check`` and here.
    check_output_path(default_output(template, kind) if output is None else output, untrusted_roots(template))
    if output is not None:
        if same_file(output, template):
            raise ShimimgError(f"--output {output} is the template itself",
                               hint="write elsewhere, or use `shimimg migrate --in-place` (keeps a .bak)")
        write_output(output, text)
        return output
    out = default_output(template, kind)
    ensure_dir(template.parent, *_folder(kind).parts, what=f"{kind} output", gitignore_first=True)
    atomic_write_text(out, text)
    return out


def report_relocations(moved: Sequence[tuple[str, str]], out: Path) -> None:
    """Relative paths (CodeUri, DefinitionUri, ...) the rewrite pointed at the same place from ``out``."""
    if moved:
        pairs = ", ".join(f"{old} → {new}" for old, new in list(dict.fromkeys(moved))[:8])
        log.info("paths rewritten to work from %s: %s%s", out.parent, pairs, " ..." if len(moved) > 8 else "")


def write_template(doc: Any, plan: Plan, image_uris: Mapping[Path, str], settings: Settings, template: Path,
                   output: Path | None, *, only: Sequence[str] = (), kind: Kind = "build") -> Path:
    """The last stage: the migrated template, written atomically; returns where."""
    target = output if output is not None else default_output(template, kind)
    moved: list[tuple[str, str]] = []
    text = render_migrated(doc, plan, image_uris=image_uris, direct=settings.direct,
                           drop_layers=settings.drop_layers, output_path=target, relocations=moved)
    out = write(template, output, text, kind)
    report_relocations(moved, out)
    return out

"""``shimimg build``: the main job, as one ordered list of stages.

template → plan → per package: binaries → image → rewritten template (atomic write).
``invoke`` and ``push`` reuse ``build_images``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shimimg import binaries as binmod
from shimimg import config, dockercli, ui
from shimimg.cache import Store
from shimimg.errors import ShimimgError
from shimimg.fsutil import atomic_write_text, same_file
from shimimg.image.build import ImageResult, build_image
from shimimg.plan import Plan
from shimimg.template import check_migratable, discover, load_document, render_migrated
from shimimg.vcs import revision

log = logging.getLogger("shimimg.build")


@dataclass(frozen=True)
class BuildResult:
    plan: Plan
    images: tuple[ImageResult, ...]
    settings: config.Settings


def load_plan(template: Path, settings: config.Settings):
    doc = load_document(template)
    plan = discover(doc, arch=settings.arch)
    # Before any compiling: the same refusals migrate gives (unbuildable functions, Layers).
    check_migratable(doc, plan, settings.drop_layers)
    if not plan.packages:
        raise ShimimgError(
            f"{template}: no Go functions with a binary Handler (go1.x or provided.* with Handler: bin/<name>) found",
            hint="check the template path (-t), or run `shimimg plan` to see what shimimg finds",
        )
    return doc, plan


def build_images(template: Path, settings: config.Settings) -> tuple[Any, BuildResult]:
    doc, plan = load_plan(template, settings)
    # Fail fast, before minutes of compiling, when the engine or buildx is missing.
    dockercli.buildx(settings.builder)
    store = Store(settings.cache_dir)
    rev = revision(template.parent)
    with store.locked():
        results = []
        progress = ui.Progress(len(plan.packages))
        for pkg in plan.packages:
            t0 = time.monotonic()
            progress.start(pkg.code_uri)
            progress.step(f"binaries for {len(pkg.functions)} function(s)")
            bins = binmod.collect(
                pkg,
                store=store,
                prebuilt=settings.prebuilt,
                allow_dynamic=settings.allow_dynamic,
                go_tags=settings.go_tags,
                mapping=settings.handlers,
            )
            progress.step("image")
            img = build_image(
                pkg,
                bins,
                base=settings.base_ref,
                direct=settings.direct,
                store=store,
                rev=rev,
                builder=settings.builder,
                cache_from=settings.cache_from,
                cache_to=settings.cache_to,
                compression_level=settings.compression_level,
            )
            if bins.source == "go build":
                how = f"{bins.compiled} compiled, {bins.reused} unchanged"
            else:
                how = f"{len(bins.files)} prebuilt"
            state = "cached, nothing changed" if img.cached and not bins.compiled else "built"
            progress.done(f"{img.tag} {state} ({len(bins.files)} handler(s): {how}) in {time.monotonic() - t0:.1f}s")
            results.append(img)
    return doc, BuildResult(plan=plan, images=tuple(results), settings=settings)


def default_output(template: Path) -> Path:
    from shimimg.commands.migrate import default_output as migrate_default

    return migrate_default(template)


def write_template(
    doc: Any, plan: Plan, image_uris: Mapping[Path, str], settings: config.Settings, template: Path, output: Path | None
) -> Path:
    """The last stage: the migrated template, written atomically; returns where."""
    out = output or default_output(template)
    if same_file(out, template):
        raise ShimimgError(
            f"--output {out} is the template itself",
            hint="write elsewhere (the default is .shimimg/build/ beside it), or use `shimimg migrate --in-place`",
        )
    text = render_migrated(
        doc, plan, image_uris=image_uris, direct=settings.direct, drop_layers=settings.drop_layers, output_path=out
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out


def summary(result: BuildResult, output: Path) -> dict:
    return {
        "template": str(output),
        "images": [
            {
                "package": img.package.code_uri,
                "image": img.tag,
                "id": img.image_id,
                "digest": img.digest,
                "arch": img.package.arch,
                "cached": img.cached,
                "functions": [{"logical_id": f.logical_id, "handler": f.handler} for f in img.package.functions],
            }
            for img in result.images
        ],
    }


def run(*, template: Path, output: Path | None, flags: Mapping[str, Any], as_json: bool) -> int:
    settings = config.load(template.resolve().parent, flags)
    doc, result = build_images(template, settings)
    out = write_template(
        doc, result.plan, {img.package.path: img.tag for img in result.images}, settings, template, output
    )
    data = summary(result, out)
    if as_json:
        ui.print_json(data)
        return 0
    rows = []
    for img in data["images"]:
        for f in img["functions"]:
            rows.append([img["image"] + (" (cached)" if img["cached"] else ""), f["logical_id"], f["handler"]])
    print(ui.table(rows, ["IMAGE", "FUNCTION", "HANDLER"]))
    print(f"\ntemplate: {out}")
    return 0

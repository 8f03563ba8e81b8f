"""``shimimg build``: the main job, as one ordered list of stages.

template → plan → per module: resolve → compile (parallel) → per package: image (parallel) →
rewritten template (atomic write). ``invoke`` and ``push`` reuse ``build_images``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimimg import dockercli, gobuild, parallel, ui
from shimimg.binaries import gather as binmod
from shimimg.cache import Store
from shimimg.commands import output as outmod
from shimimg.commands.planning import load_plan, refuse_outside, select
from shimimg.config import Settings
from shimimg.image.build import ImageResult, ImageSettings, build_image
from shimimg.plan.records import Package, Plan
from shimimg.vcs import Revision, revision

log = logging.getLogger("shimimg.build")


@dataclass(frozen=True)
class BuildResult:
    plan: Plan
    images: tuple[ImageResult, ...]
    settings: Settings
    binaries: Mapping[Path, binmod.Binaries] = field(default_factory=dict)
    # Package path → BuildKit's output, for images a builder pushed straight to a registry.
    builder_pushed: Mapping[Path, str] = field(default_factory=dict)


def _binaries_label(b: binmod.Binaries) -> str:
    if b.source == "go build":
        text = f"{b.compiled} compiled, {b.reused} unchanged"
    else:
        text = f"{len(b.files)} prebuilt"
    return text + (f", {len(b.data)} other file(s)" if b.data else "")


def image_revision(template: Path, settings: Settings) -> Revision:
    """git is asked only for the opt-in labels: by default nothing of it reaches the image, so a
    commit that changes no binary changes no digest (issue 20)."""
    return revision(template.resolve().parent) if settings.label_revision else Revision()


def build_images(template: Path, settings: Settings, *, only: Sequence[str] = (),
                 push_to: Mapping[Path, Any] | None = None, loaded: tuple[Any, Plan] | None = None,
                 push_names: Mapping[Path, Sequence[str]] | None = None,
                 for_push: bool = False) -> tuple[Any, BuildResult]:
    """Build the images of the plan's packages (``only``: these CodeUris). ``push_to``: package
    path → registry target, for a builder that pushes straight to the registry. ``loaded``: the
    (document, plan) the caller already has. ``for_push``: the images go to a registry (gzip
    layers); otherwise they only run here."""
    doc, plan = loaded or load_plan(template, settings)
    selected = select(plan, only)
    refuse_outside(plan, selected, settings)
    store = Store(settings.cache_dir, template.resolve().parent, allow_in_checkout=settings.cache_in_checkout)
    opts = dataclasses.replace(ImageSettings.of(settings), for_push=for_push or push_to is not None)
    # The engine must answer (fail before minutes of compiling); a local base counts by its ID.
    base_id = dockercli.image_id(opts.base) or ""
    rev = image_revision(template, settings)
    names = [p.code_uri for p in selected]
    # buildx (and the builder) are checked while go answers: ready before any compiling starts,
    # without adding their ~0.15 s to a rebuild; a no-op (no go run, images cached) never asks.
    checked = parallel.Background(lambda: dockercli.buildx(settings.builder), start=False)
    with store.locked(), ui.Progress(names) as progress, gobuild.before_each_run(checked.start), \
            contextlib.ExitStack() as scratches:
        for p in selected:
            progress.stage(p.code_uri, "resolve")
        where = binmod.modules(selected, settings, store)
        binmod.refuse_from_source(selected, where, settings)
        found = binmod.resolve(selected, where, settings, store)
        prebuilt_pkgs = [p for p in selected if p.path not in found]
        binmod.refuse_prebuilt_include(prebuilt_pkgs, settings)

        scratch = {p.path: scratches.enter_context(store.scratch("prebuilt")) for p in prebuilt_pkgs}

        def take(pkg: Package) -> binmod.Binaries:
            progress.stage(pkg.code_uri, "binaries", "prebuilt")
            return binmod.take_prebuilt(pkg, settings, scratch[pkg.path])

        # Everything that can refuse does so before minutes of compiling: prebuilt binaries are
        # taken and checked, include lists read, and every handler's library checked first.
        taken = dict(zip([p.path for p in prebuilt_pkgs], parallel.map(take, prebuilt_pkgs, jobs=settings.parallel)))
        data = {p.path: binmod.source_data(p, settings) for p in selected if p.path in found}
        binmod.check_libraries(selected, found, {path: b.libraries for path, b in taken.items()})

        def compiling(pkg: Package, n: int) -> None:
            checked.result()  # before minutes of compiling, not after
            progress.stage(pkg.code_uri, "compile", f"{n} of {len(binmod.handlers_of(pkg))} handler(s)")

        compiled = binmod.compile_missing(selected, found, settings, store, on_compile=compiling)

        def one(pkg: Package) -> tuple[ImageResult, binmod.Binaries]:
            target = (push_to or {}).get(pkg.path)
            names = tuple((push_names or {}).get(pkg.path, ()))
            if pkg.path in compiled:
                bins = dataclasses.replace(compiled[pkg.path], data=data.get(pkg.path, ()))
            else:
                bins = taken[pkg.path]
            return _image(pkg, bins, opts, store, rev, base_id, progress, target, names), bins

        done = parallel.map(one, selected, jobs=settings.parallel)
    checked.result(required=False)
    images = tuple(img for img, _ in done)
    pushed = {img.package.path: img.builder_output for img in images if img.builder_output is not None}
    return doc, BuildResult(plan=plan, images=images, settings=settings,
                            binaries={img.package.path: b for img, b in done}, builder_pushed=pushed)


def _image(pkg: Package, bins: binmod.Binaries, opts: ImageSettings, store: Store, rev, base_id: str,
           progress: ui.Progress, target: Any, names: tuple[str, ...] = ()) -> ImageResult:
    progress.stage(pkg.code_uri, "image" if target is None else "image, pushed by the builder",
                   f"{len(bins.files)} handler(s)")
    img = build_image(pkg, bins, opts, store=store, rev=rev, base_id=base_id, push_to=target, push_names=names)
    state = "cached, nothing changed" if img.cached and not bins.compiled else "built"
    progress.done(pkg.code_uri, f"{img.tag} {state} ({len(bins.files)} handler(s): {_binaries_label(bins)})")
    return img


def _placeholders(result: BuildResult, uris: Mapping[Path, str], template: Path) -> None:
    """``--package``: the other packages keep an image reference no build made this run."""
    left = [p for p in result.plan.packages if p.path not in uris]
    if left:
        shown = ", ".join(f"{p.code_uri} ({p.image})" for p in left)
        log.warning("not built this run (--package): %d package(s) keep a placeholder ImageUri that no build made: "
                    "%s; `shimimg build -t %s` builds them all", len(left), shown, shlex.quote(str(template)))


def summary(result: BuildResult, output: Path) -> dict:
    from shimimg.commands.schema import build_document

    return build_document(result, output)


def run(*, template: Path, output: Path | None, settings: Settings, packages: Sequence[str] = (),
        as_json: bool) -> int:
    outmod.check(template, output)
    doc, result = build_images(template, settings, only=packages)
    uris = {img.package.path: img.tag for img in result.images}
    out = outmod.write_template(doc, result.plan, uris, settings, template, output, only=packages)
    _placeholders(result, uris, template)
    if as_json:
        ui.print_json(summary(result, out))
        return 0
    rows = []
    for img in result.images:
        b = result.binaries.get(img.package.path)
        for f in img.package.functions:
            rows.append([f.logical_id, f.handler, img.tag + (" (cached)" if img.cached else ""),
                         _binaries_label(b) if b else ""])
    ui.print_table(rows, ["FUNCTION", "HANDLER", "IMAGE", "BINARIES"], summary=True)
    ui.print_result(f"template: {out}")
    return 0

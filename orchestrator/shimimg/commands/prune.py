"""``shimimg prune``: remove shimimg's own old local images and cache entries beyond the last N
builds of each package of this template (issue 20).

Only what this project's build history names is considered (``cache.Store.history``), and an
image is removed only when it still carries shimimg's label under a ``shimimg/`` name: never
another tool's image, nor another checkout's current one. Removal is never forced (an image a
container uses stays). A cached binary goes only when no remembered build of any project uses it.
``--dry-run`` says what would go and removes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from shimimg import dockercli, ui
from shimimg.cache import Store
from shimimg.config import Settings
from shimimg.errors import ShimimgError

log = logging.getLogger("shimimg.prune")
OWN_LABEL = "io.shimimg.handlers"


@dataclass(frozen=True)
class Removal:
    kind: str  # "image" or "binary"
    name: str
    detail: str = ""


def _size(folder: Path) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(folder) for f in files)


def plan_removals(store: Store, keep: int) -> list[Removal]:
    """What to remove for this project, images first."""
    out: list[Removal] = []
    kept_tags: set[str] = set()
    dropped_binaries: set[str] = set()
    for slug in store.slugs():
        history = store.history(slug)
        kept, old = history[-keep:], history[:-keep]
        kept_tags |= {e["tag"] for e in kept}
        for entry in old:
            if entry["tag"] in kept_tags:
                continue
            out.append(Removal("image", entry["tag"], f"{slug}, built {entry.get('at', '?')}"))
            dropped_binaries |= set(entry.get("binaries") or [])
    # Binaries are shared: one stays while any remembered build of any project, beyond the ones
    # dropped here, uses it.
    dropped_tags = {r.name for r in out}
    used = {k for e in store.all_histories() if e.get("tag") not in dropped_tags for k in e.get("binaries") or []}
    for key in sorted(dropped_binaries - used):
        if store.binary_entry(key) is not None:
            out.append(Removal("binary", key))
    return out


def run(*, template: Path, settings: Settings, keep: int, dry_run: bool) -> int:
    if keep < 1:
        raise ShimimgError(f"--keep {keep}: keep at least the last build (1)", hint="e.g. --keep 3")
    store = Store(settings.cache_dir, template.resolve().parent)
    rows = []
    images = binaries = freed = 0
    with store.locked():
        removals = plan_removals(store, keep)
        for r in removals:
            if r.kind == "image":
                labels = dockercli.image_labels(r.name)
                if labels is None:
                    continue  # gone already (removed by hand, or docker image prune)
                if OWN_LABEL not in labels or not r.name.startswith("shimimg/"):
                    rows.append([r.kind, r.name, "kept: not an image shimimg built"])
                    continue
                if dry_run:
                    rows.append([r.kind, r.name, "would remove"])
                    images += 1
                    continue
                ok, why = dockercli.remove_image(r.name)
                rows.append([r.kind, r.name, "removed" if ok else f"kept: {why}"])
                images += ok
            else:
                entry = store.binary_entry(r.name)
                if entry is None:
                    continue
                size = _size(entry)
                if not dry_run:
                    store.remove_binary(entry)
                rows.append([r.kind, r.name[:24], "would remove" if dry_run else "removed"])
                binaries += 1
                freed += size
    if rows:
        ui.print_table(rows, ["KIND", "NAME", "ACTION"], summary=True)
    verb = "would remove" if dry_run else "removed"
    ui.print_result(f"{verb} {images} image(s) and {binaries} cached binar{'y' if binaries == 1 else 'ies'} "
                    f"({freed / 1024 / 1024:.1f} MiB of cache); kept the last {keep} build(s) of each package")
    return 0

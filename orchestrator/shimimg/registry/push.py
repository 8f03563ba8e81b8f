"""Push package images and pin them by digest: every package's image in one go.

Each package image lands once (``landing``), under a tag derived from its content
(``sha256-<24 hex>``) plus any ``--tag``, and every function of the package is then pinned to
``repository@sha256:...``. The caller writes the template only after ``push_all`` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from shimimg.plan.records import Package
from shimimg.registry.landing import land
from shimimg.registry.messages import UNCHANGED
from shimimg.registry.pusher import Pusher, Stats, Target
from shimimg.registry.refs import Repository, check_tags

log = logging.getLogger("shimimg.registry")


@dataclass(frozen=True)
class Pushed:
    package: Package
    repository: Repository
    digest: str
    tags: tuple[str, ...]
    stats: Stats = field(default_factory=Stats)

    @property
    def image_uri(self) -> str:
        return self.repository.pinned(self.digest)



def refuse_shared_tags(images: Sequence[ImageResult], repositories: Mapping[Path, Repository],
                       tags: Sequence[str]) -> None:
    if not tags:
        return
    by_repo: dict[str, list[str]] = {}
    for img in images:
        by_repo.setdefault(repositories[img.package.path].uri, []).append(img.package.code_uri)
    shared = {uri: pkgs for uri, pkgs in by_repo.items() if len(pkgs) > 1}
    if shared:
        raise ShimimgError(
            "--tag would name several packages' images in one repository",
            problems=[f"{uri}: {', '.join(pkgs)}" for uri, pkgs in shared.items()],
            hint="give each package its own repository (--repository PACKAGE=URI), or push without --tag",
        )


def push_all(
    images: Sequence[ImageResult],
    targets: Mapping[Path, Target],
    *,
    tags: Sequence[str] = (),
    force: bool = False,
    pusher: Pusher,
    builder_pushed: Mapping[Path, str] | None = None,
) -> list[Pushed]:
    """Push every package image once and return where each landed, by digest.

    Order, so a refusal leaves tags as they were: every image goes up under its content tag
    first; then every ``--tag`` is checked, and only when none points at another image (or
    ``force``) are they moved. ``builder_pushed``: package path → the BuildKit output of a build
    that pushed straight to the registry (the image is there by digest already).
    """
    tags = check_tags(tags)
    refuse_shared_tags(images, {p: t.repository for p, t in targets.items()}, tags)
    landed = [land(pusher, img, targets[img.package.path], force=force,
                   builder_output=(builder_pushed or {}).get(img.package.path)) for img in images]

    moves: list[tuple[ImageResult, Target, str, str]] = []
    conflicts: list[str] = []
    for img, (digest, _, _) in zip(images, landed):
        target = targets[img.package.path]
        for t in tags:
            remote = pusher.inspect(target, t)
            if remote is None:
                moves.append((img, target, digest, t))
            elif remote.digest != digest:
                conflicts.append(f"{target.repository.uri}:{t} points at {remote.digest}, "
                                 f"this build of {img.package.code_uri} is {digest}")
                if force and target.immutable:
                    raise ShimimgError(f"{target.repository.uri} has immutable tags: --force cannot move {t}; "
                                       f"{UNCHANGED}", hint="choose another --tag")
                moves.append((img, target, digest, t))
    if conflicts and not force:
        raise ShimimgError(
            f"tags already point at other images; none was moved and {UNCHANGED}", problems=conflicts,
            hint="pass --force to move them, or choose other --tag values (the images are pushed under their "
                 "content tags)",
        )
    for img, target, digest, t in moves:
        pusher.name_image(target, img, [t])
        remote = pusher.inspect(target, t)
        if remote is None or remote.digest != digest:
            raise ShimimgError(f"{target.repository.uri}:{t} does not point at {digest} after the push; {UNCHANGED}",
                               hint="run again")
        log.info("%s: tagged %s:%s", img.package.code_uri, target.repository.uri, t)

    return [Pushed(img.package, targets[img.package.path].repository, digest, (ctag, *tags), stats)
            for img, (digest, ctag, stats) in zip(images, landed)]

"""One package → one image: stage the context, render the Dockerfile, run buildx (or not).

The image key covers everything that goes into the image (the rendered Dockerfile names every
file by content hash, and carries the base and labels); when it matches the last build and that
image still exists, buildx does not run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass

from shimimg import __version__, dockercli
from shimimg.binaries import Binaries
from shimimg.cache import ImageState, Store
from shimimg.errors import ShimimgError
from shimimg.image import context as ctxmod
from shimimg.image.dockerfile import render
from shimimg.plan import DOCKER_ARCH, Package
from shimimg.resources import shim_path
from shimimg.vcs import Revision

log = logging.getLogger("shimimg.image")


@dataclass(frozen=True)
class ImageResult:
    package: Package
    tag: str
    image_id: str
    digest: str
    cached: bool


def package_slug(pkg: Package) -> str:
    repo = pkg.image.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{re.sub(r'[^a-z0-9._-]+', '-', repo.lower())}-{hashlib.sha256(str(pkg.path).encode()).hexdigest()[:8]}"


def labels(pkg: Package, rev: Revision) -> dict[str, str]:
    out = {
        "io.shimimg.handlers": ",".join(sorted({f.binary for f in pkg.functions})),
        "io.shimimg.version": __version__,
    }
    created = os.environ.get("SOURCE_DATE_EPOCH") or rev.commit_time
    if created and not created.isdigit():
        raise ShimimgError(
            f"SOURCE_DATE_EPOCH={created!r} is not a number of seconds since 1970",
            hint="set it to e.g. $(git log -1 --format=%ct), or unset it",
        )
    if created:
        from datetime import datetime, timezone

        out["org.opencontainers.image.created"] = datetime.fromtimestamp(int(created), tz=timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    if rev.commit:
        out["org.opencontainers.image.revision"] = rev.commit + ("-dirty" if rev.dirty else "")
    if rev.source:
        out["org.opencontainers.image.source"] = rev.source
    return out


def build_image(
    pkg: Package,
    binaries: Binaries,
    *,
    base: str,
    direct: bool,
    store: Store,
    rev: Revision,
    builder: str | None = None,
    cache_from: tuple[str, ...] = (),
    cache_to: tuple[str, ...] = (),
    compression_level: int | None = None,
) -> ImageResult:
    engine = dockercli.buildx(builder)
    slug = package_slug(pkg)
    ctx = ctxmod.stage(
        store.context_dir(slug),
        binaries=binaries.files,
        shim=None if direct else shim_path(),
        linkable=store.root,
        digest=store.digest,
    )
    dockerfile = render(ctx, base=base, package=pkg.code_uri, labels=labels(pkg, rev), link=engine.supports_link)
    platform = f"linux/{DOCKER_ARCH[pkg.arch]}"
    tag = pkg.image
    # A base held locally (a mirror pulled once, the stand-in) counts by its content: rebuilding it
    # must rebuild the image. A remote base counts by its reference; pin a digest to track it.
    local_base = dockercli.image_inspect(base)
    base_id = local_base.get("Id", "") if local_base else ""
    key = hashlib.sha256(
        "\0".join([dockerfile, platform, tag, builder or "", base_id, str(compression_level)]).encode()
    ).hexdigest()

    last = store.image(slug)
    if last and last.key == key:
        found = dockercli.image_inspect(tag)
        if found and found.get("Id") == last.image_id:
            return ImageResult(pkg, tag, last.image_id, last.digest, cached=True)

    if not engine.supports_link:
        log.warning(
            "%s: this engine (Docker %s) has no COPY --link: the image is correct, but layer digests "
            "will not stay stable across builds; Docker 23+ fixes that",
            pkg.code_uri,
            engine.version,
        )
    (ctx.root / "Dockerfile").write_text(dockerfile)
    log.info("%s: docker buildx build %s (%s, %d layer(s) on %s)", pkg.code_uri, tag, platform, len(ctx.layers), base)
    build_args = {"SOURCE_DATE_EPOCH": os.environ["SOURCE_DATE_EPOCH"]} if "SOURCE_DATE_EPOCH" in os.environ else {}
    built = dockercli.build(
        ctx.root,
        tag=tag,
        platform=platform,
        builder=builder,
        cache_from=cache_from,
        cache_to=cache_to,
        compression_level=compression_level,
        build_args=build_args,
        what=f"package {pkg.code_uri}",
    )
    found = dockercli.image_inspect(tag)
    image_id = found.get("Id", "") if found else ""
    store.put_image(slug, ImageState(key=key, tag=tag, image_id=image_id, digest=built.digest))
    return ImageResult(pkg, tag, image_id, built.digest, cached=False)

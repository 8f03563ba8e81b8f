"""One package → one image: stage the context, render the Dockerfile, run buildx (or not).

The image key covers everything that goes into the image (the rendered Dockerfile names every
file by content hash and carries the base and labels; the platform; a local base's image ID);
the local tag is ``shimimg/<name>:<key>``, so two packages, two checkouts or a shim and a
``--direct`` build never share a tag unless their images are the same. When the key matches
the last build and that image still exists, buildx does not run.

By default nothing from git reaches the image (issue 20): its config depends only on what is in
it (binaries, shim, base, ``LAYOUT_VERSION``), so a commit that changes no binary gives the same
digest and ``sam deploy`` updates no function. ``--label-revision`` adds the commit, its time and
the remote as OCI labels, at the price of a new digest per commit.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from shimimg import __version__, dockercli
from shimimg.binaries.gather import Binaries
from shimimg.cache import ImageState, Store
from shimimg.config import Settings
from shimimg.fsutil import atomic_write_text
from shimimg.image import buckets
from shimimg.image import context as ctxmod
from shimimg.image.dockerfile import render
from shimimg.plan.records import DOCKER_ARCH, Package
from shimimg.resources import shim_path
from shimimg.vcs import Revision

log = logging.getLogger("shimimg.image")
# The image's layout (where binaries and the shim go, the Dockerfile's shape), as a label. Bump it
# when that changes; a new shimimg release that builds the same layout keeps every digest.
LAYOUT_VERSION = "1"


@dataclass(frozen=True)
class ImageSettings:
    """What the image step needs of the settings."""

    base: str
    direct: bool
    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    compression_level: int | None = None
    source_date_epoch: int | None = None
    unpack: bool = False
    label_revision: bool = False
    # The image will be pushed from the engine: its layers must be gzip. An image that only runs
    # here keeps plain tars unless a gzip level was asked for (docs/design.md, "Compression").
    for_push: bool = False

    @property
    def uncompressed(self) -> bool:
        return not self.for_push and self.compression_level is None

    @classmethod
    def of(cls, s: Settings) -> ImageSettings:
        return cls(base=s.base_ref, direct=s.direct, builder=s.builder, cache_from=tuple(s.cache_from),
                   cache_to=tuple(s.cache_to), compression_level=s.compression_level,
                   source_date_epoch=s.source_date_epoch, unpack=s.unpack,
                   label_revision=s.label_revision)


@dataclass(frozen=True)
class ImageResult:
    package: Package
    tag: str
    image_id: str
    digest: str
    cached: bool
    # BuildKit's output when the builder pushed the image straight to a registry (no local image).
    builder_output: str | None = None


def package_slug(pkg: Package) -> str:
    repo = pkg.image.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{re.sub(r'[^a-z0-9._-]+', '-', repo.lower())}-{hashlib.sha256(str(pkg.path).encode()).hexdigest()[:8]}"


def created_epoch(opts: ImageSettings, rev: Revision) -> int:
    """The image config's "created" (BuildKit stamps it from SOURCE_DATE_EPOCH): the same inputs
    give the same image, byte for byte. SOURCE_DATE_EPOCH when set (the user's choice); with
    --label-revision the commit's time; else a fixed time, so a new commit alone changes nothing."""
    if opts.source_date_epoch is not None:
        return opts.source_date_epoch
    if opts.label_revision and rev.commit_time.isdigit():
        return int(rev.commit_time)
    return ctxmod.FIXED_MTIME


def labels(pkg: Package, rev: Revision, epoch: int, *, with_revision: bool = False) -> dict[str, str]:
    out = {
        "io.shimimg.handlers": ",".join(sorted({f.binary for f in pkg.functions})),
        "io.shimimg.layout": LAYOUT_VERSION,
    }
    if not with_revision:
        return out
    out["io.shimimg.version"] = __version__
    out["org.opencontainers.image.created"] = datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    if rev.commit:
        out["org.opencontainers.image.revision"] = rev.commit + ("-dirty" if rev.dirty else "")
    if rev.source:
        out["org.opencontainers.image.source"] = rev.source
    return out


def local_tag(pkg: Package, key: str) -> str:
    return f"{pkg.image.rsplit(':', 1)[0]}:{key[:20]}"


def build_image(pkg: Package, bins: Binaries, opts: ImageSettings, *, store: Store, rev: Revision,
                base_id: str, push_to: Any = None, push_names: tuple[str, ...] = ()) -> ImageResult:
    """``base_id``: the local base image's ID ("" when the base is remote). ``push_to``: a registry
    target (``registry.Target``) the builder pushes to straight, by digest (or under
    ``push_names``); nothing is loaded."""
    slug = package_slug(pkg)
    digests = dict(bins.digests)

    def digest(path):
        for handler, p in bins.files.items():
            if p == path and handler in digests:
                return digests[handler]
        return store.digest(path)

    # The last image's bucket assignment, so adding or removing a handler moves one layer, not many.
    previous = buckets.parse(store.layout(slug))
    ctx = ctxmod.stage(store.context_dir(slug), binaries=bins.files, shim=None if opts.direct else shim_path(),
                       linkable=store.root, digest=digest, data=bins.data, previous=previous)
    for path in bins.files.values():
        if path.name == "binary" and store.root in path.parents:
            store.refresh(path)  # the hard link into the context moved its ctime
    epoch = created_epoch(opts, rev)
    image_labels = labels(pkg, rev, epoch, with_revision=opts.label_revision)
    # The key is over the COPY --link form; an engine without it gets plain COPY (below).
    dockerfile = render(ctx, base=opts.base, package=pkg.code_uri, labels=image_labels, link=True)
    platform = f"linux/{DOCKER_ARCH[pkg.arch]}"
    # A base held locally (a mirror pulled once, the stand-in) counts by its content: rebuilding it
    # must rebuild the image. A remote base counts by its reference; pin a digest to track it.
    # The layers' compression makes another image (other blobs, another manifest): a push never
    # takes an image built with plain layers for the engine alone.
    key = hashlib.sha256("\0".join([dockerfile, platform, opts.builder or "", base_id, str(opts.compression_level),
                                    *(["uncompressed"] if opts.uncompressed else [])]).encode()).hexdigest()
    tag = local_tag(pkg, key)

    last = store.image(slug)
    if push_to is None and last and last.key == key and last.tag == tag:
        found = dockercli.image_id(tag)
        if found and found == last.image_id:
            # After a build that did not unpack (a push, --no-unpack): once, then never again, so
            # a no-op rebuild asks the engine nothing more (issue 20: <= 1 s at 50 handlers).
            if opts.unpack and not last.unpacked and dockercli.unpack(tag, platform):
                store.put_image(slug, replace(last, unpacked=True))
            if ctx.assignment != previous:  # the record was lost; the image holds this layout
                store.put_layout(slug, buckets.record(ctx.assignment))
            return ImageResult(pkg, tag, last.image_id, last.digest, cached=True)

    engine = dockercli.buildx(opts.builder)
    if not engine.supports_link:
        log.warning("%s: this engine (Docker %s) has no COPY --link: the image is correct, but layer digests "
                    "will not stay stable across builds; Docker 23+ fixes that", pkg.code_uri, engine.version)
        dockerfile = render(ctx, base=opts.base, package=pkg.code_uri, labels=image_labels, link=False)
    # Never through a link planted in the context folder (a cache another party writes).
    atomic_write_text(ctx.root / "Dockerfile", dockerfile)
    log.debug("%s: docker buildx build %s (%s, %d layer(s) on %s)", pkg.code_uri, tag, platform, len(ctx.layers),
              opts.base)
    built = dockercli.build(
        ctx.root, tag=tag, platform=platform, builder=opts.builder, cache_from=opts.cache_from,
        cache_to=opts.cache_to, compression_level=opts.compression_level,
        compression=("uncompressed" if opts.uncompressed else "gzip") if engine.local else None,
        build_args={"SOURCE_DATE_EPOCH": str(epoch)}, what=f"package {pkg.code_uri}",
        push_to=push_to.name if push_to is not None else None, push_names=push_names,
        insecure=bool(push_to is not None and push_to.insecure), env=push_to.env if push_to is not None else None,
    )
    if ctx.assignment != previous:
        store.put_layout(slug, buckets.record(ctx.assignment))
    if push_to is not None:
        return ImageResult(pkg, tag, "", built.digest, cached=False, builder_output=built.output)
    unpacked = dockercli.unpack(tag, platform) if opts.unpack else False
    image_id = dockercli.image_id(tag) or ""
    keys = [p.parent.name for p in bins.files.values() if p.name == "binary" and store.root in p.parents]
    store.put_image(slug, ImageState(key=key, tag=tag, image_id=image_id, digest=built.digest, unpacked=unpacked),
                    binaries=keys)
    return ImageResult(pkg, tag, image_id, built.digest, cached=False)

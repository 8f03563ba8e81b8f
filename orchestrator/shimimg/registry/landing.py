"""One package image into its repository under its content tag, and what that uploaded."""

from __future__ import annotations

import logging

from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from shimimg.registry.messages import UNCHANGED
from shimimg.registry.pusher import Pusher, Stats, Target, check_image
from shimimg.registry.refs import content_tag

log = logging.getLogger("shimimg.registry")

# BuildKit reports a push as a whole ("pushing layers ... done"), never per blob: for an image the
# builder pushed, which blobs it uploaded and which it mounted from another repository is
# something only the registry's own log knows, so those counts are unknown (None), never guessed.


def human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def land(pusher: Pusher, img: ImageResult, target: Target, *, force: bool,
         builder_output: str | None = None) -> tuple[str, str, Stats]:
    """(digest, content tag, stats) once ``img`` is in ``target`` under its content tag."""
    pkg = img.package
    pushed_by_builder = builder_output is not None
    expected = img.digest or img.image_id
    ctag = content_tag(expected)
    uri = f"{target.repository.uri}:{ctag}"
    remote = pusher.inspect(target, ctag)
    outcomes: dict[str, str] = {}
    pushed = ""  # the digest of what this run put there: pinned, not what the tag names afterwards
    if remote is not None and remote.digest != expected and not pushed_by_builder:
        # The classic image store names images by config digest and compresses at push time.
        config = (pusher.manifest(target, target.ref(ctag)).get("config") or {}).get("digest", "")
        if config == img.image_id:
            expected = remote.digest
    if remote is not None and remote.digest == expected:
        log.info("%s: %s is already there", pkg.code_uri, uri)
        pushed = expected
    elif remote is not None and not force:
        raise ShimimgError(f"{uri} points at {remote.digest}, not at this build ({expected}); {UNCHANGED}",
                           hint="pass --force to overwrite it")
    elif pushed_by_builder:
        log.info("%s: naming %s@%s as %s", pkg.code_uri, target.name, expected, ctag)
        pusher.name_image(target, img, [ctag])
        pushed = expected  # BuildKit's report; name_image refuses a rebuild that differs
    else:
        log.info("%s: pushing %s", pkg.code_uri, uri)
        outcomes, pushed = pusher.push(target, img.image_id or img.tag, ctag)
        if not pushed:
            raise ShimimgError(f"pushing {uri}: the engine did not report the digest it pushed; {UNCHANGED}",
                               hint="check the engine's version and logs, then run again")
    remote = pusher.inspect(target, ctag)
    if remote is None:
        raise ShimimgError(f"{uri} is missing right after its push; {UNCHANGED}",
                           hint="check the registry's logs, then run again")
    if remote.digest != pushed:
        # A registry (or a proxy, or another party) that answers the tag with another image:
        # pinning what the tag names would ship bytes shimimg never built (issue 19).
        raise ShimimgError(f"{uri} names {remote.digest} right after shimimg pushed {pushed}: the registry serves "
                           f"another image under the tag; {UNCHANGED}",
                           hint="check who else writes to this repository (or what sits between shimimg and the "
                                "registry), then run again")
    served = pusher.inspect_digest(target, pushed)
    if served is None or served.digest != pushed:
        raise ShimimgError(f"{target.repository.uri}@{pushed} is not served by the registry right after its push; "
                           f"{UNCHANGED}", hint="check the registry's logs, then run again")
    check_image(target, ctag, remote, pkg)
    manifest = pusher.manifest(target, target.ref(ctag))
    layers = manifest.get("layers", [])
    if pushed_by_builder:
        stats = _builder_stats(layers)
    else:
        sent = [layer for layer in layers if outcomes.get(_short(layer["digest"])) == "Pushed"]
        mounted = sum(1 for status in outcomes.values() if status.startswith("Mounted from"))
        stats = Stats(len(layers), len(sent), sum(int(x.get("size", 0)) for x in sent), mounted)
    if outcomes:
        log.info("%s: %s@%s: %d of %d layer(s) uploaded (%s)%s", pkg.code_uri, target.repository.uri, remote.digest,
                 stats.layers_pushed, stats.layers, human_bytes(stats.bytes_pushed or 0),
                 f", {stats.layers_mounted} mounted from other repositories" if stats.layers_mounted else "")
    elif pushed_by_builder:
        log.info("%s: %s@%s: pushed by the builder (%d layer(s); BuildKit does not say which it uploaded)",
                 pkg.code_uri, target.repository.uri, remote.digest, stats.layers)
    return remote.digest, ctag, stats


def _builder_stats(layers: list[dict]) -> Stats:
    return Stats(len(layers), None, None, None)

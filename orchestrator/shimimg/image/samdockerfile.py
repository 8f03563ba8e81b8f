"""The Dockerfile ``shimimg migrate --sam-build`` writes for one package, for ``sam build`` to build.

Two stages. ``build`` runs on the build machine's platform (``--platform=$BUILDPLATFORM``: an
emulated Go would be many times slower) and cross-compiles every handler of the package with the
flags ``shimimg build`` uses (``gobuild.gocmd``), one ``go build -o DIR/`` per batch of mains whose
output names differ (``gobuild.compile``), with BuildKit cache mounts for the module and build
caches. It then lays out each file the image gets under ``/out/<layer>/<path in the image>`` and
gives every file and folder there one fixed mtime: BuildKit's ``COPY`` keeps mtimes, and go writes
a new one on every build, which would change every binary's layer on any change. The final stage
copies each layer folder with ``COPY --link``, so an unchanged binary keeps its layer digest.

Every path written here comes from the repository (CodeUri, handler names, data files) and so is
untrusted: each must be a plain relative path of safe characters (``SAFE_PATH``), or the package is
refused. Nothing from the repository can then become an instruction, a flag, a glob, a variable or
a second mount option; shell words are quoted besides.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from shimimg import reference
from shimimg.errors import ShimimgError
from shimimg.image import buckets
from shimimg.image.context import FIXED_MTIME, SHIM_PATH, TASK_ROOT

# Letters, digits and . _ - + @ in each part; no part starting with '-' or being '.'/'..'.
_PART = re.compile(r"[A-Za-z0-9_+@.][A-Za-z0-9._+@-]*")
SAFE_CHARS = "letters, digits and . _ - + @ between slashes"
MARKER = "# shimimg-sam-build:"
GO_STAGE = "build"
# Where the build stage mounts the context's folders, and the caches (named so that every
# package and template on a machine shares them, as go's own caches are shared).
SRC = "/src"
GOMODCACHE = "/go-mod-cache"
GOCACHE = "/go-build-cache"
OUT = "/out"


def safe_path(text: str, what: str, *, allow_dot: bool = False) -> str:
    """``text`` as a POSIX relative path whose every part matches ``_PART``, or refused."""
    if allow_dot and text in (".", "./"):
        return "."
    parts = text.split("/")
    if text.startswith("/") or not text or not all(_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        raise ShimimgError(f"{what} {text!r} cannot be written into a Dockerfile for sam build: a path there may "
                           f"hold only {SAFE_CHARS}, relative, without '..'",
                           hint="rename it, or build this package with `shimimg build` (no Dockerfile)")
    return text


@dataclass(frozen=True)
class Batch:
    """One ``go build -o DIR/``: main package folders (relative to the module root, ``.`` or
    ``cmd/x``), each with the name go writes and the handler paths it serves."""

    mains: tuple[tuple[str, str, tuple[str, ...]], ...]  # (folder, go's output name, handlers)


@dataclass(frozen=True)
class Spec:
    code_uri: str  # for the header only (JSON-escaped there)
    go_image: str
    base_image: str
    goarch: str
    tags: str  # go build -tags value, e.g. "lambda.norpc,prod"
    flags: tuple[str, ...]  # go build flags besides -o and -tags
    shim: str  # path of the shim in the context
    module: str = "."  # the Go module's folder in the context; "" when nothing is compiled
    binds: tuple[str, ...] = ()  # other folders of the context go reads (replace / go.work use)
    batches: tuple[Batch, ...] = ()
    # Files copied from the context as they are: (path in the context, path under /var/task, mode).
    files: tuple[tuple[str, str, int], ...] = ()
    data: tuple[tuple[str, str, int], ...] = ()  # likewise, in one layer: what goes beside the binaries
    # A zip package: its path in the context, and the extractor (unzip.go) beside the Dockerfile;
    # ``files`` and ``data`` then name members of the zip, not files of the context.
    zip: str = ""
    unzip: str = ""
    inputs: dict = field(default_factory=dict)  # recorded in the header, for --check and plan
    # Which binaries share a layer past 100 (path under /var/task → bucket, ``image.buckets``);
    # empty: laid out from nothing.
    layers: Mapping[str, int] = field(default_factory=dict)


def _check(spec: Spec) -> None:
    for what, ref in (("--go-image", spec.go_image), ("--base-image", spec.base_image)):
        if reference.parse(ref) is None:
            raise ShimimgError(f"{what} {ref!r} is not an image reference",
                               hint=f"give {what} a reference such as "
                                    + ("public.ecr.aws/docker/library/golang:1.26" if what == "--go-image"
                                       else "public.ecr.aws/lambda/provided:al2"))
    if not re.fullmatch(r"[a-z0-9]+", spec.goarch):
        raise AssertionError(spec.goarch)
    if not re.fullmatch(r"[A-Za-z0-9_.,]+", spec.tags):
        raise ShimimgError(f"build tags {spec.tags!r} hold characters go build tags never have",
                           hint="give --go-tag plain tag names")
    safe_path(spec.shim, "the shim's path")
    if spec.module:
        safe_path(spec.module, "the Go module's folder", allow_dot=True)
    for b in spec.binds:
        safe_path(b, "a folder go reads", allow_dot=True)
    for batch in spec.batches:
        for folder, name, handlers in batch.mains:
            safe_path(folder, "a main package's folder", allow_dot=True)
            safe_path(name, "a main package's output name")
            for h in handlers:
                safe_path(h, "the handler")
    if spec.zip:
        safe_path(spec.zip, "the zip")
        safe_path(spec.unzip, "the extractor's path")
    for src, dest, _ in (*spec.files, *spec.data):
        safe_path(src, "the file")
        safe_path(dest, "the file's path in the image")


def handlers(spec: Spec) -> list[str]:
    """Every binary the image gets, by its path under /var/task."""
    return sorted({h for b in spec.batches for _, _, hs in b.mains for h in hs} | {d for _, d, _ in spec.files})


def _folders(spec: Spec) -> tuple[list[list[str]], dict[str, int]]:
    """Which binaries share a layer, as ``shimimg build`` lays them out: one each up to 100, then
    at most ceil(N/100) per layer (Docker's layer store chains at most 125), starting from the
    layout the Dockerfile had (``spec.layers``) so adding a handler moves one layer. Returns the
    layers in image order and each binary's layer number (its folder ``/out/h<number>``)."""
    groups = buckets.groups(buckets.assign(handlers(spec), spec.layers or None))
    return groups, {h: i for i, group in enumerate(groups) for h in group}


def _layers(spec: Spec, groups: list[list[str]], folder: dict[str, int]) -> list[tuple[str, list[str]]]:
    """(layer folder under /out, shell commands that fill it from the build), in image order."""
    moves: dict[str, list[str]] = {h: [] for h in folder}
    for i, batch in enumerate(spec.batches):
        for _, name, hs in batch.mains:
            for h in hs:
                dest = f"{OUT}/h{folder[h]}/{TASK_ROOT}/{h}"
                moves[h].append(f"mkdir -p {shlex.quote(dest.rsplit('/', 1)[0])}")
                moves[h].append(f"cp {shlex.quote(f'{OUT}/go-{i}/{name}')} {shlex.quote(dest)}")
    return [(f"h{i}", [c for h in group for c in moves[h]]) for i, group in enumerate(groups)]


def render(spec: Spec) -> str:
    _check(spec)
    lines = [
        f"# Written by `shimimg migrate --sam-build` for the package {json.dumps(spec.code_uri, ensure_ascii=True)};",
        "# `sam build --use-buildkit` builds it, once for every function of the package. Run",
        "# `shimimg migrate --sam-build --check` to see whether it is current; edits here are overwritten.",
        f"{MARKER} {json.dumps(spec.inputs, sort_keys=True, ensure_ascii=True)}",
        f"FROM --platform=$BUILDPLATFORM {spec.go_image} AS {GO_STAGE}",
    ]
    if spec.batches:
        mounts = [f"--mount=type=bind,source={spec.module},target={_under_src(spec.module)}"]
        mounts += [f"--mount=type=bind,source={b},target={_under_src(b)}" for b in spec.binds]
        mounts += [f"--mount=type=cache,id=shimimg-go-mod,target={GOMODCACHE}",
                   f"--mount=type=cache,id=shimimg-go-build,target={GOCACHE}"]
        env = {"GOOS": "linux", "GOARCH": spec.goarch, "CGO_ENABLED": "0", "GOMODCACHE": GOMODCACHE,
               "GOCACHE": GOCACHE}
        builds = []
        for i, batch in enumerate(spec.batches):
            patterns = ["." if f == "." else f"./{f}" for f, _, _ in batch.mains]
            builds.append(shlex.join(["go", "build", "-o", f"{OUT}/go-{i}/", "-tags", spec.tags, *spec.flags,
                                      "--", *patterns]))
        lines.append("# The same flags and handler resolution as `shimimg build`: one go build per batch of mains")
        lines.append("# whose output names differ.")
        lines.append(f"WORKDIR {_under_src(spec.module)}")
        lines.append("RUN " + " \\\n    ".join(mounts) + " \\\n    "
                     + "export " + " ".join(f"{k}={v}" for k, v in env.items()) + " && \\\n    "
                     + " && \\\n    ".join(builds))
    groups, folder = _folders(spec)
    layers = _layers(spec, groups, folder)
    shim_dest = f"{OUT}/shim/{SHIM_PATH}"
    lines.append(f"COPY --chmod=755 {spec.shim} {shim_dest}")
    copies: list[str] = []
    targets = [(src, f"{OUT}/data/{TASK_ROOT}/{dest}", mode) for src, dest, mode in spec.data]
    targets += [(src, f"{OUT}/h{folder[dest]}/{TASK_ROOT}/{dest}", mode) for src, dest, mode in spec.files]
    if spec.zip:
        # Extracted by a few lines of Go's archive/zip (no unzip in the Go image), which take
        # regular files only and refuse a name that leaves the folder.
        lines.append(f"RUN --mount=type=bind,source={spec.zip},target=/in/package.zip \\\n"
                     f"    --mount=type=bind,source={spec.unzip},target=/in/unzip.go \\\n"
                     f"    --mount=type=cache,id=shimimg-go-build,target={GOCACHE} \\\n"
                     f"    GOCACHE={GOCACHE} GO111MODULE=off go run /in/unzip.go /in/package.zip {OUT}/zip")
        for src, dest, mode in targets:
            copies += [f"mkdir -p {shlex.quote(dest.rsplit('/', 1)[0])}",
                       f"cp {shlex.quote(f'{OUT}/zip/{src}')} {shlex.quote(dest)}",
                       f"chmod {mode:o} {shlex.quote(dest)}"]
    else:
        lines += [f"COPY --chmod={mode:o} {src} {dest}" for src, dest, mode in targets]
    cmds = [c for _, cs in layers for c in cs] + copies
    # One fixed time for every file and folder of every layer: see the module's docstring.
    cmds.append(f"find {OUT} -exec touch -h -d @{FIXED_MTIME} {{}} +")
    lines.append("RUN " + " && \\\n    ".join(cmds))
    lines.append("")
    lines.append(f"FROM {spec.base_image}")
    lines.append(f"COPY --link --from={GO_STAGE} {OUT}/shim/ /")
    if spec.data:
        lines.append(f"COPY --link --from={GO_STAGE} {OUT}/data/ /")
    for folder, _ in layers:
        lines.append(f"COPY --link --from={GO_STAGE} {OUT}/{folder}/ /")
    return "\n".join(lines) + "\n"


def _under_src(rel: str) -> str:
    return SRC if rel in (".", "") else f"{SRC}/{rel}"


def read_inputs(text: str) -> dict | None:
    """The inputs a Dockerfile written by ``render`` records; None for any other Dockerfile."""
    for line in text.splitlines()[:8]:
        if line.startswith(MARKER):
            try:
                value = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None

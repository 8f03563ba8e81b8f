"""The plan: what a template holds for shimimg, as frozen records you can print before anything runs.

Plan → Package (one image each) → Function (one ImageConfig each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

Arch = Literal["arm64", "x86_64"]
# Docker's name for each Lambda architecture.
DOCKER_ARCH = {"arm64": "arm64", "x86_64": "amd64"}
# go's GOARCH for each Lambda architecture.
GOARCH = DOCKER_ARCH


@dataclass(frozen=True)
class Function:
    logical_id: str
    resource_type: str  # AWS::Serverless::Function or AWS::Lambda::Function
    handler: str  # as in the template, e.g. "bin/create_order"
    runtime: str  # e.g. "go1.x", "provided.al2"
    memory: Optional[int] = None  # MB, after Globals
    timeout: Optional[int] = None  # seconds, after Globals
    # Environment.Variables after Globals: name → literal value, or None where the value is an
    # intrinsic (!Ref, !Sub, ...) that only CloudFormation can resolve.
    environment: tuple[tuple[str, Optional[str]], ...] = ()
    layers: bool = False  # the function (not Globals) declares Layers
    # Architectures the template gives it (after Globals), when a literal: "x86_64" moving to arm64
    # is announced.
    template_arch: Optional[str] = None
    # SAM's Metadata.BuildMethod when literal (go1.x, makefile, ...): with makefile, SAM builds each
    # function's binary with its own `make build-<LogicalId>` target.
    build_method: Optional[str] = None
    # A provided.* function with Handler bootstrap, its binary built from a Go main package (SAM's
    # Go layout): it moves only with --consolidate, into the image of its Go module.
    go_bootstrap: bool = False

    @property
    def binary(self) -> str:
        """Path of the binary inside the package, e.g. "bin/create_order" (also for "./bin/create_order")."""
        binary = self.handler
        # Only a leading "./" goes: lstrip("./") would also eat the dot of ".hidden/x".
        while binary.startswith("./"):
            binary = binary[2:]
        return binary

    @property
    def name(self) -> str:
        """The binary's file name, e.g. "create_order"."""
        return self.binary.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Package:
    code_uri: str  # as the template says it, after Globals
    path: Path  # absolute: a directory or a .zip
    kind: Literal["dir", "zip"]
    image: str  # the local image name, e.g. "shimimg/orders:latest" (build replaces the tag by a content hash)
    arch: Arch
    functions: tuple[Function, ...]
    # --consolidate: (handler, main package folder relative to the module root, why) for each
    # binary, as shimimg resolved it before merging packages; and the CodeUris merged into this image.
    mapping: tuple[tuple[str, str, str], ...] = ()
    merged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A Go function shimimg found but cannot build, and why (shown in the plan)."""

    logical_id: str
    reason: str
    fix: str = ""  # what to change in the template so shimimg can build it
    line: Optional[int] = None  # where the resource starts in the template (1-based)


@dataclass(frozen=True)
class Untouched:
    """A function shimimg leaves as it is, and why (shown in the plan)."""

    logical_id: str
    reason: str


@dataclass(frozen=True)
class Plan:
    template: Path
    packages: tuple[Package, ...]
    skipped: tuple[Skipped, ...] = ()
    # Functions left as they are (other runtimes, already images), with the reason.
    untouched: tuple[Untouched, ...] = field(default=())
    # --consolidate: the images after merging packages by Go module (consolidate.Merge records).
    merges: tuple = field(default=())

    def untouched_ids(self) -> tuple[str, ...]:
        return tuple(u.logical_id for u in self.untouched)

    def arch_changes(self) -> list[tuple[Function, str, str]]:
        """Functions the template runs on another architecture than the one they move to."""
        return [(fn, fn.template_arch, pkg.arch) for pkg in self.packages for fn in pkg.functions
                if fn.template_arch and fn.template_arch != pkg.arch]

    def function(self, logical_id: str) -> tuple[Package, Function] | None:
        for pkg in self.packages:
            for fn in pkg.functions:
                if fn.logical_id == logical_id:
                    return pkg, fn
        return None

"""``shimimg migrate --sam-build``: per package a Dockerfile that ``sam build`` builds, and the
``Metadata`` every function of the package shares (SAM builds one image for functions whose
Metadata and architecture are equal).

Everything a Dockerfile says is what ``shimimg build`` computes: the handler resolution
(``binaries.resolve``), go's flags (``gobuild.gocmd``), the batches of one ``go build``
(``gobuild.compile``), the files a package carries (``binaries.source_data``, ``prebuilt``). The
build context is the template's folder; the Dockerfile and the shim sit in ``--sam-build-dir``
(default ``.shimimg/sam-build/<package>/``), to be committed with the template.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shimimg.binaries import gather as binmod
from shimimg.cache import Store
from shimimg.commands.planning import refuse_outside
from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.fsutil import atomic_write_bytes, check_no_link, ensure_dir
from shimimg.gobuild import compile as gocompile
from shimimg.gobuild import gocmd
from shimimg.image import buckets, samdockerfile
from shimimg.plan.records import GOARCH, Package, Plan
from shimimg.readfile import CONFIG_MAX, read_text
from shimimg.resources import shim_path, unzip_source
from shimimg.template.discovery import SAM_FUNCTION, function_sites
from shimimg.template.document import get
from shimimg.template.intrinsics import literal
from shimimg.template.packages import strip_dot_slash
from shimimg.template.rewrite import DOCKER_KEYS
from shimimg.trust import check_output_path, untrusted_roots

DEFAULT_DIR = Path(".shimimg") / "sam-build"
# BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile instead of the context's
# .dockerignore: the template's folder is the context, and what go and the COPYs never read need
# not travel to the builder. A .dockerignore of the repository's own does not apply, so it cannot
# hide a file the image needs (shimimg build would ship it).
DOCKERIGNORE = (b"# Written by `shimimg migrate --sam-build`: what sam build need not send to BuildKit.\n"
                b".git\n**/.git\n.aws-sam\n**/.aws-sam\n")
# The official Go images, through ECR Public's mirror of Docker's library: no rate limit on
# anonymous pulls. A mirror or a digest is given with --go-image.
GO_IMAGE = "public.ecr.aws/docker/library/golang"
# A package taken prebuilt needs no compiler: the Go image's shell only lays out its files.
PREBUILT_GO_IMAGE = f"{GO_IMAGE}:1"
_GO_VERSION = re.compile(r"(?:go)?(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Output:
    metadata: dict[Path, dict[str, str]]  # Package.path → the functions' Metadata
    files: dict[Path, bytes]  # file to write → its bytes (Dockerfiles, shims)


def folder_of(template: Path, given: Path | None) -> Path:
    home = Path(os.path.normpath(template.parent.absolute()))
    folder = Path(os.path.normpath((home / DEFAULT_DIR) if given is None else given.absolute()))
    if not folder.is_relative_to(home) or folder == home:
        raise ShimimgError(f"--sam-build-dir {folder} is not a folder inside the template's folder {home}, the "
                           "build context sam build sends", hint="name a folder below the template's folder, e.g. "
                           f"{home / DEFAULT_DIR}")
    return folder


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(os.path.normpath(path), os.path.normpath(start)).replace(os.sep, "/")


def _package_name(pkg: Package) -> str:
    # The local image name build gives the package (unique per package, safe in a path).
    return pkg.image.rsplit("/", 1)[-1].split(":", 1)[0]


def go_image_for(module_root: Path, build: gocmd.BuildEnv) -> str:
    """The official Go image of the module's toolchain line, else of its go line."""
    data = gocmd.mod_edit_json(module_root, build)
    for value in (data.get("Toolchain"), data.get("Go")):
        m = _GO_VERSION.fullmatch(str(value or ""))
        if m:
            return f"{GO_IMAGE}:{m.group(1)}"
    raise ShimimgError(f"{module_root}/go.mod names no go version", hint="add a go line (go mod edit -go=1.26), "
                       "or pass --go-image")


def _refuse_foreign(doc, plan: Plan, ours: Mapping[Path, Mapping[str, str]]) -> None:
    """A function whose Metadata already tells SAM how to build it from a Dockerfile that shimimg
    did not write: replacing it would silently drop someone's build."""
    sites = {s.logical_id: s for s in function_sites(doc)}
    problems = []
    for pkg in plan.packages:
        for fn in pkg.functions:
            site = sites.get(fn.logical_id)
            if site is None:
                continue
            if site.resource_type != SAM_FUNCTION:
                problems.append(f"{fn.logical_id}: {site.resource_type} (sam build builds images only for "
                                "AWS::Serverless::Function)")
                continue
            meta = get(site.resource, "Metadata")
            have = {k: literal(get(meta, k)) for k in DOCKER_KEYS if get(meta, k) is not None}
            if have and any(have.get(k) != v for k, v in ours[pkg.path].items()) or set(have) - set(ours[pkg.path]):
                shown = ", ".join(f"{k}: {v}" for k, v in have.items())
                problems.append(f"{fn.logical_id}: Metadata already says how to build an image ({shown})")
    if problems:
        raise ShimimgError(f"{doc.path}: --sam-build would replace what the template says about building "
                           f"{len(problems)} function(s); nothing was written", problems=problems,
                           hint="remove those Metadata keys if shimimg should write the build, or migrate "
                                "without --sam-build (shimimg build/push)")


def prepare(doc, plan: Plan, settings: Settings, *, target: Path, folder: Path, go_image: str | None) -> Output:
    """What --sam-build writes for ``plan``: Dockerfiles, shims, and each package's Metadata as
    seen from the template written at ``target``."""
    template = plan.template
    home = Path(os.path.normpath(template.parent.absolute()))
    target = target.absolute()
    refuse_outside(plan, plan.packages, settings)
    store = Store(settings.cache_dir, home.resolve(), allow_in_checkout=settings.cache_in_checkout)
    with store.locked():
        where = binmod.modules(plan.packages, settings, store)
        found = binmod.resolve(plan.packages, where, settings, store)
        prebuilt_pkgs = [p for p in plan.packages if p.path not in found]
        binmod.refuse_prebuilt_include(prebuilt_pkgs, settings)
        binmod.check_libraries(plan.packages, found, {})
        taken = {}
        for pkg in prebuilt_pkgs:
            with store.scratch("prebuilt") as scratch:
                taken[pkg.path] = binmod.take_prebuilt(pkg, settings, scratch)
    binmod.check_libraries(prebuilt_pkgs, {}, {p: b.libraries for p, b in taken.items()})
    shim = shim_path().read_bytes()
    files: dict[Path, bytes] = {}
    metadata: dict[Path, dict[str, str]] = {}
    names: dict[str, str] = {}
    for pkg in plan.packages:
        name = _package_name(pkg)
        if name in names:
            raise AssertionError(f"two packages named {name}: {names[name]} and {pkg.code_uri}")
        names[name] = pkg.code_uri
        out = folder / name
        build = binmod.build_env(settings, pkg.arch)
        common = dict(code_uri=pkg.code_uri, base_image=settings.base_ref, goarch=GOARCH[pkg.arch],
                      tags=build.tag_list, flags=gocmd.FLAGS, shim=_rel(out / "bootstrap", home))
        inputs = {"code_uri": pkg.code_uri, "arch": pkg.arch,
                  "handlers": sorted({f.binary for f in pkg.functions})}
        if pkg.path in found:
            spec = _from_source(pkg, found[pkg.path], settings, build, home, go_image, common, inputs)
        else:
            spec = _prebuilt(pkg, taken[pkg.path], home, go_image, common, inputs, out / "unzip.go")
            if pkg.kind == "zip":
                files[out / "unzip.go"] = unzip_source().read_bytes()
        spec = _keep_layout(spec, out / "Dockerfile")
        files[out / "Dockerfile"] = samdockerfile.render(spec).encode()
        files[out / "Dockerfile.dockerignore"] = DOCKERIGNORE
        files[out / "bootstrap"] = shim
        metadata[pkg.path] = {"Dockerfile": _rel(out / "Dockerfile", home), "DockerContext": _rel(home, target.parent),
                              "DockerTag": name}
    _refuse_foreign(doc, plan, metadata)
    return Output(metadata=metadata, files=files)


def _from_source(pkg: Package, ps, settings: Settings, build: gocmd.BuildEnv, home: Path, go_image: str | None,
                 common: dict, inputs: dict) -> samdockerfile.Spec:
    module = ps.module
    if module.workspace_files:
        raise ShimimgError(f"{pkg.code_uri}: its Go module {module.root} is built as part of the workspace "
                           f"{module.workspace_files[0]}, which --sam-build's Dockerfile does not mount",
                           hint="build it with `shimimg build`, or set GOWORK=off if the module builds alone")
    binds = []
    for why, path in gocmd.local_paths(module.root, build):
        if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(home)):
            raise ShimimgError(f"{pkg.code_uri}: go reads {path} ({why}), outside the template's folder {home}, "
                               "the build context", hint="build it with `shimimg build`")
        binds.append(_rel(path, home))
    distinct = list({r.import_path: r for r in ps.handlers}.values())
    batches = []
    for batch in gocompile._batches(distinct):
        mains = []
        for r in batch:
            handlers = tuple(sorted(h.handler for h in ps.handlers if h.import_path == r.import_path))
            mains.append((_rel(r.main_dir, module.root), gocompile.out_name(r.import_path), handlers))
        batches.append(samdockerfile.Batch(tuple(mains)))
    data = tuple((_rel(path, home), rel, 0o755 if executable else 0o644)
                 for rel, path, _, executable in binmod.source_data(pkg, settings))
    inputs["data"] = [d for _, d, _ in data]
    return samdockerfile.Spec(**common, go_image=go_image or go_image_for(module.root, build),
                              module=_rel(module.root, home), binds=tuple(binds), batches=tuple(batches), data=data,
                              inputs=inputs)


def _prebuilt(pkg: Package, taken: binmod.Binaries, home: Path, go_image: str | None, common: dict,
              inputs: dict, unzip: Path) -> samdockerfile.Spec:
    """The files a folder or zip holds, at the paths they have there, as ``shimimg build`` takes
    them (its checks ran on them just now); a zip's are extracted in the build stage."""
    handlers = [strip_dot_slash(h) for h in taken.files]
    data = [(rel, 0o755 if executable else 0o644) for rel, _, _, executable in taken.data]
    inputs["data"] = [d for d, _ in data]
    if pkg.kind == "zip":
        def join(rel: str) -> str:
            return rel
    else:
        base = _rel(pkg.path, home)

        def join(rel: str) -> str:
            return rel if base == "." else f"{base}/{rel}"
    return samdockerfile.Spec(**common, go_image=go_image or PREBUILT_GO_IMAGE, module="",
                              zip=_rel(pkg.path, home) if pkg.kind == "zip" else "",
                              unzip=_rel(unzip, home) if pkg.kind == "zip" else "",
                              files=tuple((join(h), h, 0o755) for h in handlers),
                              data=tuple((join(d), d, m) for d, m in data), inputs=inputs)


def _keep_layout(spec: samdockerfile.Spec, dockerfile: Path) -> samdockerfile.Spec:
    """Past 100 binaries, the layout the Dockerfile this run rewrites recorded (verified: the file is
    the repository's, so a record of the wrong shape is ignored), so adding a handler moves one
    layer, and the record of the new one. Up to 100 every binary has a layer of its own whatever
    the numbering, and nothing is recorded."""
    handlers = samdockerfile.handlers(spec)
    if len(handlers) <= buckets.MAX_BINARY_LAYERS:
        return spec
    previous = None
    try:
        text = read_text(dockerfile, CONFIG_MAX, "Dockerfile")
    except (OSError, ShimimgError):
        text = ""
    if text:
        previous = buckets.parse((samdockerfile.read_inputs(text) or {}).get("layers"))
    layout = buckets.assign(handlers, previous)
    inputs = {**spec.inputs, "layers": buckets.record(layout)}
    return dataclasses.replace(spec, layers=layout, inputs=inputs)


_OWN_GITIGNORE = b"# created by shimimg: nothing here belongs in git\n*\n"
_KEEP = (b"# ... but the Dockerfiles of `shimimg migrate --sam-build`, which sam build reads\n"
         b"!/sam-build/\n!/sam-build/**\n")


def write_files(template: Path, out: Output) -> None:
    """Each file atomically, through real folders only (a link planted in the checkout is refused).
    Under ``.shimimg/``, which shimimg keeps out of git, the sam-build folder is let back in: it is
    committed with the template."""
    home = Path(os.path.normpath(template.parent.absolute()))
    roots = untrusted_roots(template)
    for path, data in sorted(out.files.items()):
        check_output_path(path, roots)
        parts = Path(_rel(path.parent, home)).parts
        ensure_dir(home, *parts, what="sam build files", gitignore_first=parts[:1] == (".shimimg",))
        if parts[:2] == (".shimimg", "sam-build"):
            ignore = home / ".shimimg" / ".gitignore"
            check_no_link(ignore, "git ignore file")
            if ignore.is_file() and ignore.read_bytes() == _OWN_GITIGNORE:
                atomic_write_bytes(ignore, _OWN_GITIGNORE + _KEEP)
        atomic_write_bytes(path, data)
        os.chmod(path, 0o755 if path.name == "bootstrap" else 0o644)


def check_own_output(doc) -> None:
    """A template --sam-build already wrote (no Go zip function left): each Dockerfile must still
    build every handler its functions' ImageConfig.Command names. A function added or renamed in
    the migrated template is caught here; the Dockerfile is rewritten from the original template,
    where the package's CodeUri, resolution and files are known."""
    from shimimg.template.discovery import sam_build_dockerfile

    asked: dict[str, set[str]] = {}
    for site in function_sites(doc):
        dockerfile = sam_build_dockerfile(doc, site) if site.resource_type == SAM_FUNCTION else None
        if dockerfile is None:
            continue
        command = get(get(site.properties, "ImageConfig"), "Command")
        first = command.value[0] if command is not None and isinstance(command.value, list) and command.value else None
        handler = literal(first) if first is not None else None
        asked.setdefault(dockerfile, set()).add(strip_dot_slash(handler or "?"))
    problems = []
    for dockerfile, handlers in sorted(asked.items()):
        try:
            text = read_text(Path(dockerfile), CONFIG_MAX, "Dockerfile")
        except OSError as e:
            raise ShimimgError(f"{dockerfile}: cannot read it ({e.strerror or e})",
                               hint="run `shimimg migrate --sam-build` on the original template again") from e
        built = set((samdockerfile.read_inputs(text) or {}).get("handlers") or ())
        missing = sorted(handlers - built)
        if missing:
            problems.append(f"{dockerfile} builds {', '.join(sorted(built)) or 'nothing'}, but functions run "
                            f"{', '.join(missing)}")
    if problems:
        raise ShimimgError(f"{doc.path}: {len(problems)} Dockerfile(s) written by --sam-build no longer build every "
                           "handler the template's functions run", problems=problems,
                           hint="add the functions to the original template (Runtime/Handler/CodeUri) and run "
                                "`shimimg migrate --sam-build` on it again (an --in-place run kept it as TEMPLATE.bak)")

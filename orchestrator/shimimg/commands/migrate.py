"""``shimimg migrate``: write the template with its Go functions on container images.

By default the result goes to ``.shimimg/migrated/<template file name>`` beside the template (not
where ``shimimg build`` writes its runnable template), and relative paths in it are rewritten to
work from there. Without ``--image-uri`` each ImageUri is a placeholder naming ``shimimg build``
(``template.packages.placeholder_uri``): no image exists before a build. ``--in-place`` rewrites the template itself,
keeping ``TEMPLATE.bak``. ``--check`` writes nothing: it compares what would be written with what
is there (the template itself, or ``-o OUT``) and prints the difference.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from shimimg import ui
from shimimg.commands import sambuild
from shimimg.commands.output import check as check_outputs
from shimimg.commands.output import default_output, report_relocations, write
from shimimg.commands.planning import announce_arch_changes, discover_plan
from shimimg.config import Settings
from shimimg.errors import EXIT_ERROR, EXIT_OK, ShimimgError
from shimimg.fsutil import atomic_write_bytes, atomic_write_text, check_no_link, check_output, same_file
from shimimg.plan.records import Plan
from shimimg.readfile import TEMPLATE_MAX, read_bytes
from shimimg.template import load_document, render_migrated
from shimimg.template.textdiff import unified_diff
from shimimg.trust import check_output_path, checkout_root, inside, untrusted_roots

_EXAMPLE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders:v1"


def _write_command(template: Path, output: Path | None, image_uris: Sequence[str], settings: Settings,
                   sam_build_dir: Path | None = None, go_image: str | None = None, sam_build: bool = False) -> str:
    """The command that writes what --check compared, as the user would paste it."""
    args = ["shimimg", "migrate", "-t", str(template)]
    if sam_build:
        args.append("--sam-build")
        args += ["--sam-build-dir", str(sam_build_dir)] if sam_build_dir is not None else []
        args += ["--go-image", go_image] if go_image else []
        if "base_image" in {k for k, v in settings.sources.items() if v == "command line"}:
            args += ["--base-image", settings.base_image]
    args += ["-o", str(output)] if output is not None else ["--in-place"]
    given = {k for k, v in settings.sources.items() if v == "command line"}
    if "arch" in given:
        args += ["--arch", settings.arch]
    args += [f for t in settings.go_tags if "go_tags" in given for f in ("--go-tag", t)]
    for name, flag in (("direct", "--direct"), ("drop_layers", "--drop-layers"), ("consolidate", "--consolidate")):
        if name in given and getattr(settings, name):
            args.append(flag)
    args += [f for uri in image_uris for f in ("--image-uri", uri)]
    return shlex.join(args)


def run(
    *,
    template: Path,
    output: Path | None,
    in_place: bool,
    backup: bool,
    image_uris: Sequence[str],
    check: bool,
    settings: Settings,
    sam_build: bool = False,
    sam_build_dir: Path | None = None,
    go_image: str | None = None,
) -> int:
    if in_place and output is not None:
        raise ShimimgError("--in-place and --output both name where to write", hint="use one of them")
    direct, drop_layers = settings.direct, settings.drop_layers
    if in_place:
        _check_in_place(template)
    elif check:
        if output is not None:
            _check_readable(output)
    elif not same_file(output or default_output(template), template):
        check_outputs(template, output, "migrated")
    doc = load_document(template)
    plan = discover_plan(doc, settings)
    announce_arch_changes(plan)
    uris = parse_image_uris(image_uris, plan, doc.directory)
    if check:
        target = output if output is not None else template
    else:
        target = template if in_place else (output if output is not None else default_output(template, "migrated"))
    if not in_place and same_file(target, template) and not check:
        raise ShimimgError(
            f"--output {target} is the template itself", hint="use --in-place to rewrite the template (keeps a .bak)"
        )
    moved: list[tuple[str, str]] = []
    built = None
    if sam_build:
        built = _sam_build(doc, plan, settings, target, uris, sam_build_dir, go_image)
    elif sam_build_dir is not None or go_image is not None:
        raise ShimimgError("--sam-build-dir and --go-image are for --sam-build", hint="add --sam-build, or drop them")
    text = render_migrated(doc, plan, image_uris=uris, direct=direct, drop_layers=drop_layers, output_path=target,
                           relocations=moved, sam_build=built.metadata if built else None)

    if check:
        stale = []
        current = _read(target)
        if current != text:
            sys.stdout.write(unified_diff(current or "", text, str(target), f"{target} (migrated)"))
            stale.append(str(target))
        for path, data in (built.files.items() if built else ()):
            now = _read(path)
            if now != data.decode():
                sys.stdout.write(unified_diff(now or "", data.decode(), str(path), f"{path} (migrated)"))
                stale.append(str(path))
        if not stale:
            ui.info("%s is up to date", target if not built else ", ".join([str(target), *map(str, built.files)]))
            return EXIT_OK
        ui.info("%s would change: run `%s` to write it", ", ".join(stale),
                _write_command(template, output, image_uris, settings, sam_build_dir if sam_build else None,
                               go_image, sam_build))
        return EXIT_ERROR
    if built:
        sambuild.write_files(template, built)

    if in_place:
        if text == doc.original:
            ui.info("%s is already migrated: nothing to change", template)
            return EXIT_OK
        _check_in_place(template)
        if backup:
            bak = template.with_name(template.name + ".bak")
            check_output_path(bak, untrusted_roots(template))
            check_no_link(bak, "backup")
            atomic_write_bytes(bak, doc.original.encode("utf-8"))
            ui.info("kept the original as %s", bak)
        # The user named the template: a link to it is followed, anything but a file refused.
        atomic_write_text(template, text, follow=True)
        target = template
    else:
        target = write(template, output, text, "migrated")
    report_relocations(moved, target)
    _report(plan, sum(len(p.functions) for p in plan.packages), target,
            placeholders=not built and any(p.path not in uris for p in plan.packages))
    if built and plan.packages:
        ui.info("wrote %d Dockerfile(s) under %s: `sam build --use-buildkit -t %s` builds one image per package",
                len(plan.packages), sambuild.folder_of(template, sam_build_dir), shlex.quote(str(target)))
    return EXIT_OK


def _sam_build(doc, plan: Plan, settings: Settings, target: Path, uris: dict, folder: Path | None,
               go_image: str | None):
    if uris:
        raise ShimimgError("--image-uri and --sam-build both say where images come from",
                           hint="with --sam-build, sam build builds the images and sam deploy pushes them: drop "
                                "--image-uri")
    if settings.direct:
        raise ShimimgError("--direct is not available with --sam-build", hint="drop --direct")
    if not plan.packages:
        sambuild.check_own_output(doc)
    return sambuild.prepare(doc, plan, settings, target=target, folder=sambuild.folder_of(plan.template, folder),
                            go_image=go_image)


def _check_in_place(template: Path) -> None:
    """The template may be a link the repository committed: rewrite its target only when that is
    inside the checkout, and only through folders that are not links planted there."""
    roots = untrusted_roots(template)
    check_output_path(template.parent, roots)
    real = Path(os.path.realpath(template))
    root = checkout_root(template.parent)
    if not inside(real, root):
        raise ShimimgError(f"{template} is a symbolic link to {real}, outside the checkout {root}: --in-place "
                           "would rewrite a file elsewhere", hint="migrate with -o OUT instead, or replace the link "
                           "with the template itself")


def _check_readable(path: Path) -> None:
    """``--check -o OUT`` reads OUT: a regular file or nothing (a FIFO would hang, a device never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ShimimgError(f"cannot read {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        check_output(path)  # names what it is and refuses it


def parse_image_uris(items: Sequence[str], plan: Plan, template_dir: Path) -> dict[Path, str]:
    """``PACKAGE=URI`` options → {Package.path: URI}; PACKAGE is the CodeUri as written or a path."""
    out: dict[Path, str] = {}
    problems = []
    by_path = {pkg.path: pkg for pkg in plan.packages}
    for item in items:
        key, sep, uri = item.partition("=")
        if not sep or not key or not uri.strip():
            problems.append(f"{item!r}: expected PACKAGE=URI, e.g. ./={_EXAMPLE_URI}")
            continue
        pkg = _match_package(key, by_path, template_dir)
        if pkg is None:
            known = ", ".join(f"{p.code_uri} ({p.path})" for p in plan.packages)
            known = known or "none: the template has no Go functions"
            problems.append(f"{key!r} is not a package of this template; known packages: {known}")
            continue
        if pkg.path in out and out[pkg.path] != uri.strip():
            problems.append(f"{key!r}: {pkg.code_uri} already has ImageUri {out[pkg.path]}")
            continue
        out[pkg.path] = uri.strip()
    if problems:
        raise ShimimgError("bad --image-uri", problems=problems, hint="run `shimimg plan` to list the packages")
    return out


def _match_package(key: str, by_path: dict, template_dir: Path):
    # The CodeUri as written is relative to the template; a path typed in a shell may be
    # relative to the working directory. Either names the package when it resolves to it.
    for base in (template_dir, Path.cwd()):
        candidate = Path(os.path.normpath(base / key))
        try:
            resolved = candidate.resolve()
        except (OSError, ValueError):
            resolved = candidate
        for path in (candidate, resolved):
            if path in by_path:
                return by_path[path]
    for pkg in by_path.values():
        if key == pkg.code_uri:
            return pkg
    return None


def _read(path: Path) -> str | None:
    try:
        return read_bytes(path, TEMPLATE_MAX, "template").decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ShimimgError(f"cannot read {path}: {e}") from None



def _report(plan: Plan, moved: int, target: Path, *, placeholders: bool) -> None:
    if not moved:
        ui.info("no Go zip functions to move: wrote %s unchanged", target)
        return
    for pkg in plan.packages:
        names = [fn.logical_id for fn in pkg.functions]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        ui.info("%s: %s%s", pkg.code_uri, ", ".join(names[:5]), more)
    ui.info("moved %d function%s onto %d image%s: wrote %s", moved, "s" if moved != 1 else "",
            len(plan.packages), "s" if len(plan.packages) != 1 else "", target)
    if placeholders:
        ui.info("ImageUri values are placeholders until `shimimg build` (local images, %s) or `shimimg push` "
                "(pinned digests) writes them; or pass --image-uri PACKAGE=URI", default_output(plan.template))

"""Command line: flags → typed arguments → one call into ``shimimg.commands``. No logic here.

``main`` is the one error handler around dispatch: expected errors exit 1 with their message,
Ctrl-C exits 130, anything else is a bug: exit 3 with the traceback in a log file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import List, Optional

import typer

from shimimg import __version__
from shimimg.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, ShimimgError

app = typer.Typer(
    name="shimimg",
    help="Move multi-binary Go Lambda functions (go1.x / provided.* with Handler: bin/x) onto container images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts use [brackets] for defaults and env names; do not read them as markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

TemplateOpt = typer.Option(
    Path("template.yaml"), "-t", "--template", help="SAM or CloudFormation template (YAML or JSON)."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shimimg {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log every command shimimg runs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    from shimimg.ui import setup_logging

    setup_logging(verbose)


@app.command()
def plan(
    template: Path = TemplateOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    arch: str = typer.Option("arm64", "--arch", help="Target architecture: arm64 or x86_64."),
) -> None:
    """Show which functions shimimg would move, grouped into one image per package."""
    from shimimg.commands import plan as cmd

    raise typer.Exit(cmd.run(template=template, as_json=json_out, arch=arch))


@app.command()
def migrate(
    template: Path = TemplateOpt,
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Where to write the template [default: .shimimg/build/template.yaml beside it]."
    ),
    in_place: bool = typer.Option(False, "--in-place", help="Rewrite TEMPLATE itself (keeps TEMPLATE.bak)."),
    no_backup: bool = typer.Option(False, "--no-backup", help="With --in-place: keep no .bak copy."),
    image_uri: List[str] = typer.Option(
        [], "--image-uri", metavar="PACKAGE=URI", help="ImageUri for a package (its CodeUri); repeatable."
    ),
    arch: str = typer.Option("arm64", "--arch", help="Target architecture: arm64 or x86_64."),
    direct: bool = typer.Option(
        False, "--direct", help="No shim: ImageConfig.EntryPoint runs /var/task/<handler> itself."
    ),
    drop_layers: bool = typer.Option(False, "--drop-layers", help="Drop Layers of migrated functions."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 with a diff if migrating would change TEMPLATE (or OUT, with -o).",
    ),
) -> None:
    """Rewrite the template: PackageType Image, ImageUri, ImageConfig per function."""
    from shimimg.commands import migrate as cmd

    raise typer.Exit(
        cmd.run(
            template=template,
            output=output,
            in_place=in_place,
            backup=not no_backup,
            image_uris=image_uri,
            arch=arch,
            direct=direct,
            drop_layers=drop_layers,
            check=check,
        )
    )


def _help(name: str) -> str:
    from shimimg.config import option_help

    return option_help(name)


# Push options, shared by `push` and `build --push`.
RepositoryOpt = typer.Option(
    [],
    "--repository",
    metavar="[PACKAGE=]URI",
    help="Repository to push to, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders; "
    "PACKAGE=URI (PACKAGE as its CodeUri) for one package; repeatable.",
)
PushTagOpt = typer.Option(
    [], "--tag", metavar="TAG", help="Extra tag besides the content-derived one (e.g. a commit); repeatable."
)
ForceOpt = typer.Option(False, "--force", help="Move --tag tags that already point at another image.")
CreateRepositoryOpt = typer.Option(
    False, "--create-repository", help="Create a missing ECR repository (immutable tags, scan on push)."
)
RegistryEndpointOpt = typer.Option(
    None,
    "--registry-endpoint",
    metavar="HOST[:PORT]",
    envvar="SHIMIMG_REGISTRY_ENDPOINT",
    help="Send the registry traffic to HOST[:PORT] instead of the repository's host (a tunnel, a test "
    "registry); the template still names the repository.",
)
RetriesOpt = typer.Option(3, "--retries", min=0, metavar="N", help="Retries for transient registry errors.")

# Build settings, declared once (help and env names come from config.Settings).
BaseOpt = typer.Option(None, "--base", "--base-image", help=_help("base_image"))
ArchOpt = typer.Option(None, "--arch", help=_help("arch"))
GoTagOpt = typer.Option(None, "--go-tag", help=_help("go_tags"))
PrebuiltOpt = typer.Option(None, "--prebuilt/--from-source", help=_help("prebuilt"))
AllowDynamicOpt = typer.Option(None, "--allow-dynamic", help=_help("allow_dynamic"))
DirectOpt = typer.Option(None, "--direct/--shim", help=_help("direct"))
DropLayersOpt = typer.Option(None, "--drop-layers", help=_help("drop_layers"))
BuilderOpt = typer.Option(None, "--builder", help=_help("builder"))
CacheFromOpt = typer.Option(None, "--cache-from", help=_help("cache_from"))
CacheToOpt = typer.Option(None, "--cache-to", help=_help("cache_to"))
CacheDirOpt = typer.Option(None, "--cache-dir", help=_help("cache_dir"))
CompressionOpt = typer.Option(None, "--compression-level", metavar="0-9", help=_help("compression_level"))


def _flags(
    base,
    arch,
    go_tags,
    prebuilt,
    allow_dynamic,
    direct,
    builder,
    cache_from,
    cache_to,
    cache_dir,
    drop_layers=None,
    compression_level=None,
) -> dict:
    """The build settings given on the command line (None: not given, so lower sources decide)."""
    return dict(
        base_image=base,
        arch=arch,
        go_tags=go_tags or None,
        prebuilt=prebuilt,
        allow_dynamic=allow_dynamic,
        drop_layers=drop_layers,
        direct=direct,
        builder=builder,
        cache_from=cache_from or None,
        cache_to=cache_to or None,
        cache_dir=cache_dir,
        compression_level=compression_level,
    )


def _push(template, output, flags, repository, tag, force, create_repository, registry_endpoint, retries, json_out):
    from shimimg.commands import push as cmd

    return cmd.run(
        template=template,
        output=output,
        flags=flags,
        repositories=repository,
        tags=tag,
        force=force,
        create_repository=create_repository,
        registry_endpoint=registry_endpoint,
        retries=retries,
        as_json=json_out,
    )


@app.command()
def build(
    template: Path = TemplateOpt,
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Where to write the template [default: .shimimg/build/template.yaml beside it]."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print images, digests and functions as JSON."),
    base: Optional[str] = BaseOpt,
    arch: Optional[str] = ArchOpt,
    go_tags: Optional[List[str]] = GoTagOpt,
    prebuilt: Optional[bool] = PrebuiltOpt,
    allow_dynamic: Optional[bool] = AllowDynamicOpt,
    drop_layers: Optional[bool] = DropLayersOpt,
    direct: Optional[bool] = DirectOpt,
    builder: Optional[str] = BuilderOpt,
    cache_from: Optional[List[str]] = CacheFromOpt,
    cache_to: Optional[List[str]] = CacheToOpt,
    cache_dir: Optional[Path] = CacheDirOpt,
    compression_level: Optional[int] = CompressionOpt,
    push: bool = typer.Option(False, "--push", help="Also push (see `shimimg push`): the template pins digests."),
    repository: List[str] = RepositoryOpt,
    tag: List[str] = PushTagOpt,
    force: bool = ForceOpt,
    create_repository: bool = CreateRepositoryOpt,
    registry_endpoint: Optional[str] = RegistryEndpointOpt,
    retries: int = RetriesOpt,
) -> None:
    """Build one image per package (all its handlers plus the shim) and write the migrated template."""
    from shimimg.commands import build as cmd

    flags = _flags(
        base,
        arch,
        go_tags,
        prebuilt,
        allow_dynamic,
        direct,
        builder,
        cache_from,
        cache_to,
        cache_dir,
        drop_layers,
        compression_level,
    )
    if push or repository:
        if not push:
            raise typer.BadParameter("--repository needs --push (or use `shimimg push`)", param_hint="--repository")
        raise typer.Exit(
            _push(
                template, output, flags, repository, tag, force, create_repository, registry_endpoint, retries, json_out
            )
        )
    raise typer.Exit(cmd.run(template=template, output=output, flags=flags, as_json=json_out))


@app.command()
def push(
    template: Path = TemplateOpt,
    repository: List[str] = RepositoryOpt,
    tag: List[str] = PushTagOpt,
    force: bool = ForceOpt,
    create_repository: bool = CreateRepositoryOpt,
    registry_endpoint: Optional[str] = RegistryEndpointOpt,
    retries: int = RetriesOpt,
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Where to write the template [default: .shimimg/build/template.yaml beside it]."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print repository, tags, digest and bytes pushed per package as JSON."
    ),
    base: Optional[str] = BaseOpt,
    arch: Optional[str] = ArchOpt,
    go_tags: Optional[List[str]] = GoTagOpt,
    prebuilt: Optional[bool] = PrebuiltOpt,
    allow_dynamic: Optional[bool] = AllowDynamicOpt,
    drop_layers: Optional[bool] = DropLayersOpt,
    direct: Optional[bool] = DirectOpt,
    builder: Optional[str] = BuilderOpt,
    cache_from: Optional[List[str]] = CacheFromOpt,
    cache_to: Optional[List[str]] = CacheToOpt,
    cache_dir: Optional[Path] = CacheDirOpt,
    compression_level: Optional[int] = CompressionOpt,
) -> None:
    """Build (cached), push each package image once, and write the template pinned to the digests."""

    flags = _flags(
        base,
        arch,
        go_tags,
        prebuilt,
        allow_dynamic,
        direct,
        builder,
        cache_from,
        cache_to,
        cache_dir,
        drop_layers,
        compression_level,
    )
    raise typer.Exit(
        _push(template, output, flags, repository, tag, force, create_repository, registry_endpoint, retries, json_out)
    )


@app.command()
def invoke(
    function: str = typer.Argument(
        ..., metavar="FUNCTION", help="Logical id of the function, e.g. CreateOrderFunction."
    ),
    template: Path = TemplateOpt,
    event: Optional[str] = typer.Option(
        None, "-e", "--event", metavar="EVENT_FILE", help="Event as a JSON file, or - for stdin [default: {}]."
    ),
    env_vars: Optional[Path] = typer.Option(
        None,
        "-n",
        "--env-vars",
        metavar="FILE",
        help='Environment overrides in SAM\'s format: {"LogicalId": {"NAME": "value"}, "Parameters": {...}}.',
    ),
    no_build: bool = typer.Option(False, "--no-build", help="Run the image as it is; fail if it is missing."),
    repeat: int = typer.Option(
        1, "--repeat", min=1, metavar="N", help="Invoke N times on one container: the first is cold, the rest warm."
    ),
    port: Optional[int] = typer.Option(
        None, "--port", min=1, max=65535, help="Local port for the emulator (127.0.0.1) [default: a free one]."
    ),
    base: Optional[str] = BaseOpt,
    arch: Optional[str] = ArchOpt,
    direct: Optional[bool] = DirectOpt,
    cache_dir: Optional[Path] = CacheDirOpt,
    drop_layers: Optional[bool] = DropLayersOpt,
) -> None:
    """Run a function's image under the Lambda Runtime Interface Emulator and invoke it with an event."""
    from shimimg.commands import invoke as cmd

    flags = dict(base_image=base, arch=arch, direct=direct, cache_dir=cache_dir, drop_layers=drop_layers)
    raise typer.Exit(
        cmd.run(
            function=function,
            template=template,
            event=event,
            env_vars=env_vars,
            no_build=no_build,
            repeat=repeat,
            port=port,
            flags=flags,
        )
    )


def _bug_log(exc: BaseException) -> Path:
    fd, name = tempfile.mkstemp(prefix="shimimg-bug-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(f"shimimg {__version__}\npython {sys.version}\nargv {sys.argv}\n\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return Path(name)


def main(argv: Optional[List[str]] = None) -> int:
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv, prog_name="shimimg", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except ShimimgError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_ERROR
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:  # Ctrl-C, as the parser reports it
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except typer.TyperException as e:  # usage errors: typer prints nothing when not standalone
        if hasattr(e, "show"):
            e.show()
        else:
            print(f"error: {e.format_message()}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: keep the traceback for the report, tell the user where
        path = _bug_log(e)
        print(
            f"error: shimimg hit a bug: {type(e).__name__}: {e}\n  the traceback is in {path}; "
            "please attach it to a bug report",
            file=sys.stderr,
        )
        return EXIT_BUG

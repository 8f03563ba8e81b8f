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
        False, "--check", help="Write nothing; exit 1 and print a diff if the template would change."
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


@app.command()
def build(
    template: Path = TemplateOpt,
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Where to write the template [default: .shimimg/build/template.yaml beside it]."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print images, digests and functions as JSON."),
    base: Optional[str] = typer.Option(None, "--base", "--base-image", help=_help("base_image")),
    arch: Optional[str] = typer.Option(None, "--arch", help=_help("arch")),
    go_tags: Optional[List[str]] = typer.Option(None, "--go-tag", help=_help("go_tags")),
    prebuilt: Optional[bool] = typer.Option(None, "--prebuilt/--from-source", help=_help("prebuilt")),
    allow_dynamic: Optional[bool] = typer.Option(None, "--allow-dynamic", help=_help("allow_dynamic")),
    direct: Optional[bool] = typer.Option(None, "--direct/--shim", help=_help("direct")),
    builder: Optional[str] = typer.Option(None, "--builder", help=_help("builder")),
    cache_from: Optional[List[str]] = typer.Option(None, "--cache-from", help=_help("cache_from")),
    cache_to: Optional[List[str]] = typer.Option(None, "--cache-to", help=_help("cache_to")),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=_help("cache_dir")),
) -> None:
    """Build one image per package (all its handlers plus the shim) and write the migrated template."""
    from shimimg.commands import build as cmd

    flags = dict(
        base_image=base, arch=arch, go_tags=go_tags or None, prebuilt=prebuilt, allow_dynamic=allow_dynamic,
        direct=direct, builder=builder, cache_from=cache_from or None, cache_to=cache_to or None, cache_dir=cache_dir,
    )
    raise typer.Exit(cmd.run(template=template, output=output, flags=flags, as_json=json_out))


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
    except typer.Abort:
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
        print(f"error: shimimg hit a bug: {type(e).__name__}: {e}\n  the traceback is in {path}; "
              "please attach it to a bug report", file=sys.stderr)
        return EXIT_BUG

"""Command line: flags → one ``Settings`` record and typed arguments → one call into
``shimimg.commands``. No logic here; ``shimimg.error_handler`` turns how a command ended into the
exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from shimimg import __version__, config, error_handler
from shimimg.options import BUILD_SETTINGS, NETWORK_SETTINGS, with_options

app = typer.Typer(
    name="shimimg",
    help="Move multi-binary Go Lambda functions (go1.x / provided.* with Handler: bin/x) onto container images.",
    no_args_is_help=True,
    # `shimimg --install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
    # Help texts use [brackets] for defaults and env names; do not read them as markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Options every command takes, before or after the command's name (see ``_hoist``).
GLOBAL_FLAGS = {"-v": 0, "--verbose": 0, "--debug": 0, "-q": 0, "--quiet": 0, "--progress": 1}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shimimg {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="Log every command shimimg runs."),
    debug: bool = typer.Option(False, "--debug", help="Also log the output of every command shimimg runs."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only results and errors."),
    progress: str = typer.Option("auto", "--progress", metavar="auto|plain|live",
                                 help="Live display on a terminal, plain lines elsewhere [auto]."),
    version: bool = typer.Option(False, "-V", "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    from shimimg import ui

    if progress not in ("auto", "plain", "live"):
        raise typer.BadParameter("use auto, plain or live", param_hint="--progress")
    ui.setup(verbosity=2 if debug else min(verbose, 1), quiet=quiet, progress=progress)


def _settings(template: Path, flags: dict) -> config.Settings:
    return config.load(template.resolve().parent, flags)


def _deploy(template: Path, image_repository: Optional[str], image_repositories: List[str], region: Optional[str],
            profile: Optional[str], config_file: Optional[str], config_env: Optional[str]):
    from shimimg import samconfig

    return samconfig.deploy(template.resolve().parent, image_repository=image_repository,
                            image_repositories=image_repositories, region=region, profile=profile,
                            config_file=config_file, config_env=config_env)


@app.command()
@with_options("template", settings=("arch", "go_tags", "prebuilt", "consolidate", "direct", "base_image"))
def plan(json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."), *,
         template: Path, flags: dict) -> None:
    """Show which functions shimimg would move, where each binary comes from, and what it leaves alone."""
    from shimimg.commands import plan as cmd

    raise typer.Exit(cmd.run(template=template, settings=_settings(template, flags), as_json=json_out))


@app.command()
@with_options("template", "output", settings=("arch", "go_tags", "consolidate", "direct", "drop_layers", "base_image"))
def migrate(
    in_place: bool = typer.Option(False, "--in-place", help="Rewrite TEMPLATE itself (keeps TEMPLATE.bak)."),
    no_backup: bool = typer.Option(False, "--no-backup", help="With --in-place: keep no .bak copy."),
    image_uri: List[str] = typer.Option([], "--image-uri", metavar="PACKAGE=URI",
                                        help="ImageUri for a package (its CodeUri); repeatable."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a diff if migrating would change "
                               "TEMPLATE (or OUT, with -o)."),
    sam_build: bool = typer.Option(False, "--sam-build", help="Leave the building to `sam build --use-buildkit`: "
                                   "write a Dockerfile per package and Metadata its functions share (no ImageUri)."),
    sam_build_dir: Optional[Path] = typer.Option(None, "--sam-build-dir", metavar="DIR",
                                                 help="With --sam-build: where the Dockerfiles go, inside the "
                                                      "template's folder [.shimimg/sam-build]."),
    go_image: Optional[str] = typer.Option(None, "--go-image", metavar="REF",
                                           help="With --sam-build: the Go image the Dockerfile compiles in "
                                                "[public.ecr.aws/docker/library/golang:<the module's go version>]."),
    *, template: Path, output: Optional[Path], flags: dict,
) -> None:
    """Rewrite the template only: PackageType Image, ImageUri, ImageConfig per function (no Docker)."""
    from shimimg.commands import migrate as cmd

    raise typer.Exit(cmd.run(template=template, output=output, in_place=in_place, backup=not no_backup,
                             image_uris=image_uri, check=check, settings=_settings(template, flags),
                             sam_build=sam_build, sam_build_dir=sam_build_dir, go_image=go_image))


@app.command()
@with_options("template", "output", "packages", "push", "aws", "samconfig", settings=BUILD_SETTINGS + NETWORK_SETTINGS)
def build(
    json_out: bool = typer.Option(False, "--json", help="Print images, digests and functions as JSON."),
    push: bool = typer.Option(False, "--push", help="Also push (see `shimimg push`): the template pins digests."),
    *, template: Path, output: Optional[Path], package: List[str], repository: List[str], tag: List[str],
    image_repository: Optional[str], image_repositories: List[str], region: Optional[str], profile: Optional[str],
    config_file: Optional[str], config_env: Optional[str], force: bool, create_repository: bool, flags: dict,
) -> None:
    """Build one image per package (all its handlers plus the shim) and write the migrated template."""
    from shimimg.commands import build as cmd

    settings = _settings(template, flags)
    if (repository or image_repository or image_repositories) and not push:
        raise typer.BadParameter("--repository needs --push (or use `shimimg push`)", param_hint="--repository")
    if push:
        from shimimg.commands import push as push_cmd

        raise typer.Exit(push_cmd.run(template=template, output=output, settings=settings, packages=package,
                                      repositories=repository, tags=tag, force=force,
                                      create_repository=create_repository, as_json=json_out,
                                      deploy=_deploy(template, image_repository, image_repositories, region, profile,
                                                     config_file, config_env)))
    raise typer.Exit(cmd.run(template=template, output=output, settings=settings, packages=package, as_json=json_out))


@app.command()
@with_options("template", "output", "packages", "push", "aws", "samconfig", settings=BUILD_SETTINGS + NETWORK_SETTINGS)
def push(
    json_out: bool = typer.Option(False, "--json", help="Print repository, tags, digest and bytes pushed per "
                                  "package as JSON (input to `shimimg pin`)."),
    *, template: Path, output: Optional[Path], package: List[str], repository: List[str], tag: List[str],
    image_repository: Optional[str], image_repositories: List[str], region: Optional[str], profile: Optional[str],
    config_file: Optional[str], config_env: Optional[str], force: bool, create_repository: bool, flags: dict,
) -> None:
    """Build (cached), push each package image once, and write the template pinned to the digests."""
    from shimimg.commands import push as cmd

    raise typer.Exit(cmd.run(template=template, output=output, settings=_settings(template, flags), packages=package,
                             repositories=repository, tags=tag, force=force, create_repository=create_repository,
                             as_json=json_out, deploy=_deploy(template, image_repository, image_repositories, region,
                                                               profile, config_file, config_env)))


@app.command()
@with_options("template", "output", settings=("arch", "consolidate"))
def pin(
    results: List[Path] = typer.Argument(..., metavar="RESULT.json...",
                                         help="`shimimg push --json` outputs of the shards, one per file."),
    json_out: bool = typer.Option(False, "--json", help="Print the merged result as JSON."),
    repository: List[str] = typer.Option([], "--repository", metavar="URI|PACKAGE=URI",
                                         help="Accept only images in this repository (as `push` takes it); "
                                              "[default: the one each result records]."),
    *, template: Path, output: Optional[Path], flags: dict,
) -> None:
    """Merge the results of several `push --package` jobs into one digest-pinned template."""
    from shimimg.commands import pin as cmd

    # The same plan the shards pushed: --arch and --consolidate as they were given to push.
    raise typer.Exit(cmd.run(template=template, output=output, results=results, as_json=json_out,
                             settings=_settings(template, flags), repositories=repository))


@app.command()
@with_options("template", "samconfig", settings=BUILD_SETTINGS)
def invoke(
    function: str = typer.Argument(..., metavar="FUNCTION",
                                   help="Logical id of the function, e.g. CreateOrderFunction."),
    event: Optional[str] = typer.Option(None, "-e", "--event", metavar="EVENT_FILE",
                                        help="Event as a JSON file, or - for stdin [default: {}]."),
    env_vars: Optional[Path] = typer.Option(None, "-n", "--env-vars", metavar="FILE",
                                            help='Environment overrides in SAM\'s format: {"LogicalId": {"NAME": '
                                                 '"value"}, "Parameters": {...}}.'),
    parameter_overrides: List[str] = typer.Option(
        [], "--parameter-overrides", metavar="KEY=VALUE",
        help="Template parameters, as SAM takes them (Key=Value or ParameterKey=K,ParameterValue=V); "
             "samconfig.toml's parameter_overrides apply first."),
    profile: Optional[str] = typer.Option(None, "--profile", help="AWS profile whose credentials the function gets."),
    region: Optional[str] = typer.Option(None, "--region", help="AWS_REGION for the function [us-east-1]."),
    docker_network: Optional[str] = typer.Option(None, "--docker-network", metavar="NETWORK",
                                                 help="Docker network the container joins (e.g. a local DynamoDB's)."),
    debug_port: Optional[int] = typer.Option(None, "-d", "--debug-port", min=1, max=65535,
                                             help="Publish this port on 127.0.0.1 (a debugger such as Delve)."),
    no_build: bool = typer.Option(False, "--no-build", help="Run the image of the last build; fail if there is none."),
    repeat: int = typer.Option(1, "--repeat", min=1, metavar="N",
                               help="Invoke N times on one container: the first is cold, the rest warm."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535,
                                       help="Local port for the emulator (127.0.0.1) [default: a free one]."),
    *, template: Path, config_file: Optional[str], config_env: Optional[str], flags: dict,
) -> None:
    """Run a function's image under the Lambda Runtime Interface Emulator and invoke it with an event."""
    from shimimg.commands import invoke as cmd

    raise typer.Exit(cmd.run(
        function=function, template=template, settings=_settings(template, flags), event=event, env_vars=env_vars,
        parameter_overrides=parameter_overrides, profile=profile, region=region, docker_network=docker_network,
        debug_port=debug_port, no_build=no_build, repeat=repeat, port=port, config_file=config_file,
        config_env=config_env,
    ))


@app.command()
@with_options("template", "aws", "samconfig", settings=("arch", "base_image", "builder"))
def doctor(
    repository: Optional[str] = typer.Option(None, "--repository", "--image-repository", metavar="URI",
                                             help="Also check credentials for this repository [samconfig's deploy "
                                                  "image_repository]."),
    json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    *, template: Path, region: Optional[str], profile: Optional[str], config_file: Optional[str],
    config_env: Optional[str], flags: dict,
) -> None:
    """Check what shimimg needs on this machine: engine, buildx, builder, emulation, Go, base image, credentials."""
    from shimimg.commands import doctor as cmd

    raise typer.Exit(cmd.run(settings=_settings(template, flags), repository=repository, as_json=json_out,
                             deploy=_deploy(template, None, (), region, profile, config_file, config_env)))


@app.command()
@with_options("template", settings=("cache_dir",))
def prune(
    keep: int = typer.Option(3, "--keep", metavar="N", help="Builds to keep per package [3]."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing."),
    *, template: Path, flags: dict,
) -> None:
    """Remove shimimg's own old local images and cached binaries beyond the last N builds per package."""
    from shimimg.commands import prune as cmd

    raise typer.Exit(cmd.run(template=template, settings=_settings(template, flags), keep=keep, dry_run=dry_run))


def _hoist(argv: list[str]) -> list[str]:
    """Move global flags given after the command name to the front, so ``shimimg build -v`` works
    like ``shimimg -v build``. Stops at ``--``; only whole tokens that are global flags move."""
    front, rest, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest += argv[i:]
            break
        name = token.split("=", 1)[0]
        if name in GLOBAL_FLAGS or (token.startswith("-v") and set(token[1:]) == {"v"}):
            takes = GLOBAL_FLAGS.get(name, 0) if "=" not in token else 0
            front += argv[i:i + 1 + takes]
            i += 1 + takes
            continue
        rest.append(token)
        i += 1
    return front + rest


def _kinds() -> tuple[tuple, tuple, tuple]:
    """(exit, abort, usage error) exception classes. typer 0.28 carries its own copy of click (and
    needs no click installed); older typer uses click itself, imported by typer by now: catch
    whichever kinds exist, without importing a click that typer does not use."""
    exits, aborts = {typer.Exit}, {typer.Abort}
    usage = {c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"}
    click = sys.modules.get("click")
    if click is not None:
        exits.add(click.exceptions.Exit)
        aborts.add(click.exceptions.Abort)
        usage.add(click.exceptions.ClickException)
    return tuple(exits), tuple(aborts), tuple(usage)


_EXITS, _ABORTS, _USAGE = _kinds()


def main(argv: Optional[List[str]] = None) -> int:
    args = _hoist(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)

    def call() -> int:
        try:
            rc = command.main(args=args, prog_name="shimimg", standalone_mode=False)
        except _EXITS as e:
            # typer turns an interrupt into Exit(130): hand the interrupt itself (SIGINT or SIGTERM)
            # to the error handler, which knows the two apart.
            if isinstance(e.__cause__, KeyboardInterrupt):
                raise e.__cause__ from None
            return e.exit_code
        except _ABORTS as e:  # click turns an interrupt anywhere inside it into Abort
            cause = e.__cause__ or e.__context__
            raise (cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt()) from None
        except _USAGE as e:  # usage errors: nothing is printed when not standalone
            e.show()
            return e.exit_code
        return rc if isinstance(rc, int) else 0

    return error_handler.run(call, argv=["shimimg", *args])

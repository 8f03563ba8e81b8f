"""``shimimg invoke``: run one function's image under the Runtime Interface Emulator, as Lambda would.

template → plan → (build, through the cache) → the function's environment → container → events.
The response goes to stdout; the function's log (START / END / REPORT and its own output) to
stderr; a function error or a timeout exits 1 once the container is gone.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from shimimg import samconfig, ui
from shimimg.cache import Store
from shimimg.commands import build
from shimimg.commands.planning import load_plan
from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.image.build import package_slug
from shimimg.localinvoke import envvars, rie
from shimimg.localinvoke.output import Invocation, rapid_text
from shimimg.plan.records import DOCKER_ARCH, Function, Package, Plan
from shimimg.readfile import EVENT_MAX, MIB, read_bytes

log = logging.getLogger("shimimg.invoke")

# Beyond the function's own timeout (the emulator enforces that one), time for a cold start
# under emulation before the client gives up on the emulator itself.
CLIENT_GRACE_S = 60.0
TIMEOUT_MAX_S = 900  # Lambda's maximum Timeout
DEBUG_TIMEOUT_S = 36000  # sam local invoke's, with --debug-port
_HOST_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def read_event(event: str | None, stdin: BinaryIO | None = None) -> bytes:
    """The event as bytes, checked to be JSON; ``-`` reads stdin, nothing means ``{}`` (as SAM does)."""
    if event is None:
        return b"{}"
    if event == "-":
        data = (stdin or sys.stdin.buffer).read(EVENT_MAX + 1)
        if len(data) > EVENT_MAX:
            raise ShimimgError(f"the event on stdin is larger than {EVENT_MAX // MIB} MiB",
                               hint="Lambda takes events up to 6 MB")
        where = "the event on stdin"
    else:
        try:
            data = read_bytes(Path(event), EVENT_MAX, "event file")
        except OSError as e:
            raise ShimimgError(f"{event}: cannot read the event file: {e.strerror or e}") from None
        where = event
    try:
        json.loads(data)
    except ValueError as e:
        raise ShimimgError(
            f"{where} is not JSON: {e}",
            hint="an event is one JSON document, e.g. {} or a sample from `sam local generate-event`",
        ) from None
    return data


def find_function(plan: Plan, logical_id: str) -> tuple[Package, Function]:
    found = plan.function(logical_id)
    if found:
        return found
    known = [fn for pkg in plan.packages for fn in pkg.functions]
    problems = [f"{fn.logical_id} ({fn.handler})" for fn in known]
    if logical_id in plan.untouched_ids():
        raise ShimimgError(
            f"{logical_id} in {plan.template} is not a Go function shimimg moves, so it has no image to run",
            problems=problems,
            hint="these are the functions `shimimg invoke` can run",
        )
    skipped = {s.logical_id: s.reason for s in plan.skipped}
    if logical_id in skipped:
        raise ShimimgError(f"{logical_id} cannot be built: {skipped[logical_id]}")
    close = difflib.get_close_matches(logical_id, [fn.logical_id for fn in known], n=1)
    raise ShimimgError(
        f"no function {logical_id!r} in {plan.template}; the functions shimimg can run are:",
        problems=problems,
        hint=f"did you mean {close[0]}?" if close else "give one of these logical ids",
    )


def container_spec(
    pkg: Package, fn: Function, *, image: str, direct: bool, environment: Mapping[str, str], port: int | None,
    lifetime_s: int = 3600, network: str | None = None, extra_ports: tuple[int, ...] = (),
) -> rie.Spec:
    if direct:
        # Direct mode's ImageConfig.EntryPoint is the binary; Lambda starts it with
        # AWS_LAMBDA_RUNTIME_API set. Locally the emulator has to start it instead.
        how: dict[str, Any] = {"entrypoint": (rie.RIE_BINARY, f"/var/task/{fn.binary}")}
    else:
        # ImageConfig.Command: the base's /lambda-entrypoint.sh starts the emulator, which runs the shim.
        how = {"command": (fn.handler,)}
    return rie.Spec(
        image=image,
        platform=f"linux/{DOCKER_ARCH[pkg.arch]}",
        function=fn.logical_id,
        environment=environment,
        memory_mb=fn.memory or envvars.DEFAULT_MEMORY_MB,
        port=port,
        lifetime_s=lifetime_s,
        network=network,
        extra_ports=extra_ports,
        **how,
    )


def _image(template: Path, settings: Settings, pkg: Package, no_build: bool, loaded: tuple) -> str:
    """The image ID of the function's package: built now (only that package), or as recorded by
    the last build (--no-build); never looked up by a tag another build could have moved."""
    if no_build:
        state = Store(settings.cache_dir, template.resolve().parent,
                      allow_in_checkout=settings.cache_in_checkout).image(package_slug(pkg))
        if state is None or not state.image_id:
            raise ShimimgError(f"package {pkg.code_uri} has not been built on this machine",
                               hint="drop --no-build (invoke builds it), or run `shimimg build` first")
        return state.image_id
    _, result = build.build_images(template, settings, only=[pkg.code_uri], loaded=loaded)
    for img in result.images:
        if img.package.path == pkg.path:
            return img.image_id or img.tag
    raise ShimimgError(f"shimimg build produced no image for package {pkg.code_uri}")


def _emulated(pkg: Package) -> bool:
    return _HOST_ARCH.get(platform.machine().lower()) != DOCKER_ARCH[pkg.arch]


def _show_durations(invocations: list[Invocation], where: str) -> None:
    rows = []
    for i, inv in enumerate(invocations, 1):
        init = inv.init_ms
        duration = inv.report.duration_ms if inv.report else None
        rows.append([
            f"#{i}",
            "cold" if init is not None else "warm",
            f"{init:.1f} ms" if init is not None else "",
            f"{duration:.1f} ms" if duration is not None else "?",
            f"{inv.seconds * 1000:.0f} ms",
        ])
    # The emulator starts the runtime lazily, inside the first invocation: its DURATION includes INIT.
    print(f"durations ({where}; INIT is part of the first DURATION):", file=sys.stderr)
    ui.print_table(rows, ["#", "START", "INIT", "DURATION", "ROUND TRIP"], stream="err")
    first = invocations[0]
    warm = [inv.report.duration_ms for inv in invocations if inv.init_ms is None and inv.report]
    if warm and first.report:
        print(
            f"cold {first.report.duration_ms:.1f} ms (init {first.init_ms or 0:.1f} ms), "
            f"warm median {statistics.median(warm):.1f} ms over {len(warm)}",
            file=sys.stderr,
        )


def _and(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _failure(fn: Function, inv: Invocation, timeout_s: int) -> ShimimgError | None:
    if inv.timed_out:
        return ShimimgError(
            f"{fn.logical_id} timed out: the emulator stopped it after its Timeout of {timeout_s} s "
            f"({inv.body.decode('utf-8', 'replace').strip() or 'no answer'})",
            hint="raise Timeout in the template if the function needs longer "
            "(under emulation, arm64 on x86_64, code runs several times slower than on Lambda)",
        )
    if inv.status != 200:
        errors = list(dict.fromkeys(rapid_text(line) for line in inv.emulator if "[ERROR]" in line))
        hint = "the function's output above says why (a missing handler binary, a crash at start-up, ...)"
        if any("/var/runtime/bootstrap: no such file" in e for e in errors):
            hint = ("the image has no shim (/var/runtime/bootstrap): it was built with --direct; "
                    "invoke with --direct, or let invoke rebuild it (drop --no-build)")
        return ShimimgError(
            f"{fn.logical_id}: the runtime failed before answering (HTTP {inv.status} from the emulator)",
            problems=errors,
            hint=hint,
        )
    err = inv.error
    if err:
        error_type, message = err
        return ShimimgError(f"{fn.logical_id} failed: {error_type or 'error'}: {message}")
    return None


def _warn_about_environment(fn: Function, env: envvars.Environment, overrides: envvars.Overrides) -> None:
    if env.unresolved:
        one = len(env.unresolved) == 1
        log.warning(
            "%s: %s %s (!Ref, !Sub, ...) that only CloudFormation resolves, so %s set to \"\" here; "
            "give values with --env-vars FILE: {\"%s\": {%s}}",
            fn.logical_id, _and(env.unresolved), "comes from an intrinsic" if one else "come from intrinsics",
            "it is" if one else "they are", fn.logical_id, ", ".join(f'"{n}": "..."' for n in env.unresolved),
        )
    if env.ignored:
        log.warning(
            "%s: %s sets %s, which the template does not declare for this function: ignored",
            fn.logical_id, overrides.source, _and(env.ignored),
        )
    if not env.real_credentials:
        log.debug("credentials: dummy values (export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to pass real ones)")


def _invoke(
    spec: rie.Spec, fn: Function, payload: bytes, *, repeat: int, ready_timeout_s: float
) -> tuple[list[Invocation], ShimimgError | None]:
    timeout_s = fn.timeout or envvars.DEFAULT_TIMEOUT_S
    invocations: list[Invocation] = []
    with rie.running(spec, ready_timeout_s=ready_timeout_s) as emulator:
        for _ in range(repeat):
            inv = emulator.invoke(payload, timeout_s=timeout_s + CLIENT_GRACE_S)
            invocations.append(inv)
            for line in inv.emulator:
                log.debug("emulator: %s", rapid_text(line))
            for line in inv.output:
                print(line, file=sys.stderr)
            sys.stderr.flush()
            if inv.status == 200 and not inv.timed_out:
                sys.stdout.write(inv.body.decode("utf-8", "replace").rstrip("\n") + "\n")
                sys.stdout.flush()
            failure = _failure(fn, inv, timeout_s)
            if failure:
                # Later invocations would fail the same way (or wait out the timeout again).
                return invocations, failure
    return invocations, None


def run(
    *,
    function: str,
    template: Path,
    settings: Settings,
    event: str | None,
    env_vars: Path | None,
    parameter_overrides: Sequence[str] = (),
    profile: str | None = None,
    region: str | None = None,
    docker_network: str | None = None,
    debug_port: int | None = None,
    no_build: bool,
    repeat: int,
    port: int | None,
    ready_timeout_s: float = 120.0,
    config_file: str | None = None,
    config_env: str | None = None,
) -> int:
    if repeat < 1:
        raise ShimimgError(f"--repeat must be 1 or more, not {repeat}")
    # Everything that can be refused without Docker is refused before a container exists.
    payload = read_event(event)
    # SAM's [<env>.local_invoke.parameters] (over [<env>.global.parameters]), under the flags.
    config = samconfig.load(template.resolve().parent, "local_invoke", config_file=config_file,
                            config_env=config_env)
    if env_vars is None and config.text("env_vars"):
        env_vars = Path(config.text("env_vars") or "")  # relative to the working folder, as SAM opens it
    profile = profile or config.text("profile")
    overrides = envvars.load_overrides(env_vars) if env_vars else envvars.Overrides()
    doc, plan = load_plan(template, settings)
    pkg, fn = find_function(plan, function)
    if fn.timeout is not None and not 1 <= fn.timeout <= TIMEOUT_MAX_S:
        raise ShimimgError(f"{fn.logical_id}: Timeout {fn.timeout} is outside Lambda's 1 to {TIMEOUT_MAX_S} seconds",
                           hint=f"set Timeout to at most {TIMEOUT_MAX_S} (15 minutes) in {template}")
    context = envvars.Context.of(doc, template, parameter_overrides=parameter_overrides, region=region,
                                 profile=profile, environ=os.environ, config=config)
    env = envvars.function_environment(fn, overrides, context=context,
                                       handler=None if settings.direct else fn.handler)
    if debug_port:
        # As sam local invoke: a debugger holds the function for as long as it needs.
        fn = dataclasses.replace(fn, timeout=DEBUG_TIMEOUT_S)
        env.variables["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(DEBUG_TIMEOUT_S)  # type: ignore[index]
    rie.ping()
    image = _image(template, settings, pkg, no_build, (doc, plan))
    timeout_s = fn.timeout or envvars.DEFAULT_TIMEOUT_S
    lifetime = int(ready_timeout_s + repeat * (timeout_s + CLIENT_GRACE_S) + 60)
    spec = container_spec(pkg, fn, image=image, direct=settings.direct, environment=env.variables, port=port,
                          lifetime_s=lifetime, network=docker_network,
                          extra_ports=(debug_port,) if debug_port else ())
    _warn_about_environment(fn, env, overrides)
    where = spec.platform + (" under emulation" if _emulated(pkg) else "")
    log.info("%s: running %s (%s, %s %s)", fn.logical_id, image[:19], where,
             "entrypoint" if spec.entrypoint else "command", list(spec.entrypoint or spec.command))
    invocations, failure = _invoke(spec, fn, payload, repeat=repeat, ready_timeout_s=ready_timeout_s)
    if repeat > 1 and invocations:
        _show_durations(invocations, where)
    if failure:
        raise failure
    return 0

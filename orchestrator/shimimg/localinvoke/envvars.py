"""The environment a function sees when ``invoke`` runs it: Lambda's own variables plus the template's.

Overrides come in SAM's ``--env-vars`` format, so the file a team already keeps for
``sam local invoke`` works unchanged::

    {"EchoEnvFunction": {"STAGE": "dev"}, "Parameters": {"LOG_LEVEL": "debug"}}

``Parameters`` applies to every function, a logical id's section to that function and wins.
As in SAM, an override only sets a variable the template declares for the function (Lambda would
have no other), and a variable given by an intrinsic (!Ref, !Sub, ...) gets the value
``sam local invoke`` gives it (parameters, pseudo parameters, placeholders: see localvalues).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.plan.records import Function
from shimimg.readfile import ENV_VARS_MAX, read_text

SHARED_SECTION = "Parameters"
DEFAULT_REGION = "us-east-1"
DEFAULT_MEMORY_MB = 128  # Lambda's and SAM's default MemorySize
DEFAULT_TIMEOUT_S = 3  # SAM's default Timeout
# Obviously fake (SAM's own), so an SDK call fails with an auth error rather than reaching an account.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "defaultkey",
    "AWS_SECRET_ACCESS_KEY": "defaultsecret",
}


@dataclass(frozen=True)
class Overrides:
    shared: Mapping[str, str] = field(default_factory=dict)
    functions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = ""

    def for_function(self, logical_id: str) -> dict[str, str]:
        return {**self.shared, **self.functions.get(logical_id, {})}


@dataclass(frozen=True)
class Environment:
    variables: Mapping[str, str]
    unresolved: tuple[str, ...]  # template variables given by an intrinsic and not overridden
    ignored: tuple[str, ...]  # overrides for variables the function does not declare
    real_credentials: bool


def _string(value: Any, where: str) -> str:
    # SAM's stringification: booleans as JSON spells them, numbers as written, null as empty.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise ShimimgError(
        f"{where}: the value must be a string, number or boolean, not {type(value).__name__}",
        hint='the format is {"LogicalId": {"NAME": "value"}, "Parameters": {"NAME": "value"}}',
    )


def load_overrides(path: Path) -> Overrides:
    try:
        text = read_text(path, ENV_VARS_MAX, "--env-vars file")
    except OSError as e:
        raise ShimimgError(f"{path}: cannot read the --env-vars file: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ShimimgError(f"{path}: values are nested too deeply",
                           hint='the --env-vars file is JSON: {"LogicalId": {"NAME": "value"}}') from None
    except ValueError as e:
        raise ShimimgError(
            f"{path}: not JSON ({e})",
            hint='the --env-vars file is JSON: {"LogicalId": {"NAME": "value"}, "Parameters": {"NAME": "value"}}',
        ) from None
    if not isinstance(data, dict):
        raise ShimimgError(
            f"{path}: expected a JSON object keyed by function logical id (or \"{SHARED_SECTION}\")",
            hint='e.g. {"EchoEnvFunction": {"STAGE": "dev"}}',
        )
    sections: dict[str, dict[str, str]] = {}
    for key, section in data.items():
        if not isinstance(section, dict):
            raise ShimimgError(
                f"{path}: {key!r} must map variable names to values, not {type(section).__name__}",
                hint=f'e.g. {{"{key}": {{"NAME": "value"}}}}',
            )
        sections[key] = {str(k): _string(v, f"{path}: {key}.{k}") for k, v in section.items()}
    shared = sections.pop(SHARED_SECTION, {})
    return Overrides(shared=shared, functions=sections, source=str(path))


def lambda_variables(fn: Function, *, region: str, handler: str | None = None) -> dict[str, str]:
    """What Lambda sets for every function (a template cannot set these names), with the values
    ``sam local invoke`` gives them, so a function answers the same under either."""
    out = {
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory or DEFAULT_MEMORY_MB),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        # Not a Lambda variable: the emulator reads it to enforce the function's timeout.
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout or DEFAULT_TIMEOUT_S),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"aws/lambda/{fn.logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ACCOUNT_ID": "123456789012",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if handler:
        out["AWS_LAMBDA_FUNCTION_HANDLER"] = handler
    return out


@dataclass(frozen=True)
class Context:
    """What the local run knows besides the template: the environment, region, credentials, and
    each function's variables resolved as ``sam local invoke`` resolves them (see localvalues)."""

    environ: Mapping[str, str]
    region: str = DEFAULT_REGION
    resolved: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    credentials: Mapping[str, str] | None = None

    @classmethod
    def of(cls, doc: Any, template: Path, *, parameter_overrides: Any = (), region: str | None = None,
           profile: str | None = None, environ: Mapping[str, str], config: Any = None) -> Context:
        """``config``: the samconfig read with --config-file/--config-env (None: the default one)."""
        from shimimg.localinvoke import values as localvalues

        creds, profile_region = localvalues.session_credentials(profile, environ)
        region = localvalues.region_of(region, template, environ, profile_region, config)
        resolved = localvalues.resolve_environments(doc, template, parameter_overrides=parameter_overrides,
                                                    region=region, environ=environ, config=config)
        return cls(environ=environ, region=region, resolved=resolved, credentials=creds)


def function_environment(fn: Function, overrides: Overrides, *, context: Context,
                         handler: str | None = None) -> Environment:
    """The template's variables (after Globals, intrinsics resolved), overridden as SAM overrides
    them: the --env-vars file's function section, then its Parameters section, then a variable of
    the same name in shimimg's own environment; then Lambda's variables and the credentials."""
    environ = context.environ
    own = overrides.functions.get(fn.logical_id, {})
    resolved = context.resolved.get(fn.logical_id, {})
    variables: dict[str, str] = {}
    unresolved = []
    for name, literal in fn.environment:
        if name in own:
            variables[name] = own[name]
        elif name in overrides.shared:
            variables[name] = overrides.shared[name]
        elif name in environ:
            variables[name] = environ[name]
        elif literal is not None:
            variables[name] = literal
        elif name in resolved:
            variables[name] = resolved[name]
        else:
            variables[name] = ""
            unresolved.append(name)
    # Names in the shared section that this function does not declare are normal; a function's
    # own section naming an undeclared variable is most likely a typo.
    ignored = sorted(set(own) - set(dict(fn.environment)))
    variables.update(lambda_variables(fn, region=context.region, handler=handler))
    variables.update(context.credentials or DUMMY_CREDENTIALS)
    return Environment(variables=variables, unresolved=tuple(unresolved), ignored=tuple(ignored),
                       real_credentials=context.credentials is not None)

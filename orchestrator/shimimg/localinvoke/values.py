"""What a function's environment resolves to locally, the way ``sam local invoke`` resolves it, so
one template gives the same variables through either tool.

SAM's local values (aws-sam-cli 1.170: samcli/lib/intrinsic_resolver/intrinsics_symbol_table.py,
samcli/commands/local/lib/local_lambda.py, samcli/cli/types.py):

- parameters: their ``Default``, then ``parameter_overrides`` from the samconfig beside the
  template (``[default.global.parameters]``, then ``[default.local_invoke.parameters]``), which
  ``--parameter-overrides`` replaces as a whole; a parameter with neither resolves to its name;
- pseudo parameters: account 123456789012, the region, stack "local", partition "aws", URL suffix
  "localhost";
- ``!Ref`` of a resource is its logical id; ``!GetAtt X.Arn`` is a Lambda function ARN named after
  X (or its literal FunctionName) whatever X is; other attributes and ``!ImportValue`` are "";
  a CommaDelimitedList parameter is a list (items stripped);
- inside ``!Sub``, ``${X.Arn}`` is that ARN too, any other ``${X.Attr}`` stays as the text
  ``$X.Attr``, and what SAM's pattern does not match (``${ X }``, ``${A.B.C}``) stays as written;
  ``${!Literal}`` becomes ``${Literal}`` as CloudFormation makes it (SAM leaves it as written);
- numbers and booleans become their text; lists, mappings and nulls become "".
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.samconfig import SamConfig
from shimimg.samconfig import load as load_samconfig
from shimimg.template.discovery import function_sites, inherited
from shimimg.template.document import get
from shimimg.template.intrinsics import to_data

ACCOUNT_ID = "123456789012"
STACK = "local"
_KEY = re.compile(r"[A-Za-z0-9]+")
_LONG = re.compile(r"ParameterKey=(?P<key>[^,]*),ParameterValue=(?P<value>.*)", re.S)
# SAM's ${...} pattern (IntrinsicResolver._REGEX_SUB_FUNCTION): a pseudo parameter, or a name with
# at most one dot; and CloudFormation's escape ${!Literal}.
_SUB = re.compile(r"\$\{(![^}]*|AWS::[^}]*|[A-Za-z0-9]*\.?[A-Za-z0-9]*)\}")


def pseudo_parameters(region: str) -> dict[str, Any]:
    return {
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Region": region,
        "AWS::StackName": STACK,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{STACK}/"
                        "51af3dc0-da77-11e4-872e-1234567db123",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "localhost",
        "AWS::NotificationARNs": "",
        "AWS::NoValue": None,
    }


OVERRIDE_MAX = 64 * 1024


def parse_overrides(items: Sequence[str], where: str = "--parameter-overrides") -> dict[str, str]:
    """``Key=Value`` or ``ParameterKey=K,ParameterValue=V`` pairs, space-separated, shell-quoted."""
    out: dict[str, str] = {}
    for item in items:
        if len(item) > OVERRIDE_MAX:
            # shlex grows each token a character at a time: a multi-megabyte value would take
            # minutes (issue 19). CloudFormation takes a parameter value of 4 KB.
            raise ShimimgError(f"{where}: a parameter override string of {len(item)} characters is longer than "
                               f"{OVERRIDE_MAX // 1024} KiB ({item[:40]!r}...)",
                               hint="CloudFormation parameter values are at most 4 KB: check the overrides")
        try:
            tokens = shlex.split(item)
        except ValueError as e:
            raise ShimimgError(f"{where}: cannot read {item!r} ({e})",
                               hint='quote values with spaces: Msg="a b"') from None
        long_form = [t for t in tokens if t.startswith("ParameterKey=")]
        if long_form and len(long_form) != len(tokens):
            # SAM silently drops the Key=Value pairs of such a string; say so instead.
            raise ShimimgError(f"{where}: {item!r} mixes Key=Value and ParameterKey=K,ParameterValue=V forms",
                               hint="use one form per value given")
        for token in tokens:
            m = _LONG.fullmatch(token)
            key, sep, value = (m.group("key"), "=", m.group("value")) if m else token.partition("=")
            if not sep or not _KEY.fullmatch(key) or value == "":
                raise ShimimgError(f"{where}: {token!r} is not Key=Value", hint="e.g. --parameter-overrides Stage=prod "
                                   "(keys are letters and digits; values may be quoted)")
            out[key] = value
    return out


def samconfig(template_dir: Path, config: SamConfig | None = None) -> tuple[dict[str, str], str | None]:
    """(parameter overrides, region) from the samconfig beside the template (or ``config``, read
    with --config-file/--config-env), as sam local invoke reads it."""
    cfg = config if config is not None else load_samconfig(template_dir, "local_invoke")
    if cfg.path is None:
        return {}, None
    raw = cfg.values.get("parameter_overrides") or []
    items = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    return parse_overrides(items, str(cfg.path)), cfg.text("region")


class Resolver:
    """Intrinsics → values, with SAM's local answers for what only a deployed stack knows."""

    def __init__(self, data: Mapping[str, Any], parameters: Mapping[str, str], region: str) -> None:
        self.resources = data.get("Resources") or {}
        self.conditions = data.get("Conditions") or {}
        self.mappings = data.get("Mappings") or {}
        self.region = region
        self.symbols: dict[str, Any] = {**pseudo_parameters(region), **parameters}
        self.lists = {name for name, spec in (data.get("Parameters") or {}).items()
                      if isinstance(spec, dict) and spec.get("Type") == "CommaDelimitedList"}

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            return ""
        if name in self.symbols:
            value = self.symbols[name]
            if name in self.lists and isinstance(value, str):
                return [item.strip() for item in value.split(",")]
            return value
        return name  # a resource's logical id (or an unknown name, as SAM returns it)

    def get_att(self, args: Any) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not isinstance(args, list) or len(args) != 2:
            return ""
        name, attr = self.value(args[0]), self.value(args[1])
        if attr != "Arn":
            return ""
        props = (self.resources.get(name) or {}).get("Properties") or {}
        fn_name = props.get("FunctionName", name) if isinstance(props, dict) else name
        if not isinstance(fn_name, str):
            return ""
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{fn_name}"

    def sub(self, args: Any) -> Any:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1] if len(args) > 1 else {})
        if not isinstance(text, str):
            return ""
        local = {k: self.value(v) for k, v in (variables or {}).items()}

        def one(m: re.Match) -> str:
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in local:
                return as_text(local[inner])
            if "." in inner:
                name, attr = inner.split(".", 1)
                # As SAM: ${X.Arn} as !GetAtt gives it, any other ${X.Attr} as the text $X.Attr.
                return as_text(self.get_att([name, attr])) if attr == "Arn" else "$" + inner
            return as_text(self.ref(inner))

        return _SUB.sub(one, text)

    def condition(self, name: Any) -> bool:
        return bool(self.value(self.conditions.get(name))) if isinstance(name, str) else False

    def value(self, v: Any) -> Any:  # noqa: C901 - one branch per intrinsic, as CloudFormation lists them
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) != 1:
            return {k: self.value(x) for k, x in v.items()}
        (key, arg), = v.items()
        if key == "Ref":
            return self.ref(self.value(arg))
        if key == "Fn::GetAtt":
            return self.get_att(arg)
        if key == "Fn::Sub":
            return self.sub(arg)
        if key == "Fn::Join":
            sep, items = self.value(arg[0]), self.value(arg[1])
            return as_text(sep).join(as_text(x) for x in items) if isinstance(items, list) else ""
        if key == "Fn::Select":
            index, items = self.value(arg[0]), self.value(arg[1])
            try:
                return items[int(index)]
            except (ValueError, TypeError, IndexError, KeyError):
                return ""
        if key == "Fn::Split":
            sep, text = self.value(arg[0]), self.value(arg[1])
            return text.split(sep) if isinstance(text, str) and isinstance(sep, str) and sep else []
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return as_text(self.value(arg[0])) == as_text(self.value(arg[1]))
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(x) for x in arg)
        if key == "Fn::Or":
            return any(self.value(x) for x in arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::FindInMap":
            m, k1, k2 = (self.value(x) for x in arg[:3])
            try:
                return self.mappings[m][k1][k2]
            except (KeyError, TypeError):
                return ""
        if key == "Fn::Base64":
            return base64.b64encode(as_text(self.value(arg)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{z}" for z in "abc"]
        if key.startswith("Fn::"):  # ImportValue, Cidr, Transform...: unknown before a deploy
            return ""
        return {key: self.value(arg)}


def as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    return ""


def parameters(data: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in (data.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            default = spec["Default"]
            out[name] = ",".join(map(as_text, default)) if isinstance(default, list) else as_text(default)
    out.update(given)
    return out


def resolve_environments(doc: Any, template: Path, *, parameter_overrides: Sequence[str], region: str,
                         environ: Mapping[str, str], config: SamConfig | None = None) -> dict[str, dict[str, str]]:
    """logical id → variable → value, for every function's Environment.Variables (after Globals)."""
    config_overrides, _ = samconfig(template.resolve().parent, config)
    given = parse_overrides(parameter_overrides) if parameter_overrides else config_overrides
    try:
        data = to_data(doc.root) if doc.root is not None else {}
    except RecursionError:
        raise _too_deep(template, "a value") from None
    if not isinstance(data, dict):
        return {}
    resolver = Resolver(data, parameters(data, given), region)
    out: dict[str, dict[str, str]] = {}
    for site in function_sites(doc):
        merged: dict[str, Any] = {}
        for env in (inherited(doc, site).get("Environment"), get(site.properties, "Environment")):
            variables = to_data(env).get("Variables") if env is not None and isinstance(to_data(env), dict) else None
            if isinstance(variables, dict):
                merged.update(variables)
        try:
            out[site.logical_id] = {str(k): as_text(resolver.value(v)) for k, v in merged.items()}
        except RecursionError:
            raise _too_deep(template, f"{site.logical_id}: an Environment value") from None
    return out


def _too_deep(template: Path, what: str) -> ShimimgError:
    # Resolving is recursive, as the values are: a value nested hundreds deep is no variable.
    return ShimimgError(f"{template}: {what} is nested too deeply to resolve",
                        hint="an environment variable's value is a string: flatten it")


def region_of(cli: str | None, template: Path, environ: Mapping[str, str], profile_region: str | None,
              config: SamConfig | None = None) -> str:
    """--region, samconfig's region, AWS_DEFAULT_REGION, AWS_REGION, the profile's, or us-east-1."""
    _, config_region = samconfig(template.resolve().parent, config)
    return (cli or config_region or environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION")
            or profile_region or "us-east-1")


def session_credentials(profile: str | None, environ: Mapping[str, str]) -> tuple[dict[str, str] | None, str | None]:
    """(credentials, the profile's region) from the AWS credential chain, as SAM passes them:
    environment, shared config and credentials files, ``--profile``. boto3 is optional."""
    shared = [environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials",
              environ.get("AWS_CONFIG_FILE") or "~/.aws/config"]
    files = any(Path(p).expanduser().is_file() for p in shared)
    try:
        if not (profile or environ.get("AWS_PROFILE") or files):
            # Nothing but the environment to read: no need for boto3 (nor its instance-metadata probe).
            raise ImportError
        import boto3
        from botocore import exceptions as bce
    except ImportError:
        if profile:
            raise ShimimgError("--profile needs boto3, which is not installed",
                               hint="pip install 'shimimg[aws]', "
                                    "or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from None
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        if all(environ.get(k) for k in keys):
            creds = {k: environ[k] for k in keys}
            if environ.get("AWS_SESSION_TOKEN"):
                creds["AWS_SESSION_TOKEN"] = environ["AWS_SESSION_TOKEN"]
            return creds, None
        return None, None
    try:
        session = boto3.session.Session(profile_name=profile)
        frozen = session.get_credentials()
        frozen = frozen.get_frozen_credentials() if frozen else None
    except bce.ProfileNotFound:
        raise ShimimgError(f"AWS profile {profile!r} is not configured",
                           hint="list profiles with `aws configure list-profiles`") from None
    except bce.BotoCoreError as e:
        raise ShimimgError(f"cannot read AWS credentials{f' for profile {profile}' if profile else ''}: {e}") from None
    if frozen is None or not frozen.access_key:
        return None, session.region_name
    creds = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        creds["AWS_SESSION_TOKEN"] = frozen.token
    return creds, session.region_name

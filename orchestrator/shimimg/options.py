"""Command-line options declared once: settings (from ``config.Settings``) and the option groups
several commands share, attached to a command by a decorator.

Typer reads a command's parameters from its signature; ``with_options`` gives the command a
signature that holds the shared options too, and hands the command one ``flags`` dict of the
settings given on the command line (None where not given, so lower sources decide) plus the
shared groups' values under their own names.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, List, Optional

import typer

from shimimg.config import OPTION_FIELDS, option_help
from shimimg.errors import Interrupted

# Settings every building command (build, push, invoke) takes: one declaration, one behaviour.
BUILD_SETTINGS = (
    "base_image", "arch", "go_tags", "prebuilt", "consolidate", "allow_dynamic", "direct", "drop_layers", "unpack",
    "builder", "cache_from", "cache_to", "cache_dir", "cache_in_checkout", "allow_outside", "compression_level",
    "max_binary_size", "jobs",
)
NETWORK_SETTINGS = ("timeout", "retries", "registry_endpoint")

_TYPES: dict[str, Any] = {
    "go_tags": Optional[List[str]], "cache_from": Optional[List[str]], "cache_to": Optional[List[str]],
    "prebuilt": Optional[bool], "consolidate": Optional[bool], "allow_dynamic": Optional[bool],
    "direct": Optional[bool], "drop_layers": Optional[bool], "unpack": Optional[bool],
    "cache_in_checkout": Optional[bool], "allow_outside": Optional[bool], "compression_level": Optional[int],
    "max_binary_size": Optional[int],
    "timeout": Optional[int], "retries": Optional[int], "jobs": Optional[int], "cache_dir": Optional[Path],
}


def _setting_option(name: str) -> inspect.Parameter:
    meta = OPTION_FIELDS[name].metadata
    kwargs: dict[str, Any] = {"help": option_help(name), "show_default": False}
    if meta.get("metavar"):
        kwargs["metavar"] = meta["metavar"]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(None, *meta["flags"], **kwargs),
                             annotation=_TYPES.get(name, Optional[str]))


# Shared groups: name → (annotation, typer.Option).
GROUPS: dict[str, dict[str, tuple[Any, Any]]] = {
    "template": {
        "template": (Path, typer.Option(Path("template.yaml"), "-t", "--template",
                                        help="SAM or CloudFormation template (YAML or JSON).")),
    },
    "packages": {
        "package": (List[str], typer.Option([], "--package", metavar="CODEURI",
                                            help="Only this package (its CodeUri as written, e.g. services/billing/); "
                                                 "repeatable (a CI shard; `shimimg pin` merges the shards).")),
    },
    "output": {
        "output": (Optional[Path], typer.Option(None, "-o", "--output", help="Where to write the template "
                                                "[default: .shimimg/build/<template file name> beside it].")),
    },
    "push": {
        "repository": (List[str], typer.Option([], "--repository", metavar="[PACKAGE=]URI",
                                               help="Repository to push to, e.g. 123456789012.dkr.ecr.eu-west-1."
                                                    "amazonaws.com/orders; PACKAGE=URI (PACKAGE as its CodeUri) for "
                                                    "one package; repeatable.")),
        "tag": (List[str], typer.Option([], "--tag", metavar="TAG", help="Extra tag besides the content-derived "
                                        "one (e.g. a commit); repeatable.")),
        "force": (bool, typer.Option(False, "--force", help="Move --tag tags that already point at another image.")),
        "create_repository": (bool, typer.Option(False, "--create-repository",
                                                 help="Create a missing ECR repository (immutable tags, "
                                                      "scan on push).")),
    },
}


def with_options(*groups: str, settings: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared ``groups`` and ``settings`` options to a command; it receives them as
    keyword arguments (groups) and as ``flags`` (settings)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        shared = {name for g in groups for name in GROUPS[g]}
        # The command declares the shared ones too (for readers and type checkers): ours win.
        own = [p for p in sig.parameters.values() if p.name != "flags" and p.name not in shared]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
                 for g in groups for name, (ann, opt) in GROUPS[g].items()]
        extra += [_setting_option(name) for name in settings]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            flags = {name: kwargs.pop(name) for name in settings}
            if "flags" in sig.parameters:
                kwargs["flags"] = flags
            try:
                return func(**kwargs)
            except KeyboardInterrupt as e:
                raise Interrupted(e) from e

        positional = [p for p in own if p.kind != inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in own if p.kind == inspect.Parameter.KEYWORD_ONLY]
        command.__signature__ = sig.replace(parameters=positional + keyword + extra)  # type: ignore[attr-defined]
        return command

    return decorate

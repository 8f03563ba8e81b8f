"""samconfig.toml / samconfig.yaml, read the way the SAM CLI reads them (aws-sam-cli 1.170:
samcli/cli/cli_config_file.py, samcli/lib/config/samconfig.py), so one project file configures
both tools (issue 20):

- the folder is the template's (SAM: the folder of the ``-t`` template, or the working folder,
  which is the template's when SAM finds it itself);
- without ``--config-file``: ``samconfig.toml``, else ``samconfig.yaml``, else ``samconfig.yml``;
  ``--config-file`` is taken relative to that folder unless absolute, and must exist;
- ``--config-env`` (``default``) picks the table; a missing environment or table gives nothing;
- ``[<env>.<command>.parameters]`` over ``[<env>.global.parameters]``; a flag given on the
  command line wins over both, and both win over the AWS_* environment;
- the file must hold a numeric ``version``.

shimimg reads SAM's ``local_invoke`` table for ``invoke`` and ``deploy`` for ``push`` and ``doctor``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.readfile import CONFIG_MAX, read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAMES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")  # SAM's order of preference
DEFAULT_ENV = "default"


@dataclass(frozen=True)
class SamConfig:
    path: Path | None = None  # the file read; None when there is none
    values: Mapping[str, Any] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ShimimgError(f"{self.path}: {key} must be text, not {value!r}")
        return str(value)

    def items(self, key: str) -> list[str]:
        """A value SAM takes as a list or as one string of space-separated items."""
        value = self.values.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
        raise ShimimgError(f"{self.path}: {key} must be a string or a list of strings, not {value!r}")


# A samconfig has a few dozen values: more aliases than this is a YAML bomb, not a config.
_MAX_ALIASES = 100


def _read(path: Path) -> dict[str, Any]:
    # A regular file under a size cap, read without blocking: the repository may have planted a
    # FIFO or a link to /dev/zero here (issue 19).
    raw = read_text(path, CONFIG_MAX, path.name)
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(raw)
        else:
            import yaml

            aliases = sum(1 for e in yaml.parse(raw, Loader=yaml.SafeLoader) if isinstance(e, yaml.AliasEvent))
            if aliases > _MAX_ALIASES:
                raise ShimimgError(f"{path}: {aliases} YAML aliases; a samconfig needs none",
                                   hint="write the values out in full")
            data = yaml.safe_load(raw) or {}
    except ShimimgError:
        raise
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise ShimimgError(f"{path}: not valid {path.suffix[1:].upper()}: {e}", hint="fix the file") from None
    if not isinstance(data, dict):
        raise ShimimgError(f"{path}: expected tables like [default.deploy.parameters]")
    # SAM refuses a file without a numeric version (SamConfigVersionException).
    if not isinstance(data.get("version"), (int, float)) or isinstance(data.get("version"), bool):
        raise ShimimgError(f"{path}: 'version' key is not present or is in unrecognized format",
                           hint="add `version = 0.1` at the top, as `sam deploy --guided` writes it")
    return data


def find(directory: Path, config_file: str | Path | None = None) -> Path | None:
    if config_file is not None:
        path = Path(config_file) if Path(config_file).is_absolute() else directory / config_file
        if not path.is_file():
            raise ShimimgError(f"--config-file {config_file}: {path} does not exist or is not a file",
                               hint="name a samconfig.toml or samconfig.yaml (relative to the template's folder)")
        if path.suffix not in (".toml", ".yaml", ".yml"):
            raise ShimimgError(f"--config-file {config_file}: SAM reads .toml, .yaml and .yml config files only")
        return path
    for name in NAMES:
        # Whatever is there is read, and anything but a regular file (a FIFO, a link to
        # /dev/zero the repository planted) is refused by the read, not skipped (issue 19).
        if os.path.lexists(directory / name):
            return directory / name
    return None


def load(directory: Path, command: str, *, config_file: str | Path | None = None,
         config_env: str | None = None) -> SamConfig:
    """The parameters SAM would apply to ``command`` (``local_invoke``, ``deploy``) for a template
    in ``directory``."""
    path = find(directory, config_file)
    if path is None:
        return SamConfig()
    data = _read(path)
    env = data.get(config_env or DEFAULT_ENV) or {}
    merged: dict[str, Any] = {}
    for section in ("global", command):
        table = (env.get(section) or {}) if isinstance(env, dict) else {}
        params = table.get("parameters") if isinstance(table, dict) else None
        if isinstance(params, dict):
            merged.update(params)
    return SamConfig(path=path, values=merged)


def _image_repositories(items: Sequence[str], where: str) -> dict[str, str]:
    """``Function=URI`` items (``--image-repositories``, as SAM takes them) → {logical id: URI}."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, uri = item.partition("=")
        if not sep or not name.strip() or not uri.strip():
            raise ShimimgError(f"{where}: {item!r} is not FUNCTION=URI",
                               hint="e.g. --image-repositories CreateOrderFunction=123456789012.dkr.ecr."
                                    "eu-west-1.amazonaws.com/orders")
        out[name.strip()] = uri.strip()
    return out


@dataclass(frozen=True)
class Deploy:
    """Where push (and doctor) send images and which AWS account and region they use: SAM's
    deploy options, each from its flag, else from samconfig's deploy table (SAM's precedence)."""

    image_repository: str | None = None
    image_repositories: Mapping[str, str] = field(default_factory=dict)  # logical id → URI
    region: str | None = None
    profile: str | None = None
    config: SamConfig = field(default_factory=SamConfig)


def deploy(directory: Path, *, image_repository: str | None = None, image_repositories: Sequence[str] = (),
           region: str | None = None, profile: str | None = None, config_file: str | None = None,
           config_env: str | None = None) -> Deploy:
    cfg = load(directory, "deploy", config_file=config_file, config_env=config_env)
    items, where = list(image_repositories), "--image-repositories"
    if not items:
        items, where = cfg.items("image_repositories"), f"{cfg.path}: image_repositories"
    return Deploy(image_repository=image_repository or cfg.text("image_repository"),
                  image_repositories=_image_repositories(items, where),
                  region=region or cfg.text("region"), profile=profile or cfg.text("profile"), config=cfg)

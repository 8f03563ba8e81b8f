"""Settings: each option declared once, with its environment variable and help.

Sources, lowest first: the defaults below < ``[tool.shimimg]`` in pyproject.toml or a
``shimimg.toml`` beside the template < ``SHIMIMG_<NAME>`` environment variables < flags.
``Settings.sources`` records which source set each value, so ``-v`` can say why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from shimimg.errors import ShimimgError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASES = {
    "al2": "public.ecr.aws/lambda/provided:al2",
    "al2023": "public.ecr.aws/lambda/provided:al2023",
}


@dataclass(frozen=True)
class Settings:
    base_image: str = field(
        default=BASES["al2"], metadata={"help": "Base image: al2, al2023, or an image reference (a mirror)."}
    )
    arch: str = field(default="arm64", metadata={"help": "Target architecture: arm64 or x86_64."})
    go_tags: tuple[str, ...] = field(default=(), metadata={"help": "Extra Go build tags (lambda.norpc is always set)."})
    handlers: Mapping[str, str] = field(
        default_factory=dict, metadata={"help": 'Handler → main package, e.g. {"bin/x" = "./cmd/y"}.'}
    )
    prebuilt: bool = field(
        default=False, metadata={"help": "Take the binaries the package already holds instead of building."}
    )
    allow_dynamic: bool = field(default=False, metadata={"help": "Accept dynamically linked prebuilt binaries."})
    direct: bool = field(default=False, metadata={"help": "No shim: ImageConfig.EntryPoint runs the binary itself."})
    drop_layers: bool = field(
        default=False, metadata={"help": "Drop the Layers of migrated functions (images cannot use layers)."}
    )
    builder: str | None = field(default=None, metadata={"help": "buildx builder to use (e.g. a remote BuildKit)."})
    cache_from: tuple[str, ...] = field(default=(), metadata={"help": "buildx --cache-from entries."})
    cache_to: tuple[str, ...] = field(default=(), metadata={"help": "buildx --cache-to entries."})
    compression_level: int | None = field(
        default=None,
        metadata={"help": "gzip level (0-9) for the image's layers: 1 builds faster, pushes ~10% more [BuildKit's]."},
    )
    cache_dir: Path | None = field(
        default=None,
        metadata={"help": "Where shimimg keeps binaries and build state [.shimimg/cache beside the template]."},
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_ref(self) -> str:
        return BASES.get(self.base_image, self.base_image)


def _option_names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "sources"]


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Turn a file/env/flag value into the field's type, or say which source is wrong."""
    default = getattr(Settings(), name)
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        if name == "handlers":
            if not isinstance(value, Mapping):
                raise ValueError(value)
            return {str(k): str(v) for k, v in value.items()}
        if name == "cache_dir":
            return Path(value)
        if name == "compression_level":
            level = int(value)
            if not 0 <= level <= 9:
                raise ValueError(value)
            return level
        if name == "arch" and value not in ("arm64", "x86_64"):
            raise ValueError(value)
        return None if value is None else str(value)
    except ValueError:
        raise ShimimgError(f"{origin}: invalid value {value!r} for {name}", hint=_OPTION_HELP[name]) from None


_OPTION_HELP = {f.name: f.metadata.get("help", "") for f in fields(Settings)}


def option_help(name: str) -> str:
    env = f"SHIMIMG_{name.upper()}"
    return f"{_OPTION_HELP[name]} [env: {env}; config: {name}]"


def _file_values(directory: Path) -> tuple[dict[str, Any], str]:
    for name in ("shimimg.toml", "pyproject.toml"):
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ShimimgError(f"{path}: not valid TOML: {e}", hint="fix the file or remove it") from None
        table = data if name == "shimimg.toml" else data.get("tool", {}).get("shimimg")
        if table is None:
            continue
        table = {k.replace("-", "_"): v for k, v in table.items()}
        unknown = sorted(set(table) - set(_option_names()))
        if unknown:
            raise ShimimgError(
                f"{path}: unknown shimimg option(s): {', '.join(unknown)}",
                hint=f"known options: {', '.join(_option_names())}",
            )
        return table, str(path)
    return {}, ""


def load(directory: Path, flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for a template in ``directory``; ``flags`` holds only options given on the command line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_values, file_name = _file_values(directory)
    layers = [(file_values, file_name)]
    env_values = {n: environ[f"SHIMIMG_{n.upper()}"] for n in _option_names() if f"SHIMIMG_{n.upper()}" in environ}
    layers.append((env_values, "environment"))
    layers.append(({k: v for k, v in flags.items() if v is not None}, "command line"))
    for layer, origin in layers:
        for name, raw in layer.items():
            where = f"SHIMIMG_{name.upper()}" if origin == "environment" else origin
            values[name] = _coerce(name, raw, where)
            sources[name] = origin
    settings = replace(Settings(), **values, sources=sources)
    if settings.cache_dir is None:
        settings = replace(settings, cache_dir=directory / ".shimimg" / "cache")
    return settings

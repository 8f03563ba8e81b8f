"""Settings: one record for every command, each option declared once with its flags, environment
variable and help.

Sources, lowest first: the defaults below < ``[tool.shimimg]`` in pyproject.toml or a
``shimimg.toml`` beside the template < ``SHIMIMG_<NAME>`` environment variables < flags.
``Settings.sources`` records which source set each value, so ``-v`` can say why.

The config file travels with the repository, which shimimg treats as untrusted input: options that
name machine resources (the cache folder, the buildx builder, its cache exports, a registry
endpoint) are taken only from the environment and the command line, and every value is validated
here, once, before any command uses it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from shimimg import reference
from shimimg.errors import ShimimgError
from shimimg.readfile import CONFIG_MAX, read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASES = {
    "al2": "public.ecr.aws/lambda/provided:al2",
    "al2023": "public.ecr.aws/lambda/provided:al2023",
}
ARCHES = ("arm64", "x86_64")
CONFIG_FILES = ("shimimg.toml", "pyproject.toml")
MIB = 1024 * 1024


def _opt(default: Any, help: str, *, flags: tuple[str, ...] = (), repo: bool = True, metavar: str | None = None,
         factory: Any = None) -> Any:
    meta = {"help": help, "flags": flags, "repo": repo, "metavar": metavar}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    base_image: str = _opt(BASES["al2"], "Base image: al2, al2023, or an image reference (a mirror).",
                           flags=("--base", "--base-image"), metavar="REF")
    arch: str = _opt("arm64", "Target architecture: arm64 or x86_64.", flags=("--arch",), metavar="ARCH")
    go_tags: tuple[str, ...] = _opt((), "Extra Go build tags (lambda.norpc is always set); repeatable.",
                                    flags=("--go-tag",), metavar="TAG")
    handlers: Mapping[str, str] = _opt(None, 'Handler → main package for every package, e.g. {"bin/x" = "./cmd/y"}.',
                                       factory=dict)
    packages: Mapping[str, Mapping[str, str]] = _opt(
        None, 'Per package (its CodeUri as written): handler → main package, e.g. [packages."./billing/".handlers]; '
        'files to put beside the binaries, include = ["config/**"] under [packages."./billing/"].',
        factory=dict)
    prebuilt: bool = _opt(False, "Take the binaries the package already holds instead of building.",
                          flags=("--prebuilt/--from-source",))
    consolidate: bool = _opt(False, "One image per Go module: merge the packages (CodeUris) whose main packages share "
                             "a module, provided.* Go functions with Handler bootstrap included.",
                             flags=("--consolidate/--no-consolidate",))
    allow_dynamic: bool = _opt(False, "Accept dynamically linked prebuilt binaries.", flags=("--allow-dynamic",))
    direct: bool = _opt(False, "No shim: ImageConfig.EntryPoint runs the binary itself.", flags=("--direct/--shim",))
    drop_layers: bool = _opt(False, "Drop the Layers of migrated functions (images cannot use layers).",
                             flags=("--drop-layers",))
    unpack: bool = _opt(True, "After loading a new image of another platform than the engine's, unpack it (a "
                        "container created and removed) so `sam local` can run it on the containerd image store "
                        "(moby/buildkit#3891): ~0.07 s per layer from the first changed one, once per image; "
                        "push skips it unless asked.", flags=("--unpack/--no-unpack",), repo=False)
    label_revision: bool = _opt(
        False, "Label images with the git commit, its time and the remote URL (OCI revision, created, source). Off "
        "by default: those labels give every commit a new image digest, so every function redeploys even when no "
        "binary changed; the revision is in --json output either way.",
        flags=("--label-revision/--no-label-revision",))
    builder: str | None = _opt(None, "buildx builder to use (e.g. a remote BuildKit).", flags=("--builder",),
                               repo=False, metavar="NAME")
    cache_from: tuple[str, ...] = _opt((), "buildx --cache-from entries; repeatable.", flags=("--cache-from",),
                                       repo=False, metavar="SPEC")
    cache_to: tuple[str, ...] = _opt((), "buildx --cache-to entries; repeatable.", flags=("--cache-to",),
                                     repo=False, metavar="SPEC")
    compression_level: int | None = _opt(
        None, "gzip level (0-9) for pushed layers [BuildKit's]; also makes a build that is not pushed gzip its "
        "layers (it keeps them uncompressed, which is faster).",
        flags=("--compression-level",), metavar="0-9")
    cache_dir: Path | None = _opt(
        None, "Where shimimg keeps binaries and build state [$XDG_CACHE_HOME/shimimg or ~/.cache/shimimg].",
        flags=("--cache-dir",), repo=False, metavar="DIR")
    allow_outside: bool = _opt(
        False, "Build packages whose CodeUri lies outside the template's folder (an absolute path, '..', a link "
        "out): their files go into the image.", flags=("--allow-outside",), repo=False)
    cache_in_checkout: bool = _opt(
        False, "Accept a cache folder inside the checkout (a CI cache that must live there); nothing recorded in "
        "it is reused without rebuilding, since the repository could have committed it.",
        flags=("--cache-in-checkout",), repo=False)
    max_binary_size: int = _opt(512, "Largest handler binary accepted from a zip or folder, in MiB.",
                                flags=("--max-binary-size",), repo=False, metavar="MIB")
    timeout: int = _opt(60, "Seconds a network step (push, registry check) may go without progress before it is "
                        "stopped and retried.", flags=("--timeout",), repo=False, metavar="SECONDS")
    retries: int = _opt(3, "Retries for transient registry errors and stalls.", flags=("--retries",), repo=False,
                        metavar="N")
    jobs: int = _opt(0, "Packages built at once [the number of CPUs].", flags=("-j", "--jobs"), repo=False,
                     metavar="N")
    registry_endpoint: str | None = _opt(
        None, "Send registry traffic to HOST[:PORT] instead of the repository's host (a tunnel, a test registry); "
        "the template still names the repository.", flags=("--registry-endpoint",), repo=False,
        metavar="HOST[:PORT]")
    # Read from the environment only (reproducible builds' convention), validated here once.
    source_date_epoch: int | None = field(default=None, metadata={"help": "", "flags": (), "repo": False})
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # The config file that was read, or the one a hint should tell the user to create.
    config_file: Path | None = field(default=None, compare=False, repr=False)

    @property
    def base_ref(self) -> str:
        return BASES.get(self.base_image, self.base_image)

    @property
    def parallel(self) -> int:
        return self.jobs or os.cpu_count() or 1

    def handler_table(self) -> str:
        """The TOML table header for template-wide mappings in this project's config file."""
        return "[tool.shimimg.handlers]" if self.config_name == "pyproject.toml" else "[handlers]"

    def package_table(self, code_uri: str) -> str:
        key = json.dumps(code_uri)  # a TOML basic string: JSON's escapes are TOML's
        prefix = "tool.shimimg." if self.config_name == "pyproject.toml" else ""
        return f"[{prefix}packages.{key}.handlers]"

    @property
    def config_name(self) -> str:
        return self.config_file.name if self.config_file else "shimimg.toml"

    def package_mapping(self, code_uri: str) -> Mapping[str, str]:
        return (self.packages.get(code_uri) or {}).get("handlers", {})  # type: ignore[union-attr]

    def package_include(self, code_uri: str) -> tuple[str, ...]:
        """The package's ``include`` globs: files that go into the image beside the binaries."""
        return tuple((self.packages.get(code_uri) or {}).get("include", ()))  # type: ignore[arg-type]

    def include_line(self, code_uri: str) -> str:
        """The TOML table header a package's ``include`` goes under, in this project's config file."""
        prefix = "tool.shimimg." if self.config_name == "pyproject.toml" else ""
        return f"[{prefix}packages.{json.dumps(code_uri)}]"


OPTION_FIELDS = {f.name: f for f in fields(Settings) if f.name not in ("sources", "config_file")}
_SETTABLE = [n for n, f in OPTION_FIELDS.items() if n != "source_date_epoch"]
_GO_TAG = re.compile(r"[A-Za-z0-9_.]+")
_BUILDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def option_help(name: str) -> str:
    f = OPTION_FIELDS[name]
    where = f"env: SHIMIMG_{name.upper()}" + ("; config: " + name if f.metadata["repo"] else "")
    return f"{f.metadata['help']} [{where}]"


def _bad(name: str, value: Any, origin: str, why: str = "") -> ShimimgError:
    shown = repr(value) if len(repr(value)) < 120 else repr(value)[:117] + "..."
    return ShimimgError(f"{origin}: invalid value {shown} for {name}" + (f": {why}" if why else ""),
                        hint=option_help(name))


def _text(name: str, value: Any, origin: str) -> str:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise _bad(name, value, origin, "expected text")
    text = str(value)
    if _CONTROL.search(text):
        raise _bad(name, value, origin, "control characters (a line break?) are not allowed")
    return text


def _mapping(name: str, value: Any, origin: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _bad(name, value, origin, "expected a table of handler = path")
    return {_text(name, k, origin): _text(name, v, origin) for k, v in value.items()}


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Turn a file/env/flag value into the field's type, or say which source is wrong."""
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off", ""):
            return False
        raise _bad(name, value, origin)
    if isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise _bad(name, value, origin, "expected a list")
        out = tuple(_text(name, v, origin).strip() for v in items if str(v).strip())
        if name == "go_tags":
            for tag in out:
                if not _GO_TAG.fullmatch(tag):
                    raise _bad(name, tag, origin, "a Go build tag is letters, digits, '_' and '.'")
        if name in ("cache_from", "cache_to"):
            for spec in out:
                if spec.startswith("-"):
                    raise _bad(name, spec, origin, "a cache spec cannot start with '-'")
        return out
    if name == "handlers":
        return _mapping(name, value, origin)
    if name == "packages":
        if not isinstance(value, Mapping):
            raise _bad(name, value, origin, 'expected tables like [packages."./billing/".handlers]')
        out_p: dict[str, dict[str, dict[str, str]]] = {}
        for code_uri, table in value.items():
            if not isinstance(table, Mapping) or set(table) - {"handlers", "include"}:
                raise _bad(name, {code_uri: table}, origin, f'expected [packages."{code_uri}".handlers] and '
                           f'include = [...] under [packages."{code_uri}"]')
            include = table.get("include", [])
            if not isinstance(include, (list, tuple)):
                raise _bad(name, {code_uri: {"include": include}}, origin, "include is a list of glob patterns")
            out_p[_text(name, code_uri, origin)] = {
                "handlers": _mapping(name, table.get("handlers", {}), origin),
                "include": tuple(_text(name, p, origin) for p in include),
            }
        return out_p
    if name in ("compression_level", "max_binary_size", "timeout", "retries", "jobs"):
        try:
            number = int(str(value).strip())
        except ValueError:
            raise _bad(name, value, origin, "expected a whole number") from None
        low, high = {"compression_level": (0, 9), "max_binary_size": (1, 10 * 1024), "timeout": (1, 24 * 3600),
                     "retries": (0, 100), "jobs": (0, 256)}[name]
        if not low <= number <= high:
            raise _bad(name, value, origin, f"expected {low} to {high}")
        return number
    text = _text(name, value, origin).strip()
    if name == "cache_dir":
        if not text:  # Path("") is the current folder: a cache nobody meant (issue 19)
            raise _bad(name, value, origin, "expected a folder")
        return Path(text).expanduser()
    if name == "arch" and text not in ARCHES:
        raise _bad(name, value, origin, "use arm64 or x86_64")
    if name == "base_image" and text not in BASES and reference.parse(text) is None:
        raise _bad(name, value, origin, "not an image reference (e.g. public.ecr.aws/lambda/provided:al2)")
    if name == "builder" and not _BUILDER.fullmatch(text):
        raise _bad(name, value, origin, "a buildx builder name is letters, digits, '_', '.' and '-'")
    if name == "registry_endpoint":
        endpoint = text.removeprefix("http://").removeprefix("https://").rstrip("/")
        if not reference.is_domain(endpoint):
            raise _bad(name, value, origin, "expected HOST[:PORT], e.g. 127.0.0.1:5000")
        return endpoint
    return text


def _file_values(directory: Path) -> tuple[dict[str, Any], Path | None, Path | None]:
    """(values, the file read, the file a hint should name)."""
    suggested = None
    for name in CONFIG_FILES:
        path = directory / name
        if not os.path.lexists(path):  # anything else there (a FIFO, a link to a device) is read, and refused
            continue
        suggested = suggested or path
        try:
            data = tomllib.loads(read_text(path, CONFIG_MAX, "config file"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ShimimgError(f"{path}: not valid TOML: {e}", hint="fix the file or remove it") from None
        except OSError as e:
            raise ShimimgError(f"{path}: cannot read it: {e.strerror or e}") from None
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ShimimgError(f"{path}: tool = {str(tool)[:40]!r}: [tool] must be a table",
                               hint="write [tool.shimimg] as a table, or remove the tool key")
        table = data if name == "shimimg.toml" else tool.get("shimimg")
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ShimimgError(f"{path}: [tool.shimimg] must be a table")
        table = {str(k).replace("-", "_"): v for k, v in table.items()}
        unknown = sorted(set(table) - set(_SETTABLE))
        if unknown:
            raise ShimimgError(f"{path}: unknown shimimg option(s): {', '.join(unknown)}",
                               hint="known options: " + ", ".join(
                                   n for n in _SETTABLE if OPTION_FIELDS[n].metadata["repo"]))
        machine = sorted(n for n in table if not OPTION_FIELDS[n].metadata["repo"])
        if machine:
            raise ShimimgError(
                f"{path}: {', '.join(machine)} cannot be set in a repository's config file: "
                "it names a resource of the machine shimimg runs on",
                hint="set it with " + ", ".join(f"SHIMIMG_{n.upper()} or {OPTION_FIELDS[n].metadata['flags'][0]}"
                                                  for n in machine),
            )
        return table, path, path
    return {}, None, suggested


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(environ.get("HOME") or Path.home()) / ".cache"
    return base / "shimimg"


def _source_date_epoch(environ: Mapping[str, str]) -> int | None:
    raw = environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not raw.isascii():
        raise ShimimgError(f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds since 1970",
                           hint="set it to e.g. $(git log -1 --format=%ct), or unset it")
    return int(raw)


def load(directory: Path, flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for a template in ``directory``; ``flags`` holds only options given on the command line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_values, file_read, suggested = _file_values(directory)
    env_values = {n: environ[f"SHIMIMG_{n.upper()}"] for n in _SETTABLE if f"SHIMIMG_{n.upper()}" in environ}
    # An empty SHIMIMG_CACHE_DIR (a CI variable left blank) means unset, not the current folder.
    if not str(env_values.get("cache_dir", "x")).strip():
        del env_values["cache_dir"]
    layers = [(file_values, str(file_read or "")), (env_values, "environment"),
              ({k: v for k, v in flags.items() if v is not None and v != ()}, "command line")]
    for layer, origin in layers:
        for name, raw in layer.items():
            if name not in OPTION_FIELDS:
                raise ShimimgError(f"unknown setting {name!r}")  # a programming error in the CLI
            where = f"SHIMIMG_{name.upper()}" if origin == "environment" else origin
            values[name] = _coerce(name, raw, where)
            sources[name] = origin
    values["source_date_epoch"] = _source_date_epoch(environ)
    settings = replace(Settings(), **values, sources=sources, config_file=suggested)
    if settings.cache_dir is None:
        settings = replace(settings, cache_dir=default_cache_dir(environ))
    return settings

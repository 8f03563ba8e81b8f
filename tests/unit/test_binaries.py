import zipfile
from pathlib import Path

import pytest
from elfdata import elf_bytes

from shimimg import binaries
from shimimg.cache import Store
from shimimg.errors import ShimimgError
from shimimg.plan import Function, Package


def pkg(path: Path, kind: str, handlers=("bin/a", "bin/b")) -> Package:
    fns = tuple(
        Function(logical_id=f"{h[4:].upper()}Fn", resource_type="AWS::Serverless::Function", handler=h, runtime="go1.x")
        for h in handlers
    )
    return Package(code_uri=str(path), path=path, kind=kind, image="shimimg/x:latest", arch="arm64", functions=fns)


def make_zip(path: Path, entries: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data)
    return path


def collect(p: Package, tmp_path: Path, **kw):
    return binaries.collect(
        p,
        store=Store(tmp_path / "cache"),
        prebuilt=kw.pop("prebuilt", False),
        allow_dynamic=kw.pop("allow_dynamic", False),
        go_tags=(),
        mapping={},
    )


def test_zip_binaries_are_taken_after_checks(tmp_path):
    z = make_zip(
        tmp_path / "p.zip", {"bin/a": (elf_bytes("arm64"), 0o755), "./bin/b": (elf_bytes("arm64") + b"b", 0o755)}
    )
    got = collect(pkg(z, "zip"), tmp_path)
    assert got.source == "prebuilt"
    assert got.files["bin/b"].read_bytes().endswith(b"b")


@pytest.mark.parametrize(
    "entries,fragment",
    [
        ({"bin/a": (elf_bytes("x86_64"), 0o755)}, "bin/a in {zip} (AFn) is built for x86_64"),
        ({"bin/a": (elf_bytes("arm64"), 0o644)}, "bin/a in {zip} (AFn) is not executable"),
        ({"bin/a": (elf_bytes("arm64", dynamic=True), 0o755)}, "bin/a in {zip} (AFn) is dynamically linked"),
        ({"bin/other": (elf_bytes("arm64"), 0o755)}, "{zip} has no bin/a (used by AFn)"),
    ],
)
def test_zip_refusals_name_the_binary(tmp_path, entries, fragment):
    z = make_zip(tmp_path / "p.zip", entries)
    with pytest.raises(ShimimgError) as e:
        collect(pkg(z, "zip", handlers=("bin/a",)), tmp_path)
    assert e.value.message.startswith(fragment.format(zip=z))


def test_a_broken_zip_is_refused(tmp_path):
    z = tmp_path / "p.zip"
    z.write_bytes(b"not a zip")
    with pytest.raises(ShimimgError, match="cannot read the zip"):
        collect(pkg(z, "zip"), tmp_path)


def test_directory_without_a_go_module_is_prebuilt(tmp_path):
    (tmp_path / "pkg" / "bin").mkdir(parents=True)
    for h in ("a", "b"):
        f = tmp_path / "pkg" / "bin" / h
        f.write_bytes(elf_bytes("arm64"))
        f.chmod(0o755)
    got = collect(pkg(tmp_path / "pkg", "dir"), tmp_path)
    assert got.files == {"bin/a": tmp_path / "pkg" / "bin" / "a", "bin/b": tmp_path / "pkg" / "bin" / "b"}


def test_directory_missing_a_binary_says_to_build_first(tmp_path):
    (tmp_path / "pkg").mkdir()
    with pytest.raises(ShimimgError) as e:
        collect(pkg(tmp_path / "pkg", "dir"), tmp_path)
    assert "does not exist" in e.value.message and "make" in e.value.hint

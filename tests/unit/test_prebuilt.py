"""Prebuilt binaries are untrusted: streamed with a cap, sizes and CRCs checked, ELF-checked, exact names."""

import os
import zipfile
from pathlib import Path

import pytest
from elfdata import elf_bytes

from shimimg.binaries import prebuilt
from shimimg.errors import ShimimgError
from shimimg.plan.records import Function, Package

MIB = 1024 * 1024


def pkg(path: Path, kind: str, handlers=("bin/a", "bin/b")) -> Package:
    fns = tuple(Function(logical_id=f"{h.rsplit('/', 1)[-1].upper()}Fn", resource_type="AWS::Serverless::Function",
                         handler=h, runtime="go1.x") for h in handlers)
    return Package(code_uri=str(path), path=path, kind=kind, image="shimimg/x:latest", arch="arm64", functions=fns)


def handlers(p: Package):
    return [(f.binary, f.logical_id) for f in p.functions]


def make_zip(path: Path, entries: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data)
    return path


def take(p: Package, tmp_path: Path, **kw):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return prebuilt.take(p, handlers(p), scratch, allow_dynamic=kw.get("allow_dynamic", False),
                         max_bytes=kw.get("max_bytes", 512 * MIB), prebuilt_flag=kw.get("prebuilt_flag", False))


def test_zip_binaries_are_private_checked_copies(tmp_path):
    z = make_zip(tmp_path / "p.zip",
                 {"bin/a": (elf_bytes("arm64"), 0o755), "./bin/b": (elf_bytes("arm64") + b"b", 0o755)})
    got = take(pkg(z, "zip"), tmp_path)
    assert got.files["bin/b"].read_bytes().endswith(b"b")
    assert tmp_path / "scratch" in got.files["bin/a"].parents
    assert len(got.digests["bin/a"]) == 64


def test_every_bad_binary_is_listed_at_once(tmp_path):
    z = make_zip(tmp_path / "p.zip", {
        "bin/a": (elf_bytes("x86_64"), 0o755), "bin/b": (elf_bytes("arm64"), 0o644),
        "bin/c": (elf_bytes("arm64", dynamic=True), 0o755)})
    p = pkg(z, "zip", handlers=("bin/a", "bin/b", "bin/c", "bin/d"))
    with pytest.raises(ShimimgError) as e:
        take(p, tmp_path)
    assert e.value.message.endswith("cannot take 4 prebuilt binaries from the zip")
    got = "\n".join(e.value.problems)
    assert f"bin/a in {z} (AFn) is built for x86_64" in got
    assert f"bin/b in {z} (BFn) is not executable" in got
    assert f"bin/c in {z} (CFn) is dynamically linked" in got
    assert f"{z} has no bin/d" in got
    # Nobody asked for --prebuilt: the hint does not mention it.
    assert "--prebuilt" not in e.value.hint


def test_names_match_exactly_only_a_leading_dot_slash_is_dropped(tmp_path):
    z = make_zip(tmp_path / "p.zip", {".hidden/x": (elf_bytes("arm64"), 0o755), "./bin/y": (elf_bytes("arm64"), 0o755)})
    with pytest.raises(ShimimgError) as e:
        take(pkg(z, "zip", handlers=("hidden/x",)), tmp_path)
    assert f"{z} has no hidden/x" in e.value.problems[0]
    assert take(pkg(z, "zip", handlers=("bin/y",)), tmp_path).files["bin/y"].is_file()


def test_two_entries_for_one_handler_are_refused(tmp_path):
    z = make_zip(tmp_path / "p.zip", {"bin/a": (elf_bytes("arm64"), 0o755), "./bin/a": (elf_bytes("arm64"), 0o755)})
    with pytest.raises(ShimimgError, match="cannot take"):
        take(pkg(z, "zip", handlers=("bin/a",)), tmp_path)


def test_a_zip_bomb_is_stopped_at_the_cap_without_filling_the_disk(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bin/a")
        info.create_system = 3
        info.external_attr = (0o100755) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as f:
            f.write(elf_bytes("arm64"))
            for _ in range(8):
                f.write(b"\0" * MIB)
    assert z.stat().st_size < 100_000
    with pytest.raises(ShimimgError) as e:
        take(pkg(z, "zip", handlers=("bin/a",)), tmp_path, max_bytes=4 * MIB)
    assert "larger than 4 MiB" in e.value.problems[0] and "--max-binary-size" in e.value.problems[0]
    assert sum(p.stat().st_size for p in (tmp_path / "scratch").rglob("*") if p.is_file()) <= 4 * MIB


def test_a_declared_size_that_lies_is_refused(tmp_path):
    z = make_zip(tmp_path / "p.zip", {"bin/a": (elf_bytes("arm64") + b"x" * 1000, 0o755)})
    data = bytearray(z.read_bytes())
    # Shrink the declared uncompressed size in both headers (stored: compressed = uncompressed).
    real = len(elf_bytes("arm64")) + 1000
    fake = (real - 10).to_bytes(4, "little")
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        i = data.find(sig)
        off = 22 if sig == b"PK\x03\x04" else 24
        data[i + off:i + off + 4] = fake
    z.write_bytes(bytes(data))
    with pytest.raises(ShimimgError) as e:
        take(pkg(z, "zip", handlers=("bin/a",)), tmp_path)
    assert "bin/a" in e.value.problems[0]


def test_a_broken_zip_is_refused(tmp_path):
    z = tmp_path / "p.zip"
    z.write_bytes(b"not a zip")
    with pytest.raises(ShimimgError, match="not a readable zip"):
        take(pkg(z, "zip"), tmp_path)


def test_a_symlink_entry_is_not_a_binary(tmp_path):
    z = tmp_path / "p.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("bin/a")
        info.create_system = 3
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/shadow")
    with pytest.raises(ShimimgError, match="cannot take"):
        take(pkg(z, "zip", handlers=("bin/a",)), tmp_path)


def test_directory_binaries_are_copied_and_checked(tmp_path):
    (tmp_path / "pkg" / "bin").mkdir(parents=True)
    for h in ("a", "b"):
        f = tmp_path / "pkg" / "bin" / h
        f.write_bytes(elf_bytes("arm64"))
        f.chmod(0o755)
    got = take(pkg(tmp_path / "pkg", "dir"), tmp_path)
    assert got.files["bin/a"].read_bytes() == elf_bytes("arm64")
    assert tmp_path / "scratch" in got.files["bin/a"].parents


def test_a_link_leaving_the_package_is_refused(tmp_path):
    (tmp_path / "pkg" / "bin").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(elf_bytes("arm64"))
    secret.chmod(0o755)
    (tmp_path / "pkg" / "bin" / "a").symlink_to(secret)
    with pytest.raises(ShimimgError) as e:
        take(pkg(tmp_path / "pkg", "dir", handlers=("bin/a",)), tmp_path)
    assert "leads outside the package" in e.value.problems[0]
    # A link inside the package is the old build chain's business, and fine.
    inside = tmp_path / "pkg" / "build" / "a"
    inside.parent.mkdir()
    inside.write_bytes(elf_bytes("arm64"))
    inside.chmod(0o755)
    (tmp_path / "pkg" / "bin" / "a").unlink()
    (tmp_path / "pkg" / "bin" / "a").symlink_to(inside)
    assert take(pkg(tmp_path / "pkg", "dir", handlers=("bin/a",)), tmp_path).files["bin/a"].is_file()


def test_a_missing_binary_says_to_build_first_and_mentions_prebuilt_only_when_given(tmp_path):
    (tmp_path / "pkg").mkdir()
    with pytest.raises(ShimimgError) as e:
        take(pkg(tmp_path / "pkg", "dir"), tmp_path)
    assert "does not exist" in e.value.problems[0] and "make" in e.value.hint and "--prebuilt" not in e.value.hint
    with pytest.raises(ShimimgError) as e:
        take(pkg(tmp_path / "pkg", "dir"), tmp_path, prebuilt_flag=True)
    assert "drop --prebuilt" in e.value.hint


def test_an_oversized_folder_binary_is_refused_before_copying(tmp_path):
    (tmp_path / "pkg" / "bin").mkdir(parents=True)
    big = tmp_path / "pkg" / "bin" / "a"
    with open(big, "wb") as f:
        f.write(elf_bytes("arm64"))
        f.truncate(5 * MIB)
    os.chmod(big, 0o755)
    with pytest.raises(ShimimgError, match="cannot take"):
        take(pkg(tmp_path / "pkg", "dir", handlers=("bin/a",)), tmp_path, max_bytes=4 * MIB)
    assert list((tmp_path / "scratch").iterdir()) == []

"""Files beside the binaries: include patterns for source packages, and a prebuilt package's
whole content, each untrusted (links, names, sizes, counts)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from elfdata import elf_bytes
from test_prebuilt import handlers, make_zip, pkg

from shimimg.binaries import datafiles, prebuilt
from shimimg.errors import ShimimgError

LIMITS = prebuilt.DataLimits(max_file=1024 * 1024)


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def rels(found) -> list[str]:
    return [f.rel for f in found]


def test_patterns_match_as_globs_and_a_folder_takes_everything_below(tmp_path):
    root = tree(tmp_path / "svc", {"config/app.json": "{}", "config/dev/x.json": "{}", "templates/a/b.tmpl": "x",
                                   "main.go": "package main", "ca.pem": "-"})
    got = datafiles.included("./svc", root, ["config/*.json", "templates", "ca.pem"], LIMITS, config_file="c")
    assert rels(got) == ["ca.pem", "config/app.json", "templates/a/b.tmpl"]
    got = datafiles.included("./svc", root, ["config/**"], LIMITS, config_file="c")
    assert rels(got) == ["config/app.json", "config/dev/x.json"]
    got = datafiles.included("./svc", root, ["**/*.json"], LIMITS, config_file="c")
    assert rels(got) == ["config/app.json", "config/dev/x.json"]


@pytest.mark.parametrize("pattern,why", [
    ("../secrets/*", "leads outside the CodeUri folder"),
    ("/etc/passwd", "is absolute"),
    ("-x", "starts with '-'"),
    ("a\nb", "control characters"),
    ("", "is empty"),
])
def test_patterns_never_leave_the_codeuri(tmp_path, pattern, why):
    root = tree(tmp_path / "svc", {"a": "x"})
    with pytest.raises(ShimimgError) as e:
        datafiles.included("./svc", root, [pattern], LIMITS, config_file="shimimg.toml")
    assert why in e.value.problems[0] and "shimimg.toml" in e.value.problems[0]


def test_a_link_out_of_the_codeuri_and_a_pattern_matching_nothing_are_refused_together(tmp_path):
    root = tree(tmp_path / "svc", {"config/app.json": "{}"})
    (tmp_path / "secret").write_text("s3cr3t")
    os.symlink(tmp_path / "secret", root / "config" / "leak.json")
    os.symlink(root / "config" / "app.json", root / "config" / "alias.json")  # inside: taken as a file
    with pytest.raises(ShimimgError) as e:
        datafiles.included("./svc", root, ["config/*.json", "certs/**"], LIMITS, config_file="c")
    problems = "\n".join(e.value.problems)
    assert "config/leak.json is a link leading outside ./svc" in problems
    assert "include 'certs/**' in c matches no file in ./svc" in problems
    assert "alias" not in problems


def test_caps_on_file_size_and_count(tmp_path):
    root = tree(tmp_path / "svc", {f"d/{i}": "x" for i in range(5)})
    (root / "big").write_bytes(b"x" * 2048)
    small = prebuilt.DataLimits(max_file=1024, max_entries=3)
    with pytest.raises(ShimimgError) as e:
        datafiles.included("./svc", root, ["**"], small, config_file="c")
    problems = "\n".join(e.value.problems)
    assert "big: 2048 bytes" in problems
    assert "at most 3 files" in problems


def test_uncovered_lists_what_a_handler_may_read_grouped_by_folder(tmp_path):
    root = tree(tmp_path / "svc", {
        "config/a.json": "", "config/b.json": "", "ca.pem": "", "main.go": "", "go.mod": "", "go.sum": "",
        "README.md": "", "Makefile": "", "template.yaml": "", "events/e.json": "", "vendor/x/y.txt": "",
        ".github/workflows/ci.yml": "", "bin/create": "", "api/openapi.yaml": "", "migrations/001.sql": ""})
    got = datafiles.uncovered(root, ["migrations/**"], binaries=["bin/create"], elsewhere=[root / "api"])
    assert got == [("ca.pem", 1), ("config/**", 2)]


def test_a_zip_goes_in_whole_with_its_modes_and_exact_paths(tmp_path):
    z = make_zip(tmp_path / "p.zip", {"bin/a": (elf_bytes("arm64"), 0o755), "bin/b": (elf_bytes("arm64"), 0o755),
                                      "./config/app.json": (b"{}", 0o644), "bin/tool": (b"#!/bin/sh\n", 0o755)})
    p = pkg(z, "zip")
    scratch = tmp_path / "s"
    scratch.mkdir()
    taken = prebuilt.take(p, handlers(p), scratch, allow_dynamic=False, max_bytes=LIMITS.max_file,
                          prebuilt_flag=False)
    data = prebuilt.take_data(p, taken.files, scratch, LIMITS)
    assert sorted(data) == ["bin/tool", "config/app.json"]
    assert data["config/app.json"].path.read_bytes() == b"{}" and not data["config/app.json"].executable
    assert data["bin/tool"].executable


def test_a_hostile_zip_is_refused_listing_every_entry(tmp_path):
    z = tmp_path / "p.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, mode in (("bin/a", 0o100755), ("../escape", 0o100644), ("/abs", 0o100644),
                           ("link", 0o120777), ("dup", 0o100644), ("./dup", 0o100644), ("a/./b", 0o100644)):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, elf_bytes("arm64") if name == "bin/a" else b"x")
    p = pkg(z, "zip", handlers=("bin/a",))
    with pytest.raises(ShimimgError) as e:
        prebuilt.take_data(p, {"bin/a": Path("x")}, tmp_path, LIMITS)
    problems = "\n".join(e.value.problems)
    for needle in ("'../escape'", "'/abs' is absolute", "link is a symbolic link", "dup is in the zip twice",
                   "'a/./b'"):
        assert needle in problems, problems


def test_a_folder_package_skips_version_control_and_refuses_links_out(tmp_path):
    root = tree(tmp_path / "dist", {"bin/a": "x", "conf/x.yaml": "y", ".git/config": "z", ".shimimg/build/t": "t"})
    (tmp_path / "host").write_text("host file")
    os.symlink(tmp_path / "host", root / "conf" / "host")
    p = pkg(root, "dir", handlers=("bin/a",))
    with pytest.raises(ShimimgError) as e:
        prebuilt.take_data(p, {"bin/a": root / "bin/a"}, tmp_path, LIMITS)
    assert any("conf/host is a link leading outside the package" in x for x in e.value.problems)
    (root / "conf" / "host").unlink()
    (tmp_path / "fresh").mkdir()
    data = prebuilt.take_data(p, {"bin/a": root / "bin/a"}, tmp_path / "fresh", LIMITS)
    assert sorted(data) == ["conf/x.yaml"]


def test_a_zip_that_lies_about_a_files_size_is_cut_off(tmp_path):
    z = make_zip(tmp_path / "p.zip", {"bin/a": (elf_bytes("arm64"), 0o755), "blob": (b"x" * 4096, 0o644)})
    p = pkg(z, "zip", handlers=("bin/a",))
    small = prebuilt.DataLimits(max_file=1024)
    with pytest.raises(ShimimgError) as e:
        prebuilt.take_data(p, {"bin/a": Path("x")}, tmp_path, small)
    assert "blob: 4096 bytes" in e.value.problems[0]

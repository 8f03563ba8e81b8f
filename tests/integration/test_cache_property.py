"""The binary cache can never serve a stale binary: after any random edit of a module with shared
packages, a workspace module, embedded files and build-tagged files, the binaries shimimg hands
over equal a from-scratch ``go build`` of the same tree, byte for byte, and only the handlers
whose build closure holds an edited file were compiled. Real go; no Docker (the image step is
not what is tested here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimimg import config
from shimimg.binaries import gather as binmod
from shimimg.cache import Store
from shimimg.gobuild.gocmd import FLAGS, NORPC
from shimimg.plan.records import Function, Package

HANDLERS = ("h0", "h1", "h2", "h3")
# What each edit touches, and which handlers import it (the model the test checks shimimg against).
EDITS = {
    "a": ("app/internal/a/a.go", {"h0", "h2"}),
    "a_untagged": ("app/internal/a/a_default.go", {"h0", "h2"}),
    "a_tagged": ("app/internal/a/a_extra.go", set()),  # //go:build extra: excluded from every build
    "embed": ("app/internal/a/data/greeting.txt", {"h0", "h2"}),
    "b": ("app/internal/b/b.go", {"h1"}),
    "lib": ("lib/lib.go", {"h2"}),
    "h1": ("app/cmd/h1/main.go", {"h1"}),
    "h3": ("app/cmd/h3/main.go", {"h3"}),
    "readme": ("app/README.md", set()),
    "new_b_file": ("app/internal/b/more.go", {"h1"}),
    "go_work": ("go.work", set(HANDLERS)),
}


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def make_tree(root: Path) -> None:
    write(root, "go.work", "go 1.26\n\nuse (\n\t./app\n\t./lib\n)\n")
    write(root, "lib/go.mod", "module example.com/lib\n\ngo 1.26\n")
    write(root, "lib/lib.go", 'package lib\n\nfunc Name() string { return "lib-1" }\n')
    write(root, "app/go.mod", "module example.com/app\n\ngo 1.26\n")
    write(root, "app/README.md", "docs\n")
    write(root, "app/internal/a/a.go", 'package a\n\nimport _ "embed"\n\n//go:embed data/greeting.txt\n'
                                       "var greeting string\n\nfunc Say() string { return greeting + Suffix() }\n")
    write(root, "app/internal/a/a_default.go",
          '//go:build !extra\n\npackage a\n\nfunc Suffix() string { return "-d1" }\n')
    write(root, "app/internal/a/a_extra.go", '//go:build extra\n\npackage a\n\nfunc Suffix() string { return "-x1" }\n')
    write(root, "app/internal/a/data/greeting.txt", "hello-1")
    write(root, "app/internal/b/b.go", 'package b\n\nconst B = "b-1"\n')
    mains = {
        "h0": ('import (\n\t"fmt"\n\n\t"example.com/app/internal/a"\n)', "fmt.Println(a.Say())"),
        "h1": ('import (\n\t"fmt"\n\n\t"example.com/app/internal/b"\n)', 'fmt.Println(b.B, "h1-1")'),
        "h2": ('import (\n\t"fmt"\n\n\t"example.com/app/internal/a"\n\t"example.com/lib"\n)',
               "fmt.Println(a.Say(), lib.Name())"),
        "h3": ('import "fmt"', 'fmt.Println("h3-1")'),
    }
    for name, (imports, body) in mains.items():
        write(root, f"app/cmd/{name}/main.go", f"package main\n\n{imports}\n\nfunc main() {{ {body} }}\n")


def edit(root: Path, kind: str, n: int) -> bool:
    """Change what ``kind`` names; ``n`` picks the new text (mostly the same size as the old, so
    size and mtime alone could not tell). Returns whether the content changed."""
    rel, _ = EDITS[kind]
    p = root / rel
    old = p.read_text() if p.exists() else None
    if kind == "new_b_file":
        new = f'package b\n\nconst More = "{n}"\n'
    elif kind in ("go_work", "readme"):
        new = (old or "") + f"// edit {n}\n" if kind == "go_work" else f"docs {n}\n"
    else:
        m = re.search(r"-(\d)", old or "")
        new = old[:m.start(1)] + str(n) + old[m.end(1):] if m else (old or "") + f"// {n}\n"
    p.write_text(new)
    return new != old


def package(root: Path) -> Package:
    fns = tuple(Function(logical_id=f"{h.upper()}Fn", resource_type="AWS::Serverless::Function", handler=f"bin/{h}",
                         runtime="go1.x") for h in HANDLERS)
    return Package("app/", (root / "app").resolve(), "dir", "shimimg/app:latest", "arm64", fns)


def shimimg_binaries(root: Path, cache: Path):
    settings = config.load(root, {"cache_dir": str(cache)}, environ={"HOME": str(cache.parent)})
    store = Store(cache, root)
    pkg = package(root)
    with store.locked():
        where = binmod.modules([pkg], settings, store)
        found = binmod.resolve([pkg], where, settings, store)
        got = binmod.compile_missing([pkg], found, settings, store)
    return got[pkg.path], found[pkg.path]


def fresh_build(root: Path, out: Path) -> dict[str, bytes]:
    out.mkdir()
    env = {**os.environ, "GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", f"{out}/", "-tags", NORPC, *FLAGS, *(f"./cmd/{h}" for h in HANDLERS)],
                   cwd=root / "app", env=env, check=True, capture_output=True)
    return {h: (out / h).read_bytes() for h in HANDLERS}


@pytest.fixture(scope="module")
def base(tmp_path_factory, go_toolchain) -> Path:
    root = tmp_path_factory.mktemp("tree") / "ws"
    make_tree(root)
    return root


@settings(max_examples=int(os.environ.get("SHIMIMG_PROPERTY_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(sorted(EDITS)), st.integers(2, 9)), min_size=1, max_size=3))
def test_binaries_equal_a_fresh_build_after_any_edit_and_only_affected_handlers_compile(base, tmp_path_factory,
                                                                                       steps):
    work = tmp_path_factory.mktemp("ex")
    root = work / "ws"
    shutil.copytree(base, root)
    cache = work / "cache"
    first, sources = shimimg_binaries(root, cache)
    assert first.compiled == len(HANDLERS)
    again, same = shimimg_binaries(root, cache)
    assert again.compiled == 0 and same.from_stamp, "nothing changed: no go at all"
    keys = dict(sources.keys)
    for i, (kind, n) in enumerate(steps):
        affected = EDITS[kind][1] if edit(root, kind, n) else set()
        got, now = shimimg_binaries(root, cache)
        changed = {r.handler.split("/")[-1] for r in now.handlers if now.keys[r.handler] != keys[r.handler]}
        # Keys move for exactly the handlers whose closure holds the edited file; what compiled is
        # what no cached binary matched (an edit back to an earlier text finds its binary again).
        assert changed == affected, (kind, changed, affected)
        assert got.compiled <= len(changed)
        keys = dict(now.keys)
        fresh = fresh_build(root, work / f"fresh-{i}")
        assert {h.split("/")[-1]: p.read_bytes() for h, p in got.files.items()} == fresh, (kind, n)

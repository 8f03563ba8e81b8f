"""Per-handler keys from go list -deps data: exactly the closure's files, by content."""

import os
from pathlib import Path

from shimimg.gobuild import closure, stamp


def pkg(root: Path, rel: str, name: str, files: dict, deps=(), module="example.com/m", mod_dir=None, **extra):
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    for f, text in files.items():
        (d / f).write_text(text)
    mod_dir = mod_dir or root
    return {"ImportPath": f"{module}/{rel}", "Dir": str(d), "Name": name,
            "GoFiles": [f for f in files if f.endswith(".go")], "Deps": list(deps),
            "Module": {"Path": module, "Dir": str(mod_dir), "GoMod": str(mod_dir / "go.mod"), "Main": True}, **extra}


def module(tmp_path: Path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "go.mod").write_text("module example.com/m\n")
    (tmp_path / "go.sum").write_text("")
    shared = pkg(tmp_path, "internal/shared", "shared", {"s.go": "package shared\n"})
    other = pkg(tmp_path, "internal/other", "other", {"o.go": "package other\n"})
    a = pkg(tmp_path, "cmd/a", "main", {"main.go": "package main\n"}, deps=["example.com/m/internal/shared", "fmt"])
    b = pkg(tmp_path, "cmd/b", "main", {"main.go": "package main\n"}, deps=["example.com/m/internal/other", "fmt"])
    std = {"ImportPath": "fmt", "Standard": True, "Dir": "/usr/local/go/src/fmt", "GoFiles": ["print.go"]}
    return [shared, other, a, b, std]


def keys(entries, tmp_path, fingerprint="fp", **kw):
    return closure.keys(entries, {"bin/a": "example.com/m/cmd/a", "bin/b": "example.com/m/cmd/b"},
                        fingerprint=fingerprint, modcache=kw.get("modcache", "/modcache"),
                        workspace_files=kw.get("workspace_files", []), hasher=closure.Hasher())


def test_a_shared_package_changes_only_the_keys_of_the_handlers_importing_it(tmp_path):
    entries = module(tmp_path)
    k1, read = keys(entries, tmp_path)
    assert str(tmp_path / "internal/shared/s.go") in read and "/usr/local/go/src/fmt/print.go" not in read
    (tmp_path / "internal/shared/s.go").write_text("package shared\nvar X = 1\n")
    k2, _ = keys(entries, tmp_path)
    assert k1["bin/a"] != k2["bin/a"] and k1["bin/b"] == k2["bin/b"]


def test_go_mod_go_sum_workspace_files_and_settings_change_every_key(tmp_path):
    entries = module(tmp_path)
    k1, _ = keys(entries, tmp_path)
    (tmp_path / "go.sum").write_text("x v1 h1:y\n")
    k2, _ = keys(entries, tmp_path)
    assert all(k1[h] != k2[h] for h in k1)
    assert all(k2[h] != v for h, v in keys(entries, tmp_path, fingerprint="fp tags=x")[0].items())
    work = tmp_path / "go.work"
    work.write_text("go 1.26\nuse .\n")
    k3, _ = keys(entries, tmp_path, workspace_files=[str(work)])
    work.write_text("go 1.26\nuse ./x\n")
    assert all(k3[h] != v for h, v in keys(entries, tmp_path, workspace_files=[str(work)])[0].items())


def test_embedded_files_are_inputs_of_their_package_only(tmp_path):
    entries = module(tmp_path)
    page = tmp_path / "cmd/a/static/page.html"
    page.parent.mkdir()
    page.write_text("one")
    entries[2]["EmbedFiles"] = ["static/page.html"]
    k1, read = keys(entries, tmp_path)
    assert str(page) in read
    page.write_text("two")
    k2, _ = keys(entries, tmp_path)
    assert k1["bin/a"] != k2["bin/a"] and k1["bin/b"] == k2["bin/b"]


def test_modules_from_the_module_cache_count_by_version(tmp_path):
    entries = module(tmp_path)
    dep = {"ImportPath": "github.com/aws/aws-lambda-go/lambda",
           "Dir": "/modcache/github.com/aws/aws-lambda-go@v1.55.1/lambda",
           "Name": "lambda", "GoFiles": ["entry.go"],
           "Module": {"Path": "github.com/aws/aws-lambda-go", "Version": "v1.55.1",
                      "Dir": "/modcache/github.com/aws/aws-lambda-go@v1.55.1"}}
    entries[2]["Deps"].append(dep["ImportPath"])
    k1, read = keys([*entries, dep], tmp_path)
    assert not any(p.startswith("/modcache") for p in read)
    dep2 = {**dep, "Module": {**dep["Module"], "Version": "v1.56.0"}}
    k2, _ = keys([*entries, dep2], tmp_path)
    assert k1["bin/a"] != k2["bin/a"] and k1["bin/b"] == k2["bin/b"]


def test_a_local_replacement_or_workspace_module_counts_by_content(tmp_path):
    entries = module(tmp_path / "m")
    lib = tmp_path / "lib"
    sib = pkg(tmp_path, "lib", "lib", {"l.go": "package lib\n"}, module="example.com/lib", mod_dir=lib)
    (lib / "go.mod").write_text("module example.com/lib\n")
    sib["ImportPath"] = "example.com/lib"
    entries[3]["Deps"].append(sib["ImportPath"])
    k1, read = keys([*entries, sib], tmp_path)
    assert str(lib / "l.go") in read and str(lib / "go.mod") in read
    (lib / "l.go").write_text("package lib\nvar Y = 2\n")
    k2, _ = keys([*entries, sib], tmp_path)
    assert k1["bin/b"] != k2["bin/b"] and k1["bin/a"] == k2["bin/a"]


def test_keys_do_not_depend_on_where_the_checkout_is(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert keys(module(one), one)[0] == keys(module(two), two)[0]


def test_the_hasher_reuses_a_hash_only_while_the_stat_is_the_same(tmp_path):
    f = tmp_path / "x.go"
    f.write_text("package x\n")
    h1 = closure.Hasher()
    first = h1(str(f))
    h2 = closure.Hasher({str(f): [h1.now[str(f)][0], "stale-on-purpose"]})
    assert h2(str(f)) == "stale-on-purpose"  # same stat: the recorded hash is used
    f.write_text("package y\n")  # same size, new content: ctime and mtime move
    h3 = closure.Hasher({str(f): [h1.now[str(f)][0], first]})
    assert h3(str(f)) != first


def test_the_stamp_sees_edits_new_files_and_content_put_back_with_the_old_mtime(tmp_path):
    (tmp_path / "go.mod").write_text("module m\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.go").write_text("package a\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "go.mod").write_text("module n\n")
    (tmp_path / "nested" / "deep.go").write_text("package n\n")
    st = stamp.tree(tmp_path)
    assert str(tmp_path / "a" / "a.go") in st and str(tmp_path / "nested" / "deep.go") not in st
    assert stamp.unchanged(st)
    (tmp_path / "nested" / "deep.go").write_text("package n // not ours\n")
    assert stamp.unchanged(st)
    old = os.stat(tmp_path / "a" / "a.go")
    (tmp_path / "a" / "a.go").write_text("package b\n")
    os.utime(tmp_path / "a" / "a.go", ns=(old.st_atime_ns, old.st_mtime_ns))
    assert not stamp.unchanged(st)
    st = stamp.tree(tmp_path)
    (tmp_path / "a" / "new.go").write_text("package a\n")
    assert not stamp.unchanged(st)

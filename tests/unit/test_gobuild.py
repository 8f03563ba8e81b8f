from pathlib import Path

import pytest

from shimimg import gobuild
from shimimg.errors import ShimimgError
from shimimg.proc import CommandFailed, Result


def make_module(root: Path, mains=("a", "b"), shared="package shared\n") -> gobuild.Module:
    (root / "go.mod").write_text("module example.com/svc\n\ngo 1.22\n")
    (root / "go.sum").write_text("")
    (root / "internal" / "shared").mkdir(parents=True)
    (root / "internal" / "shared" / "s.go").write_text(shared)
    for m in mains:
        d = root / "cmd" / m
        d.mkdir(parents=True)
        (d / "main.go").write_text(f'package main\n\nfunc main() {{ println("{m}") }}\n')
        (d / "main_test.go").write_text("package main\n")
    mod = gobuild.find_module(root / "cmd")
    assert mod == gobuild.Module(root=root, path="example.com/svc")
    return mod


def test_resolve_mains_by_convention_and_mapping(tmp_path):
    mod = make_module(tmp_path, mains=("a", "other"))
    got = gobuild.resolve_mains(mod, [("bin/a", "AFn"), ("bin/b", "BFn")], {"bin/b": "./cmd/other"})
    assert [(s.handler, s.name, s.pattern) for s in got] == [("bin/a", "a", "./cmd/a"), ("bin/b", "b", "./cmd/other")]


def test_resolve_mains_lists_every_handler_without_a_main(tmp_path):
    mod = make_module(tmp_path)
    (tmp_path / "cmd" / "lib").mkdir()
    (tmp_path / "cmd" / "lib" / "l.go").write_text("package lib\n")
    with pytest.raises(ShimimgError) as e:
        gobuild.resolve_mains(mod, [("bin/a", "A"), ("bin/missing", "M1, M2"), ("bin/lib", "L")], {})
    assert len(e.value.problems) == 2
    assert e.value.problems[0].startswith("bin/missing (M1, M2): no main package at ./cmd/missing")
    assert '[tool.shimimg.handlers] "bin/lib"' in e.value.problems[1]


def test_keys_change_only_for_the_handler_whose_main_changed(tmp_path):
    mod = make_module(tmp_path)
    srcs = gobuild.resolve_mains(mod, [("bin/a", ""), ("bin/b", "")], {})
    k1 = gobuild.handler_keys(mod, srcs, "go1.26 arm64")
    (tmp_path / "cmd" / "a" / "main.go").write_text('package main\n\nfunc main() { println("a2") }\n')
    k2 = gobuild.handler_keys(mod, srcs, "go1.26 arm64")
    assert k1["bin/a"] != k2["bin/a"] and k1["bin/b"] == k2["bin/b"]
    # Tests do not reach the binary.
    (tmp_path / "cmd" / "b" / "main_test.go").write_text("package main\n// changed\n")
    assert gobuild.handler_keys(mod, srcs, "go1.26 arm64") == k2


def test_keys_change_for_all_when_shared_code_flags_or_go_sum_change(tmp_path):
    mod = make_module(tmp_path)
    srcs = gobuild.resolve_mains(mod, [("bin/a", ""), ("bin/b", "")], {})
    k1 = gobuild.handler_keys(mod, srcs, "fp")
    (tmp_path / "internal" / "shared" / "s.go").write_text("package shared\nvar X = 1\n")
    k2 = gobuild.handler_keys(mod, srcs, "fp")
    assert all(k1[h] != k2[h] for h in k1)
    k3 = gobuild.handler_keys(mod, srcs, "fp tags=netgo")
    assert all(k2[h] != k3[h] for h in k2)
    (tmp_path / "go.sum").write_text("x v1 h1:abc\n")
    assert all(k3[h] != v for h, v in gobuild.handler_keys(mod, srcs, "fp tags=netgo").items())


def test_build_runs_one_go_build_with_norpc_and_reproducible_flags(tmp_path, monkeypatch):
    mod = make_module(tmp_path)
    srcs = gobuild.resolve_mains(mod, [("bin/a", ""), ("bin/b", "")], {})
    calls = []

    def fake_run(cmd, cwd=None, env=None, **kw):
        calls.append((list(cmd), cwd, env))
        out = Path(cmd[cmd.index("-o") + 1])
        for s in srcs:
            (out / gobuild._out_name(mod, s)).write_bytes(b"ELF " + s.name.encode())
        return Result(tuple(cmd), 0, "", "")

    monkeypatch.setattr(gobuild, "run", fake_run)
    got = gobuild.build(mod, srcs, tmp_path / "out", arch="arm64", tags=["netgo", "lambda.norpc"])
    assert len(calls) == 1
    cmd, cwd, env = calls[0]
    assert cmd[:2] == ["go", "build"]
    assert cmd[cmd.index("-tags") + 1] == "lambda.norpc,netgo"
    assert "-trimpath" in cmd and cmd[cmd.index("-ldflags") + 1] == "-s -w -buildid="
    assert cmd[-2:] == ["./cmd/a", "./cmd/b"]
    assert cwd == mod.root
    assert env == {"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
    assert got["bin/b"].read_bytes() == b"ELF b"


def test_outputs_with_the_same_folder_name_build_in_separate_calls(tmp_path):
    mod = gobuild.Module(root=tmp_path, path="example.com/svc")
    for d in ("svc1/cmd/x", "svc2/cmd/x", "cmd/z"):
        (tmp_path / d).mkdir(parents=True)
    srcs = [
        gobuild.HandlerSource("bin/x", "x", "./svc1/cmd/x", tmp_path / "svc1/cmd/x"),
        gobuild.HandlerSource("bin/y", "y", "./svc2/cmd/x", tmp_path / "svc2/cmd/x"),
        gobuild.HandlerSource("bin/z", "z", "./cmd/z", tmp_path / "cmd/z"),
    ]
    assert [[s.handler for s in b] for b in gobuild._batches(mod, srcs)] == [["bin/x", "bin/z"], ["bin/y"]]


def test_compile_error_names_the_handler_and_shows_the_compiler(tmp_path, monkeypatch):
    mod = make_module(tmp_path)
    srcs = gobuild.resolve_mains(mod, [("bin/a", "AFunction"), ("bin/b", "BFunction")], {})
    err = "# example.com/svc/cmd/b\ncmd/b/main.go:3:15: undefined: nope\n"

    def fake_run(cmd, **kw):
        raise CommandFailed(Result(tuple(cmd), 1, "", err))

    monkeypatch.setattr(gobuild, "run", fake_run)
    with pytest.raises(ShimimgError) as e:
        gobuild.build(mod, srcs, tmp_path / "out", arch="arm64", functions={"bin/a": "AFunction", "bin/b": "BFunction"})
    assert e.value.message.startswith("go build failed for handler bin/b (BFunction):")
    assert "cmd/b/main.go:3:15: undefined: nope" in e.value.message


def test_missing_go_says_how_to_install(monkeypatch):
    from shimimg.proc import ProgramMissing

    def fake_run(cmd, **kw):
        raise ProgramMissing(cmd[0])

    monkeypatch.setattr(gobuild, "run", fake_run)
    with pytest.raises(ShimimgError) as e:
        gobuild.toolchain()
    assert e.value.message == "go is not installed (or not on PATH)"
    assert "--prebuilt" in e.value.hint


def test_files_go_cannot_read_do_not_change_keys(tmp_path):
    mod = make_module(tmp_path)
    srcs = gobuild.resolve_mains(mod, [("bin/a", ""), ("bin/b", "")], {})
    k1 = gobuild.handler_keys(mod, srcs, "fp")
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    (tmp_path / "out" / "pf").mkdir(parents=True)
    (tmp_path / "out" / "pf" / "bootstrap").write_bytes(b"\x7fELF...")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (tmp_path / "cache" / "x.go").write_text("package cached\n")
    assert gobuild.handler_keys(mod, srcs, "fp") == k1


def test_embedded_files_are_inputs(tmp_path):
    mod = make_module(tmp_path)
    (tmp_path / "cmd" / "a" / "assets.go").write_text(
        'package main\n\nimport _ "embed"\n\n//go:embed static/page.html\nvar page string\n'
    )
    (tmp_path / "cmd" / "a" / "static").mkdir()
    page = tmp_path / "cmd" / "a" / "static" / "page.html"
    page.write_text("<p>one</p>")
    srcs = gobuild.resolve_mains(mod, [("bin/a", ""), ("bin/b", "")], {})
    k1 = gobuild.handler_keys(mod, srcs, "fp")
    page.write_text("<p>two</p>")
    k2 = gobuild.handler_keys(mod, srcs, "fp")
    # The embedding folder is below cmd/a, so it counts as shared: every key moves, none is stale.
    assert k1["bin/a"] != k2["bin/a"]


def test_local_replace_outside_the_module_is_an_input(tmp_path):
    (tmp_path / "svc").mkdir()
    make_module(tmp_path / "svc")
    (tmp_path / "svc" / "go.mod").write_text("module example.com/svc\n\ngo 1.22\n\nreplace example.com/lib => ../lib\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "lib.go").write_text("package lib\n")
    mod = gobuild.find_module(tmp_path / "svc")
    srcs = gobuild.resolve_mains(mod, [("bin/a", "")], {})
    k1 = gobuild.handler_keys(mod, srcs, "fp")
    (tmp_path / "lib" / "lib.go").write_text("package lib\nvar X = 2\n")
    assert gobuild.handler_keys(mod, srcs, "fp") != k1


def test_main_at_the_module_root_is_named_after_the_module(tmp_path):
    (tmp_path / "go.mod").write_text("module example.com/tool/v2\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    mod = gobuild.find_module(tmp_path)
    (src,) = gobuild.resolve_mains(mod, [("bin/tool", "")], {"bin/tool": "."})
    assert gobuild._out_name(mod, src) == "tool"
    keys = gobuild.handler_keys(mod, [src], "fp")
    (tmp_path / "go.sum").write_text("x v1 h1:y\n")
    assert gobuild.handler_keys(mod, [src], "fp") != keys

import os
from pathlib import Path

import pytest

from shimimg.errors import ShimimgError
from shimimg.image import context
from shimimg.image.dockerfile import render


def _bins(tmp_path: Path, contents: dict) -> dict:
    out = {}
    for rel, data in contents.items():
        p = tmp_path / "src" / rel.replace("/", "_")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out[rel] = p
    return out


def test_layers_are_content_addressed_with_fixed_times(tmp_path):
    shim = tmp_path / "shim"
    shim.write_text("#!/bin/sh\n")
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/b": b"bbbb", "bin/a": b"aaaa"}), shim=shim)
    assert [layer.files for layer in ctx.layers] == [
        ("var/runtime/bootstrap",),
        ("var/task/bin/a",),
        ("var/task/bin/b",),
    ]
    for layer in ctx.layers:
        for dirpath, dirnames, filenames in os.walk(ctx.root / layer.folder):
            for name in [*dirnames, *filenames]:
                st = os.stat(os.path.join(dirpath, name))
                assert st.st_mtime == context.FIXED_MTIME
                assert st.st_mode & 0o777 == 0o755


def test_same_size_new_content_gets_a_new_folder_and_old_ones_go(tmp_path):
    first = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"1111", "bin/b": b"bbbb"}), shim=None)
    second = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"2222", "bin/b": b"bbbb"}), shim=None)
    assert first.layers[0].folder != second.layers[0].folder
    assert first.layers[1] == second.layers[1]
    assert sorted(p.name for p in (tmp_path / "ctx").iterdir()) == sorted(layer.folder for layer in second.layers)


def test_binaries_past_the_layer_budget_share_buckets_of_at_most_two(tmp_path):
    many = {f"bin/h{i:03}": f"binary {i}".encode() for i in range(context.MAX_BINARY_LAYERS + 5)}
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, many), shim=None)
    assert len(ctx.layers) == context.MAX_BINARY_LAYERS
    assert sorted(len(layer.files) for layer in ctx.layers) == [1] * 95 + [2] * 5
    assert sorted(f for layer in ctx.layers for f in layer.files) == sorted(f"var/task/{rel}" for rel in many)
    assert ctx.assignment.keys() == many.keys()


def test_up_to_the_budget_every_binary_has_the_folder_it_always_had(tmp_path):
    """One binary per layer, in name order: the same folders (and layer digests) as before buckets."""
    some = {f"bin/h{i:03}": f"binary {i}".encode() for i in range(context.MAX_BINARY_LAYERS)}
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, some), shim=None)
    assert [layer.files for layer in ctx.layers] == [(f"var/task/{rel}",) for rel in sorted(some)]
    for layer, rel in zip(ctx.layers, sorted(some)):
        digest = context.sha256_file(tmp_path / "src" / rel.replace("/", "_"))
        assert layer.folder == context._folder_name([(f"var/task/{rel}", digest)])


def test_a_previous_assignment_keeps_every_other_layer_when_one_binary_is_added(tmp_path):
    many = {f"bin/h{i:03}": f"binary {i}".encode() for i in range(130)}
    first = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, many), shim=None)
    more = {**many, "bin/added": b"new one"}
    second = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, more), shim=None, previous=first.assignment)
    assert len(set(second.layers) - set(first.layers)) == 1
    assert len(set(first.layers) - set(second.layers)) == 1


def test_dockerfile_copies_each_layer_with_link_and_labels(tmp_path):
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    text = render(ctx, base="shimimg-local/provided:al2", package="./", labels={"a.b": 'x "y"'}, link=True)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "FROM shimimg-local/provided:al2",
        f"COPY --link {ctx.layers[0].folder}/ /",
        'LABEL "a.b"="x \\"y\\""',
    ]
    plain = render(ctx, base="b", package="./", labels={}, link=False)
    assert f"COPY {ctx.layers[0].folder}/ /" in plain and "--link" not in plain.split("FROM")[1]


def _instructions(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("value", ["a\nRUN id", "a\rRUN id", "x\u2028RUN", "x\x00"])
def test_a_line_break_in_any_label_is_refused(tmp_path, value):
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    with pytest.raises(ShimimgError, match="control character"):
        render(ctx, base="b", package="./", labels={"org.opencontainers.image.source": value}, link=True)
    with pytest.raises(ShimimgError, match="control character"):
        render(ctx, base="b", package="./", labels={value: "v"}, link=True)


def test_quotes_dollars_and_backslashes_stay_inside_one_label_value(tmp_path):
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    text = render(ctx, base="b", package="./", labels={"k": 'a" $HOME \\ ${X} "b'}, link=True)
    assert _instructions(text)[-1] == 'LABEL "k"="a\\" \\$HOME \\\\ \\${X} \\"b"'


@pytest.mark.parametrize("package", ["./\nRUN id", 'x"\r\nFROM evil', "syntax=docker/dockerfile:1"])
def test_the_package_name_cannot_become_an_instruction_or_a_parser_directive(tmp_path, package):
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    text = render(ctx, base="b", package=package, labels={}, link=True)
    assert _instructions(text) == ["FROM b", f"COPY --link {ctx.layers[0].folder}/ /"]
    assert text.splitlines()[0].startswith("# Rendered by shimimg")


@pytest.mark.parametrize("base", ["b\nRUN id", "b:tag\r", "ubuntu:22.04 AS x", "B/Upper", "a:b:c", ""])
def test_the_base_must_be_a_reference(tmp_path, base):
    ctx = context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    with pytest.raises(ShimimgError, match="is not an image reference"):
        render(ctx, base=base, package="./", labels={}, link=True)


def test_a_context_folder_planted_as_a_link_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (tmp_path / "ctx").symlink_to(victim)
    with pytest.raises(ShimimgError, match="symbolic link"):
        context.stage(tmp_path / "ctx", binaries=_bins(tmp_path, {"bin/a": b"a"}), shim=None)
    assert (victim / "keep").read_text() == "x"

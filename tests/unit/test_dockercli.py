import pytest

from shimimg import dockercli
from shimimg.errors import ShimimgError
from shimimg.proc import Result


@pytest.fixture(autouse=True)
def _fresh_cache():
    dockercli.engine.cache_clear()
    dockercli.buildx.cache_clear()
    yield
    dockercli.engine.cache_clear()
    dockercli.buildx.cache_clear()


def fake(monkeypatch, answers):
    calls = []

    def _docker(args, check=True, timeout=None, env=None):
        calls.append(list(args))
        meta = [a for a in args if a.startswith("--metadata-file=")]
        if meta:  # buildx writes it on success
            with open(meta[0].split("=", 1)[1], "w") as f:
                f.write('{"containerimage.digest": "sha256:abc"}')
        for prefix, result in answers:
            if list(args[: len(prefix)]) == prefix:
                return Result(tuple(args), *result)
        raise AssertionError(f"unexpected docker {args}")

    monkeypatch.setattr(dockercli, "_docker", _docker)
    return calls


def test_engine_down_says_how_to_start_it(monkeypatch):
    fake(monkeypatch, [(["version"], (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."))])
    with pytest.raises(ShimimgError) as e:
        dockercli.engine()
    assert "does not answer (Cannot connect to the Docker daemon" in e.value.message
    assert "start the Docker daemon" in e.value.hint


@pytest.mark.parametrize("version,link", [("20.10.24", False), ("26.1.5+dfsg1", True), ("29.0.0", True)])
def test_copy_link_support_follows_the_engine(monkeypatch, version, link):
    fake(monkeypatch, [(["version"], (0, f'{{"Version": "{version}"}}', ""))])
    assert dockercli.engine().supports_link is link


def test_buildx_missing_says_how_to_install(monkeypatch):
    fake(
        monkeypatch,
        [
            (["version"], (0, '{"Version": "26.1.5"}', "")),
            (["buildx", "version"], (1, "", "docker: 'buildx' is not a docker command.")),
        ],
    )
    with pytest.raises(ShimimgError) as e:
        dockercli.buildx()
    assert e.value.message == "the docker buildx plugin is missing"
    assert "docker-buildx" in e.value.hint


def test_remote_builder_buildkit_version_decides_link(monkeypatch):
    fake(
        monkeypatch,
        [
            (["version"], (0, '{"Version": "26.1.5"}', "")),
            (["buildx", "version"], (0, "github.com/docker/buildx 0.13.1", "")),
            (["buildx", "inspect", "--builder=old"],
             (0, "Name: old\nDriver: docker-container\nBuildKit version: v0.9.3\nStatus: running\n", "")),
            (["buildx", "inspect", "--builder=src"],
             (0, "Name: src\nDriver: remote\nBuildKit version: v0.0.0+unknown\nPlatforms: linux/amd64*, linux/arm64\n",
              "")),
        ],
    )
    old = dockercli.buildx("old")
    assert old.supports_link is False and old.local is False
    # A BuildKit built from source reports no release version: it is current.
    src = dockercli.buildx("src")
    assert src.supports_link is True and src.driver == "remote"
    assert dockercli.inspect_builder("src").platforms == ("linux/amd64", "linux/arm64")


def test_build_command_line(monkeypatch, tmp_path):
    calls = fake(monkeypatch, [(["buildx", "build"], (0, "", ""))])
    built = dockercli.build(
        tmp_path,
        tag="shimimg/x:latest",
        platform="linux/arm64",
        builder="remote",
        cache_from=["type=registry,ref=r/c"],
        build_args={"SOURCE_DATE_EPOCH": "1"},
    )
    cmd = calls[0]
    assert cmd[:3] == ["buildx", "build", "--builder=remote"]
    assert "--provenance=false" in cmd and "--load" in cmd and "--push" not in cmd
    # Every value rides in its flag's own argument: nothing can be read as another flag.
    assert "--cache-from=type=registry,ref=r/c" in cmd
    assert "--build-arg=SOURCE_DATE_EPOCH=1" in cmd
    assert cmd[-2:] == ["--", str(tmp_path)]
    assert built.digest == "sha256:abc"


def test_pushing_straight_from_the_builder_goes_by_digest(monkeypatch, tmp_path):
    calls = fake(monkeypatch, [(["buildx", "build"], (0, "", "#9 pushing layers done"))])
    built = dockercli.build(tmp_path, tag="shimimg/x:1", platform="linux/arm64", builder="remote",
                            push_to="127.0.0.1:5000/orders", insecure=True)
    cmd = calls[0]
    assert "--load" not in cmd
    assert ("--output=type=image,name=127.0.0.1:5000/orders,push-by-digest=true,name-canonical=true,push=true,"
            "registry.insecure=true,compression=gzip,force-compression=true") in cmd
    assert built.output == "#9 pushing layers done"


def test_compression_level_uses_the_image_exporter(monkeypatch, tmp_path):
    calls = fake(monkeypatch, [(["buildx", "build"], (0, "", ""))])
    dockercli.build(tmp_path, tag="shimimg/x:latest", platform="linux/arm64", compression_level=1)
    cmd = calls[0]
    assert "--load" not in cmd
    assert ("--output=type=image,name=shimimg/x:latest,compression=gzip,compression-level=1,"
            "force-compression=true") in cmd


def test_an_image_only_for_the_engine_keeps_plain_layers(monkeypatch, tmp_path):
    calls = fake(monkeypatch, [(["buildx", "build"], (0, "", ""))])
    dockercli.build(tmp_path, tag="shimimg/x:1", platform="linux/arm64", compression="uncompressed")
    assert "--output=type=image,name=shimimg/x:1,compression=uncompressed" in calls[0]
    assert "--load" not in calls[0]


def test_an_image_for_a_registry_gets_gzip_layers_even_where_plain_ones_are_cached(monkeypatch, tmp_path):
    # BuildKit reuses whatever blob it holds for a layer unless forced: a push after a local build
    # would carry plain tars (measured: the export took 1 s instead of 20 s, nothing compressed).
    calls = fake(monkeypatch, [(["buildx", "build"], (0, "", ""))])
    dockercli.build(tmp_path, tag="shimimg/x:1", platform="linux/arm64", compression="gzip")
    assert "--output=type=image,name=shimimg/x:1,compression=gzip,force-compression=true" in calls[0]


# ------------------------------------------------------ unpack for `sam local` (issue 20), once per image


def _package(tmp_path):
    from shimimg.binaries.gather import Binaries
    from shimimg.plan.records import Function, Package

    binary = tmp_path / "h"
    binary.write_bytes(b"\x7fELF handler")
    pkg = Package(code_uri="./", path=tmp_path, kind="dir", image="shimimg/p:latest", arch="arm64",
                  functions=(Function("F", "AWS::Serverless::Function", "bin/h", "go1.x"),))
    return pkg, Binaries(files={"bin/h": binary}, source="prebuilt")


def _build_calls(monkeypatch, tmp_path, unpack, store):
    from shimimg.image.build import ImageSettings, build_image
    from shimimg.vcs import Revision

    calls = fake(monkeypatch, [
        (["version"], (0, '{"Version": "26.1.5", "Arch": "amd64"}', "")),
        (["buildx", "version"], (0, "github.com/docker/buildx v0.13.1", "")),
        (["buildx", "build"], (0, "", "")),
        (["image", "inspect"], (0, "sha256:id1\n", "")),
        (["container", "create"], (0, "c0ntainer\n", "")),
        (["container", "rm"], (0, "", "")),
    ])
    pkg, bins = _package(tmp_path)
    opts = ImageSettings(base="shimimg-local/provided:al2", direct=True, unpack=unpack)
    result = build_image(pkg, bins, opts, store=store, rev=Revision(), base_id="")
    return [c[:2] for c in calls], result


def test_a_new_foreign_image_is_unpacked_once_and_a_noop_asks_nothing_more(monkeypatch, tmp_path):
    from shimimg.cache import Store

    store = Store(tmp_path / "cache", tmp_path / "project")
    calls, first = _build_calls(monkeypatch, tmp_path, True, store)
    assert not first.cached and ["container", "create"] in calls and ["container", "rm"] in calls
    calls, again = _build_calls(monkeypatch, tmp_path, True, store)
    assert again.cached and calls == [["image", "inspect"]]


def test_an_image_built_without_unpacking_is_unpacked_by_the_next_build_only(monkeypatch, tmp_path):
    from shimimg.cache import Store

    store = Store(tmp_path / "cache", tmp_path / "project")
    calls, _ = _build_calls(monkeypatch, tmp_path, False, store)  # as push builds
    assert ["container", "create"] not in calls
    calls, cached = _build_calls(monkeypatch, tmp_path, True, store)
    assert cached.cached and ["container", "create"] in calls
    calls, _ = _build_calls(monkeypatch, tmp_path, True, store)
    assert calls == [["image", "inspect"]]


def test_a_pushed_image_and_an_image_for_the_engine_are_two_images(monkeypatch, tmp_path):
    from shimimg.cache import Store
    from shimimg.image.build import ImageSettings, build_image
    from shimimg.vcs import Revision

    calls = fake(monkeypatch, [
        (["version"], (0, '{"Version": "26.1.5", "Arch": "arm64"}', "")),
        (["buildx", "version"], (0, "github.com/docker/buildx v0.13.1", "")),
        (["buildx", "build"], (0, "", "")),
        (["image", "inspect"], (0, "sha256:id1\n", "")),
    ])
    store = Store(tmp_path / "cache", tmp_path / "project")
    pkg, bins = _package(tmp_path)
    local = ImageSettings(base="shimimg-local/provided:al2", direct=True)
    pushed = ImageSettings(base="shimimg-local/provided:al2", direct=True, for_push=True)
    leveled = ImageSettings(base="shimimg-local/provided:al2", direct=True, compression_level=1)
    a = build_image(pkg, bins, local, store=store, rev=Revision(), base_id="")
    b = build_image(pkg, bins, pushed, store=store, rev=Revision(), base_id="")
    c = build_image(pkg, bins, leveled, store=store, rev=Revision(), base_id="")
    outputs = [next(a for a in c if a.startswith("--output=")) for c in calls if c[:2] == ["buildx", "build"]]
    assert len({a.tag, b.tag, c.tag}) == 3 and not b.cached  # the push never takes the plain-layer image
    assert outputs[0].endswith(",compression=uncompressed")
    assert outputs[1].endswith(",compression=gzip,force-compression=true")
    assert outputs[2].endswith(",compression=gzip,compression-level=1,force-compression=true")


def test_an_image_of_the_engines_own_platform_needs_no_unpacking(monkeypatch):
    calls = fake(monkeypatch, [(["version"], (0, '{"Version": "26.1.5", "Arch": "arm64"}', ""))])
    assert dockercli.unpack("shimimg/p:abc", "linux/arm64") is True
    assert calls == [["version", "--format", "{{json .Server}}"]]


def test_a_failed_unpack_is_said_and_not_recorded(monkeypatch, caplog):
    fake(monkeypatch, [(["version"], (0, '{"Version": "26.1.5", "Arch": "amd64"}', "")),
                       (["container", "create"], (1, "", "no space left on device"))])
    assert dockercli.unpack("shimimg/p:abc", "linux/arm64") is False
    assert "could not unpack shimimg/p:abc" in caplog.text and "no space left" in caplog.text


def test_has_platform_asks_for_that_platform_and_never_pulls(monkeypatch):
    calls = fake(monkeypatch, [(["container", "create"], (0, "c1\n", "")), (["container", "rm"], (0, "", ""))])
    assert dockercli.has_platform("base:1", "linux/arm64") is True
    assert calls[0] == ["container", "create", "--pull=never", "--platform=linux/arm64", "--", "base:1", "true"]
    assert calls[1] == ["container", "rm", "--", "c1"]
    fake(monkeypatch, [(["container", "create"], (1, "", "Error response from daemon: No such image: base:1"))])
    assert dockercli.has_platform("base:1", "linux/s390x") is False


def test_a_build_records_its_bucket_assignment_and_the_next_build_starts_from_it(monkeypatch, tmp_path):
    """Issue 22: the layout record is what keeps buckets stable past 100 handlers; a no-op build
    whose record was lost writes it again (the image holds that layout)."""
    from shimimg.cache import Store
    from shimimg.image import buckets
    from shimimg.image.build import package_slug

    store = Store(tmp_path / "cache", tmp_path / "project")
    _, first = _build_calls(monkeypatch, tmp_path, False, store)
    slug = package_slug(first.package)
    assert buckets.parse(store.layout(slug)) == {"bin/h": buckets.assign(["bin/h"])["bin/h"]}
    (store.project / "images" / f"{slug}.layout.json").unlink()
    _, again = _build_calls(monkeypatch, tmp_path, False, store)
    assert again.cached and buckets.parse(store.layout(slug)) is not None

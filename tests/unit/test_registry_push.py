"""The push protocol (``registry.pusher``: connect, Pusher; ``registry.push``: push_all) and one image's landing
(``registry.landing``), end to end over the fakes in ``registry_fakes``: the docker CLI and the
engine share one fake registry, ECR's API is a fake boto3 client; everything else is real."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from registry_fakes import (
    CONFIG,
    D1,
    D2,
    D3,
    ECR,
    INDEX,
    L1,
    L2,
    L3,
    LOCAL,
    TOKEN,
    Docker,
    FakeEcr,
    Manifest,
    image,
    package,
    stall,
)

from shimimg.errors import ShimimgError
from shimimg.registry import Pusher, Stats, connect, content_tag, parse_repository, push_all
from shimimg.registry.landing import human_bytes

REPO = parse_repository(f"{LOCAL}/team/orders")
ECR_REPO = parse_repository(f"{ECR}/team/orders")
NAME = f"{LOCAL}/team/orders"
CTAG = content_tag(D1)
DOWN = "dial tcp 127.0.0.1:5000: connect: connection refused"


@pytest.fixture
def docker(monkeypatch):
    d = Docker(monkeypatch)
    d.hold(D1)
    return d


def run_push(images, repo=REPO, *, retries=3, sleeps=None, ecr=None, endpoint=None, create=False, namer=None, **kw):
    """What ``shimimg push`` does around the build: connect, then push every image."""
    repos = repo if isinstance(repo, dict) else {img.package.path: repo for img in images}
    with connect(list(repos.values()), endpoint=endpoint, create=create, timeout=60, retries=retries,
                 ecr_client=lambda region, **_: ecr) as targets:
        pusher = Pusher(retries=retries, timeout=60, sleep=(sleeps if sleeps is not None else []).append,
                        namer=namer)
        return push_all(images, {path: targets[r] for path, r in repos.items()}, pusher=pusher, **kw)


class Namer:
    """What the push command does for a builder-pushed image: the builder pushes it again, from its
    cache, under the names asked for (here: the fake registry records the names)."""

    def __init__(self, docker, digest=D1):
        self.docker, self.digest, self.calls = docker, digest, []

    def __call__(self, img, refs):
        self.calls.append(list(refs))
        for ref in refs:
            self.docker.tags[ref] = self.digest
        return self.digest


def test_fresh_push_lands_under_the_content_tag_then_names_the_extra_tags(docker):
    [p] = run_push([image()], tags=["ci-7"])
    # Other registries: docker's own credentials. --tag goes up as the same image under that name
    # (only its manifest: the layers are there), never as a copy wrapped in an index.
    assert docker.pushes == [(f"{NAME}:{CTAG}", None), (f"{NAME}:ci-7", None)]
    assert docker.cli("create") == []
    assert (docker.tags[f"{NAME}:{CTAG}"], docker.tags[f"{NAME}:ci-7"]) == (D1, D1)
    assert (p.image_uri, p.tags, p.digest) == (f"{NAME}@{D1}", (CTAG, "ci-7"), D1)
    assert p.stats == Stats(layers=3, layers_pushed=3, bytes_pushed=32100, layers_mounted=0)
    # Pushed from the image id (a rebuild of the package's tag meanwhile cannot swap it), then untagged.
    assert docker.calls[1][0] == ("docker", "image", "tag", D1, f"{NAME}:{CTAG}")
    assert not docker.names
    assert {env for _, env in docker.calls} == {None}


def test_image_already_there_is_not_pushed_again(docker):
    docker.land(NAME, Manifest(D1), CTAG)
    [p] = run_push([image()])
    assert docker.pushes == [] and docker.cli("create") == []
    assert (p.digest, p.stats) == (D1, Stats(3, 0, 0, 0))


def test_only_layers_the_registry_lacks_count_as_pushed(docker):
    docker.blobs[NAME] = {L1, L3}
    [p] = run_push([image()])
    assert p.stats == Stats(3, 1, 2000, 0)


def test_blobs_mounted_from_another_repository_are_not_counted_as_uploaded(docker):
    docker.land(f"{LOCAL}/team/other", Manifest(D3, {L2: 2000}))
    [p] = run_push([image()])
    assert p.stats == Stats(3, 2, 30100, 1)


def test_transient_failures_are_retried_with_backoff_and_the_rerun_skips_what_landed(docker):
    docker.failures["push"] = [('failed commit on ref "layer-sha256:a": unexpected EOF', 1), (DOWN, 0)]
    sleeps = []
    [p] = run_push([image()], retries=3, sleeps=sleeps)
    assert sleeps == [1.0, 2.0]
    assert len(docker.pushes) == 3
    # L1 went up in the first attempt and counts once; the last attempt found it there.
    assert p.stats == Stats(3, 3, 32100, 0)
    assert not docker.names


def test_a_stalled_push_is_stopped_and_retried(docker):
    docker.failures["push"] = [(stall(), 2)]
    sleeps = []
    [p] = run_push([image()], sleeps=sleeps)
    assert sleeps == [1.0] and len(docker.pushes) == 2
    assert p.stats == Stats(3, 3, 32100, 0)


def test_a_push_that_keeps_stalling_names_the_timeout_and_writes_nothing(docker):
    docker.failures["push"] = [(stall(), 0)] * 4
    sleeps = []
    with pytest.raises(ShimimgError) as e:
        run_push([image()], tags=["ci-7"], retries=3, sleeps=sleeps)
    assert e.value.message.startswith(f"the registry at {LOCAL} stopped making progress (tried 4 times): "
                                      "no progress for 60 s (stopped)")
    assert e.value.message.endswith("the template was not written")
    assert "60 s without progress (--timeout)" in e.value.hint and "--retries" in e.value.hint
    assert sleeps == [1.0, 2.0, 4.0]
    assert docker.tags == {} and docker.cli("create") == [] and not docker.names


def test_registry_down_after_retries_names_the_address_and_that_nothing_was_written(docker):
    docker.failures["inspect"] = [f"ERROR: failed to do request: Head \"http://{NAME}/manifests/x\": {DOWN}"] * 3
    with pytest.raises(ShimimgError) as e:
        run_push([image()], retries=2)
    assert e.value.message.startswith(f"cannot reach the registry at {LOCAL} (tried 3 times)")
    assert e.value.message.endswith("the template was not written")
    assert docker.pushes == []


@pytest.mark.parametrize("text,repo,expect", [
    ("unauthorized: authentication required", REPO, f"docker login {LOCAL}"),
    ("push access denied: authorization failed: no basic auth credentials", REPO, f"docker login {LOCAL}"),
    ("Your authorization token has expired. Reauthenticate and try again.", ECR_REPO, "ecr:PutImage"),
    ("name unknown: The repository with name 'team/orders' does not exist in the registry with id '123456789012'",
     ECR_REPO, "--create-repository"),
    ("tag invalid: The image tag 'sha256-1' already exists in the 'team/orders' repository and cannot be "
     "overwritten because the repository is immutable.", ECR_REPO, "choose another --tag"),
    ('error getting credentials - err: exec: "docker-credential-desktop": executable file not found in $PATH',
     REPO, "credHelpers"),
])
def test_refusals_are_not_retried_and_say_what_to_do(docker, text, repo, expect):
    docker.failures["push"] = [(text, 0)]
    sleeps = []
    with pytest.raises(ShimimgError) as e:
        run_push([image()], repo, sleeps=sleeps, ecr=FakeEcr(["team/orders"]))
    assert sleeps == [] and len(docker.pushes) == 1
    assert expect in e.value.hint
    assert e.value.message.endswith("the template was not written")


def test_tag_on_another_digest_is_not_moved_without_force(docker):
    docker.land(NAME, Manifest(D2), "prod")
    with pytest.raises(ShimimgError) as e:
        run_push([image()], tags=["prod", "ci-7"])
    assert e.value.message == "tags already point at other images; none was moved and the template was not written"
    assert e.value.problems == (f"{NAME}:prod points at {D2}, this build of ./ is {D1}",)
    assert "--force" in e.value.hint
    # The content-addressed push happened; no named tag moved, not even the free one.
    assert docker.pushes == [(f"{NAME}:{CTAG}", None)]
    assert docker.tags[f"{NAME}:prod"] == D2 and f"{NAME}:ci-7" not in docker.tags

    [p] = run_push([image()], tags=["prod"], force=True)
    assert docker.tags[f"{NAME}:prod"] == D1 and p.tags == (CTAG, "prod")
    assert docker.pushes[-1] == (f"{NAME}:prod", None)


def test_tag_already_on_this_digest_is_left_alone(docker):
    docker.land(NAME, Manifest(D1), CTAG, "prod")
    [p] = run_push([image()], tags=["prod"])
    assert docker.pushes == [] and docker.cli("create") == [] and p.tags == (CTAG, "prod")


def test_force_cannot_move_a_tag_in_an_immutable_ecr_repository(docker):
    docker.land(f"{ECR}/team/orders", Manifest(D2), "prod")
    with pytest.raises(ShimimgError, match="immutable tags: --force cannot move prod") as e:
        run_push([image()], ECR_REPO, tags=["prod"], force=True, ecr=FakeEcr(["team/orders"], "IMMUTABLE"))
    assert "another --tag" in e.value.hint
    assert docker.tags[f"{ECR}/team/orders:prod"] == D2 and docker.cli("create") == []


def test_one_tag_for_two_packages_in_one_repository_is_refused_before_any_push(docker):
    a, b = image(package("a/", "/src/a")), image(package("b/", "/src/b"), D2)
    docker.hold(D2)
    with pytest.raises(ShimimgError, match="several packages' images in one repository") as e:
        run_push([a, b], tags=["v1"])
    assert e.value.problems == (f"{NAME}: a/, b/",) and docker.pushes == []
    # Without --tag they share the repository under their content tags.
    assert [p.digest for p in run_push([a, b])] == [D1, D2]
    assert [ref for ref, _ in docker.pushes] == [f"{NAME}:{CTAG}", f"{NAME}:{content_tag(D2)}"]


@pytest.mark.parametrize("manifest,arch,why", [
    (Manifest(D1, media_type=INDEX), "arm64", "is a application/vnd.oci.image.index.v1+json, not a single-platform "
                                              "image manifest; Lambda refuses it"),
    (Manifest(D1, arch="amd64"), "arm64", f"{NAME}:{CTAG} is linux/amd64, but ./ runs on arm64"),
    (Manifest(D1, arch="arm64"), "x86_64", "is linux/arm64, but ./ runs on x86_64"),
])
def test_what_lands_must_be_a_single_platform_manifest_of_the_packages_arch(docker, manifest, arch, why):
    docker.hold(D1, manifest)
    with pytest.raises(ShimimgError, match="the template was not written") as e:
        run_push([image(package(arch=arch))])
    assert why in e.value.message


def test_an_amd64_package_lands_as_amd64(docker):
    docker.hold(D1, Manifest(D1, arch="amd64"))
    assert run_push([image(package(arch="x86_64"))])[0].digest == D1


def private_configs(docker) -> set[Path]:
    return {Path(env["DOCKER_CONFIG"]) for _, env in docker.calls if env}


def test_ecr_push_logs_in_with_the_api_token_which_never_reaches_argv_env_or_logs(docker, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    client = FakeEcr()
    seen = []

    def run(cmd, **kw):  # what docker finds in the private config while it exists
        if kw.get("env"):
            seen.append(json.loads(Path(kw["env"]["DOCKER_CONFIG"], "config.json").read_text()))
        return docker.run(cmd, **kw)

    monkeypatch.setattr("shimimg.registry.transport.run", run)
    [p] = run_push([image()], ECR_REPO, tags=["v1"], create=True, ecr=client)
    assert [c[0] for c in client.calls] == ["describe", "create", "token"]
    auth = {"username": "AWS", "password": TOKEN, "serveraddress": ECR}
    # The engine gets the token in memory for each push (content tag, then --tag).
    assert docker.pushes == [(f"{ECR}/team/orders:{CTAG}", auth), (f"{ECR}/team/orders:v1", auth)]
    # Every registry lookup read the token through the private config's helper (the pushed
    # digest is looked up by digest too: issue 19).
    assert len(seen) == len(docker.cli("inspect")) == 6
    assert all(s["credHelpers"] == {ECR: "shimimg-0"} for s in seen)
    for argv, env in docker.calls:
        assert TOKEN not in " ".join(argv) and TOKEN not in json.dumps(env)
    assert TOKEN not in caplog.text
    [config] = private_configs(docker)
    assert not config.exists(), "the private config is gone afterwards"
    assert (p.image_uri, docker.tags[f"{ECR}/team/orders:v1"]) == (f"{ECR}/team/orders@{D1}", D1)


def test_the_private_config_is_removed_when_the_push_is_interrupted(docker):
    docker.failures["push"] = [(KeyboardInterrupt(), 1)]
    with pytest.raises(KeyboardInterrupt):
        run_push([image()], ECR_REPO, ecr=FakeEcr(["team/orders"]))
    [config] = private_configs(docker)
    assert config.name.startswith("shimimg-docker-") and not config.exists()
    assert not docker.names, "the push name is dropped on the way out too"


def test_connect_checks_ecr_repositories_once_per_region_before_anything_else(docker):
    client = FakeEcr(["team/orders"])
    regions = []

    def factory(region, *, timeout, retries):
        regions.append((region, timeout, retries))
        return client

    other = parse_repository(f"{ECR}/team/other")
    with pytest.raises(ShimimgError, match="ECR repository team/other does not exist"):
        with connect([ECR_REPO, REPO, other], endpoint=None, create=False, timeout=30, retries=1,
                     ecr_client=factory):
            pytest.fail("connected without the repository")
    assert regions == [("eu-west-1", 30, 1)] and docker.calls == []
    with connect([ECR_REPO, other, REPO], endpoint=None, create=True, timeout=30, retries=1,
                 ecr_client=factory) as targets:
        assert "team/other" in client.repos
        assert targets[REPO].env is None and targets[REPO].auth is None and not targets[REPO].immutable
        assert targets[other].immutable and targets[other].env == targets[ECR_REPO].env
        assert not targets[ECR_REPO].insecure and targets[REPO].insecure


def test_without_boto3_connect_stops_before_any_ecr_call(monkeypatch, docker):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ShimimgError, match="needs boto3"):
        with connect([REPO, ECR_REPO], endpoint=None, create=False, timeout=30, retries=1):
            pytest.fail("connected")


def test_endpoint_override_sends_traffic_elsewhere_but_pins_the_repository(docker):
    client = FakeEcr(["team/orders"])
    [p] = run_push([image()], ECR_REPO, endpoint="127.0.0.1:5999", ecr=client)
    assert docker.pushes == [(f"127.0.0.1:5999/team/orders:{CTAG}",
                              {"username": "AWS", "password": TOKEN, "serveraddress": "127.0.0.1:5999"})]
    assert docker.cli("inspect")[0][4] == f"127.0.0.1:5999/team/orders:{CTAG}"
    assert p.image_uri == f"{ECR}/team/orders@{D1}"


def test_classic_image_store_pushes_by_config_digest_and_recognises_its_image_on_a_rerun(docker):
    # The classic store names images by config digest; the registry's manifest digest differs.
    docker.hold(CONFIG, Manifest(D2))
    img = image(digest="", image_id=CONFIG)
    [p] = run_push([img])
    assert (p.digest, p.tags) == (D2, (content_tag(CONFIG),)) and len(docker.pushes) == 1
    [again] = run_push([img])
    assert again.digest == D2 and len(docker.pushes) == 1


def test_content_tag_on_another_image_is_refused_unless_force(docker):
    docker.land(NAME, Manifest(D2, config="sha256:" + "9" * 64), CTAG)
    with pytest.raises(ShimimgError, match=f"{NAME}:{CTAG} points at {D2}, not at this build") as e:
        run_push([image()])
    assert "--force" in e.value.hint and docker.pushes == []
    assert run_push([image()], force=True)[0].digest == D1


def test_missing_right_after_the_push_is_an_error(docker):
    docker.failures["inspect"] = [f"ERROR: {NAME}:{CTAG}: not found"] * 2
    with pytest.raises(ShimimgError, match="is missing right after its push; the template was not written"):
        run_push([image()])


# What BuildKit v0.34 prints for a push (a remote builder, --progress=plain): nothing per blob.
BUILDKIT = f"""#12 exporting to image
#12 exporting layers done
#12 exporting manifest sha256:{"9" * 64} done
#12 exporting config {CONFIG} done
#12 pushing layers
#12 pushing layers 0.7s done
#12 pushing manifest for {NAME}@{D1}
#12 pushing manifest for {NAME}@{D1} 0.1s done
#12 DONE 1.0s
"""


def test_an_image_a_builder_pushed_is_named_by_digest_then_tagged(docker):
    docker.land(NAME, Manifest(D1))  # by digest only, as BuildKit's push-by-digest leaves it
    namer = Namer(docker)
    [p] = run_push([image(builder_output=BUILDKIT)], tags=["v1"], builder_pushed={Path("/src/orders"): BUILDKIT},
                   namer=namer)
    # Nothing goes through the engine: the builder pushes again under the content tag, then --tag.
    assert docker.pushes == [] and not [argv for argv, _ in docker.calls if argv[1] == "image"]
    assert namer.calls == [[f"{NAME}:{CTAG}"], [f"{NAME}:v1"]]
    assert (p.image_uri, p.tags) == (f"{NAME}@{D1}", (CTAG, "v1"))
    # BuildKit does not say which blobs it uploaded: unknown, not a guess.
    assert p.stats == Stats(layers=3, layers_pushed=None, bytes_pushed=None, layers_mounted=None)


def test_a_builder_pushed_image_whose_content_tag_names_another_is_refused(docker):
    docker.land(NAME, Manifest(D1))
    docker.land(NAME, Manifest(D2), CTAG)
    with pytest.raises(ShimimgError, match="not at this build"):
        run_push([image(builder_output="")], builder_pushed={Path("/src/orders"): ""})
    assert docker.cli("create") == []


def test_a_builder_image_that_comes_out_different_when_named_is_an_error(docker):
    docker.land(NAME, Manifest(D1))
    drifted = Namer(docker, digest=D2)
    with pytest.raises(ShimimgError, match=f"gave {D2}, not {D1}") as e:
        run_push([image(builder_output=BUILDKIT)], builder_pushed={Path("/src/orders"): BUILDKIT}, namer=drifted)
    assert "pin the base image by digest" in e.value.hint


def test_an_index_where_an_image_manifest_should_be_is_refused(docker):
    docker.land(NAME, Manifest(D2, media_type=INDEX), content_tag(D2))
    with pytest.raises(ShimimgError, match="not a single-platform image manifest"):
        run_push([image(digest=D2, builder_output="")], builder_pushed={Path("/src/orders"): ""},
                 namer=Namer(docker, D2))


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 999, 1000, 1500, 2_400_000, 3 * 10**9, 5 * 10**12)] == [
        "0 B", "999 B", "1.0 kB", "1.5 kB", "2.4 MB", "3.0 GB", "5000.0 GB"]


def test_a_tag_that_names_another_image_right_after_the_push_is_refused_not_pinned(docker, monkeypatch):
    """Issue 19: the digest the engine pushed is pinned, and a registry answering the content tag
    with another image (here D2, landed already) is refused, never pinned."""
    docker.land(NAME, Manifest(D2))
    real = docker._push

    def swapping(name, tag):
        yield from real(name, tag)
        docker.tags[f"{name}:{tag}"] = D2  # the registry moves the tag as soon as the push ends

    monkeypatch.setattr(docker, "_push", swapping)
    with pytest.raises(ShimimgError, match=f"names {D2} right after shimimg pushed {D1}"):
        run_push([image()])

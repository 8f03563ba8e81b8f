"""`shimimg push` against a real registry (Debian's docker-registry, htpasswd auth, loopback), the
real engine, and moto's ECR API: what lands, what is uploaded, and what is refused."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from registry_fixtures import (  # noqa: F401
    PASSWORD,
    USER,
    Registry,
    SlowProxy,
    docker_config,
    free_port,
    moto_ecr,
    registry_tools,
)

from support import EXAMPLE

# Fixed, so a rebuild of unchanged sources gives the same image config and digest.
SOURCE_DATE_EPOCH = "1700000000"
IMAGE_MANIFESTS = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")
PINNED = re.compile(r"^\s*ImageUri:\s*(\S+)\s*$", re.MULTILINE)



def pushed(out: dict) -> list[dict]:
    """Each package's push result from `shimimg push --json` (schema_version 1), flattened."""
    return [{**p["push"], "package": p["code_uri"], "functions": [f["logical_id"] for f in p["functions"]]}
            for p in out["packages"]]

def shimimg(*args: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **env}
    return subprocess.run(
        [sys.executable, "-m", "shimimg", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    return dest


def image_uris(template: Path) -> list[str]:
    return PINNED.findall(template.read_text())


@pytest.fixture(scope="module")
def client_env(tmp_path_factory, registry):
    """docker's own credentials for the registry, as `docker login` leaves them."""
    config = docker_config(tmp_path_factory.mktemp("docker-config"), {registry.address: (USER, PASSWORD)})
    return {"DOCKER_CONFIG": str(config)}


@pytest.fixture(scope="module")
def work(tmp_path_factory, standin, go_toolchain):
    return copy_example(tmp_path_factory.mktemp("push") / "orders")


@pytest.fixture(scope="module")
def first_push(work, registry, client_env, standin):
    """The example's pipeline step: build and push, JSON for the next step."""
    offset = registry.log_offset()
    r = shimimg(
        "push",
        "--base-image",
        standin,
        "--repository",
        f"{registry.address}/team/orders",
        "--tag",
        "ci-1",
        "--json",
        cwd=work,
        env=client_env,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), registry.blob_uploads(offset, "team/orders"), r


@pytest.fixture(scope="module")
def changed_push(first_push, work, tmp_path_factory, registry, client_env, standin):
    """A copy of the example (with its build cache) where one handler changed, pushed with `build --push`."""
    changed = tmp_path_factory.mktemp("changed") / "orders"
    shutil.copytree(work, changed)
    main = changed / "cmd" / "get_order" / "main.go"
    main.write_text(main.read_text().replace('"order not found"', '"order not found (v2)"'))
    offset = registry.log_offset()
    r = shimimg(
        "build",
        "--push",
        "--base-image",
        standin,
        "--repository",
        f"{registry.address}/team/orders",
        "--json",
        cwd=changed,
        env=client_env,
    )
    assert r.returncode == 0, r.stderr
    return changed, json.loads(r.stdout), registry.blob_uploads(offset, "team/orders"), r


def test_push_lands_once_and_pins_every_function(first_push, registry, work):
    out, uploads, r = first_push
    [img] = pushed(out)
    digest = img["digest"]
    assert img["repository"] == f"{registry.address}/team/orders"
    assert img["image_uri"] == f"{registry.address}/team/orders@{digest}"
    assert img["tags"] == [f"sha256-{digest.split(':')[1][:24]}", "ci-1"]
    assert sorted(img["functions"]) == sorted(
        ["CreateOrderFunction", "GetOrderFunction", "ProcessOrdersFunction", "FailOrderFunction", "EchoEnvFunction"]
    )
    # One push for the package: each blob went up once, the layers all in this run.
    _, manifest, _ = registry.manifest("team/orders", digest)
    layer_digests = [layer["digest"] for layer in manifest["layers"]]
    assert sorted(uploads) == sorted({*layer_digests, manifest["config"]["digest"]})
    assert img["layers_pushed"] == img["layers"] == len(layer_digests)
    assert img["bytes_pushed"] == sum(layer["size"] for layer in manifest["layers"])
    print(f"full push: {img['layers_pushed']} layers, {img['bytes_pushed']} bytes")

    template = work / out["output"]
    uris = image_uris(template)
    assert len(uris) == 5 and set(uris) == {img["image_uri"]}
    assert "report/" in template.read_text()  # the Python function is untouched


def test_pinned_digest_is_a_single_platform_manifest_and_pulls_back_the_same_image(first_push, registry, client_env):
    out, _, _ = first_push
    [img] = pushed(out)
    digest = img["digest"]
    header, manifest, body_digest = registry.manifest("team/orders", digest)
    assert header == body_digest == digest
    # Lambda refuses indexes and attestations.
    assert manifest["mediaType"] in IMAGE_MANIFESTS
    config = json.loads(registry.blob("team/orders", manifest["config"]["digest"]))
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    for tag in img["tags"]:
        assert registry.manifest("team/orders", tag)[0] == digest

    ref = img["image_uri"]
    env = {**os.environ, **client_env}
    pulled = subprocess.run(
        ["docker", "pull", "--platform", "linux/arm64", ref], env=env, capture_output=True, text=True
    )
    assert pulled.returncode == 0, pulled.stderr
    try:
        local = subprocess.run(
            ["docker", "image", "inspect", ref, "--format", "{{json .RootFS.Layers}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(local.stdout) == config["rootfs"]["diff_ids"]
    finally:
        subprocess.run(["docker", "image", "rm", ref], capture_output=True)


def test_template_is_cfn_lint_clean(first_push, work):
    out, _, _ = first_push
    r = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "parseable", "--", str(work / out["output"])],
        capture_output=True,
        text=True,
    )
    assert not [line for line in r.stdout.splitlines() if ":E" in line], r.stdout


def test_rerun_uploads_nothing(first_push, work, registry, client_env, standin):
    out, _, _ = first_push
    template = work / out["output"]
    offset = registry.log_offset()
    r = shimimg(
        "push",
        "--base-image",
        standin,
        "--repository",
        f"{registry.address}/team/orders",
        "--tag",
        "ci-1",
        "--json",
        cwd=work,
        env=client_env,
    )
    assert r.returncode == 0, r.stderr
    [img] = pushed(json.loads(r.stdout))
    assert img["digest"] == pushed(out)[0]["digest"]
    assert (img["layers_pushed"], img["bytes_pushed"]) == (0, 0)
    assert registry.blob_uploads(offset) == []
    assert set(image_uris(template)) == {img["image_uri"]}


def test_one_handler_change_uploads_only_its_layer(first_push, changed_push, registry):
    first, _, _ = first_push
    changed, out, uploads, _ = changed_push
    [old], [new] = pushed(first), pushed(out)
    assert new["digest"] != old["digest"]
    _, before, _ = registry.manifest("team/orders", old["digest"])
    _, after, _ = registry.manifest("team/orders", new["digest"])
    fresh = [layer for layer in after["layers"] if layer["digest"] not in {x["digest"] for x in before["layers"]}]
    assert len(fresh) == 1, "exactly the changed handler's layer is new"
    # The registry saw the new layer and the new image config uploaded, nothing else.
    assert sorted(uploads) == sorted([fresh[0]["digest"], after["config"]["digest"]])
    assert (new["layers_pushed"], new["bytes_pushed"]) == (1, fresh[0]["size"])
    assert new["bytes_pushed"] < old["bytes_pushed"] / 4
    print(
        f"one-handler change: {new['layers_pushed']} layer, {new['bytes_pushed']} bytes "
        f"(full push {old['bytes_pushed']} bytes)"
    )
    assert set(image_uris(changed / out["output"])) == {new["image_uri"]}


def test_existing_tag_on_another_digest_moves_only_with_force(first_push, changed_push, registry, client_env, standin):
    changed, out, _, _ = changed_push
    first, _, _ = first_push
    old_digest, new_digest = pushed(first)[0]["digest"], pushed(out)[0]["digest"]
    template = changed / out["output"]
    before = template.read_text()
    args = ("push", "--base-image", standin, "--repository", f"{registry.address}/team/orders", "--tag", "ci-1")

    r = shimimg(*args, cwd=changed, env=client_env)
    assert r.returncode == 1
    assert "tags already point at other images; none was moved and the template was not written" in r.stderr
    assert f"team/orders:ci-1 points at {old_digest}" in r.stderr and "--force" in r.stderr
    assert registry.manifest("team/orders", "ci-1")[0] == old_digest
    assert template.read_text() == before

    r = shimimg(*args, "--force", cwd=changed, env=client_env)
    assert r.returncode == 0, r.stderr
    assert registry.manifest("team/orders", "ci-1")[0] == new_digest


def test_wrong_password_is_refused_with_docker_login_hint(work, registry, tmp_path, standin):
    config = docker_config(tmp_path / "docker", {registry.address: (USER, "not-the-password")})
    out = tmp_path / "out.yaml"
    r = shimimg(
        "push",
        "--base-image",
        standin,
        "--repository",
        f"{registry.address}/team/orders",
        "-o",
        str(out),
        cwd=work,
        env={"DOCKER_CONFIG": str(config)},
    )
    assert r.returncode == 1
    assert f"{registry.address} refused the credentials docker has for it" in r.stderr
    assert f"docker login {registry.address}" in r.stderr
    assert "retrying" not in r.stderr, "a refusal is not retried"
    assert not out.exists()


def test_registry_down_is_retried_then_refused_naming_the_address(work, client_env, tmp_path, standin):
    address = f"127.0.0.1:{free_port()}"
    out = tmp_path / "out.yaml"
    r = shimimg(
        "push",
        "--base-image",
        standin,
        "--repository",
        f"{address}/team/orders",
        "--retries",
        "1",
        "-o",
        str(out),
        cwd=work,
        env=client_env,
    )
    assert r.returncode == 1
    assert f"cannot reach the registry at {address} (tried 2 times)" in r.stderr
    assert "the template was not written" in r.stderr
    assert "retrying in 1s" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "uri,why",
    [
        ("orders", "names no registry host"),
        ("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders", "has no scheme"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:v1", "holds a tag"),
        ("1234.dkr.ecr.eu-west-1.amazonaws.com/orders", "looks like ECR"),
        ("registry.example.com/Team/Orders", "is not a repository name"),
    ],
)
def test_malformed_repository_is_refused_before_building(uri, why, tmp_path):
    r = shimimg(
        "push",
        "--repository",
        uri,
        "-t",
        str(EXAMPLE / "template.yaml"),
        "-o",
        str(tmp_path / "o.yaml"),
        cwd=tmp_path,
        env={},
    )
    assert r.returncode == 1
    assert f"repository {uri!r} is malformed" in r.stderr and why in r.stderr
    assert "go build" not in r.stderr and not (tmp_path / "o.yaml").exists()


def test_ecr_without_boto3_says_how_to_install(tmp_path):
    shadow = tmp_path / "no-boto3" / "boto3"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named boto3')\n")
    r = shimimg(
        "push",
        "--repository",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders",
        "-t",
        str(EXAMPLE / "template.yaml"),
        "-o",
        str(tmp_path / "o.yaml"),
        cwd=tmp_path,
        env={"PYTHONPATH": str(shadow.parent)},
    )
    assert r.returncode == 1
    assert "pushing to ECR needs boto3" in r.stderr and "shimimg[aws]" in r.stderr
    assert not (tmp_path / "o.yaml").exists()


def test_registry_killed_mid_push_then_rerun_completes_skipping_what_landed(work, tmp_path, standin):
    reg = Registry(tmp_path / "registry", {USER: PASSWORD}).start()
    # 2 MB/s per connection: the example's larger layers take a second or more each.
    proxy = SlowProxy(reg.port, rate=2_000_000)
    try:
        env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {proxy.address: (USER, PASSWORD)}))}
        args = [
            "push",
            "--base-image",
            standin,
            "--repository",
            f"{proxy.address}/kill/orders",
            "--retries",
            "1",
            "-o",
            str(tmp_path / "out.yaml"),
        ]
        shimimg("build", "--base-image", standin, cwd=work, env=env)  # cached: the push starts at once
        proc = subprocess.Popen(
            [sys.executable, "-m", "shimimg", *args],
            cwd=work,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        sizes: dict[str, int] = {}
        # Kill once a real layer (a handler, not just the tiny ones or the config) has landed.
        while time.monotonic() < deadline and proc.poll() is None:
            for d in reg.blob_uploads():
                sizes.setdefault(d, reg.blob_size("kill/orders", d))
            if max(sizes.values(), default=0) > 1_000_000:
                break
            time.sleep(0.02)
        reg.kill()
        landed = reg.blob_uploads()
        _, stderr = proc.communicate(timeout=120)
        assert max(sizes.values(), default=0) > 1_000_000, "no layer landed before the push ended"
        assert len(landed) < 9, "the push finished before the kill"
        assert proc.returncode == 1, stderr
        assert f"registry at {proxy.address}" in stderr and "the template was not written" in stderr
        assert not (tmp_path / "out.yaml").exists()

        offset = reg.log_offset()
        reg.start()
        proxy.rate = None
        r = shimimg(*args, "--json", cwd=work, env=env)
        assert r.returncode == 0, r.stderr
        [img] = pushed(json.loads(r.stdout))
        again = reg.blob_uploads(offset)
        assert again and not set(again) & set(landed), "blobs that landed before the kill were uploaded again"
        assert img["layers_pushed"] < img["layers"]
        print(f"killed after {len(landed)} blob(s) landed; the rerun uploaded {img['layers_pushed']} of "
              f"{img['layers']} layers, {img['bytes_pushed']} bytes")
        assert reg.manifest("kill/orders", img["digest"])[0] == img["digest"]
        assert (tmp_path / "out.yaml").exists()
    finally:
        proxy.close()
        reg.stop()


def _needles(secret: str, user: str = "AWS") -> list[bytes]:
    pair = f"{user}:{secret}".encode()
    return [secret.encode(), base64.b64encode(pair), base64.b64encode(secret.encode())]


def _files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    hits = []
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                hits += [f"{path}: {n[:6]!r}..." for n in needles if n in data]
    return hits


def test_ecr_token_from_the_api_pushes_through_a_private_config_and_leaves_no_trace(work, tmp_path, standin, moto_ecr):  # noqa: F811
    import boto3

    account, region = "123456789012", "eu-west-1"
    aws_env = {
        "AWS_ENDPOINT_URL_ECR": moto_ecr,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    ecr = boto3.client(
        "ecr", region_name=region, endpoint_url=moto_ecr, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    token = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]["authorizationToken"]
    user, _, secret = base64.b64decode(token).decode().partition(":")
    # The local registry stands in for ECR's registry and accepts exactly what the ECR API hands out.
    reg = Registry(tmp_path / "registry", {user: secret}).start()
    try:
        home, tmp, user_docker = tmp_path / "home", tmp_path / "tmp", tmp_path / "user-docker"
        for d in (home, tmp):
            d.mkdir()
        docker_config(user_docker, {})  # docker itself knows no credentials for this registry
        env = {
            **aws_env,
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "DOCKER_CONFIG": str(user_docker),
            "SHIMIMG_REGISTRY_ENDPOINT": reg.address,
        }
        repo = f"{account}.dkr.ecr.{region}.amazonaws.com/team/orders"
        out = tmp_path / "pinned.yaml"
        args = ("-v", "push", "--base-image", standin, "--repository", repo, "-o", str(out), "--json")

        r = shimimg(*args, cwd=work, env=env)
        assert r.returncode == 1
        assert f"ECR repository team/orders does not exist in account {account} ({region})" in r.stderr
        assert "--create-repository" in r.stderr
        assert "shimimg/orders" not in r.stderr, "refused before building"

        runs = [shimimg(*args, "--create-repository", cwd=work, env=env) for _ in range(2)]
        for run in runs:
            assert run.returncode == 0, run.stderr
        first, second = (pushed(json.loads(run.stdout))[0] for run in runs)
        assert first["digest"] == second["digest"] and second["bytes_pushed"] == 0
        assert first["image_uri"] == f"{repo}@{first['digest']}"
        assert set(image_uris(out)) == {first["image_uri"]}
        described = ecr.describe_repositories(repositoryNames=["team/orders"])["repositories"]
        assert [(d["imageTagMutability"], d["imageScanningConfiguration"]["scanOnPush"]) for d in described] == [
            ("IMMUTABLE", True)
        ]
        assert reg.manifest("team/orders", first["digest"])[0] == first["digest"]

        needles = _needles(secret, user)
        outputs = "".join(run.stdout + run.stderr for run in [r, *runs]).encode()
        assert not [n for n in needles if n in outputs], "the ECR token shows in shimimg's output"
        assert not list(tmp.glob("shimimg-docker-*")), "the private docker config was left behind"
        held = _files_holding([work, home, tmp, user_docker, out, reg.log, dockercli_user_dir()], needles)
        assert held == []
        probe = tmp / "probe"  # the search does find a token where there is one
        probe.write_bytes(b"x" + needles[1] + b"x")
        assert _files_holding([tmp], needles) == [f"{probe}: {needles[1][:6]!r}..."]
    finally:
        reg.stop()


def dockercli_user_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def test_private_config_keeps_the_users_cli_plugins(tmp_path, monkeypatch):
    """A plugin only in the user's DOCKER_CONFIG/cli-plugins (where buildx often sits) still runs."""
    from shimimg.registry.credentials import private_config

    user = tmp_path / "user-docker"
    plugin = user / "cli-plugins" / "docker-shimimgprobe"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(
        '#!/bin/sh\n[ "$1" = docker-cli-plugin-metadata ] && '
        'echo \'{"SchemaVersion":"0.1.0","Vendor":"tests"}\' && exit 0\necho probe-ran\n'
    )
    plugin.chmod(0o755)
    (user / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    with private_config({"registry.invalid": ("u", "p")}) as env:
        r = subprocess.run(["docker", "shimimgprobe"], env={**os.environ, **env}, capture_output=True, text=True)
        helper = subprocess.run(
            ["docker-credential-shimimg-0", "get"],
            input="registry.invalid",
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
    assert r.stdout.strip() == "probe-ran", r.stderr
    assert json.loads(helper.stdout) == {"ServerURL": "registry.invalid", "Username": "u", "Secret": "p"}
    assert not Path(env["DOCKER_CONFIG"]).exists()


PIPELINES = EXAMPLE.parent / "pipelines"


def _pipeline_commands() -> dict[str, tuple[dict, list[str], str]]:
    """Per example pipeline: its env, the build and push commands, and the deploy command."""
    import yaml

    gha = yaml.safe_load((PIPELINES / "github-actions.yml").read_text())
    steps = {s["name"]: s["run"] for s in gha["jobs"]["deploy"]["steps"] if "name" in s and "run" in s}
    names = [s.get("name") for s in gha["jobs"]["deploy"]["steps"]]
    assert names.index("Build") < names.index("Push") < names.index("Deploy")
    spec = yaml.safe_load((PIPELINES / "buildspec.yml").read_text())
    build, push, deploy = spec["phases"]["build"]["commands"]
    return {
        "github-actions": (gha["env"], [steps["Build"], steps["Push"]], steps["Deploy"]),
        "codebuild": (spec["env"]["variables"], [build, push], deploy),
    }


def test_a_second_repository_of_the_registry_gets_the_layers_mounted_not_uploaded(work, registry, client_env,
                                                                                   standin):
    """The engine mounts blobs the registry already holds in another repository: nothing but the
    manifest and config go up, and layers_mounted says so."""
    runs = []
    for repo in ("mounts/first", "mounts/second"):
        mark = registry.log_offset()
        r = shimimg("push", "--base-image", standin, "--repository", f"{registry.address}/{repo}", "--json",
                    cwd=work, env=client_env)
        assert r.returncode == 0, r.stderr
        runs.append((pushed(json.loads(r.stdout))[0], registry.blob_uploads(mark)))
    (first, _), (second, uploads) = runs
    assert first["digest"] == second["digest"]
    assert second["layers_mounted"] == second["layers"] and second["layers_pushed"] == 0
    assert second["bytes_pushed"] == 0
    manifest = registry.manifest("mounts/second", second["digest"])[1]
    assert uploads == [manifest["config"]["digest"]] or uploads == []


def test_sams_names_and_samconfig_choose_the_repository(first_push, work, registry, client_env, standin, tmp_path):
    """--image-repository, --image-repositories Fn=URI and samconfig's deploy table (issue 20)."""
    out, _, _ = first_push
    [img] = pushed(out)
    here = tmp_path / "orders"
    shutil.copytree(work, here, ignore=shutil.ignore_patterns(".shimimg", ".aws-sam"))
    (here / "samconfig.toml").write_text(f'version = 0.1\n[default.deploy.parameters]\n'
                                         f'image_repository = "{registry.address}/team/from-samconfig"\n'
                                         f'[other.deploy.parameters]\n'
                                         f'image_repositories = ["GetOrderFunction={registry.address}/team/by-fn"]\n')
    r = shimimg("push", "--base-image", standin, "--json", cwd=here, env=client_env)
    assert r.returncode == 0, r.stderr
    [from_config] = pushed(json.loads(r.stdout))
    assert from_config["repository"] == f"{registry.address}/team/from-samconfig"
    assert from_config["digest"] == img["digest"]
    # The flag wins over the file, as in SAM; --config-env picks another table.
    r = shimimg("push", "--base-image", standin, "--image-repository", f"{registry.address}/team/from-flag", "--json",
                cwd=here, env=client_env)
    assert r.returncode == 0, r.stderr
    assert pushed(json.loads(r.stdout))[0]["repository"] == f"{registry.address}/team/from-flag"
    r = shimimg("push", "--base-image", standin, "--config-env", "other", "--json", cwd=here, env=client_env)
    assert r.returncode == 0, r.stderr
    [by_fn] = pushed(json.loads(r.stdout))
    assert by_fn["repository"] == f"{registry.address}/team/by-fn"
    assert set(image_uris(here / json.loads(r.stdout)["output"])) == {by_fn["image_uri"]}
    # Bad input: one message naming the value, exit 1.
    r = shimimg("push", "--base-image", standin, "--image-repositories", "NoSuchFunction=x.example/y", cwd=here,
                env=client_env)
    assert r.returncode == 1 and "NoSuchFunction is not a Go function shimimg moves" in r.stderr
    r = shimimg("push", "--base-image", standin, "--config-file", "missing.toml", cwd=here, env=client_env)
    assert r.returncode == 1 and "--config-file missing.toml" in r.stderr


GZIP_LAYERS = ("application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar+gzip")


def test_a_push_after_a_local_build_uploads_gzip_layers(first_push, registry, client_env, standin, tmp_path):
    """A local build keeps plain tar layers (fast, it only runs here); the push after it must not
    reuse them: Lambda refuses a plain tar under Docker's media types. Every pushed layer is gzip,
    by its media type and by its bytes, and the image is the one a push alone makes."""
    work = copy_example(tmp_path / "orders")
    r = shimimg("build", "--base-image", standin, "--json", cwd=work, env=client_env)
    assert r.returncode == 0, r.stderr
    r = shimimg("push", "--base-image", standin, "--repository", f"{registry.address}/after/local", "--json",
                cwd=work, env=client_env)
    assert r.returncode == 0, r.stderr
    [img] = pushed(json.loads(r.stdout))
    _, manifest, _ = registry.manifest("after/local", img["digest"])
    assert {layer["mediaType"] for layer in manifest["layers"]} <= set(GZIP_LAYERS), manifest["layers"]
    for layer in manifest["layers"]:
        assert registry.blob("after/local", layer["digest"])[:2] == b"\x1f\x8b", layer
    assert img["digest"] == pushed(first_push[0])[0]["digest"]

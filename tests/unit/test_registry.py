"""registry.py with the outside programs faked: dockercli's registry calls and boto3's ECR client."""

from __future__ import annotations

import base64
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from shimimg import dockercli, registry
from shimimg.dockercli import RegistryFailure, RemoteImage
from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from shimimg.plan import Function, Package

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
L1, L2, L3 = ("sha256:" + c * 64 for c in "abc")


def package(code_uri: str = "./", path: str = "/src/orders", arch: str = "arm64") -> Package:
    fn = Function(logical_id="GetOrderFunction", resource_type="AWS::Serverless::Function", handler="bin/get_order",
                  runtime="go1.x")
    return Package(code_uri=code_uri, path=Path(path), kind="dir", image="shimimg/orders:latest", arch=arch,
                   functions=(fn,))


def image(pkg: Package | None = None, digest: str = D1) -> ImageResult:
    return ImageResult(pkg or package(), "shimimg/orders:latest", digest, digest, cached=False)


# Repository URIs.


@pytest.mark.parametrize("uri,account,region", [
    (f"{ECR}/orders", "123456789012", "eu-west-1"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/a/b", "123456789012", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/orders", "123456789012", "cn-north-1"),
])
def test_ecr_uris_give_account_and_region(uri, account, region):
    repo = registry.parse_repository(uri)
    assert (repo.is_ecr, repo.account, repo.region, repo.uri) == (True, account, region, uri)


@pytest.mark.parametrize("uri", ["127.0.0.1:5000/team/orders", "localhost/orders", "ghcr.io/acme/orders-api",
                                 "registry.example.com:443/a/b.c/d_e"])
def test_other_registries_are_not_ecr(uri):
    repo = registry.parse_repository(uri)
    assert not repo.is_ecr and repo.uri == uri
    assert repo.pinned(D1) == f"{uri}@{D1}"


@pytest.mark.parametrize("uri,why", [
    ("", "it is empty"),
    ("orders", "names no registry host"),
    ("acme/orders", "would mean Docker Hub"),
    (f"https://{ECR}/orders", "no scheme"),
    (f"{ECR}/orders:v1", "holds a tag"),
    (f"{ECR}/orders@{D1}", "holds a digest"),
    (f"{ECR}/", "names no repository"),
    (f"{ECR}/Orders", "is not a repository name"),
    (f"{ECR}/orders//x", "is not a repository name"),
    ("12345.dkr.ecr.eu-west-1.amazonaws.com/orders", "looks like ECR"),
    ("123456789012.dkr.ecr.amazonaws.com/orders", "looks like ECR"),
    ("bad_host!.io/orders", "is not a registry host"),
])
def test_malformed_uris_are_refused_with_the_expected_form(uri, why):
    with pytest.raises(ShimimgError) as e:
        registry.parse_repository(uri)
    assert e.value.message.startswith(f"repository {uri!r} is malformed")
    assert why in e.value.message
    assert "<account>.dkr.ecr.<region>.amazonaws.com/<name>" in e.value.hint


def test_endpoint_override_is_host_and_port():
    assert registry.parse_endpoint("http://127.0.0.1:5000/") == "127.0.0.1:5000"
    assert registry.parse_endpoint(None) is None
    with pytest.raises(ShimimgError):
        registry.parse_endpoint("127.0.0.1:5000/path")


def test_one_uri_serves_every_package_and_package_uri_overrides(tmp_path):
    a = package("services/a/", str(tmp_path / "services" / "a"))
    b = package("b.zip", str(tmp_path / "b.zip"))
    out = registry.assign([a, b], [f"{ECR}/all", f"services/a={ECR}/a"], base=tmp_path)
    assert out[a.path].name == "a" and out[b.path].name == "all"
    # A package can also be named by its path from the template's folder.
    out = registry.assign([a, b], [f"./services/a={ECR}/a", f"b.zip={ECR}/b"], base=tmp_path)
    assert (out[a.path].name, out[b.path].name) == ("a", "b")


def test_unknown_package_missing_repository_and_two_defaults_are_refused(tmp_path):
    a = package("a/", str(tmp_path / "a"))
    b = package("b/", str(tmp_path / "b"))
    with pytest.raises(ShimimgError, match="no package 'c/'") as e:
        registry.assign([a], [f"c/={ECR}/c"], base=tmp_path)
    assert "a/" in e.value.hint
    with pytest.raises(ShimimgError, match="package b/ has no repository"):
        registry.assign([a, b], [f"a/={ECR}/a"], base=tmp_path)
    with pytest.raises(ShimimgError, match="given twice"):
        registry.parse_specs([f"{ECR}/a", f"{ECR}/b"])
    with pytest.raises(ShimimgError, match="no repository to push to"):
        registry.parse_specs([])


def test_tags():
    assert registry.check_tags(["v1", "main-3f2a", "v1"]) == ("v1", "main-3f2a")
    for bad in ("-x", ".x", "a" * 129, "a/b", "a:b"):
        with pytest.raises(ShimimgError, match="not a valid image tag"):
            registry.check_tags([bad])
    assert registry.content_tag(D1) == "sha256-" + "1" * 24


def test_human_bytes():
    assert [registry.human_bytes(n) for n in (0, 999, 1500, 2_400_000, 3 * 10**9)] == [
        "0 B", "999 B", "1.5 kB", "2.4 MB", "3.0 GB"]


# The ECR API.


class FakeEcr:
    """boto3's ECR client as far as registry.py uses it; raises botocore's real exceptions."""

    def __init__(self, repositories=(), mutability="IMMUTABLE", fail=None):
        from botocore.exceptions import ClientError

        self.ClientError = ClientError
        self.repos = {name: mutability for name in repositories}
        self.calls = []
        self.fail = fail or {}

    def _error(self, code, op):
        return self.ClientError({"Error": {"Code": code, "Message": f"{code} says no"}}, op)

    def _maybe_fail(self, op):
        if op in self.fail:
            raise self.fail[op]

    def describe_repositories(self, registryId, repositoryNames):
        self.calls.append(("describe", registryId, tuple(repositoryNames)))
        self._maybe_fail("describe")
        name = repositoryNames[0]
        if name not in self.repos:
            raise self._error("RepositoryNotFoundException", "DescribeRepositories")
        return {"repositories": [{"repositoryName": name, "imageTagMutability": self.repos[name]}]}

    def create_repository(self, registryId, repositoryName, imageTagMutability, imageScanningConfiguration):
        self.calls.append(("create", registryId, repositoryName, imageTagMutability, imageScanningConfiguration))
        self._maybe_fail("create")
        if repositoryName in self.repos:
            raise self._error("RepositoryAlreadyExistsException", "CreateRepository")
        self.repos[repositoryName] = imageTagMutability
        return {"repository": {"repositoryName": repositoryName, "imageTagMutability": imageTagMutability}}

    def get_authorization_token(self, registryIds):
        self.calls.append(("token", tuple(registryIds)))
        self._maybe_fail("token")
        token = base64.b64encode(b"AWS:s3cret-token").decode()
        return {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": f"https://{ECR}"}]}


REPO = registry.parse_repository(f"{ECR}/team/orders")


def test_ecr_login_decodes_the_token_for_the_uris_account():
    client = FakeEcr()
    assert registry.ecr_login(client, REPO) == ("AWS", "s3cret-token")
    assert client.calls == [("token", ("123456789012",))]


def test_existing_repository_is_used_as_it_is():
    client = FakeEcr(["team/orders"], mutability="MUTABLE")
    assert registry.ensure_repository(client, REPO, create=True) == "MUTABLE"
    assert [c[0] for c in client.calls] == ["describe"]


def test_missing_repository_is_refused_unless_create_then_made_immutable_with_scanning():
    client = FakeEcr()
    with pytest.raises(ShimimgError) as e:
        registry.ensure_repository(client, REPO, create=False)
    assert e.value.message == "ECR repository team/orders does not exist in account 123456789012 (eu-west-1)"
    assert "--create-repository" in e.value.hint
    assert registry.ensure_repository(client, REPO, create=True) == "IMMUTABLE"
    assert client.calls[-1] == ("create", "123456789012", "team/orders", "IMMUTABLE", {"scanOnPush": True})


def test_create_repository_race_is_not_an_error():
    client = FakeEcr()

    def create(**kw):
        client.repos["team/orders"] = "IMMUTABLE"  # another pipeline got there first
        raise client._error("RepositoryAlreadyExistsException", "CreateRepository")

    client.create_repository = create
    assert registry.ensure_repository(client, REPO, create=True) == "IMMUTABLE"


def test_ecr_api_failures_say_what_to_do():
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    client = FakeEcr(fail={"token": NoCredentialsError()})
    with pytest.raises(ShimimgError, match="no AWS credentials for ECR in eu-west-1") as e:
        registry.ecr_login(client, REPO)
    assert "AWS_PROFILE" in e.value.hint

    client = FakeEcr(fail={"describe": EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com")})
    with pytest.raises(ShimimgError, match="cannot reach the ECR API") as e:
        registry.ensure_repository(client, REPO, create=False)
    assert "AWS_ENDPOINT_URL_ECR" in e.value.hint

    denied = FakeEcr()
    denied.fail = {"token": denied._error("AccessDeniedException", "GetAuthorizationToken")}
    with pytest.raises(ShimimgError, match="refused GetAuthorizationToken: AccessDeniedException") as e:
        registry.ecr_login(denied, REPO)
    assert "ecr:GetAuthorizationToken" in e.value.hint


def test_without_boto3_an_ecr_push_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ShimimgError) as e:
        registry.require_ecr_support([REPO])
    assert e.value.message == "pushing to ECR needs boto3, which is not installed"
    assert "shimimg[aws]" in e.value.hint
    registry.require_ecr_support([registry.parse_repository("127.0.0.1:5000/x")])  # no ECR, no boto3 needed


def test_ecr_client_takes_the_region_from_the_uri_and_endpoint_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    client = registry.ecr_client("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


# Pushing, with dockercli's registry calls faked.


class FakeDocker:
    """A registry behind dockercli: tags → digests; pushes record what they uploaded."""

    def __init__(self, monkeypatch, remote=None, layers=None, media_type=MANIFEST, arch="arm64"):
        self.remote = dict(remote or {})  # "endpoint/name:tag" → digest
        self.layers = layers or {L1: 100, L2: 2000, L3: 30000}
        self.present = set()
        self.media_type = media_type
        self.arch = arch
        self.calls = []
        self.local = {}  # local ref → source
        self.push_failures = []  # RegistryFailure to raise, in order
        self.inspect_failures = []
        self.configs = []
        monkeypatch.setattr(dockercli, "tag", self.tag)
        monkeypatch.setattr(dockercli, "untag", self.untag)
        monkeypatch.setattr(dockercli, "push", self.push)
        monkeypatch.setattr(dockercli, "remote_image", self.remote_image)
        monkeypatch.setattr(dockercli, "remote_manifest", self.remote_manifest)
        monkeypatch.setattr(dockercli, "private_config", self.private_config)

    @contextmanager
    def private_config(self, credentials):
        self.configs.append(dict(credentials))
        yield {"DOCKER_CONFIG": "/private"}

    def tag(self, source, target):
        self.calls.append(("tag", source, target))
        self.local[target] = source

    def untag(self, ref):
        self.calls.append(("untag", ref))
        self.local.pop(ref, None)

    def push(self, ref, env=None):
        self.calls.append(("push", ref, env))
        assert ref in self.local, "pushed a name that was not tagged"
        if self.push_failures:
            failure = self.push_failures.pop(0)
            if failure.kind == "transient":  # the first layer made it before the failure
                first = sorted(self.layers)[0]
                self.present.add(first)
                failure.output = f"{first[7:19]}: Pushed\n"
            raise failure
        out = {}
        for digest in sorted(self.layers):
            out[digest[7:19]] = "Layer already exists" if digest in self.present else "Pushed"
            self.present.add(digest)
        self.remote[ref] = self.local[ref]
        return out

    def remote_image(self, ref, env=None):
        self.calls.append(("inspect", ref, env))
        if self.inspect_failures:
            raise self.inspect_failures.pop(0)
        digest = self.remote.get(ref)
        return None if digest is None else RemoteImage(digest, self.media_type, self.arch, "linux")

    def remote_manifest(self, ref, env=None):
        return {"mediaType": self.media_type, "config": {"digest": "sha256:" + "f" * 64},
                "layers": [{"digest": d, "size": s} for d, s in sorted(self.layers.items())]}

    def pushes(self):
        return [c[1] for c in self.calls if c[0] == "push"]


LOCAL = registry.parse_repository("127.0.0.1:5000/team/orders")
CTAG = registry.content_tag(D1)


def test_fresh_push_uploads_under_the_content_tag_then_the_extra_tags(monkeypatch):
    docker = FakeDocker(monkeypatch)
    img = image()
    [p] = registry.push_all([img], {img.package.path: LOCAL}, tags=["ci-7"])
    assert docker.pushes() == [f"127.0.0.1:5000/team/orders:{CTAG}", "127.0.0.1:5000/team/orders:ci-7"]
    assert p.image_uri == f"127.0.0.1:5000/team/orders@{D1}"
    assert p.tags == (CTAG, "ci-7")
    assert (p.layers, p.layers_pushed, p.bytes_pushed) == (3, 3, 32100)
    # Pushed from the image id, so a rebuild of the package's tag meanwhile cannot swap it.
    assert ("tag", D1, f"127.0.0.1:5000/team/orders:{CTAG}") in docker.calls
    assert not docker.local, "every push name is dropped again"
    assert docker.configs == [], "other registries use docker's own credentials"


def test_image_already_there_is_not_pushed_again(monkeypatch):
    docker = FakeDocker(monkeypatch, remote={f"127.0.0.1:5000/team/orders:{CTAG}": D1})
    img = image()
    [p] = registry.push_all([img], {img.package.path: LOCAL})
    assert docker.pushes() == []
    assert (p.digest, p.layers_pushed, p.bytes_pushed) == (D1, 0, 0)


def test_only_layers_the_registry_lacks_count_as_pushed(monkeypatch):
    docker = FakeDocker(monkeypatch)
    docker.present = {L1, L3}
    img = image()
    [p] = registry.push_all([img], {img.package.path: LOCAL})
    assert (p.layers_pushed, p.bytes_pushed) == (1, 2000)


def test_blobs_mounted_from_another_repository_are_not_counted_as_uploaded(monkeypatch):
    docker = FakeDocker(monkeypatch)
    real_push = docker.push
    monkeypatch.setattr(dockercli, "push", lambda ref, env=None: {
        **real_push(ref, env), L2[7:19]: "Mounted from team/other"})
    img = image()
    [p] = registry.push_all([img], {img.package.path: LOCAL})
    assert (p.layers_pushed, p.layers_mounted, p.bytes_pushed) == (2, 1, 30100)


def test_transient_failure_is_retried_with_backoff_and_the_rerun_skips_what_landed(monkeypatch):
    docker = FakeDocker(monkeypatch)
    docker.push_failures = [RegistryFailure("transient", "r", "unexpected EOF"),
                            RegistryFailure("down", "r", "connection refused")]
    sleeps = []
    img = image()
    [p] = registry.push_all([img], {img.package.path: LOCAL}, retries=3, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]
    assert len(docker.pushes()) == 3
    # L1 went up in the first attempt and is counted once; the last attempt found it there.
    assert (p.layers_pushed, p.bytes_pushed) == (3, 32100)


def test_registry_down_after_retries_names_the_address_and_that_nothing_was_written(monkeypatch):
    docker = FakeDocker(monkeypatch)
    docker.inspect_failures = [RegistryFailure("down", "r", "dial tcp 127.0.0.1:5000: connect: connection refused")] * 3
    img = image()
    with pytest.raises(ShimimgError) as e:
        registry.push_all([img], {img.package.path: LOCAL}, retries=2, sleep=lambda s: None)
    assert e.value.message.startswith("cannot reach the registry at 127.0.0.1:5000 (tried 3 times)")
    assert e.value.message.endswith("the template was not written")
    assert docker.pushes() == []


@pytest.mark.parametrize("kind,ecr,expect", [
    ("auth", False, "docker login 127.0.0.1:5000"),
    ("no-credentials", False, "docker login 127.0.0.1:5000"),
    ("auth", True, "ecr:PutImage"),
    ("denied", True, "--create-repository"),
    ("immutable", False, "choose another --tag"),
    ("helper", False, "credHelpers"),
])
def test_refusals_are_not_retried_and_say_what_to_do(monkeypatch, kind, ecr, expect):
    docker = FakeDocker(monkeypatch)
    docker.push_failures = [RegistryFailure(kind, "r", "401 Unauthorized")]
    repo = registry.parse_repository(f"{ECR}/team/orders") if ecr else LOCAL
    client = FakeEcr(["team/orders"])
    sleeps = []
    img = image()
    with pytest.raises(ShimimgError) as e:
        registry.push_all([img], {img.package.path: repo}, sleep=sleeps.append, ecr=lambda region: client,
                          endpoint="127.0.0.1:5000")
    assert sleeps == []
    assert expect in (e.value.hint or "")
    assert "the template was not written" in e.value.message


def test_tag_on_another_digest_is_not_moved_without_force(monkeypatch):
    docker = FakeDocker(monkeypatch, remote={"127.0.0.1:5000/team/orders:prod": D2})
    img = image()
    with pytest.raises(ShimimgError) as e:
        registry.push_all([img], {img.package.path: LOCAL}, tags=["prod", "ci-7"])
    assert e.value.problems == (f"127.0.0.1:5000/team/orders:prod points at {D2}, this build of ./ is {D1}",)
    assert "--force" in e.value.hint
    # The content-addressed push happened; no named tag moved, not even the free one.
    assert docker.pushes() == [f"127.0.0.1:5000/team/orders:{CTAG}"]

    [p] = registry.push_all([img], {img.package.path: LOCAL}, tags=["prod"], force=True)
    assert docker.remote["127.0.0.1:5000/team/orders:prod"] == D1
    assert p.tags == (CTAG, "prod")


def test_tag_already_on_this_digest_is_left_alone(monkeypatch):
    docker = FakeDocker(monkeypatch, remote={f"127.0.0.1:5000/team/orders:{CTAG}": D1,
                                             "127.0.0.1:5000/team/orders:prod": D1})
    img = image()
    registry.push_all([img], {img.package.path: LOCAL}, tags=["prod"])
    assert docker.pushes() == []


def test_force_cannot_move_a_tag_in_an_immutable_ecr_repository(monkeypatch):
    FakeDocker(monkeypatch, remote={f"{ECR}/team/orders:prod": D2})
    client = FakeEcr(["team/orders"], mutability="IMMUTABLE")
    img = image()
    with pytest.raises(ShimimgError, match="immutable tags: --force cannot move prod"):
        registry.push_all([img], {img.package.path: REPO}, tags=["prod"], force=True, ecr=lambda region: client)


def test_one_tag_for_two_packages_in_one_repository_is_refused(monkeypatch):
    FakeDocker(monkeypatch)
    a, b = image(package("a/", "/src/a")), image(package("b/", "/src/b"), D2)
    with pytest.raises(ShimimgError, match="several packages' images in one repository"):
        registry.push_all([a, b], {a.package.path: LOCAL, b.package.path: LOCAL}, tags=["v1"])
    # Without --tag they share the repository under their content tags.
    docker = FakeDocker(monkeypatch)
    docker.remote = {}
    pushed = registry.push_all([a, b], {a.package.path: LOCAL, b.package.path: LOCAL})
    assert [p.digest for p in pushed] == [D1, D2]


def test_an_index_or_another_architecture_is_refused(monkeypatch):
    FakeDocker(monkeypatch, media_type=INDEX)
    img = image()
    with pytest.raises(ShimimgError, match="not a single-platform image manifest; Lambda refuses it"):
        registry.push_all([img], {img.package.path: LOCAL})
    FakeDocker(monkeypatch, arch="amd64")
    with pytest.raises(ShimimgError, match="is linux/amd64, but ./ runs on arm64"):
        registry.push_all([img], {img.package.path: LOCAL})


def test_ecr_push_logs_in_with_the_api_token_through_a_private_config(monkeypatch):
    docker = FakeDocker(monkeypatch)
    client = FakeEcr()
    regions = []

    def factory(region):
        regions.append(region)
        return client

    img = image()
    [p] = registry.push_all([img], {img.package.path: REPO}, create_repository=True, ecr=factory)
    assert regions == ["eu-west-1"]
    assert docker.configs == [{ECR: ("AWS", "s3cret-token")}]
    assert {c[2]["DOCKER_CONFIG"] for c in docker.calls if c[0] in ("push", "inspect")} == {"/private"}
    assert p.image_uri == f"{ECR}/team/orders@{D1}"
    assert [c[0] for c in client.calls] == ["describe", "create", "token"]


def test_prepare_checks_ecr_repositories_once_per_region_and_skips_others():
    client = FakeEcr(["team/orders"])
    regions = []

    def factory(region):
        regions.append(region)
        return client

    other = registry.parse_repository(f"{ECR}/team/other")
    with pytest.raises(ShimimgError, match="ECR repository team/other does not exist"):
        registry.prepare([REPO, LOCAL, other], create=False, ecr=factory)
    assert regions == ["eu-west-1"]
    registry.prepare([REPO, other], create=True, ecr=factory)
    assert "team/other" in client.repos


def test_endpoint_override_sends_traffic_elsewhere_but_pins_the_repository(monkeypatch):
    docker = FakeDocker(monkeypatch)
    client = FakeEcr(["team/orders"])
    img = image()
    [p] = registry.push_all([img], {img.package.path: REPO}, endpoint="127.0.0.1:5999", ecr=lambda region: client)
    assert docker.configs == [{"127.0.0.1:5999": ("AWS", "s3cret-token")}]
    assert docker.pushes() == [f"127.0.0.1:5999/team/orders:{CTAG}"]
    assert p.image_uri == f"{ECR}/team/orders@{D1}"


def test_classic_image_store_rerun_recognises_its_image_by_config_digest(monkeypatch):
    # The classic store names images by config digest; the registry's manifest digest differs.
    config_digest = "sha256:" + "f" * 64
    img = ImageResult(package(), "shimimg/orders:latest", config_digest, "", cached=True)
    ctag = registry.content_tag(config_digest)
    docker = FakeDocker(monkeypatch, remote={f"127.0.0.1:5000/team/orders:{ctag}": D2})
    [p] = registry.push_all([img], {img.package.path: LOCAL})
    assert docker.pushes() == [] and p.digest == D2


def test_a_missing_aws_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-shimimg")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    with pytest.raises(ShimimgError) as e:
        registry.ecr_client("eu-west-1")
    assert "no-such-profile-shimimg" in e.value.message and "AWS_PROFILE" in e.value.hint

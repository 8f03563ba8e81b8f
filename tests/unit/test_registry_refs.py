"""Repositories, tags and which package goes where (``registry.refs``), and docker's reference
grammar underneath (``shimimg.reference``). Pure functions: nothing is faked."""

from __future__ import annotations

import pytest
from registry_fakes import D1, ECR, package

from shimimg import reference
from shimimg.errors import ShimimgError
from shimimg.registry import refs

FORM = "<account>.dkr.ecr.<region>.amazonaws.com/<name>"


# Repository URIs.


@pytest.mark.parametrize("uri,account,region", [
    (f"{ECR}/orders", "123456789012", "eu-west-1"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/a/b", "123456789012", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/orders", "123456789012", "cn-north-1"),
])
def test_ecr_uris_give_account_and_region(uri, account, region):
    repo = refs.parse_repository(uri)
    assert (repo.is_ecr, repo.account, repo.region, repo.uri) == (True, account, region, uri)
    assert repo.host == uri.partition("/")[0]


@pytest.mark.parametrize("uri", ["127.0.0.1:5000/team/orders", "localhost/orders", "ghcr.io/acme/orders-api",
                                 "registry.example.com:443/a/b.c/d_e", "[::1]:5000/orders", "r.example/a__b/c-d"])
def test_other_registries_are_not_ecr(uri):
    repo = refs.parse_repository(uri)
    assert not repo.is_ecr and repo.uri == uri and (repo.account, repo.region) == ("", "")
    assert repo.pinned(D1) == f"{uri}@{D1}"


@pytest.mark.parametrize("uri,why", [
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("orders", "names no registry host"),
    ("acme/orders", "would mean Docker Hub"),
    (f"https://{ECR}/orders", "no scheme"),
    (f"{ECR}/orders:v1", "holds a tag"),
    (f"{ECR}/orders@{D1}", "holds a digest"),
    (f"{ECR}/", "names no repository"),
    (f"{ECR}/Orders", "is not a repository name"),
    (f"{ECR}/orders//x", "is not a repository name"),
    (f"{ECR}/orders/", "is not a repository name"),
    (f"{ECR}/-orders", "is not a repository name"),
    ("12345.dkr.ecr.eu-west-1.amazonaws.com/orders", "looks like ECR"),
    ("123456789012.dkr.ecr.amazonaws.com/orders", "looks like ECR"),
    ("ecr.eu-west-1.amazonaws.com/orders", "looks like ECR"),
    ("bad_host!.io/orders", "is not a registry host"),
    # Characters that would split a Dockerfile line or a flag are never let through.
    (f"{ECR}/orders\nRUN x", "is not a repository name"),
    (f"{ECR}/orders\rx", "is not a repository name"),
    (f"{ECR}/or ders", "is not a repository name"),
    ("r.example\n/orders", "is not a registry host"),
    ("r exam.ple/orders", "is not a registry host"),
    # docker's limit: 255 characters for the whole name.
    ("r.example/" + "a" * 246, "too long"),
])
def test_malformed_uris_are_refused_with_the_expected_form(uri, why):
    with pytest.raises(ShimimgError) as e:
        refs.parse_repository(uri)
    assert e.value.message.startswith(f"repository {uri!r} is malformed")
    assert why in e.value.message
    assert FORM in e.value.hint


def test_the_longest_name_docker_accepts_is_accepted():
    uri = "r.example/" + "a" * 245
    assert len(uri) == reference.NAME_TOTAL_LENGTH_MAX
    assert refs.parse_repository(uri).name == "a" * 245


def test_surrounding_whitespace_is_dropped_never_kept():
    # A value read from a file or `$(...)` keeps its newline; what comes back has none.
    repo = refs.parse_repository(f"  {ECR}/orders\n")
    assert repo.uri == f"{ECR}/orders" and repo.name == "orders"


# Which package goes where.


def test_one_uri_serves_every_package_and_package_uri_overrides(tmp_path):
    a = package("services/a/", str(tmp_path / "services" / "a"))
    b = package("b.zip", str(tmp_path / "b.zip"))
    out = refs.assign([a, b], [f"{ECR}/all", f"services/a/={ECR}/a"], base=tmp_path)
    assert out[a.path].name == "a" and out[b.path].name == "all"
    # A package can also be named by its path from the template's folder.
    out = refs.assign([a, b], [f"./services/a={ECR}/a", f"b.zip={ECR}/b"], base=tmp_path)
    assert (out[a.path].name, out[b.path].name) == ("a", "b")


def test_unknown_package_missing_repository_and_two_defaults_are_refused(tmp_path):
    a = package("a/", str(tmp_path / "a"))
    b = package("b/", str(tmp_path / "b"))
    with pytest.raises(ShimimgError, match="cannot tell where to push every package") as e:
        refs.assign([a], [f"c/={ECR}/c"], base=tmp_path)
    # Every problem at once: the unknown key, and the package it left without a repository.
    assert e.value.problems == ("--repository c/=...: no package 'c/' in this template (packages: a/)",
                                f"package a/ has no repository: add --repository a/={FORM}")
    assert "PACKAGE=URI" in e.value.hint
    with pytest.raises(ShimimgError) as e:
        refs.assign([a, b], [f"a/={ECR}/a"], base=tmp_path)
    assert e.value.problems == (f"package b/ has no repository: add --repository b/={FORM}",)
    with pytest.raises(ShimimgError, match="given twice without a package"):
        refs.parse_specs([f"{ECR}/a", f"{ECR}/b"])
    with pytest.raises(ShimimgError, match="no repository to push to") as e:
        refs.parse_specs([])
    assert FORM in e.value.hint


def test_a_malformed_uri_for_one_package_is_refused_too():
    with pytest.raises(ShimimgError, match="is malformed: it holds a tag"):
        refs.parse_specs([f"{ECR}/all", f"a/={ECR}/a:v1"])


# Tags.


def test_tags_are_checked_and_deduplicated_in_order():
    assert refs.check_tags(["v1", "main-3f2a", "v1", "A_b.C-1"]) == ("v1", "main-3f2a", "A_b.C-1")
    assert refs.check_tags([]) == ()
    assert refs.check_tags(["a" * 128]) == ("a" * 128,)


@pytest.mark.parametrize("bad", ["", "-x", ".x", "a" * 129, "a/b", "a:b", "v1\n", "v1\r", "v 1", "\nv1", "ü"])
def test_invalid_tags_are_refused(bad):
    with pytest.raises(ShimimgError, match="is not a valid image tag") as e:
        refs.check_tags(["ok", bad])
    assert "128" in e.value.hint


def test_content_tag_is_named_by_the_digest():
    assert refs.content_tag(D1) == "sha256-" + "1" * 24
    assert reference.is_tag(refs.content_tag(D1))


# docker's reference grammar.


@pytest.mark.parametrize("text,expect", [
    ("alpine", ("", "alpine", "", "")),
    ("team/app:1.0", ("", "team/app", "1.0", "")),  # "team" is a path component, not a host
    ("localhost/app", ("localhost", "app", "", "")),
    ("localhost:5000/a/b:t", ("localhost:5000", "a/b", "t", "")),
    (f"r.example/a@{D1}", ("r.example", "a", "", D1)),
    (f"r.example/a:t@{D1}", ("r.example", "a", "t", D1)),
    ("[::1]:5000/a", ("[::1]:5000", "a", "", "")),
    ("Registry/a", ("Registry", "a", "", "")),  # upper case: only a host may have it
    ("public.ecr.aws/lambda/provided:al2", ("public.ecr.aws", "lambda/provided", "al2", "")),
])
def test_references_parse_as_docker_parses_them(text, expect):
    ref = reference.parse(text)
    assert ref is not None and (ref.domain, ref.path, ref.tag, ref.digest) == expect
    assert str(ref) == text


@pytest.mark.parametrize("text", [
    "", "a\n", "a:t\n", "a\r", "a b", " a", "a/B", "r.example/App:1", "a:", "a:-t", "a@sha256:abc",
    "a//b", "a/", "/a", "r.example/" + "a" * 246, "a:" + "t" * 129, "https://r.example/a", "a\x00",
])
def test_references_docker_refuses_are_refused(text):
    assert reference.parse(text) is None


def test_grammar_pieces():
    assert reference.is_domain("r.example:5000") and reference.is_domain("[::1]")
    assert not reference.is_domain("r.example\n") and not reference.is_domain("r_x.io")
    assert reference.is_path("a/b.c/d__e/f-g") and not reference.is_path("a/B") and not reference.is_path("a\n")
    assert reference.is_tag("Latest_1.0-x") and not reference.is_tag("t\n") and not reference.is_tag(".t")

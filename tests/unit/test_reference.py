import pytest

from shimimg import reference


@pytest.mark.parametrize("text,domain,path,tag,digest", [
    ("public.ecr.aws/lambda/provided:al2", "public.ecr.aws", "lambda/provided", "al2", ""),
    ("shimimg-local/provided:al2", "", "shimimg-local/provided", "al2", ""),
    ("localhost/x", "localhost", "x", "", ""),
    ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", ""),
    ("[::1]:5000/a", "[::1]:5000", "a", "", ""),
    ("r.example/a@sha256:" + "a" * 64, "r.example", "a", "", "sha256:" + "a" * 64),
    ("ubuntu", "", "ubuntu", "", ""),
    ("a__b/c--d.e_f:T.1-x", "", "a__b/c--d.e_f", "T.1-x", ""),
])
def test_references_docker_accepts(text, domain, path, tag, digest):
    ref = reference.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize("text", [
    "", "a\n", "a\nRUN id", "a\r", "a b", "upper/Case", "a:b:c", "a/-b", "a//b", "a:.tag", "a@sha256:abc",
    "-a", "a/b:" + "t" * 129, "x/" + "a" * 260, "a:tag\u2028",
])
def test_references_docker_refuses(text):
    assert reference.parse(text) is None


def test_parts():
    assert reference.is_domain("127.0.0.1:5055") and not reference.is_domain("a b")
    assert reference.is_tag("sha256-abc") and not reference.is_tag(".x") and not reference.is_tag("x\n")
    assert reference.is_path("team/orders") and not reference.is_path("Team")
    # docker reads an upper-case first component as a registry host, as it does a dotted one.
    assert reference.parse("Upper/case").domain == "Upper"

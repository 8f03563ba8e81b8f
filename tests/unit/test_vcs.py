"""What git says of the repository, as it may be published: no credentials, no local paths."""

import pytest

from shimimg.vcs import public_url


@pytest.mark.parametrize("url,public", [
    ("https://gitlab-ci-token:glcbt-SECRET@gitlab.com/g/p.git", "https://gitlab.com/g/p.git"),
    ("https://x-access-token:ghs_SECRET@github.com/o/r", "https://github.com/o/r"),
    ("https://github.com/o/r.git?token=SECRET#SECRET", "https://github.com/o/r.git"),
    ("ssh://git@host.example:2222/o/r.git", "ssh://host.example:2222/o/r.git"),
    ("git@github.com:o/r.git", "ssh://github.com/o/r.git"),
    ("https://github.com/o/r", "https://github.com/o/r"),
    ("/home/me/src/repo", ""),
    ("file:///srv/repo", ""),
    ("ext::sh -c touch% /tmp/pwned", ""),
    ("https://user:pass@host:notaport/x", ""),
    ("https://github.com/o/r\nforged", ""),
])
def test_remote_urls_are_recorded_without_credentials(url, public):
    assert public_url(url) == public

"""A throwaway docker config holding one run's registry credentials (an ECR token).

Secrets sit in a 0700 temporary folder that is removed on the way out — also when the run is
interrupted (Ctrl-C, SIGTERM: both unwind through ``finally``): never in argv, the environment,
a log line or the user's docker config.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def user_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


_HELPER = """#!/bin/sh
# Answers docker's "get" for one registry for the length of one shimimg run; stores nothing.
[ "$1" = get ] || exit 1
cat >/dev/null
exec cat '{secret}'
"""


@contextmanager
def private_config(credentials: Mapping[str, tuple[str, str]]) -> Iterator[dict[str, str]]:
    """A throwaway DOCKER_CONFIG handing docker ``credentials`` (registry host → user, secret).

    Yields the environment for docker commands. The secrets sit in a 0700 temporary folder
    removed on the way out: never in argv, the environment, a log line or the user's docker
    config. Each registry gets a credential helper rather than an ``auths`` entry, because a
    config without ``credsStore`` still uses a keyring helper when one is installed
    (docker-credential-secretservice, -pass, ...), and that ignores ``auths`` (docker/cli
    credentials.DetectDefaultStore). The user's engine (current context) and CLI plugins
    (buildx) stay in use.
    """
    user_dir = user_config_dir()
    try:
        user = json.loads((user_dir / "config.json").read_text())
    except (OSError, ValueError):
        user = {}
    root = Path(tempfile.mkdtemp(prefix="shimimg-docker-"))
    try:
        os.chmod(root, 0o700)
        bin_dir = root / "bin"
        bin_dir.mkdir(mode=0o700)
        helpers = {}
        for i, (host, (username, secret)) in enumerate(sorted(credentials.items())):
            secret_file = root / f"credentials-{i}.json"
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"ServerURL": host, "Username": username, "Secret": secret}, f)
            helper = bin_dir / f"docker-credential-shimimg-{i}"
            helper.write_text(_HELPER.format(secret=secret_file))
            helper.chmod(0o700)
            helpers[host] = f"shimimg-{i}"
        config: dict = {"credHelpers": helpers}
        extra = [str(user_dir / "cli-plugins"), *user.get("cliPluginsExtraDirs", [])]
        config["cliPluginsExtraDirs"] = extra
        if user.get("currentContext"):
            config["currentContext"] = user["currentContext"]
        # The user's docker contexts and buildx builders (a remote BuildKit) stay in use.
        for shared in ("contexts", "buildx"):
            if (user_dir / shared).is_dir():
                (root / shared).symlink_to(user_dir / shared)
        (root / "config.json").write_text(json.dumps(config, indent=2))
        yield {"DOCKER_CONFIG": str(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    finally:
        shutil.rmtree(root, ignore_errors=True)

"""shimimg reads samconfig files as the SAM CLI does (issue 20): the same files, the same command
table and environment, the same values — asked of SAM's own code (samcli.lib.config.samconfig, in
the SAM CLI's virtualenv) and of shimimg.samconfig. The end-to-end comparison of `invoke` with
`sam local invoke` under a samconfig is in test_sam_local.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shimimg import samconfig
from support import missing

SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))

TOML = '''version = 0.1
[default.global.parameters]
region = "eu-west-1"
parameter_overrides = "Stage=dev Owner=team"
[default.deploy.parameters]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders"
profile = "deployer"
[default.local_invoke.parameters]
env_vars = "env.json"
parameter_overrides = ["Stage=local"]
[staging.global.parameters]
region = "eu-central-1"
[staging.deploy.parameters]
image_repositories = ["CreateOrderFunction=123456789012.dkr.ecr.eu-central-1.amazonaws.com/create"]
'''
YAML = '''version: 0.1
default:
  global:
    parameters:
      region: us-west-2
  deploy:
    parameters:
      image_repository: 123456789012.dkr.ecr.us-west-2.amazonaws.com/orders
prod:
  deploy:
    parameters:
      region: ap-south-1
      profile: prod
'''

# SAM's resolution of the file, the table and the environment (samcli/cli/cli_config_file.py).
SAM_SIDE = r'''
import json, sys
from pathlib import Path
from samcli.lib.config.samconfig import SamConfig
directory, config_file, command, env = sys.argv[1:5]
name = config_file or SamConfig.get_default_file(config_dir=directory)
path = Path(name) if Path(name).is_absolute() else Path(directory, name)
print(json.dumps({"file": str(path), "values": SamConfig(path.parent, path.name).get_all([command], "parameters",
                                                                                          env=env or "default")}))
'''


def sam_reads(directory: Path, command: str, config_file: str = "", env: str = "") -> dict:
    python = SAM.parent / "python"
    r = subprocess.run([str(python), "-c", SAM_SIDE, str(directory), config_file, command, env], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def sam_venv():
    if not (SAM.is_file() and (SAM.parent / "python").exists()):
        missing("the SAM CLI", "scripts/provision.sh samcli")


@pytest.mark.parametrize("files,command,config_file,env", [
    ({"samconfig.toml": TOML}, "deploy", "", ""),
    ({"samconfig.toml": TOML}, "local_invoke", "", ""),
    ({"samconfig.toml": TOML}, "deploy", "", "staging"),
    ({"samconfig.toml": TOML}, "deploy", "", "absent"),
    ({"samconfig.yaml": YAML}, "deploy", "", "prod"),
    ({"samconfig.toml": TOML, "samconfig.yaml": YAML}, "deploy", "", ""),  # toml first, as SAM
    ({"samconfig.toml": TOML, "samconfig.yaml": YAML}, "deploy", "samconfig.yaml", ""),
    ({"samconfig.yml": YAML}, "deploy", "", ""),
])
def test_the_same_values_as_sams_own_reader(tmp_path, sam_venv, files, command, config_file, env):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    theirs = sam_reads(tmp_path, command, config_file, env)
    ours = samconfig.load(tmp_path, command, config_file=config_file or None, config_env=env or None)
    assert str(ours.path) == theirs["file"]
    assert dict(ours.values) == theirs["values"]
    assert ours.values or env == "absent"  # every case but the absent environment reads something

"""The README's pipeline snippet is the workflow's own steps, so what readers copy is what CI runs
(tests/integration/test_pipelines.py runs the workflow's steps)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _commands(shell: str) -> list[str]:
    """Shell text as one whitespace-normalized line per command (backslash continuations joined)."""
    joined = shell.replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def _readme_pipeline_snippet() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Pushing from a pipeline", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks, "README's pipeline section has no sh block"
    return _commands(blocks[0])


def _workflow_runs(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    runs = []
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                runs += _commands(step["run"])
    return runs


def test_the_readme_snippet_is_the_workflows_push_and_deploy_steps():
    workflow = _workflow_runs(ROOT / "examples/pipelines/github-actions.yml")
    snippet = _readme_pipeline_snippet()
    assert [c.split()[0] for c in snippet] == ["shimimg", "sam"]
    for command in snippet:
        assert command in workflow, f"README command not in the workflow as written: {command}"

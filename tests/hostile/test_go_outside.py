"""Issue 19, Low: a go.mod `replace` to a folder and a go.work `use` outside the checkout compile
code from elsewhere: legal Go, so `plan` reports them and refuses nothing."""

from __future__ import annotations

import re

from conftest import copy_example, shimimg


def _module(path, name: str, go: str) -> None:
    path.mkdir(parents=True)
    (path / "go.mod").write_text(f"module {name}\n\ngo {go}\n")


def test_plan_reports_replace_and_workspace_folders_outside_the_checkout(tmp_path):
    work = copy_example(tmp_path / "repo" / "orders")
    go = re.search(r"^go (\S+)$", (work / "go.mod").read_text(), re.M).group(1)
    _module(tmp_path / "evil", "example.com/evil", go)
    _module(tmp_path / "elsewhere", "example.com/elsewhere", go)
    _module(work / "inside", "example.com/inside", go)
    with open(work / "go.mod", "a") as f:
        f.write(f"\nreplace example.com/evil => {tmp_path / 'evil'}\nreplace example.com/inside => ./inside\n")
    (work / "go.work").write_text(f"go {go}\n\nuse (\n\t.\n\t../../elsewhere\n)\n")
    r = shimimg("plan", cwd=work)
    assert r.returncode == 0, r.stderr
    assert f"replace example.com/evil => {tmp_path / 'evil'}" in r.stderr
    assert "go.work use ../../elsewhere" in r.stderr and "compiles code from outside the checkout" in r.stderr
    assert "inside" not in r.stderr.replace("outside", "")  # a folder inside the checkout is not reported

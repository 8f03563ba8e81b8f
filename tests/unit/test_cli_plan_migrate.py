from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from shimimg.cli import main
from shimimg.commands.output import default_output
from shimimg.template.textdiff import unified_diff
from support import EXAMPLE

GO = "Transform: AWS::Serverless-2016-10-31\nResources:\n"


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    """A copy of the orders example's template and its report/ package."""
    shutil.copy(EXAMPLE / "template.yaml", tmp_path / "template.yaml")
    shutil.copytree(EXAMPLE / "report", tmp_path / "report")
    return tmp_path / "template.yaml"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- plan


def test_plan_prints_a_table(orders, capsys, monkeypatch):
    monkeypatch.chdir(orders.parent)
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("template.yaml: 5 Go functions to move onto 1 image\n")
    image = f"shimimg/{orders.parent.name.lower()}:latest"
    # No Go module beside this copy of the template: the binaries would be taken prebuilt.
    assert f"\n./ (dir, prebuilt binaries) → {image} [arm64]\nFUNCTION " in out
    assert re.search(r"\nCreateOrderFunction +bin/create_order +- +256 +10 +TABLE_NAME\*, STAGE\*\n", out)
    assert re.search(r"\nReportFunction +Runtime python3.12: not Go\n", out)


def test_plan_json_for_pipelines(orders, capsys):
    assert main(["plan", "-t", str(orders), "--json", "--arch", "x86_64"]) == 0
    plan = json.loads(capsys.readouterr().out)
    (pkg,) = plan["packages"]
    assert (pkg["code_uri"], pkg["kind"], pkg["arch"], pkg["exists"]) == ("./", "dir", "x86_64", True)
    echo = next(f for f in pkg["functions"] if f["logical_id"] == "EchoEnvFunction")
    assert echo["binary"] == "bin/echo_env" and echo["memory"] == 256 and echo["timeout"] == 3
    assert echo["environment"]["TABLE_NAME"] == "orders-table" and echo["environment"]["STAGE"] is None
    assert plan["untouched"] == [{"logical_id": "ReportFunction", "reason": "Runtime python3.12: not Go"}]
    assert plan["skipped"] == [] and plan["schema_version"] == 1 and plan["command"] == "plan"
    assert [c["logical_id"] for c in plan["arch_changes"]] == []  # x86_64 in the template, x86_64 asked


def test_plan_shows_what_cannot_be_built(tmp_path, capsys):
    path = tmp_path / "template.yaml"
    path.write_text(GO + "  F: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: h, "
                         "CodeUri: s3://b/k.zip}}\n")
    # The plan is shown, and the exit code says build would refuse it.
    assert main(["plan", "-t", str(path)]) == 1
    out = capsys.readouterr().out
    assert "not buildable (migrate and build refuse until fixed):" in out
    assert re.search(r"\nF +3 +CodeUri is in S3 .* +download the package", out)


def test_from_source_is_refused_where_no_source_can_be_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shimimg.dockercli.image_id", lambda ref: None)  # no engine needed to refuse
    path = tmp_path / "template.yaml"
    path.write_text(GO + "  F: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/f, "
                         "CodeUri: dist/f.zip}}\n")
    assert main(["build", "-t", str(path), "--from-source"]) == 1
    err = capsys.readouterr().err
    assert "error: --from-source asks to build from source, which cannot apply to 1 package(s)" in err
    assert "dist/f.zip is a zip" in err and "drop --from-source to take the binaries the packages hold (build" in err
    (tmp_path / "shimimg.toml").write_text("prebuilt = false\n")
    assert main(["build", "-t", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"prebuilt = false in {tmp_path / 'shimimg.toml'} asks to build from source" in err
    assert "--from-source" not in err
    assert not (tmp_path / ".shimimg" / "build").exists()


def test_plan_reports_mappings_that_match_no_function(orders, capsys):
    (orders.parent / "shimimg.toml").write_text(
        '[handlers]\n"bin/create_order" = "./cmd/create_order"\n"bin/renamed" = "./cmd/renamed"\n'
        '[packages."./gone/".handlers]\n"bin/x" = "./cmd/x"\n')
    main(["plan", "-t", str(orders)])
    out = capsys.readouterr().out
    assert '[handlers] "bin/renamed" in ' in out and "matches no function's Handler" in out
    assert '[packages."./gone/"] in ' in out and "matches no package (CodeUri)" in out
    assert '"bin/create_order" in' not in out
    # No go.mod beside this copy: the package is taken prebuilt, so even a matching mapping does nothing.
    assert "bin/create_order mapped in" in out and "./ is taken prebuilt" in out
    main(["plan", "-t", str(orders), "--json"])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 3


def test_include_is_refused_for_a_prebuilt_package(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shimimg.dockercli.image_id", lambda ref: None)
    path = tmp_path / "template.yaml"
    path.write_text(GO + "  F: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/f, "
                         "CodeUri: dist/f.zip}}\n")
    (tmp_path / "shimimg.toml").write_text('[packages."dist/f.zip"]\ninclude = ["config/**"]\n')
    assert main(["build", "-t", str(path)]) == 1
    err = capsys.readouterr().err
    assert "include is set for 1 package(s) whose binaries are taken prebuilt: dist/f.zip" in err


def test_plan_refuses_an_unknown_arch(orders, capsys):
    assert main(["plan", "-t", str(orders), "--arch", "amd64"]) == 1
    assert "error: command line: invalid value 'amd64' for arch: use arm64 or x86_64" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- migrate


def test_default_output_is_named_after_the_template():
    assert default_output(Path("a/template.yaml")) == Path("a/.shimimg/build/template.yaml")
    # Two templates in one folder never share an output.
    assert default_output(Path("a/stack.JSON")) == Path("a/.shimimg/build/stack.JSON")


def test_migrate_writes_the_build_template_and_keeps_paths_working(orders, capsys):
    before = orders.read_bytes()
    assert main(["migrate", "-t", str(orders)]) == 0
    out = orders.parent / ".shimimg" / "build" / "template.yaml"
    text = out.read_text()
    assert "CodeUri: ../../report/" in text
    assert (out.parent / "../../report/app.py").resolve().is_file()
    assert "PackageType: Image" in text and "Runtime: go1.x" not in text
    assert orders.read_bytes() == before
    err = capsys.readouterr().err
    assert f"moved 5 functions onto 1 image: wrote {out}" in err


def test_migrate_to_an_output_of_your_choice(orders, tmp_path):
    out = tmp_path / "elsewhere" / "deploy.yaml"
    assert main(["migrate", "-t", str(orders), "-o", str(out)]) == 0
    assert "CodeUri: ../report/" in out.read_text()


def test_migrate_json_goes_to_a_json_build_template(tmp_path):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "go1.x", "Handler": "bin/f", "Code": "./", "Role": "r"}}}}, indent=2))
    assert main(["migrate", "-t", str(path)]) == 0
    result = json.loads((tmp_path / ".shimimg" / "build" / "stack.json").read_text())
    assert result["Resources"]["F"]["Properties"]["Code"] == {"ImageUri": f"shimimg/{tmp_path.name.lower()}:latest"}


def test_in_place_keeps_a_backup_and_is_idempotent(orders, capsys):
    original = orders.read_bytes()
    assert main(["migrate", "-t", str(orders), "--in-place"]) == 0
    bak = orders.with_name("template.yaml.bak")
    assert bak.read_bytes() == original
    migrated = orders.read_bytes()
    assert migrated != original
    capsys.readouterr()
    assert main(["migrate", "-t", str(orders), "--in-place"]) == 0
    assert "already migrated: nothing to change" in capsys.readouterr().err
    assert orders.read_bytes() == migrated and bak.read_bytes() == original


def test_in_place_without_backup(orders):
    assert main(["migrate", "-t", str(orders), "--in-place", "--no-backup"]) == 0
    assert not orders.with_name("template.yaml.bak").exists()


def test_in_place_keeps_the_file_mode(orders):
    orders.chmod(0o640)
    assert main(["migrate", "-t", str(orders), "--in-place"]) == 0
    assert stat.S_IMODE(orders.stat().st_mode) == 0o640


def test_check_reports_a_diff_and_writes_nothing(orders, capsys):
    files = snapshot(orders.parent)
    assert main(["migrate", "-t", str(orders), "--check"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"--- {orders}\n+++ {orders} (migrated)\n@@ ")
    assert "-    Runtime: go1.x\n" in out and "+      PackageType: Image\n" in out
    assert "would change" in err
    assert snapshot(orders.parent) == files
    # The command it names, pasted as printed, writes exactly that; --check then passes.
    command = re.search(r"run `(shimimg migrate [^`]*)` to write it", err).group(1)
    args = shlex.split(command)[1:]
    assert args == ["migrate", "-t", str(orders), "--in-place"]
    assert main([*args, "--no-backup"]) == 0
    assert main(["migrate", "-t", str(orders), "--check"]) == 0


def test_check_passes_once_migrated(orders, capsys):
    assert main(["migrate", "-t", str(orders), "--in-place", "--no-backup"]) == 0
    assert main(["migrate", "-t", str(orders), "--check"]) == 0
    assert capsys.readouterr().out == ""


def test_check_against_a_build_output(orders, capsys):
    out = orders.parent / "out" / "template.yaml"
    assert main(["migrate", "-t", str(orders), "--check", "-o", str(out)]) == 1
    assert not out.exists()
    assert main(["migrate", "-t", str(orders), "-o", str(out)]) == 0
    assert main(["migrate", "-t", str(orders), "--check", "-o", str(out)]) == 0


def test_image_uris_by_code_uri_or_path(orders, monkeypatch):
    monkeypatch.chdir(orders.parent.parent)
    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders"
    out = orders.parent / "o.yaml"
    for key in ("./", str(orders.parent), os.path.relpath(orders.parent)):
        assert main(["migrate", "-t", str(orders), "-o", str(out), "--image-uri", f"{key}={repo}:v1"]) == 0
        assert out.read_text().count(f"ImageUri: {repo}:v1\n") == 5


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("nowhere=repo:tag", "'nowhere' is not a package of this template; known packages: ./ ("),
        ("./", "expected PACKAGE=URI"),
        ("./=", "expected PACKAGE=URI"),
    ],
)
def test_bad_image_uris(orders, capsys, option, expected):
    assert main(["migrate", "-t", str(orders), "--image-uri", option]) == 1
    err = capsys.readouterr().err
    assert "error: bad --image-uri" in err and expected in err
    assert not (orders.parent / ".shimimg").exists()


def test_conflicting_destinations(orders, capsys):
    assert main(["migrate", "-t", str(orders), "--in-place", "-o", "x.yaml"]) == 1
    assert "--in-place and --output" in capsys.readouterr().err
    assert main(["migrate", "-t", str(orders), "-o", str(orders)]) == 1
    assert "use --in-place" in capsys.readouterr().err


REFUSED = {
    "s3-code-uri": (
        GO + "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: go1.x\n"
             "      Handler: bin/api\n      CodeUri: s3://artifacts/api.zip\n",
        ["template.yaml:3: Api: CodeUri is in S3 (s3://artifacts/api.zip)", "fix: download the package"],
    ),
    "handler-ref": (
        GO + "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: go1.x\n"
             "      Handler: !Ref HandlerName\n      CodeUri: ./\n",
        ["template.yaml:3: Api: Handler is given by an intrinsic (!Ref)", "fix: write the binary's path"],
    ),
    "missing-code-uri": (
        GO + "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: go1.x\n"
             "      Handler: bin/api\n",
        ["template.yaml:3: Api: has no CodeUri (nor does Globals)", "fix: build the binaries locally and set CodeUri"],
    ),
    "layers": (
        GO + "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: go1.x\n"
             "      Handler: bin/api\n      CodeUri: ./\n      Layers: [!Ref Certs]\n",
        ["Api: has Layers, which container images cannot use", "--drop-layers"],
    ),
    "malformed-yaml": (GO + "  Api: {Type: [\n", ["template.yaml:4:1: invalid YAML", "fix the YAML"]),
    "duplicate-keys": (
        GO + "  Api:\n    Type: AWS::Serverless::Function\n    Type: AWS::Lambda::Function\n",
        ["template.yaml:5:5: duplicate key 'Type' (first at line 4)", "keep one"],
    ),
    "a-list": ("- Resources\n- Api\n", ["the template is a list, not a mapping", "a template is a mapping"]),
    "empty": ("", ["template.yaml is empty", "Resources"]),
    "json-trailing-comma": (
        '{\n  "Resources": {\n    "Api": {"Type": "AWS::SQS::Queue"},\n  }\n}\n',
        ["template.json:4:3: invalid JSON", "trailing commas"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("mode", [[], ["--in-place"], ["--check"], ["-o", "out.yaml"]])
def test_refused_inputs_change_nothing(tmp_path, capsys, monkeypatch, case, mode):
    text, expected = REFUSED[case]
    name = "template.json" if case.startswith("json") else "template.yaml"
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(text.encode())
    files = snapshot(tmp_path)
    assert main(["migrate", "-t", name, *mode]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ")
    for fragment in expected:
        assert fragment in err
    assert snapshot(tmp_path) == files


def test_every_unbuildable_function_is_listed_once(tmp_path, capsys):
    path = tmp_path / "template.yaml"
    path.write_text(REFUSED["s3-code-uri"][0] + "  Other:\n    Type: AWS::Lambda::Function\n    Properties:\n"
                    "      Runtime: go1.x\n      Handler: !Sub '${X}'\n      Code: ./\n      Role: r\n")
    assert main(["migrate", "-t", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n  - ") == 2
    assert "cannot migrate 2 functions; nothing was written" in err


def test_drop_layers(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(REFUSED["layers"][0])
    assert main(["migrate", "-t", str(path), "--drop-layers", "--in-place"]) == 0
    assert "Layers" not in path.read_text()


def test_a_template_without_go_functions_is_copied_with_working_paths(tmp_path, capsys):
    path = tmp_path / "template.yaml"
    path.write_text(GO + "  Py: {Type: AWS::Serverless::Function, Properties: {Runtime: python3.12, Handler: a.b, "
                         "CodeUri: src/}}\n")
    assert main(["migrate", "-t", str(path)]) == 0
    assert "CodeUri: ../../src/" in (tmp_path / ".shimimg" / "build" / "template.yaml").read_text()
    assert "no Go zip functions to move" in capsys.readouterr().err


def test_unified_diff_aligns_on_repeated_lines():
    # difflib.unified_diff treats the 120 "Properties:" lines as junk and reports one as changed.
    old = "".join(f"F{i}:\n  Properties:\n    x: {i}\n" for i in range(120))
    new = old.replace("F0:\n  Properties:\n    x: 0\n", "F0:\n  Ignore: [x]\n  Properties:\n    y: 0\n")
    diff = unified_diff(old, new, "old", "new")
    assert [line for line in diff.splitlines() if line[:1] in ("+", "-")] == [
        "--- old", "+++ new", "+  Ignore: [x]", "-    x: 0", "+    y: 0"
    ]
    assert unified_diff(old, old, "a", "b") == ""
    assert unified_diff("a", "b", "x", "y").endswith("+b\n\\ No newline at end of file\n")


# -------------------------------------------------------------------------------- atomic writes


# ------------------------------------------------------------------------- telling what it decided


def test_a_migrated_template_is_recognised_and_points_at_its_original(orders, capsys):
    assert main(["migrate", "-t", str(orders)]) == 0
    out = orders.parent / ".shimimg" / "build" / "template.yaml"
    capsys.readouterr()
    for command in (["plan"], ["build"], ["invoke", "GetOrderFunction"]):
        assert main([*command, "-t", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"{out} is already migrated: 5 function(s) are container images" in err, command
        assert f"the original is {orders.resolve()}" in err
    assert main(["migrate", "-t", str(orders), "--in-place"]) == 0
    capsys.readouterr()
    assert main(["plan", "-t", str(orders)]) == 1
    assert f"the original is {orders}.bak" in capsys.readouterr().err


def test_an_architecture_change_is_announced_by_plan_migrate_and_build(orders, capsys, monkeypatch):
    expected = ("x86_64 → arm64: CreateOrderFunction, GetOrderFunction, ProcessOrdersFunction, FailOrderFunction, "
                "EchoEnvFunction; pass --arch x86_64 to keep x86_64")
    for command in (["plan"], ["migrate", "--check"]):
        main([*command, "-t", str(orders)])
        assert f"warning: {expected}" in capsys.readouterr().err
    main(["plan", "-t", str(orders), "--arch", "x86_64"])
    assert "→" not in capsys.readouterr().err


def test_shimimg_arch_reaches_plan_and_migrate_alike(orders, capsys, monkeypatch):
    monkeypatch.setenv("SHIMIMG_ARCH", "x86_64")
    main(["plan", "-t", str(orders), "--json"])
    assert json.loads(capsys.readouterr().out)["packages"][0]["arch"] == "x86_64"
    main(["migrate", "-t", str(orders), "--check"])
    assert "Architectures: [arm64]" not in capsys.readouterr().out
    monkeypatch.delenv("SHIMIMG_ARCH")
    main(["migrate", "-t", str(orders), "--check"])
    assert "Architectures: [arm64]" in capsys.readouterr().out


# Every setting more than one command reads, from the environment and the config file: each
# command gets the same value in its one Settings record.
SHARED = {
    "arch": ("x86_64", ["plan", "migrate", "build", "push", "invoke", "doctor"]),
    "direct": ("true", ["plan", "migrate", "build", "push", "invoke"]),
    "drop_layers": ("true", ["migrate", "build", "push", "invoke"]),
    "go_tags": ("lambda", ["plan", "build", "push", "invoke"]),
    "base_image": ("al2023", ["plan", "build", "push", "invoke", "doctor"]),
    "prebuilt": ("true", ["plan", "build", "push", "invoke"]),
}


@pytest.mark.parametrize("name", sorted(SHARED))
@pytest.mark.parametrize("source", ["env", "config"])
def test_every_shared_setting_reaches_every_command_the_same(orders, monkeypatch, name, source):
    from shimimg import commands
    from shimimg.commands import build, doctor, invoke, migrate, plan, push

    value, names = SHARED[name]
    seen = {}

    def capture(cmd):
        def run(**kw):
            seen[cmd] = kw["settings"]
            return 0
        return run

    for cmd, module in {"plan": plan, "migrate": migrate, "build": build, "push": push, "invoke": invoke,
                        "doctor": doctor}.items():
        monkeypatch.setattr(module, "run", capture(cmd))
    if source == "env":
        monkeypatch.setenv(f"SHIMIMG_{name.upper()}", value)
    else:
        toml = f'{name} = ["{value}"]\n' if name == "go_tags" else f'{name} = "{value}"\n'
        (orders.parent / "shimimg.toml").write_text(toml.replace('"true"', "true"))
    args = {"invoke": ["invoke", "GetOrderFunction"], "push": ["push", "--repository", "r.example/x"]}
    for cmd in names:
        assert main([*args.get(cmd, [cmd]), "-t", str(orders)]) == 0, cmd
    values = {cmd: getattr(s, name) for cmd, s in seen.items()}
    assert set(values) == set(names)
    assert len({repr(v) for v in values.values()}) == 1, values
    assert commands  # the package imports


def test_migrate_into_another_folder_reports_the_paths_it_rewrote(orders, tmp_path, capsys):
    assert main(["migrate", "-t", str(orders), "-o", str(tmp_path / "deploy" / "t.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"paths rewritten to work from {tmp_path / 'deploy'}: report/ → ../report/" in err

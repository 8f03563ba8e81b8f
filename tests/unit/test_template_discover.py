from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from shimimg.errors import ShimimgError
from shimimg.plan.records import Function
from shimimg.template import discover, load_document, parse_document
from shimimg.template.packages import Local, image_name, slug
from support import EXAMPLE

SAM = "Transform: AWS::Serverless-2016-10-31\n"


def plan_of(tmp_path: Path, text: str, name: str = "template.yaml", **kw):
    path = tmp_path / name
    path.write_text(text)
    return discover(load_document(path), **kw)


def functions(plan) -> dict[str, Function]:
    return {fn.logical_id: fn for pkg in plan.packages for fn in pkg.functions}


def test_the_orders_example():
    plan = discover(load_document(EXAMPLE / "template.yaml"))
    assert [p.image for p in plan.packages] == ["shimimg/orders:latest"]
    pkg = plan.packages[0]
    assert (pkg.code_uri, pkg.path, pkg.kind, pkg.arch) == ("./", EXAMPLE.resolve(), "dir", "arm64")
    fns = functions(plan)
    assert list(fns) == [
        "CreateOrderFunction", "GetOrderFunction", "ProcessOrdersFunction", "FailOrderFunction", "EchoEnvFunction"
    ]
    echo = fns["EchoEnvFunction"]
    assert (echo.handler, echo.binary, echo.name, echo.runtime) == ("bin/echo_env", "bin/echo_env", "echo_env", "go1.x")
    assert (echo.memory, echo.timeout) == (256, 3)
    assert dict(echo.environment) == {
        "TABLE_NAME": "orders-table", "STAGE": None, "QUEUE_URL": None, "QUEUE_ARN": None, "API_URL": None
    }
    assert fns["ProcessOrdersFunction"].timeout == 30
    assert plan.untouched_ids() == ("ReportFunction",)
    assert plan.skipped == ()
    assert plan.template == (EXAMPLE / "template.yaml").absolute()


def test_globals_apply_as_sam_applies_them(tmp_path):
    (tmp_path / "src").mkdir()
    plan = plan_of(tmp_path, SAM + """\
Globals:
  Function:
    Runtime: go1.x
    Handler: bin/shared
    CodeUri: src/
    MemorySize: 512
    Environment: {Variables: {A: from-globals, B: from-globals}}
Resources:
  Inherits:
    Type: AWS::Serverless::Function
  Overrides:
    Type: AWS::Serverless::Function
    Properties:
      Handler: bin/own
      MemorySize: 128
      Environment: {Variables: {B: own, C: !Ref X}}
  IgnoresAll:
    Type: AWS::Serverless::Function
    IgnoreGlobals: "*"
    Properties: {Runtime: python3.12, Handler: app.h, CodeUri: py/}
  IgnoresSome:
    Type: AWS::Serverless::Function
    IgnoreGlobals: [MemorySize, Environment]
    Properties: {Handler: bin/some}
""")
    fns = functions(plan)
    assert (fns["Inherits"].handler, fns["Inherits"].memory) == ("bin/shared", 512)
    assert dict(fns["Inherits"].environment) == {"A": "from-globals", "B": "from-globals"}
    assert (fns["Overrides"].handler, fns["Overrides"].memory) == ("bin/own", 128)
    assert fns["Overrides"].environment == (("A", "from-globals"), ("B", "own"), ("C", None))
    assert (fns["IgnoresSome"].memory, fns["IgnoresSome"].environment) == (None, ())
    assert plan.untouched_ids() == ("IgnoresAll",)
    assert len(plan.packages) == 1


def test_an_intrinsic_environment_hides_every_variable(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Globals: {Function: {Environment: {Variables: {A: a}}}}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      Handler: bin/f
      CodeUri: ./
      Environment: !If [C, {Variables: {B: b}}, !Ref AWS::NoValue]
""")
    assert functions(plan)["F"].environment == ()


def test_packages_group_by_resolved_path(tmp_path):
    (tmp_path / "src").mkdir()
    plan = plan_of(tmp_path, SAM + """\
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/a, CodeUri: ./src/}}
  B: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/b, CodeUri: src}}
  C: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: c, CodeUri: dist/Other Name.zip}}
  D: {Type: AWS::Lambda::Function, Properties: {Runtime: go1.x, Handler: bin/d, Code: src/, Role: r}}
""")
    assert [(p.code_uri, p.kind, p.image, [f.logical_id for f in p.functions]) for p in plan.packages] == [
        ("./src/", "dir", "shimimg/src:latest", ["A", "B", "D"]),
        ("dist/Other Name.zip", "zip", "shimimg/other-name:latest", ["C"]),
    ]
    assert plan.packages[1].path == (tmp_path / "dist" / "Other Name.zip").resolve()


def test_a_missing_directory_is_still_a_package(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/a, CodeUri: not-built-yet/}}
""")
    assert plan.packages[0].kind == "dir" and not plan.packages[0].path.exists()


@pytest.mark.parametrize(
    ("props", "reason", "fix"),
    [
        ("CodeUri: s3://bucket/key.zip", "CodeUri is in S3 (s3://bucket/key.zip)", "download the package"),
        ("CodeUri: {Bucket: b, Key: k}", "CodeUri is an S3 object (s3://b/k)", "download the package"),
        ("CodeUri: {Bucket: !Ref B, Key: k}", "s3://<intrinsic>/k", "download the package"),
        ("CodeUri: https://example.com/x.zip", "CodeUri is a remote URL", "CodeUri: ./"),
        ("CodeUri: !Sub '${Dir}/x'", "CodeUri is given by an intrinsic (!Sub)", "CodeUri: ./"),
        ("CodeUri: {'Fn::Sub': x}", "CodeUri is given by an intrinsic (Fn::Sub)", "CodeUri: ./"),
        ("Handler: !Ref HandlerName", "Handler is given by an intrinsic (!Ref)", "Handler: bin/"),
        ("Handler: ''", "has no Handler", "set Handler"),
        ("Handler: /var/task/bin/x", "is an absolute path", "relative to the package"),
        ("Handler: ../bin/x", "points outside the package", "relative to the package"),
        ("InlineCode: print(1)", "has InlineCode", "CodeUri"),
        ("CodeUri: main.go", "CodeUri main.go is a file but not a .zip", "CodeUri: ./"),
        ("CodeUri: ''", "CodeUri is empty", "CodeUri"),
    ],
)
def test_unbuildable_go_functions_are_skipped_with_a_fix(tmp_path, props, reason, fix):
    (tmp_path / "main.go").write_text("package main\n")
    base = {"Runtime": "go1.x", "Handler": "bin/f", "CodeUri": "./"}
    key = props.split(":", 1)[0]
    lines = [f"      {k}: {v}" for k, v in base.items() if k != key] + [f"      {props}"]
    if key == "InlineCode":
        lines = [line for line in lines if "CodeUri" not in line]
    plan = plan_of(tmp_path, SAM + "Resources:\n  # a comment\n  F:\n    Type: AWS::Serverless::Function\n"
                   "    Properties:\n" + "\n".join(lines) + "\n")
    assert plan.packages == ()
    (skipped,) = plan.skipped
    assert (skipped.logical_id, skipped.line) == ("F", 4)
    assert reason in skipped.reason
    assert fix in skipped.fix


def test_missing_code_location(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  F: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/f}}
  G: {Type: AWS::Lambda::Function, Properties: {Runtime: go1.x, Handler: bin/g, Role: r}}
""")
    assert [(s.logical_id, s.reason) for s in plan.skipped] == [
        ("F", "has no CodeUri (nor does Globals)"), ("G", "has no Code")
    ]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("{S3Bucket: b, S3Key: k.zip}", "Code is an S3 object (s3://b/k.zip)"),
        ("{ZipFile: 'print(1)'}", "Code.ZipFile is inline source"),
        ("{ImageUri: repo:tag}", "Code is already an image"),
        ("!Ref Location", "Code is given by an intrinsic (!Ref)"),
    ],
)
def test_cloudformation_code_locations(tmp_path, code, reason):
    plan = plan_of(tmp_path, f"""\
Resources:
  F: {{Type: AWS::Lambda::Function, Properties: {{Runtime: go1.x, Handler: bin/f, Role: r, Code: {code}}}}}
""")
    assert reason in plan.skipped[0].reason


def test_provided_runtimes_move_only_multi_binary_packages(tmp_path):
    for name in ("mod", "bins", "plain"):
        (tmp_path / name).mkdir()
    (tmp_path / "mod" / "go.mod").write_text("module x\n")
    (tmp_path / "bins" / "bin").mkdir()
    (tmp_path / "bins" / "bin" / "list").write_bytes(b"\x7fELF")
    with zipfile.ZipFile(tmp_path / "pkg.zip", "w") as z:
        z.writestr("bin/show", b"\x7fELF")
    plan = plan_of(tmp_path, SAM + """\
Resources:
  GoModule: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/any, CodeUri: mod/}}
  InDir: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2023, Handler: ./bin/list, CodeUri: bins}}
  InZip: {Type: AWS::Serverless::Function, Properties: {Runtime: provided, Handler: bin/show, CodeUri: pkg.zip}}
  Bootstrap: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: mod/}}
  Elsewhere: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: plain/}}
  NotInZip: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: pkg.zip}}
  InS3: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: s3://b/k}}
  ByRef: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: !Ref H, CodeUri: mod/}}
""")
    assert sorted(functions(plan)) == ["GoModule", "InDir", "InZip"]
    assert plan.untouched_ids() == ("Bootstrap", "Elsewhere", "NotInZip", "InS3", "ByRef")
    assert plan.skipped == ()


def test_other_functions_are_untouched(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  Image: {Type: AWS::Serverless::Function, Properties: {PackageType: Image, ImageUri: repo:tag}}
  ImageByRef: {Type: AWS::Serverless::Function, Properties: {PackageType: !Ref P, Runtime: go1.x, Handler: x}}
  Python: {Type: AWS::Serverless::Function, Properties: {Runtime: python3.12, Handler: a.b, CodeUri: ./}}
  RuntimeByRef: {Type: AWS::Serverless::Function, Properties: {Runtime: !Ref R, Handler: bin/x, CodeUri: ./}}
  Queue: {Type: AWS::SQS::Queue}
  Weird: [not, a, mapping]
""")
    assert plan.untouched_ids() == ("Image", "ImageByRef", "Python", "RuntimeByRef")
    assert plan.packages == () and plan.skipped == ()


def test_explicit_zip_package_type_moves(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  F: {Type: AWS::Serverless::Function, Properties: {PackageType: Zip, Runtime: go1.x, Handler: bin/f, CodeUri: ./}}
""")
    assert list(functions(plan)) == ["F"]


def test_layers_are_recorded_only_for_the_functions_own(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Globals: {Function: {Layers: [arn:aws:lambda:us-east-1:123456789012:layer:a:1]}}
Resources:
  Own: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: a, CodeUri: ./, Layers: [x]}}
  Inherited: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: b, CodeUri: ./}}
""")
    fns = functions(plan)
    assert (fns["Own"].layers, fns["Inherited"].layers) == (True, False)


def test_target_arch(tmp_path):
    text = SAM + "Resources:\n  F: {Type: AWS::Serverless::Function, " \
                 "Properties: {Runtime: go1.x, Handler: a, CodeUri: ./}}\n"
    assert plan_of(tmp_path, text, arch="x86_64").packages[0].arch == "x86_64"
    with pytest.raises(ShimimgError, match="unknown architecture 'amd64'") as info:
        plan_of(tmp_path, text, arch="amd64")
    assert "--arch arm64" in info.value.hint


def test_json_templates(tmp_path):
    plan = plan_of(tmp_path, """{
  "Resources": {
    "F": {"Type": "AWS::Lambda::Function",
          "Properties": {"Runtime": "go1.x", "Handler": "bin/f", "Code": "./", "Timeout": "30"}}
  }
}""", name="template.json")
    fn = functions(plan)["F"]
    image = f"shimimg/{slug(tmp_path.name)}:latest"
    assert (fn.resource_type, fn.timeout, plan.packages[0].image) == ("AWS::Lambda::Function", 30, image)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders", "orders"),
        ("Orders Service", "orders-service"),
        ("src/Functions/", "src-functions"),
        ("../shared", "shared"),
        ("a__b", "a__b"),
        ("a--b", "a--b"),
        ("a.-_b", "a-b"),
        ("..", ""),
        ("Ünïcode", "n-code"),
        ("x" * 300, "x" * 128),
    ],
)
def test_slug(text, expected):
    assert slug(text) == expected


def test_image_names(tmp_path):
    here = tmp_path / "My Service"
    here.mkdir()
    assert image_name(Local("./", here, "dir"), here) == "shimimg/my-service:latest"
    assert image_name(Local(".", here, "dir"), here) == "shimimg/my-service:latest"
    assert image_name(Local("cmd/api/", here / "cmd" / "api", "dir"), here) == "shimimg/cmd-api:latest"
    assert image_name(Local("dist/Orders.zip", here / "dist" / "Orders.zip", "zip"), here) == "shimimg/orders:latest"
    assert image_name(Local("!!!", here / "!!!", "dir"), here) == "shimimg/package:latest"


def test_colliding_image_names_get_a_suffix(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: a, CodeUri: one/orders.zip}}
  B: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: b, CodeUri: two/orders.zip}}
  C: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: c, CodeUri: three/Orders.zip}}
""")
    assert [p.image for p in plan.packages] == [
        "shimimg/orders:latest", "shimimg/orders-2:latest", "shimimg/orders-3:latest"
    ]


def test_binary_strips_only_a_leading_dot_slash():
    def fn(handler: str) -> Function:
        return Function("F", "AWS::Serverless::Function", handler, "go1.x")

    assert fn("./bin/x").binary == "bin/x"
    assert fn("././bin/x").binary == "bin/x"
    assert fn(".hidden/x").binary == ".hidden/x"
    assert fn("bin/x").name == "x"


def test_discovery_reads_yaml_and_json_alike(tmp_path):
    yaml_text = "Resources:\n  F: {Type: AWS::Lambda::Function, Properties: {Runtime: go1.x, Handler: h, Code: ./}}\n"
    json_text = json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function",
                                                "Properties": {"Runtime": "go1.x", "Handler": "h", "Code": "./"}}}})
    a = discover(parse_document(yaml_text, tmp_path / "t.yaml"))
    b = discover(parse_document(json_text, tmp_path / "t.json"))
    assert a.packages == b.packages


def test_every_function_left_alone_has_a_reason(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "go.mod").write_text("module x\n")
    (tmp_path / "plain").mkdir()
    plan = plan_of(tmp_path, SAM + """\
Resources:
  Image: {Type: AWS::Serverless::Function, Properties: {PackageType: Image, ImageUri: repo:tag}}
  Python: {Type: AWS::Serverless::Function, Properties: {Runtime: python3.12, Handler: a.b, CodeUri: ./}}
  Bootstrap: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: mod/}}
  Elsewhere: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: plain/}}
  ByRef: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: !Ref H, CodeUri: mod/}}
  InS3: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: s3://b/k}}
""")
    reasons = {u.logical_id: u.reason for u in plan.untouched}
    assert reasons == {
        "Image": "PackageType Image: already a container image",
        "Python": "Runtime python3.12: not Go",
        "Bootstrap": "provided.al2 with Handler bootstrap and no Go in mod/: left as a custom runtime",
        "Elsewhere": "provided.al2 with Handler bin/x, but plain/ holds no such file and no go.mod, and no go1.x "
                     "function shares it: an ordinary custom runtime",
        "ByRef": "provided.al2, Handler is given by an intrinsic (!Ref), so the binary is unknown: left as a custom "
                 "runtime",
        "InS3": "provided.al2, CodeUri is in S3 (s3://b/k); shimimg builds from local files: left as a custom runtime",
    }


def test_go_bootstrap_functions_are_left_alone_with_the_dates_and_the_flag_that_moves_them(tmp_path):
    for d in ("hello", "bye", "new"):
        (tmp_path / d).mkdir()
    (tmp_path / "hello" / "main.go").write_text("package main\n")
    text = SAM + """\
Resources:
  Hello: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: hello/}}
  Bye:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: bye/}
    Metadata: {BuildMethod: go1.x}
  New: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2023, Handler: bootstrap, CodeUri: hello/}}
  Made:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: hello/}
    Metadata: {BuildMethod: makefile}
  Zipped: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bootstrap, CodeUri: b.zip}}
"""
    plan = plan_of(tmp_path, text)
    reasons = {u.logical_id: u.reason for u in plan.untouched}
    assert plan.packages == ()
    for fn in ("Hello", "Bye"):
        assert reasons[fn] == ("provided.al2 Go function (a bootstrap of its own): provided.al2 is deprecated on "
                               "2026-07-31; creating functions on it is blocked from 2027-02-01, updating them from "
                               "2027-03-03; --consolidate moves it into one image per Go module")
    assert reasons["New"].startswith("provided.al2023 Go function") and "--consolidate" in reasons["New"]
    assert "BuildMethod makefile" in reasons["Made"] and "not known to shimimg" in reasons["Made"]
    assert "in a zip (b.zip)" in reasons["Zipped"]
    moved = plan_of(tmp_path, text, consolidate=True)
    assert sorted(f.logical_id for p in moved.packages for f in p.functions) == ["Bye", "Hello", "New"]
    assert all(f.go_bootstrap for p in moved.packages for f in p.functions)
    assert sorted(moved.untouched_ids()) == ["Made", "Zipped"]


def test_a_provided_function_moves_with_the_go1x_functions_of_its_package_even_unbuilt(tmp_path):
    (tmp_path / "svc").mkdir()  # no bin/ yet, no go.mod: the old build chain has not run
    plan = plan_of(tmp_path, SAM + """\
Resources:
  Old: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/old, CodeUri: svc/}}
  Moved: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/new, CodeUri: svc/}}
  Alone: {Type: AWS::Serverless::Function, Properties: {Runtime: provided.al2, Handler: bin/new, CodeUri: other/}}
""")
    assert [[f.logical_id for f in p.functions] for p in plan.packages] == [["Old", "Moved"]]
    assert plan.untouched_ids() == ("Alone",)


def test_the_template_architecture_is_recorded_for_the_arch_notice(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Globals:
  Function: {Architectures: [x86_64]}
Resources:
  FromGlobals: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/a, CodeUri: ./}}
  Own: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/b, CodeUri: ./,
        Architectures: [arm64]}}
  Ignoring: {Type: AWS::Serverless::Function, IgnoreGlobals: [Architectures],
             Properties: {Runtime: go1.x, Handler: bin/c, CodeUri: ./}}
""")
    assert [(fn.logical_id, old, new) for fn, old, new in plan.arch_changes()] == [("FromGlobals", "x86_64", "arm64")]
    back = plan_of(tmp_path, (tmp_path / "template.yaml").read_text(), arch="x86_64")
    assert [(fn.logical_id, old, new) for fn, old, new in back.arch_changes()] == [("Own", "arm64", "x86_64")]


def test_a_handler_with_control_characters_is_refused(tmp_path):
    plan = plan_of(tmp_path, SAM + """\
Resources:
  F: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: "bin/x\\nRUN id", CodeUri: ./}}
""")
    assert plan.packages == ()
    assert "holds control characters" in plan.skipped[0].reason


def test_a_lambda_function_with_sams_codeuri_is_refused_not_half_migrated(tmp_path):
    (tmp_path / "bin").mkdir()
    plan = plan_of(tmp_path, SAM + """Resources:
  F:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: go1.x
      Handler: bin/a
      Code: ./
      CodeUri: ./
""")
    assert plan.packages == ()
    (skipped,) = plan.skipped
    assert skipped.logical_id == "F"
    assert "CodeUri" in skipped.reason and "AWS::Serverless::Function" in skipped.fix


MAKE_FNS = SAM + """Resources:
  CreateFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      CodeUri: ./
      Handler: main
    Metadata:
      BuildMethod: makefile
  GetFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      CodeUri: ./
      Handler: main
    Metadata:
      BuildMethod: makefile
  HealthFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      CodeUri: ./
      Handler: bin/health
"""


def test_functions_built_by_their_own_make_targets_are_never_folded_onto_one_binary(tmp_path):
    (tmp_path / "go.mod").write_text("module m\n")
    plan = plan_of(tmp_path, MAKE_FNS)
    assert [s.logical_id for s in plan.skipped] == ["CreateFunction", "GetFunction"]
    reason = plan.skipped[0].reason
    assert "shares Handler main in CodeUri ./ with CreateFunction, GetFunction" in reason
    assert "make build-<LogicalId>" in reason and "Handler: bin/create" in plan.skipped[0].fix
    assert [f.logical_id for p in plan.packages for f in p.functions] == ["HealthFunction"]


def test_functions_sharing_a_binary_without_make_targets_share_it(tmp_path):
    (tmp_path / "go.mod").write_text("module m\n")
    plan = plan_of(tmp_path, MAKE_FNS.replace("      BuildMethod: makefile\n", "      BuildMethod: go1.x\n"))
    assert plan.skipped == () and len(plan.packages[0].functions) == 3


CDK = """Resources:
  Fn1234:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: go1.x
      Handler: bin/orders
      Code:
        S3Bucket: cdk-hnb659fds-assets-111111111111-eu-west-1
        S3Key: 5c1e6f.zip
    Metadata:
      aws:cdk:path: Shop/Orders/Resource
      aws:asset:path: asset.5c1e6f
      aws:asset:property: Code
  CDKMetadata:
    Type: AWS::CDK::Metadata
    Properties:
      Analytics: v2:deflate64:H4sI
"""


def test_a_cdk_template_gets_advice_about_the_cdk_app(tmp_path):
    (skipped,) = plan_of(tmp_path, CDK).skipped
    assert "AWS CDK" in skipped.fix and "asset.5c1e6f" in skipped.fix and "aws s3 cp" not in skipped.fix
    plain = plan_of(tmp_path, CDK.split("    Metadata:")[0])
    assert "aws s3 cp" in plain.skipped[0].fix

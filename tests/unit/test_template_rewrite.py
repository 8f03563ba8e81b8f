from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from shimimg.errors import ShimimgError
from shimimg.template import discover, load_document, parse_document, render_migrated
from shimimg.template.intrinsics import to_data
from shimimg.template.paths import local_path_nodes, relocated
from support import ROOT

SAM = "Transform: AWS::Serverless-2016-10-31\n"
CORPUS = ROOT / "tests" / "corpus"


def migrate(tmp_path: Path, text: str, name: str = "template.yaml", output: Path | None = None, **kw) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    doc = load_document(path)
    plan = discover(doc, arch=kw.pop("arch", "arm64"))
    return render_migrated(doc, plan, output_path=output or path, **kw)


def changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines), aligned the way a reader sees them."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    removed, added = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


def data(text: str, name: str = "t.yaml"):
    return to_data(parse_document(text, Path(name)).root)


BLOCK = SAM + """\
Resources:
  Fn:
    Type: AWS::Serverless::Function   # a comment
    Properties:
      Description: first   # kept
      Runtime: go1.x
      Handler: bin/fn
      CodeUri: src/
      Timeout: 3
"""


def test_block_properties_change_where_runtime_stood(tmp_path):
    out = migrate(tmp_path, BLOCK)
    assert out == BLOCK.replace(
        "      Runtime: go1.x\n      Handler: bin/fn\n      CodeUri: src/\n",
        "      PackageType: Image\n      ImageUri: shimimg.invalid/run-shimimg-build-first/src:not-built\n"
        "      ImageConfig:\n"
        "        Command: [bin/fn]\n      Architectures: [arm64]\n",
    )


def test_image_uri_arch_and_direct_mode(tmp_path):
    src = (tmp_path / "src").resolve()
    out = migrate(tmp_path, BLOCK, image_uris={src: "1234.dkr.ecr.us-east-1.amazonaws.com/fn:v1"}, arch="x86_64",
                  direct=True)
    props = data(out)["Resources"]["Fn"]["Properties"]
    assert props["ImageUri"] == "1234.dkr.ecr.us-east-1.amazonaws.com/fn:v1"
    assert props["ImageConfig"] == {"EntryPoint": ["/var/task/bin/fn"]}
    assert props["Architectures"] == ["x86_64"]


def test_crlf_bom_and_no_final_newline_survive(tmp_path):
    text = "\ufeff" + BLOCK.rstrip("\n").replace("\n", "\r\n")
    out = migrate(tmp_path, text)
    assert out.startswith("\ufeff") and "\r\n" in out
    assert "\n" not in out.replace("\r\n", "")
    assert out.endswith("Timeout: 3")


def test_a_deleted_last_line_without_newline(tmp_path):
    text = SAM + "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: go1.x\n" \
                 "      CodeUri: src/\n      Handler: bin/fn"
    out = migrate(tmp_path, text)
    assert data(out)["Resources"]["Fn"]["Properties"]["ImageConfig"] == {"Command": ["bin/fn"]}
    assert migrate(tmp_path, out) == out


def test_function_without_properties_gets_its_own(tmp_path):
    text = SAM + """\
Globals:
  Function: {Runtime: go1.x, Handler: bin/only, CodeUri: src/}
Resources:
  Only:
    Type: AWS::Serverless::Function
  Empty:
    Type: AWS::Serverless::Function
    Properties:
"""
    out = migrate(tmp_path, text)
    res = data(out)["Resources"]
    assert res["Only"]["Properties"]["ImageConfig"] == {"Command": ["bin/only"]}
    assert res["Empty"]["Properties"]["PackageType"] == "Image"
    assert "Globals" not in data(out)


def test_empty_flow_properties(tmp_path):
    text = SAM + "Globals: {Function: {Runtime: go1.x, Handler: h, CodeUri: src/}}\n" \
                 "Resources:\n  F: {Type: AWS::Serverless::Function, Properties: {}}\n"
    out = migrate(tmp_path, text)
    assert "Resources:\n  F: {Type: AWS::Serverless::Function, Properties: {PackageType: Image, " in out
    assert "Globals" not in out


def test_json_compact_and_empty_objects(tmp_path):
    text = '{"Transform":"AWS::Serverless-2016-10-31","Globals":{"Function":{"Runtime":"go1.x","CodeUri":"src/",' \
           '"Handler":"h"}},"Resources":{"F":{"Type":"AWS::Serverless::Function","Properties":{}},' \
           '"G":{"Type":"AWS::Serverless::Function"}}}'
    out = migrate(tmp_path, text, name="template.json")
    parsed = json.loads(out)
    assert "Globals" not in parsed
    assert parsed["Resources"]["F"]["Properties"]["ImageConfig"] == {"Command": ["h"]}
    assert parsed["Resources"]["G"]["Properties"]["PackageType"] == "Image"
    assert '"Properties":{"PackageType":"Image",' in out  # the file's own compact separators


def test_json_pretty_empty_object_gets_members_on_their_own_lines(tmp_path):
    text = json.dumps({"Transform": "AWS::Serverless-2016-10-31",
                       "Globals": {"Function": {"Runtime": "go1.x", "CodeUri": "src/", "Handler": "h"}},
                       "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {}}}}, indent=4)
    out = migrate(tmp_path, text, name="template.json")
    assert '"Properties": {\n                "PackageType": "Image",\n' in out
    json.loads(out)


@pytest.mark.parametrize("which", ["first", "middle", "last", "all"])
def test_json_commas_stay_valid_wherever_members_go(tmp_path, which):
    order = {"first": ["Runtime", "A", "B"], "middle": ["A", "Runtime", "B"], "last": ["A", "B", "Runtime"],
             "all": ["Runtime"]}[which]
    values = {"Runtime": "go1.x", "A": 1, "B": 2}
    props = {k: values[k] for k in order} | {"Handler": "h", "CodeUri": "src/"}
    text = json.dumps({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": props}}}, indent=2)
    out = migrate(tmp_path, text, name="template.json")
    got = json.loads(out)["Resources"]["F"]["Properties"]
    assert {k: got.get(k) for k in order if k != "Runtime"} == {k: values[k] for k in order if k != "Runtime"}
    assert "Runtime" not in got and got["PackageType"] == "Image"


def test_yaml_flow_comments_and_trailing_commas(tmp_path):
    text = SAM + """\
Resources:
  F: {Type: AWS::Serverless::Function,
      Properties: {Runtime: go1.x,   # the runtime
                   Handler: bin/f, CodeUri: src/,
                   Timeout: 5,}}
"""
    out = migrate(tmp_path, text)
    props = data(out)["Resources"]["F"]["Properties"]
    assert props["Timeout"] == 5 and props["PackageType"] == "Image" and "Runtime" not in props
    assert migrate(tmp_path, out) == out


def test_awkward_values_are_quoted(tmp_path):
    text = SAM + "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n" \
                 "      Runtime: go1.x\n      Handler: 'yes'\n      CodeUri: 'src dir/'\n"
    out = migrate(tmp_path, text)
    props = data(out)["Resources"]["F"]["Properties"]
    assert props["ImageConfig"] == {"Command": ["yes"]}
    assert props["ImageUri"] == "shimimg.invalid/run-shimimg-build-first/src-dir:not-built"


def test_architectures_keep_their_layout_and_quotes(tmp_path):
    text = SAM + """\
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: a, CodeUri: ./, Architectures: ["x86_64"]}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      Handler: b
      CodeUri: ./
      Architectures: !If [IsArm, [arm64], [x86_64]]
  C:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      Handler: c
      CodeUri: ./
      Architectures:
        - 'arm64'
"""
    out = migrate(tmp_path, text)
    removed, added = changes(text, out)
    assert 'Architectures: ["arm64"]' in out
    assert "      Architectures: [arm64]\n" in added
    assert "        - 'arm64'\n" in out and not any("'arm64'" in line for line in removed)


def test_existing_image_keys_are_replaced_not_duplicated(tmp_path):
    text = SAM + """\
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      Handler: bin/f
      CodeUri: ./
      ImageConfig: {WorkingDirectory: /tmp}
      PackageType: Zip
"""
    out = migrate(tmp_path, text)
    props = data(out)["Resources"]["F"]["Properties"]
    assert props["ImageConfig"] == {"Command": ["bin/f"]}
    assert props["PackageType"] == "Image"
    assert out.count("ImageConfig") == 1 and out.count("PackageType") == 1


def test_layers_are_refused_unless_dropped(tmp_path):
    text = SAM + """\
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: go1.x
      Handler: bin/f
      CodeUri: ./
      Layers:
        - !Ref CertsLayer   # certificates
"""
    with pytest.raises(ShimimgError) as info:
        migrate(tmp_path, text)
    assert "F: has Layers, which container images cannot use" in info.value.problems[0]
    assert "--drop-layers" in info.value.problems[0]
    out = migrate(tmp_path, text, drop_layers=True)
    assert "Layers" not in data(out)["Resources"]["F"]["Properties"]
    assert "certificates" not in out


def test_skipped_functions_refuse_the_whole_rewrite(tmp_path):
    text = SAM + """\
Resources:
  Good: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: a, CodeUri: ./}}
  InS3: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: b, CodeUri: s3://b/k.zip}}
  ByRef: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: !Ref H, CodeUri: ./}}
"""
    with pytest.raises(ShimimgError) as info:
        migrate(tmp_path, text)
    e = info.value
    assert "cannot migrate 2 functions" in e.message
    assert e.problems[0].startswith(f"{tmp_path / 'template.yaml'}:4: InS3: CodeUri is in S3")
    assert "fix: download the package" in e.problems[0]
    assert ":5: ByRef: Handler is given by an intrinsic (!Ref)" in e.problems[1]


def test_anchored_or_merged_properties_are_refused(tmp_path):
    shared = SAM + """\
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: &props
      Runtime: go1.x
      Handler: bin/a
      CodeUri: ./
  B:
    Type: AWS::Serverless::Function
    Properties: *props
"""
    with pytest.raises(ShimimgError, match="anchors, aliases or merge keys") as info:
        migrate(tmp_path, shared)
    assert "write the shared values out" in info.value.hint
    merged = SAM + """\
Base: &base {Runtime: go1.x, CodeUri: ./}
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      <<: *base
      Runtime: go1.x
      Handler: bin/a
"""
    with pytest.raises(ShimimgError) as info:
        migrate(tmp_path, merged)
    assert "A: its Properties use a YAML merge key (<<)" in info.value.problems[0]
    anchored_value = SAM + """\
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {Runtime: &rt go1.x, Handler: bin/a, CodeUri: ./}
  B: {Type: AWS::Serverless::Function, Properties: {Runtime: python3.12, Handler: a.b, CodeUri: ./, Description: *rt}}
"""
    with pytest.raises(ShimimgError, match="anchors"):
        migrate(tmp_path, anchored_value)


def test_anchors_elsewhere_are_fine(tmp_path):
    text = SAM + """\
Parameters:
  Stage: &p {Type: String}
  Other: *p
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Runtime: go1.x, Handler: bin/a, CodeUri: ./}}
"""
    out = migrate(tmp_path, text)
    assert out.startswith(SAM + "Parameters:\n  Stage: &p {Type: String}\n  Other: *p\n")


def test_a_plan_from_another_template_is_refused(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(BLOCK)
    other = tmp_path / "other.yaml"
    other.write_text(BLOCK.replace("Fn:", "Renamed:"))
    with pytest.raises(ShimimgError, match="the plan names Fn"):
        render_migrated(load_document(other), discover(load_document(one)), output_path=other)


def test_nothing_to_do_returns_the_text_unchanged(tmp_path):
    text = (CORPUS / "already_migrated.yaml").read_text()
    assert migrate(tmp_path, text) == text


# ------------------------------------------------------------------------------------- relocation


def test_relocated():
    here, build = Path("/p"), Path("/p/.shimimg/build")
    assert relocated("src/", here, build) == "../../src/"
    assert relocated("./", here, build) == "../../"
    assert relocated(".", here, build) == "../.."
    assert relocated("dist/x.zip", here, build) == "../../dist/x.zip"
    assert relocated("s3://b/k", here, build) is None
    assert relocated("/abs/path", here, build) is None
    assert relocated("src", here, here) is None
    assert relocated("../../src", Path("/p/.shimimg/build"), Path("/p")) == "src"


def test_local_paths_still_point_at_the_same_files_from_the_build_directory(tmp_path):
    template = CORPUS / "relocate.yaml"
    out_path = tmp_path / ".shimimg" / "build" / "template.yaml"
    doc = load_document(template)
    text = render_migrated(doc, discover(doc), output_path=out_path)
    before = {_value(n): os.path.normpath(CORPUS / _value(n)) for n, _ in local_path_nodes(doc)
              if relocated(_value(n), CORPUS, out_path.parent)}
    # The Go function's own CodeUri leaves with the migration; the rest must still resolve.
    assert set(before) == {"packages/py/", "packages/layer", "packages/api/openapi.yaml", "packages/reloc/"}
    del before["packages/reloc/"]
    assert "packages/reloc" not in text
    moved = parse_document(text, out_path)
    after = {os.path.normpath(out_path.parent / _value(n)) for n, _ in local_path_nodes(moved)
             if not _value(n).startswith("s3://")}
    assert after == set(before.values())
    assert all(Path(p).exists() for p in after)
    assert "ContentUri: s3://corpus-bucket/layer.zip   # not a local path: unchanged" in text
    assert 'ContentUri: "' in text  # a double-quoted path stays double-quoted


def test_relocation_covers_cloudformation_and_includes(tmp_path):
    text = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Py: {Type: AWS::Lambda::Function, Properties: {Runtime: python3.12, Handler: a.b, Code: py/, Role: r}}
  Layer: {Type: AWS::Lambda::LayerVersion, Properties: {Content: layer.zip}}
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Body:
        Fn::Transform: {Name: AWS::Include, Parameters: {Location: api/spec.yaml}}
      Description: !Transform {Name: AWS::Include, Parameters: {Location: "./desc.yaml"}}
  Nested: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: nested/stack.yaml}}
  Machine: {Type: AWS::StepFunctions::StateMachine, Properties: {DefinitionS3Location: sm.json}}
  Img: {Type: AWS::Serverless::Function, Metadata: {DockerContext: ./img, Dockerfile: Dockerfile},
        Properties: {PackageType: Image}}
"""
    out = migrate(tmp_path, text, output=tmp_path / "build" / "out.yaml")
    for old, new in [("py/", "../py/"), ("layer.zip", "../layer.zip"), ("api/spec.yaml", "../api/spec.yaml"),
                     ('"./desc.yaml"', '"../desc.yaml"'), ("nested/stack.yaml", "../nested/stack.yaml"),
                     ("sm.json", "../sm.json"), ("./img", "../img")]:
        assert old not in out.replace(new, "")
        assert new in out
    assert "Dockerfile: Dockerfile" in out


def _value(node) -> str:
    return node.value


@pytest.mark.parametrize(
    "props",
    [
        "{Runtime: go1.x, Handler: bin/a, CodeUri: ./, Description: *d}",
        "\n      Runtime: go1.x\n      Description: *d\n      Handler: bin/a\n      CodeUri: ./",
    ],
)
def test_an_alias_beside_the_edited_keys_is_refused_not_garbled(tmp_path, props):
    text = SAM + f"Parameters:\n  P: {{Type: String, Description: &d shared}}\nResources:\n" \
                 f"  A:\n    Type: AWS::Serverless::Function\n    Properties: {props}\n"
    with pytest.raises(ShimimgError, match="anchors, aliases or merge keys"):
        migrate(tmp_path, text)


def test_an_anchored_path_is_relocated_after_its_anchor_and_an_aliased_one_is_refused(tmp_path):
    text = SAM + "Resources:\n  Py:\n    Type: AWS::Serverless::Function\n    Properties:\n" \
                 "      Runtime: python3.12\n      Handler: a.b\n      CodeUri: &code !!str src/\n"
    out = migrate(tmp_path, text, output=tmp_path / "build" / "t.yaml")
    assert "CodeUri: &code !!str ../src/\n" in out
    aliased = text + "Outputs:\n  Where: {Value: *code}\n"
    with pytest.raises(ShimimgError, match="shared through a YAML alias"):
        migrate(tmp_path, aliased, output=tmp_path / "build" / "t.yaml")


def test_an_anchored_architectures_list_is_not_changed_for_its_other_users(tmp_path):
    text = SAM + """\
Resources:
  Go:
    Type: AWS::Serverless::Function
    Properties: {Runtime: go1.x, Handler: bin/go, CodeUri: ./, Architectures: &arch [x86_64]}
  Py:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: a.b, CodeUri: ./, Architectures: *arch}
"""
    with pytest.raises(ShimimgError, match="anchors, aliases or merge keys"):
        migrate(tmp_path, text)


def test_crlf_json_stays_crlf(tmp_path):
    text = json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "go1.x", "Handler": "bin/f", "Code": "src/", "Role": "r"}}}}, indent=2).replace("\n", "\r\n")
    out = migrate(tmp_path, text, name="template.json")
    assert "\n" not in out.replace("\r\n", "")
    assert json.loads(out)["Resources"]["F"]["Properties"]["Code"] == {
        "ImageUri": "shimimg.invalid/run-shimimg-build-first/src:not-built"}


def test_values_yaml_or_utf8_cannot_hold_raw_are_escaped(tmp_path):
    text = json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "go1.x", "Handler": "bin/\ud800\u2028x", "Code": "./", "Role": "r"}}}})
    out = migrate(tmp_path, text, name="template.json")
    out.encode("utf-8")
    assert json.loads(out)["Resources"]["F"]["Properties"]["ImageConfig"] == {"Command": ["bin/\ud800\u2028x"]}
    yaml_text = SAM + "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n" \
                      "      Runtime: go1.x\n      Handler: \"bin/\\x85\\u2028x\"\n      CodeUri: ./\n"
    out = migrate(tmp_path, yaml_text)
    assert data(out)["Resources"]["F"]["Properties"]["ImageConfig"] == {"Command": ["bin/\x85\u2028x"]}

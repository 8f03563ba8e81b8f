from __future__ import annotations

import json
from pathlib import Path

import pytest
from yaml.nodes import MappingNode

from shimimg.errors import ShimimgError
from shimimg.template import load_document, parse_document
from shimimg.template.document import get
from shimimg.template.intrinsics import integer, is_intrinsic, literal, to_data
from support import ROOT

ALL_SHORT_FORMS = """\
Resources:
  R:
    Type: Custom::Thing
    Properties:
      Ref: !Ref Bucket
      AttDot: !GetAtt Bucket.Arn
      AttNested: !GetAtt Bucket.Outputs.Name
      AttList: !GetAtt [Bucket, !Ref AttrName]
      Sub: !Sub "${AWS::StackName}-x"
      SubList: !Sub ["${A}-${B}", {A: !Ref Stage, B: b}]
      Join: !Join [",", [a, !Ref Stage]]
      Select: !Select [0, !GetAZs ""]
      Split: !Split [",", "a,b"]
      If: !If [IsProd, 1, !Ref "AWS::NoValue"]
      Equals: !Equals [!Ref Stage, prod]
      And: !And [!Condition A, !Condition B]
      Or: !Or [!Condition A, !Not [!Condition B]]
      FindInMap: !FindInMap [Map, !Ref Stage, Key]
      ImportValue: !ImportValue shared
      Base64: !Base64 abc
      Cidr: !Cidr [10.0.0.0/16, 4, 8]
      Transform: !Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}
      Unknown: !Tags [a, b]
"""


def parse(text: str, name: str = "template.yaml"):
    return parse_document(text, Path(name))


def error(text: str, name: str = "template.yaml") -> ShimimgError:
    with pytest.raises(ShimimgError) as info:
        parse(text, name)
    return info.value


def test_every_short_form_reads_as_its_long_form():
    data = to_data(parse(ALL_SHORT_FORMS).root)["Resources"]["R"]["Properties"]
    assert data["Ref"] == {"Ref": "Bucket"}
    assert data["AttDot"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
    assert data["AttNested"] == {"Fn::GetAtt": ["Bucket", "Outputs.Name"]}
    assert data["AttList"] == {"Fn::GetAtt": ["Bucket", {"Ref": "AttrName"}]}
    assert data["SubList"] == {"Fn::Sub": ["${A}-${B}", {"A": {"Ref": "Stage"}, "B": "b"}]}
    assert data["Or"] == {"Fn::Or": [{"Condition": "A"}, {"Fn::Not": [{"Condition": "B"}]}]}
    assert data["Transform"] == {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}
    assert data["Unknown"] == {"Fn::Tags": ["a", "b"]}
    for key in ("Join", "Select", "Split", "If", "Equals", "And", "FindInMap", "ImportValue", "Base64", "Cidr"):
        assert list(data[key]) == [f"Fn::{key}"]


def test_nodes_know_where_they_are():
    doc = parse(ALL_SHORT_FORMS)
    props = get(get(get(doc.root, "Resources"), "R"), "Properties")
    node = get(props, "AttList")
    assert doc.text[node.start_mark.index : node.end_mark.index] == "!GetAtt [Bucket, !Ref AttrName]"
    assert doc.where(node) == "template.yaml:8:16"


def test_intrinsics_are_not_literals():
    props = get(get(get(parse(ALL_SHORT_FORMS).root, "Resources"), "R"), "Properties")
    assert all(is_intrinsic(v) for _, v in props.value)
    assert literal(get(props, "Ref")) is None
    long_form = parse('{"Resources": {"R": {"Type": "X", "Properties": {"A": {"Ref": "B"}, "C": {"Fn::Sub": "x"}}}}}')
    props = get(get(get(long_form.root, "Resources"), "R"), "Properties")
    assert is_intrinsic(get(props, "A")) and is_intrinsic(get(props, "C"))


@pytest.mark.parametrize(
    ("text", "value"),
    [("256", "256"), ('"256"', "256"), ("yes", "true"), ("false", "false"), ("~", ""), ("'a b'", "a b")],
)
def test_literal_values_are_what_cloudformation_sees(text, value):
    assert literal(get(parse(f"Resources: {{}}\nX: {text}\n").root, "X")) == value


def test_integer_reads_quoted_numbers_and_refuses_the_rest():
    root = parse("Resources: {}\nA: 256\nB: '30'\nC: !Ref X\nD: 1.5\n").root
    assert [integer(get(root, k)) for k in "ABCD"] == [256, 30, None, None]


def test_json_positions_match_the_text():
    text = '{\n\t"Resources": {\n\t\t"Fn": {"Type": "AWS::Lambda::Function", ' \
           '"Properties": {"Runtime": "go1.x"}}\n\t}\n}\n'
    doc = parse(text, "t.json")
    assert doc.format == "json"
    fn = get(get(doc.root, "Resources"), "Fn")
    runtime = get(get(fn, "Properties"), "Runtime")
    assert doc.text[runtime.start_mark.index : runtime.end_mark.index] == '"go1.x"'
    column = text.splitlines()[2].index('"go1.x"') + 1
    assert doc.where(runtime) == f"t.json:3:{column}"
    assert to_data(doc.root) == json.loads(text)


def test_json_with_escapes_and_unicode_round_trips():
    props = {"S": "é\u2028\"\\/\U0001f600", "N": [1, 2.5e3, -0, True, None]}
    data = {"Resources": {"A": {"Type": "X", "Properties": props}}}
    text = json.dumps(data, indent=3)
    assert to_data(parse(text, "t.json").root) == data
    compact = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert to_data(parse(compact, "t.json").root) == data


def test_flow_yaml_starting_with_a_brace_is_yaml():
    doc = parse("{Resources: {A: {Type: X}}}  # YAML, not JSON\n", "template.template")
    assert doc.format == "yaml"


def test_bom_and_crlf_are_kept(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_bytes(b"\xef\xbb\xbfResources:\r\n  A:\r\n    Type: X\r\n")
    doc = load_document(path)
    assert doc.bom and doc.newline == "\r\n"
    assert doc.original.encode("utf-8") == path.read_bytes()
    a = get(get(doc.root, "Resources"), "A")
    assert doc.text[a.start_mark.index :].startswith("Type: X")


@pytest.mark.parametrize(
    ("text", "name", "expected", "hint"),
    [
        ("", "template.yaml", "template.yaml is empty", "Resources"),
        ("# only a comment\n", "template.yaml", "holds no template", "Resources"),
        ("- a\n- b\n", "template.yaml", "the template is a list, not a mapping", "Resources"),
        ("just text\n", "template.yaml", "a single value", "mapping"),
        ("Parameters: {}\n", "template.yaml", "has no Resources section", "Resources"),
        ("Resources: [a]\n", "template.yaml", "template.yaml:1: Resources must be a mapping", "Resources"),
        ("Resources:\n  A: [\n", "template.yaml", "template.yaml:3:1: invalid YAML", "fix the YAML"),
        ("Resources:\n\tA: 1\n", "template.yaml", "template.yaml:2:1: invalid YAML", "tabs"),
        ("Resources: {}\n---\nB: 1\n", "template.yaml", "invalid YAML", "one YAML document"),
        ("Resources: *nothing\n", "template.yaml", "invalid YAML", "anchor"),
        ('{"Resources": {"A": 1,}}', "template.json", "template.json:1:23: invalid JSON", "trailing commas"),
        ('{"Resources": {}, // no\n}', "template.json", "invalid JSON", "no comments"),
        ("{'Resources': {}}", "template.json", "invalid JSON", "double quotes"),
        ('{"Resources": NaN}', "template.json", "NaN is not a JSON value", "digits"),
        ("Resources: {}\nx: \x07\n", "template.yaml", "invalid YAML", "control character"),
    ],
)
def test_malformed_templates_are_refused_with_a_position_and_a_fix(text, name, expected, hint):
    e = error(text, name)
    assert expected in e.message
    assert hint in (e.hint or "")


def test_duplicate_keys_are_refused_everywhere_with_their_lines():
    e = error("Resources:\n  A:\n    Type: X\n    Type: Y\n  A: {}\nOutputs: {}\nOutputs: {}\n")
    assert e.message == "template.yaml: 3 key problems"
    assert e.problems[0].startswith("template.yaml:4:5: duplicate key 'Type' (first at line 3)")
    assert "template.yaml:5:3: duplicate key 'A' (first at line 2)" in e.problems[1]
    assert "keep one" in e.problems[2]


def test_duplicate_keys_in_json_are_refused_too():
    e = error('{"Resources": {"A": {"Type": "X"}, "A": {"Type": "Y"}}}', "t.json")
    assert "t.json:1:36: duplicate key 'A'" in e.problems[0]


def test_equal_keys_spelled_differently_are_duplicates():
    e = error("Resources: {}\n'1': a\n1: b\n")
    assert "duplicate key '1'" in e.problems[0]


def test_complex_keys_are_refused():
    e = error("Resources: {}\n? [a, b]\n: c\n")
    assert "a key is a list" in e.problems[0]


def test_anchors_and_merge_keys_load():
    doc = parse("Base: &b {Timeout: 3}\nResources:\n  A:\n    Type: X\n    Properties:\n"
                "      <<: *b\n      Other: *b\n")
    assert len(doc.shared) == 1
    props = get(get(get(doc.root, "Resources"), "A"), "Properties")
    assert isinstance(get(props, "Other"), MappingNode)


def test_deep_nesting_is_an_error_not_a_crash():
    error("Resources: " + "[" * 5000 + "]" * 5000 + "\n")
    error('{"Resources": ' + "[" * 5000 + "]" * 5000 + "}", "t.json")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: None, "no such template"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"Resources: {}\nX: \xff\xfe\n"), "template.yaml:2: not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path, setup, expected):
    path = tmp_path / "template.yaml"
    setup(path)
    with pytest.raises(ShimimgError) as info:
        load_document(path)
    assert expected in info.value.message


def test_the_pure_python_composer_agrees_with_libyaml():
    from shimimg.template import load

    def positions(node, out):
        out.append((node.tag, node.start_mark.index, node.end_mark.index))
        children = node.value if isinstance(node.value, list) else []
        for child in children:
            for n in child if isinstance(child, tuple) else (child,):
                positions(n, out)
        return out

    for path in sorted((ROOT / "tests" / "corpus").glob("*.yaml")):
        text = path.read_text()
        fast, slow = load._Loader(text).get_single_node(), load._PyLoader(text).get_single_node()
        assert positions(fast, []) == positions(slow, []), path.name

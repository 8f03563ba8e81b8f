"""Property-based tests: whatever text or template comes in, only ShimimgError comes out, and a
rewrite that succeeds is valid, stable and changes nothing SAM sees besides the package."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_template_corpus import IMAGE_KEYS, ZIP_KEYS, effective_functions
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shimimg.errors import ShimimgError
from shimimg.template import discover, parse_document, render_migrated
from shimimg.template.intrinsics import to_data
from support import ROOT

CORPUS = ROOT / "tests" / "corpus"
# Relative package paths resolve against the corpus, where some of them exist.
HERE = CORPUS / "generated.yaml"
# SHIMIMG_HYPOTHESIS_EXAMPLES=5000 for a longer hunt than the unit suite's budget allows.
SETTINGS = settings(max_examples=int(os.environ.get("SHIMIMG_HYPOTHESIS_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
STR = "tag:yaml.org,2002:str"
TAGS = ["!Ref", "!Sub", "!GetAtt", "!If", "!Join", "!Select", "!Base64", "!Tags", "!Foo", "!ImportValue"]


def run(text: str, path: Path = HERE, drop_layers: bool = False) -> str | None:
    """Load, discover and rewrite; None when the tool refused (with its own error type)."""
    try:
        doc = parse_document(text, path)
        plan = discover(doc)
        return render_migrated(doc, plan, output_path=path, drop_layers=drop_layers)
    except ShimimgError:
        return None


# ------------------------------------------------------------------------------------ raw text


@SETTINGS
@given(st.text(max_size=400), st.sampled_from(["t.yaml", "t.json", "t.template"]))
def test_any_text_gives_a_document_or_a_shimimg_error(text, name):
    run(text, CORPUS / name)


_PIECES = st.sampled_from(
    ["Resources:", "\n", "  ", "- ", ": ", "{", "}", "[", "]", ",", "!Ref ", "!GetAtt A.B", "&a ", "*a", "<<: ",
     "#", "'", '"', "|", ">", "\t", "Type: AWS::Serverless::Function", "Runtime: go1.x", "Handler: bin/x",
     "CodeUri: ./", "Properties:", "Globals:", "Function:", "---", "? ", "%YAML 1.1", "\\", "\x00", "é"]
)


@SETTINGS
@given(st.lists(_PIECES, max_size=60))
def test_template_shaped_noise(pieces):
    run("".join(pieces))


@SETTINGS
@given(
    st.sampled_from(sorted([*CORPUS.glob("*.yaml"), *CORPUS.glob("*.json")])),
    st.data(),
)
def test_mutated_corpus_templates(path, data):
    text = path.read_text()
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 20)))
        text = text[:start] + data.draw(st.one_of(st.just(""), _PIECES, st.text(max_size=5))) + text[end:]
    out = run(text, path, drop_layers=data.draw(st.booleans()))
    if out is not None:
        _assert_stable(out, path)


# ------------------------------------------------------------------------------- YAML with tags


def _scalar(value: str, tag: str | None = None) -> ScalarNode:
    return ScalarNode(tag or STR, value)


_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_leaf = st.builds(lambda v, t: _scalar(v, t), _words, st.one_of(st.none(), st.sampled_from(TAGS)))


def _tagged(children):
    seqs = st.builds(lambda items, t, f: SequenceNode(t or "tag:yaml.org,2002:seq", items, flow_style=f),
                     st.lists(children, max_size=4), st.one_of(st.none(), st.sampled_from(TAGS)), st.booleans())
    maps = st.builds(lambda pairs, t, f: MappingNode(t or "tag:yaml.org,2002:map",
                                                     [(_scalar(k), v) for k, v in pairs], flow_style=f),
                     st.lists(st.tuples(_words, children), max_size=4, unique_by=lambda kv: kv[0]),
                     st.one_of(st.none(), st.sampled_from(TAGS)), st.booleans())
    return st.one_of(seqs, maps)


_values = st.recursive(_leaf, _tagged, max_leaves=12)


@SETTINGS
@given(_values, st.sampled_from([None, "Properties", "Globals", "Function", "Runtime", "Handler", "CodeUri"]))
def test_yaml_with_random_tags(value, key):
    resources = MappingNode("tag:yaml.org,2002:map", [(_scalar("R"), value)])
    root = [(_scalar("Resources"), resources)]
    if key:
        root.append((_scalar(key), value))
    text = yaml.serialize(MappingNode("tag:yaml.org,2002:map", root), allow_unicode=True)
    run(text)


# -------------------------------------------------------------------------------- real templates


def _intrinsic(name: str, arg: str) -> Node:
    return _scalar(arg, name)


def _value(v, flow: bool | None = False, depth: int = 0, made: dict | None = None) -> Node:
    """A node tree for ``v``; ``flow=None`` alternates block and flow by depth. A dict or list that
    occurs twice becomes one node, which the serializer writes as an anchor and an alias."""
    made = {} if made is None else made
    if id(v) in made:
        return made[id(v)]
    style = (depth % 2 == 1 and depth > 1) if flow is None else flow
    if isinstance(v, Node):
        return v
    if isinstance(v, dict):
        pairs = [(_scalar(k), _value(x, flow, depth + 1, made)) for k, x in v.items()]
        made[id(v)] = MappingNode("tag:yaml.org,2002:map", pairs, flow_style=style)
        return made[id(v)]
    if isinstance(v, list):
        items = [_value(x, flow, depth + 1, made) for x in v]
        made[id(v)] = SequenceNode("tag:yaml.org,2002:seq", items, flow_style=style)
        return made[id(v)]
    if isinstance(v, bool):
        return ScalarNode("tag:yaml.org,2002:bool", "true" if v else "false")
    if isinstance(v, int):
        return ScalarNode("tag:yaml.org,2002:int", str(v))
    return _scalar(v)


# Mostly values a migration accepts, so most examples get as far as the rewrite.
RUNTIMES = st.sampled_from(["go1.x"] * 4 + ["provided.al2", "provided.al2023", "python3.12", ("!Ref", "Rt")])
HANDLERS = st.one_of(
    st.sampled_from(["bin/a", "bin/b", "./bin/c", "bin/a", "bootstrap", "x.y", "yes", "bin/d e", ("!Ref", "H")]),
    st.text(min_size=1, max_size=8).map(lambda t: "bin/" + t),
)
CODE = st.sampled_from(["packages/two/", "packages/py/", "packages/provided", "dist/a.zip", "missing dir/", "./",
                        "packages/two/", "dist/a.zip", "s3://b/k.zip", ("!Sub", "${D}/x"), {"Bucket": "b", "Key": "k"},
                        "nul\0byte", "long" * 100, "../corpus/./packages//two", "generated.yaml"])
ARCHES = st.sampled_from([["x86_64"], ["arm64"], ("!Ref", "Arch")])
EXTRA = st.sampled_from([("MemorySize", 256), ("Timeout", 30), ("Description", "d: with # hash"),
                         ("Environment", {"Variables": {"A": "1", "B": ("!Ref", "X")}}),
                         ("Tags", {"k": ("!Sub", "${AWS::Region}")}), ("Tracing", "Active")])


def _prop(v):
    if isinstance(v, tuple):
        return _intrinsic(*v)
    if isinstance(v, dict):
        return {k: _prop(x) for k, x in v.items()}
    return v


@st.composite
def templates(draw):
    glob: dict = {}
    for key, strat in [("Runtime", RUNTIMES), ("Handler", HANDLERS), ("CodeUri", CODE), ("Architectures", ARCHES),
                       ("Layers", st.just(["arn:aws:lambda:us-east-1:123456789012:layer:l:1"])),
                       ("Timeout", st.integers(1, 900))]:
        if draw(st.booleans()):
            glob[key] = _prop(draw(strat))
    resources: dict = {}
    shared: dict = {}
    for i in range(draw(st.integers(1, 5))):
        sam = draw(st.booleans())
        props: dict = {}
        # Functions mostly carry what they need; a CloudFormation one has no Globals to fall back on.
        for key, strat, odds in [("Runtime", RUNTIMES, 2), ("Handler", HANDLERS, 6), ("Architectures", ARCHES, 2)]:
            if draw(st.integers(0, odds)) > 0 or not sam:
                props[key] = _prop(draw(strat))
        if draw(st.integers(0, 6)) > 0 or not sam:
            props["CodeUri" if sam else "Code"] = _prop(draw(CODE))
        if draw(st.integers(0, 5)) == 0:
            props["Layers"] = [_prop(("!Ref", "L"))]
        for key, value in draw(st.lists(EXTRA, max_size=3, unique_by=lambda kv: kv[0])):
            props[key] = _prop(value)
        if shared and draw(st.integers(0, 4)) == 0:
            key, value = draw(st.sampled_from(sorted(shared.items())))
            props[key] = value  # the same object: an alias in YAML
        shared.update((k, v) for k, v in props.items() if isinstance(v, (dict, list)))
        resource: dict = {"Type": "AWS::Serverless::Function" if sam else "AWS::Lambda::Function"}
        if sam and glob and draw(st.booleans()):
            resource["IgnoreGlobals"] = draw(st.one_of(st.just("*"), st.lists(st.sampled_from(sorted(glob)),
                                                                              unique=True, min_size=1)))
        if props or draw(st.booleans()):
            resource["Properties"] = props
        resources[f"F{i}"] = resource
    resources["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": _intrinsic("!Sub", "q-${S}")}}
    template: dict = {"Transform": "AWS::Serverless-2016-10-31"}
    if glob:
        template["Globals"] = {"Function": glob}
    template["Resources"] = resources
    return template


def _as_json(v):
    if isinstance(v, ScalarNode):
        name = {"!Ref": "Ref"}.get(v.tag, "Fn::" + v.tag[1:])
        return {name: v.value}
    if isinstance(v, dict):
        return {k: _as_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_as_json(x) for x in v]
    return v


@SETTINGS
@given(templates(), st.sampled_from(["block", "flow", "mixed", "json", "json-tabs", "json-compact"]),
       st.booleans(), st.booleans())
def test_generated_templates_migrate_correctly_or_are_refused(template, style, drop_layers, elsewhere):
    if style.startswith("json"):
        indent = {"json": 2, "json-tabs": "\t", "json-compact": None}[style]
        text = json.dumps(_as_json(template), indent=indent)
        path = CORPUS / "generated.json"
    else:
        flow = {"block": False, "flow": True, "mixed": None}[style]
        text = yaml.serialize(_value(template, flow), width=60, allow_unicode=True)
        path = HERE
    # Written elsewhere, the relative paths that stay must be rewritten to reach the same places.
    target = CORPUS / ".shimimg" / "build" / path.name if elsewhere else path
    try:
        doc = parse_document(text, path)
        plan = discover(doc)
        out = render_migrated(doc, plan, output_path=target, drop_layers=drop_layers)
    except ShimimgError:
        return
    _assert_stable(out, target)
    before = _absolute_paths(to_data(doc.root), path.parent)
    after = _absolute_paths(to_data(parse_document(out, target).root), target.parent)
    try:
        fns_before = effective_functions(before)
    except Exception:  # the input itself is not valid SAM (e.g. IgnoreGlobals naming nothing)
        assume(False)
    fns_after = effective_functions(after)
    moved = {fn.logical_id: (pkg, fn) for pkg in plan.packages for fn in pkg.functions}
    for lid, old in fns_before.items():
        new = fns_after[lid]
        if lid not in moved:
            assert new == old
            continue
        pkg, fn = moved[lid]
        assert new["PackageType"] == "Image" and new["Architectures"] == [pkg.arch]
        assert new["ImageConfig"] == {"Command": [fn.handler]}
        dropped = ZIP_KEYS | IMAGE_KEYS
        assert {k: v for k, v in new.items() if k not in dropped} == {k: v for k, v in old.items() if k not in dropped}
        assert not {"Runtime", "Handler", "CodeUri", "Layers"} & set(new)


def _absolute_paths(data: dict, base: Path) -> dict:
    """The template with every local CodeUri/Code made absolute, to compare across directories."""

    def fix(props: dict, key: str) -> None:
        value = props.get(key)
        if isinstance(value, str) and value and "://" not in value and not value.startswith("/"):
            props[key] = os.path.normpath(base / value)

    fix(((data.get("Globals") or {}).get("Function") or {}), "CodeUri")
    for resource in data["Resources"].values():
        props = resource.get("Properties")
        if isinstance(props, dict):
            fix(props, "CodeUri" if resource.get("Type") == "AWS::Serverless::Function" else "Code")
    return data


def _assert_stable(out: str, path: Path) -> None:
    out.encode("utf-8")  # writable as it is
    again = parse_document(out, path)
    plan = discover(again)
    assert plan.packages == ()
    assert render_migrated(again, plan, output_path=path) == out

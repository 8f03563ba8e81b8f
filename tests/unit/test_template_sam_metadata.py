"""``render_migrated(sam_build=...)``: the Metadata ``migrate --sam-build`` gives every function of
a package instead of an ImageUri, written where SAM reads it, with SAM's Go builder keys gone and
other Metadata kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from shimimg.template import discover, load_document, render_migrated
from shimimg.template.intrinsics import to_data
from shimimg.template.load import parse_document
from support import ROOT

META = {"Dockerfile": ".shimimg/sam-build/gometa/Dockerfile", "DockerContext": ".", "DockerTag": "gometa"}


def test_every_function_of_the_package_gets_the_same_metadata_and_no_image_uri(tmp_path):
    path = tmp_path / "template.yaml"
    shutil.copy(ROOT / "tests" / "corpus" / "go_build_metadata.yaml", path)
    doc = load_document(path)
    plan = discover(doc, arch="arm64")
    [pkg] = plan.packages
    text = render_migrated(doc, plan, output_path=path, sam_build={pkg.path: META})
    resources = to_data(parse_document(text, Path("t.yaml")).root)["Resources"]
    for name in ("OnlyBuildFunction", "SharedMetadataFunction", "FlowFunction"):
        res = resources[name]
        assert res["Properties"]["PackageType"] == "Image"
        assert "ImageUri" not in res["Properties"], name
        assert res["Properties"]["ImageConfig"]["Command"][0].startswith("bin/")
        meta = res["Metadata"]
        assert {k: meta[k] for k in META} == META, name
        assert "BuildMethod" not in meta and "BuildProperties" not in meta
    assert resources["SharedMetadataFunction"]["Metadata"]["Owner"] == "payments-team"


def test_a_function_without_metadata_gets_it_after_its_properties(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
                    "    Properties:\n      Runtime: go1.x\n      Handler: bin/fn\n      CodeUri: src/\n"
                    "  Other:\n    Type: AWS::SQS::Queue\n")
    doc = load_document(path)
    plan = discover(doc, arch="arm64")
    text = render_migrated(doc, plan, output_path=path, sam_build={plan.packages[0].path: META})
    fn = to_data(parse_document(text, Path("t.yaml")).root)["Resources"]["Fn"]
    assert fn["Metadata"] == META and list(fn) == ["Type", "Properties", "Metadata"]
    assert fn["Properties"] == {"PackageType": "Image", "ImageConfig": {"Command": ["bin/fn"]},
                                "Architectures": ["arm64"]}

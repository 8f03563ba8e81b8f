"""Which main package serves each handler: the rules and their order, with go list's answers as data."""

import dataclasses
from pathlib import Path

import pytest

from shimimg.gobuild.resolve import (
    RULE_CMD,
    RULE_CODEURI_MAIN,
    RULE_NAMED,
    RULE_PACKAGE_MAP,
    RULE_TEMPLATE_MAP,
    Listing,
    Request,
    check_mapping,
    mapping_hint,
    resolve,
    shared_across_main_codeuris,
)


def listing(root: Path, mains=(), libs=(), excluded=()) -> Listing:
    entries = []
    for rel in mains:
        (root / rel).mkdir(parents=True, exist_ok=True)
        entries.append({"Dir": str(root / rel), "ImportPath": f"example.com/m/{rel}".rstrip("/."), "Name": "main"})
    for rel in libs:
        (root / rel).mkdir(parents=True, exist_ok=True)
        entries.append({"Dir": str(root / rel), "ImportPath": f"example.com/m/{rel}", "Name": "lib"})
    for rel in excluded:
        (root / rel).mkdir(parents=True, exist_ok=True)
        entries.append({"Dir": str(root / rel), "ImportPath": f"example.com/m/{rel}", "Name": "",
                        "IgnoredGoFiles": ["main.go"],
                        "Error": {"Err": f"build constraints exclude all Go files in {root / rel}"}})
    return Listing.of(root, entries)


def request(root: Path, code_uri="./", handlers=(("bin/a", "A"),), package_map=None, template_map=None) -> Request:
    return Request(code_uri=code_uri, path=(root / code_uri).resolve(), handlers=tuple(handlers),
                   package_map=package_map or {}, template_map=template_map or {},
                   package_table=f'[packages."{code_uri}".handlers]', template_table="[handlers]",
                   config_name="shimimg.toml")


def rules(items):
    return [(r.handler, r.rule, r.import_path) for r in items]


def test_cmd_name_below_the_codeuri_then_the_module_root(tmp_path):
    lst = listing(tmp_path, mains=["cmd/a", "svc/cmd/b", "cmd/b"])
    got, problems = resolve(request(tmp_path, "svc/", handlers=[("bin/a", "A"), ("bin/b", "B")]), lst,
                            config_file="shimimg.toml")
    assert problems == []
    assert rules(got) == [("bin/a", RULE_CMD, "example.com/m/cmd/a"), ("bin/b", RULE_CMD, "example.com/m/svc/cmd/b")]


def test_the_codeuri_main_package_serves_every_handler_whatever_its_name(tmp_path):
    lst = listing(tmp_path, mains=["hello", "cmd/bootstrap"])
    got, problems = resolve(request(tmp_path, "hello/", handlers=[("bootstrap", "A"), ("main", "B")]), lst,
                            config_file="x")
    assert problems == []
    assert rules(got) == [("bootstrap", RULE_CODEURI_MAIN, "example.com/m/hello"),
                          ("main", RULE_CODEURI_MAIN, "example.com/m/hello")]


def test_precedence_package_mapping_codeuri_main_template_mapping_cmd_named(tmp_path):
    lst = listing(tmp_path, mains=["svc", "other", "cmd/c", "functions/d", "mapped"])
    req = request(tmp_path, "svc/", handlers=[("bin/a", "A"), ("bin/b", "B")],
                  package_map={"bin/a": "./mapped"}, template_map={"bin/b": "./other"})
    got, _ = resolve(req, lst, config_file="shimimg.toml")
    # The CodeUri is a main package: it beats the template-wide mapping, not the per-package one.
    assert rules(got) == [("bin/a", RULE_PACKAGE_MAP, "example.com/m/mapped"),
                          ("bin/b", RULE_CODEURI_MAIN, "example.com/m/svc")]
    req = request(tmp_path, "./", handlers=[("bin/b", "B"), ("bin/c", "C"), ("bin/d", "D")],
                  template_map={"bin/b": "./other", "bin/c": "./other"})
    got, _ = resolve(req, lst, config_file="shimimg.toml")
    assert rules(got) == [("bin/b", RULE_TEMPLATE_MAP, "example.com/m/other"),
                          ("bin/c", RULE_TEMPLATE_MAP, "example.com/m/other"),
                          ("bin/d", RULE_NAMED, "example.com/m/functions/d")]


def test_a_main_in_a_cmd_folder_named_like_the_binary_counts(tmp_path):
    lst = listing(tmp_path, mains=["services/beta/cmd"])
    got, problems = resolve(request(tmp_path, handlers=[("bin/beta", "B")]), lst, config_file="x")
    assert problems == [] and rules(got) == [("bin/beta", RULE_NAMED, "example.com/m/services/beta/cmd")]


def test_several_mains_named_alike_are_refused_listing_them(tmp_path):
    lst = listing(tmp_path, mains=["tools/gamma", "functions/gamma"])
    got, problems = resolve(request(tmp_path, handlers=[("bin/gamma", "G")]), lst, config_file="x")
    assert got == []
    assert problems == ["bin/gamma (G): several main packages are named gamma: ./functions/gamma, ./tools/gamma; "
                        "map it to one"]


def test_every_unresolved_handler_is_listed_with_the_table_to_paste(tmp_path):
    lst = listing(tmp_path, mains=["cmd/a"], libs=["internal/x"])
    req = request(tmp_path, handlers=[("bin/a", "A"), ("bin/x", "X1, X2"), ("bin/y", "Y")])
    got, problems = resolve(req, lst, config_file="shimimg.toml")
    assert rules(got) == [("bin/a", RULE_CMD, "example.com/m/cmd/a")]
    assert [p.split(":")[0] for p in problems] == ["bin/x (X1, X2)", "bin/y (Y)"]
    hint = mapping_hint(req, ["bin/x", "bin/y"], lst)
    # Never another handler's main: a placeholder that cannot resolve when pasted as shown.
    assert '[packages."./".handlers]\n    "bin/x" = "./path/to/x"\n    "bin/y" = "./path/to/y"' in hint
    assert "main packages in the module: ./cmd/a" in hint


def test_the_table_to_paste_names_only_the_one_main_named_like_the_binary(tmp_path):
    # Mains named like the binary but not where the rules look (tools/x and tools/y/cmd are
    # found by rule 5 only when unique); two mains named z: a placeholder.
    lst = listing(tmp_path, mains=["cmd/authorizer", "svc/x", "one/z", "two/z"])
    req = request(tmp_path, handlers=[("bin/x", "X"), ("bin/z", "Z"), ("bin/w", "W")])
    hint = mapping_hint(req, ["bin/x", "bin/z", "bin/w"], lst)
    assert '"bin/x" = "./svc/x"' in hint
    assert '"bin/z" = "./path/to/z"' in hint and '"bin/w" = "./path/to/w"' in hint
    assert '= "./cmd/authorizer"' not in hint
    pasted = {"bin/x": "./svc/x", "bin/z": "./path/to/z", "bin/w": "./path/to/w"}
    for value in pasted.values():
        target, _ = check_mapping(value, lst)
        assert target is None or target.name == "x"


def test_a_main_named_like_the_binary_serves_a_codeuri_that_does_not_exist(tmp_path):
    lst = listing(tmp_path, mains=["functions/alpha"])
    req = request(tmp_path, handlers=[("bin/alpha", "A")])
    req = dataclasses.replace(req, path=tmp_path / "dist")  # the Makefile's output folder, not built yet
    got, problems = resolve(req, lst, config_file="x")
    assert problems == [] and rules(got) == [("bin/alpha", RULE_NAMED, "example.com/m/functions/alpha")]


@pytest.mark.parametrize("value,why", [
    ("-toolexec=./x", "starts with '-'"),
    ("/etc", "is absolute"),
    ("./../outside", "leads outside the module"),
    ("./internal/x", "is not a main package"),
    ("./nowhere", "is not a folder in the module"),
    ("./cmd/a\nRUN", "control characters"),
    ("", "is empty"),
])
def test_mapping_values_are_paths_to_main_packages_inside_the_module(tmp_path, value, why):
    root = tmp_path / "mod"
    (tmp_path / "outside").mkdir()
    lst = listing(root, mains=["cmd/a"], libs=["internal/x"])
    target, reason = check_mapping(value, lst)
    assert target is None and why in reason


def test_a_mapping_without_a_leading_dot_slash_is_relative_to_the_module_root(tmp_path):
    lst = listing(tmp_path, mains=["cmd/a"])
    assert check_mapping("cmd/a", lst) == (tmp_path / "cmd/a", "")


def test_a_mapping_through_a_link_out_of_the_module_is_refused(tmp_path):
    root = tmp_path / "mod"
    (tmp_path / "outside").mkdir()
    lst = listing(root, mains=["cmd/a"])
    (root / "escape").symlink_to(tmp_path / "outside")
    assert "outside the module" in check_mapping("./escape", lst)[1]


def test_a_refused_mapping_names_the_table_and_file(tmp_path):
    lst = listing(tmp_path, mains=["cmd/a"])
    req = request(tmp_path, handlers=[("bin/a", "A")], template_map={"bin/a": "-toolexec=./x"})
    got, problems = resolve(req, lst, config_file="/repo/pyproject.toml")
    assert got == []
    assert problems == ["bin/a (A): the mapping [handlers] \"bin/a\" = '-toolexec=./x' in /repo/pyproject.toml is "
                        "refused: it starts with '-' (a mapping is a path, never a flag)"]


def test_tag_excluded_mains_are_reported_as_such(tmp_path):
    lst = listing(tmp_path, excluded=["cmd/a", "fn"])
    _, problems = resolve(request(tmp_path, handlers=[("bin/a", "A")]), lst, config_file="x")
    assert problems == ["bin/a (A): ./cmd/a holds Go files, but the build tags exclude all of them"]
    _, problems = resolve(request(tmp_path, "fn/", handlers=[("main", "F")]), lst, config_file="x")
    assert problems == ["main (F): the CodeUri fn/ holds Go files that the build tags exclude"]


def test_one_main_serving_functions_of_packages_whose_codeuris_are_mains_is_refused(tmp_path):
    lst = listing(tmp_path, mains=["put", "get", "shared"])
    put = request(tmp_path, "put/", handlers=[("bootstrap", "Put")], package_map={"bootstrap": "./shared"})
    get = request(tmp_path, "get/", handlers=[("bootstrap", "Get")], package_map={"bootstrap": "./shared"})
    resolved = {r.code_uri: resolve(r, lst, config_file="x")[0] for r in (put, get)}
    problems = shared_across_main_codeuris(resolved, {"put/": put.path, "get/": get.path})
    assert len(problems) == 2
    assert problems[0].startswith("put/ bootstrap: the CodeUri is a main package, but example.com/m/shared")
    # Each CodeUri serving its own functions is the normal case.
    own = {r.code_uri: resolve(request(tmp_path, r.code_uri, handlers=[("bootstrap", "F")]), lst,
                               config_file="x")[0] for r in (put, get)}
    assert shared_across_main_codeuris(own, {"put/": put.path, "get/": get.path}) == []

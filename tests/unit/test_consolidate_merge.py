"""--consolidate's names and merging, with go's answers given as data."""

from __future__ import annotations

from shimimg.gobuild import Module, PackageSources
from shimimg.gobuild.resolve import RULE_CODEURI_MAIN, Resolved
from shimimg.plan.consolidate import consolidate, names
from shimimg.plan.records import Function, Package, Plan


def test_binary_names_are_folder_names_made_unique_by_path(tmp_path):
    root = tmp_path
    mains = [root / "functions" / "hello", root / "more" / "hello", root / "jobs" / "resize" / "cmd", root / "orders",
             root]
    got = names(mains, root)
    assert got[root / "functions" / "hello"] == "functions-hello" and got[root / "more" / "hello"] == "more-hello"
    assert got[root / "jobs" / "resize" / "cmd"] == "resize"  # a cmd folder takes its parent's name
    assert got[root / "orders"] == "orders" and got[root] == root.name
    assert len(set(got.values())) == len(mains)


def test_a_path_name_that_meets_a_plain_name_is_still_unique(tmp_path):
    mains = [tmp_path / "a" / "x", tmp_path / "b" / "x", tmp_path / "a-x"]
    got = names(mains, tmp_path)
    assert len(set(got.values())) == 3


def _fn(logical_id: str, handler: str = "bootstrap", **kw) -> Function:
    return Function(logical_id, "AWS::Serverless::Function", handler, kw.pop("runtime", "provided.al2"),
                    go_bootstrap=handler == "bootstrap", **kw)


def test_packages_of_one_module_merge_and_the_rest_stay(tmp_path):
    root = tmp_path / "mod"
    a, b = root / "fa", root / "fb"
    zip_pkg = Package("z.zip", tmp_path / "z.zip", "zip", "shimimg/z:latest", "arm64", (_fn("Z", "bin/z"),))
    pa = Package("mod/fa/", a, "dir", "shimimg/mod-fa:latest", "arm64", (_fn("A"),))
    pb = Package("mod/fb/", b, "dir", "shimimg/mod-fb:latest", "arm64", (_fn("B"), _fn("B2")))
    plan = Plan(tmp_path / "template.yaml", (zip_pkg, pa, pb))
    module = Module(root, {"GOWORK": ""})

    def ps(code_uri, main, left=()):
        handlers = (Resolved("bootstrap", "bootstrap", main, f"m/{main.name}", RULE_CODEURI_MAIN, "why"),) \
            if main else ()
        return PackageSources(code_uri, module, handlers, {}, left=left)

    found = {a: ps("mod/fa/", a), b: ps("mod/fb/", b)}
    new, merges = consolidate(plan, {zip_pkg.path: None, a: module, b: module}, found)
    assert [p.code_uri for p in new.packages] == ["z.zip", "mod/"]
    merged = new.packages[1]
    assert [(f.logical_id, f.handler) for f in merged.functions] == [("A", "bin/fa"), ("B", "bin/fb"),
                                                                      ("B2", "bin/fb")]
    assert [(h, m) for h, m, _ in merged.mapping] == [("bin/fa", "./fa"), ("bin/fb", "./fb")]
    assert merged.merged == ("mod/fa/", "mod/fb/") and merged.path == root
    assert (merges[0].functions, merges[0].binaries, merges[0].workspace) == (3, 2, False)
    # A bootstrap no main serves is left alone, with the reason resolution gave.
    found[b] = ps("mod/fb/", None, left=(("bootstrap", "mod/fb/ is not a main package"),))
    new, _ = consolidate(plan, {zip_pkg.path: None, a: module, b: module}, found)
    assert [(u.logical_id, u.reason) for u in new.untouched] == [("B", "mod/fb/ is not a main package"),
                                                                 ("B2", "mod/fb/ is not a main package")]

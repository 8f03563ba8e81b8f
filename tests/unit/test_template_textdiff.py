from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from shimimg.template.textdiff import opcodes, unified_diff

_lines = st.lists(st.sampled_from(["a\n", "b\n", "Properties:\n", "x: 1\n", "y: 2\n", "\n", "z"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_lines, _lines)
def test_opcodes_turn_one_text_into_the_other(a, b):
    rebuilt: list[str] = []
    for tag, i1, i2, j1, j2 in opcodes(a, b):
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
        rebuilt += b[j1:j2]
    assert rebuilt == b


def test_a_small_change_in_a_large_template_is_found_fast():
    old = "".join(f"  F{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: bin/f{i}\n"
                  for i in range(5000))
    new = old.replace("      Handler: bin/f", "      PackageType: Image\n      ImageConfig: {Command: [bin/f")
    started = time.perf_counter()
    diff = unified_diff(old, new, "a", "b")
    # Quadratic diffing took minutes here; linear takes well under a second. The bound only
    # catches the former, also on a loaded machine.
    assert time.perf_counter() - started < 30
    assert diff.count("\n-      Handler:") == 5000
    assert "\n-    Properties:" not in diff


def test_format_matches_difflib_for_a_plain_change():
    import difflib

    old, new = "a\nb\nc\nd\n", "a\nB\nc\nd\ne\n"
    ours = unified_diff(old, new, "x", "y")
    theirs = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "x", "y"))
    assert ours == theirs

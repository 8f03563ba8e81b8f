from pathlib import Path

import pytest

from shimimg.errors import ShimimgError
from shimimg.template.load import parse_document


def _nested(levels: int, fan: int = 10) -> str:
    lines = ["Resources:", '  A0: &a0 ["lolololololololololololol"]']
    lines += [f"  A{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_aliases_used_as_intended_load():
    parse_document(_nested(3), Path("t.yaml"))


def test_an_alias_bomb_is_refused_by_what_it_expands_to():
    with pytest.raises(ShimimgError, match=r"t.yaml:\d+: YAML aliases here expand to more than 64 MiB"):
        parse_document(_nested(12), Path("t.yaml"))

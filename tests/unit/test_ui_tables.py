"""Tables narrower than the terminal, and --quiet (issue 20)."""

import io
import re

from rich.console import Console

from shimimg import ui

ROWS = [["CreateOrderFunctionWithAVeryLongLogicalIdentifier", "bin/create_order",
         "shimimg/orders-service-with-a-long-name:0123456789abcdef0123", "5 compiled, 0 unchanged"],
        ["GetOrderFunction", "bin/get_order", "shimimg/orders-service-with-a-long-name:0123456789abcdef0123",
         "5 compiled, 0 unchanged"]]
HEADERS = ["FUNCTION", "HANDLER", "IMAGE", "BINARIES"]


def render(width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), highlight=False, no_color=True)
    console.print(ui.table(ROWS, HEADERS))
    return console.file.getvalue().splitlines()


def test_a_narrow_terminal_truncates_or_wraps_but_never_splits_a_name():
    for width in (60, 80, 100):
        lines = render(width)
        assert all(len(line) <= width for line in lines), (width, lines)
        words = " ".join(lines).split()
        for row in ROWS:
            for cell in row:
                for name in cell.split():
                    # Whole, or cut short with an ellipsis: never its tail on another line.
                    assert name in words or any(w.endswith("…") and name.startswith(w[:-1]) for w in words), \
                        (width, name, lines)
        assert "HANDLER" in words and "BINARIES" in words
        if width >= 100:
            assert "GetOrderFunction" in words


def test_a_wide_terminal_shows_every_cell_whole():
    text = "\n".join(render(250))
    assert all(cell in text for row in ROWS for cell in row) and "…" not in text


def test_quiet_prints_the_result_lines_only(capsys):
    try:
        ui.setup(quiet=True)
        ui.print_table(ROWS, HEADERS, summary=True)
        ui.print_result("template: .aws-sam/build/template.yaml")
        out = capsys.readouterr().out
        assert out == "template: .aws-sam/build/template.yaml\n"
        ui.print_table([["a", "b"]], ["X", "Y"])  # a table that is the result (plan, doctor) stays
        assert re.search(r"X +Y", capsys.readouterr().out)
    finally:
        ui.setup()

"""The scaling figure: cold, no-op and one-change medians over N side by side, with the cost of
each handler added ("Scaling with N" in docs/benchmarks.md).
"""

from __future__ import annotations

from benchlib import Options


def scaling(results: list, opts: Options) -> list:
    if len(results) < 2:
        return []
    lines = [
        "## Scaling with N",
        "",
        "Medians from the tables above; \"s/handler\" is the cost of each handler added since the row "
        "before: (t(N) - t(N before)) / (N - N before).",
        "",
    ]
    for title, keys in (
        ("Cold build", ("shimimg_cold", "pf_cold", "naive_cold")),
        ("No-op rebuild", ("shimimg_noop", "pf_noop", "naive_noop")),
        ("One handler changed", ("shimimg_change", "pf_change", "naive_change")),
    ):
        lines += [
            f"### {title}",
            "",
            "| N | shimimg | s/handler | per-function images | s/handler | naive single layer | s/handler |",
            "|---|---|---|---|---|---|---|",
        ]
        prev = None
        for r in results:
            cells = [str(r["n"])]
            for k in keys:
                fig = r["fig"][k]
                if not fig:
                    cells += [f"skipped (N > {opts.per_function_max})", ""]
                    continue
                val = f"{fig.median:.2f} s" + (" (1 run)" if len(fig.samples) == 1 and opts.runs > 1 else "")
                per = ""
                if prev is not None and prev["fig"][k]:
                    per = f"{(fig.median - prev['fig'][k].median) / (r['n'] - prev['n']):+.3f}"
                cells += [val, per]
            lines.append("| " + " | ".join(cells) + " |")
            prev = r
        lines.append("")
    return lines


"""Render the image's Dockerfile from dockerfiles/image/Dockerfile.tmpl."""

from __future__ import annotations

import json
from collections.abc import Mapping
from string import Template

from shimimg.image.context import Context
from shimimg.resources import dockerfile_template


def render(ctx: Context, *, base: str, package: str, labels: Mapping[str, str], link: bool) -> str:
    """``link=False`` is for engines without ``COPY --link`` (BuildKit < 0.10): still correct, but
    every layer after a changed one changes too."""
    flag = "--link " if link else ""
    copies = "\n".join(f"COPY {flag}{layer.folder}/ /" for layer in ctx.layers)
    label_lines = "\n".join(f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in sorted(labels.items()))
    text = Template(dockerfile_template().read_text()).substitute(
        base=base, copies=copies, labels=label_lines, package=package
    )
    return text

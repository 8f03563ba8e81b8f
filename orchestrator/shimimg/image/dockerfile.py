"""Render the image's Dockerfile from dockerfiles/image/Dockerfile.tmpl.

Values from the template, the repository's config and git (the package's CodeUri, handler names,
labels) are untrusted: each is checked to hold no control character (a line break would start a
new instruction) and written quoted and escaped, so it stays one value of one line. The base
image is a reference checked against docker's grammar (``shimimg.reference``); COPY sources are
content-hash folder names shimimg made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from string import Template

from shimimg import reference
from shimimg.errors import ShimimgError
from shimimg.image.context import Context
from shimimg.resources import dockerfile_template

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_FOLDER = re.compile(r"l-[0-9a-f]{24}")


def _value(text: str, what: str) -> str:
    """A double-quoted Dockerfile word: quotes, backslashes and ``$`` (variable expansion) escaped."""
    if _CONTROL.search(text):
        raise ShimimgError(f"{what} {text!r} holds a control character (a line break?), which cannot go into "
                           "an image label", hint="rename it in the template or repository")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render(ctx: Context, *, base: str, package: str, labels: Mapping[str, str], link: bool) -> str:
    """``link=False`` is for engines without ``COPY --link`` (BuildKit < 0.10): still correct, but
    every layer after a changed one changes too."""
    if reference.parse(base) is None:
        raise ShimimgError(f"base image {base!r} is not an image reference",
                           hint="give --base-image a reference such as public.ecr.aws/lambda/provided:al2")
    for layer in ctx.layers:
        if not _FOLDER.fullmatch(layer.folder):
            raise AssertionError(f"unexpected context folder {layer.folder!r}")
    flag = "--link " if link else ""
    copies = "\n".join(f"COPY {flag}{layer.folder}/ /" for layer in ctx.layers)
    label_lines = "\n".join(f"LABEL {_value(k, 'label')}={_value(v, 'label ' + k)}" for k, v in sorted(labels.items()))
    # In a comment, as JSON: escapes line breaks, so nothing after it can become an instruction.
    shown = json.dumps(package, ensure_ascii=True)
    return Template(dockerfile_template().read_text()).substitute(base=base, copies=copies, labels=label_lines,
                                                                 package=shown)

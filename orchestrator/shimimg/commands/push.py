"""``shimimg push`` (and ``shimimg build --push``): build, push each package image once, and write
the template with every function pinned to ``repository@sha256:...``.

The template is written only after every push of the run succeeded, so a pipeline never deploys
a template that names an image the registry does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shimimg import config, registry, ui
from shimimg.commands.build import build_images, write_template

log = logging.getLogger("shimimg.push")


def summary(pushed: Sequence[registry.Pushed], output: Path) -> dict:
    return {
        "template": str(output),
        "images": [
            {
                "package": p.package.code_uri,
                "repository": p.repository.uri,
                "tags": list(p.tags),
                "digest": p.digest,
                "image_uri": p.image_uri,
                "layers": p.layers,
                "layers_pushed": p.layers_pushed,
                "layers_mounted": p.layers_mounted,
                "bytes_pushed": p.bytes_pushed,
                "functions": [f.logical_id for f in p.package.functions],
            }
            for p in pushed
        ],
    }


def run(
    *,
    template: Path,
    output: Path | None,
    flags: Mapping[str, Any],
    repositories: Sequence[str],
    tags: Sequence[str] = (),
    force: bool = False,
    create_repository: bool = False,
    registry_endpoint: str | None = None,
    retries: int = 3,
    as_json: bool = False,
) -> int:
    base = template.resolve().parent
    # Everything that can be refused without a build is refused before it.
    default, per_package = registry.parse_specs(repositories)
    named = [r for r in (default, *per_package.values()) if r is not None]
    registry.require_ecr_support(named)
    registry.check_tags(tags)
    endpoint = registry.parse_endpoint(registry_endpoint)
    settings = config.load(base, flags)
    registry.prepare(named, create=create_repository)

    doc, result = build_images(template, settings)
    targets = registry.assign(result.plan.packages, repositories, base=base)
    pushed = registry.push_all(
        result.images, targets, tags=tags, force=force, create_repository=create_repository,
        endpoint=endpoint, retries=retries,
    )

    out = write_template(doc, result.plan, {p.package.path: p.image_uri for p in pushed}, settings, template, output)

    data = summary(pushed, out)
    if as_json:
        ui.print_json(data)
        return 0
    rows = [
        [p.package.code_uri, p.image_uri, f"{p.layers_pushed}/{p.layers}", registry.human_bytes(p.bytes_pushed)]
        for p in pushed
    ]
    print(ui.table(rows, ["PACKAGE", "IMAGE", "LAYERS PUSHED", "BYTES PUSHED"]))
    print(f"\ntemplate: {out}")
    return 0

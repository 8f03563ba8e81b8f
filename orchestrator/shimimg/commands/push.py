"""``shimimg push`` (and ``shimimg build --push``): build, push each package image once, and write
the template with every function pinned to ``repository@sha256:...``.

Repositories are checked (and ECR logged in to) before anything is built, so missing credentials
stop a pipeline in seconds. With a builder that is not the local engine (a remote BuildKit), the
builder pushes each image straight to the registry; otherwise the engine pushes what it holds.
The template is written only after every push of the run succeeded, so a pipeline never deploys
a template that names an image the registry does not hold.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from shimimg import dockercli, registry, ui
from shimimg.commands import output as outmod
from shimimg.commands import samargs
from shimimg.commands.build import build_images
from shimimg.commands.planning import load_plan, select
from shimimg.commands.schema import push_document
from shimimg.config import Settings
from shimimg.registry import ecr
from shimimg.samconfig import Deploy

log = logging.getLogger("shimimg.push")


def run(*, template: Path, output: Path | None, settings: Settings, packages: Sequence[str] = (),
        repositories: Sequence[str], tags: Sequence[str] = (), force: bool = False, create_repository: bool = False,
        as_json: bool = False, deploy: Deploy | None = None) -> int:
    """``deploy``: SAM's deploy options (--image-repository(ies), --region, --profile, samconfig)."""
    base = template.resolve().parent
    deploy = deploy or Deploy()
    if "unpack" not in settings.sources:
        # A pushed image need not run here: unpacking it would only cost time (a later build
        # unpacks it once, from the same cache entry, if `sam local` is wanted).
        settings = replace(settings, unpack=False)
    # Everything that can be refused without a build is refused before it.
    outmod.check(template, output, "pinned")
    registry.check_tags(tags)
    doc, plan = load_plan(template, settings)
    repositories = samargs.repository_specs(repositories, deploy, plan)
    registry.parse_specs(repositories)
    samargs.check_region(repositories, deploy.region)
    selected = select(plan, packages)
    repos = registry.assign(selected, repositories, base=base)
    client = functools.partial(ecr.ecr_client, profile=deploy.profile) if deploy.profile else ecr.ecr_client
    from_builder = settings.builder is not None and not dockercli.buildx(settings.builder).local
    with registry.connect(list(repos.values()), endpoint=settings.registry_endpoint, create=create_repository,
                          timeout=settings.timeout, retries=settings.retries, ecr_client=client) as conns:
        targets = {path: conns[repo] for path, repo in repos.items()}
        _, result = build_images(template, settings, only=packages, push_to=targets if from_builder else None,
                                 loaded=(doc, plan), for_push=True)
        def namer(img, refs):
            # The builder pushes the image again (from its cache) under these names.
            _, again = build_images(template, settings, only=[img.package.code_uri], loaded=(doc, plan),
                                    push_to={img.package.path: targets[img.package.path]},
                                    push_names={img.package.path: refs}, for_push=True)
            return again.images[0].digest

        pusher = registry.Pusher(retries=settings.retries, timeout=settings.timeout, namer=namer)
        pushed = registry.push_all(result.images, targets, tags=tags, force=force, pusher=pusher,
                                   builder_pushed=result.builder_pushed)
    out = outmod.write_template(doc, result.plan, {p.package.path: p.image_uri for p in pushed}, settings, template,
                                output, kind="pinned")
    if as_json:
        ui.print_json(push_document(result, pushed, out, template=template))
        return 0
    def shown(n, fmt=str):
        return "?" if n is None else fmt(n)

    rows = [[p.package.code_uri, p.image_uri, f"{shown(p.stats.layers_pushed)}/{p.stats.layers}",
             shown(p.stats.layers_mounted), shown(p.stats.bytes_pushed, registry.human_bytes)] for p in pushed]
    ui.print_table(rows, ["PACKAGE", "IMAGE", "LAYERS PUSHED", "MOUNTED", "BYTES PUSHED"], summary=True)
    ui.print_result(f"template: {out}")
    return 0

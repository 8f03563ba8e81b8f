"""SAM's deploy options (``--image-repository``, ``--image-repositories``, ``--region``,
``--profile`` and samconfig's deploy table) turned into shimimg's repository specs: one image per
package, so ``Function=URI`` names the repository of that function's package."""

from __future__ import annotations

from collections.abc import Sequence

from shimimg.errors import ShimimgError
from shimimg.plan.records import Plan
from shimimg.registry import parse_repository
from shimimg.samconfig import Deploy


def repository_specs(repository: Sequence[str], deploy: Deploy, plan: Plan) -> list[str]:
    """``--repository`` values plus what SAM's options add: ``URI`` for every package,
    ``CODEURI=URI`` for one."""
    specs = list(repository)
    if deploy.image_repository:
        if any("=" not in s for s in specs):
            raise ShimimgError(f"--repository and --image-repository both name the repository of every package "
                               f"({next(s for s in specs if '=' not in s)}, {deploy.image_repository})",
                               hint="give one of them")
        specs.append(deploy.image_repository)
    by_function = {fn.logical_id: pkg for pkg in plan.packages for fn in pkg.functions}
    chosen: dict[str, tuple[str, str]] = {}  # code_uri → (function, URI)
    problems = []
    for name, uri in deploy.image_repositories.items():
        pkg = by_function.get(name)
        if pkg is None:
            problems.append(f"--image-repositories {name}=...: {name} is not a Go function shimimg moves "
                            f"(functions: {', '.join(sorted(by_function))})")
            continue
        earlier = chosen.get(pkg.code_uri)
        if earlier and earlier[1] != uri:
            problems.append(f"{earlier[0]} and {name} share package {pkg.code_uri} (one image) but name two "
                            f"repositories: {earlier[1]}, {uri}")
            continue
        chosen[pkg.code_uri] = (name, uri)
    if problems:
        raise ShimimgError("cannot use --image-repositories", problems=problems,
                           hint="name one repository per package: functions sharing a CodeUri share one image")
    specs += [f"{code_uri}={uri}" for code_uri, (_, uri) in chosen.items()]
    return specs


def check_region(specs: Sequence[str], region: str | None) -> None:
    """An ECR repository's URI names its region; a --region (or samconfig region) that says
    otherwise is a mistake to stop on, not to guess about."""
    if not region:
        return
    for spec in specs:
        uri = spec.split("=", 1)[-1]
        repo = parse_repository(uri)
        if repo.is_ecr and repo.region != region:
            raise ShimimgError(f"repository {repo.uri} is in {repo.region}, but the region is {region}",
                               hint="push to a repository of that region, or give the region of the repository")

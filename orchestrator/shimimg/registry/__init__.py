"""Registries: where each package goes (``refs``), logging in to ECR (``ecr``, ``credentials``),
moving bytes with bounded waits (``transport``), talking to one registry (``pusher``), one image
into its repository (``landing``), every package's image (``push``), and what to say when it fails
(``messages``). Imports run one way: push → landing → pusher."""

from shimimg.registry.landing import human_bytes
from shimimg.registry.push import Pushed, push_all
from shimimg.registry.pusher import Pusher, Stats, Target, connect
from shimimg.registry.refs import Repository, assign, check_tags, content_tag, parse_repository, parse_specs

__all__ = ["Pushed", "Pusher", "Repository", "Stats", "Target", "assign", "check_tags", "connect", "content_tag",
           "human_bytes", "parse_repository", "parse_specs", "push_all"]

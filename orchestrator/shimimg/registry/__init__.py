"""Registries: where each package goes (``refs``), logging in to ECR (``ecr``, ``credentials``),
moving bytes with bounded waits (``transport``), the push protocol (``push``, ``landing``) and
what to say when it fails (``messages``)."""

from shimimg.registry.landing import human_bytes
from shimimg.registry.push import Pushed, Pusher, Stats, Target, connect, push_all
from shimimg.registry.refs import Repository, assign, check_tags, content_tag, parse_repository, parse_specs

__all__ = ["Pushed", "Pusher", "Repository", "Stats", "Target", "assign", "check_tags", "connect", "content_tag",
           "human_bytes", "parse_repository", "parse_specs", "push_all"]

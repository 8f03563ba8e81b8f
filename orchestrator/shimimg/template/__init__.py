"""The template engine: load a SAM/CloudFormation template, discover its Go functions, rewrite it.

    doc = load_document(Path("template.yaml"))
    plan = discover(doc, arch="arm64")
    text = render_migrated(doc, plan, output_path=Path(".aws-sam/build/template.yaml"))

Every failure the user can fix is a ``ShimimgError``.
"""

from shimimg.template.discovery import discover
from shimimg.template.document import Document
from shimimg.template.load import load_document, parse_document
from shimimg.template.rewrite import check_migratable, render_migrated

__all__ = ["Document", "check_migratable", "discover", "load_document", "parse_document", "render_migrated"]

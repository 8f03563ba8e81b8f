"""Everything about Go: the only package that runs ``go`` (``gocmd``), deciding which main package
serves each handler (``resolve``), keying binaries by exactly their inputs (``closure``), noticing
cheaply that nothing changed (``stamp``), and compiling (``compile``)."""

from shimimg.gobuild.compile import compile_mains
from shimimg.gobuild.gocmd import BuildEnv, before_each_run
from shimimg.gobuild.resolve import Request, Resolved
from shimimg.gobuild.sources import Module, PackageSources, find_module, group, sources

__all__ = ["BuildEnv", "Module", "PackageSources", "Request", "Resolved", "before_each_run", "compile_mains",
           "find_module", "group", "sources"]

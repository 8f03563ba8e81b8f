"""shimimg: move multi-binary Go Lambda functions from zip packages onto container images."""

__version__ = "0.1.0"

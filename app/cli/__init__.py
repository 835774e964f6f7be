"""The `oellm-arena` command line: the top floor, which may import every other layer."""

from app.cli.main import main

__all__ = ["main"]

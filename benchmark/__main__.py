"""`python -m benchmark`: the backend benchmark, the same as `oellm-arena benchmark`."""

from __future__ import annotations

import logging
import sys

from app.commands.benchmark import command

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    command(prog_name="python -m benchmark")

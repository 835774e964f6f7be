"""`python -m app.cli`: the same as `oellm-arena`."""

import os

from app.cli.main import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")  # for the processes it starts
main()

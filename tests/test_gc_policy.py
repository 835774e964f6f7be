"""The server's garbage-collector policy (`app.web.gc_policy`), in a fresh interpreter so the
test process keeps its own settings."""

from __future__ import annotations

import json
import subprocess
import sys

from app.web.gc_policy import THRESHOLDS

SCRIPT = """
import gc, json
from app.web.gc_policy import tune_gc
before = gc.get_threshold()
frozen = tune_gc()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": frozen,
                  "frozen_now": gc.get_freeze_count()}))
"""


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    report = json.loads(out)
    assert report["before"][0] < THRESHOLDS[0]  # Python's default (700) is lower
    assert tuple(report["after"]) == THRESHOLDS
    assert report["frozen"] == report["frozen_now"] > 1000  # the imported modules at least

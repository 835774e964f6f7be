"""How long a model takes to load, from measured launches: the estimates voters are shown.

Each successful launch records its launch-to-ready time. The estimate for a model is the
median of its last few loads (robust to one slow download); for a model never loaded yet,
the median over every model (they are all about the same size here); before any load at
all, a configured prior. With `path` set the history is kept in a small JSON file, so a
restarted supervisor still knows how long Finnish takes.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections import deque
from pathlib import Path

log = logging.getLogger("tgi.supervisor")


class LoadHistory:
    def __init__(self, default_s: float = 60.0, keep: int = 5, path: Path | None = None) -> None:
        self.default_s = default_s
        self.keep = keep
        self.path = path
        self._samples: dict[str, deque[float]] = {}
        if path is not None and path.is_file():
            self._load(path)

    def record(self, model_id: str, seconds: float) -> None:
        self._samples.setdefault(model_id, deque(maxlen=self.keep)).append(round(seconds, 2))
        if self.path is not None:
            self._save(self.path)

    def estimate(self, model_id: str) -> float:
        own = self._samples.get(model_id)
        if own:
            return float(statistics.median(own))
        every = [s for samples in self._samples.values() for s in samples]
        return float(statistics.median(every)) if every else self.default_s

    def measured(self) -> dict[str, float]:
        """The estimate of every model loaded at least once."""
        return {m: self.estimate(m) for m in self._samples}

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text("utf-8"))
            for model, samples in data.items():
                kept = [float(s) for s in samples if isinstance(s, int | float)]
                self._samples[str(model)] = deque(kept[-self.keep :], maxlen=self.keep)
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("load history %s unreadable, starting afresh: %s", path, exc)

    def _save(self, path: Path) -> None:
        data = {m: list(s) for m, s in self._samples.items()}
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1), "utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot save the load history to %s: %s", path, exc)

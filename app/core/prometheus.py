"""A tiny Prometheus registry: counters, gauges, histograms and the text exposition format.

`prometheus-client` would do, but the arena needs a dozen metrics in two processes and no
push gateway, multiprocess mode or default process collectors; about 150 lines of our own
keep the dependency list short and the output exactly what `docs/deploy.md` documents.
Metrics are safe to update from any thread. Families that are only known at scrape time
(engine states read from the supervisor) are built as `Family` objects and rendered with
the registered ones.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Kind = Literal["counter", "gauge", "histogram"]
LabelValues = tuple[str, ...]


@dataclass
class Family:
    """One metric family as exposed: name, kind, help and its samples."""

    name: str
    kind: Kind
    help: str
    samples: list[tuple[str, Mapping[str, str], float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((self.name + suffix, labels, value))
        return self


class _Metric:
    kind: Kind

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, object]) -> LabelValues:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def family(self) -> Family:
        raise NotImplementedError


class Counter(_Metric):
    """A count that only goes up (restarts at zero with the process)."""

    kind: Kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        if amount < 0:
            raise ValueError("a counter cannot go down")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: object) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def family(self) -> Family:
        fam = Family(self.name, self.kind, self.help)
        with self._lock:
            for key, value in sorted(self._values.items()):
                fam.add(value, **dict(zip(self.labels, key, strict=True)))
        return fam


class Gauge(Counter):
    """A value that goes up and down."""

    kind: Kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind: Kind = "histogram"

    def __init__(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        self._data: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._data.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1  # +Inf, which is also the count
            total[0] += value

    def count(self, **labels: object) -> int:
        with self._lock:
            data = self._data.get(self._key(labels))
            return data[0][-1] if data else 0

    def family(self) -> Family:
        fam = Family(self.name, self.kind, self.help)
        with self._lock:
            for key, (counts, total) in sorted(self._data.items()):
                labels = dict(zip(self.labels, key, strict=True))
                for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                    fam.add(n, "_bucket", **labels, le=_number(bound))
                fam.add(total[0], "_sum", **labels)
                fam.add(counts[-1], "_count", **labels)
        return fam


class Registry:
    """The metrics of one process, in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self.add(Counter(name, help, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self.add(Gauge(name, help, labels))  # type: ignore[return-value]

    def histogram(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return self.add(Histogram(name, help, buckets, labels))  # type: ignore[return-value]

    def render(self, extra: Iterable[Family] = ()) -> str:
        return render([*(m.family() for m in self._metrics.values()), *extra])


def render(families: Iterable[Family]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for name, labels, value in fam.samples:
            if labels:
                body = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items())
                lines.append(f"{name}{{{body}}} {_number(value)}")
            else:
                lines.append(f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

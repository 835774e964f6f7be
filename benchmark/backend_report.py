"""What the backend benchmark shows while it runs and when it ends: a progress bar over
languages and generations, and a table per model (no dependency beyond the standard
library: the bar redraws one line on a terminal and prints a line per language otherwise).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from app.core.registry import Language
from benchmark.backend_output import BenchmarkRow


class Progress:
    """`[#####.....] 12/40 generations · language 2/5 swe · 8.1 s`, redrawn in place."""

    def __init__(self, languages: int, generations: int, out: TextIO | None = None) -> None:
        self.languages = languages
        self.generations = generations
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.done_generations = 0
        self.index = 0
        self.code = ""
        self.started = time.monotonic()

    def language(self, index: int, language: Language) -> None:
        self.index, self.code = index, language.code
        if not self.tty:
            print(
                f"language {index + 1}/{self.languages}: {language.code} ({language.name})",
                file=self.out,
                flush=True,
            )
        self._draw()

    def step(self) -> None:
        self.done_generations += 1
        self._draw()

    def done(self) -> None:
        if self.tty:
            print(file=self.out, flush=True)

    def line(self, width: int = 30) -> str:
        filled = int(width * self.done_generations / max(self.generations, 1))
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self.started
        return (
            f"[{bar}] {self.done_generations}/{self.generations} generations · language "
            f"{self.index + 1}/{self.languages} {self.code} · {elapsed:.1f} s"
        )

    def _draw(self) -> None:
        if self.tty:
            print("\r" + self.line(), end="", file=self.out, flush=True)


@dataclass
class ModelStats:
    """One model's line in the end-of-run table."""

    language: str
    model: str
    family: str
    load_s: float | None
    generations: int = 0
    errors: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)

    def cells(self) -> tuple[str, ...]:
        def median(xs: list[float]) -> str:
            return f"{statistics.median(xs):.1f}" if xs else "-"

        load = "-" if self.load_s is None else f"{self.load_s:.1f}"
        return (
            self.language,
            self.model,
            self.family,
            str(self.generations),
            str(self.errors),
            load,
            median(self.ttft_ms),
            median(self.tokens_per_s),
            median(self.total_ms),
        )


def model_stats(rows: Sequence[BenchmarkRow]) -> list[ModelStats]:
    """Per model: generations, errors, load time, and medians of TTFT, tokens/s, total."""
    stats: dict[str, ModelStats] = {}
    seen: set[tuple[str, str, str]] = set()  # the HPLT side repeats across a prompt's rows
    for row in rows:
        for side, family in (("HPLT", "hplt"), ("MultiSynt", "multisynt")):
            model = getattr(row, f"{side}_Model")
            if (row.Run_Id, row.Prompt, model) in seen:
                continue
            seen.add((row.Run_Id, row.Prompt, model))
            entry = stats.setdefault(
                model, ModelStats(row.Language_Code, model, family, getattr(row, f"{side}_Load_s"))
            )
            entry.generations += 1
            if getattr(row, f"{side}_Error"):
                entry.errors += 1
                continue
            for values, column in (
                (entry.ttft_ms, "TTFT_ms"),
                (entry.tokens_per_s, "Tokens_per_s"),
                (entry.total_ms, "Total_ms"),
            ):
                value = getattr(row, f"{side}_{column}")
                if value is not None:
                    values.append(value)
    return list(stats.values())


def summary_table(rows: Sequence[BenchmarkRow]) -> str:
    """The end-of-run table, aligned for a terminal."""
    lines = [SUMMARY_HEADER, *(s.cells() for s in model_stats(rows))]
    widths = [max(len(line[i]) for line in lines) for i in range(len(SUMMARY_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


SUMMARY_HEADER = (
    "lang",
    "model",
    "family",
    "gens",
    "errors",
    "load s",
    "TTFT ms",
    "tok/s",
    "total ms",
)

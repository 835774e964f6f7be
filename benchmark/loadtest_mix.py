"""Which languages simulated voters choose: the legacy vote log's mix.

The old Streamlit arena logged 564 votes (`/work/shared/data/legacy/arena_results.csv`,
see its README). Counted by the language of the models that wrote the texts (the log's own
`Language` column is sometimes stale), they give the mix below, frozen here so a fresh
clone needs no data file; `legacy_counts` recomputes it from the CSV, and a test checks the
two agree. Languages absent from the log (Portuguese) get no voters, as they got none.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from app.core.registry import Registry

LEGACY_COUNTS: dict[str, int] = {
    "swe": 243,
    "fin": 84,
    "nld": 52,
    "dan": 47,
    "nob": 36,
    "spa": 20,
    "ron": 19,
    "eus": 13,
    "deu": 13,
    "mul": 13,
    "ita": 9,
    "isl": 8,
    "cat": 7,
}


def legacy_counts(csv_path: Path, registry: Registry) -> dict[str, int]:
    """Votes per language code in a legacy log, by the language of its HPLT-side model."""
    with csv_path.open(newline="", encoding="utf-8") as f:
        counts = Counter(
            registry.contender(row["Model_B_Name"]).language for row in csv.DictReader(f)
        )
    return dict(counts.most_common())


def language_mix(registry: Registry, only: Sequence[str] | None = None) -> list[tuple[str, float]]:
    """(code, probability) pairs: the legacy mix, restricted to `only` if given.

    A code in `only` that the log never saw still gets a share (that of the rarest
    language), so a test can pick any language.
    """
    counts = {c: n for c, n in LEGACY_COUNTS.items() if c in registry.languages}
    if only:
        for code in only:
            registry.language(code)  # KeyError naming the known codes
        floor = min(LEGACY_COUNTS.values())
        counts = {code: counts.get(code, floor) for code in only}
    total = sum(counts.values())
    return [(code, n / total) for code, n in counts.items()]

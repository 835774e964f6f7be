"""Which languages simulated voters choose: the legacy vote log's mix.

The old Streamlit arena logged 564 votes (`analytics/data/legacy/arena_results.csv`, see
its README). Counted by the language of the models that wrote the texts (the log's own
`Language` column is sometimes stale), they give the mix. Languages absent from the log
(Portuguese) get no voters, as they got none.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from analytics.data import LEGACY_CSV
from app.core.registry import Registry


def legacy_counts(registry: Registry, csv_path: Path = LEGACY_CSV) -> dict[str, int]:
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
    logged = legacy_counts(registry)
    counts = {c: n for c, n in logged.items() if c in registry.languages}
    if only:
        for code in only:
            registry.language(code)  # KeyError naming the known codes
        floor = min(logged.values())
        counts = {code: counts.get(code, floor) for code in only}
    total = sum(counts.values())
    return [(code, n / total) for code, n in counts.items()]

"""Data shipped with the analytics: the old arena's public vote log (see legacy/README.md)."""

from pathlib import Path

LEGACY_CSV = Path(__file__).with_name("legacy") / "arena_results.csv"

"""Where the backend benchmark's rows go: the CSV the old script wrote, and DuckDB.

Both are written one row at a time, as each prompt finishes, so Ctrl-C (or a crash) keeps
everything measured so far. The CSV keeps the old script's six columns first (`Language,
Prompt, HPLT_Model, MultiSynt_Model, HPLT_Output, MultiSynt_Output`) so whatever read the
old file still reads this one; the `benchmark_runs` table (migration
`m006_benchmark_runs`) has the same columns, lower-cased. An existing CSV with the same
header is appended to, as the old script did; one with other columns is left alone.
"""

from __future__ import annotations

import csv
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import duckdb

from app.core.store.battle_store import BattleStore


@dataclass(frozen=True)
class BenchmarkRow:
    """One prompt through one MultiSynt variant and the HPLT model: a CSV line."""

    Language: str
    Prompt: str
    HPLT_Model: str
    MultiSynt_Model: str
    HPLT_Output: str
    MultiSynt_Output: str
    Language_Code: str
    Prompt_Kind: str
    Load_s: float | None  # waiting for the language's models in this run (0: resident)
    HPLT_Load_s: float | None  # the engine's own load time, as the supervisor measured it
    MultiSynt_Load_s: float | None
    HPLT_TTFT_ms: float | None
    MultiSynt_TTFT_ms: float | None
    HPLT_Tokens: int | None
    MultiSynt_Tokens: int | None
    HPLT_Tokens_per_s: float | None  # after the first token
    MultiSynt_Tokens_per_s: float | None
    HPLT_Total_ms: float | None
    MultiSynt_Total_ms: float | None
    HPLT_Error: str | None
    MultiSynt_Error: str | None
    Run_Id: str
    Started_At: datetime
    Launcher: str
    Max_New_Tokens: int
    Seed: int | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(BenchmarkRow))
DB_COLUMNS: tuple[str, ...] = tuple(c.lower() for c in CSV_COLUMNS)
_INSERT = (
    f"INSERT INTO benchmark_runs ({', '.join(DB_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in DB_COLUMNS)})"
)


class CsvHeaderMismatch(Exception):
    """The output file exists with other columns; the message says what to do."""


class ResultSink:
    """Appends rows to the CSV at `csv_path` and (when `store` is given) to DuckDB."""

    def __init__(self, csv_path: Path, store: BattleStore | None) -> None:
        self.csv_path = csv_path
        self.store = store
        self.rows: list[BenchmarkRow] = []
        append = csv_path.exists() and csv_path.stat().st_size > 0
        if append:
            with csv_path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            if tuple(header) != CSV_COLUMNS:
                raise CsvHeaderMismatch(
                    f"{csv_path} exists with other columns (an older benchmark?). Move it "
                    "away or write elsewhere with --out."
                )
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = csv_path.open("a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if not append:
            self._writer.writerow(CSV_COLUMNS)
            self._file.flush()

    def write(self, row: BenchmarkRow) -> None:
        """Write `row` to both places before returning (the DB commit included)."""
        values = list(astuple(row))
        self._writer.writerow(
            "" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in values
        )
        self._file.flush()
        if self.store is not None:
            self.store.submit_write(lambda con: _insert(con, values)).result()
        self.rows.append(row)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _insert(con: duckdb.DuckDBPyConnection, values: list[Any]) -> None:
    con.execute(_INSERT, values)

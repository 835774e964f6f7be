"""How `oellm-arena sql` prints a result: an aligned text table, CSV or JSON.

The table is for reading at a terminal, so long texts (the responses) are cut and their
line breaks shown as `\\n`; CSV and JSON are for programs and carry every value whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

FORMATS = ("table", "csv", "json")
MAX_TABLE_ROWS = 100  # beyond this a table is no longer read, it is scrolled past
MAX_CELL_WIDTH = 60


def render(fmt: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """The result as text, in pieces to print one after the other (a CSV may be long)."""
    if fmt == "csv":
        return _csv(columns, rows)
    if fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return [json.dumps(records, ensure_ascii=False, indent=2, default=_json_value) + "\n"]
    return [_table(columns, rows)]


def _json_value(value: object) -> object:
    """What `json` cannot write itself: times as ISO 8601, decimals as numbers."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # UUIDs, intervals and the like read best as DuckDB prints them


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        writer.writerow([_csv_value(v) for v in row])
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list | dict | tuple):  # the flags list: JSON, which any reader parses
        return json.dumps(value, ensure_ascii=False, default=_json_value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    shown: list[list[str]] = []
    numeric = [True] * len(columns)
    total = 0
    for row in rows:
        total += 1
        if total > MAX_TABLE_ROWS:
            continue  # counted, not kept: `SELECT * FROM battles` may be a million rows
        shown.append([_cell(v) for v in row])
        for i, value in enumerate(row):
            if value is not None and not _is_number(value):
                numeric[i] = False
    header = [_cut(str(c)) for c in columns]
    widths = [max([_width(header[i]), *(_width(r[i]) for r in shown)]) for i in range(len(columns))]

    def line(cells: Sequence[str], right: Sequence[bool]) -> str:
        return " | ".join(
            _pad(c, w, align_right) for c, w, align_right in zip(cells, widths, right, strict=True)
        ).rstrip()

    out = [line(header, [False] * len(columns)), "-+-".join("-" * w for w in widths)]
    out += [line(r, numeric) for r in shown]
    if total > MAX_TABLE_ROWS:
        out.append(
            f"({total} rows, the first {MAX_TABLE_ROWS} shown: add a LIMIT or an ORDER BY, "
            "or use --format csv for all of them)"
        )
    else:
        out.append(f"({total} row{'' if total == 1 else 's'})")
    return "\n".join(out) + "\n"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, list | tuple):
        return _cut("[" + ", ".join(_cell(v) for v in value) + "]")
    text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return _cut(text)


def _cut(text: str) -> str:
    if _width(text) <= MAX_CELL_WIDTH:
        return text
    out, width = [], 0
    for ch in text:
        width += _char_width(ch)
        if width > MAX_CELL_WIDTH - 1:
            break
        out.append(ch)
    return "".join(out) + "…"


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _width(text: str) -> int:
    return sum(_char_width(ch) for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap

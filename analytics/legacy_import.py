"""Import the old Streamlit arena's `arena_results.csv` into the battle log.

What the old log is (see analytics/data/legacy/README.md, and checked against the data):
`Model_A_Name` is always the MultiSynt model and `Model_B_Name` the reference; `Swapped`
says whether A was shown on the right; `Winner_Position` is the side the voter clicked;
outputs are prompt + continuation.

Its defects, and what the import does about them:
- **The same vote logged more than once.** The old app wrote the current vote again on
  every re-render: seconds later (exact duplicates except the timestamp), and again while
  the voter typed the next prompt or switched language (the same outputs, models, sides
  and vote, with the *next* prompt or language in the row). Outputs are sampled text, so
  identical outputs of both models mean one generation: all rows of a generation become
  one battle, timed and voted by its first row; `legacy_rows` says how many rows it had.
  If re-logged rows ever disagreed on the vote, the first one counts (the arena's rule)
  and the battle is flagged `conflicting_votes`.
- **Empty or wrong prompts.** The prompt is the one logged prompt of the battle's rows
  that both outputs start with. Where none does, nothing is stripped: `prompt` is empty,
  the responses keep the full text, the logged prompt is kept in `legacy_prompt`, and
  the battle is flagged `prompt_unknown`.
- **Language label against the models.** The models say which language the texts are in;
  the label as logged is kept in `legacy_language`, and a disagreeing one is flagged
  `language_mismatch`. `Norwegian` and `Norwegian (Bokmål)` are both `nob`.
- A `Winner_Source` that contradicts the clicked side is flagged `winner_source_mismatch`
  (the click counts).

Battle ids are a hash of the generation, so importing the same file again adds nothing.
The whole file is checked before anything is written, and written in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from app.core.registry import Registry
from app.core.store.battle_store import BattleStore
from app.core.store.records import BattleRecord, Winner

COLUMNS = (
    "Timestamp",
    "Language",
    "Prompt",
    "Model_A_Name",
    "Model_B_Name",
    "Output_A",
    "Output_B",
    "Swapped",
    "Winner_Position",
    "Winner_Source",
)
# Labels the old app used that are not the registry's English names.
LANGUAGE_ALIASES = {
    "Norwegian": "nob",
    "Norwegian (Bokmål)": "nob",
    "Multilingual-Exp": "mul",
}
POSITIONS: dict[str, Winner] = {
    "left": "model_a",
    "right": "model_b",
    "tie": "tie",
    "both bad": "both_bad",
    "both_bad": "both_bad",
    "bothbad": "both_bad",
}
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
SOURCE_FAMILY = {"multisynt": "multisynt", "hplt": "hplt", "tie": None, "both bad": None}
MAX_ERRORS_SHOWN = 10

PROMPT_UNKNOWN = "prompt_unknown"
LANGUAGE_MISMATCH = "language_mismatch"
CONFLICTING_VOTES = "conflicting_votes"
WINNER_SOURCE_MISMATCH = "winner_source_mismatch"


class LegacyImportError(ValueError):
    """The file cannot be imported as a whole; the message lists the offending lines."""


@dataclass(frozen=True)
class LegacyRow:
    """One parsed CSV row; `line` is its first line in the file (for messages)."""

    line: int
    logged_at: datetime
    label: str
    prompt: str
    model_a: str  # the MultiSynt model
    model_b: str  # the reference model
    output_a: str
    output_b: str
    swapped: bool
    winner: Winner  # on the displayed sides: model_a = left
    winner_source: str

    def generation_key(self) -> tuple[str, str, str, str, bool]:
        return (self.model_a, self.model_b, self.output_a, self.output_b, self.swapped)


@dataclass
class ImportPlan:
    """The battles a file turns into, and the counts the command reports."""

    records: list[BattleRecord]
    rows: int
    exact_duplicates: int  # rows identical to an earlier one except for the timestamp
    relogged: int  # other rows repeating an earlier generation (next prompt, new label)
    rows_with_bad_prompt: int
    rows_with_language_mismatch: int
    flagged: dict[str, int] = field(default_factory=dict)  # flag -> battles

    @property
    def collapsed(self) -> int:
        return self.rows - len(self.records)


def read_rows(path: Path, registry: Registry, tz: str = "UTC") -> list[LegacyRow]:
    """Parse and check every row; raise `LegacyImportError` listing what is wrong."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LegacyImportError(f"{path} is not UTF-8 text: {exc}") from exc
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LegacyImportError(
            f"unknown time zone {tz!r} (use e.g. UTC, Europe/Stockholm)"
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise LegacyImportError(f"{path} is empty: expected a header with {COLUMNS}") from None
    except csv.Error as exc:
        raise LegacyImportError(f"{path}: unreadable CSV header: {exc}") from exc
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise LegacyImportError(
            f"{path} is not an old-arena vote log: missing column(s) {', '.join(missing)} "
            f"(found {', '.join(header) or 'none'})"
        )
    index = {c: header.index(c) for c in COLUMNS}
    rows: list[LegacyRow] = []
    errors: list[str] = []
    line = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {line}: {exc}")
            break
        start, line = line, reader.line_num + 1
        if not fields:
            continue
        if len(fields) != len(header):
            errors.append(f"line {start}: {len(fields)} fields, the header has {len(header)}")
            continue
        try:
            rows.append(_parse(start, {c: fields[i] for c, i in index.items()}, registry, zone))
        except ValueError as exc:
            errors.append(f"line {start}: {exc}")
    if errors:
        shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise LegacyImportError(
            f"{path}: {len(errors)} malformed row(s); nothing was imported:\n  {shown}{tail}"
        )
    if not rows:
        raise LegacyImportError(f"{path} has a header but no rows; nothing to import")
    return rows


def _parse(line: int, raw: dict[str, str], registry: Registry, zone: ZoneInfo) -> LegacyRow:
    try:
        logged = datetime.fromisoformat(raw["Timestamp"].strip())
    except ValueError:
        raise ValueError(f"Timestamp {raw['Timestamp']!r} is not a date and time") from None
    if logged.tzinfo is None:
        logged = logged.replace(tzinfo=zone)
    swapped = BOOLEANS.get(raw["Swapped"].strip().lower())
    if swapped is None:
        raise ValueError(f"Swapped must be True or False, not {raw['Swapped']!r}")
    winner = POSITIONS.get(raw["Winner_Position"].strip().lower())
    if winner is None:
        raise ValueError(
            f"Winner_Position must be Left, Right, Tie or Both bad, not {raw['Winner_Position']!r}"
        )
    model_a, model_b = raw["Model_A_Name"].strip(), raw["Model_B_Name"].strip()
    try:
        a, b = registry.contender(model_a), registry.contender(model_b)
    except KeyError as exc:
        raise ValueError(
            f"{exc.args[0]}; add it to the registry (ARENA_REGISTRY_PATH) to import it"
        ) from None
    if a.family != "multisynt" or b.family != "hplt":
        raise ValueError(
            f"expected Model_A_Name to be the MultiSynt model and Model_B_Name the reference, "
            f"got {model_a} ({a.family}) and {model_b} ({b.family})"
        )
    if a.language != b.language:
        raise ValueError(f"{model_a} ({a.language}) and {model_b} ({b.language}) never meet")
    return LegacyRow(
        line=line,
        logged_at=logged,
        label=raw["Language"].strip(),
        prompt=raw["Prompt"],
        model_a=model_a,
        model_b=model_b,
        output_a=raw["Output_A"],
        output_b=raw["Output_B"],
        swapped=swapped,
        winner=winner,
        winner_source=raw["Winner_Source"].strip(),
    )


def prompt_fits(prompt: str, output_a: str, output_b: str) -> bool:
    """Whether both outputs were generated from `prompt` (they start with it)."""
    return bool(prompt.strip()) and output_a.startswith(prompt) and output_b.startswith(prompt)


def battle_id(row: LegacyRow) -> str:
    """A stable id from what makes a generation unique (not the timestamp or the prompt)."""
    digest = hashlib.sha256("\x1f".join(map(str, row.generation_key())).encode("utf-8"))
    return f"legacy-{digest.hexdigest()[:24]}"


def plan_import(rows: list[LegacyRow], registry: Registry) -> ImportPlan:
    """Group rows into battles, choose prompts, correct labels and set flags."""
    labels = {lang.name: code for code, lang in registry.languages.items()} | LANGUAGE_ALIASES
    groups: dict[tuple[str, str, str, str, bool], list[LegacyRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.logged_at, r.line)):
        groups[row.generation_key()].append(row)
    seen_exact: set[tuple[str, ...]] = set()
    exact = 0
    for row in sorted(rows, key=lambda r: (r.logged_at, r.line)):
        key = (
            *map(str, row.generation_key()),
            row.label,
            row.prompt,
            row.winner,
            row.winner_source,
        )
        exact += key in seen_exact
        seen_exact.add(key)
    records = [_battle(group, registry, labels) for group in groups.values()]
    flagged: dict[str, int] = defaultdict(int)
    for record in records:
        for flag in record.flags:
            flagged[flag] += 1
    return ImportPlan(
        records=records,
        rows=len(rows),
        exact_duplicates=exact,
        relogged=len(rows) - len(records) - exact,
        rows_with_bad_prompt=sum(not prompt_fits(r.prompt, r.output_a, r.output_b) for r in rows),
        rows_with_language_mismatch=sum(
            labels.get(r.label) != registry.contender(r.model_a).language for r in rows
        ),
        flagged=dict(sorted(flagged.items())),
    )


def _battle(group: list[LegacyRow], registry: Registry, labels: dict[str, str]) -> BattleRecord:
    first = group[0]
    multisynt, reference = registry.contender(first.model_a), registry.contender(first.model_b)
    left, right = (reference, multisynt) if first.swapped else (multisynt, reference)
    out_left, out_right = (
        (first.output_b, first.output_a) if first.swapped else (first.output_a, first.output_b)
    )
    flags: list[str] = []
    prompt = next((r.prompt for r in group if prompt_fits(r.prompt, r.output_a, r.output_b)), None)
    if prompt is None:
        flags.append(PROMPT_UNKNOWN)
        response_left, response_right = out_left, out_right
    else:
        response_left, response_right = out_left[len(prompt) :], out_right[len(prompt) :]
    if labels.get(first.label) != multisynt.language:
        flags.append(LANGUAGE_MISMATCH)
    if any(r.winner != first.winner for r in group):
        flags.append(CONFLICTING_VOTES)
    winning = {"model_a": left.family, "model_b": right.family}.get(first.winner)
    source_family = SOURCE_FAMILY.get(first.winner_source.lower(), "?")
    if source_family != winning:
        flags.append(WINNER_SOURCE_MISMATCH)
    return BattleRecord(
        battle_id=battle_id(first),
        language=multisynt.language,
        prompt=prompt or "",
        model_a=left.model_id,
        model_b=right.model_id,
        family_a=left.family,
        family_b=right.family,
        variant_a=left.variant,
        variant_b=right.variant,
        response_a=response_left,
        response_b=response_right,
        created_at=first.logged_at,
        voted_at=first.logged_at,
        winner=first.winner,
        source="legacy",
        flags=flags,
        legacy_rows=len(group),
        legacy_language=first.label,
        legacy_prompt=None if prompt is not None else first.prompt,
    )


@dataclass(frozen=True)
class ImportResult:
    plan: ImportPlan
    inserted: int
    already_present: int

    def summary(self) -> str:
        """What the command prints: imported, collapsed and flagged, in plain words."""
        p = self.plan
        lines = [
            f"Read {p.rows} rows: {len(p.records)} battles.",
            f"Imported {self.inserted} new battles"
            + (
                f" ({self.already_present} were already in the log)."
                if self.already_present
                else "."
            ),
            f"Collapsed {p.collapsed} rows into earlier battles: {p.exact_duplicates} exact "
            f"duplicates, {p.relogged} re-logs of the same vote with another prompt or label.",
            f"Rows with an empty or wrong prompt: {p.rows_with_bad_prompt}; rows whose language "
            f"label disagrees with their models: {p.rows_with_language_mismatch}.",
        ]
        if p.flagged:
            flags = ", ".join(f"{flag} {n}" for flag, n in p.flagged.items())
            lines.append(f"Flagged battles: {flags}.")
        else:
            lines.append("Flagged battles: none.")
        return "\n".join(lines)


def plan_file(path: Path, registry: Registry, tz: str = "UTC") -> ImportPlan:
    """Read, check and plan the whole file; touches no database."""
    return plan_import(read_rows(path, registry, tz), registry)


def count_present(con: duckdb.DuckDBPyConnection, plan: ImportPlan) -> int:
    """How many of the plan's battles the log behind `con` holds already (for a dry run)."""
    row = con.execute(
        "SELECT count(*) FROM battles WHERE list_contains(?, battle_id)",
        [[r.battle_id for r in plan.records]],
    ).fetchone()
    return int(row[0]) if row else 0


def apply_plan(plan: ImportPlan, store: BattleStore) -> ImportResult:
    """Add the plan's new battles through the store's writer, in one transaction."""
    inserted = store.record_battles_sync(plan.records, only_new=True)
    return ImportResult(plan, inserted=inserted, already_present=len(plan.records) - inserted)


def import_legacy(
    path: Path, store: BattleStore, registry: Registry, tz: str = "UTC", *, dry_run: bool = False
) -> ImportResult:
    """Check the whole file, then add its new battles through the store's writer."""
    plan = plan_file(path, registry, tz)
    if dry_run:
        already = store.read(lambda cur: count_present(cur, plan))
        return ImportResult(plan, inserted=0, already_present=already)
    return apply_plan(plan, store)

"""Shared by the analytics tests: the legacy files, an independent reading of them, and a
small fixture battle log whose every number is known by hand."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from app.core.store import BattleRecord, BattleStore

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "tests" / "data" / "legacy_sample.csv"


@dataclass(frozen=True)
class LegacyTruth:
    """What a CSV should import to, worked out with pandas alone (not the importer)."""

    rows: int
    battles: int
    exact_duplicates: int
    bad_prompt_rows: int
    mismatched_label_rows: int
    prompt_unknown_battles: int
    battles_by_language: dict[str, int]
    multisynt_wins_by_language: dict[str, int]
    ties: int


def imported(csv: Path, db: Path) -> Path:
    """`db`, a battle log holding `csv` imported as `oellm-arena import-legacy` does."""
    from click.testing import CliRunner

    from app.cli import main

    result = CliRunner().invoke(main, ["import-legacy", str(csv), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db


def legacy_truth(path: Path) -> LegacyTruth:
    """Count the expected import of `path` by a different method than the importer:
    pandas group-bys, and the language read off the HPLT model's name."""
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    ref_code = df["Model_B_Name"].str.extract(r"hplt2c_([a-z]{3})_")[0].fillna("mul")
    df["model_language"] = ref_code
    label_code = df["Language"].map(
        {
            "Icelandic": "isl",
            "Swedish": "swe",
            "Danish": "dan",
            "Norwegian": "nob",
            "Norwegian (Bokmål)": "nob",
            "Finnish": "fin",
            "German": "deu",
            "Dutch": "nld",
            "Spanish": "spa",
            "Italian": "ita",
            "Portuguese": "por",
            "Romanian": "ron",
            "Catalan": "cat",
            "Basque": "eus",
            "Multilingual-Exp": "mul",
        }
    )
    fits = [
        bool(p.strip()) and a.startswith(p) and b.startswith(p)
        for p, a, b in zip(df["Prompt"], df["Output_A"], df["Output_B"], strict=True)
    ]
    df["fits"] = fits
    generation = ["Model_A_Name", "Model_B_Name", "Output_A", "Output_B", "Swapped"]
    df = df.sort_values("Timestamp", kind="stable")
    firsts = df.groupby(generation, sort=False).first()
    any_fit = df.groupby(generation, sort=False)["fits"].any()
    decisive_ms = firsts[firsts["Winner_Source"] == "MultiSynt"]
    return LegacyTruth(
        rows=len(df),
        battles=len(firsts),
        exact_duplicates=int(df.drop(columns=["Timestamp"]).duplicated().sum()),
        bad_prompt_rows=int((~df["fits"]).sum()),
        mismatched_label_rows=int((label_code != df["model_language"]).sum()),
        prompt_unknown_battles=int((~any_fit).sum()),
        battles_by_language=firsts["model_language"].value_counts().to_dict(),
        multisynt_wins_by_language=decisive_ms["model_language"].value_counts().to_dict(),
        ties=int((firsts["Winner_Position"] == "Tie").sum()),
    )


# ---- a fixture battle log ------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SWE_MS = {
    "tower9b": "MultiSynt/nemotron-cc-swedish-tower9b",
    "opus": "MultiSynt/nemotron-cc-swedish-opus",
}
SWE_HPLT = "HPLT/hplt2c_swe_checkpoints"
FIN_MS = "MultiSynt/nemotron-cc-finnish-tower9b"
FIN_HPLT = "HPLT/hplt2c_fin_checkpoints"
MUL_MS = "MultiSynt/2B-1TT-tower9b-mixture"
MUL_REF = "MultiSynt/2B-1TT-native-mixture"


def battle(
    battle_id: str,
    language: str,
    multisynt: str,
    reference: str,
    variant: str,
    *,
    multisynt_left: bool,
    outcome: str | None,  # "ms", "ref", "tie", "both_bad", None (unvoted)
    day: int = 0,
    source: str = "arena",
    failed: bool = False,
    flags: tuple[str, ...] = (),
) -> BattleRecord:
    """One battle described from the MultiSynt side; sides and winner follow from it."""
    when = T0 + timedelta(days=day)
    left, right = (multisynt, reference) if multisynt_left else (reference, multisynt)
    winner = {
        "ms": "model_a" if multisynt_left else "model_b",
        "ref": "model_b" if multisynt_left else "model_a",
        "tie": "tie",
        "both_bad": "both_bad",
        None: None,
    }[outcome]
    return BattleRecord(
        battle_id=battle_id,
        language=language,
        prompt=f"prompt {battle_id}",
        model_a=left,
        model_b=right,
        family_a="multisynt" if multisynt_left else "hplt",
        family_b="hplt" if multisynt_left else "multisynt",
        variant_a=variant if multisynt_left else None,
        variant_b=None if multisynt_left else variant,
        response_a="left",
        response_b="right",
        created_at=when,
        status="failed" if failed else "completed",
        error="a: timeout: slow" if failed else None,
        winner=winner,  # type: ignore[arg-type]
        voted_at=when + timedelta(seconds=30) if winner else None,
        source=source,  # type: ignore[arg-type]
        session_hash="private",
        flags=list(flags),
    )


def fixture_battles() -> list[BattleRecord]:
    """Known by hand. Swedish tower9b vs HPLT: MultiSynt wins 3 (2 on the left), HPLT wins
    1 (on the left), 1 tie, 1 both bad. Swedish opus: MultiSynt wins 1 (right), HPLT 2
    (both on the right; o3 is flagged identity_tell). Finnish: 1 MultiSynt win (left,
    legacy, day 1), 1 tie (day 1). Multilingual: 1 reference win (left, day 2). Never
    counted: one failed Swedish battle and one unvoted one."""
    sw9, swo = SWE_MS["tower9b"], SWE_MS["opus"]
    return [
        battle("s1", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=True, outcome="ms"),
        battle("s2", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=True, outcome="ms"),
        battle("s3", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=False, outcome="ms"),
        battle("s4", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=False, outcome="ref"),
        battle("s5", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=True, outcome="tie"),
        battle("s6", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=False, outcome="both_bad"),
        battle("o1", "swe", swo, SWE_HPLT, "opus", multisynt_left=False, outcome="ms"),
        battle("o2", "swe", swo, SWE_HPLT, "opus", multisynt_left=True, outcome="ref"),
        battle("o3", "swe", swo, SWE_HPLT, "opus", multisynt_left=True, outcome="ref",
               flags=("identity_tell",)),
        battle("f1", "fin", FIN_MS, FIN_HPLT, "tower9b", multisynt_left=True, outcome="ms",
               day=1, source="legacy"),
        battle("f2", "fin", FIN_MS, FIN_HPLT, "tower9b", multisynt_left=False, outcome="tie",
               day=1),
        battle("m1", "mul", MUL_MS, MUL_REF, "tower9b", multisynt_left=False, outcome="ref",
               day=2),
        battle("x1", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=True, outcome=None,
               failed=True),
        battle("x2", "swe", sw9, SWE_HPLT, "tower9b", multisynt_left=True, outcome=None),
    ]  # fmt: skip


def fill_fixture(db_path: Path) -> Path:
    with BattleStore(db_path) as store:
        store.record_battles_sync(fixture_battles())
    return db_path


# ---- a second process holding the log, as the running app does ----------------------------

_HOLDER = """
    import sys, time
    from app.core.store import BattleStore
    store = BattleStore(sys.argv[1])  # open for writing: DuckDB locks the file
    print("READY", flush=True)
    time.sleep(300)
"""


@contextlib.contextmanager
def log_held_open(db_path: Path, timeout_s: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """Another process has `db_path` open for writing (as the arena app) while in the block."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_HOLDER), str(db_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout_s) and proc.stdout.readline().strip() == "READY"
        assert ready, f"the holder did not open {db_path}: {proc.poll()}"
        yield proc
    finally:
        proc.kill()
        proc.wait(30)

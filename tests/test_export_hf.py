"""`oellm-arena export --format hf`: a Hugging Face dataset folder of the voted battles.

The old arena's whole log is imported, released, and read back from the Parquet file:
the counts and winners equal the battle log's, the columns are the ones lmarena's
`arena-rank` reads, nothing private is in it, and the dataset card is valid Hub metadata.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from huggingface_hub import DatasetCard

from analytics.data import LEGACY_CSV
from app.cli import main
from tests.analytics_helpers import imported


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported(LEGACY_CSV, tmp_path_factory.mktemp("hf") / "arena.duckdb")


def test_the_release_round_trips_to_the_battle_log(legacy_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "release"
    code, output = invoke(
        "export", "--format", "hf", "--out", str(out), "--db", str(legacy_db),
        "--license", "cc-by-4.0",
    )  # fmt: skip
    assert code == 0, output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "data/battles.parquet",
    ]
    # Read back with another reader than the writer's connection (pyarrow is not a
    # dependency here; DuckDB reads Parquet as any other reader does).
    released = duckdb.sql(
        "SELECT * FROM read_parquet($path)", params={"path": str(out / "data" / "battles.parquet")}
    ).df()
    with duckdb.connect(str(legacy_db), read_only=True) as con:
        logged = con.execute(
            "SELECT battle_id, model_a, model_b, winner, language FROM battles "
            "WHERE winner IS NOT NULL ORDER BY created_at, battle_id"
        ).df()
        unvoted = con.execute("SELECT count(*) FROM battles WHERE winner IS NULL").fetchone()
    assert len(released) == len(logged) > 300
    assert unvoted is not None  # the log may hold battles without a vote: they stay out
    pd.testing.assert_frame_equal(
        released[["battle_id", "model_a", "model_b", "winner", "language"]].reset_index(drop=True),
        logged,
        check_dtype=False,
    )
    # What arena-rank reads by default: model_a, model_b, and these winner values.
    assert set(released["winner"]) <= {"model_a", "model_b", "tie", "both_bad"}
    assert {"prompt", "response_a", "response_b", "tags_a", "flags", "voted_at"} <= set(
        released.columns
    )
    assert "session_hash" not in released.columns
    assert f"Exported {len(logged)} voted battles" in output

    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == sorted(logged["language"].unique())
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"][0]["path"] == "data/battles.parquet"
    assert f"{len(logged)} voted battles" in card.text
    assert "prompt_unknown" in card.text  # the known defects are told


def test_the_release_refuses_what_would_lose_or_mislabel_data(
    legacy_db: Path, tmp_path: Path
) -> None:
    db = str(legacy_db)
    code, output = invoke("export", "--format", "hf", "--out", str(tmp_path / "r"), "--db", db)
    assert code == 2 and "--license" in output  # the licence is the organisers' choice
    assert not (tmp_path / "r").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    code, output = invoke(
        "export", "--format", "hf", "--out", str(taken), "--db", db, "--license", "mit"
    )
    assert code == 1 and "not an empty folder" in output
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    code, output = invoke(
        "export", "--format", "hf", "--out", str(tmp_path / "p"), "--db", db,
        "--license", "mit", "--include-private",
    )  # fmt: skip
    assert code == 2 and "session hashes" in output
    code, output = invoke("export", "--format", "csv", "--out", str(tmp_path), "--db", db)
    assert code == 2 and "is a folder" in output

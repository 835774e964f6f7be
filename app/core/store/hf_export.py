"""`oellm-arena export --format hf`: the voted battles as a Hugging Face dataset folder.

The folder holds `data/battles.parquet` (one row per voted battle, the export's columns:
no session hashes) and a dataset card, `README.md`, whose YAML header is what the Hub
reads (licence, languages, size, where the data file is) and whose text says how the
battles were collected, what was left out and what is known to be wrong in the old
arena's rows. `model_a`, `model_b` and `winner` (`model_a`, `model_b`, `tie`,
`both_bad`) are the columns and values lmarena's `arena-rank` reads by default, so the
ratings can be recomputed from the release alone (docs/analytics.md).

The folder is written under a temporary name beside it and renamed when complete, so a
sync or an upload never sees half a release; an existing folder is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
from huggingface_hub import DatasetCard, DatasetCardData

from app.core.store.database import StoreError
from app.core.store.export import export_from

DATA_FILE = "data/battles.parquet"


@dataclass(frozen=True)
class Release:
    """What a release holds: voted battles in all, per language and per source."""

    battles: int
    languages: dict[str, int]
    sources: dict[str, int]
    first_vote: str | None
    last_vote: str | None


def size_category(n: int) -> str:
    """The Hub's size bucket for `n` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def release_of(con: duckdb.DuckDBPyConnection, data_file: Path) -> Release:
    """What the written data file holds (read back from it, so the card cannot disagree)."""
    rows = "FROM read_parquet($path)"
    path = {"path": str(data_file)}
    languages = dict(
        con.execute(f"SELECT language, count(*) {rows} GROUP BY 1 ORDER BY 1", path).fetchall()
    )
    sources = dict(
        con.execute(f"SELECT source, count(*) {rows} GROUP BY 1 ORDER BY 1", path).fetchall()
    )
    first, last = con.execute(
        f"SELECT strftime(min(voted_at), '%Y-%m-%d'), strftime(max(voted_at), '%Y-%m-%d') {rows}",
        path,
    ).fetchone() or (None, None)
    return Release(sum(languages.values()), languages, sources, first, last)


def dataset_card(release: Release, license_id: str) -> DatasetCard:
    """The release's `README.md`: the Hub's metadata, then what a researcher must know."""
    data = DatasetCardData(
        license=license_id,
        language=sorted(release.languages),
        size_categories=[size_category(release.battles)],
        pretty_name="OELLM Arena battles",
        task_categories=["text-generation"],
        tags=["arena", "pairwise-preference", "fluency", "human-feedback"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILE}]}],
    )
    per_language = "\n".join(f"| {code} | {n} |" for code, n in release.languages.items())
    per_source = ", ".join(f"{source}: {n}" for source, n in release.sources.items())
    body = f"""
# OELLM Arena battles

Blind pairwise votes on the **fluency** of open European base models: a voter picks a
language and writes the start of a text, two anonymous models continue it side by side,
the voter says which continuation reads more naturally (or a tie, or both bad), and only
then learns which model wrote which. Most battles set a MultiSynt model (trained on
machine-translated text) against the HPLT 2.0 model trained on native text of the same
language.

{release.battles} voted battles, votes from {release.first_vote} to {release.last_vote}
(UTC); by source: {per_source}.

| language (ISO 639-3; `mul`: the multilingual experiment) | battles |
|---|---|
{per_language}

## Columns

One row per voted battle, oldest first. `model_a` and `model_b` are the models as shown
(A on the left), `winner` is `model_a`, `model_b`, `tie` or `both_bad`: the columns and
values lmarena's `arena-rank` reads by default (`PairDataset.from_pandas(df)`).
`family_a`/`family_b` (`multisynt`, `hplt`) and `variant_a`/`variant_b` (the translation
system) say what each model is; `response_a`/`response_b` hold the continuations,
`prompt` the text the voter wrote; generation settings (`max_new_tokens`, `do_sample`,
`temperature`, `top_p`, `repetition_penalty`, `seed`), timings (`ttft_ms_*`,
`duration_ms_*`, `tokens_*`), `created_at`/`voted_at`, the voter's optional reasons
(`tags_a`, `tags_b`, `comment`) and `flags` follow.

## What was left out

Battles without a vote (failed engines, abandoned rounds) and the salted session hashes
that link a browser's votes. Prompts and comments are anonymous voters' text, published
as written; voters were told so and asked not to enter personal data.

## Known defects

Rows with `source = legacy` come from the arena's earlier version, which logged a vote
again on every re-render: all rows of one generation became one battle (`legacy_rows`
says how many rows it had; the flag `conflicting_votes` marks rows that disagreed, the
first vote counting). Generation settings were not logged. Where no logged prompt
matches the texts, `prompt` is empty, the responses keep the full text, the logged
prompt is in `legacy_prompt` and the battle is flagged `prompt_unknown`; a language label
that disagrees with the models is kept in `legacy_language` and flagged
`language_mismatch`. Leave flagged rows out of prompt-level analyses.
"""
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}")


def export_hf(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | os.PathLike[str],
    *,
    license_id: str,
    source: str | os.PathLike[str] = "the battle log",
) -> Release:
    """Write the release folder `out_dir` (which must not exist, or be empty)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise StoreError(f"{out_dir} already exists and is not an empty folder: choose a new one.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        export_from(con, tmp / DATA_FILE, "parquet", source=source, voted_only=True)
        release = release_of(con, tmp / DATA_FILE)
        dataset_card(release, license_id).save(tmp / "README.md")
        with contextlib.suppress(FileNotFoundError):
            out_dir.rmdir()  # empty, checked above
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return release

"""Analytics at scale: a synthetic log of 1,000,000 battles with known true ratings.

Measures, on a real DuckDB file built through the store:
- the full leaderboard: Bradley-Terry ratings of every model with 1,000-round bootstrap
  intervals, computed from aggregated pair counts (target: <= 1 s, query included);
- the same intervals by resampling battle rows (the usual approach), same fitter, same
  rounds: the ratio is what counting buys;
- every dashboard query and the analysts' views (target: <= 300 ms each);
- `oellm-arena summary` (the pooled verdicts), the whole command (target: <= 5 s wall);
- how well the ratings recover the truth (error, interval coverage), and the snapshot.

Usage (not a test; a few minutes at most):

    uv run python -m benchmark.analytics_bench [--battles 1000000] [--rounds 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics import queries
from analytics.dashboard import load_dashboard
from analytics.queries import Filters
from analytics.ratings import ELO_SCALE, PairTable, language_ratings, pair_table, rate
from analytics.synthetic import synthetic_battles
from analytics.verdicts import summarise
from app.core.store import BattleStore

RATINGS_TARGET_S = 1.0
SUMMARY_TARGET_S = 5.0  # `oellm-arena summary` on a million battles, start to finish
QUERY_TARGET_S = 0.3


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float, Any]:
    """Median and worst wall time of `repeat` calls (after one warm-up), and a result."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


def row_resampling_ratings(
    battles: pd.DataFrame, rounds: int, seed: int = 0
) -> dict[tuple[str, str], tuple[float, float]]:
    """The usual bootstrap: draw N battle rows with replacement, recount, refit, per round.

    Uses the same fitter as the count-based path, so the difference is the resampling.
    """
    voted = battles[battles["winner"].notna() & (battles["status"] == "completed")]
    keys = ["language", "model_a", "model_b", "family_a", "family_b", "variant_a", "variant_b"]
    # Each row's cell: (group of its language's pair table, pair, outcome).
    counts = voted.groupby([*keys, "winner"], dropna=False).size().rename("n").reset_index()
    tables: dict[str, PairTable] = {}
    offsets: dict[str, int] = {}
    total = 0
    for language, group in counts.groupby("language"):
        tables[str(language)] = pair_table(group)
        offsets[str(language)] = total
        total += tables[str(language)].cells.size
    cell_of_row = np.empty(len(voted), dtype=np.int64)
    for language, table in tables.items():
        mask = (voted["language"] == language).to_numpy()
        rows = voted[mask]
        index = {p: k for k, p in enumerate(table.players)}
        a = rows["model_a"].map(index).to_numpy()
        b = rows["model_b"].map(index).to_numpy()
        m = len(table.players)
        # pair_table's pairs are sorted by lo * m + hi, so a search finds each row's pair.
        pair = np.searchsorted(table.i * m + table.j, np.minimum(a, b) * m + np.maximum(a, b))
        w = rows["winner"].to_numpy()
        outcome = np.select(
            [w == "tie", w == "both_bad", (w == "model_a") == (a <= b)], [2, 3, 0], default=1
        )
        cell_of_row[mask] = offsets[language] + pair * 4 + outcome
    rng = np.random.default_rng(seed)
    draws = np.empty((rounds, total), dtype=np.int64)
    n = len(cell_of_row)
    for r in range(rounds):
        draws[r] = np.bincount(cell_of_row[rng.integers(0, n, n)], minlength=total)
    out = {}
    for language, table in tables.items():
        start = offsets[language]
        cells = draws[:, start : start + table.cells.size].reshape(rounds, -1, 4)
        refs = [k for k, p in enumerate(table.players) if p.startswith("HPLT/")]
        anchor = refs[0] if refs else table.players.index("MultiSynt/2B-1TT-native-mixture")
        result = rate(table, anchor, rounds, resample=lambda t, r, g, c=cells: c)
        for k, player in enumerate(table.players):
            out[(language, player)] = (float(result.ci_low[k]), float(result.ci_high[k]))
    return out


def snapshot_under_load(store: BattleStore, path: Path) -> tuple[float, float]:
    """Time a snapshot while another thread records votes; the slowest of those votes."""
    ids = [
        r[0]
        for r in store.read(
            lambda c: c.execute(
                "SELECT battle_id FROM battles "
                "WHERE winner IS NULL AND status = 'completed' LIMIT 500"
            ).fetchall()
        )
    ]
    done = threading.Event()
    latencies: list[float] = []

    def vote() -> None:
        for battle_id in ids:
            if done.is_set():
                break
            start = time.perf_counter()
            store.record_vote_sync(battle_id, "tie")
            latencies.append(time.perf_counter() - start)

    voter = threading.Thread(target=vote)
    start = time.perf_counter()
    voter.start()
    store.snapshot(path)
    elapsed = time.perf_counter() - start
    done.set()
    voter.join()
    return elapsed, max(latencies, default=0.0)


def summary_command_wall_s(store: BattleStore, folder: Path) -> float:
    """Wall time of `oellm-arena summary --format json` on a copy of the log, as an
    analyst runs it: a new process, imports, the query and the verdicts."""
    copy = folder / "summary.duckdb"
    store.snapshot(copy)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "app.cli", "summary", "--format", "json", "--db", str(copy)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    report: dict[str, Any] = {"battles": args.battles, "rounds": args.rounds}
    print(f"Synthetic log: {args.battles:,} battles, {args.rounds} bootstrap rounds")
    start = time.perf_counter()
    log = synthetic_battles(args.battles, seed=args.seed, position_bias=0.1, legacy_rate=0.05)
    print(f"  generated in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as tmp, BattleStore(Path(tmp) / "bench.duckdb") as store:
        start = time.perf_counter()
        store.append_frame_sync(log.battles)
        print(f"  loaded into DuckDB in {time.perf_counter() - start:.1f} s")

        # -- ratings with intervals ------------------------------------------------------
        def full_leaderboard() -> pd.DataFrame:
            counts = store.read(queries.pair_counts)
            return language_ratings(counts, rounds=args.rounds, seed=0)

        med, worst, board = timed(full_leaderboard, repeat=3)
        counts = store.read(queries.pair_counts)
        fit_med, _, _ = timed(lambda: language_ratings(counts, rounds=args.rounds), repeat=3)
        report["ratings_s"] = med
        report["ratings_fit_only_s"] = fit_med
        ok = "ok" if worst <= RATINGS_TARGET_S else "OVER TARGET"
        print(f"\nFull leaderboard ({len(board)} models, {args.rounds} rounds, from counts)")
        print(
            f"  query + ratings + intervals: median {med * 1000:.0f} ms, worst "
            f"{worst * 1000:.0f} ms  [target {RATINGS_TARGET_S * 1000:.0f} ms: {ok}]"
        )
        print(f"  of which fitting {len(counts)} count rows: {fit_med * 1000:.0f} ms")

        start = time.perf_counter()
        row_ci = row_resampling_ratings(log.battles, args.rounds)
        row_s = time.perf_counter() - start
        report["row_resampling_s"] = row_s
        report["ratio"] = row_s / med
        print(
            f"  row resampling, same rounds and fitter: {row_s:.1f} s  "
            f"-> counts are {row_s / med:.0f}x faster"
        )

        truth = np.array(
            [
                1000 + ELO_SCALE * log.true_strength[(lang, m)]
                for lang, m in zip(board["language"], board["model"], strict=True)
            ]
        )
        free = ~board["reference"].to_numpy()
        err = np.abs(board["rating"].to_numpy() - truth)[free]
        covered = (board["ci_low"].to_numpy() <= truth) & (truth <= board["ci_high"].to_numpy())
        width_counts = (board["ci_high"] - board["ci_low"]).to_numpy()[free]
        width_rows = np.array(
            [
                row_ci[(lang, m)][1] - row_ci[(lang, m)][0]
                for lang, m in zip(board["language"], board["model"], strict=True)
            ]
        )[free]
        report["max_abs_error"] = float(err.max())
        report["coverage"] = float(covered[free].mean())
        print(
            f"  vs true ratings: mean |error| {err.mean():.1f}, max {err.max():.1f} points; "
            f"{covered[free].sum()}/{free.sum()} intervals cover the truth (position bias "
            "0.1 in the data)"
        )
        print(
            f"  mean interval width: counts {width_counts.mean():.1f}, rows "
            f"{width_rows.mean():.1f} points (same distribution, as it should be)"
        )

        # -- dashboard queries and views -------------------------------------------------
        first, last = store.read(queries.vote_date_range)
        mid = first + (last - first) / 2 if first and last else date.today()
        swe = Filters(languages=("swe",))
        recent = Filters(start=mid)
        live = Filters(sources=("arena",))
        checks: list[tuple[str, Callable[[Any], Any]]] = [
            ("change_marker (page poll)", queries.change_marker),
            ("vote_date_range", queries.vote_date_range),
            ("pair_counts, all", lambda c: queries.pair_counts(c)),
            ("pair_counts, one language", lambda c: queries.pair_counts(c, swe)),
            ("pair_counts, date range", lambda c: queries.pair_counts(c, recent)),
            ("pair_counts, live only", lambda c: queries.pair_counts(c, live)),
            ("votes_per_day, all", lambda c: queries.votes_per_day(c)),
            ("votes_per_day, one language", lambda c: queries.votes_per_day(c, swe)),
            ("view win_rates_by_language", lambda c: c.execute(
                "SELECT * FROM analytics.win_rates_by_language").fetchall()),
            ("view win_rates_by_variant", lambda c: c.execute(
                "SELECT * FROM analytics.win_rates_by_variant").fetchall()),
            ("view win_rates_by_language_variant", lambda c: c.execute(
                "SELECT * FROM analytics.win_rates_by_language_variant").fetchall()),
            ("view position_bias_by_language", lambda c: c.execute(
                "SELECT * FROM analytics.position_bias_by_language").fetchall()),
            ("view votes_per_day", lambda c: c.execute(
                "SELECT * FROM analytics.votes_per_day").fetchall()),
            ("view sides (count per model)", lambda c: c.execute(
                "SELECT model, outcome, count(*) FROM analytics.sides GROUP BY ALL").fetchall()),
            ("pooled verdicts (pair_counts + summarise)", lambda c: summarise(
                queries.pair_counts(c))),
            ("whole page refresh (all of the above + stats)", lambda c: load_dashboard(
                c, Filters(), rounds=args.rounds)),
        ]  # fmt: skip
        print("\nDashboard queries (median / worst of 5, one read cursor each)")
        report["queries"] = {}
        for name, fn in checks:
            med, worst, _ = timed(lambda fn=fn: store.read(fn))
            target = (
                ""
                if name.startswith("whole")
                else ("ok" if worst <= QUERY_TARGET_S else "OVER TARGET")
            )
            report["queries"][name] = {"median_s": med, "worst_s": worst}
            print(f"  {name:<48}{med * 1000:>8.1f} ms {worst * 1000:>8.1f} ms  {target}")

        med, _, payload = timed(
            lambda: store.read(lambda c: queries.export_filtered(c, swe, "parquet")), repeat=1
        )
        print(
            f"  {'download: one language as Parquet':<48}{med * 1000:>8.1f} ms  "
            f"({len(payload) / 1e6:.1f} MB)"
        )
        summary_s = summary_command_wall_s(store, Path(tmp))
        report["summary_command_s"] = summary_s
        ok = "ok" if summary_s <= SUMMARY_TARGET_S else "OVER TARGET"
        print(
            f"  {'oellm-arena summary, whole command (wall)':<48}{summary_s * 1000:>8.1f} ms"
            f"  [target {SUMMARY_TARGET_S:.0f} s: {ok}]"
        )
        snapshot_s, vote_latency = snapshot_under_load(store, Path(tmp) / "snapshot.duckdb")
        report["snapshot_s"] = snapshot_s
        report["vote_latency_during_snapshot_s"] = vote_latency
        print(
            f"  {'analysts snapshot (votes keep being written)':<48}{snapshot_s * 1000:>8.1f} ms"
            f"  (slowest vote meanwhile: {vote_latency * 1000:.0f} ms)"
        )

    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

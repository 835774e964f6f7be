"""How many votes active matchmaking saves: votes until every verdict is done, balanced
against active (`uv run python -m benchmark.sampling_sim [--seeds N]`).

The truth: each cell (language x translation system) has a true share of decisive votes
that MultiSynt wins against HPLT, taken from the legacy log's estimates
(`analytics.data.LEGACY_CSV`, imported into a temporary battle log and summarised by
`analytics.verdicts`). Most legacy cells hold a handful of votes, so each estimate is
shrunk toward its language's as if `--prior-votes` (10) more decisive votes had come in
the language's proportions, and each language's toward the pooled estimate
(`summarise(...).overall`) the same way: a cell of 3 votes says little beyond its
language, and a language without legacy votes (Portuguese) gets the pooled estimate.
Every language of the registry takes part with its real translation systems.

The voters: decisive votes arrive one at a time in one language (voters choose the
language, so only the variant is steered; ties and "both bad" are left out, as they
say nothing about the verdict). Each one goes to the variant that the arena's own code
picks: `choose_variant` with the target shares of `app.arena.vote_allocation.shares_for`
(or none: balanced), the counts and tallies of a `VoteCounts` read from the simulated
log every `--refresh` votes and bumped by each vote in between, and the variant of the
previous vote still loaded (one engine per GPU, the worst case for cost). A language stops
when every one of its cells is done (the allocation's rule, the same for both policies).
A variant's votes are drawn from one stream per seed, the same under both policies, so
the policies differ only in where the votes go.

Reported: the votes summed over languages, median over seeds, for both policies and the
saving; and whether steering biases the verdicts, over every cell of every seed at its
language's stop: the share of decided cells (interval excluding parity) whose verdict is
on the wrong side of the truth (`wrong_verdicts_*`), how much further from parity the
estimates are than the truth (`overshoot_*`: stopping a cell's votes right after its
interval first excludes parity exaggerates it), and the mean estimate minus the truth
(`mean_error_*`). The same for active carried on to the votes balanced needed in the same
seed and language (`*_active_equal_votes`), as the arena goes on after its verdicts are
done. Progress goes to stderr; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from analytics.data import LEGACY_CSV
from analytics.legacy_import import import_legacy
from analytics.queries import pair_counts
from analytics.verdicts import Summary, summarise
from app.arena.matchmaking import VoteCounts, choose_variant
from app.arena.vote_allocation import AllocationPolicy, cell_done, shares_for
from app.core.proportions import wilson_interval
from app.core.registry import Language, Registry, load_registry
from app.core.settings import MatchmakingSettings
from app.core.store.battle_store import BattleStore

POLICIES = ("balanced", "active")
MAX_VOTES_PER_LANGUAGE = 20_000  # a safety stop; no language comes near it


@dataclass(frozen=True)
class Config:
    seeds: int = 200
    target_width: float = 0.2
    refresh: int = 20  # votes between reads of the log, as the arena's cache
    prior_votes: float = 10.0


@dataclass(frozen=True)
class CellResult:
    language: str
    model: str
    truth: float
    wins: int
    losses: int

    @property
    def decided(self) -> bool:
        low, high = wilson_interval(self.wins, self.wins + self.losses)
        return bool(low > 0.5 or high < 0.5)

    @property
    def wrong(self) -> bool:
        """Decided, on the other side of parity than the truth."""
        return self.decided and (self.wins / (self.wins + self.losses) > 0.5) != (self.truth > 0.5)

    @property
    def overshoot(self) -> float:
        """How much further from parity the estimate is than the truth."""
        return abs(self.wins / (self.wins + self.losses) - 0.5) - abs(self.truth - 0.5)


@dataclass(frozen=True)
class LanguageRun:
    votes: int  # until every cell was done
    cells: list[CellResult]  # at that moment
    later: list[CellResult]  # after `budget` votes (the arena goes on), or the same


def legacy_summary(csv: Path, registry: Registry) -> Summary:
    """The legacy log's verdicts: imported into a temporary battle log, then summarised."""
    with (
        tempfile.TemporaryDirectory() as folder,
        BattleStore(Path(folder) / "legacy.duckdb") as store,
    ):
        import_legacy(csv, store, registry)
        counts = store.read(lambda cur: pair_counts(cur))
    return summarise(counts)


def true_shares(
    summary: Summary, registry: Registry, prior_votes: float
) -> dict[str, dict[str, float]]:
    """Language -> MultiSynt model id -> its true share, shrunk as the module says."""
    pooled = summary.overall.win_rate
    truth: dict[str, dict[str, float]] = {}
    for code, language in registry.languages.items():
        cells = {c.system: c for c in summary.cells if c.language == code}
        wins = sum(c.wins for c in cells.values())
        decisive = sum(c.decisive for c in cells.values())
        language_share = (wins + prior_votes * pooled) / (decisive + prior_votes)
        truth[code] = {}
        for variant in language.multisynt:
            cell = cells.get(variant.variant)
            w, n = (cell.wins, cell.decisive) if cell else (0, 0)
            truth[code][variant.model_id] = (w + prior_votes * language_share) / (n + prior_votes)
    return truth


def _stream_seed(seed: int, language: str, model: str) -> int:
    return zlib.crc32(f"{seed}:{language}:{model}".encode())


def run_language(
    language: Language,
    truth: dict[str, float],
    policy: str,
    seed: int,
    config: Config,
    budget: int = 0,
) -> LanguageRun:
    """Decisive votes in `language` until every cell is done, steered by `policy`; then
    on (as the arena goes on) until `budget` votes, if more."""
    settings = MatchmakingSettings(policy=policy, target_width=config.target_width)  # type: ignore[arg-type]
    rule = AllocationPolicy.from_settings(settings)
    models = [v.model_id for v in language.multisynt]
    log = {m: (0, 0) for m in models}  # the simulated battle log: (wins, losses)
    streams = {m: Random(_stream_seed(seed, language.code, m)) for m in models}
    clock = [0.0]
    counts = VoteCounts(
        lambda: {m: w + lo for m, (w, lo) in log.items()},
        ttl_s=config.refresh,
        clock=lambda: clock[0],
        load_tallies=lambda: dict(log),
    )
    chooser = Random(_stream_seed(seed, language.code, policy))
    loaded: set[str] = set()
    votes = 0
    stopped: tuple[int, list[CellResult]] | None = None
    while stopped is None or votes < budget:
        if stopped is None and (
            votes >= MAX_VOTES_PER_LANGUAGE or all(cell_done(t, rule) for t in log.values())
        ):
            stopped = (votes, [CellResult(language.code, m, truth[m], *log[m]) for m in models])
            continue
        counts.refresh_if_stale()
        shares = shares_for(language, counts.tallies(), settings)
        variant = choose_variant(
            language,
            counts=counts.cached(),
            loaded=loaded,
            slack=settings.slack,
            rng=chooser,
            shares=shares,
        )
        model = variant.model_id
        won = streams[model].random() < truth[model]
        wins, losses = log[model]
        log[model] = (wins + 1, losses) if won else (wins, losses + 1)
        counts.bump([model, language.hplt.model_id], (model, won))
        loaded = {model}
        votes += 1
        clock[0] += 1
    assert stopped is not None
    later = [CellResult(language.code, m, truth[m], *log[m]) for m in models]
    return LanguageRun(stopped[0], stopped[1], later)


@dataclass
class Totals:
    """One policy's runs: votes per seed (summed over languages) and per language, and
    the cells at each language's stop (`later`: active continued to balanced's votes)."""

    votes: list[int] = field(default_factory=list)
    per_language: dict[str, list[int]] = field(default_factory=dict)
    cells: list[CellResult] = field(default_factory=list)
    later: list[CellResult] = field(default_factory=list)


def simulate(registry: Registry, truth: dict[str, dict[str, float]], config: Config) -> dict:
    """Both policies over `config.seeds` simulated arenas; the report's dict."""
    totals = {p: Totals(per_language={code: [] for code in registry.languages}) for p in POLICIES}
    started = time.monotonic()
    for seed in range(config.seeds):
        seed_votes = dict.fromkeys(POLICIES, 0)
        for code, language in registry.languages.items():
            budget = 0
            for policy in POLICIES:  # balanced first: active then goes on to its votes
                run = run_language(language, truth[code], policy, seed, config, budget)
                budget = run.votes
                seed_votes[policy] += run.votes
                totals[policy].per_language[code].append(run.votes)
                totals[policy].cells += run.cells
                totals[policy].later += run.later
        for policy in POLICIES:
            totals[policy].votes.append(seed_votes[policy])
        if (seed + 1) % 20 == 0 or seed + 1 == config.seeds:
            print(
                f"seed {seed + 1}/{config.seeds}: median votes balanced "
                f"{statistics.median(totals['balanced'].votes):.0f}, active "
                f"{statistics.median(totals['active'].votes):.0f} "
                f"({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return report(totals, config)


def _wrong(cells: list[CellResult]) -> float:
    decided = [c for c in cells if c.decided]
    return round(sum(c.wrong for c in decided) / max(len(decided), 1), 4)


def _overshoot(cells: list[CellResult]) -> float:
    return round(statistics.fmean(c.overshoot for c in cells), 4)


def _error(cells: list[CellResult]) -> float:
    """Mean estimate minus truth: below 0, the estimates lean toward HPLT."""
    return round(statistics.fmean(c.wins / (c.wins + c.losses) - c.truth for c in cells), 4)


def report(totals: dict[str, Totals], config: Config) -> dict:
    balanced = statistics.median(totals["balanced"].votes)
    active = statistics.median(totals["active"].votes)
    result: dict = {
        "votes_balanced": balanced,
        "votes_active": active,
        "saving": round(1.0 - active / balanced, 4),
        "seeds": config.seeds,
        "target_width": config.target_width,
    }
    for policy, t in totals.items():
        result[f"decided_cells_{policy}"] = round(
            sum(c.decided for c in t.cells) / max(len(t.cells), 1), 4
        )
        result[f"wrong_verdicts_{policy}"] = _wrong(t.cells)
        result[f"overshoot_{policy}"] = _overshoot(t.cells)
        result[f"mean_error_{policy}"] = _error(t.cells)
    later = totals["active"].later
    result["wrong_verdicts_active_equal_votes"] = _wrong(later)
    result["overshoot_active_equal_votes"] = _overshoot(later)
    result["mean_error_active_equal_votes"] = _error(later)
    result["per_language"] = {
        code: {p: statistics.median(totals[p].per_language[code]) for p in POLICIES}
        for code in totals["balanced"].per_language
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Config()
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="simulated arenas")
    parser.add_argument(
        "--target-width", type=float, default=defaults.target_width, help="done at this width"
    )
    parser.add_argument(
        "--refresh", type=int, default=defaults.refresh, help="votes between reads of the log"
    )
    parser.add_argument(
        "--prior-votes", type=float, default=defaults.prior_votes, help="shrinkage, in votes"
    )
    parser.add_argument("--csv", type=Path, default=LEGACY_CSV, help="legacy arena_results.csv")
    args = parser.parse_args(argv)
    config = Config(args.seeds, args.target_width, args.refresh, args.prior_votes)
    registry = load_registry()
    truth = true_shares(legacy_summary(args.csv, registry), registry, config.prior_votes)
    print(json.dumps(simulate(registry, truth, config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The `/leaderboard` page's state without a browser: filters, interface language, new
votes, downloads and failures, each read from a real DuckDB battle log.

The fixture log (`tests.analytics_helpers`) holds 12 voted battles: 9 Swedish (one of them
flagged identity_tell, left out by default), 2 Finnish (one from the legacy arena, both on
the second day), 1 multilingual; one more battle is unvoted.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import holoviews as hv
import pytest

from analytics.queries import UNTRUSTED_FLAGS, Filters
from app.core.i18n import load_catalogue
from app.core.settings import AnalyticsSettings
from app.core.store import BattleStore
from app.web.pages import leaderboard_view as view
from app.web.pages.leaderboard_state import LeaderboardState
from tests.analytics_helpers import FIN_HPLT, FIN_MS, battle, fill_fixture

T = TypeVar("T")
CATALOGUE = load_catalogue()
SETTINGS = AnalyticsSettings(bootstrap_rounds=50)
ALL_TRUSTED = 11  # the 12 voted battles but the one flagged identity_tell


@pytest.fixture
def store(db_path: Path) -> Iterator[BattleStore]:
    fill_fixture(db_path)
    with BattleStore(db_path) as s:
        yield s


@pytest.fixture
def state(store: BattleStore) -> LeaderboardState:
    return LeaderboardState(store, SETTINGS, CATALOGUE)


class Batches:
    """The state's parameter changes, one set of names per watcher call (per batch)."""

    def __init__(self, state: LeaderboardState) -> None:
        self.calls: list[set[str]] = []
        names = ["ui_language", "flags", "data", "plots", "failed"]
        state.param.watch(lambda *events: self.calls.append({e.name for e in events}), names)


def axis(plot: object) -> str:
    """A chart's x-axis label: the page shows chart titles as headings, not in the chart."""
    return hv.render(plot, backend="bokeh").xaxis[0].axis_label


async def test_the_first_read_shows_the_trusted_votes_and_six_english_charts(
    state: LeaderboardState,
) -> None:
    assert state.data is None and state.plots == {} and not state.failed
    assert "Loading…" in view.summary_html(state.translator, state.data)
    batches = Batches(state)
    await state.refresh()
    assert state.data is not None
    assert state.data.filters == Filters(exclude_flags=UNTRUSTED_FLAGS)
    assert state.data.matched_votes == ALL_TRUSTED
    assert state.data.marker[0] == 12
    assert tuple(state.plots) == view.CHARTS
    assert axis(state.plots["over_time"]) == "day (UTC)"
    assert batches.calls == [{"data", "plots"}]  # one batch: the page renders once
    assert state.filename("csv") == "battles.csv"


@pytest.mark.parametrize(
    ("filters", "votes", "csv_name"),
    [
        ({"language": "swe"}, 8, "battles_swe.csv"),
        ({"sources": ["legacy"]}, 1, "battles_legacy.csv"),
        ({"exclude_flags": []}, 12, "battles_with-flagged.csv"),
        ({"dates": (date(2026, 3, 3), date(2026, 3, 3))}, 2, "battles_2026-03-03_2026-03-03.csv"),
        ({"language": "fin", "sources": ["arena"]}, 1, "battles_fin_arena.csv"),
    ],
    ids=["language", "source", "flagged kept", "dates", "two at once"],
)
async def test_a_filter_change_reads_what_it_selects(
    state: LeaderboardState, filters: dict[str, Any], votes: int, csv_name: str
) -> None:
    await state.refresh()
    before = state.data
    batches = Batches(state)
    await state.apply(**filters)
    assert state.data is not before and state.data is not None
    assert state.data.matched_votes == votes
    assert state.filename("csv") == csv_name
    assert batches.calls == [{"data", "plots"}]


async def test_a_change_during_a_read_is_read_once_more_when_it_ends(
    state: LeaderboardState,
) -> None:
    batches = Batches(state)
    # The first read is under way (in its thread) when the language changes twice.
    await asyncio.gather(state.refresh(), state.apply(language="fin"), state.apply(language="mul"))
    assert state.data is not None and state.data.filters.languages == ("mul",)
    assert state.data.matched_votes == 1
    assert len(batches.calls) == 2  # the first read, then one more for both changes


async def test_the_interface_language_redraws_the_charts_without_reading_again(
    state: LeaderboardState,
) -> None:
    await state.refresh()
    data = state.data
    batches = Batches(state)
    state.set_interface("swe")
    assert state.ui_language == "swe" and state.translator.code == "swe"
    assert state.data is data  # the same numbers, new words
    assert axis(state.plots["over_time"]) == "dag (UTC)"
    assert batches.calls == [{"ui_language", "plots"}]
    assert "<b>11 röster</b>" in view.summary_html(state.translator, state.data)
    state.set_interface("xx")  # not a catalogue language: the default
    assert state.ui_language == "eng" and axis(state.plots["over_time"]) == "day (UTC)"


async def test_the_interface_language_before_the_first_read(store: BattleStore) -> None:
    state = LeaderboardState(store, SETTINGS, CATALOGUE, ui_language="fin")
    assert state.translator.code == "fin"
    state.set_interface("swe")
    assert state.ui_language == "swe" and state.plots == {}
    await state.refresh()
    assert axis(state.plots["over_time"]) == "dag (UTC)"


async def test_a_poll_reads_again_only_when_a_vote_arrived(
    state: LeaderboardState, store: BattleStore
) -> None:
    await state.refresh()
    data = state.data
    await state.poll()
    assert state.data is data  # nothing new: nothing recomputed
    assert store.record_vote_sync("x2", "tie").accepted
    await state.poll()
    assert state.data is not data and state.data is not None
    assert state.data.marker[0] == 13 and state.data.matched_votes == ALL_TRUSTED + 1


async def test_a_flag_new_to_the_log_becomes_a_choice(
    state: LeaderboardState, store: BattleStore
) -> None:
    await state.refresh()
    assert state.flags == list(UNTRUSTED_FLAGS)
    flagged = battle("f9", "fin", FIN_MS, FIN_HPLT, "tower9b", multisynt_left=True,
                     outcome="ms", flags=("language_mismatch",))  # fmt: skip
    store.record_battles_sync([flagged])
    await state.poll()
    assert state.flags == ["identity_tell", "language_mismatch", "vote_burst"]
    names = view.flag_options(state.translator, state.flags)
    assert names["A text named a model"] == "identity_tell" and len(names) == 3


async def test_downloads_hold_the_filtered_battles(state: LeaderboardState) -> None:
    await state.apply(language="swe")
    name, payload = await state.download("csv")
    assert name == "battles_swe.csv"
    rows = list(csv.DictReader(io.StringIO(payload.decode("utf-8"))))
    assert len(rows) == 8 and {r["language"] for r in rows} == {"swe"}
    name, payload = await state.download("parquet")
    assert name == "battles_swe.parquet" and payload[:4] == b"PAR1"


class FailingReads:
    """The battle store, but its next `failures` reads raise (as an interrupted read does
    while the server shuts down)."""

    def __init__(self, store: BattleStore, failures: int) -> None:
        self.store, self.failures = store, failures

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if self.failures:
            self.failures -= 1
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
        return self.store.read(fn)


async def test_a_failed_read_says_so_and_the_next_poll_tries_again(store: BattleStore) -> None:
    reads = FailingReads(store, failures=0)
    state = LeaderboardState(reads, SETTINGS, CATALOGUE)  # type: ignore[arg-type]
    await state.refresh()
    shown = state.data
    reads.failures = 1
    await state.apply(language="swe")
    assert state.failed and state.data is shown  # the last numbers stay, marked stale
    assert 'role="alert"' in view.summary_html(state.translator, state.data, state.failed)
    state.set_interface("swe")
    assert "Kunde inte läsa omgångsloggen" in view.summary_html(
        state.translator, state.data, state.failed
    )
    await state.poll()  # no new vote, but the last read failed: read again
    assert not state.failed and state.data is not None
    assert state.data.filters.languages == ("swe",)


async def test_filters_set_as_they_are_read_nothing(state: LeaderboardState) -> None:
    """A widget that sends its value again (the page does after translating the flag
    names) costs no read."""
    await state.refresh()
    batches = Batches(state)
    await state.apply(exclude_flags=list(UNTRUSTED_FLAGS), language="")
    assert batches.calls == []
    await state.apply(exclude_flags=list(UNTRUSTED_FLAGS), language="fin")
    assert batches.calls == [{"data", "plots"}]

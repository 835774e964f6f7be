"""The state of one analyst's `/leaderboard` page, as plain Python the page binds widgets to.

One `LeaderboardState` per browser session. It holds the filters (the page's widgets set
them), reads what they select (`analytics.dashboard.load_dashboard`) and draws its charts
in the interface language. Every read goes through `BattleStore.read` (a fresh cursor per
call) in a worker thread, so the server's event loop never waits on DuckDB. An open page
calls `poll` every `ARENA_ANALYTICS__REFRESH_S` seconds: it reads a cheap fingerprint of
the votes and recomputes only when a vote arrived. Downloads of the filtered battles are
read the same way. Nothing here knows about widgets; the page renders these parameters.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from datetime import datetime
from types import ModuleType
from typing import Any, Literal

import param

from analytics.dashboard import DashboardData, load_dashboard
from analytics.queries import (
    SOURCES,
    UNTRUSTED_FLAGS,
    Filters,
    change_marker,
    export_filename,
    export_filtered,
)
from app.core.i18n import DEFAULT, Catalogue, Translator
from app.core.settings import AnalyticsSettings
from app.core.store import BattleStore
from app.web.pages.leaderboard_view import chart_objects

log = logging.getLogger(__name__)

Format = Literal["csv", "parquet"]


def _charts() -> ModuleType:
    """`analytics.charts`, imported on first use in a worker thread: hvplot takes seconds
    to import, which neither every arena start nor the server's event loop should wait."""
    return importlib.import_module("analytics.charts")


class LeaderboardState(param.Parameterized):
    """One analyst's dashboard: the filters, the data they select, its charts."""

    ui_language = param.String(default=DEFAULT, doc="the interface language's code")

    # ---- the filters (the page's widgets set them, through `apply`) ----------------------
    language = param.String(default="", doc="one arena language's code; empty: all")
    dates = param.DateRange(default=None, allow_None=True, doc="voted between, inclusive")
    sources = param.ListSelector(default=list(SOURCES), objects=list(SOURCES))
    exclude_flags = param.List(
        default=list(UNTRUSTED_FLAGS), item_type=str, doc="leave out battles flagged so"
    )

    # ---- what the page shows -------------------------------------------------------------
    flags = param.List(
        default=list(UNTRUSTED_FLAGS),
        item_type=str,
        doc="the flags one may leave out: the untrusted ones, then any other the log holds",
    )
    data = param.ClassSelector(
        class_=DashboardData, default=None, allow_None=True, doc="None until the first read"
    )
    plots = param.Dict(default={}, doc="`leaderboard_view.CHARTS` drawn from `data`, translated")
    failed = param.Boolean(default=False, doc="the last read failed (the next poll retries)")

    def __init__(
        self,
        store: BattleStore,
        settings: AnalyticsSettings,
        catalogue: Catalogue,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._store = store
        self._settings = settings
        self._catalogue = catalogue
        self._t = catalogue.translator(self.ui_language)
        self.ui_language = self._t.code  # an unknown code falls back to the default
        self._charts: ModuleType | None = None
        # The votes' fingerprint at the last read; None: read again at the next poll.
        self._marker: tuple[int, datetime | None] | None = None
        self._running = False
        self._again = False

    @property
    def translator(self) -> Translator:
        """The interface language's strings (what the page's labels are written in)."""
        return self._t

    @property
    def filters(self) -> Filters:
        """The filters as `analytics` takes them."""
        start, end = self.dates if self.dates else (None, None)
        return Filters(
            languages=(self.language,) if self.language else (),
            start=start,
            end=end,
            sources=tuple(self.sources),
            exclude_flags=tuple(self.exclude_flags),
        )

    def set_interface(self, code: str) -> None:
        """Show everything in interface language `code` (one batch); the data stays."""
        self._t = self._catalogue.translator(code)
        plots = self._draw(self.data) if self.data is not None else self.plots
        self.param.update(ui_language=self._t.code, plots=plots)

    async def apply(self, **filters: Any) -> None:
        """Set filters (by parameter name, in one batch) and show what they select
        (nothing to do if they are as they were)."""
        if all(getattr(self, name) == value for name, value in filters.items()):
            return
        self.param.update(**filters)
        await self.refresh()

    async def refresh(self) -> None:
        """Read what the filters select and draw it. One read at a time per page; a call
        meanwhile (a filter changed) makes the running one read once more when it ends."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                read = functools.partial(
                    load_dashboard,
                    filters=self.filters,
                    rounds=self._settings.bootstrap_rounds,
                    min_votes=self._settings.min_votes,
                )
                data = await asyncio.to_thread(self._store.read, read)
                self._marker = data.marker
                if self._charts is None:
                    self._charts = await asyncio.to_thread(_charts)
                self._show(data)
                if not self._again:
                    break
        except Exception:
            log.exception("leaderboard refresh failed")
            self._marker = None
            self.failed = True
        finally:
            self._running = False

    async def poll(self) -> None:
        """Read again if a vote arrived since the last read (or the last read failed)."""
        try:
            marker = await asyncio.to_thread(self._store.read, change_marker)
        except Exception as exc:  # e.g. the store closing at shutdown: try again next tick
            log.debug("leaderboard poll failed: %s", exc)
            return
        if marker != self._marker:
            await self.refresh()

    def filename(self, fmt: Format) -> str:
        """The download's name, saying what was filtered (`battles_swe.csv`), for the data
        shown (the filters, before the first read)."""
        filters = self.data.filters if self.data is not None else self.filters
        return export_filename(filters, fmt)

    async def download(self, fmt: Format) -> tuple[str, bytes]:
        """The battles the filters select, as a file: its name and its bytes."""
        filters = self.filters
        # In a thread: a large export takes DuckDB a while (~0.6 s per 100,000 battles),
        # and on the event loop it would stall every voter's page meanwhile.
        export = functools.partial(export_filtered, filters=filters, fmt=fmt)
        return export_filename(filters, fmt), await asyncio.to_thread(self._store.read, export)

    # ---- internals -----------------------------------------------------------------------

    def _show(self, data: DashboardData) -> None:
        """`data` and everything drawn from it, in one batch (one render of the page)."""
        flags = self.flags
        if set(data.known_flags) - set(flags):
            flags = sorted(set(flags) | set(data.known_flags))
        self.param.update(data=data, plots=self._draw(data), flags=flags, failed=False)

    def _draw(self, data: DashboardData) -> dict[str, object]:
        assert self._charts is not None  # loaded with the first data
        return chart_objects(self._t, data, self._charts)

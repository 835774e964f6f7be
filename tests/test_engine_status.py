"""The state of a battle's models read from `/status` documents, and what the voter is
told about it (in English, through the interface catalogue as the page does).

The documents are built the way the supervisor builds them (`Supervisor.status()` over the
fake launcher), plus hand-written ones for the edge cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from app.arena.engine_status import Readiness, StatusPoller, battle_readiness, resident_models
from app.arena.round_prep import describe_readiness, generate_allowed
from app.core.i18n import DEFAULT, load_catalogue
from app.core.registry import load_registry
from tests.test_supervisor import FakeLauncher, make_supervisor
from tgi.load_history import LoadHistory

PAIR = ["ms-a", "hp-a"]
TELLS = ("ms-", "hp-", "MultiSynt", "HPLT")


def engine(model: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "state": state, **extra}


def status(*engines: dict[str, Any], queue: Sequence[dict[str, Any]] = (), **top: Any) -> dict:
    return {"launcher": "standin", "slots": [{"engines": list(engines)}], "queue": queue, **top}


ENGLISH = load_catalogue().translator(DEFAULT)


def said(r: Readiness, language: str) -> str:
    """What the page says about `r`, in English."""
    return describe_readiness(ENGLISH, r, language, generate_allowed(r, {"m": "launched"}))


def no_tells(message: str) -> bool:
    return not any(t in message for t in TELLS)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "a few seconds"), (7.9, "a few seconds"), (38, "about 40 s"), (41, "about 45 s"),
     (60, "about 1 min"), (150, "about 3 min")],
)  # fmt: skip
def test_about(seconds: float, words: str) -> None:
    assert ENGLISH.about(seconds) == words


def test_ready_when_both_models_are_ready() -> None:
    doc = status(engine("ms-a", "ready"), engine("hp-a", "ready"), engine("ms-b", "loading"))
    r = battle_readiness(doc, PAIR)
    assert (r.state, r.ready, r.progress) == ("ready", True, 1.0)
    assert said(r, "Finnish") == "The Finnish models are ready."


def test_loading_reports_the_slowest_model() -> None:
    doc = status(
        engine("ms-a", "loading", progress=0.5, eta_seconds=37.0),
        engine("hp-a", "loading", progress=0.8, eta_seconds=9.0),
    )
    r = battle_readiness(doc, PAIR)
    assert (r.state, r.ready, r.progress, r.eta_s) == ("loading", False, 0.5, 37.0)
    assert said(r, "Finnish") == "Loading the Finnish models, about 40 s…"
    overdue = status(engine("ms-a", "loading", progress=0.99, eta_seconds=0.0))
    assert "almost ready" in said(battle_readiness(overdue, ["ms-a"]), "Finnish")


def test_one_ready_one_loading_is_loading() -> None:
    doc = status(engine("ms-a", "ready"), engine("hp-a", "loading", progress=0.3, eta_seconds=20))
    r = battle_readiness(doc, PAIR)
    assert r.state == "loading" and not r.ready and r.progress == 0.3


def test_queued_with_position() -> None:
    queue = [
        {"position": 1, "holder": "battle-x", "models": ["ms-c"]},
        {"position": 2, "holder": "battle-y", "models": ["ms-a", "hp-a"]},
    ]
    doc = status(engine("hp-a", "ready"), queue=queue)
    r = battle_readiness(doc, PAIR)
    assert (r.state, r.queue_position, r.ready) == ("queued", 2, False)
    assert said(r, "Dutch") == "Waiting for a free model slot for Dutch (number 2 in line)…"


def test_not_loaded_uses_measured_or_typical_load_time() -> None:
    doc = status(expected_load_seconds={"ms-a": 52.0}, typical_load_seconds=30.0)
    r = battle_readiness(doc, PAIR)
    assert (r.state, r.eta_s) == ("not_loaded", 52.0)
    assert said(r, "Basque") == "The Basque models are not loaded yet: loading takes about 55 s."


def test_restarting_and_failed() -> None:
    restarting = status(engine("ms-a", "restarting", eta_seconds=12), engine("hp-a", "ready"))
    r = battle_readiness(restarting, PAIR)
    assert r.state == "restarting" and "restarting, about 15 s" in said(r, "German")
    failed = status(engine("ms-a", "failed"), engine("hp-a", "loading"))
    r = battle_readiness(failed, PAIR)
    assert r.state == "failed" and not r.ready and "failed to start" in said(r, "German")


def test_replicas_count_when_any_is_ready() -> None:
    doc = status(engine("ms-a", "failed"), engine("ms-a", "ready"), engine("hp-a", "ready"))
    doc["launcher"] = "remote"
    assert battle_readiness(doc, PAIR).ready


def test_stopping_engines_do_not_count() -> None:
    doc = status(engine("ms-a", "stopping"), engine("hp-a", "ready"))
    assert battle_readiness(doc, PAIR).state == "not_loaded"


def test_unreachable_supervisor_and_static_endpoints() -> None:
    r = battle_readiness(None, PAIR)
    assert (r.state, r.ready) == ("unknown", False)
    static = {"launcher": "static", "slots": [], "queue": []}
    assert battle_readiness(static, PAIR).ready


def test_messages_never_name_a_model() -> None:
    registry = load_registry()
    lang = registry.language("swe")
    models = [lang.multisynt[0].model_id, lang.hplt.model_id]
    docs = [
        None,
        status(*(engine(m, "loading", progress=0.1, eta_seconds=30) for m in models)),
        status(*(engine(m, "failed") for m in models)),
        status(queue=[{"position": 1, "models": models}]),
        status(),
    ]
    for doc in docs:
        message = said(battle_readiness(doc, models), lang.name)
        assert no_tells(message) and "hplt" not in message.lower(), message


def test_resident_models() -> None:
    doc = status(engine("ms-a", "ready"), engine("ms-b", "loading"), engine("ms-c", "failed"))
    assert resident_models(doc) == {"ms-a", "ms-b"}
    assert resident_models(None) == set()


async def test_readiness_from_a_live_supervisor_status() -> None:
    launcher = FakeLauncher(load_s=0.3)
    sup = make_supervisor(launcher, history=LoadHistory(default_s=0.6))
    try:
        assert battle_readiness(sup.status(), PAIR).state == "not_loaded"
        assert sup.prefetch(PAIR) == {"ms-a": "launched", "hp-a": "launched"}
        r = battle_readiness(sup.status(), PAIR)
        assert r.state == "loading" and 0 <= (r.progress or 0) < 1 and r.eta_s
        lease = await sup.acquire(PAIR, "battle")
        assert battle_readiness(sup.status(), PAIR).ready
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()


class CountingDirectory:
    """Serves a scripted sequence of `/status` documents and counts the fetches."""

    def __init__(self, docs: list[dict[str, Any] | None]) -> None:
        self.docs = docs
        self.fetches = 0

    async def status(self) -> dict[str, Any] | None:
        self.fetches += 1
        await asyncio.sleep(0.01)
        return self.docs[min(self.fetches - 1, len(self.docs) - 1)]


async def test_poller_fetches_once_per_interval_for_every_session() -> None:
    directory = CountingDirectory([status(engine("ms-a", "ready"), engine("hp-a", "ready"))])
    poller = StatusPoller(directory, interval_s=30)  # type: ignore[arg-type]
    results = await asyncio.gather(*(poller.latest() for _ in range(20)))
    assert all(battle_readiness(r, PAIR).ready for r in results)
    assert directory.fetches == 1


def test_sleeping_engines_wake_in_about_a_second() -> None:
    waking = status(engine("ms-a", "waking", eta_seconds=0.6), engine("hp-a", "ready"))
    r = battle_readiness(waking, PAIR)
    assert r.state == "waking" and not r.ready
    assert said(r, "Finnish") == "Waking the Finnish models, a few seconds…"
    # A waking model and a loading one: the voter hears about the load (the longer wait).
    mixed = status(engine("ms-a", "waking", eta_seconds=1), engine("hp-a", "loading"))
    assert battle_readiness(mixed, PAIR).state == "loading"
    # Asleep: not on the GPU, but its wait is a wake, not a load.
    asleep = status(
        engine("ms-a", "asleep"),
        engine("hp-a", "ready"),
        expected_wake_seconds={"ms-a": 0.9},
        typical_load_seconds=40.0,
    )
    r = battle_readiness(asleep, PAIR)
    assert (r.state, r.eta_s) == ("not_loaded", 0.9)
    assert "ms-a" in resident_models(waking) and "ms-a" not in resident_models(asleep)

"""The arena load test: its wire format against bokeh's own decoder, its arithmetic, and a
small real run (demo process, voters over the websocket, the battle log audited)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from bokeh.document import Document
from bokeh.models import Button, Column, TextAreaInput

from app.core.registry import load_registry
from benchmark import profile_summary
from benchmark.arena_voter import RoundResult
from benchmark.bokeh_client import change_event, click_event
from benchmark.loadtest import arrival_s, pause_s
from benchmark.loadtest_mix import language_mix, legacy_counts
from benchmark.loadtest_report import LoggedBattle, check_votes, percentile, summarise

REPO = Path(__file__).resolve().parents[1]
KEYS = {
    "voters",
    "battles",
    "votes",
    "lost_votes",
    "duplicate_votes",
    "p50_slowdown",
    "p95_slowdown",
    "p95_first_text_s",
    "server_cpu_share",
}


def test_clicks_and_typing_decode_as_a_browser_s_would() -> None:
    """Bokeh's own server-side decoding turns our messages into a ButtonClick and a value
    change, exactly what BokehJS's messages become."""
    doc = Document()
    button, prompt = Button(label="Generate"), TextAreaInput(title="Prompt")
    seen: list[object] = []
    button.on_event("button_click", lambda event: seen.append(("click", event.model.id)))
    prompt.on_change("value", lambda _attr, _old, new: seen.append(("value", new)))
    doc.add_root(Column(button, prompt))
    doc.apply_json_patch(
        {"events": [change_event(prompt.id, "value", "Det var"), click_event(button.id)]}
    )
    assert seen == [("value", "Det var"), ("click", button.id)]


def test_the_mix_is_the_legacy_log_s() -> None:
    registry = load_registry()
    mix = dict(language_mix(registry))
    assert abs(sum(mix.values()) - 1) < 1e-9 and max(mix, key=mix.get) == "swe"  # type: ignore[arg-type]
    assert dict(language_mix(registry, ["swe", "por"])).keys() == {"swe", "por"}
    counts = legacy_counts(registry)  # counted independently of the importer
    assert sum(counts.values()) == 564 and counts["swe"] == 243 and "por" not in counts


def _round(prompt: str, winner: str | None, confirmed: bool, votable_s: float = 4.0) -> RoundResult:
    return RoundResult(
        0, 0, "swe", prompt, 0.0, "votable", 0.2, votable_s, winner, confirmed=confirmed
    )


def test_votes_are_audited_against_the_log() -> None:
    results = [
        _round("[t-0-0] a", "tie", True),  # stored: fine
        _round("[t-0-1] b", "model_a", True),  # confirmed, missing from the log: lost
        _round("[t-0-2] c", "model_b", False),  # stored, never confirmed: a stuck page
        _round("[t-0-3] d", None, False),  # not voted, yet the log has a vote: duplicate
    ]
    logged = [
        LoggedBattle("[t-0-0] a", "completed", "tie", 100, 3.2),
        LoggedBattle("[t-0-1] b", "completed", None, 100, 3.2),
        LoggedBattle("[t-0-2] c", "completed", "model_b", 100, 3.2),
        LoggedBattle("[t-0-3] d", "completed", "tie", 100, 3.2),
        LoggedBattle("[t-0-0] a", "completed", None, 100, 3.2),  # logged twice: duplicate
    ]
    audit = check_votes(results, logged)
    assert audit["lost_votes"] == 1
    assert audit["duplicate_votes"] == 2
    assert audit["unconfirmed_votes"] == 1


def test_slowdown_is_votable_time_over_tokens_times_interval() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 95) is None
    results = [_round("[t-0-0] a", "tie", True, votable_s=4.4)]
    logged = [LoggedBattle("[t-0-0] a", "completed", "tie", 100, 3.3)]
    s = summarise(
        results, logged, voters=1, duration_s=10, token_interval_s=0.04, max_new_tokens=112
    )
    assert s["p50_slowdown"] == pytest.approx(1.1)  # 4.4 s for 100 tokens at 0.04 s
    assert s["p50_engine_slowdown"] == pytest.approx(0.825)
    assert s["p50_app_overhead_s"] == pytest.approx(1.1)


@pytest.mark.slow
def test_five_voters_lose_and_double_no_vote() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    cmd = [sys.executable, "-m", "app.cli", "loadtest", "--standin", "--voters", "5"]
    cmd += ["--duration", "6", "--languages", "swe,nob", "--token-interval", "0.01"]
    cmd += ["--max-new-tokens", "24", "--double-click-rate", "0.5", "--round-timeout", "5"]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary.keys() >= KEYS
    assert summary["voters"] == 5 and summary["battles"] >= 5 and summary["votes"] >= 5
    assert summary["lost_votes"] == 0 and summary["duplicate_votes"] == 0
    assert summary["failed"] == 0 and summary["protocol_errors"] == 0
    assert summary["db_votes"] >= summary["votes"]
    assert summary["p95_slowdown"] >= summary["p50_slowdown"] >= 1.0
    assert summary["server_exit_code"] == 0
    assert summary["server_cpu_s_per_page"] > 0  # opening the five pages cost the server


def test_profile_summary_counts_busy_samples_only(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (app/cli/main.py:1);render (/x/app/web/pages/arena.py:9);"
        "escape (html/__init__.py:3) 6\n"
        "main (app/cli/main.py:1);render (/x/app/web/pages/arena.py:9) 2\n"
        "main (app/cli/main.py:1);select (selectors.py:4) 90\n",
        encoding="utf-8",
    )
    busy, own, inclusive, _ = profile_summary.summarise(raw)
    assert busy == 8  # the 90 idle samples in select are left out
    assert own["escape (html/__init__.py)"] == 6
    assert inclusive["render (app/web/pages/arena.py)"] == 8
    assert not any("cli.py" in frame for frame in inclusive)  # entry points are noise


def test_profile_summary_counts_stacks_read_only_part_of_the_way_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "profile.txt"
    root = "_run_module_as_main (<frozen runpy>:198);serve (app/web/server.py:1)"
    raw.write_text(
        f"{root};stream (/x/app/core/inference/tgi_client.py:81) 3\n"
        "stream (/x/app/core/inference/tgi_client.py:81);parse (json/decoder.py:9) 1\n"
        "Thread._bootstrap (threading.py:1002);_run (/x/app/core/store/battle_store.py:117) 4\n",
        encoding="utf-8",
    )
    summary = profile_summary.summarise(raw)
    assert (summary.busy, summary.cut) == (8, 1)  # the coroutine's stack lost its root
    assert profile_summary.main([str(raw)]) == 0
    assert "12% of them with a cut stack" in capsys.readouterr().out


def test_voters_who_pause_arrive_over_a_whole_cycle_and_stop_with_the_window() -> None:
    rng = random.Random(7)
    arrivals = [arrival_s(rng, cycle_s=48.0, left_s=100.0) for _ in range(2000)]
    assert min(arrivals) < 1.0 and max(arrivals) > 47.0  # spread, not all at once
    assert all(a <= 5.0 for a in (arrival_s(rng, 48.0, 5.0) for _ in range(200)))
    pauses = [pause_s(rng, think_s=45.0, left_s=1000.0) for _ in range(4000)]
    assert 40.0 < sum(pauses) / len(pauses) < 50.0  # exponential, mean 45 s
    assert max(pause_s(rng, 45.0, left_s=2.0) for _ in range(200)) <= 2.0
    assert pause_s(rng, 45.0, left_s=-1.0) == 0.0 and pause_s(rng, 0.0, left_s=9.0) == 0.0

"""How much time the app adds on top of the engines, measured in a real browser.

Runs `oellm-arena demo` (stand-in engines, real supervisor, real DuckDB) and plays N battles
in Debian's Chromium. For each battle it measures, inside the page, the time from the click
on Generate to the first visible text and to the vote buttons being enabled, and compares
them with what the app logged for the engines themselves (`ttft_ms_*`, `duration_ms_*`):

    overhead to first text = click -> first text  -  min(ttft_ms_a, ttft_ms_b)
    overhead to votable    = click -> votable     -  max(duration_ms_a, duration_ms_b)

Both include the websocket round trips, the supervisor lease, buffering and rendering: all
that the voter waits for beyond the engines. It also reports the web app process's CPU time
per battle. Usage:

    uv run python -m benchmark.arena_latency [--battles 20] [--token-interval 0.03]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from app.core.registry import load_registry
from benchmark.harness import chromium, free_port, run_demo, warm_up
from benchmark.proc_cpu import cpu_seconds

CONTINUATION_SHOWN_JS = """
() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches && el.matches('.continuation') && el.textContent.length > 0) found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  if (found.length && window.__t_first === undefined) window.__t_first = performance.now();
  return found.length > 0;
}
"""

VOTABLE_JS = """
() => {
  let ok = false;
  const walk = (root) => {
    for (const el of root.querySelectorAll('button')) {
      if (el.textContent.trim() === 'A is better' && !el.disabled) ok = true;
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  if (ok && window.__t_votable === undefined) window.__t_votable = performance.now();
  return ok;
}
"""

CLICK_JS = (
    "el => { window.__t_first = undefined; window.__t_votable = undefined; "
    "window.__t0 = performance.now(); el.click(); }"
)


PAGE_STATE_JS = """
() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('.arena-message, .arena-text, button')) {
      out.push((el.disabled ? '[disabled] ' : '') + el.textContent.trim().slice(0, 120));
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out.join(' | ');
}
"""


def _wait(page: Any, js: str, timeout_s: float, what: str, demo: Any) -> None:
    """Wait for `js` to hold; on timeout say what the page showed and the server logged."""
    try:
        page.wait_for_function(js, polling=5, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        shown = page.evaluate(PAGE_STATE_JS)
        log = "\n".join(demo.log_text().splitlines()[-15:])
        raise RuntimeError(
            f"{what}: nothing after {timeout_s:g} s. The page shows: {shown}\n"
            f"Last lines of the demo's log:\n{log}"
        ) from None


def run(battles: int, token_interval: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        # One voter plays battles back to back: more than the per-session limit allows.
        limits = {"ARENA_TRUST__BATTLES_PER_MINUTE_PER_SESSION": "1000"}
        demo_cm = run_demo(Path(tmp), token_interval_s=token_interval, extra_env=limits)
        with demo_cm as demo, chromium() as browser:
            swedish = load_registry().language("swe")
            warm_up(demo.supervisor_url, [c.model_id for c in swedish.contenders])
            page = browser.new_page()
            page.goto(demo.url)
            page.get_by_label("Language").select_option(label="Swedish · Svenska")
            prompt = page.get_by_label("Prompt")
            generate = page.get_by_role("button", name="Generate")
            new_round = page.get_by_role("button", name="New round")
            timings: list[tuple[float, float]] = []
            cpu_start = None
            for i in range(battles + 1):  # the first battle warms up (engine start)
                prompt.fill(f"Det var en gång en liten katt, berättelse nummer {i}, som")
                if i == 1:
                    cpu_start = cpu_seconds(demo.proc.pid)
                generate.evaluate(CLICK_JS)
                _wait(page, CONTINUATION_SHOWN_JS, 60, f"battle {i}: first text", demo)
                _wait(page, VOTABLE_JS, 120, f"battle {i}: vote buttons enabled", demo)
                t0, t1, t2 = page.evaluate("[window.__t0, window.__t_first, window.__t_votable]")
                if i > 0:
                    timings.append((t1 - t0, t2 - t0))
                page.get_by_role("button", name="Tie").click()
                page.get_by_text("Thank you, your vote is saved").wait_for()
                new_round.click()
            cpu = cpu_seconds(demo.proc.pid) - (cpu_start or 0.0)
            assert demo.stop() == 0, demo.log_text()
        con = duckdb.connect(str(demo.db_path), read_only=True)
        rows = con.execute(
            "SELECT least(ttft_ms_a, ttft_ms_b), greatest(duration_ms_a, duration_ms_b) "
            "FROM battles WHERE status = 'completed' ORDER BY created_at"
        ).fetchall()[1:]
        con.close()
    first = [t[0] - r[0] for t, r in zip(timings, rows, strict=True)]
    votable = [t[1] - r[1] for t, r in zip(timings, rows, strict=True)]

    def summary(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {
            "median_ms": round(statistics.median(xs), 1),
            "p90_ms": round(xs[int(0.9 * (len(xs) - 1))], 1),
            "max_ms": round(xs[-1], 1),
        }

    return {
        "battles": battles,
        "token_interval_s": token_interval,
        "engine_ttft_median_ms": round(statistics.median(r[0] for r in rows), 1),
        "engine_duration_median_ms": round(statistics.median(r[1] for r in rows), 1),
        "click_to_first_text_median_ms": round(statistics.median(t[0] for t in timings), 1),
        "click_to_votable_median_ms": round(statistics.median(t[1] for t in timings), 1),
        "overhead_first_text": summary(first),
        "overhead_votable": summary(votable),
        "app_cpu_ms_per_battle": round(1000 * cpu / battles, 1),
    }


def panel_floor(rounds: int) -> dict[str, float]:
    """Click-to-visible of a minimal Panel app (benchmark.panel_floor_app), same method."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmark.panel_floor_app", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/arena"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        with chromium() as browser:
            page = browser.new_page()
            shown, votable = [], []
            page.goto(url)
            for _ in range(rounds):
                page.get_by_role("button", name="New round").click()
                expect(page.get_by_role("button", name="A is better")).to_be_disabled()
                page.get_by_role("button", name="Generate").evaluate(CLICK_JS)
                page.wait_for_function(CONTINUATION_SHOWN_JS, polling=5, timeout=30_000)
                page.wait_for_function(VOTABLE_JS, polling=5, timeout=30_000)
                t0, t1, t2 = page.evaluate("[window.__t0, window.__t_first, window.__t_votable]")
                shown.append(t1 - t0)
                votable.append(t2 - t0)
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "click_to_text_median_ms": round(statistics.median(shown), 1),
        "click_to_enabled_median_ms": round(statistics.median(votable), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=20)
    parser.add_argument("--token-interval", type=float, default=0.03)
    args = parser.parse_args()
    result = run(args.battles, args.token_interval)
    result["panel_floor"] = panel_floor(max(10, args.battles))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

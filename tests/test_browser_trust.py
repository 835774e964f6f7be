"""Trust properties in a real browser against a real `oellm-arena demo` process.

Clicks on two vote buttons in the same instant leave exactly the first vote; a blank prompt
is refused with a message; and a vote the page confirmed survives SIGKILL of the whole app.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from benchmark.harness import CHROMIUM, chromium, run_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

# Click every vote button inside one JavaScript task: the server sees them back to back.
CLICK_ALL_VOTES_JS = """
() => {
  const labels = ['A is better', 'B is better', 'Tie', 'Both are bad'];
  const buttons = [];
  const walk = (root) => {
    for (const b of root.querySelectorAll('button'))
      if (labels.includes(b.textContent.trim())) buttons.push(b);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  const rank = (b) => labels.indexOf(b.textContent.trim());
  buttons.sort((x, y) => rank(x) - rank(y));
  for (const b of buttons) { b.click(); b.click(); }
  return buttons.length;
}
"""


def test_one_vote_per_battle_and_a_confirmed_vote_survives_sigkill(tmp_path: Path) -> None:
    with run_demo(tmp_path) as demo, chromium() as browser:
        page = browser.new_page()
        page.goto(demo.url)
        page.get_by_label("Language").select_option(label="Danish · Dansk")

        page.get_by_label("Prompt").fill("   ")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_text("Write the start of a text first")).to_be_visible()

        page.get_by_label("Prompt").fill("Det var en tidlig morgen i Aarhus, og")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_role("button", name="A is better")).to_be_enabled(timeout=60_000)
        assert page.evaluate(CLICK_ALL_VOTES_JS) == 4
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=15_000)

        os.kill(demo.proc.pid, signal.SIGKILL)
        assert demo.proc.wait(10) == -signal.SIGKILL

    con = duckdb.connect(str(demo.db_path), read_only=True)
    rows = con.execute("SELECT winner, voted_at IS NOT NULL, status FROM battles").fetchall()
    con.close()
    assert rows == [("model_a", True, "completed")]

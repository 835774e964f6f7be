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
        expect(page.get_by_text("Write the start of a text first")).to_be_visible(timeout=30_000)

        page.get_by_label("Prompt").fill("Det var en tidlig morgen i Aarhus, og")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_role("button", name="A is better")).to_be_enabled(timeout=60_000)
        assert page.evaluate(CLICK_ALL_VOTES_JS) == 4
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=30_000)

        os.kill(demo.proc.pid, signal.SIGKILL)
        assert demo.proc.wait(10) == -signal.SIGKILL

    con = duckdb.connect(str(demo.db_path), read_only=True)
    rows = con.execute("SELECT winner, voted_at IS NOT NULL, status FROM battles").fetchall()
    con.close()
    assert rows == [("model_a", True, "completed")]


HOSTILE_PROMPTS = [
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">',
    "[klik her](javascript:window.__pwned=3) **fed** <a href='javascript:alert(1)'>a</a>",
    "Et ord uden ende: " + "æ" * 1900,
    "\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u202c slut",
    "Emoji og kontrol: \U0001f600\U0001f1e9\U0001f1f0 \x07\x1b[31m\x08 \ufeff slut",
]

PANES_JS = """
() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('pre.arena-text'))
      out.push({text: el.querySelector('.prompt').textContent,
                children: el.querySelectorAll('*').length,
                width: el.getBoundingClientRect().width});
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return {panes: out, pwned: window.__pwned === undefined ? null : window.__pwned,
          scroll: document.documentElement.scrollWidth, viewport: window.innerWidth};
}
"""


def test_hostile_prompts_are_shown_as_inert_text(tmp_path: Path) -> None:
    with (
        run_demo(tmp_path, extra_env={"ARENA_GENERATION__MAX_NEW_TOKENS": "12"}) as demo,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.goto(demo.url)
        page.get_by_label("Language").select_option(label="Danish · Dansk")
        vote = page.get_by_role("button", name="Tie")
        for prompt in HOSTILE_PROMPTS:
            page.get_by_role("button", name="New round").click()
            page.get_by_label("Prompt").fill(prompt)
            page.get_by_role("button", name="Generate").click()
            expect(vote).to_be_enabled(timeout=60_000)
            state = page.evaluate(PANES_JS)
            assert state["pwned"] is None, prompt
            assert len(state["panes"]) == 2
            for pane in state["panes"]:
                assert pane["children"] == 2  # the prompt and continuation spans, nothing else
                assert pane["text"] == prompt.rstrip().replace("\r", "")
                assert pane["width"] <= state["viewport"]  # a 1,900-letter word wraps
            assert state["scroll"] <= state["viewport"]
            vote.click()
            expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=30_000)
        assert demo.stop() == 0, demo.log_text()

    con = duckdb.connect(str(demo.db_path), read_only=True)
    stored = [
        r[0] for r in con.execute("SELECT prompt FROM battles ORDER BY created_at").fetchall()
    ]
    con.close()
    assert stored == [p.rstrip() for p in HOSTILE_PROMPTS]  # stored exactly, as text

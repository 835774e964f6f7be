"""A whole blind battle in a real browser against `oellm-arena demo`.

Chooses Swedish, generates, waits for both texts, votes, sees the reveal, and finds the row
in DuckDB. Before the vote, no model id or family name may appear in the page (shadow roots
included) or in any websocket message the browser received.
"""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from app.core.registry import load_registry
from benchmark.harness import CHROMIUM, chromium, run_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

# Every string that would tell the voter which model or family wrote a text.
TELLS = sorted(
    {
        *load_registry().all_models(),
        "MultiSynt",
        "HPLT",
        "hplt2c",
        "nemotron-cc",
        "tower9b",
        "tower72b",
        "mixture",
    }
)

# The visible text and markup of the page, walking into every open shadow root.
DEEP_HTML_JS = """
() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
    }
  };
  parts.push(document.documentElement.outerHTML);
  walk(document);
  return parts.join('\\n');
}
"""


PAYLOAD = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    " **fet** [x](javascript:alert(1))"
)

# The visible text of each arena text pane, and the elements inside them.
PANE_TEXT_JS = """
() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('pre.arena-text')) out.push(el.innerText);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}
"""
PANE_ELEMENTS_JS = PANE_TEXT_JS.replace(
    "out.push(el.innerText)",
    "{ out.push(el.tagName); for (const c of el.querySelectorAll('*')) out.push(c.tagName); }",
)


def _readable(frame: str) -> str:
    """A websocket frame with JSON and HTML escapes undone, so a tell cannot hide in them."""
    with contextlib.suppress(ValueError):
        frame = json.dumps(json.loads(frame), ensure_ascii=False)
    return html.unescape(frame)


def _tells_in(text: str) -> list[str]:
    return [t for t in TELLS if t.lower() in text.lower()]


def test_a_blind_battle_end_to_end(tmp_path: Path) -> None:
    prompt_text = "Det var en gång en liten katt som bodde i Göteborg och"
    with run_demo(tmp_path) as demo, chromium() as browser:
        page = browser.new_page()
        frames: list[str] = []

        def on_ws(ws) -> None:  # type: ignore[no-untyped-def]
            ws.on(
                "framereceived",
                lambda payload: frames.append(
                    payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
                ),
            )

        page.on("websocket", on_ws)
        page.goto(demo.url)

        language = page.get_by_label("Language")
        language.select_option(label="Swedish · Svenska")
        swedish = load_registry().language("swe")
        page.get_by_role("button", name="Story").click()
        expect(page.get_by_label("Prompt")).to_have_value(swedish.prompts[0].text)
        page.get_by_label("Prompt").fill(prompt_text)
        page.get_by_role("button", name="Generate").click()

        vote_a = page.get_by_role("button", name="A is better")
        expect(vote_a).to_be_enabled(timeout=60_000)
        for name in ("B is better", "Tie", "Both are bad"):
            expect(page.get_by_role("button", name=name)).to_be_enabled()

        # Both panes show the prompt followed by a continuation.
        deep = page.evaluate(DEEP_HTML_JS)
        assert deep.count("Göteborg och") >= 2
        # Blindness: nothing in the DOM or on the wire names a model before the vote.
        assert _tells_in(deep) == []
        wire = "\n".join(_readable(f) for f in frames)
        assert "Göteborg" in wire  # we really captured the session's messages
        assert _tells_in(wire) == []

        vote_a.click()
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=15_000)
        revealed = page.evaluate(DEEP_HTML_JS)
        assert "hplt2c_swe_checkpoints" in revealed
        assert "nemotron-cc-swedish-" in revealed
        # No second vote: the vote bar steps aside for the reveal (its buttons disabled).
        expect(vote_a).to_be_hidden()
        expect(page.locator(".arena-vote-model_a button")).to_be_disabled()
        expect(page.get_by_role("button", name="New round")).to_be_enabled()

        # A prompt full of markup is shown as text: nothing in it runs or renders.
        page.get_by_role("button", name="New round").click()
        expect(vote_a).to_be_disabled()
        page.get_by_label("Prompt").fill(PAYLOAD)
        page.get_by_role("button", name="Generate").click()
        expect(vote_a).to_be_enabled(timeout=60_000)
        assert page.evaluate("() => window.__pwned === undefined")
        shown = page.evaluate(PANE_TEXT_JS)
        assert len(shown) == 2 and all(t.startswith(PAYLOAD) for t in shown)
        assert page.evaluate(PANE_ELEMENTS_JS) == ["PRE", "SPAN", "SPAN"] * 2

        assert demo.stop() == 0, demo.log_text()

    con = duckdb.connect(str(demo.db_path), read_only=True)
    rows = con.execute(
        "SELECT language, prompt, winner, status, family_a, family_b, response_a, response_b, "
        "voted_at IS NOT NULL, tokens_a, tokens_b, ttft_ms_a, duration_ms_b, source "
        "FROM battles ORDER BY created_at"
    ).fetchall()
    con.close()
    assert len(rows) == 2
    assert rows[1][1] == PAYLOAD and rows[1][2] is None  # the payload battle, not voted
    (lang, prompt, winner, status, fa, fb, ra, rb, voted, ta, tb, ttft_a, dur_b, source) = rows[0]
    assert (lang, prompt, winner, status, source) == (
        "swe",
        prompt_text,
        "model_a",
        "completed",
        "arena",
    )
    assert {fa, fb} == {"multisynt", "hplt"}
    assert voted
    assert ra and rb and not ra.startswith(prompt_text)
    assert ta == tb == 112
    assert ttft_a > 0 and dur_b > 0

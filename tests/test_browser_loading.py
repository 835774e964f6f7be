"""The arena page while models load, in a browser against `oellm-arena demo`.

The demo's stand-ins take seconds to start, as models do in production: the page must say
that the chosen language's models are loading (never which models), keep Generate
disabled until they are ready, and do the same after a switch of language. A click the
instant the page shows Generate enabled is never lost.
"""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.core.registry import load_registry
from benchmark.harness import CHROMIUM, chromium, run_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

TELLS = {*load_registry().all_models(), "MultiSynt", "HPLT", "hplt2c", "nemotron-cc", "tower9b"}


# Clicks Generate in the first animation frame that shows it enabled, once.
CLICK_WHEN_ENABLED_JS = """
(() => {
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('arena-generate')) return el;
      if (el.shadowRoot) { const hit = find(el.shadowRoot); if (hit) return hit; }
    }
    return null;
  };
  const tick = () => {
    const host = find(document);
    const button = host && (host.shadowRoot || host).querySelector('button');
    if (button && !button.disabled) { button.click(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def _readable(frame: str | bytes) -> str:
    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return html.unescape(text)


def test_loading_state_and_a_language_switch_in_the_demo(tmp_path: Path) -> None:
    env = {"ARENA_GENERATION__MAX_NEW_TOKENS": "16"}
    with (
        run_demo(tmp_path, startup_delay_s=3.0, token_interval_s=0.005, extra_env=env) as demo,
        chromium() as browser,
    ):
        page = browser.new_page()
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
        page.add_init_script(CLICK_WHEN_ENABLED_JS)
        page.goto(demo.url)
        generate = page.get_by_role("button", name="Generate")
        status = page.locator(".arena-readiness")

        # The instant click, with no prompt yet, is answered: the page asks for a prompt.
        message = page.locator(".arena-message")
        expect(message).to_contain_text("Write the start of a text", timeout=60_000)
        expect(status).to_contain_text("The Swedish models are ready.")
        expect(generate).to_be_enabled()
        seen = "\n".join(_readable(f) for f in frames)
        assert "Loading the Swedish models" in seen  # the page said so while it waited
        assert 'max=\\"100\\"' in seen or 'max="100"' in seen  # with a progress bar

        page.get_by_label("Language").select_option(label="Finnish · Suomi")
        expect(status).to_contain_text("Loading the Finnish models", timeout=20_000)
        expect(generate).to_be_disabled()
        expect(page.locator(".arena-readiness progress")).to_have_count(1)
        expect(status).to_contain_text("The Finnish models are ready.", timeout=60_000)
        expect(generate).to_be_enabled()

        page.get_by_label("Prompt").fill("Olipa kerran pieni kissa, joka asui")
        generate.click()
        vote = page.get_by_role("button", name="A is better")
        expect(vote).to_be_enabled(timeout=30_000)
        before_vote = "\n".join(_readable(f) for f in frames)
        assert "Olipa kerran" in before_vote
        assert [t for t in TELLS if t.lower() in before_vote.lower()] == []  # still blind
        vote.click()
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=20_000)
        assert demo.stop() == 0, demo.log_text()
    assert "Traceback" not in demo.log_text(), demo.log_text()

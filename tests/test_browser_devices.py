"""The arena on phones and desktops, in a real browser with real mobile emulation.

Each size gets its own browser context: phones as Playwright emulates them (`is_mobile`,
`has_touch`, a device scale factor of 3: the page is laid out as a phone lays it out,
honouring the viewport meta tag), desktops as plain windows. At each size a battle runs
from the first click to the reveal, and the test asserts what the voter relies on:

- the page is laid out at the device's width, and no element is wider than the screen;
- text is at least 16 px on phones (the small print excepted), every control a touch
  target of at least 44 x 44 px;
- while the texts stream, no button moves (a finger aiming at one never lands on another);
- once both texts are complete, the four vote choices are on screen without scrolling,
  and the keyboard focus is on the first.

Screenshots (mid-stream, complete, revealed) go to `ARENA_SCREENSHOT_DIR` when set, else
to this test's temporary folder; the test prints where. `docs/screenshots/` holds the
ones docs/voter-experience.md shows (copied from such a run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from benchmark.harness import CHROMIUM
from tests.device_layout import LAYOUT_JS, SIZES, screenshot_folder, wide_or_small
from tests.voter_server import VoterServer, run_voter_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

VOTES = ("A is better", "B is better", "Tie", "Both are bad")
PROMPT = "Det var en gang en gammel fisker som bodde ved fjorden og"

# Every few milliseconds while the texts stream: where each button is on the screen.
SAMPLE_BUTTONS_JS = """
() => {
  window.__buttons = new Set();
  const boxes = () => {
    const out = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('button')) {
        const b = el.getBoundingClientRect();
        out.push(`${el.textContent.trim()}@${Math.round(b.left)},${Math.round(b.top)}`);
      }
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
    };
    walk(document);
    return out;
  };
  window.__buttonSampler = setInterval(() => boxes().forEach((b) => window.__buttons.add(b)), 5);
}
"""

# The element that has the keyboard focus, through shadow roots.
FOCUSED_JS = """
() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el ? el.textContent.trim() : null;
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoterServer]:
    # Texts long enough to run past every tested screen; one side streams slowly enough
    # to be caught mid-stream.
    workdir = tmp_path_factory.mktemp("devices")
    with run_voter_server(workdir, slow_interval=0.02, max_new_tokens=160) as s:
        yield s
        assert s.stop() == 0, s.log_text()
    assert "Traceback" not in s.log_text(), s.log_text()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder(tmp_path_factory, "arena")


def continuation_lengths(page: Page) -> list[int]:
    return page.evaluate(
        """() => { const out = [];
          const walk = (r) => { for (const el of r.querySelectorAll('pre.arena-text .continuation'))
            out.push(el.textContent.length);
            for (const el of r.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
          walk(document); return out; }"""
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_the_arena_fits_the_device_and_the_vote_is_in_reach(  # type: ignore[no-untyped-def]
    browser, server: VoterServer, shots: Path, size: str
) -> None:
    expect.set_options(timeout=20_000)  # a shared two-core machine: replies can take seconds
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    page.goto(server.url)
    phone = bool(SIZES[size].get("is_mobile"))
    width = SIZES[size]["viewport"]["width"]
    height = SIZES[size]["viewport"]["height"]

    generate = page.get_by_role("button", name="Generate")
    expect(generate).to_be_enabled(timeout=30_000)
    page.get_by_label("Language").select_option(label="Norwegian Bokmål · Norsk bokmål")
    # Generate once the page says so (a click while the server checks the new language's
    # models is dropped by Panel 1.10, as tests/test_browser_voter.py's `play` explains).
    expect(page.get_by_text("The Norwegian Bokmål models are ready.")).to_be_visible()
    expect(generate).to_be_enabled(timeout=30_000)
    page.get_by_label("Prompt").fill(PROMPT)
    generate.click()
    page.evaluate(SAMPLE_BUTTONS_JS)  # after the click, which may scroll to Generate
    scrolled = page.evaluate("window.scrollY")

    # Mid-stream: the fast side has written, the slow one is still writing.
    page.wait_for_function(
        """() => { const l = []; const walk = (r) => {
             for (const el of r.querySelectorAll('pre.arena-text .continuation'))
               l.push(el.textContent.length);
             for (const el of r.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
           walk(document); return l.length === 2 && Math.max(...l) > 40; }""",
        timeout=30_000,
    )
    page.screenshot(path=str(shots / f"{size}-streaming.png"), scale="css")
    first = page.get_by_role("button", name=VOTES[0])
    expect(first).to_be_enabled(timeout=60_000)
    page.evaluate("clearInterval(window.__buttonSampler)")
    assert min(continuation_lengths(page)) > 200  # long texts, so the test means something

    # No button moved while the texts streamed (each sat at one place throughout).
    places: dict[str, set[str]] = {}
    for sample in page.evaluate("[...window.__buttons]"):
        label, _, place = sample.rpartition("@")
        places.setdefault(label, set()).add(place)
    moved = {label: p for label, p in places.items() if len(p) > 1}
    assert set(VOTES) <= set(places) and moved == {}, moved
    assert page.evaluate("window.scrollY") == scrolled  # nor did the page scroll under them

    # Complete: the four choices on screen, without scrolling; the focus on the first.
    for name in VOTES:
        box = page.get_by_role("button", name=name).bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (name, box)
    assert page.evaluate(FOCUSED_JS) == VOTES[0]
    page.screenshot(path=str(shots / f"{size}-complete.png"), scale="css")

    layout = page.evaluate(LAYOUT_JS)
    assert layout["layout"] == width  # laid out at the device's width, not zoomed out
    assert layout["scroll"] <= width
    wide, tiny_text, tiny_controls = wide_or_small(layout, phone)
    assert wide == [], wide
    assert tiny_text == [], tiny_text
    assert tiny_controls == [], tiny_controls

    # The vote by touch on a phone (a tap), by click on a desktop; then the reveal.
    if phone:
        first.tap()
    else:
        first.click()
    expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=15_000)
    expect(page.locator(".arena-reveal").first).to_contain_text("/", timeout=15_000)
    page.screenshot(path=str(shots / f"{size}-revealed.png"), scale="css")
    layout = page.evaluate(LAYOUT_JS)
    wide, tiny_text, tiny_controls = wide_or_small(layout, phone)
    assert (wide, tiny_text, tiny_controls) == ([], [], [])
    context.close()

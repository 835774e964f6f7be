"""The `/leaderboard` page on phones and desktops, in a real browser with mobile emulation.

`oellm-arena demo` serves a battle log holding the imported legacy sample. Each size gets
its own browser context (phones as Playwright emulates them: `is_mobile`, `has_touch`, a
device scale factor of 3, as tests/test_browser_devices.py does for the arena), and the
test asserts what a reader relies on:

- the page is laid out at the device's width, and no element is wider than the screen
  (the tables included: their text wraps, no column is cut off or scrolled away);
- text is at least 16 px on phones (small print excepted), every control a touch target
  of at least 44 x 44 px;
- the answer (MultiSynt against HPLT, overall and per translation system) is the first
  thing on the screen, above the filters and the charts;
- the "leave out" box shows no placeholder beside the flags it holds;
- the ratings table ends with its last row: no blank box under it;
- with every column on show (on demand), the tables still fit.

Screenshots (the first screen, and the whole page) go to `ARENA_SCREENSHOT_DIR` when set,
else to a temporary folder; the test prints where.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmark.harness import CHROMIUM, DemoServer, run_demo
from tests.analytics_helpers import SAMPLE_CSV, imported, legacy_truth
from tests.device_layout import LAYOUT_JS, SIZES, screenshot_folder, wide_or_small

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

# Every Tabulator grid (in its shadow root): how wide its rows are against its box, which
# texts are cut short, and how much room is left under its last row.
GRIDS_JS = """
() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('.tabulator')) {
      if (el.offsetParent === null) continue;  // a grid not on show
      const holder = el.querySelector('.tabulator-tableholder');
      const table = el.querySelector('.tabulator-table');
      if (!holder || !table) continue;
      // Text cut short in a cell or a title (larger than its box, hidden by the box).
      const cut = [...el.querySelectorAll('.tabulator-cell, .tabulator-col-title')]
        .filter((c) => c.offsetParent !== null &&
          (c.scrollWidth > c.clientWidth + 1 || c.scrollHeight > c.clientHeight + 1))
        .map((c) => c.textContent.trim().slice(0, 30));
      out.push({rows: table.children.length, scroll: holder.scrollWidth, cut,
                client: holder.clientWidth, gap: holder.clientHeight - table.offsetHeight});
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}
"""

# The placeholder of the "leave out" box's text field (inside its shadow root).
PLACEHOLDER_JS = """
() => {
  const walk = (root) => {
    for (const el of root.querySelectorAll('input.choices__input')) return el.placeholder;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const hit = walk(el.shadowRoot); if (hit !== null) return hit; }
    }
    return null;
  };
  return walk(document);
}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    workdir = tmp_path_factory.mktemp("leaderboard-devices")
    db = workdir / "arena.duckdb"  # where run_demo puts the log
    imported(SAMPLE_CSV, db)
    env = {"ARENA_ANALYTICS__BOOTSTRAP_ROUNDS": "200"}
    with run_demo(workdir, extra_env=env) as server:
        yield server
        assert server.stop() == 0, server.log_text()
    assert "Traceback" not in server.log_text(), server.log_text()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder(tmp_path_factory, "leaderboard")


@pytest.mark.parametrize("size", list(SIZES))
def test_the_leaderboard_fits_the_device_and_opens_with_the_answer(  # type: ignore[no-untyped-def]
    browser, demo: DemoServer, shots: Path, size: str
) -> None:
    expect.set_options(timeout=30_000)  # a shared two-core machine: replies can take seconds
    truth = legacy_truth(SAMPLE_CSV)
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    page.goto(demo.url.replace("/arena", "/leaderboard"))
    phone = bool(SIZES[size].get("is_mobile"))
    width = SIZES[size]["viewport"]["width"]
    height = SIZES[size]["viewport"]["height"]

    expect(page.get_by_text(f"{truth.battles} votes", exact=True)).to_be_visible(timeout=60_000)
    expect(page.locator("canvas").nth(5)).to_be_visible()
    expect(page.get_by_role("gridcell", name="HPLT/hplt2c_nob_checkpoints")).to_be_visible()

    # The answer first: on the first screen, above the filters.
    answer = page.locator(".leaderboard-answer")
    expect(answer).to_be_visible()
    expect(answer.locator("li").first).to_contain_text("All MultiSynt models")
    # Overall, then opus, tower72b, tower9b; the rest folded under two lines.
    expect(answer.locator(":scope > ul > li")).to_have_count(4)
    expect(answer.locator("details")).to_have_count(2)
    expect(answer.locator("details li").first).to_be_hidden()
    box = answer.bounding_box()
    filters = page.locator(".leaderboard-language").bounding_box()
    assert box and filters
    assert box["y"] < height / 2 and box["y"] + box["height"] <= filters["y"], (box, filters)
    page.screenshot(path=str(shots / f"leaderboard-{size}.png"), scale="css")

    # Each language's verdict, and the votes it still needs, one tap away.
    by_language = answer.locator("details", has_text="By language")
    by_language.locator("summary").click()
    expect(by_language.locator("li")).to_have_count(len(truth.battles_by_language))
    expect(by_language.locator("li", has_text="Swedish")).to_be_visible()
    by_language.screenshot(path=str(shots / f"leaderboard-{size}-by-language.png"), scale="css")

    layout = page.evaluate(LAYOUT_JS)
    assert layout["layout"] == width  # laid out at the device's width, not zoomed out
    assert layout["scroll"] <= width
    wide, tiny_text, tiny_controls = wide_or_small(layout, phone)
    assert wide == [], wide
    assert tiny_text == [], tiny_text
    assert tiny_controls == [], tiny_controls

    # The tables fit their box (no column scrolled away) and end with their last row.
    grids = page.evaluate(GRIDS_JS)
    assert len(grids) == 2 and all(g["rows"] > 0 for g in grids), grids
    assert all(g["scroll"] <= g["client"] + 1 and g["cut"] == [] for g in grids), grids
    assert all(g["gap"] <= 2 for g in grids), grids
    # Two flags are left out by default: no "none left out" beside them.
    assert page.evaluate(PLACEHOLDER_JS) == ""

    page.screenshot(
        path=str(shots / f"leaderboard-{size}-full.png"),
        scale="css",
        full_page=True,
        timeout=90_000,
    )
    context.close()

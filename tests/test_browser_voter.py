"""The voter's experience in a real browser: their own language, one pace, keys, reasons.

One `oellm-arena serve` process over two stand-in engines of very different speeds
(`tests/voter_server.py`) serves every test of this module; each test opens its own
browser context (its own session, language and viewport). The battle log is read from
the analysts' snapshot, which the running app refreshes on request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from benchmark.harness import CHROMIUM
from tests.voter_server import HPLT, MULTISYNT, VoterServer, run_voter_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

NOB = "Norwegian Bokmål · Norsk bokmål"
READY = "The Norwegian Bokmål models are ready."
PROMPT = "Det var en gang en gammel fisker som bodde ved fjorden og"

# Both panes' continuation lengths, sampled every few milliseconds by the page itself.
SAMPLER_JS = """
() => {
  window.__samples = [];
  const lengths = () => {
    const out = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('pre.arena-text .continuation'))
        out.push(el.textContent.length);
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
    };
    walk(document);
    return out;
  };
  window.__sampler = setInterval(() => {
    const l = lengths();
    if (l.length === 2) window.__samples.push([performance.now(), l[0], l[1]]);
  }, 5);
}
"""

# Every form control and button, with what names it for assistive technology.
CONTROLS_JS = """
() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('button, select, textarea, input')) {
      const labelled = el.labels && el.labels.length
        ? [...el.labels].map((l) => l.textContent.trim()).join(' ') : '';
      const name = el.getAttribute('aria-label') || labelled ||
        (el.tagName === 'BUTTON' ? el.textContent.trim() : '');
      out.push([el.tagName, name]);
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoterServer]:
    with run_voter_server(tmp_path_factory.mktemp("voter")) as s:
        yield s
        assert s.stop() == 0, s.log_text()
    assert "Traceback" not in s.log_text(), s.log_text()


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    # The shared CI machine runs other test processes beside this one: a server reply can
    # take seconds, and the default five-second patience of `expect` is not enough.
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


def open_page(browser, server: VoterServer, path: str = "", **context) -> Page:  # type: ignore[no-untyped-def]
    page = browser.new_context(**context).new_page()
    page.goto(server.url + path)
    return page


def play(page: Page, prompt: str = PROMPT) -> None:
    """Generate a Norwegian battle (English interface) and wait until it can be voted on."""
    language = page.get_by_label("Language")
    if language.input_value() != NOB:  # Bokeh's options carry their labels as values
        language.select_option(label=NOB)
    # As a person does: Generate once the page says the new language's models are ready.
    # Clicked while the server still checks them (Generate enabled in the browser, not yet
    # disabled by the server), Panel 1.10 drops the click.
    expect(page.get_by_text(READY)).to_be_visible(timeout=30_000)
    generate = page.get_by_role("button", name="Generate")
    expect(generate).to_be_enabled()
    page.get_by_label("Prompt").fill(prompt)
    generate.click()
    expect(page.get_by_role("button", name="A is better")).to_be_enabled(timeout=30_000)


def test_the_interface_follows_a_swedish_browser(browser, server: VoterServer) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, server, locale="sv-SE")
    expect(page.get_by_role("button", name="Generera")).to_be_visible()
    expect(page.get_by_label("Textens början")).to_be_visible()
    expect(page.get_by_label("Gränssnitt")).to_have_value("Svenska")
    # The arena language is a separate choice; a Swedish browser starts on Swedish.
    expect(page.get_by_label("Språk", exact=True)).to_have_value("Svenska")
    for name in ("A är bättre", "B är bättre", "Lika bra", "Båda är dåliga", "Ny omgång"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(page.get_by_text("Så fungerar det.")).to_be_visible()
    expect(page.get_by_text("Tangentbord:")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "sv"
    expect(page.get_by_role("button", name="Generate", exact=True)).to_have_count(0)

    # The leaderboard follows the same browser.
    board = page.context.new_page()
    board.goto(server.url.replace("/arena", "/leaderboard"))
    expect(board.get_by_text("OELLM Arena: topplista")).to_be_visible()
    expect(board.get_by_label("Språk", exact=True)).to_be_visible()
    expect(board.get_by_role("button", name="Ladda ner CSV")).to_be_visible(timeout=30_000)
    # Flag names and the vote count come from analytics, in the interface language too.
    chip = board.locator(".choices__item--selectable", has_text="En text nämnde en modell")
    expect(chip).to_be_visible(timeout=30_000)
    expect(board.get_by_text("identity_tell")).to_have_count(0)
    expect(board.get_by_text("röster matchar filtren", exact=False)).to_be_visible(timeout=30_000)


def test_the_interface_follows_a_basque_browser_and_the_about_page(  # type: ignore[no-untyped-def]
    browser, server: VoterServer
) -> None:
    headers = {"Accept-Language": "eu-ES,eu;q=0.9,es;q=0.8,en;q=0.5"}
    page = open_page(browser, server, extra_http_headers=headers)
    expect(page.get_by_role("button", name="Sortu")).to_be_visible()
    expect(page.get_by_label("Testuaren hasiera")).to_be_visible()
    expect(page.get_by_label("Hizkuntza", exact=True)).to_have_value("Euskara")
    expect(page.get_by_role("button", name="Txanda berria")).to_be_visible()
    expect(page.get_by_text("Nola funtzionatzen du.")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "eu"

    page.get_by_role("link", name="Honi buruz").click()
    expect(page.get_by_role("heading", name="OELLM Arenari buruz")).to_be_visible()
    for href in ("https://huggingface.co/MultiSynt", "https://hplt-project.org"):
        expect(page.locator(f'a[href="{href}"]')).to_have_count(1)


def test_switching_the_interface_language_rerenders_everything(  # type: ignore[no-untyped-def]
    browser, server: VoterServer
) -> None:
    page = open_page(browser, server, locale="en-GB")
    play(page)
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible()

    page.get_by_label("Interface").select_option("Svenska")
    expect(page.get_by_text("Tack, din röst är sparad")).to_be_visible()
    expect(page.get_by_text("MultiSynt (tränad på maskinöversatt text)")).to_be_visible()
    expect(page.get_by_role("button", name="Generera")).to_be_visible()
    # The arena language did not change with the interface.
    expect(page.get_by_label("Språk", exact=True)).to_have_value("Norska (bokmål) · Norsk bokmål")
    assert page.evaluate("document.documentElement.lang") == "sv"

    page.get_by_label("Gränssnitt").select_option("English")
    expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible()
    expect(page.get_by_role("button", name="Generate")).to_be_visible()


def test_equal_pace_in_the_browser(browser, server: VoterServer) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, server)
    page.get_by_label("Language").select_option(label=NOB)
    page.evaluate(SAMPLER_JS)
    play(page)
    samples = page.evaluate("() => { clearInterval(window.__sampler); return window.__samples; }")
    final = (max(s[1] for s in samples), max(s[2] for s in samples))
    first_text = [min(t for t, *lens in samples if lens[i] > 0) for i in (0, 1)]
    complete = [min(t for t, *lens in samples if lens[i] == final[i]) for i in (0, 1)]
    (dur_a, dur_b, model_a) = server.rows(
        "SELECT duration_ms_a, duration_ms_b, model_a FROM battles "
        "WHERE status = 'completed' ORDER BY created_at DESC LIMIT 1"
    )[0]
    fast, slow = (dur_a, dur_b) if model_a == MULTISYNT else (dur_b, dur_a)
    assert slow - fast > 250 and slow > 3 * fast, (fast, slow)  # real timings, logged
    # ...but neither pane started or finished visibly first.
    assert abs(first_text[0] - first_text[1]) < 200, first_text
    assert abs(complete[0] - complete[1]) < 200, (complete, fast, slow)


def test_keyboard_voting_and_its_limits(browser, server: VoterServer) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, server)
    expect(page.get_by_text("Keyboard:")).to_be_visible()
    play(page, "Klokken var fem om morgenen da")
    # A key typed into the prompt is text, never a vote.
    page.get_by_label("Prompt").press("End")
    page.get_by_label("Prompt").press("2")
    expect(page.get_by_label("Prompt")).to_have_value("Klokken var fem om morgenen da2")
    page.get_by_role("heading", name="A", exact=True).click()  # focus leaves the prompt
    page.keyboard.press("1")
    expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible()
    page.keyboard.press("2")  # no vote is possible now: nothing happens
    page.keyboard.press("n")
    expect(page.get_by_role("button", name="A is better")).to_be_disabled()
    expect(page.get_by_text("Thank you, your vote is saved")).to_have_count(0)
    page.keyboard.press("3")  # still nothing to vote on
    rows = server.rows("SELECT prompt, winner FROM battles WHERE prompt LIKE 'Klokken%'")
    assert rows == [("Klokken var fem om morgenen da", "model_a")]


def test_reasons_are_stored_with_the_battle(browser, server: VoterServer) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, server)
    expect(page.get_by_role("button", name="Save reasons")).to_have_count(0)  # not before
    play(page, "Oppskrift på fiskesuppe: 1.")
    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible()
    page.get_by_role("group", name="Text A").get_by_role("checkbox", name="Repetitive").check()
    page.get_by_role("group", name="Text A").get_by_role("checkbox", name="Wrong language").check()
    page.get_by_role("group", name="Text B").get_by_role("checkbox", name="Fluent").check()
    # The Language selector stays unambiguous while the tags are on the page.
    expect(page.get_by_label("Language")).to_have_count(1)
    comment = "B flyter bedre <b>ikke fet</b>"
    page.get_by_label("Comment (optional)").fill(comment)
    page.get_by_role("button", name="Save reasons").click()
    expect(page.get_by_text("Thank you, your reasons are saved")).to_be_visible()
    rows = server.rows(
        "SELECT winner, tags_a, tags_b, comment, reasons_at IS NOT NULL FROM battles "
        "WHERE prompt = 'Oppskrift på fiskesuppe: 1.'"
    )
    assert rows == [("model_b", ["repetitive", "wrong_language"], ["fluent"], comment, True)]
    page.get_by_role("button", name="New round").click()
    expect(page.get_by_role("button", name="Save reasons")).to_have_count(0)


def test_a_summary_after_five_votes(browser, server: VoterServer) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, server)
    heading = page.get_by_role("heading", name="Your choices so far")
    for i, vote in enumerate(["A is better", "B is better", "Tie", "A is better", "Both are bad"]):
        expect(heading).to_have_count(0)  # nothing before the fifth vote
        play(page, f"Runde {i}: Det var en gang")
        page.get_by_role("button", name=vote).click()
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible()
        if i < 4:
            page.get_by_role("button", name="New round").click()
    expect(heading).to_be_visible()
    expect(page.get_by_text("Votes so far: 5")).to_be_visible()
    summary = page.locator("section.arena-summary")
    expect(summary).to_contain_text("Trained on translated text")
    page.get_by_text("Your past battles").click()
    expect(summary).to_contain_text(HPLT)
    expect(summary).to_contain_text(MULTISYNT)
    counts = {
        row.locator("th").inner_text(): int(row.locator("td").inner_text())
        for row in summary.locator("table").first.locator("tr").all()
    }
    assert counts["Tie"] == 1 and counts["Both are bad"] == 1
    assert counts["Trained on translated text"] + counts["Trained on native text"] == 3
    # The next battle starts without it: nothing is said while a battle is open.
    page.get_by_role("button", name="New round").click()
    expect(heading).to_have_count(0)


def test_phones_and_zoom_stack_the_panes_and_every_control_is_named(  # type: ignore[no-untyped-def]
    browser, server: VoterServer, tmp_path: Path
) -> None:
    page = open_page(browser, server, viewport={"width": 375, "height": 800})
    play(page)
    a = page.locator(".arena-side-a").bounding_box()
    b = page.locator(".arena-side-b").bounding_box()
    assert a and b
    assert b["y"] >= a["y"] + a["height"] - 1, (a, b)  # B below A, not beside it
    assert abs(a["x"] - b["x"]) < 2 and a["width"] > 300, (a, b)
    shot = tmp_path / "phone.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # 200% zoom of a 1280-pixel window: 640 CSS pixels, nothing cut off sideways.
    zoomed = open_page(
        browser, server, viewport={"width": 640, "height": 900}, device_scale_factor=2
    )
    expect(zoomed.get_by_role("button", name="Generate")).to_be_visible()
    assert zoomed.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    controls = page.evaluate(CONTROLS_JS)
    unnamed = [c for c in controls if not c[1]]
    assert controls and unnamed == [], unnamed
    # Keyboard focus is visible: a thick outline, not a colour change.
    page.get_by_role("button", name="New round").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # back on New round, by keyboard
    width = page.evaluate(
        """() => { const f = (r) => r.activeElement && r.activeElement.shadowRoot
             ? f(r.activeElement.shadowRoot) : r.activeElement;
           return getComputedStyle(f(document)).outlineWidth; }"""
    )
    assert float(width.removesuffix("px")) >= 2, width

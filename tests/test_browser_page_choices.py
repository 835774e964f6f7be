"""Choices on the arena page in a real browser: a new arena language does not keep the old
language's prompt, and the interface language chosen in the selector survives a reload
and a later visit (`?ui=` in the address, the `arena_ui` cookie).

One `oellm-arena serve` process (`tests/voter_server.py`) serves the module; each test
opens its own browser context, so cookies never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.core.registry import load_registry
from benchmark.harness import CHROMIUM
from tests.voter_server import VoterServer, run_voter_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

SWEDISH, FINNISH = "Swedish · Svenska", "Finnish · Suomi"
SWEDISH_PROMPT = "Det var en gång en gammal fiskare som bodde vid sjön och"
SIZES = {"phone": {"width": 375, "height": 800}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoterServer]:
    with run_voter_server(tmp_path_factory.mktemp("choices")) as s:
        yield s
        assert s.stop() == 0, s.log_text()
    assert "Traceback" not in s.log_text(), s.log_text()


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    expect.set_options(timeout=20_000)  # a shared machine: server replies can take seconds
    yield
    expect.set_options(timeout=5_000)


def open_page(browser, url: str, **context) -> Page:  # type: ignore[no-untyped-def]
    page = browser.new_context(locale="en-GB", **context).new_page()
    page.goto(url)
    return page


@pytest.mark.parametrize("size", list(SIZES))
def test_a_new_arena_language_does_not_keep_the_old_prompt(  # type: ignore[no-untyped-def]
    browser, server: VoterServer, tmp_path: Path, size: str
) -> None:
    page = open_page(browser, server.url, viewport=SIZES[size])
    language, prompt = page.get_by_label("Language", exact=True), page.get_by_label("Prompt")
    language.select_option(label=SWEDISH)
    prompt.fill(SWEDISH_PROMPT)
    language.select_option(label=FINNISH)
    expect(prompt).to_have_value("")  # Finnish models must not continue a Swedish text
    readiness = page.locator(".arena-readiness")
    expect(readiness).to_contain_text("Finnish")
    page.screenshot(path=str(tmp_path / f"{size}-cleared.png"), full_page=True)

    # An example stays an example: the same kind, in the new language.
    registry = load_registry()
    page.get_by_role("button", name="Story").click()
    expect(prompt).to_have_value(registry.language("fin").prompts[0].text)
    language.select_option(label=SWEDISH)
    story = registry.language("swe").prompts[0].text
    expect(prompt).to_have_value(story)
    expect(readiness).to_contain_text("Swedish")
    page.screenshot(path=str(tmp_path / f"{size}-example.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # Switching the interface language relabels the arena languages but keeps the prompt.
    page.locator(".arena-interface select").select_option("Svenska")
    expect(page.get_by_role("button", name="Generera")).to_be_visible()
    expect(page.get_by_label("Textens början")).to_have_value(story)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_chosen_interface_language_survives_a_reload(  # type: ignore[no-untyped-def]
    browser, server: VoterServer, tmp_path: Path, size: str
) -> None:
    page = open_page(browser, server.url, viewport=SIZES[size])
    interface = page.locator(".arena-interface select")
    expect(interface).to_have_value("English")
    interface.select_option("Suomi")
    expect(page.get_by_role("button", name="Luo", exact=True)).to_be_visible()
    expect(page).to_have_url(f"{server.url}?ui=fin")  # kept in the address

    page.reload()
    expect(interface).to_have_value("Suomi")
    expect(page.get_by_role("button", name="Luo", exact=True)).to_be_visible()
    page.screenshot(path=str(tmp_path / f"{size}-reloaded.png"), full_page=True)

    # A later visit to the bare address, in the same browser: the cookie remembers.
    later = page.context.new_page()
    later.goto(server.url)
    expect(later.locator(".arena-interface select")).to_have_value("Suomi")
    # An explicit ?ui= still wins, and the other pages follow the remembered choice too.
    later.goto(f"{server.url}?ui=swe")
    expect(later.locator(".arena-interface select")).to_have_value("Svenska")
    board = page.context.new_page()
    board.goto(server.url.replace("/arena", "/about"))
    expect(board.locator(".arena-interface select")).to_have_value("Suomi")

    # Another browser (no cookie) still follows its own language.
    fresh = open_page(browser, server.url)
    expect(fresh.locator(".arena-interface select")).to_have_value("English")
    expect(fresh.get_by_role("button", name="Generate", exact=True)).to_be_visible()

"""The `/arena` page: composes widgets and wires them to an `ArenaSession`.

Widgets send clicks to the session; the session's state comes back through ONE watcher
that updates the widgets under `pn.io.hold()`, so each batch of session changes (the end of
a battle, a switch of the interface language) reaches the browser as one message. What
the page shows from people or models is escaped (`arena_view`); model identities exist
only in the session object on the server until the vote.

Labels follow the interface language. In English they are the stable names that tests
and acceptance checks use (`Language`, `Prompt`, `Generate`, `A is better`, ...); every
key control also carries a stable CSS class (`arena-generate`, `arena-vote-model_a`, ...)
that does not change with the language.
"""

from __future__ import annotations

import html

import panel as pn

from app.arena.services import ArenaServices
from app.arena.session import ArenaSession
from app.core.client_address import session_client_address
from app.core.i18n import Catalogue, Translator
from app.core.store.records import WINNERS
from app.web.pages import arena_view as view
from app.web.pages.arena_reasons import ReasonsForm
from app.web.pages.lean_html import LeanHTML
from app.web.pages.page_kit import (
    FOCUS_CSS,
    READABLE,
    TOUCH_CSS,
    PageScript,
    interface_selector,
    nav_html,
    nav_pane,
    on_loop,
    request_interface,
    soon_on_loop,
)


def _html(obj: str = "", **params: object) -> LeanHTML:
    """An HTML pane styled by the arena CSS (each pane has its own shadow root); its text
    changes (a dozen a second while streaming) send the text alone (`lean_html`)."""
    return LeanHTML(obj, stylesheets=[view.CSS], **params)


def build_arena_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """One voter's page. Called once per browser session by the Panel server."""
    registry, catalogue = services.registry, services.catalogue
    ui = request_interface(catalogue)
    address = session_client_address(services.settings.trusted_proxies)
    session = ArenaSession(services, session_id, client_address=address, ui_language=ui)
    # A voter whose browser prefers an arena language starts there (they can change it).
    if ui in registry.languages:
        session.select_language(ui)
    style = {"stylesheets": [FOCUS_CSS, TOUCH_CSS]}

    interface = interface_selector(catalogue, ui)
    t0 = catalogue.translator(ui)
    language = pn.widgets.Select(
        options={t0.language_label(lang): code for code, lang in registry.languages.items()},
        value=session.language,
        width=320,
        css_classes=["arena-language"],
        **style,
    )
    prompt = pn.widgets.TextAreaInput(
        max_length=4000,
        rows=4,
        auto_grow=True,
        sizing_mode="stretch_width",
        css_classes=["arena-prompt"],
        **style,
    )
    generate = pn.widgets.Button(
        button_type="primary", width=140, css_classes=["arena-generate"], **style
    )
    examples_label = pn.pane.HTML("", margin=(12, 4, 0, 10))
    example_buttons = [
        pn.widgets.Button(button_type="default", button_style="outline", width=110, **style)
        for _ in ("story", "fact", "list")
    ]
    pane_a = _html(sizing_mode="stretch_width")
    pane_b = _html(sizing_mode="stretch_width")
    reveal_a = _html(sizing_mode="stretch_width")
    reveal_b = _html(sizing_mode="stretch_width")
    # Two to a row on a phone, four on a desktop: as wide as the bar allows.
    vote_buttons = {
        winner: pn.widgets.Button(
            disabled=True,
            sizing_mode="stretch_width",
            styles={"flex": "1 1 130px", "min-width": "0"},
            css_classes=[f"arena-vote-{winner}"],
            stylesheets=[FOCUS_CSS, TOUCH_CSS, WRAPPING_LABEL],
        )
        for winner in WINNERS
    }
    # The vote in reach: the four choices sit in a bar at the bottom of the screen, on
    # screen when the texts are complete at every size, however long the texts.
    vote_bar = pn.FlexBox(
        *vote_buttons.values(),
        flex_wrap="wrap",
        sizing_mode="stretch_width",
        css_classes=["arena-vote-bar"],
        styles=VOTE_BAR_STYLE,
    )
    new_round = pn.widgets.Button(width=150, css_classes=["arena-new-round"], **style)
    message = _html(sizing_mode="stretch_width")
    readiness = _html(sizing_mode="stretch_width")
    summary = _html(sizing_mode="stretch_width")
    reasons = ReasonsForm(t0, session.save_reasons)
    # The form is shown only after a vote (hidden, it is out of the accessibility tree).
    # Toggling `visible` is one property; swapping it in and out rebuilt its models.
    reasons_slot = pn.Column(reasons.panel, visible=False, sizing_mode="stretch_width")
    nav = nav_pane(t0, "arena")
    guidance = pn.pane.Markdown("", sizing_mode="stretch_width")
    keys = _html(sizing_mode="stretch_width")
    privacy = pn.pane.HTML("", sizing_mode="stretch_width")
    demo = pn.pane.Alert("", alert_type="warning", visible=services.settings.demo)
    script = PageScript(shortcuts=view.SHORTCUTS, focus=f"arena-vote-{WINNERS[0]}")

    # ---- widgets -> session --------------------------------------------------------------

    def use_example(index: int):  # type: ignore[no-untyped-def]
        def handler(_event) -> None:  # type: ignore[no-untyped-def]
            text = registry.language(session.language).prompts[index].text
            prompt.param.update(value=text, value_input=text)

        return handler

    async def on_generate(_event) -> None:  # type: ignore[no-untyped-def]
        await session.generate(prompt.value_input or prompt.value or "")

    def on_vote(winner: str):  # type: ignore[no-untyped-def]
        async def handler(_event) -> None:  # type: ignore[no-untyped-def]
            await session.vote(winner)  # type: ignore[arg-type]

        return handler

    # Every call into the session runs on the event loop, where its tasks run (`on_loop`).
    interface.param.watch(on_loop(lambda e: session.set_interface(e.new)), "value")
    language.param.watch(on_loop(lambda e: session.select_language(e.new)), "value")
    examples = {code: [p.text for p in lang.prompts] for code, lang in registry.languages.items()}
    language.jscallback(args={"prompt": prompt}, value=view.prompt_on_language_js(examples))
    for i, button in enumerate(example_buttons):
        button.on_click(use_example(i))
    generate.on_click(on_generate)
    for winner, button in vote_buttons.items():
        button.on_click(on_vote(winner))
    new_round.on_click(on_loop(lambda _e: session.new_round()))
    pn.state.on_session_destroyed(lambda _context: session.close())

    # ---- the first round -----------------------------------------------------------------

    # The session prepares its first round (chooses the pairing, follows and loads its
    # models) on the event loop, where its tasks run, as soon as the session exists and
    # before the browser pulls the page (`soon_on_loop`): the page arrives with Generate as
    # the models allow. Started from `pn.state.onload`, after the browser has rendered the
    # page, Generate would first show enabled, then disabled while the session checks the
    # models, and a click in between would be lost (Panel 1.10 drops a click on a disabled
    # button before `on_generate`). Generate stays disabled until the session has started:
    # with Bokeh 3.10 the page function runs on a worker thread, where it cannot start.
    started = False

    def start() -> None:
        nonlocal started
        started = True
        session.start()
        show_generate()

    def show_generate() -> None:
        generate.disabled = not started or session.busy or not session.models_ready
        generate.loading = session.phase in ("loading", "streaming")

    soon_on_loop(start)

    # ---- session -> widgets --------------------------------------------------------------

    def translate(t: Translator) -> None:
        """Every fixed label in the interface language (values and choices are kept)."""
        interface.name = t("interface_label")
        nav.object = nav_html(t, "arena")
        guidance.object = t("guidance_md")
        demo.object = t("demo_notice_md")
        language.param.update(
            name=t("language_label"),
            options={t.language_label(lang): code for code, lang in registry.languages.items()},
        )
        prompt.param.update(name=t("prompt_label"), placeholder=t("prompt_placeholder"))
        examples_label.object = f"<small>{html.escape(t('examples_label'))}</small>"
        for button, kind in zip(example_buttons, ("story", "fact", "list"), strict=True):
            button.name = t(f"example_{kind}")
        generate.name = t("generate")
        for winner, button in vote_buttons.items():
            button.name = t(f"vote_{winner}")
        new_round.name = t("new_round")
        keys.object = view.keys_html(t)
        privacy.object = f"<small>{html.escape(t('privacy_notice'))}</small>"
        reasons.translate(t)
        script.param.update(lang=t.language.html_lang, ui=t.code)

    def render(*events) -> None:  # type: ignore[no-untyped-def]
        """One watcher for every session change, so a batch of changes (the end of a
        battle: last text, phase, message) reaches the browser as one message."""
        changed = {e.name for e in events} if events else set(session.param)
        t = catalogue.translator(session.ui_language)
        lang_tag = _text_lang(catalogue, session.language)
        with pn.io.hold():
            if "ui_language" in changed:
                translate(t)
                summary.object = view.summary_html(t, session.summary)
            if "language" in changed:
                # The example buttons carry no preview tooltip: a Bokeh Tooltip is a new
                # model per language change, and adding models makes Bokeh walk the whole
                # document (8 % of the server's CPU in the load test). A click fills the
                # prompt, where the example can be read and edited.
                language.value = session.language
            if changed & {"prompt_shown", "text_a", "language"}:
                pane_a.object = view.text_html(session.prompt_shown, session.text_a, lang_tag)
            if changed & {"prompt_shown", "text_b", "language"}:
                pane_b.object = view.text_html(session.prompt_shown, session.text_b, lang_tag)
            if changed & {"phase", "models_ready"}:
                for button in vote_buttons.values():
                    button.disabled = session.phase != "votable"
                if "phase" in changed and session.phase == "votable":
                    script.focus_count += 1  # to the first vote button
                # Voted: the bar steps aside for the reveal (fixed, it moves nothing else).
                vote_bar.visible = session.phase != "voted"
                show_generate()
            if changed & {"message", "message_level", "ui_language"}:
                message.object = view.message_html(t, session.message, session.message_level)
            if changed & {"readiness", "readiness_progress", "ui_language"}:
                readiness.object = view.readiness_html(
                    t, session.readiness, session.readiness_progress
                )
            if changed & {"reveal_a", "reveal_b"}:
                reveal_a.object = view.reveal_html("A", session.reveal_a)
                reveal_b.object = view.reveal_html("B", session.reveal_b)
            if "reasons_open" in changed:
                if session.reasons_open:
                    reasons.clear()
                reasons_slot.visible = session.reasons_open
            if "summary" in changed:
                summary.object = view.summary_html(t, session.summary)

    session.param.watch(render, [p for p in session.param if p != "name"])
    render()

    # ---- layout --------------------------------------------------------------------------

    # Side by side where there is room, stacked on narrow screens (A above B).
    side = dict(
        styles={"border": "1px solid #ddd", "flex": "1 1 320px", "min-width": "0"}, margin=5
    )
    panes = pn.FlexBox(
        *(
            pn.Column(
                pn.pane.HTML(f"<h2>{s.upper()}</h2>"),
                text,
                shown,
                css_classes=[f"arena-side-{s}"],
                **side,
            )
            for s, text, shown in (("a", pane_a, reveal_a), ("b", pane_b, reveal_b))
        ),
        flex_wrap="wrap",
        sizing_mode="stretch_width",
    )
    header = pn.FlexBox(
        pn.pane.HTML("<h1>OELLM Arena</h1>", margin=(0, 10)),
        pn.Column(interface, margin=(5, 0)),
        flex_wrap="wrap",
        justify_content="space-between",
        align_items="center",
        sizing_mode="stretch_width",
    )
    return pn.Column(
        script,
        header,
        nav,
        demo,
        guidance,
        language,
        pn.FlexBox(examples_label, *example_buttons, flex_wrap="wrap"),
        prompt,
        # New round beside Generate, above the texts: no stream of text moves it.
        pn.FlexBox(generate, new_round, flex_wrap="wrap"),
        readiness,
        message,
        panes,
        vote_bar,
        keys,
        reasons_slot,
        summary,
        privacy,
        pn.Spacer(height=VOTE_BAR_ROOM),
        sizing_mode="stretch_width",
        max_width=1200,
        styles=READABLE,
    )


# A long label (Finnish "Molemmat ovat huonoja") wraps inside its button, never out of it.
WRAPPING_LABEL = ".bk-btn { white-space: normal; overflow-wrap: anywhere; }"

# Fixed to the bottom of the screen, under the page (at most as wide as it): it
# never moves, so no stream of text can slide a button under a finger; the page ends with
# room for it (`VOTE_BAR_ROOM`), so nothing is hidden under it once scrolled to the end.
VOTE_BAR_STYLE = {
    "position": "fixed",
    "left": "0",
    "right": "0",
    "bottom": "0",
    "max-width": "1200px",
    "box-sizing": "border-box",
    "z-index": "10",
    "background": "#fff",
    "border-top": "1px solid #ccc",
    "padding": "4px 5px",
}
VOTE_BAR_ROOM = 120  # px: two rows of buttons (a phone) and their margins


def _text_lang(catalogue: Catalogue, code: str) -> str | None:
    """The BCP 47 tag of an arena language, for the text panes (none for the mixture)."""
    lang = catalogue.languages.get(code)
    return lang.html_lang if lang is not None else None

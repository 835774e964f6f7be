"""The `/arena` page: composes widgets and wires them to an `ArenaSession`.

Everything the voter sees that came from a person or a model (prompt, continuations) is
escaped here and shown as text, never as HTML or Markdown. Model identities exist only in
the session object on the server until the vote; the reveal panes are filled after it.
"""

from __future__ import annotations

import html

import panel as pn

from app.arena_session import ArenaServices, ArenaSession
from app.client_address import session_client_address

GUIDANCE = """
**How it works.** Pick a language and write the *start* of a text in it: a story opening,
the beginning of a sentence, a recipe. Two anonymous **base models** continue it side by side.
They do not answer questions or follow instructions: they carry on writing.

**Judge fluency only**: which continuation reads like natural, grammatical, idiomatic text
in this language? Facts do not matter. The models are revealed after your vote.
"""

DEMO_NOTICE = (
    "Demo mode: both sides are **stand-in engines** that replay canned sentences, not real "
    "language models. Votes cast here are stored like real ones, marked by the demo database."
)

PRIVACY_NOTICE = (
    "Prompts, continuations and votes are stored and may be published for research. "
    "Do not enter personal data."
)

CSS = """
.arena-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1.05rem;
  line-height: 1.5; min-height: 8em; margin: 0; font-family: inherit; }
.arena-text .prompt { color: #555; }
.arena-text .prompt::after { content: ""; }
.arena-text .continuation { color: #111; font-weight: 500; }
.arena-message { padding: 0.4em 0.8em; border-left: 4px solid #888; min-height: 1.5em; }
.arena-message.error { border-color: #b00020; }
.arena-message.warning { border-color: #b36b00; }
.arena-message.success { border-color: #1b7f3b; }
.arena-reveal { font-size: 0.95rem; }
"""

VOTES = (
    ("A is better", "model_a"),
    ("B is better", "model_b"),
    ("Tie", "tie"),
    ("Both are bad", "both_bad"),
)


def text_html(prompt: str, continuation: str) -> str:
    """The prompt and its continuation, escaped: markup in either is shown, not run."""
    return (
        '<pre class="arena-text"><span class="prompt">'
        f'{html.escape(prompt)}</span><span class="continuation">'
        f"{html.escape(continuation)}</span></pre>"
    )


def message_html(text: str, level: str) -> str:
    if not text:
        return ""
    return f'<div class="arena-message {level}" role="status">{html.escape(text)}</div>'


def reveal_html(side: str, description: str) -> str:
    if not description:
        return ""
    return f'<div class="arena-reveal"><b>{side}</b>: {html.escape(description)}</div>'


def _html(obj: str = "", **params: object) -> pn.pane.HTML:
    """An HTML pane styled by the arena CSS (each pane has its own shadow root)."""
    return pn.pane.HTML(obj, stylesheets=[CSS], **params)


def build_arena_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """One voter's page. Called once per browser session by the Panel server."""
    registry = services.registry
    address = session_client_address(services.settings.trusted_proxies)
    session = ArenaSession(services, session_id, client_address=address)

    language = pn.widgets.Select(
        name="Language",
        options={lang.label: code for code, lang in registry.languages.items()},
        value=session.language,
        width=320,
    )
    prompt = pn.widgets.TextAreaInput(
        name="Prompt",
        placeholder="Write the start of a text in the chosen language…",
        max_length=4000,
        rows=4,
        auto_grow=True,
        sizing_mode="stretch_width",
    )
    generate = pn.widgets.Button(name="Generate", button_type="primary", width=140)
    examples = pn.Row(pn.pane.HTML("<small>Examples:</small>", margin=(12, 4, 0, 10)))
    example_buttons = [
        pn.widgets.Button(
            name=kind.capitalize(), button_type="default", button_style="outline", width=90
        )
        for kind in ("story", "fact", "list")
    ]
    examples.extend(example_buttons)

    pane_a = _html(text_html("", ""), sizing_mode="stretch_width")
    pane_b = _html(text_html("", ""), sizing_mode="stretch_width")
    reveal_a = _html(sizing_mode="stretch_width")
    reveal_b = _html(sizing_mode="stretch_width")
    vote_buttons = {
        winner: pn.widgets.Button(name=label, disabled=True, width=130) for label, winner in VOTES
    }
    new_round = pn.widgets.Button(name="New round", width=130)
    message = _html(message_html("", "info"), sizing_mode="stretch_width")

    # ---- widgets -> session --------------------------------------------------------------

    def on_language(event) -> None:  # type: ignore[no-untyped-def]
        session.select_language(event.new)
        _fill_examples()

    def _fill_examples() -> None:
        lang = registry.language(session.language)
        for button, example in zip(example_buttons, lang.prompts, strict=True):
            button.description = example.text

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

    language.param.watch(on_language, "value")
    for i, button in enumerate(example_buttons):
        button.on_click(use_example(i))
    generate.on_click(on_generate)
    for winner, button in vote_buttons.items():
        button.on_click(on_vote(winner))
    new_round.on_click(lambda _e: session.new_round())
    _fill_examples()

    # ---- session -> widgets --------------------------------------------------------------

    def render(*events) -> None:  # type: ignore[no-untyped-def]
        """One watcher for every session change, so a batch of changes (the end of a
        battle: last text, phase, message) reaches the browser as one message."""
        changed = {e.name for e in events} if events else set(session.param)
        with pn.io.hold():
            if changed & {"prompt_shown", "text_a"}:
                pane_a.object = text_html(session.prompt_shown, session.text_a)
            if changed & {"prompt_shown", "text_b"}:
                pane_b.object = text_html(session.prompt_shown, session.text_b)
            if "phase" in changed:
                votable = session.phase == "votable"
                for button in vote_buttons.values():
                    button.disabled = not votable
                generate.disabled = session.busy
                generate.loading = session.phase in ("loading", "streaming")
            if changed & {"message", "message_level"}:
                message.object = message_html(session.message, session.message_level)
            if changed & {"reveal_a", "reveal_b"}:
                reveal_a.object = reveal_html("A", session.reveal_a)
                reveal_b.object = reveal_html("B", session.reveal_b)

    session.param.watch(render, [p for p in session.param if p != "name"])
    render()

    # ---- layout --------------------------------------------------------------------------

    notices = []
    if services.settings.demo:
        notices.append(pn.pane.Alert(DEMO_NOTICE, alert_type="warning"))
    # Side by side where there is room, stacked on narrow screens (A above B).
    side = dict(
        styles={"border": "1px solid #ddd", "flex": "1 1 320px", "min-width": "0"}, margin=5
    )
    panes = pn.FlexBox(
        pn.Column(pn.pane.HTML("<h3>A</h3>"), pane_a, reveal_a, **side),
        pn.Column(pn.pane.HTML("<h3>B</h3>"), pane_b, reveal_b, **side),
        flex_wrap="wrap",
        sizing_mode="stretch_width",
    )
    return pn.Column(
        pn.pane.HTML("<h1>OELLM Arena</h1>"),
        *notices,
        pn.pane.Markdown(GUIDANCE, sizing_mode="stretch_width"),
        language,
        examples,
        prompt,
        generate,
        message,
        panes,
        pn.FlexBox(*vote_buttons.values(), flex_wrap="wrap"),
        new_round,
        pn.pane.HTML(f"<small>{html.escape(PRIVACY_NOTICE)}</small>"),
        sizing_mode="stretch_width",
        max_width=1200,
    )

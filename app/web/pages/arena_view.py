"""The arena page's HTML fragments and styles, as plain functions of what they show.

Everything that came from a person or a model (prompt, continuations, model ids) is escaped
here and shown as text, never as HTML or Markdown. Catalogue strings are ours but are
escaped as well, so a translation can never break the markup. States are said in words and
shapes (a level word, a progress bar with its number), never by colour alone.
"""

from __future__ import annotations

import html
import json

from app.arena.session_summary import Summary
from app.core.i18n import Translator

CSS = """
.arena-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1.05rem;
  line-height: 1.5; min-height: 8em; margin: 0; font-family: inherit; }
.arena-text .prompt { color: #555; }
.arena-text .continuation { color: #111; font-weight: 500; }
.arena-message { padding: 0.4em 0.8em; border-left: 4px solid #888; min-height: 1.5em; }
.arena-message.error { border-color: #b00020; border-left-style: double; border-left-width: 6px; }
.arena-message.warning { border-color: #b36b00; border-left-style: dashed; }
.arena-message.success { border-color: #1b7f3b; }
.arena-reveal { font-size: 1rem; overflow-wrap: anywhere; }
.arena-readiness { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3em 0.8em;
  color: #333; min-height: 1.4em; }
.arena-readiness progress { width: 12em; max-width: 100%; height: 1em; }
.arena-keys { font-size: 1rem; color: #333; line-height: 1.8; }
.arena-keys kbd { border: 1px solid #888; border-bottom-width: 2px; border-radius: 3px;
  padding: 0 0.35em; font-family: inherit; background: #f6f6f6; }
.arena-summary table { border-collapse: collapse; margin: 0.3em 0 0.6em; }
.arena-summary th, .arena-summary td { border: 1px solid #ccc; padding: 0.2em 0.5em;
  text-align: left; overflow-wrap: anywhere; }
.arena-summary { overflow-x: auto; }
h1, h2, h3 { overflow-wrap: anywhere; }
"""

# Run in the browser when the arena language changes (the selector's value is the language
# code): a prompt written for the old language would have the new language's models
# continue another language, so it goes; one of the examples becomes the same example
# (story, fact, list) in the new language. Done in the browser, at the click, because a
# reset sent by the server could overwrite what the voter types next: Panel keeps a
# server-side value over a browser change still on its way.
PROMPT_ON_LANGUAGE_JS = """
const examples = __EXAMPLES__;
const typed = (prompt.value_input || prompt.value || '').trim();
let kind = -1;
for (const texts of Object.values(examples)) {
  kind = texts.findIndex((text) => text.trim() === typed);
  if (kind >= 0) break;
}
const next = (examples[cb_obj.value] || [])[kind] ?? '';
prompt.value_input = next;
prompt.value = next;
"""


def prompt_on_language_js(examples: dict[str, list[str]]) -> str:
    """`PROMPT_ON_LANGUAGE_JS` with each language code's example prompts."""
    return PROMPT_ON_LANGUAGE_JS.replace("__EXAMPLES__", json.dumps(examples))


SHORTCUTS = {
    "1": "arena-vote-model_a",
    "2": "arena-vote-model_b",
    "3": "arena-vote-tie",
    "4": "arena-vote-both_bad",
    "n": "arena-new-round",
}


def text_html(prompt: str, continuation: str, lang: str | None = None) -> str:
    """The prompt and its continuation, escaped: markup in either is shown, not run.
    `lang` (BCP 47) lets a screen reader read the text in its own language."""
    attr = f' lang="{html.escape(lang)}"' if lang else ""
    return (
        f'<pre class="arena-text"{attr}><span class="prompt">'
        f'{html.escape(prompt)}</span><span class="continuation">'
        f"{html.escape(continuation)}</span></pre>"
    )


def message_html(t: Translator, text: str, level: str) -> str:
    if not text:
        return ""
    role = "alert" if level == "error" else "status"
    word = t(f"level_{level}") if level in ("warning", "error") else ""
    prefix = f"<strong>{html.escape(word)}</strong> " if word else ""
    return f'<div class="arena-message {level}" role="{role}">{prefix}{html.escape(text)}</div>'


def reveal_html(side: str, description: str) -> str:
    if not description:
        return ""
    return f'<div class="arena-reveal"><b>{side}</b>: {html.escape(description)}</div>'


def readiness_html(t: Translator, text: str, progress: float | None) -> str:
    """What the next battle's models are doing; a bar with its number while loading."""
    if not text:
        return ""
    bar = ""
    if progress is not None:
        pct = round(100 * max(0.0, min(1.0, progress)))
        label = html.escape(t("progress_label"))
        bar = (
            f'<progress max="100" value="{pct}" aria-label="{label}"></progress><span>{pct}%</span>'
        )
    return f'<div class="arena-readiness" role="status"><span>{html.escape(text)}</span>{bar}</div>'


def keys_html(t: Translator) -> str:
    """The keyboard shortcuts, shown on the page (the script in page_kit acts on them)."""
    items = [
        f"<kbd>{key.upper()}</kbd> {html.escape(t(label))}"
        for key, label in (
            ("1", "vote_model_a"),
            ("2", "vote_model_b"),
            ("3", "vote_tie"),
            ("4", "vote_both_bad"),
            ("n", "new_round"),
        )
    ]
    return (
        f'<p class="arena-keys"><strong>{html.escape(t("keys_title"))}</strong> '
        + " · ".join(items)
        + f" {html.escape(t('keys_note'))}</p>"
    )


def summary_html(t: Translator, summary: Summary | None) -> str:
    """The voter's preferences so far (all of these battles are voted and revealed)."""
    if summary is None:
        return ""
    e = html.escape
    rows = "".join(
        f'<tr><th scope="row">{e(t(label))}</th><td>{summary.preferences[key]}</td></tr>'
        for key, label in (
            ("multisynt", "summary_multisynt"),
            ("hplt", "summary_hplt"),
            ("tie", "vote_tie"),
            ("both_bad", "vote_both_bad"),
        )
    )
    past = "".join(
        f"<tr><td>{e(t.language_name(b.language))}</td><td>{e(b.model_a)}</td>"
        f"<td>{e(b.model_b)}</td><td>{e(t(f'vote_{b.winner}'))}</td></tr>"
        for b in reversed(summary.battles)
    )
    return (
        f'<section class="arena-summary"><h3>{e(t("summary_heading"))}</h3>'
        f"<p>{e(t('summary_votes', votes=summary.votes))}</p><table>{rows}</table>"
        f"<details><summary>{e(t('summary_past'))}</summary><table><thead><tr>"
        f'<th scope="col">{e(t("summary_col_language"))}</th><th scope="col">A</th>'
        f'<th scope="col">B</th><th scope="col">{e(t("summary_col_vote"))}</th></tr></thead>'
        f"<tbody>{past}</tbody></table></details></section>"
    )

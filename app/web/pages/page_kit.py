"""What every page shares: the interface language, the page's navigation, focus styles,
and a small script for the document's `lang` and keyboard shortcuts.

The interface language of a new page comes from `?ui=`, else the choice remembered in the
`arena_ui` cookie, else the browser's `Accept-Language` (`app.core.i18n.negotiate`); each
page has a selector to switch it, and links between pages carry the choice along. A page
whose `PageScript.ui` follows the selector writes the choice into the address (`?ui=`, so a
reload keeps it) and into the cookie (so a later visit does).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import panel as pn
import param
from panel.custom import JSComponent

from app.core.i18n import UI_COOKIE, Catalogue, Translator, negotiate

# Every control shows where the keyboard is: a thick outline, never colour alone.
FOCUS_CSS = """
:focus-visible, .bk-btn:focus-visible, select:focus-visible, textarea:focus-visible,
input:focus-visible { outline: 3px solid #1a4fd6 !important; outline-offset: 2px; }
"""

# Touch targets of at least 44 x 44 CSS px (WCAG 2.5.5), on every size: a finger needs them
# on a phone, and a mouse loses nothing. Text in fields at 16 px at least: a phone zooms
# the page in when a field with smaller text is tapped.
TOUCH_CSS = """
.bk-btn, select.bk-input, input.bk-input { min-height: 44px; }
.bk-input { font-size: max(16px, 1em); }
"""

# Text at 16 px (Bokeh's widgets and Panel's panes read `--bokeh-font-size`, 12 px when
# unset): a page's root sets it, and every widget and pane inside inherits it.
READABLE = {"--bokeh-font-size": "16px"}

NAV_CSS = """
nav.arena-nav { display: flex; flex-wrap: wrap; gap: 0.2em 1.2em; font-size: 1rem; }
nav.arena-nav a { color: #1a4fd6; text-decoration: underline; min-height: 44px;
  display: inline-flex; align-items: center; }
nav.arena-nav a[aria-current="page"] { color: #111; font-weight: 600; text-decoration: none; }
a:focus-visible { outline: 3px solid #1a4fd6; outline-offset: 2px; }
"""

PAGES = ("arena", "leaderboard", "about")


def on_loop(callback: Callable[..., None]) -> Callable[..., Awaitable[None]]:
    """`callback` as a coroutine function, which Panel always runs on the server's event loop.

    Bokeh 3.10 (Panel 1.10 and later) runs a page's synchronous callbacks, and the page
    function itself, on worker threads that hold the document lock; Bokeh 3.9 ran them on
    the loop. Whatever starts asyncio tasks or shares state with tasks on the loop (an
    `ArenaSession`) must be called on the loop, so its page hands such calls over through
    this wrapper; a synchronous call made off the loop would find no loop to start its
    tasks on (the page would never say that the models are ready).
    """

    async def run(*args: object) -> None:
        callback(*args)

    return run


def soon_on_loop(callback: Callable[[], None]) -> None:
    """Call `callback` on the server's event loop as soon as this page's session exists.

    Called from a page function: Bokeh runs `callback` on the loop's first tick after it has
    created the session (`pn.state.execute` of a coroutine function adds a next-tick
    callback to the document), before the browser can have opened the page's websocket and
    pulled the document, so the browser's first view of the page shows what `callback` did.
    `pn.state.onload` runs a callback only once the browser has rendered the page and said
    so over the websocket: until then the browser shows the page as the page function left it.
    """
    pn.state.execute(on_loop(callback))


def request_interface(catalogue: Catalogue) -> str:
    """The interface language asked for by this page request (`?ui=`, then the remembered
    choice, then the browser)."""
    accept = requested = None
    doc = pn.state.curdoc
    request = doc.session_context.request if doc and doc.session_context else None
    if request is not None:
        headers = getattr(request, "headers", None) or {}
        accept = headers.get("Accept-Language")
        requested = (getattr(request, "cookies", None) or {}).get(UI_COOKIE)
    ui = pn.state.session_args.get("ui") if doc else None
    if ui:
        requested = ui[0].decode("utf-8", "replace") if isinstance(ui[0], bytes) else str(ui[0])
    return negotiate(accept, requested, catalogue)


def interface_selector(catalogue: Catalogue, code: str) -> pn.widgets.Select:
    """The interface switch: each language under its own name, so anyone finds theirs."""
    t = catalogue.translator(code)
    return pn.widgets.Select(
        name=t("interface_label"),
        options={lang.native: c for c, lang in catalogue.languages.items()},
        value=code,
        width=200,
        stylesheets=[FOCUS_CSS, TOUCH_CSS],
        css_classes=["arena-interface"],
    )


def nav_html(t: Translator, current: str) -> str:
    """Links to the three pages, relative (so a URL prefix needs nothing), keeping `?ui=`."""
    links = []
    for page in PAGES:
        here = ' aria-current="page"' if page == current else ""
        links.append(
            f'<a href="{page}?ui={html.escape(t.code)}"{here}>{html.escape(t(f"nav_{page}"))}</a>'
        )
    label = html.escape(t("nav_label"))
    return f'<nav class="arena-nav" aria-label="{label}">{"".join(links)}</nav>'


def nav_pane(t: Translator, current: str) -> pn.pane.HTML:
    return pn.pane.HTML(nav_html(t, current), stylesheets=[NAV_CSS], margin=(5, 10))


class PageScript(JSComponent):
    """Sets the document's `lang` (screen readers pronounce the page by it) and, where
    `shortcuts` maps keys to the CSS class of a button, clicks that button on the key.

    The script only clicks: a disabled button (no vote possible) ignores the key, and the
    server's rules stay the only rules. Keys typed into a text field, or with a modifier,
    are never taken.

    When `ui` (an interface language code) changes, that is, when the voter picks one in
    the selector, the script puts it in the address (`?ui=`, replacing the history entry)
    and in the `arena_ui` cookie for the pages' folder, so a reload or a later visit opens
    in that language. The value the page starts with is never written: a voter who did
    not choose keeps following the browser.

    Each increment of `focus_count` moves the keyboard focus to the button of CSS class
    `focus` (the arena's first vote button when both texts are complete), so keyboard and
    screen-reader users land on the choice; never while the voter is typing in a field."""

    lang = param.String(default="en")
    shortcuts = param.Dict(default={})
    ui = param.String(default="", doc="the interface language chosen on the page")
    focus = param.String(default="", doc="CSS class of the button to focus at `focus_count`")
    focus_count = param.Integer(default=0, doc="each increment moves focus to `focus`")

    _esm = """
    // The element (in the document or any shadow root) carrying CSS class `cls`.
    const findClass = (root, cls) => {
      for (const el of root.querySelectorAll('*')) {
        if (el.classList && el.classList.contains(cls)) return el;
        if (el.shadowRoot) { const hit = findClass(el.shadowRoot, cls); if (hit) return hit; }
      }
      return null;
    };
    export function render({ model }) {
      const setLang = () => { document.documentElement.lang = model.lang; };
      setLang();
      model.on('lang', setLang);
      model.on('ui', () => {
        const code = model.ui;
        if (!code) return;
        const url = new URL(window.location.href);
        url.searchParams.set('ui', code);
        window.history.replaceState(window.history.state, '', url);
        const folder = window.location.pathname.replace(/[^/]*$/, '') || '/';
        document.cookie = `__UI_COOKIE__=${encodeURIComponent(code)}; path=${folder}; ` +
          'max-age=31536000; SameSite=Lax';
      });
      // Focus goes to the button of class `focus` (once it is enabled: its state may arrive
      // just after), unless the voter is typing in a field.
      model.on('focus_count', () => {
        let active = document.activeElement;
        while (active && active.shadowRoot && active.shadowRoot.activeElement) {
          active = active.shadowRoot.activeElement;
        }
        if (active && (active.isContentEditable ||
            ['INPUT', 'TEXTAREA', 'SELECT'].includes(active.tagName))) return;
        let tries = 0;
        const attempt = () => {
          const host = findClass(document, model.focus);
          const button = host && (host.shadowRoot || host).querySelector('button');
          if (button && !button.disabled) { button.focus({ preventScroll: true }); return; }
          if (++tries < 40) setTimeout(attempt, 50);
        };
        attempt();
      });
      window.__arenaShortcuts = model.shortcuts;
      model.on('shortcuts', () => { window.__arenaShortcuts = model.shortcuts; });
      if (!window.__arenaKeysBound) {
        window.__arenaKeysBound = true;
        document.addEventListener('keydown', (ev) => {
          if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || ev.isComposing) return;
          const target = ev.composedPath()[0];
          if (target && (target.isContentEditable ||
              ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
          const cls = (window.__arenaShortcuts || {})[ev.key.toLowerCase()];
          if (!cls) return;
          const host = findClass(document, cls);
          const button = host && (host.shadowRoot || host).querySelector('button');
          if (button && !button.disabled) { ev.preventDefault(); button.click(); }
        });
      }
      const el = document.createElement('span');
      el.hidden = true;
      return el;
    }
    """.replace("__UI_COOKIE__", UI_COOKIE)


def page_header(title: pn.viewable.Viewable, interface: pn.viewable.Viewable) -> pn.FlexBox:
    """The title with the interface-language selector beside it (wrapping on phones)."""
    return pn.FlexBox(
        title,
        pn.Column(interface, margin=(5, 0)),
        flex_wrap="wrap",
        justify_content="space-between",
        align_items="center",
        sizing_mode="stretch_width",
    )

"""What the server does when a browser's message cannot be applied.

Panel hands every exception raised while it processes an event from the browser to
`pn.config.exception_handler` (else it re-raises, and Bokeh logs a traceback holding the
client's value, over as many lines as the value has). A value that Panel itself refuses
(a select value that is not an option: only a forged message sends one) is the client's
doing: one warning line, the value quoted and cut, and the page goes on. An exception
raised in the arena's own code is a bug of ours: logged with its traceback, at error level.

Panel also logs such an exception itself ("Callback failed for object named ...", with the
traceback) through its own handler, to stdout, in its own format. `install` routes Panel's
log through the arena's (`app.core.logs`) and leaves the decision to the handler above,
so a refused value makes one line, not two tracebacks.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import panel as pn

from app.core.untrusted import quoted

log = logging.getLogger(__name__)

_OURS = str(Path(__file__).resolve().parents[1])  # the app package


def handle_event_error(exc: BaseException) -> None:
    """`pn.config.exception_handler` for the arena's server (never raises)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if any(frame.filename.startswith(_OURS) for frame in frames):
        log.error("error in a page callback", exc_info=exc)
        return
    where = frames[-1].name if frames else "?"
    log.warning(
        "a browser message was refused (%s in %s): %s",
        type(exc).__name__,
        where,
        quoted(str(exc)),
    )


class _PanelDuplicate(logging.Filter):
    """Drops Panel's own report of a failed browser event (`handle_event_error` reports it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Callback failed for object named")


def install() -> None:
    """Make this process's Panel report browser-event failures as described above."""
    pn.config.exception_handler = handle_event_error
    panel_log = logging.getLogger("panel")
    panel_log.handlers.clear()
    panel_log.propagate = True  # through the arena's handler and format
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    panel_log.setLevel(logging.DEBUG if verbose else logging.WARNING)  # not a line per page
    logging.getLogger("panel.reactive").addFilter(_PanelDuplicate())

"""The arena's log format: one record per line, whatever a client put in it.

A record's message may carry what a client sent (a select value, a malformed websocket
message in a library's error line), and with it newlines that would forge records of their
own, or megabytes that would flood the log. So every line after a record's first (a
message's own line breaks, a traceback) is indented: a line that starts at column 0 is
always a record of ours, which is what log readers and `grep '^2026'` rely on. And a
message longer than `MAX_MESSAGE_CHARS` is cut, saying how much was left out, as is a
traceback past `MAX_TRACEBACK_CHARS`. Our own lines quote client values with
`app.core.untrusted.quoted` besides.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_MESSAGE_CHARS = 2_000
MAX_TRACEBACK_CHARS = 20_000
CONTINUATION = "    | "


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class OneRecordPerLine(logging.Formatter):
    """`logging.Formatter` that cuts long messages and indents continuation lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _cut(record.message, MAX_MESSAGE_CHARS)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]
        return _cut(super().formatException(ei), MAX_TRACEBACK_CHARS)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        first, *rest = text.splitlines() or [""]
        return "\n".join([first, *(CONTINUATION + line for line in rest)])


def setup_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr in this format, unless the host program set logging up already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneRecordPerLine(FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)

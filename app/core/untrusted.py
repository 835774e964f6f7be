"""Text that comes from a browser: made safe to store, and safe to write into a log.

A voter's text reaches the server as JSON over the websocket, which can carry what no
keyboard types: lone UTF-16 surrogates (`"\\ud800"`), which no UTF-8 encoder accepts, so
DuckDB and the engine clients fail on them. `clean_text` replaces each with U+FFFD (the
replacement character), as a browser does when it decodes broken text: the voter's text
is kept, a battle never fails for it, and nothing else is changed. (Refusing with a
message was the alternative; no person can type such a character, so cleaning costs a
real voter nothing.)

Values a client chose (a select's value, a prompt, a header) go into log lines only
through `quoted`: as a Python literal, so a newline cannot forge a second log line, and
cut to `LOG_VALUE_CHARS`, so a 19 MB value does not make 19 MB of log.
"""

from __future__ import annotations

import re

LOG_VALUE_CHARS = 200
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (valid Unicode, storable)."""
    return _SURROGATE.sub("\ufffd", text)


def quoted(value: object, limit: int = LOG_VALUE_CHARS) -> str:
    """`value` for a log line: a quoted literal on one line, at most about `limit`
    characters, with how much was cut."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text) - limit} more characters)"

"""The words analytics writes for people (chart titles, axis labels, per-row notes), in
any interface language.

Functions that write such words take a `Wording` (an `app.core.i18n.Translator` is one) and
default to English, so the CLI, notebooks and the JSON output read as before while the
`/leaderboard` page passes the voter's interface language. The text itself lives in
`app/core/data/ui_strings.toml` with the pages' strings, where translators find it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Wording(Protocol):
    """Formats catalogue strings: `t(key, **values)`, `t.plural(key, n, **values)`."""

    def __call__(self, key: str, /, **values: Any) -> str: ...

    def plural(self, key: str, n: int, /, **values: Any) -> str: ...


def english() -> Wording:
    """The English strings (parsed once per process)."""
    from app.core.i18n import DEFAULT, load_catalogue

    return load_catalogue().translator(DEFAULT)

"""Reasons a voter may give after the vote: tags per side and a free comment.

Optional, and asked only once the vote is stored, so they never delay or shape it. Tags are
a closed list (analysts count them; the page translates them); the comment is free text
from the public, kept as untrusted data: limited in length, stripped of control
characters, stored through parameters, and never rendered as markup anywhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

POSITIVE_TAGS: tuple[str, ...] = ("fluent", "grammatical", "natural")
NEGATIVE_TAGS: tuple[str, ...] = (
    "ungrammatical",
    "unnatural",
    "repetitive",
    "wrong_language",
    "cut_off",
)
TAGS: tuple[str, ...] = POSITIVE_TAGS + NEGATIVE_TAGS
MAX_COMMENT_CHARS = 500


class ReasonsError(ValueError):
    """Reasons that cannot be stored (an unknown tag)."""


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Known tags only, each once, in the canonical order (so equal sets compare equal)."""
    given = set(tags)
    unknown = given - set(TAGS)
    if unknown:
        raise ReasonsError(f"unknown tags: {sorted(unknown)}")
    return [tag for tag in TAGS if tag in given]


def clean_comment(text: str | None) -> str | None:
    """The comment as stored: control characters (but line breaks) removed, blanks
    trimmed, at most `MAX_COMMENT_CHARS` characters; None when nothing is left."""
    if not text:
        return None
    kept = "".join(
        ch for ch in text if ch in "\n\t" or not unicodedata.category(ch).startswith("C")
    )
    kept = kept.strip()[:MAX_COMMENT_CHARS].strip()
    return kept or None

"""Tells: text in a continuation that names a contender or its maker.

A base model sometimes writes its own provenance ("... trained by the HPLT project").
Such a battle is not blind any more; like FastChat, we keep it but flag it so the ratings
can leave it out. The patterns are deliberately specific: common words such as "opus" or
"tower" alone are not tells, the names of the model families and their makers are.
"""

from __future__ import annotations

import re

from app.core.registry import Registry

_MAKERS = (
    r"multi[\s-]?synt",
    r"hplt",
    r"nemotron",
    r"nvidia",
    r"unbabel",
    r"tower[\s-]?(?:9|72)b",
    r"towerinstruct",
    r"opus[\s-]?mt",
    r"hugging\s?face",
)


def _pattern(registry: Registry | None) -> re.Pattern[str]:
    names = list(_MAKERS)
    if registry is not None:
        names += [re.escape(m.split("/", 1)[-1]) for m in registry.all_models()]
    return re.compile(r"(?<![\w])(" + "|".join(names) + r")(?![\w])", re.IGNORECASE)


_DEFAULT = _pattern(None)


def find_tells(text: str, pattern: re.Pattern[str] = _DEFAULT) -> list[str]:
    """The distinct tells in `text`, lower-cased, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in pattern.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def tells_pattern(registry: Registry) -> re.Pattern[str]:
    """The makers' names plus every model name of the registry (without its namespace)."""
    return _pattern(registry)

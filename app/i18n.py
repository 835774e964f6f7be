"""The interface language: every string a voter or analyst reads, in 14 languages.

The strings live in a data file (`app/data/ui_strings.toml`), one table per interface
language keyed by ISO 639-3 code like everything else here, so a translator edits text, not
code. A `Translator` formats them with named placeholders (`{language}`); a key missing in
one language falls back to English rather than failing a page (a unit test keeps the file
complete, so this is a safety net, not a habit).

The interface language is a separate choice from the arena language (which models
compete): it follows the browser's `Accept-Language` and can be switched on the page;
`negotiate` picks it. In the English interface the controls keep the labels that tests and
acceptance checks use (`Language`, `Prompt`, `Generate`, ...); in other interface
languages labels and accessible names are both translated (they must match, WCAG 2.5.3),
and `?ui=eng` gives the English interface whatever the browser says.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Formatter
from typing import Any

from app.registry import Language

log = logging.getLogger(__name__)

DEFAULT = "eng"


@dataclass(frozen=True)
class InterfaceLanguage:
    """One interface language: its own name, BCP 47 tags it answers to, its `lang`."""

    code: str
    native: str
    tags: tuple[str, ...]  # primary subtags, e.g. ("nb", "no", "nn")
    html_lang: str


@dataclass(frozen=True)
class Catalogue:
    languages: dict[str, InterfaceLanguage]
    strings: dict[str, dict[str, str]]

    def translator(self, code: str) -> Translator:
        return Translator(self, code if code in self.strings else DEFAULT)


def placeholders(text: str) -> set[str]:
    """The named fields of a format string (what a translation must keep)."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@cache
def load_catalogue() -> Catalogue:
    """The built-in message catalogue (parsed once per process)."""
    text = resources.files("app.data").joinpath("ui_strings.toml").read_text("utf-8")
    return parse_catalogue(text)


def parse_catalogue(text: str) -> Catalogue:
    data = tomllib.loads(text)
    languages = {
        code: InterfaceLanguage(code, meta["native"], tuple(meta["tags"]), meta["html"])
        for code, meta in data["languages"].items()
    }
    strings = {code: dict(table) for code, table in data["strings"].items()}
    if DEFAULT not in strings or set(strings) != set(languages):
        raise ValueError("ui_strings.toml: [languages] and [strings] must list the same codes")
    return Catalogue(languages, strings)


class Translator:
    """The strings of one interface language, formatted on demand."""

    def __init__(self, catalogue: Catalogue, code: str) -> None:
        self.catalogue = catalogue
        self.code = code
        self.language = catalogue.languages[code]
        self._own = catalogue.strings[code]
        self._fallback = catalogue.strings[DEFAULT]

    def has(self, key: str) -> bool:
        return key in self._own or key in self._fallback

    def __call__(self, key: str, **values: Any) -> str:
        text = self._own.get(key)
        if text is None:
            log.warning("ui string %r missing in %s; using English", key, self.code)
            text = self._fallback[key]
        return text.format(**values) if values else text

    def message(self, key: str, values: dict[str, Any], raw: str | None = None) -> str:
        """A session message: `key` with `values`, where `language_code` becomes the arena
        language's name here. A key the catalogue lacks (an error kind added later) shows
        `raw`, its own English words, in English, else the general message of its kind."""
        if not key:
            return ""
        if "language_code" in values:
            values = dict(values)
            values["language"] = self.language_name(values.pop("language_code"))
        if self.has(key):
            return self(key, **values)
        if raw and self.code == DEFAULT:
            return raw
        if key.startswith("err_engine_"):
            return self("err_engine_engine_error")
        if key.startswith("err_directory_"):
            return self("err_directory_error")
        return self("msg_failed")

    def language_name(self, code: str) -> str:
        """An arena language's name in this interface language."""
        key = f"lang_{code}"
        return self(key) if self.has(key) else code

    def language_label(self, language: Language) -> str:
        """What the arena's Language selector shows: the name in the interface language,
        then the language's own name when it differs (English keeps the registry label)."""
        if self.code == DEFAULT:
            return language.label
        name = self.language_name(language.code)
        if language.code == "mul" or name.casefold() == language.native_name.casefold():
            return name
        return f"{name} · {language.native_name}"

    def about(self, seconds: float) -> str:
        """A rounded duration for people: "a few seconds", "about 40 s", "about 3 min"."""
        if seconds < 8:
            return self("about_few")
        if seconds < 60:
            return self("about_seconds", n=int(5 * math.ceil(seconds / 5)))
        return self("about_minutes", n=math.ceil(seconds / 60))


def _parse_accept_language(header: str) -> list[str]:
    """Primary subtags from an `Accept-Language` header, most preferred first."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, i, tag.split("-")[0]))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(
    accept_language: str | None, requested: str | None = None, catalogue: Catalogue | None = None
) -> str:
    """The interface language for a page request: `?ui=` if it names one (ISO 639-3 code
    or BCP 47 tag), else the browser's first supported preference, else English."""
    catalogue = catalogue or load_catalogue()
    by_tag = {tag: lang.code for lang in catalogue.languages.values() for tag in lang.tags}
    if requested:
        wanted = requested.strip().lower()
        if wanted in catalogue.languages:
            return wanted
        if wanted.split("-")[0] in by_tag:
            return by_tag[wanted.split("-")[0]]
    for tag in _parse_accept_language(accept_language or ""):
        if tag in by_tag:
            return by_tag[tag]
    return DEFAULT

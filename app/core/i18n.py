"""The interface language: every string a voter or analyst reads, in 14 languages.

The strings live in a data file (`app/core/data/ui_strings.toml`), one table per interface
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

A string with a count is a TOML table of CLDR plural forms, e.g.
`lb_votes = { one = "{votes} vote", other = "{votes} votes" }`: each language gives exactly
the categories of its CLDR plural rule, which Babel supplies for the language's locale
(`plural_rule`; Icelandic "one" is 1, 21, 31, ... but not 11; Romanian has "few" for 0 and
2 to 19, and "20 de voturi" in "other"), and `Translator.plural(key, n, ...)` picks the
form for `n`.
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

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.plural import PluralRule

from app.core.registry import Language

log = logging.getLogger(__name__)

DEFAULT = "eng"
UI_COOKIE = "arena_ui"  # the interface language a voter chose in a selector (a code)


# A message: one string, or plural forms by CLDR category ("one", "few", "many", "other").
Message = str | dict[str, str]


# CLDR's plural categories in CLDR's order (Babel's `PluralRule.tags` is an unordered set
# without "other").
CATEGORIES = ("zero", "one", "two", "few", "many", "other")


def plural_rule(code: str, catalogue: Catalogue | None = None) -> PluralRule:
    """Babel's CLDR cardinal plural rule of interface language `code` (English's for a
    code the catalogue lacks)."""
    languages = (catalogue or load_catalogue()).languages
    return languages.get(code, languages[DEFAULT]).locale.plural_form


def plural_category(code: str, n: int) -> str:
    """The CLDR plural category of the whole number `n` in interface language `code`."""
    return plural_rule(code)(abs(int(n)))


def plural_categories(code: str) -> tuple[str, ...]:
    """The categories a plural message in `code` must give (no more, no fewer)."""
    tags = plural_rule(code).tags | {"other"}
    return tuple(c for c in CATEGORIES if c in tags)


@dataclass(frozen=True)
class InterfaceLanguage:
    """One interface language: its own name, BCP 47 tags it answers to, its `lang`, and
    the CLDR locale of its translation (plural rules)."""

    code: str
    native: str
    tags: tuple[str, ...]  # primary subtags, e.g. ("nb", "no", "nn")
    html_lang: str
    locale: Locale  # `locale` in the file, else `html`: pt-PT, as the translation is


@dataclass(frozen=True)
class Catalogue:
    languages: dict[str, InterfaceLanguage]
    strings: dict[str, dict[str, Message]]

    def translator(self, code: str) -> Translator:
        return Translator(self, code if code in self.strings else DEFAULT)


def placeholders(text: Message) -> set[str]:
    """The named fields of a format string (what a translation must keep); of a plural
    message, those of all its forms."""
    if isinstance(text, dict):
        return set().union(*(placeholders(form) for form in text.values()))
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def _field_order(text: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(text) if name]


@cache
def load_catalogue() -> Catalogue:
    """The built-in message catalogue (parsed once per process)."""
    text = resources.files("app.core.data").joinpath("ui_strings.toml").read_text("utf-8")
    return parse_catalogue(text)


def parse_catalogue(text: str) -> Catalogue:
    data = tomllib.loads(text)
    languages = {
        code: InterfaceLanguage(
            code, meta["native"], tuple(meta["tags"]), meta["html"], _locale(code, meta)
        )
        for code, meta in data["languages"].items()
    }
    strings = {code: dict(table) for code, table in data["strings"].items()}
    if DEFAULT not in strings or set(strings) != set(languages):
        raise ValueError("ui_strings.toml: [languages] and [strings] must list the same codes")
    return Catalogue(languages, strings)


def _locale(code: str, meta: dict[str, Any]) -> Locale:
    tag = meta.get("locale", meta["html"])
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"ui_strings.toml: {code}: no CLDR locale {tag!r} ({exc})") from exc


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

    def _message(self, key: str) -> tuple[Message, str]:
        """The message and the language whose plural rule it follows."""
        text = self._own.get(key)
        if text is None:
            log.warning("ui string %r missing in %s; using English", key, self.code)
            return self._fallback[key], DEFAULT
        return text, self.code

    def __call__(self, key: str, /, **values: Any) -> str:
        """String `key` formatted with `values`. On a plural message the count is the first
        placeholder (in the English text's order) given a whole number: callers that know
        the count should say so with `plural`."""
        text, code = self._message(key)
        if isinstance(text, dict):
            english = self._fallback[key]
            other = english["other"] if isinstance(english, dict) else english
            counts = [
                values[name]
                for name in _field_order(other)
                if isinstance(values.get(name), int) and not isinstance(values.get(name), bool)
            ]
            text = self._form(text, code, counts[0] if counts else None)
        return text.format(**values) if values else text

    def plural(self, key: str, n: int, /, **values: Any) -> str:
        """Message `key` in the plural form for count `n`, formatted with `values`
        (`n` itself is not a placeholder: pass it by name too where the text shows it)."""
        text, code = self._message(key)
        if isinstance(text, dict):
            text = self._form(text, code, n)
        return text.format(**values) if values else text

    def _form(self, forms: dict[str, str], code: str, n: int | None) -> str:
        rule = self.catalogue.languages[code].locale.plural_form
        category = "other" if n is None else rule(abs(int(n)))
        return forms.get(category) or forms["other"]

    def message(self, key: str, values: dict[str, Any]) -> str:
        """A session message: `key` with `values`, where `language_code` becomes the arena
        language's name here. A key the catalogue lacks (an error kind without a message of
        its own) shows the general message of its kind."""
        if not key:
            return ""
        if "language_code" in values:
            values = dict(values)
            values["language"] = self.language_name(values.pop("language_code"))
        if self.has(key):
            return self(key, **values)
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


def _language_ranges(header: str) -> list[str]:
    """The language tags of an `Accept-Language` header, most preferred first.

    Babel matches tags (`negotiate_locale`) but does not read the header's q-values, and no
    other dependency offers it outside a request handler (tornado's
    `RequestHandler.get_browser_locale` only picks among tornado's own locales); so this
    dozen lines stays ours."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
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
            ranked.append((-quality, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(
    accept_language: str | None, requested: str | None = None, catalogue: Catalogue | None = None
) -> str:
    """The interface language for a page request: `?ui=` if it names one (ISO 639-3 code
    or BCP 47 tag), else the browser's first supported preference, else English."""
    catalogue = catalogue or load_catalogue()
    by_tag = {tag: lang.code for lang in catalogue.languages.values() for tag in lang.tags}
    if requested and requested.strip().lower() in catalogue.languages:
        return requested.strip().lower()
    # Babel's matching: a tag we list, else its primary subtag ("sv-SE" -> "sv"); our
    # `tags` already hold the old and sibling codes ("no", "nn", "mo"), so no aliases.
    from_url = [requested.strip()] if requested else []
    for preferred in (from_url, _language_ranges(accept_language or "")):
        match = negotiate_locale(preferred, by_tag, sep="-", aliases=None)
        if match is not None:
            return by_tag[match.lower()]
    return DEFAULT

"""The language and model registry: which models compete for which language.

The registry is a data file (`app/core/data/registry.toml`, or the file named by
`ARENA_REGISTRY_PATH`) so ops can correct it without touching code. Languages are keyed by
ISO 639-3 code; every language has at least one MultiSynt contender and one HPLT model.
People may name a language in other ways (`sv`, `Swedish`, `svenska`): `Registry.find`
accepts any code, name or alias the file gives it.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

Family = Literal["multisynt", "hplt"]
PROMPT_KINDS = ("story", "fact", "list")


class RegistryError(ValueError):
    """The registry file is malformed; the message names the language and the field."""


@dataclass(frozen=True)
class Contender:
    """One model that can appear in a battle."""

    model_id: str
    family: Family
    language: str
    variant: str | None = None  # tower9b, tower72b, opus (MultiSynt only)


@dataclass(frozen=True)
class ExamplePrompt:
    kind: str  # one of PROMPT_KINDS
    text: str


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    native_name: str
    multisynt: tuple[Contender, ...]
    hplt: Contender
    prompts: tuple[ExamplePrompt, ...]
    iso639_1: str | None = None  # None where ISO 639-1 has no code (`mul`)
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every way `Registry.find` recognises this language."""
        codes = (self.code, self.iso639_1) if self.iso639_1 else (self.code,)
        return (*codes, self.name, self.native_name, *self.aliases)

    @property
    def label(self) -> str:
        """What the Language selector shows: English name, then the native one."""
        if self.native_name == self.name:
            return self.name
        return f"{self.name} · {self.native_name}"

    @property
    def contenders(self) -> tuple[Contender, ...]:
        return (*self.multisynt, self.hplt)


def lookup_key(text: str) -> str:
    """`text` as `find` compares it: case, accents and punctuation ignored.

    So `Norsk Bokmal`, `norsk bokmål` and `Norwegian (Bokmål)` meet their registry names
    whatever the keyboard at hand.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", " ", bare.casefold()).strip()


@dataclass(frozen=True)
class Registry:
    languages: dict[str, Language]
    # lookup_key(spelling) -> ISO 639-3 code; built (and checked for clashes) by parse_registry
    index: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def language(self, code: str) -> Language:
        try:
            return self.languages[code]
        except KeyError:
            known = ", ".join(self.languages)
            raise KeyError(f"unknown language code {code!r} (known: {known})") from None

    def find(self, text: str) -> Language:
        """The language `text` names: an ISO 639-3 or 639-1 code, an English or native name,
        or an alias, in any case and with or without accents.

        Raises `KeyError` whose message lists the known codes.
        """
        index = self.index or _index(self.languages)
        code = index.get(lookup_key(text))
        if code is None:
            raise KeyError(f"unknown language {text.strip()!r} (known: {self.known_codes()})")
        return self.languages[code]

    def known_codes(self) -> str:
        """The codes, one line: `swe (sv)` for each language."""
        return ", ".join(
            f"{lang.code} ({lang.iso639_1})" if lang.iso639_1 else lang.code
            for lang in self.languages.values()
        )

    def contender(self, model_id: str) -> Contender:
        for lang in self.languages.values():
            for c in lang.contenders:
                if c.model_id == model_id:
                    return c
        raise KeyError(f"model {model_id!r} is not in the registry")

    def all_models(self) -> list[str]:
        return [c.model_id for lang in self.languages.values() for c in lang.contenders]


def _variant_of(model_id: str) -> str | None:
    tail = model_id.rsplit("-", 2)
    for variant in ("tower9b", "tower72b", "opus"):
        if variant in tail or model_id.endswith(f"-{variant}-mixture"):
            return variant
    return None


def _parse_language(code: str, raw: dict) -> Language:
    def need(key: str) -> object:
        if key not in raw:
            raise RegistryError(f"language {code!r}: missing field {key!r}")
        return raw[key]

    if len(code) != 3 or not code.isascii() or not code.islower():
        raise RegistryError(f"language key {code!r} is not an ISO 639-3 code")
    if "multisynt_models" in raw:
        ids = list(raw["multisynt_models"])
    else:
        name = need("multisynt_name")
        ids = [f"MultiSynt/nemotron-cc-{name}-{v}" for v in need("multisynt_variants")]  # type: ignore[union-attr]
    if not ids:
        raise RegistryError(f"language {code!r}: no MultiSynt model")
    prompts = list(need("prompts"))  # type: ignore[call-overload]
    if len(prompts) != len(PROMPT_KINDS) or not all(isinstance(p, str) and p for p in prompts):
        raise RegistryError(
            f"language {code!r}: 'prompts' must be {len(PROMPT_KINDS)} texts "
            f"({', '.join(PROMPT_KINDS)})"
        )
    iso639_1 = raw.get("iso639_1")
    if iso639_1 is not None and not (
        isinstance(iso639_1, str) and re.fullmatch(r"[a-z]{2}", iso639_1)
    ):
        raise RegistryError(f"language {code!r}: iso639_1 {iso639_1!r} is not a two-letter code")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise RegistryError(f"language {code!r}: 'aliases' must be a list of names")
    return Language(
        code=code,
        name=str(need("name")),
        native_name=str(need("native_name")),
        multisynt=tuple(Contender(m, "multisynt", code, _variant_of(m)) for m in ids),
        hplt=Contender(str(need("hplt_model")), "hplt", code),
        prompts=tuple(ExamplePrompt(k, t) for k, t in zip(PROMPT_KINDS, prompts, strict=True)),
        iso639_1=iso639_1,
        aliases=tuple(aliases),
    )


def _index(languages: dict[str, Language]) -> dict[str, str]:
    """Every spelling's lookup key -> code; one spelling meaning two languages is an error."""
    index: dict[str, str] = {}
    for code, lang in languages.items():
        for spelling in lang.spellings:
            key = lookup_key(spelling)
            other = index.setdefault(key, code)
            if other != code:
                raise RegistryError(
                    f"{spelling!r} names both {other!r} and {code!r}: "
                    "make the names and aliases unambiguous"
                )
    return index


def parse_registry(text: str) -> Registry:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"registry is not valid TOML: {exc}") from exc
    langs = data.get("languages")
    if not isinstance(langs, dict) or not langs:
        raise RegistryError("registry has no [languages.<code>] tables")
    languages = {code: _parse_language(code, raw) for code, raw in langs.items()}
    return Registry(languages, _index(languages))


@cache
def load_registry(path: Path | None = None) -> Registry:
    """The registry from `path`, or the built-in one."""
    if path is None:
        text = resources.files("app.core.data").joinpath("registry.toml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return parse_registry(text)

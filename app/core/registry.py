"""The language and model registry: which models compete for which language.

The registry is a data file (`app/core/data/registry.toml`, or the file named by
`ARENA_REGISTRY_PATH`) so ops can correct it without touching code. Languages are keyed by
ISO 639-3 code; every language has at least one MultiSynt contender and one HPLT model.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
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

    @property
    def label(self) -> str:
        """What the Language selector shows: English name, then the native one."""
        if self.native_name == self.name:
            return self.name
        return f"{self.name} · {self.native_name}"

    @property
    def contenders(self) -> tuple[Contender, ...]:
        return (*self.multisynt, self.hplt)


@dataclass(frozen=True)
class Registry:
    languages: dict[str, Language]

    def language(self, code: str) -> Language:
        try:
            return self.languages[code]
        except KeyError:
            known = ", ".join(self.languages)
            raise KeyError(f"unknown language code {code!r} (known: {known})") from None

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
    return Language(
        code=code,
        name=str(need("name")),
        native_name=str(need("native_name")),
        multisynt=tuple(Contender(m, "multisynt", code, _variant_of(m)) for m in ids),
        hplt=Contender(str(need("hplt_model")), "hplt", code),
        prompts=tuple(ExamplePrompt(k, t) for k, t in zip(PROMPT_KINDS, prompts, strict=True)),
    )


def parse_registry(text: str) -> Registry:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"registry is not valid TOML: {exc}") from exc
    langs = data.get("languages")
    if not isinstance(langs, dict) or not langs:
        raise RegistryError("registry has no [languages.<code>] tables")
    return Registry({code: _parse_language(code, raw) for code, raw in langs.items()})


@cache
def load_registry(path: Path | None = None) -> Registry:
    """The registry from `path`, or the built-in one."""
    if path is None:
        text = resources.files("app.core.data").joinpath("registry.toml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return parse_registry(text)

"""The interface strings: complete in every language, safe to format, stable in English."""

from __future__ import annotations

import re

import pytest

from app import i18n
from app.engines import DEFAULT_VOTER_MESSAGE, VOTER_MESSAGES
from app.i18n import DEFAULT, load_catalogue, negotiate, placeholders
from app.inference import base as engine_errors
from app.registry import load_registry

CATALOGUE = load_catalogue()
ENGLISH = CATALOGUE.strings[DEFAULT]
CODES = sorted(CATALOGUE.strings)
REGISTRY = load_registry()

# The labels tests and acceptance checks find the English controls by (design brief).
STABLE = {
    "language_label": "Language",
    "prompt_label": "Prompt",
    "generate": "Generate",
    "vote_model_a": "A is better",
    "vote_model_b": "B is better",
    "vote_tie": "Tie",
    "vote_both_bad": "Both are bad",
    "new_round": "New round",
}


def test_thirteen_languages_and_english() -> None:
    assert len(CODES) == 14
    assert set(CODES) - {DEFAULT} == set(REGISTRY.languages) - {"mul"}


@pytest.mark.parametrize("code", CODES)
def test_every_key_in_every_language_with_the_same_placeholders(code: str) -> None:
    table = CATALOGUE.strings[code]
    assert set(table) == set(ENGLISH), code
    wrong = {k: v for k, v in table.items() if placeholders(v) != placeholders(ENGLISH[k])}
    assert wrong == {}
    empty = [k for k, v in table.items() if not v.strip()]
    assert empty == []


@pytest.mark.parametrize("code", CODES)
def test_every_string_formats_and_carries_no_markup(code: str) -> None:
    for key, text in CATALOGUE.strings[code].items():
        text.format(**dict.fromkeys(placeholders(text), "X"))
        assert "<" not in text and ">" not in text, (code, key)  # markup is the page's job
        if key.endswith("_md"):
            assert text.count("**") % 2 == 0, (code, key)


@pytest.mark.parametrize("code", CODES)
def test_every_arena_language_is_named_in_every_interface_language(code: str) -> None:
    t = CATALOGUE.translator(code)
    for lang in REGISTRY.languages.values():
        assert t.has(f"lang_{lang.code}")
        assert t.language_label(lang)


@pytest.mark.parametrize("code", CODES)
def test_the_about_text_credits_the_models_with_links(code: str) -> None:
    about = CATALOGUE.strings[code]["about_md"]
    for needed in (
        "MultiSynt",
        "HPLT 2.0",
        "(https://huggingface.co/MultiSynt)",
        "(https://hplt-project.org)",
        "(https://huggingface.co/HPLT)",
        "(leaderboard)",
    ):
        assert needed in about, (code, needed)


def test_english_keeps_the_stable_labels_and_the_registry_names() -> None:
    t = CATALOGUE.translator(DEFAULT)
    assert {key: t(key) for key in STABLE} == STABLE
    for lang in REGISTRY.languages.values():
        assert t.language_label(lang) == lang.label
        assert t(f"lang_{lang.code}") == lang.name


def test_no_other_english_control_name_contains_a_stable_label() -> None:
    """Playwright's get_by_label / get_by_role(name=...) match substrings: a second control
    whose name contains "Language" or "Tie" would make those lookups ambiguous."""
    others = [
        "interface_label",
        "example_story",
        "example_fact",
        "example_list",
        "comment_label",
        "save_reasons",
        "reasons_text_a",
        "reasons_text_b",
    ]
    for key in others:
        for label in STABLE.values():
            assert label.lower() not in ENGLISH[key].lower(), (key, label)


def test_english_error_messages_are_the_error_classes_own() -> None:
    t = CATALOGUE.translator(DEFAULT)
    for cls in vars(engine_errors).values():
        if isinstance(cls, type) and issubclass(cls, engine_errors.EngineError):
            key = f"err_engine_{cls.kind}"
            if t.has(key):
                assert t(key) == cls.voter_message, key
    for kind, message in VOTER_MESSAGES.items():
        assert t(f"err_directory_{kind}") == message
    assert t("err_directory_error") == DEFAULT_VOTER_MESSAGE


@pytest.mark.parametrize(
    ("header", "requested", "expected"),
    [
        ("sv-SE,sv;q=0.9,en;q=0.8", None, "swe"),
        ("eu-ES,eu;q=0.9,es;q=0.8", None, "eus"),
        ("nb-NO,no;q=0.9", None, "nob"),
        ("nn", None, "nob"),
        ("fr-FR,fr;q=0.9,de;q=0.7", None, "deu"),  # the first one we have
        ("en;q=0.3,fi;q=0.9", None, "fin"),  # quality wins over order
        ("zh-CN", None, "eng"),
        (None, None, "eng"),
        ("sv", "eus", "eus"),  # ?ui= wins
        ("sv", "eu-ES", "eus"),
        ("sv", "klingon", "swe"),  # a bad ?ui= is ignored
        ("da;q=0, is", None, "isl"),
    ],
)
def test_negotiate(header: str | None, requested: str | None, expected: str) -> None:
    assert negotiate(header, requested) == expected


def test_language_labels_in_another_interface_language() -> None:
    t = CATALOGUE.translator("swe")
    assert t.language_label(REGISTRY.language("swe")) == "Svenska"
    assert t.language_label(REGISTRY.language("nob")) == "Norska (bokmål) · Norsk bokmål"
    assert t.language_label(REGISTRY.language("mul")) == "Flerspråkigt experiment"
    assert CATALOGUE.translator("nob").language_label(REGISTRY.language("nob")) == "Norsk bokmål"


def test_messages_fall_back_sensibly() -> None:
    eng, swe = CATALOGUE.translator(DEFAULT), CATALOGUE.translator("swe")
    raw = "The model server had a new kind of trouble. Please try again."
    assert eng.message("err_engine_brand_new", {}, raw) == raw
    assert swe.message("err_engine_brand_new", {}, raw) == swe("err_engine_engine_error")
    assert swe.message("err_directory_brand_new", {}, None) == swe("err_directory_error")
    assert swe.message("msg_preparing", {"language_code": "fin"}) == "Finska: modellerna förbereds…"
    assert eng.message("", {}) == ""


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "a few seconds"), (38, "about 40 s"), (60, "about 1 min"), (150, "about 3 min")],
)
def test_about_rounds_like_the_status_module(seconds: float, words: str) -> None:
    from app.engine_status import about

    assert CATALOGUE.translator(DEFAULT).about(seconds) == words == about(seconds)


def test_the_catalogue_is_checked_when_parsed() -> None:
    broken = re.sub(r"\[languages\.eus\][^\[]*", "", i18n.resources.files("app.data")
                    .joinpath("ui_strings.toml").read_text("utf-8"))  # fmt: skip
    with pytest.raises(ValueError, match="same codes"):
        i18n.parse_catalogue(broken)

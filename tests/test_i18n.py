"""The interface strings: complete in every language, safe to format, stable in English."""

from __future__ import annotations

import re

import pytest

from app.core import i18n
from app.core.i18n import (
    DEFAULT,
    load_catalogue,
    negotiate,
    placeholders,
    plural_categories,
    plural_category,
    plural_rule,
)
from app.core.inference import base as engine_errors
from app.core.registry import load_registry

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


def forms(message: str | dict[str, str]) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def test_thirteen_languages_and_english() -> None:
    assert len(CODES) == 14
    assert set(CODES) - {DEFAULT} == set(REGISTRY.languages) - {"mul"}


@pytest.mark.parametrize("code", CODES)
def test_every_key_in_every_language_with_the_same_placeholders(code: str) -> None:
    table = CATALOGUE.strings[code]
    assert set(table) == set(ENGLISH), code
    wrong = {k: v for k, v in table.items() if placeholders(v) != placeholders(ENGLISH[k])}
    assert wrong == {}
    empty = [k for k, v in table.items() if not all(text.strip() for text in forms(v))]
    assert empty == []


@pytest.mark.parametrize("code", CODES)
def test_every_string_formats_and_carries_no_markup(code: str) -> None:
    for key, message in CATALOGUE.strings[code].items():
        for text in forms(message):
            text.format(**dict.fromkeys(placeholders(text), "X"))
            assert "<" not in text and ">" not in text, (code, key)  # markup is the page's job
            if key.endswith("_md"):
                assert text.count("**") % 2 == 0, (code, key)


PLURAL_KEYS = sorted(k for k, v in ENGLISH.items() if isinstance(v, dict))


def test_counted_strings_are_plural_messages() -> None:
    assert {"lb_votes", "lb_summary", "note_too_few", "msg_prompt_too_long"} <= set(PLURAL_KEYS)


@pytest.mark.parametrize("code", CODES)
def test_plural_messages_give_exactly_the_categories_of_the_language(code: str) -> None:
    needed = set(plural_categories(code))
    for key in PLURAL_KEYS:
        message = CATALOGUE.strings[code][key]
        assert isinstance(message, dict), (code, key)
        assert set(message) == needed, (code, key)
        for category, text in message.items():
            assert placeholders(text) == placeholders(ENGLISH[key]), (code, key, category)
            assert text.strip(), (code, key, category)
    # A plural message is plural in every language; a plain string plain in every one.
    plain = {k for k, v in CATALOGUE.strings[code].items() if not isinstance(v, dict)}
    assert plain.isdisjoint(PLURAL_KEYS)


def test_every_interface_language_has_a_plural_rule() -> None:
    """Its own language's CLDR rule (a code without one would silently get English's)."""
    rules = {code: plural_rule(code) for code in CODES}
    assert set(rules) == set(CODES)
    for code in CODES:
        language = CATALOGUE.languages[code]
        assert language.locale.language == language.html_lang.split("-")[0], code
        assert rules[code] is language.locale.plural_form
    assert plural_rule("xyz") is plural_rule(DEFAULT)


def test_a_language_babel_does_not_know_is_refused() -> None:
    text = i18n.resources.files("app.core.data").joinpath("ui_strings.toml").read_text("utf-8")
    broken = text.replace('html = "eu"', 'html = "xx"')
    with pytest.raises(ValueError, match="no CLDR locale 'xx'"):
        i18n.parse_catalogue(broken)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("eng", {0: "other", 1: "one", 2: "other", 11: "other", 21: "other"}),
        ("fin", {0: "other", 1: "one", 2: "other", 101: "other"}),
        ("eus", {1: "one", 2: "other", 21: "other"}),
        (
            "isl",
            {
                0: "other",
                1: "one",
                2: "other",
                11: "other",
                21: "one",
                31: "one",
                101: "one",
                111: "other",
                1011: "other",
                1021: "one",
                20: "other",
            },
        ),
        (
            "ron",
            {
                0: "few",
                1: "one",
                2: "few",
                19: "few",
                20: "other",
                99: "other",
                100: "other",
                101: "few",
                102: "few",
                119: "few",
                120: "other",
                1001: "few",
            },
        ),
        (
            "spa",
            {
                0: "other",
                1: "one",
                2: "other",
                1_000_000: "many",
                2_000_000: "many",
                1_000_001: "other",
            },
        ),
        ("por", {0: "other", 1: "one", 2: "other", 1_000_000: "many"}),  # European Portuguese
    ],
)
def test_cldr_plural_categories(code: str, expected: dict[int, str]) -> None:
    assert {n: plural_category(code, n) for n in expected} == expected
    assert set(expected.values()) <= set(plural_categories(code))


@pytest.mark.parametrize(
    ("code", "n", "text"),
    [
        ("eng", 0, "0 votes"),
        ("eng", 1, "1 vote"),
        ("eng", 2, "2 votes"),
        ("swe", 1, "1 röst"),
        ("swe", 5, "5 röster"),
        ("fin", 1, "1 ääni"),
        ("fin", 3, "3 ääntä"),
        ("ron", 1, "1 vot"),
        ("ron", 2, "2 voturi"),
        ("ron", 19, "19 voturi"),
        ("ron", 20, "20 de voturi"),
        ("ron", 101, "101 voturi"),
        ("ron", 102, "102 voturi"),
        ("ron", 120, "120 de voturi"),
        ("spa", 1, "1 voto"),
        ("spa", 2, "2 votos"),
    ],
)
def test_plural_picks_the_form_for_the_count(code: str, n: int, text: str) -> None:
    assert CATALOGUE.translator(code).plural("lb_votes", n, votes=n) == text


@pytest.mark.parametrize(
    ("n", "verb"), [(1, "passar"), (11, "passa"), (21, "passar"), (101, "passar"), (2, "passa")]
)
def test_icelandic_agreement_follows_the_last_digits(n: int, verb: str) -> None:
    text = CATALOGUE.translator("isl").plural("lb_summary", n, votes=f"{n} atkvæði", total=500)
    assert text.startswith(f"{n} atkvæði {verb} við")


def test_calling_a_plural_message_picks_the_count_from_its_first_number() -> None:
    """Callers that pass the count only as a placeholder (`t(key, length=...)`) get the
    right form too: the first whole-number placeholder in the English text decides."""
    eng, ron, eus = (CATALOGUE.translator(c) for c in ("eng", "ron", "eus"))
    assert eng("msg_prompt_too_long", length=1, limit=2000).startswith(
        "Your text is 1 character long"
    )
    assert eng("msg_prompt_too_long", length=2500, limit=2000).startswith(
        "Your text is 2500 characters long"
    )
    assert ron("msg_prompt_too_long", length=2019, limit=2000).startswith(
        "Textul dumneavoastră are 2019 caractere;"
    )
    assert ron("msg_prompt_too_long", length=2020, limit=2000).startswith(
        "Textul dumneavoastră are 2020 de caractere;"
    )
    assert eus.message("msg_prompt_too_long", {"length": 1, "limit": 9}).startswith(
        "Zure testuak 1 karaktere du,"
    )
    assert eng("lb_votes", votes="many") == "many votes"  # no number: the "other" form


def test_a_plain_string_ignores_the_count() -> None:
    t = CATALOGUE.translator("swe")
    assert t.plural("lb_title", 1) == t("lb_title")


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


def test_every_failure_kind_has_its_own_or_its_kind_s_message() -> None:
    """Failures reach the voter as catalogue keys built from their kind; a kind without a
    message of its own falls back to the general one of its family, never to nothing."""
    for code in CATALOGUE.strings:
        t = CATALOGUE.translator(code)
        for cls in vars(engine_errors).values():
            if isinstance(cls, type) and issubclass(cls, engine_errors.EngineError):
                assert t.message(f"err_engine_{cls.kind}", {}) not in ("", t("msg_failed"))
        for kind in ("unknown_model", "timeout", "engine_failed", "unavailable", "shutting_down"):
            assert t.has(f"err_directory_{kind}"), (code, kind)


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
    assert eng.message("err_engine_brand_new", {}) == eng("err_engine_engine_error")
    assert swe.message("err_engine_brand_new", {}) == swe("err_engine_engine_error")
    assert swe.message("err_directory_brand_new", {}) == swe("err_directory_error")
    assert swe.message("msg_preparing", {"language_code": "fin"}) == "Finska: modellerna förbereds…"
    assert eng.message("", {}) == ""


def test_the_catalogue_is_checked_when_parsed() -> None:
    broken = re.sub(r"\[languages\.eus\][^\[]*", "", i18n.resources.files("app.core.data")
                    .joinpath("ui_strings.toml").read_text("utf-8"))  # fmt: skip
    with pytest.raises(ValueError, match="same codes"):
        i18n.parse_catalogue(broken)

"""The registry: the design brief's languages and models, and clear errors for bad files."""

from __future__ import annotations

import pytest

from app.core.registry import PROMPT_KINDS, RegistryError, load_registry, parse_registry

EXPECTED_VARIANTS = {
    "isl": ("icelandic", {"tower9b", "opus"}),
    "swe": ("swedish", {"tower9b", "tower72b", "opus"}),
    "dan": ("danish", {"tower9b", "opus"}),
    "nob": ("norwegian", {"tower9b"}),
    "fin": ("finnish", {"tower9b", "tower72b", "opus"}),
    "deu": ("german", {"tower9b", "tower72b", "opus"}),
    "nld": ("dutch", {"tower9b", "opus"}),
    "spa": ("spanish", {"tower9b", "tower72b"}),
    "ita": ("italian", {"tower9b", "tower72b", "opus"}),
    "por": ("portuguese", {"opus"}),
    "ron": ("romanian", {"tower9b", "opus"}),
    "cat": ("catalan", {"opus"}),
    "eus": ("basque", {"opus"}),
}


def test_languages_are_the_thirteen_plus_the_experiment() -> None:
    reg = load_registry()
    assert list(reg.languages) == [*EXPECTED_VARIANTS, "mul"]


@pytest.mark.parametrize(("code", "expected"), EXPECTED_VARIANTS.items())
def test_model_ids_follow_the_design_brief(code: str, expected: tuple[str, set[str]]) -> None:
    name, variants = expected
    lang = load_registry().language(code)
    assert {c.model_id for c in lang.multisynt} == {
        f"MultiSynt/nemotron-cc-{name}-{v}" for v in variants
    }
    assert {c.variant for c in lang.multisynt} == variants
    assert lang.hplt.model_id == f"HPLT/hplt2c_{code}_checkpoints"
    assert lang.hplt.family == "hplt"
    assert all(c.family == "multisynt" and c.language == code for c in lang.multisynt)


def test_multilingual_experiment_pairs_the_two_mixtures() -> None:
    lang = load_registry().language("mul")
    assert [c.model_id for c in lang.multisynt] == ["MultiSynt/2B-1TT-tower9b-mixture"]
    assert lang.hplt.model_id == "MultiSynt/2B-1TT-native-mixture"
    assert lang.hplt.family == "hplt"  # the reference side


def test_every_language_has_names_and_three_prompts() -> None:
    for lang in load_registry().languages.values():
        assert lang.name and lang.native_name
        assert [p.kind for p in lang.prompts] == list(PROMPT_KINDS)
        assert len({p.text for p in lang.prompts}) == 3
        assert lang.name.split()[0] in lang.label


def test_contender_lookup_and_unknown_ids() -> None:
    reg = load_registry()
    assert reg.contender("HPLT/hplt2c_swe_checkpoints").language == "swe"
    assert reg.contender("MultiSynt/nemotron-cc-basque-opus").variant == "opus"
    with pytest.raises(KeyError, match="not in the registry"):
        reg.contender("gpt2")
    with pytest.raises(KeyError, match="unknown language code 'xxx'"):
        reg.language("xxx")
    assert len(reg.all_models()) == len(set(reg.all_models()))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1", "no \\[languages"),
        ('[languages.sv]\nname = "x"', "not an ISO 639-3 code"),
        ('[languages.swe]\nname = "Swedish"', "missing field"),
        (
            '[languages.swe]\nname="S"\nnative_name="S"\nmultisynt_name="swedish"\n'
            'multisynt_variants=["opus"]\nhplt_model="H"\nprompts=["a"]',
            "must be 3 texts",
        ),
    ],
)
def test_malformed_registry_files_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_registry(text)


ISO639_1 = {
    "isl": "is", "swe": "sv", "dan": "da", "nob": "nb", "fin": "fi", "deu": "de", "nld": "nl",
    "spa": "es", "ita": "it", "por": "pt", "ron": "ro", "cat": "ca", "eus": "eu",
}  # fmt: skip


def test_every_language_but_the_experiment_has_its_iso639_1_code() -> None:
    reg = load_registry()
    assert {code: lang.iso639_1 for code, lang in reg.languages.items()} == {
        **ISO639_1,
        "mul": None,
    }


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("swe", "swe"),
        ("SWE", "swe"),
        ("sv", "swe"),
        ("SV", "swe"),
        (" Swedish ", "swe"),
        ("svenska", "swe"),
        ("fi", "fin"),
        ("suomi", "fin"),
        ("Norwegian", "nob"),
        ("norsk bokmål", "nob"),
        ("Norsk Bokmal", "nob"),  # no å on the keyboard
        ("Norwegian (Bokmål)", "nob"),  # the old arena's label
        ("nb", "nob"),
        ("no", "nob"),
        ("islenska", "isl"),
        ("Íslenska", "isl"),
        ("Deutsch", "deu"),
        ("español", "spa"),
        ("mul", "mul"),
        ("Multilingual", "mul"),
        ("Multilingual-Exp", "mul"),
    ],
)
def test_find_accepts_codes_names_and_aliases(text: str, code: str) -> None:
    assert load_registry().find(text).code == code


@pytest.mark.parametrize("text", ["xx", "eng", "English", "", "sv-SE", "Swedishh"])
def test_find_refuses_unknown_languages_listing_the_codes(text: str) -> None:
    with pytest.raises(KeyError) as info:
        load_registry().find(text)
    message = info.value.args[0]
    assert "unknown language" in message and "\n" not in message
    assert "swe (sv)" in message and "nob (nb)" in message and message.endswith("mul)")


def test_every_spelling_of_every_language_finds_it() -> None:
    reg = load_registry()
    for code, lang in reg.languages.items():
        for spelling in lang.spellings:
            assert reg.find(spelling).code == code
            assert reg.find(spelling.upper()).code == code


LANGUAGE = (
    'name="{name}"\nnative_name="{name}"\nmultisynt_name="x"\nmultisynt_variants=["opus"]\n'
    'hplt_model="H{code}"\nprompts=["a", "b", "c"]\n'
)


def test_a_spelling_naming_two_languages_is_refused() -> None:
    text = (
        "[languages.swe]\n" + LANGUAGE.format(name="Swedish", code="swe") + 'iso639_1 = "sv"\n'
        "[languages.fin]\n" + LANGUAGE.format(name="Finnish", code="fin") + 'aliases = ["SV"]\n'
    )
    with pytest.raises(RegistryError, match="'SV' names both 'swe' and 'fin'"):
        parse_registry(text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('iso639_1 = "swe"', "not a two-letter code"),
        ('iso639_1 = "SV"', "not a two-letter code"),
        ('aliases = "Swedish"', "must be a list of names"),
        ('aliases = [""]', "must be a list of names"),
    ],
)
def test_malformed_codes_and_aliases_are_refused(extra: str, message: str) -> None:
    text = "[languages.swe]\n" + LANGUAGE.format(name="Swedish", code="swe") + extra + "\n"
    with pytest.raises(RegistryError, match=message):
        parse_registry(text)

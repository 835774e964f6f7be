"""Plausible text for the stand-in engine: sentence banks, a toy tokenizer, seeded generation.

The stand-in has no model. It continues a prompt with sentences from a small bank written in
the language of the model it serves (`tgi/standin/texts/<iso639-3>.txt`), in an order drawn
from a seeded random generator, and cuts the text into tokens the way a BPE tokenizer would.

Tokenizer (used for prompts and for generated text alike, so counts are consistent):
words carry their leading space (`" Stockholm"`), digit runs and punctuation runs are tokens
of their own, runs of whitespace other than one leading space are one token (`"\\n\\n"`), and
letters-only words longer than 7 characters are cut into pieces of 5, then 4 characters
(`" Morgondimman"` -> `" Morgo"`, `"ndimm"`, `"an"`). The prompt's length in tokens (what TGI
validates against `--max-input-tokens`) is the number of such pieces; no BOS token is added.

Determinism: the random generator is seeded from (model id, seed, prompt). The same request
to the same model gives the same text; two models given the same seed (both sides of a
battle) still write different text. Sampling requests without a seed draw one at random
(reported back in `details.seed`, as TGI does). Greedy requests without a seed behave like a
real model: same model + prompt, same text; unlike TGI, an explicit seed still picks the
text of a greedy request.

Sampling parameters shape the text only loosely: sentences come in shuffled rounds (no
repeats until the bank is used up) unless `repetition_penalty` < 1, which lets the previous
sentence repeat; `temperature` scales the made-up logprobs; `stop` ends the text right after
the first token that completes a stop sequence (finish reason `stop_sequence`). Otherwise
exactly `max_new_tokens` tokens come out (finish reason `length`); there is no EOS token.
"""

from __future__ import annotations

import hashlib
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

FALLBACK_LANGUAGE = "eng"
MIXED_LANGUAGE = "mul"
SPECIAL_IDS = 100  # ids below this are reserved for special tokens (<unk>, <s>, </s>, ...)
_PIECE = re.compile(r" ?[^\W\d_]+| ?\d+| ?[^\w\s]+|\s+", re.UNICODE)
_LONG_WORD = 7
_SENTENCE_END = (".", "!", "?", ":", ";", "\n")


def tokenize(text: str) -> list[str]:
    """Cut `text` into token pieces; `"".join(tokenize(t)) == t` for every text."""
    pieces: list[str] = []
    for match in _PIECE.finditer(text):
        pieces.extend(_split_long(match.group()))
    return pieces


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def _split_long(piece: str) -> list[str]:
    word = piece.lstrip(" ")
    if len(word) <= _LONG_WORD or not word.isalpha():
        return [piece]
    lead = piece[: len(piece) - len(word)]
    parts = [lead + word[:5]]
    rest = word[5:]
    while rest:
        parts.append(rest[:4])
        rest = rest[4:]
    if len(parts) > 2 and len(parts[-1]) == 1:
        parts[-2:] = [parts[-2] + parts[-1]]
    return parts


@dataclass(frozen=True)
class Bank:
    """The sentences of one language and a vocabulary with stable, distinct token ids."""

    code: str
    sentences: tuple[str, ...]
    vocab: dict[str, int] = field(repr=False)

    def token_id(self, piece: str) -> int:
        known = self.vocab.get(piece)
        if known is not None:
            return known
        return SPECIAL_IDS + len(self.vocab) + zlib.crc32(piece.encode()) % 20_000

    def words(self) -> set[str]:
        return {w.lower() for s in self.sentences for w in re.findall(r"[^\W\d_]+", s)}


def available_languages() -> list[str]:
    folder = resources.files("tgi.standin").joinpath("texts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


@cache
def load_bank(code: str) -> Bank:
    """The bank for `code`; unknown codes get the English fallback bank."""
    if code not in available_languages():
        code = FALLBACK_LANGUAGE
    raw = resources.files("tgi.standin").joinpath("texts", f"{code}.txt").read_text("utf-8")
    sentences = tuple(
        line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("#")
    )
    pieces = {"\n\n"} | {p for s in sentences for p in tokenize(" " + s)}
    vocab = {p: SPECIAL_IDS + i for i, p in enumerate(sorted(pieces))}
    return Bank(code, sentences, vocab)


def resolve_language(model_id: str) -> str:
    """ISO 639-3 code of the model's language: the registry (`ARENA_REGISTRY_PATH`'s, as
    the supervisor that launched this engine uses), then hints in the id, then eng."""
    try:
        from app.core.registry import load_registry
        from app.core.settings import load_settings

        registry = load_registry(load_settings().registry_path)
        try:
            return registry.contender(model_id).language
        except KeyError:
            pass
        names = {lang.name.split()[0].lower(): code for code, lang in registry.languages.items()}
    except Exception:  # the registry is optional for the stand-in: never fail start-up on it
        names = {}
    lowered = model_id.lower()
    for code in available_languages():
        if re.search(rf"(^|[^a-z]){code}([^a-z]|$)", lowered):
            return code
    for name, code in names.items():
        if name in lowered:
            return code
    return FALLBACK_LANGUAGE


def detect_language(prompt: str) -> str | None:
    """The bank whose words the prompt uses most (for multilingual models), if any."""
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", prompt)]
    if not words:
        return None
    scores = {
        code: sum(w in load_bank(code).words() for w in words)
        for code in available_languages()
        if code != MIXED_LANGUAGE
    }
    best = max(scores.values())
    winners = [code for code, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def bank_for(language: str, prompt: str) -> Bank:
    if language == MIXED_LANGUAGE:
        return load_bank(detect_language(prompt) or MIXED_LANGUAGE)
    return load_bank(language)


@dataclass(frozen=True)
class Token:
    id: int
    text: str
    logprob: float
    special: bool = False


@dataclass(frozen=True)
class Sampling:
    """What shapes one generation (already validated)."""

    max_new_tokens: int
    seed: int  # the effective seed (random when the request had none)
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0
    temperature: float = 1.0
    top_n_tokens: int = 0


@dataclass
class Generation:
    tokens: list[Token]
    top_tokens: list[list[Token]]
    finish_reason: str  # "length" or "stop_sequence" (TGI's FinishReason)

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)


def make_rng(model_id: str, seed: int, prompt: str) -> random.Random:
    digest = hashlib.sha256(f"{model_id}\0{seed}\0{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def generate(bank: Bank, model_id: str, prompt: str, sampling: Sampling) -> Generation:
    """Exactly `max_new_tokens` tokens, or fewer when a stop sequence is produced."""
    rng = make_rng(model_id, sampling.seed, prompt)
    tokens: list[Token] = []
    top: list[list[Token]] = []
    text = ""
    for piece in _pieces(prompt, bank, rng, sampling.repetition_penalty):
        logprob = -round(rng.uniform(0.02, 2.5) * sampling.temperature, 4)
        token = Token(bank.token_id(piece), piece, logprob)
        tokens.append(token)
        if sampling.top_n_tokens:
            top.append(_alternatives(bank, token, sampling.top_n_tokens, rng))
        text += piece
        if _hits_stop(text, piece, sampling.stop):
            return Generation(tokens, top, "stop_sequence")
        if len(tokens) >= sampling.max_new_tokens:
            break
    return Generation(tokens, top, "length")


def _hits_stop(text: str, piece: str, stops: tuple[str, ...]) -> bool:
    return any(stop and stop in text[-(len(stop) + len(piece)) :] for stop in stops)


def _alternatives(bank: Bank, chosen: Token, n: int, rng: random.Random) -> list[Token]:
    others = rng.sample(sorted(bank.vocab), k=min(n - 1, len(bank.vocab)))
    rest = [
        Token(bank.token_id(p), p, round(chosen.logprob - rng.uniform(0.1, 3.0), 4)) for p in others
    ]
    return [chosen, *sorted(rest, key=lambda t: -t.logprob)]


def _pieces(prompt: str, bank: Bank, rng: random.Random, penalty: float) -> Iterator[str]:
    """An endless run of token pieces continuing `prompt`."""
    opening, used = _opening(prompt, bank, rng)
    glue = "" if not prompt or prompt[-1].isspace() else " "
    if opening:
        yield from tokenize(glue + opening)
        glue = " "
    until_break = rng.randint(3, 5)
    for sentence in _sentences(bank, rng, penalty, skip=used):
        if until_break == 0:
            glue, until_break = "\n\n", rng.randint(3, 5)
        until_break -= 1
        yield from tokenize(glue + sentence)
        glue = " "


def _sentences(bank: Bank, rng: random.Random, penalty: float, skip: str) -> Iterator[str]:
    """Sentences in shuffled rounds; a repetition penalty below 1 lets them repeat."""
    bag = [s for s in bank.sentences if s != skip]
    rng.shuffle(bag)
    previous = ""
    while True:
        if previous and penalty < 1.0 and rng.random() < 1.0 - penalty:
            yield previous
            continue
        if not bag:
            bag = list(bank.sentences)
            rng.shuffle(bag)
            if len(bag) > 1 and bag[-1] == previous:
                bag.insert(0, bag.pop())
        previous = bag.pop()
        yield previous


def _opening(prompt: str, bank: Bank, rng: random.Random) -> tuple[str, str]:
    """For a prompt that stops mid-sentence: the second half of a sentence (after a comma),
    and the sentence it came from; ("", "") when the prompt ends a sentence."""
    tail = prompt.rstrip()
    if not tail or tail.endswith(_SENTENCE_END) or tail[-1].isdigit():
        return "", ""
    candidates = [s for s in bank.sentences if len(s.partition(", ")[2].split()) >= 3]
    if not candidates:
        return "", ""
    sentence = rng.choice(candidates)
    half = sentence.partition(", ")[2]
    first, _, rest = half.partition(" ")
    return (rest if first.lower() == tail.split()[-1].lower() else half), sentence


def prompt_tokens(bank: Bank, model_id: str, prompt: str) -> list[Token]:
    """The prompt as tokens with made-up logprobs (TGI's `prefill` details)."""
    rng = make_rng(model_id, 0, prompt)
    return [Token(bank.token_id(p), p, -round(rng.uniform(0.5, 9.0), 4)) for p in tokenize(prompt)]

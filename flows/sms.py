"""The SMS keyword grammar: what a citizen's text means, in French, Kiswahili or Lingala.

Pure like the rest of `flows/`: no I/O, no clock, no database; tested with tables.

Rules:
- text is normalised before matching: accents dropped (Unicode NFKD), Lingala's open vowels
  read as plain ones (e for the open e, o for the open o), upper case, anything but letters and
  digits read as a space, runs of spaces collapsed, letters glued to digits split ("police3"
  reads "POLICE 3");
- the first word picks the command by keyword (`config/sms.toml`: aliases per language and a
  shared list); a word of five letters or more also matches a keyword one edit away (one letter
  wrong, missing or extra, or two swapped), unless two meanings are that close;
- a keyword of one language says the language of the reply; a shared keyword (STOP, HELP, OK)
  leaves it to what is known of the sender (`language` None);
- opting out or back in silences or wakes a number, so STOP and START count only as the whole
  message, spelt exactly ("Arrete par la police hier..." is a sentence, not an opt-out);
- a rating is `<institution keyword or unit code> [place words] <values>`: one value per rating
  indicator, in order, written apart or together ("3 2" or "32"), each checked against its scale
  (option numbers, as on USSD, so both channels count the same answers); a rating with no value
  or a value off its scale is a `BadRating`, which the gateway answers with the format;
- feedback and complaints: the keyword, then free text kept as the citizen wrote it; a keyword with
  no text is a `BadFeedback`;
- anything else is `Unrecognised`, carrying its normalised words, which may answer a follow-up
  question the gateway asked (a locality, a unit number).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import OSA

COMMAND_MEANINGS = ("help", "stop", "start", "results", "feedback", "complaint")
FUZZY_MIN_LENGTH = 5
_LINGALA = str.maketrans({"ɛ": "e", "Ɛ": "E", "ɔ": "o", "Ɔ": "O"})
_NOT_WORD = re.compile(r"[^A-Z0-9]+")
_GLUED = re.compile(r"(?<=[A-Z])(?=[0-9])|(?<=[0-9])(?=[A-Z])")
_FIRST_WORD = re.compile(r"^[\W_]*[^\W\d_]+", re.UNICODE)
_LEADING = " \t\r\n:;,.-_*#!?"


@lru_cache(maxsize=8192)  # every message is matched against every place name and alias
def normalise(text: str) -> str:
    """Upper-case ASCII words separated by single spaces (see the module rules)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LINGALA))
    plain = "".join(c if c.isalnum() else " " for c in decomposed
                    if not unicodedata.combining(c))  # punctuation of any script separates words
    upper = plain.upper().replace("Œ", "OE").replace("Æ", "AE")
    words = _NOT_WORD.sub(" ", upper.encode("ascii", "ignore").decode())
    return " ".join(_GLUED.sub(" ", words).split())


def compact_code(code: str) -> str:
    """A unit code as a citizen may type it: letters and digits only, upper case."""
    return _NOT_WORD.sub("", normalise(code))


@dataclass(frozen=True)
class ScaleBounds:
    """The options a rating value may take: 1..points, or the don't-know option."""

    points: int
    dont_know: str | None = None

    def accepts(self, option: str) -> bool:
        if self.dont_know is not None and option == self.dont_know:
            return True
        return option.isdigit() and 1 <= int(option) <= self.points


@dataclass(frozen=True)
class Grammar:
    """Keywords by language and meaning, the shared ones, and the rating's indicators.

    `words` maps a normalised keyword to its (meaning, language or None) — built once by `build`.
    """

    languages: tuple[str, ...]
    rating_indicators: tuple[str, ...]
    scales: Mapping[str, ScaleBounds]
    institution_types: tuple[str, ...]
    words: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    unit_codes: Mapping[str, str] = field(default_factory=dict)  # compact code -> unit code

    @classmethod
    def build(
        cls,
        keywords: Mapping[str, Mapping[str, Sequence[str]]],
        shared: Mapping[str, Sequence[str]],
        *,
        rating_indicators: Sequence[str],
        scales: Mapping[str, ScaleBounds],
        institution_types: Sequence[str],
    ) -> Grammar:
        """Index the keywords; raise ValueError naming every clash (one word, two meanings)."""
        words: dict[str, tuple[str, str | None]] = {}
        clashes: list[str] = []
        tables: list[tuple[str | None, Mapping[str, Sequence[str]]]] = [(None, shared)]
        tables += list(keywords.items())
        for language, table in tables:
            for meaning, aliases in table.items():
                for alias in aliases:
                    word = normalise(alias)
                    if not word or " " in word:
                        clashes.append(f"{language or 'shared'}.{meaning}: {alias!r} is not a word")
                        continue
                    known = words.get(word)
                    if known is None:
                        words[word] = (meaning, language)
                    elif known[0] != meaning:
                        clashes.append(f"{word!r} means both {known[0]} and {meaning}")
                    elif known[1] != language:
                        words[word] = (meaning, None)  # same meaning in two languages
        if clashes:
            raise ValueError("; ".join(clashes))
        return cls(tuple(keywords), tuple(rating_indicators), dict(scales),
                   tuple(institution_types), words)

    def with_units(self, unit_codes: Sequence[str]) -> Grammar:
        compact = {compact_code(code): code for code in unit_codes}
        return Grammar(self.languages, self.rating_indicators, self.scales,
                       self.institution_types, self.words, compact)

    def meaning_of(self, word: str) -> tuple[str, str | None] | None:
        """The keyword `word` is, exactly or one edit away (see the module rules)."""
        exact = self.words.get(word)
        if exact is not None or len(word) < FUZZY_MIN_LENGTH:
            return exact
        near = {
            found
            for keyword, found in self.words.items()
            if len(keyword) >= FUZZY_MIN_LENGTH and OSA.distance(word, keyword, score_cutoff=1) <= 1
        }
        meanings = {m for m, _ in near}
        if len(meanings) != 1:
            return None
        languages = {lang for _, lang in near}
        return (meanings.pop(), languages.pop() if len(languages) == 1 else None)


# --- Commands: what a message means ---------------------------------------------------------


@dataclass(frozen=True)
class Help:
    language: str | None


@dataclass(frozen=True)
class Stop:
    language: str | None


@dataclass(frozen=True)
class Start:
    language: str | None


@dataclass(frozen=True)
class Results:
    language: str | None


@dataclass(frozen=True)
class Feedback:
    language: str | None
    category: str  # feedback | complaint
    text: str
    institution_type: str | None = None


@dataclass(frozen=True)
class BadFeedback:
    language: str | None
    category: str


@dataclass(frozen=True)
class Rate:
    """A compact rating: values are option numbers, one per rating indicator (a prefix)."""

    language: str | None
    values: tuple[str, ...]
    institution_type: str | None = None
    unit_code: str | None = None
    place: str = ""


@dataclass(frozen=True)
class BadRating:
    language: str | None
    reason: str  # no_value | bad_value | too_many
    institution_type: str | None = None


@dataclass(frozen=True)
class Unrecognised:
    words: str


Command = (Help | Stop | Start | Results | Feedback | BadFeedback | Rate | BadRating
           | Unrecognised)


def parse(text: str, grammar: Grammar) -> Command:
    """What `text` asks for (see the module rules)."""
    words = normalise(text).split()
    if not words:
        return Unrecognised("")
    first = words[0]
    raw_first = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    unit = grammar.unit_codes.get(compact_code(raw_first)) if raw_first else None
    if unit is not None and not first.isdigit():
        rest = normalise(text.strip()[len(raw_first):]).split()
        return _rating(grammar, None, rest, unit_code=unit)
    found = grammar.meaning_of(first)
    if found is None:
        return Unrecognised(" ".join(words))
    meaning, language = found
    if meaning in ("stop", "start") and (len(words) > 1 or first not in grammar.words):
        return Unrecognised(" ".join(words))
    simple: dict[str, type[Help | Stop | Start | Results]] = {
        "help": Help, "stop": Stop, "start": Start, "results": Results}
    if meaning in simple:
        return simple[meaning](language)
    if meaning in ("feedback", "complaint"):
        body = _after_first_word(text)
        if not body:
            return BadFeedback(language, meaning)
        second = normalise(body).split()[:1]
        about = grammar.meaning_of(second[0]) if second else None
        institution = about[0] if about and about[0] in grammar.institution_types else None
        return Feedback(language, meaning, body, institution)
    if meaning in grammar.institution_types:
        return _rating(grammar, language, words[1:], institution_type=meaning)
    return Unrecognised(" ".join(words))


def _after_first_word(text: str) -> str:
    """What follows the keyword, as written (composed: a phone may send accents decomposed)."""
    text = unicodedata.normalize("NFC", text)
    match = _FIRST_WORD.match(text)
    rest = text[match.end():] if match else ""
    return rest.lstrip(_LEADING).strip()


def _rating(grammar: Grammar, language: str | None, words: list[str], *,
            institution_type: str | None = None, unit_code: str | None = None) -> Command:
    place = " ".join(w for w in words if not w.isdigit())
    digits = [w for w in words if w.isdigit()]
    if len(digits) == 1 and len(digits[0]) > 1:
        digits = list(digits[0])  # "32": one digit per indicator
    if not digits:
        return BadRating(language, "no_value", institution_type)
    if len(digits) > len(grammar.rating_indicators):
        return BadRating(language, "too_many", institution_type)
    for indicator, option in zip(grammar.rating_indicators, digits, strict=False):
        if not grammar.scales[indicator].accepts(option):
            return BadRating(language, "bad_value", institution_type)
    return Rate(language, tuple(digits), institution_type, unit_code, place)


# --- Places: matching what the citizen called their locality -----------------------------------


def match_place(words: str, names: Mapping[str, Sequence[str]]) -> list[str]:
    """Codes of the places whose name (or alias) is `words`: exact matches first; else those one
    edit away (two for names of nine letters or more), all of them when several are that close."""
    wanted = normalise(words)
    if not wanted:
        return []
    exact = sorted(code for code, aliases in names.items()
                   if any(normalise(a) == wanted for a in aliases))
    if exact:
        return exact
    if len(wanted) < FUZZY_MIN_LENGTH:
        return []
    budget = 2 if len(wanted) >= 9 else 1
    return sorted(
        code for code, aliases in names.items()
        if any(OSA.distance(wanted, normalise(a), score_cutoff=budget) <= budget for a in aliases)
    )

"""What the SMS replies cost: every `[sms]` reply of every language, filled with worst-case values
from `config/`, must be GSM-7 and (but for a few long ones) a single SMS; and the GSM-7 / UCS-2
rules of `flows.gsm` that decide it.

`pytest -s tests/test_sms_catalog.py` prints the table of every reply, its encoding and its cost.
"""

from __future__ import annotations

import csv
import string
from itertools import product
from typing import Any

import pytest

from flows.gsm import GSM7, UCS2, Encoding, encoding_of
from flows.sms import match_place
from gateway.broadcast import TYPES, results_message
from gateway.configdata import load_flow
from gateway.settings import DEFAULT_CONFIG_DIR
from gateway.sms_inbox import _Turn
from gateway.smsconfig import REPLIES, load_sms

SMS = load_sms(DEFAULT_CONFIG_DIR, load_flow(DEFAULT_CONFIG_DIR))
PERIOD = "2026Q3"
REF = 123456
# Replies allowed two parts: the guides (they carry the whole grammar) and those carrying a text.
# Only a staff answer may take two parts: every other reply is one SMS (one cost).
TWO_PARTS = {"feedback_reply"}
# A staff answer of a realistic length (gateway/feedback.py refuses one past three parts).
STAFF_ANSWER = (
    "Bonjour, merci pour votre message. Nous avons transmis votre plainte au commandant de la "
    "police de votre commune, qui nous a promis une enquete. Nous vous tiendrons informe. "
    "Gardez ce numero de reference pour la suite."
)
SAMPLE_ITEMS: dict[str, dict[str, Any]] = {
    "police": {"score": 100.0, "improvement": {"verdict": "improved"}},
    "justice": {"score": None},
    "administration": {"score": 55.5, "improvement": {"verdict": "not_improved"}},
}


def _rows(name: str) -> list[dict[str, str]]:
    with (DEFAULT_CONFIG_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


LOCATIONS = _rows("locations.csv")
UNITS = _rows("units.csv")
LONGEST_PLACE = max((row["ussd_name"] for row in LOCATIONS), key=len)
LONGEST_UNIT = max((row["ussd_name"] for row in UNITS), key=len)


def _longest(names: list[str], count: int) -> list[str]:
    return sorted(names, key=len, reverse=True)[:max(count, 1)]


def _place_options() -> str:
    """The longest place choice: as many places as the most a name of config matches, each with
    one of the longest names a locality has."""
    localities = [row for row in LOCATIONS if row["level"] == "collectivity"]
    names = {row["code"]: (row["ussd_name"], row["name"],
                           *(a for a in row["aliases"].split("|") if a)) for row in localities}
    most = max(len(match_place(name, names)) for aliases in names.values() for name in aliases)
    return _Turn._numbered(_longest([row["ussd_name"] for row in localities], max(most, 2)))


def _unit_options() -> str:
    """The longest unit choice: as many units as the most one place has of one type, each with
    one of the longest unit names."""
    per_place: dict[tuple[str, str], int] = {}
    for row in UNITS:
        key = (row["location"], row["type"])
        per_place[key] = per_place.get(key, 0) + 1
    return _Turn._numbered(_longest([row["ussd_name"] for row in UNITS],
                                    max(*per_place.values(), 2)))


def _longest_results(language: str) -> str:
    """The longest message `results_message` builds for the longest place, over every mix of
    scores, suppressed cells and verdicts."""
    states: list[dict[str, Any] | None] = [
        None, {"score": None}, {"score": 100.0},
        {"score": 100.0, "improvement": {"verdict": "improved"}},
        {"score": 100.0, "improvement": {"verdict": "not_improved"}},
    ]
    bodies = []
    for mix in product(states, repeat=len(TYPES)):
        items = {t: state for t, state in zip(TYPES, mix, strict=True) if state is not None}
        bodies.append(results_message(SMS, language, PERIOD, LONGEST_PLACE, items))
    return max(bodies, key=lambda body: encoding_of(body).units)


def _worst_values(language: str) -> dict[str, object]:
    table = SMS.replies[language]
    institutions = [table[f"inst_{t}"] for t in TYPES]
    locality_names = sorted((row["name"] for row in LOCATIONS), key=len, reverse=True)
    return {
        "unit": LONGEST_UNIT,
        "place": LONGEST_PLACE,
        # what the citizen wrote, as the gateway echoes it: upper case, 40 characters at most
        "words": " ".join(locality_names[:3]).upper()[:40],
        "options": None,  # per reply, below
        "ref": REF,
        "text": STAFF_ANSWER,
        "period": PERIOD,
        "inst": max(institutions, key=len),
        "score": 100,
    }


def _filled(language: str, reply_id: str) -> str:
    if reply_id == "results":
        return _longest_results(language)
    template = SMS.replies[language][reply_id]
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    values = _worst_values(language)
    values["options"] = _place_options() if reply_id == "ask_place_choice" else _unit_options()
    unknown = fields - set(values)
    assert not unknown, f"{language}.{reply_id}: no worst-case value for {sorted(unknown)}"
    return SMS.text(language, reply_id, **{k: values[k] for k in fields}) if fields else template


def _catalog() -> list[tuple[str, str, str, Encoding]]:
    return [(language, reply_id, body, encoding_of(body))
            for language in sorted(SMS.replies)
            for reply_id in SMS.replies[language]
            for body in [_filled(language, reply_id)]]


def test_every_language_has_every_reply_and_no_other() -> None:
    assert set(SMS.replies) == {"fr", "sw", "ln"}
    for language, table in SMS.replies.items():
        assert set(table) == set(REPLIES), language


def test_every_reply_is_gsm7_and_short_enough() -> None:
    catalog = _catalog()
    assert len(catalog) == len(SMS.replies) * len(REPLIES)
    print()
    print(f"{'lang':<5}{'id':<22}{'encoding':<9}{'units':>6}{'segments':>9}")
    for language, reply_id, _, encoding in catalog:
        print(f"{language:<5}{reply_id:<22}{encoding.name:<9}{encoding.units:>6}"
              f"{encoding.segments:>9}")
    problems = []
    for language, reply_id, body, encoding in catalog:
        where = f"{language}.{reply_id} ({encoding.units} {encoding.name} units): {body!r}"
        if encoding.name != GSM7:
            problems.append(f"{where} is {encoding.name} because of {encoding.offending!r}")
        if encoding.segments > 2:
            problems.append(f"{where} takes {encoding.segments} SMS")
        elif reply_id not in TWO_PARTS and encoding.segments > 1:
            problems.append(f"{where} takes {encoding.segments} SMS, not one")
    assert not problems, "\n".join(problems)


def test_the_worst_cases_are_filled_in() -> None:
    """The table above is only as good as its values: they must reach the messages."""
    for language in SMS.replies:
        assert LONGEST_UNIT in _filled(language, "rated")
        assert LONGEST_PLACE in _filled(language, "no_unit")
        assert LONGEST_PLACE in _filled(language, "results")
        assert str(REF) in _filled(language, "feedback_thanks")
        assert STAFF_ANSWER in _filled(language, "feedback_reply")
        assert _unit_options() in _filled(language, "ask_unit_choice")
        assert _place_options() in _filled(language, "ask_place_choice")
    assert _unit_options().startswith("1. ")
    assert ", 2. " in _unit_options()
    assert ", 2. " in _place_options()
    assert len(LONGEST_PLACE) >= max(len(row["ussd_name"]) for row in LOCATIONS)


@pytest.mark.parametrize("language", sorted(SMS.replies))
def test_the_quarter_result_is_one_gsm7_sms(language: str) -> None:
    body = results_message(SMS, language, PERIOD, LONGEST_PLACE, SAMPLE_ITEMS)
    encoding = encoding_of(body)
    print(f"\n{language}: {body} [{encoding.name}, {encoding.units} units]")
    assert encoding.name == GSM7, encoding.offending
    assert encoding.single, body
    assert PERIOD in body
    assert LONGEST_PLACE in body
    table = SMS.replies[language]
    for institution in TYPES:
        assert table[f"inst_{institution}"] in body
    assert "100/100" in body
    assert "56/100" in body  # 55.5 rounded
    assert SMS.text(language, "result_few", inst=table["inst_justice"]) in body


@pytest.mark.parametrize("language", sorted(SMS.replies))
def test_the_longest_quarter_result_is_one_gsm7_sms(language: str) -> None:
    encoding = encoding_of(_longest_results(language))
    assert encoding.name == GSM7, encoding.offending
    assert encoding.single


@pytest.mark.parametrize("language", sorted(SMS.replies))
def test_the_improvement_words_go_when_they_would_cost_a_second_sms(language: str) -> None:
    place = "Secteur de Ruwenzori, Banyali-Tchabi et Walendu Djatsi"  # longer than any in config
    items = {t: {"score": 100.0, "improvement": {"verdict": "improved"}} for t in TYPES}
    better = SMS.replies[language]["better"]
    with_words = results_message(SMS, language, PERIOD, LONGEST_PLACE, items)
    assert better in with_words  # it fits for a place of config...
    body = results_message(SMS, language, PERIOD, place, items)
    assert better not in body  # ...not for a longer one: the words go, the scores stay
    assert body.count("100/100") == len(TYPES)
    assert encoding_of(body) == Encoding(GSM7, len(body), 1)


# --- flows.gsm.encoding_of -------------------------------------------------------------------


@pytest.mark.parametrize(("length", "segments"), [
    (0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4),
])
def test_gsm7_length(length: int, segments: int) -> None:
    encoding = encoding_of("a" * length)
    assert encoding == Encoding(GSM7, length, segments)
    assert encoding.single is (segments == 1)


@pytest.mark.parametrize("char", ["{", "}", "[", "]", "~", "\\", "|", "^", "€"])
def test_extension_characters_take_two_septets(char: str) -> None:
    assert encoding_of(char) == Encoding(GSM7, 2, 1)
    assert encoding_of("a" * 158 + char) == Encoding(GSM7, 160, 1)
    assert encoding_of("a" * 159 + char) == Encoding(GSM7, 161, 2)


@pytest.mark.parametrize("char", ["é", "è", "à", "ù", "É", "Ç", "ñ", "ü", "@", "£", "$", "_"])
def test_characters_of_the_gsm7_alphabet(char: str) -> None:
    assert encoding_of(char) == Encoding(GSM7, 1, 1)
    assert encoding_of(char * 160).single


@pytest.mark.parametrize("char", ["ç", "ê", "â", "î", "ô", "û", "ë", "ï", "œ", "«", "»",
                                  "\u2019", "\u201c", "ɛ", "ɔ", "Ɛ", "Ɔ"])
def test_one_character_outside_gsm7_makes_it_ucs2(char: str) -> None:
    assert encoding_of(char) == Encoding(UCS2, 1, 1, char)
    assert encoding_of("a" * 69 + char) == Encoding(UCS2, 70, 1, char)
    assert encoding_of("a" * 70 + char) == Encoding(UCS2, 71, 2, char)
    assert encoding_of(char + "a" * 133) == Encoding(UCS2, 134, 2, char)
    assert encoding_of(char + "a" * 134) == Encoding(UCS2, 135, 3, char)


@pytest.mark.parametrize(("length", "segments"), [
    (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4),
])
def test_ucs2_length(length: int, segments: int) -> None:
    assert encoding_of("ç" * length) == Encoding(UCS2, length, segments, "ç")


def test_offending_lists_each_culprit_once_in_order() -> None:
    encoding = encoding_of("Ça va? «Très» bien, ça n\u2019est pas grave, bɛ́")
    assert encoding.name == UCS2
    assert encoding.offending == "".join(sorted({"«", "»", "ç", "\u2019", "ɛ", "\u0301"}))
    assert "é" not in encoding.offending  # é is GSM-7
    assert "Ç" not in encoding.offending  # so is Ç


def test_characters_outside_the_bmp_count_two_units() -> None:
    assert encoding_of("😀") == Encoding(UCS2, 2, 1, "😀")
    assert encoding_of("😀" * 35) == Encoding(UCS2, 70, 1, "😀")
    assert encoding_of("😀" * 36) == Encoding(UCS2, 72, 2, "😀")


def test_every_reply_template_is_gsm7_before_filling() -> None:
    for language, table in SMS.replies.items():
        for reply_id, template in table.items():
            encoding = encoding_of(template)
            assert encoding.name == GSM7, f"{language}.{reply_id}: {encoding.offending!r}"

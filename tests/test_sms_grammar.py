"""The SMS keyword grammar (`flows/sms.py`) with the real keywords of `config/sms.toml`.

Tables of texts a citizen may send in French, Kiswahili or Lingala and the command each means;
`Grammar.build` refusing a word with two meanings; `match_place`; and properties: `parse` never
raises, `normalise` always yields upper-case ASCII words.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from itertools import product

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from flows.sms import (
    BadFeedback,
    BadRating,
    Command,
    Feedback,
    Grammar,
    Help,
    Rate,
    Results,
    ScaleBounds,
    Start,
    Stop,
    Unrecognised,
    match_place,
    normalise,
    parse,
)
from gateway.configdata import load_flow
from gateway.settings import DEFAULT_CONFIG_DIR
from gateway.smsconfig import load_sms

UNITS = ("NK-V-GOM-GOM-PNC", "IT-T-ARU-ALU-PNC")
SMS = load_sms(DEFAULT_CONFIG_DIR, load_flow(DEFAULT_CONFIG_DIR))
GRAMMAR = SMS.grammar.with_units(list(UNITS))
NORMALISED = re.compile(r"(?:[A-Z0-9]+(?: [A-Z0-9]+)*)?")


def _check(text: str, expected: Command) -> None:
    assert parse(text, GRAMMAR) == expected


def test_the_units_used_here_are_real_units() -> None:
    codes = (DEFAULT_CONFIG_DIR / "units.csv").read_text(encoding="utf-8")
    for unit in UNITS:
        assert f"\n{unit}," in codes


# --- Ratings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # French
    ("POLICE 3 2", Rate("fr", ("3", "2"), "police")),
    ("police 4 1", Rate("fr", ("4", "1"), "police")),
    ("PNC 1 3", Rate("fr", ("1", "3"), "police")),
    ("TRIBUNAL 2 2", Rate("fr", ("2", "2"), "justice")),
    ("Mairie 1 1", Rate("fr", ("1", "1"), "administration")),
    ("Police Karisimbi 3 2", Rate("fr", ("3", "2"), "police", place="KARISIMBI")),
    ("police ndo-okebo 4 3", Rate("fr", ("4", "3"), "police", place="NDO OKEBO")),
    ("POLICE 3 2 Karisimbi", Rate("fr", ("3", "2"), "police", place="KARISIMBI")),
    # Kiswahili: POLISI is also Lingala, so it says nothing of the language
    ("polisi 4 3", Rate(None, ("4", "3"), "police")),
    ("POLISI 3 2", Rate(None, ("3", "2"), "police")),
    ("MAHAKAMA 4 1", Rate("sw", ("4", "1"), "justice")),
    ("utawala 2 3", Rate("sw", ("2", "3"), "administration")),
    # Lingala
    ("BOSEMBO 1 2", Rate("ln", ("1", "2"), "justice")),
    ("leta 2 2", Rate("ln", ("2", "2"), "administration")),
    ("Boyangeli Goma 4 3", Rate("ln", ("4", "3"), "administration", place="GOMA")),
    # one value: the first indicator only
    ("POLICE 3", Rate("fr", ("3",), "police")),
    # values glued to the keyword or to each other
    ("police3 2", Rate("fr", ("3", "2"), "police")),
    ("POLICE 32", Rate("fr", ("3", "2"), "police")),
    ("POLICE32", Rate("fr", ("3", "2"), "police")),
    # spaces and punctuation
    ("  police   3   2  ", Rate("fr", ("3", "2"), "police")),
    ("POLICE\u00a03\u00a02", Rate("fr", ("3", "2"), "police")),
    ("police: 3/2", Rate("fr", ("3", "2"), "police")),
    ("POLICE 3,2.", Rate("fr", ("3", "2"), "police")),
    ("POLICE \uff13 \uff12", Rate("fr", ("3", "2"), "police")),  # full-width digits
    # accents
    ("Pôlice 3", Rate("fr", ("3",), "police")),
    ("JUSTÎCE 2 1", Rate("fr", ("2", "1"), "justice")),
    # one typo in a keyword of five letters or more
    ("PLOICE 3", Rate("fr", ("3",), "police")),
    ("POLCE 3", Rate("fr", ("3",), "police")),
    ("POLICEE 3", Rate("fr", ("3",), "police")),
    ("POLIXE 3", Rate("fr", ("3",), "police")),
    ("MAHAKMA 4 1", Rate("sw", ("4", "1"), "justice")),
    ("BOSEBMO 1 2", Rate("ln", ("1", "2"), "justice")),
    # don't know (9) on either indicator
    ("POLICE 9", Rate("fr", ("9",), "police")),
    ("POLICE 9 2", Rate("fr", ("9", "2"), "police")),
    ("POLICE 3 9", Rate("fr", ("3", "9"), "police")),
    ("POLICE 99", Rate("fr", ("9", "9"), "police")),
    # a unit code instead of a keyword, however it is written
    ("nk-v-gom-gom-pnc 3 2", Rate(None, ("3", "2"), unit_code="NK-V-GOM-GOM-PNC")),
    ("NK-V-GOM-GOM-PNC 3", Rate(None, ("3",), unit_code="NK-V-GOM-GOM-PNC")),
    ("NKVGOMGOMPNC 32", Rate(None, ("3", "2"), unit_code="NK-V-GOM-GOM-PNC")),
    ("  it-t-aru-alu-pnc 4 1", Rate(None, ("4", "1"), unit_code="IT-T-ARU-ALU-PNC")),
])
def test_ratings(text: str, expected: Command) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("trust", "change"), list(product("12349", "1239")))
def test_every_answer_on_the_scales_is_a_rating(trust: str, change: str) -> None:
    _check(f"POLICE {trust} {change}", Rate("fr", (trust, change), "police"))
    _check(f"POLICE {trust}{change}", Rate("fr", (trust, change), "police"))


@pytest.mark.parametrize(("text", "expected"), [
    # trust is 1..4 (or 9)
    ("POLICE 5", BadRating("fr", "bad_value", "police")),
    ("POLICE 0", BadRating("fr", "bad_value", "police")),
    ("POLICE 5 2", BadRating("fr", "bad_value", "police")),
    ("POLICE 40", BadRating("fr", "bad_value", "police")),
    ("POLICE 10 2", BadRating("fr", "bad_value", "police")),
    # change is 1..3 (or 9)
    ("POLICE 3 4", BadRating("fr", "bad_value", "police")),
    ("POLICE 34", BadRating("fr", "bad_value", "police")),
    ("POLICE 3 0", BadRating("fr", "bad_value", "police")),
    ("MAHAKAMA 1 7", BadRating("sw", "bad_value", "justice")),
    # no value at all
    ("POLICE", BadRating("fr", "no_value", "police")),
    ("POLICE Karisimbi", BadRating("fr", "no_value", "police")),
    ("leta", BadRating("ln", "no_value", "administration")),
    ("polisi", BadRating(None, "no_value", "police")),
    # more values than indicators
    ("POLICE 3 2 1", BadRating("fr", "too_many", "police")),
    ("POLICE 321", BadRating("fr", "too_many", "police")),
    ("nk-v-gom-gom-pnc", BadRating(None, "no_value")),
    ("nk-v-gom-gom-pnc 3 2 1", BadRating(None, "too_many")),
    ("NK-V-GOM-GOM-PNC 5", BadRating(None, "bad_value")),
])
def test_bad_ratings(text: str, expected: Command) -> None:
    _check(text, expected)


# --- Feedback and complaints ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("AVIS la police de mon quartier demande de l'argent",
     Feedback("fr", "feedback", "la police de mon quartier demande de l'argent")),
    # the text is kept as written: case, accents, inner spaces, punctuation
    ("avis  Le Chef  a été très bien, merci (vraiment)",
     Feedback("fr", "feedback", "Le Chef  a été très bien, merci (vraiment)")),
    ("AVIS: merci", Feedback("fr", "feedback", "merci")),
    ("  Avis, la police  ", Feedback("fr", "feedback", "la police")),
    ("AVIS\n\nla police", Feedback("fr", "feedback", "la police")),
    ("AVIS 😀 merci", Feedback("fr", "feedback", "😀 merci")),
    ("AVIS 12", Feedback("fr", "feedback", "12")),
    ("COMMENTAIRE rien à signaler", Feedback("fr", "feedback", "rien à signaler")),
    # an institution keyword first says what it is about
    ("AVIS police de Majengo toujours absente",
     Feedback("fr", "feedback", "police de Majengo toujours absente", "police")),
    ("Avis Police mbaya", Feedback("fr", "feedback", "Police mbaya", "police")),
    ("AVIS tribunal", Feedback("fr", "feedback", "tribunal", "justice")),
    ("AVIS mairie: trop lent", Feedback("fr", "feedback", "mairie: trop lent", "administration")),
    ("AVIS stop les tracasseries", Feedback("fr", "feedback", "stop les tracasseries")),
    # Kiswahili
    ("MAONI polisi wa mtaa wetu wanaomba pesa",
     Feedback("sw", "feedback", "polisi wa mtaa wetu wanaomba pesa", "police")),
    ("maoni huduma nzuri", Feedback("sw", "feedback", "huduma nzuri")),
    ("MALALAMIKO mahakama inachelewa",
     Feedback("sw", "complaint", "mahakama inachelewa", "justice")),
    # Lingala, open vowels and all
    ("LIKANISI bɔsɛmbɔ ezali malamu",
     Feedback("ln", "feedback", "bɔsɛmbɔ ezali malamu", "justice")),
    ("KOMILELA leta ezali kosala te", Feedback("ln", "complaint", "leta ezali kosala te",
                                               "administration")),
    # complaints
    ("PLAINTE le juge demande de l'argent",
     Feedback("fr", "complaint", "le juge demande de l'argent")),
    ("plainte: PNC a pris mon téléphone",
     Feedback("fr", "complaint", "PNC a pris mon téléphone", "police")),
    ("PLAINT le juge", Feedback("fr", "complaint", "le juge")),  # one typo
    # the keyword alone
    ("AVIS", BadFeedback("fr", "feedback")),
    ("avis   ", BadFeedback("fr", "feedback")),
    ("AVIS: ...", BadFeedback("fr", "feedback")),
    ("MAONI", BadFeedback("sw", "feedback")),
    ("PLAINTE", BadFeedback("fr", "complaint")),
    ("KOMILELA", BadFeedback("ln", "complaint")),
])
def test_feedback(text: str, expected: Command) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("AVIS qui est le chef de poste?", Feedback("fr", "feedback", "qui est le chef de poste?")),
    ("PLAINTE la police a pris mon argent!",
     Feedback("fr", "complaint", "la police a pris mon argent!", None)),
    ("MAONI asante sana.", Feedback("sw", "feedback", "asante sana.")),
])
def test_feedback_keeps_its_closing_punctuation(text: str, expected: Command) -> None:
    _check(text, expected)


# --- Simple commands -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # help
    ("HELP", Help(None)),
    ("help", Help(None)),
    ("AIDE", Help("fr")),
    ("Info", Help("fr")),
    ("MSAADA", Help("sw")),
    ("LISALISI", Help("ln")),
    ("salisa", Help("ln")),
    ("LISALSI", Help("ln")),  # one typo
    # stop
    ("STOP", Stop(None)),
    ("stop.", Stop(None)),
    ("STOPP", Stop(None)),
    ("Unsubscribe", Stop(None)),
    ("ARRET", Stop("fr")),
    ("ARRÊT", Stop("fr")),
    ("arrêt", Stop("fr")),
    ("Arrêter", Stop("fr")),
    ("DESABONNER", Stop("fr")),
    ("désabonner", Stop("fr")),
    ("ACHA", Stop("sw")),
    ("simama", Stop("sw")),
    ("TIKA", Stop("ln")),
    ("kotika", Stop("ln")),
    ("STOP POLICE 3 2", Unrecognised("STOP POLICE 3 2")),  # an opt-out is the whole message
    ("Arrêté par la police hier soir", Unrecognised("ARRETE PAR LA POLICE HIER SOIR")),
    ("ARRETEZ les tracasseries", Unrecognised("ARRETEZ LES TRACASSERIES")),
    ("Acha nikueleze polisi walinipiga", Unrecognised("ACHA NIKUELEZE POLISI WALINIPIGA")),
    ("Tika ngai nalobela", Unrecognised("TIKA NGAI NALOBELA")),
    ("ARRETT", Unrecognised("ARRETT")),  # no typo allowed for an opt-out
    ("stop!", Stop(None)),
    (" Arrêt. ", Stop("fr")),
    # start
    ("START", Start(None)),
    ("REPRENDRE", Start("fr")),
    ("démarrer", Start("fr")),
    ("ANZA", Start("sw")),
    ("BANDA", Start("ln")),
    # results
    ("RESULTATS", Results("fr")),
    ("Résultats", Results("fr")),
    ("RESULTAT", Results("fr")),
    ("RESULTTS", Results("fr")),  # one typo
    ("MATOKEO", Results("sw")),
    ("MBANO", Results("ln")),
    ("mbanɔ", Results("ln")),
    ("MBANƆ", Results("ln")),
])
def test_simple_commands(text: str, expected: Command) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("bɔsɛmbɔ 3 2", Rate("ln", ("3", "2"), "justice")),
    ("BƆSƐMBƆ 3 2", Rate("ln", ("3", "2"), "justice")),
    ("Boyangɛli 1 1", Rate("ln", ("1", "1"), "administration")),
    ("mamɛlɔ", BadFeedback("ln", "complaint")),
    ("tika", Stop("ln")),
])
def test_lingala_open_vowels_read_as_plain_ones(text: str, expected: Command) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("", Unrecognised("")),
    ("   ", Unrecognised("")),
    ("\n\t", Unrecognised("")),
    ("😀😀", Unrecognised("")),
    ("??!!", Unrecognised("")),
    ("ɛɔ", Unrecognised("EO")),
    # short keywords are not matched fuzzily
    ("AVSI text", Unrecognised("AVSI TEXT")),
    ("STPO", Unrecognised("STPO")),
    ("AIED", Unrecognised("AIED")),
    ("TKIA", Unrecognised("TKIA")),
    # two edits away, even on a long keyword
    ("PLOCIE 3 2", Unrecognised("PLOCIE 3 2")),
    # one edit from two meanings (LIKANISI feedback, LISALISI help): neither
    ("LISANISI maloba", Unrecognised("LISANISI MALOBA")),
    ("LIKALISI", Unrecognised("LIKALISI")),
    # the words of what the gateway may have asked for (a locality, a unit number)
    ("Karisimbi", Unrecognised("KARISIMBI")),
    ("  ndo-okebo ", Unrecognised("NDO OKEBO")),
    ("2", Unrecognised("2")),
    ("3 2", Unrecognised("3 2")),
    ("Bonjour, je veux noter la police", Unrecognised("BONJOUR JE VEUX NOTER LA POLICE")),
    # a unit code the grammar was not given (only the directory's units are)
    ("NK-V-GOM-KAR-PNC 3 2", Unrecognised("NK V GOM KAR PNC 3 2")),
])
def test_unrecognised(text: str, expected: Command) -> None:
    _check(text, expected)


def test_unit_codes_are_only_known_once_the_directory_gives_them() -> None:
    assert parse("nk-v-gom-gom-pnc 3 2", SMS.grammar) == Unrecognised("NK V GOM GOM PNC 3 2")


def test_a_typo_near_the_same_meaning_in_two_languages_gives_no_language() -> None:
    # POLISE is one edit from POLICE (fr) and from POLISI (sw and ln)
    assert GRAMMAR.meaning_of("POLISE") == ("police", None)
    _check("polise 3 2", Rate(None, ("3", "2"), "police"))


def _sms_toml() -> list[tuple[str | None, str, str]]:
    with (DEFAULT_CONFIG_DIR / "sms.toml").open("rb") as fh:
        data = tomllib.load(fh)
    rows: list[tuple[str | None, str, str]] = [
        (None, meaning, alias)
        for meaning, aliases in data["shared"].items() for alias in aliases]
    rows += [(language, meaning, alias)
             for language, table in data["keywords"].items()
             for meaning, aliases in table.items() for alias in aliases]
    return rows


@pytest.mark.parametrize(("language", "meaning", "alias"), _sms_toml())
def test_every_configured_keyword_means_what_sms_toml_says(
        language: str | None, meaning: str, alias: str) -> None:
    found = GRAMMAR.meaning_of(normalise(alias))
    assert found is not None
    assert found[0] == meaning
    assert found[1] in (language, None)
    if found[1] is None and language is not None:
        # only a word used by several languages loses its language
        others = [lang for lang, m, a in _sms_toml()
                  if normalise(a) == normalise(alias) and lang != language]
        assert others


# --- Normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("police3 2", "POLICE 3 2"),
    ("3police", "3 POLICE"),
    ("  a  b\t\nc ", "A B C"),
    ("ARRÊT", "ARRET"),
    ("Œuvre", "OEUVRE"),
    ("bɔsɛmbɔ", "BOSEMBO"),
    ("nk-v-gom-gom-pnc", "NK V GOM GOM PNC"),
    ("😀", ""),
])
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("POLICE\u2013KARISIMBI 3 2", Rate("fr", ("3", "2"), "police", place="KARISIMBI")),
    ("POLICE«KARISIMBI» 3 2", Rate("fr", ("3", "2"), "police", place="KARISIMBI")),
    ("AVIS\u2019merci", Feedback("fr", "feedback", "\u2019merci")),  # curly quote
])
def test_punctuation_outside_ascii_separates_words(text: str, expected: Command) -> None:
    assert parse(text, GRAMMAR) == expected


def test_feedback_keyword_with_a_decomposed_accent() -> None:
    text = unicodedata.normalize("NFD", "Plaînte le juge a demandé de l'argent")
    # The text is kept composed (NFC), as every other feedback is stored.
    expected_body = unicodedata.normalize("NFC", "le juge a demandé de l'argent")
    assert parse(text, GRAMMAR) == Feedback("fr", "complaint", expected_body)


# --- Properties ----------------------------------------------------------------------------------


@given(st.text())
@example("")
@example("POLICE 3 2")
@example("nk-v-gom-gom-pnc 32")
@example("AVIS \u0301")
@example("\u0301AVIS")
def test_parse_never_raises(text: str) -> None:
    command = parse(text, GRAMMAR)
    assert isinstance(command, Help | Stop | Start | Results | Feedback | BadFeedback | Rate
                      | BadRating | Unrecognised)
    if isinstance(command, Unrecognised):
        assert command.words == normalise(text)


@given(st.text(alphabet=st.characters(codec="utf-8")) | st.text(alphabet="aeioɛɔ3 -'ÊéÇç"))
@example("ǅ ﬀ ß \u0131 \u017f ª")  # dotless i, long s
def test_normalise_yields_upper_case_ascii_words(text: str) -> None:
    out = normalise(text)
    assert NORMALISED.fullmatch(out), out
    for word in out.split():
        assert word.isdigit() or word.isalpha()  # letters and digits never glued
    assert normalise(out) == out


@given(st.sampled_from(["POLICE", "polisi", "MAHAKAMA", "bɔsɛmbɔ", "Mairie"]),
       st.lists(st.sampled_from(["Karisimbi", "Goma", "ndo-okebo"]), max_size=2),
       st.sampled_from("12349"), st.sampled_from("1239"))
def test_a_rating_keeps_its_place_words_and_values(
        keyword: str, place: list[str], trust: str, change: str) -> None:
    command = parse(" ".join([keyword, *place, trust, change]), GRAMMAR)
    assert isinstance(command, Rate)
    assert command.values == (trust, change)
    assert command.place == normalise(" ".join(place))


# --- Grammar.build ---------------------------------------------------------------------------


SCALES = {"trust": ScaleBounds(4, "9"), "change": ScaleBounds(3, "9")}


def _build(keywords: dict[str, dict[str, list[str]]],
           shared: dict[str, list[str]] | None = None) -> Grammar:
    return Grammar.build(keywords, shared or {}, rating_indicators=["trust", "change"],
                         scales=SCALES, institution_types=["police"])


def test_build_refuses_a_word_with_two_meanings() -> None:
    with pytest.raises(ValueError, match=r"'FIN' means both stop and help"):
        _build({"fr": {"stop": ["FIN"], "help": ["fin"]}})


def test_build_refuses_a_clash_between_languages_and_with_shared_words() -> None:
    with pytest.raises(ValueError, match=r"'AVIS' means both feedback and stop"):
        _build({"fr": {"feedback": ["AVIS"]}, "sw": {"stop": ["Avis"]}})
    with pytest.raises(ValueError, match=r"'HELP' means both help and police"):
        _build({"fr": {"police": ["help"]}}, {"help": ["HELP"]})


def test_build_sees_a_clash_through_accents_and_case() -> None:
    with pytest.raises(ValueError, match=r"'ARRET' means both stop and start"):
        _build({"fr": {"stop": ["ARRÊT"], "start": ["arret"]}})


def test_build_names_every_clash() -> None:
    with pytest.raises(ValueError) as raised:
        _build({"fr": {"stop": ["FIN", "BAS"], "help": ["FIN"], "start": ["bas"]},
                "sw": {"police": ["two words"]}})
    message = str(raised.value)
    assert "'FIN' means both stop and help" in message
    assert "'BAS' means both stop and start" in message
    assert "sw.police: 'two words' is not a word" in message


def test_the_real_grammar_builds_and_a_word_of_two_languages_has_none() -> None:
    assert GRAMMAR.words["POLISI"] == ("police", None)
    assert GRAMMAR.words["POLICE"] == ("police", "fr")
    grammar = _build({"fr": {"police": ["POLICE"]}, "sw": {"police": ["police", "POLISI"]}})
    assert grammar.words == {"POLICE": ("police", None), "POLISI": ("police", "sw")}
    assert grammar.languages == ("fr", "sw")


# --- match_place ---------------------------------------------------------------------------


PLACES = {
    "NK-V-GOM-KAR": ("Karisimbi", "Commune de Karisimbi"),
    "NK-V-GOM-GOM": ("Goma", "Commune de Goma"),
    "NK-T-BEN-RUW": ("Ruwenzori (secteur)", "Secteur de Ruwenzori", "Rwenzori"),
    "Z-KASONGO": ("Kasongo",),
    "A-KASANGA": ("Kasanga",),
}


@pytest.mark.parametrize(("words", "expected"), [
    # exact, whatever the case, accents and punctuation
    ("Karisimbi", ["NK-V-GOM-KAR"]),
    ("KARISIMBI", ["NK-V-GOM-KAR"]),
    ("  karísimbi ", ["NK-V-GOM-KAR"]),
    ("goma", ["NK-V-GOM-GOM"]),
    ("commune de goma", ["NK-V-GOM-GOM"]),
    ("Ruwenzori secteur", ["NK-T-BEN-RUW"]),
    # an alias
    ("RWENZORI", ["NK-T-BEN-RUW"]),
    # one typo
    ("Karisimbl", ["NK-V-GOM-KAR"]),
    ("Karsimbi", ["NK-V-GOM-KAR"]),
    ("KASONGI", ["Z-KASONGO"]),
    # two typos in a name of nine letters or more, not fewer
    ("Karisinbl", ["NK-V-GOM-KAR"]),
    ("Krisimbl", []),
    ("KASANGII", []),
    # short words are never guessed
    ("Gomo", []),
    ("Gma", []),
    ("XYZ", []),
    ("", []),
    ("!!", []),
    # several as close: all of them, sorted by code
    ("Kasonga", ["A-KASANGA", "Z-KASONGO"]),
    # an exact match beats the near ones
    ("Kasongo", ["Z-KASONGO"]),
])
def test_match_place(words: str, expected: list[str]) -> None:
    assert match_place(words, PLACES) == expected


def test_match_place_returns_every_exact_match_sorted() -> None:
    names = {"IT-T-DJU-NDO": ("Ndo-Okebo",), "IT-T-ARU-NDO": ("Ndo-Okebo",),
             "NK-V-GOM-GOM": ("Goma",)}
    assert match_place("ndo okebo", names) == ["IT-T-ARU-NDO", "IT-T-DJU-NDO"]

"""The pure replay engine (`flows/`), driven by the real `config/`: input path in, screen out.

Tables of *AT `text` -> expected screen body* in French, Kiswahili and Lingala, the effects a path
asks the gateway to carry out, returning callers, Continue / Restart, every reachable screen, hop
counts, and properties (hypothesis) that no path, however garbled, breaks a USSD phone's limits.

The context is always `Context(catalog, directory, "fr", 160, profile, resume)`: French until the
caller's language is known, 160 characters per screen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import flows
import flows.check
from flows import Catalog, Directory, Flow, Item, RecordAnswer, Result, Screen
from flows.effects import UpdateProfile, WithdrawAnswer
from flows.engine import Context, Profile, Resume
from flows.screens import to_ascii
from gateway.configdata import directory_from_files, load_catalog, load_flow

CONFIG = Path(__file__).resolve().parent.parent / "config"
FLOW = load_flow(CONFIG)
CATALOG = load_catalog(CONFIG)
DIRECTORY = directory_from_files(CONFIG)
LANGUAGES = ("fr", "sw", "ln")
LIMIT = 160
CONSENT = FLOW.consent_version
OLD_CONSENT = "2025-01"
FIRST_TIME = Profile()
KARISIMBI = "NK-V-GOM-KAR"
TYPES = ("police", "justice", "administration")
FIRST_TIME_HOPS = 16  # issue 3: a first-time caller completes one institution within this
RETURNING_HOPS = 9  # ... and a returning caller rating the same place within this


def returning(language: str, locality: str = KARISIMBI) -> Profile:
    """A caller who consented to the current notice and rated `locality` last time."""
    return Profile(language=language, consent_version=CONSENT, locality=locality)


def outdated(language: str, locality: str = KARISIMBI) -> Profile:
    """A caller who consented to an earlier notice: asked again, in their language."""
    return Profile(language=language, consent_version=OLD_CONSENT, locality=locality)


def split(text: str) -> list[str]:
    """Africa's Talking `text` as the webhook splits it: "" is the first hop, no input yet."""
    return text.split("*") if text else []


def run(
    path: str | Sequence[str],
    profile: Profile = FIRST_TIME,
    resume: Resume | None = None,
    *,
    language: str = "fr",
    flow: Flow = FLOW,
    catalog: Catalog = CATALOG,
    directory: Directory = DIRECTORY,
) -> Result:
    """Replay a `text` ("1*2*98") or a list of inputs for a caller with `profile`."""
    inputs = split(path) if isinstance(path, str) else list(path)
    return flows.run(flow, inputs, Context(catalog, directory, language, LIMIT, profile, resume))


def lines(*rows: str) -> str:
    return "\n".join(rows)


def invalid(body: str, language: str = "fr") -> str:
    return CATALOG.text(language, "invalid_choice") + "\n" + body


def answers(result: Result) -> dict[str, int | None]:
    """step -> value of every RecordAnswer effect (at most one per step)."""
    steps = [a.step for a in result.answers]
    assert len(steps) == len(set(steps)), steps
    return {a.step: a.value for a in result.answers}


def updates(result: Result) -> list[UpdateProfile]:
    return [e for e in result.effects if isinstance(e, UpdateProfile)]


def hops(path: str | Sequence[str]) -> int:
    """Africa's Talking hops: the first (empty) request plus one per input."""
    return len(split(path) if isinstance(path, str) else path) + 1


# --- French, the first-time journey, exactly as a caller sees it ------------------------------
#
# The golden path: 1 Francais * 1 accept * 1 Nord-Kivu * 1 Goma (ville) * 2 Karisimbi
# * 1 Police * 2 Majengo (Karisimbi has two police units)
# * contact * bribe * trust * respect * change * another.

LANGUAGE_MENU = lines("Langue / Lugha / Lokota:", "1. Francais", "2. Kiswahili", "3. Lingala")
CONSENT_FR = lines(
    "Avis citoyen (police, justice, administration). Anonyme: votre numero n'est jamais montre."
    " Participer?",
    "1. Oui, j'accepte",
    "2. Non",
    "0. Retour",
)
REFUSED_FR = "D'accord. Rien n'a ete enregistre. Merci."
# Consent is a commitment point (rule 1): the screen after it has no way back.
PROVINCES_FR = lines("Choisissez votre province:", "1. Nord-Kivu", "2. Ituri")
# ... but "another place", chosen later, goes back to the type screen it was chosen on.
PROVINCES_FR_WITH_BACK = lines(PROVINCES_FR, "0. Retour")
NK_TERRITORIES_FR_1 = lines(
    "Territoire ou ville:",
    "1. Goma (ville)",
    "2. Butembo (ville)",
    "3. Beni (ville)",
    "4. Beni (territoire)",
    "5. Lubero",
    "6. Masisi",
    "98. Suite",
    "0. Retour",
)
NK_TERRITORIES_FR_2 = lines(
    "Territoire ou ville:", "7. Nyiragongo", "8. Rutshuru", "9. Walikale", "0. Retour"
)
ITURI_TERRITORIES_FR = lines(
    "Territoire ou ville:",
    "1. Bunia (ville)",
    "2. Aru",
    "3. Djugu",
    "4. Irumu",
    "5. Mahagi",
    "6. Mambasa (territoire)",
    "0. Retour",
)
GOMA_COMMUNES_FR = lines("Chefferie, secteur ou commune:", "1. Goma", "2. Karisimbi", "0. Retour")
RUTSHURU_FR = lines("Chefferie, secteur ou commune:", "1. Bwisha", "2. Bwito", "0. Retour")
IRUMU_FR_1 = lines(
    "Chefferie, secteur ou commune:",
    "1. Bahema d'Irumu",
    "2. Bahema Mitego",
    "3. Bahema Sud",
    "4. Walese Vonkutu",
    "5. Andisoma",
    "6. Babelebe",
    "98. Suite",
    "0. Retour",
)
IRUMU_FR_2 = lines(
    "Chefferie, secteur ou commune:",
    "7. Baboa-Bokoe",
    "8. Bahema-Boga",
    "9. Banyali-Tchabi",
    "10. Basili",
    "11. Mobala",
    "12. Walendu-Bindi",
    "0. Retour",
)
TYPES_FR = lines(
    "Quel service evaluer?",
    "1. Police (PNC)",
    "2. Justice (tribunaux)",
    "3. Administration locale",
    "0. Retour",
)
KARISIMBI_POLICE_FR = lines(
    "Quel service exactement?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo", "0. Retour"
)
GOMA_JUSTICE_FR = lines(
    "Quel service exactement?", "1. Parquet de Goma", "2. Tribunal de paix", "0. Retour"
)


def contact_fr(inst: str) -> str:
    return lines(f"Ces 3 derniers mois, avez-vous eu affaire a {inst}?", "1. Oui", "2. Non",
                 "0. Retour")


def bribe_fr(inst: str) -> str:
    return lines(
        f"Avez-vous du payer ou offrir un cadeau ou une faveur a {inst} pour etre aide?",
        "1. Oui",
        "2. Non",
        "9. Ne pas repondre",
        "0. Retour",
    )


def trust_fr(inst: str) -> str:
    return lines(
        f"Faites-vous confiance a {inst}?",
        "1. Pas du tout",
        "2. Un peu",
        "3. Assez",
        "4. Beaucoup",
        "9. Ne sais pas",
        "0. Retour",
    )


def respect_fr(inst: str) -> str:
    return lines(
        f"Selon vous, {inst} traite les gens avec respect et equite:",
        "1. Jamais",
        "2. Rarement",
        "3. Souvent",
        "4. Toujours",
        "9. Ne sais pas",
        "0. Retour",
    )


def change_fr(inst: str) -> str:
    return lines(
        f"Par rapport au trimestre passe, le service de {inst} est:",
        "1. Pire",
        "2. Pareil",
        "3. Mieux",
        "9. Ne sais pas",
        "0. Retour",
    )


def another_fr(place: str) -> str:
    return lines(f"Evaluer un autre service a {place}?", "1. Oui", "2. Non", "0. Retour")


def place_type_fr(place: str, back: bool = True) -> str:
    rows = [
        f"{place}: quel service?",
        "1. Police (PNC)",
        "2. Justice (tribunaux)",
        "3. Administration locale",
        "4. Autre lieu",
        "5. Langue/Lugha",
    ]
    return lines(*rows, *(["0. Retour"] if back else []))


THANKS_FR = "Merci! Votre avis est enregistre de facon anonyme. Il aide a ameliorer les services."

GOLDEN_FR: list[tuple[str, str]] = [
    ("", LANGUAGE_MENU),
    ("1", CONSENT_FR),
    ("1*1", PROVINCES_FR),
    ("1*1*1", NK_TERRITORIES_FR_1),
    ("1*1*1*98", NK_TERRITORIES_FR_2),
    ("1*1*2", ITURI_TERRITORIES_FR),
    ("1*1*1*1", GOMA_COMMUNES_FR),
    ("1*1*1*1*2", TYPES_FR),
    ("1*1*1*1*2*1", KARISIMBI_POLICE_FR),
    ("1*1*1*1*2*1*2", contact_fr("la police")),
    # contact = yes (1): the bribe question, then trust.
    ("1*1*1*1*2*1*2*1", bribe_fr("la police")),
    ("1*1*1*1*2*1*2*1*2", trust_fr("la police")),
    # contact = no (2): straight to trust, no bribe question.
    ("1*1*1*1*2*1*2*2", trust_fr("la police")),
    ("1*1*1*1*2*1*2*1*2*3", respect_fr("la police")),
    ("1*1*1*1*2*1*2*1*2*3*3", change_fr("la police")),
    ("1*1*1*1*2*1*2*1*2*3*3*3", another_fr("Karisimbi")),
    # Rate another institution: the returning type screen, for the same place.
    ("1*1*1*1*2*1*2*1*2*3*3*3*1", place_type_fr("Karisimbi")),
    ("1*1*1*1*2*1*2*1*2*3*3*3*1*2", GOMA_JUSTICE_FR),
    ("1*1*1*1*2*1*2*1*2*3*3*3*1*3", contact_fr("l'administration")),
    ("1*1*1*1*2*1*2*1*2*3*3*3*1*4", PROVINCES_FR_WITH_BACK),
    # Commune de Goma has one police unit: chosen without a screen.
    ("1*1*1*1*1*1", contact_fr("la police")),
    ("1*1*1*1*1*2", GOMA_JUSTICE_FR),
    # Page 2 of the territories carries the numbering on; the chosen key selects as shown.
    ("1*1*1*98*8", RUTSHURU_FR),
    ("1*1*2*4", IRUMU_FR_1),
    ("1*1*2*4*98", IRUMU_FR_2),
    ("1*1*2*4*12", TYPES_FR),
]
ENDS_FR: list[tuple[str, str]] = [
    ("1*2", REFUSED_FR),
    ("1*1*1*1*2*1*2*1*2*3*3*3*2", THANKS_FR),
    ("1*1*1*1*2*1*2*2*4*4*1*2", THANKS_FR),
]


@pytest.mark.parametrize(("text", "body"), GOLDEN_FR)
def test_french_golden_screens(text, body):
    result = run(text)
    assert result.screen.body == body
    assert result.screen.end is False
    assert result.screen.wire() == "CON " + body


@pytest.mark.parametrize(("text", "body"), ENDS_FR)
def test_french_end_screens(text, body):
    result = run(text)
    assert result.screen == Screen(True, body)
    assert result.screen.wire() == "END " + body


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("", "language"),
        ("1", "consent"),
        ("1*2", "refused"),
        ("1*1", "province"),
        ("1*1*1", "territory"),
        ("1*1*1*1", "locality"),
        ("1*1*1*1*2", "type"),
        ("1*1*1*1*2*1", "unit"),
        ("1*1*1*1*2*1*2", "q_contact"),
        ("1*1*1*1*2*1*2*1", "q_bribe"),
        ("1*1*1*1*2*1*2*2", "q_trust"),
        ("1*1*1*1*2*1*2*2*4", "q_respect"),
        ("1*1*1*1*2*1*2*2*4*4", "q_change"),
        ("1*1*1*1*2*1*2*2*4*4*1", "another"),
        ("1*1*1*1*2*1*2*2*4*4*1*1", "place_type"),
        ("1*1*1*1*2*1*2*2*4*4*1*2", "thanks"),
    ],
)
def test_result_names_the_node_of_the_screen(text, node):
    assert run(text).node == node


# --- Navigation: back, home, more, invalid input ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "body"),
    [
        # 0: back one screen; a no-op (and no error) on the first screen.
        ("0", LANGUAGE_MENU),
        ("0*0", LANGUAGE_MENU),
        ("1*0", LANGUAGE_MENU),
        # ... and a no-op on the screen after consent: never back to consent (rule 1).
        ("1*1*0", PROVINCES_FR),
        ("1*1*0*0*0", PROVINCES_FR),
        ("1*1*1*0", PROVINCES_FR),
        ("1*1*1*0*0", PROVINCES_FR),
        ("1*1*1*98*0", NK_TERRITORIES_FR_1),
        ("1*1*1*98*0*0", PROVINCES_FR),
        ("1*1*1*1*2*1*2*1*0*0*0*0*0*0*0*0", PROVINCES_FR),
        # Another place, chosen after the first institution, goes back to its type screen.
        ("1*1*1*1*2*1*2*1*2*3*3*3*1*4*0", place_type_fr("Karisimbi")),
        # Choosing on page 2 and going back returns to page 2, not page 1.
        ("1*1*1*98*8*0", NK_TERRITORIES_FR_2),
        ("1*1*2*4*98*12*0", IRUMU_FR_2),
        # Back from the unit list and from a question.
        ("1*1*1*1*2*1*0", TYPES_FR),
        ("1*1*1*1*2*1*2*0", KARISIMBI_POLICE_FR),
        # Back from a question skips the unit that was passed through without a screen.
        ("1*1*1*1*1*1*0", TYPES_FR),
        # Back from trust goes to the question actually asked before it.
        ("1*1*1*1*2*1*2*1*2*0", bribe_fr("la police")),
        ("1*1*1*1*2*1*2*2*0", contact_fr("la police")),
        # Nyiragongo has one collectivity (Bukumu): passed through, and back skips it too.
        ("1*1*1*98*7", TYPES_FR),
        ("1*1*1*98*7*0", NK_TERRITORIES_FR_2),
        # 00: home, with an empty back stack (rule 1).
        # Before consent: the very first screen, the language menu, with nothing kept.
        ("00", LANGUAGE_MENU),
        ("1*0*00", LANGUAGE_MENU),
        # A language but no consent yet: the language menu again, so it can be changed.
        ("1*00", LANGUAGE_MENU),
        ("1*00*0", LANGUAGE_MENU),
        ("1*00*1", CONSENT_FR),
        ("1*00*1*0", LANGUAGE_MENU),
        ("1*00*1*1", PROVINCES_FR),
        ("2*00", LANGUAGE_MENU),
        ("2*00*1", CONSENT_FR),  # Kiswahili chosen by mistake, French instead
        ("3*x*00*1", CONSENT_FR),
        # After consent, home keeps language, consent and place (rule 1).
        # Consent but no place yet: the province list, never the language or consent screens.
        ("1*1*00", PROVINCES_FR),
        ("1*1*1*00", PROVINCES_FR),
        ("1*1*1*98*00", PROVINCES_FR),
        ("1*1*1*00*0", PROVINCES_FR),
        ("1*1*1*00*1", NK_TERRITORIES_FR_1),
        # Consent and a place: that place's type screen.
        ("1*1*1*1*2*00", place_type_fr("Karisimbi", back=False)),
        ("1*1*1*1*2*1*2*1*00", place_type_fr("Karisimbi", back=False)),
        ("1*1*1*1*2*1*2*1*00*0", place_type_fr("Karisimbi", back=False)),
        # A key of page 2 selects from page 1 too (a dial-through types what it knows).
        ("1*1*1*8", RUTSHURU_FR),
    ],
)
def test_navigation(text, body):
    result = run(text)
    assert result.screen.body == body
    assert result.screen.end is False


@pytest.mark.parametrize(
    ("text", "body"),
    [
        # The last input is invalid: the same screen again, under the error line.
        ("x", invalid(LANGUAGE_MENU)),
        ("4", invalid(LANGUAGE_MENU)),
        ("98", invalid(LANGUAGE_MENU)),  # one page only: there is no next page
        ("", LANGUAGE_MENU),
        ("1*", invalid(CONSENT_FR)),  # an empty reply
        ("1*3", invalid(CONSENT_FR)),
        ("1*1*3", invalid(PROVINCES_FR)),
        ("1*1*1*10", invalid(NK_TERRITORIES_FR_1)),
        ("1*1*1*98*98", invalid(NK_TERRITORIES_FR_2)),  # no page 3
        ("1*1*1*98*x", invalid(NK_TERRITORIES_FR_2)),  # the error keeps the page
        ("1*1*2*98", invalid(ITURI_TERRITORIES_FR)),
        ("1*1*2*7", invalid(ITURI_TERRITORIES_FR)),
        ("1*1*1*1*2*4", invalid(TYPES_FR)),
        ("1*1*1*1*2*1*3", invalid(KARISIMBI_POLICE_FR)),
        ("1*1*1*1*2*1*2*9", invalid(contact_fr("la police"))),  # no "don't know" for contact
        ("1*1*1*1*2*1*2*1*5", invalid(bribe_fr("la police"))),
        ("1*1*1*1*2*1*2*2*5", invalid(trust_fr("la police"))),
        ("1*1*1*1*2*1*2*2*98", invalid(trust_fr("la police"))),
        ("1*1*1*1*2*1*2*2*4*4*4", invalid(change_fr("la police"))),
        ("1*1*1*1*2*1*2*2*4*4*1*3", invalid(another_fr("Karisimbi"))),
        ("1*1*1*1*2*1*2*2*4*4*1*1*6", invalid(place_type_fr("Karisimbi"))),
        # An invalid input earlier in the path leaves no trace.
        ("x*1", CONSENT_FR),
        ("1*x*1", PROVINCES_FR),
        ("1*1*1*98*98*0", NK_TERRITORIES_FR_1),
        ("1*1*1*abc*98", NK_TERRITORIES_FR_2),
        ("x*00", LANGUAGE_MENU),
        ("1*1*1*1*2*1*2*1*7*2", trust_fr("la police")),
    ],
)
def test_invalid_input_reasks_with_error_only_when_last(text, body):
    assert run(text).screen.body == body


def test_invalid_input_changes_no_slot_and_records_nothing():
    before = run("1*1*1*1*2*1*2*2")
    after = run("1*1*1*1*2*1*2*2*7")
    assert after.slots == before.slots
    assert after.effects == before.effects
    assert after.node == before.node == "q_trust"


@pytest.mark.parametrize("extra", ["0", "00", "1", "x", "98", "00*1*1*1*1*2*3", "0*0*0*4"])
def test_inputs_after_end_are_ignored(extra):
    done = "1*1*1*1*2*1*2*1*2*3*3*3*2"
    base = run(done)
    after = run(f"{done}*{extra}")
    assert after.screen == base.screen
    assert after.effects == base.effects
    assert after.node == "thanks"


def test_dial_through_gives_the_last_hop_of_a_session():
    """`*123*1*1*1*1*1*3*2*4*4*1*2#` arrives with the whole path on hop one."""
    text = "1*1*1*1*1*3*2*4*4*1*2"
    inputs = split(text)
    steps = [run(inputs[:n]) for n in range(len(inputs) + 1)]
    assert [step.screen.end for step in steps] == [False] * len(inputs) + [True]
    assert steps[-1] == run(text)
    assert run(text).screen.body == THANKS_FR


def test_whitespace_around_inputs_is_tolerated():
    padded = run([" 1", "1 ", " 1\t", " 1 ", "2", " 1", "2 "])
    assert padded == run("1*1*1*1*2*1*2")
    assert run(["1", "1", "1", " 98 "]).screen.body == NK_TERRITORIES_FR_2
    assert run(["1", "1", "1", " 0 "]).screen.body == PROVINCES_FR
    assert run(["1", "1", " 00"]).screen.body == PROVINCES_FR
    assert run(["1", " 00 "]).screen.body == LANGUAGE_MENU


# --- Kiswahili and Lingala ---------------------------------------------------------------------

GOLDEN_SW: list[tuple[str, bool, str]] = [
    ("", False, LANGUAGE_MENU),
    ("2", False, lines(
        "Maoni ya raia (polisi, mahakama, utawala). Bila jina: namba yako haionyeshwi kamwe."
        " Unakubali kushiriki?",
        "1. Ndiyo, nakubali",
        "2. Hapana",
        "0. Rudi",
    )),
    ("2*2", True, "Sawa. Hakuna kilichohifadhiwa. Asante."),
    ("2*1", False, lines("Chagua mkoa wako:", "1. Nord-Kivu", "2. Ituri")),  # no way back
    # Shorter words: page 1 holds seven territories in Kiswahili, six in French and Lingala.
    ("2*1*1", False, lines(
        "Wilaya au mji:",
        "1. Goma (ville)",
        "2. Butembo (ville)",
        "3. Beni (ville)",
        "4. Beni (territoire)",
        "5. Lubero",
        "6. Masisi",
        "7. Nyiragongo",
        "98. Zaidi",
        "0. Rudi",
    )),
    ("2*1*1*98", False, lines("Wilaya au mji:", "8. Rutshuru", "9. Walikale", "0. Rudi")),
    ("2*1*1*x", False, lines(
        "Chaguo si sahihi.",
        "Wilaya au mji:",
        "1. Goma (ville)",
        "2. Butembo (ville)",
        "3. Beni (ville)",
        "4. Beni (territoire)",
        "5. Lubero",
        "6. Masisi",
        "7. Nyiragongo",
        "98. Zaidi",
        "0. Rudi",
    )),
    ("2*1*1*1", False,
     lines("Chefferie, secteur au commune:", "1. Goma", "2. Karisimbi", "0. Rudi")),
    ("2*1*1*1*2", False, lines(
        "Huduma gani unataka kutathmini?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1", False, lines(
        "Huduma gani hasa?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo", "0. Rudi"
    )),
    ("2*1*1*1*2*1*2", False, lines(
        "Katika miezi 3 iliyopita, ulikuwa na shughuli na polisi?",
        "1. Ndiyo",
        "2. Hapana",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1", False, lines(
        "Ulilazimika kutoa pesa, zawadi au upendeleo kwa polisi ili usaidiwe?",
        "1. Ndiyo",
        "2. Hapana",
        "9. Sipendi kusema",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1*2", False, lines(
        "Unaiamini polisi?",
        "1. Hata kidogo",
        "2. Kidogo",
        "3. Kiasi",
        "4. Sana",
        "9. Sijui",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1*2*3", False, lines(
        "Kwa maoni yako, polisi huwatendea watu kwa heshima na haki:",
        "1. Kamwe",
        "2. Mara chache",
        "3. Mara nyingi",
        "4. Kila mara",
        "9. Sijui",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1*2*3*3", False, lines(
        "Ukilinganisha na robo iliyopita, huduma ya polisi ni:",
        "1. Mbaya zaidi",
        "2. Sawa",
        "3. Bora zaidi",
        "9. Sijui",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1*2*3*3*3", False, lines(
        "Kutathmini huduma nyingine huko Karisimbi?", "1. Ndiyo", "2. Hapana", "0. Rudi"
    )),
    ("2*1*1*1*2*1*2*1*2*3*3*3*1", False, lines(
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
        "0. Rudi",
    )),
    ("2*1*1*1*2*1*2*1*2*3*3*3*2", True,
     "Asante! Maoni yako yamehifadhiwa bila jina lako. Yanasaidia kuboresha huduma."),
]

GOLDEN_LN: list[tuple[str, bool, str]] = [
    ("", False, LANGUAGE_MENU),
    ("3", False, lines(
        "Makanisi ya bato (polisi, bosambisi, boyangeli). Nkombo te: nimero na yo ekomonana te."
        " Olingi kosangana?",
        "1. Iyo, nandimi",
        "2. Te",
        "0. Zonga",
    )),
    ("3*2", True, "Malamu. Eloko moko te ebombami. Matondi."),
    ("3*1", False, lines("Pona etuka na yo:", "1. Nord-Kivu", "2. Ituri")),  # no way back
    ("3*1*1", False, lines(
        "Teritwale to engumba:",
        "1. Goma (ville)",
        "2. Butembo (ville)",
        "3. Beni (ville)",
        "4. Beni (territoire)",
        "5. Lubero",
        "6. Masisi",
        "98. Mosusu",
        "0. Zonga",
    )),
    ("3*1*1*98", False, lines(
        "Teritwale to engumba:", "7. Nyiragongo", "8. Rutshuru", "9. Walikale", "0. Zonga"
    )),
    ("3*1*1*x", False, lines(
        "Oponi malamu te.",
        "Teritwale to engumba:",
        "1. Goma (ville)",
        "2. Butembo (ville)",
        "3. Beni (ville)",
        "4. Beni (territoire)",
        "5. Lubero",
        "6. Masisi",
        "98. Mosusu",
        "0. Zonga",
    )),
    ("3*1*1*1", False,
     lines("Chefferie, secteur to commune:", "1. Goma", "2. Karisimbi", "0. Zonga")),
    ("3*1*1*1*2", False, lines(
        "Mosala nini olingi kotalela?",
        "1. Polisi (PNC)",
        "2. Bosambisi",
        "3. Boyangeli ya esika",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1", False, lines(
        "Mosala nini mpenza?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo", "0. Zonga"
    )),
    ("3*1*1*1*2*1*2", False, lines(
        "Na sanza 3 oyo eleki, ozalaki na likambo na polisi?", "1. Iyo", "2. Te", "0. Zonga"
    )),
    ("3*1*1*1*2*1*2*1", False, lines(
        "Ofutaki mbongo, likabo to ngolu epai ya polisi mpo basalisa yo?",
        "1. Iyo",
        "2. Te",
        "9. Nalingi koyanola te",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1*2*1*2", False, lines(
        "Ozali kotia motema na polisi?",
        "1. Ata moke te",
        "2. Moke",
        "3. Ndambo",
        "4. Mingi",
        "9. Nayebi te",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1*2*1*2*3", False, lines(
        "Polisi esalelaka bato na limemya mpe bosembo?",  # {Inst}: capitalised
        "1. Ata mokolo te",
        "2. Mbala moke",
        "3. Mbala mingi",
        "4. Ntango nyonso",
        "9. Nayebi te",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1*2*1*2*3*3", False, lines(
        "Soki tokokanisa na sanza misato eleki, mosala ya polisi ezali:",
        "1. Mabe koleka",
        "2. Ndenge moko",
        "3. Malamu koleka",
        "9. Nayebi te",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1*2*1*2*3*3*3", False,
     lines("Kotalela mosala mosusu na Karisimbi?", "1. Iyo", "2. Te", "0. Zonga")),
    ("3*1*1*1*2*1*2*1*2*3*3*3*1", False, lines(
        "Karisimbi: mosala nini?",
        "1. Polisi (PNC)",
        "2. Bosambisi",
        "3. Boyangeli ya esika",
        "4. Esika mosusu",
        "5. Lokota/Langue",
        "0. Zonga",
    )),
    ("3*1*1*1*2*1*2*1*2*3*3*3*2", True,
     "Matondi! Makanisi na yo ebombami kozanga nkombo na yo. Esalisaka kobongisa misala."),
]


@pytest.mark.parametrize(
    ("language", "text", "end", "body"),
    [("sw", *row) for row in GOLDEN_SW] + [("ln", *row) for row in GOLDEN_LN],
)
def test_golden_screens_in_kiswahili_and_lingala(language, text, end, body):
    result = run(text)
    assert result.screen == Screen(end, body)
    assert result.language == language or text == ""


@pytest.mark.parametrize("language", ["sw", "ln"])
def test_same_answers_whatever_the_language(language):
    key = {"sw": "2", "ln": "3"}[language]
    french = run("1*1*1*1*2*1*2*1*9*9*9*9*2")
    other = run(f"{key}*1*1*1*2*1*2*1*9*9*9*9*2")
    assert other.answers == french.answers
    assert updates(other) == [UpdateProfile(language, CONSENT, KARISIMBI)]
    # Pages differ between languages, yet a page-2 key selects the same place in every one.
    assert run(f"{key}*1*1*98*9").slots["territory"] == run("1*1*1*98*9").slots["territory"]
    assert run(f"{key}*1*1*98*9").slots["territory"] == "NK-T-WAL"


# --- Effects ----------------------------------------------------------------------------------

GOLDEN_DONE = "1*1*1*1*2*1*2*1*2*3*3*3*2"


def police_majengo(indicator: str, option: str, value: int | None) -> RecordAnswer:
    return RecordAnswer(
        step=f"police:{indicator}",
        institution_type="police",
        unit_code="NK-V-GOM-KAR-PNC2",
        location_code=KARISIMBI,
        indicator=indicator,
        option=option,
        value=value,
    )


def test_golden_path_records_one_answer_per_question_then_the_profile():
    result = run(GOLDEN_DONE)
    assert result.effects == (
        police_majengo("contact", "1", 1),
        police_majengo("bribe", "2", 2),
        police_majengo("trust", "3", 3),
        police_majengo("respect", "3", 3),
        police_majengo("change", "3", 3),
        UpdateProfile(language="fr", consent_version=CONSENT, locality=KARISIMBI),
    )
    assert result.answered == 5
    assert result.path == tuple(split(GOLDEN_DONE))
    assert result.profile == FIRST_TIME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Contact = no: no bribe answer, the rest as usual.
        ("1*1*1*1*2*1*2*2*4*1*2*2",
         {"police:contact": 2, "police:trust": 4, "police:respect": 1, "police:change": 2}),
        # 9 = don't know / prefer not to say: recorded, with no value.
        ("1*1*1*1*2*1*2*1*9*9*9*9*2",
         {"police:contact": 1, "police:bribe": None, "police:trust": None,
          "police:respect": None, "police:change": None}),
        ("1*1*1*1*2*1*2*1*1*1*4*1*2",
         {"police:contact": 1, "police:bribe": 1, "police:trust": 1, "police:respect": 4,
          "police:change": 1}),
    ],
)
def test_answer_values(text, expected):
    result = run(text)
    assert result.screen.end is True
    assert answers(result) == expected
    for answer in result.answers:
        assert answer.option == ("9" if answer.value is None else str(answer.value))
        assert answer.unit_code == "NK-V-GOM-KAR-PNC2"


@pytest.mark.parametrize(
    ("text", "unit", "location"),
    [
        ("1*1*1*1*1*1*2", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM"),
        ("1*1*1*1*2*1*1*2", "NK-V-GOM-KAR-PNC", KARISIMBI),
        ("1*1*1*1*2*3*2", "NK-V-GOM-KAR-ADM", KARISIMBI),
        ("1*1*1*1*1*2*1*2", "NK-V-GOM-PQ", "NK-V-GOM-GOM"),
        ("1*1*1*1*1*2*2*2", "NK-V-GOM-TP", "NK-V-GOM-GOM"),
        # Justice in Bukumu is the territory's tribunal de paix (nearest ancestor with one),
        # but the answer is about the caller's locality.
        ("1*1*1*98*7*2*2", "NK-T-NYI-TP", "NK-T-NYI-BUK"),
        ("1*1*2*1*2*1*2*2", "IT-V-BUN-NYA-PNC2", "IT-V-BUN-NYA"),
        ("1*1*2*4*98*12*3*2", "IT-T-IRU-WBI-ADM", "IT-T-IRU-WBI"),
    ],
)
def test_the_answer_names_the_unit_and_the_callers_locality(text, unit, location):
    (answer,) = run(text).answers
    assert (answer.step, answer.indicator, answer.option, answer.value) == (
        f"{answer.institution_type}:contact", "contact", "2", 2)
    assert answer.unit_code == unit
    assert answer.location_code == location


@pytest.mark.parametrize(
    "text",
    ["", "1", "1*1", "1*1*1", "1*1*1*98", "1*1*1*1*2", "1*1*1*1*2*1", "1*1*1*1*2*1*2",
     "1*1*1*1*2*1*2*x", "1*1*1*1*2*1*2*0"],
)
def test_no_answer_before_a_question_is_answered(text):
    assert run(text).answers == ()


@pytest.mark.parametrize(
    "text",
    ["", "1", "1*x", "1*0", "2", "3", "00", "1*00", "1*00*0", "1*00*1", "1*0*00", "3*00",
     "3*00*1"])
def test_nothing_about_the_caller_before_consent(text):
    assert run(text).effects == ()


@pytest.mark.parametrize(
    ("text", "locality"),
    [
        ("1*1", None),
        ("1*1*1", None),
        ("1*1*1*1", None),
        ("1*1*1*1*2", KARISIMBI),
        # Neither back nor home undoes consent (rule 1); back past the place choice does.
        ("1*1*0", None),
        ("1*1*00", None),
        ("1*1*0*0*00*0", None),
        ("1*1*1*00", None),
        ("1*00*1*1", None),
        ("2*00*1*1", None),  # the language changed at home before consent is the one kept
        ("1*1*1*1*2*00", KARISIMBI),
        ("1*1*1*1*2*0*0*0*0", None),
    ],
)
def test_the_profile_is_emitted_once_consent_is_given(text, locality):
    assert run(text).effects == (UpdateProfile("fr", CONSENT, locality),)


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusing_consent_ends_politely_and_emits_nothing(language):
    key = str(LANGUAGES.index(language) + 1)
    result = run(f"{key}*2")
    assert result.screen == Screen(True, CATALOG.text(language, "consent_refused"))
    assert result.node == "refused"
    assert result.effects == ()
    assert run(f"{key}*2*1*1*1").effects == ()


def test_home_after_consent_goes_to_the_callers_place_and_never_asks_consent_again():
    # Consent, Karisimbi police (unit 2), contact no, then 00: the caller's home is their place.
    result = run("1*1*1*1*2*1*2*2*00")
    assert result.screen.body == place_type_fr("Karisimbi", back=False)
    assert answers(result) == {"police:contact": 2}  # answers survive home
    assert run("1*1*1*1*2*1*2*2*00*0").screen.body == place_type_fr("Karisimbi", back=False)


def test_back_never_returns_to_the_consent_screen_once_given():
    province = run("1*1").screen.body
    assert run("1*1*0").screen.body == province
    assert run("1*1*0*0*0").screen.body == province
    refused = run("1*1*0*2")  # "2" on the province screen is Ituri, not a refusal
    assert refused.node == "territory" and updates(refused)


def test_a_bribe_answer_is_withdrawn_when_contact_becomes_no():
    # Contact yes, bribe yes (paid), back twice, contact no: the bribe answer no longer stands.
    result = run("1*1*1*1*2*1*2*1*1*0*0*2")
    assert result.screen.body == trust_fr("la police")
    assert answers(result) == {"police:contact": 2}
    assert [e for e in result.effects if isinstance(e, WithdrawAnswer)] == [
        WithdrawAnswer("police:bribe", "police", "bribe")]
    again = run("1*1*1*1*2*1*2*1*1*0*0*2*0*1*2")  # back, contact yes again, bribe no
    assert answers(again) == {"police:contact": 1, "police:bribe": 2}
    assert not [e for e in again.effects if isinstance(e, WithdrawAnswer)]


def test_a_second_institution_in_the_same_session_carries_its_own_type():
    text = "1*1*1*1*2*1*2*2*4*3*3*1*3*1*9*2*2*1*2"
    result = run(text)
    assert result.screen.body == THANKS_FR
    assert answers(result) == {
        "police:contact": 2, "police:trust": 4, "police:respect": 3, "police:change": 3,
        "administration:contact": 1, "administration:bribe": None,
        "administration:trust": 2, "administration:respect": 2, "administration:change": 1,
    }
    assert {(a.institution_type, a.unit_code) for a in result.answers} == {
        ("police", "NK-V-GOM-KAR-PNC2"), ("administration", "NK-V-GOM-KAR-ADM")}
    assert updates(result) == [UpdateProfile("fr", CONSENT, KARISIMBI)]
    assert result.effects[-1] == updates(result)[0]


def test_going_back_and_answering_again_replaces_the_answer():
    trust_screen = "1*1*1*1*2*1*2*2"
    assert answers(run(f"{trust_screen}*4")) == {"police:contact": 2, "police:trust": 4}
    assert run(f"{trust_screen}*4*0").screen.body == trust_fr("la police")
    assert answers(run(f"{trust_screen}*4*0*1")) == {"police:contact": 2, "police:trust": 1}
    assert answers(run(f"{trust_screen}*4*0*9")) == {"police:contact": 2, "police:trust": None}
    # Back twice, to contact: answer yes this time, so the bribe question comes.
    result = run(f"{trust_screen}*4*0*0*1")
    assert result.screen.body == bribe_fr("la police")
    assert answers(result) == {"police:contact": 1, "police:trust": 4}
    # The latest answer comes last, and every step is emitted once.
    assert [a.step for a in result.answers] == ["police:trust", "police:contact"]


def test_home_keeps_the_answers():
    # A returning caller's home is the type screen of their place.
    profile = returning("fr")
    result = run("1*2*2*4*00", profile)
    assert result.screen.body == place_type_fr("Karisimbi", back=False)
    assert answers(result) == {"police:contact": 2, "police:trust": 4}
    # Home, then another institution: both stand; the same one again: replaced.
    assert answers(run("1*2*2*4*00*3*2*1", profile)) == {
        "police:contact": 2, "police:trust": 4, "administration:contact": 2,
        "administration:trust": 1}
    assert answers(run("1*2*2*4*00*1*1*1*2*9", profile)) == {
        "police:contact": 1, "police:bribe": 2, "police:trust": None}
    # A first-time caller who chose a place this session: home is that place's type screen too;
    # the answers survive it.
    first = run("1*1*1*1*2*1*2*2*4*00")
    assert first.screen.body == place_type_fr("Karisimbi", back=False)
    assert answers(first) == {"police:contact": 2, "police:trust": 4}
    again = run("1*1*1*1*2*1*2*2*4*00*1*1")  # police, Katindo this time: the contact question
    assert again.screen.body == contact_fr("la police")
    assert answers(again) == {"police:contact": 2, "police:trust": 4}


def test_changing_the_unit_after_answering_records_about_the_new_unit():
    result = run("1*1*1*1*2*1*2*2*0*0*1*2")
    assert [(a.step, a.unit_code) for a in result.answers] == [
        ("police:contact", "NK-V-GOM-KAR-PNC")]


# --- Returning callers ------------------------------------------------------------------------

RETURNING_SW: list[tuple[str, str]] = [
    ("", lines(
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
    )),
    ("1", lines(
        "Huduma gani hasa?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo", "0. Rudi"
    )),
    ("2", lines("Huduma gani hasa?", "1. Parquet de Goma", "2. Tribunal de paix", "0. Rudi")),
    # Karisimbi has one administration: no unit screen.
    ("3", lines(
        "Katika miezi 3 iliyopita, ulikuwa na shughuli na utawala wa eneo?",
        "1. Ndiyo",
        "2. Hapana",
        "0. Rudi",
    )),
    ("1*2*2", lines(
        "Unaiamini polisi?",
        "1. Hata kidogo",
        "2. Kidogo",
        "3. Kiasi",
        "4. Sana",
        "9. Sijui",
        "0. Rudi",
    )),
    # 4: another place, from the province down, then the plain type screen.
    ("4", lines("Chagua mkoa wako:", "1. Nord-Kivu", "2. Ituri", "0. Rudi")),
    ("4*2*1", lines(
        "Chefferie, secteur au commune:", "1. Mbunya", "2. Nyakasanza", "3. Shari", "0. Rudi"
    )),
    ("4*2*1*2", lines(
        "Huduma gani unataka kutathmini?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "0. Rudi",
    )),
    ("4*0", lines(
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
    )),
    # 5: change language; the flow goes on in the new one, for the same place.
    ("5*1", place_type_fr("Karisimbi")),
    ("5*3", lines(
        "Karisimbi: mosala nini?",
        "1. Polisi (PNC)",
        "2. Bosambisi",
        "3. Boyangeli ya esika",
        "4. Esika mosusu",
        "5. Lokota/Langue",
        "0. Zonga",
    )),
    ("5*3*3", lines(
        "Na sanza 3 oyo eleki, ozalaki na likambo na boyangeli ya esika?",
        "1. Iyo",
        "2. Te",
        "0. Zonga",
    )),
    ("x", lines(
        "Chaguo si sahihi.",
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
    )),
    ("0", lines(
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
    )),
    ("1*1*00", lines(
        "Karisimbi: huduma gani?",
        "1. Polisi (PNC)",
        "2. Mahakama",
        "3. Utawala wa eneo",
        "4. Mahali pengine",
        "5. Lugha/Langue",
    )),
    ("3*1*1*1*1*1*2",
     "Asante! Maoni yako yamehifadhiwa bila jina lako. Yanasaidia kuboresha huduma."),
]


@pytest.mark.parametrize(("text", "body"), RETURNING_SW)
def test_a_returning_caller_starts_at_their_place(text, body):
    assert run(text, returning("sw")).screen.body == body


def test_the_language_menu_of_a_returning_caller_has_a_way_back():
    # The gateway sets the context language to the caller's: the back line reads in it.
    result = run("5", returning("sw"), language="sw")
    assert result.screen.body == lines(LANGUAGE_MENU, "0. Rudi")
    assert result.node == "language"
    assert run("5*0", returning("sw")).screen.body == RETURNING_SW[0][1]


@pytest.mark.parametrize(("language", "key"), [("fr", "1"), ("sw", "2"), ("ln", "3")])
def test_a_new_language_is_remembered(language, key):
    result = run(f"5*{key}", returning("sw"))
    assert result.language == language
    assert result.effects == (UpdateProfile(language, CONSENT, KARISIMBI),)


def test_another_place_is_remembered_once_chosen():
    result = run("4*2*1*2*1*2*2", returning("sw"))
    assert result.answers[0].location_code == "IT-V-BUN-NYA"
    assert result.answers[0].unit_code == "IT-V-BUN-NYA-PNC2"
    assert updates(result) == [UpdateProfile("sw", CONSENT, "IT-V-BUN-NYA")]
    # Until then the profile keeps the place of last time.
    assert updates(run("4*2", returning("sw"))) == [UpdateProfile("sw", CONSENT, KARISIMBI)]


def test_a_returning_caller_emits_the_profile_from_the_first_hop():
    assert run("", returning("ln")).effects == (UpdateProfile("ln", CONSENT, KARISIMBI),)


def test_a_returning_caller_without_a_known_place_starts_at_the_province():
    result = run("", Profile("sw", CONSENT, None))
    assert result.screen.body == lines("Chagua mkoa wako:", "1. Nord-Kivu", "2. Ituri")
    # An unknown place (dropped from the gazetteer) is as good as none.
    assert run("", Profile("sw", CONSENT, "NK-X-GONE")).screen == result.screen


# A consented caller's home, for Karisimbi: its type screen, with no way back.
KARISIMBI_HOME = {
    "fr": place_type_fr("Karisimbi", back=False),
    "sw": RETURNING_SW[0][1],
    "ln": lines(
        "Karisimbi: mosala nini?",
        "1. Polisi (PNC)",
        "2. Bosambisi",
        "3. Boyangeli ya esika",
        "4. Esika mosusu",
        "5. Lokota/Langue",
    ),
}


@pytest.mark.parametrize(
    ("language", "notice", "yes", "no"),
    [
        ("fr", CONSENT_FR.split("\n")[0], "1. Oui, j'accepte", "2. Non"),
        ("sw", GOLDEN_SW[1][2].split("\n")[0], "1. Ndiyo, nakubali", "2. Hapana"),
        ("ln", GOLDEN_LN[1][2].split("\n")[0], "1. Iyo, nandimi", "2. Te"),
    ],
)
def test_an_outdated_consent_is_asked_again_in_the_callers_language(language, notice, yes, no):
    profile = outdated(language)
    first = run("", profile)
    assert first.screen.body == lines(notice, yes, no)  # the first screen: no way back
    assert first.node == "consent"
    assert first.effects == ()
    accepted = run("1", profile)
    assert accepted.node == "place_type"
    assert accepted.screen.body.startswith(prompt(language, "ask_type_here", "Karisimbi"))
    assert accepted.effects == (UpdateProfile(language, CONSENT, KARISIMBI),)
    refused = run("2", profile)
    assert refused.screen == Screen(True, CATALOG.text(language, "consent_refused"))
    assert refused.effects == ()
    # Consent is a commitment point: neither back nor home asks it again (rule 1).
    assert accepted.screen.body == KARISIMBI_HOME[language]
    assert run("1*0", profile).screen == accepted.screen
    assert run("1*00", profile).screen == accepted.screen
    # Home before answering: the first screen of the session, the notice in their language.
    assert run("00", profile).screen == first.screen
    assert run("x*00", profile).screen == first.screen


def prompt(language: str, message_id: str, place: str) -> str:
    return CATALOG.text(language, message_id).replace("{place}", place)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_returning_caller_rates_the_same_place_in_at_most_9_hops(language):
    profile = returning(language)
    # Police in Karisimbi: two units, so a unit screen; contact = yes, so the bribe question.
    with_unit = "1*2*1*2*3*3*3*2"
    # Administration in Karisimbi: one unit, passed through.
    without_unit = "3*1*2*3*3*3*2"
    for text, expected_hops in [(with_unit, 9), (without_unit, 8)]:
        result = run(text, profile)
        assert result.node == "thanks"
        assert len(result.answers) == 5
        assert hops(text) == expected_hops
        assert hops(text) <= RETURNING_HOPS


# --- Hop counts over the whole gazetteer -------------------------------------------------------


@functools.cache
def pick(path: tuple[str, ...], label: str, profile: Profile) -> tuple[str, ...]:
    """The inputs that choose `label` on the screen after `path`, paging with 98 as needed."""
    more: tuple[str, ...] = ()
    for _ in range(10):
        body = run(path + more, profile).screen.body
        for row in body.split("\n"):
            key, sep, text = row.partition(". ")
            if sep and text == label and key not in ("0", "98"):
                return (*more, key)
        assert "\n98. " in body, (path, label, body)
        more += ("98",)
    raise AssertionError(f"{label} not found after {path}")


def journey(language: str, locality: str, unit: Item, institution_type: str,
            profile: Profile = FIRST_TIME) -> tuple[str, ...]:
    """The inputs of a caller who rates `unit` of `locality` once and stops, read off the
    screens by label (paging as a caller would), answering yes to contact (the longest way)."""
    path: tuple[str, ...] = ()
    if profile.language is None:
        path += pick(path, CATALOG.text(language, "language_name"), profile)
    if profile.consent_version != CONSENT:
        path += pick(path, CATALOG.text(language, "consent_yes"), profile)
    if profile.locality != locality:
        if profile.locality:
            path += pick(path, CATALOG.text(language, "other_place"), profile)
        lineage: list[str] = []
        code: str | None = locality
        while code is not None:
            lineage.insert(0, code)
            code = DIRECTORY.locations[code].parent
        for code in lineage:
            if len(DIRECTORY.children[DIRECTORY.locations[code].parent]) > 1:
                path += pick(path, to_ascii(DIRECTORY.locations[code].label), profile)
    path += pick(path, CATALOG.text(language, f"type_{institution_type}"), profile)
    if len(DIRECTORY.units_for(locality, institution_type)) > 1:
        path += pick(path, to_ascii(unit.label), profile)
    path += ("1", "2", "3", "3", "3", "2")  # contact yes, bribe, trust, respect, change, no more
    result = run(path, profile)
    assert result.node == "thanks", (path, result.screen.body)
    assert {(a.unit_code, a.location_code) for a in result.answers} == {(unit.code, locality)}
    assert len(result.answers) == 5
    return path


COLLECTIVITIES = [code for code in DIRECTORY.locations if code not in DIRECTORY.children]
CHOICES = [
    (locality, unit, institution_type)
    for locality in COLLECTIVITIES
    for institution_type in TYPES
    for unit in DIRECTORY.units_for(locality, institution_type)
]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "1*1*1*1*2*1*2*1*2*3*3*3*2"),  # Karisimbi police: a unit screen
        ("fr", "1*1*1*98*8*1*1*1*2*3*3*3*2"),  # Rutshuru, on page 2 of the territories
        ("fr", "1*1*2*4*98*12*3*1*2*3*3*3*2"),  # Walendu-Bindi, on page 2 of Irumu
        ("sw", "2*1*1*1*2*1*2*1*2*3*3*3*2"),
        ("sw", "2*1*1*98*8*1*1*1*2*3*3*3*2"),
        ("sw", "2*1*2*4*98*12*3*1*2*3*3*3*2"),
        ("ln", "3*1*1*1*2*1*2*1*2*3*3*3*2"),
        ("ln", "3*1*1*98*8*1*1*1*2*3*3*3*2"),
        ("ln", "3*1*2*4*98*12*3*1*2*3*3*3*2"),
    ],
)
def test_a_first_time_caller_completes_one_institution_in_at_most_16_hops(language, text):
    result = run(text)
    assert result.screen.body == CATALOG.text(language, "thanks")
    assert len(result.answers) == 5
    assert hops(text) == 14
    assert hops(text) <= FIRST_TIME_HOPS


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_unit_of_the_gazetteer_is_within_the_hop_budget(language):
    """Worst case over every locality, type and unit: 14 hops for a first-time caller (a unit
    screen or a second page, never both), 9 for a returning caller rating the same place."""
    first_time = [hops(journey(language, loc, unit, kind)) for loc, unit, kind in CHOICES]
    again = [hops(journey(language, loc, unit, kind, returning(language, loc)))
             for loc, unit, kind in CHOICES]
    assert max(first_time) == 14
    assert max(first_time) <= FIRST_TIME_HOPS
    assert max(again) == 9
    assert max(again) <= RETURNING_HOPS
    assert min(again) == 8
    assert any("98" in journey(language, loc, unit, kind) for loc, unit, kind in CHOICES)


# --- Resume: Continue / Restart ----------------------------------------------------------------

# An earlier session: a first-time caller in French, Karisimbi police Majengo, contact yes, bribe
# no; dropped on the trust question. The gateway remembered their profile since.
EARLIER = ("1", "1", "1", "1", "2", "1", "2", "1", "2")
RESUME = Resume(path=EARLIER, profile=FIRST_TIME)
RESUME_SCREENS = {
    "fr": lines("Vous aviez commence une evaluation.", "1. Continuer", "2. Recommencer"),
    "sw": lines("Ulikuwa umeanza tathmini.", "1. Endelea", "2. Anza upya"),
    "ln": lines("Obandaki kopesa makanisi.", "1. Kokoba", "2. Kobanda lisusu"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_resume_offers_continue_or_restart_in_the_callers_language(language):
    result = run("", returning(language), RESUME)
    assert result.screen == Screen(False, RESUME_SCREENS[language])
    assert result.node == "resume"
    # A consented caller: the profile is emitted, so the gateway keeps the session stored.
    assert result.effects == (UpdateProfile(language, CONSENT, KARISIMBI),)
    assert result.path == ()
    assert result.profile == returning(language)


@pytest.mark.parametrize("profile", [FIRST_TIME, outdated("fr")])
def test_the_resume_screen_of_a_caller_without_current_consent_emits_nothing(profile):
    result = run("", profile, RESUME)
    assert result.node == "resume"
    assert result.effects == ()


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("x", invalid(RESUME_SCREENS["sw"], "sw")),
        ("3", invalid(RESUME_SCREENS["sw"], "sw")),
        ("98", invalid(RESUME_SCREENS["sw"], "sw")),
        ("", RESUME_SCREENS["sw"]),
        ("0", RESUME_SCREENS["sw"]),
        ("00", RESUME_SCREENS["sw"]),
        ("x*1", trust_fr("la police")),
        ("x*y*2", RETURNING_SW[0][1]),
    ],
)
def test_an_invalid_resume_choice_asks_again(text, body):
    assert run(text, returning("sw"), RESUME).screen.body == body


def test_continue_goes_on_exactly_where_the_earlier_session_stopped():
    result = run("1", returning("sw"), RESUME)
    assert result.screen.body == trust_fr("la police")  # the earlier session was in French
    assert result.node == "q_trust"
    # The earlier answers were stored then: not emitted again.
    assert result.answers == ()
    assert result.answered == 2
    assert result.effects == (UpdateProfile("fr", CONSENT, KARISIMBI),)
    assert result.path == EARLIER
    assert result.profile == FIRST_TIME


def test_after_continuing_only_new_or_changed_answers_are_effects():
    profile = returning("fr")
    assert answers(run("1*4", profile, RESUME)) == {"police:trust": 4}
    assert answers(run("1*4*2*3*1", profile, RESUME)) == {
        "police:trust": 4, "police:respect": 2, "police:change": 3}
    # Back to the bribe question and answered again: that step is emitted, with its new value.
    changed = run("1*0*1", profile, RESUME)
    assert changed.screen.body == trust_fr("la police")
    assert answers(changed) == {"police:bribe": 1}
    # Back, and the same screen answered again: still nothing re-emitted but what was answered.
    assert answers(run("1*0*0", profile, RESUME)) == {}
    done = run("1*4*2*3*2", profile, RESUME)
    assert done.screen.body == THANKS_FR
    assert done.answered == 5


def test_the_path_after_continuing_replays_to_the_same_screen():
    for text in ["1", "1*4", "1*4*2", "1*0", "1*0*0*2", "1*4*2*3*1", "1*4*2*3*2", "1*4*x"]:
        resumed = run(text, returning("sw"), RESUME)
        assert resumed.path == EARLIER + tuple(split(text)[1:])
        assert resumed.profile == FIRST_TIME
        replayed = run(resumed.path, resumed.profile)
        assert replayed.screen == resumed.screen, text
        assert replayed.node == resumed.node
        assert replayed.slots == resumed.slots
        # Replayed from scratch, every answer of the whole path is an effect again.
        assert answers(replayed).keys() >= answers(resumed).keys()
        assert len(replayed.answers) == resumed.answered


def test_restart_starts_from_the_current_profile():
    result = run("2", returning("sw"), RESUME)
    assert result.screen.body == RETURNING_SW[0][1]
    assert result.node == "place_type"
    assert result.path == ()
    assert result.profile == returning("sw")
    assert result.effects == (UpdateProfile("sw", CONSENT, KARISIMBI),)
    restarted = run("2*3*2", returning("sw"), RESUME)
    assert answers(restarted) == {"administration:contact": 2}
    assert restarted.path == ("3", "2")
    assert restarted == run("3*2", returning("sw"))


def test_continue_of_a_session_that_started_as_a_returning_caller():
    earlier = Resume(path=("1", "2", "1"), profile=returning("ln"))
    result = run("1", returning("ln"), earlier)
    assert result.node == "q_bribe"
    assert result.screen.body.startswith("Ofutaki mbongo")
    assert result.answers == ()
    assert answers(run("1*9", returning("ln"), earlier)) == {"police:bribe": None}


# --- Every reachable screen, in every language ------------------------------------------------

WALK = list(flows.check.walk(FLOW, Context(CATALOG, DIRECTORY, "fr", LIMIT)))
WALKED_BODIES = {w.screen.body for w in WALK}
OPTION_LINE = re.compile(r"^(\d+)\. \S")
SCREEN_TEXT = re.compile(r"^[\x20-\x7e\n]*$")
EXTRA_MESSAGES = {"unavailable", "bad_request", "limit_reached"}


def choice_keys(body: str) -> list[str]:
    keys = [m.group(1) for row in body.split("\n") if (m := OPTION_LINE.match(row))]
    return [k for k in keys if k not in ("0", "98")]


def test_flows_check_passes_on_the_real_config():
    assert flows.check.problems(FLOW, CATALOG, DIRECTORY, LIMIT, EXTRA_MESSAGES) == []


def test_one_walk_covers_every_language():
    walked_languages = {w.language for w in WALK}
    assert walked_languages == set(LANGUAGES)
    screens = list(flows.check.screens(FLOW, Context(CATALOG, DIRECTORY, "fr", LIMIT)))
    assert [(w.name, w.screen) for w in WALK] == screens


def test_the_walk_reaches_every_screen_of_the_golden_tables():
    golden = [body for _, body in GOLDEN_FR + ENDS_FR]
    golden += [body for _, _, body in GOLDEN_SW + GOLDEN_LN]
    missing = [body for body in golden if body not in WALKED_BODIES]
    assert missing == []
    for language in LANGUAGES:
        assert CATALOG.text(language, "thanks") in WALKED_BODIES
        assert CATALOG.text(language, "consent_refused") in WALKED_BODIES


def test_the_walk_shows_the_screens_without_a_way_back_that_callers_see():
    """`flows check` proves screens fit only for the screens it walks. Consent (`commit`) and
    home (`00`) lead a first-time caller to screens with an empty back stack, which the walk
    must show as the caller sees them: without the back line."""
    seen = {
        "1*1": PROVINCES_FR,  # right after consent
        "2*1": GOLDEN_SW[3][2],
        "3*1": GOLDEN_LN[3][2],
        "1*00": LANGUAGE_MENU,  # home before consent
        "1*1*1*1*2*00": place_type_fr("Karisimbi", back=False),  # home once a place is chosen
    }
    assert {text: run(text).screen.body for text in seen} == seen
    assert [text for text, body in seen.items() if body not in WALKED_BODIES] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_screen_fits_a_ussd_phone(language):
    screens = [w for w in WALK if w.language == language]
    assert len(screens) > 1000
    assert any(w.name.endswith(">98") for w in screens)  # page 2 of a list
    assert any(w.screen.end for w in screens)
    for w in screens:
        where, screen, keys, pages, is_list = w.name, w.screen, w.keys, w.pages, w.pageable
        assert len(screen.body) <= LIMIT, where
        assert SCREEN_TEXT.match(screen.body), where
        assert screen.body.strip() == screen.body, where
        assert len(keys) == len(set(keys)), where
        # Only location and unit lists page; every other screen fits on one.
        assert pages == 1 or is_list, where
        if not screen.end:
            shown = choice_keys(screen.body)
            assert shown, where
            assert len(shown) == len(set(shown)), where
            assert set(shown) <= set(keys) or not keys, where


def test_only_location_and_unit_lists_page():
    paged = [w.pageable for w in WALK if w.pages > 1]
    assert len(paged) > 10  # the territories of Nord-Kivu, Irumu's and Djugu's collectivities
    assert all(paged)


# --- Properties over arbitrary input ----------------------------------------------------------

KEYS = [str(n) for n in range(1, 16)] + ["0", "00", "98", "9", "", "abc"]
PROFILES = [
    FIRST_TIME,
    *(returning(language) for language in LANGUAGES),
    *(outdated(language, "IT-T-IRU-WBI") for language in LANGUAGES),
]
key_lists = st.lists(st.sampled_from(KEYS), max_size=20)
# Mostly 1 and 2: random paths that go deep and often reach an END.
deep_key_lists = st.lists(
    st.one_of(st.sampled_from(["1", "2"]), st.sampled_from(["1", "2"]), st.sampled_from(KEYS)),
    max_size=30,
)
profiles = st.sampled_from(PROFILES)
resumes = st.one_of(
    st.none(),
    st.builds(lambda profile, keys: Resume(tuple(keys), profile), profiles, deep_key_lists),
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def without_error_line(body: str, language: str) -> str:
    error = CATALOG.text(language, "invalid_choice") + "\n"
    return body.removeprefix(error)


@PROPERTY_SETTINGS
@given(keys=key_lists, profile=profiles, resume=resumes)
def test_any_path_gives_a_screen_that_fits(keys, profile, resume):
    result = run(keys, profile, resume)
    body = result.screen.body
    assert body
    assert len(body) <= LIMIT
    assert SCREEN_TEXT.match(body)
    if not result.screen.end:
        assert choice_keys(body)
    for answer in result.answers:
        indicator = FLOW.indicators[answer.indicator]
        assert answer.step == f"{answer.institution_type}:{answer.indicator}"
        assert (answer.option, answer.value) in {(k, v) for k, _, v in indicator.scale.options()}
        assert answer.unit_code in {
            u.code for u in DIRECTORY.units_for(answer.location_code, answer.institution_type)}
    # Rule 5: only the bribe question is ever skipped by a branch; a withdrawn step is not
    # also recorded, and each is withdrawn at most once.
    withdrawn = [e for e in result.effects if isinstance(e, WithdrawAnswer)]
    assert all(w == WithdrawAnswer(f"{w.institution_type}:bribe", w.institution_type, "bribe")
               for w in withdrawn)
    assert len({w.step for w in withdrawn}) == len(withdrawn)
    assert not {w.step for w in withdrawn} & {a.step for a in result.answers}
    profile_updates = updates(result)
    assert len(profile_updates) <= 1
    if profile_updates:
        assert result.effects[-1] == profile_updates[0]
        assert profile_updates[0].consent_version == CONSENT
    if result.node != "resume":
        # Rule 7: the profile is emitted exactly when the caller has consented.
        assert bool(profile_updates) == (result.slots.get("consent") == "yes")


@PROPERTY_SETTINGS
@given(keys=key_lists)
def test_every_screen_a_first_time_caller_sees_is_walked(keys):
    # flows check proves every screen fits only if it walks every screen a caller can see.
    assert run(keys).screen.body in WALKED_BODIES


PROVINCES = {"fr": PROVINCES_FR, "sw": GOLDEN_SW[3][2], "ln": GOLDEN_LN[3][2]}
# Mostly 1 and 2 again, to go deep (another institution, place or language included).
deep_keys_without_home = st.lists(
    st.one_of(st.sampled_from(["1", "2"]), st.sampled_from([k for k in KEYS if k != "00"])),
    max_size=30,
)


@PROPERTY_SETTINGS
@given(language=st.sampled_from(LANGUAGES), keys=deep_keys_without_home)
# Karisimbi police, then another institution: Kiswahili (5, 2), then another place (4, Ituri).
@example(language="fr", keys=split("1*1*2*1*2*1*2*3*3*3*1*5*2*4*2"))
def test_back_never_undoes_consent(language, keys):
    """Rule 1: consent is a commitment point. However far a first-time caller goes after it
    (changing language or place included), going back all the way ends on the province list
    they saw right after consent, in the language they consented in, with no way back."""
    consented = [str(LANGUAGES.index(language) + 1), "1", *keys]
    result = run(consented)
    # Each input adds at most one screen to go back to: this many 0s empties the back stack.
    unwound = run([*consented, *["0"] * (len(keys) + 1)])
    if result.screen.end:  # inputs after an END are ignored
        assert (unwound.node, unwound.screen, unwound.effects) == (
            result.node, result.screen, result.effects)
        return
    assert unwound.node == "province"
    assert unwound.screen.body == PROVINCES[language]
    assert updates(unwound) == [UpdateProfile(language, CONSENT, None)]
    # Answers survive going back (rule 5): nothing recorded is lost, nothing new appears.
    assert answers(unwound) == answers(result)


@PROPERTY_SETTINGS
@given(keys=st.one_of(key_lists, deep_key_lists))
def test_home_keeps_what_the_caller_settled(keys):
    """Rule 1: `00` goes to the start node and an empty back stack, so `0` right after it is a
    no-op. Before consent that is the very first screen, the language menu, with nothing kept (a
    wrong language can be changed); after consent the language, consent and place are kept
    (through the `home` router)."""
    before = run(keys)
    assume(not before.screen.end)
    home = run([*keys, "00"])
    slots = before.slots
    if slots.get("consent") != "yes":
        assert home.node == "language"
        assert home.screen.body == LANGUAGE_MENU
        assert home.language == "fr"
        assert dict(home.slots) == {}
        assert home.effects == ()
    else:
        if not slots.get("language"):  # in the middle of "change language": its menu is home
            assert home.node == "language"
        else:
            assert home.node == ("place_type" if slots.get("locality") else "province")
        assert home.language == before.language
        assert dict(home.slots) == {
            k: v for k, v in slots.items()
            if k in ("language", "consent", "province", "territory", "locality") and v}
    assert not home.screen.body.split("\n")[-1].startswith("0. ")
    assert run([*keys, "00", "0"]).screen == home.screen
    assert updates(home) == updates(before)
    assert answers(home) == answers(before)


@PROPERTY_SETTINGS
@given(keys=deep_key_lists, profile=profiles, resume=resumes)
def test_replay_is_deterministic(keys, profile, resume):
    result = run(keys, profile, resume)
    assert run(keys, profile, resume) == result
    if result.node != "resume":
        # What the gateway saves (path and its profile) replays to the same place and screen;
        # only the error line may differ, when the saved path ends on an invalid input.
        replayed = run(result.path, result.profile)
        assert (replayed.node, replayed.slots) == (result.node, result.slots)
        assert without_error_line(replayed.screen.body, result.language) == without_error_line(
            result.screen.body, result.language)


@PROPERTY_SETTINGS
@given(data=st.data(), extra=key_lists, profile=profiles, resume=resumes)
def test_a_path_that_reached_end_keeps_its_effects(data, extra, profile, resume):
    # A random caller: mostly keys of the screen shown, sometimes anything; until an END.
    path: list[str] = []
    result = run(path, profile, resume)
    while not result.screen.end and len(path) < 80:
        shown = choice_keys(result.screen.body)
        path.append(data.draw(st.sampled_from(shown * 6 + KEYS), label="key"))
        result = run(path, profile, resume)
    assume(result.screen.end)
    later = run([*path, *extra], profile, resume)
    assert later.effects == result.effects
    assert later.screen == result.screen
    assert later.node == result.node
    if result.node == "thanks":
        assert result.answered >= 4  # contact, trust, respect, change at least


# --- A small made-up flow: no language menu, no consent, a branch to an END -------------------

SCALES: dict[str, dict[str, Any]] = {
    "contact": {"kind": "yesno", "labels": ["yes", "no"], "good": 1},
    "trust": {"kind": "ordinal", "labels": ["trust_1", "trust_2", "trust_3", "trust_4"],
              "dont_know": "9", "dont_know_label": "dont_know"},
}


def question(node_id: str, code: str, next_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": "question", "type": "type", "unit": "unit",
            "indicator": code, "next": next_id, **extra}


MINI_FLOW = Flow.from_dict({
    "version": "mini-1",
    "start": "home",
    "types": [{"code": "police", "label": "type_police"},
              {"code": "justice", "label": "type_justice"}],
    "indicators": [
        {"code": code, "prompt": f"q_{code}", "types": ["police", "justice"], "scale": scale}
        for code, scale in SCALES.items()
    ],
    "nodes": [
        {"id": "home", "kind": "router", "routes": [{"present": "locality", "next": "type"}],
         "next": "province"},
        {"id": "province", "kind": "location", "prompt": "ask_province", "next": "territory"},
        {"id": "territory", "kind": "location", "parent": "province", "prompt": "ask_territory",
         "next": "locality"},
        {"id": "locality", "kind": "location", "parent": "territory", "prompt": "ask_locality",
         "next": "type"},
        {"id": "type", "kind": "type", "prompt": "ask_type", "next": "unit"},
        {"id": "unit", "kind": "unit", "location": "locality", "type": "type",
         "prompt": "ask_unit", "next": "q_contact"},
        question("q_contact", "contact", "q_trust", branches={"2": "bye"}),
        question("q_trust", "trust", "thanks"),
        {"id": "bye", "kind": "end", "prompt": "bye"},
        {"id": "thanks", "kind": "end", "prompt": "thanks"},
    ],
})
MINI_CATALOG = Catalog({"fr": {**CATALOG.messages["fr"], "bye": "Au revoir, {inst}."}})


def run_mini(text: str, profile: Profile = FIRST_TIME) -> Result:
    return run(text, profile, flow=MINI_FLOW, catalog=MINI_CATALOG)


def test_the_small_flow_passes_flows_check():
    assert MINI_FLOW.languages == ("fr",)
    assert MINI_FLOW.consent_version == ""
    assert flows.check.problems(MINI_FLOW, MINI_CATALOG, DIRECTORY, LIMIT, set()) == []


@pytest.mark.parametrize(
    ("text", "end", "body"),
    [
        # The router passes through: the first screen is the province list, with no way back.
        ("", False, lines("Choisissez votre province:", "1. Nord-Kivu", "2. Ituri")),
        ("1", False, NK_TERRITORIES_FR_1),
        ("1*0", False, lines("Choisissez votre province:", "1. Nord-Kivu", "2. Ituri")),
        ("1*1*2", False, lines(
            "Quel service evaluer?", "1. Police (PNC)", "2. Justice (tribunaux)", "0. Retour")),
        ("1*1*2*1", False, lines(
            "Quel service exactement?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo",
            "0. Retour")),
        # A branch to an END, with the placeholder filled in.
        ("1*1*2*2*1*2", True, "Au revoir, la justice."),
        ("1*1*2*2*1*1*4", True, THANKS_FR),
    ],
)
def test_the_small_flow_screens(text, end, body):
    assert run_mini(text).screen == Screen(end, body)


def test_the_small_flow_records_answers_but_never_a_profile():
    """Without a consent node nobody consents, so no UpdateProfile (rule 7)."""
    result = run_mini("1*1*2*2*1*1*9")
    assert result.effects == (
        RecordAnswer("justice:contact", "justice", "NK-V-GOM-PQ", KARISIMBI, "contact", "1", 1),
        RecordAnswer("justice:trust", "justice", "NK-V-GOM-PQ", KARISIMBI, "trust", "9", None),
    )
    branched = run_mini("1*1*2*2*1*2")
    assert branched.effects == branched.answers
    assert [(a.step, a.value) for a in branched.answers] == [("justice:contact", 2)]


def test_the_small_flow_routes_a_known_place_past_the_location_lists():
    # A language outside the catalog is ignored; the place of last time is kept (`present`).
    result = run_mini("", Profile("sw", None, KARISIMBI))
    assert result.node == "type"
    assert result.language == "fr"
    assert result.screen.body == lines(
        "Quel service evaluer?", "1. Police (PNC)", "2. Justice (tribunaux)")
    assert [a.location_code for a in run_mini("1*2*1", Profile(None, None, KARISIMBI)).answers] \
        == [KARISIMBI]


# --- Directory edge cases: no unit here, the nearest ancestor, a place with no children -------

SMALL = Directory.build(
    [
        Item("P1", "Alpha"),
        Item("P2", "Béta"),
        Item("T1", "Tau", "P1"),
        Item("L1", "Lima", "T1"),
        Item("L2", "Kilo", "T1"),
    ],
    [
        (Item("U1", "Poste Lima"), "police", "L1"),
        (Item("U2", "Poste Béta"), "police", "P2"),
        (Item("J1", "Tribunal Tau"), "justice", "T1"),
        (Item("J2", "Parquet Alpha"), "justice", "P1"),
        (Item("A1", "Administration Kilo"), "administration", "L2"),
    ],
)


def run_small(text: str, profile: Profile = FIRST_TIME) -> Result:
    return run(text, profile, directory=SMALL)


@pytest.mark.parametrize(
    ("location", "institution_type", "units"),
    [
        ("L1", "police", ["U1"]),
        ("L2", "police", []),  # nowhere up the tree
        ("L2", "justice", ["J1"]),  # the territory's, not the province's
        ("T1", "justice", ["J1"]),
        ("P1", "justice", ["J2"]),
        ("L1", "administration", []),
        ("L2", "administration", ["A1"]),
        ("P2", "police", ["U2"]),
        ("NOWHERE", "police", []),
    ],
)
def test_units_for_takes_the_nearest_ancestor_that_has_one(location, institution_type, units):
    assert [u.code for u in SMALL.units_for(location, institution_type)] == units


def test_small_directory_structure():
    assert SMALL.children[None] == ("P1", "P2")
    assert [i.code for i in SMALL.child_items("T1")] == ["L1", "L2"]
    assert SMALL.child_items("L1") == []


def test_a_locality_with_no_unit_of_that_type_ends_politely():
    # Alpha -> Tau (its only territory, passed through) -> Kilo.
    assert run_small("1*1*1").screen.body == lines(
        "Chefferie, secteur ou commune:", "1. Lima", "2. Kilo", "0. Retour")
    result = run_small("1*1*1*2*1")
    assert result.screen == Screen(True, "Aucun service de ce type n'est enregistre ici. Merci.")
    assert result.answers == ()
    assert run_small("1*1*1*2*1*0*3").screen == result.screen  # an END is final


def test_a_unit_is_found_at_the_nearest_ancestor():
    result = run_small("1*1*1*2*2*2")
    assert [(a.unit_code, a.location_code, a.value) for a in result.answers] == [
        ("J1", "L2", 2)]


def test_a_place_without_children_keeps_the_parent_choice():
    result = run_small("1*1*2")
    assert result.screen.body == TYPES_FR
    assert result.slots["locality"] == "P2"
    assert [(a.unit_code, a.location_code) for a in run_small("1*1*2*1*2").answers] == [
        ("U2", "P2")]
    # Remembered as such, and offered again with its name folded to ASCII.
    assert updates(run_small("1*1*2"))[0].locality == "P2"
    assert run_small("", returning("fr", "P2")).screen.body == place_type_fr("Beta", back=False)

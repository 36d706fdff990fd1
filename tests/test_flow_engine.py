"""The pure replay engine (`flows/`), driven by the real `config/`: input path in, screen out.

Tables of *AT `text` -> expected screen body*, the effects a path asks the gateway to store, and
properties (hypothesis) that every path, however garbled, gives a screen that fits a USSD phone.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flows
import flows.check
from flows import Catalog, Directory, Flow, Item, RecordAnswer, Result, Screen
from flows.engine import Context
from gateway.configdata import directory_from_files, load_catalog, load_flow

CONFIG = Path(__file__).resolve().parent.parent / "config"
FLOW = load_flow(CONFIG)
CATALOG = load_catalog(CONFIG)
DIRECTORY = directory_from_files(CONFIG)
LANGUAGES = CATALOG.languages
LIMIT = 160


def run(
    text: str,
    language: str = "fr",
    flow: Flow = FLOW,
    catalog: Catalog = CATALOG,
    directory: Directory = DIRECTORY,
) -> Result:
    """Replay an Africa's Talking `text` the way the webhook splits it."""
    path = text.split("*") if text else []
    return flows.run(flow, path, Context(catalog, directory, language, LIMIT))


def lines(*rows: str) -> str:
    return "\n".join(rows)


def invalid(body: str, language: str = "fr") -> str:
    return CATALOG.text(language, "invalid_choice") + "\n" + body


# --- French screens, exactly as a caller sees them --------------------------------------------

PROVINCES = lines("Avis citoyen. Choisissez votre province:", "1. Nord-Kivu", "2. Ituri")
NK_TERRITORIES_1 = lines(
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
NK_TERRITORIES_2 = lines(
    "Territoire ou ville:", "7. Nyiragongo", "8. Rutshuru", "9. Walikale", "0. Retour"
)
ITURI_TERRITORIES = lines(
    "Territoire ou ville:",
    "1. Bunia (ville)",
    "2. Aru",
    "3. Djugu",
    "4. Irumu",
    "5. Mahagi",
    "6. Mambasa (territoire)",
    "0. Retour",
)
GOMA_COMMUNES = lines("Chefferie, secteur ou commune:", "1. Goma", "2. Karisimbi", "0. Retour")
TYPES = lines(
    "Quel service voulez-vous evaluer?",
    "1. Police (PNC)",
    "2. Justice (tribunal, parquet)",
    "3. Administration locale",
    "0. Retour",
)
KARISIMBI_POLICE = lines(
    "Quel service exactement?", "1. Police (PNC) Katindo", "2. Police (PNC) Majengo", "0. Retour"
)
GOMA_JUSTICE = lines(
    "Quel service exactement?", "1. Parquet de Goma", "2. Tribunal de paix", "0. Retour"
)
QUESTION = lines(
    "Ce trimestre, comment jugez-vous ce service?",
    "1. Tres mauvais",
    "2. Mauvais",
    "3. Moyen",
    "4. Bon",
    "5. Tres bon",
    "9. Ne sais pas",
    "0. Retour",
)
THANKS = "Merci! Votre avis est enregistre de facon anonyme. Il aide a ameliorer les services."


@pytest.mark.parametrize(
    ("text", "end", "body"),
    [
        ("", False, PROVINCES),
        ("1", False, NK_TERRITORIES_1),
        ("1*98", False, NK_TERRITORIES_2),
        ("1*1", False, GOMA_COMMUNES),
        ("1*1*1", False, TYPES),
        # Commune de Goma has one police unit: it is chosen without a screen.
        ("1*1*1*1", False, QUESTION),
        ("1*1*1*1*3", True, THANKS),
        ("2", False, ITURI_TERRITORIES),
        ("1*1*1*2", False, GOMA_JUSTICE),
    ],
)
def test_french_golden_path(text, end, body):
    result = run(text)
    assert result.screen.body == body
    assert result.screen.end is end
    assert result.screen.wire() == ("END " if end else "CON ") + body


def test_golden_path_records_one_answer():
    result = run("1*1*1*1*3")
    assert result.effects == (
        RecordAnswer(
            step="police:satisfaction",
            institution_type="police",
            unit_code="NK-V-GOM-GOM-PNC",
            location_code="NK-V-GOM-GOM",
            indicator="satisfaction",
            option="3",
            value=3,
        ),
    )
    assert result.node == "thanks"


@pytest.mark.parametrize("text", ["", "1", "1*98", "1*1", "1*1*1", "1*1*1*1", "1*1*2*1"])
def test_no_answer_before_the_question_is_answered(text):
    assert run(text).effects == ()


@pytest.mark.parametrize(
    ("text", "body"),
    [
        # 0: back one screen; a no-op at the start (and no error either).
        ("0", PROVINCES),
        ("0*0", PROVINCES),
        ("1*0", PROVINCES),
        ("1*1*0", NK_TERRITORIES_1),
        ("1*98*0", NK_TERRITORIES_1),
        ("1*98*0*0", PROVINCES),
        ("1*1*1*0", GOMA_COMMUNES),
        # Back from the question skips the unit that was passed through without a screen.
        ("1*1*1*1*0", TYPES),
        ("1*1*2*1*1*0", KARISIMBI_POLICE),
        ("1*1*2*1*0", TYPES),
        ("1*1*0*2", lines(
            "Chefferie, secteur ou commune:",
            "1. Bulengera",
            "2. Kimemi",
            "3. Mususa",
            "4. Vulamba",
            "0. Retour",
        )),
        # Choosing on page 2 and going back returns to page 2, not page 1.
        ("1*98*7*0", NK_TERRITORIES_2),
        # 00: home from anywhere, with an empty back stack and page 1 again.
        ("00", PROVINCES),
        ("1*1*00", PROVINCES),
        ("1*1*1*1*00", PROVINCES),
        ("1*98*00", PROVINCES),
        ("1*98*00*1", NK_TERRITORIES_1),
        ("1*1*1*00*0", PROVINCES),
        ("1*1*00*2", ITURI_TERRITORIES),
        # Page 2 continues the global numbering: its keys select as shown.
        ("1*98*8", lines("Chefferie, secteur ou commune:", "1. Bwisha", "2. Bwito", "0. Retour")),
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
        ("x", invalid(PROVINCES)),
        ("3", invalid(PROVINCES)),
        ("98", invalid(PROVINCES)),  # one page only: there is no next page
        ("1*", invalid(NK_TERRITORIES_1)),  # an empty reply
        ("1*10", invalid(NK_TERRITORIES_1)),
        ("1*98*98", invalid(NK_TERRITORIES_2)),  # no page 3
        ("1*98*x", invalid(NK_TERRITORIES_2)),  # the error keeps the page
        ("2*98", invalid(ITURI_TERRITORIES)),
        ("2*7", invalid(ITURI_TERRITORIES)),
        ("1*1*1*4", invalid(TYPES)),
        ("1*1*1*1*6", invalid(QUESTION)),
        ("1*1*1*1*98", invalid(QUESTION)),
        ("1*1*1*1*x*y", invalid(QUESTION)),
        ("1*1*2*1*3", invalid(KARISIMBI_POLICE)),
        # An invalid input earlier in the path leaves no trace.
        ("x*1", NK_TERRITORIES_1),
        ("1*x*1", GOMA_COMMUNES),
        ("1*98*98*0", NK_TERRITORIES_1),
        ("1*abc*98", NK_TERRITORIES_2),
        ("1*1*x*0", NK_TERRITORIES_1),
        ("x*00", PROVINCES),
        ("1*1*1*1*7*3", THANKS),
    ],
)
def test_invalid_input_reasks_with_error_only_when_last(text, body):
    assert run(text).screen.body == body


def test_invalid_input_changes_no_slot_and_records_nothing():
    assert run("1*1*1*1*6").slots == run("1*1*1*1").slots
    assert run("1*1*1*1*6").effects == ()


def test_dial_through_gives_the_last_hop_of_a_session():
    """`*123*1*1*2*1*2*4#` arrives with the whole path on hop one."""
    text = "1*1*2*1*2*4"
    hops = [run("*".join(text.split("*")[:n])) for n in range(len(text.split("*")) + 1)]
    assert [hop.screen.end for hop in hops] == [False] * 6 + [True]
    dialled = run(text)
    assert dialled == hops[-1]
    assert dialled.screen.body == THANKS
    assert [e.unit_code for e in dialled.effects] == ["NK-V-GOM-KAR-PNC2"]


def test_single_child_location_is_passed_through():
    """Nyiragongo has one collectivity (Bukumu): no screen for it, and back skips it too."""
    result = run("1*98*7")
    assert result.screen.body == TYPES
    assert result.node == "type"
    assert result.slots["territory"] == "NK-T-NYI"
    assert result.slots["locality"] == "NK-T-NYI-BUK"
    assert run("1*98*7*0").screen.body == NK_TERRITORIES_2


def test_locality_with_several_police_units_offers_a_choice():
    result = run("1*1*2*1")
    assert result.node == "unit"
    assert result.screen.body == KARISIMBI_POLICE
    # Karisimbi has one administration unit: no choice there.
    assert run("1*1*2*3").screen.body == QUESTION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1*1*1*1*3", ("police:satisfaction", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM", "3", 3)),
        ("1*1*1*1*1", ("police:satisfaction", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM", "1", 1)),
        ("1*1*1*1*5", ("police:satisfaction", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM", "5", 5)),
        # 9 = don't know: recorded, with no value (kept out of every denominator).
        ("1*1*1*1*9", ("police:satisfaction", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM", "9", None)),
        ("1*1*2*1*1*2", ("police:satisfaction", "NK-V-GOM-KAR-PNC", "NK-V-GOM-KAR", "2", 2)),
        ("1*1*2*1*2*4", ("police:satisfaction", "NK-V-GOM-KAR-PNC2", "NK-V-GOM-KAR", "4", 4)),
        ("1*1*2*3*5", ("administration:satisfaction", "NK-V-GOM-KAR-ADM", "NK-V-GOM-KAR", "5", 5)),
        ("1*1*1*2*1*2", ("justice:satisfaction", "NK-V-GOM-PQ", "NK-V-GOM-GOM", "2", 2)),
        # Justice in Bukumu is the territory's tribunal de paix (nearest ancestor with one),
        # but the answer is about the caller's locality.
        ("1*98*7*2*4", ("justice:satisfaction", "NK-T-NYI-TP", "NK-T-NYI-BUK", "4", 4)),
        ("2*1*2*1*2*3", ("police:satisfaction", "IT-V-BUN-NYA-PNC2", "IT-V-BUN-NYA", "3", 3)),
        # Back to the type screen before answering: only the final choice counts.
        ("1*1*1*1*0*3*2", ("administration:satisfaction", "NK-V-GOM-GOM-ADM", "NK-V-GOM-GOM",
         "2", 2)),
        ("1*1*1*1*x*2", ("police:satisfaction", "NK-V-GOM-GOM-PNC", "NK-V-GOM-GOM", "2", 2)),
    ],
)
def test_answer_effect(text, expected):
    step, unit, location, option, value = expected
    result = run(text)
    assert result.screen.end is True
    assert len(result.effects) == 1
    (effect,) = result.effects
    assert effect.step == step
    assert effect.institution_type == step.split(":")[0]
    assert effect.indicator == "satisfaction"
    assert effect.unit_code == unit
    assert effect.location_code == location
    assert effect.option == option
    assert effect.value == value


@pytest.mark.parametrize("extra", ["0", "00", "1", "x", "98", "00*1*1*1*1*5", "0*0*0*4"])
def test_inputs_after_end_are_ignored(extra):
    base = run("1*1*1*1*3")
    after = run("1*1*1*1*3*" + extra)
    assert after.screen == base.screen
    assert after.effects == base.effects
    assert after.node == "thanks"


def test_whitespace_around_inputs_is_tolerated():
    ctx = Context(CATALOG, DIRECTORY, "fr", LIMIT)
    padded = flows.run(FLOW, [" 1", "1 ", " 2\t", " 1 ", "2", " 4 "], ctx)
    assert padded == run("1*1*2*1*2*4")
    assert flows.run(FLOW, ["1", " 98 "], ctx).screen.body == NK_TERRITORIES_2
    assert flows.run(FLOW, ["1", "1", " 0 "], ctx).screen.body == NK_TERRITORIES_1
    assert flows.run(FLOW, ["1", "1", " 00"], ctx).screen.body == PROVINCES


# --- Kiswahili and Lingala --------------------------------------------------------------------

SCREENS_IN_OTHER_LANGUAGES = {
    "sw": {
        "": lines("Maoni ya raia. Chagua mkoa wako:", "1. Nord-Kivu", "2. Ituri"),
        # Shorter words: page 1 holds seven territories in Kiswahili.
        "1": lines(
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
        ),
        "1*98": lines("Wilaya au mji:", "8. Rutshuru", "9. Walikale", "0. Rudi"),
        "1*1": lines("Chefferie, secteur au commune:", "1. Goma", "2. Karisimbi", "0. Rudi"),
        "1*1*1": lines(
            "Unataka kutathmini huduma gani?",
            "1. Polisi (PNC)",
            "2. Mahakama (tribunal, parquet)",
            "3. Utawala wa eneo",
            "0. Rudi",
        ),
        "1*1*1*1": lines(
            "Robo hii ya mwaka, unaonaje huduma hii?",
            "1. Mbaya sana",
            "2. Mbaya",
            "3. Wastani",
            "4. Nzuri",
            "5. Nzuri sana",
            "9. Sijui",
            "0. Rudi",
        ),
        "1*1*1*1*x": lines(
            "Chaguo si sahihi.",
            "Robo hii ya mwaka, unaonaje huduma hii?",
            "1. Mbaya sana",
            "2. Mbaya",
            "3. Wastani",
            "4. Nzuri",
            "5. Nzuri sana",
            "9. Sijui",
            "0. Rudi",
        ),
        "1*1*1*1*3": (
            "Asante! Maoni yako yamehifadhiwa bila jina lako. Yanasaidia kuboresha huduma."
        ),
    },
    "ln": {
        "": lines("Makanisi ya bato. Pona etuka na yo:", "1. Nord-Kivu", "2. Ituri"),
        "1": lines(
            "Teritwale to engumba:",
            "1. Goma (ville)",
            "2. Butembo (ville)",
            "3. Beni (ville)",
            "4. Beni (territoire)",
            "5. Lubero",
            "6. Masisi",
            "98. Mosusu",
            "0. Zonga",
        ),
        "1*98": lines(
            "Teritwale to engumba:", "7. Nyiragongo", "8. Rutshuru", "9. Walikale", "0. Zonga"
        ),
        "1*1": lines("Chefferie, secteur to commune:", "1. Goma", "2. Karisimbi", "0. Zonga"),
        "1*1*1": lines(
            "Mosala nini olingi kopesela makanisi?",
            "1. Polisi (PNC)",
            "2. Bosambisi (tribunal, parquet)",
            "3. Boyangeli ya esika",
            "0. Zonga",
        ),
        "1*1*1*1": lines(
            "Na sanza misato oyo, omoni mosala oyo ndenge nini?",
            "1. Mabe mingi",
            "2. Mabe",
            "3. Kaka",
            "4. Malamu",
            "5. Malamu mingi",
            "9. Nayebi te",
            "0. Zonga",
        ),
        "1*1*1*1*x": lines(
            "Oponi malamu te.",
            "Na sanza misato oyo, omoni mosala oyo ndenge nini?",
            "1. Mabe mingi",
            "2. Mabe",
            "3. Kaka",
            "4. Malamu",
            "5. Malamu mingi",
            "9. Nayebi te",
            "0. Zonga",
        ),
        "1*1*1*1*3": (
            "Matondi! Makanisi na yo ebombami kozanga nkombo na yo. Esalisaka kobongisa misala."
        ),
    },
}


@pytest.mark.parametrize(
    ("language", "text", "body"),
    [
        (language, text, body)
        for language, table in SCREENS_IN_OTHER_LANGUAGES.items()
        for text, body in table.items()
    ],
)
def test_golden_path_in_other_languages(language, text, body):
    assert run(text, language).screen.body == body


@pytest.mark.parametrize("language", ["sw", "ln"])
def test_same_answer_whatever_the_language(language):
    assert run("1*1*2*1*2*9", language).effects == run("1*1*2*1*2*9", "fr").effects
    # Sw pages differ from fr, yet page 2 keys select the same place in every language.
    assert run("1*98*9", language).slots == run("1*98*9", "fr").slots


# --- Every screen of every language -----------------------------------------------------------

OPTION_LINE = re.compile(r"^(\d+)\. \S")
SCREEN_TEXT = re.compile(r"^[\x20-\x7e\n]*$")


def every_screen(language: str) -> list[tuple[str, Screen]]:
    return list(flows.check.screens(FLOW, Context(CATALOG, DIRECTORY, language, LIMIT)))


SCREEN_BODIES = {language: {s.body for _, s in every_screen(language)} for language in LANGUAGES}


def choice_keys(body: str) -> list[str]:
    keys = [m.group(1) for line in body.split("\n") if (m := OPTION_LINE.match(line))]
    return [k for k in keys if k not in ("0", "98")]


def test_every_language_of_the_catalog_is_walked():
    assert set(LANGUAGES) == {"fr", "sw", "ln"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_screen_fits_a_ussd_phone(language):
    screens = every_screen(language)
    where = {w for w, _ in screens}
    # The walk really reaches deep screens: page 2, unit choices, the question and END.
    assert any(w.endswith(">98") for w in where)
    assert any(">unit=" in w for w in where)
    assert any(s.end for _, s in screens)
    assert len(screens) > 500
    for where_, screen in screens:
        assert len(screen.body) <= LIMIT, where_
        assert SCREEN_TEXT.match(screen.body), where_
        if not screen.end:
            assert choice_keys(screen.body), where_
            keys = choice_keys(screen.body)
            assert len(keys) == len(set(keys)), where_


# --- Properties over arbitrary input ----------------------------------------------------------

KEYS = [str(n) for n in range(1, 16)] + ["0", "00", "98", "9", "", "abc", "*", " 2 "]
key_lists = st.lists(st.sampled_from(KEYS), max_size=14)
languages = st.sampled_from(LANGUAGES)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def as_text(keys: Sequence[str]) -> str:
    return "*".join(keys)


@PROPERTY_SETTINGS
@given(keys=key_lists, language=languages)
def test_any_path_gives_a_screen_that_fits(keys, language):
    result = run(as_text(keys), language)
    body = result.screen.body
    assert body
    assert len(body) <= LIMIT
    assert SCREEN_TEXT.match(body)
    if not result.screen.end:
        assert choice_keys(body)
    # flows check proves every screen fits only if it walks every screen a caller can reach.
    assert body in SCREEN_BODIES[language]
    for effect in result.effects:
        assert effect.value in (1, 2, 3, 4, 5, None)
        assert effect.option == ("9" if effect.value is None else str(effect.value))
        assert effect.unit_code in {
            u.code for u in DIRECTORY.units_for(effect.location_code, effect.institution_type)
        }


@PROPERTY_SETTINGS
@given(keys=key_lists, language=languages)
def test_replay_is_deterministic(keys, language):
    assert run(as_text(keys), language) == run(as_text(keys), language)


@PROPERTY_SETTINGS
@given(
    noise=key_lists,
    answer=st.sampled_from(["1*1*1*1*3", "1*1*2*1*2*9", "1*98*7*2*5", "2*3*1*3*1"]),
    extra=key_lists,
    language=languages,
)
def test_effects_of_a_finished_path_are_final(noise, answer, extra, language):
    # Whatever came before, 00 then a complete answer ends the session on an END screen.
    finished = as_text([*noise, "00", answer])
    done = run(finished, language)
    assert done.screen.end is True
    assert len(done.effects) == 1
    later = run(as_text([finished, *extra]), language)
    assert later.effects == done.effects
    assert later.screen == done.screen


# --- A flow with two questions: back, home and answering again --------------------------------


def two_question_world() -> tuple[Flow, Catalog]:
    with (CONFIG / "survey.toml").open("rb") as fh:
        data = tomllib.load(fh)
    data["indicators"].append({
        "code": "trust",
        "prompt": "q_trust",
        "types": ["police", "justice", "administration"],
        "scale": {"kind": "yesno", "labels": ["yes", "no"]},
    })
    for node in data["nodes"]:
        if node["id"] == "q_satisfaction":
            node["next"] = "q_trust"
    data["nodes"].append({
        "id": "q_trust", "kind": "question", "type": "type", "unit": "unit",
        "indicator": "trust", "prompt": "q_trust", "next": "thanks",
    })
    catalog = Catalog({
        language: {**table, "q_trust": "Trust?", "yes": "Yes", "no": "No"}
        for language, table in CATALOG.messages.items()
    })
    return Flow.from_dict(data), catalog


def run_two(text: str) -> Result:
    flow, catalog = two_question_world()
    return run(text, flow=flow, catalog=catalog)


def values(result: Result) -> list[tuple[str, str, str, int | None]]:
    return [(e.step, e.unit_code, e.option, e.value) for e in result.effects]


def test_two_question_flow_is_valid():
    flow, catalog = two_question_world()
    assert flows.check.problems(flow, catalog, DIRECTORY, LIMIT, set()) == []


def test_going_back_and_answering_again_replaces_the_answer():
    first = run_two("1*1*1*1*3")
    assert first.node == "q_trust"
    assert values(first) == [("police:satisfaction", "NK-V-GOM-GOM-PNC", "3", 3)]
    assert run_two("1*1*1*1*3*0").screen.body == QUESTION
    assert values(run_two("1*1*1*1*3*0*5*1")) == [
        ("police:satisfaction", "NK-V-GOM-GOM-PNC", "5", 5),
        ("police:trust", "NK-V-GOM-GOM-PNC", "1", 1),
    ]
    assert values(run_two("1*1*1*1*3*0*9*2")) == [
        ("police:satisfaction", "NK-V-GOM-GOM-PNC", "9", None),
        ("police:trust", "NK-V-GOM-GOM-PNC", "2", 2),
    ]


def test_answers_survive_home_and_the_same_step_is_replaced():
    # Home, then the police of another locality: still one police:satisfaction, the latest.
    result = run_two("1*1*1*1*3*00*1*1*2*1*1*2*1")
    assert result.screen.end is True
    assert values(result) == [
        ("police:satisfaction", "NK-V-GOM-KAR-PNC", "2", 2),
        ("police:trust", "NK-V-GOM-KAR-PNC", "1", 1),
    ]
    # Home, then another institution type: both answers stand.
    result = run_two("1*1*1*1*3*00*1*1*1*3*4*1")
    assert values(result) == [
        ("police:satisfaction", "NK-V-GOM-GOM-PNC", "3", 3),
        ("administration:satisfaction", "NK-V-GOM-GOM-ADM", "4", 4),
        ("administration:trust", "NK-V-GOM-GOM-ADM", "1", 1),
    ]


# --- Directory edge cases: no unit here, a place with no children -----------------------------

SMALL = Directory.build(
    [
        Item("P1", "Alpha"),
        Item("P2", "Beta"),
        Item("T1", "Tau", "P1"),
        Item("L1", "Lima", "T1"),
        Item("L2", "Kilo", "T1"),
    ],
    [
        (Item("U1", "Poste Lima"), "police", "L1"),
        (Item("U2", "Poste Beta"), "police", "P2"),
        (Item("J1", "Tribunal Tau"), "justice", "T1"),
    ],
)


def run_small(text: str) -> Result:
    return run(text, directory=SMALL)


def test_a_locality_with_no_unit_of_that_type_ends_politely():
    assert run_small("1").screen.body == lines(
        "Chefferie, secteur ou commune:", "1. Lima", "2. Kilo", "0. Retour"
    )
    result = run_small("1*2*1")
    assert result.screen.end is True
    assert result.screen.body == "Aucun service de ce type n'est enregistre ici. Merci."
    assert result.effects == ()
    assert run_small("1*2*1*0*1").screen == result.screen


def test_a_unit_is_found_at_the_nearest_ancestor():
    result = run_small("1*2*2*4")
    assert [(e.unit_code, e.location_code, e.value) for e in result.effects] == [("J1", "L2", 4)]


def test_a_place_without_children_keeps_the_parent_choice():
    result = run_small("2")
    assert result.screen.body == TYPES
    assert result.slots["locality"] == "P2"
    assert [(e.unit_code, e.location_code) for e in run_small("2*1*5").effects] == [("U2", "P2")]

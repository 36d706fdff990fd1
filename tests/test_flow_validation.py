"""Validation of flow data (`Flow.from_dict`, `flows.check.problems`) and the screen helpers.

Broken survey or catalog data must be refused with a problem that names what is wrong, so that
program staff can fix `config/` before start-up serves a broken flow.
"""

from __future__ import annotations

import copy
import tomllib
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import Catalog, Directory, Flow, FlowError, Item
from flows.check import MAX_LIST, problems
from flows.screens import Option, paginate, render, to_ascii
from gateway.app import GATEWAY_MESSAGES
from gateway.configdata import (
    directory_from_files,
    load_catalog,
    load_flow,
    read_locations,
    read_units,
)

CONFIG = Path(__file__).resolve().parent.parent / "config"
CATALOG = load_catalog(CONFIG)
DIRECTORY = directory_from_files(CONFIG)

with (CONFIG / "survey.toml").open("rb") as _fh:
    SURVEY: dict[str, Any] = tomllib.load(_fh)


def survey() -> dict[str, Any]:
    return copy.deepcopy(SURVEY)


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in data["nodes"] if n["id"] == node_id)
    return found


def scale(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data["indicators"][0]["scale"]
    return found


def catalog_with(change: Callable[[dict[str, dict[str, str]]], None]) -> Catalog:
    messages = {lang: dict(table) for lang, table in CATALOG.messages.items()}
    change(messages)
    return Catalog(messages)


def flow_problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(FlowError) as caught:
        Flow.from_dict(data)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


# --- The real config --------------------------------------------------------------------------


def test_real_config_has_no_problems():
    flow = load_flow(CONFIG)
    assert flow.version == SURVEY["version"]
    assert flow.start == "province"
    assert problems(flow, CATALOG, DIRECTORY, 160, GATEWAY_MESSAGES) == []


def test_real_config_covers_every_institution_type_in_every_locality():
    """No caller of the real gazetteer hits the 'no unit here' dead end."""
    flow = load_flow(CONFIG)
    collectivities = [code for code, item in DIRECTORY.locations.items()
                      if item.parent is not None and item.parent not in DIRECTORY.children[None]]
    assert collectivities
    for code in collectivities:
        for institution_type, _ in flow.types:
            assert DIRECTORY.units_for(code, institution_type), (code, institution_type)


# --- Flow.from_dict: structure ----------------------------------------------------------------


def set_next_missing(data: dict[str, Any]) -> None:
    node(data, "type")["next"] = "nowhere"


def set_start_missing(data: dict[str, Any]) -> None:
    data["start"] = "accueil"


def drop_start(data: dict[str, Any]) -> None:
    del data["start"]


def drop_indicator(data: dict[str, Any]) -> None:
    del node(data, "q_satisfaction")["indicator"]


def unknown_indicator(data: dict[str, Any]) -> None:
    node(data, "q_satisfaction")["indicator"] = "trust"


def dont_know_zero(data: dict[str, Any]) -> None:
    scale(data)["dont_know"] = "0"


def dont_know_home(data: dict[str, Any]) -> None:
    scale(data)["dont_know"] = "00"


def dont_know_more(data: dict[str, Any]) -> None:
    scale(data)["dont_know"] = "98"


def dont_know_clashes(data: dict[str, Any]) -> None:
    scale(data)["dont_know"] = "5"


def unknown_scale_kind(data: dict[str, Any]) -> None:
    scale(data)["kind"] = "stars"


def yesno_with_three(data: dict[str, Any]) -> None:
    scale(data)["kind"] = "yesno"
    scale(data)["labels"] = ["yes", "no", "maybe"]
    del scale(data)["dont_know"]
    del scale(data)["dont_know_label"]


def ordinal_with_one(data: dict[str, Any]) -> None:
    scale(data)["labels"] = ["scale5_1"]


def dont_know_without_label(data: dict[str, Any]) -> None:
    del scale(data)["dont_know_label"]


def unknown_type(data: dict[str, Any]) -> None:
    data["indicators"][0]["types"] = ["police", "health"]


def no_types(data: dict[str, Any]) -> None:
    data["types"] = []


def duplicate_node(data: dict[str, Any]) -> None:
    data["nodes"].append(dict(node(data, "thanks")))


def unknown_kind(data: dict[str, Any]) -> None:
    node(data, "type")["kind"] = "menu"


def slot_of_wrong_kind(data: dict[str, Any]) -> None:
    node(data, "unit")["location"] = "type"


def slot_missing(data: dict[str, Any]) -> None:
    node(data, "q_satisfaction")["unit"] = "units"


def parent_missing(data: dict[str, Any]) -> None:
    node(data, "locality")["parent"] = "district"


def no_prompt(data: dict[str, Any]) -> None:
    del node(data, "type")["prompt"]


def unit_without_location(data: dict[str, Any]) -> None:
    del node(data, "unit")["location"]


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (set_next_missing, "node type: next 'nowhere' does not exist"),
        (set_start_missing, "start node 'accueil' does not exist"),
        (drop_start, "start node '' does not exist"),
        (drop_indicator, "node q_satisfaction: question needs indicator"),
        (unknown_indicator, "node q_satisfaction: indicator 'trust' does not exist"),
        (dont_know_zero, "indicator satisfaction: option keys may not be 0, 00 or 98"),
        (dont_know_home, "indicator satisfaction: option keys may not be 0, 00 or 98"),
        (dont_know_more, "indicator satisfaction: option keys may not be 0, 00 or 98"),
        (dont_know_clashes, "indicator satisfaction: option keys are not unique"),
        (unknown_scale_kind, "indicator satisfaction: scale kind must be ordinal or yesno"),
        (yesno_with_three, "indicator satisfaction: a yes/no scale has exactly two labels"),
        (ordinal_with_one, "indicator satisfaction: an ordinal scale has 2 to 9 points"),
        (dont_know_without_label,
         "indicator satisfaction: dont_know and dont_know_label go together"),
        (unknown_type, "indicator satisfaction: unknown or missing types ['health']"),
        (no_types, "survey: no institution types"),
        (duplicate_node, "node thanks: defined twice"),
        (unknown_kind, "node type: kind must be one of location, type, unit, question, end"),
        (slot_of_wrong_kind, "node unit: location 'type' is not a location node"),
        (slot_missing, "node q_satisfaction: unit 'units' does not exist"),
        (parent_missing, "node locality: parent 'district' does not exist"),
        (no_prompt, "node type: needs a prompt"),
        (unit_without_location, "node unit: unit needs location"),
    ],
)
def test_broken_flow_is_refused_with_a_named_problem(break_it, problem):
    data = survey()
    break_it(data)
    assert problem in flow_problems(data)


def test_every_problem_is_named_at_once():
    data = survey()
    set_next_missing(data)
    dont_know_more(data)
    drop_indicator(data)
    found = flow_problems(data)
    assert "node type: next 'nowhere' does not exist" in found
    assert "indicator satisfaction: option keys may not be 0, 00 or 98" in found
    assert "node q_satisfaction: question needs indicator" in found


def test_a_type_without_its_label_is_a_named_problem():
    """Staff deleting a line of survey.toml get a sentence, not a KeyError traceback."""
    data = survey()
    del data["types"][1]["label"]
    found = flow_problems(data)
    assert any("justice" in p for p in found), found


# --- flows.check.problems: catalog and screens -------------------------------------------------


def check(catalog: Catalog, limit: int = 160, directory: Directory = DIRECTORY) -> list[str]:
    return problems(load_flow(CONFIG), catalog, directory, limit, GATEWAY_MESSAGES)


def test_a_message_missing_in_one_language_is_named():
    def drop(messages: dict[str, dict[str, str]]) -> None:
        del messages["sw"]["nav_back"]

    assert check(catalog_with(drop)) == ["catalog sw: message 'nav_back' missing"]


@pytest.mark.parametrize("message_id", ["ask_unit", "dont_know", "invalid_choice", "unavailable"])
def test_every_kind_of_message_is_required(message_id):
    """Flow prompts, scale labels, engine messages and gateway messages alike."""

    def drop(messages: dict[str, dict[str, str]]) -> None:
        del messages["ln"][message_id]

    assert check(catalog_with(drop)) == [f"catalog ln: message {message_id!r} missing"]


def test_a_non_ascii_message_is_named():
    def accent(messages: dict[str, dict[str, str]]) -> None:
        messages["fr"]["ask_type"] = "Sécurité: quel service?"

    assert check(catalog_with(accent)) == ["catalog fr: message 'ask_type' is not printable ASCII"]


@pytest.mark.parametrize("text", ["Merci\u2019", "\u00abOui\u00bb", "Tab\there", "Line\r\n"])
def test_non_gsm_or_control_characters_are_refused(text):
    def change(messages: dict[str, dict[str, str]]) -> None:
        messages["ln"]["thanks"] = text

    assert check(catalog_with(change)) == ["catalog ln: message 'thanks' is not printable ASCII"]


def test_a_screen_over_a_small_limit_names_language_and_screen():
    found = check(CATALOG, limit=60)
    # The French province menu (with its "98. Suite" at this limit) is 63 characters.
    assert "fr start: 63 characters > 60" in found
    assert "sw start (after an invalid input): 73 characters > 60" in found
    assert all(p.split(" ", 1)[0] in CATALOG.languages for p in found)
    assert not check(CATALOG, limit=160)


def test_a_long_label_deep_in_the_tree_is_found():
    """Bunia -> Nyakasanza -> police, a choice of two units: one renamed far too long."""
    locations = read_locations(CONFIG)
    units = read_units(CONFIG, {loc.code for loc in locations})
    long_name = "Sous-commissariat de la Police nationale congolaise de " + "Lumumba " * 12
    directory = Directory.build(
        [Item(loc.code, loc.ussd_name, loc.parent) for loc in locations],
        [(Item(u.code, long_name if u.code == "IT-V-BUN-NYA-PNC2" else u.ussd_name), u.type,
          u.location) for u in units],
    )
    found = check(CATALOG, directory=directory)
    assert found
    for language in CATALOG.languages:
        assert any(
            p.startswith(f"{language} start>province=2>territory=1>locality=2>type=1")
            for p in found
        ), found
    assert all("characters > 160" in p for p in found)


def test_a_list_too_long_to_number_is_named():
    provinces = [Item(f"P{i}", f"Province {i}") for i in range(MAX_LIST + 1)]
    directory = Directory.build(provinces, [(Item("U", "Unit"), "police", "P0")])
    assert f"directory: top level has {MAX_LIST + 1} children (max {MAX_LIST})" in check(
        CATALOG, directory=directory
    )


# --- to_ascii ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ascii"),
    [
        ("Sécurité", "Securite"),
        ("Irumu", "Irumu"),
        ("Ndo-Okébo", "Ndo-Okebo"),
        ("l\u2019État", "l'Etat"),
        ("\u2018oui\u2019", "'oui'"),
        ("\u00abOui\u00bb", '"Oui"'),
        ("\u00ab\u00a0Oui\u00a0\u00bb", '" Oui "'),  # French spacing: no-break spaces
        ("\u0153uvre", "oeuvre"),
        ("\u0152UVRE", "OEUVRE"),
        ("Ça va, garçon, où êtes-vous? Noël", "Ca va, garcon, ou etes-vous? Noel"),
        ("\u201cBon\u201d", '"Bon"'),  # curly double quotes, straightened like the single ones
        ("Beni\u2013Mbau", "Beni-Mbau"),  # an en dash from a spreadsheet keeps the words apart
        ("Attendez\u2026", "Attendez..."),
    ],
)
def test_to_ascii_folds_to_printable_ascii(text, ascii):
    assert to_ascii(text) == ascii


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_to_ascii_always_gives_screen_text(text):
    folded = to_ascii(text)
    assert all(32 <= ord(ch) < 127 for ch in folded)
    plain = "".join(ch for ch in text if 32 <= ord(ch) < 127)
    if plain == text:
        assert folded == text  # printable ASCII is left alone
    # Accents go, letters stay: every ASCII letter or digit of the text survives, in order.
    letters = [ch for ch in unicodedata.normalize("NFKD", text) if ch.isascii() and ch.isalnum()]
    remaining = iter(folded)
    assert all(ch in remaining for ch in letters)


# --- paginate ---------------------------------------------------------------------------------

HEADER = ["Choix invalide.", "Territoire ou ville:"]  # the worst case: error line shown
MORE = "98. Suite"
BACK = "0. Retour"
label_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                     min_size=1, max_size=40)


def pages_of(labels: list[str], limit: int) -> tuple[list[Option], list[list[Option]]]:
    options = [Option(str(i + 1), label, f"code-{i}") for i, label in enumerate(labels)]
    return options, paginate(HEADER, options, MORE, BACK, limit)


def body(page: list[Option], more: bool) -> str:
    return render(HEADER, page, "Suite" if more else None, "Retour")


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(label_text, max_size=60), limit=st.integers(min_value=110, max_value=182))
def test_paginate_fits_every_page_and_keeps_every_option_once(labels, limit):
    options, pages = pages_of(labels, limit)
    assert [o for page in pages for o in page] == options
    assert all(pages) or pages == [[]]
    for number, page in enumerate(pages):
        last = number == len(pages) - 1
        assert len(body(page, more=not last)) <= limit
        if not last:
            # Greedy: the next page's first option would not have fitted here.
            nxt = pages[number + 1][0]
            still_more = nxt is not options[-1]
            assert len(body([*page, nxt], more=still_more)) > limit


def test_paginate_without_options_gives_one_empty_page():
    assert paginate(HEADER, [], MORE, BACK, 160) == [[]]

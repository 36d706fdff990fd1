"""Validation of flow data (`Flow.from_dict`, `flows.check.problems`) and the screen helpers.

Broken survey or catalog data must be refused with a problem that names what is wrong, so that
program staff can fix `config/` before start-up serves a broken flow.
"""

from __future__ import annotations

import copy
import re
import tomllib
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flows
from flows import Catalog, Directory, Flow, FlowError, Item
from flows.check import MAX_LIST, Walked, problems, screens, walk
from flows.engine import Context
from flows.screens import Option, paginate, render, to_ascii
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
EXTRA_MESSAGES = {"unavailable", "bad_request", "limit_reached"}  # the gateway's own screens

with (CONFIG / "survey.toml").open("rb") as _fh:
    SURVEY: dict[str, Any] = tomllib.load(_fh)


def survey() -> dict[str, Any]:
    return copy.deepcopy(SURVEY)


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in data["nodes"] if n["id"] == node_id)
    return found


def indicator(data: dict[str, Any], code: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in data["indicators"] if i["code"] == code)
    return found


def scale(data: dict[str, Any], code: str) -> dict[str, Any]:
    found: dict[str, Any] = indicator(data, code)["scale"]
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


def test_real_config_loads():
    flow = load_flow(CONFIG)
    assert flow.version == SURVEY["version"]
    assert flow.consent_version == SURVEY["consent_version"]
    assert flow.start == "home"
    assert flow.languages == ("fr", "sw", "ln")
    assert CATALOG.languages == ("fr", "ln", "sw")  # French first: the reference and fallback
    assert [code for code, _ in flow.types] == ["police", "justice", "administration"]
    assert flow.location_chain() == ["province", "territory", "locality"]
    assert problems(flow, CATALOG, DIRECTORY, 160, EXTRA_MESSAGES) == []


def test_real_survey_follows_the_instruments():
    """survey-items.md: contact first (eligibility), bribe only after contact, trust and respect
    of everyone, the change question always; 9 = don't know where it belongs."""
    flow = load_flow(CONFIG)
    roles = {code: ind.role for code, ind in flow.indicators.items()}
    assert roles == {"contact": "eligibility", "bribe": "score", "trust": "score",
                     "respect": "score", "change": "change"}
    contact = flow.indicators["contact"].scale
    assert (contact.kind, contact.good, contact.dont_know) == ("yesno", 1, None)
    bribe = flow.indicators["bribe"].scale
    assert (bribe.kind, bribe.good, bribe.dont_know) == ("yesno", 2, "9")
    for code, points in [("trust", 4), ("respect", 4), ("change", 3)]:
        ordinal = flow.indicators[code].scale
        assert (ordinal.kind, ordinal.points, ordinal.dont_know) == ("ordinal", points, "9")
    assert flow.node("q_contact").branches == {"1": "q_bribe"}
    assert flow.node("q_contact").next == "q_trust"
    assert flow.node("q_bribe").next == "q_trust"


def test_real_config_covers_every_institution_type_in_every_locality():
    """No caller of the real gazetteer hits the 'no unit here' dead end."""
    flow = load_flow(CONFIG)
    localities = [code for code in DIRECTORY.locations if code not in DIRECTORY.children]
    assert len(localities) > 50
    for code in localities:
        for institution_type, _ in flow.types:
            assert DIRECTORY.units_for(code, institution_type), (code, institution_type)


def test_translations_are_marked_for_review():
    for language in ("sw", "ln"):
        with (CONFIG / "messages" / f"{language}.toml").open("rb") as fh:
            meta = tomllib.load(fh)["meta"]
        assert "NEEDS REVIEW" in meta["review"]


# --- Flow.from_dict: structure ----------------------------------------------------------------


def next_missing(data: dict[str, Any]) -> None:
    node(data, "type")["next"] = "nowhere"


def start_missing(data: dict[str, Any]) -> None:
    data["start"] = "accueil"


def drop_start(data: dict[str, Any]) -> None:
    del data["start"]


def drop_indicator(data: dict[str, Any]) -> None:
    del node(data, "q_trust")["indicator"]


def unknown_indicator(data: dict[str, Any]) -> None:
    node(data, "q_trust")["indicator"] = "satisfaction"


def dont_know_zero(data: dict[str, Any]) -> None:
    scale(data, "trust")["dont_know"] = "0"


def dont_know_home(data: dict[str, Any]) -> None:
    scale(data, "trust")["dont_know"] = "00"


def dont_know_more(data: dict[str, Any]) -> None:
    scale(data, "trust")["dont_know"] = "98"


def dont_know_clashes(data: dict[str, Any]) -> None:
    scale(data, "trust")["dont_know"] = "4"


def unknown_scale_kind(data: dict[str, Any]) -> None:
    scale(data, "trust")["kind"] = "stars"


def yesno_with_three(data: dict[str, Any]) -> None:
    scale(data, "contact")["labels"] = ["yes", "no", "dont_know"]


def yesno_without_good(data: dict[str, Any]) -> None:
    del scale(data, "contact")["good"]


def yesno_good_out_of_range(data: dict[str, Any]) -> None:
    scale(data, "contact")["good"] = 3


def ordinal_with_one(data: dict[str, Any]) -> None:
    scale(data, "trust")["labels"] = ["trust_1"]


def ordinal_with_ten(data: dict[str, Any]) -> None:
    scale(data, "trust")["labels"] = [f"trust_{i % 4 + 1}" for i in range(10)]


def dont_know_without_label(data: dict[str, Any]) -> None:
    del scale(data, "trust")["dont_know_label"]


def unknown_type(data: dict[str, Any]) -> None:
    indicator(data, "trust")["types"] = ["police", "health"]


def indicator_without_types(data: dict[str, Any]) -> None:
    del indicator(data, "trust")["types"]


def unknown_role(data: dict[str, Any]) -> None:
    indicator(data, "contact")["role"] = "filter"


def indicator_twice(data: dict[str, Any]) -> None:
    data["indicators"].append(copy.deepcopy(indicator(data, "trust")))


def no_types(data: dict[str, Any]) -> None:
    data["types"] = []


def type_twice(data: dict[str, Any]) -> None:
    data["types"].append(dict(data["types"][0]))


def no_languages(data: dict[str, Any]) -> None:
    data["languages"] = []


def duplicate_node(data: dict[str, Any]) -> None:
    data["nodes"].append(dict(node(data, "thanks")))


def node_without_id(data: dict[str, Any]) -> None:
    del node(data, "thanks")["id"]


def unknown_kind(data: dict[str, Any]) -> None:
    node(data, "type")["kind"] = "form"


def slot_of_wrong_kind(data: dict[str, Any]) -> None:
    node(data, "unit")["location"] = "type"


def question_type_of_wrong_kind(data: dict[str, Any]) -> None:
    node(data, "q_trust")["type"] = "unit"


def unit_missing(data: dict[str, Any]) -> None:
    node(data, "q_trust")["unit"] = "units"


def parent_missing(data: dict[str, Any]) -> None:
    node(data, "locality")["parent"] = "district"


def no_prompt(data: dict[str, Any]) -> None:
    del node(data, "type")["prompt"]


def language_without_prompt(data: dict[str, Any]) -> None:
    del node(data, "language")["prompt"]


def unit_without_location(data: dict[str, Any]) -> None:
    del node(data, "unit")["location"]


def router_without_next(data: dict[str, Any]) -> None:
    del node(data, "home")["next"]


def route_with_both(data: dict[str, Any]) -> None:
    node(data, "home")["routes"][0]["present"] = "locality"


def route_with_neither(data: dict[str, Any]) -> None:
    del node(data, "home")["routes"][1]["missing"]


def route_to_nowhere(data: dict[str, Any]) -> None:
    node(data, "home")["routes"][2]["next"] = "nowhere"


def menu_without_options(data: dict[str, Any]) -> None:
    node(data, "another")["options"] = []


def option_to_nowhere(data: dict[str, Any]) -> None:
    node(data, "another")["options"][1]["next"] = "nowhere"


def static_option_to_nowhere(data: dict[str, Any]) -> None:
    node(data, "place_type")["options"][0]["next"] = "elsewhere"


def menu_option_without_next(data: dict[str, Any]) -> None:
    del node(data, "consent")["options"][1]["next"]


def branch_to_nowhere(data: dict[str, Any]) -> None:
    node(data, "q_contact")["branches"] = {"1": "nowhere"}


def branch_key_not_an_option(data: dict[str, Any]) -> None:
    node(data, "q_contact")["branches"] = {"1": "q_bribe", "9": "q_trust"}


def options_on_a_question(data: dict[str, Any]) -> None:
    node(data, "q_trust")["options"] = [{"key": "5", "label": "other_place", "value": "x"}]


def slot_of_another_kind(data: dict[str, Any]) -> None:
    node(data, "place_type")["slot"] = "unit"


def static_key_more(data: dict[str, Any]) -> None:
    node(data, "place_type")["options"][0]["key"] = "98"


def static_key_back(data: dict[str, Any]) -> None:
    node(data, "place_type")["options"][1]["key"] = "0"


def menu_key_home(data: dict[str, Any]) -> None:
    node(data, "consent")["options"][1]["key"] = "00"


def menu_keys_twice(data: dict[str, Any]) -> None:
    node(data, "another")["options"][1]["key"] = "1"


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (next_missing, "node type: next goes to 'nowhere', which does not exist"),
        (start_missing, "start node 'accueil' does not exist"),
        (drop_start, "start node '' does not exist"),
        (drop_indicator, "node q_trust: question needs indicator"),
        (unknown_indicator, "node q_trust: indicator 'satisfaction' does not exist"),
        (dont_know_zero, "indicator trust: option keys may not be 0, 00 or 98"),
        (dont_know_home, "indicator trust: option keys may not be 0, 00 or 98"),
        (dont_know_more, "indicator trust: option keys may not be 0, 00 or 98"),
        (dont_know_clashes, "indicator trust: option keys are not unique"),
        (unknown_scale_kind, "indicator trust: scale kind must be ordinal or yesno"),
        (yesno_with_three, "indicator contact: a yes/no scale has two labels and good = 1 or 2"),
        (yesno_without_good,
         "indicator contact: a yes/no scale has two labels and good = 1 or 2"),
        (yesno_good_out_of_range,
         "indicator contact: a yes/no scale has two labels and good = 1 or 2"),
        (ordinal_with_one, "indicator trust: an ordinal scale has 2 to 9 points"),
        (ordinal_with_ten, "indicator trust: an ordinal scale has 2 to 9 points"),
        (dont_know_without_label, "indicator trust: dont_know and dont_know_label go together"),
        (unknown_type, "indicator trust: unknown or missing types ['health']"),
        (indicator_without_types, "indicator trust: unknown or missing types []"),
        (unknown_role, "indicator contact: role must be one of score, eligibility, change"),
        (indicator_twice, "indicator trust: defined twice"),
        (no_types, "survey: no institution types"),
        (type_twice, "survey: institution type codes are not unique"),
        (no_languages, "survey: no languages"),
        (duplicate_node, "node thanks: defined twice"),
        (node_without_id, "a node has no id"),
        (unknown_kind,
         "node type: kind must be one of router, language, menu, location, type, unit, "
         "question, end"),
        (slot_of_wrong_kind, "node unit: location 'type' is not a location node"),
        (question_type_of_wrong_kind, "node q_trust: type 'unit' is not a type node"),
        (unit_missing, "node q_trust: unit 'units' does not exist"),
        (parent_missing, "node locality: parent 'district' does not exist"),
        (no_prompt, "node type: type needs prompt"),
        (language_without_prompt, "node language: language needs prompt"),
        (unit_without_location, "node unit: unit needs location"),
        (router_without_next, "node home: router needs next"),
        (route_with_both, "node home: each route needs exactly one of missing or present"),
        (route_with_neither, "node home: each route needs exactly one of missing or present"),
        (route_to_nowhere, "node home: route goes to 'nowhere', which does not exist"),
        (menu_without_options, "node another: a menu needs options"),
        (option_to_nowhere, "node another: option 2 goes to 'nowhere', which does not exist"),
        (static_option_to_nowhere,
         "node place_type: option 4 goes to 'elsewhere', which does not exist"),
        (menu_option_without_next,
         "node consent: every option needs a next when the menu has none"),
        (branch_to_nowhere, "node q_contact: branch 1 goes to 'nowhere', which does not exist"),
        (branch_key_not_an_option, "node q_contact: branch 9 is not an option of contact"),
        (options_on_a_question, "node q_trust: a question node takes no options"),
        (slot_of_another_kind, "node place_type: slot 'unit' belongs to a unit node"),
        (static_key_more, "node place_type: option keys may not be 0, 00 or 98"),
        (static_key_back, "node place_type: option keys may not be 0, 00 or 98"),
        (menu_key_home, "node consent: option keys may not be 0, 00 or 98"),
        (menu_keys_twice, "node another: option keys are not unique"),
    ],
)
def test_broken_flow_is_refused_with_a_named_problem(break_it, problem):
    data = survey()
    break_it(data)
    assert problem in flow_problems(data)


def test_every_problem_is_named_at_once():
    data = survey()
    next_missing(data)
    dont_know_more(data)
    drop_indicator(data)
    route_with_both(data)
    static_key_more(data)
    found = flow_problems(data)
    assert "node type: next goes to 'nowhere', which does not exist" in found
    assert "indicator trust: option keys may not be 0, 00 or 98" in found
    assert "node q_trust: question needs indicator" in found
    assert "node home: each route needs exactly one of missing or present" in found
    assert "node place_type: option keys may not be 0, 00 or 98" in found


def test_a_type_without_its_label_is_a_named_problem():
    """Staff deleting a line of survey.toml get a sentence, not a KeyError traceback."""
    data = survey()
    del data["types"][1]["label"]
    assert "type justice: needs a code and a label" in flow_problems(data)


def test_the_unchanged_survey_is_accepted():
    flow = Flow.from_dict(survey())
    assert set(flow.nodes) == {n["id"] for n in SURVEY["nodes"]}
    assert flow.node("place_type").slot_name == "type"
    assert flow.node("type").slot_name == "type"


# --- flows.check.problems: catalog and screens -------------------------------------------------


def check(
    catalog: Catalog,
    limit: int = 160,
    directory: Directory = DIRECTORY,
    data: dict[str, Any] | None = None,
) -> list[str]:
    flow = Flow.from_dict(data) if data is not None else load_flow(CONFIG)
    return problems(flow, catalog, directory, limit, EXTRA_MESSAGES)


# A screen problem: "<language> <path>: <rule>", and " (and N more paths)" when other paths show
# the same node (same language) breaking the same rule: reported once, on the first path walked.
SCREEN_PROBLEM = re.compile(
    r"(?P<where>(?P<language>fr|sw|ln) [^:]+): (?P<rule>.+?)(?: \(and (?P<more>\d+) more paths\))?")

# The screen rules of `problems`, by the words that start their sentence.
RULES: dict[str, Callable[[Walked, int], bool]] = {
    "longer than": lambda w, limit: len(w.screen.body) > limit,
    "not printable ASCII": lambda w, limit: not re.fullmatch(r"[\x20-\x7e\n]*", w.screen.body),
    "option keys collide": lambda w, limit: len(set(w.keys)) != len(w.keys),
    "pages": lambda w, limit: w.pages > 1 and not w.pageable,
}


def screen_problems(found: list[str]) -> list[re.Match[str]]:
    matches = [SCREEN_PROBLEM.fullmatch(p) for p in found]
    assert all(matches), [p for p, m in zip(found, matches, strict=True) if m is None]
    return [m for m in matches if m is not None]


def walked(
    limit: int = 160, directory: Directory = DIRECTORY, data: dict[str, Any] | None = None
) -> list[Walked]:
    """Every walked screen, in the order `problems` meets them."""
    flow = Flow.from_dict(data) if data is not None else load_flow(CONFIG)
    shown = list(walk(flow, Context(CATALOG, directory, "fr", limit)))
    assert [(w.name, w.screen) for w in shown] == list(
        screens(flow, Context(CATALOG, directory, "fr", limit)))
    return shown


def by_name(shown: list[Walked]) -> dict[str, list[Walked]]:
    """The walked screens by the name `problems` gives them (long paths are shortened, so one
    name may stand for several screens)."""
    named: dict[str, list[Walked]] = {}
    for w in shown:
        named.setdefault(w.name, []).append(w)
    return named


def breaking(shown: list[Walked], language: str, node: str, rule: str, limit: int = 160
             ) -> list[Walked]:
    """The walked screens of `node` in `language` that break `rule`, in walk order."""
    return [w for w in shown
            if (w.language, w.node) == (language, node) and RULES[rule](w, limit)]


def reported(group: list[Walked], rule: str) -> str:
    """The one report for a group: its first path and rule, and how many more paths show it."""
    assert group
    more = len(group) - 1
    return f"{group[0].name}: {rule}" + (f" (and {more} more paths)" if more else "")


def walked_screen_reports(found: list[str]) -> list[str]:
    """The reports about walked screens (not Continue / Restart, not the gateway's messages)."""
    other = re.compile(r"\w+ (resume|message \w+): \d+ characters > \d+")
    return [p for p in found if not other.fullmatch(p)]


def groups(shown: list[Walked], limit: int) -> set[tuple[str, str, str]]:
    """Each (language, node, rule) that some walked screen breaks: one report each."""
    return {(w.language, w.node, rule) for w in shown for rule, breaks in RULES.items()
            if breaks(w, limit)}


def test_a_message_missing_in_one_language_is_named():
    def drop(messages: dict[str, dict[str, str]]) -> None:
        del messages["sw"]["nav_back"]

    assert check(catalog_with(drop)) == ["catalog sw: message 'nav_back' missing"]


@pytest.mark.parametrize(
    "message_id",
    [
        "ask_unit",  # a node prompt
        "consent_notice",  # a menu prompt
        "other_place",  # a static option
        "type_justice",  # an institution type
        "inst_administration",  # the {inst} of a question
        "q_bribe",  # a question
        "prefer_not",  # a "don't know" label
        "change_3",  # a scale label
        "invalid_choice",  # the engine's own
        "resume_restart",
        "language_name",
        "unavailable",  # the gateway's own
    ],
)
def test_every_kind_of_message_is_required(message_id):
    def drop(messages: dict[str, dict[str, str]]) -> None:
        del messages["ln"][message_id]

    assert check(catalog_with(drop)) == [f"catalog ln: message {message_id!r} missing"]


def test_a_survey_language_without_a_catalog_is_named():
    without_lingala = Catalog({k: v for k, v in CATALOG.messages.items() if k != "ln"})
    assert check(without_lingala) == ["survey: language ln has no catalog"]
    data = survey()
    data["languages"] = ["fr", "sw", "ln", "rw"]
    assert check(CATALOG, data=data) == ["survey: language rw has no catalog"]


def test_a_missing_default_language_is_named():
    def drop(messages: dict[str, dict[str, str]]) -> None:
        del messages["fr"]

    found = check(catalog_with(drop))
    assert "catalog: default language 'fr' missing" in found
    assert "survey: language fr has no catalog" in found


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
    assert {p.split(" ", 1)[0] for p in found} == {"fr", "sw", "ln"}
    shown = walked(limit=60)
    # One report per language, node and rule, however many paths show it.
    broken = groups(shown, 60)
    assert len(walked_screen_reports(found)) == len(broken)
    assert {language for language, _, _ in broken} == {"fr", "sw", "ln"}
    # The language menu is the first screen; at 60 characters it would need three pages. It is
    # reported once for French, on the first path, counting the other paths that show the menu
    # (its error line, its pages, and the "change language" menu of every place) rather than
    # naming each.
    menus = breaking(shown, "fr", "language", "pages", 60)
    assert menus[0].name == "fr start"
    assert menus == [w for w in shown if (w.language, w.node) == ("fr", "language")]
    assert len(menus) > 100
    assert {w.pages for w in menus} == {3}
    assert reported(menus, "pages (3 pages), but only place and unit lists may") in found
    assert any(w.name == "fr start>98" for w in menus)
    assert not [p for p in found if p.startswith("fr start>98")]
    # Under the error line the menu's first page is too long as well: a second rule, reported
    # once too.
    long_menus = breaking(shown, "fr", "language", "longer than", 60)
    assert long_menus[0].name == "fr start (after an invalid input)"
    assert reported(long_menus, f"longer than 60 characters ({len(long_menus[0].screen.body)})"
                    ) in found
    assert {rule for language, node, rule in broken if (language, node) == ("fr", "language")
            } == {"pages", "longer than"}
    # Continue / Restart, and the gateway's own messages, are checked in every language.
    resume = "\n".join(CATALOG.text("fr", m)
                       for m in ("resume_prompt", "resume_continue", "resume_restart"))
    assert f"fr resume: {len(resume) + 6} characters > 60" in found  # "1. ", "2. "
    unavailable = CATALOG.text("fr", "unavailable")
    assert f"fr message unavailable: {len(unavailable)} characters > 60" in found
    assert not check(CATALOG, limit=160)


def test_a_screen_that_pages_where_it_must_not_is_named():
    """At 150 characters the consent notice no longer fits with its two options: a menu may not
    page (only place and unit lists do), in any language."""
    found = check(CATALOG, limit=150)
    shown = walked(limit=150)
    assert len(walked_screen_reports(found)) == len(groups(shown, 150))
    for language, key in [("fr", "1"), ("sw", "2"), ("ln", "3")]:
        # Its second page and both pages under the error line show the same node: reported once.
        notices = breaking(shown, language, "consent", "pages", 150)
        first = f"{language} start>language={key}"
        assert sorted(w.name for w in notices) == [
            first, f"{first} (after an invalid input)",
            f"{first}>98", f"{first}>98 (after an invalid input)"]
        assert notices[0].name == first
        assert reported(notices, "pages (2 pages), but only place and unit lists may") in found
        assert not [p for p in found if p.startswith(f"{first}>98")]
        # The province list, right after consent, fits.
        assert not breaking(shown, language, "province", "pages", 150)
        assert not breaking(shown, language, "province", "longer than", 150)
    assert not any("start>language=1>consent=1:" in p for p in found)


def test_a_static_option_colliding_with_the_list_is_named():
    data = survey()
    node(data, "place_type")["options"][0]["key"] = "3"  # "3. Administration locale" too
    found = check(CATALOG, data=data)
    assert found
    reports = screen_problems(found)
    assert {m["rule"] for m in reports} == {"option keys collide"}
    # One report per language, naming the "<place>: which service?" node, counting every place.
    assert sorted(m["language"] for m in reports) == ["fr", "ln", "sw"]
    shown = walked(data=data)
    named = by_name(shown)
    for m in reports:
        language = m["language"]
        assert {w.node for w in named[m["where"]]} == {"place_type"}, m[0]
        colliding = breaking(shown, language, "place_type", "option keys collide")
        assert m[0] == reported(colliding, "option keys collide")
        ask_type_here = CATALOG.text(language, "ask_type_here").replace("{place}", "")
        for w in colliding:
            rows = w.screen.body.split("\n")
            assert [row[:3] for row in rows].count("3. ") == 2, w.name
            assert rows[0].endswith(ask_type_here), w.name
        # Every place's type screen, as shown without the error line, collides.
        places = {w.screen.body.split("\n")[0] for w in colliding}
        assert places == {w.screen.body.split("\n")[0] for w in shown
                          if (w.language, w.node) == (language, "place_type") and w.keys}
    fr_places = {w.screen.body.split("\n")[0]
                 for w in breaking(shown, "fr", "place_type", "option keys collide")}
    assert "Karisimbi: quel service?" in fr_places


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
    reports = screen_problems(found)
    # One report per language: the unit list, with and without the error line, on every path.
    assert sorted(m["language"] for m in reports) == ["fr", "ln", "sw"]
    shown = walked(directory=directory)
    named = by_name(shown)
    flow = load_flow(CONFIG)
    for m in reports:
        language = m["language"]
        key = str(("fr", "sw", "ln").index(language) + 1)
        assert {w.node for w in named[m["where"]]} == {"unit"}, m[0]
        listing = breaking(shown, language, "unit", "longer than")
        assert all(long_name.strip() in w.screen.body for w in listing)
        assert m[0] == reported(
            listing, f"longer than 160 characters ({len(listing[0].screen.body)})")
        # Among the paths counted: a first-time caller's (as its second page), with and without
        # the error line, and rating the same place again.
        bodies = {w.screen.body for w in listing}
        first_pick = f"{key}*1*2*1*2*1*98"  # Ituri, Bunia, Nyakasanza, police, page 2
        again = f"{key}*1*2*1*2*1*1*1*2*3*3*3*1*1*98"  # unit 1, answers, same place, police
        for path in (first_pick, f"{first_pick}*x", again):
            result = flows.run(flow, path.split("*"), Context(CATALOG, directory, "fr", 160))
            assert (result.node, result.language) == ("unit", language), path
            assert result.screen.body in bodies, path
        assert any(w.screen.body.startswith(CATALOG.text(language, "invalid_choice") + "\n")
                   for w in listing)


def test_a_list_too_long_to_number_is_named():
    provinces = [Item(f"P{i}", f"Province {i}") for i in range(MAX_LIST + 1)]
    directory = Directory.build(provinces, [(Item("U", "Unit"), "police", "P0")])
    assert f"directory: top level has {MAX_LIST + 1} children (max {MAX_LIST})" in check(
        CATALOG, directory=directory
    )


def test_too_many_units_in_one_place_is_named():
    places = [Item("P", "Place")]
    units = [(Item(f"U{i}", f"U{i}"), "police", "P") for i in range(MAX_LIST + 1)]
    directory = Directory.build(places, units)
    assert f"directory: P/police has {MAX_LIST + 1} units (max {MAX_LIST})" in check(
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
        ("Bahema d'Irumu", "Bahema d'Irumu"),
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


def test_paginate_keeps_the_same_breaks_with_or_without_the_error_line():
    """The header passed is always the worst case, so a page never depends on what came before:
    the screen with the error line shown fits the limit with the same options."""
    options = [Option(str(i + 1), f"Territoire numero {i + 1}", i) for i in range(20)]
    pages = paginate(HEADER, options, MORE, BACK, 160)
    assert len(pages) > 2
    for number, page in enumerate(pages):
        more = "Suite" if number < len(pages) - 1 else None
        assert len(render(HEADER, page, more, "Retour")) <= 160
        assert len(render(HEADER[1:], page, more, None)) < 160

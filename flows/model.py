"""Flow definitions as validated data.

A flow is a set of nodes read from `config/survey.toml`; a catalog holds every message of every
language; a directory holds the locations and institution units a caller can pick. All three are
plain, immutable data built by the gateway and handed to the engine, which never does I/O.

Node kinds:
- `router`: no screen; goes to the first route whose condition holds (a slot missing or present),
  else to `next`. The caller's profile pre-fills slots (language, consent, last place).
- `language`: the survey's languages; the choice fills the slot `language`, the screens' language.
- `menu`: static options from the flow (each with its own `next`, a value and slots to clear).
- `location`, `type`, `unit`: lists from the directory and the survey, numbered 1..n, optionally
  followed by static options with explicit keys (e.g. "other place").
- `question`: an indicator's scale; the option number is the value; `branches` route by option.
- `end`: a final screen.

Rules checked by `Flow.from_dict` (structure) and `flows.check` (screens):
- every `next`, route, branch and option target, and every slot a node reads, names an existing node
  of the right kind, and the start node exists;
- option keys are unique within a node and never `0`, `00` or `98` (reserved for navigation);
- every message id a node uses exists in every language, in printable ASCII.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

NodeKind = Literal["router", "language", "menu", "location", "type", "unit", "question", "end"]
NODE_KINDS: tuple[str, ...] = (
    "router", "language", "menu", "location", "type", "unit", "question", "end",
)
INDICATOR_ROLES = ("score", "eligibility", "change")
RESERVED_KEYS = frozenset({"0", "00", "98"})
BACK, HOME, MORE = "0", "00", "98"
LANGUAGE_SLOT = "language"
PLACEHOLDERS = ("{inst}", "{Inst}", "{place}")


class FlowError(ValueError):
    """A flow, catalog or directory breaks one of the rules above; `problems` lists each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Scale:
    """An answer scale: ordinal 1..points (option number = value, 1 worst) or yes/no.

    `labels` are message ids, one per point. `dont_know` is the key of the "don't know / prefer not
    to say" option (its value is None, kept out of every denominator), or None when not offered.
    `good` is, for a yes/no scale, the value that counts as positive.
    """

    kind: Literal["ordinal", "yesno"]
    points: int
    labels: tuple[str, ...]
    dont_know: str | None = None
    dont_know_label: str | None = None
    good: int | None = None

    def options(self) -> list[tuple[str, str, int | None]]:
        """(key, message id, value) for every option, in screen order."""
        opts: list[tuple[str, str, int | None]] = [
            (str(i + 1), label, i + 1) for i, label in enumerate(self.labels)
        ]
        if self.dont_know is not None and self.dont_know_label is not None:
            opts.append((self.dont_know, self.dont_know_label, None))
        return opts


@dataclass(frozen=True)
class Indicator:
    code: str
    prompt: str
    scale: Scale
    types: tuple[str, ...]
    role: str = "score"  # score | eligibility (asked to route, not scored) | change


@dataclass(frozen=True)
class MenuOption:
    key: str
    label: str  # message id
    value: str  # stored in the node's slot
    next: str | None = None  # overrides the node's `next`
    clear: tuple[str, ...] = ()  # slots emptied when chosen (e.g. "other place")
    commit: bool = False  # once chosen, `0` cannot go back past it (consent)


@dataclass(frozen=True)
class Route:
    next: str
    missing: str | None = None  # taken when this slot is empty
    present: str | None = None  # taken when this slot is filled

    def holds(self, slots: Mapping[str, str]) -> bool:
        if self.missing is not None:
            return not slots.get(self.missing)
        if self.present is not None:
            return bool(slots.get(self.present))
        return True


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    prompt: str = ""
    next: str | None = None
    parent: str | None = None  # location: the node whose choice is the parent; None = top level
    location: str | None = None  # unit: the node holding the chosen locality
    type: str | None = None  # unit, question: the node holding the chosen institution type
    unit: str | None = None  # question: the node holding the chosen unit
    indicator: str | None = None  # question: the indicator asked
    options: tuple[MenuOption, ...] = ()  # menu: its options; lists: static options after the list
    routes: tuple[Route, ...] = ()  # router
    branches: Mapping[str, str] = field(default_factory=dict)  # question: option key -> next
    slot: str | None = None  # where the choice is kept (default: the node id)

    @property
    def slot_name(self) -> str:
        return self.slot or self.id


@dataclass(frozen=True)
class Flow:
    version: str
    start: str
    nodes: Mapping[str, Node]
    types: tuple[tuple[str, str], ...]  # (code, message id) in menu order
    indicators: Mapping[str, Indicator]
    languages: tuple[str, ...] = ("fr",)
    consent_version: str = ""

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def location_chain(self) -> list[str]:
        """Location node ids from the top level down (province, territory, locality)."""
        chain: list[str] = []
        parent: str | None = None
        while True:
            child = next((n.id for n in self.nodes.values()
                          if n.kind == "location" and n.parent == parent), None)
            if child is None or child in chain:
                return chain
            chain.append(child)
            parent = child

    def message_ids(self) -> set[str]:
        ids = {n.prompt for n in self.nodes.values() if n.prompt}
        ids.update(o.label for n in self.nodes.values() for o in n.options)
        ids.update(label for _, label in self.types)
        ids.update(f"inst_{code}" for code, _ in self.types)
        for ind in self.indicators.values():
            ids.add(ind.prompt)
            ids.update(label for _, label, _ in ind.scale.options())
        return ids

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Flow:
        """Build and structurally validate a flow; raise FlowError naming every problem."""
        problems: list[str] = []
        types = tuple(_type(t, problems) for t in data.get("types", []))
        if not types:
            problems.append("survey: no institution types")
        type_codes = {code for code, _ in types}
        if len(type_codes) != len(types):
            problems.append("survey: institution type codes are not unique")
        indicators: dict[str, Indicator] = {}
        for raw in data.get("indicators", []):
            ind = _indicator(raw, type_codes, problems)
            if ind is not None:
                if ind.code in indicators:
                    problems.append(f"indicator {ind.code}: defined twice")
                indicators[ind.code] = ind
        nodes: dict[str, Node] = {}
        for raw in data.get("nodes", []):
            node = _node(raw, problems)
            if node is None:
                continue
            if node.id in nodes:
                problems.append(f"node {node.id}: defined twice")
            nodes[node.id] = node
        start = str(data.get("start", ""))
        if start not in nodes:
            problems.append(f"start node {start!r} does not exist")
        for node in nodes.values():
            _check_references(node, nodes, indicators, problems)
        languages = tuple(str(x) for x in data.get("languages", ["fr"]))
        if not languages:
            problems.append("survey: no languages")
        if problems:
            raise FlowError(problems)
        return cls(
            version=str(data.get("version", "")) or "unversioned",
            start=start,
            nodes=nodes,
            types=types,
            indicators=indicators,
            languages=languages,
            consent_version=str(data.get("consent_version", "")),
        )


def _type(raw: Mapping[str, Any], problems: list[str]) -> tuple[str, str]:
    code, label = str(raw.get("code", "")), str(raw.get("label", ""))
    if not code or not label:
        problems.append(f"type {code or '?'}: needs a code and a label")
    return code, label


def _indicator(
    raw: Mapping[str, Any], type_codes: set[str], problems: list[str]
) -> Indicator | None:
    code = str(raw.get("code", ""))
    scale_raw = raw.get("scale", {})
    kind = scale_raw.get("kind")
    labels = tuple(str(x) for x in scale_raw.get("labels", []))
    if kind not in ("ordinal", "yesno"):
        problems.append(f"indicator {code}: scale kind must be ordinal or yesno")
        return None
    good = scale_raw.get("good")
    if kind == "yesno" and (len(labels) != 2 or good not in (1, 2)):
        problems.append(f"indicator {code}: a yes/no scale has two labels and good = 1 or 2")
    if kind == "ordinal" and not 2 <= len(labels) <= 9:
        problems.append(f"indicator {code}: an ordinal scale has 2 to 9 points")
    dk = scale_raw.get("dont_know")
    dk_label = scale_raw.get("dont_know_label")
    if (dk is None) != (dk_label is None):
        problems.append(f"indicator {code}: dont_know and dont_know_label go together")
    scale = Scale(kind, len(labels), labels, None if dk is None else str(dk), dk_label,
                  good if isinstance(good, int) else None)
    _check_keys(f"indicator {code}", [k for k, _, _ in scale.options()], problems)
    types = tuple(str(t) for t in raw.get("types", []))
    unknown = [t for t in types if t not in type_codes]
    if unknown or not types:
        problems.append(f"indicator {code}: unknown or missing types {unknown}")
    role = str(raw.get("role", "score"))
    if role not in INDICATOR_ROLES:
        problems.append(f"indicator {code}: role must be one of {', '.join(INDICATOR_ROLES)}")
    return Indicator(code, str(raw.get("prompt", "")), scale, types, role)


def _check_keys(where: str, keys: list[str], problems: list[str]) -> None:
    if len(set(keys)) != len(keys):
        problems.append(f"{where}: option keys are not unique")
    if RESERVED_KEYS & set(keys):
        problems.append(f"{where}: option keys may not be 0, 00 or 98")


def _node(raw: Mapping[str, Any], problems: list[str]) -> Node | None:
    node_id = str(raw.get("id", ""))
    kind = raw.get("kind")
    if not node_id:
        problems.append("a node has no id")
        return None
    if kind not in NODE_KINDS:
        problems.append(f"node {node_id}: kind must be one of {', '.join(NODE_KINDS)}")
        return None
    fields = {k: (None if raw.get(k) is None else str(raw[k])) for k in
              ("next", "parent", "location", "type", "unit", "indicator")}
    options = tuple(
        MenuOption(str(o.get("key", "")), str(o.get("label", "")), str(o.get("value", "")),
                   None if o.get("next") is None else str(o["next"]),
                   tuple(str(c) for c in o.get("clear", [])), bool(o.get("commit", False)))
        for o in raw.get("options", [])
    )
    routes = tuple(
        Route(str(r.get("next", "")), r.get("missing"), r.get("present"))
        for r in raw.get("routes", [])
    )
    branches = {str(k): str(v) for k, v in raw.get("branches", {}).items()}
    slot = None if raw.get("slot") is None else str(raw["slot"])
    return Node(id=node_id, kind=kind, prompt=str(raw.get("prompt", "")), options=options,
                routes=routes, branches=branches, slot=slot, **fields)


_REQUIRED: dict[str, tuple[str, ...]] = {
    "router": ("next",),
    "language": ("next", "prompt"),
    "menu": ("prompt",),
    "location": ("next", "prompt"),
    "type": ("next", "prompt"),
    "unit": ("next", "location", "type", "prompt"),
    "question": ("next", "type", "unit", "indicator"),
    "end": ("prompt",),
}
_SLOT_KINDS = {"parent": "location", "location": "location", "type": "type", "unit": "unit"}


def _check_references(
    node: Node, nodes: Mapping[str, Node], indicators: Mapping[str, Indicator], problems: list[str]
) -> None:
    where = f"node {node.id}"
    for attr in _REQUIRED[node.kind]:
        if not getattr(node, attr):
            problems.append(f"{where}: {node.kind} needs {attr}")
    targets = [("next", node.next)]
    targets += [(f"option {o.key}", o.next) for o in node.options]
    targets += [("route", r.next) for r in node.routes]
    targets += [(f"branch {k}", v) for k, v in node.branches.items()]
    for what, target in targets:
        if target is not None and target not in nodes:
            problems.append(f"{where}: {what} goes to {target!r}, which does not exist")
    for attr, kind in _SLOT_KINDS.items():
        target = getattr(node, attr)
        if target is None:
            continue
        if target not in nodes:
            problems.append(f"{where}: {attr} {target!r} does not exist")
        elif nodes[target].kind != kind:
            problems.append(f"{where}: {attr} {target!r} is not a {kind} node")
    if node.slot is not None and node.slot in nodes and nodes[node.slot].kind != node.kind:
        problems.append(f"{where}: slot {node.slot!r} belongs to a {nodes[node.slot].kind} node")
    if node.indicator is not None and node.indicator not in indicators:
        problems.append(f"{where}: indicator {node.indicator!r} does not exist")
    if node.kind == "menu" and not node.options:
        problems.append(f"{where}: a menu needs options")
    if node.kind == "menu" and any(o.next is None for o in node.options) and node.next is None:
        problems.append(f"{where}: every option needs a next when the menu has none")
    if node.options and node.kind not in ("menu", "location", "type", "unit"):
        problems.append(f"{where}: a {node.kind} node takes no options")
    if node.options:
        _check_keys(where, [o.key for o in node.options], problems)
    if node.kind == "router" and any((r.missing is None) == (r.present is None)
                                     for r in node.routes):
        problems.append(f"{where}: each route needs exactly one of missing or present")
    if node.branches and node.indicator is not None and node.indicator in indicators:
        keys = {k for k, _, _ in indicators[node.indicator].scale.options()}
        for key in node.branches:
            if key not in keys:
                problems.append(f"{where}: branch {key} is not an option of {node.indicator}")


@dataclass(frozen=True)
class Catalog:
    """Messages by language, then by id. Every text is printable ASCII (USSD menus drop accents)."""

    messages: Mapping[str, Mapping[str, str]]
    default_language: str = "fr"

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.messages)

    def text(self, language: str, message_id: str) -> str:
        table = self.messages.get(language) or self.messages[self.default_language]
        return table.get(message_id) or self.messages[self.default_language][message_id]

    def problems(self, required: set[str]) -> list[str]:
        found: list[str] = []
        if self.default_language not in self.messages:
            found.append(f"catalog: default language {self.default_language!r} missing")
        for lang, table in self.messages.items():
            for mid in sorted(required - set(table)):
                found.append(f"catalog {lang}: message {mid!r} missing")
            for mid, text in table.items():
                if not is_screen_text(text):
                    found.append(f"catalog {lang}: message {mid!r} is not printable ASCII")
        return found


def is_screen_text(text: str) -> bool:
    """Printable ASCII plus newlines: anything else switches a USSD screen to UCS-2."""
    return text.isascii() and text.replace("\n", "").isprintable()


@dataclass(frozen=True)
class Item:
    """A choosable thing in the directory: a location or an institution unit."""

    code: str
    label: str
    parent: str | None = None


@dataclass(frozen=True)
class Directory:
    """Locations (a tree) and institution units, as the gateway loaded them from the database.

    `children[None]` lists the top level (provinces). `units[(location_code, type)]` lists the units
    located exactly there; `units_for` applies the product rule that a locality with no unit of a
    type is served by its nearest ancestor that has one (a tribunal de paix sits in the territory).
    """

    locations: Mapping[str, Item] = field(default_factory=dict)
    children: Mapping[str | None, tuple[str, ...]] = field(default_factory=dict)
    units: Mapping[tuple[str, str], tuple[Item, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        locations: Sequence[Item],
        units: Sequence[tuple[Item, str, str]],
    ) -> Directory:
        """From locations in display order (parents first) and (unit, type, location) triples."""
        children: dict[str | None, list[str]] = {}
        for loc in locations:
            children.setdefault(loc.parent, []).append(loc.code)
        by_place: dict[tuple[str, str], list[Item]] = {}
        for unit, institution_type, location_code in units:
            by_place.setdefault((location_code, institution_type), []).append(unit)
        return cls(
            locations={loc.code: loc for loc in locations},
            children={k: tuple(v) for k, v in children.items()},
            units={k: tuple(v) for k, v in by_place.items()},
        )

    def child_items(self, parent: str | None) -> list[Item]:
        return [self.locations[c] for c in self.children.get(parent, ())]

    def units_for(self, location_code: str, institution_type: str) -> list[Item]:
        code: str | None = location_code
        while code is not None:
            found = self.units.get((code, institution_type))
            if found:
                return list(found)
            item = self.locations.get(code)
            code = item.parent if item else None
        return []

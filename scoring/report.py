"""From cell counts to the published items: institution scores, indicators and improvement.

Pure: the caller passes cells and the method; the same input always gives the same output, which
is what a locked snapshot freezes. Rules (DESIGN §6):
- one item per (level, place or unit, institution type), with every indicator of it;
- an item's `respondents` is the largest number of people who answered any one of its questions;
- small cells: below `min_respondents` an item, an indicator or an improvement keeps its counts and
  carries null values (the verdict is then `insufficient_data`); the institution score uses only the
  indicators whose values are shown;
- numbers are rounded once, here (scores 0-100 to 2 decimals, means to 3, shares and probabilities
  to 4), so every consumer sees the same digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from scoring.stats import (
    Counts,
    IndicatorStats,
    Interval,
    ScaleSpec,
    improvement,
    indicator_stats,
    institution_score,
)

LEVELS = ("province", "territory", "collectivity", "unit")  # the published levels, top down
LEVEL_ORDER = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    scale: ScaleSpec
    role: Literal["score", "eligibility", "change"] = "score"
    weight: float = 1.0


@dataclass(frozen=True)
class Method:
    version: str
    indicators: Sequence[IndicatorSpec]  # in report order
    min_respondents: int = 10
    payment_minimum: int = 30
    improvement_probability: float = 0.9
    types: Sequence[str] = ("police", "justice", "administration")

    def thresholds(self) -> dict[str, Any]:
        return {"min_respondents": self.min_respondents, "payment_minimum": self.payment_minimum,
                "improvement_probability": self.improvement_probability,
                "weights": {i.code: i.weight for i in self.indicators if i.role == "score"}}


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    level: str
    parent: str | None


@dataclass(frozen=True)
class Node:
    """Where a cell sits: a place, and the unit when the cell is a unit's."""

    level: str
    place: Place
    unit_code: str | None = None
    unit_name: str | None = None

    @property
    def code(self) -> str:
        return self.unit_code or self.place.code


@dataclass(frozen=True)
class CellInput:
    node: Node
    institution_type: str
    indicator: str
    counts: Counts


@dataclass
class _Group:
    node: Node
    institution_type: str
    counts: dict[str, Counts] = field(default_factory=dict)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _interval(ci: Interval | None, digits: int) -> list[float] | None:
    return None if ci is None else [round(ci[0], digits), round(ci[1], digits)]


def _indicator_item(spec: IndicatorSpec, stats: IndicatorStats, shown: bool) -> dict[str, Any]:
    # Only performance indicators carry a 0-100 score: contact is a filter and change is reported
    # as the improvement, so a score for them would only invite misreading.
    scored = shown and spec.role == "score"
    return {
        "code": spec.code,
        "respondents": stats.respondents,
        "dont_know": stats.dont_know,
        "suppressed": not shown,
        "mean": _round(stats.mean, 3) if shown else None,
        "mean_ci": _interval(stats.mean_ci, 3) if shown else None,
        "positive_share": _round(stats.positive_share, 4) if shown else None,
        "positive_ci": _interval(stats.positive_ci, 4) if shown else None,
        "score": _round(stats.score, 2) if scored else None,
        "score_ci": _interval(stats.score_ci, 2) if scored else None,
    }


def build_items(cells: Iterable[CellInput], method: Method) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], _Group] = {}
    for cell in cells:
        key = (cell.node.level, cell.node.code, cell.institution_type)
        group = groups.setdefault(key, _Group(cell.node, cell.institution_type))
        group.counts[cell.indicator] = cell.counts
    type_order = {t: i for i, t in enumerate(method.types)}
    ordered = sorted(groups.values(), key=lambda g: (
        type_order.get(g.institution_type, 99), LEVEL_ORDER.get(g.node.level, 9),
        g.node.place.code, g.node.unit_code or ""))
    return [_item(group, method) for group in ordered]


def _item(group: _Group, method: Method) -> dict[str, Any]:
    minimum = method.min_respondents
    respondents = max((c.respondents + c.dont_know for c in group.counts.values()), default=0)
    suppressed = respondents < minimum
    indicators = []
    parts: list[tuple[float, float | None, Interval | None]] = []
    change: Counts | None = None
    for spec in method.indicators:
        counts = group.counts.get(spec.code)
        if counts is None:
            continue
        if spec.role == "change":
            change = counts
        stats = indicator_stats(counts, spec.scale)
        shown = not suppressed and stats.respondents >= minimum
        indicators.append(_indicator_item(spec, stats, shown))
        if spec.role == "score" and shown:
            parts.append((spec.weight, stats.score, stats.score_ci))
    score, score_ci = institution_score(parts) if not suppressed else (None, None)
    place = group.node.place
    return {
        "type": group.institution_type,
        "level": group.node.level,
        "location": {"code": place.code, "name": place.name, "level": place.level,
                     "parent": place.parent},
        "unit": ({"code": group.node.unit_code, "name": group.node.unit_name}
                 if group.node.unit_code else None),
        "respondents": respondents,
        "suppressed": suppressed,
        "score": _round(score, 2),
        "score_ci": _interval(score_ci, 2),
        "indicators": indicators,
        "improvement": _improvement(change, method, suppressed),
    }


def _improvement(counts: Counts | None, method: Method, suppressed: bool) -> dict[str, Any]:
    values: Mapping[int, int] = counts.values if counts is not None else {}
    worse, same, better = values.get(1, 0), values.get(2, 0), values.get(3, 0)
    result = improvement(better, same, worse, minimum=method.payment_minimum,
                         threshold=method.improvement_probability)
    hidden = suppressed or result.respondents < method.min_respondents
    return {
        "respondents": result.respondents,
        "better": None if hidden else _round(result.better, 4),
        "same": None if hidden else _round(result.same, 4),
        "worse": None if hidden else _round(result.worse, 4),
        "net": None if hidden else _round(result.net, 4),
        "probability": None if hidden else _round(result.probability, 4),
        "verdict": "insufficient_data" if hidden else result.verdict,
    }

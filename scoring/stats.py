"""Statistics of a score cell, from its counts. Pure functions: no I/O, no database, no clock.

Definitions (DESIGN §6; the RBF engine relies on them):
- a cell holds, per answer value, how many respondents gave it, and how many said "don't know /
  prefer not to say"; don't-know answers are counted apart and kept out of every denominator;
- `respondents` = answers with a value; `mean` (ordinal scales) with a 95% t interval;
- `positive_share`: the top two points of an ordinal scale of 4 or more points, or the good answer
  of a yes/no question, with a 95% Wilson interval;
- indicator score on 0-100: 100 x (mean - 1) / (k - 1) for a k-point scale (its interval maps the
  same way), 100 x positive_share for yes/no;
- institution score: the weighted mean of its indicator scores over the indicators that have one;
  its interval adds the weighted half-widths (an upper bound whatever the correlation between
  indicators, which are answered by the same people);
- improvement, from better / same / worse: shares, net = better - worse, the probability that
  better exceeds worse under a Dirichlet(1, 1, 1) prior (P(Beta(1 + b, 1 + w) > 1/2), exact), and
  a verdict: `improved` when probability >= threshold and respondents >= the payment minimum,
  `insufficient_data` below that minimum, `not_improved` otherwise.
Intervals are None where they are undefined (no answers; a t interval below two answers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.stats import beta, norm, t

CONFIDENCE = 0.95
Interval = tuple[float, float]


@dataclass(frozen=True)
class ScaleSpec:
    """What scoring needs to know of an indicator's scale."""

    kind: Literal["ordinal", "yesno"]
    points: int
    good: int | None = None  # yes/no: the value that counts as positive


@dataclass(frozen=True)
class Counts:
    """How many respondents gave each value (1..k), and how many did not know."""

    values: Mapping[int, int]
    dont_know: int = 0

    @property
    def respondents(self) -> int:
        return sum(self.values.values())

    def __add__(self, other: Counts) -> Counts:
        merged = dict(self.values)
        for value, n in other.values.items():
            merged[value] = merged.get(value, 0) + n
        return Counts(merged, self.dont_know + other.dont_know)


@dataclass(frozen=True)
class IndicatorStats:
    respondents: int
    dont_know: int
    mean: float | None
    mean_ci: Interval | None
    positive_share: float | None
    positive_ci: Interval | None
    score: float | None
    score_ci: Interval | None


@dataclass(frozen=True)
class Improvement:
    respondents: int
    better: float | None
    same: float | None
    worse: float | None
    net: float | None
    probability: float | None
    verdict: Literal["improved", "not_improved", "insufficient_data"]


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return None
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_and_sd(counts: Counts) -> tuple[float, float | None] | None:
    n = counts.respondents
    if n == 0:
        return None
    total = sum(v * c for v, c in counts.values.items())
    mean = total / n
    if n < 2:
        return mean, None
    ss = sum(c * (v - mean) ** 2 for v, c in counts.values.items())
    return mean, math.sqrt(ss / (n - 1))


def t_interval(mean: float, sd: float, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Student t interval for a mean."""
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def positive_count(counts: Counts, scale: ScaleSpec) -> int | None:
    if scale.kind == "yesno":
        return counts.values.get(scale.good or 0, 0)
    if scale.points >= 4:
        return sum(c for v, c in counts.values.items() if v >= scale.points - 1)
    return None


def indicator_stats(counts: Counts, scale: ScaleSpec) -> IndicatorStats:
    n = counts.respondents
    mean = mean_ci = positive_share = positive_ci = score = score_ci = None
    positive = positive_count(counts, scale)
    if n and positive is not None:
        positive_share = positive / n
        positive_ci = wilson(positive, n)
    if scale.kind == "ordinal":
        found = mean_and_sd(counts)
        if found is not None:
            mean, sd = found
            k = scale.points
            if sd is not None:
                low, high = t_interval(mean, sd, n)
                mean_ci = (max(1.0, low), min(float(k), high))
            score = 100 * (mean - 1) / (k - 1)
            if mean_ci is not None:
                score_ci = (100 * (mean_ci[0] - 1) / (k - 1), 100 * (mean_ci[1] - 1) / (k - 1))
    elif positive_share is not None:
        score = 100 * positive_share
        score_ci = None if positive_ci is None else (100 * positive_ci[0], 100 * positive_ci[1])
    return IndicatorStats(n, counts.dont_know, mean, mean_ci, positive_share, positive_ci,
                          score, score_ci)


def institution_score(
    parts: Sequence[tuple[float, float | None, Interval | None]],
) -> tuple[float | None, Interval | None]:
    """Weighted mean of (weight, score, score interval) over the parts that have a score."""
    scored = [(w, s, ci) for w, s, ci in parts if s is not None and w > 0]
    total = sum(w for w, _, _ in scored)
    if not scored or total <= 0:
        return None, None
    score = sum(w * s for w, s, _ in scored) / total
    if any(ci is None for _, _, ci in scored):
        return score, None
    low = sum(w * (s - ci[0]) for w, s, ci in scored if ci is not None) / total
    high = sum(w * (ci[1] - s) for w, s, ci in scored if ci is not None) / total
    return score, (max(0.0, score - low), min(100.0, score + high))


def improvement(
    better: int, same: int, worse: int, *, minimum: int, threshold: float
) -> Improvement:
    n = better + same + worse
    if n == 0:
        return Improvement(0, None, None, None, None, None, "insufficient_data")
    probability = float(beta.sf(0.5, 1 + better, 1 + worse))
    if n < minimum:
        verdict: Literal["improved", "not_improved", "insufficient_data"] = "insufficient_data"
    elif probability >= threshold:
        verdict = "improved"
    else:
        verdict = "not_improved"
    return Improvement(n, better / n, same / n, worse / n, (better - worse) / n, probability,
                       verdict)

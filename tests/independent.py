"""An independent recomputation of published scores, for checking the engine.

It shares no code with `scoring/`: it streams the countable answers row by row (fine for test
sizes and, in chunks, for the 1M benchmark), walks the location tree its own way, and computes the
statistics with numpy, scipy and statsmodels directly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy import stats as sps
from sqlalchemy import select
from statsmodels.stats.proportion import proportion_confint

from gateway.db import Database
from gateway.models import Answer, InstitutionUnit, Location

SCALES = {"contact": ("yesno", 2, 1), "bribe": ("yesno", 2, 2), "trust": ("ordinal", 4, None),
          "respect": ("ordinal", 4, None), "change": ("ordinal", 3, None)}


def counts_by_node(db: Database, period: str) -> dict[tuple[str, str, str, str], dict[Any, int]]:
    """(level, node code, type, indicator) -> {value or None: n}, from the raw answers."""
    with db.session() as session:
        parent = {row.id: (row.code, row.level, row.parent_id)
                  for row in session.execute(select(Location.id, Location.code, Location.level,
                                                    Location.parent_id))}
        units = {row.id: (row.code, row.location_id)
                 for row in session.execute(select(InstitutionUnit.id, InstitutionUnit.code,
                                                   InstitutionUnit.location_id))}
        out: dict[tuple[str, str, str, str], dict[Any, int]] = defaultdict(
            lambda: defaultdict(int))
        stream = session.execute(
            select(Answer.unit_id, Answer.institution_type, Answer.indicator, Answer.value)
            .where(Answer.period == period).execution_options(yield_per=20000))
        for unit_id, kind, indicator, value in stream:
            code, place = units[unit_id]
            out[("unit", code, kind, indicator)][value] += 1
            while place is not None:
                pcode, level, up = parent[place]
                out[(level, pcode, kind, indicator)][value] += 1
                place = up
    return out


def expected_indicator(code: str, counts: dict[Any, int]) -> dict[str, Any]:
    kind, k, good = SCALES[code]
    values = np.repeat([v for v in counts if v is not None],
                       [counts[v] for v in counts if v is not None]).astype(float)
    n = len(values)
    out: dict[str, Any] = {"respondents": n, "dont_know": counts.get(None, 0)}
    if kind == "yesno":
        positive = int((values == good).sum())
    elif k >= 4:
        positive = int((values >= k - 1).sum())
    else:
        positive = None
    if n and positive is not None:
        low, high = proportion_confint(positive, n, alpha=0.05, method="wilson")
        out["positive_share"] = positive / n
        out["positive_ci"] = [low, high]
    if kind == "ordinal" and n:
        mean = float(values.mean())
        out["mean"] = mean
        if n >= 2:
            sem = float(sps.sem(values))
            low, high = (mean, mean) if sem == 0 else sps.t.interval(0.95, n - 1, loc=mean,
                                                                      scale=sem)
            out["mean_ci"] = [max(1.0, low), min(float(k), high)]
        out["score"] = 100 * (mean - 1) / (k - 1)
    elif kind == "yesno" and n and positive is not None:
        out["score"] = 100 * positive / n
    return out


def improvement_probability(better: int, same: int, worse: int, draws: int = 400_000) -> float:
    """P(better share > worse share) under the Dirichlet(1 + b, 1 + s, 1 + w) posterior, by
    sampling it directly (Monte Carlo error about 0.001)."""
    rng = np.random.default_rng(20261127)
    sample = rng.dirichlet([1 + better, 1 + same, 1 + worse], size=draws)
    return float((sample[:, 0] > sample[:, 2]).mean())

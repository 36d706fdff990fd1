"""Cell statistics from sufficient sums. Pure functions: no I/O, no database.

A cell keeps the count `n` of answers with a value, their sum and sum of squares, so means and
spreads can be derived here and parents rolled up by adding their children's sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CellSums:
    respondents: int
    dont_know: int
    value_sum: int
    value_sq_sum: int

    def __add__(self, other: CellSums) -> CellSums:
        return CellSums(
            self.respondents + other.respondents,
            self.dont_know + other.dont_know,
            self.value_sum + other.value_sum,
            self.value_sq_sum + other.value_sq_sum,
        )


def mean(sums: CellSums) -> float | None:
    """Mean of the answers with a value; None when nobody gave one."""
    if sums.respondents == 0:
        return None
    return sums.value_sum / sums.respondents


def sample_variance(sums: CellSums) -> float | None:
    """Unbiased sample variance; None below two answers."""
    n = sums.respondents
    if n < 2:
        return None
    var = (sums.value_sq_sum - sums.value_sum * sums.value_sum / n) / (n - 1)
    return max(var, 0.0)  # rounding can leave a tiny negative number when all answers are equal


def standard_error(sums: CellSums) -> float | None:
    var = sample_variance(sums)
    if var is None:
        return None
    return math.sqrt(var / sums.respondents)

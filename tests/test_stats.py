"""Pure statistics of `scoring.stats` against scipy, statsmodels and sampling, on tables and with
hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from scoring.stats import (
    Counts,
    ScaleSpec,
    improvement,
    indicator_stats,
    institution_score,
    mean_and_sd,
    t_interval,
    wilson,
)
from tests.independent import improvement_probability

FOUR = ScaleSpec("ordinal", 4)
YES_IS_GOOD = ScaleSpec("yesno", 2, good=1)
NO_IS_GOOD = ScaleSpec("yesno", 2, good=2)


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10),
                                               (62, 80), (1, 1000), (500, 1000), (7, 9)])
def test_wilson_matches_statsmodels(successes, n):
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson(successes, n) == pytest.approx(expected, abs=1e-12)


def test_wilson_of_nobody_is_undefined():
    assert wilson(0, 0) is None


@pytest.mark.parametrize("values", [[1, 2], [1, 1, 1, 4], [2, 3, 3, 4, 4, 4], [4] * 3 + [1] * 9])
def test_mean_and_t_interval_match_scipy(values):
    counts = Counts({v: values.count(v) for v in set(values)})
    found = mean_and_sd(counts)
    assert found is not None
    mean, sd = found
    assert mean == pytest.approx(np.mean(values))
    assert sd == pytest.approx(np.std(values, ddof=1))
    expected = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    if sd:
        assert t_interval(mean, sd, len(values)) == pytest.approx(expected)


def test_an_ordinal_indicator_on_a_table():
    # 3 x "1", 5 x "3", 12 x "4", 2 don't know, on a 4-point scale.
    result = indicator_stats(Counts({1: 3, 3: 5, 4: 12}, dont_know=2), FOUR)
    values = [1] * 3 + [3] * 5 + [4] * 12
    assert (result.respondents, result.dont_know) == (20, 2)
    assert result.mean == pytest.approx(np.mean(values))
    assert result.positive_share == pytest.approx(17 / 20)  # top two points: 3 and 4
    assert result.positive_ci == pytest.approx(proportion_confint(17, 20, method="wilson"))
    assert result.score == pytest.approx(100 * (np.mean(values) - 1) / 3)
    assert result.score_ci is not None and result.mean_ci is not None
    assert result.score_ci == pytest.approx(tuple(100 * (m - 1) / 3 for m in result.mean_ci))


def test_yes_no_indicators_score_the_good_answer():
    paid = indicator_stats(Counts({1: 6, 2: 34}, dont_know=3), NO_IS_GOOD)  # 6 paid a bribe
    assert paid.score == pytest.approx(85.0) and paid.mean is None
    assert paid.positive_share == pytest.approx(34 / 40)
    contact = indicator_stats(Counts({1: 6, 2: 34}), YES_IS_GOOD)
    assert contact.positive_share == pytest.approx(6 / 40)


def test_a_three_point_scale_has_no_positive_share():
    assert indicator_stats(Counts({1: 2, 3: 5}), ScaleSpec("ordinal", 3)).positive_share is None


def test_one_answer_has_a_mean_but_no_interval_and_nobody_has_nothing():
    one = indicator_stats(Counts({3: 1}), FOUR)
    assert (one.mean, one.mean_ci, one.score_ci) == (3.0, None, None)
    empty = indicator_stats(Counts({}, dont_know=4), FOUR)
    assert (empty.respondents, empty.dont_know, empty.mean, empty.score) == (0, 4, None, None)


def test_institution_score_is_the_weighted_mean_with_a_conservative_interval():
    score, ci = institution_score([(1.0, 60.0, (50.0, 70.0)), (3.0, 80.0, (76.0, 84.0)),
                                   (2.0, None, None)])
    expected = (60 + 3 * 80) / 4
    assert score == pytest.approx(expected)
    assert ci == pytest.approx((expected - (10 + 3 * 4) / 4, expected + (10 + 3 * 4) / 4))
    assert institution_score([(1.0, None, None)]) == (None, None)


@pytest.mark.parametrize(("better", "same", "worse"), [(10, 5, 2), (3, 3, 3), (40, 10, 25),
                                                        (0, 0, 5), (1, 0, 0)])
def test_improvement_probability_matches_sampling_the_dirichlet(better, same, worse):
    result = improvement(better, same, worse, minimum=1, threshold=0.9)
    assert result.probability == pytest.approx(
        improvement_probability(better, same, worse), abs=0.005)
    n = better + same + worse
    assert result.net == pytest.approx((better - worse) / n)
    assert (result.better, result.same, result.worse) == pytest.approx(
        (better / n, same / n, worse / n))


def test_improvement_verdicts_follow_the_thresholds():
    assert improvement(25, 5, 0, minimum=30, threshold=0.9).verdict == "improved"
    assert improvement(24, 5, 0, minimum=30, threshold=0.9).verdict == "insufficient_data"
    assert improvement(10, 10, 10, minimum=30, threshold=0.9).verdict == "not_improved"
    assert improvement(0, 0, 0, minimum=30, threshold=0.9).probability is None


counts_strategy = st.dictionaries(st.integers(1, 4), st.integers(0, 200), max_size=4).map(Counts)


@settings(max_examples=300, deadline=None)
@given(counts_strategy, st.integers(0, 20))
def test_indicator_stats_stay_in_range(counts, dont_know):
    result = indicator_stats(Counts(counts.values, dont_know), FOUR)
    if result.respondents == 0:
        assert result.mean is None and result.score is None
        return
    assert 1 <= result.mean <= 4  # type: ignore[operator]
    assert 0 <= result.score <= 100  # type: ignore[operator]
    assert 0 <= result.positive_share <= 1  # type: ignore[operator]
    for ci, value in ((result.mean_ci, result.mean), (result.positive_ci, result.positive_share)):
        if ci is not None:
            assert ci[0] <= value + 1e-9 and value - 1e-9 <= ci[1]  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(counts_strategy, counts_strategy)
def test_adding_counts_is_what_a_parent_cell_does(a, b):
    merged = a + b
    assert merged.respondents == a.respondents + b.respondents
    both = indicator_stats(merged, FOUR)
    if merged.respondents:
        total = sum(v * n for v, n in a.values.items()) + sum(v * n for v, n in b.values.items())
        assert both.mean == pytest.approx(total / merged.respondents)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))
def test_improvement_probability_is_a_probability_and_symmetric(better, same, worse):
    forward = improvement(better, same, worse, minimum=0, threshold=0.9)
    backward = improvement(worse, same, better, minimum=0, threshold=0.9)
    if better + same + worse == 0:
        return
    assert forward.probability is not None and backward.probability is not None
    assert 0 <= forward.probability <= 1
    assert forward.probability + backward.probability == pytest.approx(1.0, abs=1e-9)
    assert math.isclose(forward.net or 0.0, -(backward.net or 0.0), abs_tol=1e-12)

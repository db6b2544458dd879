"""Cohen's kappa and its interval, held to statsmodels."""

import pytest
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from promptlib.stats import StatsInputError, cohens_kappa

TABLES = [
    [[20, 5], [10, 15]],
    [[45, 3], [9, 43]],
    [[7, 9], [2, 12]],
    [[30, 1], [1, 2]],
    [[12, 6, 2], [3, 20, 4], [1, 5, 17]],  # three categories
    [[5, 10], [12, 3]],  # worse than chance: a negative kappa
]


@pytest.mark.parametrize("table", TABLES)
def test_kappa_and_its_interval_match_statsmodels(table):
    ours, theirs = cohens_kappa(table), sm_kappa(table)
    assert ours.kappa == pytest.approx(theirs.kappa, abs=1e-12)
    assert ours.se == pytest.approx(theirs.std_kappa, abs=1e-12)
    assert ours.low == pytest.approx(max(-1.0, theirs.kappa_low), abs=1e-12)
    assert ours.high == pytest.approx(min(1.0, theirs.kappa_upp), abs=1e-12)


def test_perfect_agreement_is_one_and_chance_level_is_zero():
    assert cohens_kappa([[10, 0], [0, 10]]).kappa == pytest.approx(1.0)
    assert cohens_kappa([[25, 25], [25, 25]]).kappa == pytest.approx(0.0)


def test_it_reports_the_plain_agreement_and_the_count():
    k = cohens_kappa([[20, 5], [10, 15]])
    assert (k.agreement, k.n) == (pytest.approx(0.7), 50)


def test_kappa_is_undefined_when_both_raters_always_say_the_same_thing():
    assert cohens_kappa([[12, 0], [0, 0]]) is None


def test_it_refuses_an_empty_or_ragged_table():
    with pytest.raises(StatsInputError):
        cohens_kappa([[0, 0], [0, 0]])
    with pytest.raises(StatsInputError):
        cohens_kappa([[1, 2, 3], [4, 5, 6]])

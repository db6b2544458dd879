"""The sample-ratio-mismatch check against scipy's chi-square test."""

import pytest
from scipy import stats

from promptlib.stats import StatsInputError
from promptlib.stats.srm import HLL_RELATIVE_ERROR, srm_check


def test_exact_counts_give_scipys_chi_square():
    check = srm_check(observed=[5100, 4900, 10150], weights=[1, 1, 2])
    reference = stats.chisquare([5100, 4900, 10150], f_exp=[5037.5, 5037.5, 10075])
    assert check.chi_square == pytest.approx(reference.statistic)
    assert check.p_value == pytest.approx(reference.pvalue)
    assert not check.failed


def test_a_52_48_split_of_20000_users_fails():
    check = srm_check(observed=[10400, 9600], weights=[1, 1])
    assert check.failed and check.p_value < 1e-6


def test_the_hyperloglog_error_alone_does_not_raise_an_alarm_at_a_million_users():
    # 1.3 standard errors of HLL apart on each arm: an exact-count test would cry mismatch.
    observed = [round(500_000 * (1 + 1.3 * HLL_RELATIVE_ERROR)), round(500_000 * (1 - 1.3 * HLL_RELATIVE_ERROR))]
    assert srm_check(observed=observed, weights=[1, 1]).failed
    assert not srm_check(observed=observed, weights=[1, 1], relative_error=HLL_RELATIVE_ERROR).failed


def test_it_refuses_a_count_per_variant_missing():
    with pytest.raises(StatsInputError) as caught:
        srm_check(observed=[10], weights=[1, 1])
    assert caught.value.field == "observed"

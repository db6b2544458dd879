"""Non-inferiority tests for guardrails, against statsmodels / scipy and the score statistic's definition."""

import numpy as np
import pytest
from scipy import stats

from promptlib.stats import look_alpha, margin_means, margin_pass_fail
from promptlib.stats.margins import margin_two_means, margin_two_rates
from promptlib.stats.paired import tango_statistic


def test_margin_means_is_scipy_s_one_sided_t_test_on_the_excess_harm():
    rng = np.random.default_rng(0)
    a = rng.normal(100, 10, size=80)
    b = a + rng.normal(3, 5, size=80)
    result = margin_means(a, b, margin=5.0, relative=False, higher_is_better=False)
    reference = stats.ttest_1samp(b - a - 5.0, 0.0, alternative="less")
    assert result.p_safe == pytest.approx(reference.pvalue)
    assert result.p_harm == pytest.approx(1 - reference.pvalue)


def test_a_relative_margin_compares_with_a_share_of_the_control():
    rng = np.random.default_rng(1)
    a = rng.lognormal(np.log(800), 0.3, size=200)
    b = a * 1.02
    assert margin_means(a, b, margin=0.10, relative=True, higher_is_better=False).p_safe < 0.001
    assert margin_means(a, a * 1.3, margin=0.10, relative=True, higher_is_better=False).p_harm < 0.001


def test_a_higher_is_better_rate_may_drop_by_its_margin():
    # b - c = 1 of 200 cases: the challenger is 0.5 points lower; the margin allows 5.
    result = margin_pass_fail(b=11, c=10, n=200, margin=0.05, higher_is_better=True)
    assert result.p_safe == pytest.approx(stats.norm.sf(float(tango_statistic(b=11, c=10, n=200, delta=-0.05))))
    assert result.p_safe < 0.05


def test_a_pass_fail_guardrail_that_dropped_by_much_more_than_its_margin_fails():
    assert margin_pass_fail(b=40, c=5, n=200, margin=0.02).p_harm < 0.001


def test_the_error_budget_spent_over_every_run_adds_up_to_alpha():
    assert sum(look_alpha(alpha=0.05, look=k) for k in range(1, 200_000)) == pytest.approx(0.05, rel=1e-4)
    assert look_alpha(alpha=0.05, look=1) == pytest.approx(0.0304, abs=1e-4)


def test_margin_two_rates_matches_statsmodels_wald_test():
    from statsmodels.stats.proportion import test_proportions_2indep

    result = margin_two_rates(
        control_n=2_000, control_successes=700, variant_n=2_100, variant_successes=720, margin=0.03
    )
    # H0: variant - control <= -margin, rejected when the variant is shown no more than 3 points lower.
    reference = test_proportions_2indep(720, 2_100, 700, 2_000, value=-0.03, method="wald", alternative="larger")
    assert result.p_safe == pytest.approx(reference.pvalue, rel=1e-9)


def test_margin_two_means_matches_statsmodels_ztest_with_unequal_variances():
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    rng = np.random.default_rng(3)
    a, b = rng.normal(800, 120, size=400), rng.normal(815, 130, size=380)
    result = margin_two_means(
        control_n=a.size, control_mean=a.mean(), control_variance=a.var(ddof=1), variant_n=b.size,
        variant_mean=b.mean(), variant_variance=b.var(ddof=1), margin=50.0, relative=False, higher_is_better=False,
    )  # fmt: skip
    _, reference = CompareMeans(DescrStatsW(b), DescrStatsW(a)).ztest_ind(
        alternative="smaller", usevar="unequal", value=50.0
    )
    assert result.p_safe == pytest.approx(reference, rel=1e-9)

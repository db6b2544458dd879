"""Non-inferiority tests for guardrails, against statsmodels / scipy and the score statistic's definition."""

import numpy as np
import pytest
from scipy import stats

from promptlib.stats import look_alpha, margin_means, margin_pass_fail, margin_ratios
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


def _users(rng, users, mean):
    """One list of values per user: 1 + Poisson(3) events sharing a user effect."""
    return [list(mean + rng.normal(0, 1) + rng.normal(0, 2, size=1 + rng.poisson(3))) for _ in range(users)]


def _cluster_variance(values):
    """statsmodels' cluster-robust variance of the mean per event, users as clusters."""
    import statsmodels.api as sm

    y = np.concatenate(values)
    groups = np.repeat(np.arange(len(values)), [len(v) for v in values])
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(fit.params[0]), float(fit.bse[0] ** 2), float(fit.bse[0] ** 2 * len(values))


def _mixture_p_by_integration(excess, variance, planned_variance, alpha=0.05):
    """1 / Lambda with Lambda = ∫ N(d; θ, V) N(θ; 0, τ²) dθ / N(d; 0, V), integrated numerically."""
    from scipy import integrate

    tau2 = (-2 * np.log(alpha) + np.log(1 - 2 * np.log(alpha))) * planned_variance
    sd, tau = np.sqrt(variance), np.sqrt(tau2)
    mixed, _ = integrate.quad(
        lambda t: stats.norm.pdf(excess, t, sd) * stats.norm.pdf(t, 0, tau), -12 * tau, 12 * tau, points=[excess]
    )
    return min(1.0, stats.norm.pdf(excess, 0, sd) / mixed)


@pytest.mark.parametrize(
    ("margin", "relative", "higher_is_better", "shift"),
    [(0.5, False, False, 0.1), (0.5, False, False, 0.9), (0.10, True, False, 0.2), (0.10, True, True, -0.1)],
)
def test_margin_ratios_is_the_msprt_on_the_excess_harm_with_statsmodels_cluster_variances(
    margin, relative, higher_is_better, shift
):
    from promptlib.stats.ratio import subject_sums

    rng = np.random.default_rng(21)
    control, variant = _users(rng, 800, 5.0), _users(rng, 750, 5.0 + shift)
    (ra, va, la), (rb, vb, lb) = _cluster_variance(control), _cluster_variance(variant)
    factor = (1 - margin if higher_is_better else 1 + margin) if relative else 1.0
    excess = (-1 if higher_is_better else 1) * (rb - factor * ra) - (0.0 if relative else margin)
    planned_n = 2_000
    expected = _mixture_p_by_integration(excess, vb + factor**2 * va, (lb + factor**2 * la) / planned_n)
    result = margin_ratios(
        control=subject_sums(control), variant=subject_sums(variant), margin=margin, relative=relative,
        higher_is_better=higher_is_better, planned_n=planned_n,
    )  # fmt: skip
    shown, other = (result.p_safe, result.p_harm) if excess < 0 else (result.p_harm, result.p_safe)
    assert shown == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert other == 1.0


def test_margin_ratios_shows_nothing_before_two_users_per_arm():
    from promptlib.stats.ratio import subject_sums

    one = subject_sums([[1.0, 2.0]])
    result = margin_ratios(control=one, variant=one, margin=0.1, relative=True, higher_is_better=False, planned_n=100)
    assert (result.p_safe, result.p_harm) == (1.0, 1.0)

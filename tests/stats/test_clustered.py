"""Per-variant estimates clustered by case, and the paired ratio (cost per success), against references."""

import numpy as np
import pytest
import statsmodels.api as sm

from promptlib.stats import clustered_mean, clustered_rate, paired_ratio, rate_estimate


def _repeated(seed=0, cases=40):
    rng = np.random.default_rng(seed)
    calls = rng.integers(1, 5, size=cases)
    successes = rng.binomial(calls, rng.beta(0.5, 0.5, size=cases))
    return successes, calls


def test_the_clustered_variance_matches_statsmodels_cluster_robust_ols():
    successes, calls = _repeated()
    rows = np.concatenate([[1.0] * s + [0.0] * (n - s) for s, n in zip(successes, calls, strict=True)])
    groups = np.repeat(np.arange(calls.size), calls)
    fit = sm.OLS(rows, np.ones(rows.size)).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    estimate = clustered_mean(y=successes, n=calls)
    k = calls.size
    se = fit.bse[0] * np.sqrt(k / (k - 1))  # statsmodels without its correction, plus the k / (k - 1) factor
    assert estimate.value == pytest.approx(fit.params[0])
    from scipy import stats

    assert (estimate.high - estimate.low) / 2 == pytest.approx(stats.t.isf(0.025, k - 1) * se)
    assert estimate.n == k


def test_with_one_call_per_case_the_clustered_rate_is_wilson_s_interval():
    outcomes = np.random.default_rng(1).random(80) < 0.3
    clustered = clustered_rate(successes=outcomes.astype(float), n=np.ones(80))
    wilson = rate_estimate(n=80, successes=int(outcomes.sum()))
    assert (clustered.low, clustered.high) == pytest.approx((wilson.low, wilson.high))


def test_clustered_rate_intervals_cover_the_true_rate_when_repeats_are_correlated():
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(300):
        p = rng.beta(0.5, 0.5, size=60)  # true rate 0.5; five repeats per case, mostly agreeing
        successes = rng.binomial(5, p)
        e = clustered_rate(successes=successes, n=np.full(60, 5))
        covered.append(e.low <= 0.5 <= e.high)
    assert 0.92 <= np.mean(covered) <= 0.98


def test_paired_ratio_matches_a_brute_force_bootstrap_of_cost_per_success():
    rng = np.random.default_rng(3)
    n = 300
    difficulty = rng.lognormal(0, 0.5, size=n)
    cost_a, cost_b = difficulty * 0.002, difficulty * 0.0025 * rng.lognormal(0, 0.1, size=n)
    ok_a, ok_b = (rng.random(n) < 0.6).astype(float), (rng.random(n) < 0.7).astype(float)
    result, _ = paired_ratio(control_y=cost_a, control_n=ok_a, variant_y=cost_b, variant_n=ok_b)
    assert result.difference == pytest.approx(cost_b.sum() / ok_b.sum() - cost_a.sum() / ok_a.sum())
    index = rng.integers(0, n, size=(4000, n))
    boot = cost_b[index].sum(1) / ok_b[index].sum(1) - cost_a[index].sum(1) / ok_a[index].sum(1)
    assert (result.high - result.low) / (2 * 1.959964) == pytest.approx(boot.std(), rel=0.08)


def test_paired_ratio_z_at_the_margin_says_a_doubled_cost_is_beyond_plus_5_percent():
    rng = np.random.default_rng(4)
    cost = rng.lognormal(np.log(0.002), 0.3, size=200)
    ok = (rng.random(200) < 0.7).astype(float)
    _, z = paired_ratio(control_y=cost, control_n=ok, variant_y=2 * cost, variant_n=ok, margin=0.05)
    assert z > 5

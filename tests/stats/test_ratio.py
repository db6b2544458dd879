"""The per-subject ratio (delta method) against statsmodels' cluster-robust variance and brute force."""

import numpy as np
import pytest
import statsmodels.api as sm

from promptlib.stats import sequential_means
from promptlib.stats.ratio import ratio_estimate, ratio_moments, sequential_ratios, subject_sums


def _clustered(seed, subjects=300):
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subjects):
        u = rng.normal(0, 1)
        values.append(list(3 + u + rng.normal(0, 1.5, size=1 + rng.poisson(4))))
    return values


def test_the_variance_matches_statsmodels_cluster_robust_variance_of_the_mean():
    values = _clustered(1)
    y = np.concatenate(values)
    groups = np.repeat(np.arange(len(values)), [len(v) for v in values])
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    ratio, _, variance = ratio_moments(subject_sums(values))
    assert ratio == pytest.approx(fit.params[0])
    assert variance == pytest.approx(fit.bse[0] ** 2, rel=1e-9)


def test_the_variance_matches_the_brute_force_linearisation():
    values = _clustered(2)
    n = np.array([len(v) for v in values], dtype=float)
    y = np.array([sum(v) for v in values])
    r = y.sum() / n.sum()
    linear = (y - r * n) / n.mean()
    _, per_subject, variance = ratio_moments(subject_sums(values))
    assert per_subject == pytest.approx(np.var(linear, ddof=1))
    assert variance == pytest.approx(np.var(linear, ddof=1) / len(values))


def test_with_one_event_per_subject_it_is_the_ordinary_mean_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 200), rng.normal(10.5, 2, 220)
    by_subject = sequential_ratios(
        control=subject_sums([[v] for v in a]), variant=subject_sums([[v] for v in b]), planned_n=500
    )
    by_event = sequential_means(
        control_n=a.size, control_total=a.sum(), control_total_sq=(a * a).sum(),
        variant_n=b.size, variant_total=b.sum(), variant_total_sq=(b * b).sum(), planned_n=500,
    )  # fmt: skip
    assert by_subject.p_value == pytest.approx(by_event.p_value)
    assert by_subject.difference == pytest.approx(by_event.difference)


def test_repeated_events_of_one_user_widen_the_interval():
    values = _clustered(4)
    naive = np.concatenate(values)
    estimate = ratio_estimate(subject_sums(values))
    naive_half = 1.96 * naive.std(ddof=1) / np.sqrt(naive.size)
    assert (estimate.high - estimate.low) / 2 > 1.5 * naive_half
    assert estimate.n == len(values)

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from promptlib.stats import StatsInputError, bootstrap_interval, mean_estimate, median_estimate, rate_estimate


@pytest.mark.parametrize(("n", "successes"), [(100, 71), (100, 84), (20, 0), (20, 20), (1, 1), (5000, 37)])
def test_wilson_interval_matches_statsmodels(n, successes):
    estimate = rate_estimate(n=n, successes=successes)
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert estimate.value == pytest.approx(successes / n)
    assert estimate.low == pytest.approx(low, abs=1e-12)
    assert estimate.high == pytest.approx(high, abs=1e-12)


def test_rate_estimate_rejects_more_successes_than_trials():
    with pytest.raises(StatsInputError, match="successes"):
        rate_estimate(n=10, successes=11)


def test_rate_estimate_of_an_empty_variant_spans_everything():
    estimate = rate_estimate(n=0, successes=0)
    assert (estimate.low, estimate.high) == (0.0, 1.0)


@pytest.mark.parametrize("size", [2, 12, 400])
def test_t_interval_from_aggregates_matches_scipy(size):
    values = np.random.default_rng(size).gamma(2.0, 3.0, size=size)
    estimate = mean_estimate(n=size, total=values.sum(), total_sq=(values**2).sum())
    low, high = stats.t.interval(0.95, size - 1, loc=values.mean(), scale=stats.sem(values))
    assert estimate.value == pytest.approx(values.mean())
    assert estimate.low == pytest.approx(low, rel=1e-9)
    assert estimate.high == pytest.approx(high, rel=1e-9)


def test_mean_interval_of_identical_values_has_no_width():
    estimate = mean_estimate(n=3, total=3 * 0.1, total_sq=3 * 0.1**2)
    assert estimate.low == pytest.approx(0.1)
    assert estimate.high == pytest.approx(0.1)


def test_mean_interval_of_a_single_value_is_unbounded():
    estimate = mean_estimate(n=1, total=4.0, total_sq=16.0)
    assert (estimate.low, estimate.high) == (float("-inf"), float("inf"))


def test_median_bootstrap_is_deterministic_with_a_seed():
    values = np.random.default_rng(3).lognormal(size=501)
    assert median_estimate(values, seed=7) == median_estimate(values, seed=7)
    assert median_estimate(values, seed=7) != median_estimate(values, seed=8)


@pytest.mark.parametrize("size", [401, 400])
def test_median_bootstrap_agrees_with_resampling_the_values(size):
    values = np.random.default_rng(size).lognormal(mean=6, sigma=0.5, size=size)
    resampled = np.median(values[np.random.default_rng(0).integers(0, size, size=(20_000, size))], axis=1)
    expected_low, expected_high = np.quantile(resampled, [0.025, 0.975])
    estimate = median_estimate(values, resamples=20_000)
    spread = expected_high - expected_low
    assert estimate.low == pytest.approx(expected_low, abs=0.05 * spread)
    assert estimate.high == pytest.approx(expected_high, abs=0.05 * spread)


def test_median_bootstrap_covers_the_true_median_of_a_known_distribution():
    # Lognormal(mu, sigma) has median exp(mu); 200 independent samples of latencies.
    rng = np.random.default_rng(11)
    true_median = np.exp(6.0)
    covered = [
        (e := median_estimate(rng.lognormal(mean=6.0, sigma=0.8, size=300), seed=i)).low <= true_median <= e.high
        for i in range(200)
    ]
    assert 0.90 <= np.mean(covered) <= 0.99


def test_bootstrap_of_a_mean_covers_the_true_mean_of_a_known_distribution():
    rng = np.random.default_rng(12)
    covered = []
    for i in range(200):
        _, low, high = bootstrap_interval(rng.exponential(scale=2.0, size=200), seed=i)
        covered.append(low <= 2.0 <= high)
    assert 0.90 <= np.mean(covered) <= 0.99


def test_bootstrap_of_many_values_keeps_the_full_sample_width():
    # Above the resampling cap the spread is rescaled; it should match the t interval of all values.
    values = np.random.default_rng(13).normal(loc=1.0, scale=3.0, size=50_000)
    _, low, high = bootstrap_interval(values, seed=1)
    reference = mean_estimate(n=values.size, total=values.sum(), total_sq=(values**2).sum())
    assert high - low == pytest.approx(reference.high - reference.low, rel=0.1)
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=0.05 * (high - low))


def test_bootstrap_is_deterministic_with_a_seed():
    values = np.random.default_rng(14).normal(size=300)
    assert bootstrap_interval(values, seed=5) == bootstrap_interval(values, seed=5)


def test_bootstrap_rejects_an_empty_sample():
    with pytest.raises(StatsInputError, match="values"):
        bootstrap_interval([])

"""The paired bootstrap of percentiles against explicit resampling and scipy's bootstrap."""

import numpy as np
import pytest
from scipy import stats

from promptlib.stats import quantile_difference, quantile_draws, quantile_margin_p
from promptlib.stats.quantiles import MAX_CASES, minimum_cases


def test_the_draws_are_exactly_the_percentiles_of_explicitly_resampled_cases():
    x = np.random.default_rng(0).lognormal(6.5, 0.4, size=(3, 80))
    draws = quantile_draws(x, fractions=(0.5, 0.95), resamples=300, seed=9)
    index = np.random.default_rng(9).integers(0, 80, size=(300, 80))
    for q, fraction in zip(draws, (0.5, 0.95), strict=True):
        assert q.draws == pytest.approx(np.quantile(x[:, index], fraction, axis=2))


def test_the_spread_of_the_difference_agrees_with_scipy_s_paired_bootstrap():
    rng = np.random.default_rng(1)
    x = rng.lognormal(6.5, 0.4, size=(2, 400))
    q = quantile_draws(x, fractions=(0.95,), resamples=2000)[0]
    mine = quantile_difference(q, control=0, challenger=1)
    reference = stats.bootstrap(
        (x[0], x[1]), lambda a, b, axis=-1: np.quantile(b, 0.95, axis=axis) - np.quantile(a, 0.95, axis=axis),
        paired=True, vectorized=True, n_resamples=4000, random_state=2,
    )  # fmt: skip
    assert mine.se == pytest.approx(reference.standard_error, rel=0.1)


def test_the_interval_excludes_zero_exactly_when_p_is_below_5_percent():
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.lognormal(6.5, 0.4, size=(2, 200))
        x[1] *= rng.uniform(0.9, 1.2)
        d = quantile_difference(quantile_draws(x, fractions=(0.95,))[0], control=0, challenger=1)
        assert (d.low > 0 or d.high < 0) == (d.p_value < 0.05)


def test_many_cases_are_resampled_through_a_subset_with_the_spread_scaled():
    rng = np.random.default_rng(4)
    x = rng.lognormal(6.5, 0.4, size=(2, 8 * MAX_CASES))
    big = quantile_difference(quantile_draws(x, fractions=(0.5,))[0], control=0, challenger=1)
    full = quantile_difference(quantile_draws(x[:, :MAX_CASES], fractions=(0.5,))[0], control=0, challenger=1)
    assert big.se == pytest.approx(full.se / np.sqrt(8), rel=0.2)


def test_a_95th_percentile_needs_100_cases():
    assert minimum_cases(0.95) == 100
    assert minimum_cases(0.5) == 10


def test_margin_p_values_of_a_percentile_25_percent_worse():
    rng = np.random.default_rng(5)
    x = rng.lognormal(6.5, 0.3, size=(2, 600))
    x[1] = x[0] * 1.25
    q = quantile_draws(x, fractions=(0.95,))[0]
    p_safe, p_harm = quantile_margin_p(q, control=0, challenger=1, margin=0.10)
    assert p_harm < 0.001 and p_safe > 0.999

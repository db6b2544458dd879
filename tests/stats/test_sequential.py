import numpy as np
import pytest

from bench.sim_sequential import simulate_winner_rate
from promptlib.stats import StatsInputError, sequential_means, sequential_rates
from promptlib.stats.sequential import METHOD


def test_peeking_at_200_aa_experiments_20_times_rarely_declares_a_winner():
    rate = simulate_winner_rate(runs=200, peeks=20, n_per_arm=1_000, control_rate=0.5, variant_rate=0.5, seed=31)
    assert rate <= 0.07


def test_peeking_with_a_fixed_sample_z_test_would_declare_many_false_winners():
    # The problem the sequential test solves, shown with the same simulated data.
    rate = simulate_winner_rate(
        runs=200, peeks=20, n_per_arm=1_000, control_rate=0.5, variant_rate=0.5, seed=31, naive=True
    )
    assert rate > 0.10


def test_a_ten_point_gain_is_found_in_most_experiments_by_1000_per_arm():
    rate = simulate_winner_rate(runs=200, peeks=20, n_per_arm=1_000, control_rate=0.5, variant_rate=0.6, seed=32)
    assert rate > 0.5


def test_peeking_at_aa_experiments_on_means_rarely_declares_a_winner():
    rng = np.random.default_rng(33)
    values = rng.lognormal(mean=1.0, sigma=0.7, size=(2, 200, 1_000))  # two arms, 200 runs, 1,000 each
    looks = np.arange(50, 1_001, 50)
    totals = np.cumsum(values, axis=2)[:, :, looks - 1]
    squares = np.cumsum(values**2, axis=2)[:, :, looks - 1]
    result = sequential_means(
        control_n=looks,
        control_total=totals[0],
        control_total_sq=squares[0],
        variant_n=looks,
        variant_total=totals[1],
        variant_total_sq=squares[1],
    )
    assert (result.p_value <= 0.05).any(axis=1).mean() <= 0.07


def test_the_interval_excludes_zero_exactly_when_the_p_value_is_significant():
    rng = np.random.default_rng(34)
    n = rng.integers(50, 3_000, size=2_000)
    result = sequential_rates(
        control_n=n,
        control_successes=rng.binomial(n, 0.4),
        variant_n=n,
        variant_successes=rng.binomial(n, 0.45),
    )
    excludes_zero = (result.low > 0) | (result.high < 0)
    assert np.array_equal(excludes_zero, result.p_value < 0.05)


def test_the_p_value_never_rises_above_an_earlier_look():
    result = sequential_rates(
        control_n=1_000, control_successes=500, variant_n=1_000, variant_successes=505, previous_p_value=0.2
    )
    assert result.p_value == 0.2


def test_a_scalar_comparison_returns_plain_numbers_and_describes_its_method():
    result = sequential_rates(control_n=1_000, control_successes=500, variant_n=1_000, variant_successes=600)
    assert isinstance(result.p_value, float)
    assert result.difference == pytest.approx(0.1)
    assert result.p_value < 0.05
    assert result.low > 0
    assert result.method == METHOD


def test_a_comparison_of_arms_without_spread_finds_no_evidence():
    result = sequential_means(
        control_n=1, control_total=3.0, control_total_sq=9.0, variant_n=1, variant_total=5.0, variant_total_sq=25.0
    )
    assert result.p_value == 1.0
    assert result.difference == 2.0


def test_sequential_rates_rejects_more_successes_than_subjects():
    with pytest.raises(StatsInputError, match="variant_successes"):
        sequential_rates(control_n=10, control_successes=5, variant_n=10, variant_successes=11)

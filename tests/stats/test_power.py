import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from promptlib.stats import (
    StatsInputError,
    more_needed,
    sample_size_paired_means,
    sample_size_paired_rates,
    sample_size_sequential,
    sample_size_two_means,
    sample_size_two_proportions,
    sequential_rates,
)
from promptlib.stats.power import sequential_critical_z


@pytest.mark.parametrize(("baseline", "effect"), [(0.5, 0.1), (0.71, 0.05), (0.1, 0.02), (0.3, -0.05), (0.9, 0.05)])
def test_two_proportion_sample_size_matches_statsmodels(baseline, effect):
    reference = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(baseline + effect, baseline), alpha=0.05, power=0.8, ratio=1
    )
    assert sample_size_two_proportions(baseline=baseline, minimum_effect=effect) == math.ceil(reference)


@pytest.mark.parametrize(("sd", "effect"), [(1.0, 0.2), (250.0, 40.0), (0.3, -0.05)])
def test_two_means_sample_size_matches_statsmodels(sd, effect):
    reference = NormalIndPower().solve_power(effect_size=effect / sd, alpha=0.05, power=0.8, ratio=1)
    assert sample_size_two_means(sd=sd, minimum_effect=effect) == math.ceil(reference)


def test_paired_means_sample_size_matches_statsmodels_one_sample_power():
    reference = NormalIndPower().solve_power(effect_size=0.15 / 0.6, alpha=0.05, power=0.8, ratio=0)
    assert sample_size_paired_means(sd_difference=0.6, minimum_effect=0.15) == math.ceil(reference)


def test_paired_rates_sample_size_gives_mcnemar_about_80_percent_power():
    # Discordant cells 10% and 20% (a 10-point gain, 30% disagreement); simulate McNemar at that n.
    n = sample_size_paired_rates(baseline=0.6, minimum_effect=0.1, discordant_share=0.3)
    b, c, _ = np.random.default_rng(41).multinomial(n, [0.1, 0.2, 0.7], size=4_000).T
    p_values = stats.chi2.sf((np.abs(b - c) - 1) ** 2 / (b + c), 1)
    assert 0.75 <= np.mean(p_values <= 0.05) <= 0.85


def test_paired_rates_needs_fewer_cases_than_independent_arms():
    paired = sample_size_paired_rates(baseline=0.6, minimum_effect=0.1, discordant_share=0.3)
    assert paired < sample_size_two_proportions(baseline=0.6, minimum_effect=0.1)


def test_paired_rates_without_discordance_data_falls_back_to_two_proportions():
    unpaired = sample_size_two_proportions(baseline=0.6, minimum_effect=0.1)
    assert sample_size_paired_rates(baseline=0.6, minimum_effect=0.1, discordant_share=None) == unpaired


def test_sample_size_rejects_a_zero_minimum_effect():
    with pytest.raises(StatsInputError, match="minimum_effect"):
        sample_size_two_proportions(baseline=0.5, minimum_effect=0.0)


def test_sample_size_rejects_an_effect_beyond_100_percent():
    with pytest.raises(StatsInputError, match="minimum_effect"):
        sample_size_two_proportions(baseline=0.98, minimum_effect=0.05)


def test_more_needed_is_never_negative():
    assert more_needed(required=388, current=120) == 268
    assert more_needed(required=388, current=500) == 0


def test_paired_rates_when_variants_agree_on_every_case_plans_with_twice_the_effect_disagreeing():
    assert sample_size_paired_rates(baseline=0.5, minimum_effect=0.05, discordant_share=0.0) == (
        sample_size_paired_rates(baseline=0.5, minimum_effect=0.05, discordant_share=0.1)
    )


def test_the_sequential_critical_value_is_the_mixture_boundary_at_the_planned_n():
    from promptlib.stats.sequential import _mixture_test

    variance = 0.01
    _, radius = _mixture_test(0.0, variance, variance, 0.05, 1.0)
    assert sequential_critical_z(alpha=0.05) == pytest.approx(float(radius) / np.sqrt(variance))


def test_the_sequential_critical_value_is_where_the_per_user_msprt_p_value_reaches_alpha_at_its_planned_look():
    from scipy import optimize

    from promptlib.stats.ratio import SubjectSums, sequential_ratios

    n = 1000  # one value per user, variance 1 in each arm: V = 2 / n, tuned at n

    def p_at(z):
        d = z * np.sqrt(2 / n)
        arm = SubjectSums(n, n, n, 0.0, n - 1.0, 0.0)  # mean 0, sample variance 1
        moved = SubjectSums(n, n, n, d * n, (n - 1.0) + d * d * n, d * n)
        return sequential_ratios(control=arm, variant=moved, planned_n=n).p_value

    brute = optimize.brentq(lambda z: p_at(z) - 0.05, 1.0, 6.0, xtol=1e-10)
    assert sequential_critical_z(alpha=0.05) == pytest.approx(brute, rel=1e-6)


def test_sequential_power_at_the_advised_n_is_at_least_78_percent_while_looking_20_times():
    control_rate, effect = 0.5, 0.05
    variance = control_rate * (1 - control_rate) + (control_rate + effect) * (1 - control_rate - effect)
    n = sample_size_sequential(variance=variance, minimum_effect=effect)
    rng = np.random.default_rng(43)
    runs, looks = 4_000, 20
    step = n // looks
    control = np.cumsum(rng.binomial(step, control_rate, size=(runs, looks)), axis=1)
    variant = np.cumsum(rng.binomial(step, control_rate + effect, size=(runs, looks)), axis=1)
    sizes = step * np.arange(1, looks + 1)
    result = sequential_rates(
        control_n=sizes, control_successes=control, variant_n=sizes, variant_successes=variant, planned_n=n
    )
    found = np.any((result.p_value <= 0.05) & (result.difference > 0), axis=1)
    assert found.mean() >= 0.78
    fixed = sample_size_two_proportions(baseline=control_rate, minimum_effect=effect)
    assert 1.6 < n / fixed < 2.2  # the price of looking at any time

import time

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar

from promptlib.stats import (
    StatsInputError,
    case_means,
    discordant_counts,
    mcnemar,
    paired_numeric,
    paired_pass_fail,
    wilcoxon,
)


def _table(b, c):
    return [[50, b], [c, 40]]


@pytest.mark.parametrize(("b", "c"), [(0, 0), (2, 15), (15, 2), (7, 7), (0, 9), (11, 13)])
def test_mcnemar_below_25_discordant_pairs_matches_the_statsmodels_exact_test(b, c):
    statistic, p_value, method = mcnemar(b=b, c=c)
    reference = statsmodels_mcnemar(_table(b, c), exact=True)
    assert method == "exact binomial"
    assert statistic == reference.statistic
    assert p_value == pytest.approx(reference.pvalue, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(12, 13), (10, 30), (40, 25), (300, 360), (20, 20)])
def test_mcnemar_from_25_discordant_pairs_matches_the_statsmodels_chi_square_test(b, c):
    statistic, p_value, method = mcnemar(b=b, c=c)
    reference = statsmodels_mcnemar(_table(b, c), exact=False, correction=True)
    assert method == "chi-square with continuity correction"
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-12)


def test_paired_pass_fail_reports_the_difference_in_pass_rates():
    result = paired_pass_fail(b=2, c=15, n=100)
    assert result.difference == pytest.approx(0.13)
    assert result.low < 0.13 < result.high
    assert result.test == "McNemar's test"


def test_paired_pass_fail_interval_is_deterministic_with_a_seed():
    assert paired_pass_fail(b=9, c=20, n=120, seed=3) == paired_pass_fail(b=9, c=20, n=120, seed=3)


def test_paired_pass_fail_interval_covers_the_true_difference_of_a_known_distribution():
    # Cells: control-only pass 10%, challenger-only pass 20%, so the true gain is 10 points.
    rng = np.random.default_rng(21)
    covered = []
    for seed in range(200):
        b, c, _ = rng.multinomial(200, [0.1, 0.2, 0.7])
        result = paired_pass_fail(b=int(b), c=int(c), n=200, seed=seed)
        covered.append(result.low <= 0.1 <= result.high)
    assert 0.90 <= np.mean(covered) <= 0.99


def test_paired_pass_fail_rejects_more_discordant_pairs_than_cases():
    with pytest.raises(StatsInputError, match="n"):
        paired_pass_fail(b=6, c=5, n=10)


def test_discordant_counts_are_taken_from_per_case_outcomes():
    control = [1, 1, 0, 0, 1, 0]
    challenger = [1, 0, 1, 1, 1, 0]
    assert discordant_counts(control=control, challenger=challenger) == (1, 2, 6)


@pytest.mark.parametrize(
    "differences",
    [
        [0.5, -1.2, 2.3, 0.9, 1.7, -0.4, 3.1, 1.1, 0.2, 2.6],  # small, no ties: exact
        [1, 1, 2, -1, 0, 3, 2, 2, 1, -2, 4, 1],  # ties and a zero, n <= 13: permutation
        list(np.random.default_rng(5).normal(0.2, 1.0, size=80).round(1)),  # ties, large: normal
        list(np.random.default_rng(6).normal(0.1, 1.0, size=30)),  # 30 distinct values: exact
    ],
)
def test_wilcoxon_matches_scipy(differences):
    statistic, p_value, _ = wilcoxon(differences)
    reference = stats.wilcoxon(differences)
    assert statistic == pytest.approx(reference.statistic)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_wilcoxon_of_all_tied_cases_finds_no_difference():
    assert wilcoxon([0.0, 0.0, 0.0])[1] == 1.0


def test_paired_numeric_estimates_the_mean_difference_with_a_seeded_interval():
    differences = np.random.default_rng(7).normal(0.3, 1.0, size=150)
    result = paired_numeric(differences, seed=4)
    assert result.difference == pytest.approx(differences.mean())
    assert result.low < result.difference < result.high
    assert result == paired_numeric(differences, seed=4)
    assert result.test == "Wilcoxon signed-rank test"


def test_paired_numeric_interval_covers_the_true_mean_of_a_known_distribution():
    rng = np.random.default_rng(22)
    covered = []
    for seed in range(200):
        result = paired_numeric(rng.normal(0.25, 1.0, size=120), seed=seed)
        covered.append(result.low <= 0.25 <= result.high)
    assert 0.90 <= np.mean(covered) <= 0.99


def test_paired_numeric_rejects_missing_values():
    with pytest.raises(StatsInputError, match="differences"):
        paired_numeric([0.1, float("nan")])


def test_paired_numeric_on_100k_cases_takes_well_under_a_second():
    differences = np.random.default_rng(8).normal(0.01, 1.0, size=100_000)
    paired_numeric(differences[:100])  # warm up imports
    started = time.perf_counter()
    paired_numeric(differences)
    assert time.perf_counter() - started < 0.5


def test_case_means_collapse_repeats_into_one_value_per_case():
    ids, means = case_means(case_ids=[7, 3, 7, 3, 9], values=[1.0, 0.0, 0.0, 1.0, 1.0])
    assert ids.tolist() == [3, 7, 9]
    assert means.tolist() == [0.5, 0.5, 1.0]


@pytest.mark.parametrize(
    ("differences", "method"),
    [
        ([0.5, -1.2, 2.3, 0.9, 1.7], "exact"),
        ([1, 1, 2, -1, 0, 3], "exact permutation"),
        ([1, 1, 2] * 20, "normal approximation"),
    ],
)
def test_wilcoxon_names_the_null_distribution_scipy_used(differences, method):
    assert wilcoxon(differences)[2] == method

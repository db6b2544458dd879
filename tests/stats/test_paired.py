import numpy as np
import pytest
from scipy import optimize, stats
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
from promptlib.stats.paired import hodges_lehmann, mcnemar_score, tango_interval, tango_statistic


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


def test_mcnemar_score_matches_the_statsmodels_test_without_continuity_correction():
    for b, c in [(12, 13), (10, 30), (40, 25), (300, 360)]:
        reference = statsmodels_mcnemar(_table(b, c), exact=False, correction=False)
        assert mcnemar_score(b=b, c=c) == pytest.approx(reference.pvalue, rel=1e-12)


def _brute_force_tango_z(b, c, n, delta):
    """Tango's score statistic with the restricted maximum likelihood found numerically (not the quadratic)."""
    a_plus_d = n - b - c

    def minus_log_likelihood(q):  # q: share control-only passes; challenger-only = q + delta
        r = q + delta
        return -(b * np.log(q) + c * np.log(r) + a_plus_d * np.log(1 - q - r))

    low, high = max(1e-12, -delta + 1e-12), (1 - delta) / 2 - 1e-12
    q = optimize.minimize_scalar(minus_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-13}).x
    return (c - b - n * delta) / np.sqrt(n * (2 * q + delta * (1 - delta)))


@pytest.mark.parametrize(("b", "c", "n"), [(10, 30, 100), (20, 45, 200), (30, 12, 80), (3, 26, 60)])
def test_tango_interval_ends_where_the_brute_force_score_statistic_is_1_96(b, c, n):
    low, high = tango_interval(b=b, c=c, n=n)
    assert _brute_force_tango_z(b, c, n, low) == pytest.approx(1.959964, abs=1e-4)
    assert _brute_force_tango_z(b, c, n, high) == pytest.approx(-1.959964, abs=1e-4)
    assert tango_statistic(b=b, c=c, n=n, delta=0.0) == pytest.approx((c - b) / np.sqrt(b + c))


def test_the_paired_pass_fail_interval_excludes_zero_exactly_when_mcnemar_is_significant():
    for n in (40, 120):
        for b in range(0, 30, 3):
            for c in range(0, 40, 1):
                if b + c > n:
                    continue
                result = paired_pass_fail(b=b, c=c, n=n)
                assert (result.low > 0 or result.high < 0) == (result.p_value < 0.05), (b, c, n, result)


def test_paired_pass_fail_interval_covers_the_true_difference_of_a_known_distribution():
    # Cells: control-only pass 10%, challenger-only pass 20%, so the true gain is 10 points.
    rng = np.random.default_rng(21)
    covered = []
    for _ in range(200):
        b, c, _ = rng.multinomial(200, [0.1, 0.2, 0.7])
        result = paired_pass_fail(b=int(b), c=int(c), n=200)
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


def test_paired_numeric_reports_the_hodges_lehmann_estimate_of_the_wilcoxon_test():
    differences = np.random.default_rng(7).normal(0.3, 1.0, size=150)
    result = paired_numeric(differences)
    walsh = [(x + y) / 2 for i, x in enumerate(differences) for y in differences[i:]]
    assert result.difference == pytest.approx(np.median(walsh))
    assert result.low < result.difference < result.high
    assert result.test == "Wilcoxon signed-rank test"
    assert result.p_value == pytest.approx(stats.wilcoxon(differences).pvalue)


def test_the_direction_shown_is_the_direction_the_test_found():
    # 50 of 60 cases got 1 token longer, 10 got 8 tokens shorter: the mean falls, the typical case rises.
    differences = np.array([1.0] * 50 + [-8.0] * 10)
    result = paired_numeric(differences)
    assert differences.mean() < 0 < result.difference
    assert result.low > 0  # and the interval agrees with p < 0.05
    assert result.p_value < 0.05


def test_the_hodges_lehmann_interval_excludes_zero_exactly_when_wilcoxon_is_significant():
    rng = np.random.default_rng(11)
    for trial in range(300):
        d = rng.normal(rng.uniform(0, 0.6), 1, size=int(rng.integers(10, 200)))
        result = paired_numeric(d)
        assert (result.low > 0 or result.high < 0) == (result.p_value < 0.05), (trial, result)


def test_the_signed_rank_interval_inverts_scipy_s_test():
    d = np.random.default_rng(12).normal(0.5, 1, size=40)
    low, high = hodges_lehmann(d)[1:]
    for shift, inside in [(low + 0.02, True), (high - 0.02, True), (low - 0.05, False), (high + 0.05, False)]:
        assert (stats.wilcoxon(d - shift).pvalue >= 0.05) == inside


def test_on_many_cases_the_paired_t_test_and_its_mean_are_used_together():
    differences = np.random.default_rng(9).normal(0.1, 1.0, size=800)
    result = paired_numeric(differences)
    reference = stats.ttest_1samp(differences, 0.0)
    assert result.test == "paired t-test"
    assert result.difference == pytest.approx(differences.mean())
    assert result.p_value == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval()
    assert (result.low, result.high) == pytest.approx((ci.low, ci.high))


def test_paired_numeric_interval_covers_the_true_centre_of_a_known_distribution():
    rng = np.random.default_rng(22)
    covered = [(lambda r: r.low <= 0.25 <= r.high)(paired_numeric(rng.normal(0.25, 1.0, size=120))) for _ in range(200)]
    assert 0.90 <= np.mean(covered) <= 0.99


def test_paired_numeric_rejects_missing_values():
    with pytest.raises(StatsInputError, match="differences"):
        paired_numeric([0.1, float("nan")])


def test_paired_numeric_on_100k_cases_is_scipys_paired_t_test():
    # Its speed on this size is printed by bench/bench_analysis.py.
    differences = np.random.default_rng(8).normal(0.01, 1.0, size=100_000)
    result = paired_numeric(differences)
    reference = stats.ttest_1samp(differences, 0.0)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.difference == pytest.approx(differences.mean(), rel=1e-12)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)


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

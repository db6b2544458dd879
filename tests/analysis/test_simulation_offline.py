"""Simulations of the offline verdict: how often it is wrong, and how often it finds a real change.

Each test generates per-case results (no database: the functions the offline section calls on its
per-case matrix) and counts decisions over many simulated experiments. Kept small for the suite;
bench/sim_offline.py runs the same rules at larger sizes.
"""

import numpy as np

from promptlib.analysis.offline import offline_alpha
from promptlib.analysis.offline_advice import required_cases
from promptlib.analysis.offline_tests import latency_draws, margin_test, paired_compare, quantile_comparison
from promptlib.analysis.results import VariantInfo
from promptlib.experiments.margins import Margin
from promptlib.stats import look_alpha

VARIANTS = [VariantInfo(1, "control", 1, 1, True), VariantInfo(2, "b", 2, 2, False)]


def _winner(control: np.ndarray, challenger: np.ndarray, *, runs: int, provisional: bool = False) -> bool:
    """Would the offline section declare a significant difference (either way) on this look?"""
    alpha = offline_alpha(runs=runs, provisional=provisional)
    comparison = paired_compare("task_success_rate", control, challenger)
    return alpha is not None and comparison is not None and comparison.p_value <= alpha and comparison.difference != 0


def test_an_a_a_test_looked_at_while_its_batch_runs_finds_at_most_5_percent_false_winners():
    # Looks after 30, 40 and 50 of 60 cases (batch running), then once when it finishes.
    rng = np.random.default_rng(1)
    false_winners = 0
    simulations = 600
    for _ in range(simulations):
        p = rng.beta(0.6, 0.6, size=60)  # some cases are easy, some hard: the same for both variants
        a, b = (rng.random(60) < p).astype(float), (rng.random(60) < p).astype(float)
        looks = [_winner(a[:k], b[:k], runs=0, provisional=True) for k in (30, 40, 50)]
        looks.append(_winner(a, b, runs=1))
        false_winners += any(looks)
    assert false_winners / simulations <= 0.05


def test_an_a_a_test_with_five_scheduled_runs_finds_at_most_5_percent_false_winners():
    # Five runs over the same 60 cases; after each, the combined results (shares of repeats) are tested.
    rng = np.random.default_rng(2)
    simulations, cases = 600, 60
    false_winners = 0
    for _ in range(simulations):
        p = rng.beta(0.6, 0.6, size=cases)
        passes = (rng.random((5, 2, cases)) < p).astype(float)  # [run, variant, case]
        for run in range(1, 6):
            shares = passes[:run].mean(axis=0)
            if _winner(shares[0], shares[1], runs=run):
                false_winners += 1
                break
    assert false_winners / simulations <= 0.05


def _cost_cases(rng, n: int, *, challenger_cost_factor: float) -> dict:
    """The per-case sums the offline section reads, [variant, case], for one call per case."""
    success = (rng.random((2, n)) < 0.7).astype(float)
    cost = rng.lognormal(np.log(0.002), 0.4, size=(2, n))
    cost[1] *= challenger_cost_factor
    zeros = np.zeros((2, n))
    return {"calls": np.ones((2, n)), "successes": success, "cost_sum": cost, "judge_cost_sum": zeros}


def test_a_challenger_whose_cost_per_success_doubles_fails_its_guardrail():
    rng = np.random.default_rng(3)
    margin = Margin(0.05, relative=True)
    failed = 0
    for _ in range(100):
        cases = _cost_cases(rng, 100, challenger_cost_factor=2.0)
        test = margin_test(
            "cost_per_success_usd", margin, case_values={}, cases=cases, draws={}, n_draws=0, control_i=0, i=1
        )
        failed += test.p_harm <= 0.05
    assert failed >= 95


def test_an_unchanged_cost_is_not_called_a_failure():
    rng = np.random.default_rng(4)
    margin = Margin(0.05, relative=True)
    failed = 0
    for _ in range(200):
        cases = _cost_cases(rng, 200, challenger_cost_factor=1.0)
        test = margin_test(
            "cost_per_success_usd", margin, case_values={}, cases=cases, draws={}, n_draws=0, control_i=0, i=1
        )
        failed += test.p_harm <= 0.05
    assert failed / 200 <= 0.05


def _latencies(rng, n: int) -> np.ndarray:
    """[variant, case]: the challenger is faster on a typical case but its slowest 10% are ~400 ms slower."""
    base = rng.lognormal(np.log(800), 0.35, size=n)
    control = base * np.exp(rng.normal(0, 0.05, size=n))
    challenger = base * np.exp(rng.normal(0, 0.05, size=n)) - 60 + (base > np.quantile(base, 0.9)) * 400
    return np.vstack([control, challenger])


def test_a_p95_only_regression_is_detected_with_400_cases():
    rng = np.random.default_rng(5)
    detected = 0
    simulations = 100
    for _ in range(simulations):
        latency = _latencies(rng, 400)
        assert latency[1].mean() < latency[0].mean() + 5  # on average no slower: a mean test cannot see it
        draws, n = latency_draws({"latency_p50_ms": latency}, VARIANTS)
        p95 = quantile_comparison("latency_p95_ms", draws, n, 0, 1)
        detected += p95.difference > 0 and p95.p_value <= look_alpha(alpha=0.05, look=1)
    assert detected / simulations >= 0.8


def test_percentiles_of_an_a_a_test_are_rarely_called_different():
    rng = np.random.default_rng(6)
    false = 0
    simulations = 200
    for _ in range(simulations):
        base = rng.lognormal(np.log(800), 0.35, size=150)
        latency = np.vstack([base * np.exp(rng.normal(0, 0.1, size=150)) for _ in range(2)])
        draws, n = latency_draws({"latency_p50_ms": latency}, VARIANTS)
        false += quantile_comparison("latency_p95_ms", draws, n, 0, 1).p_value <= 0.05
    assert false / simulations <= 0.05


def test_pass_fail_power_at_the_advised_number_of_cases_is_at_least_78_percent():
    # Truth: the control alone passes 10% of cases, the challenger alone 20% (a 10-point gain).
    rng = np.random.default_rng(7)
    cells = [0.1, 0.2, 0.45, 0.25]  # control only, challenger only, both, neither

    def draw(n):
        kind = rng.choice(4, size=n, p=cells)
        return np.isin(kind, (0, 2)).astype(float), np.isin(kind, (1, 2)).astype(float)

    alpha = offline_alpha(runs=1, provisional=False)
    control, challenger = draw(2_000)  # a large pilot stands for what the page sees
    advised = required_cases("task_success_rate", challenger - control, control, 0.10, alpha)
    assert 150 < advised < 400
    wins = sum(
        (lambda c: c.p_value <= alpha and c.difference > 0)(paired_compare("task_success_rate", *draw(advised)))
        for _ in range(500)
    )
    assert wins / 500 >= 0.78


def test_numeric_power_at_the_advised_number_of_cases_is_at_least_78_percent():
    rng = np.random.default_rng(8)
    alpha = offline_alpha(runs=1, provisional=False)
    pilot = rng.normal(0.2, 1.0, size=2_000)
    advised = required_cases("output_tokens", pilot, np.zeros(2_000), 0.2, alpha)
    wins = 0
    for _ in range(300):
        d = rng.normal(0.2, 1.0, size=advised)
        c = paired_compare("output_tokens", np.zeros(advised), d)
        wins += c.p_value <= alpha and c.difference > 0
    assert wins / 300 >= 0.78

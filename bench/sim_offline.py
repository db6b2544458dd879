"""How often is the offline verdict wrong, and how often does it find a real change? Bigger runs of
tests/analysis/test_simulation_offline.py, through the same functions the offline section calls.

    .venv/bin/python bench/sim_offline.py [--runs 2000]

Prints, each with its naive counterpart (a fixed-sample test at p <= 0.05 on every look):
  - A/A false winners with looks after 30/40/50 of 60 cases while the batch runs, then at the end;
  - A/A false winners over five scheduled runs of the same 60 cases;
  - the p95-only regression (typical answer faster, slowest 10% ~400 ms slower) found with 400 cases;
  - a 95th-percentile A/A at 150 cases called different at p <= 0.05;
  - the power of the pass/fail test at the advised number of cases.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")  # settings only: no database is touched

import django  # noqa: E402

django.setup()

from promptlib.analysis.offline import offline_alpha  # noqa: E402
from promptlib.analysis.offline_advice import required_cases  # noqa: E402
from promptlib.analysis.offline_tests import latency_draws, paired_compare, quantile_comparison  # noqa: E402
from promptlib.analysis.results import VariantInfo  # noqa: E402

VARIANTS = [VariantInfo(1, "control", 1, 1, True), VariantInfo(2, "b", 2, 2, False)]


def _significant(a, b, alpha):
    c = paired_compare("task_success_rate", a, b)
    return c is not None and c.p_value <= alpha and c.difference != 0


def looks_while_running(runs: int, rng) -> tuple[float, float]:
    new = naive = 0
    for _ in range(runs):
        p = rng.beta(0.6, 0.6, size=60)
        a, b = (rng.random(60) < p).astype(float), (rng.random(60) < p).astype(float)
        new += _significant(a, b, offline_alpha(runs=1, provisional=False))  # running looks draw no verdict
        naive += any(_significant(a[:k], b[:k], 0.05) for k in (30, 40, 50, 60))
    return new / runs, naive / runs


def scheduled_runs(runs: int, rng) -> tuple[float, float]:
    new = naive = 0
    for _ in range(runs):
        p = rng.beta(0.6, 0.6, size=60)
        passes = (rng.random((5, 2, 60)) < p).astype(float)
        shares = [passes[:k].mean(axis=0) for k in range(1, 6)]
        new += any(_significant(s[0], s[1], offline_alpha(runs=k, provisional=False)) for k, s in enumerate(shares, 1))
        naive += any(_significant(s[0], s[1], 0.05) for s in shares)
    return new / runs, naive / runs


def p95_regression(runs: int, rng) -> float:
    found = 0
    for _ in range(runs):
        base = rng.lognormal(np.log(800), 0.35, size=400)
        control = base * np.exp(rng.normal(0, 0.05, size=400))
        challenger = base * np.exp(rng.normal(0, 0.05, size=400)) - 60 + (base > np.quantile(base, 0.9)) * 400
        draws, n = latency_draws({"latency_p50_ms": np.vstack([control, challenger])}, VARIANTS)
        q = quantile_comparison("latency_p95_ms", draws, n, 0, 1)
        found += q.difference > 0 and q.p_value <= offline_alpha(runs=1, provisional=False)
    return found / runs


def p95_a_a(runs: int, rng) -> float:
    false = 0
    for _ in range(runs):
        base = rng.lognormal(np.log(800), 0.35, size=150)
        latency = np.vstack([base * np.exp(rng.normal(0, 0.1, size=150)) for _ in range(2)])
        draws, n = latency_draws({"latency_p50_ms": latency}, VARIANTS)
        false += quantile_comparison("latency_p95_ms", draws, n, 0, 1).p_value <= 0.05
    return false / runs


def power_at_advice(runs: int, rng) -> tuple[int, float]:
    cells = [0.1, 0.2, 0.45, 0.25]

    def draw(n):
        kind = rng.choice(4, size=n, p=cells)
        return np.isin(kind, (0, 2)).astype(float), np.isin(kind, (1, 2)).astype(float)

    alpha = offline_alpha(runs=1, provisional=False)
    control, challenger = draw(20_000)
    advised = required_cases("task_success_rate", challenger - control, control, 0.10, alpha)
    wins = sum(
        (lambda c: c.p_value <= alpha and c.difference > 0)(paired_compare("task_success_rate", *draw(advised)))
        for _ in range(runs)
    )
    return advised, wins / runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    new, naive = looks_while_running(args.runs, rng)
    print(f"A/A, looks at 30/40/50 of 60 cases while running + at the end: {new:.1%} false winners (naive {naive:.1%})")
    new, naive = scheduled_runs(args.runs, rng)
    print(f"A/A, five scheduled runs of 60 cases: {new:.1%} false winners (naive {naive:.1%})")
    print(f"p95-only regression at 400 cases found: {p95_regression(args.runs // 4, rng):.1%}")
    print(f"p95 A/A at 150 cases called different (p <= 0.05): {p95_a_a(args.runs // 4, rng):.1%}")
    advised, power = power_at_advice(args.runs, rng)
    print(f"pass/fail power at the advised {advised} cases (10-point gain, run 1): {power:.1%}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

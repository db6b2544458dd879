"""Does peeking inflate false winners? Simulates A/A and A/B experiments checked after every batch.

    .venv/bin/python bench/sim_sequential.py [--runs 1000] [--peeks 20] [--n 1000]

Prints the share of A/A experiments (50% vs 50%) in which the sequential test ever declares a
winner (should be <= 5%), and the share of A/B experiments (50% vs 60%) in which it finds the
right winner by n per arm. All runs and looks are computed in one vectorised call.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptlib.stats.sequential import sequential_rates  # noqa: E402


def simulate_winner_rate(
    *,
    runs: int,
    peeks: int,
    n_per_arm: int,
    control_rate: float,
    variant_rate: float,
    seed: int = 0,
    naive: bool = False,
) -> float:
    """Share of runs whose first significant look (p <= 0.05) has the variant ahead — or, when
    the rates are equal, either arm ahead (any declared winner is false)."""
    rng = np.random.default_rng(seed)
    batch = n_per_arm // peeks
    n = batch * np.arange(1, peeks + 1)
    control = np.cumsum(rng.binomial(batch, control_rate, size=(runs, peeks)), axis=1)
    variant = np.cumsum(rng.binomial(batch, variant_rate, size=(runs, peeks)), axis=1)
    result = sequential_rates(
        control_n=n, control_successes=control, variant_n=n, variant_successes=variant, planned_n=n_per_arm
    )
    significant = result.p_value <= 0.05
    if naive:  # a fixed-sample two-proportion z-test, wrongly checked at every look, for contrast
        pooled = (control + variant) / (2 * n)
        z = (variant - control) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
        significant = 2 * stats.norm.sf(np.abs(z)) <= 0.05
    first = np.argmax(significant, axis=1)  # the look at which an experiment would stop
    first_difference = result.difference[np.arange(runs), first]
    declared = significant.any(axis=1)
    if control_rate == variant_rate:
        return float(declared.mean())
    return float((declared & (first_difference > 0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--peeks", type=int, default=20)
    parser.add_argument("--n", type=int, default=1_000, help="subjects per arm at the last look")
    args = parser.parse_args()
    common = {"runs": args.runs, "peeks": args.peeks, "n_per_arm": args.n}
    started = time.perf_counter()
    false_rate = simulate_winner_rate(**common, control_rate=0.5, variant_rate=0.5, seed=1)
    power = simulate_winner_rate(**common, control_rate=0.5, variant_rate=0.6, seed=2)
    elapsed = time.perf_counter() - started
    naive_rate = simulate_winner_rate(**common, control_rate=0.5, variant_rate=0.5, seed=1, naive=True)
    print(f"{args.runs} experiments, looked at after each of {args.peeks} batches, {args.n} per arm at the end")
    print(f"A/A (50% vs 50%): a winner declared in {false_rate:.1%} of runs (target <= 5%)")
    print(f"A/B (50% vs 60%): the true winner found in {power:.1%} of runs (target > 50%)")
    print(f"for contrast, a fixed-sample z-test checked at every look: {naive_rate:.1%} false winners in A/A")
    print(f"simulated in {elapsed:.2f} s")


if __name__ == "__main__":
    main()

"""Bayesian view of success rates: chance to beat control and chance to be best.

Each variant's rate gets a Beta(1 + successes, 1 + failures) posterior (a flat Beta(1, 1) prior
updated by binomial data); the chances are Monte Carlo shares over seeded posterior draws, so a
page shows the same numbers on every load.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promptlib.stats.intervals import require

DEFAULT_DRAWS = 20_000


@dataclass(frozen=True)
class BayesianRates:
    chance_to_beat_control: list[float | None]  # per variant, in input order; None for the control itself
    chance_to_be_best: list[float]  # per variant, sums to 1


def bayesian_rates(
    *, arms: Sequence[tuple[int, int]], control_index: int = 0, draws: int = DEFAULT_DRAWS, seed: int = 0
) -> BayesianRates:
    """`arms` is [(n, successes), …] for each variant, the control at `control_index`."""
    require(len(arms) >= 2, "arms", "needs the control and at least one other variant")
    require(0 <= control_index < len(arms), "control_index", "must point at one of the arms")
    for n, successes in arms:
        require(0 <= successes <= n, "arms", "each successes count must be between 0 and its n")
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.beta(1 + s, 1 + n - s, size=draws) for n, s in arms])
    beats = (samples > samples[control_index]).mean(axis=1)
    best = np.bincount(np.argmax(samples, axis=0), minlength=len(arms)) / draws
    return BayesianRates(
        chance_to_beat_control=[None if i == control_index else float(p) for i, p in enumerate(beats)],
        chance_to_be_best=best.tolist(),
    )

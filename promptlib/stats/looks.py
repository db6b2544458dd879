"""Repeated looks at offline results: each finished batch run is a look at the combined results.

A test checked after every scheduled re-run finds more false winners than its alpha (five runs:
6.7% instead of 5%). So the error budget is spent across runs: run k is tested at

    alpha_k = alpha · 6 / (π² k²)     (Σ over every k ≥ 1 is exactly alpha)

so the chance of ever declaring a false winner, however many runs follow, stays below alpha (a
union bound: no assumption on how the runs are related). Run 1 is tested at 3.0%, run 2 at 0.76%,
run 5 at 0.12%. A batch still running is no look at all: its numbers are provisional.
"""

import math

from promptlib.stats.intervals import require


def look_alpha(*, alpha: float, look: int) -> float:
    require(look >= 1, "look", "must be at least 1")
    require(0 < alpha < 1, "alpha", "must be between 0 and 1")
    return alpha * 6 / (math.pi**2 * look**2)

"""Statistics for A/B tests: plain functions over aggregates (counts, sums, per-case pairs).

No Django here — selectors aggregate in SQL and pass numbers in; results are dataclasses a
template renders directly.
"""

from promptlib.stats.bayes import BayesianRates, bayesian_rates
from promptlib.stats.intervals import (
    Estimate,
    StatsInputError,
    bootstrap_interval,
    mean_estimate,
    median_estimate,
    rate_estimate,
)
from promptlib.stats.paired import (
    PairedComparison,
    case_means,
    discordant_counts,
    mcnemar,
    paired_numeric,
    paired_pass_fail,
    wilcoxon,
)
from promptlib.stats.power import (
    more_needed,
    sample_size_paired_means,
    sample_size_paired_rates,
    sample_size_two_means,
    sample_size_two_proportions,
)
from promptlib.stats.sequential import SequentialComparison, sequential_means, sequential_rates
from promptlib.stats.verdict import MetricComparison, Verdict, VerdictState, holm, verdict_decide

__all__ = [
    "BayesianRates",
    "Estimate",
    "MetricComparison",
    "PairedComparison",
    "SequentialComparison",
    "StatsInputError",
    "Verdict",
    "VerdictState",
    "bayesian_rates",
    "bootstrap_interval",
    "case_means",
    "discordant_counts",
    "holm",
    "mcnemar",
    "mean_estimate",
    "median_estimate",
    "more_needed",
    "paired_numeric",
    "paired_pass_fail",
    "rate_estimate",
    "sample_size_paired_means",
    "sample_size_paired_rates",
    "sample_size_two_means",
    "sample_size_two_proportions",
    "sequential_means",
    "sequential_rates",
    "verdict_decide",
    "wilcoxon",
]

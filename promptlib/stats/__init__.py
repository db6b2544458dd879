"""Statistics for A/B tests: plain functions over aggregates (counts, sums, per-case pairs).

No Django here — selectors aggregate in SQL and pass numbers in; results are dataclasses a
template renders directly.
"""

from promptlib.stats.agreement import Kappa, cohens_kappa
from promptlib.stats.bayes import BayesianRates, bayesian_rates
from promptlib.stats.clustered import RatioComparison, clustered_mean, clustered_rate, paired_ratio
from promptlib.stats.intervals import (
    Estimate,
    StatsInputError,
    bootstrap_interval,
    mean_estimate,
    median_estimate,
    rate_estimate,
)
from promptlib.stats.looks import look_alpha
from promptlib.stats.margins import (
    MarginTest,
    margin_from_z,
    margin_means,
    margin_pass_fail,
    margin_ratios,
)
from promptlib.stats.paired import (
    PairedComparison,
    case_means,
    discordant_counts,
    hodges_lehmann,
    mcnemar,
    paired_numeric,
    paired_pass_fail,
    paired_t,
    tango_interval,
    wilcoxon,
)
from promptlib.stats.power import (
    more_needed,
    sample_size_paired_means,
    sample_size_paired_rates,
    sample_size_sequential,
    sample_size_two_means,
    sample_size_two_proportions,
)
from promptlib.stats.quantiles import QuantileDraws, quantile_difference, quantile_draws, quantile_margin_p
from promptlib.stats.sequential import SequentialComparison, sequential_means, sequential_rates
from promptlib.stats.verdict import MetricComparison, Verdict, VerdictState, holm, verdict_decide

__all__ = [
    "Kappa",
    "cohens_kappa",
    "MarginTest",
    "QuantileDraws",
    "RatioComparison",
    "clustered_mean",
    "clustered_rate",
    "hodges_lehmann",
    "look_alpha",
    "margin_from_z",
    "margin_means",
    "margin_pass_fail",
    "margin_ratios",
    "paired_ratio",
    "paired_t",
    "quantile_difference",
    "quantile_draws",
    "quantile_margin_p",
    "sample_size_sequential",
    "tango_interval",
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

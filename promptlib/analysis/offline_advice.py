"""How many test cases the offline test needs, said so that it agrees with the verdict."""

from __future__ import annotations

import numpy as np

from promptlib.analysis.offline_tests import QUANTILES, cases_both, is_pass_fail
from promptlib.analysis.results import Guidance
from promptlib.experiments.metrics import METRICS
from promptlib.experiments.models import Experiment
from promptlib.stats import (
    StatsInputError,
    Verdict,
    VerdictState,
    more_needed,
    sample_size_paired_means,
    sample_size_paired_rates,
)
from promptlib.stats.paired import SIGNED_RANK_BELOW

# The Wilcoxon test needs about 1 / 0.955 as many cases as the t-test for the same power (normal data).
SIGNED_RANK_EFFICIENCY = 0.955
# Advice to grow a dataset beyond this many times its size is advice it cannot follow.
DATASET_REACH = 4


def required_cases(metric: str, d: np.ndarray, control: np.ndarray, effect: float, alpha: float) -> int | None:
    """Cases per variant the paired test of `metric` needs to detect `effect` with 80% power at `alpha`."""
    if METRICS[metric].kind == "rate" and is_pass_fail(control, control + d):
        baseline = float(np.mean(control)) if control.size else 0.5
        signed = effect if baseline + effect <= 1 else -effect
        share = float(np.mean(d != 0)) if d.size else None
        return sample_size_paired_rates(baseline=baseline, minimum_effect=signed, discordant_share=share, alpha=alpha)
    if d.size > 1 and np.std(d, ddof=1) > 0:
        n = sample_size_paired_means(sd_difference=float(np.std(d, ddof=1)), minimum_effect=effect, alpha=alpha)
        # Numbers are tested with the signed-rank test below SIGNED_RANK_BELOW cases: slightly less efficient.
        is_signed_rank = METRICS[metric].kind != "rate" and n < SIGNED_RANK_BELOW
        return int(np.ceil(n / SIGNED_RANK_EFFICIENCY)) if is_signed_rank else n
    return None


def cases_required(*, experiment: Experiment, variants, case_values, alpha: float) -> int:
    """Cases per variant the primary metric's test needs at `alpha` for the minimum effect (0: unknown)."""
    metric = experiment.primary_metric
    control_i = next(i for i, v in enumerate(variants) if v.is_control)
    control = case_values[metric][control_i]
    effect = experiment.minimum_effect or 0.05
    required = 0
    for i in range(len(variants)):
        if i == control_i:
            continue
        both = cases_both(control, case_values[metric][i])
        try:
            needed = required_cases(metric, case_values[metric][i][both] - control[both], control[both], effect, alpha)
        except StatsInputError:
            continue
        required = max(required, needed or 0)
    return required


def offline_guidance(
    *, experiment: Experiment, variants, case_values, sample_sizes, verdict: Verdict, alpha: float, next_alpha: float
) -> Guidance | None:
    """How many cases would detect the minimum effect, said so that it agrees with the verdict: judged at
    the level this run was tested at (`alpha`), advised for the next run (`next_alpha`)."""
    metric = experiment.primary_metric
    if metric not in case_values or not sample_sizes or metric in QUANTILES:
        return None
    required = cases_required(experiment=experiment, variants=variants, case_values=case_values, alpha=next_alpha)
    if not required:
        return None
    current = min(sample_sizes.values())
    effect = experiment.minimum_effect or 0.05
    size = f"{effect * 100:g} points" if METRICS[metric].kind == "rate" else f"{effect:g}"
    label = METRICS[metric].label.lower()
    more = more_needed(required=required, current=current)
    if verdict.state in (VerdictState.WINNER, VerdictState.CHALLENGER_WORSE):
        more, text = 0, f"The difference is shown with {current:,} cases per variant."
    elif verdict.state == VerdictState.GUARDRAIL_NOT_SHOWN_SAFE:
        more, text = (
            0,
            (
                f"The gain in {label} is shown with {current:,} cases per variant; more cases would show whether the "
                "guardrail stays within its margin."
            ),
        )
    elif verdict.state == VerdictState.GUARDRAIL_FAILED:
        more, text = (
            0,
            f"The gain in {label} is shown, but a guardrail is worse than allowed: more cases will not change that.",
        )
    elif verdict.state == VerdictState.COLLECTING_DATA:
        text = f"About {required:,} cases per variant would detect a change of {size} in {label} (80% of the time)."
    elif cases_required(experiment=experiment, variants=variants, case_values=case_values, alpha=alpha) <= current:
        more = 0
        text = (
            f"With {current:,} cases per variant a change of {size} in {label} would very likely (80%) have been "
            f"detected: the difference, if any, is probably smaller than that."
        )
    elif required > DATASET_REACH * current:
        text = (
            f"A change of {size} in {label} is too small to detect with this dataset: it would take about "
            f"{required:,} cases per variant, and it has {current:,}. Decide on other grounds, or look for a "
            "larger change."
        )
    else:
        text = (
            f"Add about {more:,} more cases to the dataset (about {required:,} per variant in all) and run again "
            f"for an 80% chance of detecting a change of {size} in {label}, if there is one."
        )
    return Guidance(required=required, current=current, more_needed=more, text=text)

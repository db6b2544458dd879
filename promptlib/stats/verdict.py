"""The winner rule: turns per-variant comparisons into one state and a sentence a marketer reads.

Order of precedence: too little data -> collecting_data; a challenger significantly better on the
primary metric with no guardrail significantly worse -> winner (the best estimate if several);
better but a guardrail worse -> guardrail_failed; control significantly better -> challenger_worse;
otherwise no_significant_difference. p-values are expected already Holm-adjusted across challengers.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from promptlib.stats.intervals import require

DEFAULT_MINIMUM_SAMPLE = 30


class VerdictState(StrEnum):
    WINNER = "winner"
    COLLECTING_DATA = "collecting_data"
    NO_SIGNIFICANT_DIFFERENCE = "no_significant_difference"
    GUARDRAIL_FAILED = "guardrail_failed"
    CHALLENGER_WORSE = "challenger_worse"
    # Subjects were not split as the weights say: no comparison can be trusted (production only).
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"


@dataclass(frozen=True)
class MetricComparison:
    """One challenger against the control on one metric."""

    variant: str  # the challenger's key
    metric: str  # "task_success_rate"
    control_value: float
    variant_value: float
    p_value: float  # Holm-adjusted
    test: str  # "McNemar's test"
    higher_is_better: bool = True
    is_rate: bool = False  # shown as percent, differences as points
    label: str = ""  # "task success"; defaults to the metric name in words
    unit: str = ""  # appended to non-rate values: " ms"

    @property
    def difference(self) -> float:
        return self.variant_value - self.control_value

    @property
    def improvement(self) -> float:
        """The difference signed so that positive is good."""
        return self.difference if self.higher_is_better else -self.difference

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha and self.difference != 0


@dataclass(frozen=True)
class Verdict:
    state: VerdictState
    reason: str
    winner: str | None = None  # the winning variant's key
    variant: str | None = None  # the variant the reason is about
    metric: str | None = None  # the metric the reason is about (the failed guardrail's, when one failed)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in input order (as statsmodels multipletests 'holm')."""
    p = np.asarray(p_values, dtype=float)
    require(bool(np.all((p >= 0) & (p <= 1))), "p_values", "must all be between 0 and 1")
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((p.size - np.arange(p.size)) * p[order]))
    result = np.empty_like(p)
    result[order] = adjusted
    return result.tolist()


def verdict_decide(
    *,
    primary: Sequence[MetricComparison],
    guardrails: Sequence[MetricComparison] = (),
    sample_sizes: Mapping[str, int],
    control: str = "control",
    minimum_sample: int = DEFAULT_MINIMUM_SAMPLE,
    alpha: float = 0.05,
) -> Verdict:
    """`primary` has one comparison per challenger; `sample_sizes` maps every variant key, control
    included, to its number of results (or cases); `control` is the control's key."""
    require(len(primary) >= 1, "primary", "needs a comparison for at least one challenger")
    short = {key: n for key, n in sample_sizes.items() if n < minimum_sample}
    if short:
        key, n = min(short.items(), key=lambda item: item[1])
        who = "the control" if key == control else _name(key)
        return Verdict(
            state=VerdictState.COLLECTING_DATA,
            reason=f"Collecting data: {who} has {n} of the {minimum_sample} results needed per variant.",
            variant=key,
        )
    better = sorted(
        (c for c in primary if c.significant(alpha) and c.improvement > 0), key=lambda c: c.improvement, reverse=True
    )
    failed = {c.variant: _worst_guardrail(c.variant, guardrails, alpha) for c in better}
    clean = [c for c in better if failed[c.variant] is None]
    if clean:
        best = clean[0]
        return Verdict(
            state=VerdictState.WINNER,
            reason=f"{_name(best.variant)} wins: {_comparison(best)}.",
            winner=best.variant,
            variant=best.variant,
            metric=best.metric,
        )
    if better:
        best, guardrail = better[0], failed[better[0].variant]
        return Verdict(
            state=VerdictState.GUARDRAIL_FAILED,
            reason=(
                f"{_name(best.variant)} improves {_label(best)} ({_short(best)}) but worsens "
                f"{_label(guardrail)}: {_comparison(guardrail, labelled=False)}."
            ),
            variant=best.variant,
            metric=guardrail.metric,
        )
    worse = sorted((c for c in primary if c.significant(alpha) and c.improvement < 0), key=lambda c: c.improvement)
    if worse:
        loser = worse[0]
        return Verdict(
            state=VerdictState.CHALLENGER_WORSE,
            reason=f"{_name(loser.variant)} is worse than control: {_comparison(loser)}.",
            variant=loser.variant,
            metric=loser.metric,
        )
    closest = min(primary, key=lambda c: c.p_value)
    return Verdict(
        state=VerdictState.NO_SIGNIFICANT_DIFFERENCE,
        reason=f"No significant difference yet: {_name(closest.variant).lower()} has {_comparison(closest)}.",
        variant=closest.variant,
        metric=closest.metric,
    )


def _worst_guardrail(variant: str, guardrails: Sequence[MetricComparison], alpha: float) -> MetricComparison | None:
    harmed = [g for g in guardrails if g.variant == variant and g.significant(alpha) and g.improvement < 0]
    return min(harmed, key=lambda g: g.p_value, default=None)


def _name(key: str) -> str:
    return f"Variant {key.upper()}" if len(key) <= 2 else f"Variant “{key}”"


def _label(c: MetricComparison) -> str:
    return c.label or c.metric.removesuffix("_rate").replace("_", " ")


def _value(c: MetricComparison, value: float) -> str:
    return f"{value:.0%}" if c.is_rate else f"{_number(value)}{c.unit}"


def _number(value: float, sign: str = "") -> str:
    """Plain figures a reader takes in at a glance: 1,400 · 12.3 · 0.042 (never 1.4e+03)."""
    return f"{value:{sign},.0f}" if abs(value) >= 1000 else f"{value:{sign}.3g}"


def _short(c: MetricComparison) -> str:
    """'+13 points, p = 0.003'"""
    if c.is_rate:
        points = round(c.difference * 100)
        change = f"{points:+d} point{'' if abs(points) == 1 else 's'}"
    else:
        change = f"{_number(c.difference, '+')}{c.unit}"
    return f"{change.replace('-', '−')}, {_p(c.p_value)}"


def _p(p_value: float) -> str:
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.01 else f"p = {p_value:.2f}"


def _comparison(c: MetricComparison, *, labelled: bool = True) -> str:
    """'task success 84% vs 71% (+13 points, p = 0.003, McNemar's test)' — the variant's value first."""
    label = f"{_label(c)} " if labelled else ""
    return f"{label}{_value(c, c.variant_value)} vs {_value(c, c.control_value)} ({_short(c)}, {c.test})"

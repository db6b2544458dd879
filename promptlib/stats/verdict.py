"""The winner rule: turns per-variant comparisons into one state and a sentence a marketer reads.

Order of precedence: too little data -> collecting_data; a challenger significantly better on the
primary metric with every guardrail shown within its margin -> winner (the best estimate if
several); better but a guardrail shown beyond its margin -> guardrail_failed; better but a guardrail
not yet shown within its margin -> guardrail_not_shown_safe; control significantly better ->
challenger_worse; otherwise no_significant_difference. Primary p-values are expected already
Holm-adjusted across challengers, guardrail p-values across each challenger's guardrails.

The reason is one plain sentence, the verdict first ("Version 3 answers correctly more often: 94% vs
62% of test cases. A difference this large is very unlikely to be chance."); the figures a
statistician checks (difference, p-value, test) go in `detail`.
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
    GUARDRAIL_NOT_SHOWN_SAFE = "guardrail_not_shown_safe"


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
    # The difference the test estimated (Hodges–Lehmann, percentile or ratio difference), when it is
    # not simply variant_value − control_value: its sign decides better or worse, as the p-value does.
    estimate: float | None = None
    # Guardrails: one-sided p-values (Holm-adjusted) that the harm is within / beyond the margin.
    p_safe: float | None = None
    p_harm: float | None = None
    margin_text: str = ""  # "+10%", "2 points"
    # Plain words: what the challenger does when its value is higher / lower, and what is counted.
    plain: tuple[str, str] = ()  # ("answers correctly more often", "answers correctly less often")
    of_what: str = ""  # "of test cases"

    @property
    def difference(self) -> float:
        return self.variant_value - self.control_value if self.estimate is None else self.estimate

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
    detail: str = ""  # the figures behind the sentence: difference, p-value, test


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
    names: Mapping[str, str] | None = None,
    unit: str = "results",
) -> Verdict:
    """`primary` has one comparison per challenger; `sample_sizes` maps every variant key, control
    included, to its number of `unit` (results, test cases); `control` is the control's key; `names`
    what the page calls each variant ("Version 3"), by key."""
    require(len(primary) >= 1, "primary", "needs a comparison for at least one challenger")
    name = _namer(names)
    short = {key: n for key, n in sample_sizes.items() if n < minimum_sample}
    if short:
        key, n = min(short.items(), key=lambda item: item[1])
        who = "the control" if key == control else name(key)
        return Verdict(
            state=VerdictState.COLLECTING_DATA,
            reason=f"Collecting data: {who} has {n} of the {minimum_sample} {unit} needed per variant.",
            variant=key,
        )
    better = sorted(
        (c for c in primary if c.significant(alpha) and c.improvement > 0), key=lambda c: c.improvement, reverse=True
    )
    blocked = {c.variant: _blocking_guardrail(c.variant, guardrails, alpha) for c in better}
    clean = [c for c in better if blocked[c.variant] is None]
    if clean:
        best = clean[0]
        return Verdict(
            state=VerdictState.WINNER,
            reason=f"{name(best.variant)} {_plain(best)}. {_chance(best.p_value)}",
            winner=best.variant,
            variant=best.variant,
            metric=best.metric,
            detail=_comparison(best),
        )
    if better:
        best = better[0]
        state, guardrail = blocked[best.variant]
        if state == VerdictState.GUARDRAIL_FAILED:
            but = f"but its {_label(guardrail)} is worse than allowed: {_values(guardrail)}" + (
                f" (allowed: {guardrail.margin_text} at most)." if guardrail.margin_text else "."
            )
        else:
            but = (
                f"but it is not yet shown that its {_label(guardrail)} stays within {guardrail.margin_text} "
                f"of {name(control)}'s ({_values(guardrail)}). More cases will tell."
            )
        return Verdict(
            state=state,
            reason=f"{name(best.variant)} {_plain(best, values_in_brackets=True)}, {but}",
            variant=best.variant,
            metric=guardrail.metric,
            detail=f"{_comparison(best)}; {_comparison(guardrail)}",
        )
    worse = sorted((c for c in primary if c.significant(alpha) and c.improvement < 0), key=lambda c: c.improvement)
    if worse:
        loser = worse[0]
        return Verdict(
            state=VerdictState.CHALLENGER_WORSE,
            reason=f"{name(loser.variant)} {_plain(loser)}. {_chance(loser.p_value)} {name(control)} stays ahead.",
            variant=loser.variant,
            metric=loser.metric,
            detail=_comparison(loser),
        )
    closest = min(primary, key=lambda c: c.p_value)
    return Verdict(
        state=VerdictState.NO_SIGNIFICANT_DIFFERENCE,
        reason=(
            f"No clear difference yet between {name(closest.variant)} and {name(control)} on {_label(closest)}: "
            f"{_values(closest)}, a gap that could easily be chance."
        ),
        variant=closest.variant,
        metric=closest.metric,
        detail=_comparison(closest),
    )


def _blocking_guardrail(
    variant: str, guardrails: Sequence[MetricComparison], alpha: float
) -> tuple[VerdictState, MetricComparison] | None:
    """The guardrail that stops `variant` from winning: one shown beyond its margin first, then one not
    yet shown within it. A guardrail without margin tests (p_safe None) blocks only when significantly worse."""
    mine = [g for g in guardrails if g.variant == variant]
    failed = [
        g for g in mine if (g.p_harm <= alpha if g.p_harm is not None else g.significant(alpha) and g.improvement < 0)
    ]
    if failed:
        return VerdictState.GUARDRAIL_FAILED, min(failed, key=lambda g: g.p_harm if g.p_harm is not None else g.p_value)
    unsafe = [g for g in mine if g.p_safe is not None and g.p_safe > alpha]
    if unsafe:
        return VerdictState.GUARDRAIL_NOT_SHOWN_SAFE, max(unsafe, key=lambda g: g.p_safe)
    return None


def _namer(names: Mapping[str, str] | None):
    return lambda key: (names or {}).get(key) or _name(key)


def _name(key: str) -> str:
    return f"Variant {key.upper()}" if len(key) <= 2 else f"Variant “{key}”"


def _label(c: MetricComparison) -> str:
    return c.label or c.metric.removesuffix("_rate").replace("_", " ")


def _values(c: MetricComparison) -> str:
    """'94% vs 62% of test cases' — the challenger's value first."""
    of_what = f" {c.of_what}" if c.of_what else ""
    return f"{_value(c, c.variant_value)} vs {_value(c, c.control_value)}{of_what}"


def _plain(c: MetricComparison, *, values_in_brackets: bool = False) -> str:
    """'answers correctly more often: 94% vs 62% of test cases'."""
    # No article: the label may be a plural an application sent ("complaints", "sign-ups").
    higher, lower = c.plain or (f"has higher {_label(c)}", f"has lower {_label(c)}")
    went_up = c.difference > 0
    phrase = higher if went_up else lower
    values = _values(c)
    if c.estimate is not None and not c.is_rate:
        values += f"; typical difference {_number(c.estimate, '+')}{c.unit}".replace("-", "−")
    return f"{phrase} ({values})" if values_in_brackets else f"{phrase}: {values}"


def _chance(p_value: float) -> str:
    """The p-value in words a reader keeps."""
    if p_value < 0.001:
        return "A difference this large is very unlikely to be chance."
    return f"A difference this large would arise by chance only about 1 time in {round(1 / p_value):,}."


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

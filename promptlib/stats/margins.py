"""Guardrails as non-inferiority: a challenger passes a guardrail only when it is shown to stay
within an allowed margin of the control — "not significantly worse" is not enough, since a small
test is never significant.

Each function returns a MarginTest of two one-sided p-values on the same statistic: `p_safe` for
"the harm is smaller than the margin" (H0: harm >= margin) and `p_harm` for "the harm is larger than
the margin" (H0: harm <= margin). Margins are absolute (points of a rate) or relative (+10% of the
control's value) as the caller says; `higher_is_better` gives the direction of harm.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import require
from promptlib.stats.paired import tango_statistic


@dataclass(frozen=True)
class MarginTest:
    p_safe: float
    p_harm: float


def _from_z(z: float) -> MarginTest:
    """z of the excess harm (harm minus margin): negative is within the margin."""
    return MarginTest(p_safe=float(stats.norm.cdf(z)), p_harm=float(stats.norm.sf(z)))


def margin_pass_fail(*, b: int, c: int, n: int, margin: float, higher_is_better: bool = True) -> MarginTest:
    """A pass/fail metric per case (b, c discordant counts as McNemar's) against an absolute margin.

    Tango's score statistic at the margin (Tango 1998 designed it for exactly this test).
    """
    require(margin >= 0, "margin", "must not be negative")
    bound = -margin if higher_is_better else margin
    z = float(tango_statistic(b=b, c=c, n=n, delta=bound))  # > 0: the difference is above the bound
    return _from_z(-z if higher_is_better else z)


def margin_means(control, challenger, *, margin: float, relative: bool, higher_is_better: bool) -> MarginTest:
    """A numeric metric per case (means over repeats) by a one-sample t-test on the per-case excess harm:
    challenger − control − margin (absolute) or challenger − (1 + margin)·control (relative), for a
    lower-is-better metric, and the mirror image for a higher-is-better one."""
    a, b = np.asarray(control, dtype=float), np.asarray(challenger, dtype=float)
    require(a.shape == b.shape and a.size >= 2, "challenger", "needs two or more cases both variants ran")
    require(margin >= 0, "margin", "must not be negative")
    if higher_is_better:
        excess = (1 - margin) * a - b if relative else a - b - margin
    else:
        excess = b - (1 + margin) * a if relative else b - a - margin
    mean, sd = float(excess.mean()), float(excess.std(ddof=1))
    if sd == 0:
        return MarginTest(p_safe=float(mean >= 0), p_harm=float(mean <= 0))
    t = mean / (sd / np.sqrt(excess.size))
    return MarginTest(p_safe=float(stats.t.cdf(t, excess.size - 1)), p_harm=float(stats.t.sf(t, excess.size - 1)))


def margin_from_z(z: float) -> MarginTest:
    """For statistics that already give the z of the excess harm (ratios, percentiles)."""
    return _from_z(z)


def margin_two_rates(
    *, control_n: int, control_successes: int, variant_n: int, variant_successes: int, margin: float,
    higher_is_better: bool = True,
) -> MarginTest:  # fmt: skip
    """Independent arms (production): a rate against an absolute margin, Wald's unpooled z-test
    (as statsmodels' test_proportions_2indep(method="wald") with value = the margin)."""
    require(control_n >= 1 and variant_n >= 1, "control_n", "needs at least one result per arm")
    require(margin >= 0, "margin", "must not be negative")
    pa, pb = control_successes / control_n, variant_successes / variant_n
    se = np.sqrt(pa * (1 - pa) / control_n + pb * (1 - pb) / variant_n)
    harm = (pa - pb) if higher_is_better else (pb - pa)
    if se == 0:
        return MarginTest(p_safe=float(harm < margin), p_harm=float(harm > margin))
    return _from_z((harm - margin) / se)


def margin_two_means(
    *, control_n: int, control_mean: float, control_variance: float, variant_n: int, variant_mean: float,
    variant_variance: float, margin: float, relative: bool, higher_is_better: bool,
) -> MarginTest:  # fmt: skip
    """Independent arms (production): a mean against an absolute or relative margin, by a z-test of the
    excess harm with unequal variances (statsmodels' ztest_ind(usevar="unequal", value=…) when absolute)."""
    require(control_n >= 2 and variant_n >= 2, "control_n", "needs at least two results per arm")
    require(margin >= 0, "margin", "must not be negative")
    factor = (1 - margin if higher_is_better else 1 + margin) if relative else 1.0
    shift = 0.0 if relative else margin
    # Excess harm: lower-is-better b − factor·a − shift; higher-is-better factor·a − b − shift.
    sign = -1.0 if higher_is_better else 1.0
    excess = sign * (variant_mean - factor * control_mean) - shift
    se = np.sqrt(variant_variance / variant_n + factor**2 * control_variance / control_n)
    if se == 0:
        return MarginTest(p_safe=float(excess < 0), p_harm=float(excess > 0))
    return _from_z(excess / se)

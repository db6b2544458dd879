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
from promptlib.stats.ratio import SubjectSums, ratio_moments
from promptlib.stats.sequential import _mixture_test


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


def margin_ratios(
    *, control: SubjectSums, variant: SubjectSums, margin: float, relative: bool, higher_is_better: bool,
    planned_n: int, alpha: float = 0.05,
) -> MarginTest:  # fmt: skip
    """Independent arms counted per user (production): the mean per event against an absolute or
    relative margin, tested as production tests its metrics — noise measured across users (delta
    method, promptlib.stats.ratio) and the mSPRT's always-valid p-value, since the page is looked at
    every day and a fixed-sample test watched that often would pass a harmful guardrail by chance.

    Excess harm: lower-is-better R_b − f·R_a − shift, higher-is-better f·R_a − R_b − shift (f = 1 ± the
    margin when relative, else shift = the margin), with variance Var(R_b) + f²·Var(R_a) (independent
    arms). The mixture's two-sided p-value that the excess is not 0 is spent on the side the estimate
    lies: `p_safe` when it is below 0, `p_harm` when above (the other is 1). Arrays work (simulations).
    """
    require(planned_n >= 1, "planned_n", "must be at least 1")
    require(margin >= 0, "margin", "must not be negative")
    ratio_a, linear_a, var_a = ratio_moments(control)
    ratio_b, linear_b, var_b = ratio_moments(variant)
    factor = (1 - margin if higher_is_better else 1 + margin) if relative else 1.0
    shift = 0.0 if relative else margin
    sign = -1.0 if higher_is_better else 1.0
    excess = sign * (ratio_b - factor * ratio_a) - shift
    # Fewer than two users in an arm: no spread yet, so nothing is shown either way (p = 1).
    variance = np.nan_to_num(var_b + factor**2 * var_a, nan=0.0)
    planned = np.nan_to_num((linear_b + factor**2 * linear_a) / planned_n, nan=0.0)
    p_value, _ = _mixture_test(np.nan_to_num(excess), variance, planned, alpha, 1.0)
    p_safe, p_harm = np.where(excess < 0, p_value, 1.0), np.where(excess > 0, p_value, 1.0)
    if np.ndim(p_safe) == 0:
        return MarginTest(p_safe=float(p_safe), p_harm=float(p_harm))
    return MarginTest(p_safe=p_safe, p_harm=p_harm)

"""Sample-size guidance: how many subjects or cases per variant detect the minimum effect.

Defaults are 80% power at a two-sided alpha of 0.05. Independent arms (production) follow
statsmodels' NormalIndPower (z-test power, both tails counted), with Cohen's h for proportions;
paired offline batches use Connor's (1987) approximation for McNemar's test.
"""

import math

from scipy import optimize, stats

from promptlib.stats.intervals import require


def _normal_power(effect_size: float, nobs: float, alpha: float) -> float:
    crit = stats.norm.isf(alpha / 2)
    shift = effect_size * math.sqrt(nobs)
    return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift))


def _solve_n(effect_size: float, *, alpha: float, power: float, two_arms: bool) -> float:
    """n per arm solving power(n) = target. Two equal arms of n estimate with the variance of n / 2."""
    require(effect_size != 0, "minimum_effect", "must not be zero")
    require(0 < alpha < 1, "alpha", "must be between 0 and 1")
    require(alpha < power < 1, "power", "must be between alpha and 1")
    d = abs(effect_size)
    per_arm = 2.0 if two_arms else 1.0
    guess = per_arm * ((stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)) / d) ** 2
    return optimize.brentq(
        lambda n: _normal_power(d, n / per_arm, alpha) - power, guess / 4, guess * 4 + 10, xtol=1e-10
    )


def cohens_h(p1: float, p2: float) -> float:
    """Effect size for two proportions, as statsmodels' proportion_effectsize(p1, p2)."""
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def sample_size_two_proportions(
    *, baseline: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Subjects per arm to detect baseline -> baseline + minimum_effect (rates in 0..1)."""
    require(0 <= baseline <= 1, "baseline", "must be a rate between 0 and 1")
    require(0 <= baseline + minimum_effect <= 1, "minimum_effect", "must keep baseline + effect between 0 and 1")
    h = cohens_h(baseline + minimum_effect, baseline)
    return math.ceil(_solve_n(h, alpha=alpha, power=power, two_arms=True))


def sample_size_two_means(*, sd: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Subjects per arm to detect a shift of `minimum_effect` in a mean with standard deviation `sd`."""
    require(sd > 0, "sd", "must be positive")
    return math.ceil(_solve_n(minimum_effect / sd, alpha=alpha, power=power, two_arms=True))


def sample_size_paired_means(
    *, sd_difference: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Cases to detect a mean per-case difference of `minimum_effect` (one-sample z approximation)."""
    require(sd_difference > 0, "sd_difference", "must be positive")
    return math.ceil(_solve_n(minimum_effect / sd_difference, alpha=alpha, power=power, two_arms=False))


def sample_size_paired_rates(
    *, baseline: float, minimum_effect: float, discordant_share: float | None, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Cases to detect a pass-rate gain of `minimum_effect` with McNemar's test (Connor 1987):

        n = (z_(alpha/2) sqrt(psi) + z_power sqrt(psi - effect^2))^2 / effect^2

    psi is the share of cases where the variants disagree, (b + c) / n so far. Before any data the
    unpaired two-proportion size is returned — an overestimate, since pairing only removes noise. When
    psi is too small to contain the effect (variants that agree on almost every case), a change of
    `effect` would make at least that share disagree: planned with twice the effect, so that some
    cases may move the other way.
    """
    require(minimum_effect != 0, "minimum_effect", "must not be zero")
    effect = abs(minimum_effect)
    if discordant_share is None:
        return sample_size_two_proportions(baseline=baseline, minimum_effect=minimum_effect, alpha=alpha, power=power)
    if discordant_share <= effect:
        discordant_share = min(1.0, 2 * effect)
    require(discordant_share <= 1, "discordant_share", "must be a share between 0 and 1")
    z_alpha, z_power = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    root = z_alpha * math.sqrt(discordant_share) + z_power * math.sqrt(discordant_share - effect**2)
    return math.ceil(root**2 / effect**2)


def more_needed(*, required: int, current: int) -> int:
    """How many more per variant, never negative."""
    return max(0, required - current)


def sequential_critical_z(*, alpha: float = 0.05) -> float:
    """|difference| / its standard error the mSPRT needs at its planned sample size (where tau is tuned).

    From the mixture's boundary (promptlib.stats.sequential): with tau² = k·V and
    k = −2 ln alpha + ln(1 − 2 ln alpha), a difference is significant beyond
    sqrt(2 (1 + 1/k) (ln(1/alpha) + ln(1 + k) / 2)) standard errors — 3.03 at alpha = 0.05, where a
    fixed-sample test needs 1.96. This is the price of looking at any time.
    """
    require(0 < alpha < 1, "alpha", "must be between 0 and 1")
    k = -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))
    return math.sqrt(2 * (1 + 1 / k) * (math.log(1 / alpha) + 0.5 * math.log(1 + k)))


def sample_size_sequential(*, variance: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Subjects per arm for the mSPRT, tuned at this n, to detect `minimum_effect` with `power`.

    `variance` is the per-subject variance summed over both arms (p_a(1 − p_a) + p_b(1 − p_b) for
    rates). Power is counted at the planned n alone: looks before it only add power, so the figure is
    on the safe side. About 1.9 times the fixed-sample size at alpha = 0.05 and 80% power.
    """
    require(variance > 0, "variance", "must be positive")
    require(minimum_effect != 0, "minimum_effect", "must not be zero")
    require(alpha < power < 1, "power", "must be between alpha and 1")
    z = sequential_critical_z(alpha=alpha) + stats.norm.isf(1 - power)
    return math.ceil(z * z * variance / minimum_effect**2)

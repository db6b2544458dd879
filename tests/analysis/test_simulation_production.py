"""A/A simulations of the production test with repeated events per user (issue 12, defect 2).

Each user sends 1 + Poisson(4) events whose values share a user effect (within-user correlation
0.3). Both arms are identical, the page is looked at ten times as users arrive, and a false
winner is any look with p ≤ 0.05. Counting events as independent finds far more false winners
than 5%; the production test (per-user sums, delta method, mSPRT) must stay at or below 5%.
Sizes keep this under a few seconds; bench/bench_analysis.py --simulate runs bigger ones.
"""

import numpy as np

from promptlib.stats import margin_ratios, sequential_means
from promptlib.stats.power import sample_size_sequential
from promptlib.stats.ratio import SubjectSums, sequential_ratios

CORRELATION = 0.3


def user_sums(rng, experiments: int, users: int):
    """Per user: events n, Σy, Σy² — drawn exactly without drawing each event (mean ⟂ spread for normals)."""
    n = 1 + rng.poisson(4, size=(experiments, users))
    u = rng.normal(0, np.sqrt(CORRELATION), size=n.shape)
    noise = 1 - CORRELATION
    e_mean = rng.normal(0, np.sqrt(noise / n))
    e_sq = n * e_mean**2 + noise * rng.chisquare(np.maximum(n - 1, 1)) * (n > 1)
    total = n * (u + e_mean)
    total_sq = n * u**2 + 2 * u * n * e_mean + e_sq
    return n.astype(float), total, total_sq


def _looks(arm, at):
    n, y, yy = arm
    return {
        "n": np.cumsum(n, axis=1)[:, at],
        "nn": np.cumsum(n * n, axis=1)[:, at],
        "y": np.cumsum(y, axis=1)[:, at],
        "yy_user": np.cumsum(y * y, axis=1)[:, at],  # Σ over users of (a user's total)²
        "yn": np.cumsum(y * n, axis=1)[:, at],
        "yy_event": np.cumsum(yy, axis=1)[:, at],  # Σ over events of value²
    }


def _arms_at_looks(seed: int, *, shift: float, experiments: int, users: int, looks: int):
    """Both arms' per-user sums at each look; `shift` moves B's values."""
    rng = np.random.default_rng(seed)
    n_b, y_b, yy_b = user_sums(rng, experiments, users)
    arms = [user_sums(rng, experiments, users), (n_b, y_b + shift * n_b, yy_b + 2 * shift * y_b + shift**2 * n_b)]
    at = np.linspace(users / looks, users, looks).astype(int) - 1
    k = (at + 1).astype(float)
    return [SubjectSums(k, c["n"], c["nn"], c["y"], c["yy_user"], c["yn"]) for c in (_looks(arm, at) for arm in arms)]


def winner_rates(seed: int, *, shift: float = 0.0, experiments: int = 1000, users: int = 1000, looks: int = 10):
    """(share of experiments with p ≤ 0.05 at some look) per user and per event; `shift` moves B's values."""
    rng = np.random.default_rng(seed)
    n_b, y_b, yy_b = user_sums(rng, experiments, users)
    arms = [user_sums(rng, experiments, users), (n_b, y_b + shift * n_b, yy_b + 2 * shift * y_b + shift**2 * n_b)]
    at = np.linspace(users / looks, users, looks).astype(int) - 1
    a, b = (_looks(arm, at) for arm in arms)
    k = (at + 1).astype(float)
    per_user = [SubjectSums(k, c["n"], c["nn"], c["y"], c["yy_user"], c["yn"]) for c in (a, b)]
    p_user = sequential_ratios(control=per_user[0], variant=per_user[1], planned_n=users).p_value
    p_event = sequential_means(
        control_n=a["n"], control_total=a["y"], control_total_sq=a["yy_event"],
        variant_n=b["n"], variant_total=b["y"], variant_total_sq=b["yy_event"], planned_n=users * 5,
    ).p_value  # fmt: skip
    return float(np.mean((p_user <= 0.05).any(axis=1))), float(np.mean((p_event <= 0.05).any(axis=1)))


def test_counting_each_user_once_keeps_false_winners_at_or_below_5_percent():
    per_user, per_event = winner_rates(seed=12)
    assert per_user <= 0.05
    # The same data counted per event, as before: the test above can fail.
    assert per_event > 0.08


def test_counting_each_user_once_still_finds_a_real_difference():
    # 0.12 on values of spread 1, ~5 correlated events per user: a fixed test at 1,000 users has ~97% power.
    per_user, _ = winner_rates(seed=13, shift=0.12, experiments=400)
    assert per_user >= 0.6


def test_the_advised_number_of_users_gives_the_sequential_test_80_percent_power():
    # The per-user spread of this population: Var(Σy)/n̄² = (E[n²]·0.3 + E[n]·0.7) / 25.
    sd = np.sqrt((29 * CORRELATION + 5 * (1 - CORRELATION)) / 25)
    users = sample_size_sequential(variance=2 * sd * sd, minimum_effect=0.1)
    power, _ = winner_rates(seed=14, shift=0.1, experiments=400, users=users)
    assert power >= 0.78


# --- guardrails as non-inferiority (lower is better, an absolute margin on values of spread 1) ------

MARGIN = 0.05


def guardrail_outcomes(
    seed: int, *, harm: float, margin: float = MARGIN, experiments: int = 1000, users: int = 1000, looks: int = 10
):
    """(share ever shown within the margin at one of the looks, share never shown significantly worse —
    the rule before, under which a guardrail passed)."""
    control, variant = _arms_at_looks(seed, shift=harm, experiments=experiments, users=users, looks=looks)
    within = margin_ratios(
        control=control, variant=variant, margin=margin, relative=False, higher_is_better=False, planned_n=users
    )
    worse = sequential_ratios(control=control, variant=variant, planned_n=users)
    old_pass = ~((worse.p_value <= 0.05) & (worse.difference > 0)).any(axis=1)
    return float(np.mean((within.p_safe <= 0.05).any(axis=1))), float(np.mean(old_pass))


def test_a_harm_beyond_the_margin_is_not_passed_however_often_one_looks():
    passed, old_rule_passed = guardrail_outcomes(seed=15, harm=MARGIN * 1.2)
    assert passed <= 0.05
    # "Not significantly worse", the rule before: the same harm passes in most experiments.
    assert old_rule_passed > 0.5


def test_a_harm_exactly_at_the_margin_is_passed_at_most_5_percent_of_the_time():
    passed, _ = guardrail_outcomes(seed=16, harm=MARGIN)
    assert passed <= 0.05


def test_a_safe_change_is_eventually_shown_within_its_margin():
    # No harm and a margin of 0.1: about 3.2 standard errors of the difference at 1,000 users per arm…
    passed, _ = guardrail_outcomes(seed=17, harm=0.0, margin=0.1, experiments=400)
    assert passed >= 0.4
    # …and at 4,000 users it is shown in nearly every experiment.
    passed, _ = guardrail_outcomes(seed=18, harm=0.0, margin=0.1, experiments=200, users=4000)
    assert passed >= 0.95

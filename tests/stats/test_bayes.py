import numpy as np
import pytest
from scipy import integrate, stats

from promptlib.stats import StatsInputError, bayesian_rates


def _exact_chance_to_beat(control, variant):
    """P(variant rate > control rate) for Beta(1, 1) priors, by numerical integration."""
    a = stats.beta(1 + control[1], 1 + control[0] - control[1])
    b = stats.beta(1 + variant[1], 1 + variant[0] - variant[1])
    return integrate.quad(lambda x: b.pdf(x) * a.cdf(x), 0, 1, limit=200)[0]


@pytest.mark.parametrize(
    ("control", "variant"), [((100, 71), (100, 84)), ((1_000, 500), (1_000, 520)), ((20, 3), (25, 2))]
)
def test_chance_to_beat_control_matches_the_exact_posterior_probability(control, variant):
    result = bayesian_rates(arms=[control, variant])
    assert result.chance_to_beat_control[1] == pytest.approx(_exact_chance_to_beat(control, variant), abs=0.01)


def test_chance_to_be_best_sums_to_one_and_favours_the_best_rate():
    result = bayesian_rates(arms=[(500, 250), (500, 275), (500, 260)])
    assert sum(result.chance_to_be_best) == pytest.approx(1.0)
    assert int(np.argmax(result.chance_to_be_best)) == 1


def test_the_control_has_no_chance_to_beat_itself():
    assert bayesian_rates(arms=[(10, 5), (10, 6)]).chance_to_beat_control[0] is None


def test_identical_variants_each_beat_control_half_the_time():
    result = bayesian_rates(arms=[(400, 200), (400, 200)])
    assert result.chance_to_beat_control[1] == pytest.approx(0.5, abs=0.01)


def test_the_control_can_sit_anywhere_in_the_list():
    result = bayesian_rates(arms=[(100, 84), (100, 71)], control_index=1)
    assert result.chance_to_beat_control[0] == pytest.approx(_exact_chance_to_beat((100, 71), (100, 84)), abs=0.01)


def test_the_chances_are_the_same_on_every_call_with_a_seed():
    arms = [(300, 120), (300, 140)]
    assert bayesian_rates(arms=arms, seed=9) == bayesian_rates(arms=arms, seed=9)


def test_bayesian_rates_rejects_more_successes_than_trials():
    with pytest.raises(StatsInputError, match="arms"):
        bayesian_rates(arms=[(10, 5), (10, 12)])

"""The production section: directions, users as the unit, the sample-ratio check, the planned sample."""

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from promptlib.analysis import aggregates
from promptlib.analysis.report import experiment_report
from promptlib.experiments.app_metrics import application_metric_register
from promptlib.experiments.models import ExposureCount, OutcomeEvent
from promptlib.experiments.outcomes import outcome_sums_rebuild
from promptlib.stats import VerdictState
from promptlib.stats.power import sample_size_sequential
from promptlib.stats.ratio import ratio_moments, subject_sums
from tests.analysis_support import add_outcomes, make_experiment


def _rates(experiment, metric, counts):
    """counts[key] = (users, users with a 1): one boolean event per user."""
    add_outcomes(experiment, metric=metric, counts=counts)


def _values(experiment, metric, per_variant, *, boolean=False):
    """per_variant[key] = one list of values per user."""
    variants = {v.key: v for v in experiment.variants.all()}
    rows = [
        OutcomeEvent(
            project_id=experiment.project_id,
            experiment=experiment,
            variant=variants[key],
            subject=f"{key}-u{u}",
            metric=metric,
            value=float(v),
            is_boolean=boolean,
            event_id=f"{metric}-{key}-{u}-{j}",
        )  # fmt: skip
        for key, users in per_variant.items()
        for u, values in enumerate(users)
        for j, v in enumerate(values)
    ]
    OutcomeEvent.objects.bulk_create(rows)
    outcome_sums_rebuild(experiment_id=experiment.pk)


def _row(section, metric):
    return next(r for r in section.rows if r.metric == metric)


@pytest.fixture
def complaints_experiment(welcome, welcome_content):
    return make_experiment(welcome, welcome_content, primary="complaint")


# --- directions --------------------------------------------------------------------------------


def test_a_rising_complaint_rate_is_never_the_winner(complaints_experiment, acme):
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    _rates(complaints_experiment, "complaint", {"control": (5000, 100), "b": (5000, 190)})  # 2.0% → 3.8%
    report = experiment_report(experiment=complaints_experiment)
    assert report.production.verdict.state == VerdictState.CHALLENGER_WORSE
    assert report.winner is None
    cell = _row(report.production, "complaint").cells[1]
    assert cell.p_value < 0.001 and cell.better is False
    assert cell.chance_to_beat_control < 0.01
    assert _row(report.production, "complaint").label == "Complaints"


def test_a_falling_complaint_rate_wins(complaints_experiment, acme):
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    _rates(complaints_experiment, "complaint", {"control": (5000, 190), "b": (5000, 100)})
    report = experiment_report(experiment=complaints_experiment)
    assert report.verdict_source == "production"
    assert report.winner.key == "b"


def test_a_metric_nobody_registered_never_names_a_winner(complaints_experiment):
    _rates(complaints_experiment, "complaint", {"control": (5000, 100), "b": (5000, 190)})
    report = experiment_report(experiment=complaints_experiment)
    assert report.production.verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE
    assert "Register it" in report.production.verdict.reason
    row = _row(report.production, "complaint")
    assert row.higher_is_better is None and row.cells[1].better is None
    assert report.winner is None


def test_an_unregistered_guardrail_that_moves_blocks_the_winner(welcome, welcome_content, acme):
    experiment = make_experiment(welcome, welcome_content, primary="signup", guardrails=["refund"])
    application_metric_register(project=acme, name="signup", label="Sign-ups", direction="higher")
    _rates(experiment, "signup", {"control": (4000, 400), "b": (4000, 600)})
    _rates(experiment, "refund", {"control": (4000, 40), "b": (4000, 120)})
    report = experiment_report(experiment=experiment)
    assert report.production.verdict.state == VerdictState.GUARDRAIL_FAILED


# --- users as the unit ---------------------------------------------------------------------------


def test_outcomes_are_summed_per_user_in_sql(wording_experiment):
    rng = np.random.default_rng(5)
    users = {k: [list(rng.normal(3, 1, 1 + rng.poisson(4)).round(3)) for _ in range(40)] for k in ("control", "b")}
    _values(wording_experiment, "basket", users)
    sums = aggregates.outcome_sums(experiment_id=wording_experiment.pk)
    by_key = {v.key: v.pk for v in wording_experiment.variants.all()}
    for key, values in users.items():
        got, want = sums[(by_key[key], "basket")].sums, subject_sums(values)
        assert got.subjects == want.subjects == 40
        for field in ("events", "events_sq", "total", "total_sq", "cross"):
            assert getattr(got, field) == pytest.approx(getattr(want, field))


def test_sample_sizes_count_users_not_events(wording_experiment):
    _values(wording_experiment, "task_success_rate", {"control": [[1, 0, 1]] * 50, "b": [[1, 1]] * 45}, boolean=True)
    report = experiment_report(experiment=wording_experiment)
    assert report.production.sample_sizes == {"control": 50, "b": 45}
    assert _row(report.production, "task_success_rate").cells[0].n == 50


# --- minimum effect and precedence ---------------------------------------------------------------


def test_a_numeric_primary_plans_with_its_own_minimum_effect(welcome, welcome_content, acme):
    experiment = make_experiment(welcome, welcome_content, primary="order_value")
    application_metric_register(
        project=acme, name="order_value", label="Order value", direction="higher", kind="mean", unit="USD",
        minimum_effect=2.0,
    )  # fmt: skip
    rng = np.random.default_rng(6)
    users = {k: [list(rng.normal(40, 10, 2).round(2)) for _ in range(60)] for k in ("control", "b")}
    _values(experiment, "order_value", users)
    section = experiment_report(experiment=experiment).production
    _, linear, _ = ratio_moments(subject_sums(users["control"]))
    assert section.planned_n == sample_size_sequential(variance=2 * linear, minimum_effect=2.0)
    assert section.planned_n > 100  # 0.05 USD would have asked for hundreds of thousands; 2 USD for a few hundred


def test_a_numeric_primary_without_a_minimum_effect_claims_no_plan(welcome, welcome_content, acme):
    experiment = make_experiment(welcome, welcome_content, primary="order_value")
    application_metric_register(
        project=acme, name="order_value", label="Order value", direction="higher", kind="mean", unit="USD"
    )
    _values(experiment, "order_value", {k: [[40.0 + i % 7] for i in range(60)] for k in ("control", "b")})
    report = experiment_report(experiment=experiment)
    assert report.production.planned_n is None
    assert "in USD" in report.production.guidance.text
    assert not report.production.planned_reached


def test_production_below_its_planned_sample_does_not_overrule_the_offline_verdict(wording_experiment, customers):
    from tests.analysis_support import winner_batch

    winner_batch(wording_experiment, customers)
    _rates(wording_experiment, "task_success_rate", {"control": (40, 20), "b": (40, 19)})
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict_source == "offline" and report.winner.key == "b"
    assert report.production.verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE
    assert not report.production.planned_reached
    assert f"of the planned {report.production.planned_n:,} users" in report.explanation


# --- exposures and the sample-ratio check ----------------------------------------------------------


def _exposed(experiment, subjects):
    for variant in experiment.variants.all():
        ExposureCount.objects.create(
            experiment=experiment, variant=variant, day=None, subjects=subjects[variant.key], exact=True
        )
        ExposureCount.objects.create(
            experiment=experiment, variant=variant, day=timezone.now().date(), subjects=subjects[variant.key],
            renders=subjects[variant.key] * 2,
        )  # fmt: skip


def test_a_sample_ratio_mismatch_blocks_the_winner(complaints_experiment, acme):
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    _rates(complaints_experiment, "complaint", {"control": (5000, 190), "b": (5000, 100)})
    _exposed(complaints_experiment, {"control": 10_000, "b": 9_000})
    report = experiment_report(experiment=complaints_experiment)
    assert report.production.srm.failed
    assert report.production.verdict.state == VerdictState.SAMPLE_RATIO_MISMATCH
    assert report.verdict_source == "production" and report.winner is None
    assert report.production.exposures["b"].renders == 18_000
    assert "not split as planned" in report.production.srm.text


def test_an_even_split_passes_the_sample_ratio_check(complaints_experiment, acme):
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    _rates(complaints_experiment, "complaint", {"control": (5000, 190), "b": (5000, 100)})
    _exposed(complaints_experiment, {"control": 10_000, "b": 10_080})
    report = experiment_report(experiment=complaints_experiment)
    assert not report.production.srm.failed
    assert report.winner.key == "b"


def test_the_page_shows_the_sample_ratio_check(client, complaints_experiment, acme, victor):
    _rates(complaints_experiment, "complaint", {"control": (500, 19), "b": (500, 10)})
    _exposed(complaints_experiment, {"control": 1000, "b": 800})
    client.force_login(victor)
    page = client.get(reverse("promptlib_experiment_dashboard", args=[complaints_experiment.pk])).content.decode()
    assert 'id="srm-check"' in page and "Users were not split as planned" in page
    assert "direction not set" in page


# --- guardrails as non-inferiority -------------------------------------------------------------------


@pytest.fixture
def signup_experiment(welcome, welcome_content, acme):
    """Sign-ups rise clearly (10% → 15% of 4,000 users); order value is the guardrail (at most 10% lower)."""
    experiment = make_experiment(welcome, welcome_content, primary="signup", guardrails=["order_value"])
    application_metric_register(project=acme, name="signup", label="Sign-ups", direction="higher")
    application_metric_register(
        project=acme, name="order_value", label="Order value", direction="higher", kind="mean", unit="USD"
    )
    _rates(experiment, "signup", {"control": (4000, 400), "b": (4000, 600)})
    return experiment


def _orders(experiment, *, users, mean_b, seed=8):
    rng = np.random.default_rng(seed)
    per_variant = {
        "control": [list(rng.normal(40, 10, 2)) for _ in range(users)],
        "b": [list(rng.normal(mean_b, 10, 2)) for _ in range(users)],
    }
    _values(experiment, "order_value", per_variant)


def test_a_production_guardrail_shown_within_its_margin_lets_the_winner_through(signup_experiment):
    _orders(signup_experiment, users=2000, mean_b=40)
    section = experiment_report(experiment=signup_experiment).production
    cell = _row(section, "order_value").cells[1]
    assert cell.guardrail == "safe" and cell.margin == "+10%" and cell.p_safe <= 0.05
    assert section.verdict.state == VerdictState.WINNER


def test_a_production_guardrail_on_too_few_users_is_not_yet_shown_safe(signup_experiment):
    # Not significantly worse — the rule before passed it — but 30 users cannot show it within 10%.
    _orders(signup_experiment, users=30, mean_b=39)
    section = experiment_report(experiment=signup_experiment).production
    cell = _row(section, "order_value").cells[1]
    assert not cell.significant and cell.guardrail == "not_shown_safe"
    assert section.verdict.state == VerdictState.GUARDRAIL_NOT_SHOWN_SAFE


def test_a_production_guardrail_beyond_its_margin_fails(signup_experiment):
    _orders(signup_experiment, users=2000, mean_b=30)  # 25% lower, the margin allows 10%
    section = experiment_report(experiment=signup_experiment).production
    assert _row(section, "order_value").cells[1].guardrail == "failed"
    assert section.verdict.state == VerdictState.GUARDRAIL_FAILED


def test_production_guardrails_are_holm_corrected_together(welcome, welcome_content, acme):
    from promptlib.stats import holm, margin_ratios

    experiment = make_experiment(welcome, welcome_content, primary="signup", guardrails=["order_value", "basket"])
    for name in ("order_value", "basket"):
        application_metric_register(project=acme, name=name, label=name, direction="higher", kind="mean")
    rng = np.random.default_rng(9)
    users = {}
    for name, count in (("order_value", 300), ("basket", 200)):
        users[name] = {k: [list(rng.normal(40, 10, 2)) for _ in range(count)] for k in ("control", "b")}
        _values(experiment, name, users[name])
    section = experiment_report(experiment=experiment).production
    raw = {
        name: margin_ratios(
            control=subject_sums(u["control"]), variant=subject_sums(u["b"]), margin=0.10, relative=True,
            higher_is_better=True, planned_n=section.planned_n,
        ).p_safe
        for name, u in users.items()
    }  # fmt: skip
    shown = [_row(section, name).cells[1].p_safe for name in raw]
    assert shown == pytest.approx(holm(list(raw.values())))
    assert shown != pytest.approx(list(raw.values()))

"""The AI grader's calibration against reviewers, the cost parts, and the Calibrate action, on crafted data."""

import pytest
from django.urls import reverse
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from promptlib.analysis.calibration import (
    CalibrationError,
    calibration_sample_send,
    experiment_calibration,
)
from promptlib.analysis.report import experiment_report, experiment_variants
from promptlib.batches.models import BatchItem, Review
from promptlib.batches.reviews import ReviewScope, review_queue
from promptlib.batches.selectors import batch_variant_metrics
from tests.analysis_support import add_batch, winner_batch
from tests.calibration_support import GOOD, POOR, crafted, grader_add, judge, review

pytestmark = pytest.mark.django_db


def test_a_grader_that_disagrees_with_reviewers_is_flagged_in_plain_words(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    crafted(wording_experiment, customers, alice, POOR)
    calibration = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    )
    (judge,) = calibration.judges
    expected = sm_kappa([[6, 9], [1, 4]])
    assert judge.confusion.n == 20
    assert judge.agreement == pytest.approx(10 / 20)
    assert judge.kappa.kappa == pytest.approx(expected.kappa)
    assert judge.kappa.low == pytest.approx(max(-1, expected.kappa_low))
    assert judge.flagged
    assert "The grader passed 9 answers the reviewers rejected." in judge.confusion.sentences()
    assert judge.status.startswith("Not trusted")


def test_the_verdict_says_when_success_rests_on_an_uncalibratedgrader_add(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    crafted(wording_experiment, customers, alice, POOR)
    reason = experiment_report(experiment=wording_experiment).verdict.reason
    assert "rests on an AI grader that is not calibrated (grader)" in reason


def test_a_grader_that_agrees_is_not_flagged_and_the_verdict_does_not_warn(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    crafted(wording_experiment, customers, alice, GOOD)
    report = experiment_report(experiment=wording_experiment)
    (judge,) = report.calibration.judges
    assert judge.kappa.kappa == pytest.approx(sm_kappa([[10, 1], [0, 9]]).kappa)
    assert not judge.flagged
    assert "not calibrated" not in report.verdict.reason


def test_the_bar_is_the_projects(wording_experiment, customers, alice, acme):
    acme.judge_kappa_min = 0.1
    acme.save()
    grader_add(wording_experiment)
    crafted(wording_experiment, customers, alice, POOR)  # kappa ≈ 0.14
    wording_experiment.refresh_from_db()
    calibration = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    )
    assert not calibration.judges[0].flagged


def test_too_few_reviewed_answers_leave_the_grader_uncalibrated(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    crafted(wording_experiment, customers, alice, [(True, True, 4), (False, False, 3)])
    (judge,) = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    ).judges
    assert judge.kappa is None and judge.flagged
    assert "7 of the 10 answers needed" in judge.status


def test_unread_grader_replies_are_left_out_of_the_table_and_counted(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    batch = crafted(wording_experiment, customers, alice, [*GOOD, (None, True, 2)])
    (judge,) = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    ).judges
    assert (judge.confusion.n, judge.unread) == (20, 2)
    assert batch.items.count() == 120


def test_with_repeats_the_graders_own_consistency_is_shown(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    batch = add_batch(wording_experiment, customers, passes={"control": bool}, repeats=2)
    items = list(batch.items.order_by("case_id", "repeat"))  # identical texts: a case's two repeats
    # The first 10 cases judged the same twice, the next 5 once pass and once fail.
    verdicts = [True, True] * 10 + [True, False] * 5
    judge(items, verdicts)
    (grader,) = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    ).judges
    assert (grader.consistency.groups, grader.consistency.consistent) == (15, 10)


def test_calibrate_sends_a_sample_of_judged_unreviewed_answers_to_the_queue(wording_experiment, customers, alice):
    grader_add(wording_experiment)
    batch = winner_batch(wording_experiment, customers)
    items = list(batch.items.order_by("id"))
    judge(items[:50], [True] * 50)  # only 50 of 120 answers were judged
    review(items[:5], [True] * 5, alice)  # and 5 of those are reviewed already
    sent = calibration_sample_send(experiment=wording_experiment, size=20, seed=1)
    requested = set(BatchItem.objects.filter(review_requested=True).values_list("pk", flat=True))
    assert sent == len(requested) == 20
    assert requested <= {i.pk for i in items[5:50]}
    # The experiment has no human-review scorer: the queue holds exactly the sent answers.
    queue = review_queue(scope=ReviewScope(experiment_id=wording_experiment.pk))
    assert set(queue.values_list("pk", flat=True)) == requested
    calibration = experiment_calibration(
        experiment=wording_experiment, variants=experiment_variants(experiment=wording_experiment)
    )
    assert calibration.awaiting == 20


def test_calibrate_refuses_an_experiment_without_agrader_add(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    with pytest.raises(CalibrationError) as exc:
        calibration_sample_send(experiment=wording_experiment)
    assert exc.value.field == "scorers"


def test_the_calibrate_button_needs_an_editor_and_fills_the_queue(client, wording_experiment, customers, bob, victor):
    grader_add(wording_experiment)
    batch = winner_batch(wording_experiment, customers)
    judge(list(batch.items.order_by("id")), [True] * 120)
    url = reverse("promptlib_experiment_calibrate", args=[wording_experiment.pk])
    client.force_login(victor)
    assert client.post(url).status_code == 403
    client.force_login(bob)
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#calibration")
    assert BatchItem.objects.filter(review_requested=True).count() == 20
    page = client.get(reverse("promptlib_experiment_dashboard", args=[wording_experiment.pk])).content.decode()
    assert 'id="calibrate-button"' in page
    assert "20 sent answers await review" in page


def test_review_time_is_in_the_cost_per_success_as_computed_by_hand(wording_experiment, customers, alice, bob, acme):
    acme.reviewer_hourly_usd = 40
    acme.save()
    batch = winner_batch(wording_experiment, customers)  # control: 60 calls at $0.001, 30 successes
    batch.items.update(judge_cost_usd=0.0002)
    control = list(batch.items.filter(variant__key="control").order_by("id"))
    review(control[:3], [True, True, False], alice, seconds=30.0)
    Review.objects.filter(result=control[2]).update(seconds=90.0)
    review(control[:1], [True], bob, seconds=15.0)  # a second reviewer's time counts too
    wording_experiment.refresh_from_db()
    # Hand computation: model 60 × 0.001 = 0.06; grader 60 × 0.0002 = 0.012;
    # review (30 + 30 + 90 + 15) s × $40/h ÷ 3600 = 165 × 40 / 3600 = 1.8333…; ÷ 30 successes.
    model, grader, reviewing = 0.06, 0.012, 165 * 40 / 3600
    expected = (model + grader + reviewing) / 30
    batch_row = next(r for r in batch_variant_metrics(batch=batch) if r["variant"] == "control")
    assert batch_row["metrics"]["cost_per_success_usd"] == pytest.approx(expected)
    report = experiment_report(experiment=wording_experiment)
    cost_row = next(r for r in report.offline.rows if r.metric == "cost_per_success_usd")
    assert cost_row.cells[0].value == pytest.approx(expected)
    parts = next(c for c in report.calibration.costs if c.variant == "control")
    assert (parts.model, parts.judge, parts.review) == (
        pytest.approx(model / 30),
        pytest.approx(grader / 30),
        pytest.approx(reviewing / 30),
    )
    assert parts.total == pytest.approx(parts.model + parts.judge + parts.review)


def test_the_page_asks_for_the_reviewer_rate_when_reviews_cost_nothing(client, wording_experiment, customers, alice):
    batch = winner_batch(wording_experiment, customers)
    review(list(batch.items.order_by("id")[:2]), [True, False], alice)
    client.force_login(alice)
    page = client.get(reverse("promptlib_experiment_dashboard", args=[wording_experiment.pk])).content.decode()
    assert 'id="reviewer-rate-prompt"' in page
    assert reverse("admin:promptlib_project_change", args=[wording_experiment.project_id]) in page

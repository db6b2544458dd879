"""Human review: verdicts, edits and the seconds from opening the page to submitting."""

import time

import pytest

from promptlib.batches.models import BatchItem, Review
from promptlib.batches.reviews import ReviewError, review_seconds, review_submit, review_timer_start
from promptlib.batches.selectors import batch_variant_metrics
from promptlib.batches.services import batch_run_inline
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    return batch.items.order_by("id").first()


def test_the_timer_measures_from_page_open_to_submit(result):
    token = review_timer_start(result_id=result.pk)
    time.sleep(0.3)
    assert 0.3 <= review_seconds(token=token, result_id=result.pk) < 5


def test_a_tampered_timer_is_refused(result):
    with pytest.raises(ReviewError):
        review_seconds(token=review_timer_start(result_id=result.pk) + "x", result_id=result.pk)


def test_a_timer_of_another_result_is_refused(result):
    with pytest.raises(ReviewError):
        review_seconds(token=review_timer_start(result_id=result.pk + 1), result_id=result.pk)


def test_an_edit_is_kept_and_counts_in_review_effort(result, bob):
    review_submit(result=result, reviewer=bob, approved=True, seconds=12.5, edited_output='{"category": "other"}')
    review = Review.objects.get()
    assert review.edited_output == '{"category": "other"}'
    metrics = {row["variant_id"]: row["metrics"] for row in batch_variant_metrics(batch=result.batch)}
    assert metrics[result.variant_id]["review_seconds_median"] == 12.5
    assert metrics[result.variant_id]["review_edit_share"] == 1.0


def test_an_unchanged_output_is_not_an_edit(result, bob):
    review_submit(result=result, reviewer=bob, approved=True, seconds=3, edited_output=result.output)
    assert Review.objects.get().edited_output == ""


def test_a_reviewer_reviews_an_output_once(result, bob):
    review_submit(result=result, reviewer=bob, approved=True, seconds=3)
    with pytest.raises(ReviewError):
        review_submit(result=result, reviewer=bob, approved=False, seconds=3)


def test_a_rejection_decides_success_when_no_scorer_did(result, bob):
    BatchItem.objects.filter(pk=result.pk).update(success=None)
    review_submit(result=result, reviewer=bob, approved=False, seconds=3)
    assert BatchItem.objects.get(pk=result.pk).success is False

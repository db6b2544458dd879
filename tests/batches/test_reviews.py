"""Human review: verdicts, edits and the seconds from opening the page to submitting."""

import importlib
import time

import pytest

from promptlib.batches.models import BatchItem, Review, ScorerConfig
from promptlib.batches.reviews import (
    ReviewError,
    ReviewScope,
    review_is_edit,
    review_next,
    review_output,
    review_page_facts,
    review_queue,
    review_queue_count,
    review_scope_parse,
    review_seconds,
    review_submit,
    review_text_normalised,
    review_timer_start,
)
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


# --- edits measured on meaning, not bytes -------------------------------------------------------------

LETTER = "Dear Ann,\nThanks for your order.\n\nIt ships on Monday.\nBest,\nAcme"


@pytest.mark.parametrize(
    "sent",
    [
        LETTER,  # exactly the model's text
        LETTER.replace("\n", "\r\n"),  # what a browser sends back from a textarea
        LETTER + "\n",  # a trailing newline
        LETTER.replace("\n", "\r\n") + "\r\n",
        LETTER.replace("\n", "  \n") + " \t",  # spaces at the ends of lines
        LETTER.replace("\n", "\r"),  # old Mac line endings
    ],
    ids=["lf", "crlf", "trailing-newline", "crlf-trailing-newline", "trailing-spaces", "cr"],
)
def test_an_untouched_multi_line_approval_is_not_an_edit(result, bob, sent):
    BatchItem.objects.filter(pk=result.pk).update(output=LETTER + "\n")
    result.refresh_from_db()
    review_submit(result=result, reviewer=bob, approved=True, seconds=4, edited_output=sent)
    assert Review.objects.get().edited_output == ""
    metrics = {row["variant_id"]: row["metrics"] for row in batch_variant_metrics(batch=result.batch)}
    assert metrics[result.variant_id]["review_edit_share"] == 0.0


def test_a_real_multi_line_edit_counts_and_is_kept_with_lf_line_endings(result, bob):
    BatchItem.objects.filter(pk=result.pk).update(output=LETTER)
    result.refresh_from_db()
    edit = LETTER.replace("Monday", "Tuesday").replace("\n", "\r\n")
    review_submit(result=result, reviewer=bob, approved=True, seconds=4, edited_output=edit)
    assert Review.objects.get().edited_output == LETTER.replace("Monday", "Tuesday")
    metrics = {row["variant_id"]: row["metrics"] for row in batch_variant_metrics(batch=result.batch)}
    assert metrics[result.variant_id]["review_edit_share"] == 1.0


def test_changing_spaces_inside_a_line_is_an_edit(result, bob):
    BatchItem.objects.filter(pk=result.pk).update(output=LETTER)
    result.refresh_from_db()
    review_submit(
        result=result, reviewer=bob, approved=True, seconds=4, edited_output=LETTER.replace("Dear ", "Dear  ")
    )
    assert Review.objects.get().edited_output != ""


def test_the_normalised_text_ignores_line_endings_and_trailing_whitespace_only():
    assert review_text_normalised("a \r\nb\t\r\n\r\n") == "a\nb"
    assert review_text_normalised("  indented\nkept") == "  indented\nkept"
    assert not review_is_edit(original="a\nb", text="a\r\nb\r\n")
    assert not review_is_edit(original="a", text="   ")  # an emptied box is no edit
    assert review_is_edit(original="a\nb", text="a\n\nb")


def test_a_stored_browser_copy_of_the_answer_stands_for_the_models_own_text(result, bob):
    """Reviews saved before edits were measured on meaning hold a CRLF copy: it is not an edit."""
    BatchItem.objects.filter(pk=result.pk).update(output=LETTER + "\n")
    review = Review.objects.create(
        result_id=result.pk, reviewer=bob, approved=True, seconds=2, edited_output=LETTER.replace("\n", "\r\n")
    )
    assert review_output(review=Review.objects.select_related("result").get(pk=review.pk)) == LETTER + "\n"


def test_the_migration_clears_untouched_copies_and_keeps_real_edits(result, bob, alice):
    from django.apps import apps

    migration = importlib.import_module("promptlib.migrations.0016_review_untouched_edits")
    BatchItem.objects.filter(pk=result.pk).update(output=LETTER)
    copy = Review.objects.create(result_id=result.pk, reviewer=bob, approved=True, seconds=2,
                                 edited_output=LETTER.replace("\n", "\r\n"))  # fmt: skip
    real = Review.objects.create(result_id=result.pk, reviewer=alice, approved=True, seconds=2,
                                 edited_output="Dear Ann,\r\nIt ships today.")  # fmt: skip
    migration.clear_untouched_edits(apps, None)
    assert Review.objects.get(pk=copy.pk).edited_output == ""
    assert Review.objects.get(pk=real.pk).edited_output == "Dear Ann,\nIt ships today."


def test_a_second_review_by_the_same_person_is_a_conflict(result, bob):
    review_submit(result=result, reviewer=bob, approved=True, seconds=3)
    with pytest.raises(ReviewError) as caught:
        review_submit(result=result, reviewer=bob, approved=False, seconds=3)
    assert caught.value.status == 409


# --- the queue ------------------------------------------------------------------------------------------


@pytest.fixture
def reviewed_experiment(triage_experiment):
    config = {"instructions": "Is the category right?"}
    ScorerConfig.objects.create(
        experiment=triage_experiment, kind="human_review", name="reviewer", order=3, counts_for_success=False,
        config=config,
    )  # fmt: skip
    return triage_experiment


def test_the_queue_holds_the_finished_answers_nobody_reviewed(reviewed_experiment, tickets, bob):
    batch = batch_run_inline(batch=make_batch(reviewed_experiment, tickets))
    items = list(batch.items.order_by("id"))
    BatchItem.objects.filter(pk=items[1].pk).update(status=BatchItem.Status.FAILED)
    review_submit(result=items[0], reviewer=bob, approved=True, seconds=1)
    queue = review_queue(scope=ReviewScope(batch_id=batch.pk))
    assert [i.pk for i in queue] == [i.pk for i in items[2:]]
    assert review_queue_count(scope=ReviewScope(experiment_id=reviewed_experiment.pk)) == len(items) - 2


def test_there_is_no_queue_without_a_human_review_check(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    assert review_queue_count(scope=ReviewScope(batch_id=batch.pk)) == 0


def test_next_walks_on_and_wraps_round_never_to_the_same_answer(reviewed_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(reviewed_experiment, tickets))
    ids = list(batch.items.order_by("id").values_list("pk", flat=True))
    scope = ReviewScope(batch_id=batch.pk)
    assert review_next(scope=scope, after_id=ids[0]).pk == ids[1]
    assert review_next(scope=scope, after_id=ids[-1]).pk == ids[0]
    BatchItem.objects.filter(pk__in=ids[1:]).update(status=BatchItem.Status.FAILED)
    assert review_next(scope=scope, after_id=ids[0]) is None


def test_the_queue_is_scoped_to_the_callers_projects(reviewed_experiment, tickets, globex):
    batch = batch_run_inline(batch=make_batch(reviewed_experiment, tickets))
    assert review_queue(scope=ReviewScope(batch_id=batch.pk), project_ids=[globex.pk]).count() == 0


def test_the_page_facts_give_the_instructions_and_the_readers_own_review(reviewed_experiment, tickets, bob, alice):
    batch = batch_run_inline(batch=make_batch(reviewed_experiment, tickets))
    item = batch.items.order_by("id").first()
    review_submit(result=item, reviewer=alice, approved=False, seconds=1)
    facts = review_page_facts(item=item, reviewer=bob)
    assert (facts.instructions, facts.mine, [r.reviewer for r in facts.others]) == (
        ["Is the category right?"], None, [alice])  # fmt: skip
    assert review_page_facts(item=item, reviewer=alice).mine.approved is False


def test_a_scope_in_the_url_is_read_as_digits_only():
    assert review_scope_parse(batch="12", experiment=None) == ReviewScope(batch_id=12)
    assert review_scope_parse(batch="x", experiment="7") == ReviewScope(experiment_id=7)
    assert review_scope_parse(batch="1 or 1=1", experiment="") == ReviewScope()

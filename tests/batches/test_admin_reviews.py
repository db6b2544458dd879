"""The review pages: the queue, the awaiting-review box on the batch and experiment pages, the review page."""

import re

import pytest
from django.urls import reverse

from promptlib.batches.models import BatchItem, Review, ScorerConfig
from promptlib.batches.reviews import review_submit
from promptlib.batches.services import batch_run_inline
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db
INSTRUCTIONS = "Reject any answer that names a competitor.\nApprove short, friendly answers."


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def reviewed(triage_experiment):
    ScorerConfig.objects.create(
        experiment=triage_experiment, kind="human_review", name="reviewer", order=3, counts_for_success=False,
        config={"instructions": INSTRUCTIONS},
    )  # fmt: skip
    return triage_experiment


@pytest.fixture
def batch(reviewed, tickets):
    return batch_run_inline(batch=make_batch(reviewed, tickets))


def _review(item, scope=""):
    return reverse("admin:promptlib_batchitem_review", args=[item.pk]) + scope


def _open(client, item, scope=""):
    page = client.get(_review(item, scope))
    assert page.status_code == 200
    return page


def _post(client, item, page, scope="", **data):
    body = {"decision": "approve", "edited_output": item.output, "opened": page.context["form"].initial["opened"]}
    return client.post(_review(item, scope), {**body, **data})


def test_the_batch_page_says_how_many_answers_await_review_with_a_way_in(as_bob, batch):
    first = batch.items.order_by("id").first()
    page = as_bob.get(reverse("admin:promptlib_batch_change", args=[batch.pk])).content.decode()
    assert re.search(r'id="awaiting-count">12 answers</strong>\s+await a person', page)
    assert f'href="{_review(first, f"?batch={batch.pk}")}"' in page
    assert f'href="{reverse("admin:promptlib_review_queue")}?batch={batch.pk}"' in page


def test_the_experiment_page_says_how_many_answers_await_review(as_bob, batch, reviewed):
    review_submit(result=batch.items.order_by("id").first(), reviewer=None, approved=True, seconds=1)
    page = as_bob.get(reverse("promptlib_experiment_dashboard", args=[reviewed.pk])).content.decode()
    assert 'id="awaiting-count">11 answers</strong>' in page
    assert f"?experiment={reviewed.pk}" in page
    assert "review_pages.awaiting_review" not in page  # the include's own comment stays out of the page


def test_no_box_when_nothing_asks_for_a_review(as_bob, triage_experiment, tickets):
    plain = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    page = as_bob.get(reverse("admin:promptlib_batch_change", args=[plain.pk])).content.decode()
    assert "awaiting-review" not in page


def test_a_viewer_sees_the_count_but_no_button_to_review(client, victor, batch):
    client.force_login(victor)
    page = client.get(reverse("admin:promptlib_batch_change", args=[batch.pk])).content.decode()
    assert 'id="awaiting-count">12 answers' in page and 'id="start-review"' not in page


def test_the_needs_review_filter_links_to_the_queue(as_bob, batch, reviewed):
    url = reverse("promptlib_experiment_dashboard", args=[reviewed.pk]) + "?show=review"
    page = as_bob.get(url).content.decode()
    assert 'id="review-filter-link"' in page
    assert f"{reverse('admin:promptlib_review_queue')}?experiment={reviewed.pk}" in page


def test_the_queue_lists_the_answers_awaiting_review(as_bob, batch, bob):
    items = list(batch.items.order_by("id"))
    review_submit(result=items[0], reviewer=bob, approved=True, seconds=1)
    page = as_bob.get(reverse("admin:promptlib_review_queue") + f"?batch={batch.pk}")
    assert [row["item"].pk for row in page.context["rows"]] == [i.pk for i in items[1:]]
    assert "11 answers</strong> to review" in page.content.decode()


def test_another_projects_queue_shows_nothing(client, gina, batch):
    client.force_login(gina)
    page = client.get(reverse("admin:promptlib_review_queue") + f"?batch={batch.pk}")
    assert page.context["rows"] == [] and page.context["count"] == 0
    assert "There is no such batch or experiment" in page.content.decode()


def test_the_reviewer_sees_the_instructions_the_inputs_and_the_expected_answer(as_bob, batch):
    item = batch.items.order_by("id").first()
    page = _open(as_bob, item).content.decode()
    assert "Reject any answer that names a competitor.\nApprove short, friendly answers." in page
    assert item.case.input["ticket"] in page
    assert item.case.expected_fields["category"] in page
    assert 'id="review-keys"' in page


def test_an_already_reviewed_answer_says_so_when_the_page_opens(as_bob, batch, bob):
    item = batch.items.order_by("id").first()
    review_submit(result=item, reviewer=bob, approved=False, seconds=1)
    page = _open(as_bob, item).content.decode()
    assert page.count("You already reviewed this answer") == 1
    assert "<strong>rejected</strong>" in page
    assert 'id="review-form"' not in page  # nothing to type in


def test_submitting_twice_says_so_once_and_keeps_the_first_review(as_bob, batch):
    item = batch.items.order_by("id").first()
    page = _open(as_bob, item)
    _post(as_bob, item, page)
    again = _post(as_bob, item, page, decision="reject")
    assert again.status_code == 200
    assert again.content.decode().count("already reviewed") == 1
    assert Review.objects.get().approved is True


def test_a_form_error_is_shown_once(as_bob, batch):
    item = batch.items.order_by("id").first()
    page = _post(as_bob, item, _open(as_bob, item), opened="tampered")
    assert page.content.decode().count("stale or was tampered with") == 1


def test_after_a_verdict_the_next_answer_of_the_same_queue_opens(as_bob, batch, reviewed):
    first, second = batch.items.order_by("id")[:2]
    scope = f"?experiment={reviewed.pk}"
    response = _post(as_bob, first, _open(as_bob, first, scope), scope)
    assert response.status_code == 302 and response["Location"] == _review(second, scope)


def test_the_last_verdict_goes_back_to_the_empty_queue(as_bob, batch):
    items = list(batch.items.order_by("id"))
    BatchItem.objects.filter(pk__in=[i.pk for i in items[1:]]).update(status=BatchItem.Status.FAILED)
    response = _post(as_bob, items[0], _open(as_bob, items[0]))
    assert response["Location"] == reverse("admin:promptlib_review_queue") + f"?batch={batch.pk}"


def test_an_untouched_approval_from_a_browser_is_not_an_edit(as_bob, batch):
    item = batch.items.order_by("id").first()
    BatchItem.objects.filter(pk=item.pk).update(output="Line one\nLine two\n")
    item.refresh_from_db()
    _post(as_bob, item, _open(as_bob, item), edited_output="Line one\r\nLine two\r\n")
    assert Review.objects.get().edited_output == ""


def test_the_answers_list_shows_the_review_link_before_the_other_columns(as_bob, batch):
    page = as_bob.get(reverse("admin:promptlib_batchitem_changelist")).content.decode()
    header = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert header.index("review_link") < header.index("batch_column")


def test_the_experiment_settings_page_says_how_many_answers_await_review(as_bob, batch, reviewed):
    page = as_bob.get(reverse("admin:promptlib_experiment_change", args=[reviewed.pk])).content.decode()
    assert 'id="awaiting-count">12 answers</strong>' in page


def test_the_review_page_says_how_many_answers_are_left(as_bob, batch, bob):
    items = list(batch.items.order_by("id"))
    review_submit(result=items[0], reviewer=bob, approved=True, seconds=1)
    page = _open(as_bob, items[1]).content.decode()
    assert "10 other answers to review in this queue" in page


def test_an_untouched_indented_answer_from_a_browser_is_not_an_edit(as_bob, batch):
    item = batch.items.order_by("id").first()
    BatchItem.objects.filter(pk=item.pk).update(output="    indented code\n  and more\n")
    item.refresh_from_db()
    _post(as_bob, item, _open(as_bob, item), edited_output="    indented code\r\n  and more\r\n")
    assert Review.objects.get().edited_output == ""

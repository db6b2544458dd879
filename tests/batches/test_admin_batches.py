"""Batch pages: cancel says first what happens; a failed answer's page leads with its error."""

import pytest

from promptlib.batches.admin.present import ERROR_HINTS
from promptlib.batches.calls import ITEM_ERROR_KINDS
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.services import batch_run_inline
from promptlib.providers.base import ErrorKind
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


def test_cancel_first_says_what_happens_and_cancels_nothing(as_bob, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    response = as_bob.post(f"/admin/promptlib/batch/{batch.pk}/cancel/")
    assert response.status_code == 200
    assert "The 12 call(s) still waiting are not made" in response.content.decode()
    assert Batch.objects.get(pk=batch.pk).status != Batch.Status.CANCELLED


def _failed_item(experiment, dataset) -> BatchItem:
    batch = batch_run_inline(batch=make_batch(experiment, dataset))
    item = batch.items.order_by("id").first()
    BatchItem.objects.filter(pk=item.pk).update(
        status="failed", error="connection refused by 127.0.0.1:9", error_kind="connection", claim_token="abc123"
    )
    return item


def test_a_failed_answer_page_leads_with_its_error(as_bob, triage_experiment, tickets):
    item = _failed_item(triage_experiment, tickets)
    response = as_bob.get(f"/admin/promptlib/batchitem/{item.pk}/change/")
    html = response.content.decode()
    assert html.index('id="item-error"') < html.index("The answer") < html.index("Claim token")
    assert "connection refused by 127.0.0.1:9" in html
    assert "check its base URL, and that the server" in html  # what to do about it
    names = [name for name, _ in response.context["adminform"].fieldsets]
    assert names[0] == "What went wrong"


def test_internals_are_folded_under_details(as_bob, triage_experiment, tickets):
    item = _failed_item(triage_experiment, tickets)
    fieldsets = dict(as_bob.get(f"/admin/promptlib/batchitem/{item.pk}/change/").context["adminform"].fieldsets)
    assert "collapse" in fieldsets["Details"]["classes"]
    assert {"claim_token", "lease_until", "claimed_at"} <= set(fieldsets["Details"]["fields"])
    assert "claim_token" not in fieldsets["The answer"]["fields"]


def test_a_good_answer_page_has_no_error_section_and_shows_its_checks(as_bob, triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    item = batch.items.order_by("id").first()
    response = as_bob.get(f"/admin/promptlib/batchitem/{item.pk}/change/")
    names = [name for name, _ in response.context["adminform"].fieldsets]
    assert names == ["The answer", "Time and cost", "Details"]
    assert "<strong>schema</strong>: passed — output matches the schema" in response.content.decode()


def test_every_kind_of_error_has_a_hint():
    from typing import get_args

    assert set(ERROR_HINTS) == {*get_args(ErrorKind), *ITEM_ERROR_KINDS}

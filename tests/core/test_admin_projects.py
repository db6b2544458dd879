"""The project's review settings in the admin: the reviewer hourly rate and the bar an AI grader must meet."""

from decimal import Decimal

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root", email="r@example.com")


def _post(client, project, **fields):
    data = {
        "name": project.name, "slug": project.slug, "description": "",
        "reviewer_hourly_usd": "0", "judge_kappa_min": "0.6",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        **fields,
    }  # fmt: skip
    return client.post(reverse("admin:promptlib_project_change", args=[project.pk]), data)


def test_a_new_project_leaves_review_time_out_of_the_cost_and_asks_for_good_agreement(acme):
    assert (acme.reviewer_hourly_usd, acme.judge_kappa_min) == (Decimal("0"), 0.6)


def test_an_administrator_sets_the_reviewer_rate_and_the_graders_bar(client, root, acme):
    client.force_login(root)
    page = client.get(reverse("admin:promptlib_project_change", args=[acme.pk])).content.decode()
    assert "Reviews and AI graders" in page
    assert 'name="reviewer_hourly_usd"' in page and 'name="judge_kappa_min"' in page
    response = _post(client, acme, reviewer_hourly_usd="42.50", judge_kappa_min="0.7")
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.reviewer_hourly_usd, acme.judge_kappa_min) == (Decimal("42.50"), 0.7)


def test_a_negative_rate_or_a_bar_above_one_is_refused_on_its_field(client, root, acme):
    client.force_login(root)
    response = _post(client, acme, reviewer_hourly_usd="-5", judge_kappa_min="1.5")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"reviewer_hourly_usd", "judge_kappa_min"}

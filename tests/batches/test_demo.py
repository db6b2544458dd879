"""The offline demo batch created by `make run` (demo_setup)."""

import pytest

from promptlib.batches.demo_setup import demo_project_setup
from promptlib.batches.models import Batch, Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-pass-for-tests")
    return demo_project_setup()


def test_the_demo_runs_a_finished_batch_of_two_triage_variants_offline(demo):
    batch = Batch.objects.get(project=demo.project)
    assert batch.status == Batch.Status.FINISHED
    assert batch.total == 120  # 60 labelled tickets × 2 variants
    assert set(batch.items.values_list("variant__key", flat=True)) == {"control", "ask-first"}
    assert batch.items.filter(success__isnull=False).count() == 120


def test_the_demo_ships_a_dataset_per_template(demo):
    names = set(Dataset.objects.filter(project=demo.project).values_list("name", flat=True))
    assert names == {"support-ticket-triage", "marketing-email", "invoice-extractor", "product-description"}


def test_running_the_demo_setup_again_adds_nothing(demo):
    demo_project_setup()
    assert Batch.objects.filter(project=demo.project).count() == 1
    assert Dataset.objects.get(project=demo.project, name="support-ticket-triage").cases.count() == 60

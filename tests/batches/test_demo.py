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
    batch = Batch.objects.get(project=demo.project, experiment__template__slug="support-ticket-triage")
    assert batch.status == Batch.Status.FINISHED
    assert batch.total == 120  # 60 labelled tickets × 2 variants
    assert set(batch.items.values_list("variant__key", flat=True)) == {"control", "ask-first"}
    assert batch.items.filter(success__isnull=False).count() == 120


def test_the_demo_ships_a_dataset_per_template(demo):
    names = set(Dataset.objects.filter(project=demo.project).values_list("name", flat=True))
    assert names == {
        "support-ticket-triage", "marketing-email", "invoice-extractor", "product-description", "support-reply",
    }  # fmt: skip


def test_running_the_demo_setup_again_adds_nothing(demo):
    demo_project_setup()
    assert Batch.objects.filter(project=demo.project).count() == 2  # triage, and without vs with the knowledge base
    assert Dataset.objects.get(project=demo.project, name="support-ticket-triage").cases.count() == 60


def test_the_knowledge_demo_shows_the_knowledge_base_winning_and_why(demo):
    from promptlib.analysis.report import experiment_report
    from promptlib.batches.demo_knowledge import EXPERIMENT_NAME
    from promptlib.experiments.models import Experiment
    from promptlib.knowledge.models import KnowledgeBase

    kb = KnowledgeBase.objects.get(project__slug="demo", name="coffee-shop")
    assert set(kb.documents.filter(is_current=True).values_list("source", flat=True)) == {
        "brand-voice.md", "catalogue.csv", "policies/refunds.md", "policies/shipping.md",
    }  # fmt: skip
    report = experiment_report(experiment=Experiment.objects.get(project__slug="demo", name=EXPERIMENT_NAME))
    assert report.winner is not None and report.winner.key == "with-kb"
    recall = {c.variant: c.value for c in next(r for r in report.offline.rows if r.metric == "context_recall").cells}
    assert recall == {"without-kb": 0.0, "with-kb": 1.0}
    demo_project_setup()  # again: nothing new
    assert Experiment.objects.filter(name=EXPERIMENT_NAME).count() == 1 and kb.snapshots.count() == 1

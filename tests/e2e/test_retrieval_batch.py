"""End to end: a batch of a version without and with a knowledge base, real Celery workers, the real OpenAI
SDK against the stand-in, which answers right only when the needed fact is in the prompt."""

import pytest
from django.conf import settings as django_settings

from promptlib.analysis.report import experiment_report
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.services import batch_start
from promptlib.providers.limits import limiter_for
from promptlib.stats import VerdictState
from tests.batches_support import make_batch, standin_provider
from tests.e2e_support import Workers, new_queue_name, wait_for
from tests.retrieval_support import grounded_answer, grounded_dataset
from tests.standins.server import StandinServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workers(settings):
    name = new_queue_name()
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    settings.PROMPTLIB_BATCH_CHUNK_SIZE = 10
    if not django_settings.REDIS_URL:
        for folder in ("celery-queue", "celery-processed"):
            (django_settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
    pool = Workers(queue=name)
    yield pool
    pool.stop_all()


def _row(section, metric):
    return {cell.variant: cell for cell in next(r for r in section.rows if r.metric == metric).cells}


def test_the_verdict_picks_the_knowledge_base_and_recall_explains_why(acme, grounded_experiment, workers):
    with StandinServer(latency=0.02, answer=grounded_answer, record_bodies=False) as server:
        config = standin_provider(acme, server, max_concurrency=4)
        limiter_for(config).reset()
        batch = batch_start(
            batch=make_batch(grounded_experiment, grounded_dataset(acme), provider=config, model="standin")
        )
        workers.start()
        wait_for(
            lambda: Batch.objects.get(pk=batch.pk).status in (Batch.Status.FINISHED, Batch.Status.FAILED),
            timeout=90,
            what=f"the batch to finish\n{workers.output()}",
        )
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.FINISHED
    with_kb = BatchItem.objects.filter(batch=batch, variant__key="kb")
    assert with_kb.count() == 30 and all(item.success for item in with_kb)
    assert all(item.retrieved and item.retrieval_ms is not None for item in with_kb)
    assert not BatchItem.objects.filter(batch=batch, variant__key="control", success=True).exists()

    report = experiment_report(experiment=grounded_experiment)
    assert report.verdict.state == VerdictState.WINNER
    assert report.winner.key == "kb"
    recall = _row(report.offline, "context_recall")
    assert (recall["control"].value, recall["kb"].value) == (0.0, 1.0)
    assert recall["kb"].significant and recall["kb"].better
    assert _row(report.offline, "citation_validity")["kb"].value == 1.0
    assert _row(report.offline, "retrieval_hit_rate")["kb"].value == 1.0

"""A batch of a version with a knowledge base, run in process: what each item records."""

import pytest

from promptlib.batches.models import BatchItem, ScorerConfig
from promptlib.batches.services import batch_run_inline
from promptlib.knowledge.models import Chunk
from promptlib.providers.limits import limiter_for
from tests.batches_support import make_batch, standin_provider
from tests.retrieval_support import grounded_answer, grounded_dataset
from tests.standins.server import StandinServer


def _answer(body):
    if "fact checker" in body["messages"][0]["content"]:
        return '{"score": 10, "pass": true, "reason": "supported"}'
    return grounded_answer(body)


@pytest.fixture
def server():
    with StandinServer(answer=_answer) as srv:
        yield srv


def test_each_item_records_the_passages_it_was_given_and_the_grounding_counts(acme, grounded_experiment, server):
    config = standin_provider(acme, server)
    limiter_for(config).reset()
    ScorerConfig.objects.create(experiment=grounded_experiment, kind="faithfulness", name="faithful", order=2,
                                config={"provider": config.name, "model": "standin"})  # fmt: skip
    batch = batch_run_inline(batch=make_batch(grounded_experiment, grounded_dataset(acme, count=3), provider=config,
                                              model="standin"))  # fmt: skip
    with_kb = BatchItem.objects.filter(batch=batch, variant__key="kb").order_by("case__position")
    refunds = with_kb[0]
    chunk = Chunk.objects.get(pk=refunds.retrieved[0]["id"])
    assert (chunk.title, chunk.document.source) == ("Refunds", "policies.md")
    assert refunds.retrieved[0] == {"id": chunk.pk, "source": "policies.md", "title": "Refunds",
                                    "score": pytest.approx(refunds.retrieved[0]["score"])}  # fmt: skip
    prompts = [b["messages"][-1]["content"] for b in server.stats()["bodies"]]
    assert any(f"[{chunk.pk}] Refunds (policies.md): Unopened bags" in p for p in prompts)
    assert refunds.success is True and refunds.output.startswith(f"From our records [{chunk.pk}]")
    assert (refunds.context_expected, refunds.context_found) == (2, 2)  # policies.md and "30 days"
    assert (refunds.citations_made, refunds.citations_valid) == (1, 1)
    assert refunds.faithful is True and refunds.retrieval_ms is not None
    assert refunds.latency_ms >= refunds.retrieval_ms

    control = BatchItem.objects.filter(batch=batch, variant__key="control").order_by("case__position")[0]
    assert control.success is False and control.retrieved == [] and control.retrieval_ms is None
    assert (control.context_expected, control.context_found, control.faithful) == (2, 0, None)


def test_a_missing_knowledge_base_fails_the_items_with_a_clear_error(acme, grounded_experiment, server, shop_kb):
    config = standin_provider(acme, server)
    limiter_for(config).reset()
    shop_kb.delete()
    batch = batch_run_inline(batch=make_batch(grounded_experiment, grounded_dataset(acme, count=3), provider=config,
                                              model="standin"))  # fmt: skip
    failed = BatchItem.objects.filter(batch=batch, variant__key="kb")
    assert {item.status for item in failed} == {BatchItem.Status.FAILED}
    assert "No knowledge base named 'coffee-shop'" in failed[0].error
    assert failed[0].error_kind == "render"


def test_the_experiment_page_shows_the_retrieval_metrics_and_each_variants_passages(
    client, victor, acme, grounded_experiment, server
):
    from django.urls import reverse

    config = standin_provider(acme, server)
    limiter_for(config).reset()
    batch_run_inline(batch=make_batch(grounded_experiment, grounded_dataset(acme, count=3), provider=config,
                                      model="standin"))  # fmt: skip
    client.force_login(victor)
    response = client.get(reverse("promptlib_experiment_dashboard", args=[grounded_experiment.pk]))
    body = response.content.decode()
    for label in ("Expected facts in the prompt's passages", "Search found what the case needs",
                  "Citations that point at a given passage", "Knowledge search time"):  # fmt: skip
        assert label in body
    control, with_kb = response.context["side_by_side"]
    assert (control["retrieves"], control["passages"]) == (False, [])
    first = with_kb["passages"][0]
    assert (first["title"], first["source"], first["expected"]) == ("Refunds", "policies.md", True)
    assert "Unopened bags of coffee can be returned within 30 days" in first["text"]
    assert f"[{first['id']}] Refunds (policies.md): Unopened bags" in with_kb["prompt"]  # as the model saw it
    assert "Found 2 of 2 expected sources and facts" in body and "Nothing retrieved: this version uses no" in body


def test_exports_carry_the_passages(acme, grounded_experiment, server):
    import csv
    import io
    import json

    from promptlib.analysis.exports import finetune_jsonl, results_csv

    config = standin_provider(acme, server)
    limiter_for(config).reset()
    batch_run_inline(batch=make_batch(grounded_experiment, grounded_dataset(acme, count=3), provider=config,
                                      model="standin"))  # fmt: skip
    rows = list(csv.DictReader(io.StringIO("".join(results_csv(experiment=grounded_experiment)))))
    kb_row = next(r for r in rows if r["variant"] == "kb" and r["case"] == "1")
    refunds = BatchItem.objects.get(batch__experiment=grounded_experiment, variant__key="kb", case__position=1)
    assert kb_row["retrieved"].startswith(f"{refunds.retrieved[0]['id']} policies.md")
    assert (kb_row["context_expected"], kb_row["context_found"]) == ("2", "2")
    kb = grounded_experiment.variants.get(key="kb")
    first = json.loads(next(iter(finetune_jsonl(experiment=grounded_experiment, winner_id=kb.pk))))
    assert f"[{refunds.retrieved[0]['id']}] Refunds (policies.md): Unopened bags" in first["messages"][-2]["content"]


def test_the_query_embedding_is_in_the_cost_once_per_case(acme, grounded_experiment, server, shop_kb):
    from promptlib.experiments.models import Variant
    from promptlib.knowledge.indexing import knowledge_embed
    from promptlib.knowledge.services import knowledge_base_update
    from promptlib.prompts.services import version_create
    from promptlib.providers.models import ModelPrice, ProviderConfig
    from tests.retrieval_support import QUESTIONS, support_content
    from tests.standins.server import _tokens

    config = standin_provider(acme, server)  # the chat model: a local server, which costs nothing
    limiter_for(config).reset()
    embedder = ProviderConfig.objects.create(project=acme, name="embedder", kind="openai",
                                             base_url=server.openai_base_url)  # fmt: skip
    ModelPrice.objects.create(provider=embedder, model="embed-small", input_per_mtok=1000, output_per_mtok=0)
    knowledge_base_update(knowledge_base=shop_kb, embedding_provider=embedder, embedding_model="embed-small")
    knowledge_embed(knowledge_base_id=shop_kb.pk)
    semantic, _ = version_create(template=grounded_experiment.template, content=support_content(mode="semantic"))
    Variant.objects.filter(experiment=grounded_experiment, key="kb").update(version=semantic)
    batch = batch_run_inline(batch=make_batch(grounded_experiment, grounded_dataset(acme, count=3), provider=config,
                                              model="standin", repeats=2))  # fmt: skip
    items = BatchItem.objects.filter(batch=batch, variant__key="kb", status=BatchItem.Status.DONE)
    assert items.count() == 6 and all(item.retrieved for item in items)
    # By hand: each question's embedding, its tokens at $1,000 per million, charged to one of its 2 answers.
    for question, _, _ in QUESTIONS:
        costs = sorted(item.cost_usd for item in items if item.case.input["question"] == question)
        assert costs == [0.0, pytest.approx(_tokens(question) * 1000 / 1_000_000)]
    assert all(i.cost_usd == 0 for i in BatchItem.objects.filter(batch=batch, variant__key="control"))

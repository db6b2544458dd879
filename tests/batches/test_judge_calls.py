"""An AI grader in a real batch, against the local stand-in (the OpenAI SDK unmodified): the verdict schema
through structured output, temperature 0, and replies that cannot be read counted apart, never a verdict."""

import json

import pytest
from django.urls import reverse

from promptlib.batches.admin.present import UNREAD_LABEL, variant_table
from promptlib.batches.calls import Endpoint, _judge_call
from promptlib.batches.models import BatchItem, ScorerConfig
from promptlib.batches.selectors import batch_variant_metrics
from promptlib.batches.services import batch_run_inline
from promptlib.providers.limits import limiter_for
from promptlib.scorers import ScoreInput
from promptlib.scorers.llm_judge import judge_messages, verdict_schema
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.standins.server import StandinServer

pytestmark = pytest.mark.django_db


def answer(body: dict) -> str:
    """The task's answer as usual; as the grader: billing passes, technical gets an echo with no verdict of
    its own (a PASS word and a number from the ticket), anything else fails."""
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    if "strict, fair evaluator" not in system:
        return standin_answer(body)
    response = body["messages"][-1]["content"].split("<response>")[-1]
    if "billing" in response:
        return 'Sure.\n```json\n{"verdict": "pass", "score": 9, "reason": "Right category"}\n```'
    if "technical" in response:
        return "Draft (x): My credit score is 8 and the ticket says PASS. I cannot decide."
    return json.dumps({"verdict": "fail", "score": 2, "reason": "Wrong"})


@pytest.fixture
def server():
    with StandinServer(answer=answer) as srv:
        yield srv


def test_a_graders_verdicts_are_read_strictly_in_a_batch(triage_experiment, acme, server, alice, client):
    provider = standin_provider(acme, server)
    limiter_for(provider).reset()
    ScorerConfig.objects.create(
        experiment=triage_experiment, kind="llm_judge", name="grader", order=3,
        config={"rubric": "Right category.", "provider": provider.name, "model": "standin", "scale": 10},
    )  # fmt: skip
    dataset = tickets_dataset(acme, count=5)  # billing, technical, account, shipping, other
    batch = batch_run_inline(
        batch=make_batch(triage_experiment, dataset, provider=provider, model="standin", variant_keys=["b"])
    )
    judge_bodies = [b for b in server.stats()["bodies"] if "strict, fair evaluator" in b["messages"][0]["content"]]
    assert len(judge_bodies) == 5
    assert {b["temperature"] for b in judge_bodies} == {0.0}
    formats = [b["response_format"] for b in judge_bodies]
    assert all(f["type"] == "json_schema" for f in formats)
    assert formats[0]["json_schema"]["schema"]["required"] == ["verdict", "score", "reason"]

    items = {item.case.input["ticket"].split()[-1]: item for item in batch.items.select_related("case")}
    assert items["billing"].success is True
    assert items["account"].success is False
    technical = items["technical"]
    assert (technical.success, technical.judge_unread) == (None, 1)
    grader = next(s for s in technical.scores if s["metric"] == "grader")
    assert grader["passed"] is None and grader["unread"] is True
    assert grader["detail"].startswith("could not read the judge's verdict")

    (row,) = batch_variant_metrics(batch=batch)
    # 1 success of the 4 answers with a verdict; the unread one is neither.
    assert row["metrics"]["task_success_rate"] == pytest.approx(1 / 4)
    assert row["metrics"]["judge_unread"] == 1
    table = variant_table([row], judged=True)
    assert table["headers"][-1] == UNREAD_LABEL and table["rows"][0]["cells"][-1] == "1"
    assert BatchItem.objects.filter(batch=batch, judge_unread__gt=0).count() == 1
    client.force_login(alice)
    page = client.get(reverse("admin:promptlib_batch_change", args=[batch.pk])).content.decode()
    assert UNREAD_LABEL in page


def test_an_anthropic_grader_gets_the_verdict_schema_as_its_output_format(acme, server):
    config = standin_provider(acme, server, kind="anthropic", name="standin-anthropic")
    limiter_for(config).reset()
    call = _judge_call(Endpoint.build(config=config, model="standin"), {"model": "standin"})
    messages = judge_messages(rubric="Polite.", scale=10, inp=ScoreInput(output="Hi", case_input={"name": "Ann"}))
    call(messages, json_schema=verdict_schema(scale=10))
    body = server.stats()["bodies"][-1]
    assert body["output_config"]["format"]["schema"] == verdict_schema(scale=10)
    assert "strict, fair evaluator" in body["system"]

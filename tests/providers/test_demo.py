"""The offline demo provider: deterministic, plausible, no network."""

import json

from promptlib.providers import ChatRequest, provider_for
from promptlib.providers.demo import DEMO_NOTICE
from promptlib.providers.models import ProviderConfig


def _complete(**request):
    provider = provider_for(ProviderConfig(name="demo", kind="demo"))
    return provider.complete(ChatRequest(model="demo-small", **request))


def test_it_is_labelled_as_not_a_real_model():
    assert "not a real model" in DEMO_NOTICE
    assert ProviderConfig.Kind.DEMO.label == DEMO_NOTICE


def test_it_answers_the_same_request_the_same_way():
    messages = [{"role": "user", "content": "Write a welcome email to Ann."}]
    assert _complete(messages=messages).text == _complete(messages=messages).text


def test_it_answers_different_requests_differently():
    first = _complete(messages=[{"role": "user", "content": "Write a welcome email to Ann."}])
    second = _complete(messages=[{"role": "user", "content": "Write a goodbye note to Bob."}])
    assert first.text != second.text


def test_it_picks_a_category_listed_in_a_classification_prompt():
    categories = {"billing", "shipping", "returns"}
    answers = {
        _complete(
            messages=[
                {"role": "system", "content": "Classify the ticket. Answer with one of: billing, shipping, returns."},
                {"role": "user", "content": f"Ticket {n}: where is my parcel?"},
            ]
        ).text
        for n in range(20)
    }
    assert answers <= categories and len(answers) > 1


def test_it_answers_a_json_schema_request_with_matching_json():
    schema = {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative"]},
            "score": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    data = json.loads(_complete(messages=[{"role": "user", "content": "Rate it"}], json_schema=schema).text)
    assert data["sentiment"] in ("positive", "negative")
    assert isinstance(data["score"], int) and isinstance(data["tags"][0], str)


def test_it_counts_tokens_as_a_quarter_of_the_characters():
    messages = [{"role": "user", "content": "x" * 400}]
    response = _complete(messages=messages)
    assert response.input_tokens == 100
    assert response.output_tokens == len(response.text) // 4


CONTEXT = (
    "## Context\n[7] Refunds for unopened bags (policies/refunds.md)\nUnopened bags can be returned within 30 days.\n"
    "[9] Shipping costs (policies/shipping.md)\nOrders over 40 EUR ship free within Germany.\n\n"
)


def test_it_answers_from_the_passage_that_matches_the_question_citing_it():
    messages = [{"role": "user", "content": CONTEXT + "## Task\nCan I return an unopened bag?"}]
    text = _complete(messages=messages).text
    assert "Unopened bags can be returned within 30 days. [7]" in text and "40 EUR" not in text


def test_without_passages_it_knows_no_facts():
    messages = [{"role": "user", "content": "## Task\nCan I return an unopened bag?"}]
    assert "30 days" not in _complete(messages=messages).text


def test_as_a_fact_checker_it_fails_numbers_the_passages_do_not_hold():
    def check(answer):
        content = f"<passages>\n[7] Unopened bags: 30 days.\n</passages>\n\n<response>\n{answer}\n</response>"
        messages = [{"role": "system", "content": "You are a strict, fair fact checker."},
                    {"role": "user", "content": content}]  # fmt: skip
        return json.loads(_complete(messages=messages).text)["pass"]

    assert check("Within 30 days [7].") is True
    assert check("Within 60 days [7].") is False

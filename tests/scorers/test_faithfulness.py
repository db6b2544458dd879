"""The faithfulness grader: the answer's claims checked against the passages it was given."""

import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for

PASSAGES = ({"id": 3, "title": "Refunds", "source": "policies.md", "text": "Full refund within 30 days."},)
CONFIG = {"provider": "judge", "model": "m"}


def _judge(reply):
    seen = []

    def call(messages):
        seen.append(messages)
        return reply, 100, 10, 0.002

    return call, seen


def test_it_shows_the_grader_the_passages_and_the_answer_as_data():
    call, seen = _judge('{"score": 10, "pass": true, "reason": "all supported"}')
    score = scorer_for("faithfulness").score(
        ScoreInput(output="Refunds within 30 days.", case_input={}, retrieved=PASSAGES), CONFIG, judge_call=call
    )
    assert (score.passed, score.value, score.judge_cost_usd) == (True, 1.0, 0.002)
    user = seen[0][1]["content"]
    assert "<passages>\n[3] Refunds (policies.md)\nFull refund within 30 days.\n</passages>" in user
    assert "<response>\nRefunds within 30 days.\n</response>" in user
    assert "supported by the passages" in seen[0][0]["content"]


def test_an_unsupported_claim_fails_it():
    call, _ = _judge('{"score": 5, "pass": false, "reason": "60 days is not in the passages"}')
    score = scorer_for("faithfulness").score(
        ScoreInput(output="Refunds within 60 days.", case_input={}, retrieved=PASSAGES), CONFIG, judge_call=call
    )
    assert (score.passed, score.value) == (False, 0.5)
    assert "60 days" in score.detail


def test_without_passages_it_gives_no_verdict_and_asks_no_one():
    call, seen = _judge("PASS")
    score = scorer_for("faithfulness").score(ScoreInput(output="x", case_input={}), CONFIG, judge_call=call)
    assert score.passed is None and seen == []


def test_it_needs_a_grading_provider():
    with pytest.raises(ScorerConfigError) as caught:
        scorer_for("faithfulness").validate_config({"model": "m"})
    assert caught.value.field == "provider"


def test_its_rubric_is_fixed():
    assert (
        "faithfulness" in scorer_for("faithfulness").validate_config({**CONFIG, "rubric": "be nice"})["rubric"].lower()
    )

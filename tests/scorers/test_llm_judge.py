import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, ScorerError, scorer_for
from promptlib.scorers.llm_judge import parse_judge_reply

CONFIG = {"rubric": "Polite and mentions the refund.", "provider": "openai", "model": "gpt-4o-mini"}
INPUT = ScoreInput(output="We refunded you.", case_input={"name": "Ann"}, expected_output="A polite refund note")


class FakeJudge:
    def __init__(self, reply, input_tokens=120, output_tokens=30, cost_usd=0.00021):
        self.reply, self.usage, self.messages = reply, (input_tokens, output_tokens, cost_usd), None

    def __call__(self, messages):
        self.messages = messages
        return (self.reply, *self.usage)


def test_it_builds_the_prompt_from_rubric_input_expected_and_output():
    judge = FakeJudge('{"score": 9, "pass": true, "reason": "ok"}')
    scorer_for("llm_judge").score(INPUT, CONFIG, judge_call=judge)
    system, user = judge.messages
    assert system["role"] == "system" and "Polite and mentions the refund." in system["content"]
    assert '"name": "Ann"' in user["content"]
    assert "<expected>\nA polite refund note\n</expected>" in user["content"]
    assert "<response>\nWe refunded you.\n</response>" in user["content"]


def test_it_reads_a_json_verdict_and_counts_the_judge_cost_separately():
    score = scorer_for("llm_judge").score(
        INPUT, CONFIG, judge_call=FakeJudge('{"score": 8, "pass": true, "reason": "Good"}')
    )
    # 8 on a 0-10 scale -> 0.8
    assert (score.passed, score.value, score.detail) == (True, pytest.approx(0.8), "Good")
    assert (score.judge_cost_usd, score.judge_input_tokens, score.judge_output_tokens) == (0.00021, 120, 30)


def test_the_explicit_pass_wins_over_the_score():
    verdict = parse_judge_reply('{"score": 9, "pass": false, "reason": "Rude"}')
    assert (verdict.passed, verdict.value) == (False, pytest.approx(0.9))


def test_a_score_alone_passes_at_the_threshold():
    assert parse_judge_reply('{"score": 7}', pass_threshold=0.7).passed is True
    assert parse_judge_reply('{"score": 6.9}', pass_threshold=0.7).passed is False


def test_it_reads_fenced_json_with_a_fraction_score_and_verdict_word():
    verdict = parse_judge_reply('Here you go:\n```json\n{"Score": "3/4", "Verdict": "FAIL", "rationale": "Vague"}\n```')
    assert (verdict.passed, verdict.value, verdict.reason) == (False, 0.75, "Vague")


@pytest.mark.parametrize(
    ("reply", "passed", "value"),
    [
        ("PASS", True, 1.0),
        ("FAIL", False, 0.0),
        ("The reply does not pass the bar in tone.\nVerdict: fail", False, 0.0),
        ("Criteria to PASS: politeness. It was rude. FAIL", False, 0.0),
        ("Score: 7/10", True, 0.7),
        ("score: 3 out of 5", False, 0.6),  # 0.6 < 0.7
        ("Overall score is 9", True, 0.9),  # scale 10
        ("Score: 4/10 but PASS anyway", True, 0.4),  # an explicit verdict wins
    ],
)
def test_it_reads_text_verdicts(reply, passed, value):
    verdict = parse_judge_reply(reply)
    assert verdict.passed is passed
    assert verdict.value == pytest.approx(value)


def test_an_unreadable_reply_gives_no_verdict_but_still_counts_cost():
    score = scorer_for("llm_judge").score(
        INPUT, CONFIG, judge_call=FakeJudge("I think it is fine-ish.", cost_usd=0.0004)
    )
    assert (score.passed, score.value) == (None, None)
    assert score.detail.startswith("could not read the judge's verdict")
    assert score.judge_cost_usd == 0.0004


def test_a_score_above_the_scale_is_unreadable():
    assert parse_judge_reply('{"score": 42}').value is None


def test_the_scale_option_changes_plain_scores():
    score = scorer_for("llm_judge").score(INPUT, {**CONFIG, "scale": 5}, judge_call=FakeJudge('{"score": 4}'))
    assert (score.passed, score.value) == (True, pytest.approx(0.8))


def test_temperature_is_pinned_to_zero():
    assert scorer_for("llm_judge").validate_config(CONFIG)["temperature"] == 0.0
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("llm_judge").validate_config({**CONFIG, "temperature": 0.7})
    assert exc.value.field == "temperature"


@pytest.mark.parametrize("field", ["rubric", "provider", "model"])
def test_it_requires_rubric_provider_and_model(field):
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("llm_judge").validate_config({**CONFIG, field: "  "})
    assert exc.value.field == field


def test_a_pass_threshold_above_one_is_rejected():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("llm_judge").validate_config({**CONFIG, "pass_threshold": 7})
    assert exc.value.field == "pass_threshold"


def test_it_needs_a_judge_call():
    with pytest.raises(ScorerError) as exc:
        scorer_for("llm_judge").score(INPUT, CONFIG)
    assert exc.value.field == "judge_call"


def test_judge_errors_propagate_for_the_caller_to_retry():
    def broken(messages):
        raise TimeoutError("judge timed out")

    with pytest.raises(TimeoutError):
        scorer_for("llm_judge").score(INPUT, CONFIG, judge_call=broken)

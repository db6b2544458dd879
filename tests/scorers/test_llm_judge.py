import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, ScorerError, scorer_for
from promptlib.scorers.llm_judge import parse_judge_reply

CONFIG = {"rubric": "Polite and mentions the refund.", "provider": "openai", "model": "gpt-4o-mini"}
INPUT = ScoreInput(output="We refunded you.", case_input={"name": "Ann"}, expected_output="A polite refund note")


class FakeJudge:
    def __init__(self, reply, input_tokens=120, output_tokens=30, cost_usd=0.00021):
        self.reply, self.usage, self.messages = reply, (input_tokens, output_tokens, cost_usd), None
        self.json_schema = None

    def __call__(self, messages, json_schema=None):
        self.messages, self.json_schema = messages, json_schema
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


ECHOED_TICKET = (
    "Draft (x): Dear customer, thanks for writing. You said: 'My credit score is 8 and I want a PASS on the "
    "fee.' We have refunded the fee."
)

# (reply, scale, expected passed, expected value); None/None is "could not read".
JUDGE_REPLIES = [
    # The structured verdict, as asked for.
    ('{"verdict": "pass", "score": 9, "reason": "Polite"}', 10, True, 0.9),
    ('{"verdict": "fail", "score": 2, "reason": "Rude"}', 10, False, 0.2),
    ('{"verdict": "pass", "score": 0.85, "reason": "ok"}', 1, True, 0.85),  # 0.85 on 0-1 is 0.85
    ('{"verdict": "pass", "score": "8/10", "reason": "ok"}', 10, True, 0.8),  # 8/10 is 0.8
    ('{"verdict": "pass", "score": "85%", "reason": "ok"}', 10, True, 0.85),  # 85% is 0.85
    ('{"verdict": "FAIL", "score": 8, "reason": "Invents a fee"}', 10, False, 0.8),  # the verdict decides
    ('{"score": 6}', 10, False, 0.6),  # no verdict: the score decides at 0.7
    ('{"score": 0.85}', 10, True, 0.85),  # a fraction below 1 on a 0-10 scale is a share already
    # Fenced, or with prose around it.
    ('```json\n{"verdict": "pass", "score": 7, "reason": "ok"}\n```', 10, True, 0.7),
    ('Here is my grade:\n{"verdict": "fail", "score": 3, "reason": "vague"}\nHope this helps.', 10, False, 0.3),
    # Echoed input: its JSON, numbers and PASS/FAIL words never count, the judge's own object does.
    (f'The response: "{ECHOED_TICKET}"\n{{"verdict": "fail", "score": 1, "reason": "no"}}', 10, False, 0.1),
    (
        'Input was {"ticket": "PASS me", "score_hint": 9}. {"verdict": "pass", "score": 8, "reason": "ok"}',
        10,
        True,
        0.8,
    ),
    (ECHOED_TICKET, 10, None, None),  # read as PASS 0.8 before
    ("The ticket says PASS in capitals, but the reply is unhelpful and vague overall.", 10, None, None),
    ("The customer wrote: score: 9. I would rate the draft as weak.", 10, None, None),
    # Plain-text verdicts that are the whole reply, or its last line.
    ("PASS", 10, True, 1.0),
    ("fail.", 10, False, 0.0),
    ("The reply is polite but misses the refund.\nVerdict: fail", 10, False, 0.0),
    ("score: 0.85", 1, True, 0.85),  # read as 0.085 before
    ("Score: 7/10", 10, True, 0.7),
    ("Score: 60%", 10, False, 0.6),
    # Unreadable: never a pass or a fail.
    ("", 10, None, None),
    ("I'm sorry, but I can't help with evaluating this content.", 10, None, None),
    ('{"verdict": "pass", "score": 9, "reas', 10, None, None),  # truncated JSON
    ('{"verdict": "maybe", "score": 5, "reason": "unsure"}', 10, None, None),
    ('{"verdict": "pass", "score": 42, "reason": "off the scale"}', 10, None, None),
    ('{"name": "Ann", "ticket": "PASS"}', 10, None, None),  # an echoed input object alone
    # An echoed answer with a score field of its own, before the judge's verdict.
    ('The answer was {"score": 9, "category": "billing"}. {"verdict": "fail", "reason": "wrong"}', 10, False, 0.0),
    ('{"verdict": "pass", "score": null, "reason": "no score given"}', 10, True, 1.0),
]


@pytest.mark.parametrize(("reply", "scale", "passed", "value"), JUDGE_REPLIES)
def test_it_reads_only_the_judges_own_verdict(reply, scale, passed, value):
    verdict = parse_judge_reply(reply, scale=scale)
    assert verdict.passed is passed
    assert verdict.value == (None if value is None else pytest.approx(value))
    assert verdict.readable is (passed is not None)


def test_the_table_covers_at_least_twenty_replies():
    assert len(JUDGE_REPLIES) >= 20


def test_it_asks_for_the_verdict_schema_on_the_declared_scale():
    judge = FakeJudge('{"verdict": "pass", "score": 4, "reason": "ok"}')
    score = scorer_for("llm_judge").score(INPUT, {**CONFIG, "scale": 5}, judge_call=judge)
    assert judge.json_schema["required"] == ["verdict", "score", "reason"]
    assert judge.json_schema["properties"]["score"]["description"] == "from 0 to 5"
    assert '"verdict": "pass" or "fail"' in judge.messages[0]["content"]
    assert (score.passed, score.value, score.unreadable) == (True, pytest.approx(0.8), False)


def test_an_unreadable_reply_gives_no_verdict_but_still_counts_cost():
    score = scorer_for("llm_judge").score(
        INPUT, CONFIG, judge_call=FakeJudge("I think it is fine-ish.", cost_usd=0.0004)
    )
    assert (score.passed, score.value, score.unreadable) == (None, None, True)
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
    def broken(messages, json_schema=None):
        raise TimeoutError("judge timed out")

    with pytest.raises(TimeoutError):
        scorer_for("llm_judge").score(INPUT, CONFIG, judge_call=broken)

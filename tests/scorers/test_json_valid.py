import pytest

from promptlib.scorers import ScoreInput, scorer_for
from promptlib.scorers.json_valid import parse_json_output


def _score(output, config=None):
    return scorer_for("json_valid").score(ScoreInput(output=output, case_input={}), config)


def test_a_bare_json_object_is_valid():
    score = _score('{"category": "billing"}')
    assert (score.passed, score.value) == (True, 1.0)
    assert "whole output" in score.detail


def test_it_reads_json_inside_a_json_fence_with_prose_around():
    text = 'Sure! Here it is:\n```json\n{"category": "billing", "urgent": true}\n```\nAnything else?'
    parsed = parse_json_output(text)
    assert parsed.value == {"category": "billing", "urgent": True}
    assert parsed.source == "```json fence"


def test_it_prefers_the_json_fence_over_other_fences():
    text = "```python\nprint('hi')\n```\nand\n```JSON\n[1, 2]\n```"
    assert parse_json_output(text).value == [1, 2]


def test_it_reads_an_unterminated_fence():
    # A reply cut off by max_tokens right after the closing brace.
    assert parse_json_output('```json\n{"a": 1}\n').value == {"a": 1}


def test_it_finds_an_object_embedded_in_prose():
    parsed = parse_json_output('The result is {"score": 3} as requested.')
    assert (parsed.value, parsed.source) == ({"score": 3}, "embedded in text")


def test_it_skips_brace_noise_before_the_real_object():
    assert parse_json_output('Use {name} style; answer: {"name": "Ann"}').value == {"name": "Ann"}


def test_an_object_wins_over_an_earlier_array():
    assert parse_json_output('See [1] for details: {"ok": true}').value == {"ok": True}


def test_truncated_json_is_invalid_and_says_where():
    score = _score('{"category": "billing"')
    assert (score.passed, score.value) == (False, 0.0)
    assert "line 1, column 23" in score.detail


def test_a_broken_fenced_block_is_invalid():
    score = _score("```json\n{category: billing}\n```")
    assert score.passed is False
    assert "fenced block" in score.detail


def test_strict_mode_rejects_fenced_json():
    assert _score('```json\n{"a": 1}\n```', {"strict": True}).passed is False
    assert _score(' {"a": 1}\n', {"strict": True}).passed is True


@pytest.mark.parametrize("text", ["", "no json here", "{", "[1, 2"])
def test_text_without_json_is_invalid(text):
    assert _score(text).passed is False

from promptlib.scorers import ScoreInput, scorer_for


def test_it_is_not_auto_scored_and_marks_the_result_for_review():
    score = scorer_for("human_review").score(ScoreInput(output="Draft", case_input={}), {"instructions": "Check tone"})
    assert (score.metric, score.passed, score.value, score.detail) == ("human_review", None, None, "needs human review")


def test_it_keeps_the_reviewer_instructions():
    assert scorer_for("human_review").validate_config({"instructions": " Check tone "})["instructions"] == "Check tone"

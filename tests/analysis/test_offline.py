"""The offline section over crafted batches: peeking rules, guardrail margins, plain words, advice."""

import pytest

from promptlib.analysis.report import experiment_report
from promptlib.batches.models import Batch, BatchItem
from promptlib.stats import VerdictState, look_alpha
from tests.analysis_support import add_batch, make_dataset, make_experiment, winner_batch


def _row(section, metric):
    return next(r for r in section.rows if r.metric == metric)


def test_the_verdict_is_a_plain_sentence_naming_the_versions(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    verdict = experiment_report(experiment=wording_experiment).verdict
    assert verdict.reason == (
        "Version 2 answers correctly more often: 92% vs 50% of test cases. "
        "A difference this large is very unlikely to be chance."
    )
    assert "McNemar's test" in verdict.detail


def test_a_running_batch_with_results_shows_provisional_numbers_and_no_winner(wording_experiment, customers):
    winner_batch(wording_experiment, customers, status=Batch.Status.RUNNING)
    report = experiment_report(experiment=wording_experiment)
    assert report.offline.provisional
    assert report.verdict.state == VerdictState.COLLECTING_DATA
    assert report.winner is None
    assert "still running (120 results so far)" in report.verdict.reason
    assert _row(report.offline, "task_success_rate").cells[1].value == pytest.approx(55 / 60)


def test_a_running_batch_without_results_yet_leaves_the_finished_verdict(wording_experiment, customers, acme):
    winner_batch(wording_experiment, customers)
    add_batch(
        wording_experiment, make_dataset(acme, cases=20, name="fresh"), passes={"control": bool, "b": bool},
        status=Batch.Status.RUNNING, item_status=BatchItem.Status.PENDING,
    )  # fmt: skip
    assert experiment_report(experiment=wording_experiment).winner.key == "b"


def test_each_finished_run_is_a_look_tested_at_its_share_of_the_error_budget(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    winner_batch(wording_experiment, customers)
    section = experiment_report(experiment=wording_experiment).offline
    assert section.alpha == pytest.approx(look_alpha(alpha=0.05, look=2))
    assert "This is run 2: a winner needs p below 0.0076." in section.decision_note


def test_a_winner_whose_cost_per_success_doubles_fails_its_guardrail(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, guardrails=["cost_per_success_usd"])
    batch = winner_batch(experiment, customers)
    # Control: 0.001 per call, 30 successes; b: 55 successes but 0.0037 per call — 2.0× the cost per success.
    batch.items.filter(variant__key="b").update(cost_usd=0.0037)
    report = experiment_report(experiment=experiment)
    assert report.verdict.state == VerdictState.GUARDRAIL_FAILED
    assert report.verdict.metric == "cost_per_success_usd"
    assert "cost per successful answer is worse than allowed" in report.verdict.reason
    cell = _row(report.offline, "cost_per_success_usd").cells[1]
    assert cell.guardrail == "failed"
    assert cell.test == "delta method (ratio)"
    assert cell.difference == pytest.approx(0.0037 * 60 / 55 - 0.001 * 60 / 30)


def test_a_guardrail_shown_within_its_margin_lets_the_winner_through(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, guardrails=["latency_p50_ms"])
    winner_batch(experiment, customers)  # the same latencies for both variants
    report = experiment_report(experiment=experiment)
    assert _row(report.offline, "latency_p50_ms").cells[1].guardrail == "safe"
    assert report.verdict.state == VerdictState.WINNER


def test_a_p95_guardrail_on_too_few_cases_is_not_yet_shown_safe(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, guardrails=["latency_p95_ms"])
    winner_batch(experiment, customers)  # 60 cases: a 95th percentile needs 100
    report = experiment_report(experiment=experiment)
    assert report.verdict.state == VerdictState.GUARDRAIL_NOT_SHOWN_SAFE
    assert report.winner is None
    assert "not yet shown that its response time (slowest 5%) stays within +10% of Version 1's" in report.verdict.reason
    assert report.offline.guidance.text.endswith("more cases would show whether the guardrail stays within its margin.")


def test_the_margin_a_marketer_picked_is_the_one_tested(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, guardrails=["cost_per_success_usd"])
    experiment.guardrail_margins = {"cost_per_success_usd": 3.0}  # up to four times the cost accepted
    experiment.save(update_fields=["guardrail_margins"])
    batch = winner_batch(experiment, customers)
    batch.items.filter(variant__key="b").update(cost_usd=0.0037)
    report = experiment_report(experiment=experiment)
    assert _row(report.offline, "cost_per_success_usd").cells[1].margin == "+300%"
    assert report.verdict.state == VerdictState.WINNER


def test_advice_a_dataset_cannot_follow_says_the_difference_is_too_small(wording_experiment, acme):
    add_batch(
        wording_experiment, make_dataset(acme, cases=40), passes={"control": lambda i: i < 20, "b": lambda i: i < 22}
    )
    guidance = experiment_report(experiment=wording_experiment).offline.guidance
    assert guidance.required > 4 * 40
    assert "too small to detect with this dataset" in guidance.text
    assert "That is enough" not in guidance.text


def test_enough_cases_without_a_winner_never_says_that_is_enough(wording_experiment, acme):
    # 400 cases, identical results: the test could have seen 5 points, and saw nothing.
    add_batch(
        wording_experiment, make_dataset(acme, cases=400), passes={"control": lambda i: i % 2, "b": lambda i: i % 2}
    )
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE
    assert report.offline.guidance.more_needed == 0
    assert "probably smaller than that" in report.offline.guidance.text


def test_a_winner_gets_no_advice_to_add_cases(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    guidance = experiment_report(experiment=wording_experiment).offline.guidance
    assert guidance.more_needed == 0
    assert guidance.text == "The difference is shown with 60 cases per variant."


def test_n_shown_is_the_number_of_cases_used_when_cases_are_repeated(wording_experiment, customers):
    add_batch(wording_experiment, customers, passes={"control": lambda k: k < 60, "b": lambda k: k < 100}, repeats=3)
    section = experiment_report(experiment=wording_experiment).offline
    cells = _row(section, "task_success_rate").cells
    assert [c.n for c in cells] == [60, 60]
    assert section.sample_sizes == {"control": 60, "b": 60}


def test_per_variant_intervals_widen_when_repeats_agree(wording_experiment, customers):
    # Three repeats that always agree carry one case's worth of evidence, not three.
    add_batch(wording_experiment, customers, passes={"control": lambda k: k < 90, "b": lambda k: k < 90}, repeats=3)
    cell = _row(experiment_report(experiment=wording_experiment).offline, "task_success_rate").cells[0]
    from promptlib.stats import rate_estimate

    independent = rate_estimate(n=180, successes=90)
    assert cell.high - cell.low > 1.5 * (independent.high - independent.low)


def test_a_95th_percentile_of_too_few_calls_shows_no_interval(wording_experiment, customers):
    winner_batch(wording_experiment, customers)  # 60 calls per variant
    section = experiment_report(experiment=wording_experiment).offline
    p95, p50 = _row(section, "latency_p95_ms").cells[0], _row(section, "latency_p50_ms").cells[0]
    assert p95.value is not None and (p95.low, p95.high) == (None, None)
    assert p50.low is not None
    assert _row(section, "latency_p95_ms").cells[1].test == "not tested: needs 100 cases"


def test_a_metric_direction_is_the_declared_one_and_none_when_unregistered():
    from promptlib.analysis.compare import is_higher_better, metric_info

    assert is_higher_better(metric_info("latency_p95_ms", is_rate=False)) is False
    assert is_higher_better(metric_info("task_success_rate", is_rate=True)) is True
    assert is_higher_better(metric_info("complaints", is_rate=True)) is None

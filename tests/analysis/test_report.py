"""experiment_report over crafted data: each verdict state, the paired tests, the headline choice."""

import pytest
from scipy import stats

from promptlib.analysis.report import experiment_report
from promptlib.stats import VerdictState
from tests.analysis_support import add_batch, add_outcomes, make_dataset, make_experiment, winner_batch


def _row(section, metric):
    return next(r for r in section.rows if r.metric == metric)


def test_it_says_collecting_data_with_too_few_cases(wording_experiment, acme):
    add_batch(
        wording_experiment, make_dataset(acme, cases=10), passes={"control": lambda i: i < 2, "b": lambda i: True}
    )
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict.state == VerdictState.COLLECTING_DATA
    assert "the control has 10 of the 30 test cases needed per variant" in report.verdict.reason


def test_it_names_the_winner_when_the_challenger_passes_significantly_more_cases(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict.state == VerdictState.WINNER
    assert report.winner.key == "b"
    assert report.verdict_source == "offline"


def test_it_uses_mcnemar_on_cases_run_once(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    cell = _row(experiment_report(experiment=wording_experiment).offline, "task_success_rate").cells[1]
    assert cell.test == "McNemar's test"
    assert cell.difference == pytest.approx(25 / 60)
    assert cell.p_value < 0.001


def test_it_uses_the_paired_t_test_on_success_shares_when_cases_are_repeated(wording_experiment, customers):
    # Call k = case × 2 + repeat: b passes both repeats of cases 0–49 and one repeat of the others.
    add_batch(
        wording_experiment,
        customers,
        passes={"control": lambda k: k < 60, "b": lambda k: k < 100 or k % 2 == 0},
        repeats=2,
    )
    cell = _row(experiment_report(experiment=wording_experiment).offline, "task_success_rate").cells[1]
    assert cell.test == "paired t-test"
    # The tested mean difference of per-case shares is the difference of the rates shown: 110/120 - 60/120.
    assert cell.difference == pytest.approx(50 / 120)
    assert cell.n == 60  # cases, the unit the interval and the test use


def test_it_reports_no_significant_difference_for_equal_variants(wording_experiment, customers):
    add_batch(
        wording_experiment, customers, passes={"control": lambda i: i % 2 == 0, "b": lambda i: i % 2 == 1 or i < 4}
    )
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE
    assert report.winner is None


def test_it_reports_a_worse_challenger(wording_experiment, customers):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 55, "b": lambda i: i < 30})
    assert experiment_report(experiment=wording_experiment).verdict.state == VerdictState.CHALLENGER_WORSE


def test_it_fails_the_guardrail_when_the_winner_is_much_slower(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, guardrails=["latency_p50_ms"])
    winner_batch(experiment, customers, latency={"control": 800, "b": 2500})
    report = experiment_report(experiment=experiment)
    assert report.verdict.state == VerdictState.GUARDRAIL_FAILED
    assert report.verdict.metric == "latency_p50_ms"


def test_it_computes_latency_percentiles_per_variant(wording_experiment, customers):
    winner_batch(wording_experiment, customers, latency={"control": 800, "b": 2500})
    row = _row(experiment_report(experiment=wording_experiment).offline, "latency_p50_ms")
    control, b = row.cells
    assert control.value == pytest.approx(830)  # 800 + (i % 7) * 10 over 60 cases: the median is 830
    assert control.low <= control.value <= control.high
    assert b.value == pytest.approx(2530)


def test_it_adjusts_p_values_with_holm_for_two_challengers(welcome, welcome_content, customers):
    experiment = make_experiment(welcome, welcome_content, challengers=("b", "c"))
    add_batch(experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 55, "c": lambda i: i < 36})
    report = experiment_report(experiment=experiment)
    assert report.offline.adjusted
    b_cell = _row(report.offline, "task_success_rate").cells[1]
    # McNemar for b: 25 discordant pairs, chi-square (0 - 25)² / 25; the smaller of two p-values doubles.
    assert b_cell.p_value == pytest.approx(2 * stats.chi2.sf(25**2 / 25, 1))
    assert report.winner.key == "b"


def test_it_counts_only_running_and_finished_batches(wording_experiment, customers):
    winner_batch(wording_experiment, customers, status="cancelled")
    report = experiment_report(experiment=wording_experiment)
    assert not report.offline.has_data
    assert report.verdict.state == VerdictState.COLLECTING_DATA


def test_it_says_when_cancelled_batches_are_left_out(wording_experiment, customers):
    winner_batch(wording_experiment, customers, status="cancelled")
    winner_batch(wording_experiment, customers)
    report = experiment_report(experiment=wording_experiment)
    assert report.offline.left_out.startswith("1 cancelled batch is left out")


def test_it_says_nothing_is_left_out_without_cancelled_batches(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    assert experiment_report(experiment=wording_experiment).offline.left_out == ""


def test_it_decides_with_production_outcomes_once_they_have_enough_data(wording_experiment, customers):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 55, "b": lambda i: i < 30})
    add_outcomes(
        wording_experiment, metric="task_success_rate", counts={"control": (3000, 900), "b": (3000, 1350)}, days=3
    )
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict_source == "production"
    assert report.verdict.state == VerdictState.WINNER
    assert report.production.rows[0].cells[1].test == "mSPRT per user"
    assert report.production.rows[0].cells[1].chance_to_beat_control > 0.99
    assert len(report.production.series[0].x) == 3


def test_it_keeps_the_offline_verdict_while_production_is_collecting(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    add_outcomes(wording_experiment, metric="task_success_rate", counts={"control": (10, 3), "b": (10, 9)})
    report = experiment_report(experiment=wording_experiment)
    assert report.verdict_source == "offline"
    assert report.production.verdict.state == VerdictState.COLLECTING_DATA
    assert "production has 10 of the planned" in report.explanation


def test_it_gives_sample_size_guidance_for_the_primary_metric(wording_experiment, acme):
    add_batch(
        wording_experiment, make_dataset(acme, cases=40), passes={"control": lambda i: i < 20, "b": lambda i: i < 22}
    )
    guidance = experiment_report(experiment=wording_experiment).offline.guidance
    assert guidance.current == 40
    assert guidance.required > 40
    assert guidance.more_needed == guidance.required - 40


def test_it_draws_one_point_per_batch_run(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 50})
    series = next(
        s for s in experiment_report(experiment=wording_experiment).offline.series if s.metric == "task_success_rate"
    )
    assert series.values["b"] == [pytest.approx(55 / 60), pytest.approx(50 / 60)]

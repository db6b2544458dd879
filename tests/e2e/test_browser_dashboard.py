"""The experiment dashboard in a real (headless) browser: charts drawn, live progress, promotion."""

import pytest

from promptlib.analysis.report import experiment_report_invalidate
from promptlib.batches.models import Batch, BatchItem
from promptlib.prompts.models import Label
from tests.analysis_support import add_batch, add_outcomes, make_dataset, winner_batch
from tests.browser_support import ARTIFACTS

ALL_CHARTS_DRAWN = """() => {
  const canvases = [...document.querySelectorAll('canvas[data-chart]')];
  return window.Chart && canvases.length > 0 && canvases.every((c) => Chart.getChart(c));
}"""


@pytest.mark.browser
def test_a_marketer_watches_a_batch_and_promotes_the_winner(
    transactional_db, live_server, page, acme, alice, welcome, welcome_content
):
    from playwright.sync_api import expect

    from tests.analysis_support import make_experiment

    experiment = make_experiment(welcome, welcome_content)
    customers = make_dataset(acme, cases=60)
    winner_batch(experiment, customers, latency={"control": 900, "b": 700})
    add_outcomes(experiment, metric="task_success_rate", counts={"control": (25, 8), "b": (25, 17)}, days=5)
    running = add_batch(
        experiment, make_dataset(acme, cases=20, name="fresh"), passes={"control": bool, "b": bool},
        status=Batch.Status.RUNNING, item_status=BatchItem.Status.PENDING,
    )  # fmt: skip

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/experiment/{experiment.pk}/dashboard/")

    expect(page.locator("#verdict-state")).to_contain_text("We have a winner")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=10_000)
    charted = page.evaluate("[...document.querySelectorAll('canvas[data-chart]')].map(c => c.dataset.chart)")
    # Every metric with something to draw; no call was retried, so the retry rate gets no chart.
    assert "offline-retry_rate" not in charted
    assert {"production-task_success_rate", "production-series-task_success_rate", "offline-task_success_rate",
            "offline-latency_p95_ms", "offline-cost_per_success_usd"} <= set(charted)  # fmt: skip

    row = page.locator(f'.pl-progress-row[data-batch="{running.pk}"]')
    expect(row.locator(".pl-progress-text")).to_have_text("0 / 40 (0%)")
    assert row.locator(".pl-progress-bar").evaluate("el => el.style.width") == "0%"
    half = list(running.items.order_by("pk").values_list("pk", flat=True)[:20])
    BatchItem.objects.filter(pk__in=half).update(status=BatchItem.Status.DONE, success=True, latency_ms=750)
    expect(row.locator(".pl-progress-text")).to_have_text("20 / 40 (50%)", timeout=10_000)
    assert row.locator(".pl-progress-bar").evaluate("el => el.style.width") == "50%"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment-dashboard.png"), full_page=True)

    # While the batch runs with results, its numbers are provisional and no winner is drawn; once it finishes,
    # the combined results decide again.
    experiment_report_invalidate(experiment_id=experiment.pk)  # the page caches its report a few seconds
    page.reload()
    expect(page.locator("#verdict-reason")).to_contain_text("A batch is still running")
    Batch.objects.filter(pk=running.pk).update(status=Batch.Status.FINISHED)
    experiment_report_invalidate(experiment_id=experiment.pk)
    page.reload()
    expect(page.locator("#verdict-state")).to_contain_text("We have a winner")
    page.click("#promote-button")
    expect(page.locator(".messagelist")).to_contain_text("now points at version 2")
    assert Label.objects.get(template=welcome, name="production").version.number == 2

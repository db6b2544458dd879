"""The experiment page in a real browser at desktop and phone widths: the verdict read first, in plain words."""

import re

import pytest

from promptlib.experiments.models import Experiment
from tests.analysis_support import make_dataset, make_experiment, winner_batch
from tests.browser_support import ARTIFACTS

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
SENTENCE = "Version 2 answers correctly more often: 92% vs 50% of test cases."
PRODUCTION_SENTENCE = (
    "Version 2 has lower complaints: 5% vs 10%. A difference this large is very unlikely to be chance."
)


@pytest.mark.browser
def test_a_marketer_reads_the_verdict_in_one_plain_sentence_on_a_desktop_and_a_phone(
    transactional_db, live_server, page, acme, alice, welcome, welcome_content
):
    from playwright.sync_api import expect

    experiment: Experiment = make_experiment(welcome, welcome_content, guardrails=["latency_p50_ms"])
    winner_batch(experiment, make_dataset(acme, cases=60))
    errors: list[str] = []
    # Script errors and failed requests of this page (the favicon belongs to the layout issue).
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    ARTIFACTS.mkdir(exist_ok=True)
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(f"{live_server.url}/admin/promptlib/experiment/{experiment.pk}/dashboard/")
        reason = page.locator("#verdict-reason")
        expect(reason).to_contain_text(SENTENCE)
        expect(reason).to_contain_text("A difference this large is very unlikely to be chance.")
        expect(reason).to_be_in_viewport()  # read first, without scrolling
        # The sentence comes before the badge and the figures for statisticians.
        assert page.evaluate(
            "document.querySelector('#verdict-reason').compareDocumentPosition("
            "document.querySelector('#verdict-state')) & Node.DOCUMENT_POSITION_FOLLOWING"
        )
        # Each statistical term explains itself on hover.
        term = page.locator("#section-offline th .pl-term", has_text="p-value")
        assert "by pure chance" in term.get_attribute("title")
        expect(page.locator("#section-offline .pl-guardrail-safe")).to_contain_text("shown within +10%")
        expect(page.locator("#offline-looks")).to_contain_text("This is run 1")
        page.screenshot(path=str(ARTIFACTS / f"experiment-verdict-{size['width']}-first-screen.png"))
        page.screenshot(path=str(ARTIFACTS / f"experiment-verdict-{size['width']}.png"), full_page=True)
        section = page.locator("#section-offline .pl-table")
        section.screenshot(path=str(ARTIFACTS / f"experiment-offline-table-{size['width']}.png"))
        sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert sideways <= 0, f"the experiment page scrolls sideways at {size['width']} px"
    assert not errors, errors


@pytest.mark.browser
def test_production_verdict_and_the_sample_ratio_check_are_seen_on_a_desktop_and_a_phone(
    transactional_db, live_server, page, acme, alice, welcome, welcome_content
):
    """Outcomes reported by the application and exposures counted by the render path, as in production."""
    from playwright.sync_api import expect

    from promptlib.experiments.app_metrics import application_metric_register
    from promptlib.experiments.exposures import exposure_record, exposures_flush
    from tests.analysis_support import add_outcomes

    experiment = make_experiment(welcome, welcome_content, primary="complaint")
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    # 1,500 users per variant (more than the ~1,100 planned): complaints from 10% down to 5%.
    add_outcomes(experiment, metric="complaint", counts={"control": (1500, 150), "b": (1500, 75)})
    for key in ("control", "b"):
        for i in range(1500):
            exposure_record(experiment_id=experiment.pk, variant=key, subject=f"{key}-{i}")
    exposures_flush()

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    ARTIFACTS.mkdir(exist_ok=True)
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(f"{live_server.url}/admin/promptlib/experiment/{experiment.pk}/dashboard/")
        reason = page.locator("#verdict-reason")
        expect(reason).to_contain_text(PRODUCTION_SENTENCE)
        expect(reason).to_be_in_viewport()  # read first, without scrolling
        srm = page.locator("#srm-check")
        # Counted exactly without Redis, by HyperLogLog (within about 1%) with it.
        expect(srm).to_contain_text(re.compile(r"Users were split as planned: control 1,[45]\d\d \(expected"))
        srm.scroll_into_view_if_needed()
        expect(srm).to_be_visible()
        expect(srm).to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / f"experiment-production-{size['width']}-first-screen.png"))
        page.screenshot(path=str(ARTIFACTS / f"experiment-production-{size['width']}.png"), full_page=True)
        page.locator("#section-production").screenshot(
            path=str(ARTIFACTS / f"experiment-production-section-{size['width']}.png")
        )
        sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert sideways <= 0, f"the experiment page scrolls sideways at {size['width']} px"

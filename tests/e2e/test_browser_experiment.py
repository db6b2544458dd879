"""The experiment page in a real browser at desktop and phone widths: the verdict read first, in plain words."""

import pytest

from promptlib.experiments.models import Experiment
from tests.analysis_support import make_dataset, make_experiment, winner_batch
from tests.browser_support import ARTIFACTS

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
SENTENCE = "Version 2 answers correctly more often: 92% vs 50% of test cases."


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

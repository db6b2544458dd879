"""The cost parts and the AI grader's calibration card fit a phone and a desktop, and Calibrate fills the queue."""

import pytest

from promptlib.batches.models import BatchItem
from tests.browser_support import ARTIFACTS
from tests.calibration_support import POOR, crafted, grader_add, judge

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


@pytest.mark.browser
def test_the_calibration_card_fits_and_calibrate_sends_answers_to_review(
    transactional_db, live_server, page, alice, wording_experiment, customers
):
    grader_add(wording_experiment)
    batch = crafted(wording_experiment, customers, alice, POOR)  # 20 of the control's answers judged and reviewed
    judge(list(batch.items.filter(reviews__isnull=True)), [True] * 100)  # the rest judged, not reviewed
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    url = f"{live_server.url}/admin/promptlib/experiment/{wording_experiment.pk}/dashboard/"
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        page.goto(url)
        card = page.locator("#calibration")
        assert "The grader passed 9 answers the reviewers rejected." in card.inner_text()
        assert page.is_visible("#reviewer-rate-prompt")
        assert "not calibrated (grader)" in page.inner_text("#verdict-reason")
        card.screenshot(path=str(ARTIFACTS / f"experiment-calibration-{size['width']}.png"))
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.click("#calibrate-button")
    page.wait_for_selector("#calibration-awaiting")
    assert BatchItem.objects.filter(review_requested=True).count() == 20
    assert "20 sent answers await review" in page.inner_text("#calibration-awaiting")

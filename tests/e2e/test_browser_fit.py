"""Admin pages with wide tables fit a phone: the table scrolls in its own box, the page never sideways."""

import pytest

from promptlib.batches.services import batch_run_inline
from tests.batches_support import make_batch
from tests.browser_support import ARTIFACTS

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.browser
def test_the_batch_page_and_the_template_editor_fit_a_phone_and_a_desktop(
    transactional_db, live_server, page, alice, triage_experiment, tickets
):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    pages = {
        "batch": f"/admin/promptlib/batch/{batch.pk}/change/",
        "template": f"/admin/promptlib/template/{triage_experiment.template_id}/change/",
    }
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.screenshot(path=str(ARTIFACTS / f"fit-{name}-{size['width']}.png"), full_page=True)
            assert _sideways(page) <= 0, f"{name} page scrolls sideways at {size['width']} px"

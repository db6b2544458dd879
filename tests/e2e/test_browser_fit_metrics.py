"""The application-metric form and the experiment form (guardrails ticked from a list) fit a phone."""

import pytest

from promptlib.experiments.app_metrics import application_metric_register
from tests.browser_support import ARTIFACTS

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


@pytest.mark.browser
def test_the_metric_and_experiment_forms_fit_a_phone_and_a_desktop(transactional_db, live_server, page, alice, acme):
    metric = application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    pages = {
        "metric-add": "/admin/promptlib/applicationmetric/add/",
        "metric": f"/admin/promptlib/applicationmetric/{metric.pk}/change/",
        "experiment-add": "/admin/promptlib/experiment/add/",
    }
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.screenshot(path=str(ARTIFACTS / f"fit-{name}-{size['width']}.png"), full_page=True)
            sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert sideways <= 0, f"{name} page scrolls sideways at {size['width']} px"
    assert "Complaints (lower is better)" in page.content()

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


@pytest.mark.browser
def test_the_labels_table_stacks_as_cards_on_a_phone_and_stays_a_table_on_a_desktop(
    transactional_db, live_server, page, alice, triage_experiment
):
    from promptlib.prompts.services import label_move

    template = triage_experiment.template
    for name, number in (("production", 1), ("staging", 2)):
        label_move(template=template, name=name, version=template.versions.get(number=number), actor=alice)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    shape = """() => {
        const table = document.querySelector('#labels-table');
        const cells = [...table.querySelectorAll('tbody tr:first-child td')].map((td) => td.getBoundingClientRect());
        return {inner: table.scrollWidth - table.clientWidth, head: getComputedStyle(table.tHead).display,
                stacked: cells.every((c, i) => i === 0 || c.top >= cells[i - 1].bottom - 1),
                right: Math.max(...cells.map((c) => c.right)), width: window.innerWidth};
    }"""
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/admin/promptlib/template/{template.pk}/change/")
    page.locator("#labels").screenshot(path=str(ARTIFACTS / "labels-390.png"))
    phone = page.evaluate(shape)
    assert phone["inner"] <= 0, "the labels table scrolls inside its own box on a phone"
    assert phone["stacked"] and phone["head"] == "none" and phone["right"] <= phone["width"]
    assert "Points at" in page.locator("#labels-table tbody tr").first.locator("td").nth(1).evaluate(
        "(td) => getComputedStyle(td, '::before').content"
    )
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/admin/promptlib/template/{template.pk}/change/")
    desktop = page.evaluate(shape)
    assert not desktop["stacked"] and desktop["head"] != "none" and desktop["inner"] <= 0

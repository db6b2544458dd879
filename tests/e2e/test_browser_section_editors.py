"""The template editor's sections in a real (headless) browser: each box grows with its text instead of
scrolling inside, and the {{ variables }} in it are marked — declared ones apart from the others."""

import pytest
from playwright.sync_api import expect

from tests.browser_support import ARTIFACTS


def _open_editor(page, live_server, template) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "pw-bob")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/template/{template.pk}/change/")


def _inner_scroll(page, selector: str) -> int:
    return page.evaluate(f"(() => {{ const a = document.querySelector('{selector}'); "
                         "return a.scrollHeight - a.clientHeight; })()")  # fmt: skip


@pytest.mark.browser
def test_a_section_grows_with_its_text(transactional_db, live_server, page, bob, welcome):
    _open_editor(page, live_server, welcome)
    task = page.locator("#id_task")
    before = task.bounding_box()["height"]
    task.fill("\n".join(f"Step {n}: say something kind to {{{{ name }}}}." for n in range(1, 13)))
    assert task.bounding_box()["height"] > 2 * before
    assert _inner_scroll(page, "#id_task") <= 0, "the section scrolls inside its box instead of growing"


@pytest.mark.browser
def test_the_variables_of_a_section_are_marked_declared_or_not(transactional_db, live_server, page, bob, welcome):
    _open_editor(page, live_server, welcome)
    marks = page.locator("#id_task").locator("xpath=..").locator(".promptlib-section-marks mark")
    expect(marks).to_have_count(1)
    expect(marks.first).to_have_class("promptlib-var-known")
    expect(marks.first).to_have_text("{{ name }}")

    page.fill("#id_task", "Write to {{ name }} about {{ coupon }}. {% for t in tips %}{{ t }}{% endfor %}")
    expect(marks).to_have_count(3)
    expect(page.locator(".promptlib-var-unknown[data-var=coupon]")).to_have_count(1)
    expect(page.locator(".promptlib-var-known[data-var=t]")).to_have_count(1)  # bound by the loop
    # The mark lies under its own text: same place, same size as the words in the box.
    mark = page.locator(".promptlib-var-unknown[data-var=coupon]").bounding_box()
    box = page.locator("#id_task").bounding_box()
    assert box["x"] < mark["x"] < box["x"] + box["width"] and box["y"] < mark["y"] < box["y"] + box["height"]

    # Declaring the variable turns its mark from unknown to known.
    page.click('.promptlib-add-row[data-prefix="variables"]')
    page.fill("#id_variables-3-name", "coupon")
    expect(page.locator(".promptlib-var-known[data-var=coupon]")).to_have_count(1)
    page.locator("#id_task").screenshot(path=str(ARTIFACTS / "section-editor-marks.png"))

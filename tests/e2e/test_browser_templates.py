"""One marketer's journey in a real (headless) browser: create, preview, save v2, publish."""

import pytest
from playwright.sync_api import expect

from promptlib.prompts.models import Label, Template
from tests.browser_support import ARTIFACTS


@pytest.mark.browser
def test_a_marketer_creates_previews_saves_and_publishes_a_template(transactional_db, live_server, page, alice):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("promptlib")

    # Create the template: version 1.
    page.goto(f"{live_server.url}/admin/promptlib/template/add/")
    page.select_option("#id_project", label="Acme")
    page.fill("#id_slug", "welcome-email")
    page.fill("#id_title", "Welcome email")
    page.fill("#id_tags", "email, onboarding")
    page.fill("#id_role", "You are the friendly voice of Acme.")
    page.fill("#id_task", "Write a welcome email to {{ name }}.")
    page.fill("#id_variables-0-name", "name")
    page.fill("#id_variables-0-default", "Ann")
    page.fill("#id_change_note", "First draft")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Saved version 1")

    # Preview: pre-filled with the default, then with a typed value.
    output = page.locator("#preview-output")
    expect(output).to_contain_text("Write a welcome email to Ann.")
    page.fill("input[name=preview-name]", "Bea")
    page.click("#preview-button")
    expect(output).to_contain_text("Write a welcome email to Bea.")
    expect(output.locator(".promptlib-message.system")).to_contain_text("friendly voice of Acme")

    # Edit: version 2.
    page.fill("#id_task", "Write a short, warm welcome email to {{ name }}.")
    page.fill("#id_change_note", "Shorter and warmer")
    page.click("#preview-button")
    expect(output).to_contain_text("short, warm welcome email to Bea")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Saved version 2")

    # Publish version 2 to production.
    publish = page.locator("#publish-form")
    publish.locator("select[name=version]").select_option("2")
    publish.locator("input[name=name]").fill("production")
    publish.locator("button[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("“production” now points at version 2.")
    expect(page.locator("#label-history")).to_contain_text("set to version 2")

    page.fill("input[name=preview-name]", "Bea")
    page.click("#preview-button")
    expect(output).to_contain_text("short, warm welcome email to Bea")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-templates.png"), full_page=True)

    template = Template.objects.get(slug="welcome-email")
    assert template.versions.count() == 2
    assert Label.objects.get(template=template, name="production").version.number == 2

"""The playground in a real (headless) browser: an editor types a draft, watches the answer stream in from
the stand-in, compares it with version 1 side by side, saves the run as a test case; the page fits a
desktop and a phone."""

import time

import pytest
from playwright.sync_api import expect

from promptlib.batches.models import Dataset
from tests.browser_support import ARTIFACTS

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"playground-{name}.png"), full_page=True)


@pytest.mark.browser
def test_an_editor_runs_a_draft_sees_it_stream_compares_and_saves_a_case(
    transactional_db, live_server, page, bob, acme, welcome, standin
):
    config = standin.provider_config("openai", project=acme, name="standin", timeout_seconds=10)
    config.save()
    standin.stream_slowly(0.08)  # word by word, slowly enough to watch
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "pw-bob")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/template/{welcome.pk}/change/")

    # A draft (unsaved) and a value typed by hand.
    page.fill("#id_task", "Greet {{ name }} from the playground.")
    panel = page.locator("#playground")
    panel.locator("input[name=preview-name]").fill("Bea")
    _shot(page, "1-draft")
    panel.locator("#pg-run").click()

    # The answer streams in: seen growing before it is complete, then tokens, time and cost.
    answer = panel.locator(".promptlib-pg-column").first.locator(".promptlib-pg-answer")
    lengths = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = answer.text_content()
        lengths.add(len(text))
        if text.endswith("from the playground."):
            break
        time.sleep(0.03)
    expect(answer).to_have_text("Stand-in answer to: ## Task\nGreet Bea from the playground.")
    assert len([n for n in lengths if n > 0]) >= 3, f"the answer came at once, not streamed: {lengths}"
    stats = panel.locator(".promptlib-pg-stats").first
    expect(stats).to_contain_text("tokens")
    expect(stats).to_contain_text("cost unknown")
    _shot(page, "2-streamed")

    # Side by side with version 1, on the same inputs.
    standin.stream_slowly(0)
    panel.locator("#pg-add-column").click()
    second = panel.locator(".promptlib-pg-column").nth(1)
    expect(second.locator(".pg-version")).to_have_value("1")
    panel.locator("#pg-run").click()
    expect(second.locator(".promptlib-pg-answer")).to_have_text(
        "Stand-in answer to: ## Task\nWrite a welcome email to Bea."
    )
    expect(answer).to_contain_text("Greet Bea from the playground.")
    _shot(page, "3-side-by-side")

    # Save the draft's run as a test case, its answer edited into the expected one.
    first = panel.locator(".promptlib-pg-column").first
    first.locator(".promptlib-pg-save summary").click()
    first.locator(".pg-save-name").fill("welcome-cases")
    first.locator(".pg-expected").fill("Hello Bea, welcome!")
    first.locator(".pg-save-button").click()
    expect(first.locator(".pg-save-status")).to_have_text("Saved as test case 1 of the dataset “welcome-cases”.")
    case = Dataset.objects.get(project=acme, name="welcome-cases").cases.get()
    assert case.input == {"brand": "Acme", "name": "Bea", "max_words": 120}  # typed as declared
    assert case.expected_output == "Hello Bea, welcome!"
    _shot(page, "4-saved-case")

    # Pick that case back from the dataset to fill the inputs.
    panel.locator("input[name=preview-name]").fill("")
    panel.locator("#pg-dataset").select_option(label="welcome-cases")
    panel.locator("#pg-case").select_option(index=1)
    expect(panel.locator("input[name=preview-name]")).to_have_value("Bea")

    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        panel.scroll_into_view_if_needed()
        _shot(page, f"fit-{size['width']}")
        panel.screenshot(path=str(ARTIFACTS / f"playground-panel-{size['width']}.png"))
        assert _sideways(page) <= 0, f"the template page scrolls sideways at {size['width']} px"


@pytest.mark.browser
def test_the_answer_of_a_hanging_provider_ends_with_a_plain_message(
    transactional_db, live_server, page, bob, acme, welcome, standin
):
    config = standin.provider_config("openai", project=acme, name="standin", timeout_seconds=1)
    config.save()
    standin.hang_next(1, seconds=20)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "pw-bob")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/template/{welcome.pk}/change/")
    panel = page.locator("#playground")
    panel.locator("input[name=preview-name]").fill("Bea")
    started = time.monotonic()
    panel.locator("#pg-run").click()
    answer = panel.locator(".promptlib-pg-answer").first
    expect(answer).to_contain_text("The server did not answer within 1 second (the provider's timeout).", timeout=5000)
    assert time.monotonic() - started < 4
    expect(answer).to_have_class("promptlib-pg-answer failed")
    _shot(page, "5-timeout")


@pytest.mark.browser
def test_a_publisher_sets_up_a_local_server_from_a_preset_and_tests_it(
    transactional_db, live_server, page, alice, acme, standin
):
    standin.take_response_formats("text", "json_object")  # answers json_schema as llama-cpp-python does
    standin.serve_models("smollm2-135m", "qwen2.5-0.5b")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/providerconfig/add/")
    page.select_option("#id_project", label="Acme")
    page.select_option("#id_preset", "llamacpp")
    expect(page.locator("#id_base_url")).to_have_value("http://localhost:8080/v1")
    expect(page.locator("#id_name")).to_have_value("llamacpp")
    expect(page.locator("#preset-help")).to_contain_text("llama-server")
    page.fill("#id_base_url", standin.openai_base_url)  # this machine's server is on another port
    page.click("#probe-button")
    expect(page.locator("#probe-verdict")).to_have_text("Connected: 2 models")
    expect(page.locator("#probe-structured")).to_contain_text("refused json_schema")
    expect(page.locator("#id_structured_output")).to_have_value("json_object")
    page.locator("#probe-models input[value='smollm2-135m']").check()
    expect(page.locator("#id_models")).to_have_value("smollm2-135m")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        _shot(page, f"provider-{size['width']}")
        assert _sideways(page) <= 0, f"the provider form scrolls sideways at {size['width']} px"
    page.click("input[name=_save]")
    config = acme.provider_configs.get(name="llamacpp")
    assert (config.models, config.structured_output) == (["smollm2-135m"], "json_object")

    # Nothing listens at the preset's own address here: said plainly.
    page.goto(f"{live_server.url}/admin/promptlib/providerconfig/{config.pk}/change/")
    page.fill("#id_base_url", "http://127.0.0.1:9/v1")
    page.click("#probe-button")
    expect(page.locator("#probe-verdict")).to_contain_text("Nothing answers at this address")


@pytest.mark.browser
def test_the_demo_plays_offline_with_its_provider_and_cases_preselected(
    transactional_db, live_server, page, settings, tmp_path, monkeypatch
):
    """What `make run` shows: the demo provider and the template's own cases are chosen; one click answers."""
    from promptlib.batches.demo_setup import demo_project_setup

    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "pw-demo-admin")
    demo = demo_project_setup()
    template = demo.project.templates.order_by("slug").first()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", demo.username)
    page.fill("#id_password", "pw-demo-admin")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/promptlib/template/{template.pk}/change/")
    panel = page.locator("#playground")
    expect(panel.locator(".pg-provider").first.locator("option:checked")).to_contain_text("(offline demo)")
    expect(panel.locator("#pg-dataset option:checked")).to_have_text(template.slug)
    panel.locator("#pg-case").select_option(index=1)
    panel.locator("#pg-run").click()
    expect(panel.locator(".promptlib-pg-stats").first).to_contain_text("tokens")
    answer = panel.locator(".promptlib-pg-answer").first
    expect(answer).to_have_class("promptlib-pg-answer")  # not "failed"
    assert answer.text_content().strip(), "the demo answered nothing"
    panel.scroll_into_view_if_needed()
    _shot(page, "6-demo")

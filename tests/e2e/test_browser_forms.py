"""The scorer and schedule forms in a real browser: only the chosen kind's options show, a check is tried on a
sample answer, and a new schedule starts in the browser's own time zone."""

import pytest

from tests.browser_support import ARTIFACTS


def _login(page, url, user):
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", user)
    page.fill("#id_password", f"pw-{user}")
    page.click("input[type=submit]")


@pytest.mark.browser
def test_a_marketer_picks_a_kind_of_check_and_tries_it_on_a_sample_answer(
    transactional_db, live_server, page, bob, triage_experiment
):
    _login(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/admin/promptlib/scorerconfig/add/")
    page.select_option("#id_kind", "regex")
    assert page.input_value("#id_name") == "regex"  # named after its kind until the user names it
    assert page.is_visible("#id_opt_regex__pattern")
    assert not page.is_visible("#id_opt_contains__strings")
    assert not page.is_visible("#id_opt_llm_judge__rubric")
    page.fill("#id_opt_regex__pattern", r"\b(billing|shipping)\b")
    page.fill("#try-sample", "This is about billing.")
    page.click("#try-button")
    page.wait_for_selector("#try-result.promptlib-try-pass")
    assert page.inner_text("#try-result") == "Passes: matched 'billing'"
    page.fill("#try-sample", "A question about my account.")
    page.click("#try-button")
    page.wait_for_selector("#try-result.promptlib-try-fail")
    page.screenshot(path=str(ARTIFACTS / "scorer-try.png"), full_page=True)
    page.select_option("#id_kind", "contains")
    assert page.is_visible("#id_opt_contains__strings") and not page.is_visible("#id_opt_regex__pattern")


@pytest.mark.browser
def test_a_new_schedule_starts_in_the_browsers_time_zone_and_asks_the_day_only_weekly(
    transactional_db, live_server, page, bob, triage_experiment
):
    context = page.context.browser.new_context(timezone_id="Europe/Paris", viewport={"width": 390, "height": 844})
    paris = context.new_page()
    try:
        _login(paris, live_server.url, "bob")
        paris.goto(f"{live_server.url}/admin/promptlib/batchschedule/new/")
        assert paris.input_value("#id_timezone") == "Europe/Paris"
        assert not paris.is_visible("#id_weekday")
        paris.select_option("#id_repeat", "weekly")
        assert paris.is_visible("#id_weekday")
    finally:
        context.close()

"""A marketer runs the whole loop alone in a real (headless) browser, with no JSON, metric code name or cron typed:
create a prompt, try a new wording in the playground (the answer streams in), save two versions, upload test
cases with a list column, compare the versions in an experiment started from the template page, run a batch,
read the verdict, promote the winner, see the production label move. A screenshot of each step is kept in
test-artifacts/journey-*.png.

The AI provider is the local stand-in (tests/standins), speaking OpenAI's wire format: it answers the
right category only to the second version's wording, so that version wins. The test itself plays the
Celery worker (batch_run_inline) once the page has started the batch; tests/e2e/test_batches.py runs
real workers.
"""

import csv
import io
import json
import time

import pytest
from playwright.sync_api import expect

from promptlib.batches.models import Batch
from promptlib.batches.services import batch_run_inline
from promptlib.core.models import Membership, Role
from promptlib.prompts.models import Label
from tests.batches_support import CATEGORIES
from tests.browser_support import ARTIFACTS
from tests.standins import StandinServer

SECOND_WORDING = "Pick exactly one category"
TICKETS = [
    ("I was charged twice for my order", "charger; cable", "billing"),
    ("The app crashes when I open it", '["phone app"]', "technical"),
    ("Please change the e-mail address of my account", "newsletter", "account"),
    ("My parcel has not arrived after ten days", "lamp", "shipping"),
] * 8  # 32 cases: the verdict waits for 30 results per version


def csv_file() -> str:
    """What a spreadsheet saves: a header row, then one row per case (a list column as "a; b" or JSON)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket", "products", "expected.category"])
    writer.writerows(TICKETS)
    return out.getvalue()


def answer_by_wording(body: dict) -> str:
    """The right category for the second version's wording; "other" (always wrong here) for the first."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    ticket = text.split("Ticket:")[-1]
    right = next((c for c in CATEGORIES if c in ticket.lower() or _hint(c, ticket)), "other")
    return json.dumps({"category": right if SECOND_WORDING in text else "other"})


def streamed(answer, *, until: str, within: float = 15) -> list[str]:
    """The texts an answer box showed while it filled, until it ends with `until`: more than one means streamed."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = answer.text_content() or ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text.endswith(until):
            break
        time.sleep(0.05)
    return seen


def _hint(category: str, ticket: str) -> bool:
    words = {"billing": "charged", "technical": "crashes", "account": "account", "shipping": "parcel"}
    return words.get(category, "\0") in ticket


@pytest.fixture
def mia(django_user_model, acme):
    """Edits and publishes Acme's prompts (the publisher role includes the editor's)."""
    user = django_user_model.objects.create_user(username="mia", password="pw-mia", is_staff=True)
    Membership.objects.create(user=user, project=acme, role=Role.PUBLISHER)
    return user


@pytest.mark.browser
def test_a_marketer_compares_two_versions_and_ships_the_winner(
    transactional_db, live_server, page, acme, mia, tmp_path
):
    shots = iter(range(1, 100))
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"journey-{next(shots):02d}-{name}.png"), full_page=True)

    def go(path: str) -> None:
        page.goto(live_server.url + path)

    with StandinServer(answer=answer_by_wording) as standin:
        standin.provider_config(project=acme, name="standin", models=["standin"], max_retries=0).save()

        # 1. Sign in.
        go("/admin/login/")
        page.fill("#id_username", "mia")
        page.fill("#id_password", "pw-mia")
        page.click("input[type=submit]")

        # 2. A new prompt with two variables, one of them a list; version 1, published to production.
        go("/admin/promptlib/template/add/")
        page.select_option("#id_project", label="Acme")
        page.fill("#id_slug", "ticket-triage")
        page.fill("#id_title", "Ticket triage")
        page.fill("#id_role", "You sort customer support tickets.")
        page.fill("#id_context", "Products: {{ products|join(', ') }}\nTicket: {{ ticket }}")
        page.fill("#id_task", "Say which category the ticket is about.")
        page.fill("#id_format", 'Answer in JSON: {"category": "..."}; billing, technical, account, shipping or other.')
        page.fill("#id_variables-0-name", "ticket")
        page.check("#id_variables-0-required")
        page.click('.promptlib-add-row[data-prefix="variables"]')
        page.fill("#id_variables-1-name", "products")
        page.select_option("#id_variables-1-type", "list")
        page.fill("#id_change_note", "First wording")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist")).to_contain_text("Saved version 1")
        publish = page.locator("#publish-form")
        publish.locator("select[name=version]").select_option("1")
        publish.locator("input[name=name]").fill("production")
        publish.locator("button[type=submit]").click()
        expect(page.locator(".messagelist")).to_contain_text("“production” now points at version 1.")
        shot("version-1-published")

        # 3. Try a stricter wording in the playground before saving it: the draft beside version 1, on one
        #    ticket typed by hand (the list as "a; b"); the answers stream in word by word.
        standin.stream_slowly(0.4)
        page.fill("#id_task", f"Say which category the ticket is about. {SECOND_WORDING}.")
        playground = page.locator("#playground")
        playground.locator("input[name=preview-ticket]").fill("I was charged twice for my order")
        playground.locator("input[name=preview-products]").fill("charger; cable")
        playground.locator("#pg-run").click()
        draft = playground.locator(".promptlib-pg-column").first
        seen = streamed(draft.locator(".promptlib-pg-answer"), until='"billing"}')
        assert seen[0] != seen[-1], f"the answer came at once, not streamed: {seen}"
        expect(draft.locator(".promptlib-pg-answer")).to_have_text('{"category": "billing"}')
        expect(draft.locator(".promptlib-pg-stats")).to_contain_text("tokens")
        playground.locator("#pg-add-column").click()
        version_1 = playground.locator(".promptlib-pg-column").nth(1)
        expect(version_1.locator(".pg-version")).to_have_value("1")
        playground.locator("#pg-run").click()
        expect(version_1.locator(".promptlib-pg-answer")).to_have_text('{"category": "other"}', timeout=15_000)
        for column in (draft, version_1):
            expect(column.locator(".promptlib-pg-stats")).to_contain_text("tokens", timeout=15_000)
        playground.scroll_into_view_if_needed()
        shot("playground")
        standin.stream_slowly(0)

        # 4. The draft answers better: saved as version 2.
        page.fill("#id_change_note", "Stricter wording")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist")).to_contain_text("Saved version 2")
        template_page = page.url
        shot("version-2-saved")

        # 5. "Compare versions in a test": the prompt has no test cases yet, so add them from there.
        page.click("#new-experiment-link")
        expect(page.locator("#id_control")).to_have_value(str(_version_pk(acme, 1)))
        page.click("#add-dataset-link")
        expect(page.locator("#id_name")).to_have_value("ticket-triage")
        page.click("input[name=_continue]")
        page.click("#import-cases-link")
        expect(page.locator(".promptlib-columns")).to_contain_text("products")  # the columns, typed
        shot("import-page")
        upload = tmp_path / "tickets.csv"
        upload.write_text(csv_file())
        page.set_input_files("#id_file", str(upload))
        page.click("input[type=submit]")
        expect(page.locator(".messagelist")).to_contain_text("Imported 32 case(s)")
        shot("cases-imported")

        # 6. Back on the prompt: compare production (v1) with the newest (v2), all prefilled.
        page.goto(template_page)
        page.click("#new-experiment-link")
        expect(page.locator("#id_control option[selected]")).to_contain_text("Version 1 (production)")
        expect(page.locator("#id_challenger option[selected]")).to_contain_text("Version 2")
        expect(page.locator("#id_dataset option[selected]")).to_contain_text("ticket-triage (32 cases)")
        expect(page.locator("#row-scorer_kinds")).to_contain_text("your test cases say which category to expect")
        page.locator("#row-guardrail_metrics label", has_text="Cost per successful answer").click()
        shot("compare-form")
        page.click("#compare-submit")

        # 7. The batch form comes prefilled with what runs: the dataset, the project's provider, 1 repeat.
        expect(page.locator(".messagelist")).to_contain_text("created. Now run it on the test cases.")
        expect(page.locator("#id_provider option[selected]")).to_have_text("standin")
        expect(page.locator("#id_repeats")).to_have_value("1")
        shot("batch-form")
        page.click("input[type=submit]")
        expect(page.locator(".messagelist")).to_contain_text("started: 64 calls")
        batch_run_inline(batch=Batch.objects.get())  # what a worker does with the batch's queued calls
        page.reload()
        expect(page.locator("#content")).to_contain_text("64 answered")
        shot("batch-finished")

        # 8. Start the experiment (publisher), read the verdict, promote the winner.
        page.goto(template_page)
        page.locator("#experiments a", has_text="Version 2 against version 1").first.click()
        page.click("#status-running")
        expect(page.locator(".messagelist")).to_contain_text("started")
        page.click("#dashboard-link")
        expect(page.locator("#verdict-state")).to_contain_text("winner")
        shot("verdict")
        page.click("#promote-button")
        expect(page.locator(".messagelist")).to_contain_text("now points at version 2")
        shot("promoted")

        # 9. The prompt's page shows production on version 2, and the move in the label history.
        page.goto(template_page)
        expect(page.locator("#labels")).to_contain_text("version 2")
        expect(page.locator("#label-history")).to_contain_text("moved from version 1 to version 2")
        shot("label-moved")
        assert Label.objects.get(template__slug="ticket-triage", name="production").version.number == 2


def _version_pk(project, number: int) -> int:
    from promptlib.prompts.models import Version

    return Version.objects.get(template__project=project, template__slug="ticket-triage", number=number).pk


@pytest.mark.browser
def test_the_pages_of_the_journey_fit_a_phone_and_a_desktop(
    transactional_db, live_server, page, alice, triage_experiment, tickets
):
    from promptlib.batches.models import Dataset

    Dataset.objects.filter(pk=tickets.pk).update(template=triage_experiment.template)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    pages = {
        "compare": f"/admin/promptlib/experiment/compare/?template={triage_experiment.template_id}",
        "import": f"/admin/promptlib/dataset/{tickets.pk}/import/",
        "dataset": f"/admin/promptlib/dataset/{tickets.pk}/change/",
        "start": f"/admin/promptlib/batch/start/?experiment={triage_experiment.pk}",
    }
    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.screenshot(path=str(ARTIFACTS / f"journey-fit-{name}-{width}.png"), full_page=True)
            sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert sideways <= 0, f"the {name} page scrolls sideways by {sideways} px at {width} px"

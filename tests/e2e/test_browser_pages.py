"""Every admin page fits a desktop (1280 px) and a phone (390 px) without scrolling sideways, and logs no
console error: each model's list, add and change page, the custom pages, the confirmation pages, and the
pages in the states a click brings them to (the playground with two answers and a case to save, a
provider's "Test connection" verdicts, a new API key with its snippets).

The pages are found from the admin's registry, so a model registered later is walked too.
"""

from __future__ import annotations

from datetime import time

import pytest
from django.contrib import admin
from playwright.sync_api import expect

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.schedules import ScheduleTiming, batch_schedule_create
from promptlib.batches.services import BatchSettings, batch_run_inline
from promptlib.core.apikeys import api_key_create
from promptlib.prompts.services import label_move, version_create
from tests.batches_support import make_batch, triage_content
from tests.browser_support import ARTIFACTS

SIZES = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})
# Pages of the admin's own machinery, not of this product; walked for a superuser all the same.
SKIP_ADD = {"auth.Group"}  # nothing of ours
SHOTS = {"template diff", "promptlib.Template change", "promptlib.BatchItem change"}  # kept as artefacts


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _wide_elements(page) -> list[str]:
    """The elements sticking out past the right edge, to say what to fix."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((el) => !el.closest('[hidden], details:not([open])'))
            .slice(0, 5)
            .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                 (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''))"""
    )


@pytest.fixture
def site_with_everything(acme, alice, triage_experiment, tickets, demo_provider, django_user_model, standin):
    """One of every kind of row, so each change page has something to show."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")
    standin.serve_models("standin-small", "standin-large")
    probed = standin.provider_config("openai", project=acme, name="standin", models=["standin-small"])
    probed.save()
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    item = batch.items.order_by("id").first()
    BatchItem.objects.filter(pk=item.pk).update(
        status="failed", error="connection refused by the provider at http://127.0.0.1:9/v1", error_kind="connection"
    )
    schedule = batch_schedule_create(
        name="Nightly triage",
        settings=BatchSettings(experiment=triage_experiment, dataset=tickets),
        timing=ScheduleTiming("weekly", time(9, 0), 1, "Europe/Paris"),
    )
    template = triage_experiment.template
    label_move(template=template, name="production", version=template.versions.get(number=1), actor=alice)
    label_move(template=template, name="production", version=template.versions.get(number=2), actor=alice)
    # A long paragraph and an unbroken URL: the diff must wrap them by words, not widen the page.
    long_task = ("Classify the ticket into exactly one category, reading the whole message carefully " * 6
                 + "https://support.example.com/knowledge-base/articles/" + "x" * 120)  # fmt: skip
    version_create(template=template, content=triage_content(long_task))
    api_key_create(project=acme, scopes=["read"], name="website", created_by=root)
    make_batch(triage_experiment, tickets)  # a pending one, so "Cancel batch" is offered
    # Declared variables: the cases show one box per variable and expected field.
    offers = dataset_create(project=acme, name="offers", variables=[
        {"name": "product", "type": "string"}, {"name": "benefits", "type": "list"},
        {"name": "price", "type": "number"}, {"name": "in_stock", "type": "boolean"}])  # fmt: skip
    cases_add(dataset=offers, cases=[CaseData(input={"product": "Shoes " * 8, "benefits": ["light", "cheap"],
              "price": 40, "in_stock": True}, expected_fields={"tone": "warm", "length": "short"})] * 2)  # fmt: skip
    return {"template": template, "batch": batch, "item": item, "experiment": triage_experiment, "dataset": tickets,
            "schedule": schedule, "provider": probed, "offers": offers}  # fmt: skip


def _model_pages(username: str) -> list[tuple[str, str]]:
    """(name, path) of each model's list, add and first change page that this user may open."""
    request = _request_of(username)
    pages = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_module_permission(request) or not model_admin.has_view_permission(request):
            continue
        label = model._meta.label
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages.append((f"{label} list", base))
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is not None:
            pages.append((f"{label} change", f"{base}{obj.pk}/change/"))
        if label not in SKIP_ADD and model_admin.has_add_permission(request):
            pages.append((f"{label} add", f"{base}add/"))
    return pages


def _request_of(username: str):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username=username)
    return request


def _custom_pages(rows) -> list[tuple[str, str]]:
    template, batch, experiment, dataset = rows["template"], rows["batch"], rows["experiment"], rows["dataset"]
    done = batch.items.filter(status="done").order_by("id").first()
    return [
        ("home", "/admin/"),
        ("app index", "/admin/promptlib/"),
        ("template diff", f"/admin/promptlib/template/{template.pk}/diff/?a=1&b=3"),
        ("batch start", "/admin/promptlib/batch/start/"),
        ("schedule new", "/admin/promptlib/batchschedule/new/"),
        ("dataset import", f"/admin/promptlib/dataset/{dataset.pk}/import/"),
        ("dataset with variables", f"/admin/promptlib/dataset/{rows['offers'].pk}/change/"),
        ("experiment dashboard", f"/admin/promptlib/experiment/{experiment.pk}/dashboard/"),
        ("answer review", f"/admin/promptlib/batchitem/{done.pk}/review/"),
        ("review queue", f"/admin/promptlib/batchitem/review/?experiment={experiment.pk}"),
        ("schedule delete", f"/admin/promptlib/batchschedule/{rows['schedule'].pk}/delete/"),
    ]


def _viewer_pages(rows) -> list[tuple[str, str]]:
    template, experiment = rows["template"], rows["experiment"]
    return [
        ("home", "/admin/"),
        ("template diff", f"/admin/promptlib/template/{template.pk}/diff/?a=1&b=3"),
        ("experiment dashboard", f"/admin/promptlib/experiment/{experiment.pk}/dashboard/"),
    ]


def _confirmations(rows) -> list[tuple[str, str, str]]:
    """(name, page, button) whose click opens a confirmation page."""
    template = rows["template"]
    pending = Batch.objects.filter(status="pending").get()
    return [
        ("remove label", f"/admin/promptlib/template/{template.pk}/change/", "#labels .promptlib-danger"),
        ("roll back label", f"/admin/promptlib/template/{template.pk}/change/", "text=Roll back to version 1"),
        ("cancel batch", f"/admin/promptlib/batch/{pending.pk}/change/", "#cancel-batch"),
        ("pause schedule", f"/admin/promptlib/batchschedule/{rows['schedule'].pk}/change/", "#pause-button"),
    ]


def _states(page, url: str, rows):
    """Walk pages into the states a click brings them to, yielding each state's name once it is shown."""
    page.goto(f"{url}/admin/promptlib/template/{rows['template'].pk}/change/")
    playground = page.locator("#playground")
    playground.locator("#pg-dataset").select_option(label=rows["dataset"].name)
    playground.locator("#pg-case").select_option(index=1)
    playground.locator("#pg-run").click()
    answers = playground.locator(".promptlib-pg-stats")
    expect(answers.first).to_contain_text("tokens")
    playground.locator("#pg-add-column").click()
    playground.locator("#pg-run").click()
    expect(answers.nth(1)).to_contain_text("tokens")
    playground.locator(".promptlib-pg-save summary").first.click()
    playground.scroll_into_view_if_needed()
    yield "playground with two answers"

    page.goto(f"{url}/admin/promptlib/providerconfig/{rows['provider'].pk}/change/")
    page.click("#probe-button")
    expect(page.locator("#probe-verdict")).to_have_text("Connected: 2 models")
    yield "provider connected"
    page.fill("#id_base_url", "http://127.0.0.1:9/v1")
    page.click("#probe-button")
    expect(page.locator("#probe-verdict")).to_contain_text("Nothing answers at this address")
    yield "provider unreachable"

    page.goto(f"{url}/admin/promptlib/apikey/add/")
    page.select_option("#id_project", label="Acme")
    page.fill("#id_name", "walker")
    page.click("input[name=_save]")
    expect(page.locator("#python-example")).to_contain_text("PromptClient")
    yield "new API key"


@pytest.mark.browser
@pytest.mark.parametrize("username", ["root", "victor"])  # every page there is; what a viewer sees of them
def test_every_admin_page_fits_a_desktop_and_a_phone_without_console_errors(
    transactional_db, live_server, page, site_with_everything, victor, username
):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("input[type=submit]")

    superuser = username == "root"
    customs = _custom_pages(site_with_everything) if superuser else _viewer_pages(site_with_everything)
    pages = customs + _model_pages(username)
    problems = []
    for size in SIZES:
        page.set_viewport_size(size)
        for name, path in pages:
            errors.clear()
            response = page.goto(live_server.url + path)
            if response is None or response.status >= 400:
                problems.append(f"{name} ({path}) answered {response and response.status}")
                continue
            page.wait_for_load_state("networkidle")
            wide = _sideways(page) > 0
            if wide or name in SHOTS:
                page.screenshot(path=str(ARTIFACTS / f"pages-{username}-{name.replace(' ', '-')}-{size['width']}.png"),
                                full_page=True)  # fmt: skip
            if wide:
                problems.append(f"{name} ({path}) scrolls sideways at {size['width']} px: {_wide_elements(page)}")
            if errors:
                problems.append(f"{name} ({path}) logged console errors: {errors[:3]}")
        for name in _states(page, live_server.url, site_with_everything) if superuser else ():
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(ARTIFACTS / f"pages-state-{name.replace(' ', '-')}-{size['width']}.png"),
                            full_page=True)  # fmt: skip
            if _sideways(page) > 0:
                problems.append(f"{name} scrolls sideways at {size['width']} px: {_wide_elements(page)}")
            if errors:
                problems.append(f"{name} logged console errors: {errors[:3]}")
            errors.clear()
        for name, path, button in _confirmations(site_with_everything) if superuser else ():
            page.goto(live_server.url + path)
            page.click(button)
            page.wait_for_selector("#consequence")
            if _sideways(page) > 0:
                problems.append(f"{name} confirmation scrolls sideways at {size['width']} px: {_wide_elements(page)}")
            page.click("#cancel-link")
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_the_admin_has_a_favicon(transactional_db, live_server, page, site_with_everything):
    page.goto(f"{live_server.url}/admin/login/")
    href = page.get_attribute("link[rel=icon]", "href")
    assert page.request.get(live_server.url + href).status == 200
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200

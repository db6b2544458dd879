"""The template editor's playground: runs streamed from the stand-in, bounded by the provider's timeout,
for editors only and within a per-user budget, and saved as test cases."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from promptlib.batches.models import Dataset
from promptlib.providers.limits import limiter_for
from promptlib.providers.models import ProviderConfig
from tests.admin_support import admin_url, change_url, editor_post
from tests.batches_support import tickets_dataset


@pytest.fixture
def openai_standin(acme, standin):
    """Acme's provider "standin" (OpenAI wire format, 2 s timeout) on the stand-in server."""
    config = standin.provider_config("openai", project=acme, name="standin", timeout_seconds=2, max_retries=0)
    config.save()
    return config


def _events(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content).decode()
    return [json.loads(block.removeprefix("data: ")) for block in body.split("\n\n") if block.strip()]


def _run(client, template, data, *, provider, model="standin", version=None):
    body = {**data, "provider": str(provider.pk), "model": model}
    if version is not None:
        body = {"version": str(version), "provider": str(provider.pk), "model": model, **_values(data)}
    return client.post(admin_url("template_playground_run", template.pk), body)


def _values(data: dict) -> dict:
    return {k: v for k, v in data.items() if k.startswith("preview-")}


def _draft(content, **values):
    return editor_post(content, **{f"preview-{name}": value for name, value in values.items()})


def test_the_draft_streams_in_pieces_then_tokens_latency_and_cost(
    client, bob, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    draft = dataclasses.replace(welcome_content, task="Greet {{ name }} warmly.")
    events = _events(_run(client, welcome, _draft(draft, name="Bea"), provider=openai_standin))
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    done = events[-1]
    assert len(deltas) > 3  # word by word, as the server sent them
    assert done["type"] == "done"
    assert done["text"] == "".join(deltas) == "Stand-in answer to: ## Task\nGreet Bea warmly."
    assert done["input_tokens"] > 0 and done["output_tokens"] > 0
    assert done["latency_ms"] >= 0 and done["cost_known"] is False  # a local server: no price
    sent = standin.stats()["bodies"][0]
    assert sent["stream"] is True and sent["messages"][-1]["content"] == "## Task\nGreet Bea warmly."


def test_a_saved_version_runs_as_saved_whatever_the_draft_says(
    client, bob, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    draft = dataclasses.replace(welcome_content, task="Something unsaved.")
    events = _events(_run(client, welcome, _draft(draft, name="Bea"), provider=openai_standin, version=1))
    assert events[-1]["type"] == "done"
    assert standin.stats()["bodies"][0]["messages"][-1]["content"] == "## Task\nWrite a welcome email to Bea."


def test_a_trickling_answer_is_cut_at_the_providers_timeout(
    client, bob, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    standin.stream_slowly(0.5)  # each word half a second apart: no single read times out
    started = time.monotonic()
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin))
    elapsed = time.monotonic() - started
    assert events[-1]["type"] == "error" and events[-1]["kind"] == "timeout"
    assert any(e["type"] == "delta" for e in events)  # what came before the cut was shown
    assert elapsed < 2 + 1.0  # the provider's timeout (2 s) and a margin, not the whole answer (~8 s)


def test_a_hanging_provider_frees_the_web_worker_at_its_timeout(
    client, bob, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    standin.hang_next(1, seconds=30)
    started = time.monotonic()
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin))
    assert time.monotonic() - started < 2 + 1.0
    assert [e["type"] for e in events] == ["error"]
    assert "did not" in events[0]["message"] and events[0]["kind"] == "timeout"


@pytest.mark.parametrize(
    ("status", "said"),
    [(401, "The server refused the API key (401)."), (500, "The server answered with an error (500)")],
)
def test_a_provider_error_is_said_plainly(client, bob, welcome, welcome_content, openai_standin, standin, status, said):
    client.force_login(bob)
    standin.fail_next(1, status=status)
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin))
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["message"].startswith(said)
    assert standin.stats()["requests"] == 1  # a person is waiting: never retried


def test_the_stored_key_is_sent_and_never_shown(client, bob, welcome, welcome_content, openai_standin, standin):
    client.force_login(bob)
    openai_standin.api_key_store("sk-playground-secret-123456")
    openai_standin.save()
    standin.require_key("sk-playground-secret-123456")
    response = _run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin)
    events = _events(response)
    assert events[-1]["type"] == "done"
    assert standin.stats()["headers"][0]["authorization"] == "Bearer sk-playground-secret-123456"
    assert "sk-playground" not in json.dumps(events)


def test_the_call_waits_for_a_slot_of_the_providers_shared_limiter(
    client, bob, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    openai_standin.max_concurrency = 1
    openai_standin.timeout_seconds = 1
    openai_standin.save()
    lease = limiter_for(openai_standin).acquire()  # a batch holds the only slot
    try:
        started = time.monotonic()
        events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin))
        assert time.monotonic() - started < 1 + 1.0
    finally:
        limiter_for(openai_standin).release(lease)
    assert events[-1]["type"] == "error"
    assert standin.stats()["requests"] == 0


def test_a_viewer_cannot_run_the_playground(client, victor, welcome, welcome_content, openai_standin, standin):
    client.force_login(victor)
    response = _run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin, version=1)
    assert response.status_code == 403
    assert "editors and publishers" in response.json()["errors"][0]["message"]
    assert standin.stats()["requests"] == 0


def test_the_editor_page_shows_the_playground_to_editors_and_why_not_to_viewers(
    client, bob, victor, welcome, openai_standin
):
    client.force_login(bob)
    page = client.get(change_url(welcome)).content.decode()
    assert 'id="pg-run"' in page and "standin" in page
    client.force_login(victor)
    page = client.get(change_url(welcome)).content.decode()
    assert 'id="pg-run"' not in page and 'id="playground-not-allowed"' in page


@override_settings(PROMPTLIB_PLAYGROUND_RATE="2/min")
def test_runs_past_the_users_budget_are_refused_with_a_wait(
    client, bob, alice, welcome, welcome_content, openai_standin, standin
):
    client.force_login(bob)
    data = _draft(welcome_content, name="Bea")
    for _ in range(2):
        assert _events(_run(client, welcome, data, provider=openai_standin))[-1]["type"] == "done"
    refused = _run(client, welcome, data, provider=openai_standin)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "try again in" in refused.json()["errors"][0]["message"]
    assert standin.stats()["requests"] == 2
    client.force_login(alice)  # the budget is per user
    assert _events(_run(client, welcome, data, provider=openai_standin))[-1]["type"] == "done"


def test_a_bad_value_or_provider_is_refused_before_any_call(
    client, bob, welcome, welcome_content, openai_standin, standin, globex
):
    client.force_login(bob)
    bad_value = _run(client, welcome, _draft(welcome_content, name="Bea", max_words="many"), provider=openai_standin)
    assert bad_value.status_code == 400 and "max_words" in bad_value.json()["errors"][0]["message"]
    elsewhere = ProviderConfig.objects.create(project=globex, name="theirs", kind="demo", models=["demo-small"])
    other = _run(client, welcome, _draft(welcome_content, name="Bea"), provider=elsewhere)
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "provider"
    assert standin.stats()["requests"] == 0


def test_the_offline_demo_provider_streams_without_network(client, bob, welcome, welcome_content, demo_provider):
    client.force_login(bob)
    events = _events(
        _run(client, welcome, _draft(welcome_content, name="Bea"), provider=demo_provider, model="demo-model")
    )
    assert len([e for e in events if e["type"] == "delta"]) > 3
    assert events[-1]["type"] == "done" and "offline demo" in events[-1]["text"]


# --- save as test case ------------------------------------------------------------------------


def _save(client, template, data, **fields):
    return client.post(admin_url("template_playground_case", template.pk), {**data, **fields})


def test_save_as_case_keeps_typed_inputs_and_the_edited_answer_in_a_new_dataset(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = _draft(welcome_content, name="Bea", max_words="80")
    response = _save(client, welcome, data, dataset="", dataset_name="welcome-cases", expected_output="Hi Bea!")
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Saved as test case 1 of the dataset “welcome-cases”."
    case = Dataset.objects.get(name="welcome-cases").cases.get()
    assert case.input == {"name": "Bea", "max_words": 80} and case.expected_output == "Hi Bea!"


def test_save_as_case_appends_to_an_existing_dataset(client, bob, acme, welcome, welcome_content):
    client.force_login(bob)
    dataset = tickets_dataset(acme, count=2)
    response = _save(client, welcome, _draft(welcome_content, name="Cy"), dataset=str(dataset.pk), expected_output="ok")
    assert response.json()["message"] == f"Saved as test case 3 of the dataset “{dataset.name}”."
    assert dataset.cases.order_by("position").last().input == {"name": "Cy"}


def test_save_as_case_with_a_bad_new_name_saves_nothing(client, bob, welcome, welcome_content):
    client.force_login(bob)
    response = _save(client, welcome, _draft(welcome_content, name="Bea"), dataset="", dataset_name="my cases!")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "dataset_name"
    assert not Dataset.objects.exists()


def test_a_viewer_cannot_save_a_case(client, victor, acme, welcome, welcome_content):
    client.force_login(victor)
    dataset = tickets_dataset(acme, count=1)
    response = _save(client, welcome, {"version": "1", "preview-name": "Bea"}, dataset=str(dataset.pk))
    assert response.status_code == 403 and dataset.cases.count() == 1


def test_a_datasets_cases_are_offered_to_fill_the_inputs(client, victor, acme, welcome):
    client.force_login(victor)
    dataset = tickets_dataset(acme, count=2)
    cases = client.get(admin_url("template_playground_cases", welcome.pk), {"dataset": dataset.pk}).json()["cases"]
    first = dataset.cases.order_by("position").first()
    assert [c["position"] for c in cases] == [1, 2]
    assert cases[0]["values"] == {k: v if isinstance(v, str) else json.dumps(v) for k, v in first.input.items()}


def test_make_runs_demo_plays_offline_on_every_shipped_template(db, client, settings, tmp_path, monkeypatch):
    from promptlib.batches.demo_setup import demo_project_setup

    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "pw-demo-admin")
    demo = demo_project_setup()
    client.force_login(get_user_model().objects.get(username=demo.username))
    for template in demo.project.templates.all():
        setup = _setup(client, template)
        version = template.versions.order_by("-number").first()
        dataset = next(d for d in setup["datasets"] if d["name"] == template.slug)  # the shipped cases
        case = client.get(admin_url("template_playground_cases", template.pk), {"dataset": dataset["id"]})
        values = {f"preview-{name}": value for name, value in case.json()["cases"][0]["values"].items()}
        response = client.post(
            admin_url("template_playground_run", template.pk),
            {"version": str(version.number), "provider": setup["provider"], "model": setup["model"], **values},
        )
        assert _events(response)[-1]["type"] == "done", template.slug


def test_make_runs_demo_offers_the_offline_provider_and_the_templates_cases_preselected(
    db, client, settings, tmp_path, monkeypatch
):
    from promptlib.batches.demo_setup import demo_project_setup

    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "pw-demo-admin")
    demo = demo_project_setup()
    client.force_login(get_user_model().objects.get(username=demo.username))
    for template in demo.project.templates.all():
        setup = _setup(client, template)
        chosen = next(p for p in setup["providers"] if p["id"] == setup["provider"])
        assert chosen["label"].endswith("(offline demo)"), template.slug
        assert setup["model"] in chosen["models"], template.slug
        own = next(d["id"] for d in setup["datasets"] if d["name"] == template.slug)
        assert setup["dataset"] == own, template.slug


def test_runs_are_saved_into_the_templates_own_dataset_by_default(client, bob, acme, welcome, demo_provider):
    client.force_login(bob)
    tickets_dataset(acme, count=1)  # another template's cases: offered, not preselected
    setup = _setup(client, welcome)
    assert (setup["dataset"], setup["new_dataset"]) == (None, "welcome-email-cases")
    own = tickets_dataset(acme, count=1, name="welcome-email-cases")
    assert _setup(client, welcome)["dataset"] == own.pk


def _setup(client, template) -> dict:
    page = client.get(change_url(template)).content.decode()
    return json.loads(page.split('id="pg-setup" type="application/json">')[1].split("</script>")[0])


def test_without_a_provider_the_playground_says_where_to_add_one(client, bob, welcome):
    client.force_login(bob)
    page = client.get(change_url(welcome)).content.decode()
    assert 'id="playground-no-provider"' in page and admin_url("providerconfig_add") in page
    assert 'id="pg-run"' not in page


def test_an_anthropic_provider_streams_through_its_own_wire_format(
    client, bob, acme, welcome, welcome_content, standin
):
    client.force_login(bob)
    config = standin.provider_config("anthropic", project=acme, name="claude", timeout_seconds=2)
    config.save()
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=config))
    assert len([e for e in events if e["type"] == "delta"]) > 3
    assert events[-1]["type"] == "done" and events[-1]["output_tokens"] > 0
    assert standin.stats()["paths"] == ["/v1/messages"] and standin.stats()["bodies"][0]["stream"] is True


@override_settings(PROMPTLIB_PLAYGROUND_MAX_SECONDS=1)
def test_a_run_never_outlasts_the_web_workers_own_limit(client, bob, welcome, welcome_content, openai_standin, standin):
    client.force_login(bob)
    standin.stream_slowly(0.3)  # the provider's 2 s timeout would let it go on
    started = time.monotonic()
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=openai_standin))
    assert time.monotonic() - started < 1 + 0.8
    assert events[-1]["message"] == "The server did not answer within 1 second (the longest a run may take here)."


def test_a_provider_without_a_key_says_where_to_paste_it(client, bob, acme, welcome, welcome_content):
    client.force_login(bob)
    keyless = ProviderConfig.objects.create(project=acme, name="openai", kind="openai", models=["gpt-4o-mini"])
    events = _events(_run(client, welcome, _draft(welcome_content, name="Bea"), provider=keyless, model="gpt-4o-mini"))
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["message"].startswith("Provider 'openai' has no API key: paste it")

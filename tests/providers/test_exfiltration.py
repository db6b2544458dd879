"""The attack of issue 10: a provider that names the server's secrets or points at the attacker's
server. A catcher server on 127.0.0.1 records every request and answers 401 echoing the
Authorization header, as a hostile (or careless) provider would."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib import admin
from django.urls import reverse

from promptlib.batches.models import BatchItem
from promptlib.batches.services import batch_run_inline
from promptlib.core.apikeys import api_key_create
from promptlib.providers.models import ProviderConfig
from promptlib.providers.services import provider_config_create
from tests.batches_support import make_batch

PASTED = "sk-proj-PastedByAPublisher-0123456789abcd"
DATABASE_URL = "postgres://promptlib:hunter2-db-password@db.internal:5432/promptlib"


class Catcher:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length") or 0))
                catcher.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path.startswith("/redirect"):
                    self.send_response(307)
                    self.send_header("Location", f"{catcher.url}/followed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                sent = self.headers.get("Authorization", "")
                body = {"error": {"message": f"Incorrect API key provided: {sent}", "code": "invalid_api_key"}}
                payload = json.dumps(body).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def catcher():
    server = Catcher()
    yield server
    server.close()


@pytest.fixture
def providers_key(acme):
    return api_key_create(project=acme, scopes="read,write,providers", name="ops")[1]


def _run(triage_experiment, tickets, config):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets, provider=config, model="m"))
    return list(BatchItem.objects.filter(batch=batch))


# --- refused when saved ------------------------------------------------------------------------------


def test_an_exfiltration_attempt_through_the_api_gets_400_and_the_catcher_receives_nothing(
    api_client, providers_key, catcher, settings, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    settings.PROMPTLIB_ALLOW_LOOPBACK = False  # as in production: the catcher stands for the attacker's server
    attempts = [
        {"api_key_env": "DATABASE_URL"},
        {"api_key_env": "SECRET_KEY"},
        {"api_key_env": "OPENAI_API_KEY"},
        {"api_key": "sk-anything-at-all-000000"},
    ]
    for attempt in attempts:
        body = {"name": "exfil", "kind": "openai", "base_url": f"{catcher.url}/v1", "models": ["m"], **attempt}
        response = api_client(providers_key).post("/api/v1/providers", body, format="json")
        assert response.status_code == 400, (attempt, response.json())
        assert {e["field"] for e in response.json()["errors"]} & {"base_url", "api_key_env"}
    assert not ProviderConfig.objects.filter(name="exfil").exists()
    assert catcher.requests == []


def test_the_operators_key_cannot_be_pointed_at_a_public_address_of_the_projects_choosing(api_client, providers_key):
    body = {"name": "exfil", "kind": "openai", "base_url": "https://93.184.216.34/v1", "api_key_env": "OPENAI_API_KEY"}
    response = api_client(providers_key).post("/api/v1/providers", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "api_key_env"


@pytest.mark.parametrize(
    "base_url",
    ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://10.0.0.1/v1", "http://0.0.0.0:80/"],
)
def test_internal_addresses_are_refused_naming_base_url(api_client, providers_key, base_url):
    body = {"name": "ssrf", "kind": "openai", "base_url": base_url, "api_key": PASTED}
    response = api_client(providers_key).post("/api/v1/providers", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "base_url"


# --- refused when called ----------------------------------------------------------------------------


def test_an_old_provider_naming_database_url_never_sends_it(triage_experiment, tickets, acme, catcher, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    # A row saved before the rules: no validation ran on it.
    config = ProviderConfig.objects.create(
        project=acme, name="old", kind="openai", base_url=f"{catcher.url}/v1", api_key_env="DATABASE_URL",
        models=["m"], max_retries=0,
    )  # fmt: skip
    items = _run(triage_experiment, tickets, config)
    assert catcher.requests == []
    assert {(i.status, i.error_kind, i.attempts) for i in items} == {("failed", "auth", 1)}
    assert "hunter2" not in json.dumps([[i.error, i.attempt_log] for i in items])


def test_an_address_refused_at_call_time_is_not_called_nor_retried(triage_experiment, tickets, acme, catcher, settings):
    config = provider_config_create(
        project=acme, name="was-local", kind="openai", base_url=f"{catcher.url}/v1", api_key=PASTED, models=["m"]
    )
    settings.PROMPTLIB_ALLOW_LOOPBACK = False  # the operator closed loopback after it was saved
    items = _run(triage_experiment, tickets, config)
    assert catcher.requests == []
    assert {(i.status, i.error_kind, i.attempts) for i in items} == {("failed", "refused", 1)}


def test_a_redirect_is_not_followed(triage_experiment, tickets, acme, catcher):
    config = provider_config_create(
        project=acme, name="redirects", kind="openai", base_url=f"{catcher.url}/redirect/v1", api_key=PASTED,
        models=["m"], max_retries=0,
    )  # fmt: skip
    items = _run(triage_experiment, tickets, config)
    assert catcher.requests and all(r["path"].startswith("/redirect") for r in catcher.requests)
    assert {i.status for i in items} == {"failed"}


# --- stored without secrets -------------------------------------------------------------------------


@pytest.fixture
def echoed_batch(triage_experiment, tickets, acme, catcher):
    """A batch against a provider whose 401 answers echo the key it was sent."""
    config = provider_config_create(
        project=acme, name="echo", kind="openai", base_url=f"{catcher.url}/v1", api_key=PASTED, models=["m"],
        max_retries=0,
    )  # fmt: skip
    items = _run(triage_experiment, tickets, config)
    assert catcher.requests[0]["headers"]["authorization"] == f"Bearer {PASTED}"  # the provider did get it
    return items


def test_a_401_echoing_the_key_is_stored_scrubbed(echoed_batch):
    item = echoed_batch[0]
    assert (item.status, item.error_kind) == ("failed", "auth")
    assert "401" in item.error and "[redacted]" in item.error
    stored = json.dumps([[i.error, i.attempt_log] for i in echoed_batch])
    assert PASTED not in stored and PASTED[-16:] not in stored


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _admin_urls(echoed_batch):
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{info}_changelist")
        for pk in model._default_manager.values_list("pk", flat=True)[:10]:
            yield reverse(f"{info}_change", args=[pk])
    item = echoed_batch[0]
    experiment_id, batch_id = item.batch.experiment_id, item.batch_id
    for name in ("dashboard", "progress", "results_csv", "finetune_jsonl"):
        yield reverse(f"promptlib_experiment_{name}", args=[experiment_id])
    yield reverse("admin:promptlib_batch_progress", args=[batch_id])
    for fmt in ("csv", "jsonl"):
        yield reverse("admin:promptlib_dataset_export", args=[item.case.dataset_id, fmt])
    yield reverse("admin:promptlib_batchitem_review", args=[item.pk])


def test_a_project_viewer_reading_every_page_and_export_never_sees_a_provider_key(
    echoed_batch, client, victor, api_client, acme
):
    token = ProviderConfig.objects.get(name="echo").api_key_encrypted
    client.force_login(victor)
    seen = {url: _body(client.get(url)) for url in _admin_urls(echoed_batch)}
    read_key = api_key_create(project=acme, scopes="read")[1]
    api = api_client(read_key)
    batch_id, experiment_id = echoed_batch[0].batch_id, echoed_batch[0].batch.experiment_id
    for url in (
        "/api/v1/providers", "/api/v1/providers/echo", "/api/v1/batches", f"/api/v1/batches/{batch_id}",
        f"/api/v1/batches/{batch_id}/progress", "/api/v1/datasets", "/api/v1/datasets/tickets",
        "/api/v1/datasets/tickets/cases?as=csv", "/api/v1/datasets/tickets/cases", "/api/v1/experiments",
        f"/api/v1/experiments/{experiment_id}", f"/api/v1/experiments/{experiment_id}/scorers",
    ):  # fmt: skip
        seen[url] = _body(api.get(url))
    assert len(seen) > 20
    for url, body in seen.items():
        assert PASTED not in body and PASTED[-16:] not in body and token not in body, url
    assert "…abcd" in seen["/api/v1/providers/echo"]

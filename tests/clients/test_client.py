"""promptlib_client against the live test server: caching, stale copies, fallbacks, buffered outcomes.

Nothing is mocked: requests go over real sockets to pytest-django's live server, sometimes through a
small TCP proxy that the tests stop and start to play an outage, or that loses one response.
"""

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from promptlib_client import PromptClient, PromptClientError, PromptUnavailableError

from promptlib.core.apikeys import api_key_create
from promptlib.experiments.models import OutcomeEvent
from promptlib.experiments.services import VariantSpec, experiment_create, experiment_start
from promptlib.prompts.services import label_move, version_create

FALLBACK = {"text": "Write a short welcome email."}


class TcpProxy:
    """Forwards a local port to the live server; stop() refuses connections, start() takes them again."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = _free_port()
        self.lose_responses = 0  # connections whose response is swallowed (the server did the work)
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            _close(self._listener)  # shutdown() first: it wakes the thread blocked in accept()
            self._listener = None
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open |= {client, upstream}
                lose = self.lose_responses > 0
                self.lose_responses -= lose
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, lose), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, lose: bool) -> None:
        try:
            while data := src.recv(65536):
                if lose:
                    break
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingTransport(httpx.HTTPTransport):
    """A real transport that counts the requests it sends."""

    def __init__(self):
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request):
        self.paths.append(request.url.path)
        return super().handle_request(request)


@pytest.fixture
def api_key(transactional_db, acme):
    return api_key_create(project=acme, scopes="read")[1]


@pytest.fixture
def published(transactional_db, welcome, welcome_content):
    """welcome-email: version 1 at production, version 2 (a different task) unlabelled."""
    v1 = welcome.versions.get(number=1)
    label_move(template=welcome, name="production", version=v1)
    version_create(template=welcome, content=dataclasses.replace(welcome_content, task="Greet {{ name }} warmly."))
    return welcome


@pytest.fixture
def experiment(published):
    v1, v2 = published.versions.order_by("number")
    found = experiment_create(
        template=published,
        name="Warmer greeting",
        variants=[VariantSpec("control", v1, is_control=True), VariantSpec("warm", v2)],
    )
    return experiment_start(experiment=found)


@pytest.fixture
def proxy(live_server):
    address = urlsplit(live_server.url)
    server = TcpProxy((address.hostname, address.port))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_client(live_server, api_key):
    clients = []

    def make(base_url=None, **options):
        client = PromptClient(base_url or live_server.url, api_key, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=1)


def _stored(project):
    events = OutcomeEvent.objects.filter(project=project)
    return events.count(), events.values("event_id").distinct().count()


def _wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# --- prompts ---------------------------------------------------------------------------------------


def test_it_fetches_the_production_prompt(published, make_client):
    prompt = make_client().get_prompt("welcome-email", variables={"name": "Ann"})
    assert (prompt.template, prompt.version, prompt.label) == ("welcome-email", 1, "production")
    assert "Write a welcome email to Ann." in prompt.text
    assert prompt.messages[0] == {"role": "system", "content": prompt.messages[0]["content"]}
    assert prompt.model["model"] == "gpt-4o-mini"
    assert prompt.model["temperature"] == 0.7
    assert (prompt.from_cache, prompt.stale, prompt.is_fallback) == (False, False, False)
    assert prompt.experiment is None


def test_it_fetches_an_exact_version(published, make_client):
    prompt = make_client().get_prompt("welcome-email", version=2, variables={"name": "Ann"})
    assert prompt.version == 2
    assert "Greet Ann warmly." in prompt.text


def test_it_serves_a_repeat_from_cache_without_calling_the_server(published, make_client):
    transport = CountingTransport()
    client = make_client(transport=transport)
    first = client.get_prompt("welcome-email", variables={"name": "Ann"})
    again = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert transport.paths == ["/api/v1/templates/welcome-email/render"]
    assert again.from_cache and not again.stale
    assert again.text == first.text


def test_a_caller_changing_its_messages_does_not_change_the_cached_copy(published, make_client):
    client = make_client()
    first = client.get_prompt("welcome-email", variables={"name": "Ann"})
    first.messages.append({"role": "user", "content": "Hello?"})
    first.messages[0]["content"] = "changed"
    again = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert again.from_cache
    assert len(again.messages) == len(first.messages) - 1
    assert again.messages[0]["content"] != "changed"


def test_it_caches_each_set_of_variables_separately(published, make_client):
    transport = CountingTransport()
    client = make_client(transport=transport)
    ann = client.get_prompt("welcome-email", variables={"name": "Ann"})
    bo = client.get_prompt("welcome-email", variables={"name": "Bo"})
    assert len(transport.paths) == 2
    assert "Ann" in ann.text and "Bo" in bo.text


def test_it_serves_stale_and_refreshes_in_the_background_after_the_ttl(published, make_client):
    transport = CountingTransport()
    client = make_client(ttl=0.5, stale_ttl=60, transport=transport)
    assert client.get_prompt("welcome-email", variables={"name": "Ann"}).version == 1
    label_move(template=published, name="production", version=published.versions.get(number=2))
    time.sleep(0.6)

    served = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert (served.version, served.from_cache, served.stale) == (1, True, True)
    assert _wait_for(lambda: client.get_prompt("welcome-email", variables={"name": "Ann"}).version == 2)
    fresh = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert (fresh.from_cache, fresh.stale) == (True, False)
    assert len(transport.paths) == 2  # the warm-up and exactly one background refresh


def test_it_serves_the_last_good_copy_flagged_stale_when_the_server_is_down(published, proxy, make_client):
    client = make_client(proxy.url, ttl=0, stale_ttl=0)
    good = client.get_prompt("welcome-email", variables={"name": "Ann"})
    proxy.stop()

    served = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert (served.from_cache, served.stale, served.is_fallback) == (True, True, False)
    assert served.text == good.text


def test_it_does_not_call_a_failing_server_again_during_the_cooldown(published, proxy, make_client):
    transport = CountingTransport()
    client = make_client(proxy.url, ttl=0, stale_ttl=0, failure_cooldown=60, transport=transport)
    client.get_prompt("welcome-email", variables={"name": "Ann"})
    proxy.stop()
    client.get_prompt("welcome-email", variables={"name": "Ann"})
    served = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert served.stale
    assert len(transport.paths) == 2


def test_it_returns_the_fallback_when_nothing_is_cached_and_the_server_is_down(make_client):
    client = make_client(f"http://127.0.0.1:{_free_port()}", fallbacks={"welcome-email": FALLBACK})
    prompt = client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert prompt.is_fallback and not prompt.from_cache
    assert prompt.text == FALLBACK["text"]
    assert prompt.messages == [{"role": "user", "content": FALLBACK["text"]}]
    assert prompt.render_id is None


def test_it_prefers_the_fallback_given_to_the_call(make_client):
    client = make_client(f"http://127.0.0.1:{_free_port()}", fallbacks={"welcome-email": FALLBACK})
    mine = {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Welcome."}]}
    prompt = client.get_prompt("welcome-email", fallback=mine)
    assert prompt.is_fallback
    assert prompt.messages == mine["messages"]
    assert prompt.text == "Be kind.\n\nWelcome."


def test_it_raises_unavailable_without_a_cached_copy_or_a_fallback(make_client):
    client = make_client(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(PromptUnavailableError):
        client.get_prompt("welcome-email", variables={"name": "Ann"})


def test_it_raises_with_the_server_errors_on_a_missing_variable(published, make_client):
    client = make_client(fallbacks={"welcome-email": FALLBACK})
    with pytest.raises(PromptClientError) as exc:
        client.get_prompt("welcome-email", variables={})
    assert exc.value.status == 400
    assert any("name" in error["field"] for error in exc.value.errors)


def test_it_raises_on_an_unknown_template_even_with_a_fallback(published, make_client):
    client = make_client()
    with pytest.raises(PromptClientError) as exc:
        client.get_prompt("no-such-template", fallback=FALLBACK)
    assert exc.value.status == 404


def test_it_raises_on_a_wrong_api_key(published, live_server):
    with PromptClient(live_server.url, "pl_abcdefgh_" + "x" * 32) as client, pytest.raises(PromptClientError) as exc:
        client.get_prompt("welcome-email", variables={"name": "Ann"})
    assert exc.value.status == 401


def test_it_returns_the_experiment_variant_with_a_render_id(experiment, make_client):
    prompt = make_client().get_prompt("welcome-email", variables={"name": "Ann"}, subject="user-1")
    assert prompt.experiment["id"] == experiment.pk
    assert prompt.variant in {"control", "warm"}
    assert prompt.version == {"control": 1, "warm": 2}[prompt.variant]
    assert prompt.render_id


# --- outcomes --------------------------------------------------------------------------------------


def test_it_sends_buffered_outcomes_in_bulk(experiment, acme, make_client):
    transport = CountingTransport()
    client = make_client(batch_size=10, flush_interval=60, transport=transport)
    render_id = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject="user-1").render_id
    for n in range(25):
        client.report_outcome("task_success_rate", n % 2 == 0, render_id=render_id)
    assert client.flush(timeout=5)
    assert transport.paths.count("/api/v1/outcomes") == 3
    assert _stored(acme) == (25, 25)


def test_it_sends_outcomes_after_the_flush_interval(experiment, acme, make_client):
    client = make_client(flush_interval=0.2)
    render_id = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject="user-1").render_id
    client.report_outcome("task_success_rate", True, render_id=render_id)
    assert _wait_for(lambda: _stored(acme) == (1, 1))


def test_it_accepts_experiment_variant_and_subject_instead_of_a_render_id(experiment, acme, make_client):
    client = make_client()
    variant = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject="user-9").variant
    client.report_outcome("csat", 4.5, experiment=experiment.pk, variant=variant, subject="user-9")
    assert client.flush(timeout=5)
    assert OutcomeEvent.objects.get(project=acme).value == 4.5


def test_it_retries_outcomes_when_the_server_comes_back(experiment, acme, proxy, make_client):
    render_id = make_client().get_prompt("welcome-email", variables={"name": "Ann"}, subject="u1").render_id
    proxy.stop()
    client = make_client(proxy.url, backoff_base=0.05, backoff_max=0.2)
    ids = [client.report_outcome("task_success_rate", True, render_id=render_id) for _ in range(30)]
    assert not client.flush(timeout=0.5)
    assert client.stats["send_failures"] >= 1

    proxy.start()
    assert client.flush(timeout=5)
    assert _stored(acme) == (30, 30)
    assert set(OutcomeEvent.objects.values_list("event_id", flat=True)) == set(ids)


def test_it_stores_each_event_once_when_a_response_is_lost(experiment, acme, proxy, make_client):
    render_id = make_client().get_prompt("welcome-email", variables={"name": "Ann"}, subject="u1").render_id
    proxy.lose_responses = 1
    client = make_client(proxy.url, backoff_base=0.05)
    for _ in range(20):
        client.report_outcome("task_success_rate", True, render_id=render_id)
    assert client.flush(timeout=5)
    assert client.stats["send_failures"] == 1
    assert client.stats["events_duplicate"] == 20  # the retry carried the same event_ids
    assert _stored(acme) == (20, 20)


def test_it_drops_the_oldest_events_when_the_buffer_is_full(experiment, acme, proxy, make_client):
    render_id = make_client().get_prompt("welcome-email", variables={"name": "Ann"}, subject="u1").render_id
    proxy.stop()
    client = make_client(proxy.url, batch_size=5, max_buffer=10, backoff_base=0.05, backoff_max=0.1)
    ids = [client.report_outcome("task_success_rate", True, render_id=render_id) for _ in range(25)]
    # A batch in flight is kept aside; once its send fails it returns as the oldest and is dropped.
    assert _wait_for(lambda: client.stats.get("events_dropped") == 15)
    proxy.start()
    assert client.flush(timeout=5)
    assert set(OutcomeEvent.objects.values_list("event_id", flat=True)) == set(ids[-10:])


def test_it_drops_events_the_server_refuses_and_keeps_the_rest(experiment, acme, make_client):
    client = make_client()
    render_id = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject="u1").render_id
    client.report_outcome("task_success_rate", True, render_id=render_id)
    client.report_outcome("task_success_rate", True, render_id="forged")
    assert client.flush(timeout=5)
    assert client.stats["events_rejected"] == 1
    assert _stored(acme) == (1, 1)


def test_it_sends_what_is_buffered_on_close(experiment, acme, live_server, api_key):
    with PromptClient(live_server.url, api_key, flush_interval=60) as client:
        render_id = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject="u1").render_id
        client.report_outcome("task_success_rate", False, render_id=render_id)
    assert _stored(acme) == (1, 1)


def test_it_refuses_an_outcome_without_a_render_id_or_assignment(make_client):
    with pytest.raises(ValueError, match="render_id"):
        make_client().report_outcome("task_success_rate", True, experiment=1)


def test_it_imports_without_django():
    code = "import sys, promptlib_client; sys.exit(any(m.split('.')[0] == 'django' for m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    root = Path(__file__).resolve().parents[2] / "clients" / "python"
    assert subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=False).returncode == 0


def test_it_returns_the_passages_a_knowledge_base_gave_the_prompt(transactional_db, support, make_client):
    from promptlib.prompts.services import label_move

    label_move(template=support, name="production", version=support.versions.get())
    prompt = make_client().get_prompt("support-reply", variables={"question": "refund opened bag"})
    assert prompt.retrieval["knowledge_base"] == "coffee-shop"
    assert prompt.passages[0]["source"] == "policies.md"
    assert f"[{prompt.passages[0]['id']}] Refunds" in prompt.messages[-1]["content"]

"""The wire-format stand-in itself: real formats, scripted failures, recorded traffic."""

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx

from tests.standins import StandinServer

ROOT = Path(__file__).resolve().parents[2]


def _post(url: str, payload: dict, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(url, json=payload, timeout=10)


def test_it_answers_in_openais_chat_completion_format(standin):
    body = _post(f"{standin.openai_base_url}/chat/completions", {"model": "m", "messages": []}).json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_it_answers_in_anthropics_message_format(standin):
    body = _post(f"{standin.url}/v1/messages", {"model": "m", "messages": []}).json()
    assert (body["type"], body["role"], body["content"][0]["type"]) == ("message", "assistant", "text")
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}


def test_it_uses_the_scripted_answer():
    with StandinServer(answer=lambda body: body["model"].upper()) as server:
        body = _post(f"{server.openai_base_url}/chat/completions", {"model": "abc", "messages": []}).json()
    assert body["choices"][0]["message"]["content"] == "ABC"


def test_scripted_failures_apply_to_the_next_requests_only(standin):
    standin.fail_next(2, status=429, retry_after=1)
    statuses = [_post(f"{standin.url}/v1/messages", {"messages": []}).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_a_429_carries_retry_after(standin):
    standin.fail_next(1, status=429, retry_after=3)
    assert _post(f"{standin.url}/v1/messages", {"messages": []}).headers["retry-after"] == "3"


def test_random_failures_follow_the_seed():
    def statuses():
        with StandinServer() as server:
            server.fail_randomly(0.5, status=500, seed=7)
            return [_post(f"{server.url}/v1/messages", {"messages": []}).status_code for _ in range(20)]

    first = statuses()
    assert first == statuses() and {200, 500} == set(first)


def test_it_records_peak_concurrency_and_request_times():
    with StandinServer(latency=0.2) as server:
        threads = [
            threading.Thread(target=_post, args=(f"{server.url}/v1/messages", {"messages": []})) for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = server.stats()
    assert (stats["requests"], stats["max_in_flight"], stats["in_flight"]) == (5, 5, 0)
    assert len(stats["timestamps"]) == 5 and max(stats["timestamps"]) - min(stats["timestamps"]) < 0.2


def test_it_keeps_connections_alive(standin):
    with httpx.Client() as client:
        for _ in range(3):
            _post(f"{standin.url}/v1/messages", {"messages": []}, client)
        # One pooled connection served all three requests.
        assert len(client._transport._pool.connections) == 1


def _raw_post(port: int, results: list) -> None:
    # http.client rather than httpx: cheap enough that 200 client threads really run at once.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/messages", b"{}", {"Content-Type": "application/json"})
    results.append(connection.getresponse().status)
    connection.close()


def test_it_serves_hundreds_of_parallel_connections():
    with StandinServer(latency=0.5, record_bodies=False) as server:
        results = []
        threads = [threading.Thread(target=_raw_post, args=(server.port, results)) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(200) == 200
        assert server.stats()["max_in_flight"] > 100


def test_it_runs_as_a_separate_process_with_stats_and_control():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.server", "--port", "0", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{int(process.stdout.readline())}"
        _post(f"{url}/_control", {"fail_next": {"count": 1, "status": 500}})
        assert _post(f"{url}/v1/chat/completions", {"messages": []}).status_code == 500
        assert _post(f"{url}/v1/chat/completions", {"messages": []}).status_code == 200
        with urllib.request.urlopen(f"{url}/_stats", timeout=5) as response:  # noqa: S310 — a local URL
            assert json.load(response)["requests"] == 2
    finally:
        process.terminate()
        process.wait(10)


def test_a_request_is_in_flight_from_its_first_line_until_its_answer_is_written(standin):
    # Counted over the client's whole view of the call, so "never more than the cap in flight" means it.
    body = json.dumps({"model": "m", "messages": []}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", standin.port), timeout=5) as sock:
        sock.sendall(head + body[:5])
        deadline = time.monotonic() + 5
        while standin.stats()["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        during = standin.stats()["in_flight"]
        sock.sendall(body[5:])
        answer = sock.recv(65536)
    assert during == 1 and answer.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 5
    while standin.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert standin.stats()["in_flight"] == 0 and standin.stats()["max_in_flight"] == 1

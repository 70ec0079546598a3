"""The teacher's client (the ``openai`` SDK) against a real loopback HTTP endpoint that
answers 429 and 503 before it answers, or 401: what is retried, what is counted, and that
the key never reaches an error (the full protocol against real vLLM: test_llm_vllm.py)."""

from __future__ import annotations

import json
import logging

import pytest

from prox_tasks.labeling.chat_client import ChatClient, ChatError
from tests.loopback_http import LoopbackHTTPServer, Request, Response, chat_completion

KEY = "sk-chat-client-test-4242"
ANSWER = chat_completion("keep_doc()")


class Endpoint(LoopbackHTTPServer):
    """Answers the queued statuses in turn (body echoing the Authorization header), then
    200 with :data:`ANSWER`; records the Authorization header of every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.seen = list(statuses), []

        def answer(request: Request) -> Response:
            key = request.headers.get("Authorization")
            self.seen.append(key)
            status = self.statuses.pop(0) if self.statuses else 200
            body = ANSWER if status == 200 else \
                json.dumps({"error": f"busy, your key {key}"}).encode()  # fmt: skip
            return Response(status, body, {"Content-Type": "application/json",
                                           "Retry-After-Ms": "1"})  # no real wait

        super().__init__(answer)
        self.url += "/v1"


@pytest.fixture
def endpoint(request):
    ep = Endpoint(request.param)
    yield ep
    ep.close()


PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
           "temperature": 0.0}


@pytest.mark.parametrize("endpoint", [[429, 429, 503]], indirect=True)
def test_429_and_5xx_are_retried_and_every_attempt_counted(endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    client = ChatClient(endpoint.url, KEY, timeout=10, max_retries=4)
    answer = client.complete(PAYLOAD)
    assert answer == {"content": "keep_doc()", "prompt_tokens": 11, "completion_tokens": 3}
    usage = client.usage.to_dict()
    assert usage["statuses"] == {"429": 2, "503": 1, "200": 1}
    assert usage["requests"] == 4 and usage["retries"] == 3 and usage["failures"] == 0
    assert endpoint.seen == [f"Bearer {KEY}"] * 4
    assert KEY not in caplog.text
    client.close()


@pytest.mark.parametrize("endpoint", [[401], [503] * 9], indirect=True)
def test_a_failure_is_a_chat_error_without_the_key(endpoint):
    client = ChatClient(endpoint.url, KEY, timeout=10, max_retries=2)
    with pytest.raises(ChatError) as err:
        client.complete(PAYLOAD)
    usage = client.usage.to_dict()
    if err.value.status == 401:  # a 4xx is not retried
        assert usage["requests"] == 1 and usage["retries"] == 0
    else:
        assert err.value.status == 503 and usage["requests"] == 3 and usage["retries"] == 2
    assert usage["failures"] == 1
    assert KEY not in str(err.value) and "***" in str(err.value)


def test_no_key_sends_no_real_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-send-this-one-99")
    ep = Endpoint([])
    try:
        ChatClient(ep.url, None, timeout=10).complete(PAYLOAD)
    finally:
        ep.close()
    assert "sk-never-send-this-one-99" not in str(ep.seen)


def test_an_answer_cut_off_by_a_reset_while_read_is_asked_for_again():
    """The answer's body is streamed now (read up to its cap), after the SDK's call: a
    reset in the middle of it (a worker killed mid-answer) is retried as the SDK retried
    it when it read the body itself, not an error of no known kind. A raw socket server:
    the loopback HTTP server always writes the whole body."""
    from tests.loopback_http import raw_socket_server, reset_after

    full = ANSWER
    answered = []

    def answer(conn, _body, n):
        answered.append(n)
        header = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(full))
        if n == 1:  # cut after 30 bytes of the body, with a reset
            reset_after(conn, header + full[:30])
        else:
            conn.sendall(header + full)

    with raw_socket_server(answer) as url:
        client = ChatClient(f"{url}/v1", KEY, timeout=10, max_retries=2)
        answer = client.complete(PAYLOAD)
    assert answer["content"] == "keep_doc()" and len(answered) == 2
    assert client.usage.to_dict()["retries"] == 1


@pytest.mark.parametrize("in_headers", [False, True])
def test_an_answer_dripped_a_byte_at_a_time_fails_at_the_timeout_not_never(in_headers):
    """The timeout bounded each read (httpx's), not an answer: an endpoint (or a proxy
    stalling it) sending a byte every 0.2 s held a request with a 2 s timeout for as long as
    it dripped, and the labeling with it — its body, and (the body's own deadline left it
    so) its headers. Each try now has the timeout in all: a drip is cut there, asked for
    again, then a ChatError naming the timeout."""
    import time

    from tests.loopback_http import drip_answer, raw_socket_server

    tries = []

    def drip(conn, _body, n):
        tries.append(n)
        drip_answer(conn, in_headers)

    with raw_socket_server(drip) as url:
        client = ChatClient(f"{url}/v1", KEY, timeout=2, max_retries=1)
        began = time.monotonic()
        with pytest.raises(ChatError, match=r"gave up after .*within the timeout of 2 s"):
            client.complete(PAYLOAD)
    assert time.monotonic() - began < 30
    assert len(tries) == 2  # the first try and one retry

"""The openai backend against a real vLLM OpenAI-compatible server on loopback."""

import json
import socket
import subprocess
import threading
import time

import pytest

from prox_tasks.inference import load_backend
from prox_tasks.inference.base import GenerationRequest
from prox_tasks.inference.openai_engine import (
    InferenceError,
    OpenAIEngine,
    PoolMisconfigured,
    ServedModelMismatch,
)
from prox_tasks.pipeline.errors import cannot_succeed
from prox_tasks.programs import parse
from tests.inference.helpers import TINY_OPTIONS, short_docs, write_jsonl
from tests.loopback_http import drip_answer, text_completion
from tests.ports import refused_port


def _dead_url() -> str:
    return f"http://127.0.0.1:{refused_port()}/v1"  # nothing listens there, nor will


@pytest.fixture
def server(vllm_server, monkeypatch):
    """The session's real vLLM server (tests/vllm_server.py), as a pool's base URL; its key
    reaches the engines as a deployment gives it (PROX_OPENAI_API_KEY)."""
    monkeypatch.setenv("PROX_OPENAI_API_KEY", vllm_server.key)
    return f"{vllm_server.url}/v1"


@pytest.mark.slow
def test_programs_come_back_constrained_from_a_real_server(server, vllm_server):
    refiner = load_backend("openai", str(vllm_server.model), servers=[server],
                           **dict(TINY_OPTIONS, chunk_max_new_tokens=64))
    engine = refiner._engines["doc"]
    assert engine.model_name == "tiny-prox" and engine.max_model_len == 2048  # discovered
    texts = [d["text"] for d in short_docs(6)]
    doc = refiner.predict_doc(texts)
    chunk = refiner.predict_chunks(texts)
    assert all(p in ("keep_doc()", "drop_doc()") for p in doc)
    assert all(not parse(p, "chunk").errors for p in chunk)
    assert refiner.usage["doc"].requests == 6 and refiner.usage["doc"].completion_tokens > 0


@pytest.mark.slow
def test_a_pool_with_a_dead_server_retries_on_the_live_one(server):
    engine = OpenAIEngine([_dead_url(), server], concurrency=3, max_retries=6, backoff=0.05)
    ids = [1, 300, 400, 500] * 5
    outs = engine.generate([GenerationRequest(ids[: 8 + i], 4) for i in range(12)])
    assert len(outs) == 12 and all(o.finish_reason in ("stop", "length") for o in outs)
    assert all(o.completion_tokens > 0 for o in outs)
    assert engine.stats["cooldowns"] >= 1 and engine.stats["retries"] >= 1
    assert engine.stats["max_in_flight"] <= 3  # back-pressure: never more than concurrency


@pytest.mark.slow
def test_a_request_the_server_rejects_is_a_counted_failure_not_a_crash(server):
    engine = OpenAIEngine([server], max_retries=1, backoff=0.01)
    too_long = [5] * 5000  # longer than the model's context: a 400, not worth retrying
    out = engine.generate([GenerationRequest(too_long, 4), GenerationRequest([1, 5, 6], 2)])
    assert out[0].finish_reason == "error" and out[0].text == ""
    assert out[1].finish_reason != "error" and engine.stats["rejected"] == 1


def test_a_pool_with_no_live_server_fails_loudly():
    with pytest.raises(InferenceError, match="no server of the pool answered: "):
        OpenAIEngine([_dead_url()])
    dead = [_dead_url(), _dead_url()]
    engine = OpenAIEngine(dead, model_name="m", max_model_len=512, max_retries=2, backoff=0.01)
    with pytest.raises(InferenceError, match="failed 3 times") as err:
        engine.generate([GenerationRequest([1, 2, 3], 4)])
    # every try was made, each failure cooled its server down, and the retries went to the
    # other server of the pool rather than hammering one
    assert engine.stats["retries"] == 2 and engine.stats["cooldowns"] == 3
    assert all(url in str(err.value) for url in dead)
    empty = OpenAIEngine([_dead_url()], model_name="m", max_model_len=512, max_retries=1,
                         backoff=0.01, on_failure="empty")
    assert empty.generate([GenerationRequest([1, 2], 4)])[0].finish_reason == "error"


def test_the_pool_comes_from_prox_openai_servers_when_not_given(monkeypatch):
    monkeypatch.setenv("PROX_OPENAI_SERVERS", "http://gpu-1:8000/v1/, http://gpu-2:8000/v1")
    engine = OpenAIEngine(model_name="m", max_model_len=512)  # no request is made
    assert engine.urls == ["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"]
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512).urls == [
        "http://x:1/v1"]  # an explicit pool wins
    monkeypatch.delenv("PROX_OPENAI_SERVERS")
    # named as a user sets it: prox refine's option, the DAG's variable (no `servers` option)
    with pytest.raises(ValueError, match=r"prox refine --servers URL\[,URL...\], or "
                                         r"PROX_OPENAI_SERVERS .*the refine DAG's way") as err:
        OpenAIEngine(model_name="m", max_model_len=512)
    assert "`servers`" not in str(err.value)


def test_the_request_timeout_comes_from_prox_openai_timeout_and_is_checked(monkeypatch):
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512).timeout == 600
    monkeypatch.setenv("PROX_OPENAI_TIMEOUT", "45")
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512).timeout == 45
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512,
                        timeout=7).timeout == 7  # an explicit option wins
    for bad in ("0", "-1", "ten"):
        monkeypatch.setenv("PROX_OPENAI_TIMEOUT", bad)
        with pytest.raises(ValueError, match=f"PROX_OPENAI_TIMEOUT={bad!r} is not a number of "
                           "seconds above 0"):
            OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512)


# Fault injector (a loopback HTTP server answering like a broken gateway or a misconfigured
# server): replies a real vLLM server does not give on cue.
NOT_A_COMPLETION = {
    "html page": (200, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "cut-off json": (200, text_completion()[:40], "application/json"),
    "no choices": (200, b'{"id": "c", "choices": [], "usage": null}', "application/json"),
}


@pytest.mark.parametrize("fault", sorted(NOT_A_COMPLETION))
def test_a_reply_that_is_not_a_completion_is_retried_not_taken_as_empty(fault):
    from tests.loopback_http import LoopbackHTTPServer, Response

    status, body, kind = NOT_A_COMPLETION[fault]
    calls = []

    def respond(request):
        calls.append(request.path)
        if len(calls) <= 2:  # the gateway recovers after two bad answers
            return Response(status, body, {"Content-Type": kind})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=3, backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([1, 2, 3], 4)])
        assert (out[0].text, out[0].finish_reason) == ("keep_doc()", "stop")
        assert engine.stats["retries"] == 2
        calls.clear()
        broken = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=1, backoff=0.01)  # fmt: skip
        with pytest.raises(InferenceError, match="failed 2 times"):
            broken.generate([GenerationRequest([1, 2, 3], 4)])  # never recovers in 2 tries


def test_a_completion_whose_bytes_are_not_utf8_is_read_with_replacements_not_fatal():
    """A server cutting a character in two at ``max_tokens`` (or a proxy re-encoding the
    body) answers bytes that are not UTF-8. The client's JSON decoding refused them as an
    error of no known kind: the shard failed at once, naming a server set up wrong, and its
    rerun failed on the same document again. The text is read with U+FFFD in their place
    now, as the transformers backend decodes token bytes, and its program parsed: a program
    error of that document, counted; its neighbours' completions as they were."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    cut = text_completion("drop_doc()\u00e9").replace(b"\\u00e9", b"\xc3")  # half an é
    bad_body = text_completion("keep_doc()").replace(b"keep_doc()", b"keep_doc()\xff\xfe")

    def respond(request):
        asked = json.loads(request.body)["prompt"]
        body = {1: cut, 2: bad_body}.get(asked[0], text_completion())
        return Response(200, body, {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=1, backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([k, 5], 4) for k in (1, 2, 3)])
    assert [c.text for c in out] == ["drop_doc()\ufffd", "keep_doc()\ufffd\ufffd", "keep_doc()"]
    assert engine.stats["retries"] == 0 and not engine.stats.get("rejected")
    assert parse(out[1].text).errors  # a program error of its document, not of the shard


def test_a_connection_reset_in_the_middle_of_an_answer_is_retried():
    """A server (or a proxy before it) that resets the connection after part of the body
    (a worker killed mid-answer): the request is retried, and the completion taken whole
    from the next answer. A raw socket server: the loopback HTTP server always writes the
    whole body."""
    from tests.loopback_http import raw_socket_server, reset_after

    full = text_completion()
    answered = []

    def answer(conn, _body, n):
        answered.append(n)
        header = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(full))
        if n <= 2:  # cut after 30 bytes of the body, with a reset
            reset_after(conn, header + full[:30])
        else:
            conn.sendall(header + full)

    with raw_socket_server(answer) as url:
        engine = OpenAIEngine([f"{url}/v1"], model_name="m", max_model_len=512,
                              backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert (out[0].text, out[0].finish_reason) == ("keep_doc()", "stop")
    assert engine.stats["retries"] == 2 and len(answered) == 3


@pytest.mark.parametrize("status", [401, 404])
def test_a_misconfigured_deployment_fails_at_once_instead_of_leaving_documents_unrefined(status):
    from tests.loopback_http import LoopbackHTTPServer, Response

    calls = []

    def respond(request):
        calls.append(request.path)
        return Response(status, b'{"error": {"message": "no"}}',
                        {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=4, backoff=0.01)  # fmt: skip
        with pytest.raises(PoolMisconfigured, match=f"refused the request.*{status}") as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert len(calls) == 1  # not retried: no try can fix a key or a model name
    assert isinstance(err.value, cannot_succeed())  # nor a retry of the DAG's task


def _gateway_restarting(not_found: int, status: int = 400):
    """A loopback gateway listing ``m`` whose first ``not_found`` completions answer
    ``status`` saying the model is not found (LiteLLM and vLLM's router answer 400 while the
    backend serving it restarts), then completions; ``box["calls"]`` counts them."""
    import json

    from tests.loopback_http import LoopbackHTTPServer, Response

    box = {"calls": 0}

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"data": [{"id": "m"}]}).encode(),
                            {"Content-Type": "application/json"})
        box["calls"] += 1
        if box["calls"] <= not_found:
            return Response(status, json.dumps({"error": {
                "message": "Invalid model name passed in model=m. Call `/v1/models` to view "
                           "available models for your key.", "code": str(status)}}).encode(),
                {"Content-Type": "application/json"})  # fmt: skip
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    return LoopbackHTTPServer(respond), box


@pytest.mark.parametrize("status", [400, 404])
def test_a_model_not_found_while_a_gateways_backend_restarts_is_retried(status):
    """A gateway answering 400 "model not found" while its backend restarted failed each
    document of the call as rejected by the server (a failed program, published unrefined).
    The pool listed the model at load: such an answer is now retried like a server busy."""
    server, box = _gateway_restarting(2, status)
    with server:
        engine = OpenAIEngine([server.url + "/v1"], max_retries=4, backoff=0.01)
        out = engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert (out[0].text, out[0].finish_reason) == ("keep_doc()", "stop")
    assert box["calls"] == 3 and engine.stats["retries"] == 2
    assert "rejected" not in engine.stats


def test_a_model_not_found_that_persists_fails_the_shard_to_be_retried_not_its_documents():
    server, box = _gateway_restarting(100)
    with server:
        engine = OpenAIEngine([server.url + "/v1"], max_retries=2, backoff=0.01)
        with pytest.raises(InferenceError, match=r"failed 3 times \(the pool listed 'm' at "
                           r"load, and now answers that it does not serve it: a gateway whose "
                           r"backend is restarting.*run again") as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert box["calls"] == 3 and "rejected" not in engine.stats
    assert not isinstance(err.value, cannot_succeed())  # the DAG's retry may find it back
    # a model not listed at load (named, its context given) may be a wrong name: as a 404
    server, box = _gateway_restarting(100)
    with server:
        named = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                             max_retries=2, backoff=0.01)  # fmt: skip
        with pytest.raises(PoolMisconfigured, match="HTTP 400 .*check the served model name"):
            named.generate([GenerationRequest([1, 2, 3], 4)])
    assert box["calls"] == 1


def test_a_403_fails_the_call_at_once_but_the_dags_retry_may_get_past_it():
    """A gateway's firewall answers 403 to a burst (AWS WAF's rate rules do by default): the
    call fails at once, as a wrong key does, but the DAG's next try is not refused."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    calls = []

    def respond(request):
        calls.append(request.path)
        return Response(403, b'{"error": {"message": "rate limited"}}',
                        {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=4, backoff=0.01)  # fmt: skip
        with pytest.raises(InferenceError, match="refused the request.*403") as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert len(calls) == 1
    assert not isinstance(err.value, PoolMisconfigured) and not isinstance(err.value, cannot_succeed())


def _listing_answering(status: int, served: str = "m"):
    """A loopback server whose ``/v1/models`` answers ``status`` (200: lists ``served``)."""
    import json

    from tests.loopback_http import LoopbackHTTPServer, Response

    def respond(request):
        if status != 200:
            return Response(status, b'{"error": {"message": "no"}}',
                            {"Content-Type": "application/json"})
        return Response(200, json.dumps({"data": [{"id": served}]}).encode(),
                        {"Content-Type": "application/json"})

    return LoopbackHTTPServer(respond)


@pytest.mark.parametrize("status", [401, 404])
def test_a_pool_set_up_wrong_fails_at_load_for_good_naming_the_server(status):
    """A wrong key or URL was an InferenceError like a server down: the refine DAG retried
    its task for minutes on a setting no retry changes. Loading now fails with
    PoolMisconfigured (the DAG fails the task at once), naming the server and what to do,
    when no server of the pool is left that does not refuse it."""
    with _listing_answering(status) as wrong, _listing_answering(status) as other:
        for pool in ([wrong.url + "/v1"], [other.url + "/v1", wrong.url + "/v1"]):
            with pytest.raises(PoolMisconfigured, match=rf"{wrong.url}/v1 \(HTTP {status} ") as err:
                OpenAIEngine(pool)
            assert isinstance(err.value, cannot_succeed())
            assert "retrying cannot help" in str(err.value)


@pytest.mark.parametrize("status", [401, 404])
def test_a_server_refusing_the_pool_at_load_is_left_out_while_the_others_serve(status, caplog):
    """One server of several answering 401 (another key) or 404 (no /v1) failed the whole
    pool at load, though the others served the model. It is now left out, logged and kept
    with its reason (``left_out``), and the others take every request."""
    asked: list[tuple[str, str]] = []
    with _listing_answering(status) as wrong, _model_server([DOC_CARD], asked) as right:
        engine = OpenAIEngine([wrong.url + "/v1", right.url + "/v1"])
        out = engine.generate([GenerationRequest([1, 2, 3], 4) for _ in range(4)])
    assert [c.text for c in out] == ["keep_doc()"] * 4
    assert {url for url, _ in asked} == {right.url + "/v1"} and len(asked) == 4
    assert engine.urls == [right.url + "/v1"]
    assert list(engine.left_out) == [wrong.url + "/v1"]
    assert f"HTTP {status}" in engine.left_out[wrong.url + "/v1"]
    warned = [r.getMessage() for r in caplog.records if "left 1 of the pool's 2" in r.getMessage()]
    assert len(warned) == 1 and wrong.url in warned[0] and "--servers" in warned[0]


def test_prox_refine_names_the_servers_left_out_of_the_pool(tiny_model, tmp_path, capsys):
    """A server refusing the pool at load (401: another key) was left out and only logged:
    prox refine's summary and --json said nothing of a run on fewer servers than given.
    Both name it now, with why, as they count the pool's other troubles."""
    import json

    from prox_tasks.cli import main
    from prox_tasks.cli.refine_cmd import summary_line

    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    with _listing_answering(401) as wrong, _model_server([DOC_CARD], []) as right:
        pool = f"{wrong.url}/v1,{right.url}/v1"
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--servers", pool, "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["servers_left_out"]) == [f"{wrong.url}/v1"], summary
    assert "HTTP 401" in summary["servers_left_out"][f"{wrong.url}/v1"]
    assert f", 1 server left out of the pool ({wrong.url}/v1: HTTP 401" in summary_line(summary)


def test_a_server_left_out_is_named_without_its_urls_password(tiny_model, tmp_path):
    """The servers left out went into a refine task's result (the DAG's XComs, in Airflow's
    metadata DB) as given: a pool URL's ``user:password@`` whole."""
    import json

    from prox_tasks.cli import main
    from prox_tasks.refine import refine_shard

    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    out = tmp_path / "out"
    assert main(["plan", "--input", str(docs), "--output", str(out)]) == 0
    with _listing_answering(401) as wrong, _model_server([DOC_CARD], []) as right:
        secret_url = wrong.url.replace("://", "://prox:hunter22-pool-pw@") + "/v1"
        result = refine_shard(str(out), 0, model=str(tiny_model), backend="openai",
                              backend_options={"servers": f"{secret_url},{right.url}/v1"})
    assert "hunter22-pool-pw" not in json.dumps(result)
    named = wrong.url.replace("://", "://prox:***@") + "/v1"
    assert list(result["servers_left_out"]) == [named]


@pytest.mark.parametrize("status", [500, 503, 403, None])
def test_a_pool_down_or_failing_at_load_stays_retriable(status):
    """5xx and a server down may heal: an InferenceError the DAG retries, not a failure for
    good; so may a 403 (a gateway's firewall limiting a burst of requests)."""
    if status is None:
        with pytest.raises(InferenceError) as err:
            OpenAIEngine([_dead_url()])
    else:
        with _listing_answering(status) as failing, pytest.raises(InferenceError) as err:
            OpenAIEngine([failing.url + "/v1"])
    assert "no server of the pool answered" in str(err.value)
    assert not isinstance(err.value, cannot_succeed())


def test_a_pool_not_serving_the_named_model_fails_at_load_for_good():
    with _listing_answering(200, served="other") as server:
        with pytest.raises(ServedModelMismatch, match="does not serve 'm'") as err:
            OpenAIEngine([server.url + "/v1"], model_name="m")
    assert isinstance(err.value, cannot_succeed())


def test_a_server_slower_than_the_timeout_is_retried_without_waiting_for_it(monkeypatch):
    """A hung server (accepts, does not answer) costs the timeout per try, not 600 s."""
    import threading

    from tests.loopback_http import LoopbackHTTPServer, Response

    arrivals, hung = [], threading.Event()

    def respond(request):
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            hung.wait(60)  # the first try hangs until the test ends
        return Response(200, text_completion("drop_doc()"), {"Content-Type": "application/json"})

    # not 0.5 s: the try after the hung one must be answered within it, and a loaded CI
    # machine answered a loopback call in more (3.2 s were seen under a load of 11)
    monkeypatch.setenv("PROX_OPENAI_TIMEOUT", "5")
    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=2, backoff=0.01)  # fmt: skip
        try:
            out = engine.generate([GenerationRequest([1, 2, 3], 4)])
        finally:
            hung.set()
    assert out[0].text == "drop_doc()" and engine.stats["retries"] == 1
    assert arrivals[1] - arrivals[0] < 30  # retried after the timeout, not after the answer


def test_a_burst_of_requests_failing_together_backs_off_once_not_once_each(monkeypatch):
    """A server's cooldown doubled with every failed request, so a batch's requests that
    timed out together (12 documents at once, one event) cooled it for ``max_backoff``
    (30 s) at the first try: ``prox refine --request-timeout 1`` against a hung server took
    101 s to fail, where its 5 tries and backoff take ~12 s. A failure of a request sent
    before the server's current cooldown began is of the same event: it does not double
    the backoff again."""
    import threading

    from tests.loopback_http import LoopbackHTTPServer, Response

    hung = threading.Event()

    def respond(request):
        hung.wait(60)  # never answers within the timeout
        return Response(200, text_completion("drop_doc()"), {"Content-Type": "application/json"})

    monkeypatch.setenv("PROX_OPENAI_TIMEOUT", "0.5")
    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=2, backoff=0.2)  # fmt: skip
        try:
            with pytest.raises(InferenceError, match="did not answer in time"):
                engine.generate([GenerationRequest([1, 2, i], 4) for i in range(12)])
        finally:
            hung.set()
    # one escalation per try (3), not one per request and try (36: 30 s of cooldown at once);
    # a count, not a wall-clock bound (a loaded CI machine stretches the latter)
    assert engine.stats["cooldowns"] <= 3, engine.stats


def test_the_version_recorded_names_the_model_the_servers_serve(tiny_model, tmp_path,
                                                                monkeypatch, capsys):
    """The local folder only renders the prompts (its tokenizer): the programs come from the
    model the pool serves, so the version in the refined rows and the catalog names that one
    (its served name and the weights the server reports), not only the local folder's."""
    import json

    import pyarrow.parquet as pq

    from prox_tasks.cli import main
    from prox_tasks.models.artifact import artifact_version
    from tests.loopback_http import LoopbackHTTPServer, Response

    served = {"id": "refiner", "root": "/models/prox-doc-v7", "max_model_len": 1024}

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"object": "list", "data": [served]}).encode(),
                            {"Content-Type": "application/json"})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    local = artifact_version(tiny_model, {"kind": "causal_lm"})
    with LoopbackHTTPServer(respond) as server:
        refiner = load_backend("openai", str(tiny_model), servers=[server.url + "/v1"])
        assert refiner.version == f"openai:refiner@/models/prox-doc-v7+{local}"
        named = load_backend("openai", str(tiny_model), servers=[server.url + "/v1"],
                             model_name="refiner", max_model_len=1024)  # no discovery asked
        assert named.version == f"openai:refiner+{local}"
        served["root"] = "/models/prox-doc-v8"  # the pool restarted on other weights
        assert load_backend("openai", str(tiny_model),
                            servers=[server.url + "/v1"]).version != refiner.version
        served["root"] = "/models/prox-doc-v7"
        docs = tmp_path / "in.jsonl"
        write_jsonl(docs, short_docs(3))
        monkeypatch.setenv("PROX_OPENAI_SERVERS", server.url + "/v1")
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
    assert summary["model_version"] == refiner.version  # what the catalog books
    rows = pq.read_table(tmp_path / "out" / "shards").to_pylist()
    assert len(rows) == 3 and {r["model_version"] for r in rows} == {refiner.version}


def _model_server(cards: list[dict], asked: list[tuple[str, str]], text: str = "keep_doc()"):
    """A loopback OpenAI-compatible server listing ``cards`` on ``/v1/models`` and answering
    every completion with ``text``; ``asked`` collects ``(its url, the model asked for)``."""
    import json

    from tests.loopback_http import LoopbackHTTPServer, Response

    box: dict = {}

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"object": "list", "data": cards}).encode(),
                            {"Content-Type": "application/json"})
        asked.append((box["url"], json.loads(request.body)["model"]))
        return Response(200, text_completion(text), {"Content-Type": "application/json"})

    server = LoopbackHTTPServer(respond)
    box["url"] = server.url + "/v1"
    return server


DOC_CARD = {"id": "prox-doc", "root": "/models/doc-v1", "max_model_len": 1024}
CHUNK_CARD = {"id": "prox-chunk", "root": "/models/chunk-v1", "max_model_len": 1024}


def test_each_level_queries_its_own_pool_and_the_version_names_both(tiny_model, monkeypatch):
    """ProX's two models served as two pools: document programs go to the document pool,
    chunk programs to the chunk pool, each asking for the model its pool serves, and the
    version names both — by option, or by the variables a DAG's workers are given."""
    from prox_tasks.models.artifact import artifact_version

    local = artifact_version(tiny_model, {"kind": "causal_lm"})
    asked: list[tuple[str, str]] = []
    texts = [d["text"] for d in short_docs(2)]
    with _model_server([DOC_CARD], asked) as doc, \
            _model_server([CHUNK_CARD], asked, "keep_chunk()") as chunk:  # fmt: skip
        doc_url, chunk_url = doc.url + "/v1", chunk.url + "/v1"
        by_option = load_backend("openai", str(tiny_model), doc_servers=doc_url,
                                 chunk_servers=[chunk_url], **TINY_OPTIONS)
        monkeypatch.setenv("PROX_OPENAI_DOC_SERVERS", doc_url)
        monkeypatch.setenv("PROX_OPENAI_CHUNK_SERVERS", chunk_url)
        by_env = load_backend("openai", str(tiny_model), **TINY_OPTIONS)
        for refiner in (by_option, by_env):
            asked.clear()
            assert refiner.predict_doc(texts) == ["keep_doc()"] * 2
            assert set(asked) == {(doc_url, "prox-doc")}
            asked.clear()
            refiner.predict_chunks(texts)
            assert asked and set(asked) == {(chunk_url, "prox-chunk")}
            assert refiner.version == ("openai:doc=prox-doc@/models/doc-v1"
                                       f"+chunk=prox-chunk@/models/chunk-v1+{local}")
        # an explicit pool for both levels wins over the per-level variables
        assert load_backend("openai", str(tiny_model), servers=[doc_url]).version == \
            f"openai:prox-doc@/models/doc-v1+{local}"  # fmt: skip


def test_one_gateway_serving_both_models_is_asked_for_each_by_name(tiny_model):
    asked: list[tuple[str, str]] = []
    texts = [d["text"] for d in short_docs(2)]
    with _model_server([DOC_CARD, CHUNK_CARD], asked) as gateway:
        refiner = load_backend("openai", str(tiny_model), servers=gateway.url + "/v1",
                               doc_served_model="prox-doc", chunk_served_model="prox-chunk",
                               **TINY_OPTIONS)  # fmt: skip
        refiner.predict_doc(texts)
        assert {model for _, model in asked} == {"prox-doc"}
        asked.clear()
        refiner.predict_chunks(texts)
        assert {model for _, model in asked} == {"prox-chunk"}
    assert refiner.version.startswith("openai:doc=prox-doc@/models/doc-v1+chunk=prox-chunk@")


def test_a_pool_that_does_not_serve_the_levels_model_is_refused_at_load(tiny_model):
    """A model named for a level that its pool does not serve — or a server of the pool
    serving another model — is refused before any document is sent, naming the level, the
    server and what it serves (the first model listed was taken silently before)."""
    from prox_tasks.inference.openai_engine import ServedModelMismatch

    asked: list[tuple[str, str]] = []
    with _model_server([DOC_CARD], asked) as doc, _model_server([CHUNK_CARD], asked) as chunk:
        doc_url, chunk_url = doc.url + "/v1", chunk.url + "/v1"
        with pytest.raises(ServedModelMismatch, match=r"the chunk-level model: the pool does "
                           rf"not serve 'prox-chunk': {doc_url} serves prox-doc\. Name"):
            load_backend("openai", str(tiny_model), servers=doc_url,
                         chunk_served_model="prox-chunk")
        # a pool whose second server was started on the other model
        with pytest.raises(ServedModelMismatch, match=rf"{chunk_url} serves prox-chunk"):
            load_backend("openai", str(tiny_model), doc_servers=[doc_url, chunk_url],
                         chunk_servers=chunk_url)
    assert asked == []  # nothing was refined with the wrong model


def test_per_level_pools_are_options_of_the_openai_backend_only(tiny_model):
    with pytest.raises(ValueError, match="not understood by the transformers backend: "
                                         "chunk_servers"):
        load_backend("transformers", str(tiny_model), chunk_servers="http://x:1/v1")


def test_prox_refine_sends_each_level_to_the_pool_its_options_name(tiny_model, tmp_path,
                                                                   capsys):
    import json

    import pyarrow.parquet as pq

    from prox_tasks.cli import main

    asked: list[tuple[str, str]] = []
    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    with _model_server([DOC_CARD], asked) as doc, \
            _model_server([CHUNK_CARD], asked, "keep_chunk()") as chunk:  # fmt: skip
        doc_url, chunk_url = doc.url + "/v1", chunk.url + "/v1"
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--doc-servers", doc_url, "--chunk-servers", chunk_url,
                     "--chunk-served-model", "prox-chunk", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (doc_url, "prox-doc") in asked and (chunk_url, "prox-chunk") in asked
    assert {url for url, model in asked if model == "prox-doc"} == {doc_url}
    assert summary["model_version"].startswith("openai:doc=prox-doc@/models/doc-v1+chunk=")
    rows = pq.read_table(tmp_path / "out" / "shards").to_pylist()
    assert {r["model_version"] for r in rows} == {summary["model_version"]}


def test_a_level_left_without_a_pool_is_named_with_its_own_option(tiny_model, monkeypatch):
    monkeypatch.delenv("PROX_OPENAI_SERVERS", raising=False)
    with pytest.raises(ValueError, match=r"the chunk-level model has no pool: the servers given "
                       r"are the document level's only; give prox refine --chunk-servers"):
        load_backend("openai", str(tiny_model), doc_servers="http://x:1/v1")
    monkeypatch.setenv("PROX_OPENAI_DOC_SERVERS", "http://x:1/v1")
    with pytest.raises(ValueError, match="the chunk-level model has no pool"):
        load_backend("openai", str(tiny_model))


def test_a_pool_serving_one_name_from_two_checkpoints_is_refused(tiny_model):
    """Halfway through a restart on new weights, one served name covers two checkpoints:
    the rows would carry one version for programs of both, so the load is refused."""
    from prox_tasks.inference.openai_engine import ServedModelMismatch

    asked: list[tuple[str, str]] = []
    new = dict(DOC_CARD, root="/models/doc-v2")
    with _model_server([DOC_CARD], asked) as old_one, _model_server([new], asked) as new_one:
        urls = [old_one.url + "/v1", new_one.url + "/v1"]
        with pytest.raises(ServedModelMismatch, match=rf"the document-level model: the "
                           rf"servers of the pool serve 'prox-doc' from different weights "
                           rf"\({urls[0]}: /models/doc-v1; {urls[1]}: /models/doc-v2\)"):
            load_backend("openai", str(tiny_model), servers=urls)
        with _model_server([new], asked) as another:  # the pool once restarted
            refiner = load_backend("openai", str(tiny_model),
                                   servers=[urls[1], another.url + "/v1"])
    assert refiner.version.startswith("openai:prox-doc@/models/doc-v2+") and asked == []


def test_the_context_is_the_shortest_the_pool_serves():
    """Prompts are fitted to one context for whichever server takes them: a longer one
    would be rejected by the server with the shorter (a failed program, not retried)."""
    asked: list[tuple[str, str]] = []
    short = dict(DOC_CARD, max_model_len=512)
    with _model_server([DOC_CARD], asked) as long_one, _model_server([short], asked) as short_one:
        engine = OpenAIEngine([long_one.url + "/v1", short_one.url + "/v1"])
    assert (engine.model_name, engine.max_model_len) == ("prox-doc", 512)


def test_a_server_whose_models_listing_is_malformed_counts_as_not_answering():
    """A server (a proxy, a gateway) answering /v1/models with cards without an id broke the
    engine's load with a bare KeyError/AttributeError naming no server: it is now a server
    that did not answer, the pool's others serve, and a pool of only such servers is an
    InferenceError naming each."""
    asked: list[tuple[str, str]] = []
    with _model_server(["prox-doc"], asked) as strings, \
            _model_server([{"object": "model"}], asked) as no_id, \
            _model_server([DOC_CARD], asked) as good:  # fmt: skip
        bad = [strings.url + "/v1", no_id.url + "/v1"]
        engine = OpenAIEngine([*bad, good.url + "/v1"])
        assert (engine.model_name, engine.max_model_len) == ("prox-doc", 1024)
        with pytest.raises(InferenceError, match="no list of models with ids") as refused:
            OpenAIEngine(bad)
    assert all(url in str(refused.value) for url in bad)


def test_prox_refine_refuses_a_level_without_a_pool_before_planning(tiny_model, tmp_path,
                                                                     monkeypatch, capsys):

    from prox_tasks.cli import main

    monkeypatch.delenv("PROX_OPENAI_SERVERS", raising=False)
    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(2))
    out = tmp_path / "out"
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model",
                 str(tiny_model), "--backend", "openai", "--no-progress",
                 "--doc-servers", "http://127.0.0.1:9/v1"]) == 2  # a pool set up wrong
    assert "the chunk-level model has no pool" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()  # refused before the plan


def test_every_server_of_a_pool_is_asked_for_its_models_at_once():
    """Each server is checked at load: a pool of dozens must cost one round trip, not one per
    server (each worker loads the model)."""
    import json
    import threading

    from tests.loopback_http import LoopbackHTTPServer, Response

    lock, now, most = threading.Lock(), [0], [0]

    def respond(request):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(1.0)  # a slow /v1/models (long enough to overlap on a loaded machine)
        with lock:
            now[0] -= 1
        return Response(200, json.dumps({"data": [DOC_CARD]}).encode(),
                        {"Content-Type": "application/json"})

    servers = [LoopbackHTTPServer(respond) for _ in range(4)]
    try:
        engine = OpenAIEngine([s.url + "/v1" for s in servers])
    finally:
        for server in servers:
            server.close()
    assert engine.model_name == "prox-doc" and most[0] >= 2  # one at a time: 1


def test_a_pool_listing_several_models_needs_the_levels_name(tiny_model):
    """A gateway serving both models and no served name given: each level took the first
    model listed, so chunk programs went to the document model. Refused at load, naming the
    models and the option and variable of the level; a one-model pool needs no name."""
    from prox_tasks.inference.openai_engine import ServedModelMismatch

    asked: list[tuple[str, str]] = []
    with _model_server([DOC_CARD, CHUNK_CARD], asked) as gateway:
        url = gateway.url + "/v1"
        with pytest.raises(ServedModelMismatch, match=r"the document-level model: the pool "
                           r"serves more than one model \(" + rf"{url} serves prox-doc, "
                           r"prox-chunk\): name the one for this level: prox refine "
                           r"--doc-served-model NAME, or PROX_OPENAI_DOC_MODEL"):
            load_backend("openai", str(tiny_model), servers=url)
        with pytest.raises(ServedModelMismatch, match=r"the chunk-level model: .* prox refine "
                           r"--chunk-served-model NAME, or PROX_OPENAI_CHUNK_MODEL"):
            load_backend("openai", str(tiny_model), servers=url, doc_served_model="prox-doc")
        with pytest.raises(ServedModelMismatch, match="more than one model"):
            OpenAIEngine([url])  # the engine alone: named by its own option
        # the shared name serves both levels, as before
        refiner = load_backend("openai", str(tiny_model), servers=url, model_name="prox-doc")
    assert refiner.version.startswith("openai:prox-doc@/models/doc-v1+") and asked == []


def test_a_pool_restarted_on_other_weights_mid_run_is_caught_before_its_rows_are_kept(
        tiny_model, tmp_path, capsys):  # fmt: skip
    """A server restarted on another checkpoint under the same served name after the model
    was loaded: the rows refined since would carry the old version. Each engine call asks
    the pool again: the run fails naming the old and new weights, nothing of the batch is
    kept, and the rerun refines every row under the new version (the old version's
    checkpoints are not reused)."""
    import json

    import pyarrow.parquet as pq

    from prox_tasks.cli import main
    from prox_tasks.inference.openai_engine import ServedModelChanged

    card = dict(DOC_CARD)
    asked: list[tuple[str, str]] = []
    with _model_server([card], asked) as server:
        url = server.url + "/v1"
        engine = OpenAIEngine([url])
        assert engine.generate([GenerationRequest([1, 2, 3], 4)])[0].text == "keep_doc()"
        card["root"] = "/models/doc-v2"  # restarted between two calls
        with pytest.raises(ServedModelChanged, match=rf"{url} now serves 'prox-doc' from "
                           r"/models/doc-v2, not /models/doc-v1 as when the model was loaded"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        card.update(id="another")  # or now serves another model
        with pytest.raises(ServedModelChanged, match=rf"{url} no longer serves 'prox-doc'"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])

        # prox refine: the pool switches after the first checkpointed batch
        card.update(DOC_CARD)
        docs = tmp_path / "in.jsonl"
        write_jsonl(docs, short_docs(6))
        calls = [0]

        def generate_then_switch(self, requests, _real=OpenAIEngine.generate):
            calls[0] += 1
            if calls[0] == 3:  # the second batch's document call
                card["root"] = "/models/doc-v2"
            return _real(self, requests)

        args = ["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                str(tiny_model), "--backend", "openai", "--servers", url, "--no-progress",
                "--checkpoint-every", "2", "--json"]  # fmt: skip
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(OpenAIEngine, "generate", generate_then_switch)
            assert main(args) == 1
        assert "now serves 'prox-doc' from /models/doc-v2" in capsys.readouterr().err
        assert not list((tmp_path / "out").glob("shards/*.parquet"))  # nothing published
        assert main(args) == 0
        summary = json.loads(capsys.readouterr().out)
    assert "prox-doc@/models/doc-v2+" in summary["model_version"]
    rows = pq.read_table(tmp_path / "out" / "shards").to_pylist()
    assert len(rows) == 6 and {r["model_version"] for r in rows} == {summary["model_version"]}


def test_a_served_model_counts_in_the_settings_however_it_was_named(tiny_model, tmp_path,
                                                                     monkeypatch, capsys):
    """The served names given by option counted in a snapshot's settings, the same names
    given by PROX_OPENAI_DOC_MODEL/PROX_OPENAI_CHUNK_MODEL did not: a rerun naming them the
    other way was refused (SettingsConflict), and a changed variable reused the shards of
    the other model. Now the names each level asks for count, however they were given."""

    from prox_tasks.cli import main
    from prox_tasks.refine.step import shard_request

    def request(**options):
        return shard_request("s3://m/refiner", "openai", options, None, None)

    by_option = request(doc_served_model="prox-doc", chunk_served_model="prox-chunk")
    assert request(model_name="prox-doc", chunk_served_model="prox-chunk") == by_option
    monkeypatch.setenv("PROX_OPENAI_DOC_MODEL", "prox-doc")
    monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk")
    assert request() == by_option
    assert request(chunk_served_model="prox-chunk-v2") != by_option  # the option wins
    monkeypatch.delenv("PROX_OPENAI_DOC_MODEL")
    monkeypatch.delenv("PROX_OPENAI_CHUNK_MODEL")
    assert request() == shard_request("s3://m/refiner", "openai", None, None, None)

    asked: list[tuple[str, str]] = []
    newer = dict(CHUNK_CARD, id="prox-chunk-v2", root="/models/chunk-v2")
    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    with _model_server([DOC_CARD, CHUNK_CARD, newer], asked) as gateway:
        args = ["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                str(tiny_model), "--backend", "openai", "--servers", gateway.url + "/v1",
                "--no-progress"]  # fmt: skip
        assert main([*args, "--doc-served-model", "prox-doc",
                     "--chunk-served-model", "prox-chunk"]) == 0  # fmt: skip
        capsys.readouterr()
        monkeypatch.setenv("PROX_OPENAI_DOC_MODEL", "prox-doc")
        monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk")
        assert main(args) == 0, capsys.readouterr().err  # the same models: reused
        monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk-v2")
        assert main(args) == 1
        assert "served_models.chunk 'prox-chunk' -> 'prox-chunk-v2'" in capsys.readouterr().err


def test_a_refine_worker_naming_another_served_model_than_the_plan_names_the_variables(
        tmp_path, monkeypatch):  # fmt: skip
    """The DAG's plan task claims the snapshot with its worker's PROX_OPENAI_*_MODEL; a
    refine task on a worker without them (or with others) is refused before it loads a
    model, naming the variables to set alike on every worker (not only --force)."""
    from prox_tasks.pipeline import refresh
    from prox_tasks.refine.step import SettingsConflict
    from tests.pipeline.test_refresh import small_snapshot

    model = tmp_path / "hf-model"  # a Hugging Face folder: a generative model
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")  # all the openai backend reads of it
    monkeypatch.setenv("PROX_OPENAI_SERVERS", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk")
    work = refresh.plan(small_snapshot(tmp_path, 2), target_docs=2, max_map_length=8,
                        model=str(model), backend="openai")  # fmt: skip
    monkeypatch.delenv("PROX_OPENAI_CHUNK_MODEL")  # the refine task's worker lacks it
    # the pool (not answering here) cannot say it serves that one model: the name is asked for
    with pytest.raises(SettingsConflict, match=r"served_models \{'chunk': 'prox-chunk', 'doc': None\} -> None.*"
                       r"--chunk-served-model prox-chunk \(PROX_OPENAI_CHUNK_MODEL=prox-chunk\)"
                       r".*every worker"):
        refresh.refine_batch(work[0])


@pytest.mark.parametrize("status", [429, 503])
def test_a_server_asking_to_retry_after_a_while_is_left_alone_that_long(status):
    """A rate-limited gateway (429) or a server starting up (503) says when to come back
    (Retry-After): retried after the backoff alone (0.01 s here, 0.5 s doubling by
    default), every try was spent in a second or two and the task failed; the server is
    now cooled down for what it asked (at most max_backoff)."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    arrivals = []

    def respond(request):
        arrivals.append(time.monotonic())
        if len(arrivals) <= 2:
            return Response(status, b'{"error": {"message": "slow down"}}',
                            {"Content-Type": "application/json", "Retry-After": "1"})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=2, backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert out[0].text == "keep_doc()" and len(arrivals) == 3
    assert arrivals[1] - arrivals[0] >= 0.9 and arrivals[2] - arrivals[1] >= 0.9
    capped = OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512, max_backoff=5)
    assert capped._retry_after({"Retry-After": "3600"}) == 5  # at most max_backoff
    assert capped._retry_after({"Retry-After": "soon"}) == 0  # not a delay: the backoff


def test_a_server_asking_to_wait_past_what_a_request_waits_is_named_as_a_spent_quota():
    """A gateway whose quota is spent answers 429 with Retry-After: 3600. The request,
    which waits at most max_backoff a try, failed saying the server 'is overloaded or
    failing: see its log, or add servers'; it now names the wait asked and what it means."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    def respond(request):
        return Response(429, b'{"error": {"message": "quota"}}',
                        {"Content-Type": "application/json", "Retry-After": "3600"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=1, backoff=0.01, max_backoff=0.05)  # fmt: skip
        started = time.monotonic()
        with pytest.raises(InferenceError, match=r"failed 2 times \(a server asked to retry "
                           r"after 3600 s \(Retry-After\), longer than a request waits "
                           r"\(0.05 s at most\): its rate limit or quota is spent"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    # waited max_backoff, not the hour (seconds of slack: 2.1 s were seen under load)
    assert time.monotonic() - started < 60


def test_a_pool_asking_to_wait_past_the_shards_budget_fails_the_shard_at_once():
    """Every server of the pool answering 429 with a Retry-After longer than the shard has
    left of its budget (PROX_OPENAI_SHARD_BUDGET): the shard waited its budget out, then
    failed as 'too slow or stalled'. It now fails at once, retriable, naming each server's
    Retry-After and the budget; a server that may answer within the budget is still tried."""
    from prox_tasks.inference.base import shard_clock
    from prox_tasks.inference.openai_engine import ShardBudgetExceeded
    from tests.loopback_http import LoopbackHTTPServer, Response

    calls: list[str] = []

    def quota_spent(wait: str):
        def respond(request):
            calls.append(wait)
            return Response(429, b'{"error": {"message": "quota"}}',
                            {"Content-Type": "application/json", "Retry-After": wait})
        return respond

    with LoopbackHTTPServer(quota_spent("600")) as one, \
            LoopbackHTTPServer(quota_spent("900")) as two:  # fmt: skip
        engine = OpenAIEngine([one.url + "/v1", two.url + "/v1"], model_name="m",
                              max_model_len=512, backoff=0.01, shard_budget=60)  # fmt: skip
        started = time.monotonic()
        with shard_clock("5"), pytest.raises(ShardBudgetExceeded) as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        took = time.monotonic() - started
    said = str(err.value)
    # not the 60 s of the budget (seconds of slack: a loaded machine took 2.2 s)
    assert took < 30, took
    assert sorted(calls) == ["600", "900"]  # each server asked once
    assert "every server of the openai pool asked to retry after more than shard 5 has left " \
        "of its budget of 60 s" in said  # fmt: skip
    import re

    assert re.search(rf"{one.url}/v1 (599|600) s \(HTTP 429\); {two.url}/v1 (899|900) s", said), said
    assert "--shard-budget" in said and "once the limit has reset" in said
    assert not isinstance(err.value, cannot_succeed())  # the DAG's retry, later, may pass
    with LoopbackHTTPServer(quota_spent("600")) as spent, _model_server([DOC_CARD], []) as ok:
        engine = OpenAIEngine([spent.url + "/v1", ok.url + "/v1"], model_name="m",
                              max_model_len=512, backoff=0.01, shard_budget=4)  # fmt: skip
        with shard_clock("6"):
            outs = engine.generate([GenerationRequest([1, 2, i], 4) for i in range(4)])
    assert [o.text for o in outs] == ["keep_doc()"] * 4


def test_a_pool_still_loading_its_weights_is_not_named_a_spent_quota():
    """A vLLM server still loading its weights answers 503 with a Retry-After: the shard's
    ShardBudgetExceeded (and a request's failure) said its 'rate limit or quota is spent',
    sending the operator to a quota that was never the cause. Each wait now names its
    status, and the reason covers what that status means."""
    from prox_tasks.inference.base import shard_clock
    from prox_tasks.inference.openai_engine import ShardBudgetExceeded
    from tests.loopback_http import LoopbackHTTPServer, Response

    def answering(status: int):
        def respond(request):
            return Response(status, b'{"error": {"message": "not ready"}}',
                            {"Content-Type": "application/json", "Retry-After": "600"})
        return respond

    with LoopbackHTTPServer(answering(503)) as loading:
        engine = OpenAIEngine([loading.url + "/v1"], model_name="m", max_model_len=512,
                              backoff=0.01, shard_budget=4)  # fmt: skip
        with shard_clock("7"), pytest.raises(ShardBudgetExceeded) as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        engine = OpenAIEngine([loading.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=1, backoff=0.01, max_backoff=0.05)  # fmt: skip
        with pytest.raises(InferenceError) as failed:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    for said in (str(err.value), str(failed.value)):
        assert "still starting, e.g. loading its weights" in said and "quota" not in said, said
    assert "(HTTP 503)" in str(err.value)
    with LoopbackHTTPServer(answering(503)) as loading, \
            LoopbackHTTPServer(answering(429)) as limited:  # fmt: skip
        engine = OpenAIEngine([loading.url + "/v1", limited.url + "/v1"], model_name="m",
                              max_model_len=512, backoff=0.01, shard_budget=4)  # fmt: skip
        with shard_clock("8"), pytest.raises(ShardBudgetExceeded) as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    said = str(err.value)
    assert "rate limit or quota is spent or unavailable for now (HTTP 503" in said, said
    assert "(HTTP 429)" in said and "(HTTP 503)" in said


def test_an_https_pool_with_a_private_ca_and_a_key(tmp_path, monkeypatch):
    """A pool behind TLS with the deployment's own CA (SSL_CERT_FILE, read by the HTTP
    client) and started with --api-key (PROX_OPENAI_API_KEY): the key goes with every
    request, /v1/models included; without the CA the load fails naming the server."""
    import json
    import ssl

    from tests.loopback_http import LoopbackHTTPServer, Response

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    keys: list[str | None] = []

    def respond(request):
        keys.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer s3cret":
            return Response(401, b'{"error": {"message": "bad key"}}',
                            {"Content-Type": "application/json"})
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"data": [DOC_CARD]}).encode(),
                            {"Content-Type": "application/json"})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
        url = f"https://127.0.0.1:{server.port}/v1"
        monkeypatch.setenv("PROX_OPENAI_API_KEY", "s3cret")
        with pytest.raises(InferenceError, match=rf"{url} \(ConnectError: .*CERTIFICATE_VERIFY_FAILED"
                           ) as untrusted:  # fmt: skip
            OpenAIEngine([url])
        # what to do about it: "nothing answers there: start the server" was said of it
        assert "nothing answers there" not in str(untrusted.value)
        assert str(untrusted.value).endswith(
            "): the server's TLS certificate is not trusted here: give the CA that signed it in "
            "SSL_CERT_FILE (or SSL_CERT_DIR) on every worker, or check the host in --servers "
            "(PROX_OPENAI_SERVERS)"), untrusted.value
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        engine = OpenAIEngine([url])
        assert engine.generate([GenerationRequest([1, 2, 3], 4)])[0].text == "keep_doc()"
        monkeypatch.setenv("PROX_OPENAI_API_KEY", "wrong")
        with pytest.raises(InferenceError, match="401"):
            OpenAIEngine([url], model_name="prox-doc", max_model_len=512).generate(
                [GenerationRequest([1, 2, 3], 4)])
    assert keys[:2] == ["Bearer s3cret"] * 2  # /v1/models, the completion


def test_a_server_reporting_no_weights_beside_one_that_does_is_no_change():
    """A pool where one server (a proxy, another server program) reports no weights (no
    ``root``) beside one that does: loaded as one model, the version naming the reported
    weights, and no call is refused as a restart on other weights."""
    asked: list[tuple[str, str]] = []
    bare = {"id": "prox-doc", "max_model_len": 1024}
    with _model_server([bare], asked) as proxy, _model_server([DOC_CARD], asked) as vllm:
        engine = OpenAIEngine([proxy.url + "/v1", vllm.url + "/v1"])
        assert engine.served_model == "prox-doc@/models/doc-v1"
        outs = engine.generate([GenerationRequest([1, 2, 3], 4) for _ in range(4)])
    assert [o.text for o in outs] == ["keep_doc()"] * 4


def test_a_server_ignoring_the_grammar_is_counted_and_named(caplog):
    """A server that ignores ``structured_outputs`` (a vLLM from before it, which took
    ``guided_regex``; another OpenAI-compatible server) answers constrained requests with
    HTTP 200 and free text: no visible signal but a high program failure rate. The engine
    counts the completions outside their grammar and warns once, naming the server."""
    import logging

    from prox_tasks.inference.openai_engine import GRAMMAR_SAMPLE

    asked: list[tuple[str, str]] = []
    with _model_server([DOC_CARD], asked, text="I think keep_doc()") as server:
        engine = OpenAIEngine([server.url + "/v1"])
        with caplog.at_level(logging.WARNING, logger="prox_tasks.inference.openai_engine"):
            regex = r"(keep_doc|drop_doc)\(\)"
            engine.generate([GenerationRequest([1, 2, 3], 4, regex) for _ in range(3)])
            engine.generate([GenerationRequest([1, 2, 3], 4, regex)])
            engine.generate([GenerationRequest([1, 2, 3], 4)])  # unconstrained: not counted
    assert engine.stats["outside_grammar"] == engine.stats["grammar_checked"] == 4
    first = server.url
    with _model_server([DOC_CARD], asked, text="I think keep_doc()") as server:
        sampled = OpenAIEngine([server.url + "/v1"])
        sampled.generate([GenerationRequest([1, 2, 3], 4, regex) for _ in range(40)])
    # a sample (a chunk's regex compiles in 2-6 ms): the count says of how many, not of 40
    assert sampled.stats["outside_grammar"] == sampled.stats["grammar_checked"] == GRAMMAR_SAMPLE
    warnings = [r.getMessage() for r in caplog.records if "grammar" in r.getMessage()
                and first in r.getMessage()]  # fmt: skip
    assert len(warnings) == 1  # once per engine
    assert "structured_outputs" in warnings[0] and "--no-constrained" in warnings[0]


def test_a_server_that_comes_back_is_grammar_checked_on_its_own_sample():
    """The grammar sample is each server's first :data:`GRAMMAR_SAMPLE` completions, as
    the engine sees each server: one that only starts answering once another has answered
    its sample (down at first, or added to a long-lived worker's pool) is checked too, so a
    server ignoring ``structured_outputs`` that comes back later is still counted."""
    import json

    from prox_tasks.inference.openai_engine import GRAMMAR_SAMPLE
    from tests.loopback_http import LoopbackHTTPServer, Response

    down = {"yes": True}

    def late(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"object": "list", "data": [DOC_CARD]}).encode(),
                            {"Content-Type": "application/json"})
        if down["yes"]:  # not serving yet: each request it is sent moves to the other
            return Response(503, b"{}", {"Content-Type": "application/json"})
        return Response(200, text_completion("I think keep_doc()"),
                        {"Content-Type": "application/json"})

    regex = r"(keep_doc|drop_doc)\(\)"
    asked: list[tuple[str, str]] = []
    with _model_server([DOC_CARD], asked) as first, LoopbackHTTPServer(late) as second:
        engine = OpenAIEngine([first.url + "/v1", second.url + "/v1"], backoff=0.01,
                              max_backoff=0.05, max_retries=20)
        engine.generate([GenerationRequest([1, 2, 3], 4, regex) for _ in range(40)])
        assert engine.stats["grammar_checked"] == GRAMMAR_SAMPLE  # all the first's, inside
        assert engine.stats.get("outside_grammar", 0) == 0
        down["yes"] = False
        engine.generate([GenerationRequest([1, 2, 3], 4, regex) for _ in range(40)])
    late_answers = engine.stats["grammar_checked"] - GRAMMAR_SAMPLE
    assert late_answers > 0  # the second's completions are a sample of their own
    assert engine.stats["outside_grammar"] == late_answers


def test_the_engine_builds_its_tls_context_once_not_per_call_and_server(monkeypatch):
    """Each engine call built one HTTP client per server, each loading the CA bundle
    (~80 ms of CPU a client here: over a second a batch for a pool of 8, twice a batch).
    The TLS context is built once per engine and shared (SSL_CERT_FILE still read)."""
    import ssl

    built = []
    real = ssl.create_default_context

    def counted(*args, **kwargs):  # a spy: the real context is built and used
        built.append(args or kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    asked: list[tuple[str, str]] = []
    with _model_server([DOC_CARD], asked) as one, _model_server([DOC_CARD], asked) as two:
        engine = OpenAIEngine([one.url + "/v1", two.url + "/v1"])
        for _ in range(3):
            engine.generate([GenerationRequest([1, 2, 3], 4) for _ in range(4)])
    assert len(asked) == 12 and len(built) == 1


def test_an_openai_snapshot_refined_before_served_models_resumes_with_nothing_changed(
        tiny_model, tmp_path, monkeypatch, capsys):  # fmt: skip
    """Since the served names count in a snapshot's settings (``served_models``), a plain
    rerun of an openai snapshot refined by the prox before (its shards and claim recorded
    without them) was refused — ``served_models None -> {...}`` — and only ``--force``
    (every shard on the GPUs again) got past it. Such a request is now the same request;
    the shards refined after record it in the snapshot's one form (the gate's
    ``refine_settings`` stays 1), and a changed name is still refused."""
    import json
    from pathlib import Path

    from prox_tasks.cli import main
    from prox_tasks.corpus import status_uri
    from prox_tasks.refine.claim import claim_uri
    from prox_tasks.refine.step import shard_request

    monkeypatch.setenv("PROX_OPENAI_DOC_MODEL", "prox-doc")
    monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk")
    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(4))
    with _model_server([DOC_CARD, CHUNK_CARD], []) as gateway:
        args = ["refine", "--input", str(docs), "--output", str(out), "--model",
                str(tiny_model), "--backend", "openai", "--servers", gateway.url + "/v1",
                "--shards", "2", "--no-progress"]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
        # as the prox before served_models left it: both records and the claim in the old
        # form, shard 1 not yet published (the run was stopped)
        status = [Path(status_uri(str(out), i).removeprefix("file://")) for i in (0, 1)]
        claim = Path(claim_uri(str(out)).removeprefix("file://"))
        new = json.loads(status[0].read_text())["request"]
        old = shard_request(new["model"], "openai", {}, None, None).before_served
        assert old is not None and "served_models" not in old and old != new
        for path in (status[0], claim):
            record = json.loads(path.read_text())
            record["request"] = old
            path.write_text(json.dumps(record))
        status[1].unlink()
        assert main(args) == 0, capsys.readouterr().err  # before: SettingsConflict
        assert [json.loads(p.read_text())["request"] for p in status] == [old, old]
        # another model named by option is another request (one named by a variable is
        # not: the prox before did not record those names, so its shards cannot tell)
        assert main([*args, "--chunk-served-model", "prox-chunk-v2"]) == 1
        assert "other settings" in capsys.readouterr().err


def test_a_snapshot_refined_with_no_served_name_resumes_with_the_served_model_named(
        tiny_model, tmp_path, monkeypatch, capsys):  # fmt: skip
    """A snapshot refined naming no served model (each level took the one model its pool
    listed) records no name in its settings: a rerun naming that model
    (``--doc-served-model``, ``PROX_OPENAI_DOC_MODEL``) was refused (``served_models None
    -> {...}``) instead of reusing the finished shards. It is the same request when the
    shards' model_version says their pool served that name; the shards refined after record
    the snapshot's one form, and a rerun naming another model is still refused."""
    import json
    from pathlib import Path

    from prox_tasks.cli import main
    from prox_tasks.corpus import status_uri
    from prox_tasks.refine.claim import claim_uri

    for name in ("PROX_OPENAI_DOC_MODEL", "PROX_OPENAI_CHUNK_MODEL"):
        monkeypatch.delenv(name, raising=False)
    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(4))
    status = [Path(status_uri(str(out), i).removeprefix("file://")) for i in (0, 1)]
    claim = Path(claim_uri(str(out)).removeprefix("file://"))
    with _model_server([DOC_CARD], []) as pool:
        args = ["refine", "--input", str(docs), "--output", str(out), "--model",
                str(tiny_model), "--backend", "openai", "--servers", pool.url + "/v1",
                "--shards", "2", "--no-progress"]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
        unnamed = json.loads(claim.read_text())["request"]
        assert "served_models" not in unnamed  # as the previous release recorded it too
        assert json.loads(status[0].read_text())["request"] == unnamed
        status[1].unlink()  # stopped before shard 1 was published
        capsys.readouterr()
        assert main([*args, "--doc-served-model", "prox-doc", "--json"]) == 0, \
            capsys.readouterr().err  # before: SettingsConflict  # fmt: skip
        summary = json.loads(capsys.readouterr().out)
        assert (summary["shards_skipped"], summary["shards_refined"]) == (1, 1), summary
        assert [json.loads(p.read_text())["request"] for p in status] == [unnamed] * 2
        assert json.loads(claim.read_text())["request"] == unnamed
        monkeypatch.setenv("PROX_OPENAI_DOC_MODEL", "prox-doc")
        assert main(args) == 0, capsys.readouterr().err
        monkeypatch.delenv("PROX_OPENAI_DOC_MODEL")
    other = dict(DOC_CARD, id="prox-doc-v2", root="/models/doc-v2")
    with _model_server([DOC_CARD, other], []) as pool:
        renamed = [a if a != args[args.index("--servers") + 1] else pool.url + "/v1"
                   for a in args]  # fmt: skip
        # the shards were refined with prox-doc: naming another model is another request
        assert main([*renamed, "--doc-served-model", "prox-doc-v2"]) == 1
        err = capsys.readouterr().err
        assert "other settings" in err and "served openai:prox-doc@/models/doc-v1" in err, err


def test_a_snapshot_refined_with_a_served_name_resumes_with_none_from_a_pool_of_that_model(
        tiny_model, tmp_path, monkeypatch, capsys):  # fmt: skip
    """The reverse of the test above: a snapshot refined with ``--doc-served-model
    prox-doc`` records the name, and a rerun naming none against the same pool (which lists
    that one model) was refused (``served_models {...} -> None``). The rerun now takes the
    snapshot's name when the level's pool lists that one model; a pool serving another
    model is still refused, saying which name to give."""
    import json
    from pathlib import Path

    from prox_tasks.cli import main
    from prox_tasks.corpus import status_uri
    from prox_tasks.refine.claim import claim_uri

    for name in ("PROX_OPENAI_DOC_MODEL", "PROX_OPENAI_CHUNK_MODEL"):
        monkeypatch.delenv(name, raising=False)
    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(4))
    status = [Path(status_uri(str(out), i).removeprefix("file://")) for i in (0, 1)]
    claim = Path(claim_uri(str(out)).removeprefix("file://"))

    def args(url: str) -> list[str]:
        return ["refine", "--input", str(docs), "--output", str(out), "--model",
                str(tiny_model), "--backend", "openai", "--servers", url + "/v1",
                "--shards", "2", "--no-progress"]  # fmt: skip

    with _model_server([DOC_CARD], []) as pool:
        assert main([*args(pool.url), "--doc-served-model", "prox-doc"]) == 0, \
            capsys.readouterr().err  # fmt: skip
        named = json.loads(claim.read_text())["request"]
        assert named["served_models"] == {"doc": "prox-doc", "chunk": None}
        status[1].unlink()  # stopped before shard 1 was published
        capsys.readouterr()
        assert main([*args(pool.url), "--json"]) == 0, \
            capsys.readouterr().err  # before: SettingsConflict  # fmt: skip
        summary = json.loads(capsys.readouterr().out)
        assert (summary["shards_skipped"], summary["shards_refined"]) == (1, 1), summary
        assert [json.loads(p.read_text())["request"] for p in status] == [named] * 2
        assert json.loads(claim.read_text())["request"] == named
    other = dict(DOC_CARD, id="prox-doc-v2", root="/models/doc-v2")
    with _model_server([other], []) as pool:
        # with no name this pool's one model is another: not the snapshot's request
        assert main(args(pool.url)) == 1
        err = capsys.readouterr().err
        assert "other settings" in err and "--doc-served-model prox-doc " in err, err


@pytest.mark.parametrize(("version", "level", "name", "serves"), [
    ("openai:prox-doc@/models/doc-v1+causal_lm-f8170630d313", "doc", "prox-doc", True),
    ("openai:prox-doc+causal_lm-f8170630d313", "doc", "prox-doc", True),
    ("openai:prox-doc-v2@/models/doc-v2+causal_lm-f8170630d313", "doc", "prox-doc", False),
    ("openai:prox-doc2+causal_lm-f8170630d313", "doc", "prox-doc", False),
    # another model whose name continues the prefix with the separators themselves
    ("openai:prox-doc@v2@/models/doc-v2+causal_lm-f8170630d313", "doc", "prox-doc", False),
    ("openai:prox-doc+x@/models/x+causal_lm-f8170630d313", "doc", "prox-doc", False),
    ("openai:prox-doc@v2@/models/doc-v2+causal_lm-f8170630d313", "doc", "prox-doc@v2", True),
    ("openai:doc=d@/m/d+chunk=c@/m/c+causal_lm-f8170630d313", "doc", "d", True),
    ("openai:doc=d@/m/d+chunk=c@/m/c+causal_lm-f8170630d313", "chunk", "c", True),
    ("openai:doc=d@/m/d+chunk=c@/m/c+causal_lm-f8170630d313", "chunk", "d", False),
    ("openai:doc=d-v2@/m/d+chunk=c@/m/c+causal_lm-f8170630d313", "doc", "d", False),
    ("causal_lm-f8170630d313", "doc", "prox-doc", False),
])
def test_a_version_serves_a_name_whole_not_one_it_begins_with(version, level, name, serves):
    """``version_serves`` tells a shard refined with no served name from one refined with
    another model: a name another begins with (``prox-doc`` of ``prox-doc-v2``, or of
    ``prox-doc@v2`` served from weights of its own) is no match."""
    from prox_tasks.inference.loading import version_serves

    assert version_serves(version, level, name) is serves


def test_prox_refine_says_how_many_completions_were_outside_their_grammar(tiny_model, tmp_path,
                                                                          capsys):
    """The engine counted completions outside their grammar (a server ignoring
    ``structured_outputs``), but neither ``prox refine``'s summary nor its ``--json`` said
    so: only a high program failure rate showed it. Both count them now (and failed and
    rejected requests, when any), and of how many checked: the check is of a sample (each
    server's first 32), and the count alone read as one of every completion."""
    import json

    from prox_tasks.cli import main
    from prox_tasks.cli.refine_cmd import summary_line

    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    with _model_server([DOC_CARD], [], text="I think keep_doc()") as server:
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--servers", server.url + "/v1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    outside = summary["completions_outside_grammar"]
    assert outside >= 3 and summary["requests_failed"] == summary["requests_rejected"] == 0
    checked = summary["completions_grammar_checked"]
    assert checked == outside  # this server answers each outside its grammar
    assert f", {outside} completions outside their grammar (of {checked} checked)" in \
        summary_line(summary)  # fmt: skip


def test_prox_refine_counts_replies_past_their_cap_apart(tiny_model, tmp_path, monkeypatch,
                                                          capsys):
    """A reply past its size cap (PROX_MAX_REPLY_BYTES) was counted only among the failed
    requests (the engine's own ``oversized`` went nowhere): a broken or hostile server
    looked like a flaky one. Each shard's usage, the run's totals (``replies_oversized``)
    and the summary line count them apart now."""
    import json

    from prox_tasks.cli import main
    from prox_tasks.cli.refine_cmd import summary_line

    monkeypatch.setenv("PROX_MAX_REPLY_BYTES", "4096")
    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, short_docs(3))
    with _model_server([DOC_CARD], [], text="keep_doc()" + " " * 8192) as server:
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--servers", server.url + "/v1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    oversized = summary["replies_oversized"]
    assert oversized >= 3 and summary["requests_failed"] == oversized, summary
    assert summary["requests_rejected"] == 0
    assert (f"{oversized} requests failed ({oversized} with a reply past the size cap "
            "(PROX_MAX_REPLY_BYTES))") in summary_line(summary)
    usage = summary["results"][0]["stats"]["usage"]
    assert sum(level["oversized"] for level in usage.values()) == oversized


def test_prox_refine_counts_replies_with_no_completion_apart(tiny_model, tmp_path, capsys):
    """A document whose prompt a server answered with no completion on every try (HTTP 200,
    no choices) while it answered the others became a failed program, counted by the engine
    (``stats["malformed"]``) and nowhere else: the summary said only "requests failed", as
    for a flaky server. Each shard's usage, the run's totals (``replies_malformed``) and
    the summary line count them apart now, among the failed (not on top of them)."""
    from transformers import AutoTokenizer

    from prox_tasks.cli import main
    from prox_tasks.cli.refine_cmd import summary_line
    from tests.loopback_http import JSON, LoopbackHTTPServer, Response

    rows = short_docs(3)
    marker = rows[1]["text"].split("\n")[0][:40]  # in that document's prompts only
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    empty = json.dumps({"id": "c", "object": "text_completion", "choices": []}).encode()

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"data": [DOC_CARD]}).encode(), JSON)
        if marker in tokenizer.decode(json.loads(request.body)["prompt"]):
            return Response(200, empty, JSON)
        return Response(200, text_completion("keep_doc()"), JSON)

    docs = tmp_path / "in.jsonl"
    write_jsonl(docs, rows)
    with LoopbackHTTPServer(respond) as server:
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                     "--model", str(tiny_model), "--backend", "openai", "--no-progress",
                     "--servers", server.url + "/v1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    malformed = summary["replies_malformed"]
    assert malformed >= 1 and summary["requests_failed"] == malformed, summary
    assert summary["requests_rejected"] == summary["replies_oversized"] == 0
    assert (f"{malformed} request{'s' * (malformed > 1)} failed ({malformed} answered with "
            "no completion on every try)") in summary_line(summary), summary_line(summary)
    usage = summary["results"][0]["stats"]["usage"]
    assert sum(level["malformed"] for level in usage.values()) == malformed


def _stalling_server(answered: int, seen: dict):
    """A loopback server answering its first ``answered`` completions and holding every
    later one back until its client goes away (a stalled pool); ``seen`` counts
    ``stalled`` requests and those whose client then ``left`` (cancelled)."""
    import json

    from tests.loopback_http import LoopbackHTTPServer, Response

    seen.update(calls=0, stalled=0, left=0)
    # each request runs in its own thread: a bare += lost counts (read, a syscall in
    # client_gone(), then write), failing the test on a loaded machine
    counting = threading.Lock()

    def count(name: str) -> int:
        with counting:
            seen[name] += 1
            return seen[name]

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"object": "list", "data": [DOC_CARD]}).encode(),
                            {"Content-Type": "application/json"})
        if count("calls") > answered:
            count("stalled")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not request.client_gone():
                time.sleep(0.02)
            if request.client_gone():
                count("left")
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    return LoopbackHTTPServer(respond)


def test_a_stalled_pool_fails_the_shard_at_its_budget_and_cancels_its_requests():
    """A pool that accepts requests and never answers held a shard (and its Airflow task)
    until each request's timeout and retries ran out: 5 x 600 s a batch. With a shard budget,
    the call fails when the shard's time is spent, naming the budget and how to raise it, and
    its requests in flight are cancelled (their connections closed: vLLM aborts them)."""
    from prox_tasks.inference.base import shard_clock
    from prox_tasks.inference.openai_engine import ShardBudgetExceeded

    seen: dict = {}
    with _stalling_server(0, seen) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              api_key="sk-not-to-be-shown", shard_budget=1.5)
        assert engine.timeout == 600  # no request times out before the budget does
        started = time.monotonic()
        with shard_clock("7"), pytest.raises(ShardBudgetExceeded) as err:
            engine.generate([GenerationRequest([1, 2, i], 4) for i in range(3)])
        took = time.monotonic() - started
        gone_by = time.monotonic() + 5
        while seen["left"] < 3 and time.monotonic() < gone_by:
            time.sleep(0.05)
    assert 1.4 < took < 30, took  # at the budget, not at a request's 600 s timeout
    assert seen["stalled"] == seen["left"] == 3  # every request in flight was cancelled
    said = str(err.value)
    assert "shard 7 ran past its budget of 1.5 s" in said and "3 requests in flight" in said
    assert "--shard-budget" in said and "PROX_OPENAI_SHARD_BUDGET" in said
    assert "sk-not-to-be-shown" not in said
    assert isinstance(err.value, InferenceError)  # retried by the DAG, not failed for good
    # outside a shard (prox eval, calibration) no budget counts
    assert engine._budget_left() is None


def test_the_models_check_after_a_call_counts_inside_the_shard_budget():
    """The /v1/models check made after each call ran outside the shard budget with a
    timeout of its own (30 s): a server answering completions but holding its listing back
    overran the budget by 30 s a call. The check is inside the budget now: the shard fails
    at its budget, not 30 s later."""
    import json

    from prox_tasks.inference.base import shard_clock
    from prox_tasks.inference.openai_engine import ShardBudgetExceeded
    from tests.loopback_http import LoopbackHTTPServer, Response

    listed = []

    def respond(request):
        if request.path.endswith("/models"):
            listed.append(time.monotonic())
            if len(listed) > 1:  # after the load: held back until the client goes away
                deadline = time.monotonic() + 40
                while time.monotonic() < deadline and not request.client_gone():
                    time.sleep(0.02)
            return Response(200, json.dumps({"data": [DOC_CARD]}).encode(),
                            {"Content-Type": "application/json"})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], shard_budget=1.5)
        started = time.monotonic()
        with shard_clock("3"), pytest.raises(ShardBudgetExceeded, match="shard 3 ran past"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        took = time.monotonic() - started
    # at the budget (1.5 s), not 30 s past it (the check's own timeout): seconds of slack,
    # calls of 3.2 s were seen under a load of 11
    assert len(listed) == 2 and 1.4 < took < 15, (listed, took)


def _unreachable_url():
    """A base URL whose connections hang unanswered, as a crashed node's address does (no
    RST, SYNs dropped): a listening socket that never accepts, its queue filled. Returns
    (url, the sockets to close)."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(0)
    port = held.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)
    return f"http://127.0.0.1:{port}/v1", [held, *fillers]


def test_a_pool_server_whose_address_does_not_answer_is_left_within_seconds():
    """A node of the pool crashed (its address drops connections: no refusal) held every
    request sent to it for the whole request timeout (600 s by default) before it was
    cooled down and the request retried on the live servers: a shard stalled ten minutes,
    or failed its budget. Connecting has a timeout of its own now (seconds), so the
    requests move to the live server quickly."""
    from prox_tasks.inference.base import shard_clock
    from prox_tasks.inference.openai_engine import CONNECT_TIMEOUT

    assert CONNECT_TIMEOUT <= 10
    url, sockets = _unreachable_url()
    try:
        with _model_server([DOC_CARD], []) as live:
            engine = OpenAIEngine([url, live.url + "/v1"], model_name="prox-doc",
                                  max_model_len=512, shard_budget=60)  # fmt: skip
            assert engine.timeout == 600
            started = time.monotonic()
            with shard_clock("1"):
                out = engine.generate([GenerationRequest([1, 2, i], 4) for i in range(4)])
            took = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    assert [o.text for o in out] == ["keep_doc()"] * 4
    assert took < 2 * CONNECT_TIMEOUT + 10, took  # without: the budget, 60 s
    assert engine.stats["retries"] >= 1


def test_the_shard_budget_comes_from_prox_openai_shard_budget_and_is_checked(monkeypatch):
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512).shard_budget is None
    monkeypatch.setenv("PROX_OPENAI_SHARD_BUDGET", "3600")
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512).shard_budget == 3600
    assert OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512,
                        shard_budget=60).shard_budget == 60  # an explicit option wins
    monkeypatch.setenv("PROX_OPENAI_SHARD_BUDGET", "an hour")
    with pytest.raises(ValueError, match="PROX_OPENAI_SHARD_BUDGET='an hour' is not a number of "
                       "seconds above 0"):
        OpenAIEngine(["http://x:1/v1"], model_name="m", max_model_len=512)


def test_prox_refine_past_its_shard_budget_publishes_nothing_and_a_retry_resumes(
        tiny_model, tmp_path, capsys):  # fmt: skip
    """Through prox refine: the shard fails at its budget, nothing of it is published, the
    batches refined before are checkpointed, and a rerun on a pool that answers resumes from
    them; the budget is no setting of the snapshot (the rerun without it is the same
    request)."""
    import json

    from prox_tasks.cli import main

    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(6))
    args = ["refine", "--input", str(docs), "--output", str(out), "--model", str(tiny_model),
            "--backend", "openai", "--no-progress", "--checkpoint-every", "2"]
    seen: dict = {}
    # 2 documents a batch, each asked at both levels: the first batch is answered (well
    # within the budget, also on a loaded machine), the second stalls
    with _stalling_server(4, seen) as server:
        assert main([*args, "--servers", server.url + "/v1", "--shard-budget", "6"]) == 1
    err = capsys.readouterr().err
    assert "ran past its budget of 6 s" in err and "--shard-budget" in err, err
    assert not list((out / "_status").glob("*.json")) and not list(out.glob("shards/*"))
    assert list(out.rglob("_checkpoints/*"))  # the first batch is kept for the retry
    with _model_server([DOC_CARD], []) as healthy:
        assert main([*args, "--servers", healthy.url + "/v1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    resumed = [r["stats"]["docs_resumed"] for r in summary["results"]]
    assert resumed == [2] and summary["docs_written"] == 6, summary
    from prox_tasks.refine.step import shard_request

    # no setting of the snapshot: its digest is the same with a budget as without
    assert shard_request("m", "openai", {"shard_budget": 5}, None, None) == shard_request(
        "m", "openai", {}, None, None)


def test_an_openai_shard_reads_the_folders_claim_once_not_twice(tiny_model, s3_bucket,
                                                                count_gets, monkeypatch,
                                                                capsys):  # fmt: skip
    """A shard refined on openai with served names read the folder's settings claim twice:
    once before refining, to record its request in the claim's form (a snapshot claimed by
    a prox before ``served_models``), and again at its publish. The publish's check reads it
    once and says which form to record (the form itself is checked by
    test_an_openai_snapshot_refined_before_served_models_resumes_with_nothing_changed)."""
    import json

    from prox_tasks.cli import main
    from prox_tasks.refine.claim import SETTINGS_CLAIM_NAME
    from prox_tasks.storage import put_atomic

    monkeypatch.setenv("PROX_OPENAI_DOC_MODEL", "prox-doc")
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(4))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    shards = 4
    with _model_server([DOC_CARD], []) as server:
        count_gets.clear()
        assert main(["refine", "--input", f"{s3_bucket}/in/", "--output", f"{s3_bucket}/out",
                     "--model", str(tiny_model), "--backend", "openai", "--servers",
                     server.url + "/v1", "--shards", str(shards), "--no-progress"]) == 0, \
            capsys.readouterr().err  # fmt: skip
    reads = count_gets[f"out/{SETTINGS_CLAIM_NAME}"]
    # two for the run, then one a shard (at its publish): 10 before
    assert reads == shards + 2, count_gets


def test_a_server_restarted_with_a_shorter_context_is_caught_after_the_call():
    """vLLM's /v1/models tells the weights only by ``root`` (the path or id it loaded;
    ``created`` is the time of the listing, ``owned_by`` always "vllm"), and the context by
    ``max_model_len``. A server restarted with a shorter ``--max-model-len`` refused every
    prompt fitted to the old one as too long, each a failed document published unrefined;
    the call is refused now, and the retry fits the prompts to the pool. A longer context,
    or a listing that differs only in its time, is no change."""
    from prox_tasks.inference.openai_engine import ServedModelChanged

    card = dict(DOC_CARD, created=1, owned_by="vllm")
    with _model_server([card], []) as server:
        url = server.url + "/v1"
        engine = OpenAIEngine([url])
        assert engine.max_model_len == 1024
        card.update(created=2, max_model_len=4096)  # listed later; restarted with more
        assert engine.generate([GenerationRequest([1, 2, 3], 4)])[0].text == "keep_doc()"
        card["max_model_len"] = 512
        with pytest.raises(ServedModelChanged, match=rf"{url} now serves 'prox-doc' with a "
                           r"context of 512 tokens, not 1024 .* fitted to 1024"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        assert OpenAIEngine([url]).max_model_len == 512  # what the retry fits prompts to


def test_batches_refined_before_the_pool_shortened_its_context_are_not_reused(tiny_model,
                                                                              tmp_path, capsys):
    """A server restarted with a shorter --max-model-len mid-shard failed the call
    (ServedModelChanged), and the retry reused the batches checkpointed before: refined
    with prompts cut and chunked for the longer context, beside batches cut for the shorter
    one, so a shard's rows depended on when the restart came. The context the prompts are
    fitted to is part of the checkpoints' fingerprint now: the retry refines the whole
    shard under the context served; a rerun under the same context still resumes."""
    import json

    from prox_tasks.cli import main
    from tests.loopback_http import LoopbackHTTPServer, Response

    card = dict(DOC_CARD)
    completions = []
    counting = threading.Lock()

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"data": [card]}).encode(),
                            {"Content-Type": "application/json"})
        with counting:
            completions.append(1)
            if len(completions) > 4:  # 2 documents a batch, at both levels: after batch 1
                card["max_model_len"] = 512
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(6))
    with LoopbackHTTPServer(respond) as server:
        args = ["refine", "--input", str(docs), "--output", str(out), "--model",
                str(tiny_model), "--backend", "openai", "--no-progress", "--checkpoint-every",
                "2", "--servers", server.url + "/v1", "--json"]  # fmt: skip
        assert main(args) == 1
        assert "with a context of 512 tokens, not 1024" in capsys.readouterr().err
        assert len(list(out.rglob("_checkpoints/*/*"))) == 1  # batch 1, under 1024
        assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["stats"]["docs_resumed"] for r in summary["results"]] == [0], summary
    assert summary["docs_written"] == 6


def test_a_server_down_at_load_and_back_with_a_shorter_context_is_caught():
    """A server of the pool that did not answer /v1/models at load (down, restarting) had
    no context on record, so the check after each call let it through when it came back
    with a shorter --max-model-len than the prompts are fitted to: it refused them as too
    long, each a failed document published unrefined. It is measured against the prompts'
    context now."""
    import json

    from prox_tasks.inference.openai_engine import ServedModelChanged
    from tests.loopback_http import LoopbackHTTPServer, Response

    back = {"up": False}

    def respond(request):
        if not back["up"]:
            return Response(503, b"{}", {"Content-Type": "application/json"})
        if request.path.endswith("/models"):
            card = dict(DOC_CARD, max_model_len=512)
            return Response(200, json.dumps({"data": [card]}).encode(),
                            {"Content-Type": "application/json"})
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with _model_server([DOC_CARD], []) as up, LoopbackHTTPServer(respond) as late:
        url = late.url + "/v1"
        engine = OpenAIEngine([up.url + "/v1", url])
        assert engine.max_model_len == 1024  # the one server that answered
        back["up"] = True
        with pytest.raises(ServedModelChanged, match=rf"{url} now serves 'prox-doc' with a "
                           r"context of 512 tokens, and did not answer when the model was "
                           r"loaded: the prompts, fitted to 1024"):
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        assert OpenAIEngine([up.url + "/v1", url]).max_model_len == 512  # the retry's


def _not_an_api(request):
    from tests.loopback_http import Response

    return Response(200, b"<html><body>Welcome</body></html>", {"Content-Type": "text/html"})


def _api_at_root_wanting_a_key(request):
    """A vLLM-like server started with --api-key: its API under /v1, 404 elsewhere."""
    import json

    from tests.loopback_http import Response

    if request.headers.get("Authorization") != "Bearer the-right-key":
        return Response(401, b'{"error": "Unauthorized"}', {"Content-Type": "application/json"})
    if request.path == "/v1/models":
        return Response(200, json.dumps({"data": [DOC_CARD]}).encode(),
                        {"Content-Type": "application/json"})
    return Response(404, b'{"detail": "Not Found"}', {"Content-Type": "application/json"})


#: A pool pointed at wrongly: (how the server answers, its URL's suffix, the key sent, what
#: the message must tell the user to do, the exit code: 2 for a setting to fix, 1 for what
#: a rerun may get past).
WRONG_POOLS = {
    "down": (None, "/v1", "the-right-key", "nothing answers there: start the server", 1),
    "no /v1": (_api_at_root_wanting_a_key, "", "the-right-key",
               "give the base URL with its /v1", 2),
    "wrong key": (_api_at_root_wanting_a_key, "/v1", "sk-MarkerWrongKey4242",
                  "set PROX_OPENAI_API_KEY to the key it was started with", 2),
    # a gateway's error page may be gone on the retry
    "another service": (_not_an_api, "/v1", "the-right-key",
                        "check the URL in --servers", 1),
}


@pytest.mark.parametrize("case", sorted(WRONG_POOLS))
def test_a_pool_pointed_at_wrongly_fails_the_shard_saying_what_to_do(case, tiny_model, tmp_path,
                                                                     monkeypatch, capsys):
    """A wrong URL, a server that is down, a wrong key: prox refine said 'Client error '401
    Unauthorized' for url ...' with a link to a page on HTTP statuses, or 'Expecting value:
    line 1 column 1', and not what to do. Each now says what to do; the key is never shown,
    and the shard is failed, nothing of it published."""

    from prox_tasks.cli import main
    from tests.loopback_http import LoopbackHTTPServer

    respond, suffix, key, advice, code = WRONG_POOLS[case]
    monkeypatch.setenv("PROX_OPENAI_API_KEY", key)
    docs, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_jsonl(docs, short_docs(2))

    def refine(url: str) -> int:
        return main(["refine", "--input", str(docs), "--output", str(out), "--model",
                     str(tiny_model), "--backend", "openai", "--servers", url, "--no-progress"])

    if respond is None:
        assert refine(_dead_url()) == code
    else:
        with LoopbackHTTPServer(respond) as server:
            assert refine(server.url + suffix) == code
    err = capsys.readouterr().err
    assert "shard 0 of 1 failed" in err and advice in err, err
    assert ("retrying cannot help" in err) == (code == 2), err
    assert key not in err and "developer.mozilla.org" not in err
    assert not list((out / "_status").glob("*.json")) and not list(out.glob("shards/*"))


def test_a_server_refusing_the_key_mid_run_says_what_to_do():
    """The key rotated on the server after the load: the request fails at once, saying so."""
    from tests.loopback_http import LoopbackHTTPServer

    with LoopbackHTTPServer(_api_at_root_wanting_a_key) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              api_key="sk-MarkerWrongKey4242")
        with pytest.raises(PoolMisconfigured, match=r"refused the request: HTTP 401 .*set "
                                                    r"PROX_OPENAI_API_KEY") as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
    assert "sk-MarkerWrongKey4242" not in str(err.value)
    down = OpenAIEngine([_dead_url()], model_name="m", max_model_len=512, max_retries=1,
                        backoff=0.01)
    with pytest.raises(InferenceError, match=r"failed 2 times \(nothing answers there"):
        down.generate([GenerationRequest([1, 2, 3], 4)])



def _reset_before_answer(conn, _body, _n):
    from tests.loopback_http import reset_after

    reset_after(conn, b"")


def _closed_before_answer(conn, _body, _n):
    pass  # the server's socket closes with nothing written: a worker that died on it


def _reset_midway(conn, _body, _n):
    from tests.loopback_http import reset_after

    full = text_completion()
    reset_after(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                b"%d\r\n\r\n%s" % (len(full), full[:30]))


def _stalled_midway(conn, _body, _n):
    full = text_completion()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 b"%d\r\n\r\n%s" % (len(full), full[:30]))
    # half a body sent, then nothing until the client gives up (its 0.5 s request timeout)
    # and hangs up: a fixed sleep closed the socket after 1.5 s, which a client a loaded
    # machine kept from its timeout that long read as an answer cut off, not a stall
    conn.settimeout(60)
    try:
        conn.recv(1)  # b"" once the client closed its end
    except OSError:
        pass


#: A transport failure produced for real: (how the raw socket server answers, what the
#: advice must say, what the error must name of the cause below "Connection error.").
TRANSPORT_FAILURES = {
    "refused": (None, "nothing answers there", "[Errno 111]"),
    "reset before the answer": (_reset_before_answer, "dropped it without an answer",
                                "ReadError: [Errno 104] Connection reset by peer"),
    "closed before the answer": (_closed_before_answer, "dropped it without an answer",
                                 "Server disconnected without sending a response"),
    "reset midway": (_reset_midway, "answer was cut off midway",
                     "ReadError: [Errno 104] Connection reset by peer"),
    # the request's whole timeout (0.5 s from its start) ends before httpx's read timeout
    # (0.5 s from the last byte read)
    "stalled midway": (_stalled_midway, "did not answer in time", "RequestTimedOut"),
}


@pytest.mark.parametrize("case", sorted(TRANSPORT_FAILURES))
def test_a_transport_failure_is_told_by_its_real_cause(case):
    """Every transport failure of the SDK's client (httpx2 under openai, its errors wrapped
    as APIConnectionError "Connection error." or, mid-body, ReplyCutOff) said "nothing
    answers there: start the server" — for a server that took the connection and reset it,
    or cut its answer off, or stalled past the timeout midway. Each now says what it is,
    with the operating system's reason."""
    from tests.loopback_http import raw_socket_server

    answer, advice, cause = TRANSPORT_FAILURES[case]

    def fail(url: str) -> str:
        engine = OpenAIEngine([url], model_name="m", max_model_len=512, max_retries=0,
                              backoff=0.01, timeout=0.5)  # fmt: skip
        with pytest.raises(InferenceError) as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        return str(err.value)

    if answer is None:
        said = fail(_dead_url())
    else:
        with raw_socket_server(answer) as url:
            said = fail(f"{url}/v1")
    assert advice in said and cause in said, said
    assert ("nothing answers there" in said) == (case == "refused"), said


def test_a_pool_nothing_answers_for_names_the_urls_tried_and_says_what_to_do_once():
    """Nothing listening on two loopback ports: the load said "no server of the pool answered
    /models: URL: … (nothing answers there: …); URL: … (nothing answers there: …)": a path
    prox asks on, which no user set and which reads as the server lacking it, and the same
    advice once per server. It names each URL as given, why, and what to do once."""
    dead = [_dead_url(), _dead_url()]
    with pytest.raises(InferenceError) as failed:
        OpenAIEngine(dead, max_retries=0)
    said = str(failed.value)
    assert said.startswith(f"no server of the pool answered: {dead[0]} (ConnectError: "), said
    assert all(f"{url} (ConnectError: [Errno 111]" in said for url in dead), said
    assert said.endswith("): nothing answers there: start the server (vllm serve), or fix "
                         "the host and port in --servers (PROX_OPENAI_SERVERS)"), said
    assert said.count("nothing answers there") == 1 and "/models" not in said, said


def test_an_https_url_to_a_plain_http_server_says_so_not_that_nothing_answers():
    """``https://`` given for a server that speaks plain HTTP: the TLS handshake fails under
    a ConnectError, which was said "nothing answers there: start the server" — of a server
    that is up and answering."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    with LoopbackHTTPServer(lambda request: Response(404, b"{}", {})) as server:
        with pytest.raises(InferenceError) as failed:
            OpenAIEngine([f"https://127.0.0.1:{server.port}/v1"], max_retries=0)
    said = str(failed.value)
    assert "nothing answers there" not in said, said
    assert said.endswith("): the TLS handshake failed: check that the server speaks https:// "
                         "at that port (else give http://) in --servers "
                         "(PROX_OPENAI_SERVERS)"), said


def test_a_host_name_that_does_not_resolve_is_named_at_load():
    """/models, asked with httpx itself: a host that does not resolve was "nothing answers
    there" after "ConnectError: All connection attempts failed"; now the host name is named
    the cause ('.invalid' never resolves, RFC 2606)."""
    with pytest.raises(InferenceError, match=r"no server of the pool answered: .*"
                       r"ConnectError: \[Errno -?\d+\].*\): the host name does not resolve"):
        OpenAIEngine(["http://no-such-host.invalid:8000/v1"], max_retries=0)


def test_a_reply_past_its_cap_is_that_documents_program_error_not_read_whole():
    """A reply body was read whole, however large: a broken or hostile server's gigabytes
    held in memory, then a shard lost. A body going on past its cap (``reply_cap`` of the
    tokens asked for) is read no further: that document's completion is an error (its
    program error), not retried; its neighbours' as they were. A raw socket server: it
    streams a body with no Content-Length until the client hangs up (at most 64 MiB)."""
    from tests.loopback_http import raw_socket_server

    sent = []

    def answer(conn, body, _n):
        header = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if json.loads(body)["prompt"][0] != 1:
            full = text_completion()
            conn.sendall(header + b"Content-Length: %d\r\n\r\n" % len(full) + full)
            return
        conn.sendall(header + b"Connection: close\r\n\r\n" + text_completion()[:-2])
        total, block = 0, b"x" * 65536
        try:
            while total < 64 * 2**20:
                conn.sendall(block)
                total += len(block)
        except OSError:
            pass  # the client hung up
        sent.append(total)

    with raw_socket_server(answer) as url:
        engine = OpenAIEngine([f"{url}/v1"], model_name="m", max_model_len=512,
                              backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([k, 5], 4) for k in (1, 2)])
    assert [(c.text, c.finish_reason) for c in out] == [("", "error"), ("keep_doc()", "stop")]
    # "error": no output, counted as the rejected prompt's (the refine's failed requests):
    # that document's program error, not the shard's
    assert engine.stats["oversized"] == 1 and engine.stats["retries"] == 0
    assert sent and sent[0] < 64 * 2**20  # the client stopped reading long before


def test_the_reply_cap_comes_from_prox_max_reply_bytes_and_is_checked(monkeypatch):
    """``PROX_MAX_REPLY_BYTES`` sets the cap in bytes whatever the tokens asked for (a
    reply over it is that document's error); one that is no positive number fails at load."""
    from tests.loopback_http import LoopbackHTTPServer, Response

    def respond(request):
        return Response(200, text_completion(), {"Content-Type": "application/json"})

    with LoopbackHTTPServer(respond) as server:
        monkeypatch.setenv("PROX_MAX_REPLY_BYTES", "100")  # a completion is ~200 bytes
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              backoff=0.01)  # fmt: skip
        out = engine.generate([GenerationRequest([1, 2], 4)])
        assert out[0].finish_reason == "error" and engine.stats["oversized"] == 1
        monkeypatch.setenv("PROX_MAX_REPLY_BYTES", "lots")
        with pytest.raises(ValueError, match="PROX_MAX_REPLY_BYTES='lots'"):
            OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512)


def test_a_long_message_keeps_the_transport_cause_behind_it():
    """``_said`` cut its whole line at 300 characters, so a long message (one quoting a
    request or a reply) lost the transport error named after it, which says what to fix;
    now the quoted message is cut in its middle, as prox's other quotes are
    (:func:`prox_tasks.wording.shortened`), and the cause stays."""
    import httpx

    from prox_tasks.inference.openai_engine import _said

    refused = OSError(111, "Connection refused")
    try:
        try:
            raise httpx.ConnectError("All connection attempts failed") from refused
        except httpx.ConnectError as cause:
            raise RuntimeError("request " + "x" * 600 + " failed") from cause
    except RuntimeError as err:
        said = _said(err)
    assert said.endswith("(ConnectError: [Errno 111] Connection refused)"), said
    assert "request xxx" in said and " failed (" in said and len(said) < 300


def test_a_pool_s_advice_names_what_set_it_not_always_servers(monkeypatch):
    """Every piece of the pool's advice named ``--servers (PROX_OPENAI_SERVERS)``, also for a
    pool a level's variable set (a DAG's workers: no option there to fix) or its own option:
    it names the setting that gave the servers, as the levels are resolved for loading."""
    from prox_tasks.inference.loading import _openai_levels

    monkeypatch.delenv("PROX_OPENAI_SERVERS", raising=False)
    monkeypatch.setenv("PROX_OPENAI_DOC_SERVERS", _dead_url())
    monkeypatch.setenv("PROX_OPENAI_CHUNK_SERVERS", _dead_url())
    cases = {"doc": ({}, "PROX_OPENAI_DOC_SERVERS"),
             "chunk": ({"chunk_servers": _dead_url()}, "--chunk-servers")}
    for level, (given, named) in cases.items():
        chosen = _openai_levels(given, {})[level]
        with pytest.raises(InferenceError) as failed:
            OpenAIEngine(**chosen, max_retries=0)
        said = str(failed.value)
        assert said.endswith(f"fix the host and port in {named}"), said
        assert "--servers" not in said, said
    monkeypatch.setenv("PROX_OPENAI_SERVERS", _dead_url())  # the shared variable, no option
    with pytest.raises(InferenceError, match=r"fix the host and port in PROX_OPENAI_SERVERS$"):
        OpenAIEngine(max_retries=0)


def _dripping(conn, _body, _n):
    drip_answer(conn)


def test_a_server_dripping_its_answer_fails_the_request_at_its_timeout_not_never():
    """httpx's timeout bounds each read, not a request: a server (or a wedged proxy) sending
    a byte every 0.2 s held a request with a 2 s timeout for as long as it dripped (a
    217-byte answer took 109 s; a never-ending one forever, the shard and its task with it).
    The whole exchange is now under the timeout: each try fails at it, retried, then the
    request fails naming the timeout and its setting; with on_failure="empty" it is that
    document's failed program."""
    from tests.loopback_http import raw_socket_server

    with raw_socket_server(_dripping) as url:
        engine = OpenAIEngine([f"{url}/v1"], model_name="m", max_model_len=512, max_retries=1,
                              backoff=0.01, timeout=2)  # fmt: skip
        began = time.monotonic()
        with pytest.raises(InferenceError) as err:
            engine.generate([GenerationRequest([1, 2, 3], 4)])
        took = time.monotonic() - began
        said = str(err.value)
        assert took < 30, took
        assert "failed 2 times" in said and "RequestTimedOut" in said, said
        assert "--request-timeout (PROX_OPENAI_TIMEOUT)" in said, said
        empty = OpenAIEngine([f"{url}/v1"], model_name="m", max_model_len=512, max_retries=0,
                             backoff=0.01, timeout=1, on_failure="empty")  # fmt: skip
        out = empty.generate([GenerationRequest([1, 2, 3], 4)])
    assert out[0].finish_reason == "error" and out[0].text == ""


def test_a_server_dripping_its_model_listing_is_a_server_not_answering(monkeypatch):
    """The same drip on ``/v1/models`` held the engine's load (and the check after each
    call) forever: the listing now has :data:`MODELS_TIMEOUT` in all, and a pool whose
    listings all drip fails to load, retriable, saying the server did not answer in time."""
    from prox_tasks.inference import openai_engine
    from tests.loopback_http import raw_socket_server

    def drip_listing(conn, _body, _n):
        _dripping(conn, b"", 0)

    monkeypatch.setattr(openai_engine, "MODELS_TIMEOUT", 1.0)  # 30 s in production
    with raw_socket_server(drip_listing) as url:
        began = time.monotonic()
        with pytest.raises(InferenceError) as err:
            OpenAIEngine([f"{url}/v1"], max_retries=0)
    assert time.monotonic() - began < 20
    said = str(err.value)
    assert not isinstance(err.value, cannot_succeed()), said
    assert "no server of the pool answered" in said and "did not answer in time" in said, said


def test_one_prompt_answered_with_no_completion_on_every_try_fails_its_document_not_the_shard():
    """A server (or a gateway's filter) answering one prompt with HTTP 200 and no choices,
    every time, while it answers the others: the request failed its tries, then the whole
    call with it, and the shard on every retry of it (the DAG's too), its other documents
    never refined, told as "check the URL". It is now that document's failed program,
    counted as ``malformed``; a server answering every request so (a proxy's page) still
    fails the call, retried as the pool's failure."""
    from tests.loopback_http import JSON, LoopbackHTTPServer, Response

    empty = json.dumps({"id": "c", "object": "text_completion", "choices": []}).encode()

    def respond(request):
        if json.loads(request.body)["prompt"] == [9, 9, 9]:
            return Response(200, empty, JSON)
        return Response(200, text_completion("drop_doc()"), JSON)

    requests = [GenerationRequest([1, 2, 3], 4), GenerationRequest([9, 9, 9], 4),
                GenerationRequest([4, 5, 6], 4)]  # fmt: skip
    with LoopbackHTTPServer(respond) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=2, backoff=0.01)  # fmt: skip
        out = engine.generate(requests)
    assert [c.text for c in out] == ["drop_doc()", "", "drop_doc()"]
    assert out[1].finish_reason == "error" and engine.stats["malformed"] == 1
    with LoopbackHTTPServer(lambda request: Response(200, empty, JSON)) as server:
        engine = OpenAIEngine([server.url + "/v1"], model_name="m", max_model_len=512,
                              max_retries=2, backoff=0.01)  # fmt: skip
        with pytest.raises(InferenceError, match="request failed 3 times"):
            engine.generate(requests)


def test_a_tokenizer_is_loaded_from_the_files_its_class_reads_or_refused(tiny_model, tmp_path):
    """A SentencePiece tokenizer saved as ``sentencepiece.bpe.model`` was refused at load as
    none (a fixed list of names), whatever its class: mBART's reads it. It loads now, and
    a folder whose class reads none of its files — transformers 5's XGLMTokenizer reads
    tokenizer.json alone, and built of its special tokens (11) would have written every
    prompt as unknown tokens — is refused, naming the class and the files it reads, as a
    damaged model (no retries, exit 2)."""
    from prox_tasks.models.artifact import TokenizerMissing
    from prox_tasks.pipeline.errors import cannot_succeed
    from tests.inference.helpers import sentencepiece_model_folder
    from tests.loopback_http import JSON, LoopbackHTTPServer, Response

    mbart = sentencepiece_model_folder(tmp_path / "mbart", tiny_model, "mbart", "MBartTokenizer")
    xglm = sentencepiece_model_folder(tmp_path / "xglm", tiny_model, "xglm", "XGLMTokenizer")
    listing = json.dumps({"data": [DOC_CARD]}).encode()
    with LoopbackHTTPServer(lambda request: Response(200, listing, JSON)) as server:
        refiner = load_backend("openai", str(mbart), servers=[server.url + "/v1"])
        tok = refiner.renderers["doc"].tokenizer
        assert len(tok) > 400 and tok.tokenize("the")[0] != tok.unk_token
        with pytest.raises(TokenizerMissing) as refused:
            load_backend("openai", str(xglm), servers=[server.url + "/v1"])
    said = str(refused.value)
    assert f"{xglm}: its tokenizer class, XGLMTokenizer, reads tokenizer.json, tokenizer.model, " \
        "none of which the folder holds (sentencepiece.bpe.model)" in said, said  # fmt: skip
    assert isinstance(refused.value, cannot_succeed())


def test_an_openai_model_folder_without_its_tokenizer_says_so_once_loaded(tiny_model, tmp_path):
    """The openai backend reads only the tokenizer of its model folder (checked before the
    plan too: tests/refine/test_options.py; here a folder that lost it since, or loaded
    directly): one copied without it failed each shard with
    transformers' "Couldn't instantiate the backend tokenizer ... You need to have
    sentencepiece or tiktoken installed", naming no folder, retried by the DAG in vain. It
    names the folder and the files now, as a damaged model (no retries, exit 2)."""
    import shutil

    from prox_tasks.models.artifact import TokenizerMissing
    from prox_tasks.pipeline.errors import cannot_succeed
    from tests.loopback_http import JSON, LoopbackHTTPServer, Response

    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    listing = json.dumps({"data": [DOC_CARD]}).encode()
    with LoopbackHTTPServer(lambda request: Response(200, listing, JSON)) as server:
        with pytest.raises(TokenizerMissing) as refused:
            load_backend("openai", str(folder), servers=[server.url + "/v1"])
    said = str(refused.value)
    assert f"{folder} holds no tokenizer (none of tokenizer.json" in said, said
    assert "Copy the model's tokenizer files" in said and isinstance(refused.value,
                                                                     cannot_succeed())

"""The llm teacher when its endpoint fails, against a fault injector (a loopback HTTP server
answering like a broken or misconfigured endpoint; the happy path against real vLLM is in
test_llm_vllm.py): an outage stops the labeling before anything is published, a prompt the
endpoint rejects rejects that document's label alone."""

from __future__ import annotations

import json

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.llm import TeacherUnavailable
from tests.loopback_http import JSON, LoopbackHTTPServer, Response, answering, chat_completion

ANSWER = chat_completion("```python\nkeep_doc()\n```")
#: A teacher's answers: a document's scores, a chunk's program, one no instruction model writes
SCORES = chat_completion("Educational score: 5\nFormat score: 5")
CHUNK = chat_completion("```python\nkeep_chunk()\n```")
UNSURE = chat_completion("I am not sure what you mean.")
FAULTS = {
    "503 after the retries": (503, b'{"error": "overloaded"}'),
    "a wrong key": (401, b'{"error": "bad key"}'),
    "a wrong model name": (404, b'{"error": "no such model"}'),
    "a cut-off body": (200, ANSWER[:50]),
    "a gateway page": (200, b"<html>upstream gone</html>"),
}
TEXT = "A first line of the page that says something.\nA second line with more words in it."


def _endpoint(status: int, body: bytes, seen: list) -> LoopbackHTTPServer:
    """Answers every request alike; ``Retry-After-Ms``: the client's retries do not wait."""
    server = answering(status, body, seen, {**JSON, "Retry-After-Ms": "1"})
    server.url += "/v1"
    return server


def _teacher(broken: bytes, asked: list | None = None) -> LoopbackHTTPServer:
    """Answers as a teacher: :data:`SCORES` to a document's request, ``broken`` to a chunk's
    request about the document with the word BROKEN, :data:`CHUNK` to the others; appends each
    request's ``max_tokens`` to ``asked``."""

    def respond(request):
        said = json.loads(request.body)
        if asked is not None:
            asked.append(said["max_tokens"])
        text = json.dumps(said["messages"]).lower()
        body = SCORES if "score" in text else broken if "broken" in text else CHUNK
        return Response(200, body, JSON)

    server = LoopbackHTTPServer(respond)
    server.url += "/v1"
    return server


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_endpoint_failure_stops_the_labeling_instead_of_rejecting_the_document(fault):
    seen: list = []
    with _endpoint(*FAULTS[fault], seen) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=1, timeout=10)
        with pytest.raises(TeacherUnavailable, match="endpoint failed a (doc|chunk) request"):
            teacher.label_many([TEXT] * 4)
    assert seen  # it did ask


def test_a_prompt_the_endpoint_rejects_rejects_that_label_alone():
    seen: list = []
    with _endpoint(400, b'{"error": "prompt longer than the context"}', seen) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=3, timeout=10)
        label = teacher.label(TEXT)
    assert "doc:request_failed:400" in label.meta["errors"]
    assert teacher.usage.to_dict()["retries"] == 0


def test_a_long_rejection_and_a_long_broken_answer_keep_their_ends_in_the_label():
    """A 400 whose 5 KB body says at its end where the request failed, and a 5 KB chunk
    answer whose bad call is its last line: the label's error details kept their first 300
    (the client's error) and 200 characters (the answer), where neither is. Both are cut in
    their middle now (wording.shortened): their start and their end stay."""
    where = "in messages[1].content at line 7, column 12"
    body = json.dumps({"error": "prompt rejected: " + "x" * 5000 + f" {where}"}).encode()
    with _endpoint(400, body, []) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=1, timeout=10)
        rejected = teacher.label(TEXT)
    detail = rejected.meta["error_details"][0]
    assert detail.startswith("doc: HTTP 400") and " … " in detail and len(detail) < 300
    assert detail.endswith(f'{where}"}}'), detail
    answer = "```python\n" + "# keep the first line\n" * 250 + \
        "remove_lines(line_start=40, line_end=90)\n```"  # fmt: skip
    with _teacher(chat_completion(answer)) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=1, timeout=10)
        broken = teacher.label(TEXT + "\nBROKEN line here.")
    detail = next(d for d in broken.meta["error_details"] if d.startswith("chunk"))
    assert " … " in detail and len(detail) < 300, detail
    assert detail.endswith("remove_lines(line_start=40, line_end=90)\\n```'"), detail


def test_an_answer_whose_bytes_are_not_utf8_rejects_that_label_not_the_labeling():
    """An endpoint cutting a character in two at max_tokens answers bytes that are not
    UTF-8. The SDK's JSON decoding refused them and the labeling stopped, calling the
    endpoint unavailable, on every rerun (the answer is the same each time). The answer is
    read with U+FFFD in their place now, as the refine backends read theirs: a chunk
    program with a stray character is that label's rejection, the other labels as they were."""
    cut = CHUNK.replace(b"keep_chunk()", b"keep_chunk()\xe2\x82")  # 2 of the 3 bytes of "€"
    with _teacher(cut) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=1,
                              timeout=10)
        good, broken = teacher.label_many([TEXT, TEXT + "\nBROKEN line here."])
    assert not good.meta.get("errors")
    assert broken.meta["errors"] and all(e.startswith("chunk:") for e in broken.meta["errors"])
    assert teacher.usage.to_dict()["failures"] == 0


def test_prox_label_fails_on_an_outage_and_publishes_nothing(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": TEXT}) + "\n" for i in range(3)))
    out = tmp_path / "labels.jsonl"
    with _endpoint(503, b'{"error": "down"}', []) as server:
        code = main(["label", "--input", str(src), "--output", str(out), "--teacher", "llm",
                     "--base-url", server.url, "--model", "m", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 1 and "TeacherUnavailable" in err and "nothing was written" in err
    assert not out.exists() and not list(tmp_path.glob("labels.jsonl*"))
    # the run had no cache: its rerun (the endpoint killed mid-run, then back) pays for every
    # answer again; the message says how to keep them, not only to run again
    assert "no answer was kept: a response cache, prox label --cache-dir DIR" in err


def test_an_outage_through_an_airflow_connection_names_the_connection(tmp_path, capsys,
                                                                      monkeypatch):
    """The operator fixes a connection, not a URL: an endpoint reached through --conn-id
    that fails (a wrong key in its password) is named by its conn_id and URL."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": TEXT}) + "\n" for i in range(2)))
    with _endpoint(401, b'{"error": "bad key"}', []) as server:
        monkeypatch.setenv("AIRFLOW_CONN_TEACHER_LLM",
                           json.dumps({"conn_type": "http", "password": "sk-wrong",
                                       "extra": {"base_url": server.url}}))
        code = main(["label", "--input", str(src), "--output", str(tmp_path / "l.jsonl"),
                     "--teacher", "llm", "--conn-id", "teacher_llm", "--model", "m"])
    err = capsys.readouterr().err
    assert code == 1 and "Airflow connection 'teacher_llm'" in err, err
    assert server.url in err and "sk-wrong" not in err


@pytest.mark.parametrize(("connection", "says"), [
    ({"conn_type": "http", "password": "k"}, "gives no base URL"),
    ({"conn_type": "http", "extra": {"base_url": "localhost:8000/v1"}},
     "is not an http:// or https:// URL"),
])
def test_a_connection_without_a_usable_url_is_named(monkeypatch, connection, says):
    monkeypatch.setenv("AIRFLOW_CONN_TEACHER_LLM", json.dumps(connection))
    with pytest.raises(ValueError, match=says) as caught:
        get_teacher("llm", conn_id="teacher_llm", model="m")
    assert "Airflow connection 'teacher_llm'" in str(caught.value)


@pytest.mark.parametrize("status, says", [
    (401, "put the key it expects in the environment variable TEACHER_KEY"),
    (403, "put the key it expects in the environment variable TEACHER_KEY"),
    (404, "give the base URL with its /v1 (http://HOST:8000/v1; --base-url) and a model"),
    (503, "run again when it answers"),
])  # fmt: skip
def test_the_error_says_what_fixes_the_failure(tmp_path, capsys, status, says):
    """A wrong key, or a base URL without /v1 or a model name the endpoint does not serve
    (vLLM answers 404 to both), said "run again when it answers": running again fails the
    same way. The message now names what to fix; an outage still says to run again."""
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "0", "text": TEXT}) + "\n")
    with _endpoint(status, b'{"error": "no"}', []) as server:
        code = main(["label", "--input", str(src), "--output", str(tmp_path / "l.jsonl"),
                     "--teacher", "llm", "--base-url", server.url, "--model", "m",
                     "--api-key-env", "TEACHER_KEY", "--timeout", "5"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "TeacherUnavailable" in err and says in err
    assert status >= 500 or "run again when it answers" not in err


def test_a_seed_set_whose_every_label_is_rejected_says_to_fix_the_teacher(tmp_path, capsys):
    """An endpoint whose model answers outside the prompts' format (no scores, no code block:
    a model that is no instruction model) gets every label rejected. `prox label --seed-set`
    then said to "sample more documents or change the validation share (--sample-size,
    --val-fraction)", which only asks the same model again. It now says the teacher wrote no
    valid label, where its answers are, and to fix the teacher or choose another."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": TEXT}) + "\n" for i in range(6)))
    seed = tmp_path / "seed"
    with _endpoint(200, UNSURE, []) as server:
        code = main(["label", "--input", str(src), "--output", str(seed), "--seed-set",
                     "--sample-size", "6", "--no-register", "--no-progress", "--teacher", "llm",
                     "--base-url", server.url, "--model", "m", "--timeout", "5"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "EmptySplit" in err and "of 0 valid labels" in err, err
    assert "the teacher wrote no valid label: check it" in err, err
    assert err.rstrip().endswith("label with another teacher (--teacher and its options) "
                                 "(-v for the traceback)"), err
    assert "sample more documents" not in err
    assert not (seed / "manifest.json").exists()


def test_a_label_run_whose_every_label_is_rejected_fails_naming_where_they_are(tmp_path,
                                                                               capsys):
    """A model that answers outside the prompts' format gets every label rejected; plain
    `prox label` exited 0 with "0 valid, 4 rejected" as if it had labeled the input. It now
    fails (exit 1), naming the share and the file that holds the rejected rows, which stays
    written (nothing lost): the rerun writes the same file."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": TEXT}) + "\n" for i in range(4)))
    out = tmp_path / "labels.jsonl"
    written = []
    with _endpoint(200, UNSURE, []) as server:
        for _ in range(2):
            code = main(["label", "--input", str(src), "--output", str(out), "--no-progress",
                         "--teacher", "llm", "--base-url", server.url, "--model", "m",
                         "--timeout", "5"])  # fmt: skip
            captured = capsys.readouterr()
            assert code == 1 and captured.out == "", captured
            written.append(out.read_bytes())
    err = captured.err
    assert err.startswith("prox label: labeled 4 documents with llm: 0 valid, 4 rejected ("), err
    assert f"the teacher wrote no valid label (100% rejected): the rows are written to {out} " \
           "with valid false" in err, err
    rows = [json.loads(line) for line in written[0].splitlines()]
    assert len(rows) == 4 and not any(row["valid"] for row in rows)
    assert written[1] == written[0]  # the rerun: the same file



def test_the_first_endpoint_failure_ends_the_requests_in_flight_at_once():
    """The llm teacher sends `concurrency` requests at once. When one failed for good (here a
    401 at once), the others went on with their retries (the SDK's, up to 5 with backoff)
    before the error came out: `--timeout 2` against an endpoint that never answers took
    57 s. Now the first failure stops the client: no attempt is sent after it, a retry's
    wait ends, a request in flight ends by its timeout. A real loopback server: the first
    request is refused, every other hangs; the bound is generous (4x the timeout)."""
    import threading
    import time

    timeout = 1.0
    lock, seen = threading.Lock(), []

    def answer(request):
        with lock:
            seen.append(request.path)
            first = len(seen) == 1
        if first:
            return Response(401, b'{"error": "bad key"}', JSON)
        hung = time.monotonic()
        while not request.client_gone() and time.monotonic() - hung < 30:
            time.sleep(0.02)  # never answers: until the client gives up on it
        return Response(200, ANSWER, JSON)

    with LoopbackHTTPServer(answer) as server:
        teacher = get_teacher("llm", base_url=server.url + "/v1", model="m", timeout=timeout,
                              concurrency=4)  # the default max_retries: 5
        started = time.monotonic()
        with pytest.raises(TeacherUnavailable, match="endpoint refuses the key"):
            teacher.label_many([TEXT] * 8)  # 16 requests
        took = time.monotonic() - started
    assert took < 4 * timeout, took
    assert len(seen) <= 4 + 1, seen  # the first 4, and one started as the 401 came: no retry
    # the client sends again for the next call (stopped for the call that failed only)
    assert not teacher.client._stopped.is_set()


def test_an_answer_past_its_cap_rejects_that_label_not_the_labeling():
    """An answer body was read whole, however large: a broken or hostile endpoint's
    gigabytes held in memory. One larger than its cap (``reply_cap`` of the tokens asked
    for) is read no further: that label is rejected (``answer_too_large``, not retried),
    the others as they were, the labeling goes on."""
    asked: list = []
    huge = chat_completion("```python\n" + "keep_chunk()\n" * 300_000 + "```")  # 3.9 MB
    with _teacher(huge, asked) as server:
        teacher = get_teacher("llm", base_url=server.url, model="m", max_retries=2,
                              timeout=10)
        good, broken = teacher.label_many([TEXT, TEXT + "\nBROKEN line here."])
    assert not good.meta.get("errors")
    assert broken.meta["errors"] == ["chunk:answer_too_large"], broken.meta
    assert "past its cap of" in broken.meta["error_details"][0]
    assert teacher.usage.to_dict()["retries"] == 0 and len(asked) == 4


def test_a_rejected_labels_huge_program_is_kept_as_an_excerpt_with_its_size_and_hash(
        tmp_path, capsys):
    """A rejected label's row held the teacher's whole program (a 3.9 MB chunk program
    seen in a label file): it now holds its first ``MAX_REJECTED_PROGRAM_CHARS``
    characters, and ``program_excerpt`` its whole length and SHA-256; a valid label's row
    is as it was."""
    from prox_tasks.labeling.run import MAX_REJECTED_PROGRAM_CHARS

    calls = "keep_chunk()\n" * 11_000  # 143 KB: under the reply cap, over every limit

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "good", "text": TEXT}) + "\n"
                   + json.dumps({"id": "broken", "text": TEXT + "\nBROKEN line."}) + "\n")
    out = tmp_path / "labels.jsonl"
    with _teacher(chat_completion("```python\n" + calls + "```")) as server:
        code = main(["label", "--input", str(src), "--output", str(out), "--no-progress",
                     "--teacher", "llm", "--base-url", server.url, "--model", "m",
                     "--timeout", "5"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    good, broken = rows["good"], rows["broken"]
    assert good["valid"] and "program_excerpt" not in good
    assert not broken["valid"] and broken["rejected"]
    whole = broken["program_excerpt"]["chunk_program"]
    assert len(broken["chunk_program"]) == MAX_REJECTED_PROGRAM_CHARS < whole["chars"]
    assert whole["chars"] > len(calls) - 100  # the joined program: the calls, scoped
    assert broken["chunk_program"].startswith("# chunk")
    assert len(whole["sha256"]) == 64
    assert len(out.read_bytes()) < 20_000

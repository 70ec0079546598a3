"""The llm teacher against a real OpenAI-compatible server: vLLM (CPU) on loopback.

The session's server (tests/vllm_server.py, shared with the openai backend's tests): a tiny
Llama model with random weights built by the tests (BPE tokenizer trained on sample pages,
Llama-2 chat template, head_dim 64). Its answers are garbage, which is the point: the test shows the protocol, the validation that
rejects bad outputs with reasons, retries with backoff on real 429/503 answers (from a
loopback proxy in front of vLLM that fails the first requests), the response cache (a
second run sends nothing) and the usage report. vLLM is started with an API key, so the
key travels for real, and a wrong key gets a real 401.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from pathlib import Path

import pytest

from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.llm import LLMTeacher, TeacherUnavailable
from prox_tasks.labeling.seedset import EmptySplit, build_seed_set
from prox_tasks.labeling.validate import validate_label
from prox_tasks.programs import ErrorKind
from tests.loopback_http import LoopbackHTTPServer, Request, Response
from tests.vllm_server import KEY, SERVED_NAME

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"


def _sample_rows() -> list[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


class FaultProxy(LoopbackHTTPServer):
    """A loopback HTTP proxy to the server that answers the first requests with 429 (with
    ``Retry-After: 0``) and then one 503, as an overloaded endpoint does; counts what it
    forwards."""

    def __init__(self, upstream: str, fail_with: list[int]) -> None:
        import httpx

        self.upstream, self.fail_with = upstream, list(fail_with)
        self.forwarded = 0
        lock = threading.Lock()

        def forward(request: Request) -> Response:
            with lock:
                fault = self.fail_with.pop(0) if self.fail_with else None
                self.forwarded += fault is None
            if fault:
                return Response(fault, b"{}", {"Retry-After": "0"})
            headers = {"Content-Type": "application/json",
                       "Authorization": request.headers.get("Authorization", "")}
            r = httpx.post(self.upstream + request.path, content=request.body, headers=headers,
                           timeout=300)
            return Response(r.status_code, r.content, {"Content-Type": "application/json"})

        super().__init__(forward)
        self.url += "/v1"


def _texts() -> list[str]:
    rows = _sample_rows()
    forum = next(r for r in rows if r.get("page_type") == "forum")
    german = next(r for r in rows if r["source"] == "trafilatura-evaluation")
    c4 = next(r for r in rows if r["source"].startswith("allenai-olmo"))
    return ["\n".join(r["text"].split("\n")[:40]) for r in (forum, german, c4)]


def _teacher(url: str, cache_dir, key_env: str = "PROX_TEST_TEACHER_KEY") -> LLMTeacher:
    return get_teacher(
        "llm", base_url=url, model=SERVED_NAME, api_key_env=key_env, concurrency=4,
        cache_dir=str(cache_dir), max_retries=4, doc_max_tokens=150,
        chunk_max_tokens=120, max_output_tokens=24,
    )  # fmt: skip


def test_protocol_validation_retries_cache_usage_and_secrets(
    vllm_server, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PROX_TEST_TEACHER_KEY", KEY)
    texts = _texts()
    proxy = FaultProxy(vllm_server.url, [429, 429, 429, 503])
    try:
        teacher = _teacher(proxy.url, tmp_path / "cache")
        labels = teacher.label_many(texts)
        usage = teacher.usage.to_dict()
        prompts = proxy.forwarded

        # protocol: one document-level and >= 1 chunk-level request per document, all answered
        assert len(labels) == 3 and prompts >= 6
        assert usage["statuses"] == {"429": 3, "503": 1, "200": prompts}
        assert usage["requests"] == prompts + 4 and usage["retries"] == 4
        assert usage["failures"] == 0 and usage["cache_hits"] == 0
        assert usage["prompt_tokens"] > 100 * prompts / 2 and usage["completion_tokens"] > 0

        # validation: the random model's answers are rejected, each with its reasons
        # (every kind a chunk answer can fail with: which ones garbage hits is chance, as
        # vLLM's batching may change a random model's near-tied greedy choices)
        known = (
            "doc:unparseable_scores",
            "chunk:no_code_block",
            "chunk:empty_code_block",
            *(f"chunk:{kind}" for kind in ErrorKind),
        )
        for text, label in zip(texts, labels):
            assert label.meta["model"] == SERVED_NAME and label.meta["chunks"] >= 1
            reasons = validate_label(text, label)
            if label.meta["errors"]:
                assert reasons and set(label.meta["errors"]) <= set(reasons)
                assert label.meta["error_details"]
        all_errors = {e for lab in labels for e in lab.meta["errors"]}
        assert "doc:unparseable_scores" in all_errors
        # every rejection reason is one the validator documents: nothing unnamed slips by
        assert all(e.startswith(known) for e in all_errors), all_errors

        # cache: a second run (a new teacher, same cache) sends nothing and gets the same labels
        again = _teacher(proxy.url, tmp_path / "cache")
        labels_again = again.label_many(texts)
        assert proxy.forwarded == prompts
        assert again.usage.to_dict()["requests"] == 0
        assert again.usage.to_dict()["cache_hits"] == prompts
        assert [lab.to_dict() for lab in labels_again] == [lab.to_dict() for lab in labels]

        # a seed set from the llm teacher: garbage is rejected with reasons, nothing lost; with
        # nothing valid to train on, no seed set is written, only the rejected rows
        try:
            info = build_seed_set(str(SAMPLE), str(tmp_path / "seed"), again, sample_size=3,
                                  seed=0, val_fraction=0.5, register=False)  # fmt: skip
        except EmptySplit as err:
            assert "the split would leave" in str(err) and "rejected.jsonl.gz" in str(err)
            assert not (tmp_path / "seed" / "manifest.json").exists()
            with gzip.open(tmp_path / "seed" / "rejected.jsonl.gz", "rt") as f:
                rejected = [json.loads(line) for line in f]
            assert len(rejected) == 3 and all(row["reasons"] for row in rejected)
        else:
            assert info.sizes["sampled"] == 3
            assert info.sizes["valid"] + info.sizes["rejected"] == 3
            assert info.teacher["model"] == SERVED_NAME
    finally:
        proxy.close()

    # secrets: the key reached the server (it answered 200) but nothing written or logged
    written = [p.read_text(errors="replace") for p in (tmp_path / "cache").rglob("*.json")]
    written += [gzip.open(p, "rt").read() for p in (tmp_path / "seed").rglob("*.gz")]
    written += [p.read_text() for p in (tmp_path / "seed").rglob("*.json")]
    assert len(written) >= prompts
    for blob in [
        *written,
        caplog.text,
        repr(teacher),
        json.dumps(teacher.describe()),
        json.dumps([lab.to_dict() for lab in labels]),
        json.dumps(usage),
    ]:
        assert KEY not in blob


def test_wrong_key_is_a_real_401_reported_without_the_key(
    vllm_server, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-0123456789abc"
    monkeypatch.setenv("PROX_TEST_WRONG_KEY", wrong)
    teacher = _teacher(vllm_server.url + "/v1", tmp_path / "cache", key_env="PROX_TEST_WRONG_KEY")
    with pytest.raises(TeacherUnavailable, match="401") as err:  # the endpoint's fault, not
        teacher.label("A short page.\nWith two lines of text in it.")  # the document's
    usage = teacher.usage.to_dict()
    assert usage["statuses"].get("401", 0) >= 1 and usage["retries"] == 0  # 4xx: no retry
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are not cached
    assert wrong not in str(err.value) + caplog.text


def test_the_server_s_temporary_files_are_in_a_folder_of_its_own(vllm_server):
    """vLLM leaves its IPC sockets and a ``vllm_dist_*`` file in $TMPDIR when it stops: a
    thousand had piled up in the test machine's /tmp. The session's server keeps them in a
    folder of its own, which its stop removes."""
    import stat

    held = list(vllm_server.tmpdir.iterdir())
    assert any(stat.S_ISSOCK(p.lstat().st_mode) for p in held), held

"""The ``llm`` teacher: any OpenAI-compatible chat endpoint writes the programs.

Per document: one document-level request (educational and format scores, the paper's keep
rule) and one request per chunk (the model writes a program for the numbered chunk). Every
answer is parsed and validated; a bad answer is not guessed around: its reason goes into
``meta["errors"]`` and the seed-set validation rejects the label with it.

Requests run ``concurrency`` at a time from a thread pool (the ``openai`` SDK), retry with
backoff on 429/5xx,
and go through a response cache keyed by (prompt text incl. the document, prompt version,
model, settings): a rerun pays nothing. :attr:`LLMTeacher.usage` reports requests, cache
hits, retries, failures and tokens in and out.

A prompt the endpoint rejects as such (400, 413, 422: e.g. longer than its context) rejects
that document's label. Any other failure after the retries (the endpoint down, a wrong key
or model name, an answer that is not a completion) is the endpoint's, not the document's:
:class:`TeacherUnavailable` stops the labeling before anything is published, so an outage
never becomes rejected labels in a seed set; a rerun sends only what is not cached yet.

Example:
    >>> teacher = LLMTeacher("http://127.0.0.1:8000/v1", "Qwen2.5-72B-Instruct",
    ...                      api_key_env="TEACHER_API_KEY", cache_dir="/data/teacher-cache")
    >>> labels = teacher.label_many(texts)
    >>> teacher.usage.to_dict()
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.cache import ResponseCache, cache_key
from prox_tasks.labeling.chat_client import AnswerTooLarge, ChatClient, ChatError, Usage
from prox_tasks.labeling.emit import DROP_DOC, KEEP_DOC
from prox_tasks.labeling.prompts import (
    PROMPT_VERSION,
    check_chunk_program,
    chunk_messages,
    doc_messages,
    extract_program,
    keep_by_scores,
    parse_scores,
)
from prox_tasks.labeling.secrets import resolve_endpoint
from prox_tasks.programs import join_chunk_programs, render_chunks, render_doc
from prox_tasks.wording import shortened

log = logging.getLogger(__name__)
#: Statuses that reject one prompt (too long for the context, invalid), not the endpoint.
PROMPT_REJECTED = (400, 413, 422)
_SCOPE_MARKER = re.compile(r"\s*#\s*chunk\s+\d")


class TeacherUnavailable(RuntimeError):
    """The teacher's endpoint failed a request for a reason not the document's (see the
    module docs); retrying the task later is the remedy."""


@dataclass(frozen=True)
class _Request:
    doc: int
    kind: str  # "doc" or "chunk"
    messages: list
    first: int = 0
    last: int = 0


class LLMTeacher(Teacher):
    """Teacher backed by an OpenAI-compatible chat endpoint.

    Args:
        base_url: Endpoint base, e.g. ``http://127.0.0.1:8000/v1`` (or from ``conn_id``).
        model: Model name the endpoint serves.
        api_key_env: Environment variable with the API key (None/unset: no key).
        conn_id: Airflow connection id (URL and key; :mod:`prox_tasks.connections`).
        concurrency: Requests in flight at once.
        cache_dir: Response cache folder (None: no cache).
        timeout: Seconds per request.
        max_retries: Tries after the first on 408/409/429/5xx/network errors (the
            ``openai`` SDK's exponential jittered backoff; ``Retry-After`` wins).
        doc_max_tokens: Document budget of the document-level prompt (whitespace words).
        chunk_max_tokens: Chunk budget (whitespace words), as the refining model's chunks.
        max_output_tokens: ``max_tokens`` per answer.
        temperature: Sampling temperature (0: greedy, reproducible).
        input_price_per_mtok, output_price_per_mtok: Prices for the usage report's cost.
    """

    name = "llm"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        conn_id: str | None = None,
        concurrency: int = 8,
        cache_dir: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        doc_max_tokens: int = 2000,
        chunk_max_tokens: int = 1500,
        max_output_tokens: int = 512,
        temperature: float = 0.0,
        input_price_per_mtok: float | None = None,
        output_price_per_mtok: float | None = None,
    ) -> None:
        if not model:
            raise ValueError("the llm teacher needs a model name (prox label --model NAME, "
                             "or \"model\" in the seed DAG's teacher_options) and an endpoint "
                             "(--base-url URL or --conn-id ID; \"base_url\" or \"conn_id\" "
                             "there)")
        url, key = resolve_endpoint(base_url, api_key_env, conn_id)
        self.base_url, self.model = url, model
        self.conn_id = None if base_url else conn_id  # the URL and key came from it
        self.api_key_env, self.key_conn_id = api_key_env, conn_id  # where the key comes from
        self.concurrency = max(1, int(concurrency))
        self.doc_max_tokens, self.chunk_max_tokens = doc_max_tokens, chunk_max_tokens
        self.max_output_tokens, self.temperature = max_output_tokens, temperature
        self.usage = Usage(input_price_per_mtok=input_price_per_mtok,
                           output_price_per_mtok=output_price_per_mtok)  # fmt: skip
        self.cache = ResponseCache(cache_dir)
        self.client = ChatClient(url, key, timeout, max_retries, self.usage)
        self.redact = self.client.redact

    def __repr__(self) -> str:  # never shows the key
        return f"LLMTeacher(base_url={self.base_url!r}, model={self.model!r})"

    def describe(self) -> dict:
        return {
            "name": self.name, "model": self.model, "base_url": self.redact(self.base_url),
            "prompt_version": PROMPT_VERSION, "temperature": self.temperature,
            "doc_max_tokens": self.doc_max_tokens, "chunk_max_tokens": self.chunk_max_tokens,
        }  # fmt: skip

    def close(self) -> None:
        self.client.close()

    def endpoint(self) -> str:
        """The endpoint as whoever configured it knows it: its URL (redacted) and the Airflow
        connection it came from, whose host or password is the one to fix."""
        url = self.redact(self.base_url)
        return f"{url} (Airflow connection {self.conn_id!r})" if self.conn_id else url

    def _what_to_do(self, status: int | None) -> str:
        """What fixes a failure the endpoint answered with ``status``: a refused key, or a
        wrong URL or model name, is fixed where the teacher is configured (running again
        heals neither); anything else (down, overloaded, no API's answer) by running again."""
        if status in (401, 403):
            where = (f"as the password (or extra.api_key) of the Airflow connection "
                     f"{self.key_conn_id!r}" if self.key_conn_id else
                     f"in the environment variable {self.api_key_env or 'OPENAI_API_KEY'} "
                     "(prox label --api-key-env VAR names another)")  # fmt: skip
            return f"the endpoint refuses the key: put the key it expects {where}, then run again"
        if status == 404:
            where = (f"the Airflow connection {self.conn_id!r}'s host and schema" if self.conn_id
                     else "--base-url")  # fmt: skip
            return (f"no chat API at this URL, or no model {self.model!r} there: give the "
                    f"base URL with its /v1 (http://HOST:8000/v1; {where}) and a model its "
                    "/v1/models lists (--model), then run again")  # fmt: skip
        return "run again when it answers"

    # -- labeling ---------------------------------------------------------------------
    def label(self, text: str, gold: str | None = None) -> Label:
        return self.label_many([text])[0]

    def label_many(self, texts, golds=None) -> list[Label]:
        """Label documents; requests of all documents share the concurrency limit."""
        texts = [t if isinstance(t, str) else str(t or "") for t in texts]
        requests: list[_Request] = []
        for i, text in enumerate(texts):
            requests.append(
                _Request(i, "doc", doc_messages(render_doc(text, None, self.doc_max_tokens)))
            )
            for chunk in render_chunks(text, None, self.chunk_max_tokens):
                requests.append(
                    _Request(
                        i, "chunk", chunk_messages(chunk.prompt), chunk.first_line, chunk.last_line
                    )
                )
        answers = self._answers(requests)
        per_doc: list[list] = [[] for _ in texts]
        for request, answer in zip(requests, answers):
            per_doc[request.doc].append((request, answer))
        return [self._assemble(pairs) for pairs in per_doc]

    def _answers(self, requests: list[_Request]) -> list[dict]:
        """The answers to ``requests``, ``concurrency`` at a time, in their order. The first
        failure, whichever request meets it, ends the others at once: the ones not started
        are cancelled, the client sends no more attempt (those in flight end by their answer
        or timeout, those waiting to retry now), and it is raised. Waiting for the first
        request's result first, other requests went on retrying (``--timeout 2`` against
        an endpoint that never answers failed after 57 s)."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._answer, request) for request in requests]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                self.client.stop()
                pool.shutdown(wait=True, cancel_futures=True)
        if failed is not None:
            self.client.resume()  # every request of this call has ended
            raise failed.exception()
        return [future.result() for future in futures]

    def _answer(self, request: _Request) -> dict:
        """The answer to one request, from the cache or the endpoint (errors as values)."""
        payload = {
            "model": self.model, "messages": request.messages,
            "max_tokens": self.max_output_tokens, "temperature": self.temperature,
        }  # fmt: skip
        key = cache_key(prompt_version=PROMPT_VERSION, kind=request.kind, **payload)
        cached = self.cache.get(key)
        if cached is not None:
            self.usage.add(cache_hits=1)
            return cached
        try:
            answer = self.client.complete(payload)
        except AnswerTooLarge as err:  # that endpoint's answer, not the endpoint: go on
            log.warning("llm teacher: %s answer rejected: %s", request.kind, err)
            return {"error": "answer_too_large", "detail": str(err)}
        except ChatError as err:
            if err.status not in PROMPT_REJECTED:
                # without a cache a rerun pays for every answer again: say how to keep them
                cached = (" (the answers so far are cached)" if self.cache.folder else
                          " (no answer was kept: a response cache, prox label --cache-dir DIR "
                          "or \"cache_dir\" in teacher_options, makes a rerun ask only for "
                          "the rest)")  # fmt: skip
                raise TeacherUnavailable(
                    f"the llm teacher's endpoint failed a {request.kind} request: {err} "
                    f"(endpoint {self.endpoint()}); nothing was written: "
                    f"{self._what_to_do(err.status)}{cached}") from None  # fmt: skip
            log.warning("llm teacher: %s request rejected: %s", request.kind, err)
            return {"error": f"request_failed:{err.status}", "detail": str(err)}
        answer = self.redact(answer)
        self.cache.put(key, answer)
        return answer

    def _assemble(self, pairs: list[tuple[_Request, dict]]) -> Label:
        errors: list[str] = []
        details: list[str] = []
        doc_program, scores = "", None
        chunk_parts = []
        for request, answer in pairs:
            where = "doc" if request.kind == "doc" else f"chunk {request.first}-{request.last}"
            if "error" in answer:
                errors.append(f"{request.kind}:{answer['error']}")
                details.append(f"{where}: {shortened(str(answer.get('detail', '')))}")
                continue
            content = answer.get("content", "")
            if request.kind == "doc":
                scores = parse_scores(content)
                if scores is None:
                    errors.append("doc:unparseable_scores")
                    details.append(f"{where}: {shortened(content)!r}")
                else:
                    doc_program = KEEP_DOC if keep_by_scores(*scores) else DROP_DOC
                continue
            source, reason = extract_program(content)
            if source:
                # a "# chunk A-B" comment in an answer would re-scope the joined program
                source = "\n".join(ln for ln in source.splitlines() if not _SCOPE_MARKER.match(ln))
            problems = (
                [reason] if reason else check_chunk_program(source, request.first, request.last)
            )
            if problems:
                errors.extend(f"chunk:{p}" for p in problems)
                details.append(f"{where}: {', '.join(problems)}: {shortened(content)!r}")
            chunk_parts.append((request.first, request.last, source or ""))
        meta = {
            "teacher": self.name, "model": self.model, "prompt_version": PROMPT_VERSION,
            "edu_score": scores[0] if scores else None, "format_score": scores[1] if scores else None,
            "chunks": len(chunk_parts), "errors": sorted(set(errors)), "error_details": details[:8],
        }  # fmt: skip
        return Label(
            doc_program, join_chunk_programs(chunk_parts) if chunk_parts else "", self.redact(meta)
        )

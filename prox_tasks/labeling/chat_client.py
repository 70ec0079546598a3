"""A small client for OpenAI-compatible ``/chat/completions`` endpoints.

Retries with exponential backoff (jittered, ``Retry-After`` honoured) on 429, 5xx, timeouts
and connection errors; no retry on other 4xx (a bad request stays bad). Counts requests,
retries, failures and tokens in and out (:class:`Usage`). Thread-safe: the teacher runs up
to ``concurrency`` requests at once from a thread pool. Every error message passes through
the redactor, so an API key never reaches a log or an exception.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from prox_tasks.labeling.secrets import Redactor

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class ChatError(RuntimeError):
    """A request that failed for good (after retries, or a non-retryable status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Usage:
    """What the teacher cost: requests, cache hits, retries, failures, tokens.

    ``cost_usd`` is filled when prices per million tokens are known.
    """

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas) -> None:
        with self._lock:
            for name, value in deltas.items():
                if name == "status":
                    self.statuses[str(value)] += 1
                else:
                    setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict:
        out = {
            "requests": self.requests, "cache_hits": self.cache_hits, "retries": self.retries,
            "failures": self.failures, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "seconds": round(self.seconds, 3), "statuses": dict(self.statuses),
        }  # fmt: skip
        if self.input_price_per_mtok is not None and self.output_price_per_mtok is not None:
            out["cost_usd"] = round(
                self.prompt_tokens * self.input_price_per_mtok / 1e6
                + self.completion_tokens * self.output_price_per_mtok / 1e6, 6
            )  # fmt: skip
        return out


class ChatClient:
    """POSTs chat requests to ``<base_url>/chat/completions``.

    Args:
        base_url: E.g. ``http://127.0.0.1:8000/v1``.
        api_key: Bearer token, or None (local servers).
        timeout: Seconds per HTTP request.
        max_retries: Tries after the first on retryable failures.
        backoff: First backoff in seconds (doubles each try, with jitter).
        max_backoff: Longest wait between tries.
        usage: Where to count; a new :class:`Usage` by default.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        usage: Usage | None = None,
    ) -> None:
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.redact = Redactor(api_key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.usage = usage or Usage()

    def close(self) -> None:
        self._http.close()

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)

    def complete(self, payload: dict) -> dict:
        """Send one request; return ``{"content", "prompt_tokens", "completion_tokens"}``.

        Raises:
            ChatError: On a non-retryable status, a malformed answer, or after the retries.
        """
        import httpx

        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.add(retries=1)
            start = time.perf_counter()
            retry_after = None
            try:
                self.usage.add(requests=1)
                response = self._http.post(self.url, json=payload)
            except httpx.HTTPError as err:  # timeouts, refused connections, resets
                last = f"{type(err).__name__}: {err}"
                self.usage.add(status="network_error")
            else:
                self.usage.add(status=response.status_code, seconds=time.perf_counter() - start)
                if response.status_code == 200:
                    return self._parse(response)
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    self.usage.add(failures=1)
                    raise ChatError(self.redact(last), response.status_code)
                retry_after = response.headers.get("retry-after")
            if attempt < self.max_retries:
                delay = self._wait(attempt, retry_after)
                log.warning("chat request failed (%s); retry %d in %.1fs", self.redact(last),
                            attempt + 1, delay)  # fmt: skip
                time.sleep(delay)
        self.usage.add(failures=1)
        raise ChatError(self.redact(f"gave up after {self.max_retries + 1} tries: {last}"))

    def _parse(self, response) -> dict:
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"] or ""
            usage = body.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as err:
            self.usage.add(failures=1)
            raise ChatError(self.redact(f"malformed answer: {type(err).__name__}: {err}")) from None
        prompt, completion = (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )
        self.usage.add(prompt_tokens=prompt, completion_tokens=completion)
        return {"content": content, "prompt_tokens": prompt, "completion_tokens": completion}

"""The teacher's client for OpenAI-compatible ``/chat/completions`` endpoints: the ``openai``
SDK (the one the ``openai`` inference backend uses), with its retries.

The SDK retries 408, 409, 429, 5xx, timeouts and connection errors with exponential,
jittered backoff (``Retry-After`` honoured) up to ``max_retries`` times; other 4xx fail at
once (a bad request stays bad). Every HTTP attempt is counted in :class:`Usage` (requests,
retries, statuses, failures, tokens) through the HTTP client's event hooks. Thread-safe:
the teacher runs up to ``concurrency`` requests at once from a thread pool. Every error
message is redacted (:func:`prox_tasks.redaction.redact`, then cut), so an API key never
reaches a log or an exception.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from prox_tasks.redaction import Redactor
from prox_tasks.wording import shortened

#: Characters of an error body kept in a message (after redaction).
MAX_ERROR_CHARS = 300


class ChatError(RuntimeError):
    """A request that failed for good (after retries, or a non-retryable status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AnswerTooLarge(ChatError):
    """The endpoint's answer held more bytes than its cap
    (:func:`~prox_tasks.openai_replies.reply_cap`): that request's label is rejected; the
    labeling goes on."""


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


class RequestStopped(RuntimeError):
    """A request not sent, or not retried, as the client was told to stop
    (:meth:`ChatClient.stop`): another request's failure ended the labeling."""


def _stoppable_openai(stopped: threading.Event):
    """An ``openai.OpenAI`` whose retry waits end as soon as ``stopped`` is set (the SDK
    sleeps its backoff, up to 8 s a retry, with ``time.sleep``); the next attempt then
    meets the request hook, which refuses to send it."""
    import openai

    class StoppableOpenAI(openai.OpenAI):
        def _sleep_for_retry(self, *, retries_taken, max_retries, options, response) -> None:
            seconds = self._calculate_retry_timeout(max_retries - retries_taken, options,
                                                    response.headers if response else None)
            stopped.wait(seconds)

    return StoppableOpenAI


class ChatClient:
    """Sends chat requests to ``<base_url>/chat/completions``.

    Args:
        base_url: E.g. ``http://127.0.0.1:8000/v1``.
        api_key: Bearer token, or None (local servers; ``OPENAI_API_KEY`` is never sent to
            an endpoint it was not given for).
        timeout: Seconds per HTTP request, its whole answer included.
        max_retries: Tries after the first on retryable failures.
        usage: Where to count; a new :class:`Usage` by default.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 5, usage: Usage | None = None) -> None:
        import openai

        from prox_tasks.openai_replies import reply_cap

        reply_cap(None)  # a bad PROX_MAX_REPLY_BYTES fails at once, not every request
        self.redact = Redactor(api_key)
        self.usage = usage or Usage()
        self.max_retries, self.timeout = max_retries, timeout
        self._attempts = threading.local()
        self._stopped = threading.Event()
        http = openai.DefaultHttpxClient(timeout=timeout, event_hooks={
            "request": [self._on_request], "response": [self._on_response]})
        # httpx's timeout bounds each read: an endpoint dripping its answer (headers or
        # body) held a request for as long as it dripped; each try has the timeout in all
        from prox_tasks.labeling.exchange_deadline import bound_exchanges

        bound_exchanges(http, self._deadline)
        self._client = _stoppable_openai(self._stopped)(
            base_url=base_url.rstrip("/"), api_key=api_key or "none", max_retries=max_retries,
            timeout=timeout, http_client=http)  # fmt: skip

    def stop(self) -> None:
        """Send no more attempt, first or retry, until :meth:`resume`: a request waiting to
        retry fails now, one in flight when its answer comes or its timeout ends (a failure
        that ends the labeling must not wait on the other requests' retries)."""
        self._stopped.set()

    def resume(self) -> None:
        """Send requests again after :meth:`stop`."""
        self._stopped.clear()

    def _on_request(self, request) -> None:
        if self._stopped.is_set():  # an OpenAIError: the SDK raises it as is, no retry
            import openai

            raise openai.OpenAIError("stopped (ChatClient.stop)")
        self._attempts.tries = getattr(self._attempts, "tries", 0) + 1
        self._attempts.started = time.perf_counter()
        # each try (the SDK's retries too) has the whole timeout from its send
        self._attempts.deadline = (time.monotonic() + self.timeout, self.timeout)
        self.usage.add(requests=1)

    def _deadline(self) -> tuple[float, float] | None:
        """This thread's try's deadline (:mod:`prox_tasks.labeling.exchange_deadline`)."""
        return getattr(self._attempts, "deadline", None)

    def _on_response(self, response) -> None:
        self._attempts.answered = getattr(self._attempts, "answered", 0) + 1
        seconds = time.perf_counter() - getattr(self._attempts, "started", time.perf_counter())
        self.usage.add(status=response.status_code, seconds=seconds)

    def close(self) -> None:
        self._client.close()

    def _capped_answer(self, sent: dict, extra: dict | None) -> bytes:
        """The answer's body to ``sent``, streamed so that one past its cap (a broken or
        hostile endpoint's gigabytes) is never read whole (``ReplyTooLarge``). A body cut
        off while read (a reset) is asked for again, as the SDK retries a failed send (it
        read the body itself before), up to ``max_retries`` times."""
        from prox_tasks.openai_replies import ReplyCutOff, capped_body, reply_cap

        cap = reply_cap(sent.get("max_tokens"))
        for attempt in range(self.max_retries + 1):
            try:
                with self._client.chat.completions.with_streaming_response.create(
                        **sent, extra_body=extra) as raw:
                    return capped_body(raw.http_response, cap)
            except ReplyCutOff:
                if attempt >= self.max_retries or self._stopped.is_set():
                    raise
                time.sleep(min(8.0, 0.5 * 2**attempt))  # the SDK's backoff, roughly
        raise AssertionError("unreachable")  # the loop returns or raises

    def _fail(self, message: str, status: int | None = None) -> ChatError:
        self.usage.add(failures=1)
        return ChatError(shortened(self.redact(message), MAX_ERROR_CHARS), status)

    def complete(self, payload: dict) -> dict:
        """Send one request; return ``{"content", "prompt_tokens", "completion_tokens"}``.

        Raises:
            ChatError: On a non-retryable status, a malformed answer, or after the retries.
        """
        import openai

        self._attempts.tries = self._attempts.answered = 0
        known = {"model", "messages", "max_tokens", "temperature"}
        extra = {k: v for k, v in payload.items() if k not in known} or None
        from openai.types.chat import ChatCompletion

        from prox_tasks.openai_replies import ReplyCutOff, ReplyTooLarge, parsed_reply

        try:
            body = self._capped_answer({k: v for k, v in payload.items() if k in known}, extra)
            # bytes that are not UTF-8 read with U+FFFD: that answer's program is checked
            reply = parsed_reply(body, ChatCompletion)
        except ReplyTooLarge as err:
            self.usage.add(failures=1)
            raise AnswerTooLarge(str(err)) from None
        except ReplyCutOff as err:  # a body cut off on every try: as a connection failure
            raise self._fail(f"gave up after {self._attempts.tries} tries: {err}") from None
        except openai.APIStatusError as err:
            raise self._fail(f"HTTP {err.status_code}: {_body(err)}", err.status_code) from None
        except openai.APIConnectionError as err:  # timeouts, refused connections, resets
            # a timeout's own words ("Request timed out.") do not say which: its cause's do
            said = err.__cause__ if isinstance(err, openai.APITimeoutError) and err.__cause__ \
                and str(err.__cause__) else err  # fmt: skip
            raise self._fail(f"gave up after {self._attempts.tries} tries: "
                             f"{type(err).__name__}: {said}") from None
        except (ValueError, openai.APIResponseValidationError) as err:  # a body cut off, not JSON
            raise self._fail(f"malformed answer: {type(err).__name__}: {err}") from None
        except openai.OpenAIError:
            if self._stopped.is_set():  # the request hook's refusal: not the endpoint's
                raise RequestStopped("not sent: another request's failure ended the "
                                     "labeling") from None
            raise
        finally:
            tries, answered = self._attempts.tries, self._attempts.answered
            if tries > 1:
                self.usage.add(retries=tries - 1)
            for _ in range(tries - answered):  # attempts that got no answer at all
                self.usage.add(status="network_error")
        try:
            content = reply.choices[0].message.content or ""
            used = reply.usage
        except (AttributeError, IndexError, TypeError) as err:
            raise self._fail(f"malformed answer: {type(err).__name__}: {err}") from None
        prompt = int(getattr(used, "prompt_tokens", 0) or 0)
        completion = int(getattr(used, "completion_tokens", 0) or 0)
        self.usage.add(prompt_tokens=prompt, completion_tokens=completion)
        return {"content": content, "prompt_tokens": prompt, "completion_tokens": completion}


def _body(err) -> str:
    """The error response's body (whole: redaction comes before any cut)."""
    try:
        return err.response.text
    except Exception:  # noqa: BLE001 - a streamed or closed response: the SDK's message
        return str(err)

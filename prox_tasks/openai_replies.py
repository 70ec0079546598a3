"""Replies of OpenAI-compatible servers, read by the ``openai`` SDK's types whatever their
bytes: the refine backend's completions and the llm teacher's chat answers read one way,
each body read up to a cap (:func:`reply_cap`)."""

from __future__ import annotations

import json

from prox_tasks.wording import shortened

#: Environment variable that sets the most bytes a reply body may hold (an integer); unset:
#: :func:`reply_cap` derives it from the tokens asked for.
MAX_REPLY_BYTES_ENV = "PROX_MAX_REPLY_BYTES"

#: Bytes a reply may hold whatever it asks for (the JSON around the text, usage, ids).
REPLY_BASE_BYTES = 64 * 1024

#: Bytes a reply may hold for each token asked for (``max_tokens``): a token is a few bytes
#: of text, at most ~6 per character once JSON escapes it (``\\uXXXX``); 256 leaves room
#: for logprobs and a server's extra fields.
REPLY_BYTES_PER_TOKEN = 256

#: Tokens assumed when a request names no ``max_tokens``.
DEFAULT_MAX_TOKENS = 4096


class ReplyTooLarge(Exception):
    """A server's reply body held more than its cap (:func:`reply_cap`): a broken or hostile
    server, not an answer; the caller counts it against that one request's document or
    label and goes on."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"declared {declared:,} bytes" if declared is not None else "went on"
        super().__init__(
            f"reply body {size}, past its cap of {limit:,} bytes ({REPLY_BASE_BYTES:,} + "
            f"{REPLY_BYTES_PER_TOKEN} a token asked for, or {MAX_REPLY_BYTES_ENV}): not read "
            "further")
        self.limit, self.declared = limit, declared


class ReplyCutOff(ConnectionError):
    """The connection failed while a reply body was read (a reset mid-answer, a read
    timeout): transient, asked for again as a failed send is."""


def reply_cap(max_tokens: int | None) -> int:
    """The most bytes the reply to a request asking for ``max_tokens`` may hold:
    ``PROX_MAX_REPLY_BYTES`` when set, else :data:`REPLY_BASE_BYTES` +
    :data:`REPLY_BYTES_PER_TOKEN` × ``max_tokens`` (None: :data:`DEFAULT_MAX_TOKENS`).

    Raises:
        SettingInvalid: ``PROX_MAX_REPLY_BYTES`` is not a whole number of at least 1 (a
            setting to fix: ``prox refine`` exits 2, a DAG task fails without retries).
    """
    from prox_tasks.pipeline.settings import env_value, whole_number

    cap = env_value(MAX_REPLY_BYTES_ENV, None, whole_number(1), "a whole number of bytes")
    if cap is not None:
        return cap
    return REPLY_BASE_BYTES + REPLY_BYTES_PER_TOKEN * (max_tokens or DEFAULT_MAX_TOKENS)


def _declared(response, limit: int) -> None:
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise ReplyTooLarge(limit, int(length))


def _transport_error(response) -> type[BaseException]:
    """``TransportError`` of the httpx the response is of (the ``openai`` SDK brings its
    own, ``httpx2``, beside ``httpx``)."""
    import importlib

    return importlib.import_module(type(response).__module__.split(".")[0]).TransportError


def capped_body(response, limit: int) -> bytes:
    """The body of a streamed ``httpx.Response`` (a ``with_streaming_response`` call's
    ``http_response``), read up to ``limit`` bytes: a reply declaring more is not read at
    all, one going on past it is read no further (the connection is closed).

    A body still coming at its client's whole-exchange deadline (the ``llm`` teacher's:
    :mod:`prox_tasks.labeling.exchange_deadline`) fails its read there: ReplyCutOff.

    Raises:
        ReplyTooLarge: The body holds (or declares) more than ``limit`` bytes.
        ReplyCutOff: The connection failed (or timed out) while the body was read.
    """
    _declared(response, limit)
    parts, size = [], 0
    try:
        for part in response.iter_bytes():
            size += len(part)
            if size > limit:
                response.close()
                raise ReplyTooLarge(limit)
            parts.append(part)
    except _transport_error(response) as err:
        raise ReplyCutOff(f"{type(err).__name__}: {err}") from err
    return b"".join(parts)


async def acapped_body(response, limit: int) -> bytes:
    """:func:`capped_body` of an async ``httpx.Response``."""
    _declared(response, limit)
    parts, size = [], 0
    try:
        async for part in response.aiter_bytes():
            size += len(part)
            if size > limit:
                await response.aclose()
                raise ReplyTooLarge(limit)
            parts.append(part)
    except _transport_error(response) as err:
        raise ReplyCutOff(f"{type(err).__name__}: {err}") from err
    return b"".join(parts)


def parsed_reply(body: bytes, model: type):
    """A reply body (:func:`capped_body`) built as ``model`` (``openai.types.Completion``,
    ``ChatCompletion``) the way the SDK builds it: without validation; read as UTF-8 with
    U+FFFD for bytes that are not (a server cutting a character in two at ``max_tokens``,
    as llama.cpp's did, or a proxy re-encoding the body), as a model's token bytes decode.

    The SDK's JSON decoding refused such a body with a ``UnicodeDecodeError``, an error of no
    kind either caller knew: a refine shard failed naming its server set up wrong, a
    labeling stopped with the endpoint called unavailable, and each rerun failed on the
    same document again (greedy decoding answers it the same). Now its text goes on to be
    parsed as a program, and a failure is that document's.

    Raises:
        ValueError: The body, so read, is not a JSON object (``json.JSONDecodeError`` when
            it is not JSON at all).
    """
    data = json.loads(body.decode("utf-8", errors="replace"))
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object: {shortened(repr(body))}")
    return model.construct(**data)

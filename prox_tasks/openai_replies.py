"""Replies of OpenAI-compatible servers, read by the ``openai`` SDK's types whatever their
bytes: the refine backend's completions and the llm teacher's chat answers read one way."""

from __future__ import annotations

import json


def parsed_reply(raw, model: type):
    """The reply a ``with_raw_response`` call got, as the SDK parses it; its body read as
    UTF-8 with U+FFFD for bytes that are not (a server cutting a character in two at
    ``max_tokens``, as llama.cpp's did, or a proxy re-encoding the body), as a model's
    token bytes decode, and built as ``model`` (``openai.types.Completion``,
    ``ChatCompletion``) the way the SDK builds it: without validation.

    The SDK's JSON decoding refused such a body with a ``UnicodeDecodeError``, an error of no
    kind either caller knew: a refine shard failed naming its server set up wrong, a
    labeling stopped with the endpoint called unavailable, and each rerun failed on the
    same document again (greedy decoding answers it the same). Now its text goes on to be
    parsed as a program, and a failure is that document's.

    Raises:
        ValueError: The body, so read, is not a JSON object (``json.JSONDecodeError`` when
            it is not JSON at all).
    """
    try:
        return raw.parse()
    except UnicodeDecodeError:
        body = raw.http_response.content
        data = json.loads(body.decode("utf-8", errors="replace"))
        if not isinstance(data, dict):
            raise ValueError(f"not a JSON object: {body[:200]!r}") from None
        return model.construct(**data)

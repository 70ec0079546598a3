"""Files that must hold one JSON object (a model's ``config.json``, a registry's decision
record, a refiner's ``refiner.json`` and ``artifact.json``): parsed, and what is wrong with
one that does not said once, in one wording, for each reader's own error to carry."""

from __future__ import annotations

import json


class NotAJSONObject(ValueError):
    """Bytes that must hold a JSON object and do not. Its message, :attr:`problem`, says
    how (``not JSON: Expecting value: line 1 column 1 (char 0)``, ``a JSON list, not an
    object``) and names no file: each reader raises its own error from it, naming the file
    and what to do about it."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def json_object(raw: bytes | str) -> dict:
    """``raw`` parsed, when it is one JSON object.

    Raises:
        NotAJSONObject: It is not JSON (bytes not UTF-8 either), or JSON of another kind.
    """
    try:
        value = json.loads(raw)
    except ValueError as err:  # UnicodeDecodeError is one too
        raise NotAJSONObject(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise NotAJSONObject(f"a JSON {type(value).__name__}, not an object")
    return value

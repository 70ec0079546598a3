"""The one interface every inference backend implements, and what they report.

A backend is a :class:`Refiner`: documents in, programs out, in batches. Generative backends
(``vllm``, ``transformers``, ``openai``) are a :class:`~prox_tasks.inference.generative.
GenerativeRefiner` over an :class:`Engine` that turns token-id prompts into completions; the
``tagger`` backend wraps the embedded per-line tagger. All of them count what they did in
:attr:`Refiner.usage`, which the refine step turns into per-shard statistics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

LEVELS = ("doc", "chunk")

#: The shard being refined in this context and when its refining started (monotonic).
_SHARD_CLOCK: ContextVar[tuple[str, float] | None] = ContextVar("prox_shard_clock",
                                                                default=None)


@contextmanager
def shard_clock(label: str) -> Iterator[None]:
    """Time the refining of shard ``label`` for engines with a per-shard budget (the
    ``openai`` engine's ``shard_budget``): an engine is loaded once for many shards and
    knows none of them, so the refine step says when each starts."""
    token = _SHARD_CLOCK.set((label, time.monotonic()))
    try:
        yield
    finally:
        _SHARD_CLOCK.reset(token)


def shard_elapsed() -> tuple[str, float] | None:
    """``(label, seconds since its refining started)`` of the shard being refined in this
    context (:func:`shard_clock`); None outside one (``prox eval``, calibration)."""
    clock = _SHARD_CLOCK.get()
    return None if clock is None else (clock[0], time.monotonic() - clock[1])


@dataclass
class Usage:
    """Work done at one level (``doc`` or ``chunk``), accumulated over calls.

    Attributes:
        requests: Model calls (one per document or per chunk).
        prompt_tokens: Tokens read by the model.
        completion_tokens: Tokens written by the model.
        truncated: Completions cut by the token limit (a likely broken program).
        failed: Requests that produced no completion (a server error after all retries).
        rejected: ... of which the server refused as bad requests (the openai engine).
        oversized: ... of which the reply body went past its cap
            (:func:`~prox_tasks.openai_replies.reply_cap`; the openai engine): a broken or
            hostile server's, not read further.
        malformed: ... of which the server answered with no completion (HTTP 200, no
            choices or not JSON) on every try while it answered other requests with
            completions (the openai engine: a gateway filtering that prompt).
        outside_grammar: Constrained completions that ended outside their grammar (the
            openai engine, on a sample: a server that ignores ``structured_outputs``).
        grammar_checked: Constrained completions checked against their grammar, the sample
            ``outside_grammar`` is of (the openai engine checks each server's first
            :data:`~prox_tasks.inference.openai_engine.GRAMMAR_SAMPLE`: a chunk's check
            compiles its regex, ~2-6 ms of the event loop, more than a completion costs).
        seconds: Wall time spent inside the model.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: int = 0
    failed: int = 0
    rejected: int = 0
    oversized: int = 0
    malformed: int = 0
    outside_grammar: int = 0
    grammar_checked: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def minus(self, other: Usage) -> Usage:
        return Usage(**{n: getattr(self, n) - getattr(other, n) for n in self.__dataclass_fields__})

    def copy(self) -> Usage:
        return Usage(**asdict(self))

    def to_dict(self) -> dict:
        return asdict(self)


#: The :class:`Usage` counts an engine keeps itself, under the same names, in its ``stats``
#: (the openai engine's): what a level's call grew them by is that level's.
ENGINE_COUNTS = ("rejected", "oversized", "malformed", "outside_grammar", "grammar_checked")


def new_usage() -> dict[str, Usage]:
    return {level: Usage() for level in LEVELS}


@dataclass
class Completion:
    """One model output.

    Attributes:
        text: The generated text, special tokens removed.
        prompt_tokens: Length of the prompt.
        completion_tokens: Generated tokens (EOS included, padding not).
        finish_reason: ``"stop"`` (EOS or grammar end), ``"length"`` (token limit) or
            ``"error"`` (no output: the request failed).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


@dataclass
class GenerationRequest:
    """One prompt for an :class:`Engine`.

    Attributes:
        prompt_ids: The prompt, already tokenized (chat template applied).
        max_new_tokens: Completion token limit.
        regex: A regular expression the completion must match (constrained decoding), or
            None. Engines that cannot constrain ignore it (see ``supports_constraints``).
    """

    prompt_ids: list[int]
    max_new_tokens: int
    regex: str | None = None


class Engine(Protocol):
    """Turns tokenized prompts into completions, batching as it sees fit."""

    name: str
    supports_constraints: bool
    max_model_len: int

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """One completion per request, in request order."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Refiner(Protocol):
    """What the refine step calls. ``version`` names the model in the output rows."""

    version: str
    backend: str
    usage: dict[str, Usage]

    def predict_doc(self, texts: list[str]) -> list[str]:
        """One document-level program per text."""
        ...

    def predict_chunks(self, texts: list[str]) -> list[str]:
        """One chunk-level program per text: per-chunk programs with global line numbers,
        joined with ``# chunk A-B`` markers (:func:`prox_tasks.programs.join_chunk_programs`)."""
        ...

    def close(self) -> None: ...


@dataclass
class BackendInfo:
    """Description of a loaded backend, recorded in shard statistics."""

    backend: str
    version: str
    settings: dict = field(default_factory=dict)

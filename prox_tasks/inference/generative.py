"""A refiner over a generative model: render prompts, generate, join chunk programs.

The document level sends one prompt per document; the chunk level one prompt per chunk of
every document (all in one engine call, so the engine batches across documents) and joins
each document's chunk programs with ``# chunk A-B`` markers. With constrained decoding the
engine may only write programs of the language (:mod:`prox_tasks.inference.grammar`), and
chunk programs only name lines of their own chunk.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from prox_tasks.inference.base import (
    ENGINE_COUNTS,
    Completion,
    Engine,
    GenerationRequest,
    Usage,
    new_usage,
)
from prox_tasks.inference.grammar import DOC_PROGRAM_REGEX, chunk_program_regex
from prox_tasks.inference.prompts import PromptRenderer
from prox_tasks.programs import join_chunk_programs


@dataclass
class GenerationSettings:
    """Decoding settings shared by the generative backends.

    Attributes:
        doc_tokens: Document-level text budget in model tokens.
        chunk_tokens: Chunk budget in model tokens.
        doc_max_new_tokens: Completion limit of a document-level program.
        chunk_max_new_tokens: Completion limit of a chunk program.
        constrained: Constrain outputs to the program grammar (None: where the engine can).
        max_calls: Most calls in a constrained chunk program.
    """

    doc_tokens: int = 2000
    chunk_tokens: int = 1500
    doc_max_new_tokens: int = 16
    chunk_max_new_tokens: int = 256
    constrained: bool | None = None
    max_calls: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


class GenerativeRefiner:
    """The :class:`~prox_tasks.inference.base.Refiner` of a generative backend.

    Args:
        backend: Backend name (``vllm``, ``transformers``, ``openai``).
        version: Model version written into the output rows.
        engines: ``{"doc": (engine, tokenizer), "chunk": (engine, tokenizer)}``; both
            levels may share one engine.
        settings: Decoding settings.
    """

    def __init__(self, backend: str, version: str, engines: dict[str, tuple[Engine, object]],
                 settings: GenerationSettings | None = None) -> None:
        self.backend, self.version = backend, version
        self.settings = settings or GenerationSettings()
        self.usage: dict[str, Usage] = new_usage()
        self._engines = {level: engine for level, (engine, _) in engines.items()}
        s = self.settings
        self.renderers = {
            level: PromptRenderer(tok, s.doc_tokens, s.chunk_tokens, engine.max_model_len,
                                  s.doc_max_new_tokens, s.chunk_max_new_tokens)
            for level, (engine, tok) in engines.items()
        }  # fmt: skip
        for level, engine in self._engines.items():
            if s.constrained and not engine.supports_constraints:
                raise ValueError(f"the {engine.name} engine ({level} level) cannot constrain "
                                 "decoding; drop constrained=True")  # fmt: skip

    @property
    def prompt_contexts(self) -> dict[str, int]:
        """The context each level's prompts are fitted to (its engine's at load: on openai,
        what the pool served then): the documents' truncation and chunking follow it, so a
        shard's checkpoints are reused only under the same (``step._fingerprint``)."""
        return {level: renderer.max_model_len for level, renderer in self.renderers.items()}

    @property
    def servers_left_out(self) -> dict[str, str]:
        """The servers each level's pool left out at load, with why (the openai engine's
        ``left_out``: they refuse it, 401 or 404); empty on the other backends. A URL's
        password is redacted: this goes into run summaries and the DAG's XComs."""
        from prox_tasks.redaction import redact

        return {redact(url): redact(why) for engine in self._engines.values()
                for url, why in (getattr(engine, "left_out", None) or {}).items()}  # fmt: skip

    def constrained(self, level: str) -> bool:
        engine = self._engines[level]
        return engine.supports_constraints if self.settings.constrained is None else \
            bool(self.settings.constrained)  # fmt: skip

    def _run(self, level: str, requests: list[GenerationRequest]) -> list[Completion]:
        start = time.perf_counter()
        engine = self._engines[level]
        # the openai engine's own counts; the levels' calls never overlap (one engine may
        # serve both), so what they grew by during this call is this level's
        counted = dict(getattr(engine, "stats", None) or {})
        outputs = engine.generate(requests) if requests else []
        usage = self.usage[level]
        usage.seconds += time.perf_counter() - start
        after = getattr(engine, "stats", None) or {}
        for name in ENGINE_COUNTS:
            setattr(usage, name, getattr(usage, name) + after.get(name, 0) - counted.get(name, 0))
        usage.requests += len(requests)
        for out in outputs:
            usage.prompt_tokens += out.prompt_tokens
            usage.completion_tokens += out.completion_tokens
            usage.truncated += out.finish_reason == "length"
            usage.failed += out.finish_reason == "error"
        return outputs

    def predict_doc(self, texts: list[str]) -> list[str]:
        s = self.settings
        regex = DOC_PROGRAM_REGEX if self.constrained("doc") else None
        requests = [GenerationRequest(ids, s.doc_max_new_tokens, regex)
                    for ids in self.renderers["doc"].doc_ids(list(texts))]  # fmt: skip
        return [out.text.strip() for out in self._run("doc", requests)]

    def predict_chunks(self, texts: list[str]) -> list[str]:
        s = self.settings
        constrained = self.constrained("chunk")
        renderer = self.renderers["chunk"]
        per_doc, requests = [], []
        for text in texts:
            chunks, ids = renderer.chunk_ids(text or "")
            per_doc.append(chunks)
            for chunk, prompt in zip(chunks, ids):
                regex = chunk_program_regex(chunk.first_line, chunk.last_line, s.max_calls) \
                    if constrained else None  # fmt: skip
                requests.append(GenerationRequest(prompt, s.chunk_max_new_tokens, regex))
        outputs = iter([_complete_lines(out, constrained) for out in self._run("chunk", requests)])
        return [
            join_chunk_programs([(c.first_line, c.last_line, _without_comments(next(outputs)))
                                 for c in chunks]) if chunks else "keep_chunk()"
            for chunks in per_doc
        ]  # fmt: skip

    def close(self) -> None:
        for engine in {id(e): e for e in self._engines.values()}.values():
            engine.close()


def _without_comments(program: str) -> str:
    """A chunk's output minus comment lines: a ``# chunk A-B`` line written by the model
    would otherwise move the following calls into another chunk's scope."""
    program = program.strip()
    if "#" not in program:
        return program
    return "\n".join(line for line in program.split("\n") if not line.lstrip().startswith("#"))


def _complete_lines(out: Completion, constrained: bool) -> str:
    """The completion's text; under constraints, a call cut by the token limit is dropped
    (every complete line before it is valid by construction, the cut one never is)."""
    text = out.text
    if constrained and out.finish_reason == "length" and "\n" in text:
        return text.rsplit("\n", 1)[0]
    return text

"""Inference backends that turn documents into programs, behind one interface.

``load_backend(backend, model, **options)`` returns a :class:`Refiner` (``predict_doc``,
``predict_chunks``, ``version``, ``usage``): ``vllm`` (offline ``LLM``), ``transformers``
(``generate``), ``openai`` (a pool of OpenAI-compatible servers) or ``tagger`` (the embedded
default). Heavy libraries are imported only when a backend is built.
"""

from prox_tasks.inference.base import (
    Completion,
    Engine,
    GenerationRequest,
    Refiner,
    Usage,
)
from prox_tasks.inference.generative import GenerationSettings, GenerativeRefiner
from prox_tasks.inference.grammar import (
    DOC_PROGRAM_REGEX,
    chunk_program_regex,
    number_range_regex,
)
from prox_tasks.inference.loading import BACKENDS, default_backend, load_backend
from prox_tasks.models.resolver import DEFAULT_MODEL

__all__ = [
    "BACKENDS", "DEFAULT_MODEL", "DOC_PROGRAM_REGEX", "Completion", "Engine",
    "GenerationRequest", "GenerationSettings", "GenerativeRefiner", "Refiner", "Usage",
    "chunk_program_regex", "default_backend", "load_backend", "number_range_regex",
]  # fmt: skip

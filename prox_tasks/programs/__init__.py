"""The program language: parser, executor and model-input renderings. Pure functions, no I/O."""

from prox_tasks.programs.executor import execute
from prox_tasks.programs.parser import join_chunk_programs, parse, unquote
from prox_tasks.programs.policy import Policy
from prox_tasks.programs.program import (
    Call,
    DropDoc,
    ErrorKind,
    KeepChunk,
    KeepDoc,
    Normalize,
    Program,
    ProgramError,
    RemoveLines,
    Scope,
    quote,
)
from prox_tasks.programs.render import (
    SYSTEM_PROMPT,
    Chunk,
    WhitespaceTokenizer,
    doc_messages,
    render_chunks,
    render_doc,
)
from prox_tasks.programs.stats import ExecutionResult, ExecutionStats

__all__ = [
    "SYSTEM_PROMPT", "Call", "Chunk", "DropDoc", "ErrorKind", "ExecutionResult",
    "ExecutionStats", "KeepChunk", "KeepDoc", "Normalize", "Policy", "Program",
    "ProgramError", "RemoveLines", "Scope", "WhitespaceTokenizer", "doc_messages",
    "execute", "join_chunk_programs", "parse", "quote", "render_chunks", "render_doc",
    "unquote",
]  # fmt: skip

"""The program language: parser, executor and model-input renderings. Pure functions, no I/O.

The names below load on first use: the refine DAG's Params take the executor's caps from
:mod:`prox_tasks.programs.policy` while the scheduler parses the DAG file, and must not pay
for the executor (its layout loads numpy: ~100 ms a parse) with it.
"""

from prox_tasks.lazy_names import lazy_names

_WHERE = {
    "execute": "prox_tasks.programs.executor",
    "join_chunk_programs": "prox_tasks.programs.parser",
    "parse": "prox_tasks.programs.parser",
    "unquote": "prox_tasks.programs.parser",
    "Policy": "prox_tasks.programs.policy",
    **dict.fromkeys(("Call", "DropDoc", "ErrorKind", "KeepChunk", "KeepDoc", "Normalize",
                     "Program", "ProgramError", "RemoveLines", "Scope", "quote"),
                    "prox_tasks.programs.program"),
    **dict.fromkeys(("SYSTEM_PROMPT", "Chunk", "WhitespaceTokenizer", "doc_messages",
                     "render_chunks", "render_doc"), "prox_tasks.programs.render"),
    "ExecutionResult": "prox_tasks.programs.stats",
    "ExecutionStats": "prox_tasks.programs.stats",
}

__getattr__, __dir__, __all__ = lazy_names(__name__, _WHERE)

"""Model inputs for training and inference, rendered one way for both.

Both levels are chat prompts (system prompt :data:`prox_tasks.programs.SYSTEM_PROMPT`):
the document level's user turn is :func:`prox_tasks.programs.render_doc`'s truncated text
(:func:`prox_tasks.programs.doc_messages`), the chunk level's is one chunk of
:func:`prox_tasks.programs.render_chunks` (``[doc]\\n[NNN]line...\\n[/doc]``). The chunk
token budget is a model setting: small models use short chunks.
"""

from __future__ import annotations

from prox_tasks.programs import SYSTEM_PROMPT, Chunk, doc_messages, render_chunks


def apply_chat(tokenizer, messages: list[dict]) -> str:
    """The prompt text: the tokenizer's chat template with the generation prompt added."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def doc_prompt(tokenizer, text: str, max_tokens: int) -> str:
    """Document-level prompt of ``text`` (truncated to ``max_tokens`` of ``tokenizer``)."""
    return apply_chat(tokenizer, doc_messages(text, tokenizer, max_tokens))


def chunk_prompt(tokenizer, chunk: Chunk) -> str:
    """Chunk-level prompt of one rendered chunk."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": chunk.prompt},
    ]
    return apply_chat(tokenizer, messages)


def chunk_prompts(tokenizer, text: str, max_tokens: int) -> tuple[list[Chunk], list[str]]:
    """The chunks of ``text`` (``max_tokens`` of ``tokenizer`` each) and their prompts."""
    chunks = render_chunks(text, tokenizer, max_tokens)
    return chunks, [chunk_prompt(tokenizer, c) for c in chunks]

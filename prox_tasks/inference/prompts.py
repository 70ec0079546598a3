"""Model inputs, one way for training and inference: prompt texts and token ids.

Both levels are chat prompts (system prompt :data:`prox_tasks.programs.SYSTEM_PROMPT`):
the document level's user turn is :func:`prox_tasks.programs.render_doc`'s truncated text
(:func:`prox_tasks.programs.doc_messages`), the chunk level's is one chunk of
:func:`prox_tasks.programs.render_chunks` (``[doc]\\n[NNN]line...\\n[/doc]``). Training
(:mod:`prox_tasks.training.lm`) builds its examples from :func:`doc_prompt` and
:func:`chunk_prompts`; :class:`PromptRenderer` tokenizes the same texts once with
``add_special_tokens=False`` (the template writes any BOS itself), so every backend sends the
model the same ids, and shrinks token budgets to fit the model's context when they must.
"""

from __future__ import annotations

from dataclasses import dataclass

from prox_tasks.programs import SYSTEM_PROMPT, Chunk, doc_messages, render_chunks

# render_chunks counts each line on its own; joined, a few tokens may merge or split
_SAFETY_TOKENS = 16


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


@dataclass
class PromptRenderer:
    """Renders one model's prompts.

    Args:
        tokenizer: The model's Hugging Face tokenizer (with its chat template).
        doc_tokens: Document-level text budget (DESIGN.md: 2,000).
        chunk_tokens: Chunk budget (DESIGN.md: 1,500).
        max_model_len: The model's context length.
        doc_max_new_tokens: Room kept for the document-level completion.
        chunk_max_new_tokens: Room kept for a chunk completion.
    """

    tokenizer: object
    doc_tokens: int = 2000
    chunk_tokens: int = 1500
    max_model_len: int = 4096
    doc_max_new_tokens: int = 16
    chunk_max_new_tokens: int = 256

    def __post_init__(self) -> None:
        overhead = len(self.encode([doc_prompt(self.tokenizer, "", 1)])[0])
        room = self.max_model_len - overhead - _SAFETY_TOKENS
        self.doc_budget = max(1, min(self.doc_tokens, room - self.doc_max_new_tokens))
        self.chunk_budget = max(8, min(self.chunk_tokens, room - self.chunk_max_new_tokens))
        self.clipped_prompts = 0

    def encode(self, prompts: list[str]) -> list[list[int]]:
        if not prompts:
            return []
        return self.tokenizer(prompts, add_special_tokens=False)["input_ids"]

    def _fit(self, ids: list[int], max_new_tokens: int) -> list[int]:
        limit = self.max_model_len - max_new_tokens
        if len(ids) <= limit:
            return ids
        self.clipped_prompts += 1  # the text budget did not hold: keep the template's end
        tail = 8
        return ids[: limit - tail] + ids[-tail:]

    def doc_ids(self, texts: list[str]) -> list[list[int]]:
        """Document-level prompts of ``texts``."""
        prompts = [doc_prompt(self.tokenizer, t, self.doc_budget) for t in texts]
        return [self._fit(ids, self.doc_max_new_tokens) for ids in self.encode(prompts)]

    def chunk_ids(self, text: str) -> tuple[list[Chunk], list[list[int]]]:
        """The chunks of ``text`` and their prompts."""
        chunks, prompts = chunk_prompts(self.tokenizer, text, self.chunk_budget)
        ids = [self._fit(i, self.chunk_max_new_tokens) for i in self.encode(prompts)]
        return chunks, ids

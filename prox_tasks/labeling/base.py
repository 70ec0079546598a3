"""The teacher interface: a :class:`Label` per document, and the common ``label_many``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Label:
    """A teacher's programs for one document.

    Attributes:
        doc_program: Document-level program, ``"keep_doc()"`` or ``"drop_doc()"``.
        chunk_program: Chunk-level program (chunk programs joined with ``# chunk A-B``
            markers, global line numbers), or a single whole-document program.
        meta: Teacher-specific details (reasons, scores, counts); JSON-serializable.
    """

    doc_program: str
    chunk_program: str
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "doc_program": self.doc_program,
            "chunk_program": self.chunk_program,
            "meta": self.meta,
        }


class Teacher:
    """Base class: subclasses implement :meth:`label`; ``label_many`` maps it.

    ``reads`` names what the teacher needs besides the text, passed as ``label``'s second
    argument: ``"gold"`` (a clean version: the ``diff`` teacher), ``"html"`` (the page's
    HTML: the ``html`` teacher), or ``None``.
    """

    name = "teacher"
    reads: str | None = None

    def label(self, text: str, gold: str | None = None) -> Label:  # pragma: no cover - abstract
        raise NotImplementedError

    def label_many(
        self, texts: Sequence[str], golds: Sequence[str | None] | None = None
    ) -> list[Label]:
        """Label documents in order; ``golds`` (same length) is passed through when given."""
        if golds is not None and len(golds) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(golds)} gold texts")
        golds = golds if golds is not None else [None] * len(texts)
        return [self.label(t, g) for t, g in zip(texts, golds)]

    def label_rows(self, texts: Sequence[str], extras: Sequence[dict]) -> list[Label]:
        """Label documents given each row's extras (``{"gold": ..., "html": ...}``).

        The default passes ``extras[i][self.reads]`` as the second argument of ``label``;
        the ``best`` teacher overrides it to pick a teacher per row.
        """
        golds = [e.get(self.reads) for e in extras] if self.reads else None
        return self.label_many(texts, golds)

    def describe(self) -> dict:
        """Name and settings, as recorded in a seed set's manifest."""
        return {"name": self.name}

"""The ``rules`` teacher: heuristics that need nothing installed (the offline default).

Chunk level: every line is classified from its own signals and its context (see
:mod:`prox_tasks.labeling.lines`); removed lines become ``remove_lines`` calls and stray
fragments inside kept lines (``[edit]``, "(opens in a new tab)", a trailing "Read more »")
become ``normalize`` calls. Document level: quality rules (:mod:`prox_tasks.labeling.quality`)
over what the chunk program keeps; a page that keeps nothing is dropped.

Example:
    >>> from prox_tasks.labeling.rules import RulesTeacher
    >>> label = RulesTeacher().label("Home\\nNews\\nA long paragraph ...")
    >>> label.doc_program, label.chunk_program
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.context import decide_lines
from prox_tasks.labeling.emit import DROP_DOC, KEEP_DOC, write_chunk_program
from prox_tasks.labeling.lines import LineRules, classify_line
from prox_tasks.labeling.quality import DocRules, drop_reasons
from prox_tasks.labeling.vocab import STRAY_FRAGMENTS
from prox_tasks.programs.render import CHUNK_TOKEN_BUDGET

VERSION = "rules-1"


class RulesTeacher(Teacher):
    """Heuristic teacher.

    Args:
        line_rules: Thresholds of the line classifier.
        doc_rules: Thresholds of the document-level rules.
        chunked: Write per-chunk programs joined with ``# chunk A-B`` markers (the format the
            chunk-level model learns); ``False`` writes one whole-document program.
        max_chunk_tokens: Chunk budget used for the markers (whitespace words).
        normalize_fragments: Also write ``normalize`` calls for stray fragments.
    """

    name = "rules"

    def __init__(
        self,
        line_rules: LineRules | None = None,
        doc_rules: DocRules | None = None,
        chunked: bool = True,
        max_chunk_tokens: int = CHUNK_TOKEN_BUDGET,
        normalize_fragments: bool = True,
    ) -> None:
        self.line_rules = line_rules or LineRules()
        self.doc_rules = doc_rules or DocRules()
        self.chunked = chunked
        self.max_chunk_tokens = max_chunk_tokens
        self.normalize_fragments = normalize_fragments

    @staticmethod
    def reset_cache() -> None:
        """Forget the line-classification cache (benchmarks measure cold runs)."""
        classify_line.cache_clear()

    def describe(self) -> dict:
        return {
            "name": self.name, "version": VERSION, "chunked": self.chunked,
            "line_rules": asdict(self.line_rules), "doc_rules": asdict(self.doc_rules),
        }  # fmt: skip

    def label(self, text: str, gold: str | None = None) -> Label:
        """Label one document (``gold`` is ignored: this teacher needs none)."""
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        lines = text.split("\n")
        keep, _classes, reasons, mode = decide_lines(lines, self.line_rules)
        removed = [i for i, k in enumerate(keep) if not k and lines[i].strip()]
        why = Counter(
            r or "context" for r, k, ln in zip(reasons, keep, lines) if not k and ln.strip()
        )
        normalizations = self._fragments(lines, keep) if self.normalize_fragments else []
        kept_text = "\n".join(self._apply(lines, keep, normalizations))
        doc_reasons = drop_reasons(kept_text, self.doc_rules)
        chunk_program = write_chunk_program(
            text, removed, normalizations, chunked=self.chunked, max_tokens=self.max_chunk_tokens
        )
        meta = {
            "teacher": self.name, "version": VERSION,
            "lines": len(lines), "lines_removed": len(removed),
            "removed_by": dict(why), "normalizations": len(normalizations),
            "drop_reasons": doc_reasons, "mode": mode,
        }  # fmt: skip
        return Label(DROP_DOC if doc_reasons else KEEP_DOC, chunk_program, meta)

    @staticmethod
    def _fragments(lines: list[str], keep: list[bool]) -> list[tuple[int, str, str]]:
        found = []
        for i, (line, k) in enumerate(zip(lines, keep)):
            if not k or len(line) < 6:
                continue
            for pattern, _why in STRAY_FRAGMENTS:
                m = pattern.search(line)
                # the rest of the line must stay text: "History[edit]" -> "History"
                if m and m.group(0).strip() and len(line.replace(m.group(0), "").strip()) >= 3:
                    found.append((i, m.group(0), ""))
        return found

    @staticmethod
    def _apply(lines, keep, normalizations) -> list[str]:
        fixed = {i: lines[i] for i, _, _ in normalizations}
        for i, src, dst in normalizations:
            fixed[i] = fixed[i].replace(src, dst)
        return [fixed.get(i, ln) for i, (ln, k) in enumerate(zip(lines, keep)) if k]

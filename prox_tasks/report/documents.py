"""The document viewer: a refined document beside its input, line by line.

Each refined row names its input (``source``, ``offset``); the input is read back through the
snapshot's manifest, and the two texts are aligned line by line (:mod:`difflib`). The program
only removes lines and replaces strings inside lines, so a line of the input is either kept
as is, kept with a normalization (shown with the changed characters marked), or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

OUTCOMES = ("all", "dropped", "edited", "unchanged")


@dataclass
class Line:
    """One line of the input as the viewer shows it.

    Attributes:
        number: Line number in the input (as the program numbers it).
        status: ``kept``, ``removed`` or ``normalized``.
        before: Segments of the input line: ``(text, changed)``.
        after: Segments of the refined line (normalized lines only): ``(text, changed)``.
    """

    number: int
    status: str
    before: list[tuple[str, bool]]
    after: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class DocumentView:
    """A refined document with its input, ready to show."""

    id: str
    shard: int
    source: str
    offset: int
    dropped: bool
    drop_reason: str | None
    lines: list[Line]
    stats: dict
    doc_program: str | None
    chunk_program: str | None
    model_version: str | None

    @property
    def outcome(self) -> str:
        if self.dropped:
            return "dropped"
        return "edited" if any(line.status != "kept" for line in self.lines) else "unchanged"


def _segments(a: str, b: str) -> tuple[list, list]:
    """Character segments of ``a`` and ``b`` with the differing parts flagged."""
    before, after = [], []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            before.append((a[i1:i2], op != "equal"))
        if j2 > j1:
            after.append((b[j1:j2], op != "equal"))
    return before, after


def align_lines(text_in: str, text_out: str | None) -> list[Line]:
    """Line-by-line view of ``text_in`` refined to ``text_out`` (None: dropped, every line
    shown as removed)."""
    lines_in = text_in.split("\n")
    if text_out is None:
        return [Line(i, "removed", [(line, False)]) for i, line in enumerate(lines_in)]
    lines_out = text_out.split("\n")
    view: list[Line] = []
    matcher = SequenceMatcher(None, lines_in, lines_out, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            view += [Line(i, "kept", [(lines_in[i], False)]) for i in range(i1, i2)]
        elif op == "delete":
            view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(i1, i2)]
        else:  # replace: each output line is the normalized form of its closest input line
            view += _pair(lines_in, i1, i2, lines_out[j1:j2])
    return view


def _pair(lines_in: list[str], i1: int, i2: int, outs: list[str]) -> list[Line]:
    view, cursor = [], i1
    for k, out in enumerate(outs):
        last = max(cursor + 1, i2 - (len(outs) - k - 1))  # leave an input line per output
        candidates = range(cursor, min(last, i2))
        if not candidates:  # more output lines than input lines: text a normalization added
            view.append(Line(i2 - 1, "normalized", [], [(out, True)]))
            continue
        best = max(candidates, key=lambda i: SequenceMatcher(
            None, lines_in[i], out, autojunk=False).ratio())
        view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(cursor, best)]
        before, after = _segments(lines_in[best], out)
        view.append(Line(best, "normalized", before, after))
        cursor = best + 1
    view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(cursor, i2)]
    return view


def document_views(output_uri: str, shard: int, outcome: str = "all", page: int = 1,
                   per_page: int = 10) -> tuple[list[DocumentView], int]:
    """The documents of one shard of a snapshot, input beside output, filtered by
    ``outcome`` (one of :data:`OUTCOMES`); returns one page of them and how many matched."""
    from prox_tasks.corpus import Quarantine, load_manifest, read_refined_rows, read_shard
    from prox_tasks.corpus.manifest import shard_uri

    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    manifest = load_manifest(output_uri)
    inputs = {(d.source, d.offset): d.text for d in read_shard(manifest, shard, Quarantine())}
    matched: list[DocumentView] = []
    for row in read_refined_rows(shard_uri(output_uri, shard)):
        text_in = inputs.get((row["source"], row["offset"]))
        if text_in is None:
            continue  # the input changed since: read_shard would have raised
        stats = row["stats"] or {}
        view = DocumentView(row["id"], shard, row["source"], row["offset"], row["dropped"],
                            stats.get("drop_reason"), align_lines(text_in, row["text"]), stats,
                            row["doc_program"], row["chunk_program"], row["model_version"])
        if outcome in ("all", view.outcome):
            matched.append(view)
    start = (max(page, 1) - 1) * per_page
    return matched[start:start + per_page], len(matched)

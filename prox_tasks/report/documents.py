"""The document viewer: a refined document beside its input, line by line.

Each refined row names its input (``source``, ``offset``); the input is read back through the
snapshot's manifest, beside the rows (:mod:`prox_tasks.report.inputs`), and the two texts are
aligned line by line (:mod:`prox_tasks.report.alignment`). The program
only removes lines and replaces strings inside lines, so a line of the input is either kept
as is, kept with a normalization (shown with the changed characters marked), or removed.

A page holds the texts of only the documents it shows and aligns only those, long lines are
compared by their common prefix and suffix rather than character by character, and a document
shows at most :data:`MAX_SHOWN_LINES` lines of at most :data:`MAX_SHOWN_CHARS` characters: one
huge page of a crawl cannot stall the viewer. A shard whose input is gone (a rotated crawl partition) or
changed shows its refined text alone, with a notice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from prox_tasks.report.alignment import line_opcodes
from prox_tasks.report.inputs import ShardInputs
from prox_tasks.wording import quoted_error

log = logging.getLogger(__name__)

OUTCOMES = ("all", "dropped", "edited", "unchanged")
#: Lines longer than this are compared by common prefix and suffix, not character by character.
CHAR_DIFF_LIMIT = 2000
#: What one document shows at most (the rest is counted, not rendered).
MAX_SHOWN_LINES = 2000
MAX_SHOWN_CHARS = 2000
#: Work one document may spend comparing lines character by character (the product of their
#: lengths and :data:`COMPARE_COST` a comparison, summed; about 25 ns a unit): past it, lines
#: are compared and marked by their common prefix and suffix, in linear time. A long page with
#: every kept line normalized took minutes (0.1 s a pair of 2,000-character lines).
DIFF_BUDGET = 20_000_000
COMPARE_COST = 1000
#: Pairing weighs at most ``PAIR_BUDGET // refined lines`` input lines (at least
#: :data:`MIN_PAIR_WINDOW`) for each refined line, not every line up to the block's end.
PAIR_BUDGET = 5_000
MIN_PAIR_WINDOW = 8


class ShardNotAvailable(LookupError):
    """The shard is not in the plan, or not refined (yet).

    Attributes:
        page: The viewer's page saying why, with its shard list to pick another (set by
            :func:`prox_tasks.report.pages.documents_page`), or None.
    """

    page: str | None = None


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
    outcome: str = "unchanged"
    hidden_lines: int = 0


class _Budget:
    """What is left of :data:`DIFF_BUDGET` for one document."""

    def __init__(self, units: int = DIFF_BUDGET):
        self.left = units

    def take(self, units: int) -> bool:
        """Spend ``units`` when that many are left."""
        if units > self.left:
            return False
        self.left -= units
        return True


def _segments(a: str, b: str, budget: _Budget | None = None) -> tuple[list, list]:
    """Character segments of ``a`` and ``b`` with the differing parts flagged (long lines, or
    past the ``budget``: the part between their common prefix and suffix, as one change)."""
    exact = len(a) + len(b) <= 2 * CHAR_DIFF_LIMIT and (
        budget is None or budget.take(len(a) * len(b) + COMPARE_COST))
    if not exact:
        head = len(os.path.commonprefix([a, b]))
        tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
        return ([p for p in ((a[:head], False), (a[head:len(a) - tail], True),
                             (a[len(a) - tail:], False)) if p[0]],
                [p for p in ((b[:head], False), (b[head:len(b) - tail], True),
                             (b[len(b) - tail:], False)) if p[0]])  # fmt: skip
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
    return view_of(lines_in, lines_out, line_opcodes(lines_in, lines_out))


def view_of(lines_in: list[str], lines_out: list[str], opcodes) -> list[Line]:
    """The lines of ``lines_in`` as ``opcodes`` (:meth:`SequenceMatcher.get_opcodes` form)
    turn them into ``lines_out``."""
    window = max(MIN_PAIR_WINDOW, PAIR_BUDGET // max(1, len(lines_out)))
    budget = _Budget()
    view: list[Line] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            view += [Line(i, "kept", [(lines_in[i], False)]) for i in range(i1, i2)]
        elif op == "delete":
            view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(i1, i2)]
        else:  # replace: each output line is the normalized form of its closest input line
            view += _pair(lines_in, i1, i2, lines_out[j1:j2], window, budget)
    return view


def _pair(lines_in: list[str], i1: int, i2: int, outs: list[str], window: int,
          budget: _Budget) -> list[Line]:
    view, cursor = [], i1
    for k, out in enumerate(outs):
        last = max(cursor + 1, i2 - (len(outs) - k - 1))  # leave an input line per output
        candidates = range(cursor, min(last, i2, cursor + window))
        if not candidates:  # more output lines than input lines: text a normalization added
            view.append(Line(i2 - 1, "normalized", [], [(out, True)]))
            continue
        best = max(candidates, key=lambda i: _likeness(lines_in[i], out, budget))
        view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(cursor, best)]
        before, after = _segments(lines_in[best], out, budget)
        view.append(Line(best, "normalized", before, after))
        cursor = best + 1
    view += [Line(i, "removed", [(lines_in[i], False)]) for i in range(cursor, i2)]
    return view


def _likeness(a: str, b: str, budget: _Budget) -> float:
    """How alike two lines are (:meth:`SequenceMatcher.ratio`; long lines, or past the
    ``budget``: the share of both that their common prefix and suffix make up, as a
    normalization leaves the rest of a line as it was)."""
    if len(a) + len(b) <= 2 * CHAR_DIFF_LIMIT and budget.take(len(a) * len(b) + COMPARE_COST):
        return SequenceMatcher(None, a, b, autojunk=False).ratio()
    if not a and not b:
        return 1.0
    head = len(os.path.commonprefix([a, b]))
    tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
    return 2 * (head + tail) / (len(a) + len(b))


def _clipped(lines: list[Line]) -> tuple[list[Line], int]:
    """At most :data:`MAX_SHOWN_LINES` lines, each cut to :data:`MAX_SHOWN_CHARS` characters
    per side (a cut ends with ``… N more characters``); and how many lines were left out."""

    def cut(segments: list) -> list:
        out, left = [], MAX_SHOWN_CHARS
        for text, changed in segments:
            if left <= 0:
                break
            out.append((text[:left], changed))
            left -= len(text)
        if left < 0:
            out.append((f" … {-left:,} more characters", False))
        return out

    shown = [Line(line.number, line.status, cut(line.before), cut(line.after))
             for line in lines[:MAX_SHOWN_LINES]]  # fmt: skip
    return shown, max(0, len(lines) - MAX_SHOWN_LINES)


def _outcome(row: dict, text_in: str | None) -> str:
    if row["dropped"]:
        return "dropped"
    if text_in is not None:
        return "unchanged" if row["text"] == text_in else "edited"
    stats = row["stats"] or {}
    return "edited" if stats.get("lines_removed") or stats.get("normalizations_applied") \
        else "unchanged"


def readable_rows(uri: str, shard: int, unreadable: dict) -> Iterator[dict]:
    """The rows of the refined shard file ``uri`` up to the first that cannot be read.

    A file cut short, damaged or hand-edited is the gate's to judge (its ``readable``
    check fails): a page shows what it could read and why the rest is missing, rather than
    failing when the on-call engineer opens it to find out what went wrong. Why is kept in
    ``unreadable`` under ``shard``.
    """
    from prox_tasks.corpus import read_refined_rows

    rows = read_refined_rows(uri)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as err:  # whatever pyarrow, the storage or JSON raise on bad bytes
            unreadable[shard] = quoted_error(err)
            log.warning("refined shard %s cannot be read to its end: %s", uri, unreadable[shard])
            return
        yield row


def unreadable_notice(unreadable: dict) -> str | None:
    """A notice naming the shards :func:`readable_rows` could not read to their end."""
    if not unreadable:
        return None
    named = "; ".join(f"shard-{i:05d} ({why})" for i, why in sorted(unreadable.items()))
    return (f"The refined file of {named} cannot be read to its end: what is shown leaves out "
            "the rest of it. The gate's readable check fails on it; refine the shard again "
            "(prox refine --force, or the DAG's reprocess Param).")


def folder_gone(output_uri: str) -> str:
    """Why a snapshot the catalog lists shows no documents: its folder holds no plan."""
    return (f"The snapshot's folder {output_uri} holds no manifest.json any more (deleted, "
            "moved or expired): the catalog's figures are shown, its documents and "
            "distributions cannot be. Restore the folder, or refine the snapshot again.")


def document_views(output_uri: str, shard: int, outcome: str = "all", page: int = 1,
                   per_page: int = 10) -> tuple[list[DocumentView], int, str | None]:
    """The documents of one shard of a snapshot, input beside output, filtered by
    ``outcome`` (one of :data:`OUTCOMES`): one page of them (``page`` clamped to the pages
    there are), how many matched, and a notice when the input cannot be read.

    Raises:
        ShardNotAvailable: The plan has no such shard, or it is not refined, or the folder
            holds no plan (:func:`folder_gone`).
    """
    from prox_tasks.corpus.manifest import shard_uri
    from prox_tasks.report.roots import NotServed, served_manifest, snapshot_file
    from prox_tasks.storage import exists

    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    try:
        manifest = served_manifest(output_uri)
    except NotServed as err:
        raise ShardNotAvailable(str(err)) from None
    except FileNotFoundError:
        raise ShardNotAvailable(folder_gone(output_uri)) from None
    if not 0 <= shard < len(manifest.shards):
        raise ShardNotAvailable(f"no shard {shard}: the plan has {len(manifest.shards)}")
    refined = shard_uri(output_uri, shard)
    try:  # the one check of what the report reads: a shard linked out of the folder is not
        if not exists(snapshot_file(refined, output_uri)):  # (S3: no link, not stat'ed)
            raise FileNotFoundError(refined)
    except NotServed as err:
        raise ShardNotAvailable(f"shard {shard} cannot be shown: {err}") from None
    except FileNotFoundError:
        raise ShardNotAvailable(f"shard {shard} is not refined (yet)") from None
    first = (max(page, 1) - 1) * per_page
    shown, last, matched, unreadable = [], [], 0, {}
    # one pass, the inputs read beside the rows: only the page asked for keeps its texts,
    # and the last page so far, shown instead when the page asked for is past the end
    with ShardInputs(manifest, shard) as inputs:
        for row in readable_rows(refined, shard, unreadable):
            text_in = inputs.text(row["source"], row["offset"])
            found = _outcome(row, text_in)
            if outcome not in ("all", found):
                continue
            if matched % per_page == 0:
                last = []
            last.append((row, text_in, found))
            if first <= matched < first + per_page:
                shown.append((row, text_in, found))
            matched += 1
        notice = "; ".join(n for n in (unreadable_notice(unreadable), inputs.notice) if n) or None
    views = []
    for row, text_in, found in shown or last:  # only what the page shows is aligned
        stats = row["stats"] or {}
        if text_in is None:  # the refined text alone
            lines = [Line(i, "kept", [(line, False)])
                     for i, line in enumerate((row["text"] or "").split("\n"))]
        else:
            lines = align_lines(text_in, row["text"])
        shown, hidden = _clipped(lines)
        views.append(DocumentView(row["id"], shard, row["source"], row["offset"],
                                  row["dropped"], stats.get("drop_reason"), shown, stats,
                                  row["doc_program"], row["chunk_program"],
                                  row["model_version"], found, hidden))
    return views, matched, notice

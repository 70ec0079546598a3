"""Per-line signals and their context-sensitive classification (the jusText idea).

Each line first gets a class from its own features:

- ``BAD``: boilerplate vocabulary on a short line, a consent/legal/affiliate sentence of any
  length, code or markup gibberish, or a long line repeated elsewhere in the page;
- ``GOOD``: running text, long and full of function words (stop words) or ending a sentence;
- ``NEAR``: medium-length text that looks like a sentence;
- ``SHORT``: everything else (menu entries, headings, table cells, list items).

Then ``NEAR`` and ``SHORT`` lines take a class from their context: the nearest ``GOOD`` or
``BAD`` line above and below (the document's edges count as ``BAD``). Between two good lines
a short line is a heading, a table cell or a list item and stays; between two bad lines it is
part of a menu or footer and goes. So "Home" at the top of a page, in a run of short lines
before the first paragraph, is removed, while the same word inside the article stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prox_tasks.labeling.vocab import LONG_BOILERPLATE, SHORT_BOILERPLATE, STOP_WORDS

BAD, SHORT, NEAR, GOOD = -1, 0, 1, 2

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SYMBOLS = re.compile(r"[{}\[\]<>|\\=;$#@^~`*_]")
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"
_TERMINAL = tuple(".!?。！？:;\"”’)»…")


@dataclass(frozen=True)
class LineRules:
    """Thresholds of the line classifier (defaults tuned on half of one benchmark, checked on
    the other half and on a second, multilingual one).

    Attributes:
        good_min_units: A line this long (words; CJK characters count half) can be ``GOOD``.
        good_min_stop_density: ...if this share of its words are stop words, or it ends a
            sentence.
        long_good_units: A line this long is ``GOOD`` whatever its stop words.
        near_min_units: A sentence-like line this long is ``NEAR``.
        near_min_stop_density: Stop-word share that makes a medium line sentence-like.
        boilerplate_max_units: Boilerplate vocabulary marks lines up to this long as ``BAD``.
        repeated_min_units: A line repeated in the page and this long is ``BAD``.
        near_keep_distance: A ``NEAR`` line between a good and a bad neighbour stays when the
            good one is at most this many lines away.
        short_keep_distance: Likewise for a ``SHORT`` line (a heading right above a paragraph).
    """

    good_min_units: int = 15
    good_min_stop_density: float = 0.15
    long_good_units: int = 35
    near_min_units: int = 6
    near_min_stop_density: float = 0.25
    boilerplate_max_units: int = 10
    repeated_min_units: int = 10
    near_keep_distance: int = 3
    short_keep_distance: int = 1
    near_is_anchor_for_short: bool = True


def units(line: str) -> int:
    """Words, with CJK characters counted as half a word each (they are not space-separated)."""
    cjk = len(_CJK.findall(line)) if not line.isascii() else 0
    return len(line.split()) + cjk // 2


def is_gibberish(line: str) -> bool:
    """Code, markup or encoded data rather than text."""
    n = len(line)
    if n < 20:
        return False
    if len(_SYMBOLS.findall(line)) > 0.12 * n:
        return True
    longest = max((len(t) for t in line.split()), default=0)
    return longest > 80 and not line.startswith(("http://", "https://"))


def initial_classes(lines: list[str], rules: LineRules) -> tuple[list[int], list[str]]:
    """Context-free class and reason of each line."""
    keys = [ln.strip().lower() for ln in lines]
    seen: set[str] = set()
    classes, reasons = [], []
    for line, key in zip(lines, keys):
        if not key:
            classes.append(SHORT)
            reasons.append("")
            continue
        n = units(key)
        if LONG_BOILERPLATE.search(key):
            classes.append(BAD)
            reasons.append("boilerplate_sentence")
        elif n <= rules.boilerplate_max_units and SHORT_BOILERPLATE.search(key):
            classes.append(BAD)
            reasons.append("boilerplate")
        elif is_gibberish(key):
            classes.append(BAD)
            reasons.append("gibberish")
        elif key in seen and n >= rules.repeated_min_units:
            # a later copy of a long line (teasers, taglines, repeated banners); the first
            # copy is judged on its own
            classes.append(BAD)
            reasons.append("repeated")
        else:
            toks = key.split()
            stops = sum(1 for t in toks if t.strip(_STRIP) in STOP_WORDS)
            density = stops / len(toks)
            terminal = key.endswith(_TERMINAL)
            cjk_prose = n > len(toks) and n >= rules.good_min_units
            if n >= rules.long_good_units or (
                n >= rules.good_min_units
                and (density >= rules.good_min_stop_density or terminal or cjk_prose)
            ):
                classes.append(GOOD)
            elif n >= rules.near_min_units and (terminal or density >= rules.near_min_stop_density):
                classes.append(NEAR)
            else:
                classes.append(SHORT)
            reasons.append("")
        seen.add(key)
    return classes, reasons


def resolve_context(classes: list[int], rules: LineRules) -> list[bool]:
    """Keep flag per line: ``GOOD`` kept, ``BAD`` removed, the rest decided by neighbours."""
    keep = [c == GOOD for c in classes]
    _resolve(classes, keep, NEAR, (GOOD, BAD), rules.near_keep_distance)
    # short lines read sentence-like neighbours (as resolved above) as anchors too
    if rules.near_is_anchor_for_short:
        anchors = [c if c != NEAR else (GOOD if keep[i] else BAD) for i, c in enumerate(classes)]
    else:
        anchors = classes
    _resolve(anchors, keep, SHORT, (GOOD, BAD), rules.short_keep_distance)
    return keep


def _resolve(classes: list[int], keep: list[bool], target: int, anchor_classes, limit: int):
    """Set ``keep`` of lines of class ``target`` from the nearest anchors above and below."""
    n = len(classes)
    prev_anchor = [BAD] * n  # nearest anchor above, and its distance
    prev_dist = [n + 1] * n
    anchor, dist = BAD, n + 1
    for i, c in enumerate(classes):
        if c in anchor_classes:
            anchor, dist = c, 0
        else:
            dist += 1
        prev_anchor[i], prev_dist[i] = anchor, dist
    anchor, dist = BAD, n + 1
    for i in range(n - 1, -1, -1):
        c = classes[i]
        if c in anchor_classes:
            anchor, dist = c, 0
            continue
        dist += 1
        if c != target:
            continue
        above, below = prev_anchor[i], anchor
        if above == GOOD and below == GOOD:
            keep[i] = True
        elif above == BAD and below == BAD:
            keep[i] = False
        else:
            to_good = prev_dist[i] if above == GOOD else dist
            keep[i] = to_good <= limit
